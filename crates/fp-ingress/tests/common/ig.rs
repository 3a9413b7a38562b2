//! Shared harness for the Ingestion Gate tests: an embedded bus, a local object store, an
//! admission index on SQLite or PostgreSQL, and a READY scenario run written the way SR
//! writes it.

use std::path::Path;
use std::sync::Arc;

use fp_bus::topics::{PartitionCounts, taxonomy};
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus};
use fp_ingress::ingestion_gate::{AdmissionIndex, GateConfig, IgPolicy, IngestionGate};
use fp_rails::{Hex32, PlatformRunId};
use fp_substrate::objects::{ObjectStoreConfig, Objects};
use fp_substrate::sql::SqlStore;
use fp_world::catalogue::{self, ColType};
use serde_json::{Map, Value, json};

pub const MF: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub const PH: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
pub const PRID: &str = "platform_20260101T000000Z";
pub const SRID: &str = "f99075b467eefd8598b7ca9aca767b16";
pub const TRAFFIC: &str = "s3_event_stream_with_fraud_6B";

pub struct Harness {
    pub bus: Arc<dyn EventBus>,
    pub objects: Objects,
    pub sql: SqlStore,
}

impl Harness {
    /// Everything embedded under `root`; `sql_url` chooses the index backend.
    pub async fn new(root: &Path, sql_url: &str) -> Self {
        let bus = EmbeddedBus::open(root.join("bus"), EmbeddedConfig::default()).unwrap();
        Self::with_bus(root, sql_url, Arc::new(bus), 4).await
    }

    /// Any bus (Kinesis on moto for the parity tests), topics provisioned.
    pub async fn with_bus(root: &Path, sql_url: &str, bus: Arc<dyn EventBus>, high: u32) -> Self {
        bus.provision(&taxonomy(PartitionCounts { high, low: 1 }))
            .await
            .unwrap();
        let objects = Objects::open(&ObjectStoreConfig::local(root.join("objects"))).unwrap();
        let sql = SqlStore::open(sql_url).await.unwrap();
        Self { bus, objects, sql }
    }

    pub fn config(&self) -> GateConfig {
        let policy = Arc::new(IgPolicy::builtin("platform-v0").unwrap());
        GateConfig::new(policy, PlatformRunId::parse(PRID).unwrap())
    }

    pub async fn gate(&self) -> IngestionGate {
        self.gate_with(self.config()).await
    }

    pub async fn gate_with(&self, cfg: GateConfig) -> IngestionGate {
        let index = AdmissionIndex::open(self.sql.clone()).await.unwrap();
        IngestionGate::open(cfg, index, Arc::clone(&self.bus), self.objects.clone())
            .await
            .unwrap()
    }

    /// Write SR's READY status and facts view for the test run (as SR does).
    pub async fn make_ready(&self, state: &str) {
        let prefix = self
            .objects
            .run_prefix(&PlatformRunId::parse(PRID).unwrap());
        let srid = Hex32::parse(SRID).unwrap();
        let facts_path = prefix.sr_run_facts_view(&srid);
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/examples");
        let facts: Value = serde_json::from_str(
            &std::fs::read_to_string(examples.join("run_facts_view.valid.json")).unwrap(),
        )
        .unwrap();
        self.objects
            .put_overwrite(&facts_path, serde_json::to_vec(&facts).unwrap())
            .await
            .unwrap();
        let status = json!({
            "run_id": SRID, "state": state, "updated_at_utc": "2026-01-01T00:00:00.000000Z",
            "record_ref": "sr/run_record/x.jsonl", "facts_view_ref": facts_path,
        });
        self.objects
            .put_overwrite(
                &prefix.sr_run_status(&srid),
                serde_json::to_vec(&status).unwrap(),
            )
            .await
            .unwrap();
    }
}

/// A schema-valid payload row for an engine output; `n` varies the ids.
pub fn engine_payload(output_id: &str, n: u64) -> Map<String, Value> {
    let spec = catalogue::output(output_id).unwrap();
    let mut row = Map::new();
    for (col, ty, _) in spec.columns {
        let v = match (*col, ty) {
            ("flow_id" | "arrival_seq", _) => json!(n),
            ("event_seq", _) => json!(0),
            ("manifest_fingerprint", _) => json!(MF),
            ("parameter_hash", _) => json!(PH),
            ("seed", _) => json!(42),
            ("scenario_id", _) => json!("baseline_v1"),
            ("ts_utc", _) => json!("2026-01-01T00:00:00.000000Z"),
            (_, ColType::Utf8) => json!(format!("{col}-{n}")),
            (_, ColType::Int64 | ColType::UInt64) => json!(n % 1000),
            (_, ColType::Float64) => json!(12.5),
            (_, ColType::Boolean) => json!(false),
        };
        row.insert((*col).to_owned(), v);
    }
    row
}

/// A valid traffic envelope (the WSP shape).
pub fn traffic_envelope(n: u64) -> Value {
    json!({
        "event_id": format!("{:064x}", n),
        "event_type": TRAFFIC,
        "schema_version": "v1",
        "ts_utc": "2026-01-01T00:00:00.000000Z",
        "manifest_fingerprint": MF,
        "parameter_hash": PH,
        "seed": 42,
        "scenario_id": "baseline_v1",
        "run_id": SRID,
        "platform_run_id": PRID,
        "scenario_run_id": SRID,
        "producer": "svc:world_stream_producer",
        "payload": engine_payload(TRAFFIC, n),
    })
}

pub fn bytes(v: &Value) -> bytes::Bytes {
    bytes::Bytes::from(serde_json::to_vec(v).unwrap())
}
