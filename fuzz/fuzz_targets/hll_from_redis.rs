//! Redis HyperLogLog strings (the CVE-2025-32023 surface): error or a sketch that behaves.
#![no_main]

use edgesketch::HyperLogLog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = HyperLogLog::from_redis(data) {
        let e = h.estimate();
        assert!(e.value.is_finite() && e.lower <= e.value && e.value <= e.upper);
        let r = h.to_redis().unwrap();
        let back = HyperLogLog::from_redis(&r).expect("our Redis string decodes");
        assert_eq!(back.registers(), h.registers());
        assert_eq!(back.redis_estimate(), h.redis_estimate());
        let again = HyperLogLog::from_bytes(&h.to_bytes()).expect("re-encoded sketch decodes");
        assert_eq!(again.registers(), h.registers());
    }
});
