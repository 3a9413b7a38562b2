//! Bounded retries with jittered exponential backoff, and the classification of Kinesis
//! failures into "retry", "not found" and "give up".
//!
//! The SDK's own retry layer is disabled (see `KinesisBus::connect`) so there is exactly one
//! retry loop, this one, whose bounds are in [`RetryPolicy`] and whose behaviour is unit-tested
//! without a network.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// How often and how patiently a Kinesis call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles per attempt.
    pub base_delay: Duration,
    /// Upper bound of one backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 50 ms doubling to at most 5 s: about 10–20 s of patience in total, long
    /// enough to ride out a throttled second on a shard (1 MB/s, 1,000 records/s per shard)
    /// and short enough that IG reports a stuck bus instead of hanging.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt + 1` (`attempt` ≥ 1 failed attempts so far):
    /// "equal jitter", half fixed and half random, so concurrent publishers throttled by the
    /// same shard spread out while every wait still grows.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max_delay);
        let half = cap / 2;
        half + half.mul_f64(jitter())
    }
}

/// A random number in `[0, 1)`: std's `RandomState` is randomly keyed per instance, which is
/// all the randomness backoff jitter needs (no RNG dependency).
fn jitter() -> f64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0x6a09_e667);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// What to do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Throttling (`ProvisionedThroughputExceededException`, `LimitExceededException`, ...):
    /// retry after a backoff.
    Throttled,
    /// 5xx, `InternalFailure`, timeouts and connection failures: retry after a backoff.
    Transient,
    /// `ResourceNotFoundException`: the stream (or shard) does not exist.
    NotFound,
    /// `ResourceInUseException`: the stream exists or is being created/deleted.
    InUse,
    /// Anything else (validation, access denied, bad request): retrying cannot help.
    Fatal,
}

impl Class {
    /// Whether a retry may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, Class::Throttled | Class::Transient)
    }
}

/// One failed call, classified, with a message for the error report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// What to do about it.
    pub class: Class,
    /// The SDK's full error chain (or a synthetic message).
    pub message: String,
}

impl CallError {
    /// A failure with an explicit class (tests, and per-record PutRecords failures).
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

/// The class of an error code (service error code or PutRecords per-record `ErrorCode`).
pub fn class_of_code(code: &str) -> Class {
    match code {
        "ProvisionedThroughputExceededException"
        | "LimitExceededException"
        | "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "KMSThrottlingException" => Class::Throttled,
        "InternalFailure"
        | "InternalFailureException"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => Class::Transient,
        "ResourceNotFoundException" => Class::NotFound,
        "ResourceInUseException" => Class::InUse,
        _ => Class::Fatal,
    }
}

/// Classify an SDK error: timeouts, dispatch failures (connection refused/reset) and
/// unparseable responses are transient; service errors by code, then by HTTP status (5xx is
/// transient, 429 is throttling).
pub fn classify<E, R>(err: &SdkError<E, R>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let class = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Class::Transient
        }
        SdkError::ServiceError(service) => {
            let by_code = service.err().code().map_or(Class::Fatal, class_of_code);
            match (by_code, service.raw().status_code()) {
                (Class::Fatal, 429) => Class::Throttled,
                (Class::Fatal, s) if (500..600).contains(&s) => Class::Transient,
                (c, _) => c,
            }
        }
        // ConstructionFailure and future variants: a bug or bad input, not the network.
        _ => Class::Fatal,
    };
    CallError {
        class,
        message: DisplayErrorContext(err).to_string(),
    }
}

/// The HTTP status of a raw response (a trait so `classify` stays generic over the SDK's
/// response type).
pub trait HttpStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_kinesis::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// A call that failed for good: the last error and how many attempts were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp {
    /// The last failure.
    pub error: CallError,
    /// Attempts made.
    pub attempts: u32,
}

/// Run `call` until it succeeds, fails with a non-retryable class, or `policy.max_attempts`
/// attempts have failed; sleeps `policy.backoff` between attempts.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut call: F) -> Result<T, GaveUp>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let max = policy.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Ok(v) => return Ok(v),
            Err(error) if !error.class.retryable() || attempt >= max => {
                return Err(GaveUp {
                    error,
                    attempts: attempt,
                });
            }
            Err(error) => {
                tracing::debug!(attempt, class = ?error.class, error = %error.message, "kinesis call failed; retrying");
                tokio::time::sleep(policy.backoff(attempt)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for attempt in 1..40 {
            let d = p.backoff(attempt);
            let cap = (Duration::from_millis(100) * 2u32.pow((attempt - 1).min(20)))
                .min(Duration::from_secs(1));
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn codes_are_classified() {
        assert_eq!(
            class_of_code("ProvisionedThroughputExceededException"),
            Class::Throttled
        );
        assert_eq!(class_of_code("InternalFailure"), Class::Transient);
        assert_eq!(class_of_code("ResourceNotFoundException"), Class::NotFound);
        assert_eq!(class_of_code("ValidationException"), Class::Fatal);
        assert!(!Class::NotFound.retryable());
    }

    #[tokio::test]
    async fn retries_throttling_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = retry(&fast(), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(CallError::new(Class::Throttled, "slow down"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(out, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_and_at_once_on_fatal() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = retry(&fast(), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(CallError::new(Class::Transient, "503")) }
        })
        .await;
        assert_eq!(out.map_err(|g| g.attempts), Err(4));
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let calls = AtomicU32::new(0);
        let out: Result<(), _> = retry(&fast(), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(CallError::new(Class::Fatal, "denied")) }
        })
        .await;
        assert_eq!(out.map_err(|g| g.attempts), Err(1));
    }
}
