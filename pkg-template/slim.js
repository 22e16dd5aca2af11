// Bring your own wasm: nothing is loaded until you call `init(urlOrModuleOrBytes)` (async) or
// `initSync({ module })`. The .wasm ships as `edgesketch/edgesketch.wasm`.
export * from './web/edgesketch.js';
export { default as init } from './web/edgesketch.js';
import * as wasm from './web/edgesketch.js';
import { createClientWith } from './client.js';
import { withFastBatches } from './batch.js';

withFastBatches(wasm);

/** An edge client bound to this module (after `init`): see client.js. */
export const createClient = (options) => createClientWith(wasm, options);
