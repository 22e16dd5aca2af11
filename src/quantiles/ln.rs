//! A natural logarithm for bucket keys: deterministic (plain IEEE-754 adds and multiplies, no
//! platform `log`, no fused multiply-add), so native and wasm32 builds put every value in the same
//! bucket, and about four times faster than `libm::log`, which dominated `Quantiles::add`.
//!
//! `v = 2^e · m` with `m ∈ [1, 2)`; the top 7 bits of `m` pick a slot with centre `c`, and
//! `ln v = e·ln 2 − ln(1/c) + ln(1 + r)` with `r = m·(1/c) − 1`, `|r| ≤ 2^−8`. A degree-7
//! polynomial leaves a truncation error below `|r|^8/8 ≤ 2^−67`; the result is within
//! `2^−51 · max(1, |ln v|)` of the exact logarithm (checked against `libm::log` in the tests). That
//! absolute error is what decides a bucket: it moves `v` by a relative `~10^−15`, which can only
//! change the key of a value within that distance of a bucket edge, and either neighbour's
//! representative is then within `α + 10^−15` of it.

use super::ln_table::{INV, NEG_LN_INV, TABLE_BITS};

/// `ln 2` split so that `e · LN2_HI` is exact for every exponent (fdlibm's constants).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// `ln v` for a positive normal `v` (callers pass magnitudes above 10^-9 and finite).
#[inline]
pub(super) fn ln(v: f64) -> f64 {
    let bits = v.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let fraction = bits & ((1 << 52) - 1);
    let slot = (fraction >> (52 - TABLE_BITS)) as usize;
    let m = f64::from_bits(fraction | 0x3ff0_0000_0000_0000);
    let r = m * INV[slot] - 1.0;
    // ln(1 + r) = r − r²/2 + r³/3 − …, Horner form.
    let p = r
        * (1.0
            + r * (-0.5
                + r * (1.0 / 3.0 + r * (-0.25 + r * (0.2 + r * (-1.0 / 6.0 + r * (1.0 / 7.0)))))));
    let e = f64::from(e);
    (e * LN2_HI + NEG_LN_INV[slot]) + (e * LN2_LO + p)
}

/// `⌈x⌉` as an integer, for `|x| < 2^31`. Adding `1.5·2^52` rounds `x` to the nearest integer,
/// which then sits in the low mantissa bits (two's complement for negatives); one comparison
/// steps it up. No libm call and no saturating float-to-int conversion in the hot path.
#[inline]
pub(super) fn ceil_i32(x: f64) -> i32 {
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52
    let shifted = x + ROUND;
    let nearest = shifted.to_bits() as u32 as i32;
    nearest + i32::from(shifted - ROUND < x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_libm_to_within_two_units() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Every exponent from 1e-9 to f64::MAX, and the awkward spots near 1 and slot edges.
            let v = match i % 4 {
                0 => f64::from_bits((x >> 12) | (((x % 1054) + 993) << 52)),
                1 => 1.0 + (x >> 11) as f64 / (1u64 << 53) as f64 * 1e-3,
                2 => 1.0 + (x % 128) as f64 / 128.0,
                _ => f64::from_bits(0x3ff0_0000_0000_0000 | (x >> 12)) * 2f64.powi((i % 60) - 30),
            };
            if !(1e-9..=f64::MAX).contains(&v) {
                continue;
            }
            let exact = libm::log(v);
            // Absolute error is what places a value in a bucket (it is v's relative error), so
            // measure it in units of 2^-52 · max(1, |ln v|).
            let err = (ln(v) - exact).abs() / (f64::EPSILON * exact.abs().max(1.0));
            worst = worst.max(err);
        }
        assert!(worst <= 2.0, "worst error {worst} × 2^-52");
    }

    #[test]
    fn ceil_matches_libm() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut values = alloc::vec![
            -3.5, -3.0, -2.999, -2.5, -0.5, -0.0, 0.0, 0.25, 0.5, 1.0, 1.5, 2.5
        ];
        values.extend([
            1.0000001,
            7.5,
            2e9,
            -2e9,
            2147483646.5,
            -2147483647.5,
            4503599627370495.5,
        ]);
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push((x as i64 >> 32) as f64 / 2.0 + (x & 0xffff) as f64 / 65536.0);
        }
        for x in values {
            if x.abs() < 2147483647.0 {
                assert_eq!(ceil_i32(x), libm::ceil(x) as i32, "{x}");
            }
        }
    }
}
