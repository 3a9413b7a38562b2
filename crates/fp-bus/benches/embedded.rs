//! Embedded log throughput: publish 1 KiB records in batches of 1,000 with one fsync per batch,
//! then read them back sequentially.
//!
//! `cargo bench -p fp-bus --bench embedded` (release build). Not a test: it asserts nothing and
//! never runs under `cargo test`. The log lives under `FP_BUS_BENCH_DIR` (default: the system
//! temp directory); say which disk it is on when recording figures. `FP_BUS_BENCH_BATCHES`
//! sets the number of batches (default 300, i.e. 300,000 records, ~320 MB on disk).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus, OutRecord, ReadFrom, TopicSpec};

const RECORD_BYTES: usize = 1024;
const BATCH: usize = 1000;

fn batches(n: usize, salt: u64) -> Vec<Vec<OutRecord>> {
    // One shared buffer sliced per record: building values is not what is measured.
    let mut blob = Vec::with_capacity(RECORD_BYTES * BATCH);
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ salt;
    while blob.len() < RECORD_BYTES * BATCH {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        blob.push(b'a' + (x % 26) as u8);
    }
    let blob = Bytes::from(blob);
    let key = fp_rails::ids::partition_key(&serde_json::json!(format!("bench-{salt}")));
    (0..n)
        .map(|_| {
            (0..BATCH)
                .map(|i| {
                    OutRecord::new(
                        key.clone(),
                        blob.slice(i * RECORD_BYTES..(i + 1) * RECORD_BYTES),
                    )
                })
                .collect()
        })
        .collect()
}

fn rate(label: &str, records: usize, secs: f64) {
    let mb = (records * RECORD_BYTES) as f64 / 1e6 / secs;
    println!(
        "{label:<58} {records:>9} records in {secs:>7.3} s = {:>10.0} records/s ({mb:>6.0} MB/s of values)",
        records as f64 / secs
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n_batches: usize = std::env::var("FP_BUS_BENCH_BATCHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let base = std::env::var_os("FP_BUS_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("fp-bus-bench")
        .tempdir_in(&base)
        .expect("bench dir");
    println!(
        "fp-bus embedded bench: dir {}, {n_batches} batches x {BATCH} x {RECORD_BYTES} B",
        dir.path().display()
    );

    let bus: Arc<dyn EventBus> =
        Arc::new(EmbeddedBus::open(dir.path(), EmbeddedConfig::default()).expect("open"));
    bus.provision(&[
        TopicSpec::new("bench.seq", 1),
        TopicSpec::new("bench.par", 1),
    ])
    .await
    .expect("provision");

    // 1. One publisher, one batch at a time: every batch is written and fsynced before the
    //    next is sent, so there is exactly one fsync per batch.
    let work = batches(n_batches, 1);
    let t = Instant::now();
    for batch in work {
        bus.publish_batch("bench.seq", batch)
            .await
            .expect("publish");
    }
    rate(
        "publish, 1 publisher, fsync per 1,000-record batch",
        n_batches * BATCH,
        t.elapsed().as_secs_f64(),
    );

    // 2. Four publishers at once: batches queued during an fsync share the next one (group
    //    commit), so there are at most as many fsyncs as batches, usually fewer.
    let publishers = 4;
    let per = n_batches / publishers;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let bus = Arc::clone(&bus);
        let work = batches(per, 10 + p as u64);
        tasks.push(tokio::spawn(async move {
            for batch in work {
                bus.publish_batch("bench.par", batch)
                    .await
                    .expect("publish");
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher");
    }
    rate(
        "publish, 4 concurrent publishers (group commit)",
        per * publishers * BATCH,
        t.elapsed().as_secs_f64(),
    );

    // 3. Sequential read of the first topic (page cache warm: it was just written).
    let t = Instant::now();
    let mut from = ReadFrom::Earliest;
    let mut n = 0usize;
    let mut bytes = 0usize;
    loop {
        let b = bus.read("bench.seq", 0, &from, 1000).await.expect("read");
        if b.records.is_empty() {
            break;
        }
        n += b.records.len();
        bytes += b.records.iter().map(|r| r.value.len()).sum::<usize>();
        from = b.next;
    }
    assert_eq!(bytes, n * RECORD_BYTES);
    rate(
        "sequential read, 1,000 records per call (CRC-checked)",
        n,
        t.elapsed().as_secs_f64(),
    );
}
