//! Retention: delete whole closed segments, oldest first, by size and by age.
//!
//! Only whole closed segments go, and only from the oldest end, so the retained log is always
//! one contiguous offset range and the active segment (where appends land) is never touched.
//! A reader still positioned in a deleted segment finishes it through its open file handle;
//! a read that starts below the new start offset gets [`crate::BusError::OffsetOutOfRange`]
//! (the archive is the continuation beyond retention, contracts §11).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{BusError, BusResult};
use crate::partition::PartitionLog;
use crate::segment::Segment;

/// When closed segments may be deleted. Both limits apply; `None` disables one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep at least this many bytes per partition (Kafka's `retention.bytes` meaning): the
    /// oldest closed segment goes while the rest still hold `max_bytes` or more, so a partition
    /// uses at most `max_bytes` plus one segment.
    pub max_bytes: Option<u64>,
    /// Delete a closed segment once its newest record was appended longer ago than this
    /// (append time, not domain time).
    pub max_age: Option<Duration>,
}

impl RetentionPolicy {
    /// Keep everything.
    pub fn keep_all() -> Self {
        Self::default()
    }
}

/// How many of the oldest segments the policy deletes at `now_micros` (the newest segment is
/// never counted: the caller caps at `len - 1`).
pub(crate) fn expired_prefix(
    segments: &[Arc<Segment>],
    policy: &RetentionPolicy,
    now_micros: i64,
) -> usize {
    let closed = segments.len().saturating_sub(1);
    let mut by_size = 0;
    if let Some(max_bytes) = policy.max_bytes {
        let mut total: u64 = segments.iter().map(|s| s.size()).sum();
        while by_size < closed {
            let rest = total.saturating_sub(segments[by_size].size());
            if rest < max_bytes {
                break;
            }
            total = rest;
            by_size += 1;
        }
    }
    let mut by_age = 0;
    if let Some(max_age) = policy.max_age {
        let max_age = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
        let cutoff = now_micros.saturating_sub(max_age);
        by_age = segments[..closed]
            .iter()
            .take_while(|s| s.max_ts() < cutoff)
            .count();
    }
    by_size.max(by_age)
}

/// Apply the policy to one partition: drop expired segments from the read view, then delete
/// their files. Returns the deleted `.log` paths.
pub(crate) fn apply(
    log: &PartitionLog,
    policy: &RetentionPolicy,
    now_micros: i64,
) -> BusResult<Vec<PathBuf>> {
    if policy.max_bytes.is_none() && policy.max_age.is_none() {
        return Ok(Vec::new());
    }
    let removed = log.remove_oldest(|segments| expired_prefix(segments, policy, now_micros));
    let mut deleted = Vec::with_capacity(removed.len());
    for segment in removed {
        // The log first: an index without its log is swept on open; the reverse would be a
        // segment without its index, which is merely slow.
        for path in [&segment.log_path, &segment.index_path] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BusError::io(path, e)),
            }
        }
        tracing::info!(
            topic = %log.topic,
            partition = log.partition,
            segment = %segment.log_path.display(),
            "retention deleted a segment"
        );
        deleted.push(segment.log_path.clone());
    }
    Ok(deleted)
}
