// A typed user of the package: `tsc --noEmit` must accept it against the shipped types.
import { HyperLogLog, Quantiles, Recorder, EnvelopeReader, TopK, Leaderboard, UniqueSeries, ready, createClient } from 'edgesketch';
import type { Client, ClientStats } from 'edgesketch';
import type { QuantilesOptions } from 'edgesketch';

await ready();
const visitors: HyperLogLog = new HyperLogLog({ precision: 14 });
visitors.add('ada');
visitors.addBytes(new Uint8Array([1, 2, 3]), new Uint32Array([1, 3]));
visitors.addHashes(new BigUint64Array([1n, 2n]));
const count: number = visitors.count();
const redisCount: bigint = visitors.redisEstimate();
const redisBytes: Uint8Array = visitors.toRedis();
const copy: HyperLogLog = HyperLogLog.fromBytes(visitors.toBytes());
copy.merge(visitors);

const options: QuantilesOptions = { alpha: 0.01, maxBins: 1024 };
const latency = new Quantiles(options);
const board = new Leaderboard({ rule: 'max', best: 'highest' });
board.add('ada', 10, 'greaterThan');
// @ts-expect-error: a misspelt option is a type error (and a run-time error)
new HyperLogLog({ precison: 14 });
// @ts-expect-error: not a mode
board.add('ada', 10, 'bigger');
latency.addMany(new Float64Array([1, 2, 3]));
const p99: number | undefined = latency.quantile(0.99);
const total: bigint = latency.count;

const top = new TopK({ capacity: 10 });
top.add('/a', 2);
const totalEvents: bigint = top.total;

const recorder = new Recorder();
recorder.increment('requests', 1);
// A point in time may be a Date; a duration may not.
recorder.addWindow('requests', 1, new Date(), new Date());
// @ts-expect-error: a duration is a number of milliseconds
new UniqueSeries().last(new Date());
const bytes: Uint8Array | undefined = recorder.envelope(Date.now());
if (bytes) {
  const reader = new EnvelopeReader(bytes);
  const replica: string = reader.replica;
  const sequence: number = reader.sequence;
  console.log(replica, sequence);
}
console.log(count, redisCount, redisBytes, p99, total, totalEvents);

const client: Client = createClient({ endpoint: 'https://stats.example.com/v1/ingest', token: 'w', maxEvents: 500 });
client.addUnique('uniques:home', 'ada');
client.addWindow('requests', 1);
const flushed: { sent: number; queued: number } = await client.flush();
const stats: ClientStats = client.stats();
// @ts-expect-error: endpoint is required
createClient({ token: 'w' });
// Where unsent envelopes wait for the next page: any Web Storage, or none.
const memory = new Map<string, string>();
createClient({ endpoint: 'https://stats.example.com/v1/ingest', storage: null });
createClient({ endpoint: 'https://stats.example.com/v1/ingest', storage: {
  getItem: (key) => memory.get(key) ?? null, setItem: (key, value) => { memory.set(key, value); },
  removeItem: (key) => { memory.delete(key); }, key: (index) => [...memory.keys()][index] ?? null, length: 0 } });
// @ts-expect-error: not a storage
createClient({ endpoint: 'https://stats.example.com/v1/ingest', storage: memory });
console.log(flushed, stats.dropped, stats.restored);
