// Node, ES modules: the same instance as `require('edgesketch')` (one module, one memory).
import { createRequire } from 'node:module';

const wasm = createRequire(import.meta.url)('./node.cjs');

export const {
  HyperLogLog, Counter, WindowCounter, UniqueSeries, Leaderboard, TopK, CountMinSketch, Quantiles,
  Recorder, EnvelopeReader, ready, createClient, benchNoop,
} = wasm;
