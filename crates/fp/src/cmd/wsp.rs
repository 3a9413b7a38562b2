//! `fp wsp run`: the World Stream Producer — READY runs from the control bus into the gate.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use fp_ingress::ingestion_gate::{HttpIngress, InProcessIngress};
use fp_ingress::stream_producer::{
    EngineRootResolver, ModeSelection, PlanChecks, Progress, ReadyConsumer, ReadyOutcome, Speed,
    WorldStreamProducer, WspConfig, WspError, WspState, local_engine_roots,
};
use fp_rails::PlatformRunId;
use fp_rails::contracts::common::ActorSourceType;
use fp_rails::contracts::ingestion::Actor;
use fp_rails::ingress::IngressClient;
use fp_substrate::objects::Objects;
use fp_substrate::profile::{AuthMode, ResolvedProfile, Speedup, TrafficMode};

use crate::cli::{GlobalArgs, IngressMode, WspCommand, WspRunArgs};
use crate::progress::StreamProgress;
use crate::wiring::{self, BusRole};

pub fn run(global: &GlobalArgs, cmd: WspCommand) -> anyhow::Result<()> {
    let profile = wiring::load_profile(global)?;
    let runtime = wiring::runtime()?;
    runtime.block_on(async move {
        match cmd {
            WspCommand::Run(args) => run_ready(&profile, &args).await,
        }
    })
}

async fn run_ready(profile: &ResolvedProfile, args: &WspRunArgs) -> anyhow::Result<()> {
    // Flags first: a typo fails before anything is opened.
    let speed = speed(profile, args.speedup.as_deref())?;
    let prid = wiring::platform_run_id(profile, args.platform_run_id.as_deref())?;
    let objects = wiring::open_objects(profile)?;
    let sql = wiring::open_sql(profile).await?;
    let control = wiring::open_bus(profile, BusRole::Control).await?.bus;
    let mode = args
        .ingress
        .unwrap_or(if profile.profile.profile_id == "local" {
            IngressMode::InProcess
        } else {
            IngressMode::Http
        });
    let client = ingress_client(profile, mode, &prid).await?;
    let cfg = WspConfig {
        speed,
        batch_size: args.batch.max(1),
        flush_every: args.flush_every.max(1),
        concurrent_outputs: !args.serial,
        max_events_per_output: args.max_events,
        ..WspConfig::default()
    };
    let state = WspState::open(sql)
        .await
        .context("cannot open the WSP checkpoint store")?;
    let progress: Arc<dyn Progress> = Arc::new(StreamProgress::new(args.json));
    let producer = WorldStreamProducer::new(client, state, cfg, progress);
    let consumer = ready_consumer(profile, producer, objects, Some(prid.to_string()))?;
    loop {
        let outcomes = consumer.drain(&control).await.map_err(explain)?;
        for o in &outcomes {
            print_outcome(o, args.json)?;
        }
        if !args.follow {
            if outcomes.is_empty() {
                eprintln!(
                    "no READY on the control bus for platform run {prid} (run `fp sr run` first)"
                );
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(args.poll_seconds.max(1))).await;
    }
}

/// The producer's client of the gate.
pub(crate) async fn ingress_client(
    profile: &ResolvedProfile,
    mode: IngressMode,
    prid: &PlatformRunId,
) -> anyhow::Result<Arc<dyn IngressClient>> {
    Ok(match mode {
        IngressMode::InProcess => {
            let gate = super::ig::open_gate(profile, Some(prid.as_str()))
                .await
                .context(
                    "cannot run the gate in this process (if `fp ig serve` is running on this \
                     data directory, stream to it with `fp wsp run --ingress http`)",
                )?;
            Arc::new(InProcessIngress::new(Arc::new(gate), wsp_actor()))
        }
        IngressMode::Http => {
            let w = &profile.profile.wiring.ingestion_gate;
            let key = match w.auth.mode {
                AuthMode::Disabled => None,
                AuthMode::ApiKey => {
                    let Some(k) = &w.auth.client_api_key else {
                        bail!(
                            "the gate wants an API key (wiring.ingestion_gate.auth.mode api_key) \
                             but client_api_key is not set; export the key it names"
                        );
                    };
                    Some((w.auth.api_key_header.clone(), k.expose().to_owned()))
                }
            };
            Arc::new(
                HttpIngress::new(&w.url, key, Duration::from_secs(30))
                    .context("cannot build the gate's HTTP client")?,
            )
        }
    })
}

/// Who WSP is when it calls the gate in process (over HTTP the gate derives it from the key).
pub(crate) fn wsp_actor() -> Actor {
    Actor {
        actor_id: "SYSTEM::world_stream_producer".into(),
        source_type: ActorSourceType::System,
        auth_mode: Some("in_process".into()),
        principal: Some("world_stream_producer".into()),
    }
}

/// Pacing from the flag, else the profile.
fn speed(profile: &ResolvedProfile, flag: Option<&str>) -> anyhow::Result<Speed> {
    match flag {
        Some("max") => Ok(Speed::Max),
        Some(text) => match text.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => bail!("--speedup must be `max` or a positive number (e.g. 600), not `{text}`"),
        },
        None => Ok(match profile.profile.policy.stream_speedup {
            Speedup::Factor(f) if f.is_finite() && f > 0.0 => Speed::Factor(f),
            Speedup::Factor(f) => bail!("policy.stream_speedup must be positive, not {f}"),
            Speedup::Named(_) => Speed::Max,
        }),
    }
}

/// The READY consumer of a profile: its traffic mode's outputs, its checks, its stores.
pub(crate) fn ready_consumer(
    profile: &ResolvedProfile,
    producer: WorldStreamProducer,
    objects: Objects,
    active_run: Option<String>,
) -> anyhow::Result<ReadyConsumer> {
    let policy = &profile.profile.policy;
    let outputs = match policy.traffic_mode {
        TrafficMode::Fraud => &policy.outputs.fraud,
        TrafficMode::Baseline => &policy.outputs.baseline,
    };
    let mode = ModeSelection {
        traffic: outputs.traffic.clone(),
        context: outputs.context.clone(),
    };
    // Fail at start, not at the first READY, when the profile names what cannot be streamed.
    fp_ingress::stream_producer::plan::select_outputs(&mode)
        .context("the profile's policy.outputs cannot be streamed")?;
    let checks = PlanChecks {
        require_gate_pass: policy.require_gate_pass,
        require_sealed: policy.require_sealed_oracle,
    };
    Ok(ReadyConsumer::new(
        producer,
        objects,
        engine_roots(profile),
        mode,
        checks,
        active_run,
    ))
}

/// Engine run roots are local directories, or `s3://` URIs read with the oracle store's
/// credentials.
fn engine_roots(profile: &ResolvedProfile) -> EngineRootResolver {
    let oracle = profile.profile.wiring.oracle_store.clone();
    Arc::new(move |root: &str| {
        if root.starts_with("s3://") {
            let mut cfg = wiring::object_store_config(&oracle);
            cfg.url = root.to_owned();
            Ok((Objects::open(&cfg)?, String::new()))
        } else {
            local_engine_roots()(root)
        }
    })
}

fn print_outcome(o: &ReadyOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(o)?);
        return Ok(());
    }
    println!(
        "READY {} (run {}): {}{}",
        o.message_id,
        o.scenario_run_id,
        o.status,
        o.reason
            .as_ref()
            .map(|r| format!(" — {r}"))
            .unwrap_or_default()
    );
    if let Some(report) = &o.report {
        println!(
            "  {:<32} {:>10} {:>10} {:>10} {:>11} {:>9}",
            "output", "rows", "admitted", "duplicate", "quarantined", "complete"
        );
        for r in &report.outputs {
            println!(
                "  {:<32} {:>10} {:>10} {:>10} {:>11} {:>9}",
                r.output_id,
                r.rows,
                r.tally.admitted,
                r.tally.duplicates,
                r.tally.quarantined,
                if r.complete { "yes" } else { "no" }
            );
        }
        println!("  elapsed {:.1} s", report.elapsed_s);
    }
    Ok(())
}

/// Errors with the operator's next step.
fn explain(e: WspError) -> anyhow::Error {
    anyhow::Error::new(e).context("the World Stream Producer stopped")
}
