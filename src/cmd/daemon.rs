//! `nrec daemon`: continuous sampling into the same store, one sample every `--interval`
//! (default 10 s), each taken exactly as `nrec record` takes it (lock, store with rollups,
//! a bounded prune step). SIGTERM/SIGINT take a last sample and exit 0; SIGHUP reloads the
//! config and reopens the database (after the file was moved or restored) without cutting
//! the interval short. In every network namespace a TCP destroy listener catches the final
//! counters of each closing connection, so connections that open and close between two
//! samples, and a connection's last interval, are counted (timer mode cannot see them).

use crate::cli::DaemonArgs;
use crate::clock::Clock;
use crate::cmd::Global;
use crate::config::Config;
use crate::sampler::Sampler;
use crate::warnings::Reporter;
use nrec_model::error::{Error, Result};
use nrec_model::time::parse_interval;
use nrec_model::warnings::Warnings;
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
    nrec_sys::on_signals(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP], on_signal)
        .map_err(|e| Error::failure(format!("cannot install the signal handlers: {e}")))
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

/// One tick, its warnings printed (notes once per run); a failed tick is reported and the
/// next one tries again (the next delta covers the interval).
fn tick(s: &mut Sampler, r: &mut Reporter, g: &Global, a: &mut Alerting) -> Result<()> {
    let mut warn = Warnings::default();
    let res = s.tick(&mut warn);
    r.print(&warn);
    let t = res?;
    if g.verbose > 0 {
        eprintln!("{}", super::record::summary(&t, s.path()));
    }
    if let Some(w) = s.writer() {
        let (threads, errors) = crate::alerts::after_sample(w, &a.config, t.written.clock.0);
        a.running.retain(|t| !t.is_finished());
        a.running.extend(threads);
        for e in errors {
            // once per run (and per reload), not every tick
            if a.said.insert(e.msg.clone()) {
                eprintln!("nrec: {e}");
            }
        }
        let pushed = match a.push {
            false => Vec::new(),
            true => crate::remote::push_all(
                w,
                &a.config,
                t.written.clock.0,
                crate::remote::Pace::Daemon(a.interval),
                &a.sums,
            ),
        };
        for r in pushed {
            let msg = match r {
                Err(e) => format!("{e}"),
                Ok(r) => match (r.refused.last(), &r.pushed.error, r.pushed.failed) {
                    (Some(why), ..) => format!("remote_write {}: {why}", r.target),
                    (None, Some(e), true) => format!(
                        "remote_write {}: {e} (kept: the next push sends it; said once)",
                        r.target
                    ),
                    _ => continue,
                },
            };
            if a.said.insert(msg.clone()) && !g.quiet {
                eprintln!("nrec: {msg}");
            }
        }
    }
    Ok(())
}

/// The alert rules and the commands still running: the daemon keeps sampling while a
/// command runs (each has its deadline); at exit it waits for them.
struct Alerting {
    config: Config,
    /// The sampling interval: the pushes' pace (`remote::Pace::Daemon`).
    interval: Duration,
    /// Push after each sample (not `--no-push`).
    push: bool,
    /// The past days' sums between pushes (a push of today's samples reads only today).
    sums: std::sync::Mutex<nrec_store::AllTimeCache>,
    running: Vec<std::thread::JoinHandle<()>>,
    said: std::collections::HashSet<String>,
}

impl Drop for Alerting {
    fn drop(&mut self) {
        for t in self.running.drain(..) {
            let _ = t.join();
        }
    }
}

fn reload(s: &mut Sampler, g: &Global, a: &mut Alerting) {
    match Config::load(g.config.as_deref()) {
        Ok(c) => {
            s.reload(Some(c.retention));
            a.config = c;
            a.said.clear();
        }
        Err(e) => {
            eprintln!("nrec: SIGHUP: keeping the previous config: {e}");
            s.reload(None);
        }
    }
    if !g.quiet {
        eprintln!("nrec: SIGHUP: config reloaded, database reopened");
    }
}

/// `NREC_PCAP`: `auto` (default: capture only when eBPF is unavailable), `force`, `off`.
#[cfg(feature = "pcap")]
fn pcap_wanted(sampler: &Sampler) -> Result<bool> {
    let mode = std::env::var("NREC_PCAP").unwrap_or_default();
    match mode.as_str() {
        "force" => Ok(true),
        "off" => Ok(false),
        "" | "auto" => Ok(!sampler.ebpf_active()),
        other => Err(Error::usage(format!(
            "NREC_PCAP={other:?}: expected auto, force or off"
        ))),
    }
}

pub fn run(args: &DaemonArgs, g: &Global) -> Result<()> {
    let ms = parse_interval("--interval", &args.interval)?;
    let interval = Duration::from_millis(u64::try_from(ms).unwrap_or(10_000));
    let config = Config::load(g.config.as_deref())?;
    // Under NREC_NOW the daemon's clock starts at the pinned instant and runs on.
    let mut sampler = Sampler::new(
        g.db_path(),
        super::record::source(args.proc_root.as_deref()),
        Some(config.retention),
        Clock::from_env()?.advancing(),
        g.verbose > 0,
    );
    // two sockets per network namespace (nrec_sys::raise_open_files)
    nrec_sys::raise_open_files();
    #[allow(unused_mut)]
    let mut listening = nrec_collect::Listening::default();
    #[cfg(feature = "pcap")]
    if sampler.is_live() && pcap_wanted(&sampler)? {
        listening.capture = Some(Default::default());
        if !g.quiet {
            eprintln!(
                "nrec: pcap fallback on: UDP datagrams are captured (headers only) in every namespace and credited through the socket table"
            );
        }
    }
    sampler.listen(listening);
    install_handlers()?;
    if g.verbose > 0 {
        eprintln!(
            "nrec: daemon sampling every {} s into {}",
            interval.as_secs_f64(),
            sampler.path().display()
        );
    }
    let mut reporter = Reporter::new(g.quiet);
    let mut alerting = Alerting {
        config,
        interval,
        push: !args.no_push,
        sums: Default::default(),
        running: Vec::new(),
        said: Default::default(),
    };
    loop {
        let started = Instant::now();
        if let Err(e) = tick(&mut sampler, &mut reporter, g, &mut alerting) {
            eprintln!("nrec: {e}");
        }
        if STOP.load(Ordering::SeqCst) {
            return Ok(());
        }
        let deadline = started + interval;
        loop {
            sleep_until(deadline);
            if RELOAD.swap(false, Ordering::SeqCst) {
                reload(&mut sampler, g, &mut alerting);
            }
            if STOP.load(Ordering::SeqCst) {
                return tick(&mut sampler, &mut reporter, g, &mut alerting); // the last sample, then out
            }
            if Instant::now() >= deadline {
                break;
            }
        }
    }
}
