//! ROLLUP: per UTC day and series, the day's sums and its quarter-hour sums.
//!
//! One function, [`Roller::contributions`], turns a *stored* sample (its raw rows, read back
//! from the database) into per-series vectors. The insert path, `nrec rollup --rebuild`,
//! `nrec check` and the raw edges of long report windows all use it, so a rollup can never
//! disagree with the raw rows it summarises.
//!
//! Buckets are quarter hours because every zone in the tz database is a whole number of
//! quarter hours from UTC: a local day (also +05:30, +05:45) is a whole number of quarters,
//! so local-day totals from rollups are exact. A sample's interval counts in the bucket of
//! the sample that closes it, exactly as raw reports place it.

mod codec;

pub use codec::add_into;
pub(crate) use codec::{
    decode_quarters, decode_vec, decode_vec_into, encode_nonzero, encode_quarters, encode_vec,
};

use super::{Sql, from_sql};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

pub use nrec_model::time::{DAY_MS, QUARTER_MS, QUARTERS, instant};

/// The rowid of the rollup row of (kind, UTC day, series): day << 35 | kind << 32 | series.
/// Day-major, so that the open day's rows (rewritten with every sample) are the last rows of
/// the table and a finished day is compacted where rows are appended.
pub(crate) fn key(kind: Kind, day: i64, series: i64) -> i64 {
    (day << 35) | ((kind as i64) << 32) | series
}

/// `[lo, hi)` rowids of kind's rows of one day.
pub(crate) fn kind_day(kind: Kind, day: i64) -> (i64, i64) {
    let lo = key(kind, day.clamp(0, MAX_DAY), 0);
    (lo, lo + (1 << 32))
}

/// Days representable in a key (from 1970); samples outside are not rolled up.
pub const MAX_DAY: i64 = (1 << 27) - 1;

/// `SELECT cols FROM rollup r` for kind ?1 and days [?2, ?3): one rowid range seek per day
/// (a recursive list of days joined on the key), in (day, series) order.
pub(crate) fn kind_days_sql(cols: &str) -> String {
    format!(
        "WITH RECURSIVE d(day) AS (SELECT max(?2, 0) WHERE max(?2, 0) < ?3
                                   UNION ALL SELECT day + 1 FROM d WHERE day + 1 < ?3)
         SELECT {cols} FROM d JOIN rollup r
           ON r.id >= ((d.day << 35) | (?1 << 32)) AND r.id < ((d.day << 35) | (?1 << 32)) + 4294967296"
    )
}

/// Rolls up every stored sample not rolled up yet (after `rolled_to`); returns how many.
pub(crate) fn roll_pending(conn: &Connection) -> rusqlite::Result<usize> {
    let done = get_meta(conn, "rolled_to")?.unwrap_or(0);
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM sample WHERE id > ?1 ORDER BY id")?
        .query_map([done], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut roller = Roller::new();
    for id in &ids {
        roller.roll_sample(conn, *id)?;
    }
    Ok(ids.len())
}

/// Adds the daily totals of UTC day `day`, about to be pruned, into `carried` (schema 6): the
/// metrics' counters sum everything ever recorded and must not go backwards when retention
/// removes a day.
pub(crate) fn carry_day(conn: &Connection, day: i64) -> rusqlite::Result<()> {
    for k in Kind::ALL {
        let (lo, hi) = kind_day(k, day);
        let mut st =
            conn.prepare_cached("SELECT series, total FROM rollup WHERE id >= ?1 AND id < ?2")?;
        let rows: Vec<(i64, Vec<u8>)> = st
            .query_map([lo, hi], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (series, blob) in rows {
            let v = decode_vec(&mut &blob[..])
                .ok_or_else(|| super::malformed(format!("rollup of series {series}")))?;
            let old: Option<(Vec<u8>, i64)> = conn
                .prepare_cached("SELECT total, first_day FROM carried WHERE series = ?1")?
                .query_row([series], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (mut sum, first) = match old {
                Some((b, f)) => (
                    decode_vec(&mut &b[..])
                        .ok_or_else(|| super::malformed(format!("carried of series {series}")))?,
                    f.min(day),
                ),
                None => (Vec::new(), day),
            };
            add_into(&mut sum, &v);
            let mut out = Vec::new();
            encode_vec(&sum, &mut out);
            conn.prepare_cached(
                "INSERT OR REPLACE INTO carried (series, total, first_day) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![series, out, first])?;
        }
    }
    Ok(())
}

/// The first UTC day with rollups (rows with a key nrec cannot write — a negative id, a crafted
/// file — are not a day: `check` reports them).
pub(crate) fn first_day(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id >> 35 FROM rollup WHERE id >= 0 ORDER BY id LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()
}

/// What a series sums; the number is `series.kind` and `rollup.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The host's sampling: [samples, intervals, elapsed ms, elapsed ms whose process bytes
    /// came from eBPF, eBPF calls lost to a full map, their bytes].
    Time = 0,
    /// An interface: the 16 /proc/net/dev deltas, then [`IF_ELAPSED`], [`IF_COUNTED`],
    /// [`IF_UNCOUNTED`].
    Iface = 1,
    /// The protocol counters of a namespace, one keyset: per name the summed deltas
    /// (counters) or summed readings (gauges), then [gauge readings, counter intervals,
    /// counter elapsed ms].
    Proto = 2,
    /// A process: [rx, tx].
    Proc = 3,
    /// A process's service port: [rx, tx].
    Port = 4,
    /// A process's remote address ('*' = the rest): [rx, tx].
    Host = 5,
    /// A namespace's socket totals: [rx, tx, unowned rx, unowned tx].
    Attrib = 6,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Time,
        Kind::Iface,
        Kind::Proto,
        Kind::Proc,
        Kind::Port,
        Kind::Host,
        Kind::Attrib,
    ];

    pub(crate) fn from_i64(v: i64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as i64 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Time => "time",
            Kind::Iface => "iface",
            Kind::Proto => "proto",
            Kind::Proc => "proc",
            Kind::Port => "port",
            Kind::Host => "host",
            Kind::Attrib => "attrib",
        }
    }
}

pub(crate) const IF_ELAPSED: usize = 16;
pub(crate) const IF_COUNTED: usize = 17;
pub(crate) const IF_UNCOUNTED: usize = 18;
const IF_LEN: usize = 19;

/// Identity of a series (the `series` table's unique key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    pub kind: Kind,
    pub r: i64,
    pub keyset: i64,
    pub proto: String,
    pub port: i64,
    pub addr: String,
}

impl SeriesKey {
    fn new(kind: Kind, r: i64) -> Self {
        SeriesKey {
            kind,
            r,
            keyset: 0,
            proto: String::new(),
            port: 0,
            addr: String::new(),
        }
    }
}

pub use nrec_model::counter::is_gauge;

/// What one stored sample adds to the rollups.
#[derive(Debug, Default)]
pub(crate) struct Contribution {
    pub ts_ms: i64,
    pub items: Vec<(SeriesKey, Vec<u64>)>,
}

/// The sums of one (kind, day, series) row: the day total and per-quarter vectors.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DayRow {
    pub total: Vec<u64>,
    /// None once the quarter detail was pruned.
    pub quarters: Option<BTreeMap<u8, Vec<u64>>>,
}

/// One rollup row as stored: (total, quarters).
type RawRow = (Vec<u8>, Option<Vec<u8>>);

/// The statements rollup rows are read and written with, held while a sample's (or a day's)
/// rows are.
type RowIo<'c> = crate::Held<'c, 3>;
const ROW_GET: Sql = Sql(0, "SELECT total, quarters FROM rollup WHERE id = ?1");
// UPDATE keeps a row where it is (INSERT OR REPLACE would move it to a new rowid on every
// sample and leave half-empty pages behind)
const ROW_UPDATE: Sql = Sql(
    1,
    "UPDATE rollup SET total = ?2, quarters = ?3 WHERE id = ?1",
);
const ROW_INSERT: Sql = Sql(
    2,
    "INSERT INTO rollup (id, total, quarters) VALUES (?1, ?2, ?3)",
);

fn raw_row(io: &mut RowIo<'_>, id: i64) -> rusqlite::Result<Option<RawRow>> {
    io.get(&ROW_GET)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Stores one row's encoded vectors, over the stored one when it `exists`.
fn put_raw_row(
    io: &mut RowIo<'_>,
    id: i64,
    (total, quarters): (&[u8], Option<&[u8]>),
    exists: bool,
) -> rusqlite::Result<()> {
    io.get(if exists { &ROW_UPDATE } else { &ROW_INSERT })?
        .execute(params![id, total, quarters])?;
    Ok(())
}

pub(crate) fn decode_row(
    total: &[u8],
    quarters: Option<&[u8]>,
    day: i64,
    series: i64,
) -> rusqlite::Result<DayRow> {
    let bad = || super::malformed(format!("rollup of series {series}, day {day}"));
    let total = decode_vec(&mut &total[..]).ok_or_else(bad)?;
    let quarters = match quarters {
        Some(q) => Some(decode_quarters(q).ok_or_else(bad)?),
        None => None,
    };
    Ok(DayRow { total, quarters })
}

fn store_row(
    io: &mut RowIo<'_>,
    kind: Kind,
    day: i64,
    series: i64,
    row: &DayRow,
    exists: bool,
) -> rusqlite::Result<()> {
    let mut total = Vec::new();
    encode_vec(&row.total, &mut total);
    let q = row.quarters.as_ref().map(encode_quarters);
    put_raw_row(io, key(kind, day, series), (&total, q.as_deref()), exists)
}

use crate::CACHE_ENTRIES;

/// Caches of series ids and keyset names for one connection's work, each bounded by
/// [`CACHE_ENTRIES`].
#[derive(Default)]
pub(crate) struct Roller {
    series: HashMap<SeriesKey, i64>,
    keysets: HashMap<i64, Rc<Vec<String>>>,
    bytes: super::procbytes::BytesReader,
    /// The (kind, day)s whose series were read into `series` by one scan ([`Roller::warm`]).
    warmed: std::collections::HashSet<(Kind, i64)>,
}

/// The kinds with a series per namespace or interface: a sample adds to nearly all of a
/// day's rows of them (among 1 000 namespaces, ~3 000 rows), so their series and stored rows
/// are read by one scan of the day's rows, not one lookup each. (A namespace's socket
/// attribution, `Attrib`, has a row wherever its sockets were dumped: every namespace
/// recorded by a one-shot `record`.)
const PER_NAMESPACE: [Kind; 3] = [Kind::Iface, Kind::Proto, Kind::Attrib];

impl Roller {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the series of `day`'s rows of the [`PER_NAMESPACE`] kinds into the cache, once
    /// per (kind, day) and while the cache has room: a new process (the one-shot recorder)
    /// then finds the ids of the series it adds to without one query each.
    fn warm(&mut self, conn: &Connection, day: i64) -> rusqlite::Result<()> {
        // (a daemon's days: the few latest are all it is asked about)
        if self.warmed.len() >= 64 {
            self.warmed.clear();
        }
        for kind in PER_NAMESPACE {
            if !self.warmed.insert((kind, day)) {
                continue;
            }
            let (lo, hi) = kind_day(kind, day);
            let mut st = conn.prepare_cached(
                "SELECT s.id, s.kind, s.ref, s.keyset, s.proto, s.port, s.addr
                 FROM rollup r JOIN series s ON s.id = (r.id & 4294967295)
                 WHERE r.id >= ?1 AND r.id < ?2",
            )?;
            let mut rows = st.query([lo, hi])?;
            while let Some(r) = rows.next()? {
                if self.series.len() >= CACHE_ENTRIES {
                    break;
                }
                // (only a cache: a row a crafted file made unreadable, or whose series is
                // of another kind, is left to the lookup that checks it)
                let k = (|| -> rusqlite::Result<SeriesKey> {
                    Ok(SeriesKey {
                        kind: Kind::from_i64(r.get(1)?).ok_or(rusqlite::Error::InvalidQuery)?,
                        r: r.get(2)?,
                        keyset: r.get(3)?,
                        proto: r.get(4)?,
                        port: r.get(5)?,
                        addr: r.get(6)?,
                    })
                })();
                if let Some(k) = k.ok().filter(|k| k.kind == kind) {
                    self.series.insert(k, r.get(0)?);
                }
            }
        }
        Ok(())
    }

    /// The series id of `k`, created when `create` (else None when it does not exist).
    pub(crate) fn series_id(
        &mut self,
        conn: &Connection,
        k: &SeriesKey,
        create: bool,
    ) -> rusqlite::Result<Option<i64>> {
        if let Some(id) = self.series.get(k) {
            return Ok(Some(*id));
        }
        let args = params![k.kind as i64, k.r, k.keyset, k.proto, k.port, k.addr];
        const SELECT: &str = "SELECT id FROM series WHERE kind = ?1 AND ref = ?2 AND keyset = ?3 AND proto = ?4 AND port = ?5 AND addr = ?6";
        let id: Option<i64> = if create {
            Some(super::intern(
                conn,
                SELECT,
                args,
                "INSERT OR IGNORE INTO series (kind, ref, keyset, proto, port, addr) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args,
            )?)
        } else {
            conn.prepare_cached(SELECT)?
                .query_row(args, |r| r.get(0))
                .optional()?
        };
        if let Some(id) = id {
            if self.series.len() >= CACHE_ENTRIES {
                self.series.clear();
            }
            self.series.insert(k.clone(), id);
        }
        Ok(id)
    }

    pub(crate) fn keyset(
        &mut self,
        conn: &Connection,
        id: i64,
    ) -> rusqlite::Result<Rc<Vec<String>>> {
        if let Some(k) = self.keysets.get(&id) {
            return Ok(k.clone());
        }
        let names: String = conn
            .prepare_cached("SELECT names FROM keyset WHERE id = ?1")?
            .query_row([id], |r| {
                super::Bounded::bounded(r, 0, super::limit::KEYSET)
            })?;
        let v = Rc::new(names.split('\n').map(str::to_string).collect::<Vec<_>>());
        if self.keysets.len() >= 1024 {
            self.keysets.clear();
        }
        self.keysets.insert(id, v.clone());
        Ok(v)
    }

    /// What stored sample `sample` contributes, from its raw rows (and its predecessor's
    /// protocol counters, for their deltas). None if the sample is not stored.
    pub fn contributions(
        &mut self,
        conn: &Connection,
        sample: i64,
    ) -> rusqlite::Result<Option<Contribution>> {
        let mut items = Vec::new();
        let ts = self.contribute(conn, sample, |_, _, item| {
            items.push(item);
            Ok(())
        })?;
        Ok(ts.map(|ts_ms| Contribution { ts_ms, items }))
    }

    /// [`Roller::contributions`] item by item: each (series, sums) is handed to `each` (with
    /// this roller and the sample's time) as it is read, the host's time series last, so a
    /// caller that writes them (the recorder's [`Roller::roll_sample`]) holds one vector at a
    /// time, not a sample's all — among 1 000 namespaces ~3.5 KB each. None (and `each` never
    /// called) if the sample is not stored.
    pub fn contribute(
        &mut self,
        conn: &Connection,
        sample: i64,
        mut each: impl FnMut(&mut Roller, i64, (SeriesKey, Vec<u64>)) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<Option<i64>> {
        type Row = (i64, Option<i64>, i64, i64, i64);
        let row: Option<Row> = conn
            .prepare_cached(
                "SELECT ts_ms, elapsed_ms, ebpf, ebpf_lost_events, ebpf_lost_bytes FROM sample WHERE id = ?1",
            )?
            .query_row([sample], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let Some((ts_ms, elapsed, ebpf, lost_events, lost_bytes)) = row else {
            return Ok(None);
        };
        let el = elapsed.unwrap_or(0).max(0) as u64;
        // what the interfaces moved, for the unattributed bytes of the time series
        let (mut irx, mut itx) = (0u64, 0u64);

        {
            let mut st = conn.prepare_cached(
                "SELECT iface, flags, d_rx_bytes, d_rx_packets, d_rx_errs, d_rx_drop, d_rx_fifo, d_rx_frame,
                        d_rx_compressed, d_rx_multicast, d_tx_bytes, d_tx_packets, d_tx_errs,
                        d_tx_drop, d_tx_fifo, d_tx_colls, d_tx_carrier, d_tx_compressed
                 FROM iface_sample WHERE sample = ?1",
            )?;
            let mut rows = st.query([sample])?;
            while let Some(r) = rows.next()? {
                let iface: i64 = r.get(0)?;
                let flags: i64 = r.get(1)?;
                let mut v = vec![0u64; IF_LEN];
                let first: Option<i64> = r.get(2)?;
                if first.is_some() && elapsed.is_some() {
                    for (k, slot) in v.iter_mut().take(16).enumerate() {
                        *slot = from_sql(r.get::<_, Option<i64>>(2 + k)?.unwrap_or(0));
                    }
                    v[IF_ELAPSED] = el;
                    v[IF_COUNTED] = 1;
                } else if flags & nrec_model::counter::Flag::Implausible as i64 != 0 {
                    v[IF_UNCOUNTED] = 1;
                } else {
                    continue; // a baseline reading
                }
                irx = irx.saturating_add(v[0]);
                itx = itx.saturating_add(v[8]);
                each(self, ts_ms, (SeriesKey::new(Kind::Iface, iface), v))?;
            }
        }

        // Protocol counters: stored as the interval's deltas (gauges as read).
        let mut st = conn.prepare_cached(
            "SELECT netns, keyset, counted, vals FROM proto_sample WHERE sample = ?1",
        )?;
        let mut rows = st.query([sample])?;
        while let Some(r) = rows.next()? {
            let (netns, keyset, counted): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let blob = r.get_ref(3)?.as_blob()?;
            let names = self.keyset(conn, keyset)?.len();
            // the keyset's values and the three counts after them, allocated once
            let mut v = Vec::with_capacity(names + 3);
            decode_vec_into(&mut &blob[..], &mut v).ok_or_else(|| {
                super::malformed(format!("sample {sample}: protocol-counter blob"))
            })?;
            v.resize(names, 0);
            let counters = counted > 0 && elapsed.is_some();
            v.push(1);
            v.push(u64::from(counters));
            v.push(if counters { el } else { 0 });
            let mut k = SeriesKey::new(Kind::Proto, netns);
            k.keyset = keyset;
            each(self, ts_ms, (k, v))?;
        }

        let bytes = self.bytes.read(conn, sample)?;
        let (mut prx, mut ptx) = (0u64, 0u64);
        for (p, (rx, tx)) in bytes.per_process() {
            prx = prx.saturating_add(rx);
            ptx = ptx.saturating_add(tx);
            each(self, ts_ms, (SeriesKey::new(Kind::Proc, p), vec![rx, tx]))?;
        }
        for ((p, proto, port, class), (rx, tx)) in bytes.ports {
            let mut k = SeriesKey::new(Kind::Port, p);
            k.proto = proto;
            k.port = port;
            // the peers' class: a port series per class its bytes were with
            k.addr = class;
            each(self, ts_ms, (k, vec![rx, tx]))?;
        }
        for ((p, addr), (rx, tx)) in bytes.hosts {
            let mut k = SeriesKey::new(Kind::Host, p);
            k.addr = addr;
            each(self, ts_ms, (k, vec![rx, tx]))?;
        }
        let mut st = conn.prepare_cached(
            "SELECT netns, rx, tx, unowned_rx, unowned_tx FROM attrib_sample WHERE sample = ?1",
        )?;
        let mut rows = st.query([sample])?;
        while let Some(r) = rows.next()? {
            let v = (1..5)
                .map(|i| r.get::<_, i64>(i).map(from_sql))
                .collect::<rusqlite::Result<_>>()?;
            each(self, ts_ms, (SeriesKey::new(Kind::Attrib, r.get(0)?), v))?;
        }
        // What no process was credited with, per sample and direction, clamped at zero (a
        // send counted before its packets left is not negative traffic): the host's time
        // series fields 6 and 7, so the metrics' unattributed counters only ever grow.
        let time = vec![
            1,
            u64::from(elapsed.is_some()),
            el,
            if ebpf & 1 != 0 { el } else { 0 },
            super::from_sql(lost_events),
            super::from_sql(lost_bytes),
            irx.saturating_sub(prx),
            itx.saturating_sub(ptx),
            if ebpf & 2 != 0 { el } else { 0 },
        ];
        each(self, ts_ms, (SeriesKey::new(Kind::Time, 0), time))?;
        Ok(Some(ts_ms))
    }

    /// Adds a contribution to the stored rollup rows (creating series and rows as needed).
    pub fn apply(&mut self, conn: &Connection, c: Contribution) -> rusqlite::Result<()> {
        let mut acc = Acc::default();
        acc.add(self, conn, c)?;
        acc.write(conn)
    }

    /// Rolls up stored sample `sample` and records it as rolled up. The first sample of a
    /// new UTC day also compacts the day before (see [`compact_day`]).
    ///
    /// Each of the sample's rows is added to its stored row as it is read ([`Roller::contribute`]):
    /// a series occurs once in a sample, so this is what summing them first ([`Acc`]) and
    /// then merging gives, without holding them all.
    pub(crate) fn roll_sample(&mut self, conn: &Connection, sample: i64) -> rusqlite::Result<()> {
        let mut stored = Stored::new(conn);
        // (the sample's day, quarter, and whether it can be stored, once its time is read)
        let mut at: Option<Option<(i64, u8)>> = None;
        self.contribute(conn, sample, |roller, ts_ms, (k, v)| {
            let at = match at {
                Some(at) => at,
                None => {
                    let day = instant(ts_ms).div_euclid(DAY_MS);
                    let open = get_meta(conn, "open_day")?;
                    if let Some(open) = open.filter(|o| *o < day) {
                        compact_day(conn, open)?;
                    }
                    if open != Some(day) {
                        set_meta(conn, "open_day", day)?;
                    }
                    *at.insert(Acc::placed(roller, conn, ts_ms)?)
                }
            };
            let Some((day, q)) = at else {
                return Ok(());
            };
            let Some(series) = roller.series_id(conn, &k, true)? else {
                return Ok(());
            };
            let id = key(k.kind, day, series);
            let raw = stored.take(k.kind, day, id)?;
            if let Some(raw) = &raw {
                if add_one_quarter((day, series), raw, id, &v, (q, &v), &mut stored.io)? {
                    return Ok(());
                }
            }
            let row = DayRow {
                total: v.clone(),
                quarters: Some([(q, v)].into()),
            };
            merge_row(&mut stored.io, (k.kind, day, series), row, raw)
        })?;
        set_meta(conn, "rolled_to", sample)
    }
}

/// Rollup rows being built in memory: (kind, day, series) → sums.
#[derive(Default)]
pub(crate) struct Acc {
    pub rows: BTreeMap<(Kind, i64, i64), DayRow>,
    /// Create missing series (false for read-only checks).
    pub read_only: bool,
    /// Read-only: non-zero contributions to series that do not exist.
    pub missing: u64,
}

impl Acc {
    pub fn add(
        &mut self,
        roller: &mut Roller,
        conn: &Connection,
        c: Contribution,
    ) -> rusqlite::Result<()> {
        let Some((day, q)) = Acc::placed(roller, conn, c.ts_ms)? else {
            return Ok(());
        };
        for (k, v) in c.items {
            let Some(id) = roller.series_id(conn, &k, !self.read_only)? else {
                self.missing += u64::from(v.iter().any(|x| *x != 0));
                continue;
            };
            match self.rows.entry((k.kind, day, id)) {
                // the first sums of a row: the vector is its day's and its quarter's
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(DayRow {
                        total: v.clone(),
                        quarters: Some([(q, v)].into()),
                    });
                }
                std::collections::btree_map::Entry::Occupied(e) => {
                    let row = e.into_mut();
                    add_into(&mut row.total, &v);
                    if let Some(qs) = &mut row.quarters {
                        add_into(qs.entry(q).or_default(), &v);
                    }
                }
            }
        }
        Ok(())
    }

    /// The (day, quarter) of a sample taken at `ts_ms`, its day's series warmed in `roller`;
    /// None before 1970 or after year 4840 (not representable in a key).
    fn placed(
        roller: &mut Roller,
        conn: &Connection,
        ts_ms: i64,
    ) -> rusqlite::Result<Option<(i64, u8)>> {
        let at = instant(ts_ms);
        let day = at.div_euclid(DAY_MS);
        if !(0..=MAX_DAY).contains(&day) {
            return Ok(None);
        }
        roller.warm(conn, day)?;
        Ok(Some((day, (at.rem_euclid(DAY_MS) / QUARTER_MS) as u8)))
    }

    /// Merges into what is stored (rows are summed, never overwritten).
    pub fn write(self, conn: &Connection) -> rusqlite::Result<()> {
        let mut stored = Stored::new(conn);
        for ((kind, day, series), row) in self.rows {
            let id = key(kind, day, series);
            let raw = stored.take(kind, day, id)?;
            // A sample adds to one quarter: only that quarter's entry of the stored day is
            // decoded and encoded again (`add_to_quarter`), so the cost of a sample's rollup
            // does not grow through the day.
            if let (Some(raw), Some((q, v))) = (
                &raw,
                row.quarters.as_ref().and_then(|m| {
                    let mut it = m.iter();
                    it.next().filter(|_| it.next().is_none())
                }),
            ) {
                let io = &mut stored.io;
                if add_one_quarter((day, series), raw, id, &row.total, (*q, v), io)? {
                    continue;
                }
            }
            merge_row(&mut stored.io, (kind, day, series), row, raw)?;
        }
        Ok(())
    }
}

/// The stored rows a sample's sums are added to: those of the [`PER_NAMESPACE`] kinds by one
/// scan of their day (rows come grouped by kind and day: each kind-day is scanned once), the
/// others one by one.
struct Stored<'c> {
    io: RowIo<'c>,
    rows: HashMap<i64, RawRow>,
    scanned: Option<(Kind, i64)>,
}

impl<'c> Stored<'c> {
    fn new(conn: &'c Connection) -> Self {
        Stored {
            io: RowIo::new(conn),
            rows: HashMap::new(),
            scanned: None,
        }
    }

    /// Row `id` of (`kind`, `day`) as stored (taken: it is about to be rewritten), None if
    /// there is none.
    fn take(&mut self, kind: Kind, day: i64, id: i64) -> rusqlite::Result<Option<RawRow>> {
        if !PER_NAMESPACE.contains(&kind) {
            return raw_row(&mut self.io, id);
        }
        if self.scanned != Some((kind, day)) {
            self.scanned = Some((kind, day));
            self.rows = day_rows(self.io.conn, kind, day)?;
        }
        match self.rows.remove(&id) {
            Some(r) => Ok(Some(r)),
            // (new today, or taken before: what is stored now)
            None => raw_row(&mut self.io, id),
        }
    }
}

/// Adds `row` into `raw`, the stored row of (kind, day, series) (None: there is none), by
/// decoding it whole, and stores the sum: where the one-quarter splice
/// ([`add_one_quarter`]) does not apply.
fn merge_row(
    io: &mut RowIo<'_>,
    (kind, day, series): (Kind, i64, i64),
    mut row: DayRow,
    raw: Option<RawRow>,
) -> rusqlite::Result<()> {
    let exists = raw.is_some();
    if let Some((t, q)) = raw {
        let old = decode_row(&t, q.as_deref(), day, series)?;
        add_into(&mut row.total, &old.total);
        match (&mut row.quarters, old.quarters) {
            (Some(q), Some(oq)) => {
                for (k, v) in oq {
                    add_into(q.entry(k).or_default(), &v);
                }
            }
            // the stored row lost its detail: so does the sum
            (q, None) => *q = None,
            _ => {}
        }
    }
    store_row(io, kind, day, series, &row, exists)
}

/// The stored rows of `kind` of `day`, by id.
fn day_rows(conn: &Connection, kind: Kind, day: i64) -> rusqlite::Result<HashMap<i64, RawRow>> {
    let (lo, hi) = kind_day(kind, day);
    rows_in(conn, lo, hi)
}

/// The stored rows with ids in `[lo, hi)`, in id order, as stored.
fn rows_in<C: FromIterator<(i64, RawRow)>>(
    conn: &Connection,
    lo: i64,
    hi: i64,
) -> rusqlite::Result<C> {
    conn.prepare_cached("SELECT id, total, quarters FROM rollup WHERE id >= ?1 AND id < ?2")?
        .query_map([lo, hi], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
        .collect()
}

/// Adds one quarter's sums `v` of quarter `q` (and the day's, `total`) into `stored`, the
/// stored row `id` of (day, series), when it has its quarter detail: the day's other
/// quarters are copied, not decoded. False when that cannot be done (the detail pruned, a
/// stored day the splice refuses): the caller merges the decoded row.
fn add_one_quarter(
    (day, series): (i64, i64),
    stored: &RawRow,
    id: i64,
    total: &[u64],
    (q, v): (u8, &[u64]),
    io: &mut RowIo<'_>,
) -> rusqlite::Result<bool> {
    let (old_total, Some(stored_quarters)) = stored else {
        return Ok(false);
    };
    // Sums of zeros into a quarter that has its entry (an idle namespace's socket
    // attribution): the row stays as stored, neither spliced nor written.
    if v.iter().chain(total).all(|x| *x == 0) && codec::has_quarter(stored_quarters, q) {
        return Ok(true);
    }
    let Some(quarters) = codec::add_to_quarter(stored_quarters, q, v) else {
        return Ok(false);
    };
    let mut sum = decode_vec(&mut &old_total[..])
        .ok_or_else(|| super::malformed(format!("rollup of series {series}, day {day}")))?;
    add_into(&mut sum, total);
    let mut enc = Vec::with_capacity(old_total.len() + 8);
    encode_vec(&sum, &mut enc);
    // (sums that change nothing: the row is as stored, and is not written again)
    if enc != *old_total || quarters != *stored_quarters {
        put_raw_row(io, id, (&enc, Some(&quarters)), true)?;
    }
    Ok(true)
}

/// Rewrites the rollup rows of a finished day in key order. Rows grow with every sample of
/// their day and leave half-full pages behind; rewritten once the day is over they are
/// packed densely (measured: pages 72 % → ~95 % full), and the freed pages are reused.
pub(crate) fn compact_day(conn: &Connection, day: i64) -> rusqlite::Result<()> {
    let (lo, hi) = (key(Kind::Time, day, 0), key(Kind::Time, day + 1, 0));
    let rows: Vec<(i64, RawRow)> = rows_in(conn, lo, hi)?;
    conn.prepare_cached("DELETE FROM rollup WHERE id >= ?1 AND id < ?2")?
        .execute([lo, hi])?;
    let mut io = RowIo::new(conn);
    for (id, row) in rows {
        put_raw_row(&mut io, id, (&row.0, row.1.as_deref()), false)?;
    }
    Ok(())
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute(params![key, value])?;
    Ok(())
}

/// The first UTC day whose rollups can be recomputed from raw rows: the day of the oldest
/// stored sample, but never a day before the prune horizon (a day whose raw samples are
/// partly pruned keeps its rollups: they are its only complete record). None when there are
/// no raw samples.
pub(crate) fn rebuildable_from(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let first: Option<i64> = conn.query_row("SELECT min(ts_ms) FROM sample", [], |r| r.get(0))?;
    let Some(ts) = first else {
        return Ok(None);
    };
    let pruned_to = get_meta(conn, "raw_from_ms")?
        .map(|t| t.div_euclid(DAY_MS) + i64::from(t.rem_euclid(DAY_MS) != 0));
    let first = instant(ts).div_euclid(DAY_MS);
    Ok(Some(pruned_to.map_or(first, |p| first.max(p))))
}

/// Recomputes, day by day from the raw samples of `from_day` on, the rollup rows; `each`
/// receives every finished day (kind, day, series → row).
pub(crate) fn recompute(
    conn: &Connection,
    roller: &mut Roller,
    from_day: i64,
    read_only: bool,
    mut each: impl FnMut(i64, Acc) -> rusqlite::Result<()>,
) -> rusqlite::Result<u64> {
    let ids: Vec<(i64, i64)> = conn
        .prepare("SELECT id, ts_ms FROM sample WHERE ts_ms > ?1 ORDER BY ts_ms, id")?
        .query_map([from_day * DAY_MS], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let fresh = || Acc {
        read_only,
        ..Default::default()
    };
    let mut acc = fresh();
    let mut cur_day: Option<i64> = None;
    let mut n = 0;
    for (id, ts) in ids {
        let day = instant(ts).div_euclid(DAY_MS);
        if cur_day.is_some_and(|d| d != day) {
            each(cur_day.unwrap_or(day), std::mem::replace(&mut acc, fresh()))?;
        }
        cur_day = Some(day);
        if let Some(c) = roller.contributions(conn, id)? {
            acc.add(roller, conn, c)?;
            n += 1;
        }
    }
    if let Some(d) = cur_day {
        each(d, acc)?;
    }
    Ok(n)
}

/// Schema 5's conversion: schema 4 placed a sample taken exactly on a quarter-hour boundary in
/// the quarter after it; [`instant`] places it in the quarter its interval ends. Rebuilds the
/// days the raw rows still cover when any such sample is stored, and adds a sample taken
/// exactly at the first rebuilt day's midnight to the day before (which the rebuild keeps).
pub(crate) fn reroll_boundaries(conn: &Connection) -> rusqlite::Result<()> {
    let Some(from) = rebuildable_from(conn)? else {
        return Ok(());
    };
    let any: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sample WHERE ts_ms >= ?1 AND ts_ms % ?2 = 0)",
        [from * DAY_MS, QUARTER_MS],
        |r| r.get(0),
    )?;
    if !any {
        return Ok(());
    }
    rebuild(conn)?;
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM sample WHERE ts_ms = ?1")?
        .query_map([from * DAY_MS], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut roller = Roller::new();
    for id in ids {
        if let Some(c) = roller.contributions(conn, id)? {
            roller.apply(conn, c)?;
        }
    }
    Ok(())
}

/// `nrec rollup --rebuild`: drops the rollups of every day the raw rows still cover and
/// recomputes them. Older days (raw already pruned) are kept as they are.
pub(crate) fn rebuild(conn: &Connection) -> rusqlite::Result<(u64, Option<i64>)> {
    let Some(from) = rebuildable_from(conn)? else {
        return Ok((0, None));
    };
    conn.execute(
        "DELETE FROM rollup WHERE id >= ?1",
        [key(Kind::Time, from.max(0), 0)],
    )?;
    let mut roller = Roller::new();
    let n = recompute(conn, &mut roller, from, false, |_, acc| acc.write(conn))?;
    let last: Option<i64> = conn.query_row("SELECT max(id) FROM sample", [], |r| r.get(0))?;
    if let Some(last) = last {
        set_meta(conn, "rolled_to", last)?;
    }
    Ok((n, Some(from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row an older build stored with whole quarter vectors (format 0) takes a sample's
    /// sums like any other, and is written back as differences (format 2).
    #[test]
    fn a_day_stored_whole_takes_a_sample_and_is_stored_as_differences() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::open_rw(&dir.path().join("n.db")).unwrap();
        let (day, series) = (20_000, 7);
        let old: BTreeMap<u8, Vec<u64>> = [(3, vec![5, 0, 7, 1]), (9, vec![1, 2, 0, 0, 4])].into();
        let mut blob = vec![0u8];
        for (k, v) in &old {
            blob.push(*k);
            encode_vec(v, &mut blob);
        }
        let mut total = Vec::new();
        encode_vec(&[6, 2, 7, 1, 4], &mut total);
        put_raw_row(
            &mut RowIo::new(&conn),
            key(Kind::Proto, day, series),
            (&total, Some(&blob)),
            false,
        )
        .unwrap();
        let v = vec![1u64, 0, 0, 0, 0, 9];
        let mut acc = Acc::default();
        acc.rows.insert(
            (Kind::Proto, day, series),
            DayRow {
                total: v.clone(),
                quarters: Some([(9, v.clone())].into()),
            },
        );
        acc.write(&conn).unwrap();
        let (t, q) = raw_row(&mut RowIo::new(&conn), key(Kind::Proto, day, series))
            .unwrap()
            .unwrap();
        let q = q.unwrap();
        assert_eq!(q[0], 2, "written as differences");
        let row = decode_row(&t, Some(&q), day, series).unwrap();
        let mut want = old;
        add_into(want.get_mut(&9).unwrap(), &v);
        assert_eq!(row.quarters, Some(want));
        assert_eq!(row.total, vec![7, 2, 7, 1, 4, 9]);
    }

    /// Issue 12 item 11: a long-lived Roller (the daemon's) stays bounded however many
    /// distinct series it meets — 100 000 processes here — and still finds every id.
    #[test]
    fn the_series_cache_is_bounded_over_100k_distinct_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.db");
        let conn = crate::open_rw(&path).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let mut roller = Roller::new();
        let mut ids = Vec::new();
        for p in 0..100_000 {
            let id = roller
                .series_id(&conn, &SeriesKey::new(Kind::Proc, p), true)
                .unwrap()
                .unwrap();
            assert!(roller.series.len() <= CACHE_ENTRIES);
            ids.push(id);
        }
        // evicted or not, every series resolves to the id it was created with
        for p in [0i64, 1, 65_535, 65_536, 99_999] {
            let id = roller.series_id(&conn, &SeriesKey::new(Kind::Proc, p), false);
            assert_eq!(id.unwrap(), Some(ids[p as usize]));
        }
        conn.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn vectors_round_trip_dense_and_sparse() {
        for v in [
            vec![],
            vec![0, 0],
            vec![5, u64::MAX],
            vec![0, 0, 0, 7, 0, 0, 0, 0, 0, 1],
            (0..400)
                .map(|i| if i % 50 == 0 { i * 1000 } else { 0 })
                .collect(),
        ] {
            let mut b = Vec::new();
            encode_vec(&v, &mut b);
            let mut s = &b[..];
            assert_eq!(decode_vec(&mut s).as_ref(), Some(&v));
            assert!(s.is_empty());
        }
        let mut q = BTreeMap::new();
        q.insert(0u8, vec![1, 2]);
        q.insert(95u8, vec![0, 9]);
        assert_eq!(decode_quarters(&encode_quarters(&q)), Some(q.clone()));
        assert_eq!(encode_quarters(&q)[0], 1, "fixed-length format");
        q.insert(7u8, vec![1, 2, 3]);
        assert_eq!(
            encode_quarters(&q)[0],
            2,
            "mixed lengths: per-entry differences"
        );
        assert_eq!(decode_quarters(&encode_quarters(&q)), Some(q));
        // what older databases hold: per-entry vectors as they are
        let mut old = vec![0u8];
        for (k, v) in [(3u8, vec![5u64, 0, 7]), (9, vec![1])] {
            old.push(k);
            encode_vec(&v, &mut old);
        }
        let want: BTreeMap<u8, Vec<u64>> = [(3, vec![5, 0, 7]), (9, vec![1])].into();
        assert_eq!(decode_quarters(&old), Some(want));
        // a protocol row's day: a few bytes per quarter where a vector changes in one place
        let day: BTreeMap<u8, Vec<u64>> = (0..96u8)
            .map(|k| {
                let mut v = vec![0u64; 440];
                (v[1], v[40], v[52], v[439]) = (64, 1, u64::MAX, 60_000 + u64::from(k % 3));
                (k, v)
            })
            .collect();
        let enc = encode_quarters(&day);
        assert_eq!(decode_quarters(&enc), Some(day));
        assert!(enc.len() < 96 * 8, "{} bytes for 96 quarters", enc.len());
    }

    #[test]
    fn malformed_blobs_are_refused_not_guessed() {
        assert_eq!(
            decode_vec(&mut &[0x05, 0x01, 0x09, 0x01][..]),
            None,
            "index past the end"
        );
        assert_eq!(
            decode_quarters(&[0, 96, 0]),
            None,
            "quarter 96 does not exist"
        );
        assert_eq!(
            decode_quarters(&[1, 2, 3, 9]),
            None,
            "truncated fixed entry"
        );
        assert_eq!(decode_quarters(&[7]), None, "unknown format");
        assert_eq!(decode_vec(&mut &[0x08, 0x01][..]), None, "truncated");
    }
}
