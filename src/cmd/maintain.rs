//! `nrec prune`, `nrec rollup [--rebuild]` and `nrec check`: the store's maintenance.
//!
//! `record` already rolls up every sample in its own transaction and prunes in small steps;
//! these commands do the same work to the end, on demand, and verify it.

use crate::cli::RollupArgs;
use crate::clock::Clock;
use crate::cmd::Global;
use crate::config::Config;
use nrec_model::error::{Error, Exit, Result};
use nrec_store::prune::Limit;
use nrec_store::{Reader, Writer};
use std::io::Write;

pub fn prune(g: &Global) -> Result<()> {
    let config = Config::load(g.config.as_deref())?;
    let clock = Clock::from_env()?;
    let path = g.db_path();
    let _lock = nrec_store::lock(&path)?;
    let mut w = Writer::open(&path)?;
    // the user asked for retention with this clock: it is trusted from now on
    w.confirm_clock()?;
    let p = w.prune(clock.now().as_millisecond(), &config.retention, Limit::ALL)?;
    w.close();
    if !g.quiet {
        eprintln!(
            "nrec: pruned {} raw sample(s), the 15-minute detail of {} day(s), {} daily row day(s); released {} page(s)",
            p.samples, p.quarter_days, p.daily_days, p.pages_released
        );
    }
    Ok(())
}

pub fn rollup(a: &RollupArgs, g: &Global) -> Result<()> {
    let path = g.db_path();
    let _lock = nrec_store::lock(&path)?;
    let mut w = Writer::open(&path)?;
    let msg = if a.rebuild {
        let (n, from) = w.rebuild()?;
        match from {
            Some(d) => format!(
                "rebuilt the rollups from {} on, from {n} raw sample(s)",
                nrec_store::check::day_label(d)
            ),
            None => "no raw samples: nothing to rebuild".into(),
        }
    } else {
        let n = w.roll_pending()?;
        format!("rolled up {n} sample(s)")
    };
    w.close();
    if !g.quiet {
        eprintln!("nrec: {msg}");
    }
    Ok(())
}

pub fn check(g: &Global, out: &mut dyn Write) -> Result<()> {
    let path = g.db_read_path();
    let found = Reader::open(&path)?.check()?;
    let io = nrec_report::output::write_error;
    for f in &found {
        writeln!(out, "{} {}", if f.ok { "ok  " } else { "FAIL" }, f.text).map_err(io)?;
    }
    let bad = found.iter().filter(|f| !f.ok).count();
    if bad > 0 {
        return Err(Error::new(
            Exit::Database,
            format!("{}: {bad} check(s) failed", path.display()),
        ));
    }
    Ok(())
}
