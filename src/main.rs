//! nrec: network traffic history for Linux.
//!
//! Thin entry point: parse arguments, dispatch to a subcommand, map errors to the exit codes
//! documented in the README. Usage errors are one line, like every other error.

use nrec::{cli, cmd, complete, config, manual};

use clap::Parser;
use nrec_report::output;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = nrec_sys::read_helper_main() {
        return code;
    }
    // A shell asking for completions (COMPLETE=bash nrec -- …): answered, then exit.
    complete::handle_request();
    // The package build writes the man pages from the same definitions as --help.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().take(3).collect();
    if argv.len() == 3 && argv[1] == "--nrec-internal-man" {
        return match manual::write_all(std::path::Path::new(&argv[2])) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("nrec: man pages: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(
                e.kind(),
                K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // clap's message is several lines; keep the one that names the problem, and on
            // the same line what clap suggests ("did you mean", the possible values).
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let hints: Vec<&str> = text
                .lines()
                .skip(1)
                .map(str::trim)
                .filter(|l| l.starts_with("tip:") || l.starts_with("[possible values"))
                .map(|l| l.strip_prefix("tip: ").unwrap_or(l))
                .collect();
            let hints = if hints.is_empty() {
                String::new()
            } else {
                format!("; {}", hints.join("; "))
            };
            eprintln!("nrec: {first}{hints} (see nrec --help)");
            return ExitCode::from(2);
        }
    };
    let mut out = output::Stdout::new();
    // One rule for the config file (--config, NREC_CONFIG, or /etc/nrec/nrec.toml when it
    // exists): every command reads it first and a broken one is exit 2 — except the
    // recorders, which store their sample first (with default retention) and then say so.
    let recorder = matches!(
        cli.command,
        cli::Command::Record(_) | cli::Command::Daemon(_)
    );
    let mut aliases = nrec_model::names::Aliases::default();
    if !recorder {
        match config::Config::load(cli.config.as_deref()) {
            Ok(c) => aliases = c.aliases,
            Err(e) => {
                eprintln!("nrec: {e}");
                return ExitCode::from(e.exit as u8);
            }
        }
    }
    let g = cmd::Global {
        db: cli.db.clone(),
        config: cli.config.clone(),
        verbose: cli.verbose,
        quiet: cli.quiet,
        aliases,
    };
    // An image is not for a terminal (its bytes would be taken for escape sequences).
    if cli.command.format() == Some(cli::Format::Png)
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        eprintln!("nrec: --format png writes an image: redirect it to a file (… > picture.png)");
        return ExitCode::from(2);
    }
    let res = cmd::run(&cli.command, &g, &mut out);
    // What is still buffered must reach the reader or be an error: a full disk under
    // `> file` must not truncate the output silently.
    let res = res.and_then(|()| out.flush().map_err(output::write_error));
    // One closed-pipe rule for every command (`nrec … | head`): the reader went away, so
    // nothing is wrong and nothing is said, however the command reported the failed write.
    if out.reader_gone() {
        return ExitCode::SUCCESS;
    }
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nrec: {e}");
            ExitCode::from(e.exit as u8)
        }
    }
}
