//! `nrec export TABLE`: the arguments resolved into the view's settings
//! (`nrec_report::export`), which streams the rows; `--format openmetrics` is `serve`'s.

use crate::cli::{ExportArgs, Format, Resolution as Res};
use crate::cmd::Global;
use nrec_model::error::{Error, Result};
use nrec_model::filter::IfaceFilter;
use nrec_report::export::{self, Settings};
use nrec_store::Reader;
use std::io::{IsTerminal, Write};

pub fn run(args: &ExportArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    use crate::cli::ExportFormat as F;
    let format = match args.format {
        F::Openmetrics => return super::serve::export(args, g, out),
        F::Csv => Format::Csv,
        F::Json => Format::Json,
        F::Ndjson => Format::Ndjson,
    };
    if args.textfile.is_some() {
        return Err(Error::usage(
            "--textfile writes metrics: use it with --format openmetrics",
        ));
    }
    let Some(table) = args.table else {
        return Err(Error::usage(
            "name the series to export: iface, proto, proc, port, host, attrib or time",
        ));
    };
    let (window, tz) = super::window(&args.window, Some("24h"))?;
    let mut r = Reader::open(&g.db_read_path())?;
    let s = Settings {
        table: table.into(),
        step: args.resolution.map(Res::step),
        container: args.container.clone(),
        ifaces: IfaceFilter::new(&args.iface, args.netns.as_ref(), &g.aliases),
        progress: std::io::stderr().is_terminal() && !g.quiet,
        // (the host table's scope: the config's `[scopes] lan`)
        lan: crate::config::Config::load(g.config.as_deref())?.lan,
        window,
    };
    let mut o = super::output(out, format, "export", &r, Some(&s.window), &tz)?;
    let done = export::write(&mut r, &s, &mut o)?;
    if let Some(u) = done.unmatched.filter(|_| !g.quiet) {
        eprintln!(
            "nrec: {}",
            u.message(&g.db_read_path().display().to_string())
        );
    }
    if g.verbose > 0 {
        eprintln!("nrec: exported {} row(s)", done.rows);
    }
    Ok(())
}
