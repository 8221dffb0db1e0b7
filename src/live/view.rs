//! The rows of each view of `nrec top`, from a [`Tick`], with totals since the session
//! started: one model for the screen and for batch mode.

use super::Tick;
use nrec_model::names::Aliases;
use std::collections::HashMap;

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum View {
    /// Processes (nethogs' view)
    Procs,
    /// Connections, local port ↔ remote (iftop's view): TCP, and with eBPF UDP too
    Conns,
    /// Service ports
    Ports,
    /// Remote hosts
    Hosts,
    /// Interfaces of every namespace (nload's view)
    Ifaces,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Procs,
        View::Conns,
        View::Ports,
        View::Hosts,
        View::Ifaces,
    ];

    /// Whether its rows are connections (the connections, ports and hosts views): read only
    /// while one is shown when eBPF counts the processes ([`Tick::conns_read`]).
    pub fn of_conns(self) -> bool {
        matches!(self, View::Conns | View::Ports | View::Hosts)
    }

    pub fn name(self) -> &'static str {
        match self {
            View::Procs => "processes",
            View::Conns => "connections",
            View::Ports => "ports",
            View::Hosts => "hosts",
            View::Ifaces => "interfaces",
        }
    }

    /// The key column's heading.
    pub fn head(self, by: By) -> &'static str {
        match self {
            View::Procs => by.head(),
            View::Conns => "CONNECTION",
            View::Ports => "PORT",
            View::Hosts => "HOST",
            View::Ifaces => "INTERFACE",
        }
    }
}

/// What a process row is, as `top-procs --by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum By {
    Name,
    Pid,
    Unit,
    Container,
    User,
}

impl By {
    pub const ALL: [By; 5] = [By::Name, By::Pid, By::Unit, By::Container, By::User];

    fn head(self) -> &'static str {
        match self {
            By::Name => "NAME",
            By::Pid => "PID NAME",
            By::Unit => "UNIT",
            By::Container => "CONTAINER",
            By::User => "USER",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            By::Name => "name",
            By::Pid => "pid",
            By::Unit => "unit",
            By::Container => "container",
            By::User => "user",
        }
    }
}

/// The same row kind in `top-procs`' terms (the recorded history's rows).
impl From<By> for nrec_report::rank::By {
    fn from(by: By) -> Self {
        use nrec_report::rank::By as B;
        match by {
            By::Name => B::Name,
            By::Pid => B::Pid,
            By::Unit => B::Unit,
            By::Container => B::Container,
            By::User => B::User,
        }
    }
}

/// One row of a view: its key, what is behind it (processes of a port or host, the owner of a
/// connection), bytes in the last interval and since the session started.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: String,
    pub detail: String,
    pub rx: u64,
    pub tx: u64,
    pub rx_total: u64,
    pub tx_total: u64,
    /// `(unattributed)`: drawn muted, sorted last.
    pub rest: bool,
}

/// The column a view is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sort {
    /// rx + tx in the last interval
    Rate,
    Rx,
    Tx,
    /// rx + tx since the session started
    Total,
    Name,
}

impl Sort {
    pub const ALL: [Sort; 5] = [Sort::Rate, Sort::Rx, Sort::Tx, Sort::Total, Sort::Name];

    pub fn name(self) -> &'static str {
        match self {
            Sort::Rate => "rate",
            Sort::Rx => "rx",
            Sort::Tx => "tx",
            Sort::Total => "total",
            Sort::Name => "name",
        }
    }
}

/// Totals since the session started, per view and key.
#[derive(Default)]
pub struct Totals {
    sums: HashMap<(View, By, String), (u64, u64)>,
    /// Seconds added, and of them those whose connections were read: the connection views'
    /// totals cover only the latter.
    pub secs: f64,
    pub conns_secs: f64,
}

/// The user name of a uid (the number when there is none).
fn user(uid: Option<u32>) -> String {
    uid.map(|u| {
        nrec_sys::user_name(u)
            .map(|n| nrec_model::names::escape_bytes(&n))
            .unwrap_or_else(|| u.to_string())
    })
    .unwrap_or_else(|| "?".into())
}

/// The host row of the bytes whose peer the kernel did not tell (a datagram read without
/// asking who sent it): counted, never dropped, as `top-hosts`' coverage line says.
pub const NO_PEER: &str = "(peer not known)";

/// The rows of `view` in one tick, by key, before totals: (key, detail, rx, tx).
fn fold(t: &Tick, view: View, by: By) -> Vec<(String, String, u64, u64)> {
    // key → (the processes behind it with their bytes, rx, tx)
    type Folded = (Vec<(String, u64)>, u64, u64);
    let mut m: HashMap<String, Folded> = HashMap::new();
    let mut add = |key: String, who: Option<&str>, rx: u64, tx: u64| {
        let e = m.entry(key).or_default();
        e.1 += rx;
        e.2 += tx;
        if let Some(w) = who {
            match e.0.iter_mut().find(|(n, _)| n == w) {
                Some(x) => x.1 += rx + tx,
                None => e.0.push((w.to_string(), rx + tx)),
            }
        }
    };
    match view {
        View::Procs => {
            for p in &t.procs {
                let key = match by {
                    By::Name => p.comm.clone(),
                    By::Pid => format!("{} {}", p.pid, p.comm),
                    By::Unit => p.unit.clone().unwrap_or_else(|| "(no unit)".into()),
                    By::Container => p.container.clone().unwrap_or_else(|| "(host)".into()),
                    By::User => user(p.uid),
                };
                let who = (by != By::Name && by != By::Pid).then_some(p.comm.as_str());
                add(key, who, p.rx, p.tx);
            }
        }
        View::Conns => {
            for c in &t.conns {
                let ns = if c.netns == "root" {
                    String::new()
                } else {
                    format!("@{}", c.netns)
                };
                let remote = if c.remote.is_empty() {
                    "?".to_string()
                } else if c.remote.contains(':') {
                    format!("[{}]", c.remote)
                } else {
                    c.remote.clone()
                };
                // a TCP connection is the view's usual row: UDP says so
                let proto = if c.proto == "tcp" { "" } else { "udp " };
                let key = format!("{proto}{} ↔ {remote}:{}{ns}", c.local_port, c.remote_port);
                let who = match (&c.pid, &c.comm) {
                    (Some(p), Some(n)) => format!("{n} ({p})"),
                    _ => "(no process)".into(),
                };
                add(key, Some(&who), c.rx, c.tx);
            }
        }
        View::Ports | View::Hosts => {
            for c in &t.conns {
                let remote = if c.remote.is_empty() {
                    NO_PEER
                } else {
                    &c.remote
                };
                let key = match view {
                    View::Ports => c.port.clone(),
                    _ if c.netns == "root" => remote.to_string(),
                    _ => format!("{remote}@{}", c.netns),
                };
                add(key, c.comm.as_deref(), c.rx, c.tx);
            }
        }
        View::Ifaces => {
            for i in &t.ifaces {
                add(i.label.clone(), None, i.rx, i.tx);
            }
        }
    }
    m.into_iter()
        .map(|(k, (mut who, rx, tx))| {
            who.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let detail = who
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
                .join(", ");
            (k, detail, rx, tx)
        })
        .collect()
}

impl Totals {
    /// Adds a tick's bytes to every view's totals (the connection views' only when the
    /// tick read the connections).
    pub fn add(&mut self, t: &Tick) {
        self.secs += t.secs;
        if t.conns_read {
            self.conns_secs += t.secs;
        }
        for view in View::ALL {
            if view.of_conns() && !t.conns_read {
                continue;
            }
            let bys: &[By] = if view == View::Procs {
                &By::ALL
            } else {
                &[By::Name]
            };
            for by in bys {
                for (k, _, rx, tx) in fold(t, view, *by) {
                    let e = self.sums.entry((view, *by, k)).or_default();
                    e.0 += rx;
                    e.1 += tx;
                }
            }
            let (urx, utx) = unattributed(t, view);
            let e = self
                .sums
                .entry((view, By::Name, UNATTRIBUTED.into()))
                .or_default();
            e.0 += urx;
            e.1 += utx;
        }
    }

    fn of(&self, view: View, by: By, key: &str) -> (u64, u64) {
        let by = if view == View::Procs { by } else { By::Name };
        self.sums
            .get(&(view, by, key.to_string()))
            .copied()
            .unwrap_or_default()
    }

    fn unattributed(&self, view: View) -> (u64, u64) {
        self.sums
            .get(&(view, By::Name, UNATTRIBUTED.to_string()))
            .copied()
            .unwrap_or_default()
    }
}

pub const UNATTRIBUTED: &str = "(unattributed)";

fn unattributed(t: &Tick, view: View) -> (u64, u64) {
    match view {
        View::Procs => t.unattributed,
        View::Conns | View::Ports | View::Hosts => t.unattributed_conns,
        View::Ifaces => (0, 0),
    }
}

/// The rows of `view` that moved bytes in tick `t`, with their totals since the session
/// started, `filter` (a substring of the key, an interface's alias or the detail,
/// case-insensitive) applied, sorted;
/// `(unattributed)` last (not for interfaces: they are the total). None for a connection
/// view of a tick that did not read the connections.
pub fn rows(
    t: &Tick,
    totals: &Totals,
    view: View,
    by: By,
    sort_by: Sort,
    filter: &str,
    aliases: &Aliases,
) -> Option<Vec<Row>> {
    if view.of_conns() && !t.conns_read {
        return None;
    }
    let filter = filter.to_lowercase();
    let keep = |k: &str, d: &str| {
        filter.is_empty()
            || k.to_lowercase().contains(&filter)
            || d.to_lowercase().contains(&filter)
            // an interface by its alias too, as the table shows it
            || (view == View::Ifaces
                && aliases.shown_label(k).to_lowercase().contains(&filter))
    };
    let mut out: Vec<Row> = fold(t, view, by)
        .into_iter()
        .filter(|(k, d, _, _)| keep(k, d))
        .map(|(key, detail, rx, tx)| {
            let (rx_total, tx_total) = totals.of(view, by, &key);
            Row {
                key,
                detail,
                rx,
                tx,
                rx_total,
                tx_total,
                rest: false,
            }
        })
        .collect();
    sort(&mut out, sort_by);
    if view != View::Ifaces && filter.is_empty() {
        let (rx, tx) = unattributed(t, view);
        let (rx_total, tx_total) = totals.unattributed(view);
        out.push(Row {
            key: UNATTRIBUTED.into(),
            detail: String::new(),
            rx,
            tx,
            rx_total,
            tx_total,
            rest: true,
        });
    }
    Some(out)
}

/// Sorts rows by `sort`; ties (idle rows) by name, so rows do not jump between refreshes.
pub fn sort(rows: &mut [Row], sort: Sort) {
    rows.sort_by(|a, b| {
        match sort {
            Sort::Rate => (b.rx + b.tx).cmp(&(a.rx + a.tx)),
            Sort::Rx => b.rx.cmp(&a.rx),
            Sort::Tx => b.tx.cmp(&a.tx),
            Sort::Total => (b.rx_total + b.tx_total).cmp(&(a.rx_total + a.tx_total)),
            Sort::Name => std::cmp::Ordering::Equal,
        }
        .then_with(|| by_name(&a.key, &b.key))
    });
}

/// Names in the order people count: runs of digits as numbers (`7914 nginx` before
/// `10930 curl`, `veth2` before `veth10`), the rest as text.
fn by_name(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (p, q) = (&x[..n], &y[..m]);
                // numbers of any length: without leading zeros, longer is larger
                let trim = |s: &[u8]| -> usize { s.iter().take_while(|c| **c == b'0').count() };
                let (p, q) = (
                    &p[trim(p).min(p.len().saturating_sub(1))..],
                    &q[trim(q).min(q.len().saturating_sub(1))..],
                );
                let o = p.len().cmp(&q.len()).then_with(|| p.cmp(q));
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// `rows` without aliases, for a tick that read what the view shows.
    fn plain(t: &Tick, tot: &Totals, v: View, by: By, sort: Sort, filter: &str) -> Vec<Row> {
        rows(t, tot, v, by, sort, filter, &Aliases::default()).unwrap()
    }

    use super::*;
    use crate::live::{ConnRow, IfaceRow, ProcRow};

    fn tick() -> Tick {
        let p = |pid, comm: &str, unit: Option<&str>, rx, tx| ProcRow {
            pid,
            comm: comm.into(),
            uid: Some(0),
            unit: unit.map(Into::into),
            container: None,
            rx,
            tx,
        };
        let c = |lport, remote: &str, rport, port: &str, comm: Option<&str>, rx, tx| ConnRow {
            inode: 1,
            proto: if port.starts_with("udp") {
                "udp"
            } else {
                "tcp"
            },
            netns: "root".into(),
            local_port: lport,
            remote: remote.into(),
            remote_port: rport,
            port: port.into(),
            pid: comm.map(|_| 7),
            comm: comm.map(Into::into),
            rx,
            tx,
        };
        Tick {
            at_ms: 0,
            secs: 1.0,
            procs: vec![
                p(1, "nginx", Some("nginx.service"), 100, 900),
                p(2, "nginx", Some("nginx.service"), 50, 50),
                p(3, "curl", None, 10, 0),
            ],
            conns: vec![
                c(443, "10.0.0.1", 5000, "tcp/443", Some("nginx"), 100, 900),
                c(40000, "::1", 22, "tcp/22", None, 5, 5),
                c(5353, "", 0, "udp/5353", Some("avahi"), 3, 0),
            ],
            ifaces: vec![IfaceRow {
                label: "eth0".into(),
                rx: 200,
                tx: 1000,
            }],
            unattributed: (40, 50),
            unattributed_conns: (92, 95),
            conns_read: true,
        }
    }

    #[test]
    fn views_fold_and_add_up() {
        let t = tick();
        let mut tot = Totals::default();
        tot.add(&t);
        tot.add(&t);
        let r = plain(&t, &tot, View::Procs, By::Name, Sort::Rate, "");
        assert_eq!(r[0].key, "nginx");
        assert_eq!((r[0].rx, r[0].tx), (150, 950));
        assert_eq!((r[0].rx_total, r[0].tx_total), (300, 1900));
        assert_eq!(r.last().unwrap().key, UNATTRIBUTED);
        // the rows and (unattributed) add up to the interfaces
        let sum: u64 = r.iter().map(|r| r.rx + r.tx).sum();
        assert_eq!(sum, 1200);
        let r = plain(&t, &tot, View::Procs, By::Unit, Sort::Name, "");
        assert_eq!(r[0].key, "(no unit)");
        assert_eq!(r[1].detail, "nginx");
        let r = plain(&t, &tot, View::Conns, By::Name, Sort::Rate, "");
        assert_eq!(r[0].key, "443 ↔ 10.0.0.1:5000");
        assert_eq!(r[1].key, "40000 ↔ [::1]:22");
        assert_eq!(r[1].detail, "(no process)");
        // a datagram without a known peer: UDP, and a peer shown as unknown
        assert_eq!(r[2].key, "udp 5353 ↔ ?:0");
        let r = plain(&t, &tot, View::Ports, By::Name, Sort::Tx, "");
        assert_eq!(r[0].key, "tcp/443");
        assert!(r.iter().any(|r| r.key == "udp/5353" && r.rx == 3), "{r:?}");
        // ... is a host row of its own, and the rows still add up to the interfaces
        let r = plain(&t, &tot, View::Hosts, By::Name, Sort::Rate, "");
        assert!(r.iter().any(|r| r.key == NO_PEER && r.rx == 3), "{r:?}");
        let sum: u64 = r.iter().map(|r| r.rx + r.tx).sum();
        assert_eq!(sum, 1200);
        let r = plain(&t, &tot, View::Hosts, By::Name, Sort::Rate, "10.0");
        assert_eq!(r.len(), 1, "a filter keeps matching rows only: {r:?}");
        let r = plain(&t, &tot, View::Ifaces, By::Name, Sort::Rate, "");
        // an alias selects its interface in the filter
        let a = Aliases::new([("eth0", "uplink")]).unwrap();
        let up = rows(&t, &tot, View::Ifaces, By::Name, Sort::Rate, "upl", &a).unwrap();
        assert!(
            up.iter().all(|r| r.key == "eth0") && !up.is_empty(),
            "{up:?}"
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].rx_total, 400);
    }

    /// Issue 31 item 6: PIDs (and numbered names) sort as numbers, not as text.
    #[test]
    fn names_sort_as_people_count() {
        let row = |k: &str| Row {
            key: k.into(),
            detail: String::new(),
            rx: 0,
            tx: 0,
            rx_total: 0,
            tx_total: 0,
            rest: false,
        };
        let mut r: Vec<Row> = ["10930 curl", "7914 nginx", "veth10", "veth2", "veth02", "a"]
            .into_iter()
            .map(row)
            .collect();
        sort(&mut r, Sort::Name);
        let keys: Vec<&str> = r.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            ["7914 nginx", "10930 curl", "a", "veth02", "veth2", "veth10"]
        );
    }

    #[test]
    fn a_tick_without_connections_adds_to_no_connection_view() {
        let t = tick();
        let mut light = tick();
        light.conns_read = false;
        light.conns.clear();
        light.unattributed_conns = (0, 0);
        let mut tot = Totals::default();
        tot.add(&t);
        tot.add(&light);
        assert_eq!((tot.secs, tot.conns_secs), (2.0, 1.0));
        // processes and interfaces count both ticks
        let r = plain(&light, &tot, View::Procs, By::Name, Sort::Rate, "");
        assert_eq!((r[0].rx_total, r[0].tx_total), (300, 1900));
        assert_eq!(r.last().unwrap().rx_total, 80);
        // the connection views: no rows for the light tick, totals of the read one only
        for v in [View::Conns, View::Ports, View::Hosts] {
            assert!(
                rows(
                    &light,
                    &tot,
                    v,
                    By::Name,
                    Sort::Rate,
                    "",
                    &Aliases::default()
                )
                .is_none()
            );
            let r = plain(&t, &tot, v, By::Name, Sort::Rate, "");
            assert_eq!(r[0].rx_total + r[0].tx_total, 1000, "{v:?}");
            assert_eq!(r.last().unwrap().rx_total, 92, "{v:?}");
        }
    }
}
