//! Dense representation: one byte per register, plus a register histogram kept up to date by
//! inserts so that an estimate after inserts costs O(64), not O(m).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::wire::hll::DENSE_REGISTER_BITS;

/// Registers of a dense sketch.
#[derive(Clone)]
pub(crate) struct Dense {
    registers: Box<[u8]>,
    /// `histogram[v]` = number of registers holding `v`; valid only when `histogram_valid`.
    histogram: [u32; 64],
    /// Merges and decodes set many registers at once and do not pay for the histogram; an
    /// estimate counts it (without keeping it: estimates take `&self` and are cached), the next
    /// insert that changes a register counts and keeps it.
    histogram_valid: bool,
}

impl Dense {
    pub(crate) fn new(precision: u8) -> Self {
        let m = 1usize << precision;
        let mut histogram = [0u32; 64];
        histogram[0] = m as u32;
        Dense {
            registers: vec![0u8; m].into_boxed_slice(),
            histogram,
            histogram_valid: true,
        }
    }

    /// Registers as they are; the histogram is counted when first needed (an estimate, or an
    /// insert that changes a register), so a sketch decoded only to be merged never pays for it.
    pub(crate) fn from_registers(registers: Box<[u8]>) -> Self {
        Dense {
            registers,
            histogram: [0; 64],
            histogram_valid: false,
        }
    }

    pub(crate) fn registers(&self) -> &[u8] {
        &self.registers
    }

    /// Heap bytes of this value when boxed: registers plus the struct (with its histogram).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.registers.len() + core::mem::size_of::<Self>()
    }

    /// Raises register `index` to `rank`; true if it changed.
    #[inline]
    pub(crate) fn raise(&mut self, index: usize, rank: u8) -> bool {
        let Some(slot) = self.registers.get_mut(index) else {
            return false;
        };
        let old = *slot;
        if rank <= old {
            return false;
        }
        *slot = rank;
        if self.histogram_valid {
            self.histogram[usize::from(old & 63)] -= 1;
            self.histogram[usize::from(rank & 63)] += 1;
        } else {
            self.recount_histogram();
        }
        true
    }

    /// Counts the histogram after a merge or a decode left it unknown; inserts keep it from here.
    #[cold]
    #[inline(never)]
    fn recount_histogram(&mut self) {
        self.histogram = self.count_histogram();
        self.histogram_valid = true;
    }

    /// Register-wise maximum with `other` (same length); true if any register changed.
    pub(crate) fn merge_registers(&mut self, other: &[u8]) -> bool {
        debug_assert_eq!(self.registers.len(), other.len());
        // A branch-free max vectorizes; the change flag rides along as an OR of differences.
        let mut changed = 0u8;
        for (a, &b) in self.registers.iter_mut().zip(other) {
            let max = (*a).max(b);
            changed |= max ^ *a;
            *a = max;
        }
        if changed != 0 {
            self.histogram_valid = false;
        }
        changed != 0
    }

    /// The register histogram, recounted if a merge invalidated it.
    pub(crate) fn histogram(&self) -> [u32; 64] {
        if self.histogram_valid {
            self.histogram
        } else {
            self.count_histogram()
        }
    }

    fn count_histogram(&self) -> [u32; 64] {
        // Four interleaved tables so consecutive increments rarely hit the same counter.
        let mut tables = [[0u32; 64]; 4];
        let mut chunks = self.registers.chunks_exact(4);
        for c in &mut chunks {
            tables[0][usize::from(c[0] & 63)] += 1;
            tables[1][usize::from(c[1] & 63)] += 1;
            tables[2][usize::from(c[2] & 63)] += 1;
            tables[3][usize::from(c[3] & 63)] += 1;
        }
        for &r in chunks.remainder() {
            tables[0][usize::from(r & 63)] += 1;
        }
        let mut out = [0u32; 64];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = tables[0][i] + tables[1][i] + tables[2][i] + tables[3][i];
        }
        out
    }

    /// Registers that are not zero.
    pub(crate) fn nonzero(&self) -> u64 {
        self.registers.len() as u64 - u64::from(self.histogram()[0])
    }

    /// Registers of the same items at the coarser precision `to` (from `from`).
    ///
    /// Register `i` at `from` becomes register `i mod 2^to`; its rank there counts the zeros of the
    /// index bits that move into the rank word: `1 + tz(i >> to)` when those bits are not all zero,
    /// otherwise the old rank plus `from - to`.
    pub(crate) fn fold(&self, from: u8, to: u8) -> Dense {
        let mut out = vec![0u8; 1usize << to].into_boxed_slice();
        let mask = (1usize << to) - 1;
        for (i, &rank) in self.registers.iter().enumerate() {
            if rank == 0 {
                continue;
            }
            let new_rank = fold_rank(i >> to, rank, from - to);
            let slot = &mut out[i & mask];
            *slot = (*slot).max(new_rank);
        }
        Dense::from_registers(out)
    }

    /// Appends the registers packed six bits each, least significant bit first (Redis's layout).
    pub(crate) fn write_packed(&self, out: &mut Vec<u8>) {
        pack_registers(&self.registers, out);
    }

    /// Reads packed registers for precision `precision`, rejecting impossible values.
    pub(crate) fn read_packed(bytes: &[u8], precision: u8, what: &'static str) -> Result<Self> {
        let m = 1usize << precision;
        let expected = packed_len(precision);
        if bytes.len() != expected {
            return Err(Error::LengthMismatch {
                what,
                declared: expected as u64,
                actual: bytes.len() as u64,
            });
        }
        let max = max_rank(precision);
        let mut registers = vec![0u8; m].into_boxed_slice();
        // Four registers at a time in one u32 (SWAR), with no branch per register; `over` gets
        // a byte's top bit set by any register above `max` (registers are < 64, so adding
        // 127 - max never carries into the next byte), and is looked at once, at the end.
        let above = u32::from(127 - max) * 0x0101_0101;
        let mut over = 0u32;
        for (four, three) in registers.chunks_exact_mut(4).zip(bytes.chunks_exact(3)) {
            // Three bytes hold four registers.
            let word = u32::from(three[0]) | u32::from(three[1]) << 8 | u32::from(three[2]) << 16;
            let values = (word & 0x3f)
                | (word << 2 & 0x3f00)
                | (word << 4 & 0x3f_0000)
                | (word << 6 & 0x3f00_0000);
            over |= values + above;
            four.copy_from_slice(&values.to_le_bytes());
        }
        if over & 0x8080_8080 != 0 {
            let index = registers.iter().position(|&v| v > max).unwrap_or(0);
            return Err(Error::RegisterOutOfRange {
                index: index as u32,
                value: registers[index],
                max,
            });
        }
        Ok(Dense::from_registers(registers))
    }
}

/// Rank at a coarser precision of an item whose register index had `moved` (the index bits that
/// leave the index) and whose rank was `rank`, `shift` bits of precision lost.
#[inline]
pub(crate) fn fold_rank(moved: usize, rank: u8, shift: u8) -> u8 {
    if moved != 0 {
        1 + moved.trailing_zeros() as u8
    } else {
        rank + shift
    }
}

/// Largest register value at `precision`: the rank word has `64 - p` bits plus the forced one.
pub(crate) const fn max_rank(precision: u8) -> u8 {
    65 - precision
}

/// Bytes of `2^precision` six-bit registers.
pub(crate) const fn packed_len(precision: u8) -> usize {
    ((1usize << precision) * DENSE_REGISTER_BITS as usize) / 8
}

/// Packs registers (each < 64) six bits each, least significant bit first.
pub(crate) fn pack_registers(registers: &[u8], out: &mut Vec<u8>) {
    // Written into place, six bytes per eight registers, with no capacity check per group.
    let start = out.len();
    out.resize(start + registers.len() / 8 * 6, 0);
    for (six, eight) in out[start..]
        .chunks_exact_mut(6)
        .zip(registers.chunks_exact(8))
    {
        // The eight registers as one u64; in each 32-bit half the four registers move down to
        // their 6-bit fields, then the two 24-bit halves close up.
        let v = u64::from_le_bytes([
            eight[0], eight[1], eight[2], eight[3], eight[4], eight[5], eight[6], eight[7],
        ]);
        let halves = (v & 0x0000_003f_0000_003f)
            | (v >> 2 & 0x0000_0fc0_0000_0fc0)
            | (v >> 4 & 0x0003_f000_0003_f000)
            | (v >> 6 & 0x00fc_0000_00fc_0000);
        let word = (halves & 0xff_ffff) | (halves >> 8 & 0xffff_ff00_0000);
        six.copy_from_slice(&word.to_le_bytes()[..6]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        let regs: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 52) as u8).collect();
        let mut packed = Vec::new();
        pack_registers(&regs, &mut packed);
        assert_eq!(packed.len(), packed_len(10));
        let dense = Dense::read_packed(&packed, 10, "t").unwrap();
        assert_eq!(dense.registers(), &regs[..]);
    }

    #[test]
    fn histogram_tracks_inserts_and_merges() {
        let mut a = Dense::new(8);
        assert!(a.raise(3, 5));
        assert!(!a.raise(3, 4));
        assert_eq!(a.histogram(), a.count_histogram());
        let mut other = vec![0u8; 256];
        other[7] = 9;
        assert!(a.merge_registers(&other));
        assert!(!a.merge_registers(&other));
        assert_eq!(a.histogram()[9], 1);
        assert_eq!(a.histogram()[5], 1);
        assert_eq!(a.nonzero(), 2);
        // After the merge, the first insert that changes a register counts the histogram again
        // and the ones after it keep it.
        assert!(a.raise(8, 2));
        assert!(a.raise(8, 3));
        assert!(a.histogram_valid);
        assert_eq!(a.histogram, a.count_histogram());
        assert_eq!(
            (a.histogram[0], a.histogram[3], a.histogram[5]),
            (253, 1, 1)
        );
    }

    /// A decoded sketch counts its histogram when first asked, then keeps it through inserts.
    #[test]
    fn decoded_registers_count_their_histogram_when_needed() {
        let regs: Vec<u8> = (0..256u32).map(|i| (i % 7) as u8).collect();
        let mut d = Dense::from_registers(regs.clone().into_boxed_slice());
        assert!(!d.histogram_valid);
        assert_eq!(d.histogram()[6], 36);
        assert_eq!(d.nonzero(), 256 - 37);
        assert!(!d.raise(1, 1));
        assert!(!d.histogram_valid);
        assert!(d.raise(0, 40));
        assert!(d.histogram_valid);
        assert!(d.raise(7, 41));
        let (zeros, at_40, at_41) = (d.histogram[0], d.histogram[40], d.histogram[41]);
        assert_eq!((zeros, at_40, at_41), (35, 1, 1));
        assert_eq!(d.histogram, d.count_histogram());
    }

    /// At every precision: any register up to the maximum rank round-trips, and the first
    /// register above it (in any lane of those packed together) is the one reported.
    #[test]
    fn packing_checks_every_lane_at_every_precision() {
        for precision in 4..=18u8 {
            let m = 1usize << precision;
            let max = max_rank(precision);
            let regs: Vec<u8> = (0..m)
                .map(|i| ((i * 37 + 11) % (usize::from(max) + 1)) as u8)
                .collect();
            let mut packed = Vec::new();
            pack_registers(&regs, &mut packed);
            let dense = Dense::read_packed(&packed, precision, "t").unwrap();
            assert_eq!(dense.registers(), &regs[..], "precision {precision}");
            // Every lane of the eight packed together (m >= 16), plus a few spread out.
            let lanes = (0..8).map(|lane| (8 + lane, if lane % 2 == 0 { max + 1 } else { 63 }));
            let spread = [
                (m - 1, 63),
                (m / 2 + 1, 63),
                (m / 3 + 2, max + 1),
                (3, max + 1),
            ];
            for (first, value) in lanes.chain(spread) {
                let mut bad = regs.clone();
                bad[first] = value;
                // A later one too: the first is reported.
                bad[m - 1] = bad[m - 1].max(max + 1);
                let mut packed = Vec::new();
                pack_registers(&bad, &mut packed);
                match Dense::read_packed(&packed, precision, "t") {
                    Err(Error::RegisterOutOfRange {
                        index,
                        value: v,
                        max: mx,
                    }) => {
                        assert_eq!(
                            (index as usize, v, mx),
                            (first, value, max),
                            "precision {precision}"
                        );
                    }
                    other => panic!(
                        "precision {precision}, register {first} = {value}: {:?}",
                        other.err()
                    ),
                }
            }
        }
    }

    #[test]
    fn rejects_impossible_register_values() {
        let regs = vec![63u8; 16];
        let mut packed = Vec::new();
        pack_registers(&regs, &mut packed);
        assert!(matches!(
            Dense::read_packed(&packed, 4, "t"),
            Err(Error::RegisterOutOfRange {
                index: 0,
                value: 63,
                max: 61
            })
        ));
    }
}
