//! Quotas and alerts (`[[alert]]`, `nrec alerts`): histories recorded from a fake /proc at
//! fixed clocks, the rules' commands real programs that log what they were given.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A fake /proc recorded at a clock the test moves (wall clock and uptime together).
struct Timeline {
    env: Env,
    p: FakeProc,
    now: jiff::Timestamp,
    cfg: PathBuf,
}

impl Timeline {
    fn new(start: &str, config: &str) -> Timeline {
        let env = Env::new();
        let cfg = env.tmp.path().join("nrec.toml");
        std::fs::write(&cfg, config).unwrap();
        Timeline {
            env,
            p: FakeProc::new(),
            now: start.parse().unwrap(),
            cfg,
        }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = self
            .env
            .cmd(&[&["--config", self.cfg.to_str().unwrap()], args].concat());
        c.env("NREC_NOW", self.now.to_string())
            .env("NREC_PROC_ROOT", self.p.path());
        c
    }

    /// Advances the clock by `secs`, adds eth0 traffic, and records.
    fn step(&mut self, secs: i64, rx: u64, tx: u64) -> std::process::Output {
        self.now += jiff::SignedDuration::from_secs(secs);
        self.p.uptime_ms += secs * 1000;
        self.p
            .iface(b"eth0")
            .add(rx, rx / 1000 + 1, tx, tx / 1000 + 1);
        self.p.write();
        self.cmd(&["record"]).output().unwrap()
    }

    fn step_ok(&mut self, secs: i64, rx: u64, tx: u64) -> String {
        let out = self.step(secs, rx, tx);
        assert_success(&out);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn alerts_json(&self) -> serde_json::Value {
        let out = self.cmd(&["alerts", "--format", "json"]).output().unwrap();
        assert_success(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// A command that appends its environment's view and its stdin (one JSON line) to files in
/// `dir` (made writable for any user), and leaves anything a shell would have run out of it.
fn logger(dir: &Path) -> PathBuf {
    let script = dir.join("log-alert.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s|%s|%s|%s\\n' \"$NREC_ALERT_RULE\" \"$NREC_ALERT_SUBJECT\" \"$NREC_ALERT_PERIOD_START\" \"$NREC_ALERT_VALUE\" >> \"$1/env.log\"\ncat >> \"$1/stdin.log\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // the command runs as an unprivileged user when the test is root (run_as's default):
    // it may enter the directory and write its logs there
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    script
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_monthly_quota_fires_once_per_month_never_for_a_reset_and_counts_a_gap_once() {
    let logs = tempfile::tempdir().unwrap();
    let script = logger(logs.path());
    let config = format!(
        "[[alert]]\nname = \"eth0-month\"\ninterface = \"eth0\"\nvolume = \"1 MB\"\nperiod = \"month\"\ncommand = [{:?}, {:?}]\n",
        script.to_str().unwrap(),
        logs.path().to_str().unwrap()
    );
    let mut t = Timeline::new("2026-11-28T10:00:00Z", &config);
    let env_log = logs.path().join("env.log");
    let stdin_log = logs.path().join("stdin.log");
    t.step_ok(0, 0, 0); // baseline
    t.step_ok(60, 300_000, 100_000);
    assert!(lines(&env_log).is_empty(), "400 kB of 1 MB: no alert");
    let v = t.alerts_json();
    assert_eq!(v["rows"][0]["value"], 400_000, "{v}");
    assert_eq!(v["rows"][0]["over"], false);

    let stderr = t.step_ok(60, 600_000, 100_000); // 1.1 MB: crosses
    assert!(
        stderr.contains("alert eth0-month: eth0 total this month"),
        "the journal line: {stderr}"
    );
    assert_eq!(lines(&env_log).len(), 1, "fired once");
    t.step_ok(60, 300_000, 0);
    // a gap across the end of the month: 10 kB by Nov 30 23:00 (November's), then 600 kB
    // in an interval that ends on Dec 1 01:00 — December's, as summary counts it
    t.step_ok(2 * 86_400 + 13 * 3600 - 180, 10_000, 0);
    t.step_ok(2 * 3600, 600_000, 0);
    assert_eq!(
        lines(&env_log).len(),
        1,
        "still once in November: {:?}",
        lines(&env_log)
    );
    let v = t.alerts_json();
    assert_eq!(
        v["rows"][0]["value"], 600_000,
        "the gap counts in December only: {v}"
    );
    let sum = t
        .cmd(&["summary", "--monthly", "--format", "json"])
        .output()
        .unwrap();
    let sum: serde_json::Value = serde_json::from_slice(&sum.stdout).unwrap();
    let month = |m: &str| {
        sum["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["iface"] == "eth0" && r["period"] == m)
            .map(|r| r["total_bytes"].as_u64().unwrap())
    };
    assert_eq!(month("2026-11"), Some(1_410_000), "{sum}");
    assert_eq!(
        month("2026-12"),
        Some(600_000),
        "alerts and summary agree: {sum}"
    );

    // a counter reset (the driver reloaded): counted from zero, never a 4 GiB "wrap"
    let e = t.p.iface(b"eth0");
    e.c[0] = 5_000;
    e.c[8] = 0;
    let stderr = t.step_ok(60, 0, 0);
    assert!(!stderr.contains("alert eth0-month"), "{stderr}");
    assert_eq!(t.alerts_json()["rows"][0]["value"], 605_000);

    t.step_ok(60, 500_000, 0); // 1.105 MB in December: fires again
    t.step_ok(60, 1_000_000, 0);
    let env_lines = lines(&env_log);
    assert_eq!(env_lines.len(), 2, "once per month: {env_lines:?}");
    assert!(
        env_lines[0].starts_with("eth0-month|eth0|2026-11-01T00:00:00+00:00|1100000"),
        "{env_lines:?}"
    );
    assert!(
        env_lines[1].starts_with("eth0-month|eth0|2026-12-01T00:00:00+00:00|1105000"),
        "{env_lines:?}"
    );
    let docs: Vec<serde_json::Value> = lines(&stdin_log)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1]["type"], "volume");
    assert_eq!(docs[1]["period"], "month");
    assert_eq!(docs[1]["limit"], 1_000_000);
    assert_eq!(docs[1]["host"], "testhost");
    assert_eq!(docs[1]["matched"], "eth0");

    // what fired when, and what the command did
    let v = t.alerts_json();
    let row = &v["rows"][0];
    assert_eq!(row["over"], true);
    assert_eq!(row["last_outcome"], "exit 0", "{row}");
    assert!(
        row["last_fired"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-01T01:02"),
        "{row}"
    );
    let fired: i64 = t
        .env
        .sql()
        .query_row(
            "SELECT count(*) FROM alert_fired WHERE outcome = 'exit 0'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(fired, 2);
    let h = t
        .cmd(&["alerts", "--history", "--format", "json"])
        .output()
        .unwrap();
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    let periods: Vec<&str> = h["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["period"].as_str().unwrap())
        .collect();
    assert_eq!(
        periods,
        ["2026-12-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00"],
        "newest first: {h}"
    );
    let table = t.cmd(&["alerts"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("eth0-month") && table.contains("OVER"),
        "{table}"
    );

    // the probe: exit 1 and an OVER line while over the limit; 0 next month
    let check = t.cmd(&["alerts", "--check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("OVER: eth0-month: "));
    t.now = "2027-01-02T00:00:00Z".parse().unwrap();
    let check = t.cmd(&["alerts", "--check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{check:?}");
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("OK: 1 rule(s)"));
}

#[test]
fn a_rate_alert_fires_once_per_episode_and_a_gap_is_not_a_spike() {
    let logs = tempfile::tempdir().unwrap();
    let script = logger(logs.path());
    let config = format!(
        "[[alert]]\nname = \"rx-rate\"\ninterface = \"eth*\"\ndirection = \"rx\"\nrate = \"100 kbit/s\"\nminutes = 3\ncommand = [{:?}, {:?}]\n",
        script.to_str().unwrap(),
        logs.path().to_str().unwrap()
    );
    let mut t = Timeline::new("2026-11-28T10:00:00Z", &config);
    let log = logs.path().join("env.log");
    t.step_ok(0, 0, 0);
    // 100 kbit/s = 750 000 B a minute
    for _ in 0..4 {
        t.step_ok(60, 100_000, 5_000_000); // tx does not count for an rx rule
    }
    assert!(lines(&log).is_empty());
    for _ in 0..4 {
        t.step_ok(60, 2_000_000, 0);
    }
    assert_eq!(
        lines(&log).len(),
        1,
        "one episode, one firing: {:?}",
        lines(&log)
    );
    for _ in 0..4 {
        t.step_ok(60, 10_000, 0);
    }
    let v = t.alerts_json();
    assert!(v["rows"][0]["last_cleared"].is_string(), "re-armed: {v}");
    for _ in 0..4 {
        t.step_ok(60, 2_000_000, 0);
    }
    assert_eq!(lines(&log).len(), 2, "a second episode: {:?}", lines(&log));
    for _ in 0..4 {
        t.step_ok(60, 10_000, 0);
    }
    // a 6-hour gap that moved 100 MB: 37 kbit/s averaged over the gap, not a spike
    t.step_ok(6 * 3600, 100_000_000, 0);
    let v = t.alerts_json();
    let rate = v["rows"][0]["value"].as_f64().unwrap();
    assert!((rate - 100e6 * 8.0 / 21_600.0).abs() < 100.0, "{v}");
    assert_eq!(lines(&log).len(), 2, "{:?}", lines(&log));
}

#[test]
fn a_hostile_interface_name_reaches_the_command_as_data() {
    let logs = tempfile::tempdir().unwrap();
    let script = logger(logs.path());
    let work = tempfile::tempdir().unwrap();
    // backticks and $( ) that a shell would run; an escape sequence and a non-UTF-8 byte
    let name: &[u8] = b"x`touch p`\x1b[2J\xff";
    let config = format!(
        "[[alert]]\nname = \"hostile\"\ninterface = \"x*\"\nvolume = \"1 kB\"\nperiod = \"day\"\ncommand = [{:?}, {:?}]\n\n[[alert]]\nname = \"subst\"\ninterface = \"$(touch q)\"\nvolume = \"1 kB\"\nperiod = \"day\"\ncommand = [{:?}, {:?}]\n",
        script.to_str().unwrap(),
        logs.path().to_str().unwrap(),
        script.to_str().unwrap(),
        logs.path().to_str().unwrap()
    );
    let mut t = Timeline::new("2026-11-28T10:00:00Z", &config);
    t.p.ifaces.push(FakeIface::new(name, 7));
    t.p.ifaces.push(FakeIface::new(b"$(touch q)", 8));
    t.step_ok(0, 0, 0);
    t.p.ifaces[2].add(5_000, 5, 0, 0);
    t.p.ifaces[3].add(5_000, 5, 0, 0);
    let out = {
        t.now += jiff::SignedDuration::from_secs(60);
        t.p.uptime_ms += 60_000;
        t.p.write();
        t.cmd(&["record"])
            .current_dir(work.path())
            .output()
            .unwrap()
    };
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\x1b'),
        "no raw escape on the journal: {stderr:?}"
    );
    assert!(!work.path().join("p").exists() && !work.path().join("q").exists());
    assert!(!logs.path().join("p").exists() && !logs.path().join("q").exists());
    let docs: Vec<serde_json::Value> = lines(&logs.path().join("stdin.log"))
        .iter()
        .map(|l| serde_json::from_str(l).expect("valid JSON despite the name"))
        .collect();
    assert_eq!(docs.len(), 2, "{docs:?}");
    let hostile = docs.iter().find(|d| d["rule"] == "hostile").unwrap();
    let m = hostile["matched"].as_str().unwrap();
    assert!(
        m.starts_with("x`touch p`") && !m.contains('\x1b') && !m.contains('\u{fffd}'),
        "{m:?}"
    );
    let subst = docs.iter().find(|d| d["rule"] == "subst").unwrap();
    assert_eq!(subst["subject"], "$(touch q)");
    let env = lines(&logs.path().join("env.log"));
    assert!(
        env.iter().any(|l| l.starts_with("subst|$(touch q)|")),
        "{env:?}"
    );
}

#[test]
fn a_failing_or_hanging_command_costs_no_sample() {
    let config = "[[alert]]\nname = \"hangs\"\ninterface = \"eth0\"\nvolume = \"1 kB\"\nperiod = \"hour\"\ncommand = [\"/bin/sleep\", \"30\"]\ntimeout = \"1s\"\n\n\
                  [[alert]]\nname = \"fails\"\ninterface = \"eth0\"\nvolume = \"1 kB\"\nperiod = \"hour\"\ncommand = [\"/bin/false\"]\n\n\
                  [[alert]]\nname = \"missing\"\ninterface = \"eth0\"\nvolume = \"1 kB\"\nperiod = \"hour\"\ncommand = [\"/nonexistent/notify\"]\n";
    let mut t = Timeline::new("2026-11-28T10:00:00Z", config);
    t.step_ok(0, 0, 0);
    let started = Instant::now();
    let stderr = t.step_ok(60, 50_000, 0);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "bounded by the 1 s timeout: {took:?}"
    );
    assert!(stderr.contains("killed after 1 s (timeout)"), "{stderr}");
    assert!(stderr.contains("command /bin/false: exit 1"), "{stderr}");
    assert!(stderr.contains("not started"), "{stderr}");
    assert_eq!(t.env.samples(), 2, "the sample was stored");
    t.step_ok(60, 50_000, 0);
    assert_eq!(t.env.samples(), 3, "and the next one too");
    let v = t.alerts_json();
    let outcome = |rule: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == rule)
            .unwrap()["last_outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome("hangs"), "killed after 1 s (timeout)");
    assert_eq!(outcome("fails"), "exit 1");
    assert!(outcome("missing").starts_with("not started"), "{v}");
}

/// 64 KiB over a loopback TCP connection of the test's own.
fn move_64k_over_lo() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.write_all(&[7u8; 64 * 1024]).unwrap();
    drop(c);
    let mut sink = Vec::new();
    s.read_to_end(&mut sink).unwrap();
    assert_eq!(sink.len(), 64 * 1024);
}

#[test]
fn the_daemon_keeps_sampling_while_a_command_hangs() {
    // the live host (its own namespace needs no privilege): lo, and bytes the test sends
    // over it itself
    let env = Env::new();
    let cfg = env.tmp.path().join("nrec.toml");
    std::fs::write(
        &cfg,
        "[[alert]]\nname = \"hangs\"\ninterface = \"lo\"\nvolume = \"10 kB\"\nperiod = \"hour\"\ncommand = [\"/bin/sleep\", \"30\"]\ntimeout = \"4s\"\n",
    )
    .unwrap();
    let count = |table: &str| env.rows(table);
    let child = env
        .cmd(&[
            "--config",
            cfg.to_str().unwrap(),
            "daemon",
            "--interval",
            "1s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the baseline", || count("sample") >= 1);
    move_64k_over_lo();
    wait_for("the firing", || count("alert_fired") > 0);
    let at_fire = count("sample");
    std::thread::sleep(Duration::from_millis(3000));
    let during = count("sample") - at_fire;
    // SAFETY: a signal to the child we spawned (not yet reaped).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        during >= 2,
        "samples kept coming while the command hung: {during} in 3 s"
    );
    assert!(
        err.contains("killed after 4 s (timeout)"),
        "the daemon waited for it at exit: {err}"
    );
}

/// The daemon raises its soft limit of open descriptors to the hard one (two netlink sockets
/// per network namespace); an alert's command gets the soft limit it started with back.
#[test]
fn the_daemon_holds_more_descriptors_and_its_commands_do_not() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let out = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let seen = out.path().join("limit");
    let cfg = env.tmp.path().join("nrec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[alert]]\nname = \"limits\"\ninterface = \"lo\"\nvolume = \"10 kB\"\nperiod = \"hour\"\ncommand = [\"/bin/sh\", \"-c\", \"ulimit -Sn > {}\"]\ntimeout = \"4s\"\n",
            seen.display()
        ),
    )
    .unwrap();
    let count = |table: &str| env.rows(table);
    let mut cmd = env.cmd(&[
        "--config",
        cfg.to_str().unwrap(),
        "daemon",
        "--interval",
        "1s",
    ]);
    // SAFETY: setrlimit only, between fork and exec
    unsafe {
        cmd.pre_exec(|| {
            let r = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 4096,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the baseline", || count("sample") >= 1);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect();
    move_64k_over_lo();
    wait_for("the command's report", || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s.ends_with('\n'))
    });
    // SAFETY: a signal to the child we spawned (not yet reaped).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let done = child.wait_with_output().unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(open_files, ["4096", "4096"], "the daemon's: {limits}");
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "256\n");
}

#[test]
fn a_rule_that_cannot_be_evaluated_is_a_config_error_naming_its_line() {
    // errors found in the file itself: every command refuses it (exit 2), naming the line
    for (rule, want) in [
        ("volume = \"100 G\"\nperiod = \"day\"", "volume \"100 G\""),
        ("volume = \"1 GB\"", "volume needs a period"),
        ("rate = \"5 Mbit/s\"", "rate needs minutes"),
        ("volume = \"1 GB\"\nperiod = \"week\"", "period \"week\""),
        (
            "volume = \"1 GB\"\nperiod = \"day\"\nprocess = \"nginx\"",
            "name exactly one",
        ),
        (
            "volume = \"1 GB\"\nperiod = \"day\"\n[[alert]]\nname = \"r\"\nport = 443\nvolume = \"1 GB\"\nperiod = \"day\"",
            "already the rule of line 3",
        ),
        (
            "volume = \"1 GB\"\nperiod = \"day\"\ntimeout = \"5m\"",
            "timeout \"5m\"",
        ),
        (
            "volume = \"1 GB\"\nperiod = \"day\"\nshell = \"sh -c\"",
            "unknown field `shell`",
        ),
        (
            "volume = \"1 GB\"\nperiod = \"day\"\nscope = \"internet\"",
            "scope splits process traffic by remote host",
        ),
        (
            "volume = \"1 GB\"\nperiod = \"day\"\nscope = \"wan\"",
            "scope \"wan\": expected loopback, lan or internet",
        ),
    ] {
        let text = format!("# quotas\n\n[[alert]]\nname = \"r\"\ninterface = \"eth0\"\n{rule}\n");
        let t = Timeline::new("2026-11-28T10:00:00Z", &text);
        let out = t.cmd(&["alerts"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rule}: {err}");
        assert!(
            err.contains(want)
                && (err.contains("alert \"r\" (line ") || err.contains("(line 8)"))
                && err.lines().count() == 1,
            "{rule}: {err}"
        );
    }
    let t = Timeline::new(
        "2026-11-28T10:00:00Z",
        "[[alert]]\nname = \"p\"\nprocess = \"sixteen-bytes-xx\"\nvolume = \"1 GB\"\nperiod = \"day\"\n",
    );
    let err = String::from_utf8_lossy(&t.cmd(&["alerts"]).output().unwrap().stderr).into_owned();
    assert!(
        err.contains("1 to 15 bytes") && err.contains("line 1"),
        "{err}"
    );

    // an interface nothing recorded: found against the database — record stores its sample
    // first, then exits 2 naming the rule's line and what was recorded
    let mut t = Timeline::new(
        "2026-11-28T10:00:00Z",
        "[[alert]]\nname = \"ok\"\ninterface = \"eth0\"\nvolume = \"1 GB\"\nperiod = \"day\"\n\n[[alert]]\nname = \"typo\"\ninterface = \"eht0\"\nvolume = \"1 GB\"\nperiod = \"day\"\n",
    );
    let out = t.step(0, 0, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("alert \"typo\" (line 7): interface eht0 matches no recorded interface (recorded: eth0, lo)"),
        "{err}"
    );
    assert_eq!(t.env.samples(), 1, "the sample was stored first");
    let out = t.cmd(&["alerts"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(line 7)"));
}

#[test]
fn process_unit_container_and_port_rules_count_what_the_reports_count() {
    // a day and a half of 5-minute samples: alpha (on tcp/443) and beta, written as the
    // recorder stores them; alpha's unit and container as the recorder would have found them
    let env = Env::new();
    let start: jiff::Timestamp = "2026-11-21T00:00:00Z".parse().unwrap();
    crate::rollups::write_history(&env, start.as_millisecond(), 400, 300_000, 7);
    env.sql()
        .execute(
            "UPDATE process SET unit = 'alpha.service', container = 'abcdef1234567890' WHERE comm = CAST('alpha' AS BLOB)",
            [],
        )
        .unwrap();
    let cfg = env.tmp.path().join("nrec.toml");
    std::fs::write(
        &cfg,
        "[[alert]]\nname = \"p\"\nprocess = \"alpha\"\nvolume = \"1 TB\"\nperiod = \"day\"\n\n\
         [[alert]]\nname = \"u\"\nunit = \"alpha.service\"\nvolume = \"1 TB\"\nperiod = \"day\"\n\n\
         [[alert]]\nname = \"c\"\ncontainer = \"abcdef123456\"\nvolume = \"1 TB\"\nperiod = \"day\"\n\n\
         [[alert]]\nname = \"port\"\nport = 443\ndirection = \"rx\"\nvolume = \"1 TB\"\nperiod = \"month\"\n\n\
         [[alert]]\nname = \"b\"\nprocess = \"beta\"\ndirection = \"tx\"\nvolume = \"1 TB\"\nperiod = \"day\"\n",
    )
    .unwrap();
    let now = "2026-11-22T12:00:00Z";
    let json = |args: &[&str]| -> serde_json::Value {
        let out = env
            .cmd(&[&["--config", cfg.to_str().unwrap()], args].concat())
            .env("NREC_NOW", now)
            .output()
            .unwrap();
        assert_success(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let a = json(&["alerts", "--format", "json"]);
    let value = |rule: &str| alert_value(&a, rule);
    let today = |args: &[&str], col: &str| -> u64 {
        let s = json(&[&["summary", "--format", "json"], args].concat());
        s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["period"] == "today")
            .map_or(0, |r| r[col].as_u64().unwrap())
    };
    let alpha = today(&["--proc", "alpha"], "total_bytes");
    assert!(alpha > 0);
    assert_eq!(value("p"), alpha, "{a}");
    assert_eq!(value("u"), alpha, "the unit's processes: {a}");
    assert_eq!(value("c"), alpha, "a 12-character container prefix: {a}");
    assert_eq!(value("b"), today(&["--proc", "beta"], "tx_bytes"), "{a}");
    let s = json(&["summary", "--port", "443", "--monthly", "--format", "json"]);
    let month = s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["period"] == "2026-11")
        .unwrap()["rx_bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(value("port"), month, "{a}");
}

#[test]
fn in_the_journal_an_alert_is_a_warning() {
    let mut t = Timeline::new(
        "2026-11-28T10:00:00Z",
        "[[alert]]\nname = \"j\"\ninterface = \"eth0\"\nvolume = \"1 kB\"\nperiod = \"day\"\n",
    );
    t.step_ok(0, 0, 0);
    // stderr on a stream JOURNAL_STREAM names (systemd sets it to its socket's device and
    // inode): the line carries the syslog priority <4>, so `journalctl -p warning` has it
    let path = t.env.tmp.path().join("journal");
    let f = std::fs::File::create(&path).unwrap();
    let m = f.metadata().unwrap();
    use std::os::unix::fs::MetadataExt;
    t.now += jiff::SignedDuration::from_secs(60);
    t.p.uptime_ms += 60_000;
    t.p.iface(b"eth0").add(5_000, 5, 0, 0);
    t.p.write();
    let out = t
        .cmd(&["record"])
        .env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()))
        .stderr(f)
        .output()
        .unwrap();
    assert!(out.status.success());
    let journal = std::fs::read_to_string(&path).unwrap();
    assert!(
        journal.contains("\n<4>nrec: alert j: eth0 total this day")
            || journal.starts_with("<4>nrec: alert j:"),
        "{journal}"
    );
    // elsewhere (a terminal, a file of one's own) no prefix
    let mut t2 = Timeline::new(
        "2026-11-28T10:00:00Z",
        "[[alert]]\nname = \"j\"\ninterface = \"eth0\"\nvolume = \"1 kB\"\nperiod = \"day\"\n",
    );
    t2.step_ok(0, 0, 0);
    let err = t2.step_ok(60, 5_000, 0);
    assert!(
        err.contains("nrec: alert j:") && !err.contains("<4>"),
        "{err}"
    );
}

/// Issue 35 item 2: `warn = ["50%", "80%"]` — each level fires once per period before the
/// quota, its level in the command's environment and JSON, in `nrec alerts` and its
/// history; a jump past every level says the quota alone (the levels are recorded, not said).
#[test]
fn warning_levels_fire_once_each_before_the_quota() {
    let logs = tempfile::tempdir().unwrap();
    let script = logs.path().join("level.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s|%s|%s\\n' \"$NREC_ALERT_RULE\" \"$NREC_ALERT_LEVEL\" \"$NREC_ALERT_VALUE\" >> \"$1/env.log\"\ncat >> \"$1/stdin.log\"; echo >> \"$1/stdin.log\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        logs.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let config = format!(
        "[[alert]]\nname = \"cap\"\ninterface = \"eth0\"\ndirection = \"rx\"\nvolume = \"1 MB\"\nperiod = \"day\"\nwarn = [\"80%\", \"50%\"]\ncommand = [{:?}, {:?}]\n",
        script.to_str().unwrap(),
        logs.path().to_str().unwrap()
    );
    let mut t = Timeline::new("2026-11-28T10:00:00Z", &config);
    let env_log = logs.path().join("env.log");
    t.step_ok(0, 0, 0);
    t.step_ok(60, 400_000, 0);
    assert!(lines(&env_log).is_empty(), "40 %: nothing");
    let err = t.step_ok(60, 200_000, 0); // 60 %
    assert!(err.contains("reached 50% of its quota of"), "{err}");
    assert_eq!(t.alerts_json()["rows"][0]["warned"], "50%");
    t.step_ok(60, 50_000, 0); // 65 %: 50 % already said
    t.step_ok(60, 250_000, 0); // 90 %
    t.step_ok(60, 50_000, 0); // 95 %
    t.step_ok(60, 100_000, 0); // 105 %: the quota
    assert_eq!(
        lines(&env_log),
        ["cap|50%|600000", "cap|80%|900000", "cap|100%|1050000"]
    );
    let stdin = std::fs::read_to_string(logs.path().join("stdin.log")).unwrap();
    let first: serde_json::Value = serde_json::from_str(stdin.lines().next().unwrap()).unwrap();
    assert_eq!(first["level"], "50%", "{first}");
    // the next day: one jump past both levels and the quota says the quota alone
    t.step_ok(86_400, 1_500_000, 0);
    assert_eq!(lines(&env_log).len(), 4, "{:?}", lines(&env_log));
    assert_eq!(lines(&env_log)[3], "cap|100%|1500000");
    let v = t.alerts_json();
    assert_eq!(v["rows"][0]["warned"], "80%", "recorded, not said: {v}");
    assert_eq!(v["rows"][0]["over"], true);
    let out = t
        .cmd(&["alerts", "--history", "--format", "json"])
        .output()
        .unwrap();
    assert_success(&out);
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let levels: Vec<String> = h["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["rule"].as_str().unwrap(),
                r["level"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(levels.len(), 6, "{levels:?}");
    assert_eq!(
        levels.iter().filter(|l| *l == "cap 50%").count(),
        2,
        "{levels:?}"
    );
    assert!(levels.iter().all(|l| l.starts_with("cap ")), "{levels:?}");
    // a level is a percentage below the quota, of a volume rule
    for bad in [
        "warn = [\"120%\"]\nvolume = \"1 MB\"\nperiod = \"day\"",
        "warn = [\"80\"]\nvolume = \"1 MB\"\nperiod = \"day\"",
        "warn = [\"80%\"]\nrate = \"1 Mbit/s\"\nminutes = 5",
    ] {
        let cfg = logs.path().join("bad.toml");
        std::fs::write(
            &cfg,
            format!("[[alert]]\nname = \"x\"\ninterface = \"eth0\"\n{bad}\n"),
        )
        .unwrap();
        let out = t
            .env
            .cmd(&["--config", cfg.to_str().unwrap(), "alerts"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("warn"),
            "{bad}"
        );
    }
}

/// Issue 32 item 1: an alert's command keeps nothing of the recorder's privileges. Started by
/// root it runs as an unprivileged user (`nobody` where there is no `nrec`) unless the rule
/// says `run_as = "root"`; under the unit's ambient capabilities (nrec as `nobody` with
/// CAP_SYS_ADMIN, SYS_PTRACE, DAC_READ_SEARCH, BPF, PERFMON) it has none; either way
/// `no_new_privs`, a minimal environment, and a command that daemonizes with its output open
/// does not hold whoever reads nrec's own output past the deadline.
#[test]
fn an_alert_command_has_no_privilege_of_the_recorder() {
    if !is_root() {
        return skip(
            "an_alert_command_has_no_privilege",
            "needs root to start nrec as root and under capabilities",
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let logs = tempfile::tempdir().unwrap();
    std::fs::set_permissions(logs.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let probe = logs.path().join("probe.sh");
    // what the command is: its ids, capabilities, no_new_privs, environment, and whether it
    // reads root's secrets; then it leaves a daemon holding its output
    std::fs::write(
        &probe,
        "#!/bin/sh\nd=$1/$NREC_ALERT_RULE\ngrep -E '^(Uid|Cap|NoNewPrivs)' /proc/self/status > $d.status\nenv > $d.env\nif cat /etc/shadow > /dev/null 2>&1; then echo read > $d.shadow; else echo denied > $d.shadow; fi\nsetsid sleep 30 &\necho $! > $d.daemon\necho started\n",
    )
    .unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rule = |name: &str, extra: &str| {
        format!(
            "[[alert]]\nname = \"{name}\"\ninterface = \"eth0\"\nvolume = \"1 kB\"\nperiod = \"hour\"\ntimeout = \"2s\"\ncommand = [{:?}, {:?}]\n{extra}\n",
            probe.to_str().unwrap(),
            logs.path().to_str().unwrap()
        )
    };
    let config = rule("plain", "") + &rule("asroot", "run_as = \"root\"");
    let mut t = Timeline::new("2026-11-28T10:00:00Z", &config);
    let field = |rule: &str, key: &str| -> String {
        std::fs::read_to_string(logs.path().join(format!("{rule}.status")))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("{rule}: no {key}"))
    };
    let stop_daemon = |rule: &str| {
        let f = logs.path().join(format!("{rule}.daemon"));
        if let Ok(pid) = std::fs::read_to_string(&f) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) of the sleep this test's command started, by its PID
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        // the next command (maybe another user) writes its own
        let _ = std::fs::remove_file(&f);
    };
    t.step_ok(0, 0, 0);
    // a secret in nrec's environment must not reach the command
    let t0 = Instant::now();
    t.now += jiff::SignedDuration::from_secs(60);
    t.p.uptime_ms += 60_000;
    t.p.iface(b"eth0").add(5_000, 5, 0, 0);
    t.p.write();
    let out = t
        .cmd(&["record"])
        .env("NREC_TEST_SECRET", "hunter2")
        .output()
        .unwrap();
    let took = t0.elapsed();
    stop_daemon("plain");
    stop_daemon("asroot");
    assert_success(&out);
    assert!(
        took < Duration::from_secs(15),
        "the daemonized sleep held nrec's output for {took:?}"
    );
    // root's default: nobody, nothing
    assert_eq!(
        field("plain", "Uid").split_whitespace().next(),
        Some("65534")
    );
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field("plain", cap), "0000000000000000", "{cap}");
    }
    assert_eq!(field("plain", "NoNewPrivs"), "1");
    let env = std::fs::read_to_string(logs.path().join("plain.env")).unwrap();
    assert!(!env.contains("hunter2"), "{env}");
    assert!(
        env.contains("NREC_ALERT_RULE=plain") && env.contains("PATH="),
        "{env}"
    );
    assert_eq!(
        std::fs::read_to_string(logs.path().join("plain.shadow")).unwrap(),
        "denied\n"
    );
    // root only when written
    assert_eq!(field("asroot", "Uid").split_whitespace().next(), Some("0"));
    // nrec as the unit runs it: nobody with ambient capabilities
    let t2 = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t2.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = t2.path().join("state");
    std::fs::create_dir_all(&db).unwrap();
    std::os::unix::fs::chown(&db, Some(65534), Some(65534)).unwrap();
    let bin = t2.path().join("nrec");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(t.p.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&t.cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let caps = "+sys_admin,+sys_ptrace,+dac_read_search,+bpf,+perfmon";
    let mut as_unit = |secs: i64, rx: u64| {
        t.now += jiff::SignedDuration::from_secs(secs);
        t.p.uptime_ms += secs * 1000;
        t.p.iface(b"eth0").add(rx, 1, 0, 0);
        t.p.write();
        output_of_copy(|| {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
                .arg(format!("--inh-caps={caps}"))
                .arg(format!("--ambient-caps={caps}"))
                .arg(&bin)
                .arg("--db")
                .arg(db.join("nrec.db"))
                .arg("--config")
                .arg(&t.cfg)
                .arg("record")
                .env("NREC_NOW", t.now.to_string())
                .env("NREC_PROC_ROOT", t.p.path())
                .env("NREC_EBPF", "off")
                .env("TZ", "UTC");
            c
        })
    };
    assert_success(&as_unit(60, 0));
    std::fs::remove_file(logs.path().join("plain.status")).unwrap();
    let out = as_unit(3600, 5_000);
    stop_daemon("plain");
    stop_daemon("asroot");
    assert_success(&out);
    for cap in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(
            field("plain", cap),
            "0000000000000000",
            "under the unit: {cap}"
        );
    }
    assert_eq!(field("plain", "NoNewPrivs"), "1");
    assert_eq!(
        std::fs::read_to_string(logs.path().join("plain.shadow")).unwrap(),
        "denied\n",
        "DAC_READ_SEARCH is not the command's"
    );
}
