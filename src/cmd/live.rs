//! `nrec top`: the live view (`live::tui`) or, with `-b`, a block of rows per refresh for
//! scripts and logs, through the one output path (table, CSV, JSON, NDJSON).

use crate::cli::{Format, LiveArgs};
use crate::cmd::Global;
use crate::live::Reader;
use crate::live::view::{self, Totals, View};
use nrec_model::error::{Error, Result};
use nrec_model::names::escape_text;
use nrec_report::output::units::bytes as size;
use nrec_report::output::{Cell, Output, write_error};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

const COLUMNS: [&str; 10] = [
    "time",
    "view",
    "key",
    "detail",
    "rx_bytes",
    "tx_bytes",
    "rx_bytes_per_s",
    "tx_bytes_per_s",
    "rx_total_bytes",
    "tx_total_bytes",
];

pub fn run(args: &LiveArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    if !(0.2..=3600.0).contains(&args.delay) {
        return Err(Error::usage(format!(
            "-d {}: the delay is between 0.2 and 3600 seconds",
            args.delay
        )));
    }
    if args.count == Some(0) || args.limit == Some(0) {
        return Err(Error::usage("-n and --limit must be at least 1"));
    }
    if args.format.is_picture() {
        return Err(Error::usage(
            "nrec top prints table, csv, json or ndjson; pictures are the reports' (top-procs --format svg)",
        ));
    }
    let delay = Duration::from_secs_f64(args.delay);
    // a signal ends either mode through its loop: the terminal restored, the JSON closed
    nrec_sys::stop_on_signals()
        .map_err(|e| Error::failure(format!("cannot install signal handlers: {e}")))?;
    if !args.batch {
        if args.count.is_some() || args.format != Format::Table {
            return Err(Error::usage("-n and --format are batch mode's: add -b"));
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdout())
            || !std::io::IsTerminal::is_terminal(&std::io::stdin())
        {
            return Err(Error::usage(
                "nrec top draws on a terminal; for scripts and logs use batch mode: nrec top -b -n COUNT",
            ));
        }
        let reader = Reader::new(crate::sampler::ebpf_pins(&g.db_read_path()), !args.no_ebpf);
        return crate::live::tui::run(reader, delay, &g.db_read_path(), args, &g.aliases);
    }
    let mut reader = Reader::new(crate::sampler::ebpf_pins(&g.db_read_path()), !args.no_ebpf);
    if !g.quiet {
        for l in &reader.limits {
            eprintln!("nrec: {l}");
        }
    }
    let tz = jiff::tz::TimeZone::system();
    let (raw_host, _, _) = nrec_sys::uname();
    let host = nrec_model::names::escape_bytes(&raw_host);
    let mut o = Output::new(
        out,
        args.format.into(),
        "top",
        Some(&raw_host),
        None,
        tz.clone(),
    );
    let clock = crate::clock::Clock::from_env()?.advancing();
    // the connections are read only for a view of them (eBPF counts the processes)
    let conns = args.view.of_conns();
    reader.tick(clock.now().as_millisecond(), conns)?;
    match args.format {
        Format::Csv => o.csv_header(&COLUMNS).map_err(write_error)?,
        Format::Json => o
            .json_stream_start(
                json!({
                    "view": view_name(args.view),
                    "by": args.by.name(),
                    "delay_s": args.delay,
                    "source": reader.source(),
                    "connections_source": reader.conns_source(),
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            )
            .map_err(write_error)?,
        _ => {}
    }
    let mut totals = Totals::default();
    let mut printed = 0u64;
    let mut next = Instant::now() + delay;
    while args.count.is_none_or(|n| printed < n) {
        // sleep in short steps so a signal ends the run promptly (and closes the JSON)
        while Instant::now() < next && !nrec_sys::stopped() {
            std::thread::sleep(
                next.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100)),
            );
        }
        if nrec_sys::stopped() {
            break;
        }
        next += delay;
        let Some(t) = reader.tick(clock.now().as_millisecond(), conns)? else {
            continue;
        };
        totals.add(&t);
        // every tick after the first read what the view shows
        let mut rows = view::rows(&t, &totals, args.view, args.by, args.sort, "", &g.aliases)
            .unwrap_or_default();
        if let Some(n) = args.limit {
            // keep (unattributed), the last row, so the block still adds up
            if rows.len() > n + 1 {
                let rest = rows.pop();
                rows.truncate(n);
                rows.extend(rest);
            }
        }
        let time = nrec_report::output::iso(t.at_ms, &tz);
        let cells = |r: &view::Row| -> Vec<Cell> {
            vec![
                Cell::text(&time),
                Cell::text(view_name(args.view)),
                Cell::text(&r.key),
                Cell::text(&r.detail),
                r.rx.into(),
                r.tx.into(),
                Cell::Num(r.rx as f64 / t.secs, 1),
                Cell::Num(r.tx as f64 / t.secs, 1),
                r.rx_total.into(),
                r.tx_total.into(),
            ]
        };
        match args.format {
            Format::Csv => {
                for r in &rows {
                    o.csv_row(&cells(r)).map_err(write_error)?;
                }
            }
            Format::Ndjson => {
                for r in &rows {
                    o.ndjson_row(&[], &COLUMNS, &cells(r))
                        .map_err(write_error)?;
                }
            }
            Format::Json => {
                for r in &rows {
                    o.json_stream_row(&COLUMNS, &cells(r))
                        .map_err(write_error)?;
                }
            }
            _ => block(o.text(), &host, &time, &t, args, &rows).map_err(write_error)?,
        }
        o.flush().map_err(write_error)?;
        printed += 1;
    }
    if args.format == Format::Json {
        o.json_stream_end().map_err(write_error)?;
    }
    o.flush().map_err(write_error)
}

fn view_name(v: View) -> &'static str {
    v.name()
}

/// One refresh as a table block: a heading line, the rows, a blank line.
fn block(
    w: &mut dyn Write,
    host: &str,
    time: &str,
    t: &crate::live::Tick,
    args: &LiveArgs,
    rows: &[view::Row],
) -> std::io::Result<()> {
    let (irx, itx) = t
        .ifaces
        .iter()
        .fold((0, 0), |a, i| (a.0 + i.rx, a.1 + i.tx));
    let per_s = |b: u64| format!("{}/s", size((b as f64 / t.secs) as u64));
    writeln!(
        w,
        "nrec top — {host} — {time} — {:.1} s — {}{} — interfaces rx {} tx {}",
        t.secs,
        args.view.name(),
        if args.view == View::Procs {
            format!(" by {}", args.by.name())
        } else {
            String::new()
        },
        per_s(irx),
        per_s(itx)
    )?;
    let kw = nrec_report::output::column_width(
        args.view.head(args.by).len().max(view::UNATTRIBUTED.len()),
        rows.iter().map(|r| r.key.chars().count()),
    );
    writeln!(
        w,
        "{:<kw$} {:>12} {:>12} {:>11} {:>11}  {}",
        args.view.head(args.by),
        "RX/s",
        "TX/s",
        "RX TOTAL",
        "TX TOTAL",
        if args.view == View::Conns {
            "PROCESS"
        } else {
            "PROCESSES"
        }
    )?;
    for r in rows {
        writeln!(
            w,
            "{:<kw$} {:>12} {:>12} {:>11} {:>11}  {}",
            escape_text(&r.key),
            per_s(r.rx),
            per_s(r.tx),
            size(r.rx_total),
            size(r.tx_total),
            escape_text(&r.detail)
        )?;
    }
    writeln!(w)
}
