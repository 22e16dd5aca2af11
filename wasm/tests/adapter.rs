//! The adapter inside a real JS engine (wasm-bindgen-test): under Node by default, in headless
//! Chromium with `WASM_BINDGEN_USE_BROWSER=1` (scripts/test-npm.sh runs both). wasm32 only.
#![cfg(target_arch = "wasm32")]

use edgesketch_wasm::{JsEnvelopeReader, JsHyperLogLog, JsQuantiles, JsRecorder, JsTopK};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

/// An options object from `(key, value)` pairs.
fn object(pairs: &[(&str, JsValue)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        js_sys::Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o
}

/// The message of the JS `Error` an adapter call returned.
fn message(e: impl Into<JsValue>) -> String {
    let value: JsValue = e.into();
    let error = value.dyn_ref::<js_sys::Error>().expect("a real Error");
    String::from(error.message())
}

#[wasm_bindgen_test]
fn wasm32_makes_the_native_golden_bytes() {
    // tests/golden/v1 was written natively (x86_64); wasm32 must make the same bytes.
    let mut h = JsHyperLogLog::new(None).unwrap();
    for i in 0..1000 {
        h.add(&format!("golden:user-{i}"));
    }
    assert_eq!(
        h.to_bytes(),
        include_bytes!("../../tests/golden/v1/hll_p14_n1000.bin")
    );
    let mut q = JsQuantiles::new(None).unwrap();
    for i in 0..1000u64 {
        q.add((i * 7919 % 1000) as f64 / 3.0 - 50.0).unwrap();
    }
    assert_eq!(
        q.to_bytes(),
        include_bytes!("../../tests/golden/v1/quantiles.bin")
    );
    let mut t = JsTopK::new(Some(object(&[("capacity", 32.into())]))).unwrap();
    for i in 0..2000u64 {
        t.add(&format!("article-{}", i * i % 97), Some((1 + i % 3) as f64))
            .unwrap();
    }
    assert_eq!(
        t.to_bytes(),
        include_bytes!("../../tests/golden/v1/top_k.bin")
    );
}

#[wasm_bindgen_test]
fn the_every_family_golden_envelope_decodes_in_wasm32() {
    let bytes = include_bytes!("../../tests/golden/v1/snapshot_every_family.bin");
    let reader = JsEnvelopeReader::new(bytes).unwrap();
    assert_eq!(reader.sequence(), 7.0);
    assert_eq!(reader.replica(), "0f0e0d0c0b0a09080706050403020100");
    let entries = js_sys::Array::from(&reader.entries().unwrap());
    assert_eq!(entries.length(), 8, "one entry per family");
    for key in ["a:uniques", "b:requests", "h:latency_ms"] {
        assert!(reader.open(key).unwrap().is_object(), "{key}");
    }
    assert!(reader.open("nope").is_err());
}

#[wasm_bindgen_test]
fn errors_are_js_errors_with_the_cores_message() {
    let e = JsHyperLogLog::new(Some(object(&[("precision", 3.into())])))
        .err()
        .unwrap();
    assert_eq!(message(e), "precision 3 is outside 4..=18");
    let e = JsHyperLogLog::new(Some(object(&[("precison", 14.into())])))
        .err()
        .unwrap();
    assert!(message(e).contains("unknown field `precison`"));
    let e = JsHyperLogLog::from_bytes(&[1, 2, 3]).err().unwrap();
    assert!(!message(e).is_empty());
}

#[wasm_bindgen_test]
fn a_recorder_draws_its_replica_from_the_engine_and_numbers_envelopes() {
    let mut r = JsRecorder::new(None).unwrap();
    assert_eq!(r.replica(), None);
    r.increment("requests", Some(2.0)).unwrap();
    r.add_unique("uniques", "ada", None).unwrap();
    let bytes = r.envelope(Some(1_764_115_200_000.0)).unwrap().unwrap();
    let replica = r.replica().expect("drawn with crypto.getRandomValues");
    assert_eq!(replica.len(), 32);
    let reader = JsEnvelopeReader::new(&bytes).unwrap();
    assert_eq!((reader.replica(), reader.sequence()), (replica, 1.0));
    assert_eq!(r.envelope(None).unwrap(), None, "nothing new");
}
