//! Per-entity window state: one ring of epoch-aligned buckets per window, and the last-seen
//! time of each distinct value per dimension.
//!
//! A ring holds only non-empty buckets, in ascending bucket order, never more than the window's
//! bucket count: sparse entities (most instruments) cost a few buckets, not the full ring.
//!
//! Distinct counts are exact over the bucketed window without scanning values: every value is
//! counted once, in the bucket of its latest sighting (`distinct_new`); a newer sighting moves
//! the count to the newer bucket. The distinct values of a window are then the sum of
//! `distinct_new` over the window's buckets, because a value whose latest sighting is in the
//! window was seen in the window, and one whose latest sighting is older was not.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::policy::{GroupDef, MAX_DISTINCT, WindowDef};
use crate::fasthash::IdMap;

/// One bucket's aggregates. Amounts are integer micro-units, so sums are exact and independent
/// of the order events are added in (replays and the offline plane reach the same bits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Bucket index (`floor(ts / width)`).
    pub idx: i64,
    /// Events.
    pub count: u64,
    /// Sum of amounts, micro-units.
    pub sum: i128,
    /// Largest amount, micro-units.
    pub max: i64,
    /// Distinct values whose latest sighting is in this bucket, per dimension.
    pub distinct_new: [u32; MAX_DISTINCT],
}

/// Aggregates of one window as of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowAgg {
    /// Events.
    pub count: u64,
    /// Sum of amounts, micro-units.
    pub sum: i128,
    /// Largest amount, micro-units (`None` when empty).
    pub max: Option<i64>,
    /// Distinct values per dimension.
    pub distinct: [u64; MAX_DISTINCT],
}

/// The non-empty buckets of one window, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ring {
    buckets: VecDeque<Bucket>,
}

impl Ring {
    /// Add one event in bucket `b`; `head` is the bucket of the entity's latest event (so the
    /// ring keeps `head - buckets + 1 ..= head`). Returns false when `b` is already outside
    /// the ring (a late event older than the window: it can never be read).
    fn add(&mut self, w: &WindowDef, b: i64, head: i64, amount: i64) -> bool {
        let low = w.low_bucket(head);
        if b < low {
            return false;
        }
        match self.buckets.back() {
            Some(last) if last.idx == b => {}
            Some(last) if last.idx > b => {
                // Late: into (or before) an existing bucket.
                if let Err(pos) = self.buckets.binary_search_by_key(&b, |x| x.idx) {
                    self.buckets.insert(pos, Bucket::empty(b));
                }
            }
            _ => self.buckets.push_back(Bucket::empty(b)),
        }
        while self.buckets.front().is_some_and(|f| f.idx < low) {
            self.buckets.pop_front();
        }
        if let Some(bucket) = self.find_mut(b) {
            bucket.count += 1;
            bucket.sum += i128::from(amount);
            bucket.max = if bucket.count == 1 {
                amount
            } else {
                bucket.max.max(amount)
            };
        }
        true
    }

    fn find_mut(&mut self, b: i64) -> Option<&mut Bucket> {
        // Nearly always the newest bucket; fall back to a binary search for late events.
        if self.buckets.back().is_some_and(|x| x.idx == b) {
            return self.buckets.back_mut();
        }
        let pos = self.buckets.binary_search_by_key(&b, |x| x.idx).ok()?;
        self.buckets.get_mut(pos)
    }

    /// Aggregate buckets `lo ..= hi`.
    fn aggregate(&self, lo: i64, hi: i64) -> WindowAgg {
        let mut agg = WindowAgg::default();
        for b in self.buckets.iter().rev() {
            if b.idx < lo {
                break;
            }
            if b.idx > hi {
                continue;
            }
            agg.count += b.count;
            agg.sum += b.sum;
            agg.max = Some(agg.max.map_or(b.max, |m| m.max(b.max)));
            for (d, n) in b.distinct_new.iter().enumerate() {
                agg.distinct[d] += u64::from(*n);
            }
        }
        agg
    }

    /// Buckets held (for bounds tests).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

impl Bucket {
    fn empty(idx: i64) -> Self {
        Self {
            idx,
            count: 0,
            sum: 0,
            max: 0,
            distinct_new: [0; MAX_DISTINCT],
        }
    }
}

/// One entity's state for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityState {
    /// Latest applied event time (µs since the epoch).
    pub last_ts_us: i64,
    /// One ring per group window.
    pub rings: Vec<Ring>,
    /// Per distinct dimension: value → latest sighting (µs).
    pub seen: Vec<IdMap<i64>>,
    /// Map size that triggers the next sweep of expired values, per dimension.
    sweep_at: Vec<usize>,
}

const MIN_SWEEP: usize = 16;

impl EntityState {
    /// Fresh state for a group.
    pub fn new(group: &GroupDef, ts_us: i64) -> Self {
        Self {
            last_ts_us: ts_us,
            rings: vec![Ring::default(); group.windows.len()],
            seen: vec![IdMap::default(); group.distinct.len()],
            sweep_at: vec![MIN_SWEEP; group.distinct.len()],
        }
    }

    /// Apply one event at `ts_us` with `amount` micro-units and the ids of the group's distinct
    /// dimensions.
    pub fn apply(&mut self, group: &GroupDef, ts_us: i64, amount: i64, dims: &[u64]) {
        self.last_ts_us = self.last_ts_us.max(ts_us);
        for (w, ring) in group.windows.iter().zip(self.rings.iter_mut()) {
            ring.add(w, w.bucket_of(ts_us), w.bucket_of(self.last_ts_us), amount);
        }
        for (d, &value) in dims.iter().enumerate().take(group.distinct.len()) {
            let previous = self.seen[d].get(&value).copied();
            if previous.is_some_and(|p| p >= ts_us) {
                continue; // a late sighting older than one already counted
            }
            for (w, ring) in group.windows.iter().zip(self.rings.iter_mut()) {
                if let Some(p) = previous
                    && let Some(b) = ring.find_mut(w.bucket_of(p))
                {
                    b.distinct_new[d] = b.distinct_new[d].saturating_sub(1);
                }
                if let Some(b) = ring.find_mut(w.bucket_of(ts_us)) {
                    b.distinct_new[d] += 1;
                }
            }
            self.seen[d].insert(value, ts_us);
            if self.seen[d].len() >= self.sweep_at[d] {
                self.sweep_seen(group, d);
            }
        }
    }

    /// Drop values whose latest sighting is outside every window's ring: they can never be
    /// counted again. Amortised: runs when the map doubles since the last sweep.
    fn sweep_seen(&mut self, group: &GroupDef, d: usize) {
        let cutoff = self.ring_start_us(group);
        self.seen[d].retain(|_, ts| *ts >= cutoff);
        self.sweep_at[d] = (self.seen[d].len() * 2).max(MIN_SWEEP);
    }

    /// The earliest instant any of the group's rings still holds.
    fn ring_start_us(&self, group: &GroupDef) -> i64 {
        group
            .windows
            .iter()
            .map(|w| w.low_bucket(w.bucket_of(self.last_ts_us)) * w.bucket_us)
            .min()
            .unwrap_or(i64::MIN)
    }

    /// Aggregates of window `w` as of `as_of_us` (which must not be before `last_ts_us`).
    pub fn window(&self, group: &GroupDef, w: usize, as_of_us: i64) -> WindowAgg {
        let def = &group.windows[w];
        let hi = def.bucket_of(as_of_us);
        self.rings[w].aggregate(def.low_bucket(hi), hi)
    }

    /// Whether the latest event is inside window `w` as of `as_of_us`.
    pub fn last_event_in_window(&self, group: &GroupDef, w: usize, as_of_us: i64) -> bool {
        let def = &group.windows[w];
        def.bucket_of(self.last_ts_us) >= def.low_bucket(def.bucket_of(as_of_us))
    }

    /// The earliest as-of instant at which no window covers the latest event any more
    /// (`has_history` is false from then on, until another event is applied): the bucket of
    /// the latest event leaves window `w` when the as-of bucket reaches `last + buckets`.
    pub fn expiry_us(&self, group: &GroupDef) -> i64 {
        group
            .windows
            .iter()
            .map(|w| (w.bucket_of(self.last_ts_us) + w.buckets).saturating_mul(w.bucket_us))
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Whether any window still covers an event as of `as_of_us`.
    pub fn has_history(&self, group: &GroupDef, as_of_us: i64) -> bool {
        (0..group.windows.len()).any(|w| self.last_event_in_window(group, w, as_of_us))
    }

    /// Distinct values held per dimension (for bounds tests).
    pub fn seen_len(&self) -> usize {
        self.seen.iter().map(|m| m.len()).sum()
    }
}
