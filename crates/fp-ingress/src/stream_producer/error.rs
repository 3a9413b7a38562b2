//! What can stop the World Stream Producer. Every variant names what was wrong and, where an
//! operator can act, how to fix it; the reason codes are the reference's (contracts §9).

use fp_rails::ingress::IngressError;
use fp_substrate::objects::ObjectError;
use fp_substrate::sql::SqlError;
use fp_world::oracle::OracleError;

/// A stream that cannot start or cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum WspError {
    /// The facts view named by READY could not be read or does not parse.
    #[error("run facts view `{path}` is unreadable: {detail}")]
    FactsInvalid {
        /// Object path.
        path: String,
        /// Why.
        detail: String,
    },
    /// READY and its facts view disagree about the run (`PLATFORM_RUN_ID_MISMATCH`, ...).
    #[error("{code}: READY says {ready}, the facts view says {facts}")]
    RunMismatch {
        /// Reason code.
        code: &'static str,
        /// READY's value.
        ready: String,
        /// The facts view's value.
        facts: String,
    },
    /// An output the policy names is not a streamable engine output (`UNKNOWN_OUTPUT_ID`).
    #[error(
        "output `{0}` cannot be streamed: only the event streams and their time-safe context are \
         (truth products never are); fix `policy.outputs` in the profile"
    )]
    UnknownOutput(String),
    /// The traffic output is not one of the two behavioural streams (`NO_TRAFFIC_OUTPUTS`).
    #[error(
        "traffic output `{0}` is not an event stream (s3_event_stream_with_fraud_6B or \
         s2_event_stream_baseline_6B)"
    )]
    NotTraffic(String),
    /// No PASS, no read: an output's gate has no PASS verdict in the facts view.
    #[error(
        "GATE_PASS_MISSING: output `{output_id}` needs gate `{gate_id}` to PASS, and the run's \
         facts view has no PASS for it; the world is not readable"
    )]
    GateNotPassed {
        /// Output.
        output_id: String,
        /// Gate.
        gate_id: String,
    },
    /// The oracle pack is not sealed, or its world key differs from the run's pins.
    #[error("oracle pack at `{root}`: {detail}")]
    Pack {
        /// Engine run root.
        root: String,
        /// Why (`PACK_NOT_SEALED`, `WORLD_KEY_MISMATCH`, ...).
        detail: String,
    },
    /// A streamed row lacks a primary-key column, so it has no event id (fatal for the stream).
    #[error("PRIMARY_KEY_MISSING: row {row} of `{output_id}` has no `{column}`")]
    PrimaryKeyMissing {
        /// Output.
        output_id: String,
        /// Row index in the stream view.
        row: u64,
        /// Missing column.
        column: &'static str,
    },
    /// A streamed row has no parseable `ts_utc`.
    #[error("row {row} of `{output_id}` has an unusable ts_utc: {detail}")]
    BadTimestamp {
        /// Output.
        output_id: String,
        /// Row index.
        row: u64,
        /// Why.
        detail: String,
    },
    /// A stream-view column the producer cannot write as JSON.
    #[error("column `{column}` of `{output_id}`: {detail}")]
    BadColumn {
        /// Output.
        output_id: String,
        /// Column.
        column: String,
        /// Why.
        detail: String,
    },
    /// The gate refused a request outright (not retryable): the stream stops.
    #[error("IG_PUSH_REJECTED on `{output_id}` at row {row}: {source}")]
    Rejected {
        /// Output.
        output_id: String,
        /// First row of the refused batch.
        row: u64,
        /// The refusal.
        source: IngressError,
    },
    /// The gate stayed unavailable through every retry.
    #[error(
        "IG_PUSH_RETRY_EXHAUSTED on `{output_id}` at row {row} after {attempts} attempts: \
         {last}; rerun `fp wsp run` once the gate is healthy (it resumes from the checkpoint)"
    )]
    RetryExhausted {
        /// Output.
        output_id: String,
        /// First row of the batch.
        row: u64,
        /// Attempts made.
        attempts: u32,
        /// Last error.
        last: String,
    },
    /// The gate answered a batch with the wrong number of results.
    #[error("the gate answered {got} results for {sent} envelopes")]
    ResultCount {
        /// Sent.
        sent: usize,
        /// Received.
        got: usize,
    },
    /// Reading the oracle (seal, stream view).
    #[error(transparent)]
    Oracle(#[from] OracleError),
    /// Object store.
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// Checkpoints and ready records.
    #[error("WSP state (checkpoints, READY records)")]
    Sql(#[from] SqlError),
    /// The control bus.
    #[error("control bus")]
    Bus(#[from] fp_bus::BusError),
    /// A worker task died.
    #[error("stream worker failed: {0}")]
    Worker(String),
}
