//! PERSIST: open, validate, migrate and lock the SQLite database (ARCHITECTURE.md §6).
//!
//! A file that exists is never truncated or recreated: an empty file, a text file, another
//! application's SQLite file, a corrupt file or one from a newer nrec is refused with a clear
//! error and left byte-for-byte as it was.

mod alerts;
pub mod check;
mod containers;
pub mod ebpf;
mod lifetime;
pub mod procbytes;
mod proto;
pub mod prune;
pub mod query;
mod reader;
pub mod remote;
pub mod rollup;
pub mod series;
mod units;
pub mod window;
mod write;
mod writer;

pub use alerts::{Fired, Firing};
pub use lifetime::{AllTime, AllTimeCache, ProtoValues};
pub use reader::Reader;
pub use write::{NsSamples, Written};
pub use writer::Writer;

use nrec_model::error::{Error, Exit, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The most entries a cache of a long-lived reader or writer (the roller's series ids and keysets, the addresses) holds: a daemon sees every process,
/// port and host of its lifetime, and a cache that only grows is a year-long leak. A full
/// cache is emptied and refilled by one indexed SELECT per id (~65 536 × ~100 B ≈ 6.5 MB at
/// most).
pub(crate) const CACHE_ENTRIES: usize = 1 << 16;

/// `PRAGMA application_id`: "nrec" in ASCII.
pub(crate) const APPLICATION_ID: i32 = 0x6e72_6563;

/// Migrations in order; index + 1 is the schema version they produce.
/// One schema step: its SQL (`migrations/NNNN_*.sql`) and the conversion of the data an
/// older schema stored. All in one transaction: every step's SQL first, then the conversions
/// of the steps applied, in order — a conversion runs today's code (the rollups read
/// `sample.ebpf` of step 4), so it needs today's schema. `from` is the version the database
/// had before the upgrade (0: a new database, nothing to convert).
struct Step {
    sql: &'static str,
    convert: Option<fn(&Connection, i32) -> rusqlite::Result<()>>,
}

const MIGRATIONS: &[Step] = &[
    Step {
        sql: include_str!("../migrations/0001_init.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0002_processes.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0003_rollups.sql"),
        // Packs the per-process rows and adds rollups: convert what schema 2 stored, then
        // derive the rollups from the raw samples.
        convert: Some(|conn, from| {
            procbytes::convert_v2(conn)?;
            if from > 0 {
                proto::convert_v2(conn)?;
                rollup::rebuild(conn)?;
            }
            Ok(())
        }),
    },
    Step {
        sql: include_str!("../migrations/0004_ebpf.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0005_interval_ends.sql"),
        convert: Some(|conn, from| {
            if from > 0 {
                rollup::reroll_boundaries(conn)?;
            }
            Ok(())
        }),
    },
    Step {
        sql: include_str!("../migrations/0006_carried.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0007_alerts.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0008_process_names.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0009_containers.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0010_units.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0011_users.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0012_database_id.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0013_remote_write.sql"),
        convert: None,
    },
    Step {
        sql: include_str!("../migrations/0014_idle.sql"),
        convert: None,
    },
];

pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// How long a recorder waits for another one to finish before giving up (exit 4).
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Where the system recorder (root, or the timer unit) keeps its database.
pub(crate) const SYSTEM_DB: &str = "/var/lib/nrec/nrec.db";

/// The system database: `NREC_SYSTEM_DB` when set (a host that keeps it elsewhere), else
/// [`SYSTEM_DB`].
pub(crate) fn system_db() -> PathBuf {
    std::env::var_os("NREC_SYSTEM_DB")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(SYSTEM_DB), PathBuf::from)
}

/// Whether `db` is the system database (the timer's and the daemon's), the same file by
/// another spelling included.
pub fn is_system_db(db: &Path) -> bool {
    let sys = system_db();
    match (db.canonicalize(), sys.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => db == sys,
    }
}

/// The default database for reading: the user's own if it exists, else the system one
/// (members of group nrec read the timer's database without --db), else the user's path
/// (whose absence is then reported).
pub fn default_read_path() -> PathBuf {
    pick_read_path(default_path(), &system_db())
}

fn pick_read_path(own: PathBuf, system: &Path) -> PathBuf {
    if !own.exists() && system.exists() {
        return system.to_path_buf();
    }
    own
}

/// The default database path for writing (ARCHITECTURE.md §6).
pub fn default_path() -> PathBuf {
    if nrec_sys::is_root() {
        return system_db();
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("nrec/nrec.db")
}

/// An exclusive lock on `DB.lock`, held until dropped.
pub struct WriteLock {
    _file: File,
}

/// A file beside the database named by a suffix (`.lock`, `-wal`, `.new`), byte for byte:
/// a database path that is not UTF-8 keeps its exact bytes.
pub(crate) fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The bytes the database takes on disk: its file and its WAL.
pub fn size_on_disk(db: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(beside(db, s)).ok())
        .map(|m| m.len())
        .sum()
}

fn lock_path(db: &Path) -> PathBuf {
    beside(db, ".lock")
}

/// Takes the recorder lock beside the database, waiting up to [`LOCK_WAIT`], for a process
/// that has not opened the database yet: a file that is not an nrec database is refused
/// before anything is created beside it.
pub fn lock(db: &Path) -> Result<WriteLock> {
    if db.exists() {
        check_header(db)?;
    }
    lock_open(db)
}

/// Takes the recorder lock again in a process that holds the database open (the daemon's
/// next tick). Never opens the database file: closing any descriptor of it drops every POSIX
/// lock the process holds on it, SQLite's included (sqlite.org/howtocorrupt.html §2.2). The
/// daemon re-read the header every tick that way; another program's read-write connection
/// then closed believing it was the last one, deleted the WAL, and every later sample went
/// into the unlinked file — lost.
pub fn lock_open(db: &Path) -> Result<WriteLock> {
    ensure_dir(db)?;
    let path = lock_path(db);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| Error::io("cannot open lock file", &path, &e))?;
    same_owner_as_db(&file, db, &path)?;
    let started = Instant::now();
    loop {
        let Err(e) = nrec_sys::flock_exclusive(&file, false) else {
            return Ok(WriteLock { _file: file });
        };
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::io("cannot lock", &path, &e));
        }
        if started.elapsed() >= LOCK_WAIT {
            return Err(Error::new(
                Exit::Locked,
                format!(
                    "{}: another nrec recorder has held the lock for {}s; not recording",
                    path.display(),
                    LOCK_WAIT.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Root's recorder (a manual `sudo nrec record`) gives the lock file the database's owner and
/// group, as SQLite does for `-wal` and `-shm`: a lock left `root:root 0640` made every later
/// run of the recorder's own user exit 5. On the open descriptor, so never through a link.
fn same_owner_as_db(lock: &File, db: &Path, path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !nrec_sys::is_root() {
        return Ok(());
    }
    // no database yet: root creates it, and both stay root's
    let Ok(owner) = std::fs::symlink_metadata(db) else {
        return Ok(());
    };
    let mine = lock
        .metadata()
        .map_err(|e| Error::io("cannot stat lock file", path, &e))?;
    if (mine.uid(), mine.gid()) != (owner.uid(), owner.gid()) {
        std::os::unix::fs::fchown(lock, Some(owner.uid()), Some(owner.gid()))
            .map_err(|e| Error::io("cannot give the lock file the database's owner", path, &e))?;
    }
    Ok(())
}

/// Checks the file is an nrec database this nrec can use, from its 100-byte header (before
/// SQLite opens it, so a foreign or newer file is never touched); returns whether the header
/// is already in WAL mode (read and write versions 2).
fn check_header(path: &Path) -> Result<bool> {
    // O_NONBLOCK: a FIFO (or a device) at the path must not hold the command until another
    // program opens its other end; its type is checked on the open descriptor (no race)
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("cannot open database", path, &e))?;
    let meta = f
        .metadata()
        .map_err(|e| Error::io("cannot stat database", path, &e))?;
    if !meta.is_file() {
        return Err(Error::database(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    if meta.len() == 0 {
        return Err(Error::database(format!(
            "{}: empty file, not an nrec database (refusing to overwrite it; remove it or choose another --db)",
            path.display()
        )));
    }
    let mut head = [0u8; 100];
    let n = f
        .read(&mut head)
        .map_err(|e| Error::io("cannot read database", path, &e))?;
    if n < 100 || &head[..16] != b"SQLite format 3\0" {
        return Err(Error::database(format!(
            "{}: not an SQLite database (refusing to overwrite it; choose another --db)",
            path.display()
        )));
    }
    let app = i32::from_be_bytes([head[68], head[69], head[70], head[71]]);
    let user_version = i32::from_be_bytes([head[60], head[61], head[62], head[63]]);
    if app != APPLICATION_ID && (app != 0 || user_version != 0) {
        return Err(Error::database(format!(
            "{}: an SQLite database of another application (application_id {app:#x}), not nrec's; left untouched",
            path.display()
        )));
    }
    if user_version > SCHEMA_VERSION {
        return Err(Error::database(format!(
            "{}: written by a newer nrec (schema {user_version}, this nrec knows up to {SCHEMA_VERSION}); upgrade nrec",
            path.display()
        )));
    }
    if user_version < 0 {
        return Err(Error::database(format!(
            "{}: schema version {user_version} is not one nrec ever wrote; left untouched",
            path.display()
        )));
    }
    // The page count in the header must be backed by the file; a truncated copy fails here
    // rather than half-way through a report.
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65536u64,
        p => u64::from(p),
    };
    let pages = u64::from(u32::from_be_bytes([head[28], head[29], head[30], head[31]]));
    let wal_exists = beside(path, "-wal").exists();
    if !wal_exists && page_size >= 512 && pages > 0 && meta.len() < pages * page_size {
        return Err(Error::database(format!(
            "{}: truncated ({} bytes, the header says {} pages of {page_size}); left untouched",
            path.display(),
            meta.len(),
            pages
        )));
    }
    Ok(head[18] == 2 && head[19] == 2)
}

/// Opens (creating if absent) the database for writing and brings the schema up to date.
/// Call with the [`lock`] held: creation and migration assume a single writer.
pub(crate) fn open_rw(path: &Path) -> Result<Connection> {
    open_rw_inner(path).map_err(|e| full_or(e, path))
}

/// An SQLite error while working on the database at `path`: one line naming the file and
/// what went wrong, with the exit code of its kind (README "Exit codes").
pub(crate) fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    let (exit, hint) = match code {
        Some(C::DiskFull) => (
            Exit::Full,
            "disk full; the sample was not stored and the database is unchanged",
        ),
        Some(C::ReadOnly) => (Exit::Permission, "database is read-only"),
        Some(C::PermissionDenied) | Some(C::CannotOpen) => {
            (Exit::Permission, "cannot open the database")
        }
        Some(C::DatabaseCorrupt) | Some(C::NotADatabase) => (
            Exit::Database,
            "database is corrupt or not an SQLite file; it was left untouched",
        ),
        Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => {
            (Exit::Locked, "database is busy (another writer)")
        }
        _ => (Exit::Database, "database error"),
    };
    let err = Error::new(exit, format!("{}: {hint}: {e}", path.display()));
    // SQLite reports a write that ran out of space in several ways (`SQLITE_FULL`, or an I/O
    // error while growing the WAL or its index): when the file system is full, the error is
    // what it is — disk full (exit 6), not a damaged database (exit 3).
    match code {
        Some(C::SystemIoFailure | C::CannotOpen | C::DatabaseCorrupt) => full_or(err, path),
        _ => err,
    }
}

/// SQLite reports a write that ran out of space in several ways (`SQLITE_FULL`, or an I/O
/// error while creating or switching the journal, or growing the WAL index); when the file
/// system is full, the error is what it is: disk full (exit 6), not a damaged database (exit 3).
/// Every SQLite error passes here ([`db_error`]); `open_rw` also for its file operations.
fn full_or(e: Error, path: &Path) -> Error {
    if matches!(e.exit, Exit::Full | Exit::Usage | Exit::Locked) {
        return e;
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match nrec_sys::free_bytes(dir) {
        Some(free) if free < 64 * 1024 => Error::new(
            Exit::Full,
            format!("{} (the disk is full: {free} bytes free)", e.msg),
        ),
        _ => e,
    }
}

fn open_rw_inner(path: &Path) -> Result<Connection> {
    let wal = if path.symlink_metadata().is_ok() {
        let wal = check_header(path)?;
        check_beside(path)?;
        wal
    } else {
        create_db(path)?;
        false
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(path, e))?;
    if conn
        .is_readonly(rusqlite::DatabaseName::Main)
        .unwrap_or(false)
    {
        return Err(Error::new(
            Exit::Permission,
            format!("{}: database is read-only; cannot record", path.display()),
        ));
    }
    // Before anything writes (switching to WAL rewrites the header): a version-0 file with
    // tables is somebody else's.
    let facts = schema_facts(&conn, path)?;
    refuse_foreign(&facts, path)?;
    refuse_crafted(&facts, path)?;
    configure(&conn, path, Mode::Write { wal })?;
    migrate(&conn, path, facts.version)?;
    Ok(conn)
}

/// The WAL size beyond which [`settle`] copies it into the database: about five one-shot
/// samples (~54 KiB each with 4 interfaces).
const SETTLE_WAL_BYTES: u64 = 256 * 1024;

/// Called by a writer before it closes the database: when the WAL has grown past
/// [`SETTLE_WAL_BYTES`], checkpoint it into the database and truncate it. Below that the
/// committed samples stay in the WAL for the next connection (which reads it back: ~50 µs for
/// a few samples). Checkpointing at every close cost a one-shot `record` four fsyncs and a
/// copy of every page it wrote — ~9 % of its CPU (ARCHITECTURE.md §8). Never waits: when a
/// reader holds the WAL, the next writer tries again.
pub(crate) fn settle(conn: &Connection, path: &Path) {
    if std::fs::metadata(beside(path, "-wal")).map_or(true, |m| m.len() <= SETTLE_WAL_BYTES) {
        return;
    }
    let _ = conn.busy_timeout(Duration::ZERO);
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Opens an existing database read-only for reports; another program's lock on it is waited
/// for up to `wait`.
pub(crate) fn open_ro(path: &Path, wait: Duration) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::database(format!(
            "{}: no such database; {}",
            path.display(),
            missing_hint(path, &system_db())
        )));
    }
    check_header(path)?;
    check_beside(path)?;
    let (conn, v) = match open_read(path, false, wait) {
        Ok(c) => c,
        // A WAL database on read-only media (an archived copy, a read-only mount, a
        // directory the reader cannot write) whose -shm file is missing: SQLite cannot
        // create it. With no -wal content either, the file alone is the whole database and
        // `immutable` reads it without any shared memory or lock. With -wal content, reading
        // without it would silently drop samples: say so instead.
        Err(e) if cannot_open(&e) => match wal_len(path) {
            0 => open_read(path, true, wait).map_err(|e| db_error(path, e))?,
            n => {
                return Err(Error::new(
                    Exit::Permission,
                    format!(
                        "{}: its {} holds {n} bytes of samples but its -shm file is missing and cannot be created here (read-only); copy the database with its -wal file to a writable directory and read it there",
                        path.display(),
                        beside(path, "-wal").display()
                    ),
                ));
            }
        },
        Err(e) => return Err(db_error(path, e)),
    };
    refuse_crafted(&schema_facts(&conn, path)?, path)?;
    if v == 0 {
        return Err(Error::database(format!(
            "{}: has no nrec schema yet; run `nrec record` first",
            path.display()
        )));
    }
    if v < SCHEMA_VERSION {
        // Reports never write; the recorder upgrades the schema on its next run.
        return Err(Error::database(format!(
            "{}: written by an older nrec (schema {v}, this nrec reads {SCHEMA_VERSION}); \
             run `nrec record` once as the recorder's user to upgrade it",
            path.display()
        )));
    }
    Ok(conn)
}

/// What to do about a missing database: the system recorder's may exist where this user
/// cannot see it (its directory is 0750 root:nrec), which `exists()` cannot tell from absent.
fn missing_hint(path: &Path, system: &Path) -> String {
    let denied = |p: &Path| {
        std::fs::metadata(p).is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
    };
    if path != system && denied(system) {
        format!(
            "the system recorder's database {} may exist but you cannot read it: join group nrec (`sudo usermod -aG nrec $USER`, then log in again) or run nrec with sudo",
            system.display()
        )
    } else {
        "run `nrec record` first (or pass --db)".into()
    }
}

/// Opens `path` for reading, configured, and reads its schema version (the first read, where
/// SQLite finds out whether it can use the WAL). `immutable`: read the file alone, no -wal,
/// -shm or locks (only for a database whose -wal is empty or missing).
fn open_read(path: &Path, immutable: bool, wait: Duration) -> rusqlite::Result<(Connection, i32)> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(path)),
            flags | OpenFlags::SQLITE_OPEN_URI,
        )?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    configure(&conn, path, Mode::Read).map_err(|e| malformed(e.msg))?;
    conn.busy_timeout(wait)?;
    let v = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok((conn, v))
}

/// SQLite could not open or set up the WAL's shared memory: read-only media or directory.
fn cannot_open(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, C::CannotOpen | C::ReadOnly))
}

/// The size of the -wal file beside the database (0 when there is none).
fn wal_len(path: &Path) -> u64 {
    std::fs::symlink_metadata(beside(path, "-wal"))
        .ok()
        .filter(|m| m.is_file())
        .map_or(0, |m| m.len())
}

/// SQLite's files beside the database (`-wal`, `-shm`, `-journal`) must be regular files:
/// SQLite refuses a symbolic link there (one planted by another user would point it at any
/// file), and every opener would then fail with "unable to open database file". Said here
/// instead, naming the file, what it is and who owns it.
fn check_beside(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for (suffix, what) in [
        ("-wal", "write-ahead log"),
        ("-shm", "shared-memory index"),
        ("-journal", "rollback journal"),
    ] {
        let p = beside(path, suffix);
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let kind = if m.file_type().is_symlink() {
            "a symbolic link"
        } else if !m.is_file() {
            "not a regular file"
        } else {
            continue;
        };
        let owner = nrec_sys::user_name(m.uid())
            .map(|n| nrec_model::names::escape_bytes(&n))
            .unwrap_or_else(|| format!("uid {}", m.uid()));
        return Err(Error::new(
            Exit::Permission,
            format!(
                "{}: {kind} (owned by {owner}) where SQLite keeps the database's {what}; nrec never follows it and cannot open the database until it is removed (remove it if neither you nor nrec made it)",
                p.display()
            ),
        ));
    }
    Ok(())
}

/// A path as a `file:` URI path, byte for byte: everything but unreserved characters and `/`
/// percent-encoded (a name may hold `?`, `#`, `%` or bytes that are not UTF-8).
fn uri_path(path: &Path) -> String {
    use std::fmt::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut s = String::new();
    for b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(b) {
            s.push(char::from(*b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// Creates the database's directory (mode 0750) if it does not exist.
fn ensure_dir(db: &Path) -> Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(|e| Error::io("cannot create directory", dir, &e))?;
        }
    }
    Ok(())
}

/// Creates a new database atomically: the schema is written to `DB.new` and then linked
/// into place, so a crash leaves either no database or a complete one — never an empty file
/// that later runs would (rightly) refuse to touch.
fn create_db(path: &Path) -> Result<()> {
    ensure_dir(path)?;
    let tmp = beside(path, ".new");
    let res = create_at(path, &tmp);
    if res.is_err() {
        // a failed creation (a full disk) leaves nothing behind
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(beside(&tmp, suffix));
        }
    }
    res
}

fn create_at(path: &Path, tmp: &Path) -> Result<()> {
    // A leftover from a crashed creation; we hold the lock, so nobody else is creating.
    for suffix in ["", "-journal"] {
        let _ = std::fs::remove_file(beside(tmp, suffix));
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(tmp)
        .map_err(|e| Error::io("cannot create database", tmp, &e))?;
    let conn = Connection::open_with_flags(
        tmp,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(tmp, e))?;
    migrate(&conn, tmp, 0)?;
    conn.close().map_err(|(_, e)| db_error(tmp, e))?;
    std::fs::hard_link(tmp, path).map_err(|e| Error::io("cannot create database", path, &e))?;
    let _ = std::fs::remove_file(tmp);
    Ok(())
}

/// What the open checks need from the schema, read in one statement (one read transaction:
/// every statement a one-shot `record` runs is CPU time, §8).
struct Facts {
    version: i32,
    objects: i64,
    /// The first trigger or view: (type, name).
    crafted: Option<(String, String)>,
}

fn schema_facts(conn: &Connection, path: &Path) -> Result<Facts> {
    const ODD: &str = "FROM sqlite_schema WHERE type IN ('trigger', 'view') LIMIT 1";
    conn.query_row(
        &format!(
            "SELECT v.user_version, (SELECT count(*) FROM sqlite_schema),
                    (SELECT type {ODD}), (SELECT name {ODD})
             FROM pragma_user_version v"
        ),
        [],
        |r| {
            let kind: Option<String> = r.get(2)?;
            let name: Option<String> = r.get(3)?;
            Ok(Facts {
                version: r.get(0)?,
                objects: r.get(1)?,
                crafted: kind.map(|k| (k, name.unwrap_or_default())),
            })
        },
    )
    .map_err(|e| db_error(path, e))
}

/// nrec creates no trigger and no view. One in the file was put there by someone else — a
/// trigger would run its SQL inside our writes, a view standing in for a table can recurse
/// forever — so the file is refused before any row is read or written (exit 3).
fn refuse_crafted(f: &Facts, path: &Path) -> Result<()> {
    match &f.crafted {
        Some((kind, name)) => Err(Error::database(format!(
            "{}: holds a {kind} {:?} that nrec never creates (a modified or crafted database); \
             refusing to read or write it",
            path.display(),
            nrec_model::names::escape_bytes(name.as_bytes())
        ))),
        None => Ok(()),
    }
}

/// A version-0 file with tables is somebody else's.
fn refuse_foreign(f: &Facts, path: &Path) -> Result<()> {
    if f.version == 0 && f.objects > 0 {
        return Err(Error::database(format!(
            "{}: an SQLite database with tables but no nrec schema; left untouched",
            path.display()
        )));
    }
    Ok(())
}

/// How a connection is used: reports read; `record`, `daemon`, `prune`… write (`wal`: the
/// header already says WAL, so switching is not needed).
#[derive(Clone, Copy)]
enum Mode {
    Read,
    Write { wal: bool },
}

/// Per-connection settings. Flags go through `sqlite3_db_config` rather than PRAGMA text: every
/// statement a one-shot `record` prepares is CPU time (ARCHITECTURE.md §8).
fn configure(conn: &Connection, path: &Path, mode: Mode) -> Result<()> {
    use rusqlite::config::DbConfig;
    let e = |e| db_error(path, e);
    // Another program's lock on the file is waited for as long as another recorder's flock
    // (the README's 10 s), then exit 4.
    conn.busy_timeout(LOCK_WAIT).map_err(e)?;
    // Room for every cached statement a sample or a report uses (about 45; rusqlite's
    // default is 16), so a daemon never evicts and recompiles one between ticks.
    conn.set_prepared_statement_cache_capacity(128);
    // A crafted schema cannot run functions with side effects from views or triggers.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
        .map_err(e)?;
    match mode {
        Mode::Read => conn.execute_batch("PRAGMA query_only = ON;").map_err(e)?,
        Mode::Write { wal } => {
            // The bundled SQLite enforces foreign keys by default. The REFERENCES clauses
            // document the schema; consistency is the writer's (one transaction per sample,
            // pruning by sample range), and enforcement would cost every insert a lookup.
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, false)
                .map_err(e)?;
            // Keep -wal/-shm after close so read-only group readers can open the database.
            // SAFETY: the handle is valid for the life of conn; the op takes a pointer to int.
            unsafe {
                let mut on: libc::c_int = 1;
                rusqlite::ffi::sqlite3_file_control(
                    conn.handle(),
                    c"main".as_ptr(),
                    rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
                    (&mut on as *mut libc::c_int).cast(),
                );
            }
            if !wal {
                let mode: String = conn
                    .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                    .map_err(e)?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(Error::database(format!(
                        "{}: cannot switch to WAL (journal_mode is {mode})",
                        path.display()
                    )));
                }
            }
            // With a persistent WAL, SQLite truncates it after a checkpoint (the daemon's
            // automatic ones restart it) only when a size limit is set; without one it keeps
            // its largest size. [`settle`] truncates it explicitly.
            conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 0;")
                .map_err(e)?;
            // Writers checkpoint in [`settle`], when the WAL has grown, not on every close.
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
                .map_err(e)?;
        }
    }
    Ok(())
}

/// Upgrades a file at schema `cur` (as read by [`schema_facts`] or 0 for a new file).
fn migrate(conn: &Connection, path: &Path, cur: i32) -> Result<()> {
    if cur >= SCHEMA_VERSION {
        return Ok(());
    }
    // The header was checked, but the version is read again here: never index by a number
    // from the file without bounds.
    let Some(steps) = usize::try_from(cur).ok().and_then(|c| MIGRATIONS.get(c..)) else {
        return Err(Error::database(format!(
            "{}: schema version {cur} is not one nrec ever wrote; left untouched",
            path.display()
        )));
    };
    if cur == 0 {
        // Before the first table: pruning can then hand pages back (incremental_vacuum).
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
            .map_err(|e| db_error(path, e))?;
    }
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| db_error(path, e))?;
    let res = (|| -> rusqlite::Result<()> {
        for step in steps {
            conn.execute_batch(step.sql)?;
        }
        for convert in steps.iter().filter_map(|s| s.convert) {
            convert(conn, cur)?;
        }
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        ))
    })();
    match res {
        Ok(()) => {
            conn.execute_batch("COMMIT")
                .map_err(|e| db_error(path, e))?;
            // Incremental auto-vacuum lets pruning hand pages back; an existing file needs
            // one full VACUUM to switch (new files are created with it).
            let auto: i64 = conn
                .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
                .map_err(|e| db_error(path, e))?;
            if auto != 2 {
                conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
                    .map_err(|e| db_error(path, e))?;
            }
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(db_error(path, e))
        }
    }
}
/// A statement run once per row of many (a namespace's, a rollup row's): SQL and its slot in
/// a [`Held`].
pub(crate) struct Sql(pub usize, pub &'static str);

/// Statements taken from the connection's cache once and held while many rows are written:
/// taking a statement per row (a lookup by its SQL text, then handing it back) cost an idle
/// namespace ~1 µs of its rows' ~8 (1 000 namespaces). Each is prepared on first use, so a
/// statement a sample does not need is never compiled.
pub(crate) struct Held<'c, const N: usize> {
    pub conn: &'c Connection,
    held: [Option<rusqlite::CachedStatement<'c>>; N],
}

impl<'c, const N: usize> Held<'c, N> {
    pub fn new(conn: &'c Connection) -> Self {
        Held {
            conn,
            held: std::array::from_fn(|_| None),
        }
    }

    /// `sql`'s statement (slot `sql.0`, below N: a constant of the caller's).
    pub fn get(&mut self, sql: &Sql) -> rusqlite::Result<&mut rusqlite::CachedStatement<'c>> {
        let slot = self
            .held
            .get_mut(sql.0)
            .ok_or(rusqlite::Error::InvalidQuery)?;
        if slot.is_none() {
            *slot = Some(self.conn.prepare_cached(sql.1)?);
        }
        slot.as_mut().ok_or(rusqlite::Error::InvalidQuery)
    }
}

/// The id of the dictionary row `select` finds (sysinfo, netns, iface, keyset, series, addr,
/// process), inserting it with `insert` (an `INSERT OR IGNORE`) only when it is missing. In the
/// steady state every row exists, so a one-shot `record` prepares and runs only the SELECT
/// (SQL preparation is the largest share of its CPU time; ARCHITECTURE.md §8).
pub(crate) fn intern(
    conn: &Connection,
    select: &str,
    select_args: impl rusqlite::Params + Copy,
    insert: &str,
    insert_args: impl rusqlite::Params,
) -> rusqlite::Result<i64> {
    let find = || -> rusqlite::Result<Option<i64>> {
        conn.prepare_cached(select)?
            .query_row(select_args, |r| r.get(0))
            .optional()
    };
    if let Some(id) = find()? {
        return Ok(id);
    }
    conn.prepare_cached(insert)?.execute(insert_args)?;
    find()?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// u64 counter → SQLite INTEGER, same 64-bit pattern (lossless both ways).
pub(crate) fn to_sql(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

/// SQLite INTEGER → u64 counter (inverse of [`to_sql`]).
pub(crate) fn from_sql(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

/// A signed number as an unsigned one whose varint is short when the number is near zero
/// (-1 → 1, 1 → 2): the stored days of `past_sums`, the quarter differences of rollups.
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// LEB128 varints: the protocol-counter and socket blobs (the model's, which holds readings
/// in the same form).
pub use nrec_model::varint::encode as encode_varints;
pub(crate) use nrec_model::varint::{decode as decode_varints, read as read_varint};

pub use nrec_model::limit;

/// Reads a text or blob column no longer than its [`limit`].
pub trait Bounded {
    fn bounded<T: rusqlite::types::FromSql>(&self, i: usize, max: usize) -> rusqlite::Result<T>;
}

impl Bounded for rusqlite::Row<'_> {
    fn bounded<T: rusqlite::types::FromSql>(&self, i: usize, max: usize) -> rusqlite::Result<T> {
        use rusqlite::types::ValueRef;
        let v = self.get_ref(i)?;
        if let ValueRef::Text(b) | ValueRef::Blob(b) = v {
            if b.len() > max {
                let col = self.as_ref().column_name(i).unwrap_or("value").to_string();
                return Err(rusqlite::Error::FromSqlConversionFailure(
                    i,
                    v.data_type(),
                    format!(
                        "a stored {col} of {} bytes, longer than nrec ever stores ({max}): \
                         a crafted or damaged database",
                        b.len()
                    )
                    .into(),
                ));
            }
        }
        self.get(i)
    }
}

/// The error for a stored row that does not decode (a corrupt blob is reported with what it
/// was, never guessed at).
pub fn malformed(what: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Blob,
        format!("{what}: malformed").into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_fall_back_to_the_system_database() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path().join("own.db");
        let system = d.path().join("system.db");
        assert_eq!(
            pick_read_path(own.clone(), &system),
            own,
            "neither: name the user's"
        );
        std::fs::write(&system, b"x").unwrap();
        assert_eq!(pick_read_path(own.clone(), &system), system);
        std::fs::write(&own, b"x").unwrap();
        assert_eq!(
            pick_read_path(own.clone(), &system),
            own,
            "the user's own wins"
        );
    }

    #[test]
    fn varints_round_trip() {
        let vals = [0, 1, 127, 128, 300, u64::MAX, 1 << 63, 4_000_000_000];
        let mut b = vec![];
        encode_varints(vals.iter().copied(), &mut b);
        assert_eq!(decode_varints(&b).unwrap(), vals);
        assert!(decode_varints(&[0x80]).is_none());
        assert!(decode_varints(&[0xff; 11]).is_none());
        assert_eq!(from_sql(to_sql(u64::MAX)), u64::MAX);
    }
}
