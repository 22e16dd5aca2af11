//! Window counters and unique series against a straightforward reference model: every accepted
//! event kept in a list, acceptance and retention written out naively, queries answered by
//! filtering. Random streams cover bucket boundaries, negative and far-future timestamps,
//! retention edges, downsampling, merges and encoding.

use edgesketch::{Error, Rejection, SeriesConfig, Tally, UniqueSeries, WindowCounter};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Move the clock by this much (negative: an attempt to go back, which must do nothing).
    Advance(i64),
    /// An event at `now + offset`.
    Add { value: i64, offset: i64 },
}

#[derive(Clone, Debug)]
struct Case {
    config: SeriesConfig,
    start: i64,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(1_000u64), Just(60_000), Just(3_600_000), Just(86_400_000), 1_000u64..5_000],
        1u32..120,
        any::<prop::sample::Index>(),
        0u64..4,
        prop_oneof![Just(0i64), Just(1_764_115_200_000), -2_000_000_000_000i64..2_000_000_000_000],
    )
        .prop_flat_map(|(bucket_ms, retention, grace_pick, future_buckets, start)| {
            let retention_ms = bucket_ms * u64::from(retention);
            let grace_ms = grace_pick.index(retention_ms as usize + 1) as u64;
            let config = SeriesConfig {
                bucket_ms,
                retention_buckets: retention,
                grace_ms,
                max_future_ms: (future_buckets * bucket_ms).min(86_400_000),
            };
            let span = (retention_ms + 4 * bucket_ms) as i64;
            let op = prop_oneof![
                1 => (-span..span).prop_map(Op::Advance),
                6 => (-1_000_000i64..1_000_000, -span..span).prop_map(|(value, offset)| Op::Add { value, offset }),
                1 => (any::<i64>(), prop_oneof![Just(i64::MIN / 4), Just(i64::MAX / 4)])
                    .prop_map(|(value, offset)| Op::Add { value: value / 4, offset }),
            ];
            (Just(config), Just(start), prop::collection::vec(op, 0..200))
        })
        .prop_map(|(config, start, ops)| Case { config, start, ops })
}

/// The model: accepted events as (time, value).
struct Model {
    config: SeriesConfig,
    now: i64,
    events: Vec<(i64, i64)>,
    late: Tally,
    future: Tally,
}

impl Model {
    fn bucket(&self, t: i64) -> i64 {
        t.div_euclid(self.config.bucket_ms as i64)
    }

    fn oldest_bucket(&self) -> i64 {
        self.bucket(self.now) - i64::from(self.config.retention_buckets) + 1
    }

    fn advance(&mut self, t: i64) {
        if t > self.now {
            self.now = t;
        }
        let oldest = self.oldest_bucket();
        let w = self.config.bucket_ms as i64;
        self.events.retain(|(t, _)| t.div_euclid(w) >= oldest);
    }

    fn add(&mut self, value: i64, t: i64) -> Result<(), ()> {
        let late = t < self.now.saturating_sub(self.config.grace_ms as i64)
            || self.bucket(t) < self.oldest_bucket();
        let future = t > self.now.saturating_add(self.config.max_future_ms as i64);
        let tally = |x: &mut Tally| {
            x.events += 1;
            x.total += i128::from(value);
        };
        if late {
            tally(&mut self.late);
            Err(())
        } else if future {
            tally(&mut self.future);
            Err(())
        } else {
            self.events.push((t, value));
            Ok(())
        }
    }

    /// (count, sum, min, max) of events whose bucket starts in [from, to).
    fn sum(&self, from: i64, to: i64) -> (u64, i128, i64, i64) {
        let w = self.config.bucket_ms as i64;
        let mut out = (0u64, 0i128, i64::MAX, i64::MIN);
        for &(t, v) in &self.events {
            let start = t.div_euclid(w) * w;
            if from <= start && start < to {
                out = (out.0 + 1, out.1 + i128::from(v), out.2.min(v), out.3.max(v));
            }
        }
        out
    }
}

fn run(case: &Case) -> (WindowCounter, Model) {
    let mut w = WindowCounter::new(case.config, case.start).unwrap();
    let mut m = Model {
        config: case.config,
        now: case.start,
        events: Vec::new(),
        late: Tally::default(),
        future: Tally::default(),
    };
    for op in &case.ops {
        match *op {
            Op::Advance(d) => {
                let t = m.now.saturating_add(d);
                w.advance(t);
                m.advance(t);
            }
            Op::Add { value, offset } => {
                let t = m.now.saturating_add(offset);
                let got = w.add(value, t);
                let want = m.add(value, t);
                assert_eq!(
                    got.is_ok(),
                    want.is_ok(),
                    "event {value} at {t}, clock {}: {got:?}",
                    m.now
                );
                if let Err(r) = got {
                    match r {
                        Rejection::Late { oldest_ms, .. } => assert!(t < oldest_ms),
                        Rejection::Future { latest_ms, .. } => assert!(t > latest_ms),
                        _ => unreachable!(),
                    }
                }
            }
        }
    }
    (w, m)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn window_counter_matches_the_model(case in case(), queries in prop::collection::vec((any::<i64>(), any::<i64>()), 8)) {
        let (w, m) = run(&case);
        prop_assert_eq!(w.rejected().late.events, m.late.events);
        prop_assert_eq!(w.rejected().late.total, m.late.total);
        prop_assert_eq!(w.rejected().future.events, m.future.events);
        prop_assert_eq!(w.rejected().future.total, m.future.total);

        let width = case.config.bucket_ms as i64;
        let span = (case.config.retention_ms() as i64 + 4 * width).max(1);
        for (a, b) in queries {
            let from = m.now + a.rem_euclid(2 * span) - span;
            let to = from + b.rem_euclid(span);
            let got = w.sum(from, to);
            let want = m.sum(from, to);
            prop_assert_eq!((got.stats.count, got.stats.sum, got.stats.min, got.stats.max), want, "[{}, {})", from, to);
            let duration = b.rem_euclid(span) as u64;
            let last = w.last(duration, m.now);
            let n = duration.div_ceil(case.config.bucket_ms).max(1) as i64;
            let current = m.now.div_euclid(width);
            let want = m.sum((current - n + 1) * width, (current + 1) * width);
            prop_assert_eq!((last.stats.count, last.stats.sum), (want.0, want.1));
        }
        // Per-bucket series: every retained bucket, empty ones included.
        let series = w.series(i64::MIN / 2, i64::MAX / 2);
        for (start, stats) in &series {
            let want = m.sum(*start, start + width);
            prop_assert_eq!((stats.count, stats.sum), (want.0, want.1));
        }
        prop_assert!(series.len() as u64 <= u64::from(case.config.retention_buckets) + case.config.max_future_ms / case.config.bucket_ms + 1);

        // Encoding round-trips byte for byte.
        let bytes = w.to_bytes();
        let back = WindowCounter::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.to_bytes(), bytes);
        prop_assert_eq!(back.sum(i64::MIN / 2, i64::MAX / 2), w.sum(i64::MIN / 2, i64::MAX / 2));
    }

    #[test]
    fn downsampling_keeps_sums_exact(case in case(), factor in prop_oneof![Just(2u64), Just(60), Just(3)]) {
        let (w, m) = run(&case);
        let Ok(coarse) = w.downsample(case.config.bucket_ms * factor) else {
            // Only a width above one day is refused.
            prop_assert!(case.config.bucket_ms * factor > 86_400_000);
            return Ok(());
        };
        let cw = (case.config.bucket_ms * factor) as i64;
        for (start, stats) in coarse.series(i64::MIN / 2, i64::MAX / 2) {
            let want = m.sum(start, start + cw);
            prop_assert_eq!((stats.count, stats.sum, stats.min.min(want.2), stats.max.max(want.3)), (want.0, want.1, want.2, want.3));
        }
        let total = w.sum(i64::MIN / 2, i64::MAX / 2).stats;
        let coarse_total = coarse.sum(i64::MIN / 2, i64::MAX / 2).stats;
        prop_assert_eq!((total.count, total.sum), (coarse_total.count, coarse_total.sum));
    }

    #[test]
    fn merging_halves_equals_the_whole(case in case(), split in any::<u64>()) {
        // Two senders replay the same stream, each taking some of the events; a receiver at the
        // final clock that accepts anything still retained merges both, and matches one counter
        // that saw everything.
        let (whole, m) = run(&case);
        let mut a = WindowCounter::new(case.config, case.start).unwrap();
        let mut b = WindowCounter::new(case.config, case.start).unwrap();
        let mut now = case.start;
        for (i, op) in case.ops.iter().enumerate() {
            match *op {
                Op::Advance(d) => {
                    now = now.max(now.saturating_add(d));
                    a.advance(now);
                    b.advance(now);
                }
                Op::Add { value, offset } => {
                    let target = if (split >> (i % 64)) & 1 == 0 { &mut a } else { &mut b };
                    let _ = target.add(value, now.saturating_add(offset));
                }
            }
        }
        let lenient = SeriesConfig { grace_ms: case.config.retention_ms(), ..case.config };
        let mut receiver = WindowCounter::new(lenient, m.now).unwrap();
        receiver.merge_local(&a).unwrap();
        let report = receiver.merge_local(&b).unwrap();
        prop_assert!(report.rejected.late.buckets == 0);
        let mut rejected = a.rejected();
        rejected.add(&b.rejected());
        prop_assert_eq!(rejected, whole.rejected());
        prop_assert_eq!(receiver.sum(i64::MIN / 2, i64::MAX / 2), whole.sum(i64::MIN / 2, i64::MAX / 2));
    }
}

#[test]
fn merges_judge_buckets_by_the_receivers_clock() {
    let config = SeriesConfig::new(60_000, 3_600_000, 300_000, 60_000).unwrap();
    let now = 1_764_115_200_000;
    let mut sender = WindowCounter::new(config, now).unwrap();
    sender.add(5, now).unwrap();
    sender.add(7, now - 240_000).unwrap();
    // The receiver is 10 minutes ahead: the sender's bucket from 4 minutes ago is now 14 minutes
    // old, beyond the 5-minute grace.
    let mut receiver = WindowCounter::new(config, now + 600_000).unwrap();
    let report = receiver.merge_local(&sender).unwrap();
    assert_eq!(report.accepted_buckets, 0);
    assert_eq!(report.rejected.late.buckets, 2);
    assert_eq!(report.rejected.late.total, 12);
    // Behind by 10 minutes, both are too far in the future.
    let mut behind = WindowCounter::new(config, now - 600_000).unwrap();
    let report = behind.merge_local(&sender).unwrap();
    assert_eq!(report.rejected.future.buckets, 2);
    // Different widths do not mix.
    let hourly =
        WindowCounter::new(SeriesConfig::new(3_600_000, 86_400_000, 0, 0).unwrap(), now).unwrap();
    assert!(matches!(
        receiver.merge_local(&hourly),
        Err(Error::ParameterMismatch { .. })
    ));
}

#[test]
fn retention_is_by_bucket_time_not_by_writes() {
    // A Redis key per bucket with EXPIRE reset on every write never expires while written; here
    // the bucket leaves when its time is up, however often it was written.
    let config = SeriesConfig::new(1_000, 10_000, 10_000, 0).unwrap();
    let mut w = WindowCounter::new(config, 0).unwrap();
    for t in 0..10_000 {
        w.add_at(1, 0, t).ok();
    }
    assert_eq!(w.sum(0, 1_000).stats.count, 10_000);
    w.advance(10_000);
    assert_eq!(w.sum(0, 1_000).stats.count, 0);
    assert!(w.sum(0, 1_000).truncated);
    assert_eq!(w.bucket_count(), 0);
}

#[test]
fn configuration_limits_are_checked() {
    assert!(SeriesConfig::new(999, 60_000, 0, 0).is_err());
    assert!(SeriesConfig::new(86_400_001, 86_400_001, 0, 0).is_err());
    assert!(SeriesConfig::new(1_000, 0, 0, 0).is_err());
    assert!(
        SeriesConfig::new(1_000, 2_000_000_000, 0, 0).is_err(),
        "more than 2^20 buckets"
    );
    assert!(
        SeriesConfig::new(1_000, 60_000, 60_001, 0).is_err(),
        "grace beyond retention"
    );
    assert!(SeriesConfig::new(1_000, 60_000, 0, 86_400_001).is_err());
    assert!(SeriesConfig::new(86_400_000, 86_400_000 * 365, 86_400_000, 86_400_000).is_ok());
}

#[test]
fn unique_series_counts_ranges_as_unions() {
    let hour = 3_600_000i64;
    let config = SeriesConfig::new(hour as u64, 48 * hour as u64, 48 * hour as u64, 0).unwrap();
    let now = 1_764_115_200_000 - 1_764_115_200_000 % hour;
    let mut u = UniqueSeries::new(config, 14, now).unwrap();
    // The same 1000 users every hour for 24 hours, plus 10 new ones per hour.
    for h in 0..24 {
        let t = now - h * hour;
        for user in 0..1000 {
            u.add(format!("user-{user}").as_bytes(), t).unwrap();
        }
        for extra in 0..10 {
            u.add(format!("new-{h}-{extra}").as_bytes(), t).unwrap();
        }
    }
    let day = u.unique(now - 23 * hour, now + hour);
    assert_eq!(day.buckets, 24);
    assert!(day.estimate.exact, "{:?}", day.estimate);
    assert_eq!(
        day.estimate.value, 1240.0,
        "a union, not the sum of 24 hourly counts"
    );
    assert_eq!(u.last(2 * hour as u64, now).estimate.value, 1020.0);
    let per_hour = u.series(now - 23 * hour, now + hour);
    assert_eq!(per_hour.len(), 24);
    assert!(per_hour.iter().all(|(_, e)| e.value == 1010.0));
    // Merging is idempotent: twice the same series changes nothing.
    let mut twice = u.clone();
    twice.merge(&u).unwrap();
    twice.merge(&u).unwrap();
    assert_eq!(twice.to_bytes(), u.to_bytes());
    // Round trip, and downsampling keeps unions.
    let back = UniqueSeries::from_bytes(&u.to_bytes()).unwrap();
    assert_eq!(back.to_bytes(), u.to_bytes());
    // Days are cut at midnight UTC, so the 24 hours fall into two daily buckets.
    let daily = u.downsample(24 * hour as u64).unwrap();
    let both_days = daily.unique(now - 48 * hour, now + 48 * hour);
    assert_eq!((both_days.buckets, both_days.estimate.value), (2, 1240.0));
}

/// A window counter or unique series at a fixed clock, built from events in its acceptance
/// window.
fn window_from(events: &[(i64, i64)]) -> WindowCounter {
    let config = SeriesConfig::new(60_000, 86_400_000, 86_400_000, 60_000).unwrap();
    let mut w = WindowCounter::new(config, 1_764_115_200_000).unwrap();
    for &(value, ago) in events {
        w.add(value, 1_764_115_200_000 - ago).unwrap();
    }
    w
}

fn unique_from(events: &[(i64, i64)]) -> UniqueSeries {
    let config = SeriesConfig::new(60_000, 86_400_000, 86_400_000, 60_000).unwrap();
    let mut u = UniqueSeries::new(config, 10, 1_764_115_200_000).unwrap();
    for &(value, ago) in events {
        u.add(&value.to_le_bytes(), 1_764_115_200_000 - ago)
            .unwrap();
    }
    u
}

fn events() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((-50i64..500, 0i64..86_000_000), 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn window_merges_commute_and_associate(a in events(), b in events(), c in events()) {
        let (x, y, z) = (window_from(&a), window_from(&b), window_from(&c));
        let merged = |p: &WindowCounter, q: &WindowCounter| {
            let mut out = p.clone();
            out.merge_local(q).unwrap();
            out
        };
        prop_assert_eq!(merged(&x, &y).to_bytes(), merged(&y, &x).to_bytes());
        prop_assert_eq!(merged(&merged(&x, &y), &z).to_bytes(), merged(&x, &merged(&y, &z)).to_bytes());
        // Additive, not idempotent: twice the same is twice the sum (hence the ledger).
        let all: Vec<(i64, i64)> = a.iter().chain(&a).copied().collect();
        prop_assert_eq!(merged(&x, &x).to_bytes(), window_from(&all).to_bytes());
    }

    /// Rolling up consecutive periods into a coarser series (as the merge server does in the
    /// background) gives what downsampling everything at once gives, whatever the cut points.
    #[test]
    fn roll_ups_of_consecutive_periods_equal_one_downsample(a in events(), cuts in prop::collection::vec(0i64..86_400_000, 0..4)) {
        const NOW: i64 = 1_764_115_200_000;
        let hour = SeriesConfig::new(3_600_000, 2 * 86_400_000, 2 * 86_400_000, 60_000).unwrap();
        let mut bounds: Vec<i64> = cuts.iter().map(|c| NOW - c).collect();
        bounds.push(NOW - 86_400_001);
        bounds.push(NOW + 1);
        bounds.sort_unstable();
        let (w, u) = (window_from(&a), unique_from(&a));
        let mut rolled_w = WindowCounter::new(hour, NOW + 1).unwrap();
        let mut rolled_u = UniqueSeries::new(hour, 10, NOW + 1).unwrap();
        for pair in bounds.windows(2) {
            let period = w.rolled_up(hour, pair[0], pair[1]).unwrap();
            prop_assert!(period.rejected().is_empty());
            rolled_w.merge_local(&period).unwrap();
            rolled_u.merge(&u.rolled_up(hour, pair[0], pair[1]).unwrap()).unwrap();
        }
        // Every hour of the roll-up holds exactly what the fine series holds for that hour.
        prop_assert_eq!(rolled_w.sum(i64::MIN / 2, i64::MAX / 2).stats, w.sum(i64::MIN / 2, i64::MAX / 2).stats);
        for (t, stats) in rolled_w.series(NOW - 2 * 86_400_000, NOW + 1) {
            prop_assert_eq!(stats, w.sum(t, t + 3_600_000).stats);
        }
        for (t, h) in rolled_u.buckets(i64::MIN / 2, i64::MAX / 2) {
            prop_assert_eq!(h.registers(), u.merged(t, t + 3_600_000).registers());
        }
        prop_assert_eq!(rolled_u.bucket_count(), u.downsample(3_600_000).unwrap().bucket_count());
        // A width that is not a multiple is refused.
        prop_assert!(w.rolled_up(SeriesConfig::new(90_000, 86_400_000, 86_400_000, 60_000).unwrap(), 0, 1).is_err());
    }

    #[test]
    fn unique_series_merges_commute_associate_and_are_idempotent(a in events(), b in events(), c in events()) {
        let (x, y, z) = (unique_from(&a), unique_from(&b), unique_from(&c));
        let merged = |p: &UniqueSeries, q: &UniqueSeries| {
            let mut out = p.clone();
            out.merge(q).unwrap();
            out
        };
        prop_assert_eq!(merged(&x, &y).to_bytes(), merged(&y, &x).to_bytes());
        prop_assert_eq!(merged(&merged(&x, &y), &z).to_bytes(), merged(&x, &merged(&y, &z)).to_bytes());
        prop_assert_eq!(merged(&x, &x).to_bytes(), x.to_bytes());
        let all: Vec<(i64, i64)> = a.iter().chain(&b).copied().collect();
        let union = unique_from(&all);
        let xy = merged(&x, &y);
        for ((t1, h1), (t2, h2)) in xy.buckets(i64::MIN / 2, i64::MAX / 2).zip(union.buckets(i64::MIN / 2, i64::MAX / 2)) {
            prop_assert_eq!(t1, t2);
            prop_assert_eq!(h1.registers(), h2.registers());
        }
        prop_assert_eq!(xy.bucket_count(), union.bucket_count());
    }
}

#[test]
fn the_edges_of_time_neither_panic_nor_wrap() {
    // A clock at either end of i64 (a decoded snapshot may carry one): adds, queries over the
    // whole i64 range, "last N", merges, downsampling and encoding stay defined.
    let config = SeriesConfig::new(60_000, 3_600_000, 600_000, 60_000).unwrap();
    for now in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
        let mut w = WindowCounter::new(config, now).unwrap();
        let mut u = UniqueSeries::new(config, 12, now).unwrap();
        let mut accepted = 0;
        let mut up_to_now = 0;
        for t in [
            i64::MIN,
            now.saturating_sub(600_000),
            now,
            now.saturating_add(60_000),
            i64::MAX,
        ] {
            let in_window = w.add(1, t).is_ok();
            assert_eq!(u.add(b"visitor", t).is_ok(), in_window, "now {now} t {t}");
            accepted += u64::from(in_window);
            up_to_now += u64::from(in_window && config.bucket_of(t) <= config.bucket_of(now));
        }
        assert!(
            accepted >= 1,
            "the current instant is always accepted (now {now})"
        );
        let all = w.sum(i64::MIN, i64::MAX);
        assert_eq!(all.stats.count, accepted, "now {now}");
        assert_eq!(w.last(u64::MAX, now).stats.count, up_to_now, "now {now}");
        assert_eq!(
            u.unique(i64::MIN, i64::MAX).estimate.value,
            1.0,
            "now {now}"
        );
        let charted: u64 = w
            .series(i64::MIN, i64::MAX)
            .iter()
            .map(|(_, b)| b.count)
            .sum();
        if now != i64::MIN && now != i64::MIN + 1 {
            assert_eq!(charted, accepted, "now {now}");
        }
        let w2 = WindowCounter::from_bytes(&w.to_bytes()).unwrap();
        assert_eq!(w2.sum(i64::MIN, i64::MAX), all);
        let u2 = UniqueSeries::from_bytes(&u.to_bytes()).unwrap();
        assert_eq!(u2.unique(i64::MIN, i64::MAX).estimate.value, 1.0);
        w.merge_local(&w2).unwrap();
        assert_eq!(w.sum(i64::MIN, i64::MAX).stats.count, 2 * accepted);
        u.merge(&u2).unwrap();
        assert_eq!(u.unique(i64::MIN, i64::MAX).estimate.value, 1.0);
        let coarse = w.downsample(120_000).unwrap();
        assert_eq!(
            coarse.sum(i64::MIN, i64::MAX).stats.count,
            2 * accepted,
            "now {now}"
        );
        assert_eq!(
            u.downsample(120_000)
                .unwrap()
                .unique(i64::MIN, i64::MAX)
                .estimate
                .value,
            1.0
        );
        w.advance(i64::MAX);
        u.advance(i64::MAX);
    }
}

/// Downsampling keeps every retained event wherever the new buckets' edges fall, and a roll-up
/// into a series that keeps less keeps only what that series retains: both encode to bytes their
/// decoder takes. (Before: a 1-hour minute series downsampled to 5 minutes could hold a bucket
/// outside its 12-bucket retention, and those bytes, and any envelope holding them, were
/// refused.)
#[test]
fn downsampled_and_rolled_up_series_decode() {
    let config = SeriesConfig::new(60_000, 3_600_000, 3_600_000, 0).unwrap();
    let now = 36_000_000;
    let mut w = WindowCounter::new(config, now).unwrap();
    let mut u = UniqueSeries::new(config, 12, now).unwrap();
    for minutes_ago in [0, 30, 57, 59] {
        let t = now - minutes_ago * 60_000;
        w.add(1, t).unwrap();
        u.add(format!("user-{minutes_ago}").as_bytes(), t).unwrap();
    }
    for width in [120_000, 300_000, 420_000, 3_600_000] {
        let d = w.downsample(width).unwrap();
        let back = WindowCounter::from_bytes(&d.to_bytes()).expect("downsampled window decodes");
        assert_eq!(back.to_bytes(), d.to_bytes());
        assert_eq!(
            d.sum(i64::MIN, i64::MAX).stats.count,
            4,
            "{width}: every event kept"
        );
        let du = u.downsample(width).unwrap();
        UniqueSeries::from_bytes(&du.to_bytes()).expect("downsampled unique series decodes");
    }
    let tiny = SeriesConfig::new(60_000, 60_000, 0, 0).unwrap();
    let rolled = w.rolled_up(tiny, i64::MIN, now).unwrap();
    WindowCounter::from_bytes(&rolled.to_bytes()).expect("rolled-up window decodes");
}

/// Saturated bucket statistics stay consistent: adding to a bucket whose count is saturated
/// neither overflows (a debug panic before) nor makes bytes the decoder refuses.
#[test]
fn saturated_window_statistics_stay_decodable() {
    let config = SeriesConfig::new(1_000, 60_000, 10_000, 5_000).unwrap();
    for value in [i64::MAX, i64::MIN, 7] {
        let mut w = WindowCounter::new(config, 0).unwrap();
        w.add(value, 0).unwrap();
        for _ in 0..70 {
            let copy = w.clone();
            w.merge_local(&copy).unwrap();
        }
        w.add(value, 0).unwrap();
        let stats = w.sum(0, 1_000).stats;
        assert_eq!(stats.count, u64::MAX);
        assert_eq!(stats.sum, i128::from(stats.count) * i128::from(value));
        WindowCounter::from_bytes(&w.to_bytes()).expect("saturated statistics decode");
    }
}

/// A configuration built by hand (its fields are public) never divides by zero or overflows.
#[test]
fn an_unvalidated_configuration_does_not_panic() {
    let zero = SeriesConfig {
        bucket_ms: 0,
        retention_buckets: 2,
        grace_ms: 0,
        max_future_ms: 0,
    };
    assert_eq!(zero.bucket_of(5), 5);
    let huge = SeriesConfig {
        bucket_ms: u64::MAX,
        ..zero
    };
    assert_eq!(huge.retention_ms(), u64::MAX);
    assert!(huge.validate().is_err());
}

/// Series of other parameters do not mix. A unique series of another precision was merged
/// bucket by bucket, then encoded under the receiver's precision: bytes that no longer decoded.
#[test]
fn series_of_other_parameters_are_refused() {
    let config = SeriesConfig::new(1_000, 3_600_000, 60_000, 60_000).unwrap();
    let now = 1_764_115_200_000;
    let mut fine = UniqueSeries::new(config, 14, now).unwrap();
    let mut coarse = UniqueSeries::new(config, 4, now).unwrap();
    for i in 0..3_000u32 {
        fine.add(&i.to_le_bytes(), now).unwrap();
        coarse.add(&i.to_le_bytes(), now).unwrap();
    }
    let before = fine.to_bytes();
    for (receiver, other) in [(&mut fine.clone(), &coarse), (&mut coarse.clone(), &fine)] {
        let err = receiver.merge(other).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ParameterMismatch {
                    what: "unique series precision",
                    ..
                }
            ),
            "{err}"
        );
    }
    assert_eq!(fine.merge(&fine.clone()).unwrap().accepted_buckets, 1);
    assert_eq!(fine.to_bytes(), before);
    UniqueSeries::from_bytes(&fine.to_bytes()).unwrap();
}

/// An envelope entry merged into a stored key ([`edgesketch::Aggregate`], as the server does)
/// keeps the key's parameters: a coarser HyperLogLog, or a series with other windows, is refused
/// alone; a finer HyperLogLog folds down into the key.
#[test]
fn a_stored_key_keeps_the_parameters_it_was_created_with() {
    use edgesketch::{Aggregate, HyperLogLog, LedgerConfig, ReplicaId, Sketch, Snapshot};
    let now = 1_764_115_200_000;
    let hour = SeriesConfig::new(1_000, 3_600_000, 60_000, 60_000).unwrap();
    let two_hours = SeriesConfig::new(1_000, 7_200_000, 60_000, 60_000).unwrap();
    let later_grace = SeriesConfig::new(1_000, 3_600_000, 30_000, 60_000).unwrap();
    let hll = |precision: u8, item: &[u8]| {
        let mut h = HyperLogLog::new(precision).unwrap();
        h.insert(item);
        Sketch::from(h)
    };
    let window = |config: SeriesConfig| {
        let mut w = WindowCounter::new(config, now).unwrap();
        w.add(1, now).unwrap();
        Sketch::from(w)
    };
    let envelope = |sequence: u64, entries: Vec<(&str, Sketch)>| {
        let mut s = Snapshot::new(ReplicaId([7; 16]), sequence, now);
        for (k, v) in entries {
            s.insert(k, v).unwrap();
        }
        s.encode()
    };
    let mut receiver = Aggregate::new(LedgerConfig::default()).unwrap();
    receiver
        .apply(
            &envelope(1, vec![("h", hll(14, b"a")), ("w", window(hour))]),
            now,
        )
        .unwrap();
    let report = receiver
        .apply(
            &envelope(
                2,
                vec![
                    ("h", hll(12, b"b")),
                    ("v", window(hour)),
                    ("w", window(two_hours)),
                ],
            ),
            now,
        )
        .unwrap();
    let refused: Vec<(&str, bool)> = report
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.result.is_err()))
        .collect();
    assert_eq!(refused, vec![("h", true), ("v", false), ("w", true)]);
    let shown = report.entries[0].result.as_ref().unwrap_err().to_string();
    assert!(shown.contains("mismatch: 14 vs 12"), "{shown}");
    let report = receiver
        .apply(
            &envelope(3, vec![("h", hll(16, b"c")), ("w", window(later_grace))]),
            now,
        )
        .unwrap();
    assert!(
        report.entries[0].result.is_ok(),
        "a finer HyperLogLog folds down"
    );
    assert!(report.entries[1].result.is_err(), "another grace");
    let h = receiver.get("h").unwrap().as_hyperloglog().unwrap();
    assert_eq!(h.precision(), 14);
    assert_eq!(h.estimate().rounded(), 2);
    let w = receiver.get("w").unwrap().as_window_counter().unwrap();
    assert_eq!(w.sum(now - 1_000, now + 1_000).stats.count, 1);
}

/// The lowest bucket of all really starts below `i64::MIN` (unless the width divides 2^63), so
/// it is off the grid of the others; a series over all of time still shows it, first, at
/// `i64::MIN`, as `sum` counts it, then steps bucket by bucket on the grid. At the other end, the
/// highest bucket starts at `i64::MAX` itself when the width divides 2^63 - 1 (3,577 ms does); a
/// range to `i64::MAX` holds it. An empty range holds nothing.
#[test]
fn a_series_over_all_of_time_holds_the_buckets_at_its_ends() {
    for bucket_ms in [60_000u64, 1_000, 1 << 10, 7_001, 3_577, 86_400_000] {
        let w = bucket_ms as i64;
        let config = SeriesConfig {
            bucket_ms,
            retention_buckets: 4,
            grace_ms: 3 * bucket_ms,
            max_future_ms: 0,
        };
        let lowest = i64::MIN.div_euclid(w);
        let second = (lowest + 1) * w; // the second bucket's start, the first on the grid
        let mut low = WindowCounter::new(config, second + w).unwrap();
        low.add(5, i64::MIN).unwrap();
        low.add(7, second).unwrap();
        low.add(11, second + w).unwrap();
        let series: Vec<_> = low
            .series(i64::MIN, i64::MAX)
            .into_iter()
            .map(|(t, s)| (t, s.count, s.sum))
            .collect();
        assert_eq!(
            series,
            [(i64::MIN, 1, 5), (second, 1, 7), (second + w, 1, 11)],
            "width {bucket_ms}"
        );
        let total = low.sum(i64::MIN, i64::MAX).stats;
        assert_eq!((total.count, total.sum), (3, 23));
        assert!(
            low.series(i64::MIN, i64::MIN).is_empty(),
            "width {bucket_ms}"
        );
        assert_eq!(low.sum(i64::MIN, i64::MIN).stats.count, 0);
        assert_eq!(low.sum(second, second).stats.count, 0);

        let mut high = WindowCounter::new(config, i64::MAX).unwrap();
        high.add(3, i64::MAX).unwrap();
        high.add(4, i64::MAX - w).unwrap();
        let series = high.series(i64::MIN, i64::MAX);
        let counted = series
            .iter()
            .fold((0, 0), |a, (_, s)| (a.0 + s.count, a.1 + s.sum));
        assert_eq!(counted, (2, 7), "width {bucket_ms}");
        assert_eq!(
            series.last().map(|(_, s)| s.sum),
            Some(3),
            "width {bucket_ms}"
        );
        let total = high.sum(i64::MIN, i64::MAX).stats;
        assert_eq!((total.count, total.sum), (2, 7), "width {bucket_ms}");
        assert_eq!(
            high.last(bucket_ms, i64::MAX).stats.sum,
            3,
            "width {bucket_ms}"
        );
    }
}
