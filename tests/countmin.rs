//! Count-min against exact counts: the upper bound always holds, the lower bound
//! (`estimate − ε·N`) holds for all but a δ fraction of items, conservative update is tighter,
//! merges are exact sums.

use edgesketch::CountMinSketch;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

fn stream(seed: u64, n: usize, keys: u64) -> Vec<(u64, u64)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // Skewed: small keys much more often.
            let u: f64 = rng.random();
            let k = (u.powi(3) * keys as f64) as u64;
            (k, rng.random_range(1..4u64))
        })
        .collect()
}

#[test]
fn bounds_hold_against_exact_counts() {
    for (epsilon, delta) in [(0.01, 0.01), (0.001, 0.05), (0.05, 0.001)] {
        for seed in 0..3 {
            let events = stream(seed, 200_000, 50_000);
            let mut exact = vec![0u64; 50_000];
            let mut plain = CountMinSketch::new(epsilon, delta).unwrap();
            let mut conservative = CountMinSketch::new(epsilon, delta)
                .unwrap()
                .with_conservative_update();
            for &(k, w) in &events {
                exact[k as usize] += w;
                plain.add(&k.to_le_bytes(), w);
                conservative.add(&k.to_le_bytes(), w);
            }
            let mut misses = 0;
            let mut tighter = 0;
            for (k, &truth) in exact.iter().enumerate() {
                let e = plain.estimate(&(k as u64).to_le_bytes());
                let c = conservative.estimate(&(k as u64).to_le_bytes());
                assert!(truth <= e.upper && truth <= c.upper, "overestimates only");
                assert!(c.upper <= e.upper, "conservative update is never looser");
                if truth < e.lower {
                    misses += 1;
                }
                tighter += usize::from(c.upper < e.upper);
            }
            // The lower bound may fail for a δ fraction; allow twice that for sampling noise.
            let allowed = (2.0 * delta * exact.len() as f64).ceil() as usize;
            assert!(
                misses <= allowed,
                "eps={epsilon} delta={delta} seed={seed}: {misses} misses > {allowed}"
            );
            assert!(tighter > 0);
            assert_eq!(plain.total(), events.iter().map(|e| e.1).sum::<u64>());
        }
    }
}

#[test]
fn merges_are_sums_and_refuse_other_shapes() {
    let events = stream(4, 50_000, 5_000);
    let mut whole = CountMinSketch::new(0.01, 0.01).unwrap();
    let mut parts = vec![CountMinSketch::new(0.01, 0.01).unwrap(); 4];
    for (i, &(k, w)) in events.iter().enumerate() {
        whole.add(&k.to_le_bytes(), w);
        parts[i % 4].add(&k.to_le_bytes(), w);
    }
    let mut merged = parts[0].clone();
    for p in &parts[1..] {
        merged.merge_local(p).unwrap();
    }
    assert_eq!(merged, whole);
    assert!(
        merged
            .merge_local(&CountMinSketch::new(0.02, 0.01).unwrap())
            .is_err()
    );
    assert!(
        merged
            .merge_local(
                &CountMinSketch::new(0.01, 0.01)
                    .unwrap()
                    .with_conservative_update()
            )
            .is_err()
    );
    let back = CountMinSketch::from_bytes(&whole.to_bytes()).unwrap();
    assert_eq!(back, whole);
    assert!(CountMinSketch::new(0.0, 0.1).is_err() && CountMinSketch::new(0.1, 1.0).is_err());
    assert!(
        CountMinSketch::with_dimensions(1 << 24, 2).is_err(),
        "2^25 counters"
    );
}
