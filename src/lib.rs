//! nrec as a library: the recorder, store and reports behind the `nrec` binary, also used by
//! the `simulate` example (a year of samples through the real insert, rollup and prune path).

pub mod alerts;
pub mod cli;
pub mod cmd;
pub mod complete;
pub mod config;
pub(crate) mod derive;
pub mod ebpf;
pub mod error;
pub mod live;
pub mod manual;
pub mod metrics;
pub mod output;
pub mod recorder;
pub(crate) mod report;
pub(crate) mod sampler;
pub mod store;
pub(crate) mod sys;
/// The child that reads a captured /proc file with a deadline (see `sys::read_bounded_within`).
pub use sys::read_helper_main;
pub(crate) mod time;
pub(crate) mod warnings;
