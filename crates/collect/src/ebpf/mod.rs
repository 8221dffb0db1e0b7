//! eBPF accounting (ARCHITECTURE.md §3): exact per-process TCP and UDP bytes, including processes that
//! connect and exit between two samples.
//!
//! `nrec.bpf.c` counts, on the `sock:sock_send_length` / `sock:sock_recv_length` tracepoints,
//! bytes per (process, network namespace, name) into a hash map, each entry's value holding
//! them per protocol class and direction. The first
//! `record` (or `nrec setup`) loads it and pins the maps and links in its database's
//! directory ([`Pins`]), so the counting survives the one-shot process; every later run reads
//! the cumulative values. The store turns them into deltas (`store::ebpf`), and after the
//! sample is committed the entries of processes that have exited are deleted
//! ([`Pins::forget`]), so the map holds live processes plus at most one interval's dead ones.
//!
//! **Whose counting it is** is decided here, once: each database has its own pinned state
//! (programs, maps, links), in a directory derived from the database's path, and the state
//! names its database (the `owner` map). Only the owner forgets entries: a second database
//! recording on the same host never deletes what the first has not read (issue 31: a one-shot
//! `record` into a test database took a daemon's bytes of a process that exited between
//! their reads). A reader of another database's state (an `NREC_BPF_DIR` pointing at it)
//! reads without forgetting and says so; `status --check` fails on it. States whose database
//! is gone, or that nobody read for a day, are removed by the next `record` ([`Pins::sweep`]);
//! a session's (`nrec top`) when its process is gone.
//!
//! This module is only the kernel side's reader; what counts as covered and what is stored is
//! decided in `store::ebpf`, which also works on a [`Reading`] built by hand (unit tests).

use std::path::{Path, PathBuf};

pub use nrec_model::ebpf::*;

/// Where the states are pinned (systemd mounts bpffs here at boot).
pub const BPFFS: &str = "/sys/fs/bpf";

/// The system database's state: `/sys/fs/bpf/nrec`, the place the units and the package know.
const SYSTEM_DIR: &str = "nrec";

/// A state nobody read for this long is an orphan (a database recorded into once, a timer
/// stopped): removed by the next `record`. CLOCK_BOOTTIME ns; pins do not outlive a boot.
#[cfg_attr(not(feature = "ebpf"), allow(dead_code))]
const ORPHAN_AFTER_NS: u64 = 24 * 3600 * 1_000_000_000;

/// One pinned eBPF state: its directory and whose counting it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    dir: PathBuf,
    /// The database that owns it (its absolute path, as the owner map holds it); empty for a
    /// session's private state (`nrec top`).
    owner: Vec<u8>,
}

impl Pins {
    /// The state of database `db`: `NREC_BPF_DIR` when set, else `/sys/fs/bpf/nrec` for the
    /// system database (`system`) and `/sys/fs/bpf/nrec-HASH` for any other, HASH a digest
    /// of its absolute path (a copy elsewhere is another database, with its own counting).
    pub fn of_database(db: &Path, system: bool) -> Pins {
        let owner = owner_path(db);
        let dir = match std::env::var_os("NREC_BPF_DIR").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None if system => Path::new(BPFFS).join(SYSTEM_DIR),
            None => Path::new(BPFFS).join(derived_name(&owner)),
        };
        Pins { dir, owner }
    }

    /// A private state for process `pid` (`nrec top` as root when no recorder's is pinned),
    /// removed when the session ends (or, if it is killed, by the next `record`).
    pub fn session(pid: u32) -> Pins {
        Pins {
            dir: Path::new(BPFFS).join(format!("nrec-top-{pid}")),
            owner: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The owner as the owner map holds it (bytes; at most [`OWNER_MAX`]).
    #[cfg_attr(not(feature = "ebpf"), allow(dead_code))]
    pub(crate) fn owner(&self) -> &[u8] {
        &self.owner
    }
}

/// Longest owner path the owner map holds; a longer one is stored as its digest.
pub const OWNER_MAX: usize = 4088;

/// `db` made absolute, its directory's symlinks resolved (the file may not exist yet), as
/// bytes; a path longer than the owner map holds is named by its digest.
fn owner_path(db: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let abs = match (db.parent(), db.file_name()) {
        (Some(p), Some(f)) => {
            let p = if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            };
            p.canonicalize()
                .map_or_else(|_| db.to_path_buf(), |p| p.join(f))
        }
        _ => db.to_path_buf(),
    };
    let abs = if abs.is_absolute() {
        abs
    } else {
        std::env::current_dir().unwrap_or_default().join(abs)
    };
    let b = abs.as_os_str().as_bytes().to_vec();
    if b.len() > OWNER_MAX {
        format!("fnv1a:{:016x}", fnv1a(&b)).into_bytes()
    } else {
        b
    }
}

/// `nrec-` and 16 hex digits of the owner's FNV-1a digest: stable across builds and
/// versions (std's hasher is not), short enough for any bpffs name.
fn derived_name(owner: &[u8]) -> String {
    format!("nrec-{:016x}", fnv1a(owner))
}

fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
        (h ^ u64::from(*c)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What `status` says of a pinned state.
#[derive(Debug, Clone)]
pub struct State {
    pub reading: Reading,
    /// The byte map's capacity (entries).
    pub capacity: usize,
    /// The database that owns it, when it is not the one asking (lossy text, for messages).
    pub foreign: Option<String>,
    /// The connection map: entries held (the current cut's and any not yet stored), its
    /// capacity, the events and bytes it could not count when full since it was created.
    pub conn_entries: usize,
    pub conn_capacity: usize,
    pub conn_lost_events: u64,
    pub conn_lost_bytes: u64,
    /// The cgroup hooks that tell unconnected UDP sockets' peers are attached.
    pub udp_peers: bool,
}

/// Another database's (or a session's) state found beside this one.
#[derive(Debug, Clone)]
pub struct Other {
    pub dir: PathBuf,
    /// Its database (lossy text); None for a session's.
    pub owner: Option<String>,
    /// Seconds since its owner last read it (None: never read, or unknown).
    pub idle_s: Option<u64>,
    /// Why the next `record` removes it, if it does.
    pub orphan: Option<String>,
}

/// Whether an `nrec-…` name in /sys/fs/bpf is a state this module derives (a database's or
/// a session's), so a sweep never touches a directory somebody named by hand.
#[cfg_attr(not(feature = "ebpf"), allow(dead_code))]
fn derived_kind(name: &str) -> Option<Derived> {
    let rest = name.strip_prefix("nrec-")?;
    if let Some(pid) = rest.strip_prefix("top-") {
        return pid.parse::<u32>().ok().map(Derived::Session);
    }
    (rest.len() == 16 && rest.bytes().all(|c| c.is_ascii_hexdigit())).then_some(Derived::Database)
}

#[cfg_attr(not(feature = "ebpf"), allow(dead_code))]
enum Derived {
    Database,
    Session(u32),
}

/// Why a state is an orphan: its session's process is gone, its database is gone, or
/// nobody read it for a day (`idle_ns`).
#[cfg_attr(not(feature = "ebpf"), allow(dead_code))]
fn orphan_reason(kind: &Derived, owner: &[u8], idle_ns: Option<u64>) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    match kind {
        Derived::Session(pid) => (!Path::new(&format!("/proc/{pid}")).exists())
            .then(|| format!("its nrec top (pid {pid}) has ended")),
        Derived::Database => {
            let db = Path::new(std::ffi::OsStr::from_bytes(owner));
            if owner.starts_with(b"/") && !db.exists() {
                Some(format!("its database {} is gone", db.display()))
            } else {
                idle_ns
                    .filter(|n| *n > ORPHAN_AFTER_NS)
                    .map(|n| format!("nobody read it for {} h", n / 3_600_000_000_000))
            }
        }
    }
}

/// `NREC_BPF_MAX_ENTRIES`: the byte map's capacity when it is created (default 16384
/// (process, namespace, name) entries, ~2.6 MB of kernel memory, preallocated);
/// `NREC_BPF_CONN_ENTRIES`: the connection map's (default 32768 (process, connection, cut)
/// entries — two intervals' distinct connections — ~4.7 MB, preallocated).
#[cfg(feature = "ebpf")]
pub(crate) fn max_entries(var: &str) -> Result<Option<u32>, String> {
    match std::env::var(var) {
        Err(_) => Ok(None),
        Ok(v) => match v.parse::<u32>() {
            Ok(n) if (1..=1 << 24).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "{var}={v:?}: not a number of entries between 1 and 16777216"
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
    /// The state's directory is not one nrec may trust (another user's, or writable by
    /// others): never used, always said.
    Refused(String),
}

#[cfg(feature = "ebpf")]
mod imp;

#[cfg(not(feature = "ebpf"))]
mod off {
    use super::*;

    const WHY: &str = "this nrec was built without the `ebpf` feature";

    impl Pins {
        pub fn collect(&self, _setup: bool, _cut: bool) -> Probe {
            Probe::Off(WHY.into())
        }
        pub fn setup(&self) -> Result<bool, String> {
            Err(WHY.into())
        }
        pub fn forget(&self, _stored: &[(Key, Value)]) -> Result<usize, String> {
            Ok(0)
        }
        pub fn forget_conns(&self, _conns: &Conns) -> Result<usize, String> {
            Ok(0)
        }
        pub fn live_conns(&self, _cut: bool) -> Result<Conns, String> {
            Err(WHY.into())
        }
        pub fn cgroup_name(&self, _id: u64) -> Option<Vec<u8>> {
            None
        }
        pub fn status(&self) -> Result<Option<State>, String> {
            Err(WHY.into())
        }
        pub fn others(&self) -> Vec<Other> {
            Vec::new()
        }
        pub fn sweep(&self) -> Vec<(PathBuf, String)> {
            Vec::new()
        }
        /// Pinned files can still be removed (left by another build).
        pub fn remove(&self) -> Result<bool, String> {
            let mut any = false;
            for f in [
                "send4", "send6", "recv4", "recv6", "send", "recv", "bytes", "state", "cgnames",
                "owner", "conns", "peers",
            ] {
                any |= std::fs::remove_file(self.dir.join(f)).is_ok();
            }
            let _ = std::fs::remove_dir(&self.dir);
            Ok(any)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two databases never share a state: the directory is the path's, stable across builds.
    #[test]
    fn each_database_has_its_own_directory() {
        let a = Pins::of_database(Path::new("/nonexistent-nrec/a.db"), false);
        let b = Pins::of_database(Path::new("/nonexistent-nrec/b.db"), false);
        if std::env::var_os("NREC_BPF_DIR").is_some() {
            return; // an explicit directory serves every database
        }
        assert_ne!(a.dir(), b.dir());
        assert_eq!(a.owner(), b"/nonexistent-nrec/a.db");
        // FNV-1a of the path: the same name from every build of nrec
        assert_eq!(a.dir(), Path::new("/sys/fs/bpf/nrec-3bf701be6c7e47e0"));
        let sys = Pins::of_database(Path::new("/nonexistent-nrec/a.db"), true);
        assert_eq!(sys.dir(), Path::new("/sys/fs/bpf/nrec"));
        assert!(matches!(
            derived_kind("nrec-3bf701be6c7e47e0"),
            Some(Derived::Database)
        ));
        assert!(matches!(
            derived_kind("nrec-top-42"),
            Some(Derived::Session(42))
        ));
        for other in [
            "nrec",
            "nrec-test-1-2",
            "nrec-3bf701be6c7e47e",
            "nrec-top-x",
        ] {
            assert!(derived_kind(other).is_none(), "{other}");
        }
    }

    #[test]
    fn an_orphan_is_a_gone_database_a_day_unread_or_an_ended_session() {
        let day = ORPHAN_AFTER_NS;
        assert!(orphan_reason(&Derived::Database, b"/nonexistent/x.db", Some(1)).is_some());
        assert!(orphan_reason(&Derived::Database, b"/", Some(day / 2)).is_none());
        assert!(orphan_reason(&Derived::Database, b"/", Some(day + 1)).is_some());
        assert!(orphan_reason(&Derived::Database, b"/", None).is_none());
        let me = std::process::id();
        assert!(orphan_reason(&Derived::Session(me), b"", None).is_none());
        assert!(orphan_reason(&Derived::Session(u32::MAX), b"", None).is_some());
    }
}
