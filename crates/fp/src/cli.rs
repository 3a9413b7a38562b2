//! The command-line surface. Planned components are listed now so `fp --help` shows the whole
//! platform; running one that is not built yet says so and which issue tracks it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// fraud-platform: a closed-world, production-shaped fraud detection platform.
#[derive(Debug, Parser)]
#[command(name = "fp", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Profile name (local, local_parity, dev, prod) or path to a profile YAML file.
    #[arg(long, global = true, env = "FP_PROFILE", default_value = "local")]
    pub profile: String,
    /// Directory holding `profiles/` (default: the nearest `config/` above the working
    /// directory, then the profiles built into fp).
    #[arg(long, global = true, env = "FP_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the platform end to end on embedded defaults (world → SR → WSP → IG → EB) and print
    /// a reconciliation.
    Demo(DemoArgs),
    /// Data engine stand-in: generate and verify synthetic worlds.
    #[command(subcommand)]
    World(WorldCommand),
    /// Oracle Store: seal verified worlds, build their stream views.
    #[command(subcommand)]
    Oracle(OracleCommand),
    /// Scenario Runner: verify gates, publish run_facts_view and READY.
    #[command(subcommand)]
    Sr(SrCommand),
    /// World Stream Producer: replay READY worlds into the Ingestion Gate.
    #[command(subcommand)]
    Wsp(WspCommand),
    /// Ingestion Gate: the only door onto the bus (serve, admit, reconcile, receipts).
    #[command(subcommand)]
    Ig(IgCommand),
    /// Event Bus: topics, partitions, tail and replay of records.
    #[command(subcommand)]
    Eb(EbCommand),
    /// Real-time decision loop workers (CSFB, IEG, OFP, DL, DF, AL, DLA) [planned: #8, #9].
    Rtdl(Planned),
    /// Decision audit log: show and verify a decision's chain [planned: #9].
    Audit(Planned),
    /// Local parity stack (S3 + Kinesis + PostgreSQL) bootstrap [planned: #10].
    Parity(Planned),
    /// Environment profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Print the version of fp and of the contracts it speaks.
    Version(VersionArgs),
}

/// Arguments of a subcommand that is not built yet (accepted so the message is the same
/// whatever was typed after it).
#[derive(Debug, Args)]
pub struct Planned {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Flows in the demo world (generated once per size and seed, then reused).
    #[arg(long, default_value_t = 20_000)]
    pub flows: u64,
    /// World seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Horizon of the world in days.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Where worlds and runs are kept (default: the profile's data dir + `/demo`).
    #[arg(long, env = "FP_DEMO_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Demo runs kept on disk, this one included; older ones are deleted when a run starts
    /// (each holds its bus, receipts and index: about 4 KB per event).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_runs: u32,
    /// Print the reconciliation as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// How WSP reaches the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IngressMode {
    /// The gate library in this process (the embedded profile's default).
    InProcess,
    /// `fp ig serve` at the profile's wiring.ingestion_gate.url (every other profile).
    Http,
}

#[derive(Debug, Subcommand)]
pub enum WspCommand {
    /// Stream every READY run on the control bus not streamed yet (resuming from checkpoints),
    /// then exit; with --follow, keep polling for new READY messages.
    Run(WspRunArgs),
}

#[derive(Debug, Args)]
pub struct WspRunArgs {
    /// Keep polling the control bus.
    #[arg(long)]
    pub follow: bool,
    /// Seconds between polls with --follow.
    #[arg(long, default_value_t = 2)]
    pub poll_seconds: u64,
    /// Only stream READY of this platform run (default: PLATFORM_RUN_ID, then the data dir's
    /// ACTIVE_RUN_ID); others are recorded SKIPPED_OUT_OF_SCOPE.
    #[arg(long, env = "PLATFORM_RUN_ID")]
    pub platform_run_id: Option<String>,
    /// Pacing: a speedup factor over event time (e.g. 600) or `max` (default: the profile's
    /// policy.stream_speedup).
    #[arg(long)]
    pub speedup: Option<String>,
    /// Deliver in-process or over HTTP (default: in-process on the local profile, else HTTP).
    #[arg(long, value_enum)]
    pub ingress: Option<IngressMode>,
    /// Envelopes per gate request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Rows between checkpoint writes.
    #[arg(long, default_value_t = 10_000)]
    pub flush_every: u64,
    /// Stop each output after this many rows.
    #[arg(long)]
    pub max_events: Option<u64>,
    /// Stream outputs one after another instead of concurrently (debugging).
    #[arg(long)]
    pub serial: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum WorldCommand {
    /// Generate one world (run root) at the engine interface: 12 outputs as Parquet, 10
    /// validation gates, run_receipt.json. Never overwrites an existing run root.
    Generate(GenerateArgs),
    /// Re-check a run root from disk: every gate digest, every output digest, every invariant.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The run root to create (must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Realisation seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenario id.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Number of flows (one per arrival).
    #[arg(long)]
    pub flows: Option<u64>,
    /// Horizon in days.
    #[arg(long)]
    pub days: Option<u32>,
    /// Target share of flows touched by fraud campaigns (0..=0.5).
    #[arg(long)]
    pub fraud_rate: Option<f64>,
    /// World configuration file (YAML or JSON); flags override its values.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the summary as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The run root to verify.
    pub root: PathBuf,
    /// Print the report as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SrCommand {
    /// Run a request to READY (or a recorded failure): evidence, ledger, facts view, READY.
    Run {
        /// Run request JSON (world identity, engine run root or `generate`, traffic mode).
        #[arg(long)]
        request: PathBuf,
        /// Platform run to work in (default: PLATFORM_RUN_ID, then the data dir's ACTIVE_RUN_ID).
        #[arg(long, env = "PLATFORM_RUN_ID")]
        platform_run_id: Option<String>,
    },
    /// Show a run's state from its ledger.
    Status {
        /// scenario_run_id.
        run_id: String,
        /// Platform run (see `run`).
        #[arg(long, env = "PLATFORM_RUN_ID")]
        platform_run_id: Option<String>,
    },
    /// Re-publish READY or the terminal status from the ledger (same message id).
    Reemit {
        /// scenario_run_id.
        run_id: String,
        /// ready, terminal or both.
        #[arg(long, default_value = "both", value_parser = ["ready", "terminal", "both"])]
        kind: String,
        /// Platform run (see `run`).
        #[arg(long, env = "PLATFORM_RUN_ID")]
        platform_run_id: Option<String>,
    },
}

impl SrCommand {
    /// The explicit platform run id, if given.
    pub fn platform_run_id(&self) -> Option<&str> {
        match self {
            Self::Run {
                platform_run_id, ..
            }
            | Self::Status {
                platform_run_id, ..
            }
            | Self::Reemit {
                platform_run_id, ..
            } => platform_run_id.as_deref(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum IgCommand {
    /// Serve the gate over HTTP (push, batch, health, lookup) on the profile's bind address.
    Serve {
        /// Listen address (default: the profile's wiring.ingestion_gate.bind).
        #[arg(long)]
        bind: Option<String>,
        /// Platform run receipts of unscoped submissions are filed under (default:
        /// PLATFORM_RUN_ID, then the data dir's ACTIVE_RUN_ID).
        #[arg(long, env = "PLATFORM_RUN_ID")]
        platform_run_id: Option<String>,
    },
    /// Admit envelopes from an NDJSON file (or `-` for stdin) in-process, in batches.
    Admit {
        /// NDJSON file, one envelope per line.
        file: PathBuf,
        /// Envelopes per batch.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Platform run (see `serve`).
        #[arg(long, env = "PLATFORM_RUN_ID")]
        platform_run_id: Option<String>,
    },
    /// Settle PUBLISH_IN_FLIGHT / PUBLISH_AMBIGUOUS rows against the bus: found → ADMITTED.
    Reconcile {
        /// Release rows whose events are not on the bus, so a retry admits them (an operator
        /// decision: only when the producer will resend).
        #[arg(long)]
        release_absent: bool,
        /// Platform run (see `serve`).
        #[arg(long, env = "PLATFORM_RUN_ID")]
        platform_run_id: Option<String>,
    },
    /// Summarise ADMIT / DUPLICATE / QUARANTINE by class and reason.
    Receipts {
        /// Platform run to summarise (default: every run).
        #[arg(long)]
        run: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find admissions and quarantines by event id, receipt id or dedupe key.
    Lookup {
        /// Event id.
        #[arg(long, group = "key")]
        event_id: Option<String>,
        /// Receipt id.
        #[arg(long, group = "key")]
        receipt_id: Option<String>,
        /// Dedupe key.
        #[arg(long, group = "key")]
        dedupe_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OracleCommand {
    /// Verify a run root, then write its pack manifest and `_SEALED.json` (write-once;
    /// re-sealing identical content is a no-op, different content is refused).
    Seal {
        /// The run root (a local directory).
        root: PathBuf,
    },
    /// Build (or reuse) the stream view of every streamed output of a sealed run root: rows
    /// in ts_utc order, ties by primary key. This is what WSP reads.
    StreamView {
        /// The sealed run root (a local directory).
        root: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum EbCommand {
    /// Create the platform's topic taxonomy (idempotent).
    Provision {
        /// Act on the control bus instead of the event bus.
        #[arg(long)]
        control: bool,
    },
    /// List provisioned topics.
    Topics {
        /// Act on the control bus instead of the event bus.
        #[arg(long)]
        control: bool,
    },
    /// Show a topic's partitions and their offset ranges (end offsets are exclusive-next).
    Describe {
        /// Topic name, e.g. fp.bus.traffic.fraud.v1.
        topic: String,
        /// Act on the control bus instead of the event bus.
        #[arg(long)]
        control: bool,
    },
    /// Print records as JSON lines ({topic, partition, offset, published_at_utc, value}).
    Tail(TailArgs),
    /// Copy records to a JSON-lines file.
    Replay {
        #[command(flatten)]
        tail: TailArgs,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Topic name.
    pub topic: String,
    /// Only this partition (default: every partition, one after another).
    #[arg(long)]
    pub partition: Option<u32>,
    /// Start at this offset (exclusive-next checkpoint; needs --partition).
    #[arg(long)]
    pub from: Option<String>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Act on the control bus instead of the event bus.
    #[arg(long)]
    pub control: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print the resolved profile (secrets shown as ***) with its policy_rev.
    Show(ShowArgs),
    /// List the profiles that can be loaded.
    List,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}
