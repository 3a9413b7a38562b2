//! Online Feature Plane throughput on one core, in memory: for every traffic event, a feature
//! snapshot for its six entities (all six groups, with the current amount), then the update.
//! Realistic key distribution: 100k instruments (Zipf s=0.8), 10k merchants (Zipf s=1.0),
//! instruments → accounts → parties, devices and IPs mostly following the party; events spread
//! over 7 days of event time.
//!
//! `cargo bench -p fp-decision --bench ofp_throughput` (release build). Asserts nothing and
//! never runs under `cargo test`. `FP_OFP_BENCH_EVENTS` (default 1,000,000).
#![allow(clippy::unwrap_used)]

// The allocator of the `fp` binary, so the figures stand for what users run (glibc malloc spent
// a third of this benchmark in free-list consolidation).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fp_decision::ofp::{
    FeatureKey, FeaturePolicy, FeatureRequest, GroupRef, InputBasis, OnlineFeatures, TrafficEvent,
};
use fp_decision::{EntityKeys, KeyType};
use fp_rails::contracts::rtdl::{BasisOffset, EbOffsetBasis};
use fp_rails::{ContextPins, OffsetKind, TsUtc};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Inverse-CDF Zipf sampler over `0..n`.
struct Zipf(Vec<f64>);
impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf = Vec::with_capacity(n);
        for i in 0..n {
            acc += 1.0 / ((i + 1) as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Self(cdf)
    }
    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.0.partition_point(|&c| c < u) as u64
    }
}

#[path = "../tests/common/mod.rs"]
mod common;
use common::pins;

fn main() {
    let n: usize = std::env::var("FP_OFP_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let policy = Arc::new(FeaturePolicy::builtin().unwrap());
    let groups: Vec<GroupRef> = policy
        .groups
        .iter()
        .map(|g| GroupRef {
            name: g.name.clone(),
            version: g.version.clone(),
        })
        .collect();

    // Generate the stream first: only the feature plane is timed.
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let instruments = Zipf::new(100_000, 0.8);
    let merchants = Zipf::new(10_000, 1.0);
    let start_us = TsUtc::parse("2026-03-01T00:00:00.000000Z")
        .unwrap()
        .unix_micros();
    let span_us = 7 * 86_400 * 1_000_000i64;
    let mean_gap = span_us as f64 / n as f64;
    let mut t = start_us as f64;
    let mut events: Vec<(TrafficEvent, EntityKeys)> = Vec::with_capacity(n);
    for i in 0..n {
        t += rng.unit() * 2.0 * mean_gap;
        let inst = instruments.sample(&mut rng);
        let party = inst * 7 / 10; // ~1.4 instruments per party
        let device = if rng.unit() < 0.9 {
            party
        } else {
            rng.next() % 80_000
        };
        let ip = if rng.unit() < 0.85 {
            device * 3 / 4
        } else {
            rng.next() % 60_000
        };
        let keys = EntityKeys {
            party: 500_000 + party,
            account: 700_000 + inst * 9 / 10,
            instrument: 900_000 + inst,
            device: 300_000 + device,
            ip: 200_000 + ip,
            merchant: 1_000 + merchants.sample(&mut rng),
        };
        let amount = ((rng.unit() * rng.unit() * 50_000.0).round() + 99.0) / 100.0;
        events.push((
            TrafficEvent {
                flow_id: i as u64,
                event_seq: 0,
                event_type: "AUTH_REQUEST".into(),
                ts_utc: TsUtc::from_unix_micros(t as i64).unwrap(),
                amount,
                run: None,
            },
            keys,
        ));
    }
    let basis = InputBasis {
        eb_offset_basis: EbOffsetBasis {
            stream: "fp.bus.traffic.fraud.v1".into(),
            basis_digest: None,
            offset_kind: OffsetKind::FileLine,
            offsets: vec![BasisOffset {
                partition: 0,
                offset: "0".into(),
            }],
            window_start_utc: None,
            window_end_utc: None,
            notes: None,
        },
        graph_version: None,
        run_config_digest: None,
    };

    let mut store = OnlineFeatures::new(Arc::clone(&policy), pins());
    let mut snapshot_times: Vec<Duration> = Vec::with_capacity(n);
    let mut bytes = 0usize;
    let started = Instant::now();
    for (ev, keys) in &events {
        let request = FeatureRequest {
            pins: pins_ref(&store),
            as_of_time_utc: ev.ts_utc.clone(),
            feature_keys: KeyType::ALL
                .iter()
                .map(|k| FeatureKey::new(*k, keys.get(*k)))
                .collect(),
            feature_groups: groups.clone(),
            graph_resolution_mode: None,
            request_id: None,
            current_amount: Some(ev.amount),
        };
        let s0 = Instant::now();
        let snap = store.get_features(&request, &basis).unwrap();
        snapshot_times.push(s0.elapsed());
        bytes += snap.canonical_json.len();
        store.apply(ev, keys).unwrap();
    }
    let total = started.elapsed();

    // Update only, on a fresh store, for the split.
    let mut fresh = OnlineFeatures::new(Arc::clone(&policy), pins());
    let u0 = Instant::now();
    for (ev, keys) in &events {
        fresh.apply(ev, keys).unwrap();
    }
    let update_only = u0.elapsed();

    snapshot_times.sort();
    let pct = |p: f64| snapshot_times[((snapshot_times.len() as f64 - 1.0) * p) as usize];
    println!(
        "ofp_throughput: {n} events over 7 days, 6 keys x 6 groups per snapshot, {} entities held at the end",
        store.entity_count()
    );
    println!(
        "  update + snapshot: {:.0} events/s ({:.2} s)",
        n as f64 / total.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "  update only:       {:.0} events/s",
        n as f64 / update_only.as_secs_f64()
    );
    println!(
        "  snapshot read: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us; mean {} bytes",
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        pct(0.999).as_secs_f64() * 1e6,
        snapshot_times
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e6,
        bytes / n.max(1)
    );
}

fn pins_ref(_store: &OnlineFeatures) -> ContextPins {
    thread_local! {
        static PINS: ContextPins = pins();
    }
    PINS.with(Clone::clone)
}
