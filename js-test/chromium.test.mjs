// The packed package in a real browser: headless Chromium (Debian's, driven by playwright-core)
// loads a page that imports `edgesketch` through an import map (the `browser` entry, which fetches
// the .wasm beside it), aggregates, and checks the golden vectors. Run by scripts/test-npm.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { once } from 'node:events';
import { createRequire } from 'node:module';

import { EnvelopeReader, HyperLogLog } from 'edgesketch';
import { launchChromium, sendFile } from './chromium-harness.mjs';

const golden = process.env.EDGESKETCH_GOLDEN;
const { chromium } = createRequire(process.env.PLAYWRIGHT_CORE ?? import.meta.url)('playwright-core');

const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgesketch in Chromium</title><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "edgesketch": "/node_modules/edgesketch/browser.js" } }</script>
<script type="module">
  import * as es from 'edgesketch';
  import { checkGolden } from '/golden.mjs';
  try {
    const visitors = new es.HyperLogLog();
    for (let i = 0; i < 5000; i++) visitors.add('visitor-' + (i % 2500));
    const recorder = new es.Recorder();
    recorder.addUnique('uniques:page', 'me');
    recorder.addQuantile('latency', 12.5);
    const env = new es.EnvelopeReader(recorder.envelope(1764115200000));
    let error;
    try { new es.Quantiles({ alpha: 2 }); } catch (e) { error = { isError: e instanceof Error, message: e.message }; }
    const manifest = await (await fetch('/golden/manifest.json')).json();
    const read = async (f) => new Uint8Array(await (await fetch('/golden/' + f)).arrayBuffer());
    const results = await checkGolden(es, manifest, read);
    window.__done = { estimate: visitors.estimate(), replica: env.replica, entries: env.entries(), error, results };
  } catch (e) {
    window.__done = { failure: String(e && e.stack || e) };
  }
</script></head><body><h1>edgesketch</h1></body></html>`;

// Pages for the client's storage: /leave records a backlog and goes away (/leave-failing after a
// send the server refused); /return is the next page of the same site, whose client takes over
// what the page before could not send.
const clientPage = (mode) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgesketch client</title><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "edgesketch": "/node_modules/edgesketch/browser.js" } }</script>
<script type="module">
  import { createClient } from 'edgesketch';
  try {
    const client = createClient({ endpoint: location.origin + '/v1/ingest', token: 'page-token',
      maxEvents: 1e9, maxAgeMs: 1e9, flushIntervalMs: 0, retries: 0, backoffBaseMs: 60_000 });
    if (${JSON.stringify(mode)} !== 'return') {
      // Eight dense HyperLogLogs (~100 KB) and a counter, all held when the page goes away.
      for (let k = 0; k < 8; k++) for (let i = 0; i < 20000; i++) client.addUnique('u' + k, k + '-' + i);
      for (let i = 0; i < 1000; i++) client.increment('n');
      if (${JSON.stringify(mode)} === 'leave-failing') await client.flush(); // refused: the client backs off
      // After the client's own pagehide listener: what it did.
      addEventListener('pagehide', () => localStorage.setItem('test:left', JSON.stringify({ ...client.stats(), lastError: undefined })));
      window.__done = { stats: { ...client.stats(), lastError: String(client.stats().lastError) } };
    } else {
      const restored = client.stats().restored;
      const result = await client.flush();
      window.__done = { restored, result, stats: { ...client.stats(), lastError: String(client.stats().lastError) },
        left: JSON.parse(localStorage.getItem('test:left')), saved: Object.keys(localStorage).filter((k) => k.startsWith('edgesketch:unsent:')) };
    }
  } catch (e) {
    window.__done = { failure: String(e && e.stack || e) };
  }
</script></head><body><h1>client</h1></body></html>`;

// The sink: applies each (replica, sequence) once, as the merge server does; it is down (503) for
// every request the page /leave-failing makes, its beacons included (their data is lost), and up
// for the page after it (told apart by the Referer, as both send at once during the navigation).
const sinkApplied = new Map();
const sinkRequests = [];
function ingest(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = new Uint8Array(Buffer.concat(chunks));
    const beacon = req.headers['content-type'] === 'text/plain';
    if (new URL(req.headers.referer ?? 'http://x/').pathname === '/leave-failing') {
      sinkRequests.push({ beacon, status: 503 });
      res.statusCode = 503;
      return res.end('down');
    }
    const envelope = new EnvelopeReader(body);
    const id = `${envelope.replica}/${envelope.sequence}`;
    const outcome = sinkApplied.has(id) ? 'duplicate' : 'applied';
    if (outcome === 'applied') sinkApplied.set(id, envelope);
    sinkRequests.push({ beacon, status: 200, outcome });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ outcome }));
  });
}
function sinkTotal() {
  let sum = 0n;
  for (const e of sinkApplied.values()) if (e.entries().some((x) => x.key === 'n')) sum += e.open('n').value;
  return sum;
}
function sinkUnion(key) {
  const merged = new HyperLogLog();
  for (const e of sinkApplied.values()) if (e.entries().some((x) => x.key === key)) merged.merge(e.open(key));
  return merged;
}

let server;
let browser;
let base;

before(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file;
    if (path === '/') {
      res.setHeader('content-type', 'text/html');
      return res.end(page);
    } else if (path === '/v1/ingest') {
      return ingest(req, res);
    } else if (path === '/leave' || path === '/leave-failing' || path === '/return') {
      res.setHeader('content-type', 'text/html');
      return res.end(clientPage(path.slice(1)));
    } else if (path.startsWith('/golden/')) {
      file = join(golden, normalize(path.slice('/golden/'.length)));
    } else {
      file = join(process.cwd(), normalize(path));
    }
    sendFile(res, file);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium(chromium);
});

after(async () => {
  await browser?.close();
  server?.close();
});

test('Chromium imports the package, aggregates, and makes the same bytes as native', async () => {
  const tab = await browser.newPage();
  const problems = [];
  tab.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
  tab.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await tab.goto(base + '/');
  await tab.waitForFunction(() => window.__done, null, { timeout: 60_000 });
  const done = await tab.evaluate(() => window.__done);
  assert.equal(done.failure, undefined, done.failure);
  assert.equal(done.estimate.value, 2500);
  assert.match(done.replica, /^[0-9a-f]{32}$/, 'crypto.getRandomValues gave the replica id');
  assert.deepEqual(done.entries.map((e) => e.family), ['quantiles', 'hyperloglog']);
  assert.deepEqual([done.error.isError, /alpha/.test(done.error.message)], [true, true], JSON.stringify(done.error));
  const failed = done.results.filter((r) => !r.ok);
  assert.deepEqual(failed, []);
  assert.ok(done.results.filter((r) => r.what.startsWith('rebuilt')).length >= 20);
  assert.deepEqual(problems, [], 'no console errors or warnings');
});

for (const down of [false, true]) {
  test(`Chromium: a page leaving a backlog past the beacon quota${down ? ' while the server is down' : ''} loses nothing; the next page sends it, each envelope once`, async (t) => {
    sinkApplied.clear();
    sinkRequests.length = 0;
    const context = await browser.newContext(); // its own localStorage
    const tab = await context.newPage();
    const problems = [];
    tab.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await tab.goto(base + (down ? '/leave-failing' : '/leave'));
    await tab.waitForFunction(() => window.__done, null, { timeout: 60_000 });
    const left = await tab.evaluate(() => window.__done);
    assert.equal(left.failure, undefined, left.failure);
    // Going to the next page: pagehide sends beacons up to the quota and saves the rest.
    await tab.goto(base + '/return');
    await tab.waitForFunction(() => window.__done, null, { timeout: 60_000 });
    const back = await tab.evaluate(() => window.__done);
    assert.equal(back.failure, undefined, back.failure);
    await context.close();
    const beacons = sinkRequests.filter((r) => r.beacon);
    const report = JSON.stringify({ leftStats: back.left, restored: back.restored, result: back.result, beacons: beacons.length });
    t.diagnostic(report);
    assert.ok(back.left.beacons >= 1, report);
    assert.ok(back.left.queued >= 1, `the quota left envelopes queued: ${report}`);
    assert.equal(back.restored, back.left.queued + back.left.beacons, `what the quota left and the beacons: ${report}`);
    assert.deepEqual([back.result.queued, back.result.pendingEvents, back.stats.duplicates], [0, 0, 0], report);
    assert.deepEqual(back.saved, [], 'taken over');
    // Beacons may still be on their way: wait for the sum to settle, then check it exactly.
    for (let i = 0; i < 100 && sinkTotal() < 1000n; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(sinkTotal(), 1000n, report);
    const expected = new HyperLogLog();
    for (let i = 0; i < 20000; i++) expected.add('3-' + i);
    assert.deepEqual(sinkUnion('u3').toBytes(), expected.toBytes(), 'the same registers as recorded');
    if (down) assert.ok(beacons.every((r) => r.status === 503), 'every beacon was refused: the data came through storage');
    assert.deepEqual(problems, []);
  });
}
