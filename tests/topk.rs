//! Top-K heavy hitters on Zipf streams, against exact counts: recall of the true top K, and
//! bounds that always contain the truth, also after merging partial summaries.

use edgesketch::TopK;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Cumulative weights of Zipf(s) over `n` keys.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += 1.0 / (k as f64).powf(s);
            acc
        })
        .collect();
    let total = acc;
    for c in &mut cdf {
        *c /= total;
    }
    cdf
}

fn sample(cdf: &[f64], rng: &mut SmallRng) -> usize {
    let u: f64 = rng.random();
    cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
}

fn key(k: usize) -> Vec<u8> {
    format!("article-{k}").into_bytes()
}

/// Checks bounds for every key and returns the recall of the true top `k` in the summary's top `k`.
fn check(top: &TopK, truth: &[u64], k: usize) -> f64 {
    for (i, &count) in truth.iter().enumerate() {
        let (lower, upper) = top.bounds(&key(i));
        assert!(
            lower <= count && count <= upper,
            "key {i}: {lower} <= {count} <= {upper}"
        );
    }
    let mut order: Vec<usize> = (0..truth.len()).collect();
    order.sort_by(|&a, &b| truth[b].cmp(&truth[a]));
    let report = top.top(k);
    let reported: Vec<Vec<u8>> = report
        .guaranteed
        .iter()
        .chain(&report.possible)
        .take(k)
        .map(|h| h.item.clone())
        .collect();
    for g in &report.guaranteed {
        let i: usize = String::from_utf8_lossy(&g.item)["article-".len()..]
            .parse()
            .unwrap();
        // A guaranteed item really is among the top k (ties counted as in).
        assert!(
            truth[i] >= truth[order[k - 1]],
            "guaranteed {i} is not in the top {k}"
        );
    }
    let hits = order[..k]
        .iter()
        .filter(|&&i| reported.contains(&key(i)))
        .count();
    hits as f64 / k as f64
}

#[test]
fn zipf_ten_million_recall_and_bounds_also_after_merging_eight_parts() {
    let keys = 1_000_000;
    let cdf = zipf_cdf(keys, 1.1);
    let mut rng = SmallRng::seed_from_u64(2024);
    let mut truth = vec![0u64; keys];
    let mut whole = TopK::new(1000).unwrap();
    let mut parts: Vec<TopK> = (0..8).map(|_| TopK::new(1000).unwrap()).collect();
    for n in 0..10_000_000usize {
        let k = sample(&cdf, &mut rng);
        truth[k] += 1;
        let item = key(k);
        whole.insert(&item, 1).unwrap();
        parts[n % 8].insert(&item, 1).unwrap();
    }
    let recall = check(&whole, &truth, 100);
    eprintln!("one summary: recall of the top 100 = {recall}");
    assert!(recall >= 0.99, "recall {recall}");

    let mut merged = TopK::new(1000).unwrap();
    for p in &parts {
        merged.merge_local(p).unwrap();
    }
    assert_eq!(merged.total(), 10_000_000);
    let recall = check(&merged, &truth, 100);
    eprintln!("merged from 8: recall of the top 100 = {recall}");
    assert!(recall >= 0.99, "recall after merging {recall}");
}

#[test]
fn bounds_hold_for_any_merge_order_and_weights() {
    let cdf = zipf_cdf(5_000, 0.8);
    let mut rng = SmallRng::seed_from_u64(9);
    for round in 0..20 {
        let mut truth = vec![0u64; 5_000];
        let mut parts: Vec<TopK> = (0..5).map(|_| TopK::new(64).unwrap()).collect();
        for _ in 0..20_000 {
            let k = sample(&cdf, &mut rng);
            let w = rng.random_range(1..5u64);
            truth[k] += w;
            let p = rng.random_range(0..5usize);
            parts[p].insert(&key(k), w).unwrap();
        }
        // Merge in a random tree shape.
        while parts.len() > 1 {
            let i = rng.random_range(0..parts.len());
            let a = parts.swap_remove(i);
            let j = rng.random_range(0..parts.len());
            parts[j].merge_local(&a).unwrap();
        }
        let top = &parts[0];
        let _ = check(top, &truth, 10);
        let back = TopK::from_bytes(&top.to_bytes()).unwrap();
        assert_eq!(&back, top, "round {round}");
        assert_eq!(back.to_bytes(), top.to_bytes());
    }
}

#[test]
fn small_exact_cases_and_errors() {
    let mut top = TopK::new(3).unwrap();
    for (item, n) in [("a", 10u64), ("b", 5), ("c", 1)] {
        top.insert(item.as_bytes(), n).unwrap();
    }
    let r = top.top(2);
    assert_eq!(r.guaranteed.len(), 2);
    assert_eq!(r.floor, 0);
    top.insert(b"d", 1).unwrap(); // evicts c (count 1): d gets count 2, error 1
    assert_eq!(top.bounds(b"d"), (1, 2));
    assert_eq!(top.bounds(b"c"), (0, 1));
    assert_eq!(top.floor(), 1);
    assert!(top.insert(&[0u8; 1025], 1).is_err());
    assert!(TopK::new(0).is_err() && TopK::new(65537).is_err());
    assert!(top.merge_local(&TopK::new(4).unwrap()).is_err());

    // An item listed twice (not next to itself, so the order check alone cannot see it).
    let mut three = TopK::new(3).unwrap();
    for (item, n) in [("xa", 10u64), ("xb", 7), ("xc", 5)] {
        three.insert(item.as_bytes(), n).unwrap();
    }
    let mut bytes = three.to_bytes();
    let at = bytes.windows(2).position(|w| w == b"xc").unwrap();
    bytes[at + 1] = b'a';
    assert!(matches!(
        TopK::from_bytes(&bytes),
        Err(edgesketch::Error::NonCanonical { .. })
    ));
}

#[test]
fn no_top_zero_and_no_empty_counters() {
    let mut top = TopK::new(2).unwrap();
    top.insert(b"a", u64::MAX).unwrap();
    let none = top.top(0);
    assert!(none.guaranteed.is_empty() && none.possible.is_empty());
    assert_eq!(none.total, u64::MAX);
    // A counter with count 0 cannot come from the API; the decoder refuses it.
    let mut one = TopK::new(2).unwrap();
    one.insert(b"a", 1).unwrap();
    let mut bytes = one.to_bytes();
    let n = bytes.len();
    bytes[n - 2] = 0; // count 1 -> 0 (error stays 0)
    assert!(matches!(
        TopK::from_bytes(&bytes),
        Err(edgesketch::Error::NonCanonical { .. })
    ));
}
