//! Bad arguments exit 2 with one clear line; windows fall on exact local-day bounds.

use crate::harness::*;

fn one_line_usage_error(env: &Env, args: &[&str], needle: &str) {
    let out = env.cmd(args).env("NREC_NOW", at(0)).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(err.starts_with("nrec: "), "{err}");
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let env = Env::new();
    let p = FakeProc::new();
    env.record_ok(&p, &at(0));
    one_line_usage_error(&env, &["report", "--date", "2026-02-30"], "2026-02-30");
    one_line_usage_error(&env, &["report", "--date", "yesterday"], "YYYY-MM-DD");
    one_line_usage_error(&env, &["report", "--since", "7x"], "\"7x\"");
    one_line_usage_error(&env, &["report", "--since", "-7d"], "\"-7d\"");
    one_line_usage_error(&env, &["report", "--since", "0d"], "positive");
    one_line_usage_error(&env, &["report", "-n", "DEV,BOGUS"], "BOGUS");
    one_line_usage_error(&env, &["report", "--interval", "0m"], "0m");
    one_line_usage_error(&env, &["report", "--interval", "abc"], "abc");
    one_line_usage_error(
        &env,
        &["report", "--yesterday", "--date", "2026-01-01"],
        "choose one",
    );
    one_line_usage_error(&env, &["report", "--since", "1d", "--until", "2d"], "empty");
    one_line_usage_error(&env, &["report", "--format", "xml"], "xml");
    one_line_usage_error(&env, &["report", "--bogus"], "--bogus");
    one_line_usage_error(&env, &["frobnicate"], "frobnicate");
    let out = env
        .cmd(&["report"])
        .env("NREC_NOW", "last tuesday")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NREC_NOW"));
}

/// The JSON window of `report --yesterday` in `tz` at `now`.
fn yesterday(env: &mut Env, tz: &str, now: &str) -> (String, String) {
    env.tz = tz.into();
    let out = env.report_ok(&["--yesterday", "--format", "json"], now);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let w = &v["window"];
    (
        w["start"].as_str().unwrap().into(),
        w["end"].as_str().unwrap().into(),
    )
}

#[test]
fn yesterday_across_dst_and_odd_offsets() {
    let mut env = Env::new();
    env.record_ok(&FakeProc::new(), &at(0));
    assert_eq!(
        yesterday(&mut env, "Europe/Berlin", "2026-03-30T10:00:00Z"),
        (
            "2026-03-29T00:00:00+01:00".into(),
            "2026-03-30T00:00:00+02:00".into()
        ),
        "spring forward: a 23-hour day"
    );
    assert_eq!(
        yesterday(&mut env, "Europe/Berlin", "2026-10-26T10:00:00Z"),
        (
            "2026-10-25T00:00:00+02:00".into(),
            "2026-10-26T00:00:00+01:00".into()
        ),
        "fall back: a 25-hour day"
    );
    assert_eq!(
        yesterday(&mut env, "America/Santiago", "2026-09-07T15:00:00Z"),
        (
            "2026-09-06T01:00:00-03:00".into(),
            "2026-09-07T00:00:00-03:00".into()
        ),
        "local midnight does not exist: the day starts at 01:00"
    );
    assert_eq!(
        yesterday(&mut env, "Asia/Kolkata", "2026-11-23T00:00:00Z"),
        (
            "2026-11-22T00:00:00+05:30".into(),
            "2026-11-23T00:00:00+05:30".into()
        )
    );
}

#[test]
fn samples_fall_inside_exact_dst_day_bounds() {
    // Berlin 2026-03-29 is 23 h long: [2026-03-28T23:00Z, 2026-03-29T22:00Z). A sample closes
    // the interval that ends at its time, so the day holds the samples of (start, end].
    let mut env = Env::new();
    env.tz = "Europe/Berlin".into();
    let mut p = FakeProc::new();
    for (k, ts) in [
        "2026-03-28T22:59:00Z", // 23:59 on the 28th: baseline before the day
        "2026-03-28T23:00:00Z", // 00:00 +01 closes 23:59–00:00 of the 28th: outside
        "2026-03-29T21:59:00Z", // 23:59 +02: first row (00:00–23:59)
        "2026-03-29T22:00:00Z", // 00:00 on the 30th closes 23:59–24:00 of the 29th: last row
        "2026-03-29T22:01:00Z", // 00:01 on the 30th: outside
    ]
    .iter()
    .enumerate()
    {
        p.iface(b"eth0").add(1000 * (k as u64 + 1), 1, 0, 0);
        p.uptime_ms += 60_000;
        env.record_ok(&p, ts);
    }
    let out = env.report_ok(
        &["--date", "2026-03-29", "--iface", "eth0", "--format", "csv"],
        "2026-04-01T00:00:00Z",
    );
    let (h, rows) = parse_csv(&out);
    let times: Vec<&str> = rows.iter().map(|r| col(&h, r, "time")).collect();
    assert_eq!(
        times,
        ["2026-03-29T23:59:00+02:00", "2026-03-30T00:00:00+02:00"]
    );
    assert_eq!(col(&h, &rows[0], "rx_bytes"), "3000");
}

/// Issue 11 item 7: one rule for the config file — every command reads it first, and a
/// broken one is exit 2 with one line naming it (the recorders store their sample first).
#[test]
fn every_command_refuses_a_broken_config_file() {
    let env = Env::new();
    let p = FakeProc::new();
    env.record_ok(&p, &at(0));
    let cfg = env.tmp.path().join("broken.toml");
    std::fs::write(&cfg, "[retention]\nraw = \"soon\"\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    for args in [
        &["report"][..],
        &["top-procs"],
        &["top-ports"],
        &["top-hosts"],
        &["proc", "x"],
        &["summary"],
        &["export", "iface"],
        &["status"],
        &["check"],
        &["prune"],
        &["rollup"],
    ] {
        for via_env in [false, true] {
            let mut c = if via_env {
                let mut c = env.cmd(args);
                c.env("NREC_CONFIG", cfg);
                c
            } else {
                env.cmd(&[&["--config", cfg], args].concat())
            };
            let out = c.env("NREC_NOW", at(1)).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} (env {via_env}): {err}"
            );
            assert!(err.contains("broken.toml"), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
    // record stores its sample, then says the config is broken
    p.write();
    let out = env
        .cmd(&["--config", cfg, "record"])
        .env("NREC_PROC_ROOT", p.path())
        .env("NREC_NOW", at(2))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(env.samples(), 2, "the sample was stored");
}

/// Issue 11 items 9–10: each offered option does what its help says; what a command does not
/// take is not offered, and a misspelling gets the right spelling on the same line.
#[test]
fn help_offers_only_what_works_and_misspellings_get_a_suggestion() {
    let env = Env::new();
    env.record_ok(&FakeProc::new(), &at(0));
    let run = |args: &[&str]| {
        let out = env.cmd(args).env("NREC_NOW", at(1)).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (args, needle) in [
        (
            &["status", "--format", "csv"][..],
            "[possible values: table, json]",
        ),
        (
            &["export", "iface", "--format", "table"],
            "[possible values: csv, json, ndjson, openmetrics]",
        ),
        (&["top-ports", "--by", "exe"], "'--by'"),
        (&["top-hosts", "--by", "exe"], "'--by'"),
        (&["top-proc"], "'top-procs'"),
        (&["report", "--sinc", "1h"], "'--since'"),
        (
            &["report", "--interval", "banana"],
            "not a span; use e.g. 30s, 10m, 1h or 6h",
        ),
        (
            &[
                "report",
                "--since",
                "2026-11-22T12:00:00.5",
                "--until",
                "2026-11-22T12:00:00.5",
            ],
            "start 2026-11-22 12:00:00 UTC is not before end 2026-11-22 12:00:00 UTC",
        ),
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // offered and working
    for args in [
        &["top-procs", "--by", "exe"][..],
        &["status", "--format", "json"],
        &["export", "iface", "--format", "ndjson"],
        &["report", "-n", "PROC"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
    }
    let (_, help, _) = run(&["report", "--help"]);
    assert!(help.contains("STATE PROC LISTEN"), "{help}");
    let today = help.lines().find(|l| l.contains("--today")).unwrap();
    assert!(
        !today.contains("default"),
        "report's default is today, others' 24 h: {today}"
    );
    let (_, help, _) = run(&["top-ports", "--help"]);
    assert!(!help.contains("--by"), "{help}");
    assert!(help.contains("default window: the last 24 h"), "{help}");
}

/// Issue 12 item 9: a `TZ` that names no zone is an error naming it, never a silent UTC;
/// the forms glibc accepts (`:Name`, a TZif path, a POSIX rule) work.
#[test]
fn an_invalid_tz_is_an_error_naming_it() {
    let mut env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &at(0));
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(1));
    for bad in ["Invalid/Zone", "/etc/passwd"] {
        env.tz = bad.into();
        for args in [&["report"][..], &["summary"], &["status"], &["top-procs"]] {
            let out = env.cmd(args).env("NREC_NOW", at(1)).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "TZ={bad} {args:?}: {err}");
            assert!(err.contains(&format!("TZ \"{bad}\"")), "{err}");
        }
    }
    for (good, offset) in [
        (":Asia/Kolkata", "+05:30"),
        ("EST5EDT,M3.2.0,M11.1.0", "-05:00"),
    ] {
        env.tz = good.into();
        let out = env.report_ok(&["--format", "csv", "--since", "1h"], &at(2));
        let (h, rows) = parse_csv(&out);
        assert!(!rows.is_empty(), "TZ={good}: {out}");
        assert!(
            rows.iter().all(|r| col(&h, r, "time").ends_with(offset)),
            "TZ={good}: {out}"
        );
    }
}

/// Issue 12 item 3: a bad `NREC_NOW` (unparsable, or before 1970) is exit 2 — and `record`
/// still stores its sample first (with the system clock), as the README promises.
#[test]
fn a_bad_nrec_now_costs_no_sample() {
    let env = Env::new();
    let p = FakeProc::new();
    env.record_ok(&p, &at(0));
    for (i, bad) in ["yesterday-ish", "1960-01-01T00:00:00Z"]
        .into_iter()
        .enumerate()
    {
        let out = env.record(&p, bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("NREC_NOW"), "{err}");
        assert_eq!(env.samples(), 2 + i as i64, "{bad}: the sample was stored");
        let out = env.report(&[], bad);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    let last: i64 = env
        .sql()
        .query_row("SELECT max(ts_ms) FROM sample", [], |r| r.get(0))
        .unwrap();
    assert!(last > 0, "stored with the system clock, never before 1970");
    let out = env.cmd(&["check"]).output().unwrap();
    assert_success(&out);
}

/// Issue 31 item 11: every command's `--help` lists its own options first, then the global
/// ones (--db, --config, --verbose, --quiet) under their own heading, never among its own.
#[test]
fn every_help_lists_the_commands_options_then_the_global_ones() {
    let help = |args: &[&str]| -> String {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&["--help"]);
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 15, "{commands:?}");
    let global = ["--db", "--config", "--verbose", "--quiet"];
    for cmd in commands.iter().map(String::as_str).chain([""]) {
        let text = if cmd.is_empty() {
            top.clone()
        } else {
            help(&[cmd, "--help"])
        };
        let (own, rest) = text
            .split_once("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("nrec {cmd} --help has no Global options heading:\n{text}"));
        for g in global {
            assert!(
                !own.contains(&format!("{g} "))
                    && !own.contains(&format!("{g}\n"))
                    && !own.contains(&format!("{g}.")),
                "nrec {cmd} --help lists {g} among its own options:\n{own}"
            );
            assert!(
                rest.contains(g),
                "nrec {cmd} --help: {g} missing under Global options"
            );
        }
        // nothing of the command's own after the global heading
        let after: Vec<&str> = rest
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
            .filter(|l| !global.iter().any(|g| l.contains(g)))
            .collect();
        assert!(
            after.is_empty(),
            "nrec {cmd} --help: {after:?} after Global options"
        );
    }
}
