//! Quantiles: latency percentiles with a guaranteed relative error (DDSketch).
//!
//! # What it estimates
//! Any quantile (p50, p90, p99, …) of the values added, within relative error `α` (default 1 %)
//! of the exact quantile: the answer `x̂` for the true `x` satisfies `|x̂ − x| ≤ α·|x|`. Also the
//! rank of a value, and the exact count, sum, minimum and maximum. The sum saturates at
//! `±f64::MAX` rather than becoming infinite; an add or merge that would take the count past
//! `2^64 − 1` is refused whole.
//!
//! # Algorithm (Masson, Rim, Lee: *DDSketch*, VLDB 2019)
//! With `γ = (1 + α)/(1 − α)`, a positive value `v` goes to bucket `k = ⌈log_γ v⌉`, which holds
//! `(γ^(k−1), γ^k]`; its representative `2γ^k/(γ + 1)` is within `α` of everything in it. Negative
//! values go the same way by magnitude into a second store; values closer to 0 than `10^−9` count
//! as zero. Quantile `q` walks the buckets in value order to rank `q·(n − 1)`.
//!
//! # Memory
//! Each store keeps at most `max_bins` consecutive buckets (default 2048: with `α = 1 %` that spans
//! `2048 · log10 γ` ≈ 17.8 orders of magnitude, a nanosecond to about 20 years). Beyond that each
//! store's buckets of the *smallest magnitudes* collapse into one, so memory stays fixed. For
//! positive values (latencies, sizes) the upper quantiles, the ones dashboards show, keep their
//! guarantee; for negative values it is the other way round: those nearest zero (the upper
//! quantiles) lose it first, as in DataDog's collapsing-lowest stores. Quantiles that fall into a
//! collapsed bucket lose the guarantee, and [`Quantiles::collapsed`] says when that happened.
//!
//! # Merge and wire format
//! Bucket counts add, so merging needs the ledger's [`Admission`] (or [`Quantiles::merge_local`]
//! within one process); both sketches must have the same `α` and `max_bins`. Family id 8; params: `α` and
//! `max_bins`; payload: count of zeros, sum, min, max, and each store's first key and counts
//! (docs/FORMAT.md).
//!
//! ```
//! use edgesketch::Quantiles;
//!
//! let mut latency_ms = Quantiles::new(0.01)?;
//! for v in 1..=1000 {
//!     latency_ms.add(f64::from(v))?;
//! }
//! let p99 = latency_ms.quantile(0.99).unwrap();
//! assert!((p99 - 990.0).abs() <= 0.01 * 990.0);
//! # Ok::<(), edgesketch::Error>(())
//! ```

mod ln;
mod ln_table;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::{Error, Result};
use crate::ledger::Admission;
use crate::wire;
use crate::wire::quantiles::{DEFAULT_ALPHA, DEFAULT_MAX_BINS, MAX_BINS, MIN_ALPHA, MIN_INDEXABLE};

/// Consecutive bucket counts from key `offset` on, at most `max_bins` of them; the lowest absorb
/// whatever falls below.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Store {
    offset: i32,
    bins: VecDeque<u64>,
    count: u64,
    collapsed: bool,
}

impl Store {
    #[inline]
    fn add(&mut self, key: i32, n: u64, max_bins: usize) {
        self.count = self.count.saturating_add(n);
        // The common case: a key inside the window (a negative difference wraps past any length).
        let i = key.wrapping_sub(self.offset) as u32 as usize;
        if let Some(bin) = self.bins.get_mut(i) {
            *bin = bin.saturating_add(n);
            return;
        }
        self.add_outside(key, n, max_bins);
    }

    /// A key below or above the window, or the first key.
    #[cold]
    fn add_outside(&mut self, key: i32, n: u64, max_bins: usize) {
        if self.bins.is_empty() {
            self.offset = key;
            self.bins.push_back(n);
            return;
        }
        let end = self.offset + self.bins.len() as i32; // exclusive
        if key < self.offset {
            // Grow downwards while there is room; below that, the lowest bucket takes it.
            let room = max_bins - self.bins.len();
            let wanted = (self.offset - key) as usize;
            if wanted <= room {
                for _ in 0..wanted {
                    self.bins.push_front(0);
                }
                self.offset = key;
                self.bins[0] = self.bins[0].saturating_add(n);
            } else {
                for _ in 0..room {
                    self.bins.push_front(0);
                }
                self.offset -= room as i32;
                self.bins[0] = self.bins[0].saturating_add(n);
                self.collapsed = true;
            }
        } else if key >= end {
            // Slide the window up so it ends at `key`, folding what falls off into its new
            // lowest bucket. Never materialise the gap: with a small α a jump spans millions of
            // keys, and the window is at most `max_bins` long.
            let new_offset = self.offset.max(key - (max_bins as i32 - 1));
            if new_offset > self.offset {
                let drop = ((new_offset - self.offset) as usize).min(self.bins.len());
                let folded = self
                    .bins
                    .drain(..drop)
                    .fold(0u64, |a, b| a.saturating_add(b));
                self.offset = new_offset;
                if self.bins.is_empty() {
                    self.bins.push_back(0);
                }
                self.bins[0] = self.bins[0].saturating_add(folded);
                if folded > 0 {
                    self.collapsed = true;
                }
            }
            let end = self.offset + self.bins.len() as i32;
            for _ in end..=key {
                self.bins.push_back(0);
            }
            let last = self.bins.len() - 1;
            self.bins[last] = self.bins[last].saturating_add(n);
        }
    }

    fn merge(&mut self, other: &Store, max_bins: usize) {
        for (key, n) in other.iter() {
            self.add(key, n, max_bins);
        }
        self.collapsed |= other.collapsed;
    }

    /// Keys with their counts, ascending.
    fn iter(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.bins
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(move |(i, &n)| (self.offset + i as i32, n))
    }

    fn write(&self, out: &mut Vec<u8>) {
        // Canonical: no zero buckets at either end.
        let first = self.bins.iter().position(|&n| n > 0);
        let last = self.bins.iter().rposition(|&n| n > 0);
        match (first, last) {
            (Some(first), Some(last)) => {
                codec::put_zigzag_i64(out, i64::from(self.offset + first as i32));
                codec::put_varint_u64(out, (last - first + 1) as u64);
                for &n in self.bins.range(first..=last) {
                    codec::put_varint_u64(out, n);
                }
            }
            _ => {
                codec::put_zigzag_i64(out, 0);
                codec::put_varint_u64(out, 0);
            }
        }
        out.push(u8::from(self.collapsed));
    }

    fn read(r: &mut Reader<'_>, max_bins: usize, keys: (i32, i32)) -> Result<Store> {
        let offset = r.zigzag_i64("quantile store offset")?;
        let len = r.varint_u64("quantile store length")?;
        if len > max_bins as u64 || len > r.remaining() as u64 {
            return Err(Error::LengthMismatch {
                what: "quantile store buckets",
                declared: len,
                actual: (max_bins as u64).min(r.remaining() as u64),
            });
        }
        let mut store = Store::default();
        if len > 0 {
            let last = offset.saturating_add(len as i64 - 1);
            if offset < i64::from(keys.0) || last > i64::from(keys.1) {
                return Err(Error::IndexOutOfRange {
                    what: "quantile bucket key",
                    index: offset as u64,
                    limit: keys.1 as u64,
                });
            }
            store.offset = offset as i32;
            for i in 0..len {
                let n = r.varint_u64("quantile bucket count")?;
                if n == 0 && (i == 0 || i == len - 1) {
                    return Err(Error::NonCanonical {
                        what: "quantile store ends with an empty bucket",
                    });
                }
                store.count = store.count.checked_add(n).ok_or(Error::NonCanonical {
                    what: "quantile counts overflow",
                })?;
                store.bins.push_back(n);
            }
        } else if offset != 0 {
            return Err(Error::NonCanonical {
                what: "empty quantile store with an offset",
            });
        }
        store.collapsed = match r.u8("quantile store collapsed flag")? {
            0 => false,
            1 => true,
            value => {
                return Err(Error::UnknownEncoding {
                    what: "quantile collapsed flag",
                    value,
                });
            }
        };
        Ok(store)
    }
}

/// A sum past ±f64::MAX stays at the limit: the sketch must stay encodable (its format refuses
/// infinities) and a sum that large has no meaningful digits left anyway.
#[inline]
fn saturate(sum: f64) -> f64 {
    sum.clamp(-f64::MAX, f64::MAX)
}

/// A DDSketch. See the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Quantiles {
    alpha: f64,
    /// `ln γ`.
    ln_gamma: f64,
    /// `1 / ln γ`: keys multiply by it rather than divide.
    inv_ln_gamma: f64,
    max_bins: u32,
    positive: Store,
    negative: Store,
    zeros: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for Quantiles {
    /// α = 1 %, 2048 buckets per store.
    fn default() -> Self {
        Quantiles::with_max_bins(DEFAULT_ALPHA, DEFAULT_MAX_BINS).expect("valid defaults")
    }
}

impl Quantiles {
    /// Relative accuracy `alpha` (10^−6 ≤ α < 1; 0.01 is usual) with the default 2048 buckets
    /// per store.
    pub fn new(alpha: f64) -> Result<Self> {
        Self::with_max_bins(alpha, DEFAULT_MAX_BINS)
    }

    /// Relative accuracy `alpha` (10^−6 ≤ α < 1) with at most `max_bins` (1..=65536) buckets
    /// per store.
    pub fn with_max_bins(alpha: f64, max_bins: u32) -> Result<Self> {
        if !(MIN_ALPHA..1.0).contains(&alpha) {
            return Err(Error::InvalidConfig {
                what: "quantiles alpha must be at least 1e-6 and below 1",
            });
        }
        if max_bins == 0 || max_bins > MAX_BINS {
            return Err(Error::InvalidConfig {
                what: "quantiles max_bins must be 1..=65536",
            });
        }
        let gamma = (1.0 + alpha) / (1.0 - alpha);
        Ok(Quantiles {
            alpha,
            ln_gamma: libm::log(gamma),
            inv_ln_gamma: 1.0 / libm::log(gamma),
            max_bins,
            positive: Store::default(),
            negative: Store::default(),
            zeros: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        })
    }

    /// The relative accuracy.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Buckets per store at most.
    pub fn max_bins(&self) -> u32 {
        self.max_bins
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.zeros
            .saturating_add(self.positive.count)
            .saturating_add(self.negative.count)
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Sum of the values added (exact up to `f64` rounding).
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The smallest value added.
    pub fn min(&self) -> Option<f64> {
        (!self.is_empty()).then_some(self.min)
    }

    /// The largest value added.
    pub fn max(&self) -> Option<f64> {
        (!self.is_empty()).then_some(self.max)
    }

    /// The mean of the values added.
    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.sum / self.count() as f64)
    }

    /// Whether a store ever collapsed its lowest buckets (quantiles there lost the guarantee).
    pub fn collapsed(&self) -> bool {
        self.positive.collapsed || self.negative.collapsed
    }

    /// The smallest key (and so the largest collapsed range) a value may have.
    fn key_range(&self) -> (i32, i32) {
        (
            (libm::ceil(libm::log(MIN_INDEXABLE) / self.ln_gamma) as i32).saturating_sub(1),
            (libm::ceil(libm::log(f64::MAX) / self.ln_gamma) as i32).saturating_add(1),
        )
    }

    #[inline]
    fn key(&self, magnitude: f64) -> i32 {
        ln::ceil_i32(ln::ln(magnitude) * self.inv_ln_gamma)
    }

    /// The representative of bucket `key`: within α of everything in it.
    fn value(&self, key: i32) -> f64 {
        let gamma = libm::exp(self.ln_gamma);
        2.0 * libm::exp(f64::from(key) * self.ln_gamma) / (1.0 + gamma)
    }

    /// Adds a value; NaN and infinities are refused.
    #[inline]
    pub fn add(&mut self, value: f64) -> Result<()> {
        self.add_n(value, 1)
    }

    /// Adds `n` occurrences of a value.
    #[inline]
    pub fn add_n(&mut self, value: f64, n: u64) -> Result<()> {
        if !value.is_finite() {
            return Err(Error::InvalidValue {
                what: "quantile values must be finite numbers",
            });
        }
        if n == 0 {
            return Ok(());
        }
        self.check_room(n)?;
        // One zero: -0.0 would make min/max (and so the bytes) depend on the order of adds.
        let value = if value == 0.0 { 0.0 } else { value };
        let bins = self.max_bins as usize;
        if value > MIN_INDEXABLE {
            let key = self.key(value);
            self.positive.add(key, n, bins);
        } else if value < -MIN_INDEXABLE {
            let key = self.key(-value);
            self.negative.add(key, n, bins);
        } else {
            self.zeros = self.zeros.saturating_add(n);
        }
        self.sum = saturate(self.sum + value * n as f64);
        // `value` is finite: plain comparisons, no NaN handling needed.
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
        Ok(())
    }

    /// Refuses, before any change, what would overflow the total count.
    fn check_room(&self, n: u64) -> Result<()> {
        match self.count().checked_add(n) {
            Some(_) => Ok(()),
            None => Err(Error::InvalidValue {
                what: "quantile count would exceed 2^64 - 1",
            }),
        }
    }

    /// The value at quantile `q` (0 = min, 0.5 = median, 1 = max), within α relative error while
    /// its bucket did not collapse. `None` when empty or `q` is outside [0, 1].
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&q) || self.is_empty() {
            return None;
        }
        // The ends are known exactly; a bucket's representative value is not.
        if q == 0.0 {
            return Some(self.min);
        }
        if q == 1.0 {
            return Some(self.max);
        }
        let total = self.count();
        let rank = q * (total - 1) as f64;
        // The answer is the first bucket, in value order, whose cumulative count passes `rank`.
        // Buckets as (sign, key, count): most negative first, then zero, then positive; the
        // value is computed for the answer only.
        let zero = core::iter::once((0.0, 0, self.zeros));
        let negative = self.negative.iter().map(|(k, n)| (-1.0, k, n));
        let positive = self.positive.iter().map(|(k, n)| (1.0, k, n));
        // Walk from whichever end is nearer (p99 from the top).
        let found = if q <= 0.5 {
            let mut seen = 0u64;
            negative
                .rev()
                .chain(zero)
                .chain(positive)
                .filter(|b| b.2 > 0)
                .find(|b| {
                    seen += b.2;
                    seen as f64 > rank
                })
        } else {
            let mut above = 0u64;
            positive
                .rev()
                .chain(zero)
                .chain(negative)
                .filter(|b| b.2 > 0)
                .find(|b| {
                    above += b.2;
                    // What lies below this bucket does not pass the rank: this is the one.
                    ((total - above) as f64) <= rank
                })
        };
        Some(found.map_or(self.max, |(sign, key, _)| {
            self.clamp(if sign == 0.0 {
                0.0
            } else {
                sign * self.value(key)
            })
        }))
    }

    fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.min, self.max)
    }

    /// The fraction of values at or below `value` (to the bucket: values in `value`'s bucket count
    /// as below it).
    pub fn rank(&self, value: f64) -> Option<f64> {
        if self.is_empty() || value.is_nan() {
            return None;
        }
        // Counts were checked not to overflow when they were built or decoded.
        let below = if value > MIN_INDEXABLE {
            let key = self.key(value);
            self.negative.count
                + self.zeros
                + self
                    .positive
                    .iter()
                    .take_while(|(k, _)| *k <= key)
                    .map(|(_, n)| n)
                    .sum::<u64>()
        } else if value >= -MIN_INDEXABLE {
            self.negative.count + self.zeros
        } else {
            let key = self.key(-value);
            self.negative
                .iter()
                .filter(|(k, _)| *k >= key)
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        Some(below as f64 / self.count() as f64)
    }

    /// Adds another sketch's values once: the admission proves its envelope is new.
    pub fn merge(&mut self, other: &Quantiles, _admission: &Admission<'_>) -> Result<()> {
        self.merge_local(other)
    }

    /// Adds another sketch's values without a ledger: for sketches combined in one process, never
    /// for state received over a network (which may be a retry).
    pub fn merge_local(&mut self, other: &Quantiles) -> Result<()> {
        if self.alpha.to_bits() != other.alpha.to_bits() {
            return Err(Error::ParameterMismatch {
                what: "quantiles alpha (f64 bits)",
                left: self.alpha.to_bits(),
                right: other.alpha.to_bits(),
            });
        }
        // Fewer buckets here would collapse what the other kept: the merge would depend on
        // which side received.
        if self.max_bins != other.max_bins {
            return Err(Error::ParameterMismatch {
                what: "quantiles max bins",
                left: u64::from(self.max_bins),
                right: u64::from(other.max_bins),
            });
        }
        self.check_room(other.count())?;
        let bins = self.max_bins as usize;
        self.positive.merge(&other.positive, bins);
        self.negative.merge(&other.negative, bins);
        self.zeros = self.zeros.saturating_add(other.zeros);
        self.sum = saturate(self.sum + other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        Ok(())
    }

    /// An empty sketch with the same parameters.
    pub fn emptied(&self) -> Quantiles {
        Quantiles {
            alpha: self.alpha,
            ln_gamma: self.ln_gamma,
            inv_ln_gamma: self.inv_ln_gamma,
            max_bins: self.max_bins,
            positive: Store::default(),
            negative: Store::default(),
            zeros: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// The sketch in snapshot format v1, on its own.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::to_bare_bytes(self)
    }

    /// Reads [`Quantiles::to_bytes`] output, validating all of it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Quantiles> {
        codec::from_bare_bytes(bytes)
    }
}

impl FamilyCodec for Quantiles {
    const FAMILY: u8 = wire::family::QUANTILES;

    fn encode_params(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.alpha.to_bits().to_le_bytes());
        codec::put_varint_u32(out, self.max_bins);
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        codec::put_varint_u64(out, self.zeros);
        for v in [self.sum, self.min, self.max] {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        self.positive.write(out);
        self.negative.write(out);
    }

    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(params);
        let alpha = f64::from_bits(r.u64_le("quantiles alpha")?);
        let max_bins = r.varint_u32("quantiles max bins")?;
        r.finish("quantiles params")?;
        let mut q = Quantiles::with_max_bins(alpha, max_bins)?;
        let keys = q.key_range();
        let mut r = Reader::new(payload);
        q.zeros = r.varint_u64("quantiles zero count")?;
        q.sum = f64::from_bits(r.u64_le("quantiles sum")?);
        q.min = f64::from_bits(r.u64_le("quantiles min")?);
        q.max = f64::from_bits(r.u64_le("quantiles max")?);
        q.positive = Store::read(&mut r, max_bins as usize, keys)?;
        q.negative = Store::read(&mut r, max_bins as usize, keys)?;
        r.finish("quantiles payload")?;
        if q.zeros
            .checked_add(q.positive.count)
            .and_then(|c| c.checked_add(q.negative.count))
            .is_none()
        {
            return Err(Error::NonCanonical {
                what: "quantiles counts overflow",
            });
        }
        // min and max must cover every store that holds values, as `add` leaves them.
        let consistent = if q.count() == 0 {
            q.sum.to_bits() == 0 && q.min == f64::INFINITY && q.max == f64::NEG_INFINITY
        } else {
            q.sum.is_finite()
                && !(q.min == 0.0 && q.min.is_sign_negative())
                && !(q.max == 0.0 && q.max.is_sign_negative())
                && q.min.is_finite()
                && q.max.is_finite()
                && q.min <= q.max
                && (q.zeros == 0 || (q.min <= MIN_INDEXABLE && q.max >= -MIN_INDEXABLE))
                && (q.positive.count == 0 || q.max > MIN_INDEXABLE)
                && (q.negative.count == 0 || q.min < -MIN_INDEXABLE)
        };
        if !consistent {
            return Err(Error::NonCanonical {
                what: "quantiles sum, min and max do not fit the counts",
            });
        }
        Ok(q)
    }
}
