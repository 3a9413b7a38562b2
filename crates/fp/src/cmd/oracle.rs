//! `fp oracle seal|stream-view`: the Oracle Store on a local run root.

use anyhow::Context;
use fp_substrate::objects::{ObjectStoreConfig, Objects};
use fp_world::oracle::{self, SealOptions, SealOutcome, StreamViewOptions, StreamViewOutcome};

use crate::cli::OracleCommand;

pub fn run(cmd: OracleCommand) -> anyhow::Result<()> {
    let runtime = crate::wiring::runtime()?;
    runtime.block_on(async move {
        match cmd {
            OracleCommand::Seal { root } => {
                let report = oracle::seal_local(&root, &SealOptions::default())
                    .await
                    .with_context(|| format!("cannot seal {}", root.display()))?;
                let verb = match report.outcome {
                    SealOutcome::Sealed => "sealed",
                    SealOutcome::AlreadySealed => "already sealed (no change)",
                };
                println!(
                    "{verb}: {} (oracle_pack_id {})",
                    root.display(),
                    report.manifest.oracle_pack_id
                );
                Ok(())
            }
            OracleCommand::StreamView { root } => {
                let objects = Objects::open(&ObjectStoreConfig::local(&root))
                    .with_context(|| format!("cannot open {}", root.display()))?;
                let reports =
                    oracle::build_stream_views(&objects, "", &StreamViewOptions::default())
                        .await
                        .with_context(|| {
                            format!("cannot build stream views of {}", root.display())
                        })?;
                for r in reports {
                    let verb = match r.outcome {
                        StreamViewOutcome::Built => "built",
                        StreamViewOutcome::Reused => "reused",
                    };
                    println!(
                        "{verb:<7} {:<32} {:>10} rows  {} .. {}",
                        r.manifest.output_id,
                        r.manifest.row_count,
                        r.manifest.min_ts_utc.as_deref().unwrap_or("-"),
                        r.manifest.max_ts_utc.as_deref().unwrap_or("-"),
                    );
                }
                Ok(())
            }
        }
    })
}
