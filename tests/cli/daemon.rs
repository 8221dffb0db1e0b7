//! `nrec daemon`: a sample at start, SIGHUP reopens the database (and reloads the config),
//! SIGTERM takes a last sample and exits 0.

use crate::harness::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn samples(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM sample", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn daemon_samples_reopens_on_sighup_and_takes_a_last_sample_on_sigterm() {
    let env = Env::new();
    let p = FakeProc::new();
    p.write();
    let mut child = env
        .cmd(&["daemon", "--interval", "1h"])
        .env("NREC_PROC_ROOT", p.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    wait_for("the first sample", || samples(&env.db) == 1);

    // Move the database away (with its -wal/-shm and lock) and ask for a reopen.
    let state = env.db.parent().unwrap().to_path_buf();
    let moved = env.tmp.path().join("state.old");
    std::fs::rename(&state, &moved).unwrap();
    // SAFETY: signals to the child we spawned (not yet reaped).
    unsafe { libc::kill(pid, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP does not end the daemon"
    );
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("SIGHUP: config reloaded, database reopened"),
        "{err}"
    );
    assert_eq!(
        samples(&moved.join("nrec.db")),
        1,
        "the first sample, in the old file"
    );
    assert_eq!(
        samples(&env.db),
        1,
        "the last sample, in the reopened (new) database"
    );
}

#[test]
fn daemon_rejects_a_bad_interval() {
    let env = Env::new();
    let out = env.cmd(&["daemon", "--interval", "0s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = env.cmd(&["daemon", "--interval", "soon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}
