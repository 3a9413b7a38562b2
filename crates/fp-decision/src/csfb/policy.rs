//! The CSFB policy (`config/policy/csfb/policy_v0.yaml`): join-wait budget and retention, both
//! in event time, stamped with a `policy_rev` whose digest is sha256 of the canonical JSON of
//! the parsed file (comments and formatting never change it).

use fp_rails::PolicyRev;
use serde::Deserialize;
use serde_json::Value;

use crate::duration::parse_duration_us;
use crate::policy_error::{PolicyError, read_policy};

/// Path of the built-in policy, relative to the repository root.
pub const CSFB_POLICY_FILE: &str = "config/policy/csfb/policy_v0.yaml";

const BUILTIN: &str = include_str!("../../../../config/policy/csfb/policy_v0.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    policy_id: String,
    revision: String,
    join_wait_budget: String,
    retention: String,
}

/// The compiled CSFB policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsfbPolicy {
    /// `{policy_id, revision, content_digest}`.
    pub policy_rev: PolicyRev,
    /// How far (event time) the feed may move past a traffic event before it proceeds
    /// without its context.
    pub join_wait_budget_us: i64,
    /// How long (event time) join frames and bindings are kept after their latest context.
    pub retention_us: i64,
}

impl CsfbPolicy {
    /// The built-in policy.
    pub fn builtin() -> Result<Self, PolicyError> {
        Self::from_yaml(CSFB_POLICY_FILE, BUILTIN)
    }

    /// Parse a policy text; `file` names it in errors.
    pub fn from_yaml(file: &str, text: &str) -> Result<Self, PolicyError> {
        let err = |detail: String| PolicyError::new(file, detail);
        let (parsed, tree): (PolicyFile, Value) = read_policy(file, text)?;
        let join_wait_budget_us = parse_duration_us(&parsed.join_wait_budget)
            .map_err(|e| err(format!("join_wait_budget: {e}")))?;
        let retention_us =
            parse_duration_us(&parsed.retention).map_err(|e| err(format!("retention: {e}")))?;
        if retention_us <= join_wait_budget_us {
            return Err(err(format!(
                "retention ({}) must be longer than join_wait_budget ({}): a waiting traffic \
                 event would outlive the context it waits for",
                parsed.retention, parsed.join_wait_budget
            )));
        }
        Ok(Self {
            policy_rev: PolicyRev::of_content(&parsed.policy_id, &parsed.revision, &tree),
            join_wait_budget_us,
            retention_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_parses_with_a_stable_digest() {
        let p = CsfbPolicy::builtin().expect("builtin");
        assert_eq!(
            p.policy_rev.policy_id,
            "context_store_flow_binding.policy.v0"
        );
        assert_eq!(p.join_wait_budget_us, 2_000_000);
        assert_eq!(p.retention_us, 2 * 86_400 * 1_000_000);
        let again = CsfbPolicy::from_yaml("x", &format!("# comment\n{BUILTIN}")).expect("again");
        assert_eq!(again.policy_rev, p.policy_rev);
        let other = CsfbPolicy::from_yaml("x", &BUILTIN.replace("retention: 2d", "retention: 3d"))
            .expect("other");
        assert_ne!(other.policy_rev.content_digest, p.policy_rev.content_digest);
    }

    #[test]
    fn bad_policies_name_the_field() {
        let cases = [
            (
                BUILTIN.replace("join_wait_budget: 2s", "join_wait_budget: soon"),
                "join_wait_budget",
            ),
            (
                BUILTIN.replace("retention: 2d", "retention: 1s"),
                "must be longer",
            ),
            (format!("{BUILTIN}\nextra: 1\n"), "extra"),
        ];
        for (text, needle) in cases {
            let e = CsfbPolicy::from_yaml("p.yaml", &text).expect_err(needle);
            let msg = e.to_string();
            assert!(msg.contains("p.yaml") && msg.contains(needle), "{msg}");
        }
    }
}
