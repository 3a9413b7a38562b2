//! Publishing a batch with `PutRecords`: how a batch is cut into requests, and how partial
//! failures are retried, as pure logic over a `put` function so it is tested without a network.
//!
//! ## Ordering
//!
//! `PutRecords` does not stop at a failed entry: a later entry of the same shard may succeed
//! while an earlier one fails, and retrying the failed one then lands it *after* the later one.
//! To keep the order that matters (records of one partition key, e.g. one flow), a request
//! never carries two records of the same key: the batch is cut, in input order, into
//! consecutive segments of distinct keys, and a segment is fully acknowledged (its failed
//! entries retried, alone) before the next one is sent. So:
//!
//! * records of one key are always appended in input order;
//! * when nothing fails, a shard receives the batch's records in input order (Kinesis assigns
//!   increasing sequence numbers to a shard's entries in request order);
//! * a retried entry lands after the entries of *other* keys of its shard that succeeded in
//!   the same request; its `eb_ref` says where it really is.
//!
//! The cost: a batch that repeats one key n times needs n requests. Batches at the publish
//! edge (IG) are mostly distinct keys (flows), so this rarely costs anything.

use std::collections::HashSet;
use std::future::Future;
use std::ops::Range;

use super::retry::{CallError, Class, GaveUp, RetryPolicy, class_of_code, retry};

/// `PutRecords` accepts at most 500 entries per request.
pub const MAX_ENTRIES_PER_REQUEST: usize = 500;
/// `PutRecords` accepts at most 5 MiB per request (data + partition keys).
pub const MAX_BYTES_PER_REQUEST: usize = 5 * 1024 * 1024;
/// One record may be at most 1 MiB (data + partition key).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Cut `0..sizes.len()` into consecutive request segments: each at most
/// [`MAX_ENTRIES_PER_REQUEST`] entries and [`MAX_BYTES_PER_REQUEST`] bytes, with no key twice.
/// `keys[i]` and `sizes[i]` (bytes of data + key) describe entry `i`.
pub fn plan_segments<K: Eq + std::hash::Hash>(keys: &[K], sizes: &[usize]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    let mut seen: HashSet<&K> = HashSet::new();
    for (i, (k, &size)) in keys.iter().zip(sizes).enumerate() {
        let full = i - start >= MAX_ENTRIES_PER_REQUEST
            || bytes.saturating_add(size) > MAX_BYTES_PER_REQUEST
            || seen.contains(k);
        if full && i > start {
            out.push(start..i);
            start = i;
            bytes = 0;
            seen.clear();
        }
        seen.insert(k);
        bytes = bytes.saturating_add(size);
    }
    if start < keys.len() {
        out.push(start..keys.len());
    }
    out
}

/// The outcome of one entry of a `PutRecords` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    /// Appended at `sequence` in `shard_id`.
    Ok {
        /// Sequence number (opaque).
        sequence: String,
        /// The shard it landed in.
        shard_id: String,
    },
    /// Not appended (`ProvisionedThroughputExceededException` or `InternalFailure`).
    Failed {
        /// Kinesis error code.
        code: String,
        /// Kinesis error message.
        message: String,
    },
}

/// Where an entry was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Sequence number.
    pub sequence: String,
    /// Shard id.
    pub shard_id: String,
}

/// Merge one response into `acked` (indexed like the batch): entries of `pending` (batch
/// indices, in request order) that succeeded are recorded; the ones that failed are returned,
/// in request order, with the last failure. A response of the wrong length is a protocol
/// error (retrying the whole request could duplicate records, so it is not retried).
pub fn merge_response(
    pending: &[usize],
    response: Vec<EntryResult>,
    acked: &mut [Option<Appended>],
) -> Result<(Vec<usize>, Option<CallError>), CallError> {
    if response.len() != pending.len() {
        return Err(CallError::new(
            Class::Fatal,
            format!(
                "PutRecords answered {} entries for a request of {}",
                response.len(),
                pending.len()
            ),
        ));
    }
    let mut failed = Vec::new();
    let mut last = None;
    for (&i, result) in pending.iter().zip(response) {
        match result {
            EntryResult::Ok { sequence, shard_id } => {
                if let Some(slot) = acked.get_mut(i) {
                    *slot = Some(Appended { sequence, shard_id });
                }
            }
            EntryResult::Failed { code, message } => {
                failed.push(i);
                last = Some(CallError::new(
                    class_of_code(&code),
                    format!("{code}: {message}"),
                ));
            }
        }
    }
    Ok((failed, last))
}

/// Publish `segment` (batch indices) with `put`, retrying failed entries only, until every
/// entry is acknowledged. `put` sends one request of the given batch indices (in that order)
/// and retries whole-request failures itself (throttling, 5xx); failed *entries* are retried
/// here with the same bounded, jittered backoff. Fills `acked`.
pub async fn put_segment<F, Fut>(
    policy: &RetryPolicy,
    segment: Range<usize>,
    acked: &mut [Option<Appended>],
    mut put: F,
) -> Result<(), GaveUp>
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: Future<Output = Result<Vec<EntryResult>, GaveUp>>,
{
    let max = policy.max_attempts.max(1);
    let mut pending: Vec<usize> = segment.collect();
    let mut attempt = 0;
    while !pending.is_empty() {
        attempt += 1;
        let response = put(pending.clone()).await?;
        let (failed, last) = merge_response(&pending, response, acked).map_err(|error| GaveUp {
            error,
            attempts: attempt,
        })?;
        if let Some(error) = last {
            // Per-entry codes are throttling or internal failures; anything else (a code this
            // code does not know) is not retried.
            if !error.class.retryable() || attempt >= max {
                return Err(GaveUp {
                    error: CallError::new(
                        error.class,
                        format!(
                            "{} of {} record(s) not appended; last: {}",
                            failed.len(),
                            pending.len(),
                            error.message
                        ),
                    ),
                    attempts: attempt,
                });
            }
            tracing::debug!(
                attempt,
                failed = failed.len(),
                "PutRecords partial failure; retrying the failed entries"
            );
            tokio::time::sleep(policy.backoff(attempt)).await;
        }
        pending = failed;
    }
    Ok(())
}

/// Convenience for `put` implementations: one request, whole-request failures retried.
pub async fn put_with_retry<F, Fut>(
    policy: &RetryPolicy,
    call: F,
) -> Result<Vec<EntryResult>, GaveUp>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Vec<EntryResult>, CallError>>,
{
    retry(policy, call).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[test]
    fn segments_never_repeat_a_key_and_respect_limits() {
        let keys = ["a", "b", "a", "c", "b", "b"];
        let segs = plan_segments(&keys, &[1; 6]);
        assert_eq!(segs, vec![0..2, 2..5, 5..6]);

        let keys: Vec<usize> = (0..1200).collect();
        let segs = plan_segments(&keys, &vec![10; 1200]);
        assert_eq!(segs, vec![0..500, 500..1000, 1000..1200]);

        let mb = 1024 * 1024;
        let segs = plan_segments(&[1, 2, 3, 4, 5, 6], &[mb, mb, mb, mb, mb, mb]);
        assert_eq!(segs, vec![0..5, 5..6]);

        assert!(plan_segments::<u8>(&[], &[]).is_empty());
    }

    fn ok(seq: u32, shard: &str) -> EntryResult {
        EntryResult::Ok {
            sequence: seq.to_string(),
            shard_id: shard.to_owned(),
        }
    }

    fn throttled() -> EntryResult {
        EntryResult::Failed {
            code: "ProvisionedThroughputExceededException".into(),
            message: "Rate exceeded for shard".into(),
        }
    }

    #[tokio::test]
    async fn partial_failures_retry_only_the_failed_entries_in_order() {
        // A fake stream: the first request fails entries 1 and 3, the second request's whole
        // call is throttled once (handled inside `put` by put_with_retry), then succeeds.
        let requests: Mutex<Vec<Vec<usize>>> = Mutex::new(Vec::new());
        let whole_call_failures = Mutex::new(1u32);
        let mut acked = vec![None; 5];
        let mut seq = 100;
        let policy = fast();
        put_segment(&policy, 0..5, &mut acked, |pending: Vec<usize>| {
            requests.lock().expect("lock").push(pending.clone());
            let round = requests.lock().expect("lock").len();
            let response: Vec<EntryResult> = pending
                .iter()
                .map(|&i| {
                    if round == 1 && (i == 1 || i == 3) {
                        throttled()
                    } else {
                        seq += 1;
                        ok(seq, "shardId-000000000001")
                    }
                })
                .collect();
            let policy = &policy;
            let whole_call_failures = &whole_call_failures;
            async move {
                put_with_retry(policy, || {
                    let fail = {
                        let mut n = whole_call_failures.lock().expect("lock");
                        let fail = round == 2 && *n > 0;
                        if fail {
                            *n -= 1;
                        }
                        fail
                    };
                    let response = response.clone();
                    async move {
                        if fail {
                            Err(CallError::new(Class::Transient, "HTTP 503"))
                        } else {
                            Ok(response)
                        }
                    }
                })
                .await
            }
        })
        .await
        .expect("segment published");
        assert_eq!(
            *requests.lock().expect("lock"),
            vec![vec![0, 1, 2, 3, 4], vec![1, 3]],
            "only the failed entries are re-sent, in their input order"
        );
        let seqs: Vec<String> = acked
            .iter()
            .map(|a| a.as_ref().expect("acked").sequence.clone())
            .collect();
        assert_eq!(seqs, ["101", "104", "102", "105", "103"]);
        assert_eq!(*whole_call_failures.lock().expect("lock"), 0);
    }

    #[tokio::test]
    async fn persistent_partial_failure_gives_up_with_a_count() {
        let mut acked = vec![None; 3];
        let err = put_segment(
            &fast(),
            0..3,
            &mut acked,
            |pending: Vec<usize>| async move {
                Ok(pending
                    .iter()
                    .map(|&i| {
                        if i == 2 {
                            throttled()
                        } else {
                            ok(i as u32, "s")
                        }
                    })
                    .collect())
            },
        )
        .await
        .expect_err("entry 2 never succeeds");
        assert_eq!(err.attempts, 5);
        assert!(err.error.message.contains("1 of 1 record(s)"), "{err:?}");
        assert!(acked[0].is_some() && acked[1].is_some() && acked[2].is_none());
    }

    #[tokio::test]
    async fn a_short_response_is_not_retried() {
        let mut acked = vec![None; 2];
        let err = put_segment(&fast(), 0..2, &mut acked, |_| async {
            Ok(vec![ok(1, "s")])
        })
        .await
        .expect_err("short response");
        assert_eq!(err.attempts, 1);
        assert_eq!(err.error.class, Class::Fatal);
    }
}
