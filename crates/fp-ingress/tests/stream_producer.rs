//! World Stream Producer end to end: a generated, sealed world with stream views; SR to READY;
//! WSP streaming it through the gate (in process, or over HTTP to a test double) onto the
//! embedded bus; reconciliation, READY dedupe, resume, retries and pacing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use fp_bus::topics::{PartitionCounts, taxonomy};
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus};
use fp_ingress::ingestion_gate::AdmissionIndex;
use fp_ingress::ingestion_gate::{
    GateConfig, HttpIngress, IgPolicy, InProcessIngress, IngestionGate, Submission, anonymous_actor,
};
use fp_ingress::stream_producer::{
    ModeSelection, NoProgress, PlanChecks, ReadyConsumer, RetryPolicy, Speed, StreamPlan,
    WorldStreamProducer, WspConfig, WspError, WspState, load_facts, local_engine_roots,
};
use fp_ingress::{RunRequest, RunState, ScenarioRunner, SrConfig, SrPolicy, TrafficMode};
use fp_rails::ingress::{IngressClient, IngressError, IngressFuture, SubmitResult};
use fp_rails::{Hex64, PlatformRunId, PolicyRev};
use fp_substrate::objects::{ObjectStoreConfig, Objects};
use fp_substrate::sql::SqlStore;
use fp_world::WorldConfig;
use fp_world::oracle::{SealOptions, StreamViewOptions};
use serde_json::{Value, json};

const PRID: &str = "platform_20260102T000000Z";

/// The world every test streams: generated, sealed and viewed once per test binary.
struct SharedWorld {
    root: PathBuf,
    summary: fp_world::WorldSummary,
}

fn world() -> &'static SharedWorld {
    static WORLD: OnceLock<SharedWorld> = OnceLock::new();
    // Built on its own thread: the tests calling this already run inside a tokio runtime.
    WORLD.get_or_init(|| {
        std::thread::spawn(build_world)
            .join()
            .expect("world thread")
    })
}

fn build_world() -> SharedWorld {
    {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let root = dir.join("world");
        let cfg = WorldConfig {
            flows: 600,
            days: 2,
            ..WorldConfig::default()
        };
        let summary = fp_world::generate(&cfg, &root).expect("generate");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            fp_world::oracle::seal_local(&root, &SealOptions::default())
                .await
                .expect("seal");
            let objects = Objects::open(&ObjectStoreConfig::local(&root)).expect("objects");
            fp_world::oracle::build_stream_views(&objects, "", &StreamViewOptions::default())
                .await
                .expect("views");
        });
        SharedWorld { root, summary }
    }
}

fn fraud_mode() -> ModeSelection {
    ModeSelection {
        traffic: "s3_event_stream_with_fraud_6B".into(),
        context: vec![
            "arrival_events_5B".into(),
            "s1_arrival_entities_6B".into(),
            "s3_flow_anchor_with_fraud_6B".into(),
        ],
    }
}

const CHECKS: PlanChecks = PlanChecks {
    require_gate_pass: true,
    require_sealed: true,
};

/// A platform run on fresh embedded stores, READY published by SR.
struct Platform {
    _dir: tempfile::TempDir,
    objects: Objects,
    sql: SqlStore,
    control: Arc<dyn EventBus>,
    bus: Arc<dyn EventBus>,
    facts_ref: String,
    runner: ScenarioRunner,
    run_id: fp_rails::Hex32,
}

impl Platform {
    /// Embedded backends in a tempdir.
    async fn ready() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let objects =
            Objects::open(&ObjectStoreConfig::local(dir.path().join("objects"))).expect("objects");
        let sql = SqlStore::open(&format!(
            "sqlite://{}",
            dir.path().join("state.db").display()
        ))
        .await
        .expect("sql");
        let control: Arc<dyn EventBus> = Arc::new(
            EmbeddedBus::open(dir.path().join("control"), EmbeddedConfig::default())
                .expect("control"),
        );
        let bus: Arc<dyn EventBus> = Arc::new(
            EmbeddedBus::open(dir.path().join("bus"), EmbeddedConfig::default()).expect("bus"),
        );
        Self::on(dir, objects, sql, control, bus).await
    }

    /// Any backends; topics provisioned, SR run to READY.
    async fn on(
        dir: tempfile::TempDir,
        objects: Objects,
        sql: SqlStore,
        control: Arc<dyn EventBus>,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        let w = world();
        bus.provision(&taxonomy(PartitionCounts { high: 2, low: 1 }))
            .await
            .expect("provision");
        let policy =
            PolicyRev::of_content("sr_policy", "v0-test", &json!({"reuse_policy": "ALLOW"}));
        let runner = ScenarioRunner::new(
            objects.clone(),
            sql.clone(),
            Arc::clone(&control),
            SrConfig::new(
                PlatformRunId::parse(PRID).expect("prid"),
                SrPolicy::new(policy),
            ),
        )
        .await
        .expect("runner");
        let s = &w.summary;
        let out = runner
            .run(&RunRequest {
                run_equivalence_key: "wsp-test".into(),
                manifest_fingerprint: Hex64::parse(s.manifest_fingerprint.clone()).expect("mf"),
                parameter_hash: Hex64::parse(s.parameter_hash.clone()).expect("ph"),
                seed: s.seed,
                scenario_id: s.scenario_id.clone(),
                engine_run_root: w.root.display().to_string(),
                generate: None,
                traffic_mode: TrafficMode::Fraud,
                output_ids: None,
                requested_strategy: None,
                request_id: None,
                invoker: None,
                notes: None,
            })
            .await
            .expect("sr run");
        assert_eq!(out.state, RunState::Ready, "{:?}", out.reason_code);
        Self {
            facts_ref: out.facts_view_ref.expect("facts ref"),
            runner,
            run_id: out.run_id,
            _dir: dir,
            objects,
            sql,
            control,
            bus,
        }
    }

    async fn gate(&self) -> Arc<IngestionGate> {
        let policy = Arc::new(IgPolicy::builtin("platform-v0").expect("policy"));
        let cfg = GateConfig::new(policy, PlatformRunId::parse(PRID).expect("prid"));
        let index = AdmissionIndex::open(self.sql.clone()).await.expect("index");
        Arc::new(
            IngestionGate::open(cfg, index, Arc::clone(&self.bus), self.objects.clone())
                .await
                .expect("gate"),
        )
    }

    async fn producer(
        &self,
        client: Arc<dyn IngressClient>,
        cfg: WspConfig,
    ) -> WorldStreamProducer {
        let state = WspState::open(self.sql.clone()).await.expect("wsp state");
        WorldStreamProducer::new(client, state, cfg, Arc::new(NoProgress))
    }

    fn consumer(&self, producer: WorldStreamProducer) -> ReadyConsumer {
        ReadyConsumer::new(
            producer,
            self.objects.clone(),
            local_engine_roots(),
            fraud_mode(),
            CHECKS,
            Some(PRID.into()),
        )
    }

    async fn plan(&self) -> StreamPlan {
        let facts = load_facts(&self.objects, &self.facts_ref)
            .await
            .expect("facts");
        let objects = Objects::open(&ObjectStoreConfig::local(&world().root)).expect("objects");
        StreamPlan::derive(&facts, &fraud_mode(), CHECKS, objects, String::new())
            .await
            .expect("plan")
    }

    /// Records on `topic`, as parsed envelopes.
    async fn topic(&self, topic: &str) -> Vec<Value> {
        self.raw_topic(topic)
            .await
            .iter()
            .map(|r| serde_json::from_slice::<Value>(r).expect("json"))
            .collect()
    }

    /// Records on `topic`, the exact bytes on the bus, partition after partition.
    async fn raw_topic(&self, topic: &str) -> Vec<Bytes> {
        let mut out = Vec::new();
        for p in self.bus.partitions(topic).await.expect("partitions") {
            let mut from = fp_bus::ReadFrom::Earliest;
            loop {
                let b = self
                    .bus
                    .read(topic, p.partition, &from, 1000)
                    .await
                    .expect("read");
                if b.records.is_empty() {
                    break;
                }
                out.extend(b.records.into_iter().map(|r| r.value));
                from = b.next;
            }
        }
        out
    }
}

fn rows_of(output_id: &str) -> u64 {
    world()
        .summary
        .outputs
        .iter()
        .find(|o| o.output_id == output_id)
        .map(|o| o.rows)
        .expect("output rows")
}

fn topic_of(output_id: &str) -> String {
    let policy = IgPolicy::builtin("platform-v0").expect("policy");
    policy.rule(output_id).profile.stream.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_world_streams_end_to_end_and_reconciles_exactly() {
    let p = Platform::ready().await;
    let gate = p.gate().await;
    let client = Arc::new(InProcessIngress::new(gate, anonymous_actor()));
    let consumer = p.consumer(p.producer(client, WspConfig::default()).await);

    let outcomes = consumer.drain(&p.control).await.expect("drain");
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].status, "STREAMED");
    let report = outcomes[0].report.as_ref().expect("report");
    let ids: Vec<_> = report
        .outputs
        .iter()
        .map(|o| o.output_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "s3_event_stream_with_fraud_6B",
            "arrival_events_5B",
            "s1_arrival_entities_6B",
            "s3_flow_anchor_with_fraud_6B"
        ]
    );
    for o in &report.outputs {
        let rows = rows_of(&o.output_id);
        assert!(rows > 0, "{} has rows", o.output_id);
        assert_eq!(o.rows, rows, "{}: the view holds every row", o.output_id);
        assert_eq!(
            o.tally.admitted, rows,
            "{}: every row admitted",
            o.output_id
        );
        assert_eq!(
            o.tally.duplicates + o.tally.quarantined,
            0,
            "{}",
            o.output_id
        );
        assert!(o.complete);
        let on_bus = p.topic(&topic_of(&o.output_id)).await;
        assert_eq!(
            on_bus.len() as u64,
            rows,
            "{}: bus records = rows",
            o.output_id
        );
        // Distinct event ids, all of this output, all pinned to the run.
        let mut seen: Vec<&str> = on_bus
            .iter()
            .map(|e| e["event_id"].as_str().expect("id"))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len() as u64,
            rows,
            "{}: distinct event ids",
            o.output_id
        );
        assert!(
            on_bus
                .iter()
                .all(|e| e["event_type"] == o.output_id.as_str()
                    && e["platform_run_id"] == PRID
                    && e["producer"] == "svc:world_stream_producer")
        );
    }
    // Truth products never reach the bus.
    let topics = p.bus.topics().await.expect("topics");
    for t in topics {
        if t.name.contains("label") || t.name.contains("truth") {
            assert!(p.topic(&t.name).await.is_empty(), "{}", t.name);
        }
    }

    // A re-emitted READY (same message id) does not restart a finished stream.
    p.runner
        .reemit(&p.run_id, fp_ingress::ReemitKind::ReadyOnly)
        .await
        .expect("reemit");
    let again = consumer.drain(&p.control).await.expect("drain again");
    assert_eq!(again.len(), 2, "the READY and its re-emit");
    for o in &again {
        assert_eq!(o.status, "SKIPPED_DUPLICATE");
        assert_eq!(o.message_id, outcomes[0].message_id);
        assert!(o.report.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_columnar_framing_writes_exactly_the_map_framing_bytes() {
    let p = Platform::ready().await;
    let plan = p.plan().await;
    let pins = Arc::new(plan.pins.clone());
    for o in &plan.outputs {
        let reader =
            fp_world::oracle::StreamViewReader::open(&plan.engine_objects, "", &o.output_id)
                .await
                .expect("view");
        let framer = fp_ingress::stream_producer::Framer::new(&o.output_id, Arc::clone(&pins))
            .expect("framer");
        let mut r = 0u64;
        for batch in reader.batches(333) {
            let batch = batch.expect("batch");
            let writer =
                fp_ingress::stream_producer::row_json::RowWriter::new(&batch, &o.output_id)
                    .expect("writer");
            for i in 0..batch.num_rows() {
                let map = fp_world::oracle::row_to_json(&batch, i).expect("row");
                let slow = framer.frame(r, &map).expect("frame");
                let fast = framer.frame_row(&writer, i, r).expect("frame_row");
                assert_eq!(
                    String::from_utf8_lossy(&fast.bytes),
                    String::from_utf8_lossy(&slow.bytes),
                    "{} row {r}",
                    o.output_id
                );
                assert_eq!(fast.ts_micros, slow.ts_micros);
                r += 1;
            }
        }
        assert_eq!(r, rows_of(&o.output_id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_ready_world_streams_to_byte_identical_bus_records() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let p = Platform::ready().await;
        let client = Arc::new(InProcessIngress::new(p.gate().await, anonymous_actor()));
        let consumer = p.consumer(p.producer(client, WspConfig::default()).await);
        consumer.drain(&p.control).await.expect("drain");
        let mut per_topic = Vec::new();
        for o in fraud_mode().context.iter().chain([&fraud_mode().traffic]) {
            let mut values = p.raw_topic(&topic_of(o)).await;
            // Partition interleaving is not part of the contract; the record set is.
            values.sort();
            per_topic.push(values);
        }
        runs.push(per_topic);
    }
    assert!(runs[0].iter().all(|t| !t.is_empty()));
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_stream_resumes_from_its_checkpoint_without_loss_or_repeat() {
    let p = Platform::ready().await;
    let gate = p.gate().await;
    let client: Arc<dyn IngressClient> = Arc::new(InProcessIngress::new(gate, anonymous_actor()));
    let plan = p.plan().await;
    let cfg = |cap| WspConfig {
        batch_size: 64,
        flush_every: 64,
        max_events_per_output: cap,
        concurrent_outputs: false,
        ..WspConfig::default()
    };
    let first = p
        .producer(Arc::clone(&client), cfg(Some(150)))
        .await
        .stream(&plan)
        .await
        .expect("first part");
    for o in &first.outputs {
        assert_eq!(o.sent, 150.min(o.rows));
        assert_eq!(o.complete, o.rows <= 150);
    }
    let second = p
        .producer(Arc::clone(&client), cfg(None))
        .await
        .stream(&plan)
        .await
        .expect("rest");
    for (a, b) in first.outputs.iter().zip(&second.outputs) {
        assert_eq!(b.resumed_from, a.sent, "{}", b.output_id);
        assert_eq!(
            a.tally.admitted + b.tally.admitted,
            b.rows,
            "{}",
            b.output_id
        );
        assert_eq!(b.tally.duplicates, 0, "exact checkpoint: nothing replayed");
        assert!(b.complete);
        assert_eq!(p.topic(&topic_of(&b.output_id)).await.len() as u64, b.rows);
    }
    // Checkpoints lost entirely (a new attempt scope replays everything): all DUPLICATE.
    let replay = p
        .producer(
            client,
            WspConfig {
                attempt_id: "replay".into(),
                ..cfg(None)
            },
        )
        .await
        .stream(&plan)
        .await
        .expect("replay");
    for o in &replay.outputs {
        assert_eq!(o.tally.duplicates, o.rows, "{}", o.output_id);
        assert_eq!(o.tally.admitted, 0);
        assert_eq!(p.topic(&topic_of(&o.output_id)).await.len() as u64, o.rows);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_refuse_unpassed_gates_and_unsealed_or_mismatched_packs() {
    let p = Platform::ready().await;
    let mut facts = load_facts(&p.objects, &p.facts_ref).await.expect("facts");
    let objects = || Objects::open(&ObjectStoreConfig::local(&world().root)).expect("objects");
    // No PASS for the 6B gate: nothing is read.
    let mut no_pass = facts.clone();
    no_pass.gate_receipts.retain(|g| !g.gate_id.contains("6B"));
    let e = StreamPlan::derive(&no_pass, &fraud_mode(), CHECKS, objects(), String::new()).await;
    assert!(matches!(e, Err(WspError::GateNotPassed { .. })), "{e:?}");
    // A run whose pins differ from the sealed pack's world key.
    facts.pins.seed += 1;
    let e = StreamPlan::derive(&facts, &fraud_mode(), CHECKS, objects(), String::new()).await;
    assert!(
        matches!(&e, Err(WspError::Pack { detail, .. }) if detail.starts_with("WORLD_KEY_MISMATCH")),
        "{e:?}"
    );
    // READY of another platform run than the active one is skipped, and nothing is read.
    let gate = p.gate().await;
    let client = Arc::new(InProcessIngress::new(gate, anonymous_actor()));
    let other = ReadyConsumer::new(
        p.producer(client, WspConfig::default()).await,
        p.objects.clone(),
        local_engine_roots(),
        fraud_mode(),
        CHECKS,
        Some("platform_20990101T000000Z".into()),
    );
    let skipped = other.drain(&p.control).await.expect("drain");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].status, "SKIPPED_OUT_OF_SCOPE");
    assert!(
        p.topic(&topic_of("s3_event_stream_with_fraud_6B"))
            .await
            .is_empty()
    );
    // An unsealed copy of the world (the seal removed).
    let copy = tempfile::tempdir().expect("tempdir");
    copy_dir(&world().root, copy.path());
    std::fs::remove_file(copy.path().join("_SEALED.json")).expect("unseal");
    let facts = load_facts(&p.objects, &p.facts_ref).await.expect("facts");
    let unsealed = Objects::open(&ObjectStoreConfig::local(copy.path())).expect("objects");
    let e = StreamPlan::derive(&facts, &fraud_mode(), CHECKS, unsealed, String::new()).await;
    assert!(
        matches!(&e, Err(WspError::Pack { detail, .. }) if detail.starts_with("PACK_NOT_SEALED")),
        "{e:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

// ------------------------------------------------------------------ HTTP retry test doubles

/// A gate double over HTTP: answers the first `fail_first` requests with `status`, then
/// forwards to a real gate; records the event ids of every request.
struct Double {
    gate: Arc<IngestionGate>,
    fail_first: usize,
    status: StatusCode,
    requests: AtomicUsize,
    seen: Mutex<Vec<Vec<String>>>,
}

async fn double_batch(State(d): State<Arc<Double>>, body: Bytes) -> Response {
    let lines: Vec<Bytes> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(Bytes::copy_from_slice)
        .collect();
    let ids = lines
        .iter()
        .map(|l| {
            serde_json::from_slice::<Value>(l).expect("envelope")["event_id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    d.seen.lock().expect("lock").push(ids);
    let n = d.requests.fetch_add(1, Ordering::SeqCst);
    if n < d.fail_first {
        let body = json!({"error": "IG_UNHEALTHY", "detail": "test double"});
        return (d.status, [("retry-after", "0")], axum::Json(body)).into_response();
    }
    let subs = lines.into_iter().map(Submission::anonymous).collect();
    let outcomes = d.gate.admit_batch(subs).await.expect("admit");
    axum::Json(json!({ "results": outcomes })).into_response()
}

async fn serve_double(d: Arc<Double>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/v1/ingest/batch", post(double_batch))
        .with_state(d);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried_with_the_same_event_ids_and_a_4xx_is_not() {
    let p = Platform::ready().await;
    let plan = p.plan().await;
    let only_traffic = |mut plan: StreamPlan| {
        plan.outputs.truncate(1);
        plan
    };
    let cfg = WspConfig {
        batch_size: 100,
        retry: quick_retry(),
        max_events_per_output: Some(100),
        ..WspConfig::default()
    };

    // 503 then 200: one batch sent twice with the same ids, admitted once.
    let d = Arc::new(Double {
        gate: p.gate().await,
        fail_first: 1,
        status: StatusCode::SERVICE_UNAVAILABLE,
        requests: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let url = serve_double(Arc::clone(&d)).await;
    let client = Arc::new(HttpIngress::new(&url, None, Duration::from_secs(10)).expect("client"));
    let report = p
        .producer(client, cfg.clone())
        .await
        .stream(&only_traffic(plan.clone()))
        .await
        .expect("stream");
    let seen = d.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "one failed attempt, one retry");
    assert_eq!(seen[0], seen[1], "the retry resends the same event ids");
    assert_eq!(report.outputs[0].tally.admitted, 100);
    assert_eq!(report.outputs[0].tally.retries, 1);

    // 400: not retried, the stream stops with IG_PUSH_REJECTED.
    let d = Arc::new(Double {
        gate: p.gate().await,
        fail_first: usize::MAX,
        status: StatusCode::BAD_REQUEST,
        requests: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let url = serve_double(Arc::clone(&d)).await;
    let client = Arc::new(HttpIngress::new(&url, None, Duration::from_secs(10)).expect("client"));
    let fresh = WspConfig {
        attempt_id: "second".into(),
        ..cfg.clone()
    };
    let e = p
        .producer(client, fresh)
        .await
        .stream(&only_traffic(plan.clone()))
        .await;
    match e {
        Err(WspError::Rejected { source, .. }) => {
            assert!(
                matches!(source, IngressError::Rejected { status: 400, ref error, .. } if error == "IG_UNHEALTHY")
            );
        }
        other => panic!("expected IG_PUSH_REJECTED, got {other:?}"),
    }
    assert_eq!(d.requests.load(Ordering::SeqCst), 1, "a 4xx is not retried");

    // Always 503: retries are bounded.
    let d = Arc::new(Double {
        gate: p.gate().await,
        fail_first: usize::MAX,
        status: StatusCode::SERVICE_UNAVAILABLE,
        requests: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let url = serve_double(Arc::clone(&d)).await;
    let client = Arc::new(HttpIngress::new(&url, None, Duration::from_secs(10)).expect("client"));
    let fresh = WspConfig {
        attempt_id: "third".into(),
        ..cfg
    };
    let e = p
        .producer(client, fresh)
        .await
        .stream(&only_traffic(plan))
        .await;
    assert!(
        matches!(e, Err(WspError::RetryExhausted { attempts: 5, .. })),
        "{e:?}"
    );
    assert_eq!(d.requests.load(Ordering::SeqCst), 5);
}

// ------------------------------------------------------------------------------ pacing

/// Records when each envelope was handed over (wall clock) and its event time, then hands it
/// to the real gate.
struct Recorder {
    inner: InProcessIngress,
    started: Instant,
    log: Mutex<Vec<(Duration, i64)>>,
    requests: AtomicUsize,
}

impl IngressClient for Recorder {
    fn describe(&self) -> String {
        "recorder".into()
    }

    fn submit_batch(
        &self,
        envelopes: Vec<Vec<u8>>,
    ) -> IngressFuture<'_, Result<Vec<SubmitResult>, IngressError>> {
        Box::pin(async move {
            let at = self.started.elapsed();
            self.requests.fetch_add(1, Ordering::SeqCst);
            {
                let mut log = self.log.lock().expect("lock");
                for e in &envelopes {
                    let v: Value = serde_json::from_slice(e).expect("json");
                    let ts = fp_rails::TsUtc::parse(v["ts_utc"].as_str().expect("ts").to_owned())
                        .expect("ts");
                    log.push((at, ts.unix_micros()));
                }
            }
            self.inner.submit_batch(envelopes).await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_keeps_event_time_gaps_proportional_and_max_never_waits() {
    let p = Platform::ready().await;
    let mut plan = p.plan().await;
    plan.outputs.truncate(1);
    let gate = p.gate().await;
    let recorder = |started| {
        Arc::new(Recorder {
            inner: InProcessIngress::new(Arc::clone(&gate), anonymous_actor()),
            started,
            log: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
        })
    };
    let n = 120u64;

    // `max`: the whole slice goes in one request, no waiting between events.
    let fast = recorder(Instant::now());
    let report = p
        .producer(
            Arc::clone(&fast) as Arc<dyn IngressClient>,
            WspConfig {
                speed: Speed::Max,
                max_events_per_output: Some(n),
                ..WspConfig::default()
            },
        )
        .await
        .stream(&plan)
        .await
        .expect("max");
    assert_eq!(report.outputs[0].sent, n);
    assert_eq!(
        fast.requests.load(Ordering::SeqCst),
        1,
        "max speed never splits to wait"
    );
    let ts: Vec<i64> = fast
        .log
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, t)| *t)
        .collect();
    let span_us = (ts[ts.len() - 1] - ts[0]) as f64;
    assert!(span_us > 0.0, "the slice spans event time");

    // Paced so the slice takes ~1.2 s of wall time.
    let wall = 1.2;
    let factor = span_us / 1e6 / wall;
    let paced = recorder(Instant::now());
    p.producer(
        Arc::clone(&paced) as Arc<dyn IngressClient>,
        WspConfig {
            speed: Speed::Factor(factor),
            max_events_per_output: Some(n),
            attempt_id: "paced".into(),
            ..WspConfig::default()
        },
    )
    .await
    .stream(&plan)
    .await
    .expect("paced");
    let log = paced.log.lock().expect("lock").clone();
    assert_eq!(log.len() as u64, n);
    let (at0, ts0) = log[0];
    let mut worst_early = 0f64;
    let mut worst_late = 0f64;
    for (at, t) in &log {
        let expected = (t - ts0) as f64 / 1e6 / factor;
        let actual = (*at - at0).as_secs_f64();
        worst_early = worst_early.max(expected - actual);
        worst_late = worst_late.max(actual - expected);
    }
    // Never ahead of its schedule (beyond the 2 ms batching slack), and not far behind it.
    assert!(
        worst_early <= 0.003,
        "an event went {worst_early:.4} s early"
    );
    assert!(worst_late <= 0.150, "an event went {worst_late:.4} s late");
    let total = (log[log.len() - 1].0 - at0).as_secs_f64();
    assert!(
        (total - wall).abs() <= 0.15,
        "slice took {total:.3} s, paced for {wall} s"
    );
    assert!(
        paced.requests.load(Ordering::SeqCst) > 1,
        "paced delivery waits between events"
    );
}

// ------------------------------------------------------------------------------ parity

/// The same flows on the parity backends: platform objects on S3, SR/IG/WSP state in
/// PostgreSQL, both buses on Kinesis (moto), and the gate served over HTTP.
mod parity {
    use fp_bus::kinesis::{KinesisBus, KinesisConfig};
    use fp_ingress::ingestion_gate::http::{self, HttpConfig};
    use fp_substrate::testing::{PgSchema, host_port, missing, reachable, unique};

    use super::*;

    async fn backends(test: &str) -> Option<(Platform, PgSchema)> {
        let url = std::env::var("FP_TEST_S3_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty());
        let Some(url) = url else {
            return missing(
                test,
                "S3 + Kinesis (moto)",
                "FP_TEST_S3_ENDPOINT is not set",
            );
        };
        let (host, port) = host_port(&url, 80)?;
        if !reachable(&host, port) {
            return missing(test, "S3 + Kinesis (moto)", "the endpoint does not answer");
        }
        let pg = PgSchema::create(test).await?;
        let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "testing".to_owned());
        let objects = Objects::open(&ObjectStoreConfig {
            endpoint: Some(url.clone()),
            region: Some("us-east-1".to_owned()),
            path_style: true,
            allow_http: true,
            access_key_id: Some(env("AWS_ACCESS_KEY_ID")),
            secret_access_key: Some(env("AWS_SECRET_ACCESS_KEY")),
            ..ObjectStoreConfig::with_url(format!("s3://fp-test/{}", unique("wsp")))
        })
        .expect("s3");
        let kinesis = |tag: &str| {
            let cfg = KinesisConfig {
                endpoint: Some(url.clone()),
                region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
                stream_prefix: Some(format!("{}.", unique(tag))),
                shards: 2,
                access_key_id: Some(env("AWS_ACCESS_KEY_ID")),
                secret_access_key: Some(env("AWS_SECRET_ACCESS_KEY")),
                ..KinesisConfig::default()
            };
            async move { KinesisBus::connect(cfg).await.expect("kinesis") }
        };
        let control: Arc<dyn EventBus> = Arc::new(kinesis("wspc").await);
        let bus: Arc<dyn EventBus> = Arc::new(kinesis("wspe").await);
        let sql = SqlStore::open(&pg.url()).await.expect("pg");
        let dir = tempfile::tempdir().expect("tempdir");
        Some((Platform::on(dir, objects, sql, control, bus).await, pg))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_over_http_to_a_gate_on_postgres_and_kinesis() {
        let Some((p, _pg)) = backends("wsp_parity_http").await else {
            return;
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = http::router(p.gate().await, HttpConfig::default());
        tokio::spawn(async move {
            let _ = http::serve(listener, app, std::future::pending()).await;
        });
        let client =
            Arc::new(HttpIngress::new(&url, None, Duration::from_secs(30)).expect("client"));
        let cfg = WspConfig {
            batch_size: 250,
            max_events_per_output: Some(400),
            ..WspConfig::default()
        };
        let consumer = p.consumer(p.producer(client, cfg).await);
        let outcomes = consumer.drain(&p.control).await.expect("drain");
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].status, "STREAMED");
        let report = outcomes[0].report.as_ref().expect("report");
        assert_eq!(report.outputs.len(), 4);
        for o in &report.outputs {
            let n = o.rows.min(400);
            assert_eq!(o.tally.admitted, n, "{}", o.output_id);
            let on_bus = p.topic(&topic_of(&o.output_id)).await;
            assert_eq!(on_bus.len() as u64, n, "{}: Kinesis records", o.output_id);
        }
    }
}
