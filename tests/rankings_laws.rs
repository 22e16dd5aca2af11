//! Merge laws for count-min, quantiles and top-K, by property test. The leaderboard's laws live in
//! `tests/leaderboard.rs` next to its model.
//!
//! Count-min and quantile merges are exact (counter sums, bucket sums), so a merge must equal the
//! sketch of the concatenated stream byte for byte. Space-Saving merges are lossy by design, so for
//! top-K the laws are commutativity, identity, totals and — the one users rely on — bounds that
//! contain the truth for any merge tree.

use std::collections::HashMap;

use edgesketch::{CountMinSketch, Quantiles, TopK};
use proptest::prelude::*;

fn countmin_events() -> impl Strategy<Value = Vec<(u16, u64)>> {
    prop::collection::vec((0u16..300, 1u64..1_000), 0..300)
}

fn countmin(events: &[(u16, u64)], conservative: bool) -> CountMinSketch {
    // Narrow on purpose, so rows collide and conservative update matters.
    let mut sketch = CountMinSketch::with_dimensions(16, 3).unwrap();
    if conservative {
        sketch = sketch.with_conservative_update();
    }
    for &(k, w) in events {
        sketch.add(&k.to_le_bytes(), w);
    }
    sketch
}

/// Values whose sums are exact in f64 (mantissa ≤ 2^15, scale 2^-8..2^16), so the sum field is
/// order-independent too; zero and negatives included.
fn quantile_values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        (-(1i32 << 15)..(1 << 15), -8i32..16).prop_map(|(m, e)| f64::from(m) * 2f64.powi(e)),
        0..300,
    )
}

fn quantiles(values: &[f64], max_bins: u32) -> Quantiles {
    let mut sketch = Quantiles::with_max_bins(0.01, max_bins).unwrap();
    for &v in values {
        sketch.add(v).unwrap();
    }
    sketch
}

fn topk_events() -> impl Strategy<Value = Vec<(u8, u64)>> {
    // Skewed keys: the low ones recur, so there are real heavy hitters among the noise.
    prop::collection::vec(
        ((0u8..=255), (0u8..=255), 1u64..20).prop_map(|(a, b, w)| (a.min(b) / 4, w)),
        0..400,
    )
}

fn topk(events: &[(u8, u64)], capacity: u32) -> TopK {
    let mut sketch = TopK::new(capacity).unwrap();
    for &(k, w) in events {
        sketch.insert(&[k], w).unwrap();
    }
    sketch
}

fn merged<T: Clone>(a: &T, b: &T, merge: impl Fn(&mut T, &T)) -> T {
    let mut out = a.clone();
    merge(&mut out, b);
    out
}

fn cm_merge(a: &mut CountMinSketch, b: &CountMinSketch) {
    a.merge_local(b).unwrap();
}

fn q_merge(a: &mut Quantiles, b: &Quantiles) {
    a.merge_local(b).unwrap();
}

fn tk_merge(a: &mut TopK, b: &TopK) {
    a.merge_local(b).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn countmin_merge_is_the_sketch_of_the_union(a in countmin_events(), b in countmin_events(), c in countmin_events()) {
        let (sa, sb, sc) = (countmin(&a, false), countmin(&b, false), countmin(&c, false));
        let all: Vec<_> = a.iter().chain(&b).chain(&c).copied().collect();
        let left = merged(&merged(&sa, &sb, cm_merge), &sc, cm_merge);
        let right = merged(&sa, &merged(&sb, &sc, cm_merge), cm_merge);
        prop_assert_eq!(left.to_bytes(), countmin(&all, false).to_bytes());
        prop_assert_eq!(left.to_bytes(), right.to_bytes());
        prop_assert_eq!(merged(&sa, &sb, cm_merge).to_bytes(), merged(&sb, &sa, cm_merge).to_bytes());
        prop_assert_eq!(merged(&sa, &sa.emptied(), cm_merge).to_bytes(), sa.to_bytes());
        prop_assert_eq!(CountMinSketch::from_bytes(&left.to_bytes()).unwrap(), left);
    }

    #[test]
    fn conservative_merges_stay_between_truth_and_plain(a in countmin_events(), b in countmin_events()) {
        let mut truth: HashMap<u16, u64> = HashMap::new();
        for &(k, w) in a.iter().chain(&b) {
            *truth.entry(k).or_default() += w;
        }
        let plain = merged(&countmin(&a, false), &countmin(&b, false), cm_merge);
        let tight = merged(&countmin(&a, true), &countmin(&b, true), cm_merge);
        prop_assert_eq!(plain.total(), tight.total());
        for (k, &n) in &truth {
            let (p, t) = (plain.estimate(&k.to_le_bytes()), tight.estimate(&k.to_le_bytes()));
            prop_assert!(n <= t.upper && t.upper <= p.upper, "key {}: {} ≤ {} ≤ {}", k, n, t.upper, p.upper);
        }
    }

    #[test]
    fn quantile_merge_is_the_sketch_of_the_union(
        a in quantile_values(), b in quantile_values(), c in quantile_values(),
        max_bins in prop::sample::select(vec![8u32, 64, 2048]),
    ) {
        // With few bins the stores collapse; the collapsed state does not depend on the order either.
        let (sa, sb, sc) = (quantiles(&a, max_bins), quantiles(&b, max_bins), quantiles(&c, max_bins));
        let all: Vec<_> = a.iter().chain(&b).chain(&c).copied().collect();
        let left = merged(&merged(&sa, &sb, q_merge), &sc, q_merge);
        let right = merged(&sa, &merged(&sb, &sc, q_merge), q_merge);
        let whole = quantiles(&all, max_bins);
        prop_assert_eq!(left.to_bytes(), whole.to_bytes());
        prop_assert_eq!(right.to_bytes(), whole.to_bytes());
        prop_assert_eq!(merged(&sa, &sb, q_merge).to_bytes(), merged(&sb, &sa, q_merge).to_bytes());
        prop_assert_eq!(merged(&sa, &sa.emptied(), q_merge).to_bytes(), sa.to_bytes());
        prop_assert_eq!(Quantiles::from_bytes(&left.to_bytes()).unwrap().to_bytes(), left.to_bytes());
        prop_assert_eq!(left.count(), all.len() as u64);
    }

    #[test]
    fn topk_merges_commute_and_bound_the_truth(
        parts in prop::collection::vec(topk_events(), 1..6),
        capacity in 1u32..24,
        order in prop::collection::vec(any::<prop::sample::Index>(), 8),
    ) {
        let mut truth: HashMap<u8, u64> = HashMap::new();
        for &(k, w) in parts.iter().flatten() {
            *truth.entry(k).or_default() += w;
        }
        let mut sketches: Vec<TopK> = parts.iter().map(|p| topk(p, capacity)).collect();
        prop_assert_eq!(
            merged(&sketches[0], &sketches[sketches.len() - 1], tk_merge),
            merged(&sketches[sketches.len() - 1], &sketches[0], tk_merge)
        );
        prop_assert_eq!(&merged(&sketches[0], &sketches[0].emptied(), tk_merge), &sketches[0]);
        // Fold in a random tree shape.
        let mut pick = order.iter().cycle();
        while sketches.len() > 1 {
            let a = sketches.swap_remove(pick.next().unwrap().index(sketches.len()));
            let j = pick.next().unwrap().index(sketches.len());
            sketches[j].merge_local(&a).unwrap();
        }
        let top = &sketches[0];
        prop_assert_eq!(top.total(), truth.values().sum::<u64>());
        for (k, &n) in &truth {
            let (lower, upper) = top.bounds(&[*k]);
            prop_assert!(lower <= n && n <= upper, "key {}: {} not in [{}, {}]", k, n, lower, upper);
        }
        // Everything reported as guaranteed really outranks everything left out.
        let report = top.top(3);
        let reported: Vec<u8> = report.guaranteed.iter().chain(&report.possible).map(|h| h.item[0]).collect();
        for h in &report.guaranteed {
            for (k, &n) in &truth {
                if !reported.contains(k) {
                    prop_assert!(truth[&h.item[0]] >= n, "guaranteed {} below unreported {}", h.item[0], k);
                }
            }
        }
        // With room for every key, merging loses nothing.
        if truth.len() <= capacity as usize {
            for (k, &n) in &truth {
                prop_assert_eq!(top.bounds(&[*k]), (n, n));
            }
        }
    }
}
