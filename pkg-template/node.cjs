// Node, CommonJS: the nodejs glue loads the .wasm synchronously from disk.
'use strict';
const wasm = require('./node/edgesketch.js');

module.exports = { ...wasm, ready: async () => {} };
