//! Rankings and distributions: `Leaderboard`, `TopK`, `CountMinSketch`, `Quantiles`.

use edgesketch::{
    AddMode, Best, CountEstimate, CountMinSketch, HeavyHitter, Leaderboard, MergeRule, Order,
    Quantiles, RankedMember, TopK,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::{JsResult, count, error, js_error, millis_or_now, options, plain, text};

pub(crate) fn merge_rule(name: &str) -> JsResult<MergeRule> {
    Ok(match name {
        "max" => MergeRule::Max,
        "min" => MergeRule::Min,
        "sum" => MergeRule::Sum,
        "lastWriterWins" => MergeRule::LastWriterWins,
        _ => {
            return Err(error(&format!(
                "rule must be \"max\", \"min\", \"sum\" or \"lastWriterWins\", got {name:?}"
            )));
        }
    })
}

pub(crate) fn best(name: &str) -> JsResult<Best> {
    Ok(match name {
        "highest" => Best::Highest,
        "lowest" => Best::Lowest,
        _ => {
            return Err(error(&format!(
                "best must be \"highest\" or \"lowest\", got {name:?}"
            )));
        }
    })
}

fn order(name: Option<String>) -> JsResult<Order> {
    match name.as_deref() {
        None | Some("descending") => Ok(Order::Descending),
        Some("ascending") => Ok(Order::Ascending),
        Some(other) => Err(error(&format!(
            "order must be \"ascending\" or \"descending\", got {other:?}"
        ))),
    }
}

pub(crate) fn add_mode(name: Option<&str>) -> JsResult<AddMode> {
    Ok(match name {
        None | Some("set") => AddMode::Set,
        Some("greaterThan") => AddMode::GreaterThan,
        Some("lessThan") => AddMode::LessThan,
        Some("onlyNew") => AddMode::OnlyNew,
        Some("onlyExisting") => AddMode::OnlyExisting,
        Some("increment") => AddMode::Increment,
        Some(other) => {
            return Err(error(&format!(
                "mode must be \"set\", \"greaterThan\", \"lessThan\", \"onlyNew\", \
                 \"onlyExisting\" or \"increment\", got {other:?}"
            )));
        }
    })
}

/// Leaderboard creation options.
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LeaderboardOptions {
    pub(crate) rule: String,
    pub(crate) best: String,
    pub(crate) capacity: u32,
}

impl Default for LeaderboardOptions {
    fn default() -> Self {
        LeaderboardOptions {
            rule: "max".into(),
            best: "highest".into(),
            capacity: 0,
        }
    }
}

#[derive(Serialize)]
struct MemberJs {
    member: String,
    score: f64,
}

fn members(list: Vec<RankedMember>) -> Vec<MemberJs> {
    list.into_iter()
        .map(|m| MemberJs {
            member: text(&m.member),
            score: m.score,
        })
        .collect()
}

/// An exact sorted set of members and scores with a merge rule (max, min, sum, last writer wins).
#[wasm_bindgen(js_name = Leaderboard)]
pub struct JsLeaderboard {
    pub(crate) inner: Leaderboard,
}

#[wasm_bindgen(js_class = Leaderboard)]
impl JsLeaderboard {
    /// `new Leaderboard({ rule = "max", best = "highest", capacity = 0 })`; capacity 0 keeps
    /// every member, otherwise the best `capacity` are kept.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "LeaderboardOptions")] options_: Option<
            js_sys::Object,
        >,
    ) -> JsResult<JsLeaderboard> {
        let o: LeaderboardOptions = options(options_, "Leaderboard")?;
        Ok(JsLeaderboard {
            inner: Leaderboard::new(merge_rule(&o.rule)?, best(&o.best)?, o.capacity)
                .map_err(js_error)?,
        })
    }

    /// Sets or updates `member`'s score under `mode` (`"set"`, `"greaterThan"`, `"lessThan"`,
    /// `"onlyNew"`, `"onlyExisting"`, `"increment"`); returns `{ added, changed, score }`.
    /// `writtenMs` (default now) orders writes under `lastWriterWins`.
    pub fn add(
        &mut self,
        member: &str,
        score: f64,
        #[wasm_bindgen(unchecked_param_type = "AddMode | undefined")] mode: Option<String>,
        written_ms: Option<f64>,
    ) -> JsResult<JsValue> {
        let mode = add_mode(mode.as_deref())?;
        let written = millis_or_now(written_ms, "writtenMs")?;
        let outcome = self
            .inner
            .add_at(member.as_bytes(), score, mode, written)
            .map_err(js_error)?;
        #[derive(Serialize)]
        struct Outcome {
            added: bool,
            changed: bool,
            score: Option<f64>,
        }
        plain(&Outcome {
            added: outcome.added,
            changed: outcome.changed,
            score: outcome.score,
        })
    }

    /// The member's score, or `undefined`.
    pub fn score(&self, member: &str) -> Option<f64> {
        self.inner.score(member.as_bytes())
    }

    /// Removes the member; returns its score, or `undefined` if it was absent.
    pub fn remove(&mut self, member: &str) -> Option<f64> {
        self.inner.remove(member.as_bytes())
    }

    /// The member's 0-based rank in `order` (default `"descending"`), or `undefined`.
    pub fn rank(&self, member: &str, order_: Option<String>) -> JsResult<Option<f64>> {
        Ok(self
            .inner
            .rank(member.as_bytes(), order(order_)?)
            .map(|r| r as f64))
    }

    /// `[{ member, score }]` with ranks `start..=stop` in `order` (default `"descending"`).
    #[wasm_bindgen(js_name = rangeByRank)]
    pub fn range_by_rank(
        &self,
        start: f64,
        stop: f64,
        order_: Option<String>,
    ) -> JsResult<JsValue> {
        let (start, stop) = (count(start, "start")?, count(stop, "stop")?);
        let list = self.inner.range_by_rank(start, stop, order(order_)?);
        plain(&members(list))
    }

    /// `[{ member, score }]` with `min <= score <= max` in `order`, at most `limit`.
    #[wasm_bindgen(js_name = rangeByScore)]
    pub fn range_by_score(
        &self,
        min: f64,
        max: f64,
        order_: Option<String>,
        limit: Option<f64>,
    ) -> JsResult<JsValue> {
        let limit = match limit {
            Some(l) => usize::try_from(count(l, "limit")?).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let list = self.inner.range_by_score(min, max, order(order_)?, limit);
        plain(&members(list))
    }

    /// Keeps the best `n` members; returns how many were removed.
    pub fn trim(&mut self, n: f64) -> JsResult<f64> {
        let n = usize::try_from(count(n, "n")?).unwrap_or(usize::MAX);
        Ok(self.inner.trim(n) as f64)
    }

    /// Number of members.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// Under `"sum"`, an upper bound on what trimmed members may still contribute to a score.
    #[wasm_bindgen(getter, js_name = missingBound)]
    pub fn missing_bound(&self) -> f64 {
        self.inner.missing_bound()
    }

    /// `{ family, rule, best, capacity, size, top }` with the top 10.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        struct Json {
            family: &'static str,
            rule: &'static str,
            best: &'static str,
            capacity: u32,
            size: usize,
            top: Vec<MemberJs>,
        }
        let rule = match self.inner.rule() {
            MergeRule::Max => "max",
            MergeRule::Min => "min",
            MergeRule::Sum => "sum",
            _ => "lastWriterWins",
        };
        let best = match self.inner.best() {
            Best::Highest => "highest",
            Best::Lowest => "lowest",
        };
        plain(&Json {
            family: "leaderboard",
            rule,
            best,
            capacity: self.inner.capacity(),
            size: self.inner.len(),
            top: members(self.inner.range_by_rank(0, 9, Order::Descending)),
        })
    }
}

crate::snapshot_methods!(
    JsLeaderboard as Leaderboard,
    Leaderboard,
    "Merges another board under the shared rule.",
    |a, b| a.merge_local(b)
);

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TopKOptions {
    pub(crate) capacity: u32,
}

impl Default for TopKOptions {
    fn default() -> Self {
        TopKOptions { capacity: 1000 }
    }
}

#[derive(Serialize)]
struct HitterJs {
    item: String,
    lower: f64,
    upper: f64,
}

/// Heavy hitters (Space-Saving) with guaranteed count bounds; mergeable.
#[wasm_bindgen(js_name = TopK)]
pub struct JsTopK {
    pub(crate) inner: TopK,
}

#[wasm_bindgen(js_class = TopK)]
impl JsTopK {
    /// `new TopK({ capacity = 1000 })`: items tracked.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "TopKOptions")] options_: Option<js_sys::Object>,
    ) -> JsResult<JsTopK> {
        let o: TopKOptions = options(options_, "TopK")?;
        Ok(JsTopK {
            inner: TopK::new(o.capacity).map_err(js_error)?,
        })
    }

    /// Counts `item` `weight` times (default 1).
    pub fn add(&mut self, item: &str, weight: Option<f64>) -> JsResult<()> {
        let weight = count(weight.unwrap_or(1.0), "weight")?;
        self.inner.insert(item.as_bytes(), weight).map_err(js_error)
    }

    /// `add` of the item in the scratch buffer (pkg-template/batch.js; internal): false, with
    /// nothing changed, if the weight or the item is refused (`add` says why).
    #[wasm_bindgen(js_name = __addScratch, skip_typescript)]
    pub fn add_scratch(&mut self, len: u32, weight: f64) -> bool {
        let Ok(weight) = count(weight, "weight") else {
            return false;
        };
        crate::scratch::with_item(len, |item| self.inner.insert(item, weight).is_ok())
            .unwrap_or(false)
    }

    /// `addMany` of the batch in the scratch buffer (internal).
    #[wasm_bindgen(js_name = __addScratchMany, skip_typescript)]
    pub fn add_scratch_many(&mut self, count: u32, data_len: u32) -> JsResult<()> {
        // All or nothing: every item is checked before any is counted.
        crate::scratch::with_items(count, data_len, |item| item_fits(item.len()))?;
        crate::scratch::with_items(count, data_len, |item| {
            self.inner.insert(item, 1).map_err(js_error)
        })
    }

    /// Counts many strings once each (all or nothing: an item too long changes nothing).
    #[wasm_bindgen(js_name = addMany)]
    pub fn add_many(&mut self, items: Vec<String>) -> JsResult<()> {
        for item in &items {
            item_fits(item.len())?;
        }
        for item in &items {
            self.inner.insert(item.as_bytes(), 1).map_err(js_error)?;
        }
        Ok(())
    }

    /// `{ lower, upper }`: guaranteed bounds on `item`'s count.
    pub fn bounds(&self, item: &str) -> JsResult<JsValue> {
        let (lower, upper) = self.inner.bounds(item.as_bytes());
        #[derive(Serialize)]
        struct Bounds {
            lower: f64,
            upper: f64,
        }
        plain(&Bounds {
            lower: lower as f64,
            upper: upper as f64,
        })
    }

    /// `{ guaranteed, possible, floor, total }`: the `k` most frequent items, split into those
    /// certainly among the top `k` and those that may be, each `{ item, lower, upper }`.
    pub fn top(&self, k: f64) -> JsResult<JsValue> {
        let k = usize::try_from(count(k, "k")?).unwrap_or(usize::MAX);
        plain(&top_report(&self.inner, k))
    }

    /// Events counted, exact.
    #[wasm_bindgen(getter)]
    pub fn total(&self) -> u64 {
        self.inner.total()
    }

    /// `{ family, capacity, top }` with the top 10.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        struct Json {
            family: &'static str,
            capacity: u32,
            top: TopJs,
        }
        plain(&Json {
            family: "top_k",
            capacity: self.inner.capacity(),
            top: top_report(&self.inner, 10),
        })
    }
}

crate::snapshot_methods!(
    JsTopK as TopK,
    TopK,
    "Merges another summary of equal capacity.",
    |a, b| a.merge_local(b)
);

#[derive(Serialize)]
struct TopJs {
    guaranteed: Vec<HitterJs>,
    possible: Vec<HitterJs>,
    floor: f64,
    total: f64,
}

fn top_report(t: &TopK, k: usize) -> TopJs {
    let r = t.top(k);
    let hitters = |list: Vec<HeavyHitter>| -> Vec<HitterJs> {
        list.into_iter()
            .map(|h| HitterJs {
                item: text(&h.item),
                lower: h.lower as f64,
                upper: h.upper as f64,
            })
            .collect()
    };
    TopJs {
        guaranteed: hitters(r.guaranteed),
        possible: hitters(r.possible),
        floor: r.floor as f64,
        total: r.total as f64,
    }
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CountMinOptions {
    epsilon: Option<f64>,
    delta: Option<f64>,
    width: Option<u32>,
    depth: Option<u8>,
    pub(crate) conservative: bool,
}

impl CountMinOptions {
    /// `(width, depth)`: given directly, or from `epsilon` (default 0.001) and `delta` (default
    /// 0.01); not both ways at once.
    pub(crate) fn dimensions(&self) -> JsResult<(u32, u8)> {
        match (self.width, self.depth) {
            (None, None) => CountMinSketch::dimensions_for(
                self.epsilon.unwrap_or(0.001),
                self.delta.unwrap_or(0.01),
            )
            .map_err(js_error),
            (Some(w), Some(d)) if self.epsilon.is_none() && self.delta.is_none() => Ok((w, d)),
            _ => Err(error(
                "CountMinSketch options: give epsilon and delta, or width and depth (both)",
            )),
        }
    }
}

#[derive(Serialize)]
struct CountEstimateJs {
    lower: f64,
    upper: f64,
    epsilon: f64,
    delta: f64,
}

impl From<CountEstimate> for CountEstimateJs {
    fn from(e: CountEstimate) -> Self {
        CountEstimateJs {
            lower: e.lower as f64,
            upper: e.upper as f64,
            epsilon: e.epsilon,
            delta: e.delta,
        }
    }
}

/// Count-min sketch: per-item counts, over-estimated by at most `epsilon × total` with
/// probability `1 - delta`.
#[wasm_bindgen(js_name = CountMinSketch)]
pub struct JsCountMinSketch {
    pub(crate) inner: CountMinSketch,
}

#[wasm_bindgen(js_class = CountMinSketch)]
impl JsCountMinSketch {
    /// `new CountMinSketch({ epsilon = 0.001, delta = 0.01, conservative = false })`, or
    /// `{ width, depth }` instead of `epsilon` and `delta`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "CountMinSketchOptions")] options_: Option<
            js_sys::Object,
        >,
    ) -> JsResult<JsCountMinSketch> {
        let o: CountMinOptions = options(options_, "CountMinSketch")?;
        let (width, depth) = o.dimensions()?;
        let mut inner = CountMinSketch::with_dimensions(width, depth).map_err(js_error)?;
        if o.conservative {
            inner = inner.with_conservative_update();
        }
        Ok(JsCountMinSketch { inner })
    }

    /// Counts `item` `weight` times (default 1).
    pub fn add(&mut self, item: &str, weight: Option<f64>) -> JsResult<()> {
        let weight = count(weight.unwrap_or(1.0), "weight")?;
        self.inner.add(item.as_bytes(), weight);
        Ok(())
    }

    /// Counts many strings once each.
    #[wasm_bindgen(js_name = addMany)]
    pub fn add_many(&mut self, items: Vec<String>) {
        for item in &items {
            self.inner.add(item.as_bytes(), 1);
        }
    }

    /// `add` of the item in the scratch buffer (pkg-template/batch.js; internal): false, with
    /// nothing changed, if the weight is refused (`add` says why).
    #[wasm_bindgen(js_name = __addScratch, skip_typescript)]
    pub fn add_scratch(&mut self, len: u32, weight: f64) -> bool {
        let Ok(weight) = count(weight, "weight") else {
            return false;
        };
        crate::scratch::with_item(len, |item| self.inner.add(item, weight)).is_some()
    }

    /// `addBytes` of the batch in the scratch buffer (internal).
    #[wasm_bindgen(js_name = __addScratchMany, skip_typescript)]
    pub fn add_scratch_many(&mut self, count: u32, data_len: u32) -> JsResult<()> {
        crate::scratch::with_items(count, data_len, |item| {
            self.inner.add(item, 1);
            Ok(())
        })
    }

    /// Counts byte items packed in one buffer (see `HyperLogLog.addBytes`), once each.
    #[wasm_bindgen(js_name = addBytes)]
    pub fn add_bytes(&mut self, data: &[u8], ends: Option<Vec<u32>>) -> JsResult<()> {
        for item in crate::packed(data, ends.as_deref())? {
            self.inner.add(item, 1);
        }
        Ok(())
    }

    /// `{ lower, upper, epsilon, delta }`: `upper` never under-counts; `lower` is
    /// `upper - epsilon × total` (with probability `1 - delta` the truth is at least that).
    pub fn estimate(&self, item: &str) -> JsResult<JsValue> {
        plain(&CountEstimateJs::from(self.inner.estimate(item.as_bytes())))
    }

    /// Events counted, exact.
    #[wasm_bindgen(getter)]
    pub fn total(&self) -> u64 {
        self.inner.total()
    }

    /// `{ family, width, depth, epsilon, delta, conservative, total }`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        struct Json {
            family: &'static str,
            width: u32,
            depth: u8,
            epsilon: f64,
            delta: f64,
            conservative: bool,
            total: f64,
        }
        plain(&Json {
            family: "count_min",
            width: self.inner.width(),
            depth: self.inner.depth(),
            epsilon: self.inner.epsilon(),
            delta: self.inner.delta(),
            conservative: self.inner.conservative(),
            total: self.inner.total() as f64,
        })
    }
}

crate::snapshot_methods!(
    JsCountMinSketch as CountMinSketch,
    CountMinSketch,
    "Merges another sketch of equal dimensions.",
    |a, b| a.merge_local(b)
);

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct QuantilesOptions {
    pub(crate) alpha: f64,
    pub(crate) max_bins: Option<u32>,
}

impl Default for QuantilesOptions {
    fn default() -> Self {
        QuantilesOptions {
            alpha: 0.01,
            max_bins: None,
        }
    }
}

/// Quantiles (DDSketch): every quantile within relative error `alpha`.
#[wasm_bindgen(js_name = Quantiles)]
pub struct JsQuantiles {
    pub(crate) inner: Quantiles,
}

#[wasm_bindgen(js_class = Quantiles)]
impl JsQuantiles {
    /// `new Quantiles({ alpha = 0.01, maxBins = 2048 })`: bins per sign before the lowest
    /// ones collapse.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "QuantilesOptions")] options_: Option<js_sys::Object>,
    ) -> JsResult<JsQuantiles> {
        let o: QuantilesOptions = options(options_, "Quantiles")?;
        let inner = match o.max_bins {
            Some(bins) => Quantiles::with_max_bins(o.alpha, bins),
            None => Quantiles::new(o.alpha),
        };
        Ok(JsQuantiles {
            inner: inner.map_err(js_error)?,
        })
    }

    /// Records one value (finite).
    pub fn add(&mut self, value: f64) -> JsResult<()> {
        self.inner.add(value).map_err(js_error)
    }

    /// Records every value of a `Float64Array` in one call.
    #[wasm_bindgen(js_name = addMany)]
    pub fn add_many(&mut self, values: &[f64]) -> JsResult<()> {
        // All or nothing: a bad value anywhere leaves the sketch as it was.
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(error(&format!("quantile values must be finite, got {bad}")));
        }
        for &v in values {
            self.inner.add(v).map_err(js_error)?;
        }
        Ok(())
    }

    /// The value at quantile `q` (0 to 1), or `undefined` when empty.
    pub fn quantile(&self, q: f64) -> JsResult<Option<f64>> {
        Ok(self.inner.quantile(fraction(q)?))
    }

    /// Several quantiles at once (`Float64Array` in, `Float64Array` out; NaN when empty).
    pub fn quantiles(&self, qs: &[f64]) -> JsResult<Vec<f64>> {
        qs.iter()
            .map(|&q| Ok(self.inner.quantile(fraction(q)?).unwrap_or(f64::NAN)))
            .collect()
    }

    /// The fraction of values at or below `value`, or `undefined` when empty.
    pub fn rank(&self, value: f64) -> Option<f64> {
        self.inner.rank(value)
    }

    /// Values recorded, exact.
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> u64 {
        self.inner.count()
    }

    /// Sum of the values.
    #[wasm_bindgen(getter)]
    pub fn sum(&self) -> f64 {
        self.inner.sum()
    }

    /// Smallest value, exact (`undefined` when empty).
    #[wasm_bindgen(getter)]
    pub fn min(&self) -> Option<f64> {
        self.inner.min()
    }

    /// Largest value, exact (`undefined` when empty).
    #[wasm_bindgen(getter)]
    pub fn max(&self) -> Option<f64> {
        self.inner.max()
    }

    /// Mean (`undefined` when empty).
    #[wasm_bindgen(getter)]
    pub fn mean(&self) -> Option<f64> {
        self.inner.mean()
    }

    /// `{ family, alpha, count, min, max, mean, p50, p90, p99 }`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        struct Json {
            family: &'static str,
            alpha: f64,
            count: f64,
            min: Option<f64>,
            max: Option<f64>,
            mean: Option<f64>,
            p50: Option<f64>,
            p90: Option<f64>,
            p99: Option<f64>,
        }
        let q = &self.inner;
        plain(&Json {
            family: "quantiles",
            alpha: q.alpha(),
            count: q.count() as f64,
            min: q.min(),
            max: q.max(),
            mean: q.mean(),
            p50: q.quantile(0.5),
            p90: q.quantile(0.9),
            p99: q.quantile(0.99),
        })
    }
}

crate::snapshot_methods!(
    JsQuantiles as Quantiles,
    Quantiles,
    "Merges another sketch of equal alpha and bins.",
    |a, b| a.merge_local(b)
);

/// A top-K item's length within the core's limit (checked up front so a batch is all or nothing).
fn item_fits(len: usize) -> JsResult<()> {
    if len > edgesketch::wire::topk::MAX_ITEM_LEN {
        return Err(error(&format!(
            "top-K items are at most {} bytes, got one of {len}; nothing was added",
            edgesketch::wire::topk::MAX_ITEM_LEN
        )));
    }
    Ok(())
}

/// A quantile: a number from 0 to 1.
fn fraction(q: f64) -> JsResult<f64> {
    if (0.0..=1.0).contains(&q) {
        Ok(q)
    } else {
        Err(error(&format!(
            "a quantile is a number from 0 to 1, got {q}"
        )))
    }
}
