//! The recorded history behind a live row: its bytes per bucket over the last hour or day,
//! from the database (read only), through the same window engine and bucketing as the
//! pictures.

use super::view::{self, By, Row, Sort, View};
use nrec_model::error::Result as DbResult;
use nrec_model::names::iface_label;
use nrec_report::rank::{What, detail_key, proc_key};
use nrec_report::top::{WindowRow, bucket_edges, window_rows};
use nrec_store::Reader;
use nrec_store::rollup::Kind;
use nrec_store::series::Vector;
use std::collections::HashSet;
use std::path::Path;

/// A row's history: bytes (rx + tx) per bucket, oldest first; the bucket length (ms).
pub struct Recorded {
    pub bytes: Vec<u64>,
    pub bucket_ms: i64,
    /// The buckets' edges (ms, one more than `bytes`): the first and last are partial.
    pub edges: Vec<i64>,
}

/// A recorded interval as a view's rows: between two stored samples.
pub struct Past {
    pub start_ms: i64,
    pub end_ms: i64,
    pub rows: Vec<Row>,
}

pub struct History {
    path: std::path::PathBuf,
    db: Result<Reader, String>,
    /// SQLite's `data_version` when last asked: it changes when another connection (the
    /// recorder) commits.
    version: Option<i64>,
}

impl History {
    /// Opens the database read only; a missing or unreadable one is said, not fatal (and
    /// tried again when asked: the recorder may create it meanwhile).
    pub fn open(path: &Path) -> History {
        History {
            path: path.to_path_buf(),
            db: Reader::open(path).map_err(|e| e.to_string()),
            version: None,
        }
    }

    /// Whether the database changed since the last call (the recorder stored a sample):
    /// what was read from it is then out of date. One pragma, no file read.
    pub fn changed(&mut self) -> bool {
        let Ok(r) = &self.db else {
            return false;
        };
        let v = r.data_version().ok();
        std::mem::replace(&mut self.version, v) != v
    }

    /// The database, opened again when it could not be before (None: still not there).
    fn db(&mut self) -> Option<&mut Reader> {
        if self.db.is_err() {
            self.db = Reader::open(&self.path).map_err(|e| e.to_string());
        }
        self.db.as_mut().ok()
    }

    /// Why there is no history (no database).
    pub fn unavailable(&self) -> Option<&str> {
        self.db.as_ref().err().map(|s| s.as_str())
    }

    /// The recorded bytes of row `key` of `view` over `[now - span, now)`.
    pub fn of(
        &mut self,
        view: View,
        by: By,
        key: &str,
        now_ms: i64,
        span_ms: i64,
    ) -> Result<Option<Recorded>, String> {
        let Some(r) = self.db() else {
            return Ok(None);
        };
        let e = |e: nrec_model::error::Error| e.msg;
        let (kind, ids) = match series_of(r, view, by, key).map_err(e)? {
            Some(x) => x,
            None => return Ok(None),
        };
        let start = now_ms - span_ms;
        let edges = bucket_edges(r, start, now_ms).map_err(e)?;
        let windows: Vec<(i64, i64)> = edges.windows(2).map(|w| (w[0], w[1])).collect();
        let sums = r.sums_each(&[kind], &windows).map_err(e)?;
        let bytes = sums
            .iter()
            .map(|s| {
                ids.iter()
                    .filter_map(|id| s.by_series.get(id))
                    .map(|v| {
                        let (rx, tx) = Vector(v).bytes(kind);
                        rx + tx
                    })
                    .sum()
            })
            .collect();
        let bucket_ms = edges.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        Ok(Some(Recorded {
            bytes,
            bucket_ms,
            edges,
        }))
    }

    /// The interval `back` samples before the newest stored one (0: the newest), as `view`'s
    /// rows sorted by `sort`. None: no such interval (or the view is not recorded row by row).
    pub fn interval(
        &mut self,
        view: View,
        by: By,
        sort: Sort,
        back: usize,
    ) -> Result<Option<Past>, String> {
        let Some(r) = self.db() else {
            return Ok(None);
        };
        interval_in(r, view, by, sort, back).map_err(|e| e.msg)
    }
}

/// [`History::interval`] on an open database.
fn interval_in(
    r: &mut Reader,
    view: View,
    by: By,
    sort: Sort,
    back: usize,
) -> DbResult<Option<Past>> {
    let Some((start, end)) = r.interval_back(back)? else {
        return Ok(None);
    };
    let by = by.into();
    let window = (start, end);
    let (folded, unattributed) = match view {
        View::Conns => return Ok(None),
        View::Procs => window_rows(r, What::Procs, by, window)?,
        View::Ports => window_rows(r, What::Ports, by, window)?,
        View::Hosts => window_rows(r, What::Hosts, by, window)?,
        View::Ifaces => (iface_rows(r, window)?, (0, 0)),
    };
    let mut rows: Vec<Row> = folded
        .into_iter()
        .filter(|(_, _, rx, tx)| rx + tx > 0)
        .map(|(key, detail, rx, tx)| Row {
            key,
            detail,
            rx,
            tx,
            rx_total: rx,
            tx_total: tx,
            rest: false,
        })
        .collect();
    view::sort(&mut rows, sort);
    if view != View::Ifaces {
        rows.push(Row {
            key: view::UNATTRIBUTED.into(),
            detail: String::new(),
            rx: unattributed.0,
            tx: unattributed.1,
            rx_total: unattributed.0,
            tx_total: unattributed.1,
            rest: true,
        });
    }
    Ok(Some(Past {
        start_ms: start,
        end_ms: end,
        rows,
    }))
}

/// Every interface's bytes over a stored window: (label, "", rx, tx).
fn iface_rows(r: &mut Reader, (start, end): (i64, i64)) -> DbResult<Vec<WindowRow>> {
    let sums = r.sums(&[Kind::Iface], start, end)?;
    let mut out = Vec::new();
    for (id, label) in iface_labels(r)? {
        if let Some(v) = sums.by_series.get(&id) {
            let (rx, tx) = Vector(v).bytes(Kind::Iface);
            out.push((label, String::new(), rx, tx));
        }
    }
    Ok(out)
}

/// Every interface series and its label (`NAME`, `NAME@NAMESPACE`).
fn iface_labels(r: &Reader) -> DbResult<Vec<(i64, String)>> {
    Ok(r.ifaces()?
        .into_iter()
        .map(|i| (i.series, iface_label(&i.netns, &i.name)))
        .collect())
}

/// The stored series a live row stands for, and their kind: the rows `top-*` names the same
/// way. None: the view is not recorded row by row (connections).
fn series_of(r: &Reader, view: View, by: By, key: &str) -> DbResult<Option<(Kind, HashSet<i64>)>> {
    Ok(Some(match view {
        View::Conns => return Ok(None),
        View::Procs => {
            let ids = r
                .procs()?
                .into_iter()
                .filter(|p| proc_key(by.into(), p) == key)
                .map(|p| p.series)
                .collect();
            (Kind::Proc, ids)
        }
        View::Ports | View::Hosts => {
            let kind = if view == View::Ports {
                Kind::Port
            } else {
                Kind::Host
            };
            let ids = r
                .details(kind, None)?
                .into_iter()
                .filter(|d| detail_key(d) == key)
                .map(|d| d.series)
                .collect();
            (kind, ids)
        }
        View::Ifaces => {
            let ids = iface_labels(r)?
                .into_iter()
                .filter(|(_, label)| label == key)
                .map(|(id, _)| id)
                .collect();
            (Kind::Iface, ids)
        }
    }))
}
