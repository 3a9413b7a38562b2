//! The sparse offset index of one segment: `(relative offset, byte position)` pairs, one every
//! `index_interval_bytes` of log data, so a read seeks near its offset instead of scanning the
//! segment from the start.
//!
//! The index is a hint, never a source of truth: it is not fsynced per batch, it is validated
//! structurally on open (a torn or zeroed tail is dropped), and a reader that finds no frame
//! with the expected offset at an entry's position falls back to scanning from the segment
//! start. Damaged index bytes can cost time, never correctness.
//!
//! File format: consecutive 8-byte entries, `rel_offset u32 LE, position u32 LE`.

/// Size of one entry on disk.
pub(crate) const ENTRY_LEN: usize = 8;

/// One index entry: the record at `base + rel_offset` starts at byte `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// Offset relative to the segment's base offset.
    pub rel_offset: u32,
    /// Byte position of the record's frame in the segment file.
    pub position: u32,
}

impl IndexEntry {
    /// On-disk bytes.
    pub fn encode(self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[..4].copy_from_slice(&self.rel_offset.to_le_bytes());
        b[4..].copy_from_slice(&self.position.to_le_bytes());
        b
    }
}

/// The entries of one segment, sorted by offset and by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SparseIndex {
    entries: Vec<IndexEntry>,
}

impl SparseIndex {
    /// Parse index file bytes, keeping the longest prefix that is structurally sound: entries
    /// strictly increasing in offset and position, positions inside `[min_position, log_len)`.
    /// Returns the index and whether anything was dropped.
    pub fn parse(bytes: &[u8], min_position: u64, log_len: u64) -> (Self, bool) {
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_LEN);
        let mut dropped = !bytes.len().is_multiple_of(ENTRY_LEN);
        for chunk in bytes.chunks_exact(ENTRY_LEN) {
            let mut rel = [0u8; 4];
            let mut pos = [0u8; 4];
            rel.copy_from_slice(&chunk[..4]);
            pos.copy_from_slice(&chunk[4..]);
            let e = IndexEntry {
                rel_offset: u32::from_le_bytes(rel),
                position: u32::from_le_bytes(pos),
            };
            let in_file = u64::from(e.position) >= min_position && u64::from(e.position) < log_len;
            let ordered = entries.last().is_none_or(|last: &IndexEntry| {
                e.rel_offset > last.rel_offset && e.position > last.position
            });
            if !(in_file && ordered) {
                dropped = true;
                break;
            }
            entries.push(e);
        }
        (Self { entries }, dropped)
    }

    /// The entry to start a scan for `rel_offset` from: the last one at or before it.
    pub fn lookup(&self, rel_offset: u32) -> Option<IndexEntry> {
        let n = self.entries.partition_point(|e| e.rel_offset <= rel_offset);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Append an entry (the writer only appends in increasing order).
    pub fn push(&mut self, e: IndexEntry) {
        debug_assert!(
            self.entries
                .last()
                .is_none_or(|l| e.rel_offset > l.rel_offset && e.position > l.position)
        );
        self.entries.push(e);
    }

    /// Drop the last entry (recovery, when it does not point at the record it claims).
    pub fn pop(&mut self) -> Option<IndexEntry> {
        self.entries.pop()
    }

    /// The last entry.
    pub fn last(&self) -> Option<IndexEntry> {
        self.entries.last().copied()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The whole index as file bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for e in &self.entries {
            out.extend_from_slice(&e.encode());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(rel_offset: u32, position: u32) -> IndexEntry {
        IndexEntry {
            rel_offset,
            position,
        }
    }

    fn index(entries: &[IndexEntry]) -> SparseIndex {
        let mut i = SparseIndex::default();
        for x in entries {
            i.push(*x);
        }
        i
    }

    #[test]
    fn lookup_finds_the_last_entry_at_or_before() {
        let i = index(&[e(10, 100), e(20, 200), e(30, 300)]);
        assert_eq!(i.lookup(5), None);
        assert_eq!(i.lookup(10), Some(e(10, 100)));
        assert_eq!(i.lookup(29), Some(e(20, 200)));
        assert_eq!(i.lookup(1000), Some(e(30, 300)));
    }

    #[test]
    fn parse_round_trips() {
        let i = index(&[e(1, 16), e(5, 4096)]);
        assert_eq!(SparseIndex::parse(&i.encode(), 16, 10_000), (i, false));
    }

    #[test]
    fn parse_drops_torn_zeroed_or_out_of_file_tails() {
        let good = index(&[e(1, 16), e(5, 4096)]);
        let mut torn = good.encode();
        torn.extend_from_slice(&[1, 2, 3]);
        assert_eq!(SparseIndex::parse(&torn, 16, 10_000), (good.clone(), true));

        let mut zeroed = good.encode();
        zeroed.extend_from_slice(&[0u8; 16]);
        assert_eq!(
            SparseIndex::parse(&zeroed, 16, 10_000),
            (good.clone(), true)
        );

        let mut beyond = good.encode();
        beyond.extend_from_slice(&e(9, 20_000).encode());
        assert_eq!(SparseIndex::parse(&beyond, 16, 10_000), (good, true));
    }
}
