// The live dashboard: one tenant of a merge server, refreshed when the server announces changes
// (Server-Sent Events), paused while the tab is hidden. Every number shown records the API request
// and field it came from (data-api, data-path, data-value), so a test or a curious user can check
// the page against the API. Sketch work in the browser (merging a range of bucket sketches, the
// percentiles of each update, the edge-client switch) uses the npm package.
import * as es from 'edgesketch';
import {
  Api, ApiError, at, show, el, formatNumber, formatBytes, formatPercent, formatAgo,
} from './lib/api.js';
import { PALETTE, timeChart } from './lib/charts.js';
import { intervalQuantiles } from './lib/interval.js';
import { commonStep, pairByTime, ratesOnGrid } from './lib/steps.js';

const $ = (selector) => document.querySelector(selector);
/** Refreshes at most this often, however many changes the server announces. */
const MIN_REFRESH_MS = 1000;
/** Sliding windows move without new data: refresh this often while live anyway. */
const TICK_REFRESH_MS = 5000;
const HISTORY = 600;
const QS = [0.5, 0.9, 0.99];

const fragment = new URLSearchParams(location.hash.slice(1));
const api = new Api({ tenant: fragment.get('tenant') ?? '', token: fragment.get('token') ?? '' });

/** What tests and the console may look at. */
const state = {
  live: 'connecting',
  paused: false,
  /** A refresh is running. */
  busy: false,
  /** `changed` events received from the server. */
  events: 0,
  needsToken: false,
  refreshes: 0,
  lastUpdated: 0,
  lastRefreshMs: 0,
  nowMs: 0,
  nowAt: 0,
  charts: {},
  range: null,
  edge: null,
};
window.__dashboard = state;

const charts = state.charts;
// Charts that keep their own history (uPlot's columns: time in seconds, then one per series).
const ingestTrack = { columns: [[], []], last: null };
/** Bucket width of each window counter key seen, so its series is asked at a step it fills. */
const bucketOf = new Map();
const quantileTrack = { key: null, prev: null, columns: [[], [], [], []] };

// ---------------------------------------------------------------------------------------------
// Refreshing

/** A change was announced while a refresh ran: one more follows it. */
let dirty = false;
let pending = null;
let lastStart = 0;

/** Asks for a refresh soon (coalesced; at most one per MIN_REFRESH_MS). */
function scheduleRefresh() {
  if (state.paused || document.hidden || state.needsToken) return;
  if (state.busy) {
    dirty = true;
    return;
  }
  if (pending) return;
  const wait = Math.max(0, lastStart + MIN_REFRESH_MS - performance.now());
  pending = setTimeout(() => {
    pending = null;
    refresh();
  }, wait);
}

async function refresh() {
  if (state.busy) {
    dirty = true;
    return;
  }
  state.busy = true;
  lastStart = performance.now();
  try {
    const tenant = await api.json('/v1/tenant');
    state.nowMs = tenant.json.now_ms;
    state.nowAt = performance.now();
    $('#tenant-name').textContent = `tenant ${tenant.json.tenant}`;
    const listing = await listKeys();
    const ctx = { tenant, now: state.nowMs, keys: listing.keys, complete: listing.complete, familyKeys: familyLister(listing) };
    await Promise.all([
      panel('overview', () => overview(ctx)),
      panel('uniques', () => uniques(ctx)),
      panel('windows', () => windows(ctx)),
      panel('rankings', () => rankings(ctx)),
      panel('quantiles', () => quantiles(ctx)),
      panel('counters', () => counters(ctx)),
    ]);
    state.refreshes += 1;
    state.lastUpdated = Date.now();
    state.lastRefreshMs = performance.now() - lastStart;
    document.body.dataset.refreshes = String(state.refreshes);
    showLastUpdated();
    state.edge?.client.addQuantile('dashboard:refresh_ms', state.lastRefreshMs);
    hideFatal();
    // A failed refresh said "unreachable"; the stream may have stayed open all along.
    if (source?.readyState === EventSource.OPEN && state.live !== 'live') setLive('live');
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      askForToken(e.message);
    } else {
      fatal(`Cannot refresh: ${e.message}`);
    }
    if (e instanceof ApiError && e.status === 0 && !state.paused && !document.hidden) setLive('offline');
  } finally {
    state.busy = false;
    if (dirty) {
      dirty = false;
      scheduleRefresh();
    }
  }
}

/** Runs one panel's update; its error shows in the panel and does not stop the others. */
async function panel(id, update) {
  const section = document.getElementById(id);
  const alert = section.querySelector(':scope > .error');
  try {
    await update();
    setAlert(alert, '');
    section.dataset.state = 'ready';
  } catch (e) {
    setAlert(alert, e.message);
    section.dataset.state = 'error';
    console.warn(`panel ${id}:`, e);
  }
}

/** Most keys listed each refresh (for the overview), by name. */
const MAX_KEYS_LISTED = 5000;

/** The tenant's keys (the first MAX_KEYS_LISTED by name) with family, size and last update. */
async function listKeys() {
  const keys = [];
  let after;
  do {
    const page = await api.json('/v1/keys', { limit: 1000, after });
    keys.push(...page.json.keys);
    after = page.json.next ?? undefined;
  } while (after !== undefined && keys.length < MAX_KEYS_LISTED);
  return { keys, complete: after === undefined };
}

const ofFamily = (keys, family) => keys.filter((k) => k.family === family).map((k) => k.key);

/**
 * A family's keys by name: from the listing when it holds every key, else asked by family (the
 * first 1000; `more` set if there are others), so that a tenant's many keys of one family never
 * hide the others.
 */
function familyLister(listing) {
  const asked = new Map();
  return (family) => {
    if (listing.complete) return Promise.resolve(ofFamily(listing.keys, family));
    if (!asked.has(family)) {
      asked.set(family, api.json('/v1/keys', { family, limit: 1000 }).then((page) => {
        const names = page.json.keys.map((k) => k.key);
        names.more = page.json.next != null;
        return names;
      }));
    }
    return asked.get(family);
  };
}

/** At most this many keys of a family get their own requests each refresh (the first by name). */
const MAX_KEYS_SHOWN = 24;

/** The first MAX_KEYS_SHOWN of `list`; the caption of `selector` says when there are more. */
function capped(list, selector, max = MAX_KEYS_SHOWN) {
  const caption = document.querySelector(`${selector} caption`) ?? document.querySelector(selector);
  let note = caption.querySelector('.more');
  if (!note) {
    note = el('span', '', { class: 'more' });
    caption.append(note);
  }
  const total = `${formatNumber(list.length)}${list.more ? '+' : ''}`;
  note.textContent = list.length > max || list.more ? ` (the first ${Math.min(max, list.length)} of ${total})` : '';
  return list.slice(0, max);
}

/**
 * The buckets of the last `width` ms: those starting in (now − width, now], as `from`/`to`
 * (buckets starting in [from, to)) fixed in the request, so it asks the same thing later too.
 */
const lastMs = (now, width) => ({ from: now - width + 1, to: now + 1 });

/** The server's clock now (its last answer plus the time since), so ranges never use ours. */
function serverNow() {
  if (!state.nowMs) return Date.now(); // (before the server's first answer)
  return Math.round(state.nowMs + (performance.now() - state.nowAt));
}

// ---------------------------------------------------------------------------------------------
// Overview

async function overview({ tenant, now, keys, complete }) {
  const [ready, drift] = await Promise.all([
    fetch('/readyz', { cache: 'no-store' }).then(async (r) => ({ ok: r.ok, text: (await r.text()).trim() }))
      .catch((e) => ({ ok: false, text: e.message })),
    api.json('/v1/drift'),
  ]);
  const health = $('#health');
  health.textContent = ready.ok ? 'ready' : `not ready: ${ready.text}`;
  health.dataset.ok = String(ready.ok);

  show($('#tenant-keys'), tenant, 'keys');
  $('#tenant-max-keys').textContent = ` of ${formatNumber(tenant.json.max_keys)}`;
  show($('#tenant-bytes'), tenant, 'bytes', formatBytes);
  $('#tenant-max-bytes').textContent = ` of ${formatBytes(tenant.json.max_bytes)}`;
  show($('#drift-applied'), drift, 'applied_envelopes');
  show($('#drift-missing'), drift, 'missing_envelopes');
  $('#drift-fraction').textContent = `(${formatPercent(drift.json.missing_fraction)})`;
  show($('#drift-senders'), drift, 'senders');
  $('#drift-grace').textContent = `${drift.json.grace_ms / 1000} s`;
  fillRows('#drift-prefixes', drift.json.prefixes.map((p, i) => [
    el('th', p.prefix, { scope: 'row' }),
    num(drift, `prefixes.${i}.senders`),
    num(drift, `prefixes.${i}.applied_envelopes`),
    num(drift, `prefixes.${i}.missing_envelopes`, (v) => `${formatNumber(v)} (${formatPercent(p.missing_fraction)})`),
  ]));

  fillRows('#drift-gaps', drift.json.gaps.slice(0, 10).map((g, i) => [
    text(drift, `gaps.${i}.replica`, (r) => `${r.slice(0, 8)}…`),
    el('td', formatNumber(g.to - g.from), { class: 'num' }),
    el('td', g.to - g.from === 1 ? `${g.from}` : `${g.from}–${g.to - 1}`, { class: 'num' }),
    el('td', formatAgo(now - g.opened_ms), { class: 'num' }),
  ]), 'none: every envelope the senders made has arrived');
  capped(drift.json.gaps, '#drift-gaps', 10);

  // Envelopes per second, from the tenant's count of applied envelopes (senders that went idle
  // past the ledger's expiry leave that count, so a drop is not a negative rate).
  const applied = drift.json.applied_envelopes;
  const last = ingestTrack.last;
  if (last && now > last.now) {
    appendRow(ingestTrack.columns, [now / 1000, Math.max(0, applied - last.applied) / ((now - last.now) / 1000)]);
    charts.ingest.setData(ingestTrack.columns);
  }
  ingestTrack.last = { applied, now };

  const families = new Map();
  for (const k of keys) {
    const f = families.get(k.family) ?? { keys: 0, bytes: 0 };
    f.keys += 1;
    f.bytes += k.bytes;
    families.set(k.family, f);
  }
  fillRows('#families', [...families].sort().map(([family, f]) => {
    const row = [el('th', family, { scope: 'row' }), el('td', formatNumber(f.keys), { class: 'num', 'data-count': f.keys }),
      el('td', formatBytes(f.bytes), { class: 'num', 'data-bytes': f.bytes })];
    row.family = family;
    return row;
  }));
  // Counted over the listed keys: say so when that is not all of them.
  const familiesNote = $('#families-note');
  familiesNote.textContent = complete ? '' : ` (over the first ${formatNumber(keys.length)} keys by name of ${formatNumber(tenant.json.keys)})`;
  const listedKeys = Object.assign([...keys], { more: !complete });
  fillRows('#keys', capped(listedKeys, '#keys', 500).map((k) => [
    (() => {
      const cell = el('td');
      cell.append(el('button', k.key, { type: 'button', class: 'link', 'data-key': k.key, 'data-family': k.family }));
      return cell;
    })(),
    el('td', k.family), el('td', formatBytes(k.bytes), { class: 'num' }),
    el('td', formatAgo(now - k.updated_ms), { class: 'num' }),
  ]));
}

/** The points from just before the first one that passes `has` (at least 12 points kept). */
function sinceFirst(points, has) {
  const first = points.findIndex(has);
  return first > 0 ? points.slice(Math.max(0, Math.min(first - 1, points.length - 12))) : points;
}

/** Adds one point to chart columns, keeping the last HISTORY. */
function appendRow(columns, row) {
  columns.forEach((column, i) => {
    column.push(row[i]);
    if (column.length > HISTORY) column.shift();
  });
}

// ---------------------------------------------------------------------------------------------
// One key: its summary, and its bytes to download

async function showKey(key, family) {
  const dialog = $('#key-details');
  const alert = dialog.querySelector('.error');
  $('#key-details-title').textContent = `${key} (${family})`;
  $('#key-summary').textContent = 'loading…';
  $('#download-redis').hidden = family !== 'hyperloglog';
  dialog.dataset.key = key;
  setAlert(alert, '');
  if (!dialog.open) dialog.showModal();
  try {
    const summary = await api.json('/v1/sketch', { key });
    if (dialog.dataset.key !== key) return;
    $('#key-summary').textContent = JSON.stringify(summary.json, null, 2);
    $('#key-summary').dataset.api = summary.path;
  } catch (e) {
    setAlert(alert, e.message);
  }
}

/** Saves the key's bytes from /v1/raw (a fetch with the token, then a file for the browser). */
async function downloadKey(format) {
  const dialog = $('#key-details');
  const key = dialog.dataset.key;
  try {
    const bytes = await api.bytes(format === 'redis' ? { key, format } : { key });
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const link = el('a', '', { href: url, download: `${key.replace(/[^A-Za-z0-9._-]+/g, '_')}.${format === 'redis' ? 'redis' : 'sketch'}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    setAlert(dialog.querySelector('.error'), `Download failed: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Uniques

async function uniques({ now, familyKeys }) {
  const [seriesKeys, hllKeys] = await Promise.all([familyKeys('unique_series'), familyKeys('hyperloglog')]);
  const key = fillSelect($('#unique-key'), seriesKeys);
  const hlls = capped(hllKeys, '#hll-keys');
  const hllAnswers = await Promise.all(hlls.map((k) => api.json('/v1/unique', { key: k })));
  fillRows('#hll-keys', hllAnswers.map((a) => [
    el('th', a.json.keys[0], { scope: 'row' }),
    num(a, 'estimate.value', (v) => formatNumber(Math.round(v))),
    boundsCell(a, 'estimate'),
  ]));
  if (!key) {
    charts.uniques.setData([[], [], [], []]);
    return;
  }
  const [series, minute, hour] = await Promise.all([
    api.json('/v1/unique/series', { key, from: now - 3_600_000, to: now + 1 }),
    api.json('/v1/unique', { key, ...lastMs(now, 60_000) }),
    api.json('/v1/unique', { key, ...lastMs(now, 3_600_000) }),
  ]);
  for (const [id, answer] of [['minute', minute], ['hour', hour]]) {
    show(document.getElementById(`unique-${id}`), answer, 'estimate.value', (v) => formatNumber(Math.round(v)));
    const e = answer.json.estimate;
    document.getElementById(`unique-${id}-bound`).textContent = e.exact ? '(exact)' : `± ${formatNumber(Math.round((e.upper - e.lower) / 2))}`;
  }
  // Complete steps only (the open one would draw as a dip), from shortly before the first step
  // with data (a young series fills the chart).
  const points = sinceFirst(series.json.points.filter((p) => p.t + series.json.step_ms <= now), (p) => p.buckets > 0);
  charts.uniques.setData([
    points.map((p) => p.t / 1000),
    points.map((p) => p.estimate.value),
    points.map((p) => p.estimate.lower),
    points.map((p) => p.estimate.upper),
  ]);
  charts.uniques.root.dataset.api = series.path;
  charts.uniques.root.dataset.points = String(points.length);
}

let mergeSeq = 0;

/**
 * The distinct count of `key` over the buckets starting in [from, to), merged twice: here, from
 * the raw bucket sketches (the whole series, fetched as bytes and merged by the package), and by
 * the server. A newer merge started meanwhile wins.
 */
async function mergeRange(key, from, to) {
  const seq = ++mergeSeq;
  const verdict = $('#range-verdict');
  verdict.textContent = 'merging…';
  delete verdict.dataset.match;
  let browser;
  let server;
  // Traffic arriving between the two requests can change an open bucket: ask again (3 times).
  for (let attempt = 0; attempt < 3; attempt++) {
    const [bytes, answer] = await Promise.all([
      api.bytes({ key }),
      api.json('/v1/unique', { key, from, to }),
    ]);
    server = answer;
    const sketch = es.UniqueSeries.fromBytes(bytes);
    try {
      const merged = sketch.merged(from, to);
      try {
        const covered = sketch.unique(from, to);
        browser = {
          estimate: merged.estimate(), buckets: covered.buckets, bytes: bytes.length,
          fromMs: covered.fromMs, toMs: covered.toMs,
        };
      } finally {
        merged.free();
      }
    } finally {
      sketch.free();
    }
    if (sameEstimate(browser.estimate, server.json.estimate)) break;
  }
  if (seq !== mergeSeq) return;
  // The buckets merged, which may reach past the range typed (whole buckets only).
  const label = `${new Date(browser.fromMs).toLocaleString()} – ${new Date(browser.toMs).toLocaleString()}`;
  $('#range-label').textContent = `${key}, ${label}`;
  const browserRow = $('#range-browser');
  const cells = (row) => Object.fromEntries([...row.querySelectorAll('[data-field]')].map((c) => [c.dataset.field, c]));
  const b = cells(browserRow);
  b.value.textContent = formatNumber(Math.round(browser.estimate.value));
  b.value.dataset.value = JSON.stringify(browser.estimate.value);
  b.bounds.textContent = `${formatNumber(Math.round(browser.estimate.lower))} – ${formatNumber(Math.round(browser.estimate.upper))}`;
  b.bounds.dataset.lower = JSON.stringify(browser.estimate.lower);
  b.bounds.dataset.upper = JSON.stringify(browser.estimate.upper);
  b.detail.textContent = `${browser.buckets} bucket${browser.buckets === 1 ? '' : 's'} from ${formatBytes(browser.bytes)}`;
  const s = cells($('#range-server'));
  show(s.value, server, 'estimate.value', (v) => formatNumber(Math.round(v)));
  s.bounds.textContent = `${formatNumber(Math.round(server.json.estimate.lower))} – ${formatNumber(Math.round(server.json.estimate.upper))}`;
  s.detail.textContent = `p=${server.json.precision}`;
  const match = sameEstimate(browser.estimate, server.json.estimate);
  verdict.dataset.match = String(match);
  verdict.textContent = match
    ? `Same answer: the browser's merge of ${browser.buckets} bucket sketch${browser.buckets === 1 ? '' : 'es'} equals the server's.`
    : `The two merges differ by ${formatNumber(Math.abs(browser.estimate.value - server.json.estimate.value))} (new data arrived between the two requests, or a bug).`;
  state.range = { key, from, to, browser: browser.estimate, server: server.json.estimate, serverPath: server.path, match };
}

function sameEstimate(a, b) {
  return Math.abs(a.value - b.value) <= 1e-9 * Math.max(1, Math.abs(b.value));
}

/** A datetime-local value (local time, seconds) for ms since the epoch, and back. */
const toLocalInput = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
const fromLocalInput = (text) => new Date(text).getTime();

function setRange(from, to) {
  $('#range-from').value = toLocalInput(from);
  $('#range-to').value = toLocalInput(to);
}

function mergeFromInputs() {
  const key = $('#unique-key').value;
  const from = fromLocalInput($('#range-from').value);
  const to = fromLocalInput($('#range-to').value);
  const alert = $('#range-error');
  if (!key || !Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
    setAlert(alert, key ? 'Pick a range whose end is after its start.' : 'No unique series to merge yet.');
    return;
  }
  setAlert(alert, '');
  mergeRange(key, from, to).catch((e) => {
    setAlert(alert, `Merging the range failed: ${e.message}`);
    $('#range-verdict').textContent = '';
  });
}

// ---------------------------------------------------------------------------------------------
// Window counters

const SERVICE = /^(.+):(requests|errors)$/;
const MIN_RATE_REQUESTS = 20;

async function windows({ now, familyKeys }) {
  const windowKeys = await familyKeys('window_counter');
  const services = new Map();
  const others = [];
  for (const key of windowKeys) {
    const m = SERVICE.exec(key);
    if (m) {
      const s = services.get(m[1]) ?? {};
      s[m[2]] = key;
      services.set(m[1], s);
    } else {
      others.push(key);
    }
  }
  const width = Number(document.querySelector('input[name="window"]:checked').value);
  const windowName = width === 60_000 ? 'last minute' : 'last hour';
  $('#window-label').textContent = windowName;
  for (const label of document.querySelectorAll('.window-name')) label.textContent = windowName;
  const range = lastMs(now, width);
  const names = capped([...services.keys()].sort(), '#services', PALETTE.length);
  const totals = await Promise.all(names.map(async (name) => {
    const s = services.get(name);
    const [requests, errors] = await Promise.all([
      s.requests ? api.json('/v1/window', { key: s.requests, ...range }) : null,
      s.errors ? api.json('/v1/window', { key: s.errors, ...range }) : null,
    ]);
    return { name, requests, errors };
  }));
  fillRows('#services', totals.map(({ name, requests, errors }) => {
    const r = requests?.json.range.stats.sum ?? 0;
    const e = errors?.json.range.stats.sum ?? 0;
    return [
      el('th', name, { scope: 'row' }),
      requests ? num(requests, 'range.stats.sum') : el('td', '–', { class: 'num' }),
      el('td', formatNumber(r / (width / 1000)), { class: 'num' }),
      errors ? num(errors, 'range.stats.sum') : el('td', '–', { class: 'num' }),
      el('td', r > 0 ? formatPercent(e / r) : '–', { class: 'num', 'data-rate': r > 0 ? e / r : '' }),
    ];
  }));

  // Keys may have other bucket widths: each series is asked at a step of at least its key's bucket
  // (learned from earlier answers, asked again once if a bucket turns out wider), from a start
  // aligned to that step, and the points are put on one grid by time, not by position.
  const series = async (key, wanted, from, to) => {
    const ask = (step) => api.json('/v1/window/series', { key, from: Math.floor(from / step) * step, to, step });
    let answer = await ask(commonStep(wanted, bucketOf.get(key) ?? 0));
    bucketOf.set(key, answer.json.bucket_ms);
    if (answer.json.bucket_ms > answer.json.step_ms) answer = await ask(answer.json.bucket_ms);
    return answer;
  };
  // Complete seconds only: the open second (or a wider bucket still filling) would draw as a dip.
  const secondsTo = Math.floor(now / 1000) * 1000;
  const xsMs = [];
  for (let t = secondsTo - 120_000; t < secondsTo; t += 1000) xsMs.push(t);
  const [requestSeries, rateSeries] = await Promise.all([
    Promise.all(names.map((n) => (services.get(n).requests
      ? series(services.get(n).requests, 1000, xsMs[0], secondsTo).then((a) => ratesOnGrid(a.json, xsMs, 1000, now + 1))
      : null))),
    Promise.all(names.map(async (n) => {
      const s = services.get(n);
      if (!s.requests || !s.errors) return null;
      // A ratio has no dip in the open step: it is shown too. Both at one step, the wider bucket.
      const step = commonStep(10_000, bucketOf.get(s.requests) ?? 0, bucketOf.get(s.errors) ?? 0);
      let [r, e] = await Promise.all([
        series(s.requests, step, now - 600_000, now + 1),
        series(s.errors, step, now - 600_000, now + 1),
      ]);
      if (r.json.step_ms !== e.json.step_ms) {
        const wider = commonStep(r.json.step_ms, e.json.step_ms);
        [r, e] = await Promise.all([
          series(s.requests, wider, now - 600_000, now + 1),
          series(s.errors, wider, now - 600_000, now + 1),
        ]);
      }
      return pairByTime(r.json, e.json).map(([t, requests, errs]) =>
        // A rate of a handful of requests says little: steps with fewer are not drawn.
        [t / 1000, requests >= MIN_RATE_REQUESTS ? (100 * errs) / requests : null]);
    })),
  ]);
  ensureServiceCharts(names);
  const xs = xsMs.map((t) => t / 1000);
  const perService = requestSeries.map((s) => s ?? xs.map(() => null));
  const total = xs.map((_, i) => perService.reduce((sum, s) => sum + (s[i] ?? 0), 0));
  // From shortly before the first second with requests (at least 30 s shown).
  const firstSecond = total.findIndex((v) => v > 0);
  const from = firstSecond > 0 ? Math.max(0, Math.min(firstSecond - 1, xs.length - 30)) : 0;
  charts.requests.setData([xs, total, ...perService].map((column) => column.slice(from)));
  // Services whose steps differ (other bucket widths) are drawn on the union of their times, from
  // shortly before the first step with a rate.
  const rx = [...new Set(rateSeries.flatMap((s) => (s ? s.map((p) => p[0]) : [])))].sort((a, b) => a - b);
  const byTime = rateSeries.map((s) => new Map((s ?? []).map(([t, v]) => [t, v])));
  const firstDrawn = rx.findIndex((t) => byTime.some((m) => m.get(t) != null));
  const shown = firstDrawn > 0 ? rx.slice(firstDrawn - 1) : rx;
  charts.errors.setData([shown, ...byTime.map((m) => shown.map((t) => m.get(t) ?? null))]);

  const otherAnswers = await Promise.all(capped(others, '#other-windows').map((key) => api.json('/v1/window', { key, ...range })));
  fillRows('#other-windows', otherAnswers.map((a) => [
    el('th', a.json.key, { scope: 'row' }), num(a, 'range.stats.sum'), num(a, 'range.stats.count'),
  ]));
}

/** The two service charts get one series per service; rebuilt when the services change. */
function ensureServiceCharts(names) {
  const signature = names.join('\n');
  if (charts.requests && charts.requests.services === signature) return;
  for (const [id, name, yLabel] of [['requests', 'chart-requests', 'requests/s'], ['errors', 'chart-errors', 'error %']]) {
    charts[id]?.destroy();
    const perService = names.map((n, i) => ({
      label: n,
      stroke: PALETTE[i % PALETTE.length],
      format: id === 'errors' ? (v) => `${v.toFixed(2)}%` : undefined,
      stepped: id === 'requests',
    }));
    charts[id] = timeChart(document.getElementById(name), {
      // Requests: a bar per one-second bucket for all services, each service's line over it.
      series: id === 'requests'
        ? [{ label: 'all', bars: true, stroke: '#6b7280', fill: 'rgba(107, 114, 128, 0.35)', width: 1 }, ...perService]
        : perService,
      yLabel,
      points: id === 'errors',
    });
    charts[id].services = signature;
  }
}

// ---------------------------------------------------------------------------------------------
// Leaderboards, top-K, count-min

async function rankings({ familyKeys }) {
  const [allBoards, allTops, countMins] = await Promise.all(['leaderboard', 'top_k', 'count_min'].map(familyKeys));
  const half = MAX_KEYS_SHOWN / 2;
  const boards = allBoards.slice(0, half);
  const tops = allTops.slice(0, half);
  capped([], '#rankings-title'); // (makes the note; empty)
  if (allTops.length > half || allBoards.length > half) {
    $('#rankings-title .more').textContent =
      ` (the first ${half} of ${allBoards.length} leaderboards and of ${allTops.length} top lists)`;
  }
  const [boardAnswers, topAnswers] = await Promise.all([
    Promise.all(boards.map((key) => api.json('/v1/leaderboard', { key, start: 0, stop: 9 }))),
    Promise.all(tops.map((key) => api.json('/v1/topk', { key, k: 10 }))),
  ]);
  const tables = [];
  for (const a of boardAnswers) {
    const j = a.json;
    const caption = `${j.key}: leaderboard (${j.rule}, ${formatNumber(j.members)} members${j.exact ? '' : `, scores missing up to ${formatNumber(j.missing_bound)}`})`;
    tables.push(table(caption, [['Rank', 'num'], ['Member', ''], ['Score', 'num']], j.range.map((m, i) => [
      num(a, `range.${i}.rank`, (r) => String(r + 1)),
      text(a, `range.${i}.member`),
      num(a, `range.${i}.score`),
    ]), { 'data-key': j.key, 'data-family': 'leaderboard' }));
  }
  for (const a of topAnswers) {
    const j = a.json;
    const rows = [
      ...j.guaranteed.map((_, i) => topRow(a, 'guaranteed', i)),
      ...j.possible.map((_, i) => topRow(a, 'possible', i)),
    ];
    const caption = `${j.key}: top ${rows.length} of ${formatNumber(j.total)} counted (untracked items: at most ${formatNumber(j.floor)} each)`;
    tables.push(table(caption, [['Item', ''], ['Count', 'num'], ['Bounds', 'num']], rows, { 'data-key': j.key, 'data-family': 'top_k' }));
  }
  $('#rankings-tables').replaceChildren(...tables.map((t) => {
    const wrap = el('div');
    wrap.append(t);
    return wrap;
  }));
  if (tables.length === 0) $('#rankings-tables').append(el('p', 'No leaderboards or top lists yet.', { class: 'hint' }));
  fillSelect($('#countmin-key'), countMins);
}

/** An item of a top-K answer: its count (the upper bound) and bounds; "possible" ones marked. */
function topRow(a, list, i) {
  const item = a.json[list][i];
  const name = text(a, `${list}.${i}.item`);
  name.classList.add('item');
  if (list === 'possible') {
    name.append(' ', el('span', 'possible', { class: 'badge possible', title: 'may be in the top list: its bounds overlap the last guaranteed item' }));
  }
  return [
    name,
    num(a, `${list}.${i}.upper`),
    el('td', `${formatNumber(item.lower)} – ${formatNumber(item.upper)}`, { class: 'num bounds', 'data-lower': item.lower }),
  ];
}

async function countMinLookup() {
  const key = $('#countmin-key').value;
  const item = $('#countmin-item').value;
  const out = $('#countmin-result');
  if (!key || !item) return;
  try {
    const a = await api.json('/v1/countmin', { key, item });
    out.replaceChildren();
    const value = el('span');
    show(value, a, 'items.0.estimate');
    out.append(`${item}: `, value,
      ` (between ${formatNumber(a.json.items[0].lower)} and ${formatNumber(a.json.items[0].upper)}; ` +
      `ε = ${formatNumber(a.json.epsilon)}, δ = ${formatNumber(a.json.delta)})`);
  } catch (e) {
    out.textContent = e.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Quantiles

async function quantiles({ now, familyKeys }) {
  const qkeys = await familyKeys('quantiles');
  const listed = capped(qkeys, '#quantile-table');
  const key = fillSelect($('#quantile-key'), qkeys);
  const asked = key && !listed.includes(key) ? [...listed, key] : listed;
  const answers = await Promise.all(asked.map((k) => api.json('/v1/quantiles', { key: k, q: QS })));
  fillRows('#quantile-table', answers.slice(0, listed.length).map((a) => [
    el('th', a.json.key, { scope: 'row' }),
    num(a, 'count'),
    ...QS.map((_, i) => num(a, `quantiles.${i}.value`)),
    num(a, 'alpha'),
  ]));
  if (!key) return;
  if (quantileTrack.key !== key) {
    quantileTrack.prev?.free();
    Object.assign(quantileTrack, { key, prev: null, columns: [[], [], [], []] });
  }
  const next = es.Quantiles.fromBytes(await api.bytes({ key }));
  const alpha = answers[asked.indexOf(key)].json.alpha;
  const prev = quantileTrack.prev;
  // The first snapshot is the baseline; each later one adds a point for what arrived since.
  let values;
  try {
    values = prev ? intervalQuantiles(prev, next, QS, alpha) : null;
  } catch (e) {
    next.free();
    throw e;
  }
  if (values) {
    appendRow(quantileTrack.columns, [now / 1000, ...values]);
  }
  if (!prev || values || Number(next.count) < Number(prev.count)) {
    prev?.free();
    quantileTrack.prev = next;
  } else {
    next.free();
  }
  charts.quantiles.setData(quantileTrack.columns);
}

// ---------------------------------------------------------------------------------------------
// Counters

async function counters({ familyKeys }) {
  const listed = capped(await familyKeys('counter'), '#counter-table');
  const answers = await Promise.all(listed.map((key) => api.json('/v1/counter', { key })));
  fillRows('#counter-table', answers.map((a) => {
    const row = [el('th', a.json.key, { scope: 'row' }), num(a, 'value'), num(a, 'increments'), num(a, 'decrements')];
    row.key = a.json.key;
    return row;
  }));
}

// ---------------------------------------------------------------------------------------------
// The edge-client switch: this page records its user's interactions and sends envelopes.

const session = crypto.randomUUID();

function edgeRecord(event) {
  const edge = state.edge;
  // The switch itself is not an interaction with the data.
  if (!edge || event.target.id === 'edge-switch') return;
  const section = event.target.closest?.('section')?.id ?? 'page';
  const target = `${section}/${event.type === 'keydown' ? 'key' : (event.target.id || event.target.tagName.toLowerCase())}`;
  edge.client.increment('dashboard:interactions');
  edge.client.addWindow('dashboard:clicks', 1);
  edge.client.addUniqueSeries('dashboard:sessions', session);
  edge.client.addTopK('dashboard:targets', target);
  edge.recorded += 1;
  showEdgeStats();
}

function setEdge(on) {
  if (on && !state.edge) {
    const client = es.createClient({
      endpoint: `${location.origin}/v1/ingest`,
      token: api.token,
      flushIntervalMs: 1000,
      maxAgeMs: 1000,
    });
    state.edge = { client, recorded: 0, timer: setInterval(showEdgeStats, 1000) };
    document.addEventListener('click', edgeRecord, true);
    document.addEventListener('keydown', edgeRecord, true);
  } else if (!on && state.edge) {
    const { client, timer, recorded } = state.edge;
    state.edge = null;
    document.removeEventListener('click', edgeRecord, true);
    document.removeEventListener('keydown', edgeRecord, true);
    clearInterval(timer);
    // Closing sends what is left; the stats shown are the client's last.
    client.close().then(() => {
      lastEdgeStats = { recorded, ...client.stats() };
      showEdgeStats();
    }, (e) => console.warn('closing the edge client:', e)).finally(() => client.recorder.free());
  }
  $('#edge-poke').disabled = !on;
  showEdgeStats();
}

let lastEdgeStats = null;
function showEdgeStats() {
  const stats = state.edge ? { recorded: state.edge.recorded, ...state.edge.client.stats() } : lastEdgeStats;
  if (!stats) return;
  lastEdgeStats = stats;
  const rows = [
    ['Interactions recorded', stats.recorded], ['Envelopes made', stats.envelopes], ['Sent', stats.sent],
    ['Retried', stats.retried], ['Queued', stats.queued], ['Dropped', stats.dropped + stats.rejected + stats.tooLarge],
  ];
  const list = $('#edge-stats');
  list.replaceChildren(...rows.flatMap(([label, value]) => {
    const wrap = el('div', undefined, { class: 'stat' });
    wrap.append(el('dt', label), el('dd', formatNumber(value), { 'data-stat': label }));
    return [wrap];
  }));
  const alert = $('#edge > .error');
  alert.hidden = !stats.lastError;
  alert.textContent = stats.lastError ? `Last send failed: ${stats.lastError.message}` : '';
}

// ---------------------------------------------------------------------------------------------
// Live updates: SSE while visible and not paused.

let source = null;
let ticker = null;

function setLive(value) {
  state.live = value;
  const pill = $('#live-state');
  pill.dataset.state = value;
  const text = {
    live: 'live', connecting: 'connecting', reconnecting: 'reconnecting', offline: 'server unreachable',
    paused: 'paused', hidden: 'paused (tab hidden)', 'needs-token': 'token refused',
  }[value] ?? value;
  // A live region: the same text set again may be announced again.
  if (pill.textContent !== text) pill.textContent = text;
}

function connectLive() {
  if (source || state.paused || document.hidden || state.needsToken) return;
  // While the server stays unreachable the pill says so until it answers, rather than switching
  // between states every few seconds (it is a live region: each switch is announced).
  if (state.live !== 'offline') setLive('connecting');
  source = new EventSource(api.eventsUrl());
  source.addEventListener('open', () => {
    setLive('live');
    scheduleRefresh();
  });
  source.addEventListener('changed', () => {
    state.events += 1;
    scheduleRefresh();
  });
  source.addEventListener('lagged', scheduleRefresh);
  source.addEventListener('error', () => {
    if (source?.readyState === EventSource.CLOSED) {
      disconnectLive('offline');
      // EventSource does not say why it closed: a refresh tells a refused token (it asks for
      // another) from a server that is down. Without it, a token revoked while the page was open
      // left it "unreachable" for good.
      scheduleRefresh();
      setTimeout(connectLive, TICK_REFRESH_MS);
    } else if (state.live !== 'offline') {
      setLive('reconnecting');
    }
  });
  ticker = setInterval(scheduleRefresh, TICK_REFRESH_MS);
}

function disconnectLive(reason) {
  source?.close();
  source = null;
  clearInterval(ticker);
  ticker = null;
  clearTimeout(pending);
  pending = null;
  setLive(reason);
}

function showLastUpdated() {
  const time = $('#last-updated');
  if (!state.lastUpdated) return;
  const at = new Date(state.lastUpdated);
  time.dateTime = at.toISOString();
  time.textContent = `${at.toLocaleTimeString()} (${formatAgo(Date.now() - state.lastUpdated)})`;
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

/** A numeric cell showing `field` of an API answer, linked to it. */
function num(source, field, format) {
  const cell = el('td', undefined, { class: 'num' });
  show(cell, source, field, format);
  return cell;
}

/** Text of a member or item: a string, or `{ hex }` for bytes that are not UTF-8. */
const itemText = (v) => (typeof v === 'object' && v !== null && 'hex' in v ? `0x${v.hex}` : String(v));

function text(source, field, format = itemText) {
  const cell = el('td');
  show(cell, source, field, format);
  return cell;
}

function boundsCell(source, field) {
  const e = at(source.json, field);
  return el('td', `${formatNumber(Math.round(e.lower))} – ${formatNumber(Math.round(e.upper))}`, { class: 'num bounds' });
}

/** Replaces a table's body rows (arrays of cells); `empty` is said when there are none. */
function fillRows(selector, rows, empty = 'nothing yet') {
  const body = $(`${selector} tbody`);
  body.replaceChildren(...rows.map((cells) => {
    const tr = el('tr');
    if (cells.family) tr.dataset.family = cells.family;
    if (cells.key) tr.dataset.key = cells.key;
    tr.append(...cells);
    return tr;
  }));
  if (rows.length === 0) {
    const columns = $(`${selector} thead tr`).children.length;
    body.append(el('tr'));
    body.lastChild.append(el('td', empty, { colspan: columns, class: 'hint' }));
  }
}

/** A table: `headers` are `[title, class]` (`num` right-aligns). */
function table(caption, headers, rows, attrs) {
  const t = el('table', undefined, attrs);
  t.append(el('caption', caption));
  const head = el('thead');
  const hr = el('tr');
  hr.append(...headers.map(([h, kind]) => el('th', h, { scope: 'col', class: kind })));
  head.append(hr);
  const body = el('tbody');
  body.append(...rows.map((cells) => {
    const tr = el('tr');
    tr.append(...cells);
    return tr;
  }));
  t.append(head, body);
  return t;
}

/** Fills a select with keys, keeping the user's choice; returns the selected key. */
function fillSelect(select, keys) {
  const current = select.value;
  if ([...select.options].map((o) => o.value).join('\n') !== keys.join('\n')) {
    select.replaceChildren(...keys.map((k) => el('option', k, { value: k })));
    if (keys.includes(current)) select.value = current;
  }
  select.disabled = keys.length === 0;
  return select.value || null;
}

/** Shows (or hides, for '') an alert; unchanged text is not set again, so not announced again. */
function setAlert(alert, message) {
  alert.hidden = message === '';
  if (alert.textContent !== message) alert.textContent = message;
}

function fatal(message) {
  const box = $('#fatal');
  box.hidden = false;
  box.textContent = message;
}

function hideFatal() {
  $('#fatal').hidden = true;
}

function askForToken(message) {
  state.needsToken = true;
  // The server answered (it refused the token): not "unreachable".
  disconnectLive('needs-token');
  const form = $('#connect');
  form.hidden = false;
  $('#connect-tenant').value = api.tenant;
  $(api.tenant ? '#connect-token' : '#connect-tenant').focus();
  fatal(`The server refused this dashboard: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  charts.ingest = timeChart($('#chart-ingest'), { series: [{ label: 'envelopes/s' }], yLabel: 'envelopes/s' });
  charts.uniques = timeChart($('#chart-uniques'), {
    series: [
      { label: 'distinct' },
      { label: 'lower (95%)', stroke: '#2563eb', width: 1, dash: [3, 3] },
      { label: 'upper (95%)', stroke: '#2563eb', width: 1, dash: [3, 3] },
    ],
    bands: [{ series: [3, 2], fill: 'rgba(29, 78, 216, 0.15)' }],
    yLabel: 'distinct',
    onSelect: (from, to) => {
      setRange(from, to);
      mergeFromInputs();
    },
  });
  charts.quantiles = timeChart($('#chart-quantiles'), {
    series: [{ label: 'p50' }, { label: 'p90' }, { label: 'p99' }],
    yLabel: 'value',
    points: true,
  });
  ensureServiceCharts([]);

  $('#range').addEventListener('submit', (e) => {
    e.preventDefault();
    mergeFromInputs();
  });
  for (const button of document.querySelectorAll('#range [data-last]')) {
    button.addEventListener('click', () => {
      const to = serverNow();
      setRange(to - Number(button.dataset.last), to);
      mergeFromInputs();
    });
  }
  $('#unique-key').addEventListener('change', () => refresh());
  $('#quantile-key').addEventListener('change', () => refresh());
  for (const radio of document.querySelectorAll('input[name="window"]')) radio.addEventListener('change', () => refresh());
  $('#countmin').addEventListener('submit', (e) => {
    e.preventDefault();
    countMinLookup();
  });
  $('#edge-switch').addEventListener('change', (e) => setEdge(e.target.checked));
  $('#keys tbody').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-key]');
    if (button) showKey(button.dataset.key, button.dataset.family);
  });
  $('#key-close').addEventListener('click', () => $('#key-details').close());
  $('#download-sketch').addEventListener('click', () => downloadKey('sketch'));
  $('#download-redis').addEventListener('click', () => downloadKey('redis'));
  $('#edge-poke').addEventListener('click', () => { /* recorded by the document listener */ });
  $('#edge-poke').disabled = true;
  $('#pause').addEventListener('click', () => {
    state.paused = !state.paused;
    const button = $('#pause');
    button.setAttribute('aria-pressed', String(state.paused));
    if (state.paused) {
      disconnectLive('paused');
    } else {
      connectLive();
      refresh();
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      if (!state.paused) disconnectLive('hidden');
    } else if (!state.paused) {
      connectLive();
      refresh();
    }
  });
  $('#connect').addEventListener('submit', (e) => {
    e.preventDefault();
    const tenant = $('#connect-tenant').value.trim();
    const token = $('#connect-token').value.trim();
    location.hash = new URLSearchParams({ tenant, token }).toString();
    location.reload();
  });
  setInterval(showLastUpdated, 1000);

  setRange(Date.now() - 60_000, Date.now());
  refresh().then(() => {
    // The default range: the last minute by the server's clock.
    const to = serverNow();
    setRange(to - 60_000, to);
  });
  connectLive();
}

start();
