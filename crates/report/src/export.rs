//! `nrec export TABLE`: the raw or rolled-up series of one table over a window, as CSV or
//! JSON lines, streamed: memory holds one UTC day of rows (and the series labels), whatever
//! the window's length. A progress line goes to stderr when asked (a terminal).
//!
//! Raw rows are the per-sample contributions the rollups are built from (deltas, not the
//! kernel's cumulative readings), so a raw export and a rolled-up one add up the same way.

use crate::output::{Cell, Format, Output, write_error};
use nrec_model::error::{Error, Result};
use nrec_model::filter::{IfaceFilter, Unmatched};
use nrec_model::scope::{Networks, class_of_text};
use nrec_model::time::{DAY_MS, Window};
use nrec_store::Reader;
use nrec_store::rollup::{Kind, is_gauge};
use nrec_store::window::{Edge, Resolution, Step};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const DEV: [&str; 16] = [
    "rx_bytes",
    "rx_packets",
    "rx_errs",
    "rx_drop",
    "rx_fifo",
    "rx_frame",
    "rx_compressed",
    "rx_multicast",
    "tx_bytes",
    "tx_packets",
    "tx_errs",
    "tx_drop",
    "tx_fifo",
    "tx_colls",
    "tx_carrier",
    "tx_compressed",
];

/// Label columns and value columns of a table.
fn columns(t: Kind) -> (Vec<&'static str>, Vec<&'static str>) {
    match t {
        Kind::Iface => (vec!["netns", "iface"], {
            let mut v = DEV.to_vec();
            v.extend(["counted_ms", "intervals", "uncounted_intervals"]);
            v
        }),
        Kind::Proto => (vec!["netns", "counter", "type"], vec!["sum", "readings"]),
        Kind::Proc => (vec!["pid", "process"], vec!["rx_bytes", "tx_bytes"]),
        Kind::Port => (
            vec!["pid", "process", "proto", "port", "family", "scope"],
            vec!["rx_bytes", "tx_bytes"],
        ),
        Kind::Host => (
            vec!["pid", "process", "addr", "family", "scope"],
            vec!["rx_bytes", "tx_bytes"],
        ),
        Kind::Attrib => (
            vec!["netns"],
            vec![
                "rx_bytes",
                "tx_bytes",
                "unowned_rx_bytes",
                "unowned_tx_bytes",
            ],
        ),
        Kind::Time => (
            vec![],
            vec![
                "samples",
                "intervals",
                "elapsed_ms",
                "ebpf_elapsed_ms",
                "ebpf_lost_calls",
                "ebpf_lost_bytes",
                "unattributed_rx_bytes",
                "unattributed_tx_bytes",
                "ebpf_conns_elapsed_ms",
            ],
        ),
    }
}

/// Series id → label cells (and, for protocol series, the keyset's counter names).
struct Labels {
    cells: HashMap<i64, Vec<Cell>>,
    names: HashMap<i64, Vec<String>>,
}

/// The labels of table `t`'s series — of container `only`'s, of the interfaces and
/// namespaces `ifaces` chooses.
fn labels(
    r: &Reader,
    t: Kind,
    only: Option<&str>,
    ifaces: &IfaceFilter,
    lan: &Networks,
) -> Result<Labels> {
    let mut cells = HashMap::new();
    let mut names = HashMap::new();
    // a container's namespace is named after it; its processes say they ran in it
    let ns_ok = |ns: &[u8]| only.is_none_or(|c| ns == c.as_bytes()) && ifaces.netns_matches(ns);
    let procs = match t {
        Kind::Proc | Kind::Port | Kind::Host => r.procs()?,
        _ => Vec::new(),
    };
    let mine: std::collections::HashSet<i64> = procs
        .iter()
        .filter(|p| only.is_none_or(|c| p.in_container(c)))
        .map(|p| p.process)
        .collect();
    match t {
        Kind::Iface => {
            for i in r
                .ifaces()?
                .into_iter()
                .filter(|i| ns_ok(&i.netns) && ifaces.matches(&i.netns, &i.name))
            {
                cells.insert(i.series, vec![Cell::bytes(&i.netns), Cell::bytes(&i.name)]);
            }
        }
        Kind::Proto | Kind::Attrib => {
            for n in r.netns_series(t)?.into_iter().filter(|n| ns_ok(&n.netns)) {
                cells.insert(n.series, vec![Cell::bytes(&n.netns)]);
                if t == Kind::Proto {
                    names.insert(n.series, n.names);
                }
            }
        }
        Kind::Proc => {
            for p in procs.iter().filter(|p| mine.contains(&p.process)) {
                cells.insert(p.series, vec![p.pid.into(), Cell::bytes(&p.comm)]);
            }
        }
        Kind::Port | Kind::Host => {
            for d in r
                .details(t, None)?
                .into_iter()
                .filter(|d| mine.contains(&d.process))
            {
                let mut v = vec![d.pid.into(), Cell::bytes(&d.comm)];
                if t == Kind::Port {
                    // the class of the peers its bytes were with, recorded by the built-in
                    // ranges (empty: not known, or recorded before ports had one)
                    let class = class_of_text(&d.addr, &Networks::default());
                    v.push(Cell::text(d.proto));
                    v.push(d.port.into());
                    v.extend(crate::output::class_cells(class));
                } else {
                    // its traffic class, as top-hosts writes it (a folded rest row's marker
                    // names its class)
                    let class = class_of_text(&d.addr, lan);
                    v.push(Cell::text(d.addr));
                    v.extend(crate::output::class_cells(class));
                }
                cells.insert(d.series, v);
            }
        }
        Kind::Time => {
            for id in r.time_series()? {
                cells.insert(id, Vec::new());
            }
        }
    }
    Ok(Labels { cells, names })
}

/// One output row before formatting.
struct Out {
    start_ms: i64,
    end_ms: i64,
    series: i64,
    vals: Vec<u64>,
}

struct Writer<'a, 'w> {
    out: &'a mut Output<'w>,
    table: Kind,
    labels: Labels,
    columns: Vec<&'static str>,
}

impl Writer<'_, '_> {
    fn emit(&mut self, o: &Out) -> std::io::Result<()> {
        let Some(label) = self.labels.cells.get(&o.series).cloned() else {
            return Ok(());
        };
        if self.table == Kind::Proto {
            // long format: one row per non-zero counter
            let names = self
                .labels
                .names
                .get(&o.series)
                .cloned()
                .unwrap_or_default();
            let readings = o.vals.get(names.len()).copied().unwrap_or(0);
            for (name, v) in names.iter().zip(&o.vals) {
                if *v == 0 {
                    continue;
                }
                let ty = if is_gauge(name) { "gauge" } else { "counter" };
                let n = if is_gauge(name) { readings } else { 0 };
                let mut cells = label.clone();
                cells.push(Cell::text(name.as_str()));
                cells.push(Cell::text(ty));
                self.line(o, cells, &[*v, n])?;
            }
            return Ok(());
        }
        let n = self.columns.len() - 2 - label.len();
        let mut vals = o.vals.clone();
        vals.resize(n, 0);
        self.line(o, label, &vals)
    }

    fn line(&mut self, o: &Out, label: Vec<Cell>, vals: &[u64]) -> std::io::Result<()> {
        let mut cells = Vec::with_capacity(self.columns.len());
        cells.push(Cell::Time(o.start_ms));
        cells.push(Cell::Time(o.end_ms));
        cells.extend(label);
        cells.extend(vals.iter().map(|v| Cell::from(*v)));
        match self.out.format {
            Format::Json => self.out.json_stream_row(&self.columns, &cells),
            Format::Ndjson => self.out.ndjson_row(&[], &self.columns, &cells),
            _ => self.out.csv_row(&cells),
        }
    }
}

/// A progress line on stderr for long exports to a terminal.
struct Progress {
    on: bool,
    last: Instant,
    from: i64,
    to: i64,
}

impl Progress {
    fn tick(&mut self, at_ms: i64) {
        if !self.on || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let pct = (at_ms - self.from) as f64 * 100.0 / (self.to - self.from).max(1) as f64;
        let day = jiff::Timestamp::from_millisecond(at_ms)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default();
        eprint!("\rnrec export: {day} {pct:5.1}%");
    }
    fn done(&self) {
        if self.on {
            eprint!("\r\x1b[K");
        }
    }
}

/// What `nrec export TABLE` writes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The table: the series of one kind.
    pub table: Kind,
    pub window: Window,
    /// None: raw rows wherever raw samples are stored, the finest rollups stored for the
    /// part of the window retention pruned (part by part, as every report reads). Else rows
    /// of that step throughout (raw, quarter hours, hours, UTC days).
    pub step: Option<Option<Step>>,
    /// Only this container's series (its name or id).
    pub container: Option<String>,
    /// Only these interfaces (the iface table) and namespaces (iface, proto, attrib).
    pub ifaces: IfaceFilter,
    /// A progress line on stderr (a terminal, a long window).
    pub progress: bool,
    /// The networks the config counts as `lan` (the host table's `scope`).
    pub lan: Networks,
}

/// The name of a step, as `--resolution` takes it.
pub(crate) fn step_name(s: Option<Step>) -> &'static str {
    match s {
        None => "raw",
        Some(Step::Quarter | Step::Finest) => "15m",
        Some(Step::Hour) => "1h",
        Some(Step::Day) => "1d",
    }
}

/// What an export did: the rows written, and what of the interface filter matched nothing.
#[derive(Debug, Default)]
pub struct Written {
    pub rows: u64,
    pub unmatched: Option<Unmatched>,
}

/// The table's rows over the window, streamed.
pub fn write(r: &mut Reader, s: &Settings, o: &mut Output<'_>) -> Result<Written> {
    let (a, b) = (s.window.start_ms(), s.window.end_ms());
    let h = r.horizons()?;
    let finest = h.finest(a);
    if let Some(step) = s.step {
        let need = match step {
            None => Resolution::Raw,
            Some(Step::Quarter | Step::Hour | Step::Finest) => Resolution::Quarter,
            Some(Step::Day) => Resolution::Day,
        };
        if need < finest {
            return Err(Error::usage(format!(
                "--resolution {}: not stored for the start of the window ({} only); \
                 use a coarser resolution or a shorter window",
                step_name(step),
                finest.describe()
            )));
        }
    }
    // [a, raw_from): rollups; [raw_from, b): raw rows.
    let raw_from = match s.step {
        None => h.raw_from_ms.clamp(a, b),
        Some(None) => a,
        Some(Some(_)) => b,
    };
    let io = write_error;
    if s.container.is_some() && s.table == Kind::Time {
        return Err(Error::usage(
            "--container: the time table is the recorder's, not a container's",
        ));
    }
    let wrong = match s.table {
        Kind::Iface => None,
        Kind::Proto | Kind::Attrib => s.ifaces.names_interfaces().then_some("-i/--iface"),
        _ => (!s.ifaces.is_empty()).then_some("-i/--iface and --netns"),
    };
    if let Some(opt) = wrong {
        return Err(Error::usage(format!(
            "{opt}: not for the {} table (-i: the iface table; --netns: iface, proto, attrib)",
            s.table.name()
        )));
    }
    let unmatched = if s.ifaces.is_empty() {
        None
    } else {
        let known = r.iface_names()?;
        let seen: Vec<(&[u8], &[u8])> = known.iter().map(|(ns, n)| (&ns[..], &n[..])).collect();
        s.ifaces.unmatched(&seen)
    };
    // the labels first: a row that cannot be read fails the export before a header is printed
    let labels = labels(r, s.table, s.container.as_deref(), &s.ifaces, &s.lan)?;
    let (label_cols, value_cols) = columns(s.table);
    let mut cols = vec!["start", "end"];
    cols.extend(label_cols);
    cols.extend(value_cols);
    match o.format {
        Format::Csv => o.csv_header(&cols).map_err(io)?,
        Format::Json => {
            let body = serde_json::json!({
                "table": s.table.name(),
                "resolution": match s.step {
                    None => "auto",
                    Some(st) => step_name(st),
                },
            });
            o.json_stream_start(body.as_object().cloned().unwrap_or_default())
                .map_err(io)?
        }
        _ => {}
    }
    let mut w = Writer {
        out: o,
        table: s.table,
        labels,
        columns: cols,
    };
    let mut progress = Progress {
        on: s.progress && b - a > 7 * DAY_MS,
        last: Instant::now(),
        from: a,
        to: b,
    };
    let result = (|| -> Result<()> {
        if raw_from > a {
            let step = s.step.flatten().unwrap_or(Step::Finest);
            r.buckets(
                &[s.table],
                (a, raw_from),
                step,
                Edge::MostlyInside,
                |bk| -> Result<()> {
                    progress.tick(bk.start_ms);
                    w.emit(&Out {
                        start_ms: bk.start_ms,
                        end_ms: bk.start_ms + bk.len_ms,
                        series: bk.series,
                        vals: bk.vals,
                    })
                    .map_err(io)
                },
            )?;
        }
        if raw_from < b {
            r.intervals(&[s.table], (raw_from, b), |i| -> Result<()> {
                progress.tick(i.end_ms);
                w.emit(&Out {
                    start_ms: i.start_ms,
                    end_ms: i.end_ms,
                    series: i.series,
                    vals: i.vals,
                })
                .map_err(io)
            })?;
        }
        Ok(())
    })();
    progress.done();
    result?;
    if w.out.format == Format::Json {
        w.out.json_stream_end().map_err(io)?;
    }
    Ok(Written {
        rows: w.out.rows_written(),
        unmatched,
    })
}
