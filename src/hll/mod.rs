//! HyperLogLog: distinct counts in kilobytes, mergeable, and byte-compatible with Redis.
//!
//! # What it estimates
//! The number of distinct items inserted (`PFADD`/`PFCOUNT` in Redis terms). Items are hashed with
//! MurmurHash64A and Redis's seed ([`crate::hash`]); the low `p` bits of the hash pick one of
//! `m = 2^p` registers and the rank `1 + trailing_zeros(hash >> p)` (capped at `65 - p`) goes into
//! it if larger. Precision `p` runs from 4 to 18; 14 (16384 registers) is the default and the only
//! one Redis stores.
//!
//! # Three representations, one set of registers
//! - **Small** (up to `3m/16` items: 3072 at p = 14): the distinct keys themselves, 32 hash bits
//!   each (the register index plus extra bits, see `sparse`), in an open-addressing hash set. The
//!   estimate is the count of keys, reported `exact` while a collision among them is improbable,
//!   then linear counting over the `2^32` key space.
//! - **Mid** (up to `5m/4` items: 20,480): the registers plus a bitmap of which `p + 3`-bit keys
//!   occur; the estimate is linear counting over the `2^(p+3)` keys.
//! - **Dense**: the registers alone, one byte each. The estimate is Otmar Ertl's improved
//!   estimator (arXiv:1702.01284), computed in the same floating point steps as Redis's `hllCount`.
//!
//! Every insert is O(1) in all three; a duplicate changes nothing (and keeps the cached estimate).
//! All three give the same registers for the same items, so Redis export, merges and the
//! Redis-mode count do not depend on the representation.
//!
//! # Error
//! Relative standard error, measured over 20 seeds (tests/accuracy.rs):
//!
//! | items (p = 14)     | representation | standard error             | mean abs. error seen |
//! |--------------------|----------------|----------------------------|----------------------|
//! | 0 ..= ~2,900       | small          | exact (collision risk < 0.1 %) | 0                |
//! | ~2,900 ..= 3,072   | small          | linear counting over 2^32  | < 0.001 %            |
//! | 3,073 ..= 20,480   | mid            | ≈ 0.20 % (linear counting over 2^17) | 0.11–0.16 % |
//! | beyond             | dense          | 1.04 / sqrt(m) = 0.81 %    | 0.5–0.7 %            |
//!
//! `1.04 / sqrt(m)` is the large-`m` limit: with very few registers the dense error is larger
//! (p = 4, 16 registers: 28–34 % root mean square measured against the 26 % it gives).
//!
//! [`HyperLogLog::estimate`] returns the value with its standard error and a 95 % interval (never
//! below the distinct keys or registers it certainly saw; while few keys collided, its upper end
//! is the keys plus a Poisson quantile of the items lost to collisions, as a normal interval would
//! be too narrow there), and caches it: a second call without an
//! insert or merge that changed something is O(1).
//!
//! # Memory
//! Small: 4 bytes a slot, at most 3/4 full, at most `m` bytes (16 KiB at p = 14; 8 KiB at 1000
//! items). Mid: `2m` (registers and bitmap, 32 KiB). Dense: `m` plus a 256-byte histogram. An
//! empty sketch allocates nothing.
//!
//! # Merge
//! Register-wise maximum, so merging is commutative, associative and idempotent. Key-holding
//! sketches merge as the union of their keys at the smaller key width. Sketches of different
//! precision merge at the coarser one: the finer is folded down exactly (register `i` goes to
//! `i mod 2^p'`, its rank recomputed from the index bits that move into the rank word), giving the
//! registers the items would have produced at that precision.
//!
//! # Wire format (snapshot format v1, family id 1)
//! Params: one byte, `p`. Payload: a tag, then either the keys (`bits`, count, Rice-coded stream,
//! about `log2(2^bits / n) + 1.5` bits a key) or the 6-bit packed registers in Redis's layout;
//! docs/FORMAT.md has every byte. A key-holding sketch is written with as many key bits as fit in
//! 80 % of the Redis string for the same registers (while Redis would store them sparse) and in the
//! dense payload, so a snapshot is never larger than what Redis stores. Registers always survive
//! exactly; a small sketch of a few hundred to ~1500 items loses key bits on the way (20 of 32 at
//! 1000 items), and the decoded sketch reports the larger error that goes with them (≈ 0.05 %).
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
mod mid;
pub(crate) mod redis;
mod small;
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
use mid::Mid;
use small::{Inserted, Small};
use sparse::{Entry, Layout, StreamDecoder, hash_rank};

/// Key bits of the mid representation's bitmap beyond `p`: a `2^(p+3)`-bit map is `m` bytes, as
/// large as the registers.
const MID_EXTRA_BITS: u8 = 3;
/// Fewer key bits than `p + 2` make the bitmap no better than the registers.
const MID_MIN_EXTRA_BITS: u8 = 2;
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
    Small(Small),
    Mid(Box<Mid>),
    Dense(Box<Dense>),
}

/// Slots the small set may grow to: `m / 4` four-byte slots, the registers' size.
fn small_max_slots(p: u8) -> u32 {
    (1u32 << p) / 4
}

/// Keys past which the mid representation turns dense: its keys would no longer be expected to
/// fit the dense payload when written (Rice coding costs about `log2(8m / n) + 1.85` bits a key).
fn mid_max_count(p: u8) -> u64 {
    (1u64 << p) * 5 / 4
}

fn empty_small(p: u8, bits: u8) -> Repr {
    Repr::Small(Small::new(Layout { p, bits }, small_max_slots(p)))
}

/// The representation for distinct entries, in any order: small while they fit, then mid (with at
/// least `p + 2` key bits, keeping at most `p + 3`) while not too many, else dense.
fn repr_from_entries(entries: &[Entry], layout: Layout) -> Repr {
    let p = layout.p;
    if let Some(set) = Small::from_entries(layout, entries, small_max_slots(p)) {
        return Repr::Small(set);
    }
    if layout.bits >= p + MID_MIN_EXTRA_BITS {
        let to = Layout {
            p,
            bits: layout.bits.min(p + MID_EXTRA_BITS),
        };
        let mut mid = Mid::new(to);
        for &e in entries {
            mid.insert_entry(layout.convert(e, to));
        }
        if mid.count() <= mid_max_count(p) {
            return Repr::Mid(Box::new(mid));
        }
        return Repr::Dense(Box::new(mid.dense));
    }
    Repr::Dense(Box::new(dense_from_entries(
        entries.iter().copied(),
        layout,
    )))
}

/// The mid (or dense) representation of a full small set plus one more item.
fn outgrown(small: &Small, hash: u64) -> Repr {
    let layout = small.layout;
    let p = layout.p;
    if layout.bits < p + MID_MIN_EXTRA_BITS {
        let mut entries: Vec<Entry> = small.unordered_entries().collect();
        entries.push(layout.entry_for_hash(hash));
        return repr_from_entries(&entries, layout);
    }
    let mut mid = Mid::new(Layout {
        p,
        bits: layout.bits.min(p + MID_EXTRA_BITS),
    });
    for (low, rank) in small.low_bits_and_ranks() {
        mid.insert_low_bits(low, rank);
    }
    mid.insert_hash(hash);
    Repr::Mid(Box::new(mid))
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
            empty_small(precision, MAX_SPARSE_PRECISION),
        ))
    }

    /// An empty sketch of a precision already checked.
    pub(crate) fn empty(precision: u8) -> Self {
        debug_assert!(check_precision(precision).is_ok());
        Self::with_repr(precision, empty_small(precision, MAX_SPARSE_PRECISION))
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

    /// Whether the sketch still holds its items' keys (small or mid range), not only registers.
    pub fn is_sparse(&self) -> bool {
        !matches!(self.repr, Repr::Dense(_))
    }

    /// Hash bits per key while the sketch holds keys (`p` to 32), `None` once dense.
    pub fn sparse_key_bits(&self) -> Option<u8> {
        match &self.repr {
            Repr::Small(s) => Some(s.layout.bits),
            Repr::Mid(m) => Some(m.layout.bits),
            Repr::Dense(_) => None,
        }
    }

    /// Whether nothing was inserted or merged in.
    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Small(s) => s.len() == 0,
            Repr::Mid(m) => m.count() == 0,
            Repr::Dense(d) => d.nonzero() == 0,
        }
    }

    /// Heap bytes held by the sketch.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Small(s) => s.heap_bytes(),
            Repr::Mid(m) => m.heap_bytes(),
            Repr::Dense(d) => d.heap_bytes(),
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
        let changed = match &mut self.repr {
            Repr::Dense(d) => {
                let index = (hash & ((1u64 << self.precision) - 1)) as usize;
                d.raise(index, hash_rank(hash, self.precision))
            }
            Repr::Mid(m) => {
                let changed = m.insert_hash(hash);
                if changed {
                    self.dense_if_mid_is_full();
                }
                changed
            }
            Repr::Small(s) => match s.insert_hash(hash) {
                Inserted::Unchanged => false,
                Inserted::Changed => true,
                Inserted::Full => {
                    self.repr = outgrown(s, hash);
                    true
                }
            },
        };
        if changed {
            self.cache.clear();
        }
    }

    /// The estimate with its error. Cached: O(1) until an insert or merge changes the sketch.
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
        let keys = match &self.repr {
            Repr::Small(s) => Some((s.len() as u64, s.layout.bits)),
            Repr::Mid(m) => Some((m.count(), m.layout.bits)),
            Repr::Dense(_) => None,
        };
        if let Some((count, bits)) = keys {
            if bits > p
                && estimate::expected_collisions(count, bits) < Estimate::EXACT_COLLISION_RISK
            {
                return Estimate::exact(count);
            }
            let value = estimate::linear_count(count, bits);
            let std_error = estimate::linear_count_std_error(value, bits);
            if std_error <= estimate::dense_std_error(p) {
                let mut e = Estimate::approximate(value, std_error, count);
                // The items lost to key collisions are about Poisson with mean `value - count`:
                // while it is small the normal interval is too narrow above (see
                // `poisson_quantile`).
                let lost = value - count as f64;
                if let Some(k) = estimate::poisson_quantile(lost, 0.5 + Estimate::CONFIDENCE / 2.0)
                {
                    e.upper = libm::fmax(e.upper, count as f64 + k);
                }
                return e;
            }
        }
        let histogram = self.histogram();
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
            Repr::Mid(m) => m.dense.histogram(),
            Repr::Small(s) => sparse_histogram(&s.entries(), s.layout),
        }
    }

    /// The registers, one byte each (index `i` is register `i`), whatever the representation.
    pub fn registers(&self) -> Vec<u8> {
        match &self.repr {
            Repr::Dense(d) => d.registers().to_vec(),
            Repr::Mid(m) => m.dense.registers().to_vec(),
            Repr::Small(_) => self.dense_registers().registers().to_vec(),
        }
    }

    fn dense_registers(&self) -> Dense {
        match &self.repr {
            Repr::Dense(d) => (**d).clone(),
            Repr::Mid(m) => m.dense.clone(),
            Repr::Small(s) => dense_from_entries(s.unordered_entries(), s.layout),
        }
    }

    /// The keys and their layout, if the sketch holds keys.
    fn entries(&self) -> Option<(Vec<Entry>, Layout)> {
        match &self.repr {
            Repr::Small(s) => Some((s.entries(), s.layout)),
            Repr::Mid(m) => Some((m.entries(), m.layout)),
            Repr::Dense(_) => None,
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
        if matches!(other.repr, Repr::Dense(_)) && !matches!(self.repr, Repr::Dense(_)) {
            // Keys are only worth keeping if both sides have them.
            self.repr = Repr::Dense(Box::new(self.dense_registers()));
        }
        let changed = match (&mut self.repr, &other.repr) {
            (Repr::Dense(mine), theirs) => merge_into_dense(mine, theirs),
            (Repr::Mid(mine), Repr::Mid(theirs)) if mine.layout == theirs.layout => {
                mine.merge(theirs);
                self.dense_if_mid_is_full();
                true
            }
            (Repr::Mid(mine), Repr::Small(theirs)) if theirs.layout.bits >= mine.layout.bits => {
                // Their hash low bits cover the bitmap's: set them directly, no sorting.
                for (low, rank) in theirs.low_bits_and_ranks() {
                    mine.insert_low_bits(low, rank);
                }
                self.dense_if_mid_is_full();
                true
            }
            (Repr::Small(mine), Repr::Mid(theirs)) if mine.layout.bits >= theirs.layout.bits => {
                let mut mid = (**theirs).clone();
                for (low, rank) in mine.low_bits_and_ranks() {
                    mid.insert_low_bits(low, rank);
                }
                self.repr = Repr::Mid(Box::new(mid));
                self.dense_if_mid_is_full();
                true
            }
            (Repr::Small(mine), Repr::Small(theirs)) if mine.layout.bits <= theirs.layout.bits => {
                // The common case of a server merging small senders: insert their keys.
                let layout = mine.layout;
                let mut changed = false;
                let mut full = false;
                // Converting keys may make equal ones; the set absorbs them, so no sorting.
                for e in theirs.unordered_entries() {
                    match mine.insert(theirs.layout.convert(e, layout)) {
                        Inserted::Unchanged => {}
                        Inserted::Changed => changed = true,
                        Inserted::Full => {
                            full = true;
                            break;
                        }
                    }
                }
                if full {
                    self.merge_keys(other);
                }
                changed || full
            }
            _ => {
                self.merge_keys(other);
                true
            }
        };
        if changed {
            self.cache.clear();
        }
        Ok(())
    }

    /// The registers of `self` that are above `earlier`'s, as a sketch of their own: merging it
    /// into `earlier` gives `self`'s registers. `None` unless both are dense with the same
    /// precision.
    ///
    /// For a store that appends what a merge changed instead of rewriting a dense sketch whole:
    /// once a dense sketch holds many items, a merge raises few registers (none at all when the
    /// same items come again), and the result is sparse while at most `3m/16` registers rose
    /// (about 2 bytes each then, against `3m/4` for the dense payload), dense beyond.
    pub fn raised_over(&self, earlier: &HyperLogLog) -> Option<HyperLogLog> {
        let (Repr::Dense(now), Repr::Dense(before)) = (&self.repr, &earlier.repr) else {
            return None;
        };
        if self.precision != earlier.precision {
            return None;
        }
        // Keys of `p` bits, no extra hash bits: the key is the register index, its extra the rank.
        let layout = Layout {
            p: self.precision,
            bits: self.precision,
        };
        // Usually few rose: a branch-free test per block of 32 (it vectorizes), the registers
        // looked at one by one only in blocks where one rose.
        const BLOCK: usize = 32;
        let mut raised: Vec<Entry> = Vec::new();
        let blocks = now
            .registers()
            .chunks(BLOCK)
            .zip(before.registers().chunks(BLOCK));
        for (block, (now, before)) in blocks.enumerate() {
            let rose = now
                .iter()
                .zip(before)
                .fold(0u8, |rose, (&a, &b)| rose | (a.max(b) ^ b));
            if rose == 0 {
                continue;
            }
            for (i, (&rank, &was)) in now.iter().zip(before).enumerate() {
                if rank > was {
                    let index = (block * BLOCK + i) as u64;
                    raised.push(layout.entry_with_register(index, rank));
                }
            }
        }
        Some(Self::with_repr(
            self.precision,
            repr_from_entries(&raised, layout),
        ))
    }

    /// A mid sketch with more keys than it may hold turns dense.
    fn dense_if_mid_is_full(&mut self) {
        if let Repr::Mid(m) = &mut self.repr {
            if m.count() > mid_max_count(self.precision) {
                let dense = core::mem::replace(&mut m.dense, Dense::new(self.precision));
                self.repr = Repr::Dense(Box::new(dense));
            }
        }
    }

    /// Merges two key-holding sketches of equal precision through their entries.
    fn merge_keys(&mut self, other: &HyperLogLog) {
        let (Some((a, la)), Some((b, lb))) = (self.entries(), other.entries()) else {
            return;
        };
        let layout = Layout {
            p: self.precision,
            bits: la.bits.min(lb.bits),
        };
        let a = sparse::convert_all(&a, la, layout);
        let b = sparse::convert_all(&b, lb, layout);
        self.repr = repr_from_entries(&sparse::union(&a, &b), layout);
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
        let repr = match self.entries() {
            Some((entries, layout)) => {
                let to = Layout {
                    p: precision,
                    bits: layout.bits,
                };
                repr_from_entries(&sparse::convert_all(&entries, layout, to), to)
            }
            None => Repr::Dense(Box::new(
                self.dense_registers().fold(self.precision, precision),
            )),
        };
        Ok(Self::with_repr(precision, repr))
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
    ///
    /// Stricter than Redis in two places, on strings only a hand-made `SET` can produce: a
    /// register above 51 (the most a 64-bit hash gives at precision 14; Redis stores up to 63 and
    /// ignores them when counting) and a non-zero unused header byte are refused.
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
                    .map(|(index, rank)| sparse::entry(index as u64, u64::from(rank - 1)))
                    .collect();
                Self::with_repr(p, repr_from_entries(&entries, layout))
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

/// Register-wise max of anything into dense registers; true if a register rose.
fn merge_into_dense(mine: &mut Dense, theirs: &Repr) -> bool {
    match theirs {
        Repr::Dense(d) => mine.merge_registers(d.registers()),
        Repr::Mid(m) => mine.merge_registers(m.dense.registers()),
        Repr::Small(s) => {
            let index_mask = (1u64 << s.layout.p) - 1;
            let mut changed = false;
            for (low, rank) in s.low_bits_and_ranks() {
                changed |= mine.raise((low & index_mask) as usize, rank);
            }
            changed
        }
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
///
/// The stream grows with the key width, so this starts from the width whose expected size
/// (`log2(2^bits / n) + 1.6` bits a key) fits and walks to the answer, sizing a few widths
/// instead of every one.
fn fit(entries: &[Entry], layout: Layout, budget: usize, floor: u8) -> Option<u8> {
    let fits = |bits: u8| sparse::reduced_stream_len(entries, layout, bits) <= budget;
    let n = entries.len().max(1) as f64;
    let guess = libm::floor(libm::log2(n) + 8.0 * budget as f64 / n - 1.6);
    let mut bits = (guess.clamp(f64::from(floor), f64::from(layout.bits))) as u8;
    if fits(bits) {
        while bits < layout.bits && fits(bits + 1) {
            bits += 1;
        }
        Some(bits)
    } else {
        while bits > floor {
            bits -= 1;
            if fits(bits) {
                return Some(bits);
            }
        }
        None
    }
}

/// Registers of entries in any order.
fn dense_from_entries(entries: impl IntoIterator<Item = Entry>, layout: Layout) -> Dense {
    let mut dense = Dense::new(layout.p);
    for e in entries {
        let (index, rank) = layout.register(e);
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
        let Some((entries, layout)) = self.entries() else {
            out.push(REPR_DENSE);
            self.dense_registers().write_packed(out);
            return;
        };
        let count = entries.len();
        let budget = stream_budget(wire_payload_budget(&entries, layout), count);
        let bits = fit(&entries, layout, budget, p).or_else(|| {
            // Nothing fits (only hash sets built to defeat Redis's encoding get here): the
            // smaller of the coarsest sparse form and dense.
            let coarsest = sparse::reduced_stream_len(&entries, layout, p);
            (2 + codec::varint_len(count as u32) + coarsest < dense_payload_len(p)).then_some(p)
        });
        match bits {
            Some(bits) => {
                let to = Layout { p, bits };
                // Written in place: no copy of the entries when the width is kept (the usual
                // case), none of the stream. A merge server encodes many of these per batch.
                let converted;
                let entries = if to == layout {
                    &entries
                } else {
                    converted = sparse::convert_all(&entries, layout, to);
                    &converted
                };
                out.push(REPR_SPARSE);
                out.push(bits);
                codec::put_varint_u32(out, entries.len() as u32);
                *out = sparse::encode_stream_onto(core::mem::take(out), entries, to);
            }
            None => {
                out.push(REPR_DENSE);
                self.dense_registers().write_packed(out);
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
                let layout = Layout { p, bits };
                let mut entries = Vec::new();
                StreamDecoder::new(r.rest(), layout, u64::from(count))?.read_all(&mut entries)?;
                repr_from_entries(&entries, layout)
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
    match redis::sparse_string_len(sparse::registers(entries, layout), registers, sparse_max) {
        Some(redis_len) => dense.min((redis_len * 4 / 5).saturating_sub(BARE_OVERHEAD)),
        None => dense,
    }
}

impl Default for HyperLogLog {
    /// An empty sketch at the default precision 14.
    fn default() -> Self {
        Self::with_repr(
            DEFAULT_PRECISION,
            empty_small(DEFAULT_PRECISION, MAX_SPARSE_PRECISION),
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
            Repr::Small(s) => d
                .field("repr", &"small")
                .field("key_bits", &s.layout.bits)
                .field("keys", &s.len()),
            Repr::Mid(m) => d
                .field("repr", &"mid")
                .field("key_bits", &m.layout.bits)
                .field("keys", &m.count()),
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
