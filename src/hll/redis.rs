//! The Redis HyperLogLog string, byte for byte (`hyperloglog.c`, Redis >= 5).
//!
//! ```text
//! offset  size  field
//! 0       4     "HYLL"
//! 4       1     encoding: 0 dense, 1 sparse
//! 5       3     unused, zero
//! 8       8     cached cardinality, little-endian; bit 7 of byte 15 set = stale
//! 16      ...   registers
//! ```
//! Dense: 16384 six-bit registers, least significant bit first: exactly 12288 bytes.
//! Sparse: opcodes whose runs cover the 16384 registers exactly once, in order:
//! `00xxxxxx` ZERO (1..=64 zero registers), `01xxxxxx yyyyyyyy` XZERO (1..=16384 zero registers),
//! `1vvvvvxx` VAL (1..=4 registers holding value 1..=32).

use alloc::vec::Vec;

use crate::codec::Reader;
use crate::error::{Error, Result};
use crate::wire::redis::*;

/// Where sparse opcodes go: counted, and written when `out` is present.
struct Opcodes<'a> {
    len: usize,
    out: Option<&'a mut Vec<u8>>,
}

impl Opcodes<'_> {
    fn emit(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        if let Some(out) = self.out.as_deref_mut() {
            out.extend_from_slice(bytes);
        }
    }

    /// The shortest opcodes for a run of zero registers: ZERO up to 64, XZERO beyond.
    fn zeros(&mut self, mut run: u32) {
        while run > 0 {
            if run <= ZERO_MAX_LEN {
                self.emit(&[(run - 1) as u8]);
                run = 0;
            } else {
                let chunk = run.min(XZERO_MAX_LEN);
                self.emit(&[0x40 | ((chunk - 1) >> 8) as u8, (chunk - 1) as u8]);
                run -= chunk;
            }
        }
    }

    fn val(&mut self, value: u8, run: u32) {
        self.emit(&[0x80 | (value - 1) << 2 | (run - 1) as u8]);
    }
}

/// Appends the sparse opcodes for the non-zero registers given as ascending `(index, value)`
/// pairs, among `registers` registers; `None` if a value is above 32 or the opcodes pass `limit`
/// bytes (Redis would store them dense). With `out` absent only the length is computed.
pub(crate) fn sparse_opcodes(
    nonzero: impl Iterator<Item = (usize, u8)>,
    registers: u32,
    limit: usize,
    out: Option<&mut Vec<u8>>,
) -> Option<usize> {
    let mut ops = Opcodes { len: 0, out };
    let mut next = 0u32;
    // The VAL run being built: (value, length).
    let mut run: Option<(u8, u32)> = None;
    for (index, value) in nonzero {
        let index = index as u32;
        if value > VAL_MAX_VALUE || ops.len > limit {
            return None;
        }
        match run {
            Some((v, len)) if index == next && v == value && len < VAL_MAX_LEN => {
                run = Some((v, len + 1));
            }
            _ => {
                if let Some((v, len)) = run {
                    ops.val(v, len);
                }
                ops.zeros(index - next);
                run = Some((value, 1));
            }
        }
        next = index + 1;
    }
    if let Some((v, len)) = run {
        ops.val(v, len);
    }
    ops.zeros(registers - next);
    (ops.len <= limit).then_some(ops.len)
}

/// Length of the Redis sparse string (header included) for these registers, if representable in
/// at most `limit` bytes.
pub(crate) fn sparse_string_len(
    nonzero: impl Iterator<Item = (usize, u8)>,
    registers: u32,
    limit: usize,
) -> Option<usize> {
    sparse_opcodes(nonzero, registers, limit.saturating_sub(HEADER_LEN), None)
        .map(|len| HEADER_LEN + len)
}

/// The 16-byte header with a stale cached cardinality, so Redis recomputes it.
fn header(encoding: u8) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = encoding;
    h[15] = CACHE_INVALID_BIT;
    h
}

/// A Redis string for the 16384 registers given (dense) and their non-zero pairs (for sparse).
pub(crate) fn encode(registers: &[u8]) -> Vec<u8> {
    debug_assert_eq!(registers.len(), REGISTERS as usize);
    let nonzero = || {
        registers
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(i, &v)| (i, v))
    };
    if let Some(len) = sparse_string_len(nonzero(), REGISTERS, SPARSE_MAX_BYTES) {
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&header(ENCODING_SPARSE));
        sparse_opcodes(nonzero(), REGISTERS, usize::MAX, Some(&mut out));
        return out;
    }
    let mut out = Vec::with_capacity(DENSE_LEN);
    out.extend_from_slice(&header(ENCODING_DENSE));
    super::dense::pack_registers(registers, &mut out);
    out
}

/// A decoded Redis string.
pub(crate) enum Decoded<'a> {
    /// The packed dense registers (length already checked).
    Dense(&'a [u8]),
    /// Non-zero registers as ascending `(index, value)`.
    Sparse(Vec<(usize, u8)>),
}

/// Validates a Redis HyperLogLog string completely before any of it is used.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded<'_>> {
    let mut r = Reader::new(bytes);
    let magic: [u8; 4] = r.array("Redis HLL header")?;
    if magic != MAGIC {
        return Err(Error::BadMagic {
            expected: MAGIC,
            found: magic,
        });
    }
    let encoding = r.u8("Redis HLL header")?;
    let unused: [u8; 3] = r.array("Redis HLL header")?;
    if unused != [0; 3] {
        return Err(Error::NonCanonical {
            what: "Redis HLL header bytes 5..8 must be zero",
        });
    }
    // The cached cardinality (valid or stale) is ignored: we always count from the registers.
    let _cached: [u8; 8] = r.array("Redis HLL header")?;
    match encoding {
        ENCODING_DENSE => {
            if bytes.len() != DENSE_LEN {
                return Err(Error::LengthMismatch {
                    what: "Redis dense HLL length",
                    declared: DENSE_LEN as u64,
                    actual: bytes.len() as u64,
                });
            }
            Ok(Decoded::Dense(r.rest()))
        }
        ENCODING_SPARSE => decode_sparse(r.rest()).map(Decoded::Sparse),
        value => Err(Error::UnknownEncoding {
            what: "Redis HLL encoding",
            value,
        }),
    }
}

fn decode_sparse(ops: &[u8]) -> Result<Vec<(usize, u8)>> {
    // Every run length is checked against the registers left before it is applied: a crafted
    // run can neither overflow the index (CVE-2025-32023) nor cover a register twice.
    let mut nonzero = Vec::new();
    let mut index = 0u32;
    let mut i = 0usize;
    while i < ops.len() {
        let op = ops[i];
        let (run, value, width) = match op >> 6 {
            0b00 => (u32::from(op & 0x3f) + 1, 0u8, 1usize),
            0b01 => {
                let Some(&low) = ops.get(i + 1) else {
                    return Err(Error::Truncated {
                        what: "Redis sparse XZERO opcode",
                        offset: HEADER_LEN + i,
                        needed: 2,
                        available: 1,
                    });
                };
                ((u32::from(op & 0x3f) << 8 | u32::from(low)) + 1, 0, 2)
            }
            _ => (u32::from(op & 0x3) + 1, ((op >> 2) & 0x1f) + 1, 1),
        };
        if run > REGISTERS - index {
            return Err(Error::RunOverflow {
                start: index,
                run,
                registers: REGISTERS,
            });
        }
        if value != 0 {
            for j in index..index + run {
                nonzero.push((j as usize, value));
            }
        }
        index += run;
        i += width;
    }
    if index != REGISTERS {
        return Err(Error::RunShort {
            covered: index,
            registers: REGISTERS,
        });
    }
    Ok(nonzero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn empty_registers_make_redis_empty_string() {
        let s = encode(&vec![0u8; REGISTERS as usize]);
        // Redis's createHLLObject: header + one XZERO of 16384.
        assert_eq!(s.len(), 18);
        assert_eq!(&s[16..], &[0x7f, 0xff]);
    }

    #[test]
    fn opcodes_pick_the_shortest_form() {
        let mut regs = vec![0u8; REGISTERS as usize];
        regs[0] = 3;
        regs[1] = 3;
        regs[66] = 33; // forces dense
        assert_eq!(encode(&regs).len(), DENSE_LEN);
        regs[66] = 1;
        let s = encode(&regs);
        // VAL(3,2) ZERO(64) VAL(1,1) XZERO(16317)
        assert_eq!(
            &s[16..],
            &[
                0x80 | 2 << 2 | 1,
                63,
                0x80,
                0x40 | (16316 >> 8) as u8,
                16316u32 as u8
            ]
        );
        match decode(&s).ok().unwrap() {
            Decoded::Sparse(nz) => assert_eq!(nz, vec![(0, 3), (1, 3), (66, 1)]),
            Decoded::Dense(_) => panic!("expected sparse"),
        }
    }

    #[test]
    fn rejects_the_cve_2025_32023_shape() {
        // XZERO runs summing past 16384 and past i32: every run is checked before it is added.
        let mut s = header(ENCODING_SPARSE).to_vec();
        for _ in 0..200_000 {
            s.extend_from_slice(&[0x7f, 0xff]);
        }
        s.push(0x80);
        assert!(matches!(
            decode(&s),
            Err(Error::RunOverflow {
                start: 16384,
                run: 16384,
                ..
            })
        ));
    }
}
