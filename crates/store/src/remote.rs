//! How far each remote-write target has been pushed (`remote_write`, schema 13): the
//! database is the push queue, this table is each target's read position in it.

use rusqlite::{Connection, OptionalExtension, params};

/// One target's position and health.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushState {
    pub target: String,
    /// The newest point time acknowledged (or skipped), None before the first push.
    pub acked_ms: Option<i64>,
    pub sent: u64,
    pub skipped: u64,
    /// Consecutive failed pushes.
    pub failures: u32,
    pub tried_ms: Option<i64>,
    pub error: Option<String>,
}

/// Stored text is read back bounded: a crafted database cannot flood the output.
const MAX_TEXT: usize = 300;

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PushState> {
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(PushState {
        target: r.get::<_, String>(0)?.chars().take(MAX_TEXT).collect(),
        acked_ms: r.get(1)?,
        sent: n(2)?,
        skipped: n(3)?,
        failures: u32::try_from(n(4)?).unwrap_or(u32::MAX),
        tried_ms: r.get(5)?,
        error: r
            .get::<_, Option<String>>(6)?
            .map(|s| s.chars().take(MAX_TEXT).collect()),
    })
}

const COLUMNS: &str = "target, acked_ms, sent, skipped, failures, tried_ms, error";

pub(crate) fn all(conn: &Connection) -> rusqlite::Result<Vec<PushState>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM remote_write ORDER BY target LIMIT 1000"
    ))?;
    st.query_map([], row)?.collect()
}

pub(crate) fn get(conn: &Connection, target: &str) -> rusqlite::Result<Option<PushState>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM remote_write WHERE target = ?1"
    ))?
    .query_row([target], row)
    .optional()
}

/// Holds `target` for a push until `until_ms` unless another push holds it: whether this one
/// may push.
pub(crate) fn hold(
    conn: &Connection,
    target: &str,
    now_ms: i64,
    until_ms: i64,
) -> rusqlite::Result<bool> {
    conn.prepare_cached("INSERT OR IGNORE INTO remote_write (target) VALUES (?1)")?
        .execute([target])?;
    let n = conn
        .prepare_cached(
            "UPDATE remote_write SET busy_until = ?3
             WHERE target = ?1 AND (busy_until IS NULL OR busy_until <= ?2)",
        )?
        .execute(params![target, now_ms, until_ms])?;
    Ok(n == 1)
}

/// What a push did: `acked_ms` only moves forward.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    pub acked_ms: Option<i64>,
    pub sent: u64,
    pub skipped: u64,
    /// Whether it failed (the failure count grows; else it is reset).
    pub failed: bool,
    /// The failure that ended it, or the note of a refused request; None when all went well.
    pub error: Option<String>,
}

/// Records what a push did and releases the target.
pub(crate) fn done(
    conn: &Connection,
    target: &str,
    now_ms: i64,
    p: &Pushed,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE remote_write SET
            acked_ms = CASE WHEN ?2 IS NULL THEN acked_ms ELSE max(coalesce(acked_ms, ?2), ?2) END,
            sent = sent + ?3, skipped = skipped + ?4,
            failures = CASE WHEN ?7 THEN failures + 1 ELSE 0 END,
            error = ?5, tried_ms = ?6, busy_until = NULL
         WHERE target = ?1",
    )?
    .execute(params![
        target,
        p.acked_ms,
        i64::try_from(p.sent).unwrap_or(i64::MAX),
        i64::try_from(p.skipped).unwrap_or(i64::MAX),
        p.error,
        now_ms,
        p.failed
    ])?;
    Ok(())
}
