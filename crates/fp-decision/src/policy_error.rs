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

impl PolicyError {
    /// A refusal of `file` for `detail`.
    pub(crate) fn new(file: &str, detail: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            detail: detail.into(),
        }
    }
}

/// Read a policy text strictly into its file shape, keeping the parsed tree: the tree's
/// canonical JSON is what the `policy_rev` content digest covers (comments and formatting
/// never change it).
pub(crate) fn read_policy<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<(T, serde_json::Value), PolicyError> {
    let tree: serde_json::Value = serde_saphyr::from_str(text)
        .map_err(|e| PolicyError::new(file, format!("not YAML: {e}")))?;
    let parsed =
        serde_json::from_value(tree.clone()).map_err(|e| PolicyError::new(file, e.to_string()))?;
    Ok((parsed, tree))
}
