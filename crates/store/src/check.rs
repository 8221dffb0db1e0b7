//! VERIFY: `nrec check`'s findings — integrity, schema version, and every day the raw rows
//! still cover recomputed and compared with its stored rollups.

use super::rollup::{self, Acc, DAY_MS, Kind, Roller};
use rusqlite::Connection;

/// One finding of `nrec check`.
pub struct Finding {
    pub ok: bool,
    pub text: String,
}

/// Every check, in order; a failed integrity check skips the rollup comparison.
pub(crate) fn check(conn: &Connection) -> rusqlite::Result<Vec<Finding>> {
    let mut found: Vec<Finding> = Vec::new();

    let qc: Vec<String> = conn.prepare("PRAGMA quick_check").and_then(|mut st| {
        st.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()
    })?;
    let intact = qc.len() == 1 && qc[0] == "ok";
    found.push(Finding {
        ok: intact,
        text: if intact {
            "integrity: quick_check ok".into()
        } else {
            format!("integrity: quick_check: {}", qc.join("; "))
        },
    });
    let v: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    found.push(Finding {
        ok: v == super::SCHEMA_VERSION,
        text: format!("schema: version {v} (this nrec: {})", super::SCHEMA_VERSION),
    });
    if intact {
        found.extend(check_rollups(conn)?);
    }

    Ok(found)
}

/// A UTC day number as `YYYY-MM-DD`.
pub fn day_label(day: i64) -> String {
    jiff::Timestamp::from_millisecond(day * DAY_MS)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| format!("day {day}"))
}

/// Every day the raw rows still cover: the stored rollups equal a fresh recomputation.
fn check_rollups(conn: &Connection) -> rusqlite::Result<Vec<Finding>> {
    let mut out = Vec::new();
    // keys nrec never writes: before 1970, past the last representable day, an unknown kind
    let foreign: i64 = conn.query_row(
        "SELECT count(*) FROM rollup WHERE id < 0 OR (id >> 35) > ?1 OR ((id >> 32) & 7) >= ?2",
        [rollup::MAX_DAY, Kind::ALL.len() as i64],
        |r| r.get(0),
    )?;
    if foreign > 0 {
        out.push(Finding {
            ok: false,
            text: format!(
                "rollups: {foreign} row(s) with a key nrec never writes (a modified file)"
            ),
        });
    }
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
    let first = day_label(from);
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
