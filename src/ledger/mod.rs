//! Exactly-once application of envelopes: the receiver's ledger.
//!
//! # The rule
//! Edge senders retry, so an envelope may arrive zero, one or many times, in any order, also after
//! either side restarted. Each sender has a random 128-bit [`ReplicaId`] and numbers its envelopes
//! 1, 2, 3, …; a retry resends the same bytes, so the same `(replica, sequence)` pair. The
//! receiver applies an envelope only if its ledger says the pair is new, and records it in the same
//! step (in one transaction, for a durable receiver), so that
//!
//! > every envelope is applied at most once, and every envelope that arrives within the limits
//! > below is applied exactly once; one outside them is refused with a precise error, never applied
//! > on a guess.
//!
//! Per sender the ledger keeps the highest sequence applied, the *gaps* below it (sequences not
//! seen yet, each with the time it opened) and a *floor*: sequences below the floor are no longer
//! tracked. Memory is bounded: a sender that delivers in order costs a few dozen bytes, its gaps
//! at most [`LedgerConfig::max_gaps`], and senders at most [`LedgerConfig::max_replicas`].
//!
//! An envelope `(r, s)` created (by the sender's clock) at `c`, arriving at receiver time `now`:
//! 1. `c < now − horizon`: refused, *too old* (its sender may have been forgotten, see 4).
//! 2. `c > now + max_future`: refused, *from the future* (a sender clock far ahead).
//! 3. sender unknown, or `s` above its highest, or `s` inside a gap: **new** (apply, then record);
//!    `s` at or above the floor and neither: **duplicate** (do nothing, answer "already applied");
//!    `s` below the floor: refused, *below the window* (too far behind the sender's newest).
//! 4. A sender not heard from for `horizon + max_future` is forgotten. This is safe because of 1:
//!    everything it sent before was received, so created, more than `horizon` ago.
//!
//! Recording `s` above the highest opens a gap for the sequences skipped; the floor follows the
//! highest at a distance of [`LedgerConfig::window`]; gaps that fall below the floor, or that are
//! older than the horizon, are closed as *lost*: those envelopes never arrived and will be refused
//! if they do. Open gaps are the drift report: envelopes a sender made that the receiver has not
//! seen (yet).
//!
//! ## Worked example (window 4, horizon 1 h)
//! | arrives (r, s) | ledger of r before | answer | ledger after |
//! |---|---|---|---|
//! | (A, 1) | unknown | new | highest 1 |
//! | (A, 3) | highest 1 | new | highest 3, gap {2} |
//! | (A, 3) | highest 3, gap {2} | duplicate | unchanged |
//! | (A, 2) | highest 3, gap {2} | new | highest 3 |
//! | (A, 9) | highest 3 | new | highest 9, floor 6, gaps {6..8}; 4, 5 lost |
//! | (A, 5) | floor 6 | refused: below the window | unchanged |
//! | (A, 7) created 2 h ago | | refused: too old | unchanged |
//!
//! # Parts of a split envelope
//! A receiver may refuse an envelope as too large (it applied nothing of it). Its sender then
//! splits it into parts under fresh sequences, each naming the sequence(s) it stands in for
//! ([`Ledger::admit_part`]). Applying a part *settles* the sequences it names: they are recorded
//! as seen and marked *parted*, so they never show as gaps and the refused original, should it
//! come again, is a duplicate. A part is applied only if each sequence it names is unseen or
//! parted; if one was applied *whole*, the part's entries were already applied with it, so the
//! part is recorded and answered as a duplicate. A part naming a sequence below the window is
//! refused: the ledger cannot tell which case holds. Parted sequences per sender are bounded like
//! gaps ([`LedgerConfig::max_gaps`]); the oldest beyond it moves the floor up.
//!
//! # Which merges need it
//! Merging HyperLogLogs (register maxima) is idempotent: applying an envelope twice changes
//! nothing, so their `merge` takes no ledger. Additive families (counters, window counters) are
//! not, so their merges take the [`Admission`] that [`Ledger::admit`] hands out for a new
//! envelope; the type system then makes "merge it without asking the ledger" impossible to write by
//! accident.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use crate::codec::{self, Reader};
use crate::error::{Error, Result};
use crate::snapshot::ReplicaId;
use crate::wire;

/// Which envelope: the sender and its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvelopeId {
    /// The sender.
    pub replica: ReplicaId,
    /// The sender's number for this envelope, from 1.
    pub sequence: u64,
}

/// The ledger's limits. [`LedgerConfig::default`] documents the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// How far behind a sender's highest sequence an envelope may be and still be recognised.
    pub window: u64,
    /// How old (by its own creation time) an envelope may be when it arrives.
    pub horizon_ms: i64,
    /// How far ahead of the receiver's clock an envelope's creation time may be.
    pub max_future_ms: i64,
    /// Senders remembered at once; a new one beyond this is refused until idle ones expire.
    pub max_replicas: usize,
    /// Open gaps remembered per sender; beyond this the oldest is closed as lost.
    pub max_gaps: usize,
}

impl Default for LedgerConfig {
    /// Window 65,536 sequences, horizon 24 h, 5 min of sender clock ahead, 250,000 senders, 1,024
    /// gaps each.
    fn default() -> Self {
        LedgerConfig {
            window: 1 << 16,
            horizon_ms: 24 * 60 * 60 * 1000,
            max_future_ms: 5 * 60 * 1000,
            max_replicas: 250_000,
            max_gaps: 1024,
        }
    }
}

/// Why an envelope was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Created more than the horizon ago.
    TooOld {
        /// Its creation time.
        created_ms: i64,
        /// The oldest creation time accepted now.
        oldest_ms: i64,
    },
    /// Created too far in the future.
    FromTheFuture {
        /// Its creation time.
        created_ms: i64,
        /// The latest creation time accepted now.
        latest_ms: i64,
    },
    /// Too far behind its sender's newest envelope to tell whether it was applied.
    BelowWindow {
        /// Its sequence number.
        sequence: u64,
        /// The lowest sequence still tracked for its sender.
        floor: u64,
    },
    /// Sequence numbers start at 1.
    SequenceZero,
    /// The ledger tracks as many senders as it may.
    TooManySenders {
        /// The limit.
        max_replicas: usize,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Refusal::TooOld {
                created_ms,
                oldest_ms,
            } => write!(
                f,
                "created at {created_ms} ms, before the horizon ({oldest_ms} ms): it may already have been applied"
            ),
            Refusal::FromTheFuture {
                created_ms,
                latest_ms,
            } => write!(
                f,
                "created at {created_ms} ms, after the latest accepted time {latest_ms} ms (sender clock ahead?)"
            ),
            Refusal::BelowWindow { sequence, floor } => write!(
                f,
                "sequence {sequence} is below the window (its sender's lowest tracked sequence is {floor})"
            ),
            Refusal::SequenceZero => f.write_str("sequence 0 (sequence numbers start at 1)"),
            Refusal::TooManySenders { max_replicas } => {
                write!(f, "the ledger already tracks {max_replicas} senders")
            }
        }
    }
}

/// What [`Ledger::admit`] found.
#[derive(Debug)]
#[must_use]
pub enum Admit<'a> {
    /// Not applied before: apply it, then [`Admission::commit`].
    New(Admission<'a>),
    /// Applied before: change nothing.
    Duplicate,
}

/// Permission to apply one new envelope. Additive merges require it; [`Admission::commit`]
/// records the envelope as applied. Dropped without a commit, nothing is recorded (for a caller
/// whose apply failed and was rolled back).
#[derive(Debug)]
#[must_use = "commit the admission once the envelope is applied"]
pub struct Admission<'a> {
    ledger: &'a mut Ledger,
    id: EnvelopeId,
    now_ms: i64,
    /// For a part: the unseen sequences it settles on commit, ascending.
    settles: Vec<u64>,
}

impl Admission<'_> {
    /// The envelope admitted.
    pub fn id(&self) -> EnvelopeId {
        self.id
    }

    /// For a part ([`Ledger::admit_part`]): how many sequences its commit settles (those not
    /// already settled by another part).
    pub fn settles(&self) -> usize {
        self.settles.len()
    }

    /// Records the envelope as applied, and a part's unsettled sequences as parted.
    pub fn commit(self) {
        let Admission {
            ledger,
            id,
            now_ms,
            settles,
        } = self;
        ledger.record(id, now_ms);
        ledger.stats.applied = ledger.stats.applied.saturating_add(1);
        if !settles.is_empty() {
            ledger.settle(id.replica, &settles, now_ms, true);
        }
    }
}

/// Sequences `from..to` not seen yet, and when the gap opened (receiver time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// First missing sequence.
    pub from: u64,
    /// One past the last missing sequence.
    pub to: u64,
    /// When a later sequence arrived and revealed the gap.
    pub opened_ms: i64,
}

impl Gap {
    /// Missing sequences in the gap.
    pub fn len(&self) -> u64 {
        self.to - self.from
    }

    /// Whether the gap is empty (never, for gaps the ledger holds).
    pub fn is_empty(&self) -> bool {
        self.to == self.from
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Sender {
    floor: u64,
    highest: u64,
    /// Sorted, disjoint, within `floor..highest`.
    gaps: Vec<Gap>,
    /// Sequences settled by parts of a split (never applied whole): ascending, within
    /// `floor..highest`, outside the gaps.
    parted: Vec<u64>,
    last_seen_ms: i64,
}

/// Counters of what the ledger did, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerStats {
    /// Envelopes recorded as applied.
    pub applied: u64,
    /// Envelopes found already applied.
    pub duplicates: u64,
    /// Envelopes refused (any [`Refusal`]).
    pub refused: u64,
    /// Sequences given up on: gaps that fell below the window or outlived the horizon.
    pub lost: u64,
    /// Senders forgotten after being idle past the horizon.
    pub expired_senders: u64,
}

/// The receiver's record of which envelopes were applied. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    config: LedgerConfig,
    senders: BTreeMap<ReplicaId, Sender>,
    stats: LedgerStats,
}

impl Ledger {
    /// An empty ledger.
    pub fn new(config: LedgerConfig) -> Result<Self> {
        if config.window == 0
            || config.horizon_ms <= 0
            || config.max_future_ms < 0
            || config.max_replicas == 0
            || config.max_gaps == 0
        {
            return Err(Error::InvalidConfig {
                what: "ledger: window, horizon, senders and gaps must be positive, max_future not negative",
            });
        }
        Ok(Ledger {
            config,
            senders: BTreeMap::new(),
            stats: LedgerStats::default(),
        })
    }

    /// The limits.
    pub fn config(&self) -> LedgerConfig {
        self.config
    }

    /// What the ledger has done so far.
    pub fn stats(&self) -> LedgerStats {
        self.stats
    }

    /// Senders currently tracked.
    pub fn senders(&self) -> usize {
        self.senders.len()
    }

    /// Decides whether envelope `id`, created at `created_ms` (sender clock), is new at receiver
    /// time `now_ms`. Refusals are counted; so are duplicates.
    pub fn admit(&mut self, id: EnvelopeId, created_ms: i64, now_ms: i64) -> Result<Admit<'_>> {
        self.admit_part(id, &[], created_ms, now_ms)
    }

    /// Like [`Ledger::admit`], for a part of a split envelope that stands in for the earlier
    /// sequences `parts_of` of its sender (the refused envelope, and for a part of a part its
    /// parts too). New only if the part itself is new and each of `parts_of` is unseen or parted;
    /// its commit then settles the unseen ones. If one of them was applied whole, the part and
    /// the unseen ones are recorded as seen (their entries were applied with that envelope) and
    /// [`Admit::Duplicate`] returned.
    /// A sequence of `parts_of` that is not below the part's own is an
    /// [`Error::InvalidValue`]; one below the window refuses the part.
    pub fn admit_part(
        &mut self,
        id: EnvelopeId,
        parts_of: &[u64],
        created_ms: i64,
        now_ms: i64,
    ) -> Result<Admit<'_>> {
        if parts_of.iter().any(|&p| p >= id.sequence) {
            return Err(Error::InvalidValue {
                what: "a part can only stand in for earlier sequences of its sender",
            });
        }
        let mut settles: Vec<u64> = Vec::new();
        let mut applied_whole = false;
        let checked = self.classify(id, created_ms, now_ms).and_then(|new| {
            if !new {
                return Ok(false);
            }
            for &sequence in parts_of {
                let of = EnvelopeId {
                    replica: id.replica,
                    sequence,
                };
                if self.classify(of, created_ms, now_ms)? {
                    settles.push(sequence);
                } else if !self.is_parted(of) {
                    applied_whole = true;
                }
            }
            Ok(true)
        });
        settles.sort_unstable();
        settles.dedup();
        match checked {
            Ok(true) if applied_whole => {
                // Its entries, and those of the unseen sequences it names (parts of that whole
                // too), were applied with the whole: seen, not missing, and not parted.
                self.record(id, now_ms);
                self.settle(id.replica, &settles, now_ms, false);
                self.stats.duplicates = self.stats.duplicates.saturating_add(1);
                Ok(Admit::Duplicate)
            }
            Ok(true) => Ok(Admit::New(Admission {
                ledger: self,
                id,
                now_ms,
                settles,
            })),
            Ok(false) => {
                self.stats.duplicates = self.stats.duplicates.saturating_add(1);
                Ok(Admit::Duplicate)
            }
            Err(refusal) => {
                self.stats.refused = self.stats.refused.saturating_add(1);
                Err(Error::EnvelopeRefused(refusal))
            }
        }
    }

    fn is_parted(&self, id: EnvelopeId) -> bool {
        self.senders
            .get(&id.replica)
            .is_some_and(|s| s.parted.binary_search(&id.sequence).is_ok())
    }

    /// Records `sequences` (ascending, unseen, below a sequence just recorded) as seen, and if
    /// `parted` as settled by parts.
    fn settle(&mut self, replica: ReplicaId, sequences: &[u64], now_ms: i64, parted: bool) {
        for &sequence in sequences {
            let id = EnvelopeId { replica, sequence };
            // Recording the part itself may have moved the floor above it.
            if self
                .senders
                .get(&replica)
                .is_none_or(|s| sequence < s.floor)
            {
                continue;
            }
            self.record(id, now_ms);
            if !parted {
                continue;
            }
            if let Some(sender) = self.senders.get_mut(&replica) {
                if let Err(at) = sender.parted.binary_search(&sequence) {
                    sender.parted.insert(at, sequence);
                }
            }
        }
        let max = self.config.max_gaps;
        let mut lost = 0;
        if let Some(sender) = self.senders.get_mut(&replica) {
            while sender.parted.len() > max {
                let oldest = sender.parted[0];
                lost += sender.raise_floor(oldest + 1);
            }
        }
        self.stats.lost = self.stats.lost.saturating_add(lost);
    }

    /// `Ok(true)` new, `Ok(false)` duplicate.
    fn classify(&mut self, id: EnvelopeId, created_ms: i64, now_ms: i64) -> Result<bool, Refusal> {
        if id.sequence == 0 {
            return Err(Refusal::SequenceZero);
        }
        let oldest_ms = now_ms.saturating_sub(self.config.horizon_ms);
        if created_ms < oldest_ms {
            return Err(Refusal::TooOld {
                created_ms,
                oldest_ms,
            });
        }
        let latest_ms = now_ms.saturating_add(self.config.max_future_ms);
        if created_ms > latest_ms {
            return Err(Refusal::FromTheFuture {
                created_ms,
                latest_ms,
            });
        }
        let Some(sender) = self.senders.get(&id.replica) else {
            if self.senders.len() >= self.config.max_replicas {
                self.expire(now_ms);
                if self.senders.len() >= self.config.max_replicas {
                    return Err(Refusal::TooManySenders {
                        max_replicas: self.config.max_replicas,
                    });
                }
            }
            return Ok(true);
        };
        let s = id.sequence;
        if s > sender.highest {
            return Ok(true);
        }
        if s < sender.floor {
            return Err(Refusal::BelowWindow {
                sequence: s,
                floor: sender.floor,
            });
        }
        Ok(sender.gaps.iter().any(|g| g.from <= s && s < g.to))
    }

    /// Records `id` as seen at `now_ms` (the second half of an admission).
    fn record(&mut self, id: EnvelopeId, now_ms: i64) {
        let config = self.config;
        let s = id.sequence;
        let mut lost = 0;
        match self.senders.get_mut(&id.replica) {
            None => {
                let floor = s.saturating_sub(config.window - 1).max(1);
                // A sender first seen far into its numbering: what lies below the window can
                // never be accepted.
                lost += floor - 1;
                let mut sender = Sender {
                    floor,
                    highest: s,
                    gaps: Vec::new(),
                    parted: Vec::new(),
                    last_seen_ms: now_ms,
                };
                if floor < s {
                    sender.gaps.push(Gap {
                        from: floor,
                        to: s,
                        opened_ms: now_ms,
                    });
                }
                self.senders.insert(id.replica, sender);
            }
            Some(sender) => {
                sender.last_seen_ms = now_ms;
                if s > sender.highest {
                    if s > sender.highest + 1 {
                        sender.gaps.push(Gap {
                            from: sender.highest + 1,
                            to: s,
                            opened_ms: now_ms,
                        });
                    }
                    sender.highest = s;
                    lost += sender.raise_floor(s.saturating_sub(config.window - 1));
                } else if let Some(i) = sender.gaps.iter().position(|g| g.from <= s && s < g.to) {
                    let gap = sender.gaps[i];
                    match (gap.from == s, gap.to == s + 1) {
                        (true, true) => {
                            sender.gaps.remove(i);
                        }
                        (true, false) => sender.gaps[i].from = s + 1,
                        (false, true) => sender.gaps[i].to = s,
                        (false, false) => {
                            sender.gaps[i].to = s;
                            sender.gaps.insert(i + 1, Gap { from: s + 1, ..gap });
                        }
                    }
                }
                while sender.gaps.len() > config.max_gaps {
                    let oldest = sender.gaps[0];
                    lost += sender.raise_floor(oldest.to);
                }
            }
        }
        // Statistics saturate: a decoded ledger may carry counts near the top of u64.
        self.stats.lost = self.stats.lost.saturating_add(lost);
    }

    /// Forgets senders idle for longer than the horizon plus the future allowance, and closes gaps
    /// older than the horizon as lost. Call it now and then (admit calls it when full).
    pub fn expire(&mut self, now_ms: i64) {
        let idle_limit = now_ms
            .saturating_sub(self.config.horizon_ms)
            .saturating_sub(self.config.max_future_ms);
        let gap_limit = now_ms.saturating_sub(self.config.horizon_ms);
        let before = self.senders.len();
        let mut lost = 0;
        self.senders.retain(|_, sender| {
            if sender.last_seen_ms < idle_limit {
                // Each sender's gaps fit in u64; summed over senders they may not.
                let open: u64 = sender.gaps.iter().map(Gap::len).sum();
                lost = u64::saturating_add(lost, open);
                return false;
            }
            while let Some(first) = sender.gaps.first().copied() {
                if first.opened_ms >= gap_limit {
                    break;
                }
                lost = u64::saturating_add(lost, sender.raise_floor(first.to));
            }
            true
        });
        let expired = (before - self.senders.len()) as u64;
        self.stats.expired_senders = self.stats.expired_senders.saturating_add(expired);
        self.stats.lost = self.stats.lost.saturating_add(lost);
    }

    /// Open gaps per sender (the drift report): envelopes made but not received (yet).
    pub fn gaps(&self) -> impl Iterator<Item = (ReplicaId, &[Gap])> {
        self.senders
            .iter()
            .filter(|(_, s)| !s.gaps.is_empty())
            .map(|(r, s)| (*r, &s.gaps[..]))
    }

    /// The highest sequence applied from `replica`, if it is tracked.
    pub fn highest(&self, replica: &ReplicaId) -> Option<u64> {
        self.senders.get(replica).map(|s| s.highest)
    }

    /// The ledger's own binary form (for a receiver that persists it beside its sketches); see
    /// docs/FORMAT.md.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&wire::ledger::MAGIC);
        out.push(wire::ledger::VERSION);
        let c = &self.config;
        codec::put_varint_u64(&mut out, c.window);
        codec::put_zigzag_i64(&mut out, c.horizon_ms);
        codec::put_zigzag_i64(&mut out, c.max_future_ms);
        codec::put_varint_u64(&mut out, c.max_replicas as u64);
        codec::put_varint_u64(&mut out, c.max_gaps as u64);
        let s = &self.stats;
        for v in [
            s.applied,
            s.duplicates,
            s.refused,
            s.lost,
            s.expired_senders,
        ] {
            codec::put_varint_u64(&mut out, v);
        }
        codec::put_varint_u64(&mut out, self.senders.len() as u64);
        for (replica, sender) in &self.senders {
            out.extend_from_slice(&replica.0);
            codec::put_varint_u64(&mut out, sender.floor);
            codec::put_varint_u64(&mut out, sender.highest - sender.floor);
            codec::put_zigzag_i64(&mut out, sender.last_seen_ms);
            codec::put_varint_u64(&mut out, sender.gaps.len() as u64);
            let mut previous = sender.floor;
            for gap in &sender.gaps {
                codec::put_varint_u64(&mut out, gap.from - previous);
                codec::put_varint_u64(&mut out, gap.to - gap.from);
                codec::put_zigzag_i64(&mut out, gap.opened_ms);
                previous = gap.to;
            }
            codec::put_varint_u64(&mut out, sender.parted.len() as u64);
            let mut next = sender.floor;
            for &sequence in &sender.parted {
                codec::put_varint_u64(&mut out, sequence - next);
                next = sequence + 1;
            }
        }
        out
    }

    /// Reads [`Ledger::to_bytes`] output, validating all of it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Ledger> {
        let mut r = Reader::new(bytes);
        let magic: [u8; 4] = r.array("ledger magic")?;
        if magic != wire::ledger::MAGIC {
            return Err(Error::BadMagic {
                expected: wire::ledger::MAGIC,
                found: magic,
            });
        }
        let version = r.u8("ledger version")?;
        if !(wire::ledger::OLDEST_VERSION..=wire::ledger::VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                found: u16::from(version),
                supported: u16::from(wire::ledger::VERSION),
            });
        }
        let config = LedgerConfig {
            window: r.varint_u64("ledger window")?,
            horizon_ms: r.zigzag_i64("ledger horizon")?,
            max_future_ms: r.zigzag_i64("ledger future allowance")?,
            max_replicas: usize_of(r.varint_u64("ledger sender limit")?)?,
            max_gaps: usize_of(r.varint_u64("ledger gap limit")?)?,
        };
        let mut ledger = Ledger::new(config)?;
        ledger.stats = LedgerStats {
            applied: r.varint_u64("ledger stats")?,
            duplicates: r.varint_u64("ledger stats")?,
            refused: r.varint_u64("ledger stats")?,
            lost: r.varint_u64("ledger stats")?,
            expired_senders: r.varint_u64("ledger stats")?,
        };
        let count = r.varint_u64("ledger sender count")?;
        // A sender takes at least 20 bytes: refuse counts the input cannot hold before reading.
        if count > (r.remaining() / 20) as u64 {
            return Err(Error::LengthMismatch {
                what: "ledger sender count",
                declared: count,
                actual: (r.remaining() / 20) as u64,
            });
        }
        let mut previous: Option<ReplicaId> = None;
        for index in 0..count {
            let replica = ReplicaId(r.array("ledger replica id")?);
            if previous.is_some_and(|p| p >= replica) {
                return Err(Error::NonCanonical {
                    what: "ledger senders must be in ascending replica id order",
                });
            }
            previous = Some(replica);
            let floor = r.varint_u64("ledger floor")?;
            let highest = floor.checked_add(r.varint_u64("ledger highest")?).ok_or(
                Error::IndexOutOfRange {
                    what: "ledger highest sequence",
                    index,
                    limit: u64::MAX,
                },
            )?;
            let last_seen_ms = r.zigzag_i64("ledger last seen")?;
            let gap_count = r.varint_u64("ledger gap count")?;
            if gap_count > config.max_gaps as u64 || gap_count > (r.remaining() / 3) as u64 {
                return Err(Error::LengthMismatch {
                    what: "ledger gap count",
                    declared: gap_count,
                    actual: (config.max_gaps as u64).min((r.remaining() / 3) as u64),
                });
            }
            let mut gaps = Vec::with_capacity(gap_count as usize);
            let mut at = floor;
            for _ in 0..gap_count {
                let from = at.checked_add(r.varint_u64("ledger gap start")?);
                let len = r.varint_u64("ledger gap length")?;
                let to = from.and_then(|f| f.checked_add(len));
                let opened_ms = r.zigzag_i64("ledger gap opened")?;
                match (from, to) {
                    (Some(from), Some(to)) if len > 0 && to <= highest => {
                        gaps.push(Gap {
                            from,
                            to,
                            opened_ms,
                        });
                        at = to;
                    }
                    _ => {
                        return Err(Error::IndexOutOfRange {
                            what: "ledger gap",
                            index: at,
                            limit: highest,
                        });
                    }
                }
            }
            if floor == 0 {
                return Err(Error::NonCanonical {
                    what: "ledger floor must be at least 1",
                });
            }
            let parted = if version >= 2 {
                read_parted(&mut r, config, floor, highest, &gaps)?
            } else {
                Vec::new()
            };
            ledger.senders.insert(
                replica,
                Sender {
                    floor,
                    highest,
                    gaps,
                    parted,
                    last_seen_ms,
                },
            );
        }
        r.finish("ledger")?;
        Ok(ledger)
    }
}

/// A sender's parted sequences (format version 2): each strictly below `highest`, ascending, and
/// outside the gaps.
fn read_parted(
    r: &mut Reader<'_>,
    config: LedgerConfig,
    floor: u64,
    highest: u64,
    gaps: &[Gap],
) -> Result<Vec<u64>> {
    let count = r.varint_u64("ledger parted count")?;
    if count > config.max_gaps as u64 || count > r.remaining() as u64 {
        return Err(Error::LengthMismatch {
            what: "ledger parted count",
            declared: count,
            actual: (config.max_gaps as u64).min(r.remaining() as u64),
        });
    }
    let mut parted = Vec::with_capacity(count as usize);
    let mut next = floor;
    // Both ascending: walk the gaps alongside.
    let mut gaps = gaps.iter().peekable();
    for _ in 0..count {
        let sequence = next.checked_add(r.varint_u64("ledger parted sequence")?);
        let in_gap = sequence.is_some_and(|s| {
            while gaps.next_if(|g| g.to <= s).is_some() {}
            gaps.peek().is_some_and(|g| g.from <= s)
        });
        match sequence {
            Some(s) if s < highest && !in_gap => {
                parted.push(s);
                next = s + 1;
            }
            _ => {
                return Err(Error::IndexOutOfRange {
                    what: "ledger parted sequence",
                    index: next,
                    limit: highest,
                });
            }
        }
    }
    Ok(parted)
}

fn usize_of(v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::InvalidConfig {
        what: "ledger limit does not fit this platform",
    })
}

impl Sender {
    /// Moves the floor up to `floor`, closing the gaps below it; returns the sequences lost.
    fn raise_floor(&mut self, floor: u64) -> u64 {
        if floor <= self.floor {
            return 0;
        }
        self.floor = floor;
        self.parted.retain(|&p| p >= floor);
        let mut lost = 0;
        self.gaps.retain_mut(|g| {
            if g.to <= floor {
                lost += g.len();
                false
            } else {
                if g.from < floor {
                    lost += floor - g.from;
                    g.from = floor;
                }
                true
            }
        });
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn id(r: u8, sequence: u64) -> EnvelopeId {
        EnvelopeId {
            replica: ReplicaId([r; 16]),
            sequence,
        }
    }

    /// Admits and, if new, commits; returns "new", "duplicate" or the refusal.
    fn deliver(l: &mut Ledger, id: EnvelopeId, created: i64, now: i64) -> Result<bool> {
        match l.admit(id, created, now)? {
            Admit::New(a) => {
                a.commit();
                Ok(true)
            }
            Admit::Duplicate => Ok(false),
        }
    }

    #[test]
    fn the_worked_example_of_the_docs() {
        let mut l = Ledger::new(LedgerConfig {
            window: 4,
            horizon_ms: HOUR,
            ..LedgerConfig::default()
        })
        .unwrap();
        let now = 10 * HOUR;
        assert_eq!(deliver(&mut l, id(b'A', 1), now, now), Ok(true));
        assert_eq!(deliver(&mut l, id(b'A', 3), now, now), Ok(true));
        assert_eq!(
            l.gaps().next().unwrap().1,
            &[Gap {
                from: 2,
                to: 3,
                opened_ms: now
            }]
        );
        assert_eq!(deliver(&mut l, id(b'A', 3), now, now), Ok(false));
        assert_eq!(deliver(&mut l, id(b'A', 2), now, now), Ok(true));
        assert_eq!(l.gaps().count(), 0);
        assert_eq!(deliver(&mut l, id(b'A', 9), now, now), Ok(true));
        assert_eq!(
            l.gaps().next().unwrap().1,
            &[Gap {
                from: 6,
                to: 9,
                opened_ms: now
            }]
        );
        assert_eq!(l.stats().lost, 2, "4 and 5 fell below the window");
        assert_eq!(
            deliver(&mut l, id(b'A', 5), now, now),
            Err(Error::EnvelopeRefused(Refusal::BelowWindow {
                sequence: 5,
                floor: 6
            }))
        );
        assert!(matches!(
            deliver(&mut l, id(b'A', 7), now - 2 * HOUR, now),
            Err(Error::EnvelopeRefused(Refusal::TooOld { .. }))
        ));
        assert_eq!(deliver(&mut l, id(b'A', 7), now, now), Ok(true));
        assert_eq!(l.gaps().next().unwrap().1.len(), 2, "7 split the gap 6..9");
        let stats = l.stats();
        assert_eq!((stats.applied, stats.duplicates, stats.refused), (5, 1, 2));
    }

    #[test]
    fn uncommitted_admissions_record_nothing() {
        let mut l = Ledger::new(LedgerConfig::default()).unwrap();
        let Admit::New(a) = l.admit(id(1, 1), 0, 0).unwrap() else {
            panic!("new")
        };
        drop(a);
        assert!(matches!(l.admit(id(1, 1), 0, 0), Ok(Admit::New(_))));
    }

    #[test]
    fn idle_senders_expire_only_when_their_envelopes_are_too_old_anyway() {
        let cfg = LedgerConfig {
            horizon_ms: HOUR,
            max_future_ms: 60_000,
            max_replicas: 2,
            ..LedgerConfig::default()
        };
        let mut l = Ledger::new(cfg).unwrap();
        assert_eq!(deliver(&mut l, id(1, 1), 0, 0), Ok(true));
        assert_eq!(deliver(&mut l, id(2, 5), 0, 0), Ok(true));
        assert!(matches!(
            deliver(&mut l, id(3, 1), 10, 10),
            Err(Error::EnvelopeRefused(Refusal::TooManySenders {
                max_replicas: 2
            }))
        ));
        // Past horizon + future allowance, the idle senders go, and their old envelopes are too
        // old to be applied again.
        let later = HOUR + 60_001;
        assert_eq!(deliver(&mut l, id(3, 1), later, later), Ok(true));
        assert_eq!(l.stats().expired_senders, 2);
        assert_eq!(l.stats().lost, 4, "sender 2 never sent 1..5");
        assert!(matches!(
            deliver(&mut l, id(1, 1), 0, later),
            Err(Error::EnvelopeRefused(Refusal::TooOld { .. }))
        ));
    }

    #[test]
    fn gaps_are_bounded_and_expire() {
        let mut l = Ledger::new(LedgerConfig {
            max_gaps: 3,
            horizon_ms: HOUR,
            ..LedgerConfig::default()
        })
        .unwrap();
        for s in (1..=20).step_by(2) {
            assert_eq!(deliver(&mut l, id(1, s), 0, 0), Ok(true));
        }
        assert_eq!(l.gaps().next().unwrap().1.len(), 3);
        assert_eq!(l.stats().lost, 6);
        // A gap can still be filled while it is open.
        assert_eq!(deliver(&mut l, id(1, 16), 0, 0), Ok(true));
        l.expire(2 * HOUR);
        assert_eq!(l.gaps().count(), 0);
        assert_eq!(l.stats().lost, 8);
    }

    /// Admits a part standing in for `parts_of` and, if new, commits; returns whether it was
    /// new and how many sequences it settled.
    fn deliver_part(l: &mut Ledger, id: EnvelopeId, parts_of: &[u64]) -> Result<(bool, usize)> {
        match l.admit_part(id, parts_of, 0, 0)? {
            Admit::New(a) => {
                let settles = a.settles();
                a.commit();
                Ok((true, settles))
            }
            Admit::Duplicate => Ok((false, 0)),
        }
    }

    #[test]
    fn parts_settle_a_refused_envelope_once_and_never_repeat_one_applied_whole() {
        let mut l = Ledger::new(LedgerConfig::default()).unwrap();
        // 1 refused as too large (never applied), split into 2 and 3; 3 split again into 4, 5.
        assert_eq!(deliver_part(&mut l, id(1, 2), &[1]), Ok((true, 1)));
        assert_eq!(
            deliver_part(&mut l, id(1, 2), &[1]),
            Ok((false, 0)),
            "a retry"
        );
        assert_eq!(deliver_part(&mut l, id(1, 5), &[1, 3]), Ok((true, 1)));
        assert_eq!(deliver_part(&mut l, id(1, 4), &[3, 1, 3]), Ok((true, 0)));
        assert_eq!(l.gaps().count(), 0, "1 and 3 are settled, not missing");
        // The refused original, or a refused part, arriving again changes nothing.
        assert_eq!(deliver(&mut l, id(1, 1), 0, 0), Ok(false));
        assert_eq!(deliver(&mut l, id(1, 3), 0, 0), Ok(false));
        // 6 applied whole; a part naming it (a sender that split what it had delivered) holds
        // entries already applied: recorded, answered as a duplicate, and so are its retries.
        assert_eq!(deliver(&mut l, id(1, 6), 0, 0), Ok(true));
        let applied = l.stats().applied;
        assert_eq!(deliver_part(&mut l, id(1, 7), &[6]), Ok((false, 0)));
        assert_eq!(deliver_part(&mut l, id(1, 7), &[6]), Ok((false, 0)));
        assert_eq!(deliver_part(&mut l, id(1, 8), &[3, 6]), Ok((false, 0)));
        // A part of a part (9, unseen) of 6: 9's entries came with 6 too.
        assert_eq!(deliver_part(&mut l, id(1, 10), &[6, 9]), Ok((false, 0)));
        assert_eq!(l.stats().applied, applied);
        assert_eq!(l.highest(&id(1, 0).replica), Some(10));
        assert_eq!(l.gaps().count(), 0, "7 to 10 are recorded");
        assert_eq!(deliver_part(&mut l, id(1, 9), &[6]), Ok((false, 0)));
        // A part of the future part of itself, and a part naming a forgotten sequence.
        assert!(matches!(
            deliver_part(&mut l, id(1, 11), &[11]),
            Err(Error::InvalidValue { .. })
        ));
        let mut small = Ledger::new(LedgerConfig {
            window: 4,
            ..LedgerConfig::default()
        })
        .unwrap();
        assert_eq!(deliver(&mut small, id(1, 10), 0, 0), Ok(true));
        assert!(matches!(
            deliver_part(&mut small, id(1, 11), &[2]),
            Err(Error::EnvelopeRefused(Refusal::BelowWindow { .. }))
        ));
        assert_eq!(
            small.highest(&id(1, 0).replica),
            Some(10),
            "refused: nothing recorded"
        );
        // Uncommitted, a part settles nothing.
        if let Admit::New(a) = small.admit_part(id(1, 12), &[8], 0, 0).unwrap() {
            drop(a);
        }
        assert_eq!(deliver(&mut small, id(1, 8), 0, 0), Ok(true));
    }

    #[test]
    fn parted_sequences_are_bounded() {
        let mut l = Ledger::new(LedgerConfig {
            max_gaps: 2,
            ..LedgerConfig::default()
        })
        .unwrap();
        for s in (1..=9).step_by(2) {
            assert_eq!(deliver_part(&mut l, id(1, s + 1), &[s]), Ok((true, 1)));
        }
        let sender = &l.senders[&id(1, 0).replica];
        assert_eq!(sender.parted, [7, 9]);
        assert_eq!(sender.floor, 6);
        assert_eq!(l.stats().lost, 0, "settled sequences are not lost");
        assert_eq!(Ledger::from_bytes(&l.to_bytes()).unwrap(), l);
    }

    #[test]
    fn reads_version_1_and_refuses_damaged_parted_lists() {
        let mut l = Ledger::new(LedgerConfig::default()).unwrap();
        deliver(&mut l, id(1, 1), 5, 5).unwrap();
        deliver(&mut l, id(1, 4), 5, 5).unwrap();
        let v2 = l.to_bytes();
        // Version 1 is version 2 without the parted count (0 here, the last byte).
        assert_eq!(v2[4], 2);
        let mut v1 = v2[..v2.len() - 1].to_vec();
        v1[4] = 1;
        assert_eq!(Ledger::from_bytes(&v1).unwrap(), l);
        let mut v3 = v2.clone();
        v3[4] = 3;
        assert!(matches!(
            Ledger::from_bytes(&v3),
            Err(Error::UnsupportedVersion { found: 3, .. })
        ));
        // floor 1, highest 4, gap 2..4: parted 1 is fine; 2 is in the gap, 4 not below highest.
        for (tail, ok) in [
            (&[1u8, 0][..], true),
            (&[1, 1], false),
            (&[1, 3], false),
            (&[2, 0, 0], false),
            (&[2, 0, 2], false),
        ] {
            let mut bytes = v2[..v2.len() - 1].to_vec();
            bytes.extend_from_slice(tail);
            assert_eq!(Ledger::from_bytes(&bytes).is_ok(), ok, "{tail:?}");
        }
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let mut l = Ledger::new(LedgerConfig::default()).unwrap();
        for (r, s) in [(1u8, 1u64), (1, 4), (2, 7), (3, 1), (3, 2), (1, 9)] {
            deliver(&mut l, id(r, s), 5, 5).unwrap();
        }
        deliver_part(&mut l, id(4, 3), &[1]).unwrap();
        let bytes = l.to_bytes();
        let back = Ledger::from_bytes(&bytes).unwrap();
        assert_eq!(back, l);
        for len in 0..bytes.len() {
            assert!(Ledger::from_bytes(&bytes[..len]).is_err());
        }
        let mut copy = bytes.clone();
        for i in 0..bytes.len() * 8 {
            copy[i / 8] ^= 1 << (i % 8);
            if let Ok(l2) = Ledger::from_bytes(&copy) {
                let _ = l2.to_bytes();
            }
            copy[i / 8] ^= 1 << (i % 8);
        }
    }
}
