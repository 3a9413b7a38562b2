//! Payload validators, compiled once at start-up from the schema policy's references:
//! `engine:<output_id>` (built from the engine interface catalogue: every column with its type;
//! non-nullable columns required), `contract:<name>` (`contracts/<name>.schema.json`) and
//! `ig_audit:<name>` (`contracts/ig_audit/<name>.schema.json`).

use std::collections::HashMap;
use std::sync::Arc;

use fp_rails::contracts::{COMMON_SCHEMA, schema_id, schema_text};
use fp_world::catalogue::{self, ColType};
use jsonschema::{Draft, Registry, Validator};
use serde_json::{Map, Value, json};

use super::error::IgError;
use super::policy::IgPolicy;

const IG_AUDIT: [(&str, &str); 4] = [
    (
        "ig_policy_activation",
        include_str!("../../../../contracts/ig_audit/ig_policy_activation.schema.json"),
    ),
    (
        "ig_quarantine_spike",
        include_str!("../../../../contracts/ig_audit/ig_quarantine_spike.schema.json"),
    ),
    (
        "ig_audit_verify",
        include_str!("../../../../contracts/ig_audit/ig_audit_verify.schema.json"),
    ),
    (
        "ig_pull_run",
        include_str!("../../../../contracts/ig_audit/ig_pull_run.schema.json"),
    ),
];

/// Compiled validators keyed by `payload_schema` reference.
#[derive(Clone)]
pub struct PayloadSchemas {
    validators: HashMap<String, Arc<Validator>>,
}

impl std::fmt::Debug for PayloadSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.validators.keys().collect();
        names.sort();
        f.debug_struct("PayloadSchemas")
            .field("schemas", &names)
            .finish()
    }
}

impl PayloadSchemas {
    /// Compile every schema the policy names; an unknown or broken reference stops start-up.
    pub fn compile(policy: &IgPolicy) -> Result<Self, IgError> {
        let registry = registry()?;
        let mut validators = HashMap::new();
        for rule in policy.rules().values() {
            let Some(schema) = &rule.schema else { continue };
            let name = &schema.payload_schema;
            if validators.contains_key(name) {
                continue;
            }
            let doc = resolve(name)?;
            let validator = jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(&registry)
                .offline()
                .build(&doc)
                .map_err(|e| IgError::PayloadSchema {
                    name: name.clone(),
                    detail: format!("does not compile: {e}"),
                })?;
            validators.insert(name.clone(), Arc::new(validator));
        }
        Ok(Self { validators })
    }

    /// Check a payload (an absent payload is checked as `null`); the error names the first
    /// failing location and rule.
    pub fn check(&self, name: &str, payload: &Value) -> Result<(), String> {
        let Some(v) = self.validators.get(name) else {
            return Err(format!("payload schema `{name}` is not loaded"));
        };
        match v.validate(payload) {
            Ok(()) => Ok(()),
            Err(e) => {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                Err(format!("payload{at}: {e}"))
            }
        }
    }
}

fn registry() -> Result<Registry<'static>, IgError> {
    let text = schema_text(COMMON_SCHEMA).ok_or_else(|| IgError::PayloadSchema {
        name: COMMON_SCHEMA.into(),
        detail: "not compiled into this build".into(),
    })?;
    let common: Value = serde_json::from_str(text).map_err(|e| IgError::PayloadSchema {
        name: COMMON_SCHEMA.into(),
        detail: e.to_string(),
    })?;
    Registry::new()
        .add(schema_id(COMMON_SCHEMA), common)
        .and_then(|r| r.prepare())
        .map_err(|e| IgError::PayloadSchema {
            name: COMMON_SCHEMA.into(),
            detail: e.to_string(),
        })
}

fn resolve(reference: &str) -> Result<Value, IgError> {
    let err = |detail: String| IgError::PayloadSchema {
        name: reference.to_owned(),
        detail,
    };
    let (kind, name) = reference
        .split_once(':')
        .ok_or_else(|| err("expected `engine:…`, `contract:…` or `ig_audit:…`".into()))?;
    match kind {
        "engine" => {
            let spec = catalogue::output(name)
                .ok_or_else(|| err(format!("`{name}` is not an output of the engine catalogue")))?;
            Ok(engine_schema(spec))
        }
        "contract" => {
            let text = schema_text(name)
                .ok_or_else(|| err(format!("no contract `contracts/{name}.schema.json`")))?;
            serde_json::from_str(text).map_err(|e| err(e.to_string()))
        }
        "ig_audit" => {
            let text = IG_AUDIT
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
                .ok_or_else(|| err(format!("no `contracts/ig_audit/{name}.schema.json`")))?;
            serde_json::from_str(text).map_err(|e| err(e.to_string()))
        }
        other => Err(err(format!("unknown schema source `{other}`"))),
    }
}

/// The JSON Schema of one engine output's row: declared columns typed, non-nullable columns
/// required. Extra columns are allowed, as in the engine's own schema fragments: the gate
/// checks what the interface declares and never strips anything.
fn engine_schema(spec: &catalogue::OutputSpec) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, ty, nullable) in spec.columns {
        let base = match ty {
            ColType::Utf8 => json!({"type": "string"}),
            ColType::Int64 => json!({"type": "integer"}),
            ColType::UInt64 => json!({"type": "integer", "minimum": 0}),
            ColType::Float64 => json!({"type": "number"}),
            ColType::Boolean => json!({"type": "boolean"}),
        };
        let prop = if *nullable {
            json!({"anyOf": [base, {"type": "null"}]})
        } else {
            required.push(Value::from(*name));
            base
        };
        props.insert((*name).to_owned(), prop);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("{} row", spec.id),
        "type": "object",
        "required": required,
        "properties": props,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_policy_schema_compiles_and_engine_rows_are_typed() {
        let p = IgPolicy::builtin("r").unwrap();
        let s = PayloadSchemas::compile(&p).unwrap();
        let name = "engine:s3_event_stream_with_fraud_6B";
        let spec = catalogue::output("s3_event_stream_with_fraud_6B").unwrap();
        let mut row = Map::new();
        for (col, ty, _) in spec.columns {
            let v = match ty {
                ColType::Utf8 => json!("x"),
                ColType::Int64 | ColType::UInt64 => json!(1),
                ColType::Float64 => json!(1.5),
                ColType::Boolean => json!(true),
            };
            row.insert((*col).to_owned(), v);
        }
        s.check(name, &Value::Object(row.clone())).unwrap();
        row.insert("flow_id".into(), json!("not a number"));
        let err = s.check(name, &Value::Object(row.clone())).unwrap_err();
        assert!(err.contains("/flow_id"), "{err}");
        row.remove("flow_id");
        let err = s.check(name, &Value::Object(row)).unwrap_err();
        assert!(err.contains("flow_id"), "{err}");
        assert!(s.check("ig_audit:ig_quarantine_spike", &json!({})).is_err());
    }
}
