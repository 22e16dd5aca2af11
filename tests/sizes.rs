//! Snapshot sizes against Redis's own string for the same items: never larger, and at most 80 %
//! of it up to 1000 items. Prints the table quoted in the README.

mod common;

use common::items;
use edgesketch::HyperLogLog;

#[test]
fn snapshots_are_never_larger_than_redis_strings() {
    let seeds = 10u64;
    println!("| items | Redis (mean) | edgesketch (mean) | ratio |");
    for n in [
        0usize, 1, 3, 10, 100, 1000, 2500, 5000, 10_000, 20_000, 200_000,
    ] {
        let (mut ours, mut redis) = (0usize, 0usize);
        for seed in 0..seeds {
            let mut h = HyperLogLog::default();
            for item in items(seed, n) {
                h.insert(item.as_bytes());
            }
            let (o, r) = (h.to_bytes().len(), h.to_redis().unwrap().len());
            assert!(o <= r, "n={n} seed={seed}: {o} bytes, Redis {r}");
            if n <= 1000 {
                assert!(
                    o * 5 <= r * 4,
                    "n={n} seed={seed}: {o} bytes is over 80 % of Redis's {r}"
                );
            }
            ours += o;
            redis += r;
        }
        let (ours, redis) = (ours as f64 / seeds as f64, redis as f64 / seeds as f64);
        println!("| {n} | {redis:.0} | {ours:.0} | {:.2} |", ours / redis);
    }
}

#[test]
fn small_sketches_use_little_memory() {
    assert_eq!(HyperLogLog::default().heap_bytes(), 0);
    for (n, limit) in [
        (1usize, 64usize),
        (10, 128),
        (100, 1024),
        (1000, 8192),
        (3000, 16 * 1024),
    ] {
        let mut h = HyperLogLog::default();
        for item in items(1, n) {
            h.insert(item.as_bytes());
        }
        assert!(
            h.heap_bytes() <= limit,
            "n={n}: {} heap bytes",
            h.heap_bytes()
        );
    }
}
