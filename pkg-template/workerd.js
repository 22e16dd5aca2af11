// Cloudflare Workers (workerd): the .wasm is imported as a compiled WebAssembly.Module (Workers
// refuse to compile wasm from bytes at run time) and instantiated synchronously.
import module from './web/edgesketch_bg.wasm';
import { initSync } from './web/edgesketch.js';

initSync({ module });

export * from './web/edgesketch.js';

/** Resolves once the module is ready (it already is after import here). */
export async function ready() {}
