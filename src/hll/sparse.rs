//! Sparse keys: the distinct hashes of a small set, kept as `bits`-bit keys, and their Rice-coded
//! stream (the sparse wire form).
//!
//! # Keys
//! For precision `p` and key width `bits = p + w` (`w` extra bits, `0 <= w <= 32 - p`), the key of a
//! 64-bit hash `h` is
//!
//! ```text
//! key = index << w | reverse_w(word & (2^w - 1))      index = h & (2^p - 1),  word = h >> p
//! ```
//!
//! that is, the register index on top, then the `w` low bits of the rank word in reverse order.
//! This layout makes everything the sketch needs a single pass over sorted keys:
//! - keys of one register are adjacent, and the smallest has the register's rank: with the field
//!   `f = key & (2^w - 1)` non-zero, `rank = w - floor(log2 f)`;
//! - dropping key bits (a smaller `bits`) is a right shift that keeps the order;
//! - keys are uniform, so their gaps are geometric and Rice coding stores them in about
//!   `log2(2^bits / n) + 1.5` bits each.
//!
//! When the field is zero the key alone cannot tell the rank (it is at least `w + 1`), so such a key
//! carries `extra = rank - (w + 1)` (at most `64 - bits`). Only one key in `2^w` needs it.
//!
//! # Stream
//! `count` keys in ascending order, each as `Rice_k(key - previous - 1)` (the first as
//! `Rice_k(key)`), followed, for a zero field, by `extra` in unary capped at `64 - bits`. `k` is a
//! function of `bits` and `count` ([`rice_k`]); see docs/FORMAT.md.

use alloc::vec::Vec;

use crate::codec::bits::{BitReader, BitWriter, low_mask, rice_bits};
use crate::error::{Error, Result};

/// A key and its rank extra: `key << 8 | extra`. Sorting entries sorts by key, then extra.
pub(crate) type Entry = u64;

#[inline]
pub(crate) fn entry(key: u64, extra: u64) -> Entry {
    key << 8 | extra
}

#[inline]
pub(crate) fn entry_key(e: Entry) -> u64 {
    e >> 8
}

#[inline]
pub(crate) fn entry_extra(e: Entry) -> u64 {
    e & 0xff
}

/// Precision `p` and key width `bits` of a set of sparse keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) p: u8,
    pub(crate) bits: u8,
}

impl Layout {
    /// Extra hash bits per key beyond the register index.
    #[inline]
    pub(crate) fn width(self) -> u32 {
        u32::from(self.bits - self.p)
    }

    /// Exclusive upper bound of keys.
    #[inline]
    pub(crate) fn key_limit(self) -> u64 {
        1u64 << self.bits
    }

    /// Largest rank extra: ranks stop at `65 - p`.
    #[inline]
    fn max_extra(self) -> u64 {
        64 - u64::from(self.bits)
    }

    #[inline]
    pub(crate) fn field(self, key: u64) -> u64 {
        key & low_mask(self.width())
    }

    /// The entry of a hashed item.
    #[inline]
    pub(crate) fn entry_for_hash(self, hash: u64) -> Entry {
        let w = self.width();
        let index = hash & low_mask(u32::from(self.p));
        let word = hash >> self.p;
        let field = reverse_low_bits(word, w);
        let extra = if field == 0 {
            u64::from(hash_rank(hash, self.p)) - u64::from(w) - 1
        } else {
            0
        };
        entry(index << w | field, extra)
    }

    /// The key of a hashed item (its entry without the extra); only the low `bits` bits of the
    /// hash matter.
    #[inline]
    pub(crate) fn key_for_hash(self, hash: u64) -> u64 {
        let w = self.width();
        (hash & low_mask(u32::from(self.p))) << w | reverse_low_bits(hash >> self.p, w)
    }

    /// The entry of `key` given its register's rank (the extra is that rank when the field is
    /// zero: then the key's item is the one with the register's largest rank).
    #[inline]
    pub(crate) fn entry_with_register(self, key: u64, register: u8) -> Entry {
        let extra = if self.field(key) == 0 {
            u64::from(register) - u64::from(self.width()) - 1
        } else {
            0
        };
        entry(key, extra)
    }

    /// Register index and rank an entry stands for.
    #[inline]
    pub(crate) fn register(self, e: Entry) -> (usize, u8) {
        let w = self.width();
        let key = entry_key(e);
        let field = self.field(key);
        let rank = if field != 0 {
            w - field.ilog2()
        } else {
            w + 1 + entry_extra(e) as u32
        };
        ((key >> w) as usize, rank as u8)
    }

    /// The low `bits` bits of the hash behind `key`.
    #[inline]
    pub(crate) fn hash_low_bits(self, key: u64) -> u64 {
        let w = self.width();
        (key >> w) | reverse_low_bits(self.field(key), w) << self.p
    }

    /// The entry at layout `to` (`to.p <= p`, `to.bits <= bits`) of the items behind `e`.
    #[inline]
    pub(crate) fn convert(self, e: Entry, to: Layout) -> Entry {
        debug_assert!(to.p <= self.p && to.bits <= self.bits);
        if to.p == self.p {
            return self.drop_bits(e, to);
        }
        self.fold(e, to)
    }

    /// [`Layout::convert`] when only key bits are dropped: a shift, plus the rank as extra when
    /// the shorter field is all zeros.
    #[inline]
    fn drop_bits(self, e: Entry, to: Layout) -> Entry {
        let key = entry_key(e) >> (self.bits - to.bits);
        let extra = if to.field(key) == 0 {
            u64::from(self.register(e).1) - u64::from(to.width()) - 1
        } else {
            0
        };
        entry(key, extra)
    }

    /// [`Layout::convert`] to a smaller precision `p`.
    fn fold(self, e: Entry, to: Layout) -> Entry {
        let known = self.hash_low_bits(entry_key(e));
        let low = known & low_mask(u32::from(to.bits));
        let w = to.width();
        let field = reverse_low_bits(low >> to.p, w);
        let extra = if field != 0 {
            0
        } else {
            // The rank at `to.p` counts zeros from bit `to.p` up; bits to.p..to.bits are zero.
            let above = known >> to.p;
            let rank = if above != 0 {
                1 + above.trailing_zeros()
            } else {
                // Every known bit above `to.p` is zero, so the old rank (which counted from `p`)
                // plus the `p - to.p` index bits that moved is the new one.
                u32::from(self.register(e).1) + u32::from(self.p - to.p)
            };
            u64::from(rank - w - 1)
        };
        entry((low & low_mask(u32::from(to.p))) << w | field, extra)
    }
}

/// Bits `0..w` of `x` in reverse order (bit 0 becomes bit `w - 1`).
#[inline]
pub(crate) fn reverse_low_bits(x: u64, w: u32) -> u64 {
    if w == 0 {
        0
    } else {
        x.reverse_bits() >> (64 - w)
    }
}

/// Redis's rank of a hash at precision `p`: one plus the trailing zeros of `h >> p`, with bit
/// `64 - p` forced so that it stops at `65 - p`.
#[inline]
pub(crate) fn hash_rank(hash: u64, p: u8) -> u8 {
    ((hash >> p) | 1u64 << (64 - p)).trailing_zeros() as u8 + 1
}

/// The Rice parameter for `count` keys of `bits` bits: `floor(log2(0.92 · 2^bits / count))`,
/// which keeps each key within 0.15 bit of the entropy of geometric gaps.
pub(crate) fn rice_k(bits: u8, count: u64) -> u32 {
    if count == 0 {
        return 0;
    }
    let x = ((1u64 << bits) * 59) / (64 * count);
    if x <= 1 { 0 } else { x.ilog2() }
}

/// Sorts entries and keeps one per key, with the largest extra.
pub(crate) fn sort_dedup(entries: &mut Vec<Entry>) {
    entries.sort_unstable();
    dedup_sorted(entries);
}

/// Keeps one entry per run of equal keys, the one with the largest extra (runs need not be
/// sorted by extra: after dropping key bits they are not).
fn dedup_sorted(entries: &mut Vec<Entry>) {
    if entries.len() < 2 {
        return;
    }
    let mut write = 0;
    for read in 0..entries.len() {
        let e = entries[read];
        if write > 0 && entry_key(entries[write - 1]) == entry_key(e) {
            entries[write - 1] = entries[write - 1].max(e);
        } else {
            entries[write] = e;
            write += 1;
        }
    }
    entries.truncate(write);
}

/// Union of two sorted, deduplicated entry lists.
pub(crate) fn union(a: &[Entry], b: &[Entry]) -> Vec<Entry> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        match entry_key(x).cmp(&entry_key(y)) {
            core::cmp::Ordering::Less => {
                out.push(x);
                i += 1;
            }
            core::cmp::Ordering::Greater => {
                out.push(y);
                j += 1;
            }
            core::cmp::Ordering::Equal => {
                out.push(x.max(y));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Entries of `from` converted to `to` (any `to.p <= from.p`, `to.bits <= from.bits`), sorted and
/// deduplicated.
pub(crate) fn convert_all(entries: &[Entry], from: Layout, to: Layout) -> Vec<Entry> {
    if from == to {
        return entries.to_vec();
    }
    let mut out: Vec<Entry> = entries.iter().map(|&e| from.convert(e, to)).collect();
    if from.p == to.p {
        // A shift keeps the order; equal keys are now adjacent.
        dedup_sorted(&mut out);
    } else {
        sort_dedup(&mut out);
    }
    out
}

/// Bytes of the stream of `entries` (sorted, deduplicated, at `layout`).
pub(crate) fn stream_len(entries: &[Entry], layout: Layout) -> usize {
    let k = rice_k(layout.bits, entries.len() as u64);
    let mut bits = 0u64;
    let mut next = 0u64;
    for &e in entries {
        let key = entry_key(e);
        bits += rice_bits(key - next, k);
        if layout.field(key) == 0 {
            let extra = entry_extra(e);
            bits += extra + u64::from(extra < layout.max_extra());
        }
        next = key + 1;
    }
    bits.div_ceil(8) as usize
}

/// Bytes of the stream of `entries` after dropping key bits down to `to_bits`, without building it.
pub(crate) fn reduced_stream_len(entries: &[Entry], from: Layout, to_bits: u8) -> usize {
    let to = Layout {
        p: from.p,
        bits: to_bits,
    };
    if to == from {
        return stream_len(entries, from);
    }
    // Keys stay sorted under the shift: count distinct ones, then cost them.
    let shift = from.bits - to_bits;
    let mut count = 0u64;
    let mut previous = None;
    for &e in entries {
        let key = entry_key(e) >> shift;
        if previous != Some(key) {
            count += 1;
            previous = Some(key);
        }
    }
    let k = rice_k(to_bits, count);
    let mut bits = 0u64;
    let mut next = 0u64;
    // The largest extra of the current key, when its field is zero.
    let mut group_extra: Option<u64> = None;
    let mut previous = None;
    for &e in entries {
        let converted = from.convert(e, to);
        let key = entry_key(converted);
        if previous != Some(key) {
            if let Some(extra) = group_extra.take() {
                bits += extra + u64::from(extra < to.max_extra());
            }
            bits += rice_bits(key - next, k);
            next = key + 1;
            previous = Some(key);
        }
        if to.field(key) == 0 {
            let extra = entry_extra(converted);
            group_extra = Some(group_extra.map_or(extra, |x| x.max(extra)));
        }
    }
    if let Some(extra) = group_extra {
        bits += extra + u64::from(extra < to.max_extra());
    }
    bits.div_ceil(8) as usize
}

/// Rice-codes sorted, deduplicated entries with the canonical parameter.
#[cfg(test)]
pub(crate) fn encode_stream(entries: &[Entry], layout: Layout) -> Vec<u8> {
    encode_stream_onto(Vec::new(), entries, layout)
}

/// [`encode_stream`] appended to `out`.
pub(crate) fn encode_stream_onto(out: Vec<u8>, entries: &[Entry], layout: Layout) -> Vec<u8> {
    let k = rice_k(layout.bits, entries.len() as u64);
    let mut w = StreamWriter::new(out, layout, k, entries.len());
    for &e in entries {
        w.push(e);
    }
    w.finish()
}

/// Writes entries, in ascending key order, as a stream.
struct StreamWriter {
    bits: BitWriter,
    layout: Layout,
    k: u32,
    next: u64,
}

impl StreamWriter {
    fn new(out: Vec<u8>, layout: Layout, k: u32, expected: usize) -> Self {
        StreamWriter {
            // Rice costs about k + 1.5 bits a key; the extras rarely more than a bit.
            bits: BitWriter::appending(out, expected * (k as usize + 3) / 8 + 8),
            layout,
            k,
            next: 0,
        }
    }

    #[inline]
    fn push(&mut self, e: Entry) {
        let key = entry_key(e);
        debug_assert!(key >= self.next);
        self.bits.write_rice(key - self.next, self.k);
        if self.layout.field(key) == 0 {
            self.bits
                .write_unary_capped(entry_extra(e), self.layout.max_extra());
        }
        self.next = key + 1;
    }

    fn finish(self) -> Vec<u8> {
        self.bits.finish()
    }
}

/// Reads `count` entries from an untrusted stream, checking order, range, extras and padding.
pub(crate) struct StreamDecoder<'a> {
    reader: BitReader<'a>,
    layout: Layout,
    k: u32,
    left: u64,
    next: u64,
}

impl<'a> StreamDecoder<'a> {
    /// A decoder for `count` keys coded with the canonical Rice parameter.
    pub(crate) fn new(stream: &'a [u8], layout: Layout, count: u64) -> Result<Self> {
        let k = rice_k(layout.bits, count);
        if count > layout.key_limit() {
            return Err(Error::IndexOutOfRange {
                what: "sparse key count",
                index: count,
                limit: layout.key_limit() + 1,
            });
        }
        // Every key costs at least k + 1 bits: refuse impossible counts before reading.
        let needed = count.saturating_mul(u64::from(k) + 1);
        let available = stream.len() as u64 * 8;
        if needed > available {
            return Err(Error::Truncated {
                what: "sparse key stream",
                offset: 0,
                needed: needed.div_ceil(8) as usize,
                available: stream.len(),
            });
        }
        Ok(StreamDecoder {
            reader: BitReader::new(stream, "sparse key stream"),
            layout,
            k,
            left: count,
            next: 0,
        })
    }

    /// The next entry, or `None` after the last (having checked that the stream ends there).
    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry>> {
        if self.left == 0 {
            self.reader.finish()?;
            return Ok(None);
        }
        self.left -= 1;
        let limit = self.layout.key_limit();
        // The key must stay below the limit: gap <= limit - 1 - next.
        let max_gap = (limit - 1)
            .checked_sub(self.next)
            .ok_or(Error::IndexOutOfRange {
                what: "sparse key",
                index: self.next,
                limit,
            })?;
        let key = self.next + self.reader.read_rice(self.k, max_gap)?;
        let extra = if self.layout.field(key) == 0 {
            self.reader.read_unary_capped(self.layout.max_extra())?
        } else {
            0
        };
        self.next = key + 1;
        Ok(Some(entry(key, extra)))
    }

    /// Decodes every entry into `out`.
    pub(crate) fn read_all(mut self, out: &mut Vec<Entry>) -> Result<()> {
        out.reserve(self.left as usize);
        while let Some(e) = self.next_entry()? {
            out.push(e);
        }
        Ok(())
    }
}

/// Register index and rank of each register that holds a value, in index order, from sorted
/// entries (the first entry of each register has its largest rank).
pub(crate) fn registers(
    entries: &[Entry],
    layout: Layout,
) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut previous: Option<usize> = None;
    entries.iter().filter_map(move |&e| {
        let (index, rank) = layout.register(e);
        if previous == Some(index) {
            None
        } else {
            previous = Some(index);
            Some((index, rank))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49eb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn entries_give_the_redis_register_and_rank() {
        let mut s = 7;
        for p in [4u8, 10, 14, 18] {
            for bits in [p, p + 1, p + 4, 25, 32] {
                let layout = Layout { p, bits };
                for _ in 0..2000 {
                    let mut h = splitmix(&mut s);
                    // Force long zero runs sometimes so the extra path is exercised.
                    if h & 3 == 0 {
                        h &= !(low_mask(40) << p);
                    }
                    let e = layout.entry_for_hash(h);
                    assert!(entry_key(e) < layout.key_limit());
                    let (index, rank) = layout.register(e);
                    assert_eq!(index as u64, h & low_mask(u32::from(p)));
                    assert_eq!(rank, hash_rank(h, p), "p={p} bits={bits} h={h:#x}");
                }
            }
        }
    }

    #[test]
    fn conversion_equals_direct_entry() {
        let mut s = 11;
        for _ in 0..20_000 {
            let mut h = splitmix(&mut s);
            if h & 1 == 0 {
                h &= !(low_mask(30) << 6);
            }
            let from = Layout { p: 16, bits: 30 };
            for to in [
                Layout { p: 16, bits: 22 },
                Layout { p: 14, bits: 30 },
                Layout { p: 12, bits: 18 },
                Layout { p: 4, bits: 4 },
                Layout { p: 16, bits: 16 },
            ] {
                assert_eq!(
                    from.convert(from.entry_for_hash(h), to),
                    to.entry_for_hash(h),
                    "to={to:?} h={h:#x}"
                );
            }
        }
    }

    #[test]
    fn stream_round_trips_and_sizes_match() {
        let mut s = 3;
        for (p, bits, n) in [
            (14u8, 32u8, 1000usize),
            (14, 14, 3000),
            (10, 20, 50),
            (4, 8, 200),
        ] {
            let layout = Layout { p, bits };
            let mut entries: Vec<Entry> = (0..n)
                .map(|_| layout.entry_for_hash(splitmix(&mut s)))
                .collect();
            sort_dedup(&mut entries);
            let stream = encode_stream(&entries, layout);
            assert_eq!(stream.len(), stream_len(&entries, layout));
            let mut back = Vec::new();
            StreamDecoder::new(&stream, layout, entries.len() as u64)
                .unwrap()
                .read_all(&mut back)
                .unwrap();
            assert_eq!(back, entries);
            for to_bits in p..=bits {
                let to = Layout { p, bits: to_bits };
                let reduced = convert_all(&entries, layout, to);
                assert_eq!(
                    reduced_stream_len(&entries, layout, to_bits),
                    stream_len(&reduced, to)
                );
            }
        }
    }

    #[test]
    fn decoder_rejects_impossible_counts_without_reading() {
        let layout = Layout { p: 14, bits: 32 };
        assert!(matches!(
            StreamDecoder::new(&[0xff; 4], layout, 1_000_000),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            StreamDecoder::new(&[], Layout { p: 4, bits: 4 }, 17),
            Err(Error::IndexOutOfRange { .. })
        ));
    }
}
