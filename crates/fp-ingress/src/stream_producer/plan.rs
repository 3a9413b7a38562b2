//! The StreamPlan: which outputs of a READY world are streamed, checked before anything is
//! read (contracts §9.2). Exactly one traffic output (fraud or baseline mode, never both) plus
//! the time-safe context of that mode; truth products are never streamed; every output's gate
//! must have PASSed in the run's facts view (no PASS, no read); the oracle pack must be sealed
//! for the run's world key when the profile says so.

use fp_rails::contracts::scenario_runner::{GateStatus, RunFactsView};
use fp_substrate::objects::Objects;
use fp_world::catalogue;
use fp_world::oracle::{STREAMED_OUTPUTS, sealed_manifest};
use serde::Deserialize;

use super::error::WspError;

/// The two behavioural streams; a run streams exactly one of them.
pub const TRAFFIC_OUTPUTS: [&str; 2] = [
    "s3_event_stream_with_fraud_6B",
    "s2_event_stream_baseline_6B",
];

/// The outputs a mode streams (the profile's `policy.outputs.<mode>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeSelection {
    /// The traffic output.
    pub traffic: String,
    /// Time-safe context outputs.
    pub context: Vec<String>,
}

/// The world and run every envelope is pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldPins {
    /// World identity.
    pub manifest_fingerprint: String,
    /// Parameter identity.
    pub parameter_hash: String,
    /// Realisation seed.
    pub seed: u64,
    /// Scenario.
    pub scenario_id: String,
    /// The engine's `run_receipt.run_id` (envelope `run_id`).
    pub engine_run_id: String,
    /// Platform session run.
    pub platform_run_id: String,
    /// SR's scenario run.
    pub scenario_run_id: String,
    /// The oracle pack id when sealed (envelope `trace_id`, checkpoint scope).
    pub pack_id: Option<String>,
    /// Engine release (envelope `span_id`).
    pub engine_release: Option<String>,
}

/// One streamed output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOutput {
    /// Output id (= envelope `event_type`).
    pub output_id: String,
    /// Whether this is the run's traffic (else context).
    pub is_traffic: bool,
}

/// What a READY run streams, and from where.
#[derive(Debug, Clone)]
pub struct StreamPlan {
    /// Pins of every envelope.
    pub pins: WorldPins,
    /// Traffic first, then context, in policy order.
    pub outputs: Vec<PlannedOutput>,
    /// The engine run root as SR recorded it (a path or URI).
    pub engine_root: String,
    /// Store holding the engine run root.
    pub engine_objects: Objects,
    /// The run root's prefix inside `engine_objects`.
    pub engine_prefix: String,
    /// Checkpoint scope: the pack id, else `sha256(engine_root)` (the reference's fallback).
    pub pack_key: String,
}

/// The checks of a plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanChecks {
    /// No PASS, no read.
    pub require_gate_pass: bool,
    /// Refuse unsealed packs.
    pub require_sealed: bool,
}

#[derive(Deserialize)]
struct RunReceipt {
    run_id: String,
}

impl StreamPlan {
    /// Derive the plan of `facts` for `mode`, reading the engine root through `engine_objects`
    /// at `engine_prefix` (the run receipt and, when required, the seal).
    pub async fn derive(
        facts: &RunFactsView,
        mode: &ModeSelection,
        checks: PlanChecks,
        engine_objects: Objects,
        engine_prefix: String,
    ) -> Result<Self, WspError> {
        let outputs = select_outputs(mode)?;
        if checks.require_gate_pass {
            for o in &outputs {
                require_pass(facts, &o.output_id)?;
            }
        }
        let engine_root = facts
            .oracle_pack_ref
            .as_ref()
            .and_then(|r| r.engine_run_root.clone())
            .unwrap_or_else(|| engine_prefix.clone());
        let receipt_path = join(&engine_prefix, "run_receipt.json");
        let receipt: RunReceipt = serde_json::from_slice(&engine_objects.get(&receipt_path).await?)
            .map_err(|e| WspError::Pack {
                root: engine_root.clone(),
                detail: format!("RUN_RECEIPT_UNREADABLE: {receipt_path}: {e}"),
            })?;
        let pins = &facts.pins;
        let (pack_id, engine_release) = match sealed_manifest(&engine_objects, &engine_prefix).await
        {
            Ok(m) => {
                let key = &m.world_key;
                let ours = (
                    pins.manifest_fingerprint.as_str(),
                    pins.parameter_hash.as_str(),
                    pins.scenario_id.as_str(),
                    pins.seed,
                );
                let theirs = (
                    key.manifest_fingerprint.as_str(),
                    key.parameter_hash.as_str(),
                    key.scenario_id.as_str(),
                    key.seed,
                );
                if ours != theirs {
                    return Err(WspError::Pack {
                        root: engine_root,
                        detail: format!(
                            "WORLD_KEY_MISMATCH: the pack is sealed for {theirs:?}, the run is {ours:?}"
                        ),
                    });
                }
                (Some(m.oracle_pack_id), Some(m.engine_release))
            }
            Err(e) if checks.require_sealed => {
                return Err(WspError::Pack {
                    root: engine_root,
                    detail: format!("PACK_NOT_SEALED: {e}"),
                });
            }
            Err(_) => (None, None),
        };
        let pack_key = pack_id
            .clone()
            .unwrap_or_else(|| fp_rails::digest::sha256_hex(engine_root.as_bytes()));
        Ok(Self {
            pins: WorldPins {
                manifest_fingerprint: pins.manifest_fingerprint.to_string(),
                parameter_hash: pins.parameter_hash.to_string(),
                seed: pins.seed,
                scenario_id: pins.scenario_id.clone(),
                engine_run_id: receipt.run_id,
                platform_run_id: facts.platform_run_id.to_string(),
                scenario_run_id: facts.scenario_run_id.to_string(),
                pack_id,
                engine_release,
            },
            outputs,
            engine_root,
            engine_objects,
            engine_prefix,
            pack_key,
        })
    }
}

/// Traffic first, then context; unknown or truth outputs refused.
pub fn select_outputs(mode: &ModeSelection) -> Result<Vec<PlannedOutput>, WspError> {
    if !TRAFFIC_OUTPUTS.contains(&mode.traffic.as_str()) {
        return Err(WspError::NotTraffic(mode.traffic.clone()));
    }
    let mut out = vec![PlannedOutput {
        output_id: mode.traffic.clone(),
        is_traffic: true,
    }];
    for c in &mode.context {
        if !STREAMED_OUTPUTS.contains(&c.as_str()) || TRAFFIC_OUTPUTS.contains(&c.as_str()) {
            return Err(WspError::UnknownOutput(c.clone()));
        }
        if out.iter().all(|o| o.output_id != *c) {
            out.push(PlannedOutput {
                output_id: c.clone(),
                is_traffic: false,
            });
        }
    }
    Ok(out)
}

/// The output's gate must have a PASS verdict in the facts view.
fn require_pass(facts: &RunFactsView, output_id: &str) -> Result<(), WspError> {
    let spec =
        catalogue::output(output_id).ok_or_else(|| WspError::UnknownOutput(output_id.into()))?;
    let passed = facts
        .gate_receipts
        .iter()
        .any(|g| g.gate_id == spec.gate && g.status == GateStatus::Pass);
    if passed {
        Ok(())
    } else {
        Err(WspError::GateNotPassed {
            output_id: output_id.into(),
            gate_id: spec.gate.into(),
        })
    }
}

fn join(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() {
        rel.to_owned()
    } else {
        format!("{}/{rel}", prefix.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(traffic: &str, context: &[&str]) -> ModeSelection {
        ModeSelection {
            traffic: traffic.into(),
            context: context.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn traffic_first_then_context_in_policy_order() {
        let plan = select_outputs(&mode(
            "s3_event_stream_with_fraud_6B",
            &["arrival_events_5B", "s3_flow_anchor_with_fraud_6B"],
        ))
        .expect("plan");
        let ids: Vec<_> = plan.iter().map(|o| o.output_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "s3_event_stream_with_fraud_6B",
                "arrival_events_5B",
                "s3_flow_anchor_with_fraud_6B"
            ]
        );
        assert!(plan[0].is_traffic && !plan[1].is_traffic);
    }

    #[test]
    fn truth_products_and_second_streams_are_refused() {
        for bad in ["s4_flow_truth_labels_6B", "s1_session_index_6B", "nope"] {
            let e = select_outputs(&mode("s3_event_stream_with_fraud_6B", &[bad]));
            assert!(
                matches!(e, Err(WspError::UnknownOutput(ref o)) if o == bad),
                "{bad}"
            );
        }
        // Both streams in one run: the baseline stream may not ride as context.
        let e = select_outputs(&mode(
            "s3_event_stream_with_fraud_6B",
            &["s2_event_stream_baseline_6B"],
        ));
        assert!(matches!(e, Err(WspError::UnknownOutput(_))));
        let e = select_outputs(&mode("arrival_events_5B", &[]));
        assert!(matches!(e, Err(WspError::NotTraffic(_))));
    }
}
