#![allow(clippy::unwrap_used)]
//! A larger world (ignored by default: `cargo test -p fp-world --release -- --ignored`).

use std::time::Instant;

#[test]
#[ignore = "slow in debug builds; run with --release -- --ignored"]
fn medium_world_generates_and_verifies() {
    let flows: u64 = std::env::var("FP_WORLD_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let cfg = fp_world::WorldConfig {
        flows,
        days: 7,
        ..Default::default()
    };
    let t = Instant::now();
    let s = fp_world::generate(&cfg, &dir.path().join("run")).unwrap();
    let g = t.elapsed();
    let t = Instant::now();
    let r = fp_world::verify(&dir.path().join("run")).unwrap();
    let v = t.elapsed();
    println!(
        "flows={flows} generate={g:?} ({:.0} flows/s) verify={v:?} fraud_rate={:.4} cases={} mix={:?} invariants={}",
        flows as f64 / g.as_secs_f64(),
        s.fraud_rate,
        s.cases,
        s.campaign_mix,
        r.invariants_passed
    );
    assert_eq!(s.flows, flows);
}

#[test]
#[ignore = "phase timings; run with --release -- --ignored --nocapture"]
fn phase_timings() {
    let flows: u64 = std::env::var("FP_WORLD_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let cfg = fp_world::WorldConfig {
        flows,
        days: 7,
        ..Default::default()
    };
    let rc = cfg.resolve().unwrap();
    let id = fp_world::identity::identity(&rc);
    let t = Instant::now();
    let w = fp_world::model::build(&rc, &id);
    let t_model = t.elapsed();
    let t = Instant::now();
    let tabs = fp_world::tables::build(&w, &id).unwrap();
    let t_tables = t.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    for (i, tab) in tabs.iter().enumerate() {
        fp_world::write::write_table(tab, &dir.path().join(format!("{i}.parquet"))).unwrap();
    }
    let t_write = t.elapsed();
    let map: fp_world::invariants::Tables =
        tabs.iter().map(|t| (t.spec.id, t.batch.clone())).collect();
    let t = Instant::now();
    let o = fp_world::invariants::run(&map, &id);
    let t_inv = t.elapsed();
    println!(
        "flows={flows} model={t_model:?} tables={t_tables:?} write={t_write:?} invariants={t_inv:?} ({} rules)",
        o.len()
    );
}

/// Keep a generated world for a byte comparison with another build of the generator:
/// `FP_WORLD_OUT=DIR FP_WORLD_FLOWS=N cargo test --release -p fp-world --test scale --
/// --ignored generate_to_dir`, then compare the sha256 of every file (bar the receipt).
#[test]
#[ignore = "writes the world to FP_WORLD_OUT"]
fn generate_to_dir() {
    let flows: u64 = std::env::var("FP_WORLD_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let Ok(out) = std::env::var("FP_WORLD_OUT") else {
        println!("FP_WORLD_OUT not set: nothing written");
        return;
    };
    let cfg = fp_world::WorldConfig {
        flows,
        days: 7,
        ..Default::default()
    };
    let s = fp_world::generate(&cfg, std::path::Path::new(&out)).unwrap();
    println!(
        "flows={flows} manifest_fingerprint={}",
        s.manifest_fingerprint
    );
}
