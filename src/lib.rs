//! nrec's commands as a library, for its two binaries: `nrec` (every command, `src/main.rs`)
//! and `nrec-record` (`src/bin/nrec-record.rs`), the recorder the timer runs — the same
//! `record` code, linked without what only the other commands need (ARCHITECTURE.md §8).

pub mod alerts;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod complete;
pub mod config;
pub mod env;
pub mod live;
pub mod manual;
pub mod remote;
pub mod sampler;
pub mod warnings;
