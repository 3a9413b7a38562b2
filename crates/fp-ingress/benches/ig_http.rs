//! Ingestion Gate over HTTP on loopback: one client posting NDJSON batches of 1,000 to
//! `/v1/ingest/batch`; 8 keep-alive clients pushing single envelopes to `/v1/ingest/push`
//! (throughput); one paced run at 2,000 pushes/s (latency p50/p99). SQLite + embedded bus,
//! durable, auth disabled.
//!
//! `cargo bench -p fp-ingress --bench ig_http`. Asserts only that every envelope is admitted.
//! `FP_IG_BENCH_BATCHES` (default 50 → 50,000 envelopes per phase).
#![allow(clippy::unwrap_used)]

// The allocator of the `fp` binary, so the figures stand for what users run.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/common/http.rs"]
#[allow(dead_code)]
mod http;
#[path = "../tests/common/ig.rs"]
#[allow(dead_code)]
mod ig;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fp_ingress::ingestion_gate::http::{HttpConfig, router, serve};

fn main() {
    let batches: u64 = std::env::var("FP_IG_BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let url = format!("sqlite:{}", dir.path().join("state.db").display());
        let h = ig::Harness::new(dir.path(), &url).await;
        h.make_ready("READY").await;
        let gate = Arc::new(h.gate().await);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = HttpConfig {
            max_body_bytes: 16 * 1024 * 1024,
            ..HttpConfig::default()
        };
        tokio::spawn(serve(listener, router(gate, cfg), std::future::pending()));
        let total = batches * 1000;

        // 1. Batch endpoint, one client.
        let mut c = http::Client::connect(addr).await.unwrap();
        // Bodies built before the clock starts: building test envelopes is not the gate's work.
        let bodies: Vec<Vec<u8>> = (0..batches)
            .map(|b| {
                let mut body = Vec::with_capacity(1000 * 1000);
                for n in b * 1000..(b + 1) * 1000 {
                    serde_json::to_writer(&mut body, &ig::traffic_envelope(n)).unwrap();
                    body.push(b'\n');
                }
                body
            })
            .collect();
        let t = Instant::now();
        for body in bodies {
            let r = c
                .request("POST", "/v1/ingest/batch", &[], &body)
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["counts"]["ADMIT"], 1000);
        }
        let batch_rate = total as f64 / t.elapsed().as_secs_f64();

        // 2. Single pushes, 8 keep-alive clients.
        let base = total;
        let t = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..8u64 {
            tasks.push(tokio::spawn(async move {
                let mut c = http::Client::connect(addr).await.unwrap();
                let mut n = base + w;
                while n < base + total {
                    let body = serde_json::to_vec(&ig::traffic_envelope(n)).unwrap();
                    let r = c
                        .request("POST", "/v1/ingest/push", &[], &body)
                        .await
                        .unwrap();
                    assert_eq!(r.status, 200);
                    n += 8;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let push_rate = total as f64 / t.elapsed().as_secs_f64();

        // 3. Paced pushes at 2,000/s over 8 clients: latency.
        let base = 2 * total;
        let paced: u64 = 10_000;
        let mut tasks = Vec::new();
        let start = Instant::now();
        for w in 0..8u64 {
            tasks.push(tokio::spawn(async move {
                let mut c = http::Client::connect(addr).await.unwrap();
                let mut lat = Vec::new();
                let mut i = w;
                while i < paced {
                    // Event i is due at i / 2000 s after the start.
                    let due = start + Duration::from_micros(i * 500);
                    tokio::time::sleep_until(due.into()).await;
                    let body = serde_json::to_vec(&ig::traffic_envelope(base + i)).unwrap();
                    let t = Instant::now();
                    let r = c
                        .request("POST", "/v1/ingest/push", &[], &body)
                        .await
                        .unwrap();
                    lat.push(t.elapsed());
                    assert_eq!(r.status, 200);
                    i += 8;
                }
                lat
            }));
        }
        let mut lat: Vec<Duration> = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "ig http: batch endpoint (1 client, NDJSON x1000): {batch_rate:.0} events/s; \
             push (8 keep-alive clients): {push_rate:.0} events/s; paced 2,000/s push latency \
             p50 {:?} p99 {:?} ({} pushes)",
            p(0.50),
            p(0.99),
            lat.len()
        );
    });
}
