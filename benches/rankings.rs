//! Rankings and distributions beside crates.io peers, on the same data:
//! - count-min: `count-min-sketch` (SipHash-1-3, 6 rows × 4096) and `streaming_algorithms`
//!   (6 × 4096) against ours (ε = 0.001, δ = 0.01: 5 × 2719, MurmurHash64A);
//! - top-K: `streaming_algorithms::Top` (1000 tracked, count-min backed, no bounds) against ours
//!   (Space-Saving, capacity 1000);
//! - quantiles: `sketches-ddsketch` (α = 1 %, 2048 bins) against ours (the same);
//! - leaderboard: a `BTreeSet` of (score, member) plus a `HashMap`, what one writes by hand.
//!
//! `scripts/bench-table.py count_min top_k quantiles leaderboard` prints docs/BENCHMARKS.md's tables.

use std::collections::{BTreeSet, HashMap};
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use edgesketch::{AddMode, Best, CountMinSketch, Leaderboard, MergeRule, Order, Quantiles, TopK};

/// Zipf(1.1)-ish keys: `article-<k>` with k = floor(1 / u^1.1)-style skew, deterministic.
fn zipf_keys(n: usize) -> Vec<String> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            format!(
                "article-{}",
                (1.0 / u.max(1e-9).powf(1.0 / 1.1)) as u64 % 1_000_000
            )
        })
        .collect()
}

fn lognormal(n: usize) -> Vec<f64> {
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 / (1u64 << 53) as f64).max(1e-12)
    };
    (0..n)
        .map(|_| {
            let (u, v) = (next(), next());
            (3.0 + (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()).exp()
        })
        .collect()
}

fn count_min(c: &mut Criterion) {
    let keys = zipf_keys(10_000);
    let mut g = c.benchmark_group("count_min_add");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("edgesketch", |b| {
        let mut cms = CountMinSketch::new(0.001, 0.01).unwrap();
        b.iter(|| {
            for k in &keys {
                cms.add(k.as_bytes(), 1);
            }
        })
    });
    g.bench_function("edgesketch/conservative", |b| {
        let mut cms = CountMinSketch::new(0.001, 0.01)
            .unwrap()
            .with_conservative_update();
        b.iter(|| {
            for k in &keys {
                cms.add(k.as_bytes(), 1);
            }
        })
    });
    g.bench_function("count-min-sketch", |b| {
        let mut cms = count_min_sketch::CountMinSketch64::<String>::new(1000, 0.99, 0.5).unwrap();
        b.iter(|| {
            for k in &keys {
                cms.increment(k);
            }
        })
    });
    g.bench_function("streaming_algorithms", |b| {
        let mut cms =
            streaming_algorithms::CountMinSketch::<String, usize>::new(0.99, 2.0 / 4096.0, ());
        b.iter(|| {
            for k in &keys {
                cms.push(k, &1);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("count_min_query");
    let mut ours = CountMinSketch::new(0.001, 0.01).unwrap();
    for k in &keys {
        ours.add(k.as_bytes(), 1);
    }
    g.bench_function("edgesketch", |b| {
        b.iter(|| black_box(&ours).estimate(black_box(b"article-7")))
    });
    let other = ours.clone();
    g.bench_function("edgesketch/merge", |b| {
        b.iter_batched_ref(
            || ours.clone(),
            |x| x.merge_local(black_box(&other)).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn top_k(c: &mut Criterion) {
    let keys = zipf_keys(100_000);
    let mut g = c.benchmark_group("top_k_add");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("edgesketch", |b| {
        b.iter_batched_ref(
            || TopK::new(1000).unwrap(),
            |top| {
                for k in &keys {
                    top.insert(k.as_bytes(), 1).unwrap();
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("streaming_algorithms", |b| {
        b.iter_batched_ref(
            || streaming_algorithms::Top::<String, usize>::new(1000, 0.99, 2.0 / 1000.0, ()),
            |top| {
                for k in &keys {
                    top.push(k.clone(), &1);
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut a = TopK::new(1000).unwrap();
    let mut b2 = TopK::new(1000).unwrap();
    for (i, k) in keys.iter().enumerate() {
        if i % 2 == 0 { &mut a } else { &mut b2 }
            .insert(k.as_bytes(), 1)
            .unwrap();
    }
    let mut g = c.benchmark_group("top_k_query");
    g.bench_function("edgesketch/top_100", |b| b.iter(|| black_box(&a).top(100)));
    g.bench_function("edgesketch/merge_1000", |b| {
        b.iter_batched_ref(
            || a.clone(),
            |x| x.merge_local(black_box(&b2)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn quantiles(c: &mut Criterion) {
    let values = lognormal(100_000);
    let mut g = c.benchmark_group("quantiles_add");
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("edgesketch", |b| {
        b.iter_batched_ref(
            || Quantiles::new(0.01).unwrap(),
            |q| {
                for &v in &values {
                    q.add(v).unwrap();
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("sketches-ddsketch", |b| {
        b.iter_batched_ref(
            || sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::defaults()),
            |q| {
                for &v in &values {
                    q.add(v);
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut ours = Quantiles::new(0.01).unwrap();
    let mut theirs = sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::defaults());
    for &v in &values {
        ours.add(v).unwrap();
        theirs.add(v);
    }
    let mut g = c.benchmark_group("quantiles_query");
    g.bench_function("edgesketch/p99", |b| {
        b.iter(|| black_box(&ours).quantile(0.99))
    });
    g.bench_function("sketches-ddsketch/p99", |b| {
        b.iter(|| black_box(&theirs).quantile(0.99))
    });
    g.bench_function("edgesketch/merge", |b| {
        b.iter_batched_ref(
            || ours.clone(),
            |x| x.merge_local(black_box(&ours.clone())).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("sketches-ddsketch/merge", |b| {
        b.iter_batched_ref(
            || theirs.clone(),
            |x| x.merge(black_box(&theirs.clone())).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn leaderboard(c: &mut Criterion) {
    let n = 100_000u64;
    let scored: Vec<(String, f64)> = (0..n)
        .map(|i| (format!("player-{i}"), ((i * 7919) % 1_000_003) as f64))
        .collect();
    let mut g = c.benchmark_group("leaderboard_add");
    g.throughput(Throughput::Elements(n));
    g.bench_function("edgesketch", |b| {
        b.iter_batched_ref(
            || Leaderboard::new(MergeRule::Max, Best::Highest, 0).unwrap(),
            |board| {
                for (m, s) in &scored {
                    board.add(m.as_bytes(), *s, AddMode::Set).unwrap();
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("baseline/btreeset+hashmap", |b| {
        b.iter_batched_ref(
            || {
                (
                    BTreeSet::<(u64, String)>::new(),
                    HashMap::<String, u64>::new(),
                )
            },
            |(set, map)| {
                for (m, s) in &scored {
                    let key = s.to_bits();
                    if let Some(old) = map.insert(m.clone(), key) {
                        set.remove(&(old, m.clone()));
                    }
                    set.insert((key, m.clone()));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut board = Leaderboard::new(MergeRule::Max, Best::Highest, 0).unwrap();
    let mut set = BTreeSet::<(u64, String)>::new();
    for (m, s) in &scored {
        board.add(m.as_bytes(), *s, AddMode::Set).unwrap();
        set.insert((s.to_bits(), m.clone()));
    }
    let mut g = c.benchmark_group("leaderboard_query");
    g.bench_function("edgesketch/rank", |b| {
        b.iter(|| black_box(&board).rank(black_box(b"player-4242"), Order::Descending))
    });
    g.bench_function("baseline/rank_by_scan", |b| {
        let key = (scored[4242].1.to_bits(), scored[4242].0.clone());
        b.iter(|| black_box(&set).range(..&key).count())
    });
    g.bench_function("edgesketch/top_10", |b| {
        b.iter(|| black_box(&board).range_by_rank(0, 9, Order::Descending))
    });
    g.bench_function("edgesketch/range_by_score_100", |b| {
        b.iter(|| black_box(&board).range_by_score(500_000.0, 1_000_000.0, Order::Ascending, 100))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = count_min, top_k, quantiles, leaderboard
}
criterion_main!(benches);
