// The packed package in Cloudflare's runtime: a real Worker on workerd (npm), on 127.0.0.1,
// importing the package through its `workerd` entry, recording from requests and flushing to a
// local sink. Run by scripts/test-npm.sh from the scratch project that installed the tarball.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';

const golden = process.env.EDGESKETCH_GOLDEN;
const workerdBin = process.env.WORKERD_BIN;
const received = [];
let sink;
let workerd;
let base;
let sinkUrl;
let workerdLog = '';

async function freePort() {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  return port;
}

before(async () => {
  assert.ok(workerdBin, 'WORKERD_BIN must point at the workerd binary (npm workerd)');
  // The sink: takes envelopes, and serves the golden vectors to the Worker.
  sink = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/ingest') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => { received.push(new Uint8Array(Buffer.concat(chunks))); res.end('{"outcome":"applied"}'); });
      return;
    }
    if (req.method === 'GET' && req.url.startsWith('/golden/')) {
      try {
        res.end(readFileSync(join(golden, req.url.slice('/golden/'.length))));
      } catch {
        res.statusCode = 404;
        res.end();
      }
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  sinkUrl = `http://127.0.0.1:${sink.address().port}`;

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const pkg = 'node_modules/edgesketch';
  writeFileSync('workerd.capnp', `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "golden.mjs", esModule = embed "golden.mjs"),
    (name = "edgesketch", esModule = embed "${pkg}/workerd.js"),
    (name = "web/edgesketch.js", esModule = embed "${pkg}/web/edgesketch.js"),
    (name = "client.js", esModule = embed "${pkg}/client.js"),
    (name = "batch.js", esModule = embed "${pkg}/batch.js"),
    (name = "web/edgesketch_bg.wasm", wasm = embed "${pkg}/web/edgesketch_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  globalOutbound = "loopback",
);
`);
  workerd = spawn(workerdBin, ['serve', 'workerd.capnp', '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'] });
  workerd.stdout.on('data', (d) => { workerdLog += d; });
  workerd.stderr.on('data', (d) => { workerdLog += d; });
  for (let i = 0; ; i++) {
    try {
      await fetch(base + '/estimates');
      break;
    } catch (e) {
      if (i > 100 || workerd.exitCode !== null) throw new Error(`workerd did not start: ${workerdLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  workerd?.kill();
  sink?.close();
});

async function get(path) {
  const res = await fetch(base + path);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body) + '\n' + workerdLog);
  return body;
}

test('a Worker records from requests, and its client flushes through ctx.waitUntil', async () => {
  await get(`/configure?sink=${encodeURIComponent(sinkUrl + '/ingest')}`);
  for (let i = 0; i < 300; i++) {
    await get(`/record?user=user-${i % 120}&page=/page-${i % 7 === 0 ? 'hot' : i % 30}`);
  }
  const est = await get('/estimates');
  assert.equal(est.visitors.value, 120);
  assert.equal(est.visitors.exact, true);
  assert.equal(est.top.guaranteed[0].item, '/page-hot');
  assert.deepEqual(est.redis, [72, 89, 76, 76]); // "HYLL"

  // 900 record calls (three per request) at maxEvents 100: nine envelopes made, none sent (no
  // timers in a Worker, and no flush yet).
  assert.equal(received.length, 0, 'nothing left the Worker outside a flush');
  const flushed = await get('/flush');
  assert.deepEqual([flushed.before.envelopes, flushed.before.queued, flushed.before.sent], [9, 9, 0]);
  for (let i = 0; i < 50 && received.length < 9; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(received.length, 9, 'the sink got the envelopes');
  // Decoded on this side (Node) with the same package: one replica, sequences 1..9, all counts.
  const es = await import('edgesketch');
  const envs = received.map((b) => new es.EnvelopeReader(b));
  assert.match(envs[0].replica, /^[0-9a-f]{32}$/);
  assert.ok(envs.every((e) => e.replica === envs[0].replica));
  assert.deepEqual(envs.map((e) => e.sequence).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(envs.reduce((n, e) => n + e.open('requests').value, 0n), 300n);
  const union = new es.HyperLogLog();
  for (const e of envs) union.merge(e.open('uniques:site'));
  const uniques = union.estimate();
  // The encoding keeps fewer key bits than the live sketch: near-exact, within its bound.
  assert.ok(uniques.lower <= 120 && 120 <= uniques.upper && Math.abs(uniques.value - 120) < 0.5, JSON.stringify(uniques));
  // Nothing new: nothing more is sent.
  const again = await get('/flush?wait=1');
  assert.equal(again.after.envelopes, 9);
  assert.equal(again.after.sent, 9);
});

test('golden vectors: workerd makes the same bytes as native', async () => {
  const results = await get(`/golden?base=${encodeURIComponent(sinkUrl + '/golden/')}`);
  const failed = results.filter((r) => !r.ok);
  assert.deepEqual(failed, []);
  assert.ok(results.filter((r) => r.what.startsWith('rebuilt')).length >= 20, `${results.length} checks`);
});

test('errors reach the Worker as real Errors', async () => {
  const e = await get('/error');
  assert.deepEqual([e.threw, e.isError], [true, true]);
  assert.match(e.message, /precision 99/);
});
