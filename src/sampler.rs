//! SAMPLE: one tick of the recorder — lock, collect every source, derive and persist with
//! rollups, forget what eBPF no longer needs, prune a step. `nrec record` is one tick;
//! `nrec daemon` is signals and sleep around ticks of the same [`Sampler`], which keeps the
//! connection, the rollup caches and the destroy listeners between them.
//!
//! Order matters: the lock is taken *before* collecting, so two recorders never interleave
//! (a later reading stored before an earlier one would look like a counter reset).

use crate::config::Retention;
use crate::ebpf;
use crate::error::Result;
use crate::recorder::{self, Listening, Source, procs};
use crate::store::insert::{self, Inserted};
use crate::store::rollup::Roller;
use crate::store::{self, prune};
use crate::time::Clock;
use crate::warnings::{Kind, Warnings};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The eBPF accounting as one of the recorder's sources: read the pinned counters with the
/// sample, and after the sample is committed forget the processes that exited (their last
/// bytes are stored).
struct EbpfSource {
    wanted: bool,
}

impl EbpfSource {
    fn collect(&self, verbose: bool, warn: &mut Warnings) -> Option<ebpf::Reading> {
        if !self.wanted {
            return None;
        }
        match ebpf::collect(true) {
            ebpf::Probe::Active(r) => Some(r),
            ebpf::Probe::Off(why) => {
                if verbose {
                    warn.note(
                        Kind::Ebpf,
                        format!(
                            "eBPF accounting unavailable ({why}); per-process bytes from sock_diag (TCP only)"
                        ),
                    );
                }
                None
            }
        }
    }

    /// Deletes the entries of processes that no longer run: called once the sample holding
    /// their bytes is committed. Only an entry that still holds what was stored goes (bytes a
    /// process moved after the reading, before it exited, stay for the next record).
    /// `running`: the processes the sample's walk of /proc found, after the reading.
    fn forget_exited(&self, r: &ebpf::Reading, running: &[u32], warn: &mut Warnings) {
        // Exited = present in the reading, absent from the walk of /proc that followed it
        // (one listing serves the namespaces and this; a second one cost 0.5 µs per entry
        // with 5 000 entries). A PID reused by a new process keeps the old entry until that
        // one exits too — a slot held longer, nothing lost or counted twice.
        let gone: Vec<(ebpf::Key, ebpf::Value)> = r
            .entries
            .iter()
            .filter(|(k, _)| running.binary_search(&k.tgid).is_err())
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        if let Err(e) = ebpf::forget(&gone) {
            warn.warn(
                Kind::Ebpf,
                format!("eBPF: removing the entries of exited processes failed: {e}"),
            );
        }
    }
}

/// A container's network namespace is named after the container (its pod, for Kubernetes):
/// `eth0@web-1`, not `eth0@netns-74402fef-…` or `ns:4026532177`. The container is its lowest
/// process's; its name is looked up once per container id and kept (`store::containers`). A
/// name that could be taken for another namespace's ("root", "ns:…") is not used.
fn name_container_namespaces(
    conn: &rusqlite::Connection,
    sample: &mut recorder::Sample,
) -> rusqlite::Result<()> {
    let mut known = store::containers::Known::default();
    for ns in &mut sample.namespaces {
        let Some(pid) = ns.owner_pid else { continue };
        let Some(cg) = crate::sys::read_proc_small(format!("/proc/{pid}/cgroup"))
            .ok()
            .and_then(|t| procs::cgroup_path(&t))
        else {
            continue;
        };
        let Some(c) = known.of_cgroup(conn, &cg, sample.ts_ms)? else {
            continue;
        };
        let name = c.pod.or(c.name);
        if let Some(n) = name.filter(|n| n != "root" && !n.starts_with("ns:") && !n.is_empty()) {
            ns.name = n.into_bytes();
        }
    }
    Ok(())
}

/// The recorder: what one sample needs, kept between the ticks of a daemon.
pub struct Sampler {
    path: PathBuf,
    source: Source,
    /// None: the config could not be read; the sample is still taken, nothing pruned.
    retention: Option<Retention>,
    clock: Clock,
    verbose: bool,
    conn: Option<rusqlite::Connection>,
    roller: Roller,
    /// The daemon's TCP destroy listeners (and pcap captures), refreshed before and drained
    /// after each dump.
    listening: Option<Listening>,
    ebpf: EbpfSource,
}

impl Sampler {
    pub fn new(
        path: PathBuf,
        source: Source,
        retention: Option<Retention>,
        clock: Clock,
        verbose: bool,
    ) -> Sampler {
        Sampler {
            path,
            source,
            retention,
            clock,
            verbose,
            conn: None,
            roller: Roller::new(),
            listening: None,
            ebpf: EbpfSource {
                wanted: ebpf::wanted(),
            },
        }
    }

    /// Daemon mode: listen for closing TCP sockets (and capture UDP with the pcap fallback)
    /// between ticks. Only the live host has them.
    pub fn listen(&mut self, l: Listening) {
        if matches!(self.source, Source::Live) {
            self.listening = Some(l);
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open database connection (after a successful tick).
    pub fn conn(&self) -> Option<&rusqlite::Connection> {
        self.conn.as_ref()
    }

    pub fn is_live(&self) -> bool {
        matches!(self.source, Source::Live)
    }

    /// SIGHUP: new retention, and the database reopened at the next tick (the file may have
    /// been moved or restored).
    pub fn reload(&mut self, retention: Option<Retention>) {
        if retention.is_some() {
            self.retention = retention;
        }
        self.close();
        self.roller = Roller::new();
    }

    /// Closes the database connection, settling the WAL first ([`store::settle`]).
    fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            store::settle(&conn, &self.path);
        }
    }

    /// One sample. After an error the next tick reopens the database and starts with empty
    /// caches (a failed transaction may have left them stale).
    pub fn tick(&mut self, warn: &mut Warnings) -> Result<Inserted> {
        let r = self.tick_inner(warn);
        if r.is_err() {
            self.close();
            self.roller = Roller::new();
        }
        r
    }

    fn tick_inner(&mut self, warn: &mut Warnings) -> Result<Inserted> {
        let _lock = store::lock(&self.path)?;
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => store::open_rw(&self.path)?,
        };
        let live = self.is_live();
        if let Some(l) = self.listening.as_mut() {
            l.refresh(warn);
        }
        // eBPF first: the walk of /proc that collecting does then tells which of the
        // reading's processes have exited since (see forget_exited)
        let reading = live
            .then(|| self.ebpf.collect(self.verbose, warn))
            .flatten();
        // the sample this one will continue: namespaces created after it count from zero
        let last =
            insert::last_sample(&conn).map_err(|e| crate::error::Error::sqlite(&self.path, e))?;
        let mut sample = recorder::collect(
            &self.source,
            self.clock.now().as_millisecond(),
            last.as_ref(),
            warn,
        )?;
        if let Some(l) = self.listening.as_mut() {
            l.drain_into(&mut sample, warn);
        }
        sample.ebpf = reading;
        // a name lookup that fails costs the names, never the sample
        if live {
            if let Err(e) = name_container_namespaces(&conn, &mut sample) {
                warn.warn(
                    Kind::Netns,
                    format!("naming the containers' network namespaces failed ({e}); they keep their other names this sample"),
                );
            }
        }
        let mut denied_fd = 0;
        let mut owners = |wanted: &HashSet<u32>| {
            if !live {
                return Default::default();
            }
            let (found, denied) = procs::socket_owners(Path::new("/proc"), wanted);
            denied_fd = denied;
            found
        };
        let mut cgroups: Option<HashMap<u64, Vec<u8>>> = None;
        let mut resolve = |k: &ebpf::Key, v: &ebpf::Value| {
            let dir = Path::new("/proc").join(k.tgid.to_string());
            match procs::read_owner(&dir, k.tgid as i32) {
                Some(o) if o.start_time == k.start_ticks() => o,
                // exited: what the kernel captured; the cgroup id's path while it still exists,
                // else the name the kernel recorded for it (a removed container's id)
                _ => {
                    let idx = cgroups
                        .get_or_insert_with(|| procs::cgroup_index(Path::new("/sys/fs/cgroup")));
                    let cg = idx
                        .get(&v.cgroup)
                        .cloned()
                        .or_else(|| ebpf::cgroup_name(v.cgroup));
                    store::ebpf::captured_owner(k, v, cg)
                }
            }
        };
        let ins = insert::insert_sample_with(
            &mut conn,
            &self.path,
            &sample,
            &mut owners,
            &mut resolve,
            warn,
            &mut self.roller,
        )?;
        if let (Some(r), Some(running)) = (&sample.ebpf, &sample.pids) {
            self.ebpf.forget_exited(r, running, warn);
        }
        if let Some(o) = &ins.ebpf {
            if o.lost_events > 0 {
                warn.warn(
                    Kind::Ebpf,
                    format!(
                        "eBPF map full: {} send/receive calls ({} bytes) of new processes could not be counted this interval; \
                         they are in the unattributed row",
                        o.lost_events, o.lost_bytes
                    ),
                );
            }
        }
        if denied_fd > 0 {
            warn.note(
                Kind::FdDenied,
                format!(
                    "not privileged: the file descriptors of {denied_fd} processes could not be read; \
                     their sockets have no owner and their bytes stay unattributed (needs CAP_DAC_READ_SEARCH / CAP_SYS_PTRACE)"
                ),
            );
        }
        // Retention, a step per tick (bounded time); `nrec prune` does the rest at once.
        if let Some(r) = &self.retention {
            // Retention acts on a clock CLOCK_BOOTTIME vouches for (a clock stepped a year
            // ahead must not delete a year of history).
            let max_jump = r.raw_days.unwrap_or(7).max(1) * 86_400_000;
            let now = match prune::trusted_now(&conn, ins.sample_id, ins.clock, max_jump) {
                Ok(t) => {
                    if let Some(d) = t.doubt {
                        warn.warn(Kind::Clock, d);
                    }
                    Some(t.now_ms).filter(|n| *n != i64::MIN)
                }
                Err(e) => {
                    warn.warn(
                        Kind::Prune,
                        format!("retention skipped (the sample is stored): {e}"),
                    );
                    None
                }
            };
            let pruned = match now {
                Some(now) => prune::prune(&mut conn, now, r, prune::Limit::RECORD),
                None => Ok(prune::Pruned::default()),
            };
            match pruned {
                Ok(p) if self.verbose && p.samples + p.quarter_days + p.daily_days > 0 => {
                    warn.info(
                        Kind::Prune,
                        format!(
                            "pruned {} raw sample(s), the 15-minute detail of {} day(s), {} day(s) of daily rows{}",
                            p.samples,
                            p.quarter_days,
                            p.daily_days,
                            if p.done { "" } else { "; more next run" }
                        ),
                    );
                }
                Ok(_) => {}
                // The sample is stored; pruning tries again next tick.
                Err(e) => warn.warn(
                    Kind::Prune,
                    format!("pruning failed (the sample is stored): {e}"),
                ),
            }
        }
        self.conn = Some(conn);
        Ok(ins)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.close();
    }
}
