//! Top-K summaries: error, or a summary whose report, merges and re-encoding behave.
#![no_main]

use edgesketch::TopK;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut t) = TopK::from_bytes(data) {
        assert_eq!(t.to_bytes(), data, "a top-K summary has one encoding");
        let r = t.top(10);
        for h in r.guaranteed.iter().chain(&r.possible) {
            assert!(h.lower <= h.upper);
        }
        let copy = t.clone();
        let _ = t.merge_local(&copy);
        let _ = t.insert(b"fuzz", 3);
        let _ = TopK::from_bytes(&t.to_bytes()).expect("re-encoded summary decodes");
    }
});
