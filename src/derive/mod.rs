//! DERIVE: pure functions from readings to what is stored. No database, no kernel, no clock:
//! plain data in, plain data out, so every counting rule of ARCHITECTURE.md §4 is unit-tested
//! on hand-built samples. `store::insert` loads what they need (the previous readings, the
//! socket baselines), calls them, and persists their results.
//!
//! - [`iface`]: where a sample stands (baseline, continues, first after boot) and each
//!   interface's deltas and flags against the previous readings.
//! - [`sockets`]: a namespace's TCP dump (and closed sockets) against its baseline → bytes per
//!   owner, service port and remote host, and the next baseline.

pub mod iface;
pub mod sockets;
