//! Wiring: turn a resolved profile into live backends. The only place that knows which
//! concrete backend a profile names; everything else takes traits.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use fp_bus::topics::PartitionCounts;
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus};
use fp_substrate::profile::{BusWiring, ProcessEnv, ResolvedProfile};

use crate::cli::GlobalArgs;

/// Load the profile named on the command line.
pub fn load_profile(global: &GlobalArgs) -> anyhow::Result<ResolvedProfile> {
    fp_substrate::profile::load(&global.profile, global.config_dir.as_deref(), &ProcessEnv)
        .with_context(|| format!("cannot load profile `{}`", global.profile))
}

/// Which of the profile's two buses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusRole {
    /// Admitted facts (`wiring.event_bus`).
    Event,
    /// READY and other control facts (`wiring.control_bus`).
    Control,
}

/// A bus and the partition counts its topics are provisioned with.
pub struct OpenBus {
    /// The backend.
    pub bus: Arc<dyn EventBus>,
    /// Partitions per topic volume class.
    pub counts: PartitionCounts,
}

/// Open the profile's event or control bus.
pub fn open_bus(profile: &ResolvedProfile, role: BusRole) -> anyhow::Result<OpenBus> {
    let wiring = match role {
        BusRole::Event => &profile.profile.wiring.event_bus,
        BusRole::Control => &profile.profile.wiring.control_bus,
    };
    let key = match role {
        BusRole::Event => "wiring.event_bus",
        BusRole::Control => "wiring.control_bus",
    };
    match wiring {
        BusWiring::Embedded { root, partitions } => {
            let root = PathBuf::from(root);
            let bus = EmbeddedBus::open(&root, EmbeddedConfig::default()).with_context(|| {
                format!("cannot open the embedded bus at {} ({key})", root.display())
            })?;
            // High-volume topics get the profile's partition count; low-volume ones (control,
            // audit, cases) one partition, so their facts keep a single total order locally.
            Ok(OpenBus {
                bus: Arc::new(bus),
                counts: PartitionCounts {
                    high: *partitions,
                    low: 1,
                },
            })
        }
        BusWiring::Kinesis { .. } => bail!(
            "{key} is Kinesis, whose backend is not wired into fp yet (issue #4); use --profile local"
        ),
    }
}
