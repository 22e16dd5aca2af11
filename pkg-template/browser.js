// Browsers (and bundlers): fetches the .wasm beside the glue once, at import (top-level await),
// so every class is usable synchronously after `import`.
import init, * as wasm from './web/edgesketch.js';
import { createClientWith } from './client.js';
import { withFastBatches } from './batch.js';

await init({ module_or_path: new URL('./web/edgesketch_bg.wasm', import.meta.url) });

withFastBatches(wasm);

export * from './web/edgesketch.js';

/** An edge client bound to this module: see client.js. */
export const createClient = (options) => createClientWith(wasm, options);

/** Resolves once the module is ready (it already is after import here). */
export async function ready() {}
