//! Counters and time series: the per-event costs a sender pays and the query and merge costs a
//! receiver pays. `scripts/bench-table.py counter window unique ledger` prints the tables of
//! docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use edgesketch::{
    Admit, Counter, EnvelopeId, Ledger, LedgerConfig, ReplicaId, SeriesConfig, UniqueSeries,
    WindowCounter,
};

const NOW: i64 = 1_764_115_200_000;
const DAY_MS: i64 = 86_400_000;

/// One-second buckets for a day, accepting anything in that day.
fn day_of_seconds() -> SeriesConfig {
    SeriesConfig::new(1_000, DAY_MS as u64, DAY_MS as u64, 0).unwrap()
}

/// A window counter with every second of the last day filled.
fn full_day() -> WindowCounter {
    let mut w = WindowCounter::new(day_of_seconds(), NOW).unwrap();
    for s in 0..86_400 {
        w.add(s % 17, NOW - s * 1_000).unwrap();
    }
    w
}

fn adds(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("edgesketch", |b| {
        let mut counter = Counter::new();
        b.iter(|| {
            for i in 0..1000 {
                counter.add(black_box(i & 3) - 1);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("window_add");
    g.throughput(Throughput::Elements(1000));
    // The common case: events of the current second.
    g.bench_function("edgesketch/now", |b| {
        let mut w = WindowCounter::new(day_of_seconds(), NOW).unwrap();
        b.iter(|| {
            for _ in 0..1000 {
                let _ = w.add(black_box(1), NOW);
            }
        })
    });
    // Late events scattered over the last minute of a full day (a binary search each).
    g.bench_function("edgesketch/scattered", |b| {
        let mut w = full_day();
        let mut t = 0u64;
        b.iter(|| {
            for _ in 0..1000 {
                t = t.wrapping_mul(6364136223846793005).wrapping_add(1);
                let _ = w.add(1, NOW - ((t >> 40) % 60_000) as i64);
            }
        })
    });
    // The yardstick: incrementing an array slot by index, no hashing, no checks.
    g.bench_function("baseline/array", |b| {
        let mut slots = vec![0i128; 86_400];
        b.iter(|| {
            for i in 0..1000usize {
                slots[black_box(86_399 - (i & 63))] += 1;
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("unique_add");
    g.throughput(Throughput::Elements(1000));
    let keys: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
    g.bench_function("edgesketch", |b| {
        let config = SeriesConfig::new(60_000, DAY_MS as u64, DAY_MS as u64, 0).unwrap();
        let mut u = UniqueSeries::new(config, 14, NOW).unwrap();
        b.iter(|| {
            for k in &keys {
                let _ = u.add(k.as_bytes(), NOW);
            }
        })
    });
    g.finish();
}

fn queries(c: &mut Criterion) {
    let w = full_day();
    let mut g = c.benchmark_group("window_query");
    g.bench_function("day_of_seconds", |b| {
        b.iter(|| black_box(&w).sum(NOW - DAY_MS + 1, NOW + 1))
    });
    g.bench_function("last_minute", |b| {
        b.iter(|| black_box(&w).last(60_000, NOW))
    });
    g.bench_function("series_day", |b| {
        b.iter(|| black_box(&w).series(NOW - DAY_MS + 1, NOW + 1))
    });
    g.finish();

    // A day of minute buckets, each with a few hundred visitors of a population of 20,000.
    let config = SeriesConfig::new(60_000, DAY_MS as u64, DAY_MS as u64, 0).unwrap();
    let mut u = UniqueSeries::new(config, 12, NOW).unwrap();
    for m in 0..1440i64 {
        for v in 0..300i64 {
            let _ = u.add(
                format!("visitor-{}", (m * 37 + v * 101) % 20_000).as_bytes(),
                NOW - m * 60_000,
            );
        }
    }
    let mut g = c.benchmark_group("unique_query");
    g.bench_function("day_of_minutes", |b| {
        b.iter(|| black_box(&u).unique(NOW - DAY_MS + 1, NOW + 1))
    });
    g.bench_function("last_hour", |b| {
        b.iter(|| black_box(&u).last(3_600_000, NOW))
    });
    g.finish();
}

fn merges(c: &mut Criterion) {
    let a = full_day();
    let b2 = full_day();
    let mut g = c.benchmark_group("window_merge");
    g.bench_function("two_full_days_of_seconds", |b| {
        b.iter_batched_ref(
            || a.clone(),
            |x| x.merge_local(&b2).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("ledger");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("admit_and_commit", |b| {
        b.iter_batched_ref(
            || Ledger::new(LedgerConfig::default()).unwrap(),
            |ledger| {
                for i in 0..1000u64 {
                    let id = EnvelopeId {
                        replica: ReplicaId([(i % 50) as u8; 16]),
                        sequence: i / 50 + 1,
                    };
                    if let Ok(Admit::New(a)) = ledger.admit(id, NOW, NOW) {
                        a.commit();
                    }
                }
            },
            BatchSize::SmallInput,
        )
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
    targets = adds, queries, merges
}
criterion_main!(benches);
