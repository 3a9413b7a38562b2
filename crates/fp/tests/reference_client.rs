//! A client written to the reference API, unchanged, against `fp ig serve`: a Python script
//! that frames an engine row the way the reference WSP does (its event-id recipe, its
//! `ts_utc` normalisation, `json.dumps` with Python's separators and ASCII escapes) and posts
//! it with the `X-IG-Api-Key` header to `POST /v1/ingest/push`. The gate must admit it, answer
//! a DUPLICATE for the resend, and agree with the Rust recipe on the event id.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../fp-ingress/tests/common/ig.rs"]
#[allow(dead_code)]
mod ig;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const KEY: &str = "ref-client-key-7f3a";

const CLIENT: &str = r#"
import hashlib, json, sys, urllib.request, urllib.error
from datetime import datetime, timezone

url, key, row_json, pins_json, pk_json = sys.argv[1:6]
row, pins, pk = json.loads(row_json), json.loads(pins_json), json.loads(pk_json)
output_id = "s3_event_stream_with_fraud_6B"

# ingestion_gate/ids.py::derive_engine_event_id
parts = [output_id] + [str(row[k]) for k in pk] + [
    str(v) for v in (pins["manifest_fingerprint"], pins["parameter_hash"], pins["seed"],
                     pins["scenario_id"]) if v is not None]
event_id = hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()

def normalize(ts):
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

envelope = {
    "event_id": event_id, "event_type": output_id, "schema_version": "v1",
    "ts_utc": normalize(row["ts_utc"]),
    "manifest_fingerprint": pins["manifest_fingerprint"], "parameter_hash": pins["parameter_hash"],
    "seed": pins["seed"], "scenario_id": pins["scenario_id"], "run_id": pins["run_id"],
    "platform_run_id": pins["platform_run_id"], "scenario_run_id": pins["scenario_run_id"],
    "producer": "svc:world_stream_producer", "payload": row,
}
body = json.dumps(envelope).encode("utf-8")   # requests' json= does exactly this
for _ in range(2):
    req = urllib.request.Request(url + "/v1/ingest/push", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-IG-Api-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            print(json.dumps({"status": r.status, "body": json.loads(r.read())}))
    except urllib.error.HTTPError as e:
        print(json.dumps({"status": e.code, "body": json.loads(e.read() or b"{}")}))
"#;

#[test]
fn a_reference_client_push_is_admitted_then_duplicate() {
    if Command::new("python3").arg("--version").output().is_err() {
        if std::env::var("FP_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("python3 is required for the reference-client test");
        }
        eprintln!("skipping: python3 not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // A READY run, as SR leaves it, in the profile's object store.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(common::make_ready(data, ig::PRID, ig::SRID));
    // The local profile with API-key auth.
    let local = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/profiles/local.yaml"),
    )
    .unwrap();
    let keyed = local.replace(
        "      mode: disabled",
        "      mode: api_key\n      api_keys: ${secret:IG_API_KEYS}",
    );
    assert_ne!(
        keyed, local,
        "the local profile's auth block moved; update this test"
    );
    let profile = data.join("keyed.yaml");
    std::fs::write(&profile, keyed).unwrap();

    let mut server = Command::new(env!("CARGO_BIN_EXE_fp"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FP_DATA_DIR", data)
        .env("PLATFORM_RUN_ID", ig::PRID)
        .env("IG_API_KEYS", format!("world_stream_producer={KEY}"))
        .current_dir(data)
        .args(["--profile", profile.to_str().unwrap()])
        .args(["ig", "serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");

    let row = ig::engine_payload(ig::TRAFFIC, 77);
    let pins = json!({
        "manifest_fingerprint": ig::MF, "parameter_hash": ig::PH, "seed": 42,
        "scenario_id": "baseline_v1", "run_id": ig::SRID, "platform_run_id": ig::PRID,
        "scenario_run_id": ig::SRID,
    });
    let pk = fp_world::catalogue::output(ig::TRAFFIC)
        .unwrap()
        .primary_key;
    let out = Command::new("python3")
        .args(["-c", CLIENT, &url, KEY])
        .arg(Value::Object(row.clone()).to_string())
        .arg(pins.to_string())
        .arg(json!(pk).to_string())
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 2);
    let (first, second) = (&answers[0], &answers[1]);
    assert_eq!(first["status"], 200, "{first}");
    assert_eq!(first["body"]["decision"], "ADMIT", "{first}");
    assert_eq!(second["body"]["decision"], "DUPLICATE", "{second}");
    assert_eq!(
        first["body"]["receipt"]["actor"]["actor_id"],
        "SYSTEM::world_stream_producer"
    );
    // The Python recipe and ours name the row the same.
    let key: Vec<Value> = pk.iter().map(|k| row[*k].clone()).collect();
    let ours = fp_rails::ids::engine_event_id(
        ig::TRAFFIC,
        &key,
        Some(ig::MF),
        Some(ig::PH),
        Some(42),
        Some("baseline_v1"),
    );
    assert_eq!(first["body"]["receipt"]["event_id"], ours.as_str());
    assert_eq!(
        second["body"]["receipt"]["eb_ref"],
        first["body"]["receipt"]["eb_ref"]
    );
}
