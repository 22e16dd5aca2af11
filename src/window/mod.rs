//! WindowCounter: event counts and sums over time buckets, for "requests in the last minute" and
//! "errors per service over a sliding window".
//!
//! # What it holds
//! For each bucket of a fixed width (1 s to 1 day, aligned to UTC epoch time so that every sender's
//! buckets line up): the number of events, the exact sum of their values (`i128`), and the smallest
//! and largest value. Queries: the totals over any `[from, to)`, over the last N milliseconds
//! before a given `now`, and per-bucket series for charts. Sums are exact; nothing is estimated.
//!
//! # Time, retention, late and early events
//! See [`crate::series`]: the counter keeps `retention` buckets behind its clock (which the caller
//! moves with [`WindowCounter::advance`]; the core never reads a clock); an event more than `grace`
//! behind the clock or more than `max_future` ahead is rejected, reported to the caller and
//! counted in [`WindowCounter::rejected`].
//!
//! # Merge
//! Sums add, so merging is not idempotent: [`WindowCounter::merge`] takes the ledger's
//! [`Admission`] for the envelope being applied ([`crate::ledger`]). Each incoming bucket is judged
//! by the receiver's clock; refused buckets are reported, not kept.
//!
//! # Downsampling
//! [`WindowCounter::downsample`] folds buckets into wider ones (1 s → 1 min → 1 h), exactly.
//!
//! # Memory and wire format
//! Only non-empty buckets are stored (about 48 bytes each). Family id 3; params: the series
//! configuration; payload: clock, rejections, then each non-empty bucket's index (delta-coded),
//! count, sum, min and max (docs/FORMAT.md).
//!
//! ```
//! use edgesketch::{SeriesConfig, WindowCounter};
//!
//! // 1 s buckets kept for an hour; events up to 30 s late or 5 s early.
//! let config = SeriesConfig::new(1_000, 3_600_000, 30_000, 5_000)?;
//! let now = 1_764_115_200_000;
//! let mut requests = WindowCounter::new(config, now)?;
//! for ms in 0..10 {
//!     requests.add(1, now - 1_000 * ms).unwrap();
//! }
//! assert!(requests.add(1, now - 60_000).is_err()); // a minute late: rejected and counted
//! assert_eq!(requests.last(5_000, now).stats.count, 5);
//! assert_eq!(requests.rejected().late.events, 1);
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::vec::Vec;

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::{Error, Result};
use crate::ledger::Admission;
use crate::series::{
    Bucket, MergeReport, Rejection, Rejections, Series, SeriesConfig, Tally, round_up,
};
use crate::wire;

/// Totals of one bucket, or of a range of buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BucketStats {
    /// Events.
    pub count: u64,
    /// Sum of their values.
    pub sum: i128,
    /// Smallest value (`i64::MAX` when there are none).
    pub min: i64,
    /// Largest value (`i64::MIN` when there are none).
    pub max: i64,
}

impl Default for BucketStats {
    fn default() -> Self {
        BucketStats {
            count: 0,
            sum: 0,
            min: i64::MAX,
            max: i64::MIN,
        }
    }
}

impl BucketStats {
    /// Adds one event.
    pub fn record(&mut self, value: i64) {
        self.count = self.count.saturating_add(1);
        self.sum = self.sum.saturating_add(i128::from(value));
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.keep_consistent();
    }

    /// Adds another bucket's totals.
    pub fn absorb(&mut self, other: &BucketStats) {
        self.count = self.count.saturating_add(other.count);
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.keep_consistent();
    }

    /// Totals saturate. Below 2^64 events the sum cannot leave `count·[min, max]`; once the
    /// count is saturated it could, so it is held there: saturated statistics stay consistent
    /// (and decodable).
    fn keep_consistent(&mut self) {
        if self.count == u64::MAX && self.min <= self.max {
            // |count·min|, |count·max| < 2^127: no overflow.
            let n = i128::from(self.count);
            self.sum = self
                .sum
                .max(n * i128::from(self.min))
                .min(n * i128::from(self.max));
        }
    }

    /// The mean value, if there are events.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }
}

impl Bucket for BucketStats {
    type Params = ();
    const PARAMS_WHAT: &'static str = "window counter parameters";

    fn params_shown((): ()) -> u64 {
        0
    }

    fn new(_: ()) -> Self {
        BucketStats::default()
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn merge_from(&mut self, other: &Self) {
        self.absorb(other);
    }

    fn tally(&self) -> Tally {
        Tally {
            events: self.count,
            total: self.sum,
            buckets: 0,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        codec::put_varint_u64(out, self.count);
        codec::put_zigzag_i128(out, self.sum);
        codec::put_zigzag_i64(out, self.min);
        codec::put_zigzag_i64(out, self.max);
    }

    fn read(_: (), r: &mut Reader<'_>) -> Result<Self> {
        let stats = BucketStats {
            count: r.varint_u64("window bucket count")?,
            sum: r.zigzag_i128("window bucket sum")?,
            min: r.zigzag_i64("window bucket min")?,
            max: r.zigzag_i64("window bucket max")?,
        };
        // A non-empty bucket's sum lies between count·min and count·max.
        let n = i128::from(stats.count);
        let consistent = stats.count == 0
            || (stats.min <= stats.max
                && n * i128::from(stats.min) <= stats.sum
                && stats.sum <= n * i128::from(stats.max));
        if !consistent {
            return Err(Error::NonCanonical {
                what: "window bucket statistics are inconsistent",
            });
        }
        Ok(stats)
    }

    fn write_params(_: (), _: &mut Vec<u8>) {}

    fn read_params(_: &mut Reader<'_>) -> Result<()> {
        Ok(())
    }
}

/// Totals over a span of buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeStats {
    /// Combined totals.
    pub stats: BucketStats,
    /// Start of the first bucket covered (the requested start, rounded up to a bucket start).
    pub from_ms: i64,
    /// End of the span covered (the requested end, rounded up to a bucket start).
    pub to_ms: i64,
    /// Non-empty buckets in the span.
    pub buckets: u64,
    /// The span reaches before what the counter still retains: older data is gone.
    pub truncated: bool,
}

/// A windowed counter. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct WindowCounter {
    series: Series<BucketStats>,
}

impl WindowCounter {
    /// An empty counter with its clock at `now_ms`.
    pub fn new(config: SeriesConfig, now_ms: i64) -> Result<Self> {
        Ok(WindowCounter {
            series: Series::new(config, (), now_ms)?,
        })
    }

    /// The parameters.
    pub fn config(&self) -> SeriesConfig {
        self.series.config
    }

    /// The clock.
    pub fn now(&self) -> i64 {
        self.series.now()
    }

    /// Moves the clock forward to `now_ms` (never back), dropping buckets that leave the retention.
    pub fn advance(&mut self, now_ms: i64) {
        self.series.advance(now_ms);
    }

    /// Records an event of `value` at `timestamp_ms`, judged against the clock.
    pub fn add(&mut self, value: i64, timestamp_ms: i64) -> Result<(), Rejection> {
        let tally = Tally {
            events: 1,
            total: i128::from(value),
            buckets: 0,
        };
        self.series
            .bucket_for(timestamp_ms, tally)
            .map(|b| b.record(value))
    }

    /// Moves the clock to `now_ms`, then records an event at `timestamp_ms`.
    pub fn add_at(&mut self, value: i64, timestamp_ms: i64, now_ms: i64) -> Result<(), Rejection> {
        self.advance(now_ms);
        self.add(value, timestamp_ms)
    }

    /// Totals of the buckets that start in `[from_ms, to_ms)`.
    pub fn sum(&self, from_ms: i64, to_ms: i64) -> RangeStats {
        let w = self.series.config.bucket_ms as i64;
        let mut stats = BucketStats::default();
        let mut buckets = 0;
        for (_, b) in self.series.range(from_ms, to_ms) {
            stats.absorb(b);
            buckets += 1;
        }
        RangeStats {
            stats,
            from_ms: round_up(from_ms, w),
            to_ms: round_up(to_ms, w),
            buckets,
            truncated: self.series.truncated(from_ms),
        }
    }

    /// Totals of the last `duration_ms` at `now_ms`: the bucket holding `now_ms` and as many before
    /// it as cover the duration (a read: the clock does not move).
    pub fn last(&self, duration_ms: u64, now_ms: i64) -> RangeStats {
        let (from, to) = self.series.last_span(duration_ms, now_ms);
        self.sum(from, to)
    }

    /// Every bucket that starts in `[from_ms, to_ms)` and lies within the retention, empty ones
    /// included, as `(start_ms, totals)`: ready to chart.
    pub fn series(&self, from_ms: i64, to_ms: i64) -> Vec<(i64, BucketStats)> {
        let config = self.series.config;
        let (first, end) = self.series.index_range(from_ms, to_ms);
        let (oldest, newest) = self.series.retained_indexes();
        let (first, end) = (first.max(oldest), end.min(newest));
        let mut stored = self.series.stored(first, end).peekable();
        let mut out = Vec::new();
        // By index: the lowest bucket starts at i64::MIN, off the grid of the others.
        for i in first..end {
            let stats = match stored.next_if(|(s, _)| *s == i) {
                Some((_, b)) => *b,
                None => BucketStats::default(),
            };
            out.push((config.bucket_start(i), stats));
        }
        out
    }

    /// Events this counter rejected in [`WindowCounter::add`].
    pub fn rejected(&self) -> Rejections {
        self.series.rejected()
    }

    /// Whether no event is stored.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Non-empty buckets stored.
    pub fn bucket_count(&self) -> usize {
        self.series.bucket_count()
    }

    /// Adds a sender's buckets once: the admission proves its envelope is new. Buckets are judged
    /// by this counter's clock (advance it to the receiver's time first).
    pub fn merge(
        &mut self,
        other: &WindowCounter,
        _admission: &Admission<'_>,
    ) -> Result<MergeReport> {
        self.series.merge(&other.series)
    }

    /// Adds another counter's buckets without a ledger: for counters combined in one process,
    /// never for state received over a network (which may be a retry).
    pub fn merge_local(&mut self, other: &WindowCounter) -> Result<MergeReport> {
        self.series.merge(&other.series)
    }

    /// The same events in wider buckets (`bucket_ms` a multiple of the current width), exactly.
    pub fn downsample(&self, bucket_ms: u64) -> Result<WindowCounter> {
        Ok(WindowCounter {
            series: self.series.downsample(bucket_ms)?,
        })
    }

    /// The buckets starting in `[from_ms, to_ms)` in a counter of `config` (its bucket width a
    /// multiple of this one's), its clock at `to_ms`: a roll-up period to merge (with
    /// [`WindowCounter::merge_local`]) into a coarser counter that keeps longer. Rolling up
    /// consecutive periods gives the same totals as [`WindowCounter::downsample`] of them all.
    pub fn rolled_up(
        &self,
        config: SeriesConfig,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<WindowCounter> {
        Ok(WindowCounter {
            series: self.series.rolled_up(config, from_ms, to_ms)?,
        })
    }

    /// An empty counter with the same parameters and clock.
    pub(crate) fn emptied(&self) -> WindowCounter {
        WindowCounter {
            series: self.series.emptied(),
        }
    }

    /// An empty counter with the same parameters and its clock at `now_ms`.
    pub(crate) fn emptied_at(&self, now_ms: i64) -> WindowCounter {
        let mut series = self.series.emptied();
        series.set_clock(now_ms);
        WindowCounter { series }
    }

    /// Takes what was recorded, leaving an empty counter with the same clock: a sender's delta.
    pub fn take(&mut self) -> WindowCounter {
        let empty = self.series.emptied();
        WindowCounter {
            series: core::mem::replace(&mut self.series, empty),
        }
    }

    /// The counter in snapshot format v1, on its own.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::to_bare_bytes(self)
    }

    /// Reads [`WindowCounter::to_bytes`] output, validating all of it.
    pub fn from_bytes(bytes: &[u8]) -> Result<WindowCounter> {
        codec::from_bare_bytes(bytes)
    }
}

impl FamilyCodec for WindowCounter {
    const FAMILY: u8 = wire::family::WINDOW_COUNTER;

    fn encode_params(&self, out: &mut Vec<u8>) {
        self.series.write_params(out);
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        self.series.write_payload(out);
    }

    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self> {
        Ok(WindowCounter {
            series: Series::read(params, payload)?,
        })
    }
}
