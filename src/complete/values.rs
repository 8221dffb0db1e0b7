//! The values the command line completes from the database (interface, process and port
//! names as the reports print them) and the shells it writes scripts for. The command-line
//! definition names these, so they know nothing of it.

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use nrec_model::error::Result;
use nrec_store::Reader;
use std::ffi::OsString;
use std::path::PathBuf;

/// At most this many names of one kind are offered.
const CAP: usize = 2000;

/// The shells `nrec completions` knows.
pub const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "elvish", "powershell"];

/// `-n` kinds, for `report`.
pub fn kinds() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        nrec_report::sar::kinds::names()
            .map(CompletionCandidate::new)
            .collect()
    })
}

/// Interface names as the reports print them (`eth0`, `lo@NETNS`), then the config's
/// aliases (each said with its interface).
pub fn ifaces() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let mut out: Vec<CompletionCandidate> = from_db(|r| {
            Ok(r.ifaces()?
                .iter()
                .map(|i| nrec_model::names::iface_label(&i.netns, &i.name))
                .collect())
        });
        let config = std::env::var_os(crate::env::CONFIG).map(std::path::PathBuf::from);
        if let Ok(c) = crate::config::Config::load(config.as_deref()) {
            out.extend(
                c.aliases
                    .labels()
                    .map(|(a, iface)| CompletionCandidate::new(a).help(Some(iface.into()))),
            );
        }
        out
    })
}

/// Process names (comm).
pub fn procs() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        from_db(|r| {
            Ok(r.procs()?
                .iter()
                .map(|p| nrec_model::names::escape_bytes(&p.comm))
                .collect())
        })
    })
}

/// Service ports with recorded bytes.
pub fn ports() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        from_db(|r| {
            Ok(r.details(nrec_store::rollup::Kind::Port, None)?
                .iter()
                .map(|d| d.port.to_string())
                .collect())
        })
    })
}

/// How long completion waits for another program's lock on the database (a user is typing).
const WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Names read from the database the command line names that start with what is being typed,
/// sorted, deduplicated, then capped (capped first, 2 000 early-sorting names hid `python3`
/// from `proc py<TAB>`); nothing when it cannot be read within [`WAIT`].
fn from_db(names: impl FnOnce(&Reader) -> Result<Vec<String>>) -> Vec<CompletionCandidate> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let typed = typed_value(&args, std::env::var("_CLAP_COMPLETE_INDEX").ok());
    let path = db_from_words(args)
        .or_else(|| std::env::var_os(crate::env::DB).map(PathBuf::from))
        .unwrap_or_else(nrec_store::default_read_path);
    let Ok(r) = Reader::open_within(&path, WAIT) else {
        return Vec::new();
    };
    let mut v = names(&r).unwrap_or_default();
    v.retain(|n| n.starts_with(&typed));
    v.sort();
    v.dedup();
    v.truncate(CAP);
    v.into_iter().map(CompletionCandidate::new).collect()
}

/// The value being typed: the word at the shell's cursor (bash says which,
/// `_CLAP_COMPLETE_INDEX`; the others complete the last word), after an option's `=` and
/// after the last `,` of a list (`-i eth0,wl`).
fn typed_value(args: &[OsString], index: Option<String>) -> String {
    let Some(start) = args.iter().position(|a| a == "--") else {
        return String::new();
    };
    let words = &args[start + 1..];
    let at = index
        .and_then(|i| i.parse::<usize>().ok())
        .unwrap_or(words.len().saturating_sub(1));
    let word = words
        .get(at)
        .map(|w| w.to_string_lossy())
        .unwrap_or_default();
    let value = match word.split_once('=') {
        Some((opt, v)) if opt.starts_with('-') => v,
        _ => &word,
    };
    value.rsplit(',').next().unwrap_or_default().to_string()
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
    fn the_value_typed_is_the_cursors_word_after_an_equals_or_a_comma() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let w = a(&["nrec", "--", "nrec", "proc", "py"]);
        assert_eq!(typed_value(&w, None), "py");
        assert_eq!(typed_value(&w, Some("1".into())), "proc");
        assert_eq!(
            typed_value(&a(&["nrec", "--", "nrec", "report", "-i", ""]), None),
            ""
        );
        assert_eq!(
            typed_value(
                &a(&["nrec", "--", "nrec", "report", "--iface=eth0,wl"]),
                None
            ),
            "wl"
        );
        assert_eq!(typed_value(&a(&["nrec", "proc"]), None), "");
    }

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
}
