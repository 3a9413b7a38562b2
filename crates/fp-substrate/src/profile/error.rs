//! Profile errors: each names the key (dotted path) or variable a user has to fix.

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No profile of that name or path.
    #[error("profile `{name}` not found (looked for {looked_in}); known profiles: {known}")]
    NotFound {
        /// What was asked for.
        name: String,
        /// Where it was looked for.
        looked_in: String,
        /// Names that exist.
        known: String,
    },
    /// The file could not be read.
    #[error("cannot read profile {path}: {reason}")]
    Read {
        /// File path.
        path: String,
        /// OS error.
        reason: String,
    },
    /// Not YAML.
    #[error("profile {source_name} is not valid YAML: {reason}")]
    Yaml {
        /// File path or profile name.
        source_name: String,
        /// Parser message (with line/column).
        reason: String,
    },
    /// An environment variable the profile needs is not set.
    #[error(
        "environment variable `{var}` is not set (needed by `{key}`); export it or give a default with ${{{var}:-value}}"
    )]
    MissingVariable {
        /// Variable name.
        var: String,
        /// Profile key that references it.
        key: String,
    },
    /// Several variables are missing (each named once, with the first key that needs it).
    #[error("environment variables not set: {}; export them or give defaults with ${{VAR:-value}}", .0.iter().map(|m| format!("`{}` (needed by `{}`)", m.var, m.key)).collect::<Vec<_>>().join(", "))]
    MissingVariables(Vec<MissingVar>),
    /// Malformed `${...}`.
    #[error("bad interpolation in `{key}`: {reason}")]
    BadInterpolation {
        /// Profile key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A `${secret_file:...}` could not be read.
    #[error("cannot read secret file `{path}` for `{key}`: {reason}")]
    SecretFile {
        /// Profile key.
        key: String,
        /// File path.
        path: String,
        /// OS error.
        reason: String,
    },
    /// Unknown key, wrong type, missing field, bad value.
    #[error("invalid profile value at `{key}`: {reason}")]
    Invalid {
        /// Dotted path of the offending key.
        key: String,
        /// What is wrong (serde's message, e.g. "unknown field `x`, expected one of ...").
        reason: String,
    },
    /// A secret field was written into the file instead of coming from the runtime.
    #[error(
        "`{key}` is a secret: write `${{secret:ENV_VAR}}` or `${{secret_file:/path}}`, never the value itself"
    )]
    LiteralSecret {
        /// Profile key.
        key: String,
    },
    /// A secret reference used where the value would be printed or persisted.
    #[error(
        "`{key}` is not a secret field and must not use `${{secret:..}}`/`${{secret_file:..}}`"
    )]
    SecretInPlainField {
        /// Profile key.
        key: String,
    },
}

/// One missing environment variable and the first profile key that references it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVar {
    /// Variable name.
    pub var: String,
    /// Dotted profile key.
    pub key: String,
}
