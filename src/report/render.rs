//! Render tables as sar-style text, CSV (RFC 4180, formula-safe) or JSON.
//!
//! Names from the kernel are bytes: they are shown with a lossless escape (`\xNN` for bytes
//! that are not printable UTF-8, `\\` for a backslash), and CSV cells that a spreadsheet
//! would run as a formula get a leading `'`.

use super::kinds::Calc;
use super::{Row, Table, value};
use crate::store::delta::flags_text;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Host facts for the heading line.
#[derive(Debug, Clone)]
pub struct Host {
    pub hostname: Vec<u8>,
    pub kernel: String,
    pub arch: String,
    pub ncpu: u32,
}

/// Lossless, printable text of untrusted bytes.
pub fn escape_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// A CSV text cell a spreadsheet will not evaluate.
pub fn csv_text(s: &str) -> String {
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

pub fn hms(ts_ms: i64, tz: &TimeZone) -> String {
    local(ts_ms, tz).strftime("%H:%M:%S").to_string()
}

/// ISO 8601 local time with offset, e.g. 2026-11-22T22:31:22+01:00.
pub fn iso(ts_ms: i64, tz: &TimeZone) -> String {
    local(ts_ms, tz)
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn label(t: &Table, r: &Row) -> String {
    let name = r.iface.as_deref().map(escape_bytes).unwrap_or_default();
    if t.show_netns && r.netns != b"root" {
        format!("{name}@{}", escape_bytes(&r.netns))
    } else {
        name
    }
}

/// sar `--human`: a KiB/s figure as bytes with a binary unit, 9 wide.
fn human_kib(v: f64) -> String {
    let mut x = v * 1024.0;
    let units = ['B', 'k', 'M', 'G', 'T', 'P'];
    let mut u = 0;
    while x >= 1024.0 && u < units.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    format!(" {:>8.1}{}", x, units[u])
}

fn cell(c: &super::kinds::Column, r: &Row, human: bool) -> String {
    let Some(v) = value(c, r) else {
        return format!(" {:>9}", "-");
    };
    match c.calc {
        // sar prints gauges as integers, and their averages with %9.0f
        Calc::Mean(_) => format!(" {:>9.0}", v),
        Calc::Rate(_, div) if human && div > 1.0 => human_kib(v),
        Calc::IfUtil(..) if human => format!(" {:>8.1}%", v),
        _ => format!(" {:>9.2}", v),
    }
}

fn duration_text(ms: i64) -> String {
    let m = ms / 60_000;
    match (m / 1440, (m / 60) % 24, m % 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, m) => format!("{d}d{h:02}h{m:02}m"),
    }
}

/// The sysstat heading: `Linux 6.18 (host) \t11/22/26 \t_x86_64_\t(2 CPU)`.
pub fn heading(w: &mut dyn Write, host: &Host, day_ms: i64, tz: &TimeZone) -> io::Result<()> {
    writeln!(
        w,
        "Linux {} ({}) \t{} \t_{}_\t({} CPU)",
        host.kernel,
        escape_bytes(&host.hostname),
        local(day_ms, tz).strftime("%m/%d/%y"),
        host.arch,
        host.ncpu
    )
}

/// Tables in sar's layout. Like `sar -f`, the outer loop is over segments (runs of one
/// boot) and the inner over kinds: each kind gets a heading, its rows and its Average block,
/// and `LINUX RESTART` separates segments. All tables come from the same samples, so they
/// share one segment list.
pub fn tables(w: &mut dyn Write, ts: &[Table], tz: &TimeZone, human: bool) -> io::Result<()> {
    let Some(first) = ts.first() else {
        return Ok(());
    };
    for (si, seg) in first.segments.iter().enumerate() {
        if seg.restart {
            writeln!(w)?;
            writeln!(
                w,
                "{:<11}  LINUX RESTART\t({} CPU)",
                hms(seg.start_ms, tz),
                seg.ncpu
            )?;
        }
        for t in ts {
            segment(w, t, si, tz, human)?;
        }
    }
    Ok(())
}

fn segment(w: &mut dyn Write, t: &Table, si: usize, tz: &TimeZone, human: bool) -> io::Result<()> {
    let rows: Vec<&Row> = t.rows.iter().filter(|r| r.segment == si).collect();
    let avgs: Vec<&Row> = t.averages.iter().filter(|r| r.segment == si).collect();
    if rows.is_empty() && avgs.is_empty() {
        return Ok(());
    }
    let key = |r: &Row| -> String {
        if t.kind.key.names().is_some() {
            format!(" {:>9}", label(t, r))
        } else if t.show_netns {
            format!(" {:>9}", escape_bytes(&r.netns))
        } else {
            String::new()
        }
    };
    writeln!(w)?;
    write!(w, "{:<11}", hms(t.segments[si].start_ms, tz))?;
    if let Some((head, _)) = t.kind.key.names() {
        write!(w, " {:>9}", head)?;
    } else if t.show_netns {
        write!(w, " {:>9}", "NETNS")?;
    }
    for c in t.kind.columns {
        write!(w, " {:>9}", c.head)?;
    }
    writeln!(w)?;
    let mut last_gap_end = i64::MIN;
    for r in rows {
        if r.gap && r.time_ms != last_gap_end {
            last_gap_end = r.time_ms;
            writeln!(
                w,
                "{:<11}       (gap: no samples for {}; the rows below average over it)",
                hms(r.time_ms - r.elapsed_ms, tz),
                duration_text(r.elapsed_ms)
            )?;
        }
        write!(w, "{:<11}{}", hms(r.time_ms, tz), key(r))?;
        if r.sums.is_none() {
            writeln!(w, "    not counted: {}", flags_text(r.flags))?;
            continue;
        }
        for c in t.kind.columns {
            write!(w, "{}", cell(c, r, human))?;
        }
        writeln!(w)?;
    }
    for r in avgs {
        write!(w, "{:<11}{}", "Average:", key(r))?;
        for c in t.kind.columns {
            write!(w, "{}", cell(c, r, human))?;
        }
        writeln!(w)?;
    }
    Ok(())
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64((v * 100.0).round() / 100.0)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The inputs that get a raw-delta column of their own. Gauges do not: their column is
/// already the raw value.
fn raw_inputs(t: &Table) -> impl Iterator<Item = (usize, &super::kinds::Input)> {
    t.kind
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, i)| !matches!(i.src, super::kinds::Src::Gauge(_)))
}

/// A sar column as data: gauges of one sample are integers, everything else 2 decimals.
fn column_text(c: &super::kinds::Column, r: &Row) -> String {
    match (value(c, r), c.calc) {
        (None, _) => String::new(),
        (Some(v), Calc::Mean(_)) if r.n == 1 => format!("{v:.0}"),
        (Some(v), _) => format!("{v:.2}"),
    }
}

/// CSV header names of a table.
fn csv_header(t: &Table) -> Vec<String> {
    let mut h: Vec<String> = vec!["time".into(), "interval_s".into(), "netns".into()];
    if let Some((_, name)) = t.kind.key.names() {
        h.push(name.into());
    }
    h.extend(raw_inputs(t).map(|(_, i)| i.name.to_string()));
    h.extend(t.kind.columns.iter().map(|c| c.head.to_string()));
    h.push("flags".into());
    h.push("gap".into());
    h
}

fn row_cells(t: &Table, r: &Row, tz: &TimeZone) -> Vec<String> {
    let mut v = vec![
        iso(r.time_ms, tz),
        format!("{:.3}", r.elapsed_ms as f64 / 1000.0),
        csv_text(&escape_bytes(&r.netns)),
    ];
    if t.kind.key.names().is_some() {
        v.push(csv_text(&escape_bytes(
            r.iface.as_deref().unwrap_or_default(),
        )));
    }
    for (k, _) in raw_inputs(t) {
        v.push(match &r.sums {
            Some(s) if s[k] != super::UNKNOWN => s[k].to_string(),
            _ => String::new(),
        });
    }
    for c in t.kind.columns {
        v.push(column_text(c, r));
    }
    v.push(flags_text(r.flags));
    v.push(if r.gap { "1" } else { "0" }.into());
    v
}

/// RFC 4180 CSV, one header row then one row per interval (and interface).
pub fn csv(w: &mut dyn Write, t: &Table, tz: &TimeZone, with_header: bool) -> io::Result<()> {
    let mut cw = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(w);
    if with_header {
        cw.write_record(csv_header(t)).map_err(csv_io)?;
    }
    for r in &t.rows {
        cw.write_record(row_cells(t, r, tz)).map_err(csv_io)?;
    }
    cw.flush()
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        k => io::Error::other(format!("{k:?}")),
    }
}

fn row_json(t: &Table, r: &Row, tz: &TimeZone, avg: bool) -> Value {
    let mut m = Map::new();
    if !avg {
        m.insert("time".into(), json!(iso(r.time_ms, tz)));
    }
    m.insert("interval_s".into(), json!(r.elapsed_ms as f64 / 1000.0));
    m.insert("netns".into(), json!(escape_bytes(&r.netns)));
    if let (Some(i), Some((_, name))) = (&r.iface, t.kind.key.names()) {
        m.insert(name.into(), json!(escape_bytes(i)));
    }
    for (k, inp) in raw_inputs(t) {
        let v = match &r.sums {
            Some(s) if s[k] != super::UNKNOWN => json!(s[k] as u64),
            _ => Value::Null,
        };
        m.insert(inp.name.into(), v);
    }
    for c in t.kind.columns {
        let v = match (value(c, r), c.calc) {
            (None, _) => Value::Null,
            (Some(v), Calc::Mean(_)) if r.n == 1 => json!(v as u64),
            (Some(v), _) => number(v),
        };
        m.insert(c.head.into(), v);
    }
    if !avg {
        m.insert("flags".into(), json!(flags_text(r.flags)));
        m.insert("gap".into(), json!(r.gap));
    }
    Value::Object(m)
}

/// A table as a JSON object: rows, averages, restarts.
pub fn table_json(t: &Table, tz: &TimeZone) -> Value {
    json!({
        "kind": t.kind.name,
        "rows": t.rows.iter().map(|r| row_json(t, r, tz, false)).collect::<Vec<_>>(),
        "average": t.averages.iter().map(|r| {
            let mut v = row_json(t, r, tz, true);
            if let Value::Object(m) = &mut v {
                m.insert("segment_start".into(), json!(iso(t.segments[r.segment].start_ms, tz)));
            }
            v
        }).collect::<Vec<_>>(),
        "restarts": t.segments.iter().filter(|s| s.restart).map(|s| json!({
            "time": iso(s.start_ms, tz), "cpus": s.ncpu
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_lossless_and_formula_safe() {
        assert_eq!(escape_bytes(b"eth0"), "eth0");
        assert_eq!(escape_bytes(b"a\\b"), "a\\\\b");
        assert_eq!(escape_bytes(b"x\xffy\n"), "x\\xffy\\x0a");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
        assert_eq!(csv_text("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        for p in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_text(p).starts_with('\''), "{p}");
        }
        assert_eq!(csv_text("eth0"), "eth0");
        assert_eq!(human_kib(4872.65), "      4.8M");
        assert_eq!(duration_text(3_720_000), "1h02m");
    }
}
