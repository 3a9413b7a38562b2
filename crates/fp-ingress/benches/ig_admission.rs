//! Ingestion Gate admission throughput, in-process: traffic envelopes in batches of 1,000
//! through the whole pipeline (checks, run scope, SQLite index, embedded bus with one fsync
//! per append, receipts object), against a limit baseline measured in the same run: parse +
//! payload hash of the same envelopes and nothing else, on one core.
//!
//! `cargo bench -p fp-ingress --bench ig_admission` (release build). Asserts nothing and never
//! runs under `cargo test`. `FP_IG_BENCH_BATCHES` (default 100, i.e. 100,000 events);
//! `FP_IG_BENCH_DIR` places the data (default: system temp dir).
#![allow(clippy::unwrap_used)]

// The allocator of the `fp` binary, so the figures stand for what users run.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/common/ig.rs"]
#[allow(dead_code)]
mod ig;

use std::time::Instant;

use fp_ingress::ingestion_gate::Submission;
use fp_rails::CanonicalEnvelope;
use fp_rails::contracts::ingestion::IgDecision;

const BATCH: usize = 1000;

fn main() {
    let batches: usize = std::env::var("FP_IG_BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let base = std::env::var("FP_IG_BENCH_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = tempfile::tempdir_in(base).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let total = batches * BATCH;
    let envelopes: Vec<bytes::Bytes> = (0..total as u64)
        .map(|n| ig::bytes(&ig::traffic_envelope(n)))
        .collect();
    let avg = envelopes.iter().map(|e| e.len()).sum::<usize>() / total;

    // Limit baseline: parse + payload hash, one core.
    let t = Instant::now();
    let mut sink = 0u8;
    for e in &envelopes {
        let env = CanonicalEnvelope::from_json_bytes(e).unwrap();
        sink ^= env.payload_hash().as_str().as_bytes()[0];
    }
    let baseline = total as f64 / t.elapsed().as_secs_f64();

    let url = format!("sqlite:{}", dir.path().join("state.db").display());
    let (admitted, secs) = rt.block_on(async {
        let h = ig::Harness::new(dir.path(), &url).await;
        h.make_ready("READY").await;
        let gate = h.gate().await;
        let t = Instant::now();
        let mut admitted = 0usize;
        for chunk in envelopes.chunks(BATCH) {
            let subs = chunk.iter().cloned().map(Submission::anonymous).collect();
            let out = gate.admit_batch(subs).await.unwrap();
            admitted += out
                .iter()
                .filter(|o| o.decision() == Some(IgDecision::Admit))
                .count();
        }
        (admitted, t.elapsed().as_secs_f64())
    });
    assert_eq!(admitted, total, "every envelope should be admitted");
    let rate = total as f64 / secs;
    println!(
        "ig admission: {total} envelopes (avg {avg} B) in batches of {BATCH}: {rate:.0} events/s \
         ({secs:.2} s); limit baseline parse+payload_hash (1 core): {baseline:.0}/s; ratio {:.2} \
         [{sink}]",
        rate / baseline
    );

    // Several producers at once (as WSP streams its outputs): batches overlap, so one batch's
    // fsyncs wait while another's checks run. Fresh envelopes, a fresh gate.
    for producers in [2usize, 4] {
        let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let url = format!("sqlite:{}", dir.path().join("state.db").display());
        let offset = (producers * total) as u64;
        let envelopes: Vec<bytes::Bytes> = (offset..offset + total as u64)
            .map(|n| ig::bytes(&ig::traffic_envelope(n)))
            .collect();
        let chunks: Vec<Vec<bytes::Bytes>> = envelopes.chunks(BATCH).map(<[_]>::to_vec).collect();
        let (admitted, secs) = rt.block_on(async {
            let h = ig::Harness::new(dir.path(), &url).await;
            h.make_ready("READY").await;
            let gate = std::sync::Arc::new(h.gate().await);
            let queue = std::sync::Arc::new(std::sync::Mutex::new(chunks));
            let t = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..producers {
                let (gate, queue) = (std::sync::Arc::clone(&gate), std::sync::Arc::clone(&queue));
                tasks.spawn(async move {
                    let mut admitted = 0usize;
                    loop {
                        let Some(chunk) = queue.lock().unwrap().pop() else {
                            return admitted;
                        };
                        let subs = chunk.into_iter().map(Submission::anonymous).collect();
                        let out = gate.admit_batch(subs).await.unwrap();
                        admitted += out
                            .iter()
                            .filter(|o| o.decision() == Some(IgDecision::Admit))
                            .count();
                    }
                });
            }
            let mut admitted = 0;
            while let Some(n) = tasks.join_next().await {
                admitted += n.unwrap();
            }
            (admitted, t.elapsed().as_secs_f64())
        });
        assert_eq!(admitted, total, "every envelope should be admitted");
        let rate = total as f64 / secs;
        println!(
            "ig admission, {producers} producers: {total} envelopes in batches of {BATCH}: \
             {rate:.0} events/s ({secs:.2} s); ratio {:.2}",
            rate / baseline
        );
    }
}
