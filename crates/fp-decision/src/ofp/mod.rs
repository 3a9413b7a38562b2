//! Online Feature Plane (contracts §12.4): per-entity event-time windows over ring buckets,
//! point-in-time snapshots, exportable state.
//!
//! The caller (the consumer loop) feeds traffic in canonical order and, for each traffic event
//! to be decided, asks first and applies after: `get_features` as of the event's `ts_utc`,
//! then `apply(event, keys)`. So an event's features hold only what preceded it.
//!
//! **Which events a window covers.** Window `W` (duration `D`, bucket width `B`, `n = D/B`
//! buckets) as of instant `T` covers the applied events whose bucket `floor(ts/B)` is one of
//! `floor(T/B) - n + 1 ..= floor(T/B)`, i.e. `ts ∈ [floor(T/B)·B − D + B, T]`: between
//! `D − B` and `D` of history, never an event after `T`. Buckets are epoch-aligned (UTC).

mod error;
mod policy;
mod request;
mod snapshot;
mod state;
mod store;

pub use error::OfpError;
pub use policy::{
    FEATURES_FILE, FeaturePolicy, FeatureRef, GroupDef, MAX_BUCKETS, MAX_DISTINCT, PolicyError,
    WindowDef,
};
pub use request::{FeatureKey, FeatureRequest, GroupRef, InputBasis, MAX_GROUPS, MAX_KEYS};
pub use snapshot::{FeatureSnapshot, Freshness, FreshnessState, ServedSnapshot, flags};
pub use state::{Bucket, EntityState, Ring, WindowAgg};
pub use store::{
    AMOUNT_SCALE, ApplyCounters, ApplyOutcome, ExportedEntity, FeatureStateExport, MAX_ABS_AMOUNT,
    OnlineFeatures, TrafficEvent,
};
