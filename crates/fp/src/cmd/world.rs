//! `fp world generate|verify`: the data engine stand-in.

use std::time::Instant;

use anyhow::Context;
use fp_world::{WorldConfig, WorldSummary};

use crate::cli::{GenerateArgs, VerifyArgs, WorldCommand};

pub fn run(cmd: WorldCommand) -> anyhow::Result<()> {
    match cmd {
        WorldCommand::Generate(args) => generate(&args),
        WorldCommand::Verify(args) => verify(&args),
    }
}

/// The config file (or defaults), then each flag given on the command line on top.
fn config_from(args: &GenerateArgs) -> anyhow::Result<WorldConfig> {
    let mut cfg = match &args.config {
        Some(path) => WorldConfig::from_file(path)
            .with_context(|| format!("cannot use world config {}", path.display()))?,
        None => WorldConfig::default(),
    };
    if let Some(seed) = args.seed {
        cfg.seed = seed;
    }
    if let Some(scenario) = &args.scenario {
        cfg.scenario_id.clone_from(scenario);
    }
    if let Some(flows) = args.flows {
        cfg.flows = flows;
    }
    if let Some(days) = args.days {
        cfg.days = days;
    }
    if let Some(rate) = args.fraud_rate {
        cfg.fraud_rate = rate;
    }
    Ok(cfg)
}

fn generate(args: &GenerateArgs) -> anyhow::Result<()> {
    let cfg = config_from(args)?;
    eprintln!(
        "generating {} flows over {} days (seed {}, scenario {}) into {}",
        cfg.flows,
        cfg.days,
        cfg.seed,
        cfg.scenario_id,
        args.out.display()
    );
    let started = Instant::now();
    let summary = fp_world::generate(&cfg, &args.out)
        .with_context(|| format!("world generation into {} failed", args.out.display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        let mut doc = serde_json::to_value(&summary)?;
        doc["elapsed_s"] = serde_json::json!(elapsed);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_summary(&summary, elapsed);
    }
    Ok(())
}

fn print_summary(s: &WorldSummary, elapsed: f64) {
    println!("world        {}", s.run_root.display());
    println!("fingerprint  {}", s.manifest_fingerprint);
    println!("parameters   {}", s.parameter_hash);
    println!(
        "seed         {}   scenario {}   run_id {}",
        s.seed, s.scenario_id, s.run_id
    );
    println!(
        "flows        {}   fraud flows {} ({:.3}%)   truth positive {}   bank positive {}   cases {}",
        s.flows,
        s.fraud_flows,
        s.fraud_rate * 100.0,
        s.truth_positive,
        s.bank_positive,
        s.cases
    );
    println!(
        "campaigns    {:<28} {:>10} {:>12}",
        "pattern", "campaigns", "flows"
    );
    for (label, (campaigns, flows)) in &s.campaign_mix {
        println!("             {label:<28} {campaigns:>10} {flows:>12}");
    }
    println!("outputs");
    for o in &s.outputs {
        println!("             {:<34} {:>12} rows", o.output_id, o.rows);
    }
    println!("gates        {} passed", s.gates.len());
    println!(
        "elapsed      {elapsed:.1} s ({:.0} flows/s)",
        s.flows as f64 / elapsed.max(1e-9)
    );
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let report = fp_world::verify(&args.root)
        .with_context(|| format!("world {} does not verify", args.root.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "OK {}: {} gates, {} outputs, {} invariants hold (fingerprint {})",
            args.root.display(),
            report.gates.len(),
            report.outputs.len(),
            report.invariants_passed,
            report.manifest_fingerprint
        );
    }
    Ok(())
}
