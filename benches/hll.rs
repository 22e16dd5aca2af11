//! HyperLogLog benchmarks, side by side with the peers users would otherwise pick:
//! `cardinality-estimator` (Cloudflare; WyHash) and `hyperloglogplus` (HLL++; given WyHash too),
//! all at precision 14, on the same keys. `scripts/bench-table.py` turns the results into the
//! tables of docs/BENCHMARKS.md.

use std::hash::BuildHasherDefault;
use std::hint::black_box;
use std::time::Duration;

use cardinality_estimator::CardinalityEstimator;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edgesketch::HyperLogLog;
use hyperloglogplus::{HyperLogLog as _, HyperLogLogPlus};
use wyhash::WyHash;

type Ce<T> = CardinalityEstimator<T, WyHash, 14, 6>;
type Hllp<T> = HyperLogLogPlus<T, BuildHasherDefault<WyHash>>;

fn ours_of(keys: &[String]) -> HyperLogLog {
    let mut h = HyperLogLog::new(14).unwrap();
    for k in keys {
        h.insert(k.as_bytes());
    }
    h
}

fn ce_of(keys: &[String]) -> Ce<str> {
    let mut h = Ce::<str>::new();
    for k in keys {
        h.insert(k.as_str());
    }
    h
}

fn hllp_of(keys: &[String]) -> Hllp<String> {
    let mut h = Hllp::<String>::new(14, BuildHasherDefault::default()).unwrap();
    for k in keys {
        h.insert(k.as_str());
    }
    h
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn insert(c: &mut Criterion) {
    for n in [1_000usize, 10_000, 1_000_000] {
        let strings = keys("user-", n);
        let mut g = c.benchmark_group("insert_str");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("edgesketch", n), &strings, |b, ks| {
            b.iter(|| ours_of(ks))
        });
        g.bench_with_input(
            BenchmarkId::new("cardinality-estimator", n),
            &strings,
            |b, ks| b.iter(|| ce_of(ks)),
        );
        g.bench_with_input(BenchmarkId::new("hyperloglogplus", n), &strings, |b, ks| {
            b.iter(|| hllp_of(ks))
        });
        g.finish();

        let mut g = c.benchmark_group("insert_u64");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("edgesketch", n), |b| {
            b.iter(|| {
                let mut h = HyperLogLog::new(14).unwrap();
                for i in 0..n as u64 {
                    h.insert(&i.to_le_bytes());
                }
                h
            })
        });
        g.bench_function(BenchmarkId::new("cardinality-estimator", n), |b| {
            b.iter(|| {
                let mut h = Ce::<u64>::new();
                for i in 0..n as u64 {
                    h.insert(&i);
                }
                h
            })
        });
        g.bench_function(BenchmarkId::new("hyperloglogplus", n), |b| {
            b.iter(|| {
                let mut h = Hllp::<u64>::new(14, BuildHasherDefault::default()).unwrap();
                for i in 0..n as u64 {
                    h.insert(&i);
                }
                h
            })
        });
        g.finish();
    }
}

fn merge(c: &mut Criterion) {
    for (name, n) in [("sparse", 500usize), ("dense", 200_000)] {
        let (a, b) = (keys("a-", n), keys("b-", n));
        let mut g = c.benchmark_group(format!("merge_{name}"));
        let (oa, ob) = (ours_of(&a), ours_of(&b));
        g.bench_function("edgesketch", |bench| {
            bench.iter_batched_ref(
                || oa.clone(),
                |x| x.merge(black_box(&ob)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let (ca, cb) = (ce_of(&a), ce_of(&b));
        g.bench_function("cardinality-estimator", |bench| {
            bench.iter_batched_ref(
                || ca.clone(),
                |x| x.merge(black_box(&cb)),
                BatchSize::SmallInput,
            )
        });
        let (ha, hb) = (hllp_of(&a), hllp_of(&b));
        g.bench_function("hyperloglogplus", |bench| {
            bench.iter_batched_ref(
                || ha.clone(),
                |x| x.merge(black_box(&hb)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn estimate(c: &mut Criterion) {
    let big = keys("user-", 200_000);
    let dense = ours_of(&big);
    let other = ours_of(&keys("other-", 200_000));
    let mut g = c.benchmark_group("estimate_dense");
    dense.estimate();
    g.bench_function("edgesketch/cached", |b| {
        b.iter(|| black_box(&dense).estimate())
    });
    g.bench_function("edgesketch/after_insert", |b| {
        b.iter_batched_ref(
            || {
                // An item that raises register 0 to rank 20 (no register of 200k items is that
                // high), so the cached estimate is dropped while the histogram stays current.
                let mut h = dense.clone();
                h.insert_hash(1 << (14 + 19));
                h
            },
            |h| h.estimate(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("edgesketch/after_merge", |b| {
        b.iter_batched_ref(
            || {
                let mut h = dense.clone();
                h.merge(&other).unwrap();
                h
            },
            |h| h.estimate(),
            BatchSize::SmallInput,
        )
    });
    let ce = ce_of(&big);
    g.bench_function("cardinality-estimator", |b| {
        b.iter(|| black_box(&ce).estimate())
    });
    let hllp = hllp_of(&big);
    g.bench_function("hyperloglogplus", |b| {
        b.iter_batched_ref(|| hllp.clone(), |h| h.count(), BatchSize::SmallInput)
    });
    g.finish();

    let small = ours_of(&keys("user-", 1000));
    let mut g = c.benchmark_group("estimate_sparse");
    small.estimate();
    g.bench_function("edgesketch/cached", |b| {
        b.iter(|| black_box(&small).estimate())
    });
    g.bench_function("edgesketch/uncached", |b| {
        b.iter_batched_ref(
            || {
                let mut h = small.clone();
                h.insert(b"one more");
                h
            },
            |h| h.estimate(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    for (name, n) in [
        ("sparse_1000", 1000usize),
        ("sparse_5000", 5000),
        // Mid range (the registers plus a key bitmap): what a merge server re-encodes most.
        ("mid_10000", 10_000),
        ("dense", 200_000),
    ] {
        let h = ours_of(&keys("user-", n));
        let bytes = h.to_bytes();
        let redis = h.to_redis().unwrap();
        let mut g = c.benchmark_group(format!("codec_{name}"));
        g.bench_function("to_bytes", |b| b.iter(|| black_box(&h).to_bytes()));
        g.bench_function("from_bytes", |b| {
            b.iter(|| HyperLogLog::from_bytes(black_box(&bytes)).unwrap())
        });
        g.bench_function("to_redis", |b| b.iter(|| black_box(&h).to_redis().unwrap()));
        g.bench_function("from_redis", |b| {
            b.iter(|| HyperLogLog::from_redis(black_box(&redis)).unwrap())
        });
        g.finish();
    }
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
    targets = insert, merge, estimate, codec
}
criterion_main!(benches);
