// The packed package in Cloudflare's runtime: a real Worker on workerd (npm), on 127.0.0.1,
// importing the package through its `workerd` entry, recording from requests and flushing to a
// local sink. Run by scripts/test-npm.sh from the scratch project that installed the tarball.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

import { edgeAppTests, freePort, startSink } from './edge-checks.mjs';

const golden = process.env.EDGESKETCH_GOLDEN;
const workerdBin = process.env.WORKERD_BIN;
let sink;
let workerd;
let base;
let workerdLog = '';

before(async () => {
  assert.ok(workerdBin, 'WORKERD_BIN must point at the workerd binary (npm workerd)');
  sink = await startSink(golden);
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
    (name = "entry.js", esModule = embed "${pkg}/entry.js"),
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

edgeAppTests('workerd', () => ({ base, log: () => workerdLog, received: sink.received, sinkUrl: sink.url }));
