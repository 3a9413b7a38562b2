//! Crash safety of the Ingestion Gate as a user would hit it: `fp ig admit` is killed
//! (SIGKILL) mid-file, then run again on the same file. Nothing acknowledged is lost and
//! nothing is applied twice: every envelope ends up ADMIT or DUPLICATE, and the bus holds
//! each event exactly once.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../fp-ingress/tests/common/ig.rs"]
#[allow(dead_code)]
mod ig;

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fp_bus::{EmbeddedBus, EmbeddedConfig};

const N: u64 = 30_000;
const TOPIC: &str = "fp.bus.traffic.fraud.v1";

fn fp(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fp"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FP_DATA_DIR", data)
        .env("PLATFORM_RUN_ID", ig::PRID)
        .current_dir(data);
    cmd
}

#[test]
fn killed_admission_resumes_without_loss_or_double_publish() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A READY run, as SR leaves it, in the profile's object store.
    rt.block_on(common::make_ready(data, ig::PRID, ig::SRID));
    let file = data.join("envelopes.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for n in 0..N {
        serde_json::to_writer(&mut f, &ig::traffic_envelope(n)).unwrap();
        f.write_all(b"\n").unwrap();
    }
    drop(f);

    // First run: kill it once part of the file is on the bus.
    let mut child = fp(data)
        .args(["ig", "admit"])
        .arg(&file)
        .args(["--batch", "500"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while common::dir_size(&data.join("bus")) < 2_000_000 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "fp ig admit finished before it could be killed; raise N"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Second run on the same file, to completion.
    let out = fp(data)
        .args(["ig", "admit"])
        .arg(&file)
        .args(["--batch", "500"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["decisions"];
    let admit = d["ADMIT"].as_u64().unwrap_or(0);
    let dup = d["DUPLICATE"].as_u64().unwrap_or(0);
    assert_eq!(
        admit + dup,
        N,
        "every envelope admitted once or a duplicate: {report}"
    );
    assert!(dup > 0 && admit > 0, "the kill landed mid-file: {report}");

    // The bus holds each event exactly once.
    let bus = EmbeddedBus::open(data.join("bus"), EmbeddedConfig::default()).unwrap();
    let ids = rt.block_on(common::topic_event_ids(&bus, TOPIC));
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len() as u64, N, "records on the bus");
    assert_eq!(unique.len() as u64, N, "no event published twice");

    // The summary agrees.
    let out = fp(data)
        .args(["ig", "receipts", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let admitted: u64 = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["decision"] == "ADMIT")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert!(admitted <= N && admitted >= admit, "{rows}");
}
