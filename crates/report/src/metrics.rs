//! What `nrec serve` and `export --format openmetrics` expose, read from the database (never
//! collected here: the recorder is the only writer).
//!
//! Counters are sums over everything ever recorded: the daily rollups (written with every
//! sample, today's included) plus what retention carried out of them. So a counter never goes
//! backwards — not across reboots or counter resets (nrec's deltas already handle those), not
//! when retention prunes a day, not when `nrec serve` restarts. Label cardinality is bounded:
//! process and port series are the busiest of the last 24 h ([`Bounds`], `[metrics]` in the
//! config); a series that leaves the set stops being exposed (it goes stale), it never drops.
//! Interfaces and namespaces are those with data on the current or the previous UTC day.
//!
//! [`collect`] is one function per metric family group, each reading what it needs through
//! the store's [`Reader`]; [`history`] streams the counters at every stored bucket end.

use crate::output::openmetrics::{Family, Type};
use jiff::tz::TimeZone;
use nrec_model::error::Result;
use nrec_model::filter::IfaceFilter;
use nrec_model::names::{escape_bytes, escape_text};
use nrec_model::scope::{Networks, class_of_text};
use nrec_model::time::{DAY_MS, MonthStart, day_start, local_midnight};
use nrec_store::rollup::{Kind, MAX_DAY, add_into, is_gauge};
use nrec_store::series::{IfaceSeries, ProcSeries, Vector};
use nrec_store::{AllTime, AllTimeCache, Reader};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// What the metrics expose (`[metrics]`): label cardinality is bounded by these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// At most this many process series (the busiest of the last 24 h).
    pub processes: usize,
    pub by: ProcLabel,
    /// At most this many service-port series.
    pub ports: usize,
    /// Every protocol counter, not only node_exporter's default set.
    pub all_protocol: bool,
    /// Only these interfaces' series (`[metrics] interfaces`, `export -i`): the names and
    /// patterns reports take, node_exporter's `--collector.netdev.device-include`. Empty: all.
    pub ifaces: IfaceFilter,
    /// Where the month gauges' month begins (the config's `month_start`).
    pub month: MonthStart,
    /// The networks counted as `lan` besides the built-in ranges (`[scopes] lan`): the
    /// traffic-class families' `scope`.
    pub lan: Networks,
}

/// What a process series is labelled by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcLabel {
    Name,
    Unit,
    Container,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            processes: 50,
            by: ProcLabel::Name,
            ports: 50,
            all_protocol: false,
            ifaces: IfaceFilter::default(),
            month: MonthStart::default(),
            lan: Networks::default(),
        }
    }
}

/// Sums of several series under one label set (a device re-created with the same name, the
/// processes of one name).
#[derive(Default)]
struct Merged {
    total: Vec<u64>,
    first_day: i64,
    last_day: i64,
}

impl Merged {
    fn add(&mut self, a: &AllTime) {
        if self.total.is_empty() {
            self.first_day = a.first_day;
            self.last_day = a.last_day;
        }
        add_into(&mut self.total, &a.total);
        self.first_day = self.first_day.min(a.first_day);
        self.last_day = self.last_day.max(a.last_day);
    }
    fn at(&self, i: usize) -> f64 {
        self.total.get(i).copied().unwrap_or(0) as f64
    }
    fn created_s(&self) -> f64 {
        (self.first_day.clamp(0, MAX_DAY) * DAY_MS / 1000) as f64
    }
}

/// A process series' label: its name, unit or container.
pub(crate) fn proc_label(by: ProcLabel, p: &ProcSeries) -> (&'static str, String) {
    match by {
        ProcLabel::Name => ("name", escape_bytes(&p.comm)),
        ProcLabel::Unit => (
            "unit",
            p.unit
                .as_deref()
                .map_or_else(|| "(no unit)".into(), escape_text),
        ),
        ProcLabel::Container => (
            "container",
            p.container_label()
                .map_or_else(|| "(host)".into(), escape_text),
        ),
    }
}

/// An interface's labels, in /metrics and the backfill alike: `netns`, `device`, and
/// `alias` when the config gives it one (`[aliases]`).
pub(crate) fn iface_labels(only: &IfaceFilter, i: &IfaceSeries) -> Vec<(&'static str, String)> {
    let mut l = vec![
        ("netns", ns_label(&i.netns)),
        ("device", escape_bytes(&i.name)),
    ];
    if let Some(a) = only.aliases().get(&i.netns, &i.name) {
        l.push(("alias", a.to_string()));
    }
    l
}

pub(crate) fn ns_label(ns: &[u8]) -> String {
    if ns.is_empty() {
        "root".into()
    } else {
        escape_bytes(ns)
    }
}

/// The 16 /proc/net/dev counters, as node_exporter names them.
pub(crate) const NET: [(&str, Option<&str>, &str); 16] = [
    (
        "nrec_network_receive_bytes",
        Some("bytes"),
        "Bytes received (interface counters, every delta nrec recorded)",
    ),
    ("nrec_network_receive_packets", None, "Packets received"),
    ("nrec_network_receive_errs", None, "Receive errors"),
    (
        "nrec_network_receive_drop",
        None,
        "Received packets dropped",
    ),
    ("nrec_network_receive_fifo", None, "Receive FIFO errors"),
    ("nrec_network_receive_frame", None, "Receive frame errors"),
    (
        "nrec_network_receive_compressed",
        None,
        "Compressed packets received",
    ),
    (
        "nrec_network_receive_multicast",
        None,
        "Multicast packets received",
    ),
    (
        "nrec_network_transmit_bytes",
        Some("bytes"),
        "Bytes transmitted (interface counters, every delta nrec recorded)",
    ),
    ("nrec_network_transmit_packets", None, "Packets transmitted"),
    ("nrec_network_transmit_errs", None, "Transmit errors"),
    (
        "nrec_network_transmit_drop",
        None,
        "Transmitted packets dropped",
    ),
    ("nrec_network_transmit_fifo", None, "Transmit FIFO errors"),
    ("nrec_network_transmit_colls", None, "Collisions"),
    ("nrec_network_transmit_carrier", None, "Carrier losses"),
    (
        "nrec_network_transmit_compressed",
        None,
        "Compressed packets transmitted",
    ),
];

/// node_exporter's default netstat field set (`--collector.netstat.fields`), on nrec's counter
/// names (`snmp:Tcp:InSegs`, `netstat:TcpExt:ListenDrops`, `snmp6:Ip6InOctets`).
pub(crate) fn default_protocol_counter(key: &str) -> bool {
    let mut parts = key.splitn(3, ':');
    let (file, a, b) = (parts.next(), parts.next(), parts.next());
    let (group, name) = match (file, a, b) {
        // "Ip6InOctets": the group ends with its first digit
        (Some("snmp6"), Some(n), None) => {
            let split = n.find(|c: char| c.is_ascii_digit()).map_or(0, |d| d + 1);
            (&n[..split], &n[split..])
        }
        (Some("snmp" | "netstat"), Some(g), Some(n)) => (g, n),
        _ => return false,
    };
    name.ends_with("InErrors")
        || name.ends_with("InErrs")
        || (group == "Ip" && name == "Forwarding")
        || (matches!(group, "Ip6" | "IpExt") && matches!(name, "InOctets" | "OutOctets"))
        || (matches!(group, "Icmp" | "Icmp6") && matches!(name, "InMsgs" | "OutMsgs"))
        || (group == "TcpExt"
            && (name.starts_with("Listen")
                || name.starts_with("Syncookies")
                || matches!(name, "TCPSynRetrans" | "TCPTimeouts" | "TCPOFOQueue")))
        || (group == "Tcp"
            && matches!(
                name,
                "ActiveOpens"
                    | "InSegs"
                    | "OutSegs"
                    | "OutRsts"
                    | "PassiveOpens"
                    | "RetransSegs"
                    | "CurrEstab"
            ))
        || (matches!(group, "Udp" | "Udp6")
            && matches!(
                name,
                "InDatagrams" | "OutDatagrams" | "NoPorts" | "RcvbufErrors" | "SndbufErrors"
            ))
}

/// The kinds whose all-time sums the families read.
pub(crate) const KINDS: [Kind; 6] = [
    Kind::Iface,
    Kind::Proto,
    Kind::Proc,
    Kind::Port,
    Kind::Host,
    Kind::Time,
];

/// What every family of one scrape reads: the reader, now, the all-time sums, the last 24 h.
struct Scrape<'a> {
    r: &'a mut Reader,
    now_ms: i64,
    all: HashMap<i64, AllTime>,
    only: &'a IfaceFilter,
    month: MonthStart,
}

/// The interface series `only` lets through.
pub(crate) fn chosen_ifaces(r: &Reader, only: &IfaceFilter) -> Result<Vec<IfaceSeries>> {
    let mut v = r.ifaces()?;
    v.retain(|i| only.matches(&i.netns, &i.name));
    Ok(v)
}

impl Scrape<'_> {
    /// Whether a series last seen on `last_day` is recent (today or yesterday, UTC).
    fn recent(&self, last_day: i64) -> bool {
        last_day >= self.now_ms.div_euclid(DAY_MS) - 1
    }
}

/// Every family, as of `now_ms` (`tz`: the zone of the calendar gauges); `cache` keeps the
/// past days' sums between scrapes (held only while they are read: scrapes run at once).
pub fn collect(
    r: &mut Reader,
    now_ms: i64,
    tz: &TimeZone,
    m: &Bounds,
    cache: &Mutex<AllTimeCache>,
) -> Result<Vec<Family>> {
    collect_parts(r, now_ms, tz, m, cache, true)
}

/// [`collect`] without the interface, process and port counters, whose history a push sends
/// point by point (their 24-hour ranking and series listing are most of a scrape's cost).
pub fn collect_beside_history(
    r: &mut Reader,
    now_ms: i64,
    tz: &TimeZone,
    m: &Bounds,
    cache: &Mutex<AllTimeCache>,
) -> Result<Vec<Family>> {
    collect_parts(r, now_ms, tz, m, cache, false)
}

fn collect_parts(
    r: &mut Reader,
    now_ms: i64,
    tz: &TimeZone,
    m: &Bounds,
    cache: &Mutex<AllTimeCache>,
    with_counters: bool,
) -> Result<Vec<Family>> {
    let mut fams = vec![build_info()];
    let Some(last) = r.newest()? else {
        return Ok(fams); // nothing recorded yet
    };
    let all = r.all_time(&KINDS, &mut cache.lock().unwrap_or_else(|e| e.into_inner()))?;
    let mut s = Scrape {
        r,
        now_ms,
        all,
        only: &m.ifaces,
        month: m.month,
    };
    if with_counters {
        fams.extend(interfaces(&s)?);
    }
    fams.extend(calendar(&mut s, tz)?);
    fams.extend(protocol_counters(&s, m)?);
    fams.extend(newest_gauges(&s, last.id, m)?);
    if with_counters {
        let day_ago =
            s.r.sums(&[Kind::Proc, Kind::Port], now_ms - DAY_MS, now_ms + 1)?;
        fams.extend(processes(&s, &day_ago, m)?);
        fams.extend(ports(&s, &day_ago, m)?);
        fams.extend(traffic_classes(&s, m)?);
    }
    fams.extend(sampling(&s)?);
    fams.extend(freshness(&s, last.ts_ms)?);
    fams.push(coverage(&mut s)?);
    Ok(fams)
}

fn build_info() -> Family {
    let mut info = Family::new(
        "nrec_build_info",
        Type::Gauge,
        None,
        "The nrec that serves these metrics (value 1)",
    );
    info.push(vec![("version", env!("CARGO_PKG_VERSION").into())], 1.0);
    info
}

/// The 16 interface counters per (namespace, device), all time.
fn interfaces(s: &Scrape<'_>) -> Result<Vec<Family>> {
    let mut ifaces: BTreeMap<Vec<(&str, String)>, Merged> = BTreeMap::new();
    for i in chosen_ifaces(s.r, s.only)? {
        if let Some(a) = s.all.get(&i.series) {
            ifaces.entry(iface_labels(s.only, &i)).or_default().add(a);
        }
    }
    let mut fams = Vec::new();
    for (k, (name, unit, help)) in NET.iter().enumerate() {
        let mut f = Family::new(name, Type::Counter, *unit, help);
        for (l, v) in ifaces.iter().filter(|(_, v)| s.recent(v.last_day)) {
            f.push(l.clone(), v.at(k)).created_s = Some(v.created_s());
        }
        fams.push(f);
    }
    Ok(fams)
}

/// Calendar figures vnStat shows and PromQL cannot compute: bytes since local midnight and
/// since the month began (`month_start`: a billing cycle), in the display zone.
fn calendar(s: &mut Scrape<'_>, tz: &TimeZone) -> Result<Vec<Family>> {
    let now = jiff::Timestamp::from_millisecond(s.now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let midnight = local_midnight(now, tz);
    let month = s.month.cycle_of(now.to_zoned(tz.clone()).date());
    let month = day_start(month, tz).unwrap_or(midnight);
    let names: HashMap<i64, Vec<(&str, String)>> = chosen_ifaces(s.r, s.only)?
        .into_iter()
        .map(|i| (i.series, iface_labels(s.only, &i)))
        .collect();
    let mut fams = Vec::new();
    for (start, day_or_month) in [(midnight, "day"), (month, "month")] {
        let sums =
            s.r.sums(&[Kind::Iface], start.as_millisecond(), s.now_ms + 1)?;
        let mut per: BTreeMap<Vec<(&str, String)>, (u64, u64)> = BTreeMap::new();
        for (id, v) in &sums.by_series {
            if let Some(k) = names.get(id) {
                let e = per.entry(k.clone()).or_default();
                e.0 += Vector(v).iface_rx_bytes();
                e.1 += Vector(v).iface_tx_bytes();
            }
        }
        let (rx, tx) = if day_or_month == "day" {
            (
                (
                    "nrec_network_day_receive_bytes",
                    "Bytes received since local midnight (the host's time zone), as vnStat's daily figure",
                ),
                (
                    "nrec_network_day_transmit_bytes",
                    "Bytes transmitted since local midnight (the host's time zone)",
                ),
            )
        } else {
            (
                (
                    "nrec_network_month_receive_bytes",
                    "Bytes received since the month began (month_start), local time, as vnStat's monthly figure",
                ),
                (
                    "nrec_network_month_transmit_bytes",
                    "Bytes transmitted since the month began (month_start), local time",
                ),
            )
        };
        let mut frx = Family::new(rx.0, Type::Gauge, Some("bytes"), rx.1);
        let mut ftx = Family::new(tx.0, Type::Gauge, Some("bytes"), tx.1);
        for (l, (r, t)) in per {
            frx.push(l.clone(), r as f64);
            ftx.push(l, t as f64);
        }
        fams.push(frx);
        fams.push(ftx);
    }
    Ok(fams)
}

/// Protocol counters: the summed deltas, all time.
fn protocol_counters(s: &Scrape<'_>, m: &Bounds) -> Result<Vec<Family>> {
    let mut proto: BTreeMap<(String, String), Merged> = BTreeMap::new();
    for n in s.r.netns_series(Kind::Proto)? {
        let Some(a) = s.all.get(&n.series) else {
            continue;
        };
        if !s.recent(a.last_day) {
            continue;
        }
        for (i, name) in n.names.iter().enumerate() {
            if is_gauge(name) || !(m.all_protocol || default_protocol_counter(name)) {
                continue;
            }
            let one = AllTime {
                total: vec![a.total.get(i).copied().unwrap_or(0)],
                first_day: a.first_day,
                last_day: a.last_day,
            };
            proto
                .entry((ns_label(&n.netns), name.clone()))
                .or_default()
                .add(&one);
        }
    }
    let mut f = Family::new(
        "nrec_protocol_events",
        Type::Counter,
        None,
        "Protocol counters (/proc/net/snmp, netstat, snmp6) as nrec names them, every delta recorded",
    );
    for ((ns, c), v) in proto {
        f.push(vec![("netns", ns), ("counter", c)], v.at(0))
            .created_s = Some(v.created_s());
    }
    Ok(vec![f])
}

/// The newest sample's gauges: protocol values, TCP sockets per state, UDP sockets.
fn newest_gauges(s: &Scrape<'_>, sample: i64, m: &Bounds) -> Result<Vec<Family>> {
    let mut gauge = Family::new(
        "nrec_protocol_value",
        Type::Gauge,
        None,
        "Protocol gauges of the newest sample (sockstat, Tcp CurrEstab, …)",
    );
    let mut tcp = Family::new(
        "nrec_tcp_sockets",
        Type::Gauge,
        None,
        "TCP sockets per state in the newest sample (sock_diag, IPv4 and IPv6)",
    );
    let mut udp = Family::new(
        "nrec_udp_sockets",
        Type::Gauge,
        None,
        "UDP sockets in the newest sample (sock_diag, IPv4 and IPv6)",
    );
    let mut states: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut udps: BTreeMap<String, u64> = BTreeMap::new();
    for (ns, names, vals) in s.r.proto_values(sample)? {
        let ns = ns_label(&ns);
        for (name, v) in names.iter().zip(vals) {
            if let Some(rest) = name.strip_prefix("diag:") {
                match rest.split_once(':') {
                    Some(("tcp4" | "tcp6", state)) => {
                        *states.entry((ns.clone(), state.to_string())).or_default() += v;
                    }
                    Some(("udp4" | "udp6", _)) => *udps.entry(ns.clone()).or_default() += v,
                    _ => {}
                }
            } else if is_gauge(name)
                && (m.all_protocol
                    || name.starts_with("sockstat")
                    || default_protocol_counter(name))
            {
                gauge.push(
                    vec![("netns", ns.clone()), ("counter", name.to_string())],
                    v as f64,
                );
            }
        }
    }
    for ((ns, st), v) in states {
        tcp.push(vec![("netns", ns), ("state", st)], v as f64);
    }
    for (ns, v) in udps {
        udp.push(vec![("netns", ns)], v as f64);
    }
    Ok(vec![gauge, tcp, udp])
}

/// Label sets ranked by their bytes of the last 24 h, the `n` busiest kept, by label.
fn busiest<K: Ord + Clone>(set: HashMap<K, (Merged, u64)>, n: usize) -> Vec<(K, Merged)> {
    let mut ranked: Vec<(K, (Merged, u64))> =
        set.into_iter().filter(|(_, (_, d))| *d > 0).collect();
    ranked.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
    ranked.truncate(n);
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    ranked.into_iter().map(|(k, (m, _))| (k, m)).collect()
}

/// Processes: the busiest of the last 24 h, each with its all-time bytes; and all processes'
/// bytes together (attributed).
fn processes(
    s: &Scrape<'_>,
    day_ago: &nrec_store::window::Sums,
    m: &Bounds,
) -> Result<Vec<Family>> {
    let mut label = "name";
    let mut procs: HashMap<String, (Merged, u64)> = HashMap::new();
    let mut attributed: Option<Merged> = None;
    for p in s.r.procs()? {
        let Some(a) = s.all.get(&p.series) else {
            continue;
        };
        attributed.get_or_insert_with(Merged::default).add(a);
        let (l, key) = proc_label(m.by, &p);
        label = l;
        let e = procs.entry(key).or_default();
        e.0.add(a);
        if let Some(v) = day_ago.by_series.get(&p.series) {
            e.1 += Vector(v).rx() + Vector(v).tx();
        }
    }
    let mut prx = Family::new(
        "nrec_process_receive_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes received by the processes of this name (unit, container), all time; the busiest of the last 24 h are exposed",
    );
    let mut ptx = Family::new(
        "nrec_process_transmit_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes transmitted by the processes of this name (unit, container), all time; the busiest of the last 24 h are exposed",
    );
    for (k, v) in busiest(procs, m.processes) {
        prx.push(vec![(label, k.clone())], v.at(0)).created_s = Some(v.created_s());
        ptx.push(vec![(label, k)], v.at(1)).created_s = Some(v.created_s());
    }
    let mut arx = Family::new(
        "nrec_attributed_receive_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes received that nrec credited to a process (all processes)",
    );
    let mut atx = Family::new(
        "nrec_attributed_transmit_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes transmitted that nrec credited to a process (all processes)",
    );
    if let Some(attributed) = attributed {
        arx.push(vec![], attributed.at(0)).created_s = Some(attributed.created_s());
        atx.push(vec![], attributed.at(1)).created_s = Some(attributed.created_s());
    }
    Ok(vec![prx, ptx, arx, atx])
}

/// Service ports: the busiest of the last 24 h, each with its all-time bytes.
fn ports(s: &Scrape<'_>, day_ago: &nrec_store::window::Sums, m: &Bounds) -> Result<Vec<Family>> {
    let mut ports: HashMap<(String, String), (Merged, u64)> = HashMap::new();
    for d in s.r.details(Kind::Port, None)? {
        let Some(a) = s.all.get(&d.series) else {
            continue;
        };
        let e = ports
            .entry((escape_text(&d.proto), d.port.to_string()))
            .or_default();
        e.0.add(a);
        if let Some(v) = day_ago.by_series.get(&d.series) {
            e.1 += Vector(v).rx() + Vector(v).tx();
        }
    }
    let mut rx = Family::new(
        "nrec_port_receive_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes received by processes on this service port (TCP; UDP too where eBPF counts per connection), all time; the busiest of the last 24 h are exposed",
    );
    let mut tx = Family::new(
        "nrec_port_transmit_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes transmitted by processes on this local service port, all time",
    );
    for ((proto, port), v) in busiest(ports, m.ports) {
        let l = vec![("proto", proto), ("port", port)];
        rx.push(l.clone(), v.at(0)).created_s = Some(v.created_s());
        tx.push(l, v.at(1)).created_s = Some(v.created_s());
    }
    Ok(vec![rx, tx])
}

/// The processes' bytes with remote hosts by traffic class — the remote address's family and
/// scope (`nrec_model::scope`, with the config's `lan` networks), all time: at most six
/// label sets, however many hosts. Only bytes whose host is known are here: where ports and
/// hosts were counted per connection (eBPF) all of them, else the sampled TCP sockets'.
fn traffic_classes(s: &Scrape<'_>, m: &Bounds) -> Result<Vec<Family>> {
    let mut classes: BTreeMap<Vec<(&str, String)>, Merged> = BTreeMap::new();
    for d in s.r.details(Kind::Host, None)? {
        let (Some(a), Some(l)) = (s.all.get(&d.series), class_labels(&d.addr, &m.lan)) else {
            continue;
        };
        classes.entry(l).or_default().add(a);
    }
    let mut rx = Family::new(
        "nrec_traffic_receive_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes processes received from remote hosts of this address family and scope (loopback; lan: private, ULA, link-local, CGNAT and the config's [scopes] lan; internet: the rest), all time",
    );
    let mut tx = Family::new(
        "nrec_traffic_transmit_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes processes transmitted to remote hosts of this address family and scope, all time",
    );
    for (l, v) in classes {
        rx.push(l.clone(), v.at(0)).created_s = Some(v.created_s());
        tx.push(l, v.at(1)).created_s = Some(v.created_s());
    }
    Ok(vec![rx, tx])
}

/// A remote host's traffic class as labels, `family` and `scope` (None: not an address —
/// a foreign row). A process's folded rest of hosts names its class.
pub(crate) fn class_labels(addr: &str, lan: &Networks) -> Option<Vec<(&'static str, String)>> {
    let (family, scope) = class_of_text(addr, lan)?;
    Some(vec![
        ("family", family.name().to_string()),
        ("scope", scope.name().to_string()),
    ])
}

/// The host's time series: samples, eBPF losses, unattributed bytes.
fn sampling(s: &Scrape<'_>) -> Result<Vec<Family>> {
    let mut t = Merged::default();
    for id in s.r.time_series()? {
        if let Some(a) = s.all.get(&id) {
            t.add(a);
        }
    }
    let created = t.created_s();
    let mut fams = Vec::new();
    for (name, unit, help, i) in [
        (
            "nrec_unattributed_receive_bytes",
            Some("bytes"),
            "Interface bytes received that no process was credited with (per sample, clamped at zero; headers, kernel traffic, other protocols)",
            6,
        ),
        (
            "nrec_unattributed_transmit_bytes",
            Some("bytes"),
            "Interface bytes transmitted that no process was credited with (per sample, clamped at zero)",
            7,
        ),
        ("nrec_samples", None, "Samples recorded", 0),
        (
            "nrec_ebpf_lost_calls",
            None,
            "Socket calls the eBPF program could not count (its map was full)",
            4,
        ),
        (
            "nrec_ebpf_lost_bytes",
            Some("bytes"),
            "Bytes of the socket calls the eBPF program could not count",
            5,
        ),
    ] {
        let mut f = Family::new(name, Type::Counter, unit, help);
        f.push(vec![], t.at(i)).created_s = Some(created);
        fams.push(f);
    }
    Ok(fams)
}

/// When the newest sample was taken; the recording interval.
fn freshness(s: &Scrape<'_>, last_ts_ms: i64) -> Result<Vec<Family>> {
    let mut last = Family::new(
        "nrec_last_sample_timestamp_seconds",
        Type::Gauge,
        Some("seconds"),
        "When the newest sample was taken (Unix time)",
    );
    last.push(vec![], last_ts_ms as f64 / 1000.0);
    let mut interval = Family::new(
        "nrec_sample_interval_seconds",
        Type::Gauge,
        Some("seconds"),
        "The recording interval (the median of the newest 20 intervals)",
    );
    if let Some(i) = s.r.recording_interval_ms()? {
        interval.push(vec![], i as f64 / 1000.0);
    }
    Ok(vec![last, interval])
}

/// The share of the last 24 h's interface bytes credited to processes.
fn coverage(s: &mut Scrape<'_>) -> Result<Family> {
    let sums = s.r.sums(
        &[Kind::Iface, Kind::Proc, Kind::Time, Kind::Attrib],
        s.now_ms - DAY_MS,
        s.now_ms + 1,
    )?;
    let tot = s.r.totals(&sums)?;
    let mut f = Family::new(
        "nrec_attribution_coverage_ratio",
        Type::Gauge,
        Some("ratio"),
        "Share of the last 24 h's interface bytes credited to processes (0-1)",
    );
    // of the interface bytes plus what sockets moved beyond them (Balance): at most 1
    if let Some(c) = crate::rank::Balance::of_procs(&tot).coverage() {
        f.push(vec![], c);
    }
    Ok(f)
}

/// Which families a series kind narrows `export --format openmetrics` to (None: all).
pub fn family_in(name: &str, kind: Option<Kind>) -> bool {
    match kind {
        None => true,
        Some(Kind::Iface) => name.starts_with("nrec_network_"),
        Some(Kind::Proto) => {
            name.starts_with("nrec_protocol_")
                || name.starts_with("nrec_tcp_")
                || name.starts_with("nrec_udp_")
        }
        Some(Kind::Proc) => {
            name.starts_with("nrec_process_") || name.starts_with("nrec_attributed_")
        }
        Some(Kind::Port) => name.starts_with("nrec_port_"),
        Some(Kind::Attrib) => {
            name.starts_with("nrec_unattributed_") || name.starts_with("nrec_attribution_")
        }
        Some(Kind::Time) => {
            matches!(
                name,
                "nrec_samples" | "nrec_ebpf_lost_calls" | "nrec_ebpf_lost_bytes"
            ) || name.starts_with("nrec_last_sample")
                || name.starts_with("nrec_sample_interval")
        }
        Some(Kind::Host) => name.starts_with("nrec_traffic_"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_exporters_default_fields() {
        for k in [
            "snmp:Tcp:InSegs",
            "snmp:Tcp:CurrEstab",
            "netstat:TcpExt:ListenDrops",
            "netstat:IpExt:InOctets",
            "snmp:Udp:RcvbufErrors",
            "snmp:Ip:InErrors",
            "snmp6:Ip6InOctets",
            "snmp6:Udp6NoPorts",
            "snmp6:Icmp6InMsgs",
        ] {
            assert!(default_protocol_counter(k), "{k}");
        }
        for k in [
            "snmp:Tcp:MaxConn",
            "netstat:TcpExt:TCPHPHits",
            "snmp6:Ip6InReceives",
            "sockstat:TCP:inuse",
        ] {
            assert!(!default_protocol_counter(k), "{k}");
        }
    }
}
