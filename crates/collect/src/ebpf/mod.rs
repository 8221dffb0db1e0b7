//! eBPF accounting (ARCHITECTURE.md §3): exact per-process TCP and UDP bytes, including processes that
//! connect and exit between two samples.
//!
//! `nrec.bpf.c` counts, on the `sock:sock_send_length` / `sock:sock_recv_length` tracepoints,
//! bytes per (process, network namespace, name) into a hash map, each entry's value holding
//! them per protocol class and direction. The first
//! `record` (or `nrec setup`) loads it and pins the maps and links under [`pin_dir`], so the
//! counting survives the one-shot process; every later run reads the cumulative values. The
//! store turns them into deltas (`store::ebpf`), and after the sample is committed the entries
//! of processes that have exited are deleted ([`forget`]), so the map holds live processes
//! plus at most one interval's dead ones.
//!
//! This module is only the kernel side's reader; what counts as covered and what is stored is
//! decided in `store::ebpf`, which also works on a [`Reading`] built by hand (unit tests).

use std::path::PathBuf;

pub use nrec_model::ebpf::*;

/// Where the maps and links are pinned: `NREC_BPF_DIR`, else `/sys/fs/bpf/nrec`.
pub fn pin_dir() -> PathBuf {
    std::env::var_os("NREC_BPF_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys/fs/bpf/nrec"))
}

/// `NREC_BPF_MAX_ENTRIES`: the byte map's capacity when it is created (default 16384
/// (process, namespace, name) entries, ~2.6 MB of kernel memory, preallocated).
#[cfg(feature = "ebpf")]
pub(crate) fn max_entries() -> Result<Option<u32>, String> {
    match std::env::var("NREC_BPF_MAX_ENTRIES") {
        Err(_) => Ok(None),
        Ok(v) => match v.parse::<u32>() {
            Ok(n) if (1..=1 << 24).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "NREC_BPF_MAX_ENTRIES={v:?}: not a number of entries between 1 and 16777216"
            )),
        },
    }
}

/// Whether `record`/`daemon` should use eBPF: `NREC_EBPF=off` turns it off (sock_diag only).
pub fn wanted() -> bool {
    !matches!(
        std::env::var("NREC_EBPF").as_deref(),
        Ok("off" | "0" | "no")
    )
}

/// eBPF for one sample: a reading, or why there is none.
#[derive(Debug, Clone)]
pub enum Probe {
    Active(Reading),
    Off(String),
}

#[cfg(feature = "ebpf")]
mod imp;
#[cfg(feature = "ebpf")]
pub use imp::{cgroup_name, collect, forget, remove, setup, status};

#[cfg(not(feature = "ebpf"))]
mod off {
    use super::*;

    const WHY: &str = "this nrec was built without the `ebpf` feature";

    pub fn collect(_setup: bool) -> Probe {
        Probe::Off(WHY.into())
    }
    pub fn setup() -> Result<bool, String> {
        Err(WHY.into())
    }
    pub fn forget(_stored: &[(Key, Value)]) -> Result<usize, String> {
        Ok(0)
    }
    pub fn cgroup_name(_id: u64) -> Option<Vec<u8>> {
        None
    }
    pub fn status() -> Result<Option<(Reading, usize)>, String> {
        Err(WHY.into())
    }
    /// Pinned files can still be removed (left by another build).
    pub fn remove() -> Result<bool, String> {
        let dir = pin_dir();
        let mut any = false;
        for f in ["send", "recv", "bytes", "state", "cgnames"] {
            any |= std::fs::remove_file(dir.join(f)).is_ok();
        }
        let _ = std::fs::remove_dir(&dir);
        Ok(any)
    }
}
#[cfg(not(feature = "ebpf"))]
pub use off::{cgroup_name, collect, forget, remove, setup, status};
