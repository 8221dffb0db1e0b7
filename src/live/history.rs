//! The recorded history behind a live row: its bytes per bucket over the last hour or day,
//! from the database (read only), through the same window engine and bucketing as the
//! pictures.

use super::view::{By, View};
use crate::output::{escape_bytes, unmap_v4};
use crate::store::rollup::{Kind, Roller};
use crate::store::series::{self, Vector};
use crate::store::window::{self, Horizons};
use crate::store::{Bounded, limit};
use rusqlite::Connection;
use std::collections::HashSet;
use std::path::Path;

/// A row's history: bytes (rx + tx) per bucket, oldest first; the bucket length (ms).
pub struct Recorded {
    pub bytes: Vec<u64>,
    pub bucket_ms: i64,
}

pub struct History {
    conn: Result<Connection, String>,
}

impl History {
    /// Opens the database read only; a missing or unreadable one is said, not fatal.
    pub fn open(path: &Path) -> History {
        History {
            conn: crate::store::open_ro(path).map_err(|e| e.to_string()),
        }
    }

    /// Why there is no history (no database).
    pub fn unavailable(&self) -> Option<&str> {
        self.conn.as_ref().err().map(|s| s.as_str())
    }

    /// The recorded bytes of row `key` of `view` over `[now - span, now)`.
    pub fn of(
        &self,
        view: View,
        by: By,
        key: &str,
        now_ms: i64,
        span_ms: i64,
    ) -> Result<Option<Recorded>, String> {
        let Ok(conn) = &self.conn else {
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
            let mut st = conn.prepare(
                "SELECT s.id, i.name, coalesce(n.name, x'') FROM series s JOIN iface i ON i.id = s.ref \
                 LEFT JOIN netns n ON n.id = i.netns WHERE s.kind = ?1",
            )?;
            let rows = st.query_map([Kind::Iface as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.bounded::<Vec<u8>>(1, limit::IFNAME)?,
                    r.bounded::<Vec<u8>>(2, limit::NETNS)?,
                ))
            })?;
            let mut ids = HashSet::new();
            for r in rows {
                let (id, name, ns) = r?;
                if crate::output::iface_label(&ns, &name) == key {
                    ids.insert(id);
                }
            }
            (Kind::Iface, ids)
        }
    }))
}
