//! Environment profiles: one YAML file per environment, `policy` separated from `wiring`.
//!
//! Loading is: YAML → tree → `${..}` interpolation (secrets marked) → typed model (unknown
//! keys rejected, errors name the key) → semantic checks → `policy_rev` whose content digest
//! is the canonical JSON of the *resolved* policy, so formatting and comments never change it
//! while any outcome-affecting value does.

mod error;
mod interpolate;
mod model;
mod secret;

use std::path::{Path, PathBuf};

use fp_rails::PolicyRev;
use serde_json::Value;

pub use error::{MissingVar, ProfileError};
pub use interpolate::{EnvSource, ProcessEnv};
pub use model::{
    AuthMode, BusWiring, IngestionGateAuth, IngestionGateWiring, ModeOutputs, ObjectStoreWiring,
    OutputPolicy, Policy, Profile, Speedup, SpeedupName, StateWiring, TrafficMode, Wiring,
};
pub use secret::{Dsn, REDACTED, Secret, redact_url_password};

/// The `policy_id` stamped on platform-level policy revisions.
pub const PLATFORM_POLICY_ID: &str = "fp.platform.policy";

/// Profiles shipped with the binary, so `fp` works outside a checkout.
const BUILTIN: &[(&str, &str)] = &[
    (
        "local",
        include_str!("../../../../config/profiles/local.yaml"),
    ),
    (
        "local_parity",
        include_str!("../../../../config/profiles/local_parity.yaml"),
    ),
    ("dev", include_str!("../../../../config/profiles/dev.yaml")),
    (
        "prod",
        include_str!("../../../../config/profiles/prod.yaml"),
    ),
];

/// Names of the profiles built into the binary.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

/// A loaded, validated profile and its policy revision.
#[derive(Debug, Clone)]
pub struct ResolvedProfile {
    /// The typed profile.
    pub profile: Profile,
    /// `{policy_id, revision, content_digest}` of the resolved policy.
    pub policy_rev: PolicyRev,
    /// Where it was loaded from (a path, or `builtin:<name>`).
    pub source: String,
}

impl ResolvedProfile {
    /// Environment name for provenance.
    pub fn environment(&self) -> &str {
        self.profile
            .environment
            .as_deref()
            .unwrap_or(&self.profile.profile_id)
    }

    /// The profile as shown to people, in declaration order: secrets `***`, DSN passwords
    /// redacted, with the computed `policy_rev`.
    pub fn shown(&self) -> ShownProfile<'_> {
        ShownProfile {
            profile_id: &self.profile.profile_id,
            environment: self.environment(),
            source: &self.source,
            policy_rev: &self.policy_rev,
            policy: &self.profile.policy,
            wiring: &self.profile.wiring,
        }
    }

    /// [`Self::shown`] as a JSON value.
    pub fn to_display_value(&self) -> Value {
        serde_json::to_value(self.shown()).unwrap_or(Value::Null)
    }

    /// [`Self::shown`] as YAML.
    pub fn to_display_yaml(&self) -> String {
        serde_saphyr::to_string(&self.shown())
            .unwrap_or_else(|e| format!("# cannot render profile as YAML: {e}\n"))
    }
}

/// What `fp profile show` prints. Secret fields serialise as `***` by their type.
#[derive(Debug, serde::Serialize)]
pub struct ShownProfile<'a> {
    /// Profile id.
    pub profile_id: &'a str,
    /// Environment name.
    pub environment: &'a str,
    /// Where the profile was loaded from.
    pub source: &'a str,
    /// Policy revision with content digest.
    pub policy_rev: &'a PolicyRev,
    /// The resolved policy.
    pub policy: &'a Policy,
    /// The resolved wiring.
    pub wiring: &'a Wiring,
}

/// Load a profile by name (`local`, `local_parity`, ...) or by path to a YAML file.
///
/// Names resolve to `<config_dir>/profiles/<name>.yaml`, where `config_dir` is the argument,
/// else `$FP_CONFIG_DIR`, else the nearest `config/` directory above the working directory;
/// when none has the file, the copy built into the binary is used.
pub fn load(
    name_or_path: &str,
    config_dir: Option<&Path>,
    env: &dyn EnvSource,
) -> Result<ResolvedProfile, ProfileError> {
    let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".yaml");
    if looks_like_path {
        return load_file(Path::new(name_or_path), env);
    }
    let mut looked = Vec::new();
    let dir = config_dir
        .map(Path::to_path_buf)
        .or_else(|| env.var("FP_CONFIG_DIR").map(PathBuf::from))
        .or_else(find_config_dir);
    if let Some(dir) = dir {
        let file = dir.join("profiles").join(format!("{name_or_path}.yaml"));
        if file.is_file() {
            return load_file(&file, env);
        }
        looked.push(file.display().to_string());
    }
    if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        return parse(text, &format!("builtin:{name_or_path}"), env);
    }
    looked.push("the profiles built into fp".to_owned());
    Err(ProfileError::NotFound {
        name: name_or_path.to_owned(),
        looked_in: looked.join(", "),
        known: BUILTIN
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

fn find_config_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|d| d.join("config"))
        .find(|d| d.join("profiles").is_dir())
}

fn load_file(path: &Path, env: &dyn EnvSource) -> Result<ResolvedProfile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse(&text, &path.display().to_string(), env)
}

/// Parse and validate profile text.
pub fn parse(
    text: &str,
    source: &str,
    env: &dyn EnvSource,
) -> Result<ResolvedProfile, ProfileError> {
    let mut tree: Value = serde_saphyr::from_str(text).map_err(|e| ProfileError::Yaml {
        source_name: source.to_owned(),
        reason: e.to_string(),
    })?;
    interpolate::interpolate_tree(&mut tree, env)?;
    let profile: Profile = serde_path_to_error::deserialize(tree).map_err(|e| {
        let key = e.path().to_string();
        let reason = e.inner().to_string();
        if reason.contains(secret::LITERAL_SECRET) {
            ProfileError::LiteralSecret { key }
        } else {
            ProfileError::Invalid { key, reason }
        }
    })?;
    reject_secrets_in_plain_fields(&profile)?;
    validate(&profile)?;
    let policy_value =
        serde_json::to_value(&profile.policy).map_err(|e| ProfileError::Invalid {
            key: "policy".to_owned(),
            reason: e.to_string(),
        })?;
    let policy_rev = PolicyRev::of_content(
        PLATFORM_POLICY_ID,
        profile.policy.revision.clone(),
        &policy_value,
    );
    Ok(ResolvedProfile {
        profile,
        policy_rev,
        source: source.to_owned(),
    })
}

/// A `${secret:..}` in a plain field would be printed and persisted: refuse it. Secret fields
/// serialise as `***`, so any marker left in the serialised tree sits in a plain field.
fn reject_secrets_in_plain_fields(profile: &Profile) -> Result<(), ProfileError> {
    fn walk(v: &Value, path: &mut Vec<String>) -> Option<String> {
        match v {
            Value::String(s) if s.starts_with(interpolate::SECRET_MARK) => Some(path.join(".")),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                path.push(i.to_string());
                let found = walk(item, path);
                path.pop();
                found
            }),
            Value::Object(map) => map.iter().find_map(|(k, item)| {
                path.push(k.clone());
                let found = walk(item, path);
                path.pop();
                found
            }),
            _ => None,
        }
    }
    let tree = serde_json::to_value(profile).map_err(|e| ProfileError::Invalid {
        key: String::new(),
        reason: e.to_string(),
    })?;
    match walk(&tree, &mut Vec::new()) {
        Some(key) => Err(ProfileError::SecretInPlainField { key }),
        None => Ok(()),
    }
}

fn invalid(key: &str, reason: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// Checks beyond types: values that parse but cannot work.
fn validate(p: &Profile) -> Result<(), ProfileError> {
    if p.profile_id.trim().is_empty() {
        return Err(invalid("profile_id", "must not be empty"));
    }
    if p.policy.revision.trim().is_empty() {
        return Err(invalid("policy.revision", "must not be empty"));
    }
    if let Speedup::Factor(f) = p.policy.stream_speedup
        && !(f.is_finite() && f > 0.0)
    {
        return Err(invalid(
            "policy.stream_speedup",
            format!("must be a positive number or `max` (got {f})"),
        ));
    }
    for (mode, outputs) in [
        ("fraud", &p.policy.outputs.fraud),
        ("baseline", &p.policy.outputs.baseline),
    ] {
        if outputs.traffic.trim().is_empty() {
            return Err(invalid(
                &format!("policy.outputs.{mode}.traffic"),
                "must name one traffic output",
            ));
        }
        if outputs.context.contains(&outputs.traffic) {
            return Err(invalid(
                &format!("policy.outputs.{mode}.context"),
                "must not repeat the traffic output",
            ));
        }
    }
    let w = &p.wiring;
    for (key, store) in [
        ("wiring.object_store", &w.object_store),
        ("wiring.oracle_store", &w.oracle_store),
    ] {
        if store.url.trim().is_empty() {
            return Err(invalid(&format!("{key}.url"), "must not be empty"));
        }
        if store.url.contains("://")
            && !(store.url.starts_with("s3://") || store.url.starts_with("file://"))
        {
            return Err(invalid(
                &format!("{key}.url"),
                format!(
                    "`{}`: only s3://, file:// or a directory path are supported",
                    store.url
                ),
            ));
        }
    }
    let state = w.state.url.expose();
    if !(state.starts_with("sqlite:")
        || state.starts_with("postgres://")
        || state.starts_with("postgresql://"))
    {
        return Err(invalid(
            "wiring.state.url",
            format!(
                "`{}`: expected sqlite:PATH or postgresql://...",
                w.state.url.redacted()
            ),
        ));
    }
    for (key, bus) in [
        ("wiring.event_bus", &w.event_bus),
        ("wiring.control_bus", &w.control_bus),
    ] {
        let (parts, field) = match bus {
            BusWiring::Embedded { partitions, .. } => (*partitions, "partitions"),
            BusWiring::Kinesis { shards, .. } => (*shards, "shards"),
        };
        if parts == 0 {
            return Err(invalid(&format!("{key}.{field}"), "must be at least 1"));
        }
    }
    let ig = &w.ingestion_gate;
    if ig.bind.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid(
            "wiring.ingestion_gate.bind",
            format!("`{}` is not an address like 127.0.0.1:8081", ig.bind),
        ));
    }
    if ig.auth.mode == AuthMode::ApiKey
        && ig
            .auth
            .api_keys
            .as_ref()
            .is_none_or(|k| k.expose().split(',').all(|s| s.trim().is_empty()))
    {
        return Err(invalid(
            "wiring.ingestion_gate.auth.api_keys",
            "auth mode api_key needs at least one key (`${secret:IG_API_KEYS}`)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
