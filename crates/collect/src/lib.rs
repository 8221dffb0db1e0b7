//! COLLECT: read the kernel's raw cumulative counters into a [`Sample`].
//!
//! A sample is what the kernel said at one instant, nothing derived: deltas are the model's
//! rules (`nrec_model::derive`), applied by the sampler. Where the counters come from is a [`Source`]: the live host (every network
//! namespace), or a captured /proc directory (`NREC_PROC_ROOT`), which is how tests and users
//! replay fixtures without root.

pub mod capture;
pub mod containers;
pub mod ebpf;
pub mod ifinfo;
pub mod listening;
mod netlink;
pub mod netns;
pub mod procfs;
pub mod procs;
pub mod sockdiag;
pub mod units;

use nrec_model::derive::idle::Prior;
use nrec_model::error::{Error, Result};
use nrec_model::limit::MAX_COUNTERS;
use nrec_model::sample::{
    Counters, IfaceCounters, IfaceSample, Listener, NsSample, Sample, TcpSock,
};
use std::path::{Path, PathBuf};

pub use listening::Listening;
use nrec_model::warnings::{Kind as WarnKind, Warnings};

/// Where counters come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The live host: /proc, netlink, every network namespace.
    Live,
    /// A captured /proc tree read as one namespace; netlink sources are skipped.
    ProcDir(PathBuf),
}

/// Collects a sample. `since`: the newest stored sample (namespaces created after it count
/// from zero).
/// `priors`: what the newest stored sample left of each namespace (by inode, this boot's),
/// for carrying the idle ones forward instead of reading them (`derive::idle`); empty to
/// read every namespace in full.
pub fn collect(
    source: &Source,
    now_ms: i64,
    since: Option<&nrec_model::derive::iface::Last>,
    priors: &Priors,
    listening: Option<&mut Listening>,
    warn: &mut Warnings,
) -> Result<Sample> {
    match source {
        Source::Live => collect_live(now_ms, since, priors, listening, warn, collect_namespace),
        Source::ProcDir(dir) => collect_dir(dir, now_ms, warn),
    }
}

/// Every namespace of the live host read in full, as a sample that continues none (the live
/// view's, and the simulator's template): nothing carried, no listeners.
pub fn collect_all(now_ms: i64, warn: &mut Warnings) -> Result<Sample> {
    collect(&Source::Live, now_ms, None, &Priors::new(), None, warn)
}

/// What the newest stored sample left of each namespace, by inode.
pub type Priors = std::collections::HashMap<u64, Prior>;

/// Collects only the interface counters of every namespace on the live host (/proc/net/dev):
/// no protocol counters, link facts or socket dumps. `nrec top` reads this when eBPF counts
/// the processes and no connection is shown — the socket dump is most of a full collect's
/// cost (with 10 000 sockets, ~55 ms of the kernel's time per read).
pub fn collect_interfaces(now_ms: i64, warn: &mut Warnings) -> Result<Sample> {
    collect_live_part(now_ms, warn, collect_namespace_interfaces)
}

/// Collects every namespace's interface counters and listeners on the live host: `nrec top`'s
/// connection, port and host views when the kernel counts the connections (eBPF) — the
/// listeners name their service ports, and no established socket is dumped.
pub fn collect_listeners(now_ms: i64, warn: &mut Warnings) -> Result<Sample> {
    collect_live_part(now_ms, warn, collect_namespace_listeners)
}

/// A part of every live namespace (`per_ns` reads it in each), continuing no sample.
fn collect_live_part(
    now_ms: i64,
    warn: &mut Warnings,
    per_ns: fn(Option<Prior>) -> Result<(NsSample, Warnings)>,
) -> Result<Sample> {
    collect_live(now_ms, None, &Priors::new(), None, warn, per_ns)
}

/// The most a /proc file nrec reads may hold: `net/dev` with 20 000 interfaces is ~3 MB.
const MAX_PROC_FILE: u64 = 32 << 20;

/// How long a captured /proc tree may take to answer, all its files together, and each file:
/// the kernel's own files answer in microseconds, so a tree that takes longer sits on a file
/// system that may never answer (FUSE, NFS). One stalled file costs at most the second; a
/// tree that stalls throughout, the first.
pub(crate) const CAPTURED_TREE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);
pub(crate) const CAPTURED_FILE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads /proc files (or captured ones): regular files of bounded size, read without blocking
/// (a FIFO or device put in their place is refused, never waited on while the lock is held);
/// a captured tree's files within its deadlines.
#[derive(Clone, Copy)]
struct ProcFiles {
    by: Option<std::time::Instant>,
}

impl ProcFiles {
    /// The kernel's own /proc.
    fn live() -> Self {
        ProcFiles { by: None }
    }

    /// A captured tree, from now on within [`CAPTURED_TREE_DEADLINE`].
    fn captured() -> Self {
        ProcFiles {
            by: Some(std::time::Instant::now() + CAPTURED_TREE_DEADLINE),
        }
    }

    fn read(self, path: &Path) -> std::io::Result<Vec<u8>> {
        let Some(by) = self.by else {
            return nrec_sys::read_bounded(path, MAX_PROC_FILE);
        };
        let left = by.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "not read: the tree did not answer within {} s",
                    CAPTURED_TREE_DEADLINE.as_secs()
                ),
            ));
        }
        nrec_sys::read_bounded_within(path, MAX_PROC_FILE, left.min(CAPTURED_FILE_DEADLINE))
    }
}

/// A captured one-line kernel text (boot id, hostname, release), trimmed, no longer than the
/// kernel makes it (`limit`): a longer one is not the kernel's and the sample is not stored.
/// None when the tree lacks the file.
fn read_text(files: ProcFiles, path: &Path, limit: usize) -> Result<Option<Vec<u8>>> {
    let b = match files.read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot read", path, &e)),
    };
    let t = b.trim_ascii();
    if t.len() > limit {
        return Err(Error::failure(format!(
            "{}: {} bytes, longer than the kernel's {limit}; not a kernel file",
            path.display(),
            t.len()
        )));
    }
    Ok(Some(t.to_vec()))
}

/// Reads the interface counters of one namespace under `net` (`net/dev`).
fn read_net_dev(files: ProcFiles, net: &Path, warn: &mut Warnings) -> Result<Vec<IfaceCounters>> {
    let dev_path = net.join("dev");
    let dev = files
        .read(&dev_path)
        .map_err(|e| Error::io("cannot read", &dev_path, &e))?;
    let ifaces = procfs::parse_net_dev(&dev, &dev_path.to_string_lossy(), warn);
    // Every network namespace has `lo`: a file listing no interface is not /proc/net/dev.
    if ifaces.is_empty() {
        return Err(Error::failure(format!(
            "{}: lists no interface (every namespace has lo); not stored",
            dev_path.display()
        )));
    }
    Ok(ifaces)
}

/// Reads the /proc/net files of one namespace under `net` (e.g. /proc/thread-self/net).
fn read_net_files(
    files: ProcFiles,
    net: &Path,
    ifaces: Option<Vec<IfaceCounters>>,
    warn: &mut Warnings,
) -> Result<(Vec<IfaceCounters>, Counters)> {
    let ifaces = match ifaces {
        Some(i) => i,
        None => read_net_dev(files, net, warn)?,
    };
    let mut counters = Vec::with_capacity(400);
    for (file, paired) in [
        ("snmp", true),
        ("netstat", true),
        ("snmp6", false),
        ("sockstat", false),
        ("sockstat6", false),
    ] {
        let p = net.join(file);
        let text = match files.read(&p) {
            Ok(t) => t,
            // a file a captured tree may lack is skipped; one that does not answer is said
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                warn.warn(
                    WarnKind::ProcRoot,
                    format!("{}: {e}; its counters are not stored", p.display()),
                );
                continue;
            }
            Err(_) => continue,
        };
        let ps = p.to_string_lossy();
        match (file, paired) {
            ("snmp6", _) => procfs::parse_snmp6(&text, &ps, warn, &mut counters),
            (_, true) => procfs::parse_paired(&text, file, &ps, warn, &mut counters),
            _ => procfs::parse_sockstat(&text, file, &ps, warn, &mut counters),
        }
    }
    if counters.len() > MAX_COUNTERS {
        warn.warn(
            WarnKind::ProcLine,
            format!(
                "{}: {} protocol counters, more than any kernel has; only the first {MAX_COUNTERS} kept",
                net.display(),
                counters.len()
            ),
        );
        counters.truncate(MAX_COUNTERS);
    }
    Ok((ifaces, counters))
}

/// The host's `softnet_stat` (the kernel's per-CPU receive path; one file for the whole host,
/// the same in every namespace), added to the host's namespace's counters only. A file a
/// captured tree lacks, or an older kernel's, is skipped.
fn read_softnet(files: ProcFiles, path: &Path, warn: &mut Warnings, counters: &mut Counters) {
    match files.read(path) {
        Ok(text) => {
            procfs::parse_softnet(&text, &path.to_string_lossy(), warn, counters);
            counters.truncate(MAX_COUNTERS);
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => warn.warn(
            WarnKind::ProcRoot,
            format!("{}: {e}; its counters are not stored", path.display()),
        ),
        Err(_) => {}
    }
}

fn collect_dir(dir: &Path, now_ms: i64, warn: &mut Warnings) -> Result<Sample> {
    let files = ProcFiles::captured();
    let (ifaces, mut counters) = read_net_files(files, &dir.join("net"), None, warn)?;
    read_softnet(files, &dir.join("net/softnet_stat"), warn, &mut counters);
    let uptime_path = dir.join("uptime");
    let mono_ms = match files.read(&uptime_path) {
        Ok(t) => procfs::parse_uptime_ms(&t).ok_or_else(|| {
            Error::failure(format!("{}: not an uptime line", uptime_path.display()))
        })?,
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("cannot read", &uptime_path, &e));
        }
        Err(_) => {
            warn.warn(
                WarnKind::ProcRoot,
                format!(
                    "{}: missing; using the real CLOCK_BOOTTIME",
                    uptime_path.display()
                ),
            );
            boottime_ms()
        }
    };
    use nrec_model::limit::UNAME;
    let boot_id = match read_text(files, &dir.join("sys/kernel/random/boot_id"), UNAME)? {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => live_boot_id(),
    };
    let (host, kernel, arch) = nrec_sys::uname();
    let hostname = read_text(files, &dir.join("sys/kernel/hostname"), UNAME)?.unwrap_or(host);
    let kernel = read_text(files, &dir.join("sys/kernel/osrelease"), UNAME)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or(kernel);
    let ncpu = files
        .read(&dir.join("stat"))
        .map(|s| procfs::count_cpus(&s))
        .unwrap_or(0)
        .max(1);
    warn.note(
        WarnKind::ProcRoot,
        format!(
            "reading {} as one namespace; sock_diag (socket states, listeners) skipped",
            dir.display()
        ),
    );
    let ifaces = ifaces
        .into_iter()
        .map(|c| {
            let link = fixture_link(files, dir, &c.name);
            IfaceSample { counters: c, link }
        })
        .collect();
    Ok(Sample {
        ts_ms: now_ms,
        mono_ms,
        boot_id,
        hostname,
        kernel,
        arch,
        ncpu,
        namespaces: vec![NsSample {
            name: b"root".to_vec(),
            counters,
            ..NsSample::of_ifaces(ifaces)
        }],
        ebpf: None,
        pids: None,
    })
}

/// Link facts from a captured `sys/class/net/NAME/{ifindex,speed,duplex}` when present.
fn fixture_link(files: ProcFiles, dir: &Path, name: &[u8]) -> ifinfo::LinkInfo {
    use std::os::unix::ffi::OsStrExt;
    let base = dir
        .join("sys/class/net")
        .join(std::ffi::OsStr::from_bytes(name));
    let num = |f: &str| -> Option<u64> {
        let b = files.read(&base.join(f)).ok()?;
        procfs::parse_u64(b.trim_ascii())
    };
    let duplex = files
        .read(&base.join("duplex"))
        .ok()
        .and_then(|b| match b.trim_ascii() {
            b"full" => Some(1),
            b"half" => Some(0),
            _ => None,
        });
    ifinfo::LinkInfo {
        ifindex: num("ifindex").and_then(|v| u32::try_from(v).ok()),
        speed_mbps: num("speed")
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0),
        duplex,
        is_virtual: files.read(&base.join("virtual")).is_ok() || name == b"lo",
    }
}

/// What one namespace's collect returns (it runs on the helper thread for foreign ones),
/// given what may let it carry the namespace forward.
type NsCollect = fn(Option<Prior>) -> Result<(NsSample, Warnings)>;

fn collect_live(
    now_ms: i64,
    since: Option<&nrec_model::derive::iface::Last>,
    priors: &Priors,
    listening: Option<&mut Listening>,
    warn: &mut Warnings,
    each: NsCollect,
) -> Result<Sample> {
    let proc_root = PathBuf::from("/proc");
    let mono_ms = boottime_ms();
    let boot_id = live_boot_id();
    let netns::Walk {
        targets,
        denied,
        pids,
    } = netns::enumerate(&proc_root);
    // the daemon's listeners follow the same walk (one walk of /proc per sample)
    let kept = listening.map(|l| {
        l.refresh(&targets, warn);
        &*l
    });
    if denied > 0 {
        let hint = if !nrec_sys::is_root() {
            "; run as root to record every namespace"
        } else {
            ""
        };
        warn.note(
            WarnKind::NetnsDenied,
            format!(
                "permission denied reading the network namespace of {denied} process(es){hint}"
            ),
        );
    }
    let mut namespaces = Vec::with_capacity(targets.len());
    let mut setns_failed = 0;
    // The initial and the recorder's own namespace are always read (softnet_stat and the
    // host-wide sockstat values carried namespaces take come from the initial one's read).
    // (an inode names one namespace within a boot only)
    let same_boot = since.is_some_and(|l| l.boot_id == boot_id);
    let carry: Vec<Option<Prior>> = targets
        .iter()
        .map(|t| {
            let p = priors.get(&t.inode).filter(|_| same_boot)?;
            (!t.is_own && t.name != b"root" && p.may_carry(now_ms, !t.members.is_empty()))
                .then(|| p.clone())
        })
        .collect();
    let done = match kept {
        Some(kept) => carry_kept(&targets, &carry, kept),
        None => targets.iter().map(|_| None).collect(),
    };
    let (rest, ctx): (Vec<&netns::NsTarget>, Vec<Option<Prior>>) = targets
        .iter()
        .zip(carry)
        .zip(&done)
        .filter(|(_, d)| d.is_none())
        .map(|(tc, _)| tc)
        .unzip();
    let mut entered = netns::run_each(&rest, ctx, each).into_iter();
    let results = done.into_iter().map(|d| match d {
        Some(ns) => Ok(Ok((ns, Warnings::default()))),
        None => entered
            .next()
            .unwrap_or_else(|| Err(std::io::Error::other("namespace not collected"))),
    });
    for (t, res) in targets.iter().zip(results) {
        match res {
            Ok(Ok((mut ns, w))) => {
                ns.inode = t.inode;
                ns.name = t.name.clone();
                // only a namespace absent from the previous sample is ever taken as new
                // (derive::iface), so this costs one stat read per other namespace
                if !t.is_own && ns.name != b"root" {
                    ns.owner_pid = t.members.first().copied();
                }
                // in the previous sample, it is not new (and an idle one keeps its name:
                // its processes, if any, are those that named it then)
                let prior = priors
                    .get(&t.inode)
                    .filter(|p| same_boot && p.same(ns.cookie));
                if let Some(p) = prior.filter(|_| ns.idle) {
                    ns.name = p.name.clone();
                }
                ns.fresh = !t.is_own
                    && ns.name != b"root"
                    && prior.is_none()
                    && since.is_some_and(|l| {
                        l.boot_id == boot_id && netns::born_after(t, &proc_root, l.mono_ms, l.ts_ms)
                    });
                warn.list.extend(w.list);
                namespaces.push(ns);
            }
            Ok(Err(e)) => warn.warn(
                WarnKind::Netns,
                format!(
                    "namespace {}: {e}; skipped",
                    String::from_utf8_lossy(&t.name)
                ),
            ),
            Err(_) => setns_failed += 1,
        }
    }
    if setns_failed > 0 {
        warn.note(
            WarnKind::Netns,
            format!(
                "could not enter {setns_failed} network namespace(s) (needs CAP_SYS_ADMIN); \
             they were not recorded"
            ),
        );
    }
    if namespaces.is_empty() {
        return Err(Error::failure(
            "no network namespace could be read (/proc/thread-self/net/dev)",
        ));
    }
    // beside the protocol counters (none: the interfaces-only read of `nrec top`)
    if let Some(root) = namespaces
        .iter_mut()
        .find(|n| n.name == b"root" && !n.counters.is_empty())
    {
        read_softnet(
            ProcFiles::live(),
            Path::new("/proc/net/softnet_stat"),
            warn,
            &mut root.counters,
        );
    }
    let (hostname, kernel, arch) = nrec_sys::uname();
    let ncpu = nrec_sys::cpus();
    Ok(Sample {
        ts_ms: now_ms,
        mono_ms,
        boot_id,
        hostname,
        kernel,
        arch,
        ncpu,
        namespaces,
        ebpf: None,
        pids: Some(pids),
    })
}

/// Collects the calling thread's namespace (runs on the helper thread for foreign ones): its
/// interfaces from a link dump, then — unless they are `prior`'s, unchanged, and it is
/// carried — its /proc/net files, link facts and sockets.
fn collect_namespace(prior: Option<Prior>) -> Result<(NsSample, Warnings)> {
    let mut warn = Warnings::default();
    let net = Path::new("/proc/thread-self/net");
    let prober = ifinfo::Prober::new();
    // the text of /proc/net/dev only where the dump is refused
    let mut links = prober.links().ok().filter(|l| !l.is_empty());
    let cookie = prober.netns_cookie();
    if let (Some(p), Some(l)) = (&prior, links.take()) {
        match carried(p, cookie, l) {
            Ok(ns) => return Ok((ns, warn)),
            Err(l) => links = Some(l),
        }
    }
    let (ifaces, index): (Option<Vec<IfaceCounters>>, Vec<u32>) = match links {
        Some(l) => {
            let (c, i) = l.into_iter().unzip();
            (Some(c), i)
        }
        None => (None, Vec::new()),
    };
    let (ifaces, mut counters) = read_net_files(ProcFiles::live(), net, ifaces, &mut warn)?;
    let ifaces = ifaces
        .into_iter()
        .enumerate()
        .map(|(k, c)| {
            let mut link = prober.probe(&c.name);
            if let Some(ix) = index.get(k) {
                link.ifindex = Some(*ix);
            }
            IfaceSample { counters: c, link }
        })
        .collect();
    let mut udp_socks = Vec::new();
    let (listeners, tcp) = match socket_summary(&mut counters, &mut udp_socks) {
        Ok((l, t)) => (Some(l), Some(t)),
        Err(e) => {
            warn.warn(WarnKind::SockDiag, format!(
                "sock_diag dump failed: {e}; socket states, listeners and per-socket bytes not recorded"
            ));
            (None, None)
        }
    };
    Ok((
        NsSample {
            counters,
            listeners,
            tcp,
            udp_socks,
            cookie,
            ..NsSample::of_ifaces(ifaces)
        },
        warn,
    ))
}

/// The daemon keeps a socket in every namespace: the namespaces of `targets` that may be
/// carried (`carry`) and whose links through that socket are unchanged, carried without
/// entering them; None for the others.
fn carry_kept(
    targets: &[netns::NsTarget],
    carry: &[Option<Prior>],
    kept: &Listening,
) -> Vec<Option<NsSample>> {
    targets
        .iter()
        .zip(carry)
        .map(|(t, p)| {
            let (p, k) = (p.as_ref()?, kept.prober(t.inode)?);
            carried(p, k.cookie(), k.links(p)?).ok()
        })
        .collect()
}

/// A namespace carried forward (`derive::idle`): its interfaces as `prior` left them, with
/// `links`' counters — when its links (read through a socket in it, whose namespace cookie
/// is `cookie`) are `prior`'s. Else the links back, for a full read.
fn carried(
    prior: &Prior,
    cookie: Option<u64>,
    links: Vec<(IfaceCounters, u32)>,
) -> std::result::Result<NsSample, Vec<(IfaceCounters, u32)>> {
    if !prior.unchanged(cookie, &links) {
        return Err(links);
    }
    Ok(NsSample {
        idle: true,
        cookie,
        ..NsSample::of_ifaces(prior.ifaces(links))
    })
}

/// The calling thread's namespace's interface counters only ([`collect_interfaces`]): no
/// link facts, protocol counters or sockets (`listeners` and `tcp` None: not read).
fn collect_namespace_interfaces(_: Option<Prior>) -> Result<(NsSample, Warnings)> {
    let mut warn = Warnings::default();
    let ifaces = match ifinfo::Prober::new().links().ok().filter(|l| !l.is_empty()) {
        Some(l) => l
            .into_iter()
            .map(|(counters, ix)| IfaceSample {
                counters,
                link: ifinfo::LinkInfo {
                    ifindex: Some(ix),
                    ..Default::default()
                },
            })
            .collect(),
        None => read_net_dev(
            ProcFiles::live(),
            Path::new("/proc/thread-self/net"),
            &mut warn,
        )?
        .into_iter()
        .map(|c| IfaceSample {
            counters: c,
            link: ifinfo::LinkInfo::default(),
        })
        .collect(),
    };
    Ok((NsSample::of_ifaces(ifaces), warn))
}

/// The calling thread's namespace's interface counters ([`collect_namespace_interfaces`]) and
/// listeners ([`collect_listeners`]).
fn collect_namespace_listeners(prior: Option<Prior>) -> Result<(NsSample, Warnings)> {
    let (mut ns, mut warn) = collect_namespace_interfaces(prior)?;
    match listeners_only() {
        Ok(l) => ns.listeners = Some(l),
        Err(e) => warn.warn(
            WarnKind::SockDiag,
            format!("sock_diag dump failed: {e}; listeners not read"),
        ),
    }
    Ok((ns, warn))
}

/// Counts TCP sockets per state and UDP sockets into `counters` under `diag:tcp4:STATE`
/// etc., and returns the listening sockets.
///
/// Listeners come from cheap LISTEN-only dumps. The other states need a walk of the whole
/// established hash (~3 ms on a host with 262k buckets, even when it is empty), done once for
/// both families, and skipped when sockstat proves there is nothing to find: every hashed TCP
/// socket is a listener (`inuse`) and there are no TIME_WAIT sockets (`tw`). Request sockets
/// (SYN_RECV) are invisible to sockstat, so after a skip their count is stored only when
/// there is no listener at all (then it is exactly 0); otherwise it is left unknown. A family
/// whose sockstat `inuse` is 0 has no hashed socket (sockstat counts them as they are hashed,
/// the dumps walk the hashes): its dumps are skipped and its counts are exactly 0.
fn socket_summary(
    counters: &mut Counters,
    udp_socks: &mut Vec<(std::net::IpAddr, u16, u32)>,
) -> std::io::Result<(Vec<Listener>, Vec<TcpSock>)> {
    let mut listeners = Vec::new();
    let mut tcp = Vec::new();
    let mut states = [[0u64; 13]; 2];
    let mut n_listen = [0u64; 2];
    let get = |key: &str| counters.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    // A family whose sockstat counts no hashed socket has none for a dump to find: an idle
    // container's namespace costs no netlink walk of the kernel's tables at all.
    let hashed = |key: &str| get(key) != Some(0);
    let tcp_hashed = [hashed("sockstat:TCP:inuse"), hashed("sockstat6:TCP6:inuse")];
    let udp_hashed = [hashed("sockstat:UDP:inuse"), hashed("sockstat6:UDP6:inuse")];
    for (k, fam) in [libc::AF_INET as u8, libc::AF_INET6 as u8]
        .into_iter()
        .enumerate()
    {
        if !tcp_hashed[k] {
            continue;
        }
        sockdiag::dump(fam, libc::IPPROTO_TCP as u8, sockdiag::LISTEN_ONLY, |s| {
            n_listen[k] += 1;
            listeners.push(listener("tcp", &s));
        })?;
    }
    let nothing_else = get("sockstat:TCP:inuse") == Some(n_listen[0])
        && get("sockstat6:TCP6:inuse") == Some(n_listen[1])
        && get("sockstat:TCP:tw") == Some(0);
    if !nothing_else {
        sockdiag::dump_tcp_both(sockdiag::ALL_STATES & !sockdiag::LISTEN_ONLY, |s| {
            let k = usize::from(s.family == libc::AF_INET6 as u8);
            if let Some(slot) = states[k].get_mut(usize::from(s.state)) {
                *slot += 1;
            }
            if let (Some(acked), Some(received)) = (s.bytes_acked, s.bytes_received) {
                tcp.push(TcpSock {
                    cookie: s.cookie,
                    lport: s.sport,
                    rport: s.dport,
                    raddr: sockdiag::addr_text(s.family, &s.dst),
                    inode: s.inode,
                    bytes_acked: acked,
                    bytes_received: received,
                });
            }
        })?;
    }
    let syn_recv_known = !nothing_else || n_listen == [0, 0];
    for (k, fname) in ["4", "6"].into_iter().enumerate() {
        let st = &mut states[k];
        st[sockdiag::TCP_LISTEN as usize] = n_listen[k];
        // Request sockets (NEW_SYN_RECV) are connections in SYN_RECV, as ss shows them.
        st[3] += st[12];
        for (i, name) in sockdiag::TCP_STATE_NAMES
            .iter()
            .enumerate()
            .take(12)
            .skip(1)
        {
            if i == 3 && !syn_recv_known {
                continue;
            }
            counters.push((format!("diag:tcp{fname}:{name}").into(), st[i]));
        }
    }
    for (k, (fam, fname)) in [(libc::AF_INET as u8, "4"), (libc::AF_INET6 as u8, "6")]
        .into_iter()
        .enumerate()
    {
        let mut udp = 0u64;
        if !udp_hashed[k] {
            counters.push((format!("diag:udp{fname}:total").into(), 0));
            continue;
        }
        sockdiag::dump(fam, libc::IPPROTO_UDP as u8, sockdiag::ALL_STATES, |s| {
            udp += 1;
            if s.sport != 0 {
                if let Some(a) = sockdiag::ip_addr(s.family, &s.src) {
                    udp_socks.push((a, s.sport, s.inode));
                }
            }
            if is_udp_listener(&s) {
                listeners.push(listener("udp", &s));
            }
        })?;
        counters.push((format!("diag:udp{fname}:total").into(), udp));
    }
    Ok((listeners, tcp))
}

/// A UDP socket bound to a port and connected to no peer: a service's (as `ss -lu` lists
/// them).
fn is_udp_listener(s: &sockdiag::DiagSocket) -> bool {
    s.state == sockdiag::TCP_CLOSE && s.dport == 0 && s.sport != 0
}

/// The calling thread's namespace's listeners only: the TCP listen queues and bound UDP
/// sockets, no other socket (dumped with a state filter: the kernel fills no counters for
/// the established ones).
fn listeners_only() -> std::io::Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    for fam in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        sockdiag::dump(fam, libc::IPPROTO_TCP as u8, sockdiag::LISTEN_ONLY, |s| {
            listeners.push(listener("tcp", &s));
        })?;
        sockdiag::dump(
            fam,
            libc::IPPROTO_UDP as u8,
            1 << sockdiag::TCP_CLOSE,
            |s| {
                if is_udp_listener(&s) {
                    listeners.push(listener("udp", &s));
                }
            },
        )?;
    }
    Ok(listeners)
}

fn listener(proto: &'static str, s: &sockdiag::DiagSocket) -> Listener {
    Listener {
        proto,
        family: if s.family == libc::AF_INET6 as u8 {
            6
        } else {
            4
        },
        addr: sockdiag::addr_text(s.family, &s.src),
        port: s.sport,
        inode: s.inode,
        uid: s.uid,
    }
}

use nrec_sys::boottime_ms;

fn live_boot_id() -> String {
    std::fs::read("/proc/sys/kernel/random/boot_id")
        .map(|b| String::from_utf8_lossy(b.trim_ascii()).into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nrec_model::derive::idle::{PriorIface, quiet};

    /// The daemon reads an idle namespace's links through the socket it keeps there: what it
    /// carries is what entering the namespace carries (by link dump, then by counters alone
    /// once the socket has watched a sample through), a link renamed without a packet is
    /// seen at once, and a namespace whose links moved is read in full either way.
    #[test]
    fn a_kept_socket_carries_what_entering_carries() {
        if !nrec_sys::is_root() {
            eprintln!("SKIPPED a_kept_socket_carries_what_entering_carries: needs root (ip netns)");
            return;
        }
        let name = format!("nreckept{}", std::process::id());
        let ip = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip(&["netns", "add", &name]) {
            eprintln!("SKIPPED a_kept_socket_carries_what_entering_carries: ip netns add failed");
            return;
        }
        struct Gone(String);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "del", &self.0])
                    .status();
            }
        }
        let _gone = Gone(name.clone());
        // links that stay down: no counter moves when one is renamed; 60 of them, so that a
        // dump through the kept socket (its receive queue made small) takes several messages
        assert!(ip(&[
            "-n", &name, "link", "add", "nrk0", "type", "veth", "peer", "name", "nrk1"
        ]));
        for i in 0..29 {
            let (a, b) = (format!("nrm{i}a"), format!("nrm{i}b"));
            assert!(ip(&[
                "-n", &name, "link", "add", &a, "type", "veth", "peer", "name", &b
            ]));
        }
        let mut warn = Warnings::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut kept = Listening::default();
        let first = collect(
            &Source::Live,
            now,
            None,
            &Priors::new(),
            Some(&mut kept),
            &mut warn,
        )
        .unwrap();
        let ns = first
            .namespaces
            .iter()
            .find(|n| n.name == name.as_bytes())
            .expect("the test's namespace");
        assert!(kept.prober(ns.inode).is_some(), "a socket is kept in it");
        // what a store would leave of that read
        let prior = Prior {
            name: ns.name.clone(),
            cookie: ns.cookie,
            ifaces: ns
                .ifaces
                .iter()
                .map(|i| PriorIface {
                    name: i.counters.name.clone(),
                    ifindex: i.link.ifindex.unwrap(),
                    counters: i.counters.counters,
                    speed_mbps: i.link.speed_mbps,
                    duplex: i.link.duplex,
                })
                .collect(),
            quiet: quiet(ns.protocol()),
            read_ms: now,
        };
        let priors: Priors = [(ns.inode, prior)].into_iter().collect();
        let since = nrec_model::derive::iface::Last {
            id: 1,
            mono_ms: first.mono_ms,
            ts_ms: first.ts_ms,
            boot_id: first.boot_id.clone(),
        };
        let of = |s: Sample| {
            s.namespaces
                .into_iter()
                .find(|n| n.name == name.as_bytes())
                .unwrap()
        };
        let sample = |kept: Option<&mut Listening>, warn: &mut Warnings| {
            of(collect(&Source::Live, now + 1000, Some(&since), &priors, kept, warn).unwrap())
        };
        // the kept socket carries it (the namespace is not entered)
        let targets = netns::enumerate(Path::new("/proc")).targets;
        let carry: Vec<Option<Prior>> = targets
            .iter()
            .map(|t| priors.get(&t.inode).cloned())
            .collect();
        let mine = targets
            .iter()
            .position(|t| t.name == name.as_bytes())
            .unwrap();
        let direct = carry_kept(&targets, &carry, &kept).swap_remove(mine);
        // (the socket has now watched since before this sample: counters alone)
        let through_socket = sample(Some(&mut kept), &mut warn);
        assert!(kept.prober(ns.inode).unwrap().named.get(), "names known");
        let entered = sample(None, &mut warn);
        assert!(direct.is_some_and(|d| d.idle && d.ifaces == entered.ifaces));
        assert!(through_socket.idle && entered.idle, "carried both ways");
        assert_eq!(through_socket.ifaces.len(), 61);
        assert_eq!(through_socket.cookie, entered.cookie);
        assert_eq!(through_socket.ifaces, entered.ifaces);
        assert_eq!(through_socket.name, entered.name);
        assert!(carry_kept(&targets, &carry, &kept)[mine].is_some());
        // a rename moves no counter; the socket hears of it and the namespace is read
        assert!(ip(&["-n", &name, "link", "set", "nrk1", "name", "nrk2"]));
        assert!(
            carry_kept(&targets, &carry, &kept)[mine].is_none(),
            "renamed: not carried"
        );
        let read = sample(Some(&mut kept), &mut warn);
        assert!(!read.idle);
        assert!(
            read.ifaces.iter().any(|i| i.counters.name == b"nrk2"),
            "{:?}",
            read.ifaces
        );
        // its lo moves a packet: read in full, through either path
        assert!(ip(&["-n", &name, "link", "set", "lo", "up"]));
        let sent = std::process::Command::new("ip")
            .args(["netns", "exec", &name, "python3", "-c"])
            .arg("import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))")
            .status()
            .unwrap();
        assert!(sent.success());
        assert!(
            carry_kept(&targets, &carry, &kept)[mine].is_none(),
            "moved: not carried"
        );
        let through_socket = sample(Some(&mut kept), &mut warn);
        let entered = sample(None, &mut warn);
        assert!(!through_socket.idle && !entered.idle, "read both ways");
        assert!(!through_socket.counters.is_empty());
    }
}
