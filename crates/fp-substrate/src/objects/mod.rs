//! Object store.
