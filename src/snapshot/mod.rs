//! Snapshot format v1: the envelope an edge sender ships to the merge server.
//!
//! An envelope carries one sender's state of many named sketches: who sent it (a 128-bit replica
//! id), which of its envelopes it is (a sequence number; a retry resends the same bytes, which is
//! what makes applying it exactly once possible), when it was made, and the entries. All of it is
//! little-endian and closed by a CRC-32C; docs/FORMAT.md documents every byte.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "ESKT"
//! 4       2     format version (1)
//! 6       2     flags (reserved, zero)
//! 8       4     total length of the envelope in bytes, checksum included
//! 12      16    replica id
//! 28      8     sequence number
//! 36      8     creation time, milliseconds since the Unix epoch (signed)
//! 44      4     entry count
//! 48      ...   entries, keys in strictly ascending byte order:
//!               varint key length, key (UTF-8, 1..=1024 bytes), family id (u8),
//!               varint params length, params, varint payload length, payload
//! end-4   4     CRC-32C (Castagnoli) of every byte before it
//! ```
//!
//! Decoding checks, in this order, so that each failure gets the most precise error: magic,
//! version, flags, total length against the input, checksum, then the framing of every entry
//! (lengths within bounds before anything is allocated, keys valid and ordered, count matching).
//! [`SnapshotView::parse`] stops there and lends out the entries without decoding them (an unknown
//! family is still listed); [`Snapshot::decode`] also decodes every payload, and fails with
//! [`Error::UnknownFamily`] for a family this build does not know.
//!
//! The snapshot module dispatches on family ids; families never depend on it.
//!
//! ```
//! use edgesketch::{HyperLogLog, ReplicaId, Snapshot};
//!
//! let mut visitors = HyperLogLog::default();
//! visitors.insert(b"user-1");
//! let mut snapshot = Snapshot::new(ReplicaId([7; 16]), 1, 1_764_000_000_000);
//! snapshot.insert("visitors:home", visitors)?;
//! let bytes = snapshot.encode();
//!
//! let back = Snapshot::decode(&bytes)?;
//! assert_eq!(back.sequence, 1);
//! assert_eq!(back.get("visitors:home").and_then(|s| s.as_hyperloglog()).unwrap().estimate().value, 1.0);
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::{Error, Result};
use crate::ledger::{Admission, EnvelopeId};
use crate::series::MergeReport;
use crate::wire::{self, CHECKSUM_LEN, ENVELOPE_HEADER_LEN, FORMAT_VERSION, MAGIC, MAX_KEY_LEN};
use crate::{
    CountMinSketch, Counter, HyperLogLog, Leaderboard, Quantiles, TopK, UniqueSeries, WindowCounter,
};

/// Slice-by-16 tables natively (about 8x the speed of one table: a merge server checksums every
/// envelope it receives); one table in wasm32, where 16 KB of tables would weigh on the package.
#[cfg(not(target_arch = "wasm32"))]
const CRC32C: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);
#[cfg(target_arch = "wasm32")]
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// A sender's random 128-bit identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ReplicaId(pub [u8; 16]);

impl ReplicaId {
    /// A fresh random id from the system's randomness (OS, or `crypto.getRandomValues` in a
    /// browser or Worker). Call it lazily: Workers refuse randomness at module top level.
    #[cfg(feature = "getrandom")]
    pub fn random() -> Result<ReplicaId> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| Error::RandomnessUnavailable)?;
        Ok(ReplicaId(id))
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplicaId({self})")
    }
}

/// The sketch families the format knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// [`HyperLogLog`], family id 1.
    HyperLogLog,
    /// [`Counter`], family id 2.
    Counter,
    /// [`WindowCounter`], family id 3.
    WindowCounter,
    /// [`UniqueSeries`], family id 4.
    UniqueSeries,
    /// [`Leaderboard`], family id 5.
    Leaderboard,
    /// [`TopK`], family id 6.
    TopK,
    /// [`CountMinSketch`], family id 7.
    CountMin,
    /// [`Quantiles`], family id 8.
    Quantiles,
}

impl Family {
    /// The family id on the wire.
    pub const fn id(self) -> u8 {
        match self {
            Family::HyperLogLog => wire::family::HYPERLOGLOG,
            Family::Counter => wire::family::COUNTER,
            Family::WindowCounter => wire::family::WINDOW_COUNTER,
            Family::UniqueSeries => wire::family::UNIQUE_SERIES,
            Family::Leaderboard => wire::family::LEADERBOARD,
            Family::TopK => wire::family::TOP_K,
            Family::CountMin => wire::family::COUNT_MIN,
            Family::Quantiles => wire::family::QUANTILES,
        }
    }

    /// The family with this id, if this build knows it.
    pub const fn from_id(id: u8) -> Option<Family> {
        match id {
            wire::family::HYPERLOGLOG => Some(Family::HyperLogLog),
            wire::family::COUNTER => Some(Family::Counter),
            wire::family::WINDOW_COUNTER => Some(Family::WindowCounter),
            wire::family::UNIQUE_SERIES => Some(Family::UniqueSeries),
            wire::family::LEADERBOARD => Some(Family::Leaderboard),
            wire::family::TOP_K => Some(Family::TopK),
            wire::family::COUNT_MIN => Some(Family::CountMin),
            wire::family::QUANTILES => Some(Family::Quantiles),
            _ => None,
        }
    }

    /// A short lowercase name (`"hyperloglog"`, `"counter"`, `"window_counter"`,
    /// `"unique_series"`, `"leaderboard"`, `"top_k"`, `"count_min"`, `"quantiles"`).
    pub const fn name(self) -> &'static str {
        match self {
            Family::HyperLogLog => "hyperloglog",
            Family::Counter => "counter",
            Family::WindowCounter => "window_counter",
            Family::UniqueSeries => "unique_series",
            Family::Leaderboard => "leaderboard",
            Family::TopK => "top_k",
            Family::CountMin => "count_min",
            Family::Quantiles => "quantiles",
        }
    }

    /// Whether merging the same state twice always changes nothing (then no ledger is needed to
    /// merge). Leaderboards depend on their rule: see [`Sketch::idempotent`].
    pub const fn idempotent(self) -> bool {
        matches!(self, Family::HyperLogLog | Family::UniqueSeries)
    }
}

/// A sketch of any family, as held in a snapshot.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Sketch {
    /// A distinct counter.
    HyperLogLog(HyperLogLog),
    /// An exact up-and-down counter.
    Counter(Counter),
    /// Counts and sums per time bucket.
    WindowCounter(WindowCounter),
    /// Distinct counts per time bucket.
    UniqueSeries(UniqueSeries),
    /// An exact sorted set.
    Leaderboard(Leaderboard),
    /// Heavy hitters with bounds.
    TopK(TopK),
    /// Frequencies, never underestimated.
    CountMin(CountMinSketch),
    /// Quantiles within a relative error.
    Quantiles(Quantiles),
}

/// What merging a sketch did: for time series, which buckets were refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryMerge {
    /// Bucket-level detail of a series merge (all zero for other families).
    pub series: MergeReport,
}

macro_rules! accessors {
    ($($variant:ident: $ty:ident, $as_ref:ident, $as_mut:ident;)*) => {$(
        #[doc = concat!("The [`", stringify!($ty), "`] inside, if that is the family.")]
        pub fn $as_ref(&self) -> Option<&$ty> {
            match self {
                Sketch::$variant(x) => Some(x),
                _ => None,
            }
        }

        #[doc = concat!("The [`", stringify!($ty), "`] inside, mutably, if that is the family.")]
        pub fn $as_mut(&mut self) -> Option<&mut $ty> {
            match self {
                Sketch::$variant(x) => Some(x),
                _ => None,
            }
        }
    )*};
}

impl Sketch {
    /// The sketch's family.
    pub fn family(&self) -> Family {
        match self {
            Sketch::HyperLogLog(_) => Family::HyperLogLog,
            Sketch::Counter(_) => Family::Counter,
            Sketch::WindowCounter(_) => Family::WindowCounter,
            Sketch::UniqueSeries(_) => Family::UniqueSeries,
            Sketch::Leaderboard(_) => Family::Leaderboard,
            Sketch::TopK(_) => Family::TopK,
            Sketch::CountMin(_) => Family::CountMin,
            Sketch::Quantiles(_) => Family::Quantiles,
        }
    }

    /// Whether merging this sketch twice changes nothing (then it needs no ledger).
    pub fn idempotent(&self) -> bool {
        match self {
            Sketch::Leaderboard(l) => l.rule() != crate::MergeRule::Sum,
            other => other.family().idempotent(),
        }
    }

    accessors! {
        HyperLogLog: HyperLogLog, as_hyperloglog, as_hyperloglog_mut;
        Counter: Counter, as_counter, as_counter_mut;
        WindowCounter: WindowCounter, as_window_counter, as_window_counter_mut;
        UniqueSeries: UniqueSeries, as_unique_series, as_unique_series_mut;
        Leaderboard: Leaderboard, as_leaderboard, as_leaderboard_mut;
        TopK: TopK, as_top_k, as_top_k_mut;
        CountMin: CountMinSketch, as_count_min, as_count_min_mut;
        Quantiles: Quantiles, as_quantiles, as_quantiles_mut;
    }

    /// Merges a sketch of the same family in, once: `admission` is the ledger's word that the
    /// envelope carrying `other` is new ([`crate::ledger`]). Idempotent families ignore it.
    ///
    /// This is a stored key taking an entry, so the key keeps the parameters it was created with:
    /// a HyperLogLog entry coarser than the key is refused (merged, it would lower the key's
    /// precision and error for every later reader; a finer one folds down), and so is a series
    /// entry whose retention or acceptance windows differ from the key's.
    /// [`HyperLogLog::merge`] and the series' own merges stay as lenient as they document.
    pub fn merge(&mut self, other: &Sketch, admission: &Admission<'_>) -> Result<EntryMerge> {
        match (self, other) {
            (Sketch::HyperLogLog(a), Sketch::HyperLogLog(b)) => {
                if b.precision() < a.precision() {
                    return Err(Error::ParameterMismatch {
                        what: "HyperLogLog precision (a coarser entry would lower the key's)",
                        left: u64::from(a.precision()),
                        right: u64::from(b.precision()),
                    });
                }
                a.merge(b)?;
                Ok(EntryMerge::default())
            }
            (Sketch::Counter(a), Sketch::Counter(b)) => {
                a.merge(b, admission);
                Ok(EntryMerge::default())
            }
            (Sketch::WindowCounter(a), Sketch::WindowCounter(b)) => {
                a.config().check_windows(&b.config())?;
                Ok(EntryMerge {
                    series: a.merge(b, admission)?,
                })
            }
            (Sketch::UniqueSeries(a), Sketch::UniqueSeries(b)) => {
                a.config().check_windows(&b.config())?;
                Ok(EntryMerge {
                    series: a.merge(b)?,
                })
            }
            (Sketch::Leaderboard(a), Sketch::Leaderboard(b)) => {
                a.merge(b, admission)?;
                Ok(EntryMerge::default())
            }
            (Sketch::TopK(a), Sketch::TopK(b)) => {
                a.merge(b, admission)?;
                Ok(EntryMerge::default())
            }
            (Sketch::CountMin(a), Sketch::CountMin(b)) => {
                a.merge(b, admission)?;
                Ok(EntryMerge::default())
            }
            (Sketch::Quantiles(a), Sketch::Quantiles(b)) => {
                a.merge(b, admission)?;
                Ok(EntryMerge::default())
            }
            (a, b) => Err(Error::ParameterMismatch {
                what: "sketch family",
                left: u64::from(a.family().id()),
                right: u64::from(b.family().id()),
            }),
        }
    }

    /// Moves the clock of a time series forward (no effect on other families).
    pub fn advance(&mut self, now_ms: i64) {
        match self {
            Sketch::WindowCounter(w) => w.advance(now_ms),
            Sketch::UniqueSeries(u) => u.advance(now_ms),
            _ => {}
        }
    }

    /// An empty sketch of the same family and parameters (time series keep their clock): what a
    /// receiver merges a first envelope into, and what a sender starts its next delta from.
    pub fn emptied(&self) -> Sketch {
        match self {
            Sketch::HyperLogLog(h) => Sketch::HyperLogLog(HyperLogLog::empty(h.precision())),
            Sketch::Counter(_) => Sketch::Counter(Counter::new()),
            Sketch::WindowCounter(w) => Sketch::WindowCounter(w.emptied()),
            Sketch::UniqueSeries(u) => Sketch::UniqueSeries(u.emptied()),
            Sketch::Leaderboard(l) => Sketch::Leaderboard(l.emptied()),
            Sketch::TopK(t) => Sketch::TopK(t.emptied()),
            Sketch::CountMin(c) => Sketch::CountMin(c.emptied()),
            Sketch::Quantiles(q) => Sketch::Quantiles(q.emptied()),
        }
    }

    /// An empty sketch of the same family and parameters whose clock (for time series) is
    /// `now_ms`: what a receiver merges a first envelope into.
    pub fn emptied_at(&self, now_ms: i64) -> Sketch {
        match self {
            Sketch::WindowCounter(w) => Sketch::WindowCounter(w.emptied_at(now_ms)),
            Sketch::UniqueSeries(u) => Sketch::UniqueSeries(u.emptied_at(now_ms)),
            other => other.emptied(),
        }
    }

    /// Whether the sketch holds nothing.
    pub fn is_empty(&self) -> bool {
        match self {
            Sketch::HyperLogLog(h) => h.is_empty(),
            Sketch::Counter(c) => c.is_empty(),
            Sketch::WindowCounter(w) => w.is_empty() && w.rejected().is_empty(),
            Sketch::UniqueSeries(u) => u.is_empty() && u.rejected().is_empty(),
            Sketch::Leaderboard(l) => l.is_empty(),
            Sketch::TopK(t) => t.is_empty(),
            Sketch::CountMin(c) => c.is_empty(),
            Sketch::Quantiles(q) => q.is_empty(),
        }
    }

    /// The sketch on its own (docs/FORMAT.md §3), whatever its family: what a store keeps per key
    /// and what a raw export serves. Each family's own `from_bytes` reads it too.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut params = Vec::new();
        let mut payload = Vec::new();
        self.encode_parts(&mut params, &mut payload);
        let mut out = Vec::with_capacity(4 + params.len() + payload.len());
        out.push(wire::BARE_FORMAT_VERSION);
        out.push(self.family().id());
        codec::put_length_prefixed(&mut out, &params);
        out.extend_from_slice(&payload);
        out
    }

    /// Reads [`Sketch::to_bytes`] output (or any family's `to_bytes`), dispatching on the family
    /// byte. Hostile input gets an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sketch> {
        let (family, params, payload) = codec::read_bare(bytes)?;
        Sketch::decode(family, params, payload)
    }

    fn encode_parts(&self, params: &mut Vec<u8>, payload: &mut Vec<u8>) {
        match self {
            Sketch::HyperLogLog(x) => encode_with(x, params, payload),
            Sketch::Counter(x) => encode_with(x, params, payload),
            Sketch::WindowCounter(x) => encode_with(x, params, payload),
            Sketch::UniqueSeries(x) => encode_with(x, params, payload),
            Sketch::Leaderboard(x) => encode_with(x, params, payload),
            Sketch::TopK(x) => encode_with(x, params, payload),
            Sketch::CountMin(x) => encode_with(x, params, payload),
            Sketch::Quantiles(x) => encode_with(x, params, payload),
        }
    }

    fn decode(family: u8, params: &[u8], payload: &[u8]) -> Result<Sketch> {
        Ok(match Family::from_id(family) {
            Some(Family::HyperLogLog) => {
                Sketch::HyperLogLog(HyperLogLog::decode_parts(params, payload)?)
            }
            Some(Family::Counter) => Sketch::Counter(Counter::decode_parts(params, payload)?),
            Some(Family::WindowCounter) => {
                Sketch::WindowCounter(WindowCounter::decode_parts(params, payload)?)
            }
            Some(Family::UniqueSeries) => {
                Sketch::UniqueSeries(UniqueSeries::decode_parts(params, payload)?)
            }
            Some(Family::Leaderboard) => {
                Sketch::Leaderboard(Leaderboard::decode_parts(params, payload)?)
            }
            Some(Family::TopK) => Sketch::TopK(TopK::decode_parts(params, payload)?),
            Some(Family::CountMin) => {
                Sketch::CountMin(CountMinSketch::decode_parts(params, payload)?)
            }
            Some(Family::Quantiles) => Sketch::Quantiles(Quantiles::decode_parts(params, payload)?),
            None => return Err(Error::UnknownFamily { id: family }),
        })
    }
}

fn encode_with<F: FamilyCodec>(sketch: &F, params: &mut Vec<u8>, payload: &mut Vec<u8>) {
    sketch.encode_params(params);
    sketch.encode_payload(payload);
}

impl From<HyperLogLog> for Sketch {
    fn from(h: HyperLogLog) -> Self {
        Sketch::HyperLogLog(h)
    }
}

impl From<Counter> for Sketch {
    fn from(c: Counter) -> Self {
        Sketch::Counter(c)
    }
}

impl From<WindowCounter> for Sketch {
    fn from(w: WindowCounter) -> Self {
        Sketch::WindowCounter(w)
    }
}

impl From<UniqueSeries> for Sketch {
    fn from(u: UniqueSeries) -> Self {
        Sketch::UniqueSeries(u)
    }
}

impl From<Leaderboard> for Sketch {
    fn from(l: Leaderboard) -> Self {
        Sketch::Leaderboard(l)
    }
}

impl From<TopK> for Sketch {
    fn from(t: TopK) -> Self {
        Sketch::TopK(t)
    }
}

impl From<CountMinSketch> for Sketch {
    fn from(c: CountMinSketch) -> Self {
        Sketch::CountMin(c)
    }
}

impl From<Quantiles> for Sketch {
    fn from(q: Quantiles) -> Self {
        Sketch::Quantiles(q)
    }
}

/// A decoded envelope: header fields and named sketches (ordered by key).
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The sender.
    pub replica: ReplicaId,
    /// The sender's sequence number of this envelope.
    pub sequence: u64,
    /// When the sender made it, milliseconds since the Unix epoch.
    pub created_ms: i64,
    entries: BTreeMap<String, Sketch>,
}

/// Checks a key against the format's rules.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::EmptyKey);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::KeyTooLong {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    Ok(())
}

impl Snapshot {
    /// An envelope with no entries yet.
    pub fn new(replica: ReplicaId, sequence: u64, created_ms: i64) -> Self {
        Snapshot {
            replica,
            sequence,
            created_ms,
            entries: BTreeMap::new(),
        }
    }

    /// Adds or replaces the sketch under `key` (1..=1024 bytes of UTF-8); returns the one replaced.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        sketch: impl Into<Sketch>,
    ) -> Result<Option<Sketch>> {
        let key = key.into();
        validate_key(&key)?;
        Ok(self.entries.insert(key, sketch.into()))
    }

    /// The sketch under `key`.
    pub fn get(&self, key: &str) -> Option<&Sketch> {
        self.entries.get(key)
    }

    /// The sketch under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Sketch> {
        self.entries.get_mut(key)
    }

    /// Removes and returns the sketch under `key`.
    pub fn remove(&mut self, key: &str) -> Option<Sketch> {
        self.entries.remove(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sketch)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The envelope's identity (sender and sequence number).
    pub fn id(&self) -> EnvelopeId {
        EnvelopeId {
            replica: self.replica,
            sequence: self.sequence,
        }
    }

    /// The envelope bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + CHECKSUM_LEN + 64 * self.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // total length, patched below
        out.extend_from_slice(&self.replica.0);
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.created_ms.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        let (mut params, mut payload) = (Vec::new(), Vec::new());
        for (key, sketch) in &self.entries {
            params.clear();
            payload.clear();
            sketch.encode_parts(&mut params, &mut payload);
            codec::put_length_prefixed(&mut out, key.as_bytes());
            out.push(sketch.family().id());
            codec::put_length_prefixed(&mut out, &params);
            codec::put_length_prefixed(&mut out, &payload);
        }
        let total = (out.len() + CHECKSUM_LEN) as u32;
        out[8..12].copy_from_slice(&total.to_le_bytes());
        let crc = CRC32C.checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes an envelope and every sketch in it.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot> {
        SnapshotView::parse(bytes)?.to_snapshot()
    }
}

/// An envelope whose framing and checksum are verified, with entries still encoded.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotView<'a> {
    /// The sender.
    pub replica: ReplicaId,
    /// The sender's sequence number of this envelope.
    pub sequence: u64,
    /// When the sender made it, milliseconds since the Unix epoch.
    pub created_ms: i64,
    entry_count: u32,
    entries: &'a [u8],
}

/// One entry of a [`SnapshotView`], not yet decoded.
#[derive(Clone, Copy, Debug)]
pub struct RawEntry<'a> {
    /// The key.
    pub key: &'a str,
    /// The family id as written (possibly one this build does not know).
    pub family_id: u8,
    /// The family's parameters.
    pub params: &'a [u8],
    /// The family's state.
    pub payload: &'a [u8],
}

impl RawEntry<'_> {
    /// The family, if this build knows it.
    pub fn family(&self) -> Option<Family> {
        Family::from_id(self.family_id)
    }

    /// Decodes the sketch.
    pub fn decode(&self) -> Result<Sketch> {
        Sketch::decode(self.family_id, self.params, self.payload)
    }
}

impl<'a> SnapshotView<'a> {
    /// Decodes every entry: the same as [`Snapshot::decode`] of the bytes, without verifying
    /// the framing and checksum a second time (for a receiver that checked limits on the view).
    pub fn to_snapshot(&self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::new(self.replica, self.sequence, self.created_ms);
        for entry in self.entries() {
            snapshot
                .entries
                .insert(String::from(entry.key), entry.decode()?);
        }
        Ok(snapshot)
    }

    /// Verifies header, checksum and entry framing.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let magic: [u8; 4] = r.array("snapshot magic")?;
        if magic != MAGIC {
            return Err(Error::BadMagic {
                expected: MAGIC,
                found: magic,
            });
        }
        let version = r.u16_le("snapshot version")?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let flags = r.u16_le("snapshot flags")?;
        if flags != 0 {
            return Err(Error::UnsupportedFlags { flags });
        }
        let total = r.u32_le("snapshot length")? as usize;
        if total < ENVELOPE_HEADER_LEN + CHECKSUM_LEN {
            return Err(Error::LengthMismatch {
                what: "snapshot length field",
                declared: total as u64,
                actual: bytes.len() as u64,
            });
        }
        if total > bytes.len() {
            return Err(Error::Truncated {
                what: "snapshot",
                offset: 0,
                needed: total,
                available: bytes.len(),
            });
        }
        if total < bytes.len() {
            return Err(Error::TrailingBytes {
                what: "snapshot",
                count: bytes.len() - total,
            });
        }
        let (body, stored) = bytes.split_at(total - CHECKSUM_LEN);
        let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
        let computed = CRC32C.checksum(body);
        if stored != computed {
            return Err(Error::ChecksumMismatch { stored, computed });
        }

        let mut r = Reader::new(body);
        r.bytes(12, "snapshot header")?;
        let replica = ReplicaId(r.array("snapshot replica id")?);
        let sequence = r.u64_le("snapshot sequence")?;
        let created_ms = r.u64_le("snapshot creation time")? as i64;
        let entry_count = r.u32_le("snapshot entry count")?;
        if (entry_count as usize).saturating_mul(wire::MIN_ENTRY_LEN) > r.remaining() {
            return Err(Error::LengthMismatch {
                what: "snapshot entry count (entries of at least 5 bytes)",
                declared: u64::from(entry_count),
                actual: (r.remaining() / wire::MIN_ENTRY_LEN) as u64,
            });
        }
        let entries = &body[r.position()..];
        let view = SnapshotView {
            replica,
            sequence,
            created_ms,
            entry_count,
            entries,
        };
        // Walk the framing once; `entries()` can then lend them out without failing.
        let mut r = Reader::new(entries);
        let mut previous: Option<&str> = None;
        for index in 0..entry_count {
            let entry = read_entry(&mut r)?;
            if previous.is_some_and(|p| p.as_bytes() >= entry.key.as_bytes()) {
                return Err(Error::KeyOrder { entry: index });
            }
            previous = Some(entry.key);
        }
        r.finish("snapshot entries")?;
        Ok(view)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entry_count as usize
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entry_count == 0
    }

    /// The entries in key order.
    pub fn entries(&self) -> impl Iterator<Item = RawEntry<'a>> + 'a {
        let mut r = Reader::new(self.entries);
        // Framing was verified by `parse`, so reads cannot fail; stop quietly if one did.
        (0..self.entry_count).map_while(move |_| read_entry(&mut r).ok())
    }
}

fn read_entry<'a>(r: &mut Reader<'a>) -> Result<RawEntry<'a>> {
    let key_bytes = r.length_prefixed("snapshot entry key")?;
    let key = core::str::from_utf8(key_bytes).map_err(|_| Error::KeyNotUtf8)?;
    validate_key(key)?;
    let family_id = r.u8("snapshot entry family")?;
    let params = r.length_prefixed("snapshot entry params")?;
    let payload = r.length_prefixed("snapshot entry payload")?;
    Ok(RawEntry {
        key,
        family_id,
        params,
        payload,
    })
}
