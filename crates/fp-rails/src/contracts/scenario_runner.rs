//! Scenario Runner contracts: the run request, the run ledger (plan, record events, status,
//! instance receipts, quarantine record), the run facts view (the join surface of a READY run),
//! the READY and terminal signals and their control-bus wrapper.

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

impl Contract for InstanceReceipt {
    const SCHEMA: &'static str = "instance_receipt";

    fn check(&self) -> Result<(), Violation> {
        self.check_at("")
    }
}

// ------------------------------------------------------------------------------ the run ledger

wire_enum! {
    /// State of one scenario run (contracts §7.3).
    pub enum RunState {
        /// Accepted, nothing planned yet.
        Open => "OPEN",
        /// The plan is committed.
        Planned => "PLANNED",
        /// The engine (stand-in generator) is running.
        Executing => "EXECUTING",
        /// Declared by the contract, unused (as in the reference).
        Verifying => "VERIFYING",
        /// Evidence absent before the plan's deadline; SR polls for it.
        WaitingEvidence => "WAITING_EVIDENCE",
        /// Pinned, evidenced, joinable. Final.
        Ready => "READY",
        /// Evidence missing or invalid. Final.
        Failed => "FAILED",
        /// Evidence contradicts the request or an earlier observation. Final.
        Quarantined => "QUARANTINED",
    }
}

impl RunState {
    /// READY, FAILED and QUARANTINED never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Ready | Self::Failed | Self::Quarantined)
    }

    /// Whether `self -> to` is allowed (reference `ledger._allowed_transition`); a state
    /// "moves" to itself, which makes re-recording it idempotent.
    pub fn can_move_to(self, to: RunState) -> bool {
        use RunState::*;
        match self {
            Open => matches!(to, Open | Planned | Failed | Quarantined),
            Planned => matches!(
                to,
                Planned | Executing | WaitingEvidence | Ready | Failed | Quarantined
            ),
            Executing | Verifying => matches!(
                to,
                Executing | WaitingEvidence | Ready | Failed | Quarantined
            ),
            WaitingEvidence => matches!(to, WaitingEvidence | Ready | Failed | Quarantined),
            Ready | Failed | Quarantined => to == self,
        }
    }
}

wire_enum! {
    /// How the engine world is obtained.
    pub enum Strategy {
        /// Reuse the run root when it exists (on evidence), else invoke the engine.
        Auto => "AUTO",
        /// Only invoke; an existing world is never overwritten.
        ForceInvoke => "FORCE_INVOKE",
        /// Only reuse; an absent run root fails closed.
        ForceReuse => "FORCE_REUSE",
    }
}

/// The run plan (`sr/run_plan/{run_id}.json`, write-once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPlan {
    /// SR run id.
    pub run_id: Hex32,
    /// `sha256(CJ-SR(plan without plan_hash))`.
    pub plan_hash: Hex64,
    /// SR policy (content digest required).
    pub policy_rev: PolicyRev,
    /// Engine strategy.
    pub strategy: Strategy,
    /// Outputs to locate (non-empty strings).
    pub intended_outputs: Vec<String>,
    /// Gates to verify, the transitive closure (non-empty strings).
    pub required_gates: Vec<String>,
    /// Absent evidence is waited for until then.
    pub evidence_deadline_utc: TsUtc,
    /// Engine attempts allowed (at least 1).
    pub attempt_limit: u32,
    /// When the plan was made.
    pub created_at_utc: TsUtc,
}

impl Contract for RunPlan {
    const SCHEMA: &'static str = "run_plan";

    fn check(&self) -> Result<(), Violation> {
        check::rule(
            self.policy_rev.content_digest.is_some(),
            "policy_rev",
            "content_digest",
            "is required",
        )?;
        check::items_min_len("", "intended_outputs", &self.intended_outputs, 1)?;
        check::items_min_len("", "required_gates", &self.required_gates, 1)?;
        check::rule(self.attempt_limit >= 1, "", "attempt_limit", "must be >= 1")
    }
}

/// One line of the run record (`sr/run_record/{run_id}.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecordEvent {
    /// `sha256(CJ-SR({event_kind, run_id, details}))` (see [`crate::ids::sr_record_event_id`]).
    pub event_id: Hex64,
    /// e.g. `RUN_ACCEPTED`, `READY_PUBLISHED` (non-empty).
    pub event_kind: String,
    /// SR run id.
    pub run_id: Hex32,
    /// When it was recorded (not part of the id).
    pub ts_utc: TsUtc,
    /// Facts of the event (open).
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Policy in force, when the event carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_rev: Option<PolicyRev>,
}

impl Contract for RunRecordEvent {
    const SCHEMA: &'static str = "run_record_event";

    fn check(&self) -> Result<(), Violation> {
        check::min_len("", "event_kind", &self.event_kind, 1)
    }
}

/// The run status (`sr/run_status/{run_id}.json`, the one mutable SR object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStatus {
    /// SR run id.
    pub run_id: Hex32,
    /// Current state.
    pub state: RunState,
    /// When the state was set.
    pub updated_at_utc: TsUtc,
    /// The run record (non-empty).
    pub record_ref: String,
    /// Why the run failed or was quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// The facts view (READY only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts_view_ref: Option<String>,
}

impl Contract for RunStatus {
    const SCHEMA: &'static str = "run_status";

    fn check(&self) -> Result<(), Violation> {
        check::min_len("", "record_ref", &self.record_ref, 1)
    }
}

/// Terminal signal of a FAILED or QUARANTINED run (re-emit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunTerminalSignal {
    /// SR run id.
    pub run_id: Hex32,
    /// `FAILED` or `QUARANTINED`.
    pub status_state: RunState,
    /// The run status (non-empty).
    pub status_ref: String,
    /// The run record (non-empty).
    pub record_ref: String,
    /// `sha256("terminal|run_id|state|" + sha256(CJ-SR(run_status)))`.
    pub reemit_key: Hex64,
    /// Reason (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// When emitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emitted_at_utc: Option<TsUtc>,
}

impl Contract for RunTerminalSignal {
    const SCHEMA: &'static str = "run_terminal_signal";

    fn check(&self) -> Result<(), Violation> {
        check::rule(
            matches!(self.status_state, RunState::Failed | RunState::Quarantined),
            "",
            "status_state",
            "must be FAILED or QUARANTINED",
        )?;
        check::min_len("", "status_ref", &self.status_ref, 1)?;
        check::min_len("", "record_ref", &self.record_ref, 1)?;
        check::opt(self.reason_code.as_deref(), |v| {
            check::len("", "reason_code", v, 1, 256)
        })
    }
}

wire_enum! {
    /// Kind of a control-bus message.
    pub enum ControlKind {
        /// First publication of READY.
        Ready => "READY",
        /// READY again, same message id.
        ReadyReemit => "READY_REEMIT",
        /// The terminal status of a FAILED/QUARANTINED run.
        TerminalReemit => "TERMINAL_REEMIT",
    }
}

/// Routing attributes of a control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlAttributes {
    /// Which message.
    pub kind: ControlKind,
    /// SR run id.
    pub run_id: Hex32,
    /// The run's state (terminal re-emits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RunState>,
}

/// The control topic's name.
pub const CONTROL_TOPIC: &str = "fp.bus.control.v1";

/// The §7.4 wrapper of every SR message on the control bus (encoded as CJ-SR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlMessage {
    /// Always `fp.bus.control.v1`.
    pub topic: String,
    /// Dedupe id (READY: the READY message id; terminal: the re-emit key).
    pub message_id: Hex64,
    /// Publish time (transport metadata: not part of the id).
    pub published_at_utc: TsUtc,
    /// Kind, run, state.
    pub attributes: ControlAttributes,
    /// The run id (non-empty).
    pub partition_key: String,
    /// [`RunReadySignal`] or [`RunTerminalSignal`].
    pub payload: serde_json::Map<String, serde_json::Value>,
}

impl Contract for ControlMessage {
    const SCHEMA: &'static str = "sr_control_message";

    fn check(&self) -> Result<(), Violation> {
        check::rule(
            self.topic == CONTROL_TOPIC,
            "",
            "topic",
            "must be fp.bus.control.v1",
        )?;
        check::min_len("", "partition_key", &self.partition_key, 1)
    }
}

/// Why a run was QUARANTINED (`sr/quarantine/{run_id}.json`, first conflict wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunQuarantine {
    /// SR run id.
    pub run_id: Hex32,
    /// Stable reason code (1..=256).
    pub reason_code: String,
    /// The file or object at fault (non-empty).
    pub path: String,
    /// What is wrong with it (non-empty).
    pub detail: String,
}

impl Contract for RunQuarantine {
    const SCHEMA: &'static str = "run_quarantine";

    fn check(&self) -> Result<(), Violation> {
        check::len("", "reason_code", &self.reason_code, 1, 256)?;
        check::min_len("", "path", &self.path, 1)?;
        check::min_len("", "detail", &self.detail, 1)
    }
}

// ------------------------------------------------------------------------------ the request

wire_enum! {
    /// Which traffic stream a run feeds to the platform.
    pub enum TrafficMode {
        /// `s3_event_stream_with_fraud_6B` (the default of the reference).
        Fraud => "fraud",
        /// `s2_event_stream_baseline_6B`.
        Baseline => "baseline",
    }
}

/// "Generate it": the stand-in generator's configuration as a run request carries it. Absent
/// keys take the generator's defaults (the generator's own config type is the authority;
/// `fp_ingress` converts and tests that the two agree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// Realisation seed (must be the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Scenario (must be the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_id: Option<String>,
    /// Flows in the world.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<u64>,
    /// Horizon in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Target share of flows touched by fraud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraud_rate: Option<f64>,
    /// First day, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Merchants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchants: Option<u32>,
    /// Parties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parties: Option<u32>,
}

/// A Scenario Runner run request (the platform's form; see decision 0011).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Idempotency key: `scenario_run_id = H32("sr_run|" + key)` (1..=512).
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
    /// "Generate it" when the run root does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GenerateSpec>,
    /// Which traffic stream the run feeds.
    pub traffic_mode: TrafficMode,
    /// Outputs wanted (each 1..=128); default: the mode's traffic and context outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_ids: Option<Vec<String>>,
    /// AUTO (default), FORCE_INVOKE or FORCE_REUSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_strategy: Option<Strategy>,
    /// Caller's request id (informational, non-empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Who asked (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoker: Option<String>,
    /// Free text (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl RunRequest {
    /// `scenario_run_id` (= SR `run_id`) of this request.
    pub fn scenario_run_id(&self) -> Hex32 {
        crate::ids::scenario_run_id(&self.run_equivalence_key)
    }
}

impl Contract for RunRequest {
    const SCHEMA: &'static str = "run_request";

    fn check(&self) -> Result<(), Violation> {
        check::len("", "run_equivalence_key", &self.run_equivalence_key, 1, 512)?;
        check::len("", "scenario_id", &self.scenario_id, 1, 256)?;
        check::rule(
            self.scenario_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')),
            "",
            "scenario_id",
            "must match ^[A-Za-z0-9_.-]+$",
        )?;
        check::min_len("", "engine_run_root", &self.engine_run_root, 1)?;
        check::opt(self.output_ids.as_deref(), |v| {
            check::items_len("", "output_ids", v, 1, 128)
        })?;
        check::opt(self.request_id.as_deref(), |v| {
            check::min_len("", "request_id", v, 1)
        })
    }
}

// ------------------------------------------------------------------- traffic delivery mode

wire_enum! {
    /// How the traffic of a READY run reaches the bus, so WSP and IG never both ingest it.
    pub enum TrafficDeliveryMode {
        /// WSP pushes every traffic event to IG; IG never pulls from the engine world.
        WspPush => "WSP_PUSH",
    }
}

impl TrafficDeliveryMode {
    /// Parse a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.as_str() == text)
    }
}

/// Prefix of the facts-view evidence note that carries the traffic delivery mode. The
/// reference's facts view is closed (`additionalProperties: false`) and has no field for it,
/// so a top-level field would make the reference's consumers reject our facts views; the
/// note is where the contract allows it (decision 0011).
pub const TRAFFIC_DELIVERY_MODE_NOTE: &str = "traffic_delivery_mode=";

impl RunFactsView {
    /// The evidence note that states `mode`.
    pub fn traffic_delivery_mode_note(mode: TrafficDeliveryMode) -> String {
        format!("{TRAFFIC_DELIVERY_MODE_NOTE}{mode}")
    }

    /// The traffic delivery mode the facts view states, if exactly one known mode is stated
    /// (two different modes, or an unknown one, read as none: consumers then fail closed).
    pub fn traffic_delivery_mode(&self) -> Option<TrafficDeliveryMode> {
        let mut modes = self
            .evidence_notes
            .iter()
            .flatten()
            .filter_map(|n| n.strip_prefix(TRAFFIC_DELIVERY_MODE_NOTE));
        let first = modes.next()?;
        if modes.any(|m| m != first) {
            return None;
        }
        TrafficDeliveryMode::parse(first)
    }
}
