//! Every constant of the wire formats, in one place. docs/FORMAT.md is the prose version of this
//! file; change both together, and never change a value that has shipped (add a version instead).

/// Magic bytes that open a snapshot envelope.
pub const MAGIC: [u8; 4] = *b"ESKT";
/// The snapshot envelope version this build writes and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// Version byte that opens a sketch encoded on its own (outside an envelope).
pub const BARE_FORMAT_VERSION: u8 = 1;
/// Bytes before the first entry: magic, version, flags, total length, replica id, sequence,
/// creation time and entry count.
pub const ENVELOPE_HEADER_LEN: usize = 4 + 2 + 2 + 4 + 16 + 8 + 8 + 4;
/// The CRC-32C that closes an envelope.
pub const CHECKSUM_LEN: usize = 4;
/// Longest key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 1024;
/// Smallest possible entry: key length, one key byte, family, params length, payload length.
pub const MIN_ENTRY_LEN: usize = 5;
/// Longest LEB128 encoding of a `u32`.
pub const VARINT_U32_MAX_LEN: usize = 5;

/// Family ids: one byte per sketch family. Ids are never reused.
pub mod family {
    /// [`crate::HyperLogLog`].
    pub const HYPERLOGLOG: u8 = 1;
    /// [`crate::Counter`].
    pub const COUNTER: u8 = 2;
    /// [`crate::WindowCounter`].
    pub const WINDOW_COUNTER: u8 = 3;
    /// [`crate::UniqueSeries`].
    pub const UNIQUE_SERIES: u8 = 4;
    /// [`crate::Leaderboard`].
    pub const LEADERBOARD: u8 = 5;
    /// [`crate::TopK`].
    pub const TOP_K: u8 = 6;
    /// [`crate::CountMinSketch`].
    pub const COUNT_MIN: u8 = 7;
    /// [`crate::Quantiles`].
    pub const QUANTILES: u8 = 8;

    /// Whether this build knows `id`.
    pub const fn is_known(id: u8) -> bool {
        matches!(
            id,
            HYPERLOGLOG
                | COUNTER
                | WINDOW_COUNTER
                | UNIQUE_SERIES
                | LEADERBOARD
                | TOP_K
                | COUNT_MIN
                | QUANTILES
        )
    }
}

/// Time-bucketed series (`crate::series`): limits of their parameters.
pub mod series {
    /// Narrowest bucket: one second.
    pub const MIN_BUCKET_MS: u64 = 1_000;
    /// Widest bucket: one day.
    pub const MAX_BUCKET_MS: u64 = 86_400_000;
    /// Most buckets a series keeps (a year of minutes; ten days of seconds).
    pub const MAX_RETENTION_BUCKETS: u32 = 1 << 20;
    /// Furthest a clock-skew allowance may reach ahead: one day.
    pub const MAX_FUTURE_MS: u64 = 86_400_000;
}

/// HyperLogLog parameters and payload tags (see `crate::hll` for the meaning).
pub mod hll {
    /// Smallest precision `p` (16 registers).
    pub const MIN_PRECISION: u8 = 4;
    /// Largest precision `p` (262,144 registers).
    pub const MAX_PRECISION: u8 = 18;
    /// The default precision, and the only one Redis stores.
    pub const DEFAULT_PRECISION: u8 = 14;
    /// Widest sparse key, in bits: `p` register-index bits plus up to `32 - p` extra hash bits.
    pub const MAX_SPARSE_PRECISION: u8 = 32;
    /// Payload tag: sorted Rice-coded keys.
    pub const REPR_SPARSE: u8 = 1;
    /// Payload tag: every register, six bits each.
    pub const REPR_DENSE: u8 = 2;
    /// Bits per register in the dense payload (and in Redis).
    pub const DENSE_REGISTER_BITS: u32 = 6;
}

/// The Redis HyperLogLog string (`hyperloglog.c`), which we read and write byte for byte.
pub mod redis {
    /// `"HYLL"`.
    pub const MAGIC: [u8; 4] = *b"HYLL";
    /// Magic, encoding, three unused bytes, eight bytes of cached cardinality.
    pub const HEADER_LEN: usize = 16;
    /// Encoding byte of the dense form.
    pub const ENCODING_DENSE: u8 = 0;
    /// Encoding byte of the sparse form.
    pub const ENCODING_SPARSE: u8 = 1;
    /// Redis's precision.
    pub const PRECISION: u8 = 14;
    /// Redis's register count.
    pub const REGISTERS: u32 = 1 << PRECISION;
    /// Exact length of a dense string: header plus 16384 six-bit registers.
    pub const DENSE_LEN: usize = HEADER_LEN + (REGISTERS as usize * 6) / 8;
    /// Redis's default `hll-sparse-max-bytes`: a longer sparse string is stored dense.
    pub const SPARSE_MAX_BYTES: usize = 3000;
    /// Largest value a sparse VAL opcode holds.
    pub const VAL_MAX_VALUE: u8 = 32;
    /// Longest run of a VAL opcode.
    pub const VAL_MAX_LEN: u32 = 4;
    /// Longest run of a ZERO opcode.
    pub const ZERO_MAX_LEN: u32 = 64;
    /// Longest run of an XZERO opcode.
    pub const XZERO_MAX_LEN: u32 = 16384;
    /// Bit 7 of byte 15: set when the cached cardinality is stale.
    pub const CACHE_INVALID_BIT: u8 = 0x80;
}

/// The receiver's ledger (`crate::ledger`), persisted beside its sketches.
pub mod ledger {
    /// Magic bytes of a serialized ledger.
    pub const MAGIC: [u8; 4] = *b"ESLG";
    /// The version written: 2 added each sender's parted sequences (settled by parts of a split).
    pub const VERSION: u8 = 2;
    /// The oldest version read (1: no parted sequences).
    pub const OLDEST_VERSION: u8 = 1;
}

/// Count-min sketches (`crate::countmin`).
pub mod countmin {
    /// Deepest sketch: rows.
    pub const MAX_DEPTH: u8 = 32;
    /// Most counters in a sketch (width × depth): 128 MiB of `u64`.
    pub const MAX_CELLS: u64 = 1 << 24;
    /// Flags bit: conservative update.
    pub const FLAG_CONSERVATIVE: u8 = 1;
}

/// DDSketch quantiles (`crate::quantiles`).
pub mod quantiles {
    /// Relative accuracy by default (1 %).
    pub const DEFAULT_ALPHA: f64 = 0.01;
    /// Buckets per store by default.
    pub const DEFAULT_MAX_BINS: u32 = 2048;
    /// Buckets per store at most.
    pub const MAX_BINS: u32 = 1 << 16;
    /// Values closer to 0 count as zero.
    pub const MIN_INDEXABLE: f64 = 1e-9;
    /// The finest relative accuracy (keys of finer sketches would not fit 32 bits).
    pub const MIN_ALPHA: f64 = 1e-6;
}

/// Top-K summaries (`crate::topk`).
pub mod topk {
    /// Most counters.
    pub const MAX_CAPACITY: u32 = 1 << 16;
    /// Longest item, in bytes.
    pub const MAX_ITEM_LEN: usize = 1024;
}

/// Leaderboards (`crate::leaderboard`).
pub mod leaderboard {
    /// Largest capacity (0 means unlimited).
    pub const MAX_CAPACITY: u32 = 1 << 24;
    /// Longest member, in bytes.
    pub const MAX_MEMBER_LEN: usize = 1024;
    /// Entries per sorted chunk (a chunk splits at twice this).
    pub const CHUNK: usize = 512;
}
