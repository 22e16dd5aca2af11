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
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);

/** Nanoseconds per item of one run of `run(setup())`. */
function once({ setup, run, items = N }) {
  const state = setup();
  const t0 = process.hrtime.bigint();
  run(state);
  const ns = Number(process.hrtime.bigint() - t0) / items;
  state?.free?.();
  return ns;
}

/** Runs a group's cases interleaved, round after round (the order rotating), so that what is
 * compared ran at the same time: this VM's speed drifts by up to 2x over seconds, which made
 * separately timed rows incomparable. Round 0 warms up and is dropped. Each case gets
 * `rounds`, its per-round ns per item. */
function group(cases) {
  for (const c of cases) c.rounds = [];
  for (let r = 0; r <= ROUNDS; r++) {
    for (let i = 0; i < cases.length; i++) {
      const c = cases[(i + r) % cases.length];
      const ns = once(c);
      if (r > 0) c.rounds.push(ns);
    }
  }
  return cases;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** The median over rounds of a's time over b's in the same round. */
const ratio = (a, b) => median(a.rounds.map((x, r) => x / b.rounds[r]));

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

const tables = [];
const table = (title, cases) => tables.push({ title, cases: group(cases) });

// HyperLogLog adds.
const noop = { impl: 'no-op wasm-bindgen call with a string (yardstick)', setup: () => null, run: () => { for (const k of keys) es.benchNoop(k); } };
const add = { impl: 'edgesketch add(string)', setup: () => new es.HyperLogLog(), run: (h) => { for (const k of keys) h.add(k); } };
const addMany = { impl: 'edgesketch addMany(strings)', setup: () => new es.HyperLogLog(), run: (h) => h.addMany(keys) };
const addBytes = { impl: 'edgesketch addBytes(packed buffer)', setup: () => new es.HyperLogLog(), run: (h) => h.addBytes(packed.data, packed.ends) };
const pureJs = { impl: 'pure JS (murmur3 into Uint8Array)', setup: () => new PureHll(), run: (h) => { for (const k of keys) h.add(k); } };
// bloom-filters' HyperLogLog costs hundreds of microseconds per update: fewer items.
const slowN = Math.min(N, 2_000);
table('hll_add', [noop, add, addMany, addBytes, pureJs,
  { impl: 'edgesketch: TextEncoder.encode per string, then addBytes', setup: () => new es.HyperLogLog(), run: (h) => { const p = pack(keys); h.addBytes(p.data, p.ends); } },
  { impl: 'hyperloglog-lite', setup: () => HllLite(14), run: (h) => { for (const k of keys) h.add(HllLite.hash(k)); } },
  { impl: `bloom-filters HyperLogLog (${slowN} items)`, setup: () => new bloom.HyperLogLog(1 << 14), run: (h) => { for (let i = 0; i < slowN; i++) h.update(keys[i]); }, items: slowN },
]);

// Accuracy at N (one run each).
const truth = N;
const err = (x) => `${(100 * (x - truth) / truth).toFixed(2)} %`;
const errors = [];
{
  const a = new es.HyperLogLog(); a.addMany(keys);
  const b = new PureHll(); keys.forEach((k) => b.add(k));
  const c = HllLite(14); keys.forEach((k) => c.add(HllLite.hash(k)));
  const bloomN = Math.min(N, 20_000);
  const d = new bloom.HyperLogLog(1 << 14); keys.slice(0, bloomN).forEach((k) => d.update(k));
  errors.push(['edgesketch', err(a.count())], ['pure JS', err(b.count())], ['hyperloglog-lite', err(c.count())],
    [`bloom-filters HyperLogLog (at ${bloomN})`, `${(100 * (d.count() - bloomN) / bloomN).toFixed(2)} %`]);
  a.free();
}

// Dense merges, timed over many (one call is near the timer's resolution): into fresh copies,
// each merged once (what merging downloaded sketches costs), and into one warm sketch repeatedly.
const mergeA = new es.HyperLogLog(); mergeA.addMany(keys);
const mergeB = new es.HyperLogLog(); mergeB.addMany(keys.map((k) => k + '!'));
const copies = 200;
const aBytes = mergeA.toBytes();
const fresh = () => {
  const xs = Array.from({ length: copies }, () => es.HyperLogLog.fromBytes(aBytes));
  return { xs, free: () => xs.forEach((x) => x.free()) };
};
const mergeFresh = { impl: 'edgesketch dense + dense, into fresh copies', setup: fresh, run: ({ xs }) => { for (const x of xs) x.merge(mergeB); }, items: copies };
table('hll_merge (per merge)', [mergeFresh,
  { impl: 'edgesketch dense + dense, into one warm sketch', setup: () => es.HyperLogLog.fromBytes(aBytes), run: (x) => { for (let i = 0; i < copies; i++) x.merge(mergeB); }, items: copies },
]);

// Count-min and top-K adds (Zipf-like keys). bloom-filters is slow: fewer items.
const zipf = Array.from({ length: N }, (_, i) => 'article-' + Math.floor(1 / Math.pow(((i * 2654435761) % 1_000_003 + 1) / 1_000_004, 1 / 1.1)) % 100_000);
const slowZ = Math.min(N, 20_000);
const cms = { impl: 'edgesketch (ε 0.001, δ 0.01)', setup: () => new es.CountMinSketch({ epsilon: 0.001, delta: 0.01 }), run: (c) => { for (const k of zipf) c.add(k); } };
const cmsBloom = { impl: `bloom-filters CountMinSketch (same ε, δ; ${slowZ} items)`, setup: () => bloom.CountMinSketch.create(0.001, 0.01), run: (c) => { for (let i = 0; i < slowZ; i++) c.update(zipf[i], 1); }, items: slowZ };
table('count_min_add', [cms, cmsBloom]);
const topk = { impl: 'edgesketch TopK (capacity 1000)', setup: () => new es.TopK({ capacity: 1000 }), run: (t) => { for (const k of zipf) t.add(k); } };
const topkBloom = { impl: `bloom-filters TopK (k 100; ${slowZ} items)`, setup: () => new bloom.TopK(100, 0.001, 0.99), run: (t) => { for (let i = 0; i < slowZ; i++) t.add(zipf[i]); }, items: slowZ };
table('top_k_add', [topk, topkBloom]);

// Quantile adds (lognormal-ish latencies).
const values = Float64Array.from({ length: N }, (_, i) => Math.exp(3 + Math.sin(i * 12.9898) * 1.5));
const qAdd = { impl: 'edgesketch add (α 1 %)', setup: () => new es.Quantiles(), run: (q) => { for (const v of values) q.add(v); } };
const qMany = { impl: 'edgesketch addMany(Float64Array)', setup: () => new es.Quantiles(), run: (q) => q.addMany(values) };
const dd = { impl: '@datadog/sketches-js DDSketch (α 1 %)', setup: () => new DDSketch({ relativeAccuracy: 0.01 }), run: (q) => { for (const v of values) q.accept(v); } };
// Two sketches fed in turn (latency per endpoint, requests interleaved): each keeps its own buffer.
const qAlternating = { impl: 'edgesketch add, alternating between two sketches', setup: () => { const qs = [new es.Quantiles(), new es.Quantiles()]; return { qs, free: () => qs.forEach((q) => q.free()) }; }, run: ({ qs }) => { for (let i = 0; i < N; i++) qs[i & 1].add(values[i]); } };
const ddAlternating = { impl: '@datadog/sketches-js DDSketch, alternating between two', setup: () => [new DDSketch({ relativeAccuracy: 0.01 }), new DDSketch({ relativeAccuracy: 0.01 })], run: (qs) => { for (let i = 0; i < N; i++) qs[i & 1].accept(values[i]); } };
table('quantiles_add', [qAdd, qAlternating, qMany, dd, ddAlternating,
  { impl: 'tdigest', setup: () => new TDigest(), run: (q) => { for (const v of values) q.push(v); } },
]);

const fmt = (ns) => (ns >= 1000 ? `${(ns / 1000).toPrecision(3)} µs` : `${ns.toPrecision(3)} ns`);
const x = (r) => `${r.toFixed(2)}×`;
console.log(`Node ${process.version}, N = ${N}; each group's cases interleaved over ${ROUNDS} rounds after a warm-up round.`);
for (const t of tables) {
  console.log(`\n**${t.title}**\n\n| implementation | per item, median | best |\n|---|---|---|`);
  for (const c of t.cases) console.log(`| ${c.impl} | ${fmt(median(c.rounds))} | ${fmt(Math.min(...c.rounds))} |`);
}
console.log('\n**hll_error**\n\n| implementation | error at N |\n|---|---|');
for (const [impl, e] of errors) console.log(`| ${impl} | ${e} |`);
console.log('\n**goals** (median of per-round ratios)\n\n| goal | measured | |\n|---|---|---|');
const goal = (what, measured, met) => console.log(`| ${what} | ${measured} | ${met ? 'met' : 'not met'} |`);
goal('add(string) within 1.1× of a no-op string call', `${x(ratio(add, noop))} the no-op`, ratio(add, noop) <= 1.1);
goal('batched string adds ≤ 1.0× the pure-JS baseline', `addMany ${x(ratio(addMany, pureJs))}, addBytes ${x(ratio(addBytes, pureJs))}`, ratio(addMany, pureJs) <= 1.0);
goal('count-min adds ≥ 50× faster than bloom-filters', `${x(ratio(cmsBloom, cms))} faster`, ratio(cmsBloom, cms) >= 50);
goal('top-K adds ≥ 50× faster than bloom-filters', `${x(ratio(topkBloom, topk))} faster`, ratio(topkBloom, topk) >= 50);
goal('quantile adds no slower than DDSketch', `add ${x(ratio(qAdd, dd))} (alternating ${x(ratio(qAlternating, dd))}), addMany ${x(ratio(qMany, dd))} its time`, ratio(qAdd, dd) <= 1.0 && ratio(qAlternating, dd) <= 1.0);
goal('dense merge ≤ 2 µs', `${fmt(median(mergeFresh.rounds))} into a fresh copy`, median(mergeFresh.rounds) <= 2000);
