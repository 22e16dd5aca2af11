//! WebAssembly bindings of the edgesketch core: a thin adapter, no logic of its own.
//!
//! Every family is a JS class with camelCase methods; constructors take an options object;
//! errors are real JS `Error`s with the core's message. Conventions at the boundary:
//! - items are strings (hashed as their UTF-8 bytes, exactly as the Rust `insert(s.as_bytes())`)
//!   or bytes (`Uint8Array`, optionally many items packed in one buffer with their end offsets);
//! - times are milliseconds since the UTC epoch as JS numbers, checked to be safe integers;
//! - exact 64-bit totals are `BigInt`s; estimates are numbers with their bounds;
//! - structured results are plain, JSON-compatible objects (`JSON.stringify` shows them); counts in
//!   them are numbers (exact up to 2^53), the `BigInt` getters are exact beyond;
//! - `merge(other)` / `mergeBytes(bytes)` combine sketches held in one place (a dashboard merging
//!   what it downloaded). Envelopes sent over a network are applied exactly once by the receiver
//!   (the merge server), never by these calls.

mod counters;
mod envelope;
mod hll;
mod rankings;
mod scratch;

pub use counters::{JsCounter, JsUniqueSeries, JsWindowCounter};
pub use envelope::{JsEnvelopeReader, JsRecorder};
pub use hll::JsHyperLogLog;
pub use rankings::{JsCountMinSketch, JsLeaderboard, JsQuantiles, JsTopK};

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

/// Errors are JS values: an `Error` with the core's message, or a `TypeError` for an option of
/// the wrong type (wasm-bindgen's `JsError` can only be an `Error`).
pub(crate) type JsResult<T> = Result<T, JsValue>;

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A JS `Error` carrying the core's message.
pub(crate) fn js_error(e: impl core::fmt::Display) -> JsValue {
    error(&e.to_string())
}

/// A JS `Error` with `message`.
pub(crate) fn error(message: &str) -> JsValue {
    JsError::new(message).into()
}

/// A time in milliseconds: a safe integer.
pub(crate) fn millis(x: f64, what: &str) -> JsResult<i64> {
    safe_integer(x, what, " of milliseconds")
}

/// A value (not a time): a safe integer.
pub(crate) fn whole(x: f64, what: &str) -> JsResult<i64> {
    safe_integer(x, what, "")
}

fn safe_integer(x: f64, what: &str, unit: &str) -> JsResult<i64> {
    if x.is_finite() && x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER {
        Ok(x as i64)
    } else {
        Err(error(&format!(
            "{what} must be a whole number{unit} within ±(2^53 - 1), got {x}"
        )))
    }
}

/// A time in milliseconds, `Date.now()` when not given.
pub(crate) fn millis_or_now(x: Option<f64>, what: &str) -> JsResult<i64> {
    millis(x.unwrap_or_else(js_sys::Date::now), what)
}

/// A count or weight: a non-negative safe integer.
pub(crate) fn count(x: f64, what: &str) -> JsResult<u64> {
    if x.is_finite() && x.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&x) {
        Ok(x as u64)
    } else {
        Err(error(&format!(
            "{what} must be a whole number from 0 to 2^53 - 1, got {x}"
        )))
    }
}

/// An options object (`undefined` and `null` mean all defaults); unknown fields are refused so a
/// misspelt option does not silently fall back to its default.
pub(crate) fn options<T: DeserializeOwned + Default>(
    value: Option<js_sys::Object>,
    what: &str,
) -> JsResult<T> {
    let Some(value) = value.map(JsValue::from) else {
        return Ok(T::default());
    };
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    if !value.is_object() || js_sys::Array::is_array(&value) {
        return Err(type_error(&format!("{what} options must be an object")));
    }
    // serde-wasm-bindgen reads only the fields it knows, so `deny_unknown_fields` never sees a
    // typo: compare the object's own keys with the struct's fields here.
    let known = field_names::<T>();
    // A field set to `undefined` or `null` means its default (TypeScript's optional fields allow
    // `undefined`; the types say `| null` too): copy the others.
    let given = js_sys::Object::new();
    for key in js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>()) {
        let name = key.as_string().unwrap_or_default();
        if !known.contains(&name.as_str()) {
            return Err(error(&format!(
                "{what} options: unknown field `{name}`, expected one of {}",
                known.join(", ")
            )));
        }
        let field = js_sys::Reflect::get(&value, &key).unwrap_or(JsValue::UNDEFINED);
        if !field.is_undefined() && !field.is_null() {
            let _ = js_sys::Reflect::set(&given, &key, &field);
        }
    }
    serde_wasm_bindgen::from_value(given.into()).map_err(|e| {
        // serde-wasm-bindgen's errors are JS errors whose text starts "Error: ".
        let text = e.to_string();
        let text = text.strip_prefix("Error: ").unwrap_or(&text);
        // A value of the wrong type is a TypeError, as for arguments, told in JS's terms.
        match text.strip_prefix("invalid type: ") {
            Some(detail) => type_error(&format!("{what} options: {}", in_js_terms(detail))),
            None => error(&format!("{what} options: {text}")),
        }
    })
}

/// A JS `TypeError`.
fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// serde's "string \"14\", expected u8" as "a string (\"14\") where a number belongs".
fn in_js_terms(detail: &str) -> String {
    let (got, expected) = detail
        .split_once(", expected ")
        .unwrap_or((detail, "another type"));
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "f32" | "f64" => {
            "a number"
        }
        other => other,
    };
    let got = match got {
        g if g.starts_with("JsValue(Date") => "a Date".to_string(),
        g if g.starts_with("JsValue(") => "an object".to_string(),
        g if g.starts_with("string ") => format!("a string ({})", &g["string ".len()..]),
        g if g.starts_with("boolean ") => format!("a boolean ({})", &g["boolean ".len()..]),
        g => g.to_string(),
    };
    format!("got {got} where {expected} belongs")
}

/// The (renamed) field names a struct deserializes, as serde passes them to the deserializer.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    struct Names(Option<&'static [&'static str]>);

    #[derive(Debug)]
    struct Stop;
    impl core::fmt::Display for Stop {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("field names captured")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: core::fmt::Display>(_: M) -> Self {
            Stop
        }
    }

    impl<'de> de::Deserializer<'de> for &mut Names {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let mut names = Names(None);
    let _ = T::deserialize(&mut names);
    names.0.unwrap_or(&[])
}

/// A plain JS object (JSON-compatible: maps as objects, no `Map`s).
pub(crate) fn plain<T: Serialize>(value: &T) -> JsResult<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_error)
}

/// Items packed in one buffer: item `i` is `data[ends[i - 1]..ends[i]]` (the first starts at 0).
/// Without `ends` the whole buffer is one item.
pub(crate) fn packed<'a>(data: &'a [u8], ends: Option<&[u32]>) -> JsResult<Vec<&'a [u8]>> {
    let Some(ends) = ends else {
        return Ok(vec![data]);
    };
    let mut items = Vec::with_capacity(ends.len());
    let mut start = 0usize;
    for (i, &end) in ends.iter().enumerate() {
        let end = end as usize;
        if end < start || end > data.len() {
            return Err(error(&format!(
                "ends[{i}] = {end} is out of order or past the buffer's {} bytes",
                data.len()
            )));
        }
        items.push(&data[start..end]);
        start = end;
    }
    // Bytes after the last item would be dropped without a word: a caller's mistake (a wrong
    // last end, or a pooled buffer passed whole) that must not pass as success.
    if start != data.len() {
        return Err(error(&format!(
            "the items end at byte {start} of the buffer's {}: pass data.subarray(0, {start}) if the rest is not items",
            data.len()
        )));
    }
    Ok(items)
}

/// An estimate as JS sees it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EstimateJs {
    value: f64,
    std_error: f64,
    lower: f64,
    upper: f64,
    exact: bool,
}

impl From<edgesketch::Estimate> for EstimateJs {
    fn from(e: edgesketch::Estimate) -> Self {
        EstimateJs {
            value: e.value,
            std_error: e.std_error,
            lower: e.lower,
            upper: e.upper,
            exact: e.exact,
        }
    }
}

/// Bytes shown to JS as text: the UTF-8 string (items are usually strings); invalid sequences
/// become U+FFFD.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `merge(other)`, `mergeBytes(bytes)`, `toBytes()` and `fromBytes(bytes)`: the same four methods
/// on every family, with the family's own merge (`|a, b| ...` on the core values).
#[macro_export]
#[doc(hidden)]
macro_rules! snapshot_methods {
    ($rust:ident as $js:ident, $core:ty, $merge_doc:literal, |$a:ident, $b:ident| $merge:expr) => {
        $crate::snapshot_methods!(
            $rust as $js, $core, $merge_doc, |$a, $b| $merge, -> () |_merged| Ok(())
        );
    };
    // A merge that answers something: `$convert` turns the core's answer `$r` into `$ret`.
    ($rust:ident as $js:ident, $core:ty, $merge_doc:literal, |$a:ident, $b:ident| $merge:expr,
     -> $ret:ty |$r:ident| $convert:expr) => {
        #[wasm_bindgen::prelude::wasm_bindgen(js_class = $js)]
        impl $rust {
            #[doc = $merge_doc]
            pub fn merge(&mut self, other: &$rust) -> $crate::JsResult<$ret> {
                let ($a, $b) = (&mut self.inner, &other.inner);
                let $r = $merge.map_err($crate::js_error)?;
                $convert
            }

            /// Merges one given as its snapshot bytes (see `merge`).
            #[wasm_bindgen(js_name = mergeBytes)]
            pub fn merge_bytes(&mut self, bytes: &[u8]) -> $crate::JsResult<$ret> {
                let other = <$core>::from_bytes(bytes).map_err($crate::js_error)?;
                let ($a, $b) = (&mut self.inner, &other);
                let $r = $merge.map_err($crate::js_error)?;
                $convert
            }

            /// Its snapshot format v1 bytes (docs/FORMAT.md), the same as the Rust core's.
            #[wasm_bindgen(js_name = toBytes)]
            pub fn to_bytes(&self) -> Vec<u8> {
                self.inner.to_bytes()
            }

            /// Decodes snapshot bytes, checking everything (throws on anything malformed).
            #[wasm_bindgen(js_name = fromBytes)]
            pub fn from_bytes(bytes: &[u8]) -> $crate::JsResult<$rust> {
                Ok($rust {
                    inner: <$core>::from_bytes(bytes).map_err($crate::js_error)?,
                })
            }
        }
    };
}

/// `advance`, `rejected`, `downsample` and `nowMs`: the same on both time series.
#[macro_export]
#[doc(hidden)]
macro_rules! series_methods {
    ($rust:ident as $js:ident, $what:literal) => {
        #[wasm_bindgen::prelude::wasm_bindgen(js_class = $js)]
        impl $rust {
            /// Moves the clock forward (never back), dropping buckets that leave the retention.
            pub fn advance(&mut self, now_ms: f64) -> $crate::JsResult<()> {
                self.inner.advance($crate::millis(now_ms, "nowMs")?);
                Ok(())
            }

            /// `{ late, future }`, each `{ events, total, buckets }`: what `add` refused.
            pub fn rejected(&self) -> $crate::JsResult<wasm_bindgen::JsValue> {
                $crate::plain(&$crate::counters::RejectionsJs::from(self.inner.rejected()))
            }

            #[doc = concat!("The same ", $what, " in wider buckets (`bucketMs` a multiple of the current width).")]
            pub fn downsample(&self, bucket_ms: f64) -> $crate::JsResult<$rust> {
                Ok($rust {
                    inner: self
                        .inner
                        .downsample($crate::count(bucket_ms, "bucketMs")?)
                        .map_err($crate::js_error)?,
                })
            }

            /// The clock (milliseconds).
            #[wasm_bindgen(getter, js_name = nowMs)]
            pub fn now_ms(&self) -> f64 {
                self.inner.now() as f64
            }
        }
    };
}

#[wasm_bindgen(typescript_custom_section)]
const OPTION_TYPES: &str = r#"
/** Options of `new HyperLogLog(...)`. */
export interface HyperLogLogOptions { /** log2 of the register count, 4 to 18 (default 14, Redis's). */ precision?: number }
/** Bucket layout and acceptance windows of a time series. */
export interface SeriesOptions {
  /** Bucket width, 1 s to 1 day (default 1000). */ bucketMs?: number;
  /** How long buckets are kept (default 3600000). */ retentionMs?: number;
  /** How late an event may arrive (default 60000). */ graceMs?: number;
  /** How far ahead of the clock an event may be (default 60000). */ maxFutureMs?: number;
}
/** Options of `new WindowCounter(...)`. */
export interface WindowCounterOptions extends SeriesOptions { /** The clock (default `Date.now()`). */ nowMs?: number }
/** Options of `new UniqueSeries(...)` and `Recorder.addUniqueSeries`. */
export interface UniqueSeriesOptions extends WindowCounterOptions { /** HyperLogLog precision per bucket (default 14). */ precision?: number }
/** Options of `new Leaderboard(...)`. */
export interface LeaderboardOptions {
  rule?: "max" | "min" | "sum" | "lastWriterWins";
  best?: "highest" | "lowest";
  /** Members kept (the best ones); 0 keeps all (default). */ capacity?: number;
}
/** How `Leaderboard.add` treats an existing score. */
export type AddMode = "set" | "greaterThan" | "lessThan" | "onlyNew" | "onlyExisting" | "increment";
/** Options of `Recorder.addScore`: the board's (on first use) and the write's. */
export interface ScoreOptions extends LeaderboardOptions { mode?: AddMode; writtenMs?: number }
/** Options of `new TopK(...)`. */
export interface TopKOptions { /** Items tracked (default 1000). */ capacity?: number }
/** Options of `new CountMinSketch(...)`: `epsilon`/`delta`, or `width`/`depth`. */
export interface CountMinSketchOptions {
  epsilon?: number; delta?: number; width?: number; depth?: number;
  /** Conservative update (local sketches only). */ conservative?: boolean;
}
/** Options of `new Quantiles(...)`. */
export interface QuantilesOptions { /** Relative accuracy (default 0.01). */ alpha?: number; /** Bins per sign (default 2048). */ maxBins?: number }
/** Options of `new Recorder(...)`. */
export interface RecorderOptions { /** 32 hex digits; random when absent. */ replica?: string; /** For a sender resuming. */ nextSequence?: number }
"#;

/// Takes a string into WebAssembly and does nothing with it: the yardstick of the JS benchmarks
/// (bench/js), what one call with a string costs before any work.
#[wasm_bindgen(js_name = benchNoop)]
pub fn bench_noop(item: &str) -> usize {
    item.len()
}
