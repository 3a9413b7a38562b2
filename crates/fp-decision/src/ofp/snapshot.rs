//! The feature snapshot (§12.4) and its canonical bytes.
//!
//! The snapshot is written directly as canonical JSON (keys in code-point order, Python float
//! repr and ASCII escapes from `fp_rails::canonical`), not through a `serde_json::Value` tree:
//! a snapshot holds ~200 numbers and building, sorting and re-encoding a tree per traffic event
//! costs several times the rest of the feature plane. `snapshot_hash` is the reference recipe
//! (`fp_rails::ids::ofp_snapshot_hash`): sha256 of the canonical JSON of `{pins,
//! as_of_time_utc, feature_groups↑, feature_def_policy_rev, eb_offset_basis, graph_version,
//! run_config_digest, features, freshness}`; tests check both against the generic encoder and
//! the reference function.

use std::fmt::Write as _;

use fp_rails::canonical::{python_float_repr, write_str_to};
use fp_rails::contracts::rtdl::{EbOffsetBasis, GraphVersion};
use fp_rails::{ContextPins, Hex64, PolicyRev, TsUtc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::request::GroupRef;

/// `GREEN | AMBER | RED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FreshnessState {
    /// Every requested group and key answered from history.
    Green,
    /// Something is flagged (missing history, no graph version, ...).
    Amber,
    /// Nothing usable: every group or every key is missing.
    Red,
}

impl FreshnessState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Green => "GREEN",
            Self::Amber => "AMBER",
            Self::Red => "RED",
        }
    }
}

/// Freshness flags.
pub mod flags {
    /// No graph version in the input basis.
    pub const GRAPH_VERSION_UNAVAILABLE: &str = "GRAPH_VERSION_UNAVAILABLE";
    /// A requested key has no event in any window of its group.
    pub const MISSING_FEATURE_STATE: &str = "MISSING_FEATURE_STATE";
    /// A requested group (name + version) is not defined by the policy.
    pub const MISSING_FEATURE_GROUP: &str = "MISSING_FEATURE_GROUP";
    /// A key's state already holds events later than the as-of time (a late read); its
    /// features are withheld rather than leak them.
    pub const AS_OF_BEFORE_ENTITY_STATE: &str = "AS_OF_BEFORE_ENTITY_STATE";
}

/// The snapshot's freshness block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// Overall state.
    pub state: FreshnessState,
    /// Sorted flags.
    pub flags: Vec<String>,
    /// Groups whose input is stale (none in canonical-order feeding; kept for the contract).
    pub stale_groups: Vec<String>,
    /// Requested groups the policy does not define, as `name@version`, sorted.
    pub missing_groups: Vec<String>,
    /// `"<key_type>:<key_id>"` without history or withheld, sorted.
    pub missing_feature_keys: Vec<String>,
}

/// A served snapshot: the hash and the canonical JSON bytes (what is stored by reference and
/// compared under replay), plus the freshness block for the caller's degrade logic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedSnapshot {
    /// `snapshot_hash`.
    pub snapshot_hash: Hex64,
    /// The snapshot as canonical JSON.
    pub canonical_json: String,
    /// Its freshness.
    pub freshness: Freshness,
}

impl ServedSnapshot {
    /// The typed form. Floats are parsed by `serde_json`, which without its `float_roundtrip`
    /// feature may be one ulp off on 17-digit values: compare and hash `canonical_json`, not a
    /// re-encoding of the parsed form.
    pub fn parse(&self) -> Result<FeatureSnapshot, serde_json::Error> {
        serde_json::from_str(&self.canonical_json)
    }

    /// `ofp://snapshot/{snapshot_hash}`, the reference decisions carry.
    pub fn snapshot_ref(&self) -> String {
        format!("ofp://snapshot/{}", self.snapshot_hash)
    }
}

/// FeatureSnapshot (§12.4), typed, for readers of stored snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSnapshot {
    /// `snapshot_hash`.
    pub snapshot_hash: Hex64,
    /// Offsets the state reflected.
    pub eb_offset_basis: EbOffsetBasis,
    /// Six pins.
    pub pins: ContextPins,
    /// Equal to `as_of_time_utc`: a snapshot never reads a clock (decision 0012).
    pub created_at_utc: TsUtc,
    /// As-of time.
    pub as_of_time_utc: TsUtc,
    /// Requested groups, sorted.
    pub feature_groups: Vec<GroupRef>,
    /// The feature-definition policy.
    pub feature_def_policy_rev: PolicyRev,
    /// Graph version or null.
    pub graph_version: Option<GraphVersion>,
    /// Run configuration digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_config_digest: Option<Hex64>,
    /// Freshness.
    pub freshness: Freshness,
    /// `"<key_type>:<key_id>" → {group → {feature → value}}`.
    pub features: Map<String, Value>,
}

/// The pieces of a snapshot, each already canonical JSON (without its key).
pub(crate) struct Pieces<'a> {
    pub as_of: &'a TsUtc,
    pub eb_offset_basis: &'a str,
    pub feature_def_policy_rev: &'a str,
    pub feature_groups: &'a [GroupRef],
    pub features: &'a str,
    pub freshness: &'a Freshness,
    pub graph_version: Option<&'a str>,
    pub pins: &'a str,
    pub run_config_digest: Option<&'a Hex64>,
}

impl Pieces<'_> {
    /// Hash and write the snapshot.
    pub fn finish(&self) -> (Hex64, String) {
        let mut groups = String::with_capacity(64 * self.feature_groups.len());
        groups.push('[');
        for (i, g) in self.feature_groups.iter().enumerate() {
            if i > 0 {
                groups.push(',');
            }
            groups.push_str("{\"name\":");
            write_str_to(&mut groups, &g.name);
            groups.push_str(",\"version\":");
            write_str_to(&mut groups, &g.version);
            groups.push('}');
        }
        groups.push(']');
        let freshness = freshness_json(self.freshness);
        let mut as_of = String::with_capacity(32);
        write_str_to(&mut as_of, self.as_of.as_str());
        let gv = self.graph_version.unwrap_or("null");
        let rcd = self
            .run_config_digest
            .map_or_else(|| "null".to_owned(), |d| format!("\"{d}\""));

        // Hash input: the nine fields in code-point order.
        let hashed: [(&str, &str); 9] = [
            ("as_of_time_utc", &as_of),
            ("eb_offset_basis", self.eb_offset_basis),
            ("feature_def_policy_rev", self.feature_def_policy_rev),
            ("feature_groups", &groups),
            ("features", self.features),
            ("freshness", &freshness),
            ("graph_version", gv),
            ("pins", self.pins),
            ("run_config_digest", &rcd),
        ];
        let mut h = Sha256::new();
        for (i, (k, v)) in hashed.iter().enumerate() {
            h.update(if i == 0 { "{\"" } else { ",\"" });
            h.update(k);
            h.update("\":");
            h.update(v);
        }
        h.update("}");
        let hash = Hex64::parse(hex::encode(h.finalize())).unwrap_or_else(|_| Hex64::zero());

        // The snapshot: created_at_utc added, run_config_digest only when present.
        let hash_text = format!("\"{hash}\"");
        let mut fields: Vec<(&str, &str)> = vec![
            ("as_of_time_utc", &as_of),
            ("created_at_utc", &as_of),
            ("eb_offset_basis", self.eb_offset_basis),
            ("feature_def_policy_rev", self.feature_def_policy_rev),
            ("feature_groups", &groups),
            ("features", self.features),
            ("freshness", &freshness),
            ("graph_version", gv),
            ("pins", self.pins),
        ];
        if self.run_config_digest.is_some() {
            fields.push(("run_config_digest", &rcd));
        }
        fields.push(("snapshot_hash", &hash_text));
        let mut out =
            String::with_capacity(fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
        for (i, (k, v)) in fields.iter().enumerate() {
            out.push_str(if i == 0 { "{\"" } else { ",\"" });
            out.push_str(k);
            out.push_str("\":");
            out.push_str(v);
        }
        out.push('}');
        (hash, out)
    }
}

fn freshness_json(f: &Freshness) -> String {
    let mut out = String::with_capacity(128);
    let list = |out: &mut String, items: &[String]| {
        out.push('[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str_to(out, s);
        }
        out.push(']');
    };
    out.push_str("{\"flags\":");
    list(&mut out, &f.flags);
    out.push_str(",\"missing_feature_keys\":");
    list(&mut out, &f.missing_feature_keys);
    out.push_str(",\"missing_groups\":");
    list(&mut out, &f.missing_groups);
    out.push_str(",\"stale_groups\":");
    list(&mut out, &f.stale_groups);
    out.push_str(",\"state\":\"");
    out.push_str(f.state.as_str());
    out.push_str("\"}");
    out
}

/// A feature value being written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(u64),
    Float(f64),
    Null,
}

pub(crate) fn write_num(out: &mut String, v: Num) {
    match v {
        Num::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // Non-finite values cannot arise (inputs are bounded integers); write null if they did
        // rather than Python's non-JSON `NaN`.
        Num::Float(f) if f.is_finite() => write_float(out, f),
        Num::Float(_) | Num::Null => out.push_str("null"),
    }
}

/// Python's `repr(float)` written straight into `out`. In Python's fixed-notation range
/// (`1e-4 <= |x| < 1e16`, and 0) Rust's `Display` prints the same shortest round-trip digits in
/// the same notation, except that integral values lack Python's `.0`; outside it (scientific
/// notation) `fp_rails::canonical::python_float_repr` is used. A test checks the two agree.
pub(crate) fn write_float(out: &mut String, f: f64) {
    let a = f.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let start = out.len();
        let _ = write!(out, "{f}");
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
    } else {
        out.push_str(&python_float_repr(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(f: f64) {
        let mut out = String::new();
        write_float(&mut out, f);
        assert_eq!(out, python_float_repr(f), "{f:?}");
    }

    #[test]
    fn float_writer_matches_python_repr_at_the_edges() {
        for f in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            25.99,
            0.1,
            1e-4,
            0.00011,
            9.999e-5,
            1e15,
            1e16,
            9999999999999998.0,
            123.456,
            1.0 / 3.0,
            2.0 / 3.0,
            5e-324,
            f64::MAX,
            0.30000000000000004,
            100.0,
            1e-7,
        ] {
            check(f);
        }
    }

    proptest! {
        #[test]
        fn float_writer_matches_python_repr(bits in any::<u64>(), cents in -1_000_000_000i64..1_000_000_000, n in 1u64..1000) {
            let f = f64::from_bits(bits);
            if f.is_finite() {
                check(f);
            }
            check(cents as f64 / 100.0);
            check(cents as f64 / 1e6 / n as f64);
        }
    }
}
