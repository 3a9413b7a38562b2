//! Ingestion Gate contracts: the receipt every submission gets and the quarantine record of a
//! refused one (`ingestion_receipt`, `quarantine_record`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::check::{self, Checked};
use super::common::{ActorSourceType, EvidenceRef, check_evidence_refs};
use super::{Contract, Violation};
use crate::digest::ContentDigest;
use crate::eb::EbRef;
use crate::hexid::{Hex32, Hex64, PlatformRunId};
use crate::policy::{PolicyRev, Provenance};

wire_enum! {
    /// The Ingestion Gate's verdict: exactly one per submission.
    pub enum IgDecision {
        /// Published to the bus; the receipt carries the bus coordinates.
        Admit => "ADMIT",
        /// Already admitted under the same dedupe key and payload hash; the receipt carries the
        /// original coordinates.
        Duplicate => "DUPLICATE",
        /// Refused; the receipt points at the quarantine record.
        Quarantine => "QUARANTINE",
    }
}

wire_enum! {
    /// A quarantine record's decision (always `QUARANTINE`).
    pub enum QuarantineDecision {
        /// The only value.
        Quarantine => "QUARANTINE",
    }
}

/// Writer-boundary actor stamped by the Ingestion Gate, from the authentication context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// `SYSTEM::<token or principal>` or `HUMAN::<id>` (1..=256).
    pub actor_id: String,
    /// Service or person.
    pub source_type: ActorSourceType,
    /// `disabled`, `api_key`, `service_token`, ... (1..=64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<String>,
    /// Authenticated principal (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

impl Actor {
    fn check_at(&self, at: &str) -> Checked {
        check::len(at, "actor_id", &self.actor_id, 1, 256)?;
        check::opt(self.auth_mode.as_deref(), |v| {
            check::len(at, "auth_mode", v, 1, 64)
        })?;
        check::opt(self.principal.as_deref(), |v| {
            check::len(at, "principal", v, 1, 256)
        })
    }
}

/// The pins the gate could recover from a (possibly invalid) envelope; only
/// `manifest_fingerprint` is always known. Receipts also require `platform_run_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialPins {
    /// World identity.
    pub manifest_fingerprint: Hex64,
    /// Platform session run (required in receipts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_run_id: Option<PlatformRunId>,
    /// Scenario run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_run_id: Option<Hex32>,
    /// Parameter identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_hash: Option<Hex64>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Scenario (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_id: Option<String>,
    /// Legacy run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Hex32>,
}

impl PartialPins {
    fn check_at(&self, at: &str) -> Checked {
        check::opt(self.scenario_id.as_deref(), |v| {
            check::len(at, "scenario_id", v, 1, 256)
        })
    }
}

/// The Ingestion Gate's receipt for one submission: `ADMIT` and `DUPLICATE` carry the bus
/// coordinates, scenario run, payload hash and admission time; `QUARANTINE` carries evidence
/// refs (the quarantine record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestionReceipt {
    /// `H32("{decision}:{event_id}")` (see [`crate::ids::ig_receipt_id`]).
    pub receipt_id: Hex32,
    /// The verdict.
    pub decision: IgDecision,
    /// The submitted event id (1..=256).
    pub event_id: String,
    /// The submitted event type (1..=256).
    pub event_type: String,
    /// Class the gate derived from the event type (1..=128).
    pub event_class: String,
    /// The envelope's `ts_utc` as submitted (a quarantined envelope may carry a malformed one,
    /// so this is text, non-empty).
    pub ts_utc: String,
    /// When the admission committed (ingestion metadata; non-empty text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_at_utc: Option<String>,
    /// Payload schema version (1..=64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// Envelope producer (1..=128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// World identity (all zeros when the envelope had none).
    pub manifest_fingerprint: Hex64,
    /// Platform session run.
    pub platform_run_id: PlatformRunId,
    /// Gate release (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_release_id: Option<String>,
    /// Environment (1..=64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Scenario run (required for ADMIT and DUPLICATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_run_id: Option<Hex32>,
    /// The gate policy's content digest.
    pub run_config_digest: Hex64,
    /// Event-level payload hash (required for ADMIT and DUPLICATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<ContentDigest>,
    /// Pins recovered from the envelope (`platform_run_id` required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pins: Option<PartialPins>,
    /// The gate policy.
    pub policy_rev: PolicyRev,
    /// Who submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Writer provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Partitioning profile used (1..=128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioning_profile_id: Option<String>,
    /// Partition key published with (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// `sha256("{platform_run_id}:{event_class}:{event_id}")` (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
    /// Where the event landed (required for ADMIT and DUPLICATE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eb_ref: Option<EbRef>,
    /// Evidence (required for QUARANTINE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_refs: Option<Vec<EvidenceRef>>,
    /// Reason codes (1..=128 each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_codes: Option<Vec<String>>,
}

impl Contract for IngestionReceipt {
    const SCHEMA: &'static str = "ingestion_receipt";

    fn check(&self) -> Result<(), Violation> {
        check::len("", "event_id", &self.event_id, 1, 256)?;
        check::len("", "event_type", &self.event_type, 1, 256)?;
        check::len("", "event_class", &self.event_class, 1, 128)?;
        check::min_len("", "ts_utc", &self.ts_utc, 1)?;
        check::opt(self.admitted_at_utc.as_deref(), |v| {
            check::min_len("", "admitted_at_utc", v, 1)
        })?;
        check::opt(self.schema_version.as_deref(), |v| {
            check::len("", "schema_version", v, 1, 64)
        })?;
        check::opt(self.producer.as_deref(), |v| {
            check::len("", "producer", v, 1, 128)
        })?;
        check::release(
            self.service_release_id.as_deref(),
            self.environment.as_deref(),
        )?;
        if let Some(p) = &self.pins {
            p.check_at("pins")?;
            check::rule(
                p.platform_run_id.is_some(),
                "pins",
                "platform_run_id",
                "is required",
            )?;
        }
        check::opt(self.actor.as_ref(), |a| a.check_at("actor"))?;
        check::opt(self.provenance.as_ref(), |p| {
            check::provenance("provenance", p)
        })?;
        check::opt(self.partitioning_profile_id.as_deref(), |v| {
            check::len("", "partitioning_profile_id", v, 1, 128)
        })?;
        check::opt(self.partition_key.as_deref(), |v| {
            check::len("", "partition_key", v, 1, 256)
        })?;
        check::opt(self.dedupe_key.as_deref(), |v| {
            check::len("", "dedupe_key", v, 1, 256)
        })?;
        check::opt(self.eb_ref.as_ref(), |r| check::eb_ref("eb_ref", r))?;
        check::opt(self.evidence_refs.as_deref(), |v| {
            check_evidence_refs("", "evidence_refs", v, true)
        })?;
        check::opt(self.reason_codes.as_deref(), |v| {
            check::items_len("", "reason_codes", v, 1, 128)
        })?;
        match self.decision {
            IgDecision::Admit | IgDecision::Duplicate => {
                let why = "is required when decision is ADMIT or DUPLICATE";
                check::rule(self.eb_ref.is_some(), "", "eb_ref", why)?;
                check::rule(self.scenario_run_id.is_some(), "", "scenario_run_id", why)?;
                check::rule(self.payload_hash.is_some(), "", "payload_hash", why)?;
                check::rule(self.admitted_at_utc.is_some(), "", "admitted_at_utc", why)
            }
            IgDecision::Quarantine => check::rule(
                self.evidence_refs.is_some(),
                "",
                "evidence_refs",
                "is required when decision is QUARANTINE",
            ),
        }
    }
}

/// Why the Ingestion Gate refused a submission, with a snapshot of its envelope (without the
/// payload). Written by the gate under the run's quarantine prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRecord {
    /// `H32("QUARANTINE:{event_id}")` (see [`crate::ids::ig_quarantine_id`]).
    pub quarantine_id: Hex32,
    /// When the submission arrived (non-empty text).
    pub received_at_utc: String,
    /// Always `QUARANTINE`.
    pub decision: QuarantineDecision,
    /// Why (at least one; 1..=128 each).
    pub reason_codes: Vec<String>,
    /// The envelope's fingerprint, or all zeros when it had none.
    pub manifest_fingerprint: Hex64,
    /// Gate release (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_release_id: Option<String>,
    /// Environment (1..=64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Pins recovered from the envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pins: Option<PartialPins>,
    /// The gate policy.
    pub policy_rev: PolicyRev,
    /// Who submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Writer provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Snapshot of the submitted envelope without its payload (open: it may be invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Map<String, Value>>,
    /// Evidence refs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_refs: Option<Vec<EvidenceRef>>,
}

impl Contract for QuarantineRecord {
    const SCHEMA: &'static str = "quarantine_record";

    fn check(&self) -> Result<(), Violation> {
        check::min_len("", "received_at_utc", &self.received_at_utc, 1)?;
        check::non_empty("", "reason_codes", &self.reason_codes)?;
        check::items_len("", "reason_codes", &self.reason_codes, 1, 128)?;
        check::release(
            self.service_release_id.as_deref(),
            self.environment.as_deref(),
        )?;
        check::opt(self.pins.as_ref(), |p| p.check_at("pins"))?;
        check::opt(self.actor.as_ref(), |a| a.check_at("actor"))?;
        check::opt(self.provenance.as_ref(), |p| {
            check::provenance("provenance", p)
        })?;
        check::opt(self.evidence_refs.as_deref(), |v| {
            check_evidence_refs("", "evidence_refs", v, true)
        })
    }
}
