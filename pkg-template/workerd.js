// Cloudflare Workers (workerd): wrangler and workerd import a `.wasm` as a compiled
// WebAssembly.Module (Workers refuse to compile wasm from bytes at run time), instantiated
// synchronously at import.
import module from './web/edgesketch_bg.wasm';
import { initSync } from './web/edgesketch.js';

initSync({ module });

export * from './entry.js';
