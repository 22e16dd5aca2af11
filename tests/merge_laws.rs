//! Merge laws and round trips as properties, checked against a reference register model.

mod common;

use edgesketch::HyperLogLog;
use edgesketch::hash::hash_item;
use proptest::prelude::*;

/// Hashes to insert: mostly small sets (sparse), sometimes thousands (the sparse-to-dense
/// transition) or tens of thousands (dense); some with long zero runs to reach high ranks.
fn hashes() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u64>(), 0..200),
        2 => prop::collection::vec(any::<u64>(), 200..6000),
        1 => (0u64..u64::MAX, 15_000usize..40_000)
            .prop_map(|(seed, n)| (0..n as u64).map(|i| hash_item(&(seed ^ i).to_le_bytes())).collect()),
        1 => prop::collection::vec(any::<u64>().prop_map(|h| h & 0xffff_0000_0000_ffff), 0..300),
    ]
}

fn precision() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(14u8), 1 => 4u8..=18]
}

fn build(p: u8, hashes: &[u64]) -> HyperLogLog {
    let mut h = HyperLogLog::new(p).unwrap();
    for &x in hashes {
        h.insert_hash(x);
    }
    h
}

/// Registers straight from the definition.
fn reference(p: u8, hashes: &[u64]) -> Vec<u8> {
    let mut regs = vec![0u8; 1 << p];
    for &h in hashes {
        let index = (h & ((1 << p) - 1)) as usize;
        let rank = (((h >> p) | (1u64 << (64 - p))).trailing_zeros() + 1) as u8;
        regs[index] = regs[index].max(rank);
    }
    regs
}

fn merged(a: &HyperLogLog, b: &HyperLogLog) -> HyperLogLog {
    let mut out = a.clone();
    out.merge(b).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn registers_match_the_reference_in_every_representation(p in precision(), hs in hashes()) {
        let h = build(p, &hs);
        prop_assert_eq!(h.registers(), reference(p, &hs));
        // The estimate never falls below the number of distinct keys it holds, nor claims
        // exactness wrongly.
        let e = h.estimate();
        if e.exact {
            // Exact means: the number of distinct keys, i.e. of distinct low `bits` hash bits.
            let bits = h.sparse_key_bits().unwrap();
            let mut distinct: Vec<u64> = hs.iter().map(|&x| x & ((1u64 << bits) - 1)).collect();
            distinct.sort_unstable();
            distinct.dedup();
            prop_assert_eq!(e.value, distinct.len() as f64);
        }
    }

    #[test]
    fn insertion_order_does_not_matter(p in precision(), mut hs in hashes()) {
        let a = build(p, &hs);
        hs.reverse();
        let b = build(p, &hs);
        prop_assert_eq!(a.registers(), b.registers());
        prop_assert_eq!(a.redis_estimate(), b.redis_estimate());
    }

    #[test]
    fn merge_is_the_union(p in precision(), a in hashes(), b in hashes()) {
        let m = merged(&build(p, &a), &build(p, &b));
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        prop_assert_eq!(m.registers(), reference(p, &all));
    }

    #[test]
    fn merge_is_commutative(p in precision(), a in hashes(), b in hashes()) {
        let (x, y) = (build(p, &a), build(p, &b));
        let (xy, yx) = (merged(&x, &y), merged(&y, &x));
        prop_assert_eq!(xy.registers(), yx.registers());
        prop_assert_eq!(xy.estimate(), yx.estimate());
        prop_assert_eq!(xy.to_bytes(), yx.to_bytes());
    }

    #[test]
    fn merge_is_associative(p in precision(), a in hashes(), b in hashes(), c in hashes()) {
        let (x, y, z) = (build(p, &a), build(p, &b), build(p, &c));
        let left = merged(&merged(&x, &y), &z);
        let right = merged(&x, &merged(&y, &z));
        prop_assert_eq!(left.registers(), right.registers());
        prop_assert_eq!(left.redis_estimate(), right.redis_estimate());
    }

    #[test]
    fn merge_is_idempotent(p in precision(), a in hashes(), b in hashes()) {
        let x = merged(&build(p, &a), &build(p, &b));
        let xx = merged(&x, &x);
        prop_assert_eq!(xx.registers(), x.registers());
        prop_assert_eq!(xx.estimate(), x.estimate());
        let again = merged(&xx, &build(p, &b));
        prop_assert_eq!(again.registers(), x.registers());
    }

    #[test]
    fn mixed_precisions_merge_at_the_coarser(p in 4u8..=18, q in 4u8..=18, a in hashes(), b in hashes()) {
        let m = merged(&build(p, &a), &build(q, &b));
        let coarse = p.min(q);
        prop_assert_eq!(m.precision(), coarse);
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        prop_assert_eq!(m.registers(), reference(coarse, &all));
    }

    #[test]
    fn fold_equals_inserting_at_the_coarser_precision(p in 4u8..=18, to in 4u8..=18, hs in hashes()) {
        prop_assume!(to <= p);
        let folded = build(p, &hs).fold(to).unwrap();
        prop_assert_eq!(folded.registers(), reference(to, &hs));
    }

    #[test]
    fn encoding_round_trips(p in precision(), hs in hashes()) {
        let h = build(p, &hs);
        let bytes = h.to_bytes();
        let back = HyperLogLog::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.registers(), h.registers());
        prop_assert_eq!(back.redis_estimate(), h.redis_estimate());
        // The encoding is canonical: decoding and encoding again gives the same bytes.
        prop_assert_eq!(back.to_bytes(), bytes);
        // The decoded sketch keeps working like the original.
        let mut grown = back.clone();
        let mut original = h.clone();
        for i in 0..50u64 {
            grown.insert(&i.to_le_bytes());
            original.insert(&i.to_le_bytes());
        }
        prop_assert_eq!(grown.registers(), original.registers());
    }

    #[test]
    fn redis_export_import_round_trips(p in 14u8..=18, hs in hashes()) {
        let h = build(p, &hs);
        let redis = h.to_redis().unwrap();
        let back = HyperLogLog::from_redis(&redis).unwrap();
        prop_assert_eq!(back.registers(), reference(14, &hs));
        prop_assert_eq!(back.redis_estimate(), h.redis_estimate());
        prop_assert_eq!(back.to_redis().unwrap(), redis);
    }

    #[test]
    fn raised_registers_merged_into_the_earlier_sketch_give_the_later(
        p in prop_oneof![3 => Just(14u8), 1 => 4u8..=16],
        seed in any::<u64>(),
        more in hashes(),
    ) {
        // Dense from the start: far past 5m/4 distinct items.
        let base = build(p, &(0..4u64 << p).map(|i| hash_item(&(seed ^ i).to_le_bytes())).collect::<Vec<_>>());
        let later = merged(&base, &build(p, &more));
        let raised = later.raised_over(&base).expect("both dense");
        let rose = later.registers().iter().zip(base.registers()).filter(|(a, b)| *a > b).count();
        prop_assert_eq!(raised.registers().iter().filter(|&&r| r != 0).count(), rose);
        prop_assert_eq!(raised.is_empty(), rose == 0);
        // A store keeps its bytes: through the wire and back, then merged in.
        let stored = HyperLogLog::from_bytes(&raised.to_bytes()).unwrap();
        prop_assert_eq!(merged(&base, &stored).registers(), later.registers());
        prop_assert_eq!(merged(&base, &stored).to_bytes(), later.to_bytes());
        // Sparse (smaller than the sketch) while few registers rose.
        if rose <= (3usize << p) / 16 {
            prop_assert!(raised.is_sparse());
            prop_assert!(raised.to_bytes().len() < later.to_bytes().len());
        }
        // Only dense sketches of one precision answer.
        prop_assert!(later.raised_over(&build(p, &[1, 2, 3])).is_none());
        prop_assert!(build(p, &[1, 2, 3]).raised_over(&base).is_none());
        if p > 4 {
            prop_assert!(later.raised_over(&base.fold(p - 1).unwrap()).is_none());
        }
    }

    #[test]
    fn estimates_never_fall_below_what_was_certainly_seen(p in precision(), hs in hashes()) {
        let h = build(p, &hs);
        let e = h.estimate();
        let nonzero = h.registers().iter().filter(|&&r| r != 0).count() as f64;
        prop_assert!(e.lower >= nonzero.min(e.value) - 1e-9, "{:?} nonzero={}", e, nonzero);
        prop_assert!(e.lower <= e.value && e.value <= e.upper);
        prop_assert!(e.std_error >= 0.0);
    }
}

#[test]
fn merging_many_senders_equals_one_big_sketch() {
    // The merge server's shape: many small senders, one union.
    let mut union = HyperLogLog::default();
    let mut all = Vec::new();
    for sender in 0..64u64 {
        let hs: Vec<u64> = (0..400u64)
            .map(|i| hash_item(&(sender * 300 + i).to_le_bytes()))
            .collect();
        let snapshot = HyperLogLog::from_bytes(&build(14, &hs).to_bytes()).unwrap();
        union.merge(&snapshot).unwrap();
        all.extend(hs);
    }
    assert_eq!(union.registers(), reference(14, &all));
    // 64 senders of 400 with overlap: 63 * 300 + 400 distinct.
    let truth = 63.0 * 300.0 + 400.0;
    let e = union.estimate();
    assert!((e.value - truth).abs() / truth < 3.0 * e.std_error, "{e:?}");
    let _ = common::items(0, 0);
}
