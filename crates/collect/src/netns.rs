//! Network namespaces: find every distinct one on the host and run collection inside each.
//!
//! Namespaces come from `/proc/*/ns/net` (any process's) and `/run/netns/*` (named by
//! `ip netns add`, possibly with no process inside). Entering one needs CAP_SYS_ADMIN; it is
//! done on a short-lived helper thread (one per sample for all of them, `run_each`) so the
//! main thread never changes namespace.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The inode of the initial network namespace (include/linux/proc_ns.h), the same on every
/// boot and kernel since 3.8.
pub(crate) const PROC_NET_INIT_INO: u64 = 0xEFFF_FFF9;

/// A namespace found on the host and a path that opens it.
#[derive(Debug, Clone)]
pub struct NsTarget {
    pub inode: u64,
    /// "root" for PID 1's namespace, the `ip netns` name when there is one, else "ns:INODE".
    pub name: Vec<u8>,
    pub open_path: PathBuf,
    /// The process `open_path` is the namespace link of (None: an `ip netns` pin, or the
    /// recorder's own).
    pub via: Option<u32>,
    /// The recorder's own namespace: no setns needed.
    pub is_own: bool,
    /// The processes found in it (not kept for the initial namespace, which holds most).
    pub members: Vec<u32>,
    /// When its `ip netns` pin (/run/netns/NAME) was made, as the pinned namespace file's
    /// change time shows it (wall clock, ms): `ip netns add` pins the namespace it creates.
    pub pinned_ms: Option<i64>,
    /// The pin's namespace file as the walk opened it: entering needs no second lookup of
    /// its path through the mount (None: not a pin, or the walk left it closed to spare
    /// descriptors).
    pub pin: Option<std::sync::Arc<File>>,
}

/// Whether namespace `t` was created after the sample at boot-clock `since_mono_ms` (wall
/// clock `since_ts_ms`) of this boot: every process in it started after that sample (the
/// processes of a container or an `unshare -n` start with their namespace), or, with none,
/// its `ip netns` pin is newer. Anything less certain is not new: a namespace of unknown age
/// is a baseline, never counted from zero (that could invent its whole history).
pub fn born_after(t: &NsTarget, proc_root: &Path, since_mono_ms: i64, since_ts_ms: i64) -> bool {
    let hz = nrec_sys::clock_ticks_per_s().max(1) as i64;
    let mut seen = 0;
    for pid in &t.members {
        let Ok(stat) = nrec_sys::read_proc_small(proc_root.join(pid.to_string()).join("stat"))
        else {
            continue; // exited meanwhile
        };
        let Some((_, start)) = super::procs::parse_stat(&stat) else {
            continue;
        };
        let start_ms = i64::try_from(start)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000)
            / hz;
        if start_ms <= since_mono_ms {
            return false;
        }
        seen += 1;
    }
    if seen > 0 {
        return true;
    }
    t.pinned_ms.is_some_and(|p| p > since_ts_ms)
}

fn ns_inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The inode in a namespace link's text, `net:[4026531840]`.
fn ns_link_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// What one walk of /proc found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Distinct namespaces, own first.
    pub targets: Vec<NsTarget>,
    /// Processes whose namespace link we could not read (not root), so the caller can say
    /// that some namespaces may be missing.
    pub denied: usize,
    /// The processes the walk found running (ascending): whatever was listed and not gone
    /// by its link's read. The eBPF reading taken before the walk uses it to tell which of
    /// its processes have exited, without a second listing of /proc.
    pub pids: Vec<u32>,
}

/// Walks /proc (and /run/netns) for the network namespaces.
pub fn enumerate(proc_root: &Path) -> Walk {
    let own = ns_inode(&proc_root.join("thread-self/ns/net"))
        .or_else(|| ns_inode(&proc_root.join("self/ns/net")));
    let init = ns_inode(&proc_root.join("1/ns/net"));
    let mut found: BTreeMap<u64, NsTarget> = BTreeMap::new();
    let mut denied = 0;
    let mut pids = Vec::new();
    let mut add = |inode: u64,
                   name: Option<Vec<u8>>,
                   path: PathBuf,
                   member: Option<u32>,
                   pin: Option<File>| {
        let e = found.entry(inode).or_insert_with(|| NsTarget {
            inode,
            name: Vec::new(),
            open_path: path,
            via: member,
            is_own: Some(inode) == own,
            members: Vec::new(),
            pinned_ms: None,
            pin: pin.map(std::sync::Arc::new),
        });
        if let Some(n) = name {
            if e.name.is_empty() {
                e.name = n;
            }
        }
        if let Some(m) = member.filter(|_| Some(inode) != init && inode != PROC_NET_INIT_INO) {
            e.members.push(m);
        }
    };
    let mut pins: Vec<(u64, i64)> = Vec::new();
    // Each pin is opened (relative to the directory; non-blocking, should one be a FIFO) and
    // its inode and time read from the open file: one lookup through the mount where a stat
    // now and an open on entering made two. Up to a quarter of the descriptors this process
    // may open; past that, stat by path as before.
    let mut spare = nrec_sys::open_files_soft() / 4;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open("/run/netns");
    if let (Ok(rd), Ok(dir)) = (std::fs::read_dir("/run/netns"), dir) {
        for ent in rd.flatten() {
            let p = ent.path();
            let file = (spare > 0)
                .then(|| nrec_sys::openat_nonblock(&dir, ent.file_name().as_bytes()).ok())
                .flatten();
            spare = spare.saturating_sub(1);
            let meta = match &file {
                Some(f) => f.metadata(),
                None => std::fs::metadata(&p),
            };
            if let Ok(m) = meta {
                pins.push((
                    m.ino(),
                    m.ctime().saturating_mul(1000) + m.ctime_nsec() / 1_000_000,
                ));
                add(
                    m.ino(),
                    Some(ent.file_name().as_bytes().to_vec()),
                    p,
                    None,
                    file,
                );
            }
        }
    }
    // Every process's namespace, by the link's text ("net:[INODE]") read relative to an open
    // /proc: a stat would follow each link into nsfs, ~2x the cost (benches/record.sh).
    // Kernel threads are listed as running but their links are not read: they share the
    // initial namespace (kthreadd's), and on a server they are most of /proc (61 of 69
    // processes on the test VM, hundreds on a many-core host).
    let kthreads = kernel_threads(proc_root);
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(proc_root);
    if let (Ok(rd), Ok(dir)) = (std::fs::read_dir(proc_root), dir) {
        let mut name = Vec::with_capacity(32);
        let mut buf = [0u8; 64];
        for ent in rd.flatten() {
            let fname = ent.file_name();
            if fname.is_empty() || !fname.as_bytes().iter().all(u8::is_ascii_digit) {
                continue;
            }
            name.clear();
            name.extend_from_slice(fname.as_bytes());
            name.extend_from_slice(b"/ns/net\0");
            let Ok(cname) = std::ffi::CStr::from_bytes_with_nul(&name) else {
                continue;
            };
            let pid = std::str::from_utf8(fname.as_bytes())
                .ok()
                .and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| kthreads.binary_search(&p).is_ok()) {
                pids.extend(pid);
                continue;
            }
            match nrec_sys::readlinkat(&dir, cname, &mut buf) {
                Ok(link) => {
                    pids.extend(pid);
                    if let Some(ino) = ns_link_inode(link) {
                        add(ino, None, ent.path().join("ns/net"), pid, None);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    pids.extend(pid);
                    denied += 1;
                }
                Err(_) => {} // process exited meanwhile
            }
        }
    }
    if let Some(o) = own {
        add(o, None, proc_root.join("thread-self/ns/net"), None, None);
    }
    for (ino, ms) in pins {
        if let Some(t) = found.get_mut(&ino) {
            t.pinned_ms = Some(ms);
        }
    }
    // "root" is the initial namespace, whoever runs the recorder: the kernel gives it a fixed
    // inode. Inside a container (no init_net in sight) it is PID 1's namespace, else our own.
    let root = if found.contains_key(&PROC_NET_INIT_INO) {
        Some(PROC_NET_INIT_INO)
    } else {
        init.or(own)
    };
    let mut list: Vec<NsTarget> = found
        .into_values()
        .map(|mut t| {
            if Some(t.inode) == root {
                t.name = b"root".to_vec();
            } else if t.name.is_empty() {
                t.name = unnamed(t.inode);
            }
            t
        })
        .collect();
    list.sort_by_key(|t| (!t.is_own, t.name != b"root", t.name.clone()));
    pids.sort_unstable();
    Walk {
        targets: list,
        denied,
        pids,
    }
}

/// The kernel threads under `proc_root` (ascending): kthreadd (PID 2 of the initial PID
/// namespace, a kernel thread by its flags, which no process can set) and its children,
/// which are kernel threads only. Empty when PID 2 is not kthreadd (a PID namespace, a
/// captured tree) or the children list is missing (CONFIG_PROC_CHILDREN off): then every
/// link is read. A kernel thread that exits and whose PID a new process takes between this
/// read and the walk is listed as running but its link not read this sample; a namespace
/// held by that process alone is found by the next.
fn kernel_threads(proc_root: &Path) -> Vec<u32> {
    /// PF_KTHREAD, include/linux/sched.h
    const PF_KTHREAD: u64 = 0x0020_0000;
    let kthreadd = proc_root.join("2");
    let Ok(stat) = nrec_sys::read_proc_small(kthreadd.join("stat")) else {
        return Vec::new();
    };
    let flags = stat
        .iter()
        .rposition(|b| *b == b')')
        .filter(|c| stat.starts_with(b"2 (kthreadd)") && *c == 11)
        .and_then(|c| stat.get(c + 2..))
        .and_then(|rest| rest.split(|b| *b == b' ').nth(6))
        .and_then(crate::procfs::parse_u64);
    if flags.is_none_or(|f| f & PF_KTHREAD == 0) {
        return Vec::new();
    }
    let Ok(children) = nrec_sys::read_proc_small(kthreadd.join("task/2/children")) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = std::iter::once(Some(2))
        .chain(
            children
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .map(|w| std::str::from_utf8(w).ok()?.parse().ok()),
        )
        .collect::<Option<_>>()
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// How a helper thread gets into a namespace ([`enter`]): what its target says, owned.
struct Way {
    via: Option<u32>,
    path: PathBuf,
    pin: Option<std::sync::Arc<File>>,
}

impl Way {
    fn of(t: &NsTarget) -> Way {
        Way {
            via: t.via,
            path: t.open_path.clone(),
            pin: t.pin.clone(),
        }
    }
}

/// Moves the calling thread (a helper that runs nothing but collection, then ends) into the
/// namespace of `way`: an `ip netns` pin by the file the walk opened; the link of a process
/// straight into that process's: a pidfd (Linux 5.8) needs no lookup of /proc/PID/ns/net
/// and its access check, ~3 µs less per container namespace; else (or where the kernel
/// refuses either) by opening the path. Each is the namespace the walk found.
fn enter(way: &Way) -> std::io::Result<()> {
    let setns = |fd: &dyn AsRawFd| {
        // SAFETY: an open namespace or process fd; setns only affects the calling thread.
        match unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    };
    if let Some(pin) = &way.pin {
        if setns(&**pin).is_ok() {
            return Ok(());
        }
    }
    if let Some(fd) = way.via.and_then(|p| nrec_sys::pidfd_open(p).ok()) {
        if setns(&fd).is_ok() {
            return Ok(());
        }
    }
    setns(&File::open(&way.path)?)
}

/// Runs `f` in every namespace of `targets`, in order, and returns each result (an error for
/// one that cannot be entered: no CAP_SYS_ADMIN, vanished). The own namespace runs on the
/// calling thread; all others on one helper thread that enters each in turn, so a sample of
/// a host with hundreds of containers starts one thread, not one per namespace.
pub(crate) fn run_each<C: Send + 'static, T: Send + 'static>(
    targets: &[&NsTarget],
    ctx: Vec<C>,
    f: fn(C) -> T,
) -> Vec<std::io::Result<T>> {
    let mut own: Vec<(usize, C)> = Vec::new();
    let mut foreign: Vec<usize> = Vec::new();
    let mut jobs: Vec<(Way, C)> = Vec::new();
    for (i, (t, c)) in targets.iter().zip(ctx).enumerate() {
        if t.is_own {
            own.push((i, c));
        } else {
            foreign.push(i);
            jobs.push((Way::of(t), c));
        }
    }
    let mut out: Vec<Option<std::io::Result<T>>> = targets.iter().map(|_| None).collect();
    if !jobs.is_empty() {
        let enter_each = move || -> Vec<std::io::Result<T>> {
            jobs.into_iter()
                .map(|(way, c)| {
                    // (this helper thread runs nothing but collection and then ends)
                    enter(&way)?;
                    Ok(f(c))
                })
                .collect()
        };
        let joined = std::thread::Builder::new()
            .name("nrec-netns".into())
            .spawn(enter_each)
            .and_then(|h| {
                h.join()
                    .map_err(|_| std::io::Error::other("namespace helper thread panicked"))
            });
        match joined {
            Ok(results) => {
                for (i, r) in foreign.iter().zip(results) {
                    out[*i] = Some(r);
                }
            }
            Err(e) => {
                for i in &foreign {
                    out[*i] = Some(Err(std::io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
    }
    for (i, c) in own {
        out[i] = Some(Ok(f(c)));
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(std::io::Error::other("namespace not collected"))))
        .collect()
}

/// Runs `f` inside namespace `t` and returns its result; for the own namespace it runs
/// directly. Fails if the namespace cannot be entered (no CAP_SYS_ADMIN, vanished).
pub(crate) fn run_in<T: Send + 'static>(
    t: &NsTarget,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    if t.is_own {
        return Ok(f());
    }
    let way = Way::of(t);
    let h = std::thread::Builder::new()
        .name("nrec-netns".into())
        .spawn(move || {
            enter(&way)?;
            Ok(f())
        })?;
    h.join()
        .map_err(|_| std::io::Error::other("namespace helper thread panicked"))?
}

/// The name of a namespace that has none (not an `ip netns` name, not a container's): its
/// inode, as every report names it.
pub fn unnamed(inode: u64) -> Vec<u8> {
    format!("ns:{inode}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_links_name_their_inode() {
        assert_eq!(ns_link_inode(b"net:[4026531840]"), Some(4_026_531_840));
        assert_eq!(ns_link_inode(b"net:[]"), None);
        assert_eq!(ns_link_inode(b"mnt:[4026531840]"), None);
        assert_eq!(ns_link_inode(b"net:[4026531840"), None);
        // the live host: our own namespace is found, by the same inode a stat gives
        let walk = enumerate(Path::new("/proc"));
        let list = &walk.targets;
        let own = ns_inode(Path::new("/proc/self/ns/net")).unwrap();
        assert!(list.iter().any(|t| t.inode == own && t.is_own), "{list:?}");
        // the processes found include this one, and a PID nobody has does not appear
        assert!(walk.pids.binary_search(&std::process::id()).is_ok());
        assert!(walk.pids.windows(2).all(|w| w[0] < w[1]));
        // Kernel threads are listed as running without their links read: every one still
        // there is in the walk's list, and its namespace (read here) is one the walk found —
        // the premise of not reading them, checked on this kernel.
        for k in kernel_threads(Path::new("/proc")) {
            let Ok(link) = std::fs::read_link(format!("/proc/{k}/ns/net")) else {
                continue; // ended meanwhile (or no permission: not root)
            };
            let ino = ns_link_inode(link.as_os_str().as_bytes()).unwrap();
            assert!(list.iter().any(|t| t.inode == ino), "kthread {k}: {ino}");
            assert!(walk.pids.binary_search(&k).is_ok(), "kthread {k}");
        }
    }

    /// An `ip netns` pin is found by the file the walk opened: its inode is the pinned
    /// namespace's (what a stat of the path gives), and a helper thread enters that
    /// namespace by it.
    #[test]
    fn a_pin_is_opened_once_and_entered_by_that_file() {
        if !nrec_sys::is_root() {
            eprintln!(
                "SKIPPED a_pin_is_opened_once_and_entered_by_that_file: needs root (ip netns add)"
            );
            return;
        }
        let name = format!("nrecpin{}", std::process::id());
        let ip = |a: &str| {
            std::process::Command::new("ip")
                .args(["netns", a, &name])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip("add") {
            eprintln!("SKIPPED a_pin_is_opened_once_and_entered_by_that_file: ip netns add failed");
            return;
        }
        let walk = enumerate(Path::new("/proc"));
        let got = walk
            .targets
            .iter()
            .find(|t| t.name == name.as_bytes())
            .cloned();
        let path_ino = std::fs::metadata(format!("/run/netns/{name}")).map(|m| m.ino());
        // (with no path to fall back on: only the pin can take the thread in)
        let inside = got.clone().map(|mut t| {
            t.open_path = PathBuf::from("/nonexistent/nrec-pin");
            run_in(&t, || {
                std::fs::metadata("/proc/thread-self/ns/net")
                    .map(|m| m.ino())
                    .ok()
            })
        });
        ip("delete");
        let t = got.expect("the pin is found");
        assert!(t.pin.is_some(), "opened by the walk");
        assert_eq!(Ok(t.inode), path_ino.map_err(|e| e.to_string()));
        assert_eq!(
            inside.unwrap().unwrap(),
            Some(t.inode),
            "entered by the pin"
        );
    }

    #[test]
    fn kernel_threads_are_kthreadds_children_only_when_pid_2_is_kthreadd() {
        let t = tempfile::tempdir().unwrap();
        let two = t.path().join("2");
        std::fs::create_dir_all(two.join("task/2")).unwrap();
        let stat = |comm: &str, flags: u64| {
            format!("2 ({comm}) S 0 0 0 0 -1 {flags} 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n")
        };
        std::fs::write(two.join("task/2/children"), "3 4 10 7 ").unwrap();
        std::fs::write(two.join("stat"), stat("kthreadd", 0x0020_8040)).unwrap();
        assert_eq!(kernel_threads(t.path()), [2, 3, 4, 7, 10]);
        // a process that calls itself kthreadd (PID 2 of a PID namespace) is not one
        std::fs::write(two.join("stat"), stat("kthreadd", 0x0040_0100)).unwrap();
        assert_eq!(kernel_threads(t.path()), [0u32; 0]);
        std::fs::write(
            two.join("stat"),
            stat("kthreadd) S 0 0 0 0 -1 2129984 (x", 0x0040_0100),
        )
        .unwrap();
        assert_eq!(kernel_threads(t.path()), [0u32; 0]);
        std::fs::write(two.join("stat"), stat("kthreadd", 0x0020_8040)).unwrap();
        // a malformed list is not half-taken; without one, every link is read
        std::fs::write(two.join("task/2/children"), "3 x 10").unwrap();
        assert_eq!(kernel_threads(t.path()), [0u32; 0]);
        std::fs::remove_file(two.join("task/2/children")).unwrap();
        assert_eq!(kernel_threads(t.path()), [0u32; 0]);
        assert_eq!(kernel_threads(&t.path().join("missing")), [0u32; 0]);
    }
}
