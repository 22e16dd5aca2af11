// Rebuilds the golden vectors of tests/golden/v1 (the Rust tests' fixtures) through the package,
// from the manifest's own recipe, so any runtime can check it makes the same bytes as native.
// Shared by the Node, Chromium and workerd tests: it takes the package's exports and the files,
// and returns a list of { file, ok, detail } results (no test framework inside).

const NOW = 1_764_115_200_000;

function items({ prefix, count }) {
  const out = new Array(count);
  for (let i = 0; i < count; i++) out[i] = prefix + i;
  return out;
}

function hll(es, precision, spec) {
  const h = new es.HyperLogLog({ precision });
  h.addMany(items(spec));
  return h;
}

function board(es, d) {
  const rule = d.rule === 'last_writer_wins' ? 'lastWriterWins' : d.rule;
  const b = new es.Leaderboard({ rule, best: d.best, capacity: d.capacity });
  for (let i = 0; i < d.members; i++) b.add('player-' + i, (i * 37 % 101) - 20, 'set', i * 1000);
  return b;
}

function topK(es, d) {
  const t = new es.TopK({ capacity: d.capacity });
  for (let i = 0; i < d.events; i++) t.add('article-' + (i * i % 97), 1 + i % 3);
  return t;
}

function countMin(es, d) {
  const c = new es.CountMinSketch({ width: d.width, depth: d.depth, conservative: d.conservative });
  for (let i = 0; i < d.events; i++) c.add('path-' + (i % 50), 1 + i % 3);
  return c;
}

function quantiles(es, d) {
  const q = new es.Quantiles({ alpha: d.alpha, maxBins: d.max_bins });
  const collapsed = d.value.startsWith('10 ^');
  const values = new Float64Array(d.events);
  for (let i = 0; i < d.events; i++) values[i] = collapsed ? Math.pow(10, i / 100) : (i * 7919 % 1000) / 3 - 50;
  q.addMany(values);
  return q;
}

function seriesOptions(d) {
  return { bucketMs: d.bucket_ms, retentionMs: d.retention_ms, graceMs: d.grace_ms, maxFutureMs: d.max_future_ms };
}

function windowCounter(es, d) {
  const w = new es.WindowCounter({ ...seriesOptions(d), nowMs: d.clock_ms });
  for (let i = 0; i < d.events; i++) w.add(i % 13 - 3, d.clock_ms - i * d.step_ms);
  return w;
}

function uniqueSeries(es, d) {
  const u = new es.UniqueSeries({ ...seriesOptions(d), precision: d.precision, nowMs: d.clock_ms });
  for (let i = 0; i < d.events; i++) u.add('reader-' + (i % d.users), d.clock_ms - i * d.step_ms);
  return u;
}

/** The envelope of a snapshot vector, made by a Recorder (what an edge sender does). */
function envelope(es, v) {
  const r = new es.Recorder({ replica: v.replica, nextSequence: v.sequence });
  for (const e of v.entries) {
    if (e.items) {
      for (const item of items(e.items)) r.addUnique(e.key, item, e.precision);
    } else if (e.counter) {
      r.increment(e.key, e.counter.increments);
      if (e.counter.decrements) r.decrement(e.key, e.counter.decrements);
    } else if (e.window) {
      const d = e.window;
      for (let i = 0; i < d.events; i++) r.addWindow(e.key, i % 13 - 3, d.clock_ms - i * d.step_ms, d.clock_ms, seriesOptions(d));
    } else if (e.unique) {
      const d = e.unique;
      const o = { ...seriesOptions(d), precision: d.precision };
      for (let i = 0; i < d.events; i++) r.addUniqueSeries(e.key, 'reader-' + (i % d.users), d.clock_ms - i * d.step_ms, d.clock_ms, o);
    } else if (e.board) {
      const d = e.board;
      const rule = d.rule === 'last_writer_wins' ? 'lastWriterWins' : d.rule;
      for (let i = 0; i < d.members; i++) {
        r.addScore(e.key, 'player-' + i, (i * 37 % 101) - 20, { rule, best: d.best, capacity: d.capacity, writtenMs: i * 1000 });
      }
    } else if (e.top_k) {
      const d = e.top_k;
      for (let i = 0; i < d.events; i++) r.addTopK(e.key, 'article-' + (i * i % 97), 1 + i % 3, { capacity: d.capacity });
    } else if (e.count_min) {
      const d = e.count_min;
      for (let i = 0; i < d.events; i++) r.addCount(e.key, 'path-' + (i % 50), 1 + i % 3, { width: d.width, depth: d.depth });
    } else if (e.quantiles) {
      const d = e.quantiles;
      for (let i = 0; i < d.events; i++) r.addQuantile(e.key, (i * 7919 % 1000) / 3 - 50, { alpha: d.alpha, maxBins: d.max_bins });
    } else {
      throw new Error('unknown entry in ' + v.file + ': ' + JSON.stringify(e));
    }
  }
  // An empty recorder makes no envelope; the empty vector is then checked through the reader.
  return r.envelope(v.created_ms) ?? null;
}

/** Which class decodes and re-encodes each vector kind. */
function decoder(es, kind) {
  return {
    hll: es.HyperLogLog, hll_via_redis: es.HyperLogLog, counter: es.Counter,
    window_counter: es.WindowCounter, unique_series: es.UniqueSeries, leaderboard: es.Leaderboard,
    top_k: es.TopK, count_min: es.CountMinSketch, quantiles: es.Quantiles,
  }[kind];
}

function equalBytes(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `first difference at byte ${i} of ${a.length} (expected ${b.length})`;
  return `lengths ${a.length} and ${b.length}`;
}

/**
 * Checks every vector: decode + re-encode byte-equal through the package, and, where the recipe
 * can be followed through the JS API, rebuild from the recipe byte-equal.
 * `read(file)` returns the file's bytes (Uint8Array).
 */
export async function checkGolden(es, manifest, read) {
  const results = [];
  const check = (file, what, ok, detail = '') => results.push({ file, what, ok, detail });
  for (const v of manifest.vectors) {
    const bytes = await read(v.file);
    if (bytes.length !== v.bytes) check(v.file, 'size', false, `${bytes.length} bytes, manifest says ${v.bytes}`);
    if (v.kind === 'redis') {
      const h = es.HyperLogLog.fromRedis(bytes);
      const rebuilt = hll(es, v.precision, v.items).toRedis();
      check(v.file, 'rebuilt', equalBytes(rebuilt, bytes), equalBytes(rebuilt, bytes) ? '' : firstDifference(rebuilt, bytes));
      check(v.file, 'redis estimate', BigInt(h.redisEstimate()) === BigInt(hll(es, v.precision, v.items).redisEstimate()));
      continue;
    }
    if (v.kind === 'ledger') continue; // the receiver's ledger lives in the server, not the package
    if (v.kind === 'snapshot') {
      const reader = new es.EnvelopeReader(bytes);
      check(v.file, 'header', reader.replica === v.replica && reader.sequence === v.sequence && reader.createdMs === v.created_ms,
        JSON.stringify({ replica: reader.replica, sequence: reader.sequence, createdMs: reader.createdMs }));
      const keys = reader.entries().map((e) => e.key);
      check(v.file, 'keys', JSON.stringify(keys) === JSON.stringify(v.entries.map((e) => e.key)), JSON.stringify(keys));
      for (const { key, family } of reader.entries()) {
        const sketch = reader.open(key);
        const again = sketch.constructor.fromBytes(sketch.toBytes());
        check(v.file, `entry ${key} (${family}) round trip`, equalBytes(again.toBytes(), sketch.toBytes()));
      }
      if (v.entries.length > 0) {
        const made = envelope(es, v);
        check(v.file, 'rebuilt by a Recorder', equalBytes(made, bytes), made ? firstDifference(made, bytes) : 'no envelope');
      }
      continue;
    }
    const cls = decoder(es, v.kind);
    if (!cls) {
      check(v.file, 'kind', false, `no class for kind ${v.kind}`);
      continue;
    }
    const decoded = cls.fromBytes(bytes);
    check(v.file, 're-encoded', equalBytes(decoded.toBytes(), bytes));
    let rebuilt = null;
    switch (v.kind) {
      case 'hll':
        rebuilt = hll(es, v.precision, v.items);
        // The manifest's estimate is the decoded sketch's (the encoding may keep fewer key bits
        // than the live sketch, so a live estimate can differ).
        check(v.file, 'estimate', decoded.estimate().value === v.expect.estimate,
          `${decoded.estimate().value} vs ${v.expect.estimate}`);
        check(v.file, 'redis estimate', BigInt(decoded.redisEstimate()) === BigInt(v.expect.redis_estimate));
        break;
      case 'counter':
        // Counts beyond 2^53 cannot be written from JS numbers; the decode above covers them.
        if (v.counter.increments <= Number.MAX_SAFE_INTEGER) {
          rebuilt = new es.Counter();
          rebuilt.increment(v.counter.increments);
          rebuilt.decrement(v.counter.decrements);
        }
        break;
      case 'window_counter': rebuilt = windowCounter(es, v.window); break;
      case 'unique_series': rebuilt = uniqueSeries(es, v.unique); break;
      case 'leaderboard': rebuilt = board(es, v.board); break;
      case 'top_k': rebuilt = topK(es, v.top_k); break;
      case 'count_min': rebuilt = countMin(es, v.count_min); break;
      case 'quantiles': rebuilt = quantiles(es, v.quantiles); break;
      case 'hll_via_redis': {
        const viaRedis = es.HyperLogLog.fromRedis(hll(es, v.precision, v.items).toRedis());
        rebuilt = viaRedis;
        break;
      }
    }
    if (rebuilt) {
      const made = rebuilt.toBytes();
      check(v.file, 'rebuilt', equalBytes(made, bytes), equalBytes(made, bytes) ? '' : firstDifference(made, bytes));
    }
  }
  return results;
}

export { NOW };
