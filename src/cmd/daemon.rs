//! `nrec daemon`: continuous sampling into the same store, one sample every `--interval`
//! (default 10 s), each taken exactly as `nrec record` takes it (lock, store with rollups,
//! a bounded prune step). SIGTERM/SIGINT take a last sample and exit 0; SIGHUP reloads the
//! config and reopens the database (after the file was moved or restored) without cutting
//! the interval short. In every network namespace a TCP destroy listener catches the final
//! counters of each closing connection, so connections that open and close between two
//! samples, and a connection's last interval, are counted (timer mode cannot see them).

use crate::cli::DaemonArgs;
use crate::cmd::Global;
use crate::cmd::record::sample_once;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::recorder::Source;
use crate::store::rollup::Roller;
use crate::time;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // async-signal-safe: only atomic stores
    if sig == libc::SIGHUP {
        RELOAD.store(true, Ordering::SeqCst);
    } else {
        STOP.store(true, Ordering::SeqCst);
    }
}

/// Handlers without SA_RESTART, so a signal cuts the sleep short.
fn install_handlers() -> Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid; the
        // handler only stores atomics.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(Error::failure(format!(
                "cannot install the handler for signal {sig}: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// Sleeps until `until` or a signal, whichever comes first.
fn sleep_until(until: Instant) {
    while !STOP.load(Ordering::SeqCst) && !RELOAD.load(Ordering::SeqCst) {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return;
        };
        let ts = libc::timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        };
        // SAFETY: nanosleep with a valid timespec; EINTR (a signal) just ends this round.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
    }
}

/// The daemon's state between ticks: the open database and the rollup caches.
struct Recorder<'a> {
    g: &'a Global,
    path: std::path::PathBuf,
    source: Source,
    config: Config,
    conn: Option<rusqlite::Connection>,
    roller: Roller,
    closed: crate::recorder::Listening,
}

impl Recorder<'_> {
    fn sample(&mut self) -> Result<()> {
        let r = sample_once(
            self.g,
            &self.path,
            &self.source,
            Some(&self.config.retention),
            &mut self.conn,
            &mut self.roller,
            Some(&mut self.closed),
        );
        if r.is_err() {
            // start clean next time (a failed transaction may have left caches stale)
            self.conn = None;
            self.roller = Roller::new();
        }
        r
    }

    fn reload(&mut self) {
        match Config::load(self.g.config.as_deref()) {
            Ok(c) => self.config = c,
            Err(e) => eprintln!("nrec: SIGHUP: keeping the previous config: {e}"),
        }
        self.conn = None;
        self.roller = Roller::new();
        if !self.g.quiet {
            eprintln!("nrec: SIGHUP: config reloaded, database reopened");
        }
    }
}

/// `NREC_PCAP`: `auto` (default: capture only when eBPF is unavailable), `force`, `off`.
#[cfg(feature = "pcap")]
fn pcap_wanted() -> Result<bool> {
    let mode = std::env::var("NREC_PCAP").unwrap_or_default();
    match mode.as_str() {
        "force" => Ok(true),
        "off" => Ok(false),
        "" | "auto" => Ok(!(crate::ebpf::wanted()
            && matches!(crate::ebpf::collect(true), crate::ebpf::Probe::Active(_)))),
        other => Err(Error::usage(format!(
            "NREC_PCAP={other:?}: expected auto, force or off"
        ))),
    }
}

pub fn run(args: &DaemonArgs, g: &Global) -> Result<()> {
    let ms = time::parse_interval("--interval", &args.interval)?;
    let interval = Duration::from_millis(u64::try_from(ms).unwrap_or(10_000));
    let mut rec = Recorder {
        g,
        path: g.db_path(),
        source: match &args.proc_root {
            Some(dir) => Source::ProcDir(dir.clone()),
            None => Source::Live,
        },
        config: Config::load(g.config.as_deref())?,
        conn: None,
        roller: Roller::new(),
        closed: Default::default(),
    };
    #[cfg(feature = "pcap")]
    if matches!(rec.source, Source::Live) && pcap_wanted()? {
        rec.closed.capture = Some(Default::default());
        if !g.quiet {
            eprintln!(
                "nrec: pcap fallback on: UDP datagrams are captured (headers only) in every namespace and credited through the socket table"
            );
        }
    }
    install_handlers()?;
    if g.verbose > 0 {
        eprintln!(
            "nrec: daemon sampling every {} s into {}",
            interval.as_secs_f64(),
            rec.path.display()
        );
    }
    loop {
        let started = Instant::now();
        // A failed sample (disk full, the lock held by a long `nrec prune`) is reported and
        // the next tick tries again: the next delta covers the interval.
        if let Err(e) = rec.sample() {
            eprintln!("nrec: {e}");
        }
        if STOP.load(Ordering::SeqCst) {
            return Ok(());
        }
        let deadline = started + interval;
        loop {
            sleep_until(deadline);
            if RELOAD.swap(false, Ordering::SeqCst) {
                rec.reload();
            }
            if STOP.load(Ordering::SeqCst) {
                return rec.sample(); // the last sample, then out
            }
            if Instant::now() >= deadline {
                break;
            }
        }
    }
}
