//! The single writer of a partition: group commit, segment roll, acknowledgement after fsync.
//!
//! One OS thread per partition (started on the first publish) owns the active segment. It takes
//! a request from its queue, waits `linger`, drains whatever else is queued (up to
//! `max_batch_bytes`), encodes everything into one buffer, writes it with one positioned write,
//! fsyncs once, then publishes the new end offset to readers and acknowledges every request.
//! While an fsync is in flight new requests queue up and become the next batch, so concurrent
//! publishers share fsyncs even with `linger = 0`.
//!
//! A thread rather than a tokio task: every step is a blocking syscall, and the writer must not
//! depend on which runtime (if any) a publisher happens to run on.
//!
//! After a failed write or fsync the file's state is unknown (a retried fsync can report
//! success for pages the kernel already dropped), so the writer refuses further appends until
//! the bus is reopened and recovery re-establishes the truth from the file.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::OutRecord;
use crate::error::{BusError, BusResult};
use crate::index::IndexEntry;
use crate::partition::PartitionLog;
use crate::record;
use crate::recovery::ActiveTail;
use crate::retention::{self, RetentionPolicy};
use crate::segment::{SEGMENT_HEADER_LEN, Segment};

/// Records for one partition and where to send the acknowledgement.
pub(crate) struct AppendRequest {
    /// Records, in order.
    pub records: Vec<OutRecord>,
    /// Receives the first offset once every record is durable.
    pub reply: oneshot::Sender<BusResult<AppendAck>>,
}

impl AppendRequest {
    fn bytes(&self) -> usize {
        self.records
            .iter()
            .map(|r| record::frame_len(r.value.len()))
            .sum()
    }
}

/// A durable append: records got `first_offset..first_offset + n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AppendAck {
    /// Offset of the request's first record.
    pub first_offset: u64,
    /// Append time stamped on every record of the batch.
    pub published_at_micros: i64,
}

/// Writer settings.
#[derive(Debug, Clone)]
pub(crate) struct WriterConfig {
    /// Roll to a new segment before a record would push the active one past this size.
    pub segment_max_bytes: u64,
    /// Log bytes between index entries.
    pub index_interval_bytes: u64,
    /// Wait after the first queued request before writing.
    pub linger: Duration,
    /// Stop coalescing requests beyond this many bytes.
    pub max_batch_bytes: usize,
    /// Applied after every roll.
    pub retention: RetentionPolicy,
}

/// Microseconds since the Unix epoch, now.
pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0, // unreachable: Hex64 is validated lowercase hex
    }
}

/// The 32 raw bytes a 64-hex key spells.
pub(crate) fn key_bytes(key: &fp_rails::Hex64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(key.as_str().as_bytes().chunks_exact(2)) {
        *o = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
    out
}

/// The writer's state: the active segment and where the next record goes.
pub(crate) struct WriterState {
    log: Arc<PartitionLog>,
    config: WriterConfig,
    segment: Arc<Segment>,
    file: File,
    index_file: File,
    index_file_len: u64,
    pos: u64,
    next_offset: u64,
    since_index: u64,
    last_ts: i64,
    failed: Option<String>,
    buf: Vec<u8>,
    pending_index: Vec<IndexEntry>,
}

impl WriterState {
    /// Take over the active (last) segment where recovery left it.
    pub fn open(log: Arc<PartitionLog>, tail: ActiveTail, config: WriterConfig) -> BusResult<Self> {
        let segment = log
            .segments()
            .last()
            .cloned()
            .ok_or_else(|| BusError::Internal("a recovered partition has no segment".into()))?;
        let file = OpenOptions::new()
            .write(true)
            .open(&segment.log_path)
            .map_err(|e| BusError::io(&segment.log_path, e))?;
        let index_file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&segment.index_path)
            .map_err(|e| BusError::io(&segment.index_path, e))?;
        Ok(Self {
            log,
            config,
            segment,
            file,
            index_file,
            index_file_len: tail.index_file_len,
            pos: tail.pos,
            next_offset: tail.next_offset,
            since_index: tail.since_index,
            last_ts: tail.last_ts,
            failed: None,
            buf: Vec::new(),
            pending_index: Vec::new(),
        })
    }

    /// Append a batch of requests durably; one result per request.
    fn append(&mut self, batch: &[AppendRequest]) -> Vec<BusResult<AppendAck>> {
        if self.failed.is_none() {
            match self.try_append(batch) {
                Ok(acks) => return acks.into_iter().map(Ok).collect(),
                Err(e) => {
                    tracing::error!(
                        topic = %self.log.topic,
                        partition = self.log.partition,
                        error = %e,
                        "event bus append failed; the partition refuses appends until reopened"
                    );
                    self.failed = Some(e.to_string());
                }
            }
        }
        let reason = self.failed.clone().unwrap_or_default();
        batch
            .iter()
            .map(|_| {
                Err(BusError::WriterFailed {
                    topic: self.log.topic.clone(),
                    partition: self.log.partition,
                    reason: reason.clone(),
                })
            })
            .collect()
    }

    fn try_append(&mut self, batch: &[AppendRequest]) -> BusResult<Vec<AppendAck>> {
        // Append time never goes backwards within a partition, whatever the wall clock does.
        let ts = now_micros().max(self.last_ts);
        self.last_ts = ts;
        self.buf.clear();
        self.pending_index.clear();
        let mut acks = Vec::with_capacity(batch.len());
        for request in batch {
            let first_offset = self.next_offset;
            for r in &request.records {
                let len = record::frame_len(r.value.len()) as u64;
                let at = self.pos + self.buf.len() as u64;
                if at > SEGMENT_HEADER_LEN && at + len > self.config.segment_max_bytes {
                    self.flush(ts)?;
                    self.roll(ts)?;
                }
                let at = self.pos + self.buf.len() as u64;
                if self.since_index >= self.config.index_interval_bytes {
                    self.pending_index.push(IndexEntry {
                        rel_offset: u32::try_from(self.next_offset - self.segment.base)
                            .unwrap_or(u32::MAX),
                        position: u32::try_from(at).unwrap_or(u32::MAX),
                    });
                    self.since_index = 0;
                }
                record::encode(
                    &mut self.buf,
                    self.next_offset,
                    ts,
                    &key_bytes(&r.partition_key),
                    &r.value,
                );
                self.since_index += len;
                self.next_offset += 1;
            }
            acks.push(AppendAck {
                first_offset,
                published_at_micros: ts,
            });
        }
        self.flush(ts)?;
        Ok(acks)
    }

    /// Write the buffer, fsync, then make it visible: index entries, sizes, the end offset.
    fn flush(&mut self, ts: i64) -> BusResult<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = &self.segment.log_path;
        self.file
            .write_all_at(&self.buf, self.pos)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| BusError::io(path, e))?;
        self.pos += self.buf.len() as u64;
        self.buf.clear();
        if !self.pending_index.is_empty() {
            let bytes: Vec<u8> = self.pending_index.iter().flat_map(|e| e.encode()).collect();
            // Not fsynced: the index is a hint that recovery validates and rebuilds.
            self.index_file
                .write_all_at(&bytes, self.index_file_len)
                .map_err(|e| BusError::io(&self.segment.index_path, e))?;
            self.index_file_len += bytes.len() as u64;
            self.segment.extend_index(&self.pending_index);
            self.pending_index.clear();
        }
        self.segment.set_size(self.pos);
        self.segment.observe_ts(ts);
        self.log.set_end(self.next_offset);
        Ok(())
    }

    /// Close the active segment and start a new one at the next offset.
    fn roll(&mut self, ts: i64) -> BusResult<()> {
        self.index_file
            .sync_data()
            .map_err(|e| BusError::io(&self.segment.index_path, e))?;
        let (segment, file, index_file) = Segment::create(&self.log.dir, self.next_offset)?;
        let segment = Arc::new(segment);
        self.log.push_segment(Arc::clone(&segment));
        self.segment = segment;
        self.file = file;
        self.index_file = index_file;
        self.index_file_len = 0;
        self.pos = SEGMENT_HEADER_LEN;
        self.since_index = 0;
        if let Err(e) = retention::apply(&self.log, &self.config.retention, ts) {
            tracing::warn!(topic = %self.log.topic, partition = self.log.partition, error = %e, "retention failed");
        }
        Ok(())
    }
}

/// Start the writer thread of a partition.
pub(crate) fn spawn(
    state: WriterState,
    rx: mpsc::Receiver<AppendRequest>,
) -> BusResult<JoinHandle<()>> {
    let name = format!("fp-bus-w{}", state.log.partition);
    let dir = state.log.dir.clone();
    std::thread::Builder::new()
        .name(name)
        .stack_size(256 * 1024)
        .spawn(move || run(state, rx))
        .map_err(|e| BusError::io(dir, e))
}

fn run(mut state: WriterState, mut rx: mpsc::Receiver<AppendRequest>) {
    while let Some(first) = rx.blocking_recv() {
        let mut bytes = first.bytes();
        let mut batch = vec![first];
        if !state.config.linger.is_zero() {
            std::thread::sleep(state.config.linger);
        }
        while bytes < state.config.max_batch_bytes {
            match rx.try_recv() {
                Ok(r) => {
                    bytes += r.bytes();
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        let results = state.append(&batch);
        for (request, result) in batch.into_iter().zip(results) {
            // A publisher that stopped waiting is not an error: its records are durable.
            let _ = request.reply.send(result);
        }
    }
}
