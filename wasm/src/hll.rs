//! `HyperLogLog`: distinct counts, byte-compatible with Redis.

use edgesketch::HyperLogLog;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::{EstimateJs, JsResult, js_error, options, packed, plain, scratch};

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    precision: u8,
}

impl Default for Options {
    fn default() -> Self {
        Options { precision: 14 }
    }
}

/// Distinct counting (HyperLogLog), Redis-compatible at precision 14.
#[wasm_bindgen(js_name = HyperLogLog)]
pub struct JsHyperLogLog {
    pub(crate) inner: HyperLogLog,
}

#[wasm_bindgen(js_class = HyperLogLog)]
impl JsHyperLogLog {
    /// `new HyperLogLog({ precision = 14 })`: 2^precision registers, 4 to 18.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "HyperLogLogOptions")] options_: Option<
            js_sys::Object,
        >,
    ) -> JsResult<JsHyperLogLog> {
        let o: Options = options(options_, "HyperLogLog")?;
        Ok(JsHyperLogLog {
            inner: HyperLogLog::new(o.precision).map_err(js_error)?,
        })
    }

    /// Adds one item (its UTF-8 bytes).
    pub fn add(&mut self, item: &str) {
        self.inner.insert(item.as_bytes());
    }

    /// `add` of the item in the scratch buffer (pkg-template/batch.js; internal): false if
    /// the buffer is shorter than `len`.
    #[wasm_bindgen(js_name = __addScratch, skip_typescript)]
    pub fn add_scratch(&mut self, len: u32) -> bool {
        scratch::with_item(len, |item| self.inner.insert(item)).is_some()
    }

    /// `addMany` of the batch in the scratch buffer (internal).
    #[wasm_bindgen(js_name = __addScratchMany, skip_typescript)]
    pub fn add_scratch_many(&mut self, count: u32, data_len: u32) -> JsResult<()> {
        scratch::with_items(count, data_len, |item| {
            self.inner.insert(item);
            Ok(())
        })
    }

    /// Adds many strings in one call.
    #[wasm_bindgen(js_name = addMany)]
    pub fn add_many(&mut self, items: Vec<String>) {
        for item in &items {
            self.inner.insert(item.as_bytes());
        }
    }

    /// Adds byte items packed in one buffer: item `i` ends at `ends[i]` (the first starts at 0),
    /// and the last ends at the buffer's end; without `ends` the buffer is one item. A bad `ends`
    /// adds nothing.
    #[wasm_bindgen(js_name = addBytes)]
    pub fn add_bytes(&mut self, data: &[u8], ends: Option<Vec<u32>>) -> JsResult<()> {
        for item in packed(data, ends.as_deref())? {
            self.inner.insert(item);
        }
        Ok(())
    }

    /// Adds items by their 64-bit MurmurHash64A (seed 0xadc83b19) hashes, as Redis computes them.
    #[wasm_bindgen(js_name = addHashes)]
    pub fn add_hashes(&mut self, hashes: &[u64]) {
        for &h in hashes {
            self.inner.insert_hash(h);
        }
    }

    /// `{ value, stdError, lower, upper, exact }`: the estimate with its 95 % interval.
    pub fn estimate(&self) -> JsResult<JsValue> {
        plain(&EstimateJs::from(self.inner.estimate()))
    }

    /// The estimated number of distinct items.
    pub fn count(&self) -> f64 {
        self.inner.estimate().value
    }

    /// What Redis's `PFCOUNT` answers for the same items. (`PFCOUNT` replies a signed 64-bit
    /// integer: a count of 2^63 or more, which needs registers no real item sets, shows there as
    /// negative.)
    #[wasm_bindgen(js_name = redisEstimate)]
    pub fn redis_estimate(&self) -> u64 {
        self.inner.redis_estimate()
    }

    /// The precision (log2 of the register count).
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> u8 {
        self.inner.precision()
    }

    /// Whether nothing was added.
    #[wasm_bindgen(getter, js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The Redis string (`SET` it, then `PFCOUNT` / `PFMERGE`); precision 14 or finer.
    #[wasm_bindgen(js_name = toRedis)]
    pub fn to_redis(&self) -> JsResult<Vec<u8>> {
        self.inner.to_redis().map_err(js_error)
    }

    /// A sketch from a Redis HyperLogLog string (`GET` of a `PFADD` key), fully validated.
    #[wasm_bindgen(js_name = fromRedis)]
    pub fn from_redis(bytes: &[u8]) -> JsResult<JsHyperLogLog> {
        Ok(JsHyperLogLog {
            inner: HyperLogLog::from_redis(bytes).map_err(js_error)?,
        })
    }

    /// `{ family, precision, sparse, estimate }` for logs and dashboards.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsResult<JsValue> {
        #[derive(Serialize)]
        struct Json {
            family: &'static str,
            precision: u8,
            sparse: bool,
            estimate: EstimateJs,
        }
        plain(&Json {
            family: "hyperloglog",
            precision: self.inner.precision(),
            sparse: self.inner.is_sparse(),
            estimate: self.inner.estimate().into(),
        })
    }
}

crate::snapshot_methods!(
    JsHyperLogLog as HyperLogLog,
    HyperLogLog,
    "Adds another sketch's items (a finer precision folds down to the coarser one).",
    |a, b| a.merge(b)
);
