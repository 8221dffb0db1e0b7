//! How long each stored name or label can legitimately be: the kernel's own bounds, which the
//! recorder keeps at the input and the store checks on every read (`nrec_store::Bounded`), so
//! a crafted row cannot make a report print gigabytes (a 20 MB interface name is printed once
//! per row) or a loop run for minutes: a longer value is an error naming the column (exit 3).

/// IFNAMSIZ − 1.
pub const IFNAME: usize = 15;
/// TASK_COMM_LEN − 1.
pub const COMM: usize = 15;
/// PATH_MAX: executables, cgroup paths and the unit and container names cut from them.
pub const PATH: usize = 4096;
/// A named namespace's file name (NAME_MAX), "root" or "ns:INODE".
pub const NETNS: usize = 255;
/// uname(2) fields (hostname, release, machine: 64 bytes each) and boot ids.
pub const UNAME: usize = 64;
/// An address as text (IPv6 at most 45) and protocol names.
pub const ADDR: usize = 64;
/// A keyset: the protocol counter names of one namespace, newline-joined
/// (`recorder::MAX_COUNTERS` names of at most 9 + 1 + 64 + 1 + 64 bytes: `file:Group:Name`).
pub const KEYSET: usize = MAX_COUNTERS * 140;
/// The most protocol counters one namespace stores (Linux 6.x has about 400, and the host's
/// namespace 6 per CPU more from softnet_stat): a keyset stays within [`KEYSET`].
pub const MAX_COUNTERS: usize = 4096;
/// The most CPUs whose softnet_stat lines are stored (6 counters each).
pub const SOFTNET_CPUS: usize = 512;
