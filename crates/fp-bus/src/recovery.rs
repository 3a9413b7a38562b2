//! Recovery on open: find a partition's segments, validate what a crash can have touched, cut
//! a torn tail, and refuse to serve past damage.
//!
//! What a crash leaves: the writer appends each batch with one positioned write and then
//! fsyncs; it acknowledges only after the fsync. A process killed mid-write leaves a *prefix*
//! of the batch (the page cache keeps what was copied), so the last frame may be cut short. A
//! power loss can also leave a zero-filled tail. Both are unacknowledged and are truncated.
//!
//! What recovery refuses: a frame that is complete but fails its checksums, carries the wrong
//! offset, or a segment that ends early or overlaps the next. That is damage to data that may
//! have been acknowledged; cutting it would silently lose records. The partition then serves
//! records before the damage, fails reads at it with an error naming segment and offset, and
//! refuses appends (its true end is unknown) until an operator repairs it.
//!
//! Cost: only the tail of each segment after its last index entry is scanned (a few KiB per
//! segment); the rest of the log is checked record by record when it is read.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use crate::error::{BusError, BusResult};
use crate::index::{ENTRY_LEN, IndexEntry, SparseIndex};
use crate::partition::Damage;
use crate::record::{self, FrameError, HEADER_LEN};
use crate::segment::{
    SEGMENT_HEADER_LEN, Segment, Step, header_bytes, index_file_name, log_file_name,
    parse_file_name,
};

/// The writer's position in the active segment after recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ActiveTail {
    /// End of valid data in the active segment.
    pub pos: u64,
    /// Offset the next append gets.
    pub next_offset: u64,
    /// Log bytes written since the last index entry.
    pub since_index: u64,
    /// Newest append time in the partition (appends never go back in time).
    pub last_ts: i64,
    /// Length of the active segment's index file.
    pub index_file_len: u64,
}

/// A recovered partition.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Segments, oldest first (empty only when the partition lost them all).
    pub segments: Vec<Arc<Segment>>,
    /// Exclusive-next end of servable records.
    pub end: u64,
    /// Damage that stops the partition, if any.
    pub damage: Option<Damage>,
    /// Where the writer continues (`None` when damaged).
    pub tail: Option<ActiveTail>,
}

/// How a segment scan ended.
enum Stop {
    /// End of file exactly after the last frame.
    Clean,
    /// Bytes at `pos` that are not a valid frame.
    Bad { pos: u64, error: String, torn: bool },
}

/// What scanning a segment's tail found.
struct TailScan {
    next_offset: u64,
    end_pos: u64,
    since_index: u64,
    last_ts: i64,
    stop: Stop,
}

/// Whether the partition is being created or must already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Provisioning: create the directory and an empty first segment if missing.
    Create,
    /// Opening a provisioned topic: the partition has at least one segment (retention never
    /// deletes the active one), so none means data was lost.
    Existing,
}

/// Recover the partition in `dir`.
pub(crate) fn recover(
    dir: &Path,
    expect: Expect,
    index_interval: u64,
    chunk: usize,
) -> BusResult<Recovered> {
    if expect == Expect::Create {
        fs::create_dir_all(dir).map_err(|e| BusError::io(dir, e))?;
    }
    let bases = if dir.is_dir() {
        list_segments(dir)?
    } else {
        Vec::new()
    };
    let bases = match (bases.is_empty(), expect) {
        (false, _) => bases,
        (true, Expect::Create) => {
            Segment::create(dir, 0)?;
            vec![0]
        }
        (true, Expect::Existing) => {
            // Restarting at offset 0 would hand out offsets consumers have already seen.
            return Ok(Recovered {
                segments: Vec::new(),
                end: 0,
                damage: Some(Damage {
                    offset: 0,
                    segment: dir.to_path_buf(),
                    reason: "the partition has no segment files (deleted?); it is not restarted \
                             at offset 0"
                        .into(),
                }),
                tail: None,
            });
        }
    };

    let mut segments = Vec::with_capacity(bases.len());
    let mut damage: Option<Damage> = None;
    let mut tail = None;
    let mut last_ts = i64::MIN;
    for (i, &base) in bases.iter().enumerate() {
        let segment = Segment::open(dir, base)?;
        let is_active = i + 1 == bases.len();
        if damage.is_some() {
            // Unreachable behind the damage: kept on disk untouched, never scanned or served.
            segments.push(Arc::new(segment));
            continue;
        }
        let mut len = segment.file_len()?;
        if let Err(reason) = check_header(&segment, len) {
            if is_active && len < SEGMENT_HEADER_LEN {
                // Killed while rolling: the new segment never got its whole header.
                rewrite_header(&segment)?;
                len = SEGMENT_HEADER_LEN;
            } else {
                damage = Some(Damage {
                    offset: base,
                    segment: segment.log_path.clone(),
                    reason,
                });
                segments.push(Arc::new(segment));
                continue;
            }
        }

        let (mut index, mut index_dirty) = load_index(&segment, len)?;
        let (start_pos, start_offset) = trusted_start(&segment, &mut index, &mut index_dirty)?;
        let scan = scan_tail(
            &segment,
            start_pos,
            start_offset,
            index_interval,
            chunk,
            &mut index,
            &mut index_dirty,
        )?;
        last_ts = last_ts.max(scan.last_ts);
        segment.observe_ts(scan.last_ts);

        if !is_active {
            let next_base = bases[i + 1];
            let problem = match &scan.stop {
                Stop::Bad { pos, error, .. } => Some(format!("{error} at byte {pos}")),
                Stop::Clean if scan.next_offset != next_base => Some(format!(
                    "the segment ends at byte {} before offset {}, but the next segment starts at offset {next_base}",
                    scan.end_pos, scan.next_offset
                )),
                Stop::Clean => None,
            };
            if let Some(reason) = problem {
                damage = Some(Damage {
                    offset: scan.next_offset,
                    segment: segment.log_path.clone(),
                    reason,
                });
            }
            if index_dirty {
                // Best effort: the index is a hint and was validated above.
                if let Err(e) = write_index(&segment, &index) {
                    tracing::warn!(error = %e, "could not rewrite a segment index");
                }
            }
            segment.set_index(index);
            segment.set_size(len);
            segments.push(Arc::new(segment));
            continue;
        }

        // The active segment: cut a torn tail, refuse damage.
        match scan.stop {
            Stop::Clean => {}
            Stop::Bad {
                pos,
                torn: true,
                ref error,
            } => {
                truncate(&segment, pos)?;
                tracing::warn!(
                    segment = %segment.log_path.display(),
                    bytes = len - pos,
                    offset = scan.next_offset,
                    reason = %error,
                    "recovery cut an unacknowledged torn tail"
                );
                len = pos;
            }
            Stop::Bad {
                pos,
                torn: false,
                error,
            } => {
                damage = Some(Damage {
                    offset: scan.next_offset,
                    segment: segment.log_path.clone(),
                    reason: format!("{error} at byte {pos}"),
                });
            }
        }
        if damage.is_none() {
            // The writer appends to this index at its end, so it must be exactly what is held.
            let on_disk = fs::metadata(&segment.index_path).map(|m| m.len()).ok();
            let want = (index.len() * ENTRY_LEN) as u64;
            if index_dirty || on_disk != Some(want) {
                write_index(&segment, &index)?;
            }
            tail = Some(ActiveTail {
                pos: len,
                next_offset: scan.next_offset,
                since_index: scan.since_index,
                last_ts,
                index_file_len: want,
            });
        }
        segment.set_index(index);
        segment.set_size(len);
        segments.push(Arc::new(segment));
    }

    let end = match (&damage, &tail) {
        (Some(d), _) => d.offset,
        (None, Some(t)) => t.next_offset,
        (None, None) => 0,
    };
    Ok(Recovered {
        segments,
        end,
        damage,
        tail,
    })
}

/// Base offsets of the `.log` files in `dir`, sorted; index files without a log are removed
/// (left behind when retention was interrupted).
fn list_segments(dir: &Path) -> BusResult<Vec<u64>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| BusError::io(dir, e))? {
        let entry = entry.map_err(|e| BusError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_file_name(name, "log") {
            logs.push(base);
        } else if let Some(base) = parse_file_name(name, "index") {
            indexes.push(base);
        }
    }
    logs.sort_unstable();
    for base in indexes {
        if logs.binary_search(&base).is_err() {
            let path = dir.join(index_file_name(base));
            fs::remove_file(&path).map_err(|e| BusError::io(&path, e))?;
        }
    }
    Ok(logs)
}

fn check_header(segment: &Segment, len: u64) -> Result<(), String> {
    if len < SEGMENT_HEADER_LEN {
        return Err(format!(
            "the segment is {len} bytes, shorter than its header"
        ));
    }
    let bytes = segment
        .read_at(0, SEGMENT_HEADER_LEN as usize)
        .map_err(|e| e.to_string())?;
    if bytes[..] != header_bytes(segment.base) {
        return Err(format!(
            "the segment header is not an FPBUSLG1 header for base offset {} ({})",
            segment.base,
            log_file_name(segment.base)
        ));
    }
    Ok(())
}

fn rewrite_header(segment: &Segment) -> BusResult<()> {
    let path = &segment.log_path;
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| BusError::io(path, e))?;
    f.set_len(0)
        .and_then(|()| f.write_all_at(&header_bytes(segment.base), 0))
        .and_then(|()| f.sync_all())
        .map_err(|e| BusError::io(path, e))
}

fn truncate(segment: &Segment, pos: u64) -> BusResult<()> {
    let path = &segment.log_path;
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| BusError::io(path, e))?;
    f.set_len(pos)
        .and_then(|()| f.sync_all())
        .map_err(|e| BusError::io(path, e))
}

fn load_index(segment: &Segment, log_len: u64) -> BusResult<(SparseIndex, bool)> {
    let bytes = match fs::read(&segment.index_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((SparseIndex::default(), true));
        }
        Err(e) => return Err(BusError::io(&segment.index_path, e)),
    };
    Ok(SparseIndex::parse(&bytes, SEGMENT_HEADER_LEN, log_len))
}

fn write_index(segment: &Segment, index: &SparseIndex) -> BusResult<()> {
    let path = &segment.index_path;
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| BusError::io(path, e))?;
    f.write_all_at(&index.encode(), 0)
        .and_then(|()| f.sync_data())
        .map_err(|e| BusError::io(path, e))
}

/// The last index entry that points at a frame header carrying the offset it claims; entries
/// after a bad one are dropped. Falls back to the segment start.
fn trusted_start(
    segment: &Segment,
    index: &mut SparseIndex,
    dirty: &mut bool,
) -> BusResult<(u64, u64)> {
    while let Some(e) = index.last() {
        let pos = u64::from(e.position);
        let want = segment.base + u64::from(e.rel_offset);
        let head = segment.read_at(pos, HEADER_LEN + 8)?;
        let ok = record::peek_len(&head).is_ok() && head.len() == HEADER_LEN + 8 && {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[HEADER_LEN..]);
            u64::from_le_bytes(b) == want
        };
        if ok {
            return Ok((pos, want));
        }
        index.pop();
        *dirty = true;
    }
    Ok((SEGMENT_HEADER_LEN, segment.base))
}

/// Scan every frame from `pos` to the end of the file, fully checked, rebuilding index entries
/// past the start exactly as the writer places them.
#[allow(clippy::too_many_arguments)]
fn scan_tail(
    segment: &Segment,
    pos: u64,
    offset: u64,
    index_interval: u64,
    chunk: usize,
    index: &mut SparseIndex,
    dirty: &mut bool,
) -> BusResult<TailScan> {
    let mut buf = Vec::new();
    let mut scanner = segment.scanner(pos, chunk, &mut buf);
    let mut expected = offset;
    let mut since = 0u64;
    let mut last_ts = i64::MIN;
    loop {
        let stop = match scanner.next_frame()? {
            Step::End { .. } => Stop::Clean,
            Step::Frame { pos } => match record::decode(scanner.frame()) {
                Ok(f) if f.offset == expected => {
                    if since >= index_interval {
                        index.push(IndexEntry {
                            rel_offset: u32::try_from(expected - segment.base).unwrap_or(u32::MAX),
                            position: u32::try_from(pos).unwrap_or(u32::MAX),
                        });
                        *dirty = true;
                        since = 0;
                    }
                    since += f.frame_len as u64;
                    last_ts = last_ts.max(f.published_at_micros);
                    expected += 1;
                    continue;
                }
                Ok(f) => Stop::Bad {
                    pos,
                    error: format!("the record holds offset {}, expected {expected}", f.offset),
                    torn: false,
                },
                Err(e) => Stop::Bad {
                    pos,
                    error: e.to_string(),
                    torn: false,
                },
            },
            Step::Bad { pos, error } => {
                let torn = match error {
                    FrameError::Incomplete { .. } => true,
                    FrameError::HeaderChecksum | FrameError::Length(_) => zero_from(segment, pos)?,
                    FrameError::BodyChecksum => false,
                };
                Stop::Bad {
                    pos,
                    error: error.to_string(),
                    torn,
                }
            }
        };
        let end_pos = match &stop {
            Stop::Clean => scanner.position(),
            Stop::Bad { pos, .. } => *pos,
        };
        return Ok(TailScan {
            next_offset: expected,
            end_pos,
            since_index: since,
            last_ts,
            stop,
        });
    }
}

/// Whether every byte from `pos` to the end of the file is zero (a power loss that extended
/// the file but never wrote the data).
fn zero_from(segment: &Segment, mut pos: u64) -> BusResult<bool> {
    const STEP: usize = 1024 * 1024;
    loop {
        let bytes = segment.read_at(pos, STEP)?;
        if bytes.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        if bytes.len() < STEP {
            return Ok(true);
        }
        pos += STEP as u64;
    }
}
