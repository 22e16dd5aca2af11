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
  /** Envelopes kept while the server cannot be reached; the oldest is dropped past it (64). */
  queueLimit?: number;
  /** Retries of one envelope per flush before it waits for the next flush (default 6). */
  retries?: number;
  /** First backoff step (default 250 ms), doubling up to `backoffMaxMs` (default 30000 ms). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Whether a flush timer may run (default: yes, except in Cloudflare Workers). */
  timers?: boolean;
  /** Resume a sender: its replica id (32 hex digits) and next sequence number. */
  replica?: string;
  nextSequence?: number;
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** The beacon to use on `pagehide` (default `navigator.sendBeacon`). */
  sendBeacon?: (url: string, data: Blob) => boolean;
  /** The clock in milliseconds (default `Date.now`). */
  now?: () => number;
}

/** What `stats()` reports. */
export interface ClientStats {
  /** Envelopes made. */ envelopes: number;
  /** Envelopes the server accepted (2xx). */ sent: number;
  /** Sends retried (network error, 408, 429, 5xx). */ retried: number;
  /** Envelopes split after a 413. */ split: number;
  /** Envelopes dropped because the queue was full (the oldest first). */ dropped: number;
  /** Envelopes the server refused for good (other 4xx). */ rejected: number;
  /** Single-entry envelopes over the server's size limit, dropped. */ tooLarge: number;
  /** The last failure seen. */ lastError?: Error;
  /** Envelopes waiting. */ queued: number;
  /** Events recorded since the last envelope. */ pendingEvents: number;
}

/** The result of a flush. */
export interface FlushResult { sent: number; queued: number; dropped: number }

/** An edge client: record, and envelopes reach the server exactly once. */
export interface Client {
  readonly recorder: Recorder;
  addUnique(key: string, item: string, precision?: number | null): void;
  increment(key: string, n?: number | null): void;
  decrement(key: string, n?: number | null): void;
  addWindow(key: string, value: number, timestampMs?: number | null, nowMs?: number | null, options?: SeriesOptions | null): boolean;
  addUniqueSeries(key: string, item: string, timestampMs?: number | null, nowMs?: number | null, options?: UniqueSeriesOptions | null): boolean;
  addScore(key: string, member: string, score: number, options?: ScoreOptions | null): void;
  addTopK(key: string, item: string, weight?: number | null, options?: TopKOptions | null): void;
  addCount(key: string, item: string, weight?: number | null, options?: CountMinSketchOptions | null): void;
  addQuantile(key: string, value: number, options?: QuantilesOptions | null): void;
  /** Make an envelope of what was recorded and send the queue (for `ctx.waitUntil` in Workers). */
  flush(): Promise<FlushResult>;
  /** Send everything with `navigator.sendBeacon` (done on `pagehide`); false if a beacon failed. */
  flushBeacon(): boolean;
  stats(): ClientStats;
  /** Stop timers and listeners, then flush. */
  close(): Promise<FlushResult>;
}

export function createClient(options: ClientOptions): Client;
