//! The [`Writer`]: a [`Reader`] on a writable connection plus what only a writer does —
//! hand the sampler the baseline, write a derived interval with its rollups in one
//! transaction, prune, roll up, record alert firings. Open it with the recorder lock held
//! ([`crate::lock`]): creation, migration and writing assume a single writer.

use crate::alerts::Firing;
use crate::prune::{Limit, Pruned, Retention, Trusted};
use crate::reader::Reader;
use crate::write::{self, NsSamples, Written};
use crate::{db_error, open_rw};
use nrec_model::derive::iface::Last;
use nrec_model::derive::{Baseline, Interval};
use nrec_model::error::Result;
use nrec_model::identity::Container;
use nrec_model::sample::Owner;
use rusqlite::TransactionBehavior;
use std::collections::HashMap;
use std::path::Path;

pub struct Writer {
    r: Reader,
    /// The namespace and interface rows met so far (a daemon's samples name the same ones).
    ids: write::Ids,
}

impl std::ops::Deref for Writer {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        &self.r
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Reader {
        &mut self.r
    }
}

impl Writer {
    /// Opens (creating if absent) the database for writing, its schema brought up to date.
    pub fn open(path: &Path) -> Result<Writer> {
        Ok(Writer {
            r: Reader::on(open_rw(path)?, path),
            ids: write::Ids::default(),
        })
    }

    fn db(&self, e: rusqlite::Error) -> nrec_model::error::Error {
        db_error(&self.r.path, e)
    }

    /// The newest stored sample (what a new one continues).
    pub fn last_sample(&self) -> Result<Option<Last>> {
        write::last_sample(&self.r.conn).map_err(|e| self.db(e))
    }

    /// What the newest stored sample (`last`, as [`Writer::last_sample`] read it) left for
    /// the next one, for these namespaces.
    pub fn baseline(&mut self, last: Option<Last>, s: &NsSamples<'_>) -> Result<Baseline> {
        let ids = &mut self.ids;
        read_in_one(&self.r.conn, |c| write::baseline(c, last, s, ids))
            .map_err(|e| db_error(&self.r.path, e))
    }

    /// What the newest stored sample (`last`) left of each namespace for carrying the idle
    /// ones forward, by inode (`write::priors`); empty without one.
    pub fn priors(
        &self,
        last: Option<&Last>,
    ) -> Result<HashMap<u64, nrec_model::derive::idle::Prior>> {
        match last {
            Some(l) => write::priors(&self.r.conn, l.id).map_err(|e| self.db(e)),
            None => Ok(HashMap::new()),
        }
    }

    /// The owner recorded for a namespace's TCP listener (see `write::listener_owner`).
    pub fn listener_owner(
        &self,
        netns: (&str, u64, &[u8]),
        port: u16,
        inode: u32,
    ) -> Result<Option<Owner>> {
        write::listener_owner(&self.r.conn, netns, port, inode).map_err(|e| self.db(e))
    }

    /// A container's metadata as kept (None: unknown, or a failed lookup grown stale — the
    /// sampler looks it up and the interval keeps what it found).
    pub fn container(&self, id: &str, now_ms: i64) -> Result<Option<Container>> {
        crate::containers::known(&self.r.conn, id, now_ms).map_err(|e| self.db(e))
    }

    /// A unit's description as kept (None: look it up; Some(None): looked for recently,
    /// none found).
    #[allow(clippy::option_option)]
    pub fn unit(&self, unit: &str, now_ms: i64) -> Result<Option<Option<String>>> {
        crate::units::known(&self.r.conn, unit, now_ms).map_err(|e| self.db(e))
    }

    /// Writes a derived interval and its rollups in one `BEGIN IMMEDIATE` transaction.
    pub fn write(&mut self, iv: &Interval<'_>) -> Result<Written> {
        let (r, ids) = (&mut self.r, &mut self.ids);
        let res = (|| -> rusqlite::Result<Written> {
            let tx = r
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // a sample that lands before the newest day changes a past day's sums
            let past = crate::lifetime::is_past_day(
                &tx,
                iv.sample.ts_ms.div_euclid(nrec_model::time::DAY_MS),
            )?;
            let out = write::write(&tx, iv, ids)?;
            r.roller.roll_sample(&tx, out.sample_id)?;
            if past {
                crate::lifetime::bump_generation(&tx)?;
            }
            tx.commit()?;
            Ok(out)
        })();
        if res.is_err() {
            // ids cached during a rolled-back transaction may not exist
            r.roller = crate::rollup::Roller::new();
            *ids = write::Ids::default();
        }
        res.map_err(|e| db_error(&r.path, e))
    }

    /// The clock retention may act on after writing `w` (`prune::trusted_now`).
    pub fn trusted_now(&self, w: &Written, max_jump_ms: i64) -> Result<Trusted> {
        crate::prune::trusted_now(&self.r.conn, w.sample_id, w.clock, max_jump_ms)
            .map_err(|e| self.db(e))
    }

    /// `nrec prune`: the wall clock of the newest sample is confirmed as the anchor.
    pub fn confirm_clock(&self) -> Result<()> {
        crate::prune::confirm_clock(&self.r.conn).map_err(|e| self.db(e))
    }

    /// Retention at `now_ms`, within `limit`.
    pub fn prune(&mut self, now_ms: i64, r: &Retention, limit: Limit) -> Result<Pruned> {
        let p = &mut self.r;
        crate::prune::prune(&mut p.conn, now_ms, r, limit).map_err(|e| db_error(&p.path, e))
    }

    /// Rolls up every stored sample not rolled up yet (in one transaction); how many.
    pub fn roll_pending(&mut self) -> Result<usize> {
        self.in_tx(|c| {
            let n = crate::rollup::roll_pending(c)?;
            if n > 0 {
                crate::lifetime::bump_generation(c)?;
            }
            Ok(n)
        })
    }

    /// `nrec rollup --rebuild` (in one transaction): (samples, first day rebuilt).
    pub fn rebuild(&mut self) -> Result<(u64, Option<i64>)> {
        self.in_tx(|c| {
            let out = crate::rollup::rebuild(c)?;
            crate::lifetime::bump_generation(c)?;
            Ok(out)
        })
    }

    /// Stores the past days' sums `cache` read (`past_sums`), so that the next process
    /// need not read them again.
    pub fn keep_sums(&self, cache: &mut crate::AllTimeCache) -> Result<()> {
        cache.persist(&self.r.conn).map_err(|e| self.db(e))
    }

    fn in_tx<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let r = &mut self.r;
        let res = (|| {
            let tx = r
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })();
        r.roller = crate::rollup::Roller::new();
        self.ids = write::Ids::default();
        res.map_err(|e| db_error(&r.path, e))
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction (unless one is open already): what
    /// it reads is what it writes, whatever another recorder does meanwhile.
    pub fn immediate<T>(&mut self, f: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        if !self.r.conn.is_autocommit() {
            return f(self);
        }
        let path = self.r.path.clone();
        self.r
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| db_error(&path, e))?;
        let res = f(self);
        let end = self
            .r
            .conn
            .execute_batch(if res.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let out = res?;
        end.map_err(|e| db_error(&path, e))?;
        Ok(out)
    }

    /// Records a firing unless its rule already fired in that period; whether it is new.
    pub fn fire(&self, f: &Firing<'_>) -> Result<bool> {
        crate::alerts::record(&self.r.conn, f).map_err(|e| self.db(e))
    }

    /// Closes a rate rule's episode (the rule re-arms).
    pub fn clear_firing(&self, rule: &str, period: i64, at_ms: i64) -> Result<()> {
        crate::alerts::clear(&self.r.conn, rule, period, at_ms).map_err(|e| self.db(e))
    }

    /// Stores what a firing's command did.
    pub fn set_outcome(&self, rule: &str, period: i64, outcome: &str) -> Result<()> {
        crate::alerts::set_outcome(&self.r.conn, rule, period, outcome).map_err(|e| self.db(e))
    }

    /// A remote-write target's position, None before its first push.
    pub fn push_state(&self, target: &str) -> Result<Option<crate::remote::PushState>> {
        crate::remote::get(&self.r.conn, target).map_err(|e| self.db(e))
    }

    /// Holds `target` for one push until `until_ms`; false when another push holds it.
    pub fn hold_push(&self, target: &str, now_ms: i64, until_ms: i64) -> Result<bool> {
        crate::remote::hold(&self.r.conn, target, now_ms, until_ms).map_err(|e| self.db(e))
    }

    /// Records what a push did (its position only moves forward) and releases the target.
    pub fn pushed(&self, target: &str, now_ms: i64, p: &crate::remote::Pushed) -> Result<()> {
        crate::remote::done(&self.r.conn, target, now_ms, p).map_err(|e| self.db(e))
    }

    /// Copies the WAL into the database file and truncates it (what a file left for a user
    /// to copy should look like).
    pub fn checkpoint(&self) -> Result<()> {
        self.r
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.db(e))
    }

    /// Closes the connection, settling the WAL first ([`crate::settle`]).
    pub fn close(self) {
        crate::settle(&self.r.conn, &self.r.path);
    }
}

/// Runs the reads of `f` in one read transaction: outside one, SQLite begins and ends a read
/// transaction around every statement (WAL read-mark locks on `-shm` and a stat of the file,
/// ~10 system calls), and the baseline runs a few statements per namespace — with 1 000
/// namespaces that was 8 000 `fcntl` calls per sample.
fn read_in_one<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let tx = conn.unchecked_transaction()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}
