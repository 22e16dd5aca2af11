export * from './web/edgesketch.js';
export { default as init } from './web/edgesketch.js';
