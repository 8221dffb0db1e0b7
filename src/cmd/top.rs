//! `nrec top-procs`, `top-ports`, `top-hosts`: who moved the bytes over a window.
//!
//! Totals add up: the rows and an explicit `(unattributed)` row add up to the window's total —
//! the interface bytes (rx and tx, every namespace), plus what sockets moved beyond them
//! (`series::Balance`: multicast copies, namespaces nrec never sampled), said in the coverage
//! line, which also says how much was attributed and by which source.

use crate::cli::{By, Format, TopArgs};
use crate::cmd::Global;
use crate::error::{Error, Result};
use crate::output::units::{bytes as size, pct};
use crate::output::{Cell, Rows, escape_bytes, escape_text, write_error};
use crate::store;
use crate::store::rollup::{Kind, Roller};
use crate::store::series::{self, Balance, Totals, TotalsLabels, Vector};
use crate::store::window::{self, Horizons, Sums};
use rusqlite::Connection;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Procs,
    Ports,
    Hosts,
}

/// One ranked row.
struct Entry {
    key: String,
    rx: u64,
    tx: u64,
    /// The processes behind a port or host, busiest first.
    procs: Vec<String>,
    /// A unit's `Description=` (`top-procs --by unit`).
    description: Option<String>,
}

/// Where the window's bytes came from: "ebpf", "sock_diag" or "mixed". Ports and hosts
/// are always sock_diag's (eBPF counts per process only).
fn source(t: &Totals, what: What) -> &'static str {
    if !matches!(what, What::Procs) {
        return "sock_diag";
    }
    match (t.ebpf_ms, t.elapsed_ms) {
        (0, _) => "sock_diag",
        (e, t) if e >= t => "ebpf",
        _ => "mixed",
    }
}

fn source_text(t: &Totals, what: What) -> String {
    const EBPF: &str = "eBPF (TCP and UDP payload of every process, short-lived ones included; \
                        headers, other protocols and splice reads are unattributed)";
    const DIAG: &str = "sock_diag (TCP payload; UDP, headers and connections that opened and \
                        closed between samples are unattributed)";
    match source(t, what) {
        "ebpf" => EBPF.into(),
        "sock_diag" => DIAG.into(),
        _ => format!(
            "{EBPF} for {:.1}% of the sampled time, {DIAG} for the rest",
            pct(t.ebpf_ms, t.elapsed_ms)
        ),
    }
}

/// A user name for a uid, from the passwd database; the number when there is none.
fn user_name(uid: u32) -> String {
    crate::sys::user_name(uid)
        .map(|n| escape_bytes(&n))
        .unwrap_or_else(|| uid.to_string())
}

fn proc_key(by: By, p: &series::ProcSeries) -> String {
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
        By::User => p
            .uid
            .and_then(|u| u32::try_from(u).ok())
            .map(user_name)
            .unwrap_or_else(|| "?".into()),
        By::Pid => format!("{} {name}", p.pid),
    }
}

/// Bytes (rx, tx) per network namespace name.
type PerNs = HashMap<Vec<u8>, (u64, u64)>;

/// A series a ranking folds into a row: the row's key, the series' namespace, the process
/// name behind it (ports and hosts list theirs), a unit's description.
struct Member {
    series: i64,
    key: String,
    netns: Vec<u8>,
    comm: Option<String>,
    description: Option<String>,
}

/// The rows of a window's sums (the whole window's, or one bucket's of it): each process, port
/// or host series folded into its row's key, worked out once for every window ranked.
struct Ranker<'a> {
    conn: &'a Connection,
    what: What,
    only: Option<&'a str>,
    members: Vec<Member>,
    labels: TotalsLabels,
}

impl<'a> Ranker<'a> {
    /// Rows by `by` (processes) or by port or host, of container `only` when given.
    fn new(
        conn: &'a Connection,
        procs: &[series::ProcSeries],
        what: What,
        by: By,
        only: Option<&'a str>,
    ) -> rusqlite::Result<Ranker<'a>> {
        let mut members = Vec::new();
        match what {
            What::Procs => {
                for p in procs
                    .iter()
                    .filter(|p| only.is_none_or(|c| p.in_container(c)))
                {
                    members.push(Member {
                        series: p.series,
                        key: proc_key(by, p),
                        netns: p.netns.clone(),
                        comm: None,
                        description: p.unit_description.clone().filter(|_| by == By::Unit),
                    });
                }
            }
            What::Ports | What::Hosts => {
                let of: Option<HashSet<i64>> = only.map(|c| {
                    procs
                        .iter()
                        .filter(|p| p.in_container(c))
                        .map(|p| p.process)
                        .collect()
                });
                let kind = if what == What::Ports {
                    Kind::Port
                } else {
                    Kind::Host
                };
                for d in series::details(conn, kind, None)? {
                    if of.as_ref().is_some_and(|o| !o.contains(&d.process)) {
                        continue;
                    }
                    let key = match kind {
                        Kind::Port => format!("{}/{}", d.proto, d.port),
                        _ if d.addr == "*" => "(other hosts)".to_string(),
                        // an IPv4 peer of a dual-stack socket is an IPv4 host; a host seen
                        // from another namespace is another network's, named with it (as
                        // interfaces are)
                        _ => {
                            let addr = crate::output::unmap_v4(&d.addr);
                            match &d.netns[..] {
                                b"root" | b"" => addr.to_string(),
                                ns => format!("{addr}@{}", escape_bytes(ns)),
                            }
                        }
                    };
                    members.push(Member {
                        series: d.series,
                        key,
                        netns: d.netns,
                        comm: Some(escape_bytes(&d.comm)),
                        description: None,
                    });
                }
            }
        }
        Ok(Ranker {
            conn,
            what,
            only,
            members,
            labels: TotalsLabels::load(conn)?,
        })
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
    fn rank(&self, sums: &Sums) -> (Vec<Entry>, Balance, Totals) {
        let t = self.labels.totals(sums);
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

/// A row as [`window_rows`] gives it: (key, the processes behind it, rx, tx).
pub(crate) type WindowRow = (String, String, u64, u64);

/// The rows of one stored window as `top-*` ranks them (unsorted) and its `(unattributed)`
/// bytes: `nrec top`'s view of a recorded interval.
pub(crate) fn window_rows(
    conn: &Connection,
    what: What,
    by: By,
    (start, end): (i64, i64),
) -> rusqlite::Result<(Vec<WindowRow>, (u64, u64))> {
    let procs = series::procs(conn)?;
    let ranker = Ranker::new(conn, &procs, what, by, None)?;
    let h = Horizons::load(conn)?;
    let sums = window::sums(conn, &mut Roller::new(), &h, &kinds(what), start, end)?;
    let (entries, bal, _) = ranker.rank(&sums);
    let rows = entries
        .into_iter()
        .map(|e| (e.key, e.procs.join(", "), e.rx, e.tx))
        .collect();
    Ok((rows, bal.unattributed))
}

/// Kinds a ranking reads: the rows' own, and what the balance and the coverage line need.
fn kinds(what: What) -> [Kind; 5] {
    let kind = match what {
        What::Procs => Kind::Proc,
        What::Ports => Kind::Port,
        What::Hosts => Kind::Host,
    };
    [kind, Kind::Iface, Kind::Attrib, Kind::Time, Kind::Proc]
}

/// The window cut into at most [`MAX_BUCKETS`] buckets of a round length, no shorter than the
/// recorder's interval (a bucket between two samples would be empty, the next one double) nor
/// than what is still stored at the window's start (quarter hours or days past retention);
/// inner boundaries on multiples of the length (UTC), so rollups fill whole buckets.
pub(crate) fn bucket_edges(
    conn: &Connection,
    h: &Horizons,
    start: i64,
    end: i64,
) -> rusqlite::Result<Vec<i64>> {
    const STEPS: [i64; 13] = crate::time::ROUND_STEPS_MS;
    let stored = match h.finest(start) {
        window::Resolution::Raw => 0,
        window::Resolution::Quarter => store::rollup::QUARTER_MS,
        window::Resolution::Day => store::rollup::DAY_MS,
    };
    // the recorder's usual interval: the median time between the window's raw samples
    let times: Vec<i64> = conn
        .prepare_cached(
            "SELECT ts_ms FROM sample WHERE ts_ms > ?1 AND ts_ms <= ?2 ORDER BY ts_ms LIMIT 4096",
        )?
        .query_map([start, end], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut intervals: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    intervals.sort_unstable();
    let interval = intervals.get(intervals.len() / 2).copied().unwrap_or(0);
    let span = (end - start).max(1);
    let step = STEPS
        .into_iter()
        .find(|s| *s >= stored && *s >= interval && span / s < MAX_BUCKETS)
        .unwrap_or(STEPS[STEPS.len() - 1]);
    let mut edges = vec![start];
    let mut t = (start.div_euclid(step) + 1) * step;
    while t < end {
        edges.push(t);
        t += step;
    }
    edges.push(end);
    Ok(edges)
}

/// At most this many buckets in a window's picture over time.
const MAX_BUCKETS: i64 = 120;

/// How many rows have their own layer over time; the rest are one `(other …)` layer.
const LAYERS: usize = 7;

/// The ranked rows `keys` over the window in buckets, with `(other …)` and `(unattributed)`.
fn stack(
    ranker: &Ranker,
    h: &Horizons,
    (start, end): (i64, i64),
    keys: &[String],
    other_key: &str,
) -> rusqlite::Result<crate::output::svg::Stack> {
    use crate::output::svg::{Layer, Stack};
    let edges = bucket_edges(ranker.conn, h, start, end)?;
    let n = edges.len() - 1;
    let shown = &keys[..keys.len().min(LAYERS)];
    let layer = |label: &str, muted| Layer {
        label: label.to_string(),
        muted,
        bytes: vec![(0, 0); n],
    };
    let mut layers: Vec<Layer> = shown.iter().map(|k| layer(k, false)).collect();
    layers.push(layer(other_key, true));
    layers.push(layer("(unattributed)", true));
    let mut sampled = vec![false; n];
    let each = window::sums_each(
        ranker.conn,
        &mut Roller::new(),
        h,
        &kinds(ranker.what),
        &edges.windows(2).map(|w| (w[0], w[1])).collect::<Vec<_>>(),
    )?;
    for (i, sums) in each.iter().enumerate() {
        let (entries, bal, t) = ranker.rank(sums);
        sampled[i] = t.elapsed_ms > 0;
        for e in entries {
            let l = shown
                .iter()
                .position(|k| *k == e.key)
                .unwrap_or(shown.len());
            let b = &mut layers[l].bytes[i];
            b.0 += e.rx;
            b.1 += e.tx;
        }
        let u = layers.len() - 1;
        layers[u].bytes[i] = bal.unattributed;
    }
    // an (other …) layer that never holds anything is not drawn
    let o = layers.len() - 2;
    if layers[o].bytes.iter().all(|b| *b == (0, 0)) {
        layers.remove(o);
    }
    Ok(Stack {
        edges,
        sampled,
        layers,
    })
}

pub fn run(what: What, by: By, args: &TopArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let (window, tz) = super::window(&args.window, Some("24h"))?;
    if args.limit == 0 {
        return Err(Error::usage("--limit must be at least 1"));
    }
    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let db = |e| Error::sqlite(&path, e);
    let h = Horizons::load(&conn).map_err(db)?;
    let sums = window::sums(
        &conn,
        &mut Roller::new(),
        &h,
        &kinds(what),
        window.start_ms(),
        window.end_ms(),
    )
    .map_err(db)?;
    super::note_resolution(g, sums.edges, &h, &tz);
    let procs = series::procs(&conn).map_err(db)?;
    let ranker = Ranker::new(&conn, &procs, what, by, args.container.as_deref()).map_err(db)?;
    // The rows' side of the equation per namespace, against the interfaces'.
    let (mut entries, bal, t) = ranker.rank(&sums);
    entries.sort_by(|a, b| (b.rx + b.tx).cmp(&(a.rx + a.tx)).then(a.key.cmp(&b.key)));
    let other_key = match what {
        What::Procs => "(other processes)",
        What::Ports => "(other ports)",
        What::Hosts => "(other hosts)",
    };
    // Every entry is counted once per direction, so the attributed sum is over all entries,
    // shown or not; for ports the same bytes are not split further, for hosts likewise.
    let (urx, utx) = bal.unattributed;
    let whole = bal.total();
    // Past --limit (and the hosts a process used beyond the ones tracked one by one), the
    // rest is one `(other …)` row, so the rows always add up to the interface total.
    let (mut ranked, mut rest): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.key != other_key);
    if ranked.len() > args.limit {
        rest.extend(ranked.split_off(args.limit));
    }
    let entries = ranked;
    let other = rest.into_iter().fold(
        Entry {
            key: other_key.to_string(),
            rx: 0,
            tx: 0,
            procs: Vec::new(),
            description: None,
        },
        |mut o, e| {
            o.rx += e.rx;
            o.tx += e.tx;
            for p in e.procs {
                if !o.procs.contains(&p) {
                    o.procs.push(p);
                }
            }
            o
        },
    );
    let other = (other.rx + other.tx > 0).then_some(other);
    let head = match what {
        What::Procs => "NAME",
        What::Ports => "PORT",
        What::Hosts => "HOST",
    };
    let coverage = bal.coverage().unwrap_or(0.0) * 100.0;
    let command = match what {
        What::Procs => "top-procs",
        What::Ports => "top-ports",
        What::Hosts => "top-hosts",
    };
    let mut o = super::output(out, args.format, command, &conn, &path, Some(&window), &tz)?;
    // units carry what they are (their Description=)
    let described = what == What::Procs && by == By::Unit;
    let mut columns = vec![
        "rank",
        "name",
        "rx_bytes",
        "tx_bytes",
        "total_bytes",
        "share",
        "processes",
    ];
    if described {
        columns.push("description");
    }
    let mut rows = Rows::new(&columns);
    // rank (none for the (other …) and (unattributed) rows), the entry (name, rx, tx,
    // processes, description)
    let row = |rank: Cell, e: &Entry| {
        let mut r = vec![
            rank,
            Cell::text(&e.key),
            e.rx.into(),
            e.tx.into(),
            (e.rx + e.tx).into(),
            Cell::Num(pct(e.rx + e.tx, whole) / 100.0, 4),
            Cell::List(e.procs.clone()),
        ];
        if described {
            r.push(e.description.as_deref().map_or(Cell::Null, Cell::text));
        }
        r
    };
    for (i, e) in entries.iter().enumerate() {
        rows.push(row(Cell::from(i + 1), e));
    }
    if let Some(e) = &other {
        rows.push(row(Cell::Null, e));
    }
    let unattributed = Entry {
        key: "(unattributed)".into(),
        rx: urx,
        tx: utx,
        procs: Vec::new(),
        description: None,
    };
    rows.push(row(Cell::Null, &unattributed));
    if args.format.is_picture() {
        use crate::output::svg::{Bar, ranked_bars};
        let bar = |e: &Entry, muted: bool| Bar {
            label: e.key.clone(),
            rx: e.rx,
            tx: e.tx,
            muted,
        };
        let mut bars: Vec<Bar> = entries.iter().map(|e| bar(e, false)).collect();
        bars.extend(other.iter().map(|e| bar(e, true)));
        bars.push(bar(&unattributed, true));
        let title = o.picture_title(&match what {
            What::Procs => format!("by {}", format!("{by:?}").to_lowercase()),
            _ => String::new(),
        });
        let note = format!(
            "{coverage:.1}% of {} (rx+tx, all namespaces) attributed; source: {}",
            size(whole),
            source(&t, what)
        );
        let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
        let over_time = stack(
            &ranker,
            &h,
            (window.start_ms(), window.end_ms()),
            &keys,
            other_key,
        )
        .map_err(db)?;
        return o.picture(&ranked_bars(
            &title,
            &note,
            &bars,
            whole,
            Some((&over_time, &tz)),
        ));
    }
    if args.format != Format::Table {
        let by = match what {
            What::Procs => format!("{by:?}").to_lowercase(),
            What::Ports => "port".into(),
            What::Hosts => "host".into(),
        };
        let body = json!({
            "by": by,
            "unattributed": { "rx_bytes": urx, "tx_bytes": utx, "total_bytes": urx + utx,
                              "on_sockets_without_process": t.unowned_rx + t.unowned_tx },
            "interface_bytes": { "rx": bal.iface.0, "tx": bal.iface.1 },
            "attributed_bytes": { "rx": bal.attributed.0, "tx": bal.attributed.1 },
            "beyond_interfaces": { "rx": bal.beyond.0, "tx": bal.beyond.1 },
            "unsampled_namespaces": { "rx": bal.unsampled.0, "tx": bal.unsampled.1 },
            "total_bytes": whole,
            "coverage": coverage / 100.0,
            "source": source(&t, what),
            "ebpf_share": t.ebpf_share().unwrap_or(0.0),
            "edges": sums.edges.describe(),
        });
        let Some(body) = body.as_object().cloned() else {
            return Ok(());
        };
        return o.rows(&rows, body).map_err(write_error);
    }
    table(
        o.text(),
        head,
        match what {
            What::Procs if described => "  DESCRIPTION",
            What::Procs => "",
            _ => "  PROCESSES",
        },
        &entries,
        other.as_ref(),
        (urx, utx),
        whole,
    )
    .and_then(|()| {
        writeln!(
            o.text(),
            "coverage: {coverage:.1}% of {} {}(rx+tx, all namespaces, {}) attributed to {}{}; \
                 source: {}{}",
            size(whole),
            if bal.extra() == 0 {
                "interface bytes "
            } else {
                ""
            },
            window.label,
            match what {
                What::Procs => "processes",
                What::Ports => "ports",
                What::Hosts => "hosts",
            },
            both_sides(&bal),
            source_text(&t, what),
            if t.unowned_rx + t.unowned_tx > 0 {
                format!(
                    "; {} were on sockets with no known process",
                    size(t.unowned_rx + t.unowned_tx)
                )
            } else {
                String::new()
            }
        )
    })
    .map_err(write_error)
}

/// When the rows hold more than the interfaces carried in some namespace, both sides of the
/// total and why they differ (empty otherwise: the total is the interface bytes).
fn both_sides(b: &Balance) -> String {
    let sum = |(r, t): (u64, u64)| r + t;
    if b.extra() == 0 {
        return String::new();
    }
    let mut why = Vec::new();
    if sum(b.beyond) > 0 {
        why.push(format!(
            "{} more than their namespace's interfaces carried (a datagram multicast or broadcast \
             to several local sockets reaches each; a namespace of unknown age seen for the first time)",
            size(sum(b.beyond))
        ));
    }
    if sum(b.unsampled) > 0 {
        why.push(format!(
            "{} in network namespaces nrec never sampled (created and gone between two samples)",
            size(sum(b.unsampled))
        ));
    }
    format!(
        "; the interfaces carried {}, the rows hold {}: {}",
        size(sum(b.iface)),
        size(sum(b.attributed)),
        why.join(", ")
    )
}

/// The ranked rows, the `(other …)` row and `(unattributed)`. The name column is as wide as
/// its longest name (as `ss` and `ps` size theirs), so the numbers stay aligned.
fn table(
    out: &mut dyn Write,
    head: &str,
    trailing: &str,
    entries: &[Entry],
    other: Option<&Entry>,
    (urx, utx): (u64, u64),
    whole: u64,
) -> std::io::Result<()> {
    let w = crate::output::column_width(
        "(unattributed)".len(),
        entries.iter().chain(other).map(|e| e.key.chars().count()),
    );
    writeln!(
        out,
        "{:>4}  {:<w$} {:>11} {:>11} {:>11} {:>6}{}",
        "RANK", head, "RX", "TX", "TOTAL", "SHARE", trailing
    )?;
    let ranks = (1..=entries.len())
        .map(|i| i.to_string())
        .chain(other.map(|_| String::new()));
    for (rank, e) in ranks.zip(entries.iter().chain(other)) {
        write!(
            out,
            "{:>4}  {:<w$} {:>11} {:>11} {:>11} {:>5.1}%",
            rank,
            e.key,
            size(e.rx),
            size(e.tx),
            size(e.rx + e.tx),
            pct(e.rx + e.tx, whole)
        )?;
        if !e.procs.is_empty() {
            write!(out, "  {}", e.procs.join(", "))?;
        }
        if let Some(d) = &e.description {
            write!(out, "  {}", escape_text(d))?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "{:>4}  {:<w$} {:>11} {:>11} {:>11} {:>5.1}%",
        "",
        "(unattributed)",
        size(urx),
        size(utx),
        size(urx + utx),
        pct(urx + utx, whole)
    )
}
