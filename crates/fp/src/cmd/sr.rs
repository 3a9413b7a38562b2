//! `fp sr run|status|reemit`: the Scenario Runner, the readiness authority.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use fp_bus::BusError;
use fp_ingress::scenario_runner::request;
use fp_ingress::{BusOpener, ReemitKind, ScenarioRunner, SrConfig, SrError, SrPolicy};
use fp_rails::Hex32;
use fp_substrate::profile::ResolvedProfile;

use crate::cli::{GlobalArgs, SrCommand};
use crate::wiring::{self, BusRole};

/// SR knobs the profile does not carry yet (decision 0011), from the environment:
/// `FP_SR_EVIDENCE_WAIT_SECONDS`, `FP_SR_EVIDENCE_POLL_MS`, `FP_SR_LEASE_TTL_SECONDS`.
fn env_u64(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .with_context(|| format!("{name}=`{v}` must be a whole number")),
        _ => Ok(None),
    }
}

fn sr_config(profile: &ResolvedProfile, cmd: &SrCommand) -> anyhow::Result<SrConfig> {
    let platform_run_id = wiring::platform_run_id(profile, cmd.platform_run_id())?;
    let mut policy = SrPolicy::new(profile.policy_rev.clone());
    if let Some(s) = env_u64("FP_SR_EVIDENCE_WAIT_SECONDS")? {
        policy.evidence_wait_seconds = s;
    }
    if let Some(ms) = env_u64("FP_SR_EVIDENCE_POLL_MS")? {
        if ms == 0 {
            bail!("FP_SR_EVIDENCE_POLL_MS must be at least 1");
        }
        policy.evidence_poll_interval = Duration::from_millis(ms);
    }
    let mut config = SrConfig::new(platform_run_id, policy);
    if let Some(s) = env_u64("FP_SR_LEASE_TTL_SECONDS")? {
        if s == 0 {
            bail!("FP_SR_LEASE_TTL_SECONDS must be at least 1");
        }
        config.lease_ttl = Duration::from_secs(s);
    }
    config.environment = Some(profile.environment().to_owned());
    Ok(config)
}

/// Opens the profile's control bus when SR first publishes. The embedded bus admits one
/// process at a time, so a process that has to publish while another holds it waits for it
/// (up to a minute) instead of failing.
fn control_bus_opener(profile: Arc<ResolvedProfile>) -> BusOpener {
    Arc::new(move || {
        let profile = Arc::clone(&profile);
        Box::pin(async move {
            let mut waited = Duration::ZERO;
            loop {
                match wiring::open_bus(&profile, BusRole::Control).await {
                    Ok(open) => return Ok(open.bus),
                    Err(e)
                        if waited < Duration::from_secs(60)
                            && e.chain().any(|c| {
                                matches!(
                                    c.downcast_ref::<BusError>(),
                                    Some(BusError::Locked { .. })
                                )
                            }) =>
                    {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        waited += Duration::from_millis(200);
                    }
                    Err(e) => return Err(SrError::ControlBus(format!("{e:#}"))),
                }
            }
        })
    })
}

pub fn run(global: &GlobalArgs, cmd: SrCommand) -> anyhow::Result<()> {
    let profile = Arc::new(wiring::load_profile(global)?);
    let runtime = wiring::runtime()?;
    runtime.block_on(async move {
        let config = sr_config(&profile, &cmd)?;
        let objects = wiring::open_objects(&profile)?;
        let sql = wiring::open_sql(&profile).await?;
        let opener = control_bus_opener(Arc::clone(&profile));
        let runner = ScenarioRunner::with_bus_opener(objects, sql, opener, config)
            .await
            .context("cannot start the Scenario Runner")?;
        let doc = match cmd {
            SrCommand::Run { request, .. } => {
                let bytes = std::fs::read(&request)
                    .with_context(|| format!("cannot read run request {}", request.display()))?;
                let request = request::from_json(&bytes)
                    .with_context(|| format!("invalid run request {}", request.display()))?;
                serde_json::to_value(runner.run(&request).await?)?
            }
            SrCommand::Status { run_id, .. } => {
                let run_id = parse_run_id(&run_id)?;
                serde_json::to_value(runner.status(&run_id).await?)?
            }
            SrCommand::Reemit { run_id, kind, .. } => {
                let run_id = parse_run_id(&run_id)?;
                let kind = match kind.as_str() {
                    "ready" => ReemitKind::ReadyOnly,
                    "terminal" => ReemitKind::TerminalOnly,
                    _ => ReemitKind::Both,
                };
                serde_json::to_value(runner.reemit(&run_id, kind).await?)?
            }
        };
        println!("{}", serde_json::to_string_pretty(&doc)?);
        Ok(())
    })
}

fn parse_run_id(text: &str) -> anyhow::Result<Hex32> {
    Hex32::parse(text).context("RUN must be the 32-hex scenario_run_id that `fp sr run` printed")
}
