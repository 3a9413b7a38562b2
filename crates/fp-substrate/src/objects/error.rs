//! Typed object-store errors: callers branch on the kind, never on message text.

use fp_rails::locator::DigestMismatch;

use super::path::PathError;

/// What went wrong talking to the object store.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Nothing is stored at `path`.
    #[error("object `{path}` not found")]
    NotFound {
        /// Store-relative path.
        path: String,
    },
    /// A write-once object already exists with different bytes (the caller's drift signal:
    /// `PLAN_DRIFT`, `PUBLISH_CONFLICT`, ...).
    #[error("write-once object `{path}` already exists and its existing content differs")]
    WriteOnceConflict {
        /// Store-relative path.
        path: String,
    },
    /// The bytes read are not the bytes the reference promised (read fails closed).
    #[error(transparent)]
    DigestMismatch(#[from] DigestMismatch),
    /// A path or id that would not make a safe store path.
    #[error(transparent)]
    InvalidPath(#[from] PathError),
    /// The store configuration cannot work.
    #[error("invalid object store configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The backend failed (I/O, network, permissions, ...); the source keeps its message.
    #[error("object store operation on `{path}` failed: {source}")]
    Backend {
        /// Store-relative path (or prefix) of the operation.
        path: String,
        /// The backend's error.
        #[source]
        source: Box<object_store::Error>,
    },
}

impl ObjectError {
    /// Map a backend error for `path`, keeping "not found" typed.
    pub(crate) fn backend(path: &str, source: object_store::Error) -> Self {
        match source {
            object_store::Error::NotFound { .. } => Self::NotFound {
                path: path.to_owned(),
            },
            other => Self::Backend {
                path: path.to_owned(),
                source: Box::new(other),
            },
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            reason: reason.into(),
        }
    }
}
