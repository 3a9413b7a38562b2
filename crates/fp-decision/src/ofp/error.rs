//! OFP errors, with the contract's error codes (§12.4: code, retryable, HTTP status).

use fp_rails::TsUtc;

/// Why a traffic event or a feature request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OfpError {
    /// The traffic payload is not a usable traffic event (names the field).
    #[error("traffic event refused: {0}")]
    InvalidEvent(String),
    /// The event belongs to another run than this store's.
    #[error(
        "traffic event of run {platform_run_id}/{scenario_run_id} fed to the feature state of \
         another run"
    )]
    RunScopeMismatch {
        /// The event's platform run.
        platform_run_id: String,
        /// The event's scenario run.
        scenario_run_id: String,
    },
    /// The request is malformed (names the field and the rule).
    #[error("feature request refused: {0}")]
    InvalidRequest(String),
    /// The request asks for a time this store can no longer answer exactly.
    #[error(
        "feature request as of {as_of} is more than the allowed lateness behind the watermark \
         {watermark}: later events may already be in its windows"
    )]
    AsOfBeyondLateness {
        /// Requested as-of time.
        as_of: TsUtc,
        /// Current watermark.
        watermark: TsUtc,
    },
    /// No state for the requested run.
    #[error("no feature state for run {platform_run_id}/{scenario_run_id}")]
    NotFound {
        /// Requested platform run.
        platform_run_id: String,
        /// Requested scenario run.
        scenario_run_id: String,
    },
    /// Restored state does not fit this policy.
    #[error("feature state cannot be restored: {0}")]
    StateMismatch(String),
}

impl OfpError {
    /// The contract error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) | Self::RunScopeMismatch { .. } | Self::StateMismatch(_) => {
                "INVALID_EVENT"
            }
            Self::InvalidRequest(_) | Self::AsOfBeyondLateness { .. } => "INVALID_REQUEST",
            Self::NotFound { .. } => "NOT_FOUND",
        }
    }

    /// Whether retrying the same call can succeed.
    pub fn retryable(&self) -> bool {
        false
    }
}
