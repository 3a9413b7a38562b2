//! Consumer checkpoints: `(consumer, topic, partition) → exclusive-next offset`, written inside
//! the consumer's own SQL transaction.
//!
//! A consumer applies a batch, records its dedupe rows and calls [`save`] in the *same*
//! [`SqlTx`], so after a crash the stored offset and the stored state always agree: either both
//! include the batch or neither does (contracts §4.7, rail "checkpoint advance only in the same
//! durable transaction as the state mutation"). The offset stored is exactly
//! [`crate::ReadBatch::next`], so a restart resumes with `ReadFrom::Checkpoint(next_offset)`.

use std::collections::BTreeMap;

use fp_rails::{OffsetKind, TsUtc};
use fp_substrate::sql::{Migration, SqlError, SqlStore, SqlTx, SqlValue};

use crate::ReadFrom;

/// Migration component name in `fp_schema_migrations`.
pub const COMPONENT: &str = "fp-bus.checkpoints";

/// The checkpoint table. Offsets are text (Kinesis sequences are ~56-digit strings).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "consumer checkpoints",
    sql: "CREATE TABLE IF NOT EXISTS fp_consumer_checkpoints (
        consumer TEXT NOT NULL,
        topic TEXT NOT NULL,
        partition_id BIGINT NOT NULL,
        next_offset TEXT NOT NULL,
        offset_kind TEXT NOT NULL,
        watermark_ts_utc TEXT,
        updated_at_utc TEXT NOT NULL,
        PRIMARY KEY (consumer, topic, partition_id)
    )",
}];

/// Create the checkpoint table if needed (idempotent; refuses drift).
pub async fn migrate(store: &SqlStore) -> Result<(), SqlError> {
    store.migrate(COMPONENT, MIGRATIONS).await.map(|_| ())
}

/// A stored checkpoint of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Where the consumer resumes.
    pub next: ReadFrom,
    /// The offset kind it was written for (a consumer switching backends must not reuse it).
    pub offset_kind: String,
    /// Largest `ts_utc` applied on this partition (the partition's watermark).
    pub watermark_ts_utc: Option<TsUtc>,
}

/// Every stored checkpoint of `consumer` on `topic`, by partition.
pub fn load(
    tx: &mut dyn SqlTx,
    consumer: &str,
    topic: &str,
) -> Result<BTreeMap<u32, Checkpoint>, SqlError> {
    let rows = tx.query(
        "SELECT partition_id, next_offset, offset_kind, watermark_ts_utc
           FROM fp_consumer_checkpoints WHERE consumer = $1 AND topic = $2
          ORDER BY partition_id",
        &[consumer.into(), topic.into()],
    )?;
    let mut out = BTreeMap::new();
    for row in rows {
        let partition = row.get_i64(0)?;
        let partition = u32::try_from(partition).map_err(|_| {
            SqlError::abort(CheckpointCorrupt(format!(
                "partition {partition} of {consumer}/{topic} is out of range"
            )))
        })?;
        let watermark = match row.get::<Option<String>, _>(3)? {
            Some(text) => Some(TsUtc::parse(text).map_err(|e| {
                SqlError::abort(CheckpointCorrupt(format!(
                    "watermark of {consumer}/{topic}/{partition}: {e}"
                )))
            })?),
            None => None,
        };
        out.insert(
            partition,
            Checkpoint {
                next: ReadFrom::Checkpoint(row.get_string(1)?),
                offset_kind: row.get_string(2)?,
                watermark_ts_utc: watermark,
            },
        );
    }
    Ok(out)
}

/// A stored checkpoint that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("corrupt consumer checkpoint: {0}")]
pub struct CheckpointCorrupt(String);

/// Store `next` as the checkpoint of `(consumer, topic, partition)`, in the caller's
/// transaction. `next` must be a [`ReadFrom::Checkpoint`]; `Earliest` means "nothing applied
/// yet" and is not stored.
pub fn save(
    tx: &mut dyn SqlTx,
    consumer: &str,
    topic: &str,
    partition: u32,
    next: &ReadFrom,
    offset_kind: OffsetKind,
    watermark_ts_utc: Option<&TsUtc>,
) -> Result<(), SqlError> {
    let ReadFrom::Checkpoint(offset) = next else {
        return Ok(());
    };
    tx.execute(
        "INSERT INTO fp_consumer_checkpoints
            (consumer, topic, partition_id, next_offset, offset_kind, watermark_ts_utc, updated_at_utc)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (consumer, topic, partition_id) DO UPDATE SET
            next_offset = excluded.next_offset,
            offset_kind = excluded.offset_kind,
            watermark_ts_utc = excluded.watermark_ts_utc,
            updated_at_utc = excluded.updated_at_utc",
        &[
            consumer.into(),
            topic.into(),
            i64::from(partition).into(),
            offset.as_str().into(),
            offset_kind.as_str().into(),
            watermark_ts_utc.map_or(SqlValue::Null, |t| t.as_str().into()),
            TsUtc::now().as_str().into(),
        ],
    )?;
    Ok(())
}
