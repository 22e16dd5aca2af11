//! The receiver's side in memory: an [`Aggregate`] applies envelopes exactly once (through its
//! [`Ledger`]) to named sketches, and reports what it did with each entry.
//!
//! This is the reference implementation of the exactly-once rule ([`crate::ledger`]): a browser or
//! a test can use it as is; the merge server does the same steps against its durable store, in one
//! transaction per envelope. Applying an envelope:
//! 1. decode it completely (a damaged or unknown one is refused and changes nothing);
//! 2. ask the ledger: refused → error, nothing changes; duplicate → nothing changes;
//! 3. new → merge each entry into the sketch under its key (a key seen for the first time starts
//!    from an empty sketch with the sender's parameters and the receiver's clock); an entry whose
//!    family or parameters do not fit the stored sketch is refused alone and reported;
//! 4. record the envelope in the ledger.
//!
//! ```
//! use edgesketch::{Aggregate, LedgerConfig, Outcome, Recorder, ReplicaId};
//!
//! let now = 1_764_115_200_000;
//! let mut sender = Recorder::with_replica(ReplicaId([1; 16]));
//! sender.counter("orders")?.increment(3);
//! let envelope = sender.envelope(now)?.unwrap();
//!
//! let mut receiver = Aggregate::new(LedgerConfig::default())?;
//! assert_eq!(receiver.apply(&envelope.bytes, now)?.outcome, Outcome::Applied);
//! assert_eq!(receiver.apply(&envelope.bytes, now)?.outcome, Outcome::Duplicate); // a retry
//! assert_eq!(receiver.get("orders").unwrap().as_counter().unwrap().value(), 3);
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::ledger::{Admit, EnvelopeId, Ledger, LedgerConfig};
use crate::snapshot::{EntryMerge, Family, Sketch, Snapshot};

/// Whether an envelope was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// New: merged (entries may still have been refused one by one).
    Applied,
    /// Applied before: nothing changed.
    Duplicate,
}

/// What happened to one entry of an applied envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryReport {
    /// Its key.
    pub key: String,
    /// Its family.
    pub family: Family,
    /// Merged (with bucket-level detail for series), or refused with the reason.
    pub result: Result<EntryMerge, Error>,
}

/// What applying an envelope did.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyReport {
    /// The envelope.
    pub id: EnvelopeId,
    /// Applied or duplicate.
    pub outcome: Outcome,
    /// One report per entry for an applied envelope; empty for a duplicate.
    pub entries: Vec<EntryReport>,
}

/// Named sketches merged from envelopes, exactly once. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Aggregate {
    sketches: BTreeMap<String, Sketch>,
    ledger: Ledger,
}

impl Aggregate {
    /// An empty aggregate whose ledger has `config`.
    pub fn new(config: LedgerConfig) -> Result<Self> {
        Ok(Aggregate {
            sketches: BTreeMap::new(),
            ledger: Ledger::new(config)?,
        })
    }

    /// An aggregate from persisted parts: sketches and the ledger that applied them.
    pub fn from_parts(sketches: BTreeMap<String, Sketch>, ledger: Ledger) -> Self {
        Aggregate { sketches, ledger }
    }

    /// The sketch under `key`.
    pub fn get(&self, key: &str) -> Option<&Sketch> {
        self.sketches.get(key)
    }

    /// Every sketch, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sketch)> {
        self.sketches.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Moves the clocks of every time series to `now_ms` (dropping expired buckets) and expires
    /// idle senders from the ledger.
    pub fn advance(&mut self, now_ms: i64) {
        for sketch in self.sketches.values_mut() {
            sketch.advance(now_ms);
        }
        self.ledger.expire(now_ms);
    }

    /// Applies an envelope received at `now_ms`. See the [module docs](self).
    pub fn apply(&mut self, envelope: &[u8], now_ms: i64) -> Result<ApplyReport> {
        self.apply_part(envelope, &[], now_ms)
    }

    /// Applies a part of a split envelope ([`crate::Recorder::split`]) that stands in for the
    /// earlier sequences `parts_of` of its sender; see [`Ledger::admit_part`]. With `parts_of`
    /// empty, the same as [`Aggregate::apply`].
    pub fn apply_part(
        &mut self,
        envelope: &[u8],
        parts_of: &[u64],
        now_ms: i64,
    ) -> Result<ApplyReport> {
        let snapshot = Snapshot::decode(envelope)?;
        let id = snapshot.id();
        let admission = match self
            .ledger
            .admit_part(id, parts_of, snapshot.created_ms, now_ms)?
        {
            Admit::Duplicate => {
                return Ok(ApplyReport {
                    id,
                    outcome: Outcome::Duplicate,
                    entries: Vec::new(),
                });
            }
            Admit::New(admission) => admission,
        };
        let mut entries = Vec::with_capacity(snapshot.len());
        for (key, incoming) in snapshot.iter() {
            let result = match self.sketches.get_mut(key) {
                Some(stored) => {
                    stored.advance(now_ms);
                    stored.merge(incoming, &admission)
                }
                None => {
                    let mut fresh = incoming.emptied_at(now_ms);
                    let result = fresh.merge(incoming, &admission);
                    if result.is_ok() {
                        self.sketches.insert(String::from(key), fresh);
                    }
                    result
                }
            };
            entries.push(EntryReport {
                key: String::from(key),
                family: incoming.family(),
                result,
            });
        }
        admission.commit();
        Ok(ApplyReport {
            id,
            outcome: Outcome::Applied,
            entries,
        })
    }
}
