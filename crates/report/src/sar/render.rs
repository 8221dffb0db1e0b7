//! Render report tables: sar's text layout, and the typed rows (`output::Rows`) that the
//! output path writes as CSV, JSON or NDJSON.
//!
//! Names from the kernel are bytes: they are shown with `output::escape_bytes`'s lossless
//! escape in every format.

use super::kinds::Calc;
use super::{Row, Table, value};
use crate::output::units::{minutes as duration_text, sar_human as human_kib};
use crate::output::{Cell, Rows, sar_date};
use jiff::tz::TimeZone;
use nrec_model::counter::flags_text;
use std::collections::HashMap;
use std::io::{self, Write};

use crate::output::hms;
use nrec_model::names::escape_bytes;
use nrec_store::query::Host;

/// A row's key: an interface as every command names it (`nrec_model::names::iface_label`,
/// what `--iface` takes back) with its alias, a process with its namespace when processes of
/// several are shown.
fn label(t: &Table, r: &Row) -> String {
    if t.kind.key == super::kinds::Key::Iface {
        return t
            .aliases
            .shown(&r.netns, r.iface.as_deref().unwrap_or_default());
    }
    let name = r.iface.as_deref().map(escape_bytes).unwrap_or_default();
    if t.show_netns && &r.netns[..] != b"root" {
        format!("{name}@{}", escape_bytes(&r.netns))
    } else {
        name
    }
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

/// The sysstat heading: `Linux 6.18 (host) \t11/22/26 \t_x86_64_\t(2 CPU)`, with the local
/// date of the rows (`11/22/26 - 11/29/26` when they span several days). Dates follow
/// sysstat's `S_TIME_FORMAT=ISO` (2026-11-22) when it is set.
pub fn heading(
    w: &mut dyn Write,
    host: &Host,
    (first_ms, last_ms): &(i64, i64),
    tz: &TimeZone,
) -> io::Result<()> {
    let (a, b) = (sar_date(*first_ms, tz), sar_date(*last_ms, tz));
    let dates = if a == b { a } else { format!("{a} - {b}") };
    writeln!(
        w,
        "Linux {} ({}) \t{} \t_{}_\t({} CPU)",
        host.kernel,
        escape_bytes(&host.hostname),
        dates,
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

/// The formatted key of a row (every row's key is formatted before the rows are written).
fn key_of<'k, 'a>(keys: &'k HashMap<(&'a [u8], Option<&'a [u8]>), String>, r: &'a Row) -> &'k str {
    keys.get(&(&r.netns[..], r.iface.as_deref()))
        .map_or("", String::as_str)
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
    let key_text = |r: &Row| {
        if t.kind.key.names().is_some() {
            label(t, r)
        } else if t.show_netns {
            escape_bytes(&r.netns)
        } else {
            String::new()
        }
    };
    let mut keys: Keys<'_> = HashMap::new();
    for r in rows.iter().chain(&avgs) {
        keys.entry((&r.netns[..], r.iface.as_deref()))
            .or_insert_with(|| key_text(r));
    }
    // The key column is as wide as its longest name (sar's 9 at least), as `ss` and `ps`
    // size theirs: `uxveth1@uxns` or `iperf3[10641]` never push the numbers apart.
    let kw = crate::output::column_width(9, keys.values().map(|k| k.chars().count()));
    let keyed = t.kind.key.names().is_some() || t.show_netns;
    for k in keys.values_mut().filter(|_| keyed) {
        *k = format!(" {k:>kw$}");
    }
    let mut clock: (i64, String) = (i64::MIN, String::new());
    writeln!(w)?;
    write!(w, "{:<11}", hms(t.segments[si].start_ms, tz))?;
    if let Some((head, _)) = t.kind.key.names() {
        write!(w, " {:>kw$}", head)?;
    } else if t.show_netns {
        write!(w, " {:>kw$}", "NETNS")?;
    }
    for c in t.kind.columns {
        // --human prints bytes with units (98.5k): the header says bytes, not kB
        let head = match c.calc {
            Calc::Rate(_, div) if human && div > 1.0 => c.head.replace("kB/s", "B/s"),
            _ => c.head.to_string(),
        };
        write!(w, " {:>9}", head)?;
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
        w.write_all(key_of(&keys, r).as_bytes())?;
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
        write!(w, "{:<11}{}", "Average:", key_of(&keys, r))?;
        for c in t.kind.columns {
            cell(w, c, r, human)?;
        }
        writeln!(w)?;
    }
    Ok(())
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
fn column_cell(c: &super::kinds::Column, r: &Row) -> Cell {
    match (value(c, r), c.calc) {
        (None, _) => Cell::Null,
        (Some(v), Calc::Mean(_)) if r.n == 1 => Cell::Int(v as i128),
        (Some(v), _) => Cell::Num(v, 2),
    }
}

/// Column names: the time column, then the key, raw inputs and sar's columns.
fn columns(t: &Table, first: &'static str, tail: &[&'static str]) -> Vec<&'static str> {
    let mut h: Vec<&'static str> = vec![first, "interval_s", "netns"];
    if let Some((_, name)) = t.kind.key.names() {
        h.push(name);
    }
    h.extend(raw_inputs(t).map(|(_, i)| i.name));
    h.extend(t.kind.columns.iter().map(|c| c.head));
    h.extend(tail);
    h
}

fn cells(t: &Table, r: &Row, first: Cell) -> Vec<Cell> {
    let mut v = vec![
        first,
        Cell::Num(r.elapsed_ms as f64 / 1000.0, 3),
        Cell::bytes(&r.netns),
    ];
    if t.kind.key.names().is_some() {
        v.push(Cell::bytes(r.iface.as_deref().unwrap_or_default()));
    }
    for (k, _) in raw_inputs(t) {
        v.push(match &r.sums {
            Some(s) if s[k] != super::UNKNOWN => Cell::Int(s[k] as i128),
            _ => Cell::Null,
        });
    }
    for c in t.kind.columns {
        v.push(column_cell(c, r));
    }
    v
}

/// One row per interval (and interface): `time`, `interval_s`, `netns`, the key, the raw
/// inputs, sar's columns, `flags`, `gap`.
pub fn rows(t: &Table) -> Rows {
    let mut out = Rows::new(&columns(t, "time", &["flags", "gap"]));
    for r in &t.rows {
        let mut v = cells(t, r, Cell::Time(r.time_ms));
        v.push(Cell::text(flags_text(r.flags)));
        v.push(Cell::Bool(r.gap));
        out.push(v);
    }
    out
}

/// sar's `Average:` block: one row per segment and key, `segment_start` first.
pub fn averages(t: &Table) -> Rows {
    let mut out = Rows::new(&columns(t, "segment_start", &[]));
    for r in &t.averages {
        let start = t
            .segments
            .get(r.segment)
            .map_or(Cell::Null, |s| Cell::Time(s.start_ms));
        out.push(cells(t, r, start));
    }
    out
}

/// `LINUX RESTART`s inside the window.
pub fn restarts(t: &Table) -> Rows {
    let mut out = Rows::new(&["time", "cpus"]);
    for s in t.segments.iter().filter(|s| s.restart) {
        out.push(vec![Cell::Time(s.start_ms), s.ncpu.into()]);
    }
    out
}

/// Which chart a column goes on: rates of one quantity in both directions share one
/// (`rxkB/s` and `txkB/s`: "kB/s"), as sadf -g draws them; percentages their own; the other
/// rates of a kind one "per second" chart, its gauges one "count" chart.
fn panel_of(head: &str) -> String {
    if head.contains('%') {
        return head.to_string();
    }
    for p in ["rx", "tx"] {
        if let Some(rest) = head.strip_prefix(p) {
            if rest.contains('/') {
                return rest.to_string();
            }
        }
    }
    if head.ends_with("/s") {
        "per second".into()
    } else {
        "count".into()
    }
}

/// The most series a chart draws (the busiest, by their sum); the rest are named as a count.
const MAX_SERIES: usize = 8;

/// `report --format svg`: per kind, one chart per group of columns ([`panel_of`]), a line per
/// (key, column) over time; a gap (missing samples) or a reboot breaks the line, reboots are
/// marked; `note` names the resolution when rollups stand in for pruned samples.
pub fn svg(ts: &[Table], title: &str, note: &str, window: (i64, i64), tz: &TimeZone) -> String {
    use crate::output::svg::{Panel, Series, time_panels};
    let mut panels = Vec::new();
    let mut restarts: Vec<i64> = Vec::new();
    let (mut zero, mut unknown): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for t in ts {
        restarts.extend(t.segments.iter().filter(|s| s.restart).map(|s| s.start_ms));
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (ci, c) in t.kind.columns.iter().enumerate() {
            let g = panel_of(c.head);
            match groups.iter_mut().find(|(k, _)| *k == g) {
                Some((_, cols)) => cols.push(ci),
                None => groups.push((g, vec![ci])),
            }
        }
        let keyed = t.kind.key.names().is_some() || t.show_netns;
        let key_text = |r: &Row| {
            if t.kind.key.names().is_some() {
                label(t, r)
            } else {
                escape_bytes(&r.netns)
            }
        };
        for (unit, cols) in groups {
            let mut series: Vec<(Series, usize, f64)> = Vec::new();
            let mut index: HashMap<(String, usize), usize> = HashMap::new();
            for r in &t.rows {
                let key = if keyed { key_text(r) } else { String::new() };
                for &ci in &cols {
                    let c = &t.kind.columns[ci];
                    let i = *index.entry((key.clone(), ci)).or_insert_with(|| {
                        let name = if keyed {
                            format!("{key} {}", c.head)
                        } else {
                            c.head.to_string()
                        };
                        series.push((
                            Series {
                                name,
                                points: Vec::new(),
                            },
                            usize::MAX,
                            0.0,
                        ));
                        series.len() - 1
                    });
                    let (s, seg, sum) = &mut series[i];
                    // a new boot or missing samples before this row: the line breaks
                    if (*seg != usize::MAX && *seg != r.segment) || r.gap {
                        s.points.push((r.time_ms - r.elapsed_ms, None));
                    }
                    *seg = r.segment;
                    let v = value(c, r);
                    *sum += v.unwrap_or(0.0);
                    s.points.push((r.time_ms, v));
                }
            }
            let n = series.len();
            series.sort_by(|a, b| b.2.total_cmp(&a.2));
            series.truncate(MAX_SERIES);
            let heads: Vec<&str> = cols.iter().map(|&ci| t.kind.columns[ci].head).collect();
            let mut title = format!("{}: {}", t.kind.name, heads.join(" "));
            if n > MAX_SERIES {
                title.push_str(&format!(" — the {MAX_SERIES} busiest of {n}"));
            }
            // a chart of nothing but zeros, or of no value at all, is a line of text
            let values = || {
                series
                    .iter()
                    .flat_map(|s| s.0.points.iter().filter_map(|p| p.1))
            };
            if values().next().is_none() {
                unknown.push(format!("{} {}", t.kind.name, heads.join(" ")));
                continue;
            }
            if values().all(|v| v == 0.0) {
                zero.push(format!("{} {}", t.kind.name, heads.join(" ")));
                continue;
            }
            panels.push(Panel {
                title,
                unit,
                series: series.into_iter().map(|(s, _, _)| s).collect(),
            });
        }
    }
    restarts.sort_unstable();
    restarts.dedup();
    let mut note = note.to_string();
    for (what, list) in [("0 throughout", &zero), ("not known", &unknown)] {
        if !list.is_empty() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!("{what}: {}", list.join(", ")));
        }
    }
    time_panels(title, &note, &panels, window, &restarts, tz)
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
}
