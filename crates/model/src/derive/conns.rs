//! The connection map's finished cuts → bytes per process, service port and remote host
//! (ARCHITECTURE.md §3). Each entry is what one process moved on one connection since the
//! previous cut: the interval's bytes as they are, no baseline. Where the interval's process
//! bytes come from eBPF and the cut was read, its ports and hosts are these — every TCP and
//! UDP connection however short, connected or not — and sock_diag's sampled ones are not
//! used (one source per interval: nothing is counted twice).

use super::bytes::ProcBytes;
use crate::ebpf::{Conns, Key};
use crate::scope::{self, Family, Networks, Scope};
use foldhash::{HashMap, HashMapExt, HashSet};
use std::collections::BTreeMap;

/// A traffic class: the peer's address family and scope.
type Class = (Family, Scope);

/// A port's bytes of one process, protocol and peers' class (None: a peer not known).
type PortKey<P> = (P, &'static str, u16, Option<Class>);

/// Per namespace inode, the (protocol, port) pairs it listens on (or is bound to, UDP).
pub type Listening<'a> = HashMap<u64, HashSet<(&'a str, u16)>>;

/// [`Listening`] of a sample's namespaces.
pub fn listening(namespaces: &[crate::sample::NsSample]) -> Listening<'_> {
    namespaces
        .iter()
        .map(|ns| {
            let l = ns.listeners.iter().flatten();
            (ns.inode, l.map(|l| (l.proto, l.port)).collect())
        })
        .collect()
}

/// The first port of Linux's default ephemeral range (`ip_local_port_range`, 32768–60999):
/// a port below it on one side and not on the other tells which side serves.
const EPHEMERAL: u16 = 32768;

/// A connection's service port: the local port where the namespace listens on it (TCP) or
/// is bound to it (UDP), else the side outside the ephemeral range when only one is (a server
/// whose listener closed before the sample, a UDP server), else the remote port (a client's
/// connection to a service).
/// A peer that is not known (port 0) leaves the local port.
pub fn service_port(lport: u16, rport: u16, local_listens: bool) -> u16 {
    if local_listens || rport == 0 || (lport < EPHEMERAL && rport >= EPHEMERAL) {
        lport
    } else {
        rport
    }
}

/// Adds a cut's bytes to `bytes`: per process (`proc` names it, None: not one this interval
/// knows — its bytes stay unattributed), protocol and service port, and per process and
/// remote address (each process's busiest hosts by name, the rest as one row, as sampled
/// hosts are). `listening`: per namespace inode, the (protocol, port) pairs it listens on.
pub fn credit<P: Ord + Copy + std::hash::Hash>(
    conns: &Conns,
    listening: &Listening<'_>,
    mut proc: impl FnMut(&Key) -> Option<P>,
    bytes: &mut ProcBytes<P>,
) {
    // summed per port and per host first: thousands of connections share a few of each, and
    // the rows' names are made once per row, not per connection
    // (a port's class is its peers', by the built-in ranges; None: a peer not known)
    let mut ports: HashMap<PortKey<P>, (u64, u64)> = HashMap::new();
    let builtin = Networks::default();
    let mut peers: HashMap<(P, std::net::IpAddr), (u64, u64)> = HashMap::new();
    let mut who: HashMap<Key, Option<P>> = HashMap::new();
    let add = |e: &mut (u64, u64), rx: u64, tx: u64| {
        e.0 = e.0.saturating_add(rx);
        e.1 = e.1.saturating_add(tx);
    };
    for (c, (rx, tx)) in &conns.entries {
        let Some(proto) = c.proto_name() else {
            continue; // never written by the program: not a connection of ours
        };
        // family 0: a datagram whose peer the kernel did not tell (its bytes keep their port)
        let remote = c.remote();
        if remote.is_none() && c.family != 0 {
            continue;
        }
        if rx.saturating_add(*tx) == 0 {
            continue;
        }
        // (a process named once: thousands of its connections would each clone its owner)
        let Some(p) = *who.entry(c.process).or_insert_with(|| proc(&c.process)) else {
            continue;
        };
        let listens = listens(listening, c.process.netns, proto, c.lport);
        let port = service_port(c.lport, c.rport, listens);
        let class = remote.map(|a| scope::class(a, &builtin));
        add(ports.entry((p, proto, port, class)).or_default(), *rx, *tx);
        if let Some(remote) = remote {
            add(peers.entry((p, remote)).or_default(), *rx, *tx);
        }
    }
    for ((p, proto, port, class), (rx, tx)) in ports {
        let class = class.map(scope::rest_of).unwrap_or_default();
        bytes.add_port(p, proto, i64::from(port), &class, rx, tx);
    }
    let hosts: BTreeMap<(P, String), (u64, u64)> = peers
        .into_iter()
        .map(|((p, a), b)| ((p, a.to_string()), b))
        .collect();
    bytes.add_top_hosts(hosts);
}

/// Whether namespace `netns` listens on (`proto`, `port`).
pub fn listens(listening: &Listening<'_>, netns: u32, proto: &str, port: u16) -> bool {
    listening
        .get(&u64::from(netns))
        .is_some_and(|l| l.contains(&(proto, port)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::{CLASS_TCP, CLASS_UDP, ConnKey};

    fn conn(tgid: u32, proto: usize, lport: u16, rport: u16, addr: [u8; 4]) -> ConnKey {
        let mut raddr = [0u8; 16];
        raddr[..4].copy_from_slice(&addr);
        ConnKey {
            process: Key {
                tgid,
                netns: 7,
                start_ns: 1,
                comm: Key::comm_of(b"p"),
            },
            cut: 1,
            lport,
            rport,
            raddr,
            proto: proto as u8,
            family: 4,
        }
    }

    #[test]
    fn service_ports_are_the_listeners_else_the_non_ephemeral_side() {
        assert_eq!(service_port(8080, 50000, true), 8080);
        assert_eq!(
            service_port(8080, 50000, false),
            8080,
            "a closed listener's"
        );
        assert_eq!(service_port(50000, 443, false), 443, "a client's");
        assert_eq!(
            service_port(40000, 45000, false),
            45000,
            "both ephemeral: the remote"
        );
        assert_eq!(
            service_port(45000, 40000, true),
            45000,
            "a listener in the range"
        );
        assert_eq!(service_port(53, 53, false), 53);
        assert_eq!(service_port(40000, 0, false), 40000, "no peer known");
    }

    #[test]
    fn every_connection_is_credited_to_its_process_port_and_host() {
        let conns = Conns {
            cut: 2,
            entries: vec![
                (conn(1, CLASS_TCP, 50000, 443, [1, 1, 1, 1]), (100, 10)),
                (conn(1, CLASS_TCP, 50001, 443, [1, 1, 1, 1]), (200, 20)),
                (conn(1, CLASS_UDP, 40000, 53, [10, 0, 0, 1]), (5, 6)),
                (conn(2, CLASS_TCP, 45000, 46000, [10, 0, 0, 2]), (7, 8)),
                (conn(3, CLASS_TCP, 1, 2, [10, 0, 0, 3]), (9, 9)),
                (conn(1, CLASS_TCP, 50002, 443, [1, 1, 1, 1]), (0, 0)),
                (
                    ConnKey {
                        family: 0,
                        ..conn(1, CLASS_UDP, 5353, 0, [0; 4])
                    },
                    (1, 1),
                ),
                (
                    ConnKey {
                        family: 5,
                        ..conn(1, CLASS_TCP, 1, 2, [0; 4])
                    },
                    (1, 1),
                ),
                (
                    ConnKey {
                        proto: 9,
                        ..conn(1, CLASS_TCP, 1, 2, [0; 4])
                    },
                    (1, 1),
                ),
            ],
            ..Conns::default()
        };
        let listening: Listening = [(7u64, [("tcp", 45000u16)].into_iter().collect())]
            .into_iter()
            .collect();
        let mut b: ProcBytes<u32> = ProcBytes::default();
        // process 3 is not one the interval knows: its bytes are nobody's here
        credit(
            &conns,
            &listening,
            |k| (k.tgid != 3).then_some(k.tgid),
            &mut b,
        );
        // each port with its peers' class (the built-in ranges): 1.1.1.1 is the internet
        let port = |p: u32, proto: &str, port: i64, class: &str| {
            b.ports[&(p, proto.to_string(), port, class.to_string())]
        };
        assert_eq!(port(1, "tcp", 443, "*internet/ipv4"), (300, 30));
        assert_eq!(port(1, "udp", 53, "*lan/ipv4"), (5, 6));
        assert_eq!(port(2, "tcp", 45000, "*lan/ipv4"), (7, 8), "its listener");
        assert_eq!(port(1, "udp", 5353, ""), (1, 1), "a peer not known");
        assert_eq!(b.ports.len(), 4, "{:?}", b.ports);
        assert_eq!(b.hosts[&(1, "1.1.1.1".to_string())], (300, 30));
        assert_eq!(b.hosts[&(1, "10.0.0.1".to_string())], (5, 6));
        assert_eq!(b.hosts.len(), 3, "{:?}", b.hosts);
        assert!(b.procs.is_empty(), "process totals are the byte map's");
    }
}
