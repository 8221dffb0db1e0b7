//! One error type for every layer, carrying the exit code the README documents (an SQLite
//! error becomes one in `nrec-store`, which knows what its codes mean).
//!
//! Every failure a user can cause or meet (bad arguments, a foreign database, a full disk)
//! becomes one clear line naming the input, and a distinct exit code that scripts can test.

use std::fmt;
use std::path::Path;

/// Exit codes, documented in the README ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: anything else that went wrong at run time (unreadable /proc, I/O error).
    Failure = 1,
    /// 2: bad command-line arguments or configuration.
    Usage = 2,
    /// 3: the database is missing, not nrec's, corrupt, truncated or from a newer nrec.
    Database = 3,
    /// 4: another recorder holds the database lock for longer than we wait.
    Locked = 4,
    /// 5: permission denied (read-only database, missing privileges).
    Permission = 5,
    /// 6: the disk is full: the sample was not stored, the database is unchanged.
    Full = 6,
}

#[derive(Debug)]
pub struct Error {
    pub exit: Exit,
    pub msg: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(exit: Exit, msg: impl Into<String>) -> Self {
        Error {
            exit,
            msg: msg.into(),
        }
    }
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::new(Exit::Usage, msg)
    }
    pub fn failure(msg: impl Into<String>) -> Self {
        Self::new(Exit::Failure, msg)
    }
    pub fn database(msg: impl Into<String>) -> Self {
        Self::new(Exit::Database, msg)
    }

    /// An I/O error on a named path, classified by kind.
    pub fn io(what: &str, path: &Path, e: &std::io::Error) -> Self {
        let exit = match e.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                Exit::Permission
            }
            std::io::ErrorKind::StorageFull => Exit::Full,
            _ => Exit::Failure,
        };
        Error::new(exit, format!("{what} {}: {e}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}
