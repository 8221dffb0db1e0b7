//! Idle namespaces carried forward (ARCHITECTURE.md §4, "Idle namespaces").
//!
//! A namespace whose interfaces moved no packet since the previous sample had no IP, TCP or
//! UDP traffic either: its protocol counters, sockets and listeners are the previous
//! sample's. Reading them again costs the kernel ~200 µs of text per namespace; carrying them
//! costs nothing, and stores the same numbers a read would have found — where nothing moves a
//! counter without a packet. What the kernel can move without one, and how each is handled:
//!
//! - timers acting on existing state: TIME_WAIT expiry (`TcpExt:TW`, sockstat `tw`), the
//!   FIN_WAIT2 and orphan timeouts, fragment reassembly timeouts (`Ip:ReasmTimeout`, sockstat
//!   `FRAG`), a connection aborted after its last retransmission: a namespace is carried only
//!   when its last read showed none of that state ([`quiet`]);
//! - processes acting without a packet: a socket opened, bound or closed (sockstat, the
//!   listeners), a send refused before any device (`Ip:OutNoRoutes`, a netfilter drop), a
//!   sysctl written (`Ip:Forwarding`, `Ip:DefaultTTL`): a namespace with processes in it is
//!   read in full at least every [`REREAD_MS`]; one without processes and without sockets
//!   other than listeners is carried while its interfaces stay idle (a process passing
//!   through it between two samples, `ip netns exec … sysctl`, shows at its next read);
//! - host-wide values every namespace's sockstat repeats (the kernel keeps one count for all:
//!   [`HOST_WIDE`]): taken from the initial namespace's read of the same sample.

use super::NsBaseline;
#[cfg(test)]
use crate::sample::Key;
use crate::sample::{
    Carried, Counters, IfaceCounters, IfaceSample, LinkInfo, Listener, NsSample, Protocol, TcpSock,
};

/// How much of a namespace's state acts without a packet, as its last full read showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quiet {
    /// Timers may move its counters (TIME_WAIT, closing or half-open connections, fragment
    /// queues), or its readings are unknown: read it every sample.
    No = 0,
    /// Established connections or bound sockets: carried within [`REREAD_MS`] of its read.
    Sockets = 1,
    /// No socket but listening TCP ones: carried while its interfaces stay idle, when no
    /// process is in it.
    Listeners = 2,
}

impl Quiet {
    /// As stored (`proto_last.quiet`); anything else is [`Quiet::No`].
    pub fn from_stored(v: i64) -> Quiet {
        match v {
            2 => Quiet::Listeners,
            1 => Quiet::Sockets,
            _ => Quiet::No,
        }
    }
}

/// A namespace with processes in it is read in full at least this often.
pub const REREAD_MS: i64 = 5 * 60 * 1000;

/// The sockstat values that are the host's, not the namespace's (`tcp_orphan_count_sum`,
/// `tcp_sockets_allocated`, the protocols' `memory_allocated`): every namespace shows the
/// same.
pub const HOST_WIDE: [&str; 4] = [
    "sockstat:TCP:orphan",
    "sockstat:TCP:alloc",
    "sockstat:TCP:mem",
    "sockstat:UDP:mem",
];

/// TCP states whose sockets have timers that act without a packet of the interval
/// (everything but ESTABLISHED, LISTEN and CLOSE), as `diag:tcpN:STATE` names them.
const TIMED_STATES: [&str; 8] = [
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "CLOSING",
];

/// What a counter's name tells of carrying its namespace ([`quiet`]): decided once per
/// distinct name (kept with it by `counter::Key`), not per counter and sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Nothing.
    Other,
    /// State a timer acts on (TIME_WAIT, fragment queues, a closing TCP state).
    Timed,
    /// A TCP state with timers that a listeners-only dump leaves unknown (SYN_RECV): not
    /// counted among the states a read must have seen.
    TimedUnseen,
    /// Sockets besides listeners.
    Sockets,
}

impl State {
    pub fn of(name: &str) -> State {
        match name {
            "sockstat:TCP:tw" | "sockstat:FRAG:inuse" | "sockstat6:FRAG6:inuse" => State::Timed,
            "sockstat:UDP:inuse"
            | "sockstat:UDPLITE:inuse"
            | "sockstat:RAW:inuse"
            | "sockstat6:UDP6:inuse"
            | "sockstat6:UDPLITE6:inuse"
            | "sockstat6:RAW6:inuse"
            | "diag:tcp4:ESTABLISHED"
            | "diag:tcp6:ESTABLISHED" => State::Sockets,
            _ => {
                let Some(state) = name
                    .strip_prefix("diag:tcp4:")
                    .or_else(|| name.strip_prefix("diag:tcp6:"))
                else {
                    return State::Other;
                };
                match state {
                    // SYN_RECV is left unknown where only listeners are hashed
                    // (`socket_summary`): request sockets are made by a SYN and announce
                    // themselves with SYN-ACK retransmissions
                    "SYN_RECV" => State::TimedUnseen,
                    s if TIMED_STATES.contains(&s) => State::Timed,
                    _ => State::Other,
                }
            }
        }
    }
}

/// What a full read of a namespace's counters says of carrying it next time (one pass over
/// them: it runs for every namespace of every sample).
pub fn quiet(c: Protocol<'_>) -> Quiet {
    // (seen, non-zero) of the state with timers, and of the sockets besides listeners
    let (mut timed_seen, mut timed) = (0usize, false);
    let (mut sockets_seen, mut sockets) = (0usize, false);
    for (k, v) in c.iter() {
        match k.state() {
            State::Timed => {
                timed_seen += 1;
                timed |= v != 0;
            }
            State::TimedUnseen => timed |= v != 0,
            State::Sockets => {
                sockets_seen += 1;
                sockets |= v != 0;
            }
            State::Other => {}
        }
    }
    // what a read did not see (a captured tree, a dump that failed) is not known to be 0
    let timed_all = 3 + 2 * (TIMED_STATES.len() - 1);
    if timed || timed_seen < timed_all {
        return Quiet::No;
    }
    if sockets || sockets_seen < 8 {
        Quiet::Sockets
    } else {
        Quiet::Listeners
    }
}

/// One interface as the previous sample stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorIface {
    pub name: Vec<u8>,
    pub ifindex: u32,
    pub counters: [u64; 16],
    pub speed_mbps: Option<u32>,
    pub duplex: Option<u8>,
}

/// What the previous sample left of one namespace for deciding whether to carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prior {
    /// Its name then (a carried namespace keeps it: its processes, if any, named it).
    pub name: Vec<u8>,
    /// Its cookie then: a namespace is the prior's only with the same one (an inode is
    /// reused once its namespace is gone; a cookie is not, within a boot).
    pub cookie: Option<u64>,
    pub ifaces: Vec<PriorIface>,
    pub quiet: Quiet,
    /// When its counters were last read from the kernel (wall clock, ms).
    pub read_ms: i64,
}

impl Prior {
    /// A namespace never carried (its readings unknown); interfaces added as found.
    pub fn never() -> Prior {
        Prior {
            name: Vec::new(),
            cookie: None,
            ifaces: Vec::new(),
            quiet: Quiet::No,
            read_ms: 0,
        }
    }

    /// Whether the namespace may be carried at `now_ms` instead of read (decided before its
    /// interfaces are: [`Prior::unchanged`] decides the rest).
    pub fn may_carry(&self, now_ms: i64, has_processes: bool) -> bool {
        let recent = (0..REREAD_MS).contains(&now_ms.saturating_sub(self.read_ms));
        match self.quiet {
            Quiet::No => false,
            Quiet::Listeners if !has_processes => true,
            _ => recent,
        }
    }

    /// Whether the namespace with `cookie` is this prior's (the same namespace, not another
    /// one that reused its inode): both cookies known and equal.
    pub fn same(&self, cookie: Option<u64>) -> bool {
        cookie.is_some() && cookie == self.cookie
    }

    /// Whether the namespace with `cookie` is the prior's and `links` (every interface just
    /// read, with its index) are its, every counter equal: then no packet moved.
    /// Links given by index and counters alone (an RTM_GETSTATS dump) named as this prior
    /// named them: the names a socket watching the namespace's link changes saw none of
    /// since. None where an index is not the prior's.
    pub fn named(&self, stats: Vec<(u32, [u64; 16])>) -> Option<Vec<(IfaceCounters, u32)>> {
        stats
            .into_iter()
            .map(|(ix, counters)| {
                let name = self.ifaces.iter().find(|i| i.ifindex == ix)?.name.clone();
                Some((IfaceCounters { name, counters }, ix))
            })
            .collect()
    }

    pub fn unchanged(&self, cookie: Option<u64>, links: &[(IfaceCounters, u32)]) -> bool {
        self.same(cookie) && self.matches(links, |p, c| p.counters == c.counters)
    }

    /// Whether `links` are this prior's interfaces by name and index, their counters aside.
    pub fn same_names(&self, links: &[(IfaceCounters, u32)]) -> bool {
        self.matches(links, |_, _| true)
    }

    /// Whether `links` are this prior's interfaces, one for one by name and index, each as
    /// `also` asks.
    fn matches(
        &self,
        links: &[(IfaceCounters, u32)],
        also: impl Fn(&PriorIface, &IfaceCounters) -> bool,
    ) -> bool {
        links.len() == self.ifaces.len()
            && links.iter().all(|(c, ix)| {
                self.ifaces
                    .iter()
                    .any(|p| p.ifindex == *ix && p.name == c.name && also(p, c))
            })
    }

    /// The interfaces of a carried namespace: the readings, the link facts as stored.
    pub fn ifaces(&self, links: Vec<(IfaceCounters, u32)>) -> Vec<IfaceSample> {
        links
            .into_iter()
            .map(|(counters, ix)| {
                let p = self.ifaces.iter().find(|p| p.ifindex == ix);
                IfaceSample {
                    counters,
                    link: LinkInfo {
                        ifindex: Some(ix),
                        speed_mbps: p.and_then(|p| p.speed_mbps),
                        duplex: p.and_then(|p| p.duplex),
                        // only a bound on deltas, which are 0 here
                        is_virtual: true,
                    },
                }
            })
            .collect()
    }
}

/// The [`HOST_WIDE`] values of a namespace's read (the initial namespace's, for [`fill`]):
/// found once per sample, not once per carried namespace.
pub fn host_wide(root: &Counters) -> Counters {
    root.iter()
        .filter(|(k, _)| k.is_host_wide())
        .cloned()
        .collect()
}

/// Fills a carried namespace (`ns.idle`) with what the previous sample stored of it: its
/// protocol counters (the host-wide ones from `host`, [`host_wide`] of the initial
/// namespace's read of this sample), TCP sockets and listeners. False when the baseline
/// lacks its counters (then it must be read).
pub fn fill(ns: &mut NsSample, base: &mut NsBaseline, host: Option<&Counters>) -> bool {
    let Some(proto) = &mut base.proto else {
        return false;
    };
    if proto
        .names
        .as_ref()
        .is_none_or(|n| n.len() != proto.readings.len())
    {
        return false;
    }
    // the names move to the sample (shared, not copied) and so do the readings: the
    // derivation counts a carried namespace without them (`proto::count_carried`)
    let names = proto.names.take().unwrap_or_else(|| [].into());
    let mut values = std::mem::take(&mut proto.readings);
    // (held as read, but for the host's values: their positions found by each name's kept
    // flag, and only those varints written anew)
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        let at: Vec<(usize, u64)> = names
            .iter()
            .enumerate()
            .filter(|(_, k)| k.is_host_wide())
            .filter_map(|(i, k)| Some((i, host.iter().find(|(h, _)| h == k)?.1)))
            .collect();
        if !at.is_empty() {
            values = values.replaced(&at);
        }
    }
    ns.carried = Some(Carried { names, values });
    ns.tcp = base.sockets.as_ref().map(|b| {
        let mut v: Vec<TcpSock> = b
            .iter()
            .map(|(cookie, (acked, received, _))| TcpSock {
                cookie: *cookie,
                lport: 0,
                rport: 0,
                raddr: String::new(),
                inode: 0,
                bytes_acked: *acked,
                bytes_received: *received,
            })
            .collect();
        v.sort_unstable_by_key(|s| s.cookie);
        v
    });
    ns.listeners = Some(
        base.listeners
            .iter()
            .filter_map(|(_, (proto, family, addr, port, inode))| {
                Some(Listener {
                    proto: match proto.as_str() {
                        "tcp" => "tcp",
                        "udp" => "udp",
                        _ => return None,
                    },
                    family: u8::try_from(*family).ok()?,
                    addr: addr.clone(),
                    port: u16::try_from(*port).ok()?,
                    inode: u32::try_from(*inode).ok()?,
                    uid: 0,
                })
            })
            .collect(),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(pairs: &[(&str, u64)]) -> Counters {
        let mut c: Counters = ["tcp4", "tcp6"]
            .iter()
            .flat_map(|f| {
                TIMED_STATES
                    .iter()
                    .chain(&["ESTABLISHED", "LISTEN"])
                    .map(move |s| (format!("diag:{f}:{s}").into(), 0))
            })
            .collect();
        for k in [
            "sockstat:TCP:tw",
            "sockstat:FRAG:inuse",
            "sockstat6:FRAG6:inuse",
            "sockstat:UDP:inuse",
            "sockstat:UDPLITE:inuse",
            "sockstat:RAW:inuse",
            "sockstat6:UDP6:inuse",
            "sockstat6:UDPLITE6:inuse",
            "sockstat6:RAW6:inuse",
        ] {
            c.push((k.into(), 0));
        }
        for (k, v) in pairs {
            c.iter_mut().find(|(n, _)| n == k).unwrap().1 = *v;
        }
        c
    }

    #[test]
    fn only_state_without_timers_is_quiet() {
        assert_eq!(quiet(Protocol::Read(&counters(&[]))), Quiet::Listeners);
        assert_eq!(
            quiet(Protocol::Read(&counters(&[("diag:tcp6:LISTEN", 3)]))),
            Quiet::Listeners
        );
        assert_eq!(
            quiet(Protocol::Read(&counters(&[("diag:tcp4:ESTABLISHED", 2)]))),
            Quiet::Sockets
        );
        assert_eq!(
            quiet(Protocol::Read(&counters(&[("sockstat6:UDP6:inuse", 1)]))),
            Quiet::Sockets
        );
        for timed in [
            "sockstat:TCP:tw",
            "sockstat:FRAG:inuse",
            "sockstat6:FRAG6:inuse",
            "diag:tcp4:FIN_WAIT2",
            "diag:tcp6:TIME_WAIT",
            "diag:tcp4:SYN_RECV",
        ] {
            assert_eq!(
                quiet(Protocol::Read(&counters(&[(timed, 1)]))),
                Quiet::No,
                "{timed}"
            );
        }
        // what a read did not see is not known to be idle (but for SYN_RECV, left unknown
        // beside listeners)
        let mut no_syn_recv = counters(&[("diag:tcp4:LISTEN", 1)]);
        no_syn_recv.retain(|(k, _)| !k.ends_with("SYN_RECV"));
        assert_eq!(quiet(Protocol::Read(&no_syn_recv)), Quiet::Listeners);
        let mut partial = counters(&[]);
        partial.retain(|(k, _)| k != "diag:tcp6:CLOSING");
        assert_eq!(quiet(Protocol::Read(&partial)), Quiet::No);
        assert_eq!(quiet(Protocol::Read(&Vec::new())), Quiet::No);
    }

    fn prior(quiet: Quiet, read_ms: i64) -> Prior {
        Prior {
            name: b"ns:1".to_vec(),
            cookie: Some(77),
            ifaces: vec![PriorIface {
                name: b"lo".to_vec(),
                ifindex: 1,
                counters: [5; 16],
                speed_mbps: None,
                duplex: None,
            }],
            quiet,
            read_ms,
        }
    }

    #[test]
    fn processes_bound_how_long_a_namespace_is_carried() {
        let now = 10 * REREAD_MS;
        let fresh = now - 60_000;
        let stale = now - REREAD_MS;
        assert!(prior(Quiet::Listeners, stale).may_carry(now, false));
        assert!(!prior(Quiet::Listeners, stale).may_carry(now, true));
        assert!(prior(Quiet::Listeners, fresh).may_carry(now, true));
        assert!(prior(Quiet::Sockets, fresh).may_carry(now, false));
        assert!(!prior(Quiet::Sockets, stale).may_carry(now, false));
        assert!(!prior(Quiet::No, fresh).may_carry(now, false));
        // a clock that went back is no proof of recency
        assert!(!prior(Quiet::Sockets, now + 1000).may_carry(now, true));
    }

    #[test]
    fn any_moved_counter_or_changed_link_is_a_read() {
        let p = prior(Quiet::Listeners, 0);
        let lo = |c: [u64; 16], ix| {
            (
                IfaceCounters {
                    name: b"lo".to_vec(),
                    counters: c,
                },
                ix,
            )
        };
        let c = Some(77);
        assert!(p.unchanged(c, &[lo([5; 16], 1)]));
        for k in 0..16 {
            let mut n = [5; 16];
            n[k] += 1;
            assert!(!p.unchanged(c, &[lo(n, 1)]), "column {k}");
        }
        assert!(!p.unchanged(c, &[lo([5; 16], 2)]), "re-created");
        assert!(
            !p.unchanged(c, &[lo([5; 16], 1), lo([0; 16], 2)]),
            "a new link"
        );
        assert!(!p.unchanged(c, &[]), "a link gone");
        // another namespace that reused the inode, or a kernel without cookies: read
        assert!(!p.unchanged(Some(78), &[lo([5; 16], 1)]));
        assert!(!p.unchanged(None, &[lo([5; 16], 1)]));
    }

    #[test]
    fn a_carried_namespace_is_its_previous_reading_with_the_hosts_values() {
        use super::super::proto::Last;
        let mut base = NsBaseline {
            proto: Some(Last {
                names: Some(["snmp:Ip:InReceives".into(), "sockstat:TCP:mem".into()].into()),
                readings: crate::varint::Readings::from_values([42, 7]),
            }),
            sockets: Some([(9u64, (100u64, 200u64, 3i64))].into_iter().collect()),
            listeners: vec![(5, ("tcp".into(), 4, "0.0.0.0".into(), 80, 1234))],
        };
        let mut ns = NsSample::of_ifaces(Vec::new());
        // the initial namespace's own counters are not the carried namespace's
        let root: Counters = vec![
            ("snmp:Ip:InReceives".into(), 1000),
            ("sockstat:TCP:mem".into(), 99),
        ];
        assert!(fill(&mut ns, &mut base, Some(&host_wide(&root))));
        assert_eq!(base.proto.as_ref().unwrap().names, None, "now the sample's");
        assert!(ns.counters.is_empty(), "held as names and values");
        assert_eq!(
            ns.protocol().to_counters(),
            vec![
                (Key::new("snmp:Ip:InReceives"), 42),
                (Key::new("sockstat:TCP:mem"), 99)
            ]
        );
        let tcp = ns.tcp.unwrap();
        assert_eq!(
            (tcp[0].cookie, tcp[0].bytes_acked, tcp[0].bytes_received),
            (9, 100, 200)
        );
        let l = &ns.listeners.unwrap()[0];
        assert_eq!((l.proto, l.family, l.port, l.inode), ("tcp", 4, 80, 1234));
        // no stored counters: not carried
        let mut ns = NsSample::of_ifaces(Vec::new());
        assert!(!fill(&mut ns, &mut NsBaseline::default(), None));
    }
}
