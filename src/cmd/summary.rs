//! `nrec summary`: vnstat's views (today / yesterday / this month / last month / all time,
//! and --hourly, --daily, --monthly, --yearly, --top-days) per interface, or for one process
//! or port — from the rollups, in local time, without vnstat's faults: periods are computed
//! from UTC quarter-hour buckets (exact in every zone, DST days are 23 or 25 hours, no merged
//! hour) and traffic across a recorder outage is counted, not dropped.

use crate::cli::{Format, SummaryArgs};
use crate::cmd::Global;
use crate::error::{Error, Result};
use crate::output::units::{bits_per_s as bits, bytes as size};
use crate::output::{Cell, Rows, escape_bytes, write_error};
use crate::store::rollup::{self, DAY_MS, Kind, Roller};
use crate::store::series::{self, Vector};
use crate::store::window::{self, Horizons, Resolution};
use crate::store::{self};
use crate::time::{self, Clock};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use rusqlite::Connection;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

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

pub fn run(args: &SummaryArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let clock = Clock::from_env()?;
    let tz = time::display_zone()?;
    let now = clock.now();
    let now_z = now.to_zoned(tz.clone());
    let now_ms = now.as_millisecond();
    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let db = |e| Error::sqlite(&path, e);

    let first_ms: Option<i64> = rollup::first_day(&conn).map_err(db)?.map(|d| d * DAY_MS);
    let opts = &args.window;
    let user_window = opts.today
        || opts.yesterday
        || opts.date.is_some()
        || opts.since.is_some()
        || opts.until.is_some();
    let clip = if user_window {
        let w = opts.to_args().resolve(now, &tz, Some("24h"))?;
        Some((w.start_ms(), w.end_ms()))
    } else {
        None
    };

    let mut periods = periods(args, &now_z, &tz, first_ms.unwrap_or(now_ms), clip)?;
    if let Some((a, b)) = clip {
        for p in &mut periods {
            p.start_ms = p.start_ms.max(a);
            p.end_ms = p.end_ms.min(b);
        }
        periods.retain(|p| p.start_ms < p.end_ms);
    }

    let port = args.port.as_deref().map(service_port).transpose()?;
    let (kind, labels) = series_labels(&conn, args, port).map_err(db)?;
    let h = Horizons::load(&conn).map_err(db)?;
    let mut edges = Resolution::Raw;
    let mut lines: BTreeMap<(String, usize), Line> = BTreeMap::new();
    let windows: Vec<(i64, i64)> = periods
        .iter()
        .map(|p| (p.start_ms, p.end_ms.min(now_ms)))
        .collect();
    let each = window::sums_each(&conn, &mut Roller::new(), &h, &[kind], &windows).map_err(db)?;
    for (i, sums) in each.iter().enumerate() {
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
    super::note_resolution(g, edges, &h, &tz);
    let mut lines: Vec<Line> = lines.into_values().collect();
    if let Some(n) = args.top_days {
        // per key, the n busiest days
        let mut by_key: HashMap<String, Vec<Line>> = HashMap::new();
        for l in lines {
            by_key.entry(l.key.clone()).or_default().push(l);
        }
        let mut keys: Vec<String> = by_key.keys().cloned().collect();
        keys.sort();
        lines = Vec::new();
        for k in keys {
            let mut v = by_key.remove(&k).unwrap_or_default();
            v.sort_by(|a, b| {
                (b.rx + b.tx)
                    .cmp(&(a.rx + a.tx))
                    .then(a.period.cmp(&b.period))
            });
            v.truncate(n);
            lines.extend(v);
        }
    }

    // Rate over the part of the period that has passed (and has data); estimate = the rate
    // carried to the period's end, for the current period only.
    let span_of = |p: &Period| -> (i64, i64) {
        let a = p.start_ms.max(first_ms.unwrap_or(p.start_ms));
        let b = p.end_ms.min(now_ms);
        (a, b.max(a))
    };
    let rate = |l: &Line| -> f64 {
        let (a, b) = span_of(&periods[l.period]);
        if b > a {
            (l.rx + l.tx) as f64 * 8.0 / ((b - a) as f64 / 1000.0)
        } else {
            0.0
        }
    };
    let estimate = |l: &Line| -> Option<u64> {
        let p = &periods[l.period];
        if !p.current {
            return None;
        }
        let (a, b) = span_of(p);
        (b > a).then(|| ((l.rx + l.tx) as f64 * (p.end_ms - a) as f64 / (b - a) as f64) as u64)
    };

    let head = match kind {
        Kind::Iface => "IFACE",
        Kind::Proc => "PROCESS",
        _ => "PORT",
    };
    let key_column = match kind {
        Kind::Iface => "iface",
        Kind::Proc => "process",
        _ => "port",
    };
    let mut o = super::output(out, args.format, "summary", &conn, &path, None, &tz)?;
    if args.format.is_picture() {
        use crate::output::svg::{PeriodBar, period_bars};
        // one chart per key, its periods in time order (--top-days: busiest first)
        let mut groups: Vec<(String, Vec<PeriodBar>)> = Vec::new();
        for l in &lines {
            let p = &periods[l.period];
            let bar = PeriodBar {
                label: p.label.clone(),
                detail: format!(
                    "{} {} ({} – {})",
                    l.key,
                    p.label,
                    crate::output::local_text(p.start_ms, &tz),
                    crate::output::local_text(p.end_ms, &tz)
                ),
                rx: l.rx,
                tx: l.tx,
                estimate: estimate(l),
            };
            match groups.iter_mut().find(|(k, _)| *k == l.key) {
                Some((_, bars)) => bars.push(bar),
                None => groups.push((l.key.clone(), vec![bar])),
            }
        }
        // the busiest first; a host's 20 idle veths are a count, not 20 charts
        let total = |bars: &[PeriodBar]| bars.iter().map(|b| b.rx + b.tx).sum::<u64>();
        groups.sort_by(|a, b| total(&b.1).cmp(&total(&a.1)).then(a.0.cmp(&b.0)));
        let more = groups.len().saturating_sub(MAX_CHARTS);
        groups.truncate(MAX_CHARTS);
        let title = o.picture_title(view_name(args));
        let mut note = format!(
            "bytes per period ({}); the current period's estimate dashed",
            tz.iana_name().unwrap_or("local time")
        );
        if more > 0 {
            note.push_str(&format!(
                "; the {MAX_CHARTS} busiest, {more} more not drawn"
            ));
        }
        return o.picture(&period_bars(&title, &note, &groups));
    }
    if args.format != Format::Table {
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
        for l in &lines {
            let p = &periods[l.period];
            rows.push(vec![
                Cell::text(l.key.as_str()),
                Cell::text(p.label.as_str()),
                Cell::Time(p.start_ms),
                Cell::Time(p.end_ms),
                l.rx.into(),
                l.tx.into(),
                (l.rx + l.tx).into(),
                Cell::Num(rate(l).round(), 0),
                Cell::opt_int(estimate(l)),
            ]);
        }
        let body = json!({
            "timezone": tz.iana_name().unwrap_or("local"),
            "edges": edges.describe(),
        });
        let body = body.as_object().cloned().unwrap_or_default();
        return o.rows(&rows, body).map_err(write_error);
    }
    if lines.is_empty() && !g.quiet {
        eprintln!(
            "nrec: no traffic recorded in these periods in {}",
            path.display()
        );
    }
    let out = o.text();
    // the name column is as wide as its longest name (interface@namespace can be long)
    let kw = crate::output::column_width(16, lines.iter().map(|l| l.key.chars().count()));
    (|| {
        writeln!(
            out,
            "{:<kw$} {:<18} {:>11} {:>11} {:>11} {:>14} {:>11}",
            head, "PERIOD", "RX", "TX", "TOTAL", "AVG RATE", "ESTIMATED"
        )?;
        for l in &lines {
            writeln!(
                out,
                "{:<kw$} {:<18} {:>11} {:>11} {:>11} {:>14} {:>11}",
                l.key,
                periods[l.period].label,
                size(l.rx),
                size(l.tx),
                size(l.rx + l.tx),
                bits(rate(l)),
                estimate(l).map(size).unwrap_or_else(|| "-".into())
            )?;
        }
        Ok(())
    })()
    .map_err(write_error)
}

/// The series the summary is about and their row labels: interfaces (by name, per
/// namespace, across reboots), or every process with one name, or one port.
fn series_labels(
    conn: &Connection,
    args: &SummaryArgs,
    port: Option<u16>,
) -> rusqlite::Result<(Kind, HashMap<i64, String>)> {
    let mut out = HashMap::new();
    if let Some(name) = &args.proc {
        let label = escape_bytes(name.as_bytes());
        for p in series::procs(conn)?
            .into_iter()
            .filter(|p| p.comm == name.as_bytes())
        {
            out.insert(p.series, label.clone());
        }
        return Ok((Kind::Proc, out));
    }
    if let Some(port) = port {
        for d in series::details(conn, Kind::Port, Some(port))? {
            out.insert(d.series, format!("{}/{}", d.proto, d.port));
        }
        return Ok((Kind::Port, out));
    }
    let filter = crate::report::filter::IfaceFilter::new(&args.iface, args.container.as_ref());
    let all = series::ifaces(conn)?;
    if !filter.is_empty() {
        let seen: Vec<(&[u8], &[u8])> = all.iter().map(|i| (&i.netns[..], &i.name[..])).collect();
        let missing = filter.unmatched(&seen);
        if !missing.is_empty() {
            let mut names: Vec<String> = all.iter().map(iface_label).collect();
            names.sort();
            names.dedup();
            eprintln!(
                "nrec: {}: matches no interface recorded; recorded: {}",
                missing.join(", "),
                names.join(", ")
            );
        }
    }
    for i in all {
        if !filter.matches(&i.netns, &i.name) {
            continue;
        }
        out.insert(i.series, iface_label(&i));
    }
    Ok((Kind::Iface, out))
}

fn iface_label(i: &series::IfaceSeries) -> String {
    crate::output::iface_label(&i.netns, &i.name)
}

/// `--port`: a number, or a TCP service name (or alias) from /etc/services.
fn service_port(s: &str) -> Result<u16> {
    if let Ok(n) = s.parse::<u16>() {
        return Ok(n);
    }
    let text = crate::sys::read_bounded(std::path::Path::new("/etc/services"), 4 << 20)
        .unwrap_or_default();
    lookup_service(&text, s.as_bytes()).ok_or_else(|| {
        Error::usage(format!(
            "--port {:?}: not a port number (1-65535) or a TCP service in /etc/services",
            escape_bytes(s.as_bytes())
        ))
    })
}

/// The TCP port of service `name` in /etc/services text (`name port/proto aliases… # …`).
fn lookup_service(text: &[u8], name: &[u8]) -> Option<u16> {
    text.split(|b| *b == b'\n').find_map(|line| {
        let line = line.split(|b| *b == b'#').next().unwrap_or_default();
        let mut words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let first = words.next()?;
        let port = std::str::from_utf8(words.next()?)
            .ok()?
            .strip_suffix("/tcp")?;
        let port: u16 = port.parse().ok()?;
        (first == name || words.any(|a| a == name)).then_some(port)
    })
}

/// The periods of the chosen view, oldest first.
fn periods(
    args: &SummaryArgs,
    now: &Zoned,
    tz: &TimeZone,
    first_ms: i64,
    clip: Option<(i64, i64)>,
) -> Result<Vec<Period>> {
    let now_ms = ms(now);
    let today = now.date();
    let day0 =
        |d: jiff::civil::Date| -> Result<i64> { Ok(time::day_start(d, tz)?.as_millisecond()) };
    let mut out = Vec::new();
    let from_ms = clip.map_or(first_ms, |c| c.0).min(now_ms);
    let to_ms = clip.map_or(now_ms + 1, |c| c.1);
    let current = |a: i64, b: i64| a <= now_ms && now_ms < b;
    if args.hourly {
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
    } else if args.daily || args.top_days.is_some() {
        let first = if args.daily && clip.is_none() {
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
    } else if args.monthly || args.yearly {
        let yearly = args.yearly;
        let start_of = |d: jiff::civil::Date| {
            if yearly {
                d.first_of_year()
            } else {
                d.first_of_month()
            }
        };
        let step = |d: jiff::civil::Date| {
            d.checked_add(if yearly { 1.year() } else { 1.month() })
                .map_err(err)
        };
        let mut d = if !yearly && clip.is_none() {
            start_of(today).checked_sub(11.months()).map_err(err)?
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
                    d.strftime("%Y-%m").to_string()
                },
                start_ms: a,
                end_ms: b,
                current: current(a, b),
            });
            d = next;
        }
    } else {
        let yesterday = today.yesterday().map_err(err)?;
        let month = today.first_of_month();
        let last_month = month.checked_sub(1.month()).map_err(err)?;
        let next_month = month.checked_add(1.month()).map_err(err)?;
        let tomorrow = today.tomorrow().map_err(err)?;
        let p = |label: &str, a: i64, b: i64, cur: bool| Period {
            label: label.into(),
            start_ms: a,
            end_ms: b,
            current: cur,
        };
        out.push(p("today", day0(today)?, day0(tomorrow)?, true));
        out.push(p("yesterday", day0(yesterday)?, day0(today)?, false));
        out.push(p("this month", day0(month)?, day0(next_month)?, true));
        out.push(p("last month", day0(last_month)?, day0(month)?, false));
        out.push(p("all time", first_ms.min(now_ms), now_ms + 1, false));
    }
    Ok(out)
}

/// The most charts a summary picture draws (the busiest keys).
const MAX_CHARTS: usize = 6;

/// The view a picture is titled with.
fn view_name(a: &SummaryArgs) -> &'static str {
    if a.hourly {
        "hourly"
    } else if a.daily {
        "daily"
    } else if a.monthly {
        "monthly"
    } else if a.yearly {
        "yearly"
    } else if a.top_days.is_some() {
        "top days"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn services_resolve_by_name_and_alias_over_tcp_only() {
        let text = b"# comment\nhttp\t\t80/tcp\t\twww # WorldWideWeb\nhttps 443/tcp\nhttps 443/udp\nsyslog 514/udp\n";
        assert_eq!(super::lookup_service(text, b"https"), Some(443));
        assert_eq!(super::lookup_service(text, b"www"), Some(80));
        assert_eq!(super::lookup_service(text, b"syslog"), None);
        assert_eq!(super::lookup_service(text, b"WorldWideWeb"), None);
    }
}
