//! Unique series: error, or a series whose queries, merges and re-encoding behave.
#![no_main]

use edgesketch::UniqueSeries;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = UniqueSeries::from_bytes(data) {
        let again = UniqueSeries::from_bytes(&u.to_bytes()).expect("re-encoded series decodes");
        assert_eq!(again.bucket_count(), u.bucket_count());
        let e = u.unique(i64::MIN / 2, i64::MAX / 2).estimate;
        assert!(e.value.is_finite() && e.lower <= e.value && e.value <= e.upper);
        let _ = u.series(u.now().saturating_sub(3_600_000), u.now().saturating_add(60_000));
        let mut m = u.clone();
        let _ = m.merge(&u);
        if let Some(width) = u.config().bucket_ms.checked_mul(2) {
            let _ = u.downsample(width);
        }
    }
});
