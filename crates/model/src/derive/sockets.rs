//! A namespace's TCP sockets against its baseline → bytes per owner, service port and remote
//! host, and the next baseline (ARCHITECTURE.md §3, "Per-process accounting").
//!
//! The baseline is the predecessor's complete dump: per cookie the cumulative tcp_info
//! counters and the owner's process row. A socket's interval bytes are its growth since then;
//! a socket absent from the complete baseline was created since, so all its bytes count. With
//! no usable baseline only the next baseline is taken: nothing counted twice, nothing
//! invented. Owners are named by identity ([`Who`]) here; the store turns them into process
//! rows when it persists the tally.

use crate::sample::{NsSample, Seen, TcpSock};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

/// cookie → (bytes_acked, bytes_received, process row id or 0).
pub type Baseline = HashMap<u64, (u64, u64, i64)>;

/// Whose bytes they are, before process rows exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Who {
    /// A process row already known: the owner the baseline recorded for the socket.
    Row(i64),
    /// The owner this sample's /proc scan found for the socket's inode.
    Inode(u32),
    /// A connection accepted from the namespace's listener on this port: the owner of its
    /// inode, else (it closed before the scan found it, on a busy host) the listener's.
    Accepted(u32, u16),
    /// The owner of the namespace's TCP listener on this port: a connection accepted from it
    /// that closed before any dump saw its owner.
    Listener(u16),
}

/// Received and sent bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Bytes {
    pub rx: u64,
    pub tx: u64,
}

impl Bytes {
    pub fn add(&mut self, rx: u64, tx: u64) {
        self.rx += rx;
        self.tx += tx;
    }
}

/// One namespace's TCP bytes of an interval.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Every socket's bytes, and those without a known owner.
    pub all: Bytes,
    pub unowned: Bytes,
    pub per_owner: BTreeMap<Who, Bytes>,
    /// Per owner, service port (the local port of accepted connections, else the remote) and
    /// the peers' traffic class (`scope::class_marker`).
    pub per_port: BTreeMap<(Who, u16, String), Bytes>,
    pub per_host: BTreeMap<Who, BTreeMap<String, Bytes>>,
}

impl Tally {
    fn credit(&mut self, who: Option<Who>, s: &TcpSock, rx: u64, tx: u64, listen: &HashSet<u16>) {
        self.all.add(rx, tx);
        let Some(who) = who else {
            self.unowned.add(rx, tx);
            return;
        };
        self.per_owner.entry(who).or_default().add(rx, tx);
        let class = crate::scope::class_marker(&s.raddr);
        self.per_port
            .entry((who, service_port(s, listen), class))
            .or_default()
            .add(rx, tx);
        self.per_host
            .entry(who)
            .or_default()
            .entry(s.raddr.clone())
            .or_default()
            .add(rx, tx);
    }
}

/// What a namespace's dump gives: the next baseline always, the interval's bytes when there
/// was a baseline to count against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accounted {
    /// (cookie, bytes_acked, bytes_received, owner) of every dumped socket, by cookie.
    pub next: Vec<(u64, u64, u64, Option<Who>)>,
    pub tally: Option<Tally>,
}

/// The local port for connections accepted from one of our listeners, else the remote port.
pub fn service_port(s: &TcpSock, listen_ports: &HashSet<u16>) -> u16 {
    if listen_ports.contains(&s.lport) {
        s.lport
    } else {
        s.rport
    }
}

/// Accounts one namespace's TCP dump (`ns.tcp`) and the sockets closed since the last drain
/// (`ns.closed`, daemon mode) against `base`: the predecessor's baseline, `Some(empty)` when
/// every socket is new (first sample after a reboot), None when only a baseline can be taken.
/// A socket a process holds is named by its inode ([`Who::Inode`]) until the owner scan says
/// whose it is. None when the dump failed.
pub(crate) fn account_tcp(ns: &NsSample, base: Option<&Baseline>) -> Option<Accounted> {
    let socks = ns.tcp.as_ref()?;
    let listen_ports: HashSet<u16> = ns
        .listeners
        .iter()
        .flatten()
        .filter(|l| l.proto == "tcp")
        .map(|l| l.port)
        .collect();
    let mut t = Tally::default();
    let mut next = Vec::with_capacity(socks.len());
    for s in socks {
        let prior = base.and_then(|b| b.get(&s.cookie));
        let owner = match prior {
            // a socket keeps the owner first seen (orphans and TIME_WAIT lose their inode)
            Some((_, _, p)) if *p != 0 => Some(Who::Row(*p)),
            _ if s.inode != 0 && listen_ports.contains(&s.lport) => {
                Some(Who::Accepted(s.inode, s.lport))
            }
            _ if s.inode != 0 => Some(Who::Inode(s.inode)),
            // a connection in a listener's accept queue has no file yet: its bytes are the
            // listener's process's (under churn, a busy server's queue held 12 % of its bytes
            // as "sockets without a process")
            _ if listen_ports.contains(&s.lport) => Some(Who::Listener(s.lport)),
            _ => None,
        };
        next.push((s.cookie, s.bytes_acked, s.bytes_received, owner));
        if base.is_none() {
            continue;
        }
        let (d_tx, d_rx) = match prior {
            // tcp_info counters only grow during a socket's life; cookies are never reused
            Some((acked, received, _)) => (
                s.bytes_acked.saturating_sub(*acked),
                s.bytes_received.saturating_sub(*received),
            ),
            // not in the previous complete dump: created since, every byte is new
            None => (s.bytes_acked, s.bytes_received),
        };
        if d_tx != 0 || d_rx != 0 {
            t.credit(owner, s, d_rx, d_tx, &listen_ports);
        }
    }
    // Sockets freed since the last drain: counted from the counters this dump saw (closed
    // after it), else from the baseline (closed before it), else from zero (opened and closed
    // between two samples). Owner: the one known for the cookie, else the owner of the
    // listener it was accepted from.
    if let (Some(closed), Some(base)) = (&ns.closed, base) {
        let current: HashMap<u64, (u64, u64, Option<Who>)> =
            next.iter().map(|(c, a, r, w)| (*c, (*a, *r, *w))).collect();
        for s in closed {
            let (acked, received, known) = current
                .get(&s.cookie)
                .copied()
                .or_else(|| {
                    base.get(&s.cookie)
                        .map(|(a, r, p)| (*a, *r, (*p != 0).then_some(Who::Row(*p))))
                })
                .unwrap_or((0, 0, None));
            let (d_tx, d_rx) = (
                s.bytes_acked.saturating_sub(acked),
                s.bytes_received.saturating_sub(received),
            );
            if d_tx == 0 && d_rx == 0 {
                continue;
            }
            let owner = known.or_else(|| {
                listen_ports
                    .contains(&s.lport)
                    .then_some(Who::Listener(s.lport))
            });
            t.credit(owner, s, d_rx, d_tx, &listen_ports);
        }
    }
    next.sort_unstable_by_key(|n| n.0);
    Some(Accounted {
        next,
        tally: base.is_some().then_some(t),
    })
}

/// An address and port.
type End = (IpAddr, u16);

/// The inode of the namespace's UDP socket bound to (addr, port): an exact match, else a
/// wildcard bind (`0.0.0.0`, or `::`, which also takes IPv4 on a dual-stack socket).
fn udp_socket(ns: &NsSample, addr: IpAddr, port: u16) -> Option<u32> {
    let socks = &ns.udp_socks;
    socks
        .iter()
        .find(|(a, p, _)| *p == port && *a == addr)
        .or_else(|| {
            socks.iter().find(|(a, p, _)| {
                *p == port && a.is_unspecified() && (a.is_ipv4() == addr.is_ipv4() || a.is_ipv6())
            })
        })
        .map(|(_, _, i)| *i)
        .filter(|i| *i != 0)
}

/// The local ends of captured UDP flows: (local, remote, rx, tx) per direction seen.
fn udp_ends(ns: &NsSample) -> Vec<(End, End, u64, u64)> {
    let mut out = Vec::new();
    for ((src, sp, dst, dp, seen), (n, _)) in ns.udp_flows.iter().flatten() {
        if matches!(seen, Seen::Out | Seen::Loop) {
            out.push(((*src, *sp), (*dst, *dp), 0, *n));
        }
        if matches!(seen, Seen::In | Seen::Loop) {
            out.push(((*dst, *dp), (*src, *sp), *n, 0));
        }
    }
    out
}

/// A captured UDP flow's bytes (pcap fallback), credited through the namespace's socket
/// table: the socket it left or reached, its service port, the remote address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UdpCredit {
    /// The local socket's inode (its owner is the process).
    pub inode: u32,
    /// UDP has no accept(): every sending socket looks bound. The service is the lower port
    /// (53, 123, 443 against an ephemeral one).
    pub port: u16,
    pub remote: String,
    pub rx: u64,
    pub tx: u64,
}

/// The namespace's captured UDP flows by local socket. Datagrams of sockets gone by the
/// sample (a process that sent and exited) have no socket and stay unattributed.
pub(crate) fn account_udp(ns: &NsSample) -> Vec<UdpCredit> {
    udp_ends(ns)
        .into_iter()
        .filter_map(|(local, remote, rx, tx)| {
            Some(UdpCredit {
                inode: udp_socket(ns, local.0, local.1)?,
                port: local.1.min(remote.1),
                remote: remote.0.to_string(),
                rx,
                tx,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::iface::tests::ns;
    use crate::sample::Listener;

    fn sock(cookie: u64, lport: u16, rport: u16, inode: u32, acked: u64, received: u64) -> TcpSock {
        TcpSock {
            cookie,
            lport,
            rport,
            raddr: format!("10.0.0.{}", cookie % 250),
            inode,
            bytes_acked: acked,
            bytes_received: received,
        }
    }

    fn with(tcp: Vec<TcpSock>, closed: Option<Vec<TcpSock>>, listen: &[u16]) -> NsSample {
        let mut n = ns(1, "root", Vec::new());
        n.tcp = Some(tcp);
        n.closed = closed;
        n.listeners = Some(
            listen
                .iter()
                .map(|p| Listener {
                    proto: "tcp",
                    family: 4,
                    addr: "0.0.0.0".into(),
                    port: *p,
                    inode: 900 + u32::from(*p),
                    uid: 0,
                })
                .collect(),
        );
        n
    }

    #[test]
    fn without_a_baseline_only_the_next_baseline_is_taken() {
        let n = with(
            vec![sock(2, 40000, 443, 11, 500, 900), sock(1, 1, 2, 0, 5, 5)],
            None,
            &[],
        );
        let a = account_tcp(&n, None).unwrap();
        assert_eq!(a.tally, None, "nothing counted without a baseline");
        assert_eq!(
            a.next,
            vec![(1, 5, 5, None), (2, 500, 900, Some(Who::Inode(11)))],
            "sorted by cookie, owners by inode"
        );
        let mut failed = n.clone();
        failed.tcp = None;
        assert_eq!(account_tcp(&failed, None), None);
    }

    #[test]
    fn growth_new_sockets_owners_and_service_ports() {
        // 1: known since the baseline (row 5), grew; its inode now belongs to someone else in
        //    the scan (the baseline's owner wins). 2: new since the baseline, accepted on our
        //    listener 8080, owner from the scan. 3: TIME_WAIT (inode 0), baseline owner 6.
        //    4: nobody's. 5: unchanged (not credited).
        let base: Baseline = HashMap::from([
            (1, (1000, 2000, 5)),
            (3, (10, 10, 6)),
            (4, (0, 0, 0)),
            (5, (7, 7, 5)),
        ]);
        let n = with(
            vec![
                sock(1, 40001, 443, 21, 1500, 2600),
                sock(2, 8080, 51000, 22, 300, 4000),
                sock(3, 40003, 22, 0, 12, 10),
                sock(4, 40004, 80, 0, 100, 0),
                sock(5, 40005, 443, 21, 7, 7),
            ],
            None,
            &[8080],
        );
        let a = account_tcp(&n, Some(&base)).unwrap();
        let t = a.tally.unwrap();
        assert_eq!(
            t.all,
            Bytes {
                rx: 600 + 4000,
                tx: 500 + 300 + 2 + 100
            }
        );
        assert_eq!(t.unowned, Bytes { rx: 0, tx: 100 });
        assert_eq!(t.per_owner[&Who::Row(5)], Bytes { rx: 600, tx: 500 });
        // accepted from the listener on 8080: its inode's owner, else the listener's
        assert_eq!(
            t.per_owner[&Who::Accepted(22, 8080)],
            Bytes { rx: 4000, tx: 300 }
        );
        assert_eq!(t.per_owner[&Who::Row(6)], Bytes { rx: 0, tx: 2 });
        assert_eq!(t.per_owner.len(), 3);
        // service ports: the listener's port for accepted sockets, else the remote port
        assert!(
            t.per_port
                .keys()
                .any(|k| (k.0, k.1) == (Who::Accepted(22, 8080), 8080))
        );
        assert!(t.per_port.keys().any(|k| (k.0, k.1) == (Who::Row(5), 443)));
        assert!(t.per_port.keys().any(|k| (k.0, k.1) == (Who::Row(6), 22)));
        assert_eq!(
            t.per_host[&Who::Row(5)]["10.0.0.1"],
            Bytes { rx: 600, tx: 500 }
        );
        // the next baseline keeps the first owner of each socket
        assert_eq!(a.next[0].3, Some(Who::Row(5)));
        assert_eq!(a.next[2].3, Some(Who::Row(6)));
    }

    #[test]
    fn closed_sockets_count_from_the_dump_the_baseline_or_zero() {
        // 1 closed after the dump saw it (1500 acked there), 2 closed before (baseline 100),
        // 3 opened and closed between samples, accepted on 8080: the listener's owner.
        // 4 the same on a port we do not listen on: unowned.
        let base: Baseline = HashMap::from([(1, (1000, 0, 5)), (2, (100, 0, 6))]);
        let n = with(
            vec![sock(1, 40001, 443, 21, 1500, 0)],
            Some(vec![
                sock(1, 40001, 443, 0, 1700, 0),
                sock(2, 40002, 443, 0, 150, 0),
                sock(3, 8080, 52000, 0, 40, 60),
                sock(4, 40004, 25, 0, 9, 0),
            ]),
            &[8080],
        );
        let a = account_tcp(&n, Some(&base)).unwrap();
        let t = a.tally.unwrap();
        assert_eq!(
            t.per_owner[&Who::Row(5)],
            Bytes {
                rx: 0,
                tx: 500 + 200
            }
        );
        assert_eq!(t.per_owner[&Who::Row(6)], Bytes { rx: 0, tx: 50 });
        assert_eq!(t.per_owner[&Who::Listener(8080)], Bytes { rx: 60, tx: 40 });
        assert_eq!(t.unowned, Bytes { rx: 0, tx: 9 });
        assert_eq!(t.all.tx, 700 + 50 + 40 + 9);
        // closed sockets do not enter the next baseline
        assert_eq!(a.next.len(), 1);
    }

    #[test]
    fn loopback_counts_each_end_once_in_its_own_direction() {
        // A loopback connection is two sockets: the client's sends are the server's receives.
        let base: Baseline = HashMap::new();
        let n = with(
            vec![
                sock(1, 45000, 8080, 31, 10_000, 0),
                sock(2, 8080, 45000, 32, 0, 10_000),
            ],
            None,
            &[8080],
        );
        let t = account_tcp(&n, Some(&base)).unwrap().tally.unwrap();
        assert_eq!(t.per_owner[&Who::Inode(31)], Bytes { rx: 0, tx: 10_000 });
        assert_eq!(
            t.per_owner[&Who::Accepted(32, 8080)],
            Bytes { rx: 10_000, tx: 0 }
        );
        assert_eq!(
            t.all,
            Bytes {
                rx: 10_000,
                tx: 10_000
            }
        );
        // both ends file the connection under the server's port
        assert!(
            t.per_port
                .keys()
                .any(|k| (k.0, k.1) == (Who::Inode(31), 8080))
        );
        assert!(
            t.per_port
                .keys()
                .any(|k| (k.0, k.1) == (Who::Accepted(32, 8080), 8080))
        );
    }
}
