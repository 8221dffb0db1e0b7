//! What a process pays for SQLite before any of the recorder's own work: the store opened
//! as the recorder opens it (settings, schema checked), the newest sample read, one small
//! write (a `remote_write` row held and released: two short transactions), the connection
//! settled and closed. `benches/record.sh` runs it beside `nrec-record` and `sadc` on a copy
//! of the recorder's database, so the three are compared in one run:
//!
//!   cargo build --release --example sqlite_floor -p nrec-store
//!   target/release/examples/sqlite_floor DB
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(db) = std::env::args_os().nth(1) else {
        eprintln!("usage: sqlite_floor DB");
        return ExitCode::from(2);
    };
    let run = || -> nrec_model::error::Result<()> {
        let w = nrec_store::Writer::open(std::path::Path::new(&db))?;
        let now = w.last_sample()?.map_or(0, |l| l.ts_ms) + 1;
        w.hold_push("sqlite-floor", now, now)?;
        w.close();
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sqlite_floor: {e}");
            ExitCode::from(1)
        }
    }
}
