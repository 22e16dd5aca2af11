// The packed package in a real browser: headless Chromium (Debian's, driven by playwright-core)
// loads a page that imports `edgesketch` through an import map (the `browser` entry, which fetches
// the .wasm beside it), aggregates, and checks the golden vectors. Run by scripts/test-npm.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join, extname, normalize } from 'node:path';
import { once } from 'node:events';
import { createRequire } from 'node:module';

const golden = process.env.EDGESKETCH_GOLDEN;
const { chromium } = createRequire(process.env.PLAYWRIGHT_CORE ?? import.meta.url)('playwright-core');
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.html': 'text/html' };

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
    } else if (path.startsWith('/golden/')) {
      file = join(golden, normalize(path.slice('/golden/'.length)));
    } else {
      file = join(process.cwd(), normalize(path));
    }
    try {
      const body = readFileSync(file);
      res.setHeader('content-type', types[extname(file)] ?? 'application/octet-stream');
      res.end(body);
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
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
