//! `nrec prune`, `nrec rollup [--rebuild]` and `nrec check`: the store's maintenance.
//!
//! `record` already rolls up every sample in its own transaction and prunes in small steps;
//! these commands do the same work to the end, on demand, and verify it.

use crate::cli::RollupArgs;
use crate::cmd::Global;
use crate::config::Config;
use crate::error::{Error, Exit, Result};
use crate::store::rollup;
use crate::store::{self, prune::Limit};
use crate::time::Clock;
use std::io::Write;

pub fn prune(g: &Global) -> Result<()> {
    let config = Config::load(g.config.as_deref())?;
    let clock = Clock::from_env()?;
    let path = g.db_path();
    let _lock = store::lock(&path)?;
    let mut conn = store::open_rw(&path)?;
    // the user asked for retention with this clock: it is trusted from now on
    store::prune::confirm_clock(&conn).map_err(|e| Error::sqlite(&path, e))?;
    let p = store::prune::prune(
        &mut conn,
        clock.now().as_millisecond(),
        &config.retention,
        Limit::ALL,
    )
    .map_err(|e| Error::sqlite(&path, e))?;
    store::settle(&conn, &path);
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
    let _lock = store::lock(&path)?;
    let mut conn = store::open_rw(&path)?;
    let db = |e| Error::sqlite(&path, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let msg = if a.rebuild {
        let (n, from) = rollup::rebuild(&tx).map_err(db)?;
        match from {
            Some(d) => format!(
                "rebuilt the rollups from {} on, from {n} raw sample(s)",
                store::check::day_label(d)
            ),
            None => "no raw samples: nothing to rebuild".into(),
        }
    } else {
        let n = rollup::roll_pending(&tx).map_err(db)?;
        format!("rolled up {n} sample(s)")
    };
    tx.commit().map_err(db)?;
    store::settle(&conn, &path);
    if !g.quiet {
        eprintln!("nrec: {msg}");
    }
    Ok(())
}

pub fn check(g: &Global, out: &mut dyn Write) -> Result<()> {
    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let found = store::check::check(&conn).map_err(|e| Error::sqlite(&path, e))?;
    let io = crate::output::write_error;
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
