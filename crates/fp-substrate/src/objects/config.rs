//! Where the object store is: the wiring a profile supplies, and its parsed root.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::ObjectError;
use super::path::validate_path;

/// Object store wiring (a profile's `object_store` block).
///
/// `url` is `/abs/dir`, `file:///abs/dir` or `s3://bucket[/prefix]`; the S3 fields are ignored
/// for local directories. Credentials are runtime-only: when absent for S3 the standard AWS
/// environment variables are used, and the secret is never serialised or debug-printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStoreConfig {
    /// Store root.
    pub url: String,
    /// S3 endpoint override (`http://127.0.0.1:5000` for moto, a MinIO URL, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3 region; falls back to `AWS_REGION`, `AWS_DEFAULT_REGION`, then `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which moto and MinIO need.
    #[serde(default = "default_true")]
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint (local emulators only).
    #[serde(default)]
    pub allow_http: bool,
    /// S3 access key; falls back to `AWS_ACCESS_KEY_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// S3 secret; falls back to `AWS_SECRET_ACCESS_KEY`. Never serialised.
    #[serde(default, skip_serializing)]
    pub secret_access_key: Option<String>,
}

fn default_true() -> bool {
    true
}

impl fmt::Debug for ObjectStoreConfig {
    // Hand-written so a logged config never shows the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ObjectStoreConfig {
    /// A store in a local directory (created on open if missing).
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Self::with_url(dir.into().to_string_lossy().into_owned())
    }

    /// A store at `url` with every other field at its default.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            endpoint: None,
            region: None,
            path_style: true,
            allow_http: false,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

/// The parsed store root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRoot {
    /// A local directory (absolute).
    Local {
        /// The directory.
        dir: PathBuf,
    },
    /// An S3 bucket, optionally with a key prefix every path is placed under.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

impl StoreRoot {
    /// Parse a store URL.
    pub fn parse(url: &str) -> Result<Self, ObjectError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !bucket_ok {
                return Err(ObjectError::config(format!(
                    "`{url}`: `{bucket}` is not a valid S3 bucket name"
                )));
            }
            let prefix = prefix.trim_end_matches('/');
            if !prefix.is_empty() {
                validate_path(prefix).map_err(|e| {
                    ObjectError::config(format!("`{url}`: bad key prefix: {}", e.reason))
                })?;
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        if url.starts_with("file:") {
            let parsed =
                url::Url::parse(url).map_err(|e| ObjectError::config(format!("`{url}`: {e}")))?;
            let dir = parsed.to_file_path().map_err(|()| {
                ObjectError::config(format!("`{url}` is not an absolute local file URL"))
            })?;
            return Ok(Self::Local { dir });
        }
        if url.contains("://") {
            return Err(ObjectError::config(format!(
                "`{url}`: unsupported scheme (expected a directory, file:// or s3://)"
            )));
        }
        if url.is_empty() {
            return Err(ObjectError::config("empty object store url"));
        }
        // A bare path; relative ones resolve against the working directory so the root is
        // fixed for the life of the process.
        let dir =
            std::path::absolute(url).map_err(|e| ObjectError::config(format!("`{url}`: {e}")))?;
        Ok(Self::Local { dir })
    }

    /// Whether the root itself already names the platform, which decides the run-prefix layout
    /// (see [`super::prefixes::PlatformRoot::for_store`]).
    pub fn names_platform(&self) -> bool {
        match self {
            Self::S3 { .. } => true,
            Self::Local { dir } => dir.file_name().is_some_and(|n| n == "fraud-platform"),
        }
    }

    /// Absolute URI of a store-relative path (what goes into locators meant for other
    /// processes).
    pub fn uri_of(&self, path: &str) -> String {
        match self {
            Self::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}/{path}"),
            Self::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}/{path}"),
            Self::Local { dir } => {
                let base = dir.to_string_lossy();
                format!("file://{}/{path}", base.trim_end_matches('/'))
            }
        }
    }

    /// The inverse of [`Self::uri_of`]: the store-relative path of an absolute URI under this
    /// root, or `None` if it points elsewhere.
    pub fn relative_of<'a>(&self, uri: &'a str) -> Option<&'a str> {
        let root = self.uri_of("");
        uri.strip_prefix(root.as_str()).filter(|p| !p.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_url_forms() {
        assert_eq!(
            StoreRoot::parse("/tmp/x").ok(),
            Some(StoreRoot::Local {
                dir: "/tmp/x".into()
            })
        );
        assert_eq!(
            StoreRoot::parse("file:///tmp/x").ok(),
            Some(StoreRoot::Local {
                dir: "/tmp/x".into()
            })
        );
        assert_eq!(
            StoreRoot::parse("s3://fraud-platform/a/b/").ok(),
            Some(StoreRoot::S3 {
                bucket: "fraud-platform".into(),
                prefix: "a/b".into()
            })
        );
        assert!(StoreRoot::parse("s3://Bad_Bucket").is_err());
        assert!(StoreRoot::parse("s3://bucket/../x").is_err());
        assert!(StoreRoot::parse("gs://bucket").is_err());
        assert!(StoreRoot::parse("").is_err());
    }

    #[test]
    fn uri_round_trip() {
        let root = StoreRoot::S3 {
            bucket: "b".into(),
            prefix: "p".into(),
        };
        assert_eq!(root.uri_of("x/y.json"), "s3://b/p/x/y.json");
        assert_eq!(root.relative_of("s3://b/p/x/y.json"), Some("x/y.json"));
        assert_eq!(root.relative_of("s3://other/x"), None);
        let local = StoreRoot::Local {
            dir: "/data/fraud-platform".into(),
        };
        assert!(local.names_platform());
        assert_eq!(local.uri_of("a"), "file:///data/fraud-platform/a");
    }

    #[test]
    fn config_is_strict_and_hides_the_secret() {
        let cfg: ObjectStoreConfig = serde_json::from_str(
            r#"{"url":"s3://b","access_key_id":"k","secret_access_key":"s3cr3t"}"#,
        )
        .expect("valid config");
        assert!(cfg.path_style);
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
        assert!(!serde_json::to_string(&cfg).expect("ser").contains("s3cr3t"));
        let bad = serde_json::from_str::<ObjectStoreConfig>(r#"{"url":"/x","bucket":"b"}"#);
        assert!(bad.is_err());
    }
}
