//! Sums since recording began — what `nrec serve` exposes as counters: every series' daily
//! rollups (written with every sample, today's included) plus what retention carried out of
//! them (`carried`, schema 6). So a counter never goes backwards: not across reboots or
//! counter resets (the deltas already handle those), not when retention prunes a day.

use super::rollup::{self, Kind};
use super::{limit, malformed};
use crate::Bounded;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// One series' sum over all time, and the first and last UTC day it had data (`first_day`
/// of a series known only from `carried` is its first; its last is `i64::MIN`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AllTime {
    pub total: Vec<u64>,
    pub first_day: i64,
    pub last_day: i64,
}

/// Adds a stored vector (`blob`) of `series`, seen from `first` to `last` day, into `out`.
fn merge(
    out: &mut HashMap<i64, AllTime>,
    series: i64,
    (first, last): (i64, i64),
    blob: &[u8],
    what: &str,
) -> rusqlite::Result<()> {
    let v = rollup::decode_vec(&mut &blob[..])
        .ok_or_else(|| malformed(format!("{what} of series {series}")))?;
    let e = out.entry(series).or_insert(AllTime {
        total: Vec::new(),
        first_day: first,
        last_day: last,
    });
    rollup::add_into(&mut e.total, &v);
    e.first_day = e.first_day.min(first);
    e.last_day = e.last_day.max(last);
    Ok(())
}

/// Adds the daily rollup rows of `kinds` on UTC days `[from, until)` into `out`.
fn add_days(
    conn: &Connection,
    kinds: &[Kind],
    (from, until): (i64, i64),
    out: &mut HashMap<i64, AllTime>,
) -> rusqlite::Result<()> {
    for k in kinds {
        let mut st = conn.prepare_cached(&rollup::kind_days_sql("r.day, r.series, r.total"))?;
        let mut rows = st.query(params![*k as i64, from, until])?;
        while let Some(r) = rows.next()? {
            let day: i64 = r.get(0)?;
            let series: i64 = r.get(1)?;
            merge(out, series, (day, day), r.get_ref(2)?.as_blob()?, "rollup")?;
        }
    }
    Ok(())
}

/// The newest UTC day with rollups.
fn last_day(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id >> 35 FROM rollup ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()
}

/// Sums of every series of `kinds` over all UTC days before `until_day` (rollup totals plus
/// what retention carried out of them).
pub(crate) fn before(
    conn: &Connection,
    kinds: &[Kind],
    until_day: i64,
) -> rusqlite::Result<HashMap<i64, AllTime>> {
    let mut out: HashMap<i64, AllTime> = HashMap::new();
    // one seek per day that can hold rows: from the first day with rollups to the last
    let from = rollup::first_day(conn)?.unwrap_or(until_day);
    let until = until_day.min(last_day(conn)?.map_or(from, |d| d + 1));
    add_days(conn, kinds, (from, until), &mut out)?;
    // a series all of whose days were pruned is still counted (not exposed as recent, but
    // the kinds summed over all series include it)
    let mut st = conn.prepare_cached("SELECT series, total, first_day FROM carried")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(2)?;
        merge(
            &mut out,
            r.get(0)?,
            (first, i64::MIN),
            r.get_ref(1)?.as_blob()?,
            "carried",
        )?;
    }
    Ok(out)
}

/// The all-time sums of the days before the newest day with rollups, kept between reads (a
/// long-lived reader, `nrec serve`): those days change only when retention prunes (which
/// moves `days_from_day` and fills `carried`), so a read adds just the newest day's rows. A
/// year of 100 processes is ~80 000 rollup rows: read once, not on every scrape.
#[derive(Default)]
pub struct AllTimeCache {
    key: Option<CacheKey>,
    past: HashMap<i64, AllTime>,
}

/// What the cached days are of: the file (device, inode and the database's own id — another
/// file restored in its place is read afresh however alike its days are), the kinds, and the
/// days' extent and pruning.
#[derive(PartialEq, Eq)]
struct CacheKey {
    file: (u64, u64, i64),
    kinds: Vec<Kind>,
    days: (i64, i64, i64, i64),
}

impl AllTimeCache {
    pub(crate) fn all_time(
        &mut self,
        conn: &Connection,
        path: &std::path::Path,
        kinds: &[Kind],
    ) -> rusqlite::Result<HashMap<i64, AllTime>> {
        use std::os::unix::fs::MetadataExt;
        let first = rollup::first_day(conn)?.unwrap_or(0);
        let last = last_day(conn)?.unwrap_or(first);
        let pruned = rollup::get_meta(conn, "days_from_day")?.unwrap_or(i64::MIN);
        let carried: i64 = conn.query_row(
            "SELECT count(*) + coalesce(sum(first_day), 0) FROM carried",
            [],
            |r| r.get(0),
        )?;
        // a file that cannot be told from another (no stat, no id) is never served from cache
        let id = rollup::get_meta(conn, "database_id")?;
        let file = std::fs::metadata(path)
            .ok()
            .zip(id)
            .map(|(m, id)| (m.dev(), m.ino(), id));
        let key = file.map(|file| CacheKey {
            file,
            kinds: kinds.to_vec(),
            days: (first, last, pruned, carried),
        });
        if key.is_none() || self.key != key {
            self.past = before(conn, kinds, last)?;
            self.key = key;
        }
        let mut out = self.past.clone();
        add_days(conn, kinds, (last, last + 1), &mut out)?;
        Ok(out)
    }
}

/// One namespace's protocol values of a sample: (namespace, counter names, values — the
/// interval's deltas for counters, the readings for gauges).
pub type ProtoValues = (Vec<u8>, Vec<String>, Vec<u64>);

/// The protocol values of sample `sample`, namespace by namespace.
pub(crate) fn proto_values(conn: &Connection, sample: i64) -> rusqlite::Result<Vec<ProtoValues>> {
    let mut st = conn.prepare_cached(
        "SELECT n.name, k.names, p.vals FROM proto_sample p JOIN netns n ON n.id = p.netns
         JOIN keyset k ON k.id = p.keyset WHERE p.sample = ?1",
    )?;
    let mut rows = st.query([sample])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let ns: Vec<u8> = r.bounded(0, limit::NETNS)?;
        let names: String = r.bounded(1, limit::KEYSET)?;
        let blob = r.get_ref(2)?.as_blob()?;
        let vals =
            rollup::decode_vec(&mut &blob[..]).ok_or_else(|| malformed("protocol-counter blob"))?;
        out.push((ns, names.split('\n').map(str::to_string).collect(), vals));
    }
    Ok(out)
}
