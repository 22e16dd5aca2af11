// The dashboard's browser-side math (www/lib/), in Node with the packed package as the page loads
// it (www/vendor/edgesketch, unpacked by scripts/build-www.sh). Run by scripts/test-www.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const www = resolve(process.env.EDGESKETCH_WWW ?? 'www');
const es = await import(pathToFileURL(`${www}/vendor/edgesketch/node.mjs`).href);
const { intervalQuantiles } = await import(pathToFileURL(`${www}/lib/interval.js`).href);
const { ratesOnGrid, pairByTime, commonStep } = await import(pathToFileURL(`${www}/lib/steps.js`).href);

let seed = 7;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const exact = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const QS = [0.5, 0.9, 0.99];

test('the percentiles of what arrived between two snapshots are those of the new values alone', () => {
  for (const alpha of [0.01, 0.02]) {
    const sketch = new es.Quantiles({ alpha });
    // Before: 20,000 values around 20-55; then 3,000 between 200 and 300, far from the old ones.
    for (let i = 0; i < 20_000; i++) sketch.add(Math.exp(3 + random()));
    const before = es.Quantiles.fromBytes(sketch.toBytes());
    const fresh = [];
    for (let i = 0; i < 3_000; i++) {
      const v = 200 + 100 * random();
      fresh.push(v);
      sketch.add(v);
    }
    fresh.sort((a, b) => a - b);
    const got = intervalQuantiles(before, sketch, QS, alpha);
    const cumulative = sketch.quantiles(QS);
    QS.forEach((q, i) => {
      const want = exact(fresh, q);
      assert.ok(Math.abs(got[i] - want) <= 2 * alpha * want, `alpha ${alpha}, q ${q}: ${got[i]} vs ${want}`);
    });
    // Not the cumulative answer, which the old values pull down.
    assert.ok(cumulative[0] < 100 && got[0] > 200);
  }
});

/** Old values, then new ones into the same sketch; returns both snapshots and a sketch of the new ones alone. */
function snapshots(oldValues, newValues, alpha) {
  const sketch = new es.Quantiles({ alpha });
  for (const v of oldValues) sketch.add(v);
  const before = es.Quantiles.fromBytes(sketch.toBytes());
  const fresh = new es.Quantiles({ alpha });
  for (const v of newValues) {
    sketch.add(v);
    fresh.add(v);
  }
  return { before, after: sketch, fresh };
}

test('the answer is what a sketch of the new values alone would say', () => {
  const cases = [
    ['positive, few new', Array.from({ length: 5000 }, () => 1 + 500 * random()), Array.from({ length: 10 }, () => 1 + 100 * random())],
    ['positive, many new', Array.from({ length: 2000 }, () => Math.exp(5 * random())), Array.from({ length: 5000 }, () => Math.exp(3 * random()))],
    ['zero among the old', [0, ...Array.from({ length: 1000 }, () => 10 + 90 * random())], Array.from({ length: 200 }, () => 20 + 80 * random())],
    ['negative and positive', Array.from({ length: 3000 }, () => 200 * random() - 100), Array.from({ length: 3000 }, () => 100 * random() - 80)],
  ];
  for (const alpha of [0.01, 0.05]) {
    for (const [name, oldValues, newValues] of cases) {
      const { before, after, fresh } = snapshots(oldValues, newValues, alpha);
      const got = intervalQuantiles(before, after, QS, alpha);
      const want = Array.from(fresh.quantiles(QS));
      QS.forEach((q, i) => {
        assert.ok(Math.abs(got[i] - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])),
          `${name}, alpha ${alpha}, q ${q}: ${got[i]} vs a sketch of the new values: ${want[i]}`);
      });
    }
  }
});

test('interleaved old and new values: still the new ones', () => {
  const sketch = new es.Quantiles();
  for (let i = 0; i < 10_000; i++) sketch.add(1 + 1000 * random());
  const before = es.Quantiles.fromBytes(sketch.toBytes());
  const fresh = [];
  for (let i = 0; i < 10_000; i++) {
    const v = 1 + 100 * random() ** 2;
    fresh.push(v);
    sketch.add(v);
  }
  fresh.sort((a, b) => a - b);
  const got = intervalQuantiles(before, sketch, QS, 0.01);
  QS.forEach((q, i) => {
    const want = exact(fresh, q);
    assert.ok(Math.abs(got[i] - want) <= 0.03 * want, `q ${q}: ${got[i]} vs ${want}`);
  });
});

test('nothing new, a shrunken sketch or no baseline', () => {
  const a = new es.Quantiles();
  for (let i = 1; i <= 100; i++) a.add(i);
  const same = es.Quantiles.fromBytes(a.toBytes());
  assert.equal(intervalQuantiles(a, same, QS, 0.01), null, 'nothing arrived');
  const smaller = new es.Quantiles();
  smaller.add(5);
  assert.equal(intervalQuantiles(a, smaller, QS, 0.01), null, 'a restart or another key');
  assert.deepEqual(intervalQuantiles(null, a, QS, 0.01), Array.from(a.quantiles(QS)), 'no baseline: everything');
});

test('window series of other bucket widths are compared by time, not by position', () => {
  const point = (t, sum) => ({ t, stats: { sum } });
  // Requests in 60-s buckets, errors in 1-s buckets, asked at the wider step from one aligned
  // start: 6,000 requests and 3,000 errors in the minute at 540,000 -> 50 %.
  const requests = { bucket_ms: 60_000, step_ms: 60_000, points: [point(540_000, 6_000), point(600_000, 0)] };
  const errors = { bucket_ms: 1_000, step_ms: 60_000, points: [point(540_000, 3_000), point(600_000, 0)] };
  assert.equal(commonStep(10_000, 60_000, 1_000), 60_000);
  assert.deepEqual(pairByTime(requests, errors), [[540_000, 6_000, 3_000], [600_000, 0, 0]]);
  // Errors asked at their own 1-s step: summed into the minute that holds their start.
  const fine = { bucket_ms: 1_000, step_ms: 1_000, points: [point(540_000, 1_000), point(599_000, 2_000), point(600_000, 7)] };
  assert.deepEqual(pairByTime(requests, fine), [[540_000, 6_000, 3_000], [600_000, 0, 7]]);

  // A 60-s bucket on a 1-s grid is its average rate over the minute, not one spike; the minute
  // still filling (ends after `end`) is left out.
  const grid = [];
  for (let t = 590_000; t < 610_000; t += 1000) grid.push(t);
  const rates = ratesOnGrid({ bucket_ms: 60_000, step_ms: 60_000, points: [point(540_000, 6_000), point(600_000, 50)] }, grid, 1000, 630_000);
  assert.deepEqual(rates.slice(0, 10), Array(10).fill(100));
  assert.deepEqual(rates.slice(10), Array(10).fill(null));
  // 1-s buckets map one to one.
  const perSecond = ratesOnGrid({ bucket_ms: 1_000, step_ms: 1_000, points: grid.map((t, i) => point(t, i)) }, grid, 1000, 700_000);
  assert.deepEqual(perSecond, grid.map((_, i) => i));
});
