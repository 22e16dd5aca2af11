// The packed package as Node users get it: `import 'edgesketch'` (ESM). Run by
// scripts/test-npm.sh from a scratch project that installed the tarball.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import * as es from 'edgesketch';
import { checkGolden } from './golden.mjs';

const golden = process.env.EDGESKETCH_GOLDEN;
const require = createRequire(import.meta.url);

test('ESM and CJS entries export the same classes, from one module instance', () => {
  const cjs = require('edgesketch');
  assert.deepEqual(Object.keys(es).sort(), Object.keys(cjs).sort());
  for (const name of ['HyperLogLog', 'Counter', 'WindowCounter', 'UniqueSeries', 'Leaderboard', 'TopK',
    'CountMinSketch', 'Quantiles', 'Recorder', 'EnvelopeReader']) {
    assert.equal(typeof es[name], 'function', name);
    assert.equal(es[name], cjs[name], `${name}: one instance for import and require`);
  }
});

test('golden vectors: same bytes as native, decoded and rebuilt', async () => {
  assert.ok(golden, 'EDGESKETCH_GOLDEN must point at tests/golden/v1');
  const manifest = JSON.parse(readFileSync(join(golden, 'manifest.json'), 'utf8'));
  const results = await checkGolden(es, manifest, (f) => new Uint8Array(readFileSync(join(golden, f))));
  const failed = results.filter((r) => !r.ok);
  assert.deepEqual(failed, [], JSON.stringify(failed, null, 1));
  // Every vector was looked at, and most were rebuilt from their recipe.
  assert.ok(results.filter((r) => r.what.startsWith('rebuilt')).length >= 20, `${results.length} checks`);
});

test('HyperLogLog: counts, bounds, batches, Redis bytes, JSON', () => {
  const h = new es.HyperLogLog();
  assert.equal(h.precision, 14);
  for (let i = 0; i < 1000; i++) h.add('user-' + i);
  const e = h.estimate();
  assert.ok(e.lower <= e.value && e.value <= e.upper);
  assert.ok(Math.abs(e.value - 1000) <= 1000 * 0.01, `estimate ${e.value}`);

  // The three batch forms agree with one-at-a-time adds.
  const strings = Array.from({ length: 5000 }, (_, i) => 'user-' + i);
  const many = new es.HyperLogLog();
  many.addMany(strings);
  const enc = new TextEncoder();
  const parts = strings.map((s) => enc.encode(s));
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  const ends = new Uint32Array(parts.length);
  let at = 0;
  parts.forEach((p, i) => { data.set(p, at); at += p.length; ends[i] = at; });
  const packed = new es.HyperLogLog();
  packed.addBytes(data, ends);
  const single = new es.HyperLogLog();
  for (const s of strings) single.add(s);
  assert.deepEqual(many.toBytes(), single.toBytes());
  // Non-ASCII items, long items and a buffer that must grow take the same path.
  const mixed = ['ünïcode', 'ключ', '👋 hello', 'x'.repeat(70_000), '', 'plain'];
  const mixedMany = new es.HyperLogLog();
  mixedMany.addMany(mixed);
  const mixedSingle = new es.HyperLogLog();
  for (const s of mixed) mixedSingle.add(s);
  assert.deepEqual(mixedMany.toBytes(), mixedSingle.toBytes());
  assert.throws(() => mixedMany.addMany(['a', 7]), /item 1 is not a string/);
  assert.deepEqual(packed.toBytes(), single.toBytes());

  // Redis round trip and the Redis estimate as a BigInt.
  const redis = single.toRedis();
  assert.equal(String.fromCharCode(...redis.subarray(0, 4)), 'HYLL');
  const back = es.HyperLogLog.fromRedis(redis);
  assert.equal(typeof back.redisEstimate(), 'bigint');
  assert.equal(back.redisEstimate(), single.redisEstimate());

  // Merge, mergeBytes, toJSON.
  const other = new es.HyperLogLog();
  other.add('someone-else');
  const merged = es.HyperLogLog.fromBytes(single.toBytes());
  merged.merge(other);
  const viaBytes = es.HyperLogLog.fromBytes(single.toBytes());
  viaBytes.mergeBytes(other.toBytes());
  assert.deepEqual(merged.toBytes(), viaBytes.toBytes());
  const json = JSON.parse(JSON.stringify(merged));
  assert.equal(json.family, 'hyperloglog');
  assert.equal(json.precision, 14);
  assert.equal(typeof json.estimate.value, 'number');
});

test('string items cross through the scratch buffer as exactly their UTF-8 bytes', () => {
  // What TextEncoder makes of each string is what wasm-bindgen's own string passing hands Rust
  // (lone surrogates become U+FFFD), so `addBytes` of those bytes is the independent reference.
  const enc = new TextEncoder();
  const strings = [
    'plain', '', 'ünïcode', 'ключ', 'tail é', 'é head', '👋 hello', 'a\u{10FFFF}z',
    'lone \uD800 high', 'lone \uDC00 low', 'reversed \uDC00\uD800', '\uD83D',
    'x'.repeat(70_000), 'ü'.repeat(30_000), 'nul\0inside',
  ];
  const reference = new es.HyperLogLog({ precision: 18 });
  for (const s of strings) reference.addBytes(enc.encode(s));
  const single = new es.HyperLogLog({ precision: 18 });
  for (const s of strings) single.add(s);
  const many = new es.HyperLogLog({ precision: 18 });
  many.addMany(strings);
  assert.deepEqual(single.toBytes(), reference.toBytes());
  assert.deepEqual(many.toBytes(), reference.toBytes());
  assert.equal(single.count(), strings.length);

  // A batch that outgrows the buffer part-way through (the buffer moves; what was written moves
  // with it), after a small one.
  const huge = ['small', 'a'.repeat(2_000_000), 'é'.repeat(1_000_000), 'b'.repeat(3_000_000), 'tail'];
  const hugeRef = new es.HyperLogLog();
  for (const s of huge) hugeRef.addBytes(enc.encode(s));
  const hugeMany = new es.HyperLogLog();
  hugeMany.addMany(['small']);
  hugeMany.addMany(huge);
  assert.deepEqual(hugeMany.toBytes(), hugeRef.toBytes());
  assert.equal(hugeMany.count(), huge.length);

  // Memory growing between calls detaches the old views of it; the next add still lands.
  const before = es.HyperLogLog.fromBytes(single.toBytes());
  const hogs = Array.from({ length: 64 }, () => {
    const h = new es.HyperLogLog({ precision: 18 });
    h.addMany(Array.from({ length: 3000 }, (_, i) => 'grow-' + i));
    return h;
  });
  single.add('after growth');
  many.addMany(['after growth']);
  reference.addBytes(enc.encode('after growth'));
  assert.deepEqual(single.toBytes(), reference.toBytes());
  assert.deepEqual(many.toBytes(), reference.toBytes());
  assert.notDeepEqual(single.toBytes(), before.toBytes());
  for (const h of hogs) h.free();

  // Count-min: the weight passes beside the item; a batch counts each item once.
  const cmsRef = new es.CountMinSketch({ width: 64, depth: 4 });
  const cms = new es.CountMinSketch({ width: 64, depth: 4 });
  const cmsMany = new es.CountMinSketch({ width: 64, depth: 4 });
  for (const s of strings) { cmsRef.addBytes(enc.encode(s)); cms.add(s); }
  cmsMany.addMany(strings);
  cms.add('weighted é', 5);
  cmsRef.add('weighted é', 5);
  cmsMany.add('weighted é', 5);
  assert.deepEqual(cms.toBytes(), cmsRef.toBytes());
  assert.deepEqual(cmsMany.toBytes(), cmsRef.toBytes());
  assert.equal(cms.estimate('weighted é').upper >= 5, true);

  // Top-K keeps the items themselves: the decoded names are the strings (U+FFFD for lone
  // surrogates), counted with their weights.
  const t = new es.TopK({ capacity: 64 });
  t.add('ключ', 3);
  t.addMany(['ключ', '👋', 'lone \uD800']);
  const items = Object.fromEntries(t.top(10).guaranteed.map((x) => [x.item, x.lower]));
  assert.deepEqual(items, { 'ключ': 4, '👋': 1, 'lone \uFFFD': 1 });

  // Unique series: the timestamp passes beside the item.
  const now = Date.UTC(2026, 0, 1);
  const u = new es.UniqueSeries({ bucketMs: 1000, retentionMs: 60_000, nowMs: now });
  assert.equal(u.add('visitor é', now), true);
  assert.equal(u.add('visitor é', now - 3_600_000), false);
  assert.equal(u.unique(now - 1000, now + 1000).value, 1);

  // Bad input changes nothing.
  const untouched = cmsMany.toBytes();
  assert.throws(() => cmsMany.addMany(['fine', 7]), /item 1 is not a string/);
  assert.throws(() => cmsMany.addMany('not an array'), /takes an array of strings/);
  assert.throws(() => cmsMany.add('x', -1), /weight/);
  assert.deepEqual(cmsMany.toBytes(), untouched);
});

test('the scratch buffer\'s internal entry points refuse lengths and offsets that do not fit', () => {
  // Not public API, but reachable from JS: they must check what they are told like any decoder.
  const dir = dirname(require.resolve('edgesketch'));
  const glue = require(join(dir, 'node', 'edgesketch.js'));
  const h = new es.HyperLogLog();
  h.add('kept');
  const before = h.toBytes();
  const base = glue.__scratchReserve(64);
  const memory = glue.__memory();
  const held = 64 * 1024 * 1024; // more than the buffer holds, whatever earlier tests grew it to
  assert.equal(h.__addScratch(held), false);
  const ends = (values) => new Uint32Array(memory.buffer, base, values.length).set(values);
  ends([3, 2]); // out of order
  assert.throws(() => h.__addScratchMany(2, 8), /ends\[1\] = 2 is out of order/);
  ends([2, 9]); // past the batch's bytes
  assert.throws(() => h.__addScratchMany(2, 8), /ends\[1\] = 9 is out of order or past the batch's 8 bytes/);
  assert.throws(() => h.__addScratchMany(held, 0), /scratch buffer holds \d+ bytes/);
  const t = new es.TopK({ capacity: 4 });
  assert.equal(t.__addScratch(held, 1), false);
  assert.equal(t.__addScratch(0, -1), false);
  assert.equal(t.__addScratch(0, 1.5), false);
  assert.equal(t.total, 0n);
  assert.deepEqual(h.toBytes(), before);
  // And a good batch through the same door lands.
  new Uint8Array(memory.buffer, base + 8, 8).set(new TextEncoder().encode('abcdefgh'));
  ends([3, 8]);
  h.__addScratchMany(2, 8);
  assert.equal(h.count(), 3);
});

test('Quantiles.add buffers values, and nothing can observe the buffer', () => {
  // Values in the order given, across several buffer flushes; -0, 0 and negatives included.
  const values = Float64Array.from({ length: 1000 }, (_, i) => (i % 7 === 0 ? -0 : Math.sin(i) * 10 ** (i % 9)));
  const batch = new es.Quantiles();
  batch.addMany(values);
  const single = new es.Quantiles();
  for (const v of values) single.add(v);
  // The float sum's bytes too: the same additions in the same order.
  assert.deepEqual(single.toBytes(), batch.toBytes());

  // Every read sees every add before it.
  const q = new es.Quantiles();
  q.add(5);
  assert.equal(q.count, 1n);
  q.add(7);
  assert.equal(q.max, 7);
  q.add(1);
  assert.equal(q.quantile(0), 1);
  assert.equal(q.sum, 13);
  q.add(2);
  assert.equal(JSON.parse(JSON.stringify(q)).count, 4);
  q.add(3);
  assert.deepEqual(es.Quantiles.fromBytes(q.toBytes()).count, 5n);

  // Merging a buffered sketch into another takes its buffered values along.
  const a = new es.Quantiles();
  const b = new es.Quantiles();
  a.add(1);
  b.add(100);
  b.add(200);
  a.merge(b);
  assert.equal(a.count, 3n);
  assert.equal(a.max, 200);
  assert.equal(b.count, 2n);

  // A bad value throws at once and keeps what came before it.
  const c = new es.Quantiles();
  c.add(1);
  c.add(2);
  assert.throws(() => c.add(Number.NaN), /finite/);
  assert.throws(() => c.add(Infinity), /finite/);
  assert.equal(c.count, 2n);
  c.add(3);
  c.free();
  assert.throws(() => c.add(4));
  // Freed (or disposed) while holding the buffer: the next sketch's adds and reads are unharmed.
  const d = new es.Quantiles();
  d.add(1);
  if (Symbol.dispose) d[Symbol.dispose](); else d.free();
  const e = new es.Quantiles();
  e.add(2);
  assert.equal(e.count, 1n);
  // Adds alternating between two sketches land in their own.
  const f = new es.Quantiles();
  const g = new es.Quantiles();
  for (let i = 0; i < 1000; i++) (i % 3 ? f : g).add(i);
  assert.equal(f.count + g.count, 1000n);
  assert.equal(g.count, 334n);
  assert.equal(g.max, 999);
});

test('errors are real Error objects with precise messages', () => {
  const expectError = (fn, pattern) => {
    assert.throws(fn, (e) => {
      assert.ok(e instanceof Error, `not an Error: ${e}`);
      assert.match(e.message, pattern);
      return true;
    });
  };
  expectError(() => new es.HyperLogLog({ precision: 3 }), /precision/i);
  expectError(() => new es.HyperLogLog({ precison: 14 }), /unknown field `precison`/);
  expectError(() => es.HyperLogLog.fromBytes(new Uint8Array([1, 2, 3])), /.+/);
  expectError(() => es.HyperLogLog.fromRedis(new TextEncoder().encode('HYLLnonsense')), /.+/);
  expectError(() => new es.Counter().increment(-1), /whole number from 0/);
  expectError(() => new es.Counter().increment(1.5), /whole number from 0/);
  expectError(() => new es.WindowCounter({ bucketMs: 10 }), /.+/);
  expectError(() => new es.Quantiles().add(NaN), /.+/);
  expectError(() => new es.Leaderboard({ rule: 'average' }), /rule must be/);
  expectError(() => new es.Leaderboard().add('a', NaN), /NaN|finite|score/i);
  expectError(() => new es.Recorder({ replica: 'xyz' }), /32 hex digits/);
  expectError(() => new es.EnvelopeReader(new Uint8Array(10)), /.+/);
  expectError(() => new es.TopK({ capacity: 8 }).mergeBytes(new es.TopK({ capacity: 9 }).toBytes()), /.+/);
  const h = new es.HyperLogLog();
  expectError(() => h.addBytes(new Uint8Array(4), new Uint32Array([2, 1])), /out of order/);
  // Bytes after the last item were dropped without a word.
  expectError(() => h.addBytes(new Uint8Array(4), new Uint32Array([2])), /the items end at byte 2 of the buffer's 4/);
  expectError(() => h.addBytes(new Uint8Array(4), []), /the items end at byte 0 of the buffer's 4/);
  assert.equal(h.estimate().value, 0, 'a refused batch adds nothing');
});

/** Asserts `fn` throws an instance of `type` whose message matches `pattern`. */
function throwsA(type, fn, pattern) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof type, `${e?.constructor?.name}: ${e?.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('options of the wrong type are TypeErrors too, in JS terms', () => {
  throwsA(TypeError, () => new es.HyperLogLog({ precision: '14' }), /^HyperLogLog options: got a string \("14"\) where a number belongs$/);
  throwsA(TypeError, () => new es.HyperLogLog({ precision: { valueOf() { return 14; } } }), /got an object where a number belongs/);
  throwsA(TypeError, () => new es.Quantiles({ alpha: '0.01' }), /Quantiles options: got a string/);
  throwsA(TypeError, () => new es.WindowCounter({ nowMs: new Date() }), /WindowCounter options: got a Date where a number belongs/);
  throwsA(TypeError, () => new es.Recorder({ replica: '00'.repeat(16), nextSequence: '2' }), /Recorder options: got a string \("2"\)/);
  throwsA(TypeError, () => new es.Recorder().addScore('lb', 'm', 1, { writtenMs: new Date() }), /addScore options: got a Date/);
  throwsA(TypeError, () => new es.TopK(5), /TopK options must be an object/);
  // Still plain Errors: an unknown field, and a value of the right type out of range.
  throwsA(Error, () => new es.HyperLogLog({ precison: 14 }), /unknown field/);
  throwsA(Error, () => new es.HyperLogLog({ precision: 30 }), /precision/);
});

test('arguments of the wrong type are TypeErrors, never a trap of the module', () => {
  const h = new es.HyperLogLog();
  // Each of these made the module read out of bounds (a RuntimeError) or read garbage.
  throwsA(TypeError, () => h.add(42), /expected a string, got number/);
  throwsA(TypeError, () => h.add(undefined), /expected a string, got undefined/);
  throwsA(TypeError, () => new es.TopK().add({}), /expected a string, got Object/);
  throwsA(TypeError, () => new es.Leaderboard().add('m', 1, 5), /expected a string, got number/);
  throwsA(TypeError, () => new es.Recorder().increment(7), /expected a string/);
  throwsA(TypeError, () => h.addBytes({ length: -1 }), /expected a Uint8Array, got Object/);
  throwsA(TypeError, () => h.addBytes('abc'), /expected a Uint8Array, got string/);
  throwsA(TypeError, () => es.HyperLogLog.fromBytes(h.toBytes().buffer), /expected a Uint8Array, got ArrayBuffer/);
  throwsA(RangeError, () => h.addBytes(new Uint8Array(4), [2 ** 32 + 2, 4]), /offset 0 is 4294967298/);
  throwsA(RangeError, () => h.addBytes(new Uint8Array(4), [1.5, 4]), /offset 0 is 1.5/);
  throwsA(TypeError, () => h.addHashes('12'), /BigUint64Array/);
  throwsA(RangeError, () => h.addHashes([1n, -1n]), /hash 1 is -1/);
  throwsA(TypeError, () => new es.Quantiles().addMany(5), /Float64Array/);
  throwsA(TypeError, () => new es.Quantiles().addMany([1, '2']), /value 1 is string/);
  assert.equal(h.estimate().value, 0, 'nothing was added');
  // Plain arrays of the right values still work, and so does the module.
  h.addBytes(new TextEncoder().encode('abcd'), [2, 4]);
  h.addHashes([1n, 2n ** 63n]);
  h.add('x');
  assert.equal(Math.round(h.estimate().value), 5);
});

test('whole-number parameters are checked, never wrapped to 32 bits', () => {
  const lb = new es.Leaderboard();
  lb.add('a', 1);
  lb.add('b', 2);
  assert.equal(lb.trim(2 ** 32), 0, 'trimming to more than it holds removes nothing');
  throwsA(Error, () => lb.trim(-1), /n must be a whole number from 0/);
  throwsA(Error, () => lb.rangeByRank(-2, -1), /start must be a whole number from 0/);
  assert.equal(lb.size, 2);
  assert.equal(lb.rangeByScore(0, 9, undefined, 2 ** 32).length, 2);
  const t = new es.TopK();
  t.add('a');
  assert.equal(t.top(2 ** 32).guaranteed.length + t.top(2 ** 32).possible.length, 1);
  throwsA(Error, () => new es.Recorder().addUnique('k', 'x', 270), /precision 270 is outside 4..=18/);
  const q = new es.Quantiles();
  q.add(1);
  throwsA(Error, () => q.quantile(1.5), /a quantile is a number from 0 to 1, got 1.5/);
  throwsA(Error, () => q.quantile(NaN), /got NaN/);
  throwsA(Error, () => q.quantiles([0.5, 2]), /got 2/);
});

test('a refused call changes nothing, and a refused first record leaves no key behind', () => {
  const t = new es.TopK();
  t.add('a');
  const before = t.toBytes();
  throwsA(Error, () => t.addMany(['b', 'c', 'x'.repeat(2000)]), /at most 1024 bytes.*nothing was added/);
  assert.deepEqual(t.toBytes(), before);
  const r = new es.Recorder();
  throwsA(Error, () => r.addQuantile('x', NaN), /finite/);
  r.increment('x'); // the key's family was not fixed by the refused call
  throwsA(Error, () => r.addTopK('t', 'z'.repeat(2000), 1, { capacity: 4 }), /1024 bytes/);
  r.addTopK('t', 'a', 1, { capacity: 10 });
  throwsA(Error, () => r.addScore('s', 'm', NaN, { rule: 'sum' }), /.+/);
  r.addScore('s', 'm', 1, { rule: 'max' });
  assert.deepEqual(r.keys().sort(), ['s', 't', 'x']);
  // A key that exists keeps its settings when a call on it is refused.
  throwsA(Error, () => r.addTopK('t', 'z'.repeat(2000)), /1024 bytes/);
  throwsA(Error, () => r.addTopK('t', 'a', 1, { capacity: 4 }), /capacity/);
  throwsA(Error, () => r.addScore('s', 'm', 1, { rule: 'min' }), /leaderboard merge rule/);
});

test('recorder sketches take every option their classes take; undefined fields mean defaults', () => {
  const r = new es.Recorder();
  r.addQuantile('q', 1, { alpha: 0.02, maxBins: 10 });
  r.addCount('c', 'a', 1, { width: 2, depth: 1 });
  const env = new es.EnvelopeReader(r.envelope());
  const q = new es.Quantiles({ alpha: 0.02, maxBins: 10 });
  q.mergeBytes(env.open('q').toBytes());
  assert.equal(q.count, 1n);
  const c = new es.CountMinSketch({ width: 2, depth: 1 });
  c.mergeBytes(env.open('c').toBytes());
  assert.equal(new es.HyperLogLog({ precision: undefined }).precision, 14);
  assert.equal(new es.TopK({ capacity: undefined }).toJSON().capacity, 1000);
  throwsA(TypeError, () => new es.HyperLogLog({ precision: 'x' }), /^HyperLogLog options: got a string/);
  assert.deepEqual(new es.Recorder({ replica: '01'.repeat(16) }).toJSON(),
    { replica: '01'.repeat(16), nextSequence: 1, entries: [] });
  throwsA(Error, () => new es.Recorder({ replica: '+1'.repeat(16) }), /non-hex character at 0/);
});

test('series merges answer what they refused; toJSON covers what a series holds', () => {
  const t0 = 1_000_000_000;
  const late = new es.WindowCounter({ nowMs: t0 });
  late.add(5, t0);
  const a = new es.WindowCounter({ nowMs: t0 + 10 * 3_600_000 });
  assert.deepEqual(a.merge(late), {
    acceptedBuckets: 0,
    rejected: { late: { events: 1, total: 5, buckets: 1 }, future: { events: 0, total: 0, buckets: 0 } },
  });
  const b = new es.WindowCounter({ nowMs: t0 });
  assert.equal(b.merge(late).acceptedBuckets, 1);
  const total = b.toJSON().total;
  assert.deepEqual([total.count, total.sum, total.truncated], [1, 5, false]);
  assert.ok(total.fromMs <= t0 && total.toMs > t0 && total.toMs - total.fromMs < 2 * 3_600_000, JSON.stringify(total));
  const u = new es.UniqueSeries({ nowMs: t0 });
  u.add('a', t0);
  assert.equal(new es.UniqueSeries({ nowMs: t0 + 10 * 3_600_000 }).mergeBytes(u.toBytes()).rejected.late.buckets, 1);
  assert.equal(u.toJSON().unique.truncated, false);
  // Series of another precision do not mix (their buckets were merged, then no longer decoded).
  const coarse = new es.UniqueSeries({ nowMs: t0, precision: 4 });
  coarse.add('b', t0);
  const before = u.toBytes();
  assert.throws(() => u.merge(coarse), /unique series precision mismatch: 14 vs 4/);
  assert.deepEqual(u.toBytes(), before);
});

test('free() twice, use after free and merging with itself answer clear errors', () => {
  const h = new es.HyperLogLog();
  h.free();
  h.free();
  throwsA(Error, () => h.estimate(), /was freed/);
  const c = new es.Counter();
  throwsA(Error, () => c.merge(c), /cannot be passed to its own method/);
  if (typeof Symbol.dispose === 'symbol') {
    const d = new es.Counter();
    d.free();
    d[Symbol.dispose]();
  }
});

test('hostile callbacks cannot make an add count another item or write a stale batch', () => {
  // A weight's valueOf that added elsewhere ran after the item was written into the buffer; one
  // that freed the object ran after the glue had read its pointer (the module then used freed
  // memory: a freed WindowCounter went on counting). Objects are no numbers now: refused before
  // anything is read, and their valueOf never runs.
  let calls = 0;
  const hostile = (f) => ({ valueOf() { calls++; f(); return 1_000_000; } });
  const k = new es.TopK({ capacity: 10 });
  const other = new es.HyperLogLog();
  throwsA(TypeError, () => k.add('apple', hostile(() => other.add('zzzzzzzz'))), /weight must be a number, got Object/);
  k.add('apple');
  assert.deepEqual(k.top(5).guaranteed.map((h) => h.item), ['apple']);
  const u = new es.UniqueSeries({ nowMs: 1_000_000 });
  throwsA(TypeError, () => u.add('apple', hostile(() => other.add('zzzzzzzz'))), /timestampMs must be a number \(milliseconds\) or a Date/);
  assert.equal(other.estimate().value, 0);
  const victims = {
    'Counter.increment': (o, n) => o.increment(n),
    'WindowCounter.add': (o, n) => o.add(1, n),
    'Quantiles.quantile': (o, n) => o.quantile(n),
    'Leaderboard.trim': (o, n) => o.trim(n),
    'Recorder.addWindow': (o, n) => o.addWindow('k', 1, n),
  };
  for (const [name, call] of Object.entries(victims)) {
    const o = new es[name.split('.')[0]]();
    throwsA(TypeError, () => call(o, hostile(() => o.free())), /must be a number/);
    call(o, name === 'Quantiles.quantile' ? 0.5 : Date.now()); // still there, and usable
    o.free();
  }
  assert.equal(calls, 0, 'no valueOf ran');
  // Numeric strings were turned into numbers ("x" into NaN); a Date is a time in milliseconds.
  throwsA(TypeError, () => new es.Counter().increment('5'), /n must be a number, got string \("5"\)/);
  throwsA(TypeError, () => new es.Quantiles().add('5'), /value must be a number/);
  throwsA(TypeError, () => new es.Leaderboard().add('m', '5'), /score must be a number/);
  throwsA(TypeError, () => new es.Quantiles().quantile(), /q must be a number, got undefined/);
  const dated = new es.UniqueSeries({ nowMs: 1_000_000 });
  assert.equal(dated.add('apple', new Date(1_000_000)), true);
  assert.deepEqual(dated.toBytes(), (() => { const r = new es.UniqueSeries({ nowMs: 1_000_000 }); r.add('apple', 1_000_000); return r.toBytes(); })());
  const windowed = new es.WindowCounter({ nowMs: 1_000_000 });
  windowed.add(3, new Date(1_000_000));
  assert.equal(windowed.sum(0, 2_000_000).sum, 3);
  assert.equal(windowed.sum(new Date(0), new Date(2_000_000)).sum, 3);
  // A duration is not a point in time.
  throwsA(TypeError, () => dated.last(new Date(60_000)), /durationMs must be a number, got/);
  throwsA(TypeError, () => dated.downsample(new Date(60_000)), /bucketMs must be a number, got/);
  // An item getter that grows memory detached the batch's views: refused, not half-written.
  const items = ['aaaa', 'bbbb', 'cccc'];
  let keep;
  Object.defineProperty(items, 1, { get() { keep = new es.CountMinSketch({ width: 2 ** 21, depth: 8 }); return 'bbbb'; } });
  const h = new es.HyperLogLog();
  throwsA(Error, () => h.addMany(items), /memory grew while HyperLogLog.addMany read item 1/);
  assert.equal(h.estimate().value, 0);
  keep.free();
  // Offsets read once: a getter cannot pass the check with one value and be copied with another.
  const ends = [1, 2];
  let reads = 0;
  Object.defineProperty(ends, 1, { get() { return reads++ ? 2 ** 32 + 1 : 2; } });
  const packed = new es.HyperLogLog();
  packed.addBytes(new TextEncoder().encode('ab'), ends);
  const plain = new es.HyperLogLog();
  plain.addBytes(new TextEncoder().encode('ab'), [1, 2]);
  assert.deepEqual(packed.toBytes(), plain.toBytes());
  // null means the default, as undefined does; a value is not a time.
  assert.equal(new es.HyperLogLog({ precision: null }).precision, 14);
  assert.equal(new es.TopK({ capacity: null }).toJSON().capacity, 1000);
  throwsA(Error, () => new es.WindowCounter().add(1.5), /value must be a whole number within/);
});

test('two entries sharing one module share one scratch buffer', async () => {
  // The browser entry and ./slim both use the web glue: loaded together, one module instance.
  const { readFile } = await import('node:fs/promises');
  const { fileURLToPath, pathToFileURL } = await import('node:url');
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (u, ...rest) => (String(u).startsWith('file:')
    ? new Response(await readFile(fileURLToPath(u)), { headers: { 'content-type': 'application/wasm' } })
    : realFetch(u, ...rest));
  try {
    const root = dirname(require.resolve('edgesketch'));
    const browser = await import(pathToFileURL(join(root, 'browser.js')).href);
    const slim = await import('edgesketch/slim');
    assert.equal(browser.TopK, slim.TopK, 'one module instance');
    for (const entry of [browser, slim]) {
      assert.deepEqual(Object.keys(entry).filter((name) => name.startsWith('__')), [], 'no internals exported');
    }
    const t = new slim.TopK();
    assert.throws(() => t.add('x', -1)); // a refusal: the plain path after the scratch one
    new browser.HyperLogLog().add('y'.repeat(20000)); // grows the scratch buffer
    const boards = Array.from({ length: 50 }, (_, i) => {
      const l = new browser.Leaderboard();
      for (let j = 0; j < 20; j++) l.add(`member-${i}-${j}`, j);
      return l;
    });
    const before = boards.map((l) => JSON.stringify(l.rangeByRank(0, 100)));
    assert.throws(() => t.add('Z'.repeat(1000), -1));
    assert.deepEqual(boards.map((l) => JSON.stringify(l.rangeByRank(0, 100))), before, 'nothing else was written');
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('the slim entry before init says so, then works after initSync', async () => {
  const { spawnSync } = await import('node:child_process');
  // A process of its own: the slim entry's module must be fresh (the test above loaded it).
  const script = `
    import { readFileSync } from 'node:fs';
    import { createRequire } from 'node:module';
    import { HyperLogLog, Recorder, initSync, createClient } from 'edgesketch/slim';
    for (const early of [() => new HyperLogLog(), () => new Recorder().increment('x'), () => createClient({ endpoint: 'http://127.0.0.1:1/' })]) {
      try { early(); console.log('ran'); } catch (e) { console.log(e.constructor.name, e.message); }
    }
    const wasm = createRequire(import.meta.url).resolve('edgesketch/edgesketch.wasm');
    initSync({ module: readFileSync(wasm) });
    const h = new HyperLogLog();
    h.add('a'); h.addMany(['b', 'c']);
    console.log(h.count());`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const early = "Error edgesketch: the WebAssembly module is not loaded yet: with 'edgesketch/slim', call `await init()` or `initSync({ module })` first";
  assert.deepEqual(run.stdout.trim().split('\n'), [early, early, early, '3']);
});

test('a string too large for memory is a RangeError, and string adds go on working', async () => {
  const { spawnSync } = await import('node:child_process');
  // 64 MiB of WebAssembly memory at most, as on a small edge runtime.
  const script = `
    const es = require('edgesketch');
    const h = new es.HyperLogLog();
    try { h.add('x'.repeat(30_000_000)); console.log('added'); } catch (e) { console.log(e.constructor.name, e.message); }
    h.add('b'); h.addMany(['c', 'd']);
    const t = new es.TopK(); t.add('e');
    console.log(Math.round(h.estimate().value), String(t.total));`;
  const run = spawnSync(process.execPath, ['--wasm-max-mem-pages=1024', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(run.stdout.trim().split('\n'), [
    'RangeError edgesketch: could not allocate 90000000 bytes for string items (WebAssembly memory is full)',
    '3 1',
  ]);
});

test('an object in use when memory ran out says so afterwards; the module goes on', async () => {
  const { spawnSync } = await import('node:child_process');
  // 16 MiB of WebAssembly memory: a leaderboard grows until an allocation fails, which traps
  // (Rust aborts on a failed allocation) with the object still marked in use.
  const script = `
    const es = require('edgesketch');
    const lb = new es.Leaderboard();
    try { for (let i = 0; i < 1e7; i++) lb.add('member-' + i, i); } catch (e) { console.log(e.constructor.name); }
    try { lb.size; } catch (e) { console.log(e.message); }
    const h = new es.HyperLogLog();
    h.add('x');
    console.log(h.count());`;
  const run = spawnSync(process.execPath, ['--wasm-max-mem-pages=256', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const [trap, after, count] = run.stdout.trim().split('\n');
  assert.equal(trap, 'RuntimeError');
  assert.match(after, /was in use when the module trapped, out of memory say, and cannot be used again/);
  assert.equal(count, '1');
});

test('the scratch buffer shrinks back after a large batch, so sketches can use the memory', async () => {
  const { spawnSync } = await import('node:child_process');
  // 64 MiB of WebAssembly memory: the batch takes a 36 MB buffer; held, a 32 MiB sketch no longer
  // fits (measured: a trap), given back at the next small add, it does.
  const script = `
    const es = require('edgesketch');
    const h = new es.HyperLogLog();
    h.addMany(['x'.repeat(6e6), 'y'.repeat(6e6)]);
    h.add('z');
    const c = new es.CountMinSketch({ width: 2 ** 20, depth: 4 });
    c.add('a', 5);
    h.addMany(['p', 'q']);
    console.log(h.count(), c.estimate('a').upper);`;
  const run = spawnSync(process.execPath, ['--wasm-max-mem-pages=1024', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), '5 5');
});

test('free() releases, and Symbol.dispose is wired when the runtime has it', () => {
  const h = new es.HyperLogLog();
  h.add('x');
  h.free();
  assert.throws(() => h.add('y'));
  if (typeof Symbol.dispose === 'symbol') {
    assert.equal(typeof es.HyperLogLog.prototype[Symbol.dispose], 'function');
  }
});

test('counters and time: Counter, WindowCounter, UniqueSeries', () => {
  const c = new es.Counter();
  c.increment(5);
  c.decrement();
  assert.equal(c.value, 4n);
  assert.equal(JSON.parse(JSON.stringify(c)).value, 4);

  const t0 = 1_764_115_200_000;
  const w = new es.WindowCounter({ bucketMs: 1000, retentionMs: 60_000, graceMs: 10_000, maxFutureMs: 1000, nowMs: t0 });
  for (let i = 0; i < 30; i++) assert.equal(w.add(2, t0 - i * 100), true);
  assert.equal(w.add(1, t0 - 20_000), false, 'older than the grace');
  assert.equal(w.add(1, t0 + 5_000), false, 'beyond the future allowance');
  const sum = w.sum(t0 - 10_000, t0 + 1000);
  assert.equal(sum.count, 30);
  assert.equal(sum.sum, 60);
  assert.equal(w.last(1000, t0).count, 1);
  assert.deepEqual(w.rejected().late.events, 1);
  assert.deepEqual(w.rejected().future.events, 1);
  const series = w.series(t0 - 3000, t0 + 1000);
  assert.deepEqual(series.map((p) => p.count), [9, 10, 10, 1]);
  assert.equal(es.WindowCounter.fromBytes(w.toBytes()).sum(t0 - 10_000, t0 + 1000).sum, 60);

  const u = new es.UniqueSeries({ bucketMs: 60_000, retentionMs: 3_600_000, graceMs: 3_600_000, nowMs: t0 });
  for (let i = 0; i < 600; i++) u.add('reader-' + (i % 40), t0 - i * 5_000);
  const r = u.unique(t0 - 3_600_000, t0 + 60_000);
  assert.equal(r.value, 40);
  assert.equal(r.exact, true);
  assert.equal(u.merged(t0 - 3_600_000, t0 + 60_000).count(), 40);
});

test('rankings: Leaderboard, TopK, CountMinSketch, Quantiles', () => {
  const b = new es.Leaderboard({ rule: 'max', best: 'highest' });
  b.add('ada', 10);
  b.add('grace', 30);
  b.add('linus', 20);
  assert.deepEqual(b.add('ada', 5, 'greaterThan'), { added: false, changed: false, score: 10 });
  assert.equal(b.rank('grace'), 0);
  assert.equal(b.rank('ada', 'ascending'), 0);
  assert.deepEqual(b.rangeByRank(0, 1), [{ member: 'grace', score: 30 }, { member: 'linus', score: 20 }]);
  assert.deepEqual(b.rangeByScore(15, 100, 'ascending').map((m) => m.member), ['linus', 'grace']);
  assert.equal(b.score('nobody'), undefined);

  const t = new es.TopK({ capacity: 10 });
  for (let i = 0; i < 1000; i++) t.add('item-' + (i % 7 === 0 ? 'hot' : i % 50));
  const top = t.top(3);
  assert.equal(top.guaranteed[0].item, 'item-hot');
  assert.ok(top.guaranteed[0].lower <= 143 && 143 <= top.guaranteed[0].upper);
  assert.equal(t.total, 1000n);

  const cms = new es.CountMinSketch({ epsilon: 0.01, delta: 0.01 });
  for (let i = 0; i < 500; i++) cms.add('k' + (i % 10));
  const est = cms.estimate('k3');
  assert.ok(est.lower <= 50 && 50 <= est.upper);

  const q = new es.Quantiles();
  const values = Float64Array.from({ length: 10_000 }, (_, i) => i + 1);
  q.addMany(values);
  assert.equal(q.count, 10_000n);
  for (const p of [0.5, 0.9, 0.99]) {
    const exact = values[Math.ceil(p * values.length) - 1];
    assert.ok(Math.abs(q.quantile(p) - exact) <= 0.01 * exact, `p${p * 100}: ${q.quantile(p)} vs ${exact}`);
  }
  assert.deepEqual(Array.from(q.quantiles(new Float64Array([0, 1]))), [q.min, q.max]);
});

test('Recorder -> envelope -> EnvelopeReader, with a lazily drawn replica id', () => {
  const r = new es.Recorder();
  assert.equal(r.replica, undefined, 'no randomness until the first envelope');
  assert.equal(r.envelope(), undefined, 'nothing recorded, no envelope');
  r.addUnique('uniques:home', 'ada');
  r.increment('requests', 3);
  r.addTopK('top:articles', '/a', 2);
  r.addQuantile('latency', 12.5);
  r.addCount('paths', '/a');
  r.addScore('board', 'ada', 7);
  r.addWindow('errors', 1);
  r.addUniqueSeries('readers', 'ada');
  const bytes = r.envelope(1_764_115_200_000);
  assert.ok(bytes instanceof Uint8Array);
  assert.match(r.replica, /^[0-9a-f]{32}$/);
  assert.equal(r.nextSequence, 2);
  const env = new es.EnvelopeReader(bytes);
  assert.equal(env.replica, r.replica);
  assert.equal(env.sequence, 1);
  assert.deepEqual(env.entries().map((e) => e.family).sort(),
    ['count_min', 'counter', 'hyperloglog', 'leaderboard', 'quantiles', 'top_k', 'unique_series', 'window_counter']);
  assert.equal(env.open('requests').value, 3n);
  assert.equal(env.open('uniques:home').count(), 1);
  assert.ok(env.open('top:articles') instanceof es.TopK);
  assert.equal(JSON.parse(JSON.stringify(env)).entries.length, 8);
  // The next envelope carries only what came after.
  r.increment('requests');
  const next = new es.EnvelopeReader(r.envelope());
  assert.equal(next.sequence, 2);
  assert.deepEqual(next.entries().map((e) => e.key), ['requests']);
  assert.equal(next.open('requests').value, 1n);
});
