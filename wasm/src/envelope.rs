//! The sender's `Recorder` (named sketches in, one envelope out) and the `EnvelopeReader`.

use edgesketch::{Recorder, ReplicaId, Sketch, Snapshot};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::counters::series_config;
use crate::rankings::{CountMinOptions, LeaderboardOptions, QuantilesOptions, TopKOptions};
use crate::{
    JsCountMinSketch, JsCounter, JsHyperLogLog, JsLeaderboard, JsQuantiles, JsResult, JsTopK,
    JsUniqueSeries, JsWindowCounter, count, error, js_error, millis, millis_or_now, options, plain,
};

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct RecorderOptions {
    /// 32 hex digits; a random id is made on the first envelope when absent.
    replica: Option<String>,
    /// The sequence number of the next envelope (for a sender resuming after a restart).
    next_sequence: Option<f64>,
}

fn parse_replica(hex: &str) -> JsResult<ReplicaId> {
    let digits = hex.as_bytes();
    if digits.len() != 32 {
        return Err(error(&format!(
            "replica must be 32 hex digits, got {} characters",
            digits.len()
        )));
    }
    if let Some(at) = digits.iter().position(|d| !d.is_ascii_hexdigit()) {
        return Err(error(&format!(
            "replica must be 32 hex digits, got a non-hex character at {at}"
        )));
    }
    let digit = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
    let mut id = [0u8; 16];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        id[i] = digit(pair[0]) << 4 | digit(pair[1]);
    }
    Ok(ReplicaId(id))
}

/// The sender's clock (default `Date.now()`) and an event's time (default that clock).
fn clock_and_time(now_ms: Option<f64>, timestamp_ms: Option<f64>) -> JsResult<(i64, i64)> {
    let now = millis_or_now(now_ms, "nowMs")?;
    let t = match timestamp_ms {
        Some(t) => millis(t, "timestampMs")?,
        None => now,
    };
    Ok((now, t))
}

/// Named sketches recorded by one sender; each `envelope()` ships what was recorded since the
/// last one, numbered, so the receiver applies it exactly once however often it is resent.
#[wasm_bindgen(js_name = Recorder)]
pub struct JsRecorder {
    inner: Recorder,
}

#[wasm_bindgen(js_class = Recorder)]
impl JsRecorder {
    /// `new Recorder({ replica?: "32 hex digits", nextSequence?: number })`. Without a replica
    /// id, a random one is drawn (lazily, at the first envelope: Workers refuse randomness at
    /// module top level).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "RecorderOptions")] options_: Option<js_sys::Object>,
    ) -> JsResult<JsRecorder> {
        let o: RecorderOptions = options(options_, "Recorder")?;
        let inner = match (o.replica, o.next_sequence) {
            (None, None) => Recorder::new(),
            (Some(r), None) => Recorder::with_replica(parse_replica(&r)?),
            (Some(r), Some(n)) => Recorder::resume(parse_replica(&r)?, count(n, "nextSequence")?),
            (None, Some(_)) => {
                return Err(error(
                    "Recorder options: nextSequence needs the replica it continues",
                ));
            }
        };
        Ok(JsRecorder { inner })
    }

    /// Adds `item` to the HyperLogLog under `key` (created with `precision`, default 14).
    #[wasm_bindgen(js_name = addUnique)]
    pub fn add_unique(&mut self, key: &str, item: &str, precision: Option<f64>) -> JsResult<()> {
        let precision = precision
            .map(|p| {
                u8::try_from(count(p, "precision")?)
                    .map_err(|_| error(&format!("precision {p} is outside 4..=18")))
            })
            .transpose()?;
        let p = match (precision, self.inner.get(key)) {
            (Some(p), _) => p,
            (None, Some(Sketch::HyperLogLog(h))) => h.precision(),
            (None, _) => 14,
        };
        self.inner
            .hyperloglog(key, p)
            .map_err(js_error)?
            .insert(item.as_bytes());
        Ok(())
    }

    /// Adds `n` (default 1) to the counter under `key`.
    pub fn increment(&mut self, key: &str, n: Option<f64>) -> JsResult<()> {
        let n = count(n.unwrap_or(1.0), "increment")?;
        self.inner.counter(key).map_err(js_error)?.increment(n);
        Ok(())
    }

    /// Subtracts `n` (default 1) from the counter under `key`.
    pub fn decrement(&mut self, key: &str, n: Option<f64>) -> JsResult<()> {
        let n = count(n.unwrap_or(1.0), "decrement")?;
        self.inner.counter(key).map_err(js_error)?.decrement(n);
        Ok(())
    }

    /// Adds `value` at `timestampMs` (default now) to the window counter under `key`, created
    /// with `options` (`{ bucketMs, retentionMs, graceMs, maxFutureMs }`, the `WindowCounter`
    /// defaults) on first use. `nowMs` (default `Date.now()`) is the sender's clock. False if the
    /// event fell outside the accepted window.
    #[wasm_bindgen(js_name = addWindow)]
    pub fn add_window(
        &mut self,
        key: &str,
        value: f64,
        timestamp_ms: Option<f64>,
        now_ms: Option<f64>,
        #[wasm_bindgen(unchecked_param_type = "SeriesOptions")] options_: Option<js_sys::Object>,
    ) -> JsResult<bool> {
        let (now, t) = clock_and_time(now_ms, timestamp_ms)?;
        let value = crate::whole(value, "value")?;
        let config = match (options_.is_none(), self.inner.get(key)) {
            (true, Some(Sketch::WindowCounter(w))) => w.config(),
            _ => series_config(options_, "addWindow")?.0,
        };
        let w = self
            .inner
            .window_counter(key, config, now)
            .map_err(js_error)?;
        w.advance(now);
        Ok(w.add(value, t).is_ok())
    }

    /// Records `item` at `timestampMs` in the unique series under `key` (options as for
    /// `UniqueSeries`, `precision` included, on first use). False if outside the window.
    #[wasm_bindgen(js_name = addUniqueSeries)]
    pub fn add_unique_series(
        &mut self,
        key: &str,
        item: &str,
        timestamp_ms: Option<f64>,
        now_ms: Option<f64>,
        #[wasm_bindgen(unchecked_param_type = "UniqueSeriesOptions")] options_: Option<
            js_sys::Object,
        >,
    ) -> JsResult<bool> {
        let (now, t) = clock_and_time(now_ms, timestamp_ms)?;
        let (config, precision) = match (options_.is_none(), self.inner.get(key)) {
            (true, Some(Sketch::UniqueSeries(u))) => (u.config(), u.precision()),
            _ => {
                let (c, p) = series_config(options_, "addUniqueSeries")?;
                (c, p.unwrap_or(14))
            }
        };
        let u = self
            .inner
            .unique_series(key, config, precision, now)
            .map_err(js_error)?;
        u.advance(now);
        Ok(u.add(item.as_bytes(), t).is_ok())
    }

    /// Sets `member`'s score on the leaderboard under `key` (`options`: `{ rule, best,
    /// capacity }` on first use, and `mode`, `writtenMs` per call, as for `Leaderboard.add`).
    #[wasm_bindgen(js_name = addScore)]
    pub fn add_score(
        &mut self,
        key: &str,
        member: &str,
        score: f64,
        #[wasm_bindgen(unchecked_param_type = "ScoreOptions")] options_: Option<js_sys::Object>,
    ) -> JsResult<()> {
        #[derive(Default, Deserialize)]
        #[serde(default, rename_all = "camelCase", deny_unknown_fields)]
        struct ScoreOptions {
            rule: Option<String>,
            best: Option<String>,
            capacity: Option<u32>,
            mode: Option<String>,
            written_ms: Option<f64>,
        }
        let o: ScoreOptions = options(options_, "addScore")?;
        let defaults = LeaderboardOptions::default();
        let (rule, best, capacity) = match self.inner.get(key) {
            Some(Sketch::Leaderboard(l)) => (l.rule(), l.best(), l.capacity()),
            _ => (
                crate::rankings::merge_rule(&defaults.rule)?,
                crate::rankings::best(&defaults.best)?,
                defaults.capacity,
            ),
        };
        let rule = match &o.rule {
            Some(r) => crate::rankings::merge_rule(r)?,
            None => rule,
        };
        let best = match &o.best {
            Some(b) => crate::rankings::best(b)?,
            None => best,
        };
        let mode = crate::rankings::add_mode(o.mode.as_deref())?;
        let written = millis_or_now(o.written_ms, "writtenMs")?;
        let capacity = o.capacity.unwrap_or(capacity);
        self.refused_forgets(key, |r| {
            r.leaderboard(key, rule, best, capacity)?
                .add_at(member.as_bytes(), score, mode, written)
                .map(drop)
        })
    }

    /// Counts `item` `weight` times (default 1) in the top-K summary under `key` (`options`:
    /// `{ capacity = 1000 }` on first use).
    #[wasm_bindgen(js_name = addTopK)]
    pub fn add_top_k(
        &mut self,
        key: &str,
        item: &str,
        weight: Option<f64>,
        #[wasm_bindgen(unchecked_param_type = "TopKOptions")] options_: Option<js_sys::Object>,
    ) -> JsResult<()> {
        let weight = count(weight.unwrap_or(1.0), "weight")?;
        let capacity = match (options_.is_none(), self.inner.get(key)) {
            (true, Some(Sketch::TopK(t))) => t.capacity(),
            _ => options::<TopKOptions>(options_, "addTopK")?.capacity,
        };
        self.refused_forgets(key, |r| {
            r.top_k(key, capacity)?.insert(item.as_bytes(), weight)
        })
    }

    /// Counts `item` `weight` times (default 1) in the count-min sketch under `key` (`options`:
    /// `{ epsilon, delta }` on first use).
    #[wasm_bindgen(js_name = addCount)]
    pub fn add_count(
        &mut self,
        key: &str,
        item: &str,
        weight: Option<f64>,
        #[wasm_bindgen(unchecked_param_type = "CountMinSketchOptions")] options_: Option<
            js_sys::Object,
        >,
    ) -> JsResult<()> {
        let weight = count(weight.unwrap_or(1.0), "weight")?;
        let (width, depth) = match (options_.is_none(), self.inner.get(key)) {
            (true, Some(Sketch::CountMin(c))) => (c.width(), c.depth()),
            _ => {
                let o = options::<CountMinOptions>(options_, "addCount")?;
                if o.conservative {
                    return Err(error(
                        "addCount options: a recorder's count-min sketches use plain updates \
                         (conservative is for local sketches)",
                    ));
                }
                o.dimensions()?
            }
        };
        self.inner
            .count_min_with_dimensions(key, width, depth)
            .map_err(js_error)?
            .add(item.as_bytes(), weight);
        Ok(())
    }

    /// Records `value` in the quantile sketch under `key` (`options`: `{ alpha = 0.01 }` on
    /// first use).
    #[wasm_bindgen(js_name = addQuantile)]
    pub fn add_quantile(
        &mut self,
        key: &str,
        value: f64,
        #[wasm_bindgen(unchecked_param_type = "QuantilesOptions")] options_: Option<js_sys::Object>,
    ) -> JsResult<()> {
        let (alpha, max_bins) = match (options_.is_none(), self.inner.get(key)) {
            (true, Some(Sketch::Quantiles(q))) => (q.alpha(), q.max_bins()),
            _ => {
                let o = options::<QuantilesOptions>(options_, "addQuantile")?;
                (
                    o.alpha,
                    o.max_bins
                        .unwrap_or(edgesketch::wire::quantiles::DEFAULT_MAX_BINS),
                )
            }
        };
        self.refused_forgets(key, |r| {
            r.quantiles_with_max_bins(key, alpha, max_bins)?.add(value)
        })
    }

    /// Runs `record` on the recorder; if it is refused and left `key` empty (a key it created),
    /// forgets the key, so a refused first call fixes neither its family nor its settings.
    fn refused_forgets(
        &mut self,
        key: &str,
        record: impl FnOnce(&mut Recorder) -> edgesketch::Result<()>,
    ) -> JsResult<()> {
        let existed = self.inner.get(key).is_some();
        let result = record(&mut self.inner);
        if result.is_err() && !existed {
            self.inner.forget_if_empty(key);
        }
        result.map_err(js_error)
    }

    /// The envelope of everything recorded since the last one, stamped `nowMs` (default
    /// `Date.now()`), or `undefined` when nothing was recorded. Keep the bytes until the receiver
    /// acknowledges them: a retry must resend the same bytes.
    pub fn envelope(&mut self, now_ms: Option<f64>) -> JsResult<Option<Vec<u8>>> {
        let now = millis_or_now(now_ms, "nowMs")?;
        Ok(self.inner.envelope(now).map_err(js_error)?.map(|e| e.bytes))
    }

    /// Splits an envelope this recorder made (refused as too large: HTTP 413) into two halves
    /// of its entries under fresh sequence numbers; `undefined` when it holds a single entry.
    pub fn split(&mut self, bytes: &[u8]) -> JsResult<Option<Vec<js_sys::Uint8Array>>> {
        Ok(self.inner.split(bytes).map_err(js_error)?.map(|(a, b)| {
            vec![
                js_sys::Uint8Array::from(&a.bytes[..]),
                js_sys::Uint8Array::from(&b.bytes[..]),
            ]
        }))
    }

    /// The replica id (32 hex digits), once known.
    #[wasm_bindgen(getter)]
    pub fn replica(&self) -> Option<String> {
        self.inner.replica().map(|r| r.to_string())
    }

    /// The sequence number the next envelope gets.
    #[wasm_bindgen(getter, js_name = nextSequence)]
    pub fn next_sequence(&self) -> f64 {
        self.inner.next_sequence() as f64
    }

    /// Whether nothing was recorded since the last envelope.
    #[wasm_bindgen(getter, js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The keys recorded into so far.
    pub fn keys(&self) -> Vec<String> {
        self.inner.keys().map(str::to_owned).collect()
    }

    /// `{ replica, nextSequence, entries: [{ key, family }] }`, for logs and debugging.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Json {
            replica: Option<String>,
            next_sequence: f64,
            entries: Vec<EntryJs>,
        }
        plain(&Json {
            replica: self.inner.replica().map(|r| r.to_string()),
            next_sequence: self.inner.next_sequence() as f64,
            entries: self
                .inner
                .keys()
                .filter_map(|key| {
                    let family = self.inner.get(key)?.family().name();
                    Some(EntryJs {
                        key: key.to_owned(),
                        family,
                    })
                })
                .collect(),
        })
    }
}

/// A decoded, checksum-verified envelope: its header and its named sketches.
#[wasm_bindgen(js_name = EnvelopeReader)]
pub struct JsEnvelopeReader {
    inner: Snapshot,
}

#[derive(Serialize)]
struct EntryJs {
    key: String,
    family: &'static str,
}

#[wasm_bindgen(js_class = EnvelopeReader)]
impl JsEnvelopeReader {
    /// Decodes and verifies envelope bytes (throws on anything malformed).
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> JsResult<JsEnvelopeReader> {
        Ok(JsEnvelopeReader {
            inner: Snapshot::decode(bytes).map_err(js_error)?,
        })
    }

    /// The sender's replica id (32 hex digits).
    #[wasm_bindgen(getter)]
    pub fn replica(&self) -> String {
        self.inner.replica.to_string()
    }

    /// The sender's sequence number of this envelope.
    #[wasm_bindgen(getter)]
    pub fn sequence(&self) -> f64 {
        self.inner.sequence as f64
    }

    /// When the sender made it (milliseconds).
    #[wasm_bindgen(getter, js_name = createdMs)]
    pub fn created_ms(&self) -> f64 {
        self.inner.created_ms as f64
    }

    /// `[{ key, family }]`, ordered by key.
    pub fn entries(&self) -> JsResult<JsValue> {
        crate::plain(&self.entry_list())
    }

    /// The sketch under `key` as its class (`HyperLogLog`, `Counter`, ...); throws when absent.
    pub fn open(&self, key: &str) -> JsResult<JsValue> {
        let sketch = self
            .inner
            .get(key)
            .ok_or_else(|| error(&format!("no entry {key:?} in this envelope")))?;
        Ok(sketch_to_js(sketch.clone()))
    }

    /// `{ replica, sequence, createdMs, entries }`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Json {
            replica: String,
            sequence: f64,
            created_ms: f64,
            entries: Vec<EntryJs>,
        }
        crate::plain(&Json {
            replica: self.replica(),
            sequence: self.sequence(),
            created_ms: self.created_ms(),
            entries: self.entry_list(),
        })
    }
}

impl JsEnvelopeReader {
    fn entry_list(&self) -> Vec<EntryJs> {
        self.inner
            .iter()
            .map(|(key, s)| EntryJs {
                key: key.to_owned(),
                family: s.family().name(),
            })
            .collect()
    }
}

fn sketch_to_js(sketch: Sketch) -> JsValue {
    match sketch {
        Sketch::HyperLogLog(inner) => JsHyperLogLog { inner }.into(),
        Sketch::Counter(inner) => JsCounter { inner }.into(),
        Sketch::WindowCounter(inner) => JsWindowCounter { inner }.into(),
        Sketch::UniqueSeries(inner) => JsUniqueSeries { inner }.into(),
        Sketch::Leaderboard(inner) => JsLeaderboard { inner }.into(),
        Sketch::TopK(inner) => JsTopK { inner }.into(),
        Sketch::CountMin(inner) => JsCountMinSketch { inner }.into(),
        Sketch::Quantiles(inner) => JsQuantiles { inner }.into(),
        // A family this adapter does not know yet (the core's enum is non-exhaustive).
        _ => JsValue::UNDEFINED,
    }
}
