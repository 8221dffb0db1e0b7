//! `nrec record`: one tick of the [`Sampler`]: take one sample and append it to the database.

use crate::cli::RecordArgs;
use crate::clock::Clock;
use crate::cmd::Global;
use crate::config::Config;
use crate::remote::Pace;
use crate::sampler::{Sampler, Ticked};
use crate::warnings::Reporter;
use nrec_collect::Source;
use nrec_model::derive::iface::Segment;
use nrec_model::error::Result;
use nrec_model::warnings::Warnings;

/// Where `record` and `daemon` read counters from.
pub fn source(proc_root: Option<&std::path::Path>) -> Source {
    match proc_root {
        Some(dir) => Source::ProcDir(dir.to_path_buf()),
        None => Source::Live,
    }
}

/// What runs beside the alerts once a sample is stored (the writer, the config, the
/// sample's wall clock, `--quiet`): the remote-write pushes, or nothing.
pub type After = fn(&mut nrec_store::Writer, &Config, i64, bool) -> Vec<nrec_model::error::Error>;

/// `nrec record`: the pushes run after the sample unless `--no-push`.
pub fn run(args: &RecordArgs, g: &Global) -> Result<()> {
    run_then(args, g, (!args.no_push).then_some(push as After))
}

/// The remote-write pushes of a one-shot record, each within its deadline: the errors to say.
fn push(
    w: &mut nrec_store::Writer,
    c: &Config,
    ts_ms: i64,
    quiet: bool,
) -> Vec<nrec_model::error::Error> {
    let sums = Default::default();
    let pushed = crate::remote::push_all(w, c, ts_ms, Pace::Timer, &sums);
    crate::remote::say(pushed, quiet)
}

/// One sample, then the alerts and `after` (None for `nrec-record`, whose unit's pushes run
/// in nrec-push.service: its binary does not link the HTTP client).
pub fn run_then(args: &RecordArgs, g: &Global, after: Option<After>) -> Result<()> {
    // the walk holds each `ip netns` pin open until it is entered (netns::enumerate)
    nrec_sys::raise_open_files();
    // A bad config or NREC_NOW must not cost a sample: record first (default retention, the
    // system clock), then report the error (exit 2).
    let config = Config::load(g.config.as_deref());
    let clock = Clock::from_env();
    let mut sampler = Sampler::new(
        g.db_path(),
        source(args.proc_root.as_deref()),
        config.as_ref().ok().map(|c| c.retention),
        clock
            .as_ref()
            .map_or_else(|_| Clock::system(), Clone::clone),
        g.verbose > 0,
    );
    let mut warn = Warnings::default();
    let res = sampler.tick(&mut warn);
    Reporter::new(g.quiet).print(&warn);
    let t = res?;
    if g.verbose > 0 {
        eprintln!("{}", summary(&t, sampler.path()));
    }
    // Alerts and remote-write pushes after the sample is stored and the lock released: a slow
    // or failing command or endpoint cannot cost a sample, and their deadlines bound how long
    // `record` waits for them. A push that fails is said on stderr and kept for the next
    // one (`nrec status` shows it); it does not fail the record.
    if let (Ok(c), Some(w)) = (&config, sampler.writer()) {
        let (threads, errors) = crate::alerts::after_sample(w, c, t.written.clock.0);
        // the pushes, each within its deadline, while the alert commands run
        let push_errors = after.map_or_else(Vec::new, |f| f(w, c, t.written.clock.0, g.quiet));
        for t in threads {
            let _ = t.join();
        }
        for e in push_errors {
            eprintln!("nrec: {e}");
        }
        let mut errors = errors.into_iter();
        if let Some(first) = errors.next() {
            for e in errors {
                eprintln!("nrec: {e}");
            }
            return Err(first);
        }
    }
    clock?;
    config.map(|_| ())
}

/// The `-v` line after a sample.
pub fn summary(t: &Ticked, path: &std::path::Path) -> String {
    let w = &t.written;
    format!(
        "nrec: recorded sample {} ({} namespace(s), {} interface(s), {} new listener(s), {}) in {}",
        w.sample_id,
        w.namespaces,
        w.ifaces,
        w.new_listeners,
        match t.segment {
            Segment::Baseline => "baseline: rates start with the next sample",
            Segment::Continue => "continues the previous sample",
            Segment::Boot => "first sample since boot",
        },
        path.display()
    )
}
