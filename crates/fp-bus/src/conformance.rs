//! The event-bus conformance suite: written once over `Arc<dyn EventBus>`, run by every
//! backend's tests (the embedded log here; Kinesis in its own issue).
//!
//! Each case provisions its own topics named `<prefix>.<case>`, so cases can share one bus and
//! a shared service (Kinesis) can be reused across runs with a fresh prefix. Cases panic with
//! a message saying what the backend got wrong; they assume nothing a backend may choose
//! itself (which partition a key lands in, how offsets look), only the contract: durable
//! `eb_ref`s, per-partition order, exclusive-next checkpoints, exact bytes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use fp_rails::{EbRef, Hex64};

use crate::error::BusError;
use crate::topics::TopicSpec;
use crate::{BusRecord, EventBus, OutRecord, ReadFrom, checkpoint_after};

/// Partition count of the suite's topics.
pub const PARTITIONS: u32 = 3;

/// A partition key as the publish edge derives it.
pub fn key(i: u64) -> Hex64 {
    fp_rails::ids::partition_key(&serde_json::json!(format!("flow-{i}")))
}

/// An envelope-shaped value, distinct per `(tag, i)`, with non-ASCII and escaped bytes so a
/// backend that re-encodes is caught.
pub fn value(tag: &str, i: u64) -> Bytes {
    let pad = "x".repeat((i as usize * 37) % 300);
    Bytes::from(format!(
        "{{\"event_id\":\"{tag}-{i}\",\"event_type\":\"conformance\",\"payload\":{{\"i\":{i},\"note\":\"caf\u{e9} \\\"q\\\" {pad}\"}}}}"
    ))
}

fn topic_name(prefix: &str, case: &str) -> String {
    format!("{prefix}.{case}")
}

async fn provision(bus: &Arc<dyn EventBus>, topic: &str, partitions: u32) {
    bus.provision(&[TopicSpec::new(topic, partitions)])
        .await
        .unwrap_or_else(|e| panic!("provision `{topic}`: {e}"));
}

async fn publish(bus: &Arc<dyn EventBus>, topic: &str, r: OutRecord) -> EbRef {
    bus.publish(topic, r)
        .await
        .unwrap_or_else(|e| panic!("publish to `{topic}`: {e}"))
}

async fn publish_batch(bus: &Arc<dyn EventBus>, topic: &str, rs: Vec<OutRecord>) -> Vec<EbRef> {
    let n = rs.len();
    let refs = bus
        .publish_batch(topic, rs)
        .await
        .unwrap_or_else(|e| panic!("publish_batch to `{topic}`: {e}"));
    assert_eq!(
        refs.len(),
        n,
        "publish_batch must return one eb_ref per record"
    );
    refs
}

/// Read exactly `n` records from `from` (looping over short reads), then check nothing more
/// is there. Returns the records and the final checkpoint.
pub async fn read_exactly(
    bus: &Arc<dyn EventBus>,
    topic: &str,
    partition: u32,
    from: ReadFrom,
    n: usize,
) -> (Vec<BusRecord>, ReadFrom) {
    let mut out = Vec::with_capacity(n);
    let mut from = from;
    let mut idle = 0;
    while out.len() < n {
        let batch = bus
            .read(topic, partition, &from, 100)
            .await
            .unwrap_or_else(|e| panic!("read {topic}/{partition} from {from:?}: {e}"));
        assert!(
            batch.records.len() <= 100,
            "read returned more than max_records"
        );
        if batch.records.is_empty() {
            idle += 1;
            assert!(
                idle < 50,
                "{topic}/{partition}: expected {n} records, the bus stopped after {}",
                out.len()
            );
        } else {
            idle = 0;
        }
        out.extend(batch.records);
        from = batch.next;
    }
    assert_eq!(
        out.len(),
        n,
        "{topic}/{partition}: read more records than were published"
    );
    let tail = bus
        .read(topic, partition, &from, 100)
        .await
        .unwrap_or_else(|e| panic!("read {topic}/{partition} at its end: {e}"));
    assert!(
        tail.records.is_empty(),
        "{topic}/{partition}: records beyond the published ones: {:?}",
        tail.records.iter().map(|r| &r.offset).collect::<Vec<_>>()
    );
    (out, from)
}

fn check_ref(bus: &Arc<dyn EventBus>, r: &EbRef, topic: &str, partitions: u32) {
    assert_eq!(r.topic, topic, "eb_ref names another topic");
    assert!(
        r.partition < partitions,
        "eb_ref partition {} out of range",
        r.partition
    );
    assert_eq!(r.offset_kind, bus.offset_kind(), "eb_ref offset kind");
    assert!(!r.offset.is_empty(), "eb_ref offset is empty");
    assert!(
        r.published_at_utc.is_some(),
        "eb_ref lacks published_at_utc"
    );
}

/// One publish: a complete `eb_ref`, and the record reads back byte for byte at it.
pub async fn publish_returns_durable_eb_ref(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "publish_one");
    provision(&bus, &topic, PARTITIONS).await;
    let v = value("one", 1);
    let r = publish(&bus, &topic, OutRecord::new(key(1), v.clone())).await;
    check_ref(&bus, &r, &topic, PARTITIONS);
    let (got, _) = read_exactly(&bus, &topic, r.partition, ReadFrom::Earliest, 1).await;
    assert_eq!(
        got[0].offset, r.offset,
        "read offset differs from the eb_ref"
    );
    assert_eq!(
        got[0].value, v,
        "read bytes differ from the published bytes"
    );
    assert_eq!(got[0].partition_key, key(1), "read key differs");
}

/// Records of one key land in one partition, in publish order; each partition reads back
/// exactly its records, in order, with strictly increasing offsets.
pub async fn ordering_per_partition(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "ordering");
    provision(&bus, &topic, PARTITIONS).await;
    let mut expected: BTreeMap<u32, Vec<(String, Bytes)>> = BTreeMap::new();
    let mut key_partition: BTreeMap<u64, u32> = BTreeMap::new();
    let mut i = 0u64;
    for round in 0..20u64 {
        let mut batch = Vec::new();
        let mut keys = Vec::new();
        for _ in 0..(round % 4) * 5 {
            keys.push(i % 12);
            batch.push(OutRecord::new(key(i % 12), value("ord", i)));
            i += 1;
        }
        let refs = if round % 2 == 0 {
            publish_batch(&bus, &topic, batch.clone()).await
        } else {
            let mut refs = Vec::new();
            for r in batch.clone() {
                refs.push(publish(&bus, &topic, r).await);
            }
            refs
        };
        for ((r, rec), k) in refs.iter().zip(batch).zip(keys) {
            check_ref(&bus, r, &topic, PARTITIONS);
            let p = *key_partition.entry(k).or_insert(r.partition);
            assert_eq!(
                p, r.partition,
                "key {k} moved from partition {p} to {}",
                r.partition
            );
            expected
                .entry(r.partition)
                .or_default()
                .push((r.offset.clone(), rec.value));
        }
    }
    for (p, want) in &expected {
        let (got, _) = read_exactly(&bus, &topic, *p, ReadFrom::Earliest, want.len()).await;
        let got: Vec<(String, Bytes)> = got.into_iter().map(|r| (r.offset, r.value)).collect();
        assert_eq!(
            &got, want,
            "partition {p} does not read back in publish order"
        );
    }
}

/// Reading from the checkpoint after any record returns exactly the records after it.
pub async fn replay_from_any_offset(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "replay");
    provision(&bus, &topic, 1).await;
    let records: Vec<OutRecord> = (0..40)
        .map(|i| OutRecord::new(key(i), value("rep", i)))
        .collect();
    let mut refs = publish_batch(&bus, &topic, records[..15].to_vec()).await;
    for r in &records[15..] {
        refs.push(publish(&bus, &topic, r.clone()).await);
    }
    let (all, _) = read_exactly(&bus, &topic, 0, ReadFrom::Earliest, records.len()).await;
    for (i, (got, want)) in all.iter().zip(&records).enumerate() {
        assert_eq!(got.value, want.value, "record {i} bytes differ");
        assert_eq!(
            got.offset, refs[i].offset,
            "record {i} offset differs from its eb_ref"
        );
    }
    for i in 1..all.len() {
        let cp = checkpoint_after(bus.offset_kind(), &all[i - 1].offset)
            .unwrap_or_else(|e| panic!("checkpoint after {}: {e}", all[i - 1].offset));
        let (tail, _) =
            read_exactly(&bus, &topic, 0, ReadFrom::Checkpoint(cp), all.len() - i).await;
        assert_eq!(
            tail,
            all[i..].to_vec(),
            "replay after record {} differs",
            i - 1
        );
    }
}

/// End offsets are exclusive-next: reading from them returns nothing, and they move exactly
/// past the last acknowledged record.
pub async fn end_offsets(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "end_offsets");
    provision(&bus, &topic, PARTITIONS).await;
    let before = bus.partitions(&topic).await.expect("partitions");
    let numbers: Vec<u32> = before.iter().map(|p| p.partition).collect();
    assert_eq!(
        numbers,
        (0..PARTITIONS).collect::<Vec<_>>(),
        "partition list"
    );
    for p in &before {
        let empty = bus
            .read(
                &topic,
                p.partition,
                &ReadFrom::Checkpoint(p.end_offset.clone()),
                10,
            )
            .await
            .expect("read at the end of an empty partition");
        assert!(empty.records.is_empty());
    }
    let mut last: BTreeMap<u32, EbRef> = BTreeMap::new();
    for i in 0..30 {
        let r = publish(&bus, &topic, OutRecord::new(key(i % 5), value("end", i))).await;
        last.insert(r.partition, r);
    }
    let after = bus.partitions(&topic).await.expect("partitions");
    for p in &after {
        match last.get(&p.partition) {
            Some(r) => {
                let want = checkpoint_after(bus.offset_kind(), &r.offset).expect("checkpoint");
                assert_eq!(p.end_offset, want, "partition {} end offset", p.partition);
                let at_end = bus
                    .read(
                        &topic,
                        p.partition,
                        &ReadFrom::Checkpoint(p.end_offset.clone()),
                        10,
                    )
                    .await
                    .expect("read at the end");
                assert!(
                    at_end.records.is_empty(),
                    "reading from the end offset returned records"
                );
            }
            None => {
                let old = before.iter().find(|b| b.partition == p.partition);
                assert_eq!(Some(p), old, "an unused partition's range changed");
            }
        }
    }
    if bus.offset_kind() == fp_rails::OffsetKind::FileLine {
        let total: u64 = after
            .iter()
            .map(|p| p.end_offset.parse::<u64>().unwrap_or(0))
            .sum();
        assert_eq!(total, 30, "file_line end offsets count the records");
    }
}

/// A batch returns one `eb_ref` per record in input order; per partition the batch's records
/// are contiguous and in input order; an empty batch appends nothing.
pub async fn batch_publish(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "batch");
    provision(&bus, &topic, PARTITIONS).await;
    let empty = publish_batch(&bus, &topic, Vec::new()).await;
    assert!(empty.is_empty());
    let ends = bus.partitions(&topic).await.expect("partitions");
    let records: Vec<OutRecord> = (0..100)
        .map(|i| OutRecord::new(key(i % 7), value("bat", i)))
        .collect();
    let refs = publish_batch(&bus, &topic, records.clone()).await;
    let mut per_partition: BTreeMap<u32, Vec<(EbRef, Bytes)>> = BTreeMap::new();
    for (r, rec) in refs.iter().zip(&records) {
        check_ref(&bus, r, &topic, PARTITIONS);
        per_partition
            .entry(r.partition)
            .or_default()
            .push((r.clone(), rec.value.clone()));
    }
    for (p, want) in per_partition {
        let start = ends
            .iter()
            .find(|e| e.partition == p)
            .map(|e| e.end_offset.clone())
            .expect("partition listed");
        let (got, _) = read_exactly(&bus, &topic, p, ReadFrom::Checkpoint(start), want.len()).await;
        for (g, (r, v)) in got.iter().zip(&want) {
            assert_eq!(
                g.offset, r.offset,
                "partition {p}: batch records are not contiguous in input order"
            );
            assert_eq!(&g.value, v);
        }
    }
}

/// Reads of an empty partition, at the end, and with `max_records = 0` return nothing, and
/// their `next` checkpoint reads nothing either.
pub async fn empty_reads(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "empty");
    provision(&bus, &topic, PARTITIONS).await;
    for p in 0..PARTITIONS {
        let b = bus
            .read(&topic, p, &ReadFrom::Earliest, 10)
            .await
            .expect("read empty");
        assert!(b.records.is_empty(), "a new partition has records");
        let again = bus
            .read(&topic, p, &b.next, 10)
            .await
            .expect("read from next");
        assert!(again.records.is_empty());
    }
    let r = publish(&bus, &topic, OutRecord::new(key(3), value("emp", 3))).await;
    let none = bus
        .read(&topic, r.partition, &ReadFrom::Earliest, 0)
        .await
        .expect("read max 0");
    assert!(none.records.is_empty(), "max_records = 0 returned records");
    let (_, next) = read_exactly(&bus, &topic, r.partition, ReadFrom::Earliest, 1).await;
    let at_end = bus
        .read(&topic, r.partition, &next, 10)
        .await
        .expect("read at end");
    assert!(at_end.records.is_empty());
}

/// An unknown topic is [`BusError::UnknownTopic`] naming it, for every operation; an unknown
/// partition is [`BusError::UnknownPartition`].
pub async fn unknown_topic_is_a_clear_error(bus: Arc<dyn EventBus>, prefix: &str) {
    let missing = topic_name(prefix, "never_provisioned");
    let check = |what: &str, e: BusError| {
        assert!(
            matches!(&e, BusError::UnknownTopic { topic } if *topic == missing),
            "{what}: expected UnknownTopic, got {e:?}"
        );
        assert!(
            e.to_string().contains(&missing),
            "{what}: the message must name the topic: {e}"
        );
    };
    let rec = OutRecord::new(key(1), value("unk", 1));
    check(
        "publish",
        bus.publish(&missing, rec.clone())
            .await
            .expect_err("publish"),
    );
    check(
        "publish_batch",
        bus.publish_batch(&missing, vec![rec])
            .await
            .expect_err("publish_batch"),
    );
    check(
        "read",
        bus.read(&missing, 0, &ReadFrom::Earliest, 10)
            .await
            .expect_err("read"),
    );
    check(
        "partitions",
        bus.partitions(&missing).await.expect_err("partitions"),
    );

    let topic = topic_name(prefix, "known");
    provision(&bus, &topic, PARTITIONS).await;
    let e = bus
        .read(&topic, PARTITIONS, &ReadFrom::Earliest, 10)
        .await
        .expect_err("read of a partition past the count");
    assert!(matches!(e, BusError::UnknownPartition { .. }), "got {e:?}");
}

/// Provisioning is idempotent; a different partition count is a conflict.
pub async fn provision_is_idempotent(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "provision");
    provision(&bus, &topic, 2).await;
    provision(&bus, &topic, 2).await;
    let listed = bus.topics().await.expect("topics");
    assert!(
        listed.contains(&TopicSpec::new(&topic, 2)),
        "topics() lacks `{topic}`"
    );
    let e = bus
        .provision(&[TopicSpec::new(&topic, 5)])
        .await
        .expect_err("re-provisioning with another partition count");
    assert!(matches!(e, BusError::TopicConflict { .. }), "got {e:?}");
}

/// Concurrent publishers: every record gets a distinct position, each publisher's records of
/// one key stay in its order, and everything reads back.
pub async fn concurrent_publishers(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "concurrent");
    provision(&bus, &topic, PARTITIONS).await;
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let bus = Arc::clone(&bus);
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let mut refs = Vec::new();
            for i in 0..40u64 {
                let v = value(&format!("con{t}"), i);
                let r = if i % 3 == 0 {
                    publish_batch(&bus, &topic, vec![OutRecord::new(key(t), v.clone())])
                        .await
                        .remove(0)
                } else {
                    publish(&bus, &topic, OutRecord::new(key(t), v.clone())).await
                };
                refs.push((r, v));
            }
            refs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("publisher task"));
    }
    let positions: HashSet<(u32, String)> = all
        .iter()
        .map(|(r, _)| (r.partition, r.offset.clone()))
        .collect();
    assert_eq!(positions.len(), all.len(), "two records share a position");
    let mut by_partition: BTreeMap<u32, Vec<Bytes>> = BTreeMap::new();
    for (r, v) in &all {
        by_partition.entry(r.partition).or_default().push(v.clone());
    }
    for (p, values) in by_partition {
        let (got, _) = read_exactly(&bus, &topic, p, ReadFrom::Earliest, values.len()).await;
        let got_set: HashSet<Bytes> = got.iter().map(|r| r.value.clone()).collect();
        let want_set: HashSet<Bytes> = values.into_iter().collect();
        assert_eq!(got_set, want_set, "partition {p} lost or invented records");
        // Each publisher's records (one key each) appear in publish order.
        for t in 0..8u64 {
            let tag = format!("\"con{t}-");
            let seq: Vec<&Bytes> = got
                .iter()
                .map(|r| &r.value)
                .filter(|v| std::str::from_utf8(v).is_ok_and(|s| s.contains(&tag)))
                .collect();
            let want: Vec<Bytes> = (0..40).map(|i| value(&format!("con{t}"), i)).collect();
            if !seq.is_empty() {
                assert_eq!(
                    seq,
                    want.iter().collect::<Vec<_>>(),
                    "publisher {t} order broken"
                );
            }
        }
    }
}

/// Short reads resume exactly where they stopped.
pub async fn reads_resume_from_next(bus: Arc<dyn EventBus>, prefix: &str) {
    let topic = topic_name(prefix, "resume");
    provision(&bus, &topic, 1).await;
    let records: Vec<OutRecord> = (0..25)
        .map(|i| OutRecord::new(key(1), value("res", i)))
        .collect();
    publish_batch(&bus, &topic, records.clone()).await;
    let mut from = ReadFrom::Earliest;
    let mut got = Vec::new();
    for _ in 0..100 {
        let b = bus.read(&topic, 0, &from, 10).await.expect("read");
        assert!(b.records.len() <= 10, "read returned more than max_records");
        got.extend(b.records);
        from = b.next;
        if got.len() >= records.len() {
            break;
        }
    }
    let values: Vec<Bytes> = got.into_iter().map(|r| r.value).collect();
    let want: Vec<Bytes> = records.into_iter().map(|r| r.value).collect();
    assert_eq!(values, want);
}

/// Every case, each on its own topics under `prefix`.
pub async fn run_all(bus: Arc<dyn EventBus>, prefix: &str) {
    macro_rules! run_each {
        ($($case:ident),* $(,)?) => {$(
            $case(Arc::clone(&bus), prefix).await;
        )*};
    }
    crate::conformance_cases!(run_each);
}

/// Calls `$m!(case, case, ...)` with every case of the suite, so each backend's tests
/// instantiate exactly the cases the suite has: a new case cannot be forgotten by a backend.
#[macro_export]
#[doc(hidden)]
macro_rules! conformance_cases {
    ($m:ident) => {
        $m!(
            publish_returns_durable_eb_ref,
            ordering_per_partition,
            replay_from_any_offset,
            end_offsets,
            batch_publish,
            empty_reads,
            unknown_topic_is_a_clear_error,
            provision_is_idempotent,
            concurrent_publishers,
            reads_resume_from_next,
        );
    };
}
