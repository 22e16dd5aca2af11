//! Accuracy and memory of edgesketch's HyperLogLog beside the peers of benches/hll.rs, on the
//! same keys: mean absolute relative error over 20 seeds, and heap bytes where the peer reports
//! them. Prints the tables of docs/BENCHMARKS.md.
//!
//! `cargo run --release --example compare_peers`

use std::hash::BuildHasherDefault;

use cardinality_estimator::CardinalityEstimator;
use edgesketch::HyperLogLog;
use hyperloglogplus::{HyperLogLog as _, HyperLogLogPlus};
use wyhash::WyHash;

fn main() {
    let seeds = 20u64;
    println!(
        "| distinct items | edgesketch | cardinality-estimator | hyperloglogplus | edgesketch heap | cardinality-estimator heap |"
    );
    println!("|---|---|---|---|---|---|");
    for n in [100usize, 1_000, 5_000, 10_000, 20_000, 100_000, 1_000_000] {
        let (mut ours, mut ce, mut hllp) = (0.0, 0.0, 0.0);
        let (mut ours_heap, mut ce_heap) = (0usize, 0usize);
        for seed in 0..seeds {
            let keys: Vec<String> = (0..n).map(|i| format!("s{seed}-user-{i}")).collect();
            let mut a = HyperLogLog::new(14).unwrap();
            let mut b = CardinalityEstimator::<str, WyHash, 14, 6>::new();
            let mut c = HyperLogLogPlus::<str, BuildHasherDefault<WyHash>>::new(
                14,
                BuildHasherDefault::default(),
            )
            .unwrap();
            for k in &keys {
                a.insert(k.as_bytes());
                b.insert(k.as_str());
                c.insert(k.as_str());
            }
            let truth = n as f64;
            ours += (a.estimate().value - truth).abs() / truth;
            ce += (b.estimate() as f64 - truth).abs() / truth;
            hllp += (c.count() - truth).abs() / truth;
            ours_heap += a.heap_bytes();
            ce_heap += b.size_of();
        }
        let s = seeds as f64;
        println!(
            "| {n} | {:.3} % | {:.3} % | {:.3} % | {} B | {} B |",
            100.0 * ours / s,
            100.0 * ce / s,
            100.0 * hllp / s,
            ours_heap / seeds as usize,
            ce_heap / seeds as usize
        );
    }
}
