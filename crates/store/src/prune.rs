//! RETENTION: drop raw samples, quarter-hour detail and daily rows past their retention, in
//! small steps (each its own transaction, so a kill -9 leaves a consistent database and the
//! next run carries on), and never a raw sample that is not rolled up yet.
//!
//! Raw samples go by whole UTC days: the oldest raw day is always complete, so rollups can be
//! rebuilt from it. Freed pages are reused by later inserts; beyond a small reserve they are
//! handed back to the file system with `incremental_vacuum`, so the file stays bounded.

use super::rollup::{DAY_MS, Kind, first_day, get_meta, kind_day, set_meta};
use rusqlite::{Connection, TransactionBehavior, params};
use std::time::{Duration, Instant};

/// Raw samples deleted per step: a record prunes 4 per run (one sample a minute arrives), so
/// a due day is gone in six hours, at ~0.2 ms per record (measured: 32 per run cost 1.1 ms,
/// 8 cost 0.4 ms, which put a pruning record over the 2x-sadc budget).
const SAMPLES_PER_STEP: usize = 4;
/// Free pages kept for reuse; more are released by incremental vacuum.
const KEEP_FREE_PAGES: i64 = 256;
/// Pages released per step.
const VACUUM_PAGES_PER_STEP: i64 = 1024;

const RAW_TABLES: [&str; 4] = [
    "iface_sample",
    "proto_sample",
    "proc_bytes",
    "attrib_sample",
];

/// How long each tier is kept, in days; None = forever (`[retention]` of nrec.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw_days: Option<i64>,
    pub hourly_days: Option<i64>,
    pub daily_days: Option<i64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw_days: Some(14),
            hourly_days: Some(400),
            daily_days: None,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Pruned {
    pub samples: u64,
    pub quarter_days: u64,
    pub daily_days: u64,
    pub pages_released: i64,
    /// Everything due was pruned (false: the step or time limit stopped it).
    pub done: bool,
}

/// Limits of one call: `record` takes a step or two per run, `nrec prune` runs to the end.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub steps: usize,
    pub time: Duration,
}

impl Limit {
    pub const RECORD: Limit = Limit {
        steps: 1,
        time: Duration::from_millis(20),
    };
    pub const ALL: Limit = Limit {
        steps: usize::MAX,
        time: Duration::MAX,
    };
}

/// The first UTC day each tier keeps at `now_ms`.
pub(crate) fn horizons(now_ms: i64, r: &Retention) -> (Option<i64>, Option<i64>, Option<i64>) {
    // days within what a rollup key can hold: no arithmetic below can overflow, whatever
    // clock or configuration reached here
    let today = now_ms.div_euclid(DAY_MS).clamp(0, super::rollup::MAX_DAY);
    let h = |d: Option<i64>| d.map(|d| today.saturating_sub(d));
    (h(r.raw_days), h(r.hourly_days), h(r.daily_days))
}

/// The clock retention may act on (§6 "Retention and the clock"). Within a boot,
/// CLOCK_BOOTTIME vouches for how much time passed since a trusted reading (the anchor, kept
/// in `meta`): a wall clock that disagrees by more than ten minutes (or 1 % of the elapsed
/// time) has been stepped, and retention takes the earlier of the two. Across a reboot
/// nothing vouches for the downtime: the wall clock is taken unless it lies more than
/// `max_jump_ms` (the raw retention) past the last trusted time — then the lower bound (that
/// time plus the uptime) is the anchor until `nrec prune` confirms the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Trusted {
    pub now_ms: i64,
    /// Why the wall clock was not taken as is (said once per run).
    pub doubt: Option<Doubt>,
}

/// Why retention does not trust the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doubt {
    /// Within a boot, the wall clock (`ts_ms`) disagrees with the time CLOCK_BOOTTIME vouches
    /// for since the last trusted sample (`implied_ms`); retention uses the earlier.
    Stepped { ts_ms: i64, implied_ms: i64 },
    /// Across a reboot the clock is `jump_ms` past the last trusted sample, more than the raw
    /// retention; retention pauses at what the uptime vouches for.
    Jumped { jump_ms: i64 },
}

/// Anchor keys in `meta`: a trusted (wall ms, CLOCK_BOOTTIME ms, sysinfo row) reading.
const ANCHOR: [&str; 3] = ["clock_ts_ms", "clock_mono_ms", "clock_sysinfo"];

/// One statement (one commit) for the three keys: this runs after every sample.
fn set_anchor(conn: &Connection, a: (i64, i64, i64)) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2), (?3, ?4), (?5, ?6)",
    )?
    .execute(rusqlite::params![
        ANCHOR[0], a.0, ANCHOR[1], a.1, ANCHOR[2], a.2
    ])?;
    Ok(())
}

fn get_anchor(conn: &Connection) -> rusqlite::Result<Option<(i64, i64, i64)>> {
    let mut v = [None; 3];
    let mut st = conn.prepare_cached("SELECT key, value FROM meta WHERE key IN (?1, ?2, ?3)")?;
    let mut rows = st.query(rusqlite::params![ANCHOR[0], ANCHOR[1], ANCHOR[2]])?;
    while let Some(r) = rows.next()? {
        let k: String = r.get(0)?;
        if let Some(i) = ANCHOR.iter().position(|a| *a == k) {
            v[i] = Some(r.get::<_, i64>(1)?);
        }
    }
    Ok(match v {
        [Some(a), Some(b), Some(c)] => Some((a, b, c)),
        _ => None,
    })
}

/// Decides what "now" retention uses for stored sample `sample`, taken at `clock` (wall ms,
/// CLOCK_BOOTTIME ms, sysinfo row), and moves the anchor.
pub(crate) fn trusted_now(
    conn: &Connection,
    sample: i64,
    clock: (i64, i64, i64),
    max_jump_ms: i64,
) -> rusqlite::Result<Trusted> {
    use rusqlite::OptionalExtension;
    let (ts, mono, si) = clock;
    let ok = |now_ms| Trusted {
        now_ms,
        doubt: None,
    };
    let anchor = get_anchor(conn)?;
    let boot = |si: i64| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT boot_id FROM sysinfo WHERE id = ?1", [si], |r| {
            r.get(0)
        })
        .optional()
    };
    let same_boot = match anchor {
        Some((_, _, asi)) => asi == si || boot(asi)? == boot(si)?,
        None => false,
    };
    if let (Some((ats, amono, _)), true) = (anchor, same_boot) {
        let passed = mono.saturating_sub(amono).max(0);
        let implied = ats.saturating_add(passed);
        let tol = (10 * 60_000i64).max(passed / 100);
        if (ts - implied).abs() <= tol {
            set_anchor(conn, (ts, mono, si))?;
            return Ok(ok(ts));
        }
        return Ok(Trusted {
            now_ms: ts.min(implied),
            doubt: Some(Doubt::Stepped {
                ts_ms: ts,
                implied_ms: implied,
            }),
        });
    }
    // A new boot (or no anchor yet): the last trusted time (else the newest sample before this
    // one) bounds the clock — never a sample a stepped clock stamped in the future.
    let prev: Option<i64> = match anchor {
        Some((ats, _, _)) => Some(ats),
        None => conn
            .query_row(
                "SELECT max(ts_ms) FROM sample WHERE id < ?1",
                [sample],
                |r| r.get(0),
            )
            .optional()?
            .flatten(),
    };
    match prev {
        Some(p) if ts.saturating_sub(p) > max_jump_ms => {
            let lower = p.saturating_add(mono.max(0));
            set_anchor(conn, (lower.min(ts), mono, si))?;
            Ok(Trusted {
                now_ms: lower.min(ts),
                doubt: Some(Doubt::Jumped { jump_ms: ts - p }),
            })
        }
        _ => {
            set_anchor(conn, (ts, mono, si))?;
            Ok(ok(ts))
        }
    }
}

/// `nrec prune`: the user confirms the wall clock the newest sample was taken with; it
/// becomes the anchor the next samples are checked against.
pub(crate) fn confirm_clock(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::OptionalExtension;
    let last: Option<(i64, i64, i64)> = conn
        .query_row(
            "SELECT ts_ms, mono_ms, sysinfo FROM sample ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    match last {
        Some(a) => set_anchor(conn, a),
        None => Ok(()),
    }
}

pub(crate) fn prune(
    conn: &mut Connection,
    now_ms: i64,
    r: &Retention,
    limit: Limit,
) -> rusqlite::Result<Pruned> {
    let t0 = Instant::now();
    let mut out = Pruned::default();
    let mut steps = 0usize;
    let (raw_day, quarter_day, daily_day) = horizons(now_ms, r);
    let out_of_budget = |steps: usize| steps >= limit.steps || t0.elapsed() >= limit.time;

    // 1. Raw samples of whole UTC days before the horizon, only if rolled up.
    if let Some(day) = raw_day {
        let horizon_ms = day * DAY_MS;
        loop {
            if out_of_budget(steps) {
                return Ok(out);
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rolled = get_meta(&tx, "rolled_to")?.unwrap_or(0);
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "SELECT id FROM sample WHERE ts_ms <= ?1 AND id <= ?2 ORDER BY ts_ms LIMIT ?3",
                )?
                .query_map(params![horizon_ms, rolled, SAMPLES_PER_STEP as i64], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<_>>()?;
            if ids.is_empty() {
                let raw_from = get_meta(&tx, "raw_from_ms")?.unwrap_or(i64::MIN);
                // Only when nothing older is left (un-rolled samples stay and keep raw_from);
                // counted only when raw_from would move (once a day, not every sample).
                if raw_from < horizon_ms
                    && tx.query_row(
                        "SELECT count(*) FROM sample WHERE ts_ms <= ?1",
                        [horizon_ms],
                        |r| r.get::<_, i64>(0),
                    )? == 0
                {
                    set_meta(&tx, "raw_from_ms", horizon_ms)?;
                }
                if out.samples > 0 {
                    tx.execute("DELETE FROM listener WHERE last_ms < ?1", [horizon_ms])?;
                    // readings of interfaces gone before the horizon serve no next sample
                    tx.execute(
                        "DELETE FROM iface_last WHERE sample < (SELECT min(id) FROM sample)",
                        [],
                    )?;
                }
                tx.commit()?;
                break;
            }
            for id in &ids {
                for t in RAW_TABLES {
                    tx.prepare_cached(&format!("DELETE FROM {t} WHERE sample = ?1"))?
                        .execute([id])?;
                }
                tx.prepare_cached("DELETE FROM sample WHERE id = ?1")?
                    .execute([id])?;
            }
            // Reports treat raw rows before the horizon as gone from now on.
            let raw_from = get_meta(&tx, "raw_from_ms")?.unwrap_or(i64::MIN);
            set_meta(&tx, "raw_from_ms", raw_from.max(horizon_ms))?;
            tx.commit()?;
            out.samples += ids.len() as u64;
            steps += 1;
        }
    }

    // 2. Quarter-hour detail of days before the hourly horizon, one day per step.
    if let Some(day) = quarter_day {
        loop {
            if out_of_budget(steps) {
                return Ok(out);
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let from = match get_meta(&tx, "quarters_from_day")? {
                // a crafted meta value cannot make this loop walk from the year -100 000
                Some(d) => d.max(first_day(&tx)?.unwrap_or(day)),
                // nothing stripped yet (the meta row claims "pruned before", so it is only
                // written once something was)
                None => first_day(&tx)?.unwrap_or(day),
            };
            if from >= day {
                tx.commit()?;
                break;
            }
            for k in Kind::ALL {
                let (lo, hi) = kind_day(k, from);
                tx.prepare_cached(
                    "UPDATE rollup SET quarters = NULL WHERE id >= ?1 AND id < ?2 AND quarters IS NOT NULL",
                )?
                .execute([lo, hi])?;
            }
            set_meta(&tx, "quarters_from_day", from + 1)?;
            tx.commit()?;
            out.quarter_days += 1;
            steps += 1;
        }
    }

    // 3. Daily rows before the daily horizon, one day per step.
    if let Some(day) = daily_day {
        loop {
            if out_of_budget(steps) {
                return Ok(out);
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let from = match first_day(&tx)? {
                Some(f) if f < day => f,
                _ => {
                    tx.commit()?;
                    break;
                }
            };
            super::rollup::carry_day(&tx, from)?;
            for k in Kind::ALL {
                let (lo, hi) = kind_day(k, from);
                tx.prepare_cached("DELETE FROM rollup WHERE id >= ?1 AND id < ?2")?
                    .execute([lo, hi])?;
            }
            let days_from = get_meta(&tx, "days_from_day")?.unwrap_or(i64::MIN);
            set_meta(&tx, "days_from_day", days_from.max(from + 1))?;
            tx.commit()?;
            out.daily_days += 1;
            steps += 1;
        }
    }

    // 4. Hand surplus free pages back (incremental auto-vacuum databases only).
    let auto: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if auto == 2 {
        loop {
            if out_of_budget(steps) {
                return Ok(out);
            }
            let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            let n = (free - KEEP_FREE_PAGES).min(VACUUM_PAGES_PER_STEP);
            if n <= 0 {
                break;
            }
            // incremental_vacuum frees one page per step of its statement: step it to the end
            // (execute_batch steps once, which freed one page per call), and count what the
            // freelist lost rather than what was asked for.
            {
                let mut st = conn.prepare(&format!("PRAGMA incremental_vacuum({n})"))?;
                let mut rows = st.query([])?;
                while rows.next()?.is_some() {}
            }
            let after: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            out.pages_released += free - after;
            steps += 1;
            if after >= free {
                break; // nothing could be released (a reader holds the pages)
            }
        }
    }
    out.done = true;
    Ok(out)
}
