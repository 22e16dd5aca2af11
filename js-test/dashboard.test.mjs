// The dashboard (www/) in headless Chromium (Debian's, through playwright-core) against the real
// merge server running its demo: panels render charts with data, live updates arrive and pause
// while the tab is hidden, every number on the page equals the JSON API's, a range merged in the
// browser equals the server's merge, and the edge-client switch moves a count. Screenshots of each
// panel go to $EDGESKETCH_ARTIFACTS. Run by scripts/test-www.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { launchChromium } from './chromium-harness.mjs';

const { chromium } = createRequire(resolve(process.env.PLAYWRIGHT_CORE ?? 'package.json'))('playwright-core');
const serverBin = resolve(process.env.EDGESKETCH_SERVER_BIN ?? 'target/debug/edgesketch-server');
const www = resolve(process.env.EDGESKETCH_WWW ?? 'www');
const artifacts = resolve(process.env.EDGESKETCH_ARTIFACTS ?? 'target/dashboard-artifacts');
/** Seconds of demo traffic; the checks against the API run after it stops. */
const TRAFFIC_SECONDS = 40;

let server;
let dataDir;
let browser;
let page;
let base;
let dashboardUrl;
let token;
const problems = [];
let trafficStopped;

/** The packed package, as the page loads it (www/vendor/edgesketch). */
const pkg = () => import(pathToFileURL(join(www, 'vendor/edgesketch/node.mjs')).href);

/** Waits for `predicate()` (evaluated in the page) to be truthy. */
const until = (predicate, arg, timeout = 30_000) => page.waitForFunction(predicate, arg, { timeout, polling: 100 });

async function apiJson(path) {
  const response = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) assert.fail(`${path}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

/** `promise`, or a failure after `ms` saying what did not happen. */
const within = (promise, ms, what) => Promise.race([
  promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref()),
]);

const at = (value, path) => path.split('.').reduce((v, k) => (v == null ? undefined : v[k]), value);

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'edgesketch-dashboard-'));
  mkdirSync(artifacts, { recursive: true });
  server = spawn(serverBin, [
    '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--www-dir', www,
    'demo', '--traffic-seconds', String(TRAFFIC_SECONDS), '--flush-ms', '500',
  ], {
    stdio: ['ignore', 'pipe', 'inherit'],
    // A short grace period, so the gap the test makes shows in the drift report at once.
    env: { ...process.env, EDGESKETCH_LOG: 'warn', EDGESKETCH_DRIFT_GRACE_SECS: '1' },
  });
  const lines = createInterface({ input: server.stdout });
  trafficStopped = new Promise((resolveStopped) => {
    lines.on('line', (line) => {
      if (line.includes('traffic stopped')) resolveStopped();
    });
  });
  const exited = new Promise((_, reject) => server.once('exit', (code, signal) => reject(new Error(`the demo exited (${code ?? signal})`))));
  exited.catch(() => {});
  trafficStopped = Promise.race([trafficStopped, exited]);
  dashboardUrl = await within(Promise.race([exited, new Promise((resolveUrl) => {
    lines.on('line', (line) => {
      const m = /dashboard:\s+(\S+)/.exec(line);
      if (m) resolveUrl(m[1]);
    });
  })]), 60_000, 'the demo printing its dashboard URL');
  const url = new URL(dashboardUrl);
  base = url.origin;
  token = new URLSearchParams(url.hash.slice(1)).get('token');
  browser = await launchChromium(chromium);
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(dashboardUrl);
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('every panel renders: charts draw their data, tables fill, live updates arrive', async () => {
  await until(() => window.__dashboard?.live === 'live' && window.__dashboard.refreshes >= 2);
  // Enough traffic for every chart: the quantiles chart needs two snapshots with new values
  // between them, the uniques chart one complete 10 s bucket.
  await until(() => {
    const c = window.__dashboard.charts;
    const filled = (chart, n) => chart.data.slice(1).some((s) => s.filter((v) => v !== null && v > 0).length >= n);
    return filled(c.ingest, 2) && filled(c.uniques, 1) && filled(c.requests, 2) && filled(c.errors, 1)
      && filled(c.quantiles, 2);
  }, null, 60_000);
  const sections = await page.$$eval('main > section', (all) => all.map((s) => ({ id: s.id, state: s.dataset.state ?? null })));
  assert.deepEqual(sections.filter((s) => s.id !== 'edge' && s.state !== 'ready'), [], 'every data panel refreshed without error');

  // Each chart's canvas holds pixels of its series' colours (not only axes and grid). Measured
  // again until every chart has them (or a minute passed): a chart with one point of data draws
  // only a few pixels (28 for the errors chart in one CI run), and the demo's errors are random.
  const measureInk = () => page.evaluate(() => Object.fromEntries(Object.entries(window.__dashboard.charts).map(([name, chart]) => {
    const canvas = chart.root.querySelector('canvas');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    const colours = chart.series.slice(1).map((s) => s._stroke ?? s.stroke()).filter((c) => /^#[0-9a-f]{6}$/i.test(c))
      .map((c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)));
    let pixels = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && colours.some(([r, g, b]) => Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 24)) pixels++;
    }
    return [name, { pixels, colours: colours.length, width: canvas.width, height: canvas.height }];
  })));
  let ink = await measureInk();
  for (const deadline = Date.now() + 60_000; !Object.values(ink).every((c) => c.pixels > 40) && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 500));
    ink = await measureInk();
  }
  for (const [name, c] of Object.entries(ink)) {
    assert.ok(c.width > 200 && c.height > 100, `${name}: canvas ${c.width}×${c.height}`);
    assert.ok(c.colours > 0, `${name}: series colours known`);
    assert.ok(c.pixels > 40, `${name}: ${c.pixels} pixels of its series' colours`);
  }

  // Tables of every family have rows from the demo.
  const rows = await page.evaluate(() => ({
    families: document.querySelectorAll('#families tbody tr[data-family]').length,
    services: document.querySelectorAll('#services tbody tr').length,
    boards: document.querySelectorAll('#rankings-tables table[data-family="leaderboard"] tbody tr').length,
    tops: document.querySelectorAll('#rankings-tables table[data-family="top_k"] tbody tr').length >= 5,
    quantiles: document.querySelectorAll('#quantile-table tbody tr').length,
    counters: document.querySelectorAll('#counter-table tbody tr[data-key]').length,
    hlls: document.querySelectorAll('#hll-keys tbody tr th').length,
    health: document.querySelector('#health').textContent,
  }));
  assert.deepEqual(rows, { families: 8, services: 4, boards: 10, tops: true, quantiles: 4, counters: 1, hlls: 1, health: 'ready' });

  // Live: the server announces commits (SSE), refreshes follow, and "last updated" moves.
  const before = await page.evaluate(() => ({ n: window.__dashboard.refreshes, at: window.__dashboard.lastUpdated, events: window.__dashboard.events }));
  assert.ok(before.events > 0, 'changed events arrived');
  await until((b) => window.__dashboard.refreshes >= b.n + 2 && window.__dashboard.lastUpdated > b.at, before, 15_000);
  assert.match(await page.textContent('#last-updated'), /\d+:\d+:\d+/);
  assert.equal(await page.textContent('#live-state'), 'live');

  for (const id of ['overview', 'uniques', 'windows', 'rankings', 'quantiles', 'counters']) {
    await page.locator(`#${id}`).screenshot({ path: join(artifacts, `panel-${id}.png`) });
  }
  assert.deepEqual(problems, [], 'no console errors or warnings');
});

test('a hidden tab stops live updates; showing it again resumes them', async () => {
  const setHidden = (hidden) => page.evaluate((h) => {
    Object.defineProperty(document, 'hidden', { value: h, configurable: true });
    Object.defineProperty(document, 'visibilityState', { value: h ? 'hidden' : 'visible', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
  await setHidden(true);
  assert.equal(await page.textContent('#live-state'), 'paused (tab hidden)');
  await until(() => !window.__dashboard.busy);
  const frozen = await page.evaluate(() => ({ refreshes: window.__dashboard.refreshes, events: window.__dashboard.events }));
  // A change the page would show (a new key), and longer than the 5 s tick: nothing arrives.
  const recorder = new (await pkg()).Recorder();
  recorder.increment('hidden:probe', 3);
  const response = await fetch(`${base}/v1/ingest`, { method: 'POST', body: recorder.envelope(Date.now()), headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200, await response.text());
  await page.waitForTimeout(6000);
  assert.deepEqual(await page.evaluate(() => ({ refreshes: window.__dashboard.refreshes, events: window.__dashboard.events })), frozen,
    'no refresh and no events while hidden');
  assert.equal(await page.$('#counter-table tr[data-key="hidden:probe"]'), null);
  await setHidden(false);
  await until((n) => window.__dashboard.live === 'live' && window.__dashboard.refreshes > n, frozen.refreshes, 15_000);
  await until(() => document.querySelector('#counter-table tr[data-key="hidden:probe"] td')?.dataset.value === '3', null, 15_000);
  assert.deepEqual(problems, []);
});

test('every number on the page equals the JSON API; a lost envelope shows as drift', async () => {
  await within(trafficStopped, 120_000, 'the demo stopping its traffic');
  // A sender whose second envelope of three never arrives.
  const es = await pkg();
  const sender = new es.Recorder();
  const envelopes = [1, 2, 3].map((n) => {
    sender.increment('lossy:events', n);
    return sender.envelope(Date.now());
  });
  for (const body of [envelopes[0], envelopes[2]]) {
    const response = await fetch(`${base}/v1/ingest`, { method: 'POST', body, headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200, await response.text());
  }
  const deadline = Date.now() + 10_000;
  while ((await apiJson('/v1/drift')).missing_envelopes !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal((await apiJson('/v1/drift')).missing_envelopes, 1);
  // A refresh that started after all that (the one running now, if any, may have started
  // before: two more), then pause so the page holds still.
  const n = await page.evaluate(() => window.__dashboard.refreshes);
  await until((k) => window.__dashboard.refreshes >= k + 2 && !window.__dashboard.busy, n, 20_000);
  await page.click('#pause');
  assert.equal(await page.textContent('#live-state'), 'paused');
  await until(() => !window.__dashboard.busy);

  const shown = await page.$$eval('[data-api][data-path]', (all) => all.map((e) => ({
    api: e.dataset.api, path: e.dataset.path, value: e.dataset.value, text: e.textContent,
  })));
  assert.ok(shown.length >= 60, `only ${shown.length} numbers are linked to the API`);
  const answers = new Map();
  for (const api of new Set(shown.map((s) => s.api))) answers.set(api, await apiJson(api));
  const routes = new Set([...answers.keys()].map((a) => a.split('?')[0]));
  for (const route of ['/v1/tenant', '/v1/drift', '/v1/unique', '/v1/window', '/v1/leaderboard', '/v1/topk', '/v1/quantiles', '/v1/counter']) {
    assert.ok(routes.has(route), `the page shows numbers of ${route}`);
  }
  for (const s of shown) {
    const expected = at(answers.get(s.api), s.path);
    assert.notEqual(expected, undefined, `${s.api} has a field ${s.path}`);
    assert.equal(s.value, JSON.stringify(expected), `${s.api} ${s.path}`);
    assert.notEqual(s.text.trim(), '', `${s.api} ${s.path} shows something`);
    // Plain numbers as shown (separators and rounding aside); ranks are shown from 1.
    if (typeof expected === 'number' && /^[\d,.]+$/.test(s.text.trim())) {
      const number = Number(s.text.replace(/,/g, ''));
      const tolerance = s.path.endsWith('.rank') ? 1 : Math.max(0.5, Math.abs(expected) * 5e-4);
      assert.ok(Math.abs(number - expected) <= tolerance, `${s.api} ${s.path}: shows ${s.text}, API says ${expected}`);
    }
  }

  // The gap: one row naming the sender and the missing sequence.
  const gaps = await page.$$eval('#drift-gaps tbody tr', (all) => all.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.equal(gaps.length, 1, JSON.stringify(gaps));
  const lost = new es.EnvelopeReader(envelopes[1]).sequence;
  assert.deepEqual(gaps[0].slice(0, 3), [`${sender.replica.slice(0, 8)}…`, '1', String(lost)]);
  assert.equal(await page.textContent('#drift-missing'), '1');

  // One key's details: the server's summary, and its bytes for Redis as the API exports them.
  await page.click('#overview details summary');
  await page.click('#keys button[data-key="visitors:all"]');
  await until(() => document.querySelector('#key-summary').textContent.startsWith('{'));
  const summary = await page.textContent('#key-summary');
  assert.equal(summary, JSON.stringify(await apiJson('/v1/sketch?key=visitors%3Aall&tenant=demo'), null, 2));
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-redis')]);
  assert.equal(download.suggestedFilename(), 'visitors_all.redis');
  const saved = readFileSync(await download.path());
  const raw = await fetch(`${base}/v1/raw?key=visitors:all&format=redis`, { headers: { authorization: `Bearer ${token}` } });
  assert.ok(Buffer.from(await raw.arrayBuffer()).equals(saved), 'the downloaded bytes are the Redis string /v1/raw exports');
  assert.equal(saved.subarray(0, 4).toString(), 'HYLL');
  await page.click('#key-close');

  // The families table counts the keys the API lists.
  const keys = (await apiJson('/v1/keys?limit=1000')).keys;
  const families = await page.$$eval('#families tbody tr[data-family]', (all) => Object.fromEntries(all.map((r) => [r.dataset.family, Number(r.querySelector('[data-count]').dataset.count)])));
  const expected = {};
  for (const k of keys) expected[k.family] = (expected[k.family] ?? 0) + 1;
  assert.deepEqual(families, expected);
  assert.deepEqual(problems, []);
});

test('a range merged in the browser (WASM) equals the server merge of the same range', async () => {
  // The button: the last 10 minutes by the server's clock.
  await page.click('#range button[data-last="600000"]');
  await until(() => document.querySelector('#range-verdict').dataset.match !== undefined);
  const lastTen = await page.evaluate(() => window.__dashboard.range);
  assert.equal(lastTen.match, true, JSON.stringify(lastTen));
  assert.ok(lastTen.browser.value > 100, `a real count: ${lastTen.browser.value}`);

  // A drag across the chart, over the second half of its points, picks another range.
  await page.locator('#uniques').scrollIntoViewIfNeeded();
  const over = await page.locator('#chart-uniques .u-over').boundingBox();
  const span = await page.evaluate(() => {
    const u = window.__dashboard.charts.uniques;
    const xs = u.data[0];
    return { points: xs.length, from: u.valToPos(xs[Math.floor(xs.length / 2)], 'x'), to: u.valToPos(xs[xs.length - 1], 'x') };
  });
  assert.ok(span.points >= 2 && span.to - span.from > 10, JSON.stringify(span));
  await page.mouse.move(over.x + span.from, over.y + over.height / 2);
  await page.mouse.down();
  await page.mouse.move(over.x + span.to, over.y + over.height / 2, { steps: 8 });
  await page.mouse.up();
  const why = async () => JSON.stringify(await page.evaluate(() => ({
    range: window.__dashboard.range, error: document.querySelector('#range-error').textContent,
    from: document.querySelector('#range-from').value, to: document.querySelector('#range-to').value,
  })));
  await until((prev) => window.__dashboard.range && window.__dashboard.range.from !== prev, lastTen.from)
    .catch(async (e) => assert.fail(`no new range after the drag: ${await why()} (${e.message})`));
  await until(() => document.querySelector('#range-verdict').dataset.match !== undefined);
  const dragged = await page.evaluate(() => window.__dashboard.range);
  assert.equal(dragged.match, true, JSON.stringify(dragged));
  assert.ok(dragged.to - dragged.from > 1000 && dragged.to - dragged.from < 3_600_000);

  for (const range of [lastTen, dragged]) {
    // The server's own merge of that range, asked here, equals the browser's to the last digit.
    const server = await apiJson(`/v1/unique?key=${encodeURIComponent(range.key)}&from=${range.from}&to=${range.to}`);
    for (const field of ['value', 'lower', 'upper']) {
      assert.ok(Math.abs(range.browser[field] - server.estimate[field]) <= 1e-9 * Math.max(1, server.estimate[field]),
        `${field}: browser ${range.browser[field]}, server ${server.estimate[field]}`);
    }
    assert.equal(range.browser.exact, server.estimate.exact);
  }
  const shownBrowser = await page.$eval('#range-browser [data-field="value"]', (e) => Number(e.dataset.value));
  assert.equal(shownBrowser, dragged.browser.value);
  await page.locator('#uniques').screenshot({ path: join(artifacts, 'panel-uniques-range.png') });
  assert.deepEqual(problems, []);
});

test('the edge-client switch makes the page send its own events, and the counts go up', async () => {
  const counter = async () => {
    const response = await fetch(`${base}/v1/counter?key=dashboard:interactions`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status === 404) return 0;
    assert.equal(response.status, 200);
    return (await response.json()).value;
  };
  assert.equal(await counter(), 0, 'no interactions before the switch');
  await page.click('#pause'); // live again, so the page shows the new keys
  await page.check('#edge-switch');
  for (let i = 0; i < 5; i++) await page.click('#edge-poke');
  await page.focus('#edge-poke');
  await page.keyboard.press('Shift');
  await page.keyboard.press('Shift');
  // 5 clicks and 2 key presses, each counted exactly once, sent by the page's own client.
  const deadline = Date.now() + 20_000;
  while ((await counter()) < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal(await counter(), 7);
  await until(() => document.querySelector('#counter-table tr[data-key="dashboard:interactions"] td')?.dataset.value === '7', null, 20_000);
  const top = await apiJson('/v1/topk?key=dashboard:targets&k=5');
  assert.deepEqual(top.guaranteed.map((h) => [h.item, h.lower]), [['edge/edge-poke', 5], ['edge/key', 2]]);
  const sessions = await apiJson('/v1/unique?key=dashboard:sessions');
  assert.equal(sessions.estimate.value, 1);
  // The client's own account (shown once a second) agrees.
  await until(() => Number(document.querySelector('#edge-stats [data-stat="Sent"]')?.textContent) >= 1, null, 5_000);
  const stats = await page.$$eval('#edge-stats dd', (all) => Object.fromEntries(all.map((d) => [d.dataset.stat, d.textContent])));
  assert.equal(stats['Interactions recorded'], '7');
  assert.equal(stats.Dropped, '0', JSON.stringify(stats));
  await page.uncheck('#edge-switch');
  await page.locator('#edge').screenshot({ path: join(artifacts, 'panel-edge.png') });
  await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
  assert.deepEqual(problems, []);
});

test('a tenant with many keys: each panel asks for the first 24 of a family and says so', async () => {
  const recorder = new (await pkg()).Recorder();
  for (let i = 0; i < 30; i++) recorder.increment(`many:${String(i).padStart(2, '0')}`, i + 1);
  const response = await fetch(`${base}/v1/ingest`, {
    method: 'POST', body: recorder.envelope(Date.now()), headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200, await response.text());
  const counters = (await apiJson('/v1/keys?prefix=&limit=1000')).keys.filter((k) => k.family === 'counter').length;
  assert.equal(counters, 34, 'dashboard:interactions, hidden:probe, lossy:events, orders:total and 30 new');
  await until(() => document.querySelectorAll('#counter-table tbody tr[data-key]').length === 24
    && /the first 24 of 34/.test(document.querySelector('#counter-table caption').textContent), null, 20_000);
  const first = await page.$eval('#counter-table tbody tr[data-key] td', (td) => td.dataset.api);
  assert.match(first, /key=dashboard%3Ainteractions/, 'the first by name');
  assert.deepEqual(problems, []);
});

test('more keys than the overview lists: every panel still finds its family, and the page says the list was cut', async () => {
  // 5,100 counters named before every other key: the overview's listing (the first 5,000 by name)
  // holds nothing else, and the panels used to show "nothing yet" for every other family.
  const { Recorder } = await pkg();
  for (let part = 0; part < 6; part++) {
    const recorder = new Recorder();
    for (let i = part * 1000; i < Math.min(5_100, (part + 1) * 1000); i++) recorder.increment(`0many:${String(i).padStart(5, '0')}`, 1);
    const response = await fetch(`${base}/v1/ingest`, {
      method: 'POST', body: recorder.envelope(Date.now()), headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 200, await response.text());
  }
  const quantileKeys = (await apiJson('/v1/keys?family=quantiles&limit=1000')).keys.length;
  assert.ok(quantileKeys > 0);
  await until((n) => /over the first 5,000 keys by name of/.test(document.querySelector('#families caption').textContent)
    && [...document.querySelectorAll('#quantile-table tbody tr')].filter((tr) => !tr.querySelector('.hint')).length === Math.min(24, n)
    && /the first 24 of 1,000\+/.test(document.querySelector('#counter-table caption').textContent)
    && /the first 500 of 5,000\+/.test(document.querySelector('#keys caption').textContent), quantileKeys, 60_000);
  assert.deepEqual(problems, []);
});

test('a counter past 2^53 shows every digit the server wrote', async () => {
  const { Recorder } = await pkg();
  const recorder = new Recorder();
  // 2 · (2^53 − 1) + 3 = 18,014,398,509,481,985; as a JS number it would be ...984.
  recorder.increment('00huge', Number.MAX_SAFE_INTEGER);
  recorder.increment('00huge', Number.MAX_SAFE_INTEGER);
  recorder.increment('00huge', 3);
  const response = await fetch(`${base}/v1/ingest`, {
    method: 'POST', body: recorder.envelope(Date.now()), headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200, await response.text());
  await until(() => {
    const cell = document.querySelector('#counter-table tbody tr[data-key="00huge"] td');
    return cell?.textContent === '18,014,398,509,481,985' && cell.dataset.value === '18014398509481985';
  }, null, 30_000);
  assert.deepEqual(problems, []);
});

test('accessible basics: every control is labelled, every table has a caption, text has contrast, the keyboard reaches the controls', async () => {
  const unlabelled = await page.$$eval('input, select, button', (all) => all
    .filter((e) => !e.closest('[hidden]'))
    .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.textContent.trim()))
    .map((e) => `${e.tagName} id=${e.id} type=${e.type} in ${e.parentElement?.className}`));
  assert.deepEqual(unlabelled, []);
  const uncaptioned = await page.$$eval('table', (all) => all
    .filter((t) => !(t.caption?.textContent.trim() || t.getAttribute('aria-label')))
    .map((t) => `${t.id || t.className} in ${t.closest('section')?.id}`));
  assert.deepEqual(uncaptioned, []);
  const charts = await page.$$eval('.chart', (all) => all.filter((c) => !(c.getAttribute('role') === 'img' && c.getAttribute('aria-label'))).length);
  assert.equal(charts, 0);
  // Text contrast (WCAG AA: 4.5:1, 3:1 for large text) against the background it sits on.
  const lowContrast = await page.evaluate(() => {
    const rgba = (c) => c.match(/[\d.]+/g).map(Number);
    const luminance = (rgb) => {
      const [r, g, b] = rgb.map((v) => {
        const x = v / 255;
        return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const backgroundOf = (e) => {
      for (let n = e; n; n = n.parentElement) {
        const c = rgba(getComputedStyle(n).backgroundColor);
        if (c.length < 4 || c[3] > 0.5) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const e = node.parentElement;
      if (!node.textContent.trim() || !e || e.closest('[hidden], script, :disabled') || e.getClientRects().length === 0) continue;
      const style = getComputedStyle(e);
      const [hi, lo] = [luminance(rgba(style.color).slice(0, 3)), luminance(backgroundOf(e))].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) found.push(`${e.tagName}.${e.className} "${node.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
    }
    return found;
  });
  assert.deepEqual(lowContrast, []);
  // From a fresh load, the keyboard reaches the skip link first (shown when focused), then Pause.
  await page.reload(); // (a goto of the same URL with a fragment would not load the page again)
  await until(() => window.__dashboard?.refreshes >= 1);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  const skip = await page.locator('.skip').boundingBox();
  assert.ok(skip.x >= 0 && skip.y >= 0, `the focused skip link is on screen: ${JSON.stringify(skip)}`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'pause');
  assert.deepEqual(problems, []);
});

test('without a token the page asks for one and says why', async () => {
  const bare = await browser.newPage();
  const errors = [];
  bare.on('pageerror', (e) => errors.push(e.message));
  await bare.goto(base + '/');
  await bare.waitForSelector('#connect:not([hidden])', { timeout: 15_000 });
  assert.match(await bare.textContent('#fatal'), /missing_token/);
  assert.deepEqual(errors, []);
  await bare.close();
});

// Last: it restarts the server without the page's token.
test('a token revoked while the page is open: the page asks for another instead of calling the server unreachable', async () => {
  const port = new URL(base).port;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  // The tenant keeps a token, but not the page's (no token hashes to zeros).
  const tenants = join(mkdtempSync(join(tmpdir(), 'edgesketch-tenants-')), 'tenants.toml');
  writeFileSync(tenants, `[[tenants]]\nname = "demo"\n[[tenants.tokens]]\nsha256 = "${'0'.repeat(64)}"\nscopes = ["read"]\n`);
  server = spawn(serverBin, ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--www-dir', www, '--tenants', tenants], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, EDGESKETCH_LOG: 'warn' },
  });
  // The event stream closes (refused, like a server that is down); the refresh that follows
  // learns why.
  await until(() => !document.querySelector('#connect').hidden
    && document.querySelector('#live-state').textContent === 'token refused', null, 60_000);
  assert.match(await page.textContent('#fatal'), /bad_token/);
});
