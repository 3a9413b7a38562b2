//! `fp sr run` across processes on the local profile (SQLite state, embedded control bus):
//! two processes started together on one request make one run and one READY, both exit 0;
//! a leader SIGKILLed while it waits for evidence leaves a lease that a later process takes
//! over after its ttl and finishes the run.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fp_bus::topics::CONTROL;
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus, ReadFrom};
use serde_json::Value;

mod common;

const PRID: &str = "platform_20260105T000000Z";

fn fp(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fp"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FP_DATA_DIR", data)
        .env("PLATFORM_RUN_ID", PRID)
        .current_dir(data);
    cmd
}

/// A world under `data/world` and a fraud-mode request for it at `data/request.json`.
fn world_and_request(data: &Path, key: &str) -> (std::path::PathBuf, Value) {
    let world = data.join("world");
    let summary: Value = serde_json::from_str(&common::ok(fp(data).args([
        "world",
        "generate",
        "--out",
        world.to_str().unwrap(),
        "--flows",
        "600",
        "--days",
        "2",
        "--json",
    ])))
    .unwrap();
    (
        common::write_run_request(data, &world, &summary, key),
        summary,
    )
}

fn ready_messages(data: &Path) -> Vec<Value> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bus = EmbeddedBus::open(data.join("control"), EmbeddedConfig::default()).unwrap();
    let batch = rt
        .block_on(bus.read(CONTROL, 0, &ReadFrom::Earliest, 100))
        .unwrap();
    batch
        .records
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.value).unwrap())
        .filter(|m| m["attributes"]["kind"] == "READY")
        .collect()
}

#[test]
fn two_processes_on_one_request_make_one_run_and_one_ready() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (req, _) = world_and_request(data, "two-processes");
    let spawn = || {
        fp(data)
            .args(["sr", "run", "--request", req.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs: Vec<Value> = [a, b]
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "fp sr run failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            serde_json::from_slice(&o.stdout).unwrap()
        })
        .collect();
    for o in &outs {
        assert_eq!(o["state"], "READY", "{o}");
    }
    assert_eq!(outs[0]["run_id"], outs[1]["run_id"]);
    assert_eq!(outs[0]["ready_message_id"], outs[1]["ready_message_id"]);
    let leaders = outs.iter().filter(|o| o["led"] == true).count();
    assert_eq!(leaders, 1, "exactly one leader: {outs:?}");
    let ready = ready_messages(data);
    assert_eq!(ready.len(), 1, "one READY on the control bus");
    assert_eq!(ready[0]["message_id"], outs[0]["ready_message_id"]);
}

#[test]
fn a_killed_leaders_lease_is_taken_over_after_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (req, summary) = world_and_request(data, "killed-leader");
    let flag = data
        .join("world/data/layer3/6B/validation")
        .join(format!(
            "manifest_fingerprint={}",
            summary["manifest_fingerprint"].as_str().unwrap()
        ))
        .join("_passed.flag");
    let saved = std::fs::read(&flag).unwrap();
    std::fs::remove_file(&flag).unwrap();

    // The leader waits for the absent flag, holding a 2 s lease (renewed), then dies.
    let mut leader = fp(data)
        .env("FP_SR_LEASE_TTL_SECONDS", "2")
        .env("FP_SR_EVIDENCE_WAIT_SECONDS", "120")
        .env("FP_SR_EVIDENCE_POLL_MS", "50")
        .args(["sr", "run", "--request", req.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_dir = data.join(format!("objects/fraud-platform/{PRID}/sr/run_status"));
    let start = Instant::now();
    loop {
        let waiting = std::fs::read_dir(&status_dir).ok().is_some_and(|rd| {
            rd.flatten().any(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("WAITING_EVIDENCE"))
            })
        });
        if waiting {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never waited");
        std::thread::sleep(Duration::from_millis(50));
    }
    leader.kill().unwrap(); // SIGKILL: no release, the lease row stays.
    leader.wait().unwrap();
    std::fs::write(&flag, saved).unwrap();

    // A new process takes the run over once the dead leader's lease expires.
    let started = Instant::now();
    let out: Value = serde_json::from_str(&common::ok(
        fp(data).env("FP_SR_LEASE_TTL_SECONDS", "2").args([
            "sr",
            "run",
            "--request",
            req.to_str().unwrap(),
        ]),
    ))
    .unwrap();
    assert_eq!(out["state"], "READY", "{out}");
    assert_eq!(out["led"], true, "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(ready_messages(data).len(), 1);
}
