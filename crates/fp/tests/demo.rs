//! `fp demo` as a user runs it: one command, embedded defaults, a reconciliation that
//! balances, stable JSON keys; the second run reuses the world and replaces the first run.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

fn demo(dir: &std::path::Path) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fp"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FP_DATA_DIR", dir.join("data"))
        .current_dir(dir)
        .args(["demo", "--flows", "1500", "--days", "2", "--json"])
        .args(["--data-dir", dir.join("demo").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

#[test]
fn demo_reconciles_exactly_and_reuses_its_world() {
    let dir = tempfile::tempdir().unwrap();
    let (doc, stderr) = demo(dir.path());
    assert!(
        stderr.contains("generating a world of 1500 flows"),
        "{stderr}"
    );
    assert_eq!(doc["balanced"], true, "{doc}");
    assert_eq!(doc["world"]["flows"], 1500);
    assert!(
        doc["world"]["run_root"]
            .as_str()
            .unwrap()
            .contains("seed42-flows1500-days2")
    );
    let outputs = doc["outputs"].as_object().unwrap();
    let ids: Vec<&str> = outputs.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "arrival_events_5B",
            "s1_arrival_entities_6B",
            "s3_event_stream_with_fraud_6B",
            "s3_flow_anchor_with_fraud_6B"
        ]
    );
    let mut events = 0;
    for (id, o) in outputs {
        let rows = o["rows"].as_u64().unwrap();
        assert!(rows > 0, "{id}");
        assert_eq!(
            o["admitted"].as_u64().unwrap() + o["duplicates"].as_u64().unwrap(),
            rows,
            "{id}"
        );
        assert_eq!(o["bus_records"], o["admitted"], "{id}");
        assert_eq!(o["quarantined"], 0, "{id}");
        events += rows;
    }
    // The world has one flow per arrival, and more traffic events than flows.
    assert_eq!(outputs["arrival_events_5B"]["rows"], 1500);
    assert!(
        outputs["s3_event_stream_with_fraud_6B"]["rows"]
            .as_u64()
            .unwrap()
            > 1500
    );
    assert_eq!(doc["events"], events);
    assert!(doc["elapsed_s"].as_f64().unwrap() > 0.0);
    assert!(doc["events_per_s"].as_f64().unwrap() > 0.0);

    // Again: the world is reused (not regenerated), the first run is replaced by the new one.
    let first_run = doc["run_dir"].as_str().unwrap().to_owned();
    let (again, stderr) = demo(dir.path());
    assert!(!stderr.contains("generating"), "{stderr}");
    assert_eq!(again["balanced"], true);
    assert_eq!(again["outputs"], {
        // Same world, same verdict counts (a fresh platform run admits everything again).
        let mut o = doc["outputs"].clone();
        for (_, v) in o.as_object_mut().unwrap() {
            v["balanced"] = Value::Bool(true);
        }
        o
    });
    assert_ne!(again["platform_run_id"], doc["platform_run_id"]);
    assert!(!std::path::Path::new(&first_run).exists(), "old run pruned");
    assert!(std::path::Path::new(again["run_dir"].as_str().unwrap()).exists());
}

#[test]
fn progress_is_a_bar_per_output_on_a_terminal_and_log_lines_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let fp = env!("CARGO_BIN_EXE_fp");
    let demo_dir = dir.path().join("demo");
    let args = format!(
        "{fp} demo --flows 1500 --days 2 --data-dir {}",
        demo_dir.display()
    );
    // Not a terminal: one summary line per output on stderr.
    let (_, stderr) = demo(dir.path());
    for id in ["s3_event_stream_with_fraud_6B", "arrival_events_5B"] {
        assert!(
            stderr.contains(&format!("{id}: ")) && stderr.contains(" sent in "),
            "{stderr}"
        );
    }
    // A terminal (a pty from util-linux `script`, when the machine has it): bars with
    // counts, rate and ETA, one per output.
    let Ok(out) = Command::new("script")
        .args(["-qec", &args, "/dev/null"])
        .env("FP_DATA_DIR", dir.path().join("data"))
        .current_dir(dir.path())
        .output()
    else {
        eprintln!("skipping the terminal half: `script` is not installed");
        return;
    };
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    for id in [
        "s3_event_stream_with_fraud_6B",
        "arrival_events_5B",
        "s1_arrival_entities_6B",
        "s3_flow_anchor_with_fraud_6B",
    ] {
        assert!(
            screen.contains(&format!("{id} ")),
            "no bar for {id}: {screen}"
        );
    }
    assert!(screen.contains(" eta "), "{screen}");
    assert!(
        screen.contains("/1,500"),
        "counts against the output's rows: {screen}"
    );
}
