export {
  HyperLogLog, Counter, WindowCounter, UniqueSeries, Leaderboard, TopK, CountMinSketch, Quantiles,
  Recorder, EnvelopeReader, benchNoop,
} from './web/edgesketch.js';
export type {
  HyperLogLogOptions, SeriesOptions, WindowCounterOptions, UniqueSeriesOptions, LeaderboardOptions,
  AddMode, ScoreOptions, TopKOptions, CountMinSketchOptions, QuantilesOptions, RecorderOptions,
} from './web/edgesketch.js';

export { createClient } from './client.js';
export type { Client, ClientOptions, ClientStats, FlushResult } from './client.js';

/** Resolves once the WebAssembly module is ready; after `import` it already is in every runtime
 * this package's entries serve (Node, browsers, workerd, Vercel's Edge Runtime). */
export function ready(): Promise<void>;
