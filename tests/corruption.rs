//! Damaged and hostile input: every decoder answers with an error or a valid sketch, never a
//! panic, and never allocates more than the input justifies.

use std::path::Path;

use edgesketch::{Error, HyperLogLog, Snapshot, SnapshotView};

fn golden(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/v1")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "missing {} ({e}); run `EDGESKETCH_BLESS=1 cargo test --test golden`",
            path.display()
        )
    })
}

fn golden_files(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".bin"))
        .map(|n| {
            let bytes = golden(&n);
            (n, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no golden vectors starting with {prefix}");
    out
}

/// A sketch that decoded from damaged bytes must still behave: estimate always; every `thorough`
/// one also encode, re-decode, merge, insert and export (bounded so the suite stays fast).
fn exercise(h: &HyperLogLog, thorough: bool) {
    let e = h.estimate();
    assert!(e.value.is_finite() && e.value >= 0.0, "{e:?}");
    assert!(e.lower <= e.value && e.value <= e.upper);
    if !thorough {
        return;
    }
    let again =
        HyperLogLog::from_bytes(&h.to_bytes()).expect("a decoded sketch re-encodes validly");
    assert_eq!(again.registers(), h.registers());
    let mut merged = h.clone();
    merged.merge(h).unwrap();
    merged.insert(b"one more");
    let _ = h.redis_estimate();
    if h.precision() >= 14 {
        let r = h.to_redis().unwrap();
        assert_eq!(
            HyperLogLog::from_redis(&r).unwrap().redis_estimate(),
            h.redis_estimate()
        );
    }
}

/// Every prefix and every single-bit flip of `bytes`, through `decode`.
/// `decode` gets the case number too, to exercise a sample of what decodes in depth.
fn damage(bytes: &[u8], mut decode: impl FnMut(&[u8], usize) -> bool) -> (usize, usize) {
    let (mut errors, mut total) = (0, 0);
    for len in 0..bytes.len() {
        total += 1;
        errors += usize::from(!decode(&bytes[..len], total));
    }
    let mut copy = bytes.to_vec();
    for i in 0..bytes.len() * 8 {
        copy[i / 8] ^= 1 << (i % 8);
        total += 1;
        errors += usize::from(!decode(&copy, total));
        copy[i / 8] ^= 1 << (i % 8);
    }
    (errors, total)
}

#[test]
fn damaged_sketches_error_or_decode_to_valid_sketches() {
    for (name, bytes) in golden_files("hll_") {
        let (errors, total) = damage(&bytes, |b, case| match HyperLogLog::from_bytes(b) {
            Ok(h) => {
                exercise(&h, case % 64 == 0);
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        });
        // Prefixes always fail (the stream or registers end early); most flips are caught too.
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
}

#[test]
fn damaged_redis_strings_error_or_decode_to_valid_sketches() {
    for (name, bytes) in golden_files("redis_") {
        let (errors, total) = damage(&bytes, |b, case| match HyperLogLog::from_redis(b) {
            Ok(h) => {
                exercise(&h, case % 64 == 0);
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
}

#[test]
fn damaged_snapshots_are_always_rejected() {
    for (name, bytes) in golden_files("snapshot_") {
        let (errors, total) = damage(&bytes, |b, _| {
            let view = SnapshotView::parse(b);
            let full = Snapshot::decode(b);
            assert_eq!(view.is_ok(), full.is_ok());
            view.is_ok()
        });
        // The length field and the CRC-32C catch every truncation and every single-bit flip.
        assert_eq!(errors, total, "{name}");
    }
    let bytes = golden("snapshot_three_entries.bin");
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Snapshot::decode(&longer),
        Err(Error::TrailingBytes { count: 1, .. })
    ));
    assert!(matches!(
        Snapshot::decode(&bytes[..bytes.len() - 1]),
        Err(Error::Truncated { .. })
    ));
    let mut flipped = bytes.clone();
    flipped[100] ^= 4;
    assert!(matches!(
        Snapshot::decode(&flipped),
        Err(Error::ChecksumMismatch { .. })
    ));
    let mut version = bytes.clone();
    version[4] = 2;
    assert!(matches!(
        Snapshot::decode(&version),
        Err(Error::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));
    assert!(matches!(
        Snapshot::decode(b"HYLL\x00"),
        Err(Error::BadMagic { .. })
    ));
}

// ---- Redis strings built to hurt ----

fn redis_header(encoding: u8) -> Vec<u8> {
    let mut h = b"HYLL".to_vec();
    h.push(encoding);
    h.extend_from_slice(&[0; 3]);
    h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x80]);
    h
}

#[test]
fn cve_2025_32023_overflowing_runs_are_refused() {
    // The published shape: runs whose lengths overflow the register index.
    let mut s = redis_header(1);
    for _ in 0..(1 << 16) {
        s.extend_from_slice(&[0x7f, 0xff]); // XZERO of 16384, again and again
    }
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::RunOverflow { start: 16384, .. })
    ));

    // One register too many through VAL runs.
    let mut s = redis_header(1);
    s.extend_from_slice(&[0x7f, 0xfe]); // 16383 zeros
    s.push(0x80 | 0b11); // VAL 1 x4: runs past the end
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::RunOverflow {
            start: 16383,
            run: 4,
            registers: 16384
        })
    ));

    // ZERO runs past the end.
    let mut s = redis_header(1);
    s.extend_from_slice(&[0x7f, 0xff, 0x00]);
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::RunOverflow { .. })
    ));
}

#[test]
fn malformed_redis_strings_get_precise_errors() {
    let valid_sparse = HyperLogLog::default().to_redis().unwrap();
    assert_eq!(valid_sparse.len(), 18);

    assert!(matches!(
        HyperLogLog::from_redis(b"HYL"),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        HyperLogLog::from_redis(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff"),
        Err(Error::BadMagic { .. })
    ));
    let mut s = valid_sparse.clone();
    s[4] = 2; // the internal-only raw encoding never leaves Redis
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::UnknownEncoding { value: 2, .. })
    ));
    let mut s = valid_sparse.clone();
    s[6] = 1;
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::NonCanonical { .. })
    ));
    // Runs that stop short.
    let mut s = redis_header(1);
    s.extend_from_slice(&[0x7f, 0xfe]);
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::RunShort { covered: 16383, .. })
    ));
    // An XZERO cut in half.
    let mut s = redis_header(1);
    s.push(0x7f);
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::Truncated { .. })
    ));
    // Trailing bytes after a complete sparse string are runs past the end.
    let mut s = valid_sparse.clone();
    s.push(0x00);
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::RunOverflow { .. })
    ));

    // Dense: exact length, and registers no hash can produce.
    let dense = {
        let mut h = HyperLogLog::default();
        for i in 0..50_000u32 {
            h.insert(&i.to_le_bytes());
        }
        h.to_redis().unwrap()
    };
    assert_eq!(dense.len(), 12304);
    for bad_len in [dense.len() - 1, dense.len() + 1, 16, 17] {
        let mut s = dense.clone();
        s.resize(bad_len, 0);
        assert!(
            matches!(
                HyperLogLog::from_redis(&s),
                Err(Error::LengthMismatch { .. })
            ),
            "{bad_len}"
        );
    }
    let mut s = dense.clone();
    s[16] |= 0x3f; // register 0 = 63 > 51
    assert!(matches!(
        HyperLogLog::from_redis(&s),
        Err(Error::RegisterOutOfRange {
            index: 0,
            value: 63,
            max: 51
        })
    ));
}

// ---- our own format built to hurt ----

fn bare(p: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![1, 1, 1, p];
    out.extend_from_slice(payload);
    out
}

#[test]
fn malformed_sketches_get_precise_errors() {
    assert!(matches!(
        HyperLogLog::from_bytes(&[]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        HyperLogLog::from_bytes(&[2, 1, 1, 14, 1, 32, 0]),
        Err(Error::UnsupportedVersion { found: 2, .. })
    ));
    assert!(matches!(
        HyperLogLog::from_bytes(&[1, 200, 1, 14, 1, 32, 0]),
        Err(Error::UnknownFamily { id: 200 })
    ));
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(3, &[1, 32, 0])),
        Err(Error::InvalidPrecision { precision: 3, .. })
    ));
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(19, &[1, 32, 0])),
        Err(Error::InvalidPrecision { precision: 19, .. })
    ));
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[9])),
        Err(Error::UnknownEncoding { value: 9, .. })
    ));
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[])),
        Err(Error::Truncated { .. })
    ));
    // Sparse key bits outside p..=32.
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[1, 13, 0])),
        Err(Error::InvalidPrecision { precision: 13, .. })
    ));
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[1, 33, 0])),
        Err(Error::InvalidPrecision { precision: 33, .. })
    ));
    // A count the stream cannot hold is refused before any decoding or allocation.
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[1, 32, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff])),
        Err(Error::IndexOutOfRange { .. } | Error::Truncated { .. })
    ));
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[1, 20, 0x80, 0x80, 0x01, 0x00])),
        Err(Error::Truncated { .. })
    ));
    // Overlong varint count.
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[1, 32, 0x80, 0x00])),
        Err(Error::NonCanonical { .. })
    ));
    // Empty sparse with trailing bytes.
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[1, 32, 0, 0])),
        Err(Error::TrailingBytes { .. })
    ));
    // One key whose gap runs past 2^bits: 14-bit keys, k = 13; unary 2 -> key >= 2^14.
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[1, 14, 1, 0b100, 0, 0])),
        Err(Error::IndexOutOfRange { .. })
    ));
    // Nonzero padding after a valid key.
    let good = {
        let mut h = HyperLogLog::default();
        h.insert(b"x");
        h.to_bytes()
    };
    assert!(HyperLogLog::from_bytes(&good).is_ok());
    let mut padded = good.clone();
    *padded.last_mut().unwrap() |= 0x80;
    let e = HyperLogLog::from_bytes(&padded);
    assert!(
        e.is_err() || e.unwrap().registers() != HyperLogLog::from_bytes(&good).unwrap().registers()
    );
    // Dense with a wrong length or an impossible register.
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(14, &[2, 0, 0])),
        Err(Error::LengthMismatch { .. })
    ));
    let mut dense = vec![2u8];
    dense.extend(std::iter::repeat_n(0xffu8, 12));
    assert!(matches!(
        HyperLogLog::from_bytes(&bare(4, &dense)),
        Err(Error::RegisterOutOfRange { max: 61, .. })
    ));
    // Params of the wrong length.
    assert!(matches!(
        HyperLogLog::from_bytes(&[1, 1, 2, 14, 0, 1, 32, 0]),
        Err(Error::TrailingBytes { .. })
    ));
}

#[test]
fn hostile_snapshot_framing_is_refused_before_allocation() {
    use edgesketch::ReplicaId;
    let mut s = Snapshot::new(ReplicaId([1; 16]), 9, 9);
    let mut h = HyperLogLog::default();
    h.insert(b"a");
    s.insert("k", h.clone()).unwrap();
    s.insert("l", h).unwrap();
    let good = s.encode();

    // Rewrites header fields and fixes the checksum, so the framing checks are what must hold.
    let reseal = |mut b: Vec<u8>| {
        let n = b.len();
        let crc = crc32c(&b[..n - 4]);
        b[n - 4..].copy_from_slice(&crc.to_le_bytes());
        b
    };
    let mut b = good.clone();
    b[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Snapshot::decode(&reseal(b)),
        Err(Error::LengthMismatch { .. })
    ));
    let mut b = good.clone();
    b[44..48].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(
        Snapshot::decode(&reseal(b)),
        Err(Error::TrailingBytes { .. })
    ));
    let mut b = good.clone();
    b[6] = 1;
    assert!(matches!(
        Snapshot::decode(&reseal(b)),
        Err(Error::UnsupportedFlags { flags: 1 })
    ));
    // Keys out of order: swap "k" and "l".
    let mut b = good.clone();
    let k = b.iter().position(|&x| x == b'k').unwrap();
    let l = b.iter().position(|&x| x == b'l').unwrap();
    b.swap(k, l);
    assert!(matches!(
        Snapshot::decode(&reseal(b)),
        Err(Error::KeyOrder { entry: 1 })
    ));
    // A key that is not UTF-8.
    let mut b = good.clone();
    b[k] = 0xff;
    assert!(matches!(
        Snapshot::decode(&reseal(b)),
        Err(Error::KeyNotUtf8)
    ));
    // An unknown family: framing is fine (the view lists it), decoding names it.
    let mut b = good.clone();
    b[k + 1] = 77;
    let b = reseal(b);
    let view = SnapshotView::parse(&b).unwrap();
    let first = view.entries().next().unwrap();
    assert_eq!(
        (first.key, first.family_id, first.family()),
        ("k", 77, None)
    );
    assert!(matches!(
        first.decode(),
        Err(Error::UnknownFamily { id: 77 })
    ));
    assert!(matches!(
        Snapshot::decode(&b),
        Err(Error::UnknownFamily { id: 77 })
    ));
    // A declared length far beyond the input.
    let mut b = good.clone();
    b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(Snapshot::decode(&b), Err(Error::Truncated { .. })));
    let mut b = good;
    b[8..12].copy_from_slice(&10u32.to_le_bytes());
    assert!(matches!(
        Snapshot::decode(&b),
        Err(Error::LengthMismatch { .. })
    ));
}

/// CRC-32C, bit by bit: an independent check of the envelope's checksum.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn keys_are_validated_on_insert() {
    use edgesketch::ReplicaId;
    let mut s = Snapshot::new(ReplicaId::default(), 0, 0);
    assert!(matches!(
        s.insert("", HyperLogLog::default()),
        Err(Error::EmptyKey)
    ));
    let long = "k".repeat(1025);
    assert!(matches!(
        s.insert(long, HyperLogLog::default()),
        Err(Error::KeyTooLong {
            len: 1025,
            max: 1024
        })
    ));
    assert!(s.insert("k".repeat(1024), HyperLogLog::default()).is_ok());
    assert!(HyperLogLog::new(3).is_err() && HyperLogLog::new(19).is_err());
    assert!(matches!(
        HyperLogLog::new(13).unwrap().to_redis(),
        Err(Error::PrecisionTooLowForRedis { precision: 13 })
    ));
}

#[test]
fn damaged_counters_series_and_ledgers_error_or_decode_validly() {
    use edgesketch::{Counter, Ledger, UniqueSeries, WindowCounter};
    for (name, bytes) in golden_files("counter_") {
        let (errors, total) = damage(&bytes, |b, _| match Counter::from_bytes(b) {
            Ok(c) => {
                assert_eq!(Counter::from_bytes(&c.to_bytes()), Ok(c));
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
    for (name, bytes) in golden_files("window_") {
        let (errors, total) = damage(&bytes, |b, _| match WindowCounter::from_bytes(b) {
            Ok(w) => {
                let again =
                    WindowCounter::from_bytes(&w.to_bytes()).expect("re-encoded window decodes");
                assert_eq!(
                    again.sum(i64::MIN / 2, i64::MAX / 2),
                    w.sum(i64::MIN / 2, i64::MAX / 2)
                );
                let _ = w.series(w.now() - 86_400_000, w.now() + 86_400_000);
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
    for (name, bytes) in golden_files("unique_series_") {
        let (errors, total) = damage(&bytes, |b, case| match UniqueSeries::from_bytes(b) {
            Ok(u) => {
                if case % 64 == 0 {
                    let again =
                        UniqueSeries::from_bytes(&u.to_bytes()).expect("re-encoded series decodes");
                    assert_eq!(again.bucket_count(), u.bucket_count());
                    let _ = u.unique(i64::MIN / 2, i64::MAX / 2);
                }
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
    for (name, bytes) in golden_files("ledger") {
        let (errors, total) = damage(&bytes, |b, _| match Ledger::from_bytes(b) {
            Ok(l) => {
                assert_eq!(Ledger::from_bytes(&l.to_bytes()).as_ref(), Ok(&l));
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
}

#[test]
fn hostile_series_are_refused_before_allocation() {
    use edgesketch::{SeriesConfig, WindowCounter};
    let config = SeriesConfig::new(1_000, 3_600_000, 60_000, 0).unwrap();
    let mut w = WindowCounter::new(config, 1_000_000).unwrap();
    w.add(5, 1_000_000).unwrap();
    let good = w.to_bytes();
    // Locate the payload: version, family, params length, params.
    let params_len = good[2] as usize;
    let payload_at = 3 + params_len;
    let mut p = good[..payload_at].to_vec();
    // clock 1_000_000 (zigzag 2_000_000), empty tallies, then a bucket count of 2^40.
    p.extend_from_slice(&[0x80, 0x89, 0x7a, 0, 0, 0, 0, 0, 0]);
    p.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    assert!(matches!(
        WindowCounter::from_bytes(&p),
        Err(Error::LengthMismatch { .. })
    ));
    // A bucket far outside the retention.
    let mut q = good[..payload_at].to_vec();
    q.extend_from_slice(&[0x80, 0x89, 0x7a, 0, 0, 0, 0, 0, 0, 1]);
    q.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]); // bucket index far below
    q.extend_from_slice(&[1, 10, 5, 5]);
    assert!(matches!(
        WindowCounter::from_bytes(&q),
        Err(Error::IndexOutOfRange { .. })
    ));
    // Inconsistent statistics: one event of 5 whose sum is 7.
    let mut r = good.clone();
    let n = r.len();
    r[n - 3] = 14; // sum (zigzag 7)
    assert!(matches!(
        WindowCounter::from_bytes(&r),
        Err(Error::NonCanonical { .. })
    ));
    // Bad parameters.
    let mut s = good.clone();
    s[4] = 0x10; // bucket width 16 ms... as the first varint byte of the width
    assert!(WindowCounter::from_bytes(&s).is_err());
}

#[test]
fn damaged_rankings_and_distributions_error_or_decode_validly() {
    use edgesketch::{CountMinSketch, Leaderboard, Order, Quantiles, TopK};
    for (name, bytes) in golden_files("leaderboard_") {
        let (errors, total) = damage(&bytes, |b, _| match Leaderboard::from_bytes(b) {
            Ok(l) => {
                let again =
                    Leaderboard::from_bytes(&l.to_bytes()).expect("re-encoded board decodes");
                assert_eq!(again, l);
                let all = l.range_by_rank(0, u64::MAX, Order::Ascending);
                assert_eq!(all.len(), l.len());
                if let Some(first) = all.first() {
                    assert_eq!(l.rank(&first.member, Order::Ascending), Some(0));
                }
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
    for (name, bytes) in golden_files("top_k") {
        let (errors, total) = damage(&bytes, |b, _| match TopK::from_bytes(b) {
            Ok(t) => {
                assert_eq!(TopK::from_bytes(&t.to_bytes()).as_ref(), Ok(&t));
                let _ = t.top(10);
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
    for (name, bytes) in golden_files("count_min") {
        let (errors, total) = damage(&bytes, |b, _| match CountMinSketch::from_bytes(b) {
            Ok(c) => {
                assert_eq!(CountMinSketch::from_bytes(&c.to_bytes()).as_ref(), Ok(&c));
                let e = c.estimate(b"x");
                assert!(e.lower <= e.upper && e.upper <= c.total());
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
    for (name, bytes) in golden_files("quantiles") {
        let (errors, total) = damage(&bytes, |b, _| match Quantiles::from_bytes(b) {
            Ok(q) => {
                assert_eq!(Quantiles::from_bytes(&q.to_bytes()).as_ref(), Ok(&q));
                for p in [0.0, 0.5, 1.0] {
                    if let Some(v) = q.quantile(p) {
                        assert!(q.min().unwrap() <= v && v <= q.max().unwrap());
                    }
                }
                true
            }
            Err(_) => false,
        });
        assert!(
            errors >= bytes.len(),
            "{name}: only {errors}/{total} rejected"
        );
    }
}
