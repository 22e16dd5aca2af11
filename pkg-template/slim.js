// Bring your own wasm: nothing is loaded until you call `init(urlOrModuleOrBytes)` (async) or
// `initSync({ module })`. The .wasm ships as `edgesketch/edgesketch.wasm`.
// The classes by name: `export *` would also export the scratch buffer's internals
// (`__scratchReserve`, `__scratchShrink`, `__memory`), and calling those moves the buffer behind the package's back.
export {
  HyperLogLog, Counter, WindowCounter, UniqueSeries, Leaderboard, TopK, CountMinSketch, Quantiles,
  Recorder, EnvelopeReader, benchNoop, initSync,
} from './web/edgesketch.js';
export { default as init } from './web/edgesketch.js';
import * as wasm from './web/edgesketch.js';
import { createClientWith } from './client.js';
import { withFastBatches } from './batch.js';

withFastBatches(wasm);

/** An edge client bound to this module (after `init`): see client.js. */
export const createClient = (options) => createClientWith(wasm, options);
