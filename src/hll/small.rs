//! Small representation: the distinct keys themselves, in an open-addressing hash set.
//!
//! A key is up to 32 bits ([`Layout`]). The table holds each key as the low `bits` bits of its
//! item's hash (the same information, without the bit reversal of the sparse key layout, which
//! costs time on every insert and is only needed to write keys out in order). A slot is a `u32`; 0
//! marks an empty slot and the value 0 is kept in a flag. Inserts are O(1) (one multiplicative
//! hash, linear probing at most 3/4 full); duplicates change nothing, so they keep the cached
//! estimate. A key whose field is zero also needs its rank: those are rare (one key in `2^w`) and
//! live, with their extra, in a short sorted list beside the table.

use alloc::vec;
use alloc::vec::Vec;

use super::sparse::{Entry, Layout, entry, entry_extra, entry_key, hash_rank};

/// What an insert did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The key was there with at least this rank.
    Unchanged,
    /// A new key, or a larger rank for a known one.
    Changed,
    /// A new key, but the table is at its largest and full: the caller must change representation.
    Full,
}

#[derive(Clone)]
pub(crate) struct Small {
    pub(crate) layout: Layout,
    /// `0` or a power of two (at least 4) slots of hash low bits; `0` = empty.
    slots: Vec<u32>,
    /// Keys held, the zero value included.
    len: u32,
    has_zero: bool,
    /// `entry(low bits, extra)` of keys with a non-zero extra, sorted.
    extras: Vec<Entry>,
    /// Largest number of slots the table may grow to.
    max_slots: u32,
}

/// Fibonacci hashing: the top bits of `low · 2^32/φ`.
#[inline]
fn slot_of(low: u32, shift: u32) -> usize {
    (low.wrapping_mul(0x9e37_79b9) >> shift) as usize
}

impl Small {
    /// An empty set whose table never exceeds `max_slots` (a power of two, at least 4).
    pub(crate) fn new(layout: Layout, max_slots: u32) -> Self {
        debug_assert!(max_slots.is_power_of_two() && max_slots >= 4);
        debug_assert!(layout.bits <= 32);
        Small {
            layout,
            slots: Vec::new(),
            len: 0,
            has_zero: false,
            extras: Vec::new(),
            max_slots,
        }
    }

    /// Most keys the set can hold at its largest table.
    pub(crate) fn max_len(max_slots: u32) -> usize {
        max_slots as usize / 4 * 3
    }

    /// A set holding `entries` (of `layout`, any order), if they fit.
    pub(crate) fn from_entries(layout: Layout, entries: &[Entry], max_slots: u32) -> Option<Self> {
        if entries.len() > Self::max_len(max_slots) {
            return None;
        }
        let mut set = Small::new(layout, max_slots);
        let mut slots = 4usize;
        while entries.len() > Self::max_len(slots as u32) {
            slots *= 2;
        }
        if !entries.is_empty() {
            set.slots = vec![0; slots];
        }
        for &e in entries {
            let inserted = set.insert(e);
            debug_assert_ne!(inserted, Inserted::Full);
        }
        Some(set)
    }

    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 4 + self.extras.capacity() * core::mem::size_of::<Entry>()
    }

    /// Adds a hashed item.
    #[inline]
    pub(crate) fn insert_hash(&mut self, hash: u64) -> Inserted {
        let layout = self.layout;
        let low = hash & ((1u64 << layout.bits) - 1);
        // The field is zero when the hash bits between p and bits are: then record the rank.
        let extra = if low >> layout.p == 0 {
            u64::from(hash_rank(hash, layout.p)) - u64::from(layout.width()) - 1
        } else {
            0
        };
        self.insert_low(low as u32, extra)
    }

    /// Adds an entry of this set's layout.
    pub(crate) fn insert(&mut self, e: Entry) -> Inserted {
        let low = self.layout.hash_low_bits(entry_key(e));
        self.insert_low(low as u32, entry_extra(e))
    }

    #[inline]
    fn insert_low(&mut self, low: u32, extra: u64) -> Inserted {
        let new_key = if low == 0 {
            let new = !self.has_zero;
            self.has_zero = true;
            new
        } else {
            match self.find_or_vacant(low) {
                Some(Ok(_)) => false,
                Some(Err(slot)) => {
                    if self.len() + 1 > Self::max_len(self.slots.len() as u32) {
                        if self.slots.len() as u32 >= self.max_slots {
                            return Inserted::Full;
                        }
                        self.grow();
                        self.place(low);
                    } else {
                        self.slots[slot] = low;
                    }
                    true
                }
                None => {
                    // No table yet.
                    self.slots = vec![0; 4];
                    self.place(low);
                    true
                }
            }
        };
        if new_key {
            self.len += 1;
        }
        let raised = extra != 0 && self.raise_extra(entry(u64::from(low), extra));
        if new_key || raised {
            Inserted::Changed
        } else {
            Inserted::Unchanged
        }
    }

    /// `Ok(slot)` holding `low`, or `Err(slot)` where it would go; `None` without a table.
    #[inline]
    fn find_or_vacant(&self, low: u32) -> Option<Result<usize, usize>> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = slot_of(low, 32 - self.slots.len().trailing_zeros());
        loop {
            match self.slots[i] {
                0 => return Some(Err(i)),
                k if k == low => return Some(Ok(i)),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Puts a value known to be absent into a table with room.
    fn place(&mut self, low: u32) {
        if let Some(Err(slot)) = self.find_or_vacant(low) {
            self.slots[slot] = low;
        }
    }

    fn grow(&mut self) {
        let doubled = vec![0; self.slots.len() * 2];
        let old = core::mem::replace(&mut self.slots, doubled);
        for low in old.into_iter().filter(|&k| k != 0) {
            self.place(low);
        }
    }

    /// Records a larger extra for a zero-field key; true if it grew.
    fn raise_extra(&mut self, e: Entry) -> bool {
        let low = entry_key(e);
        match self.extras.binary_search_by_key(&low, |&x| entry_key(x)) {
            Ok(i) if self.extras[i] >= e => false,
            Ok(i) => {
                self.extras[i] = e;
                true
            }
            Err(i) => {
                self.extras.insert(i, e);
                true
            }
        }
    }

    /// Each key as `(hash low bits, register rank)`, in no particular order: what the mid
    /// representation takes, without going through the sparse layout.
    pub(crate) fn low_bits_and_ranks(&self) -> impl Iterator<Item = (u64, u8)> + '_ {
        let layout = self.layout;
        let zero = self.has_zero.then_some(0u32);
        self.slots
            .iter()
            .copied()
            .filter(|&k| k != 0)
            .chain(zero)
            .map(move |low| {
                let low = u64::from(low);
                let word = low >> layout.p;
                let rank = if word != 0 {
                    1 + word.trailing_zeros()
                } else {
                    let extra = match self.extras.binary_search_by_key(&low, |&x| entry_key(x)) {
                        Ok(i) => entry_extra(self.extras[i]) as u32,
                        Err(_) => 0,
                    };
                    layout.width() + 1 + extra
                };
                (low, rank as u8)
            })
    }

    /// Every entry (of the sparse layout), in no particular order.
    pub(crate) fn unordered_entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let zero = self.has_zero.then_some(0u32);
        self.slots
            .iter()
            .copied()
            .filter(|&k| k != 0)
            .chain(zero)
            .map(|low| {
                let low = u64::from(low);
                let key = self.layout.key_for_hash(low);
                if self.layout.field(key) != 0 {
                    return entry(key, 0);
                }
                match self.extras.binary_search_by_key(&low, |&x| entry_key(x)) {
                    Ok(i) => entry(key, entry_extra(self.extras[i])),
                    Err(_) => entry(key, 0),
                }
            })
    }

    /// Every entry (of the sparse layout), sorted by key.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = self.unordered_entries().collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_distinct_keys_and_largest_extras() {
        let layout = Layout { p: 4, bits: 12 };
        let mut s = Small::new(layout, 64);
        assert_eq!(s.insert(entry(0, 0)), Inserted::Changed);
        assert_eq!(s.insert(entry(0, 0)), Inserted::Unchanged);
        assert_eq!(s.insert(entry(0, 3)), Inserted::Changed);
        assert_eq!(s.insert(entry(0, 2)), Inserted::Unchanged);
        let mut expected = vec![entry(0, 3)];
        for key in 1..48u64 {
            let key = key * 77;
            let e = entry(key, if layout.field(key) == 0 { 1 } else { 0 });
            assert_eq!(s.insert(e), Inserted::Changed);
            expected.push(e);
        }
        assert_eq!(s.len(), 48);
        assert_eq!(s.insert(entry(5, 0)), Inserted::Full);
        assert_eq!(s.insert(entry(77, 0)), Inserted::Unchanged);
        expected.sort_unstable();
        assert_eq!(s.entries(), expected);
        let rebuilt = Small::from_entries(layout, &expected, 64).unwrap();
        assert_eq!(rebuilt.entries(), expected);
        let too_many: Vec<Entry> = (0..49).map(|k| entry(k, 0)).collect();
        assert!(Small::from_entries(layout, &too_many, 64).is_none());
    }

    #[test]
    fn hashes_and_entries_agree() {
        let layout = Layout { p: 10, bits: 20 };
        let mut by_hash = Small::new(layout, 1 << 10);
        let mut by_entry = Small::new(layout, 1 << 10);
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..700u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Some hashes with the bits between p and bits all zero, to carry extras.
            let h = if i % 5 == 0 { x & !(0x3ff << 10) } else { x };
            assert_ne!(by_hash.insert_hash(h), Inserted::Full);
            by_entry.insert(layout.entry_for_hash(h));
        }
        assert_eq!(by_hash.entries(), by_entry.entries());
    }
}
