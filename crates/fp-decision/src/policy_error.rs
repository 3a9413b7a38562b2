//! Why a policy file (features, context store) was refused.

/// A policy file that could not be used: names the file and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy `{file}`: {detail}")]
pub struct PolicyError {
    /// Where the text came from.
    pub file: String,
    /// What is wrong, naming the field.
    pub detail: String,
}
