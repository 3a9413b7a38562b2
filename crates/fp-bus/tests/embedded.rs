//! Behaviour specific to the embedded log: durability across reopen, the directory lock,
//! routing, concurrent readers, recovery of torn tails, index damage, retention.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use fp_bus::topics::{self, PartitionCounts};
use fp_bus::{
    BusError, EmbeddedBus, EmbeddedConfig, EventBus, OutRecord, ReadFrom, RetentionPolicy,
    TopicSpec, partition_for_key,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_every_record_and_continues_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(200, 10);
    let values = {
        let bus = open(dir.path(), config.clone());
        provision(&bus, "t", 2).await;
        fill(&bus, "t", 95, 200, 7).await
    };
    let bus = open(dir.path(), config);
    assert_eq!(bus.topics().await.unwrap(), vec![TopicSpec::new("t", 2)]);
    let p = partition_for_key(&key(0), 2);
    let (got, err) = read_all(&bus, "t", p, ReadFrom::Earliest).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        got.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        values
    );
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, r)| r.offset == i.to_string())
    );
    let r = bus
        .publish("t", OutRecord::new(key(0), "next"))
        .await
        .unwrap();
    assert_eq!((r.partition, r.offset.as_str()), (p, "95"));
    let info = bus.partitions("t").await.unwrap();
    assert_eq!(info[p as usize].end_offset, "96");
    assert_eq!(info[p as usize].start_offset, "0");
}

#[tokio::test]
async fn a_second_open_of_the_same_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedBus::open(dir.path(), EmbeddedConfig::default()).unwrap();
    let second = EmbeddedBus::open(dir.path(), EmbeddedConfig::default());
    assert!(matches!(second, Err(BusError::Locked { .. })), "{second:?}");
    drop(first);
    EmbeddedBus::open(dir.path(), EmbeddedConfig::default()).unwrap();
}

#[tokio::test]
async fn keys_route_by_partition_for_key_and_offsets_are_file_lines() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path(), EmbeddedConfig::default());
    provision(&bus, "t", 5).await;
    let records: Vec<OutRecord> = (0..50)
        .map(|i| OutRecord::new(key(i), value(i, 30)))
        .collect();
    let refs = bus.publish_batch("t", records).await.unwrap();
    let mut next = [0u64; 5];
    for (i, r) in refs.iter().enumerate() {
        let p = partition_for_key(&key(i as u64), 5);
        assert_eq!(r.partition, p);
        assert_eq!(r.offset, next[p as usize].to_string());
        assert_eq!(r.offset_kind, fp_rails::OffsetKind::FileLine);
        next[p as usize] += 1;
    }
}

#[tokio::test]
async fn oversized_records_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        max_record_bytes: 100,
        ..EmbeddedConfig::default()
    };
    let bus = open(dir.path(), config);
    provision(&bus, "t", 1).await;
    let e = bus
        .publish_batch(
            "t",
            vec![
                OutRecord::new(key(1), value(1, 10)),
                OutRecord::new(key(1), value(2, 101)),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            BusError::RecordTooLarge {
                size: 101,
                max: 100
            }
        ),
        "{e:?}"
    );
    assert_eq!(bus.partitions("t").await.unwrap()[0].end_offset, "0");
}

#[tokio::test]
async fn bad_names_counts_and_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path(), EmbeddedConfig::default());
    for spec in [
        TopicSpec::new("../x", 1),
        TopicSpec::new("a b", 1),
        TopicSpec::new("ok", 0),
    ] {
        assert!(
            bus.provision(std::slice::from_ref(&spec)).await.is_err(),
            "{spec:?}"
        );
    }
    let e = bus
        .read("t", 0, &ReadFrom::Checkpoint("-1".into()), 1)
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::UnknownTopic { .. }), "{e:?}");
    provision(&bus, "t", 1).await;
    let e = bus
        .read("t", 0, &ReadFrom::Checkpoint("x1".into()), 1)
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::InvalidOffset { .. }), "{e:?}");
    let e = bus
        .read("t", 0, &ReadFrom::Checkpoint("5".into()), 1)
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::OffsetOutOfRange { .. }), "{e:?}");
    let bad = EmbeddedConfig {
        index_interval_bytes: 0,
        ..EmbeddedConfig::default()
    };
    let other = tempfile::tempdir().unwrap();
    assert!(matches!(
        EmbeddedBus::open(other.path(), bad),
        Err(BusError::Config(_))
    ));
}

#[tokio::test]
async fn the_whole_taxonomy_provisions() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path(), EmbeddedConfig::default());
    let specs = topics::taxonomy(PartitionCounts::default());
    bus.provision(&specs).await.unwrap();
    bus.provision(&specs).await.unwrap();
    let mut want = specs.clone();
    want.sort();
    assert_eq!(bus.topics().await.unwrap(), want);
    let fraud = bus.partitions(topics::TRAFFIC_FRAUD).await.unwrap();
    assert_eq!(fraud.len(), 6);
    assert_eq!(bus.partitions(topics::CONTROL).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_damaged_topic_description_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bus = open(dir.path(), EmbeddedConfig::default());
        provision(&bus, "t", 1).await;
    }
    std::fs::write(dir.path().join("t").join("topic.json"), b"{\"format\":1").unwrap();
    let e = EmbeddedBus::open(dir.path(), EmbeddedConfig::default()).unwrap_err();
    assert!(matches!(e, BusError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("topic.json"), "{e}");
}

#[tokio::test]
async fn a_vanished_partition_is_not_restarted_at_offset_zero() {
    let dir = tempfile::tempdir().unwrap();
    {
        let bus = open(dir.path(), EmbeddedConfig::default());
        provision(&bus, "t", 2).await;
        for i in 0..20 {
            bus.publish("t", OutRecord::new(key(i), value(i, 40)))
                .await
                .unwrap();
        }
    }
    std::fs::remove_dir_all(dir.path().join("t/1")).unwrap();
    let bus = open(dir.path(), EmbeddedConfig::default());
    let e = bus.read("t", 1, &ReadFrom::Earliest, 10).await.unwrap_err();
    assert!(matches!(e, BusError::Corrupt { offset: 0, .. }), "{e:?}");
    assert!(e.to_string().contains("no segment files"), "{e}");
    let on_1 = (0..20)
        .find(|&i| partition_for_key(&key(i), 2) == 1)
        .unwrap();
    let e = bus
        .publish("t", OutRecord::new(key(on_1), "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Corrupt { .. }), "{e:?}");
    // The other partition is unaffected.
    let on_0 = (0..20)
        .find(|&i| partition_for_key(&key(i), 2) == 0)
        .unwrap();
    bus.publish("t", OutRecord::new(key(on_0), "y"))
        .await
        .unwrap();
    let (got, err) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
    assert!(err.is_none() && !got.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_tail_the_partition_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open(dir.path(), config_for(300, 16));
    provision(&bus, "t", 1).await;
    const N: u64 = 1500;
    let mut readers = Vec::new();
    for _ in 0..3 {
        let bus = Arc::clone(&bus);
        readers.push(tokio::spawn(async move {
            let mut from = ReadFrom::Earliest;
            let mut seen = 0u64;
            while seen < N {
                let b = bus.read("t", 0, &from, 50).await.unwrap();
                for r in &b.records {
                    assert_eq!(r.offset, seen.to_string());
                    assert_eq!(r.value, value(seen, 300));
                    seen += 1;
                }
                if b.records.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                from = b.next;
            }
            seen
        }));
    }
    let writer = {
        let bus = Arc::clone(&bus);
        tokio::spawn(async move {
            for chunk in (0..N).collect::<Vec<_>>().chunks(25) {
                let records = chunk
                    .iter()
                    .map(|&i| OutRecord::new(key(0), value(i, 300)))
                    .collect();
                bus.publish_batch("t", records).await.unwrap();
            }
        })
    };
    writer.await.unwrap();
    for r in readers {
        assert_eq!(r.await.unwrap(), N);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linger_coalesces_concurrent_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        linger: Duration::from_millis(2),
        ..EmbeddedConfig::default()
    };
    let bus = open(dir.path(), config);
    provision(&bus, "t", 1).await;
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let bus = Arc::clone(&bus);
            tokio::spawn(async move {
                bus.publish("t", OutRecord::new(key(1), value(i, 50)))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut offsets = Vec::new();
    let mut stamps = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        offsets.push(r.offset.parse::<u64>().unwrap());
        stamps.insert(r.published_at_utc.unwrap());
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (0..64).collect::<Vec<_>>());
    // One append time per write batch: far fewer batches than publishes.
    assert!(stamps.len() < 64, "no coalescing: {} batches", stamps.len());
}

#[tokio::test]
async fn a_torn_tail_is_cut_on_open_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(100, 50);
    {
        let bus = open(dir.path(), config.clone());
        provision(&bus, "t", 1).await;
        fill(&bus, "t", 20, 100, 20).await;
    }
    let log = segment_files(dir.path(), "t", 0).pop().unwrap();
    let len = std::fs::metadata(&log).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let bus = open(dir.path(), config);
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        position_in_segment(19, 100)
    );
    let (got, err) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 19);
    let r = bus
        .publish("t", OutRecord::new(key(0), value(99, 100)))
        .await
        .unwrap();
    assert_eq!(r.offset, "19");
    let (got, _) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
    assert_eq!(got.last().unwrap().value, value(99, 100));
}

#[tokio::test]
async fn a_write_cut_at_any_byte_is_recovered_to_the_last_whole_record() {
    // Two acknowledged records, then a batch of three whose write a crash cut short: every
    // possible cut point, reopened each time.
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(20, 100);
    {
        let bus = open(dir.path(), config.clone());
        provision(&bus, "t", 1).await;
        fill(&bus, "t", 5, 20, 2).await;
    }
    let log = segment_files(dir.path(), "t", 0).pop().unwrap();
    let index = log.with_extension("index");
    let full = std::fs::read(&log).unwrap();
    let full_index = std::fs::read(&index).unwrap();
    let frame = (fp_bus::embedded::FRAME_OVERHEAD + 20) as u64;
    let acknowledged_end = position_in_segment(2, 20);
    for cut in acknowledged_end..=full.len() as u64 {
        std::fs::write(&log, &full[..cut as usize]).unwrap();
        std::fs::write(&index, &full_index).unwrap();
        let whole = (cut - acknowledged_end) / frame;
        let bus = open(dir.path(), config.clone());
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            acknowledged_end + whole * frame,
            "cut at byte {cut}"
        );
        let (got, err) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
        assert!(err.is_none(), "cut at byte {cut}: {err:?}");
        assert_eq!(got.len() as u64, 2 + whole, "cut at byte {cut}");
        let r = bus
            .publish("t", OutRecord::new(key(0), value(9, 20)))
            .await
            .unwrap();
        assert_eq!(r.offset, (2 + whole).to_string(), "cut at byte {cut}");
    }
}

#[tokio::test]
async fn a_zero_filled_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(100, 50);
    {
        let bus = open(dir.path(), config.clone());
        provision(&bus, "t", 1).await;
        fill(&bus, "t", 10, 100, 10).await;
    }
    let log = segment_files(dir.path(), "t", 0).pop().unwrap();
    OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&[0u8; 5000])
        .unwrap();
    let bus = open(dir.path(), config);
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        position_in_segment(10, 100)
    );
    let (got, err) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 10);
}

#[tokio::test]
async fn a_segment_killed_while_rolling_is_completed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(100, 5);
    {
        let bus = open(dir.path(), config.clone());
        provision(&bus, "t", 1).await;
        fill(&bus, "t", 5, 100, 5).await;
    }
    // The writer died after creating the next segment but before its header was complete.
    let next = dir.path().join("t/0/00000000000000000005.log");
    std::fs::write(&next, b"FPBU").unwrap();
    let bus = open(dir.path(), config);
    let r = bus
        .publish("t", OutRecord::new(key(0), value(5, 100)))
        .await
        .unwrap();
    assert_eq!(r.offset, "5");
    let (got, err) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 6);
}

#[tokio::test]
async fn damaged_index_files_cost_time_not_correctness() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(100, 40);
    let values = {
        let bus = open(dir.path(), config.clone());
        provision(&bus, "t", 1).await;
        fill(&bus, "t", 130, 100, 9).await
    };
    // Shift every entry but the last (which recovery checks) by one byte: still sorted and
    // inside the file, so only a read that follows such an entry can notice.
    for log in segment_files(dir.path(), "t", 0) {
        let index = log.with_extension("index");
        let mut bytes = std::fs::read(&index).unwrap();
        assert!(bytes.len() >= 16, "the test needs index entries");
        let keep_last = bytes.len() - 8;
        for entry in bytes[..keep_last].chunks_exact_mut(8) {
            let pos = u32::from_le_bytes(entry[4..8].try_into().unwrap()) + 1;
            entry[4..8].copy_from_slice(&pos.to_le_bytes());
        }
        std::fs::write(&index, bytes).unwrap();
    }
    let bus = open(dir.path(), config);
    for from in [0u64, 1, 7, 39, 40, 41, 77, 100, 129] {
        let (got, err) = read_all(&bus, "t", 0, ReadFrom::Checkpoint(from.to_string())).await;
        assert!(err.is_none(), "from {from}: {err:?}");
        let got: Vec<_> = got.into_iter().map(|r| r.value).collect();
        assert_eq!(got, values[from as usize..].to_vec(), "from {from}");
    }
    // Garbage index files too.
    drop(bus);
    for log in segment_files(dir.path(), "t", 0) {
        std::fs::write(log.with_extension("index"), [0xffu8; 37]).unwrap();
    }
    let bus = open(dir.path(), config_for(100, 40));
    let (got, err) = read_all(&bus, "t", 0, ReadFrom::Checkpoint("55".into())).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 75);
}

#[tokio::test]
async fn retention_by_size_deletes_the_oldest_closed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(100, 10);
    let segment_bytes = config.segment_max_bytes;
    config.retention = RetentionPolicy {
        max_bytes: Some(3 * segment_bytes),
        max_age: None,
    };
    let bus = open(dir.path(), config);
    provision(&bus, "t", 1).await;
    let values = fill(&bus, "t", 95, 100, 5).await;
    // 10 segments: 9 full and closed, the active one holding 5 records. Retention runs at
    // every roll and keeps at least 3 segments' worth of bytes.
    let files = segment_files(dir.path(), "t", 0);
    assert_eq!(files.len(), 4, "{files:?}");
    let info = &bus.partitions("t").await.unwrap()[0];
    assert_eq!(
        (info.start_offset.as_str(), info.end_offset.as_str()),
        ("60", "95")
    );
    let (got, err) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.first().unwrap().offset, "60");
    assert_eq!(
        got.into_iter().map(|r| r.value).collect::<Vec<_>>(),
        values[60..].to_vec()
    );
    let e = bus
        .read("t", 0, &ReadFrom::Checkpoint("59".into()), 10)
        .await
        .unwrap_err();
    match e {
        BusError::OffsetOutOfRange { start, end, .. } => {
            assert_eq!((start.as_str(), end.as_str()), ("60", "95"))
        }
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
}

#[tokio::test]
async fn retention_by_age_keeps_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(100, 10);
    config.retention = RetentionPolicy {
        max_bytes: None,
        max_age: Some(Duration::from_secs(3600)),
    };
    let bus = EmbeddedBus::open(dir.path(), config.clone()).unwrap();
    let dynbus: Arc<dyn EventBus> = Arc::new(bus);
    provision(&dynbus, "t", 1).await;
    fill(&dynbus, "t", 35, 100, 5).await;
    assert_eq!(segment_files(dir.path(), "t", 0).len(), 4);
    drop(dynbus);

    let bus = EmbeddedBus::open(dir.path(), config.clone()).unwrap();
    // Nothing is an hour old yet.
    assert!(bus.enforce_retention().unwrap().deleted_segments.is_empty());
    let later = SystemTime::now() + Duration::from_secs(2 * 3600);
    let report = bus.enforce_retention_at(later).unwrap();
    assert_eq!(report.deleted_segments.len(), 3, "{report:?}");
    assert_eq!(segment_files(dir.path(), "t", 0).len(), 1);
    let bus: Arc<dyn EventBus> = Arc::new(bus);
    let (got, err) = read_all(&bus, "t", 0, ReadFrom::Earliest).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        got.iter().map(|r| r.offset.clone()).collect::<Vec<_>>(),
        ["30", "31", "32", "33", "34"]
    );
    // Appends continue in the active segment; reopening sees the new start.
    bus.publish("t", OutRecord::new(key(0), value(35, 100)))
        .await
        .unwrap();
    drop(bus);
    let bus = open(dir.path(), config);
    assert_eq!(bus.partitions("t").await.unwrap()[0].start_offset, "30");
    assert_eq!(bus.partitions("t").await.unwrap()[0].end_offset, "36");
}
