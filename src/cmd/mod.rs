//! One module per subcommand, each with a `run`; this holds what they share.

pub mod alerts;
pub mod daemon;
pub mod export;
pub mod html;
pub mod live;
pub mod maintain;
pub mod proc;
pub mod push;
pub mod record;
pub mod report;
pub mod serve;
pub mod setup;
pub mod status;
pub mod summary;
pub mod top;

use crate::cli::WindowOpts;
use crate::clock::{Clock, display_zone};
use jiff::tz::TimeZone;
use nrec_model::error::Result;
use nrec_model::time::Window;
use nrec_report::output::Output;
use nrec_store::Reader;
use nrec_store::window::Resolution;
use std::path::PathBuf;

/// The report window and display zone, from the window options and "now" (`NREC_NOW`).
/// `default_since` applies when no window option is given (None: today).
pub(crate) fn window(opts: &WindowOpts, default_since: Option<&str>) -> Result<(Window, TimeZone)> {
    let clock = Clock::from_env()?;
    let tz = display_zone()?;
    let w = opts.to_args().resolve(clock.now(), &tz, default_since)?;
    Ok((w, tz))
}

/// Says on stderr, only when it happened, that part of a window was read from rollups because
/// its raw samples were pruned (retention): every command reads raw rows wherever they exist.
pub(crate) fn note_resolution(
    g: &Global,
    r: &Reader,
    res: Resolution,
    tz: &TimeZone,
) -> Result<()> {
    if res != Resolution::Raw && !g.quiet {
        eprintln!(
            "nrec: note: raw samples before {} were pruned (retention); that part of the window is read from {}",
            nrec_report::output::local_text(r.horizons()?.raw_from_ms, tz),
            res.describe()
        );
    }
    Ok(())
}

/// The output of a command that reads `r`: the envelope names the recording host (the
/// newest sample's) and the window.
pub(crate) fn output<'w>(
    out: &'w mut dyn std::io::Write,
    format: crate::cli::Format,
    command: &'static str,
    r: &Reader,
    window: Option<&Window>,
    tz: &TimeZone,
) -> Result<Output<'w>> {
    let host = r.last_host()?;
    Ok(Output::new(
        out,
        format.into(),
        command,
        host.as_ref().map(|h| &h.hostname[..]),
        window.map(Into::into),
        tz.clone(),
    ))
}

/// `nrec completions SHELL`: the script that registers nrec's completions with the shell.
pub fn completions(args: &crate::cli::CompletionsArgs, out: &mut dyn std::io::Write) -> Result<()> {
    let text = crate::complete::script(&args.shell).ok_or_else(|| {
        nrec_model::error::Error::usage(format!("completions: unknown shell {:?}", args.shell))
    })?;
    out.write_all(text.as_bytes())
        .map_err(nrec_report::output::write_error)
}

/// Runs one subcommand, its output to `out` (main's stdout; `nrec html`'s page parts).
pub fn run(c: &crate::cli::Command, g: &Global, out: &mut dyn std::io::Write) -> Result<()> {
    use crate::cli::{By, Command};
    use nrec_report::rank::What;
    match c {
        Command::Record(a) => record::run(a, g),
        Command::Report(a) => report::run(a, g, out),
        Command::TopProcs(a) => top::run(What::Procs, a.by, &a.top, g, out),
        Command::TopPorts(a) => top::run(What::Ports, By::Name, a, g, out),
        Command::TopHosts(a) => top::run(What::Hosts, By::Name, a, g, out),
        Command::Proc(a) => proc::run(a, g, out),
        Command::Summary(a) => summary::run(a, g, out),
        Command::Html(a) => html::run(a, g, out),
        Command::Export(a) => export::run(a, g, out),
        Command::Prune => maintain::prune(g),
        Command::Rollup(a) => maintain::rollup(a, g),
        Command::Check => maintain::check(g, out),
        Command::Status(a) => status::run(a, g, out),
        Command::Daemon(a) => daemon::run(a, g),
        Command::Setup(a) => setup::run(a, g),
        Command::Alerts(a) => alerts::run(a, g, out),
        Command::Completions(a) => completions(a, out),
        Command::Serve(a) => serve::run(a, g),
        Command::Push(a) => push::run(a, g, out),
        Command::Top(a) => live::run(a, g, out),
    }
}

/// Global options, resolved once.
pub struct Global {
    pub db: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub verbose: u8,
    pub quiet: bool,
    /// The config's `[aliases]` (read once by `main`; none for the recorders): what every
    /// interface filter takes and every table and picture shows next to a name.
    pub aliases: nrec_model::names::Aliases,
}

impl Global {
    /// The database a recorder writes.
    pub fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(nrec_store::default_path)
    }

    /// The database a report reads.
    pub fn db_read_path(&self) -> PathBuf {
        self.db
            .clone()
            .unwrap_or_else(nrec_store::default_read_path)
    }
}
