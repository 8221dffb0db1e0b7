//! `nrec proc NAME|PID`: the arguments resolved into the view's settings
//! (`nrec_report::proc`), which writes.

use crate::cli::ProcArgs;
use crate::cmd::Global;
use nrec_model::error::Result;
use nrec_model::names::escape_bytes;
use nrec_report::proc::{self, Settings};
use nrec_store::Reader;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

pub fn run(args: &ProcArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let (window, tz) = super::window(&args.window, Some("24h"))?;
    // (its hosts are classed by scope with the config's `[scopes] lan`)
    let lan = crate::config::Config::load(g.config.as_deref())?.lan;
    let mut r = Reader::open(&g.db_read_path())?;
    let s = Settings {
        target: args.target.as_bytes().to_vec(),
        window,
        lan,
        scope: args.scope.map(Into::into),
    };
    let mut o = super::output(out, args.format, "proc", &r, Some(&s.window), &tz)?;
    let (res, found) = proc::write(&mut r, &s, &mut o)?;
    super::note_resolution(g, &r, res, &tz)?;
    if !found && !g.quiet {
        let with = s
            .scope
            .map(|sc| format!(" with {} hosts", sc.name()))
            .unwrap_or_default();
        eprintln!(
            "nrec: no process named or numbered {:?} moved bytes{with} in {}",
            escape_bytes(&s.target),
            s.window.label
        );
    }
    Ok(())
}
