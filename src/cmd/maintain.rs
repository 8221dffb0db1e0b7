//! `nrec prune`, `nrec rollup [--rebuild]` and `nrec check`: the store's maintenance.
//!
//! `record` already rolls up every sample in its own transaction and prunes in small steps;
//! these commands do the same work to the end, on demand, and verify it.

use crate::cli::RollupArgs;
use crate::cmd::Global;
use crate::config::Config;
use crate::error::{Error, Exit, Result};
use crate::output as render;
use crate::store::rollup::{self, Acc, DAY_MS, Kind, Roller};
use crate::store::{self, prune::Limit};
use crate::time::Clock;
use rusqlite::Connection;
use std::io::Write;

pub fn prune(g: &Global) -> Result<()> {
    let config = Config::load(g.config.as_deref())?;
    let clock = Clock::from_env()?;
    let path = g.db_path();
    let _lock = store::lock(&path)?;
    let mut conn = store::open_rw(&path)?;
    let p = store::prune::prune(
        &mut conn,
        clock.now().as_millisecond(),
        &config.retention,
        Limit::ALL,
    )
    .map_err(|e| Error::sqlite(&path, e))?;
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
                day_label(d)
            ),
            None => "no raw samples: nothing to rebuild".into(),
        }
    } else {
        let done = rollup::get_meta(&tx, "rolled_to").map_err(db)?.unwrap_or(0);
        let ids: Vec<i64> = tx
            .prepare("SELECT id FROM sample WHERE id > ?1 ORDER BY id")
            .and_then(|mut st| {
                st.query_map([done], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(db)?;
        let mut roller = Roller::new();
        for id in &ids {
            roller.roll_sample(&tx, *id).map_err(db)?;
        }
        format!("rolled up {} sample(s)", ids.len())
    };
    tx.commit().map_err(db)?;
    if !g.quiet {
        eprintln!("nrec: {msg}");
    }
    Ok(())
}

fn day_label(day: i64) -> String {
    jiff::Timestamp::from_millisecond(day * DAY_MS)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| format!("day {day}"))
}

/// One finding of `nrec check`.
struct Finding {
    ok: bool,
    text: String,
}

pub fn check(g: &Global, out: &mut dyn Write) -> Result<()> {
    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let db = |e| Error::sqlite(&path, e);
    let mut found: Vec<Finding> = Vec::new();

    let qc: Vec<String> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut st| {
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(db)?;
    let intact = qc.len() == 1 && qc[0] == "ok";
    found.push(Finding {
        ok: intact,
        text: if intact {
            "integrity: quick_check ok".into()
        } else {
            format!("integrity: quick_check: {}", qc.join("; "))
        },
    });
    let v: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    found.push(Finding {
        ok: v == store::SCHEMA_VERSION,
        text: format!("schema: version {v} (this nrec: {})", store::SCHEMA_VERSION),
    });
    if intact {
        found.extend(check_rollups(&conn).map_err(db)?);
    }

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

/// Every day the raw rows still cover: the stored rollups equal a fresh recomputation.
fn check_rollups(conn: &Connection) -> rusqlite::Result<Vec<Finding>> {
    let mut out = Vec::new();
    let rolled = rollup::get_meta(conn, "rolled_to")?.unwrap_or(0);
    let behind: i64 =
        conn.query_row("SELECT count(*) FROM sample WHERE id > ?1", [rolled], |r| {
            r.get(0)
        })?;
    out.push(Finding {
        ok: behind == 0,
        text: if behind == 0 {
            "rollups: every raw sample is rolled up".into()
        } else {
            format!("rollups: {behind} raw sample(s) are not rolled up (run `nrec rollup`)")
        },
    });
    let Some(from) = rollup::rebuildable_from(conn)? else {
        return Ok(out);
    };
    let mut days = 0u64;
    let mut mismatches: Vec<String> = Vec::new();
    let mut roller = Roller::new();
    let n = rollup::recompute(conn, &mut roller, from, true, |day, acc: Acc| {
        days += 1;
        if acc.missing > 0 {
            mismatches.push(format!(
                "{}: {} contribution(s) have no rollup series",
                day_label(day),
                acc.missing
            ));
        }
        let mut matched = 0usize;
        for k in Kind::ALL {
            let mut st = conn.prepare_cached(
                "SELECT series, total, quarters FROM rollup WHERE id >= ?1 AND id < ?2",
            )?;
            let (lo, hi) = rollup::kind_day(k, day);
            let mut rows = st.query([lo, hi])?;
            while let Some(r) = rows.next()? {
                let series: i64 = r.get(0)?;
                let t: Vec<u8> = r.get(1)?;
                let q: Option<Vec<u8>> = r.get(2)?;
                let got = rollup::decode_row(&t, q.as_deref(), day, series)?;
                match acc.rows.get(&(k, day, series)) {
                    None if got.total.iter().all(|x| *x == 0) => {}
                    None => mismatches.push(format!(
                        "{}: {} series {series} has a rollup but no raw rows",
                        day_label(day),
                        k.name()
                    )),
                    Some(want) => {
                        matched += 1;
                        let same_q = match (&got.quarters, &want.quarters) {
                            (None, _) => true,
                            (Some(a), Some(b)) => a == b,
                            (Some(_), None) => false,
                        };
                        if got.total != want.total || !same_q {
                            mismatches.push(format!(
                                "{}: {} series {series}: rollup differs from the sum of its raw rows",
                                day_label(day),
                                k.name()
                            ));
                        }
                    }
                }
            }
        }
        if matched < acc.rows.len() {
            mismatches.push(format!(
                "{}: {} series have raw rows but no rollup",
                day_label(day),
                acc.rows.len() - matched
            ));
        }
        Ok(())
    })?;
    let first = render::iso(from * DAY_MS, &jiff::tz::TimeZone::UTC);
    out.push(Finding {
        ok: mismatches.is_empty(),
        text: if mismatches.is_empty() {
            format!(
                "rollups: {days} UTC day(s) from {first} equal the sums of their {n} raw sample(s)"
            )
        } else {
            let more = mismatches.len().saturating_sub(5);
            let mut t = mismatches
                .into_iter()
                .take(5)
                .collect::<Vec<_>>()
                .join("; ");
            if more > 0 {
                t.push_str(&format!("; and {more} more"));
            }
            format!("rollups: {t}")
        },
    });
    Ok(out)
}
