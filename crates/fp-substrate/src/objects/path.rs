//! Store-relative object paths: the one rule set every path (and every id put into a path) obeys.
//!
//! The rules are stricter than S3 and `object_store` require, on purpose: a path that is valid
//! here means the same object on a local disk and in a bucket, can be pasted into a shell or a
//! URI unescaped, and can never climb out of its prefix.

/// Longest accepted path, in bytes (S3 allows 1024 bytes per key; the store URL's prefix is
/// added underneath, so leave headroom).
pub const MAX_PATH_LEN: usize = 900;

/// Longest accepted segment, in bytes (most file systems cap a file name at 255).
pub const MAX_SEGMENT_LEN: usize = 255;

/// Why a path or path segment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid object path `{path}`: {reason}")]
pub struct PathError {
    /// The offending path or segment (clipped to 200 characters).
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl PathError {
    fn new(path: &str, reason: &'static str) -> Self {
        Self {
            path: path.chars().take(200).collect(),
            reason,
        }
    }
}

/// Bytes allowed in a segment: ASCII letters and digits and `-_.=+@,`.
///
/// `#` is excluded because the local backend stages writes as `name#N`; `%`, spaces and `\`
/// because they are escaped differently by file systems, URIs and S3 signers; `/` separates
/// segments.
fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=' | b'+' | b'@' | b',')
}

/// Check one segment (a file or directory name, or an id about to become one).
pub fn validate_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::new(segment, "empty segment"));
    }
    if segment == "." || segment == ".." {
        return Err(PathError::new(
            segment,
            "`.` and `..` segments are not allowed",
        ));
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(PathError::new(segment, "segment longer than 255 bytes"));
    }
    if !segment.bytes().all(allowed) {
        return Err(PathError::new(
            segment,
            "segment may only contain ASCII letters, digits and -_.=+@,",
        ));
    }
    Ok(())
}

/// Check a whole store-relative path: `seg/seg/...`, no leading or trailing `/`.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::new(path, "empty path"));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(PathError::new(path, "path longer than 900 bytes"));
    }
    if path.starts_with('/') || path.ends_with('/') {
        return Err(PathError::new(
            path,
            "store-relative paths have no leading or trailing `/`",
        ));
    }
    for segment in path.split('/') {
        validate_segment(segment).map_err(|e| PathError::new(path, e.reason))?;
    }
    Ok(())
}

/// Check a listing prefix: like a path, but the empty prefix (everything) is allowed.
pub fn validate_prefix(prefix: &str) -> Result<(), PathError> {
    if prefix.is_empty() {
        Ok(())
    } else {
        validate_path(prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_platform_shapes() {
        for p in [
            "platform_20260101T000000Z/sr/run_plan/0123abcd.json",
            "registry/bundles/b-1/v1.2.3/bundle_publication.json",
            "x/sr/instance_receipts/output_id=s3_flow/seed=42/instance_receipt.json",
        ] {
            assert!(validate_path(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn refuses_escapes_and_empty_segments() {
        for p in [
            "",
            "/abs",
            "trailing/",
            "a//b",
            "a/../b",
            "..",
            "a/./b",
            "a b",
            "a\\b",
            "a#1",
            "caf\u{e9}",
            "a/\n",
        ] {
            assert!(validate_path(p).is_err(), "{p:?} should be refused");
        }
        assert!(validate_path(&"a".repeat(MAX_PATH_LEN + 1)).is_err());
        assert!(validate_segment(&"a".repeat(MAX_SEGMENT_LEN + 1)).is_err());
    }

    #[test]
    fn empty_prefix_means_everything() {
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("a/").is_err());
    }
}
