// Node, CommonJS: the nodejs glue loads the .wasm synchronously from disk.
'use strict';
const { withFastBatches } = require('./batch.cjs');
const wasm = withFastBatches(require('./node/edgesketch.js'));
const { createClientWith } = require('./client.cjs');

module.exports = { ...wasm, ready: async () => {}, createClient: (options) => createClientWith(wasm, options) };
