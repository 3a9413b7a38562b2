//! Receipts (contracts §10.4) and quarantine records (§10.5): built from what the gate
//! learned, checked against the contract before they leave.

use fp_rails::contracts::common::EvidenceRef;
use fp_rails::contracts::ingestion::{
    Actor, IgDecision, IngestionReceipt, PartialPins, QuarantineDecision, QuarantineRecord,
};
use fp_rails::envelope::CanonicalEnvelope;
use fp_rails::{ContentDigest, EbRef, Hex32, Hex64, PlatformRunId, TsUtc, ids};

use super::check::LooseEnvelope;
use super::policy::IgPolicy;

/// Stamps shared by every receipt of one gate.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// Gate release.
    pub service_release_id: String,
    /// Environment (profile's).
    pub environment: Option<String>,
}

/// An ADMIT or DUPLICATE receipt for a valid envelope.
#[allow(clippy::too_many_arguments)]
pub fn accepted(
    policy: &IgPolicy,
    stamp: &Stamp,
    decision: IgDecision,
    env: &CanonicalEnvelope,
    event_class: &str,
    payload_hash: &Hex64,
    dedupe_key: &Hex64,
    profile_id: &str,
    partition_key: &Hex64,
    eb_ref: &EbRef,
    admitted_at_utc: &str,
    actor: &Actor,
    original_receipt_ref: Option<&str>,
    fallback_run: &PlatformRunId,
) -> IngestionReceipt {
    let duplicate = decision == IgDecision::Duplicate;
    IngestionReceipt {
        receipt_id: ids::ig_receipt_id(decision.as_str(), &env.event_id),
        decision,
        event_id: env.event_id.clone(),
        event_type: env.event_type.clone(),
        event_class: event_class.to_owned(),
        ts_utc: env.ts_utc.as_str().to_owned(),
        admitted_at_utc: Some(admitted_at_utc.to_owned()),
        schema_version: env.schema_version.clone(),
        producer: env.producer.clone(),
        manifest_fingerprint: env.manifest_fingerprint.clone(),
        platform_run_id: env
            .platform_run_id
            .clone()
            .unwrap_or_else(|| fallback_run.clone()),
        service_release_id: Some(stamp.service_release_id.clone()),
        environment: stamp.environment.clone(),
        scenario_run_id: env.scenario_run_id.clone(),
        run_config_digest: policy.run_config_digest(),
        payload_hash: Some(ContentDigest::from_hex64(payload_hash.clone())),
        pins: Some(pins_of(env, fallback_run)),
        policy_rev: policy.policy_rev().clone(),
        actor: Some(actor.clone()),
        provenance: None,
        partitioning_profile_id: Some(profile_id.to_owned()),
        partition_key: Some(partition_key.as_str().to_owned()),
        dedupe_key: Some(dedupe_key.as_str().to_owned()),
        eb_ref: Some(eb_ref.clone()),
        evidence_refs: original_receipt_ref.map(|r| {
            vec![EvidenceRef {
                kind: "receipt_ref".into(),
                reference: r.to_owned(),
                digest: None,
            }]
        }),
        reason_codes: duplicate.then(|| vec!["DUPLICATE".to_owned()]),
    }
}

fn pins_of(env: &CanonicalEnvelope, fallback_run: &PlatformRunId) -> PartialPins {
    PartialPins {
        manifest_fingerprint: env.manifest_fingerprint.clone(),
        platform_run_id: Some(
            env.platform_run_id
                .clone()
                .unwrap_or_else(|| fallback_run.clone()),
        ),
        scenario_run_id: env.scenario_run_id.clone(),
        parameter_hash: env.parameter_hash.clone(),
        seed: env.seed,
        scenario_id: env.scenario_id.as_ref().map(|s| s.to_string()),
        run_id: env.run_id.clone(),
    }
}

/// What a quarantine knows about the submission, read leniently.
#[derive(Debug, Clone)]
pub struct QuarantineSubject {
    /// Event id, or `raw:{sha256}` when unreadable.
    pub event_id: String,
    /// Event type, or `unknown`.
    pub event_type: String,
    /// Class, or `unknown`.
    pub event_class: String,
    /// `ts_utc` as submitted, or the receipt time when unreadable.
    pub ts_utc: String,
    /// The platform run the records are filed under.
    pub platform_run_id: PlatformRunId,
    /// Pins that parsed.
    pub pins: PartialPins,
    /// Schema version if a string.
    pub schema_version: Option<String>,
    /// Producer if a string.
    pub producer: Option<String>,
    /// Scenario run if valid.
    pub scenario_run_id: Option<Hex32>,
}

impl QuarantineSubject {
    /// Read what can be read; invalid values are left out, never guessed.
    pub fn from_loose(
        loose: &LooseEnvelope,
        event_class: Option<&str>,
        raw_sha256: &Hex64,
        received_at: &TsUtc,
        fallback_run: &PlatformRunId,
    ) -> Self {
        let text = |f: &str, min: usize, max: usize| {
            loose
                .text(f)
                .filter(|s| (min..=max).contains(&s.chars().count()))
                .map(str::to_owned)
        };
        let platform_run_id = loose
            .text("platform_run_id")
            .and_then(|s| PlatformRunId::parse(s).ok())
            .unwrap_or_else(|| fallback_run.clone());
        let manifest_fingerprint = loose
            .text("manifest_fingerprint")
            .and_then(|s| Hex64::parse(s).ok())
            .unwrap_or_else(zero64);
        let scenario_run_id = loose
            .text("scenario_run_id")
            .and_then(|s| Hex32::parse(s).ok());
        let scenario_id = match loose.value("scenario_id") {
            Some(serde_json::Value::String(s)) if (1..=256).contains(&s.chars().count()) => {
                Some(s.clone())
            }
            Some(serde_json::Value::Number(n)) if n.is_u64() => Some(n.to_string()),
            _ => None,
        };
        let pins = PartialPins {
            manifest_fingerprint,
            platform_run_id: Some(platform_run_id.clone()),
            scenario_run_id: scenario_run_id.clone(),
            parameter_hash: loose
                .text("parameter_hash")
                .and_then(|s| Hex64::parse(s).ok()),
            seed: loose.value("seed").and_then(serde_json::Value::as_u64),
            scenario_id,
            run_id: loose.text("run_id").and_then(|s| Hex32::parse(s).ok()),
        };
        Self {
            event_id: text("event_id", 1, 256).unwrap_or_else(|| format!("raw:{raw_sha256}")),
            event_type: text("event_type", 1, 256).unwrap_or_else(|| "unknown".into()),
            event_class: event_class.unwrap_or("unknown").to_owned(),
            ts_utc: text("ts_utc", 1, 64).unwrap_or_else(|| received_at.as_str().to_owned()),
            platform_run_id,
            pins,
            schema_version: text("schema_version", 1, 64),
            producer: text("producer", 1, 128),
            scenario_run_id,
        }
    }
}

/// The all-zero fingerprint the reference stamps when an envelope has none.
pub fn zero64() -> Hex64 {
    Hex64::zero()
}

/// A QUARANTINE receipt.
#[allow(clippy::too_many_arguments)]
pub fn quarantined(
    policy: &IgPolicy,
    stamp: &Stamp,
    subject: &QuarantineSubject,
    reason: &str,
    record_ref: &str,
    raw_ref: &str,
    raw_sha256: &Hex64,
    actor: &Actor,
) -> IngestionReceipt {
    IngestionReceipt {
        receipt_id: ids::ig_receipt_id("QUARANTINE", &subject.event_id),
        decision: IgDecision::Quarantine,
        event_id: subject.event_id.clone(),
        event_type: subject.event_type.clone(),
        event_class: subject.event_class.clone(),
        ts_utc: subject.ts_utc.clone(),
        admitted_at_utc: None,
        schema_version: subject.schema_version.clone(),
        producer: subject.producer.clone(),
        manifest_fingerprint: subject.pins.manifest_fingerprint.clone(),
        platform_run_id: subject.platform_run_id.clone(),
        service_release_id: Some(stamp.service_release_id.clone()),
        environment: stamp.environment.clone(),
        scenario_run_id: subject.scenario_run_id.clone(),
        run_config_digest: policy.run_config_digest(),
        payload_hash: None,
        pins: Some(subject.pins.clone()),
        policy_rev: policy.policy_rev().clone(),
        actor: Some(actor.clone()),
        provenance: None,
        partitioning_profile_id: None,
        partition_key: None,
        dedupe_key: None,
        eb_ref: None,
        evidence_refs: Some(vec![
            EvidenceRef {
                kind: "quarantine_record".into(),
                reference: record_ref.to_owned(),
                digest: None,
            },
            EvidenceRef {
                kind: "raw_bytes".into(),
                reference: raw_ref.to_owned(),
                digest: Some(ContentDigest::from_hex64(raw_sha256.clone())),
            },
        ]),
        reason_codes: Some(vec![reason.to_owned()]),
    }
}

/// The quarantine record (the envelope snapshot without its payload; the raw bytes are
/// referenced by digest).
#[allow(clippy::too_many_arguments)]
pub fn record(
    policy: &IgPolicy,
    stamp: &Stamp,
    subject: &QuarantineSubject,
    loose: &LooseEnvelope,
    reason: &str,
    detail: &str,
    raw_ref: &str,
    raw_sha256: &Hex64,
    received_at: &TsUtc,
    actor: &Actor,
) -> QuarantineRecord {
    QuarantineRecord {
        quarantine_id: ids::ig_quarantine_id(&subject.event_id),
        received_at_utc: received_at.as_str().to_owned(),
        decision: QuarantineDecision::Quarantine,
        reason_codes: vec![reason.to_owned()],
        manifest_fingerprint: subject.pins.manifest_fingerprint.clone(),
        service_release_id: Some(stamp.service_release_id.clone()),
        environment: stamp.environment.clone(),
        pins: Some(subject.pins.clone()),
        policy_rev: policy.policy_rev().clone(),
        actor: Some(actor.clone()),
        provenance: None,
        envelope: loose.snapshot.clone(),
        evidence_refs: Some(vec![
            EvidenceRef {
                kind: "raw_bytes".into(),
                reference: raw_ref.to_owned(),
                digest: Some(ContentDigest::from_hex64(raw_sha256.clone())),
            },
            EvidenceRef {
                kind: "detail".into(),
                reference: truncate(detail, 2048),
                digest: None,
            },
        ]),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    s.chars().take(max_chars).collect()
}
