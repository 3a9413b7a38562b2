//! The admission index: one row per dedupe key walking `PUBLISH_IN_FLIGHT → ADMITTED` (or
//! `PUBLISH_AMBIGUOUS`), the quarantine log, and decision counters (contracts §10.3).
//!
//! Two layouts behind one API, chosen by the SQL backend:
//! - **SQLite** (embedded, one process): an append-only journal with one record per index
//!   transaction ([`super::journal`]) plus a memory-resident `dedupe_key → latest row` map
//!   rebuilt on open. Per-row inserts are the wall for SQLite (docs/perf.md); one append per
//!   batch is not.
//! - **PostgreSQL** (replicas share it): a table keyed by `dedupe_key`; the database is the
//!   authority, claims are multi-row `INSERT … ON CONFLICT DO NOTHING`, so two replicas can
//!   never both claim a key.

use std::collections::HashMap;
use std::sync::Arc;

use fp_rails::{EbRef, Hex32, Hex64, OffsetKind, TsUtc};
use fp_substrate::sql::{Migration, SqlBackend, SqlError, SqlRow, SqlStore, SqlTx, SqlValue};

use super::error::IgError;
use super::index_sqlite::{self, Mem};
use super::journal;

/// Migration component name.
pub const COMPONENT: &str = "ingestion_gate";

const SQLITE_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "admission journal (one record per batch), quarantine log, counters",
    sql: "CREATE TABLE ig_admission_batches (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
          CREATE TABLE ig_quarantine (
            seq INTEGER PRIMARY KEY,
            quarantine_id TEXT NOT NULL, receipt_id TEXT NOT NULL, platform_run_id TEXT NOT NULL,
            event_id TEXT NOT NULL, event_type TEXT, event_class TEXT, reason_code TEXT NOT NULL,
            detail TEXT NOT NULL, raw_sha256 TEXT NOT NULL, raw_len INTEGER NOT NULL,
            record_ref TEXT NOT NULL, raw_ref TEXT NOT NULL, receipt TEXT NOT NULL,
            received_at_utc TEXT NOT NULL);
          CREATE TABLE ig_decision_counts (
            platform_run_id TEXT NOT NULL, decision TEXT NOT NULL, event_class TEXT NOT NULL,
            reason_code TEXT NOT NULL, count INTEGER NOT NULL,
            PRIMARY KEY (platform_run_id, decision, event_class, reason_code));
          CREATE TABLE ig_receipt_seq (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
          INSERT INTO ig_receipt_seq (id, next) VALUES (1, 0);",
}];

const PG_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "admissions, quarantine log, counters",
    sql: "CREATE TABLE ig_admissions (
            dedupe_key TEXT PRIMARY KEY, state TEXT NOT NULL,
            platform_run_id TEXT NOT NULL, event_class TEXT NOT NULL, event_id TEXT NOT NULL,
            payload_hash TEXT NOT NULL, topic TEXT NOT NULL, partition_key TEXT NOT NULL,
            eb_partition BIGINT, eb_offset TEXT, eb_offset_kind TEXT, eb_published_at_utc TEXT,
            admitted_at_utc TEXT, receipt_id TEXT, receipt_ref TEXT, receipt TEXT,
            updated_at_utc TEXT NOT NULL);
          CREATE INDEX ig_admissions_event_id ON ig_admissions (event_id);
          CREATE INDEX ig_admissions_receipt_id ON ig_admissions (receipt_id);
          CREATE INDEX ig_admissions_unresolved ON ig_admissions (state) WHERE state <> 'ADMITTED';
          CREATE TABLE ig_quarantine (
            seq BIGSERIAL PRIMARY KEY,
            quarantine_id TEXT NOT NULL, receipt_id TEXT NOT NULL, platform_run_id TEXT NOT NULL,
            event_id TEXT NOT NULL, event_type TEXT, event_class TEXT, reason_code TEXT NOT NULL,
            detail TEXT NOT NULL, raw_sha256 TEXT NOT NULL, raw_len BIGINT NOT NULL,
            record_ref TEXT NOT NULL, raw_ref TEXT NOT NULL, receipt TEXT NOT NULL,
            received_at_utc TEXT NOT NULL);
          CREATE INDEX ig_quarantine_event_id ON ig_quarantine (event_id);
          CREATE INDEX ig_quarantine_receipt_id ON ig_quarantine (receipt_id);
          CREATE TABLE ig_decision_counts (
            platform_run_id TEXT NOT NULL, decision TEXT NOT NULL, event_class TEXT NOT NULL,
            reason_code TEXT NOT NULL, count BIGINT NOT NULL,
            PRIMARY KEY (platform_run_id, decision, event_class, reason_code));
          CREATE TABLE ig_receipt_seq (id INTEGER PRIMARY KEY CHECK (id = 1), next BIGINT NOT NULL);
          INSERT INTO ig_receipt_seq (id, next) VALUES (1, 0);",
}];

/// State of an admission row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdmissionState {
    /// Claimed; the bus append has not been confirmed.
    PublishInFlight,
    /// On the bus with its `eb_ref`: the commit point. Final.
    Admitted,
    /// The append's outcome is unknown; waits for `fp ig reconcile`.
    PublishAmbiguous,
}

impl AdmissionState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PublishInFlight => "PUBLISH_IN_FLIGHT",
            Self::Admitted => "ADMITTED",
            Self::PublishAmbiguous => "PUBLISH_AMBIGUOUS",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Self> {
        match s {
            "PUBLISH_IN_FLIGHT" => Some(Self::PublishInFlight),
            "ADMITTED" => Some(Self::Admitted),
            "PUBLISH_AMBIGUOUS" => Some(Self::PublishAmbiguous),
            _ => None,
        }
    }
}

/// What the gate asks to claim for one candidate.
#[derive(Debug, Clone)]
pub struct Claim {
    /// `sha256("{platform_run_id}:{event_class}:{event_id}")`.
    pub dedupe_key: Hex64,
    /// Platform run (`""` when absent).
    pub platform_run_id: String,
    /// Class.
    pub event_class: String,
    /// Event id.
    pub event_id: String,
    /// Payload hash.
    pub payload_hash: Hex64,
    /// Target topic.
    pub topic: String,
    /// Partition key.
    pub partition_key: Hex64,
}

/// One admission row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionRow {
    /// Key.
    pub dedupe_key: Hex64,
    /// State.
    pub state: AdmissionState,
    /// Platform run.
    pub platform_run_id: String,
    /// Class.
    pub event_class: String,
    /// Event id.
    pub event_id: String,
    /// Payload hash of the first submission.
    pub payload_hash: Hex64,
    /// Target topic.
    pub topic: String,
    /// Partition key.
    pub partition_key: Hex64,
    /// Bus coordinates (ADMITTED).
    pub eb_ref: Option<EbRef>,
    /// Commit time (ADMITTED).
    pub admitted_at_utc: Option<String>,
    /// Receipt id (ADMITTED).
    pub receipt_id: Option<Hex32>,
    /// Receipt location (ADMITTED).
    pub receipt_ref: Option<String>,
    /// The ADMIT receipt as JSON.
    pub receipt: Option<String>,
}

/// The outcome of claiming one key.
#[derive(Debug, Clone)]
pub enum ClaimOutcome {
    /// The row is ours, `PUBLISH_IN_FLIGHT`: publish it.
    Claimed,
    /// A row exists already (possibly claimed earlier in this very batch).
    Existing(Box<AdmissionRow>),
}

/// The result of a batch claim.
#[derive(Debug)]
pub struct ClaimBatch {
    /// One outcome per claim, in input order.
    pub outcomes: Vec<ClaimOutcome>,
    /// First of the reserved receipt sequence numbers (names the batch's receipt objects).
    pub first_seq: u64,
}

/// Recording that a claimed row reached the bus.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Key.
    pub dedupe_key: Hex64,
    /// Bus coordinates.
    pub eb_ref: EbRef,
    /// Commit time.
    pub admitted_at_utc: TsUtc,
    /// Receipt id.
    pub receipt_id: Hex32,
    /// Receipt location.
    pub receipt_ref: String,
    /// The receipt JSON.
    pub receipt: String,
}

/// One quarantined submission (every submission gets its own row, so nothing is lost even
/// when two share a quarantine id).
#[derive(Debug, Clone)]
pub struct QuarantineEntry {
    /// `H32("QUARANTINE:{event_id}")`.
    pub quarantine_id: Hex32,
    /// Receipt id.
    pub receipt_id: Hex32,
    /// Platform run the record is filed under.
    pub platform_run_id: String,
    /// Event id (or the raw digest when unreadable).
    pub event_id: String,
    /// Event type when readable.
    pub event_type: Option<String>,
    /// Class when known.
    pub event_class: Option<String>,
    /// Reason code.
    pub reason_code: String,
    /// Detail.
    pub detail: String,
    /// sha256 of the raw bytes.
    pub raw_sha256: Hex64,
    /// Raw length.
    pub raw_len: u64,
    /// The quarantine record object.
    pub record_ref: String,
    /// The raw bytes object.
    pub raw_ref: String,
    /// The QUARANTINE receipt JSON.
    pub receipt: String,
    /// When it was received.
    pub received_at_utc: TsUtc,
}

/// A counter increment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountKey {
    /// Platform run.
    pub platform_run_id: String,
    /// ADMIT / DUPLICATE / QUARANTINE.
    pub decision: String,
    /// Class (`""` when unknown).
    pub event_class: String,
    /// Reason code (`""` for ADMIT).
    pub reason_code: String,
}

/// What an ops lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupHit {
    /// An admission row.
    Admission(Box<AdmissionRow>),
    /// A quarantine row: its receipt JSON and where the record and raw bytes are.
    Quarantine {
        /// Receipt JSON.
        receipt: String,
        /// Record object.
        record_ref: String,
        /// Raw bytes object.
        raw_ref: String,
        /// Reason.
        reason_code: String,
    },
}

/// Ops lookup keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// By event id (every run and class).
    EventId(String),
    /// By receipt id.
    ReceiptId(String),
    /// By dedupe key.
    DedupeKey(String),
}

/// The index.
#[derive(Debug, Clone)]
pub struct AdmissionIndex {
    pub(super) sql: SqlStore,
    /// SQLite only: the memory-resident state; the async mutex also serialises claims.
    pub(super) mem: Option<Mem>,
}

const COLS: &str = "dedupe_key, state, platform_run_id, event_class, event_id, payload_hash, \
    topic, partition_key, eb_partition, eb_offset, eb_offset_kind, eb_published_at_utc, \
    admitted_at_utc, receipt_id, receipt_ref, receipt";

fn corrupt(detail: impl Into<String>) -> SqlError {
    SqlError::abort(IgError::Corrupt {
        what: "admission row",
        at: "ig index".into(),
        detail: detail.into(),
    })
}

fn parse_row(r: &SqlRow) -> Result<AdmissionRow, SqlError> {
    let hex64 = |s: String| Hex64::parse(&s).map_err(|e| corrupt(format!("{s}: {e}")));
    let state_text = r.get_string("state")?;
    let state =
        AdmissionState::parse(&state_text).ok_or_else(|| corrupt(format!("state {state_text}")))?;
    let topic = r.get_string("topic")?;
    let eb_ref = match r.get::<Option<String>, _>("eb_offset")? {
        None => None,
        Some(offset) => {
            let kind_text = r
                .get::<Option<String>, _>("eb_offset_kind")?
                .unwrap_or_default();
            let offset_kind: OffsetKind =
                serde_json::from_value(serde_json::Value::String(kind_text.clone()))
                    .map_err(|_| corrupt(format!("offset kind {kind_text}")))?;
            let published_at_utc = match r.get::<Option<String>, _>("eb_published_at_utc")? {
                Some(t) => Some(TsUtc::parse(t).map_err(|e| corrupt(e.to_string()))?),
                None => None,
            };
            Some(EbRef {
                topic: topic.clone(),
                partition: u32::try_from(r.get_i64("eb_partition")?)
                    .map_err(|_| corrupt("partition out of range"))?,
                offset,
                offset_kind,
                published_at_utc,
            })
        }
    };
    let receipt_id = match r.get::<Option<String>, _>("receipt_id")? {
        Some(s) => Some(Hex32::parse(&s).map_err(|e| corrupt(e.to_string()))?),
        None => None,
    };
    Ok(AdmissionRow {
        dedupe_key: hex64(r.get_string("dedupe_key")?)?,
        state,
        platform_run_id: r.get_string("platform_run_id")?,
        event_class: r.get_string("event_class")?,
        event_id: r.get_string("event_id")?,
        payload_hash: hex64(r.get_string("payload_hash")?)?,
        topic,
        partition_key: hex64(r.get_string("partition_key")?)?,
        eb_ref,
        admitted_at_utc: r.get("admitted_at_utc")?,
        receipt_id,
        receipt_ref: r.get("receipt_ref")?,
        receipt: r.get("receipt")?,
    })
}

fn row_values(row: &AdmissionRow, now: &str) -> Vec<SqlValue> {
    let eb = row.eb_ref.as_ref();
    vec![
        row.dedupe_key.as_str().into(),
        row.state.as_str().into(),
        row.platform_run_id.as_str().into(),
        row.event_class.as_str().into(),
        row.event_id.as_str().into(),
        row.payload_hash.as_str().into(),
        row.topic.as_str().into(),
        row.partition_key.as_str().into(),
        eb.map_or(SqlValue::Null, |e| i64::from(e.partition).into()),
        eb.map_or(SqlValue::Null, |e| e.offset.as_str().into()),
        eb.map_or(SqlValue::Null, |e| e.offset_kind.as_str().into()),
        eb.and_then(|e| e.published_at_utc.as_ref())
            .map_or(SqlValue::Null, |t| t.as_str().into()),
        opt(row.admitted_at_utc.as_deref()),
        opt(row.receipt_id.as_ref().map(|r| r.as_str())),
        opt(row.receipt_ref.as_deref()),
        opt(row.receipt.as_deref()),
        now.into(),
    ]
}

fn opt(v: Option<&str>) -> SqlValue {
    v.map_or(SqlValue::Null, SqlValue::from)
}

fn placeholders(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    let mut n = 1;
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            s.push('$');
            s.push_str(&n.to_string());
            n += 1;
        }
        s.push(')');
    }
    s
}

/// Rows per multi-row statement (17 columns: well under PostgreSQL's 65,535 parameters).
const CHUNK: usize = 500;

impl AdmissionIndex {
    /// Open the index: migrate, and on SQLite rebuild the memory map from the journal.
    pub async fn open(sql: SqlStore) -> Result<Self, IgError> {
        let migrations = match sql.backend() {
            SqlBackend::Sqlite => SQLITE_MIGRATIONS,
            SqlBackend::Postgres => PG_MIGRATIONS,
        };
        sql.migrate(COMPONENT, migrations).await?;
        let mem = match sql.backend() {
            SqlBackend::Postgres => None,
            SqlBackend::Sqlite => Some(index_sqlite::open(&sql).await?),
        };
        Ok(Self { sql, mem })
    }

    /// Whether admission rows keep a copy of their receipt (PostgreSQL); the embedded journal
    /// leaves receipts to the batch objects.
    pub fn stores_receipts(&self) -> bool {
        self.mem.is_none()
    }

    /// The SQL store underneath (health probes).
    pub fn sql(&self) -> &SqlStore {
        &self.sql
    }

    /// Claim every key in one transaction: absent keys become `PUBLISH_IN_FLIGHT` rows (ours),
    /// present ones come back as they are. A key repeated within the batch is claimed once;
    /// later copies see the in-flight row. Also reserves one receipt sequence number per
    /// claimed key.
    pub async fn claim(&self, claims: &[Claim], receipts: u64) -> Result<ClaimBatch, IgError> {
        let receipts = i64::try_from(receipts).unwrap_or(i64::MAX);
        match &self.mem {
            Some(mem) => self.claim_sqlite(mem, claims, receipts).await,
            None => self.claim_pg(claims.to_vec(), receipts).await,
        }
    }

    async fn claim_pg(&self, claims: Vec<Claim>, receipts: i64) -> Result<ClaimBatch, IgError> {
        let now = TsUtc::now().as_str().to_owned();
        let claims = Arc::new(claims);
        let c2 = Arc::clone(&claims);
        let (won, existing, first_seq) = self
            .sql
            .transact(move |tx| {
                let claims = &*c2;
                let mut seen: HashMap<&str, usize> = HashMap::new();
                let mut unique: Vec<usize> = Vec::new();
                for (i, c) in claims.iter().enumerate() {
                    if !seen.contains_key(c.dedupe_key.as_str()) {
                        seen.insert(c.dedupe_key.as_str(), i);
                        unique.push(i);
                    }
                }
                let mut won: std::collections::HashSet<String> = Default::default();
                for chunk in unique.chunks(CHUNK) {
                    let sql = format!(
                        "INSERT INTO ig_admissions ({COLS}, updated_at_utc) VALUES {} \
                         ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key",
                        placeholders(chunk.len(), 17)
                    );
                    let params: Vec<SqlValue> = chunk
                        .iter()
                        .flat_map(|&i| row_values(&in_flight_row(&claims[i]), &now))
                        .collect();
                    for r in tx.query(&sql, &params)? {
                        won.insert(r.get_string(0)?);
                    }
                }
                let lost: Vec<&str> = unique
                    .iter()
                    .map(|&i| claims[i].dedupe_key.as_str())
                    .filter(|k| !won.contains(*k))
                    .collect();
                let mut existing: HashMap<String, AdmissionRow> = HashMap::new();
                for chunk in lost.chunks(CHUNK) {
                    let list = (1..=chunk.len())
                        .map(|n| format!("${n}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    let params: Vec<SqlValue> = chunk.iter().map(|k| (*k).into()).collect();
                    for r in tx.query(
                        &format!("SELECT {COLS} FROM ig_admissions WHERE dedupe_key IN ({list})"),
                        &params,
                    )? {
                        let row = parse_row(&r)?;
                        existing.insert(row.dedupe_key.as_str().to_owned(), row);
                    }
                }
                let first_seq = reserve_seq(tx, receipts)?;
                Ok((won, existing, first_seq))
            })
            .await?;
        let mut first_claim: HashMap<&str, usize> = HashMap::new();
        let outcomes = claims
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let k = c.dedupe_key.as_str();
                if let Some(row) = existing.get(k) {
                    return ClaimOutcome::Existing(Box::new(row.clone()));
                }
                match first_claim.get(k) {
                    Some(&first) => ClaimOutcome::Existing(Box::new(in_flight_row(&claims[first]))),
                    None if won.contains(k) => {
                        first_claim.insert(k, i);
                        ClaimOutcome::Claimed
                    }
                    // Neither inserted nor found: deleted between the two statements by a
                    // reconcile release; the caller may retry.
                    None => ClaimOutcome::Existing(Box::new(in_flight_row(c))),
                }
            })
            .collect();
        Ok(ClaimBatch {
            outcomes,
            first_seq,
        })
    }

    /// Move claimed rows to `ADMITTED` (the commit point), one transaction.
    pub async fn admit(&self, admissions: Vec<Admission>, claims: &[Claim]) -> Result<(), IgError> {
        self.commit(admissions, claims, Vec::new(), Vec::new())
            .await
    }

    /// A batch's commit point: claimed rows move to `ADMITTED`, and the batch's quarantined
    /// submissions and counter increments are recorded. On SQLite this is one transaction (one
    /// fsync instead of two: the sequential fsyncs are the batch's wall, docs/perf.md); on
    /// PostgreSQL it is [`Self::admit`] then [`Self::record`], as before.
    pub async fn commit(
        &self,
        admissions: Vec<Admission>,
        claims: &[Claim],
        quarantines: Vec<QuarantineEntry>,
        counts: Vec<(CountKey, u64)>,
    ) -> Result<(), IgError> {
        if let Some(mem) = &self.mem {
            return self
                .admit_sqlite(mem, admissions, claims, Recorded(quarantines, counts))
                .await;
        }
        self.admit_pg(admissions, claims).await?;
        self.record(quarantines, counts).await
    }

    async fn admit_pg(&self, admissions: Vec<Admission>, claims: &[Claim]) -> Result<(), IgError> {
        let by_key: HashMap<&str, &Claim> =
            claims.iter().map(|c| (c.dedupe_key.as_str(), c)).collect();
        let mut rows = Vec::with_capacity(admissions.len());
        for a in &admissions {
            let Some(c) = by_key.get(a.dedupe_key.as_str()) else {
                return Err(IgError::Refused(format!(
                    "admission of unclaimed key {}",
                    a.dedupe_key
                )));
            };
            let mut row = in_flight_row(c);
            row.state = AdmissionState::Admitted;
            row.eb_ref = Some(a.eb_ref.clone());
            row.admitted_at_utc = Some(a.admitted_at_utc.as_str().to_owned());
            row.receipt_id = Some(a.receipt_id.clone());
            row.receipt_ref = Some(a.receipt_ref.clone());
            row.receipt = Some(a.receipt.clone());
            rows.push(row);
        }
        self.write_rows(rows, true).await
    }

    /// Write final states for rows (journal append on SQLite, update on PostgreSQL).
    /// `transitions`: every row with a key in the map is that key's row with only the state
    /// (and for ADMITTED the bus coordinates and receipt) changed, so SQLite may write just the
    /// transition.
    async fn write_rows(&self, rows: Vec<AdmissionRow>, transitions: bool) -> Result<(), IgError> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = TsUtc::now().as_str().to_owned();
        match &self.mem {
            Some(mem) => self.write_rows_sqlite(mem, rows, transitions).await,
            None => {
                self.sql
                    .transact(move |tx| {
                        for r in &rows {
                            let mut v = row_values(r, &now);
                            // UPDATE … WHERE dedupe_key = $1: reuse the same value order.
                            let key = v.remove(0);
                            let mut params = vec![key];
                            params.extend(v);
                            tx.execute(
                                "UPDATE ig_admissions SET state = $2, platform_run_id = $3, \
                                 event_class = $4, event_id = $5, payload_hash = $6, topic = $7, \
                                 partition_key = $8, eb_partition = $9, eb_offset = $10, \
                                 eb_offset_kind = $11, eb_published_at_utc = $12, \
                                 admitted_at_utc = $13, receipt_id = $14, receipt_ref = $15, \
                                 receipt = $16, updated_at_utc = $17 WHERE dedupe_key = $1",
                                &params,
                            )?;
                        }
                        Ok(())
                    })
                    .await?;
                Ok(())
            }
        }
    }

    /// Mark claimed rows `PUBLISH_AMBIGUOUS` (never republished automatically).
    pub async fn mark_ambiguous(&self, claims: &[Claim]) -> Result<(), IgError> {
        let rows = claims
            .iter()
            .map(|c| {
                let mut r = in_flight_row(c);
                r.state = AdmissionState::PublishAmbiguous;
                r
            })
            .collect();
        self.write_rows(rows, true).await
    }

    /// Resolve an unresolved row as admitted (reconciliation found it on the bus).
    pub async fn resolve_admitted(&self, row: AdmissionRow) -> Result<(), IgError> {
        // A whole row: reconciliation builds it from the bus record, not from the claim.
        self.write_rows(vec![row], false).await
    }

    /// Forget unresolved rows whose events are known not to be on the bus, so a retry is
    /// admitted normally. Refuses rows that are ADMITTED.
    pub async fn release(&self, keys: &[Hex64]) -> Result<u64, IgError> {
        if let Some(mem) = &self.mem {
            return self.release_sqlite(mem, keys).await;
        }
        let keys: Vec<String> = keys.iter().map(|k| k.as_str().to_owned()).collect();
        Ok(self
            .sql
            .transact(move |tx| {
                let mut n = 0;
                for k in &keys {
                    n += tx.execute(
                        "DELETE FROM ig_admissions WHERE dedupe_key = $1 AND state <> 'ADMITTED'",
                        &[k.as_str().into()],
                    )?;
                }
                Ok(n)
            })
            .await?)
    }

    /// Rows still `PUBLISH_IN_FLIGHT` or `PUBLISH_AMBIGUOUS`.
    pub async fn unresolved(&self) -> Result<Vec<AdmissionRow>, IgError> {
        match &self.mem {
            Some(mem) => self.unresolved_sqlite(mem).await,
            None => Ok(self
                .sql
                .transact(|tx| {
                    tx.query(
                        &format!(
                            "SELECT {COLS} FROM ig_admissions WHERE state <> 'ADMITTED' \
                             ORDER BY dedupe_key"
                        ),
                        &[],
                    )?
                    .iter()
                    .map(parse_row)
                    .collect()
                })
                .await?),
        }
    }

    /// The current row of a key.
    pub async fn get(&self, key: &Hex64) -> Result<Option<AdmissionRow>, IgError> {
        if let Some(mem) = &self.mem {
            return self.get_sqlite(mem, key).await;
        }
        let hits = self
            .lookup(Lookup::DedupeKey(key.as_str().to_owned()))
            .await?;
        Ok(hits.into_iter().find_map(|h| match h {
            LookupHit::Admission(r) => Some(*r),
            LookupHit::Quarantine { .. } => None,
        }))
    }

    /// Record quarantined submissions and counter increments in one transaction.
    pub async fn record(
        &self,
        quarantines: Vec<QuarantineEntry>,
        counts: Vec<(CountKey, u64)>,
    ) -> Result<(), IgError> {
        let recorded = Recorded(quarantines, counts);
        if recorded.is_empty() {
            return Ok(());
        }
        self.sql
            .transact(move |tx| record_in(tx, &recorded))
            .await?;
        Ok(())
    }

    /// Ops lookup: admissions (latest state per key) and quarantines.
    pub async fn lookup(&self, lookup: Lookup) -> Result<Vec<LookupHit>, IgError> {
        let sqlite = self.mem.is_some();
        Ok(self
            .sql
            .transact(move |tx| {
                let (col, value) = match &lookup {
                    Lookup::EventId(v) => ("event_id", v.clone()),
                    Lookup::ReceiptId(v) => ("receipt_id", v.clone()),
                    Lookup::DedupeKey(v) => ("dedupe_key", v.clone()),
                };
                let mut hits = Vec::new();
                if sqlite {
                    let pred: Box<dyn Fn(&AdmissionRow) -> bool> = match &lookup {
                        Lookup::EventId(v) => Box::new(move |r| r.event_id == *v),
                        Lookup::ReceiptId(v) => Box::new(move |r| {
                            r.receipt_id.as_ref().is_some_and(|x| x.as_str() == v)
                        }),
                        Lookup::DedupeKey(v) => Box::new(move |r| r.dedupe_key.as_str() == v),
                    };
                    for r in journal::scan(tx, pred.as_ref())? {
                        hits.push(LookupHit::Admission(Box::new(r)));
                    }
                } else {
                    let rows = tx.query(
                        &format!("SELECT {COLS} FROM ig_admissions WHERE {col} = $1"),
                        &[value.as_str().into()],
                    )?;
                    for r in &rows {
                        hits.push(LookupHit::Admission(Box::new(parse_row(r)?)));
                    }
                }
                if col != "dedupe_key" {
                    for r in tx.query(
                        &format!(
                            "SELECT receipt, record_ref, raw_ref, reason_code FROM ig_quarantine \
                             WHERE {col} = $1 ORDER BY seq"
                        ),
                        &[value.as_str().into()],
                    )? {
                        hits.push(LookupHit::Quarantine {
                            receipt: r.get_string(0)?,
                            record_ref: r.get_string(1)?,
                            raw_ref: r.get_string(2)?,
                            reason_code: r.get_string(3)?,
                        });
                    }
                }
                Ok(hits)
            })
            .await?)
    }

    /// Decision counts of a platform run (or every run), sorted.
    pub async fn summary(
        &self,
        platform_run_id: Option<String>,
    ) -> Result<Vec<(CountKey, u64)>, IgError> {
        Ok(self
            .sql
            .transact(move |tx| {
                let rows = match &platform_run_id {
                    Some(p) => tx.query(
                        "SELECT platform_run_id, decision, event_class, reason_code, count \
                         FROM ig_decision_counts WHERE platform_run_id = $1 \
                         ORDER BY platform_run_id, decision, event_class, reason_code",
                        &[p.as_str().into()],
                    )?,
                    None => tx.query(
                        "SELECT platform_run_id, decision, event_class, reason_code, count \
                         FROM ig_decision_counts \
                         ORDER BY platform_run_id, decision, event_class, reason_code",
                        &[],
                    )?,
                };
                rows.iter()
                    .map(|r| {
                        Ok((
                            CountKey {
                                platform_run_id: r.get_string(0)?,
                                decision: r.get_string(1)?,
                                event_class: r.get_string(2)?,
                                reason_code: r.get_string(3)?,
                            },
                            u64::try_from(r.get_i64(4)?).unwrap_or(0),
                        ))
                    })
                    .collect()
            })
            .await?)
    }
}

pub(super) fn in_flight_row(c: &Claim) -> AdmissionRow {
    AdmissionRow {
        dedupe_key: c.dedupe_key.clone(),
        state: AdmissionState::PublishInFlight,
        platform_run_id: c.platform_run_id.clone(),
        event_class: c.event_class.clone(),
        event_id: c.event_id.clone(),
        payload_hash: c.payload_hash.clone(),
        topic: c.topic.clone(),
        partition_key: c.partition_key.clone(),
        eb_ref: None,
        admitted_at_utc: None,
        receipt_id: None,
        receipt_ref: None,
        receipt: None,
    }
}

pub(super) fn reserve_seq(tx: &mut dyn SqlTx, n: i64) -> Result<u64, SqlError> {
    let row = tx
        .query_opt(
            "UPDATE ig_receipt_seq SET next = next + $1 WHERE id = 1 RETURNING next - $1",
            &[n.into()],
        )?
        .ok_or_else(|| corrupt("receipt sequence row missing"))?;
    Ok(u64::try_from(row.get_i64(0)?).unwrap_or(0))
}

/// Quarantined submissions and counter increments to record with a transaction.
#[derive(Default)]
pub(super) struct Recorded(Vec<QuarantineEntry>, Vec<(CountKey, u64)>);

impl Recorded {
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_empty()
    }
}

pub(super) fn record_in(tx: &mut dyn SqlTx, recorded: &Recorded) -> Result<(), SqlError> {
    let Recorded(quarantines, counts) = recorded;
    for q in quarantines {
        tx.execute(
            "INSERT INTO ig_quarantine (quarantine_id, receipt_id, platform_run_id, \
             event_id, event_type, event_class, reason_code, detail, raw_sha256, \
             raw_len, record_ref, raw_ref, receipt, received_at_utc) VALUES \
             ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
            &[
                q.quarantine_id.as_str().into(),
                q.receipt_id.as_str().into(),
                q.platform_run_id.as_str().into(),
                q.event_id.as_str().into(),
                opt(q.event_type.as_deref()),
                opt(q.event_class.as_deref()),
                q.reason_code.as_str().into(),
                q.detail.as_str().into(),
                q.raw_sha256.as_str().into(),
                i64::try_from(q.raw_len).unwrap_or(i64::MAX).into(),
                q.record_ref.as_str().into(),
                q.raw_ref.as_str().into(),
                q.receipt.as_str().into(),
                q.received_at_utc.as_str().into(),
            ],
        )?;
    }
    for (k, n) in counts {
        tx.execute(
            "INSERT INTO ig_decision_counts (platform_run_id, decision, event_class, \
             reason_code, count) VALUES ($1,$2,$3,$4,$5) \
             ON CONFLICT (platform_run_id, decision, event_class, reason_code) \
             DO UPDATE SET count = ig_decision_counts.count + excluded.count",
            &[
                k.platform_run_id.as_str().into(),
                k.decision.as_str().into(),
                k.event_class.as_str().into(),
                k.reason_code.as_str().into(),
                i64::try_from(*n).unwrap_or(i64::MAX).into(),
            ],
        )?;
    }
    Ok(())
}
