//! Bytes per process, service port and remote host of one interval, keyed by whatever names
//! the process: a [`super::ProcRef`] while an interval is derived, a `process` row once the
//! store has written it (the store's `SampleBytes` is `ProcBytes<i64>`).

use std::collections::BTreeMap;

/// Where a process's bytes came from (stored as `proc_bytes`' source codes).
pub mod source {
    /// sock_diag's per-socket TCP counters.
    pub(crate) const SOCK_DIAG: i64 = 1;
    /// eBPF, per protocol class.
    pub(crate) const EBPF_TCP: i64 = 2;
    pub(crate) const EBPF_UDP: i64 = 3;
    pub(crate) const EBPF_OTHER: i64 = 4;
    /// The pcap fallback's UDP flows.
    pub(crate) const PCAP_UDP: i64 = 5;

    /// The source of a protocol class of the eBPF value.
    pub(crate) fn of_ebpf_class(class: usize) -> i64 {
        match class {
            crate::ebpf::CLASS_TCP => EBPF_TCP,
            crate::ebpf::CLASS_UDP => EBPF_UDP,
            crate::ebpf::CLASS_OTHER => EBPF_OTHER,
            _ => EBPF_OTHER,
        }
    }

    pub fn name(source: i64) -> &'static str {
        match source {
            SOCK_DIAG => "sock_diag",
            PCAP_UDP => "pcap:udp",
            EBPF_TCP => "ebpf:tcp",
            EBPF_UDP => "ebpf:udp",
            EBPF_OTHER => "ebpf:other",
            _ => "?",
        }
    }
}

/// (process, source) → (rx, tx); (process, proto, port, class) → (rx, tx); (process, remote
/// address or '*') → (rx, tx). A port's class is the traffic class of the peers its bytes
/// were with ([`crate::scope::class_marker`]: `*SCOPE/FAMILY`, by the built-in ranges; empty
/// when not known — a peer the kernel did not tell, bytes recorded before ports had one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcBytes<P: Ord> {
    pub procs: BTreeMap<(P, i64), (u64, u64)>,
    pub ports: BTreeMap<(P, String, i64, String), (u64, u64)>,
    pub hosts: BTreeMap<(P, String), (u64, u64)>,
}

impl<P: Ord> Default for ProcBytes<P> {
    fn default() -> Self {
        ProcBytes {
            procs: BTreeMap::new(),
            ports: BTreeMap::new(),
            hosts: BTreeMap::new(),
        }
    }
}

fn add(e: &mut (u64, u64), rx: u64, tx: u64) {
    e.0 = e.0.saturating_add(rx);
    e.1 = e.1.saturating_add(tx);
}

impl<P: Ord + Copy> ProcBytes<P> {
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty() && self.ports.is_empty() && self.hosts.is_empty()
    }
    pub fn add_proc(&mut self, process: P, source: i64, rx: u64, tx: u64) {
        add(self.procs.entry((process, source)).or_default(), rx, tx);
    }
    pub fn add_port(&mut self, process: P, proto: &str, port: i64, class: &str, rx: u64, tx: u64) {
        add(
            self.ports
                .entry((process, proto.to_string(), port, class.to_string()))
                .or_default(),
            rx,
            tx,
        );
    }
    pub fn add_host(&mut self, process: P, addr: &str, rx: u64, tx: u64) {
        add(
            self.hosts.entry((process, addr.to_string())).or_default(),
            rx,
            tx,
        );
    }
    /// rx, tx per process over all sources.
    pub fn per_process(&self) -> BTreeMap<P, (u64, u64)> {
        let mut out: BTreeMap<P, (u64, u64)> = BTreeMap::new();
        for ((p, _), (rx, tx)) in &self.procs {
            add(out.entry(*p).or_default(), *rx, *tx);
        }
        out
    }

    /// The same bytes under other process keys (several may become one: their bytes add).
    pub fn map<Q: Ord + Copy>(&self, mut f: impl FnMut(P) -> Q) -> ProcBytes<Q> {
        let mut out = ProcBytes::default();
        for ((p, s), (rx, tx)) in &self.procs {
            out.add_proc(f(*p), *s, *rx, *tx);
        }
        for ((p, proto, port, class), (rx, tx)) in &self.ports {
            out.add_port(f(*p), proto, *port, class, *rx, *tx);
        }
        for ((p, addr), (rx, tx)) in &self.hosts {
            out.add_host(f(*p), addr, *rx, *tx);
        }
        out
    }
}

/// A remote address and its (rx, tx).
type Host = (String, (u64, u64));

/// How many remote addresses per process and interval are kept by name; the rest is one row
/// per traffic class (`scope::rest_of`).
pub(crate) const TOP_HOSTS: usize = 8;

impl<P: Ord + Copy> ProcBytes<P> {
    /// Adds `hosts` (per process, remote address) cut to each process's [`TOP_HOSTS`] busiest
    /// by name, the rest summed per traffic class (`*lan/ipv4`, classified with the built-in
    /// networks; an address that is none, `*`): what one namespace's sockets, flows or
    /// connections store per process and interval, so a process's bytes per class stay exact.
    pub(crate) fn add_top_hosts(&mut self, hosts: BTreeMap<(P, String), (u64, u64)>) {
        let mut per: BTreeMap<P, Vec<Host>> = BTreeMap::new();
        for ((p, addr), b) in hosts {
            per.entry(p).or_default().push((addr, b));
        }
        for (p, mut v) in per {
            v.sort_unstable_by(|a, b| {
                (b.1.0.saturating_add(b.1.1))
                    .cmp(&a.1.0.saturating_add(a.1.1))
                    .then(a.0.cmp(&b.0))
            });
            let none = crate::scope::Networks::default();
            for (i, (addr, (rx, tx))) in v.into_iter().enumerate() {
                if i < TOP_HOSTS {
                    self.add_host(p, &addr, rx, tx);
                } else {
                    let rest = crate::scope::class_of_text(&addr, &none)
                        .map_or_else(|| "*".to_string(), crate::scope::rest_of);
                    self.add_host(p, &rest, rx, tx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_beyond_the_busiest_eight_are_one_row_and_keys_merge() {
        let mut b: ProcBytes<u8> = ProcBytes::default();
        for h in 0..10u64 {
            b.add_host(1, &format!("10.0.0.{h}"), h * 100, 0);
        }
        // the rest keeps each class apart: an IPv6 internet host, and one that is no address
        b.add_host(1, "2001:db8::1", 1, 0);
        b.add_host(1, "bogus", 0, 1);
        b.add_proc(1, source::EBPF_TCP, 5, 6);
        b.add_proc(2, source::EBPF_TCP, 1, 1);
        // two keys that turn out to be one process: their bytes add
        let m = b.map(|_| 7i64);
        assert_eq!(m.per_process()[&7], (6, 7));
        let mut t: ProcBytes<i64> = ProcBytes::default();
        t.add_top_hosts(m.hosts.clone());
        let m = t;
        assert_eq!(m.hosts[&(7, "*internet/ipv6".to_string())], (1, 0));
        assert_eq!(m.hosts[&(7, "*".to_string())], (0, 1));
        assert_eq!(m.hosts.len(), 11);
        assert_eq!(
            m.hosts[&(7, "*lan/ipv4".to_string())],
            (100, 0),
            "10.0.0.0 and .1, one row of their class"
        );
        assert!(m.hosts.contains_key(&(7, "10.0.0.9".to_string())));
        assert!(!m.hosts.contains_key(&(7, "10.0.0.1".to_string())));
        assert_eq!(source::name(source::of_ebpf_class(1)), "ebpf:udp");
    }
}
