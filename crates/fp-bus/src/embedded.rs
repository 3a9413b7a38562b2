//! The embedded event bus: a segmented, checksummed, group-committed log on local disk; the
//! `local` profile's backend.
//!
//! Layout under the root directory:
//!
//! ```text
//! <root>/LOCK                                  held (flock) while a process has the bus open
//! <root>/<topic>/topic.json                    {"format", "name", "partitions"}
//! <root>/<topic>/<partition>/<base:020>.log    segment: header + frames (see `record`)
//! <root>/<topic>/<partition>/<base:020>.index  its sparse offset index
//! ```
//!
//! Offsets are `file_line`: 0-based record numbers per partition, as decimal strings in
//! `eb_ref`s. A key's partition is [`crate::partition_for_key`].
//!
//! One process opens a root at a time (the lock makes a second open fail with
//! [`BusError::Locked`] instead of corrupting the log). Within it, any number of readers run
//! alongside the one writer thread per partition.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fp_rails::{EbRef, OffsetKind, TsUtc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use crate::record::FRAME_OVERHEAD;
pub use crate::retention::RetentionPolicy;
pub use crate::segment::SEGMENT_HEADER_LEN;

use crate::error::{BusError, BusResult};
use crate::partition::{PartitionLog, ReadLimits, decimal};
use crate::recovery::{self, Expect};
use crate::retention;
use crate::topics::{TopicSpec, validate_spec, validate_topic_name};
use crate::writer::{self, AppendAck, AppendRequest, WriterConfig, WriterState};
use crate::{
    BusFuture, EventBus, OutRecord, PartitionInfo, ReadBatch, ReadFrom, parse_numeric_offset,
    partition_for_key,
};

/// Tuning of the embedded log. `Default` suits the `local` profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// Roll to a new segment before one would grow past this (at most 4 GiB - 1: index
    /// positions are 32-bit). Default 64 MiB.
    pub segment_max_bytes: u64,
    /// Log bytes between sparse index entries: a seek scans at most this much. Default 4 KiB.
    pub index_interval_bytes: u64,
    /// How long the writer waits after the first queued request before writing, to gather
    /// more. Default 0: requests queued while an fsync is in flight are coalesced anyway.
    pub linger: Duration,
    /// Largest record value accepted. Default 1 MiB, the Kinesis limit, so `local` refuses
    /// what `dev` would.
    pub max_record_bytes: usize,
    /// Stop coalescing queued requests into one write past this size. Default 16 MiB.
    pub max_batch_bytes: usize,
    /// Publish requests queued per partition before publishers wait (backpressure).
    pub queue_depth: usize,
    /// Largest single file read of a reader. Default 1 MiB.
    pub read_chunk_bytes: usize,
    /// A read call stops after this many value bytes (at least one record). Default 16 MiB.
    pub max_read_bytes: usize,
    /// Retention of closed segments. Default: keep everything.
    pub retention: RetentionPolicy,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            segment_max_bytes: 64 * 1024 * 1024,
            index_interval_bytes: 4096,
            linger: Duration::ZERO,
            max_record_bytes: 1024 * 1024,
            max_batch_bytes: 16 * 1024 * 1024,
            queue_depth: 1024,
            read_chunk_bytes: 1024 * 1024,
            max_read_bytes: 16 * 1024 * 1024,
            retention: RetentionPolicy::keep_all(),
        }
    }
}

impl EmbeddedConfig {
    fn validate(&self) -> BusResult<()> {
        let fail = |m: &str| Err(BusError::Config(m.to_owned()));
        if self.segment_max_bytes <= crate::segment::SEGMENT_HEADER_LEN
            || self.segment_max_bytes > u64::from(u32::MAX)
        {
            return fail("segment_max_bytes must be between 17 bytes and 4 GiB - 1");
        }
        if self.index_interval_bytes == 0 {
            return fail("index_interval_bytes must be at least 1");
        }
        if self.max_record_bytes == 0 || self.max_record_bytes > crate::record::MAX_VALUE_LEN {
            return fail("max_record_bytes must be between 1 byte and 256 MiB");
        }
        if self.queue_depth == 0 || self.read_chunk_bytes == 0 || self.max_read_bytes == 0 {
            return fail("queue_depth, read_chunk_bytes and max_read_bytes must be at least 1");
        }
        Ok(())
    }

    fn writer_config(&self) -> WriterConfig {
        WriterConfig {
            segment_max_bytes: self.segment_max_bytes,
            index_interval_bytes: self.index_interval_bytes,
            linger: self.linger,
            max_batch_bytes: self.max_batch_bytes,
            retention: self.retention,
        }
    }

    fn read_limits(&self) -> ReadLimits {
        ReadLimits {
            chunk_bytes: self.read_chunk_bytes,
            max_read_bytes: self.max_read_bytes,
        }
    }
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// The deleted segment files.
    pub deleted_segments: Vec<PathBuf>,
}

/// `topic.json`: the partition count is fixed at provisioning, so it is stored with the topic.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicMeta {
    format: String,
    name: String,
    partitions: u32,
}

const TOPIC_FORMAT: &str = "fp-bus.embedded.topic.v1";
const TOPIC_META: &str = "topic.json";

/// The writer of a partition: not started until the first publish (most partitions of a
/// `local` run are only read, or not used at all).
enum WriterSlot {
    Idle(Box<WriterState>),
    Running {
        tx: mpsc::Sender<AppendRequest>,
        join: JoinHandle<()>,
    },
    /// Damaged on open (or the thread could not start): appends are refused.
    Unavailable,
    /// Placeholder while the slot is being changed under its lock; never observed outside.
    Starting,
}

struct Partition {
    log: Arc<PartitionLog>,
    writer: Mutex<WriterSlot>,
    queue_depth: usize,
}

impl Partition {
    fn sender(&self) -> BusResult<mpsc::Sender<AppendRequest>> {
        let mut slot = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *slot, WriterSlot::Starting) {
            WriterSlot::Running { tx, join } => {
                let sender = tx.clone();
                *slot = WriterSlot::Running { tx, join };
                Ok(sender)
            }
            WriterSlot::Idle(state) => {
                let (tx, rx) = mpsc::channel(self.queue_depth);
                match writer::spawn(*state, rx) {
                    Ok(join) => {
                        *slot = WriterSlot::Running {
                            tx: tx.clone(),
                            join,
                        };
                        Ok(tx)
                    }
                    Err(e) => {
                        *slot = WriterSlot::Unavailable;
                        Err(e)
                    }
                }
            }
            WriterSlot::Unavailable | WriterSlot::Starting => {
                *slot = WriterSlot::Unavailable;
                Err(self
                    .log
                    .damage_error()
                    .unwrap_or_else(|| BusError::WriterFailed {
                        topic: self.log.topic.clone(),
                        partition: self.log.partition,
                        reason: "the writer could not be started".into(),
                    }))
            }
        }
    }

    async fn submit(
        &self,
        records: Vec<OutRecord>,
    ) -> BusResult<oneshot::Receiver<BusResult<AppendAck>>> {
        let tx = self.sender()?;
        let (reply, rx) = oneshot::channel();
        tx.send(AppendRequest { records, reply })
            .await
            .map_err(|_| BusError::Closed)?;
        Ok(rx)
    }
}

impl Drop for Partition {
    /// Stop the writer and wait for it: queued requests are still written and acknowledged,
    /// and once the bus is dropped its files are quiescent (a reopen sees everything).
    fn drop(&mut self) {
        let slot = std::mem::replace(
            self.writer
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
            WriterSlot::Unavailable,
        );
        if let WriterSlot::Running { tx, join } = slot {
            drop(tx);
            if join.join().is_err() {
                tracing::error!(topic = %self.log.topic, partition = self.log.partition, "event bus writer panicked");
            }
        }
    }
}

struct TopicLog {
    spec: TopicSpec,
    partitions: Vec<Partition>,
}

impl TopicLog {
    fn partition(&self, partition: u32) -> BusResult<&Partition> {
        self.partitions
            .get(partition as usize)
            .ok_or_else(|| BusError::UnknownPartition {
                topic: self.spec.name.clone(),
                partition,
                partitions: self.spec.partitions,
            })
    }
}

struct Inner {
    root: PathBuf,
    config: EmbeddedConfig,
    // Declared before the lock: dropped (writers joined) before the lock is released.
    topics: RwLock<BTreeMap<String, Arc<TopicLog>>>,
    provisioning: Mutex<()>,
    _lock: File,
}

/// The embedded log. Open one per root directory per process; share it as
/// `Arc<dyn EventBus>`. Dropping it stops the writers after they flush their queues.
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBus")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl EmbeddedBus {
    /// Open (creating if needed) the bus under `root`: take the lock, then recover every
    /// provisioned topic. Blocking; call it at start-up (or in `spawn_blocking`).
    pub fn open(root: impl Into<PathBuf>, config: EmbeddedConfig) -> BusResult<Self> {
        config.validate()?;
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| BusError::io(&root, e))?;
        let lock_path = root.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| BusError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(BusError::Locked { path: lock_path }),
            Err(fs::TryLockError::Error(e)) => return Err(BusError::io(&lock_path, e)),
        }

        let mut topics = BTreeMap::new();
        for entry in fs::read_dir(&root).map_err(|e| BusError::io(&root, e))? {
            let entry = entry.map_err(|e| BusError::io(&root, e))?;
            let meta_path = entry.path().join(TOPIC_META);
            if !meta_path.is_file() {
                // Not a topic, or one whose provisioning never finished (re-provisioning
                // completes it).
                continue;
            }
            let spec = read_topic_meta(&meta_path, &entry.file_name().to_string_lossy())?;
            let topic = open_topic(&root, spec, &config, Expect::Existing)?;
            topics.insert(topic.spec.name.clone(), Arc::new(topic));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                config,
                topics: RwLock::new(topics),
                provisioning: Mutex::new(()),
                _lock: lock,
            }),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Apply the retention policy to every partition now. The writer also applies it after
    /// every segment roll; call this periodically for age-based retention of idle topics.
    pub fn enforce_retention(&self) -> BusResult<RetentionReport> {
        self.enforce_retention_at(SystemTime::now())
    }

    /// Apply the retention policy as of `now` (tests and tools pass a clock).
    pub fn enforce_retention_at(&self, now: SystemTime) -> BusResult<RetentionReport> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let topics: Vec<Arc<TopicLog>> = self.inner.read_topics().values().cloned().collect();
        let mut report = RetentionReport::default();
        for topic in topics {
            for p in &topic.partitions {
                let deleted = retention::apply(&p.log, &self.inner.config.retention, now)?;
                report.deleted_segments.extend(deleted);
            }
        }
        Ok(report)
    }

    fn provision_blocking(inner: &Inner, specs: &[TopicSpec]) -> BusResult<()> {
        let _guard = inner
            .provisioning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for spec in specs {
            validate_spec(spec)?;
            if let Some(existing) = inner.read_topics().get(&spec.name) {
                if existing.spec.partitions != spec.partitions {
                    return Err(BusError::TopicConflict {
                        topic: spec.name.clone(),
                        existing: existing.spec.partitions,
                        requested: spec.partitions,
                    });
                }
                continue;
            }
            let topic_dir = inner.root.join(&spec.name);
            fs::create_dir_all(&topic_dir).map_err(|e| BusError::io(&topic_dir, e))?;
            // Partitions first, the metadata last: a crash in between leaves a directory that
            // open ignores and the next provisioning completes.
            let topic = open_topic(&inner.root, spec.clone(), &inner.config, Expect::Create)?;
            write_topic_meta(&topic_dir, spec)?;
            crate::segment::sync_dir(&inner.root)?;
            inner
                .topics
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(spec.name.clone(), Arc::new(topic));
        }
        Ok(())
    }
}

impl Inner {
    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<TopicLog>>> {
        self.topics.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn topic(&self, name: &str) -> BusResult<Arc<TopicLog>> {
        self.read_topics()
            .get(name)
            .cloned()
            .ok_or_else(|| BusError::UnknownTopic {
                topic: name.chars().take(200).collect(),
            })
    }
}

fn read_topic_meta(path: &Path, dir_name: &str) -> BusResult<TopicSpec> {
    let bytes = fs::read(path).map_err(|e| BusError::io(path, e))?;
    let meta: TopicMeta = serde_json::from_slice(&bytes).map_err(|e| {
        BusError::Config(format!(
            "{} is not a topic description: {e}",
            path.display()
        ))
    })?;
    if meta.format != TOPIC_FORMAT || meta.name != dir_name || meta.partitions == 0 {
        return Err(BusError::Config(format!(
            "{} describes topic `{}` ({} partitions, format `{}`) but must describe `{dir_name}` \
             in format `{TOPIC_FORMAT}` with at least one partition",
            path.display(),
            meta.name,
            meta.partitions,
            meta.format
        )));
    }
    validate_topic_name(&meta.name)?;
    Ok(TopicSpec::new(meta.name, meta.partitions))
}

fn write_topic_meta(topic_dir: &Path, spec: &TopicSpec) -> BusResult<()> {
    let meta = TopicMeta {
        format: TOPIC_FORMAT.to_owned(),
        name: spec.name.clone(),
        partitions: spec.partitions,
    };
    let tmp = topic_dir.join("topic.json.tmp");
    let path = topic_dir.join(TOPIC_META);
    let bytes = serde_json::to_vec_pretty(&meta)
        .map_err(|e| BusError::Internal(format!("cannot encode topic metadata: {e}")))?;
    let f = File::create(&tmp).map_err(|e| BusError::io(&tmp, e))?;
    std::io::Write::write_all(&mut &f, &bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| BusError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| BusError::io(&path, e))?;
    crate::segment::sync_dir(topic_dir)
}

fn open_topic(
    root: &Path,
    spec: TopicSpec,
    config: &EmbeddedConfig,
    expect: Expect,
) -> BusResult<TopicLog> {
    let now = writer::now_micros();
    let mut partitions = Vec::with_capacity(spec.partitions as usize);
    for p in 0..spec.partitions {
        let dir = root.join(&spec.name).join(p.to_string());
        let recovered = recovery::recover(
            &dir,
            expect,
            config.index_interval_bytes,
            config.read_chunk_bytes,
        )?;
        let log = Arc::new(PartitionLog::new(
            spec.name.clone(),
            p,
            dir,
            recovered.segments,
            recovered.end,
            recovered.damage,
            config.read_limits(),
        ));
        let slot = match recovered.tail {
            Some(tail) => {
                retention::apply(&log, &config.retention, now)?;
                let state = WriterState::open(Arc::clone(&log), tail, config.writer_config())?;
                WriterSlot::Idle(Box::new(state))
            }
            None => {
                if let Some(e) = log.damage_error() {
                    tracing::error!(error = %e, "event bus partition is damaged; it serves records before the damage and refuses appends");
                }
                WriterSlot::Unavailable
            }
        };
        partitions.push(Partition {
            log,
            writer: Mutex::new(slot),
            queue_depth: config.queue_depth,
        });
    }
    let parent = root.join(&spec.name);
    crate::segment::sync_dir(&parent)?;
    Ok(TopicLog { spec, partitions })
}

fn ts_of(micros: i64) -> Option<TsUtc> {
    TsUtc::from_unix_micros(micros).ok()
}

impl EventBus for EmbeddedBus {
    fn backend_name(&self) -> &'static str {
        "embedded"
    }

    fn offset_kind(&self) -> OffsetKind {
        OffsetKind::FileLine
    }

    fn provision<'a>(&'a self, topics: &'a [TopicSpec]) -> BusFuture<'a, ()> {
        let inner = Arc::clone(&self.inner);
        let specs = topics.to_vec();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || Self::provision_blocking(&inner, &specs))
                .await
                .map_err(|e| BusError::Internal(format!("provisioning task failed: {e}")))?
        })
    }

    fn topics(&self) -> BusFuture<'_, Vec<TopicSpec>> {
        let specs = self
            .inner
            .read_topics()
            .values()
            .map(|t| t.spec.clone())
            .collect();
        Box::pin(async move { Ok(specs) })
    }

    fn partitions<'a>(&'a self, topic: &'a str) -> BusFuture<'a, Vec<PartitionInfo>> {
        Box::pin(async move {
            let t = self.inner.topic(topic)?;
            t.partitions
                .iter()
                .map(|p| {
                    let (start, end) = p.log.range()?;
                    Ok(PartitionInfo {
                        partition: p.log.partition,
                        start_offset: start.to_string(),
                        end_offset: end.to_string(),
                    })
                })
                .collect()
        })
    }

    fn publish_batch<'a>(
        &'a self,
        topic: &'a str,
        records: Vec<OutRecord>,
    ) -> BusFuture<'a, Vec<EbRef>> {
        Box::pin(async move {
            let t = self.inner.topic(topic)?;
            let max = self.inner.config.max_record_bytes;
            if let Some(r) = records.iter().find(|r| r.value.len() > max) {
                return Err(BusError::RecordTooLarge {
                    size: r.value.len(),
                    max,
                });
            }
            let n = t.spec.partitions;
            // Route, remembering each record's place in its partition's group.
            let mut groups: Vec<Vec<OutRecord>> = (0..n).map(|_| Vec::new()).collect();
            let mut places = Vec::with_capacity(records.len());
            for r in records {
                let p = partition_for_key(&r.partition_key, n);
                let group = &mut groups[p as usize];
                places.push((p, group.len() as u64));
                group.push(r);
            }
            // Enqueue every partition's group before waiting: partitions fsync in parallel.
            let mut waiting = Vec::new();
            for (p, group) in groups.into_iter().enumerate() {
                if !group.is_empty() {
                    let rx = t.partitions[p].submit(group).await?;
                    waiting.push((p, rx));
                }
            }
            let mut acks: Vec<Option<(AppendAck, Option<TsUtc>)>> = vec![None; n as usize];
            for (p, rx) in waiting {
                let ack: AppendAck = rx.await.map_err(|_| BusError::Closed)??;
                // One timestamp per partition batch: rendered once, not once per record.
                acks[p] = Some((ack, ts_of(ack.published_at_micros)));
            }
            places
                .into_iter()
                .map(|(p, i)| {
                    let (ack, ts) = acks[p as usize].as_ref().ok_or_else(|| {
                        BusError::Internal(format!("no acknowledgement for partition {p}"))
                    })?;
                    Ok(EbRef {
                        topic: topic.to_owned(),
                        partition: p,
                        offset: decimal(ack.first_offset + i),
                        offset_kind: OffsetKind::FileLine,
                        published_at_utc: ts.clone(),
                    })
                })
                .collect()
        })
    }

    fn read<'a>(
        &'a self,
        topic: &'a str,
        partition: u32,
        from: &'a ReadFrom,
        max_records: usize,
    ) -> BusFuture<'a, ReadBatch> {
        Box::pin(async move {
            let t = self.inner.topic(topic)?;
            let log = Arc::clone(&t.partition(partition)?.log);
            let from = match from {
                ReadFrom::Earliest => None,
                ReadFrom::Checkpoint(s) => Some(parse_numeric_offset(OffsetKind::FileLine, s)?),
            };
            if from.is_some_and(|f| f >= log.end_offset()) {
                // A consumer tailing the end polls here often: answered without I/O, so
                // without a trip to the blocking pool.
                let (records, next) = log.read(from, max_records)?;
                return Ok(ReadBatch {
                    records,
                    next: ReadFrom::Checkpoint(decimal(next)),
                });
            }
            let (records, next) = tokio::task::spawn_blocking(move || {
                match log.read(from, max_records) {
                    // Retention moved the start between reading it and using it: once more.
                    Err(BusError::OffsetOutOfRange { .. }) if from.is_none() => {
                        log.read(None, max_records)
                    }
                    other => other,
                }
            })
            .await
            .map_err(|e| BusError::Internal(format!("read task failed: {e}")))??;
            Ok(ReadBatch {
                records,
                next: ReadFrom::Checkpoint(decimal(next)),
            })
        })
    }
}
