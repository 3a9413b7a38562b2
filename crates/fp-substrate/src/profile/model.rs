//! The profile data model: `policy` (outcome-affecting, versioned by `policy_rev`) separate from
//! `wiring` (where things are; may differ per environment without changing semantics).
//!
//! Every struct rejects unknown keys, so a typo is an error naming the key rather than a
//! silently ignored setting.

use serde::{Deserialize, Serialize};

use super::secret::{Dsn, Secret};

/// One environment profile (`config/profiles/<profile_id>.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `local`, `local_parity`, `dev`, `prod`.
    pub profile_id: String,
    /// Environment name stamped into provenance (defaults to the profile id).
    #[serde(default)]
    pub environment: Option<String>,
    /// Outcome-affecting settings.
    pub policy: Policy,
    /// Endpoints and resources.
    pub wiring: Wiring,
}

/// Outcome-affecting settings. Identical across local_parity, dev and prod except where a
/// profile deliberately documents otherwise; digested into `policy_rev`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Human revision tag stamped as `policy_rev.revision`.
    pub revision: String,
    /// No PASS, no read: refuse worlds whose validation gates did not pass.
    #[serde(default = "yes")]
    pub require_gate_pass: bool,
    /// Refuse oracle packs that are not sealed.
    #[serde(default = "yes")]
    pub require_sealed_oracle: bool,
    /// Which traffic a run streams (one mode per run, never both).
    pub traffic_mode: TrafficMode,
    /// Pacing of replay: `max` or a positive factor of event time.
    pub stream_speedup: Speedup,
    /// Which engine outputs are traffic and which are time-safe context, per mode.
    pub outputs: OutputPolicy,
}

fn yes() -> bool {
    true
}

/// The traffic mode of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficMode {
    /// `s3_event_stream_with_fraud_6B` and its context.
    Fraud,
    /// `s2_event_stream_baseline_6B` and its context.
    Baseline,
}

/// Replay pacing: a speedup factor over event time, or as fast as possible.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Speedup {
    /// Event-time gaps divided by this factor.
    Factor(f64),
    /// No sleeping at all (`max`).
    Named(SpeedupName),
}

/// Named speedups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeedupName {
    /// As fast as possible.
    Max,
}

/// Streamed outputs per traffic mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputPolicy {
    /// Fraud-mode outputs.
    pub fraud: ModeOutputs,
    /// Baseline-mode outputs.
    pub baseline: ModeOutputs,
}

/// The outputs of one mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeOutputs {
    /// The single traffic output.
    pub traffic: String,
    /// Time-safe context outputs streamed alongside (truth products never appear here).
    pub context: Vec<String>,
}

/// Where things are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wiring {
    /// Local working directory for embedded backends.
    pub data_dir: String,
    /// The platform's object store (receipts, ledger, audit, ...).
    pub object_store: ObjectStoreWiring,
    /// The Oracle Store holding sealed engine worlds.
    pub oracle_store: ObjectStoreWiring,
    /// SQL state: indices, checkpoints, projections.
    pub state: StateWiring,
    /// The event bus for admitted facts.
    pub event_bus: BusWiring,
    /// The control bus (READY and other control facts).
    pub control_bus: BusWiring,
    /// The Ingestion Gate service.
    pub ingestion_gate: IngestionGateWiring,
}

/// An object store location.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStoreWiring {
    /// `/abs/dir`, `file:///abs/dir`, relative dir, or `s3://bucket[/prefix]`.
    pub url: String,
    /// S3 endpoint override (moto, MinIO, LocalStack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3 region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style S3 addressing (needed by moto and MinIO).
    #[serde(default = "yes")]
    pub path_style: bool,
    /// Allow plain-HTTP endpoints (local emulators only).
    #[serde(default)]
    pub allow_http: bool,
    /// Access key id (a secret: from the environment or a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Secret>,
    /// Secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
}

/// SQL state location.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateWiring {
    /// `sqlite:PATH`, `sqlite::memory:` or `postgresql://...` (password redacted when shown).
    pub url: Dsn,
}

/// An event-bus backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BusWiring {
    /// The embedded segmented log.
    Embedded {
        /// Directory holding the log (relative paths resolve against the working directory).
        root: String,
        /// Partitions per topic.
        #[serde(default = "one")]
        partitions: u32,
    },
    /// Amazon Kinesis (or an emulator).
    Kinesis {
        /// Endpoint override (moto, LocalStack).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Region.
        region: String,
        /// Shards per stream created by bootstrap.
        #[serde(default = "one")]
        shards: u32,
        /// Optional prefix for stream names (shared accounts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_prefix: Option<String>,
        /// Access key id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_key_id: Option<Secret>,
        /// Secret access key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_access_key: Option<Secret>,
    },
}

fn one() -> u32 {
    1
}

/// The Ingestion Gate's service wiring.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestionGateWiring {
    /// Listen address (`127.0.0.1:8081`).
    pub bind: String,
    /// URL producers push to.
    pub url: String,
    /// Writer authentication.
    pub auth: IngestionGateAuth,
    /// Largest accepted request body.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
}

fn default_max_body() -> u64 {
    8 * 1024 * 1024
}

/// Writer authentication at the Ingestion Gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestionGateAuth {
    /// `disabled` or `api_key`.
    pub mode: AuthMode,
    /// Header carrying the key (reference: `X-IG-Api-Key`).
    #[serde(default = "default_api_key_header")]
    pub api_key_header: String,
    /// Comma-separated allowed keys (a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<Secret>,
    /// The key this process presents as a client (a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_api_key: Option<Secret>,
}

fn default_api_key_header() -> String {
    "X-IG-Api-Key".to_owned()
}

/// Authentication modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// No authentication (embedded runs only).
    Disabled,
    /// Shared API keys from a runtime secret.
    ApiKey,
}
