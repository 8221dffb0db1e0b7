//! nrec-record: `nrec record --no-push` in a binary that links only what recording needs.
//!
//! The packaged timer runs a record every minute; most of a record's CPU beside the kernel's
//! own work was the start-up of the whole `nrec` (its argument parser for every command and
//! the relocations and page faults of a binary that also carries the renderers, the live view
//! and the HTTP stack). This one takes the same options as `nrec record` and runs the same
//! code (`nrec::cmd::record::run_then`); its pushes run in nrec-push.service, as the
//! packaged record unit's do (ARCHITECTURE.md §8).

use nrec::cli::RecordArgs;
use nrec::cmd::{Global, record};
use nrec::env;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
Take one sample of every network namespace and append it to the database
(nrec record --no-push, in a small binary: what the packaged timer runs)

Usage: nrec-record [OPTIONS]

Options:
  -f, --db <PATH>        Database path [env: NREC_DB]
      --config <PATH>    Config file (TOML) [env: NREC_CONFIG]
      --proc-root <DIR>  Read a captured /proc tree as one namespace [env: NREC_PROC_ROOT]
  -v, --verbose          A summary line on stderr
  -q, --quiet            Only errors on stderr
  -h, --help             Print help
  -V, --version          Print version
";

/// The options, as `nrec record` takes them (a value after a space or `=`; environment
/// variables for the unset ones).
fn parse(args: impl Iterator<Item = OsString>) -> Result<Option<(Global, RecordArgs)>, String> {
    let mut db = None;
    let mut config = None;
    let mut proc_root = None;
    let mut verbose = 0u8;
    let mut quiet = false;
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        let text = a.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (text.clone(), None),
        };
        let mut value = |name: &str| -> Result<PathBuf, String> {
            // an inline value keeps the argument's bytes after the `=`
            if inline.is_some() {
                use std::os::unix::ffi::OsStrExt;
                let b = a.as_bytes();
                let at = b.iter().position(|c| *c == b'=').unwrap_or(b.len());
                return Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&b[at + 1..])));
            }
            args.next().map(PathBuf::from).ok_or_else(|| {
                format!("a value is required for '{name} <PATH>' but none was supplied")
            })
        };
        match flag.as_str() {
            "-f" | "--db" => db = Some(value("--db")?),
            "--config" => config = Some(value("--config")?),
            "--proc-root" => proc_root = Some(value("--proc-root")?),
            "-v" | "--verbose" if inline.is_none() => verbose = verbose.saturating_add(1),
            "-q" | "--quiet" if inline.is_none() => quiet = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("nrec-record {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            _ => return Err(format!("unexpected argument '{text}' found")),
        }
    }
    if quiet && verbose > 0 {
        return Err("the argument '--quiet' cannot be used with '--verbose'".into());
    }
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let g = Global {
        db: db.or_else(|| var(env::DB)),
        config: config.or_else(|| var(env::CONFIG)),
        verbose,
        quiet,
        aliases: Default::default(),
    };
    let args = RecordArgs {
        proc_root: proc_root.or_else(|| var(env::PROC_ROOT)),
        no_push: true,
    };
    Ok(Some((g, args)))
}

fn main() -> ExitCode {
    if let Some(code) = nrec_sys::read_helper_main() {
        return code;
    }
    let (g, args) = match parse(std::env::args_os().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nrec-record: {e} (see nrec-record --help)");
            return ExitCode::from(2);
        }
    };
    match record::run_then(&args, &g, None) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nrec: {e}");
            ExitCode::from(e.exit as u8)
        }
    }
}
