//! nrec's model: the ground floor every other crate stands on. Plain data and pure functions —
//! no I/O, no SQLite, no command line:
//!
//! - [`sample`]: what the kernel said at one instant (every namespace's counters, sockets,
//!   eBPF's reading), as the collectors fill it;
//! - [`counter`] and [`derive`]: the counting rules — deltas, resets, wraps, plausibility,
//!   the placement of a sample after the stored one, socket and eBPF accounting — the one
//!   place the recorder and the live view take them from;
//! - [`time`]: windows and instants (which interval belongs to which day and bucket);
//! - [`names`], [`filter`], [`identity`], [`limit`]: what a name is, how it is printed and
//!   matched, whose a cgroup is, how long a stored name may be;
//! - [`error`] and [`warnings`]: the error kinds with their exit codes, and what a sample has
//!   to tell;
//! - [`varint`]: how readings are held, in memory as on disk.

pub mod counter;
pub mod derive;
pub mod ebpf;
pub mod error;
pub mod filter;
pub mod identity;
pub mod limit;
pub mod names;
pub mod sample;
pub mod scope;
pub mod time;
pub mod varint;
pub mod warnings;
