//! The snapshot envelope, framing-only and full decoding. Most random inputs die at the checksum,
//! so half the time the fuzzer's bytes are sealed into a valid envelope frame first, to reach the
//! entry parser and the family decoders behind it.
#![no_main]

use edgesketch::{Snapshot, SnapshotView};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    let view = SnapshotView::parse(bytes);
    let full = Snapshot::decode(bytes);
    if full.is_ok() {
        assert!(view.is_ok());
    }
    if let Ok(view) = view {
        assert_eq!(view.entries().count(), view.len());
        for entry in view.entries() {
            let _ = entry.decode().map(|s| s.as_hyperloglog().map(|h| h.estimate()));
        }
    }
    if let Ok(s) = full {
        let again = Snapshot::decode(&s.encode()).expect("re-encoded snapshot decodes");
        assert_eq!(again.len(), s.len());
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.first().is_some_and(|b| b & 1 == 1) {
        // Header with this length and a correct CRC-32C around the rest of the input.
        let body = &data[1..];
        let total = 48 + body.len() + 4;
        let mut bytes = Vec::with_capacity(total);
        bytes.extend_from_slice(b"ESKT");
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&(total as u32).to_le_bytes());
        bytes.extend_from_slice(&[0u8; 16 + 8 + 8]);
        let count = body.first().copied().unwrap_or(0) % 4;
        bytes.extend_from_slice(&u32::from(count).to_le_bytes());
        bytes.extend_from_slice(body);
        let crc = crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        check(&bytes);
    }
});

fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}
