// The checks of the edge app (js-test/workerd/worker.mjs) wherever it is served: by workerd
// (workerd.test.mjs) and as a Next.js route (nextjs.test.mjs). `app` gives, once the app is up:
// base (its URL), log() (the runtime's output so far, for failures), received (the envelopes the
// sink got) and sinkUrl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';

/** A port free on 127.0.0.1 just now. */
export async function freePort() {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  return port;
}

/**
 * The sink on 127.0.0.1: keeps the envelopes POSTed to /ingest (in `received`) and serves the
 * golden vectors of `golden` under /golden/. Resolves to { url, received, close }.
 */
export async function startSink(golden) {
  const received = [];
  const sink = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/ingest') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => { received.push(new Uint8Array(Buffer.concat(chunks))); res.end('{"outcome":"applied"}'); });
      return;
    }
    if (req.method === 'GET' && req.url.startsWith('/golden/')) {
      try {
        res.end(readFileSync(join(golden, req.url.slice('/golden/'.length))));
      } catch {
        res.statusCode = 404;
        res.end();
      }
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  return { url: `http://127.0.0.1:${sink.address().port}`, received, close: () => new Promise((r) => sink.close(r)) };
}

/** The app's JSON answer to GET `path`, its status asserted to be 200. */
async function getJson({ base, log }, path) {
  const res = await fetch(base + path);
  const text = await res.text();
  assert.equal(res.status, 200, `${path}: ${text}\n${log()}`);
  return JSON.parse(text);
}

export function edgeAppTests(runtime, app, { client = true } = {}) {
  // Off where timers run (a Node server): a flush interval could send before the test's flush.
  if (client) test(`${runtime}: the app records from requests, and its client flushes in the background`, async () => {
    const { received, sinkUrl } = app();
    const get = (path) => getJson(app(), path);
    await get(`/configure?sink=${encodeURIComponent(sinkUrl + '/ingest')}`);
    for (let i = 0; i < 300; i++) {
      await get(`/record?user=user-${i % 120}&page=/page-${i % 7 === 0 ? 'hot' : i % 30}`);
    }
    const est = await get('/estimates');
    assert.equal(est.visitors.value, 120);
    assert.equal(est.visitors.exact, true);
    assert.equal(est.top.guaranteed[0].item, '/page-hot');
    assert.deepEqual(est.redis, [72, 89, 76, 76]); // "HYLL"

    // 900 record calls (three per request) at maxEvents 100: nine envelopes made, none sent (no
    // timers run, and no flush yet).
    assert.equal(received.length, 0, 'nothing left the app outside a flush');
    const flushed = await get('/flush');
    assert.deepEqual([flushed.before.envelopes, flushed.before.queued, flushed.before.sent], [9, 9, 0]);
    for (let i = 0; i < 50 && received.length < 9; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, 9, 'the sink got the envelopes');
    // Decoded on this side (Node) with the same package: one replica, sequences 1..9, all counts.
    const es = await import('edgesketch');
    const envs = received.map((b) => new es.EnvelopeReader(b));
    assert.match(envs[0].replica, /^[0-9a-f]{32}$/);
    assert.ok(envs.every((e) => e.replica === envs[0].replica));
    assert.deepEqual(envs.map((e) => e.sequence).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(envs.reduce((n, e) => n + e.open('requests').value, 0n), 300n);
    const union = new es.HyperLogLog();
    for (const e of envs) union.merge(e.open('uniques:site'));
    const uniques = union.estimate();
    // The encoding keeps fewer key bits than the live sketch: near-exact, within its bound.
    assert.ok(uniques.lower <= 120 && 120 <= uniques.upper && Math.abs(uniques.value - 120) < 0.5, JSON.stringify(uniques));
    // Nothing new: nothing more is sent.
    const again = await get('/flush?wait=1');
    assert.equal(again.after.envelopes, 9);
    assert.equal(again.after.sent, 9);
  });

  test(`${runtime}: golden vectors, the same bytes as native`, async () => {
    const { sinkUrl } = app();
    const get = (path) => getJson(app(), path);
    const results = await get(`/golden?base=${encodeURIComponent(sinkUrl + '/golden/')}`);
    const failed = results.filter((r) => !r.ok);
    assert.deepEqual(failed, []);
    assert.ok(results.filter((r) => r.what.startsWith('rebuilt')).length >= 20, `${results.length} checks`);
  });

  test(`${runtime}: errors reach the app as real Errors`, async () => {
    const get = (path) => getJson(app(), path);
    const e = await get('/error');
    assert.deepEqual([e.threw, e.isError], [true, true]);
    assert.match(e.message, /precision 99/);
  });
}
