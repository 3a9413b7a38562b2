//! The run request: which world, where its run root is (or "generate it"), which traffic mode
//! and which outputs. Decoded strictly (unknown fields refused).

use fp_rails::Hex64;
use fp_rails::hexid::Hex32;
use fp_rails::ids;
use fp_world::WorldConfig;
use fp_world::catalogue;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::SrError;

/// Which traffic stream the run feeds to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrafficMode {
    /// `s3_event_stream_with_fraud_6B` (the default of the reference).
    Fraud,
    /// `s2_event_stream_baseline_6B`.
    Baseline,
}

impl TrafficMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fraud => "fraud",
            Self::Baseline => "baseline",
        }
    }

    /// The business-traffic output of this mode.
    pub fn traffic_output(self) -> &'static str {
        match self {
            Self::Fraud => catalogue::EVENT_STREAM_FRAUD.id,
            Self::Baseline => catalogue::EVENT_STREAM_BASELINE.id,
        }
    }

    /// Outputs a run of this mode needs when the request names none: the traffic stream and
    /// the context the RTDL joins it with (arrivals, arrival entities, the mode's flow anchor).
    pub fn default_outputs(self) -> Vec<String> {
        let anchor = match self {
            Self::Fraud => catalogue::FLOW_ANCHOR_FRAUD.id,
            Self::Baseline => catalogue::FLOW_ANCHOR_BASELINE.id,
        };
        [
            self.traffic_output(),
            anchor,
            catalogue::ARRIVAL_EVENTS.id,
            catalogue::ARRIVAL_ENTITIES.id,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }
}

/// A Scenario Runner run request (JSON). Needs a JSON Schema (`run_request`) in `contracts/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Idempotency key: `scenario_run_id = H32("sr_run|" + key)` (non-empty, at most 512).
    pub run_equivalence_key: String,
    /// World identity.
    pub manifest_fingerprint: Hex64,
    /// Parameter identity.
    pub parameter_hash: Hex64,
    /// Realisation seed.
    pub seed: u64,
    /// Scenario (`[A-Za-z0-9_.-]`, 1..=256: it is a path token of the engine layout).
    pub scenario_id: String,
    /// The engine run root (a local directory). Reused when it exists, on evidence only.
    pub engine_run_root: String,
    /// "Generate it": when the run root does not exist, invoke the stand-in generator with
    /// this configuration (its seed and scenario must be the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<WorldConfig>,
    /// Which traffic stream the run feeds.
    pub traffic_mode: TrafficMode,
    /// Outputs wanted; default [`TrafficMode::default_outputs`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_ids: Option<Vec<String>>,
    /// Caller's request id (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Who asked (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoker: Option<String>,
}

impl RunRequest {
    /// Decode a JSON request strictly.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SrError> {
        serde_json::from_slice(bytes).map_err(|e| SrError::InvalidRequest {
            code: "REQUEST_INVALID",
            detail: e.to_string(),
        })
    }

    /// `scenario_run_id` (= SR `run_id`) of this request.
    pub fn scenario_run_id(&self) -> Hex32 {
        ids::scenario_run_id(&self.run_equivalence_key)
    }

    /// The outputs this run must locate, deduplicated in request order.
    pub fn intended_outputs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for o in self
            .output_ids
            .clone()
            .unwrap_or_else(|| self.traffic_mode.default_outputs())
        {
            if !out.contains(&o) {
                out.push(o);
            }
        }
        out
    }

    /// Check every rule serde cannot; nothing is recorded for a request that fails here.
    pub fn validate(&self) -> Result<(), SrError> {
        let bad =
            |code: &'static str, detail: String| Err(SrError::InvalidRequest { code, detail });
        let key = &self.run_equivalence_key;
        if key.is_empty() || key.len() > 512 {
            return bad(
                "REQUEST_INVALID",
                "`run_equivalence_key` must be 1..=512 characters".into(),
            );
        }
        let sc = &self.scenario_id;
        if sc.is_empty()
            || sc.len() > 256
            || !sc
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return bad(
                "REQUEST_INVALID",
                format!("`scenario_id` `{sc}` must be 1..=256 characters of [A-Za-z0-9_.-]"),
            );
        }
        if self.engine_run_root.is_empty() {
            return bad(
                "REQUEST_INVALID",
                "`engine_run_root` must not be empty".into(),
            );
        }
        let outputs = self.intended_outputs();
        if outputs.is_empty() {
            return bad("PLAN_INVALID", "`output_ids` must not be empty".into());
        }
        if let Some(unknown) = outputs.iter().find(|o| catalogue::output(o).is_none()) {
            return bad(
                "UNKNOWN_OUTPUT_ID",
                format!("output `{unknown}` is not in the engine catalogue"),
            );
        }
        let traffic = self.traffic_mode.traffic_output();
        if !outputs.iter().any(|o| o == traffic) {
            return bad(
                "PLAN_INVALID",
                format!(
                    "traffic_mode `{}` needs output `{traffic}` among `output_ids`",
                    self.traffic_mode.as_str()
                ),
            );
        }
        Ok(())
    }

    /// `intent_fingerprint`: the reference's fields (no scenario set, no window: this SR runs
    /// one scenario over the whole world) plus what else changes the facts of the run (traffic
    /// mode, outputs, run root), so reusing a key for another intent is a collision.
    pub fn intent_fingerprint(&self) -> Hex64 {
        ids::sr_intent_fingerprint(&json!({
            "manifest_fingerprint": self.manifest_fingerprint.as_str(),
            "parameter_hash": self.parameter_hash.as_str(),
            "seed": self.seed,
            "scenario_id": self.scenario_id,
            "scenario_set": null,
            "window_start_utc": null,
            "window_end_utc": null,
            "window_tz": null,
            "traffic_mode": self.traffic_mode.as_str(),
            "intended_outputs": self.intended_outputs(),
            "engine_run_root": self.engine_run_root,
        }))
    }
}
