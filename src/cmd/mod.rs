//! One module per subcommand, each with a `run`; this holds what they share.

pub mod proc;
pub mod record;
pub mod report;
pub mod top;

use crate::recorder::Warnings;
use std::path::PathBuf;

/// Global options, resolved once.
pub struct Global {
    pub db: Option<PathBuf>,
    pub verbose: u8,
    pub quiet: bool,
}

impl Global {
    /// The database a recorder writes.
    pub fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(crate::store::default_path)
    }

    /// The database a report reads.
    pub fn db_read_path(&self) -> PathBuf {
        self.db
            .clone()
            .unwrap_or_else(crate::store::default_read_path)
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
