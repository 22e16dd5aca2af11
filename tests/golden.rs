//! Golden vectors of snapshot format v1, checked in under tests/golden/v1 with a manifest that
//! says how each was made and what it must decode to. They pin the format: a change that alters
//! these bytes is a format change and needs a new version, not a regenerated fixture.
//!
//! Regenerate (only for a deliberate format change, or to add vectors):
//! `EDGESKETCH_BLESS=1 cargo test --test golden`.

mod common;

use std::path::{Path, PathBuf};

use edgesketch::hash::murmur64a;
use edgesketch::{
    AddMode, Admit, Best, CountMinSketch, Counter, EnvelopeId, HyperLogLog, Leaderboard, Ledger,
    LedgerConfig, MergeRule, Order, Quantiles, ReplicaId, SeriesConfig, Sketch, Snapshot, TopK,
    UniqueSeries, WindowCounter,
};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1")
}

fn bless() -> bool {
    std::env::var_os("EDGESKETCH_BLESS").is_some()
}

/// `prefix0 .. prefix{count-1}`: how the manifest names item streams (easy to rebuild in any
/// language).
fn items(spec: &Value) -> Vec<String> {
    let prefix = spec["prefix"].as_str().unwrap();
    let count = spec["count"].as_u64().unwrap();
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

fn build(precision: u8, spec: &Value) -> HyperLogLog {
    let mut h = HyperLogLog::new(precision).unwrap();
    for item in items(spec) {
        h.insert(item.as_bytes());
    }
    h
}

fn registers_hash(h: &HyperLogLog) -> String {
    format!("{:016x}", murmur64a(&h.registers(), 0))
}

/// What the manifest records about a decoded sketch.
fn describe(h: &HyperLogLog) -> Value {
    let e = h.estimate();
    json!({
        "precision": h.precision(),
        "sparse_key_bits": h.sparse_key_bits(),
        "estimate": e.value,
        "exact": e.exact,
        "redis_estimate": h.redis_estimate(),
        "registers_hash": registers_hash(h),
    })
}

fn spec(prefix: &str, count: u64) -> Value {
    json!({ "prefix": prefix, "count": count })
}

/// The vectors: what each file holds and how to make it.
fn definitions() -> Vec<Value> {
    let mut defs = Vec::new();
    for (name, p, n) in [
        ("hll_p14_empty", 14, 0),
        ("hll_p14_n1", 14, 1),
        ("hll_p14_n100", 14, 100),
        ("hll_p14_n1000", 14, 1000),
        ("hll_p14_n5000", 14, 5000),
        ("hll_p14_n12000", 14, 12_000),
        ("hll_p14_n100000", 14, 100_000),
        ("hll_p4_n1000", 4, 1000),
        ("hll_p18_n3000", 18, 3000),
    ] {
        defs.push(
            json!({ "file": format!("{name}.bin"), "kind": "hll", "precision": p,
                          "items": spec("golden:user-", n) }),
        );
    }
    defs.push(
        json!({ "file": "hll_p14_from_redis_n300.bin", "kind": "hll_via_redis", "precision": 14,
                      "items": spec("golden:redis-", 300) }),
    );
    defs.push(
        json!({ "file": "redis_sparse_n100.bin", "kind": "redis", "precision": 14,
                      "items": spec("golden:user-", 100) }),
    );
    defs.push(
        json!({ "file": "redis_dense_n20000.bin", "kind": "redis", "precision": 14,
                      "items": spec("golden:user-", 20_000) }),
    );
    defs.push(json!({ "file": "snapshot_empty.bin", "kind": "snapshot",
                      "replica": "000102030405060708090a0b0c0d0e0f", "sequence": 0, "created_ms": 0,
                      "entries": [] }));
    defs.push(json!({ "file": "snapshot_three_entries.bin", "kind": "snapshot",
                      "replica": "8f1c2e3d4a5b6c7d8e9fa0b1c2d3e4f5", "sequence": 42,
                      "created_ms": 1_764_115_200_000i64,
                      "entries": [
                          { "key": "uniques:article:7", "precision": 14, "items": spec("reader-", 250) },
                          { "key": "uniques:home", "precision": 14, "items": spec("visitor-", 40_000) },
                          { "key": "uniques:ünïcode/ключ", "precision": 12, "items": spec("x", 3) }
                      ] }));
    for (name, increments, decrements) in [
        ("counter_zero", 0u64, 0u64),
        ("counter_pn", 1_000_003, 17),
        ("counter_max", u64::MAX, 1),
    ] {
        defs.push(json!({ "file": format!("{name}.bin"), "kind": "counter",
                          "counter": { "increments": increments, "decrements": decrements } }));
    }
    // Seconds: 5000 events over 75 s against a 60 s grace (the oldest are rejected as late).
    defs.push(json!({ "file": "window_seconds.bin", "kind": "window_counter", "window": window_def(1_000, 3_600_000, 60_000, 5_000, 5_000, 15, NOW + 997) }));
    // Minutes: an event every 10 minutes for 50 hours against a day of retention.
    defs.push(json!({ "file": "window_minutes.bin", "kind": "window_counter", "window": window_def(60_000, 86_400_000, 86_400_000, 60_000, 300, 600_000, NOW + 61_003) }));
    // Hours around 1970: the clock at 1969-12-31T06:00Z, events every 90 minutes into the future
    // (negative step), past the allowance of one hour.
    defs.push(json!({ "file": "window_negative_times.bin", "kind": "window_counter", "window": window_def(3_600_000, 86_400_000 * 7, 86_400_000, 3_600_000, 40, -5_400_000, -18 * 3_600_000) }));
    defs.push(json!({ "file": "unique_series_hours.bin", "kind": "unique_series",
                      "unique": unique_def(3_600_000, 48 * 3_600_000, 48 * 3_600_000, 60_000, 12, 2_000, 100, 60_000) }));
    // Rankings and distributions.
    defs.push(json!({ "file": "leaderboard_max_trimmed.bin", "kind": "leaderboard", "board": board_def("max", "highest", 100, 250) }));
    defs.push(json!({ "file": "leaderboard_lww_lowest.bin", "kind": "leaderboard", "board": board_def("last_writer_wins", "lowest", 0, 50) }));
    defs.push(json!({ "file": "leaderboard_sum_trimmed.bin", "kind": "leaderboard", "board": board_def("sum", "highest", 10, 100) }));
    defs.push(
        json!({ "file": "top_k.bin", "kind": "top_k", "top_k": { "capacity": 32, "events": 2000,
                      "item": "\"article-\" + (i * i % 97)", "weight": "1 + i % 3" } }),
    );
    defs.push(json!({ "file": "count_min.bin", "kind": "count_min", "count_min": { "width": 64, "depth": 4, "conservative": false, "events": 500,
                      "item": "\"path-\" + (i % 50)", "weight": "1 + i % 3" } }));
    defs.push(json!({ "file": "count_min_conservative.bin", "kind": "count_min", "count_min": { "width": 64, "depth": 4, "conservative": true, "events": 500,
                      "item": "\"path-\" + (i % 50)", "weight": "1 + i % 3" } }));
    defs.push(json!({ "file": "quantiles.bin", "kind": "quantiles", "quantiles": { "alpha": 0.01, "max_bins": 2048, "events": 1000,
                      "value": "(i * 7919 % 1000) / 3 - 50" } }));
    defs.push(json!({ "file": "quantiles_collapsed.bin", "kind": "quantiles", "quantiles": { "alpha": 0.02, "max_bins": 32, "events": 1000,
                      "value": "10 ^ (i / 100) (i from 0)" } }));
    defs.push(json!({ "file": "ledger.bin", "kind": "ledger",
                      "frozen": "ledger format version 1: read, no longer written",
                      "deliveries": [[1, 1], [1, 2], [1, 5], [2, 3], [1, 4], [3, 1], [2, 3], [1, 100]] }));
    // [replica, sequence] or [replica, sequence, [sequences it is a part of]].
    defs.push(json!({ "file": "ledger_v2.bin", "kind": "ledger",
                      "deliveries": [[1, 1], [1, 2], [1, 5], [2, 3], [1, 4], [3, 1], [2, 3], [1, 100],
                                     [1, 102, [101]], [1, 104, [101, 103]], [1, 105, [101, 103]], [2, 9, [7]]] }));
    defs.push(json!({ "file": "snapshot_every_family.bin", "kind": "snapshot",
                      "replica": "0f0e0d0c0b0a09080706050403020100", "sequence": 7,
                      "created_ms": NOW,
                      "entries": [
                          { "key": "a:uniques", "precision": 14, "items": spec("golden:user-", 1500) },
                          { "key": "b:requests", "counter": { "increments": 12345, "decrements": 0 } },
                          { "key": "c:errors", "window": window_def(1_000, 60_000, 60_000, 5_000, 100, 400, NOW + 7) },
                          { "key": "d:readers", "unique": unique_def(60_000, 3_600_000, 3_600_000, 5_000, 10, 500, 50, 7_000) },
                          { "key": "e:scores", "board": board_def("max", "highest", 20, 60) },
                          { "key": "f:articles", "top_k": { "capacity": 8, "events": 300, "item": "\"article-\" + (i * i % 97)", "weight": "1 + i % 3" } },
                          { "key": "g:paths", "count_min": { "width": 16, "depth": 3, "conservative": false, "events": 100, "item": "\"path-\" + (i % 50)", "weight": "1 + i % 3" } },
                          { "key": "h:latency_ms", "quantiles": { "alpha": 0.01, "max_bins": 2048, "events": 300, "value": "(i * 7919 % 1000) / 3 - 50" } }
                      ] }));
    defs
}

/// A leaderboard: member `"player-" + i` for i in 0..n with score `(i * 37 % 101) - 20` (halved
/// for last-writer-wins, written at `i * 1000`), added in order.
fn board_def(rule: &str, best: &str, capacity: u32, n: u32) -> Value {
    json!({ "rule": rule, "best": best, "capacity": capacity, "members": n,
            "member": "\"player-\" + i", "score": "(i * 37 % 101) - 20", "written_ms": "i * 1000" })
}

fn build_board(d: &Value) -> Leaderboard {
    let rule = match d["rule"].as_str().unwrap() {
        "max" => MergeRule::Max,
        "min" => MergeRule::Min,
        "sum" => MergeRule::Sum,
        _ => MergeRule::LastWriterWins,
    };
    let best = if d["best"] == "lowest" {
        Best::Lowest
    } else {
        Best::Highest
    };
    let mut board = Leaderboard::new(rule, best, d["capacity"].as_u64().unwrap() as u32).unwrap();
    for i in 0..d["members"].as_u64().unwrap() as i64 {
        let score = ((i * 37 % 101) - 20) as f64;
        board
            .add_at(
                format!("player-{i}").as_bytes(),
                score,
                AddMode::Set,
                i * 1000,
            )
            .unwrap();
    }
    board
}

fn build_top_k(d: &Value) -> TopK {
    let mut t = TopK::new(d["capacity"].as_u64().unwrap() as u32).unwrap();
    for i in 0..d["events"].as_u64().unwrap() {
        t.insert(format!("article-{}", i * i % 97).as_bytes(), 1 + i % 3)
            .unwrap();
    }
    t
}

fn build_count_min(d: &Value) -> CountMinSketch {
    let mut c = CountMinSketch::with_dimensions(
        d["width"].as_u64().unwrap() as u32,
        d["depth"].as_u64().unwrap() as u8,
    )
    .unwrap();
    if d["conservative"] == true {
        c = c.with_conservative_update();
    }
    for i in 0..d["events"].as_u64().unwrap() {
        c.add(format!("path-{}", i % 50).as_bytes(), 1 + i % 3);
    }
    c
}

fn build_quantiles(d: &Value) -> Quantiles {
    let mut q = Quantiles::with_max_bins(
        d["alpha"].as_f64().unwrap(),
        d["max_bins"].as_u64().unwrap() as u32,
    )
    .unwrap();
    let collapsed = d["value"].as_str().unwrap().starts_with("10 ^");
    for i in 0..d["events"].as_u64().unwrap() {
        let v = if collapsed {
            10f64.powf(i as f64 / 100.0)
        } else {
            (i * 7919 % 1000) as f64 / 3.0 - 50.0
        };
        q.add(v).unwrap();
    }
    q
}

/// The clock every vector's series use: 2025-11-26T00:00:00Z.
const NOW: i64 = 1_764_115_200_000;

/// A window counter with its clock at `clock_ms`: `count` events, event `i` at
/// `clock_ms - i * step_ms` with value `i % 13 - 3`.
#[allow(clippy::too_many_arguments)]
fn window_def(
    bucket_ms: u64,
    retention_ms: u64,
    grace_ms: u64,
    future_ms: u64,
    count: u64,
    step_ms: i64,
    clock_ms: i64,
) -> Value {
    json!({ "bucket_ms": bucket_ms, "retention_ms": retention_ms, "grace_ms": grace_ms, "max_future_ms": future_ms,
            "clock_ms": clock_ms, "events": count, "step_ms": step_ms,
            "value": "i % 13 - 3", "timestamp": "clock_ms - i * step_ms" })
}

/// A unique series: `count` events, event `i` the item `"reader-" + (i % users)` at
/// `clock_ms - i * step_ms`.
#[allow(clippy::too_many_arguments)]
fn unique_def(
    bucket_ms: u64,
    retention_ms: u64,
    grace_ms: u64,
    future_ms: u64,
    precision: u8,
    count: u64,
    users: u64,
    step_ms: i64,
) -> Value {
    json!({ "bucket_ms": bucket_ms, "retention_ms": retention_ms, "grace_ms": grace_ms, "max_future_ms": future_ms,
            "precision": precision, "clock_ms": NOW, "events": count, "users": users, "step_ms": step_ms,
            "item": "\"reader-\" + (i % users)", "timestamp": "clock_ms - i * step_ms" })
}

fn series_config(d: &Value) -> SeriesConfig {
    SeriesConfig::new(
        d["bucket_ms"].as_u64().unwrap(),
        d["retention_ms"].as_u64().unwrap(),
        d["grace_ms"].as_u64().unwrap(),
        d["max_future_ms"].as_u64().unwrap(),
    )
    .unwrap()
}

fn build_window(d: &Value) -> WindowCounter {
    let clock = d["clock_ms"].as_i64().unwrap();
    let mut w = WindowCounter::new(series_config(d), clock).unwrap();
    for i in 0..d["events"].as_u64().unwrap() as i64 {
        // Rejections are part of the state, so they are kept, not unwrapped.
        let _ = w.add(i % 13 - 3, clock - i * d["step_ms"].as_i64().unwrap());
    }
    w
}

fn build_unique(d: &Value) -> UniqueSeries {
    let clock = d["clock_ms"].as_i64().unwrap();
    let mut u = UniqueSeries::new(
        series_config(d),
        d["precision"].as_u64().unwrap() as u8,
        clock,
    )
    .unwrap();
    let users = d["users"].as_u64().unwrap() as i64;
    for i in 0..d["events"].as_u64().unwrap() as i64 {
        let _ = u.add(
            format!("reader-{}", i % users).as_bytes(),
            clock - i * d["step_ms"].as_i64().unwrap(),
        );
    }
    u
}

fn build_counter(d: &Value) -> Counter {
    let mut c = Counter::new();
    c.increment(d["increments"].as_u64().unwrap());
    c.decrement(d["decrements"].as_u64().unwrap());
    c
}

fn build_ledger(deliveries: &Value) -> Ledger {
    let mut l = Ledger::new(LedgerConfig::default()).unwrap();
    for (n, d) in deliveries.as_array().unwrap().iter().enumerate() {
        let id = EnvelopeId {
            replica: ReplicaId([d[0].as_u64().unwrap() as u8; 16]),
            sequence: d[1].as_u64().unwrap(),
        };
        let now = NOW + n as i64;
        let parts_of: Vec<u64> = d.get(2).map_or_else(Vec::new, |p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap())
                .collect()
        });
        if let Admit::New(a) = l.admit_part(id, &parts_of, now, now).unwrap() {
            a.commit();
        }
    }
    l
}

fn describe_sketch(sketch: &Sketch) -> Value {
    match sketch {
        Sketch::HyperLogLog(h) => describe(h),
        Sketch::Counter(c) => {
            json!({ "value": c.value().to_string(), "increments": c.increments(), "decrements": c.decrements() })
        }
        Sketch::WindowCounter(w) => {
            let all = w.sum(i64::MIN / 2, i64::MAX / 2);
            let r = w.rejected();
            json!({ "clock_ms": w.now(), "buckets": all.buckets, "count": all.stats.count,
                    "sum": all.stats.sum.to_string(), "min": all.stats.min, "max": all.stats.max,
                    "rejected_late": r.late.events, "rejected_future": r.future.events })
        }
        Sketch::UniqueSeries(u) => {
            let all = u.unique(i64::MIN / 2, i64::MAX / 2);
            json!({ "clock_ms": u.now(), "buckets": all.buckets, "unique": all.estimate.value,
                    "exact": all.estimate.exact, "rejected_late": u.rejected().late.events })
        }
        Sketch::Leaderboard(b) => {
            let top: Vec<Value> = b
                .range_by_rank(0, 2, Order::Descending)
                .into_iter()
                .map(|e| json!([String::from_utf8(e.member).unwrap(), e.score]))
                .collect();
            json!({ "members": b.len(), "top3": top, "missing_bound": b.missing_bound() })
        }
        Sketch::TopK(t) => {
            let r = t.top(5);
            let hitters = |v: &[edgesketch::HeavyHitter]| -> Vec<Value> {
                v.iter()
                    .map(|h| json!([String::from_utf8(h.item.clone()).unwrap(), h.lower, h.upper]))
                    .collect()
            };
            json!({ "total": t.total(), "floor": t.floor(), "guaranteed": hitters(&r.guaranteed), "possible": hitters(&r.possible) })
        }
        Sketch::CountMin(c) => {
            let e = c.estimate(b"path-7");
            json!({ "total": c.total(), "path-7": [e.lower, e.upper] })
        }
        Sketch::Quantiles(q) => {
            json!({ "count": q.count(), "p50": q.quantile(0.5), "p99": q.quantile(0.99), "min": q.min(), "max": q.max(),
                    "collapsed": q.collapsed() })
        }
        _ => panic!("a family the golden vectors do not cover yet"),
    }
}

fn replica(hex: &str) -> ReplicaId {
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    ReplicaId(id)
}

/// Builds a vector's bytes from its definition.
fn make(def: &Value) -> Vec<u8> {
    let p = def["precision"].as_u64().map(|p| p as u8);
    match def["kind"].as_str().unwrap() {
        "hll" => build(p.unwrap(), &def["items"]).to_bytes(),
        "hll_via_redis" => {
            let redis = build(p.unwrap(), &def["items"]).to_redis().unwrap();
            HyperLogLog::from_redis(&redis).unwrap().to_bytes()
        }
        "redis" => build(p.unwrap(), &def["items"]).to_redis().unwrap(),
        "counter" => build_counter(&def["counter"]).to_bytes(),
        "window_counter" => build_window(&def["window"]).to_bytes(),
        "unique_series" => build_unique(&def["unique"]).to_bytes(),
        "ledger" => build_ledger(&def["deliveries"]).to_bytes(),
        "leaderboard" => build_board(&def["board"]).to_bytes(),
        "top_k" => build_top_k(&def["top_k"]).to_bytes(),
        "count_min" => build_count_min(&def["count_min"]).to_bytes(),
        "quantiles" => build_quantiles(&def["quantiles"]).to_bytes(),
        "snapshot" => {
            let mut s = Snapshot::new(
                replica(def["replica"].as_str().unwrap()),
                def["sequence"].as_u64().unwrap(),
                def["created_ms"].as_i64().unwrap(),
            );
            for entry in def["entries"].as_array().unwrap() {
                let key = entry["key"].as_str().unwrap();
                let sketch: Sketch = if entry.get("counter").is_some() {
                    build_counter(&entry["counter"]).into()
                } else if entry.get("window").is_some() {
                    build_window(&entry["window"]).into()
                } else if entry.get("unique").is_some() {
                    build_unique(&entry["unique"]).into()
                } else if entry.get("board").is_some() {
                    build_board(&entry["board"]).into()
                } else if entry.get("top_k").is_some() {
                    build_top_k(&entry["top_k"]).into()
                } else if entry.get("count_min").is_some() {
                    build_count_min(&entry["count_min"]).into()
                } else if entry.get("quantiles").is_some() {
                    build_quantiles(&entry["quantiles"]).into()
                } else {
                    build(entry["precision"].as_u64().unwrap() as u8, &entry["items"]).into()
                };
                s.insert(key, sketch).unwrap();
            }
            s.encode()
        }
        other => panic!("unknown kind {other}"),
    }
}

/// Decodes a vector's file the way its kind says and describes what came out.
fn read(def: &Value, bytes: &[u8]) -> (Value, Vec<u8>) {
    match def["kind"].as_str().unwrap() {
        "hll" | "hll_via_redis" => {
            let h = HyperLogLog::from_bytes(bytes).unwrap();
            (describe(&h), h.to_bytes())
        }
        "redis" => {
            let h = HyperLogLog::from_redis(bytes).unwrap();
            (describe(&h), h.to_redis().unwrap())
        }
        "counter" => {
            let c = Counter::from_bytes(bytes).unwrap();
            (describe_sketch(&c.into()), c.to_bytes())
        }
        "window_counter" => {
            let w = WindowCounter::from_bytes(bytes).unwrap();
            (describe_sketch(&w.clone().into()), w.to_bytes())
        }
        "unique_series" => {
            let u = UniqueSeries::from_bytes(bytes).unwrap();
            (describe_sketch(&u.clone().into()), u.to_bytes())
        }
        "leaderboard" => {
            let b = Leaderboard::from_bytes(bytes).unwrap();
            (describe_sketch(&b.clone().into()), b.to_bytes())
        }
        "top_k" => {
            let t = TopK::from_bytes(bytes).unwrap();
            (describe_sketch(&t.clone().into()), t.to_bytes())
        }
        "count_min" => {
            let c = CountMinSketch::from_bytes(bytes).unwrap();
            (describe_sketch(&c.clone().into()), c.to_bytes())
        }
        "quantiles" => {
            let q = Quantiles::from_bytes(bytes).unwrap();
            (describe_sketch(&q.clone().into()), q.to_bytes())
        }
        "ledger" => {
            let l = Ledger::from_bytes(bytes).unwrap();
            let stats = l.stats();
            let gaps: Vec<Value> = l
                .gaps()
                .flat_map(|(r, gs)| {
                    gs.iter()
                        .map(move |g| json!([r.to_string(), g.from, g.to, g.opened_ms]))
                })
                .collect();
            let facts = json!({ "senders": l.senders(), "applied": stats.applied, "duplicates": stats.duplicates,
                                "lost": stats.lost, "gaps": gaps });
            (facts, l.to_bytes())
        }
        "snapshot" => {
            let s = Snapshot::decode(bytes).unwrap();
            let entries: Vec<Value> = s
                .iter()
                .map(|(key, sketch)| {
                    let mut d = describe_sketch(sketch);
                    d["key"] = json!(key);
                    d["family"] = json!(sketch.family().name());
                    d
                })
                .collect();
            (json!({ "entries": entries }), s.encode())
        }
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn golden_vectors_decode_check_and_reencode_byte_equal() {
    let manifest_path = dir().join("manifest.json");
    if bless() {
        std::fs::create_dir_all(dir()).unwrap();
        let mut vectors = Vec::new();
        for def in definitions() {
            let file = dir().join(def["file"].as_str().unwrap());
            // A frozen vector is of an older version the encoder no longer writes: keep its bytes.
            let bytes = if def.get("frozen").is_some() {
                std::fs::read(&file).unwrap()
            } else {
                make(&def)
            };
            let (facts, _) = read(&def, &bytes);
            std::fs::write(&file, &bytes).unwrap();
            let mut v = def.clone();
            v["bytes"] = json!(bytes.len());
            v["expect"] = facts;
            vectors.push(v);
        }
        let manifest = json!({
            "format_version": 1,
            "about": "Golden vectors of edgesketch snapshot format v1 (docs/FORMAT.md). Items are \
                      `prefix + i` for i in 0..count, UTF-8. registers_hash is MurmurHash64A (seed 0) \
                      of the registers, one byte each. Regenerate: EDGESKETCH_BLESS=1 cargo test --test golden",
            "vectors": vectors,
        });
        std::fs::write(
            &manifest_path,
            serde_json::to_string_pretty(&manifest).unwrap() + "\n",
        )
        .unwrap();
    }
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(&manifest_path).unwrap_or_else(|e| {
            panic!(
                "missing {} ({e}); regenerate with `EDGESKETCH_BLESS=1 cargo test --test golden`",
                manifest_path.display()
            )
        }),
    )
    .unwrap();
    let vectors = manifest["vectors"].as_array().unwrap();
    assert_eq!(
        vectors.len(),
        definitions().len(),
        "manifest and definitions disagree; re-bless?"
    );
    for v in vectors {
        let file = v["file"].as_str().unwrap();
        let path = dir().join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "missing golden vector {} ({e}); regenerate with `EDGESKETCH_BLESS=1 cargo test --test golden`",
                path.display()
            )
        });
        assert_eq!(
            bytes.len() as u64,
            v["bytes"].as_u64().unwrap(),
            "{file}: length"
        );
        let (facts, reencoded) = read(v, &bytes);
        assert_eq!(facts, v["expect"], "{file}: decoded facts");
        if v.get("frozen").is_some() {
            // Still read, and rewritten in the current version with the same content.
            assert_ne!(
                reencoded, bytes,
                "{file}: frozen, yet the encoder writes it unchanged"
            );
            assert_eq!(read(v, &reencoded).0, facts, "{file}: rewritten");
            continue;
        }
        assert_eq!(
            reencoded, bytes,
            "{file}: decode then encode must give the same bytes"
        );
        assert_eq!(
            make(v),
            bytes,
            "{file}: the encoder no longer produces this vector"
        );
    }
}

/// `Sketch::to_bytes`/`from_bytes` (any family) agree byte for byte with each family's own
/// bare format, for every sketch of the every-family envelope; a wrong family byte is refused.
#[test]
fn any_family_bare_bytes_match_each_familys_own() {
    use edgesketch::{Sketch, Snapshot};
    let bytes = std::fs::read(dir().join("snapshot_every_family.bin"))
        .expect("tests/golden/v1/snapshot_every_family.bin: regenerate with BLESS=1 cargo test --test golden");
    let snapshot = Snapshot::decode(&bytes).unwrap();
    let mut families = 0;
    for (key, sketch) in snapshot.iter() {
        let own = match sketch {
            Sketch::HyperLogLog(x) => x.to_bytes(),
            Sketch::Counter(x) => x.to_bytes(),
            Sketch::WindowCounter(x) => x.to_bytes(),
            Sketch::UniqueSeries(x) => x.to_bytes(),
            Sketch::Leaderboard(x) => x.to_bytes(),
            Sketch::TopK(x) => x.to_bytes(),
            Sketch::CountMin(x) => x.to_bytes(),
            Sketch::Quantiles(x) => x.to_bytes(),
            _ => unreachable!("a family without a case here: {key}"),
        };
        assert_eq!(sketch.to_bytes(), own, "{key}");
        let back = Sketch::from_bytes(&own).unwrap();
        assert_eq!(back.family(), sketch.family(), "{key}");
        assert_eq!(back.to_bytes(), own, "{key}");
        families += 1;
    }
    assert_eq!(families, 8);
    assert!(Sketch::from_bytes(&[1, 99, 0]).is_err());
    assert!(Sketch::from_bytes(&[2, 1, 1, 14]).is_err());
    assert!(Sketch::from_bytes(&[]).is_err());
}
