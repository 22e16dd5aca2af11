//! The sender's side: a [`Recorder`] holds named sketches, records events into them, and turns what
//! it recorded into one envelope at a time.
//!
//! Each envelope carries the sender's [`ReplicaId`] (random, chosen at the first envelope, so never
//! at module top level in a Worker) and the next sequence number, 1, 2, 3, …. After an envelope is
//! made, the recorder starts from empty sketches again (time series keep their clock): every
//! envelope is a *delta*, and the receiver's ledger ([`crate::ledger`]) makes sure each is applied
//! once. Keep the bytes of an envelope until the receiver acknowledges it, and resend those same
//! bytes on failure.
//!
//! ```
//! use edgesketch::{Recorder, ReplicaId, SeriesConfig};
//!
//! let now = 1_764_115_200_000;
//! let mut recorder = Recorder::with_replica(ReplicaId([5; 16]));
//! recorder.counter("requests")?.increment(1);
//! recorder.hyperloglog("visitors", 14)?.insert(b"ada");
//! let minute = SeriesConfig::new(60_000, 3_600_000, 120_000, 10_000)?;
//! recorder.window_counter("errors:api", minute, now)?.add(1, now).unwrap();
//!
//! let envelope = recorder.envelope(now)?.expect("something was recorded");
//! assert_eq!(envelope.id.sequence, 1);
//! assert!(recorder.envelope(now)?.is_none(), "nothing new since");
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::ledger::EnvelopeId;
use crate::series::SeriesConfig;
use crate::snapshot::{Family, ReplicaId, Sketch, Snapshot, validate_key};
use crate::{
    Best, CountMinSketch, Counter, HyperLogLog, Leaderboard, MergeRule, Quantiles, TopK,
    UniqueSeries, WindowCounter,
};

/// An envelope made by a [`Recorder`]: what to send, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Sender and sequence number.
    pub id: EnvelopeId,
    /// Creation time (the sender's clock), as written in the envelope.
    pub created_ms: i64,
    /// The bytes to send, and to resend unchanged on a retry.
    pub bytes: Vec<u8>,
}

/// Named sketches of one sender. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    replica: Option<ReplicaId>,
    next_sequence: u64,
    entries: BTreeMap<String, Sketch>,
}

impl Recorder {
    /// A recorder whose replica id is drawn at random when the first envelope is made (needs the
    /// `getrandom` feature; otherwise use [`Recorder::with_replica`]).
    pub fn new() -> Self {
        Recorder {
            replica: None,
            next_sequence: 1,
            entries: BTreeMap::new(),
        }
    }

    /// A recorder with a given replica id (for instance one kept across restarts together with
    /// the next sequence number, see [`Recorder::resume`]).
    pub fn with_replica(replica: ReplicaId) -> Self {
        Recorder {
            replica: Some(replica),
            ..Recorder::new()
        }
    }

    /// A recorder that continues a sender's numbering: `next_sequence` must be above every
    /// sequence it used before, or the receiver will take new envelopes for duplicates.
    pub fn resume(replica: ReplicaId, next_sequence: u64) -> Self {
        Recorder {
            replica: Some(replica),
            next_sequence: next_sequence.max(1),
            entries: BTreeMap::new(),
        }
    }

    /// The replica id, once chosen.
    pub fn replica(&self) -> Option<ReplicaId> {
        self.replica
    }

    /// The sequence number the next envelope will carry.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The sketch under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Sketch> {
        self.entries.get(key)
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Whether nothing was recorded since the last envelope.
    pub fn is_empty(&self) -> bool {
        self.entries.values().all(Sketch::is_empty)
    }

    /// The sketch under `key`, created by `make` if absent; an error if `key` holds another family.
    /// (Recording an event looks the key up without allocating.)
    fn entry(
        &mut self,
        key: &str,
        family: Family,
        make: impl FnOnce() -> Result<Sketch>,
    ) -> Result<&mut Sketch> {
        if !self.entries.contains_key(key) {
            validate_key(key)?;
            self.entries.insert(String::from(key), make()?);
        }
        let Some(sketch) = self.entries.get_mut(key) else {
            unreachable!("the key was inserted above")
        };
        if sketch.family() != family {
            return Err(Error::ParameterMismatch {
                what: "sketch family under this key",
                left: u64::from(sketch.family().id()),
                right: u64::from(family.id()),
            });
        }
        Ok(sketch)
    }

    /// The HyperLogLog under `key` (created at `precision` if absent).
    pub fn hyperloglog(&mut self, key: &str, precision: u8) -> Result<&mut HyperLogLog> {
        let sketch = self.entry(key, Family::HyperLogLog, || {
            HyperLogLog::new(precision).map(Sketch::HyperLogLog)
        })?;
        let Sketch::HyperLogLog(h) = sketch else {
            unreachable!("family checked")
        };
        if h.precision() != precision {
            return Err(Error::ParameterMismatch {
                what: "HyperLogLog precision under this key",
                left: u64::from(h.precision()),
                right: u64::from(precision),
            });
        }
        Ok(h)
    }

    /// The counter under `key` (created at zero if absent).
    pub fn counter(&mut self, key: &str) -> Result<&mut Counter> {
        let Sketch::Counter(c) =
            self.entry(key, Family::Counter, || Ok(Sketch::Counter(Counter::new())))?
        else {
            unreachable!("family checked")
        };
        Ok(c)
    }

    /// The window counter under `key` (created with `config` and its clock at `now_ms` if absent;
    /// otherwise its clock moves to `now_ms`).
    pub fn window_counter(
        &mut self,
        key: &str,
        config: SeriesConfig,
        now_ms: i64,
    ) -> Result<&mut WindowCounter> {
        let Sketch::WindowCounter(w) = self.entry(key, Family::WindowCounter, || {
            WindowCounter::new(config, now_ms).map(Sketch::WindowCounter)
        })?
        else {
            unreachable!("family checked")
        };
        check_config(w.config(), config)?;
        w.advance(now_ms);
        Ok(w)
    }

    /// The unique series under `key` (created with `config` and `precision`, its clock at `now_ms`,
    /// if absent; otherwise its clock moves to `now_ms`).
    pub fn unique_series(
        &mut self,
        key: &str,
        config: SeriesConfig,
        precision: u8,
        now_ms: i64,
    ) -> Result<&mut UniqueSeries> {
        let Sketch::UniqueSeries(u) = self.entry(key, Family::UniqueSeries, || {
            UniqueSeries::new(config, precision, now_ms).map(Sketch::UniqueSeries)
        })?
        else {
            unreachable!("family checked")
        };
        check_config(u.config(), config)?;
        if u.precision() != precision {
            return Err(Error::ParameterMismatch {
                what: "unique series precision under this key",
                left: u64::from(u.precision()),
                right: u64::from(precision),
            });
        }
        u.advance(now_ms);
        Ok(u)
    }

    /// The leaderboard under `key` (created empty with these settings if absent).
    ///
    /// Like every recorded sketch it is a *delta*, and the receiver combines it by the board's
    /// merge rule: under `Sum` record points with [`crate::AddMode::Increment`] (the receiver adds
    /// each envelope's totals); under `Max`/`Min` record candidate scores; under
    /// `LastWriterWins` use [`Leaderboard::add_at`] with the time of the write. Modes that look at
    /// the current score (`OnlyNew`, `OnlyExisting`, `GreaterThan` under `Sum`) see only this
    /// delta, and `remove` does not travel: no merge rule deletes.
    pub fn leaderboard(
        &mut self,
        key: &str,
        rule: MergeRule,
        best: Best,
        capacity: u32,
    ) -> Result<&mut Leaderboard> {
        let Sketch::Leaderboard(l) = self.entry(key, Family::Leaderboard, || {
            Leaderboard::new(rule, best, capacity).map(Sketch::Leaderboard)
        })?
        else {
            unreachable!("family checked")
        };
        l.check_rule(rule, best)?;
        if l.capacity() != capacity {
            return Err(Error::ParameterMismatch {
                what: "leaderboard capacity under this key",
                left: u64::from(l.capacity()),
                right: u64::from(capacity),
            });
        }
        Ok(l)
    }

    /// The top-K summary under `key` (created with `capacity` counters if absent).
    pub fn top_k(&mut self, key: &str, capacity: u32) -> Result<&mut TopK> {
        let Sketch::TopK(t) =
            self.entry(key, Family::TopK, || TopK::new(capacity).map(Sketch::TopK))?
        else {
            unreachable!("family checked")
        };
        if t.capacity() != capacity {
            return Err(Error::ParameterMismatch {
                what: "top-K capacity under this key",
                left: u64::from(t.capacity()),
                right: u64::from(capacity),
            });
        }
        Ok(t)
    }

    /// The count-min sketch under `key` (created for `epsilon` and `delta` if absent).
    pub fn count_min(
        &mut self,
        key: &str,
        epsilon: f64,
        delta: f64,
    ) -> Result<&mut CountMinSketch> {
        let (width, depth) = CountMinSketch::dimensions_for(epsilon, delta)?;
        self.count_min_with_dimensions(key, width, depth)
    }

    /// The count-min sketch under `key` (created `width` counters wide and `depth` rows deep if
    /// absent; see [`CountMinSketch::with_dimensions`]).
    pub fn count_min_with_dimensions(
        &mut self,
        key: &str,
        width: u32,
        depth: u8,
    ) -> Result<&mut CountMinSketch> {
        let Sketch::CountMin(c) = self.entry(key, Family::CountMin, || {
            CountMinSketch::with_dimensions(width, depth).map(Sketch::CountMin)
        })?
        else {
            unreachable!("family checked")
        };
        if (c.width(), c.depth()) != (width, depth) {
            // Width and depth as one number, so both show in the error.
            return Err(Error::ParameterMismatch {
                what: "count-min width·256 + depth under this key",
                left: u64::from(c.width()) * 256 + u64::from(c.depth()),
                right: u64::from(width) * 256 + u64::from(depth),
            });
        }
        Ok(c)
    }

    /// The quantile sketch under `key` (created with relative accuracy `alpha` and the default
    /// 2048 buckets per store if absent).
    pub fn quantiles(&mut self, key: &str, alpha: f64) -> Result<&mut Quantiles> {
        self.quantiles_with_max_bins(key, alpha, crate::wire::quantiles::DEFAULT_MAX_BINS)
    }

    /// The quantile sketch under `key` (created with relative accuracy `alpha` and at most
    /// `max_bins` buckets per store if absent; see [`Quantiles::with_max_bins`]).
    pub fn quantiles_with_max_bins(
        &mut self,
        key: &str,
        alpha: f64,
        max_bins: u32,
    ) -> Result<&mut Quantiles> {
        let Sketch::Quantiles(q) = self.entry(key, Family::Quantiles, || {
            Quantiles::with_max_bins(alpha, max_bins).map(Sketch::Quantiles)
        })?
        else {
            unreachable!("family checked")
        };
        if q.alpha().to_bits() != alpha.to_bits() {
            return Err(Error::ParameterMismatch {
                what: "quantiles alpha (f64 bits) under this key",
                left: q.alpha().to_bits(),
                right: alpha.to_bits(),
            });
        }
        if q.max_bins() != max_bins {
            return Err(Error::ParameterMismatch {
                what: "quantiles max bins under this key",
                left: u64::from(q.max_bins()),
                right: u64::from(max_bins),
            });
        }
        Ok(q)
    }

    /// Forgets `key` if its sketch holds nothing, as after a call that created it and was then
    /// refused (so a refused first call fixes neither the key's family nor its settings).
    /// Answers whether it was forgotten.
    pub fn forget_if_empty(&mut self, key: &str) -> bool {
        if self.entries.get(key).is_some_and(Sketch::is_empty) {
            self.entries.remove(key);
            return true;
        }
        false
    }

    /// Makes the envelope of everything recorded since the last one (`None` if nothing was), with
    /// creation time `now_ms`, and starts the next delta.
    pub fn envelope(&mut self, now_ms: i64) -> Result<Option<Envelope>> {
        if self.is_empty() {
            return Ok(None);
        }
        let replica = match self.replica {
            Some(r) => r,
            None => {
                let r = random_replica()?;
                self.replica = Some(r);
                r
            }
        };
        // Checked before anything is taken out of the recorder, so an error loses nothing.
        let following = self
            .next_sequence
            .checked_add(1)
            .ok_or(Error::InvalidValue {
                what: "sequence numbers of this replica are used up: resume under a new replica id",
            })?;
        let id = EnvelopeId {
            replica,
            sequence: self.next_sequence,
        };
        let mut snapshot = Snapshot::new(replica, id.sequence, now_ms);
        for (key, sketch) in &mut self.entries {
            if sketch.is_empty() {
                continue;
            }
            let fresh = sketch.emptied();
            snapshot.insert(key.clone(), core::mem::replace(sketch, fresh))?;
        }
        self.next_sequence = following;
        Ok(Some(Envelope {
            id,
            created_ms: now_ms,
            bytes: snapshot.encode(),
        }))
    }
}

impl Recorder {
    /// Splits an envelope this recorder made (that a receiver refused as too large) into two,
    /// each with about half of its entries, under fresh sequence numbers: the receiver's
    /// exactly-once rule keys on (replica, sequence), so the halves must not reuse the original's.
    /// The original's sequence is then never delivered: tell the receiver the halves stand in for
    /// it (the merge server's `?supersedes=`), or it reports that sequence as a gap.
    /// `None` when the envelope holds a single entry and cannot be split.
    pub fn split(&mut self, bytes: &[u8]) -> Result<Option<(Envelope, Envelope)>> {
        let snapshot = Snapshot::decode(bytes)?;
        if Some(snapshot.replica) != self.replica {
            return Err(Error::InvalidValue {
                what: "only an envelope of this recorder's replica can be split by it",
            });
        }
        if snapshot.len() < 2 {
            return Ok(None);
        }
        let first = self.next_sequence;
        let after = first.checked_add(2).ok_or(Error::InvalidValue {
            what: "sequence numbers of this replica are used up: resume under a new replica id",
        })?;
        let half = snapshot.len() / 2;
        let mut parts = [
            Snapshot::new(snapshot.replica, first, snapshot.created_ms),
            Snapshot::new(snapshot.replica, first + 1, snapshot.created_ms),
        ];
        for (i, (key, sketch)) in snapshot.iter().enumerate() {
            parts[usize::from(i >= half)].insert(key, sketch.clone())?;
        }
        self.next_sequence = after;
        let [a, b] = parts.map(|p| Envelope {
            id: p.id(),
            created_ms: p.created_ms,
            bytes: p.encode(),
        });
        Ok(Some((a, b)))
    }
}

fn check_config(held: SeriesConfig, asked: SeriesConfig) -> Result<()> {
    if held != asked {
        return Err(Error::ParameterMismatch {
            what: "series configuration under this key (bucket width)",
            left: held.bucket_ms,
            right: asked.bucket_ms,
        });
    }
    Ok(())
}

#[cfg(feature = "getrandom")]
fn random_replica() -> Result<ReplicaId> {
    ReplicaId::random()
}

#[cfg(not(feature = "getrandom"))]
fn random_replica() -> Result<ReplicaId> {
    Err(Error::InvalidConfig {
        what: "a recorder needs a replica id: use Recorder::with_replica, or enable the `getrandom` feature",
    })
}
