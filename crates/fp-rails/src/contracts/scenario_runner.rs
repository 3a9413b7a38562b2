//! Scenario Runner contracts: the run facts view (the join surface of a READY run) and the
//! READY signal (`run_facts_view`, `run_ready_signal`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::check::{self, Checked};
use super::{Contract, Violation};
use crate::digest::ContentDigest;
use crate::hexid::{Hex32, Hex64, PlatformRunId};
use crate::locator::EngineOutputLocator;
use crate::pins::ContextPins;
use crate::policy::{PolicyRev, Provenance};
use crate::time::TsUtc;

wire_enum! {
    /// Outcome of a gate or an instance proof.
    pub enum GateStatus {
        /// The gate passed: the scoped outputs may be read.
        Pass => "PASS",
        /// The gate failed: no PASS, no read.
        Fail => "FAIL",
    }
}

wire_enum! {
    /// How a gate receipt was obtained.
    pub enum GateReceiptKind {
        /// A `_passed.flag` in the validation bundle.
        PassedFlag => "passed_flag",
        /// A JSON receipt file.
        JsonReceipt => "json_receipt",
        /// A bundle-level flag.
        BundleFlag => "bundle_flag",
    }
}

wire_enum! {
    /// Kind of an instance receipt (only one exists).
    pub enum InstanceReceiptKind {
        /// Proof that one output instance belongs to a validated bundle.
        InstanceProof => "instance_proof",
    }
}

/// The world scope a gate or instance receipt vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateScope {
    /// World identity.
    pub manifest_fingerprint: Hex64,
    /// Parameter identity, for parameter-scoped gates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_hash: Option<Hex64>,
    /// Seed, for seed-scoped gates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Scenario, for scenario-scoped gates (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_id: Option<String>,
    /// Engine run id, for run-scoped gates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Hex32>,
}

impl GateScope {
    fn check_at(&self, at: &str) -> Checked {
        check::opt(self.scenario_id.as_deref(), |v| {
            check::len(at, "scenario_id", v, 1, 256)
        })
    }
}

/// Where a gate's validation evidence lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateArtifacts {
    /// Root of the validation bundle (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_bundle_root: Option<String>,
    /// The bundle's index file (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_path: Option<String>,
    /// The `_passed.flag` file (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_flag_path: Option<String>,
}

/// One engine gate's verdict, as the Scenario Runner verified it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateReceipt {
    /// Gate id, e.g. `gate.layer3.6B.validation` (`^[A-Za-z0-9_.-]+$`, 1..=128).
    pub gate_id: String,
    /// PASS or FAIL.
    pub status: GateStatus,
    /// Scope the verdict covers.
    pub scope: GateScope,
    /// When the engine produced the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_at_utc: Option<TsUtc>,
    /// How the receipt was obtained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_kind: Option<GateReceiptKind>,
    /// Digest of the validation bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<ContentDigest>,
    /// Where the evidence lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<GateArtifacts>,
    /// Free text (at most 2048 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl GateReceipt {
    fn check_at(&self, at: &str) -> Checked {
        check::output_id(at, "gate_id", &self.gate_id)?;
        self.scope.check_at(&check::join(at, "scope"))?;
        if let Some(a) = &self.artifacts {
            let at = check::join(at, "artifacts");
            for (name, v) in [
                ("validation_bundle_root", &a.validation_bundle_root),
                ("index_path", &a.index_path),
                ("passed_flag_path", &a.passed_flag_path),
            ] {
                check::opt(v.as_deref(), |v| check::len(&at, name, v, 1, 2048))?;
            }
        }
        check::opt(self.notes.as_deref(), |v| {
            check::max_len(at, "notes", v, 2048)
        })
    }
}

/// Where an instance proof's receipt lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceArtifacts {
    /// The receipt file (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_path: Option<String>,
}

/// Proof that one output instance is covered by a validated bundle (instance-scoped outputs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceReceipt {
    /// The output (`^[A-Za-z0-9_.-]+$`, 1..=128).
    pub output_id: String,
    /// PASS or FAIL.
    pub status: GateStatus,
    /// Scope the proof covers.
    pub scope: GateScope,
    /// The output instance (facts-view locator form: no `notes`).
    pub target_ref: EngineOutputLocator,
    /// Digest of the instance's bytes.
    pub target_digest: ContentDigest,
    /// The bundle manifest the proof checks against (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_manifest_ref: Option<String>,
    /// Always `instance_proof` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_kind: Option<InstanceReceiptKind>,
    /// Where the receipt lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<InstanceArtifacts>,
    /// Free text (at most 2048 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl InstanceReceipt {
    fn check_at(&self, at: &str) -> Checked {
        check::output_id(at, "output_id", &self.output_id)?;
        self.scope.check_at(&check::join(at, "scope"))?;
        check::facts_locator(&check::join(at, "target_ref"), &self.target_ref)?;
        check::opt(self.bundle_manifest_ref.as_deref(), |v| {
            check::len(at, "bundle_manifest_ref", v, 1, 2048)
        })?;
        check::opt(
            self.artifacts
                .as_ref()
                .and_then(|a| a.receipt_path.as_deref()),
            |v| check::len(&check::join(at, "artifacts"), "receipt_path", v, 1, 2048),
        )?;
        check::opt(self.notes.as_deref(), |v| {
            check::max_len(at, "notes", v, 2048)
        })
    }
}

/// Where the sealed oracle pack of a run lives; at least one field is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OraclePackRef {
    /// Pack identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_pack_id: Option<Hex64>,
    /// The pack manifest (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_ref: Option<String>,
    /// Root of the engine run (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_run_root: Option<String>,
    /// Scenario (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_id: Option<String>,
    /// Root of the sorted stream views (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_view_root: Option<String>,
    /// output_id -> stream view location (values 1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_view_output_refs: Option<BTreeMap<String, String>>,
    /// Oracle store root (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_root: Option<String>,
    /// Engine release that produced the world (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_release: Option<String>,
}

impl OraclePackRef {
    fn check_at(&self, at: &str) -> Checked {
        let present = self.oracle_pack_id.is_some()
            || self.manifest_ref.is_some()
            || self.engine_run_root.is_some()
            || self.scenario_id.is_some()
            || self.stream_view_root.is_some()
            || self.stream_view_output_refs.is_some()
            || self.oracle_root.is_some()
            || self.engine_release.is_some();
        if !present {
            return Err(Violation::new(at, "must have at least one field"));
        }
        for (name, v, max) in [
            ("manifest_ref", &self.manifest_ref, 2048),
            ("engine_run_root", &self.engine_run_root, 2048),
            ("scenario_id", &self.scenario_id, 256),
            ("stream_view_root", &self.stream_view_root, 2048),
            ("oracle_root", &self.oracle_root, 2048),
            ("engine_release", &self.engine_release, 256),
        ] {
            check::opt(v.as_deref(), |v| check::len(at, name, v, 1, max))?;
        }
        if let Some(refs) = &self.stream_view_output_refs {
            let at = check::join(at, "stream_view_output_refs");
            for (k, v) in refs {
                check::len(&at, k, v, 1, 2048)?;
            }
        }
        Ok(())
    }
}

/// The join surface of a READY run: pins, engine output locators, gate and instance receipts,
/// policy and bundle hash. Written once by the Scenario Runner; read by the World Stream
/// Producer and everything that resolves a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFactsView {
    /// SR run id (equals `scenario_run_id`).
    pub run_id: Hex32,
    /// Platform session run.
    pub platform_run_id: PlatformRunId,
    /// Deterministic scenario run.
    pub scenario_run_id: Hex32,
    /// All six pins plus `run_id`, which is required here.
    pub pins: ContextPins,
    /// Engine output locators (facts-view form: non-empty strings, no `notes`).
    pub locators: Vec<EngineOutputLocator>,
    /// output_id -> role (`business_traffic` | `non_traffic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_roles: Option<BTreeMap<String, String>>,
    /// Outputs the plan intended (non-empty strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_outputs: Option<Vec<String>>,
    /// Verified gate verdicts.
    pub gate_receipts: Vec<GateReceipt>,
    /// Verified instance proofs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_receipts: Option<Vec<InstanceReceipt>>,
    /// SR policy; `content_digest` is required here.
    pub policy_rev: PolicyRev,
    /// Hash over locators, receipts and policy (see [`crate::ids::sr_bundle_hash`]).
    pub bundle_hash: Hex64,
    /// The run plan (non-empty).
    pub plan_ref: String,
    /// The run record (non-empty).
    pub record_ref: String,
    /// The run status (non-empty).
    pub status_ref: String,
    /// Run-level configuration digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_config_digest: Option<Hex64>,
    /// SR release (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_release_id: Option<String>,
    /// Environment (1..=64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Writer provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Oracle pack of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_pack_ref: Option<OraclePackRef>,
    /// Free-text evidence notes (non-empty strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_notes: Option<Vec<String>>,
}

impl Contract for RunFactsView {
    const SCHEMA: &'static str = "run_facts_view";

    fn check(&self) -> Result<(), Violation> {
        check::pins("", &self.pins, None)?;
        check::rule(self.pins.run_id.is_some(), "pins", "run_id", "is required")?;
        for (i, l) in self.locators.iter().enumerate() {
            check::facts_locator(&check::item("", "locators", i), l)?;
        }
        check::opt(self.intended_outputs.as_deref(), |v| {
            check::items_min_len("", "intended_outputs", v, 1)
        })?;
        for (i, g) in self.gate_receipts.iter().enumerate() {
            g.check_at(&check::item("", "gate_receipts", i))?;
        }
        for (i, r) in self.instance_receipts.iter().flatten().enumerate() {
            r.check_at(&check::item("", "instance_receipts", i))?;
        }
        check::rule(
            self.policy_rev.content_digest.is_some(),
            "policy_rev",
            "content_digest",
            "is required",
        )?;
        check::min_len("", "plan_ref", &self.plan_ref, 1)?;
        check::min_len("", "record_ref", &self.record_ref, 1)?;
        check::min_len("", "status_ref", &self.status_ref, 1)?;
        check::release(
            self.service_release_id.as_deref(),
            self.environment.as_deref(),
        )?;
        check::opt(self.provenance.as_ref(), |p| {
            check::provenance("provenance", p)
        })?;
        check::opt(self.oracle_pack_ref.as_ref(), |o| {
            o.check_at("oracle_pack_ref")
        })?;
        check::opt(self.evidence_notes.as_deref(), |v| {
            check::items_min_len("", "evidence_notes", v, 1)
        })
    }
}

/// READY: the run is pinned, evidenced and joinable. Published by the Scenario Runner on the
/// control bus (not through the Ingestion Gate); consumers dedupe on `message_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReadySignal {
    /// SR run id.
    pub run_id: Hex32,
    /// Platform session run.
    pub platform_run_id: PlatformRunId,
    /// Deterministic scenario run.
    pub scenario_run_id: Hex32,
    /// Where the facts view is (non-empty).
    pub facts_view_ref: String,
    /// The facts view's bundle hash.
    pub bundle_hash: Hex64,
    /// The run plan's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_hash: Option<Hex64>,
    /// `sha256("ready|{platform_run_id}|{scenario_run_id}|{bundle_hash or plan_hash}")`
    /// (see [`crate::ids::ready_message_id`]).
    pub message_id: Hex64,
    /// Run-level configuration digest.
    pub run_config_digest: Hex64,
    /// SR release (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_release_id: Option<String>,
    /// Environment (1..=64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Writer provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// World identity.
    pub manifest_fingerprint: Hex64,
    /// Parameter identity.
    pub parameter_hash: Hex64,
    /// Scenario (non-empty).
    pub scenario_id: String,
    /// When the signal was emitted (`format: date-time`; kept as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emitted_at_utc: Option<String>,
    /// Oracle pack of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_pack_ref: Option<OraclePackRef>,
}

impl Contract for RunReadySignal {
    const SCHEMA: &'static str = "run_ready_signal";

    fn check(&self) -> Result<(), Violation> {
        check::min_len("", "facts_view_ref", &self.facts_view_ref, 1)?;
        check::release(
            self.service_release_id.as_deref(),
            self.environment.as_deref(),
        )?;
        check::opt(self.provenance.as_ref(), |p| {
            check::provenance("provenance", p)
        })?;
        check::min_len("", "scenario_id", &self.scenario_id, 1)?;
        check::opt(self.oracle_pack_ref.as_ref(), |o| {
            o.check_at("oracle_pack_ref")
        })
    }
}
