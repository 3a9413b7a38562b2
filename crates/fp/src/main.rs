//! `fp`: the fraud-platform command line. One subcommand per component, plus the demo.
//!
//! Errors are printed as one line (`error: ...`, causes joined with `: `) and exit non-zero;
//! library crates return typed errors and this binary is the only place they become text.

mod cli;
mod cmd;
mod progress;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

// mimalloc instead of glibc malloc: the gate and the producer allocate and free per event,
// and glibc's fragmentation handling (malloc_consolidate, unlink_chunk) was ~28% of the
// gate's CPU; mimalloc measured +15-35% admission throughput (docs/perf.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` renders the whole cause chain on one line.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout is for results), filtered by `FP_LOG` (default `warn`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
