//! The Kinesis backend (`local_parity`, `dev`, `prod`): an [`EventBus`] over Amazon Kinesis
//! Data Streams via `aws-sdk-kinesis` (tested on moto).
//!
//! ## Mapping
//!
//! * topic → stream `<stream_prefix><topic>` (dots are valid in stream names);
//! * partition → shard; the partition number is the numeric suffix of the `ShardId`
//!   (`shardId-000000000003` → 3, contracts §4.1). Topics are never resharded (a partition
//!   count is part of a topic's identity, [`BusError::TopicConflict`]), so the open shards of a
//!   stream are exactly `0..partitions`;
//! * `PartitionKey` = the 64-hex platform key (contracts §11) and `ExplicitHashKey` = the
//!   decimal of its first 128 bits ([`explicit_hash_key`]), so the shard is a pure function of
//!   the key and the stream's hash ranges (not of Kinesis' MD5 of the key string);
//! * offsets are sequence numbers, kept as opaque decimal strings (≈56 digits on AWS, small
//!   integers on moto) — never parsed into integers;
//! * checkpoints (decision 0003, row 6): the last applied sequence; reads resume
//!   `AFTER_SEQUENCE_NUMBER` it; [`ReadFrom::Earliest`] is `TRIM_HORIZON`.
//!
//! ## End offsets
//!
//! Kinesis has no "latest sequence of a shard" call. [`EventBus::partitions`] finds it by
//! reading the shard's tail: from `AT_TIMESTAMP` (now − 15 s, then − 10 min, − 6 h) and at
//! last `TRIM_HORIZON`, stopping at the first window that holds a record. A shard with no
//! retained record reports its `StartingSequenceNumber` as both start and end (reading after
//! it returns every record appended later). This costs a few `GetRecords` calls per shard;
//! it is meant for lag reports and tests, not for every read.
//!
//! ## Failures
//!
//! Every call is retried with a bounded, jittered exponential backoff on throttling, 5xx,
//! timeouts and connection failures ([`RetryPolicy`]); `PutRecords` partial failures are
//! retried for the failed entries only, in a way that keeps per-key order (see
//! [`batch`](self::batch) for the ordering argument). A missing stream is
//! [`BusError::UnknownTopic`]; a call that keeps failing is [`BusError::Remote`].

mod batch;
mod retry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StreamStatus};
use bytes::Bytes;
use fp_rails::{EbRef, Hex64, OffsetKind, TsUtc};

use crate::error::BusError;
use crate::topics::{TopicSpec, validate_spec, validate_topic_name};
use crate::{BusFuture, BusRecord, EventBus, OutRecord, PartitionInfo, ReadBatch, ReadFrom};

pub use batch::{MAX_BYTES_PER_REQUEST, MAX_ENTRIES_PER_REQUEST, MAX_RECORD_BYTES};
pub use retry::RetryPolicy;

#[doc(hidden)]
pub mod testing {
    //! Pure pieces re-exported for the integration tests (retry and batch logic).
    pub use super::batch::{
        Appended, EntryResult, merge_response, plan_segments, put_segment, put_with_retry,
    };
    pub use super::retry::{CallError, Class, GaveUp, class_of_code, retry};
}

const BACKEND: &str = "kinesis";

/// Largest `GetRecords` `Limit` Kinesis accepts.
const MAX_GET_RECORDS: usize = 10_000;

/// Where the Kinesis bus is and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisConfig {
    /// Endpoint URL (moto, LocalStack); `None` for AWS's regional endpoint.
    pub endpoint: Option<String>,
    /// AWS region, e.g. `eu-west-2`.
    pub region: String,
    /// Prepended to every topic name to form the stream name (`[a-zA-Z0-9_.-]*`), e.g. a run
    /// or environment prefix; `None` for none.
    pub stream_prefix: Option<String>,
    /// Default shard count, used by callers that build the topic specs from this config
    /// (`provision` takes the count from each [`TopicSpec`]).
    pub shards: u32,
    /// Static credentials; both or neither. Neither: the SDK's default credential chain
    /// (environment, profile, web identity, ECS/EC2 metadata).
    pub access_key_id: Option<String>,
    /// See `access_key_id`.
    pub secret_access_key: Option<String>,
    /// Retries of every call.
    pub retry: RetryPolicy,
    /// Time limit of one attempt of one call (connect + request + response).
    pub attempt_timeout: Duration,
    /// How long `provision` waits for a new stream to become `ACTIVE`.
    pub stream_ready_timeout: Duration,
}

impl Default for KinesisConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".to_owned(),
            stream_prefix: None,
            shards: 1,
            access_key_id: None,
            secret_access_key: None,
            retry: RetryPolicy::default(),
            attempt_timeout: Duration::from_secs(10),
            stream_ready_timeout: Duration::from_secs(300),
        }
    }
}

/// `ExplicitHashKey` of a platform partition key: the decimal of its first 128 bits (the
/// Kinesis hash key space is `[0, 2^128)`), so routing depends on the key and the shard hash
/// ranges only.
pub fn explicit_hash_key(key: &Hex64) -> String {
    // A Hex64 is 64 validated hex characters, so the 32-character prefix always parses.
    let head = key.as_str().get(..32).unwrap_or("0");
    u128::from_str_radix(head, 16).unwrap_or(0).to_string()
}

/// The partition number of a shard id: `shardId-000000000003` → 3.
pub fn shard_number(shard_id: &str) -> Option<u32> {
    let digits = shard_id.strip_prefix("shardId-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One open shard of a stream.
#[derive(Debug, Clone)]
struct Shard {
    id: String,
    starting_sequence: String,
}

/// The open shards of a stream, indexed by partition number.
#[derive(Debug)]
struct StreamShards {
    shards: Vec<Shard>,
}

/// The Kinesis event bus. Cheap to share (`Arc<dyn EventBus>`); the SDK client pools
/// connections.
pub struct KinesisBus {
    client: Client,
    prefix: String,
    retry: RetryPolicy,
    stream_ready_timeout: Duration,
    /// Shard lists per topic: streams are never resharded, so a list stays valid while the
    /// stream exists; dropped when a call says the stream is gone.
    shards: Mutex<HashMap<String, Arc<StreamShards>>>,
}

impl std::fmt::Debug for KinesisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KinesisBus")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn remote(operation: impl Into<String>, gave_up: retry::GaveUp) -> BusError {
    BusError::Remote {
        backend: BACKEND,
        operation: operation.into(),
        attempts: gave_up.attempts,
        reason: gave_up.error.message,
    }
}

impl KinesisBus {
    /// A bus on the configured endpoint. Makes no call (streams are checked when used).
    pub async fn connect(config: KinesisConfig) -> Result<Self, BusError> {
        let prefix = config.stream_prefix.clone().unwrap_or_default();
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(BusError::Config(format!(
                "kinesis stream prefix `{prefix}` may only hold ASCII letters, digits, `.`, `_` and `-`"
            )));
        }
        if config.region.is_empty() {
            return Err(BusError::Config("kinesis region is empty".into()));
        }
        // The SDK's retry layer is off: our loop (retry.rs) is the only one, so the bounds in
        // `RetryPolicy` are the real bounds and nothing multiplies them.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(config.attempt_timeout.min(Duration::from_secs(3)))
                    .operation_attempt_timeout(config.attempt_timeout)
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        match (&config.access_key_id, &config.secret_access_key) {
            (Some(id), Some(secret)) => {
                loader = loader.credentials_provider(Credentials::new(
                    id,
                    secret,
                    None,
                    None,
                    "fp-bus-static",
                ));
            }
            (None, None) => {}
            _ => {
                return Err(BusError::Config(
                    "kinesis access_key_id and secret_access_key must be given together".into(),
                ));
            }
        }
        let sdk = loader.load().await;
        Ok(Self {
            client: Client::new(&sdk),
            prefix,
            retry: config.retry,
            stream_ready_timeout: config.stream_ready_timeout,
            shards: Mutex::new(HashMap::new()),
        })
    }

    /// The stream name of a topic.
    pub fn stream_name(&self, topic: &str) -> Result<String, BusError> {
        validate_topic_name(topic)?;
        let name = format!("{}{topic}", self.prefix);
        if name.len() > crate::topics::MAX_TOPIC_NAME_LEN {
            return Err(BusError::InvalidTopicName {
                topic: topic.to_owned(),
                reason: "with the stream prefix it is longer than 128 characters",
            });
        }
        Ok(name)
    }

    /// Delete a topic's stream (tests and teardown; not part of [`EventBus`]). A missing
    /// stream is not an error.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), BusError> {
        let stream = self.stream_name(topic)?;
        self.forget(topic);
        let result = retry::retry(&self.retry, || async {
            self.client
                .delete_stream()
                .stream_name(&stream)
                .enforce_consumer_deletion(true)
                .send()
                .await
                .map_err(|e| retry::classify(&e))
        })
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(g) if g.error.class == retry::Class::NotFound => Ok(()),
            Err(g) => Err(remote(format!("DeleteStream {stream}"), g)),
        }
    }

    fn forget(&self, topic: &str) {
        if let Ok(mut cache) = self.shards.lock() {
            cache.remove(topic);
        }
    }

    /// Map a final failure: a missing stream is an unknown topic (and forgets its shards).
    fn fail(&self, topic: &str, operation: String, g: retry::GaveUp) -> BusError {
        if g.error.class == retry::Class::NotFound {
            self.forget(topic);
            BusError::UnknownTopic {
                topic: topic.to_owned(),
            }
        } else {
            remote(operation, g)
        }
    }

    /// Every shard of the stream, listed fresh (ListShards, paginated).
    async fn list_shards(&self, topic: &str, stream: &str) -> Result<Vec<Shard>, BusError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = retry::retry(&self.retry, || async {
                // With a NextToken the stream name must not be sent (API rule).
                let req = match &token {
                    Some(t) => self.client.list_shards().next_token(t),
                    None => self.client.list_shards().stream_name(stream),
                };
                req.send().await.map_err(|e| retry::classify(&e))
            })
            .await
            .map_err(|g| self.fail(topic, format!("ListShards {stream}"), g))?;
            for s in page.shards() {
                let range = s.sequence_number_range();
                // A closed shard (resharded away) has an ending sequence; topics are never
                // resharded, so only open shards are partitions.
                if range.and_then(|r| r.ending_sequence_number()).is_some() {
                    continue;
                }
                out.push(Shard {
                    id: s.shard_id().to_owned(),
                    starting_sequence: range
                        .map(|r| r.starting_sequence_number().to_owned())
                        .unwrap_or_default(),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The shards of a topic indexed by partition number, cached.
    async fn shards(&self, topic: &str) -> Result<Arc<StreamShards>, BusError> {
        let stream = self.stream_name(topic)?;
        if let Some(hit) = self.shards.lock().ok().and_then(|c| c.get(topic).cloned()) {
            return Ok(hit);
        }
        let listed = self.index_shards(&stream, self.list_shards(topic, &stream).await?)?;
        let listed = Arc::new(listed);
        if let Ok(mut cache) = self.shards.lock() {
            cache.insert(topic.to_owned(), Arc::clone(&listed));
        }
        Ok(listed)
    }

    /// Order shards by partition number and check they are exactly `0..n`.
    fn index_shards(&self, stream: &str, shards: Vec<Shard>) -> Result<StreamShards, BusError> {
        let mut numbered: Vec<(u32, Shard)> = Vec::with_capacity(shards.len());
        for s in shards {
            let n = shard_number(&s.id).ok_or_else(|| {
                BusError::Internal(format!(
                    "stream {stream}: shard id `{}` is not `shardId-<number>`",
                    s.id
                ))
            })?;
            numbered.push((n, s));
        }
        numbered.sort_by_key(|(n, _)| *n);
        for (i, (n, s)) in numbered.iter().enumerate() {
            if u32::try_from(i).ok() != Some(*n) {
                return Err(BusError::Internal(format!(
                    "stream {stream}: open shards are not numbered 0..{} (found {}); was it resharded?",
                    numbered.len(),
                    s.id
                )));
            }
        }
        Ok(StreamShards {
            shards: numbered.into_iter().map(|(_, s)| s).collect(),
        })
    }

    async fn shard(&self, topic: &str, partition: u32) -> Result<(String, Shard), BusError> {
        let stream = self.stream_name(topic)?;
        let shards = self.shards(topic).await?;
        let shard = usize::try_from(partition)
            .ok()
            .and_then(|p| shards.shards.get(p))
            .cloned()
            .ok_or_else(|| BusError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions: u32::try_from(shards.shards.len()).unwrap_or(u32::MAX),
            })?;
        Ok((stream, shard))
    }

    /// `(status, open shard count)` of a stream, `None` if it does not exist.
    async fn describe(&self, stream: &str) -> Result<Option<(StreamStatus, u32)>, BusError> {
        let result = retry::retry(&self.retry, || async {
            self.client
                .describe_stream_summary()
                .stream_name(stream)
                .send()
                .await
                .map_err(|e| retry::classify(&e))
        })
        .await;
        match result {
            Ok(out) => {
                let summary = out.stream_description_summary().ok_or_else(|| {
                    BusError::Internal(format!(
                        "DescribeStreamSummary {stream} answered without a summary"
                    ))
                })?;
                let count = u32::try_from(summary.open_shard_count()).unwrap_or(0);
                Ok(Some((summary.stream_status().clone(), count)))
            }
            Err(g) if g.error.class == retry::Class::NotFound => Ok(None),
            Err(g) => Err(remote(format!("DescribeStreamSummary {stream}"), g)),
        }
    }

    /// Wait until the stream is ACTIVE; returns its open shard count.
    async fn wait_active(&self, stream: &str) -> Result<u32, BusError> {
        let deadline = Instant::now() + self.stream_ready_timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            match self.describe(stream).await? {
                Some((StreamStatus::Active, count)) => return Ok(count),
                // UPDATING streams accept reads and writes; only the count may be in flux,
                // and topics are never resharded by this code.
                Some((StreamStatus::Updating, count)) => return Ok(count),
                Some((StreamStatus::Deleting, _)) => {
                    return Err(BusError::Remote {
                        backend: BACKEND,
                        operation: format!("provision stream {stream}"),
                        attempts: 1,
                        reason: "the stream is being deleted; provision again once it is gone"
                            .into(),
                    });
                }
                // CREATING (or a status this SDK does not know yet), or not visible yet.
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(BusError::Remote {
                    backend: BACKEND,
                    operation: format!("provision stream {stream}"),
                    attempts: 1,
                    reason: format!(
                        "not ACTIVE within {} s",
                        self.stream_ready_timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    async fn provision_one(&self, spec: &TopicSpec) -> Result<(), BusError> {
        validate_spec(spec)?;
        let stream = self.stream_name(&spec.name)?;
        if self.describe(&stream).await?.is_none() {
            let shard_count = i32::try_from(spec.partitions).map_err(|_| {
                BusError::Config(format!(
                    "topic `{}`: {} partitions is too many",
                    spec.name, spec.partitions
                ))
            })?;
            let created = retry::retry(&self.retry, || async {
                self.client
                    .create_stream()
                    .stream_name(&stream)
                    .shard_count(shard_count)
                    .send()
                    .await
                    .map_err(|e| retry::classify(&e))
            })
            .await;
            match created {
                Ok(_) => tracing::info!(stream, shards = spec.partitions, "created kinesis stream"),
                // Someone else created it meanwhile: check its shard count below.
                Err(g) if g.error.class == retry::Class::InUse => {}
                Err(g) => return Err(remote(format!("CreateStream {stream}"), g)),
            }
        }
        let existing = self.wait_active(&stream).await?;
        if existing != spec.partitions {
            return Err(BusError::TopicConflict {
                topic: spec.name.clone(),
                existing,
                requested: spec.partitions,
            });
        }
        Ok(())
    }

    async fn list_topics(&self) -> Result<Vec<TopicSpec>, BusError> {
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let page = retry::retry(&self.retry, || async {
                let mut req = self.client.list_streams().limit(1000);
                if let Some(s) = &start {
                    req = req.exclusive_start_stream_name(s);
                }
                req.send().await.map_err(|e| retry::classify(&e))
            })
            .await
            .map_err(|g| remote("ListStreams", g))?;
            names.extend(page.stream_names().iter().cloned());
            match (page.has_more_streams(), page.stream_names().last()) {
                (true, Some(last)) => start = Some(last.clone()),
                _ => break,
            }
        }
        let mut out = Vec::new();
        for stream in names {
            let Some(topic) = stream.strip_prefix(&self.prefix) else {
                continue;
            };
            if validate_topic_name(topic).is_err() {
                continue;
            }
            // A stream deleted between the listing and here is simply not a topic any more.
            if let Some((_, count)) = self.describe(&stream).await? {
                out.push(TopicSpec::new(topic, count));
            }
        }
        out.sort();
        Ok(out)
    }

    async fn publish_records(
        &self,
        topic: &str,
        records: Vec<OutRecord>,
    ) -> Result<Vec<EbRef>, BusError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let stream = self.stream_name(topic)?;
        for r in &records {
            let size = r.value.len() + r.partition_key.as_str().len();
            if size > MAX_RECORD_BYTES {
                return Err(BusError::RecordTooLarge {
                    size: r.value.len(),
                    max: MAX_RECORD_BYTES - r.partition_key.as_str().len(),
                });
            }
        }
        // Fails with UnknownTopic before anything is sent when the stream does not exist.
        self.shards(topic).await?;

        let entries: Vec<PutRecordsRequestEntry> = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(r.value.to_vec()))
                    .partition_key(r.partition_key.as_str())
                    .explicit_hash_key(explicit_hash_key(&r.partition_key))
                    .build()
                    .map_err(|e| BusError::Internal(format!("PutRecords entry: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let keys: Vec<&str> = records.iter().map(|r| r.partition_key.as_str()).collect();
        let sizes: Vec<usize> = records
            .iter()
            .map(|r| r.value.len() + r.partition_key.as_str().len())
            .collect();

        let mut acked: Vec<Option<batch::Appended>> = vec![None; records.len()];
        let mut stamps: Vec<Option<TsUtc>> = vec![None; records.len()];
        for segment in batch::plan_segments(&keys, &sizes) {
            let range = segment.clone();
            let result = batch::put_segment(&self.retry, segment, &mut acked, |pending| {
                let request: Vec<PutRecordsRequestEntry> = pending
                    .iter()
                    .filter_map(|&i| entries.get(i).cloned())
                    .collect();
                let stream = &stream;
                async move {
                    batch::put_with_retry(&self.retry, || async {
                        let out = self
                            .client
                            .put_records()
                            .stream_name(stream)
                            .set_records(Some(request.clone()))
                            .send()
                            .await
                            .map_err(|e| retry::classify(&e))?;
                        Ok(out
                            .records()
                            .iter()
                            .map(|e| match (e.sequence_number(), e.shard_id()) {
                                (Some(seq), Some(shard)) if e.error_code().is_none() => {
                                    batch::EntryResult::Ok {
                                        sequence: seq.to_owned(),
                                        shard_id: shard.to_owned(),
                                    }
                                }
                                _ => batch::EntryResult::Failed {
                                    code: e.error_code().unwrap_or("InternalFailure").to_owned(),
                                    message: e.error_message().unwrap_or_default().to_owned(),
                                },
                            })
                            .collect())
                    })
                    .await
                }
            })
            .await;
            // Stamp what was acknowledged even when the segment failed, for the log below.
            let now = TsUtc::now();
            for i in range {
                if acked.get(i).is_some_and(Option::is_some)
                    && let Some(slot) = stamps.get_mut(i)
                    && slot.is_none()
                {
                    *slot = Some(now.clone());
                }
            }
            if let Err(g) = result {
                let durable = acked.iter().filter(|a| a.is_some()).count();
                tracing::warn!(
                    stream,
                    durable,
                    total = records.len(),
                    "kinesis publish failed part-way; acknowledged records stay durable"
                );
                return Err(self.fail(topic, format!("PutRecords {stream}"), g));
            }
        }

        acked
            .into_iter()
            .zip(stamps)
            .map(|(a, stamp)| {
                let a = a.ok_or_else(|| {
                    BusError::Internal("a PutRecords entry was never acknowledged".into())
                })?;
                let partition = shard_number(&a.shard_id).ok_or_else(|| {
                    BusError::Internal(format!(
                        "PutRecords {stream}: shard id `{}` is not `shardId-<number>`",
                        a.shard_id
                    ))
                })?;
                Ok(EbRef {
                    topic: topic.to_owned(),
                    partition,
                    offset: a.sequence,
                    offset_kind: OffsetKind::KinesisSequence,
                    published_at_utc: Some(stamp.unwrap_or_else(TsUtc::now)),
                })
            })
            .collect()
    }

    async fn iterator(
        &self,
        topic: &str,
        stream: &str,
        shard: &str,
        kind: ShardIteratorType,
        sequence: Option<&str>,
        timestamp: Option<DateTime>,
    ) -> Result<Option<String>, BusError> {
        let out = retry::retry(&self.retry, || async {
            self.client
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard)
                .shard_iterator_type(kind.clone())
                .set_starting_sequence_number(sequence.map(str::to_owned))
                .set_timestamp(timestamp)
                .send()
                .await
                .map_err(|e| retry::classify(&e))
        })
        .await
        .map_err(|g| self.fail(topic, format!("GetShardIterator {stream}/{shard}"), g))?;
        Ok(out.shard_iterator().map(str::to_owned))
    }

    /// One `GetRecords`: the records, the next iterator, and whether the shard is caught up.
    async fn get_records(
        &self,
        topic: &str,
        stream: &str,
        iterator: &str,
        limit: usize,
    ) -> Result<(Vec<aws_sdk_kinesis::types::Record>, Option<String>, bool), BusError> {
        let limit = i32::try_from(limit.clamp(1, MAX_GET_RECORDS)).unwrap_or(1);
        let out = retry::retry(&self.retry, || async {
            self.client
                .get_records()
                .shard_iterator(iterator)
                .limit(limit)
                .send()
                .await
                .map_err(|e| retry::classify(&e))
        })
        .await
        .map_err(|g| self.fail(topic, format!("GetRecords {stream}"), g))?;
        let caught_up = out.millis_behind_latest().unwrap_or(0) == 0;
        let next = out.next_shard_iterator().map(str::to_owned);
        Ok((out.records().to_vec(), next, caught_up))
    }

    async fn read_records(
        &self,
        topic: &str,
        partition: u32,
        from: &ReadFrom,
        max_records: usize,
    ) -> Result<ReadBatch, BusError> {
        let (stream, shard) = self.shard(topic, partition).await?;
        let (kind, sequence) = match from {
            ReadFrom::Earliest => (ShardIteratorType::TrimHorizon, None),
            ReadFrom::Checkpoint(seq) => {
                if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(BusError::InvalidOffset {
                        offset: seq.chars().take(80).collect(),
                        kind: OffsetKind::KinesisSequence,
                    });
                }
                (ShardIteratorType::AfterSequenceNumber, Some(seq.as_str()))
            }
        };
        if max_records == 0 {
            return Ok(ReadBatch {
                records: Vec::new(),
                next: from.clone(),
            });
        }
        let mut iterator = self
            .iterator(topic, &stream, &shard.id, kind, sequence, None)
            .await?;
        let mut raw = Vec::new();
        // GetRecords may answer empty while records lie further on (an iterator in a gap of
        // the shard); follow the iterator a few times while Kinesis says we are behind.
        for _ in 0..5 {
            let Some(it) = iterator.take() else { break };
            let (records, next, caught_up) =
                self.get_records(topic, &stream, &it, max_records).await?;
            let got = !records.is_empty();
            raw = records;
            iterator = next;
            if got || caught_up {
                break;
            }
        }
        raw.truncate(max_records);
        let mut records = Vec::with_capacity(raw.len());
        for r in raw {
            records.push(to_bus_record(&stream, partition, r)?);
        }
        let next = match records.last() {
            Some(last) => ReadFrom::Checkpoint(last.offset.clone()),
            None => from.clone(),
        };
        Ok(ReadBatch { records, next })
    }

    /// The sequence of the last retained record of a shard, `None` if it holds none.
    async fn last_sequence(
        &self,
        topic: &str,
        stream: &str,
        shard: &str,
    ) -> Result<Option<String>, BusError> {
        let windows = [
            Some(Duration::from_secs(15)),
            Some(Duration::from_secs(600)),
            Some(Duration::from_secs(6 * 3600)),
            None,
        ];
        for window in windows {
            let iterator = match window {
                Some(w) => {
                    let micros = TsUtc::now()
                        .unix_micros()
                        .saturating_sub(i64::try_from(w.as_micros()).unwrap_or(i64::MAX));
                    let at = DateTime::from_secs_and_nanos(
                        micros.div_euclid(1_000_000),
                        u32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
                    );
                    self.iterator(
                        topic,
                        stream,
                        shard,
                        ShardIteratorType::AtTimestamp,
                        None,
                        Some(at),
                    )
                    .await?
                }
                None => {
                    self.iterator(
                        topic,
                        stream,
                        shard,
                        ShardIteratorType::TrimHorizon,
                        None,
                        None,
                    )
                    .await?
                }
            };
            let mut iterator = iterator;
            let mut last = None;
            while let Some(it) = iterator.take() {
                let (records, next, caught_up) = self
                    .get_records(topic, stream, &it, MAX_GET_RECORDS)
                    .await?;
                let empty = records.is_empty();
                if let Some(r) = records.last() {
                    last = Some(r.sequence_number().to_owned());
                }
                if empty && caught_up {
                    break;
                }
                iterator = next;
            }
            if last.is_some() {
                return Ok(last);
            }
        }
        Ok(None)
    }

    async fn partition_infos(&self, topic: &str) -> Result<Vec<PartitionInfo>, BusError> {
        let stream = self.stream_name(topic)?;
        // Listed fresh: a shard's StartingSequenceNumber can move (moto reports the oldest
        // retained record's sequence).
        let shards = self.index_shards(&stream, self.list_shards(topic, &stream).await?)?;
        let mut out = Vec::with_capacity(shards.shards.len());
        for (i, shard) in shards.shards.iter().enumerate() {
            let end = self
                .last_sequence(topic, &stream, &shard.id)
                .await?
                .unwrap_or_else(|| shard.starting_sequence.clone());
            out.push(PartitionInfo {
                partition: u32::try_from(i).unwrap_or(u32::MAX),
                start_offset: shard.starting_sequence.clone(),
                end_offset: end,
            });
        }
        Ok(out)
    }
}

fn to_bus_record(
    stream: &str,
    partition: u32,
    r: aws_sdk_kinesis::types::Record,
) -> Result<BusRecord, BusError> {
    let offset = r.sequence_number().to_owned();
    let partition_key = Hex64::parse(r.partition_key()).map_err(|e| {
        BusError::Internal(format!(
            "{stream}/{partition} record {offset}: partition key is not a platform key ({e}); \
             was it written by another producer?"
        ))
    })?;
    let published_at_utc = match r.approximate_arrival_timestamp() {
        Some(t) => {
            let micros = t
                .secs()
                .saturating_mul(1_000_000)
                .saturating_add(i64::from(t.subsec_nanos() / 1000));
            TsUtc::from_unix_micros(micros).map_err(|e| {
                BusError::Internal(format!(
                    "{stream}/{partition} record {offset}: arrival timestamp: {e}"
                ))
            })?
        }
        None => TsUtc::now(),
    };
    let value = Bytes::from(r.data.into_inner());
    Ok(BusRecord {
        offset,
        partition_key,
        value,
        published_at_utc,
    })
}

impl EventBus for KinesisBus {
    fn backend_name(&self) -> &'static str {
        BACKEND
    }

    fn offset_kind(&self) -> OffsetKind {
        OffsetKind::KinesisSequence
    }

    fn provision<'a>(&'a self, topics: &'a [TopicSpec]) -> BusFuture<'a, ()> {
        Box::pin(async move {
            for spec in topics {
                self.provision_one(spec).await?;
                self.forget(&spec.name);
            }
            Ok(())
        })
    }

    fn topics(&self) -> BusFuture<'_, Vec<TopicSpec>> {
        Box::pin(self.list_topics())
    }

    fn partitions<'a>(&'a self, topic: &'a str) -> BusFuture<'a, Vec<PartitionInfo>> {
        Box::pin(self.partition_infos(topic))
    }

    fn publish_batch<'a>(
        &'a self,
        topic: &'a str,
        records: Vec<OutRecord>,
    ) -> BusFuture<'a, Vec<EbRef>> {
        Box::pin(self.publish_records(topic, records))
    }

    fn read<'a>(
        &'a self,
        topic: &'a str,
        partition: u32,
        from: &'a ReadFrom,
        max_records: usize,
    ) -> BusFuture<'a, ReadBatch> {
        Box::pin(self.read_records(topic, partition, from, max_records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_hash_key_is_the_first_128_bits_in_decimal() {
        let k = Hex64::parse(format!("{}{}", "f".repeat(32), "0".repeat(32))).expect("hex");
        assert_eq!(explicit_hash_key(&k), u128::MAX.to_string());
        let k = Hex64::parse(format!("{}{}", "0".repeat(31), "a".repeat(33))).expect("hex");
        assert_eq!(explicit_hash_key(&k), "10");
        let k = fp_rails::ids::partition_key(&serde_json::json!("flow-1"));
        let first = u128::from_str_radix(&k.as_str()[..32], 16).expect("hex");
        assert_eq!(explicit_hash_key(&k), first.to_string());
    }

    #[test]
    fn shard_numbers_come_from_the_id_suffix() {
        assert_eq!(shard_number("shardId-000000000003"), Some(3));
        assert_eq!(shard_number("shardId-000000000000"), Some(0));
        assert_eq!(shard_number("shardId-"), None);
        assert_eq!(shard_number("shard-1"), None);
        assert_eq!(shard_number("shardId-12x"), None);
    }
}
