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
use std::collections::HashMap;
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
    if t.show_netns && &r.netns[..] != b"root" {
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

fn cell(w: &mut dyn Write, c: &super::kinds::Column, r: &Row, human: bool) -> io::Result<()> {
    let Some(v) = value(c, r) else {
        return write!(w, " {:>9}", "-");
    };
    match c.calc {
        // sar prints gauges as integers, and their averages with %9.0f
        Calc::Mean(_) => write!(w, " {:>9.0}", v),
        Calc::Rate(_, div) if human && div > 1.0 => w.write_all(human_kib(v).as_bytes()),
        Calc::IfUtil(..) if human => write!(w, " {:>8.1}%", v),
        _ => fixed2(w, v),
    }
}

/// A CSV writer as every report writes CSV: RFC 4180, CRLF line ends, header row.
pub fn csv_writer<W: io::Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(w)
}

/// `" {:>9.2}"` of `v`, the bulk of a day's report: integer arithmetic when the rounding is
/// unambiguous (the std formatter, exact like printf's %.2f, otherwise and for ties).
fn fixed2(w: &mut dyn Write, v: f64) -> io::Result<()> {
    let x = v * 100.0;
    let frac = x - x.floor();
    if !(0.0..1e15).contains(&x) || (frac - 0.5).abs() < 1e-6 {
        return write!(w, " {v:>9.2}");
    }
    let n = x.round() as u64;
    let mut buf = [b' '; 32];
    let mut i = buf.len();
    let mut put = |d: u8| {
        i -= 1;
        buf[i] = d;
    };
    put(b'0' + (n % 10) as u8);
    put(b'0' + (n / 10 % 10) as u8);
    put(b'.');
    let mut int = n / 100;
    loop {
        put(b'0' + (int % 10) as u8);
        int /= 10;
        if int == 0 {
            break;
        }
    }
    let start = i.min(buf.len() - 9);
    w.write_all(b" ")?;
    w.write_all(&buf[start..])
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
    // One formatted key per (netns, label) and one clock string per row time: a day of
    // 10 interfaces is 14 400 rows, and time-zone conversion is the costly part of a row.
    type Keys<'a> = HashMap<(&'a [u8], Option<&'a [u8]>), String>;
    fn key_of<'a, 'k>(keys: &'k mut Keys<'a>, t: &Table, r: &'a Row) -> &'k str {
        keys.entry((&r.netns[..], r.iface.as_deref()))
            .or_insert_with(|| {
                if t.kind.key.names().is_some() {
                    format!(" {:>9}", label(t, r))
                } else if t.show_netns {
                    format!(" {:>9}", escape_bytes(&r.netns))
                } else {
                    String::new()
                }
            })
    }
    let mut keys: Keys<'_> = HashMap::new();
    let mut clock: (i64, String) = (i64::MIN, String::new());
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
        if clock.0 != r.time_ms {
            clock = (r.time_ms, format!("{:<11}", hms(r.time_ms, tz)));
        }
        w.write_all(clock.1.as_bytes())?;
        w.write_all(key_of(&mut keys, t, r).as_bytes())?;
        if r.sums.is_none() {
            writeln!(w, "    not counted: {}", flags_text(r.flags))?;
            continue;
        }
        for c in t.kind.columns {
            cell(w, c, r, human)?;
        }
        w.write_all(b"\n")?;
    }
    for r in avgs {
        write!(w, "{:<11}{}", "Average:", key_of(&mut keys, t, r))?;
        for c in t.kind.columns {
            cell(w, c, r, human)?;
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
    let mut cw = crate::report::render::csv_writer(w);
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
    fn fast_fixed_point_matches_the_std_formatter() {
        let mut seed = 42u64;
        let mut vals: Vec<f64> = vec![
            0.0,
            0.004,
            0.005,
            0.015,
            0.125,
            0.135,
            1.005,
            2.675,
            99.995,
            1e12,
            123456789.125,
        ];
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mant = (seed >> 11) as f64 / (1u64 << 53) as f64;
            vals.push(mant * 10f64.powi((seed % 12) as i32));
            vals.push((seed % 100_000) as f64 / 1000.0 / 60.0);
        }
        for v in vals {
            let mut a = Vec::new();
            fixed2(&mut a, v).unwrap();
            assert_eq!(String::from_utf8(a).unwrap(), format!(" {v:>9.2}"), "{v:e}");
        }
    }

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
