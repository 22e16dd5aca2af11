//! Counter: an exact 64-bit count that goes up and down, merged exactly once.
//!
//! # What it counts
//! Increments and decrements, kept apart as two 64-bit totals (PN-counter semantics): `value`
//! is their difference, exact as an `i128`; each total saturates at `u64::MAX` instead of
//! wrapping (and says so through [`Counter::saturated`]).
//!
//! # Merge
//! Adding totals is not idempotent, so [`Counter::merge`] takes the [`Admission`] the receiver's
//! ledger gives a new envelope ([`crate::ledger`]): a retried envelope is never added twice.
//! A sender records a delta (what happened since its last envelope) and starts a new one after
//! each envelope; the receiver adds the deltas it admits.
//!
//! # Memory and wire format
//! Two `u64`s. Family id 2; params: none; payload: two varints, the increments then the
//! decrements (docs/FORMAT.md).
//!
//! ```
//! use edgesketch::{Counter, Ledger, LedgerConfig, EnvelopeId, ReplicaId, Admit};
//!
//! let mut at_edge = Counter::new();
//! at_edge.increment(5);
//! at_edge.decrement(2);
//!
//! let mut total = Counter::new();
//! let mut ledger = Ledger::new(LedgerConfig::default())?;
//! let id = EnvelopeId { replica: ReplicaId([9; 16]), sequence: 1 };
//! for _delivery in 0..3 {
//!     if let Admit::New(admission) = ledger.admit(id, 0, 0)? {
//!         total.merge(&at_edge, &admission);
//!         admission.commit();
//!     }
//! }
//! assert_eq!(total.value(), 3);
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::vec::Vec;

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::{Error, Result};
use crate::ledger::Admission;
use crate::wire;

/// A PN counter. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counter {
    increments: u64,
    decrements: u64,
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n`.
    pub fn increment(&mut self, n: u64) {
        self.increments = self.increments.saturating_add(n);
    }

    /// Subtracts `n`.
    pub fn decrement(&mut self, n: u64) {
        self.decrements = self.decrements.saturating_add(n);
    }

    /// Adds a signed amount (negative amounts decrement).
    pub fn add(&mut self, delta: i64) {
        if delta >= 0 {
            self.increment(delta.unsigned_abs());
        } else {
            self.decrement(delta.unsigned_abs());
        }
    }

    /// Increments minus decrements.
    pub fn value(&self) -> i128 {
        i128::from(self.increments) - i128::from(self.decrements)
    }

    /// Total of the increments.
    pub fn increments(&self) -> u64 {
        self.increments
    }

    /// Total of the decrements.
    pub fn decrements(&self) -> u64 {
        self.decrements
    }

    /// Whether a total reached `u64::MAX` (it then stays there, and `value` is a bound).
    pub fn saturated(&self) -> bool {
        self.increments == u64::MAX || self.decrements == u64::MAX
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.increments == 0 && self.decrements == 0
    }

    /// Adds another counter's totals, once: the admission proves its envelope is new.
    pub fn merge(&mut self, other: &Counter, _admission: &Admission<'_>) {
        self.merge_local(other);
    }

    /// Adds another counter's totals without a ledger: for counters combined in one process (never
    /// for state received over a network, which may be a retry).
    pub fn merge_local(&mut self, other: &Counter) {
        self.increment(other.increments);
        self.decrement(other.decrements);
    }

    /// The counter in snapshot format v1, on its own.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::to_bare_bytes(self)
    }

    /// Reads [`Counter::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Counter> {
        codec::from_bare_bytes(bytes)
    }
}

impl FamilyCodec for Counter {
    const FAMILY: u8 = wire::family::COUNTER;

    fn encode_params(&self, _out: &mut Vec<u8>) {}

    fn encode_payload(&self, out: &mut Vec<u8>) {
        codec::put_varint_u64(out, self.increments);
        codec::put_varint_u64(out, self.decrements);
    }

    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self> {
        if !params.is_empty() {
            return Err(Error::TrailingBytes {
                what: "Counter params",
                count: params.len(),
            });
        }
        let mut r = Reader::new(payload);
        let counter = Counter {
            increments: r.varint_u64("Counter increments")?,
            decrements: r.varint_u64("Counter decrements")?,
        };
        r.finish("Counter payload")?;
        Ok(counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_and_down_and_saturates() {
        let mut c = Counter::new();
        c.add(7);
        c.add(-10);
        assert_eq!((c.value(), c.increments(), c.decrements()), (-3, 7, 10));
        c.increment(u64::MAX);
        assert!(c.saturated());
        assert_eq!(c.value(), i128::from(u64::MAX) - 10);
        c.add(i64::MIN);
        assert_eq!(c.decrements(), 10 + (1u64 << 63));
    }

    #[test]
    fn round_trips() {
        for (i, d) in [(0u64, 0u64), (1, 0), (u64::MAX, 12345)] {
            let mut c = Counter::new();
            c.increment(i);
            c.decrement(d);
            let bytes = c.to_bytes();
            assert_eq!(Counter::from_bytes(&bytes).unwrap(), c);
            for len in 0..bytes.len() {
                assert!(Counter::from_bytes(&bytes[..len]).is_err());
            }
        }
    }
}
