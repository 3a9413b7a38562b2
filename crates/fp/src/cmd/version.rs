//! `fp version`.

use crate::cli::VersionArgs;

pub fn run(args: &VersionArgs) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let contracts = fp_rails::contracts::SCHEMA_NAMES.len();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"fp": version, "contract_schemas": contracts, "canonical_json": "python-compatible-v1"})
        );
    } else {
        println!("fp {version} ({contracts} contract schemas, Python-compatible canonical JSON)");
    }
    Ok(())
}
