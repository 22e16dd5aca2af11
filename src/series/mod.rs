//! The bucket machinery that time-based families share: a series of buckets aligned to absolute
//! time, with retention by bucket time and explicit acceptance windows.
//!
//! # Time
//! Timestamps are milliseconds since the Unix epoch (UTC), as `i64` (negative ones are before
//! 1970 and work the same). Bucket `i` covers `[i·w, (i+1)·w)` for width `w`: every sender with
//! the same width cuts time at the same instants, so their buckets line up. The core never reads
//! a clock: a series has a *clock*, `now`, set at creation and moved forward (never back) by
//! `advance` ([`crate::WindowCounter::advance`], [`crate::UniqueSeries::advance`]).
//!
//! # Retention and acceptance
//! A series keeps `retention` buckets: the one holding `now` and the `retention − 1` before it.
//! A bucket leaves when the clock moves past it, whatever was written when: there is no TTL to
//! refresh. An event at time `t` is accepted when
//!
//! ```text
//! now − grace ≤ t ≤ now + max_future      and its bucket is still retained
//! ```
//!
//! and otherwise rejected as *late* or *future*: the caller gets the reason, and the series counts
//! it ([`Rejections`]); nothing is dropped or accepted silently. A whole bucket merged in from a
//! sender is judged the same way: late if it ended at or before `now − grace` (or is no longer
//! retained), future if it starts after `now + max_future`.
//!
//! # Storage
//! Only non-empty buckets are stored, in time order, so memory follows what was written and a
//! decoded series never allocates more than its input describes. Writing to the newest bucket is
//! O(1); to an older one, a binary search.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use crate::codec::{self, Reader};
use crate::error::{Error, Result};
use crate::wire::series::{MAX_BUCKET_MS, MAX_FUTURE_MS, MAX_RETENTION_BUCKETS, MIN_BUCKET_MS};

/// The parameters of a series, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesConfig {
    /// Bucket width in milliseconds, from 1,000 (1 s) to 86,400,000 (1 day).
    pub bucket_ms: u64,
    /// Buckets kept, counting the current one (at most 2^20).
    pub retention_buckets: u32,
    /// How far behind the clock an event may be, in milliseconds (at most the retention).
    pub grace_ms: u64,
    /// How far ahead of the clock an event may be (sender clocks run fast), at most a day.
    pub max_future_ms: u64,
}

impl SeriesConfig {
    /// Whether `other` keeps and accepts the same time spans as this (its bucket width aside,
    /// which a series merge checks itself).
    pub(crate) fn check_windows(&self, other: &SeriesConfig) -> Result<()> {
        let differs = |what, left: u64, right: u64| {
            if left == right {
                Ok(())
            } else {
                Err(Error::ParameterMismatch { what, left, right })
            }
        };
        differs(
            "series retention (buckets)",
            u64::from(self.retention_buckets),
            u64::from(other.retention_buckets),
        )?;
        differs("series grace (ms)", self.grace_ms, other.grace_ms)?;
        differs(
            "series max future (ms)",
            self.max_future_ms,
            other.max_future_ms,
        )
    }

    /// Buckets of `bucket_ms` kept for `retention_ms` (rounded up to whole buckets), accepting
    /// events up to `grace_ms` late and `max_future_ms` early.
    pub fn new(
        bucket_ms: u64,
        retention_ms: u64,
        grace_ms: u64,
        max_future_ms: u64,
    ) -> Result<Self> {
        let retention_buckets = retention_ms.div_ceil(bucket_ms.max(1));
        let config = SeriesConfig {
            bucket_ms,
            retention_buckets: u32::try_from(retention_buckets).unwrap_or(u32::MAX),
            grace_ms,
            max_future_ms,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every limit.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_BUCKET_MS..=MAX_BUCKET_MS).contains(&self.bucket_ms) {
            return Err(Error::InvalidConfig {
                what: "series bucket width must be 1 s to 1 day (1000..=86400000 ms)",
            });
        }
        if self.retention_buckets == 0 || self.retention_buckets > MAX_RETENTION_BUCKETS {
            return Err(Error::InvalidConfig {
                what: "series retention must be 1 to 1048576 buckets",
            });
        }
        if self.grace_ms > self.retention_ms() {
            return Err(Error::InvalidConfig {
                what: "series grace cannot exceed the retention",
            });
        }
        if self.max_future_ms > MAX_FUTURE_MS {
            return Err(Error::InvalidConfig {
                what: "series future allowance is at most a day",
            });
        }
        Ok(())
    }

    /// The retention in milliseconds.
    pub fn retention_ms(&self) -> u64 {
        self.bucket_ms
            .saturating_mul(u64::from(self.retention_buckets))
    }

    /// The bucket width as an `i64`, at least 1: the fields are public, and a configuration made
    /// by hand without [`SeriesConfig::validate`] must not divide by zero.
    fn width(&self) -> i64 {
        i64::try_from(self.bucket_ms).unwrap_or(i64::MAX).max(1)
    }

    /// The bucket index of time `t`.
    pub fn bucket_of(&self, t: i64) -> i64 {
        t.div_euclid(self.width())
    }

    /// The start of bucket `index`, saturating at the ends of time.
    pub fn bucket_start(&self, index: i64) -> i64 {
        index.saturating_mul(self.width())
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        codec::put_varint_u64(out, self.bucket_ms);
        codec::put_varint_u32(out, self.retention_buckets);
        codec::put_varint_u64(out, self.grace_ms);
        codec::put_varint_u64(out, self.max_future_ms);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let config = SeriesConfig {
            bucket_ms: r.varint_u64("series bucket width")?,
            retention_buckets: r.varint_u32("series retention")?,
            grace_ms: r.varint_u64("series grace")?,
            max_future_ms: r.varint_u64("series future allowance")?,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Why an event or bucket was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Older than the grace period (or than the retention) allows.
    Late {
        /// Its time.
        timestamp_ms: i64,
        /// The oldest time accepted now.
        oldest_ms: i64,
    },
    /// Further ahead of the clock than the future allowance.
    Future {
        /// Its time.
        timestamp_ms: i64,
        /// The latest time accepted now.
        latest_ms: i64,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rejection::Late {
                timestamp_ms,
                oldest_ms,
            } => write!(f, "late: {timestamp_ms} ms is before {oldest_ms} ms"),
            Rejection::Future {
                timestamp_ms,
                latest_ms,
            } => write!(f, "future: {timestamp_ms} ms is after {latest_ms} ms"),
        }
    }
}

/// How much was rejected one way: events (or buckets) and the sum of their values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tally {
    /// Events rejected (for merged buckets: the events they held, where the family knows).
    pub events: u64,
    /// Sum of their values (window counters; 0 for families without values).
    pub total: i128,
    /// Whole buckets rejected in merges.
    pub buckets: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.events = self.events.saturating_add(other.events);
        self.total = self.total.saturating_add(other.total);
        self.buckets = self.buckets.saturating_add(other.buckets);
    }

    fn write(&self, out: &mut Vec<u8>) {
        codec::put_varint_u64(out, self.events);
        codec::put_zigzag_i128(out, self.total);
        codec::put_varint_u64(out, self.buckets);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Tally {
            events: r.varint_u64("series rejection events")?,
            total: r.zigzag_i128("series rejection total")?,
            buckets: r.varint_u64("series rejection buckets")?,
        })
    }
}

/// What was rejected, late and future.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rejections {
    /// Too old.
    pub late: Tally,
    /// Too far ahead.
    pub future: Tally,
}

impl Rejections {
    /// Whether nothing was rejected.
    pub fn is_empty(&self) -> bool {
        *self == Rejections::default()
    }

    fn record(&mut self, rejection: Rejection, tally: Tally) {
        match rejection {
            Rejection::Late { .. } => self.late.add(tally),
            Rejection::Future { .. } => self.future.add(tally),
        }
    }

    /// Adds another set of rejections.
    pub fn add(&mut self, other: &Rejections) {
        self.late.add(other.late);
        self.future.add(other.future);
    }
}

/// What a merge of series did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Buckets merged in.
    pub accepted_buckets: u64,
    /// Buckets refused by the receiver's clock (late or future).
    pub rejected: Rejections,
    /// What the sender itself had rejected when its events were added (travels with its
    /// envelope so that the receiver can report it).
    pub sender_rejected: Rejections,
}

/// What a bucket of a series holds.
pub(crate) trait Bucket: Clone {
    /// Parameters every bucket of a series shares.
    type Params: Copy + PartialEq + fmt::Debug;
    /// What differs when two series' parameters do (the error's words), and the parameters as a
    /// number to show.
    const PARAMS_WHAT: &'static str;
    fn params_shown(params: Self::Params) -> u64;
    fn new(params: Self::Params) -> Self;
    fn is_empty(&self) -> bool;
    /// Combines `other` into `self` (addition for counts, union for sets).
    fn merge_from(&mut self, other: &Self);
    /// How much a rejected bucket held.
    fn tally(&self) -> Tally;
    fn write(&self, out: &mut Vec<u8>);
    fn read(params: Self::Params, r: &mut Reader<'_>) -> Result<Self>;
    fn write_params(params: Self::Params, out: &mut Vec<u8>);
    fn read_params(r: &mut Reader<'_>) -> Result<Self::Params>;
}

/// A series of buckets. See the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct Series<B: Bucket> {
    pub(crate) config: SeriesConfig,
    pub(crate) params: B::Params,
    now_ms: i64,
    /// Non-empty buckets, `(index, bucket)`, ascending by index, all retained.
    buckets: VecDeque<(i64, B)>,
    rejected: Rejections,
}

impl<B: Bucket> Series<B> {
    pub(crate) fn new(config: SeriesConfig, params: B::Params, now_ms: i64) -> Result<Self> {
        config.validate()?;
        Ok(Series {
            config,
            params,
            now_ms,
            buckets: VecDeque::new(),
            rejected: Rejections::default(),
        })
    }

    /// An empty series with the same parameters and clock.
    pub(crate) fn emptied(&self) -> Self {
        Series {
            config: self.config,
            params: self.params,
            now_ms: self.now_ms,
            buckets: VecDeque::new(),
            rejected: Rejections::default(),
        }
    }

    /// Sets the clock of an empty series (to either direction).
    pub(crate) fn set_clock(&mut self, now_ms: i64) {
        debug_assert!(self.buckets.is_empty());
        self.now_ms = now_ms;
    }

    pub(crate) fn now(&self) -> i64 {
        self.now_ms
    }

    pub(crate) fn rejected(&self) -> Rejections {
        self.rejected
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    pub(crate) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The oldest bucket index retained at the current clock.
    fn oldest_index(&self) -> i64 {
        self.config
            .bucket_of(self.now_ms)
            .saturating_sub(i64::from(self.config.retention_buckets) - 1)
    }

    /// Moves the clock to `now_ms` if that is later, dropping buckets that leave the retention.
    pub(crate) fn advance(&mut self, now_ms: i64) {
        if now_ms <= self.now_ms {
            return;
        }
        self.now_ms = now_ms;
        let oldest = self.oldest_index();
        while self.buckets.front().is_some_and(|(i, _)| *i < oldest) {
            self.buckets.pop_front();
        }
    }

    /// Whether an event at `t` is accepted now.
    pub(crate) fn judge_event(&self, t: i64) -> Result<(), Rejection> {
        let oldest_ms = self
            .now_ms
            .saturating_sub(self.config.grace_ms as i64)
            .max(self.config.bucket_start(self.oldest_index()));
        if t < oldest_ms {
            return Err(Rejection::Late {
                timestamp_ms: t,
                oldest_ms,
            });
        }
        let latest_ms = self.now_ms.saturating_add(self.config.max_future_ms as i64);
        if t > latest_ms {
            return Err(Rejection::Future {
                timestamp_ms: t,
                latest_ms,
            });
        }
        Ok(())
    }

    /// Whether a whole bucket `index` is accepted now.
    fn judge_bucket(&self, index: i64) -> Result<(), Rejection> {
        let start = self.config.bucket_start(index);
        let end = self.config.bucket_start(index.saturating_add(1));
        let oldest_ms = self.now_ms.saturating_sub(self.config.grace_ms as i64);
        if end <= oldest_ms || index < self.oldest_index() {
            return Err(Rejection::Late {
                timestamp_ms: start,
                oldest_ms: oldest_ms.max(self.config.bucket_start(self.oldest_index())),
            });
        }
        let latest_ms = self.now_ms.saturating_add(self.config.max_future_ms as i64);
        if start > latest_ms {
            return Err(Rejection::Future {
                timestamp_ms: start,
                latest_ms,
            });
        }
        Ok(())
    }

    /// The bucket for an event at `t`, created if needed, or why not. A rejection is counted with
    /// `tally` (what the event would have added).
    pub(crate) fn bucket_for(&mut self, t: i64, tally: Tally) -> Result<&mut B, Rejection> {
        if let Err(rejection) = self.judge_event(t) {
            self.rejected.record(rejection, tally);
            return Err(rejection);
        }
        let index = self.config.bucket_of(t);
        Ok(self.slot(index))
    }

    /// The stored bucket `index`, created empty if absent.
    fn slot(&mut self, index: i64) -> &mut B {
        let position = match self.buckets.back() {
            Some((last, _)) if *last == index => self.buckets.len() - 1,
            Some((last, _)) if *last < index => {
                self.buckets.push_back((index, B::new(self.params)));
                self.buckets.len() - 1
            }
            None => {
                self.buckets.push_back((index, B::new(self.params)));
                0
            }
            Some(_) => match self.buckets.binary_search_by_key(&index, |(i, _)| *i) {
                Ok(p) => p,
                Err(p) => {
                    self.buckets.insert(p, (index, B::new(self.params)));
                    p
                }
            },
        };
        &mut self.buckets[position].1
    }

    /// Merges another series' buckets in, each judged by this series' clock.
    pub(crate) fn merge(&mut self, other: &Series<B>) -> Result<MergeReport> {
        if other.config.bucket_ms != self.config.bucket_ms {
            return Err(Error::ParameterMismatch {
                what: "series bucket width (downsample the finer one first)",
                left: self.config.bucket_ms,
                right: other.config.bucket_ms,
            });
        }
        // Buckets of other parameters (a unique series' precision) would be stored as if they
        // had this series' and no longer decode.
        if other.params != self.params {
            return Err(Error::ParameterMismatch {
                what: B::PARAMS_WHAT,
                left: B::params_shown(self.params),
                right: B::params_shown(other.params),
            });
        }
        let mut report = MergeReport {
            sender_rejected: other.rejected,
            ..MergeReport::default()
        };
        // Both sides are sorted: one pass builds the merged sequence (inserting one by one would
        // cost a search, and a shift, per bucket).
        let mut merged = VecDeque::with_capacity(self.buckets.len() + other.buckets.len());
        let mut mine = core::mem::take(&mut self.buckets).into_iter().peekable();
        for (index, bucket) in &other.buckets {
            if let Err(rejection) = self.judge_bucket(*index) {
                let mut tally = bucket.tally();
                tally.buckets = 1;
                report.rejected.record(rejection, tally);
                continue;
            }
            while let Some(before) = mine.next_if(|(i, _)| i < index) {
                merged.push_back(before);
            }
            match mine.next_if(|(i, _)| i == index) {
                Some((i, mut b)) => {
                    b.merge_from(bucket);
                    merged.push_back((i, b));
                }
                None => merged.push_back((*index, bucket.clone())),
            }
            report.accepted_buckets += 1;
        }
        merged.extend(mine);
        self.buckets = merged;
        Ok(report)
    }

    /// Stored buckets whose start lies in `[from_ms, to_ms)`, in order.
    pub(crate) fn range(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = (i64, &B)> + '_ {
        let (first, end) = self.index_range(from_ms, to_ms);
        self.stored(first, end)
            .map(move |(i, b)| (self.config.bucket_start(*i), b))
    }

    /// The stored buckets of indexes in `[first, end)`.
    pub(crate) fn stored(&self, first: i64, end: i64) -> impl Iterator<Item = &(i64, B)> + '_ {
        let start = self.buckets.partition_point(|(i, _)| *i < first);
        self.buckets
            .range(start..)
            .take_while(move |(i, _)| *i < end)
    }

    /// The indexes `[first, end)` of the buckets that start in `[from_ms, to_ms)`: bucket i
    /// does iff ceil(from / w) <= i < ceil(to / w). The ends of time are open: the lowest bucket
    /// counts as starting at `i64::MIN` (see `first_index_from`), and a range to `i64::MAX` runs
    /// to the end of time: it holds the highest bucket, which starts at `i64::MAX` itself when the
    /// width divides it (so `[i64::MAX, i64::MAX)` holds that one). Any other empty range holds
    /// nothing.
    pub(crate) fn index_range(&self, from_ms: i64, to_ms: i64) -> (i64, i64) {
        let first = self.first_index_from(from_ms);
        let end = if to_ms == i64::MAX {
            // At most i64::MAX / 1000 + 1: widths are at least 1 s.
            self.config.bucket_of(i64::MAX) + 1
        } else if to_ms <= from_ms {
            first
        } else {
            ceil_div(to_ms, self.config.width())
        };
        (first, end)
    }

    /// The indexes `[first, end)` of the buckets the retention holds at the current clock, the
    /// furthest future one included.
    pub(crate) fn retained_indexes(&self) -> (i64, i64) {
        let future = self.now_ms.saturating_add(self.config.max_future_ms as i64);
        (
            self.oldest_index(),
            self.config.bucket_of(future).saturating_add(1),
        )
    }

    /// The span `[from, to)` of the last `duration_ms` at `now_ms`, in whole buckets: the bucket
    /// holding `now_ms` and the ones before it, enough to cover `duration_ms`.
    pub(crate) fn last_span(&self, duration_ms: u64, now_ms: i64) -> (i64, i64) {
        let buckets = duration_ms.div_ceil(self.config.bucket_ms).max(1) as i64;
        let current = self.config.bucket_of(now_ms);
        (
            self.config
                .bucket_start(current.saturating_sub(buckets - 1)),
            self.config.bucket_start(current.saturating_add(1)),
        )
    }

    /// Whether `[from_ms, ...)` reaches before what the series still retains.
    pub(crate) fn truncated(&self, from_ms: i64) -> bool {
        self.first_index_from(from_ms) < self.oldest_index()
    }

    /// The first bucket starting at or after `from_ms`. The lowest bucket really starts before
    /// `i64::MIN`; like [`SeriesConfig::bucket_start`] it counts as starting there, so a range
    /// from `i64::MIN` holds it.
    fn first_index_from(&self, from_ms: i64) -> i64 {
        if from_ms == i64::MIN {
            self.config.bucket_of(i64::MIN)
        } else {
            ceil_div(from_ms, self.config.width())
        }
    }

    /// The series with `bucket_ms` buckets, a multiple of the current width. Its retention holds
    /// every bucket this one retains, wherever the new buckets' edges fall: `R` old buckets span
    /// at most `⌈(R − 1) / factor⌉ + 1` new ones.
    pub(crate) fn downsample(&self, bucket_ms: u64) -> Result<Self> {
        if bucket_ms % self.config.bucket_ms != 0 || bucket_ms < self.config.bucket_ms {
            return Err(Error::ParameterMismatch {
                what: "downsampled bucket width must be a multiple of the current one",
                left: self.config.bucket_ms,
                right: bucket_ms,
            });
        }
        let factor = (bucket_ms / self.config.bucket_ms) as i64;
        let config = SeriesConfig {
            bucket_ms,
            retention_buckets: u32::try_from(
                u64::from(self.config.retention_buckets.saturating_sub(1)).div_ceil(factor as u64)
                    + 1,
            )
            .unwrap_or(u32::MAX),
            grace_ms: self.config.grace_ms,
            max_future_ms: self.config.max_future_ms,
        };
        let mut out = Series::<B>::new(config, self.params, self.now_ms)?;
        out.fold_in(&self.buckets, factor);
        out.rejected = self.rejected;
        Ok(out)
    }

    /// Merges `buckets`, `factor` times narrower than this series' own, into the buckets holding
    /// them, keeping only what this series retains (so its bytes always decode). A downsample's
    /// retention covers all of them; a roll-up into a series that keeps less does not.
    fn fold_in<'a>(&mut self, buckets: impl IntoIterator<Item = &'a (i64, B)>, factor: i64)
    where
        B: 'a,
    {
        let oldest = self.oldest_index();
        for (index, bucket) in buckets {
            let at = index.div_euclid(factor);
            if at >= oldest {
                self.slot(at).merge_from(bucket);
            }
        }
    }

    /// The buckets starting in `[from_ms, to_ms)`, combined into a series of `config` (whose
    /// bucket width is a multiple of this one's), with its clock at `to_ms` and nothing rejected:
    /// one period of a roll-up, to merge into a coarser series that keeps longer.
    pub(crate) fn rolled_up(&self, config: SeriesConfig, from_ms: i64, to_ms: i64) -> Result<Self> {
        if config.bucket_ms % self.config.bucket_ms != 0 || config.bucket_ms < self.config.bucket_ms
        {
            return Err(Error::ParameterMismatch {
                what: "roll-up bucket width must be a multiple of the series' one",
                left: self.config.bucket_ms,
                right: config.bucket_ms,
            });
        }
        let factor = (config.bucket_ms / self.config.bucket_ms) as i64;
        let mut out = Series::<B>::new(config, self.params, to_ms)?;
        let (first, end) = self.index_range(from_ms, to_ms);
        out.fold_in(self.stored(first, end), factor);
        Ok(out)
    }

    pub(crate) fn write_params(&self, out: &mut Vec<u8>) {
        self.config.write(out);
        B::write_params(self.params, out);
    }

    pub(crate) fn write_payload(&self, out: &mut Vec<u8>) {
        codec::put_zigzag_i64(out, self.now_ms);
        self.rejected.late.write(out);
        self.rejected.future.write(out);
        codec::put_varint_u64(out, self.buckets.len() as u64);
        let mut previous: Option<i64> = None;
        for (index, bucket) in &self.buckets {
            match previous {
                None => codec::put_zigzag_i64(out, *index),
                Some(p) => codec::put_varint_u64(out, (index - p - 1) as u64),
            }
            previous = Some(*index);
            bucket.write(out);
        }
    }

    pub(crate) fn read(params: &[u8], payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(params);
        let config = SeriesConfig::read(&mut r)?;
        let bucket_params = B::read_params(&mut r)?;
        r.finish("series params")?;

        let mut r = Reader::new(payload);
        let now_ms = r.zigzag_i64("series clock")?;
        let mut series = Series::new(config, bucket_params, now_ms)?;
        series.rejected.late = Tally::read(&mut r)?;
        series.rejected.future = Tally::read(&mut r)?;
        let count = r.varint_u64("series bucket count")?;
        // Each bucket takes at least two bytes; more than the input can hold is refused at once.
        if count > (r.remaining() / 2) as u64 {
            return Err(Error::LengthMismatch {
                what: "series bucket count",
                declared: count,
                actual: (r.remaining() / 2) as u64,
            });
        }
        let oldest = series.oldest_index();
        let newest = series
            .config
            .bucket_of(now_ms.saturating_add(config.max_future_ms as i64));
        let mut previous: Option<i64> = None;
        for _ in 0..count {
            let index = match previous {
                None => r.zigzag_i64("series first bucket")?,
                Some(p) => {
                    let gap = r.varint_u64("series bucket gap")?;
                    i64::try_from(gap)
                        .ok()
                        .and_then(|g| p.checked_add(g)?.checked_add(1))
                        .ok_or(Error::IndexOutOfRange {
                            what: "series bucket",
                            index: gap,
                            limit: i64::MAX as u64,
                        })?
                }
            };
            if index < oldest || index > newest {
                return Err(Error::IndexOutOfRange {
                    what: "series bucket outside the retention and future allowance",
                    index: index as u64,
                    limit: newest as u64,
                });
            }
            let bucket = B::read(bucket_params, &mut r)?;
            if bucket.is_empty() {
                return Err(Error::NonCanonical {
                    what: "series stores no empty buckets",
                });
            }
            series.buckets.push_back((index, bucket));
            previous = Some(index);
        }
        r.finish("series payload")?;
        Ok(series)
    }
}

/// `t` rounded up to a multiple of `w` (a bucket start), saturating.
pub(crate) fn round_up(t: i64, w: i64) -> i64 {
    let r = t.rem_euclid(w);
    if r == 0 { t } else { t.saturating_add(w - r) }
}

/// `ceil(a / b)` for `b > 0`, saturating.
fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        q
    } else {
        q.saturating_add(1)
    }
}
