//! Alert firings (`alert_fired`, schema 7): one row per (rule, period), inserted with
//! `INSERT OR IGNORE`, so a crossing fires once per period however many samples or
//! concurrent recorders see it, and a firing survives restarts. A rate rule's period is its
//! episode: `cleared_ms` closes it, which re-arms the rule.

use rusqlite::{Connection, params};

/// A stored firing.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub period: i64,
    pub fired_ms: i64,
    pub value: f64,
    pub cleared_ms: Option<i64>,
    /// What the rule's command did ("exit 0", "killed after 10 s (timeout)", "no command").
    pub outcome: Option<String>,
}

/// A firing to record.
#[derive(Debug, Clone)]
pub struct Firing<'a> {
    pub rule: &'a str,
    pub period: i64,
    pub fired_ms: i64,
    pub subject: &'a str,
    pub value: f64,
    pub threshold: f64,
    pub outcome: Option<&'a str>,
}

/// Stored firings, newest first, with their rules' names and subjects: of one rule, or of
/// all. Stored text is read back bounded: a crafted database cannot flood the output.
pub(crate) fn fired(
    conn: &Connection,
    rule: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<(String, String, Fired)>> {
    let mut st = conn.prepare_cached(
        "SELECT rule, subject, period, fired_ms, value, cleared_ms, outcome FROM alert_fired
         WHERE ?1 IS NULL OR rule = ?1 ORDER BY fired_ms DESC, period DESC, rule LIMIT ?2",
    )?;
    let rows = st.query_map(
        params![rule, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| {
            let text = |i: usize| -> rusqlite::Result<Option<String>> {
                Ok(r.get::<_, Option<String>>(i)?
                    .map(|s| s.chars().take(200).collect()))
            };
            Ok((
                text(0)?.unwrap_or_default(),
                text(1)?.unwrap_or_default(),
                Fired {
                    period: r.get(2)?,
                    fired_ms: r.get(3)?,
                    value: r.get(4)?,
                    cleared_ms: r.get(5)?,
                    outcome: text(6)?,
                },
            ))
        },
    )?;
    rows.collect()
}

/// Records a firing unless the rule already fired in that period; whether it is new.
pub(crate) fn record(conn: &Connection, f: &Firing<'_>) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO alert_fired (rule, period, fired_ms, subject, value, threshold, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            f.rule,
            f.period,
            f.fired_ms,
            f.subject,
            f.value,
            f.threshold,
            f.outcome
        ])?;
    Ok(n == 1)
}

/// Closes a rate rule's episode: the rule re-arms.
pub(crate) fn clear(
    conn: &Connection,
    rule: &str,
    period: i64,
    at_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE alert_fired SET cleared_ms = ?3 WHERE rule = ?1 AND period = ?2")?
        .execute(params![rule, period, at_ms])?;
    Ok(())
}

/// Stores what a firing's command did.
pub(crate) fn set_outcome(
    conn: &Connection,
    rule: &str,
    period: i64,
    outcome: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE alert_fired SET outcome = ?3 WHERE rule = ?1 AND period = ?2")?
        .execute(params![rule, period, outcome])?;
    Ok(())
}
