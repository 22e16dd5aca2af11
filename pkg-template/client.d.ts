import type {
  Recorder, SeriesOptions, UniqueSeriesOptions, ScoreOptions, TopKOptions, CountMinSketchOptions,
  QuantilesOptions,
} from './web/edgesketch.js';

/** Options of `createClient`. */
export interface ClientOptions {
  /** The merge server's ingest URL, e.g. `https://stats.example.com/v1/ingest`. */
  endpoint: string;
  /** A write token: sent as `Authorization: Bearer`, or in the query string for beacons. */
  token?: string;
  /** Make an envelope once this many events were recorded (default 1000). */
  maxEvents?: number;
  /** Make an envelope once the oldest unsent event is this old (default 10000 ms). */
  maxAgeMs?: number;
  /** Flush this often where timers run (browsers, Node; never in Workers) (default 5000 ms). */
  flushIntervalMs?: number;
  /** Envelopes kept waiting for the server (default 64). A full queue makes no more envelopes:
   * new events merge in the recorder meanwhile, as they do while the server fails. Only a
   * split's parts can push it past the limit; then the oldest waiting one is dropped, counted in
   * `stats().dropped` and passed to `onError`. */
  queueLimit?: number;
  /** Retries of one envelope within one flush; then it goes to the back of the queue and the
   * next flush after the backoff tries again (default 6). */
  retries?: number;
  /** First backoff step (default 250 ms), doubling with each failed send in a row (across
   * flushes) up to `backoffMaxMs`, with jitter. */
  backoffBaseMs?: number;
  /** The longest backoff step (default 30000 ms where timers run, 5000 ms in Workers, whose
   * `waitUntil` ends about 30 s after the response). A flush starts no send after twice this
   * (sends and sleeps together; the last send may take `timeoutMs` more); a Retry-After longer
   * than it ends the flush, and until it passes flushes only record. At most 2^31 - 1. */
  backoffMaxMs?: number;
  /** A send with no answer after this long is aborted and retried (default 10000 ms; 0: none;
   * at most 2^31 - 1). */
  timeoutMs?: number;
  /** Whether a flush timer may run (default: yes, except in Cloudflare Workers and Vercel's
   * Edge Runtime; pass false in any runtime that runs code only inside a request). */
  timers?: boolean;
  /** Resume a sender: its replica id (32 hex digits) and next sequence number, both or neither
   * (persist `client.recorder.replica` and `client.recorder.nextSequence`). A replica id without
   * its next sequence would reuse sequences the server already applied: refused. */
  replica?: string;
  nextSequence?: number;
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof globalThis extends { fetch: infer F } ? F : (input: string, init?: object) => Promise<unknown>;
  /** The beacon to use on `pagehide` (default `navigator.sendBeacon`). */
  sendBeacon?: (url: string, data: typeof globalThis extends { Blob: abstract new (...args: any) => infer B } ? B : unknown) => boolean;
  /** The clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /** Called with an `Error` whenever recorded events are lost for good: an envelope refused
   * (4xx), too large to split, dropped from a full queue, or answered "duplicate" on its first
   * send (another sender uses this replica id). */
  onError?: (error: Error) => void;
  /** Where envelopes a page could not be sure it sent wait for the next page (default:
   * `localStorage` in browsers, none elsewhere; `null`: none). Written on `pagehide`, when the
   * page is hidden and by `close()`: what stays queued (offline, past the browser's 64 KiB beacon
   * quota, the server failing) and every beacon (its answer is never seen). The next client for
   * the same endpoint and token takes them over at start, saves them under its own key and sends
   * them, the same bytes (the server applies each envelope once: a beacon that arrived is
   * answered "duplicate"). */
  storage?: ClientStorage | null;
}

/** The part of the Web Storage API (`localStorage`) the client uses. */
export interface ClientStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
  key(index: number): string | null;
  readonly length: number;
}

/** What `stats()` reports. */
export interface ClientStats {
  /** Envelopes made. */ envelopes: number;
  /** Envelopes the server took (2xx): applied, or answered "duplicate" because it already had
   * them (a resend of a saved beacon that had arrived). */ sent: number;
  /** Envelopes handed to `sendBeacon` (the browser does not say whether they arrived). */ beacons: number;
  /** Envelopes taken over from `storage` at start: what earlier pages could not be sure they
   * sent (their last beacons among them). */ restored: number;
  /** Envelopes the server had already applied though this client never sent them: another
   * sender uses this replica id; their events were not counted. */ duplicates: number;
  /** Sends retried (network error, timeout, 408, 429, 5xx). */ retried: number;
  /** Envelopes split after a 413. */ split: number;
  /** Envelopes dropped because the queue was full (the oldest first). */ dropped: number;
  /** Envelopes the server refused for good (other 4xx). */ rejected: number;
  /** Single-entry envelopes over the server's size limit, dropped. */ tooLarge: number;
  /** The last failure seen. */ lastError?: Error;
  /** Envelopes waiting. */ queued: number;
  /** Events recorded since the last envelope. */ pendingEvents: number;
}

/** What happened while a flush ran: envelopes the server applied and envelopes dropped from a
 * full queue in that time; envelopes still waiting, and events recorded but not yet in an
 * envelope (both 0: everything recorded was delivered). */
export interface FlushResult { sent: number; queued: number; dropped: number; pendingEvents: number }

/** An edge client: record, and envelopes reach the server exactly once. */
export interface Client {
  readonly recorder: Recorder;
  addUnique(key: string, item: string, precision?: number | null): void;
  increment(key: string, n?: number | null): void;
  decrement(key: string, n?: number | null): void;
  addWindow(key: string, value: number, timestampMs?: number | Date | null, nowMs?: number | Date | null, options?: SeriesOptions | null): boolean;
  addUniqueSeries(key: string, item: string, timestampMs?: number | Date | null, nowMs?: number | Date | null, options?: UniqueSeriesOptions | null): boolean;
  addScore(key: string, member: string, score: number, options?: ScoreOptions | null): void;
  addTopK(key: string, item: string, weight?: number | null, options?: TopKOptions | null): void;
  addCount(key: string, item: string, weight?: number | null, options?: CountMinSketchOptions | null): void;
  addQuantile(key: string, value: number, options?: QuantilesOptions | null): void;
  /** Make an envelope of what was recorded and send the queue (for `ctx.waitUntil` in Workers).
   * Offline, or during the backoff after failed sends, it only records. */
  flush(): Promise<FlushResult>;
  /** Send everything with `navigator.sendBeacon` (done on `pagehide` and when the page is
   * hidden), splitting envelopes over 60 KB, and save what stays queued in `storage`; false if
   * something stayed queued, or offline. */
  flushBeacon(): boolean;
  stats(): ClientStats;
  /** Stop recording (later record calls throw), timers and listeners, then flush. */
  close(): Promise<FlushResult>;
}

export function createClient(options: ClientOptions): Client;
