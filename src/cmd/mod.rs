//! One module per subcommand, each with a `run`; this holds what they share.

pub mod record;
pub mod report;

use crate::recorder::Warnings;
use std::path::PathBuf;

/// Global options, resolved once.
pub struct Global {
    pub db: Option<PathBuf>,
    pub verbose: u8,
    pub quiet: bool,
}

impl Global {
    pub fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(crate::store::default_path)
    }

    /// Warnings and notes go to stderr, one line each, unless -q.
    pub fn print_warnings(&self, w: &Warnings) {
        if self.quiet {
            return;
        }
        for line in &w.list {
            if let Some(note) = line.strip_prefix("note: ") {
                eprintln!("nrec: note: {note}");
            } else {
                eprintln!("nrec: warning: {line}");
            }
        }
    }
}
