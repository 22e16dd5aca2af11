//! Quantile sketches: error, or a sketch whose quantiles lie within its min and max.
#![no_main]

use edgesketch::Quantiles;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut q) = Quantiles::from_bytes(data) {
        assert_eq!(Quantiles::from_bytes(&q.to_bytes()).as_ref(), Ok(&q));
        for p in [0.0, 0.25, 0.5, 0.99, 1.0] {
            if let Some(v) = q.quantile(p) {
                assert!(q.min().unwrap() <= v && v <= q.max().unwrap());
            }
        }
        let _ = q.rank(1.0);
        let copy = q.clone();
        let _ = q.merge_local(&copy);
        let _ = q.add(42.0);
    }
});
