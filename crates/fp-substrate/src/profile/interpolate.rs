//! `${VAR}` interpolation of profile values, done on the parsed YAML tree (never on raw text,
//! so a value can never inject YAML structure).
//!
//! Forms:
//! * `${VAR}`: the variable's value; missing is an error naming the variable and the key;
//! * `${VAR:-default}`: the value, or `default` when unset or empty;
//! * `${secret:VAR}`: a secret from the environment, only allowed in secret fields;
//! * `${secret_file:PATH}`: a secret read from a file at load time (trailing newline trimmed);
//! * `$$`: a literal `$`.
//!
//! Secrets are wrapped in a private marker so the typed layer can tell a secret field that was
//! filled from the runtime environment from one that was written into the file, and so a
//! secret placed in a non-secret field is caught before anything prints it.

use serde_json::Value;

use super::error::{MissingVar, ProfileError};

/// Prefix marking an interpolated secret inside the tree (never printed, never persisted).
pub(crate) const SECRET_MARK: &str = "\u{0}fp-secret\u{0}";

/// Where variables and secret files are read from; injected so tests need no process env.
pub trait EnvSource {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
    /// The contents of a secret file.
    fn read_file(&self, path: &str) -> std::io::Result<String>;
}

/// The real process environment and filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn read_file(&self, path: &str) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Interpolate every string in `value` in place. Missing variables are collected so one run
/// tells the user every variable to export; any other problem stops at once.
pub(crate) fn interpolate_tree(value: &mut Value, env: &dyn EnvSource) -> Result<(), ProfileError> {
    let mut missing: Vec<MissingVar> = Vec::new();
    walk(value, &mut Vec::new(), env, &mut missing)?;
    match missing.len() {
        0 => Ok(()),
        1 => {
            let m = missing.remove(0);
            Err(ProfileError::MissingVariable {
                var: m.var,
                key: m.key,
            })
        }
        _ => Err(ProfileError::MissingVariables(missing)),
    }
}

fn walk(
    value: &mut Value,
    path: &mut Vec<String>,
    env: &dyn EnvSource,
    missing: &mut Vec<MissingVar>,
) -> Result<(), ProfileError> {
    match value {
        Value::String(s) => match interpolate_str(s, &path.join("."), env) {
            Ok(v) => *s = v,
            Err(ProfileError::MissingVariable { var, key }) => {
                if !missing.iter().any(|m| m.var == var) {
                    missing.push(MissingVar { var, key });
                }
            }
            Err(other) => return Err(other),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(item, path, env, missing)?;
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(k.clone());
                walk(item, path, env, missing)?;
                path.pop();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Interpolate one string value found at `key`.
pub(crate) fn interpolate_str(
    raw: &str,
    key: &str,
    env: &dyn EnvSource,
) -> Result<String, ProfileError> {
    if !raw.contains('$') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut secret: Option<String> = None;
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_and_tail) = after.strip_prefix('{') else {
            // A lone `$` is literal text (e.g. inside a regex).
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body_and_tail.find('}') else {
            return Err(ProfileError::BadInterpolation {
                key: key.to_owned(),
                reason: format!("unterminated `${{` in `{raw}`"),
            });
        };
        let body = &body_and_tail[..end];
        rest = &body_and_tail[end + 1..];
        if let Some(var) = body.strip_prefix("secret:") {
            let value = lookup_required(var, key, env)?;
            secret = Some(value);
        } else if let Some(file) = body.strip_prefix("secret_file:") {
            let contents = env.read_file(file).map_err(|e| ProfileError::SecretFile {
                key: key.to_owned(),
                path: file.to_owned(),
                reason: e.to_string(),
            })?;
            secret = Some(contents.trim_end_matches(['\n', '\r']).to_owned());
        } else if let Some((var, default)) = body.split_once(":-") {
            check_name(var, key)?;
            match env.var(var) {
                Some(v) if !v.is_empty() => out.push_str(&v),
                _ => out.push_str(default),
            }
        } else {
            out.push_str(&lookup_required(body, key, env)?);
        }
    }
    out.push_str(rest);
    match secret {
        None => Ok(out),
        // A secret must be the whole value: `prefix-${secret:X}` would print half a secret.
        Some(value) if out.is_empty() => Ok(format!("{SECRET_MARK}{value}")),
        Some(_) => Err(ProfileError::BadInterpolation {
            key: key.to_owned(),
            reason: "a `${secret:..}` or `${secret_file:..}` reference must be the whole value"
                .to_owned(),
        }),
    }
}

fn check_name(var: &str, key: &str) -> Result<(), ProfileError> {
    if is_var_name(var) {
        Ok(())
    } else {
        Err(ProfileError::BadInterpolation {
            key: key.to_owned(),
            reason: format!("`{var}` is not a valid environment variable name"),
        })
    }
}

fn lookup_required(var: &str, key: &str, env: &dyn EnvSource) -> Result<String, ProfileError> {
    check_name(var, key)?;
    match env.var(var) {
        Some(v) => Ok(v),
        None => Err(ProfileError::MissingVariable {
            var: var.to_owned(),
            key: key.to_owned(),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fixed environment for tests.
    pub(crate) struct MapEnv(pub HashMap<String, String>);

    impl MapEnv {
        pub(crate) fn of(pairs: &[(&str, &str)]) -> Self {
            Self(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        }
    }

    impl EnvSource for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
        fn read_file(&self, path: &str) -> std::io::Result<String> {
            self.0
                .get(&format!("file:{path}"))
                .cloned()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
        }
    }

    #[test]
    fn substitutes_defaults_and_escapes() {
        let env = MapEnv::of(&[("HOST", "db"), ("EMPTY", "")]);
        let f = |s: &str| interpolate_str(s, "k", &env);
        assert_eq!(
            f("postgres://${HOST}:5432").expect("ok"),
            "postgres://db:5432"
        );
        assert_eq!(f("${PORT:-5432}").expect("ok"), "5432");
        assert_eq!(f("${EMPTY:-x}").expect("ok"), "x");
        assert_eq!(f("cost $$5 and $x").expect("ok"), "cost $5 and $x");
    }

    #[test]
    fn missing_variable_names_variable_and_key() {
        let env = MapEnv::of(&[]);
        let err = interpolate_str("${FP_PG_DSN}", "wiring.state.url", &env).expect_err("missing");
        let msg = err.to_string();
        assert!(
            msg.contains("FP_PG_DSN") && msg.contains("wiring.state.url"),
            "{msg}"
        );
    }

    #[test]
    fn secrets_are_marked_and_must_be_whole_values() {
        let env = MapEnv::of(&[("KEY", "s3cr3t"), ("file:/run/k", "filekey\n")]);
        let v = interpolate_str("${secret:KEY}", "k", &env).expect("ok");
        assert_eq!(v, format!("{SECRET_MARK}s3cr3t"));
        let v = interpolate_str("${secret_file:/run/k}", "k", &env).expect("ok");
        assert_eq!(v, format!("{SECRET_MARK}filekey"));
        assert!(interpolate_str("x-${secret:KEY}", "k", &env).is_err());
        assert!(interpolate_str("${secret_file:/nope}", "k", &env).is_err());
        assert!(interpolate_str("${unterminated", "k", &env).is_err());
        assert!(interpolate_str("${1BAD}", "k", &env).is_err());
    }
}
