// The edge client: records through a Recorder and ships its envelopes to the merge server, so that
// each is applied exactly once however the network behaves. Runtime-neutral: the entries
// (browser.js, workerd.js, node.mjs, node.cjs) bind it to their WebAssembly module.
//
// - Envelopes are made when the events since the last one pass `maxEvents`, when the oldest is
//   `maxAgeMs` old (checked on every record call, and by a timer where timers are allowed), and on
//   `flush()`. In Workers no timer ever runs: call `ctx.waitUntil(client.flush())` per request.
// - A failed send is retried with the same bytes (the receiver's exactly-once rule makes that
//   safe): network errors, 408, 429 and 5xx, with exponential backoff and jitter, honouring
//   Retry-After. A 413 splits the envelope in two (fresh sequence numbers, each sent with
//   `?supersedes=<the refused sequence>` so the server settles it instead of reporting it lost);
//   other 4xx answers are permanent and the envelope is dropped, counted in `stats().rejected`.
// - Envelopes wait in a bounded queue; when it is full the oldest is dropped and counted.
// - Browsers: a flush interval, `sendBeacon` on `pagehide`, and no sending while offline.

const DEFAULTS = {
  endpoint: undefined,
  token: undefined,
  maxEvents: 1000,
  maxAgeMs: 10_000,
  flushIntervalMs: 5_000,
  queueLimit: 64,
  retries: 6,
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
  timers: undefined,
  replica: undefined,
  nextSequence: undefined,
  fetch: undefined,
  sendBeacon: undefined,
  now: undefined,
};

const RECORD_METHODS = ['addUnique', 'increment', 'decrement', 'addWindow', 'addUniqueSeries',
  'addScore', 'addTopK', 'addCount', 'addQuantile'];

function isWorkerd() {
  return typeof globalThis.WebSocketPair === 'function' && typeof globalThis.navigator === 'object' &&
    globalThis.navigator.userAgent === 'Cloudflare-Workers';
}

function isBrowser() {
  return typeof globalThis.window === 'object' && typeof globalThis.document === 'object';
}

/** Milliseconds to wait before retry number `attempt` (1-based): what the server's Retry-After
 * says (seconds or an HTTP date) when it gave one, else exponential backoff with jitter (between
 * half and all of the step). */
function retryDelay(response, attempt, base, max) {
  const header = response?.headers?.get?.('retry-after');
  if (header != null && header !== '') {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(header);
    if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  }
  const step = Math.min(max, base * 2 ** (attempt - 1));
  return step / 2 + Math.random() * step / 2;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function createClientWith(wasm, options) {
  if (options == null || typeof options !== 'object') throw new TypeError('createClient needs an options object with an endpoint');
  for (const key of Object.keys(options)) {
    if (!(key in DEFAULTS)) throw new TypeError(`createClient: unknown option \`${key}\`, expected one of ${Object.keys(DEFAULTS).join(', ')}`);
  }
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  if (typeof o.endpoint !== 'string' || !/^https?:\/\//.test(o.endpoint)) {
    throw new TypeError(`createClient: endpoint must be an http(s) URL, got ${JSON.stringify(o.endpoint)}`);
  }
  for (const key of ['maxEvents', 'maxAgeMs', 'flushIntervalMs', 'queueLimit', 'retries', 'backoffBaseMs', 'backoffMaxMs']) {
    if (!Number.isSafeInteger(o[key]) || o[key] < 0) throw new TypeError(`createClient: ${key} must be a whole number ≥ 0, got ${o[key]}`);
  }
  if (o.queueLimit < 1) throw new TypeError('createClient: queueLimit must be at least 1');
  const doFetch = o.fetch ?? globalThis.fetch?.bind(globalThis);
  if (typeof doFetch !== 'function') throw new TypeError('createClient: no fetch in this runtime; pass options.fetch');
  const now = o.now ?? (() => Date.now());
  const timers = o.timers ?? !isWorkerd();
  const browser = isBrowser();

  const recorder = new wasm.Recorder(o.replica === undefined ? undefined : { replica: o.replica, nextSequence: o.nextSequence });
  const queue = [];
  const stats = { envelopes: 0, sent: 0, retried: 0, split: 0, dropped: 0, rejected: 0, tooLarge: 0, lastError: undefined };
  let events = 0;
  let firstEventAt = 0;
  let online = browser && typeof navigator === 'object' && 'onLine' in navigator ? navigator.onLine : true;
  let closed = false;

  const headers = { 'content-type': 'application/octet-stream' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;

  // An item: the envelope's bytes, and the sequences of refused envelopes it is a part of.
  const queued = (bytes, supersedes = []) => ({ bytes, supersedes, attempts: 0, sendingSince: 0 });

  /** `base` with `name=value` pairs added to its query string. */
  function withQuery(base, pairs) {
    if (pairs.length === 0) return base;
    const query = pairs.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&');
    return `${base}${base.includes('?') ? '&' : '?'}${query}`;
  }

  /** The endpoint for an item: `?supersedes=` names the split envelope(s) it stands in for. */
  const urlFor = (base, entry) => withQuery(base, entry.supersedes.map((q) => ['supersedes', q]));

  function enqueue(bytes) {
    queue.push(queued(bytes));
    stats.envelopes++;
    while (queue.length > o.queueLimit) {
      queue.shift();
      stats.dropped++;
    }
  }

  function cut() {
    const bytes = recorder.envelope(now());
    events = 0;
    if (bytes) enqueue(bytes);
  }

  async function send(item) {
    let response;
    try {
      response = await doFetch(urlFor(o.endpoint, item), { method: 'POST', body: item.bytes, headers, keepalive: browser && item.bytes.length < 60_000 });
    } catch (error) {
      return { retry: true, error };
    }
    if (response.ok) return { done: true };
    const status = response.status;
    if (status === 413) return { tooLarge: true, status };
    if (status === 408 || status === 429 || status >= 500) return { retry: true, response, error: new Error(`HTTP ${status}`) };
    return { rejected: true, error: new Error(`HTTP ${status}: ${await response.text().catch(() => '')}`) };
  }

  // An item being sent by one drain is skipped by another (a Worker runs one drain per request);
  // one whose send never finished (its request ended) is free again after a while.
  const STALE_MS = 30_000;
  const free = (item) => !item.sendingSince || now() - item.sendingSince > STALE_MS;

  async function drain() {
    let item;
    while (online && (item = queue.find(free))) {
      item.sendingSince = now();
      const outcome = await send(item);
      item.sendingSince = 0;
      const at = queue.indexOf(item);
      if (at < 0) continue; // dropped from a full queue meanwhile
      if (outcome.done) {
        queue.splice(at, 1);
        stats.sent++;
      } else if (outcome.tooLarge) {
        queue.splice(at, 1);
        const halves = recorder.split(item.bytes);
        if (halves) {
          stats.split++;
          // The halves carry fresh sequences; they tell the server which one they replace, so
          // its drift report does not count the refused envelope as lost.
          const reader = new wasm.EnvelopeReader(item.bytes);
          const supersedes = [...item.supersedes, reader.sequence];
          reader.free();
          queue.splice(at, 0, ...halves.map((bytes) => queued(bytes, supersedes)));
        } else {
          stats.tooLarge++;
          stats.lastError = new Error('an envelope with a single entry is over the server\'s size limit');
        }
      } else if (outcome.rejected) {
        queue.splice(at, 1);
        stats.rejected++;
        stats.lastError = outcome.error;
      } else {
        stats.lastError = outcome.error;
        item.attempts++;
        if (item.attempts > o.retries) {
          // Kept (nothing is lost): the next flush tries again.
          item.attempts = 0;
          break;
        }
        stats.retried++;
        await sleep(retryDelay(outcome.response, item.attempts, o.backoffBaseMs, o.backoffMaxMs));
      }
    }
    return { sent: stats.sent, queued: queue.length, dropped: stats.dropped };
  }

  /** Makes an envelope of what was recorded and sends the queue; the promise settles when the
   * queue is empty or a send keeps failing (it stays queued for the next flush). */
  // Where timers run, drains go one after another, so an awaited flush() also waits for a drain
  // that a threshold started in the background (else it would find every item busy and return
  // early). Workers keep one drain per request instead: a request may not wait on another's I/O.
  let drains = Promise.resolve();
  function flush() {
    cut();
    if (!timers) return drain();
    const result = drains.then(drain, drain);
    drains = result.catch(() => {});
    return result;
  }

  function recorded() {
    if (closed) throw new Error('this client is closed');
    if (events === 0) firstEventAt = now();
    events++;
    if (events >= o.maxEvents || now() - firstEventAt >= o.maxAgeMs) {
      // Workers may not send outside `ctx.waitUntil(client.flush())`: there the envelope is only
      // made (and queued) here.
      if (timers) flush().catch(() => {});
      else cut();
    }
  }

  /** Sends everything with `sendBeacon` (page going away): no retries are possible there. */
  function flushBeacon() {
    cut();
    const beacon = o.sendBeacon ?? (typeof navigator === 'object' && navigator.sendBeacon ? navigator.sendBeacon.bind(navigator) : null);
    if (!beacon) return false;
    // Beacons cannot carry headers: the token rides in the query string. The body is typed
    // text/plain, a CORS-safelisted type, so a beacon to another origin needs no preflight
    // (which beacons cannot make); the merge server takes text/plain bodies as envelopes.
    const url = withQuery(o.endpoint, o.token ? [['token', o.token]] : []);
    while (queue.length > 0) {
      if (!beacon(urlFor(url, queue[0]), new Blob([queue[0].bytes], { type: 'text/plain' }))) return false;
      queue.shift();
      stats.sent++;
    }
    return true;
  }

  const listeners = [];
  function listen(target, type, fn) {
    target.addEventListener(type, fn);
    listeners.push(() => target.removeEventListener(type, fn));
  }
  let interval = null;
  if (timers && o.flushIntervalMs > 0) {
    interval = setInterval(() => { if (events > 0 || queue.length > 0) flush().catch(() => {}); }, o.flushIntervalMs);
    interval.unref?.(); // never keep a Node process alive for it
  }
  if (browser) {
    listen(globalThis, 'pagehide', () => flushBeacon());
    listen(globalThis, 'online', () => { online = true; flush().catch(() => {}); });
    listen(globalThis, 'offline', () => { online = false; });
  }

  const client = {
    recorder,
    flush,
    flushBeacon,
    stats: () => ({ ...stats, queued: queue.length, pendingEvents: events }),
    async close() {
      if (interval) clearInterval(interval);
      for (const remove of listeners.splice(0)) remove();
      const result = await flush();
      closed = true;
      return result;
    },
  };
  for (const name of RECORD_METHODS) {
    client[name] = (...args) => {
      const result = recorder[name](...args);
      recorded();
      return result;
    };
  }
  return client;
}
