//! Helpers shared by the embedded-log tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use fp_bus::{BusRecord, EmbeddedBus, EmbeddedConfig, EventBus, OutRecord, ReadFrom, TopicSpec};
use fp_rails::Hex64;

/// A partition key as the publish edge derives it.
pub fn key(i: u64) -> Hex64 {
    fp_rails::ids::partition_key(&serde_json::json!(i))
}

/// A value of exactly `len` bytes that names `i`.
pub fn value(i: u64, len: usize) -> Bytes {
    let mut v = format!("{{\"i\":{i},\"pad\":\"").into_bytes();
    while v.len() + 2 < len {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v.extend_from_slice(b"\"}");
    v.truncate(len);
    Bytes::from(v)
}

pub fn open(root: &Path, config: EmbeddedConfig) -> Arc<dyn EventBus> {
    Arc::new(EmbeddedBus::open(root, config).unwrap())
}

pub async fn provision(bus: &Arc<dyn EventBus>, topic: &str, partitions: u32) {
    bus.provision(&[TopicSpec::new(topic, partitions)])
        .await
        .unwrap();
}

/// Read a partition from `from` until a read returns nothing (or fails).
pub async fn read_all(
    bus: &Arc<dyn EventBus>,
    topic: &str,
    partition: u32,
    from: ReadFrom,
) -> (Vec<BusRecord>, Option<fp_bus::BusError>) {
    let mut out = Vec::new();
    let mut from = from;
    loop {
        match bus.read(topic, partition, &from, 97).await {
            Ok(b) if b.records.is_empty() => return (out, None),
            Ok(b) => {
                out.extend(b.records);
                from = b.next;
            }
            Err(e) => return (out, Some(e)),
        }
    }
}

/// Publish `n` records of `len` bytes to one key, in batches of `batch`; returns the values.
pub async fn fill(
    bus: &Arc<dyn EventBus>,
    topic: &str,
    n: u64,
    len: usize,
    batch: usize,
) -> Vec<Bytes> {
    let values: Vec<Bytes> = (0..n).map(|i| value(i, len)).collect();
    for chunk in values.chunks(batch) {
        let records = chunk
            .iter()
            .map(|v| OutRecord::new(key(0), v.clone()))
            .collect();
        bus.publish_batch(topic, records).await.unwrap();
    }
    values
}

/// The `.log` files of a partition, oldest first.
pub fn segment_files(root: &Path, topic: &str, partition: u32) -> Vec<PathBuf> {
    let dir = root.join(topic).join(partition.to_string());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// Small segments with exactly `per_segment` records of `len` bytes each.
pub fn config_for(len: usize, per_segment: u64) -> EmbeddedConfig {
    let frame = (fp_bus::embedded::FRAME_OVERHEAD + len) as u64;
    EmbeddedConfig {
        segment_max_bytes: fp_bus::embedded::SEGMENT_HEADER_LEN + per_segment * frame,
        index_interval_bytes: 3 * frame,
        read_chunk_bytes: 4096,
        ..EmbeddedConfig::default()
    }
}

/// Byte position of record `i` (0-based within its segment) for records of `len` bytes.
pub fn position_in_segment(i: u64, len: usize) -> u64 {
    fp_bus::embedded::SEGMENT_HEADER_LEN + i * (fp_bus::embedded::FRAME_OVERHEAD + len) as u64
}
