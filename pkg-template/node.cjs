// Node, CommonJS: the nodejs glue instantiates the module synchronously from its bytes, which
// ship inlined in node/edgesketch_bg_wasm.cjs (scripts/build-npm.sh).
'use strict';
const { withFastBatches } = require('./batch.cjs');
const wasm = withFastBatches(require('./node/edgesketch.js'));
const { createClientWith } = require('./client.cjs');

// The module's internals (`__`-prefixed: the scratch buffer's plumbing) stay off the exports.
const exported = Object.fromEntries(Object.entries(wasm).filter(([name]) => !name.startsWith('__')));

module.exports = { ...exported, ready: async () => {}, createClient: (options) => createClientWith(wasm, options) };
