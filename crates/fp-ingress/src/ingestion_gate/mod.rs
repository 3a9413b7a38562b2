//! # Ingestion Gate (IG)
//!
//! The platform's only front door (contracts §10): every submission gets exactly one verdict
//! — ADMIT, DUPLICATE or QUARANTINE — with a receipt, or a retryable refusal that recorded
//! nothing. Admission runs in the reference's order: envelope → class → pins → schema policy
//! → payload schema → run scope (READY, gates PASS) → dedupe → partition key → publish →
//! commit. See docs/decisions/0009-ingestion-gate.md for where and why we differ.
//!
//! Layout: [`policy`] (class map, schema policy, partitioning; digest), [`payload_schemas`],
//! [`check`] (stateless stage), [`scope`] (run scope), [`index`] (admission index),
//! [`receipts`], [`health`], [`gate`] (the pipeline).

pub mod audit;
pub mod batcher;
pub mod check;
pub mod client;
pub mod error;
pub mod gate;
pub mod health;
pub mod http;
pub mod index;
mod index_sqlite;
mod journal;
mod journal_codec;
mod journal_legacy;
mod mem_index;
mod parallel;
pub mod payload_schemas;
pub mod policy;
pub mod receipts;
pub mod scope;

pub use client::{HttpIngress, InProcessIngress};
pub use error::{IgError, ReasonCode, RetryCode};
pub use gate::{GateConfig, IngestionGate, Outcome, ReconcileReport, Submission, anonymous_actor};
pub use health::{HealthReport, HealthState};
pub use index::{AdmissionIndex, AdmissionState, Lookup, LookupHit};
pub use policy::IgPolicy;
