//! Counters and time: `Counter`, `WindowCounter`, `UniqueSeries`.

use edgesketch::{
    BucketStats, Counter, RangeStats, RangeUnique, Rejections, SeriesConfig, Tally, UniqueSeries,
    WindowCounter,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::{
    EstimateJs, JsHyperLogLog, JsResult, count, error, js_error, millis, millis_or_now, options,
    plain,
};

/// A named 64-bit counter with increments and decrements.
#[wasm_bindgen(js_name = Counter)]
pub struct JsCounter {
    pub(crate) inner: Counter,
}

#[wasm_bindgen(js_class = Counter)]
impl JsCounter {
    /// `new Counter()`.
    #[wasm_bindgen(constructor)]
    pub fn new() -> JsCounter {
        JsCounter {
            inner: Counter::new(),
        }
    }

    /// Adds `n` (default 1).
    pub fn increment(&mut self, n: Option<f64>) -> JsResult<()> {
        self.inner.increment(count(n.unwrap_or(1.0), "increment")?);
        Ok(())
    }

    /// Subtracts `n` (default 1).
    pub fn decrement(&mut self, n: Option<f64>) -> JsResult<()> {
        self.inner.decrement(count(n.unwrap_or(1.0), "decrement")?);
        Ok(())
    }

    /// Increments minus decrements, exact.
    #[wasm_bindgen(getter)]
    pub fn value(&self) -> js_sys::BigInt {
        js_sys::BigInt::from(self.inner.value())
    }

    /// Sum of increments.
    #[wasm_bindgen(getter)]
    pub fn increments(&self) -> u64 {
        self.inner.increments()
    }

    /// Sum of decrements.
    #[wasm_bindgen(getter)]
    pub fn decrements(&self) -> u64 {
        self.inner.decrements()
    }

    /// `{ family, value, increments, decrements, saturated }` (numbers).
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        struct Json {
            family: &'static str,
            value: f64,
            increments: f64,
            decrements: f64,
            saturated: bool,
        }
        plain(&Json {
            family: "counter",
            value: self.inner.value() as f64,
            increments: self.inner.increments() as f64,
            decrements: self.inner.decrements() as f64,
            saturated: self.inner.saturated(),
        })
    }
}

crate::snapshot_methods!(
    JsCounter as Counter,
    Counter,
    "Adds another counter's increments and decrements.",
    |a, b| {
        a.merge_local(b);
        Ok::<(), edgesketch::Error>(())
    }
);

impl Default for JsCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// Options of a time-bucketed series.
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct SeriesOptions {
    bucket_ms: f64,
    retention_ms: f64,
    grace_ms: f64,
    max_future_ms: f64,
    now_ms: Option<f64>,
    precision: Option<u8>,
}

impl Default for SeriesOptions {
    fn default() -> Self {
        SeriesOptions {
            bucket_ms: 1_000.0,
            retention_ms: 3_600_000.0,
            grace_ms: 60_000.0,
            max_future_ms: 60_000.0,
            now_ms: None,
            precision: None,
        }
    }
}

impl SeriesOptions {
    fn config(&self) -> JsResult<SeriesConfig> {
        SeriesConfig::new(
            count(self.bucket_ms, "bucketMs")?,
            count(self.retention_ms, "retentionMs")?,
            count(self.grace_ms, "graceMs")?,
            count(self.max_future_ms, "maxFutureMs")?,
        )
        .map_err(js_error)
    }
}

pub(crate) fn series_config(
    value: Option<js_sys::Object>,
    what: &str,
) -> JsResult<(SeriesConfig, Option<u8>)> {
    let o: SeriesOptions = options(value, what)?;
    if o.now_ms.is_some() {
        return Err(error(&format!(
            "{what} options: nowMs belongs to the constructor, not to a recorder key"
        )));
    }
    Ok((o.config()?, o.precision))
}

/// Chart points: `[{ startMs, ...value }]`.
fn chart<T: Serialize>(points: impl Iterator<Item = (i64, T)>) -> JsResult<JsValue> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Point<T> {
        start_ms: f64,
        #[serde(flatten)]
        value: T,
    }
    let points: Vec<Point<T>> = points
        .map(|(t, value)| Point {
            start_ms: t as f64,
            value,
        })
        .collect();
    plain(&points)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsJs {
    count: f64,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
}

impl From<BucketStats> for StatsJs {
    fn from(b: BucketStats) -> Self {
        let seen = b.count > 0;
        StatsJs {
            count: b.count as f64,
            sum: b.sum as f64,
            min: seen.then_some(b.min as f64),
            max: seen.then_some(b.max as f64),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RangeJs {
    count: f64,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
    from_ms: f64,
    to_ms: f64,
    buckets: f64,
    truncated: bool,
}

impl From<RangeStats> for RangeJs {
    fn from(r: RangeStats) -> Self {
        let s = StatsJs::from(r.stats);
        RangeJs {
            count: s.count,
            sum: s.sum,
            min: s.min,
            max: s.max,
            from_ms: r.from_ms as f64,
            to_ms: r.to_ms as f64,
            buckets: r.buckets as f64,
            truncated: r.truncated,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TallyJs {
    events: f64,
    total: f64,
    buckets: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RejectionsJs {
    late: TallyJs,
    future: TallyJs,
}

impl From<Rejections> for RejectionsJs {
    fn from(r: Rejections) -> Self {
        let t = |t: Tally| TallyJs {
            events: t.events as f64,
            total: t.total as f64,
            buckets: t.buckets as f64,
        };
        RejectionsJs {
            late: t(r.late),
            future: t(r.future),
        }
    }
}

/// What a series merge took and refused.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MergeJs {
    accepted_buckets: f64,
    rejected: RejectionsJs,
}

impl From<edgesketch::MergeReport> for MergeJs {
    fn from(r: edgesketch::MergeReport) -> Self {
        MergeJs {
            accepted_buckets: r.accepted_buckets as f64,
            rejected: r.rejected.into(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigJs {
    bucket_ms: f64,
    retention_ms: f64,
    grace_ms: f64,
    max_future_ms: f64,
}

impl From<SeriesConfig> for ConfigJs {
    fn from(c: SeriesConfig) -> Self {
        ConfigJs {
            bucket_ms: c.bucket_ms as f64,
            retention_ms: c.retention_ms() as f64,
            grace_ms: c.grace_ms as f64,
            max_future_ms: c.max_future_ms as f64,
        }
    }
}

/// Event counts in time buckets aligned to the UTC epoch, with retention by bucket time.
#[wasm_bindgen(js_name = WindowCounter)]
pub struct JsWindowCounter {
    pub(crate) inner: WindowCounter,
}

#[wasm_bindgen(js_class = WindowCounter)]
impl JsWindowCounter {
    /// `new WindowCounter({ bucketMs = 1000, retentionMs = 3600000, graceMs = 60000,
    /// maxFutureMs = 60000, nowMs = Date.now() })`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "WindowCounterOptions")] options_: Option<
            js_sys::Object,
        >,
    ) -> JsResult<JsWindowCounter> {
        let o: SeriesOptions = options(options_, "WindowCounter")?;
        if o.precision.is_some() {
            return Err(error(
                "WindowCounter options: precision belongs to UniqueSeries",
            ));
        }
        let now = millis_or_now(o.now_ms, "nowMs")?;
        Ok(JsWindowCounter {
            inner: WindowCounter::new(o.config()?, now).map_err(js_error)?,
        })
    }

    /// Adds `value` (default 1) at `timestampMs` (default now); false if the event fell outside
    /// the accepted window (counted in `rejected()`).
    pub fn add(&mut self, value: Option<f64>, timestamp_ms: Option<f64>) -> JsResult<bool> {
        let value = crate::whole(value.unwrap_or(1.0), "value")?;
        let t = millis_or_now(timestamp_ms, "timestampMs")?;
        Ok(self.inner.add(value, t).is_ok())
    }

    /// `{ count, sum, min, max, fromMs, toMs, buckets, truncated }` over buckets starting in
    /// `[fromMs, toMs)`.
    pub fn sum(&self, from_ms: f64, to_ms: f64) -> JsResult<JsValue> {
        let r = self
            .inner
            .sum(millis(from_ms, "fromMs")?, millis(to_ms, "toMs")?);
        plain(&RangeJs::from(r))
    }

    /// The same over the last `durationMs` up to `nowMs` (default now), in whole buckets.
    pub fn last(&self, duration_ms: f64, now_ms: Option<f64>) -> JsResult<JsValue> {
        let r = self.inner.last(
            count(duration_ms, "durationMs")?,
            millis_or_now(now_ms, "nowMs")?,
        );
        plain(&RangeJs::from(r))
    }

    /// Per-bucket `[{ startMs, count, sum, min, max }]` in `[fromMs, toMs)`, empty buckets
    /// included, for charts.
    pub fn series(&self, from_ms: f64, to_ms: f64) -> JsResult<JsValue> {
        let series = self
            .inner
            .series(millis(from_ms, "fromMs")?, millis(to_ms, "toMs")?);
        chart(series.into_iter().map(|(t, b)| (t, StatsJs::from(b))))
    }

    /// `{ family, config, nowMs, buckets, total, rejected }`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Json {
            family: &'static str,
            config: ConfigJs,
            now_ms: f64,
            buckets: usize,
            total: RangeJs,
            rejected: RejectionsJs,
        }
        plain(&Json {
            family: "window_counter",
            config: self.inner.config().into(),
            now_ms: self.inner.now() as f64,
            buckets: self.inner.bucket_count(),
            total: {
                let (from, to) = held_span(self.inner.config(), self.inner.now());
                self.inner.sum(from, to).into()
            },
            rejected: self.inner.rejected().into(),
        })
    }
}

crate::snapshot_methods!(
    JsWindowCounter as WindowCounter,
    WindowCounter,
    "Adds another counter's buckets, judged by this counter's clock. Answers `{ acceptedBuckets,\n\
     rejected: { late, future } }` (each `{ events, total, buckets }`): buckets older than this\n\
     counter retains, or ahead of its clock by more than it allows, are not merged.",
    |a, b| a.merge_local(b),
    -> JsValue |report| plain(&MergeJs::from(report))
);
crate::series_methods!(JsWindowCounter as WindowCounter, "events");

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RangeUniqueJs {
    #[serde(flatten)]
    estimate: EstimateJs,
    from_ms: f64,
    to_ms: f64,
    buckets: f64,
    truncated: bool,
}

impl From<RangeUnique> for RangeUniqueJs {
    fn from(r: RangeUnique) -> Self {
        RangeUniqueJs {
            estimate: r.estimate.into(),
            from_ms: r.from_ms as f64,
            to_ms: r.to_ms as f64,
            buckets: r.buckets as f64,
            truncated: r.truncated,
        }
    }
}

/// Distinct counts in time buckets: any range is the union of its buckets' HyperLogLogs.
#[wasm_bindgen(js_name = UniqueSeries)]
pub struct JsUniqueSeries {
    pub(crate) inner: UniqueSeries,
}

#[wasm_bindgen(js_class = UniqueSeries)]
impl JsUniqueSeries {
    /// `new UniqueSeries({ bucketMs = 1000, retentionMs = 3600000, graceMs = 60000,
    /// maxFutureMs = 60000, precision = 14, nowMs = Date.now() })`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "UniqueSeriesOptions")] options_: Option<
            js_sys::Object,
        >,
    ) -> JsResult<JsUniqueSeries> {
        let o: SeriesOptions = options(options_, "UniqueSeries")?;
        let now = millis_or_now(o.now_ms, "nowMs")?;
        Ok(JsUniqueSeries {
            inner: UniqueSeries::new(o.config()?, o.precision.unwrap_or(14), now)
                .map_err(js_error)?,
        })
    }

    /// Records `item` seen at `timestampMs` (default now); false if outside the accepted window.
    pub fn add(&mut self, item: &str, timestamp_ms: Option<f64>) -> JsResult<bool> {
        let t = millis_or_now(timestamp_ms, "timestampMs")?;
        Ok(self.inner.add(item.as_bytes(), t).is_ok())
    }

    /// `add` of the item in the scratch buffer (pkg-template/batch.js; internal): 1 if added,
    /// 0 if outside the accepted window (`add`'s true and false), 2 if the time or the item is
    /// refused, with nothing changed (`add` says why).
    #[wasm_bindgen(js_name = __addScratch, skip_typescript)]
    pub fn add_scratch(&mut self, len: u32, timestamp_ms: Option<f64>) -> u8 {
        let Ok(t) = millis_or_now(timestamp_ms, "timestampMs") else {
            return 2;
        };
        crate::scratch::with_item(len, |item| u8::from(self.inner.add(item, t).is_ok()))
            .unwrap_or(2)
    }

    /// `{ value, stdError, lower, upper, exact, fromMs, toMs, buckets, truncated }`: distinct
    /// items over buckets starting in `[fromMs, toMs)`.
    pub fn unique(&self, from_ms: f64, to_ms: f64) -> JsResult<JsValue> {
        let r = self
            .inner
            .unique(millis(from_ms, "fromMs")?, millis(to_ms, "toMs")?);
        plain(&RangeUniqueJs::from(r))
    }

    /// The same over the last `durationMs` up to `nowMs` (default now).
    pub fn last(&self, duration_ms: f64, now_ms: Option<f64>) -> JsResult<JsValue> {
        let r = self.inner.last(
            count(duration_ms, "durationMs")?,
            millis_or_now(now_ms, "nowMs")?,
        );
        plain(&RangeUniqueJs::from(r))
    }

    /// The union of the buckets starting in `[fromMs, toMs)` as one HyperLogLog.
    pub fn merged(&self, from_ms: f64, to_ms: f64) -> JsResult<JsHyperLogLog> {
        Ok(JsHyperLogLog {
            inner: self
                .inner
                .merged(millis(from_ms, "fromMs")?, millis(to_ms, "toMs")?),
        })
    }

    /// Per-bucket `[{ startMs, value, stdError, lower, upper, exact }]` of non-empty buckets.
    pub fn series(&self, from_ms: f64, to_ms: f64) -> JsResult<JsValue> {
        let series = self
            .inner
            .series(millis(from_ms, "fromMs")?, millis(to_ms, "toMs")?);
        chart(series.into_iter().map(|(t, e)| (t, EstimateJs::from(e))))
    }

    /// `{ family, config, precision, nowMs, buckets, unique, rejected }`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Json {
            family: &'static str,
            config: ConfigJs,
            precision: u8,
            now_ms: f64,
            buckets: usize,
            unique: RangeUniqueJs,
            rejected: RejectionsJs,
        }
        plain(&Json {
            family: "unique_series",
            config: self.inner.config().into(),
            precision: self.inner.precision(),
            now_ms: self.inner.now() as f64,
            buckets: self.inner.bucket_count(),
            unique: {
                let (from, to) = held_span(self.inner.config(), self.inner.now());
                self.inner.unique(from, to).into()
            },
            rejected: self.inner.rejected().into(),
        })
    }
}

crate::snapshot_methods!(
    JsUniqueSeries as UniqueSeries,
    UniqueSeries,
    "Unions another series' buckets into this one (idempotent), judged by this series' clock.\n\
     Answers `{ acceptedBuckets, rejected: { late, future } }`, as `WindowCounter.merge` does.",
    |a, b| a.merge(b),
    -> JsValue |report| plain(&MergeJs::from(report))
);
crate::series_methods!(JsUniqueSeries as UniqueSeries, "items");

/// The span a series can hold at its clock `now`: from the oldest bucket it retains to the
/// newest its future allowance admits.
fn held_span(config: SeriesConfig, now: i64) -> (i64, i64) {
    let width = config.bucket_ms as i64;
    let current = config.bucket_start(config.bucket_of(now));
    let retained = config.retention_ms() as i64;
    let from = current.saturating_sub(retained).saturating_add(width);
    let to = now
        .saturating_add(config.max_future_ms as i64)
        .saturating_add(width);
    (from, to)
}
