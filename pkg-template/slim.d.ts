export * from './web/edgesketch.js';
export { default as init } from './web/edgesketch.js';
export { createClient } from './client.js';
export type { Client, ClientOptions, ClientStats, FlushResult } from './client.js';
