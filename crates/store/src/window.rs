//! Sums over any window from the finest data still stored: daily rollups for whole UTC days,
//! quarter-hour rollups for the partial days at the edges, raw samples for the partial
//! quarter hours at the very edges. A year-long window reads ~365 rows per series instead of
//! half a million samples, and the result equals the raw sum exactly as long as the raw rows
//! (or quarter detail) of its edges are still stored. When they are not, the edge is rounded
//! to the nearest bucket that is, and [`Sums::edges`] says so.

use super::rollup::{self, DAY_MS, Kind, QUARTER_MS, Roller, get_meta};
use rusqlite::{Connection, params};
use std::collections::{BTreeMap, HashMap};

/// The coarsest data an answer had to use at its edges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resolution {
    /// Exact: raw samples at the edges.
    #[default]
    Raw,
    /// Edges rounded to quarter hours (raw samples there were pruned).
    Quarter,
    /// Edges rounded to UTC days (quarter detail was pruned too).
    Day,
}

impl Resolution {
    pub fn describe(self) -> &'static str {
        match self {
            Resolution::Raw => "raw samples",
            Resolution::Quarter => "15-minute rollups",
            Resolution::Day => "daily (UTC) rollups",
        }
    }
}

/// What is still stored at which resolution.
#[derive(Debug, Clone, Copy)]
pub struct Horizons {
    /// Raw samples older than this were pruned.
    pub raw_from_ms: i64,
    /// Quarter detail of days before this was pruned.
    pub quarters_from_day: i64,
}

impl Horizons {
    pub fn load(conn: &Connection) -> rusqlite::Result<Horizons> {
        Ok(Horizons {
            raw_from_ms: get_meta(conn, "raw_from_ms")?.unwrap_or(i64::MIN),
            quarters_from_day: get_meta(conn, "quarters_from_day")?.unwrap_or(i64::MIN),
        })
    }

    /// The finest resolution that covers all of `[start, end)`.
    pub fn finest(&self, start_ms: i64) -> Resolution {
        if start_ms >= self.raw_from_ms {
            Resolution::Raw
        } else if start_ms.div_euclid(DAY_MS) >= self.quarters_from_day {
            Resolution::Quarter
        } else {
            Resolution::Day
        }
    }
}

/// Series id → summed vector.
#[derive(Debug, Default)]
pub struct Sums {
    pub by_series: HashMap<i64, Vec<u64>>,
    pub edges: Resolution,
}

impl Sums {
    fn add(&mut self, series: i64, v: &[u64]) {
        rollup::add_into(self.by_series.entry(series).or_default(), v);
    }
    fn coarser(&mut self, r: Resolution) {
        self.edges = self.edges.max(r);
    }
}

/// [`sums`] over each of `windows` (`[start, end)`: a picture's buckets, a summary's hours):
/// the same answers as one call per window, with the rollup rows of a day read once for the
/// windows in a row that fall within it.
pub(crate) fn sums_each(
    conn: &Connection,
    roller: &mut Roller,
    h: &Horizons,
    kinds: &[Kind],
    windows: &[(i64, i64)],
) -> rusqlite::Result<Vec<Sums>> {
    let mut once = kinds.to_vec();
    once.sort();
    once.dedup();
    let mut day = DayCache::default();
    windows
        .iter()
        .map(|(a, b)| one(conn, roller, h, &once, &mut day, *a, *b))
        .collect()
}

fn one(
    conn: &Connection,
    roller: &mut Roller,
    h: &Horizons,
    kinds: &[Kind],
    day: &mut DayCache,
    start_ms: i64,
    end_ms: i64,
) -> rusqlite::Result<Sums> {
    let mut out = Sums::default();
    if start_ms >= end_ms {
        return Ok(out);
    }
    let d0 = start_ms.div_euclid(DAY_MS) + i64::from(start_ms.rem_euclid(DAY_MS) != 0);
    let d1 = end_ms.div_euclid(DAY_MS);
    let mut partial = Vec::new();
    if d0 < d1 {
        for k in kinds {
            let mut st = conn.prepare_cached(&rollup::kind_days_sql("r.series, r.total"))?;
            let mut rows = st.query(params![*k as i64, d0, d1])?;
            while let Some(r) = rows.next()? {
                let series: i64 = r.get(0)?;
                let blob = r.get_ref(1)?.as_blob()?;
                let v = rollup::decode_vec(&mut &blob[..]).ok_or_else(|| bad(series))?;
                out.add(series, &v);
            }
        }
    }
    if d0 <= d1 {
        partial.push((start_ms, end_ms.min(d0 * DAY_MS)));
        partial.push((start_ms.max(d1 * DAY_MS), end_ms));
    } else {
        partial.push((start_ms, end_ms));
    }
    let mut q = Edges {
        conn,
        roller,
        h,
        kinds,
        day,
        out: &mut out,
    };
    for (a, b) in partial.into_iter().filter(|(a, b)| a < b) {
        q.partial_day(a, b)?;
    }
    Ok(out)
}

fn bad(series: i64) -> rusqlite::Error {
    super::malformed(format!("rollup of series {series}"))
}

/// What the partial days and quarter hours at a window's edges are read with.
struct Edges<'a> {
    conn: &'a Connection,
    roller: &'a mut Roller,
    h: &'a Horizons,
    kinds: &'a [Kind],
    day: &'a mut DayCache,
    out: &'a mut Sums,
}

/// A rollup row: (series, total, quarters).
type DayRow = (i64, Vec<u64>, Option<BTreeMap<u8, Vec<u64>>>);

/// The rollup rows of the day read last.
#[derive(Default)]
struct DayCache {
    day: Option<i64>,
    rows: Vec<DayRow>,
}

impl DayCache {
    fn rows(&mut self, conn: &Connection, kinds: &[Kind], day: i64) -> rusqlite::Result<&[DayRow]> {
        if self.day != Some(day) {
            self.day = None;
            self.rows.clear();
            day_rows(conn, kinds, day, |series, total, quarters| {
                let q = match quarters {
                    Some(q) => Some(rollup::decode_quarters(q).ok_or_else(|| bad(series))?),
                    None => None,
                };
                self.rows.push((series, total.to_vec(), q));
                Ok(())
            })?;
            self.day = Some(day);
        }
        Ok(&self.rows)
    }
}

impl Edges<'_> {
    /// `[a, b)` lies within one UTC day.
    fn partial_day(&mut self, a: i64, b: i64) -> rusqlite::Result<()> {
        let day = a.div_euclid(DAY_MS);
        let base = day * DAY_MS;
        let (qa, qb) = (
            (a - base + QUARTER_MS - 1) / QUARTER_MS,
            (b - base) / QUARTER_MS,
        );
        if day < self.h.quarters_from_day {
            // Only the day's total is left: take it when most of the day is inside. The edge
            // counts as rounded only when the day holds data (said only when it happens).
            let take = (b - a) * 2 >= DAY_MS;
            let out = &mut *self.out;
            for (series, total, _) in self.day.rows(self.conn, self.kinds, day)? {
                out.coarser(Resolution::Day);
                if take {
                    out.add(*series, total);
                }
            }
            return Ok(());
        }
        if qa < qb {
            self.quarters(day, qa as u8..qb as u8, true)?;
            self.raw_edge(a, (base + qa * QUARTER_MS).min(b))?;
            self.raw_edge((base + qb * QUARTER_MS).max(a), b)
        } else {
            self.raw_edge(a, b)
        }
    }

    /// Adds the quarter sums `range` of `day` when `take`; whether any were stored.
    fn quarters(
        &mut self,
        day: i64,
        range: std::ops::Range<u8>,
        take: bool,
    ) -> rusqlite::Result<bool> {
        let out = &mut *self.out;
        let mut found = false;
        for (series, _, quarters) in self.day.rows(self.conn, self.kinds, day)? {
            let Some(q) = quarters else { continue };
            for (_, v) in q.range(range.clone()) {
                found = true;
                if take {
                    out.add(*series, v);
                }
            }
        }
        Ok(found)
    }

    /// `[a, b)` lies within one quarter hour: raw samples if still stored, else the whole
    /// quarter when most of it is inside.
    fn raw_edge(&mut self, a: i64, b: i64) -> rusqlite::Result<()> {
        if a >= b {
            return Ok(());
        }
        if a < self.h.raw_from_ms {
            // The quarter's raw samples were pruned: take its rollup when most of it is
            // inside. Either way the edge was rounded if the quarter holds data.
            let q = (a.rem_euclid(DAY_MS) / QUARTER_MS) as u8;
            let take = (b - a) * 2 >= QUARTER_MS;
            if self.quarters(a.div_euclid(DAY_MS), q..q + 1, take)? {
                self.out.coarser(Resolution::Quarter);
            }
            return Ok(());
        }
        let out = &mut *self.out;
        intervals(self.conn, self.roller, self.kinds, (a, b), |i| {
            out.add(i.series, &i.vals);
            Ok::<(), rusqlite::Error>(())
        })
    }
}

/// Rollup rows of one day: (series, total, quarters).
fn day_rows(
    conn: &Connection,
    kinds: &[Kind],
    day: i64,
    mut f: impl FnMut(i64, &[u64], Option<&[u8]>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    for k in kinds {
        let mut st = conn.prepare_cached(
            "SELECT series, total, quarters FROM rollup WHERE id >= ?1 AND id < ?2",
        )?;
        let (lo, hi) = rollup::kind_day(*k, day);
        let mut rows = st.query([lo, hi])?;
        while let Some(r) = rows.next()? {
            let series: i64 = r.get(0)?;
            let t = r.get_ref(1)?.as_blob()?;
            let total = rollup::decode_vec(&mut &t[..]).ok_or_else(|| bad(series))?;
            let q = r.get_ref(2)?.as_blob_or_null()?;
            f(series, &total, q)?;
        }
    }
    Ok(())
}

/// The process, port and host bytes of `[start_ms, end_ms)` per stored sample, part by part as
/// reports read every window: raw samples wherever they are stored, and for the part before
/// them (pruned by retention) one pseudo-sample per rollup bucket. Returns the coarsest data
/// used.
pub(crate) fn process_bytes(
    conn: &Connection,
    h: &Horizons,
    start_ms: i64,
    end_ms: i64,
) -> rusqlite::Result<(Vec<ProcSample>, Resolution)> {
    let raw_from = h.raw_from_ms.clamp(start_ms, end_ms.max(start_ms));
    let (mut out, res) = if raw_from > start_ms {
        window_from_rollups(conn, h, start_ms, raw_from)?
    } else {
        (Vec::new(), Resolution::Raw)
    };
    if raw_from < end_ms {
        out.extend(super::procbytes::BytesReader::new().window(conn, raw_from, end_ms)?);
    }
    Ok((out, res))
}

/// (sample id, time, interval, bytes) — a stored sample's process, port and host bytes.
pub(crate) type ProcSample = (i64, i64, i64, super::procbytes::SampleBytes);

/// The same shape as [`super::procbytes::BytesReader::window`] from rollups: one
/// pseudo-sample per stored bucket (quarter hours, or UTC days where the quarter detail is
/// pruned), timed at the bucket's end, holding the bucket's process, port and host sums.
/// Returns the coarsest bucket used (Raw: none).
fn window_from_rollups(
    conn: &Connection,
    h: &Horizons,
    start_ms: i64,
    end_ms: i64,
) -> rusqlite::Result<(Vec<ProcSample>, Resolution)> {
    use super::series;
    // series id → (process, proto, port, addr) of the process, port and host series
    let mut labels: HashMap<i64, (i64, String, i64, String)> = HashMap::new();
    for p in series::procs(conn)? {
        labels.insert(p.series, (p.process, String::new(), 0, String::new()));
    }
    for kind in [Kind::Port, Kind::Host] {
        for d in series::details(conn, kind, None)? {
            labels.insert(d.series, (d.process, d.proto, i64::from(d.port), d.addr));
        }
    }
    let mut out: BTreeMap<(i64, i64), super::procbytes::SampleBytes> = BTreeMap::new();
    let kinds = [Kind::Proc, Kind::Port, Kind::Host];
    let res = buckets(
        conn,
        h,
        &kinds,
        (start_ms, end_ms),
        (Step::Finest, Edge::MostlyInside),
        |bk| {
            let (Some((p, proto, port, addr)), true) = (labels.get(&bk.series), bk.vals.len() >= 2)
            else {
                return Ok::<(), rusqlite::Error>(());
            };
            let b = out.entry((bk.start_ms, bk.len_ms)).or_default();
            let (rx, tx) = (bk.vals[0], bk.vals[1]);
            match bk.kind {
                Kind::Proc => b.add_proc(*p, 0, rx, tx),
                // a port series' class is in its address column
                Kind::Port => b.add_port(*p, proto, *port, addr, rx, tx),
                _ => b.add_host(*p, addr, rx, tx),
            }
            Ok(())
        },
    )?;
    let out = out
        .into_iter()
        .map(|((at, len), b)| (0, at + len, len, b))
        .collect();
    Ok((out, res))
}

/// How coarse the rollup buckets of a stretch are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Quarter hours where their detail is stored, UTC days where it was pruned: the finest
    /// data still stored, as every report reads.
    Finest,
    /// Quarter hours only (days whose detail was pruned give none).
    Quarter,
    /// Hours: four quarters summed (days whose detail was pruned give none).
    Hour,
    /// UTC days.
    Day,
}

/// Which buckets at a stretch's edges are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// A bucket straddling an edge when most of it lies inside (reports, export).
    MostlyInside,
    /// A bucket whose end lies in `(a, b]` (a counter's points at bucket ends).
    EndsIn,
}

/// One stored rollup bucket of one series: what the intervals ending in
/// `[start_ms, start_ms + len_ms)` added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start_ms: i64,
    pub len_ms: i64,
    pub kind: Kind,
    pub series: i64,
    pub vals: Vec<u64>,
}

/// The rollup buckets of `kinds` in `[a, b)` at `step`, a UTC day at a time in (start,
/// kind, series) order, to `f`; database errors become `E` through `From`. Returns the
/// coarsest bucket given (Raw: none). The one reader of rollup buckets: the pruned part of a
/// report's window, `export`, the metrics' history.
pub(crate) fn buckets<E: From<rusqlite::Error>>(
    conn: &Connection,
    h: &Horizons,
    kinds: &[Kind],
    (a, b): (i64, i64),
    (step, edge): (Step, Edge),
    mut f: impl FnMut(Bucket) -> Result<(), E>,
) -> Result<Resolution, E> {
    let mut res = Resolution::Raw;
    let take = |start: i64, len: i64| match edge {
        Edge::MostlyInside => ((start + len).min(b) - start.max(a)) * 2 >= len,
        Edge::EndsIn => start + len > a && start + len <= b,
    };
    let (d0, d1) = (a.div_euclid(DAY_MS), (b - 1).div_euclid(DAY_MS) + 1);
    for day in d0.max(0)..d1.min(rollup::MAX_DAY + 1) {
        let mut rows: BTreeMap<(i64, Kind, i64), Bucket> = BTreeMap::new();
        let base = day * DAY_MS;
        for kind in kinds {
            let (lo, hi) = rollup::kind_day(*kind, day);
            let mut st = conn.prepare_cached(
                "SELECT series, total, quarters FROM rollup WHERE id >= ?1 AND id < ?2",
            )?;
            let mut q = st.query([lo, hi])?;
            while let Some(r) = q.next()? {
                let series: i64 = r.get(0)?;
                let t = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
                let qs = r
                    .get_ref(2)?
                    .as_blob_or_null()
                    .map_err(rusqlite::Error::from)?;
                let row = rollup::decode_row(t, qs, day, series)?;
                let mut put = |start: i64, len: i64, v: &[u64]| {
                    if take(start, len) {
                        let e = rows.entry((start, *kind, series)).or_insert(Bucket {
                            start_ms: start,
                            len_ms: len,
                            kind: *kind,
                            series,
                            vals: Vec::new(),
                        });
                        rollup::add_into(&mut e.vals, v);
                        res = res.max(if len == DAY_MS {
                            Resolution::Day
                        } else {
                            Resolution::Quarter
                        });
                    }
                };
                let detail = row.quarters.as_ref().filter(|_| day >= h.quarters_from_day);
                match (step, detail) {
                    (Step::Day, _) | (Step::Finest, None) => put(base, DAY_MS, &row.total),
                    (_, None) => {} // the detail was pruned
                    (Step::Finest | Step::Quarter, Some(qs)) => {
                        for (q, v) in qs {
                            put(base + i64::from(*q) * QUARTER_MS, QUARTER_MS, v);
                        }
                    }
                    (Step::Hour, Some(qs)) => {
                        for (q, v) in qs {
                            put(base + i64::from(*q / 4) * 4 * QUARTER_MS, 4 * QUARTER_MS, v);
                        }
                    }
                }
            }
        }
        for (_, bk) in rows {
            f(bk)?;
        }
    }
    Ok(res)
}

/// One stored sample's contribution to a series: the interval `(start_ms, end_ms]` it closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInterval {
    pub start_ms: i64,
    pub end_ms: i64,
    pub kind: Kind,
    pub series: i64,
    pub vals: Vec<u64>,
}

/// Each stored sample ending in `(a, b]`, in time order, as its contributions to the series of
/// `kinds` (the same vectors its rollups summed), to `f`.
pub(crate) fn intervals<E: From<rusqlite::Error>>(
    conn: &Connection,
    roller: &mut Roller,
    kinds: &[Kind],
    (a, b): (i64, i64),
    mut f: impl FnMut(RawInterval) -> Result<(), E>,
) -> Result<(), E> {
    let ids = super::query::sample_spans(conn, a, b)?;
    for (id, ts, el) in ids {
        let Some(c) = roller.contributions(conn, id)? else {
            continue;
        };
        for (k, v) in c.items.into_iter().filter(|(k, _)| kinds.contains(&k.kind)) {
            let Some(series) = roller.series_id(conn, &k, false)? else {
                continue;
            };
            f(RawInterval {
                start_ms: ts - el.unwrap_or(0),
                end_ms: ts,
                kind: k.kind,
                series,
                vals: v,
            })?;
        }
    }
    Ok(())
}

/// One interface's stored interval `(start_ms, end_ms]`: its bytes (rx, tx), None when it was
/// not counted (an implausible jump); baselines are not intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfaceInterval {
    pub start_ms: i64,
    pub end_ms: i64,
    pub series: i64,
    pub bytes: Option<(u64, u64)>,
}

/// Each interface interval ending in `(a, b]`, in time order, to `f`: the rows the
/// interfaces' rollups are summed from, read straight (one query; the contributions of
/// [`intervals`] decode every kind of a sample — 35× the time for two columns).
pub(crate) fn iface_intervals<E: From<rusqlite::Error>>(
    conn: &Connection,
    (a, b): (i64, i64),
    mut f: impl FnMut(IfaceInterval) -> Result<(), E>,
) -> Result<(), E> {
    let series: HashMap<i64, i64> = conn
        .prepare_cached("SELECT ref, id FROM series WHERE kind = ?1")?
        .query_map([Kind::Iface as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare_cached(
        "SELECT s.ts_ms, s.elapsed_ms, x.iface, x.flags, x.d_rx_bytes, x.d_tx_bytes
         FROM sample s JOIN iface_sample x ON x.sample = s.id
         WHERE s.ts_ms > ?1 AND s.ts_ms <= ?2 ORDER BY s.ts_ms, s.id",
    )?;
    let mut rows = st.query(params![a, b])?;
    while let Some(r) = rows.next()? {
        let (ts, elapsed): (i64, Option<i64>) = (r.get(0)?, r.get(1)?);
        let (iface, flags): (i64, i64) = (r.get(2)?, r.get(3)?);
        let (rx, tx): (Option<i64>, Option<i64>) = (r.get(4)?, r.get(5)?);
        let Some(el) = elapsed.filter(|e| *e > 0) else {
            continue;
        };
        let Some(series) = series.get(&iface).copied() else {
            continue;
        };
        let bytes = match rx {
            Some(rx) => Some((crate::from_sql(rx), crate::from_sql(tx.unwrap_or(0)))),
            None if flags & nrec_model::counter::Flag::Implausible as i64 != 0 => None,
            None => continue, // a baseline reading
        };
        f(IfaceInterval {
            start_ms: ts - el,
            end_ms: ts,
            series,
            bytes,
        })?;
    }
    Ok(())
}
