// The edge client: records through a Recorder and ships its envelopes to the merge server, so that
// each is applied exactly once however the network behaves. Runtime-neutral: the entries
// (browser.js, workerd.js, node.mjs, node.cjs) bind it to their WebAssembly module.
//
// - Envelopes are made when the events since the last one pass `maxEvents`, when the oldest is
//   `maxAgeMs` old (checked on every record call, and by a timer where timers are allowed), and on
//   `flush()`. In Workers no timer ever runs: call `ctx.waitUntil(client.flush())` per request.
// - A failed send is retried with the same bytes (the receiver's exactly-once rule makes that
//   safe): network errors, timeouts, 408, 429 and 5xx, with exponential backoff and jitter,
//   honouring Retry-After. The backoff belongs to the client, not to one flush: while the server
//   is failing, flushes only queue, and a new attempt waits for the backoff (so an outage costs
//   one request per backoff step, however often `flush()` is called). A 413 splits the envelope
//   in two (fresh sequence numbers, each sent with `?supersedes=<the refused sequence>` so the
//   server settles it instead of reporting it lost); other 4xx answers, and a 2xx that is not the
//   server's answer, are permanent and the envelope is dropped, counted in `stats().rejected`
//   and passed to `onError`.
// - Envelopes wait in a bounded queue; when more than `queueLimit` wait, the oldest waiting one
//   is dropped and counted (one being sent is not dropped: it may already be delivered).
// - Browsers: a flush interval, `sendBeacon` on `pagehide` (and when the page is hidden), and no
//   envelopes made or sent while offline: the recorder merges what comes meanwhile, losslessly.
// - What a page cannot be sure it sent before it goes away (offline, a backlog past the browser's
//   64 KiB beacon quota, and every beacon: a beacon's answer is never seen) is kept in `storage`
//   (localStorage) under a key of the client's own, and the next client for the same endpoint and
//   token sends it, the same bytes, so the exactly-once rule holds if some of it did arrive.

const DEFAULTS = {
  endpoint: undefined,
  token: undefined,
  maxEvents: 1000,
  maxAgeMs: 10_000,
  flushIntervalMs: 5_000,
  queueLimit: 64,
  retries: 6,
  backoffBaseMs: 250,
  backoffMaxMs: undefined, // 30 s where timers run, 5 s in Workers (see the option's docs)
  timeoutMs: 10_000,
  timers: undefined,
  replica: undefined,
  nextSequence: undefined,
  fetch: undefined,
  sendBeacon: undefined,
  now: undefined,
  onError: undefined,
  storage: undefined,
};

const RECORD_METHODS = ['addUnique', 'increment', 'decrement', 'addWindow', 'addUniqueSeries',
  'addScore', 'addTopK', 'addCount', 'addQuantile'];

/** Bytes a beacon may carry: browsers refuse beacons (and keepalive requests) past 64 KiB in
 * flight, so larger envelopes are split first. */
const BEACON_MAX_BYTES = 60_000;
/** The longest wait a timer can express (setTimeout's limit, about 24.8 days). */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** An item held by a send that never finished (a Worker's request ended under it) is free again
 * after this long (at least). */
const STALE_MS = 60_000;
/** Characters of an error answer's body kept (read, and put in messages): a hostile or broken
 * server's 300 MB error page must not be held in memory. */
const ERROR_BODY_CHARS = 2_000;
/** Keys in `storage` holding a client's unsent envelopes: this prefix and a random id. */
const STORAGE_PREFIX = 'edgesketch:unsent:';
/** Unsent envelopes saved for another client (another endpoint or token) are removed after this
 * long unclaimed: the server refuses envelopes made more than 24 h before they arrive. */
const STORAGE_EXPIRY_MS = 25 * 3600_000;
/** The server's default `--max-entries`: an envelope saved for another page is split below it
 * first, as only its own client can split it. */
const SERVER_MAX_ENTRIES = 1024;
/** Characters of saved envelopes one client keeps in `storage` at most (about 1.5 MB of
 * envelopes; localStorage holds about 5 M characters per origin, shared with the page's own
 * data). While the server cannot be reached, pages pass the backlog on and it grows: past this,
 * the oldest envelopes are dropped (counted in `dropped`, told to `onError`). */
const STORAGE_MAX_CHARS = 2_000_000;
/** Saved beacons made longer ago than this are not resent: the server refuses envelopes made
 * more than 24 h before they arrive, and a beacon that old most likely arrived. */
const BEACON_RESEND_MS = 23 * 3600_000;

/** The first `ERROR_BODY_CHARS` characters of a response body, reading no more of it than that
 * (the rest is cancelled, which also frees the connection); null if reading failed. */
async function cappedText(response) {
  const reader = response.body?.getReader?.();
  if (!reader) return response.text();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < ERROR_BODY_CHARS) {
      const { done, value } = await reader.read();
      if (done) return text + decoder.decode();
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel().catch(() => {});
    return `${text.slice(0, ERROR_BODY_CHARS)}…`;
  } finally {
    reader.releaseLock?.();
  }
}

/** Runtimes that run code only inside a request (a timer outside one never fires, or is
 * refused): Cloudflare's workerd, and Vercel's Edge Runtime (which defines `EdgeRuntime`). */
function isRequestScoped() {
  const workerd = typeof globalThis.WebSocketPair === 'function' && typeof globalThis.navigator === 'object' &&
    globalThis.navigator.userAgent === 'Cloudflare-Workers';
  return workerd || typeof globalThis.EdgeRuntime === 'string';
}

function isBrowser() {
  return typeof globalThis.window === 'object' && typeof globalThis.document === 'object';
}

/** What a Retry-After header asks for, in milliseconds: delay-seconds (digits only) or an
 * HTTP-date; undefined when absent or malformed (then the client's own backoff applies). */
function retryAfterMs(header, nowMs) {
  if (header == null) return undefined;
  const text = String(header).trim();
  if (/^\d+$/.test(text)) return Math.min(MAX_DELAY_MS, Number(text) * 1000);
  // An HTTP-date names a weekday and a month: anything without letters ("-1", "1.5") is not one.
  if (!/[a-z]/i.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isFinite(date) ? Math.min(MAX_DELAY_MS, Math.max(0, date - nowMs)) : undefined;
}

/** Base64 of bytes, and back (stored envelopes are text). */
function toBase64(bytes) {
  let text = '';
  for (let at = 0; at < bytes.length; at += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(at, at + 0x8000));
  return btoa(text);
}
function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** 16 random hex digits: the client's own key in `storage` (a replica id exists only once an
 * envelope was made, and clients that only took over others' envelopes have none). */
function randomId() {
  const bytes = new Uint8Array(8);
  if (typeof globalThis.crypto?.getRandomValues === 'function') globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A short fingerprint of a token (FNV-1a, 32 bits): which client may claim saved envelopes,
 * without writing the token itself to storage. Not a secret: the token is in the page. */
function fingerprint(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/** The Web Storage to keep unsent envelopes in: the option's, else localStorage in browsers
 * (reading it throws in sandboxed frames and some private modes: then none). */
function storageOf(o, browser) {
  if (o.storage === null || o.storage === false) return null;
  if (o.storage !== undefined) {
    for (const method of ['getItem', 'setItem', 'removeItem', 'key']) {
      if (typeof o.storage?.[method] !== 'function') throw new TypeError(`createClient: storage must be a Web Storage (localStorage) or null, and has no ${method}()`);
    }
    return o.storage;
  }
  if (!browser) return null;
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The endpoint must parse as an http(s) URL without a fragment (the client appends query
 * parameters, which would land in a fragment). A URL object is taken as its text. */
function checkEndpoint(o) {
  if (typeof URL === 'function' && o.endpoint instanceof URL) o.endpoint = o.endpoint.href;
  let url = null;
  try {
    url = typeof o.endpoint === 'string' ? new URL(o.endpoint) : null;
  } catch { /* reported below */ }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hash !== '' || o.endpoint.includes('#')) {
    throw new TypeError(`createClient: endpoint must be an http(s) URL without a #fragment, got ${JSON.stringify(String(o.endpoint))}`);
  }
}

export function createClientWith(wasm, options) {
  if (options == null || typeof options !== 'object') throw new TypeError('createClient needs an options object with an endpoint');
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(DEFAULTS, key)) throw new TypeError(`createClient: unknown option \`${key}\`, expected one of ${Object.keys(DEFAULTS).join(', ')}`);
  }
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  checkEndpoint(o);
  if (o.token !== undefined && (typeof o.token !== 'string' || o.token === '' || /[\0\r\n]/.test(o.token))) {
    throw new TypeError('createClient: token must be a non-empty string without line breaks');
  }
  for (const key of ['fetch', 'sendBeacon', 'now', 'onError']) {
    if (o[key] !== undefined && typeof o[key] !== 'function') throw new TypeError(`createClient: ${key} must be a function`);
  }
  if (o.timers !== undefined && typeof o.timers !== 'boolean') throw new TypeError('createClient: timers must be true or false');
  const timers = o.timers ?? !isRequestScoped();
  // A Worker's waitUntil lasts about 30 s after the response: a flush there must not sleep long.
  o.backoffMaxMs ??= timers ? 30_000 : 5_000;
  for (const key of ['maxEvents', 'maxAgeMs', 'flushIntervalMs', 'queueLimit', 'retries', 'backoffBaseMs', 'backoffMaxMs', 'timeoutMs']) {
    if (!Number.isSafeInteger(o[key]) || o[key] < 0) throw new TypeError(`createClient: ${key} must be a whole number ≥ 0, got ${typeof o[key] === 'string' ? JSON.stringify(o[key]) : String(o[key])}`);
  }
  // Waits a timer must be able to express.
  for (const key of ['flushIntervalMs', 'backoffBaseMs', 'backoffMaxMs', 'timeoutMs']) {
    if (o[key] > MAX_DELAY_MS) throw new TypeError(`createClient: ${key} must be at most ${MAX_DELAY_MS} (about 24.8 days), got ${o[key]}`);
  }
  if (o.queueLimit < 1) throw new TypeError('createClient: queueLimit must be at least 1');
  // A resumed sender needs both: its replica id alone would restart at sequence 1, which the
  // server already applied (everything sent would be answered "duplicate" and lost).
  if ((o.replica === undefined) !== (o.nextSequence === undefined)) {
    throw new TypeError('createClient: replica and nextSequence resume a sender together; give both (persist recorder.replica and recorder.nextSequence) or neither');
  }
  const doFetch = o.fetch ?? globalThis.fetch?.bind(globalThis);
  if (typeof doFetch !== 'function') throw new TypeError('createClient: no fetch in this runtime; pass options.fetch');
  // A clock that answers garbage would stall every threshold and backoff: an error where read.
  const clock = o.now ?? (() => Date.now());
  const now = () => {
    const t = clock();
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new TypeError(`createClient: now() must answer milliseconds, got ${t}`);
    return t;
  };
  const browser = isBrowser();
  const store = storageOf(o, browser);

  const recorder = new wasm.Recorder(o.replica === undefined ? undefined : { replica: o.replica, nextSequence: o.nextSequence });
  const queue = [];
  const stats = {
    envelopes: 0, sent: 0, retried: 0, split: 0, dropped: 0, rejected: 0, tooLarge: 0,
    duplicates: 0, beacons: 0, restored: 0, lastError: undefined,
  };
  let events = 0;
  let firstEventAt = 0;
  // A flush of what was recorded while hidden is queued (see `recorded`).
  let hiddenFlush = false;
  /** Whether what was recorded has passed a threshold (`maxEvents`, `maxAgeMs`). */
  const due = () => events >= o.maxEvents || now() - firstEventAt >= o.maxAgeMs;
  let online = browser && typeof navigator === 'object' && 'onLine' in navigator ? navigator.onLine : true;
  let closed = false;
  // The client's backoff: failed sends in a row, and the time before which none is tried.
  let failures = 0;
  // No send before `waitMs` after `waitFrom` (the wall clock, which may step back: then the wait
  // starts again from the new time instead of stalling every send until the clock catches up).
  let waitFrom = 0;
  let waitMs = 0;
  // How long a send holds an item is judged on a monotonic clock where there is one: a wall clock
  // jumping forward (a laptop resuming) made an item in flight look abandoned.
  const monotonic = typeof globalThis.performance?.now === 'function' ? () => globalThis.performance.now() : now;

  const headers = { 'content-type': 'application/octet-stream' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;

  /** Records a failure in `stats` and tells `onError` (whose own errors are not ours to throw). */
  function fail(error) {
    stats.lastError = error;
    if (o.onError) {
      try { o.onError(error); } catch { /* a faulty hook must not stop delivery */ }
    }
  }

  // An item: the envelope's bytes; the sequences of refused envelopes it is a part of; its age
  // (`made`: what the queue limit drops first; the parts of a split keep their envelope's);
  // how often it was sent; since when a send holds it (0: free); whether that send is only
  // sleeping before a retry; `exhausted`: it failed `retries + 1` times in one drain (the server
  // is down, or cannot take this envelope); `maybeApplied`: a send of it got no answer, so the
  // server may have applied it (beacons then send it whole; a fetch answered 413 may still split
  // it, as the server answers "duplicate" to parts of an envelope it applied whole); `kept`: a
  // copy went to `storage`, so another page may send it too (a "duplicate" answer is expected);
  // `restored`: taken over from storage (never dropped for the queue's limit: it is bounded by
  // the storage quota); `foreign`: made by another replica (this client cannot split it);
  // `beaconed`: sent as a beacon and kept in case it did not arrive.
  let made = 0;
  const queued = (bytes, supersedes = [], age = ++made) => ({
    bytes, supersedes, made: age, sends: 0, busySince: 0, sleeping: false, exhausted: false, maybeApplied: false,
    kept: false, restored: false, foreign: false, beaconed: false,
  });
  // A send holds an item at most for its timeout and the backoff it sleeps. Where timers run,
  // the one drain that holds an item always settles it: never free while held (with no timeout,
  // a send may take any time; it was dropped as "oldest", then delivered).
  const staleMs = Math.max(STALE_MS, 2 * (o.timeoutMs + o.backoffMaxMs));
  const isFree = (item) => !item.busySince || (!timers && monotonic() - item.busySince > staleMs);
  const waiting = () => queue.reduce((n, item) => n + (isFree(item) ? 1 : 0), 0);

  /** `base` with `name=value` pairs added to its query string. */
  function withQuery(base, pairs) {
    if (pairs.length === 0) return base;
    const query = pairs.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&');
    return `${base}${base.includes('?') ? '&' : '?'}${query}`;
  }

  /** The endpoint for an item: `?supersedes=` names the split envelope(s) it stands in for. */
  const urlFor = (base, item) => withQuery(base, item.supersedes.map((q) => ['supersedes', q]));

  /** Drops the oldest waiting items while more than `queueLimit` wait. Items being sent are not
   * counted nor dropped: one may already have reached the server. */
  function enforceLimit() {
    // Closed: no more is recorded, so what is queued is all there will be; nothing is dropped.
    if (closed) return;
    let count = waiting();
    while (count > o.queueLimit) {
      let at = -1;
      queue.forEach((item, i) => { if (isFree(item) && !item.restored && (at < 0 || item.made < queue[at].made)) at = i; });
      if (at < 0) return; // only what earlier pages left waits
      const [item] = queue.splice(at, 1);
      count--;
      stats.dropped++;
      fail(new Error(`the queue held more than ${o.queueLimit} envelopes: dropped the oldest (${item.bytes.length} bytes)`));
    }
  }

  /** Makes an envelope of what was recorded, if anything; `limit`: hold the queue to its limit
   * (not while the page goes away: everything then goes to beacons). False if the recorder
   * refused (the events stay in it). */
  function cut(limit = true) {
    let bytes;
    try {
      bytes = recorder.envelope(now());
    } catch (error) {
      fail(error);
      return false;
    }
    events = 0;
    if (bytes) {
      queue.push(queued(bytes));
      stats.envelopes++;
      if (limit) enforceLimit();
    }
    return true;
  }

  const readEnvelope = (bytes, read) => {
    const reader = new wasm.EnvelopeReader(bytes);
    try { return read(reader); } finally { reader.free(); }
  };
  const sequenceOf = (bytes) => readEnvelope(bytes, (r) => r.sequence);
  const entriesOf = (bytes) => readEnvelope(bytes, (r) => r.entries().length);

  /** Replaces `item` (at `at`) by two halves of its entries under fresh sequences, each naming
   * the sequence it stands in for; false when it holds a single entry. */
  function splitAt(at, item, limit = true) {
    // Only the replica that made an envelope may number its parts.
    if (item.foreign) return false;
    let halves;
    try {
      halves = recorder.split(item.bytes);
    } catch (error) {
      fail(error);
      return false;
    }
    if (!halves) return false;
    stats.split++;
    const supersedes = [...item.supersedes, sequenceOf(item.bytes)];
    queue.splice(at, 1, ...halves.map((bytes) => Object.assign(queued(bytes, supersedes, item.made), { restored: item.restored })));
    if (limit) enforceLimit();
    return true;
  }

  async function send(item) {
    const { timeoutMs } = o;
    item.sends++;
    let response;
    let timer;
    try {
      // A Blob, not the bytes: Node's fetch (undici, Node 20) fails to resend a typed array's
      // body when a 307 or 308 redirect asks for it ("detached ArrayBuffer"); a Blob it resends.
      const body = typeof Blob === 'function' ? new Blob([item.bytes]) : item.bytes;
      const init = { method: 'POST', body, headers, keepalive: browser && item.bytes.length < BEACON_MAX_BYTES };
      // The request is aborted at the timeout, and not waited for past it even by a fetch that
      // ignores its signal.
      let expire;
      const expired = new Promise((_, reject) => { expire = reject; });
      expired.catch(() => {});
      if (timeoutMs > 0) {
        const abort = typeof AbortController === 'function' ? new AbortController() : null;
        if (abort) init.signal = abort.signal;
        timer = setTimeout(() => {
          const error = new Error(`no answer within ${timeoutMs} ms`);
          abort?.abort(error);
          expire(error);
        }, timeoutMs);
      }
      response = await Promise.race([doFetch(urlFor(o.endpoint, item), init), expired]);
      const status = response.status;
      // Read every body (it frees the connection), under the same timeout; null if it failed.
      const text = await Promise.race([cappedText(response), expired]).catch(() => null);
      // fetch follows redirects, and resends a POST redirected by 301, 302 or 303 as a GET.
      const redirect = response.redirected && response.url ? ` (redirected to ${response.url}: set \`endpoint\` to the final URL)` : '';
      if (response.ok) {
        let outcome;
        try { outcome = JSON.parse(text).outcome; } catch { /* not JSON */ }
        // A 2xx whose body was lost on the way still means committed.
        if (outcome === 'applied' || outcome === 'duplicate' || text === null) {
          return { done: true, duplicate: outcome === 'duplicate' };
        }
        // Something else answered (a static host, a login page): the envelope did not arrive.
        return { rejected: true, error: new Error(`HTTP ${status} is not an edgesketch answer${redirect}; is \`endpoint\` the server's /v1/ingest? ${String(text).slice(0, 200)}`) };
      }
      if (status === 413) return { tooLarge: true };
      if (status === 408 || status === 429 || status >= 500) {
        return { retry: true, after: retryAfterMs(response.headers?.get?.('retry-after'), now()), error: new Error(`HTTP ${status}${redirect}: ${text ?? ''}`) };
      }
      return { rejected: true, error: new Error(`HTTP ${status}${redirect}: ${text ?? ''}`) };
    } catch (error) {
      // No answer: the server may have applied it.
      item.maybeApplied = true;
      return { retry: true, error: error instanceof Error ? error : new Error(String(error)) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The client's next backoff step: exponential in the failures in a row, with jitter (half to
   * all of the step), or what the server's Retry-After asked for, but never less than
   * `backoffBaseMs` (`Retry-After: 0` made a retry loop of 593 requests a second). */
  function backoff(after) {
    if (after !== undefined) return Math.max(after, o.backoffBaseMs);
    const step = Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
    return step / 2 + Math.random() * step / 2;
  }

  /** Sends queued items until the queue is empty, the server keeps failing (an envelope failed
   * `retries + 1` times), the server asks for a wait longer than `backoffMaxMs`, or the drain has
   * run for twice `backoffMaxMs` (sends and sleeps together; the last send may take `timeoutMs`
   * more). Items a send holds (another drain's, in Workers) are skipped. */
  async function drain() {
    try {
      await drainQueue();
    } catch (error) {
      fail(error); // a bug, or the recorder refusing: the next flush starts afresh
    }
    // While the page is hidden its saved copy follows the queue: a page discarded now leaves
    // only what was still unsent for the next one.
    if (kept) keep();
  }

  async function drainQueue() {
    const tries = new Map();
    const started = now();
    const budget = 2 * o.backoffMaxMs;
    let recovering = failures > 0;
    let item;
    while (sending() && now() - started <= budget) {
      // Envelopes that never exhausted their retries first: one the server cannot take must not
      // hold back the others.
      item = queue.find((i) => isFree(i) && !i.exhausted) ?? queue.find(isFree);
      if (!item) {
        // Everything delivered: after failures, or when closing, what was recorded meanwhile
        // goes now, and so does what passed its thresholds while the queue was full (otherwise
        // it waits for them).
        if (failures > 0 || events === 0 || !(recovering || closed || due())) break;
        recovering = false;
        if (!cut()) break;
        continue;
      }
      item.busySince = monotonic();
      const outcome = await send(item);
      const at = queue.indexOf(item);
      if (at < 0) continue; // settled meanwhile: a beacon took it, or a stale hold was taken over
      if (!outcome.retry) failures = 0;
      if (outcome.done) {
        queue.splice(at, 1);
        if (outcome.duplicate && item.sends === 1 && item.supersedes.length === 0 && !item.kept) {
          // Never sent before, yet already applied: another sender uses this replica id and
          // sequence (a resumed client without its nextSequence, or a copied replica id). (A part
          // of a split answered "duplicate" was applied with the envelope it stands in for, which
          // an earlier send delivered whole though its answer was lost.)
          stats.duplicates++;
          fail(new Error(`the server had already applied sequence ${sequenceOf(item.bytes)} of replica ${recorder.replica}: another sender uses this replica id, so these events were not counted`));
        } else {
          stats.sent++;
        }
      } else if (outcome.tooLarge) {
        // Refused by size. Its parts name it (`supersedes`): if an earlier send of it was applied
        // after all, the server answers them "duplicate" and applies nothing twice.
        if (!splitAt(at, item)) {
          queue.splice(at, 1);
          stats.tooLarge++;
          fail(new Error(item.foreign
            ? `an envelope another page left (${item.bytes.length} bytes) is over the server's size limit, and only its own client could split it: dropped`
            : `an envelope with a single entry (${item.bytes.length} bytes) is over the server's size limit: dropped`));
        }
      } else if (outcome.rejected) {
        queue.splice(at, 1);
        stats.rejected++;
        fail(outcome.error);
      } else {
        stats.lastError = outcome.error;
        failures++;
        const delay = backoff(outcome.after);
        const attempts = (tries.get(item) ?? 0) + 1;
        tries.set(item, attempts);
        if (attempts > o.retries || delay > o.backoffMaxMs || now() - started + delay > budget) {
          // Kept, nothing is lost: the next flush after the backoff tries again.
          waitFrom = now();
          waitMs = delay;
          item.exhausted ||= attempts > o.retries;
          item.busySince = 0;
          break;
        }
        stats.retried++;
        // Held while it sleeps (no other drain resends it), but a beacon may take it.
        item.sleeping = true;
        await sleep(delay);
        item.sleeping = false;
        if (!queue.includes(item)) continue;
      }
      // Not held to the queue's limit here: an envelope back from a send (the queue may have
      // filled meanwhile) is never dropped; only a split's parts push the queue past its limit.
      item.busySince = 0;
    }
  }

  // Where timers run, one drain runs at a time and at most one more waits for it: a flush during
  // a drain shares the next one (so an awaited flush() also covers its own envelope) instead of
  // piling up drains. Workers run one drain per request instead: a request may not wait on
  // another's I/O; a drain there skips the items another holds.
  let running = null;
  let next = null;
  function startDrain() {
    if (!running) {
      running = drain().finally(() => { running = null; });
      return running;
    }
    next ??= running.then(() => { next = null; return startDrain(); });
    return next;
  }

  /** Whether envelopes are sent now: not while offline, nor during the backoff after failures. */
  function sending() {
    if (!online) return false;
    const t = now();
    if (t < waitFrom) waitFrom = t;
    return t >= waitFrom + waitMs;
  }
  /** Whether new envelopes are made: while sends succeed. While the server fails (or the client
   * is offline) the recorder merges what comes, which loses nothing (a queue would drop the
   * oldest), and the first drain that succeeds sends it. Once every queued envelope has
   * exhausted its retries, one more is made per drain, so that an envelope the server cannot
   * take does not hold back what comes after it. Never while the queue is full: its events stay
   * in the recorder (a burst against a healthy server dropped the oldest envelopes). */
  const cutting = () => sending() && waiting() < o.queueLimit &&
    (failures === 0 || queue.every((i) => i.exhausted));

  /** Makes an envelope of what was recorded and sends the queue; the promise settles when the
   * queue is empty, or the server keeps failing (the envelopes stay queued for a later flush).
   * It answers what was sent and dropped meanwhile, and what still waits. */
  function flush() {
    const before = { sent: stats.sent, dropped: stats.dropped };
    let done;
    if (sending()) {
      // Closing: what was recorded goes too (a closed client's queue drops nothing).
      if (cutting() || (closed && failures === 0)) cut();
      done = timers ? startDrain() : drain();
    } else {
      done = Promise.resolve();
    }
    return done.then(() => ({
      sent: stats.sent - before.sent, queued: queue.length, dropped: stats.dropped - before.dropped, pendingEvents: events,
    }));
  }

  function recorded() {
    if (events === 0) firstEventAt = now();
    events++;
    // Recorded while the page is hidden (by the app's own visibilitychange or pagehide listener,
    // or a timer): the page may be gone before anything else runs, so it goes the way of a
    // leaving page, once the code recording it returns (a microtask).
    if (browser && !hiddenFlush && document.visibilityState === 'hidden' && typeof queueMicrotask === 'function') {
      hiddenFlush = true;
      queueMicrotask(() => {
        hiddenFlush = false;
        if (!closed && events > 0) flushBeacon();
      });
    }
    if (due()) {
      // Where timers run, this also retries what waits once a backoff is over (with no flush
      // interval, nothing else would). Workers may not send outside
      // `ctx.waitUntil(client.flush())`: there the envelope is only made (and queued) here.
      // One drain runs and at most one waits: while both exist a flush here would only add a
      // promise waiting for them, one per event (~400 bytes an event while a send retried).
      if (timers) {
        if (sending() && !next) flush().catch(() => {});
      } else if (cutting()) {
        cut();
      }
    }
  }

  /** Sends what is recorded and queued with `sendBeacon` (the page is going away): envelopes
   * over a beacon's size are split first (unless a send may have applied them already); one the
   * browser refuses stays queued (the page may come back from the back/forward cache), as does
   * everything while offline (a beacon then is lost). Nothing is dropped for the queue's limit
   * here. What stays queued is then saved in `storage`, and so is every beacon (its answer is
   * never seen: the server may have been down). True if everything went. */
  function flushBeacon() {
    const beacon = o.sendBeacon ?? (typeof navigator === 'object' && navigator.sendBeacon ? navigator.sendBeacon.bind(navigator) : null);
    if (!beacon || !online) {
      // Kept for the next page, or else left in the recorder (the page may come back online).
      if (store && cut(false)) keep();
      return false;
    }
    cut(false);
    // Beacons cannot carry headers: the token rides in the query string. The body is typed
    // text/plain, a CORS-safelisted type, so a beacon to another origin needs no preflight
    // (which beacons cannot make); the merge server takes text/plain bodies as envelopes.
    const url = withQuery(o.endpoint, o.token ? [['token', o.token]] : []);
    let all = true;
    for (let at = 0; at < queue.length;) {
      const item = queue[at];
      const large = item.bytes.length > BEACON_MAX_BYTES;
      if (!isFree(item) && !item.sleeping) {
        at++; // a fetch is sending it (kept alive past the page where the browser allows)
        all = false;
      } else if (item.restored) {
        // Another page's, already in storage: it stays there for the next page. Beaconed by
        // every page while the server cannot be reached, a backlog cost requests growing with
        // each page view.
        at++;
        all = false;
      } else if (large && !item.maybeApplied && !item.busySince && splitAt(at, item, false)) {
        // the halves take its place; look at the first
      } else if (!large && beacon(urlFor(url, item), new Blob([item.bytes], { type: 'text/plain' }))) {
        queue.splice(at, 1);
        stats.beacons++;
        // A beacon's answer is never seen: a copy is kept for the next page (which resends it;
        // "duplicate" if it arrived), and for this page if it comes back while sends fail.
        if (store) {
          Object.assign(item, { maybeApplied: true, beaconed: true });
          uncertain.push(item);
        }
      } else {
        at++;
        all = false;
      }
    }
    if (store) keep();
    return all;
  }

  // Saving unsent envelopes in `storage` (browsers' localStorage by default), one key per
  // client: a page that goes away (closed, offline, past the beacon quota) loses nothing that
  // was recorded, as the next client for the same endpoint and token sends it.
  const storageKey = `${STORAGE_PREFIX}${randomId()}`;
  const scope = { endpoint: o.endpoint, token: fingerprint(o.token ?? '') };
  // Beacons sent since the page was last shown: saved with the queue; back in the queue if the
  // page returns.
  const uncertain = [];
  // Whether `storage` holds this sender's copy (then it follows the queue until the page returns).
  let kept = false;

  /** Writes what is queued (and the uncertain beacons) under this sender's key, oldest first:
   * split first where only this client can split, held to STORAGE_MAX_CHARS (the oldest
   * dropped); if storage refuses it all (its quota), the oldest are left out and `onError`
   * hears how many would be lost with the page. */
  function keep() {
    // Split first what only this client can split (another page can only send it whole): to a
    // beacon's size, and below the server's default entry limit.
    for (let at = 0; at < queue.length;) {
      const item = queue[at];
      const split = !item.foreign && !item.maybeApplied && isFree(item) &&
        (item.bytes.length > BEACON_MAX_BYTES || entriesOf(item.bytes) > SERVER_MAX_ENTRIES) && splitAt(at, item, false);
      if (!split) at++;
    }
    const items = [...queue, ...uncertain].sort((a, b) => a.made - b.made);
    const saved = items.map((item) => ({ bytes: toBase64(item.bytes), supersedes: item.supersedes.map(String),
      maybeApplied: item.maybeApplied, beaconed: item.beaconed }));
    // Held to STORAGE_MAX_CHARS: the oldest go first, from the queue too (dropped for good).
    let chars = 0;
    let over = saved.length;
    while (over > 0 && chars + saved[over - 1].bytes.length <= STORAGE_MAX_CHARS) chars += saved[--over].bytes.length;
    if (over > 0) {
      // Dropped from memory too, except what a send holds (it may arrive): not saved either way.
      const dropped = new Set(items.slice(0, over));
      const before = queue.length + uncertain.length;
      for (let at = queue.length - 1; at >= 0; at--) if (dropped.has(queue[at]) && isFree(queue[at])) queue.splice(at, 1);
      for (let at = uncertain.length - 1; at >= 0; at--) if (dropped.has(uncertain[at])) uncertain.splice(at, 1);
      stats.dropped += before - queue.length - uncertain.length;
      fail(new Error(`unsent envelopes passed ${STORAGE_MAX_CHARS} characters in storage (the server has been unreachable for a while): dropped the ${over} oldest`));
      items.splice(0, over);
      saved.splice(0, over);
    }
    for (let left = 0; left <= saved.length; left++) {
      try {
        if (left === saved.length) {
          store.removeItem(storageKey);
          kept = false;
        } else {
          store.setItem(storageKey, JSON.stringify({ version: 1, ...scope, savedAt: now(), envelopes: saved.slice(left) }));
          kept = true;
        }
        for (const item of items.slice(left)) item.kept = true;
        if (left > 0) fail(new Error(`storage took ${saved.length - left} of ${saved.length} unsent envelopes: ${left} are lost if the page does not come back`));
        return;
      } catch (error) {
        if (left === saved.length) fail(error);
      }
    }
  }

  /** The page is back (shown, or visible again): its queue is its own again (another client may
   * have taken the saved copy meanwhile; both sending is safe), and its beacons are sent again
   * (their answers were never seen: a server that failed meanwhile lost them; one that took them
   * answers "duplicate"). */
  function resume() {
    if (!store || (!kept && uncertain.length === 0)) return;
    for (const item of uncertain.splice(0)) queue.push(item);
    try {
      store.removeItem(storageKey);
    } catch { /* the copy only costs a resend */ }
    kept = false;
    if (timers) flush().catch(() => {});
  }

  /** Takes the envelopes that earlier clients for this endpoint and token saved, into the queue
   * (oldest first); removes unreadable ones, and others' once they expired. */
  function restore() {
    const keys = [];
    for (let i = 0; i < (store.length ?? 0); i++) {
      const key = store.key(i);
      if (typeof key === 'string' && key.startsWith(STORAGE_PREFIX)) keys.push(key);
    }
    for (const key of keys) {
      let saved;
      try {
        saved = JSON.parse(store.getItem(key));
        if (saved?.version !== 1) continue; // another version's format: not ours to judge
        if (saved.endpoint !== scope.endpoint || saved.token !== scope.token) {
          if (!(now() - saved.savedAt < STORAGE_EXPIRY_MS)) store.removeItem(key);
          continue;
        }
        store.removeItem(key);
        for (const envelope of saved.envelopes) {
          try {
            const bytes = fromBase64(envelope.bytes);
            const { replica, createdMs } = readEnvelope(bytes, (r) => ({ replica: r.replica, createdMs: r.createdMs })); // or it throws
            // A beacon that old most likely arrived, and the server would refuse it now.
            if (envelope.beaconed && !(now() - createdMs < BEACON_RESEND_MS)) continue;
            const item = queued(bytes, envelope.supersedes.map(String));
            Object.assign(item, { maybeApplied: envelope.maybeApplied === true, kept: true, restored: true,
              foreign: replica !== recorder.replica, beaconed: envelope.beaconed === true });
            queue.push(item);
            stats.restored++;
          } catch (error) {
            fail(new Error(`an unsent envelope saved under ${key} is unreadable, skipped: ${error?.message ?? error}`));
          }
        }
      } catch (error) {
        try { store.removeItem(key); } catch { /* nothing more to do */ }
        fail(new Error(`unsent envelopes saved under ${key} are unreadable, removed: ${error?.message ?? error}`));
      }
    }
    // Saved again at once, under this client's key: a page that dies before it sent them (a
    // crash fires no pagehide) must not take them along.
    if (stats.restored > 0) keep();
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
  if (browser && typeof globalThis.addEventListener === 'function') {
    listen(globalThis, 'pagehide', () => flushBeacon());
    if (typeof document.addEventListener === 'function') {
      // Mobile browsers may discard a hidden page without a pagehide.
      listen(document, 'visibilitychange', () => {
        if (document.visibilityState === 'hidden') flushBeacon();
        else resume();
      });
    }
    listen(globalThis, 'pageshow', () => resume());
    listen(globalThis, 'online', () => {
      online = true;
      waitMs = 0;
      flush().catch(() => {});
    });
    listen(globalThis, 'offline', () => { online = false; });
  }

  if (store) {
    try {
      restore();
    } catch (error) {
      fail(error); // storage unreadable (a browser's privacy setting): nothing to take over
    }
    // What earlier pages left goes out now, not at the first interval.
    if (queue.length > 0 && timers) flush().catch(() => {});
  }

  const client = {
    recorder,
    flush,
    flushBeacon,
    stats: () => ({ ...stats, queued: queue.length, pendingEvents: events }),
    /** Stops recording, timers and listeners, then flushes (a later flush() sends what stays
     * queued). */
    close() {
      closed = true;
      if (interval) clearInterval(interval);
      for (const remove of listeners.splice(0)) remove();
      // What the flush could not deliver (offline, the server failing) is saved for the next page:
      // without listeners no pagehide would save it.
      return flush().then((result) => {
        if (store && (queue.length > 0 || events > 0) && cut(false)) keep();
        return result;
      });
    },
  };
  for (const name of RECORD_METHODS) {
    client[name] = (...args) => {
      if (closed) throw new Error(`${name}: this client is closed`);
      const result = recorder[name](...args);
      recorded();
      return result;
    };
  }
  return client;
}
