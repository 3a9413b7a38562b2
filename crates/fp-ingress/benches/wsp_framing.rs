//! World Stream Producer framing throughput: decode a stream view and frame every row as a
//! canonical envelope (event id, normalised ts_utc, pins, payload), no delivery. This is the
//! producer's own ceiling; `fp demo` measures it end to end with the gate.
//!
//! `cargo bench -p fp-ingress --bench wsp_framing` (release build). Asserts nothing and never
//! runs under `cargo test`. `FP_WSP_BENCH_FLOWS` (default 100,000).
#![allow(clippy::unwrap_used)]

// The allocator of the `fp` binary, so the figures stand for what users run.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use fp_ingress::stream_producer::row_json::RowWriter;
use fp_ingress::stream_producer::{Framer, WorldPins};
use fp_substrate::objects::{ObjectStoreConfig, Objects};
use fp_world::WorldConfig;
use fp_world::oracle::{self, SealOptions, StreamViewOptions, StreamViewReader, row_to_json};

fn main() {
    let flows: u64 = std::env::var("FP_WSP_BENCH_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("world");
    let cfg = WorldConfig {
        flows,
        days: 7,
        ..WorldConfig::default()
    };
    let s = fp_world::generate(&cfg, &root).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let objects = Objects::open(&ObjectStoreConfig::local(&root)).unwrap();
    rt.block_on(async {
        oracle::seal_local(&root, &SealOptions::default())
            .await
            .unwrap();
        oracle::build_stream_views(&objects, "", &StreamViewOptions::default())
            .await
            .unwrap();
    });
    let pins = Arc::new(WorldPins {
        manifest_fingerprint: s.manifest_fingerprint.clone(),
        parameter_hash: s.parameter_hash.clone(),
        seed: s.seed,
        scenario_id: s.scenario_id.clone(),
        engine_run_id: s.run_id.clone(),
        platform_run_id: "platform_20260101T000000Z".into(),
        scenario_run_id: "0123456789abcdef0123456789abcdef".into(),
        pack_id: Some("ab".repeat(32)),
        engine_release: Some("fp-world-standin/0.1.0".into()),
    });
    for output in [
        "s3_event_stream_with_fraud_6B",
        "arrival_events_5B",
        "s1_arrival_entities_6B",
        "s3_flow_anchor_with_fraud_6B",
    ] {
        let reader = rt
            .block_on(StreamViewReader::open(&objects, "", output))
            .unwrap();
        let framer = Framer::new(output, Arc::clone(&pins)).unwrap();
        // What the producer runs: rows written from their Arrow columns.
        let t = Instant::now();
        let (mut rows, mut bytes) = (0u64, 0usize);
        for batch in reader.batches(1000) {
            let batch = batch.unwrap();
            let writer = RowWriter::new(&batch, output).unwrap();
            for i in 0..batch.num_rows() {
                let f = framer.frame_row(&writer, i, rows).unwrap();
                bytes += f.bytes.len();
                rows += 1;
            }
        }
        let columnar = rows as f64 / t.elapsed().as_secs_f64();
        // The reference form: each row decoded to a JSON map, then serialised.
        let t = Instant::now();
        let mut n = 0u64;
        for batch in reader.batches(1000) {
            let batch = batch.unwrap();
            for i in 0..batch.num_rows() {
                let payload = row_to_json(&batch, i).unwrap();
                std::hint::black_box(framer.frame(n, &payload).unwrap());
                n += 1;
            }
        }
        let map = n as f64 / t.elapsed().as_secs_f64();
        println!(
            "{output:<32} {rows:>9} rows  columnar {columnar:>9.0} rows/s  map {map:>9.0} rows/s  \
             (one core), avg envelope {} B",
            bytes / rows.max(1) as usize
        );
    }
}
