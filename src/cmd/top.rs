//! `nrec top-procs`, `top-ports`, `top-hosts`: the arguments resolved into the view's
//! settings (`nrec_report::top`), which ranks and writes.

use crate::cli::{By, TopArgs};
use crate::cmd::Global;
use nrec_model::error::{Error, Result};
use nrec_report::rank::What;
use nrec_report::top::{self, Settings};
use nrec_store::Reader;
use std::io::Write;

pub fn run(what: What, by: By, args: &TopArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let (window, tz) = super::window(&args.window, Some("24h"))?;
    if args.limit == 0 {
        return Err(Error::usage("--limit must be at least 1"));
    }
    // (hosts, and processes by their hosts, are classed with the config's `[scopes] lan`)
    let classed =
        what == What::Hosts || args.scope.is_some() || matches!(by, By::Scope | By::Family);
    let lan = match classed {
        true => crate::config::Config::load(g.config.as_deref())?.lan,
        false => Default::default(),
    };
    let mut r = Reader::open(&g.db_read_path())?;
    let s = Settings {
        lan,
        scope: args.scope.map(Into::into),
        what,
        by: by.into(),
        window,
        limit: args.limit,
        container: args.container.clone(),
    };
    let mut o = super::output(out, args.format, what.command(), &r, Some(&s.window), &tz)?;
    let res = top::write(&mut r, &s, &mut o)?;
    super::note_resolution(g, &r, res, &tz)
}
