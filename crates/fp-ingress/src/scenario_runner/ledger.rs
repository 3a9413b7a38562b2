//! The run ledger in the object store, under `{platform_run}/sr/`: run plan, run record,
//! run status, facts view, READY signal, instance receipts.
//!
//! # Run record: rewrite-with-check (a documented choice)
//!
//! The object store has no append. The record is one JSONL object (`sr/run_record/{run_id}.jsonl`)
//! that SR rewrites: read it, skip the event if its `event_id` is already there (the id
//! excludes the timestamp, so recording the same fact twice is a no-op), else write the old
//! lines plus the new one. Only the lease holder writes a run's record, so there is no lost
//! update between SR processes; existing lines are never changed, so readers always see an
//! append-only history. One object per event was the alternative; a single JSONL keeps the
//! reference's `record_ref` (one file readers can open) and event order without a sequence
//! number.

use bytes::Bytes;
use fp_rails::hexid::Hex32;
use fp_rails::{TsUtc, ids};
use fp_substrate::objects::{ObjectError, Objects, PutOutcome, RunPrefix};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::SrError;
use super::state::RunState;

pub use fp_rails::contracts::scenario_runner::{RunRecordEvent, RunStatus};

/// A write-once put that met different bytes.
#[derive(Debug)]
pub struct Drift {
    /// The object.
    pub path: String,
}

/// The ledger of one run.
#[derive(Debug, Clone)]
pub struct Ledger {
    objects: Objects,
    prefix: RunPrefix,
    run_id: Hex32,
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, SrError> {
    serde_json::to_vec(v).map_err(|e| SrError::Internal(format!("encode: {e}")))
}

impl Ledger {
    /// The ledger of `run_id` under `prefix`.
    pub fn new(objects: Objects, prefix: RunPrefix, run_id: Hex32) -> Self {
        Self {
            objects,
            prefix,
            run_id,
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &Hex32 {
        &self.run_id
    }

    /// The run prefix.
    pub fn prefix(&self) -> &RunPrefix {
        &self.prefix
    }

    /// The object store.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// `sr/run_plan/{run_id}.json`.
    pub fn plan_ref(&self) -> String {
        self.prefix.sr_run_plan(&self.run_id)
    }

    /// `sr/run_record/{run_id}.jsonl`.
    pub fn record_ref(&self) -> String {
        self.prefix.sr_run_record(&self.run_id)
    }

    /// `sr/run_status/{run_id}.json`.
    pub fn status_ref(&self) -> String {
        self.prefix.sr_run_status(&self.run_id)
    }

    /// `sr/run_facts_view/{run_id}.json`.
    pub fn facts_view_ref(&self) -> String {
        self.prefix.sr_run_facts_view(&self.run_id)
    }

    /// `sr/ready_signal/{run_id}.json`.
    pub fn ready_signal_ref(&self) -> String {
        self.prefix.sr_ready_signal(&self.run_id)
    }

    /// `sr/quarantine/{run_id}.json`.
    pub fn quarantine_ref(&self) -> String {
        self.prefix.sr_quarantine(&self.run_id)
    }

    /// The bytes at `path`, `None` when absent.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Bytes>, SrError> {
        match self.objects.get(path).await {
            Ok(b) => Ok(Some(b)),
            Err(ObjectError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Decode the JSON document at `path`, `None` when absent.
    pub async fn read_json<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, SrError> {
        match self.get_opt(path).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| SrError::CorruptLedger {
                    path: path.to_owned(),
                    detail: e.to_string(),
                }),
        }
    }

    /// Write-once put of `doc` at `path`: `Ok(Err(Drift))` when other bytes are already there
    /// (the caller names the drift: `PLAN_DRIFT`, `FACTS_VIEW_DRIFT`, ...).
    pub async fn put_once_json<T: Serialize>(
        &self,
        path: &str,
        doc: &T,
    ) -> Result<Result<PutOutcome, Drift>, SrError> {
        match self.objects.put_once(path, encode(doc)?).await {
            Ok(o) => Ok(Ok(o)),
            Err(ObjectError::WriteOnceConflict { path }) => Ok(Err(Drift { path })),
            Err(e) => Err(e.into()),
        }
    }

    /// Every event of the run record, in order.
    pub async fn events(&self) -> Result<Vec<RunRecordEvent>, SrError> {
        let path = self.record_ref();
        let bytes = self.get_opt(&path).await?.unwrap_or_default();
        parse_events(&path, &bytes)
    }

    /// Append `event_kind{details}` unless the same fact is recorded already; true when
    /// appended. See the module docs for why this is safe without store-side append.
    pub async fn record(&self, event_kind: &str, details: Value) -> Result<bool, SrError> {
        let path = self.record_ref();
        let details = match details {
            Value::Object(m) => m,
            // Details are always an object on the wire; a bare value is kept under `value`.
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        let event_id =
            ids::sr_record_event_id(event_kind, &self.run_id, &Value::Object(details.clone()));
        let existing = self.get_opt(&path).await?.unwrap_or_default();
        let events = parse_events(&path, &existing)?;
        if events.iter().any(|e| e.event_id == event_id) {
            return Ok(false);
        }
        let event = RunRecordEvent {
            event_id,
            event_kind: event_kind.to_owned(),
            run_id: self.run_id.clone(),
            ts_utc: TsUtc::now(),
            details,
            policy_rev: None,
        };
        let mut out = existing.to_vec();
        out.extend(encode(&event)?);
        out.push(b'\n');
        self.objects.put_overwrite(&path, out).await?;
        Ok(true)
    }

    /// The current status, `None` before the run was accepted.
    pub async fn status(&self) -> Result<Option<RunStatus>, SrError> {
        self.read_json(&self.status_ref()).await
    }

    /// Move the run to `to` (checked against §7.3; READY/FAILED/QUARANTINED are final and
    /// re-setting the same terminal state is a no-op that keeps the first document).
    pub async fn set_state(
        &self,
        to: RunState,
        reason_code: Option<&str>,
        facts_view_ref: Option<String>,
    ) -> Result<RunStatus, SrError> {
        if let Some(current) = self.status().await? {
            if current.state.is_terminal() && current.state == to {
                return Ok(current);
            }
            if !current.state.can_move_to(to) {
                return Err(SrError::IllegalTransition {
                    run_id: self.run_id.to_string(),
                    from: current.state,
                    to,
                });
            }
        }
        let status = RunStatus {
            run_id: self.run_id.clone(),
            state: to,
            updated_at_utc: TsUtc::now(),
            record_ref: self.record_ref(),
            reason_code: reason_code.map(str::to_owned),
            facts_view_ref,
        };
        self.objects
            .put_overwrite(&self.status_ref(), encode(&status)?)
            .await?;
        Ok(status)
    }
}

/// The events of a JSONL record.
fn parse_events(path: &str, bytes: &[u8]) -> Result<Vec<RunRecordEvent>, SrError> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).map_err(|e| SrError::CorruptLedger {
                path: path.to_owned(),
                detail: e.to_string(),
            })
        })
        .collect()
}
