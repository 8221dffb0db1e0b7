//! The `unit` table (schema 10): what a systemd unit is, its `Description=` read once per
//! unit name from its files (`recorder::units`) and kept — so a report describes a unit
//! removed since, and a sample never reads unit files for a unit it already knows.

use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// A unit whose description could not be found is looked for again after this long.
const RETRY_MS: i64 = 10 * 60 * 1000;

/// What the store knows of the units met in one sample (a cache over the table).
#[derive(Default)]
pub struct Known {
    seen: HashMap<String, Option<String>>,
}

impl Known {
    /// The description of `unit`, from the table or — first sight, or a failed lookup ten
    /// minutes old — its files, stored. `now_ms`: the sample's time.
    pub fn get(
        &mut self,
        conn: &Connection,
        unit: &str,
        now_ms: i64,
    ) -> rusqlite::Result<Option<String>> {
        if let Some(d) = self.seen.get(unit) {
            return Ok(d.clone());
        }
        let row: Option<(Option<String>, i64)> = conn
            .prepare_cached("SELECT description, resolved_ms FROM unit WHERE name = ?1")?
            .query_row([unit], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let d = match row {
            Some((d, at)) if d.is_some() || now_ms.saturating_sub(at) < RETRY_MS => d,
            _ => {
                let d = crate::recorder::units::description(unit);
                conn.prepare_cached(
                    "INSERT INTO unit (name, description, resolved_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET
                       description = coalesce(excluded.description, description),
                       resolved_ms = excluded.resolved_ms",
                )?
                .execute(params![unit, d, now_ms])?;
                d
            }
        };
        self.seen.insert(unit.to_string(), d.clone());
        Ok(d)
    }
}
