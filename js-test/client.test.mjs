// The edge client against a local sink that fails on purpose: retries resend the same bytes,
// Retry-After is honoured, 413 splits, permanent refusals drop, a full queue drops the oldest,
// thresholds make envelopes, beacons carry the token. Run from the scratch project.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { createClient, EnvelopeReader } from 'edgesketch';

const servers = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** A sink answering each POST with the next scripted status (then 200), keeping every body. */
async function sink(script = [], { limit = Infinity, retryAfter } = {}) {
  const bodies = [];
  const times = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = new Uint8Array(Buffer.concat(chunks));
      bodies.push({ body, auth: req.headers.authorization, type: req.headers['content-type'], url: req.url });
      times.push(Date.now());
      const status = body.length > limit ? 413 : (script.shift() ?? 200);
      if (status === 429 && retryAfter !== undefined) res.setHeader('retry-after', String(retryAfter));
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
});

test('network errors, 503 and 429 are retried with the same bytes until applied', async () => {
  const s = await sink([503, 502, 429, 408], { retryAfter: 0 });
  const client = createClient({ endpoint: s.url, token: 'secret', ...fast });
  client.increment('requests', 3);
  client.addUnique('uniques', 'ada');
  const result = await client.flush();
  assert.deepEqual(result, { sent: 1, queued: 0, dropped: 0 });
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
  const client = createClient({ endpoint: s.url, ...fast });
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

test('a full queue drops the oldest envelope and counts it', async () => {
  let up = false;
  const delivered = [];
  const fetch = async (url, init) => {
    if (!up) throw new TypeError('fetch failed');
    delivered.push(new EnvelopeReader(init.body).sequence);
    return new Response('{}', { status: 200 });
  };
  const client = createClient({ endpoint: 'http://127.0.0.1:9/v1/ingest', ...fast, retries: 0, queueLimit: 2, fetch });
  for (let i = 1; i <= 4; i++) {
    client.increment('n', i);
    await client.flush();
  }
  const st = client.stats();
  assert.deepEqual([st.envelopes, st.dropped, st.queued], [4, 2, 2]);
  up = true;
  await client.flush();
  assert.deepEqual(delivered, [3, 4], 'the two newest survive, in order');
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
  assert.deepEqual(result, { sent: 2, queued: 0, dropped: 0 });
  assert.equal(client.stats().queued, 0);
  await client.close();
  s.close();
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
