// Run by deno.test.mjs under Deno (`deno run`, from the scratch project's node_modules): the
// package's golden vectors, an error, and the edge client flushing to the test's sink. Prints one
// JSON line. Arguments: the golden directory, the sink's URL.
import * as es from 'edgesketch';
import { checkGolden } from './golden.mjs';

const [golden, sink] = Deno.args;
const manifest = JSON.parse(await Deno.readTextFile(`${golden}/manifest.json`));
const results = await checkGolden(es, manifest, (file) => Deno.readFile(`${golden}/${file}`));
let error;
try {
  new es.Quantiles({ alpha: 2 });
} catch (e) {
  error = { isError: e instanceof Error, message: e.message };
}
const client = es.createClient({ endpoint: sink, flushIntervalMs: 0, maxEvents: 200 });
for (let i = 0; i < 500; i++) {
  client.increment('orders');
  client.addUnique('visitors', `user-${i % 120}`);
}
const flushed = await client.flush();
await client.close();
const visitors = new es.HyperLogLog();
for (let i = 0; i < 120; i++) visitors.add(`user-${i}`);
console.log(JSON.stringify({ results, error, flushed, stats: { ...client.stats(), lastError: String(client.stats().lastError) }, visitors: Array.from(visitors.toBytes()) }));
