//! Shell completion: clap_complete's engine, which the shell calls back (`COMPLETE=bash nrec
//! -- nrec report -i <TAB>`) so the values can come from the database: interface, process and
//! port names as the reports print them. `nrec completions SHELL` prints the script that
//! registers it (the package installs them for bash, zsh and fish).
//!
//! A completion must never fail loudly or slowly: the database is opened read-only, a missing
//! or unreadable one just completes nothing, and each list is capped.

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{CompleteEnv, Shells};
use rusqlite::Connection;
use std::ffi::OsString;
use std::path::PathBuf;

/// At most this many names of one kind are offered.
const CAP: usize = 2000;

/// Answers a completion request and exits, when the shell made one (`COMPLETE` is set).
pub fn handle_request() {
    CompleteEnv::with_factory(crate::cli::Cli::command)
        .completer("nrec")
        .complete();
}

/// The registration script for `shell` (bash, zsh, fish, elvish, powershell).
pub fn script(shell: &str) -> Option<String> {
    let shells = Shells::builtins();
    let sh = shells.completer(shell)?;
    let mut buf = Vec::new();
    sh.write_registration("COMPLETE", "nrec", "nrec", "nrec", &mut buf)
        .ok()?;
    let mut text = String::from_utf8(buf).ok()?;
    if shell == "zsh" {
        // As a file in $fpath (the package's _nrec), compinit autoloads the file as the
        // completion function itself: complete on that first call too, not only register.
        let reg = "compdef _clap_dynamic_completer_nrec nrec";
        if let Some(i) = text.rfind(reg) {
            text.replace_range(
                i..i + reg.len(),
                "if [ \"$funcstack[1]\" = \"_nrec\" ]; then\n    _clap_dynamic_completer_nrec \"$@\"\nelse\n    compdef _clap_dynamic_completer_nrec nrec\nfi",
            );
        }
    }
    Some(text)
}

/// The shells `nrec completions` knows.
pub const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "elvish", "powershell"];

/// `-n` kinds, for `report`.
pub fn kinds() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        crate::report::kinds::NAMES
            .iter()
            .map(|k| CompletionCandidate::new(*k))
            .collect()
    })
}

/// Interface names as the reports print them (`eth0`, `lo@NETNS`).
pub fn ifaces() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        from_db(|conn| {
            Ok(crate::store::series::ifaces(conn)?
                .iter()
                .map(|i| crate::output::iface_label(&i.netns, &i.name))
                .collect())
        })
    })
}

/// Process names (comm).
pub fn procs() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        from_db(|conn| {
            Ok(crate::store::series::procs(conn)?
                .iter()
                .map(|p| crate::output::escape_bytes(&p.comm))
                .collect())
        })
    })
}

/// Service ports with recorded bytes.
pub fn ports() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        from_db(|conn| {
            Ok(
                crate::store::series::details(conn, crate::store::rollup::Kind::Port, None)?
                    .iter()
                    .map(|d| d.port.to_string())
                    .collect(),
            )
        })
    })
}

/// Names read from the database the command line names, sorted, deduplicated and capped;
/// nothing when it cannot be read.
fn from_db(
    names: impl FnOnce(&Connection) -> rusqlite::Result<Vec<String>>,
) -> Vec<CompletionCandidate> {
    let path = db_from_words(std::env::args_os().collect())
        .or_else(|| std::env::var_os("NREC_DB").map(PathBuf::from))
        .unwrap_or_else(crate::store::default_read_path);
    let Ok(conn) = crate::store::open_ro(&path) else {
        return Vec::new();
    };
    let mut v = names(&conn).unwrap_or_default();
    v.sort();
    v.dedup();
    v.truncate(CAP);
    v.into_iter().map(CompletionCandidate::new).collect()
}

/// The `--db PATH` / `-f PATH` of the command line being completed (the words after `--`).
fn db_from_words(args: Vec<OsString>) -> Option<PathBuf> {
    let start = args.iter().position(|a| a == "--")? + 1;
    let words = &args[start..];
    let mut found = None;
    for (i, w) in words.iter().enumerate() {
        let s = w.to_string_lossy();
        if s == "--db" || s == "-f" {
            found = words.get(i + 1).map(PathBuf::from).or(found);
        } else if let Some(p) = s.strip_prefix("--db=") {
            found = Some(PathBuf::from(p));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_the_one_on_the_command_line() {
        let w = |v: &[&str]| db_from_words(v.iter().map(OsString::from).collect());
        assert_eq!(
            w(&["nrec", "--", "nrec", "--db", "/x.db", "report", "-i", ""]),
            Some(PathBuf::from("/x.db"))
        );
        assert_eq!(
            w(&["nrec", "--", "nrec", "report", "--db=/y.db", "-i"]),
            Some(PathBuf::from("/y.db"))
        );
        assert_eq!(w(&["nrec", "--", "nrec", "report", "-i"]), None);
    }

    #[test]
    fn every_shell_gets_a_script_and_zsh_completes_when_autoloaded() {
        for sh in SHELLS {
            let s = script(sh).unwrap_or_default();
            assert!(s.contains("COMPLETE"), "{sh}: {s}");
        }
        let z = script("zsh").unwrap_or_default();
        assert!(z.starts_with("#compdef nrec"), "{z}");
        assert!(z.contains("$funcstack[1]"), "{z}");
    }
}
