//! The run request: which world, where its run root is (or "generate it"), which traffic mode,
//! which outputs and which engine strategy. The wire type is the contract's
//! ([`fp_rails::contracts::scenario_runner::RunRequest`], schema `run_request`); this module
//! adds what needs the engine catalogue: default outputs, the semantic checks and the intent
//! fingerprint.

use fp_rails::Hex64;
use fp_rails::contracts::Contract;
use fp_rails::contracts::scenario_runner::GenerateSpec;
use fp_rails::ids;
use fp_world::WorldConfig;
use fp_world::catalogue;
use serde_json::json;

use super::SrError;

pub use fp_rails::contracts::scenario_runner::{RunRequest, TrafficMode};

/// The business-traffic output of `mode`.
pub fn traffic_output(mode: TrafficMode) -> &'static str {
    match mode {
        TrafficMode::Fraud => catalogue::EVENT_STREAM_FRAUD.id,
        TrafficMode::Baseline => catalogue::EVENT_STREAM_BASELINE.id,
    }
}

/// Outputs a run of `mode` needs when the request names none: the traffic stream and the
/// context the RTDL joins it with (arrivals, arrival entities, the mode's flow anchor).
pub fn default_outputs(mode: TrafficMode) -> Vec<String> {
    let anchor = match mode {
        TrafficMode::Fraud => catalogue::FLOW_ANCHOR_FRAUD.id,
        TrafficMode::Baseline => catalogue::FLOW_ANCHOR_BASELINE.id,
    };
    [
        traffic_output(mode),
        anchor,
        catalogue::ARRIVAL_EVENTS.id,
        catalogue::ARRIVAL_ENTITIES.id,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Decode a JSON request as strictly as its schema (unknown fields, explicit nulls and
/// out-of-contract values refused).
pub fn from_json(bytes: &[u8]) -> Result<RunRequest, SrError> {
    RunRequest::from_json_bytes(bytes).map_err(|e| SrError::InvalidRequest {
        code: "REQUEST_INVALID",
        detail: e.to_string(),
    })
}

/// The outputs this run must locate, deduplicated in request order.
pub fn intended_outputs(request: &RunRequest) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for o in request
        .output_ids
        .clone()
        .unwrap_or_else(|| default_outputs(request.traffic_mode))
    {
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

/// The generator configuration of a "generate it" block: absent keys take the generator's
/// defaults (the generator's own type decides, so the two cannot drift apart silently).
pub fn world_config(spec: &GenerateSpec) -> Result<WorldConfig, SrError> {
    let value = serde_json::to_value(spec).map_err(|e| SrError::InvalidRequest {
        code: "ENGINE_INVOCATION_INVALID",
        detail: e.to_string(),
    })?;
    serde_json::from_value(value).map_err(|e| SrError::InvalidRequest {
        code: "ENGINE_INVOCATION_INVALID",
        detail: format!("`generate`: {e}"),
    })
}

/// Check the contract and every rule that needs the catalogue; nothing is recorded for a
/// request that fails here.
pub fn validate(request: &RunRequest) -> Result<(), SrError> {
    let bad = |code: &'static str, detail: String| Err(SrError::InvalidRequest { code, detail });
    if let Err(e) = request.validate() {
        return bad("REQUEST_INVALID", e.to_string());
    }
    if let Some(spec) = &request.generate {
        world_config(spec)?;
    }
    let outputs = intended_outputs(request);
    if outputs.is_empty() {
        return bad("PLAN_INVALID", "`output_ids` must not be empty".into());
    }
    if let Some(unknown) = outputs.iter().find(|o| catalogue::output(o).is_none()) {
        return bad(
            "UNKNOWN_OUTPUT_ID",
            format!("output `{unknown}` is not in the engine catalogue"),
        );
    }
    let traffic = traffic_output(request.traffic_mode);
    if !outputs.iter().any(|o| o == traffic) {
        return bad(
            "PLAN_INVALID",
            format!(
                "traffic_mode `{}` needs output `{traffic}` among `output_ids`",
                request.traffic_mode.as_str()
            ),
        );
    }
    Ok(())
}

/// `intent_fingerprint`: the reference's fields (no scenario set, no window: this SR runs one
/// scenario over the whole world) plus what else changes the facts of the run (traffic mode,
/// outputs, run root, strategy), so reusing a key for another intent is a collision.
pub fn intent_fingerprint(request: &RunRequest) -> Hex64 {
    ids::sr_intent_fingerprint(&json!({
        "manifest_fingerprint": request.manifest_fingerprint.as_str(),
        "parameter_hash": request.parameter_hash.as_str(),
        "seed": request.seed,
        "scenario_id": request.scenario_id,
        "scenario_set": null,
        "window_start_utc": null,
        "window_end_utc": null,
        "window_tz": null,
        "traffic_mode": request.traffic_mode.as_str(),
        "intended_outputs": intended_outputs(request),
        "engine_run_root": request.engine_run_root,
        "requested_strategy": super::plan::strategy(request).as_str(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the generator accepts is a key of the request's `generate` block, and the
    /// generator's defaults survive a round trip through it.
    #[test]
    fn generate_spec_covers_the_generator_config() {
        let full = serde_json::to_value(WorldConfig {
            merchants: Some(7),
            parties: Some(9),
            ..WorldConfig::default()
        })
        .unwrap_or_default();
        let spec: GenerateSpec = serde_json::from_value(full.clone()).unwrap_or_default();
        let back = world_config(&spec).map(|c| serde_json::to_value(c).unwrap_or_default());
        assert_eq!(back.ok(), Some(full));
        let defaults = world_config(&GenerateSpec::default()).ok();
        assert_eq!(defaults, Some(WorldConfig::default()));
    }
}
