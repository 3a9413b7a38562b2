//! One segment: an append-only file of frames `<base_offset:020>.log` and its sparse index
//! `<base_offset:020>.index`, plus a scanner that walks its frames.
//!
//! A segment file starts with a 16-byte header (magic `FPBUSLG1`, base offset u64 LE), so a
//! stray or renamed file is recognised rather than read as records, and the format can evolve.
//! Reads use positioned I/O (`pread`) on a shared read-only handle: any number of readers, no
//! seek state, no locks held during I/O.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use crate::error::{BusError, BusResult};
use crate::index::{IndexEntry, SparseIndex};
use crate::record::{self, FrameError};

/// Magic bytes at the start of every segment file (format version 1).
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"FPBUSLG1";
/// Length of the segment header; the first frame starts here.
pub const SEGMENT_HEADER_LEN: u64 = 16;

/// `<base:020>.log`: zero-padded so lexical order is offset order.
pub(crate) fn log_file_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// `<base:020>.index`.
pub(crate) fn index_file_name(base: u64) -> String {
    format!("{base:020}.index")
}

/// The base offset of a file named `<20 digits>.<ext>`.
pub(crate) fn parse_file_name(name: &str, ext: &str) -> Option<u64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// The header bytes of a segment starting at `base`.
pub(crate) fn header_bytes(base: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..].copy_from_slice(&base.to_le_bytes());
    h
}

/// fsync a directory, so entries created or renamed in it survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> BusResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BusError::io(dir, e))
}

/// The read side of a segment, shared by the writer and every reader.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Offset of the first record.
    pub base: u64,
    /// The `.log` file.
    pub log_path: PathBuf,
    /// The `.index` file.
    pub index_path: PathBuf,
    file: File,
    index: RwLock<SparseIndex>,
    /// Bytes of valid data (header and committed frames): retention accounting.
    size: AtomicU64,
    /// Newest `published_at` in the segment, microseconds (retention by age).
    max_ts: AtomicI64,
}

impl Segment {
    /// Open an existing segment for reading; the index is loaded separately (recovery).
    pub fn open(dir: &Path, base: u64) -> BusResult<Self> {
        let log_path = dir.join(log_file_name(base));
        let file = File::open(&log_path).map_err(|e| BusError::io(&log_path, e))?;
        let size = file
            .metadata()
            .map_err(|e| BusError::io(&log_path, e))?
            .len();
        Ok(Self {
            base,
            index_path: dir.join(index_file_name(base)),
            log_path,
            file,
            index: RwLock::new(SparseIndex::default()),
            size: AtomicU64::new(size),
            max_ts: AtomicI64::new(i64::MIN),
        })
    }

    /// Create a new, empty segment durably (header written and synced, directory synced) and
    /// return it with write handles for the log and the index.
    pub fn create(dir: &Path, base: u64) -> BusResult<(Self, File, File)> {
        let log_path = dir.join(log_file_name(base));
        let index_path = dir.join(index_file_name(base));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(|e| BusError::io(&log_path, e))?;
        log.write_all_at(&header_bytes(base), 0)
            .and_then(|()| log.sync_all())
            .map_err(|e| BusError::io(&log_path, e))?;
        let index = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&index_path)
            .map_err(|e| BusError::io(&index_path, e))?;
        sync_dir(dir)?;
        let segment = Self::open(dir, base)?;
        Ok((segment, log, index))
    }

    /// Read up to `len` bytes at `pos`; shorter only at the end of the file.
    pub fn read_at(&self, pos: u64, len: usize) -> BusResult<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let n = self.read_into(pos, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Fill `buf` from `pos`; returns the bytes read, fewer than `buf.len()` only at the end of
    /// the file.
    pub fn read_into(&self, pos: u64, buf: &mut [u8]) -> BusResult<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.file.read_at(&mut buf[filled..], pos + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(BusError::io(&self.log_path, e)),
            }
        }
        Ok(filled)
    }

    /// Length of the file on disk now.
    pub fn file_len(&self) -> BusResult<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| BusError::io(&self.log_path, e))
    }

    /// The index entry to start a scan for `offset` from.
    pub fn lookup(&self, offset: u64) -> Option<IndexEntry> {
        let rel = u32::try_from(offset.checked_sub(self.base)?).unwrap_or(u32::MAX);
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .lookup(rel)
    }

    /// Replace the index (recovery).
    pub fn set_index(&self, index: SparseIndex) {
        *self.index.write().unwrap_or_else(PoisonError::into_inner) = index;
    }

    /// Add entries after a committed write.
    pub fn extend_index(&self, entries: &[IndexEntry]) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        for e in entries {
            index.push(*e);
        }
    }

    /// Bytes of valid data.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Record the valid data size after a write or a truncation.
    pub fn set_size(&self, size: u64) {
        self.size.store(size, Ordering::Release);
    }

    /// Newest append time in the segment (`i64::MIN` when empty).
    pub fn max_ts(&self) -> i64 {
        self.max_ts.load(Ordering::Acquire)
    }

    /// Raise the newest append time.
    pub fn observe_ts(&self, ts: i64) {
        self.max_ts.fetch_max(ts, Ordering::AcqRel);
    }

    /// A scanner positioned at byte `pos`, reading into `buf` (a scratch buffer the caller
    /// keeps: reused buffers avoid faulting in fresh pages on every read).
    pub fn scanner<'a>(&'a self, pos: u64, max_chunk: usize, buf: &'a mut Vec<u8>) -> Scanner<'a> {
        Scanner {
            segment: self,
            buf,
            filled: 0,
            chunk_pos: pos,
            cursor: 0,
            last: 0..0,
            next_chunk: MIN_CHUNK.min(max_chunk).max(1),
            max_chunk: max_chunk.max(1),
            eof: false,
        }
    }
}

/// First read of a scan: small, because most reads seek to an index entry and want a few
/// records; later reads double up to the configured chunk size for sequential throughput.
const MIN_CHUNK: usize = 64 * 1024;

/// What a scanner found at its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A frame at `pos` whose header checks out; [`Scanner::frame`] has its bytes.
    Frame { pos: u64 },
    /// End of file exactly at a frame boundary.
    End { pos: u64 },
    /// Bytes at `pos` that are not a frame (cut short at the end of the file, or damaged).
    Bad { pos: u64, error: FrameError },
}

/// Walks the frames of a segment in file order, reading in chunks into a caller's buffer.
pub(crate) struct Scanner<'a> {
    segment: &'a Segment,
    buf: &'a mut Vec<u8>,
    /// Valid bytes in `buf`.
    filled: usize,
    /// File position of `buf[0]`.
    chunk_pos: u64,
    cursor: usize,
    /// The frame last returned, as a range of `buf`.
    last: std::ops::Range<usize>,
    next_chunk: usize,
    max_chunk: usize,
    /// `buf[..filled]` reaches the end of the file.
    eof: bool,
}

impl<'a> Scanner<'a> {
    /// File position of the next frame.
    pub fn position(&self) -> u64 {
        self.chunk_pos + self.cursor as u64
    }

    /// Continue in another segment at `pos`, keeping the buffer.
    pub fn switch(self, segment: &'a Segment, pos: u64) -> Scanner<'a> {
        let max_chunk = self.max_chunk;
        let next_chunk = self.next_chunk;
        let mut s = segment.scanner(pos, max_chunk, self.buf);
        s.next_chunk = next_chunk;
        s
    }

    /// The bytes of the frame last returned by [`Scanner::next_frame`].
    pub fn frame(&self) -> &[u8] {
        &self.buf[self.last.clone()]
    }

    /// The next frame. Only the header is checked here; callers decode the body when they
    /// serve the record.
    pub fn next_frame(&mut self) -> BusResult<Step> {
        loop {
            let pos = self.position();
            let avail = &self.buf[self.cursor..self.filled];
            let need = match record::peek_len(avail) {
                Ok(len) if avail.len() >= len => {
                    self.last = self.cursor..self.cursor + len;
                    self.cursor += len;
                    return Ok(Step::Frame { pos });
                }
                Ok(len) => len,
                Err(FrameError::Incomplete { need, .. }) => need,
                Err(error) => return Ok(Step::Bad { pos, error }),
            };
            if self.eof {
                if avail.is_empty() {
                    return Ok(Step::End { pos });
                }
                let error = FrameError::Incomplete {
                    have: avail.len(),
                    need,
                };
                return Ok(Step::Bad { pos, error });
            }
            let want = need.max(self.next_chunk);
            self.next_chunk = (self.next_chunk * 2).min(self.max_chunk);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            self.filled = self.segment.read_into(pos, &mut self.buf[..want])?;
            self.eof = self.filled < want;
            self.chunk_pos = pos;
            self.cursor = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_offset() {
        assert_eq!(log_file_name(42), "00000000000000000042.log");
        assert_eq!(parse_file_name(&log_file_name(42), "log"), Some(42));
        assert_eq!(parse_file_name(&index_file_name(7), "index"), Some(7));
        assert_eq!(parse_file_name("42.log", "log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log", "log"), None);
        assert_eq!(
            parse_file_name(&log_file_name(u64::MAX), "log"),
            Some(u64::MAX)
        );
        assert!(log_file_name(9) < log_file_name(10));
    }

    #[test]
    fn scanner_walks_frames_and_reports_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (seg, log, _index) = Segment::create(dir.path(), 0).expect("create");
        let mut buf = Vec::new();
        for i in 0..100u64 {
            record::encode(&mut buf, i, 1, &[1; 32], &vec![b'x'; 1000]);
        }
        let torn = buf.len() - 10;
        log.write_all_at(&buf[..torn], SEGMENT_HEADER_LEN)
            .expect("write");
        // A small chunk size forces frames to straddle chunk boundaries.
        let mut buf = Vec::new();
        let mut scan = seg.scanner(SEGMENT_HEADER_LEN, 1500, &mut buf);
        let mut frames = 0;
        loop {
            match scan.next_frame().expect("io") {
                Step::Frame { .. } => {
                    assert_eq!(record::decode(scan.frame()).map(|f| f.offset), Ok(frames));
                    frames += 1;
                }
                Step::Bad { error, .. } => {
                    assert!(matches!(error, FrameError::Incomplete { .. }));
                    break;
                }
                Step::End { .. } => panic!("the tail is torn"),
            }
        }
        assert_eq!(frames, 99);
    }
}
