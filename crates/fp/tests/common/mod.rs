//! Helpers shared by the binary's integration tests (each test file uses a part of them).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use fp_bus::{EventBus, ReadFrom};
use fp_rails::{Hex32, PlatformRunId};
use fp_substrate::objects::{ObjectStoreConfig, Objects};

/// Run `cmd`, fail the test with its stderr unless it succeeds; its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Bytes under `p` (0 when absent); files vanishing while it walks count as empty (writers
/// rename temporaries).
pub fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The `event_id` of every record on `topic`, every partition, in partition order.
pub async fn topic_event_ids(bus: &dyn EventBus, topic: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for p in bus.partitions(topic).await.unwrap() {
        let mut from = ReadFrom::Earliest;
        loop {
            let b = bus.read(topic, p.partition, &from, 10_000).await.unwrap();
            if b.records.is_empty() {
                break;
            }
            for r in &b.records {
                let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
                ids.push(v["event_id"].as_str().unwrap().to_owned());
            }
            from = b.next;
        }
    }
    ids
}

/// A READY scenario run `srid` of platform run `prid`, as SR leaves it (status + the example
/// facts view) in the local object store under `data/objects`.
pub async fn make_ready(data: &Path, prid: &str, srid: &str) {
    let objects = Objects::open(&ObjectStoreConfig::local(data.join("objects"))).unwrap();
    let prefix = objects.run_prefix(&PlatformRunId::parse(prid).unwrap());
    let run = Hex32::parse(srid).unwrap();
    let facts = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../contracts/examples/run_facts_view.valid.json"),
    )
    .unwrap();
    objects
        .put_overwrite(&prefix.sr_run_facts_view(&run), facts)
        .await
        .unwrap();
    let status = serde_json::json!({"run_id": srid, "state": "READY",
        "updated_at_utc": "2026-01-01T00:00:00.000000Z", "record_ref": "x"});
    objects
        .put_overwrite(&prefix.sr_run_status(&run), status.to_string())
        .await
        .unwrap();
}

/// With the CLI (`fp` commands made by `fp`): generate a world of `flows` flows over `days`
/// days under `data/world`, seal it, build its stream views and run SR to READY on it
/// (fraud mode, run key `key`). The generator's summary.
pub fn ready_world(
    fp: impl Fn() -> Command,
    data: &Path,
    key: &str,
    flows: u64,
    days: u32,
) -> serde_json::Value {
    let world = data.join("world");
    let world_arg = world.to_str().unwrap();
    let summary: serde_json::Value = serde_json::from_str(&ok(fp().args([
        "world",
        "generate",
        "--out",
        world_arg,
        "--flows",
        &flows.to_string(),
        "--days",
        &days.to_string(),
        "--json",
    ])))
    .unwrap();
    ok(fp().args(["oracle", "seal", world_arg]));
    ok(fp().args(["oracle", "stream-view", world_arg]));
    let req = write_run_request(data, &world, &summary, key);
    let sr: serde_json::Value = serde_json::from_str(&ok(fp().args([
        "sr",
        "run",
        "--request",
        req.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(sr["state"], "READY", "{sr}");
    summary
}

/// Rows of `output_id` in a generator summary.
pub fn rows_of(summary: &serde_json::Value, output_id: &str) -> u64 {
    summary["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["output_id"] == output_id)
        .unwrap()["rows"]
        .as_u64()
        .unwrap()
}

/// A fraud-mode run request for the world at `world` (its `fp world generate --json` summary),
/// written to `data/request.json`.
pub fn write_run_request(
    data: &Path,
    world: &Path,
    summary: &serde_json::Value,
    key: &str,
) -> std::path::PathBuf {
    let request = serde_json::json!({
        "run_equivalence_key": key,
        "manifest_fingerprint": summary["manifest_fingerprint"],
        "parameter_hash": summary["parameter_hash"],
        "seed": summary["seed"],
        "scenario_id": summary["scenario_id"],
        "engine_run_root": world.display().to_string(),
        "traffic_mode": "fraud",
    });
    let req = data.join("request.json");
    std::fs::write(&req, request.to_string()).unwrap();
    req
}
