// Browsers (and bundlers): fetches the .wasm beside the glue once, at import (top-level await),
// so every class is usable synchronously after `import`.
import init from './web/edgesketch.js';

await init({ module_or_path: new URL('./web/edgesketch_bg.wasm', import.meta.url) });

export * from './web/edgesketch.js';

/** Resolves once the module is ready (it already is after import here). */
export async function ready() {}
