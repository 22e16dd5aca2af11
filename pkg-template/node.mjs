// Node, ES modules: the same instance as `require('edgesketch')` (one module, one memory). A
// static import of the CommonJS entry, not `createRequire`, which bundlers (esbuild) cannot follow.
import wasm from './node.cjs';

export const {
  HyperLogLog, Counter, WindowCounter, UniqueSeries, Leaderboard, TopK, CountMinSketch, Quantiles,
  Recorder, EnvelopeReader, ready, createClient, benchNoop,
} = wasm;
