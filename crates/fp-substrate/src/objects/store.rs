//! [`Objects`]: the platform's handle on its object store (local directory or S3).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fp_rails::PlatformRunId;
use fp_rails::digest::ContentDigest;
use fp_rails::locator::{ObjectRef, verify_digest};
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::config::{ObjectStoreConfig, StoreRoot};
use super::error::ObjectError;
use super::path::{validate_path, validate_prefix};
use super::prefixes::{PlatformRoot, RunPrefix};

/// Tries of a write-once put that keeps meeting an in-flight competing write.
const PUT_ONCE_ATTEMPTS: u32 = 5;

/// Result of a write-once put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object did not exist and now holds the bytes.
    Created,
    /// The object already held exactly these bytes (an idempotent retry).
    AlreadyIdentical,
}

/// An open object store. Cheap to clone; clones share the backend client.
///
/// Every path is store-relative (`platform_.../sr/run_plan/x.json`) and checked by
/// [`super::path::validate_path`]; the store URL's directory or key prefix is applied
/// underneath, so callers never see it.
#[derive(Clone, Debug)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    root: StoreRoot,
}

impl Objects {
    /// Open the store described by `config`. Local directories are created if missing; S3 is
    /// not contacted until the first operation.
    pub fn open(config: &ObjectStoreConfig) -> Result<Self, ObjectError> {
        let root = StoreRoot::parse(&config.url)?;
        let store: Arc<dyn ObjectStore> = match &root {
            StoreRoot::Local { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    ObjectError::config(format!("cannot create `{}`: {e}", dir.display()))
                })?;
                let fs = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| ObjectError::config(format!("`{}`: {e}", dir.display())))?
                    // Write-once evidence must survive a crash once `put` has returned.
                    .with_fsync(true);
                Arc::new(fs)
            }
            StoreRoot::S3 { bucket, prefix } => {
                let s3 = s3_builder(config, bucket)
                    .build()
                    .map_err(|e| ObjectError::config(format!("`{}`: {e}", config.url)))?;
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                }
            }
        };
        Ok(Self { store, root })
    }

    /// The parsed root this store writes under.
    pub fn root(&self) -> &StoreRoot {
        &self.root
    }

    /// Absolute URI of a store-relative path, for locators read by other processes.
    pub fn uri_of(&self, path: &str) -> String {
        self.root.uri_of(path)
    }

    /// The platform root for this store (decides whether run prefixes are nested under
    /// `fraud-platform/`).
    pub fn platform_root(&self) -> PlatformRoot {
        PlatformRoot::for_store(&self.root)
    }

    /// The run prefix of `platform_run_id` in this store.
    pub fn run_prefix(&self, platform_run_id: &PlatformRunId) -> RunPrefix {
        self.platform_root().run(platform_run_id)
    }

    /// Write `bytes` at `path` unless something is there already.
    ///
    /// Same bytes again is [`PutOutcome::AlreadyIdentical`] (so retries are safe); different
    /// bytes is [`ObjectError::WriteOnceConflict`]. The create is atomic on both backends
    /// (S3 `If-None-Match: *`, a hard link locally), so two racing writers cannot both win.
    pub async fn put_once(
        &self,
        path: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<PutOutcome, ObjectError> {
        let location = location(path)?;
        let bytes: Bytes = bytes.into();
        for attempt in 1..=PUT_ONCE_ATTEMPTS {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match self
                .store
                .put_opts(&location, PutPayload::from(bytes.clone()), options)
                .await
            {
                Ok(_) => return Ok(PutOutcome::Created),
                Err(object_store::Error::AlreadyExists { .. }) => match self.get(path).await {
                    Ok(existing) if existing == bytes => return Ok(PutOutcome::AlreadyIdentical),
                    Ok(_) => {
                        return Err(ObjectError::WriteOnceConflict {
                            path: path.to_owned(),
                        });
                    }
                    // S3 answers 409 while a competing conditional write is still in flight:
                    // that object is not readable yet (and its write may yet fail), so ask
                    // again shortly rather than guess.
                    Err(ObjectError::NotFound { .. }) => {
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    }
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(ObjectError::backend(path, e)),
            }
        }
        Err(ObjectError::Backend {
            path: path.to_owned(),
            source: Box::new(object_store::Error::Generic {
                store: "put_once",
                source: "the store kept reporting the object as existing without it becoming \
                         readable"
                    .into(),
            }),
        })
    }

    /// Write `bytes` at `path`, replacing what is there: only for the few mutable documents
    /// (`run_status`, health probes, the active policy).
    pub async fn put_overwrite(
        &self,
        path: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<(), ObjectError> {
        let location = location(path)?;
        let payload = PutPayload::from(bytes.into());
        self.store
            .put(&location, payload)
            .await
            .map(|_| ())
            .map_err(|e| ObjectError::backend(path, e))
    }

    /// The bytes at `path`.
    pub async fn get(&self, path: &str) -> Result<Bytes, ObjectError> {
        let location = location(path)?;
        let result = self
            .store
            .get(&location)
            .await
            .map_err(|e| ObjectError::backend(path, e))?;
        result
            .bytes()
            .await
            .map_err(|e| ObjectError::backend(path, e))
    }

    /// The bytes behind `reference`, failing closed unless they hash to its digest.
    ///
    /// The reference may be store-relative or an absolute URI under this store's root
    /// (as produced by [`Self::uri_of`]); anything else is refused as an invalid path.
    pub async fn get_verified(&self, reference: &ObjectRef) -> Result<Bytes, ObjectError> {
        let path = self
            .root
            .relative_of(&reference.reference)
            .unwrap_or(&reference.reference);
        self.get_verified_digest(path, &reference.digest).await
    }

    /// The bytes at `path`, failing closed unless they hash to `digest`.
    pub async fn get_verified_digest(
        &self,
        path: &str,
        digest: &ContentDigest,
    ) -> Result<Bytes, ObjectError> {
        let bytes = self.get(path).await?;
        verify_digest(path, digest, &bytes)?;
        Ok(bytes)
    }

    /// Whether an object exists at `path`.
    pub async fn exists(&self, path: &str) -> Result<bool, ObjectError> {
        let location = location(path)?;
        match self.store.head(&location).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(ObjectError::backend(path, e)),
        }
    }

    /// Every object path under `prefix` (whole segments: `a/b` matches `a/b/c`, not `a/bc`),
    /// sorted bytewise so the answer is the same on every backend and every call. The empty
    /// prefix lists the whole store.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        validate_prefix(prefix)?;
        let location = StorePath::from(prefix);
        let metas: Vec<_> = match self
            .store
            .list(Some(&location))
            .try_collect::<Vec<_>>()
            .await
        {
            Ok(metas) => metas,
            // A local prefix whose directory was never created simply holds nothing.
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(ObjectError::backend(prefix, e)),
        };
        let mut paths: Vec<String> = metas.into_iter().map(|m| m.location.to_string()).collect();
        paths.sort_unstable();
        Ok(paths)
    }

    /// Remove the object at `path`; removing a missing object is not an error (deletes are
    /// idempotent on S3 and should be here too). Write-once evidence is never deleted by the
    /// platform; this exists for tests and retention tooling.
    pub async fn delete(&self, path: &str) -> Result<(), ObjectError> {
        let location = location(path)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ObjectError::backend(path, e)),
        }
    }
}

/// A validated `object_store` location.
fn location(path: &str) -> Result<StorePath, ObjectError> {
    validate_path(path)?;
    // Validation guarantees `Path::from` keeps the segments exactly (nothing to encode).
    Ok(StorePath::from(path))
}

/// An S3 client builder from the wiring, with AWS environment fallbacks for what is absent.
fn s3_builder(config: &ObjectStoreConfig, bucket: &str) -> AmazonS3Builder {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = config
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_virtual_hosted_style_request(!config.path_style)
        .with_allow_http(config.allow_http);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let explicit = config.access_key_id.is_some() || config.secret_access_key.is_some();
    let key = config
        .access_key_id
        .clone()
        .or_else(|| env("AWS_ACCESS_KEY_ID"));
    let secret = config
        .secret_access_key
        .clone()
        .or_else(|| env("AWS_SECRET_ACCESS_KEY"));
    if let Some(key) = key {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = secret {
        builder = builder.with_secret_access_key(secret);
    }
    // A session token only belongs with the environment's own key pair.
    if !explicit && let Some(token) = env("AWS_SESSION_TOKEN") {
        builder = builder.with_token(token);
    }
    builder
}
