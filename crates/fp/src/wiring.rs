//! Wiring: turn a resolved profile into live backends. The only place that knows which
//! concrete backend a profile names; everything else takes traits.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use fp_bus::kinesis::{KinesisBus, KinesisConfig};
use fp_bus::topics::PartitionCounts;
use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus};
use fp_rails::PlatformRunId;
use fp_substrate::objects::{ObjectStoreConfig, Objects};
use fp_substrate::profile::{BusWiring, ObjectStoreWiring, ProcessEnv, ResolvedProfile};
use fp_substrate::sql::SqlStore;

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

/// Partitions per topic volume class of a bus wiring: high-volume topics get the profile's
/// partition (shard) count; low-volume ones (control, audit, cases) one partition, so their
/// facts keep a single total order.
pub fn partition_counts(w: &BusWiring) -> PartitionCounts {
    let high = match w {
        BusWiring::Embedded { partitions, .. } => *partitions,
        BusWiring::Kinesis { shards, .. } => *shards,
    };
    PartitionCounts { high, low: 1 }
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
        BusWiring::Embedded { root, .. } => {
            let root = PathBuf::from(root);
            let bus = EmbeddedBus::open(&root, EmbeddedConfig::default()).with_context(|| {
                format!("cannot open the embedded bus at {} ({key})", root.display())
            })?;
            Ok(OpenBus {
                bus: Arc::new(bus),
                counts: partition_counts(wiring),
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
                counts: partition_counts(wiring),
            })
        }
    }
}

/// The object-store configuration a profile's store wiring names (secrets exposed only here,
/// to the client builder).
pub fn object_store_config(w: &ObjectStoreWiring) -> ObjectStoreConfig {
    ObjectStoreConfig {
        url: w.url.clone(),
        endpoint: w.endpoint.clone(),
        region: w.region.clone(),
        path_style: w.path_style,
        allow_http: w.allow_http,
        access_key_id: w.access_key_id.as_ref().map(|s| s.expose().to_owned()),
        secret_access_key: w.secret_access_key.as_ref().map(|s| s.expose().to_owned()),
    }
}

/// Open the profile's platform object store.
pub fn open_objects(profile: &ResolvedProfile) -> anyhow::Result<Objects> {
    let w = &profile.profile.wiring.object_store;
    Objects::open(&object_store_config(w)).with_context(|| {
        format!(
            "cannot open the object store `{}` (wiring.object_store)",
            w.url
        )
    })
}

/// Open the profile's SQL state.
pub async fn open_sql(profile: &ResolvedProfile) -> anyhow::Result<SqlStore> {
    let url = &profile.profile.wiring.state.url;
    if let Some(path) = url.expose().strip_prefix("sqlite:") {
        // Embedded state lives in the data directory: create it on first use.
        if let Some(parent) = std::path::Path::new(path.trim_start_matches("//")).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }
    SqlStore::open(url.expose()).await.with_context(|| {
        format!(
            "cannot open SQL state `{}` (wiring.state.url)",
            url.redacted()
        )
    })
}

/// The platform run this process works in: `--platform-run-id`/`PLATFORM_RUN_ID`, else the
/// data directory's `ACTIVE_RUN_ID`, else a new one (recorded there so later commands agree).
pub fn platform_run_id(
    profile: &ResolvedProfile,
    explicit: Option<&str>,
) -> anyhow::Result<PlatformRunId> {
    if let Some(id) = explicit {
        return PlatformRunId::parse(id).context("invalid --platform-run-id");
    }
    let dir = PathBuf::from(&profile.profile.wiring.data_dir);
    let file = dir.join("ACTIVE_RUN_ID");
    if let Ok(text) = std::fs::read_to_string(&file) {
        return PlatformRunId::parse(text.trim())
            .with_context(|| format!("{} holds an invalid platform_run_id", file.display()));
    }
    let id = PlatformRunId::now();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&file, format!("{id}\n"))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(id)
}

/// The async runtime every service command runs on (two workers: the machine kind's cores).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
