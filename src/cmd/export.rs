//! `nrec export TABLE`: the raw or rolled-up series of one table over a window, as CSV or
//! JSON lines, streamed: memory holds one UTC day of rows (and the series labels), whatever
//! the window's length. A progress line goes to stderr when it is a terminal.
//!
//! Raw rows are the per-sample contributions the rollups are built from (deltas, not the
//! kernel's cumulative readings), so a raw export and a rolled-up one add up the same way.

use crate::cli::ExportArgs;
use crate::cmd::Global;
use crate::error::{Error, Result};
use crate::report::render::{self, Format, csv_text, escape_bytes};
use crate::store::rollup::{self, DAY_MS, Kind, QUARTER_MS, Roller, is_gauge};
use crate::store::window::{Horizons, Resolution};
use crate::store::{self};
use jiff::tz::TimeZone;
use rusqlite::{Connection, params};
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    /// Interfaces: the 16 /proc/net/dev counters
    Iface,
    /// Protocol counters per namespace (one row per non-zero counter)
    Proto,
    /// Bytes per process
    Proc,
    /// Bytes per process and service port
    Port,
    /// Bytes per process and remote address
    Host,
    /// Socket bytes per namespace, and the part without a known process
    Attrib,
    /// Sampling: samples, intervals and time covered
    Time,
}

impl Table {
    fn kind(self) -> Kind {
        match self {
            Table::Iface => Kind::Iface,
            Table::Proto => Kind::Proto,
            Table::Proc => Kind::Proc,
            Table::Port => Kind::Port,
            Table::Host => Kind::Host,
            Table::Attrib => Kind::Attrib,
            Table::Time => Kind::Time,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Res {
    /// One row per sample interval
    Raw,
    /// Quarter hours
    #[value(name = "15m")]
    Quarter,
    /// Hours
    #[value(name = "1h")]
    Hour,
    /// UTC days
    #[value(name = "1d")]
    Day,
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
            vec!["samples", "intervals", "elapsed_ms", "ebpf_elapsed_ms"],
        ),
    }
}

/// Series id → label cells (and, for protocol series, the keyset's counter names).
struct Labels {
    cells: HashMap<i64, Vec<String>>,
    names: HashMap<i64, Vec<String>>,
}

fn labels(conn: &Connection, t: Table) -> rusqlite::Result<Labels> {
    let mut cells = HashMap::new();
    let mut names = HashMap::new();
    let sql = match t {
        Table::Iface => {
            "SELECT s.id, n.name, i.name FROM series s JOIN iface i ON i.id = s.ref JOIN netns n ON n.id = i.netns WHERE s.kind = 1"
        }
        Table::Proto => {
            "SELECT s.id, n.name, k.names FROM series s JOIN netns n ON n.id = s.ref JOIN keyset k ON k.id = s.keyset WHERE s.kind = 2"
        }
        Table::Proc => {
            "SELECT s.id, p.pid, p.comm FROM series s JOIN process p ON p.id = s.ref WHERE s.kind = 3"
        }
        Table::Port => {
            "SELECT s.id, p.pid, p.comm, s.proto, s.port FROM series s JOIN process p ON p.id = s.ref WHERE s.kind = 4"
        }
        Table::Host => {
            "SELECT s.id, p.pid, p.comm, s.addr FROM series s JOIN process p ON p.id = s.ref WHERE s.kind = 5"
        }
        Table::Attrib => {
            "SELECT s.id, n.name FROM series s JOIN netns n ON n.id = s.ref WHERE s.kind = 6"
        }
        Table::Time => "SELECT id FROM series WHERE kind = 0",
    };
    let mut st = conn.prepare(sql)?;
    let n = st.column_count();
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let mut v = Vec::with_capacity(n - 1);
        for i in 1..n {
            let cell = match r.get_ref(i)? {
                rusqlite::types::ValueRef::Blob(b) => escape_bytes(b),
                rusqlite::types::ValueRef::Text(b) => String::from_utf8_lossy(b).into_owned(),
                rusqlite::types::ValueRef::Integer(x) => x.to_string(),
                _ => String::new(),
            };
            v.push(cell);
        }
        if t == Table::Proto {
            let list = v.pop().unwrap_or_default();
            names.insert(id, list.split('\n').map(str::to_string).collect());
        }
        cells.insert(id, v);
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

struct Writer<'a> {
    out: &'a mut dyn Write,
    format: Format,
    table: Table,
    tz: TimeZone,
    labels: Labels,
    heads: (Vec<&'static str>, Vec<&'static str>),
    csv_buf: Vec<u8>,
    rows: u64,
}

impl Writer<'_> {
    fn header(&mut self) -> std::io::Result<()> {
        if self.format != Format::Csv {
            return Ok(());
        }
        let mut h: Vec<&str> = vec!["start", "end"];
        h.extend(&self.heads.0);
        h.extend(&self.heads.1);
        self.record(&h.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn record(&mut self, cells: &[String]) -> std::io::Result<()> {
        self.csv_buf.clear();
        {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .has_headers(false)
                .from_writer(&mut self.csv_buf);
            w.write_record(cells).map_err(std::io::Error::other)?;
            w.flush()?;
        }
        self.out.write_all(&self.csv_buf)
    }

    fn emit(&mut self, o: &Out) -> std::io::Result<()> {
        let Some(label) = self.labels.cells.get(&o.series).cloned() else {
            return Ok(());
        };
        let (start, end) = (
            render::iso(o.start_ms, &self.tz),
            render::iso(o.end_ms, &self.tz),
        );
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
                self.line(
                    &start,
                    &end,
                    &[label.clone(), vec![name.clone(), ty.into()]].concat(),
                    &[*v, n],
                )?;
            }
            return Ok(());
        }
        let n = self.heads.1.len();
        let mut vals = o.vals.clone();
        vals.resize(n, 0);
        self.line(&start, &end, &label, &vals)
    }

    fn line(
        &mut self,
        start: &str,
        end: &str,
        label: &[String],
        vals: &[u64],
    ) -> std::io::Result<()> {
        self.rows += 1;
        match self.format {
            Format::Json => {
                let mut m = serde_json::Map::new();
                m.insert("start".into(), start.into());
                m.insert("end".into(), end.into());
                for (k, v) in self.heads.0.iter().zip(label) {
                    m.insert((*k).into(), v.clone().into());
                }
                for (k, v) in self.heads.1.iter().zip(vals) {
                    m.insert((*k).into(), (*v).into());
                }
                serde_json::to_writer(&mut *self.out, &m).map_err(std::io::Error::other)?;
                self.out.write_all(b"\n")
            }
            _ => {
                let mut cells = vec![start.to_string(), end.to_string()];
                cells.extend(label.iter().map(|s| csv_text(s)));
                cells.extend(vals.iter().map(|v| v.to_string()));
                self.record(&cells)
            }
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
    if args.format == Format::Table {
        return Err(Error::usage(
            "export writes csv or json (one object per line); use --format csv or --format json",
        ));
    }
    let (window, tz) = super::window(&args.window, Some("24h"))?;
    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let db = |e| Error::sqlite(&path, e);
    let h = Horizons::load(&conn).map_err(db)?;
    let finest = h.finest(window.start_ms());
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
                    match r {
                        Res::Raw => "raw",
                        Res::Quarter => "15m",
                        Res::Hour => "1h",
                        Res::Day => "1d",
                    },
                    finest.describe()
                )));
            }
            r
        }
        None => match finest {
            Resolution::Raw => Res::Raw,
            Resolution::Quarter => Res::Quarter,
            Resolution::Day => Res::Day,
        },
    };
    let (a, b) = (window.start_ms(), window.end_ms());
    let io = |e: std::io::Error| Error::failure(format!("writing the export: {e}")).with_io(e);
    let mut w = Writer {
        out,
        format: args.format,
        table: args.table,
        tz,
        labels: labels(&conn, args.table).map_err(db)?,
        heads: columns(args.table),
        csv_buf: Vec::new(),
        rows: 0,
    };
    w.header().map_err(io)?;
    let mut progress = Progress {
        on: std::io::stderr().is_terminal() && !g.quiet && b - a > 7 * DAY_MS,
        last: Instant::now(),
        from: a,
        to: b,
    };
    let kind = args.table.kind();
    let mut roller = Roller::new();
    let result = (|| -> Result<()> {
        if res == Res::Raw {
            let ids: Vec<(i64, i64, Option<i64>)> = conn
                .prepare("SELECT id, ts_ms, elapsed_ms FROM sample WHERE ts_ms >= ?1 AND ts_ms < ?2 ORDER BY ts_ms, id")
                .and_then(|mut st| {
                    st.query_map(params![a, b], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(db)?;
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
            return Ok(());
        }
        let mut st = conn
            .prepare(&rollup::kind_days_sql(
                "r.day, r.series, r.total, r.quarters",
            ))
            .map_err(db)?;
        let mut rows = st
            .query(params![
                kind as i64,
                a.div_euclid(DAY_MS),
                b.div_euclid(DAY_MS) + 1
            ])
            .map_err(db)?;
        // one day of rows at a time, sorted by (start, series)
        let mut day_rows: BTreeMap<(i64, i64), Out> = BTreeMap::new();
        let mut cur_day: Option<i64> = None;
        let flush = |w: &mut Writer<'_>, rows: &mut BTreeMap<(i64, i64), Out>| {
            for o in std::mem::take(rows).into_values() {
                w.emit(&o)?;
            }
            Ok::<(), std::io::Error>(())
        };
        while let Some(r) = rows.next().map_err(db)? {
            let day: i64 = r.get(0).map_err(db)?;
            let series: i64 = r.get(1).map_err(db)?;
            if cur_day != Some(day) {
                flush(&mut w, &mut day_rows).map_err(io)?;
                cur_day = Some(day);
                progress.tick(day * DAY_MS);
            }
            let t: Vec<u8> = r.get(2).map_err(db)?;
            let q: Option<Vec<u8>> = r.get(3).map_err(db)?;
            let row = rollup::decode_row(&t, q.as_deref(), day, series).map_err(db)?;
            let base = day * DAY_MS;
            let mut put = |start: i64, len: i64, v: &[u64]| {
                if start >= a && start < b {
                    let o = day_rows.entry((start, series)).or_insert(Out {
                        start_ms: start,
                        end_ms: start + len,
                        series,
                        vals: Vec::new(),
                    });
                    rollup::add_into(&mut o.vals, v);
                }
            };
            match (res, &row.quarters) {
                (Res::Day, _) => put(base, DAY_MS, &row.total),
                (_, None) => {} // detail pruned: refused above unless the window starts later
                (Res::Quarter, Some(qs)) => {
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
        }
        flush(&mut w, &mut day_rows).map_err(io)?;
        Ok(())
    })();
    progress.done();
    result?;
    w.out.flush().map_err(io)?;
    if g.verbose > 0 {
        eprintln!("nrec: exported {} row(s)", w.rows);
    }
    Ok(())
}
