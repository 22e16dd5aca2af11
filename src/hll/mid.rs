//! Mid-range representation: the registers plus a bitmap of which keys of `bits` bits occur.
//!
//! Between the small set (exact) and plain registers, counting occupied keys in a `2^(p+3)` key
//! space (linear counting) is several times more accurate than the registers' estimate, and both
//! structures take O(1) per insert. The registers carry the ranks, so bitmap plus registers give
//! back the exact sparse keys ([`Mid::entries`]) for the wire.
//!
//! The bitmap is indexed by the low `bits` bits of the hash as they are (without the bit
//! reversal of the sparse key layout, which would cost time on every insert).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use super::dense::Dense;
use super::sparse::{Entry, Layout, entry_key, hash_rank, reverse_low_bits};

#[derive(Clone)]
pub(crate) struct Mid {
    pub(crate) dense: Dense,
    pub(crate) layout: Layout,
    /// Bit `i` is set when some item's hash has low bits `i`.
    occupied: Box<[u64]>,
    /// Set bits.
    count: u32,
}

impl Mid {
    pub(crate) fn new(layout: Layout) -> Self {
        let words = (1usize << layout.bits).div_ceil(64);
        Mid {
            dense: Dense::new(layout.p),
            layout,
            occupied: vec![0u64; words].into_boxed_slice(),
            count: 0,
        }
    }

    /// Keys present.
    pub(crate) fn count(&self) -> u64 {
        u64::from(self.count)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.dense.heap_bytes() + self.occupied.len() * 8
    }

    #[inline]
    fn set(&mut self, key: u64) -> bool {
        let (word, bit) = ((key / 64) as usize, key % 64);
        match self.occupied.get_mut(word) {
            Some(w) if *w & (1 << bit) == 0 => {
                *w |= 1 << bit;
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    /// Adds a hashed item; true if anything changed.
    #[inline]
    pub(crate) fn insert_hash(&mut self, hash: u64) -> bool {
        let p = self.layout.p;
        let index = (hash & ((1u64 << p) - 1)) as usize;
        let raised = self.dense.raise(index, hash_rank(hash, p));
        let added = self.set(hash & ((1u64 << self.layout.bits) - 1));
        raised || added
    }

    /// Adds an item known by the low bits of its hash (at least this layout's `bits`) and its rank.
    #[inline]
    pub(crate) fn insert_low_bits(&mut self, low: u64, rank: u8) {
        let p = self.layout.p;
        self.dense.raise((low & ((1u64 << p) - 1)) as usize, rank);
        self.set(low & ((1u64 << self.layout.bits) - 1));
    }

    /// Adds an entry of this layout.
    pub(crate) fn insert_entry(&mut self, e: Entry) {
        let (index, rank) = self.layout.register(e);
        self.dense.raise(index, rank);
        self.set(self.layout.hash_low_bits(entry_key(e)));
    }

    /// Every key as an entry, sorted; zero-field keys take their rank from the register.
    ///
    /// Without a sort: bitmap bit `f·2^p + index` is key `index << w | reverse(f)`, so walking
    /// indexes in order and, for each, the field values in reversed order (w ≤ 3: at most 8)
    /// yields the keys in order.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        let registers = self.dense.registers();
        let index_mask = (1u64 << self.layout.p) - 1;
        let entry_at = |low: u64| {
            let register = registers[(low & index_mask) as usize];
            self.layout
                .entry_with_register(self.layout.key_for_hash(low), register)
        };
        let words_per_run = (1usize << self.layout.p) / 64;
        if words_per_run == 0 || self.layout.width() > 3 {
            // Precisions below 6 (a field's bits share words; few keys) or wider fields than a
            // mid sketch keeps: sort.
            let mut out = Vec::with_capacity(self.count as usize);
            for_each_bit(&self.occupied, 0, |low| out.push(entry_at(low)));
            out.sort_unstable();
            return out;
        }
        // Index-major: for each block of 64 register indexes, the word of every field value;
        // for each index with any bit set, its fields in key order (reversed field value).
        let w = self.layout.width();
        let runs = 1usize << w;
        let p = self.layout.p;
        // Key order within an index is by reversed field: slot r holds field reverse(r).
        let mut field = [0u64; 8];
        for (r, f) in field.iter_mut().enumerate().take(runs) {
            *f = reverse_low_bits(r as u64, w);
        }
        let mut out = Vec::with_capacity(self.count as usize);
        let mut column = [0u64; 8];
        for block in 0..words_per_run {
            let mut any = 0u64;
            for r in 0..runs {
                column[r] = self.occupied[field[r] as usize * words_per_run + block];
                any |= column[r];
            }
            while any != 0 {
                let bit = any.trailing_zeros();
                any &= any - 1;
                let index = (block as u64) * 64 + u64::from(bit);
                // The index's fields as one byte, gathered without a branch per field (those
                // branches, taken at random, were most of the cost of listing a mid sketch).
                let mut present = 0u32;
                for (r, word) in column.iter().enumerate().take(runs) {
                    present |= ((word >> bit) as u32 & 1) << r;
                }
                let register = registers[index as usize];
                while present != 0 {
                    let r = present.trailing_zeros() as usize;
                    present &= present - 1;
                    let key = index << w | r as u64;
                    out.push(self.layout.entry_with_register(key, register));
                    debug_assert_eq!(
                        key,
                        self.layout.key_for_hash(field[r] << p | index),
                        "slot r of an index is its key with field bits r"
                    );
                }
            }
        }
        out
    }

    /// Register-wise max and key union with a mid sketch of the same layout.
    pub(crate) fn merge(&mut self, other: &Mid) {
        debug_assert_eq!(self.layout, other.layout);
        self.dense.merge_registers(other.dense.registers());
        let mut count = 0u32;
        for (a, &b) in self.occupied.iter_mut().zip(other.occupied.iter()) {
            *a |= b;
            count += a.count_ones();
        }
        self.count = count;
    }
}

/// Calls `f` with the position of every set bit of `words`, in order, counting from `first`.
fn for_each_bit(words: &[u64], first: u64, mut f: impl FnMut(u64)) {
    for (i, &word) in words.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            f(first + (i as u64) * 64 + u64::from(bits.trailing_zeros()));
            bits &= bits - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk in key order gives what sorting every set bit's entry gives.
    #[test]
    fn entries_come_out_sorted_without_a_sort() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for p in [4u8, 5, 6, 10, 14, 16] {
            for extra in 0..=3u8 {
                let layout = Layout { p, bits: p + extra };
                let mut mid = Mid::new(layout);
                for _ in 0..(1u32 << p) {
                    // splitmix64
                    state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    mid.insert_hash(z ^ (z >> 31));
                }
                let registers = mid.dense.registers();
                let mut expected = Vec::new();
                for_each_bit(&mid.occupied, 0, |low| {
                    let register = registers[(low & ((1u64 << p) - 1)) as usize];
                    expected.push(layout.entry_with_register(layout.key_for_hash(low), register));
                });
                expected.sort_unstable();
                assert_eq!(mid.entries(), expected, "p {p}, bits {}", p + extra);
            }
        }
    }
}
