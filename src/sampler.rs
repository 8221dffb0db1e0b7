//! SAMPLE: one tick of the recorder. The sampler orchestrates the write path, each step in
//! its layer:
//!
//! 1. lock the database (two recorders never interleave: a later reading stored before an
//!    earlier one would look like a counter reset);
//! 2. collect every source (`nrec-collect`: /proc, sock_diag, the daemon's listeners, eBPF);
//! 3. derive what can be derived from the stored baseline alone (`nrec_model::derive`);
//! 4. look up what the derivation asks for — socket owners, eBPF processes, listener owners,
//!    container and unit metadata — here, outside any database transaction;
//! 5. finish the interval (pure) and hand it to the store, which writes it with its rollups
//!    in one transaction;
//! 6. forget the eBPF entries of exited processes, prune a step.
//!
//! `nrec record` is one tick; `nrec daemon` is signals and sleep around ticks of the same
//! [`Sampler`], which keeps the connection, the store's caches and the destroy listeners.

use nrec_collect::{Listening, Source, containers, ebpf, procs, units};
use nrec_model::derive::iface::Segment;
use nrec_model::derive::{self, Interval, Prepared, Resolved};
use nrec_model::error::Result;
use nrec_model::identity::{Container, id_of, unit_of};
use nrec_model::sample::{Owner, Sample};
use nrec_model::warnings::{Kind, Warnings};
use nrec_store::prune::{self, Doubt, Retention};
use nrec_store::{NsSamples, Writer, Written};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The eBPF state of database `db`: the one every command (record, daemon, setup, status,
/// top) reads for it.
pub fn ebpf_pins(db: &Path) -> ebpf::Pins {
    ebpf::Pins::of_database(db, nrec_store::is_system_db(db))
}

/// The eBPF accounting as one of the recorder's sources: read this database's pinned
/// counters with the sample, and after the sample is committed forget the processes that
/// exited (their last bytes are stored) and remove other databases' orphaned states.
struct EbpfSource {
    wanted: bool,
    pins: ebpf::Pins,
}

impl EbpfSource {
    fn collect(&self, verbose: bool, warn: &mut Warnings) -> Option<ebpf::Reading> {
        if !self.wanted {
            return None;
        }
        match self.pins.collect(true, true) {
            ebpf::Probe::Active(r) => {
                if let Some(owner) = &r.foreign {
                    warn.note(
                        Kind::Ebpf,
                        format!(
                            "eBPF: the state in {} counts for database {owner}, not this one: read \
                             without deleting exited processes' entries (its recorder does, perhaps \
                             before this one has read them); unset NREC_BPF_DIR for a count of its own",
                            self.pins.dir().display()
                        ),
                    );
                }
                Some(r)
            }
            ebpf::Probe::Refused(why) => {
                warn.warn(
                    Kind::Ebpf,
                    format!("eBPF: {why}; per-process bytes from sock_diag (TCP only)"),
                );
                None
            }
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
    /// process moved after the reading, before it exited, stay for the next record), and
    /// only from this database's own state (`Pins::forget`). Then other databases' orphaned
    /// states go (`Pins::sweep`). `running`: the processes the sample's walk of /proc found,
    /// after the reading.
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
        if let Err(e) = self.pins.forget(&gone) {
            warn.warn(
                Kind::Ebpf,
                format!("eBPF: removing the entries of exited processes failed: {e}"),
            );
        }
        for (dir, why) in self.pins.sweep() {
            warn.info(
                Kind::Ebpf,
                format!("eBPF: removed the orphaned state {} ({why})", dir.display()),
            );
        }
    }
}

/// Container and unit metadata of one sample: what the store keeps, else looked up once
/// (the runtime's files, the unit's files) and handed to the interval to keep.
struct Meta {
    now_ms: i64,
    containers: HashMap<String, Container>,
    units: HashMap<String, Option<String>>,
    found: Resolved,
}

impl Meta {
    fn new(now_ms: i64) -> Meta {
        Meta {
            now_ms,
            containers: HashMap::new(),
            units: HashMap::new(),
            found: Resolved::default(),
        }
    }

    fn container(&mut self, w: &Writer, id: &str) -> Result<&Container> {
        if !self.containers.contains_key(id) {
            let c = match w.container(id, self.now_ms)? {
                Some(c) => c,
                None => {
                    let c = containers::resolve(id);
                    self.found.containers.push((c.clone(), self.now_ms));
                    c
                }
            };
            self.containers.insert(id.to_string(), c);
        }
        Ok(&self.containers[id])
    }

    fn unit(&mut self, w: &Writer, unit: &str) -> Result<()> {
        if !self.units.contains_key(unit) {
            let d = match w.unit(unit, self.now_ms)? {
                Some(d) => d,
                None => {
                    let d = units::description(unit);
                    self.found
                        .units
                        .push((unit.to_string(), d.clone(), self.now_ms));
                    d
                }
            };
            self.units.insert(unit.to_string(), d);
        }
        Ok(())
    }

    /// The container and unit of an owner's cgroup, looked up when first met.
    fn of_owner(&mut self, w: &Writer, o: &Owner) -> Result<()> {
        let Some(cg) = o.cgroup.as_deref() else {
            return Ok(());
        };
        if let Some(id) = id_of(cg) {
            self.container(w, &id)?;
        }
        if let Some(u) = unit_of(cg) {
            self.unit(w, &u)?;
        }
        Ok(())
    }
}

/// A container's network namespace is named after the container (its pod, for Kubernetes):
/// `eth0@web-1`, not `eth0@netns-74402fef-…` or `ns:4026532177`. The container is its lowest
/// process's; its name is looked up once per container id and kept. A name that could be
/// taken for another namespace's ("root", "ns:…") is not used.
fn name_container_namespaces(
    w: &Writer,
    meta: &mut Meta,
    sample: &mut Sample,
    priors: &HashMap<u64, derive::idle::Prior>,
) -> Result<()> {
    // an idle namespace keeps the name it had (collect gave it)
    for ns in sample.namespaces.iter_mut().filter(|n| !n.idle) {
        // so does a busy one the previous sample named after its container: the same
        // namespace (by cookie) is the same container's or pod's for its life, and reading its
        // owner's cgroup again cost ~20 µs per container and sample (cgroup v1 lists every
        // hierarchy), its metadata a query more
        if let Some(p) = priors.get(&ns.inode).filter(|p| {
            p.same(ns.cookie)
                && p.name != ns.name
                && !p.name.starts_with(b"ns:")
                && p.name != b"root"
        }) {
            ns.name.clone_from(&p.name);
            continue;
        }
        let Some(pid) = ns.owner_pid else { continue };
        let Some(id) = nrec_sys::read_proc_small(format!("/proc/{pid}/cgroup"))
            .ok()
            .and_then(|t| procs::cgroup_path(&t))
            .and_then(|cg| id_of(&cg))
        else {
            continue;
        };
        let c = meta.container(w, &id)?;
        let name = c.pod.clone().or(c.name.clone());
        if let Some(n) = name.filter(|n| n != "root" && !n.starts_with("ns:") && !n.is_empty()) {
            ns.name = n.into_bytes();
        }
    }
    Ok(())
}

/// What one tick did, for the recorder's summary line and the alerts.
#[derive(Debug, Clone, Copy)]
pub struct Ticked {
    pub written: Written,
    pub segment: Segment,
}

/// The recorder: what one sample needs, kept between the ticks of a daemon.
pub struct Sampler {
    path: PathBuf,
    source: Source,
    /// None: the config could not be read; the sample is still taken, nothing pruned.
    retention: Option<Retention>,
    clock: crate::clock::Clock,
    verbose: bool,
    writer: Option<Writer>,
    /// The daemon's TCP destroy listeners (and pcap captures), refreshed before and drained
    /// after each dump.
    listening: Option<Listening>,
    ebpf: EbpfSource,
    /// USER_HZ: the unit of /proc's start times, which eBPF's keys are matched against.
    hz: u64,
}

impl Sampler {
    pub fn new(
        path: PathBuf,
        source: Source,
        retention: Option<Retention>,
        clock: crate::clock::Clock,
        verbose: bool,
    ) -> Sampler {
        Sampler {
            ebpf: EbpfSource {
                wanted: ebpf::wanted(),
                pins: ebpf_pins(&path),
            },
            path,
            source,
            retention,
            clock,
            verbose,
            writer: None,
            listening: None,
            hz: nrec_sys::clock_ticks_per_s(),
        }
    }

    /// Daemon mode: listen for closing TCP sockets (and capture UDP with the pcap fallback)
    /// between ticks. Only the live host has them.
    pub fn listen(&mut self, l: Listening) {
        if self.is_live() {
            self.listening = Some(l);
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether eBPF counts for this database (set up now if it was not).
    #[cfg(feature = "pcap")]
    pub fn ebpf_active(&self) -> bool {
        self.ebpf.wanted && matches!(self.ebpf.pins.collect(true, false), ebpf::Probe::Active(_))
    }

    /// The open database (after a successful tick): the alerts read and record through it.
    pub fn writer(&mut self) -> Option<&mut Writer> {
        self.writer.as_mut()
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
    }

    /// Closes the database, settling the WAL first.
    fn close(&mut self) {
        if let Some(w) = self.writer.take() {
            w.close();
        }
    }

    /// One sample. After an error the next tick reopens the database and starts with empty
    /// caches (a failed transaction may have left them stale).
    pub fn tick(&mut self, warn: &mut Warnings) -> Result<Ticked> {
        let r = self.tick_inner(warn);
        if r.is_err() {
            self.close();
        }
        r
    }

    fn tick_inner(&mut self, warn: &mut Warnings) -> Result<Ticked> {
        // with the database open, its file is never opened again (nrec_store::lock_open)
        let _lock = match self.writer {
            Some(_) => nrec_store::lock_open(&self.path)?,
            None => nrec_store::lock(&self.path)?,
        };
        let w = match self.writer.take() {
            Some(w) => w,
            None => Writer::open(&self.path)?,
        };
        let w = self.writer.insert(w);
        let live = matches!(self.source, Source::Live);
        // eBPF first: the walk of /proc that collecting does then tells which of the
        // reading's processes have exited since (see forget_exited)
        let reading = live
            .then(|| self.ebpf.collect(self.verbose, warn))
            .flatten();
        // the sample this one will continue: namespaces created after it count from zero
        let last = w.last_sample()?;
        let now_ms = self.clock.now().as_millisecond();
        // what it left of each namespace: an idle one is carried forward, not read again
        let priors = match carry_namespaces() {
            true => w.priors(last.as_ref())?,
            false => Default::default(),
        };
        // (the daemon's listeners are refreshed by collecting's walk, before the dumps)
        let mut sample = nrec_collect::collect(
            &self.source,
            now_ms,
            last.as_ref(),
            &priors,
            self.listening.as_mut(),
            warn,
        )?;
        if let Some(l) = self.listening.as_mut() {
            l.drain_into(&mut sample, warn);
        }
        sample.ebpf = reading;
        let mut meta = Meta::new(sample.ts_ms);
        // a name lookup that fails costs the names, never the sample
        if live {
            if let Err(e) = name_container_namespaces(w, &mut meta, &mut sample, &priors) {
                warn.warn(
                    Kind::Netns,
                    format!("naming the containers' network namespaces failed ({e}); they keep their other names this sample"),
                );
            }
        }
        let mut base = w.baseline(
            last,
            &NsSamples {
                boot_id: &sample.boot_id,
                namespaces: &sample.namespaces,
                ebpf: sample.ebpf.is_some(),
            },
        )?;
        fill_idle(&mut sample, &mut base);
        let prepared = derive::prepare(&base, &sample, warn);
        // (its readings are counted: what follows holds the sample and the interval only)
        drop(base);
        let found = resolve(
            w,
            &prepared,
            &sample,
            Host {
                live,
                hz: self.hz,
                pins: &self.ebpf.pins,
            },
            meta,
            warn,
        )?;
        let iv = prepared.finish(found);
        let written = w.write(&iv)?;
        if let Some(c) = sample.ebpf.as_ref().and_then(|r| r.conns.as_ref()) {
            // their bytes are stored: the finished cuts go (a failed write kept them for
            // the next cut to read with its own)
            if let Err(e) = self.ebpf.pins.forget_conns(c) {
                warn.warn(
                    Kind::Ebpf,
                    format!("eBPF: removing the read connection entries failed: {e}"),
                );
            }
        }
        if let (Some(r), Some(running)) = (&sample.ebpf, &sample.pids) {
            self.ebpf.forget_exited(r, running, warn);
        }
        lost_events(&iv, warn);
        if let Some(r) = self.retention {
            retain(w, &written, &r, self.verbose, warn);
        }
        Ok(Ticked {
            written,
            segment: iv.placement.segment,
        })
    }
}

/// Whether idle namespaces are carried forward (`derive::idle`): unless `NREC_IDLE_NAMESPACES=read`,
/// which reads every namespace in full every sample (what the tests compare a carry with).
fn carry_namespaces() -> bool {
    std::env::var_os("NREC_IDLE_NAMESPACES").is_none_or(|v| v != "read")
}

/// The carried namespaces' counters, sockets and listeners from the baseline (the host-wide
/// sockstat values from the initial namespace's read). One whose stored counters are missing
/// keeps none and is stored as a namespace whose counters were not read.
fn fill_idle(sample: &mut Sample, base: &mut derive::Baseline) {
    let root = sample
        .namespaces
        .iter()
        .find(|n| n.name == b"root" && !n.idle)
        .map(|n| derive::idle::host_wide(&n.counters));
    for ns in sample.namespaces.iter_mut().filter(|n| n.idle) {
        let filled = base
            .namespaces
            .get_mut(&(ns.inode, ns.name.clone()))
            .is_some_and(|b| derive::idle::fill(ns, b, root.as_ref()));
        if !filled {
            ns.idle = false;
        }
    }
}

/// What the resolver may look at: the live host (or a fake /proc), its clock tick, and the
/// database's eBPF state (cgroup names of exited processes).
struct Host<'a> {
    live: bool,
    hz: u64,
    pins: &'a ebpf::Pins,
}

/// Step 4 of a tick: the owners and names the derivation asks for — the /proc scan of socket
/// owners, the owners of listeners whose connections closed unseen (this scan, else as
/// recorded), eBPF's processes (from /proc while they run, else the kernel's capture), and
/// the container and unit metadata of every owner.
fn resolve(
    w: &Writer,
    p: &Prepared<'_>,
    s: &Sample,
    host: Host<'_>,
    mut meta: Meta,
    warn: &mut Warnings,
) -> Result<Resolved> {
    let Host { live, hz, pins } = host;
    let wanted = p.wanted();
    let proc_root = Path::new("/proc");
    if live && !wanted.inodes.is_empty() {
        let (found, denied) = procs::socket_owners(proc_root, &wanted.inodes);
        meta.found.sockets = found;
        if denied > 0 {
            warn.note(
                Kind::FdDenied,
                format!(
                    "not privileged: the file descriptors of {denied} processes could not be read; \
                     their sockets have no owner and their bytes stay unattributed (needs CAP_DAC_READ_SEARCH / CAP_SYS_PTRACE)"
                ),
            );
        }
    }
    // an owner as it runs now, when the process is still the one recorded
    let alive = |o: Owner| -> Owner {
        let now = live
            .then(|| procs::read_owner(&proc_root.join(o.pid.to_string()), o.pid))
            .flatten();
        now.filter(|n| n.start_time == o.start_time).unwrap_or(o)
    };
    for (i, port) in &wanted.listeners {
        let ns = &s.namespaces[*i];
        let inodes = ns
            .listeners
            .iter()
            .flatten()
            .filter(|l| l.proto == "tcp" && l.port == *port)
            .map(|l| l.inode);
        for inode in inodes {
            if let Some(o) = meta.found.sockets.get(&inode) {
                meta.found.listeners.insert((*i, *port), o.clone());
                break;
            }
            if let Some(o) = w.listener_owner((&s.boot_id, ns.inode, &ns.name), *port, inode)? {
                meta.found.listeners.insert((*i, *port), alive(o));
                break;
            }
        }
    }
    let mut cgroups: Option<HashMap<u64, Vec<u8>>> = None;
    for (k, v) in &wanted.ebpf {
        let running = procs::read_owner(&proc_root.join(k.tgid.to_string()), k.tgid as i32)
            .filter(|o| o.start_time == k.start_ticks(hz));
        let o = running.unwrap_or_else(|| {
            // exited: what the kernel captured; the cgroup id's path while it still
            // exists, else the name the kernel recorded for it (a removed container's id)
            let idx =
                cgroups.get_or_insert_with(|| procs::cgroup_index(Path::new("/sys/fs/cgroup")));
            let cg = idx
                .get(&v.cgroup)
                .cloned()
                .or_else(|| pins.cgroup_name(v.cgroup));
            derive::ebpf::captured_owner(k, v, cg, hz)
        });
        meta.found.ebpf.insert(*k, o);
    }
    let owners: Vec<Owner> = (meta.found.sockets.values())
        .chain(meta.found.listeners.values())
        .chain(meta.found.ebpf.values())
        .cloned()
        .collect();
    // the owners' user names as the system names them now (a name read from a captured
    // tree's uid would be this host's user, not that system's): kept with new process rows
    if live {
        for o in &owners {
            if let std::collections::hash_map::Entry::Vacant(e) = meta.found.users.entry(o.uid) {
                if let Some(name) = nrec_sys::user_name(o.uid) {
                    e.insert(name);
                }
            }
        }
    }
    for o in &owners {
        if let Err(e) = meta.of_owner(w, o) {
            warn.warn(
                Kind::Netns,
                format!("looking up a container or unit failed ({e}); its processes are stored without its name this sample"),
            );
            break;
        }
    }
    Ok(meta.found)
}

/// Says when eBPF's map was full during the interval.
fn lost_events(iv: &Interval<'_>, warn: &mut Warnings) {
    let cut = iv.sample.ebpf.as_ref().and_then(|r| r.conns.as_ref());
    if let Some(c) = cut.filter(|c| c.lost_events > 0) {
        warn.warn(
            Kind::Ebpf,
            format!(
                "eBPF connection map full: {} send/receive calls ({} bytes) could not be credited to a port and host \
                 this interval; their processes have them, the port and host views show them as unattributed",
                c.lost_events, c.lost_bytes
            ),
        );
    }
    if let Some(e) = iv.ebpf.as_ref().filter(|e| e.lost_events > 0) {
        warn.warn(
            Kind::Ebpf,
            format!(
                "eBPF map full: {} send/receive calls ({} bytes) of new processes could not be counted this interval; \
                 they are in the unattributed row",
                e.lost_events, e.lost_bytes
            ),
        );
    }
}

/// Retention, a step per tick (bounded time); `nrec prune` does the rest at once. It acts on
/// a clock CLOCK_BOOTTIME vouches for: a clock stepped a year ahead must not delete a year
/// of history.
fn retain(w: &mut Writer, written: &Written, r: &Retention, verbose: bool, warn: &mut Warnings) {
    let max_jump = r.raw_days.unwrap_or(7).max(1) * 86_400_000;
    let now = match w.trusted_now(written, max_jump) {
        Ok(t) => {
            if let Some(d) = t.doubt {
                warn.warn(Kind::Clock, doubt_text(d));
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
        Some(now) => w.prune(now, r, prune::Limit::RECORD),
        None => Ok(prune::Pruned::default()),
    };
    match pruned {
        Ok(p) if verbose && p.samples + p.quarter_days + p.daily_days > 0 => {
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

/// Why retention does not trust the wall clock, as the recorder says it (once per run).
fn doubt_text(d: Doubt) -> String {
    use nrec_report::output::{local_text, units::duration};
    match d {
        Doubt::Stepped { ts_ms, implied_ms } => format!(
            "the wall clock ({} UTC) is {} {} the time CLOCK_BOOTTIME vouches for since the last trusted sample; retention uses the earlier until they agree again (run `nrec prune` to confirm this clock)",
            local_text(ts_ms, &jiff::tz::TimeZone::UTC),
            duration((ts_ms - implied_ms).abs()),
            if ts_ms > implied_ms { "past" } else { "before" }
        ),
        Doubt::Jumped { jump_ms } => format!(
            "the clock is {} past the last trusted sample across a reboot, more than the raw retention; retention pauses at what the uptime vouches for — run `nrec prune` to confirm this clock",
            duration(jump_ms)
        ),
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.close();
    }
}
