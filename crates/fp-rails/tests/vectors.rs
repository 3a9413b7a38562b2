//! Contracts §21: every test vector of the Python reference, reproduced byte for byte.

use fp_rails::eb::{EbRef, OffsetKind};
use fp_rails::envelope::CanonicalEnvelope;
use fp_rails::ids::{
    self, BundleRefKey, DatasetIdentity, EvidenceRefKey, LabelHashFields, ReplayRange,
};
use fp_rails::{ContextPins, Hex32, Hex64, PlatformRunId};
use serde_json::json;

const P: &str = "platform_20260101T000000Z";
const EQUIV_KEY: &str = "demo-equivalence-key";
const SCENARIO: &str = "baseline_v1";
const SEED: u64 = 42;
const TRAFFIC: &str = "s3_event_stream_with_fraud_6B";

fn mf() -> String {
    "0123456789abcdef".repeat(4)
}
fn ph() -> String {
    "fedcba9876543210".repeat(4)
}
fn s() -> Hex32 {
    ids::scenario_run_id(EQUIV_KEY)
}

fn engine_event_id() -> Hex64 {
    // primary key of s3_event_stream_with_fraud_6B: seed, manifest_fingerprint, scenario_id,
    // flow_id, event_seq
    let pk = [
        json!(SEED),
        json!(mf()),
        json!(SCENARIO),
        json!(1001),
        json!(3),
    ];
    ids::engine_event_id(
        TRAFFIC,
        &pk,
        Some(&mf()),
        Some(&ph()),
        Some(SEED),
        Some(SCENARIO),
    )
}

fn pins() -> ContextPins {
    ContextPins {
        platform_run_id: PlatformRunId::parse(P).expect("valid run id"),
        scenario_run_id: s(),
        manifest_fingerprint: Hex64::parse(mf()).expect("hex64"),
        parameter_hash: Hex64::parse(ph()).expect("hex64"),
        scenario_id: SCENARIO.into(),
        seed: SEED,
        run_id: None,
    }
}

fn decision_id() -> Hex32 {
    let origin = EbRef {
        topic: "fp.bus.traffic.fraud.v1".into(),
        partition: 0,
        offset: "17".into(),
        offset_kind: OffsetKind::KafkaOffset,
        published_at_utc: None,
    };
    let bundle = BundleRefKey {
        bundle_id: &"1".repeat(64),
        bundle_version: "v0",
        registry_ref: "registry://local_parity/fraud/primary",
    };
    ids::df_decision_id(
        engine_event_id().as_str(),
        P,
        "fraud.primary",
        &bundle,
        &origin,
    )
}

#[test]
fn scenario_runner_ids() {
    assert_eq!(s().as_str(), "f99075b467eefd8598b7ca9aca767b16");
    assert_eq!(
        ids::attempt_id(&s(), 1).as_str(),
        "6bd4bed678138143ddbf9853dc80023c"
    );
    assert_eq!(
        ids::ready_message_id(P, s().as_str(), &"a".repeat(64)).as_str(),
        "9df1b88a5509aa87c6122dff7bb8e2e0068141a5d9089b409f0e769f1b5a6d07"
    );
}

#[test]
fn ingress_ids() {
    let e = engine_event_id();
    assert_eq!(
        e.as_str(),
        "7670878a10f8387c8adc9d33728383b3ee93b64d0d843bd9bf4a9064f3e72b9c"
    );
    assert_eq!(
        ids::ig_dedupe_key(P, "traffic_fraud", e.as_str()).as_str(),
        "9cf6f6d2fc182fd45ed557dbba87d627616f238de58fcdf137646ca0485f2071"
    );
    assert_eq!(
        ids::ig_receipt_id("ADMIT", e.as_str()).as_str(),
        "46141caafb6d64034d5a741efc7d40e7"
    );
    assert_eq!(
        ids::partition_key(&json!(1001)).as_str(),
        "fe675fe7aaee830b6fed09b64e034f84dcbdaeb429d9cccd4ebb90e15af8dd71"
    );
}

#[test]
fn payload_hash_of_an_envelope() {
    let env = CanonicalEnvelope::from_value(json!({
        "event_id": engine_event_id().as_str(),
        "event_type": TRAFFIC,
        "schema_version": "v1",
        "ts_utc": "2026-01-01T00:00:00.000000Z",
        "manifest_fingerprint": mf(),
        "payload": {"flow_id": 1001, "amount": 25.99},
    }))
    .expect("valid envelope");
    assert_eq!(
        env.payload_hash().as_str(),
        "5aa62b9dce057171c21ec5e111d6c2d5956543ba72cc07d295a8a8425e354a51"
    );
}

#[test]
fn decision_fabric_ids() {
    let e = engine_event_id();
    let d = decision_id();
    assert_eq!(d.as_str(), "4278d60ac268a1517dff712f62c02a64");
    assert_eq!(
        ids::df_decision_event_id(e.as_str(), "fraud.primary", &pins()).as_str(),
        "02c91b2a798c3f48ee8feec55f09ba2c9f7c26fa03438a19bb2408964ba8eca4"
    );
    assert_eq!(
        ids::df_idempotency_key(e.as_str(), "step_up", &pins()).as_str(),
        "bf9fd029a326d052dda1c867deb69843d6ef19734673387338df8d4b785f143b"
    );
    assert_eq!(
        ids::df_action_id(&d, "STEP_UP").as_str(),
        "d7d6257ad0d3584993f21a219b3e9545"
    );
}

#[test]
fn case_and_label_ids() {
    let e = engine_event_id();
    let d = decision_id();
    let case = ids::case_id(P, "traffic_fraud", e.as_str());
    assert_eq!(case.as_str(), "6db13a1ac8cd0ad142dd67f6c5c617c6");
    let trigger = ids::case_trigger_id(&case, "DECISION_ESCALATION", &format!("decision:{d}"));
    assert_eq!(trigger.as_str(), "3ca91c66f4fa5482d90590cd399e135c");
    let timeline = ids::case_timeline_event_id(&case, "CASE_TRIGGERED", trigger.as_str());
    assert_eq!(timeline.as_str(), "6de12e7f6fea10a7c0fabca657a20796");
    assert_eq!(
        ids::label_assertion_id(&timeline, P, e.as_str(), "fraud_disposition").as_str(),
        "078cc9dfef1e9ce4811c0387be4df19b"
    );
    let evidence = [EvidenceRefKey {
        ref_type: "DECISION".into(),
        ref_id: d.to_string(),
        ref_scope: String::new(),
    }];
    let t = "2026-01-01T00:00:01.000000Z";
    let h = ids::label_payload_hash(&LabelHashFields {
        platform_run_id: P,
        event_id: e.as_str(),
        label_type: "fraud_disposition",
        label_value: "FRAUD_SUSPECTED",
        effective_time: t,
        observed_time: t,
        source_type: "AUTO",
        actor_id: Some("SYSTEM::case_mgmt_worker"),
        evidence_refs: &evidence,
    });
    assert_eq!(
        h.as_str(),
        "a23d2d34c1519615c10111908cca4089409b1b26499a480c64e21184722b7df4"
    );
}

#[test]
fn dataset_ids() {
    let identity = DatasetIdentity {
        platform_run_id: P.into(),
        scenario_run_ids: vec![s().to_string()],
        replay_basis: vec![ReplayRange {
            topic: "fp.bus.traffic.fraud.v1".into(),
            partition: 0,
            offset_kind: "kafka_offset".into(),
            start_offset: "0".into(),
            end_offset: "100".into(),
        }],
        label_basis: json!({
            "label_asof_utc": "2026-02-01T00:00:00.000000Z",
            "resolution_rule": "latest_observed",
        }),
        feature_definition_set: json!({"feature_set_id": "core_features", "feature_set_version": "v1"}),
        join_scope: json!({}),
        filters: json!({}),
        policy_revision: "r1".into(),
        config_revision: "c1".into(),
        ofs_code_release_id: "git:abc".into(),
    };
    let fp = identity.fingerprint();
    assert_eq!(
        fp.as_str(),
        "e2918c76dabe39412b0aa2639913f4ceeecfc1d7022685cdfa7498d939bd2c8f"
    );
    assert_eq!(
        ids::dataset_manifest_id(&fp),
        "dm_39bd047b0be908cd366e61cee21d8c30"
    );
}
