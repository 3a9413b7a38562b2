//! One partition of the embedded log as readers see it: its segments, its committed end, and
//! the read path.
//!
//! Readers and the single writer share this state. The writer publishes a new end offset only
//! after the records before it are fsynced, so a reader never serves a record that a crash
//! could take back. Readers snapshot the segment list (cheap `Arc` clones) and do their I/O
//! without holding any lock, so retention can drop a segment from the list while a reader still
//! finishes reading it (the open file handle keeps it readable).

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use fp_rails::{Hex64, TsUtc};

use crate::BusRecord;
use crate::error::{BusError, BusResult};
use crate::record;
use crate::segment::{SEGMENT_HEADER_LEN, Segment, Step};

/// Damage found on open: where the log stops being servable and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// First offset that cannot be served.
    pub offset: u64,
    /// Segment file holding the damage.
    pub segment: PathBuf,
    /// What check failed.
    pub reason: String,
}

/// Read-side limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadLimits {
    /// Largest single file read.
    pub chunk_bytes: usize,
    /// Stop a read call once this many value bytes are collected (at least one record).
    pub max_read_bytes: usize,
}

/// A partition's shared state.
#[derive(Debug)]
pub(crate) struct PartitionLog {
    /// Topic name (for errors).
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// `<root>/<topic>/<partition>`.
    pub dir: PathBuf,
    segments: RwLock<Vec<Arc<Segment>>>,
    /// Exclusive-next offset of the last durable record.
    end: AtomicU64,
    damage: Option<Damage>,
    limits: ReadLimits,
}

/// Corruption met while scanning, before it becomes an error.
struct Hit {
    segment: PathBuf,
    offset: u64,
    reason: String,
}

/// What one scan produced.
struct Scan {
    records: Vec<BusRecord>,
    next: u64,
    hit: Option<Hit>,
    /// The scan started at an index entry and no record validated before the hit: the entry
    /// itself may be what is wrong.
    index_suspect: bool,
}

impl PartitionLog {
    /// A partition over recovered segments (oldest first; empty only when damaged).
    pub fn new(
        topic: String,
        partition: u32,
        dir: PathBuf,
        segments: Vec<Arc<Segment>>,
        end: u64,
        damage: Option<Damage>,
        limits: ReadLimits,
    ) -> Self {
        Self {
            topic,
            partition,
            dir,
            segments: RwLock::new(segments),
            end: AtomicU64::new(end),
            damage,
            limits,
        }
    }

    /// The current segments, oldest first.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.segments
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Add a new active segment (the writer rolled).
    pub fn push_segment(&self, segment: Arc<Segment>) {
        self.segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(segment);
    }

    /// Remove the oldest `count(segments)` segments, never the newest (active) one.
    pub fn remove_oldest(&self, count: impl FnOnce(&[Arc<Segment>]) -> usize) -> Vec<Arc<Segment>> {
        let mut segments = self
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let n = count(&segments).min(segments.len().saturating_sub(1));
        segments.drain(..n).collect()
    }

    /// Oldest retained offset.
    pub fn start_offset(&self) -> u64 {
        self.segments
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .first()
            .map_or_else(|| self.end_offset(), |s| s.base)
    }

    /// Exclusive-next end offset (every record before it is durable).
    pub fn end_offset(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Publish a new end offset, after the records before it are durable.
    pub fn set_end(&self, end: u64) {
        self.end.store(end, Ordering::Release);
    }

    /// The damage found on open, as an error.
    pub fn damage_error(&self) -> Option<BusError> {
        self.damage.as_ref().map(|d| BusError::Corrupt {
            topic: self.topic.clone(),
            partition: self.partition,
            segment: d.segment.clone(),
            offset: d.offset,
            reason: d.reason.clone(),
        })
    }

    /// `(start, end)`, or the damage error: a damaged partition does not pretend to have an
    /// end a consumer could believe it has caught up to.
    pub fn range(&self) -> BusResult<(u64, u64)> {
        if let Some(e) = self.damage_error() {
            return Err(e);
        }
        let end = self.end_offset();
        Ok((self.start_offset().min(end), end))
    }

    fn out_of_range(&self, requested: u64, start: u64, end: u64) -> BusError {
        BusError::OffsetOutOfRange {
            topic: self.topic.clone(),
            partition: self.partition,
            requested: requested.to_string(),
            start: start.to_string(),
            end: end.to_string(),
        }
    }

    /// Read up to `max` records from offset `from` (`None`: the oldest retained). Returns the
    /// records and the exclusive-next offset after them.
    ///
    /// Every served record passes its checksums and carries the offset expected at its place.
    /// At damage the read returns the records before it; a read starting at the damage fails
    /// with [`BusError::Corrupt`] naming segment and offset, every time: nothing after it is
    /// reachable by scanning, so nothing is silently skipped.
    pub fn read(&self, from: Option<u64>, max: usize) -> BusResult<(Vec<BusRecord>, u64)> {
        let end = self.end_offset();
        let segments = self.segments();
        let start = segments.first().map_or(end, |s| s.base).min(end);
        let from = from.unwrap_or(start);
        if from < start || from > end {
            return Err(self.out_of_range(from, start, end));
        }
        if from == end {
            return match self.damage_error() {
                Some(e) => Err(e),
                None => Ok((Vec::new(), from)),
            };
        }
        if max == 0 {
            return Ok((Vec::new(), from));
        }
        let mut buf = SCRATCH.take();
        let mut scan = self.scan(&segments, from, end, max, true, &mut buf);
        if matches!(&scan, Ok(s) if s.hit.is_some() && s.index_suspect) {
            // Index entries are hints: rescan from the segment start before blaming the log.
            scan = self.scan(&segments, from, end, max, false, &mut buf);
        }
        if buf.capacity() <= MAX_SCRATCH {
            SCRATCH.set(buf);
        }
        let scan = scan?;
        match scan.hit {
            Some(hit) if scan.records.is_empty() => Err(BusError::Corrupt {
                topic: self.topic.clone(),
                partition: self.partition,
                segment: hit.segment,
                offset: hit.offset,
                reason: hit.reason,
            }),
            _ => Ok((scan.records, scan.next)),
        }
    }

    fn scan(
        &self,
        segments: &[Arc<Segment>],
        from: u64,
        end: u64,
        max: usize,
        use_index: bool,
        buf: &mut Vec<u8>,
    ) -> BusResult<Scan> {
        let mut si = segments
            .partition_point(|s| s.base <= from)
            .saturating_sub(1);
        let Some(first) = segments.get(si) else {
            return Ok(Scan {
                records: Vec::new(),
                next: from,
                hit: None,
                index_suspect: false,
            });
        };
        let entry = if use_index { first.lookup(from) } else { None };
        let (pos, mut expected) = entry.map_or((SEGMENT_HEADER_LEN, first.base), |e| {
            (u64::from(e.position), first.base + u64::from(e.rel_offset))
        });
        let mut index_suspect = entry.is_some();
        let mut scanner = first.scanner(pos, self.limits.chunk_bytes, buf);
        let cap = usize::try_from(end - from).unwrap_or(usize::MAX).min(max);
        let mut records = Vec::with_capacity(cap.min(4096));
        let mut value_bytes = 0usize;
        let mut last_ts: Option<(i64, TsUtc)> = None;

        let hit = |segment: &Segment, offset: u64, reason: String| Hit {
            segment: segment.log_path.clone(),
            offset,
            reason,
        };
        while expected < end && records.len() < max && value_bytes < self.limits.max_read_bytes {
            let segment = &segments[si];
            let suspect = index_suspect;
            let stop = |records, reason| {
                Ok(stop(
                    records,
                    expected,
                    suspect,
                    hit(segment, expected, reason),
                ))
            };
            match scanner.next_frame()? {
                Step::Frame { pos } => {
                    if expected < from {
                        // Seeking: the header check is enough to step over a record.
                        expected += 1;
                        continue;
                    }
                    let bytes = scanner.frame();
                    let frame = match record::decode(bytes) {
                        Ok(f) => f,
                        Err(e) => return stop(records, format!("{e} at byte {pos}")),
                    };
                    if frame.offset != expected {
                        let reason = format!(
                            "the record at byte {pos} holds offset {}, expected {expected}",
                            frame.offset
                        );
                        return stop(records, reason);
                    }
                    index_suspect = false;
                    let ts = match &last_ts {
                        Some((micros, ts)) if *micros == frame.published_at_micros => ts.clone(),
                        _ => match TsUtc::from_unix_micros(frame.published_at_micros) {
                            Ok(ts) => {
                                last_ts = Some((frame.published_at_micros, ts.clone()));
                                ts
                            }
                            Err(e) => {
                                let reason = format!(
                                    "the record at byte {pos} has an impossible timestamp: {e}"
                                );
                                return stop(records, reason);
                            }
                        },
                    };
                    let Ok(partition_key) = Hex64::parse(lower_hex(&frame.key)) else {
                        return stop(
                            records,
                            format!("the record at byte {pos} has an invalid key"),
                        );
                    };
                    let value = &bytes[frame.value_start..frame.frame_len];
                    value_bytes += value.len();
                    records.push(BusRecord {
                        offset: decimal(expected),
                        partition_key,
                        // Copied out of the reused scratch buffer: small allocations recycle,
                        // where a fresh multi-MiB chunk per read faults in new pages.
                        value: Bytes::copy_from_slice(value),
                        published_at_utc: ts,
                    });
                    expected += 1;
                }
                Step::End { pos } => match segments.get(si + 1) {
                    Some(next) if next.base == expected => {
                        si += 1;
                        scanner = scanner.switch(next, SEGMENT_HEADER_LEN);
                    }
                    Some(next) => {
                        let reason = format!(
                            "the segment ends at byte {pos} before offset {expected}, but the next segment starts at offset {}",
                            next.base
                        );
                        return stop(records, reason);
                    }
                    None => {
                        let reason = format!(
                            "the segment ends at byte {pos}, before the committed end offset {end}"
                        );
                        return stop(records, reason);
                    }
                },
                Step::Bad { pos, error } => return stop(records, format!("{error} at byte {pos}")),
            }
        }
        Ok(Scan {
            records,
            next: expected,
            hit: None,
            index_suspect: false,
        })
    }
}

fn stop(records: Vec<BusRecord>, expected: u64, index_suspect: bool, hit: Hit) -> Scan {
    Scan {
        records,
        next: expected,
        hit: Some(hit),
        index_suspect,
    }
}

thread_local! {
    /// Each reader thread's scratch buffer for segment reads, kept between reads.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A scratch buffer larger than this (grown for a huge record) is not kept.
const MAX_SCRATCH: usize = 8 * 1024 * 1024;

/// Lowercase hex of a key (the hot path of every read: no formatting machinery).
fn lower_hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Decimal text of an offset (the hot path of every read and publish).
pub(crate) fn decimal(mut n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[i..].iter().map(|&d| char::from(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_to_string() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn lower_hex_matches_the_hex_crate() {
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = (i * 37 + 5) as u8;
        }
        assert_eq!(lower_hex(&key), hex::encode(key));
    }
}
