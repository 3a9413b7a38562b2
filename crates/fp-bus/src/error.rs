//! What can go wrong on the bus, as types a caller can match on.
//!
//! Every message names the thing to look at (topic, partition, segment file, offset, path), so
//! a one-line error on stderr is enough to act on.

use std::io;
use std::path::PathBuf;

use fp_rails::OffsetKind;

/// An event-bus failure.
///
/// `#[non_exhaustive]`: the Kinesis backend (a later part of issue #4) adds its own variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The topic was never provisioned on this bus.
    #[error(
        "unknown topic `{topic}`: it is not provisioned on this bus (provision it, or check the name)"
    )]
    UnknownTopic {
        /// The name asked for.
        topic: String,
    },

    /// The partition number is not below the topic's partition count.
    #[error("topic `{topic}` has {partitions} partition(s); partition {partition} does not exist")]
    UnknownPartition {
        /// Topic.
        topic: String,
        /// Partition asked for.
        partition: u32,
        /// The topic's partition count.
        partitions: u32,
    },

    /// A topic name that cannot be a topic (it becomes a directory or stream name).
    #[error("invalid topic name `{topic}`: {reason}")]
    InvalidTopicName {
        /// The offending name (truncated to 200 characters).
        topic: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// Re-provisioning a topic with another partition count would re-route every key.
    #[error(
        "topic `{topic}` is provisioned with {existing} partition(s) and cannot be re-provisioned \
         with {requested}: records are routed by partition count"
    )]
    TopicConflict {
        /// Topic.
        topic: String,
        /// Partition count on the bus.
        existing: u32,
        /// Partition count asked for.
        requested: u32,
    },

    /// A read position outside the retained range `[start, end]`.
    #[error(
        "offset {requested} is out of range for {topic}/{partition}: retained offsets are \
         [{start}, {end}) (older records are in the archive; newer ones do not exist yet)"
    )]
    OffsetOutOfRange {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// The position asked for.
        requested: String,
        /// Oldest retained offset.
        start: String,
        /// Exclusive-next end offset.
        end: String,
    },

    /// An offset string that does not parse for the backend's offset kind.
    #[error("`{offset}` is not a valid {kind} offset")]
    InvalidOffset {
        /// The string given.
        offset: String,
        /// The kind it was parsed as.
        kind: OffsetKind,
    },

    /// A record larger than the bus accepts.
    #[error("record of {size} bytes exceeds the bus limit of {max} bytes")]
    RecordTooLarge {
        /// Size of the record value.
        size: usize,
        /// The limit.
        max: usize,
    },

    /// Damaged data: the log refuses to serve the record at `offset` or anything after it.
    #[error(
        "corrupt event log {topic}/{partition}: segment {segment}, offset {offset}: {reason}",
        segment = segment.display()
    )]
    Corrupt {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// The segment file holding the damage.
        segment: PathBuf,
        /// The first offset that cannot be served.
        offset: u64,
        /// What check failed.
        reason: String,
    },

    /// A file-system operation failed.
    #[error("I/O error on {path}: {source}", path = path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// Another process (or another open bus in this process) holds the directory.
    #[error(
        "event bus directory {path} is locked by another process: only one writer may open it",
        path = path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// A write or fsync failed earlier; the partition's on-disk state is unknown until reopened.
    #[error(
        "partition {topic}/{partition} refuses appends after a failed write ({reason}); reopen \
         the bus to recover the log"
    )]
    WriterFailed {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// The original failure.
        reason: String,
    },

    /// The bus is shutting down and no longer accepts appends.
    #[error("the event bus is closed")]
    Closed,

    /// A bug or a panicked worker; the message says where.
    #[error("internal event bus error: {0}")]
    Internal(String),

    /// A remote bus service (Kinesis) refused or kept failing a call after bounded retries.
    /// Like any failed append, a failed publish may have left some records durable.
    #[error("{backend} {operation} failed after {attempts} attempt(s): {reason}")]
    Remote {
        /// Backend name (`kinesis`).
        backend: &'static str,
        /// The API operation and what it was for (e.g. `PutRecords on stream x`).
        operation: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },

    /// A configuration value that cannot work.
    #[error("invalid event bus configuration: {0}")]
    Config(String),
}

impl BusError {
    /// Wrap an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with [`BusError`].
pub type BusResult<T> = Result<T, BusError>;
