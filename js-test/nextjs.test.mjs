// The packed package in Vercel's Edge Runtime: the Worker of js-test/workerd/worker.mjs served as a
// Next.js edge route (`export const runtime = 'edge'`), built by `next build` with Turbopack (Next
// 16's default) and with webpack, and run by `next start` on 127.0.0.1, which runs edge routes in
// Vercel's edge-runtime sandbox. The bundlers resolve the package's `edge-light` entry, whose
// `?module` import of the .wasm they hand over as a compiled WebAssembly.Module of the host's realm.
// Run from the scratch project by scripts/test-npm.sh, where `edgesketch` is installed; Next.js
// and React come from the repository's node_modules (NEXT_FROM).
import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { createRequire } from 'node:module';

import { edgeAppTests, freePort, startSink } from './edge-checks.mjs';

const golden = process.env.EDGESKETCH_GOLDEN;
const nextBin = createRequire(process.env.NEXT_FROM ?? import.meta.url).resolve('next/dist/bin/next');
const app = join(process.cwd(), 'next-app');
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };

// One dynamic segment, the operation the Worker answers (/record, /flush, ...); `after()` is what
// Next.js gives for `ctx.waitUntil`. At the root on the edge runtime; under /node/ the same app on
// Next's Node.js runtime (its default: routes and `proxy.js`), which takes the package's Node
// entry, bundled by Turbopack too.
const route = (edge, up) => `import worker from '${up}worker.mjs';
import { after } from 'next/server';
${edge ? "\nexport const runtime = 'edge';" : ''}
export const dynamic = 'force-dynamic';

export function GET(request) {
  return worker.fetch(request, {}, { waitUntil: (promise) => after(promise) });
}
`;

before(() => {
  rmSync(app, { recursive: true, force: true });
  mkdirSync(join(app, 'app', '[op]'), { recursive: true });
  mkdirSync(join(app, 'app', 'node', '[op]'), { recursive: true });
  writeFileSync(join(app, 'package.json'), '{ "name": "next-edge-app", "private": true }\n');
  writeFileSync(join(app, 'app', '[op]', 'route.js'), route(true, '../../'));
  writeFileSync(join(app, 'app', 'node', '[op]', 'route.js'), route(false, '../../../'));
  for (const file of ['worker.mjs', 'golden.mjs']) copyFileSync(file, join(app, file));
});

/** Runs the Next.js CLI in the app; resolves to its output, or rejects with it. */
function next(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [nextBin, ...args], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`next ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

for (const bundler of ['turbopack', 'webpack']) {
  describe(`Next.js edge route built with ${bundler}`, () => {
    let sink;
    let server;
    let base;
    let log = '';

    before(async () => {
      rmSync(join(app, '.next'), { recursive: true, force: true });
      const built = await next(['build', ...(bundler === 'webpack' ? ['--webpack'] : [])]);
      assert.match(built, /ƒ \/\[op\]/, `the route was built as a dynamic (edge) route:\n${built}`);
      assert.match(built, /ƒ \/node\/\[op\]/, `the Node.js route was built:\n${built}`);
      sink = await startSink(golden);
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      server = spawn(process.execPath, [nextBin, 'start', '-H', '127.0.0.1', '-p', String(port)], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
      server.stdout.on('data', (d) => { log += d; });
      server.stderr.on('data', (d) => { log += d; });
      for (let i = 0; ; i++) {
        try {
          const res = await fetch(base + '/estimates');
          if (res.ok) break;
        } catch {}
        if (i > 300 || server.exitCode !== null) throw new Error(`next start did not answer: ${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    after(async () => {
      if (server && server.exitCode === null) {
        server.kill();
        await once(server, 'exit');
      }
      await sink?.close();
    });

    const served = (prefix) => () => ({ base: base + prefix, log: () => log, received: sink.received, sinkUrl: sink.url });
    edgeAppTests(`Next.js (${bundler})`, served(''));
    edgeAppTests(`Next.js (${bundler}), Node.js runtime`, served('/node'), { client: false });
  });
}
