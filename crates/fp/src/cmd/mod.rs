//! Subcommand implementations: thin glue from parsed arguments to the libraries.

mod demo;
mod eb;
mod ig;
mod oracle;
mod profile;
mod sr;
mod version;
mod world;
mod wsp;

use anyhow::bail;

use crate::cli::{Cli, Command};

/// Dispatch one command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Profile(cmd) => profile::run(&cli.global, cmd),
        Command::Version(args) => version::run(&args),
        Command::Demo(args) => demo::run(&cli.global, &args),
        Command::World(cmd) => world::run(cmd),
        Command::Oracle(cmd) => oracle::run(cmd),
        Command::Sr(cmd) => sr::run(&cli.global, cmd),
        Command::Wsp(cmd) => wsp::run(&cli.global, cmd),
        Command::Ig(cmd) => ig::run(&cli.global, cmd),
        Command::Eb(cmd) => eb::run(&cli.global, cmd),
        Command::Rtdl(_) => planned("rtdl", "#8 and #9"),
        Command::Audit(_) => planned("audit", "#9"),
        Command::Parity(_) => planned("parity", "#10"),
    }
}

fn planned(name: &str, issue: &str) -> anyhow::Result<()> {
    bail!(
        "`fp {name}` is planned but not built yet (tracked in issue {issue}); see `fp --help` for what works today"
    )
}
