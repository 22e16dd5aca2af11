// Node, CommonJS: the nodejs glue loads the .wasm synchronously from disk.
'use strict';
const { withFastBatches } = require('./batch.cjs');
const wasm = withFastBatches(require('./node/edgesketch.js'));
const { createClientWith } = require('./client.cjs');

// The module's internals (`__`-prefixed: the scratch buffer's plumbing) stay off the exports.
const exported = Object.fromEntries(Object.entries(wasm).filter(([name]) => !name.startsWith('__')));

module.exports = { ...exported, ready: async () => {}, createClient: (options) => createClientWith(wasm, options) };
