//! Crash safety of the World Stream Producer as a user would hit it: a world is generated,
//! sealed and made READY with the CLI; `fp wsp run` is killed (SIGKILL) mid-stream and run
//! again. Every row of every streamed output ends up on its bus topic exactly once.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fp_bus::{EmbeddedBus, EmbeddedConfig};
use serde_json::Value;

mod common;

use common::{dir_size, ok};

const PRID: &str = "platform_20260103T000000Z";

fn fp(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fp"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FP_DATA_DIR", data)
        .env("PLATFORM_RUN_ID", PRID)
        .current_dir(data);
    cmd
}

#[test]
fn killed_stream_resumes_with_every_row_on_the_bus_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let summary = common::ready_world(|| fp(data), data, "wsp-crash", 4000, 3);

    // Stream with small batches and frequent checkpoints; kill once the bus has grown.
    let args = ["wsp", "run", "--batch", "200", "--flush-every", "200"];
    let mut child = fp(data)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The local profile keeps the event bus at $FP_DATA_DIR/bus.
    let bus_dir = data.join("bus");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("wsp finished ({status}) before it could be killed; make the world larger");
        }
        if dir_size(&bus_dir) > 3_000_000 {
            break;
        }
        assert!(Instant::now() < deadline, "wsp made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Run again: resumes from the checkpoints and finishes.
    let out = ok(fp(data).args(["wsp", "run", "--json"]));
    let outcome: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(outcome["status"], "STREAMED", "{outcome}");
    let resumed: u64 = outcome["report"]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["resumed_from"].as_u64().unwrap())
        .sum();
    assert!(
        resumed > 0,
        "the second run resumed from checkpoints: {outcome}"
    );

    // Every row of each streamed output is on its topic exactly once.
    let rows = |id: &str| common::rows_of(&summary, id);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bus = EmbeddedBus::open(&bus_dir, EmbeddedConfig::default()).unwrap();
    for (output, topic) in [
        ("s3_event_stream_with_fraud_6B", "fp.bus.traffic.fraud.v1"),
        ("arrival_events_5B", "fp.bus.context.arrival_events.v1"),
        (
            "s1_arrival_entities_6B",
            "fp.bus.context.arrival_entities.v1",
        ),
        (
            "s3_flow_anchor_with_fraud_6B",
            "fp.bus.context.flow_anchor.fraud.v1",
        ),
    ] {
        let all = rt.block_on(common::topic_event_ids(&bus, topic));
        let total = all.len() as u64;
        let ids: HashSet<String> = all.into_iter().collect();
        assert_eq!(total, rows(output), "{output}: records on {topic}");
        assert_eq!(
            ids.len() as u64,
            total,
            "{output}: no event twice on the bus"
        );
    }
}
