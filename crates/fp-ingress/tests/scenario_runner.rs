//! Scenario Runner end to end: small worlds in tempdirs, local-dir object store, SQLite,
//! embedded bus.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fp_bus::topics::CONTROL;
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus, ReadFrom};
use std::time::Duration;

use fp_ingress::scenario_runner::{
    ControlMessage, ReemitKind, RunRecordEvent, SrSchemas, TRAFFIC_DELIVERY_MODE, check_ledger,
    request as sr_request,
};
use fp_ingress::{RunRequest, RunState, ScenarioRunner, SrConfig, SrError, SrPolicy, TrafficMode};
use fp_rails::contracts::scenario_runner::{
    ControlKind, GenerateSpec, RunFactsView, RunPlan, Strategy, TrafficDeliveryMode,
};
use fp_rails::contracts::{COMMON_SCHEMA, Contract, schema_id, schema_text};
use fp_rails::{Hex64, PlatformRunId, PolicyRev, ids};
use fp_substrate::objects::{ObjectStoreConfig, Objects};
use fp_substrate::sql::SqlStore;
use fp_world::WorldConfig;
use serde_json::{Value, json};

const P: &str = "platform_20260101T000000Z";

fn world_config() -> WorldConfig {
    WorldConfig {
        flows: 800,
        days: 2,
        ..WorldConfig::default()
    }
}

struct Harness {
    dir: tempfile::TempDir,
    objects: Objects,
    bus: Arc<dyn EventBus>,
    sql_url: String,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let objects =
            Objects::open(&ObjectStoreConfig::local(dir.path().join("objects"))).expect("objects");
        let bus: Arc<dyn EventBus> = Arc::new(
            EmbeddedBus::open(dir.path().join("bus"), EmbeddedConfig::default()).expect("bus"),
        );
        let sql_url = format!("sqlite://{}", dir.path().join("sr.db").display());
        Self {
            dir,
            objects,
            bus,
            sql_url,
        }
    }

    /// A runner with a short evidence wait (1 s, polled every 50 ms) and the default lease.
    async fn runner(&self) -> ScenarioRunner {
        self.runner_with(|_| {}).await
    }

    /// A runner whose config `tune` adjusts.
    async fn runner_with(&self, tune: impl FnOnce(&mut SrConfig)) -> ScenarioRunner {
        let sql = SqlStore::open(&self.sql_url).await.expect("sql");
        let policy = PolicyRev::of_content(
            "sr_policy",
            "v0-local",
            &json!({"reuse_policy": "ALLOW", "evidence_wait_seconds": 600, "attempt_limit": 1}),
        );
        let mut policy = SrPolicy::new(policy);
        policy.evidence_wait_seconds = 1;
        policy.evidence_poll_interval = Duration::from_millis(50);
        let mut cfg = SrConfig::new(PlatformRunId::parse(P).expect("platform run id"), policy);
        tune(&mut cfg);
        ScenarioRunner::new(self.objects.clone(), sql, Arc::clone(&self.bus), cfg)
            .await
            .expect("runner")
    }

    /// A generated world (shared shape: 800 flows) at `name`.
    fn world(&self, name: &str) -> (PathBuf, fp_world::WorldSummary) {
        let root = self.dir.path().join(name);
        let summary = fp_world::generate(&world_config(), &root).expect("generate");
        (root, summary)
    }

    async fn control_messages(&self) -> Vec<ControlMessage> {
        let batch = self
            .bus
            .read(CONTROL, 0, &ReadFrom::Earliest, 1000)
            .await
            .expect("read control");
        batch
            .records
            .iter()
            .map(|r| serde_json::from_slice(&r.value).expect("control message"))
            .collect()
    }

    async fn events(&self, outcome_record_ref: &str) -> Vec<RunRecordEvent> {
        match self.objects.get(outcome_record_ref).await {
            Ok(b) => b
                .split(|c| *c == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).expect("event"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn request(key: &str, root: &Path, s: &fp_world::WorldSummary) -> RunRequest {
    RunRequest {
        run_equivalence_key: key.to_owned(),
        manifest_fingerprint: Hex64::parse(s.manifest_fingerprint.clone()).expect("mf"),
        parameter_hash: Hex64::parse(s.parameter_hash.clone()).expect("ph"),
        seed: s.seed,
        scenario_id: s.scenario_id.clone(),
        engine_run_root: root.display().to_string(),
        generate: None,
        traffic_mode: TrafficMode::Fraud,
        output_ids: None,
        requested_strategy: None,
        request_id: None,
        invoker: None,
        notes: None,
    }
}

fn validate_schema(name: &str, doc: &Value) {
    let common: Value =
        serde_json::from_str(schema_text(COMMON_SCHEMA).expect("common")).expect("json");
    let schema: Value = serde_json::from_str(schema_text(name).expect("schema")).expect("json");
    let registry = jsonschema::Registry::new()
        .add(schema_id(COMMON_SCHEMA), common)
        .expect("add")
        .prepare()
        .expect("registry");
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_registry(&registry)
        .offline()
        .build(&schema)
        .expect("compile");
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
}

#[test]
fn scenario_run_id_matches_reference_vector() {
    assert_eq!(
        ids::scenario_run_id("demo-equivalence-key").as_str(),
        "f99075b467eefd8598b7ca9aca767b16"
    );
    let mut r = RunRequest {
        run_equivalence_key: "demo-equivalence-key".into(),
        manifest_fingerprint: Hex64::parse("0123456789abcdef".repeat(4)).expect("mf"),
        parameter_hash: Hex64::parse("fedcba9876543210".repeat(4)).expect("ph"),
        seed: 42,
        scenario_id: "baseline_v1".into(),
        engine_run_root: "/nowhere".into(),
        generate: None,
        traffic_mode: TrafficMode::Baseline,
        output_ids: None,
        requested_strategy: None,
        request_id: None,
        invoker: None,
        notes: None,
    };
    assert_eq!(
        r.scenario_run_id().as_str(),
        "f99075b467eefd8598b7ca9aca767b16"
    );
    // Strict decoding: the request round-trips and unknown fields are refused.
    let v = serde_json::to_value(&r).expect("encode");
    assert_eq!(
        sr_request::from_json(v.to_string().as_bytes()).expect("decode"),
        r
    );
    validate_schema("run_request", &v);
    let mut bad = v.clone();
    bad["surprise"] = json!(1);
    assert!(sr_request::from_json(bad.to_string().as_bytes()).is_err());
    let mut null = v.clone();
    null["output_ids"] = Value::Null;
    assert!(sr_request::from_json(null.to_string().as_bytes()).is_err());
    r.output_ids = Some(vec!["nope".into()]);
    assert!(matches!(
        sr_request::validate(&r),
        Err(SrError::InvalidRequest {
            code: "UNKNOWN_OUTPUT_ID",
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_reaches_ready_once_and_reemits_same_id() {
    let h = Harness::new();
    let (root, s) = h.world("world");
    let sr = h.runner().await;
    let req = request("happy", &root, &s);
    let out = sr.run(&req).await.expect("run");
    assert_eq!(out.state, RunState::Ready, "{out:?}");
    assert!(out.led);
    let bundle_hash = out.bundle_hash.clone().expect("bundle hash");
    let expected = ids::ready_message_id(P, out.run_id.as_str(), bundle_hash.as_str());
    assert_eq!(out.ready_message_id.as_ref(), Some(&expected));

    // Facts view: typed contract and JSON Schema both accept it; 10 gates, 4 locators.
    let fv_ref = out.facts_view_ref.clone().expect("facts view ref");
    let fv_bytes = h.objects.get(&fv_ref).await.expect("facts view");
    let fv_value: Value = serde_json::from_slice(&fv_bytes).expect("json");
    validate_schema("run_facts_view", &fv_value);
    let fv = RunFactsView::from_value(fv_value).expect("contract");
    assert_eq!(fv.gate_receipts.len(), 10);
    assert_eq!(fv.locators.len(), 4);
    assert!(fv.locators.iter().all(|l| l.content_digest.is_some()));
    assert_eq!(
        fv.run_config_digest,
        sr.config().policy.policy_rev.content_digest
    );
    assert!(
        fv.evidence_notes
            .iter()
            .flatten()
            .any(|n| n == "traffic_delivery_mode=WSP_PUSH")
    );
    assert_eq!(fv.instance_receipts.as_ref().map(Vec::len), Some(4));
    assert_eq!(
        fv.traffic_delivery_mode(),
        Some(TrafficDeliveryMode::WspPush)
    );
    assert_eq!(TRAFFIC_DELIVERY_MODE, TrafficDeliveryMode::WspPush);

    // Governance facts: the policy, the plan and the bundle that decided the run.
    let plan: RunPlan = serde_json::from_slice(&h.objects.get(&fv.plan_ref).await.expect("plan"))
        .expect("plan json");
    let events = h.events(&out.record_ref).await;
    let gov = |kind: &str| {
        let found: Vec<_> = events.iter().filter(|e| e.event_kind == kind).collect();
        assert_eq!(found.len(), 1, "{kind}: {found:?}");
        found[0].details.clone()
    };
    assert_eq!(
        gov("GOV_POLICY_REV")["policy_rev"],
        serde_json::to_value(&sr.config().policy.policy_rev).expect("policy")
    );
    assert_eq!(gov("GOV_PLAN_HASH")["plan_hash"], plan.plan_hash.as_str());
    assert_eq!(gov("GOV_BUNDLE_HASH")["bundle_hash"], bundle_hash.as_str());
    assert_eq!(plan.strategy, Strategy::Auto);
    let pos = |kind: &str| events.iter().position(|e| e.event_kind == kind);
    assert!(pos("GOV_PLAN_HASH") < pos("READY_COMMITTED"));
    assert!(pos("GOV_BUNDLE_HASH") < pos("READY_PUBLISHED"));

    // One READY on the bus, with the message id; its payload validates.
    let msgs = h.control_messages().await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].message_id, expected);
    assert_eq!(msgs[0].attributes.kind, ControlKind::Ready);
    validate_schema("run_ready_signal", &Value::Object(msgs[0].payload.clone()));

    // Resubmit: same run, same id, no second READY (message or record).
    let again = sr.run(&req).await.expect("rerun");
    assert_eq!(again.state, RunState::Ready);
    assert!(!again.led);
    assert_eq!(again.ready_message_id, out.ready_message_id);
    assert_eq!(h.control_messages().await.len(), 1);
    let events = h.events(&out.record_ref).await;
    let ready_records = events
        .iter()
        .filter(|e| e.event_kind == "READY_PUBLISHED")
        .count();
    assert_eq!(ready_records, 1);

    // A second runner process over the same state agrees.
    let sr2 = h.runner().await;
    let third = sr2.run(&req).await.expect("third");
    assert_eq!(third.ready_message_id, out.ready_message_id);
    assert_eq!(h.control_messages().await.len(), 1);

    // Status and reemit.
    let st = sr.status(&out.run_id).await.expect("status");
    assert_eq!(st.state, RunState::Ready);
    let re = sr
        .reemit(&out.run_id, ReemitKind::ReadyOnly)
        .await
        .expect("reemit");
    assert_eq!(re.published.len(), 1);
    assert_eq!(re.published[0].1, expected);
    let msgs = h.control_messages().await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1].message_id, expected);
    assert_eq!(msgs[1].attributes.kind, ControlKind::ReadyReemit);
    assert!(matches!(
        sr.reemit(&out.run_id, ReemitKind::TerminalOnly).await,
        Err(SrError::ReemitNotApplicable { .. })
    ));

    // Same key, other intent: refused.
    let mut other = req.clone();
    other.traffic_mode = TrafficMode::Baseline;
    assert!(matches!(
        sr.run(&other).await,
        Err(SrError::EquivalenceKeyCollision { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_yield_one_ready() {
    let h = Harness::new();
    let (root, s) = h.world("world");
    let a = Arc::new(h.runner().await);
    let b = Arc::new(h.runner().await);
    let req = request("concurrent", &root, &s);
    let (ra, rb) = {
        let (a, b) = (Arc::clone(&a), Arc::clone(&b));
        let (qa, qb) = (req.clone(), req.clone());
        let ta = tokio::spawn(async move { a.run(&qa).await });
        let tb = tokio::spawn(async move { b.run(&qb).await });
        (
            ta.await.expect("join").expect("run a"),
            tb.await.expect("join").expect("run b"),
        )
    };
    assert_eq!(ra.state, RunState::Ready);
    assert_eq!(rb.state, RunState::Ready);
    assert_eq!(ra.ready_message_id, rb.ready_message_id);
    assert!(ra.led ^ rb.led, "exactly one leader: {} {}", ra.led, rb.led);
    let msgs = h.control_messages().await;
    assert_eq!(msgs.len(), 1, "one READY message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_it_invokes_the_generator() {
    let h = Harness::new();
    // Identity of the world the config yields, from a throwaway generation.
    let (_, s) = h.world("probe");
    let root = h.dir.path().join("generated");
    let mut req = request("generate", &root, &s);
    req.generate = Some(GenerateSpec {
        flows: Some(world_config().flows),
        days: Some(world_config().days),
        ..GenerateSpec::default()
    });
    req.traffic_mode = TrafficMode::Baseline;
    let sr = h.runner().await;
    let out = sr.run(&req).await.expect("run");
    assert_eq!(out.state, RunState::Ready, "{out:?}");
    assert!(root.join("run_receipt.json").exists());
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(root.join("run_receipt.json")).expect("receipt"))
            .expect("json");
    assert_eq!(receipt["run_id"], out.run_id.as_str());
    let events = h.events(&out.record_ref).await;
    assert!(
        events
            .iter()
            .any(|e| e.event_kind == "ENGINE_ATTEMPT_FINISHED"
                && e.details["outcome"] == "SUCCEEDED")
    );

    // Without "generate it", a missing root fails closed.
    let mut missing = request("missing-root", &h.dir.path().join("absent"), &s);
    missing.generate = None;
    let out = sr.run(&missing).await.expect("run");
    assert_eq!(out.state, RunState::Failed);
    assert_eq!(out.reason_code.as_deref(), Some("ENGINE_RUN_ROOT_MISSING"));
}

/// Run `req` expecting a fail-closed outcome with `code` and no READY.
async fn expect_fail(
    h: &Harness,
    sr: &ScenarioRunner,
    req: &RunRequest,
    state: RunState,
    code: &str,
) {
    let before = h.control_messages().await.len();
    let out = sr.run(req).await.expect("run");
    assert_eq!(out.state, state, "{out:?}");
    assert_eq!(out.reason_code.as_deref(), Some(code));
    assert!(out.ready_message_id.is_none());
    assert!(out.facts_view_ref.is_none());
    assert_eq!(
        h.control_messages().await.len(),
        before,
        "no READY published"
    );
    let events = h.events(&out.record_ref).await;
    let failure = events
        .iter()
        .find(|e| e.event_kind == "EVIDENCE_FAIL" || e.event_kind == "EVIDENCE_CONFLICT")
        .expect("failure recorded");
    assert_eq!(failure.details["reason_code"], code);
    assert!(
        failure.details["path"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
    // Only absent evidence is waited for; evidence that is present but wrong fails at once.
    let waited: Vec<_> = events
        .iter()
        .filter(|e| e.event_kind == "EVIDENCE_WAITING")
        .collect();
    if code == "EVIDENCE_MISSING_DEADLINE" {
        assert_eq!(
            waited.len(),
            1,
            "one EVIDENCE_WAITING line however many polls"
        );
        assert_eq!(waited[0].details["missing"][0], failure.details["path"]);
    } else {
        assert!(waited.is_empty(), "{code} must not wait: {waited:?}");
    }
    // Terminal: asking again answers the same.
    let again = sr.run(req).await.expect("again");
    assert_eq!(again.state, state);
    assert!(!again.led);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_cases() {
    let h = Harness::new();
    let sr = h.runner().await;
    let mf_dir = |s: &fp_world::WorldSummary, seg_dir: &str| {
        format!(
            "{seg_dir}/validation/manifest_fingerprint={}",
            s.manifest_fingerprint
        )
    };

    // Missing output file.
    let (root, s) = h.world("w-missing-output");
    let spec = fp_world::catalogue::output("s3_event_stream_with_fraud_6B").expect("spec");
    let id = fp_world::WorldIdentity {
        manifest_fingerprint: s.manifest_fingerprint.clone(),
        parameter_hash: s.parameter_hash.clone(),
        seed: s.seed,
        scenario_id: s.scenario_id.clone(),
    };
    std::fs::remove_file(root.join(spec.file_path(&id, 0))).expect("rm output");
    expect_fail(
        &h,
        &sr,
        &request("missing-output", &root, &s),
        RunState::Failed,
        "EVIDENCE_MISSING_DEADLINE",
    )
    .await;

    // Deleted _passed.flag.
    let (root, s) = h.world("w-no-flag");
    std::fs::remove_file(root.join(mf_dir(&s, "data/layer3/6B")).join("_passed.flag"))
        .expect("rm flag");
    expect_fail(
        &h,
        &sr,
        &request("no-flag", &root, &s),
        RunState::Failed,
        "EVIDENCE_MISSING_DEADLINE",
    )
    .await;

    // Wrong _passed.flag (another digest).
    let (root, s) = h.world("w-wrong-flag");
    let flag = root.join(mf_dir(&s, "data/layer2/5B")).join("_passed.flag");
    let text = std::fs::read_to_string(&flag).expect("flag");
    let wrong: String = text
        .chars()
        .map(|c| {
            if c == 'a' {
                'b'
            } else if c == 'b' {
                'a'
            } else {
                c
            }
        })
        .collect();
    assert_ne!(wrong, text);
    std::fs::write(&flag, wrong).expect("write flag");
    expect_fail(
        &h,
        &sr,
        &request("wrong-flag", &root, &s),
        RunState::Quarantined,
        "GATE_DIGEST_MISMATCH",
    )
    .await;

    // Tampered bundle member.
    let (root, s) = h.world("w-tampered");
    let report = root
        .join(mf_dir(&s, "data/layer3/6B"))
        .join("s5_validation_report_6B.json");
    let mut bytes = std::fs::read(&report).expect("report");
    bytes.push(b' ');
    std::fs::write(&report, bytes).expect("tamper");
    expect_fail(
        &h,
        &sr,
        &request("tampered", &root, &s),
        RunState::Quarantined,
        "GATE_DIGEST_MISMATCH",
    )
    .await;

    // Receipt identity disagrees with the request.
    let (root, s) = h.world("w-identity");
    let mut req = request("identity", &root, &s);
    req.seed = s.seed + 1;
    expect_fail(
        &h,
        &sr,
        &req,
        RunState::Quarantined,
        "RECEIPT_IDENTITY_MISMATCH",
    )
    .await;
    assert!(
        h.objects
            .exists(&format!(
                "fraud-platform/{P}/sr/quarantine/{}.json",
                req.scenario_run_id()
            ))
            .await
            .expect("exists")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_receipt_drift_fails_closed() {
    let h = Harness::new();
    let sr = h.runner().await;
    let (root, s) = h.world("world");
    let first = sr.run(&request("first", &root, &s)).await.expect("run");
    assert_eq!(first.state, RunState::Ready);

    // An earlier observation of the same output instance recorded other bytes.
    let prefix = format!("fraud-platform/{P}/sr/instance_receipts");
    let receipts = h.objects.list(&prefix).await.expect("list");
    let target = receipts
        .iter()
        .find(|p| p.contains("output_id=s3_event_stream_with_fraud_6B"))
        .expect("receipt");
    let mut doc: Value =
        serde_json::from_slice(&h.objects.get(target).await.expect("get")).expect("json");
    doc["target_digest"]["hex"] = json!("0".repeat(64));
    h.objects.delete(target).await.expect("delete");
    h.objects
        .put_once(target, serde_json::to_vec(&doc).expect("encode"))
        .await
        .expect("put");

    expect_fail(
        &h,
        &sr,
        &request("second", &root, &s),
        RunState::Quarantined,
        "INSTANCE_RECEIPT_DRIFT",
    )
    .await;
}

fn mf_dir(s: &fp_world::WorldSummary, seg_dir: &str) -> String {
    format!(
        "{seg_dir}/validation/manifest_fingerprint={}",
        s.manifest_fingerprint
    )
}

/// Every object SR wrote — plans, every record line, statuses, the facts view, the READY
/// signal, instance receipts, a quarantine record — and every control message validates
/// against its schema, for a READY run and for failed and quarantined runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ledger_object_and_control_message_validates_against_its_schema() {
    let h = Harness::new();
    let sr = h.runner().await;
    let (root, s) = h.world("world");
    let ready = sr
        .run(&request("ledger-ready", &root, &s))
        .await
        .expect("run");
    assert_eq!(ready.state, RunState::Ready);
    // A quarantined run (identity mismatch) and a failed one (evidence never appears).
    let mut bad_seed = request("ledger-quarantined", &root, &s);
    bad_seed.seed += 1;
    let q = sr.run(&bad_seed).await.expect("run");
    assert_eq!(q.state, RunState::Quarantined);
    let (root2, s2) = h.world("world-no-flag");
    std::fs::remove_file(
        root2
            .join(mf_dir(&s2, "data/layer3/6B"))
            .join("_passed.flag"),
    )
    .expect("rm flag");
    let f = sr
        .run(&request("ledger-failed", &root2, &s2))
        .await
        .expect("run");
    assert_eq!(f.state, RunState::Failed);
    sr.reemit(&q.run_id, ReemitKind::TerminalOnly)
        .await
        .expect("terminal reemit");
    sr.reemit(&ready.run_id, ReemitKind::ReadyOnly)
        .await
        .expect("ready reemit");

    let schemas = SrSchemas::compile().expect("schemas");
    let prefix = h
        .objects
        .run_prefix(&PlatformRunId::parse(P).expect("prid"));
    let report = check_ledger(&h.objects, &prefix, &schemas)
        .await
        .expect("check");
    assert!(report.is_clean(), "{:#?}", report.problems);
    assert_eq!(report.count("run_plan"), 3);
    assert_eq!(report.count("run_status"), 3);
    assert_eq!(report.count("run_facts_view"), 1);
    assert_eq!(report.count("run_ready_signal"), 1);
    assert_eq!(report.count("instance_receipt"), 4);
    assert_eq!(report.count("run_quarantine"), 1);
    assert!(report.count("run_record_event") >= 20, "{report:?}");
    // Nothing under sr/ escaped the check.
    let listed = h
        .objects
        .list(&format!("{}/sr", prefix.as_str()))
        .await
        .expect("list");
    let distinct: std::collections::BTreeSet<_> = report
        .checked
        .iter()
        .map(|c| c.path.split('#').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(distinct.len(), listed.len());

    // Control bus: READY, READY_REEMIT, TERMINAL_REEMIT, each wrapper and payload valid.
    let batch = h
        .bus
        .read(CONTROL, 0, &ReadFrom::Earliest, 100)
        .await
        .expect("read");
    let kinds: Vec<String> = batch
        .records
        .iter()
        .map(|r| {
            let errors = schemas.control_message_errors(&r.value);
            assert!(errors.is_empty(), "{errors:?}");
            let m: ControlMessage = serde_json::from_slice(&r.value).expect("message");
            m.attributes.kind.to_string()
        })
        .collect();
    assert_eq!(kinds, ["READY", "TERMINAL_REEMIT", "READY_REEMIT"]);

    // The check is real: a status that breaks its contract is reported, by path.
    let status_ref = prefix.sr_run_status(&f.run_id);
    let mut doc: Value =
        serde_json::from_slice(&h.objects.get(&status_ref).await.expect("get")).expect("json");
    doc["state"] = json!("DONE");
    h.objects
        .put_overwrite(&status_ref, serde_json::to_vec(&doc).expect("encode"))
        .await
        .expect("put");
    let report = check_ledger(&h.objects, &prefix, &schemas)
        .await
        .expect("check");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].starts_with(&status_ref),
        "{:?}",
        report.problems
    );
    let mut wrapper: Value = serde_json::from_slice(&batch.records[0].value).expect("json");
    wrapper["payload"]["seed"] = json!(42);
    let errors = schemas.control_message_errors(wrapper.to_string().as_bytes());
    assert!(
        errors.iter().any(|e| e.starts_with("payload:")),
        "{errors:?}"
    );
}

/// The facts view SR writes is accepted by the reference's own (closed) facts-view schema,
/// which is why the traffic delivery mode is an evidence note: as a field, the reference's
/// consumers would reject the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_view_is_accepted_by_the_reference_schema() {
    let h = Harness::new();
    let sr = h.runner().await;
    let (root, s) = h.world("world");
    let out = sr.run(&request("reference", &root, &s)).await.expect("run");
    let fv: Value = serde_json::from_slice(
        &h.objects
            .get(&out.facts_view_ref.expect("facts ref"))
            .await
            .expect("fv"),
    )
    .expect("json");
    let reference: Value = serde_json::from_str(include_str!(
        "fixtures/reference/run_facts_view.schema.json"
    ))
    .expect("reference schema");
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&reference)
        .expect("compile");
    let errors: Vec<String> = v.iter_errors(&fv).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut with_field = fv.clone();
    with_field["traffic_delivery_mode"] = json!("WSP_PUSH");
    assert!(!v.is_valid(&with_field));

    // The typed accessor reads the note; a facts view without one, or with two different
    // modes, states none (consumers fail closed).
    let typed = RunFactsView::from_value(fv).expect("typed");
    assert_eq!(
        typed.traffic_delivery_mode(),
        Some(TrafficDeliveryMode::WspPush)
    );
    let mut none = typed.clone();
    none.evidence_notes = None;
    assert_eq!(none.traffic_delivery_mode(), None);
    let mut two = typed.clone();
    two.evidence_notes
        .get_or_insert_with(Vec::new)
        .push("traffic_delivery_mode=IG_PULL".into());
    assert_eq!(two.traffic_delivery_mode(), None);
}

/// Wait (bounded) until the run's status is `state`.
async fn wait_for_state(h: &Harness, run_id: &fp_rails::Hex32, state: RunState) {
    let prefix = h
        .objects
        .run_prefix(&PlatformRunId::parse(P).expect("prid"));
    let path = prefix.sr_run_status(run_id);
    for _ in 0..400 {
        if let Ok(b) = h.objects.get(&path).await {
            let v: Value = serde_json::from_slice(&b).expect("status");
            if v["state"] == state.as_str() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {run_id} never reached {state}");
}

/// A gate flag that is absent when SR looks puts the run in WAITING_EVIDENCE; when it
/// appears before the deadline, the run becomes READY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_evidence_is_waited_for_and_ready_when_it_appears() {
    let h = Harness::new();
    let sr = Arc::new(h.runner_with(|c| c.policy.evidence_wait_seconds = 60).await);
    let (root, s) = h.world("world");
    let flag = root.join(mf_dir(&s, "data/layer3/6B")).join("_passed.flag");
    let saved = std::fs::read(&flag).expect("flag");
    std::fs::remove_file(&flag).expect("rm flag");
    let req = request("waiting", &root, &s);
    let task = {
        let (sr, req) = (Arc::clone(&sr), req.clone());
        tokio::spawn(async move { sr.run(&req).await })
    };
    wait_for_state(&h, &req.scenario_run_id(), RunState::WaitingEvidence).await;
    assert!(
        h.control_messages().await.is_empty(),
        "no READY while waiting"
    );
    std::fs::write(&flag, saved).expect("restore flag");
    let out = task.await.expect("join").expect("run");
    assert_eq!(out.state, RunState::Ready, "{out:?}");
    let events = h.events(&out.record_ref).await;
    let waiting: Vec<_> = events
        .iter()
        .filter(|e| e.event_kind == "EVIDENCE_WAITING")
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(
        waiting[0].details["missing"][0]
            .as_str()
            .is_some_and(|p| p.ends_with("_passed.flag")),
        "{:?}",
        waiting[0].details
    );
    assert_eq!(waiting[0].details["reason_code"], "GATE_EVIDENCE_MISSING");
    assert_eq!(h.control_messages().await.len(), 1);
}

/// The strategies of §7.2/§7.3: FORCE_REUSE never invokes (an absent root fails closed),
/// FORCE_INVOKE never reuses and never overwrites an existing world.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_strategies_reuse_or_invoke_as_asked() {
    let h = Harness::new();
    let sr = h.runner().await;
    let (root, s) = h.world("world");
    let generate = GenerateSpec {
        flows: Some(world_config().flows),
        days: Some(world_config().days),
        ..GenerateSpec::default()
    };

    // FORCE_REUSE on an absent root: fails closed, even with "generate it".
    let absent = h.dir.path().join("absent");
    let mut req = request("force-reuse-absent", &absent, &s);
    req.requested_strategy = Some(Strategy::ForceReuse);
    req.generate = Some(generate.clone());
    expect_fail(&h, &sr, &req, RunState::Failed, "FORCE_REUSE_ROOT_MISSING").await;
    assert!(!absent.exists(), "FORCE_REUSE must not invoke the engine");

    // FORCE_REUSE on an existing world: reused, READY.
    let mut req = request("force-reuse", &root, &s);
    req.requested_strategy = Some(Strategy::ForceReuse);
    let out = sr.run(&req).await.expect("run");
    assert_eq!(out.state, RunState::Ready, "{out:?}");
    let events = h.events(&out.record_ref).await;
    assert!(
        events
            .iter()
            .any(|e| e.event_kind == "ENGINE_REUSED" && e.details["strategy"] == "FORCE_REUSE")
    );
    assert!(
        !events
            .iter()
            .any(|e| e.event_kind == "ENGINE_ATTEMPT_FINISHED")
    );

    // FORCE_INVOKE on an existing world: refused, the world untouched.
    let receipt_before = std::fs::read(root.join("run_receipt.json")).expect("receipt");
    let mut req = request("force-invoke-existing", &root, &s);
    req.requested_strategy = Some(Strategy::ForceInvoke);
    req.generate = Some(generate.clone());
    expect_fail(&h, &sr, &req, RunState::Failed, "FORCE_INVOKE_ROOT_EXISTS").await;
    assert_eq!(
        std::fs::read(root.join("run_receipt.json")).expect("receipt"),
        receipt_before
    );

    // FORCE_INVOKE on an absent root: the generator runs, READY, the plan says so.
    let fresh = h.dir.path().join("fresh");
    let mut req = request("force-invoke", &fresh, &s);
    req.requested_strategy = Some(Strategy::ForceInvoke);
    req.generate = Some(generate);
    let out = sr.run(&req).await.expect("run");
    assert_eq!(out.state, RunState::Ready, "{out:?}");
    let events = h.events(&out.record_ref).await;
    assert!(
        events
            .iter()
            .any(|e| e.event_kind == "ENGINE_ATTEMPT_FINISHED"
                && e.details["outcome"] == "SUCCEEDED")
    );
    let prefix = h
        .objects
        .run_prefix(&PlatformRunId::parse(P).expect("prid"));
    let plan: RunPlan = serde_json::from_slice(
        &h.objects
            .get(&prefix.sr_run_plan(&out.run_id))
            .await
            .expect("plan"),
    )
    .expect("plan json");
    assert_eq!(plan.strategy, Strategy::ForceInvoke);
    // Asking again for the same run answers READY (its own world is not "existing").
    let again = sr.run(&req).await.expect("again");
    assert_eq!(again.state, RunState::Ready);

    // The same key with another strategy is another intent.
    let mut other = req.clone();
    other.requested_strategy = Some(Strategy::ForceReuse);
    assert!(matches!(
        sr.run(&other).await,
        Err(SrError::EquivalenceKeyCollision { .. })
    ));
}

/// The leader renews its lease while it works: with a 300 ms ttl and a leader waiting ~1.5 s
/// for evidence, a second runner never takes the run over; it answers with the leader's
/// READY, and there is one READY on the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_renews_its_lease_while_it_waits() {
    let h = Harness::new();
    let tune = |c: &mut SrConfig| {
        c.lease_ttl = Duration::from_millis(300);
        c.policy.evidence_wait_seconds = 60;
    };
    let a = Arc::new(h.runner_with(tune).await);
    let b = Arc::new(h.runner_with(tune).await);
    let (root, s) = h.world("world");
    let flag = root.join(mf_dir(&s, "data/layer3/6B")).join("_passed.flag");
    let saved = std::fs::read(&flag).expect("flag");
    std::fs::remove_file(&flag).expect("rm flag");
    let req = request("renewal", &root, &s);
    let ta = {
        let (a, req) = (Arc::clone(&a), req.clone());
        tokio::spawn(async move { a.run(&req).await })
    };
    wait_for_state(&h, &req.scenario_run_id(), RunState::WaitingEvidence).await;
    let tb = {
        let (b, req) = (Arc::clone(&b), req.clone());
        tokio::spawn(async move { b.run(&req).await })
    };
    // Well past several ttls.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    std::fs::write(&flag, saved).expect("restore flag");
    let ra = ta.await.expect("join").expect("a");
    let rb = tb.await.expect("join").expect("b");
    assert_eq!(ra.state, RunState::Ready, "{ra:?}");
    assert_eq!(rb.state, RunState::Ready, "{rb:?}");
    assert!(ra.led, "the first runner led");
    assert!(!rb.led, "the second runner never took the lease over");
    assert_eq!(h.control_messages().await.len(), 1);
}
