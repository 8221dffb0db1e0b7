//! `nrec export TABLE`: the raw or rolled-up series of one table over a window, as CSV or
//! JSON lines, streamed: memory holds one UTC day of rows (and the series labels), whatever
//! the window's length. A progress line goes to stderr when it is a terminal.
//!
//! Raw rows are the per-sample contributions the rollups are built from (deltas, not the
//! kernel's cumulative readings), so a raw export and a rolled-up one add up the same way.

use crate::cli::{ExportArgs, ExportTable as Table, Format, Resolution as Res};
use crate::cmd::Global;
use crate::error::{Error, Result};
use crate::output::{Cell, Output, write_error};
use crate::store::rollup::{self, DAY_MS, Kind, QUARTER_MS, Roller, is_gauge};
use crate::store::series;
use crate::store::window::{Horizons, Resolution};
use crate::store::{self};
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

fn kind(t: Table) -> Kind {
    match t {
        Table::Iface => Kind::Iface,
        Table::Proto => Kind::Proto,
        Table::Proc => Kind::Proc,
        Table::Port => Kind::Port,
        Table::Host => Kind::Host,
        Table::Attrib => Kind::Attrib,
        Table::Time => Kind::Time,
    }
}

fn res_name(r: Res) -> &'static str {
    match r {
        Res::Raw => "raw",
        Res::Quarter => "15m",
        Res::Hour => "1h",
        Res::Day => "1d",
    }
}

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
fn columns(t: Table) -> (Vec<&'static str>, Vec<&'static str>) {
    match t {
        Table::Iface => (vec!["netns", "iface"], {
            let mut v = DEV.to_vec();
            v.extend(["counted_ms", "intervals", "uncounted_intervals"]);
            v
        }),
        Table::Proto => (vec!["netns", "counter", "type"], vec!["sum", "readings"]),
        Table::Proc => (vec!["pid", "process"], vec!["rx_bytes", "tx_bytes"]),
        Table::Port => (
            vec!["pid", "process", "proto", "port"],
            vec!["rx_bytes", "tx_bytes"],
        ),
        Table::Host => (vec!["pid", "process", "addr"], vec!["rx_bytes", "tx_bytes"]),
        Table::Attrib => (
            vec!["netns"],
            vec![
                "rx_bytes",
                "tx_bytes",
                "unowned_rx_bytes",
                "unowned_tx_bytes",
            ],
        ),
        Table::Time => (
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
            ],
        ),
    }
}

/// Series id → label cells (and, for protocol series, the keyset's counter names).
struct Labels {
    cells: HashMap<i64, Vec<Cell>>,
    names: HashMap<i64, Vec<String>>,
}

/// The labels of table `t`'s series — of container `only`'s, when given.
fn labels(conn: &Connection, t: Table, only: Option<&str>) -> rusqlite::Result<Labels> {
    let mut cells = HashMap::new();
    let mut names = HashMap::new();
    // a container's namespace is named after it; its processes say they ran in it
    let ns_ok = |ns: &[u8]| only.is_none_or(|c| ns == c.as_bytes());
    let procs = match t {
        Table::Proc | Table::Port | Table::Host => series::procs(conn)?,
        _ => Vec::new(),
    };
    let mine: std::collections::HashSet<i64> = procs
        .iter()
        .filter(|p| only.is_none_or(|c| p.in_container(c)))
        .map(|p| p.process)
        .collect();
    match t {
        Table::Iface => {
            for i in series::ifaces(conn)?
                .into_iter()
                .filter(|i| ns_ok(&i.netns))
            {
                cells.insert(i.series, vec![Cell::bytes(&i.netns), Cell::bytes(&i.name)]);
            }
        }
        Table::Proto | Table::Attrib => {
            for n in series::netns_series(conn, kind(t))?
                .into_iter()
                .filter(|n| ns_ok(&n.netns))
            {
                cells.insert(n.series, vec![Cell::bytes(&n.netns)]);
                if t == Table::Proto {
                    names.insert(n.series, n.names);
                }
            }
        }
        Table::Proc => {
            for p in procs.iter().filter(|p| mine.contains(&p.process)) {
                cells.insert(p.series, vec![p.pid.into(), Cell::bytes(&p.comm)]);
            }
        }
        Table::Port | Table::Host => {
            for d in series::details(conn, kind(t), None)?
                .into_iter()
                .filter(|d| mine.contains(&d.process))
            {
                let mut v = vec![d.pid.into(), Cell::bytes(&d.comm)];
                if t == Table::Port {
                    v.push(Cell::text(d.proto));
                    v.push(d.port.into());
                } else {
                    v.push(Cell::text(d.addr));
                }
                cells.insert(d.series, v);
            }
        }
        Table::Time => {
            for id in series::time_series(conn)? {
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
    table: Table,
    labels: Labels,
    columns: Vec<&'static str>,
}

impl Writer<'_, '_> {
    fn emit(&mut self, o: &Out) -> std::io::Result<()> {
        let Some(label) = self.labels.cells.get(&o.series).cloned() else {
            return Ok(());
        };
        if self.table == Table::Proto {
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

pub fn run(args: &ExportArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    use crate::cli::ExportFormat as F;
    let format = match args.format {
        F::Openmetrics => return super::serve::export(args, g, out),
        F::Csv => Format::Csv,
        F::Json => Format::Json,
        F::Ndjson => Format::Ndjson,
    };
    if args.textfile.is_some() {
        return Err(Error::usage(
            "--textfile writes metrics: use it with --format openmetrics",
        ));
    }
    let Some(table) = args.table else {
        return Err(Error::usage(
            "name the series to export: iface, proto, proc, port, host, attrib or time",
        ));
    };
    let (window, tz) = super::window(&args.window, Some("24h"))?;
    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let db = |e| Error::sqlite(&path, e);
    let h = Horizons::load(&conn).map_err(db)?;
    let finest = h.finest(window.start_ms());
    // No --resolution: raw rows wherever raw samples are stored, the finest rollups stored
    // for the part of the window retention pruned (part by part, as every report reads).
    let auto = args.resolution.is_none();
    let res = match args.resolution {
        Some(r) => {
            let need = match r {
                Res::Raw => Resolution::Raw,
                Res::Quarter | Res::Hour => Resolution::Quarter,
                Res::Day => Resolution::Day,
            };
            if need < finest {
                return Err(Error::usage(format!(
                    "--resolution {}: not stored for the start of the window ({} only); \
                     use a coarser resolution or a shorter window",
                    res_name(r),
                    finest.describe()
                )));
            }
            r
        }
        None => Res::Quarter,
    };
    let (a, b) = (window.start_ms(), window.end_ms());
    // [a, raw_from): rollups; [raw_from, b): raw rows.
    let raw_from = match res {
        _ if auto => h.raw_from_ms.clamp(a, b),
        Res::Raw => a,
        _ => b,
    };
    let io = write_error;
    // the labels first: a row that cannot be read fails the export before a header is printed
    if args.container.is_some() && table == Table::Time {
        return Err(Error::usage(
            "--container: the time table is the recorder's, not a container's",
        ));
    }
    let labels = labels(&conn, table, args.container.as_deref()).map_err(db)?;
    let mut o = super::output(out, format, "export", &conn, &path, Some(&window), &tz)?;
    let (label_cols, value_cols) = columns(table);
    let mut cols = vec!["start", "end"];
    cols.extend(label_cols);
    cols.extend(value_cols);
    match format {
        Format::Csv => o.csv_header(&cols).map_err(io)?,
        Format::Json => {
            let body = serde_json::json!({
                "table": format!("{table:?}").to_lowercase(),
                "resolution": if auto { "auto" } else { res_name(res) },
            });
            o.json_stream_start(body.as_object().cloned().unwrap_or_default())
                .map_err(io)?
        }
        _ => {}
    }
    let mut w = Writer {
        out: &mut o,
        table,
        labels,
        columns: cols,
    };
    let mut progress = Progress {
        on: std::io::stderr().is_terminal() && !g.quiet && b - a > 7 * DAY_MS,
        last: Instant::now(),
        from: a,
        to: b,
    };
    let kind = kind(table);
    let mut roller = Roller::new();
    let result = (|| -> Result<()> {
        if raw_from > a {
            let src = Rollups {
                conn: &conn,
                path: &path,
                kind,
                h,
                res: args.resolution,
            };
            rolled(&src, &mut w, (a, raw_from), &mut progress)?;
        }
        if raw_from < b {
            let ids = store::query::sample_spans(&conn, raw_from, b).map_err(db)?;
            for (id, ts, el) in ids {
                progress.tick(ts);
                let Some(c) = roller.contributions(&conn, id).map_err(db)? else {
                    continue;
                };
                for (k, v) in c.items.iter().filter(|(k, _)| k.kind == kind) {
                    let Some(series) = roller.series_id(&conn, k, false).map_err(db)? else {
                        continue;
                    };
                    let o = Out {
                        start_ms: ts - el.unwrap_or(0),
                        end_ms: ts,
                        series,
                        vals: v.clone(),
                    };
                    w.emit(&o).map_err(io)?;
                }
            }
        }
        Ok(())
    })();
    progress.done();
    result?;
    if format == Format::Json {
        o.json_stream_end().map_err(io)?;
    }
    if g.verbose > 0 {
        eprintln!("nrec: exported {} row(s)", o.rows_written());
    }
    Ok(())
}

/// Where rollup rows are read from and at which resolution (None: quarter hours where their
/// detail is stored, UTC days where it was pruned).
struct Rollups<'a> {
    conn: &'a Connection,
    path: &'a std::path::Path,
    kind: Kind,
    h: Horizons,
    res: Option<Res>,
}

/// The rollup rows of `[a, b)`, one UTC day at a time, sorted by (start, series). A bucket
/// straddling an edge is exported when most of it lies inside, as reports count it.
fn rolled(
    src: &Rollups<'_>,
    w: &mut Writer<'_, '_>,
    (a, b): (i64, i64),
    progress: &mut Progress,
) -> Result<()> {
    let io = write_error;
    let db = |e| Error::sqlite(src.path, e);
    {
        // one day of rows at a time, sorted by (start, series)
        let mut day_rows: BTreeMap<(i64, i64), Out> = BTreeMap::new();
        let mut cur_day: Option<i64> = None;
        let flush = |w: &mut Writer<'_, '_>, rows: &mut BTreeMap<(i64, i64), Out>| {
            for o in std::mem::take(rows).into_values() {
                w.emit(&o)?;
            }
            Ok::<(), std::io::Error>(())
        };
        let days = (a.div_euclid(DAY_MS), b.div_euclid(DAY_MS) + 1);
        rollup::for_each_row(src.conn, src.kind, days, db, |day, series, row| {
            if cur_day != Some(day) {
                flush(w, &mut day_rows).map_err(io)?;
                cur_day = Some(day);
                progress.tick(day * DAY_MS);
            }
            let base = day * DAY_MS;
            let mut put = |start: i64, len: i64, v: &[u64]| {
                if ((start + len).min(b) - start.max(a)) * 2 >= len {
                    let o = day_rows.entry((start, series)).or_insert(Out {
                        start_ms: start,
                        end_ms: start + len,
                        series,
                        vals: Vec::new(),
                    });
                    rollup::add_into(&mut o.vals, v);
                }
            };
            let detail = row
                .quarters
                .as_ref()
                .filter(|_| day >= src.h.quarters_from_day);
            match (src.res, detail) {
                (Some(Res::Day), _) => put(base, DAY_MS, &row.total),
                (None, None) => put(base, DAY_MS, &row.total),
                (_, None) => {} // detail pruned: refused above unless the window starts later
                (None | Some(Res::Quarter), Some(qs)) => {
                    for (q, v) in qs {
                        put(base + i64::from(*q) * QUARTER_MS, QUARTER_MS, v);
                    }
                }
                (_, Some(qs)) => {
                    for (q, v) in qs {
                        put(base + i64::from(*q / 4) * 4 * QUARTER_MS, 4 * QUARTER_MS, v);
                    }
                }
            }
            Ok(())
        })?;
        flush(w, &mut day_rows).map_err(io)?;
        Ok(())
    }
}
