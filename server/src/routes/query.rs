//! Queries (JSON) and raw export. Every approximate answer carries its error bound: HyperLogLog
//! estimates their 95 % interval, count-min its lower bound and ε/δ, top-K each item's bounds,
//! quantiles their relative error α. Window counters, counters and leaderboards are exact
//! (a trimmed sum-rule leaderboard says how much trimmed members could add).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use edgesketch::{
    BucketStats, Estimate, Family, HeavyHitter, HyperLogLog, Order, RangeStats, RankedMember,
    Sketch,
};
use serde_json::{Value, json};

use super::{Params, authorize, non_empty_key};
use crate::AppState;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;

type JsonResult = Result<Json<Value>, ApiError>;

/// Most points in one series answer.
const MAX_POINTS: i64 = 10_000;
/// Most keys in one union.
const MAX_UNION_KEYS: usize = 100;

fn start(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    allowed: &[&str],
) -> Result<(Params, Principal), ApiError> {
    let params = Params::parse(query, allowed)?;
    let principal = authorize(state, headers, &params, Scope::Read)?;
    Ok((params, principal))
}

/// Loads a key's sketch (off the async workers: it may read the store).
async fn load(state: &AppState, principal: &Principal, key: &str) -> Result<Arc<Sketch>, ApiError> {
    let shared = state.engine().shared().clone();
    let tenant = principal.tenant.name.clone();
    let owned = key.to_string();
    let found = tokio::task::spawn_blocking(move || shared.sketch(&tenant, &owned))
        .await
        .map_err(|e| ApiError::internal("store task", e))??;
    found.ok_or_else(|| ApiError::not_found("key_not_found", format!("no key {key:?}")))
}

fn wrong_family(key: &str, sketch: &Sketch, wanted: &str) -> ApiError {
    ApiError::unprocessable(
        "wrong_family",
        format!(
            "key {key:?} holds a {}, not {wanted}",
            sketch.family().name()
        ),
    )
}

fn estimate(e: &Estimate) -> Value {
    json!({
        "value": e.value,
        "lower": e.lower,
        "upper": e.upper,
        "std_error": e.std_error,
        "confidence": 0.95,
        "exact": e.exact,
    })
}

/// A 128-bit total (a counter's value, a window's sum) as a JSON number: exact within the 64-bit
/// range, else the nearest float, which is what a JavaScript reader makes of any large integer.
/// (`json!` of an `i128` outside that range panicked.)
fn wide(v: i128) -> Value {
    i64::try_from(v)
        .map(Value::from)
        .or_else(|_| u64::try_from(v).map(Value::from))
        .unwrap_or_else(|_| Value::from(v as f64))
}

fn stats(s: &BucketStats) -> Value {
    let empty = s.count == 0;
    json!({
        "count": s.count,
        "sum": wide(s.sum),
        "min": if empty { Value::Null } else { json!(s.min) },
        "max": if empty { Value::Null } else { json!(s.max) },
        "mean": s.mean(),
    })
}

fn range_stats(r: &RangeStats) -> Value {
    json!({
        "from_ms": r.from_ms,
        "to_ms": r.to_ms,
        "buckets": r.buckets,
        "truncated": r.truncated,
        "stats": stats(&r.stats),
    })
}

fn text(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => json!(s),
        Err(_) => json!({ "hex": hex::encode(bytes) }),
    }
}

fn hitter(h: &HeavyHitter) -> Value {
    json!({ "item": text(&h.item), "lower": h.lower, "upper": h.upper })
}

fn ranked(members: &[RankedMember], first_rank: u64) -> Value {
    Value::Array(
        members
            .iter()
            .enumerate()
            .map(|(i, m)| json!({ "rank": first_rank + i as u64, "member": text(&m.member), "score": m.score }))
            .collect(),
    )
}

/// `from`/`to` (ms since the epoch), or `last` (ms back from now).
fn time_range(params: &Params, now: i64) -> Result<Option<(i64, i64)>, ApiError> {
    let from = params.parsed::<i64>("from", "milliseconds since the epoch")?;
    let to = params.parsed::<i64>("to", "milliseconds since the epoch")?;
    let last = params.parsed::<u64>("last", "a duration in milliseconds")?;
    match (from, to, last) {
        (None, None, None) => Ok(None),
        (None, None, Some(last)) => Ok(Some((
            now.saturating_sub(i64::try_from(last).unwrap_or(i64::MAX)),
            now.saturating_add(1),
        ))),
        (Some(from), to, None) => {
            let to = to.unwrap_or(now.saturating_add(1));
            if from >= to {
                return Err(ApiError::bad_request(
                    "invalid_range",
                    format!("from ({from}) must be before to ({to})"),
                ));
            }
            Ok(Some((from, to)))
        }
        (None, Some(_), None) => Err(ApiError::bad_request(
            "invalid_range",
            "give `from` with `to`, or `last`",
        )),
        (_, _, Some(_)) => Err(ApiError::bad_request(
            "invalid_range",
            "give either `last` or `from`/`to`, not both",
        )),
    }
}

/// `step`: a whole number of milliseconds from 1 (a step of 0 would never advance).
fn step_param(params: &Params) -> Result<Option<u64>, ApiError> {
    const WHAT: &str = "a duration in milliseconds, from 1 to 2^63 - 1";
    match params.parsed::<u64>("step", WHAT)? {
        Some(step) if step == 0 || i64::try_from(step).is_err() => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("query parameter step={step}: expected {WHAT}"),
        )),
        step => Ok(step),
    }
}

fn steps(
    from: i64,
    to: i64,
    step: Option<u64>,
    bucket_ms: u64,
) -> Result<Vec<(i64, i64)>, ApiError> {
    let step = step.unwrap_or(bucket_ms).max(1);
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    let count = (i128::from(to) - i128::from(from) + i128::from(step) - 1) / i128::from(step);
    if count > i128::from(MAX_POINTS) {
        return Err(ApiError::bad_request(
            "too_many_points",
            format!(
                "{count} points requested; at most {MAX_POINTS}: use a larger step or a shorter range"
            ),
        ));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut t = from;
    while t < to {
        let end = t.saturating_add(step).min(to);
        out.push((t, end));
        t = end;
    }
    Ok(out)
}

/// The steps of a per-step series answer: the requested range (default the last hour) from the
/// start of its first bucket, cut every `step` (default one bucket).
fn series_steps(
    params: &Params,
    now: i64,
    config: edgesketch::SeriesConfig,
    step: Option<u64>,
) -> Result<Vec<(i64, i64)>, ApiError> {
    let (from, to) = time_range(params, now)?
        .unwrap_or_else(|| (now.saturating_sub(3_600_000), now.saturating_add(1)));
    let from = config.bucket_start(config.bucket_of(from));
    steps(from, to, step, config.bucket_ms)
}

/// `GET /v1/tenant`: the tenant, its usage and quotas.
pub(crate) async fn tenant(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (_, principal) = start(&state, query.as_deref(), &headers, &[])?;
    let shared = state.engine().shared().clone();
    let name = principal.tenant.name.clone();
    let usage = tokio::task::spawn_blocking(move || shared.usage(&name))
        .await
        .map_err(|e| ApiError::internal("store task", e))??;
    let config = state.config();
    Ok(Json(json!({
        "tenant": &*principal.tenant.name,
        "keys": usage.keys,
        "bytes": usage.bytes,
        "max_keys": principal.tenant.max_keys.unwrap_or(config.max_keys_per_tenant),
        "max_bytes": principal.tenant.max_bytes.unwrap_or(config.max_bytes_per_tenant),
        "now_ms": state.engine().shared().now_ms(),
    })))
}

/// Every family the server knows.
fn families() -> impl Iterator<Item = Family> {
    (0..=u8::MAX).filter_map(Family::from_id)
}

/// `GET /v1/keys?prefix=&family=&after=&limit=`: keys by prefix (and family), in byte order,
/// paged.
pub(crate) async fn keys(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(
        &state,
        query.as_deref(),
        &headers,
        &["prefix", "family", "after", "limit"],
    )?;
    let prefix = params.get("prefix")?.unwrap_or("").to_string();
    let family = match params.get("family")? {
        None => None,
        Some(name) => Some(
            families()
                .find(|f| f.name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = families().map(Family::name).collect();
                    ApiError::bad_request(
                        "invalid_parameter",
                        format!("family must be one of {}", names.join(", ")),
                    )
                })?
                .id(),
        ),
    };
    let after = params.get("after")?.map(str::to_string);
    let limit = params
        .parsed::<usize>("limit", "a number from 1 to 1000")?
        .unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "limit must be from 1 to 1000",
        ));
    }
    let store = state.engine().shared().store().clone();
    let tenant = principal.tenant.name.clone();
    let found = tokio::task::spawn_blocking(move || {
        store.list_keys(&tenant, &prefix, family, after.as_deref(), limit)
    })
    .await
    .map_err(|e| ApiError::internal("store task", e))?
    .map_err(|e| crate::engine::store_unavailable(&e))?;
    let next = if found.len() == limit {
        found.last().map(|k| k.key.clone())
    } else {
        None
    };
    let keys: Vec<Value> = found
        .iter()
        .map(|k| {
            json!({
                "key": k.key,
                "family": Family::from_id(k.family).map_or("unknown", Family::name),
                "bytes": k.bytes,
                "updated_ms": k.updated_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "keys": keys, "next": next })))
}

/// `GET /v1/sketch?key=`: a summary of any key, by its family.
pub(crate) async fn sketch(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(&state, query.as_deref(), &headers, &["key"])?;
    let key = params.key()?;
    let sketch = load(&state, &principal, key).await?;
    let now = state.engine().shared().now_ms();
    let summary = match &*sketch {
        Sketch::HyperLogLog(h) => json!({
            "precision": h.precision(),
            "estimate": estimate(&h.estimate()),
        }),
        Sketch::Counter(c) => json!({
            "value": wide(c.value()),
            "increments": c.increments(),
            "decrements": c.decrements(),
            "saturated": c.saturated(),
        }),
        Sketch::WindowCounter(w) => {
            let config = w.config();
            json!({
                "bucket_ms": config.bucket_ms,
                "retention_ms": config.retention_ms(),
                "now_ms": w.now(),
                "buckets": w.bucket_count(),
                "last_minute": range_stats(&w.last(60_000, now)),
                "last_hour": range_stats(&w.last(3_600_000, now)),
            })
        }
        Sketch::UniqueSeries(u) => {
            let config = u.config();
            let last = |ms: u64| {
                let r = u.last(ms, now);
                json!({ "from_ms": r.from_ms, "to_ms": r.to_ms, "buckets": r.buckets,
                        "truncated": r.truncated, "estimate": estimate(&r.estimate) })
            };
            json!({
                "bucket_ms": config.bucket_ms,
                "retention_ms": config.retention_ms(),
                "precision": u.precision(),
                "now_ms": u.now(),
                "buckets": u.bucket_count(),
                "last_minute": last(60_000),
                "last_hour": last(3_600_000),
            })
        }
        Sketch::Leaderboard(l) => json!({
            "members": l.len(),
            "rule": format!("{:?}", l.rule()).to_lowercase(),
            "best": format!("{:?}", l.best()).to_lowercase(),
            "capacity": l.capacity(),
            "missing_bound": l.missing_bound(),
            "top": ranked(&l.range_by_rank(0, 9, best_first(l.best())), 0),
        }),
        Sketch::TopK(t) => top_k_json(t, 10),
        Sketch::CountMin(c) => json!({
            "width": c.width(),
            "depth": c.depth(),
            "epsilon": c.epsilon(),
            "delta": c.delta(),
            "conservative": c.conservative(),
            "total": c.total(),
        }),
        Sketch::Quantiles(q) => quantiles_json(q, &[0.5, 0.9, 0.99])?,
        _ => json!({}),
    };
    Ok(Json(json!({
        "key": key,
        "family": sketch.family().name(),
        "summary": summary,
    })))
}

fn best_first(best: edgesketch::Best) -> Order {
    match best {
        edgesketch::Best::Highest => Order::Descending,
        edgesketch::Best::Lowest => Order::Ascending,
    }
}

/// The distinct items of a HyperLogLog key, or of a unique series over a range.
fn distinct_of(
    key: &str,
    sketch: &Sketch,
    range: Option<(i64, i64)>,
) -> Result<HyperLogLog, ApiError> {
    match sketch {
        Sketch::HyperLogLog(h) => {
            if range.is_some() {
                return Err(ApiError::bad_request(
                    "range_not_supported",
                    format!(
                        "key {key:?} is a hyperloglog, which has no time range; drop from/to/last"
                    ),
                ));
            }
            Ok(h.clone())
        }
        Sketch::UniqueSeries(u) => {
            let (from, to) = range.unwrap_or((i64::MIN, i64::MAX));
            Ok(u.merged(from, to))
        }
        other => Err(wrong_family(key, other, "a hyperloglog or unique_series")),
    }
}

fn union(into: &mut Option<HyperLogLog>, next: HyperLogLog) -> Result<(), ApiError> {
    let merged = match into.take() {
        None => next,
        Some(acc) => {
            let p = acc.precision().min(next.precision());
            let mut acc = acc
                .fold(p)
                .map_err(|e| ApiError::internal("folding a hyperloglog", e))?;
            let next = next
                .fold(p)
                .map_err(|e| ApiError::internal("folding a hyperloglog", e))?;
            acc.merge(&next)
                .map_err(|e| ApiError::internal("merging hyperloglogs", e))?;
            acc
        }
    };
    *into = Some(merged);
    Ok(())
}

/// `GET /v1/unique?key=a[&key=b…][&from=&to=|&last=]`: distinct count of one key or the union of
/// several (HyperLogLogs, and unique series over the range).
pub(crate) async fn unique(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(
        &state,
        query.as_deref(),
        &headers,
        &["key", "from", "to", "last"],
    )?;
    let keys = params.all("key");
    if keys.is_empty() || keys.len() > MAX_UNION_KEYS {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("give 1 to {MAX_UNION_KEYS} `key` parameters"),
        ));
    }
    for key in &keys {
        non_empty_key(key)?;
    }
    let range = time_range(&params, state.engine().shared().now_ms())?;
    let mut acc = None;
    // A key named twice adds nothing to a union: merge it once.
    let mut seen = std::collections::HashSet::new();
    for key in keys.iter().filter(|k| seen.insert(**k)) {
        let sketch = load(&state, &principal, key).await?;
        union(&mut acc, distinct_of(key, &sketch, range)?)?;
    }
    let merged = acc.expect("at least one key");
    Ok(Json(json!({
        "keys": keys,
        "from_ms": range.map(|r| r.0),
        "to_ms": range.map(|r| r.1),
        "precision": merged.precision(),
        "estimate": estimate(&merged.estimate()),
    })))
}

/// `GET /v1/unique/series?key=&from=&to=|last=&step=`: distinct count per step of a unique series.
pub(crate) async fn unique_series(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(
        &state,
        query.as_deref(),
        &headers,
        &["key", "from", "to", "last", "step"],
    )?;
    let key = params.key()?;
    let step = step_param(&params)?;
    let now = state.engine().shared().now_ms();
    let sketch = load(&state, &principal, key).await?;
    let Sketch::UniqueSeries(u) = &*sketch else {
        return Err(wrong_family(key, &sketch, "a unique_series"));
    };
    let bucket = u.config().bucket_ms;
    let points: Vec<Value> = series_steps(&params, now, u.config(), step)?
        .into_iter()
        .map(|(t, end)| {
            let r = u.unique(t, end);
            json!({ "t": t, "buckets": r.buckets, "estimate": estimate(&r.estimate) })
        })
        .collect();
    Ok(Json(json!({
        "key": key,
        "bucket_ms": bucket,
        "step_ms": step.unwrap_or(bucket),
        "points": points,
    })))
}

/// `GET /v1/counter?key=`.
pub(crate) async fn counter(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(&state, query.as_deref(), &headers, &["key"])?;
    let key = params.key()?;
    let sketch = load(&state, &principal, key).await?;
    let Sketch::Counter(c) = &*sketch else {
        return Err(wrong_family(key, &sketch, "a counter"));
    };
    Ok(Json(json!({
        "key": key,
        "value": wide(c.value()),
        "increments": c.increments(),
        "decrements": c.decrements(),
        "saturated": c.saturated(),
        "exact": !c.saturated(),
    })))
}

/// `GET /v1/window?key=&from=&to=|last=`: totals of a window counter over a range (default the
/// last minute).
pub(crate) async fn window(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(
        &state,
        query.as_deref(),
        &headers,
        &["key", "from", "to", "last"],
    )?;
    let key = params.key()?;
    let now = state.engine().shared().now_ms();
    let range = time_range(&params, now)?;
    let sketch = load(&state, &principal, key).await?;
    let Sketch::WindowCounter(w) = &*sketch else {
        return Err(wrong_family(key, &sketch, "a window_counter"));
    };
    let r = match range {
        Some((from, to)) => w.sum(from, to),
        None => w.last(60_000, now),
    };
    Ok(Json(json!({
        "key": key,
        "bucket_ms": w.config().bucket_ms,
        "range": range_stats(&r),
        "rejected": {
            "late_events": w.rejected().late.events,
            "future_events": w.rejected().future.events,
        },
    })))
}

/// `GET /v1/window/series?key=&from=&to=|last=&step=`: totals per step.
pub(crate) async fn window_series(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(
        &state,
        query.as_deref(),
        &headers,
        &["key", "from", "to", "last", "step"],
    )?;
    let key = params.key()?;
    let step = step_param(&params)?;
    let now = state.engine().shared().now_ms();
    let sketch = load(&state, &principal, key).await?;
    let Sketch::WindowCounter(w) = &*sketch else {
        return Err(wrong_family(key, &sketch, "a window_counter"));
    };
    let bucket = w.config().bucket_ms;
    let points: Vec<Value> = series_steps(&params, now, w.config(), step)?
        .into_iter()
        .map(|(t, end)| {
            let r = w.sum(t, end);
            json!({ "t": t, "stats": stats(&r.stats) })
        })
        .collect();
    Ok(Json(json!({
        "key": key,
        "bucket_ms": bucket,
        "step_ms": step.unwrap_or(bucket),
        "points": points,
    })))
}

/// `GET /v1/leaderboard?key=&start=&stop=&order=best|worst`, or `&member=` for one member's rank,
/// or `&min=&max=` for a score range.
pub(crate) async fn leaderboard(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(
        &state,
        query.as_deref(),
        &headers,
        &[
            "key", "start", "stop", "order", "member", "min", "max", "limit",
        ],
    )?;
    let key = params.key()?;
    let sketch = load(&state, &principal, key).await?;
    let Sketch::Leaderboard(l) = &*sketch else {
        return Err(wrong_family(key, &sketch, "a leaderboard"));
    };
    let order = match params.get("order")?.unwrap_or("best") {
        "best" => best_first(l.best()),
        "worst" => match best_first(l.best()) {
            Order::Ascending => Order::Descending,
            Order::Descending => Order::Ascending,
        },
        "ascending" => Order::Ascending,
        "descending" => Order::Descending,
        other => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("order={other:?}: expected best, worst, ascending or descending"),
            ));
        }
    };
    let mut body = json!({
        "key": key,
        "members": l.len(),
        "rule": format!("{:?}", l.rule()).to_lowercase(),
        "missing_bound": l.missing_bound(),
        "exact": l.missing_bound() == 0.0,
    });
    // One question per request: a member, a score range, or a rank range.
    let asked = |names: &[&str]| names.iter().any(|n| !params.all(n).is_empty());
    let by_score = asked(&["min", "max", "limit"]);
    let questions = [asked(&["member"]), by_score, asked(&["start", "stop"])];
    if questions.iter().filter(|&&q| q).count() > 1 {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "ask one thing: `member`, a score range (`min`/`max`/`limit`) or a rank range (`start`/`stop`)",
        ));
    }
    if let Some(member) = params.get("member")? {
        let rank = l.rank(member.as_bytes(), order);
        body["member"] = json!({
            "member": member,
            "rank": rank,
            "score": l.score(member.as_bytes()),
        });
        return Ok(Json(body));
    }
    let limit = match params.parsed::<usize>("limit", "a number from 1 to 1000")? {
        None => 100,
        Some(n @ 1..=1000) => n,
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("query parameter limit={n}: expected a number from 1 to 1000"),
            ));
        }
    };
    let score = |name: &str| match params.parsed::<f64>(name, "a number")? {
        Some(x) if x.is_nan() => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("query parameter {name}: expected a number, not NaN"),
        )),
        x => Ok(x),
    };
    let (min, max) = (score("min")?, score("max")?);
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        return Err(ApiError::bad_request(
            "invalid_range",
            format!("min ({lo}) is above max ({hi})"),
        ));
    }
    if by_score {
        let members = l.range_by_score(
            min.unwrap_or(f64::NEG_INFINITY),
            max.unwrap_or(f64::INFINITY),
            order,
            limit,
        );
        let first = members
            .first()
            .and_then(|m| l.rank(&m.member, order))
            .unwrap_or(0);
        body["range"] = ranked(&members, first);
        return Ok(Json(body));
    }
    let start = params.parsed::<u64>("start", "a rank from 0")?.unwrap_or(0);
    let stop = params
        .parsed::<u64>("stop", "a rank from 0")?
        .unwrap_or(start.saturating_add(9));
    if stop < start || stop - start >= 1000 {
        return Err(ApiError::bad_request(
            "invalid_range",
            "stop must be at least start, and at most 1000 ranks apart",
        ));
    }
    body["range"] = ranked(&l.range_by_rank(start, stop, order), start);
    Ok(Json(body))
}

fn top_k_json(t: &edgesketch::TopK, k: usize) -> Value {
    let report = t.top(k);
    json!({
        "capacity": t.capacity(),
        "total": report.total,
        "floor": report.floor,
        "guaranteed": report.guaranteed.iter().map(hitter).collect::<Vec<_>>(),
        "possible": report.possible.iter().map(hitter).collect::<Vec<_>>(),
    })
}

/// `GET /v1/topk?key=&k=`: the top K with guaranteed/possible split and bounds.
pub(crate) async fn top_k(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(&state, query.as_deref(), &headers, &["key", "k"])?;
    let key = params.key()?;
    let k = params
        .parsed::<usize>("k", "a number from 1 to 1000")?
        .unwrap_or(10);
    if !(1..=1000).contains(&k) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "k must be from 1 to 1000",
        ));
    }
    let sketch = load(&state, &principal, key).await?;
    let Sketch::TopK(t) = &*sketch else {
        return Err(wrong_family(key, &sketch, "a top_k"));
    };
    let mut body = top_k_json(t, k);
    body["key"] = json!(key);
    Ok(Json(body))
}

fn quantiles_json(q: &edgesketch::Quantiles, qs: &[f64]) -> Result<Value, ApiError> {
    let mut points = Vec::with_capacity(qs.len());
    for &p in qs {
        if !(0.0..=1.0).contains(&p) {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("q={p}: quantiles are from 0 to 1"),
            ));
        }
        points.push(json!({ "q": p, "value": q.quantile(p) }));
    }
    Ok(json!({
        "count": q.count(),
        "alpha": q.alpha(),
        "relative_error": q.alpha(),
        "collapsed": q.collapsed(),
        "min": q.min(),
        "max": q.max(),
        "mean": q.mean(),
        "sum": q.sum(),
        "quantiles": points,
    }))
}

/// `GET /v1/quantiles?key=&q=0.5&q=0.99` (default p50, p90, p99).
pub(crate) async fn quantiles(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(&state, query.as_deref(), &headers, &["key", "q"])?;
    let key = params.key()?;
    let mut qs: Vec<f64> = params.parsed_all("q", "a number")?;
    if qs.is_empty() {
        qs = vec![0.5, 0.9, 0.99];
    }
    if qs.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "at most 100 quantiles per request",
        ));
    }
    let sketch = load(&state, &principal, key).await?;
    let Sketch::Quantiles(q) = &*sketch else {
        return Err(wrong_family(key, &sketch, "a quantiles"));
    };
    let mut body = quantiles_json(q, &qs)?;
    body["key"] = json!(key);
    Ok(Json(body))
}

/// `GET /v1/countmin?key=&item=a&item=b`: point frequencies with bounds.
pub(crate) async fn count_min(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (params, principal) = start(&state, query.as_deref(), &headers, &["key", "item"])?;
    let key = params.key()?;
    let items = params.all("item");
    if items.is_empty() || items.len() > 1000 {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "give 1 to 1000 `item` parameters",
        ));
    }
    let sketch = load(&state, &principal, key).await?;
    let Sketch::CountMin(c) = &*sketch else {
        return Err(wrong_family(key, &sketch, "a count_min"));
    };
    let estimates: Vec<Value> = items
        .iter()
        .map(|item| {
            let e = c.estimate(item.as_bytes());
            json!({ "item": item, "estimate": e.upper, "lower": e.lower, "upper": e.upper })
        })
        .collect();
    Ok(Json(json!({
        "key": key,
        "total": c.total(),
        "epsilon": c.epsilon(),
        "delta": c.delta(),
        "items": estimates,
    })))
}

/// `GET /v1/raw?key=[&from=&to=|last=][&format=sketch|redis]`: the sketch's bytes
/// (docs/FORMAT.md §3), a unique series' range merged into one HyperLogLog, or a HyperLogLog as
/// a Redis string (`SET` it, then `PFCOUNT`).
pub(crate) async fn raw(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (params, principal) = start(
        &state,
        query.as_deref(),
        &headers,
        &["key", "from", "to", "last", "format"],
    )?;
    let key = params.key()?;
    let format = params.get("format")?.unwrap_or("sketch");
    if !matches!(format, "sketch" | "redis") {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("format={format:?}: expected sketch or redis"),
        ));
    }
    let range = time_range(&params, state.engine().shared().now_ms())?;
    let sketch = load(&state, &principal, key).await?;
    let hll = match (&*sketch, range, format) {
        (_, None, "sketch") => None,
        (Sketch::HyperLogLog(_) | Sketch::UniqueSeries(_), _, _) => {
            Some(distinct_of(key, &sketch, range)?)
        }
        (other, Some(_), _) => {
            return Err(ApiError::bad_request(
                "range_not_supported",
                format!(
                    "key {key:?} is a {}: a range can be exported from unique series only",
                    other.family().name()
                ),
            ));
        }
        (other, None, _) => {
            return Err(ApiError::bad_request(
                "format_not_supported",
                format!(
                    "key {key:?} is a {}: Redis format is for hyperloglogs and unique series",
                    other.family().name()
                ),
            ));
        }
    };
    let bytes = match (hll, format) {
        (None, _) => sketch.to_bytes(),
        (Some(h), "redis") => h.to_redis().map_err(|e| {
            ApiError::unprocessable("format_not_supported", format!("Redis format: {e}"))
        })?,
        (Some(h), _) => h.to_bytes(),
    };
    let mut response = Body::from(bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

/// `GET /v1/drift`: envelopes senders made that never arrived, per tenant and key prefix.
pub(crate) async fn drift(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> JsonResult {
    let (_, principal) = start(&state, query.as_deref(), &headers, &[])?;
    let shared = state.engine().shared().clone();
    let name = principal.tenant.name.clone();
    let report = tokio::task::spawn_blocking(move || shared.drift(&name))
        .await
        .map_err(|e| ApiError::internal("store task", e))??;
    let mut body = serde_json::to_value(report).map_err(|e| ApiError::internal("json", e))?;
    body["tenant"] = json!(&*principal.tenant.name);
    Ok(Json(body))
}
