//! Sums since recording began — what `nrec serve` exposes as counters: every series' daily
//! rollups (written with every sample, today's included) plus what retention carried out of
//! them (`carried`, schema 6). So a counter never goes backwards: not across reboots or
//! counter resets (the deltas already handle those), not when retention prunes a day.

use super::rollup::{self, Kind};
use super::{limit, malformed};
use crate::{Bounded, unzigzag, zigzag};
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
/// long-lived reader, `nrec serve`; the daemon's pushes) and in the database (`past_sums`,
/// for a one-shot push or a fresh `serve`): those days change only when retention prunes
/// (which moves `days_from_day` and fills `carried`), when a sample lands in a past day or
/// the rollups are rebuilt (both bump `past_generation`), so a read adds just the newest
/// day's rows. A year of 100 processes is ~80 000 rollup rows: read once, not on every
/// scrape or push.
#[derive(Default)]
pub struct AllTimeCache {
    key: Option<CacheKey>,
    past: HashMap<i64, AllTime>,
    /// Read from the rollups by this cache (not loaded): worth storing.
    fresh: bool,
}

/// What the cached days are of: the file (device, inode and the database's own id — another
/// file restored in its place is read afresh however alike its days are), the kinds, and the
/// days' extent, pruning and generation.
#[derive(PartialEq, Eq)]
struct CacheKey {
    file: (u64, u64, i64),
    kinds: Vec<Kind>,
    days: (i64, i64, i64, i64, i64),
}

impl CacheKey {
    /// What `past_sums.key` holds: all but the device and inode (a copy of the file has the
    /// same days).
    fn stored(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let (a, b, c, d, e) = self.days;
        for v in self
            .kinds
            .iter()
            .map(|k| *k as i64)
            .chain([a, b, c, d, e, self.file.2])
        {
            crate::rollup::encode_vec(&[zigzag(v)], &mut out);
        }
        out
    }
}

/// The meta key a write into a past day and a rebuild bump.
const GENERATION: &str = "past_generation";

/// Marks the past days' sums stale (a sample written into a past day, a rebuild).
pub(crate) fn bump_generation(conn: &Connection) -> rusqlite::Result<()> {
    let g = rollup::get_meta(conn, GENERATION)?.unwrap_or(0);
    rollup::set_meta(conn, GENERATION, g.wrapping_add(1))
}

/// Whether a sample of UTC day `day` lands before the newest day with rollups.
pub(crate) fn is_past_day(conn: &Connection, day: i64) -> rusqlite::Result<bool> {
    Ok(last_day(conn)?.is_some_and(|l| day < l))
}

/// `past_sums`' encoding: per series its id, first and last day (zigzag) and its vector.
fn encode_sums(m: &HashMap<i64, AllTime>) -> Vec<u8> {
    let mut out = Vec::new();
    for (series, a) in m {
        rollup::encode_vec(
            &[zigzag(*series), zigzag(a.first_day), zigzag(a.last_day)],
            &mut out,
        );
        rollup::encode_vec(&a.total, &mut out);
    }
    out
}

fn decode_sums(mut b: &[u8]) -> Option<HashMap<i64, AllTime>> {
    let mut out = HashMap::new();
    while !b.is_empty() {
        let head = rollup::decode_vec(&mut b)?;
        let total = rollup::decode_vec(&mut b)?;
        let [series, first, last] = head[..] else {
            return None;
        };
        out.insert(
            unzigzag(series),
            AllTime {
                total,
                first_day: unzigzag(first),
                last_day: unzigzag(last),
            },
        );
    }
    Some(out)
}

impl AllTimeCache {
    pub(crate) fn all_time(
        &mut self,
        conn: &Connection,
        path: &std::path::Path,
        kinds: &[Kind],
    ) -> rusqlite::Result<HashMap<i64, AllTime>> {
        let last = self.refresh(conn, path, kinds)?;
        let mut out = self.past.clone();
        add_days(conn, kinds, (last, last + 1), &mut out)?;
        Ok(out)
    }

    /// Sums over the UTC days before `day`: the cached past when `day` is the newest day
    /// with rollups (a push of today's samples), else read.
    pub(crate) fn before_day(
        &mut self,
        conn: &Connection,
        path: &std::path::Path,
        kinds: &[Kind],
        day: i64,
    ) -> rusqlite::Result<HashMap<i64, AllTime>> {
        let last = self.refresh(conn, path, kinds)?;
        if day == last {
            Ok(self.past.clone())
        } else {
            before(conn, kinds, day)
        }
    }

    /// Stores the past days' sums this cache read from the rollups (`past_sums`), for the
    /// next process; a connection that may write (the pushes' `Writer`).
    pub(crate) fn persist(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let Some(key) = self.key.as_ref().filter(|_| self.fresh) else {
            return Ok(());
        };
        conn.prepare_cached("INSERT OR REPLACE INTO past_sums (id, key, sums) VALUES (1, ?1, ?2)")?
            .execute(params![key.stored(), encode_sums(&self.past)])?;
        self.fresh = false;
        Ok(())
    }

    /// Reads the past days again unless the cached (or stored) ones are still this file's;
    /// the newest day with rollups (the one not cached).
    fn refresh(
        &mut self,
        conn: &Connection,
        path: &std::path::Path,
        kinds: &[Kind],
    ) -> rusqlite::Result<i64> {
        use std::os::unix::fs::MetadataExt;
        let first = rollup::first_day(conn)?.unwrap_or(0);
        let last = last_day(conn)?.unwrap_or(first);
        let pruned = rollup::get_meta(conn, "days_from_day")?.unwrap_or(i64::MIN);
        let generation = rollup::get_meta(conn, GENERATION)?.unwrap_or(0);
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
            days: (first, last, pruned, carried, generation),
        });
        if key.is_some() && self.key == key {
            return Ok(last);
        }
        let stored = match &key {
            Some(k) => conn
                .prepare_cached("SELECT sums FROM past_sums WHERE id = 1 AND key = ?1")?
                .query_row([k.stored()], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
                // a malformed row is not trusted: the days are read again
                .and_then(|b| decode_sums(&b)),
            None => None,
        };
        (self.past, self.fresh) = match stored {
            Some(p) => (p, false),
            None => (before(conn, kinds, last)?, true),
        };
        self.key = key;
        Ok(last)
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

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn stored_sums_decode_to_what_was_stored() {
        let mut m = HashMap::new();
        m.insert(
            7,
            AllTime {
                total: vec![1, 0, u64::MAX, 3],
                first_day: -2,
                last_day: i64::MIN,
            },
        );
        m.insert(
            i64::MAX,
            AllTime {
                total: vec![],
                first_day: 20_000,
                last_day: 20_400,
            },
        );
        assert_eq!(decode_sums(&encode_sums(&m)), Some(m));
        assert_eq!(decode_sums(&[0x80]), None, "truncated");
        for v in [0, 1, -1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
