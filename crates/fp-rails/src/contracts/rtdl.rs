//! Real-Time Decision Loop contracts: decisions, their provenance blocks (degrade posture,
//! offset basis, graph version, bundle and event refs), action intents and outcomes, and the
//! audit record (`decision_response`, `degrade_posture`, `eb_offset_basis`, `graph_version`,
//! `action_intent`, `action_outcome`, `audit_record`).
//!
//! `graph_version` and `eb_offset_basis` carry `notes` only in their standalone form; embedded
//! in a decision or audit record they must not. An event ref carries `origin_offset` only as a
//! decision's `source_event`. Degrade-posture evidence refs carry no digest.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::check::{self, Checked};
use super::common::{EvidenceRef, check_evidence_refs};
use super::{Contract, Violation};
use crate::eb::{EbRef, OffsetKind};
use crate::hexid::{Hex32, Hex64};
use crate::pins::ContextPins;
use crate::policy::PolicyRev;
use crate::time::TsUtc;

wire_enum! {
    /// Degrade Ladder mode, in fixed order from best to worst.
    pub enum DegradeMode {
        /// Everything allowed.
        Normal => "NORMAL",
        /// Second-stage model off, step-up only.
        Degraded1 => "DEGRADED_1",
        /// No graph, core features only, step-up only.
        Degraded2 => "DEGRADED_2",
        /// No models, fallback heuristics only.
        FailClosed => "FAIL_CLOSED",
    }
}

wire_enum! {
    /// What kinds of actions a posture allows.
    pub enum ActionPosture {
        /// Any action.
        Normal => "NORMAL",
        /// `ALLOW` is clamped to `STEP_UP`.
        StepUpOnly => "STEP_UP_ONLY",
    }
}

wire_enum! {
    /// The role a context event plays in a decision's join.
    pub enum ContextRole {
        /// An `arrival_events_5B` event.
        ArrivalEvents => "arrival_events",
        /// An `s1_arrival_entities_6B` event.
        ArrivalEntities => "arrival_entities",
        /// A flow anchor (`s2_flow_anchor_baseline_6B` / `s3_flow_anchor_with_fraud_6B`).
        FlowAnchor => "flow_anchor",
    }
}

wire_enum! {
    /// Who asked for an action.
    pub enum ActionOrigin {
        /// The Decision Fabric.
        Df => "DF",
        /// Case Management.
        Case => "CASE",
        /// A person.
        Human => "HUMAN",
        /// Operations.
        Ops => "OPS",
    }
}

wire_enum! {
    /// Terminal status of an action.
    pub enum ActionStatus {
        /// The side effect committed.
        Executed => "EXECUTED",
        /// Authorisation refused it; nothing executed.
        Denied => "DENIED",
        /// It failed (permanently, after retries, or with an uncertain commit).
        Failed => "FAILED",
    }
}

/// The model bundle a decision was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRef {
    /// Bundle identity.
    pub bundle_id: Hex64,
    /// Registry location (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_ref: Option<String>,
    /// Bundle version (1..=128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_version: Option<String>,
}

impl BundleRef {
    fn check_at(&self, at: &str) -> Checked {
        check::opt(self.registry_ref.as_deref(), |v| {
            check::len(at, "registry_ref", v, 1, 2048)
        })?;
        check::opt(self.bundle_version.as_deref(), |v| {
            check::len(at, "bundle_version", v, 1, 128)
        })
    }
}

/// Monotonic token of the Identity & Entity Graph: applied exclusive-next offsets and the
/// watermark. Written by the IEG; embedded (without `notes`) in decisions and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphVersion {
    /// The token.
    pub version_id: Hex32,
    /// Graph stream identity (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Digest of the offset basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis_digest: Option<Hex64>,
    /// Largest applied `ts_utc`.
    pub watermark_ts_utc: TsUtc,
    /// When the token was computed (non-empty text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_at_utc: Option<String>,
    /// Free text, standalone form only (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl GraphVersion {
    fn check_at(&self, at: &str, standalone: bool) -> Checked {
        check::opt(self.stream.as_deref(), |v| {
            check::len(at, "stream", v, 1, 256)
        })?;
        check::opt(self.computed_at_utc.as_deref(), |v| {
            check::min_len(at, "computed_at_utc", v, 1)
        })?;
        if standalone {
            check::opt(self.notes.as_deref(), |v| {
                check::max_len(at, "notes", v, 1024)
            })
        } else {
            check::absent(self.notes.as_ref(), at, "notes")
        }
    }
}

impl Contract for GraphVersion {
    const SCHEMA: &'static str = "graph_version";

    fn check(&self) -> Result<(), Violation> {
        self.check_at("", true)
    }
}

/// One partition's exclusive-next offset in an offset basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasisOffset {
    /// Partition number.
    pub partition: u32,
    /// Exclusive-next offset as a string (1..=128).
    pub offset: String,
}

/// Per-partition exclusive-next offsets of one stream: the evidence basis of a feature snapshot
/// or decision. Embedded (without `notes`) in decisions and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbOffsetBasis {
    /// Stream (topic) name (1..=256).
    pub stream: String,
    /// `sha256(CJ({stream, offset_kind, offsets sorted}))` (see
    /// [`crate::ids::eb_offset_basis_digest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis_digest: Option<Hex64>,
    /// Interpretation of the offsets.
    pub offset_kind: OffsetKind,
    /// At least one partition offset.
    pub offsets: Vec<BasisOffset>,
    /// Start of the covered event-time window (non-empty text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start_utc: Option<String>,
    /// End of the covered event-time window (non-empty text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end_utc: Option<String>,
    /// Free text, standalone form only (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl EbOffsetBasis {
    fn check_at(&self, at: &str, standalone: bool) -> Checked {
        check::len(at, "stream", &self.stream, 1, 256)?;
        check::non_empty(at, "offsets", &self.offsets)?;
        for (i, o) in self.offsets.iter().enumerate() {
            check::len(&check::item(at, "offsets", i), "offset", &o.offset, 1, 128)?;
        }
        check::opt(self.window_start_utc.as_deref(), |v| {
            check::min_len(at, "window_start_utc", v, 1)
        })?;
        check::opt(self.window_end_utc.as_deref(), |v| {
            check::min_len(at, "window_end_utc", v, 1)
        })?;
        if standalone {
            check::opt(self.notes.as_deref(), |v| {
                check::max_len(at, "notes", v, 1024)
            })
        } else {
            check::absent(self.notes.as_ref(), at, "notes")
        }
    }
}

impl Contract for EbOffsetBasis {
    const SCHEMA: &'static str = "eb_offset_basis";

    fn check(&self) -> Result<(), Violation> {
        self.check_at("", true)
    }
}

/// What the current degrade mode allows; a hard constraint on every decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesMask {
    /// May the Identity & Entity Graph be consulted.
    pub allow_ieg: bool,
    /// Feature groups that may be used (1..=128 each).
    pub allowed_feature_groups: Vec<String>,
    /// May the primary model run.
    pub allow_model_primary: bool,
    /// May the second-stage model run.
    pub allow_model_stage2: bool,
    /// May fallback heuristics run.
    pub allow_fallback_heuristics: bool,
    /// Which actions may be taken.
    pub action_posture: ActionPosture,
}

/// The Degrade Ladder's explicit posture: mode plus capabilities mask. Written by the Degrade
/// Ladder (or the Decision Fabric's fail-closed fallback) and recorded in every decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradePosture {
    /// The mode.
    pub mode: DegradeMode,
    /// What it allows.
    pub capabilities_mask: CapabilitiesMask,
    /// The Degrade Ladder policy.
    pub policy_rev: PolicyRev,
    /// Monotonic sequence number of the posture in its scope.
    pub posture_seq: u64,
    /// When the posture was decided (also the posture-change event's `ts_utc`).
    pub decided_at_utc: TsUtc,
    /// Why (at most 2048 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Evidence, as `{kind, ref}` (no digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_refs: Option<Vec<EvidenceRef>>,
}

impl DegradePosture {
    fn check_at(&self, at: &str) -> Checked {
        check::items_len(
            &check::join(at, "capabilities_mask"),
            "allowed_feature_groups",
            &self.capabilities_mask.allowed_feature_groups,
            1,
            128,
        )?;
        check::opt(self.reason.as_deref(), |v| {
            check::max_len(at, "reason", v, 2048)
        })?;
        check::opt(self.evidence_refs.as_deref(), |v| {
            check_evidence_refs(at, "evidence_refs", v, false)
        })
    }
}

impl Contract for DegradePosture {
    const SCHEMA: &'static str = "degrade_posture";

    fn check(&self) -> Result<(), Violation> {
        self.check_at("")
    }
}

/// A reference to an admitted event by its bus coordinates. Only a decision's `source_event`
/// carries `origin_offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    /// Event id (1..=256).
    pub event_id: String,
    /// Event type (1..=256).
    pub event_type: String,
    /// The event's domain time.
    pub ts_utc: TsUtc,
    /// Where the event was admitted: the immutable evidence pointer (source events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_offset: Option<EbRef>,
    /// Where the event was read.
    pub eb_ref: EbRef,
}

impl EventRef {
    fn check_at(&self, at: &str, allow_origin_offset: bool) -> Checked {
        check::len(at, "event_id", &self.event_id, 1, 256)?;
        check::len(at, "event_type", &self.event_type, 1, 256)?;
        if allow_origin_offset {
            check::opt(self.origin_offset.as_ref(), |o| {
                check::eb_ref(&check::join(at, "origin_offset"), o)
            })?;
        } else {
            check::absent(self.origin_offset.as_ref(), at, "origin_offset")?;
        }
        check::eb_ref(&check::join(at, "eb_ref"), &self.eb_ref)
    }
}

/// A context event a decision joined, by role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextRef {
    /// Event id (1..=256).
    pub event_id: String,
    /// Event type (1..=256).
    pub event_type: String,
    /// Where the event was admitted.
    pub eb_ref: EbRef,
    /// Its role in the join.
    pub role: ContextRole,
}

impl ContextRef {
    fn check_at(&self, at: &str) -> Checked {
        check::len(at, "event_id", &self.event_id, 1, 256)?;
        check::len(at, "event_type", &self.event_type, 1, 256)?;
        check::eb_ref(&check::join(at, "eb_ref"), &self.eb_ref)
    }
}

fn check_context_refs(refs: Option<&[ContextRef]>) -> Checked {
    for (i, r) in refs.unwrap_or_default().iter().enumerate() {
        r.check_at(&check::item("", "context_refs", i))?;
    }
    Ok(())
}

fn check_reason_codes(codes: Option<&[String]>) -> Checked {
    check::opt(codes, |v| check::items_len("", "reason_codes", v, 1, 128))
}

/// Payload of `decision_response` (schema_version `v1`): one decision of the Decision Fabric
/// with its provenance minimums, published via the Ingestion Gate to `fp.bus.rtdl.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionResponse {
    /// Deterministic decision id (see [`crate::ids::df_decision_id`]).
    pub decision_id: Hex32,
    /// Kind of decision, e.g. `fraud_decision_v0` (1..=128).
    pub decision_kind: String,
    /// Bundle decided with.
    pub bundle_ref: BundleRef,
    /// Feature snapshot hash (or the context evidence digest's hash).
    pub snapshot_hash: Hex64,
    /// Snapshot location, e.g. `ofp://snapshot/<hash>` (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_ref: Option<String>,
    /// Graph version used (embedded form).
    pub graph_version: GraphVersion,
    /// Offset basis of the features (embedded form).
    pub eb_offset_basis: EbOffsetBasis,
    /// Posture decided under.
    pub degrade_posture: DegradePosture,
    /// The six pins.
    pub pins: ContextPins,
    /// When the decision was made (also the decision event's `ts_utc`).
    pub decided_at_utc: TsUtc,
    /// Decision Fabric configuration digest.
    pub run_config_digest: Hex64,
    /// Registry resolution policy.
    pub policy_rev: PolicyRev,
    /// The traffic event decided on, with its origin offset.
    pub source_event: EventRef,
    /// Context events joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_refs: Option<Vec<ContextRef>>,
    /// The decision (open: `action_kind`, `context_status`, `registry_outcome`, ...).
    pub decision: Map<String, Value>,
    /// Sorted unique reason codes (1..=128 each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_codes: Option<Vec<String>>,
}

impl Contract for DecisionResponse {
    const SCHEMA: &'static str = "decision_response";

    fn check(&self) -> Result<(), Violation> {
        check::len("", "decision_kind", &self.decision_kind, 1, 128)?;
        self.bundle_ref.check_at("bundle_ref")?;
        check::opt(self.snapshot_ref.as_deref(), |v| {
            check::len("", "snapshot_ref", v, 1, 2048)
        })?;
        self.graph_version.check_at("graph_version", false)?;
        self.eb_offset_basis.check_at("eb_offset_basis", false)?;
        self.degrade_posture.check_at("degrade_posture")?;
        check::pins("", &self.pins, Some(256))?;
        self.source_event.check_at("source_event", true)?;
        check_context_refs(self.context_refs.as_deref())?;
        check_reason_codes(self.reason_codes.as_deref())
    }
}

/// Payload of `action_intent` (v1): a request to the Action Layer to execute one side effect,
/// exactly once per `(pins, idempotency_key)`. Written by the Decision Fabric (and Case
/// Management for human actions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionIntent {
    /// `H32("{decision_id}:{action_kind}")` (see [`crate::ids::df_action_id`]).
    pub action_id: Hex32,
    /// The decision it executes.
    pub decision_id: Hex32,
    /// Action kind, e.g. `STEP_UP` (1..=128).
    pub action_kind: String,
    /// Execution idempotency key (1..=256).
    pub idempotency_key: String,
    /// Requesting principal, e.g. `SYSTEM::decision_fabric` (1..=256).
    pub actor_principal: String,
    /// Who asked.
    pub origin: ActionOrigin,
    /// Policy of the requester.
    pub policy_rev: PolicyRev,
    /// Requester configuration digest.
    pub run_config_digest: Hex64,
    /// The six pins.
    pub pins: ContextPins,
    /// When it was requested (non-empty text).
    pub requested_at_utc: String,
    /// Why, e.g. `decision://<decision_id>` (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_ref: Option<String>,
    /// Action parameters (open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_payload: Option<Map<String, Value>>,
    /// Free text (at most 2048 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Contract for ActionIntent {
    const SCHEMA: &'static str = "action_intent";

    fn check(&self) -> Result<(), Violation> {
        check::len("", "action_kind", &self.action_kind, 1, 128)?;
        check::len("", "idempotency_key", &self.idempotency_key, 1, 256)?;
        check::len("", "actor_principal", &self.actor_principal, 1, 256)?;
        check::pins("", &self.pins, Some(256))?;
        check::min_len("", "requested_at_utc", &self.requested_at_utc, 1)?;
        check::opt(self.reason_ref.as_deref(), |v| {
            check::len("", "reason_ref", v, 1, 2048)
        })?;
        check::opt(self.notes.as_deref(), |v| {
            check::max_len("", "notes", v, 2048)
        })
    }
}

/// Payload of `action_outcome` (v1): the immutable result of one action intent, written by the
/// Action Layer (every attempt yields an outcome; no silent success).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionOutcome {
    /// Deterministic outcome id (see [`crate::ids::al_outcome_id`]); also the envelope
    /// `event_id`.
    pub outcome_id: Hex32,
    /// The intent's decision.
    pub decision_id: Hex32,
    /// The intent's action.
    pub action_id: Hex32,
    /// Action kind (1..=128).
    pub action_kind: String,
    /// Terminal status.
    pub status: ActionStatus,
    /// The intent's idempotency key (1..=256).
    pub idempotency_key: String,
    /// The intent's principal (1..=256).
    pub actor_principal: String,
    /// The intent's origin.
    pub origin: ActionOrigin,
    /// Authorisation policy applied.
    pub authz_policy_rev: PolicyRev,
    /// Configuration digest.
    pub run_config_digest: Hex64,
    /// The six pins.
    pub pins: ContextPins,
    /// When the action reached its terminal state (also the outcome event's `ts_utc`).
    pub completed_at_utc: TsUtc,
    /// Final attempt number (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_seq: Option<u64>,
    /// Execution details (open: attempts, provider codes, governance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_payload: Option<Map<String, Value>>,
    /// Why (at most 2048 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Contract for ActionOutcome {
    const SCHEMA: &'static str = "action_outcome";

    fn check(&self) -> Result<(), Violation> {
        check::len("", "action_kind", &self.action_kind, 1, 128)?;
        check::len("", "idempotency_key", &self.idempotency_key, 1, 256)?;
        check::len("", "actor_principal", &self.actor_principal, 1, 256)?;
        check::pins("", &self.pins, Some(256))?;
        check::opt(self.attempt_seq, |n| {
            check::rule(n >= 1, "", "attempt_seq", "must be at least 1")
        })?;
        check::opt(self.reason.as_deref(), |v| {
            check::max_len("", "reason", v, 2048)
        })
    }
}

/// The Decision Log & Audit flight-recorder entry for one decision and its action chain, by
/// reference (bus coordinates, snapshot hash, bundle ref, posture).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Deterministic audit id.
    pub audit_id: Hex32,
    /// The decision event (no `origin_offset`).
    pub decision_event: EventRef,
    /// The action intent events (no `origin_offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_intents: Option<Vec<EventRef>>,
    /// The action outcome events (no `origin_offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_outcomes: Option<Vec<EventRef>>,
    /// Bundle decided with.
    pub bundle_ref: BundleRef,
    /// Feature snapshot hash.
    pub snapshot_hash: Hex64,
    /// Snapshot location (1..=2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_ref: Option<String>,
    /// Graph version used (embedded form).
    pub graph_version: GraphVersion,
    /// Offset basis (embedded form).
    pub eb_offset_basis: EbOffsetBasis,
    /// Posture decided under.
    pub degrade_posture: DegradePosture,
    /// Decision policy.
    pub policy_rev: PolicyRev,
    /// Decision configuration digest.
    pub run_config_digest: Hex64,
    /// The six pins.
    pub pins: ContextPins,
    /// Context events joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_refs: Option<Vec<ContextRef>>,
    /// When the record was written (non-empty text).
    pub recorded_at_utc: String,
    /// Free text (at most 2048 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Contract for AuditRecord {
    const SCHEMA: &'static str = "audit_record";

    fn check(&self) -> Result<(), Violation> {
        self.decision_event.check_at("decision_event", false)?;
        for (name, refs) in [
            ("action_intents", &self.action_intents),
            ("action_outcomes", &self.action_outcomes),
        ] {
            for (i, r) in refs.iter().flatten().enumerate() {
                r.check_at(&check::item("", name, i), false)?;
            }
        }
        self.bundle_ref.check_at("bundle_ref")?;
        check::opt(self.snapshot_ref.as_deref(), |v| {
            check::len("", "snapshot_ref", v, 1, 2048)
        })?;
        self.graph_version.check_at("graph_version", false)?;
        self.eb_offset_basis.check_at("eb_offset_basis", false)?;
        self.degrade_posture.check_at("degrade_posture")?;
        check::pins("", &self.pins, Some(256))?;
        check_context_refs(self.context_refs.as_deref())?;
        check::min_len("", "recorded_at_utc", &self.recorded_at_utc, 1)?;
        check::opt(self.notes.as_deref(), |v| {
            check::max_len("", "notes", v, 2048)
        })
    }
}
