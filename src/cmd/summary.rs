//! `nrec summary`: the arguments resolved into the view's settings (`nrec_report::summary`),
//! which writes; what it found worth saying goes to stderr here.

use crate::cli::SummaryArgs;
use crate::clock::{Clock, display_zone};
use crate::cmd::Global;
use nrec_model::error::{Error, Result};
use nrec_model::filter::IfaceFilter;
use nrec_model::names::escape_bytes;
use nrec_report::summary::{self, Settings, Subject, View};
use nrec_store::Reader;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

pub fn run(args: &SummaryArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let clock = Clock::from_env()?;
    let tz = display_zone()?;
    let now = clock.now();
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
    let subject = match (&args.proc, args.port.as_deref()) {
        _ if args.scope.is_some() => Subject::Scope {
            scope: args
                .scope
                .map(Into::into)
                .unwrap_or(nrec_model::scope::Scope::Internet),
            lan: crate::config::Config::load(g.config.as_deref())?.lan,
            proc: args.proc.as_ref().map(|n| n.as_bytes().to_vec()),
        },
        (Some(name), _) => Subject::Proc(name.as_bytes().to_vec()),
        (None, Some(p)) => Subject::Port(service_port(p)?),
        (None, None) => Subject::Ifaces(IfaceFilter::new(
            &args.iface,
            args.container.as_ref(),
            &g.aliases,
        )),
    };
    let view = if args.hourly {
        View::Hourly
    } else if args.daily {
        View::Daily
    } else if args.monthly {
        View::Monthly
    } else if args.yearly {
        View::Yearly
    } else if let Some(n) = args.top_days {
        View::TopDays(n)
    } else if args.fiveminutes {
        View::FiveMinutes
    } else if args.hours_graph {
        View::HoursGraph
    } else if let Some(b) = &args.oneline {
        View::Oneline { bytes: b == "b" }
    } else {
        View::Overview
    };
    let path = g.db_read_path();
    let mut r = Reader::open(&path)?;
    let month = crate::config::Config::load(g.config.as_deref())?.month_start;
    let views = [
        args.hourly,
        args.daily,
        args.monthly,
        args.yearly,
        args.top_days.is_some(),
        args.fiveminutes,
        args.hours_graph,
        args.oneline.is_some(),
        args.p95,
    ];
    if views.iter().filter(|v| **v).count() > 1 {
        return Err(Error::usage(
            "choose one view: --hourly, --daily, --monthly, --yearly, --top-days, --fiveminutes, --hours-graph, --oneline or --95th",
        ));
    }
    if matches!(view, View::HoursGraph | View::Oneline { .. })
        && args.format != crate::cli::Format::Table
    {
        return Err(Error::usage(
            "--hours-graph and --oneline are text; for data use --hourly or the default view with --format",
        ));
    }
    if args.p95 {
        return percentile(
            args,
            g,
            (&mut r, &path),
            subject,
            (now, &tz, month),
            clip,
            out,
        );
    }
    let s = Settings {
        view,
        subject,
        clip,
        now,
        month,
    };
    let mut o = super::output(out, args.format, "summary", &r, None, &tz)?;
    let notes = summary::write(&mut r, &s, &mut o)?;
    if let Some(u) = &notes.unmatched {
        eprintln!("nrec: {}", u.message(&path.display().to_string()));
    }
    super::note_resolution(g, &r, notes.resolution, &tz)?;
    if notes.empty && !g.quiet {
        eprintln!(
            "nrec: no traffic recorded in these periods in {}",
            path.display()
        );
    }
    Ok(())
}

/// `--95th`: the percentile of the window's 5-minute rates (default window: this month so
/// far, the billing cycle of `month_start`).
fn percentile(
    args: &SummaryArgs,
    g: &Global,
    (r, path): (&mut Reader, &std::path::Path),
    subject: Subject,
    (now, tz, month): (
        jiff::Timestamp,
        &jiff::tz::TimeZone,
        nrec_model::time::MonthStart,
    ),
    clip: Option<(i64, i64)>,
    out: &mut dyn Write,
) -> Result<()> {
    use crate::cli::Format as F;
    if matches!(args.format, F::Svg | F::Png) {
        return Err(Error::usage(
            "--95th: table, csv, json or ndjson (a figure per interface, no picture)",
        ));
    }
    let window = match clip {
        Some(w) => w,
        None => {
            let start = month.cycle_of(now.to_zoned(tz.clone()).date());
            (
                nrec_model::time::day_start(start, tz)?.as_millisecond(),
                now.as_millisecond() + 1,
            )
        }
    };
    let s = nrec_report::percentile::Settings {
        subject,
        window,
        pct: 95,
    };
    let mut o = super::output(out, args.format, "summary", r, None, tz)?;
    let notes = nrec_report::percentile::write(r, &s, &mut o)?;
    if let Some(u) = &notes.unmatched {
        eprintln!("nrec: {}", u.message(&path.display().to_string()));
    }
    if notes.resolution > nrec_store::window::Resolution::Raw && !g.quiet {
        eprintln!(
            "nrec: raw samples before {} were pruned: that part's rates are 15-minute rollups (slots_15m)",
            nrec_report::output::local_text(r.horizons()?.raw_from_ms, tz)
        );
    }
    if notes.empty && !g.quiet {
        eprintln!(
            "nrec: no traffic recorded in the window in {}",
            path.display()
        );
    }
    Ok(())
}

/// `--port`: a number, or a TCP service name (or alias) from /etc/services.
fn service_port(s: &str) -> Result<u16> {
    if let Ok(n) = s.parse::<u16>() {
        return Ok(n);
    }
    let text =
        nrec_sys::read_bounded(std::path::Path::new("/etc/services"), 4 << 20).unwrap_or_default();
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
