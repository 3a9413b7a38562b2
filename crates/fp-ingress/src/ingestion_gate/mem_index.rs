//! The memory side of the SQLite admission index: the replayed journal map, and — when the
//! gate holds the embedded bus exclusively — claims kept in memory instead of journalled.
//!
//! Why claims may live in memory there: a durable `PUBLISH_IN_FLIGHT` record exists so that a
//! restart knows which events may be on the bus without a commit. The embedded log is written
//! by this process alone and is itself durable, so the restart can read that from the log:
//! every record past the journal's *marks* (per partition, "everything below is settled") is
//! checked against the journal and admitted if its key is unknown. A commit advances a topic's
//! marks only when no other claim on that topic is pending, so a record below a mark never
//! belongs to a claim the journal does not know (docs/decisions/0009, "claims in memory").

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use fp_rails::{EbRef, OffsetKind};

use super::index::AdmissionRow;
use super::journal::{Loc, MemMap};
use super::journal_codec::Marks;

/// What the memory knows about a key.
pub(super) enum Known<'a> {
    /// A journalled row.
    Journal(Loc),
    /// A claim held in memory (in flight, not journalled).
    Pending(&'a AdmissionRow),
    /// Nothing.
    Absent,
}

/// The SQLite index's memory state (behind the index's async mutex).
#[derive(Debug, Default)]
pub(super) struct MemState {
    /// `dedupe_key → latest journalled row`.
    pub map: MemMap,
    /// Claims held in memory only, by key (`claims_in_memory`).
    pub pending: HashMap<[u8; 32], AdmissionRow>,
    /// Whether new claims stay in memory (the gate holds the embedded bus exclusively).
    pub claims_in_memory: bool,
    /// Receipt sequence numbers reserved durably and not handed out yet.
    pub seqs: Range<u64>,
    /// The marks as replayed on open (where recovery starts reading the bus).
    pub replayed_marks: Marks,
}

impl MemState {
    /// What is known about a key; a pending claim wins over an older journalled row.
    pub fn known(&self, k: &[u8; 32]) -> Known<'_> {
        if let Some(r) = self.pending.get(k) {
            return Known::Pending(r);
        }
        match self.map.get(k) {
            Some(loc) => Known::Journal(*loc),
            None => Known::Absent,
        }
    }

    /// The marks a commit settling `own` keys (published at `refs`) may write: the next
    /// offset after its records, per embedded-log partition, but only on topics no other
    /// pending claim publishes to — another claim's records may sit below ours there,
    /// unjournalled. (Per topic, not globally: producers stream several outputs at once, each
    /// to its own topic, and a global rule would freeze every mark while any batch is in
    /// flight, leaving restart recovery to re-read the whole log.)
    pub fn marks_for<'a>(
        &self,
        own: &HashSet<[u8; 32]>,
        refs: impl Iterator<Item = &'a EbRef>,
    ) -> Marks {
        let mut marks = Marks::new();
        if !self.claims_in_memory {
            return marks;
        }
        let busy: HashSet<&str> = self
            .pending
            .iter()
            .filter(|(k, _)| !own.contains(*k))
            .map(|(_, r)| r.topic.as_str())
            .collect();
        for r in refs
            .filter(|r| r.offset_kind == OffsetKind::FileLine && !busy.contains(r.topic.as_str()))
        {
            let Some(next) = r.offset.parse::<u64>().ok().and_then(|o| o.checked_add(1)) else {
                continue;
            };
            let at = marks.entry((r.topic.clone(), r.partition)).or_insert(next);
            *at = (*at).max(next);
        }
        marks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eb(partition: u32, offset: &str, kind: OffsetKind) -> EbRef {
        EbRef {
            topic: "t".into(),
            partition,
            offset: offset.into(),
            offset_kind: kind,
            published_at_utc: None,
        }
    }

    #[test]
    fn marks_advance_only_when_no_other_claim_is_pending() {
        let mut st = MemState {
            claims_in_memory: true,
            ..MemState::default()
        };
        let refs = [
            eb(0, "4", OffsetKind::FileLine),
            eb(0, "9", OffsetKind::FileLine),
            eb(1, "2", OffsetKind::FileLine),
            eb(2, "7", OffsetKind::KafkaOffset),
        ];
        let own = HashSet::from([[1u8; 32]]);
        st.pending.insert([1; 32], dummy_row());
        let marks = st.marks_for(&own, refs.iter());
        assert_eq!(
            marks,
            Marks::from([(("t".to_owned(), 0), 10), (("t".to_owned(), 1), 3)])
        );
        // Another claim in flight on the same topic freezes its marks...
        st.pending.insert([2; 32], dummy_row());
        assert!(st.marks_for(&own, refs.iter()).is_empty());
        // ...one on another topic does not.
        st.pending.insert(
            [2; 32],
            AdmissionRow {
                topic: "other".into(),
                ..dummy_row()
            },
        );
        assert_eq!(
            st.marks_for(&own, refs.iter()),
            Marks::from([(("t".to_owned(), 0), 10), (("t".to_owned(), 1), 3)])
        );
        st.pending.clear();
        st.claims_in_memory = false;
        assert!(st.marks_for(&own, refs.iter()).is_empty());
    }

    fn dummy_row() -> AdmissionRow {
        let h = fp_rails::Hex64::parse("00".repeat(32)).unwrap();
        AdmissionRow {
            dedupe_key: h.clone(),
            state: super::super::index::AdmissionState::PublishInFlight,
            platform_run_id: String::new(),
            event_class: "c".into(),
            event_id: "e".into(),
            payload_hash: h.clone(),
            topic: "t".into(),
            partition_key: h,
            eb_ref: None,
            admitted_at_utc: None,
            receipt_id: None,
            receipt_ref: None,
            receipt: None,
        }
    }
}
