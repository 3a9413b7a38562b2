//! Typed forms of the platform's wire contracts (`contracts/*.schema.json`).
//!
//! The JSON Schemas are the wire contract; these structs mirror them field for field, reuse the
//! rails types ([`crate::Hex32`], [`crate::TsUtc`], [`crate::ContextPins`], [`crate::EbRef`], ...)
//! and reject unknown fields. Rules a Rust type cannot carry (string lengths, minimum array
//! sizes, conditional requirements) are checked by [`Contract::validate`]; [`Contract::from_value`]
//! decodes and validates in one step.
//!
//! [`Contract::from_value`] is as strict as the schema: it also refuses an explicit `null` for an
//! optional field and an array in place of an object, which plain `serde_json::from_value`
//! would let through. Where the two still differ, the struct is the stricter: `TsUtc` checks
//! the calendar (the schema pattern only the shape), and `partition` numbers are `u32` where
//! the schemas say "integer >= 0". A boundary that must answer exactly as the contract does
//! (the Ingestion Gate) validates against the schema text from [`schema_text`].
//!
//! The schema texts are compiled into the crate, so a component can build validators at
//! start-up without filesystem access: register [`COMMON_SCHEMA`] under its `$id`
//! ([`schema_id`]) so the relative `common.schema.json#/$defs/...` references resolve.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Declares a closed vocabulary: the enum, its serde wire names, `as_str` and `Display`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $wire ),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod check;

pub mod casework;
pub mod common;
pub mod ingestion;
pub mod learning;
pub mod rtdl;
pub mod scenario_runner;

/// Base URI every contract `$id` lives under.
pub const SCHEMA_BASE_URI: &str = "https://fraud-platform.dev/contracts/";

/// Name of the shared-definitions schema that every other schema references.
pub const COMMON_SCHEMA: &str = "common";

/// Declares the schema list and its compiled-in texts from one list of names.
macro_rules! schemas {
    ($($name:literal),+ $(,)?) => {
        /// Every contract schema name (`contracts/<name>.schema.json`), `common` first.
        pub const SCHEMA_NAMES: &[&str] = &[$($name),+];

        /// The text of `contracts/<name>.schema.json`, compiled into the crate.
        pub fn schema_text(name: &str) -> Option<&'static str> {
            match name {
                $( $name => Some(include_str!(concat!(
                    "../../../../contracts/", $name, ".schema.json"
                ))), )+
                _ => None,
            }
        }
    };
}

schemas!(
    "common",
    "canonical_event_envelope",
    "eb_ref",
    "run_facts_view",
    "run_ready_signal",
    "run_request",
    "run_plan",
    "run_record_event",
    "run_status",
    "run_terminal_signal",
    "sr_control_message",
    "instance_receipt",
    "run_quarantine",
    "ingestion_receipt",
    "quarantine_record",
    "decision_response",
    "degrade_posture",
    "eb_offset_basis",
    "graph_version",
    "action_intent",
    "action_outcome",
    "audit_record",
    "case_trigger",
    "label_assertion",
    "dataset_manifest",
    "bundle_publication",
    "registry_lifecycle_event",
);

/// The `$id` of a schema: `https://fraud-platform.dev/contracts/<name>.schema.json`.
pub fn schema_id(name: &str) -> String {
    format!("{SCHEMA_BASE_URI}{name}.schema.json")
}

/// One broken rule: which field (dotted path, `[i]` for array items) and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {rule}")]
pub struct Violation {
    /// Dotted path of the offending field, e.g. `pins.scenario_id` or `offsets[0].offset`.
    pub field: String,
    /// The rule it breaks, e.g. `must be 1..=256 characters (got 0)`.
    pub rule: String,
}

impl Violation {
    /// A violation of `rule` at `field`.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// Why a document is not a valid instance of a contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Not JSON, wrong types, unknown or missing fields, bad formats.
    #[error("{contract}: {message}")]
    Decode {
        /// Schema name.
        contract: &'static str,
        /// The decoder's message (names the field).
        message: String,
    },
    /// Well-typed, but a rule beyond types is broken.
    #[error("{contract}: {violation}")]
    Invalid {
        /// Schema name.
        contract: &'static str,
        /// The broken rule.
        violation: Violation,
    },
}

/// A typed wire contract: decodes strictly, validates the schema's remaining rules, encodes back
/// to the same JSON.
pub trait Contract: Serialize + DeserializeOwned {
    /// The schema's name in [`SCHEMA_NAMES`].
    const SCHEMA: &'static str;

    /// Check the schema rules the Rust types do not already enforce.
    fn check(&self) -> Result<(), Violation>;

    /// [`Contract::check`], naming the contract in the error.
    fn validate(&self) -> Result<(), ContractError> {
        self.check().map_err(|violation| ContractError::Invalid {
            contract: Self::SCHEMA,
            violation,
        })
    }

    /// Decode a JSON value and validate it.
    ///
    /// Stricter than plain serde: the document must be exactly what the struct encodes back
    /// to, so an explicit `null` for an optional field and an array in place of an object
    /// (which serde's derive would accept) are refused, as the schema refuses them.
    fn from_value(value: Value) -> Result<Self, ContractError> {
        let doc: Self =
            serde_json::from_value(value.clone()).map_err(|e| ContractError::Decode {
                contract: Self::SCHEMA,
                message: e.to_string(),
            })?;
        if let Some(field) = first_difference(&value, &doc.to_value(), "") {
            return Err(ContractError::Decode {
                contract: Self::SCHEMA,
                message: format!(
                    "`{field}` is not in contract form (explicit null for an optional field, \
                     or an array where an object is expected)"
                ),
            });
        }
        doc.validate()?;
        Ok(doc)
    }

    /// Decode JSON bytes and validate them ([`Contract::from_value`]).
    fn from_json_bytes(bytes: &[u8]) -> Result<Self, ContractError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ContractError::Decode {
            contract: Self::SCHEMA,
            message: e.to_string(),
        })?;
        Self::from_value(value)
    }

    /// Encode as a JSON value (field order as declared; unset optional fields omitted).
    fn to_value(&self) -> Value {
        // Plain data with string keys always serialises.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The first path at which two JSON values differ (`None` when equal).
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    let here = || {
        if at.is_empty() {
            "$".to_owned()
        } else {
            at.to_owned()
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &path) {
                            return Some(d);
                        }
                    }
                    None => return Some(path),
                }
            }
            y.keys().find(|k| !x.contains_key(*k)).map(|k| {
                if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{at}[{i}]"))),
        _ => (a != b).then(here),
    }
}
