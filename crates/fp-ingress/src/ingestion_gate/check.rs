//! Stage one of admission: everything decidable from the bytes alone, in the reference's
//! order (contracts §10.3 steps 2–5 and 7): envelope → class → pins → schema policy → payload
//! schema → payload hash, dedupe key and partition key. Pure and CPU-bound, so a batch is
//! checked on every core before the index is touched.

use bytes::Bytes;
use fp_rails::envelope::CanonicalEnvelope;
use fp_rails::{Hex64, ids};
use serde_json::{Map, Value};

use super::error::ReasonCode;
use super::payload_schemas::PayloadSchemas;
use super::policy::{IgPolicy, TypeRule};

/// An envelope that passed every stateless check.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The parsed envelope.
    pub env: CanonicalEnvelope,
    /// Its class, pins, schema and partitioning rule.
    pub rule: TypeRule,
    /// Event-level payload hash (§1.5).
    pub payload_hash: Hex64,
    /// `sha256("{platform_run_id}:{event_class}:{event_id}")`.
    pub dedupe_key: Hex64,
    /// Partition key by the class's profile.
    pub partition_key: Hex64,
    /// The bytes that go on the bus: exactly what was submitted (validated, trimmed).
    pub value: Bytes,
}

/// A submission the gate refuses; `raw` is kept so the quarantine can store it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Why.
    pub reason: ReasonCode,
    /// What exactly failed (field, rule, value), for the operator.
    pub detail: String,
    /// The class, when the event type was readable.
    pub event_class: Option<String>,
    /// Whatever envelope fields could be read, for the receipt and the quarantine record.
    pub loose: LooseEnvelope,
    /// The submitted bytes.
    pub raw: Bytes,
}

/// The verdict of stage one.
#[derive(Debug, Clone)]
pub enum Checked {
    /// Go on to run scope and dedupe.
    Candidate(Box<Candidate>),
    /// Quarantine.
    Refused(Box<Refusal>),
}

/// Envelope fields read leniently from a submission that may be invalid: each is kept only
/// when it has the right JSON type, so a receipt can still name what was submitted.
#[derive(Debug, Clone, Default)]
pub struct LooseEnvelope {
    /// The parsed object without its payload (the quarantine record's snapshot).
    pub snapshot: Option<Map<String, Value>>,
}

impl LooseEnvelope {
    fn from_raw(raw: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(mut m)) => {
                m.remove("payload");
                Self { snapshot: Some(m) }
            }
            _ => Self::default(),
        }
    }

    /// The snapshot of a valid envelope (its payload left out).
    pub fn from_envelope(env: &CanonicalEnvelope) -> Self {
        let mut env = env.clone();
        env.payload = None;
        match serde_json::to_value(&env) {
            Ok(Value::Object(m)) => Self { snapshot: Some(m) },
            _ => Self::default(),
        }
    }

    /// A top-level string field, when present and a string.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.snapshot.as_ref()?.get(field)?.as_str()
    }

    /// A top-level field.
    pub fn value(&self, field: &str) -> Option<&Value> {
        self.snapshot.as_ref()?.get(field)
    }
}

/// Run stage one on one submission.
pub fn check(policy: &IgPolicy, schemas: &PayloadSchemas, raw: Bytes) -> Checked {
    let trimmed = trim_ascii(&raw);
    let env = match CanonicalEnvelope::from_json_bytes(trimmed) {
        Ok(env) => env,
        Err(e) => {
            let loose = LooseEnvelope::from_raw(trimmed);
            let event_class = loose
                .text("event_type")
                .map(|t| policy.rule(t).event_class.to_string());
            return refused(
                ReasonCode::EnvelopeInvalid,
                e.to_string(),
                event_class,
                loose,
                raw,
            );
        }
    };
    let rule = policy.rule(&env.event_type).clone();
    let fail = |reason: ReasonCode, detail: String, env: &CanonicalEnvelope| {
        refused(
            reason,
            detail,
            Some(rule.event_class.to_string()),
            LooseEnvelope::from_envelope(env),
            raw.clone(),
        )
    };
    let missing: Vec<&str> = rule
        .required_pins
        .iter()
        .filter(|p| !env.has_pin(p))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let detail = format!(
            "class `{}` requires pins {}; missing: {}",
            rule.event_class,
            rule.required_pins.join(", "),
            missing.join(", ")
        );
        return fail(ReasonCode::PinsMissing, detail, &env);
    }
    let Some(schema) = &rule.schema else {
        let detail = format!(
            "no schema policy for event_type `{}`; the gate admits only the types in \
             config/policy/ig/schema_policy_v0.yaml",
            env.event_type
        );
        return fail(ReasonCode::SchemaPolicyMissing, detail, &env);
    };
    match (&env.schema_version, schema.version_required) {
        (None, true) => {
            let detail = format!("event_type `{}` requires schema_version", env.event_type);
            return fail(ReasonCode::SchemaVersionRequired, detail, &env);
        }
        (Some(v), _) => {
            if let Some(allowed) = &schema.allowed_versions
                && !allowed.iter().any(|a| a == v)
            {
                let detail = format!(
                    "schema_version `{v}` of `{}` is not allowed (allowed: {})",
                    env.event_type,
                    allowed.join(", ")
                );
                return fail(ReasonCode::SchemaVersionNotAllowed, detail, &env);
            }
        }
        (None, false) => {}
    }
    let mut env = env;
    let payload = Value::Object(env.payload.take().unwrap_or_default());
    let verdict = schemas.check(&schema.payload_schema, &payload);
    if let Value::Object(m) = payload {
        env.payload = Some(m);
    }
    if let Err(detail) = verdict {
        return fail(ReasonCode::SchemaFail, detail, &env);
    }
    let Some(partition_key) = rule.profile.derive_key(&env) else {
        let detail = format!(
            "profile `{}` found no non-empty key among its candidates",
            rule.profile.profile_id
        );
        return fail(ReasonCode::PartitionKeyMissing, detail, &env);
    };
    let payload_hash = env.payload_hash();
    let platform_run_id = env
        .platform_run_id
        .as_ref()
        .map(|p| p.as_str())
        .unwrap_or("");
    let dedupe_key = ids::ig_dedupe_key(platform_run_id, &rule.event_class, &env.event_id);
    let value = raw.slice_ref(trimmed);
    Checked::Candidate(Box::new(Candidate {
        env,
        rule,
        payload_hash,
        dedupe_key,
        partition_key,
        value,
    }))
}

fn refused(
    reason: ReasonCode,
    detail: String,
    event_class: Option<String>,
    loose: LooseEnvelope,
    raw: Bytes,
) -> Checked {
    Checked::Refused(Box::new(Refusal {
        reason,
        detail,
        event_class,
        loose,
        raw,
    }))
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}
