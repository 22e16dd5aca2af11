// A Worker as users write one: record events from requests, flush an envelope to a sink with
// ctx.waitUntil, answer estimates. Served by workerd in js-test/workerd.test.mjs, and by a Next.js
// edge route in js-test/nextjs.test.mjs (Vercel's Edge Runtime).
import * as es from 'edgesketch';
import { HyperLogLog, EnvelopeReader, TopK, createClient } from 'edgesketch';
import { checkGolden } from './golden.mjs';

// Module scope may hold state but must not draw randomness: the client's Recorder draws its
// replica id lazily, at the first envelope, inside a request.
let client;
const visitors = new HyperLogLog();
const pages = new TopK({ capacity: 100 });

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    // The last segment names the operation: Next.js serves this under a prefix too.
    const op = url.pathname.slice(url.pathname.lastIndexOf('/'));
    const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    try {
      if (op === '/configure') {
        client = createClient({ endpoint: url.searchParams.get('sink'), maxEvents: 100, backoffBaseMs: 10 });
        return json({ configured: true });
      }
      if (op === '/record') {
        const user = url.searchParams.get('user');
        const page = url.searchParams.get('page');
        visitors.add(user);
        pages.add(page);
        client.addUnique('uniques:site', user);
        client.increment('requests');
        client.addTopK('top:pages', page);
        return json({ visitors: visitors.estimate(), requests: 'recorded' });
      }
      if (op === '/flush') {
        // No timer ran in this isolate: envelopes made at the maxEvents threshold wait here.
        const before = client.stats();
        // The response does not wait for the upload; the runtime keeps the request alive for it.
        const done = client.flush();
        ctx.waitUntil(done);
        if (url.searchParams.get('wait')) await done;
        return json({ before, after: client.stats() });
      }
      if (op === '/estimates') {
        return json({ visitors: visitors.estimate(), top: pages.top(3), redis: Array.from(visitors.toRedis().subarray(0, 4)) });
      }
      if (op === '/golden') {
        const base = url.searchParams.get('base');
        const manifest = await (await fetch(base + 'manifest.json')).json();
        const read = async (f) => new Uint8Array(await (await fetch(base + f)).arrayBuffer());
        const results = await checkGolden(es, manifest, read);
        return json(results);
      }
      if (op === '/error') {
        try {
          new HyperLogLog({ precision: 99 });
          return json({ threw: false });
        } catch (e) {
          return json({ threw: true, isError: e instanceof Error, message: e.message });
        }
      }
      return json({ error: 'not found' }, 404);
    } catch (e) {
      return json({ error: String(e && e.stack || e) }, 500);
    }
  },
};
