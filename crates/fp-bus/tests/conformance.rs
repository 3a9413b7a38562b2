//! The event-bus conformance suite (`fp_bus::conformance`) run against the embedded log, once
//! per case with small segments (so cases cross segment rolls and index seeks) and once in
//! full with the default configuration. The Kinesis backend runs the same functions.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use fp_bus::{EmbeddedBus, EmbeddedConfig, EventBus, conformance};

/// A fresh embedded bus; the directory lives as long as the returned guard.
fn embedded(config: EmbeddedConfig) -> (tempfile::TempDir, Arc<dyn EventBus>) {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(dir.path().join("bus"), config).unwrap();
    (dir, Arc::new(bus))
}

fn small_segments() -> EmbeddedConfig {
    EmbeddedConfig {
        segment_max_bytes: 4 * 1024,
        index_interval_bytes: 700,
        read_chunk_bytes: 2048,
        ..EmbeddedConfig::default()
    }
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let (_dir, bus) = embedded(small_segments());
            conformance::$case(bus, "conformance").await;
        }
    )*};
}

fp_bus::conformance_cases!(cases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_with_default_config() {
    let (_dir, bus) = embedded(EmbeddedConfig::default());
    conformance::run_all(bus, "suite").await;
}

#[tokio::test(flavor = "current_thread")]
async fn whole_suite_on_a_current_thread_runtime() {
    // The writer is a thread of its own, so a single-threaded runtime works too.
    let (_dir, bus) = embedded(small_segments());
    conformance::run_all(bus, "single").await;
}
