//! Window counters: error, or a counter whose queries, merges and re-encoding behave.
#![no_main]

use edgesketch::WindowCounter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = WindowCounter::from_bytes(data) {
        let bytes = w.to_bytes();
        assert_eq!(bytes, data, "a window counter has one encoding");
        let all = w.sum(i64::MIN / 2, i64::MAX / 2);
        assert_eq!(all.buckets as usize, w.bucket_count());
        let _ = w.last(3_600_000, w.now());
        let _ = w.series(w.now().saturating_sub(3_600_000), w.now().saturating_add(60_000));
        let mut m = w.clone();
        let _ = m.merge_local(&w);
        if let Some(width) = w.config().bucket_ms.checked_mul(2) {
            let _ = w.downsample(width);
        }
        let mut later = w.clone();
        later.advance(w.now().saturating_add(86_400_000));
        let _ = later.add(1, w.now());
    }
});
