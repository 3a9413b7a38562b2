//! Event Bus coordinates: `eb_ref` and offset kinds.
//!
//! Offsets are strings everywhere: Kinesis sequence numbers are ~56-digit opaque strings.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::TsUtc;

/// How an offset string is to be interpreted (and how "exclusive-next" is realised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetKind {
    /// 0-based record number in a local log; next = last + 1.
    FileLine,
    /// Kinesis sequence number; opaque, resume *after* the last applied sequence.
    KinesisSequence,
    /// Kafka offset; next = last + 1.
    KafkaOffset,
}

impl OffsetKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileLine => "file_line",
            Self::KinesisSequence => "kinesis_sequence",
            Self::KafkaOffset => "kafka_offset",
        }
    }
}

impl fmt::Display for OffsetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an event landed on the bus: `(topic, partition, offset)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbRef {
    /// Topic (or Kinesis stream) name.
    pub topic: String,
    /// Partition (Kinesis: shard number).
    pub partition: u32,
    /// Offset as a string.
    pub offset: String,
    /// Interpretation of `offset`.
    pub offset_kind: OffsetKind,
    /// When the bus acknowledged the append (ingestion metadata, never domain time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at_utc: Option<TsUtc>,
}

impl EbRef {
    /// `{topic, partition, offset, offset_kind}` as hashed by origin-offset recipes
    /// (`published_at_utc` is transport metadata and excluded).
    pub fn origin_offset(&self) -> serde_json::Value {
        serde_json::json!({
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "offset_kind": self.offset_kind.as_str(),
        })
    }
}
