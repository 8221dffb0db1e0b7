//! Issue 37: `nrec-record`, the small recorder the timer runs, is `nrec record --no-push`:
//! the same options and environment, the same sample stored, the same alerts, the same
//! errors and exit codes.

use crate::harness::*;
use std::process::Command;

/// `nrec-record` as `Env::cmd` runs `nrec`: the test's database, clock zone, no eBPF.
fn recorder(env: &Env, args: &[&str]) -> Command {
    let mut c = Command::new(RECORD_BIN);
    c.args(args);
    c.env("TZ", &env.tz)
        .env("NREC_DB", &env.db)
        .env("NREC_EBPF", "off")
        .env_remove("NREC_BPF_DIR")
        .env_remove("NREC_CONFIG")
        .env_remove("NREC_NOW")
        .env_remove("NREC_PROC_ROOT");
    c
}

/// Every report of a database, as CSV, for comparing two of them.
fn reports(env: &Env, now: &str) -> Vec<String> {
    ["DEV", "EDEV", "IP", "TCP", "ETCP", "UDP", "SOCK", "ALL"]
        .iter()
        .map(|n| env.report_ok(&["--since", "1d", "-n", n, "--format", "csv"], now))
        .chain([{
            let out = env
                .cmd(&["summary", "--format", "csv"])
                .env("NREC_NOW", now)
                .output()
                .unwrap();
            assert_success(&out);
            String::from_utf8(out.stdout).unwrap()
        }])
        .collect()
}

#[test]
fn the_small_recorder_stores_what_nrec_record_stores() {
    let (a, b) = (Env::new(), Env::new());
    let mut p = FakeProc::new();
    let mut last = String::new();
    for (i, (rx, tx)) in [(0, 0), (5_000_000, 1_000_000), (0, 0), (123_456, 7_890)]
        .into_iter()
        .enumerate()
    {
        p.uptime_ms += 60_000;
        p.iface(b"eth0").add(rx, rx / 1500 + 1, tx, tx / 1500 + 1);
        p.tcp[2] += rx / 1400;
        p.udp[3] += 7;
        last = at(i as i64);
        a.record_ok(&p, &last);
        // the environment's options (NREC_DB, NREC_PROC_ROOT) for one, flags for the other
        let out = if i % 2 == 0 {
            recorder(&b, &[])
                .env("NREC_PROC_ROOT", p.path())
                .env("NREC_NOW", &last)
                .output()
                .unwrap()
        } else {
            let db = format!("--db={}", b.db.display());
            recorder(&b, &[&db, "--proc-root", p.path().to_str().unwrap(), "-q"])
                .env_remove("NREC_DB")
                .env("NREC_NOW", &last)
                .output()
                .unwrap()
        };
        assert_success(&out);
    }
    assert_eq!(a.samples(), 4);
    assert_eq!(b.samples(), 4);
    let (ra, rb) = (reports(&a, &last), reports(&b, &last));
    assert!(ra[0].contains("eth0"), "{}", ra[0]);
    assert_eq!(ra, rb, "the same history from either recorder");
}

#[test]
fn the_small_recorder_fires_alerts_and_keeps_the_sample_on_a_bad_config() {
    let env = Env::new();
    let cfg = env.tmp.path().join("nrec.toml");
    std::fs::write(
        &cfg,
        "[[alert]]\nname = \"eth0-day\"\ninterface = \"eth0\"\nvolume = \"1 MB\"\nperiod = \"day\"\n",
    )
    .unwrap();
    let mut p = FakeProc::new();
    let mut step = |i: i64, rx: u64, config: &std::path::Path| {
        p.uptime_ms += 60_000;
        p.iface(b"eth0").add(rx, rx / 1500 + 1, 0, 0);
        p.write();
        recorder(&env, &["--config", config.to_str().unwrap()])
            .env("NREC_PROC_ROOT", p.path())
            .env("NREC_NOW", at(i))
            .output()
            .unwrap()
    };
    assert_success(&step(0, 0, &cfg));
    let out = step(1, 2_000_000, &cfg);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("alert eth0-day: eth0 total"),
        "the alert is evaluated after the sample: {stderr}"
    );
    // a broken config: the sample is stored first, then the error (exit 2), as `nrec record`
    let bad = env.tmp.path().join("bad.toml");
    std::fs::write(&bad, "[retention]\nraw = \"forever and a day\"\n").unwrap();
    let out = step(2, 1, &bad);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert_eq!(env.samples(), 3, "the sample is kept");
}

#[test]
fn the_small_recorder_refuses_what_nrec_record_refuses_in_one_line() {
    let env = Env::new();
    for (args, says) in [
        (&["--push"][..], "unexpected argument '--push'"),
        (&["record"][..], "unexpected argument 'record'"),
        (&["--db"][..], "a value is required for '--db"),
        (&["-q", "-v"][..], "cannot be used with"),
        (&["--quiet=1"][..], "unexpected argument '--quiet=1'"),
    ] {
        let out = recorder(&env, args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("nrec-record: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
    assert!(!env.db.exists(), "nothing recorded on a usage error");
    let help = recorder(&env, &["--help"]).output().unwrap();
    assert_success(&help);
    let text = String::from_utf8_lossy(&help.stdout);
    for opt in ["--db", "--config", "--proc-root", "--quiet", "--verbose"] {
        assert!(text.contains(opt), "{opt} in --help: {text}");
    }
    // a database nrec refuses is refused the same way (exit 3, one line naming it)
    std::fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    std::fs::write(
        &env.db,
        b"not a database, 100 bytes of it ......................................................",
    )
    .unwrap();
    let p = FakeProc::new();
    let (ours, theirs) = (
        recorder(&env, &[])
            .env("NREC_PROC_ROOT", p.path())
            .output()
            .unwrap(),
        env.cmd(&["record"])
            .env("NREC_PROC_ROOT", p.path())
            .output()
            .unwrap(),
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "{ours:?} {theirs:?}"
    );
    assert_ne!(ours.status.code(), Some(0));
    assert_eq!(ours.stderr, theirs.stderr);
}
