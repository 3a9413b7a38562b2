//! # World Stream Producer (WSP)
//!
//! Turns a READY world into bank-like temporal traffic into the Ingestion Gate — never
//! directly into the bus (contracts §9, engine_interface.md §8). One run streams exactly one
//! traffic output plus the time-safe context of its mode; no PASS, no read; envelopes keep
//! the reference's event ids and the rows' event times; pacing compresses event time by the
//! profile's speedup (or none: `max`); checkpoints per (run, output) make a killed stream
//! resume, with the gate answering DUPLICATE for what it already admitted.
//!
//! Layout: [`plan`] (which outputs, checked), [`framing`] (rows → envelopes, via [`row_json`]), [`pacing`],
//! [`delivery`] (retry law, verdict tally), [`checkpoint`] (SQL state), [`producer`] (the
//! stream), [`ready`] (READY from the control bus).

pub mod checkpoint;
pub mod delivery;
pub mod error;
pub mod framing;
pub mod pacing;
pub mod plan;
pub mod producer;
pub mod ready;
pub mod row_json;

pub use checkpoint::{Checkpoint, ReadyStatus, WspState};
pub use delivery::{RetryPolicy, Tally};
pub use error::WspError;
pub use framing::{Framed, Framer, PRODUCER_ID};
pub use pacing::{Pacer, Speed};
pub use plan::{ModeSelection, PlanChecks, PlannedOutput, StreamPlan, WorldPins};
pub use producer::{
    NoProgress, OutputReport, Progress, StreamReport, WorldStreamProducer, WspConfig,
};
pub use ready::{EngineRootResolver, ReadyConsumer, ReadyOutcome, load_facts, local_engine_roots};
