//! Count-min sketches: error, or a sketch that encodes back and answers within its total.
#![no_main]

use edgesketch::CountMinSketch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut c) = CountMinSketch::from_bytes(data) {
        assert_eq!(c.to_bytes(), data, "a count-min sketch has one encoding");
        let e = c.estimate(data);
        assert!(e.lower <= e.upper && e.upper <= c.total());
        let copy = c.clone();
        c.merge_local(&copy).unwrap();
        c.add(b"fuzz", 2);
    }
});
