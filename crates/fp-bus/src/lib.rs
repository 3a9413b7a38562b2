//! # fp-bus
//!
//! The Event Bus is the platform's durable fact log (contracts §4.1): an append is acknowledged
//! only once it is durable at a `(topic, partition, offset)`, consumers replay by offsets, and
//! ordering holds per partition only.
//!
//! * [`EventBus`]: the one trait every backend implements (held as `Arc<dyn EventBus>`);
//! * [`topics`]: the topic taxonomy and topic specs;
//! * [`embedded`]: the embedded segmented log, the `local` backend;
//! * [`kinesis`]: Amazon Kinesis Data Streams, the `local_parity`/`dev`/`prod` backend;
//! * [`checkpoints`]: consumer offsets stored in the consumer's own SQL transaction;
//! * `conformance`: the test suite every backend runs (hidden from docs; used by tests).
//!
//! ## Partitioning
//!
//! The publish edge (IG) supplies the partition key: a 64-hex sha256 digest
//! ([`fp_rails::ids::partition_key`]). A backend that chooses partitions itself (the embedded
//! log) uses [`partition_for_key`]: the first 8 bytes of the digest, big-endian, modulo the
//! partition count (the same recipe as WSP lanes). Kinesis routes by its own hash of the key;
//! callers therefore read the partition from the returned [`EbRef`], never recompute it.
//!
//! ## Offsets and checkpoints
//!
//! Checkpoints are exclusive-next (decision 0003, row 6): "the next position to read". For
//! `file_line` that is the last applied offset + 1; Kinesis sequences cannot be incremented, so
//! there the checkpoint is the last applied sequence and reads resume after it.
//! [`checkpoint_after`] computes the checkpoint for either kind, and [`ReadBatch::next`] is
//! always the position to store after applying a batch.

pub mod checkpoints;
#[doc(hidden)]
pub mod conformance;
pub mod embedded;
pub mod error;
mod index;
pub mod kinesis;
mod partition;
mod record;
mod recovery;
mod retention;
mod segment;
pub mod topics;
mod writer;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use fp_rails::{EbRef, Hex64, OffsetKind, TsUtc};

pub use embedded::{EmbeddedBus, EmbeddedConfig, RetentionPolicy, RetentionReport};
pub use error::{BusError, BusResult};
pub use topics::{PartitionCounts, Topic, TopicSpec};

/// The boxed future every [`EventBus`] method returns: boxed so the trait stays object-safe
/// (`Arc<dyn EventBus>`) without the `async-trait` crate.
pub type BusFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BusError>> + Send + 'a>>;

/// A record to append: the envelope bytes and the partition key the publish edge derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// 64-hex partition key (`fp_rails::ids::partition_key`).
    pub partition_key: Hex64,
    /// The value: canonical envelope JSON (or a control message), stored byte for byte.
    pub value: Bytes,
}

impl OutRecord {
    /// A record from a key and any byte container.
    pub fn new(partition_key: Hex64, value: impl Into<Bytes>) -> Self {
        Self {
            partition_key,
            value: value.into(),
        }
    }
}

/// A record read back from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusRecord {
    /// Its offset, as a string in the backend's offset kind.
    pub offset: String,
    /// The partition key it was published with.
    pub partition_key: Hex64,
    /// Exactly the bytes that were appended.
    pub value: Bytes,
    /// When the bus acknowledged the append (transport metadata, never domain time).
    pub published_at_utc: TsUtc,
}

impl BusRecord {
    /// This record's `eb_ref`, read from `partition` of `topic` on a bus with `kind` offsets.
    pub fn eb_ref(&self, topic: &str, partition: u32, kind: OffsetKind) -> EbRef {
        EbRef {
            topic: topic.to_owned(),
            partition,
            offset: self.offset.clone(),
            offset_kind: kind,
            published_at_utc: Some(self.published_at_utc.clone()),
        }
    }
}

/// Where a read starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReadFrom {
    /// The oldest retained record (Kinesis `TRIM_HORIZON`).
    Earliest,
    /// An exclusive-next checkpoint in the backend's offset kind (see [`checkpoint_after`]):
    /// `file_line`: the offset of the first record to return; `kinesis_sequence`: the last
    /// applied sequence, the read resumes after it.
    Checkpoint(String),
}

/// The result of one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBatch {
    /// Records in partition order; possibly fewer than asked for, empty when caught up.
    pub records: Vec<BusRecord>,
    /// The checkpoint to store after applying every record of this batch (and to read from
    /// next); unchanged in meaning when `records` is empty.
    pub next: ReadFrom,
}

/// A partition of a topic and its retained range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionInfo {
    /// Partition number.
    pub partition: u32,
    /// Oldest retained offset (`file_line`: a number; backend-defined otherwise).
    pub start_offset: String,
    /// Exclusive-next end: the checkpoint at which a reader has read everything appended so
    /// far. Reading from `ReadFrom::Checkpoint(end_offset)` returns nothing new.
    pub end_offset: String,
}

/// The event bus: durable, replayable, ordered per partition.
///
/// Every method returns a [`BusFuture`] so the trait is usable as `Arc<dyn EventBus>`.
pub trait EventBus: Send + Sync {
    /// A short backend name for logs and errors (`embedded`, `kinesis`).
    fn backend_name(&self) -> &'static str;

    /// The offset kind of every `eb_ref` and checkpoint this backend produces.
    fn offset_kind(&self) -> OffsetKind;

    /// Create the topics that do not exist yet; idempotent. A topic that exists with another
    /// partition count is a [`BusError::TopicConflict`].
    fn provision<'a>(&'a self, topics: &'a [TopicSpec]) -> BusFuture<'a, ()>;

    /// The provisioned topics, sorted by name.
    fn topics(&self) -> BusFuture<'_, Vec<TopicSpec>>;

    /// The partitions of a topic with their retained ranges (end offsets are exclusive-next).
    fn partitions<'a>(&'a self, topic: &'a str) -> BusFuture<'a, Vec<PartitionInfo>>;

    /// Append records; returns one `eb_ref` per record, in input order, only once every record
    /// is durable. Records of one partition keep their input order and are contiguous. Not
    /// atomic across partitions: on error some records may be durable (at-least-once; retrying
    /// may duplicate, which consumers dedupe on `event_id`).
    fn publish_batch<'a>(
        &'a self,
        topic: &'a str,
        records: Vec<OutRecord>,
    ) -> BusFuture<'a, Vec<EbRef>>;

    /// Append one record; its `eb_ref` once durable.
    fn publish<'a>(&'a self, topic: &'a str, record: OutRecord) -> BusFuture<'a, EbRef> {
        Box::pin(async move {
            let mut refs = self.publish_batch(topic, vec![record]).await?;
            refs.pop()
                .ok_or_else(|| BusError::Internal("publish_batch returned no eb_ref".into()))
        })
    }

    /// Read up to `max_records` records of one partition from a position. Returns fewer when
    /// the partition ends (or a backend's per-call limit is reached); empty when caught up.
    /// Damaged data is an error naming where it is, never skipped.
    fn read<'a>(
        &'a self,
        topic: &'a str,
        partition: u32,
        from: &'a ReadFrom,
        max_records: usize,
    ) -> BusFuture<'a, ReadBatch>;
}

/// The partition of a key on a topic of `partitions` partitions: the first 8 bytes of the
/// digest the key spells, big-endian, modulo `partitions` (0 when `partitions` is 0).
///
/// Deterministic across processes, platforms and releases: it is part of the on-disk contract
/// of the embedded log (a topic's partition count is fixed at provisioning for this reason).
pub fn partition_for_key(key: &Hex64, partitions: u32) -> u32 {
    if partitions == 0 {
        return 0;
    }
    // A Hex64 is 64 validated lowercase hex characters, so the prefix always parses.
    let head = key.as_str().get(..16).unwrap_or("0");
    let value = u64::from_str_radix(head, 16).unwrap_or(0);
    (value % u64::from(partitions)) as u32
}

/// The exclusive-next checkpoint after applying the record at `offset`: `offset + 1` for
/// `file_line` and `kafka_offset`; the sequence itself for `kinesis_sequence` (reads resume
/// after it).
pub fn checkpoint_after(kind: OffsetKind, offset: &str) -> Result<String, BusError> {
    match kind {
        OffsetKind::FileLine | OffsetKind::KafkaOffset => parse_numeric_offset(kind, offset)?
            .checked_add(1)
            .map(|n| n.to_string())
            .ok_or_else(|| BusError::InvalidOffset {
                offset: offset.to_owned(),
                kind,
            }),
        OffsetKind::KinesisSequence => {
            if offset.is_empty() || !offset.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BusError::InvalidOffset {
                    offset: offset.to_owned(),
                    kind,
                });
            }
            Ok(offset.to_owned())
        }
    }
}

/// Parse a decimal offset of a numeric kind (no sign, no spaces, no leading `+`).
pub(crate) fn parse_numeric_offset(kind: OffsetKind, offset: &str) -> Result<u64, BusError> {
    let invalid = || BusError::InvalidOffset {
        offset: offset.chars().take(80).collect(),
        kind,
    };
    if offset.is_empty() || !offset.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    offset.parse::<u64>().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex_prefix: &str) -> Hex64 {
        let mut s = hex_prefix.to_owned();
        while s.len() < 64 {
            s.push('0');
        }
        Hex64::parse(s).expect("hex64")
    }

    #[test]
    fn partition_is_big_endian_prefix_mod_count() {
        assert_eq!(partition_for_key(&key("0000000000000007"), 4), 3);
        assert_eq!(partition_for_key(&key("0000000000000100"), 6), 256 % 6);
        assert_eq!(
            partition_for_key(&key("ffffffffffffffff"), 7),
            (u64::MAX % 7) as u32
        );
        // Only the first 8 bytes count.
        assert_eq!(
            partition_for_key(&key("00000000000000010000000000000009"), 1000),
            1
        );
        assert_eq!(partition_for_key(&key("ab"), 0), 0);
    }

    #[test]
    fn partition_matches_reference_lane_recipe() {
        // int.from_bytes(sha256(x)[:8], "big") % n, with the digest given as hex.
        let k = fp_rails::ids::partition_key(&serde_json::json!("flow-1"));
        let digest = hex::decode(k.as_str()).expect("hex");
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        assert_eq!(
            u64::from(partition_for_key(&k, 6)),
            u64::from_be_bytes(first) % 6
        );
    }

    #[test]
    fn checkpoints_are_exclusive_next() {
        assert_eq!(
            checkpoint_after(OffsetKind::FileLine, "41").expect("ok"),
            "42"
        );
        assert_eq!(
            checkpoint_after(OffsetKind::KafkaOffset, "0").expect("ok"),
            "1"
        );
        let seq = "49590338271490256608559692538361571095921575989136588898";
        assert_eq!(
            checkpoint_after(OffsetKind::KinesisSequence, seq).expect("ok"),
            seq
        );
        for bad in ["", "-1", "+1", " 1", "1.0", "x", "18446744073709551615"] {
            assert!(
                checkpoint_after(OffsetKind::FileLine, bad).is_err(),
                "{bad:?}"
            );
        }
    }
}
