// edgesketch's npm package beside the JS packages users would otherwise pick, in one Node run:
// hyperloglog-lite and bloom-filters (HyperLogLog, CountMinSketch, TopK), tdigest,
// @datadog/sketches-js, and a pure-JS HyperLogLog baseline (MurmurHash3 into a Uint8Array).
// Prints markdown tables (time per item, best of several rounds) and the HyperLogLog errors.
//
//   bash scripts/bench-js.sh        (builds and installs the package, then runs this)
import { createRequire } from 'node:module';

import * as es from 'edgesketch';

const peers = createRequire(process.env.PEERS_FROM ?? import.meta.url);
const HllLite = peers('hyperloglog-lite');
const bloom = peers('bloom-filters');
const { TDigest } = peers('tdigest');
const { DDSketch } = peers('@datadog/sketches-js');

const N = Number(process.env.BENCH_N ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** Best time per item in ns over ROUNDS runs of `run()` (each gets a fresh `setup()`). */
function time(setup, run, items = N) {
  let best = Infinity;
  for (let r = 0; r < ROUNDS + 1; r++) {
    const state = setup();
    const t0 = process.hrtime.bigint();
    run(state);
    const ns = Number(process.hrtime.bigint() - t0) / items;
    if (r > 0) best = Math.min(best, ns); // round 0 warms up
    state?.free?.();
  }
  return best;
}

// A plain pure-JS HyperLogLog: MurmurHash3 (x86, 32-bit) of the string's UTF-16 code units,
// 2^14 one-byte registers. What one writes by hand.
function murmur3(key, seed) {
  let h = seed >>> 0;
  const n = key.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = (key.charCodeAt(i) & 0xffff) | ((key.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593);
    h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = key.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n * 2;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}
class PureHll {
  constructor() { this.r = new Uint8Array(1 << 14); }
  add(s) {
    const h = murmur3(s, 0);
    const i = h >>> 18;
    const rank = Math.clz32((h << 14) | 0x2000) + 1;
    if (rank > this.r[i]) this.r[i] = rank;
  }
  count() {
    const m = 1 << 14;
    let sum = 0; let zeros = 0;
    for (const v of this.r) { sum += 2 ** -v; if (v === 0) zeros++; }
    const e = (0.7213 / (1 + 1.079 / m)) * m * m / sum;
    return e <= 2.5 * m && zeros > 0 ? m * Math.log(m / zeros) : e;
  }
}

const keys = Array.from({ length: N }, (_, i) => 'user-' + i);
const enc = new TextEncoder();
function pack(strings) {
  const parts = strings.map((s) => enc.encode(s));
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  const ends = new Uint32Array(parts.length);
  let at = 0;
  parts.forEach((p, i) => { data.set(p, at); at += p.length; ends[i] = at; });
  return { data, ends };
}
const packed = pack(keys);

const rows = [];
const row = (group, impl, ns, note = '') => rows.push({ group, impl, ns, note });

// HyperLogLog adds.
row('hll_add', 'no-op wasm-bindgen call with a string (yardstick)', time(() => null, () => { for (const k of keys) es.benchNoop(k); }));
row('hll_add', 'edgesketch add(string)', time(() => new es.HyperLogLog(), (h) => { for (const k of keys) h.add(k); }));
row('hll_add', 'edgesketch addMany(strings)', time(() => new es.HyperLogLog(), (h) => h.addMany(keys)));
row('hll_add', 'edgesketch addBytes(packed buffer)', time(() => new es.HyperLogLog(), (h) => h.addBytes(packed.data, packed.ends)));
row('hll_add', 'edgesketch pack + addBytes', time(() => new es.HyperLogLog(), (h) => { const p = pack(keys); h.addBytes(p.data, p.ends); }));
row('hll_add', 'pure JS (murmur3 into Uint8Array)', time(() => new PureHll(), (h) => { for (const k of keys) h.add(k); }));
row('hll_add', 'hyperloglog-lite', time(() => HllLite(14), (h) => { for (const k of keys) h.add(HllLite.hash(k)); }));
// bloom-filters' HyperLogLog costs hundreds of microseconds per update: fewer items.
const slowN = Math.min(N, 2_000);
row('hll_add', `bloom-filters HyperLogLog (${slowN} items)`, time(() => new bloom.HyperLogLog(1 << 14), (h) => { for (let i = 0; i < slowN; i++) h.update(keys[i]); }, slowN));

// Accuracy at N (one run each).
const truth = N;
const err = (x) => `${(100 * (x - truth) / truth).toFixed(2)} %`;
{
  const a = new es.HyperLogLog(); a.addMany(keys);
  const b = new PureHll(); keys.forEach((k) => b.add(k));
  const c = HllLite(14); keys.forEach((k) => c.add(HllLite.hash(k)));
  const bloomN = Math.min(N, 20_000);
  const d = new bloom.HyperLogLog(1 << 14); keys.slice(0, bloomN).forEach((k) => d.update(k));
  rows.push({ group: 'hll_error', impl: 'edgesketch', note: err(a.count()) });
  rows.push({ group: 'hll_error', impl: 'pure JS', note: err(b.count()) });
  rows.push({ group: 'hll_error', impl: 'hyperloglog-lite', note: err(c.count()) });
  rows.push({ group: 'hll_error', impl: `bloom-filters HyperLogLog (at ${bloomN})`, note: `${(100 * (d.count() - bloomN) / bloomN).toFixed(2)} %` });
  a.free();
}

// Dense merge.
{
  const a = new es.HyperLogLog(); a.addMany(keys);
  const b = new es.HyperLogLog(); b.addMany(keys.map((k) => k + '!'));
  row('hll_merge', 'edgesketch dense + dense', time(() => es.HyperLogLog.fromBytes(a.toBytes()), (x) => x.merge(b), 1));
}

// Count-min and top-K adds (Zipf-like keys).
const zipf = Array.from({ length: N }, (_, i) => 'article-' + Math.floor(1 / Math.pow(((i * 2654435761) % 1_000_003 + 1) / 1_000_004, 1 / 1.1)) % 100_000);
row('count_min_add', 'edgesketch (ε 0.001, δ 0.01)', time(() => new es.CountMinSketch({ epsilon: 0.001, delta: 0.01 }), (c) => { for (const k of zipf) c.add(k); }));
row('count_min_add', 'bloom-filters CountMinSketch (same ε, δ)', time(() => bloom.CountMinSketch.create(0.001, 0.01), (c) => { for (const k of zipf) c.update(k, 1); }));
row('top_k_add', 'edgesketch TopK (capacity 1000)', time(() => new es.TopK({ capacity: 1000 }), (t) => { for (const k of zipf) t.add(k); }));
const topN = Math.min(N, 20_000); // bloom-filters' TopK is slow: fewer items
row('top_k_add', `bloom-filters TopK (k 100; ${topN} items)`, time(() => new bloom.TopK(100, 0.001, 0.99), (t) => { for (let i = 0; i < topN; i++) t.add(zipf[i]); }, topN));

// Quantile adds (lognormal-ish latencies).
const values = Float64Array.from({ length: N }, (_, i) => Math.exp(3 + Math.sin(i * 12.9898) * 1.5));
row('quantiles_add', 'edgesketch add (α 1 %)', time(() => new es.Quantiles(), (q) => { for (const v of values) q.add(v); }));
row('quantiles_add', 'edgesketch addMany(Float64Array)', time(() => new es.Quantiles(), (q) => q.addMany(values)));
row('quantiles_add', '@datadog/sketches-js DDSketch (α 1 %)', time(() => new DDSketch({ relativeAccuracy: 0.01 }), (q) => { for (const v of values) q.accept(v); }));
row('quantiles_add', 'tdigest', time(() => new TDigest(), (q) => { for (const v of values) q.push(v); }));

const fmt = (ns) => (ns >= 1000 ? `${(ns / 1000).toPrecision(3)} µs` : `${ns.toPrecision(3)} ns`);
let group = '';
console.log(`Node ${process.version}, N = ${N}, best of ${ROUNDS} rounds after a warm-up round.`);
for (const r of rows) {
  if (r.group !== group) {
    group = r.group;
    console.log(`\n**${group}**\n`);
    console.log(r.group === 'hll_error' ? '| implementation | error at N |\n|---|---|' : '| implementation | per item |\n|---|---|');
  }
  console.log(`| ${r.impl} | ${r.ns === undefined ? r.note : fmt(r.ns)} |`);
}
