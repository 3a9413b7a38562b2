//! `fp demo`: the platform end to end in one process on embedded backends, then a
//! reconciliation that must balance: rows per streamed output in the world = the gate's
//! verdicts = records on the output's bus topic.
//!
//! Worlds are generated once per (flows, seed, days) and reused; every demo run is a new
//! platform run with its own object store, buses and SQL state under `runs/<platform_run_id>`,
//! so each reconciliation counts exactly what that run did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus};
use fp_ingress::ingestion_gate::{IgPolicy, InProcessIngress};
use fp_ingress::stream_producer::{
    OutputReport, Progress, Speed, WorldStreamProducer, WspConfig, WspState,
};
use fp_ingress::{RunRequest, RunState, ScenarioRunner, SrConfig, SrPolicy, TrafficMode};
use fp_rails::{Hex64, PlatformRunId};
use fp_substrate::objects::{ObjectStoreConfig, Objects};
use fp_substrate::profile::ResolvedProfile;
use fp_substrate::sql::SqlStore;
use fp_world::WorldConfig;
use fp_world::oracle::{self, SealOptions, StreamViewOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cli::{DemoArgs, GlobalArgs};
use crate::progress::StreamProgress;
use crate::wiring::{self, OpenBus};

/// The world of a demo, as recorded next to it for reuse.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DemoWorld {
    run_root: PathBuf,
    manifest_fingerprint: String,
    parameter_hash: String,
    seed: u64,
    scenario_id: String,
    flows: u64,
}

pub fn run(global: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<()> {
    let profile = wiring::load_profile(global)?;
    if args.flows == 0 {
        bail!("--flows must be at least 1");
    }
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&profile.profile.wiring.data_dir).join("demo"));
    let runtime = wiring::runtime()?;
    runtime.block_on(async move {
        let started = Instant::now();
        let world = world(&dir, args).await?;
        let world_s = started.elapsed().as_secs_f64();
        let doc = stream(&profile, &dir, &world, args.json, args.keep_runs).await?;
        let mut doc = doc;
        doc["world_s"] = json!(round3(world_s));
        doc["total_s"] = json!(round3(started.elapsed().as_secs_f64()));
        if args.json {
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            print_table(&doc);
        }
        if doc["balanced"] != json!(true) {
            bail!("the reconciliation does not balance (see the table above)");
        }
        Ok(())
    })
}

/// The newest demo run's name, if any.
fn latest_run(runs: &Path) -> Option<String> {
    std::fs::read_dir(runs)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("platform_"))
        .max()
}

/// Delete all but the newest `keep` demo runs (names sort by creation time:
/// `platform_YYYYMMDDTHHMMSSZ`).
fn prune_runs(runs: &Path, keep: usize) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return Ok(());
    };
    let mut names: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("platform_"))
        })
        .collect();
    names.sort();
    let drop = names.len().saturating_sub(keep);
    for old in names.into_iter().take(drop) {
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove the old demo run {}", old.display()))?;
        eprintln!(
            "removed the previous demo run {} (--keep-runs)",
            old.display()
        );
    }
    Ok(())
}

/// Generate, seal and build stream views once; reuse afterwards.
async fn world(dir: &Path, args: &DemoArgs) -> anyhow::Result<DemoWorld> {
    let name = format!("seed{}-flows{}-days{}", args.seed, args.flows, args.days);
    let root = dir.join("worlds").join(&name);
    let record = dir.join("worlds").join(format!("{name}.json"));
    let world = match std::fs::read(&record) {
        Ok(bytes) => serde_json::from_slice::<DemoWorld>(&bytes)
            .with_context(|| format!("{} is corrupt; delete it to regenerate", record.display()))?,
        Err(_) => {
            if root.exists() {
                bail!(
                    "{} exists without its record {} (an interrupted generation?); delete the \
                     directory and run the demo again",
                    root.display(),
                    record.display()
                );
            }
            let cfg = WorldConfig {
                seed: args.seed,
                flows: args.flows,
                days: args.days,
                ..WorldConfig::default()
            };
            eprintln!(
                "generating a world of {} flows over {} days (seed {}) into {}",
                cfg.flows,
                cfg.days,
                cfg.seed,
                root.display()
            );
            std::fs::create_dir_all(dir.join("worlds"))?;
            let t = Instant::now();
            let s = tokio::task::spawn_blocking(move || fp_world::generate(&cfg, &root))
                .await
                .context("world generation panicked")?
                .context("world generation failed")?;
            eprintln!("generated in {:.1} s", t.elapsed().as_secs_f64());
            let w = DemoWorld {
                run_root: std::path::absolute(&s.run_root)?,
                manifest_fingerprint: s.manifest_fingerprint,
                parameter_hash: s.parameter_hash,
                seed: s.seed,
                scenario_id: s.scenario_id,
                flows: s.flows,
            };
            // Sealed and viewed before the record exists: a record means a usable world.
            seal_and_view(&w.run_root).await?;
            std::fs::write(&record, serde_json::to_vec_pretty(&w)?)
                .with_context(|| format!("cannot write {}", record.display()))?;
            return Ok(w);
        }
    };
    // The record is written only after sealing and viewing: a recorded world is ready. It is
    // not re-verified here (10 s at a million flows): SR verifies its gates on every run and
    // the stream-view reader checks every part's digest.
    if !world.run_root.join(oracle::SEAL_FILE).exists() {
        bail!(
            "{} is recorded but not sealed; delete {} to regenerate",
            world.run_root.display(),
            record.display()
        );
    }
    Ok(world)
}

async fn seal_and_view(root: &Path) -> anyhow::Result<()> {
    let t = Instant::now();
    oracle::seal_local(root, &SealOptions::default())
        .await
        .with_context(|| format!("cannot seal {}", root.display()))?;
    let objects = Objects::open(&ObjectStoreConfig::local(root))?;
    oracle::build_stream_views(&objects, "", &StreamViewOptions::default())
        .await
        .with_context(|| format!("cannot build the stream views of {}", root.display()))?;
    if t.elapsed().as_secs_f64() > 1.0 {
        eprintln!(
            "sealed and sorted stream views in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// SR → READY → WSP → IG → EB on fresh embedded stores; the reconciliation document.
async fn stream(
    profile: &ResolvedProfile,
    dir: &Path,
    world: &DemoWorld,
    quiet: bool,
    keep_runs: u32,
) -> anyhow::Result<serde_json::Value> {
    // Platform run ids have second resolution: a new run's id must sort after every earlier
    // run's (pruned ones included), so no two runs ever share an id or a directory.
    let latest = latest_run(&dir.join("runs"));
    let prid = loop {
        let prid = PlatformRunId::now();
        if latest.as_deref().is_none_or(|l| prid.as_str() > l) {
            break prid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    prune_runs(&dir.join("runs"), keep_runs.saturating_sub(1) as usize)?;
    let run_dir = dir.join("runs").join(prid.as_str());
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let objects = Objects::open(&ObjectStoreConfig::local(run_dir.join("objects")))?;
    let sql_url = format!("sqlite://{}", run_dir.join("state.db").display());
    let sql = SqlStore::open(&sql_url).await?;
    let open_bus = |name: &str| -> anyhow::Result<Arc<dyn EventBus>> {
        let path = run_dir.join(name);
        Ok(Arc::new(
            EmbeddedBus::open(&path, EmbeddedConfig::default())
                .with_context(|| format!("cannot open the embedded bus at {}", path.display()))?,
        ))
    };
    let control = open_bus("control")?;
    let bus = open_bus("bus")?;

    // SR: the readiness authority verifies the world and publishes READY.
    let mut sr_cfg = SrConfig::new(prid.clone(), SrPolicy::new(profile.policy_rev.clone()));
    sr_cfg.environment = Some(profile.environment().to_owned());
    let runner = ScenarioRunner::new(objects.clone(), sql.clone(), Arc::clone(&control), sr_cfg)
        .await
        .context("cannot start the Scenario Runner")?;
    let request = RunRequest {
        run_equivalence_key: format!("demo:{}", prid.as_str()),
        manifest_fingerprint: Hex64::parse(world.manifest_fingerprint.clone())?,
        parameter_hash: Hex64::parse(world.parameter_hash.clone())?,
        seed: world.seed,
        scenario_id: world.scenario_id.clone(),
        engine_run_root: world.run_root.display().to_string(),
        generate: None,
        traffic_mode: match profile.profile.policy.traffic_mode {
            fp_substrate::profile::TrafficMode::Fraud => TrafficMode::Fraud,
            fp_substrate::profile::TrafficMode::Baseline => TrafficMode::Baseline,
        },
        output_ids: None,
        requested_strategy: None,
        request_id: None,
        invoker: None,
        notes: None,
    };
    let sr = runner.run(&request).await.context("SR run failed")?;
    if sr.state != RunState::Ready {
        bail!(
            "SR did not reach READY: {:?} ({})",
            sr.state,
            sr.reason_code.unwrap_or_default()
        );
    }

    // IG in process on the run's event bus; WSP consumes READY and streams through it.
    let counts = wiring::partition_counts(&profile.profile.wiring.event_bus);
    let opened = OpenBus {
        bus: Arc::clone(&bus),
        counts,
    };
    let gate =
        super::ig::gate_on(profile, prid.clone(), objects.clone(), sql.clone(), opened).await?;
    let client = Arc::new(InProcessIngress::new(
        Arc::new(gate),
        super::wsp::wsp_actor(),
    ));
    let state = WspState::open(sql.clone()).await?;
    let progress: Arc<dyn Progress> = Arc::new(StreamProgress::new(quiet));
    let cfg = WspConfig {
        speed: Speed::Max,
        ..WspConfig::default()
    };
    let producer = WorldStreamProducer::new(client, state, cfg, progress);
    let consumer =
        super::wsp::ready_consumer(profile, producer, objects.clone(), Some(prid.to_string()))?;
    let t = Instant::now();
    let outcomes = consumer
        .drain(&control)
        .await
        .context("the World Stream Producer stopped")?;
    let stream_s = t.elapsed().as_secs_f64();
    let Some(report) = outcomes.into_iter().find_map(|o| o.report) else {
        bail!("WSP found no READY to stream on the control bus");
    };

    // Reconciliation: world rows = verdicts = bus records, per output.
    let policy = IgPolicy::builtin(&profile.profile.policy.revision)?;
    let mut outputs = BTreeMap::new();
    let mut balanced = true;
    let mut events = 0u64;
    for o in &report.outputs {
        let topic = policy.rule(&o.output_id).profile.stream.to_string();
        let bus_records = topic_records(&bus, &topic).await?;
        let ok = reconciles(o, bus_records);
        balanced &= ok;
        events += o.sent;
        outputs.insert(
            o.output_id.clone(),
            json!({
                "rows": o.rows,
                "admitted": o.tally.admitted,
                "duplicates": o.tally.duplicates,
                "quarantined": o.tally.quarantined,
                "quarantine_reasons": o.tally.quarantine_reasons,
                "bus_records": bus_records,
                "topic": topic,
                "traffic": o.is_traffic,
                "balanced": ok,
            }),
        );
    }
    Ok(json!({
        "world": {
            "run_root": world.run_root.display().to_string(),
            "flows": world.flows,
            "manifest_fingerprint": world.manifest_fingerprint,
        },
        "platform_run_id": prid.as_str(),
        "scenario_run_id": report.scenario_run_id,
        "run_dir": run_dir.display().to_string(),
        "outputs": outputs,
        "events": events,
        "elapsed_s": round3(stream_s),
        "events_per_s": (events as f64 / stream_s.max(1e-9)).round(),
        "balanced": balanced,
    }))
}

/// Each row decided once, nothing quarantined, and exactly the admitted rows on the bus.
fn reconciles(o: &OutputReport, bus_records: u64) -> bool {
    o.complete
        && o.tally.decided() == o.rows
        && o.tally.quarantined == 0
        && o.tally.admitted == bus_records
}

async fn topic_records(bus: &Arc<dyn EventBus>, topic: &str) -> anyhow::Result<u64> {
    let mut n = 0u64;
    for p in bus.partitions(topic).await? {
        let start: u64 = p.start_offset.parse().unwrap_or(0);
        let end: u64 = p
            .end_offset
            .parse()
            .with_context(|| format!("offset `{}` of {topic} is not numeric", p.end_offset))?;
        n += end.saturating_sub(start);
    }
    Ok(n)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn print_table(doc: &serde_json::Value) {
    println!(
        "world    {}",
        doc["world"]["run_root"].as_str().unwrap_or("-")
    );
    println!(
        "run      platform {}   scenario {}",
        doc["platform_run_id"].as_str().unwrap_or("-"),
        doc["scenario_run_id"].as_str().unwrap_or("-")
    );
    println!(
        "\n{:<32} {:>10} {:>10} {:>10} {:>11} {:>11}  ok",
        "output", "rows", "admitted", "duplicate", "quarantined", "bus"
    );
    if let Some(outputs) = doc["outputs"].as_object() {
        for (id, o) in outputs {
            let n = |k: &str| o[k].as_u64().unwrap_or(0);
            println!(
                "{:<32} {:>10} {:>10} {:>10} {:>11} {:>11}  {}",
                id,
                n("rows"),
                n("admitted"),
                n("duplicates"),
                n("quarantined"),
                n("bus_records"),
                if o["balanced"] == json!(true) {
                    "yes"
                } else {
                    "NO"
                }
            );
        }
    }
    println!(
        "\n{} events in {:.1} s ({:.0} events/s); world ready in {:.1} s; total {:.1} s",
        doc["events"].as_u64().unwrap_or(0),
        doc["elapsed_s"].as_f64().unwrap_or(0.0),
        doc["events_per_s"].as_f64().unwrap_or(0.0),
        doc["world_s"].as_f64().unwrap_or(0.0),
        doc["total_s"].as_f64().unwrap_or(0.0),
    );
    println!(
        "reconciliation: {}",
        if doc["balanced"] == json!(true) {
            "balanced (world rows = IG verdicts = bus records, 0 quarantined)"
        } else {
            "DOES NOT BALANCE"
        }
    );
}
