//! Ground floor of every wire format: a bounds-checked byte reader and little-endian writers.
//!
//! Families encode their own payloads with these; the snapshot envelope frames the payloads. Every
//! read checks the remaining length first and reports what it was reading, so no decoder built on
//! this can index past its input or allocate more than its input justifies.

pub(crate) mod bits;

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::wire;

/// A cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::Truncated {
                what,
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16_le(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32_le(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64_le(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads an unsigned LEB128 varint of at most 32 bits, in its one canonical (shortest) form.
    pub(crate) fn varint_u32(&mut self, what: &'static str) -> Result<u32> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..wire::VARINT_U32_MAX_LEN {
            let byte = self.u8(what).map_err(|_| Error::Truncated {
                what,
                offset: start,
                needed: i + 1,
                available: i,
            })?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(Error::NonCanonical {
                        what: "overlong varint",
                    });
                }
                return u32::try_from(value).map_err(|_| Error::NonCanonical {
                    what: "varint above 32 bits",
                });
            }
        }
        Err(Error::NonCanonical {
            what: "varint longer than 5 bytes",
        })
    }

    /// Reads an unsigned LEB128 varint of at most 64 bits (10 bytes), in its shortest form.
    pub(crate) fn varint_u64(&mut self, what: &'static str) -> Result<u64> {
        let value = self.varint_u128(what, 10)?;
        u64::try_from(value).map_err(|_| Error::NonCanonical {
            what: "varint above 64 bits",
        })
    }

    /// Reads a zigzag-encoded signed varint of at most 64 bits.
    pub(crate) fn zigzag_i64(&mut self, what: &'static str) -> Result<i64> {
        let z = self.varint_u64(what)?;
        Ok((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    /// Reads a zigzag-encoded signed varint of at most 128 bits (19 bytes).
    pub(crate) fn zigzag_i128(&mut self, what: &'static str) -> Result<i128> {
        let z = self.varint_u128(what, 19)?;
        Ok((z >> 1) as i128 ^ -((z & 1) as i128))
    }

    /// Unsigned LEB128 of at most `max_len` bytes, shortest form only.
    fn varint_u128(&mut self, what: &'static str, max_len: usize) -> Result<u128> {
        let start = self.pos;
        let mut value: u128 = 0;
        for i in 0..max_len {
            let byte = self.u8(what).map_err(|_| Error::Truncated {
                what,
                offset: start,
                needed: i + 1,
                available: i,
            })?;
            let bits = u128::from(byte & 0x7f);
            let shift = 7 * i as u32;
            // The 19th byte has room for 2 of its 7 bits.
            if shift > 121 && bits >> (128 - shift) != 0 {
                return Err(Error::NonCanonical {
                    what: "varint above 128 bits",
                });
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(Error::NonCanonical {
                        what: "overlong varint",
                    });
                }
                return Ok(value);
            }
        }
        Err(Error::NonCanonical {
            what: "varint too long",
        })
    }

    /// A varint length followed by that many bytes.
    pub(crate) fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = self.varint_u32(what)? as usize;
        self.bytes(len, what)
    }

    /// Succeeds only if every byte was consumed.
    pub(crate) fn finish(&self, what: &'static str) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::TrailingBytes { what, count }),
        }
    }
}

/// Appends an unsigned LEB128 varint.
pub(crate) fn put_varint_u32(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends an unsigned LEB128 varint of a `u64`.
pub(crate) fn put_varint_u64(out: &mut Vec<u8>, value: u64) {
    put_varint_u128(out, u128::from(value));
}

fn put_varint_u128(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a signed integer zigzag-encoded (0, -1, 1, -2, ... as 0, 1, 2, 3, ...).
pub(crate) fn put_zigzag_i64(out: &mut Vec<u8>, value: i64) {
    put_varint_u64(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends a 128-bit signed integer zigzag-encoded.
pub(crate) fn put_zigzag_i128(out: &mut Vec<u8>, value: i128) {
    put_varint_u128(out, ((value << 1) ^ (value >> 127)) as u128);
}

/// Encoded length of a varint.
pub(crate) fn varint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}

/// Appends a varint length and the bytes.
pub(crate) fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

/// How a sketch family writes and reads itself; the snapshot envelope dispatches on `FAMILY`.
///
/// `params` are the creation parameters (fixed for the sketch's life, compared on merge);
/// `payload` is the state. Both are owned byte formats, documented in docs/FORMAT.md.
pub(crate) trait FamilyCodec: Sized {
    /// The family id on the wire.
    const FAMILY: u8;
    fn encode_params(&self, out: &mut Vec<u8>);
    fn encode_payload(&self, out: &mut Vec<u8>);
    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self>;
}

/// A sketch on its own, outside an envelope:
/// `[format version u8][family u8][varint params length][params][payload]`.
pub(crate) fn to_bare_bytes<F: FamilyCodec>(sketch: &F) -> Vec<u8> {
    let mut params = Vec::new();
    sketch.encode_params(&mut params);
    let mut out = Vec::with_capacity(3 + params.len());
    out.push(wire::BARE_FORMAT_VERSION);
    out.push(F::FAMILY);
    put_length_prefixed(&mut out, &params);
    sketch.encode_payload(&mut out);
    out
}

/// Reads [`to_bare_bytes`] output, checking version and family.
pub(crate) fn from_bare_bytes<F: FamilyCodec>(bytes: &[u8]) -> Result<F> {
    let (family, params, payload) = read_bare(bytes)?;
    if family != F::FAMILY {
        if wire::family::is_known(family) {
            return Err(Error::ParameterMismatch {
                what: "sketch family",
                left: u64::from(F::FAMILY),
                right: u64::from(family),
            });
        }
        return Err(Error::UnknownFamily { id: family });
    }
    F::decode_parts(params, payload)
}

/// Splits a sketch on its own into family id, params and payload, checking the version.
pub(crate) fn read_bare(bytes: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let mut r = Reader::new(bytes);
    let version = r.u8("sketch format version")?;
    if version != wire::BARE_FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            found: u16::from(version),
            supported: u16::from(wire::BARE_FORMAT_VERSION),
        });
    }
    let family = r.u8("sketch family")?;
    let params = r.length_prefixed("sketch params")?;
    Ok((family, params, r.rest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong_forms() {
        for value in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut out = Vec::new();
            put_varint_u32(&mut out, value);
            assert_eq!(out.len(), varint_len(value));
            let mut r = Reader::new(&out);
            assert_eq!(r.varint_u32("v").unwrap(), value);
            r.finish("v").unwrap();
        }
        // 0 written in two bytes.
        assert!(matches!(
            Reader::new(&[0x80, 0x00]).varint_u32("v"),
            Err(Error::NonCanonical { .. })
        ));
        // 2^32 does not fit.
        assert!(matches!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x10]).varint_u32("v"),
            Err(Error::NonCanonical { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x80, 0x80]).varint_u32("v"),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn wide_varints_and_zigzag_round_trip() {
        for value in [0u64, 1, 127, 128, u64::from(u32::MAX) + 1, u64::MAX] {
            let mut out = Vec::new();
            put_varint_u64(&mut out, value);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint_u64("v").unwrap(), value);
            r.finish("v").unwrap();
        }
        for value in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_zigzag_i64(&mut out, value);
            assert_eq!(Reader::new(&out).zigzag_i64("v").unwrap(), value);
        }
        for value in [0i128, -1, i128::from(i64::MIN) * 3, i128::MIN, i128::MAX] {
            let mut out = Vec::new();
            put_zigzag_i128(&mut out, value);
            assert!(out.len() <= 19);
            assert_eq!(Reader::new(&out).zigzag_i128("v").unwrap(), value);
        }
        // 2^64 does not fit a u64; an eleventh byte never fits.
        let mut big = Vec::new();
        put_varint_u128(&mut big, 1 << 64);
        assert!(matches!(
            Reader::new(&big).varint_u64("v"),
            Err(Error::NonCanonical { .. })
        ));
        assert!(matches!(
            Reader::new(&[0xff; 11]).varint_u64("v"),
            Err(Error::NonCanonical { .. })
        ));
        assert!(matches!(
            Reader::new(&[0xff; 20]).zigzag_i128("v"),
            Err(Error::NonCanonical { .. })
        ));
        // Bits beyond 128 in the 19th byte.
        let mut over = alloc::vec![0xffu8; 18];
        over.push(0x7f);
        assert!(matches!(
            Reader::new(&over).zigzag_i128("v"),
            Err(Error::NonCanonical { .. })
        ));
    }

    #[test]
    fn reads_are_bounds_checked() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16_le("x").unwrap(), 0x0201);
        assert!(matches!(
            r.u32_le("y"),
            Err(Error::Truncated {
                what: "y",
                offset: 2,
                needed: 4,
                available: 1
            })
        ));
        assert_eq!(
            r.finish("z"),
            Err(Error::TrailingBytes {
                what: "z",
                count: 1
            })
        );
    }
}
