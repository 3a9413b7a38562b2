//! The object store: a local directory or S3 behind one async API.
//!
//! * [`Objects`]: write-once puts ([`Objects::put_once`]: same bytes again is fine, different
//!   bytes is [`ObjectError::WriteOnceConflict`]), overwrites for the few mutable documents,
//!   reads that fail closed on a digest mismatch, deterministic listings;
//! * [`prefixes`]: the platform prefix map, the only place that knows where artifacts live;
//! * [`path`]: the rules every store-relative path obeys.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fp_substrate::objects::ObjectError> {
//! use fp_rails::{Hex32, PlatformRunId};
//! use fp_rails::locator::ObjectRef;
//! use fp_substrate::objects::{ObjectStoreConfig, Objects, PutOutcome};
//!
//! let store = Objects::open(&ObjectStoreConfig::local("/var/lib/fp/runs/fraud-platform"))?;
//! let run = PlatformRunId::parse("platform_20260101T000000Z").expect("valid id");
//! let run_id = Hex32::parse("0123456789abcdef0123456789abcdef").expect("valid id");
//! let path = store.run_prefix(&run).sr_run_plan(&run_id);
//! let plan = br#"{"plan_hash":"..."}"#.to_vec();
//! // A retry with the same bytes is `AlreadyIdentical`; different bytes is a typed conflict.
//! assert_eq!(store.put_once(&path, plan.clone()).await?, PutOutcome::Created);
//! let reference = ObjectRef::new(path, &plan);
//! let bytes = store.get_verified(&reference).await?;
//! # let _ = bytes;
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
pub mod path;
pub mod prefixes;
mod store;

pub use config::{ObjectStoreConfig, StoreRoot};
pub use error::ObjectError;
pub use path::PathError;
pub use prefixes::{ObsReport, PlatformRoot, RunPrefix};
pub use store::{Objects, PutOutcome};
