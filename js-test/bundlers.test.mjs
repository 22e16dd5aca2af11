// The packed package through the bundlers users put it in: Vite (production build and dev server)
// and webpack 5, with no configuration for the package, each bundle run in headless Chromium; and
// esbuild bundling Node programs (ESM and CJS), run by Node away from any node_modules
// (Chromium: Debian's, through playwright-core). A bundler that drops the entry's top-level
// statements (it did: the package said `"sideEffects": false`, so the module was never loaded),
// misplaces the .wasm or cannot follow the entry's loading (Node's ESM entry loaded its CommonJS
// one through `createRequire`, and that read the .wasm from `__dirname`) fails here. Run from the
// scratch project by scripts/test-npm.sh, where `edgesketch` is installed; the bundlers come from
// the repository's node_modules (BUNDLERS_FROM).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join, normalize } from 'node:path';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

import { HyperLogLog } from 'edgesketch';
import { launchChromium, sendFile } from './chromium-harness.mjs';

const from = createRequire(process.env.BUNDLERS_FROM ?? import.meta.url);
const { chromium } = from('playwright-core');

// The app: what a page does with the package, and what it must find (the module loaded at import,
// the package's argument checks and batch methods in place, envelopes that read back). It uses
// only classes the entry re-exports from the glue: with `"sideEffects": false` a bundler then
// dropped the entry's own statements (the module's loading among them).
const app = join(process.cwd(), 'bundler-app');
const main = `import { HyperLogLog, Recorder, EnvelopeReader } from 'edgesketch';
try {
  const visitors = new HyperLogLog();
  for (let i = 0; i < 5000; i++) visitors.add('visitor-' + (i % 2500));
  const batch = new HyperLogLog();
  batch.addMany(Array.from({ length: 2500 }, (_, i) => 'visitor-' + i));
  let typeError = false;
  try { visitors.add(5); } catch (e) { typeError = e instanceof TypeError; }
  const recorder = new Recorder();
  recorder.increment('orders', 3);
  const envelope = new EnvelopeReader(recorder.envelope(Date.now()));
  window.__done = { bytes: Array.from(visitors.toBytes()), same: visitors.toBytes().join() === batch.toBytes().join(),
    typeError, orders: String(envelope.open('orders').value) };
} catch (e) {
  window.__done = { failure: String(e && e.stack || e) };
}
`;
const html = (script) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bundled</title><link rel="icon" href="data:,"></head>
<body><script type="module" src="${script}"></script></body></html>`;

let browser;
const servers = [];

before(async () => {
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'main.js'), main);
  writeFileSync(join(app, 'index.html'), html('/main.js'));
  browser = await launchChromium(chromium);
});

after(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
});

/** Serves a directory of built files on 127.0.0.1; resolves to its URL. */
async function serve(dir) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    sendFile(res, join(dir, normalize(path === '/' ? '/index.html' : path)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push({ close: () => new Promise((r) => server.close(r)) });
  return `http://127.0.0.1:${server.address().port}/`;
}

/** Opens `url` in Chromium and checks what the bundled app found. */
async function check(url) {
  const tab = await browser.newPage();
  const problems = [];
  tab.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
  tab.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await tab.goto(url);
  await tab.waitForFunction(() => window.__done, null, { timeout: 60_000 }).catch(() => {});
  const done = await tab.evaluate(() => window.__done);
  await tab.close();
  assert.ok(done, `the app never finished: ${problems.join('\n')}`);
  assert.equal(done.failure, undefined, done.failure);
  const expected = new HyperLogLog();
  for (let i = 0; i < 2500; i++) expected.add(`visitor-${i}`);
  assert.deepEqual(done.bytes, Array.from(expected.toBytes()), 'the same bytes as in Node');
  assert.deepEqual([done.same, done.typeError, done.orders], [true, true, '3']);
  assert.deepEqual(problems, []);
}

const vite = () => import(pathToFileURL(from.resolve('vite')).href);

test('Vite: a production build with no configuration runs in Chromium', async () => {
  const { build } = await vite();
  const out = join(app, 'dist-vite');
  await build({ root: app, configFile: false, logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  await check(await serve(out));
});

test('Vite: the dev server with no configuration runs it in Chromium', async () => {
  const { createServer: createViteServer } = await vite();
  const server = await createViteServer({ root: app, configFile: false, logLevel: 'error',
    cacheDir: join(app, '.vite-cache'), server: { host: '127.0.0.1', port: 0, strictPort: false } });
  await server.listen();
  servers.push({ close: () => server.close() });
  await check(server.resolvedUrls.local[0]);
});

test('webpack 5: a production build with no configuration for the package runs in Chromium', async () => {
  const webpack = from('webpack');
  const out = join(app, 'dist-webpack');
  const stats = await new Promise((resolve, reject) => {
    webpack({ mode: 'production', context: app, entry: './main.js', output: { path: out, filename: 'main.js', publicPath: '/' },
      performance: { hints: false } }, (error, result) => (error ? reject(error) : resolve(result)));
  });
  assert.ok(!stats.hasErrors(), stats.toString('errors-only'));
  writeFileSync(join(out, 'index.html'), html('/main.js'));
  await check(await serve(out));
});

test('esbuild: Node programs bundled with the package (ESM and CJS) run away from node_modules', async () => {
  const { build } = from('esbuild');
  const program = (load) => `${load}
const visitors = new HyperLogLog();
visitors.addMany(Array.from({ length: 2500 }, (_, i) => 'visitor-' + i));
console.log(JSON.stringify(Array.from(visitors.toBytes())));
`;
  writeFileSync(join(app, 'server.mjs'), program("import { HyperLogLog } from 'edgesketch';"));
  writeFileSync(join(app, 'server.cjs'), program("const { HyperLogLog } = require('edgesketch');"));
  // Outside the scratch project, so nothing can be found in a node_modules up the tree.
  const out = mkdtempSync(join(tmpdir(), 'edgesketch-esbuild-'));
  try {
    const expected = new HyperLogLog();
    for (let i = 0; i < 2500; i++) expected.add(`visitor-${i}`);
    for (const [file, format] of [['server.mjs', 'esm'], ['server.cjs', 'cjs']]) {
      await build({ entryPoints: [join(app, file)], bundle: true, platform: 'node', format, outfile: join(out, file), logLevel: 'error' });
      const printed = execFileSync(process.execPath, [join(out, file)], { cwd: out, encoding: 'utf8' });
      assert.deepEqual(JSON.parse(printed), Array.from(expected.toBytes()), `${format}: the same bytes`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
