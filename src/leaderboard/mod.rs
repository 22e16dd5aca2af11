//! Leaderboard: an exact sorted set (members with scores), with ranks and ranges in O(log n) and
//! a merge rule fixed at creation.
//!
//! # What it does
//! What Redis users do with `ZADD`, `ZINCRBY`, `ZRANK`/`ZREVRANK`, `ZRANGE`/`ZRANGEBYSCORE`,
//! `ZSCORE`, `ZREM` and `ZREMRANGEBYRANK` to keep the best 1000: add a member under a mode
//! ([`AddMode`]: set, only if greater, only if less, only if new, only if it exists, increment),
//! look up its score and its rank from either end, list by rank or by score, remove, trim to the
//! best N. Scores are `f64`; NaN is refused, `-0.0` is `0.0`. Equal scores order by member bytes,
//! as in Redis.
//!
//! # Merge rules
//! Each leaderboard declares at creation how two of them merge ([`MergeRule`]), and merges are
//! exact under it:
//! - `Max` / `Min`: a member keeps its best score. Idempotent.
//! - `LastWriterWins`: a member keeps the score written last (by the write time given to
//!   [`Leaderboard::add_at`]; at equal times the larger score). Idempotent.
//! - `Sum`: scores add (points per player across servers). Not idempotent, so the merge takes the
//!   ledger's [`Admission`].
//!
//! # Trimming, and when it stays exact
//! A capacity (or [`Leaderboard::trim`]) keeps only the best N. Under `Max` (for high-best boards;
//! `Min` for low-best) the top N of a union is exact: each member of the true top N reaches its
//! best score in some board, where it is in that board's top N. Under `Sum` it is not: a member
//! trimmed from one board loses that board's part of its total. The board keeps a bound:
//! [`Leaderboard::missing_bound`] is the most any member's score can differ from its true total
//! (and the most a member no longer on the board can have): the sum, over every trim in this board
//! and in every board merged in, of the largest |score| that trim dropped; 0 while nothing was
//! trimmed, and always 0 under the other rules.
//!
//! # Structure and cost
//! Entries `(score, member)` sit in sorted chunks of at most 512, with a Fenwick tree over the
//! chunk sizes: rank, select-by-rank and score lookups cost O(log n) (plus a binary search in one
//! chunk), an add or remove O(log n + 512) memory moves; members are found through a hash table.
//! Memory: about 40 bytes per member plus its bytes (at most 1024).
//!
//! # Wire format
//! Family id 5; params: rule, which end is best, capacity; payload: the understatement bound, then
//! each member (by member bytes) with its score (and write time for last-writer-wins) —
//! docs/FORMAT.md.
//!
//! ```
//! use edgesketch::{AddMode, Best, Leaderboard, MergeRule, Order};
//!
//! let mut board = Leaderboard::new(MergeRule::Max, Best::Highest, 1000)?;
//! board.add(b"ada", 120.0, AddMode::Set)?;
//! board.add(b"grace", 150.0, AddMode::Set)?;
//! board.add(b"ada", 110.0, AddMode::GreaterThan)?; // not greater: unchanged
//! assert_eq!(board.rank(b"ada", Order::Descending), Some(1));
//! let top: Vec<_> = board.range_by_rank(0, 1, Order::Descending).into_iter().map(|e| e.member).collect();
//! assert_eq!(top, [b"grace".to_vec(), b"ada".to_vec()]);
//! # Ok::<(), edgesketch::Error>(())
//! ```

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cmp::Ordering;

use hashbrown::HashTable;

use crate::codec::{self, FamilyCodec, Reader};
use crate::error::{Error, Result};
use crate::hash::TableHasher;
use crate::ledger::Admission;
use crate::sort;
use crate::wire;
use crate::wire::leaderboard::{CHUNK, MAX_CAPACITY, MAX_MEMBER_LEN};

/// How two leaderboards merge; fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MergeRule {
    /// A member keeps its largest score.
    Max,
    /// A member keeps its smallest score.
    Min,
    /// Scores add.
    Sum,
    /// The score written last wins.
    LastWriterWins,
}

/// Which end of the board is best (kept by trimming).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Best {
    /// High scores are best (points).
    Highest,
    /// Low scores are best (lap times).
    Lowest,
}

/// Direction of ranks and ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// Lowest score first (`ZRANK`, `ZRANGE`).
    Ascending,
    /// Highest score first (`ZREVRANK`, `ZREVRANGE`).
    Descending,
}

/// How [`Leaderboard::add`] treats the score (Redis `ZADD` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddMode {
    /// Set the score (adding the member if new).
    Set,
    /// Update only to a greater score (`GT`); new members are added.
    GreaterThan,
    /// Update only to a smaller score (`LT`); new members are added.
    LessThan,
    /// Add new members only, never update (`NX`).
    OnlyNew,
    /// Update existing members only, never add (`XX`).
    OnlyExisting,
    /// Add to the score (`INCR`, `ZINCRBY`); new members start at 0.
    Increment,
}

/// What an add did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AddOutcome {
    /// The member was new.
    pub added: bool,
    /// Its score changed (or it was added).
    pub changed: bool,
    /// Its score now, if it is on the board.
    pub score: Option<f64>,
}

/// A member and its score.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedMember {
    /// The member's bytes.
    pub member: Vec<u8>,
    /// Its score.
    pub score: f64,
}

#[derive(Clone, Debug)]
struct Member {
    bytes: Box<[u8]>,
    score: f64,
    /// Write time, for last-writer-wins (0 under the other rules).
    written_ms: i64,
    hash: u64,
}

/// A leaderboard. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Leaderboard {
    rule: MergeRule,
    best: Best,
    /// Keep at most this many (0: no limit).
    capacity: u32,
    /// Slab of members; `None` is free.
    members: Vec<Option<Member>>,
    free: Vec<u32>,
    /// `(hash, member id)` by member bytes.
    index: HashTable<(u64, u32)>,
    hasher: TableHasher,
    /// Sorted runs of `(score, member id)`, ascending by (score, member bytes).
    chunks: Vec<Vec<(f64, u32)>>,
    /// Fenwick tree over chunk lengths.
    fenwick: Vec<u32>,
    len: u32,
    /// Most a member's score may be off because of trimming (see the module docs).
    missing: f64,
}

fn check_score(score: f64) -> Result<f64> {
    if score.is_nan() {
        return Err(Error::InvalidValue {
            what: "leaderboard scores cannot be NaN",
        });
    }
    // One zero: -0.0 and 0.0 are the same score.
    Ok(if score == 0.0 { 0.0 } else { score })
}

impl Leaderboard {
    /// An empty board with a merge rule, which end is best, and a capacity (0: unlimited; at most
    /// 2^24).
    pub fn new(rule: MergeRule, best: Best, capacity: u32) -> Result<Self> {
        if capacity > MAX_CAPACITY {
            return Err(Error::InvalidConfig {
                what: "leaderboard capacity is at most 2^24 (0: unlimited)",
            });
        }
        Ok(Leaderboard::empty(rule, best, capacity))
    }

    /// An empty board (parameters already checked).
    fn empty(rule: MergeRule, best: Best, capacity: u32) -> Leaderboard {
        Leaderboard {
            rule,
            best,
            capacity,
            members: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: TableHasher::default(),
            chunks: Vec::new(),
            fenwick: Vec::new(),
            len: 0,
            missing: 0.0,
        }
    }

    /// The merge rule.
    pub fn rule(&self) -> MergeRule {
        self.rule
    }

    /// Which end is best.
    pub fn best(&self) -> Best {
        self.best
    }

    /// The capacity (0: unlimited).
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Members on the board.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the board is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most any member's score may differ from its true total because boards were trimmed
    /// (see the module docs); 0 means every score is exact.
    pub fn missing_bound(&self) -> f64 {
        self.missing
    }

    fn member(&self, id: u32) -> &Member {
        match self.members.get(id as usize) {
            Some(Some(m)) => m,
            _ => unreachable!("a live member id"),
        }
    }

    fn find(&self, bytes: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash(bytes);
        self.index
            .find(hash, |&(h, id)| {
                h == hash && &*self.member(id).bytes == bytes
            })
            .map(|&(_, id)| id)
    }

    fn cmp_entries(&self, a: (f64, u32), b: (f64, u32)) -> Ordering {
        a.0.total_cmp(&b.0)
            .then_with(|| self.member(a.1).bytes.cmp(&self.member(b.1).bytes))
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|id| self.member(id).score)
    }

    // ---- Fenwick tree over chunk lengths ----

    fn rebuild_fenwick(&mut self) {
        let n = self.chunks.len();
        self.fenwick = self.chunks.iter().map(|c| c.len() as u32).collect();
        for i in 0..n {
            let parent = i | (i + 1);
            if parent < n {
                self.fenwick[parent] += self.fenwick[i];
            }
        }
    }

    fn fenwick_add(&mut self, mut i: usize, delta: i32) {
        while i < self.fenwick.len() {
            self.fenwick[i] = self.fenwick[i].wrapping_add_signed(delta);
            i |= i + 1;
        }
    }

    /// Entries in chunks `0..i`.
    fn before_chunk(&self, i: usize) -> u32 {
        let (mut sum, mut i) = (0, i);
        while i > 0 {
            sum += self.fenwick[i - 1];
            i &= i - 1;
        }
        sum
    }

    /// The chunk and offset of ascending rank `r < len`.
    fn select(&self, r: u32) -> (usize, usize) {
        let (mut pos, mut rest) = (0usize, r);
        let mut step = self.fenwick.len().next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= self.fenwick.len() && self.fenwick[next - 1] <= rest {
                pos = next;
                rest -= self.fenwick[next - 1];
            }
            step >>= 1;
        }
        (pos, rest as usize)
    }

    /// The chunk where `entry` belongs, and its position there.
    fn locate(&self, entry: (f64, u32)) -> (usize, usize) {
        let last = self.chunks.len().saturating_sub(1);
        let c = self
            .chunks
            .partition_point(|chunk| {
                chunk
                    .last()
                    .is_some_and(|&l| self.cmp_entries(l, entry) == Ordering::Less)
            })
            .min(last);
        let chunk = &self.chunks[c];
        let p = chunk.partition_point(|&e| self.cmp_entries(e, entry) == Ordering::Less);
        (c, p)
    }

    fn insert_entry(&mut self, entry: (f64, u32)) {
        if self.chunks.is_empty() {
            self.chunks.push(Vec::with_capacity(CHUNK));
            self.rebuild_fenwick();
        }
        let (c, p) = self.locate(entry);
        self.chunks[c].insert(p, entry);
        self.len += 1;
        if self.chunks[c].len() > 2 * CHUNK {
            let tail = self.chunks[c].split_off(CHUNK);
            self.chunks.insert(c + 1, tail);
            self.rebuild_fenwick();
        } else {
            self.fenwick_add(c, 1);
        }
    }

    fn remove_entry(&mut self, entry: (f64, u32)) {
        let (c, p) = self.locate(entry);
        debug_assert_eq!(self.chunks[c].get(p).map(|e| e.1), Some(entry.1));
        self.chunks[c].remove(p);
        self.len -= 1;
        if self.chunks[c].is_empty() {
            self.chunks.remove(c);
            self.rebuild_fenwick();
        } else {
            self.fenwick_add(c, -1);
        }
    }

    fn new_member(&mut self, bytes: &[u8], score: f64, written_ms: i64) -> u32 {
        let hash = self.hasher.hash(bytes);
        let member = Member {
            bytes: bytes.into(),
            score,
            written_ms,
            hash,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.members[id as usize] = Some(member);
                id
            }
            None => {
                self.members.push(Some(member));
                (self.members.len() - 1) as u32
            }
        };
        self.index.insert_unique(hash, (hash, id), |&(h, _)| h);
        self.insert_entry((score, id));
        id
    }

    fn set_score(&mut self, id: u32, score: f64, written_ms: i64) {
        let old = self.member(id).score;
        if old.total_cmp(&score) != Ordering::Equal {
            self.remove_entry((old, id));
            if let Some(Some(m)) = self.members.get_mut(id as usize) {
                m.score = score;
            }
            self.insert_entry((score, id));
        }
        if let Some(Some(m)) = self.members.get_mut(id as usize) {
            m.written_ms = written_ms;
        }
    }

    fn drop_member(&mut self, id: u32) -> Member {
        let score = self.member(id).score;
        self.remove_entry((score, id));
        let member = match self.members.get_mut(id as usize).and_then(Option::take) {
            Some(m) => m,
            None => unreachable!("a live member id"),
        };
        if let Ok(entry) = self.index.find_entry(member.hash, |&(_, i)| i == id) {
            entry.remove();
        }
        self.free.push(id);
        member
    }

    /// Adds or updates `member` (at most 1024 bytes) under `mode`. See [`AddMode`].
    pub fn add(&mut self, member: &[u8], score: f64, mode: AddMode) -> Result<AddOutcome> {
        self.add_at(member, score, mode, 0)
    }

    /// [`Leaderboard::add`] with the write time that last-writer-wins merges compare.
    pub fn add_at(
        &mut self,
        member: &[u8],
        score: f64,
        mode: AddMode,
        written_ms: i64,
    ) -> Result<AddOutcome> {
        let score = check_score(score)?;
        // Only last-writer-wins keeps write times (the others would not encode them).
        let written_ms = if self.rule == MergeRule::LastWriterWins {
            written_ms
        } else {
            0
        };
        if member.len() > MAX_MEMBER_LEN {
            return Err(Error::InvalidValue {
                what: "leaderboard members are at most 1024 bytes",
            });
        }
        let outcome = match self.find(member) {
            None => {
                if mode == AddMode::OnlyExisting {
                    return Ok(AddOutcome {
                        added: false,
                        changed: false,
                        score: None,
                    });
                }
                self.new_member(member, score, written_ms);
                AddOutcome {
                    added: true,
                    changed: true,
                    score: Some(score),
                }
            }
            Some(id) => {
                let old = self.member(id).score;
                let new = match mode {
                    AddMode::Set | AddMode::OnlyExisting => Some(score),
                    AddMode::GreaterThan => (score > old).then_some(score),
                    AddMode::LessThan => (score < old).then_some(score),
                    AddMode::OnlyNew => None,
                    AddMode::Increment => Some(check_score(old + score)?),
                };
                // Under last-writer-wins an older write loses, locally as in a merge: later
                // time first, then the larger score.
                let new = new.filter(|&new| {
                    self.rule != MergeRule::LastWriterWins || {
                        let mine = self.member(id);
                        written_ms
                            .cmp(&mine.written_ms)
                            .then_with(|| new.total_cmp(&mine.score))
                            == Ordering::Greater
                    }
                });
                match new {
                    Some(new) => {
                        self.set_score(id, new, written_ms);
                        AddOutcome {
                            added: false,
                            changed: new.total_cmp(&old) != Ordering::Equal,
                            score: Some(new),
                        }
                    }
                    None => AddOutcome {
                        added: false,
                        changed: false,
                        score: Some(old),
                    },
                }
            }
        };
        self.enforce_capacity();
        // A member trimmed away at once is not on the board.
        let score = outcome.score.filter(|_| self.find(member).is_some());
        Ok(AddOutcome { score, ..outcome })
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let id = self.find(member)?;
        Some(self.drop_member(id).score)
    }

    /// The rank of `member` (0 = first) in `order`.
    pub fn rank(&self, member: &[u8], order: Order) -> Option<u64> {
        let id = self.find(member)?;
        let (c, p) = self.locate((self.member(id).score, id));
        let ascending = u64::from(self.before_chunk(c)) + p as u64;
        Some(match order {
            Order::Ascending => ascending,
            Order::Descending => u64::from(self.len) - 1 - ascending,
        })
    }

    /// Members at ranks `start..=stop` in `order` (clamped to the board, like `ZRANGE`).
    pub fn range_by_rank(&self, start: u64, stop: u64, order: Order) -> Vec<RankedMember> {
        let n = u64::from(self.len);
        if n == 0 || start > stop || start >= n {
            return Vec::new();
        }
        let stop = stop.min(n - 1);
        let count = (stop - start + 1) as usize;
        let first = match order {
            Order::Ascending => start,
            Order::Descending => n - 1 - stop,
        };
        let mut out = Vec::with_capacity(count);
        let (mut c, mut p) = self.select(first as u32);
        while out.len() < count {
            let (score, id) = self.chunks[c][p];
            out.push(RankedMember {
                member: self.member(id).bytes.to_vec(),
                score,
            });
            p += 1;
            if p == self.chunks[c].len() {
                c += 1;
                p = 0;
            }
        }
        if order == Order::Descending {
            out.reverse();
        }
        out
    }

    /// Members with `min <= score <= max`, in `order`, at most `limit` of them (`usize::MAX`:
    /// all).
    pub fn range_by_score(
        &self,
        min: f64,
        max: f64,
        order: Order,
        limit: usize,
    ) -> Vec<RankedMember> {
        if min.is_nan() || max.is_nan() || min > max || limit == 0 {
            return Vec::new();
        }
        let limit = limit.min(self.len()) as u64;
        // Ascending ranks of the first score >= min and of the first score > max.
        let rank_of = |pred: &dyn Fn(f64) -> bool| -> u64 {
            let c = self
                .chunks
                .partition_point(|chunk| chunk.last().is_some_and(|e| pred(e.0)));
            if c == self.chunks.len() {
                return u64::from(self.len);
            }
            u64::from(self.before_chunk(c)) + self.chunks[c].partition_point(|e| pred(e.0)) as u64
        };
        let from = rank_of(&|s| s < min);
        let to = rank_of(&|s| s <= max);
        if from >= to {
            return Vec::new();
        }
        match order {
            Order::Ascending => {
                self.range_by_rank(from, (to - 1).min(from + limit - 1), Order::Ascending)
            }
            Order::Descending => {
                // Descending rank d is ascending rank n - 1 - d.
                let n = u64::from(self.len);
                let start = n - to;
                self.range_by_rank(
                    start,
                    (start + limit - 1).min(n - 1 - from),
                    Order::Descending,
                )
            }
        }
    }

    /// Keeps only the best `n` members (`ZREMRANGEBYRANK`); returns how many were removed.
    pub fn trim(&mut self, n: usize) -> usize {
        let mut removed = 0;
        let mut largest_dropped = 0.0f64;
        while self.len() > n {
            let (c, p) = match self.best {
                Best::Highest => (0, 0),
                Best::Lowest => {
                    let c = self.chunks.len() - 1;
                    (c, self.chunks[c].len() - 1)
                }
            };
            let (score, id) = self.chunks[c][p];
            largest_dropped = largest_dropped.max(score.abs());
            self.drop_member(id);
            removed += 1;
        }
        if removed > 0 && self.rule == MergeRule::Sum {
            // A trimmed member's part of a total is gone: at most this much. A member may be
            // trimmed again later (after new increments, or in another board merged in), so the
            // losses of separate trims add up.
            self.missing += largest_dropped;
        }
        removed
    }

    fn enforce_capacity(&mut self) {
        if self.capacity > 0 && self.len > self.capacity {
            self.trim(self.capacity as usize);
        }
    }

    fn merge_rule_check(&self, other: &Leaderboard) -> Result<()> {
        self.check_rule(other.rule, other.best)
    }

    /// An error naming the setting unless this board has merge rule `rule` and best end `best`.
    pub(crate) fn check_rule(&self, rule: MergeRule, best: Best) -> Result<()> {
        if self.rule != rule {
            return Err(Error::ParameterMismatch {
                what: "leaderboard merge rule (0 max, 1 min, 2 sum, 3 last writer wins)",
                left: rule_id(self.rule).into(),
                right: rule_id(rule).into(),
            });
        }
        if self.best != best {
            return Err(Error::ParameterMismatch {
                what: "leaderboard best end (0 highest, 1 lowest)",
                left: self.best as u64,
                right: best as u64,
            });
        }
        Ok(())
    }

    /// Merges another board under the shared rule, once: the admission proves its envelope is
    /// new (`Sum` needs that; the other rules are idempotent and ignore it).
    pub fn merge(&mut self, other: &Leaderboard, _admission: &Admission<'_>) -> Result<()> {
        self.merge_local(other)
    }

    /// Merges another board without a ledger: always safe for `Max`, `Min` and
    /// `LastWriterWins`; for `Sum` only for boards combined in one process, never for state
    /// received over a network (which may be a retry).
    pub fn merge_local(&mut self, other: &Leaderboard) -> Result<()> {
        self.merge_rule_check(other)?;
        if self.rule == MergeRule::Sum {
            // All or nothing: find a sum that is not a number (+inf plus -inf) before changing
            // anything, as Redis's ZINCRBY refuses it.
            for m in other.members.iter().flatten() {
                if let Some(id) = self.find(&m.bytes) {
                    check_score(self.member(id).score + m.score)?;
                }
            }
        }
        for m in other.members.iter().flatten() {
            match self.find(&m.bytes) {
                None => {
                    self.new_member(&m.bytes, m.score, m.written_ms);
                }
                Some(id) => {
                    let mine = self.member(id);
                    let (score, written) = match self.rule {
                        // Write times are 0 under the rules that ignore them.
                        MergeRule::Max => (mine.score.max(m.score), 0),
                        MergeRule::Min => (mine.score.min(m.score), 0),
                        MergeRule::Sum => (check_score(mine.score + m.score)?, 0),
                        MergeRule::LastWriterWins => {
                            // Later write wins; at the same time, the larger score (so the merge
                            // does not depend on order).
                            let theirs_later = m
                                .written_ms
                                .cmp(&mine.written_ms)
                                .then_with(|| m.score.total_cmp(&mine.score))
                                == Ordering::Greater;
                            if theirs_later {
                                (m.score, m.written_ms)
                            } else {
                                (mine.score, mine.written_ms)
                            }
                        }
                    };
                    self.set_score(id, score, written);
                }
            }
        }
        if self.rule == MergeRule::Sum {
            self.missing += other.missing;
        } else {
            self.missing = self.missing.max(other.missing);
        }
        self.enforce_capacity();
        Ok(())
    }

    /// An empty board with the same rule, best end and capacity.
    pub fn emptied(&self) -> Leaderboard {
        Leaderboard::empty(self.rule, self.best, self.capacity)
    }

    /// Every member, by member bytes (the canonical order of the wire format).
    fn by_member(&self) -> Vec<&Member> {
        let mut out: Vec<&Member> = self.members.iter().flatten().collect();
        // Members are unique: a total order.
        sort::sort_by(&mut out, |a, b| a.bytes.cmp(&b.bytes));
        out
    }

    /// The board in snapshot format v1, on its own.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::to_bare_bytes(self)
    }

    /// Reads [`Leaderboard::to_bytes`] output, validating all of it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Leaderboard> {
        codec::from_bare_bytes(bytes)
    }
}

impl PartialEq for Leaderboard {
    fn eq(&self, other: &Self) -> bool {
        (self.rule, self.best, self.capacity, self.missing.to_bits())
            == (
                other.rule,
                other.best,
                other.capacity,
                other.missing.to_bits(),
            )
            && self
                .by_member()
                .iter()
                .map(|m| (&m.bytes, m.score.to_bits(), m.written_ms))
                .eq(other
                    .by_member()
                    .iter()
                    .map(|m| (&m.bytes, m.score.to_bits(), m.written_ms)))
    }
}

fn rule_id(rule: MergeRule) -> u8 {
    match rule {
        MergeRule::Max => 0,
        MergeRule::Min => 1,
        MergeRule::Sum => 2,
        MergeRule::LastWriterWins => 3,
    }
}

impl FamilyCodec for Leaderboard {
    const FAMILY: u8 = wire::family::LEADERBOARD;

    fn encode_params(&self, out: &mut Vec<u8>) {
        out.push(rule_id(self.rule));
        out.push(match self.best {
            Best::Highest => 0,
            Best::Lowest => 1,
        });
        codec::put_varint_u32(out, self.capacity);
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.missing.to_bits().to_le_bytes());
        codec::put_varint_u32(out, self.len);
        for m in self.by_member() {
            codec::put_length_prefixed(out, &m.bytes);
            out.extend_from_slice(&m.score.to_bits().to_le_bytes());
            if self.rule == MergeRule::LastWriterWins {
                codec::put_zigzag_i64(out, m.written_ms);
            }
        }
    }

    fn decode_parts(params: &[u8], payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(params);
        let rule = match r.u8("leaderboard merge rule")? {
            0 => MergeRule::Max,
            1 => MergeRule::Min,
            2 => MergeRule::Sum,
            3 => MergeRule::LastWriterWins,
            value => {
                return Err(Error::UnknownEncoding {
                    what: "leaderboard merge rule",
                    value,
                });
            }
        };
        let best = match r.u8("leaderboard best end")? {
            0 => Best::Highest,
            1 => Best::Lowest,
            value => {
                return Err(Error::UnknownEncoding {
                    what: "leaderboard best end",
                    value,
                });
            }
        };
        let capacity = r.varint_u32("leaderboard capacity")?;
        r.finish("leaderboard params")?;
        let mut board = Leaderboard::new(rule, best, capacity)?;
        let mut r = Reader::new(payload);
        let missing = f64::from_bits(r.u64_le("leaderboard missing bound")?);
        // +inf is a valid bound (a trimmed member had an infinite score); -0 is not canonical.
        if missing.is_nan() || missing.is_sign_negative() {
            return Err(Error::NonCanonical {
                what: "leaderboard missing bound must be a non-negative number, not -0",
            });
        }
        if missing != 0.0 && rule != MergeRule::Sum {
            return Err(Error::NonCanonical {
                what: "only a sum leaderboard has a missing bound",
            });
        }
        board.missing = missing;
        let n = r.varint_u32("leaderboard members")?;
        // A member takes at least 9 bytes: refuse counts the input cannot hold before reading.
        if n as usize > r.remaining() / 9 || (capacity > 0 && n > capacity) {
            return Err(Error::LengthMismatch {
                what: "leaderboard members",
                declared: u64::from(n),
                actual: (r.remaining() / 9) as u64,
            });
        }
        // Read, check the canonical order, then build the chunks in one sorted pass.
        let mut previous: Option<&[u8]> = None;
        let mut entries = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let member = r.length_prefixed("leaderboard member")?;
            if member.len() > MAX_MEMBER_LEN {
                return Err(Error::InvalidValue {
                    what: "leaderboard members are at most 1024 bytes",
                });
            }
            if previous.is_some_and(|p| p >= member) {
                return Err(Error::NonCanonical {
                    what: "leaderboard members must be in ascending byte order, without repeats",
                });
            }
            previous = Some(member);
            let score = f64::from_bits(r.u64_le("leaderboard score")?);
            if score.is_nan() || (score == 0.0 && score.is_sign_negative()) {
                return Err(Error::NonCanonical {
                    what: "leaderboard scores are numbers, and 0 is +0",
                });
            }
            let written_ms = if rule == MergeRule::LastWriterWins {
                r.zigzag_i64("leaderboard write time")?
            } else {
                0
            };
            entries.push((member, score, written_ms));
        }
        r.finish("leaderboard payload")?;
        for (member, score, written_ms) in entries {
            let hash = board.hasher.hash(member);
            let id = board.members.len() as u32;
            board.members.push(Some(Member {
                bytes: member.into(),
                score,
                written_ms,
                hash,
            }));
            board.index.insert_unique(hash, (hash, id), |&(h, _)| h);
        }
        let mut sorted: Vec<(f64, u32)> = board
            .members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.as_ref().map(|m| (m.score, i as u32)))
            .collect();
        // Ties on score fall to the (unique) member bytes: a total order.
        sort::sort_by(&mut sorted, |&a, &b| board.cmp_entries(a, b));
        board.chunks = sorted.chunks(CHUNK).map(<[_]>::to_vec).collect();
        board.len = n;
        board.rebuild_fenwick();
        Ok(board)
    }
}
