//! Shared by the conformance suites: the crate's test support (service discovery, the
//! skip-or-fail policy, unique names).
#![allow(unused_imports)] // each suite uses a different subset

pub use fp_substrate::testing::{
    DEFAULT_PG_DSN, host_port, missing, reachable, services_required, unique,
};
