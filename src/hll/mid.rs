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
use super::sparse::{Entry, Layout, entry_key, hash_rank};

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
    pub(crate) fn entries(&self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.count as usize);
        let registers = self.dense.registers();
        let index_mask = (1u64 << self.layout.p) - 1;
        for (i, &word) in self.occupied.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let low = (i as u64) * 64 + u64::from(bits.trailing_zeros());
                bits &= bits - 1;
                let register = registers[(low & index_mask) as usize];
                out.push(
                    self.layout
                        .entry_with_register(self.layout.key_for_hash(low), register),
                );
            }
        }
        out.sort_unstable();
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
