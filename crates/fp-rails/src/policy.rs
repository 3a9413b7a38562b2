//! `policy_rev` and `provenance`: what every outcome-affecting artifact is stamped with.

use serde::{Deserialize, Serialize};

use crate::hexid::Hex64;

/// `{policy_id, revision, content_digest}`: which policy produced an output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRev {
    /// Policy family, e.g. `ig_policy`.
    pub policy_id: String,
    /// Human revision tag, e.g. `local-parity-v0`.
    pub revision: String,
    /// sha256 of the canonical JSON of the resolved policy content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_digest: Option<Hex64>,
}

impl PolicyRev {
    /// Stamp a policy: the digest is computed over the canonical JSON of its resolved content,
    /// so formatting, key order and comments in the source file never change it.
    pub fn of_content(
        policy_id: impl Into<String>,
        revision: impl Into<String>,
        content: &serde_json::Value,
    ) -> Self {
        Self {
            policy_id: policy_id.into(),
            revision: revision.into(),
            content_digest: Some(Hex64::digest(crate::canonical::cj(content))),
        }
    }

    /// The digest as text (`""` when absent).
    pub fn digest_str(&self) -> &str {
        self.content_digest.as_ref().map_or("", Hex64::as_str)
    }
}

/// `{service_release_id, environment, config_revision?, run_config_digest?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Build/release identity of the service that wrote the artifact (1..256).
    pub service_release_id: String,
    /// Environment / profile id (1..64).
    pub environment: String,
    /// Configuration revision (1..128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_revision: Option<String>,
    /// Digest of the run-level configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_config_digest: Option<Hex64>,
}

impl Provenance {
    /// The release id this binary reports: `<COMPONENT>_SERVICE_RELEASE_ID` →
    /// `<COMPONENT>_RELEASE_ID` → `SERVICE_RELEASE_ID` → the crate version (the reference falls
    /// back to `dev-local`; a versioned build is more useful).
    ///
    /// Pure: the caller passes the environment lookup, so this crate does no I/O.
    pub fn release_id(component: &str, env: impl Fn(&str) -> Option<String>) -> String {
        let upper = component.to_ascii_uppercase();
        [
            format!("{upper}_SERVICE_RELEASE_ID"),
            format!("{upper}_RELEASE_ID"),
            "SERVICE_RELEASE_ID".to_owned(),
        ]
        .iter()
        .find_map(|k| env(k).filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("fp-{}", env!("CARGO_PKG_VERSION")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digest_ignores_key_order_but_not_values() {
        let a = PolicyRev::of_content("p", "r1", &json!({"a": 1, "b": [1, 2]}));
        let b = PolicyRev::of_content("p", "r1", &json!({"b": [1, 2], "a": 1}));
        let c = PolicyRev::of_content("p", "r1", &json!({"a": 2, "b": [1, 2]}));
        assert_eq!(a, b);
        assert_ne!(a.content_digest, c.content_digest);
    }

    #[test]
    fn release_id_precedence() {
        let env = |k: &str| match k {
            "IG_RELEASE_ID" => Some("ig-7".to_owned()),
            "SERVICE_RELEASE_ID" => Some("svc".to_owned()),
            _ => None,
        };
        assert_eq!(Provenance::release_id("ig", env), "ig-7");
        assert_eq!(Provenance::release_id("wsp", env), "svc");
        assert!(Provenance::release_id("wsp", |_| None).starts_with("fp-"));
    }
}
