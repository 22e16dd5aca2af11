//! HyperLogLog: distinct counts in kilobytes, mergeable, and byte-compatible with Redis.
//!
//! # What it estimates
//! The number of distinct items inserted (`PFADD`/`PFCOUNT` in Redis terms). Items are hashed with
//! MurmurHash64A and Redis's seed ([`crate::hash`]); the low `p` bits of the hash pick one of
//! `m = 2^p` registers and the rank `1 + trailing_zeros(hash >> p)` (capped at `65 - p`) goes into
//! it if larger. Precision `p` runs from 4 to 18; 14 (16384 registers) is the default and the only
//! one Redis stores.
//!
//! # Two representations
//! - **Sparse** (small cardinalities): the distinct hashes themselves, as sorted keys of up to 32
//!   hash bits (the register index plus extra bits, see `sparse`), Rice-coded in about
//!   `log2(2^bits / n) + 1.5` bits each, with a small buffer of recent inserts. The estimate is a
//!   plain count while collisions among the keys are improbable (the estimate says `exact`), then
//!   linear counting over the `2^bits` key space. When the coded keys would outgrow the dense size,
//!   the sketch drops key bits one at a time (never below `p + 4`), and past that it turns dense.
//! - **Dense**: one byte per register. The estimate is Otmar Ertl's improved estimator
//!   (arXiv:1702.01284), computed in the same floating point steps as Redis's `hllCount`.
//!
//! Both give the same registers for the same items, so Redis export, merge and the Redis-mode
//! count do not depend on the representation.
//!
//! # Error
//! | range (p = 14)            | representation | relative standard error          |
//! |---------------------------|----------------|----------------------------------|
//! | n up to ~2,900            | sparse, 32-bit keys | exact count (collision risk < 0.1 %) |
//! | n up to ~20,000           | sparse, 18..32-bit keys | linear counting, 0.01 %–0.2 % |
//! | beyond                    | dense          | 1.04 / sqrt(m) = 0.81 %          |
//!
//! [`HyperLogLog::estimate`] returns the value with its standard error and a 95 % interval, and
//! caches it: a second call without inserts or merges in between is O(1).
//!
//! # Memory
//! Sparse: the coded keys (under the 12 KiB dense payload at p = 14; about 3.7 bytes per item at
//! n = 1000) plus at most `m / 32` buffered inserts of 8 bytes. Dense: `m` bytes plus a 256-byte
//! histogram. An empty sketch allocates nothing.
//!
//! # Merge
//! Register-wise maximum, so merging is commutative, associative and idempotent. Sparse with
//! sparse is the union of keys at the smaller key width. Sketches of different precision merge
//! at the coarser one: the finer is folded down exactly (register `i` goes to `i mod 2^p'`, its
//! rank recomputed from the index bits that move into the rank word), giving the registers the
//! items would have produced at that precision.
//!
//! # Wire format (snapshot format v1, family id 1)
//! Params: one byte, `p`. Payload: a tag, then either the sparse keys (`bits`, count, Rice
//! stream) or the 6-bit packed registers in Redis's layout; docs/FORMAT.md has every byte. The
//! encoding of a sparse sketch keeps as many key bits as fit in 80 % of the Redis string for
//! the same registers (and never more than the dense payload), so a snapshot is never larger than
//! what Redis stores; registers always survive exactly, and the decoded sketch reports the error of
//! the key bits it kept.
//!
//! # Redis
//! [`HyperLogLog::to_redis`] writes a string Redis accepts for `SET` then `PFCOUNT`/`PFMERGE`
//! (sparse while it fits Redis's 3000-byte limit and every register is at most 32, else dense; the
//! cached cardinality marked stale); [`HyperLogLog::from_redis`] reads what `GET` returns, checking
//! every run and length first. [`HyperLogLog::redis_estimate`] equals `PFCOUNT` for the same items.
//!
//! ```
//! use edgesketch::HyperLogLog;
//!
//! let mut visitors = HyperLogLog::new(14)?;
//! for user in ["ada", "grace", "ada", "linus"] {
//!     visitors.insert(user.as_bytes());
//! }
//! let estimate = visitors.estimate();
//! assert_eq!(estimate.value, 3.0);
//! assert!(estimate.exact);
//!
//! let mut other = HyperLogLog::default();
//! other.insert(b"margaret");
//! visitors.merge(&other)?;
//! assert_eq!(visitors.redis_estimate(), 4);
//!
//! let bytes = visitors.to_bytes();
//! assert_eq!(HyperLogLog::from_bytes(&bytes)?.registers(), visitors.registers());
//! # Ok::<(), edgesketch::Error>(())
//! ```

mod dense;
mod estimate;
pub(crate) mod redis;
pub(crate) mod sparse;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::{Error, Result};
use crate::hash::hash_item;
use crate::wire;
use crate::wire::hll::{
    DEFAULT_PRECISION, MAX_PRECISION, MAX_SPARSE_PRECISION, MIN_PRECISION, REPR_DENSE, REPR_SPARSE,
};

use dense::{Dense, packed_len};
pub use estimate::Estimate;
use sparse::{Entry, Layout, Sparse, hash_rank};

/// Below this many extra key bits, linear counting over sparse keys is no better than the
/// registers, so key bits are never dropped under it and such sketches estimate from registers.
const LC_MIN_EXTRA_BITS: u8 = 4;
/// Buffered sparse inserts never exceed `m / PENDING_DIVISOR` (8 bytes each: 8 KiB at p = 14).
/// Each merge of the buffer re-codes every key, so a larger buffer makes inserts cheaper.
const PENDING_DIVISOR: usize = 16;
/// ... nor a quarter of the coded keys, but may always reach this.
const PENDING_MIN: usize = 32;
/// When growth pushes the sparse keys over the dense size, key bits are dropped until they fit in
/// all but `1 / HEADROOM` of it.
const HEADROOM: usize = 8;
/// Bytes of a bare sketch before its payload: version, family, params length, `p`.
const BARE_OVERHEAD: usize = 4;

/// A HyperLogLog distinct counter. See the [module docs](self).
pub struct HyperLogLog {
    precision: u8,
    repr: Repr,
    cache: EstimateCache,
}

#[derive(Clone)]
enum Repr {
    Sparse(Sparse),
    Dense(Box<Dense>),
}

impl HyperLogLog {
    /// Smallest precision (16 registers).
    pub const MIN_PRECISION: u8 = MIN_PRECISION;
    /// Largest precision (262,144 registers).
    pub const MAX_PRECISION: u8 = MAX_PRECISION;
    /// Default precision, the one Redis uses (16384 registers, 0.81 % standard error when dense).
    pub const DEFAULT_PRECISION: u8 = DEFAULT_PRECISION;

    /// An empty sketch with `2^precision` registers (`precision` in 4..=18).
    pub fn new(precision: u8) -> Result<Self> {
        check_precision(precision)?;
        Ok(Self::with_repr(
            precision,
            Repr::Sparse(Sparse::empty(Layout {
                p: precision,
                bits: MAX_SPARSE_PRECISION,
            })),
        ))
    }

    fn with_repr(precision: u8, repr: Repr) -> Self {
        HyperLogLog {
            precision,
            repr,
            cache: EstimateCache::new(),
        }
    }

    /// The precision `p`.
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// Number of registers, `2^p`.
    pub fn registers_len(&self) -> usize {
        1 << self.precision
    }

    /// Whether the sketch is in its sparse (small-cardinality) representation.
    pub fn is_sparse(&self) -> bool {
        matches!(self.repr, Repr::Sparse(_))
    }

    /// Hash bits per sparse key (`p` to 32), or `None` when dense.
    pub fn sparse_key_bits(&self) -> Option<u8> {
        match &self.repr {
            Repr::Sparse(s) => Some(s.layout.bits),
            Repr::Dense(_) => None,
        }
    }

    /// Whether nothing was inserted or merged in.
    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Sparse(s) => s.count == 0 && s.pending.is_empty(),
            Repr::Dense(d) => d.nonzero() == 0,
        }
    }

    /// Heap bytes held by the sketch.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Sparse(s) => s.heap_bytes(),
            Repr::Dense(d) => core::mem::size_of::<Dense>() + d.registers().len(),
        }
    }

    /// Adds an item, given as its bytes (see [`crate::hash`] for strings and numbers).
    #[inline]
    pub fn insert(&mut self, item: &[u8]) {
        self.insert_hash(hash_item(item));
    }

    /// Adds an item by its 64-bit hash. For Redis parity the hash must be
    /// [`crate::hash::hash_item`] of the item; any well-mixed 64-bit hash works for counting.
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        match &mut self.repr {
            Repr::Dense(d) => {
                let index = (hash & ((1u64 << self.precision) - 1)) as usize;
                if d.raise(index, hash_rank(hash, self.precision)) {
                    self.cache.clear();
                }
            }
            Repr::Sparse(s) => {
                s.pending.push(s.layout.entry_for_hash(hash));
                self.cache.clear();
                let cap = (s.count as usize / 4)
                    .min((1usize << self.precision) / PENDING_DIVISOR)
                    .max(PENDING_MIN);
                if s.pending.len() >= cap {
                    self.flush_pending();
                }
            }
        }
    }

    /// Folds buffered inserts into the compact form and releases spare capacity.
    pub fn compact(&mut self) {
        self.flush_pending();
        if let Repr::Sparse(s) = &mut self.repr {
            s.stream.shrink_to_fit();
            s.pending = Vec::new();
        }
    }

    /// Merges the insert buffer into the coded keys, and drops key bits or turns dense if they
    /// outgrew the dense size.
    fn flush_pending(&mut self) {
        let p = self.precision;
        let Repr::Sparse(s) = &mut self.repr else {
            return;
        };
        let len = s.merge_pending();
        if len > stream_budget(dense_payload_len(p), s.count as usize) {
            let (entries, layout) = (s.entries(), s.layout);
            let buffer = core::mem::take(&mut s.pending);
            // Growing: drop enough key bits to leave room for more inserts, so that this does not
            // repeat at every merge of the buffer.
            self.set_sparse(&entries, layout, HEADROOM);
            if let Repr::Sparse(s) = &mut self.repr {
                s.pending = buffer;
            }
        }
    }

    /// Installs sorted, deduplicated entries: sparse with as many key bits as fit under the dense
    /// size less `1/headroom` of it (0: no headroom), down to `p + 4`, else dense.
    fn set_sparse(&mut self, entries: &[Entry], layout: Layout, headroom: usize) {
        let p = self.precision;
        let floor = if layout.bits >= p + LC_MIN_EXTRA_BITS {
            p + LC_MIN_EXTRA_BITS
        } else {
            layout.bits
        };
        let budget = stream_budget(dense_payload_len(p), entries.len());
        let bits = match headroom {
            0 => fit(entries, layout, budget, floor),
            h => fit(entries, layout, budget - budget / h, floor)
                .or_else(|| fit(entries, layout, budget, floor)),
        };
        self.repr = match bits {
            Some(bits) if bits == layout.bits => {
                Repr::Sparse(Sparse::from_entries(entries, layout))
            }
            Some(bits) => {
                let to = Layout { p, bits };
                Repr::Sparse(Sparse::from_entries(
                    &sparse::convert_all(entries, layout, to),
                    to,
                ))
            }
            None => Repr::Dense(Box::new(dense_from_entries(entries, layout))),
        };
        self.cache.clear();
    }

    /// The estimate with its error. Cached: O(1) until the next insert or merge that changes the
    /// sketch.
    pub fn estimate(&self) -> Estimate {
        if let Some(e) = self.cache.get() {
            return e;
        }
        let e = self.compute_estimate();
        self.cache.set(&e);
        e
    }

    fn compute_estimate(&self) -> Estimate {
        let p = self.precision;
        let histogram = match &self.repr {
            Repr::Dense(d) => d.histogram(),
            Repr::Sparse(s) => {
                let bits = s.layout.bits;
                if bits >= p + LC_MIN_EXTRA_BITS {
                    let distinct = s.distinct();
                    if estimate::expected_collisions(distinct, bits)
                        < Estimate::EXACT_COLLISION_RISK
                    {
                        return Estimate::exact(distinct);
                    }
                    let value = estimate::linear_count(distinct, bits);
                    let std_error = estimate::linear_count_std_error(value, bits);
                    if std_error <= estimate::dense_std_error(p) {
                        return Estimate::approximate(value, std_error, distinct);
                    }
                }
                sparse_histogram(&s.entries(), s.layout)
            }
        };
        let nonzero = (1u64 << p) - u64::from(histogram[0]);
        Estimate::approximate(
            estimate::ertl(&histogram, p),
            estimate::dense_std_error(p),
            nonzero,
        )
    }

    /// What Redis's `PFCOUNT` returns for the same items: Ertl's estimator over the registers at
    /// precision 14 (folded down from a finer sketch), rounded as Redis rounds it. A coarser sketch
    /// gets the same formula at its own precision.
    pub fn redis_estimate(&self) -> u64 {
        let p = self.precision.min(wire::redis::PRECISION);
        let histogram = if self.precision > p {
            self.dense_registers().fold(self.precision, p).histogram()
        } else {
            self.histogram()
        };
        estimate::redis_round(estimate::ertl(&histogram, p))
    }

    fn histogram(&self) -> [u32; 64] {
        match &self.repr {
            Repr::Dense(d) => d.histogram(),
            Repr::Sparse(s) => sparse_histogram(&s.entries(), s.layout),
        }
    }

    /// The registers, one byte each (index `i` is register `i`), whatever the representation.
    pub fn registers(&self) -> Vec<u8> {
        match &self.repr {
            Repr::Dense(d) => d.registers().to_vec(),
            Repr::Sparse(_) => self.dense_registers().registers().to_vec(),
        }
    }

    fn dense_registers(&self) -> Dense {
        match &self.repr {
            Repr::Dense(d) => (**d).clone(),
            Repr::Sparse(s) => dense_from_entries(&s.entries(), s.layout),
        }
    }

    /// Merges `other` in: afterwards `self` counts the union. Sketches of different precision merge
    /// at the coarser one (the finer is folded down exactly). Never fails for HyperLogLog; the
    /// `Result` matches the families whose merges can.
    pub fn merge(&mut self, other: &HyperLogLog) -> Result<()> {
        if other.precision < self.precision {
            *self = self.fold(other.precision)?;
        }
        let folded;
        let other = if other.precision > self.precision {
            folded = other.fold(self.precision)?;
            &folded
        } else {
            other
        };
        match (&mut self.repr, &other.repr) {
            (Repr::Dense(mine), Repr::Dense(theirs)) => {
                if mine.merge_registers(theirs.registers()) {
                    self.cache.clear();
                }
            }
            (Repr::Dense(mine), Repr::Sparse(theirs)) => {
                let entries = theirs.entries();
                let mut changed = false;
                for (index, rank) in sparse::registers(&entries, theirs.layout) {
                    changed |= mine.raise(index, rank);
                }
                if changed {
                    self.cache.clear();
                }
            }
            (Repr::Sparse(mine), Repr::Dense(theirs)) => {
                let mut dense = dense_from_entries(&mine.entries(), mine.layout);
                dense.merge_registers(theirs.registers());
                self.repr = Repr::Dense(Box::new(dense));
                self.cache.clear();
            }
            (Repr::Sparse(mine), Repr::Sparse(theirs)) => {
                let layout = Layout {
                    p: self.precision,
                    bits: mine.layout.bits.min(theirs.layout.bits),
                };
                let a = sparse::convert_all(&mine.entries(), mine.layout, layout);
                let b = sparse::convert_all(&theirs.entries(), theirs.layout, layout);
                self.set_sparse(&sparse::union(&a, &b), layout, 0);
            }
        }
        Ok(())
    }

    /// The same items at the coarser precision `precision` (exact: the registers equal those of
    /// inserting the items at that precision).
    pub fn fold(&self, precision: u8) -> Result<HyperLogLog> {
        check_precision(precision)?;
        if precision > self.precision {
            return Err(Error::ParameterMismatch {
                what: "fold can only lower precision",
                left: u64::from(self.precision),
                right: u64::from(precision),
            });
        }
        if precision == self.precision {
            return Ok(self.clone());
        }
        Ok(match &self.repr {
            Repr::Dense(d) => Self::with_repr(
                precision,
                Repr::Dense(Box::new(d.fold(self.precision, precision))),
            ),
            Repr::Sparse(s) => {
                let to = Layout {
                    p: precision,
                    bits: s.layout.bits,
                };
                let entries = sparse::convert_all(&s.entries(), s.layout, to);
                let mut out = Self::with_repr(precision, Repr::Sparse(Sparse::empty(to)));
                out.set_sparse(&entries, to, 0);
                out
            }
        })
    }

    /// The Redis HyperLogLog string for these items (precision 14; a finer sketch is folded down,
    /// a coarser one is an error). `SET` it in Redis, then `PFCOUNT`/`PFMERGE` it.
    pub fn to_redis(&self) -> Result<Vec<u8>> {
        let p = wire::redis::PRECISION;
        if self.precision < p {
            return Err(Error::PrecisionTooLowForRedis {
                precision: self.precision,
            });
        }
        let dense = self.dense_registers();
        let dense = if self.precision > p {
            dense.fold(self.precision, p)
        } else {
            dense
        };
        Ok(redis::encode(dense.registers()))
    }

    /// Reads a Redis HyperLogLog string (what `GET` returns for a `PFADD` key), either encoding.
    /// Everything is validated before use: magic, encoding, header, exact dense length, every
    /// sparse run against the registers left.
    pub fn from_redis(bytes: &[u8]) -> Result<HyperLogLog> {
        let p = wire::redis::PRECISION;
        Ok(match redis::decode(bytes)? {
            redis::Decoded::Dense(packed) => Self::with_repr(
                p,
                Repr::Dense(Box::new(Dense::read_packed(
                    packed,
                    p,
                    "Redis dense registers",
                )?)),
            ),
            redis::Decoded::Sparse(nonzero) => {
                // Registers only: keys of exactly p bits, the rank carried as the extra.
                let layout = Layout { p, bits: p };
                let entries: Vec<Entry> = nonzero
                    .into_iter()
                    .map(|(index, rank)| (index as u64) << 8 | u64::from(rank - 1))
                    .collect();
                let mut out = Self::with_repr(p, Repr::Sparse(Sparse::empty(layout)));
                out.set_sparse(&entries, layout, 0);
                out
            }
        })
    }

    /// The sketch in snapshot format v1, on its own (outside an envelope).
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::to_bare_bytes(self)
    }

    /// Reads [`HyperLogLog::to_bytes`] output, validating all of it.
    pub fn from_bytes(bytes: &[u8]) -> Result<HyperLogLog> {
        codec::from_bare_bytes(bytes)
    }
}

fn check_precision(precision: u8) -> Result<()> {
    if (MIN_PRECISION..=MAX_PRECISION).contains(&precision) {
        Ok(())
    } else {
        Err(Error::InvalidPrecision {
            precision,
            min: MIN_PRECISION,
            max: MAX_PRECISION,
        })
    }
}

/// Payload bytes of a dense sketch: tag plus packed registers.
fn dense_payload_len(p: u8) -> usize {
    1 + packed_len(p)
}

/// Stream bytes that keep a sparse payload of `count` keys within `payload_budget` bytes.
fn stream_budget(payload_budget: usize, count: usize) -> usize {
    payload_budget.saturating_sub(2 + codec::varint_len(count as u32))
}

/// The largest key width in `floor..=layout.bits` whose stream fits `budget` bytes.
fn fit(entries: &[Entry], layout: Layout, budget: usize, floor: u8) -> Option<u8> {
    (floor..=layout.bits)
        .rev()
        .find(|&bits| sparse::reduced_stream_len(entries, layout, bits) <= budget)
}

fn dense_from_entries(entries: &[Entry], layout: Layout) -> Dense {
    let mut dense = Dense::new(layout.p);
    for (index, rank) in sparse::registers(entries, layout) {
        dense.raise(index, rank);
    }
    dense
}

fn sparse_histogram(entries: &[Entry], layout: Layout) -> [u32; 64] {
    let mut histogram = [0u32; 64];
    let mut nonzero = 0u32;
    for (_, rank) in sparse::registers(entries, layout) {
        histogram[usize::from(rank & 63)] += 1;
        nonzero += 1;
    }
    histogram[0] = (1u32 << layout.p) - nonzero;
    histogram
}

impl FamilyCodec for HyperLogLog {
    const FAMILY: u8 = wire::family::HYPERLOGLOG;

    fn encode_params(&self, out: &mut Vec<u8>) {
        out.push(self.precision);
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        let p = self.precision;
        let s = match &self.repr {
            Repr::Dense(d) => {
                out.push(REPR_DENSE);
                d.write_packed(out);
                return;
            }
            Repr::Sparse(s) => s,
        };
        let entries = s.entries();
        let count = entries.len();
        let budget = stream_budget(wire_payload_budget(&entries, s.layout), count);
        let bits = fit(&entries, s.layout, budget, p).or_else(|| {
            // Nothing fits (only hash sets built to defeat Redis's encoding get here): the
            // smaller of the coarsest sparse form and dense.
            let coarsest = sparse::reduced_stream_len(&entries, s.layout, p);
            (2 + codec::varint_len(count as u32) + coarsest < dense_payload_len(p)).then_some(p)
        });
        match bits {
            Some(bits) => {
                out.push(REPR_SPARSE);
                out.push(bits);
                if bits == s.layout.bits {
                    codec::put_varint_u32(out, count as u32);
                    match s.canonical_stream() {
                        Some(stream) => out.extend_from_slice(stream),
                        None => out.extend_from_slice(&sparse::encode_stream(&entries, s.layout)),
                    }
                } else {
                    let to = Layout { p, bits };
                    let entries = sparse::convert_all(&entries, s.layout, to);
                    codec::put_varint_u32(out, entries.len() as u32);
                    out.extend_from_slice(&sparse::encode_stream(&entries, to));
                }
            }
            None => {
                out.push(REPR_DENSE);
                dense_from_entries(&entries, s.layout).write_packed(out);
            }
        }
    }

    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(params);
        let p = r.u8("HyperLogLog params")?;
        r.finish("HyperLogLog params")?;
        check_precision(p)?;
        let mut r = Reader::new(payload);
        let repr = match r.u8("HyperLogLog payload")? {
            REPR_SPARSE => {
                let bits = r.u8("HyperLogLog sparse key bits")?;
                if !(p..=MAX_SPARSE_PRECISION).contains(&bits) {
                    return Err(Error::InvalidPrecision {
                        precision: bits,
                        min: p,
                        max: MAX_SPARSE_PRECISION,
                    });
                }
                let count = r.varint_u32("HyperLogLog sparse key count")?;
                Repr::Sparse(Sparse::from_stream(r.rest(), Layout { p, bits }, count)?)
            }
            REPR_DENSE => Repr::Dense(Box::new(Dense::read_packed(
                r.rest(),
                p,
                "HyperLogLog dense registers",
            )?)),
            value => {
                return Err(Error::UnknownEncoding {
                    what: "HyperLogLog representation",
                    value,
                });
            }
        };
        Ok(Self::with_repr(p, repr))
    }
}

/// Payload bytes a sparse snapshot may take: the dense payload, and while Redis would store these
/// registers sparse, 80 % of Redis's string less our own framing.
fn wire_payload_budget(entries: &[Entry], layout: Layout) -> usize {
    let dense = dense_payload_len(layout.p);
    let registers = 1u32 << layout.p;
    // Redis's 3000-byte sparse limit, scaled to other precisions.
    let sparse_max =
        wire::redis::SPARSE_MAX_BYTES * registers as usize / wire::redis::REGISTERS as usize;
    match redis::sparse_string_len(sparse::registers(entries, layout), registers) {
        Some(redis_len) if redis_len <= sparse_max => {
            dense.min((redis_len * 4 / 5).saturating_sub(BARE_OVERHEAD))
        }
        _ => dense,
    }
}

impl Default for HyperLogLog {
    /// An empty sketch at the default precision 14.
    fn default() -> Self {
        Self::with_repr(
            DEFAULT_PRECISION,
            Repr::Sparse(Sparse::empty(Layout {
                p: DEFAULT_PRECISION,
                bits: MAX_SPARSE_PRECISION,
            })),
        )
    }
}

impl Clone for HyperLogLog {
    fn clone(&self) -> Self {
        HyperLogLog {
            precision: self.precision,
            repr: self.repr.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl fmt::Debug for HyperLogLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HyperLogLog");
        d.field("precision", &self.precision);
        match &self.repr {
            Repr::Sparse(s) => d
                .field("repr", &"sparse")
                .field("key_bits", &s.layout.bits)
                .field("keys", &s.count)
                .field("pending", &s.pending.len()),
            Repr::Dense(_) => d.field("repr", &"dense"),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: AsRef<[u8]>> Extend<T> for HyperLogLog {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.insert(item.as_ref());
        }
    }
}

/// The last estimate, kept in atomics so that `estimate(&self)` can fill it while the sketch stays
/// `Sync`. Writers hold `&mut self`, so relaxed ordering suffices.
struct EstimateCache {
    /// `f64` bits of the value, or [`EMPTY`].
    value: AtomicU64,
    std_error: AtomicU64,
    lower: AtomicU64,
    upper: AtomicU64,
    exact: AtomicBool,
}

/// Never produced by an estimate (a NaN pattern): marks the cache empty.
const EMPTY: u64 = u64::MAX;

impl EstimateCache {
    const fn new() -> Self {
        EstimateCache {
            value: AtomicU64::new(EMPTY),
            std_error: AtomicU64::new(0),
            lower: AtomicU64::new(0),
            upper: AtomicU64::new(0),
            exact: AtomicBool::new(false),
        }
    }

    #[inline]
    fn clear(&self) {
        self.value.store(EMPTY, Ordering::Relaxed);
    }

    #[inline]
    fn get(&self) -> Option<Estimate> {
        let value = self.value.load(Ordering::Relaxed);
        if value == EMPTY {
            return None;
        }
        Some(Estimate {
            value: f64::from_bits(value),
            std_error: f64::from_bits(self.std_error.load(Ordering::Relaxed)),
            lower: f64::from_bits(self.lower.load(Ordering::Relaxed)),
            upper: f64::from_bits(self.upper.load(Ordering::Relaxed)),
            exact: self.exact.load(Ordering::Relaxed),
        })
    }

    fn set(&self, e: &Estimate) {
        self.std_error
            .store(e.std_error.to_bits(), Ordering::Relaxed);
        self.lower.store(e.lower.to_bits(), Ordering::Relaxed);
        self.upper.store(e.upper.to_bits(), Ordering::Relaxed);
        self.exact.store(e.exact, Ordering::Relaxed);
        self.value.store(e.value.to_bits(), Ordering::Relaxed);
    }
}

impl Clone for EstimateCache {
    fn clone(&self) -> Self {
        let out = EstimateCache::new();
        if let Some(e) = self.get() {
            out.set(&e);
        }
        out
    }
}
