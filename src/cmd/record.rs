//! `nrec record`: take one sample and append it to the database.
//!
//! Order matters: the lock is taken *before* collecting, so two recorders never interleave
//! (a later reading stored before an earlier one would look like a counter reset).

use crate::cli::RecordArgs;
use crate::cmd::Global;
use crate::config::Config;
use crate::config::Retention;
use crate::ebpf;
use crate::error::Result;
use crate::recorder::{self, Source, Warnings, procs};
use crate::store::rollup::Roller;
use crate::store::{self, insert};
use crate::time::Clock;
use std::path::Path;

pub fn run(args: &RecordArgs, g: &Global) -> Result<()> {
    // A bad config must not cost a sample: record first, then report the error (exit 2).
    let config = Config::load(g.config.as_deref());
    let retention = config.as_ref().ok().map(|c| c.retention);
    let source = match &args.proc_root {
        Some(dir) => Source::ProcDir(dir.clone()),
        None => Source::Live,
    };
    let path = g.db_path();
    let mut conn = None;
    sample_once(
        g,
        &path,
        &source,
        retention.as_ref(),
        &mut conn,
        &mut Roller::new(),
        None,
    )?;
    config.map(|_| ())
}

/// One sample, as `record` and each tick of `daemon` take it: lock, (open,) collect, store
/// with rollups, prune a step. `conn` is opened when None and kept for the next call.
/// `closed`: the daemon's TCP destroy listeners (refreshed before, drained after the dump).
pub fn sample_once(
    g: &Global,
    path: &Path,
    source: &Source,
    retention: Option<&Retention>,
    slot: &mut Option<rusqlite::Connection>,
    roller: &mut Roller,
    mut closed: Option<&mut recorder::Listening>,
) -> Result<()> {
    let clock = Clock::from_env()?;
    let _lock = store::lock(path)?;
    // Owned for this sample, handed back at the end (after an error the next call reopens).
    let mut db = match slot.take() {
        Some(c) => c,
        None => store::open_rw(path)?,
    };
    let conn = &mut db;
    let mut warn = Warnings::default();
    let live = matches!(source, Source::Live);
    if let (Some(c), true) = (closed.as_deref_mut(), live) {
        c.refresh(&mut warn);
    }
    let mut sample = recorder::collect(source, clock.now().as_millisecond(), &mut warn)?;
    if let (Some(c), true) = (closed, live) {
        c.drain_into(&mut sample, &mut warn);
    }
    if live && ebpf::wanted() {
        match ebpf::collect(true) {
            ebpf::Probe::Active(r) => sample.ebpf = Some(r),
            ebpf::Probe::Off(why) if g.verbose > 0 => warn.push(format!(
                "note: eBPF accounting unavailable ({why}); per-process bytes from sock_diag (TCP only)"
            )),
            ebpf::Probe::Off(_) => {}
        }
    }
    let mut denied_fd = 0;
    let mut owners = |wanted: &std::collections::HashSet<u32>| match source {
        Source::Live => {
            let (found, denied) = procs::socket_owners(Path::new("/proc"), wanted);
            denied_fd = denied;
            found
        }
        Source::ProcDir(_) => Default::default(),
    };
    let mut cgroups: Option<std::collections::HashMap<u64, Vec<u8>>> = None;
    let mut resolve = |k: &ebpf::Key, v: &ebpf::Value| {
        let dir = Path::new("/proc").join(k.tgid.to_string());
        match procs::read_owner(&dir, k.tgid as i32) {
            Some(o) if o.start_time == k.start_ticks() => o,
            // exited: what the kernel captured, the cgroup id resolved while it still exists
            _ => {
                let idx =
                    cgroups.get_or_insert_with(|| procs::cgroup_index(Path::new("/sys/fs/cgroup")));
                store::ebpf::captured_owner(k, v, idx.get(&v.cgroup).cloned())
            }
        }
    };
    let ins = insert::insert_sample_with(
        conn,
        path,
        &sample,
        &mut owners,
        &mut resolve,
        &mut warn,
        roller,
    )?;
    if let Some(r) = &sample.ebpf {
        // The sample holding their last bytes is committed: forget processes that exited.
        let mut gone: Vec<ebpf::Key> = Vec::new();
        let mut checked: std::collections::HashMap<(u32, u64), bool> = Default::default();
        for (k, _) in &r.entries {
            let alive = *checked
                .entry((k.tgid, k.start_ns))
                .or_insert_with(|| ebpf::alive(k.tgid, k.start_ticks()));
            if !alive {
                gone.push(*k);
            }
        }
        if let Err(e) = ebpf::forget(&gone) {
            warn.push(format!(
                "eBPF: removing the entries of exited processes failed: {e}"
            ));
        }
    }
    if let Some(o) = &ins.ebpf {
        if o.lost_events > 0 {
            warn.push(format!(
                "eBPF map full: {} send/receive calls ({} bytes) of new processes could not be counted this interval; \
                 they are in the unattributed row",
                o.lost_events, o.lost_bytes
            ));
        }
    }
    if denied_fd > 0 {
        warn.push(format!(
            "note: not privileged: the file descriptors of {denied_fd} processes could not be read; \
             their sockets have no owner and their bytes stay unattributed (needs CAP_DAC_READ_SEARCH / CAP_SYS_PTRACE)"
        ));
    }
    // Retention, a step per run (bounded time); `nrec prune` does the rest at once.
    let pruned =
        retention.map(|r| store::prune::prune(conn, sample.ts_ms, r, store::prune::Limit::RECORD));
    match pruned {
        None => {}
        Some(Ok(p)) if g.verbose > 0 && p.samples + p.quarter_days + p.daily_days > 0 => {
            warn.push(format!(
                "note: pruned {} raw sample(s), the 15-minute detail of {} day(s), {} day(s) of daily rows{}",
                p.samples,
                p.quarter_days,
                p.daily_days,
                if p.done { "" } else { "; more next run" }
            ));
        }
        Some(Ok(_)) => {}
        // The sample is stored; pruning tries again next run.
        Some(Err(e)) => warn.push(format!("pruning failed (the sample is stored): {e}")),
    }
    g.print_warnings(&warn);
    if g.verbose > 0 {
        eprintln!(
            "nrec: recorded sample {} ({} namespace(s), {} interface(s), {} new listener(s), {}) in {}",
            ins.sample_id,
            ins.namespaces,
            ins.ifaces,
            ins.new_listeners,
            match ins.segment {
                insert::Segment::Baseline => "baseline: rates start with the next sample",
                insert::Segment::Continue => "continues the previous sample",
                insert::Segment::Boot => "first sample since boot",
            },
            path.display()
        );
    }
    *slot = Some(db);
    Ok(())
}
