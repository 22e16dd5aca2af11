//! The fixed, seeded hash every sketch uses.
//!
//! edgesketch hashes items with **MurmurHash64A** (Austin Appleby), seeded with
//! [`HLL_SEED`] = `0xadc83b19`: exactly the function and seed Redis uses for `PFADD`. The hash runs
//! over the item's raw bytes and reads 8-byte blocks as little-endian words on every platform, so
//! x86_64, aarch64 and wasm32 produce identical hashes (and therefore identical sketch bytes).
//!
//! # How items become bytes
//! The sketches take `&[u8]` and never guess an encoding:
//! - strings: their UTF-8 bytes (`"user-42".as_bytes()`). This is what Redis hashes for
//!   `PFADD key user-42`, so counts agree with Redis member for member.
//! - numbers: whatever bytes the caller chooses, and it must choose the same everywhere. For parity
//!   with Redis (whose arguments are strings), insert the decimal text (`42.to_string()`); for speed
//!   in a closed system, insert `42u64.to_le_bytes()`. The two count as different items.

/// The seed Redis passes to MurmurHash64A for HyperLogLog (`hllPatLen` in `hyperloglog.c`).
pub const HLL_SEED: u32 = 0xadc8_3b19;

const M: u64 = 0xc6a4_a793_5bd1_e995;
const R: u32 = 47;

/// MurmurHash64A of `bytes` with `seed`, bit-identical to the C reference and to Redis.
///
/// ```
/// use edgesketch::hash::{murmur64a, HLL_SEED};
/// assert_eq!(murmur64a(b"", HLL_SEED), murmur64a(&[], HLL_SEED));
/// assert_ne!(murmur64a(b"a", HLL_SEED), murmur64a(b"b", HLL_SEED));
/// ```
#[inline]
pub fn murmur64a(bytes: &[u8], seed: u32) -> u64 {
    // The reference takes the length as a C `int` and multiplies it as a u64; the seed is 32 bits.
    let mut h = u64::from(seed) ^ (bytes.len() as u64).wrapping_mul(M);

    let mut blocks = bytes.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes([
            block[0], block[1], block[2], block[3], block[4], block[5], block[6], block[7],
        ]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }

    let tail = blocks.remainder();
    if !tail.is_empty() {
        // Same as the reference's fall-through switch: byte i lands at bits 8i..8i+8.
        let mut t = 0u64;
        for (i, &b) in tail.iter().enumerate() {
            t |= u64::from(b) << (8 * i);
        }
        h ^= t;
        h = h.wrapping_mul(M);
    }

    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Hash an item the way Redis does for `PFADD`: MurmurHash64A with [`HLL_SEED`].
#[inline]
pub fn hash_item(item: &[u8]) -> u64 {
    murmur64a(item, HLL_SEED)
}

/// The hash of in-memory tables keyed by bytes that may come from the network (top-K items,
/// leaderboard members). It never reaches the wire, so it need not be fixed, and it must not be
/// MurmurHash64A: Murmur has seed-independent multicollisions, with which a hostile snapshot of
/// 65,536 distinct items sharing one hash would make every lookup scan them all.
///
/// With `std`: SipHash-1-3 under the process's random keys (`std::hash::RandomState`), the
/// standard library's answer to hash flooding. Without: foldhash, seeded from what entropy a
/// `no_std` build has (addresses); good tables, weaker protection, fine for a sender that only
/// hashes its own items.
#[derive(Clone, Debug, Default)]
pub(crate) struct TableHasher {
    #[cfg(feature = "std")]
    state: std::hash::RandomState,
    #[cfg(not(feature = "std"))]
    state: foldhash::fast::RandomState,
}

impl TableHasher {
    #[inline]
    pub(crate) fn hash(&self, bytes: &[u8]) -> u64 {
        use core::hash::BuildHasher;
        self.state.hash_one(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with the C reference as Redis 7 ships it (`MurmurHash64A` in `hyperloglog.c`,
    /// compiled with gcc on x86_64): the empty input, every tail length 1..=7, whole blocks, and
    /// inputs longer than one block.
    #[test]
    fn matches_the_c_reference() {
        let cases: &[(&[u8], u64)] = &[
            (b"", 0xd8df_ea65_85bc_9732),
            (b"a", 0x53d2_470a_9b43_b1a7),
            (b"ab", 0x0eae_d676_4371_42cf),
            (b"abc", 0x77ec_90ae_b374_e502),
            (b"abcd", 0xb079_ee3d_4420_2b3e),
            (b"abcde", 0x52a7_daa2_324a_0e8e),
            (b"abcdef", 0x3a4f_3a74_f538_b54f),
            (b"abcdefg", 0x22fe_613b_b08c_9602),
            (b"abcdefgh", 0xf3a6_5df5_5991_4567),
            (b"abcdefghi", 0x834f_ba4d_9152_daf7),
            (b"user-0", 0x5f3d_fd65_bd0e_a6e9),
            (b"user-123456", 0x70f1_5557_98b2_0dbd),
            (
                b"The quick brown fox jumps over the lazy dog",
                0x5160_6c5c_5b56_1ace,
            ),
        ];
        for &(input, expected) in cases {
            assert_eq!(hash_item(input), expected, "input {:?}", input);
        }
        let binary: alloc::vec::Vec<u8> = (0..255u32).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(hash_item(&binary), 0x338d_a3b2_9602_031a);
        assert_eq!(murmur64a(b"abc", 0), 0x9cc9_c334_98a9_5efb);
    }

    /// Murmur's seed-independent multicollisions: two 8-byte blocks whose mixed values differ in
    /// the top bit cancel in the next step. Each of `bits` block pairs can take either form.
    fn murmur_multicollision(bits: u32) -> alloc::vec::Vec<alloc::vec::Vec<u8>> {
        let mix = |k: u64| {
            let k = k.wrapping_mul(M);
            (k ^ (k >> R)).wrapping_mul(M)
        };
        let inverse_m = {
            let mut x = M;
            for _ in 0..6 {
                x = x.wrapping_mul(2u64.wrapping_sub(M.wrapping_mul(x)));
            }
            x
        };
        let unmix = |y: u64| {
            let x = y.wrapping_mul(inverse_m);
            (x ^ (x >> R)).wrapping_mul(inverse_m)
        };
        (0u64..1 << bits)
            .map(|mask| {
                let mut item = alloc::vec::Vec::new();
                for i in 0..u64::from(bits) {
                    let (k1, k2) = (0x1111_0000 + i, 0x2222_0000 + i);
                    let (a, b) = if mask >> i & 1 == 1 {
                        (unmix(mix(k1) ^ 1 << 63), unmix(mix(k2) ^ 1 << 63))
                    } else {
                        (k1, k2)
                    };
                    item.extend_from_slice(&a.to_le_bytes());
                    item.extend_from_slice(&b.to_le_bytes());
                }
                item
            })
            .collect()
    }

    #[test]
    fn tables_do_not_inherit_murmurs_collisions() {
        let items = murmur_multicollision(6);
        let murmur = hash_item(&items[0]);
        assert!(
            items.iter().all(|i| hash_item(i) == murmur),
            "the attack works on Murmur"
        );
        let table = TableHasher::default();
        let mut hashes: alloc::vec::Vec<u64> = items.iter().map(|i| table.hash(i)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), items.len(), "but not on the table hash");
    }
}
