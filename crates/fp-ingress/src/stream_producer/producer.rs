//! Streaming a planned run: per output, a reader thread decodes the stream view and frames
//! envelopes while the async side paces them and delivers batches to the gate; outputs run
//! concurrently (or one at a time for debugging); checkpoints make a killed stream resumable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fp_rails::ids::wsp_checkpoint_scope;
use fp_rails::ingress::IngressClient;
use fp_world::oracle::StreamViewReader;
use serde::Serialize;
use tokio::sync::mpsc;

use super::checkpoint::{Checkpoint, WspState};
use super::delivery::{RetryPolicy, Tally, deliver};
use super::error::WspError;
use super::framing::{Framed, Framer};
use super::pacing::{Pacer, Speed};
use super::plan::{PlannedOutput, StreamPlan};
use super::row_json::RowWriter;

/// Events due within this of now are sent with the current batch instead of sleeping for
/// them: sleeps shorter than a timer tick only add jitter.
const PACING_SLACK: Duration = Duration::from_millis(2);

/// How the producer streams.
#[derive(Debug, Clone)]
pub struct WspConfig {
    /// Pacing.
    pub speed: Speed,
    /// Envelopes per gate request (at `max` speed; paced batches hold what is due).
    pub batch_size: usize,
    /// Rows between checkpoint writes.
    pub flush_every: u64,
    /// Retry bounds.
    pub retry: RetryPolicy,
    /// Stream outputs concurrently (default) or one after another (debugging).
    pub concurrent_outputs: bool,
    /// Stop each output after this many rows (`WSP_MAX_EVENTS_PER_OUTPUT`); the checkpoint is
    /// then not marked complete.
    pub max_events_per_output: Option<u64>,
    /// Distinguishes deliberate re-streams of the same run (the reference's
    /// `WSP_CHECKPOINT_ATTEMPT_ID`); empty by default.
    pub attempt_id: String,
}

impl Default for WspConfig {
    fn default() -> Self {
        Self {
            speed: Speed::Max,
            batch_size: 1000,
            flush_every: 10_000,
            retry: RetryPolicy::default(),
            concurrent_outputs: true,
            max_events_per_output: None,
            attempt_id: String::new(),
        }
    }
}

/// Receives progress; the CLI draws bars or logs lines from it.
pub trait Progress: Send + Sync {
    /// An output starts: `total` rows in its view, `resumed_at` already decided.
    fn start(&self, output_id: &str, total: u64, resumed_at: u64);
    /// `rows` more rows have a verdict.
    fn advance(&self, output_id: &str, rows: u64);
    /// An output ended (successfully or not).
    fn finish(&self, output_id: &str, report: &OutputReport);
}

/// Progress nobody watches.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64, _: u64) {}
    fn advance(&self, _: &str, _: u64) {}
    fn finish(&self, _: &str, _: &OutputReport) {}
}

/// What one output's stream did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputReport {
    /// Output id.
    pub output_id: String,
    /// Traffic or context.
    pub is_traffic: bool,
    /// Rows in the stream view.
    pub rows: u64,
    /// Row this run started at (from the checkpoint).
    pub resumed_from: u64,
    /// Rows decided by this run.
    pub sent: u64,
    /// Verdicts of this run.
    pub tally: Tally,
    /// Every row of the view has a verdict (now or in an earlier run).
    pub complete: bool,
    /// Wall time of this output.
    pub elapsed_s: f64,
}

/// What streaming a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReport {
    /// Platform run.
    pub platform_run_id: String,
    /// SR run.
    pub scenario_run_id: String,
    /// Per output, in plan order.
    pub outputs: Vec<OutputReport>,
    /// Wall time.
    pub elapsed_s: f64,
}

/// The World Stream Producer.
#[derive(Clone)]
pub struct WorldStreamProducer {
    client: Arc<dyn IngressClient>,
    state: WspState,
    cfg: WspConfig,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for WorldStreamProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorldStreamProducer")
            .field("ingress", &self.client.describe())
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl WorldStreamProducer {
    /// A producer delivering through `client`, checkpointing in `state`.
    pub fn new(
        client: Arc<dyn IngressClient>,
        state: WspState,
        cfg: WspConfig,
        progress: Arc<dyn Progress>,
    ) -> Self {
        Self {
            client,
            state,
            cfg,
            progress,
        }
    }

    /// The state store (checkpoints, READY records).
    pub fn state(&self) -> &WspState {
        &self.state
    }

    /// The checkpoint scope of a plan (the reference's recipe, one lane).
    pub fn scope_key(&self, plan: &StreamPlan) -> String {
        wsp_checkpoint_scope(
            &plan.pack_key,
            &plan.pins.platform_run_id,
            &plan.pins.scenario_run_id,
            1,
            0,
            &self.cfg.attempt_id,
        )
        .to_string()
    }

    /// Stream every output of `plan`, resuming from checkpoints.
    pub async fn stream(&self, plan: &StreamPlan) -> Result<StreamReport, WspError> {
        let started = Instant::now();
        let scope = self.scope_key(plan);
        let plan = Arc::new(plan.clone());
        let mut outputs = Vec::with_capacity(plan.outputs.len());
        if self.cfg.concurrent_outputs {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, o) in plan.outputs.iter().enumerate() {
                let (me, plan, scope, o) =
                    (self.clone(), Arc::clone(&plan), scope.clone(), o.clone());
                tasks.spawn(async move { (i, me.stream_output(&plan, &scope, &o).await) });
            }
            let mut done = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                let (i, result) = joined.map_err(|e| WspError::Worker(e.to_string()))?;
                match result {
                    Ok(r) => done.push((i, r)),
                    Err(e) => {
                        // One output failing fails the run; the others stop at their last
                        // checkpoint and a rerun resumes all of them.
                        tasks.abort_all();
                        return Err(e);
                    }
                }
            }
            done.sort_by_key(|(i, _)| *i);
            outputs.extend(done.into_iter().map(|(_, r)| r));
        } else {
            for o in &plan.outputs {
                outputs.push(self.stream_output(&plan, &scope, o).await?);
            }
        }
        Ok(StreamReport {
            platform_run_id: plan.pins.platform_run_id.clone(),
            scenario_run_id: plan.pins.scenario_run_id.clone(),
            outputs,
            elapsed_s: started.elapsed().as_secs_f64(),
        })
    }

    async fn stream_output(
        &self,
        plan: &StreamPlan,
        scope: &str,
        output: &PlannedOutput,
    ) -> Result<OutputReport, WspError> {
        let started = Instant::now();
        let id = output.output_id.as_str();
        let reader = StreamViewReader::open(&plan.engine_objects, &plan.engine_prefix, id).await?;
        let total = reader.manifest().row_count;
        let cp = self.state.checkpoint(scope, id).await?;
        let resumed_from = cp.as_ref().map_or(0, |c| c.next_row.min(total));
        let mut report = OutputReport {
            output_id: id.to_owned(),
            is_traffic: output.is_traffic,
            rows: total,
            resumed_from,
            sent: 0,
            tally: Tally::default(),
            complete: cp.as_ref().is_some_and(|c| c.complete),
            elapsed_s: 0.0,
        };
        self.progress.start(id, total, resumed_from);
        if report.complete {
            self.progress.finish(id, &report);
            return Ok(report);
        }
        let end = match self.cfg.max_events_per_output {
            Some(cap) => total.min(resumed_from.saturating_add(cap)),
            None => total,
        };
        let framer = Framer::new(id, Arc::new(plan.pins.clone()))?;
        let (tx, mut rx) = mpsc::channel::<Result<Vec<Framed>, WspError>>(4);
        let batch_size = self.cfg.batch_size.max(1);
        let reader_task = tokio::task::spawn_blocking(move || {
            read_and_frame(&reader, &framer, resumed_from, end, batch_size, &tx);
        });

        let mut pacer = Pacer::new(self.cfg.speed);
        let mut next_row = resumed_from;
        let mut last_ts: Option<i64> = None;
        let mut since_save = 0u64;
        let outcome: Result<(), WspError> = async {
            while let Some(chunk) = rx.recv().await {
                let chunk = chunk?;
                let mut from = 0;
                for i in 0..chunk.len() {
                    if let Some(due) = pacer.due(chunk[i].ts_micros)
                        && due > tokio::time::Instant::now() + PACING_SLACK
                    {
                        self.send(id, &chunk[from..i], &mut report).await?;
                        from = i;
                        tokio::time::sleep_until(due).await;
                    }
                }
                self.send(id, &chunk[from..], &mut report).await?;
                if let Some(last) = chunk.last() {
                    next_row = last.row + 1;
                    last_ts = Some(last.ts_micros);
                    since_save += chunk.len() as u64;
                }
                if since_save >= self.cfg.flush_every {
                    self.save(scope, id, next_row, last_ts, false).await?;
                    since_save = 0;
                }
            }
            Ok(())
        }
        .await;
        drop(rx);
        let joined = reader_task.await;
        if let Err(e) = outcome {
            // Rows decided before the failure are kept, so a rerun resumes after them.
            let _ = self.save(scope, id, next_row, last_ts, false).await;
            report.elapsed_s = started.elapsed().as_secs_f64();
            self.progress.finish(id, &report);
            return Err(e);
        }
        joined.map_err(|e| WspError::Worker(e.to_string()))?;
        report.complete = next_row >= total;
        self.save(scope, id, next_row, last_ts, report.complete)
            .await?;
        report.elapsed_s = started.elapsed().as_secs_f64();
        self.progress.finish(id, &report);
        Ok(report)
    }

    async fn send(
        &self,
        id: &str,
        batch: &[Framed],
        report: &mut OutputReport,
    ) -> Result<(), WspError> {
        if batch.is_empty() {
            return Ok(());
        }
        deliver(&*self.client, &self.cfg.retry, id, batch, &mut report.tally).await?;
        report.sent += batch.len() as u64;
        self.progress.advance(id, batch.len() as u64);
        Ok(())
    }

    async fn save(
        &self,
        scope: &str,
        id: &str,
        next_row: u64,
        last_ts: Option<i64>,
        complete: bool,
    ) -> Result<(), WspError> {
        let cp = Checkpoint {
            next_row,
            last_ts_utc: last_ts
                .and_then(|t| fp_rails::TsUtc::from_unix_micros(t).ok())
                .map(|t| t.to_string()),
            complete,
        };
        Ok(self.state.save(scope, id, &cp).await?)
    }
}

/// The reader side (a blocking thread): decode rows `[from, end)` of the view, frame them and
/// hand them over in chunks of `batch_size`; stops at the first error (sent on) or when the
/// receiver is gone.
fn read_and_frame(
    reader: &StreamViewReader,
    framer: &Framer,
    from: u64,
    end: u64,
    batch_size: usize,
    tx: &mpsc::Sender<Result<Vec<Framed>, WspError>>,
) {
    let mut row = 0u64;
    let mut chunk = Vec::with_capacity(batch_size);
    for batch in reader.batches(batch_size) {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
        };
        let n = batch.num_rows() as u64;
        if row + n <= from {
            row += n;
            continue;
        }
        let writer = match RowWriter::new(&batch, framer.output_id()) {
            Ok(w) => w,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        for i in 0..batch.num_rows() {
            let r = row + i as u64;
            if r < from {
                continue;
            }
            if r >= end {
                break;
            }
            match framer.frame_row(&writer, i, r) {
                Ok(f) => chunk.push(f),
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
            if chunk.len() >= batch_size {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(batch_size));
                if tx.blocking_send(Ok(full)).is_err() {
                    return;
                }
            }
        }
        row += n;
        if row >= end {
            break;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
}
