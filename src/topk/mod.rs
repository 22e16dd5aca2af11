//! TopK: the heaviest hitters of a stream, with guaranteed bounds, mergeable.
//!
//! # What it reports
//! The items with the largest total weight ("top articles", "top-selling products"), each with a
//! **lower and an upper bound** that contain its true count, and split into those *guaranteed* to
//! be in the top K and those that *possibly* are. Redis's `TOPK` gives neither bounds nor merges.
//!
//! # Algorithm: Space-Saving (Metwally, Agrawal, El Abbadi 2005), merged per Agarwal et al.
//! *Mergeable Summaries* (2012)
//! `capacity` counters, each an item with a count and an error. Adding a monitored item raises
//! its count. Adding an unmonitored one takes the counter with the smallest count `m`: the new
//! item gets count `m + w` and error `m` (it may have occurred up to `m` times unseen). So for every
//! monitored item `count − error ≤ truth ≤ count`, and every unmonitored item's truth is at most
//! the *floor* (the largest `m` ever evicted). Counts live in a min-heap (O(log capacity)
//! replacement) and a hash table on the item's bytes (O(1) lookup), keyed per process
//! ([`crate::hash`]'s table hasher) so crafted collisions cannot make lookups slow.
//!
//! A merge adds, per item, its two upper bounds (the other summary's floor standing in where the
//! item is absent) and its two lower bounds (0 where absent), keeps the `capacity` largest, and
//! raises the floor to the larger of the two floors' sum and the largest count dropped: the bounds
//! keep containing the truth after any number of merges.
//!
//! # Guaranteed and possible
//! Sorted by count, item `i` of the first K is *guaranteed* when its lower bound is at least both
//! the floor and the upper bound of item K + 1 (nothing else can pass it); the others of the first
//! K, and any item beyond whose upper bound reaches the K-th largest lower bound, are *possible*.
//!
//! # Merge, memory, wire format
//! Counts add, so merging needs the ledger's [`Admission`] (or [`TopK::merge_local`]). Memory:
//! `capacity` counters of ~56 bytes plus the items' bytes (at most 1024 bytes each). Family id 6;
//! params: capacity; payload: total, floor and each counter (item, count, error), by count
//! (docs/FORMAT.md).
//!
//! ```
//! use edgesketch::TopK;
//!
//! let mut top = TopK::new(100)?;
//! for (article, views) in [("/a", 50u64), ("/b", 30), ("/c", 5)] {
//!     top.insert(article.as_bytes(), views)?;
//! }
//! let report = top.top(2);
//! assert_eq!(report.guaranteed[0].item, b"/a");
//! assert_eq!((report.guaranteed[0].lower, report.guaranteed[0].upper), (50, 50));
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::vec::Vec;
use hashbrown::HashTable;

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::{Error, Result};
use crate::hash::TableHasher;
use crate::ledger::Admission;
use crate::sort;
use crate::wire;
use crate::wire::topk::{MAX_CAPACITY, MAX_ITEM_LEN};

/// One reported item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeavyHitter {
    /// The item's bytes.
    pub item: Vec<u8>,
    /// At least this many.
    pub lower: u64,
    /// At most this many (the Space-Saving count).
    pub upper: u64,
}

/// The top K, split by certainty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopReport {
    /// In the top K whatever the unseen counts are, by count.
    pub guaranteed: Vec<HeavyHitter>,
    /// Could be in the top K, by count.
    pub possible: Vec<HeavyHitter>,
    /// No unmonitored item occurred more than this.
    pub floor: u64,
    /// Total weight added.
    pub total: u64,
}

#[derive(Clone, Debug)]
struct Slot {
    hash: u64,
    item: Vec<u8>,
    count: u64,
    error: u64,
    /// Where this slot sits in the heap.
    heap_pos: u32,
}

/// Our keys are already MurmurHash64A outputs: hash them as themselves.
/// A Space-Saving summary. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct TopK {
    capacity: u32,
    slots: Vec<Slot>,
    /// Slot indices by the item's hash; a lookup compares the bytes too, so colliding items stay
    /// apart.
    index: HashTable<u32>,
    hasher: TableHasher,
    /// Slot indices, a min-heap by count.
    heap: Vec<u32>,
    floor: u64,
    total: u64,
}

impl TopK {
    /// A summary of `capacity` counters (1..=65536). Use several times the K you will ask for:
    /// with capacity 1000, the top 100 of Zipf-like streams come out nearly exact.
    pub fn new(capacity: u32) -> Result<Self> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(Error::InvalidConfig {
                what: "top-K capacity must be 1..=65536",
            });
        }
        Ok(TopK {
            capacity,
            slots: Vec::new(),
            index: HashTable::new(),
            hasher: TableHasher::default(),
            heap: Vec::new(),
            floor: 0,
            total: 0,
        })
    }

    /// Counters.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Total weight added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// No unmonitored item occurred more often than this.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Items monitored.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds `weight` occurrences of `item` (at most 1024 bytes).
    pub fn insert(&mut self, item: &[u8], weight: u64) -> Result<()> {
        if item.len() > MAX_ITEM_LEN {
            return Err(Error::InvalidValue {
                what: "top-K items are at most 1024 bytes",
            });
        }
        if weight > 0 {
            self.insert_hashed(self.hasher.hash(item), item, weight);
        }
        Ok(())
    }

    fn insert_hashed(&mut self, hash: u64, item: &[u8], weight: u64) {
        self.total = self.total.saturating_add(weight);
        if let Some(s) = self.find(hash, item) {
            let slot = &mut self.slots[s as usize];
            slot.count = slot.count.saturating_add(weight);
            let pos = slot.heap_pos as usize;
            self.sift_down(pos);
            return;
        }
        if self.slots.len() < self.capacity as usize {
            let s = self.slots.len() as u32;
            self.slots.push(Slot {
                hash,
                item: item.to_vec(),
                count: self.floor.saturating_add(weight),
                error: self.floor,
                heap_pos: self.heap.len() as u32,
            });
            self.heap.push(s);
            self.index_insert(hash, s);
            self.sift_up(self.heap.len() - 1);
            return;
        }
        // Replace the smallest counter.
        let s = self.heap[0];
        let old_hash = self.slots[s as usize].hash;
        if let Ok(entry) = self.index.find_entry(old_hash, |&t| t == s) {
            entry.remove();
        }
        let slot = &mut self.slots[s as usize];
        let evicted = slot.count;
        self.floor = self.floor.max(evicted);
        slot.hash = hash;
        slot.item.clear();
        slot.item.extend_from_slice(item);
        slot.count = evicted.saturating_add(weight);
        slot.error = evicted;
        self.index_insert(hash, s);
        self.sift_down(0);
    }

    /// The slot monitoring `item` (whose hash is `hash`).
    fn find(&self, hash: u64, item: &[u8]) -> Option<u32> {
        self.index
            .find(hash, |&s| self.slots[s as usize].item == item)
            .copied()
    }

    fn index_insert(&mut self, hash: u64, s: u32) {
        let slots = &self.slots;
        self.index
            .insert_unique(hash, s, |&t| slots[t as usize].hash);
    }

    fn count_at(&self, pos: usize) -> u64 {
        self.slots[self.heap[pos] as usize].count
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.slots[self.heap[a] as usize].heap_pos = a as u32;
        self.slots[self.heap[b] as usize].heap_pos = b as u32;
    }

    fn sift_down(&mut self, mut pos: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * pos + 1, 2 * pos + 2);
            let mut smallest = pos;
            if l < n && self.count_at(l) < self.count_at(smallest) {
                smallest = l;
            }
            if r < n && self.count_at(r) < self.count_at(smallest) {
                smallest = r;
            }
            if smallest == pos {
                return;
            }
            self.swap(pos, smallest);
            pos = smallest;
        }
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.count_at(pos) >= self.count_at(parent) {
                return;
            }
            self.swap(pos, parent);
            pos = parent;
        }
    }

    /// Bounds for one item: monitored, or at most the floor.
    pub fn bounds(&self, item: &[u8]) -> (u64, u64) {
        match self.find(self.hasher.hash(item), item) {
            Some(s) => {
                let slot = &self.slots[s as usize];
                (slot.count - slot.error, slot.count)
            }
            None => (0, self.floor),
        }
    }

    /// Monitored items by count (largest first; ties by item bytes).
    fn sorted(&self) -> Vec<&Slot> {
        let mut out: Vec<&Slot> = self.slots.iter().collect();
        // Items are unique: a total order (what `sort::sort_by` asks).
        sort::sort_by(&mut out, |a, b| {
            b.count.cmp(&a.count).then_with(|| a.item.cmp(&b.item))
        });
        out
    }

    /// The top `k`, split into guaranteed and possible. See the [module docs](self).
    pub fn top(&self, k: usize) -> TopReport {
        if k == 0 {
            return TopReport {
                floor: self.floor,
                total: self.total,
                ..TopReport::default()
            };
        }
        let sorted = self.sorted();
        let hitter = |s: &Slot| HeavyHitter {
            item: s.item.clone(),
            lower: s.count - s.error,
            upper: s.count,
        };
        // Nothing outside the first k counts more than this.
        let beyond = sorted.get(k).map_or(0, |s| s.count).max(self.floor);
        // The k-th largest lower bound: an item is possible if its upper bound reaches it.
        let mut lowers: Vec<u64> = sorted.iter().map(|s| s.count - s.error).collect();
        sort::sort_by(&mut lowers, |a, b| b.cmp(a));
        let kth_lower = lowers.get(k - 1).copied().unwrap_or(0);
        let mut report = TopReport {
            floor: self.floor,
            total: self.total,
            ..TopReport::default()
        };
        for (i, s) in sorted.iter().enumerate() {
            let lower = s.count - s.error;
            if i < k && lower >= beyond {
                report.guaranteed.push(hitter(s));
            } else if s.count >= kth_lower {
                report.possible.push(hitter(s));
            }
        }
        report
    }

    /// Adds another summary's counts once: the admission proves its envelope is new.
    pub fn merge(&mut self, other: &TopK, _admission: &Admission<'_>) -> Result<()> {
        self.merge_local(other)
    }

    /// Adds another summary's counts without a ledger: for summaries combined in one process,
    /// never for state received over a network (which may be a retry).
    pub fn merge_local(&mut self, other: &TopK) -> Result<()> {
        if self.capacity != other.capacity {
            return Err(Error::ParameterMismatch {
                what: "top-K capacity",
                left: u64::from(self.capacity),
                right: u64::from(other.capacity),
            });
        }
        // (item, upper, lower) over the union; each table hashes with its own keys.
        let mut union: Vec<(Vec<u8>, u64, u64)> =
            Vec::with_capacity(self.slots.len() + other.slots.len());
        for s in &self.slots {
            let (theirs_upper, theirs_lower) = match other.find(other.hasher.hash(&s.item), &s.item)
            {
                Some(o) => {
                    let o = &other.slots[o as usize];
                    (o.count, o.count - o.error)
                }
                None => (other.floor, 0),
            };
            union.push((
                s.item.clone(),
                s.count.saturating_add(theirs_upper),
                (s.count - s.error).saturating_add(theirs_lower),
            ));
        }
        for o in &other.slots {
            if self.find(self.hasher.hash(&o.item), &o.item).is_none() {
                union.push((
                    o.item.clone(),
                    o.count.saturating_add(self.floor),
                    o.count - o.error,
                ));
            }
        }
        // Unique items: a total order.
        sort::sort_by(&mut union, |a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let keep = (self.capacity as usize).min(union.len());
        let dropped = union.get(keep).map_or(0, |d| d.1);
        let floor = self.floor.saturating_add(other.floor).max(dropped);
        let total = self.total.saturating_add(other.total);
        union.truncate(keep);
        self.rebuild(
            union
                .into_iter()
                .map(|(item, upper, lower)| (item, upper, upper - lower)),
        );
        self.floor = floor;
        self.total = total;
        Ok(())
    }

    /// Replaces the counters with `(item, count, error)`s.
    fn rebuild(&mut self, counters: impl Iterator<Item = (Vec<u8>, u64, u64)>) {
        self.slots.clear();
        self.index.clear();
        self.heap.clear();
        for (item, count, error) in counters {
            let s = self.slots.len() as u32;
            let hash = self.hasher.hash(&item);
            self.slots.push(Slot {
                hash,
                item,
                count,
                error,
                heap_pos: s,
            });
            self.heap.push(s);
            self.index_insert(hash, s);
        }
        for pos in (0..self.heap.len() / 2).rev() {
            self.sift_down(pos);
        }
    }

    /// An empty summary with the same capacity.
    pub fn emptied(&self) -> TopK {
        TopK {
            capacity: self.capacity,
            slots: Vec::new(),
            index: HashTable::new(),
            hasher: TableHasher::default(),
            heap: Vec::new(),
            floor: 0,
            total: 0,
        }
    }

    /// The summary in snapshot format v1, on its own.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::to_bare_bytes(self)
    }

    /// Reads [`TopK::to_bytes`] output, validating all of it.
    pub fn from_bytes(bytes: &[u8]) -> Result<TopK> {
        codec::from_bare_bytes(bytes)
    }
}

impl PartialEq for TopK {
    fn eq(&self, other: &Self) -> bool {
        self.capacity == other.capacity
            && self.floor == other.floor
            && self.total == other.total
            && self
                .sorted()
                .iter()
                .map(|s| (&s.item, s.count, s.error))
                .eq(other.sorted().iter().map(|s| (&s.item, s.count, s.error)))
    }
}

impl FamilyCodec for TopK {
    const FAMILY: u8 = wire::family::TOP_K;

    fn encode_params(&self, out: &mut Vec<u8>) {
        codec::put_varint_u32(out, self.capacity);
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        codec::put_varint_u64(out, self.total);
        codec::put_varint_u64(out, self.floor);
        let sorted = self.sorted();
        codec::put_varint_u32(out, sorted.len() as u32);
        for s in sorted {
            codec::put_length_prefixed(out, &s.item);
            codec::put_varint_u64(out, s.count);
            codec::put_varint_u64(out, s.error);
        }
    }

    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(params);
        let capacity = r.varint_u32("top-K capacity")?;
        r.finish("top-K params")?;
        let mut top = TopK::new(capacity)?;
        let mut r = Reader::new(payload);
        let total = r.varint_u64("top-K total")?;
        let floor = r.varint_u64("top-K floor")?;
        if floor > total {
            return Err(Error::NonCanonical {
                what: "top-K floor above the total",
            });
        }
        let n = r.varint_u32("top-K counters")?;
        if n > capacity || n as usize > r.remaining() / 3 {
            return Err(Error::LengthMismatch {
                what: "top-K counters",
                declared: u64::from(n),
                actual: u64::from(capacity).min((r.remaining() / 3) as u64),
            });
        }
        let mut counters = Vec::with_capacity(n as usize);
        let mut previous: Option<(u64, &[u8])> = None;
        for _ in 0..n {
            let item = r.length_prefixed("top-K item")?;
            let count = r.varint_u64("top-K count")?;
            let error = r.varint_u64("top-K error")?;
            if item.len() > MAX_ITEM_LEN {
                return Err(Error::InvalidValue {
                    what: "top-K items are at most 1024 bytes",
                });
            }
            if count == 0 || error > count || count > total {
                return Err(Error::NonCanonical {
                    what: "top-K counts out of order (1 ≤ count ≤ total, error ≤ count)",
                });
            }
            // Canonical order: by count descending, then item bytes; no item twice.
            if previous.is_some_and(|(c, i)| c < count || (c == count && i >= item)) {
                return Err(Error::NonCanonical {
                    what: "top-K counters must be sorted by count, then item, without repeats",
                });
            }
            previous = Some((count, item));
            counters.push((item.to_vec(), count, error));
        }
        r.finish("top-K payload")?;
        let distinct = {
            let mut items: Vec<&[u8]> = counters.iter().map(|c| c.0.as_slice()).collect();
            sort::sort_by(&mut items, |a, b| a.cmp(b));
            items.windows(2).all(|w| w[0] != w[1])
        };
        if !distinct {
            return Err(Error::NonCanonical {
                what: "a top-K item appears twice",
            });
        }
        top.rebuild(counters.into_iter());
        top.floor = floor;
        top.total = total;
        Ok(top)
    }
}
