//! Gate health (contracts §10.8): GREEN / AMBER / RED with reasons. RED (index, bus or object
//! store failing) makes the gate refuse work with a retryable answer instead of losing data.
//! Failures seen on the hot path count immediately; a probe confirms recovery.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;

/// Consecutive failures of one dependency that turn the gate RED.
pub const FAILURE_THRESHOLD: u32 = 3;

/// Overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthState {
    /// All good.
    Green,
    /// Degraded but admitting.
    Amber,
    /// Refusing (503 + Retry-After).
    Red,
}

/// A health report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// State.
    pub state: HealthState,
    /// Reason codes (`OPS_DB_UNHEALTHY`, `BUS_UNHEALTHY`, `OBJECT_STORE_UNHEALTHY`, …).
    pub reasons: Vec<String>,
}

/// The dependencies the gate watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// The admission index (SQL).
    Index,
    /// The event bus.
    Bus,
    /// The object store.
    Objects,
}

impl Dependency {
    fn reason(self) -> &'static str {
        match self {
            Self::Index => "OPS_DB_UNHEALTHY",
            Self::Bus => "BUS_UNHEALTHY",
            Self::Objects => "OBJECT_STORE_UNHEALTHY",
        }
    }
}

/// Failure counters plus the last probe's findings.
#[derive(Debug, Default)]
pub struct Health {
    index: AtomicU32,
    bus: AtomicU32,
    objects: AtomicU32,
    probe: Mutex<Vec<String>>,
}

impl Health {
    fn counter(&self, d: Dependency) -> &AtomicU32 {
        match d {
            Dependency::Index => &self.index,
            Dependency::Bus => &self.bus,
            Dependency::Objects => &self.objects,
        }
    }

    /// A dependency failed. The index failing is RED at once: without it nothing can be
    /// admitted safely.
    pub fn failed(&self, d: Dependency) {
        let c = self.counter(d);
        let bump = if d == Dependency::Index {
            FAILURE_THRESHOLD
        } else {
            1
        };
        c.fetch_add(bump, Ordering::Relaxed);
    }

    /// A dependency worked.
    pub fn succeeded(&self, d: Dependency) {
        self.counter(d).store(0, Ordering::Relaxed);
    }

    /// Record a probe's findings (reason codes; empty when all good).
    pub fn set_probe(&self, reasons: Vec<String>) {
        if let Ok(mut p) = self.probe.lock() {
            *p = reasons;
        }
    }

    /// The current report.
    pub fn report(&self) -> HealthReport {
        let mut red = Vec::new();
        for d in [Dependency::Index, Dependency::Bus, Dependency::Objects] {
            if self.counter(d).load(Ordering::Relaxed) >= FAILURE_THRESHOLD {
                red.push(d.reason().to_owned());
            }
        }
        let mut amber = Vec::new();
        if let Ok(p) = self.probe.lock() {
            for r in p.iter() {
                if r.ends_with("_UNHEALTHY") {
                    if !red.contains(r) {
                        red.push(r.clone());
                    }
                } else {
                    amber.push(r.clone());
                }
            }
        }
        if !red.is_empty() {
            red.extend(amber);
            return HealthReport {
                state: HealthState::Red,
                reasons: red,
            };
        }
        if !amber.is_empty() {
            return HealthReport {
                state: HealthState::Amber,
                reasons: amber,
            };
        }
        HealthReport {
            state: HealthState::Green,
            reasons: Vec::new(),
        }
    }
}
