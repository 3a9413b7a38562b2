//! The chain on the parity backends, as an operator runs it with the binary: a world made
//! READY by `fp sr run`, `fp ig serve` over HTTP with API-key auth, and `fp wsp run --ingress
//! http` streaming into it — platform objects on S3, both buses on Kinesis (moto), SR / IG /
//! WSP state in PostgreSQL. Every row of every streamed output lands on its Kinesis stream
//! exactly once.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use fp_bus::kinesis::{KinesisBus, KinesisConfig};
use fp_substrate::testing::{PgSchema, host_port, missing, reachable, unique};
use serde_json::Value;

mod common;

use common::ok;

const PRID: &str = "platform_20260104T000000Z";
const KEY: &str = "parity-wsp-key-91c2";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fp(data: &Path, profile: &Path, endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fp"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FP_DATA_DIR", data)
        .env("PLATFORM_RUN_ID", PRID)
        .env("FP_S3_ENDPOINT", endpoint)
        .env("FP_KINESIS_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("IG_API_KEYS", format!("world_stream_producer={KEY}"))
        .env("IG_CLIENT_API_KEY", KEY)
        .current_dir(data)
        .args(["--profile", profile.to_str().unwrap()]);
    cmd
}

#[test]
fn the_binary_chain_streams_over_http_onto_kinesis_with_postgres_state() {
    let test = "parity_stream";
    let Some(endpoint) = std::env::var("FP_TEST_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return missing(
            test,
            "S3 + Kinesis (moto)",
            "FP_TEST_S3_ENDPOINT is not set",
        )
        .unwrap_or(());
    };
    let Some((host, port)) = host_port(&endpoint, 80) else {
        return;
    };
    if !reachable(&host, port) {
        return missing(test, "S3 + Kinesis (moto)", "the endpoint does not answer").unwrap_or(());
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(pg) = rt.block_on(PgSchema::create(test)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    // The parity profile, isolated: its own bucket prefix, stream prefix and schema.
    let prefix = unique("wspbin");
    let ig_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let parity = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/profiles/local_parity.yaml"),
    )
    .unwrap()
    .replace(
        "url: s3://fraud-platform",
        &format!("url: s3://fp-test/{prefix}"),
    )
    .replace(
        "url: s3://oracle-store",
        &format!("url: s3://fp-test/{prefix}-oracle"),
    )
    .replace(
        "url: ${FP_PG_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}",
        &format!("url: \"{}\"", pg.url()),
    )
    .replace(
        "    kind: kinesis\n",
        &format!("    kind: kinesis\n    stream_prefix: {prefix}.\n"),
    )
    .replace("${FP_IG_PORT:-8081}", &ig_port.to_string());
    assert_eq!(parity.matches("stream_prefix").count(), 2, "{parity}");
    let profile = data.join("parity.yaml");
    std::fs::write(&profile, &parity).unwrap();

    // A world, sealed, with stream views; READY from SR on the Kinesis control bus.
    let summary = common::ready_world(
        || fp(data, &profile, &endpoint),
        data,
        &format!("parity-{prefix}"),
        1200,
        2,
    );

    // The gate as a service, then WSP over HTTP.
    let mut child = fp(data, &profile, &endpoint)
        .args(["ig", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(line.contains(&format!("127.0.0.1:{ig_port}")), "{line}");
    let out = ok(fp(data, &profile, &endpoint).args([
        "wsp",
        "run",
        "--ingress",
        "http",
        "--speedup",
        "max",
        "--json",
    ]));
    let outcome: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(outcome["status"], "STREAMED", "{outcome}");

    // Every row on its Kinesis stream, once.
    let rows = |id: &str| common::rows_of(&summary, id);
    let bus = rt
        .block_on(KinesisBus::connect(KinesisConfig {
            endpoint: Some(endpoint.clone()),
            region: "us-east-1".into(),
            stream_prefix: Some(format!("{prefix}.")),
            shards: 2,
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            ..KinesisConfig::default()
        }))
        .unwrap();
    for o in outcome["report"]["outputs"].as_array().unwrap() {
        let id = o["output_id"].as_str().unwrap();
        assert_eq!(o["tally"]["admitted"].as_u64().unwrap(), rows(id), "{id}");
        let topic = match id {
            "s3_event_stream_with_fraud_6B" => "fp.bus.traffic.fraud.v1",
            "arrival_events_5B" => "fp.bus.context.arrival_events.v1",
            "s1_arrival_entities_6B" => "fp.bus.context.arrival_entities.v1",
            "s3_flow_anchor_with_fraud_6B" => "fp.bus.context.flow_anchor.fraud.v1",
            other => panic!("unexpected output {other}"),
        };
        let all = rt.block_on(common::topic_event_ids(&bus, topic));
        let total = all.len() as u64;
        let ids: HashSet<String> = all.into_iter().collect();
        assert_eq!(total, rows(id), "{id}: records on Kinesis {topic}");
        assert_eq!(ids.len() as u64, total, "{id}: no event twice");
    }
}
