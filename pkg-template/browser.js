// Browsers (and bundlers): fetches the .wasm beside the glue once, at import (top-level await).
import init from './web/edgesketch.js';

await init({ module_or_path: new URL('./web/edgesketch_bg.wasm', import.meta.url) });

export * from './entry.js';
