//! Test harnesses shared by the integration tests (each test binary uses a part of them).

#[allow(dead_code)]
pub mod http;
#[allow(dead_code)]
pub mod ig;
