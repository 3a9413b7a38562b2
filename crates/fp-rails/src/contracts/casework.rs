//! Case and label contracts: the case trigger (evidence that a subject needs a case) and the
//! label assertion (append-only label truth) (`case_trigger`, `label_assertion`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::check::{self, Checked};
use super::{Contract, Violation};
use crate::hexid::{Hex32, Hex64, PlatformRunId};
use crate::ids::EvidenceRefKey;
use crate::pins::ContextPins;
use crate::time::TsUtc;

wire_enum! {
    /// Why a case trigger was raised.
    pub enum TriggerType {
        /// A decision was escalated.
        DecisionEscalation => "DECISION_ESCALATION",
        /// An action failed or was denied.
        ActionFailure => "ACTION_FAILURE",
        /// The audit trail flagged an anomaly.
        Anomaly => "ANOMALY",
        /// An external signal (e.g. a chargeback feed).
        ExternalSignal => "EXTERNAL_SIGNAL",
        /// A person asserted it.
        ManualAssertion => "MANUAL_ASSERTION",
    }
}

wire_enum! {
    /// What a case/label evidence ref points at.
    pub enum CaseEvidenceRefType {
        /// A Decision Log & Audit record.
        DlaAuditRecord => "DLA_AUDIT_RECORD",
        /// A decision (by decision id).
        Decision => "DECISION",
        /// An action outcome (by outcome id).
        ActionOutcome => "ACTION_OUTCOME",
        /// Event-bus origin coordinates.
        EbOriginOffset => "EB_ORIGIN_OFFSET",
        /// A case timeline event.
        CaseEvent => "CASE_EVENT",
        /// Something outside the platform.
        ExternalRef => "EXTERNAL_REF",
    }
}

wire_enum! {
    /// Kind of label.
    pub enum LabelType {
        /// Is the event fraud.
        FraudDisposition => "fraud_disposition",
        /// Chargeback state.
        ChargebackStatus => "chargeback_status",
        /// Account takeover.
        AccountTakeover => "account_takeover",
    }
}

wire_enum! {
    /// A label value; each belongs to exactly one [`LabelType`] ([`LabelValue::label_type`]).
    pub enum LabelValue {
        /// `fraud_disposition`: confirmed fraud.
        FraudConfirmed => "FRAUD_CONFIRMED",
        /// `fraud_disposition`: suspected fraud.
        FraudSuspected => "FRAUD_SUSPECTED",
        /// `fraud_disposition`: confirmed legitimate.
        LegitConfirmed => "LEGIT_CONFIRMED",
        /// `chargeback_status`: charged back.
        Chargeback => "CHARGEBACK",
        /// `chargeback_status`: no chargeback.
        NoChargeback => "NO_CHARGEBACK",
        /// `chargeback_status`: pending.
        Pending => "PENDING",
        /// `account_takeover`: confirmed takeover.
        AtoConfirmed => "ATO_CONFIRMED",
        /// `account_takeover`: suspected takeover.
        AtoSuspected => "ATO_SUSPECTED",
        /// `account_takeover`: not confirmed.
        AtoNotConfirmed => "ATO_NOT_CONFIRMED",
    }
}

impl LabelValue {
    /// The label type this value belongs to.
    pub fn label_type(self) -> LabelType {
        match self {
            Self::FraudConfirmed | Self::FraudSuspected | Self::LegitConfirmed => {
                LabelType::FraudDisposition
            }
            Self::Chargeback | Self::NoChargeback | Self::Pending => LabelType::ChargebackStatus,
            Self::AtoConfirmed | Self::AtoSuspected | Self::AtoNotConfirmed => {
                LabelType::AccountTakeover
            }
        }
    }
}

wire_enum! {
    /// Where a label came from.
    pub enum LabelSourceType {
        /// A person (requires `actor_id`).
        Human => "HUMAN",
        /// An external feed.
        External => "EXTERNAL",
        /// Platform automation.
        Auto => "AUTO",
        /// A platform service.
        System => "SYSTEM",
    }
}

/// Evidence a case trigger or label points at, by typed id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseEvidenceRef {
    /// What it points at.
    pub ref_type: CaseEvidenceRefType,
    /// The referenced id (1..=2048).
    pub ref_id: String,
    /// Optional scope (at most 256 characters; may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_scope: Option<String>,
}

impl CaseEvidenceRef {
    /// The ref as the payload-hash recipes canonicalise it (`ref_scope` `""` when absent).
    pub fn key(&self) -> EvidenceRefKey {
        EvidenceRefKey {
            ref_type: self.ref_type.as_str().to_owned(),
            ref_id: self.ref_id.clone(),
            ref_scope: self.ref_scope.clone().unwrap_or_default(),
        }
    }
}

fn check_case_evidence(refs: &[CaseEvidenceRef]) -> Checked {
    for (i, r) in refs.iter().enumerate() {
        let at = check::item("", "evidence_refs", i);
        check::len(&at, "ref_id", &r.ref_id, 1, 2048)?;
        check::opt(r.ref_scope.as_deref(), |v| {
            check::max_len(&at, "ref_scope", v, 256)
        })?;
    }
    Ok(())
}

/// `(platform_run_id, event_class, event_id)`: what a case is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSubjectKey {
    /// Platform session run.
    pub platform_run_id: PlatformRunId,
    /// Event class of the subject, e.g. `traffic_fraud` (1..=128).
    pub event_class: String,
    /// The traffic (decision-trigger) event id (1..=256).
    pub event_id: String,
}

/// Payload of `case_trigger` (v1, topic `fp.bus.case.triggers.v1`): evidence that a case subject
/// needs attention. Written by the case-trigger worker; receivers recompute `case_id`,
/// `case_trigger_id` and `payload_hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseTrigger {
    /// `RECIPE("cm.case_id.v1", subject)[:32]` (see [`crate::ids::case_id`]).
    pub case_id: Hex32,
    /// `RECIPE("cm.case_trigger_id.v1", ...)[:32]`; also the envelope `event_id`.
    pub case_trigger_id: Hex32,
    /// Why.
    pub trigger_type: TriggerType,
    /// Source, e.g. `decision:<decision_id>` (1..=512).
    pub source_ref_id: String,
    /// What the case is about.
    pub case_subject_key: CaseSubjectKey,
    /// The six pins.
    pub pins: ContextPins,
    /// When the source was observed (also the trigger event's `ts_utc`).
    pub observed_time: TsUtc,
    /// Evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_refs: Option<Vec<CaseEvidenceRef>>,
    /// `RECIPE("cm.case_trigger_payload_hash.v1", ...)`.
    pub payload_hash: Hex64,
    /// Trigger details (open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_payload: Option<Map<String, Value>>,
}

impl Contract for CaseTrigger {
    const SCHEMA: &'static str = "case_trigger";

    fn check(&self) -> Result<(), Violation> {
        check::len("", "source_ref_id", &self.source_ref_id, 1, 512)?;
        let k = &self.case_subject_key;
        check::len("case_subject_key", "event_class", &k.event_class, 1, 128)?;
        check::len("case_subject_key", "event_id", &k.event_id, 1, 256)?;
        check::pins("", &self.pins, Some(256))?;
        check::opt(self.evidence_refs.as_deref(), check_case_evidence)
    }
}

/// `(platform_run_id, event_id)`: what a label is about (the traffic event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSubjectKey {
    /// Platform session run.
    pub platform_run_id: PlatformRunId,
    /// The traffic (decision-trigger) event id (1..=256).
    pub event_id: String,
}

/// One append-only assertion of label truth, written by Case Management (or an external
/// feed) to the Label Store's own writer boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelAssertion {
    /// `RECIPE("ls.label_assertion_id.v1", ...)[:32]` (see [`crate::ids::label_assertion_id`]).
    pub label_assertion_id: Hex32,
    /// The case timeline event that produced it.
    pub case_timeline_event_id: Hex32,
    /// What the label is about.
    pub label_subject_key: LabelSubjectKey,
    /// The six pins.
    pub pins: ContextPins,
    /// Kind of label.
    pub label_type: LabelType,
    /// Value; must belong to `label_type`.
    pub label_value: LabelValue,
    /// When the label is true in the world.
    pub effective_time: TsUtc,
    /// When the platform learned it (the knowledge cut of as-of queries).
    pub observed_time: TsUtc,
    /// Where the label came from.
    pub source_type: LabelSourceType,
    /// Who asserted it (1..=256; required for HUMAN sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// Evidence (required; the Label Store additionally refuses an empty list).
    pub evidence_refs: Vec<CaseEvidenceRef>,
    /// `RECIPE("ls.label_assertion_payload_hash.v1", ...)` (see
    /// [`crate::ids::label_payload_hash`]).
    pub payload_hash: Hex64,
    /// Label details (open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_payload: Option<Map<String, Value>>,
}

impl Contract for LabelAssertion {
    const SCHEMA: &'static str = "label_assertion";

    fn check(&self) -> Result<(), Violation> {
        check::len(
            "label_subject_key",
            "event_id",
            &self.label_subject_key.event_id,
            1,
            256,
        )?;
        check::pins("", &self.pins, Some(256))?;
        check::rule(
            self.label_value.label_type() == self.label_type,
            "",
            "label_value",
            &format!("must be a value of label_type {}", self.label_type),
        )?;
        check::opt(self.actor_id.as_deref(), |v| {
            check::len("", "actor_id", v, 1, 256)
        })?;
        if self.source_type == LabelSourceType::Human {
            check::rule(
                self.actor_id.is_some(),
                "",
                "actor_id",
                "is required when source_type is HUMAN",
            )?;
        }
        check_case_evidence(&self.evidence_refs)
    }
}
