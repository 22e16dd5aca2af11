//! The crate's error type: one small enum whose variants say precisely what was wrong.
//!
//! Decoders return these for hostile or damaged input instead of panicking; the messages are meant
//! for people (they name the part of the format and the numbers involved), the variants for code.

use core::fmt;

/// Everything that can go wrong when building, merging, encoding or decoding a sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ended early: `what` needed `needed` bytes at byte `offset`, only `available` remained.
    Truncated {
        /// The part of the format being read.
        what: &'static str,
        /// Byte offset (within the part being decoded) where the read started.
        offset: usize,
        /// Bytes the read needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes were left over after a complete value.
    TrailingBytes {
        /// The part of the format that should have ended.
        what: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
    /// The input does not start with the expected magic bytes.
    BadMagic {
        /// The magic the format requires.
        expected: [u8; 4],
        /// What the input had instead.
        found: [u8; 4],
    },
    /// The format version is not one this build reads.
    UnsupportedVersion {
        /// The version found in the input.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// Reserved flag bits were set.
    UnsupportedFlags {
        /// The flag bits found.
        flags: u16,
    },
    /// The stored checksum does not match the data.
    ChecksumMismatch {
        /// Checksum stored in the input.
        stored: u32,
        /// Checksum computed over the input.
        computed: u32,
    },
    /// A length field disagrees with the data it describes.
    LengthMismatch {
        /// The length field's name.
        what: &'static str,
        /// The declared length.
        declared: u64,
        /// The actual length.
        actual: u64,
    },
    /// A family id that this build does not know (a newer writer, or corruption).
    UnknownFamily {
        /// The family id found.
        id: u8,
    },
    /// A representation or encoding tag byte with no meaning.
    UnknownEncoding {
        /// Which tag.
        what: &'static str,
        /// The value found.
        value: u8,
    },
    /// A precision outside the supported range.
    InvalidPrecision {
        /// The precision given or found.
        precision: u8,
        /// Smallest allowed.
        min: u8,
        /// Largest allowed.
        max: u8,
    },
    /// A register holds a value no item could produce at this precision.
    RegisterOutOfRange {
        /// Register index.
        index: u32,
        /// Value found.
        value: u8,
        /// Largest possible value (65 - precision).
        max: u8,
    },
    /// An index (register index or sparse key) lies outside its range.
    IndexOutOfRange {
        /// What the index addresses.
        what: &'static str,
        /// The index found.
        index: u64,
        /// The exclusive upper limit.
        limit: u64,
    },
    /// A Redis sparse run would write past the last register (the CVE-2025-32023 shape).
    RunOverflow {
        /// Register index where the run starts.
        start: u32,
        /// Length of the run.
        run: u32,
        /// Number of registers.
        registers: u32,
    },
    /// Redis sparse runs end before covering every register.
    RunShort {
        /// Registers covered.
        covered: u32,
        /// Registers required.
        registers: u32,
    },
    /// Two sketches or parameters that cannot be combined.
    ParameterMismatch {
        /// What differs.
        what: &'static str,
        /// Our value.
        left: u64,
        /// Their value.
        right: u64,
    },
    /// Redis stores HyperLogLogs at precision 14 only; a coarser sketch cannot be exported.
    PrecisionTooLowForRedis {
        /// The sketch's precision.
        precision: u8,
    },
    /// The input is well formed but not in the one canonical form the format requires.
    NonCanonical {
        /// What was not canonical.
        what: &'static str,
    },
    /// An empty key.
    EmptyKey,
    /// A key longer than the format allows.
    KeyTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A key that is not valid UTF-8.
    KeyNotUtf8,
    /// Keys of a snapshot are not in strictly ascending byte order (a duplicate, or out of order).
    KeyOrder {
        /// Index of the offending entry.
        entry: u32,
    },
    /// A configuration value out of its range.
    InvalidConfig {
        /// What is wrong.
        what: &'static str,
    },
    /// The ledger refused an envelope (see [`crate::ledger`]); nothing was applied.
    EnvelopeRefused(crate::ledger::Refusal),
    /// The system's random number source failed.
    RandomnessUnavailable,
    /// A value a sketch cannot take (NaN, infinity, or too long).
    InvalidValue {
        /// What is wrong.
        what: &'static str,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated {
                what,
                offset,
                needed,
                available,
            } => write!(
                f,
                "truncated {what}: needed {needed} byte(s) at offset {offset}, {available} left"
            ),
            Error::TrailingBytes { what, count } => {
                write!(f, "{count} unexpected trailing byte(s) after {what}")
            }
            Error::BadMagic { expected, found } => write!(
                f,
                "bad magic: expected {:?}, found {:?}",
                Ascii(&expected),
                Ascii(&found)
            ),
            Error::UnsupportedVersion { found, supported } => write!(
                f,
                "unsupported format version {found} (this build reads versions 1..={supported})"
            ),
            Error::UnsupportedFlags { flags } => {
                write!(
                    f,
                    "unsupported flags {flags:#06x} (reserved bits must be zero)"
                )
            }
            Error::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x} (data corrupted)"
            ),
            Error::LengthMismatch {
                what,
                declared,
                actual,
            } => write!(f, "{what} declares {declared} but the data has {actual}"),
            Error::UnknownFamily { id } => {
                write!(
                    f,
                    "unknown sketch family id {id} (written by a newer edgesketch?)"
                )
            }
            Error::UnknownEncoding { what, value } => write!(f, "unknown {what} {value}"),
            Error::InvalidPrecision {
                precision,
                min,
                max,
            } => write!(f, "precision {precision} is outside {min}..={max}"),
            Error::RegisterOutOfRange { index, value, max } => write!(
                f,
                "register {index} holds {value}, above the largest possible value {max}"
            ),
            Error::IndexOutOfRange { what, index, limit } => {
                write!(f, "{what} {index} is out of range (must be below {limit})")
            }
            Error::RunOverflow {
                start,
                run,
                registers,
            } => write!(
                f,
                "sparse run of {run} register(s) starting at {start} overflows the {registers} registers"
            ),
            Error::RunShort { covered, registers } => {
                write!(f, "sparse runs cover {covered} of {registers} registers")
            }
            Error::ParameterMismatch { what, left, right } => {
                // Values carried as u64 are shown as what they are: family names, floats.
                let family = |id: u64| {
                    u8::try_from(id)
                        .ok()
                        .and_then(crate::Family::from_id)
                        .map_or("an unknown family", |f| f.name())
                };
                if what.starts_with("sketch family") {
                    write!(f, "{what} mismatch: {} vs {}", family(left), family(right))
                } else if let Some(what) = what.strip_suffix(" (f64 bits)") {
                    let (l, r) = (f64::from_bits(left), f64::from_bits(right));
                    write!(f, "{what} mismatch: {l} vs {r}")
                } else {
                    write!(f, "{what} mismatch: {left} vs {right}")
                }
            }
            Error::PrecisionTooLowForRedis { precision } => write!(
                f,
                "Redis HyperLogLogs have precision 14; a precision-{precision} sketch cannot be raised to it"
            ),
            Error::NonCanonical { what } => write!(f, "non-canonical encoding: {what}"),
            Error::EmptyKey => f.write_str("empty key"),
            Error::KeyTooLong { len, max } => {
                write!(f, "key of {len} bytes is longer than the limit of {max}")
            }
            Error::KeyNotUtf8 => f.write_str("key is not valid UTF-8"),
            Error::KeyOrder { entry } => write!(
                f,
                "entry {entry}: keys must be unique and in ascending byte order"
            ),
            Error::InvalidConfig { what } => write!(f, "invalid configuration: {what}"),
            Error::EnvelopeRefused(refusal) => write!(f, "envelope refused: {refusal}"),
            Error::RandomnessUnavailable => f.write_str("no system randomness for a replica id"),
            Error::InvalidValue { what } => write!(f, "invalid value: {what}"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, err)
    }
}

/// Shows magic bytes as text where printable.
struct Ascii<'a>(&'a [u8; 4]);

impl fmt::Debug for Ascii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}
