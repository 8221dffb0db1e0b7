//! READ: the [`Reader`] — one owner of a connection, its caches and the window engine, that
//! answers every typed query a command needs. Nothing outside this crate writes SQL or knows
//! how rollups are laid out: callers ask for window sums, series, rows, buckets and facts,
//! and get typed values back.

use crate::alerts::Fired;
use crate::check::Finding;
use crate::lifetime::{AllTime, AllTimeCache, ProtoValues};
use crate::query::{
    Host, IfaceRow, Keysets, ListenerRow, NetnsSources, ProcRow, Process, ProtoRow, Recording,
    SampleRow,
};
use crate::rollup::{Kind, Roller};
use crate::series::{DetailSeries, IfaceSeries, NetnsSeries, ProcSeries, Totals, TotalsLabels};
use crate::window::{Bucket, Edge, Horizons, ProcSample, RawInterval, Resolution, Step, Sums};
use crate::{db_error, open_ro};
use nrec_model::error::Result;
use nrec_model::time::Window;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The read side of a database (see the module documentation). Its methods take `&mut self`:
/// the caches (series ids, keysets, addresses, all-time sums) are its own.
pub struct Reader {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    pub(crate) roller: Roller,
}

/// An error of this reader's database: its path and what SQLite said, with the exit code.
fn db(path: &Path) -> impl Fn(rusqlite::Error) -> nrec_model::error::Error + '_ {
    move |e| db_error(path, e)
}

impl Reader {
    /// Opens an existing database read-only (reports, `serve`, `top`, completions).
    pub fn open(path: &Path) -> Result<Reader> {
        Ok(Reader::on(open_ro(path, crate::LOCK_WAIT)?, path))
    }

    /// Opens it for a caller that cannot wait long for another program's lock (shell
    /// completion, while a user types): `wait` at most, then the lock is an error.
    pub fn open_within(path: &Path, wait: std::time::Duration) -> Result<Reader> {
        Ok(Reader::on(open_ro(path, wait)?, path))
    }

    pub(crate) fn on(conn: Connection, path: &Path) -> Reader {
        Reader {
            conn,
            path: path.to_path_buf(),
            roller: Roller::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` inside one transaction (`BEGIN`; `BEGIN IMMEDIATE` when `write`) unless one
    /// is open already: one snapshot for many queries, and SQLite takes its shared lock once
    /// instead of around each statement (910 `fcntl` calls for one 10-minute alert rule).
    pub fn transaction<T>(
        &mut self,
        write: bool,
        f: impl FnOnce(&mut Reader) -> Result<T>,
    ) -> Result<T> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        let begin = if write { "BEGIN IMMEDIATE" } else { "BEGIN" };
        self.conn.execute_batch(begin).map_err(db(&self.path))?;
        let res = f(self);
        let end = self
            .conn
            .execute_batch(if res.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let out = res?;
        end.map_err(db(&self.path))?;
        Ok(out)
    }

    /// SQLite's `data_version`: changes when another connection commits (a recorder stored a
    /// sample).
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(db(&self.path))
    }

    /// What is still stored at which resolution.
    pub fn horizons(&self) -> Result<Horizons> {
        Horizons::load(&self.conn).map_err(db(&self.path))
    }

    /// Sums of the series of `kinds` over `[start_ms, end_ms)` from the finest data stored.
    pub fn sums(&mut self, kinds: &[Kind], start_ms: i64, end_ms: i64) -> Result<Sums> {
        Ok(self
            .sums_each(kinds, &[(start_ms, end_ms)])?
            .pop()
            .unwrap_or_default())
    }

    /// [`Reader::sums`] over each of `windows`, each day's rollups read once for all.
    pub fn sums_each(&mut self, kinds: &[Kind], windows: &[(i64, i64)]) -> Result<Vec<Sums>> {
        let h = self.horizons()?;
        crate::window::sums_each(&self.conn, &mut self.roller, &h, kinds, windows)
            .map_err(db(&self.path))
    }

    /// The process, port and host bytes of `[start_ms, end_ms)` per stored sample (and per
    /// rollup bucket where raw samples were pruned), and the coarsest data used.
    pub fn process_bytes(
        &mut self,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<(Vec<ProcSample>, Resolution)> {
        let h = self.horizons()?;
        crate::window::process_bytes(&self.conn, &h, start_ms, end_ms).map_err(db(&self.path))
    }

    /// The rollup buckets of `kinds` in `[a, b)` at `step`, to `f` (see `window::buckets`).
    pub fn buckets<E: From<nrec_model::error::Error>>(
        &mut self,
        kinds: &[Kind],
        (a, b): (i64, i64),
        step: Step,
        edge: Edge,
        mut f: impl FnMut(Bucket) -> std::result::Result<(), E>,
    ) -> std::result::Result<Resolution, E> {
        let h = self.horizons()?;
        let path = self.path.clone();
        crate::window::buckets(&self.conn, &h, kinds, (a, b), (step, edge), |bk| {
            f(bk).map_err(Either::Other)
        })
        .map_err(|e| match e {
            Either::Db(e) => E::from(db_error(&path, e)),
            Either::Other(e) => e,
        })
    }

    /// Each interface interval ending in `(a, b]`, with its bytes (None: not counted).
    pub fn iface_intervals<E: From<nrec_model::error::Error>>(
        &mut self,
        (a, b): (i64, i64),
        mut f: impl FnMut(crate::window::IfaceInterval) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let path = self.path.clone();
        crate::window::iface_intervals(&self.conn, (a, b), |i| f(i).map_err(Either::Other)).map_err(
            |e| match e {
                Either::Db(e) => E::from(db_error(&path, e)),
                Either::Other(e) => e,
            },
        )
    }

    /// Each stored sample ending in `(a, b]` as its contributions to the series of `kinds`.
    pub fn intervals<E: From<nrec_model::error::Error>>(
        &mut self,
        kinds: &[Kind],
        (a, b): (i64, i64),
        mut f: impl FnMut(RawInterval) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let path = self.path.clone();
        crate::window::intervals(&self.conn, &mut self.roller, kinds, (a, b), |i| {
            f(i).map_err(Either::Other)
        })
        .map_err(|e| match e {
            Either::Db(e) => E::from(db_error(&path, e)),
            Either::Other(e) => e,
        })
    }

    /// Every series' sum since recording began (rollups plus what retention carried), of
    /// `kinds`; `cache` keeps the past days between calls (and readers: `nrec serve` opens
    /// one per scrape, so a replaced database file is read again).
    pub fn all_time(
        &self,
        kinds: &[Kind],
        cache: &mut AllTimeCache,
    ) -> Result<HashMap<i64, AllTime>> {
        cache
            .all_time(&self.conn, &self.path, kinds)
            .map_err(db(&self.path))
    }

    /// Sums of `kinds` over every UTC day before `day` (rollups plus what retention carried),
    /// from `cache` when `day` is the newest day (the cache [`Reader::all_time`] fills).
    pub fn all_time_before(
        &self,
        kinds: &[Kind],
        day: i64,
        cache: &mut AllTimeCache,
    ) -> Result<HashMap<i64, AllTime>> {
        cache
            .before_day(&self.conn, &self.path, kinds, day)
            .map_err(db(&self.path))
    }

    /// The protocol values of a sample, namespace by namespace.
    pub fn proto_values(&self, sample: i64) -> Result<Vec<ProtoValues>> {
        crate::lifetime::proto_values(&self.conn, sample).map_err(db(&self.path))
    }

    // The series the window engine sums, with their labels.

    pub fn procs(&self) -> Result<Vec<ProcSeries>> {
        crate::series::procs(&self.conn).map_err(db(&self.path))
    }
    /// Port (`Kind::Port`) or remote-host (`Kind::Host`) series; `port` narrows to one.
    pub fn details(&self, kind: Kind, port: Option<u16>) -> Result<Vec<DetailSeries>> {
        crate::series::details(&self.conn, kind, port).map_err(db(&self.path))
    }
    pub fn ifaces(&self) -> Result<Vec<IfaceSeries>> {
        crate::series::ifaces(&self.conn).map_err(db(&self.path))
    }
    /// Every interface ever recorded, baselines included: (namespace, name).
    pub fn iface_names(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        crate::series::iface_names(&self.conn).map_err(db(&self.path))
    }
    pub fn netns_series(&self, kind: Kind) -> Result<Vec<NetnsSeries>> {
        crate::series::netns_series(&self.conn, kind).map_err(db(&self.path))
    }
    /// The host's sampling series.
    pub fn time_series(&self) -> Result<Vec<i64>> {
        crate::series::time_series(&self.conn).map_err(db(&self.path))
    }
    /// What window totals need of each series, read once for many windows.
    pub fn totals_labels(&self) -> Result<TotalsLabels> {
        TotalsLabels::load(&self.conn).map_err(db(&self.path))
    }
    /// The host-wide totals of `kinds`' sums.
    pub fn totals(&self, sums: &Sums) -> Result<Totals> {
        Ok(self.totals_labels()?.totals(&sums.by_series))
    }

    // Rows of a window's raw samples.

    /// Samples whose interval ends in the window, in recording order.
    pub fn samples(&self, w: &Window) -> Result<Vec<SampleRow>> {
        crate::query::samples(&self.conn, w).map_err(db(&self.path))
    }
    /// Interface rows of the given samples; `needed`: which of the 16 deltas to read.
    pub fn iface_rows(&self, samples: &[SampleRow], needed: &[bool; 16]) -> Result<Vec<IfaceRow>> {
        crate::query::iface_rows(&self.conn, samples, needed).map_err(db(&self.path))
    }
    pub fn proto_rows(&self, w: &Window) -> Result<(Vec<ProtoRow>, Keysets)> {
        crate::query::proto_rows(&self.conn, w).map_err(db(&self.path))
    }
    pub fn proc_rows(&self, w: &Window) -> Result<Vec<ProcRow>> {
        crate::query::proc_rows(&self.conn, w).map_err(db(&self.path))
    }
    /// Listener spans that overlap the window.
    pub fn listeners(&self, w: &Window) -> Result<Vec<ListenerRow>> {
        crate::query::listeners(&self.conn, w).map_err(db(&self.path))
    }
    /// The times of the first `limit` samples ending in `(start_ms, end_ms]`.
    pub fn sample_times(&self, start_ms: i64, end_ms: i64, limit: usize) -> Result<Vec<i64>> {
        crate::query::sample_times(&self.conn, start_ms, end_ms, limit).map_err(db(&self.path))
    }
    /// The interval between two stored samples, `back` intervals before the newest.
    pub fn interval_back(&self, back: usize) -> Result<Option<(i64, i64)>> {
        crate::query::interval_back(&self.conn, back).map_err(db(&self.path))
    }

    // Facts.

    /// The recording host as of the newest sample.
    pub fn last_host(&self) -> Result<Option<Host>> {
        crate::query::last_host(&self.conn).map_err(db(&self.path))
    }
    /// Every process with this PID or name, oldest first (`hz`: USER_HZ).
    pub fn processes(&self, name: &[u8], pid: Option<i64>, hz: u64) -> Result<Vec<Process>> {
        crate::query::processes(&self.conn, name, pid, hz).map_err(db(&self.path))
    }
    /// The newest sample (cheap: [`Reader::recording`] also counts every sample).
    pub fn newest(&self) -> Result<Option<crate::query::LastSample>> {
        crate::query::newest(&self.conn).map_err(db(&self.path))
    }
    pub fn recording(&self) -> Result<Recording> {
        crate::query::recording(&self.conn).map_err(db(&self.path))
    }
    /// The median of the newest 20 intervals (None before the second sample).
    pub fn recording_interval_ms(&self) -> Result<Option<i64>> {
        crate::query::recording_interval_ms(&self.conn).map_err(db(&self.path))
    }
    pub fn netns_sources(&self, sample: i64) -> Result<Vec<NetnsSources>> {
        crate::query::netns_sources(&self.conn, sample).map_err(db(&self.path))
    }
    /// The first UTC day with rollups.
    pub fn first_day(&self) -> Result<Option<i64>> {
        crate::rollup::first_day(&self.conn).map_err(db(&self.path))
    }
    /// Stored alert firings, newest first: of one rule, or of all.
    pub fn firings(
        &self,
        rule: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String, Fired)>> {
        crate::alerts::fired(&self.conn, rule, limit).map_err(db(&self.path))
    }
    /// Every remote-write target's position and health (`nrec status`).
    pub fn push_states(&self) -> Result<Vec<crate::remote::PushState>> {
        crate::remote::all(&self.conn).map_err(db(&self.path))
    }
    /// `nrec check`'s findings.
    pub fn check(&mut self) -> Result<Vec<Finding>> {
        crate::check::check(&self.conn).map_err(db(&self.path))
    }
}

/// An error from the database or from a caller's function.
enum Either<E> {
    Db(rusqlite::Error),
    Other(E),
}

impl<E> From<rusqlite::Error> for Either<E> {
    fn from(e: rusqlite::Error) -> Self {
        Either::Db(e)
    }
}
