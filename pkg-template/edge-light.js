// Vercel's Edge Runtime (the `edge-light` condition: Next.js edge routes and middleware, Vercel
// Edge Functions): its bundlers compile a `?module` import of a `.wasm` at build time and hand
// over a WebAssembly.Module (made in another realm than the code's: the glue's initSync allows
// for that), instantiated synchronously at import.
import module from './web/edgesketch_bg.wasm?module';
import { initSync } from './web/edgesketch.js';

initSync({ module });

export * from './entry.js';
