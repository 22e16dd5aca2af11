// The packed package under Deno (npm `deno`), from the scratch project's node_modules: the golden
// vectors make native's bytes, errors are real Errors, and the edge client delivers to a local
// sink on 127.0.0.1. Run by scripts/test-npm.sh; DENO_BIN points at the binary.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

import { EnvelopeReader, HyperLogLog } from 'edgesketch';
import { startSink } from './edge-checks.mjs';

const sink = await startSink(process.env.EDGESKETCH_GOLDEN);
after(() => sink.close());

test('Deno runs the package: golden vectors, errors, and the client delivering to a sink', async () => {
  assert.ok(process.env.DENO_BIN, 'DENO_BIN must point at the deno binary (npm deno)');
  // Reads only the golden vectors: the package itself needs no permission (its module is inlined).
  const deno = spawn(process.env.DENO_BIN, ['run', `--allow-read=${process.env.EDGESKETCH_GOLDEN}`, '--allow-net=127.0.0.1', 'deno-app.mjs',
    process.env.EDGESKETCH_GOLDEN, `${sink.url}/ingest`],
  { env: { ...process.env, DENO_DIR: `${process.cwd()}/.deno`, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  deno.stdout.on('data', (d) => { out += d; });
  deno.stderr.on('data', (d) => { err += d; });
  const [code] = await once(deno, 'exit');
  assert.equal(code, 0, `deno exited ${code}: ${err}`);
  const done = JSON.parse(out.trim().split('\n').at(-1));
  assert.deepEqual(done.results.filter((r) => !r.ok), []);
  assert.ok(done.results.filter((r) => r.what.startsWith('rebuilt')).length >= 20);
  assert.deepEqual([done.error.isError, /alpha/.test(done.error.message)], [true, true], JSON.stringify(done.error));
  assert.deepEqual([done.flushed.queued, done.flushed.pendingEvents, done.stats.dropped], [0, 0, 0], JSON.stringify(done.stats));
  let orders = 0n;
  const visitors = new HyperLogLog();
  const received = sink.received.map((bytes) => new EnvelopeReader(bytes));
  for (const envelope of received) {
    for (const { key } of envelope.entries()) {
      if (key === 'orders') orders += envelope.open(key).value;
      if (key === 'visitors') visitors.merge(envelope.open(key));
    }
  }
  assert.equal(orders, 500n);
  assert.ok(received.length >= 3, `${received.length} envelopes (maxEvents 200)`);
  assert.deepEqual(Array.from(visitors.toBytes()), done.visitors, 'the union of what arrived is what Deno recorded');
  const expected = new HyperLogLog();
  for (let i = 0; i < 120; i++) expected.add(`user-${i}`);
  assert.deepEqual(done.visitors, Array.from(expected.toBytes()), 'the same bytes as in Node');
});
