//! Hot-path hashing throughput: parse + validate an envelope, then its payload_hash.
//!
//! `cargo bench -p fp-rails --bench hashing` (release build, one core). Figures go to
//! docs/perf.md. Not a test: it asserts nothing and never runs under `cargo test`.

use std::hint::black_box;
use std::time::Instant;

use fp_rails::envelope::CanonicalEnvelope;

/// A traffic envelope shaped like WSP's (~1 KiB with the fraud payload and pins).
fn envelope(i: u64) -> Vec<u8> {
    let mf = "0123456789abcdef".repeat(4);
    let ph = "fedcba9876543210".repeat(4);
    serde_json::to_vec(&serde_json::json!({
        "event_id": fp_rails::digest::sha256_hex(i.to_le_bytes()),
        "event_type": "s3_event_stream_with_fraud_6B",
        "schema_version": "v1",
        "ts_utc": "2026-01-02T10:15:30.123456Z",
        "manifest_fingerprint": mf,
        "parameter_hash": ph,
        "seed": 42,
        "scenario_id": "baseline_v1",
        "run_id": "f99075b467eefd8598b7ca9aca767b16",
        "platform_run_id": "platform_20260101T000000Z",
        "scenario_run_id": "f99075b467eefd8598b7ca9aca767b16",
        "producer": "svc:world_stream_producer",
        "trace_id": fp_rails::digest::sha256_hex(b"pack"),
        "span_id": "engine-standin-0.1.0",
        "payload": {
            "flow_id": 1_000_000 + i, "event_seq": 3, "event_type": "AUTH_REQUEST",
            "ts_utc": "2026-01-02T10:15:30.123456Z", "amount": 25.99 + (i % 100) as f64,
            "seed": 42, "manifest_fingerprint": mf, "parameter_hash": ph,
            "scenario_id": "baseline_v1", "fraud_flag": false, "campaign_id": null,
            "merchant_hint": "m_000123", "channel": "card_present", "currency": "GBP"
        }
    }))
    .expect("serialise")
}

fn rate(name: &str, n: usize, f: impl Fn(&[u8])) -> f64 {
    let inputs: Vec<Vec<u8>> = (0..n as u64).map(envelope).collect();
    let bytes: usize = inputs.iter().map(Vec::len).sum();
    for input in inputs.iter().take(1000) {
        f(input); // warm-up
    }
    let start = Instant::now();
    for input in &inputs {
        f(input);
    }
    let secs = start.elapsed().as_secs_f64();
    let per_s = n as f64 / secs;
    println!(
        "{name:<42} {per_s:>12.0} envelopes/s  ({:.0} bytes avg)",
        bytes as f64 / n as f64
    );
    per_s
}

fn main() {
    let n = 200_000;
    rate("serde_json parse to Value", n, |b| {
        black_box(serde_json::from_slice::<serde_json::Value>(b).ok());
    });
    rate("parse + validate CanonicalEnvelope", n, |b| {
        black_box(CanonicalEnvelope::from_json_bytes(b).ok());
    });
    rate("parse + validate + payload_hash", n, |b| {
        if let Ok(env) = CanonicalEnvelope::from_json_bytes(b) {
            black_box(env.payload_hash());
        }
    });
}
