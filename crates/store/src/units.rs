//! The `unit` table (schema 10): what a systemd unit is, its `Description=` as the sampler
//! read it from the unit's files when it first met the unit — kept, so a report describes a
//! unit removed since, and a sample never reads unit files for a unit the store knows.

use rusqlite::{Connection, OptionalExtension, params};

/// A unit whose description could not be found is looked for again after this long.
const RETRY_MS: i64 = 10 * 60 * 1000;

/// The unit's description as stored, when it is known (found, or looked for less than ten
/// minutes before `now_ms`: then possibly None). None: the sampler looks it up.
#[allow(clippy::option_option)]
pub(crate) fn known(
    conn: &Connection,
    unit: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<Option<String>>> {
    let row: Option<(Option<String>, i64)> = conn
        .prepare_cached("SELECT description, resolved_ms FROM unit WHERE name = ?1")?
        .query_row([unit], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row
        .filter(|(d, at)| d.is_some() || now_ms.saturating_sub(*at) < RETRY_MS)
        .map(|(d, _)| d))
}

/// Keeps what a lookup at `at_ms` found (None keeps a description found before).
pub(crate) fn save(
    conn: &Connection,
    unit: &str,
    description: Option<&str>,
    at_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO unit (name, description, resolved_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET
           description = coalesce(excluded.description, description),
           resolved_ms = excluded.resolved_ms",
    )?
    .execute(params![unit, description, at_ms])?;
    Ok(())
}
