//! The run facts view (the join surface of a READY run) and the instance proof receipts it
//! carries. Both are pure functions of the plan and the evidence (no timestamps), so they are
//! byte-identical on every re-run and can be written once.

use std::collections::BTreeMap;

use fp_rails::contracts::scenario_runner::{
    GateScope, GateStatus, InstanceArtifacts, InstanceReceipt, InstanceReceiptKind, OraclePackRef,
    RunFactsView,
};
use fp_rails::{ContextPins, Hex64, PlatformRunId, PolicyRev, ids};
use serde_json::Value;

use super::TRAFFIC_DELIVERY_MODE;
use super::evidence::{Evidence, LocatedOutput};
use super::ledger::Ledger;
use super::request::RunRequest;

/// Store path of an output instance's proof receipt (scoped by the world identity, not the
/// run, so a later run that sees other bytes for the same instance meets the first receipt).
pub fn instance_receipt_path(
    ledger: &Ledger,
    request: &RunRequest,
    output_id: &str,
) -> Result<String, fp_substrate::objects::PathError> {
    let seed = request.seed.to_string();
    ledger.prefix().sr_instance_receipt(
        output_id,
        &[
            (
                "manifest_fingerprint",
                request.manifest_fingerprint.as_str(),
            ),
            ("parameter_hash", request.parameter_hash.as_str()),
            ("seed", &seed),
            ("scenario_id", &request.scenario_id),
        ],
    )
}

/// The instance proof of one located output. `target_ref.path` is the catalogue path (the
/// instance's identity inside any copy of the world), so the receipt depends on the bytes,
/// not on where the run root happens to be.
pub fn instance_receipt(
    request: &RunRequest,
    out: &LocatedOutput,
    receipt_path: &str,
) -> InstanceReceipt {
    InstanceReceipt {
        output_id: out.output_id.clone(),
        status: GateStatus::Pass,
        scope: GateScope {
            manifest_fingerprint: request.manifest_fingerprint.clone(),
            parameter_hash: Some(request.parameter_hash.clone()),
            seed: Some(request.seed),
            scenario_id: Some(request.scenario_id.clone()),
            run_id: None,
        },
        target_ref: out.locator(request, true),
        target_digest: out.digest.clone(),
        bundle_manifest_ref: Some(out.bundle_manifest_ref.clone()),
        receipt_kind: Some(InstanceReceiptKind::InstanceProof),
        artifacts: Some(InstanceArtifacts {
            receipt_path: Some(receipt_path.to_owned()),
        }),
        notes: None,
    }
}

fn values<T: serde::Serialize>(items: &[T]) -> Vec<Value> {
    items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap_or_default())
        .collect()
}

/// Inputs of the facts view besides the evidence.
#[derive(Debug)]
pub struct FactsInput<'a> {
    /// Platform session.
    pub platform_run_id: &'a PlatformRunId,
    /// The request.
    pub request: &'a RunRequest,
    /// SR policy (with content digest).
    pub policy_rev: &'a PolicyRev,
    /// Outputs of the plan.
    pub intended_outputs: &'a [String],
    /// Ledger (for the refs).
    pub ledger: &'a Ledger,
    /// Instance receipts, as written.
    pub instance_receipts: &'a [InstanceReceipt],
    /// SR release.
    pub service_release_id: Option<&'a str>,
    /// Environment.
    pub environment: Option<&'a str>,
}

/// Build the facts view (with its `bundle_hash`).
pub fn build(input: &FactsInput<'_>, evidence: &Evidence) -> RunFactsView {
    let r = input.request;
    let run_id = r.scenario_run_id();
    let locators: Vec<_> = evidence
        .outputs
        .iter()
        .map(|o| o.locator(r, false))
        .collect();
    let bundle_hash = ids::sr_bundle_hash(
        &values(&locators),
        &values(&evidence.gate_receipts),
        &values(input.instance_receipts),
        &serde_json::to_value(input.policy_rev).unwrap_or_default(),
    );
    let traffic = super::request::traffic_output(r.traffic_mode);
    let output_roles: BTreeMap<String, String> = input
        .intended_outputs
        .iter()
        .map(|o| {
            let role = if o == traffic {
                "business_traffic"
            } else {
                "non_traffic"
            };
            (o.clone(), role.to_owned())
        })
        .collect();
    RunFactsView {
        run_id: run_id.clone(),
        platform_run_id: input.platform_run_id.clone(),
        scenario_run_id: run_id.clone(),
        pins: ContextPins {
            platform_run_id: input.platform_run_id.clone(),
            scenario_run_id: run_id.clone(),
            manifest_fingerprint: r.manifest_fingerprint.clone(),
            parameter_hash: r.parameter_hash.clone(),
            scenario_id: r.scenario_id.clone(),
            seed: r.seed,
            run_id: Some(run_id),
        },
        locators,
        output_roles: Some(output_roles),
        intended_outputs: Some(input.intended_outputs.to_vec()),
        gate_receipts: evidence.gate_receipts.clone(),
        instance_receipts: Some(input.instance_receipts.to_vec()),
        policy_rev: input.policy_rev.clone(),
        bundle_hash,
        plan_ref: input.ledger.plan_ref(),
        record_ref: input.ledger.record_ref(),
        status_ref: input.ledger.status_ref(),
        run_config_digest: input.policy_rev.content_digest.clone(),
        service_release_id: input.service_release_id.map(str::to_owned),
        environment: input.environment.map(str::to_owned),
        provenance: None,
        oracle_pack_ref: Some(OraclePackRef {
            oracle_pack_id: None,
            manifest_ref: None,
            engine_run_root: Some(evidence.run_root.clone()),
            scenario_id: Some(r.scenario_id.clone()),
            stream_view_root: None,
            stream_view_output_refs: None,
            oracle_root: None,
            engine_release: None,
        }),
        // The contract has no field for these (the reference's facts view is closed); notes
        // keep them on the join surface, read back with `RunFactsView::traffic_delivery_mode`.
        evidence_notes: Some(vec![
            RunFactsView::traffic_delivery_mode_note(TRAFFIC_DELIVERY_MODE),
            format!("traffic_mode={}", r.traffic_mode.as_str()),
            format!("engine_run_id={}", evidence.engine_run_id),
        ]),
    }
}

/// The run config digest SR stamps (the SR policy's content digest).
pub fn run_config_digest(policy_rev: &PolicyRev) -> Hex64 {
    policy_rev
        .content_digest
        .clone()
        .unwrap_or_else(Hex64::zero)
}
