//! Code the benchmark binaries share: the synthetic recovery log that the suite's
//! recovery step and `recovery_figures` both play back.

pub mod synthetic_log;
