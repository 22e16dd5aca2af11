//! The exactly-once rule as a property: envelopes delivered with random duplication, reordering
//! and interleaving (and a receiver restart in the middle) give exactly the state of applying each
//! envelope once, checked against ground truth computed straight from the events.

use std::collections::BTreeMap;

#[cfg(feature = "getrandom")]
use edgesketch::EnvelopeId;
use edgesketch::hash::hash_item;
use edgesketch::{
    AddMode, Aggregate, Best, CountMinSketch, Error, HyperLogLog, Ledger, LedgerConfig, MergeRule,
    Outcome, Quantiles, Recorder, ReplicaId, SeriesConfig, Sketch, Snapshot,
};
use proptest::prelude::*;

const NOW: i64 = 1_764_115_200_000;

fn minute_buckets() -> SeriesConfig {
    SeriesConfig::new(60_000, 24 * 3_600_000, 3_600_000, 60_000).unwrap()
}

/// One recorded operation.
#[derive(Clone, Debug)]
enum Op {
    Count(i64),
    Window { value: i64, ago_ms: i64 },
    Visit(u16),
    UniqueVisit { user: u16, ago_ms: i64 },
    Article(u16),
    Path(u16, u64),
    Latency(u16),
    Points { player: u8, points: i16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (-5i64..20).prop_map(Op::Count),
        (-100i64..1000, 0i64..3_000_000).prop_map(|(value, ago_ms)| Op::Window { value, ago_ms }),
        any::<u16>().prop_map(Op::Visit),
        (0u16..500, 0i64..3_000_000).prop_map(|(user, ago_ms)| Op::UniqueVisit { user, ago_ms }),
        (0u16..40).prop_map(Op::Article),
        (0u16..200, 1u64..5).prop_map(|(p, n)| Op::Path(p, n)),
        (1u16..5000).prop_map(Op::Latency),
        (0u8..20, -50i16..100).prop_map(|(player, points)| Op::Points { player, points }),
    ]
}

/// Per replica, a list of envelopes, each a list of operations.
fn traffic() -> impl Strategy<Value = Vec<Vec<Vec<Op>>>> {
    prop::collection::vec(
        prop::collection::vec(prop::collection::vec(op(), 1..8), 1..12),
        1..4,
    )
}

/// Everything the senders recorded, computed without any sketch merging (or, for count-min and
/// quantiles, whose merges are exact sums of counters, by one sketch that saw every event).
struct Truth {
    counter: i128,
    window: BTreeMap<i64, (u64, i128, i64, i64)>,
    visitors: Vec<u64>,
    unique: BTreeMap<i64, Vec<u64>>,
    articles: BTreeMap<u16, u64>,
    paths: CountMinSketch,
    latency: Quantiles,
    points: BTreeMap<u8, f64>,
}

impl Default for Truth {
    fn default() -> Self {
        Truth {
            counter: 0,
            window: BTreeMap::new(),
            visitors: Vec::new(),
            unique: BTreeMap::new(),
            articles: BTreeMap::new(),
            paths: CountMinSketch::new(0.01, 0.01).unwrap(),
            latency: Quantiles::new(0.01).unwrap(),
            points: BTreeMap::new(),
        }
    }
}

fn record(recorder: &mut Recorder, ops: &[Op], now: i64, truth: &mut Truth) {
    for op in ops {
        match *op {
            Op::Count(n) => {
                recorder.counter("count").unwrap().add(n);
                truth.counter += i128::from(n);
            }
            Op::Window { value, ago_ms } => {
                let t = now - ago_ms;
                recorder
                    .window_counter("window", minute_buckets(), now)
                    .unwrap()
                    .add(value, t)
                    .unwrap();
                let e =
                    truth
                        .window
                        .entry(t.div_euclid(60_000))
                        .or_insert((0, 0, i64::MAX, i64::MIN));
                *e = (
                    e.0 + 1,
                    e.1 + i128::from(value),
                    e.2.min(value),
                    e.3.max(value),
                );
            }
            Op::Visit(user) => {
                recorder
                    .hyperloglog("visitors", 14)
                    .unwrap()
                    .insert(&user.to_le_bytes());
                truth.visitors.push(hash_item(&user.to_le_bytes()));
            }
            Op::UniqueVisit { user, ago_ms } => {
                let t = now - ago_ms;
                recorder
                    .unique_series("unique", minute_buckets(), 12, now)
                    .unwrap()
                    .add(&user.to_le_bytes(), t)
                    .unwrap();
                truth
                    .unique
                    .entry(t.div_euclid(60_000))
                    .or_default()
                    .push(hash_item(&user.to_le_bytes()));
            }
            Op::Article(a) => {
                recorder
                    .top_k("articles", 16)
                    .unwrap()
                    .insert(&a.to_le_bytes(), 1)
                    .unwrap();
                *truth.articles.entry(a).or_default() += 1;
            }
            Op::Path(p, n) => {
                recorder
                    .count_min("paths", 0.01, 0.01)
                    .unwrap()
                    .add(&p.to_le_bytes(), n);
                truth.paths.add(&p.to_le_bytes(), n);
            }
            Op::Latency(ms) => {
                recorder
                    .quantiles("latency", 0.01)
                    .unwrap()
                    .add(f64::from(ms))
                    .unwrap();
                truth.latency.add(f64::from(ms)).unwrap();
            }
            Op::Points { player, points } => {
                recorder
                    .leaderboard("points", MergeRule::Sum, Best::Highest, 0)
                    .unwrap()
                    .add(&[player], f64::from(points), AddMode::Increment)
                    .unwrap();
                *truth.points.entry(player).or_default() += f64::from(points);
            }
        }
    }
}

fn reference_registers(p: u8, hashes: &[u64]) -> Vec<u8> {
    let mut regs = vec![0u8; 1 << p];
    for &h in hashes {
        let i = (h & ((1 << p) - 1)) as usize;
        regs[i] = regs[i].max((((h >> p) | (1u64 << (64 - p))).trailing_zeros() + 1) as u8);
    }
    regs
}

fn check(agg: &Aggregate, truth: &Truth) -> Result<(), TestCaseError> {
    let counter = agg
        .get("count")
        .and_then(Sketch::as_counter)
        .map_or(0, |c| c.value());
    prop_assert_eq!(counter, truth.counter);
    if let Some(w) = agg.get("window").and_then(Sketch::as_window_counter) {
        for (start, stats) in w.series(NOW - 4_000_000, NOW + 120_000) {
            let expected = truth.window.get(&start.div_euclid(60_000)).copied();
            match expected {
                Some((count, sum, min, max)) => {
                    prop_assert_eq!(
                        (stats.count, stats.sum, stats.min, stats.max),
                        (count, sum, min, max)
                    );
                }
                None => prop_assert_eq!(stats.count, 0),
            }
        }
    } else {
        prop_assert!(truth.window.is_empty());
    }
    let visitors = agg
        .get("visitors")
        .and_then(Sketch::as_hyperloglog)
        .map(HyperLogLog::registers);
    if !truth.visitors.is_empty() {
        prop_assert_eq!(visitors.unwrap(), reference_registers(14, &truth.visitors));
    }
    if let Some(u) = agg.get("unique").and_then(Sketch::as_unique_series) {
        let stored: Vec<(i64, Vec<u8>)> = u
            .buckets(i64::MIN / 2, i64::MAX / 2)
            .map(|(t, h)| (t, h.registers()))
            .collect();
        let expected: Vec<(i64, Vec<u8>)> = truth
            .unique
            .iter()
            .map(|(b, hs)| (b * 60_000, reference_registers(12, hs)))
            .collect();
        prop_assert_eq!(stored, expected);
    } else {
        prop_assert!(truth.unique.is_empty());
    }
    if let Some(top) = agg.get("articles").and_then(Sketch::as_top_k) {
        prop_assert_eq!(top.total(), truth.articles.values().sum::<u64>());
        for a in 0..40u16 {
            let (lower, upper) = top.bounds(&a.to_le_bytes());
            let exact = truth.articles.get(&a).copied().unwrap_or(0);
            prop_assert!(
                lower <= exact && exact <= upper,
                "article {}: {} <= {} <= {}",
                a,
                lower,
                exact,
                upper
            );
        }
    }
    match agg.get("paths").and_then(Sketch::as_count_min) {
        Some(cms) => prop_assert_eq!(cms.to_bytes(), truth.paths.to_bytes()),
        None => prop_assert!(truth.paths.is_empty()),
    }
    match agg.get("latency").and_then(Sketch::as_quantiles) {
        Some(q) => {
            prop_assert_eq!(q.count(), truth.latency.count());
            for p in [0.0, 0.5, 0.9, 0.99, 1.0] {
                prop_assert_eq!(q.quantile(p), truth.latency.quantile(p));
            }
        }
        None => prop_assert!(truth.latency.is_empty()),
    }
    if let Some(board) = agg.get("points").and_then(Sketch::as_leaderboard) {
        for (player, total) in &truth.points {
            prop_assert_eq!(
                board.score(&[*player]),
                Some(if *total == 0.0 { 0.0 } else { *total })
            );
        }
        prop_assert_eq!(board.len(), truth.points.len());
    }
    Ok(())
}

/// Persists and restores an aggregate the way a durable receiver would (sketches + ledger).
fn restart(agg: &Aggregate) -> Aggregate {
    let mut s = Snapshot::new(ReplicaId::default(), 1, 0);
    for (key, sketch) in agg.iter() {
        s.insert(key, sketch.clone()).unwrap();
    }
    let decoded = Snapshot::decode(&s.encode()).unwrap();
    let sketches = decoded
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Aggregate::from_parts(
        sketches,
        Ledger::from_bytes(&agg.ledger().to_bytes()).unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn duplicated_reordered_interleaved_delivery_applies_each_envelope_once(
        traffic in traffic(),
        copies in prop::collection::vec(1usize..4, 64),
        shuffle in prop::collection::vec(any::<u32>(), 256),
        restart_at in any::<prop::sample::Index>(),
    ) {
        let mut truth = Truth::default();
        let mut deliveries = Vec::new();
        for (r, envelopes) in traffic.iter().enumerate() {
            let mut sender = Recorder::with_replica(ReplicaId([r as u8 + 1; 16]));
            for (i, ops) in envelopes.iter().enumerate() {
                let now = NOW + (r * 100 + i) as i64;
                record(&mut sender, ops, now, &mut truth);
                // Operations that change nothing (adding 0) make no envelope.
                let Some(envelope) = sender.envelope(now).unwrap() else {
                    continue;
                };
                for _ in 0..copies[(r * 16 + i) % copies.len()] {
                    deliveries.push(envelope.bytes.clone());
                }
            }
        }
        // Any order: duplicates, reordering and interleaving of the senders.
        let mut keyed: Vec<(u32, Vec<u8>)> = deliveries
            .into_iter()
            .enumerate()
            .map(|(i, d)| (shuffle[i % shuffle.len()].rotate_left(i as u32 % 32), d))
            .collect();
        keyed.sort_by_key(|(k, _)| *k);

        let mut agg = Aggregate::new(LedgerConfig::default()).unwrap();
        let restart_point = restart_at.index(keyed.len() + 1);
        let (mut applied, mut duplicates) = (0, 0);
        for (n, (_, bytes)) in keyed.iter().enumerate() {
            if n == restart_point {
                agg = restart(&agg);
            }
            let report = agg.apply(bytes, NOW + 1_000).unwrap();
            match report.outcome {
                Outcome::Applied => {
                    applied += 1;
                    prop_assert!(report.entries.iter().all(|e| e.result.is_ok()));
                }
                Outcome::Duplicate => duplicates += 1,
            }
        }
        let envelopes = keyed.iter().map(|(_, b)| b).collect::<std::collections::BTreeSet<_>>().len();
        prop_assert_eq!(applied, envelopes);
        prop_assert_eq!(applied + duplicates, keyed.len());
        prop_assert_eq!(agg.ledger().stats().applied as usize, envelopes);
        check(&agg, &truth)?;
    }
}

/// An envelope's bytes and the sequences it is a part of (`?supersedes=`).
type Sending = (Vec<u8>, Vec<u64>);

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Envelopes refused as too large and split (a part split again too), their parts and the
    /// originals all delivered 1-3 times in any order, with a restart: whichever arrives first,
    /// the original whole or its parts, the state is each envelope's events applied once.
    #[test]
    fn split_envelopes_apply_once_whether_the_whole_or_the_parts_arrive_first(
        traffic in traffic(),
        splits in prop::collection::vec((0u8..3, any::<bool>(), any::<bool>()), 64),
        copies in prop::collection::vec(1usize..4, 64),
        shuffle in prop::collection::vec(any::<u32>(), 256),
        restart_at in any::<prop::sample::Index>(),
    ) {
        let mut truth = Truth::default();
        let mut sendings: Vec<Sending> = Vec::new();
        for (r, envelopes) in traffic.iter().enumerate() {
            let mut sender = Recorder::with_replica(ReplicaId([r as u8 + 1; 16]));
            for (i, ops) in envelopes.iter().enumerate() {
                let now = NOW + (r * 100 + i) as i64;
                record(&mut sender, ops, now, &mut truth);
                let Some(original) = sender.envelope(now).unwrap() else {
                    continue;
                };
                let (depth, send_original, send_inner) = splits[(r * 16 + i) % splits.len()];
                let whole = || (original.bytes.clone(), Vec::new());
                let Some((a, b)) = (depth > 0).then(|| sender.split(&original.bytes).unwrap()).flatten() else {
                    sendings.push(whole());
                    continue;
                };
                let o = original.id.sequence;
                if send_original {
                    sendings.push(whole());
                }
                sendings.push((a.bytes, vec![o]));
                match (depth > 1).then(|| sender.split(&b.bytes).unwrap()).flatten() {
                    Some((b1, b2)) => {
                        if send_inner {
                            sendings.push((b.bytes.clone(), vec![o]));
                        }
                        sendings.push((b1.bytes, vec![o, b.id.sequence]));
                        sendings.push((b2.bytes, vec![o, b.id.sequence]));
                    }
                    None => sendings.push((b.bytes, vec![o])),
                }
            }
        }
        let mut keyed: Vec<(u32, &Sending)> = Vec::new();
        for (i, sending) in sendings.iter().enumerate() {
            for c in 0..copies[i % copies.len()] {
                let k = shuffle[(i + c * 7) % shuffle.len()].rotate_left((i + c) as u32 % 32);
                keyed.push((k, sending));
            }
        }
        keyed.sort_by_key(|(k, _)| *k);
        let mut agg = Aggregate::new(LedgerConfig::default()).unwrap();
        // Operations that change nothing (adding 0) make no envelope: there may be none.
        let restart_point = restart_at.index(keyed.len() + 1);
        for (n, (_, (bytes, parts_of))) in keyed.iter().enumerate() {
            if n == restart_point {
                agg = restart(&agg);
            }
            let report = agg.apply_part(bytes, parts_of, NOW + 1_000).unwrap();
            prop_assert!(report.entries.iter().all(|e| e.result.is_ok()));
        }
        prop_assert_eq!(agg.ledger().gaps().count(), 0, "every sequence applied, settled or contained");
        check(&agg, &truth)?;
    }
}

#[test]
fn envelopes_beyond_the_window_are_refused_not_reapplied() {
    let mut sender = Recorder::with_replica(ReplicaId([7; 16]));
    let mut envelopes = Vec::new();
    for i in 0..10 {
        sender.counter("c").unwrap().increment(1);
        envelopes.push(sender.envelope(NOW + i).unwrap().unwrap().bytes);
    }
    let mut agg = Aggregate::new(LedgerConfig {
        window: 4,
        ..LedgerConfig::default()
    })
    .unwrap();
    // 10 first, then 1: 1 is below the window (10 - 4 + 1 = 7), so it cannot be told apart from an
    // old duplicate and is refused.
    agg.apply(&envelopes[9], NOW + 100).unwrap();
    assert!(matches!(
        agg.apply(&envelopes[0], NOW + 100),
        Err(Error::EnvelopeRefused(
            edgesketch::ledger::Refusal::BelowWindow {
                sequence: 1,
                floor: 7
            }
        ))
    ));
    for e in &envelopes[6..9] {
        assert_eq!(agg.apply(e, NOW + 100).unwrap().outcome, Outcome::Applied);
    }
    assert_eq!(agg.get("c").unwrap().as_counter().unwrap().value(), 4);
    assert_eq!(
        agg.ledger().stats().lost,
        6,
        "1..=6 fell below the window unseen"
    );
    // Too old by creation time: refused, whatever its sequence.
    let mut late = Recorder::with_replica(ReplicaId([8; 16]));
    late.counter("c").unwrap().increment(1);
    let e = late.envelope(NOW - 25 * 3_600_000).unwrap().unwrap();
    assert!(matches!(
        agg.apply(&e.bytes, NOW),
        Err(Error::EnvelopeRefused(_))
    ));
    assert_eq!(agg.get("c").unwrap().as_counter().unwrap().value(), 4);
}

#[test]
fn damaged_envelopes_change_nothing() {
    let mut sender = Recorder::with_replica(ReplicaId([9; 16]));
    sender.counter("c").unwrap().increment(5);
    let bytes = sender.envelope(NOW).unwrap().unwrap().bytes;
    let mut agg = Aggregate::new(LedgerConfig::default()).unwrap();
    for len in 0..bytes.len() {
        assert!(agg.apply(&bytes[..len], NOW).is_err());
    }
    assert!(agg.get("c").is_none());
    assert_eq!(agg.ledger().senders(), 0);
    assert_eq!(agg.apply(&bytes, NOW).unwrap().outcome, Outcome::Applied);
}

#[test]
fn entries_that_do_not_fit_are_refused_alone() {
    let mut a = Recorder::with_replica(ReplicaId([1; 16]));
    a.counter("x").unwrap().increment(1);
    a.counter("y").unwrap().increment(1);
    let mut b = Recorder::with_replica(ReplicaId([2; 16]));
    b.hyperloglog("x", 14).unwrap().insert(b"a");
    b.counter("y").unwrap().increment(2);
    let mut agg = Aggregate::new(LedgerConfig::default()).unwrap();
    agg.apply(&a.envelope(NOW).unwrap().unwrap().bytes, NOW)
        .unwrap();
    let report = agg
        .apply(&b.envelope(NOW).unwrap().unwrap().bytes, NOW)
        .unwrap();
    assert_eq!(report.outcome, Outcome::Applied);
    assert!(matches!(
        report.entries[0].result,
        Err(Error::ParameterMismatch { .. })
    ));
    assert!(report.entries[1].result.is_ok());
    assert_eq!(agg.get("x").unwrap().as_counter().unwrap().value(), 1);
    assert_eq!(agg.get("y").unwrap().as_counter().unwrap().value(), 3);
}

#[cfg(feature = "getrandom")]
#[test]
fn recorders_draw_their_replica_id_lazily_and_at_random() {
    let mut a = Recorder::new();
    let mut b = Recorder::new();
    assert_eq!(
        a.replica(),
        None,
        "no randomness is touched before the first envelope"
    );
    a.counter("c").unwrap().increment(1);
    b.counter("c").unwrap().increment(1);
    let ea = a.envelope(NOW).unwrap().unwrap();
    let eb = b.envelope(NOW).unwrap().unwrap();
    assert_ne!(ea.id.replica, eb.id.replica);
    assert_eq!(a.replica(), Some(ea.id.replica));
    a.counter("c").unwrap().increment(1);
    assert_eq!(
        a.envelope(NOW).unwrap().unwrap().id,
        EnvelopeId {
            replica: ea.id.replica,
            sequence: 2
        }
    );
}

#[cfg(not(feature = "getrandom"))]
#[test]
fn without_randomness_a_recorder_asks_for_an_id() {
    let mut a = Recorder::new();
    a.counter("c").unwrap().increment(1);
    assert!(matches!(a.envelope(NOW), Err(Error::InvalidConfig { .. })));
}

#[test]
fn a_recorder_refuses_to_wrap_its_sequence_and_loses_nothing() {
    let mut recorder = Recorder::resume(ReplicaId([9; 16]), u64::MAX);
    recorder.counter("c").unwrap().increment(3);
    assert!(recorder.envelope(1_000).is_err());
    assert_eq!(recorder.next_sequence(), u64::MAX);
    // What was recorded is still there, for a recorder under a new replica id to send.
    assert_eq!(recorder.counter("c").unwrap().value(), 3);
    // Count-min settings are checked without building a second sketch.
    recorder
        .count_min("hits", 0.001, 0.01)
        .unwrap()
        .add(b"x", 1);
    assert!(recorder.count_min("hits", 0.01, 0.01).is_err());
    assert_eq!(recorder.count_min("hits", 0.001, 0.01).unwrap().total(), 1);
}

#[test]
fn a_split_envelope_applies_like_the_whole_under_fresh_sequences() {
    let now = 1_764_115_200_000;
    let mut recorder = Recorder::with_replica(ReplicaId([7; 16]));
    let mut whole_recorder = Recorder::with_replica(ReplicaId([8; 16]));
    for r in [&mut recorder, &mut whole_recorder] {
        r.counter("a:orders").unwrap().increment(3);
        r.hyperloglog("b:visitors", 14).unwrap().insert(b"ada");
        r.top_k("c:pages", 10).unwrap().insert(b"/x", 2).unwrap();
    }
    let original = recorder.envelope(now).unwrap().unwrap();
    let whole = whole_recorder.envelope(now).unwrap().unwrap();
    assert_eq!(original.id.sequence, 1);

    let (a, b) = recorder
        .split(&original.bytes)
        .unwrap()
        .expect("three entries split");
    assert_eq!((a.id.sequence, b.id.sequence), (2, 3));
    assert_eq!(recorder.next_sequence(), 4);
    let keys = |bytes: &[u8]| -> Vec<String> {
        Snapshot::decode(bytes)
            .unwrap()
            .iter()
            .map(|(k, _)| k.to_owned())
            .collect()
    };
    assert_eq!(keys(&a.bytes), ["a:orders"]);
    assert_eq!(keys(&b.bytes), ["b:visitors", "c:pages"]);

    // The halves, each applied (twice: a retry), give what the whole gives.
    let mut split_side = Aggregate::new(LedgerConfig::default()).unwrap();
    let mut whole_side = Aggregate::new(LedgerConfig::default()).unwrap();
    for bytes in [&a.bytes, &b.bytes, &a.bytes, &b.bytes] {
        split_side.apply(bytes, now).unwrap();
    }
    whole_side.apply(&whole.bytes, now).unwrap();
    for key in ["a:orders", "b:visitors", "c:pages"] {
        let (x, y) = (split_side.get(key).unwrap(), whole_side.get(key).unwrap());
        let mut sx = Snapshot::new(ReplicaId([0; 16]), 0, 0);
        sx.insert(key, x.clone()).unwrap();
        let mut sy = Snapshot::new(ReplicaId([0; 16]), 0, 0);
        sy.insert(key, y.clone()).unwrap();
        assert_eq!(sx.encode(), sy.encode(), "{key}");
    }

    // A single entry cannot be split; another replica's envelope is not this recorder's to split.
    assert!(recorder.split(&a.bytes).unwrap().is_none());
    assert!(whole_recorder.split(&a.bytes).is_err());
    assert_eq!(
        recorder.next_sequence(),
        4,
        "refusals take no sequence numbers"
    );
}

#[test]
fn a_recorder_names_the_setting_that_differs_and_forgets_keys_left_empty() {
    use edgesketch::{Best, MergeRule};
    let mut r = Recorder::with_replica(ReplicaId([3; 16]));
    r.leaderboard("board", MergeRule::Max, Best::Highest, 10)
        .unwrap();
    let what = |e: Error| match e {
        Error::ParameterMismatch { what, left, right } => (what, left, right),
        other => panic!("{other:?}"),
    };
    let rule = what(
        r.leaderboard("board", MergeRule::Sum, Best::Highest, 10)
            .unwrap_err(),
    );
    assert!(rule.0.starts_with("leaderboard merge rule"), "{rule:?}");
    assert_eq!((rule.1, rule.2), (0, 2));
    let best = what(
        r.leaderboard("board", MergeRule::Max, Best::Lowest, 10)
            .unwrap_err(),
    );
    assert_eq!((best.1, best.2), (0, 1), "{best:?}");
    let capacity = what(
        r.leaderboard("board", MergeRule::Max, Best::Highest, 5)
            .unwrap_err(),
    );
    assert_eq!(
        (capacity.0, capacity.1, capacity.2),
        ("leaderboard capacity under this key", 10, 5)
    );
    // Quantiles and count-min take their full settings.
    r.quantiles_with_max_bins("q", 0.02, 10)
        .unwrap()
        .add(1.0)
        .unwrap();
    assert_eq!(what(r.quantiles("q", 0.02).unwrap_err()).1, 10);
    r.count_min_with_dimensions("c", 2, 1).unwrap().add(b"a", 1);
    assert_eq!(
        (r.get("c").map(Sketch::family)),
        Some(edgesketch::Family::CountMin)
    );
    // An empty key is forgotten; one holding data is not.
    assert!(r.forget_if_empty("board"));
    assert!(!r.forget_if_empty("q"));
    assert!(!r.forget_if_empty("absent"));
    r.leaderboard("board", MergeRule::Sum, Best::Lowest, 0)
        .unwrap();
}

#[test]
fn merge_mismatches_name_the_setting_in_its_own_terms() {
    use edgesketch::{Best, CountMinSketch, Leaderboard, MergeRule, Quantiles, TopK};
    let text = |e: Error| e.to_string();
    let mut q = Quantiles::new(0.01).unwrap();
    assert_eq!(
        text(q.merge_local(&Quantiles::new(0.02).unwrap()).unwrap_err()),
        "quantiles alpha mismatch: 0.01 vs 0.02"
    );
    let mut c = CountMinSketch::with_dimensions(64, 4).unwrap();
    assert_eq!(
        text(
            c.merge_local(&CountMinSketch::with_dimensions(64, 5).unwrap())
                .unwrap_err()
        ),
        "count-min depth mismatch: 4 vs 5"
    );
    let mut b = Leaderboard::new(MergeRule::Max, Best::Highest, 0).unwrap();
    let other = Leaderboard::new(MergeRule::Max, Best::Lowest, 0).unwrap();
    assert!(text(b.merge_local(&other).unwrap_err()).starts_with("leaderboard best end"));
    let family = TopK::from_bytes(&HyperLogLog::new(14).unwrap().to_bytes()).unwrap_err();
    assert_eq!(text(family), "sketch family mismatch: top_k vs hyperloglog");
}
