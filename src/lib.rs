//! # edgesketch
//!
//! Mergeable sketches for real-time analytics at the edge. Aggregate locally (a browser tab, a
//! Cloudflare Worker, a Node process, a native service), ship small binary snapshots, merge them
//! anywhere, and get answers with their error bounds.
//!
//! This crate is the core: `#![no_std]` with `alloc`, the same code natively and in WebAssembly.
//! It holds
//! - [`HyperLogLog`]: distinct counts, byte-compatible with Redis (`SET` our bytes and `PFCOUNT`
//!   them, or `GET` Redis's and merge them here), exact for small sets;
//! - [`Snapshot`]: the versioned, checksummed envelope (format v1) that carries named sketches
//!   from a sender, with the replica id and sequence number that make delivery exactly-once;
//! - [`hash`]: the one fixed, seeded hash every sketch uses, so every platform makes the same bytes.
//!
//! Wire formats are owned by hand (little-endian, versioned, documented byte by byte in
//! docs/FORMAT.md), and every decoder treats its input as hostile: it checks before it reads or
//! allocates, and answers damage with a precise [`Error`], never a panic.
//!
//! ```
//! use edgesketch::HyperLogLog;
//!
//! let mut a = HyperLogLog::default();
//! let mut b = HyperLogLog::default();
//! for i in 0..5000 {
//!     a.insert(format!("user-{i}").as_bytes());
//!     b.insert(format!("user-{}", i + 2500).as_bytes());
//! }
//! a.merge(&b)?;
//! let estimate = a.estimate();
//! assert!((estimate.value - 7500.0).abs() < 7500.0 * 0.01);
//! assert!(estimate.lower <= 7500.0 && 7500.0 <= estimate.upper);
//! # Ok::<(), edgesketch::Error>(())
//! ```
//!
//! ## Features
//! - `std` (default): `From<Error> for std::io::Error`. Everything else needs only `alloc`.
//! - `serde`: sketches and snapshots serialize as their binary format; [`Estimate`] as a struct.
#![no_std]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod aggregate;
mod codec;
pub mod counter;
pub mod countmin;
pub mod error;
pub mod hash;
pub mod hll;
pub mod leaderboard;
pub mod ledger;
pub mod quantiles;
pub mod recorder;
#[cfg(feature = "serde")]
mod serde_impls;
pub mod series;
pub mod snapshot;
mod sort;
pub mod topk;
pub mod unique_series;
pub mod window;
pub mod wire;

pub use aggregate::{Aggregate, ApplyReport, EntryReport, Outcome};
pub use counter::Counter;
pub use countmin::{CountEstimate, CountMinSketch};
pub use error::{Error, Result};
pub use hll::{Estimate, HyperLogLog};
pub use leaderboard::{AddMode, AddOutcome, Best, Leaderboard, MergeRule, Order, RankedMember};
pub use ledger::{Admission, Admit, EnvelopeId, Ledger, LedgerConfig};
pub use quantiles::Quantiles;
pub use recorder::{Envelope, Recorder};
pub use series::{MergeReport, Rejection, Rejections, SeriesConfig, Tally};
pub use snapshot::{Family, RawEntry, ReplicaId, Sketch, Snapshot, SnapshotView};
pub use topk::{HeavyHitter, TopK, TopReport};
pub use unique_series::{RangeUnique, UniqueSeries};
pub use window::{BucketStats, RangeStats, WindowCounter};

/// The README's examples run as doctests, so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
