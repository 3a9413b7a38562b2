//! Ingestion Gate behaviour on the embedded bus, with the admission index on SQLite and on
//! PostgreSQL: admission, duplicates, replays with changed payloads, every bad input of
//! issue #6, run scope, receipts and quarantine evidence, recovery after a crash.
#![allow(clippy::unwrap_used)]

mod common;

use common::ig::*;
use fp_bus::ReadFrom;
use fp_ingress::ingestion_gate::{IngestionGate, Lookup, LookupHit, Outcome, Submission, audit};
use fp_rails::contracts::Contract;
use fp_rails::contracts::ingestion::{IgDecision, IngestionReceipt, QuarantineRecord};
use fp_substrate::testing::PgSchema;
use serde_json::{Value, json};

fn receipt(o: &Outcome) -> &IngestionReceipt {
    match o {
        Outcome::Decided { receipt, .. } => receipt,
        Outcome::Retry { error, detail } => panic!("retry {error}: {detail}"),
    }
}

fn reason(o: &Outcome) -> String {
    let r = receipt(o);
    assert_eq!(r.decision, IgDecision::Quarantine, "{r:?}");
    r.reason_codes.as_ref().unwrap()[0].clone()
}

async fn admit_raw(gate: &IngestionGate, raw: impl Into<bytes::Bytes>) -> Outcome {
    gate.admit(Submission::anonymous(raw)).await.unwrap()
}

async fn bus_count(h: &Harness, topic: &str) -> usize {
    let mut n = 0;
    for p in h.bus.partitions(topic).await.unwrap() {
        let b = h
            .bus
            .read(topic, p.partition, &ReadFrom::Earliest, 100_000)
            .await
            .unwrap();
        n += b.records.len();
    }
    n
}

const TOPIC: &str = "fp.bus.traffic.fraud.v1";

async fn admission_and_duplicates(h: Harness) {
    h.make_ready("READY").await;
    let gate = h.gate().await;
    let env = traffic_envelope(1);
    let first = admit_raw(&gate, bytes(&env)).await;
    let r = receipt(&first);
    assert_eq!(r.decision, IgDecision::Admit);
    r.check().unwrap();
    assert!(r.eb_ref.is_some() && r.payload_hash.is_some() && r.admitted_at_utc.is_some());
    assert_eq!(r.policy_rev.policy_id, "ig_policy");
    assert_eq!(r.actor.as_ref().unwrap().actor_id, "SYSTEM::ANONYMOUS");
    // The same event again: DUPLICATE with the original coordinates, no second bus record.
    let again = admit_raw(&gate, bytes(&env)).await;
    let d = receipt(&again);
    assert_eq!(d.decision, IgDecision::Duplicate);
    d.check().unwrap();
    assert_eq!(d.eb_ref, r.eb_ref);
    assert_eq!(
        d.reason_codes.as_deref(),
        Some(&["DUPLICATE".to_owned()][..])
    );
    assert_eq!(bus_count(&h, TOPIC).await, 1);
    // Same event id, changed payload: quarantined, never published.
    let mut changed = env.clone();
    changed["payload"]["amount"] = json!(999.0);
    let q = admit_raw(&gate, bytes(&changed)).await;
    assert_eq!(reason(&q), "PAYLOAD_HASH_MISMATCH");
    assert_eq!(bus_count(&h, TOPIC).await, 1);
    // A batch with a repeat inside: one record, one ADMIT, one DUPLICATE.
    let e2 = bytes(&traffic_envelope(2));
    let out = gate
        .admit_batch(vec![
            Submission::anonymous(e2.clone()),
            Submission::anonymous(e2),
        ])
        .await
        .unwrap();
    assert_eq!(out[0].decision(), Some(IgDecision::Admit));
    assert_eq!(out[1].decision(), Some(IgDecision::Duplicate));
    assert_eq!(receipt(&out[0]).eb_ref, receipt(&out[1]).eb_ref);
    assert_eq!(bus_count(&h, TOPIC).await, 2);
    // The bus carries exactly the submitted envelope.
    let hits = gate
        .index()
        .lookup(Lookup::EventId(
            env["event_id"].as_str().unwrap().to_owned(),
        ))
        .await
        .unwrap();
    assert!(
        hits.iter().any(|h| matches!(h, LookupHit::Admission(_))),
        "{hits:?}"
    );
    assert!(
        hits.iter()
            .any(|h| matches!(h, LookupHit::Quarantine { reason_code, .. } if reason_code == "PAYLOAD_HASH_MISMATCH"))
    );
    // Counters by decision, class and reason.
    let summary = gate.index().summary(Some(PRID.to_owned())).await.unwrap();
    let get = |d: &str, reason: &str| {
        summary
            .iter()
            .find(|(k, _)| k.decision == d && k.reason_code == reason)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    assert_eq!(get("ADMIT", ""), 2);
    assert_eq!(get("DUPLICATE", "DUPLICATE"), 2);
    assert_eq!(get("QUARANTINE", "PAYLOAD_HASH_MISMATCH"), 1);
    // A restarted gate still knows what it admitted.
    drop(gate);
    let gate = h.gate().await;
    assert_eq!(
        admit_raw(&gate, bytes(&env)).await.decision(),
        Some(IgDecision::Duplicate)
    );
}

async fn bad_inputs_are_quarantined_with_evidence(h: Harness) {
    h.make_ready("READY").await;
    let gate = h.gate().await;
    let good = traffic_envelope(7);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        bytes(&v)
    };
    let cases: Vec<(&str, bytes::Bytes, &str)> = vec![
        (
            "malformed JSON",
            bytes::Bytes::from_static(b"{\"event_id\": "),
            "ENVELOPE_INVALID",
        ),
        (
            "invalid UTF-8",
            bytes::Bytes::from_static(b"{\"event_id\":\"\xff\xfe\"}"),
            "ENVELOPE_INVALID",
        ),
        (
            "wrong type",
            with(&|v| v["seed"] = json!("forty-two")),
            "ENVELOPE_INVALID",
        ),
        (
            "unknown field",
            with(&|v| v["colour"] = json!("red")),
            "ENVELOPE_INVALID",
        ),
        (
            "ts with 3 digits",
            with(&|v| v["ts_utc"] = json!("2026-01-01T00:00:00.123Z")),
            "ENVELOPE_INVALID",
        ),
        (
            "missing pin",
            with(&|v| {
                v.as_object_mut().unwrap().remove("run_id");
            }),
            "PINS_MISSING",
        ),
        (
            "unknown type",
            with(&|v| v["event_type"] = json!("no_such_output")),
            "SCHEMA_POLICY_MISSING",
        ),
        (
            "payload fails schema",
            with(&|v| v["payload"]["flow_id"] = json!("x")),
            "SCHEMA_FAIL",
        ),
        (
            "rtdl without version",
            with(&|v| {
                v["event_type"] = json!("decision_response");
                v.as_object_mut().unwrap().remove("schema_version");
            }),
            "SCHEMA_VERSION_REQUIRED",
        ),
        (
            "rtdl wrong version",
            with(&|v| {
                v["event_type"] = json!("decision_response");
                v["schema_version"] = json!("v2");
            }),
            "SCHEMA_VERSION_NOT_ALLOWED",
        ),
        (
            "other world",
            with(&|v| v["manifest_fingerprint"] = json!("a".repeat(64))),
            "RUN_SCOPE_MISMATCH",
        ),
        (
            "output not in run",
            with(&|v| {
                v["event_type"] = json!("s1_arrival_entities_6B");
                v["payload"] = Value::Object(engine_payload("s1_arrival_entities_6B", 7));
            }),
            "GATE_NOT_PASSED",
        ),
        (
            "unknown scenario run",
            with(&|v| v["scenario_run_id"] = json!("0".repeat(32))),
            "RUN_NOT_READY",
        ),
    ];
    for (name, raw, want) in cases {
        let out = admit_raw(&gate, raw.clone()).await;
        let r = receipt(&out);
        assert_eq!(r.decision, IgDecision::Quarantine, "{name}: {r:?}");
        assert_eq!(reason(&out), want, "{name}");
        r.check()
            .unwrap_or_else(|e| panic!("{name}: receipt breaks its contract: {e}"));
        // The raw bytes are kept by digest, exactly; the record points at them.
        let refs = r.evidence_refs.as_ref().unwrap();
        let raw_ref = refs.iter().find(|e| e.kind == "raw_bytes").unwrap();
        let raw_path = h
            .objects
            .root()
            .relative_of(&raw_ref.reference)
            .unwrap()
            .to_owned();
        assert_eq!(h.objects.get(&raw_path).await.unwrap(), raw, "{name}");
        let rec_ref = refs.iter().find(|e| e.kind == "quarantine_record").unwrap();
        let rec_path = h
            .objects
            .root()
            .relative_of(&rec_ref.reference)
            .unwrap()
            .to_owned();
        let rec: QuarantineRecord =
            serde_json::from_slice(&h.objects.get(&rec_path).await.unwrap()).unwrap();
        rec.check().unwrap();
        assert!(
            rec.envelope
                .as_ref()
                .is_none_or(|e| !e.contains_key("payload"))
        );
    }
    assert_eq!(bus_count(&h, TOPIC).await, 0, "nothing bad reached the bus");
    // The same envelope is admitted once the input is right.
    assert_eq!(
        admit_raw(&gate, bytes(&good)).await.decision(),
        Some(IgDecision::Admit)
    );
}

async fn run_not_ready_then_ready(h: Harness) {
    h.make_ready("EXECUTING").await;
    let gate = h.gate().await;
    let env = bytes(&traffic_envelope(3));
    assert_eq!(
        reason(&admit_raw(&gate, env.clone()).await),
        "RUN_NOT_READY"
    );
    h.make_ready("READY").await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        admit_raw(&gate, env).await.decision(),
        Some(IgDecision::Admit)
    );
}

/// A gate that died after claiming and publishing but before committing: on restart the
/// embedded bus is the truth. Published rows become ADMITTED (a retry is a DUPLICATE, no
/// second record); unpublished ones are released (a retry admits them once).
async fn restart_settles_in_flight_rows(h: Harness) {
    use fp_ingress::ingestion_gate::index::{AdmissionIndex, Claim};
    h.make_ready("READY").await;
    let gate = h.gate().await;
    drop(gate);
    let published = traffic_envelope(10);
    let lost = traffic_envelope(11);
    let index = AdmissionIndex::open(h.sql.clone()).await.unwrap();
    let policy = fp_ingress::ingestion_gate::IgPolicy::builtin("platform-v0").unwrap();
    let rule = policy.rule(TRAFFIC);
    let mut claims = Vec::new();
    for env in [&published, &lost] {
        let e: fp_rails::CanonicalEnvelope = serde_json::from_value(env.clone()).unwrap();
        claims.push(Claim {
            dedupe_key: fp_rails::ids::ig_dedupe_key(PRID, &rule.event_class, &e.event_id),
            platform_run_id: PRID.into(),
            event_class: rule.event_class.to_string(),
            event_id: e.event_id.clone(),
            payload_hash: e.payload_hash(),
            topic: TOPIC.into(),
            partition_key: rule.profile.derive_key(&e).unwrap(),
        });
    }
    index.claim(&claims, 2).await.unwrap();
    h.bus
        .publish(
            TOPIC,
            fp_bus::OutRecord::new(claims[0].partition_key.clone(), bytes(&published)),
        )
        .await
        .unwrap();
    drop(index);
    // "Restart".
    let gate = h.gate().await;
    assert!(gate.index().unresolved().await.unwrap().is_empty());
    assert_eq!(
        admit_raw(&gate, bytes(&published)).await.decision(),
        Some(IgDecision::Duplicate)
    );
    assert_eq!(
        admit_raw(&gate, bytes(&lost)).await.decision(),
        Some(IgDecision::Admit)
    );
    assert_eq!(bus_count(&h, TOPIC).await, 2);
}

/// Claims held in memory (SQLite index on the embedded log): a gate that died after its
/// publish but before its commit leaves no journal row at all. On restart the log past the
/// journal's marks is the truth: what is there is admitted, so a retry is a DUPLICATE and the
/// bus holds each event once; a later restart finds nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_restart_admits_the_uncommitted_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("state.db").display());
    let h = Harness::new(dir.path(), &url).await;
    h.make_ready("READY").await;
    let first = traffic_envelope(20);
    let orphan = traffic_envelope(21);
    let later = traffic_envelope(22);
    let gate = h.gate().await;
    assert_eq!(
        admit_raw(&gate, bytes(&first)).await.decision(),
        Some(IgDecision::Admit)
    );
    drop(gate);
    // What a publish without its commit leaves: the record on the log, nothing in the index.
    let policy = fp_ingress::ingestion_gate::IgPolicy::builtin("platform-v0").unwrap();
    let e: fp_rails::CanonicalEnvelope = serde_json::from_value(orphan.clone()).unwrap();
    let key = policy.rule(TRAFFIC).profile.derive_key(&e).unwrap();
    h.bus
        .publish(TOPIC, fp_bus::OutRecord::new(key, bytes(&orphan)))
        .await
        .unwrap();
    // "Restart".
    let gate = h.gate().await;
    assert!(gate.index().unresolved().await.unwrap().is_empty());
    for env in [&first, &orphan] {
        assert_eq!(
            admit_raw(&gate, bytes(env)).await.decision(),
            Some(IgDecision::Duplicate)
        );
    }
    assert_eq!(
        admit_raw(&gate, bytes(&later)).await.decision(),
        Some(IgDecision::Admit)
    );
    assert_eq!(bus_count(&h, TOPIC).await, 3);
    drop(gate);
    let gate = h.gate().await;
    for env in [&first, &orphan, &later] {
        assert_eq!(
            admit_raw(&gate, bytes(env)).await.decision(),
            Some(IgDecision::Duplicate)
        );
    }
    assert_eq!(bus_count(&h, TOPIC).await, 3, "each event on the bus once");
}

macro_rules! on_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite:{}", dir.path().join("state.db").display());
                    super::$name(Harness::new(dir.path(), &url).await).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(pg) = PgSchema::create(stringify!($name)).await else { return };
                    let dir = tempfile::tempdir().unwrap();
                    super::$name(Harness::new(dir.path(), &pg.url()).await).await;
                }
            )*
        }
    };
}

/// The parity wiring: PostgreSQL index and Kinesis (moto) bus.
mod parity {
    use std::sync::Arc;

    use fp_bus::kinesis::{KinesisBus, KinesisConfig};
    use fp_substrate::testing::{host_port, missing, reachable, unique};

    use super::*;

    async fn harness(test: &str, dir: &std::path::Path) -> Option<(Harness, PgSchema)> {
        let url = std::env::var("FP_TEST_KINESIS_ENDPOINT")
            .ok()
            .or_else(|| std::env::var("FP_TEST_S3_ENDPOINT").ok())
            .filter(|v| !v.is_empty());
        let Some(url) = url else {
            return missing(test, "Kinesis (moto)", "FP_TEST_S3_ENDPOINT is not set");
        };
        let (host, port) = host_port(&url, 80)?;
        if !reachable(&host, port) {
            return missing(test, "Kinesis (moto)", "the endpoint does not answer");
        }
        let pg = PgSchema::create(test).await?;
        let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "testing".to_owned());
        let bus = KinesisBus::connect(KinesisConfig {
            endpoint: Some(url),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
            stream_prefix: Some(format!("{}.", unique("ig"))),
            shards: 2,
            access_key_id: Some(env("AWS_ACCESS_KEY_ID")),
            secret_access_key: Some(env("AWS_SECRET_ACCESS_KEY")),
            ..KinesisConfig::default()
        })
        .await
        .unwrap();
        let h = Harness::with_bus(dir, &pg.url(), Arc::new(bus), 2).await;
        Some((h, pg))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admission_and_duplicates_on_kinesis_and_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let Some((h, _pg)) = harness("ig_parity_admission", dir.path()).await else {
            return;
        };
        super::admission_and_duplicates(h).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_inputs_on_kinesis_and_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let Some((h, _pg)) = harness("ig_parity_bad_inputs", dir.path()).await else {
            return;
        };
        super::bad_inputs_are_quarantined_with_evidence(h).await;
    }
}

/// Audit records of one event type on `fp.bus.audit.v1`, their payloads checked against the
/// contract.
async fn audit_payloads(h: &Harness, event_type: &str, schema: &str) -> Vec<Value> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../contracts/ig_audit")
                .join(schema),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut out = Vec::new();
    for p in h.bus.partitions(audit::AUDIT_TOPIC).await.unwrap() {
        let b = h
            .bus
            .read(audit::AUDIT_TOPIC, p.partition, &ReadFrom::Earliest, 1000)
            .await
            .unwrap();
        for r in b.records {
            let env: Value = serde_json::from_slice(&r.value).unwrap();
            if env["event_type"] != event_type {
                continue;
            }
            // The reference's event id recipe, recomputed here from the fields.
            let id = fp_rails::digest::sha256_hex(format!(
                "{event_type}:{}:{}",
                env["ts_utc"].as_str().unwrap(),
                fp_rails::canonical::cj(&env["payload"])
            ));
            assert_eq!(env["event_id"], id);
            assert_eq!(env["manifest_fingerprint"], "0".repeat(64));
            let errors: Vec<String> = validator
                .iter_errors(&env["payload"])
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{event_type}: {errors:?}");
            out.push(env["payload"].clone());
        }
    }
    out
}

async fn audit_events_on_activation_and_spike(h: Harness) {
    h.make_ready("READY").await;
    let mut cfg = h.config();
    cfg.quarantine_spike = audit::SpikePolicy {
        threshold: 3,
        window: std::time::Duration::from_secs(3600),
    };
    let digest = cfg.policy.policy_rev().content_digest.clone().unwrap();
    let gate = h.gate_with(cfg.clone()).await;
    let activations = audit_payloads(&h, audit::POLICY_ACTIVATION, ACTIVATION_SCHEMA).await;
    assert_eq!(activations.len(), 1, "{activations:?}");
    assert_eq!(activations[0]["content_digest"], digest.as_str());
    assert_eq!(activations[0]["policy_id"], "ig_policy");
    // Restarting with the same policy activates nothing new.
    drop(gate);
    let gate = h.gate_with(cfg).await;
    assert_eq!(
        audit_payloads(&h, audit::POLICY_ACTIVATION, ACTIVATION_SCHEMA)
            .await
            .len(),
        1
    );
    // Below the threshold: no spike; admissions are not counted.
    admit_raw(&gate, bytes(&traffic_envelope(1))).await;
    for n in 0..2 {
        let q = admit_raw(&gate, format!("not json {n}")).await;
        assert_eq!(reason(&q), "ENVELOPE_INVALID");
    }
    assert!(
        audit_payloads(&h, audit::QUARANTINE_SPIKE, SPIKE_SCHEMA)
            .await
            .is_empty()
    );
    // The third within the window is a spike, reported once however many follow.
    let batch: Vec<Submission> = (0..5)
        .map(|n| Submission::anonymous(format!("still not json {n}")))
        .collect();
    gate.admit_batch(batch).await.unwrap();
    admit_raw(&gate, "one more").await;
    let spikes = audit_payloads(&h, audit::QUARANTINE_SPIKE, SPIKE_SCHEMA).await;
    assert_eq!(spikes.len(), 1, "{spikes:?}");
    assert_eq!(spikes[0]["quarantine_count"], 7);
    assert_eq!(spikes[0]["window_seconds"], 3600);
}

const ACTIVATION_SCHEMA: &str = "ig_policy_activation.schema.json";
const SPIKE_SCHEMA: &str = "ig_quarantine_spike.schema.json";

on_backends!(
    admission_and_duplicates,
    bad_inputs_are_quarantined_with_evidence,
    run_not_ready_then_ready,
    restart_settles_in_flight_rows,
    audit_events_on_activation_and_spike,
);
