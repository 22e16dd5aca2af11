//! Our own HyperLogLog encoding: any input decodes to an error or to a sketch that behaves.
#![no_main]

use edgesketch::HyperLogLog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = HyperLogLog::from_bytes(data) {
        let e = h.estimate();
        assert!(e.value.is_finite() && e.lower <= e.value && e.value <= e.upper);
        // Decoding is exact for what it accepts: encoding again and decoding gives the same
        // registers (the bytes may be in a shorter canonical form).
        let again = HyperLogLog::from_bytes(&h.to_bytes()).expect("re-encoded sketch decodes");
        assert_eq!(again.registers(), h.registers());
        let mut m = h.clone();
        m.merge(&again).unwrap();
        m.insert(data);
        let _ = m.redis_estimate();
        if h.precision() >= 14 {
            let r = h.to_redis().unwrap();
            assert_eq!(HyperLogLog::from_redis(&r).unwrap().redis_estimate(), h.redis_estimate());
        }
    }
});
