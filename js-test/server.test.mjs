// The packed npm package against the real merge server: the JS edge client records every kind
// of sketch, flushes to `edgesketch-server` on 127.0.0.1, and the server's answers match what
// was recorded; a retry of the same bytes is a duplicate; a beacon with the token in the URL
// applies. EDGESKETCH_SERVER_BIN points at the built binary. Run from the scratch project.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { createClient, EnvelopeReader, HyperLogLog } from 'edgesketch';

const bin = process.env.EDGESKETCH_SERVER_BIN;
const servers = [];
const dirs = [];
after(() => {
  for (const server of servers) server.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts an open server on a fresh data directory; resolves to its base URL. */
async function start(...flags) {
  const dir = mkdtempSync(join(tmpdir(), 'edgesketch-server-'));
  dirs.push(dir);
  const server = spawn(bin, ['--open', '--listen', '127.0.0.1:0', '--data-dir', dir, ...flags], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, EDGESKETCH_LOG: 'warn' },
  });
  const lines = createInterface({ input: server.stdout });
  return new Promise((resolve, reject) => {
    // Keep reading after the address: a closed pipe would fail the server's next write.
    lines.on('line', (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)));
    servers.push(server);
  });
}

const base = await start();
const json = async (path) => {
  const r = await fetch(base + path);
  assert.equal(r.status, 200, `${path}: ${await r.clone().text()}`);
  return r.json();
};

test('the JS client records every family and the server answers what was recorded', async () => {
  const now = Date.now();
  const client = createClient({ endpoint: `${base}/v1/ingest`, flushIntervalMs: 0 });
  for (let i = 0; i < 500; i++) {
    client.increment('orders');
    client.addUnique('visitors', `user-${i % 120}`);
    client.addWindow('requests', i % 7, now - (i % 30) * 1000, now);
    client.addUniqueSeries('daily', `user-${i % 80}`, now - (i % 30) * 1000, now);
    client.addTopK('articles', `a${i % 9}`, 1, { capacity: 32 });
    client.addCount('views', `a${i % 9}`, 2);
    client.addQuantile('latency', 1 + (i % 100));
    client.addScore('scores', `p${i % 20}`, i, { rule: 'max' });
  }
  // Thresholds cut envelopes while recording (their sends start in the background); the
  // awaited flush returns once every one of them is applied.
  const result = await client.flush();
  assert.equal(result.queued, 0);
  assert.equal(result.dropped, 0);
  assert.ok(result.sent >= 1);
  await client.close();

  assert.equal((await json('/v1/counter?key=orders')).value, 500);
  const visitors = (await json('/v1/unique?key=visitors')).estimate;
  assert.ok(Math.abs(visitors.value - 120) <= 1, `unique ${visitors.value}`);
  assert.ok(visitors.lower <= 120 && 120 <= visitors.upper + 1);
  const window = await json(`/v1/window?key=requests&from=${now - 60_000}&to=${now + 1}`);
  let sum = 0;
  for (let i = 0; i < 500; i++) sum += i % 7;
  assert.equal(window.range.stats.sum, sum);
  assert.equal(window.range.stats.count, 500);
  const daily = (await json(`/v1/unique?key=daily&from=${now - 60_000}&to=${now + 1}`)).estimate;
  assert.ok(Math.abs(daily.value - 80) <= 1, `series ${daily.value}`);
  const top = await json('/v1/topk?key=articles&k=3');
  assert.equal(top.total, 500);
  assert.deepEqual(top.guaranteed.map((h) => h.item), ['a0', 'a1', 'a2']);
  assert.equal(top.guaranteed[0].lower, 56);
  const views = await json('/v1/countmin?key=views&item=a0');
  assert.ok(views.items[0].upper >= 112 && views.items[0].lower <= 112);
  const latency = await json('/v1/quantiles?key=latency&q=0.5');
  assert.ok(Math.abs(latency.quantiles[0].value - 50) <= 50 * 0.02 + 1, `p50 ${latency.quantiles[0].value}`);
  const board = await json('/v1/leaderboard?key=scores&start=0&stop=0');
  assert.deepEqual(board.range[0], { rank: 0, member: 'p19', score: 499 });
});

test('a retry of the same bytes is a duplicate; a beacon with the token in the URL applies', async () => {
  let captured;
  const client = createClient({
    endpoint: `${base}/v1/ingest`,
    flushIntervalMs: 0,
    fetch: async (url, init) => {
      captured = new Uint8Array(await new Response(init.body).arrayBuffer());
      return fetch(url, init);
    },
  });
  client.increment('retried', 4);
  await client.flush();
  const again = await fetch(`${base}/v1/ingest`, { method: 'POST', body: captured });
  assert.equal((await again.json()).outcome, 'duplicate');
  assert.equal((await json('/v1/counter?key=retried')).value, 4);

  const beacons = [];
  const pageClient = createClient({
    endpoint: `${base}/v1/ingest`,
    token: 'ignored-in-open-mode',
    flushIntervalMs: 0,
    // What a browser does with the beacon: POST the Blob with its type as the content type.
    sendBeacon: (url, blob) => {
      beacons.push(fetch(url, { method: 'POST', body: blob, headers: { 'content-type': blob.type } }));
      return true;
    },
  });
  pageClient.increment('beaconed', 2);
  assert.equal(pageClient.flushBeacon(), true);
  const answer = await (await beacons[0]).json();
  assert.equal(answer.outcome, 'applied');
  assert.equal((await json('/v1/counter?key=beaconed')).value, 2);
  assert.ok(new EnvelopeReader(new Uint8Array(captured)).sequence >= 1);
});

test('an envelope too large for the server is split, every part applies once, and no sequence is reported lost', async () => {
  // A small body limit and no grace period: a refused envelope's sequence would show as a gap at once.
  const small = await start('--max-body-bytes', '600', '--drift-grace-secs', '0');
  const client = createClient({ endpoint: `${small}/v1/ingest`, flushIntervalMs: 0, maxEvents: 100_000 });
  for (let k = 0; k < 24; k++) {
    for (let i = 0; i < 30; i++) client.addUnique(`split:${String(k).padStart(2, '0')}`, `item-${i}`);
    client.increment('split:total', 30);
  }
  const result = await client.flush();
  assert.deepEqual([result.queued, result.dropped], [0, 0]);
  assert.ok(client.stats().split >= 3, `splits: ${client.stats().split}`); // parts of parts too
  await client.close();
  const get = async (path) => (await fetch(small + path)).json();
  assert.equal((await get('/v1/counter?key=split:total')).value, 720, 'each part applied once');
  const keys = (await get('/v1/keys?prefix=split:&limit=100')).keys.map((k) => k.key);
  assert.equal(keys.length, 25);
  for (let k = 0; k < 24; k++) {
    const estimate = (await get(`/v1/unique?key=split:${String(k).padStart(2, '0')}`)).estimate;
    assert.ok(Math.abs(estimate.value - 30) <= 1, `split:${k}: ${estimate.value}`);
  }
  const drift = await get('/v1/drift');
  assert.equal(drift.missing_envelopes, 0, JSON.stringify(drift.gaps));
  assert.deepEqual(drift.gaps, []);
});

test('what a page left in storage reaches the server through the next page: each event counted once, no sequence lost', async () => {
  // A page with a backlog of ~100 KB, whose last send failed, leaves: its beacons (real POSTs,
  // as a browser sends them) take what fits in the 64 KiB quota; the rest is saved, and so are
  // the beacons (sent while the server failed, they may have been lost). The next page's client
  // sends all of it: the server answers "duplicate" to what a beacon delivered. No grace period:
  // a sequence never settled would show as a gap at once.
  const server = await start('--drift-grace-secs', '0');
  const map = new Map();
  const storage = {
    get length() { return map.size; }, key: (i) => [...map.keys()][i] ?? null,
    getItem: (k) => map.get(k) ?? null, setItem: (k, v) => { map.set(k, v); }, removeItem: (k) => { map.delete(k); },
  };
  const beacons = [];
  let quota = 65_536;
  const options = { endpoint: `${server}/v1/ingest`, flushIntervalMs: 0, maxEvents: 1e9, maxAgeMs: 1e9, storage };
  const page = createClient({ ...options, retries: 0,
    fetch: async () => new Response('down for a moment', { status: 503 }),
    sendBeacon: (url, blob) => {
      if (blob.size > quota) return false;
      quota -= blob.size;
      beacons.push(fetch(url, { method: 'POST', body: blob, headers: { 'content-type': blob.type } }));
      return true;
    } });
  for (let k = 0; k < 8; k++) for (let i = 0; i < 20_000; i++) page.addUnique(`left:u${k}`, `${k}-${i}`);
  page.increment('left:n', 1000);
  await page.flush(); // refused: 503
  assert.equal(page.flushBeacon(), false, 'past the quota');
  const answers = await Promise.all(beacons.map(async (b) => (await (await b).json()).outcome));
  assert.deepEqual(answers, answers.map(() => 'applied'));
  const [key] = map.keys();
  const saved = JSON.parse(map.get(key));
  assert.equal(saved.envelopes.length, beacons.length + page.stats().queued, 'the beaconed parts are saved too');
  assert.ok(beacons.length >= 1 && page.stats().queued >= 1);

  const next = createClient({ ...options });
  assert.equal(next.stats().restored, saved.envelopes.length);
  const result = await next.flush();
  assert.deepEqual([result.queued, next.stats().sent, next.stats().duplicates, next.stats().rejected],
    [0, saved.envelopes.length, 0, 0]);
  await next.close();
  const get = async (path) => (await fetch(server + path)).json();
  assert.equal((await get('/v1/counter?key=left:n')).value, 1000);
  for (let k = 0; k < 8; k++) {
    const expected = new HyperLogLog();
    for (let i = 0; i < 20_000; i++) expected.add(`${k}-${i}`);
    const stored = HyperLogLog.fromBytes(new Uint8Array(await (await fetch(`${server}/v1/raw?key=left:u${k}`)).arrayBuffer()));
    assert.deepEqual(stored.toBytes(), expected.toBytes(), `left:u${k}: the registers recorded`);
  }
  const drift = await get('/v1/drift');
  assert.equal(drift.missing_envelopes, 0, JSON.stringify(drift.gaps));
});
