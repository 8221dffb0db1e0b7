//! `nrec top`'s numbers: what moved in the last interval, read live from the recorder's own
//! sources — never from or into the database. Each [`Reader::tick`] collects what `record`
//! collects (every namespace's interfaces from /proc/net/dev, every TCP connection from
//! sock_diag with its owner) and, when the recorder's eBPF maps are pinned, reads them (read
//! only: nothing is reset or forgotten, so the recorder counts exactly what it would without
//! a `top` open); the differences from the previous tick are the interval's bytes.
//!
//! When eBPF counts, no socket is dumped: the socket dump is most of a full read's cost (the
//! kernel fills every socket's counters, ~38 ms a refresh with 10 000 sockets however little
//! they move). The processes and interfaces views read the interfaces (one link dump per
//! namespace) and the byte map; the connection, port and host views also the kernel's
//! connection map (every TCP and UDP connection that moved bytes, an entry per process and
//! peer, [`Reader::kernel_conns`]) and the listeners that name service ports. The
//! connections are read only while such a view is shown ([`Tick::conns_read`]); the first
//! tick that reads them again is their baseline.
//!
//! The rows add up as `top-procs`' do: per namespace, what processes moved against what its
//! interfaces carried, the rest `(unattributed)` ([`Balance`]).

mod chart;
pub mod history;
pub mod tui;
pub mod view;

use nrec_collect::{ebpf, procs};
use nrec_model::counter::simple_delta;
use nrec_model::derive::conns as derive_conns;
use nrec_model::derive::iface::{self as derive_iface, Placement, Prev};
use nrec_model::derive::sockets::service_port;
use nrec_model::names::{escape_bytes, iface_label};
use nrec_model::sample::{NsSample, Owner, Sample};
use nrec_model::warnings::Warnings;
use nrec_report::output::unmap_v4;
use nrec_report::rank::{Balance, PerNs};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// One process's bytes in an interval, and who it is.
#[derive(Debug, Clone)]
pub struct ProcRow {
    pub pid: u32,
    pub comm: String,
    pub uid: Option<u32>,
    pub unit: Option<String>,
    pub container: Option<String>,
    pub rx: u64,
    pub tx: u64,
}

/// One connection's bytes in an interval: a TCP socket's (sock_diag), or with eBPF what one
/// process moved to one peer from one local port, TCP or UDP.
#[derive(Debug, Clone)]
pub struct ConnRow {
    /// The socket's inode (0: no process holds it, or counted by eBPF).
    pub inode: u32,
    /// "tcp" or "udp".
    pub proto: &'static str,
    /// The namespace's name ("root" for the host's).
    pub netns: String,
    pub local_port: u16,
    /// Remote address (IPv4-mapped addresses unmapped) and port; empty and 0 when the kernel
    /// did not tell the peer (a datagram read without asking who sent it).
    pub remote: String,
    pub remote_port: u16,
    /// The service port, `PROTO/PORT`, by the recorder's rule
    /// (`nrec_model::derive::conns::service_port`).
    pub port: String,
    /// The owner, when a process still holds the socket.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub rx: u64,
    pub tx: u64,
}

/// One interface's bytes in an interval.
#[derive(Debug, Clone)]
pub struct IfaceRow {
    /// `NAME` in the host's namespace, `NAME@NAMESPACE` in others (as reports name them).
    pub label: String,
    pub rx: u64,
    pub tx: u64,
}

/// One interval's numbers.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    /// When it ended (UTC ms) and how long it was (s).
    pub at_ms: i64,
    pub secs: f64,
    pub procs: Vec<ProcRow>,
    pub conns: Vec<ConnRow>,
    pub ifaces: Vec<IfaceRow>,
    /// Interface bytes no process accounts for (rx, tx).
    pub unattributed: (u64, u64),
    /// Interface bytes no connection with an owner accounts for (the connection, port and
    /// host views' `(unattributed)`).
    pub unattributed_conns: (u64, u64),
    /// Whether the connections were read over the whole interval: false when the tick did
    /// not ask for them (eBPF counted the processes) or the previous one did not (this tick
    /// is their baseline); `conns` is then empty and the connection, port and host views have
    /// no numbers for the interval.
    pub conns_read: bool,
}

/// Each kernel connection entry's (rx, tx) at a read.
type ConnCounts = HashMap<ebpf::ConnKey, (u64, u64)>;

/// The eBPF side of the reader.
enum Ebpf {
    /// The recorder's pinned maps (the database's), read only.
    Pinned(ebpf::Pins),
    /// A private instance loaded for this session (root, nothing pinned), pinned in its own
    /// directory (`ebpf::Pins::session`) and removed when the reader is dropped.
    Private(ebpf::Pins),
    Off(String),
}

/// Reads ticks; keeps the previous counters.
pub struct Reader {
    first: bool,
    mono_ms: i64,
    /// The previous tick's interface readings: the recorder's rules count their deltas.
    ifaces: Vec<Prev>,
    socks: HashMap<u64, (u64, u64)>,
    /// Whether `socks` holds the previous tick's connections (a baseline).
    socks_read: bool,
    ebpf_prev: HashMap<(u32, u32, u64), (u64, u64)>,
    ebpf_generation: u64,
    /// The previous tick's kernel connection entries (read whole: the baseline), and the
    /// map generation they are of.
    kconns: Option<(u64, ConnCounts)>,
    /// Socket inode → owner, kept while the socket lives.
    owners: HashMap<u32, Owner>,
    /// (pid, start ticks) → owner, for eBPF's processes.
    procs: HashMap<(u32, u64), Option<Owner>>,
    ebpf: Ebpf,
    /// What this session cannot see, said once (no root, no eBPF).
    pub limits: Vec<String>,
    /// USER_HZ, the unit of /proc's start times.
    hz: u64,
}

impl Reader {
    /// A reader on the live host: eBPF counts from the recorder's state (`recorder`, the
    /// database's) when it is pinned; `private_ebpf`: for root when it is not, load a private
    /// instance for the session (gone when the reader is dropped).
    pub fn new(recorder: ebpf::Pins, private_ebpf: bool) -> Reader {
        let mut limits = Vec::new();
        let ebpf = if !ebpf::wanted() {
            Ebpf::Off("NREC_EBPF=off".into())
        } else {
            match recorder.collect(false, false) {
                ebpf::Probe::Active(_) => Ebpf::Pinned(recorder),
                ebpf::Probe::Off(why) | ebpf::Probe::Refused(why)
                    if private_ebpf && nrec_sys::is_root() =>
                {
                    match load_private() {
                        Ok(p) => Ebpf::Private(p),
                        Err(e) => Ebpf::Off(format!("{why}; a private instance failed: {e}")),
                    }
                }
                ebpf::Probe::Off(why) | ebpf::Probe::Refused(why) => Ebpf::Off(why),
            }
        };
        if let Ebpf::Off(why) = &ebpf {
            limits.push(format!(
                "eBPF off ({why}): processes are counted from their TCP connections (sock_diag); \
                 UDP and connections that open and close between refreshes are (unattributed)"
            ));
        }
        if !nrec_sys::is_root() {
            limits.push(
                "not root: other users' sockets have no owner and other network namespaces \
                 are not read"
                    .into(),
            );
        }
        Reader {
            first: true,
            mono_ms: 0,
            ifaces: Vec::new(),
            socks: HashMap::new(),
            socks_read: false,
            ebpf_prev: HashMap::new(),
            ebpf_generation: 0,
            kconns: None,
            owners: HashMap::new(),
            procs: HashMap::new(),
            ebpf,
            limits,
            hz: nrec_sys::clock_ticks_per_s(),
        }
    }

    /// Which source counts the connections (and so the ports and hosts) of the live views.
    pub fn conns_source(&self) -> &'static str {
        match self.ebpf {
            Ebpf::Pinned(_) => "ebpf per connection (the recorder's, read only)",
            Ebpf::Private(_) => "ebpf per connection (private to this session)",
            Ebpf::Off(_) => "sock_diag (TCP sockets)",
        }
    }

    /// Which source counts processes.
    pub fn source(&self) -> &'static str {
        match self.ebpf {
            Ebpf::Pinned(_) => "ebpf (the recorder's, read only)",
            Ebpf::Private(_) => "ebpf (private to this session)",
            Ebpf::Off(_) => "sock_diag",
        }
    }

    /// Whether a tick that does not ask for connections skips the socket dump: eBPF counts
    /// the processes (without it they are counted from their connections).
    fn reads_conns_on_demand(&self) -> bool {
        !matches!(self.ebpf, Ebpf::Off(_))
    }

    /// Reads the counters; the first call is the baseline (None), each later one the
    /// interval since the previous. `conns`: the connections are wanted (a connection, port
    /// or host view); without them, and with eBPF counting the processes, only the
    /// interfaces and the eBPF maps are read.
    pub fn tick(&mut self, now_ms: i64, conns: bool) -> nrec_model::error::Result<Option<Tick>> {
        let mut warn = Warnings::default();
        // with eBPF the kernel counts the connections; without, sock_diag's sockets are the
        // processes' bytes and are read every tick
        let kernel = conns && self.reads_conns_on_demand();
        let sockets = !self.reads_conns_on_demand();
        let sample = if sockets {
            nrec_collect::collect_all(now_ms, &mut warn)?
        } else if kernel {
            nrec_collect::collect_listeners(now_ms, &mut warn)?
        } else {
            nrec_collect::collect_interfaces(now_ms, &mut warn)?
        };
        let reading = match &self.ebpf {
            Ebpf::Off(_) => None,
            Ebpf::Pinned(p) | Ebpf::Private(p) => match p.collect(false, false) {
                ebpf::Probe::Active(r) => Some(r),
                ebpf::Probe::Off(why) | ebpf::Probe::Refused(why) => {
                    self.limits.push(format!("eBPF stopped: {why}"));
                    self.ebpf = Ebpf::Off(why);
                    None
                }
            },
        };
        let kconns = match (&self.ebpf, &reading) {
            (Ebpf::Pinned(p), Some(_)) if kernel => Some(p.live_conns(false)),
            (Ebpf::Private(p), Some(_)) if kernel => Some(p.live_conns(true)),
            _ => None,
        };
        let first = std::mem::replace(&mut self.first, false);
        let elapsed_ms = (sample.mono_ms - self.mono_ms).max(1);
        let secs = elapsed_ms as f64 / 1000.0;
        self.mono_ms = sample.mono_ms;
        let mut t = Tick {
            at_ms: now_ms,
            secs,
            ..Tick::default()
        };
        let ns_name: HashMap<u64, Vec<u8>> = sample
            .namespaces
            .iter()
            .map(|n| (n.inode, n.name.clone()))
            .collect();
        // interfaces, per namespace for the balance
        let placement = if first {
            Placement::BASELINE
        } else {
            Placement::after(elapsed_ms)
        };
        let (rows, iface_ns) = iface_rows(&mut self.ifaces, &sample, placement);
        t.ifaces = rows;
        // TCP connections and their owners: the first read after a tick without them is
        // their baseline
        let socks_first = first || !self.socks_read;
        self.socks_read = sockets;
        t.conns_read = sockets && !socks_first;
        let mut conn_ns: HashMap<Vec<u8>, (u64, u64)> = HashMap::new();
        match kconns {
            Some(Ok(c)) => {
                let generation = reading.as_ref().map_or(0, |r| r.generation);
                t.conns_read = self.kernel_conns(c, generation, &sample, &mut conn_ns, &mut t);
            }
            Some(Err(e)) => {
                self.kconns = None;
                self.limits.push(format!(
                    "the kernel's connection counters could not be read ({e}): no connection, port or host rows"
                ));
            }
            None => self.kconns = None,
        }
        let mut wanted = HashSet::new();
        for ns in &sample.namespaces {
            for s in ns.tcp.iter().flatten() {
                if s.inode != 0 && !self.owners.contains_key(&s.inode) {
                    wanted.insert(s.inode);
                }
            }
        }
        if !wanted.is_empty() {
            let (found, _) = procs::socket_owners(Path::new("/proc"), &wanted);
            self.owners.extend(found);
        }
        let mut socks = HashMap::new();
        let mut live_inodes = HashSet::new();
        for ns in &sample.namespaces {
            let listening: HashSet<u16> = ns
                .listeners
                .iter()
                .flatten()
                .filter(|l| l.proto == "tcp")
                .map(|l| l.port)
                .collect();
            for s in ns.tcp.iter().flatten() {
                let now = (s.bytes_received, s.bytes_acked);
                socks.insert(s.cookie, now);
                live_inodes.insert(s.inode);
                let d = match self.socks.get(&s.cookie) {
                    Some(prev) => delta(now, *prev),
                    // a connection opened since the last tick: all its bytes are new
                    None if !socks_first => now,
                    None => continue,
                };
                // an idle connection (most of them) is no row: nothing more to build
                if d == (0, 0) {
                    continue;
                }
                let owner = self.owners.get(&s.inode).filter(|_| s.inode != 0);
                if owner.is_some() {
                    let e = conn_ns.entry(ns.name.clone()).or_default();
                    e.0 += d.0;
                    e.1 += d.1;
                }
                let port = service_port(s, &listening);
                t.conns.push(ConnRow {
                    inode: s.inode,
                    proto: "tcp",
                    netns: escape_bytes(&ns.name),
                    local_port: s.lport,
                    remote: unmap_v4(&s.raddr).to_string(),
                    remote_port: s.rport,
                    port: format!("tcp/{port}"),
                    pid: owner.map(|o| o.pid as u32),
                    comm: owner.map(|o| escape_bytes(&o.comm)),
                    rx: d.0,
                    tx: d.1,
                });
            }
        }
        self.socks = socks;
        if sockets {
            self.owners.retain(|i, _| live_inodes.contains(i));
        }
        // processes: eBPF's counters when there are any, else their connections'
        let conn_balance = Balance::of(&iface_ns, &conn_ns).unattributed;
        let attributed = match reading {
            Some(r) => self.ebpf_procs(r, first, &ns_name, &mut t),
            None => {
                let mut by_pid: HashMap<u32, ProcRow> = HashMap::new();
                for c in &t.conns {
                    let Some(o) = self.owners.get(&c.inode).filter(|_| c.inode != 0) else {
                        continue;
                    };
                    let pid = o.pid as u32;
                    let e = by_pid.entry(pid).or_insert_with(|| proc_row(pid, o));
                    e.rx += c.rx;
                    e.tx += c.tx;
                }
                t.procs = by_pid.into_values().collect();
                conn_ns
            }
        };
        if first {
            return Ok(None);
        }
        t.procs.retain(|p| p.rx + p.tx > 0);
        t.unattributed = Balance::of(&iface_ns, &attributed).unattributed;
        if t.conns_read {
            t.unattributed_conns = conn_balance;
        }
        Ok(Some(t))
    }

    /// The connections of a read of the kernel's connection map, into `t.conns`: each
    /// entry's growth since the previous read (an entry new since then moved all it holds —
    /// it is created at its first byte, of a cut), by the recorder's rule for the service
    /// port. Their bytes per namespace name into `per_ns`. False when this read is the
    /// baseline (the first, or the map was re-created). A private session's own map cuts at
    /// each read ([`ebpf::Pins::live_conns`]): the finished cuts' entries, counted now, are
    /// deleted, so it holds only the connections of the last refresh. The recorder's map is
    /// the recorder's to cut: the bytes an entry gained between this view's last read and
    /// the cut that finished it are the recorded history's, not this view's (the connection
    /// views' `(unattributed)` holds them).
    fn kernel_conns(
        &mut self,
        c: ebpf::Conns,
        generation: u64,
        sample: &Sample,
        per_ns: &mut HashMap<Vec<u8>, (u64, u64)>,
        t: &mut Tick,
    ) -> bool {
        let prev = match self.kconns.take() {
            Some((g, prev)) if g == generation => Some(prev),
            _ => None,
        };
        let ns_of: HashMap<u64, &NsSample> =
            sample.namespaces.iter().map(|n| (n.inode, n)).collect();
        let listening = derive_conns::listening(&sample.namespaces);
        let mut now = HashMap::with_capacity(c.entries.len());
        let mut finished = Vec::new();
        for (k, v) in &c.entries {
            now.insert(*k, *v);
            if k.cut != c.cut {
                finished.push((*k, *v));
            }
            let Some(prev) = &prev else { continue };
            let d = match prev.get(k) {
                Some(p) => delta(*v, *p),
                None => *v,
            };
            // (a class or family the program never writes: not a connection of ours)
            let Some(proto) = k.proto_name() else {
                continue;
            };
            if d == (0, 0) || (k.remote().is_none() && k.family != 0) {
                continue;
            }
            let ns = ns_of.get(&u64::from(k.process.netns));
            let listens = derive_conns::listens(&listening, k.process.netns, proto, k.lport);
            let port = derive_conns::service_port(k.lport, k.rport, listens);
            let pk = (k.process.tgid, k.process.start_ticks(self.hz));
            let owner = self.procs.entry(pk).or_insert_with(|| {
                procs::read_owner(&Path::new("/proc").join(pk.0.to_string()), pk.0 as i32)
                    .filter(|o| o.start_time == pk.1)
            });
            let comm = match owner {
                Some(o) => escape_bytes(&o.comm),
                None => escape_bytes(k.process.name()),
            };
            // (a namespace gone since the walk, or never seen by it, by its inode)
            let ns_name = ns.map_or_else(
                || nrec_collect::netns::unnamed(u64::from(k.process.netns)),
                |n| n.name.clone(),
            );
            let netns = escape_bytes(&ns_name);
            let e = per_ns.entry(ns_name).or_default();
            e.0 += d.0;
            e.1 += d.1;
            t.conns.push(ConnRow {
                inode: 0,
                proto,
                netns,
                local_port: k.lport,
                remote: k
                    .remote()
                    .map(|a| unmap_v4(&a.to_string()).to_string())
                    .unwrap_or_default(),
                remote_port: k.rport,
                port: format!("{proto}/{port}"),
                pid: Some(k.process.tgid),
                comm: Some(comm),
                rx: d.0,
                tx: d.1,
            });
        }
        if let Ebpf::Private(p) = &self.ebpf {
            // counted: a private map keeps only what the next read can add to
            let done = ebpf::Conns {
                entries: finished,
                ..ebpf::Conns::default()
            };
            if p.forget_conns(&done).is_ok() {
                for (k, _) in &done.entries {
                    now.remove(k);
                }
            }
        }
        self.kconns = Some((generation, now));
        prev.is_some()
    }

    /// The processes of an eBPF reading (the interval's differences), into `t.procs`; their
    /// bytes per namespace name.
    fn ebpf_procs(
        &mut self,
        r: ebpf::Reading,
        first: bool,
        ns_name: &HashMap<u64, Vec<u8>>,
        t: &mut Tick,
    ) -> HashMap<Vec<u8>, (u64, u64)> {
        // a new map (re-created) starts new counters: nothing to compare with
        let first = first || r.generation != self.ebpf_generation;
        self.ebpf_generation = r.generation;
        let mut now: HashMap<(u32, u32, u64), (u64, u64)> = HashMap::with_capacity(r.entries.len());
        // (pid, start) → the entry naming it (its latest name wins; any will do)
        let mut who: HashMap<(u32, u32, u64), (&ebpf::Key, u32)> = HashMap::new();
        let mut by_proc: HashMap<(u32, u64), ProcRow> = HashMap::new();
        let mut per_ns: HashMap<Vec<u8>, (u64, u64)> = HashMap::new();
        let mut alive = HashSet::new();
        for (k, v) in &r.entries {
            let sum = (0..ebpf::SLOTS / 2).fold((0u64, 0u64), |a, c| {
                let (rx, tx) = v.of_class(c);
                (a.0 + rx, a.1 + tx)
            });
            // a process's names (and its classes) are summed under its identity
            let id = (k.tgid, k.netns, k.start_ns);
            let e = now.entry(id).or_default();
            e.0 += sum.0;
            e.1 += sum.1;
            who.insert(id, (k, v.uid));
            alive.insert((k.tgid, k.start_ticks(self.hz)));
        }
        for (id, cur) in &now {
            let d = match self.ebpf_prev.get(id) {
                Some(prev) => delta(*cur, *prev),
                None if !first => *cur,
                None => continue,
            };
            let Some((k, uid)) = who.get(id).copied() else {
                continue;
            };
            if d == (0, 0) {
                continue;
            }
            let pk = (k.tgid, k.start_ticks(self.hz));
            let owner = self.procs.entry(pk).or_insert_with(|| {
                procs::read_owner(&Path::new("/proc").join(k.tgid.to_string()), k.tgid as i32)
                    .filter(|o| o.start_time == pk.1)
            });
            let row = by_proc.entry(pk).or_insert_with(|| match owner {
                Some(o) => proc_row(k.tgid, o),
                None => ProcRow {
                    pid: k.tgid,
                    comm: escape_bytes(k.name()),
                    uid: Some(uid),
                    unit: None,
                    container: None,
                    rx: 0,
                    tx: 0,
                },
            });
            row.rx += d.0;
            row.tx += d.1;
            let ns = ns_name
                .get(&u64::from(k.netns))
                .cloned()
                .unwrap_or_default();
            let e = per_ns.entry(ns).or_default();
            e.0 += d.0;
            e.1 += d.1;
        }
        self.ebpf_prev = now;
        self.procs.retain(|k, _| alive.contains(k));
        t.procs = by_proc.into_values().collect();
        per_ns
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Ebpf::Private(p) = &self.ebpf {
            let _ = p.remove();
        }
    }
}

/// Loads the eBPF programs into a private pin directory for this session.
fn load_private() -> Result<ebpf::Pins, String> {
    let pins = ebpf::Pins::session(std::process::id());
    match pins.setup() {
        Ok(_) => Ok(pins),
        Err(e) => {
            let _ = pins.remove();
            Err(e)
        }
    }
}

fn proc_row(pid: u32, o: &Owner) -> ProcRow {
    ProcRow {
        pid,
        comm: escape_bytes(&o.comm),
        uid: Some(o.uid),
        unit: o.cgroup.as_deref().and_then(procs::unit_of),
        container: o.cgroup.as_deref().and_then(procs::container_of),
        rx: 0,
        tx: 0,
    }
}

/// `now - prev` per direction, by the recorder's rule: a counter that went back restarted
/// from zero.
fn delta(now: (u64, u64), prev: (u64, u64)) -> (u64, u64) {
    (simple_delta(prev.0, now.0), simple_delta(prev.1, now.1))
}

/// One tick's interface rows and bytes per namespace, by the recorder's counter rules
/// (`nrec_model::derive::iface`: resets, 64-bit wraps, implausible jumps, interfaces new
/// since the previous tick); `prev` becomes this tick's readings.
fn iface_rows(
    prev: &mut Vec<Prev>,
    sample: &Sample,
    placement: Placement,
) -> (Vec<IfaceRow>, PerNs) {
    let derived = derive_iface::iface_deltas(
        prev,
        &sample.namespaces,
        placement,
        &mut Warnings::default(),
    );
    let mut rows = Vec::new();
    let mut per_ns = PerNs::new();
    let mut next = Vec::new();
    for (ns, ds) in sample.namespaces.iter().zip(derived) {
        for (i, d) in ns.ifaces.iter().zip(ds) {
            next.push(Prev {
                netns_inode: ns.inode as i64,
                ifindex: i.link.ifindex.map(i64::from).unwrap_or(-1),
                name: i.counters.name.clone(),
                counters: i.counters.counters,
            });
            let Some(d) = d.deltas else { continue };
            let e = per_ns.entry(ns.name.clone()).or_default();
            e.0 += d[0];
            e.1 += d[8];
            rows.push(IfaceRow {
                label: iface_label(&ns.name, &i.counters.name),
                rx: d[0],
                tx: d[8],
            });
        }
    }
    *prev = next;
    (rows, per_ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nrec_model::derive::iface::Last;
    use nrec_model::derive::{self, Baseline, Resolved};
    use nrec_model::sample::{IfaceCounters, IfaceSample, LinkInfo, NsSample};

    /// One namespace with one interface whose rx bytes and packets are `rx`, tx `tx`.
    fn sample(mono_ms: i64, rx: (u64, u64), tx: (u64, u64)) -> Sample {
        let mut c = [0u64; 16];
        (c[0], c[1], c[8], c[9]) = (rx.0, rx.1, tx.0, tx.1);
        let iface = IfaceSample {
            counters: IfaceCounters {
                name: b"eth0".to_vec(),
                counters: c,
            },
            link: LinkInfo {
                ifindex: Some(2),
                speed_mbps: None,
                duplex: None,
                is_virtual: true,
            },
        };
        Sample {
            ts_ms: 1_000_000 + mono_ms,
            mono_ms,
            boot_id: "b".into(),
            hostname: b"h".to_vec(),
            kernel: "k".into(),
            arch: "a".into(),
            ncpu: 1,
            namespaces: vec![NsSample {
                inode: 7,
                name: b"root".to_vec(),
                ..NsSample::of_ifaces(vec![iface])
            }],
            ebpf: None,
            pids: None,
        }
    }

    /// An interval's (rx, tx) bytes; None when it is not counted.
    type Counted = Option<(u64, u64)>;

    /// What `nrec top` shows for the interval between two readings, and what `record`
    /// stores for the same two.
    fn live_and_recorded(a: &Sample, b: &Sample) -> (Counted, Counted) {
        let mut prev = Vec::new();
        iface_rows(&mut prev, a, Placement::BASELINE);
        let (rows, _) = iface_rows(&mut prev, b, Placement::after(b.mono_ms - a.mono_ms));
        let live = rows.first().map(|r| (r.rx, r.tx));
        let base = Baseline {
            last: Some(Last {
                id: 1,
                mono_ms: a.mono_ms,
                ts_ms: a.ts_ms,
                boot_id: a.boot_id.clone(),
            }),
            ifaces: prev_of(a),
            ..Default::default()
        };
        let mut w = Warnings::default();
        let iv = derive::prepare(&base, b, &mut w).finish(Resolved::default());
        let recorded = iv.ifaces[0][0].deltas.map(|d| (d[0], d[8]));
        (live, recorded)
    }

    fn prev_of(s: &Sample) -> Vec<Prev> {
        let mut prev = Vec::new();
        iface_rows(&mut prev, s, Placement::BASELINE);
        prev
    }

    /// The live view counts with the recorder's rules: fed the same readings, a 64-bit wrap,
    /// a reset and an implausible jump come out the same live and recorded.
    #[test]
    fn a_wrap_a_reset_and_a_jump_count_the_same_live_and_recorded() {
        let near = u64::MAX - 999;
        // rx wrapped past 2^64 while its packets rose: 1 000 + 500 bytes, not a reset
        let wrap = (
            sample(60_000, (near, 10), (5_000, 5)),
            sample(61_000, (500, 20), (6_000, 6)),
        );
        let (live, rec) = live_and_recorded(&wrap.0, &wrap.1);
        assert_eq!(live, Some((1_500, 1_000)));
        assert_eq!(live, rec);
        // a counter that went back without a wrap: counted from zero
        let reset = (
            sample(60_000, (9_000, 10), (5_000, 5)),
            sample(61_000, (700, 11), (5_100, 6)),
        );
        let (live, rec) = live_and_recorded(&reset.0, &reset.1);
        assert_eq!(live, Some((700, 100)));
        assert_eq!(live, rec);
        // 1 PB in a second is no link's: not counted, live or recorded
        let jump = (
            sample(60_000, (0, 0), (0, 0)),
            sample(61_000, (1 << 50, 1), (0, 0)),
        );
        let (live, rec) = live_and_recorded(&jump.0, &jump.1);
        assert_eq!(live, None);
        assert_eq!(rec, None);
    }
}
