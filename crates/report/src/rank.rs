//! The one ranking of every view that lists who moved the bytes (`top-*`, their pictures,
//! `nrec top`'s recorded intervals, the metrics' coverage): series folded into rows by a key,
//! and the [`Balance`] that makes the rows and an explicit `(unattributed)` row add up.

use crate::output::units::pct;
use nrec_model::error::Result;
use nrec_model::names::{escape_bytes, escape_text};
use nrec_model::scope::{Family, Networks, Scope, class_of_text, is_rest};
use nrec_store::Reader;
use nrec_store::rollup::Kind;
use nrec_store::series::{DetailSeries, ProcSeries, Totals, TotalsLabels, Vector};
use nrec_store::window::Sums;
use std::collections::HashMap;

/// The two sides of a window's equation (ARCHITECTURE.md §5 "Totals that hold"): the bytes
/// the interfaces of each namespace carried, and the bytes credited to rows (processes,
/// ports, hosts) in it. Per namespace, what the interfaces carried beyond the rows is
/// `unattributed`; what the rows hold beyond the interfaces is `beyond` (a datagram multicast
/// or broadcast to several local sockets is delivered to each, carried once; a namespace of
/// unknown age first seen this sample has only an interface baseline), and rows in a namespace with no
/// interface bytes at all are `unsampled` (nrec never saw it: it lived and died between two
/// samples). The rows plus `unattributed` add up to `total` = interfaces + beyond +
/// unsampled, so no share exceeds 100 % and nothing is clamped away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub iface: (u64, u64),
    pub attributed: (u64, u64),
    pub unattributed: (u64, u64),
    pub beyond: (u64, u64),
    pub unsampled: (u64, u64),
}

impl Balance {
    pub fn of(
        iface: &HashMap<Vec<u8>, (u64, u64)>,
        attributed: &HashMap<Vec<u8>, (u64, u64)>,
    ) -> Balance {
        let mut b = Balance::default();
        let sum = |a: &mut (u64, u64), (rx, tx): (u64, u64)| {
            a.0 = a.0.saturating_add(rx);
            a.1 = a.1.saturating_add(tx);
        };
        for (ns, i) in iface {
            sum(&mut b.iface, *i);
            let a = attributed.get(ns).copied().unwrap_or_default();
            sum(
                &mut b.unattributed,
                (i.0.saturating_sub(a.0), i.1.saturating_sub(a.1)),
            );
            sum(
                &mut b.beyond,
                (a.0.saturating_sub(i.0), a.1.saturating_sub(i.1)),
            );
        }
        for (ns, a) in attributed {
            sum(&mut b.attributed, *a);
            if !iface.contains_key(ns) {
                sum(&mut b.unsampled, *a);
            }
        }
        b
    }
    /// What the rows and `(unattributed)` add up to (rx + tx).
    pub fn total(&self) -> u64 {
        let (rx, tx) = self.total_dir();
        rx.saturating_add(tx)
    }
    /// The total per direction.
    pub(crate) fn total_dir(&self) -> (u64, u64) {
        (
            self.attributed.0.saturating_add(self.unattributed.0),
            self.attributed.1.saturating_add(self.unattributed.1),
        )
    }
    /// Rows beyond the interfaces, both kinds (rx + tx).
    pub fn extra(&self) -> u64 {
        [self.beyond, self.unsampled]
            .iter()
            .map(|(r, t)| r.saturating_add(*t))
            .fold(0u64, u64::saturating_add)
    }
    /// The attributed share of the total, 0–1 (None: nothing moved).
    pub fn coverage(&self) -> Option<f64> {
        let t = self.total();
        (t > 0).then(|| (self.attributed.0.saturating_add(self.attributed.1)) as f64 / t as f64)
    }
}

impl Balance {
    /// The balance of a window's process bytes against its interfaces.
    pub fn of_procs(t: &Totals) -> Balance {
        Balance::of(&t.iface_ns, &t.proc_ns)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Procs,
    Ports,
    Hosts,
}

/// What a process row is (`top-procs --by`, `nrec top`'s `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Name,
    Exe,
    Unit,
    /// The container's name (its runtime's), else its short id; `(host)` outside containers
    Container,
    /// The Kubernetes pod as NAMESPACE/POD, where the runtime's labels name one
    Pod,
    /// The container's image
    Image,
    User,
    Pid,
    /// The remote address's scope (`loopback`, `lan`, `internet`): a process's bytes by the
    /// hosts it talked to
    Scope,
    /// The remote address's family (`ipv4`, `ipv6`)
    Family,
}

impl By {
    pub fn name(self) -> &'static str {
        match self {
            By::Name => "name",
            By::Exe => "exe",
            By::Unit => "unit",
            By::Container => "container",
            By::Pod => "pod",
            By::Image => "image",
            By::User => "user",
            By::Pid => "pid",
            By::Scope => "scope",
            By::Family => "family",
        }
    }
}

/// One ranked row.
pub struct Entry {
    pub key: String,
    pub rx: u64,
    pub tx: u64,
    /// The processes behind a port or host, busiest first.
    pub procs: Vec<String>,
    /// A unit's `Description=` (`top-procs --by unit`).
    pub description: Option<String>,
    /// A host's address as stored (its traffic class: `nrec_model::scope`).
    pub addr: Option<String>,
}

/// Where the window's bytes came from: "ebpf", "sock_diag" or "mixed" — for processes the
/// part of the sampled time eBPF counted them, for ports and hosts the part it counted them
/// per connection (since the connection map; sock_diag's sampled sockets before).
pub fn source(t: &Totals, what: What) -> &'static str {
    let ebpf = match what {
        What::Procs => t.ebpf_ms,
        What::Ports | What::Hosts => t.conns_ms,
    };
    match (ebpf, t.elapsed_ms) {
        (0, _) => "sock_diag",
        (e, t) if e >= t => "ebpf",
        _ => "mixed",
    }
}

pub(crate) fn source_text(t: &Totals, what: What) -> String {
    const EBPF: &str = "eBPF (TCP and UDP payload of every process, short-lived ones included; \
                        headers, other protocols and splice reads are unattributed)";
    const CONNS: &str = "eBPF per connection (TCP and UDP payload of every connection, \
                         short-lived ones included; a UDP datagram whose peer the kernel does \
                         not report keeps its port only; headers and other protocols are \
                         unattributed)";
    const DIAG: &str = "sock_diag (TCP payload; UDP, headers and connections that opened and \
                        closed between samples are unattributed)";
    let (ebpf, ms) = match what {
        What::Procs => (EBPF, t.ebpf_ms),
        What::Ports | What::Hosts => (CONNS, t.conns_ms),
    };
    match source(t, what) {
        "ebpf" => ebpf.into(),
        "sock_diag" => DIAG.into(),
        _ => format!(
            "{ebpf} for {:.1}% of the sampled time, {DIAG} for the rest",
            pct(ms, t.elapsed_ms)
        ),
    }
}

/// A user name for a uid, from the passwd database; the number when there is none.
pub fn user_name(uid: u32) -> String {
    nrec_sys::user_name(uid)
        .map(|n| escape_bytes(&n))
        .unwrap_or_else(|| uid.to_string())
}

/// The row a port or host series is: `tcp/443`; a host by its address (an IPv4 peer of a
/// dual-stack socket is an IPv4 host; one seen from another namespace is another network's,
/// named with it as interfaces are), `(other hosts)` for the rest of a process's hosts.
pub fn detail_key(d: &DetailSeries) -> String {
    if !d.proto.is_empty() {
        return format!("{}/{}", d.proto, d.port);
    }
    if is_rest(&d.addr) {
        return "(other hosts)".to_string();
    }
    let addr = crate::output::unmap_v4(&d.addr);
    match &d.netns[..] {
        b"root" | b"" => addr.to_string(),
        ns => format!("{addr}@{}", escape_bytes(ns)),
    }
}

/// The row of everything past the ranked rows (and, ranked by traffic class, of the other
/// classes).
pub(crate) fn other_key(what: What) -> &'static str {
    match what {
        What::Procs => "(other processes)",
        What::Ports => "(other ports)",
        What::Hosts => "(other hosts)",
    }
}

/// The row a process series is, by `by`.
pub fn proc_key(by: By, p: &ProcSeries) -> String {
    let name = escape_bytes(&p.comm);
    match by {
        By::Name => name,
        By::Exe => p
            .exe
            .as_deref()
            .map(escape_bytes)
            .unwrap_or_else(|| format!("[{name}]")),
        By::Unit => p
            .unit
            .as_deref()
            .map_or_else(|| "(no unit)".into(), escape_text),
        By::Container => p
            .container_label()
            .map_or_else(|| "(host)".into(), escape_text),
        By::Pod => match (&p.pod, &p.container) {
            (Some(pod), _) => escape_text(&format!(
                "{}/{pod}",
                p.pod_namespace.as_deref().unwrap_or("?")
            )),
            (None, Some(_)) => "(no pod)".into(),
            (None, None) => "(host)".into(),
        },
        By::Image => match (&p.image, &p.container) {
            (Some(i), _) => escape_text(i),
            (None, Some(_)) => "(unknown image)".into(),
            (None, None) => "(host)".into(),
        },
        // the name the system gave the uid when the process was recorded (a user deleted
        // since keeps it), else today's, else the number
        By::User => match &p.user {
            Some(name) => escape_bytes(name),
            None => p
                .uid
                .and_then(|u| u32::try_from(u).ok())
                .map(user_name)
                .unwrap_or_else(|| "?".into()),
        },
        By::Pid => format!("{} {name}", p.pid),
        // (a class, not a process: the ranker keys such rows by their hosts' class)
        By::Scope | By::Family => name,
    }
}

/// The row of a class (`top-procs --by scope|family`); the hosts that have none (the
/// classless rest of databases recorded before, an address that is none) are one row.
fn class_key(by: By, class: Option<(Family, Scope)>) -> String {
    match (by, class) {
        (By::Family, Some((f, _))) => f.name().to_string(),
        (_, Some((_, sc))) => sc.name().to_string(),
        (_, None) => "(no class)".to_string(),
    }
}

/// A ranking by traffic class: hosts classed with the config's networks, and the scope
/// whose bytes are ranked (the others' are in the `(other …)` row, so rows still add up).
#[derive(Clone, Copy)]
pub struct Classes<'a> {
    pub lan: &'a Networks,
    pub scope: Option<Scope>,
}

/// Bytes (rx, tx) per network namespace name.
pub type PerNs = HashMap<Vec<u8>, (u64, u64)>;

/// A series a ranking folds into a row: the row's key, the series' namespace, the process
/// name behind it (ports and hosts list theirs), a unit's description.
struct Member {
    series: i64,
    key: String,
    netns: Vec<u8>,
    comm: Option<String>,
    description: Option<String>,
    addr: Option<String>,
}

/// The rows of a window's sums (the whole window's, or one bucket's of it): each process, port
/// or host series folded into its row's key, worked out once for every window ranked.
/// Processes ranked by traffic class (`--by scope|family`, `--scope`) are their host series:
/// the bytes of a process are split by class only where its hosts are.
pub(crate) struct Ranker<'a> {
    pub what: What,
    only: Option<&'a str>,
    members: Vec<Member>,
    labels: TotalsLabels,
    /// The rows are host series (hosts, or processes by class).
    of_hosts: bool,
}

impl<'a> Ranker<'a> {
    /// Rows by `by` (processes) or by port or host, of container `only` when given; with
    /// `classes`, processes and hosts ranked by traffic class (a member of another scope than
    /// the one asked for is in the `(other …)` row).
    pub fn new(
        r: &Reader,
        procs: &[ProcSeries],
        what: What,
        by: By,
        only: Option<&'a str>,
        classes: Option<Classes<'_>>,
    ) -> Result<Ranker<'a>> {
        let mut members = Vec::new();
        let by_class = matches!(by, By::Scope | By::Family);
        let of_hosts = what == What::Hosts
            || (what == What::Procs && (by_class || classes.is_some_and(|c| c.scope.is_some())));
        let in_only = |p: &ProcSeries| only.is_none_or(|c| p.in_container(c));
        if !of_hosts && what == What::Procs {
            for p in procs.iter().filter(|p| in_only(p)) {
                members.push(Member {
                    series: p.series,
                    key: proc_key(by, p),
                    netns: p.netns.clone(),
                    comm: None,
                    description: p.unit_description.clone().filter(|_| by == By::Unit),
                    addr: None,
                });
            }
        } else {
            let by_process: HashMap<i64, &ProcSeries> =
                procs.iter().map(|p| (p.process, p)).collect();
            let kind = if what == What::Ports {
                Kind::Port
            } else {
                Kind::Host
            };
            let none = Networks::default();
            let lan = classes.map_or(&none, |c| c.lan);
            for d in r.details(kind, None)? {
                let p = by_process.get(&d.process).copied();
                if only.is_some() && !p.is_some_and(in_only) {
                    continue;
                }
                // a host's class is its address's (the config's networks included); a port
                // series' is its peers', recorded by the built-in ranges (its `addr` column)
                let class = match kind {
                    Kind::Host => class_of_text(&d.addr, lan),
                    _ => class_of_text(&d.addr, &none),
                };
                let key = match what {
                    What::Procs if by_class => class_key(by, class),
                    What::Procs => match p {
                        Some(p) => proc_key(by, p),
                        None => continue, // a host series without its process: not ranked
                    },
                    _ => detail_key(&d),
                };
                // a member of another scope than the one asked for is the rest
                let other = classes
                    .and_then(|c| c.scope)
                    .is_some_and(|want| class.is_none_or(|(_, sc)| sc != want));
                members.push(Member {
                    series: d.series,
                    key: if other {
                        other_key(what).to_string()
                    } else {
                        key
                    },
                    netns: d.netns,
                    comm: (what != What::Procs).then(|| escape_bytes(&d.comm)),
                    description: None,
                    addr: (kind == Kind::Host && !is_rest(&d.addr)).then_some(d.addr),
                });
            }
        }
        Ok(Ranker {
            what,
            only,
            members,
            labels: r.totals_labels()?,
            of_hosts,
        })
    }

    /// Kinds a ranking reads: the rows' own, and what the balance and the coverage line need.
    pub fn kinds(&self) -> [Kind; 5] {
        let kind = match self.what {
            What::Procs if self.of_hosts => Kind::Host,
            What::Procs => Kind::Proc,
            What::Ports => Kind::Port,
            What::Hosts => Kind::Host,
        };
        [kind, Kind::Iface, Kind::Attrib, Kind::Time, Kind::Proc]
    }

    /// The rows of `sums` (unsorted; ports and hosts with the processes behind each, busiest
    /// first) and their bytes per namespace.
    fn fold(&self, sums: &Sums) -> (Vec<Entry>, PerNs) {
        let mut by_key: HashMap<&str, (Entry, HashMap<&str, u64>)> = HashMap::new();
        let mut per_ns = PerNs::new();
        for m in &self.members {
            let Some(v) = sums.by_series.get(&m.series) else {
                continue;
            };
            let v = Vector(v);
            let (rx, tx) = (v.rx(), v.tx());
            if rx + tx == 0 {
                continue;
            }
            let n = per_ns.entry(m.netns.clone()).or_default();
            n.0 += rx;
            n.1 += tx;
            let e = by_key.entry(&m.key).or_insert_with(|| {
                (
                    Entry {
                        key: m.key.clone(),
                        rx: 0,
                        tx: 0,
                        procs: Vec::new(),
                        description: None,
                        addr: m.addr.clone(),
                    },
                    HashMap::new(),
                )
            });
            if e.0.description.is_none() {
                e.0.description.clone_from(&m.description);
            }
            e.0.rx += rx;
            e.0.tx += tx;
            if let Some(c) = &m.comm {
                *e.1.entry(c).or_default() += rx + tx;
            }
        }
        let entries = by_key
            .into_values()
            .map(|(mut e, p)| {
                let mut p: Vec<(u64, &str)> = p.into_iter().map(|(n, b)| (b, n)).collect();
                p.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
                e.procs = p.into_iter().map(|(_, n)| n.to_string()).collect();
                e
            })
            .collect();
        (entries, per_ns)
    }

    /// The rows of `sums` (unsorted), the balance they stand in, and the window's totals.
    pub fn rank(&self, sums: &Sums) -> (Vec<Entry>, Balance, Totals) {
        let t = self.labels.totals(&sums.by_series);
        let (entries, per_ns) = self.fold(sums);
        // A container's rows stand against the interfaces of the namespaces its processes used
        // (its own, named after it; the host's when it shares it), not the whole host's.
        let iface_ns = match self.only {
            None => t.iface_ns.clone(),
            Some(c) => t
                .iface_ns
                .iter()
                .filter(|(ns, _)| per_ns.contains_key(*ns) || ns.as_slice() == c.as_bytes())
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        };
        (entries, Balance::of(&iface_ns, &per_ns), t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: &[(&str, (u64, u64))]) -> HashMap<Vec<u8>, (u64, u64)> {
        v.iter().map(|(k, b)| (k.as_bytes().to_vec(), *b)).collect()
    }

    #[test]
    fn the_rows_and_unattributed_add_up_to_a_total_no_share_exceeds() {
        // root: interfaces carried more than the sockets (headers): unattributed
        // "mc": three receivers got a copy of 1 000 B the interface carried once: beyond
        // "": 5 MB in a namespace that lived and died between two samples: unsampled
        let iface = m(&[("root", (1_200, 1_100)), ("mc", (1_000, 1_000))]);
        let rows = m(&[
            ("root", (1_000, 1_000)),
            ("mc", (3_000, 1_000)),
            ("", (5_000_000, 5_000_000)),
        ]);
        let b = Balance::of(&iface, &rows);
        assert_eq!(b.iface, (2_200, 2_100));
        assert_eq!(b.attributed, (5_004_000, 5_002_000));
        assert_eq!(
            b.unattributed,
            (200, 100),
            "not clamped by the other namespaces"
        );
        assert_eq!(b.beyond, (2_000, 0));
        assert_eq!(b.unsampled, (5_000_000, 5_000_000));
        // rows + unattributed = interfaces + beyond + unsampled
        assert_eq!(b.total(), 2_200 + 2_100 + 2_000 + 10_000_000);
        assert_eq!(b.total_dir(), (5_004_200, 5_002_100));
        assert_eq!(b.extra(), 10_002_000);
        let c = b.coverage().unwrap();
        assert!(c <= 1.0 && c > 0.99, "{c}");
        // every row's share of the total stays within 100 %
        for a in rows.values() {
            assert!(a.0 + a.1 <= b.total());
        }
        // nothing moved: no coverage; only interfaces: all unattributed
        assert_eq!(Balance::of(&m(&[]), &m(&[])).coverage(), None);
        let only = Balance::of(&iface, &m(&[]));
        assert_eq!(only.unattributed, only.iface);
        assert_eq!(only.coverage(), Some(0.0));
    }
}
