//! What the recorder has to tell about a sample, said on stderr: every warning, a note only
//! the first time its kind comes up in a run (a daemon says "not privileged" once, not every
//! tick).

use nrec_model::warnings::{Kind, Severity, Warnings};
use std::collections::HashSet;

/// Prints warnings on stderr, one line each, remembering which kinds of note were said.
#[derive(Debug, Default)]
pub struct Reporter {
    quiet: bool,
    said: HashSet<Kind>,
}

impl Reporter {
    pub fn new(quiet: bool) -> Reporter {
        Reporter {
            quiet,
            said: HashSet::new(),
        }
    }

    /// The lines to print for `w`: every warning, a note only the first time its kind
    /// comes up in this run.
    pub fn lines(&mut self, w: &Warnings) -> Vec<String> {
        if self.quiet {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut now: HashSet<Kind> = HashSet::new();
        for x in &w.list {
            match x.severity {
                Severity::Warning => out.push(format!("nrec: warning: {}", x.text)),
                Severity::Info => out.push(format!("nrec: note: {}", x.text)),
                Severity::Note if !self.said.contains(&x.kind) => {
                    now.insert(x.kind);
                    out.push(format!("nrec: note: {}", x.text));
                }
                Severity::Note => {}
            }
        }
        self.said.extend(now);
        out
    }

    pub fn print(&mut self, w: &Warnings) {
        for l in self.lines(w) {
            eprintln!("{l}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_said_once_per_run_warnings_every_time() {
        let mut r = Reporter::new(false);
        let tick = || {
            let mut w = Warnings::default();
            w.note(Kind::FdDenied, "not privileged");
            w.note(Kind::FdDenied, "not privileged");
            w.warn(Kind::Counter, "eth0: reset");
            w
        };
        assert_eq!(
            r.lines(&tick()),
            [
                "nrec: note: not privileged",
                "nrec: note: not privileged",
                "nrec: warning: eth0: reset"
            ]
        );
        assert_eq!(r.lines(&tick()), ["nrec: warning: eth0: reset"]);
        assert!(Reporter::new(true).lines(&tick()).is_empty());
    }
}
