//! `fp ig serve|admit|reconcile|receipts|lookup`: the Ingestion Gate.

use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fp_ingress::ingestion_gate::http::{self, Auth, HttpConfig};
use fp_ingress::ingestion_gate::{
    AdmissionIndex, GateConfig, IgPolicy, IngestionGate, Lookup, LookupHit, Outcome, Submission,
};
use fp_substrate::profile::{AuthMode, ResolvedProfile};

use crate::cli::{GlobalArgs, IgCommand};
use crate::wiring::{self, BusRole};

pub fn run(global: &GlobalArgs, cmd: IgCommand) -> anyhow::Result<()> {
    let profile = wiring::load_profile(global)?;
    let runtime = wiring::runtime()?;
    runtime.block_on(async move {
        match cmd {
            IgCommand::Serve {
                bind,
                platform_run_id,
            } => {
                let gate = Arc::new(open_gate(&profile, platform_run_id.as_deref()).await?);
                serve(&profile, gate, bind).await
            }
            IgCommand::Admit {
                file,
                batch,
                platform_run_id,
            } => {
                let gate = open_gate(&profile, platform_run_id.as_deref()).await?;
                admit_file(&gate, &file, batch.max(1)).await
            }
            IgCommand::Reconcile {
                release_absent,
                platform_run_id,
            } => {
                let gate = open_gate(&profile, platform_run_id.as_deref()).await?;
                let report = gate.reconcile(release_absent).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(())
            }
            IgCommand::Receipts { run, json } => {
                let sql = wiring::open_sql(&profile).await?;
                let index = AdmissionIndex::open(sql).await?;
                let rows = index.summary(run.clone()).await?;
                if json {
                    let doc: Vec<_> = rows
                        .iter()
                        .map(|(k, n)| {
                            serde_json::json!({"platform_run_id": k.platform_run_id,
                            "decision": k.decision, "event_class": k.event_class,
                            "reason_code": k.reason_code, "count": n})
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                } else if rows.is_empty() {
                    println!(
                        "no receipts{}",
                        run.map(|r| format!(" for {r}")).unwrap_or_default()
                    );
                } else {
                    println!(
                        "{:<32} {:<11} {:<26} {:<24} {:>10}",
                        "platform_run_id", "decision", "event_class", "reason", "count"
                    );
                    for (k, n) in rows {
                        println!(
                            "{:<32} {:<11} {:<26} {:<24} {:>10}",
                            k.platform_run_id, k.decision, k.event_class, k.reason_code, n
                        );
                    }
                }
                Ok(())
            }
            IgCommand::Lookup {
                event_id,
                receipt_id,
                dedupe_key,
            } => {
                let key = match (event_id, receipt_id, dedupe_key) {
                    (Some(v), _, _) => Lookup::EventId(v),
                    (_, Some(v), _) => Lookup::ReceiptId(v),
                    (_, _, Some(v)) => Lookup::DedupeKey(v),
                    _ => bail!("give one of --event-id, --receipt-id or --dedupe-key"),
                };
                let sql = wiring::open_sql(&profile).await?;
                let index = AdmissionIndex::open(sql).await?;
                for hit in index.lookup(key).await? {
                    match hit {
                        LookupHit::Admission(r) => println!(
                            "admission {} {} event {} class {} eb_ref {}",
                            r.state.as_str(),
                            r.dedupe_key,
                            r.event_id,
                            r.event_class,
                            r.eb_ref
                                .map(|e| format!("{}/{}/{}", e.topic, e.partition, e.offset))
                                .unwrap_or_else(|| "-".into())
                        ),
                        LookupHit::Quarantine {
                            reason_code,
                            record_ref,
                            raw_ref,
                            ..
                        } => println!("quarantine {reason_code} record {record_ref} raw {raw_ref}"),
                    }
                }
                Ok(())
            }
        }
    })
}

pub(crate) async fn open_gate(
    profile: &ResolvedProfile,
    platform_run_id: Option<&str>,
) -> anyhow::Result<IngestionGate> {
    let platform_run_id = wiring::platform_run_id(profile, platform_run_id)?;
    let objects = wiring::open_objects(profile)?;
    let sql = wiring::open_sql(profile).await?;
    let opened = wiring::open_bus(profile, BusRole::Event).await?;
    gate_on(profile, platform_run_id, objects, sql, opened).await
}

/// The gate of `profile`'s policy on the given backends (provisions the bus's topics).
pub(crate) async fn gate_on(
    profile: &ResolvedProfile,
    platform_run_id: fp_rails::PlatformRunId,
    objects: fp_substrate::objects::Objects,
    sql: fp_substrate::sql::SqlStore,
    opened: wiring::OpenBus,
) -> anyhow::Result<IngestionGate> {
    opened
        .bus
        .provision(&fp_bus::topics::taxonomy(opened.counts))
        .await
        .context("cannot provision the event bus topics")?;
    let policy = IgPolicy::builtin(&profile.profile.policy.revision)?;
    let mut cfg = GateConfig::new(Arc::new(policy), platform_run_id);
    cfg.require_run_scope = profile.profile.policy.require_gate_pass;
    cfg.stamp.environment = Some(profile.environment().to_owned());
    let index = AdmissionIndex::open(sql)
        .await
        .context("cannot open the admission index")?;
    IngestionGate::open(cfg, index, opened.bus, objects)
        .await
        .context("cannot start the Ingestion Gate")
}

async fn serve(
    profile: &ResolvedProfile,
    gate: Arc<IngestionGate>,
    bind: Option<String>,
) -> anyhow::Result<()> {
    let w = &profile.profile.wiring.ingestion_gate;
    let auth = match w.auth.mode {
        AuthMode::Disabled => Auth::Disabled,
        AuthMode::ApiKey => {
            let Some(keys) = &w.auth.api_keys else {
                bail!(
                    "wiring.ingestion_gate.auth.mode is api_key but api_keys is not set \
                     (set it to ${{secret:IG_API_KEYS}} and export IG_API_KEYS)"
                );
            };
            Auth::api_keys(&w.auth.api_key_header, keys.expose()).map_err(anyhow::Error::msg)?
        }
    };
    let cfg = HttpConfig {
        max_body_bytes: usize::try_from(w.max_body_bytes).unwrap_or(usize::MAX),
        auth,
        ..HttpConfig::default()
    };
    let bind = bind.unwrap_or_else(|| w.bind.clone());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    // The listening line goes to stdout so scripts can wait for it.
    println!("ingestion gate listening on http://{addr}");
    let probe_gate = Arc::clone(&gate);
    tokio::spawn(async move {
        loop {
            let report = probe_gate.probe().await;
            if report.state != fp_ingress::ingestion_gate::HealthState::Green {
                tracing::warn!(state = ?report.state, reasons = ?report.reasons, "ingestion gate health");
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    http::serve(listener, http::router(gate, cfg), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("the HTTP server stopped")
}

async fn admit_file(
    gate: &IngestionGate,
    file: &std::path::Path,
    batch: usize,
) -> anyhow::Result<()> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
        ))
    };
    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    let mut pending: Vec<Submission> = Vec::with_capacity(batch);
    let mut lines = reader.split(b'\n');
    let mut total = 0u64;
    loop {
        let line = lines.next().transpose().context("cannot read the input")?;
        let done = line.is_none();
        if let Some(l) = line
            && l.iter().any(|b| !b.is_ascii_whitespace())
        {
            pending.push(Submission::anonymous(l));
        }
        if pending.len() >= batch || (done && !pending.is_empty()) {
            let subs = std::mem::take(&mut pending);
            total += subs.len() as u64;
            for o in gate.admit_batch(subs).await? {
                let k = match &o {
                    Outcome::Decided { decision, .. } => decision.as_str().to_owned(),
                    Outcome::Retry { error, .. } => (*error).to_owned(),
                };
                *counts.entry(k).or_default() += 1;
            }
            // Periodic progress on stderr (stdout carries the result).
            if last_log.elapsed() >= Duration::from_secs(2) {
                eprintln!(
                    "admitted {total} envelopes ({:.0}/s)",
                    total as f64 / started.elapsed().as_secs_f64()
                );
                last_log = Instant::now();
            }
        }
        if done {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "envelopes": total,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "decisions": counts,
        }))?
    );
    Ok(())
}
