//! SQL state.
