// A Worker as users write one: record events from requests, flush an envelope to a sink with
// ctx.waitUntil, answer estimates. Served by workerd in js-test/workerd.test.mjs.
import * as es from 'edgesketch';
import { HyperLogLog, Recorder, EnvelopeReader, TopK } from 'edgesketch';
import { checkGolden } from 'golden.mjs';

// Module scope may hold state but must not draw randomness: the Recorder draws its replica id
// lazily, at the first envelope, inside a request.
const recorder = new Recorder();
const visitors = new HyperLogLog();
const pages = new TopK({ capacity: 100 });

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    try {
      if (url.pathname === '/record') {
        const user = url.searchParams.get('user');
        const page = url.searchParams.get('page');
        visitors.add(user);
        pages.add(page);
        recorder.addUnique('uniques:site', user);
        recorder.increment('requests');
        recorder.addTopK('top:pages', page);
        return json({ visitors: visitors.estimate(), requests: 'recorded' });
      }
      if (url.pathname === '/flush') {
        const bytes = recorder.envelope(Number(url.searchParams.get('now')));
        if (!bytes) return json({ flushed: false });
        const sink = url.searchParams.get('sink');
        // The response does not wait for the upload; the runtime keeps the request alive for it.
        ctx.waitUntil(fetch(sink, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } }));
        const reader = new EnvelopeReader(bytes);
        return json({ flushed: true, bytes: bytes.length, replica: reader.replica, sequence: reader.sequence, entries: reader.entries() });
      }
      if (url.pathname === '/estimates') {
        return json({ visitors: visitors.estimate(), top: pages.top(3), redis: Array.from(visitors.toRedis().subarray(0, 4)) });
      }
      if (url.pathname === '/golden') {
        const base = url.searchParams.get('base');
        const manifest = await (await fetch(base + 'manifest.json')).json();
        const read = async (f) => new Uint8Array(await (await fetch(base + f)).arrayBuffer());
        const results = await checkGolden(es, manifest, read);
        return json(results);
      }
      if (url.pathname === '/error') {
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
