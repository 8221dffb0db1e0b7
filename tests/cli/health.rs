//! `nrec status` says what the recorded samples used (issue 11 item 4), and `status --check`
//! is a health check for systemd OnFailure=, cron and Nagios-style probes (item 13).

use crate::harness::*;

/// A minute-by-minute recording of eth0 from 10:00 to 10:10 (FakeProc, eBPF off).
fn recorded() -> Env {
    let env = Env::new();
    let mut p = FakeProc::new();
    for k in 0..=10 {
        p.iface(b"eth0").add(1_000_000, 1000, 100_000, 100);
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(k));
    }
    env
}

fn status(env: &Env, args: &[&str], now: &str) -> (Option<i32>, String, String) {
    let out = env
        .cmd(&[&["status"], args].concat())
        .env("NREC_NOW", now)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_says_what_the_samples_used_whatever_the_shell_says() {
    let env = recorded();
    // A shell that would use eBPF (the default) reads a database recorded without it.
    let out = env
        .cmd(&["status"])
        .env("NREC_NOW", at(10))
        .env("NREC_EBPF", "auto")
        .output()
        .unwrap();
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("eBPF")).unwrap();
    assert!(
        line.contains("not used by the last sample"),
        "recorded with NREC_EBPF=off: {text}"
    );
    assert!(line.contains("0% of the sampled time"), "{line}");
    assert!(text.contains("this host now:"), "{text}");
    let (code, json, _) = status(&env, &["--format", "json"], &at(10));
    assert_eq!(code, Some(0));
    let st: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(st["ebpf"]["last_sample_used_it"], false);
    assert_eq!(st["ebpf"]["recorded"]["time_share"], 0.0);
    assert_eq!(st["ebpf"]["recorded"]["lost_calls"], 0);
    // ages for people
    let (_, text, _) = status(&env, &[], "2026-11-28T11:10:00Z");
    assert!(text.contains("(6d 1h ago;"), "{text}");
}

#[test]
fn status_check_is_a_health_check() {
    let env = recorded();
    // healthy: the last sample is 30 s old, recording every minute
    let (code, out, err) = status(&env, &["--check"], "2026-11-22T10:10:30Z");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("OK: "), "{out}");
    assert_eq!(out.lines().count(), 1);
    let (code, out, _) = status(&env, &["-q", "--check"], "2026-11-22T10:10:30Z");
    assert_eq!(
        (code, out.as_str()),
        (Some(0), ""),
        "-q: silent when healthy"
    );

    // stale: 3 intervals is the limit, read from the samples (1 minute here)
    let (code, out, err) = status(&env, &["--check"], "2026-11-22T10:15:00Z");
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(
        out.trim(),
        "PROBLEM: the last sample is 5m old (recording every 1m): is the recorder running? \
         systemctl status nrec-record.timer nrec.service"
    );
    assert!(err.contains("1 problem(s)"), "{err}");
    let (code, _, _) = status(&env, &["--check"], "2026-11-22T10:12:59Z");
    assert_eq!(code, Some(0), "2m59s is within three intervals");

    // a sample from the future: the clock is wrong
    let (code, out, _) = status(&env, &["--check"], "2026-11-22T09:00:00Z");
    assert_eq!(code, Some(1));
    assert!(out.contains("1h 10m in the future"), "{out}");

    // coverage: nothing here is attributed to a process
    let (code, out, _) = status(
        &env,
        &["--check", "--min-coverage", "50"],
        "2026-11-22T10:10:30Z",
    );
    assert_eq!(code, Some(1));
    assert!(
        out.contains("PROBLEM: 0.0% of the last 1h's interface bytes attributed to processes, below --min-coverage 50"),
        "{out}"
    );
    let (code, _, _) = status(
        &env,
        &["--check", "--min-coverage", "0"],
        "2026-11-22T10:10:30Z",
    );
    assert_eq!(code, Some(0));

    // nrec check's findings are problems too
    env.sql()
        .execute(
            "UPDATE rollup SET total = x'0402ff01' WHERE id = (SELECT max(id) FROM rollup)",
            [],
        )
        .unwrap();
    let (code, out, _) = status(&env, &["--check"], "2026-11-22T10:10:30Z");
    assert_eq!(code, Some(1));
    assert!(out.contains("PROBLEM: nrec check: rollups:"), "{out}");

    // the options that only --check reads need it
    let (code, _, err) = status(&env, &["--min-coverage", "50"], "2026-11-22T10:10:30Z");
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = status(
        &env,
        &["--check", "--min-coverage", "150"],
        "2026-11-22T10:10:30Z",
    );
    assert_eq!(code, Some(2), "{err}");
}

/// Issue 31 item 7: a daemon's 10 s samples, 9.998 s apart by the monotonic clock, are
/// "recording every 10s" — the interval is rounded, not cut down to 9 s.
#[test]
fn a_ten_second_interval_reads_as_ten_seconds() {
    let env = Env::new();
    let mut p = FakeProc::new();
    let t0: jiff::Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
    for k in 0..6 {
        p.iface(b"eth0").add(1000, 1, 1000, 1);
        p.uptime_ms += 9_998;
        env.record_ok(
            &p,
            &(t0 + jiff::SignedDuration::from_millis(k * 9_998)).to_string(),
        );
    }
    let (code, out, _) = status(&env, &["--check"], "2026-11-22T10:05:00Z");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("(recording every 10s)"), "{out}");
}
