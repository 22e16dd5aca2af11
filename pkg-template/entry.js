// What the loading entries (browser.js, workerd.js, edge-light.js) export; each instantiates the
// module its own way at import, so every class is usable synchronously after `import`.
import * as wasm from './web/edgesketch.js';
import { createClientWith } from './client.js';
import { withFastBatches } from './batch.js';

withFastBatches(wasm);

// The classes by name: `export *` would also export the scratch buffer's internals
// (`__scratchReserve`, `__scratchShrink`, `__memory`), and calling those moves the buffer behind the package's back.
export {
  HyperLogLog, Counter, WindowCounter, UniqueSeries, Leaderboard, TopK, CountMinSketch, Quantiles,
  Recorder, EnvelopeReader, benchNoop, initSync,
} from './web/edgesketch.js';

/** An edge client bound to this module: see client.js. */
export const createClient = (options) => createClientWith(wasm, options);

/** Resolves once the module is ready (it already is after import). */
export async function ready() {}
