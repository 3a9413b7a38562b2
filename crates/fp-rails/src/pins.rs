//! ContextPins: the six pins every run-scoped payload carries.
//!
//! `platform_run_id` is the execution scope (dedupe, receipts, prefixes); `scenario_run_id` is
//! the deterministic scenario identity (SR `run_id`); the other four name the world. The older
//! "four pins + separate seed" blueprint is superseded by the schemas (contracts §1.2).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hexid::{Hex32, Hex64, PlatformRunId};

/// The six ContextPins (plus the optional legacy `run_id`, which equals `scenario_run_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextPins {
    /// Execution/session scope.
    pub platform_run_id: PlatformRunId,
    /// Deterministic scenario run identity (SR run_id).
    pub scenario_run_id: Hex32,
    /// World identity.
    pub manifest_fingerprint: Hex64,
    /// Governed parameter bundle identity.
    pub parameter_hash: Hex64,
    /// Scenario binding.
    pub scenario_id: String,
    /// Realisation seed.
    pub seed: u64,
    /// Legacy alias of `scenario_run_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Hex32>,
}

impl ContextPins {
    /// `pin_scope`: the six pins as strings, the shape the decision fabric hashes.
    pub fn pin_scope(&self) -> serde_json::Value {
        serde_json::json!({
            "platform_run_id": self.platform_run_id.as_str(),
            "scenario_run_id": self.scenario_run_id.as_str(),
            "manifest_fingerprint": self.manifest_fingerprint.as_str(),
            "parameter_hash": self.parameter_hash.as_str(),
            "scenario_id": self.scenario_id,
            "seed": self.seed.to_string(),
        })
    }
}

/// The envelope's `scenario_id`: a string (1..256) or a non-negative integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScenarioId {
    /// Integer form.
    Number(u64),
    /// String form.
    Text(String),
}

impl fmt::Display for ScenarioId {
    /// Python `str(x)` of the value, as hashed by the engine event_id recipe.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

impl From<&str> for ScenarioId {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}
