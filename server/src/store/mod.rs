//! Durable storage behind a small trait, so that handlers and the writer never see SQL: the
//! embedded SQLite store is the default; a Redis Cluster backend can implement the same trait.
//!
//! What a store keeps, per tenant: each key's sketch (its bare bytes, docs/FORMAT.md §3), the
//! changes merged into it since it was last written whole (its *deltas*, see
//! [`CommitBatch::deltas`]) and the tenant's ledger (which envelopes were applied).
//! [`Store::commit`] writes a batch of all three atomically: that is the exactly-once rule's
//! durability (an envelope's merge and its ledger entry land together or not at all).

pub mod sqlite;

use std::fmt;

/// A store failure (I/O, corruption, a full disk). Its text goes to the log, not to clients.
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// A stored key, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key.
    pub key: String,
    /// Family id (docs/FORMAT.md §4).
    pub family: u8,
    /// Bytes stored (the sketch and its deltas).
    pub bytes: u64,
    /// Last change (server clock, ms since the epoch).
    pub updated_ms: i64,
}

/// One sketch to write.
#[derive(Debug, Clone)]
pub struct SketchWrite<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// Key.
    pub key: &'a str,
    /// Family id.
    pub family: u8,
    /// The sketch's bare bytes.
    pub bytes: &'a [u8],
    /// Server time of the change.
    pub updated_ms: i64,
}

/// A key's sketch as stored: its bytes when it was last written whole, and the deltas appended
/// since, oldest first. The key's value is the sketch with each delta merged in, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSketch {
    /// The sketch's bare bytes as last written whole.
    pub bytes: Vec<u8>,
    /// Bare bytes of the entries merged into it since, oldest first.
    pub deltas: Vec<Vec<u8>>,
}

impl StoredSketch {
    /// Bytes stored for the key (the sketch and its deltas).
    pub fn stored_len(&self) -> usize {
        self.bytes.len() + deltas_len(&self.deltas)
    }
}

/// Bytes of a list of deltas.
pub fn deltas_len(deltas: &[Vec<u8>]) -> usize {
    deltas.iter().map(Vec::len).sum()
}

/// What one transaction writes.
#[derive(Debug, Default)]
pub struct CommitBatch<'a> {
    /// Sketches to insert or replace whole; writing a key whole drops its deltas (the new bytes
    /// include them).
    pub sketches: Vec<SketchWrite<'a>>,
    /// Deltas to append to stored keys, in the order they were merged: the bare bytes of a
    /// sketch that the key's sketch merged (an entry as sent, or the registers an entry raised).
    /// Cheaper than rewriting a large sketch for a small change; only for families whose merge
    /// needs nothing but the two sketches (HyperLogLog).
    /// A key is in `sketches` or in `deltas` of one batch, never both, and only keys stored
    /// before the batch get deltas.
    pub deltas: Vec<SketchWrite<'a>>,
    /// Ledgers (their `to_bytes`) to insert or replace, by tenant.
    pub ledgers: Vec<(&'a str, Vec<u8>)>,
}

/// A tenant's stored totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Keys.
    pub keys: u64,
    /// Bytes stored: sketches and their deltas.
    pub bytes: u64,
}

/// Durable storage of sketches and ledgers. Reads may run on any thread while one writer
/// commits; a read sees the state of some completed commit.
pub trait Store: Send + Sync + 'static {
    /// A key's sketch and its deltas, read from one consistent state of the store.
    fn load_sketch(&self, tenant: &str, key: &str) -> Result<Option<StoredSketch>, StoreError>;
    /// A tenant's ledger bytes.
    fn load_ledger(&self, tenant: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keys of a tenant starting with `prefix`, of family id `family` if given, after `after`
    /// (for paging), in byte order.
    fn list_keys(
        &self,
        tenant: &str,
        prefix: &str,
        family: Option<u8>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<KeyInfo>, StoreError>;
    /// A tenant's totals.
    fn usage(&self, tenant: &str) -> Result<Usage, StoreError>;
    /// Keys of families `families` (any tenant), after `after`, for background maintenance.
    fn keys_of_families(
        &self,
        families: &[u8],
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Writes a batch atomically and durably: when this returns `Ok`, all of it survives a crash.
    /// When it returns `Err`, the batch may still be there after a restart (an fsync that failed
    /// after the write), so the writer forgets it and senders resend the same bytes.
    fn commit(&self, batch: &CommitBatch<'_>) -> Result<(), StoreError>;
    /// Checks the store's integrity (at startup).
    fn check(&self) -> Result<(), StoreError>;
    /// Bytes of the store's write-ahead log file, if it keeps one (for a gauge).
    fn log_bytes(&self) -> Option<u64> {
        None
    }
    /// Called once the writer has stopped: make everything committed durable in the store's
    /// main files (a checkpoint). Nothing by default.
    fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
