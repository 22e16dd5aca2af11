//! CountMinSketch: how often each item occurred, never underestimated.
//!
//! # What it estimates
//! The total weight added for an item (its frequency). With `width = ⌈e/ε⌉` counters in each of
//! `depth = ⌈ln(1/δ)⌉` rows, every point query answers with
//!
//! ```text
//! estimate − ε·N ≤ truth ≤ estimate        (the left side with probability ≥ 1 − δ)
//! ```
//!
//! where `N` is the total weight added. The upper bound always holds: counters only ever
//! overcount, through collisions. [`CountMinSketch::estimate`] returns both bounds.
//!
//! # Hashing
//! One MurmurHash64A of the item (as for every family, see [`crate::hash`]); row `i` takes the
//! counter `fastrange(mix(h + i·φ), width)`, where `mix` is the SplitMix64 finalizer: independent
//! enough per row, and one hash of the item however many rows.
//!
//! # Conservative update
//! Optional ([`CountMinSketch::with_conservative_update`]): an add raises only the counters that
//! are at the item's current minimum (to `min + weight`). Estimates stay upper bounds and get
//! tighter on skewed streams; merging conservative sketches by addition keeps the upper bound.
//!
//! # Merge, memory, wire format
//! Counters add, so merging needs the ledger's [`Admission`] (or [`CountMinSketch::merge_local`]
//! within one process); both sketches must have the same width, depth and update rule. Memory:
//! `width · depth` `u64` counters (ε = 0.001, δ = 0.01: 2719 × 5, 106 KiB). Family id 7; params:
//! width, depth, flags; payload: the total and every counter as varints (docs/FORMAT.md).
//!
//! ```
//! use edgesketch::CountMinSketch;
//!
//! let mut cms = CountMinSketch::new(0.001, 0.01)?;
//! for _ in 0..3 {
//!     cms.add(b"/checkout", 1);
//! }
//! cms.add(b"/home", 10);
//! let e = cms.estimate(b"/checkout");
//! assert!(e.lower <= 3 && 3 <= e.upper);
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::vec;
use alloc::vec::Vec;

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::{Error, Result};
use crate::hash::hash_item;
use crate::ledger::Admission;
use crate::wire;
use crate::wire::countmin::{FLAG_CONSERVATIVE, MAX_CELLS, MAX_DEPTH};

/// A point estimate with its bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountEstimate {
    /// Largest possible count: the minimum over the rows (always ≥ the truth).
    pub upper: u64,
    /// `upper − ε·N`, at least 0: the truth is at least this with probability ≥ 1 − δ.
    pub lower: u64,
    /// ε of the sketch's width (`e / width`).
    pub epsilon: f64,
    /// δ of its depth (`e^−depth`).
    pub delta: f64,
}

/// A count-min sketch. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountMinSketch {
    width: u32,
    depth: u8,
    conservative: bool,
    /// Total weight added (`N`).
    total: u64,
    /// `depth` rows of `width` counters.
    cells: Vec<u64>,
}

const E: f64 = core::f64::consts::E;

impl CountMinSketch {
    /// A sketch for additive error `epsilon · N` with probability `1 − delta` (both in (0, 1)).
    pub fn new(epsilon: f64, delta: f64) -> Result<Self> {
        let (width, depth) = Self::dimensions_for(epsilon, delta)?;
        Self::with_dimensions(width, depth)
    }

    /// The width `⌈e/ε⌉` and depth `⌈ln 1/δ⌉` that [`CountMinSketch::new`] would use, without
    /// allocating the counters.
    pub fn dimensions_for(epsilon: f64, delta: f64) -> Result<(u32, u8)> {
        let in_unit = |x: f64| x > 0.0 && x < 1.0;
        if !in_unit(epsilon) || !in_unit(delta) {
            return Err(Error::InvalidConfig {
                what: "count-min epsilon and delta must lie strictly between 0 and 1",
            });
        }
        let width = libm::ceil(E / epsilon);
        let depth = libm::ceil(libm::log(1.0 / delta));
        if width > f64::from(u32::MAX) || depth > f64::from(MAX_DEPTH) {
            return Err(Error::InvalidConfig {
                what: "count-min epsilon or delta too small (too many counters)",
            });
        }
        let (width, depth) = (width as u32, depth.max(1.0) as u8);
        check_dimensions(width, depth)?;
        Ok((width, depth))
    }

    /// A sketch of `depth` rows of `width` counters.
    pub fn with_dimensions(width: u32, depth: u8) -> Result<Self> {
        check_dimensions(width, depth)?;
        Ok(CountMinSketch {
            width,
            depth,
            conservative: false,
            total: 0,
            cells: vec![0; width as usize * usize::from(depth)],
        })
    }

    /// This sketch with conservative update switched on (see the module docs); counters already
    /// there stay.
    pub fn with_conservative_update(mut self) -> Self {
        self.conservative = true;
        self
    }

    /// Counters per row.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Rows.
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// Whether adds use conservative update.
    pub fn conservative(&self) -> bool {
        self.conservative
    }

    /// Total weight added (`N`).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// ε of this width: `e / width`.
    pub fn epsilon(&self) -> f64 {
        E / f64::from(self.width)
    }

    /// δ of this depth: `e^−depth`.
    pub fn delta(&self) -> f64 {
        libm::exp(-f64::from(self.depth))
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    #[inline]
    fn column(&self, hash: u64, row: usize) -> usize {
        let mut z = hash.wrapping_add((row as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        row * self.width as usize + ((u128::from(z) * u128::from(self.width)) >> 64) as usize
    }

    /// Adds `weight` occurrences of `item` (its bytes, see [`crate::hash`]).
    #[inline]
    pub fn add(&mut self, item: &[u8], weight: u64) {
        self.add_hash(hash_item(item), weight);
    }

    /// Adds by the item's hash.
    pub fn add_hash(&mut self, hash: u64, weight: u64) {
        if weight == 0 {
            return;
        }
        self.total = self.total.saturating_add(weight);
        let depth = usize::from(self.depth);
        if self.conservative {
            let target = self.min_for(hash).saturating_add(weight);
            for row in 0..depth {
                let c = self.column(hash, row);
                let cell = &mut self.cells[c];
                *cell = (*cell).max(target);
            }
        } else {
            for row in 0..depth {
                let c = self.column(hash, row);
                self.cells[c] = self.cells[c].saturating_add(weight);
            }
        }
    }

    fn min_for(&self, hash: u64) -> u64 {
        (0..usize::from(self.depth))
            .map(|row| self.cells[self.column(hash, row)])
            .min()
            .unwrap_or(0)
    }

    /// The estimated count of `item`, with its bounds.
    pub fn estimate(&self, item: &[u8]) -> CountEstimate {
        self.estimate_hash(hash_item(item))
    }

    /// The estimate by the item's hash.
    pub fn estimate_hash(&self, hash: u64) -> CountEstimate {
        let upper = self.min_for(hash);
        let slack = libm::ceil(self.epsilon() * self.total as f64);
        CountEstimate {
            upper,
            lower: upper.saturating_sub(slack as u64),
            epsilon: self.epsilon(),
            delta: self.delta(),
        }
    }

    /// Adds another sketch's counters once: the admission proves its envelope is new.
    pub fn merge(&mut self, other: &CountMinSketch, _admission: &Admission<'_>) -> Result<()> {
        self.merge_local(other)
    }

    /// Adds another sketch's counters without a ledger: for sketches combined in one process,
    /// never for state received over a network (which may be a retry).
    pub fn merge_local(&mut self, other: &CountMinSketch) -> Result<()> {
        let differs = [
            ("count-min width", self.width, other.width),
            ("count-min depth", self.depth.into(), other.depth.into()),
            (
                "count-min update rule (0 plain, 1 conservative)",
                self.conservative.into(),
                other.conservative.into(),
            ),
        ];
        if let Some(&(what, left, right)) = differs.iter().find(|(_, l, r)| l != r) {
            return Err(Error::ParameterMismatch {
                what,
                left: left.into(),
                right: right.into(),
            });
        }
        self.total = self.total.saturating_add(other.total);
        for (a, &b) in self.cells.iter_mut().zip(&other.cells) {
            *a = a.saturating_add(b);
        }
        Ok(())
    }

    /// An empty sketch of the same shape.
    pub fn emptied(&self) -> CountMinSketch {
        CountMinSketch {
            width: self.width,
            depth: self.depth,
            conservative: self.conservative,
            total: 0,
            cells: vec![0; self.cells.len()],
        }
    }

    /// The sketch in snapshot format v1, on its own.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::to_bare_bytes(self)
    }

    /// Reads [`CountMinSketch::to_bytes`] output, validating all of it.
    pub fn from_bytes(bytes: &[u8]) -> Result<CountMinSketch> {
        codec::from_bare_bytes(bytes)
    }
}

fn check_dimensions(width: u32, depth: u8) -> Result<()> {
    if width == 0 || depth == 0 || depth > MAX_DEPTH {
        return Err(Error::InvalidConfig {
            what: "count-min width must be positive and depth 1..=32",
        });
    }
    if u64::from(width) * u64::from(depth) > MAX_CELLS {
        return Err(Error::InvalidConfig {
            what: "count-min width·depth is above 2^24 counters",
        });
    }
    Ok(())
}

impl FamilyCodec for CountMinSketch {
    const FAMILY: u8 = wire::family::COUNT_MIN;

    fn encode_params(&self, out: &mut Vec<u8>) {
        codec::put_varint_u32(out, self.width);
        out.push(self.depth);
        out.push(if self.conservative {
            FLAG_CONSERVATIVE
        } else {
            0
        });
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        codec::put_varint_u64(out, self.total);
        for &c in &self.cells {
            codec::put_varint_u64(out, c);
        }
    }

    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(params);
        let width = r.varint_u32("count-min width")?;
        let depth = r.u8("count-min depth")?;
        let flags = r.u8("count-min flags")?;
        r.finish("count-min params")?;
        check_dimensions(width, depth)?;
        if flags & !FLAG_CONSERVATIVE != 0 {
            return Err(Error::UnknownEncoding {
                what: "count-min flags",
                value: flags,
            });
        }
        let cells = width as usize * usize::from(depth);
        let mut r = Reader::new(payload);
        let total = r.varint_u64("count-min total")?;
        // One byte per counter at least: refuse before allocating what the input cannot hold.
        if r.remaining() < cells {
            return Err(Error::Truncated {
                what: "count-min counters",
                offset: r.position(),
                needed: cells,
                available: r.remaining(),
            });
        }
        let mut sketch = CountMinSketch::with_dimensions(width, depth)?;
        sketch.conservative = flags & FLAG_CONSERVATIVE != 0;
        sketch.total = total;
        for cell in &mut sketch.cells {
            *cell = r.varint_u64("count-min counter")?;
        }
        r.finish("count-min payload")?;
        // No counter can exceed the total weight: each add raises a counter by at most its weight.
        if sketch.cells.iter().any(|&c| c > total) {
            return Err(Error::NonCanonical {
                what: "a count-min counter exceeds the total",
            });
        }
        Ok(sketch)
    }
}
