//! # fp-rails
//!
//! The rails every fraud-platform component keeps, as pure types and functions (no I/O):
//!
//! * [`envelope`]: the canonical event envelope, strict (unknown fields rejected);
//! * [`pins`]: the six ContextPins;
//! * [`canonical`]: canonical JSON byte-compatible with the Python reference;
//! * [`digest`] and [`ids`]: sha256 helpers and every id/hash recipe of the platform;
//! * [`time`]: `ts_utc` with exactly six fractional digits;
//! * [`hexid`]: validated `hex32`/`hex64`/`platform_run_id`;
//! * [`eb`]: event-bus coordinates (`eb_ref`, offset kinds);
//! * [`ingress`]: the client trait producers submit envelopes to the Ingestion Gate through;
//! * [`locator`]: by-reference locators with content digests;
//! * [`policy`]: `policy_rev` and provenance;
//! * [`contracts`]: typed forms of the JSON Schemas in `contracts/`.

pub mod canonical;
pub mod contracts;
pub mod digest;
pub mod eb;
pub mod envelope;
pub mod hexid;
pub mod ids;
pub mod ingress;
pub mod locator;
pub mod pins;
pub mod policy;
pub mod time;

pub use digest::ContentDigest;
pub use eb::{EbRef, OffsetKind};
pub use envelope::CanonicalEnvelope;
pub use hexid::{Hex32, Hex64, PlatformRunId};
pub use pins::{ContextPins, ScenarioId};
pub use policy::{PolicyRev, Provenance};
pub use time::TsUtc;
