//! `nrec summary`: vnstat's views (today / yesterday / this month / last month / all time,
//! and hourly, daily, monthly, yearly, top days) per interface, or for one process or port —
//! from the rollups, in local time, without vnstat's faults: periods are computed from UTC
//! quarter-hour buckets (exact in every zone, DST days are 23 or 25 hours, no merged hour)
//! and traffic across a recorder outage is counted, not dropped.

use crate::output::units::{bits_per_s as bits, bytes as size};
use crate::output::{Cell, Format, Output, Rows, write_error};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use nrec_model::error::{Error, Result};
use nrec_model::filter::IfaceFilter;
use nrec_model::names::escape_bytes;
use nrec_model::scope::{Networks, Scope, class_of_text};
use nrec_model::time::MonthStart;
use nrec_model::time::{DAY_MS, day_start};
use nrec_store::Reader;
use nrec_store::rollup::Kind;
use nrec_store::series::{IfaceSeries, Vector};
use nrec_store::window::Resolution;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// Which periods a summary shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// today, yesterday, this month, last month, all time
    Overview,
    Hourly,
    Daily,
    Monthly,
    Yearly,
    /// The n busiest days of each key.
    TopDays(usize),
    /// 5-minute periods (vnStat's -5; default: the last 24 hours).
    FiveMinutes,
    /// The last 24 hours as a text graph per key (vnStat's -hg); data formats get its hours.
    HoursGraph,
    /// vnStat's `--oneline`: per key one `;`-separated line of today, this month and all
    /// time (`bytes`: numbers as integers — bytes, and bits per second).
    Oneline {
        bytes: bool,
    },
}

impl View {
    /// The view a picture is titled with.
    fn name(self) -> &'static str {
        match self {
            View::Overview => "",
            View::Hourly => "hourly",
            View::Daily => "daily",
            View::Monthly => "monthly",
            View::Yearly => "yearly",
            View::TopDays(_) => "top days",
            View::FiveMinutes => "five minutes",
            View::HoursGraph => "hourly",
            View::Oneline { .. } => "",
        }
    }
}

/// What a summary is about.
#[derive(Debug, Clone)]
pub enum Subject {
    /// Interfaces (all, or those the filter names), by name per namespace across reboots.
    Ifaces(IfaceFilter),
    /// Every process with this name (comm).
    Proc(Vec<u8>),
    /// One service port.
    Port(u16),
    /// The bytes with hosts of one scope (classed with `lan`): every process's, or those of
    /// the processes named `proc`.
    Scope {
        scope: Scope,
        lan: Networks,
        proc: Option<Vec<u8>>,
    },
}

/// What `nrec summary` shows.
#[derive(Debug, Clone)]
pub struct Settings {
    pub view: View,
    pub subject: Subject,
    /// The window the user asked for, when one was: periods are clipped to it.
    pub clip: Option<(i64, i64)>,
    pub now: Timestamp,
    /// Where a month begins (the config's `month_start`: a billing cycle).
    pub month: MonthStart,
}

/// What the command may want to say on stderr about the summary it wrote.
#[derive(Debug, Default)]
pub struct Notes {
    /// The coarsest data read at the periods' edges.
    pub resolution: Resolution,
    /// Nothing was recorded in the periods (tables only).
    pub empty: bool,
    /// Interface filters that matched nothing recorded, and what was recorded.
    pub unmatched: Option<nrec_model::filter::Unmatched>,
}

/// One period of the view.
struct Period {
    label: String,
    start_ms: i64,
    end_ms: i64,
    /// The period contains now: an end-of-period estimate makes sense.
    current: bool,
}

/// One output row.
struct Line {
    key: String,
    period: usize,
    rx: u64,
    tx: u64,
}

fn ms(t: &Zoned) -> i64 {
    t.timestamp().as_millisecond()
}

fn err(e: jiff::Error) -> Error {
    Error::usage(format!("summary period: {e}"))
}

/// A summary's numbers: the periods, and per key and period the bytes.
struct Summed {
    periods: Vec<Period>,
    lines: Vec<Line>,
    kind: Kind,
    edges: Resolution,
    first_ms: Option<i64>,
    now_ms: i64,
    /// Interfaces' aliases, shown next to their names in the table, the graph and the picture.
    aliases: nrec_model::names::Aliases,
}

impl Summed {
    /// A line's key as the table and the picture show it: an interface with its alias.
    fn shown(&self, key: &str) -> String {
        match self.kind {
            Kind::Iface => self.aliases.shown_label(key),
            _ => key.to_string(),
        }
    }
    /// The part of a period that has passed (and has data).
    fn span_of(&self, p: &Period) -> (i64, i64) {
        let a = p.start_ms.max(self.first_ms.unwrap_or(p.start_ms));
        let b = p.end_ms.min(self.now_ms);
        (a, b.max(a))
    }
    /// The average rate over the part of the period that has passed.
    fn rate(&self, l: &Line) -> f64 {
        let (a, b) = self.span_of(&self.periods[l.period]);
        if b > a {
            (l.rx + l.tx) as f64 * 8.0 / ((b - a) as f64 / 1000.0)
        } else {
            0.0
        }
    }
    /// That rate carried to the period's end, for the current period only.
    fn estimate(&self, l: &Line) -> Option<u64> {
        let p = &self.periods[l.period];
        if !p.current {
            return None;
        }
        let (a, b) = self.span_of(p);
        (b > a).then(|| ((l.rx + l.tx) as f64 * (p.end_ms - a) as f64 / (b - a) as f64) as u64)
    }
}

/// Sums each key's series over each period of the view.
fn sum(r: &mut Reader, s: &Settings, tz: &TimeZone, notes: &mut Notes) -> Result<Summed> {
    let now_z = s.now.to_zoned(tz.clone());
    let now_ms = s.now.as_millisecond();
    let first_ms: Option<i64> = r.first_day()?.map(|d| d * DAY_MS);
    let mut periods = periods(
        s.view,
        (&now_z, tz, s.month),
        first_ms.unwrap_or(now_ms),
        s.clip,
    )?;
    if let Some((a, b)) = s.clip {
        for p in &mut periods {
            p.start_ms = p.start_ms.max(a);
            p.end_ms = p.end_ms.min(b);
        }
        periods.retain(|p| p.start_ms < p.end_ms);
    }
    let (kind, labels) = series_labels(r, &s.subject, notes)?;
    let mut edges = Resolution::Raw;
    let mut lines: BTreeMap<(String, usize), Line> = BTreeMap::new();
    let windows: Vec<(i64, i64)> = periods
        .iter()
        .map(|p| (p.start_ms, p.end_ms.min(now_ms)))
        .collect();
    for (i, sums) in r.sums_each(&[kind], &windows)?.iter().enumerate() {
        edges = edges.max(sums.edges);
        for (series, v) in &sums.by_series {
            let Some(key) = labels.get(series) else {
                continue;
            };
            let (rx, tx) = Vector(v).bytes(kind);
            let l = lines.entry((key.clone(), i)).or_insert(Line {
                key: key.clone(),
                period: i,
                rx: 0,
                tx: 0,
            });
            l.rx += rx;
            l.tx += tx;
        }
    }
    let mut lines: Vec<Line> = lines.into_values().collect();
    if let View::TopDays(n) = s.view {
        lines = busiest_days(lines, n);
    }
    Ok(Summed {
        periods,
        lines,
        kind,
        edges,
        first_ms,
        now_ms,
        aliases: match &s.subject {
            Subject::Ifaces(f) => f.aliases().clone(),
            _ => Default::default(),
        },
    })
}

/// Per key, its `n` busiest days.
fn busiest_days(lines: Vec<Line>, n: usize) -> Vec<Line> {
    let mut by_key: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    for l in lines {
        by_key.entry(l.key.clone()).or_default().push(l);
    }
    let mut out = Vec::new();
    for (_, mut v) in by_key {
        v.sort_by(|a, b| {
            (b.rx + b.tx)
                .cmp(&(a.rx + a.tx))
                .then(a.period.cmp(&b.period))
        });
        v.truncate(n);
        out.extend(v);
    }
    out
}

/// The summary: per key and period the bytes, the average rate, and the current period's
/// estimate, in the output's format.
pub fn write(r: &mut Reader, s: &Settings, o: &mut Output<'_>) -> Result<Notes> {
    let tz = o.tz.clone();
    let mut notes = Notes::default();
    let sum = sum(r, s, &tz, &mut notes)?;
    notes.resolution = sum.edges;
    match o.format {
        Format::Svg | Format::Png => picture(s, &sum, &tz, o)?,
        Format::Table => {
            notes.empty = sum.lines.is_empty();
            match s.view {
                View::HoursGraph => hours_graph(&sum, o).map_err(write_error)?,
                View::Oneline { bytes } => oneline(&sum, bytes, o).map_err(write_error)?,
                _ => table(&sum, o).map_err(write_error)?,
            }
        }
        _ => data(&sum, &tz, o)?,
    }
    Ok(notes)
}

/// One chart per key, its periods in time order (top days: busiest first).
fn picture(s: &Settings, sum: &Summed, tz: &TimeZone, o: &mut Output<'_>) -> Result<()> {
    use crate::output::svg::{PeriodBar, period_bars};
    let mut groups: Vec<(String, Vec<PeriodBar>)> = Vec::new();
    for l in &sum.lines {
        let p = &sum.periods[l.period];
        let bar = PeriodBar {
            label: p.label.clone(),
            detail: format!(
                "{} {} ({} – {})",
                sum.shown(&l.key),
                p.label,
                crate::output::local_text(p.start_ms, tz),
                crate::output::local_text(p.end_ms, tz)
            ),
            rx: l.rx,
            tx: l.tx,
            estimate: sum.estimate(l),
        };
        match groups.iter_mut().find(|(k, _)| *k == sum.shown(&l.key)) {
            Some((_, bars)) => bars.push(bar),
            None => groups.push((sum.shown(&l.key), vec![bar])),
        }
    }
    // the busiest first; a host's 20 idle veths are a count, not 20 charts
    let total = |bars: &[PeriodBar]| bars.iter().map(|b| b.rx + b.tx).sum::<u64>();
    groups.sort_by(|a, b| total(&b.1).cmp(&total(&a.1)).then(a.0.cmp(&b.0)));
    let more = groups.len().saturating_sub(MAX_CHARTS);
    groups.truncate(MAX_CHARTS);
    let title = o.picture_title(s.view.name());
    let mut note = format!(
        "bytes per period ({}); the current period's estimate dashed",
        tz.iana_name().unwrap_or("local time")
    );
    if more > 0 {
        note.push_str(&format!(
            "; the {MAX_CHARTS} busiest, {more} more not drawn"
        ));
    }
    o.picture(&period_bars(&title, &note, &groups))
}

/// The lines as data.
fn data(sum: &Summed, tz: &TimeZone, o: &mut Output<'_>) -> Result<()> {
    let key_column = match sum.kind {
        Kind::Iface => "iface",
        Kind::Proc => "process",
        Kind::Host => "scope",
        _ => "port",
    };
    let mut rows = Rows::new(&[
        key_column,
        "period",
        "start",
        "end",
        "rx_bytes",
        "tx_bytes",
        "total_bytes",
        "avg_bits_per_s",
        "estimated_total_bytes",
    ]);
    for l in &sum.lines {
        let p = &sum.periods[l.period];
        rows.push(vec![
            Cell::text(l.key.as_str()),
            Cell::text(p.label.as_str()),
            Cell::Time(p.start_ms),
            Cell::Time(p.end_ms),
            l.rx.into(),
            l.tx.into(),
            (l.rx + l.tx).into(),
            Cell::Num(sum.rate(l).round(), 0),
            Cell::opt_int(sum.estimate(l)),
        ]);
    }
    let body = json!({
        "timezone": tz.iana_name().unwrap_or("local"),
        "edges": sum.edges.describe(),
    });
    o.rows(&rows, body.as_object().cloned().unwrap_or_default())
        .map_err(write_error)
}

/// The lines as a table; the name column as wide as its longest name (interface@namespace
/// can be long).
fn table(sum: &Summed, o: &mut Output<'_>) -> std::io::Result<()> {
    let head = match sum.kind {
        Kind::Iface => "IFACE",
        Kind::Proc => "PROCESS",
        Kind::Host => "SCOPE",
        _ => "PORT",
    };
    let out = o.text();
    let kw = crate::output::column_width(
        16,
        sum.lines.iter().map(|l| sum.shown(&l.key).chars().count()),
    );
    writeln!(
        out,
        "{:<kw$} {:<18} {:>11} {:>11} {:>11} {:>14} {:>11}",
        head, "PERIOD", "RX", "TX", "TOTAL", "AVG RATE", "ESTIMATED"
    )?;
    for l in &sum.lines {
        writeln!(
            out,
            "{:<kw$} {:<18} {:>11} {:>11} {:>11} {:>14} {:>11}",
            sum.shown(&l.key),
            sum.periods[l.period].label,
            size(l.rx),
            size(l.tx),
            size(l.rx + l.tx),
            bits(sum.rate(l)),
            sum.estimate(l).map(size).unwrap_or_else(|| "-".into())
        )?;
    }
    Ok(())
}

/// vnStat's `-hg`: per key, the hours as columns of `r` (rx) and `t` (tx) scaled to the
/// busiest hour, the hour of day under each.
fn hours_graph(sum: &Summed, o: &mut Output<'_>) -> std::io::Result<()> {
    const ROWS: u64 = 10;
    let out = o.text();
    let mut keys: Vec<&str> = sum.lines.iter().map(|l| l.key.as_str()).collect();
    keys.dedup();
    for key in keys {
        let mut hours: Vec<(u64, u64)> = vec![(0, 0); sum.periods.len()];
        for l in sum.lines.iter().filter(|l| l.key == key) {
            hours[l.period] = (l.rx, l.tx);
        }
        let peak = hours.iter().map(|(r, t)| (*r).max(*t)).max().unwrap_or(0);
        let height = |v: u64| {
            if peak == 0 {
                0
            } else {
                (v * ROWS).div_ceil(peak)
            }
        };
        writeln!(
            out,
            "{}  (r: rx, t: tx per hour; the busiest hour {} — top of the scale)",
            sum.shown(key),
            size(peak)
        )?;
        for row in (1..=ROWS).rev() {
            let mut line = String::from("  |");
            for (r, t) in &hours {
                line.push(if height(*r) >= row { 'r' } else { ' ' });
                line.push(if height(*t) >= row { 't' } else { ' ' });
                line.push(' ');
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        writeln!(out, " -+{}>", "-".repeat(3 * hours.len()))?;
        let mut labels = String::from("  |");
        for p in &sum.periods {
            // "YYYY-MM-DD HH:MM" → HH
            labels.push_str(p.label.get(11..13).unwrap_or("  "));
            labels.push(' ');
        }
        writeln!(out, "{}", labels.trim_end())?;
        writeln!(out)?;
    }
    Ok(())
}

/// vnStat's `--oneline`: per key `1;KEY;TODAY;RX;TX;TOTAL;RATE;MONTH;RX;TX;TOTAL;RATE;ALL
/// RX;ALL TX;ALL TOTAL` — the format version first, then today (its date), this month (its
/// first day's month, or first day when the month is a billing cycle) and all time; sizes
/// and rates as people read them, or as integers (`bytes`: bytes, bits per second).
fn oneline(sum: &Summed, bytes: bool, o: &mut Output<'_>) -> std::io::Result<()> {
    let tz = o.tz.clone();
    let out = o.text();
    let v = |n: u64| if bytes { n.to_string() } else { size(n) };
    let rate = |r: f64| {
        if bytes { format!("{:.0}", r) } else { bits(r) }
    };
    let mut keys: Vec<&str> = sum.lines.iter().map(|l| l.key.as_str()).collect();
    keys.dedup();
    for key in keys {
        let mut fields = vec!["1".to_string(), key.replace(';', "\\x3b")];
        for (i, p) in sum.periods.iter().enumerate() {
            if p.label == "yesterday" || p.label == "last month" {
                continue;
            }
            let l = sum.lines.iter().find(|l| l.key == key && l.period == i);
            let (rx, tx) = l.map_or((0, 0), |l| (l.rx, l.tx));
            let start = Timestamp::from_millisecond(p.start_ms)
                .unwrap_or(Timestamp::UNIX_EPOCH)
                .to_zoned(tz.clone());
            match p.label.as_str() {
                "today" => fields.push(start.strftime("%Y-%m-%d").to_string()),
                "this month" if start.day() == 1 => {
                    fields.push(start.strftime("%Y-%m").to_string())
                }
                "this month" => fields.push(start.strftime("%Y-%m-%d").to_string()),
                _ => {}
            }
            fields.push(v(rx));
            fields.push(v(tx));
            fields.push(v(rx + tx));
            if p.label != "all time" {
                fields.push(rate(l.map_or(0.0, |l| sum.rate(l))));
            }
        }
        writeln!(out, "{}", fields.join(";"))?;
    }
    Ok(())
}

/// The series the summary is about and their row labels: interfaces (by name, per
/// namespace, across reboots), or every process with one name, or one port.
pub(crate) fn series_labels(
    r: &Reader,
    subject: &Subject,
    notes: &mut Notes,
) -> Result<(Kind, HashMap<i64, String>)> {
    let mut out = HashMap::new();
    let filter = match subject {
        Subject::Proc(name) => {
            let label = escape_bytes(name);
            for p in r.procs()?.into_iter().filter(|p| &p.comm == name) {
                out.insert(p.series, label.clone());
            }
            return Ok((Kind::Proc, out));
        }
        Subject::Port(port) => {
            for d in r.details(Kind::Port, Some(*port))? {
                out.insert(d.series, format!("{}/{}", d.proto, d.port));
            }
            return Ok((Kind::Port, out));
        }
        Subject::Scope { scope, lan, proc } => {
            let label = match proc {
                Some(name) => format!("{} ({})", scope.name(), escape_bytes(name)),
                None => scope.name().to_string(),
            };
            for d in r.details(Kind::Host, None)? {
                let ours = proc.as_ref().is_none_or(|n| &d.comm == n);
                let class = class_of_text(&d.addr, lan);
                if ours && class.is_some_and(|(_, sc)| sc == *scope) {
                    out.insert(d.series, label.clone());
                }
            }
            return Ok((Kind::Host, out));
        }
        Subject::Ifaces(f) => f,
    };
    let all = r.ifaces()?;
    if !filter.is_empty() {
        let seen: Vec<(&[u8], &[u8])> = all.iter().map(|i| (&i.netns[..], &i.name[..])).collect();
        notes.unmatched = filter.unmatched(&seen);
    }
    for i in all {
        if !filter.matches(&i.netns, &i.name) {
            continue;
        }
        out.insert(i.series, iface_label(&i));
    }
    Ok((Kind::Iface, out))
}

fn iface_label(i: &IfaceSeries) -> String {
    nrec_model::names::iface_label(&i.netns, &i.name)
}

/// The periods of the chosen view, oldest first.
fn periods(
    view: View,
    (now, tz, month): (&Zoned, &TimeZone, MonthStart),
    first_ms: i64,
    clip: Option<(i64, i64)>,
) -> Result<Vec<Period>> {
    let now_ms = ms(now);
    let today = now.date();
    let day0 = |d: jiff::civil::Date| -> Result<i64> { Ok(day_start(d, tz)?.as_millisecond()) };
    let mut out = Vec::new();
    let from_ms = clip.map_or(first_ms, |c| c.0).min(now_ms);
    let to_ms = clip.map_or(now_ms + 1, |c| c.1);
    let current = |a: i64, b: i64| a <= now_ms && now_ms < b;
    if view == View::FiveMinutes {
        // absolute 5-minute steps (a local clock's quarter-hour offsets keep them on its
        // 5-minute marks in every zone)
        const STEP: i64 = 300_000;
        let from = clip.map_or(now_ms - 24 * 3_600_000, |c| c.0);
        let mut a = from.div_euclid(STEP) * STEP;
        while a < to_ms.min(now_ms + 1) {
            let b = a + STEP;
            let t = Timestamp::from_millisecond(a)
                .map_err(err)?
                .to_zoned(tz.clone());
            out.push(Period {
                label: t.strftime("%Y-%m-%d %H:%M").to_string(),
                start_ms: a,
                end_ms: b,
                current: current(a, b),
            });
            a = b;
        }
    } else if matches!(view, View::Hourly | View::HoursGraph) {
        // local clock hours (absolute hours, so a DST day has 23 or 25 of them)
        let mut h = now.start_of_day().map_err(err)?;
        while ms(&h) + 3_600_000 <= now_ms {
            h = h.checked_add(1.hour()).map_err(err)?;
        }
        let default_from = now_ms - 24 * 3_600_000;
        let from = clip.map_or(default_from, |c| c.0);
        while ms(&h) + 3_600_000 > from {
            h = h.checked_sub(1.hour()).map_err(err)?;
        }
        h = h.checked_add(1.hour()).map_err(err)?;
        while ms(&h) < to_ms.min(now_ms + 1) {
            let next = h.checked_add(1.hour()).map_err(err)?;
            out.push(Period {
                label: h.strftime("%Y-%m-%d %H:%M").to_string(),
                start_ms: ms(&h),
                end_ms: ms(&next),
                current: current(ms(&h), ms(&next)),
            });
            h = next;
        }
    } else if matches!(view, View::Daily | View::TopDays(_)) {
        let first = if view == View::Daily && clip.is_none() {
            today.checked_sub(29.days()).map_err(err)?
        } else {
            Timestamp::from_millisecond(from_ms)
                .map_err(err)?
                .to_zoned(tz.clone())
                .date()
        };
        let mut d = first;
        while day0(d)? < to_ms && d <= today {
            let next = d.tomorrow().map_err(err)?;
            let (a, b) = (day0(d)?, day0(next)?);
            out.push(Period {
                label: d.to_string(),
                start_ms: a,
                end_ms: b,
                current: current(a, b),
            });
            d = next;
        }
    } else if matches!(view, View::Monthly | View::Yearly) {
        let yearly = view == View::Yearly;
        let start_of = |d: jiff::civil::Date| {
            if yearly {
                d.first_of_year()
            } else {
                month.cycle_of(d)
            }
        };
        let step = |d: jiff::civil::Date| -> Result<jiff::civil::Date> {
            if yearly {
                d.checked_add(1.year()).map_err(err)
            } else {
                Ok(month.next(d))
            }
        };
        let mut d = if !yearly && clip.is_none() {
            (0..11).fold(start_of(today), |d, _| month.previous(d))
        } else {
            start_of(
                Timestamp::from_millisecond(from_ms)
                    .map_err(err)?
                    .to_zoned(tz.clone())
                    .date(),
            )
        };
        while day0(d)? < to_ms && d <= today {
            let next = step(d)?;
            let (a, b) = (day0(d)?, day0(next)?);
            out.push(Period {
                label: if yearly {
                    d.strftime("%Y").to_string()
                } else {
                    month.label(d)
                },
                start_ms: a,
                end_ms: b,
                current: current(a, b),
            });
            d = next;
        }
    } else {
        let yesterday = today.yesterday().map_err(err)?;
        let this = month.cycle_of(today);
        let (last_month, next_month) = (month.previous(this), month.next(this));
        let tomorrow = today.tomorrow().map_err(err)?;
        let p = |label: &str, a: i64, b: i64, cur: bool| Period {
            label: label.into(),
            start_ms: a,
            end_ms: b,
            current: cur,
        };
        out.push(p("today", day0(today)?, day0(tomorrow)?, true));
        out.push(p("yesterday", day0(yesterday)?, day0(today)?, false));
        out.push(p("this month", day0(this)?, day0(next_month)?, true));
        out.push(p("last month", day0(last_month)?, day0(this)?, false));
        out.push(p("all time", first_ms.min(now_ms), now_ms + 1, false));
    }
    Ok(out)
}

/// The most charts a summary picture draws (the busiest keys).
const MAX_CHARTS: usize = 6;
