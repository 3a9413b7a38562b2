//! The canonical event envelope: the only admitted event shape at the IG/EB boundary.
//!
//! Unknown fields are rejected (the schema is `additionalProperties: false`); `ts_utc` must
//! have exactly six fractional digits and `Z`; there is no `event_class` field (IG derives it).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::hexid::{Hex32, Hex64, PlatformRunId};
use crate::pins::{ContextPins, ScenarioId};
use crate::time::TsUtc;

/// A canonical event envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanonicalEnvelope {
    /// Stable, producer-assigned id (uuid, hex64, hex32 or any 1..256 string).
    pub event_id: String,
    /// Routing/type name; for engine traffic, the output id.
    pub event_type: String,
    /// Domain time; never rewritten.
    pub ts_utc: TsUtc,
    /// World identity (`"0"*64` for platform-internal events).
    pub manifest_fingerprint: Hex64,
    /// Parameter identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_hash: Option<Hex64>,
    /// Realisation seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Scenario binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_id: Option<ScenarioId>,
    /// Legacy run id (engine run id for engine traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Hex32>,
    /// Platform session run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_run_id: Option<PlatformRunId>,
    /// SR scenario run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_run_id: Option<Hex32>,
    /// Producer clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emitted_at_utc: Option<TsUtc>,
    /// Payload schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// Trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Span id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// Causal parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_event_id: Option<String>,
    /// Producer identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// Event-specific payload, selected by `event_type` + `schema_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Map<String, Value>>,
}

/// Why bytes are not a valid canonical envelope. The message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not UTF-8.
    #[error("envelope is not valid UTF-8 (byte {0})")]
    NotUtf8(usize),
    /// Not JSON, wrong types, unknown or missing fields, bad formats.
    #[error("envelope is invalid: {0}")]
    Invalid(String),
    /// A string field outside its length bounds.
    #[error("envelope field `{field}` must be {min}..={max} characters (got {len})")]
    Length {
        /// Field name.
        field: &'static str,
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
        /// Actual length.
        len: usize,
    },
}

fn check_len(
    field: &'static str,
    value: Option<&str>,
    min: usize,
    max: usize,
) -> Result<(), EnvelopeError> {
    match value {
        Some(v) => {
            let len = v.chars().count();
            if len < min || len > max {
                Err(EnvelopeError::Length {
                    field,
                    min,
                    max,
                    len,
                })
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    }
}

impl CanonicalEnvelope {
    /// Parse and fully validate raw bytes (what IG receives).
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let text =
            std::str::from_utf8(bytes).map_err(|e| EnvelopeError::NotUtf8(e.valid_up_to()))?;
        let env: Self =
            serde_json::from_str(text).map_err(|e| EnvelopeError::Invalid(e.to_string()))?;
        env.validate()?;
        Ok(env)
    }

    /// Parse and validate an already decoded JSON value.
    pub fn from_value(value: Value) -> Result<Self, EnvelopeError> {
        let env: Self =
            serde_json::from_value(value).map_err(|e| EnvelopeError::Invalid(e.to_string()))?;
        env.validate()?;
        Ok(env)
    }

    /// The schema's length bounds (types and formats are enforced by deserialisation).
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        check_len("event_id", Some(&self.event_id), 1, 256)?;
        check_len("event_type", Some(&self.event_type), 1, 256)?;
        check_len("schema_version", self.schema_version.as_deref(), 1, 64)?;
        check_len("trace_id", self.trace_id.as_deref(), 1, 128)?;
        check_len("span_id", self.span_id.as_deref(), 1, 128)?;
        check_len("parent_event_id", self.parent_event_id.as_deref(), 1, 256)?;
        check_len("producer", self.producer.as_deref(), 1, 128)?;
        if let Some(ScenarioId::Text(s)) = &self.scenario_id {
            check_len("scenario_id", Some(s), 1, 256)?;
        }
        Ok(())
    }

    /// The event-level `payload_hash`:
    /// `sha256(CJ({"event_type", "schema_version", "payload"}))`. Transport metadata (ids,
    /// pins, times, producer) is excluded so the same fact from two producers hashes alike.
    pub fn payload_hash(&self) -> Hex64 {
        // CJ({"event_type", "payload", "schema_version"}) written directly (keys already in
        // sorted order) so the payload is not cloned into a wrapper object on the hot path.
        use crate::canonical::{Style, write_map_to, write_str_to};
        let mut buf = String::with_capacity(512);
        buf.push_str("{\"event_type\":");
        write_str_to(&mut buf, &self.event_type);
        buf.push_str(",\"payload\":");
        match &self.payload {
            Some(map) => write_map_to(&mut buf, map, Style::Compact),
            None => buf.push_str("null"),
        }
        buf.push_str(",\"schema_version\":");
        match &self.schema_version {
            Some(v) => write_str_to(&mut buf, v),
            None => buf.push_str("null"),
        }
        buf.push('}');
        Hex64::digest(buf)
    }

    /// The envelope's pins as ContextPins, when all six are present.
    pub fn context_pins(&self) -> Option<ContextPins> {
        Some(ContextPins {
            platform_run_id: self.platform_run_id.clone()?,
            scenario_run_id: self.scenario_run_id.clone()?,
            manifest_fingerprint: self.manifest_fingerprint.clone(),
            parameter_hash: self.parameter_hash.clone()?,
            scenario_id: self.scenario_id.as_ref()?.to_string(),
            seed: self.seed?,
            run_id: self.run_id.clone(),
        })
    }

    /// Whether a named envelope pin is present and non-empty (IG's per-class pin check: absent,
    /// `null` and `""` all count as missing). Unknown names are reported missing.
    pub fn has_pin(&self, name: &str) -> bool {
        match name {
            "platform_run_id" => self.platform_run_id.is_some(),
            "scenario_run_id" => self.scenario_run_id.is_some(),
            "manifest_fingerprint" => true,
            "parameter_hash" => self.parameter_hash.is_some(),
            "seed" => self.seed.is_some(),
            "scenario_id" => match &self.scenario_id {
                Some(ScenarioId::Text(s)) => !s.is_empty(),
                Some(ScenarioId::Number(_)) => true,
                None => false,
            },
            "run_id" => self.run_id.is_some(),
            _ => false,
        }
    }

    /// Compact JSON for the bus (field order as declared; consumers parse, never hash these
    /// bytes).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MF: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn base() -> Value {
        serde_json::json!({
            "event_id": "550e8400-e29b-41d4-a716-446655440000",
            "event_type": "arrival_event",
            "schema_version": "1",
            "ts_utc": "2026-01-02T10:15:30.123456Z",
            "manifest_fingerprint": MF,
            "seed": 123456789u64,
            "scenario_id": "scenario_42",
            "payload": {"merchant_id": "m_00001234", "amount_minor": 2599}
        })
    }

    #[test]
    fn reference_example_parses_and_round_trips() {
        let env = CanonicalEnvelope::from_value(base()).expect("valid envelope");
        let back: Value = serde_json::from_slice(&env.to_json_bytes()).expect("json");
        assert_eq!(back, base());
    }

    #[test]
    fn unknown_fields_and_bad_times_are_rejected() {
        let mut v = base();
        v["event_class"] = "traffic".into();
        let err = CanonicalEnvelope::from_value(v).expect_err("unknown field");
        assert!(err.to_string().contains("event_class"), "{err}");

        let mut v = base();
        v["ts_utc"] = "2026-01-02T10:15:30.123Z".into();
        let err = CanonicalEnvelope::from_value(v).expect_err("3 fractional digits");
        assert!(err.to_string().contains("6 fractional digits"), "{err}");

        let mut v = base();
        v["manifest_fingerprint"] = "ABC".into();
        assert!(CanonicalEnvelope::from_value(v).is_err());

        let mut v = base();
        v["producer"] = "x".repeat(129).into();
        assert!(matches!(
            CanonicalEnvelope::from_value(v),
            Err(EnvelopeError::Length {
                field: "producer",
                ..
            })
        ));
    }

    #[test]
    fn invalid_utf8_is_named() {
        let err =
            CanonicalEnvelope::from_json_bytes(b"{\"event_id\": \"\xff\"}").expect_err("not utf-8");
        assert!(matches!(err, EnvelopeError::NotUtf8(14)));
    }

    #[test]
    fn payload_hash_ignores_transport_metadata() {
        let a = CanonicalEnvelope::from_value(base()).expect("valid");
        let mut v = base();
        v["event_id"] = "other".into();
        v["producer"] = "svc:x".into();
        let b = CanonicalEnvelope::from_value(v).expect("valid");
        assert_eq!(a.payload_hash(), b.payload_hash());
        let mut v = base();
        v["payload"]["amount_minor"] = 2600.into();
        let c = CanonicalEnvelope::from_value(v).expect("valid");
        assert_ne!(a.payload_hash(), c.payload_hash());
    }

    #[test]
    fn pins_count_empty_as_missing() {
        let mut v = base();
        v["scenario_id"] = "".into();
        // the schema allows scenario_id 1..256 only, so "" is already invalid
        assert!(CanonicalEnvelope::from_value(v).is_err());
        let env = CanonicalEnvelope::from_value(base()).expect("valid");
        assert!(env.has_pin("seed"));
        assert!(!env.has_pin("platform_run_id"));
        assert!(env.context_pins().is_none());
    }
}
