//! WSP state in SQL (SQLite embedded, PostgreSQL parity): per-(scope, output) checkpoints and
//! the READY records that keep a re-emitted READY from restarting a finished stream.
//!
//! A checkpoint is the exclusive-next stream-view row: every row before it has a verdict from
//! the gate. It is written only after a whole batch is decided, so after a crash the producer
//! replays at most `flush_every` rows, which the gate answers DUPLICATE (contracts §9.4).

use fp_rails::TsUtc;
use fp_substrate::sql::{Migration, SqlError, SqlStore};

/// Migration component name.
pub const COMPONENT: &str = "fp-ingress.wsp";

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "checkpoints per (scope, output) and READY records",
    sql: "CREATE TABLE wsp_checkpoints (
            scope_key TEXT NOT NULL, output_id TEXT NOT NULL,
            next_row BIGINT NOT NULL, last_ts_utc TEXT, complete BIGINT NOT NULL,
            updated_at_utc TEXT NOT NULL,
            PRIMARY KEY (scope_key, output_id));
          CREATE TABLE wsp_ready_runs (
            message_id TEXT PRIMARY KEY, scenario_run_id TEXT NOT NULL,
            platform_run_id TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
            updated_at_utc TEXT NOT NULL);",
}];

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// First row not yet decided.
    pub next_row: u64,
    /// `ts_utc` of the last decided row.
    pub last_ts_utc: Option<String>,
    /// The whole output was streamed.
    pub complete: bool,
}

/// What happened to a READY message (contracts §9.1 statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyStatus {
    /// Being streamed (a crash leaves it here; the next run resumes it).
    Streaming,
    /// Every planned output streamed.
    Streamed,
    /// The run could not be streamed (reason recorded).
    Failed,
    /// For another platform run than the active one.
    SkippedOutOfScope,
}

impl ReadyStatus {
    /// Wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Streaming => "STREAMING",
            Self::Streamed => "STREAMED",
            Self::Failed => "FAILED",
            Self::SkippedOutOfScope => "SKIPPED_OUT_OF_SCOPE",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "STREAMING" => Self::Streaming,
            "STREAMED" => Self::Streamed,
            "FAILED" => Self::Failed,
            "SKIPPED_OUT_OF_SCOPE" => Self::SkippedOutOfScope,
            _ => return None,
        })
    }
}

/// Checkpoints and READY records.
#[derive(Debug, Clone)]
pub struct WspState {
    sql: SqlStore,
}

impl WspState {
    /// Open (and migrate) the state.
    pub async fn open(sql: SqlStore) -> Result<Self, SqlError> {
        sql.migrate(COMPONENT, MIGRATIONS).await?;
        Ok(Self { sql })
    }

    /// The checkpoint of `output_id` in `scope_key`, if any.
    pub async fn checkpoint(
        &self,
        scope_key: &str,
        output_id: &str,
    ) -> Result<Option<Checkpoint>, SqlError> {
        let (scope, output) = (scope_key.to_owned(), output_id.to_owned());
        self.sql
            .transact(move |tx| {
                let row = tx.query_opt(
                    "SELECT next_row, last_ts_utc, complete FROM wsp_checkpoints
                      WHERE scope_key = $1 AND output_id = $2",
                    &[scope.as_str().into(), output.as_str().into()],
                )?;
                row.map(|r| {
                    Ok(Checkpoint {
                        next_row: u64::try_from(r.get_i64(0)?).unwrap_or(0),
                        last_ts_utc: r.get::<Option<String>, _>(1)?,
                        complete: r.get_i64(2)? != 0,
                    })
                })
                .transpose()
            })
            .await
    }

    /// Record that every row before `cp.next_row` is decided.
    pub async fn save(
        &self,
        scope_key: &str,
        output_id: &str,
        cp: &Checkpoint,
    ) -> Result<(), SqlError> {
        let (scope, output, cp) = (scope_key.to_owned(), output_id.to_owned(), cp.clone());
        let next = i64::try_from(cp.next_row).unwrap_or(i64::MAX);
        self.sql
            .transact(move |tx| {
                tx.execute(
                    "INSERT INTO wsp_checkpoints
                       (scope_key, output_id, next_row, last_ts_utc, complete, updated_at_utc)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (scope_key, output_id) DO UPDATE SET
                       next_row = excluded.next_row, last_ts_utc = excluded.last_ts_utc,
                       complete = excluded.complete, updated_at_utc = excluded.updated_at_utc",
                    &[
                        scope.as_str().into(),
                        output.as_str().into(),
                        next.into(),
                        cp.last_ts_utc.clone().into(),
                        i64::from(cp.complete).into(),
                        TsUtc::now().as_str().into(),
                    ],
                )?;
                Ok(())
            })
            .await
    }

    /// The recorded status of a READY message.
    pub async fn ready_status(&self, message_id: &str) -> Result<Option<ReadyStatus>, SqlError> {
        let id = message_id.to_owned();
        self.sql
            .transact(move |tx| {
                let row = tx.query_opt(
                    "SELECT status FROM wsp_ready_runs WHERE message_id = $1",
                    &[id.as_str().into()],
                )?;
                Ok(row
                    .map(|r| r.get_string(0))
                    .transpose()?
                    .and_then(|s| ReadyStatus::parse(&s)))
            })
            .await
    }

    /// Record a READY message's status.
    pub async fn set_ready_status(
        &self,
        message_id: &str,
        scenario_run_id: &str,
        platform_run_id: &str,
        status: ReadyStatus,
        reason: Option<String>,
    ) -> Result<(), SqlError> {
        let args = (
            message_id.to_owned(),
            scenario_run_id.to_owned(),
            platform_run_id.to_owned(),
        );
        self.sql
            .transact(move |tx| {
                tx.execute(
                    "INSERT INTO wsp_ready_runs
                       (message_id, scenario_run_id, platform_run_id, status, reason, updated_at_utc)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (message_id) DO UPDATE SET
                       status = excluded.status, reason = excluded.reason,
                       updated_at_utc = excluded.updated_at_utc",
                    &[
                        args.0.as_str().into(),
                        args.1.as_str().into(),
                        args.2.as_str().into(),
                        status.as_str().into(),
                        reason.into(),
                        TsUtc::now().as_str().into(),
                    ],
                )?;
                Ok(())
            })
            .await
    }
}
