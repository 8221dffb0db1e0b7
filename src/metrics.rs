//! What `nrec serve` and `export --format openmetrics` expose, read from the database (never
//! collected here: the recorder is the only writer).
//!
//! Counters are sums over everything ever recorded: the daily rollups (written with every
//! sample, today's included) plus what retention carried out of them (`carried`, schema 6).
//! So a counter never goes backwards — not across reboots or counter resets (nrec's deltas
//! already handle those), not when retention prunes a day, not when `nrec serve` restarts.
//! Label cardinality is bounded: process and port series are the busiest of the last 24 h
//! (`[metrics]` in the config); a series that leaves the set stops being exposed (it goes
//! stale), it never drops. Interfaces and namespaces are those with data on the current or
//! the previous UTC day.

use crate::config::{Metrics, MetricsBy};
use crate::output::escape_bytes;
use crate::output::openmetrics::{Family, Type};
use crate::store::rollup::{self, DAY_MS, Kind, Roller};
use crate::store::series::{self, Vector};
use crate::store::window::{self, Horizons};
use crate::store::{Bounded, limit, query};
use jiff::tz::TimeZone;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;

/// One series' sum over all time, and the first and last UTC day it had data.
#[derive(Default, Clone)]
struct AllTime {
    total: Vec<u64>,
    first_day: i64,
    last_day: i64,
}

/// Adds a stored vector (`blob`) of `series`, seen from `first` to `last` day, into `out`.
fn merge(
    out: &mut HashMap<i64, AllTime>,
    series: i64,
    (first, last): (i64, i64),
    blob: &[u8],
    what: &str,
) -> rusqlite::Result<()> {
    let v = rollup::decode_vec(&mut &blob[..])
        .ok_or_else(|| crate::store::malformed(format!("{what} of series {series}")))?;
    let e = out.entry(series).or_insert(AllTime {
        total: Vec::new(),
        first_day: first,
        last_day: last,
    });
    rollup::add_into(&mut e.total, &v);
    e.first_day = e.first_day.min(first);
    e.last_day = e.last_day.max(last);
    Ok(())
}

/// Adds the daily rollup rows of `kinds` on UTC days `[from, until)` into `out`.
fn add_days(
    conn: &Connection,
    kinds: &[Kind],
    (from, until): (i64, i64),
    out: &mut HashMap<i64, AllTime>,
) -> rusqlite::Result<()> {
    for k in kinds {
        let mut st = conn.prepare_cached(&rollup::kind_days_sql("r.day, r.series, r.total"))?;
        let mut rows = st.query(params![*k as i64, from, until])?;
        while let Some(r) = rows.next()? {
            let day: i64 = r.get(0)?;
            let series: i64 = r.get(1)?;
            merge(out, series, (day, day), r.get_ref(2)?.as_blob()?, "rollup")?;
        }
    }
    Ok(())
}

/// The newest UTC day with rollups.
fn last_day(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id >> 35 FROM rollup ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()
}

/// Sums of every series of `kinds` over all UTC days before `until_day` (rollup totals plus
/// what retention carried out of them).
fn all_time(
    conn: &Connection,
    kinds: &[Kind],
    until_day: i64,
) -> rusqlite::Result<HashMap<i64, AllTime>> {
    let mut out: HashMap<i64, AllTime> = HashMap::new();
    // one seek per day that can hold rows: from the first day with rollups to the last
    let from = rollup::first_day(conn)?.unwrap_or(until_day);
    let until = until_day.min(last_day(conn)?.map_or(from, |d| d + 1));
    add_days(conn, kinds, (from, until), &mut out)?;
    // a series all of whose days were pruned is still counted (not exposed as recent, but
    // the kinds summed over all series include it)
    let mut st = conn.prepare_cached("SELECT series, total, first_day FROM carried")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(2)?;
        merge(
            &mut out,
            r.get(0)?,
            (first, i64::MIN),
            r.get_ref(1)?.as_blob()?,
            "carried",
        )?;
    }
    Ok(out)
}

/// The all-time sums of the days before the newest day with rollups, kept between scrapes
/// (`nrec serve`): those days change only when retention prunes (which moves
/// `days_from_day` and fills `carried`), so a scrape reads just the newest day's rows. A year
/// of 100 processes is ~80 000 rollup rows: read once, not on every scrape.
#[derive(Default)]
pub struct Cache {
    key: Option<(i64, i64, i64, i64)>,
    past: HashMap<i64, AllTime>,
}

const KINDS: [Kind; 5] = [Kind::Iface, Kind::Proto, Kind::Proc, Kind::Port, Kind::Time];

impl Cache {
    fn all_time(&mut self, conn: &Connection) -> rusqlite::Result<HashMap<i64, AllTime>> {
        let first = rollup::first_day(conn)?.unwrap_or(0);
        let last = last_day(conn)?.unwrap_or(first);
        let pruned = rollup::get_meta(conn, "days_from_day")?.unwrap_or(i64::MIN);
        let carried: i64 = conn.query_row(
            "SELECT count(*) + coalesce(sum(first_day), 0) FROM carried",
            [],
            |r| r.get(0),
        )?;
        let key = (first, last, pruned, carried);
        if self.key != Some(key) {
            self.past = all_time(conn, &KINDS, last)?;
            self.key = Some(key);
        }
        let mut out = self.past.clone();
        add_days(conn, &KINDS, (last, last + 1), &mut out)?;
        Ok(out)
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
        rollup::add_into(&mut self.total, &a.total);
        self.first_day = self.first_day.min(a.first_day);
        self.last_day = self.last_day.max(a.last_day);
    }
    fn at(&self, i: usize) -> f64 {
        self.total.get(i).copied().unwrap_or(0) as f64
    }
    fn created_s(&self) -> f64 {
        (self.first_day.clamp(0, rollup::MAX_DAY) * DAY_MS / 1000) as f64
    }
}

/// A process series' label: its name, unit or container (`[metrics] by`).
fn proc_label(by: MetricsBy, p: &series::ProcSeries) -> (&'static str, String) {
    match by {
        MetricsBy::Name => ("name", escape_bytes(&p.comm)),
        MetricsBy::Unit => (
            "unit",
            p.unit
                .as_deref()
                .map_or_else(|| "(no unit)".into(), crate::output::escape_text),
        ),
        MetricsBy::Container => (
            "container",
            p.container_label()
                .map_or_else(|| "(host)".into(), crate::output::escape_text),
        ),
    }
}

fn ns_label(ns: &[u8]) -> String {
    if ns.is_empty() {
        "root".into()
    } else {
        escape_bytes(ns)
    }
}

/// The 16 /proc/net/dev counters, as node_exporter names them.
const NET: [(&str, Option<&str>, &str); 16] = [
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
pub fn default_protocol_counter(key: &str) -> bool {
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

/// Every family, as of `now_ms` (`tz`: the zone of the calendar gauges).
pub fn collect(
    conn: &Connection,
    now_ms: i64,
    tz: &TimeZone,
    m: &Metrics,
    cache: &std::sync::Mutex<Cache>,
) -> rusqlite::Result<Vec<Family>> {
    let mut fams = Vec::new();
    let mut info = Family::new(
        "nrec_build_info",
        Type::Gauge,
        None,
        "The nrec that serves these metrics (value 1)",
    );
    info.push(vec![("version", env!("CARGO_PKG_VERSION").into())], 1.0);
    fams.push(info);
    let rec = query::recording(conn)?;
    let Some(last) = rec.last else {
        return Ok(fams); // nothing recorded yet
    };
    let h = Horizons::load(conn)?;
    let today = now_ms.div_euclid(DAY_MS);
    let recent = |last_day: i64| last_day >= today - 1;
    let all = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .all_time(conn)?;
    let get = |s: i64| all.get(&s);

    // Interfaces.
    let mut ifaces: BTreeMap<(String, String), Merged> = BTreeMap::new();
    for i in series::ifaces(conn)? {
        if let Some(a) = get(i.series) {
            ifaces
                .entry((ns_label(&i.netns), escape_bytes(&i.name)))
                .or_default()
                .add(a);
        }
    }
    for (k, (name, unit, help)) in NET.iter().enumerate() {
        let mut f = Family::new(name, Type::Counter, *unit, help);
        for ((ns, dev), v) in ifaces.iter().filter(|(_, v)| recent(v.last_day)) {
            f.push(
                vec![("netns", ns.clone()), ("device", dev.clone())],
                v.at(k),
            )
            .created_s = Some(v.created_s());
        }
        fams.push(f);
    }
    // Calendar figures vnStat shows and PromQL cannot compute: bytes since local midnight and
    // since the first of the month, in the display zone.
    let now = jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let midnight = crate::time::local_midnight(now, tz);
    let month = now.to_zoned(tz.clone()).date().first_of_month();
    let month = crate::time::day_start(month, tz).unwrap_or(midnight);
    let iface_names: HashMap<i64, (String, String)> = series::ifaces(conn)?
        .into_iter()
        .map(|i| (i.series, (ns_label(&i.netns), escape_bytes(&i.name))))
        .collect();
    for (start, day_or_month) in [(midnight, "day"), (month, "month")] {
        let sums = window::sums(
            conn,
            &mut Roller::new(),
            &h,
            &[Kind::Iface],
            start.as_millisecond(),
            now_ms + 1,
        )?;
        let mut per: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for (s, v) in &sums.by_series {
            if let Some(k) = iface_names.get(s) {
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
                    "Bytes received since the first of the month, local time, as vnStat's monthly figure",
                ),
                (
                    "nrec_network_month_transmit_bytes",
                    "Bytes transmitted since the first of the month, local time",
                ),
            )
        };
        let mut frx = Family::new(rx.0, Type::Gauge, Some("bytes"), rx.1);
        let mut ftx = Family::new(tx.0, Type::Gauge, Some("bytes"), tx.1);
        for ((ns, dev), (r, t)) in per {
            let l = vec![("netns", ns), ("device", dev)];
            frx.push(l.clone(), r as f64);
            ftx.push(l, t as f64);
        }
        fams.push(frx);
        fams.push(ftx);
    }

    // Protocol counters (summed deltas) and the newest sample's gauges.
    let mut proto: BTreeMap<(String, String), Merged> = BTreeMap::new();
    for n in series::netns_series(conn, Kind::Proto)? {
        let Some(a) = get(n.series) else { continue };
        if !recent(a.last_day) {
            continue;
        }
        for (i, name) in n.names.iter().enumerate() {
            if rollup::is_gauge(name) || !(m.all_protocol || default_protocol_counter(name)) {
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
    fams.push(f);
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
    let mut st = conn.prepare_cached(
        "SELECT n.name, k.names, p.vals FROM proto_sample p JOIN netns n ON n.id = p.netns
         JOIN keyset k ON k.id = p.keyset WHERE p.sample = ?1",
    )?;
    let mut rows = st.query([last.id])?;
    while let Some(r) = rows.next()? {
        let ns = ns_label(&r.bounded::<Vec<u8>>(0, limit::NETNS)?);
        let names: String = r.bounded(1, limit::KEYSET)?;
        let blob = r.get_ref(2)?.as_blob()?;
        let vals = rollup::decode_vec(&mut &blob[..])
            .ok_or_else(|| crate::store::malformed("protocol-counter blob"))?;
        for (name, v) in names.split('\n').zip(vals) {
            if let Some(rest) = name.strip_prefix("diag:") {
                match rest.split_once(':') {
                    Some(("tcp4" | "tcp6", state)) => {
                        *states.entry((ns.clone(), state.to_string())).or_default() += v;
                    }
                    Some(("udp4" | "udp6", _)) => *udps.entry(ns.clone()).or_default() += v,
                    _ => {}
                }
            } else if rollup::is_gauge(name)
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
    for ((ns, s), v) in states {
        tcp.push(vec![("netns", ns), ("state", s)], v as f64);
    }
    for (ns, v) in udps {
        udp.push(vec![("netns", ns)], v as f64);
    }
    fams.push(gauge);
    fams.push(tcp);
    fams.push(udp);

    // Processes and ports: the busiest of the last 24 h, each with its all-time bytes.
    let day_ago = window::sums(
        conn,
        &mut Roller::new(),
        &h,
        &[Kind::Proc, Kind::Port],
        now_ms - DAY_MS,
        now_ms + 1,
    )?;
    let mut label = "name";
    let mut procs: HashMap<String, (Merged, u64)> = HashMap::new();
    let (mut arx, mut atx, mut afirst) = (0u64, 0u64, i64::MAX);
    for p in series::procs(conn)? {
        let Some(a) = get(p.series) else { continue };
        arx += a.total.first().copied().unwrap_or(0);
        atx += a.total.get(1).copied().unwrap_or(0);
        afirst = afirst.min(a.first_day);
        let (l, key) = proc_label(m.by, &p);
        label = l;
        let e = procs.entry(key).or_default();
        e.0.add(a);
        if let Some(v) = day_ago.by_series.get(&p.series) {
            e.1 += Vector(v).rx() + Vector(v).tx();
        }
    }
    let mut ranked: Vec<(String, (Merged, u64))> =
        procs.into_iter().filter(|(_, (_, d))| *d > 0).collect();
    ranked.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
    ranked.truncate(m.processes);
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
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
    for (k, (v, _)) in &ranked {
        prx.push(vec![(label, k.clone())], v.at(0)).created_s = Some(v.created_s());
        ptx.push(vec![(label, k.clone())], v.at(1)).created_s = Some(v.created_s());
    }
    fams.push(prx);
    fams.push(ptx);
    let created = (afirst.clamp(0, rollup::MAX_DAY) * DAY_MS / 1000) as f64;
    let mut f = Family::new(
        "nrec_attributed_receive_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes received that nrec credited to a process (all processes)",
    );
    if afirst != i64::MAX {
        f.push(vec![], arx as f64).created_s = Some(created);
    }
    fams.push(f);
    let mut f = Family::new(
        "nrec_attributed_transmit_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes transmitted that nrec credited to a process (all processes)",
    );
    if afirst != i64::MAX {
        f.push(vec![], atx as f64).created_s = Some(created);
    }
    fams.push(f);

    let mut ports: HashMap<(String, String), (Merged, u64)> = HashMap::new();
    for d in series::details(conn, Kind::Port, None)? {
        let Some(a) = get(d.series) else { continue };
        let e = ports
            .entry((crate::output::escape_text(&d.proto), d.port.to_string()))
            .or_default();
        e.0.add(a);
        if let Some(v) = day_ago.by_series.get(&d.series) {
            e.1 += Vector(v).rx() + Vector(v).tx();
        }
    }
    let mut ranked: Vec<((String, String), (Merged, u64))> =
        ports.into_iter().filter(|(_, (_, d))| *d > 0).collect();
    ranked.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
    ranked.truncate(m.ports);
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rx = Family::new(
        "nrec_port_receive_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes received by processes on this local service port (TCP, sock_diag), all time; the busiest of the last 24 h are exposed",
    );
    let mut tx = Family::new(
        "nrec_port_transmit_bytes",
        Type::Counter,
        Some("bytes"),
        "Bytes transmitted by processes on this local service port, all time",
    );
    for ((proto, port), (v, _)) in &ranked {
        let l = vec![("proto", proto.clone()), ("port", port.clone())];
        rx.push(l.clone(), v.at(0)).created_s = Some(v.created_s());
        tx.push(l, v.at(1)).created_s = Some(v.created_s());
    }
    fams.push(rx);
    fams.push(tx);

    // The host's time series: samples, eBPF losses, unattributed bytes.
    let mut t = Merged::default();
    for id in series::time_series(conn)? {
        if let Some(a) = get(id) {
            t.add(a);
        }
    }
    let created = t.created_s();
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
    let mut f = Family::new(
        "nrec_last_sample_timestamp_seconds",
        Type::Gauge,
        Some("seconds"),
        "When the newest sample was taken (Unix time)",
    );
    f.push(vec![], last.ts_ms as f64 / 1000.0);
    fams.push(f);
    let mut f = Family::new(
        "nrec_sample_interval_seconds",
        Type::Gauge,
        Some("seconds"),
        "The recording interval (the median of the newest 20 intervals)",
    );
    if let Some(i) = query::recording_interval_ms(conn)? {
        f.push(vec![], i as f64 / 1000.0);
    }
    fams.push(f);
    let tot = series::Totals::of(
        conn,
        &window::sums(
            conn,
            &mut Roller::new(),
            &h,
            &[Kind::Iface, Kind::Proc, Kind::Time, Kind::Attrib],
            now_ms - DAY_MS,
            now_ms + 1,
        )?,
    )?;
    let mut f = Family::new(
        "nrec_attribution_coverage_ratio",
        Type::Gauge,
        Some("ratio"),
        "Share of the last 24 h's interface bytes credited to processes (0-1)",
    );
    // of the interface bytes plus what sockets moved beyond them (series::Balance): at most 1
    if let Some(c) = tot.procs().coverage() {
        f.push(vec![], c);
    }
    fams.push(f);
    Ok(fams)
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

/// Which families a table narrows `export --format openmetrics` to (None: all).
pub fn family_in(name: &str, table: Option<crate::cli::ExportTable>) -> bool {
    use crate::cli::ExportTable as T;
    match table {
        None => true,
        Some(T::Iface) => name.starts_with("nrec_network_"),
        Some(T::Proto) => {
            name.starts_with("nrec_protocol_")
                || name.starts_with("nrec_tcp_")
                || name.starts_with("nrec_udp_")
        }
        Some(T::Proc) => name.starts_with("nrec_process_") || name.starts_with("nrec_attributed_"),
        Some(T::Port) => name.starts_with("nrec_port_"),
        Some(T::Attrib) => {
            name.starts_with("nrec_unattributed_") || name.starts_with("nrec_attribution_")
        }
        Some(T::Time) => {
            matches!(
                name,
                "nrec_samples" | "nrec_ebpf_lost_calls" | "nrec_ebpf_lost_bytes"
            ) || name.starts_with("nrec_last_sample")
                || name.starts_with("nrec_sample_interval")
        }
        Some(T::Host) => false,
    }
}

/// A failure while writing history: the database's or the output's.
pub enum HistoryError {
    Db(rusqlite::Error),
    Io(std::io::Error),
}

impl From<rusqlite::Error> for HistoryError {
    fn from(e: rusqlite::Error) -> Self {
        HistoryError::Db(e)
    }
}
impl From<std::io::Error> for HistoryError {
    fn from(e: std::io::Error) -> Self {
        HistoryError::Io(e)
    }
}

/// One label set's history: its value before the window, then what each bucket added.
#[derive(Default)]
struct Track {
    base: Vec<u64>,
    steps: BTreeMap<i64, Vec<u64>>,
}

/// The counters' history over `(a, b]` in OpenMetrics with timestamps — the same absolute
/// values a scrape shows (sums since recording began), at the end of every stored bucket:
/// quarter hours where their detail is kept, UTC days beyond. For
/// `promtool tsdb create-blocks-from openmetrics`. Streamed family by family; memory holds
/// the window's buckets per label set.
pub fn history(
    conn: &Connection,
    (a, b): (i64, i64),
    m: &Metrics,
    table: Option<crate::cli::ExportTable>,
    out: &mut dyn std::io::Write,
) -> Result<(), HistoryError> {
    let h = Horizons::load(conn)?;
    let d0 = a.div_euclid(DAY_MS);
    let d1 = (b - 1).div_euclid(DAY_MS) + 1;
    let kinds = [Kind::Iface, Kind::Proc, Kind::Port, Kind::Time];
    let before = all_time(conn, &kinds, d0)?;
    // per series: bucket end → increment
    let mut inc: HashMap<i64, BTreeMap<i64, Vec<u64>>> = HashMap::new();
    for k in kinds {
        rollup::for_each_row(
            conn,
            k,
            (d0, d1),
            |e| e,
            |day, series, row| {
                let base = day * DAY_MS;
                let e = inc.entry(series).or_default();
                let mut put = |end: i64, v: &[u64]| {
                    if end > a && end <= b {
                        rollup::add_into(e.entry(end).or_default(), v);
                    }
                };
                match row.quarters.as_ref().filter(|_| day >= h.quarters_from_day) {
                    Some(qs) => {
                        for (q, v) in qs {
                            put(base + (i64::from(*q) + 1) * rollup::QUARTER_MS, v);
                        }
                    }
                    None => put(base + DAY_MS, &row.total),
                }
                Ok(())
            },
        )?;
    }
    let track = |tracks: &mut BTreeMap<String, Track>, key: String, series: i64| {
        let t = tracks.entry(key).or_default();
        if let Some(p) = before.get(&series) {
            rollup::add_into(&mut t.base, &p.total);
        }
        if let Some(steps) = inc.get(&series) {
            for (end, v) in steps {
                rollup::add_into(t.steps.entry(*end).or_default(), v);
            }
        }
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut label = String::new();
    let lv = |k: &str, v: &str, into: &mut String| {
        if !into.is_empty() {
            into.push(',');
        }
        into.push_str(k);
        into.push_str("=\"");
        crate::output::openmetrics::label_value(v, into);
        into.push('"');
    };
    // interfaces
    let mut ifaces: BTreeMap<String, Track> = BTreeMap::new();
    for i in series::ifaces(conn)? {
        label.clear();
        lv("netns", &ns_label(&i.netns), &mut label);
        lv("device", &escape_bytes(&i.name), &mut label);
        track(&mut ifaces, label.clone(), i.series);
    }
    for (k, (name, unit, help)) in NET.iter().enumerate() {
        if family_in(name, table) {
            write_family(&mut out, name, *unit, help, &ifaces, k)?;
        }
    }
    // processes and ports: the busiest of the window
    let mut procs: BTreeMap<String, Track> = BTreeMap::new();
    let mut attributed: BTreeMap<String, Track> = BTreeMap::new();
    for p in series::procs(conn)? {
        let (lab, key) = proc_label(m.by, &p);
        label.clear();
        lv(lab, &key, &mut label);
        track(&mut procs, label.clone(), p.series);
        track(&mut attributed, String::new(), p.series);
    }
    keep_busiest(&mut procs, m.processes);
    let mut ports: BTreeMap<String, Track> = BTreeMap::new();
    for d in series::details(conn, Kind::Port, None)? {
        label.clear();
        lv("proto", &crate::output::escape_text(&d.proto), &mut label);
        lv("port", &d.port.to_string(), &mut label);
        track(&mut ports, label.clone(), d.series);
    }
    keep_busiest(&mut ports, m.ports);
    let mut time: BTreeMap<String, Track> = BTreeMap::new();
    for id in series::time_series(conn)? {
        track(&mut time, String::new(), id);
    }
    for (name, unit, help, set, i) in [
        (
            "nrec_process_receive_bytes",
            Some("bytes"),
            "Bytes received by the processes of this name (unit, container)",
            &procs,
            0,
        ),
        (
            "nrec_process_transmit_bytes",
            Some("bytes"),
            "Bytes transmitted by the processes of this name (unit, container)",
            &procs,
            1,
        ),
        (
            "nrec_attributed_receive_bytes",
            Some("bytes"),
            "Bytes received that nrec credited to a process (all processes)",
            &attributed,
            0,
        ),
        (
            "nrec_attributed_transmit_bytes",
            Some("bytes"),
            "Bytes transmitted that nrec credited to a process (all processes)",
            &attributed,
            1,
        ),
        (
            "nrec_port_receive_bytes",
            Some("bytes"),
            "Bytes received by processes on this local service port",
            &ports,
            0,
        ),
        (
            "nrec_port_transmit_bytes",
            Some("bytes"),
            "Bytes transmitted by processes on this local service port",
            &ports,
            1,
        ),
        (
            "nrec_unattributed_receive_bytes",
            Some("bytes"),
            "Interface bytes received that no process was credited with (per sample, clamped at zero)",
            &time,
            6,
        ),
        (
            "nrec_unattributed_transmit_bytes",
            Some("bytes"),
            "Interface bytes transmitted that no process was credited with (per sample, clamped at zero)",
            &time,
            7,
        ),
        ("nrec_samples", None, "Samples recorded", &time, 0),
    ] {
        if family_in(name, table) {
            write_family(&mut out, name, unit, help, set, i)?;
        }
    }
    out.write_all(b"# EOF\n")?;
    out.flush()?;
    Ok(())
}

/// Keeps the `n` label sets that grew the most over the window.
fn keep_busiest(set: &mut BTreeMap<String, Track>, n: usize) {
    let grown = |t: &Track| -> u64 {
        t.steps
            .values()
            .map(|v| v.iter().take(2).sum::<u64>())
            .sum()
    };
    let mut ranked: Vec<(u64, String)> = set
        .iter()
        .filter(|(_, t)| !t.steps.is_empty())
        .map(|(k, t)| (grown(t), k.clone()))
        .filter(|(g, _)| *g > 0)
        .collect();
    ranked.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    let keep: std::collections::HashSet<String> =
        ranked.into_iter().take(n).map(|(_, k)| k).collect();
    set.retain(|k, _| keep.contains(k));
}

/// One counter family's history: field `i` of every label set, cumulative, one line per bucket.
fn write_family(
    out: &mut dyn std::io::Write,
    name: &str,
    unit: Option<&str>,
    help: &str,
    set: &BTreeMap<String, Track>,
    i: usize,
) -> std::io::Result<()> {
    if set.values().all(|t| t.steps.is_empty()) {
        return Ok(());
    }
    writeln!(out, "# TYPE {name} counter")?;
    if let Some(u) = unit {
        writeln!(out, "# UNIT {name} {u}")?;
    }
    writeln!(out, "# HELP {name} {help}")?;
    for (labels, t) in set.iter().filter(|(_, t)| !t.steps.is_empty()) {
        let mut v = t.base.get(i).copied().unwrap_or(0);
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        for (end, d) in &t.steps {
            v = v.saturating_add(d.get(i).copied().unwrap_or(0));
            writeln!(
                out,
                "{name}_total{braces} {v} {}.{:03}",
                end.div_euclid(1000),
                end.rem_euclid(1000)
            )?;
        }
    }
    Ok(())
}
