//! The database under stress: files that are not ours, crashes, concurrency, full disks.

use crate::harness::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn sum_rx(env: &Env, iface: &[u8]) -> (u64, u64, u64) {
    // (sum of stored deltas, first raw reading, last raw reading)
    let c = env.sql();
    let q = |sql: &str| -> i64 {
        c.query_row(sql, [iface], |r| r.get::<_, Option<i64>>(0))
            .unwrap()
            .unwrap_or(0)
    };
    let j = "FROM iface_sample x JOIN iface i ON i.id = x.iface WHERE i.name = ?1";
    (
        q(&format!("SELECT sum(x.d_rx_bytes) {j}")) as u64,
        q(&format!("SELECT x.rx_bytes {j} ORDER BY x.sample LIMIT 1")) as u64,
        q(&format!(
            "SELECT x.rx_bytes {j} ORDER BY x.sample DESC LIMIT 1"
        )) as u64,
    )
}

fn integrity_ok(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let r: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(r, "ok");
}

/// Every stored sample is whole: as many interface rows as interfaces.
fn no_partial_samples(env: &Env, per_sample: i64) {
    let c = env.sql();
    let bad: i64 = c
        .query_row(
            "SELECT count(*) FROM sample s WHERE (SELECT count(*) FROM iface_sample x WHERE x.sample = s.id) != ?1",
            [per_sample],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad, 0, "partial samples stored");
}

fn assert_refused(env: &Env, content_before: &[u8], needle: &str) {
    for args in [&["record"][..], &["report", "--since", "1d"][..]] {
        let out = env
            .cmd(args)
            .env("NREC_PROC_ROOT", FakeProc::new().path())
            .env("NREC_NOW", at(0))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
        assert!(
            err.contains(&env.db.display().to_string()),
            "names the file: {err}"
        );
        assert_eq!(
            std::fs::read(&env.db).unwrap(),
            content_before,
            "file changed"
        );
    }
}

fn write_db(env: &Env, bytes: &[u8]) {
    std::fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    std::fs::write(&env.db, bytes).unwrap();
}

/// A checkpointed nrec database with a few samples, as bytes.
fn valid_db_bytes() -> Vec<u8> {
    let env = Env::new();
    let mut p = FakeProc::new();
    for m in 0..20 {
        p.uptime_ms += 60_000;
        p.iface(b"eth0").add(1000, 1, 1000, 1);
        env.record_ok(&p, &at(m));
    }
    let c = env.sql();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
        .unwrap();
    drop(c);
    std::fs::read(&env.db).unwrap()
}

#[test]
fn foreign_broken_and_newer_files_are_refused_untouched() {
    let text = b"this is my shopping list\n".to_vec();
    let env = Env::new();
    write_db(&env, &text);
    assert_refused(&env, &text, "not an SQLite database");

    let env = Env::new();
    write_db(&env, b"");
    assert_refused(&env, b"", "empty file");

    let good = valid_db_bytes();
    assert!(good.len() > 8192);
    let env = Env::new();
    write_db(&env, &good[..good.len() / 2]);
    assert_refused(&env, &good[..good.len() / 2], "truncated");

    let mut corrupt = good.clone();
    for b in &mut corrupt[100..4096] {
        *b = 0xA5;
    }
    let env = Env::new();
    write_db(&env, &corrupt);
    assert_refused(&env, &corrupt, "corrupt");

    let mut newer = good.clone();
    newer[60..64].copy_from_slice(&99i32.to_be_bytes());
    let env = Env::new();
    write_db(&env, &newer);
    assert_refused(&env, &newer, "newer nrec");

    for (app_id, needle) in [(0x1234_5678, "another application"), (0, "no nrec schema")] {
        let env = Env::new();
        std::fs::create_dir_all(env.db.parent().unwrap()).unwrap();
        let c = rusqlite::Connection::open(&env.db).unwrap();
        c.execute_batch(&format!(
            "CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup'); PRAGMA application_id = {app_id};"
        ))
        .unwrap();
        drop(c);
        let before = std::fs::read(&env.db).unwrap();
        assert_refused(&env, &before, needle);
    }
}

#[test]
fn missing_database_for_report_is_a_clear_error() {
    let env = Env::new();
    let out = env.cmd(&["report"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `nrec record` first"));
    assert!(!env.db.exists(), "a report never creates a database");
}

#[test]
fn kill_9_during_record_never_loses_or_double_counts() {
    let env = Env::new();
    let mut p = FakeProc::new();
    // Many interfaces make a record take long enough to be killed part-way.
    for k in 0..200u32 {
        p.ifaces
            .push(FakeIface::new(format!("veth{k}").as_bytes(), 100 + k));
    }
    env.record_ok(&p, &at(0));
    let mut killed = 0;
    for round in 1..=40i64 {
        p.uptime_ms += 60_000;
        p.iface(b"eth0").add(1_000_000 + round as u64, 1000, 0, 0);
        p.write();
        let mut child = env
            .cmd(&["record"])
            .env("NREC_PROC_ROOT", p.path())
            .env("NREC_NOW", at(round))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the whole run: startup, collection, the transaction, commit.
        std::thread::sleep(Duration::from_micros((round as u64 * 797) % 12_000));
        let _ = child.kill(); // SIGKILL
        if !child.wait().unwrap().success() {
            killed += 1;
        }
    }
    assert!(
        killed > 5,
        "only {killed} runs were killed: the test did not test"
    );
    p.uptime_ms += 60_000;
    p.iface(b"eth0").add(5, 1, 0, 0);
    env.record_ok(&p, &at(41));
    integrity_ok(&env.db);
    no_partial_samples(&env, p.ifaces.len() as i64);
    let (sum, first, last) = sum_rx(&env, b"eth0");
    assert_eq!(
        sum,
        last - first,
        "stored deltas must add up to the counter's growth"
    );
    let expected: u64 = (1..=40).map(|r| 1_000_000 + r).sum::<u64>() + 5;
    assert_eq!(last - first, expected);
}

#[test]
fn concurrent_recorders_and_readers() {
    // Live /proc: each recorder reads the counters after taking the lock, so the stored
    // sequence is monotonic and deltas add up however the runs interleave.
    let env = Env::new();
    let first = env.cmd(&["record", "-q"]).output().unwrap();
    assert_success(&first);
    let mut children = Vec::new();
    for _ in 0..4 {
        for _ in 0..3 {
            children.push(
                env.cmd(&["record", "-q"])
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        // readers at the same time
        for _ in 0..2 {
            children.push(
                env.cmd(&["report", "-q", "--since", "1h", "-n", "DEV,TCP"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        // generate some loopback traffic between rounds
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        std::io::Write::write_all(&mut c, &[7u8; 50_000]).unwrap();
        drop(c);
        std::io::copy(&mut s, &mut std::io::sink()).unwrap();
    }
    for ch in children {
        let out = ch.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{:?}: {err}", out.status);
    }
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 13, "every recorder stored its sample");
    integrity_ok(&env.db);
    let (sum, first, last) = sum_rx(&env, b"lo");
    assert_eq!(sum, last - first, "no double count, no loss");
    assert!(last - first >= 4 * 50_000);
    let bad: i64 = env
        .sql()
        .query_row(
            "SELECT count(*) FROM iface_sample WHERE flags & 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        bad, 0,
        "interleaved recorders must never look like counter resets"
    );
}

fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0755"),
            "tmpfs",
        ])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs(std::path::PathBuf);
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// An environment whose database lives on a fresh tmpfs of `size`; None (with the reason
/// printed) where this is not possible: not root, or no tmpfs.
fn env_on_tmpfs(test: &str, size: &str) -> Option<(Env, Tmpfs)> {
    if !is_root() {
        skip(test, "needs root to mount a tmpfs");
        return None;
    }
    let mut env = Env::new();
    let mnt = env.tmp.path().join("mnt");
    if !mount_tmpfs(&mnt, size) {
        skip(test, "mount -t tmpfs failed");
        return None;
    }
    env.db = mnt.join("nrec.db");
    Some((env, Tmpfs(mnt)))
}

#[test]
fn disk_full_is_a_clear_error_and_the_next_run_catches_up() {
    let Some((env, mnt)) = env_on_tmpfs("disk_full", "400k") else {
        return;
    };
    let mut p = FakeProc::new();
    for k in 0..300u32 {
        p.ifaces
            .push(FakeIface::new(format!("if{k}").as_bytes(), 100 + k));
    }
    let mut full = None;
    let mut expected_growth = 0u64;
    for m in 0..200 {
        p.uptime_ms += 60_000;
        p.iface(b"eth0").add(1000, 1, 0, 0);
        if m > 0 {
            expected_growth += 1000;
        }
        let out = env.record(&p, &at(m));
        if !out.status.success() {
            full = Some(out);
            break;
        }
    }
    let out = full.expect("the disk never filled up");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains("disk full"), "{err}");
    integrity_ok(&env.db);
    // More room; the next sample's delta covers what the failed one missed.
    assert!(
        Command::new("mount")
            .args(["-o", "remount,size=20m"])
            .arg(&mnt.0)
            .status()
            .unwrap()
            .success()
    );
    p.uptime_ms += 60_000;
    p.iface(b"eth0").add(1000, 1, 0, 0);
    expected_growth += 1000;
    env.record_ok(&p, &at(500));
    let (sum, first, last) = sum_rx(&env, b"eth0");
    assert_eq!(last - first, expected_growth);
    assert_eq!(
        sum, expected_growth,
        "bytes of the failed run are accounted for"
    );
}

#[test]
fn read_only_database_is_refused_for_recording_but_readable() {
    let Some((env, mnt)) = env_on_tmpfs("read_only", "20m") else {
        return;
    };
    let mut p = FakeProc::new();
    for m in 0..3 {
        p.uptime_ms += 60_000;
        p.iface(b"eth0").add(1000, 1, 0, 0);
        env.record_ok(&p, &at(m));
    }
    let before = std::fs::read(&env.db).unwrap();
    assert!(
        Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&mnt.0)
            .status()
            .unwrap()
            .success()
    );
    let out = env.record(&p, &at(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("read-only") || err.contains("Read-only"),
        "{err}"
    );
    // Reports still work: the WAL files were kept, so a read-only open needs no writes.
    let rep = env.report_ok(
        &["--date", "2026-11-22", "--iface", "eth0", "--format", "csv"],
        &at(100),
    );
    assert_eq!(parse_csv(&rep).1.len(), 2);
    assert_eq!(std::fs::read(&env.db).unwrap(), before);
}

#[test]
fn an_older_schema_is_upgraded_by_the_recorder_not_by_reports() {
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &at(0));
    // Pretend the file was written by schema 1: drop what schema 2 added.
    env.sql()
        .execute_batch(
            "DROP TABLE proc_bytes; DROP TABLE addr; DROP TABLE process; DROP TABLE sock_base;
             DROP TABLE attrib_sample; DROP TABLE rollup; DROP TABLE series;
             DROP TABLE meta; PRAGMA user_version = 1;",
        )
        .unwrap();
    let out = env.report(&["--date", "2026-11-22"], &at(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("older nrec") && err.contains("nrec record"),
        "{err}"
    );
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(1));
    let v: i64 = env
        .sql()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 3, "the recorder migrated it");
    env.report_ok(&["--date", "2026-11-22", "-n", "DEV,PROC"], &at(10));
    // The migration derived rollups from the samples schema 1 had stored.
    let check = env.cmd(&["check"]).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let auto: i64 = env
        .sql()
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto, 2, "switched to incremental auto-vacuum");
}
