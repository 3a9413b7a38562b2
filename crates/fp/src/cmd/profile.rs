//! `fp profile show|list`.

use anyhow::Context;
use fp_substrate::profile::{self, ProcessEnv};

use crate::cli::{Format, GlobalArgs, ProfileCommand};

pub fn run(global: &GlobalArgs, cmd: ProfileCommand) -> anyhow::Result<()> {
    match cmd {
        ProfileCommand::Show(args) => {
            let resolved =
                profile::load(&global.profile, global.config_dir.as_deref(), &ProcessEnv)
                    .with_context(|| format!("cannot load profile `{}`", global.profile))?;
            match args.format {
                Format::Yaml => print!("{}", resolved.to_display_yaml()),
                Format::Json => println!("{}", serde_json::to_string_pretty(&resolved.shown())?),
            }
            Ok(())
        }
        ProfileCommand::List => {
            for name in profile::builtin_names() {
                println!("{name}");
            }
            Ok(())
        }
    }
}
