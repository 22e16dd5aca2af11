//! Bit streams, least-significant bit first, for the Rice-coded parts of the formats.
//!
//! Bit `i` of the stream is bit `i % 8` of byte `i / 8`. A stream ends with the fewest bytes that
//! hold it; unused high bits of the last byte are zero (the reader rejects anything else, so every
//! stream has exactly one encoding).

use alloc::vec::Vec;

use crate::error::{Error, Result};

/// Appends bits to a byte vector.
pub(crate) struct BitWriter {
    /// Written bytes, followed by at least 8 bytes of zero slack so a whole word can always be
    /// stored at `pos`.
    out: Vec<u8>,
    /// Bytes complete in `out`.
    pos: usize,
    /// Bits not yet stored, in the low `len` bits (`len < 8` between calls).
    acc: u64,
    len: u32,
}

impl BitWriter {
    #[cfg(test)]
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self::appending(Vec::new(), bytes)
    }

    /// A writer whose stream follows the bytes already in `out`, with room for about `bytes`
    /// more ([`BitWriter::finish`] gives `out` back, extended): no copy of the stream afterwards.
    pub(crate) fn appending(mut out: Vec<u8>, bytes: usize) -> Self {
        let pos = out.len();
        out.reserve(bytes + 8);
        out.resize(pos + 8, 0);
        BitWriter {
            out,
            pos,
            acc: 0,
            len: 0,
        }
    }

    /// Writes the low `bits` bits of `value` (`bits <= 56`).
    #[inline]
    pub(crate) fn write(&mut self, value: u64, bits: u32) {
        debug_assert!(bits <= 56 && (bits == 0 || value >> bits == 0));
        self.acc |= value << self.len;
        self.len += bits;
        if self.out.len() < self.pos + 8 {
            self.out.resize(self.pos + 8 + self.out.len() / 2, 0);
        }
        self.out[self.pos..self.pos + 8].copy_from_slice(&self.acc.to_le_bytes());
        let whole = self.len / 8;
        self.pos += whole as usize;
        self.len -= whole * 8;
        // `whole * 8` may be 64 - len only when len was 0..7 and bits 57+; excluded above.
        self.acc = if whole == 8 {
            0
        } else {
            self.acc >> (whole * 8)
        };
    }

    /// Writes `count` zero bits.
    #[inline]
    pub(crate) fn write_zeros(&mut self, mut count: u64) {
        while count > 56 {
            self.write(0, 56);
            count -= 56;
        }
        self.write(0, count as u32);
    }

    /// Writes `q` in unary: `q` zero bits, then a one bit.
    #[inline]
    pub(crate) fn write_unary(&mut self, q: u64) {
        if q < 56 {
            self.write(1 << q, q as u32 + 1);
        } else {
            self.write_zeros(q);
            self.write(1, 1);
        }
    }

    /// Writes `q <= cap` in unary, leaving out the closing one bit when `q == cap`.
    #[inline]
    pub(crate) fn write_unary_capped(&mut self, q: u64, cap: u64) {
        debug_assert!(q <= cap);
        if q < cap {
            self.write_unary(q);
        } else {
            self.write_zeros(q);
        }
    }

    /// Writes `value` with Rice parameter `k` (`k <= 32`): `value >> k` in unary, then the low
    /// `k` bits.
    #[inline]
    pub(crate) fn write_rice(&mut self, value: u64, k: u32) {
        let q = value >> k;
        let low = value & low_mask(k);
        if q + 1 + u64::from(k) <= 56 {
            // One write: the unary part, its closing one, then the low bits.
            self.write((low << 1 | 1) << q, q as u32 + 1 + k);
        } else {
            self.write_unary(q);
            self.write(low, k);
        }
    }

    /// The bytes, with the last one zero-padded.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let used = self.pos + usize::from(self.len > 0);
        self.out.truncate(used);
        self.out
    }
}

/// Bits needed to Rice-code `value` with parameter `k`.
#[inline]
pub(crate) fn rice_bits(value: u64, k: u32) -> u64 {
    (value >> k) + 1 + u64::from(k)
}

#[inline]
pub(crate) fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Reads bits from untrusted bytes; every read is bounds-checked.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    next: usize,
    acc: u64,
    len: u32,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        BitReader {
            data,
            next: 0,
            acc: 0,
            len: 0,
            what,
        }
    }

    #[inline]
    fn refill(&mut self) {
        let rest = &self.data[self.next..];
        if let Some(word) = rest.first_chunk::<8>() {
            // Take as many whole bytes as fit above the bits we hold.
            let take = (63 - self.len) / 8;
            self.acc |= u64::from_le_bytes(*word) << self.len;
            // Bits above `len + 8 * take` came from bytes we did not take: clear them.
            self.len += take * 8;
            self.acc &= low_mask(self.len);
            self.next += take as usize;
        } else {
            // Keep `len <= 63`: every shift by `len` or by a count below it stays in range.
            for &b in rest {
                if self.len > 55 {
                    break;
                }
                self.acc |= u64::from(b) << self.len;
                self.len += 8;
                self.next += 1;
            }
        }
    }

    fn truncated(&self, needed_bits: u64) -> Error {
        Error::Truncated {
            what: self.what,
            offset: self.next,
            needed: needed_bits.div_ceil(8) as usize,
            available: 0,
        }
    }

    /// Reads `bits <= 32` bits.
    #[inline]
    pub(crate) fn read(&mut self, bits: u32) -> Result<u64> {
        if self.len < bits {
            self.refill();
            if self.len < bits {
                return Err(self.truncated(u64::from(bits - self.len)));
            }
        }
        let value = self.acc & low_mask(bits);
        self.acc = if bits >= 64 { 0 } else { self.acc >> bits };
        self.len -= bits;
        Ok(value)
    }

    /// Reads a unary value (zeros closed by a one), failing once it would exceed `max`.
    #[inline]
    pub(crate) fn read_unary(&mut self, max: u64) -> Result<u64> {
        let mut count = 0u64;
        loop {
            if self.len == 0 {
                self.refill();
                if self.len == 0 {
                    return Err(self.truncated(1));
                }
            }
            let zeros = self.acc.trailing_zeros();
            if zeros < self.len {
                count += u64::from(zeros);
                if count > max {
                    return Err(self.too_large(count, max));
                }
                self.acc >>= zeros + 1;
                self.len -= zeros + 1;
                return Ok(count);
            }
            count += u64::from(self.len);
            self.acc = 0;
            self.len = 0;
            if count > max {
                return Err(self.too_large(count, max));
            }
        }
    }

    /// Reads a unary value of at most `cap`; a value equal to `cap` has no closing one bit.
    #[inline]
    pub(crate) fn read_unary_capped(&mut self, cap: u64) -> Result<u64> {
        let mut count = 0u64;
        while count < cap {
            if self.read(1)? == 1 {
                return Ok(count);
            }
            count += 1;
        }
        Ok(cap)
    }

    /// Reads a Rice-coded value with parameter `k`, failing once it would exceed `max`.
    #[inline]
    pub(crate) fn read_rice(&mut self, k: u32, max: u64) -> Result<u64> {
        let mut zeros = self.acc.trailing_zeros();
        if zeros + 1 + k > self.len {
            self.refill();
            zeros = self.acc.trailing_zeros();
        }
        let value = if zeros + 1 + k <= self.len {
            // The whole code is in hand.
            let low = (self.acc >> (zeros + 1)) & low_mask(k);
            let used = zeros + 1 + k;
            self.acc = if used >= 64 { 0 } else { self.acc >> used };
            self.len -= used;
            u64::from(zeros) << k | low
        } else {
            let q = self.read_unary(max >> k)?;
            (q << k) | self.read(k)?
        };
        if value > max {
            return Err(self.too_large(value, max));
        }
        Ok(value)
    }

    fn too_large(&self, value: u64, max: u64) -> Error {
        Error::IndexOutOfRange {
            what: self.what,
            index: value,
            limit: max.saturating_add(1),
        }
    }

    /// Succeeds only at the end of the stream: no whole byte left, padding bits zero.
    pub(crate) fn finish(&self) -> Result<()> {
        let whole_bytes = (self.len / 8) as usize + (self.data.len() - self.next);
        if whole_bytes > 0 {
            return Err(Error::TrailingBytes {
                what: self.what,
                count: whole_bytes,
            });
        }
        if self.acc != 0 {
            return Err(Error::NonCanonical {
                what: "nonzero padding bits",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_mixed_codes() {
        let mut w = BitWriter::with_capacity(0);
        let values: Vec<u64> = (0..500u64).map(|i| (i * 2654435761) % 100_000).collect();
        for (i, &v) in values.iter().enumerate() {
            w.write_rice(v, (i % 17) as u32);
            w.write_unary_capped((i % 5) as u64, 4);
            w.write(v & 0x7, 3);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes, "test");
        for (i, &v) in values.iter().enumerate() {
            assert_eq!(r.read_rice((i % 17) as u32, u64::MAX >> 1).unwrap(), v);
            assert_eq!(r.read_unary_capped(4).unwrap(), ((i % 5) as u64).min(4));
            assert_eq!(r.read(3).unwrap(), v & 0x7);
        }
        r.finish().unwrap();
    }

    #[test]
    fn a_code_ending_on_the_last_bit_of_a_short_tail() {
        // Seven bytes come in one refill, the eighth alone: the reader must never hold 64 bits
        // (a shift by 64 overflowed here; found by fuzzing).
        let mut r = BitReader::new(&[0, 0, 0, 0, 0, 0, 0, 0x80], "t");
        assert_eq!(r.read_rice(0, u64::MAX >> 1).unwrap(), 63);
        r.finish().unwrap();
        let mut r = BitReader::new(&[0, 0, 0, 0, 0, 0, 0, 0x80], "t");
        assert_eq!(r.read_unary(100).unwrap(), 63);
    }

    #[test]
    fn rejects_padding_trailing_and_overlong_values() {
        let mut w = BitWriter::with_capacity(0);
        w.write(0b101, 3);
        let mut bytes = w.finish();
        assert_eq!(bytes, [0b101]);

        let mut r = BitReader::new(&bytes, "t");
        r.read(3).unwrap();
        r.finish().unwrap();

        bytes[0] |= 0x80;
        let mut r = BitReader::new(&bytes, "t");
        r.read(3).unwrap();
        assert!(matches!(r.finish(), Err(Error::NonCanonical { .. })));

        let mut r = BitReader::new(&[0b101, 0], "t");
        r.read(3).unwrap();
        assert!(matches!(
            r.finish(),
            Err(Error::TrailingBytes { count: 1, .. })
        ));

        // 40 zero bits: a unary value above a small max is refused before the stream ends.
        let mut r = BitReader::new(&[0; 5], "t");
        assert!(matches!(
            r.read_unary(10),
            Err(Error::IndexOutOfRange { .. })
        ));
        let mut r = BitReader::new(&[0; 5], "t");
        assert!(matches!(r.read_unary(1000), Err(Error::Truncated { .. })));
    }
}
