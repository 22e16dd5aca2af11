//! The engine: one writer thread that applies envelopes exactly once with group commit, a bounded
//! in-memory cache of hot sketches, and each tenant's ledger and usage.
//!
//! # Ingest, step by step
//! 1. A handler decodes and checks the envelope (nothing is shared yet) and queues it.
//! 2. The writer takes up to `batch_max` queued envelopes (waiting at most `batch_wait` for more
//!    after the first; by default not at all: what arrives during a commit is the next batch,
//!    so batches grow by themselves when commits are slow) and applies each, as edgesketch's
//!    `Aggregate` does: the tenant's ledger admits it (new, duplicate or refused), each entry
//!    merges into a copy of the stored sketch, quotas are checked, and only then is the admission
//!    recorded. Copies go into the batch's dirty set; nothing visible has changed yet.
//! 3. One transaction writes the dirty sketches and the touched tenants' ledgers. A stored
//!    HyperLogLog is not re-encoded for what an entry changed: a sparse entry's bytes, or for a
//!    dense entry merged into a dense key the registers it raised (nothing at all if it raised
//!    none), are appended as its deltas (until they add up to its size; then it is written whole
//!    and they are dropped), and a load merges them back in order: the sketch the writer would
//!    hold had it loaded the key's bytes and merged those entries. (In the sparse range a sketch
//!    merged in memory keeps its items' hashes at more bits than its encoding, so after any
//!    reload later encodings may differ from a never-reloaded one's; the registers do not.)
//!    Only after the commit are the copies put into the cache and every request of the batch
//!    answered, so an "applied" answer means "on disk", and a crash before the commit loses only
//!    unanswered work (its senders retry the same bytes, which the recovered ledger has not seen).
//! 4. If the commit fails, the touched tenants' ledgers and usage are reloaded from the store
//!    (forgetting this batch's admissions) and every request of the batch gets 503: retry.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use edgesketch::ledger::Gap;
use edgesketch::snapshot::EntryMerge;
use edgesketch::{
    Admit, Error as CoreError, Family, Ledger, LedgerConfig, ReplicaId, SeriesConfig, Sketch,
    Snapshot, UniqueSeries, WindowCounter,
};
use serde::Serialize;
use tokio::sync::{broadcast, oneshot};

use crate::auth::Tenant;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::store::{CommitBatch, SketchWrite, Store, StoreError, Usage, deltas_len};

/// A clock in milliseconds since the epoch (replaceable in tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most envelopes per transaction.
    pub batch_max: usize,
    /// Wait for more envelopes after the first of a batch.
    pub batch_wait: Duration,
    /// Queue length; beyond it, 503.
    pub queue: usize,
    /// Cache budget in encoded bytes.
    pub cache_bytes: usize,
    /// Default quotas.
    pub max_keys_per_tenant: u64,
    /// Default quotas.
    pub max_bytes_per_tenant: u64,
    /// Tenants with quotas of their own, by name (background work, which has no request's
    /// tenant to read them from, needs them too).
    pub tenant_quotas: HashMap<Arc<str>, Tenant>,
    /// A gap counts as drift after this long.
    pub drift_grace_ms: i64,
    /// Ledger limits for tenants seen for the first time.
    pub ledger: LedgerConfig,
    /// The background roll-up of series, if any (see [`rollup_key`]).
    pub rollup: Option<SeriesConfig>,
}

/// The key of a series' roll-up: `<key>@<width>ms`. Keys of that shape are the server's own:
/// ingest refuses entries under them.
pub fn rollup_key(key: &str, width_ms: u64) -> String {
    format!("{key}@{width_ms}ms")
}

/// Whether `key` has the shape of a roll-up key (`…@<digits>ms`).
pub fn is_rollup_key(key: &str) -> bool {
    key.rsplit_once('@').is_some_and(|(_, tail)| {
        tail.strip_suffix("ms")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// What a change event announces (for `/v1/events`).
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    /// The tenant.
    #[serde(skip)]
    pub tenant: Arc<str>,
    /// Keys changed by one commit.
    pub keys: Vec<String>,
    /// Server time of the commit.
    pub at_ms: i64,
}

/// One refused entry, or refused buckets of a merged series entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EntryRejection {
    /// Key.
    pub key: String,
    /// Family name.
    pub family: &'static str,
    /// Stable code: `parameter_mismatch`, `family_mismatch`, `late_buckets`, `future_buckets`,
    /// `invalid_entry`.
    pub code: &'static str,
    /// What happened.
    pub detail: String,
    /// Buckets refused (series only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u64>,
    /// Events in the refused buckets (series only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
}

/// The answer to an ingest.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestReport {
    /// `applied` (committed) or `duplicate` (applied before; nothing changed).
    pub outcome: &'static str,
    /// The sender.
    pub replica: String,
    /// The envelope's number.
    pub sequence: u64,
    /// Entries in the envelope.
    pub entries: usize,
    /// Entries merged.
    pub merged: usize,
    /// Earlier sequences (`?supersedes=`) recorded as settled by this envelope.
    #[serde(skip_serializing_if = "is_zero")]
    pub settled: usize,
    /// Entries (or series buckets) refused; the rest of the envelope was applied.
    pub rejected: Vec<EntryRejection>,
}

/// What a sender has been seen writing (for the drift report), since the server started.
#[derive(Debug, Clone, Default)]
struct SenderInfo {
    /// First segments of the keys it writes (at most [`MAX_PREFIXES`]), shared with every other
    /// sender of the tenant that writes them ([`TenantState::prefixes`]): a copy per sender cost
    /// up to 16 × the key length each (4 KB a sender with 256-byte keys).
    prefixes: Vec<Arc<str>>,
    applied: u64,
}

const MAX_PREFIXES: usize = 16;

/// A tenant's ledger, usage and senders.
#[derive(Debug)]
pub struct TenantState {
    ledger: Ledger,
    usage: Usage,
    senders: HashMap<ReplicaId, SenderInfo>,
    /// Every key prefix a sender of the tenant wrote, once (bounded by the tenant's keys: keys
    /// are never deleted, and each prefix is some key's).
    prefixes: HashSet<Arc<str>>,
}

/// The drift report of one tenant: envelopes its senders made that never arrived.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// A gap counts once it has been open this long.
    pub grace_ms: i64,
    /// Senders the ledger tracks.
    pub senders: usize,
    /// Senders with at least one gap past the grace period.
    pub senders_with_gaps: usize,
    /// Envelopes missing past the grace period.
    pub missing_envelopes: u64,
    /// Envelopes applied since the server started (from senders still tracked).
    pub applied_envelopes: u64,
    /// `missing / (missing + applied)`: how far low the tenant's additive counts may be.
    pub missing_fraction: f64,
    /// The same per key prefix (the key up to its first `:`, `/` or `.`), worst first.
    pub prefixes: Vec<PrefixDrift>,
    /// The oldest open gaps (at most 100).
    pub gaps: Vec<GapReport>,
}

/// Drift of the senders that write keys under one prefix.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixDrift {
    /// The prefix.
    pub prefix: String,
    /// Senders writing it.
    pub senders: usize,
    /// Their missing envelopes.
    pub missing_envelopes: u64,
    /// Their applied envelopes.
    pub applied_envelopes: u64,
    /// `missing / (missing + applied)`.
    pub missing_fraction: f64,
}

/// One open gap.
#[derive(Debug, Clone, Serialize)]
pub struct GapReport {
    /// The sender.
    pub replica: String,
    /// First missing sequence.
    pub from: u64,
    /// One past the last.
    pub to: u64,
    /// When it opened (server time).
    pub opened_ms: i64,
}

/// The prefix a key is reported under in the drift report.
pub fn key_prefix(key: &str) -> &str {
    key.split([':', '/', '.']).next().unwrap_or(key)
}

/// What the store holds of a key, in bytes: its sketch as last written whole, and the deltas
/// appended since ([`crate::store::CommitBatch::deltas`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StoredSize {
    whole: usize,
    deltas: usize,
}

impl StoredSize {
    fn total(self) -> usize {
        self.whole + self.deltas
    }
}

/// Deltas of a key may add up to its whole sketch's size, or this much if that is smaller,
/// before the key is written whole again: rewriting a sketch of `n` bytes then costs at most
/// what `n` bytes of deltas did, and a read merges at most that much on top of the sketch.
const DELTAS_MIN_BYTES: usize = 1024;

struct CacheEntry {
    sketch: Arc<Sketch>,
    stored: StoredSize,
    used: u64,
}

/// Hot sketches by `tenant \0 key`, bounded by their encoded size; least recently used go first.
#[derive(Default)]
struct Cache {
    map: HashMap<String, CacheEntry>,
    bytes: usize,
    budget: usize,
    tick: u64,
}

fn cache_key(tenant: &str, key: &str) -> String {
    let mut k = String::with_capacity(tenant.len() + 1 + key.len());
    k.push_str(tenant);
    k.push('\0');
    k.push_str(key);
    k
}

impl Cache {
    fn get(&mut self, key: &str) -> Option<(Arc<Sketch>, StoredSize)> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|e| {
            e.used = tick;
            (e.sketch.clone(), e.stored)
        })
    }

    fn insert(&mut self, key: String, sketch: Arc<Sketch>, stored: StoredSize) {
        self.tick += 1;
        let entry = CacheEntry {
            sketch,
            stored,
            used: self.tick,
        };
        if let Some(old) = self.map.insert(key, entry) {
            self.bytes -= old.stored.total();
        }
        self.bytes += stored.total();
        if self.bytes > self.budget {
            // Evict down to 90 % of the budget in one go, so eviction's sort is amortised.
            let target = self.budget / 10 * 9;
            let mut by_age: Vec<(u64, String)> =
                self.map.iter().map(|(k, e)| (e.used, k.clone())).collect();
            by_age.sort_unstable();
            for (_, k) in by_age {
                if self.bytes <= target {
                    break;
                }
                if let Some(e) = self.map.remove(&k) {
                    self.bytes -= e.stored.total();
                }
            }
        }
    }
}

/// A queued request for the writer.
enum Job {
    Ingest {
        incoming: Incoming,
        reply: oneshot::Sender<Result<IngestReport, ApiError>>,
    },
    Maintain {
        reply: oneshot::Sender<()>,
    },
    Stop,
}

/// State shared by the writer and the request handlers.
pub struct Shared {
    store: Arc<dyn Store>,
    cache: Mutex<Cache>,
    tenants: Mutex<HashMap<Arc<str>, TenantState>>,
    /// Drift counts of tenants dropped after a failed commit, until they are loaded again.
    /// Locked after `tenants`.
    carried: Mutex<HashMap<Arc<str>, Carried>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    events: broadcast::Sender<Arc<Changed>>,
    config: EngineConfig,
    clock: Clock,
}

/// The engine: a handle to the writer thread and the shared state.
pub struct Engine {
    shared: Arc<Shared>,
    queue: SyncSender<Job>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks is a bug; the data is still consistent enough to
    // serve (every mutation under them is completed before the lock is released).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The answer when the store fails: 503, retry (the cause goes to the log).
pub fn store_unavailable(e: &StoreError) -> ApiError {
    tracing::error!(error = %e, "store");
    ApiError::unavailable(
        "store_unavailable",
        "the store could not be read or written; retry the same request",
        1,
    )
}

impl Engine {
    /// Starts the writer thread over `store`.
    pub fn start(
        store: Arc<dyn Store>,
        config: EngineConfig,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Self {
        let (queue, rx) = std::sync::mpsc::sync_channel(config.queue.max(1));
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            store,
            cache: Mutex::new(Cache {
                budget: config.cache_bytes,
                ..Cache::default()
            }),
            tenants: Mutex::new(HashMap::new()),
            carried: Mutex::new(HashMap::new()),
            metrics,
            events,
            config,
            clock,
        });
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("edgesketch-writer".into())
            .spawn(move || writer_loop(&writer_shared, &rx))
            .expect("spawning the writer thread");
        Engine {
            shared,
            queue,
            writer: Mutex::new(Some(writer)),
        }
    }

    /// The shared state (for queries).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn submit(&self, job: Job) -> Result<(), ApiError> {
        match self.queue.try_send(job) {
            Ok(()) => {
                self.shared.metrics.queue_depth.inc();
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(ApiError::unavailable(
                "overloaded",
                "the server is taking in more envelopes than it can commit; retry after the pause",
                1,
            )),
            Err(TrySendError::Disconnected(_)) => Err(ApiError::unavailable(
                "shutting_down",
                "the server is shutting down; retry against its successor",
                1,
            )),
        }
    }

    /// Queues a decoded envelope of `tenant` and waits until it is committed (or refused).
    pub async fn ingest(&self, incoming: Incoming) -> Result<IngestReport, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Ingest { incoming, reply })?;
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::unavailable(
                "shutting_down",
                "the writer stopped before answering; retry the same request",
                1,
            ))
        })
    }

    /// Runs one maintenance round (retention of series, idle senders) and waits for it.
    pub async fn maintain(&self) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Maintain { reply })?;
        answer
            .await
            .map_err(|_| ApiError::unavailable("shutting_down", "the writer stopped", 1))
    }

    /// Commits what is queued, stops the writer and waits for it.
    pub fn close(&self) {
        // A blocking send: the stop goes behind everything already queued.
        let _ = self.queue.send(Job::Stop);
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
    }

    /// Whether the writer thread is running.
    pub fn writer_alive(&self) -> bool {
        lock(&self.writer)
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    /// Subscribes to change events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Changed>> {
        self.shared.events.subscribe()
    }
}

impl Shared {
    /// A tenant's key and byte quotas: its own where it has them, else the defaults.
    fn quotas(&self, tenant: &Tenant) -> (u64, u64) {
        (
            tenant.max_keys.unwrap_or(self.config.max_keys_per_tenant),
            tenant.max_bytes.unwrap_or(self.config.max_bytes_per_tenant),
        )
    }

    /// [`Shared::quotas`] of the tenant named `name`.
    fn quotas_of(&self, name: &str) -> (u64, u64) {
        match self.config.tenant_quotas.get(name) {
            Some(tenant) => self.quotas(tenant),
            None => (
                self.config.max_keys_per_tenant,
                self.config.max_bytes_per_tenant,
            ),
        }
    }

    /// The server's clock.
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A tenant's sketch under `key`, from memory or the store. Blocking (may read the store).
    pub fn sketch(&self, tenant: &str, key: &str) -> Result<Option<Arc<Sketch>>, ApiError> {
        Ok(self.lookup(tenant, key)?.map(|(s, _)| s))
    }

    fn lookup(
        &self,
        tenant: &str,
        key: &str,
    ) -> Result<Option<(Arc<Sketch>, StoredSize)>, ApiError> {
        let ck = cache_key(tenant, key);
        // The store is read under the cache lock: the writer inserts a newer version only after
        // its commit and under this lock, so a version read here can never overwrite a newer one.
        let mut cache = lock(&self.cache);
        if let Some(hit) = cache.get(&ck) {
            self.metrics.cache_hits.inc();
            return Ok(Some(hit));
        }
        self.metrics.cache_misses.inc();
        let Some(stored) = self
            .store
            .load_sketch(tenant, key)
            .map_err(|e| store_unavailable(&e))?
        else {
            return Ok(None);
        };
        let mut sketch = Sketch::from_bytes(&stored.bytes)
            .map_err(|e| ApiError::internal("a stored sketch does not decode", e))?;
        for delta in &stored.deltas {
            merge_delta(&mut sketch, delta)?;
        }
        let size = StoredSize {
            whole: stored.bytes.len(),
            deltas: deltas_len(&stored.deltas),
        };
        let sketch = Arc::new(sketch);
        cache.insert(ck, sketch.clone(), size);
        self.update_cache_gauges(&cache);
        Ok(Some((sketch, size)))
    }

    fn update_cache_gauges(&self, cache: &Cache) {
        self.metrics.cache_bytes.set(cache.bytes as i64);
        self.metrics.cache_entries.set(cache.map.len() as i64);
    }

    fn tenant_state<'a>(
        &self,
        tenants: &'a mut HashMap<Arc<str>, TenantState>,
        name: &Arc<str>,
    ) -> Result<&'a mut TenantState, ApiError> {
        if !tenants.contains_key(name) {
            let mut state = self.load_tenant(name).map_err(|e| store_unavailable(&e))?;
            if let Some(carried) = lock(&self.carried).remove(name) {
                state.senders = carried.senders;
                state.prefixes = carried.prefixes;
            }
            tenants.insert(name.clone(), state);
        }
        Ok(tenants.get_mut(name).expect("inserted above"))
    }

    fn load_tenant(&self, name: &str) -> Result<TenantState, StoreError> {
        let ledger = match self.store.load_ledger(name)? {
            Some(bytes) => Ledger::from_bytes(&bytes)
                .map_err(|e| StoreError(format!("tenant {name}: stored ledger: {e}")))?,
            None => Ledger::new(self.config.ledger)
                .map_err(|e| StoreError(format!("ledger config: {e}")))?,
        };
        let usage = self.store.usage(name)?;
        Ok(TenantState {
            ledger,
            usage,
            senders: HashMap::new(),
            prefixes: HashSet::new(),
        })
    }

    /// A tenant's stored totals.
    pub fn usage(&self, tenant: &Arc<str>) -> Result<Usage, ApiError> {
        let mut tenants = lock(&self.tenants);
        Ok(self.tenant_state(&mut tenants, tenant)?.usage)
    }

    /// A tenant's drift report.
    pub fn drift(&self, tenant: &Arc<str>) -> Result<DriftReport, ApiError> {
        let now = self.now_ms();
        let mut tenants = lock(&self.tenants);
        let state = self.tenant_state(&mut tenants, tenant)?;
        Ok(drift_report(state, now, self.config.drift_grace_ms))
    }
}

/// Merges a stored delta into the sketch it was appended to, as the writer merged it.
fn merge_delta(sketch: &mut Sketch, delta: &[u8]) -> Result<(), ApiError> {
    let delta = Sketch::from_bytes(delta)
        .map_err(|e| ApiError::internal("a stored delta does not decode", e))?;
    match (sketch, &delta) {
        (Sketch::HyperLogLog(h), Sketch::HyperLogLog(d)) => h
            .merge(d)
            .map_err(|e| ApiError::internal("a stored delta does not merge", e)),
        (s, d) => Err(ApiError::internal(
            "a stored delta does not merge",
            CoreError::ParameterMismatch {
                what: "sketch family",
                left: u64::from(s.family().id()),
                right: u64::from(d.family().id()),
            },
        )),
    }
}

/// A staged key's deltas after it merged `entry` (turning `previous` into `merged`), or `None`
/// once the key must be written whole: a key the batch creates, an entry that is not a
/// HyperLogLog, a change too large to be sparse, or deltas past [`DELTAS_MIN_BYTES`] or the
/// sketch's size.
///
/// A sparse HyperLogLog entry is appended as it came. A dense one is as large as the sketch it
/// merges into, so what is appended is the registers it raised: few once the key holds many
/// items, and none when it brings nothing new (then nothing is written for the key).
fn with_delta(
    pending: Option<Vec<Vec<u8>>>,
    base: Option<StoredSize>,
    entry: &Sketch,
    previous: Option<&Sketch>,
    merged: &Sketch,
) -> Option<Vec<Vec<u8>>> {
    let (base, mut pending) = (base?, pending?);
    let limit = base.whole.max(DELTAS_MIN_BYTES);
    let before = base.deltas + deltas_len(&pending);
    if before >= limit {
        return None;
    }
    let bytes = match (entry, previous, merged) {
        (Sketch::HyperLogLog(h), _, _) if h.is_sparse() => entry.to_bytes(),
        (Sketch::HyperLogLog(_), Some(Sketch::HyperLogLog(was)), Sketch::HyperLogLog(now)) => {
            let raised = now.raised_over(was)?;
            if raised.is_empty() {
                return Some(pending);
            }
            if !raised.is_sparse() {
                return None;
            }
            Sketch::HyperLogLog(raised).to_bytes()
        }
        _ => return None,
    };
    if before + bytes.len() > limit {
        return None;
    }
    pending.push(bytes);
    Some(pending)
}

fn fraction(missing: u64, applied: u64) -> f64 {
    if missing + applied == 0 {
        0.0
    } else {
        missing as f64 / (missing + applied) as f64
    }
}

fn drift_report(state: &TenantState, now: i64, grace_ms: i64) -> DriftReport {
    let due = |g: &Gap| g.opened_ms <= now.saturating_sub(grace_ms);
    let mut gaps = Vec::new();
    let mut missing_by_sender: HashMap<ReplicaId, u64> = HashMap::new();
    for (replica, sender_gaps) in state.ledger.gaps() {
        let missing: u64 = sender_gaps.iter().filter(|g| due(g)).map(Gap::len).sum();
        if missing > 0 {
            missing_by_sender.insert(replica, missing);
        }
        for g in sender_gaps.iter().filter(|g| due(g)) {
            gaps.push(GapReport {
                replica: replica.to_string(),
                from: g.from,
                to: g.to,
                opened_ms: g.opened_ms,
            });
        }
    }
    gaps.sort_by_key(|g| g.opened_ms);
    gaps.truncate(100);
    let missing_envelopes: u64 = missing_by_sender.values().sum();
    let applied_envelopes: u64 = state.senders.values().map(|s| s.applied).sum();
    let mut by_prefix: HashMap<&str, (usize, u64, u64)> = HashMap::new();
    for (replica, info) in &state.senders {
        let missing = missing_by_sender.get(replica).copied().unwrap_or(0);
        for p in &info.prefixes {
            let e = by_prefix.entry(&**p).or_default();
            e.0 += 1;
            e.1 += missing;
            e.2 += info.applied;
        }
    }
    let mut prefixes: Vec<PrefixDrift> = by_prefix
        .into_iter()
        .map(|(prefix, (senders, missing, applied))| PrefixDrift {
            prefix: prefix.to_string(),
            senders,
            missing_envelopes: missing,
            applied_envelopes: applied,
            missing_fraction: fraction(missing, applied),
        })
        .collect();
    prefixes.sort_by(|a, b| {
        b.missing_fraction
            .total_cmp(&a.missing_fraction)
            .then_with(|| a.prefix.cmp(&b.prefix))
    });
    DriftReport {
        grace_ms,
        senders: state.ledger.senders(),
        senders_with_gaps: missing_by_sender.len(),
        missing_envelopes,
        applied_envelopes,
        missing_fraction: fraction(missing_envelopes, applied_envelopes),
        prefixes,
        gaps,
    }
}

/// One envelope for the writer, as the ingest route decoded it.
pub struct Incoming {
    /// The tenant it was sent for.
    pub tenant: Tenant,
    /// The envelope.
    pub snapshot: Snapshot,
    /// Its size in bytes (bounds what it can add to the tenant's stored bytes).
    pub size: usize,
    /// Earlier sequences of its sender that it is a part of (`?supersedes=`: a refused envelope,
    /// split), settled when it applies.
    pub supersedes: Vec<u64>,
}

/// A merged sketch waiting for the batch's commit. It is written as deltas (the entries it
/// merged, see [`with_delta`]) or else encoded whole once, at the commit, however many envelopes
/// of the batch merged into it: encoding a mid-size sparse HyperLogLog costs far more than
/// merging a small entry into it.
struct Staged {
    tenant: Arc<str>,
    key: String,
    sketch: Arc<Sketch>,
    /// What the store held of it before this batch (`None`: the batch creates the key).
    base: Option<StoredSize>,
    /// The entries it merged in this batch, in order, to append as deltas; `None`: write it whole.
    deltas: Option<Vec<Vec<u8>>>,
    /// Its bytes, when staging encoded it already (a roll-up, measured for the byte quota).
    encoded: Option<Vec<u8>>,
}

/// How a staged sketch is written.
enum Write {
    Whole(Vec<u8>),
    Deltas(Vec<Vec<u8>>),
}

impl Write {
    /// What the store holds of the key after the write.
    fn stored(&self, base: Option<StoredSize>) -> StoredSize {
        match self {
            Write::Whole(bytes) => StoredSize {
                whole: bytes.len(),
                deltas: 0,
            },
            Write::Deltas(deltas) => {
                let base = base.unwrap_or_default();
                StoredSize {
                    whole: base.whole,
                    deltas: base.deltas + deltas_len(deltas),
                }
            }
        }
    }
}

/// One batch's changes, by cache key.
#[derive(Default)]
struct Batch {
    dirty: HashMap<String, Staged>,
    touched: HashSet<Arc<str>>,
    /// Per tenant, an upper bound on what the batch's envelopes add to its stored bytes (for
    /// the byte quota before the encoding at the commit tells the exact figure).
    growth: HashMap<Arc<str>, u64>,
    /// Each envelope admitted, by tenant and sender (taken back from the drift counts if the
    /// commit fails).
    admitted: Vec<(Arc<str>, ReplicaId)>,
}

/// What a tenant's senders were seen writing, kept across a failed commit: the ledger and usage
/// are reloaded from the store then, but these live only in memory (the drift report's
/// "applied since the server started").
#[derive(Debug, Default)]
struct Carried {
    senders: HashMap<ReplicaId, SenderInfo>,
    prefixes: HashSet<Arc<str>>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn writer_loop(shared: &Shared, rx: &Receiver<Job>) {
    let mut cursor: Option<(String, String)> = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let deadline = Instant::now() + shared.config.batch_wait;
        while jobs.len() < shared.config.batch_max.max(1) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(job) => jobs.push(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        shared.metrics.queue_depth.dec_by(jobs.len() as i64);
        if !run_batch(shared, jobs, &mut cursor) {
            break;
        }
    }
    // Stopped (everything queued before the stop is committed): fold the write-ahead log into
    // the main file, so a clean stop leaves every commit there.
    if let Err(e) = shared.store.close() {
        tracing::warn!(error = %e, "store checkpoint at stop");
    }
}

/// Applies and commits one batch; false once a stop was seen.
fn run_batch(shared: &Shared, jobs: Vec<Job>, cursor: &mut Option<(String, String)>) -> bool {
    let now = shared.now_ms();
    let mut batch = Batch::default();
    let mut replies = Vec::with_capacity(jobs.len());
    let mut maintenance_replies = Vec::new();
    let mut keep_running = true;
    let mut tenants = lock(&shared.tenants);
    let mut envelopes = 0u64;
    for job in jobs {
        match job {
            Job::Ingest { incoming, reply } => {
                envelopes += 1;
                let result = apply(shared, &mut tenants, &mut batch, &incoming, now);
                replies.push((reply, result));
            }
            Job::Maintain { reply } => {
                if let Err(e) = maintain(shared, &mut tenants, &mut batch, cursor, now) {
                    tracing::warn!(error = %e, "maintenance round failed");
                }
                maintenance_replies.push(reply);
            }
            Job::Stop => keep_running = false,
        }
    }
    // Each changed sketch written as its deltas or encoded whole once; the tenants' stored
    // bytes from the exact sizes.
    let encoded: Vec<(String, Staged, Write)> = batch
        .dirty
        .drain()
        .map(|(ck, mut staged)| {
            let write = match staged.deltas.take() {
                Some(deltas) => Write::Deltas(deltas),
                None => Write::Whole(
                    staged
                        .encoded
                        .take()
                        .unwrap_or_else(|| staged.sketch.to_bytes()),
                ),
            };
            (ck, staged, write)
        })
        .collect();
    for (_, staged, write) in &encoded {
        if let Some(state) = tenants.get_mut(&staged.tenant) {
            let after = write.stored(staged.base).total();
            let before = staged.base.map_or(0, StoredSize::total);
            state.usage.bytes = (state.usage.bytes + after as u64).saturating_sub(before as u64);
        }
    }
    let committed = if encoded.is_empty() && batch.touched.is_empty() {
        Ok(())
    } else {
        fn write<'a>(s: &'a Staged, bytes: &'a [u8], now: i64) -> SketchWrite<'a> {
            SketchWrite {
                tenant: &s.tenant,
                key: &s.key,
                family: s.sketch.family().id(),
                bytes,
                updated_ms: now,
            }
        }
        let mut sketches = Vec::new();
        let mut deltas = Vec::new();
        for (_, staged, w) in &encoded {
            match w {
                Write::Whole(bytes) => sketches.push(write(staged, bytes, now)),
                Write::Deltas(list) => deltas.extend(list.iter().map(|d| write(staged, d, now))),
            }
        }
        let writes = CommitBatch {
            sketches,
            deltas,
            ledgers: batch
                .touched
                .iter()
                .filter_map(|t| tenants.get(t).map(|s| (&**t, s.ledger.to_bytes())))
                .collect(),
        };
        // Not held while the disk works: `/v1/tenant` and `/v1/drift` read it, and a slow or
        // hung fsync held them as long (a reviewer saw both time out at 20 s). They may see
        // this batch's admissions before its commit; nothing else reads or changes it meanwhile
        // (one writer), and a failed commit drops them below.
        drop(tenants);
        let started = Instant::now();
        let result = shared.store.commit(&writes);
        shared
            .metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        shared.metrics.batch_envelopes.observe(envelopes as f64);
        tenants = lock(&shared.tenants);
        result
    };
    match committed {
        Ok(()) => {
            let mut changed: HashMap<Arc<str>, Vec<String>> = HashMap::new();
            {
                let mut cache = lock(&shared.cache);
                for (ck, staged, write) in encoded {
                    let stored = write.stored(staged.base);
                    count_write(&shared.metrics, &write);
                    changed
                        .entry(staged.tenant.clone())
                        .or_default()
                        .push(staged.key);
                    cache.insert(ck, staged.sketch, stored);
                }
                shared.update_cache_gauges(&cache);
            }
            for (name, state) in tenants.iter() {
                if batch.touched.contains(name) {
                    let label = Metrics::label("tenant", name);
                    let m = &shared.metrics;
                    m.tenant_keys
                        .get_or_create(&label)
                        .set(state.usage.keys as i64);
                    m.tenant_bytes
                        .get_or_create(&label)
                        .set(state.usage.bytes as i64);
                    m.senders
                        .get_or_create(&label)
                        .set(state.ledger.senders() as i64);
                    let stats = state.ledger.stats();
                    m.lost_sequences
                        .get_or_create(&label)
                        .set(i64::try_from(stats.lost).unwrap_or(i64::MAX));
                    m.refused_envelopes
                        .get_or_create(&label)
                        .set(i64::try_from(stats.refused).unwrap_or(i64::MAX));
                }
            }
            drop(tenants);
            for (tenant, mut keys) in changed {
                keys.sort_unstable();
                // Nobody listening is fine.
                let _ = shared.events.send(Arc::new(Changed {
                    tenant,
                    keys,
                    at_ms: now,
                }));
            }
            for (reply, result) in replies {
                if let Ok(report) = &result {
                    count_entries(&shared.metrics, report);
                }
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed; the batch's senders will retry");
            shared.metrics.commit_failures.inc();
            // Forget this batch's admissions: reload what the store holds. The drift counts
            // (memory only) are kept, less this batch's envelopes.
            let mut carried = lock(&shared.carried);
            for name in &batch.touched {
                if let Some(state) = tenants.remove(name) {
                    carried.insert(
                        name.clone(),
                        Carried {
                            senders: state.senders,
                            prefixes: state.prefixes,
                        },
                    );
                }
            }
            for (name, replica) in &batch.admitted {
                if let Some(info) = carried
                    .get_mut(name)
                    .and_then(|c| c.senders.get_mut(replica))
                {
                    info.applied = info.applied.saturating_sub(1);
                }
            }
            drop(carried);
            drop(tenants);
            for (reply, result) in replies {
                let _ = reply.send(result.and_then(|_| Err(store_unavailable(&e))));
            }
        }
    }
    for reply in maintenance_replies {
        let _ = reply.send(());
    }
    keep_running
}

/// Counts a committed sketch write.
fn count_write(metrics: &Metrics, write: &Write) {
    let (kind, writes, bytes) = match write {
        Write::Whole(bytes) => ("whole", 1, bytes.len()),
        Write::Deltas(deltas) => ("delta", deltas.len(), deltas_len(deltas)),
    };
    let label = Metrics::label("kind", kind);
    metrics
        .sketch_writes
        .get_or_create(&label)
        .inc_by(writes as u64);
    metrics
        .sketch_write_bytes
        .get_or_create(&label)
        .inc_by(bytes as u64);
}

/// Counts what a committed envelope did to its entries.
fn count_entries(metrics: &Metrics, report: &IngestReport) {
    metrics.entries_merged.inc_by(report.merged as u64);
    for r in &report.rejected {
        match r.buckets {
            Some(buckets) => {
                metrics.buckets_rejected.inc_by(buckets);
            }
            None => {
                metrics.entries_rejected.inc();
            }
        }
    }
}

/// A key's sketch inside a batch, and what the store held of it before the batch (`None`: the
/// batch creates it).
type Current = (Arc<Sketch>, Option<StoredSize>);

/// The current version of a key inside a batch (its staged copy, else the cache or store), and
/// what the store held of it before the batch (`None` for a key the batch creates).
fn current(
    shared: &Shared,
    batch: &Batch,
    tenant: &str,
    key: &str,
) -> Result<Option<Current>, ApiError> {
    match batch.dirty.get(&cache_key(tenant, key)) {
        Some(staged) => Ok(Some((staged.sketch.clone(), staged.base))),
        None => Ok(shared
            .lookup(tenant, key)?
            .map(|(sketch, stored)| (sketch, Some(stored)))),
    }
}

fn apply(
    shared: &Shared,
    tenants: &mut HashMap<Arc<str>, TenantState>,
    batch: &mut Batch,
    incoming: &Incoming,
    now: i64,
) -> Result<IngestReport, ApiError> {
    let Incoming {
        tenant,
        snapshot,
        size,
        supersedes,
    } = incoming;
    let size = *size;
    let name = &tenant.name;
    // Read everything first: a store failure here refuses the envelope before the ledger moves.
    let mut currents = Vec::with_capacity(snapshot.len());
    for (key, _) in snapshot.iter() {
        currents.push(current(shared, batch, name, key)?);
    }
    let state = shared.tenant_state(tenants, name)?;
    let TenantState {
        ledger,
        usage,
        senders,
        prefixes,
    } = state;
    let id = snapshot.id();
    let mut report = IngestReport {
        outcome: "applied",
        replica: id.replica.to_string(),
        sequence: id.sequence,
        entries: snapshot.len(),
        merged: 0,
        settled: 0,
        rejected: Vec::new(),
    };
    let admission = match ledger.admit_part(id, supersedes, snapshot.created_ms, now) {
        Ok(Admit::New(admission)) => admission,
        Ok(Admit::Duplicate) => {
            report.outcome = "duplicate";
            if !supersedes.is_empty() {
                // A part of an envelope applied whole is recorded as seen: the ledger changed.
                batch.touched.insert(name.clone());
            }
            return Ok(report);
        }
        Err(CoreError::EnvelopeRefused(refusal)) => return Err(ApiError::from_refusal(&refusal)),
        Err(e) => return Err(ApiError::internal("ledger", e)),
    };
    let mut staged = Vec::with_capacity(snapshot.len());
    let mut new_keys = 0u64;
    for ((key, incoming), current) in snapshot.iter().zip(currents) {
        if is_rollup_key(key) {
            report.rejected.push(EntryRejection {
                key: key.to_string(),
                family: incoming.family().name(),
                code: "reserved_key",
                detail: "keys ending in @<digits>ms hold the server's roll-ups of series".into(),
                buckets: None,
                events: None,
            });
            continue;
        }
        let (mut sketch, base, previous) = match current {
            Some((stored, base)) => {
                let mut s = (*stored).clone();
                s.advance(now);
                (s, base, Some(stored))
            }
            None => (incoming.emptied_at(now), None, None),
        };
        match sketch.merge(incoming, &admission) {
            Ok(EntryMerge { series }) => {
                for (tally, code, what) in [
                    (
                        series.rejected.late,
                        "late_buckets",
                        "older than the series retains",
                    ),
                    (
                        series.rejected.future,
                        "future_buckets",
                        "ahead of the server clock by more than the series allows",
                    ),
                ] {
                    if tally.buckets > 0 {
                        report.rejected.push(EntryRejection {
                            key: key.to_string(),
                            family: incoming.family().name(),
                            code,
                            detail: format!("{} bucket(s) {what}", tally.buckets),
                            buckets: Some(tally.buckets),
                            events: Some(tally.events),
                        });
                    }
                }
                if previous.is_none() {
                    new_keys += 1;
                }
                staged.push((key, sketch, base, incoming, previous));
            }
            Err(e) => {
                let code = match e {
                    CoreError::ParameterMismatch {
                        what: "sketch family",
                        ..
                    } => "family_mismatch",
                    CoreError::ParameterMismatch { .. } => "parameter_mismatch",
                    _ => "invalid_entry",
                };
                report.rejected.push(EntryRejection {
                    key: key.to_string(),
                    family: incoming.family().name(),
                    code,
                    detail: e.to_string(),
                    buckets: None,
                    events: None,
                });
            }
        }
    }
    let (max_keys, max_bytes) = shared.quotas(tenant);
    if usage.keys + new_keys > max_keys {
        // Dropping the admission records nothing: the envelope stays unapplied.
        drop(admission);
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "tenant_key_quota",
            format!(
                "this envelope adds {new_keys} key(s) to the tenant's {} of {max_keys} allowed; nothing was applied",
                usage.keys
            ),
        ));
    }
    // Merging an entry grows a stored sketch by at most the entry's own size, so the envelope's
    // size bounds what it adds; the exact sizes are known once the batch is encoded.
    let growth = batch.growth.get(name).copied().unwrap_or(0) + size as u64;
    if usage.bytes + growth > max_bytes {
        drop(admission);
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "tenant_byte_quota",
            format!(
                "the tenant stores {} bytes of its {max_bytes}; this envelope of {size} bytes could take it over; nothing was applied",
                usage.bytes
            ),
        ));
    }
    // A part settles the refused envelope(s) it stands in for, so they are not reported lost.
    report.settled = admission.settles();
    admission.commit();
    usage.keys += new_keys;
    batch.growth.insert(name.clone(), growth);
    report.merged = staged.len();
    let info = senders.entry(id.replica).or_default();
    info.applied += 1;
    batch.admitted.push((name.clone(), id.replica));
    for (key, sketch, base, entry, previous) in staged {
        let prefix = key_prefix(key);
        if info.prefixes.len() < MAX_PREFIXES && !info.prefixes.iter().any(|p| &**p == prefix) {
            let shared_prefix = match prefixes.get(prefix) {
                Some(p) => p.clone(),
                None => {
                    let p: Arc<str> = prefix.into();
                    prefixes.insert(p.clone());
                    p
                }
            };
            info.prefixes.push(shared_prefix);
        }
        let ck = cache_key(name, key);
        // Deltas of earlier envelopes of this batch for the key, or none yet if it is stored.
        let pending = match batch.dirty.remove(&ck) {
            Some(earlier) => earlier.deltas,
            None => Some(Vec::new()),
        };
        let deltas = with_delta(pending, base, entry, previous.as_deref(), &sketch);
        batch.dirty.insert(
            ck,
            Staged {
                tenant: name.clone(),
                key: key.to_string(),
                sketch: Arc::new(sketch),
                base,
                deltas,
                encoded: None,
            },
        );
    }
    batch.touched.insert(name.clone());
    Ok(report)
}

/// Background upkeep, inside the writer: expire idle senders, publish drift gauges, and move the
/// clock of up to 500 stored series forward (dropping buckets past their retention), resuming
/// where the last round stopped.
fn maintain(
    shared: &Shared,
    tenants: &mut HashMap<Arc<str>, TenantState>,
    batch: &mut Batch,
    cursor: &mut Option<(String, String)>,
    now: i64,
) -> Result<(), ApiError> {
    if let Some(bytes) = shared.store.log_bytes() {
        shared
            .metrics
            .store_log_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
    for (name, state) in tenants.iter_mut() {
        let before = state.ledger.senders();
        state.ledger.expire(now);
        if state.ledger.senders() != before {
            batch.touched.insert(name.clone());
        }
        let ledger = &state.ledger;
        state.senders.retain(|r, _| ledger.highest(r).is_some());
        let drift = drift_report(state, now, shared.config.drift_grace_ms);
        shared
            .metrics
            .drift_missing
            .get_or_create(&Metrics::label("tenant", name))
            .set(drift.missing_envelopes as i64);
    }
    const ROUND: usize = 500;
    let series = [Family::WindowCounter.id(), Family::UniqueSeries.id()];
    let after = cursor.as_ref().map(|(t, k)| (t.as_str(), k.as_str()));
    let keys = shared
        .store
        .keys_of_families(&series, after, ROUND)
        .map_err(|e| store_unavailable(&e))?;
    *cursor = if keys.len() < ROUND {
        None
    } else {
        keys.last().cloned()
    };
    for (tenant, key) in keys {
        // A roll-up's clock is how far it has folded: only the fold moves it.
        if is_rollup_key(&key) {
            continue;
        }
        let tenant: Arc<str> = tenant.into();
        // A key that does not load is logged (the query routes answer it with a 500) and passed
        // over: one bad key must not stop retention and roll-ups for every key after it. A store
        // failure ends the round.
        let loaded = match current(shared, batch, &tenant, &key) {
            Err(e) if e.code == "internal" => {
                shared.metrics.maintenance_skipped.inc();
                tracing::error!(%tenant, %key, "maintenance passed over a key that does not load");
                continue;
            }
            loaded => loaded?,
        };
        let Some((stored, base)) = loaded else {
            continue;
        };
        // Folded before retention drops anything: a bucket closed since the last round is still
        // in the stored series even if it is already past retention.
        if let Some(config) = shared.config.rollup {
            fold_rollup(shared, tenants, batch, &tenant, &key, &stored, config, now)?;
        }
        let mut sketch = (*stored).clone();
        sketch.advance(now);
        // Advancing only drops buckets (and moves the clock, which the next merge moves too):
        // store it only when buckets left, without encoding anything to find out.
        if series_buckets(&sketch) == series_buckets(&stored) {
            continue;
        }
        stage(
            shared, tenants, batch, &tenant, key, sketch, None, base, false,
        )?;
    }
    Ok(())
}

/// Buckets held by a time series (0 for other families).
fn series_buckets(sketch: &Sketch) -> usize {
    match sketch {
        Sketch::WindowCounter(w) => w.bucket_count(),
        Sketch::UniqueSeries(u) => u.bucket_count(),
        _ => 0,
    }
}

/// Puts a maintenance change into the batch (`encoded`: its bytes, if already made; `creates`: a
/// new key, counted in the tenant's keys; its bytes are counted at the commit).
#[allow(clippy::too_many_arguments)]
fn stage(
    shared: &Shared,
    tenants: &mut HashMap<Arc<str>, TenantState>,
    batch: &mut Batch,
    tenant: &Arc<str>,
    key: String,
    sketch: Sketch,
    encoded: Option<Vec<u8>>,
    base: Option<StoredSize>,
    creates: bool,
) -> Result<(), ApiError> {
    let state = shared.tenant_state(tenants, tenant)?;
    if creates {
        state.usage.keys += 1;
    }
    batch.touched.insert(tenant.clone());
    batch.dirty.insert(
        cache_key(tenant, &key),
        Staged {
            tenant: tenant.clone(),
            key,
            sketch: Arc::new(sketch),
            base,
            deltas: None,
            encoded,
        },
    );
    Ok(())
}

/// Folds the closed buckets of a series that the roll-up has not seen into its roll-up
/// (`<key>@<width>ms`). A bucket is closed once the series' grace period has passed its end (no
/// event can land in it any more); the roll-up's clock marks how far it has folded, so each
/// bucket is folded once, also across restarts.
///
/// Folded bucket by bucket, not a roll-up period at a time: the roll-up's latest bucket may hold
/// part of its period until the rest closes. Waiting for whole periods lost the first buckets of
/// every period whenever the series' retention was shorter than the period plus the grace (they
/// expired before their period closed).
#[allow(clippy::too_many_arguments)]
fn fold_rollup(
    shared: &Shared,
    tenants: &mut HashMap<Arc<str>, TenantState>,
    batch: &mut Batch,
    tenant: &Arc<str>,
    key: &str,
    series: &Sketch,
    config: SeriesConfig,
    now: i64,
) -> Result<(), ApiError> {
    let (fine, grace) = match series {
        Sketch::WindowCounter(w) => (w.config(), w.config().grace_ms),
        Sketch::UniqueSeries(u) => (u.config(), u.config().grace_ms),
        _ => return Ok(()),
    };
    if fine.bucket_ms >= config.bucket_ms || !config.bucket_ms.is_multiple_of(fine.bucket_ms) {
        return Ok(());
    }
    let closed = fine.bucket_start(fine.bucket_of(now.saturating_sub(grace as i64)));
    let name = rollup_key(key, config.bucket_ms);
    let existing = current(shared, batch, tenant, &name)?;
    let (folded_to, base) = match &existing {
        Some((rollup, base)) => match &**rollup {
            Sketch::WindowCounter(r) => (r.now(), *base),
            Sketch::UniqueSeries(r) => (r.now(), *base),
            _ => return Ok(()),
        },
        None => (i64::MIN, None),
    };
    if closed <= folded_to {
        return Ok(());
    }
    // The tenant's quotas hold for roll-ups as for ingest: keys cannot be deleted, so one made
    // past a quota would keep the tenant over it for good.
    let (max_keys, max_bytes) = shared.quotas_of(tenant);
    let usage = shared.tenant_state(tenants, tenant)?.usage;
    if existing.is_none() && usage.keys >= max_keys {
        tracing::warn!(%tenant, key = %name, max_keys, "no roll-up: the tenant's key quota is used up");
        return Ok(());
    }
    let built = match (series, existing.as_ref().map(|(s, _)| &**s)) {
        (Sketch::WindowCounter(w), previous) => match previous {
            Some(Sketch::WindowCounter(r)) => Ok(r.clone()),
            _ => WindowCounter::new(config, closed),
        }
        .and_then(|mut r| {
            r.advance(closed);
            r.merge_local(&w.rolled_up(config, folded_to, closed)?)?;
            Ok(Sketch::from(r))
        }),
        (Sketch::UniqueSeries(u), previous) => match previous {
            Some(Sketch::UniqueSeries(r)) => Ok(r.clone()),
            _ => UniqueSeries::new(config, u.precision(), closed),
        }
        .and_then(|mut r| {
            r.advance(closed);
            r.merge(&u.rolled_up(config, folded_to, closed)?)?;
            Ok(Sketch::from(r))
        }),
        _ => return Ok(()),
    };
    let rollup = match built {
        Ok(rollup) => rollup,
        Err(e) => {
            tracing::warn!(%tenant, %key, error = %e, "roll-up failed");
            return Ok(());
        }
    };
    // What the roll-up adds to the tenant's bytes, with what this batch may add already. Its
    // bytes go to the commit, which would otherwise encode it again.
    let encoded = rollup.to_bytes();
    let held = base.map_or(0, StoredSize::total) as u64;
    let growth = (encoded.len() as u64).saturating_sub(held);
    let pending = batch.growth.get(tenant).copied().unwrap_or(0);
    if usage.bytes + pending + growth > max_bytes {
        tracing::warn!(%tenant, key = %name, max_bytes, "no roll-up: it would take the tenant past its byte quota");
        return Ok(());
    }
    batch.growth.insert(tenant.clone(), pending + growth);
    stage(
        shared,
        tenants,
        batch,
        tenant,
        name,
        rollup,
        Some(encoded),
        base,
        existing.is_none(),
    )
}
