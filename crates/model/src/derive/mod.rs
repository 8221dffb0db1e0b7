//! DERIVE: pure functions from readings to what is stored. No database, no kernel, no clock:
//! plain data in, plain data out, so every counting rule of ARCHITECTURE.md §4 is unit-tested
//! on hand-built samples, and the recorder and the live view take them from one place.
//!
//! An interval is derived in two steps around the one thing that needs the system — who owns
//! a socket or an eBPF entry:
//!
//! 1. [`prepare`]: the stored [`Baseline`] and a [`Sample`] → where the sample stands, every
//!    interface's and protocol counter's delta, each namespace's listeners and socket bytes
//!    (owners still named by socket inode, listener port or eBPF key), the eBPF growth; and
//!    [`Prepared::wanted`], what the sampler must look up;
//! 2. [`Prepared::finish`]: with the owners the sampler [`Resolved`] → the [`Interval`] the
//!    store writes in one transaction (processes named by [`ProcRef`]: a row the baseline
//!    already knows, or an owner for the store to intern).
//!
//! - [`idle`]: idle namespaces carried forward instead of read;
//! - [`iface`]: placement (baseline, continues, first after boot) and interface deltas;
//! - [`proto`]: protocol counters; [`sockets`]: TCP dumps and captured UDP flows;
//!   [`ebpf`]: eBPF readings; [`bytes`]: bytes per process, port and host.

pub mod bytes;
pub mod conns;
pub mod ebpf;
pub mod idle;
pub mod iface;
pub mod proto;
pub mod sockets;

use crate::counter::{DEFAULT_LIMIT_BITS_PER_S, max_bytes};
use crate::ebpf::{Key, SLOTS, Value};
use crate::identity::Container;
use crate::names::escape_bytes;
use crate::sample::{Listener, NsSample, Owner, Sample};
use crate::warnings::{Kind as WarnKind, Warnings};
use bytes::{ProcBytes, source};
use iface::{IfaceDelta, Placement, Segment};
use sockets::{Bytes, Who};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the store kept with its newest sample: everything the next sample is counted against.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// The newest stored sample (None: an empty database).
    pub last: Option<iface::Last>,
    /// Its interfaces' readings.
    pub ifaces: Vec<iface::Prev>,
    /// Its namespaces, by (inode, name).
    pub namespaces: HashMap<(u64, Vec<u8>), NsBaseline>,
    /// The stored eBPF reading (of whichever sample stored the last one).
    pub ebpf: Option<ebpf::Base>,
}

/// What one namespace of the newest sample left for the next.
#[derive(Debug, Clone, Default)]
pub struct NsBaseline {
    /// Its protocol readings.
    pub proto: Option<proto::Last>,
    /// Its complete socket dump (None: the dump failed).
    pub sockets: Option<sockets::Baseline>,
    /// Listening sockets seen up to it: (row, key) of each span still open.
    pub listeners: Vec<(i64, ListenerKey)>,
}

/// A listening socket's identity: a span is extended while consecutive samples see it.
pub type ListenerKey = (String, i64, String, i64, i64);

fn listener_key(l: &Listener) -> ListenerKey {
    (
        l.proto.to_string(),
        i64::from(l.family),
        l.addr.clone(),
        i64::from(l.port),
        i64::from(l.inode),
    )
}

/// A process in an interval: a `process` row the baseline names, or an owner the store finds
/// or creates a row for (an index into [`Interval::owners`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcRef {
    Row(i64),
    Owner(usize),
}

/// One namespace's listening sockets in an interval.
#[derive(Debug, Clone, Default)]
pub struct Listeners<'s> {
    /// Rows of spans seen again: extended to this sample.
    pub continued: Vec<i64>,
    /// Sockets not listening before, with their owner when the scan found it.
    pub new: Vec<(&'s Listener, Option<Owner>)>,
}

/// One namespace's TCP sockets in an interval.
#[derive(Debug, Clone, Default)]
pub struct NsSockets {
    /// The next baseline: (cookie, bytes acked, bytes received, owner) of every socket.
    pub next: Vec<(u64, u64, u64, Option<ProcRef>)>,
    /// Every socket's bytes and those without a known owner (None: no baseline to count
    /// against, only the next one taken).
    pub attrib: Option<(Bytes, Bytes)>,
}

/// The eBPF side of an interval.
#[derive(Debug, Clone)]
pub struct EbpfInterval<'s> {
    pub covered: bool,
    /// The interval's ports and hosts are the kernel's per-connection counts
    /// ([`conns`]), not sampled sockets'.
    pub conns: bool,
    pub lost_events: u64,
    pub lost_bytes: u64,
    /// Bytes credited (rx, tx).
    pub rx: u64,
    pub tx: u64,
    /// The reading, stored as the next baseline: its map's generation and totals, its entries
    /// in key order.
    pub generation: u64,
    pub total_lost_events: u64,
    pub total_lost_bytes: u64,
    pub sorted: Vec<&'s (Key, Value)>,
}

/// Everything the store writes for one sample, derived; the store adds nothing but row ids.
#[derive(Debug, Clone)]
pub struct Interval<'s> {
    pub sample: &'s Sample,
    pub placement: Placement,
    /// Per namespace of the sample, in its order:
    pub ifaces: Vec<Vec<IfaceDelta>>,
    pub proto: Vec<Option<proto::Counted>>,
    pub listeners: Vec<Option<Listeners<'s>>>,
    pub sockets: Vec<Option<NsSockets>>,
    /// The processes [`ProcRef::Owner`] names, each with its network namespace's inode.
    pub owners: Vec<(Owner, Option<u64>)>,
    pub bytes: ProcBytes<ProcRef>,
    pub ebpf: Option<EbpfInterval<'s>>,
    /// The pcap fallback delivered UDP flows.
    pub pcap: bool,
    /// Container and unit metadata looked up for this sample, to keep.
    pub containers: Vec<(Container, i64)>,
    pub units: Vec<(String, Option<String>, i64)>,
    /// The user names of the owners' uids at sample time (kept with new process rows).
    pub users: HashMap<u32, Vec<u8>>,
}

/// Step 1 of an interval: everything but the owners.
#[derive(Debug)]
pub struct Prepared<'s> {
    sample: &'s Sample,
    placement: Placement,
    ifaces: Vec<Vec<IfaceDelta>>,
    proto: Vec<Option<proto::Counted>>,
    /// Per namespace: continued rows, new listeners.
    listeners: Vec<Option<(Vec<i64>, Vec<&'s Listener>)>>,
    tcp: Vec<Option<sockets::Accounted>>,
    udp: Vec<Vec<sockets::UdpCredit>>,
    ebpf: Option<ebpf::Counted<'s>>,
}

/// What the sampler must look up before an interval can be finished.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Socket inodes whose owner is not known yet (new listeners, sockets, UDP flows).
    pub inodes: HashSet<u32>,
    /// (namespace index, port): the owner of a TCP listener whose connections closed
    /// before any dump saw their owner.
    pub listeners: Vec<(usize, u16)>,
    /// The eBPF entries that moved: whose processes they are.
    pub ebpf: Vec<(Key, Value)>,
}

/// The owners the sampler found.
#[derive(Debug, Default, Clone)]
pub struct Resolved {
    /// By socket inode (the /proc scan).
    pub sockets: HashMap<u32, Owner>,
    /// By (namespace index, port): listeners' owners.
    pub listeners: HashMap<(usize, u16), Owner>,
    /// By eBPF key: from /proc while the process runs, else the kernel's capture.
    pub ebpf: HashMap<Key, Owner>,
    /// Container and unit metadata looked up (first sight, or a stale failed lookup), with
    /// the time of the lookup.
    pub containers: Vec<(Container, i64)>,
    pub units: Vec<(String, Option<String>, i64)>,
    /// The user names of the owners' uids, as the system names them now.
    pub users: HashMap<u32, Vec<u8>>,
}

/// Step 1: the sample against the baseline (see the module documentation).
pub fn prepare<'s>(base: &Baseline, s: &'s Sample, warn: &mut Warnings) -> Prepared<'s> {
    let placement = iface::place(base.last.as_ref(), &s.boot_id, s.ts_ms, s.mono_ms, warn);
    let ifaces = iface::iface_deltas(&base.ifaces, &s.namespaces, placement, warn);
    let cont = placement.segment == Segment::Continue;
    let ns_base = |ns: &NsSample| {
        cont.then(|| base.namespaces.get(&(ns.inode, ns.name.clone())))
            .flatten()
    };
    let empty = sockets::Baseline::new();
    let mut p = Prepared {
        sample: s,
        placement,
        ifaces,
        proto: Vec::with_capacity(s.namespaces.len()),
        listeners: Vec::with_capacity(s.namespaces.len()),
        tcp: Vec::with_capacity(s.namespaces.len()),
        udp: Vec::with_capacity(s.namespaces.len()),
        ebpf: None,
    };
    for ns in &s.namespaces {
        let b = ns_base(ns);
        p.proto.push(count_proto(ns, placement, b, warn));
        p.listeners.push(ns.listeners.as_ref().map(|ls| {
            let open: HashMap<&ListenerKey, i64> = b
                .map(|b| b.listeners.iter().map(|(id, k)| (k, *id)).collect())
                .unwrap_or_default();
            let (mut continued, mut new) = (Vec::new(), Vec::new());
            let mut seen = HashSet::new();
            for l in ls {
                let key = listener_key(l);
                if !seen.insert(key.clone()) {
                    continue;
                }
                match open.get(&key) {
                    Some(id) => continued.push(*id),
                    None => new.push(l),
                }
            }
            (continued, new)
        }));
        // every socket is new after a reboot; otherwise the predecessor's complete dump
        let sock_base = match placement.segment {
            Segment::Boot => Some(&empty),
            _ => b.and_then(|b| b.sockets.as_ref()),
        };
        p.tcp.push(sockets::account_tcp(ns, sock_base));
        p.udp.push(sockets::account_udp(ns));
    }
    p.ebpf = s
        .ebpf
        .as_ref()
        .map(|r| ebpf::count(base.ebpf.as_ref(), placement.prev, r));
    p
}

/// One namespace's protocol counters. No protocol counter can count more segments,
/// datagrams or errors in the interval than the namespace's links could carry bytes (one byte
/// each, at the 400 Gbit/s ceiling per interface): beyond that the reading is not a count.
fn count_proto(
    ns: &NsSample,
    p: Placement,
    b: Option<&NsBaseline>,
    warn: &mut Warnings,
) -> Option<proto::Counted> {
    if ns.protocol().is_empty() {
        return None;
    }
    let limit = p.elapsed_ms.map(|el| {
        max_bytes(el, DEFAULT_LIMIT_BITS_PER_S).saturating_mul(ns.ifaces.len().max(1) as u64)
    });
    let c = match &ns.carried {
        Some(c) => proto::count_carried(c, p.segment, limit),
        None => proto::count(
            &ns.counters,
            p.segment,
            b.and_then(|b| b.proto.as_ref()),
            limit,
        ),
    };
    if c.implausible {
        warn.warn(
            WarnKind::Implausible,
            format!(
                "netns {}: a protocol counter jumped by more than its links could carry in {} ms; \
                 this interval's protocol counters are flagged and not counted",
                escape_bytes(&ns.name),
                p.elapsed_ms.unwrap_or(0)
            ),
        );
    }
    Some(c)
}

impl<'s> Prepared<'s> {
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// What the sampler must look up (outside the database transaction).
    pub fn wanted(&self) -> Wanted {
        let mut w = Wanted::default();
        for (((ls, tcp), udp), ns) in self
            .listeners
            .iter()
            .zip(&self.tcp)
            .zip(&self.udp)
            .zip(0usize..)
        {
            if let Some((_, new)) = ls {
                w.inodes
                    .extend(new.iter().map(|l| l.inode).filter(|i| *i != 0));
            }
            if let Some(a) = tcp {
                let whos = a
                    .next
                    .iter()
                    .filter_map(|n| n.3)
                    .chain(a.tally.iter().flat_map(|t| t.per_owner.keys().copied()));
                for who in whos {
                    match who {
                        Who::Inode(i) => {
                            w.inodes.insert(i);
                        }
                        Who::Accepted(i, port) => {
                            w.inodes.insert(i);
                            if !w.listeners.contains(&(ns, port)) {
                                w.listeners.push((ns, port));
                            }
                        }
                        Who::Listener(port) if !w.listeners.contains(&(ns, port)) => {
                            w.listeners.push((ns, port))
                        }
                        _ => {}
                    }
                }
            }
            w.inodes.extend(udp.iter().map(|u| u.inode));
        }
        if let Some(e) = &self.ebpf {
            w.ebpf = e
                .moved
                .iter()
                .map(|(k, v, _)| (**k, (*v).clone()))
                .collect();
            // a connection's process that moved nothing since the reading before (its bytes
            // of the cut were moved between that reading and its cut): named all the same
            if let Some(c) = self.conns() {
                // (each process once: its connections are many; `moved` is in key order)
                let procs: foldhash::HashSet<Key> =
                    c.entries.iter().map(|(k, _)| k.process).collect();
                let mut more: Vec<Key> = procs
                    .into_iter()
                    .filter(|k| e.moved.binary_search_by(|m| m.0.cmp(k)).is_err())
                    .collect();
                more.sort_unstable();
                for k in more {
                    if let Ok(i) = e.sorted.binary_search_by(|s| s.0.cmp(&k)) {
                        w.ebpf.push((k, e.sorted[i].1.clone()));
                    }
                }
            }
        }
        w
    }

    /// The connection map's cuts, when they are this interval's ports and hosts: eBPF
    /// covers the interval and the recorder read them.
    fn conns(&self) -> Option<&'s crate::ebpf::Conns> {
        let covered = self.ebpf.as_ref().is_some_and(|e| e.covered);
        covered
            .then(|| self.sample.ebpf.as_ref()?.conns.as_ref())
            .flatten()
    }

    /// Step 2: the interval, with the owners found.
    pub fn finish(self, r: Resolved) -> Interval<'s> {
        let s = self.sample;
        let mut owners = Owners::default();
        let mut bytes: ProcBytes<ProcRef> = ProcBytes::default();
        let kernel_conns = self.conns();
        // eBPF first: when it covers the interval, it counts the processes' bytes
        let ebpf = self.ebpf.map(|e| {
            let (generation, total_lost_events, total_lost_bytes) = s
                .ebpf
                .as_ref()
                .map_or((0, 0, 0), |r| (r.generation, r.lost_events, r.lost_bytes));
            let mut out = EbpfInterval {
                covered: e.covered,
                conns: false,
                lost_events: e.lost_events,
                lost_bytes: e.lost_bytes,
                rx: 0,
                tx: 0,
                generation,
                total_lost_events,
                total_lost_bytes,
                sorted: e.sorted,
            };
            for (k, _, d) in &e.moved {
                let Some(o) = r.ebpf.get(*k) else { continue };
                // the name the process had when it moved these bytes, whatever it is now
                let owner = Owner {
                    comm: k.name().to_vec(),
                    ..o.clone()
                };
                let p = owners.of(owner, Some(u64::from(k.netns)));
                for class in 0..SLOTS / 2 {
                    let (rx, tx) = (d[class * 2], d[class * 2 + 1]);
                    if rx + tx > 0 {
                        bytes.add_proc(p, source::of_ebpf_class(class), rx, tx);
                        out.rx += rx;
                        out.tx += tx;
                    }
                }
            }
            out
        });
        let credit_procs = !ebpf.as_ref().is_some_and(|e| e.covered);
        // ports and hosts: the kernel's per connection when it counted them, else sampled
        if let Some(c) = kernel_conns {
            let listening = conns::listening(&s.namespaces);
            conns::credit(
                c,
                &listening,
                |k| {
                    let o = r.ebpf.get(k)?;
                    let owner = Owner {
                        comm: k.name().to_vec(),
                        ..o.clone()
                    };
                    Some(owners.of(owner, Some(u64::from(k.netns))))
                },
                &mut bytes,
            );
        }
        let sampled_conns = kernel_conns.is_none();
        let mut ebpf = ebpf;
        if let Some(e) = ebpf.as_mut() {
            e.conns = !sampled_conns;
        }
        let mut listeners = Vec::with_capacity(s.namespaces.len());
        let mut socks = Vec::with_capacity(s.namespaces.len());
        for (i, ns) in s.namespaces.iter().enumerate() {
            listeners.push(self.listeners[i].as_ref().map(|(continued, new)| {
                Listeners {
                    continued: continued.clone(),
                    new: new
                        .iter()
                        .map(|l| (*l, r.sockets.get(&l.inode).cloned()))
                        .collect(),
                }
            }));
            let who = |w: Who, owners: &mut Owners| -> Option<ProcRef> {
                let o = match w {
                    Who::Row(id) => return Some(ProcRef::Row(id)),
                    Who::Inode(inode) => r.sockets.get(&inode),
                    Who::Accepted(inode, port) => r
                        .sockets
                        .get(&inode)
                        .or_else(|| r.listeners.get(&(i, port))),
                    Who::Listener(port) => r.listeners.get(&(i, port)),
                };
                o.map(|o| owners.of(o.clone(), Some(ns.inode)))
            };
            socks.push(self.tcp[i].as_ref().map(|a| {
                let next = a
                    .next
                    .iter()
                    .map(|(c, acked, rcvd, w)| {
                        (*c, *acked, *rcvd, w.and_then(|w| who(w, &mut owners)))
                    })
                    .collect();
                let attrib = a.tally.as_ref().map(|t| {
                    // an owner that resolves to no process is unowned
                    let mut unowned = t.unowned;
                    for (w, b) in &t.per_owner {
                        match who(*w, &mut owners) {
                            None => unowned.add(b.rx, b.tx),
                            Some(p) if credit_procs => {
                                bytes.add_proc(p, source::SOCK_DIAG, b.rx, b.tx)
                            }
                            Some(_) => {}
                        }
                    }
                    for ((w, port, class), b) in t.per_port.iter().filter(|_| sampled_conns) {
                        if let Some(p) = who(*w, &mut owners) {
                            bytes.add_port(p, "tcp", i64::from(*port), class, b.rx, b.tx);
                        }
                    }
                    let mut hosts: BTreeMap<(ProcRef, String), (u64, u64)> = BTreeMap::new();
                    for (w, per) in t.per_host.iter().filter(|_| sampled_conns) {
                        let Some(p) = who(*w, &mut owners) else {
                            continue;
                        };
                        for (addr, b) in per {
                            let e = hosts.entry((p, addr.clone())).or_default();
                            e.0 += b.rx;
                            e.1 += b.tx;
                        }
                    }
                    bytes.add_top_hosts(hosts);
                    (t.all, unowned)
                });
                NsSockets { next, attrib }
            }));
            let mut hosts: BTreeMap<(ProcRef, String), (u64, u64)> = BTreeMap::new();
            for u in &self.udp[i] {
                let Some(o) = r.sockets.get(&u.inode) else {
                    continue;
                };
                let p = owners.of(o.clone(), Some(ns.inode));
                if credit_procs {
                    bytes.add_proc(p, source::PCAP_UDP, u.rx, u.tx);
                }
                if sampled_conns {
                    let class = crate::scope::class_marker(&u.remote);
                    bytes.add_port(p, "udp", i64::from(u.port), &class, u.rx, u.tx);
                    let e = hosts.entry((p, u.remote.clone())).or_default();
                    e.0 += u.rx;
                    e.1 += u.tx;
                }
            }
            bytes.add_top_hosts(hosts);
        }
        Interval {
            sample: s,
            placement: self.placement,
            ifaces: self.ifaces,
            proto: self.proto,
            listeners,
            sockets: socks,
            owners: owners.list,
            bytes,
            ebpf,
            pcap: s.namespaces.iter().any(|n| n.udp_flows.is_some()),
            containers: r.containers,
            units: r.units,
            users: r.users,
        }
    }
}

/// The owners an interval names, each once.
#[derive(Default)]
struct Owners {
    list: Vec<(Owner, Option<u64>)>,
    index: HashMap<(i32, u64, Vec<u8>, Option<u64>), usize>,
}

impl Owners {
    fn of(&mut self, o: Owner, netns: Option<u64>) -> ProcRef {
        let key = (o.pid, o.start_time, o.comm.clone(), netns);
        let n = self.list.len();
        let i = *self.index.entry(key).or_insert(n);
        if i == n {
            self.list.push((o, netns));
        }
        ProcRef::Owner(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::Reading;
    use crate::sample::TcpSock;

    fn owner(pid: i32) -> Owner {
        Owner {
            pid,
            comm: format!("p{pid}").into_bytes(),
            uid: 0,
            start_time: 1,
            exe: None,
            cgroup: None,
        }
    }

    fn sample(ns: Vec<NsSample>, ebpf: Option<Reading>) -> Sample {
        Sample {
            ts_ms: 1_000_000,
            mono_ms: 60_000,
            boot_id: "b".into(),
            hostname: b"h".to_vec(),
            kernel: "k".into(),
            arch: "a".into(),
            ncpu: 1,
            namespaces: ns,
            ebpf,
            pids: None,
        }
    }

    /// The baseline of sample `id` (60 s before the test's sample, same boot) with its eBPF
    /// reading `ebpf` (of map generation 5, the readings' own).
    fn base_after(id: i64, ebpf: ebpf::Base) -> Baseline {
        Baseline {
            last: Some(iface::Last {
                id,
                mono_ms: 0,
                ts_ms: 940_000,
                boot_id: "b".into(),
            }),
            ifaces: Vec::new(),
            namespaces: HashMap::new(),
            ebpf: Some(ebpf::Base {
                sample: id,
                generation: 5,
                ..ebpf
            }),
        }
    }

    /// Two samples through prepare → wanted → finish: the owners asked for are exactly the
    /// sockets without a known owner; with eBPF covering the interval the processes' bytes
    /// are eBPF's and the sockets still give ports and hosts.
    #[test]
    fn an_interval_asks_for_the_owners_it_needs_and_names_each_once() {
        let mut ns = iface::tests::ns(7, "root", vec![iface::tests::iface("lo", 1, 5000, 5000)]);
        ns.listeners = Some(vec![Listener {
            proto: "tcp",
            family: 4,
            addr: "0.0.0.0".into(),
            port: 8080,
            inode: 900,
            uid: 0,
        }]);
        let sock = |cookie, lport, rport, inode, acked, rcvd| TcpSock {
            cookie,
            lport,
            rport,
            raddr: "127.0.0.1".into(),
            inode,
            bytes_acked: acked,
            bytes_received: rcvd,
        };
        ns.tcp = Some(vec![
            sock(1, 45000, 8080, 31, 3000, 0),
            sock(2, 8080, 45000, 32, 0, 3000),
            sock(3, 40000, 443, 33, 10, 10),
        ]);
        let key = Key {
            tgid: 31,
            netns: 7,
            start_ns: 10_000_000,
            comm: Key::comm_of(b"client"),
        };
        let reading = Reading {
            generation: 5,
            entries: vec![(
                key,
                Value {
                    bytes: [0, 3000, 0, 0, 0, 0],
                    cgroup: 0,
                    uid: 0,
                },
            )],
            lost_events: 0,
            lost_bytes: 0,
            foreign: None,
            conns: None,
        };
        let s = sample(vec![ns], Some(reading));
        let mut base = base_after(41, ebpf::Base::default());
        base.namespaces.insert(
            (7, b"root".to_vec()),
            NsBaseline {
                proto: None,
                // cookie 3 is known and owned by row 12
                sockets: Some(HashMap::from([(3, (10, 10, 12))])),
                listeners: Vec::new(),
            },
        );
        let mut w = Warnings::default();
        let p = prepare(&base, &s, &mut w);
        assert_eq!(p.placement().segment, Segment::Continue);
        let wanted = p.wanted();
        assert_eq!(
            wanted.inodes,
            HashSet::from([31, 32, 900]),
            "not 33: its row is known"
        );
        assert_eq!(wanted.ebpf.len(), 1);
        let r = Resolved {
            sockets: HashMap::from([(31, owner(31)), (900, owner(2))]),
            ebpf: HashMap::from([(key, owner(31))]),
            ..Default::default()
        };
        let iv = p.finish(r);
        // eBPF credits the client under the name its key holds ("client")
        let e = iv.ebpf.as_ref().unwrap();
        assert!(e.covered && e.tx == 3000);
        let procs = iv.bytes.per_process();
        assert_eq!(
            procs.len(),
            1,
            "eBPF covers: sockets credit no process bytes"
        );
        let (p, b) = procs.iter().next().unwrap();
        assert_eq!(*b, (0, 3000));
        let ProcRef::Owner(i) = p else { panic!() };
        assert_eq!(iv.owners[*i].0.comm, b"client");
        // ports and hosts still from the sockets: the client's 8080
        assert!(
            iv.bytes
                .ports
                .keys()
                .any(|(_, proto, port, _)| proto == "tcp" && *port == 8080)
        );
        // the server's socket 32 has no owner found: unowned in the attribution
        let (all, unowned) = iv.sockets[0].as_ref().unwrap().attrib.unwrap();
        assert_eq!((all.rx, all.tx), (3000, 3000));
        assert_eq!((unowned.rx, unowned.tx), (3000, 0));
        // the new listener with its owner; the known socket keeps its row in the baseline
        let l = iv.listeners[0].as_ref().unwrap();
        assert_eq!(l.new.len(), 1);
        assert_eq!(l.new[0].1.as_ref().map(|o| o.pid), Some(2));
        let next = &iv.sockets[0].as_ref().unwrap().next;
        assert_eq!(next[2], (3, 10, 10, Some(ProcRef::Row(12))));
        assert_eq!(next[1].3, None, "socket 32: nobody's");
    }

    /// With the connection map's cut read and eBPF covering the interval, ports and hosts are
    /// the kernel's per connection — the sampled sockets' are not added to them — and a
    /// connection's process that moved nothing since the reading before is named all the same.
    #[test]
    fn kernel_connections_are_the_ports_and_hosts_when_ebpf_covers() {
        use crate::ebpf::{CLASS_TCP, CLASS_UDP, ConnKey, Conns};
        let mut ns = iface::tests::ns(7, "root", vec![iface::tests::iface("lo", 1, 5000, 5000)]);
        ns.listeners = Some(vec![]);
        ns.tcp = Some(vec![TcpSock {
            cookie: 1,
            lport: 45000,
            rport: 9999,
            raddr: "127.0.0.1".into(),
            inode: 31,
            bytes_acked: 3000,
            bytes_received: 0,
        }]);
        let key = |tgid, name: &[u8]| Key {
            tgid,
            netns: 7,
            start_ns: 10_000_000,
            comm: Key::comm_of(name),
        };
        let (client, quiet) = (key(31, b"client"), key(32, b"quiet"));
        let val = |tx| Value {
            bytes: [0, tx, 0, 0, 0, 0],
            cgroup: 0,
            uid: 0,
        };
        let conn = |process, proto: usize, lport, rport, last: u8, bytes| {
            let mut raddr = [0u8; 16];
            raddr[..4].copy_from_slice(&[10, 0, 0, last]);
            (
                ConnKey {
                    process,
                    cut: 3,
                    lport,
                    rport,
                    raddr,
                    proto: proto as u8,
                    family: 4,
                },
                bytes,
            )
        };
        let reading = Reading {
            generation: 5,
            entries: vec![(client, val(3000)), (quiet, val(70))],
            conns: Some(Conns {
                cut: 4,
                entries: vec![
                    conn(client, CLASS_TCP, 45000, 443, 1, (0, 2000)),
                    conn(client, CLASS_UDP, 45001, 53, 2, (0, 1000)),
                    conn(quiet, CLASS_UDP, 45002, 53, 2, (0, 70)),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = sample(vec![ns], Some(reading));
        // "quiet" moved its 70 bytes before the last reading, after its cut
        let mut base = base_after(
            41,
            ebpf::Base {
                entries: vec![(quiet, [0, 70, 0, 0, 0, 0])],
                ..Default::default()
            },
        );
        base.namespaces.insert(
            (7, b"root".to_vec()),
            NsBaseline {
                proto: None,
                sockets: Some(HashMap::new()),
                listeners: Vec::new(),
            },
        );
        let mut w = Warnings::default();
        let p = prepare(&base, &s, &mut w);
        let wanted = p.wanted();
        let mut asked: Vec<Key> = wanted.ebpf.iter().map(|e| e.0).collect();
        asked.sort();
        assert_eq!(
            asked,
            vec![client, quiet],
            "quiet: named for its connection"
        );
        let r = Resolved {
            ebpf: HashMap::from([(client, owner(31)), (quiet, owner(32))]),
            ..Default::default()
        };
        let iv = p.finish(r);
        assert!(iv.ebpf.as_ref().unwrap().conns);
        let mut by_port: BTreeMap<(String, i64), (u64, u64)> = BTreeMap::new();
        for ((_, proto, port, _), b) in &iv.bytes.ports {
            let e = by_port.entry((proto.clone(), *port)).or_default();
            e.0 += b.0;
            e.1 += b.1;
        }
        assert_eq!(
            by_port,
            BTreeMap::from([
                (("tcp".to_string(), 443), (0, 2000)),
                (("udp".to_string(), 53), (0, 1070)),
            ]),
            "the kernel's, not the sampled socket's tcp/9999"
        );
        let hosts: BTreeMap<&str, (u64, u64)> = iv
            .bytes
            .hosts
            .iter()
            .map(|((_, a), b)| (a.as_str(), *b))
            .fold(BTreeMap::new(), |mut m, (a, b)| {
                let e: &mut (u64, u64) = m.entry(a).or_default();
                e.1 += b.1;
                m
            });
        assert_eq!(hosts["10.0.0.1"], (0, 2000));
        assert_eq!(hosts["10.0.0.2"], (0, 1070));
        // without the cut (another database's state, an old layout) the sockets give them
        let mut s2 = s.clone();
        s2.ebpf.as_mut().unwrap().conns = None;
        let p = prepare(&base, &s2, &mut w);
        let iv = p.finish(Resolved {
            sockets: HashMap::from([(31, owner(31))]),
            ebpf: HashMap::from([(client, owner(31))]),
            ..Default::default()
        });
        assert!(!iv.ebpf.as_ref().unwrap().conns);
        assert!(iv.bytes.ports.keys().any(|(_, _, port, _)| *port == 9999));
    }
}
