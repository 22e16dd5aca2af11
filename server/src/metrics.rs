//! Prometheus metrics (`/metrics`): `edgesketch_` prefix, base units (seconds, bytes), labels
//! bounded in number (outcome, error code, tenant; never a key).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Ingest requests by outcome (applied, duplicate, error).
    pub ingest: Family<Labels, Counter>,
    /// Error answers by problem code (every route).
    pub errors: Family<Labels, Counter>,
    /// Envelope bytes received (after decompression).
    pub envelope_bytes: Counter,
    /// Entries merged.
    pub entries_merged: Counter,
    /// Entries refused inside applied envelopes.
    pub entries_rejected: Counter,
    /// Buckets of series refused by the server's clock (late or too far ahead).
    pub buckets_rejected: Counter,
    /// Seconds per store commit.
    pub commit_seconds: Histogram,
    /// Envelopes per commit.
    pub batch_envelopes: Histogram,
    /// Failed commits.
    pub commit_failures: Counter,
    /// Keys maintenance passed over because they do not load (see the log).
    pub maintenance_skipped: Counter,
    /// Committed sketch writes by kind: `whole` (encoded and replaced) or `delta` (an entry
    /// appended to a stored HyperLogLog).
    pub sketch_writes: Family<Labels, Counter>,
    /// Bytes of committed sketch writes, by the same kinds.
    pub sketch_write_bytes: Family<Labels, Counter>,
    /// Envelopes waiting for the writer.
    pub queue_depth: Gauge,
    /// Encoded bytes of cached sketches.
    pub cache_bytes: Gauge,
    /// Size of the store's write-ahead log file (SQLite's `-wal`).
    pub store_log_bytes: Gauge,
    /// Cached sketches.
    pub cache_entries: Gauge,
    /// Sketch lookups answered from memory.
    pub cache_hits: Counter,
    /// Sketch lookups that read the store.
    pub cache_misses: Counter,
    /// Keys per tenant.
    pub tenant_keys: Family<Labels, Gauge>,
    /// Stored bytes per tenant.
    pub tenant_bytes: Family<Labels, Gauge>,
    /// Senders tracked per tenant.
    pub senders: Family<Labels, Gauge>,
    /// Envelopes missing past the grace period (the drift report), per tenant.
    pub drift_missing: Family<Labels, Gauge>,
    /// Sequences the ledger gave up on (never arrived within its window or horizon), per tenant,
    /// since the ledger was created.
    pub lost_sequences: Family<Labels, Gauge>,
    /// Envelopes the ledger refused (too old, from the future, below the window), per tenant,
    /// since the ledger was created.
    pub refused_envelopes: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("edgesketch");
        let ingest = Family::<Labels, Counter>::default();
        registry.register(
            "ingest_requests",
            "Ingest requests by outcome (applied, duplicate, error)",
            ingest.clone(),
        );
        let errors = Family::<Labels, Counter>::default();
        registry.register(
            "errors",
            "Error answers by problem code, every route",
            errors.clone(),
        );
        let envelope_bytes = Counter::default();
        registry.register(
            "envelope_bytes",
            "Envelope bytes received, after decompression",
            envelope_bytes.clone(),
        );
        let entries_merged = Counter::default();
        registry.register(
            "entries_merged",
            "Envelope entries merged",
            entries_merged.clone(),
        );
        let entries_rejected = Counter::default();
        registry.register(
            "entries_rejected",
            "Entries refused inside applied envelopes (family or parameters do not fit the stored key)",
            entries_rejected.clone(),
        );
        let buckets_rejected = Counter::default();
        registry.register(
            "buckets_rejected",
            "Series buckets refused by the server clock (late or too far ahead)",
            buckets_rejected.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        registry.register(
            "commit_duration_seconds",
            "Time to commit one batch to the store",
            commit_seconds.clone(),
        );
        let batch_envelopes = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "batch_envelopes",
            "Envelopes per committed batch",
            batch_envelopes.clone(),
        );
        let commit_failures = Counter::default();
        registry.register(
            "commit_failures",
            "Batches whose commit failed (their senders were told to retry)",
            commit_failures.clone(),
        );
        let maintenance_skipped = Counter::default();
        registry.register(
            "maintenance_skipped_keys",
            "Series keys that background retention and roll-ups passed over because they do not load (see the log)",
            maintenance_skipped.clone(),
        );
        let sketch_writes = Family::<Labels, Counter>::default();
        registry.register(
            "sketch_writes",
            "Committed sketch writes by kind: whole (re-encoded) or delta (an entry appended)",
            sketch_writes.clone(),
        );
        let sketch_write_bytes = Family::<Labels, Counter>::default();
        registry.register_with_unit(
            "sketch_written",
            "Bytes of committed sketch writes by kind",
            prometheus_client::registry::Unit::Bytes,
            sketch_write_bytes.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Envelopes waiting for the writer",
            queue_depth.clone(),
        );
        let store_log_bytes = Gauge::default();
        registry.register(
            "store_log_bytes",
            "Size of the store's write-ahead log file (SQLite's -wal): it stays at its largest size; one that keeps growing means checkpoints fail",
            store_log_bytes.clone(),
        );
        let cache_bytes = Gauge::default();
        registry.register(
            "cache_bytes",
            "Encoded bytes of sketches held in memory",
            cache_bytes.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "cache_entries",
            "Sketches held in memory",
            cache_entries.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "cache_hits",
            "Sketch lookups answered from memory",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "cache_misses",
            "Sketch lookups that read the store",
            cache_misses.clone(),
        );
        let tenant_keys = Family::<Labels, Gauge>::default();
        registry.register("tenant_keys", "Keys per tenant", tenant_keys.clone());
        let tenant_bytes = Family::<Labels, Gauge>::default();
        registry.register(
            "tenant_stored_bytes",
            "Encoded bytes of stored sketches per tenant",
            tenant_bytes.clone(),
        );
        let senders = Family::<Labels, Gauge>::default();
        registry.register(
            "senders",
            "Senders (replica ids) tracked by the ledger, per tenant",
            senders.clone(),
        );
        let drift_missing = Family::<Labels, Gauge>::default();
        registry.register(
            "drift_missing_envelopes",
            "Envelopes senders made that have not arrived past the grace period, per tenant",
            drift_missing.clone(),
        );
        let lost_sequences = Family::<Labels, Gauge>::default();
        registry.register(
            "ledger_lost_sequences",
            "Sequences given up on: never arrived within the ledger's window or horizon (per tenant, since the ledger was created)",
            lost_sequences.clone(),
        );
        let refused_envelopes = Family::<Labels, Gauge>::default();
        registry.register(
            "ledger_refused_envelopes",
            "Envelopes refused by the ledger: too old, from the future, below the window (per tenant, since the ledger was created)",
            refused_envelopes.clone(),
        );
        Metrics {
            registry,
            lost_sequences,
            refused_envelopes,
            ingest,
            errors,
            envelope_bytes,
            entries_merged,
            entries_rejected,
            buckets_rejected,
            commit_seconds,
            batch_envelopes,
            commit_failures,
            maintenance_skipped,
            sketch_writes,
            sketch_write_bytes,
            queue_depth,
            cache_bytes,
            store_log_bytes,
            cache_entries,
            cache_hits,
            cache_misses,
            tenant_keys,
            tenant_bytes,
            senders,
            drift_missing,
        }
    }

    /// One label.
    pub fn label(name: &'static str, value: &str) -> Labels {
        vec![(name, value.to_string())]
    }

    /// Counts an error answer.
    pub fn error(&self, code: &str) {
        self.errors.get_or_create(&Self::label("code", code)).inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
