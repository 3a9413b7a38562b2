//! Typed errors of the Ingestion Gate and the reason codes it writes into receipts.

use fp_bus::BusError;
use fp_substrate::objects::ObjectError;
use fp_substrate::sql::SqlError;

/// Why a submission was quarantined (contracts §10.5, plus the run-scope codes this gate adds:
/// see docs/decisions/0009-ingestion-gate.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// Not UTF-8, not JSON, wrong types, unknown or missing envelope fields, bad formats.
    EnvelopeInvalid,
    /// A pin the event's class requires is absent, `null` or `""`.
    PinsMissing,
    /// No schema policy entry for the event type.
    SchemaPolicyMissing,
    /// The policy requires `schema_version` and the envelope has none.
    SchemaVersionRequired,
    /// `schema_version` is not one the policy allows.
    SchemaVersionNotAllowed,
    /// The payload fails its JSON Schema.
    SchemaFail,
    /// The scenario run is not READY (or unknown) for this platform run.
    RunNotReady,
    /// The envelope's world pins differ from the READY run's facts.
    RunScopeMismatch,
    /// The gate authorising this output did not pass for the run (or the output is not part
    /// of the run).
    GateNotPassed,
    /// No partition key could be derived.
    PartitionKeyMissing,
    /// Same dedupe key, different payload hash.
    PayloadHashMismatch,
    /// The bus did not confirm the append (timeout or error); never republished automatically.
    PublishAmbiguous,
    /// An admission row in a state the pipeline does not know.
    AdmissionStateInvalid,
    /// An unexpected failure while checking the envelope.
    InternalError,
}

impl ReasonCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnvelopeInvalid => "ENVELOPE_INVALID",
            Self::PinsMissing => "PINS_MISSING",
            Self::SchemaPolicyMissing => "SCHEMA_POLICY_MISSING",
            Self::SchemaVersionRequired => "SCHEMA_VERSION_REQUIRED",
            Self::SchemaVersionNotAllowed => "SCHEMA_VERSION_NOT_ALLOWED",
            Self::SchemaFail => "SCHEMA_FAIL",
            Self::RunNotReady => "RUN_NOT_READY",
            Self::RunScopeMismatch => "RUN_SCOPE_MISMATCH",
            Self::GateNotPassed => "GATE_NOT_PASSED",
            Self::PartitionKeyMissing => "PARTITION_KEY_MISSING",
            Self::PayloadHashMismatch => "PAYLOAD_HASH_MISMATCH",
            Self::PublishAmbiguous => "PUBLISH_AMBIGUOUS",
            Self::AdmissionStateInvalid => "ADMISSION_STATE_INVALID",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }

    /// Every code, for summaries and tests.
    pub const ALL: [ReasonCode; 14] = [
        Self::EnvelopeInvalid,
        Self::PinsMissing,
        Self::SchemaPolicyMissing,
        Self::SchemaVersionRequired,
        Self::SchemaVersionNotAllowed,
        Self::SchemaFail,
        Self::RunNotReady,
        Self::RunScopeMismatch,
        Self::GateNotPassed,
        Self::PartitionKeyMissing,
        Self::PayloadHashMismatch,
        Self::PublishAmbiguous,
        Self::AdmissionStateInvalid,
        Self::InternalError,
    ];
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A submission refused without a receipt: the caller should retry later (HTTP 503/429 with
/// `Retry-After`), nothing was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryCode {
    /// The gate is RED (index, bus or object store unhealthy).
    IgUnhealthy,
    /// Another request is publishing the same event right now.
    PublishInFlightRetry,
    /// An earlier publish of this event is ambiguous and awaits reconciliation.
    PublishAmbiguousRetry,
}

impl RetryCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IgUnhealthy => "IG_UNHEALTHY",
            Self::PublishInFlightRetry => "PUBLISH_IN_FLIGHT_RETRY",
            Self::PublishAmbiguousRetry => "PUBLISH_AMBIGUOUS_RETRY",
        }
    }
}

/// Failures of the gate itself (not verdicts on an envelope).
#[derive(Debug, thiserror::Error)]
pub enum IgError {
    /// A policy file is missing, malformed or inconsistent.
    #[error("ingestion gate policy `{file}`: {detail}")]
    Policy {
        /// The file (or rule) at fault.
        file: String,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// A payload schema named by the schema policy cannot be found or compiled.
    #[error("payload schema `{name}`: {detail}")]
    PayloadSchema {
        /// The `payload_schema` reference.
        name: String,
        /// Why.
        detail: String,
    },
    /// The admission index failed.
    #[error("admission index: {0}")]
    Index(#[from] SqlError),
    /// The object store failed.
    #[error("object store: {0}")]
    Objects(#[from] ObjectError),
    /// The event bus failed outside a publish (provisioning, reading).
    #[error("event bus: {0}")]
    Bus(#[from] BusError),
    /// A stored document the gate cannot read back.
    #[error("corrupt {what} `{at}`: {detail}")]
    Corrupt {
        /// Kind of document.
        what: &'static str,
        /// Where.
        at: String,
        /// Why.
        detail: String,
    },
    /// An operator request that does not apply.
    #[error("{0}")]
    Refused(String),
}
