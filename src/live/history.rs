//! The recorded history behind a live row: its bytes per bucket over the last hour or day,
//! from the database (read only), through the same window engine and bucketing as the
//! pictures.

use super::view::{self, By, Row, Sort, View};
use crate::output::{escape_bytes, unmap_v4};
use crate::store::rollup::{Kind, Roller};
use crate::store::series::{self, Vector};
use crate::store::window::{self, Horizons};
use rusqlite::Connection;
use std::collections::HashSet;
use std::path::Path;

/// A row's history: bytes (rx + tx) per bucket, oldest first; the bucket length (ms).
pub struct Recorded {
    pub bytes: Vec<u64>,
    pub bucket_ms: i64,
}

/// A recorded interval as a view's rows: between two stored samples.
pub struct Past {
    pub start_ms: i64,
    pub end_ms: i64,
    pub rows: Vec<Row>,
}

pub struct History {
    path: std::path::PathBuf,
    conn: Result<Connection, String>,
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
            conn: crate::store::open_ro(path).map_err(|e| e.to_string()),
            version: None,
        }
    }

    /// Whether the database changed since the last call (the recorder stored a sample):
    /// what was read from it is then out of date. One pragma, no file read.
    pub fn changed(&mut self) -> bool {
        let Ok(conn) = &self.conn else {
            return false;
        };
        let v = conn
            .query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
            .ok();
        std::mem::replace(&mut self.version, v) != v
    }

    /// The database, opened again when it could not be before (None: still not there).
    fn conn(&mut self) -> Option<&Connection> {
        if self.conn.is_err() {
            self.conn = crate::store::open_ro(&self.path).map_err(|e| e.to_string());
        }
        self.conn.as_ref().ok()
    }

    /// Why there is no history (no database).
    pub fn unavailable(&self) -> Option<&str> {
        self.conn.as_ref().err().map(|s| s.as_str())
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
        let Some(conn) = self.conn() else {
            return Ok(None);
        };
        let e = |e: rusqlite::Error| e.to_string();
        let (kind, ids) = match series_of(conn, view, by, key).map_err(e)? {
            Some(x) => x,
            None => return Ok(None),
        };
        let h = Horizons::load(conn).map_err(e)?;
        let start = now_ms - span_ms;
        let edges = crate::cmd::top::bucket_edges(conn, &h, start, now_ms).map_err(e)?;
        let windows: Vec<(i64, i64)> = edges.windows(2).map(|w| (w[0], w[1])).collect();
        let sums = window::sums_each(conn, &mut Roller::new(), &h, &[kind], &windows).map_err(e)?;
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
        Ok(Some(Recorded { bytes, bucket_ms }))
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
        let Some(conn) = self.conn() else {
            return Ok(None);
        };
        interval_in(conn, view, by, sort, back).map_err(|e| e.to_string())
    }
}

/// [`History::interval`] on an open database.
fn interval_in(
    conn: &Connection,
    view: View,
    by: By,
    sort: Sort,
    back: usize,
) -> rusqlite::Result<Option<Past>> {
    let Some((start, end)) = crate::store::query::interval_back(conn, back)? else {
        return Ok(None);
    };
    use crate::cmd::top::{What, window_rows};
    let cli_by = crate::cli::By::from(by);
    let window = (start, end);
    let (folded, unattributed) = match view {
        View::Conns => return Ok(None),
        View::Procs => window_rows(conn, What::Procs, cli_by, window)?,
        View::Ports => window_rows(conn, What::Ports, cli_by, window)?,
        View::Hosts => window_rows(conn, What::Hosts, cli_by, window)?,
        View::Ifaces => (iface_rows(conn, window)?, (0, 0)),
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
fn iface_rows(
    conn: &Connection,
    (start, end): (i64, i64),
) -> rusqlite::Result<Vec<crate::cmd::top::WindowRow>> {
    let h = Horizons::load(conn)?;
    let sums = window::sums(conn, &mut Roller::new(), &h, &[Kind::Iface], start, end)?;
    let mut out = Vec::new();
    for (id, label) in iface_labels(conn)? {
        if let Some(v) = sums.by_series.get(&id) {
            let (rx, tx) = Vector(v).bytes(Kind::Iface);
            out.push((label, String::new(), rx, tx));
        }
    }
    Ok(out)
}

/// Every interface series and its label (`NAME`, `NAME@NAMESPACE`), from the read layer's
/// `series::ifaces`.
fn iface_labels(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    Ok(series::ifaces(conn)?
        .into_iter()
        .map(|i| (i.series, crate::output::iface_label(&i.netns, &i.name)))
        .collect())
}

/// The stored series a live row stands for, and their kind. None: the view is not recorded
/// row by row (connections).
fn series_of(
    conn: &Connection,
    view: View,
    by: By,
    key: &str,
) -> rusqlite::Result<Option<(Kind, HashSet<i64>)>> {
    Ok(Some(match view {
        View::Conns => return Ok(None),
        View::Procs => {
            let ids = series::procs(conn)?
                .into_iter()
                .filter(|p| {
                    let comm = escape_bytes(&p.comm);
                    match by {
                        By::Name => comm == key,
                        By::Pid => format!("{} {comm}", p.pid) == key,
                        By::Unit => p.unit.as_deref() == Some(key),
                        By::Container => p.container_label() == Some(key),
                        By::User => {
                            p.uid
                                .and_then(|u| u32::try_from(u).ok())
                                .and_then(crate::sys::user_name)
                                .map(|n| escape_bytes(&n))
                                .as_deref()
                                == Some(key)
                        }
                    }
                })
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
            let ids = series::details(conn, kind, None)?
                .into_iter()
                .filter(|d| match view {
                    View::Ports => format!("{}/{}", d.proto, d.port) == key,
                    _ => match &d.netns[..] {
                        b"root" | b"" => unmap_v4(&d.addr) == key,
                        ns => format!("{}@{}", unmap_v4(&d.addr), escape_bytes(ns)) == key,
                    },
                })
                .map(|d| d.series)
                .collect();
            (kind, ids)
        }
        View::Ifaces => {
            let ids = iface_labels(conn)?
                .into_iter()
                .filter(|(_, label)| label == key)
                .map(|(id, _)| id)
                .collect();
            (Kind::Iface, ids)
        }
    }))
}
