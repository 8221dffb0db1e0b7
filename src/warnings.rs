//! What the recorder has to tell about a sample: typed (severity and kind), gathered while
//! collecting, deriving and storing, printed once by the command. A daemon prints a note of a
//! kind once per run, not every tick; warnings (something happened to this sample) each time.

use std::collections::HashSet;

/// How much it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// A standing fact about this host or run (privileges, a source that is off).
    Note,
    /// Something happened to this sample (a reset, a failed dump, a full map).
    Warning,
    /// What this run did, asked for with -v (printed as a note, every time).
    Info,
}

/// What it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A malformed /proc line (skipped).
    ProcLine,
    /// A captured /proc tree read as one namespace, or a file missing from it.
    ProcRoot,
    /// Processes whose namespace link could not be read.
    NetnsDenied,
    /// A namespace that could not be read or entered.
    Netns,
    /// The socket dump failed.
    SockDiag,
    /// The daemon's TCP destroy listeners.
    Closed,
    /// The pcap fallback.
    Pcap,
    /// The monotonic clock did not advance.
    Clock,
    /// A counter went down or an interface was re-created.
    Counter,
    /// A counter jump beyond what the link can carry.
    Implausible,
    /// Processes whose open files could not be read (owners unknown).
    FdDenied,
    /// eBPF accounting: unavailable, map full, forgetting failed.
    Ebpf,
    /// Retention.
    Prune,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub severity: Severity,
    pub kind: Kind,
    pub text: String,
}

/// The warnings of one sample.
#[derive(Debug, Default)]
pub struct Warnings {
    pub list: Vec<Warning>,
}

impl Warnings {
    pub fn warn(&mut self, kind: Kind, text: impl Into<String>) {
        self.list.push(Warning {
            severity: Severity::Warning,
            kind,
            text: text.into(),
        });
    }

    pub fn info(&mut self, kind: Kind, text: impl Into<String>) {
        self.list.push(Warning {
            severity: Severity::Info,
            kind,
            text: text.into(),
        });
    }

    pub fn note(&mut self, kind: Kind, text: impl Into<String>) {
        self.list.push(Warning {
            severity: Severity::Note,
            kind,
            text: text.into(),
        });
    }

    /// A malformed /proc line: name the file and line, show the bytes escaped.
    pub fn line(&mut self, path: &str, lineno: usize, what: &str, line: &[u8]) {
        let shown: String = line
            .iter()
            .take(120)
            .flat_map(|b| std::ascii::escape_default(*b))
            .map(char::from)
            .collect();
        self.warn(
            Kind::ProcLine,
            format!("{path} line {lineno}: {what}; line skipped: \"{shown}\""),
        );
    }

    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|w| w.text.as_str())
    }
}

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
        let mut w = Warnings::default();
        w.line("/proc/net/dev", 3, "bad", b"x\x1by");
        assert_eq!(w.list[0].kind, Kind::ProcLine);
        assert!(w.list[0].text.ends_with("\"x\\x1by\""), "{:?}", w.list[0]);
    }
}
