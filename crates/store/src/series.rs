//! READ: the series the window engine sums, with their labels, and named views of their
//! vectors. `top-*`, `summary`, `export` and `status` read series only through here, so a
//! label is written once and a vector field is never read by a bare position.

use super::rollup::{IF_COUNTED, IF_ELAPSED, IF_UNCOUNTED, Kind};
use super::{Bounded, limit};
use rusqlite::Connection;
use std::collections::HashMap;

/// A summed vector of one series, read by name. A field the vector lacks reads 0: a short
/// (damaged) vector is missing data, never a panic.
#[derive(Debug, Clone, Copy)]
pub struct Vector<'a>(pub &'a [u64]);

impl Vector<'_> {
    fn at(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
    // Kind::Time: [samples, intervals, elapsed ms, eBPF-covered ms, eBPF calls lost to a full
    // map, their bytes, unattributed rx, unattributed tx (per sample, clamped at zero), ms
    // whose ports and hosts the kernel counted per connection]
    // (older vectors are shorter: the missing fields read 0)

    pub fn elapsed_ms(&self) -> u64 {
        self.at(2)
    }
    pub fn ebpf_ms(&self) -> u64 {
        self.at(3)
    }
    pub fn conns_ms(&self) -> u64 {
        self.at(8)
    }
    pub fn ebpf_lost_events(&self) -> u64 {
        self.at(4)
    }
    pub fn ebpf_lost_bytes(&self) -> u64 {
        self.at(5)
    }
    // Kind::Iface: the 16 /proc/net/dev deltas, then the interval bookkeeping.
    pub fn dev(&self, i: usize) -> u64 {
        self.at(i)
    }
    pub fn iface_rx_bytes(&self) -> u64 {
        self.at(0)
    }
    pub fn iface_tx_bytes(&self) -> u64 {
        self.at(8)
    }
    pub fn iface_elapsed_ms(&self) -> u64 {
        self.at(IF_ELAPSED)
    }
    /// How many counted intervals the vector sums (its time is [`Vector::iface_elapsed_ms`]).
    pub fn iface_intervals(&self) -> u64 {
        self.at(IF_COUNTED)
    }
    pub fn iface_uncounted(&self) -> u64 {
        self.at(IF_UNCOUNTED)
    }
    // Kind::Proc, Port, Host, Attrib: [rx, tx, ...]
    pub fn rx(&self) -> u64 {
        self.at(0)
    }
    pub fn tx(&self) -> u64 {
        self.at(1)
    }
    // Kind::Attrib
    pub fn unowned_rx(&self) -> u64 {
        self.at(2)
    }
    pub fn unowned_tx(&self) -> u64 {
        self.at(3)
    }
    /// The bytes a series moved, per direction: interfaces' rx/tx bytes, the others' rx/tx.
    pub fn bytes(&self, kind: Kind) -> (u64, u64) {
        match kind {
            Kind::Iface => (self.iface_rx_bytes(), self.iface_tx_bytes()),
            _ => (self.rx(), self.tx()),
        }
    }
}

/// Series id → kind, for the given kinds.
pub(crate) fn kinds(conn: &Connection, kinds: &[Kind]) -> rusqlite::Result<HashMap<i64, Kind>> {
    // The list is built from the enum's own numbers, never from input.
    let list: Vec<String> = kinds.iter().map(|k| (*k as i64).to_string()).collect();
    let mut st = conn.prepare_cached(&format!(
        "SELECT id, kind FROM series WHERE kind IN ({})",
        list.join(", ")
    ))?;
    let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = HashMap::new();
    for r in rows {
        let (id, k) = r?;
        if let Some(k) = Kind::from_i64(k) {
            out.insert(id, k);
        }
    }
    Ok(out)
}

/// The host-wide totals of a window: interface bytes (every interface of every namespace),
/// socket bytes, the part on sockets without a process, process bytes, sampled time.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub iface_rx: u64,
    pub iface_tx: u64,
    pub sock_rx: u64,
    pub sock_tx: u64,
    pub unowned_rx: u64,
    pub unowned_tx: u64,
    pub proc_rx: u64,
    pub proc_tx: u64,
    /// Sampled time of the window, and the part whose process bytes came from eBPF.
    pub elapsed_ms: u64,
    pub ebpf_ms: u64,
    /// The part whose ports and hosts the kernel counted per connection.
    pub conns_ms: u64,
    /// eBPF send/receive calls (and bytes) not counted because the map was full.
    pub ebpf_lost_events: u64,
    pub ebpf_lost_bytes: u64,
    /// Interface bytes (rx, tx) per network namespace name.
    pub iface_ns: HashMap<Vec<u8>, (u64, u64)>,
    /// Process bytes (rx, tx) per network namespace name ("" where nrec never sampled it).
    pub proc_ns: HashMap<Vec<u8>, (u64, u64)>,
}

fn add_to(m: &mut HashMap<Vec<u8>, (u64, u64)>, ns: &[u8], (rx, tx): (u64, u64)) {
    let e = m.entry(ns.to_vec()).or_default();
    e.0 = e.0.saturating_add(rx);
    e.1 = e.1.saturating_add(tx);
}

/// The network namespace name of every interface and process series ("" for a process
/// whose namespace nrec never sampled).
pub(crate) fn netns_of_series(conn: &Connection) -> rusqlite::Result<HashMap<i64, Vec<u8>>> {
    let mut st = conn.prepare_cached(
        "SELECT s.id, coalesce(n.name, x'') FROM series s JOIN iface i ON i.id = s.ref
           LEFT JOIN netns n ON n.id = i.netns WHERE s.kind = ?1
         UNION ALL
         SELECT s.id, coalesce(n.name, x'') FROM series s JOIN process p ON p.id = s.ref
           LEFT JOIN netns n ON n.id = p.netns WHERE s.kind = ?2",
    )?;
    let rows = st.query_map([Kind::Iface as i64, Kind::Proc as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.bounded(1, limit::NETNS)?))
    })?;
    rows.collect()
}

impl Totals {
    /// The share of the sampled time whose process bytes came from eBPF (None: no time).
    pub fn ebpf_share(&self) -> Option<f64> {
        (self.elapsed_ms > 0).then(|| self.ebpf_ms as f64 / self.elapsed_ms as f64)
    }
}

/// What [`Totals`] needs to know of each series (its kind and namespace), read once for
/// several windows' totals.
pub struct TotalsLabels {
    kinds: HashMap<i64, Kind>,
    netns: HashMap<i64, Vec<u8>>,
}

impl TotalsLabels {
    pub fn load(conn: &Connection) -> rusqlite::Result<TotalsLabels> {
        Ok(TotalsLabels {
            kinds: kinds(conn, &[Kind::Time, Kind::Iface, Kind::Proc, Kind::Attrib])?,
            netns: netns_of_series(conn)?,
        })
    }

    /// The totals of a window's sums (`Sums::by_series`).
    pub fn totals(&self, by_series: &HashMap<i64, Vec<u64>>) -> Totals {
        let mut t = Totals::default();
        for (id, v) in by_series {
            let v = Vector(v);
            let ns = self.netns.get(id).map_or(&[][..], |n| &n[..]);
            match self.kinds.get(id) {
                Some(Kind::Time) => {
                    t.elapsed_ms += v.elapsed_ms();
                    t.ebpf_ms += v.ebpf_ms();
                    t.conns_ms += v.conns_ms();
                    t.ebpf_lost_events += v.ebpf_lost_events();
                    t.ebpf_lost_bytes += v.ebpf_lost_bytes();
                }
                Some(Kind::Iface) => {
                    t.iface_rx += v.iface_rx_bytes();
                    t.iface_tx += v.iface_tx_bytes();
                    add_to(&mut t.iface_ns, ns, v.bytes(Kind::Iface));
                }
                Some(Kind::Proc) => {
                    t.proc_rx += v.rx();
                    t.proc_tx += v.tx();
                    add_to(&mut t.proc_ns, ns, v.bytes(Kind::Proc));
                }
                Some(Kind::Attrib) => {
                    t.sock_rx += v.rx();
                    t.sock_tx += v.tx();
                    t.unowned_rx += v.unowned_rx();
                    t.unowned_tx += v.unowned_tx();
                }
                _ => {}
            }
        }
        t
    }
}

/// A process series and who the process was.
#[derive(Debug, Clone)]
pub struct ProcSeries {
    pub series: i64,
    /// The `process` row.
    pub process: i64,
    pub pid: i64,
    pub comm: Vec<u8>,
    pub exe: Option<Vec<u8>>,
    pub unit: Option<String>,
    /// The unit's `Description=` when it was first met (`store::units`).
    pub unit_description: Option<String>,
    pub container: Option<String>,
    /// The container's name, image and Kubernetes pod, as its runtime named them
    /// (`store::containers`; None where unknown).
    pub container_name: Option<String>,
    pub image: Option<String>,
    pub pod: Option<String>,
    pub pod_namespace: Option<String>,
    pub uid: Option<i64>,
    /// The uid's user name when the process was first recorded (None: none resolved then).
    pub user: Option<Vec<u8>>,
    /// The process's network namespace name (empty when unknown).
    pub netns: Vec<u8>,
}

impl ProcSeries {
    /// The container as reports name it: the runtime's name, else the short id (None: not
    /// in a container).
    pub fn container_label(&self) -> Option<&str> {
        self.container_name.as_deref().or(self.container.as_deref())
    }

    /// Whether the process ran in container `c`: its name as the runtime gave it, or its id
    /// (a prefix of 12 or more characters).
    pub fn in_container(&self, c: &str) -> bool {
        self.container_name.as_deref() == Some(c)
            || self
                .container
                .as_deref()
                .is_some_and(|x| x == c || (c.len() >= 12 && x.starts_with(c)))
    }
}

pub(crate) fn procs(conn: &Connection) -> rusqlite::Result<Vec<ProcSeries>> {
    let mut st = conn.prepare(
        "SELECT s.id, p.pid, p.comm, p.exe, p.unit, p.container, p.uid, coalesce(n.name, x''), s.ref,
                c.name, c.image, c.pod, c.pod_namespace, u.description, p.user
         FROM series s JOIN process p ON p.id = s.ref LEFT JOIN netns n ON n.id = p.netns
           LEFT JOIN container c ON c.id = (SELECT id FROM container WHERE short = p.container LIMIT 1)
           LEFT JOIN unit u ON u.name = p.unit
         WHERE s.kind = ?1",
    )?;
    let rows = st.query_map([Kind::Proc as i64], |r| {
        Ok(ProcSeries {
            series: r.get(0)?,
            pid: r.get(1)?,
            comm: r.bounded(2, limit::COMM)?,
            exe: r.bounded(3, limit::PATH)?,
            unit: r.bounded(4, limit::PATH)?,
            container: r.bounded(5, limit::PATH)?,
            uid: r.get(6)?,
            netns: r.bounded(7, limit::NETNS)?,
            process: r.get(8)?,
            container_name: r.bounded(9, limit::NETNS)?,
            image: r.bounded(10, limit::PATH)?,
            pod: r.bounded(11, limit::NETNS)?,
            pod_namespace: r.bounded(12, limit::NETNS)?,
            unit_description: r.bounded(13, limit::PATH)?,
            user: r.bounded(14, limit::NETNS)?,
        })
    })?;
    rows.collect()
}

/// A process's port or remote-host series.
#[derive(Debug, Clone)]
pub struct DetailSeries {
    pub series: i64,
    /// The `process` row.
    pub process: i64,
    pub pid: i64,
    pub comm: Vec<u8>,
    /// Port series: "tcp"/"udp".
    pub proto: String,
    pub port: u16,
    /// Host series: the address, "*" for the rest of a process's hosts.
    pub addr: String,
    /// The process's network namespace name (empty when unknown).
    pub netns: Vec<u8>,
}

/// The port (`Kind::Port`) or host (`Kind::Host`) series; `port` narrows ports to one.
pub(crate) fn details(
    conn: &Connection,
    kind: Kind,
    port: Option<u16>,
) -> rusqlite::Result<Vec<DetailSeries>> {
    let mut st = conn.prepare(
        "SELECT s.id, p.pid, p.comm, s.proto, s.port, s.addr, s.ref, coalesce(n.name, x'')
         FROM series s JOIN process p ON p.id = s.ref LEFT JOIN netns n ON n.id = p.netns
         WHERE s.kind = ?1 AND (?2 IS NULL OR s.port = ?2)",
    )?;
    let rows = st.query_map(rusqlite::params![kind as i64, port], |r| {
        Ok(DetailSeries {
            series: r.get(0)?,
            pid: r.get(1)?,
            comm: r.bounded(2, limit::COMM)?,
            proto: r.bounded(3, limit::ADDR)?,
            port: u16::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
            addr: r.bounded(5, limit::ADDR)?,
            process: r.get(6)?,
            netns: r.bounded(7, limit::NETNS)?,
        })
    })?;
    rows.collect()
}

/// An interface series: its namespace's name and its own.
#[derive(Debug, Clone)]
pub struct IfaceSeries {
    pub series: i64,
    pub netns: Vec<u8>,
    pub name: Vec<u8>,
}

pub(crate) fn ifaces(conn: &Connection) -> rusqlite::Result<Vec<IfaceSeries>> {
    let mut st = conn.prepare(
        "SELECT s.id, n.name, i.name FROM series s JOIN iface i ON i.id = s.ref
         JOIN netns n ON n.id = i.netns WHERE s.kind = ?1",
    )?;
    let rows = st.query_map([Kind::Iface as i64], |r| {
        Ok(IfaceSeries {
            series: r.get(0)?,
            netns: r.bounded(1, limit::NETNS)?,
            name: r.bounded(2, limit::IFNAME)?,
        })
    })?;
    rows.collect()
}

/// Every interface ever recorded, baselines included (a series exists only once it moved
/// bytes): (namespace, name).
pub(crate) fn iface_names(conn: &Connection) -> rusqlite::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut st =
        conn.prepare("SELECT n.name, i.name FROM iface i JOIN netns n ON n.id = i.netns")?;
    let rows = st.query_map([], |r| {
        Ok((r.bounded(0, limit::NETNS)?, r.bounded(1, limit::IFNAME)?))
    })?;
    rows.collect()
}

/// A namespace-level series (`Kind::Proto`, `Kind::Attrib`): its namespace and, for
/// protocol series, the keyset's counter names in vector order.
#[derive(Debug, Clone)]
pub struct NetnsSeries {
    pub series: i64,
    pub netns: Vec<u8>,
    pub names: Vec<String>,
}

pub(crate) fn netns_series(conn: &Connection, kind: Kind) -> rusqlite::Result<Vec<NetnsSeries>> {
    let mut st = conn.prepare(
        "SELECT s.id, n.name, k.names FROM series s JOIN netns n ON n.id = s.ref
         LEFT JOIN keyset k ON k.id = s.keyset WHERE s.kind = ?1",
    )?;
    let rows = st.query_map([kind as i64], |r| {
        let names: Option<String> = r.bounded(2, limit::KEYSET)?;
        Ok(NetnsSeries {
            series: r.get(0)?,
            netns: r.bounded(1, limit::NETNS)?,
            names: match (kind, names) {
                (Kind::Proto, Some(n)) => n.split('\n').map(str::to_string).collect(),
                _ => Vec::new(),
            },
        })
    })?;
    rows.collect()
}

/// The host's sampling series (one; more only after a database merge).
pub(crate) fn time_series(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut st = conn.prepare("SELECT id FROM series WHERE kind = ?1")?;
    let rows = st.query_map([Kind::Time as i64], |r| r.get(0))?;
    rows.collect()
}
