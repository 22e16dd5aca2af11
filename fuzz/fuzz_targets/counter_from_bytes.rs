//! Counters: error, or a counter that encodes back to the same bytes.
#![no_main]

use edgesketch::Counter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Counter::from_bytes(data) {
        assert_eq!(c.to_bytes(), data, "a counter has one encoding");
        let _ = c.value();
    }
});
