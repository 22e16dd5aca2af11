// The edge client against a local sink that fails on purpose: retries resend the same bytes,
// Retry-After is honoured, 413 splits, permanent refusals drop, a full queue drops the oldest,
// thresholds make envelopes, beacons carry the token. Run from the scratch project.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { createClient, EnvelopeReader, HyperLogLog } from 'edgesketch';

const servers = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** The bytes a fake fetch was asked to send (the client sends a Blob where there is one). */
async function bodyOf(init) {
  return init.body instanceof Blob ? new Uint8Array(await init.body.arrayBuffer()) : init.body;
}

/** A sink answering each POST with the next scripted status (then 200), keeping every body. */
async function sink(script = [], { limit = Infinity, retryAfter, hang = 0, failSequence, always } = {}) {
  const bodies = [];
  const times = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = new Uint8Array(Buffer.concat(chunks));
      bodies.push({ body, auth: req.headers.authorization, type: req.headers['content-type'], url: req.url });
      times.push(Date.now());
      if (hang > 0) {
        hang--;
        return; // never answered
      }
      let status = body.length > limit ? 413 : (script.shift() ?? always ?? 200);
      if (failSequence !== undefined && new EnvelopeReader(body).sequence === failSequence) status = 500;
      if ((status === 429 || status === 503) && retryAfter !== undefined) res.setHeader('retry-after', String(retryAfter));
      res.statusCode = status;
      res.end(status === 200 ? '{"outcome":"applied"}' : '{}');
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}/v1/ingest`, bodies, times, close: () => server.close() };
}

const fast = { backoffBaseMs: 5, backoffMaxMs: 50, timers: false };
const same = (a, b) => Buffer.from(a).equals(Buffer.from(b));

test('options are checked', () => {
  assert.throws(() => createClient({}), /endpoint must be an http\(s\) URL/);
  assert.throws(() => createClient({ endpoint: 'http://x', maxEvent: 3 }), /unknown option `maxEvent`/);
  assert.throws(() => createClient({ endpoint: 'http://x', queueLimit: 0 }), /queueLimit/);
  assert.throws(() => createClient({ endpoint: 'http://x', timeoutMs: -1 }), /timeoutMs/);
  assert.throws(() => createClient({ endpoint: 'http://x', timeoutMs: 3e9 }), /timeoutMs must be at most 2147483647/);
  assert.throws(() => createClient({ endpoint: 'http://x', backoffMaxMs: 2 ** 31 }), /backoffMaxMs must be at most/);
  assert.throws(() => createClient({ endpoint: 'http://x', onError: 3 }), /onError must be a function/);
  // A replica id without its next sequence would resend sequences the server already applied.
  const replica = '0123456789abcdef0123456789abcdef';
  assert.throws(() => createClient({ endpoint: 'http://x', replica }), /replica and nextSequence resume a sender together/);
  assert.throws(() => createClient({ endpoint: 'http://x', nextSequence: 5 }), /replica and nextSequence/);
  const resumed = createClient({ endpoint: 'http://x', replica, nextSequence: 50, timers: false });
  assert.deepEqual([resumed.recorder.replica, resumed.recorder.nextSequence], [replica, 50]);
});

test('network errors, 503 and 429 are retried with the same bytes until applied', async () => {
  const s = await sink([503, 502, 429, 408], { retryAfter: 0 });
  const client = createClient({ endpoint: s.url, token: 'secret', ...fast, backoffMaxMs: 1_000 });
  client.increment('requests', 3);
  client.addUnique('uniques', 'ada');
  const result = await client.flush();
  assert.deepEqual(result, { sent: 1, queued: 0, dropped: 0, pendingEvents: 0 });
  assert.equal(s.bodies.length, 5);
  for (const b of s.bodies) {
    assert.ok(same(b.body, s.bodies[0].body), 'every retry resends the same bytes');
    assert.equal(b.auth, 'Bearer secret');
    assert.equal(b.type, 'application/octet-stream');
  }
  const env = new EnvelopeReader(s.bodies[0].body);
  assert.equal(env.sequence, 1);
  assert.equal(env.open('requests').value, 3n);
  const st = client.stats();
  assert.equal(st.retried, 4);
  assert.equal(st.sent, 1);
  s.close();
});

test('Retry-After is honoured', async () => {
  const s = await sink([429], { retryAfter: 1 });
  const client = createClient({ endpoint: s.url, ...fast, backoffMaxMs: 5_000 });
  client.increment('n');
  await client.flush();
  assert.equal(s.bodies.length, 2);
  assert.ok(s.times[1] - s.times[0] >= 950, `waited ${s.times[1] - s.times[0]} ms`);
  s.close();
});

test('a connection that keeps failing leaves the envelope queued for the next flush', async () => {
  const s = await sink();
  const url = s.url;
  s.close(); // nothing listens there now
  const client = createClient({ endpoint: url, ...fast, retries: 2 });
  client.increment('n');
  const result = await client.flush();
  assert.deepEqual([result.sent, result.queued], [0, 1]);
  assert.match(String(client.stats().lastError), /fetch failed|ECONNREFUSED|TypeError/);
});

test('413 splits the envelope into halves under fresh sequence numbers', async () => {
  // An envelope of four entries of about 130 bytes each; the sink takes at most 300 bytes.
  const s = await sink([], { limit: 300 });
  const client = createClient({ endpoint: s.url, ...fast });
  for (const key of ['a', 'b', 'c', 'd']) {
    for (let i = 0; i < 40; i++) client.addUnique(`uniques:${key}`, `${key}-${i}`);
  }
  await client.flush();
  const accepted = s.bodies.filter((b) => b.body.length <= 300).map((b) => new EnvelopeReader(b.body));
  assert.ok(s.bodies.length > accepted.length, 'something was refused as too large');
  assert.ok(client.stats().split >= 1);
  assert.deepEqual(accepted.flatMap((e) => e.entries().map((x) => x.key)).sort(), ['uniques:a', 'uniques:b', 'uniques:c', 'uniques:d']);
  const sequences = accepted.map((e) => e.sequence);
  assert.equal(new Set(sequences).size, sequences.length, 'fresh sequence per part');
  assert.ok(sequences.every((q) => q > 1), 'none reuses the refused envelope\'s sequence');
  for (const e of accepted) assert.equal(e.open(e.entries()[0].key).count(), 40);
  // Each part names the refused envelope(s) it stands in for: every sequence that was refused,
  // and only those, is settled by some accepted part.
  const refused = s.bodies.filter((b) => b.body.length > 300).map((b) => new EnvelopeReader(b.body).sequence);
  const named = s.bodies.filter((b) => b.body.length <= 300)
    .flatMap((b) => new URL(b.url, 'http://x').searchParams.getAll('supersedes').map(Number));
  assert.deepEqual([...new Set(named)].sort((a, b) => a - b), [...refused].sort((a, b) => a - b));
  for (const b of s.bodies) {
    const own = new EnvelopeReader(b.body).sequence;
    for (const q of new URL(b.url, 'http://x').searchParams.getAll('supersedes')) assert.ok(Number(q) < own);
  }
  s.close();
});

test('permanent refusals (400, 401, 422) are dropped and counted, not retried', async () => {
  const s = await sink([422]);
  const client = createClient({ endpoint: s.url, ...fast });
  client.increment('n');
  await client.flush();
  assert.equal(s.bodies.length, 1);
  assert.equal(client.stats().rejected, 1);
  assert.match(String(client.stats().lastError), /HTTP 422/);
  s.close();
});

test('options are checked when the client is made', () => {
  const endpoint = 'http://127.0.0.1:9/v1/ingest';
  const refused = (options, pattern) => assert.throws(() => createClient(options), (e) => e instanceof TypeError && pattern.test(e.message));
  refused({ endpoint: 'https://' }, /endpoint must be an http\(s\) URL/);
  refused({ endpoint: 'https://exa mple.com/x' }, /endpoint must be/);
  refused({ endpoint: `${endpoint}#x` }, /without a #fragment/);
  refused({ endpoint: 'ftp://example.com/x' }, /endpoint must be/);
  refused({ endpoint, token: 'a\nb' }, /token must be a non-empty string without line breaks/);
  refused({ endpoint, token: {} }, /token must be/);
  refused({ endpoint, now: 5 }, /now must be a function/);
  refused({ endpoint, sendBeacon: 5 }, /sendBeacon must be a function/);
  refused({ endpoint, fetch: 5 }, /fetch must be a function/);
  refused({ endpoint, timers: 'no' }, /timers must be true or false/);
  refused({ endpoint, toString: 1 }, /unknown option `toString`/);
  // A URL object is its text; a clock that answers garbage is an error where it is read.
  createClient({ endpoint: new URL(endpoint), timers: false }).close();
  const stalled = createClient({ endpoint, timers: false, now: () => NaN });
  assert.throws(() => stalled.increment('n'), /now\(\) must answer milliseconds, got NaN/);
});

test('a 2xx that is not an edgesketch answer is a refusal, not a delivery', async () => {
  const errors = [];
  const fetch = async () => new Response('<html>welcome</html>', { status: 200 });
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, fetch, onError: (e) => errors.push(e.message) });
  client.increment('n');
  const result = await client.flush();
  const st = client.stats();
  assert.equal(st.sent, 0);
  assert.equal(st.rejected, 1);
  assert.deepEqual([result.sent, result.queued, result.pendingEvents], [0, 0, 0]);
  assert.match(errors[0], /HTTP 200 is not an edgesketch answer.*<html>welcome/);
});

test('a redirect is followed; one that turned the POST into a GET is reported with its target', async () => {
  const posted = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/moved' || path === '/temporary') {
      res.statusCode = path === '/moved' ? 301 : 307;
      res.setHeader('location', '/v1/ingest');
      return res.end();
    }
    req.resume();
    req.on('end', () => {
      if (req.method !== 'POST') {
        res.statusCode = 405;
        return res.end('{"code":"method_not_allowed"}');
      }
      posted.push(req.url);
      res.end('{"outcome":"applied"}');
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  // 307 keeps the method and the body: delivered.
  const kept = createClient({ endpoint: `${base}/temporary`, ...fast });
  kept.increment('n');
  await kept.flush();
  assert.deepEqual([kept.stats().sent, posted.length], [1, 1]);
  // 301 turns a POST into a GET: refused, and the error names where it went.
  const errors = [];
  const moved = createClient({ endpoint: `${base}/moved`, ...fast, onError: (e) => errors.push(e.message) });
  moved.increment('n');
  await moved.flush();
  assert.deepEqual([moved.stats().sent, moved.stats().rejected, posted.length], [0, 1, 1]);
  assert.match(errors[0], new RegExp(`HTTP 405 \\(redirected to ${base}/v1/ingest: set .endpoint. to the final URL\\)`));
});

test('a full queue makes no more envelopes: later events merge in the recorder, and nothing is lost', async () => {
  const delivered = [];
  const fetch = async (url, init) => {
    delivered.push(new EnvelopeReader(await bodyOf(init)));
    return new Response('{"outcome":"applied"}', { status: 200 });
  };
  const errors = [];
  // Worker mode: thresholds make envelopes; only flush() sends them. A burst past the queue's
  // limit used to make envelopes anyway and drop the oldest (35 of 100 lost to one burst against
  // a healthy server).
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, maxEvents: 1, queueLimit: 2,
    fetch, onError: (e) => errors.push(e.message) });
  for (let i = 1; i <= 4; i++) client.increment('n', i);
  const st = client.stats();
  assert.deepEqual([st.envelopes, st.dropped, st.queued, st.pendingEvents], [2, 0, 2, 2]);
  await client.flush();
  assert.deepEqual(errors, []);
  assert.deepEqual(delivered.map((e) => e.sequence), [1, 2, 3], 'in order');
  assert.equal(delivered.reduce((n, e) => n + e.open('n').value, 0n), 10n);
  // Closing with a full queue: the last envelope goes past the limit, nothing is dropped.
  const closing = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, maxEvents: 1, queueLimit: 1,
    fetch: async () => new Response('{"outcome":"applied"}', { status: 200 }) });
  closing.increment('n');
  closing.increment('n');
  await closing.close();
  assert.deepEqual([closing.stats().dropped, closing.stats().sent, closing.stats().queued], [0, 2, 0]);
});

test('while the server fails, flushes only record: no envelope is made or sent until the backoff passes', async () => {
  let calls = 0;
  let up = false;
  const delivered = [];
  const fetch = async (url, init) => {
    calls++;
    if (!up) return new Response('down', { status: 503 });
    delivered.push(new EnvelopeReader(await bodyOf(init)));
    return new Response('{"outcome":"applied"}', { status: 200 });
  };
  let clock = 1_000;
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', timers: false, retries: 0,
    backoffBaseMs: 1_000, backoffMaxMs: 8_000, fetch, now: () => clock });
  // 200 flushes a second apart, the server down: one request per backoff step (1, 2, 4, 8, 8, ...
  // seconds, jittered down to half), not one per flush; at most one envelope made per failed
  // drain, the rest merged in the recorder; nothing dropped.
  for (let i = 0; i < 200; i++) {
    client.increment('n');
    await client.flush();
    clock += 1_000;
  }
  assert.ok(calls >= 20 && calls <= 60, `${calls} requests in 200 s of outage`);
  assert.equal(client.stats().dropped, 0);
  assert.ok(client.stats().envelopes <= calls, 'an envelope is made only when a send may follow');
  up = true;
  clock += 10_000;
  const result = await client.flush();
  assert.equal(result.queued, 0);
  const total = delivered.reduce((n, e) => n + e.open('n').value, 0n);
  assert.equal(total, 200n, 'every event arrives once');
});

test('a long outage fills the queue at most to its limit, and drops nothing', async () => {
  // The server's own overload answer (503, Retry-After: 1) exhausts an envelope's retries in
  // every drain; envelopes are made past exhausted ones only while the queue has room.
  let up = false;
  const delivered = [];
  const fetch = async (url, init) => {
    if (!up) return new Response('busy', { status: 503, headers: { 'retry-after': '1' } });
    delivered.push(new EnvelopeReader(await bodyOf(init)));
    return new Response('{"outcome":"applied"}', { status: 200 });
  };
  let clock = 1_000;
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', timers: false, retries: 0,
    queueLimit: 3, fetch, now: () => clock });
  for (let i = 0; i < 300; i++) {
    client.increment('n');
    await client.flush();
    clock += 2_000;
  }
  assert.equal(client.stats().dropped, 0);
  assert.equal(client.stats().queued, 3);
  up = true;
  const result = await client.flush();
  assert.deepEqual([result.queued, result.pendingEvents], [0, 0]);
  assert.equal(delivered.reduce((n, e) => n + e.open('n').value, 0n), 300n, 'every event arrives once');
});

test('close() sends what was recorded while a send was being retried', async () => {
  const s = await sink([503]);
  const client = createClient({ endpoint: s.url, ...fast, timers: true, flushIntervalMs: 0, backoffBaseMs: 200, backoffMaxMs: 1_000 });
  client.increment('n', 1);
  const first = client.flush(); // its first send gets the 503, then sleeps 100-200 ms
  await new Promise((r) => setTimeout(r, 50));
  client.increment('n', 10);
  const closed = await client.close();
  await first;
  assert.deepEqual([closed.queued, closed.pendingEvents], [0, 0]);
  const total = s.bodies.slice(1).reduce((n, b) => n + new EnvelopeReader(b.body).open('n').value, 0n);
  assert.equal(total, 11n);
  s.close();
});

test('a fetch that ignores its abort signal still times out', async () => {
  let calls = 0;
  const fetch = () => {
    calls++;
    return calls === 1 ? new Promise(() => {}) : Promise.resolve(new Response('{"outcome":"applied"}', { status: 200 }));
  };
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, backoffMaxMs: 1_000, timeoutMs: 100, fetch });
  client.increment('n');
  const result = await client.flush();
  assert.deepEqual([result.sent, calls], [1, 2]);
});

test('a Worker flush ends within its time budget even when every send hangs', async () => {
  const fetch = (url, init) => new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(init.signal.reason)));
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', timers: false, retries: 6,
    backoffBaseMs: 10, backoffMaxMs: 100, timeoutMs: 100, fetch });
  client.increment('n');
  const started = Date.now();
  const result = await client.flush();
  // Budget: twice backoffMaxMs for sends and sleeps, plus one timeoutMs for the last send.
  assert.ok(Date.now() - started < 600, `took ${Date.now() - started} ms`);
  assert.equal(result.queued, 1, 'kept for later');
});

test('a send that gets no answer is aborted after timeoutMs and retried', async () => {
  const s = await sink([], { hang: 1 });
  const client = createClient({ endpoint: s.url, ...fast, backoffMaxMs: 1_000, timeoutMs: 300 });
  client.increment('n', 7);
  const started = Date.now();
  const result = await client.flush();
  assert.deepEqual([result.sent, result.queued], [1, 0]);
  assert.equal(s.bodies.length, 2);
  assert.ok(same(s.bodies[0].body, s.bodies[1].body), 'the same bytes again');
  assert.ok(Date.now() - started < 5_000);
  assert.match(String(client.stats().lastError), /no answer within 300 ms|abort/i);
  s.close();
});

test('a Retry-After longer than the backoff cap ends the flush; flushes wait for it', async () => {
  const s = await sink([503, 503], { retryAfter: 120 });
  let clock = 1_000;
  const client = createClient({ endpoint: s.url, ...fast, now: () => clock });
  client.increment('n');
  const started = Date.now();
  const first = await client.flush();
  assert.ok(Date.now() - started < 1_000, 'no two-minute sleep inside a flush');
  assert.deepEqual([first.sent, first.queued, s.bodies.length], [0, 1, 1]);
  clock += 119_000;
  client.increment('n');
  await client.flush();
  assert.equal(s.bodies.length, 1, 'not before the two minutes are up');
  clock += 1_000;
  await client.flush();
  assert.equal(s.bodies.length, 2, 'then once (the server asks for two more minutes)');
  clock += 120_000;
  const last = await client.flush();
  assert.deepEqual([last.sent, last.queued], [2, 0], 'the envelope, then what was recorded meanwhile');
  const seen = s.bodies.map((b) => new EnvelopeReader(b.body));
  assert.deepEqual(seen.map((e) => e.sequence), [1, 1, 1, 2]);
  assert.equal(seen.reduce((n, e) => n + e.open('n').value, 0n) - 2n * seen[0].open('n').value, 2n);
  s.close();
});

test('Retry-After: seconds, HTTP dates, and malformed values fall back to the backoff', async () => {
  for (const [makeHeader, min, max] of [
    [() => '1', 950, 3_000],
    // An HTTP date has whole seconds: 2.5 s ahead is 1.5 to 2.5 s.
    [() => new Date(Date.now() + 2_500).toUTCString(), 1_300, 3_500],
    [() => '-1', 0, 400],
    [() => '1.5', 0, 400],
    [() => 'soon', 0, 400],
  ]) {
    const header = makeHeader();
    const s = await sink([503], { retryAfter: header });
    const client = createClient({ endpoint: s.url, ...fast, backoffMaxMs: 10_000, backoffBaseMs: 5 });
    client.increment('n');
    await client.flush();
    assert.equal(s.bodies.length, 2, header);
    const waited = s.times[1] - s.times[0];
    assert.ok(waited >= min && waited <= max, `Retry-After ${header}: waited ${waited} ms`);
    s.close();
  }
});

test('an envelope that keeps failing does not hold back the others', async () => {
  // The sink fails sequence 1 every time; 2 and 3 must still arrive.
  const s = await sink([], { failSequence: 1 });
  let clock = 1_000;
  const client = createClient({ endpoint: s.url, ...fast, retries: 1, now: () => clock });
  for (let i = 0; i < 3; i++) {
    client.increment('n');
    await client.flush();
    clock += 60_000;
  }
  for (let i = 0; i < 3; i++) {
    await client.flush();
    clock += 60_000;
  }
  const applied = new Set(s.bodies.map((b) => new EnvelopeReader(b.body).sequence).filter((q) => q !== 1));
  assert.deepEqual([...applied].sort(), [2, 3]);
  assert.equal(client.stats().queued, 1, 'sequence 1 waits, kept');
  s.close();
});

test('an envelope being sent is not dropped from a full queue', async () => {
  let release;
  const delivered = [];
  const fetch = async (url, init) => {
    const q = new EnvelopeReader(await bodyOf(init)).sequence;
    if (q === 1) await new Promise((r) => { release = r; });
    delivered.push(q);
    return new Response('{"outcome":"applied"}', { status: 200 });
  };
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, timers: false, queueLimit: 1, fetch });
  client.increment('n');
  const first = client.flush();
  await new Promise((r) => setTimeout(r, 20));
  client.increment('n');
  const second = client.flush(); // Worker mode: its own drain, which skips the busy item
  await second;
  release();
  await first;
  const st = client.stats();
  assert.deepEqual(delivered.sort(), [1, 2]);
  assert.deepEqual([st.sent, st.dropped, st.queued], [2, 0, 0]);
});

test('a duplicate answer to a first send is reported: another sender uses this replica id', async () => {
  const replica = 'fedcba9876543210fedcba9876543210';
  const fetch = async () => new Response('{"outcome":"duplicate"}', { status: 200 });
  const errors = [];
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, replica, nextSequence: 1, fetch, onError: (e) => errors.push(e) });
  client.increment('n', 5);
  const result = await client.flush();
  assert.deepEqual([result.sent, result.queued], [0, 0]);
  assert.equal(client.stats().duplicates, 1);
  assert.match(errors[0].message, new RegExp(`sequence 1 of replica ${replica}.*another sender uses this replica id`));
});

test('close() stops recording at once and sends what was recorded before', async () => {
  const s = await sink();
  const client = createClient({ endpoint: s.url, ...fast, timers: true, flushIntervalMs: 0 });
  client.increment('n', 1);
  const closing = client.close();
  assert.throws(() => client.increment('n', 10), /increment: this client is closed/);
  await closing;
  assert.throws(() => client.increment('n', 100), /closed/);
  await client.flush();
  const total = s.bodies.reduce((n, b) => n + new EnvelopeReader(b.body).open('n').value, 0n);
  assert.equal(total, 1n, 'nothing recorded after close() is sent');
  s.close();
});

test('maxEvents and maxAgeMs make envelopes on their own', async () => {
  const s = await sink();
  let clock = 1_000;
  const client = createClient({ endpoint: s.url, ...fast, timers: true, flushIntervalMs: 0, maxEvents: 5, maxAgeMs: 60_000, now: () => clock });
  for (let i = 0; i < 12; i++) client.increment('n');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(s.bodies.length, 2, 'two envelopes of 5 events');
  clock += 60_000; // the two left are now old; the next record sends them
  client.increment('n');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(s.bodies.length, 3);
  const total = s.bodies.reduce((n, b) => n + new EnvelopeReader(b.body).open('n').value, 0n);
  assert.equal(total, 13n);
  await client.close();
  s.close();
});

test('Vercel\'s Edge Runtime is request-scoped too: no timers unless asked', async () => {
  const s = await sink();
  globalThis.EdgeRuntime = 'edge-runtime';
  try {
    const client = createClient({ endpoint: s.url, ...fast, timers: undefined, maxEvents: 2, flushIntervalMs: 10 });
    for (let i = 0; i < 4; i++) client.increment('n');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual([s.bodies.length, client.stats().queued], [0, 2], 'nothing sent outside flush()');
    await client.flush();
    assert.equal(s.bodies.length, 2);
  } finally {
    delete globalThis.EdgeRuntime;
  }
  s.close();
});

test('in Worker mode (no timers) thresholds only queue; flush() sends', async () => {
  const s = await sink();
  const client = createClient({ endpoint: s.url, ...fast, timers: false, maxEvents: 2 });
  for (let i = 0; i < 4; i++) client.increment('n');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.bodies.length, 0, 'nothing sent outside flush()');
  assert.equal(client.stats().queued, 2);
  await client.flush();
  assert.equal(s.bodies.length, 2);
  s.close();
});

test('an awaited flush also waits for a send that a threshold started in the background', async () => {
  const s = await sink([503], { retryAfter: 0 });
  // Timers on (Node, browsers): reaching maxEvents starts a send in the background.
  const client = createClient({ endpoint: s.url, maxEvents: 10, ...fast, timers: true, flushIntervalMs: 60_000 });
  for (let i = 0; i < 20; i++) client.increment('n');
  const result = await client.flush();
  assert.deepEqual(result, { sent: 2, queued: 0, dropped: 0, pendingEvents: 0 });
  assert.equal(client.stats().queued, 0);
  await client.close();
  s.close();
});

test('flushBeacon splits envelopes over a beacon\'s size and keeps what the browser refuses', () => {
  const beacons = [];
  let refuse = 1; // the browser refuses the first beacon (its 64 KB budget was in use)
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, maxEvents: 1e9,
    sendBeacon: (url, blob) => {
      if (blob.size > 65_536) return false;
      if (refuse-- > 0) return false;
      beacons.push({ url, size: blob.size });
      return true;
    } });
  // Eight dense HyperLogLogs: an envelope of about 100 KB.
  for (let k = 0; k < 8; k++) {
    for (let i = 0; i < 30_000; i++) client.addUnique(`u${k}`, `${k}-${i}`);
  }
  assert.equal(client.flushBeacon(), false, 'one was refused');
  assert.ok(client.stats().split >= 1);
  assert.equal(client.stats().queued, 1, 'the refused part stays queued');
  assert.ok(beacons.every((b) => b.size <= 60_000));
  assert.ok(beacons.every((b) => /supersedes=1/.test(b.url)), 'the parts settle the envelope they replace');
  assert.equal(client.flushBeacon(), true, 'sent on the next chance');
  assert.equal(client.stats().queued, 0);
  assert.equal(client.stats().beacons, beacons.length);
  assert.equal(client.stats().sent, 0, 'a beacon is not a confirmed delivery');
});

/** Runs `body` with browser globals stubbed (window, document, navigator, window events). */
async function inBrowser(onLine, body) {
  const saved = Object.fromEntries(['window', 'document', 'navigator', 'addEventListener', 'removeEventListener', 'localStorage']
    .map((k) => [k, Object.getOwnPropertyDescriptor(globalThis, k)]));
  const win = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = 'visible';
  const define = (k, value) => Object.defineProperty(globalThis, k, { value, configurable: true, writable: true });
  define('window', globalThis);
  define('document', doc);
  define('navigator', { onLine, userAgent: 'test' });
  define('addEventListener', win.addEventListener.bind(win));
  define('removeEventListener', win.removeEventListener.bind(win));
  define('localStorage', undefined); // Node 22+ may have one: tests pass theirs as `storage`
  try {
    const show = (state) => {
      doc.visibilityState = state;
      doc.dispatchEvent(new Event('visibilitychange'));
    };
    await body({ fire: (type) => win.dispatchEvent(new Event(type)), doc, show });
  } finally {
    for (const [k, d] of Object.entries(saved)) {
      if (d) Object.defineProperty(globalThis, k, d);
      else delete globalThis[k];
    }
  }
}

test('in a browser: nothing is made or sent while offline; going online sends it all in one envelope', async () => {
  await inBrowser(false, async ({ fire }) => {
    const delivered = [];
    const fetch = async (url, init) => {
      delivered.push(new EnvelopeReader(await bodyOf(init)));
      return new Response('{"outcome":"applied"}', { status: 200 });
    };
    const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, timers: true,
      flushIntervalMs: 10, maxEvents: 5, queueLimit: 2, fetch });
    for (let i = 0; i < 40; i++) {
      client.increment('n');
      await new Promise((r) => setTimeout(r, 2));
    }
    await client.flush();
    assert.deepEqual([delivered.length, client.stats().envelopes, client.stats().dropped], [0, 0, 0]);
    fire('online');
    await client.flush();
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0].open('n').value, 40n);
    await client.close();
  });
});

test('in a browser: pagehide and a hidden page send beacons', async () => {
  await inBrowser(true, async ({ fire, show }) => {
    const beacons = [];
    const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, timers: true, flushIntervalMs: 0,
      sendBeacon: (url, blob) => { beacons.push(blob.size); return true; } });
    client.increment('n');
    fire('pagehide');
    assert.equal(beacons.length, 1);
    client.increment('n');
    show('hidden');
    assert.equal(beacons.length, 2);
    await client.close();
    client.flushBeacon();
    fire('pagehide'); // closed: listeners removed
    assert.equal(beacons.length, 2);
    assert.equal(client.stats().beacons, 2);
  });
});

test('flushBeacon: a retry sleeping in its backoff goes as a beacon; nothing is dropped for the queue limit; never offline', async () => {
  const beacons = [];
  const fetch = async () => new Response('busy', { status: 503 });
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', timers: false, backoffBaseMs: 400,
    backoffMaxMs: 1_000, queueLimit: 1, maxEvents: 1, fetch,
    sendBeacon: (url, blob) => { beacons.push(blob); return true; } });
  client.increment('n');
  const flushing = client.flush(); // 503, then sleeps before its retry
  await new Promise((r) => setTimeout(r, 50));
  client.increment('n', 10);
  client.increment('n', 100); // merged in the recorder while the server fails
  assert.equal(client.flushBeacon(), true);
  assert.equal(beacons.length, 2, 'the sleeping one, and what was recorded since');
  let total = 0n;
  for (const b of beacons) total += new EnvelopeReader(new Uint8Array(await b.arrayBuffer())).open('n').value;
  assert.equal(total, 111n);
  assert.equal(client.stats().queued, 0);
  await flushing;
  assert.equal(client.stats().sent, 0, 'the drain found it gone and did not resend it');
  await inBrowser(false, async () => {
    const offline = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast,
      sendBeacon: () => { throw new Error('no beacon while offline'); } });
    offline.increment('n');
    assert.equal(offline.flushBeacon(), false);
    assert.equal(offline.stats().pendingEvents, 1, 'kept in the recorder');
  });
});

test('flushBeacon drops nothing for the queue limit: the page is going away', () => {
  const beacons = [];
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, queueLimit: 1, maxEvents: 2,
    sendBeacon: (url, blob) => { beacons.push(blob); return true; } });
  client.increment('n', 1);
  client.increment('n', 2); // an envelope: the queue is full
  client.increment('n', 3); // in the recorder
  assert.equal(client.flushBeacon(), true);
  assert.deepEqual([beacons.length, client.stats().dropped], [2, 0]);
});

test('flushBeacon never splits an envelope a send may have applied', () => {
  const beacons = [];
  const fetch = async () => { throw new TypeError('fetch failed'); };
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, maxEvents: 1e9, retries: 0, fetch,
    sendBeacon: (url, blob) => { beacons.push(blob.size); return true; } });
  for (let k = 0; k < 8; k++) {
    for (let i = 0; i < 30_000; i++) client.addUnique(`u${k}`, `${k}-${i}`);
  }
  return client.flush().then(() => {
    assert.equal(client.flushBeacon(), false, 'too large for a beacon, and not split');
    assert.deepEqual([beacons.length, client.stats().split, client.stats().queued], [0, 0, 1]);
  });
});

test('the parts of a split keep their envelope\'s age in the queue', async () => {
  const delivered = [];
  let limit = 400;
  const fetch = async (url, init) => {
    if ((await bodyOf(init)).length > limit) return new Response('', { status: 413 });
    delivered.push(new EnvelopeReader(await bodyOf(init)));
    return new Response('{"outcome":"applied"}', { status: 200 });
  };
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, queueLimit: 3, fetch });
  for (const key of ['a', 'b', 'c', 'd']) {
    for (let i = 0; i < 40; i++) client.addUnique(`old:${key}`, `${key}-${i}`);
  }
  client.recorder.increment('new', 1);
  await client.flush();
  assert.equal(client.stats().dropped, 0);
  assert.ok(delivered.some((e) => e.entries().some((x) => x.key === 'new')));
});

test('flushBeacon sends every queued envelope with the token in the query string', () => {
  const beacons = [];
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', token: 'w k', ...fast,
    sendBeacon: (url, blob) => { beacons.push({ url, blob }); return true; } });
  client.increment('n');
  assert.equal(client.flushBeacon(), true);
  assert.equal(beacons.length, 1);
  assert.equal(beacons[0].url, 'http://127.0.0.1:9/v1/ingest?token=w%20k');
  // CORS-safelisted, so a cross-origin beacon needs no preflight.
  assert.equal(beacons[0].blob.type, 'text/plain');
  assert.equal(client.stats().queued, 0);
});

test('an error answer\'s body is read up to a cap: a huge error page is not held in memory', async () => {
  let pulled = 0;
  const fetch = async () => new Response(new ReadableStream({
    pull(controller) {
      pulled += 65_536;
      controller.enqueue(new Uint8Array(65_536).fill(0x61));
      if (pulled >= 64 << 20) controller.close();
    },
  }), { status: 503 });
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, retries: 0, fetch });
  client.increment('n');
  await client.flush();
  const message = client.stats().lastError.message;
  assert.ok(message.startsWith('HTTP 503: aaaa') && message.length < 2_100, `${message.length} characters`);
  assert.ok(pulled < 1 << 20, `${pulled} bytes read of a 64 MiB body`);
  assert.equal(client.stats().queued, 1, 'kept for a retry');
});

test('Retry-After: 0 does not turn the backoff into a retry loop', async () => {
  let calls = 0;
  const fetch = async () => { calls++; return new Response('busy', { status: 503, headers: { 'retry-after': '0' } }); };
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', timers: false, backoffBaseMs: 40,
    backoffMaxMs: 200, retries: 100, fetch });
  client.increment('n');
  await client.flush(); // runs for its budget (2 × backoffMaxMs), one send per 40 ms at most
  assert.ok(calls >= 3 && calls <= 12, `${calls} sends in 400 ms`);
});

test('a part answered "duplicate" was applied with its whole envelope: not reported lost', async () => {
  // The first send arrives but its answer is lost; the resend is refused by size, so the
  // envelope is split; the server answers its parts "duplicate" (it applied the whole).
  let calls = 0;
  const fetch = async (url) => {
    calls++;
    if (calls === 1) throw new TypeError('fetch failed: socket closed');
    if (calls === 2) return new Response('', { status: 413 });
    assert.match(url, /supersedes=1/);
    return new Response('{"outcome":"duplicate"}', { status: 200 });
  };
  const errors = [];
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, fetch, onError: (e) => errors.push(e) });
  client.increment('a');
  client.increment('b');
  await client.flush();
  const st = client.stats();
  assert.deepEqual(errors, []);
  assert.deepEqual([st.split, st.duplicates, st.sent, st.queued], [1, 0, 2, 0]);
});

test('an envelope being sent is never dropped from the queue, however long the send takes', async () => {
  let release;
  const hold = new Promise((r) => { release = r; });
  const sums = [];
  const fetch = async (url, init) => {
    const envelope = new EnvelopeReader(await bodyOf(init));
    if (envelope.sequence === 1) await hold;
    sums.push(envelope.open('n').value);
    return new Response('{"outcome":"applied"}', { status: 200 });
  };
  let clock = 1_000;
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', timers: true, flushIntervalMs: 0,
    timeoutMs: 0, maxEvents: 1, queueLimit: 1, fetch, now: () => clock });
  client.increment('n', 1); // sent, and held
  await new Promise((r) => setTimeout(r, 20));
  clock += 3_600_000; // the wall clock jumps (a laptop resuming)
  for (let i = 0; i < 5; i++) client.increment('n', 10);
  release();
  await client.close();
  assert.equal(client.stats().dropped, 0);
  assert.equal(sums.reduce((a, b) => a + b, 0n), 51n);
});

test('a wall clock stepped back does not stall sending', async () => {
  let up = false;
  const fetch = async () => (up ? new Response('{"outcome":"applied"}', { status: 200 }) : new Response('', { status: 503 }));
  let clock = 1_000_000_000_000;
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, retries: 0, fetch, now: () => clock });
  client.increment('n');
  await client.flush(); // fails: a backoff of at most 50 ms from now
  up = true;
  clock -= 3_600_000; // NTP steps the clock back an hour: the wait starts again from here
  assert.equal((await client.flush()).sent, 0);
  clock += 1_000;
  const result = await client.flush();
  assert.deepEqual([result.sent, result.queued], [1, 0]);
});

test('an envelope back from a failed send is not dropped, though the queue filled meanwhile', async () => {
  // Worker mode: request A's send hangs; request B makes an envelope (the queue's one free slot)
  // and fails it; then A's send fails and its envelope waits again. It was dropped as the oldest.
  let release;
  let up = false;
  const held = new Promise((r) => { release = r; });
  const sums = [];
  const fetch = async (url, init) => {
    const envelope = new EnvelopeReader(await bodyOf(init));
    if (envelope.sequence === 1 && !up) await held;
    if (!up) return new Response('', { status: 503 });
    sums.push(envelope.open('n').value);
    return new Response('{"outcome":"applied"}', { status: 200 });
  };
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, retries: 1, queueLimit: 1, fetch });
  client.increment('n', 1);
  const a = client.flush();
  await new Promise((r) => setTimeout(r, 20));
  client.increment('n', 10);
  await client.flush();
  release();
  await a;
  assert.deepEqual([client.stats().dropped, client.stats().queued], [0, 2]);
  up = true;
  await new Promise((r) => setTimeout(r, 60)); // past the backoff
  await client.flush();
  assert.equal(sums.reduce((x, y) => x + y, 0n), 11n);
});

// --- Unsent envelopes kept in storage when a page goes away (option `storage`).

/** A Web Storage in memory; `limitChars`: its quota (keys and values, as browsers count it). */
function memoryStorage(limitChars = Infinity) {
  const map = new Map();
  return {
    map,
    get length() { return map.size; },
    key: (i) => [...map.keys()][i] ?? null,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem(k, v) {
      let used = k.length + String(v).length;
      for (const [key, value] of map) if (key !== k) used += key.length + value.length;
      if (used > limitChars) throw new DOMException('the quota has been exceeded', 'QuotaExceededError');
      map.set(k, String(v));
    },
    removeItem: (k) => { map.delete(k); },
  };
}
const savedKeys = (storage) => [...storage.map.keys()].filter((k) => k.startsWith('edgesketch:unsent:'));

/** A server applying each (replica, sequence) once, reached by fetch and by beacons; `up`: it
 * answers (else 503, and beacons sent meanwhile are lost); `beaconQuota`: bytes of beacons the
 * browser takes, after which `sendBeacon` answers false. */
function exactlyOnce({ beaconQuota = 65_536 } = {}) {
  const applied = new Map();
  const state = { up: true, quota: beaconQuota, pendingBeacons: [], beaconsTaken: 0 };
  const apply = (bytes) => {
    const envelope = new EnvelopeReader(bytes);
    const id = `${envelope.replica}/${envelope.sequence}`;
    if (applied.has(id)) return 'duplicate';
    applied.set(id, envelope);
    return 'applied';
  };
  return {
    state,
    applied,
    fetch: async (url, init) => {
      if (!state.up) return new Response('down', { status: 503 });
      return new Response(JSON.stringify({ outcome: apply(await bodyOf(init)) }), { status: 200 });
    },
    sendBeacon: (url, blob) => {
      if (blob.size > state.quota) return false;
      state.quota -= blob.size;
      state.beaconsTaken++;
      state.pendingBeacons.push(state.up ? blob : null); // sent while down: refused, lost
      return true;
    },
    /** The beacons arrive (the browser sends them after the page is gone). */
    async deliverBeacons() {
      for (const blob of state.pendingBeacons.splice(0)) if (blob) apply(new Uint8Array(await blob.arrayBuffer()));
      state.quota = beaconQuota;
    },
    /** The sum of counter `key` over every envelope applied. */
    total(key) {
      let sum = 0n;
      for (const envelope of applied.values()) if (envelope.entries().some((e) => e.key === key)) sum += envelope.open(key).value;
      return sum;
    },
    /** The union of HyperLogLog `key` over every envelope applied. */
    union(key) {
      const merged = new HyperLogLog();
      for (const envelope of applied.values()) if (envelope.entries().some((e) => e.key === key)) merged.merge(envelope.open(key));
      return merged;
    },
  };
}

// backoffMaxMs 2 s: a flush's budget (twice that) holds every send of a restored backlog on a busy machine.
const page = { endpoint: 'http://127.0.0.1:9/v1/ingest', token: 'page-token', ...fast, backoffMaxMs: 2_000, maxEvents: 1e9, maxAgeMs: 1e9, flushIntervalMs: 0 };

test('storage: a backlog past the 64 KiB beacon quota is saved on pagehide and the next page sends it, each envelope once', async () => {
  await inBrowser(true, async ({ fire }) => {
    const server = exactlyOnce();
    const storage = memoryStorage();
    const expected = new HyperLogLog();
    const first = createClient({ ...page, storage, fetch: server.fetch, sendBeacon: server.sendBeacon });
    // Eight dense HyperLogLogs (~100 KB) and a counter, all in the recorder when the page goes.
    for (let k = 0; k < 8; k++) {
      for (let i = 0; i < 20_000; i++) {
        first.addUnique(`u${k}`, `${k}-${i}`);
        if (k === 0) expected.add(`${k}-${i}`);
      }
    }
    for (let i = 0; i < 1_000; i++) first.increment('n');
    fire('pagehide');
    await server.deliverBeacons();
    const beaconed = first.stats().beacons;
    assert.ok(beaconed >= 1 && first.stats().queued >= 1, `${beaconed} beacons, ${first.stats().queued} left by the quota`);
    assert.equal(savedKeys(storage).length, 1);
    assert.ok(server.applied.size < 8, 'the beacons alone did not carry everything');

    const errors = [];
    const next = createClient({ ...page, storage, fetch: server.fetch, sendBeacon: server.sendBeacon, onError: (e) => errors.push(e) });
    // What the quota left, and the beacons (their answers were never seen).
    const restored = first.stats().queued + beaconed;
    assert.equal(next.stats().restored, restored);
    const result = await next.flush();
    assert.deepEqual([result.queued, next.stats().sent, next.stats().duplicates], [0, restored, 0]);
    assert.deepEqual(errors, []);
    assert.deepEqual(savedKeys(storage), [], 'taken over');
    assert.equal(server.total('n'), 1_000n);
    assert.deepEqual(server.union('u0').toBytes(), expected.toBytes(), 'the same registers as recorded');
    // A third page finds nothing to take over.
    assert.equal(createClient({ ...page, storage, fetch: server.fetch }).stats().restored, 0);
  });
});

test('storage: beacons are kept too (the server may have failed), and a resend of one that arrived counts once', async () => {
  await inBrowser(true, async ({ fire }) => {
    for (const beaconsArrive of [false, true]) {
      const server = exactlyOnce();
      const storage = memoryStorage();
      const first = createClient({ ...page, retries: 0, storage, fetch: server.fetch, sendBeacon: server.sendBeacon });
      first.increment('n', 5);
      server.state.up = false;
      await first.flush(); // 503: queued, the client is in its backoff
      first.increment('n', 7);
      server.state.up = beaconsArrive; // the beacons reach a server that is back, or are refused
      fire('pagehide');
      await server.deliverBeacons();
      assert.equal(first.stats().beacons, 2);
      assert.equal(server.total('n'), beaconsArrive ? 12n : 0n);
      server.state.up = true;
      const errors = [];
      const next = createClient({ ...page, storage, fetch: server.fetch, onError: (e) => errors.push(e) });
      assert.equal(next.stats().restored, 2);
      await next.flush();
      assert.equal(server.total('n'), 12n, `beacons ${beaconsArrive ? 'arrived' : 'lost'}: each event counted once`);
      assert.deepEqual([next.stats().sent, next.stats().duplicates, errors.length], [2, 0, 0],
        'a "duplicate" for a saved envelope is not another sender reusing the replica id');
    }
  });
});

test('storage: offline, everything recorded is saved on pagehide, for the same endpoint and token only', async () => {
  const storage = memoryStorage();
  await inBrowser(false, async ({ fire }) => {
    const first = createClient({ ...page, storage, sendBeacon: () => { throw new Error('no beacon while offline'); } });
    first.increment('n', 3);
    first.addUnique('u', 'ada');
    fire('pagehide');
    assert.deepEqual([first.stats().pendingEvents, savedKeys(storage).length], [0, 1]);
  });
  await inBrowser(true, async () => {
    const server = exactlyOnce();
    for (const other of [{ token: 'another-token' }, { endpoint: 'http://127.0.0.1:9/v1/ingest?tenant=b' }, { storage: null }]) {
      const client = createClient({ ...page, storage, ...other, fetch: server.fetch });
      assert.equal(client.stats().restored, 0, JSON.stringify(other));
    }
    assert.equal(savedKeys(storage).length, 1, 'left for its own client');
    const next = createClient({ ...page, storage, fetch: server.fetch });
    await next.flush();
    assert.deepEqual([next.stats().restored, server.total('n')], [1, 3n]);
  });
});

test('storage: a page shown again takes its envelopes back; unreadable and expired entries are removed', async () => {
  await inBrowser(true, async ({ show }) => {
    const server = exactlyOnce();
    const storage = memoryStorage();
    const client = createClient({ ...page, retries: 0, storage, fetch: server.fetch, sendBeacon: server.sendBeacon });
    client.increment('n', 2);
    server.state.up = false;
    await client.flush();
    show('hidden');
    assert.deepEqual([client.stats().beacons, client.stats().queued, savedKeys(storage).length], [1, 0, 1]);
    await server.deliverBeacons(); // refused: the server is down
    server.state.up = true;
    show('visible');
    assert.deepEqual([client.stats().queued, savedKeys(storage).length], [1, 0], 'the uncertain beacon is queued again');
    await new Promise((r) => setTimeout(r, 60)); // past the backoff
    await client.flush();
    assert.equal(server.total('n'), 2n);
    await client.close();

    // A saved entry with one envelope spoiled, garbage under the prefix, an expired entry of
    // another client, a fresh one.
    const left = createClient({ ...page, storage, sendBeacon: () => false });
    left.increment('n', 1);
    left.flushBeacon();
    left.increment('n', 10);
    left.flushBeacon();
    const [key] = savedKeys(storage);
    const saved = JSON.parse(storage.getItem(key));
    assert.equal(saved.envelopes.length, 2);
    saved.envelopes[0].bytes = 'AAAA';
    storage.setItem(key, JSON.stringify(saved));
    storage.setItem('edgesketch:unsent:garbage', '{not json');
    storage.setItem('edgesketch:unsent:old', JSON.stringify({ ...saved, endpoint: 'http://elsewhere/v1/ingest', savedAt: Date.now() - 26 * 3600_000 }));
    storage.setItem('edgesketch:unsent:fresh', JSON.stringify({ ...saved, endpoint: 'http://elsewhere/v1/ingest', savedAt: Date.now() }));
    storage.setItem('unrelated', 'kept');
    const errors = [];
    const next = createClient({ ...page, storage, fetch: server.fetch, onError: (e) => errors.push(e.message) });
    assert.equal(savedKeys(storage).length, 2, 'the fresh one, and what `next` took, saved again under its own key');
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.ok(errors.some((m) => m.includes(`an unsent envelope saved under ${key} is unreadable, skipped`)), errors.join('\n'));
    assert.ok(errors.some((m) => m.includes('edgesketch:unsent:garbage are unreadable, removed')), errors.join('\n'));
    assert.equal(next.stats().restored, 1);
    await next.flush();
    assert.equal(server.total('n'), 12n, 'the second envelope of the spoiled entry arrived');
    assert.deepEqual([...storage.map.keys()].sort(), ['edgesketch:unsent:fresh', 'unrelated'], 'delivered: its copy is gone');
  });
});

test('storage: a quota that cannot hold the backlog keeps the newest envelopes and says how many are lost', async () => {
  await inBrowser(false, async ({ fire }) => {
    const storage = memoryStorage(2_000);
    const errors = [];
    const client = createClient({ ...page, storage, maxEvents: 1, onError: (e) => errors.push(e.message) });
    // Offline: one envelope per pagehide (the recorder holds what comes between).
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 300; j++) client.addUnique('u', `${i}-${j}`);
      fire('pagehide');
    }
    const saved = JSON.parse(storage.getItem(savedKeys(storage)[0])).envelopes;
    assert.ok(saved.length >= 1 && saved.length < 4, `${saved.length} of 4 saved`);
    assert.match(errors.at(-1), new RegExp(`^storage took ${saved.length} of 4 unsent envelopes: ${4 - saved.length} are lost if the page does not come back$`));
    assert.equal(client.stats().queued, 4, 'all still queued while the page lives');
  });
  assert.throws(() => createClient({ ...page, storage: 5 }), /storage must be a Web Storage \(localStorage\) or null, and has no getItem\(\)/);
  assert.throws(() => createClient({ ...page, storage: { getItem() {}, setItem() {}, removeItem() {} } }), /has no key\(\)/);
});

test('storage: beacons to a server that failed unseen are resent by the next page', async () => {
  await inBrowser(true, async ({ fire }) => {
    const server = exactlyOnce();
    const storage = memoryStorage();
    const first = createClient({ ...page, storage, fetch: server.fetch, sendBeacon: server.sendBeacon });
    first.increment('n', 5);
    await first.flush(); // delivered: the client has seen no failure
    first.increment('n', 10);
    server.state.up = false; // the server dies; the page does not know
    fire('pagehide');
    await server.deliverBeacons(); // refused
    server.state.up = true;
    const next = createClient({ ...page, storage, fetch: server.fetch });
    await next.flush();
    assert.equal(server.total('n'), 15n);
  });
});

test('storage: an envelope another page left is never split here (it cannot number the parts); too large for the server, it is dropped and reported, not stuck', async () => {
  await inBrowser(false, async ({ fire }) => {
    const storage = memoryStorage();
    // A sender whose saved envelope has one huge entry (it cannot be split by anyone).
    const first = createClient({ ...page, storage });
    for (let i = 0; i < 30_000; i++) first.addUnique('u', `${i}`);
    fire('pagehide');
    assert.equal(savedKeys(storage).length, 1);
    await inBrowser(true, async () => {
      const errors = [];
      let sends = 0;
      const fetch = async () => { sends++; return new Response('', { status: 413 }); };
      const next = createClient({ ...page, storage, fetch, onError: (e) => errors.push(e.message) });
      await next.flush();
      assert.equal(sends, 1);
      assert.deepEqual([next.stats().tooLarge, next.stats().queued], [1, 0]);
      assert.ok(errors.some((m) => /another page left .* only its own client could split it: dropped/.test(m)), errors.join('\n'));
    });
  });
});

test('storage: clients that only took over others\' envelopes keep them under keys of their own; none is dropped for the queue limit', async () => {
  await inBrowser(false, async ({ fire }) => {
    const storage = memoryStorage();
    const expected = { n: 0n };
    // Two pages leave, offline, with 40 envelopes each (one per pagehide); the second took the
    // first's over as it started.
    for (let p = 0; p < 2; p++) {
      const client = createClient({ ...page, storage });
      for (let e = 0; e < 40; e++) {
        client.increment('n', 1);
        expected.n += 1n;
        fire('pagehide');
      }
      await client.close(); // its listeners gone (it was the page's)
    }
    assert.equal(savedKeys(storage).length, 1);
    // A page takes them over (queue limit 8), still offline: it saves them under its own key at
    // once; then another takes that copy over. Neither made an envelope of its own (no replica id).
    const b = createClient({ ...page, storage, queueLimit: 8 });
    assert.deepEqual([b.stats().restored, b.stats().dropped, savedKeys(storage).length], [80, 0, 1]);
    const c = createClient({ ...page, storage, queueLimit: 8 });
    assert.deepEqual([c.stats().restored, c.stats().dropped, savedKeys(storage).length], [80, 0, 1]);
    // (No pagehide: the pages crashed.) Online, a last page takes everything over and sends it.
    await inBrowser(true, async () => {
      const server = exactlyOnce();
      const last = createClient({ ...page, storage, queueLimit: 8, fetch: server.fetch });
      assert.deepEqual([last.stats().restored, last.stats().dropped], [80, 0]);
      // A flush stops starting sends after twice backoffMaxMs (50 ms here): as many as it takes.
      for (let i = 0; i < 100 && (await last.flush()).queued > 0; i++);
      assert.equal(server.total('n'), expected.n);
      assert.deepEqual(savedKeys(storage), [], 'delivered: the copy is gone');
    });
  });
});

test('storage: close() saves what it could not deliver', async () => {
  await inBrowser(false, async () => {
    const storage = memoryStorage();
    const client = createClient({ ...page, storage });
    client.increment('n', 5);
    const result = await client.close();
    assert.equal(result.pendingEvents, 1);
    assert.equal(savedKeys(storage).length, 1);
    await inBrowser(true, async () => {
      const server = exactlyOnce();
      const next = createClient({ ...page, storage, fetch: server.fetch });
      await next.flush();
      assert.equal(server.total('n'), 5n);
    });
  });
});

test('storage: a backlog is saved in parts below the server\'s default entry limit (another page cannot split it)', async () => {
  await inBrowser(false, async ({ fire }) => {
    const storage = memoryStorage();
    const client = createClient({ ...page, storage });
    for (let i = 0; i < 3_000; i++) client.increment(`k${i}`, 1);
    fire('pagehide');
    const saved = JSON.parse(storage.getItem(savedKeys(storage)[0])).envelopes;
    assert.ok(saved.length >= 3, `${saved.length} parts`);
    let entries = 0;
    for (const { bytes } of saved) {
      const count = new EnvelopeReader(Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0))).entries().length;
      assert.ok(count <= 1024, `${count} entries`);
      entries += count;
    }
    assert.equal(entries, 3_000);
  });
});

test('storage: a page shown again resends its beacons, also those sent while it had seen no failure', async () => {
  await inBrowser(true, async ({ show }) => {
    const server = exactlyOnce();
    const storage = memoryStorage();
    const client = createClient({ ...page, storage, fetch: server.fetch, sendBeacon: server.sendBeacon });
    client.increment('n', 5);
    await client.flush();
    client.increment('n', 10);
    server.state.up = false; // the server fails; the page has not seen it
    show('hidden');
    await server.deliverBeacons(); // refused
    server.state.up = true;
    show('visible');
    await client.flush();
    assert.equal(server.total('n'), 15n);
    await client.close();
  });
});

test('storage: events recorded by the app\'s own listener while the page is hidden go at once', async () => {
  await inBrowser(true, async ({ doc, show }) => {
    const server = exactlyOnce();
    const storage = memoryStorage();
    const client = createClient({ ...page, storage, fetch: server.fetch, sendBeacon: server.sendBeacon });
    // The app's listener comes after the client's: the client's own flush has run already.
    doc.addEventListener('visibilitychange', () => { if (doc.visibilityState === 'hidden') client.increment('left', 1); });
    show('hidden');
    await Promise.resolve(); // the microtask the recording queued
    assert.equal(client.stats().beacons, 1);
    await server.deliverBeacons();
    assert.equal(server.total('left'), 1n);
    await client.close();
  });
});

test('storage: while the server cannot be reached, each page beacons only its own envelopes, not the backlog it took over', async () => {
  await inBrowser(true, async ({ fire }) => {
    const storage = memoryStorage();
    const unreachable = async () => { throw new TypeError('fetch failed'); };
    for (let view = 0; view < 10; view++) {
      let beacons = 0;
      const client = createClient({ ...page, retries: 0, storage, fetch: unreachable,
        sendBeacon: () => { beacons++; return true; } }); // taken by the browser, lost on the way
      await client.flush();
      client.increment('n', 1);
      fire('pagehide');
      await client.close();
      assert.equal(beacons, 1, `view ${view}: ${beacons} beacons`);
    }
    await inBrowser(true, async () => {
      const server = exactlyOnce();
      const last = createClient({ ...page, storage, fetch: server.fetch });
      for (let i = 0; i < 100 && (await last.flush()).queued > 0; i++);
      assert.equal(server.total('n'), 10n);
    });
  });
});

test('storage: a backlog passed on while the server cannot be reached stays under 2 M characters, the oldest dropped and reported', async () => {
  await inBrowser(false, async ({ fire }) => {
    const storage = memoryStorage();
    const errors = [];
    let dropped = 0;
    // Page views offline, each leaving a dense-ish precision-18 HyperLogLog (~163 K characters).
    for (let view = 0; view < 16; view++) {
      const client = createClient({ ...page, storage, onError: (e) => errors.push(e.message) });
      for (let i = 0; i < 200_000; i++) client.addUnique('u', `${view}-${i}`, 18);
      fire('pagehide');
      await client.close();
      dropped += client.stats().dropped;
    }
    const [key] = savedKeys(storage);
    const chars = storage.getItem(key).length;
    assert.ok(chars <= 2_100_000, `${chars} characters saved`);
    assert.ok(dropped >= 1, `${dropped} dropped`);
    assert.ok(errors.some((m) => /passed 2000000 characters in storage .* dropped the \d+ oldest/.test(m)), errors.join('\n'));
  });
});

test('storage: a saved beacon made more than 23 h ago is not resent (the server would refuse it)', async () => {
  await inBrowser(true, async ({ fire }) => {
    const storage = memoryStorage();
    const yesterday = Date.now() - 23.5 * 3600_000;
    const first = createClient({ ...page, storage, now: () => yesterday, sendBeacon: () => true });
    first.increment('n', 1);
    fire('pagehide');
    await first.close();
    assert.equal(savedKeys(storage).length, 1);
    const errors = [];
    const next = createClient({ ...page, storage, fetch: exactlyOnce().fetch, onError: (e) => errors.push(e) });
    assert.deepEqual([next.stats().restored, errors.length], [0, 0]);
  });
});
