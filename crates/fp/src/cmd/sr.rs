//! `fp sr run|status|reemit`: the Scenario Runner, the readiness authority.

use anyhow::Context;
use fp_ingress::{ReemitKind, RunRequest, ScenarioRunner, SrConfig, SrPolicy};
use fp_rails::Hex32;

use crate::cli::{GlobalArgs, SrCommand};
use crate::wiring::{self, BusRole};

pub fn run(global: &GlobalArgs, cmd: SrCommand) -> anyhow::Result<()> {
    let profile = wiring::load_profile(global)?;
    let runtime = wiring::runtime()?;
    runtime.block_on(async move {
        let platform_run_id = wiring::platform_run_id(&profile, cmd.platform_run_id())?;
        let objects = wiring::open_objects(&profile)?;
        let sql = wiring::open_sql(&profile).await?;
        let bus = wiring::open_bus(&profile, BusRole::Control).await?.bus;
        let mut config = SrConfig::new(platform_run_id, SrPolicy::new(profile.policy_rev.clone()));
        config.environment = Some(profile.environment().to_owned());
        let runner = ScenarioRunner::new(objects, sql, bus, config)
            .await
            .context("cannot start the Scenario Runner")?;
        let doc = match cmd {
            SrCommand::Run { request, .. } => {
                let bytes = std::fs::read(&request)
                    .with_context(|| format!("cannot read run request {}", request.display()))?;
                let request = RunRequest::from_json(&bytes)
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
