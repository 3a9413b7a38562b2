//! The generator's configuration: everything that shapes a world besides the seed and the
//! scenario. Unknown keys are refused so a typo never silently changes nothing.

use serde::{Deserialize, Serialize};

use crate::WorldError;

/// Generator configuration (`fp world generate` flags and `--config FILE` keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldConfig {
    /// Realisation seed (0..=2^63-1: 6B stores it as Int64).
    pub seed: u64,
    /// Scenario id (1..=256 characters of `[A-Za-z0-9_.-]`; it is a path token).
    pub scenario_id: String,
    /// Total number of flows (= arrivals) in the world.
    pub flows: u64,
    /// Horizon in days.
    pub days: u32,
    /// Target share of flows touched by a fraud campaign (0..=0.5).
    pub fraud_rate: f64,
    /// First day of the horizon, `YYYY-MM-DD` (UTC midnight).
    pub start_date: String,
    /// Number of merchants; derived from `flows` when absent.
    pub merchants: Option<u32>,
    /// Number of parties (customers); derived from `flows` when absent.
    pub parties: Option<u32>,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            scenario_id: "baseline_v1".to_owned(),
            flows: 10_000,
            days: 7,
            fraud_rate: 0.005,
            start_date: "2026-03-02".to_owned(),
            merchants: None,
            parties: None,
        }
    }
}

/// The configuration with every derived value filled in: what the world is a function of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedConfig {
    /// Seed.
    pub seed: u64,
    /// Scenario.
    pub scenario_id: String,
    /// Flows.
    pub flows: u64,
    /// Days.
    pub days: u32,
    /// Fraud rate target.
    pub fraud_rate: f64,
    /// Start date.
    pub start_date: String,
    /// Days since 1970-01-01 of `start_date`.
    #[serde(skip)]
    pub start_day: i64,
    /// Merchants.
    pub merchants: u32,
    /// Parties.
    pub parties: u32,
}

impl WorldConfig {
    /// Parse a JSON config document (unknown keys refused).
    pub fn from_json_str(text: &str) -> Result<Self, WorldError> {
        serde_json::from_str(text).map_err(|e| WorldError::Config(format!("config: {e}")))
    }

    /// Parse a YAML (or JSON) config document; unknown keys are refused, absent keys default.
    pub fn from_yaml_str(text: &str) -> Result<Self, WorldError> {
        serde_saphyr::from_str(text).map_err(|e| WorldError::Config(format!("config: {e}")))
    }

    /// Read a config file (`--config FILE`, YAML or JSON); the CLI then overrides its values
    /// with the flags given.
    pub fn from_file(path: &std::path::Path) -> Result<Self, WorldError> {
        let text = std::fs::read_to_string(path).map_err(|e| WorldError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_yaml_str(&text).map_err(|e| match e {
            WorldError::Config(m) => WorldError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Validate and fill derived values.
    pub fn resolve(&self) -> Result<ResolvedConfig, WorldError> {
        let bad = |m: String| Err(WorldError::Config(m));
        if self.seed > i64::MAX as u64 {
            return bad(format!(
                "seed {} exceeds 2^63-1 (6B stores seed as Int64)",
                self.seed
            ));
        }
        let sc = &self.scenario_id;
        if sc.is_empty()
            || sc.len() > 256
            || !sc
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            || sc == "."
            || sc == ".."
        {
            return bad(format!(
                "scenario_id `{sc}` must be 1..=256 characters of [A-Za-z0-9_.-]"
            ));
        }
        if self.flows == 0 || self.flows > 2_000_000_000 {
            return bad(format!("flows must be 1..=2e9 (got {})", self.flows));
        }
        if self.days == 0 || self.days > 366 {
            return bad(format!("days must be 1..=366 (got {})", self.days));
        }
        if !(0.0..=0.5).contains(&self.fraud_rate) {
            return bad(format!(
                "fraud_rate must be within 0..=0.5 (got {})",
                self.fraud_rate
            ));
        }
        let start_day = crate::timefmt::parse_date(&self.start_date).ok_or_else(|| {
            WorldError::Config(format!(
                "start_date `{}` is not YYYY-MM-DD",
                self.start_date
            ))
        })?;
        let merchants = match self.merchants {
            Some(0) => return bad("merchants must be >= 1".to_owned()),
            Some(m) => m,
            None => (self.flows / 200).clamp(20, 200_000) as u32,
        };
        let parties = match self.parties {
            Some(0) => return bad("parties must be >= 1".to_owned()),
            Some(p) => p,
            None => (self.flows / 25).clamp(50, 5_000_000) as u32,
        };
        Ok(ResolvedConfig {
            seed: self.seed,
            scenario_id: sc.clone(),
            flows: self.flows,
            days: self.days,
            fraud_rate: self.fraud_rate,
            start_date: self.start_date.clone(),
            start_day,
            merchants,
            parties,
        })
    }
}
