//! DDSketch accuracy against exact quantiles of sorted data: uniform, normal, lognormal,
//! exponential and Pareto values, several seeds; every quantile within α relative error.

use edgesketch::Quantiles;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

type Dist = fn(&mut SmallRng) -> f64;

fn uniform(r: &mut SmallRng) -> f64 {
    1.0 + 999.0 * r.random::<f64>()
}

fn normal(r: &mut SmallRng) -> f64 {
    // Box-Muller; shifted to stay mostly positive, negatives exercise the second store.
    let (u, v): (f64, f64) = (r.random::<f64>().max(f64::MIN_POSITIVE), r.random());
    100.0 + 30.0 * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

fn lognormal(r: &mut SmallRng) -> f64 {
    (normal(r) / 30.0 - 100.0 / 30.0 + 3.0).exp()
}

fn exponential(r: &mut SmallRng) -> f64 {
    -(1.0 - r.random::<f64>()).ln() * 50.0
}

fn pareto(r: &mut SmallRng) -> f64 {
    // Shape 1.5, scale 1: a heavy tail over many orders of magnitude.
    (1.0 - r.random::<f64>()).powf(-1.0 / 1.5)
}

fn signed(r: &mut SmallRng) -> f64 {
    let v = exponential(r);
    if r.random::<bool>() { v } else { -v }
}

#[test]
fn every_quantile_is_within_alpha_of_the_exact_one() {
    let dists: [(&str, Dist); 6] = [
        ("uniform", uniform),
        ("normal", normal),
        ("lognormal", lognormal),
        ("exponential", exponential),
        ("pareto", pareto),
        ("signed exponential", signed),
    ];
    for alpha in [0.01, 0.02, 0.001] {
        for (name, dist) in dists {
            for seed in 0..5u64 {
                let mut rng = SmallRng::seed_from_u64(seed * 7919 + 1);
                let n = 20_000;
                let mut values: Vec<f64> = (0..n).map(|_| dist(&mut rng)).collect();
                // 2048 buckets of 1 % span 17.8 orders of magnitude; of 0.1 %, only 1.8: give the finer
                // sketch enough buckets for these distributions (the collapsed range is tested
                // apart).
                let bins = if alpha < 0.005 { 1 << 16 } else { 2048 };
                let mut q = Quantiles::with_max_bins(alpha, bins).unwrap();
                for &v in &values {
                    q.add(v).unwrap();
                }
                assert!(!q.collapsed(), "{name}: the buckets cover this data");
                values.sort_by(f64::total_cmp);
                for i in 0..=1000 {
                    let p = f64::from(i) / 1000.0;
                    let exact = values[(p * (n - 1) as f64).floor() as usize];
                    let got = q.quantile(p).unwrap();
                    let err = (got - exact).abs();
                    assert!(
                        err <= alpha * exact.abs() * (1.0 + 1e-9) + 1e-12,
                        "{name} alpha={alpha} seed={seed} q={p}: {got} vs exact {exact}"
                    );
                }
                assert_eq!(q.count(), n as u64);
                assert_eq!(q.min(), Some(values[0]));
                assert_eq!(q.max(), Some(values[n - 1]));
                let exact_sum: f64 = values.iter().sum();
                assert!((q.sum() - exact_sum).abs() <= 1e-9 * exact_sum.abs().max(1.0));
            }
        }
    }
}

#[test]
fn merged_sketches_answer_like_one() {
    let mut rng = SmallRng::seed_from_u64(5);
    let mut whole = Quantiles::new(0.01).unwrap();
    let mut parts: Vec<Quantiles> = (0..8).map(|_| Quantiles::new(0.01).unwrap()).collect();
    let mut values = Vec::new();
    for i in 0..40_000 {
        let v = lognormal(&mut rng);
        values.push(v);
        whole.add(v).unwrap();
        parts[i % 8].add(v).unwrap();
    }
    let mut merged = Quantiles::new(0.01).unwrap();
    for p in &parts {
        merged.merge_local(p).unwrap();
    }
    values.sort_by(f64::total_cmp);
    for p in [0.5, 0.9, 0.99, 0.999] {
        assert_eq!(merged.quantile(p), whole.quantile(p));
        let exact = values[(p * (values.len() - 1) as f64) as usize];
        assert!((merged.quantile(p).unwrap() - exact).abs() <= 0.01 * exact);
    }
    assert_eq!(merged.to_bytes().len(), whole.to_bytes().len());
    assert!(Quantiles::new(0.02).unwrap().merge_local(&whole).is_err());
}

#[test]
fn memory_stays_bounded_and_the_top_keeps_its_guarantee() {
    let mut q = Quantiles::with_max_bins(0.01, 128).unwrap();
    let mut values = Vec::new();
    for e in 0..1_000_000u32 {
        // 1e-6 to 1e6: more orders of magnitude than 128 buckets of 1 % can span.
        let v = 10f64.powf(-6.0 + 12.0 * f64::from(e) / 1e6);
        values.push(v);
        q.add(v).unwrap();
    }
    assert!(q.collapsed());
    assert!(q.to_bytes().len() < 128 * 4 + 64);
    values.sort_by(f64::total_cmp);
    // 128 buckets of 2 % (in γ) keep the top factor of e^2.56 ≈ 13 uncollapsed: values above
    // ~77,000, the top 9 % of this log-uniform stream.
    for p in [0.95, 0.99, 0.999, 1.0] {
        let exact = values[(p * (values.len() - 1) as f64) as usize];
        let got = q.quantile(p).unwrap();
        assert!(
            (got - exact).abs() <= 0.01 * exact,
            "q={p}: {got} vs {exact}"
        );
    }
}

#[test]
fn ranks_counts_and_bad_values() {
    let mut q = Quantiles::new(0.01).unwrap();
    for v in 1..=100 {
        q.add(f64::from(v)).unwrap();
    }
    q.add(0.0).unwrap();
    q.add(-5.0).unwrap();
    assert_eq!(q.count(), 102);
    assert_eq!(q.rank(-10.0), Some(0.0));
    assert_eq!(q.rank(0.0), Some(2.0 / 102.0));
    let r = q.rank(50.0).unwrap();
    assert!((r - 52.0 / 102.0).abs() <= 1.0 / 102.0, "{r}");
    assert_eq!(q.rank(1e9), Some(1.0));
    assert!(q.add(f64::NAN).is_err() && q.add(f64::INFINITY).is_err());
    assert_eq!(q.quantile(1.5), None);
    assert_eq!(Quantiles::new(0.01).unwrap().quantile(0.5), None);
    let back = Quantiles::from_bytes(&q.to_bytes()).unwrap();
    assert_eq!(back, q);
    assert!(Quantiles::new(0.0).is_err() && Quantiles::new(1.0).is_err());
    let default = Quantiles::default();
    assert_eq!((default.alpha(), default.max_bins()), (0.01, 2048));
}

#[test]
fn extreme_values_and_counts_stay_encodable() {
    // The sum saturates instead of turning infinite, so the sketch still encodes and decodes.
    let mut huge = Quantiles::new(0.01).unwrap();
    huge.add(f64::MAX).unwrap();
    huge.add(f64::MAX).unwrap();
    huge.add(-f64::MAX).unwrap();
    assert!(huge.sum().is_finite());
    assert_eq!(huge.max(), Some(f64::MAX));
    let back = Quantiles::from_bytes(&huge.to_bytes()).unwrap();
    assert_eq!(back.to_bytes(), huge.to_bytes());
    let mut merged = huge.clone();
    merged.merge_local(&huge).unwrap();
    assert!(Quantiles::from_bytes(&merged.to_bytes()).is_ok());

    // Values too small to index count as zero and keep their own min and max.
    let mut tiny = Quantiles::new(0.01).unwrap();
    tiny.add(1e-12).unwrap();
    assert_eq!(Quantiles::from_bytes(&tiny.to_bytes()).unwrap(), tiny);

    // Counts never wrap: the add that would overflow is refused and changes nothing.
    let mut full = Quantiles::new(0.01).unwrap();
    full.add_n(3.0, u64::MAX - 1).unwrap();
    full.add(-2.0).unwrap();
    let before = full.to_bytes();
    assert!(full.add(0.0).is_err());
    assert!(full.merge_local(&tiny).is_err());
    assert_eq!(full.to_bytes(), before);
    assert_eq!(full.count(), u64::MAX);
    assert_eq!(Quantiles::from_bytes(&before).unwrap().count(), u64::MAX);
}

#[test]
fn a_jump_across_the_whole_range_stays_within_max_bins() {
    // With α = 10^-6 the keys from 10^-9 to 10^300 span ~3.6·10^8 buckets; the window must
    // slide, not fill the gap.
    let mut q = Quantiles::with_max_bins(1e-6, 1 << 16).unwrap();
    q.add(1e-9).unwrap();
    q.add(1e300).unwrap();
    q.add(2e-9).unwrap();
    assert!(q.collapsed());
    assert_eq!(q.count(), 3);
    let top = q.quantile(1.0).unwrap();
    assert!((top - 1e300).abs() <= 1e-6 * 1e300);
    // Two stores of at most 2^16 varint counts (each one byte here) plus headers.
    assert!(q.to_bytes().len() < 2 * (1 << 16) + 64);
    assert_eq!(
        Quantiles::from_bytes(&q.to_bytes()).unwrap().to_bytes(),
        q.to_bytes()
    );
}

#[test]
fn small_sketches_answer_exactly_from_either_end() {
    // Values far enough apart to sit in their own buckets, with zeros and negatives, so an
    // off-by-one in walking from the top (q > 0.5) or the bottom shows up as a wrong value.
    let mut rng = SmallRng::seed_from_u64(5);
    for n in 1..40usize {
        let mut values: Vec<f64> = (0..n)
            .map(|_| match rng.random_range(0..4) {
                0 => 0.0,
                1 => -(1.1f64.powi(rng.random_range(0..200))),
                _ => 1.1f64.powi(rng.random_range(0..200)),
            })
            .collect();
        let mut q = Quantiles::new(0.01).unwrap();
        for &v in &values {
            q.add(v).unwrap();
        }
        values.sort_by(f64::total_cmp);
        for i in 0..=200 {
            let p = f64::from(i) / 200.0;
            let exact = values[(p * (n - 1) as f64).floor() as usize];
            let got = q.quantile(p).unwrap();
            assert!(
                (got - exact).abs() <= 0.01 * exact.abs() * (1.0 + 1e-9),
                "n={n} q={p}: {got} vs {exact} in {values:?}"
            );
        }
    }
}

#[test]
fn merges_need_equal_parameters_and_zero_has_one_sign() {
    let mut fine = Quantiles::with_max_bins(0.01, 2048).unwrap();
    fine.add(1.0).unwrap();
    let mut coarse = Quantiles::with_max_bins(0.01, 4).unwrap();
    assert!(matches!(
        coarse.merge_local(&fine),
        Err(edgesketch::Error::ParameterMismatch { .. })
    ));
    assert!(coarse.is_empty(), "a refused merge changes nothing");

    // {+0} merged with {-0} is the same whichever way round.
    let mut plus = Quantiles::default();
    plus.add(0.0).unwrap();
    let mut minus = Quantiles::default();
    minus.add(-0.0).unwrap();
    let mut a = plus.clone();
    a.merge_local(&minus).unwrap();
    let mut b = minus.clone();
    b.merge_local(&plus).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_eq!(minus.min().map(f64::is_sign_negative), Some(false));
}

#[test]
fn the_ends_are_the_exact_min_and_max() {
    // A bucket's representative value is only within α; q = 0 and q = 1 have exact answers.
    for dist in [uniform as Dist, lognormal, pareto, signed] {
        let mut rng = SmallRng::seed_from_u64(11);
        let mut q = Quantiles::new(0.01).unwrap();
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for _ in 0..10_000 {
            let v = dist(&mut rng);
            min = min.min(v);
            max = max.max(v);
            q.add(v).unwrap();
        }
        assert_eq!(q.quantile(0.0), Some(min));
        assert_eq!(q.quantile(1.0), Some(max));
        assert_eq!((q.min(), q.max()), (Some(min), Some(max)));
    }
}
