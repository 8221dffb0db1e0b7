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

/// Sums of the series of `kinds` over `[start_ms, end_ms)`. A kind named twice is summed once.
pub fn sums(
    conn: &Connection,
    roller: &mut Roller,
    h: &Horizons,
    kinds: &[Kind],
    start_ms: i64,
    end_ms: i64,
) -> rusqlite::Result<Sums> {
    Ok(sums_each(conn, roller, h, kinds, &[(start_ms, end_ms)])?
        .pop()
        .unwrap_or_default())
}

/// [`sums`] over each of `windows` (`[start, end)`: a picture's buckets, a summary's hours):
/// the same answers as one call per window, with the rollup rows of a day read once for the
/// windows in a row that fall within it.
pub fn sums_each(
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
        let ids: Vec<i64> = self
            .conn
            .prepare_cached("SELECT id FROM sample WHERE ts_ms > ?1 AND ts_ms <= ?2")?
            .query_map(params![a, b], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in ids {
            let Some(c) = self.roller.contributions(self.conn, id)? else {
                continue;
            };
            for (k, v) in c.items.iter().filter(|(k, _)| self.kinds.contains(&k.kind)) {
                if let Some(series) = self.roller.series_id(self.conn, k, false)? {
                    self.out.add(series, v);
                }
            }
        }
        Ok(())
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
pub fn process_bytes(
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
        out.extend(super::procbytes::Reader::new().window(conn, raw_from, end_ms)?);
    }
    Ok((out, res))
}

/// (sample id, time, interval, bytes) — a stored sample's process, port and host bytes.
pub type ProcSample = (i64, i64, i64, super::procbytes::SampleBytes);

/// The same shape as [`super::procbytes::Reader::window`] from rollups: one pseudo-sample per
/// quarter hour (or per UTC day where the quarter detail is pruned), timed at the bucket's end,
/// holding the bucket's process, port and host sums. A bucket straddling an edge is taken when
/// most of it lies inside. Returns the coarsest bucket used (Raw: none).
fn window_from_rollups(
    conn: &Connection,
    h: &Horizons,
    start_ms: i64,
    end_ms: i64,
) -> rusqlite::Result<(Vec<ProcSample>, Resolution)> {
    use super::rollup::for_each_row;
    let mut res = Resolution::Raw;
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
    let mut buckets: BTreeMap<(i64, i64), super::procbytes::SampleBytes> = BTreeMap::new();
    let days = (start_ms.div_euclid(DAY_MS), end_ms.div_euclid(DAY_MS) + 1);
    for kind in [Kind::Proc, Kind::Port, Kind::Host] {
        for_each_row(
            conn,
            kind,
            days,
            |e| e,
            |day, id, row| {
                let Some((p, proto, port, addr)) = labels.get(&id) else {
                    return Ok(());
                };
                let parts: Vec<(i64, i64, Vec<u64>)> = match row.quarters {
                    Some(qs) if day >= h.quarters_from_day => qs
                        .into_iter()
                        .map(|(q, v)| (day * DAY_MS + i64::from(q) * QUARTER_MS, QUARTER_MS, v))
                        .collect(),
                    _ => vec![(day * DAY_MS, DAY_MS, row.total)],
                };
                for (at, len, v) in parts {
                    let inside = (at + len).min(end_ms) - at.max(start_ms);
                    if inside * 2 < len || v.len() < 2 {
                        continue;
                    }
                    res = res.max(if len == DAY_MS {
                        Resolution::Day
                    } else {
                        Resolution::Quarter
                    });
                    let b = buckets.entry((at, len)).or_default();
                    match kind {
                        Kind::Proc => b.add_proc(*p, 0, v[0], v[1]),
                        Kind::Port => b.add_port(*p, proto, *port, v[0], v[1]),
                        _ => b.add_host(*p, addr, v[0], v[1]),
                    }
                }
                Ok(())
            },
        )?;
    }
    let out = buckets
        .into_iter()
        .map(|((at, len), b)| (0, at + len, len, b))
        .collect();
    Ok((out, res))
}
