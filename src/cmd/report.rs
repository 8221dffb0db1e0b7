//! `nrec report`: sysstat-compatible `-n` reports over a window of stored samples — the
//! arguments resolved into the view's settings (`nrec_report::sar::view`), which writes; what
//! it found worth saying goes to stderr here.

use crate::cli::ReportArgs;
use crate::cmd::Global;
use nrec_model::error::Result;
use nrec_model::filter::IfaceFilter;
use nrec_model::time::{local_midnight, parse_interval};
use nrec_report::output::iso;
use nrec_report::sar::Shape;
use nrec_report::sar::view::{self, Settings, parse_kinds};
use nrec_store::Reader;
use std::io::Write;

pub fn run(args: &ReportArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let parts = parse_kinds(&args.kinds)?;
    let (window, tz) = super::window(&args.window, None)?;
    let interval_ms = args
        .interval
        .as_deref()
        .map(|s| parse_interval("--interval", s))
        .transpose()?;
    let shape = Shape {
        filter: IfaceFilter::new(
            &args.iface,
            args.netns.as_ref().or(args.container.as_ref()),
            &g.aliases,
        ),
        omit_idle: args.omit_idle,
        interval_ms,
        origin_ms: local_midnight(window.start, &tz).as_millisecond(),
    };
    let path = g.db_read_path();
    let mut r = Reader::open(&path)?;
    let s = Settings {
        parts,
        window,
        shape,
        human: args.human,
    };
    let mut o = super::output(out, args.format, "report", &r, Some(&s.window), &tz)?;
    let notes = view::write(&mut r, &s, &mut o)?;
    if g.quiet {
        return Ok(());
    }
    if let Some((res, _)) = notes.resolution {
        super::note_resolution(g, &r, res, &tz)?;
    }
    if notes.empty {
        eprintln!(
            "nrec: no samples in {} [{} .. {}) in {}",
            s.window.label,
            iso(s.window.start_ms(), &tz),
            iso(s.window.end_ms(), &tz),
            path.display()
        );
    }
    if let Some(u) = notes.unmatched {
        eprintln!("nrec: {}", u.message(&s.window.label));
    }
    Ok(())
}
