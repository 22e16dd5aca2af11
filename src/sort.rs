//! One sort for the core's orderings outside the HyperLogLog: `core`'s unstable sort natively,
//! a heapsort on wasm32.
//!
//! Why: each `sort_by` of `core` instantiates its quicksort, small-sort networks and fallback
//! anew for every element type and comparator, while a heapsort is one short loop per site:
//! moving six sites here cut the npm package's `.wasm` from 458,212 to 418,987 bytes (179,696 to
//! 164,375 gzipped). It does at most
//! `2 n log2 n` comparisons, so it is slower than `core`'s sort by a small factor, on sizes (a
//! top-K's capacity, a leaderboard being encoded) where that is microseconds.
//!
//! Every caller's order is total over the elements it sorts (ties only between equal values),
//! so both give the same result, and the bytes built from it agree across targets.

use core::cmp::Ordering;

/// Sorts `v` by `cmp`, which must be a total order (see the module docs).
pub(crate) fn sort_by<T>(v: &mut [T], cmp: impl FnMut(&T, &T) -> Ordering) {
    #[cfg(target_arch = "wasm32")]
    heapsort_by(v, cmp);
    #[cfg(not(target_arch = "wasm32"))]
    v.sort_unstable_by(cmp);
}

/// Heapsort: a max-heap built in place, then its root swapped to the end, one by one.
#[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
pub(crate) fn heapsort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift_down(v, start, n, &mut cmp);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end, &mut cmp);
    }
}

/// Moves `v[node]` down until neither child (below `end`) is greater.
fn sift_down<T>(
    v: &mut [T],
    mut node: usize,
    end: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
) {
    loop {
        let mut child = 2 * node + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && cmp(&v[child], &v[child + 1]) == Ordering::Less {
            child += 1;
        }
        if cmp(&v[node], &v[child]) != Ordering::Less {
            return;
        }
        v.swap(node, child);
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn heapsort_agrees_with_the_standard_sort(mut v in proptest::collection::vec(any::<(u8, u16)>(), 0..300)) {
            let mut expected = v.clone();
            expected.sort_unstable();
            heapsort_by(&mut v, |a, b| a.cmp(b));
            prop_assert_eq!(v, expected);
        }

        #[test]
        fn descending_orders_work_too(mut v in proptest::collection::vec(any::<u64>(), 0..100)) {
            let mut expected = v.clone();
            expected.sort_unstable_by(|a, b| b.cmp(a));
            heapsort_by(&mut v, |a, b| b.cmp(a));
            prop_assert_eq!(&v, &expected);
            let mut again: Vec<u64> = expected.iter().rev().copied().collect();
            sort_by(&mut again, |a, b| b.cmp(a));
            prop_assert_eq!(again, expected);
        }
    }
}
