//! What the recorder has to tell about a sample: typed (severity and kind), gathered while
//! collecting, deriving and storing, printed once by the command. A daemon prints a note of a
//! kind once per run, not every tick; warnings (something happened to this sample) each time.

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
        let shown = crate::names::escape_bytes(&line[..line.len().min(120)]);
        self.warn(
            Kind::ProcLine,
            format!("{path} line {lineno}: {what}; line skipped: \"{shown}\""),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_named_with_its_bytes_escaped() {
        let mut w = Warnings::default();
        w.line("/proc/net/dev", 3, "bad", b"x\x1by");
        assert_eq!(w.list[0].kind, Kind::ProcLine);
        assert!(w.list[0].text.ends_with("\"x\\x1by\""), "{:?}", w.list[0]);
    }
}
