//! The environment variables that stand for options, for both binaries: `nrec`'s clap
//! definitions (`env = …`), its completion engine, and `nrec-record`'s own reading of its
//! arguments.

/// `--db`.
pub const DB: &str = "NREC_DB";
/// `--config`.
pub const CONFIG: &str = "NREC_CONFIG";
/// `--proc-root` (`record`, `daemon`).
pub const PROC_ROOT: &str = "NREC_PROC_ROOT";
