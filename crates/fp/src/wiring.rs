//! Wiring: turn a resolved profile into live backends. The only place that knows which
//! concrete backend a profile names; everything else takes traits.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use fp_bus::kinesis::{KinesisBus, KinesisConfig};
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
pub async fn open_bus(profile: &ResolvedProfile, role: BusRole) -> anyhow::Result<OpenBus> {
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
        BusWiring::Kinesis {
            endpoint,
            region,
            shards,
            stream_prefix,
            access_key_id,
            secret_access_key,
        } => {
            let config = KinesisConfig {
                endpoint: endpoint.clone(),
                region: region.clone(),
                stream_prefix: stream_prefix.clone(),
                shards: *shards,
                access_key_id: access_key_id.as_ref().map(|s| s.expose().to_owned()),
                secret_access_key: secret_access_key.as_ref().map(|s| s.expose().to_owned()),
                ..KinesisConfig::default()
            };
            let bus = KinesisBus::connect(config)
                .await
                .with_context(|| format!("cannot connect to Kinesis ({key})"))?;
            Ok(OpenBus {
                bus: Arc::new(bus),
                counts: PartitionCounts {
                    high: *shards,
                    low: 1,
                },
            })
        }
    }
}
