//! The `fp` binary as a user runs it: output, redaction, exit codes, one-line errors.

use std::process::{Command, Output};

fn fp(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fp"));
    // A clean environment: only what the test passes (plus PATH for the loader).
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().expect("fp runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const PARITY_ENV: &[(&str, &str)] = &[
    ("FP_S3_ENDPOINT", "http://127.0.0.1:5999"),
    ("FP_KINESIS_ENDPOINT", "http://127.0.0.1:5999"),
    ("AWS_ACCESS_KEY_ID", "AKIA-TEST-ACCESS-KEY"),
    ("AWS_SECRET_ACCESS_KEY", "top-secret-value-42"),
    ("IG_API_KEYS", "wsp-secret-key,df-secret-key"),
    ("IG_CLIENT_API_KEY", "wsp-secret-key"),
];

#[test]
fn profile_show_redacts_secrets_from_the_environment() {
    let out = fp(
        &["profile", "show", "--profile", "local_parity"],
        PARITY_ENV,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    for (_, secret) in &PARITY_ENV[2..] {
        for part in secret.split(',') {
            assert!(!stdout.contains(part), "secret {part} printed:\n{stdout}");
        }
    }
    assert!(stdout.contains("***"), "{stdout}");
    assert!(stdout.contains("policy_rev"), "{stdout}");
    assert!(
        stdout.contains("http://127.0.0.1:5999"),
        "plain wiring is shown:\n{stdout}"
    );

    let out = fp(
        &[
            "profile",
            "show",
            "--profile",
            "local_parity",
            "--format",
            "json",
        ],
        PARITY_ENV,
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(doc["wiring"]["ingestion_gate"]["auth"]["api_keys"], "***");
    assert_eq!(doc["policy_rev"]["policy_id"], "fp.platform.policy");
    assert_eq!(
        doc["policy_rev"]["content_digest"].as_str().map(str::len),
        Some(64)
    );
}

#[test]
fn missing_variable_fails_with_its_name() {
    let env: Vec<(&str, &str)> = PARITY_ENV
        .iter()
        .copied()
        .filter(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY")
        .collect();
    let out = fp(&["profile", "show", "--profile", "local_parity"], &env);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("AWS_SECRET_ACCESS_KEY"), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn local_profile_needs_nothing() {
    let out = fp(&["profile", "show"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("profile_id: local"));
}

#[test]
fn help_lists_the_planned_components_and_planned_ones_refuse_clearly() {
    let out = fp(&["--help"], &[]);
    let help = text(&out.stdout);
    for sub in [
        "demo", "world", "oracle", "sr", "wsp", "ig", "eb", "rtdl", "audit", "profile", "version",
    ] {
        assert!(
            help.contains(&format!("  {sub} ")),
            "missing {sub} in:\n{help}"
        );
    }
    let out = fp(&["rtdl", "run"], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("issue #8"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn wsp_without_ready_says_what_to_do_and_bad_speedups_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let out = fp(&["wsp", "run"], &[("FP_DATA_DIR", data)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no READY on the control bus"),
        "{}",
        text(&out.stderr)
    );
    for bad in ["0", "-3", "fast", "NaN"] {
        let flag = format!("--speedup={bad}");
        let out = fp(&["wsp", "run", &flag], &[("FP_DATA_DIR", data)]);
        assert!(!out.status.success(), "--speedup {bad} accepted");
        assert!(
            text(&out.stderr).contains("--speedup must be `max` or a positive number"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn unknown_profile_and_bad_flags_fail() {
    let out = fp(&["profile", "show", "--profile", "nope"], &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("local_parity"),
        "lists known profiles"
    );
    let out = fp(&["profile", "show", "--format", "xml"], &[]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn version_prints() {
    let out = fp(&["version", "--json"], &[]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["fp"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn world_generate_prints_the_mix_verifies_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("world");
    let root_s = root.to_str().expect("utf-8 path");
    let out = fp(
        &[
            "world",
            "generate",
            "--out",
            root_s,
            "--flows",
            "600",
            "--fraud-rate",
            "0.05",
            "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(summary["flows"], 600);
    let fraud = summary["fraud_flows"].as_u64().expect("fraud_flows");
    assert!(fraud > 0 && fraud < 600, "{summary}");
    assert!(
        summary["campaign_mix"]
            .as_object()
            .is_some_and(|m| !m.is_empty()),
        "{summary}"
    );
    assert_eq!(summary["gates"].as_object().map(|g| g.len()), Some(10));

    let out = fp(&["world", "verify", root_s], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("OK "),
        "{}",
        text(&out.stdout)
    );

    let again = fp(
        &["world", "generate", "--out", root_s, "--flows", "600"],
        &[],
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("never overwritten"),
        "{}",
        text(&again.stderr)
    );

    // seal, re-seal (no-op), stream views built then reused
    let out = fp(&["oracle", "seal", root_s], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("sealed"),
        "{}",
        text(&out.stdout)
    );
    let out = fp(&["oracle", "seal", root_s], &[]);
    assert!(
        text(&out.stdout).contains("already sealed"),
        "{}",
        text(&out.stdout)
    );
    let out = fp(&["oracle", "stream-view", root_s], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).matches("built").count(),
        6,
        "{}",
        text(&out.stdout)
    );
    let out = fp(&["oracle", "stream-view", root_s], &[]);
    assert_eq!(
        text(&out.stdout).matches("reused").count(),
        6,
        "{}",
        text(&out.stdout)
    );

    // a deleted gate flag is named by verify
    let flag = root.join(format!(
        "data/layer3/6B/validation/manifest_fingerprint={}/_passed.flag",
        summary["manifest_fingerprint"].as_str().expect("mf")
    ));
    std::fs::remove_file(&flag).expect("flag exists");
    let out = fp(&["world", "verify", root_s], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("_passed.flag") || err.contains("6B"), "{err}");
}

#[test]
fn eb_tail_and_replay_show_exactly_what_was_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8").to_owned();
    let env = [("FP_DATA_DIR", data.as_str())];
    let out = fp(&["eb", "provision"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // publish through the library, then close the bus so the CLI can open it
    let topic = "fp.bus.traffic.fraud.v1";
    let published: Vec<fp_rails::EbRef> = {
        let bus =
            fp_bus::EmbeddedBus::open(dir.path().join("bus"), fp_bus::EmbeddedConfig::default())
                .expect("open bus");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let records = (0..25)
            .map(|i| {
                let key = fp_rails::ids::partition_key(&serde_json::json!(1000 + i));
                fp_bus::OutRecord::new(
                    key,
                    serde_json::to_vec(&serde_json::json!({"n": i})).expect("json"),
                )
            })
            .collect();
        use fp_bus::EventBus as _;
        rt.block_on(bus.publish_batch(topic, records))
            .expect("publish")
    };

    let out = fp(&["eb", "tail", topic], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 25);
    let mut seen: Vec<i64> = lines
        .iter()
        .map(|l| l["value"]["n"].as_i64().expect("n"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..25).collect::<Vec<_>>());
    // every line sits at the eb_ref the bus acknowledged
    for r in &published {
        assert!(
            lines
                .iter()
                .any(|l| l["partition"] == r.partition && l["offset"] == r.offset.as_str()),
            "missing {r:?}"
        );
    }

    // one partition from an offset
    let p = published[0].partition.to_string();
    let out = fp(
        &[
            "eb",
            "tail",
            topic,
            "--partition",
            &p,
            "--from",
            "1",
            "--limit",
            "2",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let offsets: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["offset"]
                .as_str()
                .expect("offset")
                .to_owned()
        })
        .collect();
    assert!(
        offsets.len() <= 2 && offsets.iter().all(|o| o != "0"),
        "{offsets:?}"
    );

    let file = dir.path().join("replay.jsonl");
    let out = fp(
        &[
            "eb",
            "replay",
            topic,
            "--out",
            file.to_str().expect("utf-8"),
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replayed = std::fs::read_to_string(&file).expect("replay file");
    assert_eq!(replayed.lines().count(), 25);

    let out = fp(&["eb", "describe", "fp.bus.nope.v1"], &env);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown topic"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sr_run_reaches_ready_once_and_publishes_one_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8").to_owned();
    let env = [("FP_DATA_DIR", data_s.as_str())];
    let world = dir.path().join("world");
    let world_s = world.to_str().expect("utf-8");
    let out = fp(
        &[
            "world", "generate", "--out", world_s, "--flows", "400", "--json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    let request = serde_json::json!({
        "run_equivalence_key": "cli-test",
        "manifest_fingerprint": summary["manifest_fingerprint"],
        "parameter_hash": summary["parameter_hash"],
        "seed": summary["seed"],
        "scenario_id": summary["scenario_id"],
        "engine_run_root": world_s,
        "traffic_mode": "fraud",
    });
    let req = dir.path().join("request.json");
    std::fs::write(&req, request.to_string()).expect("write request");
    let req_s = req.to_str().expect("utf-8");

    let first = fp(&["sr", "run", "--request", req_s], &env);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).expect("outcome");
    assert_eq!(first["state"], "READY", "{first}");
    let run_id = first["run_id"].as_str().expect("run_id").to_owned();
    assert_eq!(run_id, fp_rails::ids::scenario_run_id("cli-test").as_str());

    // the same request again: the same run and READY message, nothing new published
    let again = fp(&["sr", "run", "--request", req_s], &env);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).expect("outcome");
    assert_eq!(again["ready_message_id"], first["ready_message_id"]);
    let status = fp(&["sr", "status", &run_id], &env);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status");
    assert_eq!(status["state"], "READY");

    let tail = fp(&["eb", "tail", "fp.bus.control.v1", "--control"], &env);
    assert!(tail.status.success(), "{}", text(&tail.stderr));
    let ready: Vec<serde_json::Value> = text(&tail.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    assert_eq!(ready.len(), 1, "one READY message: {ready:?}");
    assert_eq!(ready[0]["value"]["message_id"], first["ready_message_id"]);

    let bad = fp(&["sr", "status", "not-a-run"], &env);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("32-hex"),
        "{}",
        text(&bad.stderr)
    );
}
