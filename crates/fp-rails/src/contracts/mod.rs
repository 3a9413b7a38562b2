//! Typed forms of the platform's wire contracts (`contracts/*.schema.json`).
