//! # fp-decision
//!
//! The real-time decision loop's memory, as pure, in-memory, deterministic cores (issue #8):
//!
//! * [`ofp`]: the Online Feature Plane: per-entity event-time windows over ring buckets and
//!   point-in-time feature snapshots with the reference `snapshot_hash`;
//! * [`csfb`]: the Context Store + FlowBinding: join frames from arrival context, flow bindings
//!   created only by the run's flow anchor, and the READY / MISSING / CONFLICT answer a traffic
//!   event's join needs.
//!
//! Both are projections of Event Bus offsets. The consumer loop feeds every record in one
//! canonical order, `(ts_utc, topic, partition, offset)`, applies each batch in one SQL
//! transaction with its dedupe rows and checkpoint, and persists what the cores export; the
//! cores therefore never do I/O, never read a clock and never iterate a hash map into an
//! output (docs/decisions/0012-online-feature-cores.md).

pub mod csfb;
pub mod duration;
pub mod entity;
mod fasthash;
pub mod ofp;
mod policy_error;

pub use entity::{EntityKeys, KeyType};
pub use policy_error::PolicyError;
