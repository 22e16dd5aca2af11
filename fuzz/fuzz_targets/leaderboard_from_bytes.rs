//! Leaderboards: error, or a board whose ranks, ranges and re-encoding agree.
#![no_main]

use edgesketch::{AddMode, Leaderboard, Order};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut b) = Leaderboard::from_bytes(data) {
        assert_eq!(b.to_bytes(), data, "a leaderboard has one encoding");
        let all = b.range_by_rank(0, u64::MAX, Order::Ascending);
        assert_eq!(all.len(), b.len());
        for (i, e) in all.iter().enumerate().take(50) {
            assert_eq!(b.rank(&e.member, Order::Ascending), Some(i as u64));
            assert_eq!(b.score(&e.member), Some(e.score));
        }
        let _ = b.range_by_score(-1.0, 1.0, Order::Descending, 10);
        let copy = b.clone();
        let _ = b.merge_local(&copy);
        let _ = b.add(b"fuzz", 1.0, AddMode::Increment);
        b.trim(3);
        let _ = b.to_bytes();
    }
});
