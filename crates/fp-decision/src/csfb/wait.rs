//! The join wait: traffic whose context is not READY is parked until its context arrives or
//! the feed's watermark moves more than the join-wait budget past its `ts_utc`.
//!
//! Both the budget and the watermark are event time, so the same feed releases the same events
//! in the same order on every replay: release order is `(ts_utc, park sequence)`, the park
//! sequence being the order events were parked in (itself canonical).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fasthash::IdMap;

/// One parked traffic event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parked<T> {
    /// The flow it waits for.
    pub flow_id: u64,
    /// Its `ts_utc` (µs).
    pub ts_us: i64,
    /// Park order (kept when re-parked, so release order never depends on retries).
    pub seq: u64,
    /// What the caller parked (the event itself, or a reference to it).
    pub item: T,
}

/// Traffic waiting for its context.
#[derive(Debug, Clone)]
pub struct JoinWait<T> {
    budget_us: i64,
    parked: BTreeMap<(i64, u64), Parked<T>>,
    by_flow: IdMap<Vec<(i64, u64)>>,
    next_seq: u64,
}

/// Exported wait state (parked events in release order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinWaitExport<T> {
    /// The budget it ran with.
    pub budget_us: i64,
    /// Next park sequence.
    pub next_seq: u64,
    /// Parked events, in release order.
    pub parked: Vec<Parked<T>>,
}

impl<T> JoinWait<T> {
    /// An empty wait with `budget_us` of event time.
    pub fn new(budget_us: i64) -> Self {
        Self {
            budget_us,
            parked: BTreeMap::new(),
            by_flow: IdMap::default(),
            next_seq: 0,
        }
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.parked.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.parked.is_empty()
    }

    /// Park an event of `flow_id` at `ts_us`.
    pub fn park(&mut self, flow_id: u64, ts_us: i64, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.repark(Parked {
            flow_id,
            ts_us,
            seq,
            item,
        });
    }

    /// Park again an event taken out by [`Self::take_flow`] whose context is still incomplete:
    /// it keeps its place in the release order.
    pub fn repark(&mut self, p: Parked<T>) {
        let k = (p.ts_us, p.seq);
        self.by_flow.entry(p.flow_id).or_default().push(k);
        self.parked.insert(k, p);
    }

    /// Take every event waiting for `flow_id` (its context changed), in release order.
    pub fn take_flow(&mut self, flow_id: u64) -> Vec<Parked<T>> {
        let Some(mut ks) = self.by_flow.remove(&flow_id) else {
            return Vec::new();
        };
        ks.sort_unstable();
        ks.into_iter()
            .filter_map(|k| self.parked.remove(&k))
            .collect()
    }

    /// Take every event whose budget the watermark has exceeded (`watermark − ts > budget`), in
    /// release order.
    pub fn expire(&mut self, watermark_us: i64) -> Vec<Parked<T>> {
        let cutoff = watermark_us.saturating_sub(self.budget_us);
        // Keys strictly below (cutoff, 0) have ts < cutoff, i.e. watermark − ts > budget.
        let keep = self.parked.split_off(&(cutoff, 0));
        let out: Vec<Parked<T>> = std::mem::replace(&mut self.parked, keep)
            .into_values()
            .collect();
        for p in &out {
            self.unindex(p.flow_id, (p.ts_us, p.seq));
        }
        out
    }

    /// Take everything (end of the feed), in release order.
    pub fn drain(&mut self) -> Vec<Parked<T>> {
        self.by_flow.clear();
        std::mem::take(&mut self.parked).into_values().collect()
    }

    fn unindex(&mut self, flow_id: u64, k: (i64, u64)) {
        if let Some(ks) = self.by_flow.get_mut(&flow_id) {
            ks.retain(|x| *x != k);
            if ks.is_empty() {
                self.by_flow.remove(&flow_id);
            }
        }
    }
}

impl<T: Clone> JoinWait<T> {
    /// Export (release order).
    pub fn export(&self) -> JoinWaitExport<T> {
        JoinWaitExport {
            budget_us: self.budget_us,
            next_seq: self.next_seq,
            parked: self.parked.values().cloned().collect(),
        }
    }

    /// Continue from an export.
    pub fn restore(export: JoinWaitExport<T>) -> Self {
        let mut me = Self::new(export.budget_us);
        me.next_seq = export.next_seq;
        for p in export.parked {
            me.repark(p);
        }
        me
    }
}
