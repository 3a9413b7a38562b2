//! Corruption: flip bytes inside segments and check the log stops at the damage with an error
//! naming the segment file and the offset, serves every record before it intact, and never
//! silently skips past it.
//!
//! Layout used throughout: records of 100 bytes, 10 per segment, an index entry every 3
//! records; 45 records, so segments start at 0, 10, 20, 30 (closed) and 40 (active).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use fp_bus::embedded::FRAME_OVERHEAD;
use fp_bus::{BusError, EventBus, OutRecord, ReadFrom};

const LEN: usize = 100;
const PER_SEGMENT: u64 = 10;
const RECORDS: u64 = 45;

async fn setup() -> (tempfile::TempDir, Vec<bytes::Bytes>) {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path(), config_for(LEN, PER_SEGMENT));
    provision(&bus, "t", 1).await;
    let values = fill(&bus, "t", RECORDS, LEN, 4).await;
    assert_eq!(segment_files(dir.path(), "t", 0).len(), 5);
    (dir, values)
}

fn segment_of(root: &Path, offset: u64) -> PathBuf {
    let base = offset / PER_SEGMENT * PER_SEGMENT;
    root.join("t/0").join(format!("{base:020}.log"))
}

/// XOR one byte of record `offset` at `at` bytes into its frame.
fn flip(root: &Path, offset: u64, at: usize) -> PathBuf {
    let path = segment_of(root, offset);
    let pos = position_in_segment(offset % PER_SEGMENT, LEN) + at as u64;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, pos).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, pos).unwrap();
    path
}

/// Read from `from` to the damage: the records before it must be intact, then the error must
/// name `segment` and `offset`. Returns the error message.
async fn assert_stops_at(
    bus: &Arc<dyn EventBus>,
    values: &[bytes::Bytes],
    from: u64,
    segment: &Path,
    offset: u64,
) -> String {
    let (got, err) = read_all(bus, "t", 0, ReadFrom::Checkpoint(from.to_string())).await;
    let got: Vec<_> = got.into_iter().map(|r| r.value).collect();
    assert_eq!(
        got,
        values[from as usize..offset as usize].to_vec(),
        "records before the damage"
    );
    match &err {
        Some(BusError::Corrupt {
            segment: s,
            offset: o,
            reason,
            ..
        }) => {
            assert_eq!((s.as_path(), *o), (segment, offset), "{reason}");
        }
        other => panic!("expected Corrupt at {offset}, got {other:?}"),
    }
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    let name = segment.file_name().unwrap().to_string_lossy().to_string();
    assert!(message.contains(&name), "{message}");
    assert!(message.contains(&format!("offset {offset}")), "{message}");
    // Asking again, from the damage itself, fails the same way: nothing is skipped.
    let again = bus
        .read("t", 0, &ReadFrom::Checkpoint(offset.to_string()), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(again, BusError::Corrupt { offset: o, .. } if o == offset),
        "{again:?}"
    );
    message
}

#[tokio::test]
async fn a_flipped_value_byte_mid_segment_stops_the_reader() {
    let (dir, values) = setup().await;
    let segment = flip(dir.path(), 12, FRAME_OVERHEAD + 40);
    let bus = open(dir.path(), config_for(LEN, PER_SEGMENT));
    let msg = assert_stops_at(&bus, &values, 0, &segment, 12).await;
    assert!(msg.contains("CRC32C"), "{msg}");
    assert_stops_at(&bus, &values, 11, &segment, 12).await;
    // Damage below the recovery scan is found by readers; appends are unaffected.
    let r = bus
        .publish("t", OutRecord::new(key(0), value(45, LEN)))
        .await
        .unwrap();
    assert_eq!(r.offset, "45");
}

#[tokio::test]
async fn a_flipped_length_field_is_not_taken_for_a_torn_record() {
    let (dir, values) = setup().await;
    let segment = flip(dir.path(), 25, 1);
    let bus = open(dir.path(), config_for(LEN, PER_SEGMENT));
    let msg = assert_stops_at(&bus, &values, 20, &segment, 25).await;
    assert!(msg.contains("header checksum"), "{msg}");
}

#[tokio::test]
async fn a_flipped_offset_field_is_caught() {
    let (dir, values) = setup().await;
    // The stored offset is inside the checksummed body; either check catches it.
    let segment = flip(dir.path(), 33, 12);
    let bus = open(dir.path(), config_for(LEN, PER_SEGMENT));
    assert_stops_at(&bus, &values, 30, &segment, 33).await;
}

#[tokio::test]
async fn damage_in_a_closed_segment_tail_is_found_on_open_and_stops_appends() {
    let (dir, values) = setup().await;
    // Record 29 is the last of segment 20, after its last index entry: recovery scans it.
    let segment = flip(dir.path(), 29, FRAME_OVERHEAD + 3);
    let bus = open(dir.path(), config_for(LEN, PER_SEGMENT));
    assert_stops_at(&bus, &values, 0, &segment, 29).await;
    let e = bus
        .publish("t", OutRecord::new(key(0), value(45, LEN)))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Corrupt { offset: 29, .. }), "{e:?}");
    let e = bus.partitions("t").await.unwrap_err();
    assert!(matches!(e, BusError::Corrupt { offset: 29, .. }), "{e:?}");
    // Offsets past the damage are not served either.
    let e = bus
        .read("t", 0, &ReadFrom::Checkpoint("35".into()), 10)
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::OffsetOutOfRange { .. }), "{e:?}");
}

#[tokio::test]
async fn damage_to_the_last_acknowledged_record_is_refused_not_truncated() {
    let (dir, values) = setup().await;
    let segment = flip(dir.path(), 44, FRAME_OVERHEAD + 50);
    let len = std::fs::metadata(&segment).unwrap().len();
    let bus = open(dir.path(), config_for(LEN, PER_SEGMENT));
    // A complete record with a bad checksum is damage, not a torn write: cutting it would
    // silently drop an acknowledged record.
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), len);
    assert_stops_at(&bus, &values, 40, &segment, 44).await;
    let e = bus
        .publish("t", OutRecord::new(key(0), value(45, LEN)))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Corrupt { offset: 44, .. }), "{e:?}");
}

#[tokio::test]
async fn a_missing_segment_is_reported_at_the_gap() {
    let (dir, values) = setup().await;
    std::fs::remove_file(segment_of(dir.path(), 20)).unwrap();
    let bus = open(dir.path(), config_for(LEN, PER_SEGMENT));
    let msg = assert_stops_at(&bus, &values, 0, &segment_of(dir.path(), 10), 20).await;
    assert!(msg.contains("next segment starts at offset 30"), "{msg}");
}

#[tokio::test]
async fn damage_appearing_while_open_is_never_served() {
    let (dir, values) = setup().await;
    let bus = open(dir.path(), config_for(LEN, PER_SEGMENT));
    let (all, err) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
    assert!(err.is_none() && all.len() == RECORDS as usize);
    // Bit rot under a running bus (the page cache is shared, so readers see it).
    let segment = flip(dir.path(), 41, FRAME_OVERHEAD + 99);
    assert_stops_at(&bus, &values, 40, &segment, 41).await;
    assert_stops_at(&bus, &values, 0, &segment, 41).await;
}
