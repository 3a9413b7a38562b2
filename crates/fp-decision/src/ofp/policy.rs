//! The feature-definition policy (`config/policy/ofp/features_v0.yaml`), parsed strictly,
//! checked, stamped with its `policy_rev` (content digest = sha256 of the canonical JSON of the
//! parsed file, so comments and formatting never change it) and compiled into the window and
//! feature layout the state and the snapshot writer use.

use std::collections::BTreeSet;

use fp_rails::PolicyRev;
use serde::Deserialize;
use serde_json::Value;

use crate::duration::parse_duration_us;
use crate::entity::KeyType;
pub use crate::policy_error::PolicyError;
use crate::policy_error::read_policy;

/// Path of the built-in policy, relative to the repository root.
pub const FEATURES_FILE: &str = "config/policy/ofp/features_v0.yaml";

const BUILTIN: &str = include_str!("../../../../config/policy/ofp/features_v0.yaml");

/// At most this many distinct-count dimensions per group (the bucket layout is fixed-size).
pub const MAX_DISTINCT: usize = 3;

/// At most this many buckets per window: bounds memory and the per-read scan.
pub const MAX_BUCKETS: i64 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    policy_id: String,
    revision: String,
    allowed_lateness: String,
    counted_event_types: Vec<String>,
    windows: Vec<WindowFile>,
    groups: Vec<GroupFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    name: String,
    duration: String,
    bucket: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    name: String,
    version: String,
    key_type: String,
    windows: Vec<String>,
    #[serde(default)]
    distinct: Vec<String>,
}

/// One event-time window: `buckets` epoch-aligned buckets of `bucket_us` (the last one holding
/// the as-of time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDef {
    /// Name used in feature names (`count_1h`).
    pub name: String,
    /// Window length.
    pub duration_us: i64,
    /// Bucket width.
    pub bucket_us: i64,
    /// `duration / bucket`.
    pub buckets: i64,
}

impl WindowDef {
    /// Bucket index of an instant (floor division: correct before the epoch too).
    pub fn bucket_of(&self, ts_us: i64) -> i64 {
        ts_us.div_euclid(self.bucket_us)
    }

    /// The lowest bucket index the window covers when the as-of instant is in bucket `hi`.
    pub fn low_bucket(&self, hi: i64) -> i64 {
        hi - self.buckets + 1
    }
}

/// What one feature value is computed from (`w` = index into the group's windows, `d` = index
/// into its distinct dimensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureRef {
    /// Events in the window.
    Count(usize),
    /// Sum of amounts.
    AmountSum(usize),
    /// Mean amount (null when the window is empty).
    AmountMean(usize),
    /// Largest amount (null when empty).
    AmountMax(usize),
    /// Current amount / window mean (null without a current amount, or when the mean is 0 or
    /// undefined).
    AmountToMeanRatio(usize),
    /// Distinct values of a dimension among the window's events.
    Distinct(usize, usize),
    /// Seconds since the entity's latest event, if that event is in the group's longest window.
    TimeSinceLastEvent,
}

/// One compiled feature group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDef {
    /// Group name.
    pub name: String,
    /// Group version.
    pub version: String,
    /// Entity type the group is kept per.
    pub key_type: KeyType,
    /// Windows of the group, in policy order.
    pub windows: Vec<WindowDef>,
    /// Index (into `windows`) of the longest window.
    pub longest: usize,
    /// Distinct-count dimensions.
    pub distinct: Vec<KeyType>,
    /// Feature names, sorted (the canonical JSON order), with what each is computed from.
    pub features: Vec<(String, FeatureRef)>,
}

/// The compiled feature policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeaturePolicy {
    /// `{policy_id, revision, content_digest}`, stamped on every snapshot.
    pub policy_rev: PolicyRev,
    /// How far behind the watermark a record may be and still be applied.
    pub allowed_lateness_us: i64,
    /// Event types that update state.
    pub counted_event_types: Vec<String>,
    /// Groups, in policy order; at most one per key type.
    pub groups: Vec<GroupDef>,
}

impl FeaturePolicy {
    /// The policy shipped in the repository (`config/policy/ofp/features_v0.yaml`).
    pub fn builtin() -> Result<Self, PolicyError> {
        Self::from_yaml(FEATURES_FILE, BUILTIN)
    }

    /// Parse and compile a policy text; `file` names it in errors.
    pub fn from_yaml(file: &str, text: &str) -> Result<Self, PolicyError> {
        let err = |detail: String| PolicyError::new(file, detail);
        let (parsed, tree): (PolicyFile, Value) = read_policy(file, text)?;
        let policy_rev = PolicyRev::of_content(&parsed.policy_id, &parsed.revision, &tree);
        compile(parsed, policy_rev).map_err(err)
    }

    /// The group of a key type, if the policy defines one.
    pub fn group_for(&self, key_type: KeyType) -> Option<(usize, &GroupDef)> {
        self.groups
            .iter()
            .enumerate()
            .find(|(_, g)| g.key_type == key_type)
    }

    /// Whether an event type updates state.
    pub fn counts(&self, event_type: &str) -> bool {
        self.counted_event_types.iter().any(|t| t == event_type)
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn compile(p: PolicyFile, policy_rev: PolicyRev) -> Result<FeaturePolicy, String> {
    if p.policy_id.is_empty() || p.revision.is_empty() {
        return Err("`policy_id` and `revision` must be non-empty".into());
    }
    let allowed_lateness_us =
        parse_duration_us(&p.allowed_lateness).map_err(|e| format!("`allowed_lateness`: {e}"))?;
    if p.counted_event_types.is_empty() {
        return Err("`counted_event_types` must name at least one event type".into());
    }
    let mut windows: Vec<WindowDef> = Vec::new();
    for w in &p.windows {
        if !is_name(&w.name) || windows.iter().any(|x| x.name == w.name) {
            return Err(format!(
                "window name `{}` must be unique, lowercase [a-z0-9_]",
                w.name
            ));
        }
        let duration_us =
            parse_duration_us(&w.duration).map_err(|e| format!("window `{}`: {e}", w.name))?;
        let bucket_us =
            parse_duration_us(&w.bucket).map_err(|e| format!("window `{}`: {e}", w.name))?;
        if duration_us % bucket_us != 0 {
            return Err(format!(
                "window `{}`: duration {} is not a whole number of {} buckets",
                w.name, w.duration, w.bucket
            ));
        }
        let buckets = duration_us / bucket_us;
        if buckets > MAX_BUCKETS {
            return Err(format!(
                "window `{}`: {buckets} buckets, at most {MAX_BUCKETS} allowed",
                w.name
            ));
        }
        windows.push(WindowDef {
            name: w.name.clone(),
            duration_us,
            bucket_us,
            buckets,
        });
    }
    if p.groups.is_empty() {
        return Err("`groups` must define at least one group".into());
    }
    let mut groups: Vec<GroupDef> = Vec::new();
    for g in &p.groups {
        let at = format!("group `{}`", g.name);
        if !is_name(&g.name) || groups.iter().any(|x| x.name == g.name) {
            return Err(format!("{at}: name must be unique, lowercase [a-z0-9_]"));
        }
        if g.version.is_empty() {
            return Err(format!("{at}: `version` must be non-empty"));
        }
        let key_type = KeyType::parse(&g.key_type).ok_or_else(|| {
            format!(
                "{at}: unknown key_type `{}` (expected one of party, account, instrument, \
                 device, ip, merchant)",
                g.key_type
            )
        })?;
        if groups.iter().any(|x| x.key_type == key_type) {
            return Err(format!("{at}: a second group for key_type `{key_type}`"));
        }
        if g.windows.is_empty() {
            return Err(format!("{at}: `windows` must name at least one window"));
        }
        let mut gw: Vec<WindowDef> = Vec::new();
        for name in &g.windows {
            let w = windows
                .iter()
                .find(|w| &w.name == name)
                .ok_or_else(|| format!("{at}: unknown window `{name}`"))?;
            if gw.iter().any(|x| x.name == w.name) {
                return Err(format!("{at}: window `{name}` listed twice"));
            }
            gw.push(w.clone());
        }
        let mut distinct = Vec::new();
        for name in &g.distinct {
            let d = KeyType::parse(name)
                .ok_or_else(|| format!("{at}: unknown distinct dimension `{name}`"))?;
            if d == key_type || distinct.contains(&d) {
                return Err(format!(
                    "{at}: distinct dimension `{name}` repeats or is the group's own key type"
                ));
            }
            distinct.push(d);
        }
        if distinct.len() > MAX_DISTINCT {
            return Err(format!("{at}: at most {MAX_DISTINCT} distinct dimensions"));
        }
        let longest = (0..gw.len())
            .max_by_key(|&i| (gw[i].duration_us, std::cmp::Reverse(i)))
            .unwrap_or(0);
        let features = feature_names(&gw, &distinct);
        groups.push(GroupDef {
            name: g.name.clone(),
            version: g.version.clone(),
            key_type,
            windows: gw,
            longest,
            distinct,
            features,
        });
    }
    Ok(FeaturePolicy {
        policy_rev,
        allowed_lateness_us,
        counted_event_types: p.counted_event_types,
        groups,
    })
}

fn feature_names(windows: &[WindowDef], distinct: &[KeyType]) -> Vec<(String, FeatureRef)> {
    let mut out = vec![(
        "time_since_last_event_s".to_owned(),
        FeatureRef::TimeSinceLastEvent,
    )];
    for (w, def) in windows.iter().enumerate() {
        let n = &def.name;
        out.push((format!("count_{n}"), FeatureRef::Count(w)));
        out.push((format!("amount_sum_{n}"), FeatureRef::AmountSum(w)));
        out.push((format!("amount_mean_{n}"), FeatureRef::AmountMean(w)));
        out.push((format!("amount_max_{n}"), FeatureRef::AmountMax(w)));
        out.push((
            format!("amount_to_mean_ratio_{n}"),
            FeatureRef::AmountToMeanRatio(w),
        ));
        for (d, dim) in distinct.iter().enumerate() {
            out.push((format!("distinct_{dim}_{n}"), FeatureRef::Distinct(w, d)));
        }
    }
    // Canonical JSON sorts keys by code point: sort once here so the writer emits in order.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let unique: BTreeSet<&String> = out.iter().map(|(n, _)| n).collect();
    debug_assert_eq!(unique.len(), out.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_compiles_with_a_stable_digest() {
        let p = FeaturePolicy::builtin().expect("builtin policy");
        assert_eq!(p.policy_rev.policy_id, "ofp.features.v0");
        assert_eq!(p.groups.len(), 6);
        assert_eq!(p.allowed_lateness_us, 120_000_000);
        let inst = p
            .group_for(KeyType::Instrument)
            .expect("instrument group")
            .1;
        assert_eq!(inst.windows.len(), 4);
        assert_eq!(inst.windows[inst.longest].name, "30d");
        // 1 + 4 windows × (5 + 3 distinct)
        assert_eq!(inst.features.len(), 33);
        // Comments and key order do not change the digest; a value does.
        let reformatted = format!("# another comment\n{BUILTIN}");
        let again = FeaturePolicy::from_yaml("x", &reformatted).expect("same policy");
        assert_eq!(again.policy_rev, p.policy_rev);
        let changed = BUILTIN.replace("allowed_lateness: 2m", "allowed_lateness: 3m");
        let other = FeaturePolicy::from_yaml("x", &changed).expect("changed policy");
        assert_ne!(other.policy_rev.content_digest, p.policy_rev.content_digest);
    }

    #[test]
    fn bad_policies_name_the_problem() {
        let cases = [
            ("windows: [", "not YAML"),
            (
                &BUILTIN.replace("duration: 24h, bucket: 1h", "duration: 24h, bucket: 7h"),
                "not a whole number",
            ),
            (
                &BUILTIN.replace("key_type: ip", "key_type: phone"),
                "unknown key_type `phone`",
            ),
            (
                &BUILTIN.replace("key_type: ip", "key_type: device"),
                "second group",
            ),
            (
                &BUILTIN.replace("distinct: [merchant, device]", "distinct: [ip]"),
                "own key type",
            ),
            (
                &BUILTIN.replace("revision: r2", "revision: r2\nextra: 1"),
                "unknown field",
            ),
            (
                &BUILTIN.replace(
                    "{name: 1h, duration: 1h, bucket: 5m}",
                    "{name: 1h, duration: 1h, bucket: 1s}",
                ),
                "at most 1000",
            ),
            (
                &BUILTIN.replace("allowed_lateness: 2m", "allowed_lateness: soon"),
                "allowed_lateness",
            ),
        ];
        for (text, want) in cases {
            let e = FeaturePolicy::from_yaml("test.yaml", text).expect_err(want);
            assert!(e.to_string().contains(want), "{e} should mention {want}");
        }
    }
}
