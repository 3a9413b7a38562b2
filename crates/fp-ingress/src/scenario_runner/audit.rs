//! Contract conformance of what SR wrote: every object under a platform run's `sr/` prefix
//! (run plans, run record lines, run statuses, facts views, READY signals, instance receipts,
//! quarantine records) and every control-bus message, checked against the JSON Schemas in
//! `contracts/` (compiled into `fp_rails`). Operators and tests use it the same way: a report
//! that names each object and what it broke, never a panic.

use fp_rails::contracts::{COMMON_SCHEMA, schema_id, schema_text};
use fp_substrate::objects::{Objects, RunPrefix};
use jsonschema::{Draft, Registry, Validator};
use serde_json::Value;

use super::SrError;

/// One object checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Store path (run record lines: `path#line`).
    pub path: String,
    /// The schema it was checked against.
    pub schema: &'static str,
}

/// The outcome of a ledger check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerReport {
    /// Every object checked, in listing order.
    pub checked: Vec<Checked>,
    /// `path: what is wrong`, one entry per failure; empty when everything conforms.
    pub problems: Vec<String>,
}

impl LedgerReport {
    /// True when every object conforms.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// How many objects were checked against `schema`.
    pub fn count(&self, schema: &str) -> usize {
        self.checked.iter().filter(|c| c.schema == schema).count()
    }
}

/// The SR contract validators, compiled once.
pub struct SrSchemas {
    validators: Vec<(&'static str, Validator)>,
}

impl std::fmt::Debug for SrSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrSchemas").finish_non_exhaustive()
    }
}

/// The schemas SR's objects and messages follow.
const SR_SCHEMAS: &[&str] = &[
    "run_plan",
    "run_record_event",
    "run_status",
    "run_facts_view",
    "run_ready_signal",
    "instance_receipt",
    "run_quarantine",
    "run_terminal_signal",
    "sr_control_message",
    "run_request",
];

fn schema_value(name: &str) -> Result<Value, SrError> {
    let text = schema_text(name)
        .ok_or_else(|| SrError::Internal(format!("no compiled-in schema `{name}`")))?;
    serde_json::from_str(text).map_err(|e| SrError::Internal(format!("schema `{name}`: {e}")))
}

impl SrSchemas {
    /// Compile every SR schema (offline: `common` is registered under its `$id`).
    pub fn compile() -> Result<Self, SrError> {
        let registry = Registry::new()
            .add(schema_id(COMMON_SCHEMA), schema_value(COMMON_SCHEMA)?)
            .and_then(|r| r.prepare())
            .map_err(|e| SrError::Internal(format!("schema registry: {e}")))?;
        let mut validators = Vec::with_capacity(SR_SCHEMAS.len());
        for name in SR_SCHEMAS {
            let v = jsonschema::options()
                .with_draft(Draft::Draft202012)
                .with_registry(&registry)
                .offline()
                .build(&schema_value(name)?)
                .map_err(|e| SrError::Internal(format!("schema `{name}` does not compile: {e}")))?;
            validators.push((*name, v));
        }
        Ok(Self { validators })
    }

    /// The schema errors of `doc` against `schema` (empty when it conforms).
    pub fn errors(&self, schema: &str, doc: &Value) -> Vec<String> {
        match self.validators.iter().find(|(n, _)| *n == schema) {
            Some((_, v)) => v
                .iter_errors(doc)
                .map(|e| format!("{e} at `{}`", e.instance_path()))
                .collect(),
            None => vec![format!("no SR schema named `{schema}`")],
        }
    }

    /// The schema errors of one control-bus record: the wrapper, then its payload against the
    /// signal its `attributes.kind` names.
    pub fn control_message_errors(&self, bytes: &[u8]) -> Vec<String> {
        let doc: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => return vec![format!("not JSON: {e}")],
        };
        let mut errors = self.errors("sr_control_message", &doc);
        let payload_schema = match doc["attributes"]["kind"].as_str() {
            Some("READY" | "READY_REEMIT") => "run_ready_signal",
            Some("TERMINAL_REEMIT") => "run_terminal_signal",
            _ => return errors,
        };
        errors.extend(
            self.errors(payload_schema, &doc["payload"])
                .into_iter()
                .map(|e| format!("payload: {e}")),
        );
        errors
    }
}

/// The schema of an object under `sr/`, from its folder.
fn schema_of(relative: &str) -> Option<&'static str> {
    let folder = relative.split('/').next()?;
    Some(match folder {
        "run_plan" => "run_plan",
        "run_record" => "run_record_event",
        "run_status" => "run_status",
        "run_facts_view" => "run_facts_view",
        "ready_signal" => "run_ready_signal",
        "instance_receipts" => "instance_receipt",
        "quarantine" => "run_quarantine",
        _ => return None,
    })
}

/// Check every object under `{prefix}/sr/` against its schema.
pub async fn check_ledger(
    objects: &Objects,
    prefix: &RunPrefix,
    schemas: &SrSchemas,
) -> Result<LedgerReport, SrError> {
    let root = format!("{}/sr", prefix.as_str());
    let mut report = LedgerReport::default();
    let mut paths = objects.list(&root).await?;
    paths.sort();
    for path in paths {
        let relative = path
            .strip_prefix(&root)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(&path);
        let Some(schema) = schema_of(relative) else {
            report
                .problems
                .push(format!("{path}: not an object SR writes (unknown folder)"));
            continue;
        };
        let bytes = objects.get(&path).await?;
        let docs: Vec<(String, Result<Value, String>)> = if schema == "run_record_event" {
            bytes
                .split(|b| *b == b'\n')
                .enumerate()
                .filter(|(_, l)| !l.is_empty())
                .map(|(i, l)| {
                    (
                        format!("{path}#{}", i + 1),
                        serde_json::from_slice(l).map_err(|e| e.to_string()),
                    )
                })
                .collect()
        } else {
            vec![(
                path.clone(),
                serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
            )]
        };
        for (at, doc) in docs {
            match doc {
                Ok(doc) => {
                    for e in schemas.errors(schema, &doc) {
                        report.problems.push(format!("{at} ({schema}): {e}"));
                    }
                }
                Err(e) => report.problems.push(format!("{at}: not JSON: {e}")),
            }
            report.checked.push(Checked { path: at, schema });
        }
    }
    Ok(report)
}
