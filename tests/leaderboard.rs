//! The leaderboard against a reference model (a map of members and a sorted list), over random
//! operations: every add mode, removes, ranks both ways, ranges by rank and by score, trims and
//! merges under every rule.

use std::collections::BTreeMap;

use edgesketch::{AddMode, Best, Leaderboard, MergeRule, Order};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Add { member: u16, score: i32, mode: u8 },
    Remove(u16),
    Trim(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u16..300, -50i32..50, 0u8..6).prop_map(|(member, score, mode)| Op::Add { member, score, mode }),
        1 => (0u16..300).prop_map(Op::Remove),
        1 => (0u16..400).prop_map(Op::Trim),
    ]
}

fn mode(m: u8) -> AddMode {
    [
        AddMode::Set,
        AddMode::GreaterThan,
        AddMode::LessThan,
        AddMode::OnlyNew,
        AddMode::OnlyExisting,
        AddMode::Increment,
    ][m as usize]
}

fn name(m: u16) -> Vec<u8> {
    format!("player-{m:03}").into_bytes()
}

/// Scores as halves, so sums and ties both happen.
fn score(s: i32) -> f64 {
    f64::from(s) / 2.0
}

/// The model: member -> score; sorted on demand.
#[derive(Default, Clone)]
struct Model(BTreeMap<Vec<u8>, f64>);

impl Model {
    fn add(&mut self, member: Vec<u8>, s: f64, mode: AddMode) {
        let old = self.0.get(&member).copied();
        let new = match (mode, old) {
            (AddMode::OnlyExisting, None) => return,
            (AddMode::OnlyNew, Some(_)) => return,
            (AddMode::GreaterThan, Some(o)) if s <= o => return,
            (AddMode::LessThan, Some(o)) if s >= o => return,
            (AddMode::Increment, Some(o)) => o + s,
            _ => s,
        };
        self.0.insert(member, if new == 0.0 { 0.0 } else { new });
    }

    fn ascending(&self) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<_> = self.0.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    fn trim(&mut self, n: usize, best: Best) {
        let asc = self.ascending();
        if asc.len() > n {
            let drop = asc.len() - n;
            let gone: Vec<_> = match best {
                Best::Highest => asc[..drop].to_vec(),
                Best::Lowest => asc[asc.len() - drop..].to_vec(),
            };
            for (m, _) in gone {
                self.0.remove(&m);
            }
        }
    }
}

fn compare(board: &Leaderboard, model: &Model) -> Result<(), TestCaseError> {
    let asc = model.ascending();
    prop_assert_eq!(board.len(), asc.len());
    let got: Vec<(Vec<u8>, f64)> = board
        .range_by_rank(0, u64::MAX, Order::Ascending)
        .into_iter()
        .map(|e| (e.member, e.score))
        .collect();
    prop_assert_eq!(&got, &asc);
    for (i, (m, s)) in asc.iter().enumerate() {
        prop_assert_eq!(board.score(m), Some(*s));
        prop_assert_eq!(board.rank(m, Order::Ascending), Some(i as u64));
        prop_assert_eq!(
            board.rank(m, Order::Descending),
            Some((asc.len() - 1 - i) as u64)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_model(ops in prop::collection::vec(op(), 0..400), queries in prop::collection::vec((any::<u16>(), any::<u16>(), -60i32..60, 0i32..60, 1usize..50), 6)) {
        let mut board = Leaderboard::new(MergeRule::Max, Best::Highest, 0).unwrap();
        let mut model = Model::default();
        for op in &ops {
            match *op {
                Op::Add { member, score: s, mode: m } => {
                    let before = model.0.get(&name(member)).copied();
                    let out = board.add(&name(member), score(s), mode(m)).unwrap();
                    model.add(name(member), score(s), mode(m));
                    let after = model.0.get(&name(member)).copied();
                    prop_assert_eq!(out.added, before.is_none() && after.is_some());
                    prop_assert_eq!(out.score, after);
                }
                Op::Remove(member) => {
                    prop_assert_eq!(board.remove(&name(member)), model.0.remove(&name(member)));
                }
                Op::Trim(n) => {
                    board.trim(n as usize);
                    model.trim(n as usize, Best::Highest);
                }
            }
        }
        compare(&board, &model)?;
        let asc = model.ascending();
        for (a, b, lo, width, limit) in queries {
            let (start, stop) = (u64::from(a % 350), u64::from(a % 350) + u64::from(b % 40));
            let want: Vec<_> = asc.iter().skip(start as usize).take((stop - start + 1) as usize).cloned().collect();
            let got: Vec<_> = board.range_by_rank(start, stop, Order::Ascending).into_iter().map(|e| (e.member, e.score)).collect();
            prop_assert_eq!(got, want);
            let desc: Vec<_> = asc.iter().rev().cloned().collect();
            let want: Vec<_> = desc.iter().skip(start as usize).take((stop - start + 1) as usize).cloned().collect();
            let got: Vec<_> = board.range_by_rank(start, stop, Order::Descending).into_iter().map(|e| (e.member, e.score)).collect();
            prop_assert_eq!(got, want);
            let (min, max) = (score(lo), score(lo + width));
            let in_range: Vec<_> = asc.iter().filter(|(_, s)| min <= *s && *s <= max).cloned().collect();
            let got: Vec<_> = board.range_by_score(min, max, Order::Ascending, limit).into_iter().map(|e| (e.member, e.score)).collect();
            prop_assert_eq!(got, in_range.iter().take(limit).cloned().collect::<Vec<_>>());
            let got: Vec<_> = board.range_by_score(min, max, Order::Descending, limit).into_iter().map(|e| (e.member, e.score)).collect();
            prop_assert_eq!(got, in_range.iter().rev().take(limit).cloned().collect::<Vec<_>>());
        }
        let bytes = board.to_bytes();
        let back = Leaderboard::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.to_bytes(), bytes);
        compare(&back, &model)?;
    }

    #[test]
    fn merges_follow_their_rule(
        rule in prop_oneof![Just(MergeRule::Max), Just(MergeRule::Min), Just(MergeRule::Sum), Just(MergeRule::LastWriterWins)],
        a in prop::collection::vec((0u16..100, -20i32..20, 0i64..5), 0..150),
        b in prop::collection::vec((0u16..100, -20i32..20, 0i64..5), 0..150),
    ) {
        let build = |entries: &[(u16, i32, i64)]| {
            let mut board = Leaderboard::new(rule, Best::Highest, 0).unwrap();
            let mut model: BTreeMap<Vec<u8>, (f64, i64)> = BTreeMap::new();
            for &(m, s, t) in entries {
                board.add_at(&name(m), score(s), AddMode::Set, t).unwrap();
                let new = (if score(s) == 0.0 { 0.0 } else { score(s) }, t);
                // Under LWW an older write loses locally too (later time, then larger score).
                let older = rule == MergeRule::LastWriterWins
                    && model.get(&name(m)).is_some_and(|&(s0, t0)| (t, new.0) <= (t0, s0));
                if !older {
                    model.insert(name(m), new);
                }
            }
            (board, model)
        };
        let (mut x, mx) = build(&a);
        let (y, my) = build(&b);
        let mut want = mx.clone();
        for (m, (s, t)) in &my {
            let merged = match want.get(m) {
                None => (*s, *t),
                Some(&(s0, t0)) => match rule {
                    MergeRule::Max => (s0.max(*s), t0.max(*t)),
                    MergeRule::Min => (s0.min(*s), t0.max(*t)),
                    MergeRule::Sum => (s0 + s, t0.max(*t)),
                    _ => if (*t, *s) > (t0, s0) { (*s, *t) } else { (s0, t0) },
                },
            };
            want.insert(m.clone(), merged);
        }
        let mut yx = y.clone();
        x.merge_local(&y).unwrap();
        yx.merge_local(&build(&a).0).unwrap();
        let model = Model(want.iter().map(|(m, (s, _))| (m.clone(), if *s == 0.0 { 0.0 } else { *s })).collect());
        compare(&x, &model)?;
        // Commutative; idempotent except for sums.
        prop_assert_eq!(x.to_bytes(), yx.to_bytes());
        let mut twice = x.clone();
        twice.merge_local(&y).unwrap();
        if rule != MergeRule::Sum {
            prop_assert_eq!(twice.to_bytes(), x.to_bytes());
        }
    }
}

#[test]
fn trimmed_max_boards_keep_an_exact_top_n_and_sums_report_their_bound() {
    // Ten servers each keep their best 10 of 1000 players; the union's top 10 under Max is exact.
    let mut total_max = Leaderboard::new(MergeRule::Max, Best::Highest, 10).unwrap();
    let mut total_sum = Leaderboard::new(MergeRule::Sum, Best::Highest, 10).unwrap();
    let mut truth_max: BTreeMap<u16, f64> = BTreeMap::new();
    let mut truth_sum: BTreeMap<u16, f64> = BTreeMap::new();
    for server in 0..10u32 {
        let mut max_board = Leaderboard::new(MergeRule::Max, Best::Highest, 10).unwrap();
        let mut sum_board = Leaderboard::new(MergeRule::Sum, Best::Highest, 10).unwrap();
        for p in 0..1000u32 {
            let s = f64::from((p * 7919 + server * 104_729) % 10_007);
            max_board.add(&name(p as u16), s, AddMode::Set).unwrap();
            sum_board.add(&name(p as u16), s, AddMode::Set).unwrap();
            let e = truth_max.entry(p as u16).or_insert(f64::MIN);
            *e = e.max(s);
            *truth_sum.entry(p as u16).or_insert(0.0) += s;
        }
        total_max.merge_local(&max_board).unwrap();
        total_sum.merge_local(&sum_board).unwrap();
    }
    let mut best: Vec<(f64, Vec<u8>)> = truth_max.iter().map(|(p, s)| (*s, name(*p))).collect();
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    let got: Vec<(f64, Vec<u8>)> = total_max
        .range_by_rank(0, 9, Order::Descending)
        .into_iter()
        .map(|e| (e.score, e.member))
        .collect();
    assert_eq!(got, best[..10].to_vec());
    assert_eq!(total_max.missing_bound(), 0.0);
    // Sums: every reported total is at most its truth and at least truth minus the bound.
    let bound = total_sum.missing_bound();
    assert!(bound > 0.0);
    for e in total_sum.range_by_rank(0, 9, Order::Descending) {
        let p: u16 = String::from_utf8(e.member).unwrap()["player-".len()..]
            .parse()
            .unwrap();
        let truth = truth_sum[&p];
        assert!(
            e.score <= truth && truth <= e.score + bound,
            "{} vs {truth} (bound {bound})",
            e.score
        );
    }
}

#[test]
fn errors_and_edges() {
    let mut b = Leaderboard::new(MergeRule::Max, Best::Highest, 0).unwrap();
    assert!(b.add(b"x", f64::NAN, AddMode::Set).is_err());
    assert!(b.add(&[0u8; 1025], 1.0, AddMode::Set).is_err());
    b.add(b"x", -0.0, AddMode::Set).unwrap();
    assert_eq!(b.score(b"x").unwrap().to_bits(), 0.0f64.to_bits());
    b.add(b"inf", f64::INFINITY, AddMode::Set).unwrap();
    assert_eq!(b.rank(b"inf", Order::Descending), Some(0));
    assert!(
        b.merge_local(&Leaderboard::new(MergeRule::Sum, Best::Highest, 0).unwrap())
            .is_err()
    );
    assert!(Leaderboard::new(MergeRule::Max, Best::Highest, (1 << 24) + 1).is_err());
    assert_eq!(b.range_by_score(5.0, 1.0, Order::Ascending, 10), vec![]);
    assert_eq!(b.range_by_rank(5, 1, Order::Ascending), vec![]);
    // A big board: chunks split and merge back.
    let mut big = Leaderboard::new(MergeRule::Sum, Best::Lowest, 0).unwrap();
    for i in 0..5000u32 {
        big.add(
            format!("m{i}").as_bytes(),
            f64::from(i % 977),
            AddMode::Increment,
        )
        .unwrap();
    }
    for i in (0..5000u32).step_by(2) {
        big.remove(format!("m{i}").as_bytes());
    }
    assert_eq!(big.len(), 2500);
    let all = big.range_by_rank(0, u64::MAX, Order::Ascending);
    assert!(all.windows(2).all(|w| w[0].score <= w[1].score));
    assert_eq!(big.trim(100), 2400);
    assert_eq!(big.range_by_rank(0, 0, Order::Ascending)[0].score, 0.0);
}

#[test]
fn infinite_scores_behave_like_redis_and_stay_encodable() {
    // Redis accepts ±inf scores and refuses an increment whose result is NaN; so do we.
    let mut a = Leaderboard::new(MergeRule::Sum, Best::Highest, 2).unwrap();
    a.add(b"up", f64::INFINITY, AddMode::Set).unwrap();
    a.add(b"down", f64::NEG_INFINITY, AddMode::Set).unwrap();
    assert!(a.add(b"up", f64::NEG_INFINITY, AddMode::Increment).is_err());
    assert_eq!(a.score(b"up"), Some(f64::INFINITY));
    // Trimming an infinite member leaves an infinite (but valid) bound, and it round-trips.
    a.add(b"mid", 1.0, AddMode::Set).unwrap();
    a.add(b"top", f64::INFINITY, AddMode::Set).unwrap();
    assert_eq!(a.len(), 2);
    let bytes = a.to_bytes();
    let back = Leaderboard::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.missing_bound(), a.missing_bound());

    // A merge whose sum would be NaN is refused whole: nothing of it is applied.
    let mut b = Leaderboard::new(MergeRule::Sum, Best::Highest, 0).unwrap();
    b.add(b"aaa", 5.0, AddMode::Set).unwrap();
    b.add(b"zzz", f64::INFINITY, AddMode::Set).unwrap();
    let mut c = Leaderboard::new(MergeRule::Sum, Best::Highest, 0).unwrap();
    c.add(b"aaa", 1.0, AddMode::Set).unwrap();
    c.add(b"new", 1.0, AddMode::Set).unwrap();
    c.add(b"zzz", f64::NEG_INFINITY, AddMode::Set).unwrap();
    let before = b.to_bytes();
    assert!(b.merge_local(&c).is_err());
    assert_eq!(b.to_bytes(), before);
}

#[test]
fn repeated_trims_add_up_in_the_missing_bound() {
    // x loses 10 to each of two trims in `a`; merged into `b` it shows 5 of a true 25.
    let mut a = Leaderboard::new(MergeRule::Sum, Best::Highest, 1).unwrap();
    a.add(b"x", 10.0, AddMode::Increment).unwrap();
    a.add(b"y", 20.0, AddMode::Increment).unwrap();
    a.add(b"x", 10.0, AddMode::Increment).unwrap();
    let mut b = Leaderboard::new(MergeRule::Sum, Best::Highest, 0).unwrap();
    b.add(b"x", 5.0, AddMode::Increment).unwrap();
    b.merge_local(&a).unwrap();
    let shown = b.score(b"x").unwrap();
    assert!(
        25.0 - shown <= b.missing_bound(),
        "{shown} + {} < 25",
        b.missing_bound()
    );
}

#[test]
fn write_times_count_only_under_last_writer_wins() {
    // Max boards keep no write times, so what they encode is all of them.
    let mut max = Leaderboard::new(MergeRule::Max, Best::Highest, 0).unwrap();
    max.add_at(b"ada", 1.0, AddMode::Set, 5).unwrap();
    assert_eq!(Leaderboard::from_bytes(&max.to_bytes()).unwrap(), max);

    // Under LWW a local write older than the member's last one loses, as it would in a merge.
    let mut lww = Leaderboard::new(MergeRule::LastWriterWins, Best::Highest, 0).unwrap();
    lww.add_at(b"x", 1.0, AddMode::Set, 100).unwrap();
    let older = lww.add_at(b"x", 2.0, AddMode::Set, 50).unwrap();
    assert!(!older.changed);
    assert_eq!(lww.score(b"x"), Some(1.0));
    let mut via_merge = Leaderboard::new(MergeRule::LastWriterWins, Best::Highest, 0).unwrap();
    via_merge.add_at(b"x", 2.0, AddMode::Set, 50).unwrap();
    let mut merged = Leaderboard::new(MergeRule::LastWriterWins, Best::Highest, 0).unwrap();
    merged.add_at(b"x", 1.0, AddMode::Set, 100).unwrap();
    merged.merge_local(&via_merge).unwrap();
    assert_eq!(merged, lww);
    assert!(lww.add_at(b"x", 3.0, AddMode::Set, 101).unwrap().changed);
    assert_eq!(Leaderboard::from_bytes(&lww.to_bytes()).unwrap(), lww);

    // A missing bound belongs to sum boards only.
    let mut bytes = max.to_bytes();
    let tail = bytes.len() - (1 + 1 + 3 + 8); // count, len, "ada", score
    bytes[tail - 8..tail].copy_from_slice(&1.0f64.to_le_bytes());
    assert!(matches!(
        Leaderboard::from_bytes(&bytes),
        Err(edgesketch::Error::NonCanonical { .. })
    ));
}
