//! Context Store + FlowBinding (contracts §12.3).
