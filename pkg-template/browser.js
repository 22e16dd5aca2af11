// Browsers (and bundlers): fetches the .wasm beside the glue once, at import (top-level await),
// so every class is usable synchronously after `import`.
import init, * as wasm from './web/edgesketch.js';
import { createClientWith } from './client.js';
import { withFastBatches } from './batch.js';

await init({ module_or_path: new URL('./web/edgesketch_bg.wasm', import.meta.url) });

withFastBatches(wasm);

// The classes by name: `export *` would also export the scratch buffer's internals
// (`__scratchReserve`, `__scratchShrink`, `__memory`), and calling those moves the buffer behind the package's back.
export {
  HyperLogLog, Counter, WindowCounter, UniqueSeries, Leaderboard, TopK, CountMinSketch, Quantiles,
  Recorder, EnvelopeReader, benchNoop, initSync,
} from './web/edgesketch.js';

/** An edge client bound to this module: see client.js. */
export const createClient = (options) => createClientWith(wasm, options);

/** Resolves once the module is ready (it already is after import here). */
export async function ready() {}
