//! OUTPUT: the one path from a command's rows to the bytes on stdout.
//!
//! Every command that prints data hands its rows to an [`Output`] as typed [`Cell`]s under
//! named columns. The same cells become a CSV row (with a leading `host` column, so files
//! from several machines can be concatenated), a JSON object inside the one envelope every
//! command shares (`format_version`, `command`, `host`, `window`), or one NDJSON line per
//! row. Because CSV and JSON are derived from the same cells, their columns and values
//! cannot drift apart; `docs/OUTPUT.md` documents them and a test checks each command
//! against it. Tables (the human layout) are written by each view through
//! [`Output::text`], with the unit formatters of [`units`].
//!
//! Closed pipes: the process's stdout is a [`Stdout`], which remembers that the reader went
//! away; `main` then exits 0 quietly whatever error the command returned (`nrec … | head`).
//! Any other write error (a full disk under `> file`) is an error, never silent truncation.

pub mod openmetrics;
pub mod png;
pub mod remote_write;
pub mod svg;
pub mod units;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use nrec_model::names::escape_bytes;
use serde_json::{Map, Value};
use std::cell::Cell as Flag;
use std::io::{self, Write};
use std::rc::Rc;

/// How a command prints: a table for people, or data (`docs/OUTPUT.md`), or a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
    Svg,
    Png,
}

impl Format {
    /// `svg` or `png`: the command draws instead of printing.
    pub fn is_picture(self) -> bool {
        matches!(self, Format::Svg | Format::Png)
    }
}

/// Bumped when a column or key is renamed or removed (adding one does not bump it).
pub(crate) const FORMAT_VERSION: u64 = 1;

/// A value as data: numbers stay numbers, unknown is `null` (an empty CSV cell).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i128),
    /// A measured quantity and the decimals it is written with.
    Num(f64, u8),
    /// Display text; untrusted bytes go through [`Cell::bytes`] first.
    Text(String),
    /// An instant (UTC ms), written as ISO 8601 in the display zone.
    Time(i64),
    Bool(bool),
    /// A list of names: a JSON array, space-separated in CSV.
    List(Vec<String>),
}

impl Cell {
    /// Untrusted bytes (kernel names, process names) as lossless, printable text.
    pub fn bytes(b: &[u8]) -> Cell {
        Cell::Text(escape_bytes(b))
    }
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
    pub(crate) fn opt_int<T: Into<i128>>(v: Option<T>) -> Cell {
        v.map_or(Cell::Null, |v| Cell::Int(v.into()))
    }
}

/// Integers of every width become `Cell::Int`.
macro_rules! int_cells {
    ($($t:ty),*) => {$(
        impl From<$t> for Cell {
            fn from(v: $t) -> Cell {
                Cell::Int(v as i128)
            }
        }
    )*};
}
int_cells!(u64, i64, u32, u16, usize);

impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::Text(v.to_string())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Text(v)
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Cell {
        Cell::Bool(v)
    }
}

/// A CSV text cell a spreadsheet will not evaluate (`=`, `+`, `-`, `@`, TAB, CR lead).
pub(crate) fn csv_text(s: &str) -> String {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn local(ts_ms: i64, tz: &TimeZone) -> jiff::Zoned {
    Timestamp::from_millisecond(ts_ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
}

/// ISO 8601 local time with offset, e.g. 2026-11-22T22:31:22+01:00.
pub fn iso(ts_ms: i64, tz: &TimeZone) -> String {
    local(ts_ms, tz)
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// `HH:MM:SS` in the display zone (sar's time column).
pub fn hms(ts_ms: i64, tz: &TimeZone) -> String {
    local(ts_ms, tz).strftime("%H:%M:%S").to_string()
}

/// The width of a name column: its longest name (as `ss` and `ps` size theirs), at least
/// `min`, at most 120 — a name longer than that (a crafted database) overflows its own row
/// instead of pushing every row, or the formatter's limits, out of range.
pub fn column_width(min: usize, names: impl Iterator<Item = usize>) -> usize {
    names.max().unwrap_or(0).clamp(min, min.max(120))
}

/// `::ffff:192.0.2.1` (an IPv4 address as a dual-stack socket sees it) as `192.0.2.1`.
pub fn unmap_v4(addr: &str) -> &str {
    match addr.strip_prefix("::ffff:") {
        Some(v4) if v4.parse::<std::net::Ipv4Addr>().is_ok() => v4,
        _ => addr,
    }
}

/// `YYYY-MM-DD HH:MM:SS` in the display zone.
/// The columns a host's traffic class is written in: its family and scope,
/// null for a row standing for many hosts.
pub const CLASS_COLUMNS: [&str; 2] = ["family", "scope"];

/// A host's traffic class as the cells of [`CLASS_COLUMNS`].
pub fn class_cells(
    class: Option<(nrec_model::scope::Family, nrec_model::scope::Scope)>,
) -> [Cell; 2] {
    match class {
        Some((f, s)) => [Cell::text(f.name()), Cell::text(s.name())],
        None => [Cell::Null, Cell::Null],
    }
}

pub fn local_text(ts_ms: i64, tz: &TimeZone) -> String {
    local(ts_ms, tz).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// `MM/DD/YY` (sar's heading date).
pub(crate) fn sar_date(ts_ms: i64, tz: &TimeZone) -> String {
    let iso = std::env::var_os("S_TIME_FORMAT").is_some_and(|v| v == "ISO");
    let f = if iso { "%Y-%m-%d" } else { "%m/%d/%y" };
    local(ts_ms, tz).strftime(f).to_string()
}

/// The window a document covers.
#[derive(Debug, Clone)]
pub struct WindowMeta {
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl From<&nrec_model::time::Window> for WindowMeta {
    fn from(w: &nrec_model::time::Window) -> Self {
        WindowMeta {
            label: w.label.clone(),
            start_ms: w.start_ms(),
            end_ms: w.end_ms(),
        }
    }
}

/// Rows under named columns: what a view hands to the CSV, JSON and NDJSON writers.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

impl Rows {
    pub fn new(columns: &[&'static str]) -> Rows {
        Rows {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }
}

/// Where a command writes: the format chosen, the envelope facts, and the writer.
pub struct Output<'w> {
    w: &'w mut dyn Write,
    pub format: Format,
    command: &'static str,
    /// The recording host (from the database), escaped; empty when the database has none.
    host: Option<String>,
    window: Option<WindowMeta>,
    pub tz: TimeZone,
    csv_buf: Vec<u8>,
    /// CSV's host cell, escaped once.
    host_cell: String,
    /// The last time formatted: rows of one interval share it (time-zone conversion is the
    /// costly part of a row).
    last_time: std::cell::RefCell<(i64, String)>,
    rows_written: u64,
}

impl<'w> Output<'w> {
    pub fn new(
        w: &'w mut dyn Write,
        format: Format,
        command: &'static str,
        host: Option<&[u8]>,
        window: Option<WindowMeta>,
        tz: TimeZone,
    ) -> Output<'w> {
        let host = host.map(escape_bytes);
        let host_cell = csv_text(host.as_deref().unwrap_or(""));
        Output {
            w,
            format,
            command,
            host_cell,
            last_time: std::cell::RefCell::new((i64::MIN, String::new())),
            host,
            window,
            tz,
            csv_buf: Vec::new(),
            rows_written: 0,
        }
    }

    /// The raw writer, for table layouts.
    /// A picture, as `--format svg` or `png` asked.
    pub fn picture(&mut self, svg: &str) -> nrec_model::error::Result<()> {
        match self.format {
            Format::Png => {
                let png = png::render(svg).map_err(nrec_model::error::Error::failure)?;
                self.w.write_all(&png).map_err(write_error)
            }
            _ => self.w.write_all(svg.as_bytes()).map_err(write_error),
        }
    }

    /// A picture's title: `nrec COMMAND WHAT — HOST — WINDOW`.
    pub(crate) fn picture_title(&self, what: &str) -> String {
        let mut t = format!("nrec {}", self.command);
        if !what.is_empty() {
            t.push(' ');
            t.push_str(what);
        }
        if let Some(h) = &self.host {
            t.push_str(" — ");
            t.push_str(h);
        }
        if let Some(w) = &self.window {
            t.push_str(" — ");
            t.push_str(&w.label);
        }
        t
    }

    pub fn text(&mut self) -> &mut dyn Write {
        &mut *self.w
    }

    pub(crate) fn rows_written(&self) -> u64 {
        self.rows_written
    }

    /// A cell as JSON.
    pub fn value(&self, c: &Cell) -> Value {
        match c {
            Cell::Null => Value::Null,
            Cell::Int(v) => {
                if let Ok(x) = u64::try_from(*v) {
                    Value::from(x)
                } else if let Ok(x) = i64::try_from(*v) {
                    Value::from(x)
                } else {
                    Value::Null
                }
            }
            Cell::Num(v, d) => {
                let p = 10f64.powi(i32::from(*d));
                serde_json::Number::from_f64((v * p).round() / p).map_or(Value::Null, Value::Number)
            }
            Cell::Text(s) => Value::from(s.as_str()),
            Cell::Time(ms) => Value::from(self.time_text(*ms)),
            Cell::Bool(b) => Value::from(*b),
            Cell::List(v) => Value::from(v.clone()),
        }
    }

    fn time_text(&self, ms: i64) -> String {
        let mut last = self.last_time.borrow_mut();
        if last.0 != ms {
            *last = (ms, iso(ms, &self.tz));
        }
        last.1.clone()
    }

    /// A cell as CSV text (formula-safe).
    pub(crate) fn csv_cell(&self, c: &Cell) -> String {
        match c {
            Cell::Null => String::new(),
            Cell::Int(v) => v.to_string(),
            Cell::Num(v, d) => format!("{v:.*}", usize::from(*d)),
            Cell::Text(s) => csv_text(s),
            Cell::Time(ms) => self.time_text(*ms),
            Cell::Bool(b) => if *b { "1" } else { "0" }.into(),
            Cell::List(v) => csv_text(&v.join(" ")),
        }
    }

    /// A row as a JSON object, keyed by the column names.
    pub fn object(&self, columns: &[&str], row: &[Cell]) -> Map<String, Value> {
        columns
            .iter()
            .zip(row)
            .map(|(k, c)| ((*k).to_string(), self.value(c)))
            .collect()
    }

    /// Rows as JSON objects.
    pub fn objects(&self, rows: &Rows) -> Value {
        Value::Array(
            rows.rows
                .iter()
                .map(|r| Value::Object(self.object(&rows.columns, r)))
                .collect(),
        )
    }

    /// The envelope every JSON document starts with.
    pub fn envelope(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("format_version".into(), FORMAT_VERSION.into());
        m.insert("command".into(), self.command.into());
        m.insert(
            "host".into(),
            self.host.clone().map_or(Value::Null, Value::from),
        );
        m.insert(
            "window".into(),
            match &self.window {
                Some(w) => serde_json::json!({
                    "label": w.label,
                    "start": iso(w.start_ms, &self.tz),
                    "end": iso(w.end_ms, &self.tz),
                    "timezone": self.tz.iana_name().unwrap_or("local"),
                }),
                None => Value::Null,
            },
        );
        m
    }

    /// One JSON document: the envelope, then the body's keys.
    pub fn json(&mut self, body: Map<String, Value>) -> io::Result<()> {
        let mut doc = self.envelope();
        doc.extend(body);
        serde_json::to_writer_pretty(&mut *self.w, &Value::Object(doc))?;
        self.w.write_all(b"\n")
    }

    /// The CSV header: `host`, then the columns.
    pub fn csv_header(&mut self, columns: &[&str]) -> io::Result<()> {
        let mut cells = Vec::with_capacity(columns.len() + 1);
        cells.push("host".to_string());
        cells.extend(columns.iter().map(|c| c.to_string()));
        self.csv_record(&cells)
    }

    /// One CSV row: the host, then the cells.
    pub fn csv_row(&mut self, row: &[Cell]) -> io::Result<()> {
        let mut cells = Vec::with_capacity(row.len() + 1);
        cells.push(self.host_cell.clone());
        cells.extend(row.iter().map(|c| self.csv_cell(c)));
        self.rows_written += 1;
        self.csv_record(&cells)
    }

    /// A blank line between CSV documents (report's kinds).
    pub(crate) fn csv_separator(&mut self) -> io::Result<()> {
        self.w.write_all(b"\r\n")
    }

    /// One record through the csv crate's RFC 4180 quoting into a reused buffer (a small
    /// encoder buffer: one is made per record, the rows are streamed).
    fn csv_record(&mut self, cells: &[String]) -> io::Result<()> {
        self.csv_buf.clear();
        {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .has_headers(false)
                .buffer_capacity(512)
                .from_writer(&mut self.csv_buf);
            w.write_record(cells).map_err(csv_io)?;
            w.flush()?;
        }
        self.w.write_all(&self.csv_buf)
    }

    /// One NDJSON line: `host`, the extra keys (e.g. a report's `kind`), then the row.
    pub fn ndjson_row(
        &mut self,
        extra: &[(&str, Value)],
        columns: &[&str],
        row: &[Cell],
    ) -> io::Result<()> {
        let mut m = Map::new();
        m.insert(
            "host".into(),
            self.host.clone().map_or(Value::Null, Value::from),
        );
        for (k, v) in extra {
            m.insert((*k).to_string(), v.clone());
        }
        m.extend(self.object(columns, row));
        self.rows_written += 1;
        serde_json::to_writer(&mut *self.w, &Value::Object(m))?;
        self.w.write_all(b"\n")
    }

    /// A whole view of one row set: CSV (header + rows), NDJSON (a line per row) or JSON
    /// (the envelope, `body`, and the rows under `rows`). Tables and pictures are the
    /// caller's.
    pub fn rows(&mut self, rows: &Rows, body: Map<String, Value>) -> io::Result<()> {
        match self.format {
            Format::Csv => {
                self.csv_header(&rows.columns)?;
                for r in &rows.rows {
                    self.csv_row(r)?;
                }
                Ok(())
            }
            Format::Ndjson => {
                for r in &rows.rows {
                    self.ndjson_row(&[], &rows.columns, r)?;
                }
                Ok(())
            }
            Format::Json => {
                let mut b = body;
                b.insert("rows".into(), self.objects(rows));
                self.json(b)
            }
            Format::Table | Format::Svg | Format::Png => Ok(()),
        }
    }

    /// Streaming JSON: the envelope and body up to an open `"rows": [`, then
    /// [`Output::json_stream_row`] per row and [`Output::json_stream_end`].
    pub fn json_stream_start(&mut self, body: Map<String, Value>) -> io::Result<()> {
        let mut doc = self.envelope();
        doc.extend(body);
        let text = serde_json::to_string(&Value::Object(doc))?;
        // `text` ends with `}`: reopen it for the rows.
        let head = text.strip_suffix('}').unwrap_or(&text);
        self.w.write_all(head.as_bytes())?;
        self.w.write_all(if head.ends_with('{') {
            b"\"rows\":[\n"
        } else {
            b",\"rows\":[\n"
        })
    }

    pub fn json_stream_row(&mut self, columns: &[&str], row: &[Cell]) -> io::Result<()> {
        if self.rows_written > 0 {
            self.w.write_all(b",\n")?;
        }
        self.rows_written += 1;
        let m = self.object(columns, row);
        serde_json::to_writer(&mut *self.w, &Value::Object(m))?;
        Ok(())
    }

    pub fn json_stream_end(&mut self) -> io::Result<()> {
        self.w.write_all(b"\n]}\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        k => io::Error::other(format!("{k:?}")),
    }
}

/// The process's stdout: buffered, and it remembers a closed pipe so that `main` can exit 0
/// quietly however the command reported the failed write.
pub struct Stdout {
    inner: io::BufWriter<io::StdoutLock<'static>>,
    closed: Rc<Flag<bool>>,
}

impl Stdout {
    pub fn new() -> Stdout {
        Stdout {
            inner: io::BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
            closed: Rc::new(Flag::new(false)),
        }
    }

    /// True once a write failed because the reader went away.
    pub fn reader_gone(&self) -> bool {
        self.closed.get()
    }

    fn note<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed.set(true);
            }
        }
        r
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let r = self.inner.write_all(buf);
        self.note(r)
    }
    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

/// An output write error: exit 1 with the reason (a closed pipe is handled by `main`).
pub fn write_error(e: io::Error) -> nrec_model::error::Error {
    nrec_model::error::Error::failure(format!("writing the output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(buf: &mut Vec<u8>, f: Format) -> Output<'_> {
        Output::new(
            buf,
            f,
            "test",
            Some(b"h=st\x1b"),
            Some(WindowMeta {
                label: "w".into(),
                start_ms: 0,
                end_ms: 60_000,
            }),
            TimeZone::UTC,
        )
    }

    #[test]
    fn csv_and_json_come_from_the_same_cells() {
        let mut rows = Rows::new(&["name", "bytes", "rate", "when", "gap", "missing"]);
        rows.push(vec![
            Cell::bytes(b"=cmd\xff"),
            Cell::from(18446744073709551615u64),
            Cell::Num(1.005, 2),
            Cell::Time(60_000),
            Cell::Bool(true),
            Cell::Null,
        ]);
        let mut buf = Vec::new();
        out(&mut buf, Format::Csv).rows(&rows, Map::new()).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "host,name,bytes,rate,when,gap,missing\r\n\
             h=st\\x1b,'=cmd\\xff,18446744073709551615,1.00,1970-01-01T00:01:00+00:00,1,\r\n"
        );
        let mut buf = Vec::new();
        out(&mut buf, Format::Json).rows(&rows, Map::new()).unwrap();
        let v: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["format_version"], FORMAT_VERSION);
        assert_eq!(v["command"], "test");
        assert_eq!(v["host"], "h=st\\x1b");
        assert_eq!(v["window"]["end"], "1970-01-01T00:01:00+00:00");
        let r = &v["rows"][0];
        assert_eq!(r["name"], "=cmd\\xff");
        assert_eq!(r["bytes"], 18446744073709551615u64);
        assert!(r["missing"].is_null());
        assert_eq!(r["gap"], true);
        let mut buf = Vec::new();
        out(&mut buf, Format::Ndjson)
            .rows(&rows, Map::new())
            .unwrap();
        let line: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(line["host"], "h=st\\x1b");
        assert_eq!(line["bytes"], r["bytes"]);
    }

    #[test]
    fn a_streamed_json_document_parses_with_and_without_rows() {
        for n in [0, 1, 3] {
            let mut buf = Vec::new();
            let mut o = out(&mut buf, Format::Json);
            let mut body = Map::new();
            body.insert("table".into(), "x".into());
            o.json_stream_start(body).unwrap();
            for i in 0..n {
                o.json_stream_row(&["i"], &[Cell::from(i as u64)]).unwrap();
            }
            o.json_stream_end().unwrap();
            let v: Value = serde_json::from_slice(&buf).unwrap();
            assert_eq!(v["rows"].as_array().unwrap().len(), n);
            assert_eq!(v["table"], "x");
            assert_eq!(v["format_version"], FORMAT_VERSION);
        }
    }

    #[test]
    fn escaping_is_lossless_and_stops_terminal_and_bidi_controls() {
        assert_eq!(escape_bytes(b"eth0"), "eth0");
        assert_eq!(escape_bytes(b"a\\b"), "a\\\\b");
        assert_eq!(escape_bytes(b"x\xffy\n"), "x\\xffy\\x0a");
        assert_eq!(escape_bytes(b"\x1b[2J"), "\\x1b[2J");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
        // U+202E RIGHT-TO-LEFT OVERRIDE and U+2066 LEFT-TO-RIGHT ISOLATE
        assert_eq!(escape_bytes("a\u{202e}b".as_bytes()), "a\\xe2\\x80\\xaeb");
        assert_eq!(escape_bytes("\u{2066}".as_bytes()), "\\xe2\\x81\\xa6");
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_text("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        for p in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_text(p).starts_with('\''), "{p}");
        }
        assert_eq!(csv_text("eth0"), "eth0");
    }
}
