//! The database under stress: files that are not ours, crashes, concurrency, full disks.

use crate::harness::*;
use std::os::unix::ffi::OsStrExt;
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
    let j = |t: &str| format!("FROM {t} x JOIN iface i ON i.id = x.iface WHERE i.name = ?1");
    (
        q(&format!("SELECT sum(x.d_rx_bytes) {}", j("iface_sample"))) as u64,
        // the baseline's readings (kept with flagged rows), and the latest readings
        q(&format!(
            "SELECT x.rx_bytes {} ORDER BY x.sample LIMIT 1",
            j("iface_raw")
        )) as u64,
        q(&format!(
            "SELECT x.rx_bytes {} ORDER BY x.sample DESC LIMIT 1",
            j("iface_last")
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
    let lock = env.db.with_file_name("nrec.db.lock");
    let lock_before = lock.exists();
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
        // a file that is not SQLite at all gets nothing created beside it
        if ["not an SQLite database", "empty file"].contains(&needle) {
            assert_eq!(
                lock.exists(),
                lock_before,
                "{args:?} left a .lock beside {needle}"
            );
        }
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

/// Writers do not checkpoint at every close (four fsyncs per one-shot sample): committed
/// samples stay in the WAL, where every later connection reads them, and the WAL is copied
/// into the database and truncated once it passes 256 KiB — so it stays bounded.
#[test]
fn the_wal_carries_recent_samples_and_stays_bounded() {
    wal_stays_bounded(Env::new());
    // The WAL beside a database whose path is not UTF-8 is found by its exact bytes.
    let mut env = Env::new();
    env.db = env
        .tmp
        .path()
        .join(std::ffi::OsStr::from_bytes(b"state-\xff/nrec.db"));
    wal_stays_bounded(env);
}

fn wal_stays_bounded(env: Env) {
    let mut p = FakeProc::new();
    let mut wal = env.db.clone().into_os_string();
    wal.push("-wal");
    let (mut max, mut truncations, mut prev) = (0u64, 0, 0u64);
    for m in 0..60 {
        p.uptime_ms += 60_000;
        p.iface(b"eth0").add(1000, 1, 1000, 1);
        env.record_ok(&p, &at(m));
        let len = std::fs::metadata(&wal).map_or(0, |x| x.len());
        max = max.max(len);
        truncations += usize::from(len < prev);
        prev = len;
        // read-only: a writable connection would checkpoint when it closes
        let n: i64 = rusqlite::Connection::open_with_flags(
            &env.db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
        .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
        .unwrap();
        assert_eq!(
            n,
            m + 1,
            "every committed sample is visible to the next connection"
        );
    }
    assert!(
        truncations >= 1,
        "the WAL was never settled (max {max} bytes)"
    );
    assert!(max < 512 * 1024, "the WAL grew to {max} bytes");
}

/// The writer switches a database to WAL only when its header does not already say so (one
/// statement fewer per one-shot record); a file in rollback-journal mode — a copy
/// checkpointed and switched back, or restored from a backup tool that does so — must still
/// end up in WAL, with its samples, and a WAL file must stay WAL.
#[test]
fn a_rollback_journal_database_is_switched_to_wal_and_a_wal_one_stays_wal() {
    let journal_mode = |env: &Env| -> (String, [u8; 2]) {
        let head = std::fs::read(&env.db).unwrap();
        let mode: String = env
            .sql()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        (mode, [head[18], head[19]])
    };
    let bytes = valid_db_bytes();
    assert_eq!(
        [bytes[18], bytes[19]],
        [1, 1],
        "the fixture is in rollback mode"
    );
    let env = Env::new();
    write_db(&env, &bytes);
    let mut p = FakeProc::new();
    p.uptime_ms += 21 * 60_000;
    p.iface(b"eth0").add(1000, 1, 1000, 1);
    env.record_ok(&p, &at(21));
    assert_eq!(journal_mode(&env), ("wal".to_string(), [2, 2]));
    p.uptime_ms += 60_000;
    p.iface(b"eth0").add(1000, 1, 1000, 1);
    env.record_ok(&p, &at(22));
    assert_eq!(journal_mode(&env), ("wal".to_string(), [2, 2]));
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 22, "the old samples and both new ones");
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
    // A database as schema 2 wrote it (built from the real migration files): two samples,
    // raw protocol readings, a row per process, port and host.
    let env = Env::new();
    std::fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    let c = rusqlite::Connection::open(&env.db).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/store/migrations");
    for f in ["0001_init.sql", "0002_processes.sql"] {
        c.execute_batch(&std::fs::read_to_string(dir.join(f)).unwrap())
            .unwrap();
    }
    let t0: i64 = "2026-11-22T09:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let raw = |v: &[u64]| {
        let mut b = Vec::new();
        nrec_store::encode_varints(v.iter().copied(), &mut b);
        b
    };
    c.execute_batch(&format!(
        "PRAGMA application_id = 1852990819; PRAGMA user_version = 2; PRAGMA journal_mode = WAL;
         INSERT INTO sysinfo VALUES (1, 'old-boot', x'68', 'k', 'x86_64', 2);
         INSERT INTO netns VALUES (1, 'old-boot', 4026531840, CAST('root' AS BLOB));
         INSERT INTO iface VALUES (1, 1, 2, CAST('eth0' AS BLOB));
         INSERT INTO sample VALUES (1, {t0}, 1000, 1, NULL, NULL), (2, {}, 61000, 1, 1, 60000);
         INSERT INTO keyset VALUES (1, 'snmp:Tcp:ActiveOpens' || char(10) || 'snmp:Tcp:PassiveOpens' || char(10) ||
             'snmp:Tcp:InSegs' || char(10) || 'snmp:Tcp:OutSegs' || char(10) || 'sockstat:TCP:inuse');
         INSERT INTO process (id, boot_id, pid, start_time, comm, netns) VALUES (1, 'old-boot', 42, 7, CAST('alpha' AS BLOB), 1);
         INSERT INTO proc_sample VALUES (2, 1, 1, 1000, 200);
         INSERT INTO port_sample VALUES (2, 1, 'tcp', 443, 1000, 200);
         INSERT INTO host_sample VALUES (2, 1, '10.0.0.1', 1000, 200);
         INSERT INTO attrib_sample VALUES (2, 1, 1000, 200, 0, 0);
         INSERT INTO proc_hour VALUES ({}, 1, 1000, 200);",
        t0 + 60_000,
        t0 / 3_600_000
    ))
    .unwrap();
    for (sample, rx, d) in [(1i64, 5000i64, None), (2, 125_000, Some(120_000i64))] {
        c.execute(
            "INSERT INTO iface_sample (sample, iface, rx_bytes, rx_packets, rx_errs, rx_drop, rx_fifo, rx_frame,
                rx_compressed, rx_multicast, tx_bytes, tx_packets, tx_errs, tx_drop, tx_fifo, tx_colls, tx_carrier,
                tx_compressed, d_rx_bytes, d_tx_bytes, flags)
             VALUES (?1, 1, ?2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ?3, 0, 0)",
            rusqlite::params![sample, rx, d],
        )
        .unwrap();
    }
    for (sample, v) in [
        (1i64, raw(&[1, 2, 100, 50, 3])),
        (2, raw(&[1, 5, 160, 80, 5])),
    ] {
        c.execute(
            "INSERT INTO proto_sample VALUES (?1, 1, 1, ?2)",
            rusqlite::params![sample, v],
        )
        .unwrap();
    }
    drop(c);

    let day = ["--date", "2026-11-22"];
    let out = env.report(&day, &at(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("older nrec") && err.contains("nrec record"),
        "{err}"
    );
    env.record_ok(&FakeProc::new(), &at(1));
    let v: i64 = env
        .sql()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        v,
        i64::from(nrec_store::SCHEMA_VERSION),
        "the recorder migrated it"
    );
    // What schema 2 stored reads the same after the upgrade.
    let tcp = env.report_ok(
        &[&day[..], &["-n", "TCP", "--format", "csv"]].concat(),
        &at(10),
    );
    let (h, rows) = parse_csv(&tcp);
    assert_eq!(
        col(&h, &rows[0], "iseg/s"),
        "1.00",
        "60 segments in 60 s: {tcp}"
    );
    assert_eq!(col(&h, &rows[0], "oseg/s"), "0.50");
    assert_eq!(col(&h, &rows[0], "passive/s"), "0.05");
    let dev = env.report_ok(&[&day[..], &["--format", "csv"]].concat(), &at(10));
    let (h, rows) = parse_csv(&dev);
    assert_eq!(col(&h, &rows[0], "rx_bytes"), "120000", "{dev}");
    let last: i64 = env
        .sql()
        .query_row(
            "SELECT rx_bytes FROM iface_last WHERE sample = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last, 125_000, "the latest readings kept for the next delta");
    let sock = env.report_ok(
        &[&day[..], &["-n", "SOCK", "--format", "csv"]].concat(),
        &at(10),
    );
    let (h, rows) = parse_csv(&sock);
    assert_eq!(col(&h, &rows[0], "tcpsck"), "5", "gauges as read: {sock}");
    for (cmd, key) in [
        ("top-procs", "alpha"),
        ("top-ports", "tcp/443"),
        ("top-hosts", "10.0.0.1"),
    ] {
        let out = env
            .cmd(&[cmd, "--since", "2026-11-22", "--format", "csv"])
            .env("NREC_NOW", at(10))
            .output()
            .unwrap();
        assert_success(&out);
        let text = String::from_utf8(out.stdout).unwrap();
        let (h, rows) = parse_csv(&text);
        let r = rows
            .iter()
            .find(|r| col(&h, r, "name") == key)
            .unwrap_or_else(|| panic!("{cmd}: {text}"));
        assert_eq!(
            (col(&h, r, "rx_bytes"), col(&h, r, "tx_bytes")),
            ("1000", "200"),
            "{cmd}"
        );
    }
    // The migration derived rollups from the samples schema 2 had stored.
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

#[test]
fn schema_4_rollups_of_samples_on_quarter_boundaries_are_re_rolled() {
    // Schema 4 put a sample taken exactly at 10:15:00 into the 10:15–10:30 quarter; schema 5
    // puts it in the quarter its interval ends (10:00–10:15). Upgrading re-rolls those days,
    // so `check` (which recomputes rollups from raw rows today's way) agrees afterwards. Here
    // the old rollups are simply gone, which only the conversion can bring back.
    let env = Env::new();
    let mut p = FakeProc::new();
    for m in [0, 15, 30, 37] {
        p.iface(b"eth0").add(1_000_000, 10, 0, 0);
        p.uptime_ms += 900_000;
        env.record_ok(&p, &at(m));
    }
    env.sql()
        .execute_batch(
            "DELETE FROM rollup; ALTER TABLE sample DROP COLUMN ebpf_lost_events;
             ALTER TABLE sample DROP COLUMN ebpf_lost_bytes; DROP TABLE carried; DROP TABLE alert_fired; DROP TABLE container; DROP TABLE unit;
             DROP TABLE remote_write; DROP TABLE past_sums;
             ALTER TABLE proto_last DROP COLUMN read_ms; ALTER TABLE proto_last DROP COLUMN quiet;
             ALTER TABLE proto_last DROP COLUMN cookie;
             PRAGMA user_version = 4;",
        )
        .unwrap();
    let check = |env: &Env| {
        env.cmd(&["check"])
            .env("NREC_NOW", at(40))
            .output()
            .unwrap()
    };
    p.iface(b"eth0").add(1_000_000, 10, 0, 0);
    p.uptime_ms += 180_000;
    env.record_ok(&p, &at(40));
    let out = check(&env);
    assert_success(&out);
    // the 10:15 sample is in the quarter that ends at 10:15
    let (h, rows) = parse_csv(
        &String::from_utf8(
            env.cmd(&[
                "export",
                "iface",
                "--resolution",
                "15m",
                "--since",
                "2026-11-22T10:00",
                "--until",
                "2026-11-22T10:30",
                "--format",
                "csv",
            ])
            .env("NREC_NOW", at(40))
            .output()
            .unwrap()
            .stdout,
        )
        .unwrap(),
    );
    let eth0: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| col(&h, r, "iface") == "eth0")
        .map(|r| (col(&h, r, "start"), col(&h, r, "rx_bytes")))
        .collect();
    assert_eq!(
        eth0,
        [
            ("2026-11-22T10:00:00+00:00", "1000000"),
            ("2026-11-22T10:15:00+00:00", "1000000")
        ]
    );
}

/// A bind mount made read-only, unmounted when dropped.
struct RoMount(std::path::PathBuf);

impl RoMount {
    fn new(src: &Path, at: &Path) -> Option<RoMount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = |args: &[&std::ffi::OsStr]| {
            std::process::Command::new("mount")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["--bind".as_ref(), src.as_os_str(), at.as_os_str()]) {
            return None;
        }
        let m = RoMount(at.to_path_buf());
        ok(&["-o".as_ref(), "remount,bind,ro".as_ref(), at.as_os_str()]).then_some(m)
    }
}

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 11 item 5: read commands read databases they cannot write — on a read-only mount,
/// with and without the -wal/-shm files — and never write them; only writers get exit 5.
#[test]
fn read_only_databases_are_read_and_never_written() {
    if !is_root() {
        return skip("read-only mount", "needs root to mount");
    }
    let env = Env::new();
    let mut p = FakeProc::new();
    for k in 0..6 {
        p.iface(b"eth0").add(1_000_000, 10, 0, 0);
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(k));
    }
    // An archived copy: the samples checkpointed into the file, no -wal/-shm beside it.
    env.sql()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let src = env.tmp.path().join("archive");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(&env.db, src.join("nrec.db")).unwrap();
    let mnt = env.tmp.path().join("ro");
    let Some(m) = RoMount::new(&src, &mnt) else {
        return skip(
            "read-only mount",
            "mount --bind failed (no mount namespace rights?)",
        );
    };
    let db = mnt.join("nrec.db");
    let before = std::fs::read(&db).unwrap();
    let read = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .arg("--db")
            .arg(&db)
            .args(args)
            .env("NREC_NOW", at(10))
            .env("NREC_EBPF", "off")
            .env("TZ", "UTC")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let rows = |text: &str| parse_csv(text).1.len();
    for args in [
        &["report", "--iface", "eth0", "--format", "csv"][..],
        &["summary", "--format", "csv"],
        &["top-procs", "--format", "csv"],
        &["export", "iface", "--format", "csv"],
        &["status", "--format", "json"],
        &["check"],
    ] {
        let (code, out, err) = read(args);
        assert_eq!(code, Some(0), "{args:?} on a read-only copy: {err}");
        assert!(!out.is_empty(), "{args:?}");
    }
    let (_, out, _) = read(&["report", "--iface", "eth0", "--format", "csv"]);
    assert_eq!(rows(&out), 5, "every interval of the copy");
    let (code, _, err) = read(&["record"]);
    assert_eq!(code, Some(5), "a writer on read-only media: {err}");
    drop(m);
    assert_eq!(std::fs::read(src.join("nrec.db")).unwrap(), before);
    assert!(!src.join("nrec.db-wal").exists() && !src.join("nrec.db-shm").exists());

    // A live copy: samples in the -wal, -shm beside it.
    for k in 6..8 {
        p.iface(b"eth0").add(1_000_000, 10, 0, 0);
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(k));
    }
    for s in ["", "-wal", "-shm"] {
        let name = format!("nrec.db{s}");
        std::fs::copy(env.db.with_file_name(&name), src.join(&name)).unwrap();
    }
    let m = RoMount::new(&src, &mnt).unwrap();
    let (code, out, err) = read(&["report", "--iface", "eth0", "--format", "csv"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(rows(&out), 7, "the -wal's samples are read too");
    drop(m);

    // Samples in the -wal but no -shm, and none can be made: refused, never read partially.
    std::fs::remove_file(src.join("nrec.db-shm")).unwrap();
    let _m = RoMount::new(&src, &mnt).unwrap();
    let (code, _, err) = read(&["report"]);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("-wal") && err.contains("holds"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Issue 11 items 5 and 6 as a user without write access: a 0444 database in a 0555
/// directory reads; the system database that exists but cannot be read is named, with how to
/// get access.
#[test]
fn a_user_without_write_access_reads_and_is_told_about_the_system_database() {
    if !is_root() {
        return skip("unprivileged reader", "needs root to drop to another user");
    }
    let env = Env::new();
    let mut p = FakeProc::new();
    for k in 0..3 {
        p.iface(b"eth0").add(1_000_000, 10, 0, 0);
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(k));
    }
    env.sql()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let shared = env.tmp.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::copy(&env.db, shared.join("nrec.db")).unwrap();
    let bin = env.tmp.path().join("nrec");
    std::fs::copy(BIN, &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&shared.join("nrec.db"), 0o444).unwrap();
    mode(&shared, 0o555).unwrap();
    mode(env.tmp.path(), 0o755).unwrap();
    // the "system" database: in a directory only root may enter
    let system = env.tmp.path().join("system");
    std::fs::create_dir_all(&system).unwrap();
    std::fs::copy(&env.db, system.join("nrec.db")).unwrap();
    mode(&system, 0o750).unwrap();
    let home = env.tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let nobody = |args: &[&std::ffi::OsStr]| {
        output_of_copy(|| {
            let mut c = as_nobody(&bin);
            c.args(args)
                .env("NREC_NOW", at(5))
                .env("HOME", &home)
                .env_remove("XDG_STATE_HOME")
                .env("NREC_SYSTEM_DB", system.join("nrec.db"));
            c
        })
    };
    let db = shared.join("nrec.db");
    let out = nobody(&[
        "--db".as_ref(),
        db.as_os_str(),
        "report".as_ref(),
        "--format".as_ref(),
        "csv".as_ref(),
    ]);
    assert_success(&out);
    assert_eq!(
        parse_csv(&String::from_utf8_lossy(&out.stdout)).1.len(),
        2 * 2,
        "lo and eth0, 2 intervals"
    );
    let out = nobody(&["report".as_ref()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}", system.join("nrec.db").display()))
            && err.contains("group nrec"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Issue 12 item 4: a schema version nrec never wrote (here -1) is refused with exit 3 by
/// every command, before anything indexes by it (it panicked in the migration list).
#[test]
fn a_negative_schema_version_is_refused_not_a_panic() {
    let env = Env::new();
    let p = FakeProc::new();
    env.record_ok(&p, &at(0));
    env.sql()
        .execute_batch("PRAGMA user_version = -1;")
        .unwrap();
    let before = std::fs::read(&env.db).unwrap();
    for args in [
        &["record"][..],
        &["rollup"],
        &["rollup", "--rebuild"],
        &["prune"],
        &["report"],
        &["check"],
        &["status"],
    ] {
        let out = env
            .cmd(args)
            .env("NREC_PROC_ROOT", p.path())
            .env("NREC_NOW", at(1))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("schema version -1"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(std::fs::read(&env.db).unwrap(), before, "left untouched");
}

/// Issue 12 item 10: another program holding the database locked is waited for the
/// documented 10 s (as long as another recorder's lock), then exit 4 — the sample is taken
/// by the next run.
#[test]
fn another_programs_exclusive_lock_is_waited_for_ten_seconds() {
    let env = Env::new();
    let p = FakeProc::new();
    env.record_ok(&p, &at(0));
    let c = env.sql();
    c.execute_batch("BEGIN EXCLUSIVE; INSERT INTO meta (key, value) VALUES ('x', 1);")
        .unwrap();
    let t0 = std::time::Instant::now();
    let out = env.record(&p, &at(1));
    let waited = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        waited >= std::time::Duration::from_millis(9_500),
        "gave up after {waited:?}"
    );
    c.execute_batch("ROLLBACK;").unwrap();
    env.record_ok(&p, &at(2));
}

/// Issue 12 item 7: /proc inputs are read as what they are — a FIFO or device in their place
/// is refused at once (never waited on while the lock is held), an impossible uptime is an
/// error, and a net/dev listing no interface is not stored as a sample.
#[test]
fn hostile_proc_files_are_refused_quickly_and_store_nothing() {
    let env = Env::new();
    let p = FakeProc::new();
    env.record_ok(&p, &at(0));
    let dev = p.path().join("net/dev");
    let uptime = p.path().join("uptime");
    let record_raw = |k: i64| {
        let t0 = std::time::Instant::now();
        let out = env
            .cmd(&["record"])
            .env("NREC_PROC_ROOT", p.path())
            .env("NREC_NOW", at(k))
            .output()
            .unwrap();
        (out, t0.elapsed())
    };
    let good_dev = std::fs::read(&dev).unwrap();
    // a FIFO nobody writes: refused, not waited on
    std::fs::remove_file(&dev).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&dev)
            .status()
            .unwrap()
            .success()
    );
    let (out, took) = record_raw(1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("net/dev") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    // a device: /dev/zero would be read forever
    std::fs::remove_file(&dev).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &dev).unwrap();
    let (out, took) = record_raw(2);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    // no interface at all
    std::fs::remove_file(&dev).unwrap();
    std::fs::write(&dev, b"Inter-|   Receive\n face |bytes\n").unwrap();
    let (out, _) = record_raw(3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("lists no interface"), "{err}");
    // impossible uptimes
    std::fs::write(&dev, &good_dev).unwrap();
    for bad in ["-100.00 5.00\n", "9223372036854775.807 1.00\n"] {
        std::fs::write(&uptime, bad).unwrap();
        let (out, _) = record_raw(4);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {err}");
        assert!(err.contains("not an uptime"), "{err}");
    }
    assert_eq!(env.samples(), 1, "nothing stored from hostile input");
    // and the next good sample is taken as usual
    env.record_ok(&p, &at(5));
    assert_eq!(env.samples(), 2);
}

/// A FUSE mirror of `src` at `mnt` whose `stalled` files never answer a read (for 60 s);
/// unmounted and its server ended (by PID) on drop.
struct StallFs {
    mnt: std::path::PathBuf,
    server: std::process::Child,
}

impl StallFs {
    /// None (with the reason) where FUSE cannot be used here.
    fn mount(src: &Path, mnt: &Path, stalled: &[&str]) -> Option<StallFs> {
        if !is_root() || !Path::new("/dev/fuse").exists() {
            skip(
                "stalled /proc tree",
                "a FUSE mount needs root and /dev/fuse",
            );
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/stallfs.py");
        std::fs::create_dir_all(mnt).unwrap();
        let server = Command::new("/usr/bin/python3")
            .arg(script)
            .args([src, mnt])
            .arg("60")
            .args(stalled)
            .stderr(Stdio::piped())
            .spawn()
            .expect("/usr/bin/python3 (apt-get install python3-fusepy fuse3)");
        let mut fs = StallFs {
            mnt: mnt.to_path_buf(),
            server,
        };
        let t0 = std::time::Instant::now();
        while !std::fs::read_to_string("/proc/self/mounts")
            .unwrap()
            .contains(mnt.to_str().unwrap())
        {
            if let Ok(Some(st)) = fs.server.try_wait() {
                let mut err = String::new();
                std::io::Read::read_to_string(fs.server.stderr.as_mut().unwrap(), &mut err).ok();
                panic!("stallfs exited {st}: {err} (apt-get install python3-fusepy fuse3)");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "stallfs did not mount"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(fs)
    }
}

impl Drop for StallFs {
    fn drop(&mut self) {
        let _ = Command::new("fusermount")
            .args(["-u", "-z"])
            .arg(&self.mnt)
            .status();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Issue 12 item 7: a captured /proc tree on a file system that never answers (a FUSE mount
/// here; NFS can do the same) is given up on within the deadline: a stalled counter file is
/// skipped with a warning and the sample stored, a stalled net/dev stores nothing — and the
/// recorder never holds the lock long enough to make another recorder give up (exit 4).
#[test]
fn a_proc_tree_that_never_answers_is_given_up_on_within_the_deadline() {
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &at(0));
    p.iface(b"eth0").add(1000, 1, 1000, 1);
    p.uptime_ms += 60_000;
    p.write();
    let mnt = env.tmp.path().join("stalled-snmp");
    let Some(fs) = StallFs::mount(p.path(), &mnt, &["net/snmp"]) else {
        return;
    };
    let t0 = std::time::Instant::now();
    let out = env
        .cmd(&["record"])
        .env("NREC_PROC_ROOT", &mnt)
        .env("NREC_NOW", at(1))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_success(&out);
    assert!(
        err.contains("net/snmp: no answer within 2.0 s") && err.contains("not stored"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert_eq!(
        env.samples(),
        2,
        "the sample stored without the stalled file"
    );
    drop(fs);

    p.iface(b"eth0").add(1000, 1, 1000, 1);
    p.uptime_ms += 60_000;
    p.write();
    let mnt = env.tmp.path().join("stalled-dev");
    let _fs = StallFs::mount(p.path(), &mnt, &["net/dev"]).unwrap();
    let t0 = std::time::Instant::now();
    let stalled = env
        .cmd(&["record"])
        .env("NREC_PROC_ROOT", &mnt)
        .env("NREC_NOW", at(2))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // another recorder meanwhile waits for the lock, and gets it
    p.uptime_ms += 1_000;
    env.record_ok(&p, &at(3));
    let out = stalled.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("net/dev") && err.contains("no answer within 2.0 s"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert_eq!(env.samples(), 3, "nothing stored from the stalled tree");
}

/// Issue 12 item 5: a database someone added a trigger or a view to is refused (exit 3)
/// before any row is read or written — the trigger never runs, a recursive view never spins;
/// a crafted rollup key cannot make `prune` walk millions of days, and `check` names it.
#[test]
fn triggers_views_and_crafted_keys_are_refused_not_run() {
    let p = FakeProc::new();
    for crafted in [
        "CREATE TABLE evil (x); CREATE TRIGGER t AFTER INSERT ON sample BEGIN INSERT INTO evil VALUES (1); END;",
        "CREATE TRIGGER wipe AFTER INSERT ON sample BEGIN DELETE FROM iface_sample; END;",
        "ALTER TABLE sample RENAME TO sample_old; \
         CREATE VIEW sample AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x AS id FROM r;",
    ] {
        let env = Env::new();
        env.record_ok(&p, &at(0));
        env.sql().execute_batch(crafted).unwrap();
        env.sql()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        let before = std::fs::read(&env.db).unwrap();
        for args in [
            &["record"][..],
            &["report"],
            &["check"],
            &["prune"],
            &["rollup"],
            &["status"],
        ] {
            let t0 = std::time::Instant::now();
            let out = env
                .cmd(args)
                .env("NREC_PROC_ROOT", p.path())
                .env("NREC_NOW", at(1))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{crafted} {args:?}: {err}");
            assert!(err.contains("never creates"), "{err}");
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(5),
                "{args:?} spun"
            );
        }
        assert_eq!(
            std::fs::read(&env.db).unwrap(),
            before,
            "{crafted}: untouched"
        );
    }
    // a rollup row keyed before 1970
    let env = Env::new();
    let mut q = FakeProc::new();
    env.record_ok(&q, &at(0));
    q.uptime_ms += 60_000;
    env.record_ok(&q, &at(1));
    env.sql()
        .execute_batch("INSERT INTO rollup (id, total) VALUES (-9223372036854775808, x'00');")
        .unwrap();
    let cfg = env.tmp.path().join("r.toml");
    std::fs::write(
        &cfg,
        "[retention]\nraw = \"1d\"\nhourly = \"2d\"\ndaily = \"3d\"\n",
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let out = env
        .cmd(&["--config", cfg.to_str().unwrap(), "prune"])
        .env("NREC_NOW", at(1))
        .output()
        .unwrap();
    assert_success(&out);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(5),
        "prune walked the crafted days"
    );
    let out = env.cmd(&["check"]).env("NREC_NOW", at(1)).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 row(s) with a key nrec never writes"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Issue 12 item 5: every stored name is bounded on reading by what the kernel can give (a
/// crafted 20 MB interface name made `report` print it once per row, for 36 s): a longer one
/// is refused (exit 3) at once, naming the column, its length and the bound; a name of
/// exactly the bound reads as usual. At the input, a captured /proc tree's over-long kernel
/// text is refused and stores nothing.
#[test]
fn names_longer_than_the_kernel_gives_are_refused_on_reading() {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.ifaces.push(FakeIface::new(b"veth-long-name1", 3));
    for k in 0..3 {
        p.iface(b"eth0").add(1000, 1, 1000, 1);
        p.iface(b"veth-long-name1").add(1000, 1, 1000, 1);
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(k));
    }
    let out = env
        .cmd(&["report", "--since", "1h"])
        .env("NREC_NOW", at(5))
        .output()
        .unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("veth-long-name1"));
    let refused = |args: &[&str], needle: &str| {
        let t0 = std::time::Instant::now();
        let out = env.cmd(args).env("NREC_NOW", at(5)).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains(needle) && err.contains("crafted or damaged") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing printed");
        assert!(t0.elapsed() < std::time::Duration::from_secs(5), "{args:?}");
    };
    let sql = env.sql();
    sql.execute_batch(
        "UPDATE iface SET name = zeroblob(2000000) WHERE name = CAST('eth0' AS BLOB);",
    )
    .unwrap();
    for args in [
        &["report", "--since", "1h"][..],
        &["summary"],
        &["report", "--since", "1h", "--format", "csv"],
        &["export", "iface", "--since", "1h"],
    ] {
        refused(
            args,
            "a stored name of 2000000 bytes, longer than nrec ever stores (15)",
        );
    }
    sql.execute_batch(
        "UPDATE iface SET name = CAST('eth0' AS BLOB) WHERE length(name) = 2000000;
         UPDATE sysinfo SET hostname = zeroblob(65);",
    )
    .unwrap();
    refused(
        &["report", "--since", "1h"],
        "a stored hostname of 65 bytes",
    );
    sql.execute_batch(
        "UPDATE sysinfo SET hostname = CAST('testhost' AS BLOB);
         INSERT INTO process (boot_id, pid, start_time, comm, netns) VALUES ('b', 4242, 1, zeroblob(16), 1);",
    )
    .unwrap();
    refused(&["proc", "4242"], "a stored comm of 16 bytes");
    drop(sql);

    // at the input: a captured tree whose hostname is longer than uname(2) allows
    let before = env.samples();
    std::fs::write(p.path().join("sys/kernel/hostname"), "h".repeat(65)).unwrap();
    let out = env
        .cmd(&["record"])
        .env("NREC_PROC_ROOT", p.path())
        .env("NREC_NOW", at(4))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sys/kernel/hostname: 65 bytes, longer than the kernel's 64"),
        "{err}"
    );
    assert_eq!(env.samples(), before, "nothing stored");
}

/// Issue 12 item 6: a new database on a disk that fills up at any point of its creation is
/// exit 6 "disk full", never exit 3 (nothing is corrupt), and leaves no `.new` file behind.
#[test]
fn disk_full_while_creating_a_database_is_exit_6_and_leaves_nothing() {
    let Some((env, mnt)) = env_on_tmpfs("disk_full_new", "2m") else {
        return;
    };
    let p = FakeProc::new();
    let filler = mnt.0.join("filler");
    let mut codes = Vec::new();
    // leave 0 … 1 MiB free: every step of the creation (a new database and its first sample
    // take ~450 KiB with the WAL) gets its turn to fail
    for free_kib in (0..1024u64).step_by(24) {
        let _ = std::fs::remove_file(&env.db);
        let _ = std::fs::remove_file(&filler);
        for s in [".new", ".new-journal", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{s}", env.db.display()));
        }
        // fill the tmpfs to leave `free_kib`
        let total = 2048 * 1024u64;
        let fill = total.saturating_sub(free_kib * 1024 + 8 * 1024);
        std::fs::write(&filler, vec![0u8; fill as usize]).ok();
        let out = env.record(&p, &at(0));
        let code = out.status.code();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            code == Some(0) || code == Some(6),
            "{free_kib} KiB free: exit {code:?}: {err}"
        );
        if code == Some(6) {
            assert!(err.contains("disk") && err.contains("full"), "{err}");
            assert!(
                !std::path::Path::new(&format!("{}.new", env.db.display())).exists(),
                "{free_kib} KiB free: .new left behind"
            );
        }
        codes.push(code);
    }
    assert!(codes.contains(&Some(6)), "the disk never filled: {codes:?}");
    assert!(codes.contains(&Some(0)), "never enough room: {codes:?}");
}

/// Issue 32 item 12: a symbolic link planted where SQLite keeps the WAL or its index is
/// never followed, and every opener says which file it is and who owns it (not "unable to
/// open database file", not the size of the file it points at as samples), `status --check`
/// included; the file it points at is untouched.
#[test]
fn a_planted_wal_or_shm_link_is_named_with_its_owner() {
    let env = Env::new();
    let p = FakeProc::new();
    env.record_ok(&p, &at(0));
    let target = env.tmp.path().join("victim");
    std::fs::write(&target, b"not nrec's").unwrap();
    for suffix in ["-wal", "-shm"] {
        let mut planted = env.db.clone().into_os_string();
        planted.push(suffix);
        let planted = std::path::PathBuf::from(planted);
        // the real file set aside (it holds the sample), put back afterwards
        let aside = env.tmp.path().join("aside");
        let had = std::fs::rename(&planted, &aside).is_ok();
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        if is_root() {
            std::os::unix::fs::lchown(&planted, Some(65534), Some(65534)).unwrap();
        }
        for args in [&["status", "--check"][..], &["report"], &["record", "-q"]] {
            let out = env
                .cmd(args)
                .env("NREC_PROC_ROOT", p.path())
                .env("NREC_NOW", at(1))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(5), "{suffix} {args:?}: {err}");
            assert!(
                err.contains(&*planted.to_string_lossy())
                    && err.contains("a symbolic link (owned by ")
                    && (!is_root() || err.contains("owned by nobody")),
                "{suffix} {args:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"not nrec's");
        std::fs::remove_file(&planted).unwrap();
        if had {
            std::fs::rename(&aside, &planted).unwrap();
        }
    }
    // removed, the database opens again with its sample
    assert_eq!(env.samples(), 1);
    env.record_ok(&p, &at(1));
}

/// Issue 32 item 11: root's recorder (a manual `sudo nrec record`) left the lock file
/// `root:root 0640`, and every later run of the recorder's own user exited 5. The lock takes
/// the database's owner and group, as SQLite's -wal and -shm do.
#[test]
fn roots_record_leaves_the_lock_to_the_databases_owner() {
    if !is_root() {
        return skip(
            "roots_record_leaves_the_lock",
            "needs root to record as two users",
        );
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = Env::new();
    let p = FakeProc::new();
    // the recorder's user (nobody here) owns the state directory and its database
    let dir = env.db.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(env.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(p.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = env.tmp.path().join("nrec");
    std::fs::copy(BIN, &bin).unwrap();
    let as_recorder = |now: &str| {
        output_of_copy(|| {
            let mut c = as_nobody(&bin);
            c.arg("--db")
                .arg(&env.db)
                .args(["record", "-q"])
                .env("NREC_PROC_ROOT", p.path())
                .env("NREC_NOW", now)
                .env("NREC_EBPF", "off");
            c
        })
    };
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let out = as_recorder(&at(0));
    assert_success(&out);
    // root records once (the lock file is made here, by root)
    let mut lock = env.db.clone().into_os_string();
    lock.push(".lock");
    let _ = std::fs::remove_file(&lock);
    env.record_ok(&p, &at(1));
    let m = std::fs::metadata(&lock).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534), "the database's owner");
    // and the recorder's user records on
    let out = as_recorder(&at(2));
    assert_success(&out);
    assert_eq!(env.samples(), 3);
}
