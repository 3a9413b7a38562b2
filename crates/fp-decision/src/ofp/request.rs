//! `get_features` request and the input basis the caller stamps on a snapshot (§12.4).

use fp_rails::contracts::rtdl::{EbOffsetBasis, GraphVersion};
use fp_rails::{ContextPins, Hex64, TsUtc};
use serde::{Deserialize, Serialize};

use super::error::OfpError;
use crate::entity::KeyType;

/// At most this many feature keys per request.
pub const MAX_KEYS: usize = 256;
/// At most this many groups per request.
pub const MAX_GROUPS: usize = 64;

/// One requested entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureKey {
    /// `party`, `account`, `instrument`, `device`, `ip` or `merchant` (≤ 64).
    pub key_type: String,
    /// The entity id in canonical decimal (≤ 256).
    pub key_id: String,
}

impl FeatureKey {
    /// A key from a type and an id.
    pub fn new(key_type: KeyType, id: u64) -> Self {
        Self {
            key_type: key_type.as_str().to_owned(),
            key_id: id.to_string(),
        }
    }
}

/// `{name, version}` of a feature group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRef {
    /// Group name.
    pub name: String,
    /// Group version.
    pub version: String,
}

/// A feature request: the contract's fields plus `current_amount`, the amount of the event
/// being decided (used only by `amount_to_mean_ratio_*`; decision 0012).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureRequest {
    /// The six pins of the run.
    pub pins: ContextPins,
    /// Features are computed as of this instant (DF: the source event's `ts_utc`).
    pub as_of_time_utc: TsUtc,
    /// Entities, at least one.
    pub feature_keys: Vec<FeatureKey>,
    /// Groups, at least one.
    pub feature_groups: Vec<GroupRef>,
    /// `none | resolve_if_needed | require_ieg` (accepted, not used by this plane yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_resolution_mode: Option<String>,
    /// Caller's request id (≤ 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Amount of the event being decided (major units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_amount: Option<f64>,
}

impl FeatureRequest {
    /// Parse a JSON request (unknown fields refused).
    pub fn from_json(bytes: &[u8]) -> Result<Self, OfpError> {
        serde_json::from_slice(bytes).map_err(|e| OfpError::InvalidRequest(e.to_string()))
    }

    /// The shape rules the types do not carry; returns the parsed keys.
    pub(crate) fn checked_keys(&self) -> Result<Vec<(KeyType, u64)>, OfpError> {
        let bad = |m: String| Err(OfpError::InvalidRequest(m));
        if self.feature_keys.is_empty() || self.feature_keys.len() > MAX_KEYS {
            return bad(format!(
                "`feature_keys` must hold 1..={MAX_KEYS} keys (got {})",
                self.feature_keys.len()
            ));
        }
        if self.feature_groups.is_empty() || self.feature_groups.len() > MAX_GROUPS {
            return bad(format!(
                "`feature_groups` must hold 1..={MAX_GROUPS} groups (got {})",
                self.feature_groups.len()
            ));
        }
        for (i, g) in self.feature_groups.iter().enumerate() {
            if g.name.is_empty() || g.version.is_empty() || g.name.len() > 128 {
                return bad(format!(
                    "`feature_groups[{i}]`: name and version must be non-empty"
                ));
            }
        }
        if let Some(id) = &self.request_id
            && (id.is_empty() || id.chars().count() > 128)
        {
            return bad("`request_id` must be 1..=128 characters".into());
        }
        if let Some(a) = self.current_amount
            && !a.is_finite()
        {
            return bad("`current_amount` must be a finite number".into());
        }
        let mut keys = Vec::with_capacity(self.feature_keys.len());
        for (i, k) in self.feature_keys.iter().enumerate() {
            let key_type = KeyType::parse(&k.key_type).ok_or_else(|| {
                OfpError::InvalidRequest(format!(
                    "`feature_keys[{i}].key_type` `{}` is not one of party, account, \
                     instrument, device, ip, merchant",
                    k.key_type.chars().take(64).collect::<String>()
                ))
            })?;
            let id = parse_id(&k.key_id).ok_or_else(|| {
                OfpError::InvalidRequest(format!(
                    "`feature_keys[{i}].key_id` `{}` is not an entity id (a decimal integer \
                     without leading zeros)",
                    k.key_id.chars().take(64).collect::<String>()
                ))
            })?;
            keys.push((key_type, id));
        }
        Ok(keys)
    }
}

fn parse_id(s: &str) -> Option<u64> {
    let canonical = !s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// What the caller stamps on a snapshot: the offsets the state reflects, the graph version if
/// the identity graph was consulted, and the run configuration digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputBasis {
    /// Exclusive-next offsets of the traffic topic applied so far.
    pub eb_offset_basis: EbOffsetBasis,
    /// Graph version, when the identity graph was consulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_version: Option<GraphVersion>,
    /// Run configuration digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_config_digest: Option<Hex64>,
}
