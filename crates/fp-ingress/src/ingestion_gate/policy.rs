//! The gate's policy: class map, schema policy and partitioning profiles (contracts §4.2–§4.5),
//! loaded from YAML (`config/policy/ig/`), checked for consistency at start-up, digested into
//! the gate's `policy_rev` (§10.6) and compiled into one lookup per event type.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use fp_rails::envelope::CanonicalEnvelope;
use fp_rails::{Hex64, PolicyRev, ids};
use serde::Deserialize;
use serde_json::Value;

use super::error::IgError;

/// Policy id stamped on receipts (`policy_rev.policy_id`).
pub const IG_POLICY_ID: &str = "ig_policy";

/// File names, in the order the digest lists them (sorted by path).
pub const CLASS_MAP_FILE: &str = "config/policy/ig/class_map_v0.yaml";
/// Schema policy file.
pub const SCHEMA_POLICY_FILE: &str = "config/policy/ig/schema_policy_v0.yaml";
/// Partitioning profiles file.
pub const PARTITIONING_FILE: &str = "config/policy/ig/partitioning_profiles_v0.yaml";

const BUILTIN: [(&str, &str); 3] = [
    (
        CLASS_MAP_FILE,
        include_str!("../../../../config/policy/ig/class_map_v0.yaml"),
    ),
    (
        SCHEMA_POLICY_FILE,
        include_str!("../../../../config/policy/ig/schema_policy_v0.yaml"),
    ),
    (
        PARTITIONING_FILE,
        include_str!("../../../../config/policy/ig/partitioning_profiles_v0.yaml"),
    ),
];

/// Classes the reference checks at boot: platform-produced, schema version `v1`, no `run_id`.
const RTDL_TYPES: [(&str, &str); 3] = [
    ("decision_response", "rtdl_decision"),
    ("action_intent", "rtdl_action_intent"),
    ("action_outcome", "rtdl_action_outcome"),
];

/// Envelope pins a class may require.
const KNOWN_PINS: [&str; 7] = [
    "platform_run_id",
    "scenario_run_id",
    "manifest_fingerprint",
    "parameter_hash",
    "seed",
    "scenario_id",
    "run_id",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassMapFile {
    #[allow(dead_code)]
    version: String,
    default_class: String,
    classes: BTreeMap<String, ClassSpec>,
    event_types: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassSpec {
    required_pins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaPolicyFile {
    #[allow(dead_code)]
    version: String,
    default_action: String,
    policies: BTreeMap<String, SchemaEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaEntry {
    schema_version_required: bool,
    #[serde(default)]
    allowed_schema_versions: Option<Vec<String>>,
    payload_schema: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitioningFile {
    #[allow(dead_code)]
    version: String,
    hash_algo: String,
    default_profile: String,
    class_profiles: BTreeMap<String, String>,
    profiles: BTreeMap<String, ProfileSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileSpec {
    stream: String,
    key_precedence: Vec<String>,
}

/// Where a partition-key candidate is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A top-level envelope field.
    Envelope(String),
    /// A path inside the payload (`payload.a.b` → `["a", "b"]`).
    Payload(Vec<String>),
}

impl KeySource {
    fn parse(text: &str) -> Self {
        match text.strip_prefix("payload.") {
            Some(rest) => Self::Payload(rest.split('.').map(str::to_owned).collect()),
            None => Self::Envelope(text.to_owned()),
        }
    }
}

/// A partitioning profile, compiled.
#[derive(Debug, Clone)]
pub struct PartitionProfile {
    /// `ig.partitioning.v0.*`.
    pub profile_id: Arc<str>,
    /// Target topic.
    pub stream: Arc<str>,
    /// First non-empty wins.
    pub key_precedence: Vec<KeySource>,
}

impl PartitionProfile {
    /// `sha256(str(first non-empty candidate))`, or `None` when every candidate is empty.
    pub fn derive_key(&self, env: &CanonicalEnvelope) -> Option<Hex64> {
        for source in &self.key_precedence {
            let value = match source {
                KeySource::Envelope(name) => envelope_field(env, name),
                KeySource::Payload(path) => payload_path(env, path),
            };
            match value {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) if s.is_empty() => continue,
                Some(v) => return Some(ids::partition_key(&v)),
            }
        }
        None
    }
}

fn envelope_field(env: &CanonicalEnvelope, name: &str) -> Option<Value> {
    let text = |s: &str| Some(Value::String(s.to_owned()));
    match name {
        "event_id" => text(&env.event_id),
        "event_type" => text(&env.event_type),
        "manifest_fingerprint" => text(env.manifest_fingerprint.as_str()),
        "parameter_hash" => env.parameter_hash.as_ref().and_then(|v| text(v.as_str())),
        "run_id" => env.run_id.as_ref().and_then(|v| text(v.as_str())),
        "platform_run_id" => env.platform_run_id.as_ref().and_then(|v| text(v.as_str())),
        "scenario_run_id" => env.scenario_run_id.as_ref().and_then(|v| text(v.as_str())),
        "seed" => env.seed.map(Value::from),
        "scenario_id" => env
            .scenario_id
            .as_ref()
            .map(|v| Value::String(v.to_string())),
        "producer" => env.producer.as_deref().and_then(text),
        "parent_event_id" => env.parent_event_id.as_deref().and_then(text),
        _ => None,
    }
}

fn payload_path(env: &CanonicalEnvelope, path: &[String]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    let mut at = env.payload.as_ref()?.get(first)?;
    for step in rest {
        at = at.as_object()?.get(step)?;
    }
    Some(at.clone())
}

/// Everything the gate decides about one event type, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct TypeRule {
    /// Derived class.
    pub event_class: Arc<str>,
    /// Envelope pins the class requires.
    pub required_pins: Arc<[String]>,
    /// Schema policy entry (`None`: no entry → `SCHEMA_POLICY_MISSING`).
    pub schema: Option<SchemaRule>,
    /// Partitioning profile of the class.
    pub profile: Arc<PartitionProfile>,
}

/// A schema policy entry.
#[derive(Debug, Clone)]
pub struct SchemaRule {
    /// `schema_version` must be present.
    pub version_required: bool,
    /// Allowed versions (`None`: any).
    pub allowed_versions: Option<Vec<String>>,
    /// `engine:…`, `contract:…` or `ig_audit:…`.
    pub payload_schema: String,
}

/// The loaded, checked policy.
#[derive(Debug, Clone)]
pub struct IgPolicy {
    rules: HashMap<String, TypeRule>,
    default_rule: TypeRule,
    policy_rev: PolicyRev,
}

impl IgPolicy {
    /// The policy shipped with this build (`config/policy/ig/`), stamped with `revision`.
    pub fn builtin(revision: &str) -> Result<Self, IgError> {
        Self::from_texts(
            &BUILTIN.map(|(p, t)| (p.to_owned(), t.to_owned())),
            revision,
        )
    }

    /// Load the three files from a directory (an operator's copy of `config/policy/ig/`).
    pub fn load_dir(dir: &Path, revision: &str) -> Result<Self, IgError> {
        let mut files = Vec::new();
        for (path, _) in BUILTIN {
            let name = path.rsplit('/').next().unwrap_or(path);
            let on_disk = dir.join(name);
            let text = std::fs::read_to_string(&on_disk).map_err(|e| IgError::Policy {
                file: on_disk.display().to_string(),
                detail: format!("cannot read: {e}"),
            })?;
            files.push((path.to_owned(), text));
        }
        Self::from_texts(&files, revision)
    }

    /// Parse, check and compile; `files` are `(path, yaml text)` for the class map, schema
    /// policy and partitioning profiles, in that order.
    pub fn from_texts(files: &[(String, String)], revision: &str) -> Result<Self, IgError> {
        let [class_map, schema_policy, partitioning] = files else {
            return Err(IgError::Policy {
                file: "(policy)".into(),
                detail: "expected three files: class map, schema policy, partitioning".into(),
            });
        };
        let mut digest_input = Vec::new();
        let cm: ClassMapFile = parse(&class_map.0, &class_map.1, &mut digest_input)?;
        let sp: SchemaPolicyFile = parse(&schema_policy.0, &schema_policy.1, &mut digest_input)?;
        let pp: PartitioningFile = parse(&partitioning.0, &partitioning.1, &mut digest_input)?;
        let digest = ids::ig_policy_digest(&digest_input);
        let policy_rev = PolicyRev {
            policy_id: IG_POLICY_ID.to_owned(),
            revision: revision.to_owned(),
            content_digest: Some(digest),
        };
        compile(
            cm,
            sp,
            pp,
            policy_rev,
            [&class_map.0, &schema_policy.0, &partitioning.0],
        )
    }

    /// The rule for an event type (unmapped types get the default class, which has no schema
    /// entry, so they are quarantined as `SCHEMA_POLICY_MISSING`).
    pub fn rule(&self, event_type: &str) -> &TypeRule {
        self.rules.get(event_type).unwrap_or(&self.default_rule)
    }

    /// Every mapped event type with its rule, sorted by type.
    pub fn rules(&self) -> BTreeMap<&str, &TypeRule> {
        self.rules.iter().map(|(k, v)| (k.as_str(), v)).collect()
    }

    /// `{policy_id: ig_policy, revision, content_digest}`.
    pub fn policy_rev(&self) -> &PolicyRev {
        &self.policy_rev
    }

    /// The receipts' `run_config_digest` (the policy's content digest).
    pub fn run_config_digest(&self) -> Hex64 {
        self.policy_rev
            .content_digest
            .clone()
            .unwrap_or_else(|| Hex64::digest(b""))
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    path: &str,
    text: &str,
    digest_input: &mut Vec<(String, Value)>,
) -> Result<T, IgError> {
    let err = |detail: String| IgError::Policy {
        file: path.to_owned(),
        detail,
    };
    let tree: Value = serde_saphyr::from_str(text).map_err(|e| err(format!("not YAML: {e}")))?;
    let typed: T = serde_json::from_value(tree.clone()).map_err(|e| err(e.to_string()))?;
    digest_input.push((path.to_owned(), tree));
    Ok(typed)
}

fn compile(
    cm: ClassMapFile,
    sp: SchemaPolicyFile,
    pp: PartitioningFile,
    policy_rev: PolicyRev,
    [cm_file, sp_file, pp_file]: [&String; 3],
) -> Result<IgPolicy, IgError> {
    let bad = |file: &str, detail: String| IgError::Policy {
        file: file.to_owned(),
        detail,
    };
    if pp.hash_algo != "sha256" {
        return Err(bad(
            pp_file,
            format!(
                "hash_algo `{}` is not supported (UNSUPPORTED_HASH_ALGO); use sha256",
                pp.hash_algo
            ),
        ));
    }
    if sp.default_action != "quarantine" {
        return Err(bad(
            sp_file,
            format!(
                "default_action `{}` is not supported: the gate fails closed (quarantine)",
                sp.default_action
            ),
        ));
    }
    for (class, spec) in &cm.classes {
        for pin in &spec.required_pins {
            if !KNOWN_PINS.contains(&pin.as_str()) {
                return Err(bad(
                    cm_file,
                    format!(
                        "class `{class}` requires unknown pin `{pin}` (known: {})",
                        KNOWN_PINS.join(", ")
                    ),
                ));
            }
        }
    }
    let mut profiles = HashMap::new();
    for (id, spec) in &pp.profiles {
        if spec.key_precedence.is_empty() {
            return Err(bad(
                pp_file,
                format!("profile `{id}` has no key_precedence"),
            ));
        }
        profiles.insert(
            id.clone(),
            Arc::new(PartitionProfile {
                profile_id: Arc::from(id.as_str()),
                stream: Arc::from(spec.stream.as_str()),
                key_precedence: spec
                    .key_precedence
                    .iter()
                    .map(|k| KeySource::parse(k))
                    .collect(),
            }),
        );
    }
    let profile_of = |class: &str| -> Result<Arc<PartitionProfile>, IgError> {
        let id = pp.class_profiles.get(class).unwrap_or(&pp.default_profile);
        profiles.get(id).cloned().ok_or_else(|| {
            bad(
                pp_file,
                format!("class `{class}` maps to profile `{id}`, which is not defined"),
            )
        })
    };
    let class_rule = |class: &str| -> Result<(Arc<[String]>, Arc<PartitionProfile>), IgError> {
        let spec = cm.classes.get(class).ok_or_else(|| {
            bad(
                cm_file,
                format!("class `{class}` is used but has no entry under `classes`"),
            )
        })?;
        Ok((Arc::from(spec.required_pins.clone()), profile_of(class)?))
    };
    let schema_rule = |event_type: &str| {
        sp.policies.get(event_type).map(|e| SchemaRule {
            version_required: e.schema_version_required,
            allowed_versions: e.allowed_schema_versions.clone(),
            payload_schema: e.payload_schema.clone(),
        })
    };
    let mut rules = HashMap::new();
    for (event_type, class) in &cm.event_types {
        let (required_pins, profile) = class_rule(class)?;
        rules.insert(
            event_type.clone(),
            TypeRule {
                event_class: Arc::from(class.as_str()),
                required_pins,
                schema: schema_rule(event_type),
                profile,
            },
        );
    }
    // Schema entries for types the class map does not name still get the default class.
    let (default_pins, default_profile) = class_rule(&cm.default_class)?;
    for event_type in sp.policies.keys() {
        if !rules.contains_key(event_type) {
            rules.insert(
                event_type.clone(),
                TypeRule {
                    event_class: Arc::from(cm.default_class.as_str()),
                    required_pins: default_pins.clone(),
                    schema: schema_rule(event_type),
                    profile: default_profile.clone(),
                },
            );
        }
    }
    // The reference's boot check: the RTDL types are platform-produced, so they must not need
    // the engine's run_id, must carry schema version v1, and must map to their classes.
    for (event_type, class) in RTDL_TYPES {
        let rule = rules.get(event_type).ok_or_else(|| {
            bad(
                cm_file,
                format!("RTDL event type `{event_type}` is not mapped"),
            )
        })?;
        if &*rule.event_class != class {
            return Err(bad(
                cm_file,
                format!(
                    "`{event_type}` must map to class `{class}`, not `{}`",
                    rule.event_class
                ),
            ));
        }
        if rule.required_pins.iter().any(|p| p == "run_id") {
            return Err(bad(
                cm_file,
                format!("class `{class}` must not require `run_id` (DF/AL do not carry it)"),
            ));
        }
        let ok = rule.schema.as_ref().is_some_and(|s| {
            s.version_required
                && s.allowed_versions
                    .as_ref()
                    .is_some_and(|v| v.iter().any(|x| x == "v1"))
        });
        if !ok {
            return Err(bad(
                sp_file,
                format!("`{event_type}` must require schema_version and allow `v1`"),
            ));
        }
    }
    let default_rule = TypeRule {
        event_class: Arc::from(cm.default_class.as_str()),
        required_pins: default_pins,
        schema: None,
        profile: default_profile,
    };
    Ok(IgPolicy {
        rules,
        default_rule,
        policy_rev,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn files() -> Vec<(String, String)> {
        BUILTIN
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn builtin_policy_maps_every_streamed_output_and_rtdl_type() {
        let p = IgPolicy::builtin("platform-v0").unwrap();
        let r = p.rule("s3_event_stream_with_fraud_6B");
        assert_eq!(&*r.event_class, "traffic_fraud");
        assert_eq!(&*r.profile.stream, "fp.bus.traffic.fraud.v1");
        assert!(r.required_pins.iter().any(|x| x == "run_id"));
        let d = p.rule("decision_response");
        assert_eq!(&*d.event_class, "rtdl_decision");
        assert!(!d.required_pins.iter().any(|x| x == "run_id"));
        let unknown = p.rule("no_such_type");
        assert_eq!(&*unknown.event_class, "traffic");
        assert!(unknown.schema.is_none());
        assert_eq!(p.policy_rev().policy_id, "ig_policy");
    }

    #[test]
    fn digest_ignores_formatting_and_changes_with_content() {
        let a = IgPolicy::from_texts(&files(), "r").unwrap();
        let mut f = files();
        f[0].1 = format!("# a comment\n{}", f[0].1);
        let b = IgPolicy::from_texts(&f, "r").unwrap();
        assert_eq!(a.run_config_digest(), b.run_config_digest());
        f[0].1 = f[0].1.replace("  ig.pull.run: audit\n", "");
        let c = IgPolicy::from_texts(&f, "r").unwrap();
        assert_ne!(a.run_config_digest(), c.run_config_digest());
    }

    #[test]
    fn rtdl_class_requiring_run_id_refuses_to_start() {
        let mut f = files();
        f[0].1 = f[0].1.replace(
            "rtdl_decision: &platform_pins\n    required_pins: [platform_run_id,",
            "rtdl_decision: &platform_pins\n    required_pins: [run_id, platform_run_id,",
        );
        let err = IgPolicy::from_texts(&f, "r").unwrap_err().to_string();
        assert!(err.contains("must not require `run_id`"), "{err}");
    }

    #[test]
    fn unknown_keys_and_hash_algos_are_named() {
        let mut f = files();
        f[2].1 = f[2].1.replace("hash_algo: sha256", "hash_algo: md5");
        let err = IgPolicy::from_texts(&f, "r").unwrap_err().to_string();
        assert!(err.contains("UNSUPPORTED_HASH_ALGO"), "{err}");
        let mut f = files();
        f[1].1 = f[1].1.replace(
            "default_action: quarantine",
            "default_action: quarantine\nextra: 1",
        );
        let err = IgPolicy::from_texts(&f, "r").unwrap_err().to_string();
        assert!(err.contains("extra"), "{err}");
    }

    #[test]
    fn partition_key_takes_first_non_empty_candidate() {
        let p = IgPolicy::builtin("r").unwrap();
        let profile = &p.rule("arrival_events_5B").profile;
        let mut env: CanonicalEnvelope = serde_json::from_value(serde_json::json!({
            "event_id": "e1", "event_type": "arrival_events_5B",
            "ts_utc": "2026-01-01T00:00:00.000000Z",
            "manifest_fingerprint": "0".repeat(64),
            "payload": {"merchant_id": "", "arrival_seq": 7}
        }))
        .unwrap();
        assert_eq!(
            profile.derive_key(&env),
            Some(ids::partition_key(&Value::from(7)))
        );
        env.payload = None;
        assert_eq!(
            profile.derive_key(&env),
            Some(ids::partition_key(&Value::from("e1")))
        );
    }
}
