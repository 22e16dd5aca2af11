//! UniqueSeries: distinct counts over time buckets, for "unique visitors today / this hour / over
//! any range" and "active readers per article".
//!
//! # What it holds
//! A [`HyperLogLog`] per time bucket (aligned to UTC epoch time, see [`crate::series`]). The distinct
//! count over a range is the estimate of the merge of its buckets, so it is never the (wrong) sum of
//! per-bucket counts, and it carries the HyperLogLog's error bound.
//!
//! # Time, retention, late and early events
//! As for every series ([`crate::series`]): buckets are kept by bucket time behind the clock
//! ([`UniqueSeries::advance`]); events outside the grace and future allowances are rejected, reported
//! and counted.
//!
//! # Merge
//! Register maxima are idempotent, so [`UniqueSeries::merge`] needs no ledger: merging the same
//! envelope twice changes nothing. Incoming buckets are judged by the receiver's clock. Both
//! series must have the same bucket width and precision (a bucket of another precision would be
//! stored as if it had this one's and no longer decode).
//!
//! # Memory and wire format
//! One HyperLogLog per non-empty bucket: a few bytes while small, at most `2m` bytes (32 KiB at
//! p = 14; choose a smaller precision for long series of busy buckets). Family id 4; params: the
//! series configuration and the precision; payload: clock, rejections, then each non-empty
//! bucket's index (delta-coded) and its HyperLogLog payload, length-prefixed (docs/FORMAT.md).
//!
//! ```
//! use edgesketch::{SeriesConfig, UniqueSeries};
//!
//! let hour = 3_600_000;
//! let config = SeriesConfig::new(hour as u64, 48 * hour as u64, hour as u64, 60_000)?;
//! let now = 1_764_115_200_000;
//! let mut visitors = UniqueSeries::new(config, 12, now)?;
//! visitors.add(b"ada", now).unwrap();
//! visitors.add(b"ada", now - hour).unwrap();
//! visitors.add(b"grace", now - hour).unwrap();
//! assert_eq!(visitors.unique(now - hour, now + hour).estimate.value, 2.0);
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::vec::Vec;

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::Result;
use crate::hash::hash_item;
use crate::hll::{Estimate, HyperLogLog};
use crate::series::{
    Bucket, MergeReport, Rejection, Rejections, Series, SeriesConfig, Tally, round_up,
};
use crate::wire;

impl Bucket for HyperLogLog {
    type Params = u8;
    const PARAMS_WHAT: &'static str = "unique series precision";

    fn params_shown(precision: u8) -> u64 {
        u64::from(precision)
    }

    fn new(precision: u8) -> Self {
        HyperLogLog::empty(precision)
    }

    fn is_empty(&self) -> bool {
        HyperLogLog::is_empty(self)
    }

    fn merge_from(&mut self, other: &Self) {
        // Same precision (`Series::merge` checks the series' parameters): this cannot fail.
        let merged = self.merge(other);
        debug_assert!(merged.is_ok());
    }

    fn tally(&self) -> Tally {
        Tally {
            events: self.estimate().rounded(),
            total: 0,
            buckets: 0,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::new();
        self.encode_payload(&mut payload);
        codec::put_length_prefixed(out, &payload);
    }

    fn read(precision: u8, r: &mut Reader<'_>) -> Result<Self> {
        let payload = r.length_prefixed("unique series bucket")?;
        HyperLogLog::decode_parts(&[precision], payload)
    }

    fn write_params(precision: u8, out: &mut Vec<u8>) {
        out.push(precision);
    }

    fn read_params(r: &mut Reader<'_>) -> Result<u8> {
        let precision = r.u8("unique series precision")?;
        HyperLogLog::new(precision)?;
        Ok(precision)
    }
}

/// A distinct count over a span of buckets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RangeUnique {
    /// The estimate for the union of the buckets.
    pub estimate: Estimate,
    /// Start of the first bucket covered.
    pub from_ms: i64,
    /// End of the span covered.
    pub to_ms: i64,
    /// Non-empty buckets merged.
    pub buckets: u64,
    /// The span reaches before what the series still retains.
    pub truncated: bool,
}

/// Distinct counts per time bucket. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct UniqueSeries {
    series: Series<HyperLogLog>,
}

impl UniqueSeries {
    /// An empty series of HyperLogLogs of `precision`, its clock at `now_ms`.
    pub fn new(config: SeriesConfig, precision: u8, now_ms: i64) -> Result<Self> {
        HyperLogLog::new(precision)?;
        Ok(UniqueSeries {
            series: Series::new(config, precision, now_ms)?,
        })
    }

    /// The series parameters.
    pub fn config(&self) -> SeriesConfig {
        self.series.config
    }

    /// The HyperLogLog precision of the buckets.
    pub fn precision(&self) -> u8 {
        self.series.params
    }

    /// The clock.
    pub fn now(&self) -> i64 {
        self.series.now()
    }

    /// Moves the clock forward to `now_ms` (never back), dropping buckets that leave the retention.
    pub fn advance(&mut self, now_ms: i64) {
        self.series.advance(now_ms);
    }

    /// Records item `item` (its bytes, as for [`HyperLogLog::insert`]) seen at `timestamp_ms`.
    pub fn add(&mut self, item: &[u8], timestamp_ms: i64) -> Result<(), Rejection> {
        self.add_hash(hash_item(item), timestamp_ms)
    }

    /// Records an item by its hash.
    pub fn add_hash(&mut self, hash: u64, timestamp_ms: i64) -> Result<(), Rejection> {
        let tally = Tally {
            events: 1,
            total: 0,
            buckets: 0,
        };
        self.series
            .bucket_for(timestamp_ms, tally)
            .map(|h| h.insert_hash(hash))
    }

    /// The union of the buckets that start in `[from_ms, to_ms)`, as one HyperLogLog.
    pub fn merged(&self, from_ms: i64, to_ms: i64) -> HyperLogLog {
        let mut out = HyperLogLog::empty(self.series.params);
        for (_, h) in self.series.range(from_ms, to_ms) {
            Bucket::merge_from(&mut out, h);
        }
        out
    }

    /// Distinct items in the buckets that start in `[from_ms, to_ms)`.
    pub fn unique(&self, from_ms: i64, to_ms: i64) -> RangeUnique {
        let w = self.series.config.bucket_ms as i64;
        let buckets = self.series.range(from_ms, to_ms).count() as u64;
        RangeUnique {
            estimate: self.merged(from_ms, to_ms).estimate(),
            from_ms: round_up(from_ms, w),
            to_ms: round_up(to_ms, w),
            buckets,
            truncated: self.series.truncated(from_ms),
        }
    }

    /// Distinct items in the last `duration_ms` at `now_ms` (the bucket holding `now_ms` and as many
    /// before it as cover the duration).
    pub fn last(&self, duration_ms: u64, now_ms: i64) -> RangeUnique {
        let (from, to) = self.series.last_span(duration_ms, now_ms);
        self.unique(from, to)
    }

    /// Each non-empty bucket starting in `[from_ms, to_ms)` with its own estimate.
    pub fn series(&self, from_ms: i64, to_ms: i64) -> Vec<(i64, Estimate)> {
        self.series
            .range(from_ms, to_ms)
            .map(|(start, h)| (start, h.estimate()))
            .collect()
    }

    /// Each non-empty bucket starting in `[from_ms, to_ms)`, as its HyperLogLog (for clients that
    /// merge ranges themselves).
    pub fn buckets(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = (i64, &HyperLogLog)> {
        self.series.range(from_ms, to_ms)
    }

    /// Items this series rejected in [`UniqueSeries::add`].
    pub fn rejected(&self) -> Rejections {
        self.series.rejected()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Non-empty buckets stored.
    pub fn bucket_count(&self) -> usize {
        self.series.bucket_count()
    }

    /// Merges another series in; idempotent, so no ledger is needed. Buckets are judged by this
    /// series' clock.
    pub fn merge(&mut self, other: &UniqueSeries) -> Result<MergeReport> {
        self.series.merge(&other.series)
    }

    /// The same items in wider buckets (`bucket_ms` a multiple of the current width).
    pub fn downsample(&self, bucket_ms: u64) -> Result<UniqueSeries> {
        Ok(UniqueSeries {
            series: self.series.downsample(bucket_ms)?,
        })
    }

    /// The buckets starting in `[from_ms, to_ms)` in a series of `config` (its bucket width a
    /// multiple of this one's), its clock at `to_ms`: a roll-up period to merge into a coarser
    /// series that keeps longer (see [`WindowCounter::rolled_up`](crate::WindowCounter::rolled_up)).
    pub fn rolled_up(
        &self,
        config: SeriesConfig,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<UniqueSeries> {
        Ok(UniqueSeries {
            series: self.series.rolled_up(config, from_ms, to_ms)?,
        })
    }

    /// An empty series with the same parameters and clock.
    pub(crate) fn emptied(&self) -> UniqueSeries {
        UniqueSeries {
            series: self.series.emptied(),
        }
    }

    /// An empty series with the same parameters and its clock at `now_ms`.
    pub(crate) fn emptied_at(&self, now_ms: i64) -> UniqueSeries {
        let mut series = self.series.emptied();
        series.set_clock(now_ms);
        UniqueSeries { series }
    }

    /// Takes what was recorded, leaving an empty series with the same clock: a sender's delta.
    pub fn take(&mut self) -> UniqueSeries {
        let empty = self.series.emptied();
        UniqueSeries {
            series: core::mem::replace(&mut self.series, empty),
        }
    }

    /// The series in snapshot format v1, on its own.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::to_bare_bytes(self)
    }

    /// Reads [`UniqueSeries::to_bytes`] output, validating all of it.
    pub fn from_bytes(bytes: &[u8]) -> Result<UniqueSeries> {
        codec::from_bare_bytes(bytes)
    }
}

impl FamilyCodec for UniqueSeries {
    const FAMILY: u8 = wire::family::UNIQUE_SERIES;

    fn encode_params(&self, out: &mut Vec<u8>) {
        self.series.write_params(out);
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        self.series.write_payload(out);
    }

    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self> {
        Ok(UniqueSeries {
            series: Series::read(params, payload)?,
        })
    }
}
