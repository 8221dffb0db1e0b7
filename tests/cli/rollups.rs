//! Rollups, retention and long-range reports: rollups equal raw sums in every zone (DST days,
//! +05:30, +05:45, -03:30), windows that span pruned and raw data agree with raw alone,
//! pruning never drops what is not rolled up and survives kill -9, config errors are clear.
//!
//! Histories are written straight into the raw tables (fast, exact, any length) and then
//! rolled up by `nrec rollup --rebuild`, the same code the recorder runs per sample.

use crate::harness::*;
use jiff::Timestamp;
use std::process::Output;

/// One synthetic sample: time and the interface / per-process deltas it stored.
#[derive(Clone)]
pub(crate) struct S {
    pub ts: i64,
    pub(crate) rx: i64,
    pub(crate) tx: i64,
    pub(crate) procs: [(i64, i64); 2],
}

fn ms(t: &str) -> i64 {
    t.parse::<Timestamp>().unwrap().as_millisecond()
}

/// Writes `n` samples every `step_ms` from `start` (one boot, a continuous chain) with an
/// interface `eth0` and processes alpha / beta (alpha's bytes on tcp/443 with 10.0.0.1).
/// Returns what was written.
pub(crate) fn write_history(env: &Env, start_ms: i64, n: i64, step_ms: i64, seed: u64) -> Vec<S> {
    // the schema comes from a real record, long before the history
    env.record_ok(&FakeProc::new(), "2020-01-01T00:00:00Z");
    let mut c = env.sql();
    let t = c.transaction().unwrap();
    t.execute_batch(
        "INSERT INTO sysinfo (boot_id, hostname, kernel, arch, ncpu) VALUES ('hist', x'68', 'k', 'x86_64', 2);
         INSERT INTO netns (boot_id, inode, name) VALUES ('hist', 4026531840, CAST('root' AS BLOB));
         INSERT INTO iface (netns, ifindex, name) SELECT id, 2, CAST('eth0' AS BLOB) FROM netns WHERE boot_id = 'hist';
         INSERT INTO process (boot_id, pid, start_time, comm, netns)
           SELECT 'hist', 10, 1, CAST('alpha' AS BLOB), id FROM netns WHERE boot_id = 'hist';
         INSERT INTO process (boot_id, pid, start_time, comm, netns)
           SELECT 'hist', 20, 1, CAST('beta' AS BLOB), id FROM netns WHERE boot_id = 'hist';",
    )
    .unwrap();
    let id = |sql: &str| -> i64 { t.query_row(sql, [], |r| r.get(0)).unwrap() };
    let si = id("SELECT id FROM sysinfo WHERE boot_id = 'hist'");
    let iface = id("SELECT id FROM iface WHERE name = CAST('eth0' AS BLOB)");
    let alpha = id("SELECT id FROM process WHERE pid = 10");
    let beta = id("SELECT id FROM process WHERE pid = 20");
    let mut seed = seed | 1;
    let mut rnd = move |m: i64| -> i64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % (m as u64)) as i64
    };
    let mut out = Vec::new();
    let mut prev: Option<i64> = None;
    for k in 0..n {
        let ts = start_ms + k * step_ms;
        let el = prev.map(|_| step_ms);
        t.execute(
            "INSERT INTO sample (ts_ms, mono_ms, sysinfo, prev, elapsed_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![ts, 1000 + k * step_ms, si, prev, el],
        )
        .unwrap();
        let sid = t.last_insert_rowid();
        let s = S {
            ts,
            rx: if el.is_some() { 1 + rnd(5_000_000) } else { 0 },
            tx: if el.is_some() { rnd(700_000) } else { 0 },
            procs: [(rnd(900_000), rnd(90_000)), (rnd(300_000), rnd(30_000))],
        };
        let (drx, dtx) = match el {
            Some(_) => (Some(s.rx), Some(s.tx)),
            None => (None, None),
        };
        t.execute(
            "INSERT INTO iface_sample (sample, iface, d_rx_bytes, d_tx_bytes, flags) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![sid, iface, drx, dtx, if el.is_some() { 0 } else { 1 }],
        )
        .unwrap();
        // a baseline stores no process bytes
        if el.is_some() {
            let mut b = nrec_store::procbytes::SampleBytes::default();
            for (p, (r, x)) in [alpha, beta].into_iter().zip(s.procs) {
                if r + x > 0 {
                    b.add_proc(p, 1, r as u64, x as u64);
                    if p == alpha {
                        b.add_port(p, "tcp", 443, "", r as u64, x as u64);
                        b.add_host(p, "10.0.0.1", r as u64, x as u64);
                    }
                }
            }
            nrec_store::procbytes::write(&t, sid, &b).unwrap();
        }
        out.push(if el.is_some() {
            s
        } else {
            S {
                procs: [(0, 0), (0, 0)],
                ..s
            }
        });
        prev = Some(sid);
    }
    t.commit().unwrap();
    assert_success(&env.cmd(&["rollup", "--rebuild", "-q"]).output().unwrap());
    out
}

fn run(env: &Env, args: &[&str], now: &str, extra: &[(&str, &str)]) -> Output {
    let mut c = env.cmd(args);
    c.env("NREC_NOW", now);
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(env: &Env, args: &[&str], now: &str, extra: &[(&str, &str)]) -> String {
    let out = run(env, args, now, extra);
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

fn config(env: &Env, text: &str) -> String {
    let p = env.tmp.path().join("nrec.toml");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// Local days of `tz` from `first` for `days` days: (label, start ms, end ms).
fn local_days(tz: &str, first: &str, days: i64) -> Vec<(String, i64, i64)> {
    let tz = jiff::tz::TimeZone::get(tz).unwrap();
    let mut d: jiff::civil::Date = first.parse().unwrap();
    let mut out = Vec::new();
    for _ in 0..days {
        let next = d.tomorrow().unwrap();
        let a = d.to_zoned(tz.clone()).unwrap().timestamp().as_millisecond();
        let b = next
            .to_zoned(tz.clone())
            .unwrap()
            .timestamp()
            .as_millisecond();
        out.push((d.to_string(), a, b));
        d = next;
    }
    out
}

/// `summary --daily` (interfaces, then --proc alpha) against sums of the raw rows, per
/// local day of `tz`.
fn assert_daily_sums(env: &Env, hist: &[S], tz: &str, first: &str, days: i64, now: &str) {
    let extra = [("TZ", tz)];
    let until = local_days(tz, first, days + 1)[days as usize].0.clone();
    for what in [None, Some("alpha")] {
        let mut args = vec![
            "summary", "--daily", "--since", first, "--until", &until, "--format", "csv",
        ];
        if let Some(p) = what {
            args.extend(["--proc", p]);
        }
        let text = ok(env, &args, now, &extra);
        let (h, rows) = parse_csv(&text);
        for (label, a, b) in local_days(tz, first, days) {
            let inside = hist.iter().filter(|s| s.ts > a && s.ts <= b);
            let (rx, tx) = match what {
                None => inside.fold((0, 0), |(r, x), s| (r + s.rx, x + s.tx)),
                Some(_) => inside.fold((0, 0), |(r, x), s| (r + s.procs[0].0, x + s.procs[0].1)),
            };
            let got = rows
                .iter()
                .find(|r| col(&h, r, "period") == label)
                .map(|r| {
                    (
                        col(&h, r, "rx_bytes").parse::<i64>().unwrap(),
                        col(&h, r, "tx_bytes").parse::<i64>().unwrap(),
                    )
                });
            assert_eq!(
                got.unwrap_or((0, 0)),
                (rx, tx),
                "{tz} {label} ({what:?}) [{a}, {b}) — {} h",
                (b - a) / 3_600_000
            );
        }
    }
}

#[test]
fn rollups_equal_raw_sums_on_dst_days_and_in_half_and_quarter_hour_zones() {
    // (zone, first local day, days): Berlin's 23-hour and 25-hour days, Kolkata +05:30,
    // Kathmandu +05:45, St. John's -03:30 (with its own DST change on 2026-11-01).
    for (tz, first, days, hist_start) in [
        ("Europe/Berlin", "2026-03-28", 3, "2026-03-27T20:00:00Z"),
        ("Europe/Berlin", "2026-10-24", 3, "2026-10-23T20:00:00Z"),
        ("Asia/Kolkata", "2026-06-01", 2, "2026-05-31T16:00:00Z"),
        ("Asia/Kathmandu", "2026-06-01", 2, "2026-05-31T16:00:00Z"),
        ("America/St_Johns", "2026-10-31", 2, "2026-10-31T00:00:00Z"),
    ] {
        let env = Env::new();
        // every 7 min 13 s: samples fall on all sorts of offsets within quarter hours
        let n = (days + 1) * 86_400 / 433;
        let hist = write_history(&env, ms(hist_start), n, 433_000, 11);
        let now = "2026-12-31T00:00:00Z";
        assert_daily_sums(&env, &hist, tz, first, days, now);
        assert_success(&run(&env, &["check"], now, &[]));
        // Prune every raw sample: the same days now come from 15-minute rollups alone.
        let cfg = config(&env, "[retention]\nraw = \"1d\"\n");
        assert_success(&run(&env, &["--config", &cfg, "prune", "-q"], now, &[]));
        let left: i64 = env
            .sql()
            .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "raw samples pruned");
        assert_daily_sums(&env, &hist, tz, first, days, now);
    }
}

/// `nrec CMD --since SINCE --until UNTIL EXTRA...` (UTC epoch ms), its stdout.
fn over(env: &Env, cmd: &str, since: i64, until: i64, now: &str, extra: &[&str]) -> String {
    let iso = |t: i64| Timestamp::from_millisecond(t).unwrap().to_string();
    let (s, u) = (iso(since), iso(until));
    ok(
        env,
        &[&[cmd, "--since", &s, "--until", &u][..], extra].concat(),
        now,
        &[],
    )
}

/// Total rx/tx per process name from a `top-procs` CSV.
fn top(env: &Env, since: i64, until: i64, now: &str) -> Vec<(String, String, String)> {
    let text = over(env, "top-procs", since, until, now, &["--format", "csv"]);
    let (h, rows) = parse_csv(&text);
    let mut v: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                col(&h, r, "name").to_string(),
                col(&h, r, "rx_bytes").to_string(),
                col(&h, r, "tx_bytes").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A one-line table row split into everything before its last column, and the last column.
fn split_last(s: &str) -> (String, String) {
    assert_eq!(s.lines().count(), 1, "one Average row: {s}");
    let (h, u) = s.trim_end().rsplit_once(' ').unwrap();
    (h.trim_end().to_string(), u.to_string())
}

fn dev_average(env: &Env, since: i64, until: i64, now: &str) -> String {
    let text = over(env, "report", since, until, now, &["-q"]);
    text.lines()
        .filter(|l| l.starts_with("Average:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn windows_across_pruned_and_raw_data_agree_with_raw_alone() {
    let env = Env::new();
    let start = ms("2026-11-10T00:00:00Z");
    let end = ms("2026-11-13T00:00:00Z");
    let hist = write_history(&env, start, (end - start) / 61_000, 61_000, 5);
    let now = "2026-11-13T06:00:00Z";
    let boundary = ms("2026-11-12T00:00:00Z");
    // Windows: edges in the part that will be pruned are whole quarter hours (the finest
    // data left there); edges in the raw part are anywhere, to the millisecond.
    let mut seed = 99u64;
    let mut rnd = move |m: i64| -> i64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % (m as u64)) as i64
    };
    let mut edge = |lo: i64, hi: i64| -> i64 {
        let t = lo + rnd(hi - lo);
        if t < boundary {
            t - t.rem_euclid(900_000)
        } else {
            t
        }
    };
    let mut windows = vec![
        (start, end),
        (start + 900_000, boundary + 1234),
        (boundary, end),
        (start, boundary),
    ];
    for _ in 0..14 {
        let a = edge(start, end - 3_600_000);
        let b = edge(a + 900_000, end + 900_000).max(a + 1);
        windows.push((a, b));
    }
    let before: Vec<_> = windows
        .iter()
        .map(|(a, b)| (top(&env, *a, *b, now), dev_average(&env, *a, *b, now)))
        .collect();
    // sanity: the raw answers are the raw sums
    let (a, b) = windows[1];
    let alpha_rx: i64 = hist
        .iter()
        .filter(|s| s.ts > a && s.ts <= b)
        .map(|s| s.procs[0].0)
        .sum();
    assert!(
        before[1]
            .0
            .iter()
            .any(|(n, rx, _)| n == "alpha" && *rx == alpha_rx.to_string())
    );

    let cfg = config(&env, "[retention]\nraw = \"1d\"\n");
    assert_success(&run(&env, &["--config", &cfg, "prune", "-q"], now, &[]));
    let oldest: i64 = env
        .sql()
        .query_row("SELECT min(ts_ms) FROM sample", [], |r| r.get(0))
        .unwrap();
    assert!(oldest >= boundary, "raw samples before {boundary} pruned");
    for ((a, b), (t, avg)) in windows.iter().zip(&before) {
        assert_eq!(&top(&env, *a, *b, now), t, "top-procs [{a}, {b})");
        // A report reaching into pruned days reads 15-minute rows there and raw rows from the
        // boundary on: its averages equal the raw ones wherever the window ends. Rollups keep
        // no link speed, so %ifutil (the last column) is unknown there, never 0.
        let (head, util) = split_last(&dev_average(&env, *a, *b, now));
        let (want_head, want_util) = split_last(avg);
        assert_eq!(head, want_head, "report DEV [{a}, {b})");
        if *a >= boundary {
            assert_eq!(util, want_util, "report DEV [{a}, {b})");
        } else {
            assert_eq!(util, "-", "report DEV [{a}, {b}): %ifutil of rollup rows");
        }
    }
    // A sar-style report over pruned days: one row per quarter hour, and it says so.
    let (a, b) = (start, boundary);
    let out = run(
        &env,
        &[
            "report",
            "--since",
            "2026-11-10T00:00:00Z",
            "--until",
            "2026-11-12T00:00:00Z",
        ],
        now,
        &[],
    );
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("15-minute rollups"),
        "says which resolution: {err}"
    );
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("eth0") && !l.starts_with("Average"))
        .count();
    assert_eq!(rows, 2 * 96, "one row per quarter hour");
    let rx_raw: i64 = hist
        .iter()
        .filter(|s| s.ts > a && s.ts <= b)
        .map(|s| s.rx)
        .sum();
    let csv = ok(
        &env,
        &[
            "report",
            "--since",
            "2026-11-10T00:00:00Z",
            "--until",
            "2026-11-12T00:00:00Z",
            "--format",
            "csv",
            "-q",
        ],
        now,
        &[],
    );
    let (h, rows) = parse_csv(&csv);
    let rx_rolled: i64 = rows
        .iter()
        .map(|r| col(&h, r, "rx_bytes").parse::<i64>().unwrap())
        .sum();
    assert_eq!(rx_rolled, rx_raw, "rolled-up rows add up to the raw bytes");
}

#[test]
fn pruning_never_deletes_samples_that_are_not_rolled_up() {
    let env = Env::new();
    let start = ms("2026-11-01T00:00:00Z");
    write_history(&env, start, 2 * 24 * 60, 60_000, 3);
    // Samples written behind nrec's back after the rollup: stored raw, not rolled up.
    let c = env.sql();
    let last: i64 = c
        .query_row("SELECT max(id) FROM sample", [], |r| r.get(0))
        .unwrap();
    c.execute(
        "INSERT INTO sample (ts_ms, mono_ms, sysinfo, prev, elapsed_ms)
         SELECT ts_ms + 30000, mono_ms + 30000, sysinfo, NULL, NULL FROM sample WHERE id = ?1",
        [last - 2000],
    )
    .unwrap();
    let now = "2026-11-20T00:00:00Z";
    let out = run(&env, &["check"], now, &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 raw sample(s) are not rolled up"));
    let cfg = config(&env, "[retention]\nraw = \"1d\"\n");
    assert_success(&run(&env, &["--config", &cfg, "prune", "-q"], now, &[]));
    let left: i64 = c
        .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 1, "only the sample that is not rolled up is left");
    assert_success(&run(&env, &["rollup", "-q"], now, &[]));
    assert_success(&run(&env, &["check"], now, &[]));
    assert_success(&run(&env, &["--config", &cfg, "prune", "-q"], now, &[]));
    let left: i64 = c
        .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn pruning_killed_at_any_moment_leaves_a_consistent_database() {
    let env = Env::new();
    let start = ms("2026-11-01T00:00:00Z");
    let n = 6 * 24 * 120; // six days every 30 s
    write_history(&env, start, n, 30_000, 8);
    let now = "2026-11-07T12:00:00Z";
    let cfg = config(&env, "[retention]\nraw = \"1d\"\nhourly = \"3d\"\n");
    let week = || {
        ok(
            &env,
            &[
                "top-procs",
                "--since",
                "2026-11-01",
                "--until",
                "2026-11-08",
                "--format",
                "csv",
            ],
            now,
            &[],
        )
    };
    let total_before = week();
    for delay_ms in [3u64, 15, 40, 90, 160, 260] {
        let mut child = env
            .cmd(&["--config", &cfg, "prune", "-q"])
            .env("NREC_NOW", now)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SAFETY: kill(2) on the pid of the child we just spawned (still unreaped).
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        let out = run(&env, &["check"], now, &[]);
        assert!(
            out.status.success(),
            "after kill -9 at {delay_ms} ms: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_success(&run(&env, &["--config", &cfg, "prune", "-q"], now, &[]));
    assert_success(&run(&env, &["check"], now, &[]));
    let (samples, oldest): (i64, i64) = env
        .sql()
        .query_row("SELECT count(*), min(ts_ms) FROM sample", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    // the sample taken at midnight closed Nov 5 and went with it
    assert_eq!(oldest, ms("2026-11-06T00:00:30Z"), "whole UTC days pruned");
    assert_eq!(
        samples,
        24 * 120 - 1,
        "one raw day kept (Nov 6; the history ends Nov 7 00:00, which closes Nov 6 and was never written)"
    );
    let quarters: i64 = env
        .sql()
        .query_row(
            "SELECT count(*) FROM rollup WHERE quarters IS NOT NULL AND day < ?1",
            [ms("2026-11-04T00:00:00Z") / 86_400_000],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(quarters, 0, "15-minute detail older than 3 days is gone");
    // Daily totals are kept: the whole week still adds up to the same bytes.
    let total_after = week();
    assert_eq!(total_after, total_before);
    // freed pages went back to the file system (incremental auto-vacuum)
    let free: i64 = env
        .sql()
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .unwrap();
    assert!(free <= 256, "free pages kept for reuse: {free}");
}

#[test]
fn config_errors_are_one_clear_line_and_never_cost_a_sample() {
    let env = Env::new();
    let p = FakeProc::new();
    env.record_ok(&p, &at(0));
    let missing = env.tmp.path().join("nope.toml");
    let out = env
        .cmd(&["--config", missing.to_str().unwrap(), "prune"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope.toml") && err.lines().count() == 1,
        "{err}"
    );

    let bad = config(&env, "[retention]\nraw = \"14d\"\nhourlly = \"400d\"\n");
    let mut p = p;
    p.uptime_ms += 60_000;
    p.write();
    let out = env
        .cmd(&["record"])
        .env("NREC_CONFIG", &bad)
        .env("NREC_PROC_ROOT", p.path())
        .env("NREC_NOW", at(1))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unknown field `hourlly`")
            && err.contains("nrec.toml")
            && err.contains("line 3"),
        "{err}"
    );
    let config_lines: Vec<&str> = err.lines().filter(|l| l.contains("config")).collect();
    assert_eq!(config_lines.len(), 1, "one line: {err}");
    let n: i64 = env
        .sql()
        .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2, "the sample was stored all the same");
    for (text, want) in [
        ("[retention]\nraw = 14\n", "invalid type"),
        ("[retention]\nraw = \"fortnight\"\n", "retention.raw"),
        (
            "[retention]\nraw = \"30d\"\nhourly = \"7d\"\n",
            "must not shrink",
        ),
    ] {
        let cfg = config(&env, text);
        let out = env.cmd(&["--config", &cfg, "prune"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert!(
            err.contains(want) && err.lines().count() == 1,
            "{text:?}: {err}"
        );
    }
}

#[test]
fn summary_export_and_check_agree_and_check_catches_tampering() {
    let env = Env::new();
    let start = ms("2026-11-20T00:00:00Z");
    let hist = write_history(&env, start, 3 * 24 * 60, 60_000, 21);
    let now = "2026-11-22T18:07:30Z";
    let now_ms = ms(now);
    // vnstat's default view: today / yesterday / this month / last month / all time
    let text = ok(
        &env,
        &["summary", "--format", "csv", "--iface", "eth0"],
        now,
        &[],
    );
    let (h, rows) = parse_csv(&text);
    let sum = |a: i64, b: i64| -> i64 {
        hist.iter()
            .filter(|s| s.ts > a && s.ts <= b)
            .map(|s| s.rx)
            .sum()
    };
    for (period, a, b) in [
        ("today", ms("2026-11-22T00:00:00Z"), now_ms),
        (
            "yesterday",
            ms("2026-11-21T00:00:00Z"),
            ms("2026-11-22T00:00:00Z"),
        ),
        ("this month", ms("2026-11-01T00:00:00Z"), now_ms),
        ("all time", 0, now_ms),
    ] {
        let r = rows
            .iter()
            .find(|r| col(&h, r, "period") == period)
            .unwrap();
        assert_eq!(col(&h, r, "rx_bytes"), sum(a, b).to_string(), "{period}");
    }
    let today = rows
        .iter()
        .find(|r| col(&h, r, "period") == "today")
        .unwrap();
    let est: f64 = col(&h, today, "estimated_total_bytes").parse().unwrap();
    let tot: f64 = col(&h, today, "total_bytes").parse().unwrap();
    let frac = (now_ms - ms("2026-11-22T00:00:00Z")) as f64 / 86_400_000.0;
    assert!(
        (est - tot / frac).abs() / est < 1e-6,
        "today's estimate: {est} vs {}",
        tot / frac
    );

    // --hourly: the last 24 local hours; --monthly; --top-days; JSON
    let eth0 = |view: &str| {
        let text = ok(
            &env,
            &["summary", view, "--format", "csv", "--iface", "eth0"],
            now,
            &[],
        );
        let parsed = parse_csv(&text);
        (text, parsed)
    };
    let (text, (h, rows)) = eth0("--hourly");
    assert_eq!(rows.len(), 25, "24 hours back and the current one: {text}");
    for r in &rows {
        let a = ms(col(&h, r, "start"));
        let b = ms(col(&h, r, "end"));
        assert_eq!(
            col(&h, r, "rx_bytes"),
            sum(a, b.min(now_ms)).to_string(),
            "{}",
            col(&h, r, "period")
        );
    }
    let (text, (h, rows)) = eth0("--monthly");
    assert_eq!(rows.len(), 1, "one month with data: {text}");
    assert_eq!(col(&h, &rows[0], "period"), "2026-11");
    assert_eq!(col(&h, &rows[0], "rx_bytes"), sum(0, now_ms).to_string());
    let text = ok(
        &env,
        &[
            "summary",
            "--top-days",
            "1",
            "--format",
            "csv",
            "--iface",
            "eth0",
        ],
        now,
        &[],
    );
    let (h, rows) = parse_csv(&text);
    let day_ms = 86_400_000;
    let busiest = (0..3)
        .map(|d| start + d * day_ms)
        .max_by_key(|a| {
            hist.iter()
                .filter(|s| s.ts > *a && s.ts <= (a + day_ms).min(now_ms))
                .map(|s| s.rx + s.tx)
                .sum::<i64>()
        })
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        col(&h, &rows[0], "rx_bytes"),
        sum(busiest, (busiest + day_ms).min(now_ms)).to_string()
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&env, &["summary", "--format", "json"], now, &[])).unwrap();
    assert_eq!(json["timezone"], "UTC");
    assert!(
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["iface"] == "eth0" && r["period"] == "today")
    );

    // export: hourly process rows add up to top-procs over the same window
    let since = "2026-11-20T05:00:00Z";
    let csv = ok(
        &env,
        &[
            "export",
            "proc",
            "--since",
            since,
            "--until",
            "2026-11-22T17:00:00Z",
            "--resolution",
            "1h",
        ],
        now,
        &[],
    );
    let (h, rows) = parse_csv(&csv);
    assert!(
        rows.iter()
            .all(|r| col(&h, r, "start").ends_with(":00:00+00:00"))
    );
    let alpha: i64 = rows
        .iter()
        .filter(|r| col(&h, r, "process") == "alpha")
        .map(|r| col(&h, r, "rx_bytes").parse::<i64>().unwrap())
        .sum();
    let want: i64 = hist
        .iter()
        .filter(|s| s.ts > ms(since) && s.ts <= ms("2026-11-22T17:00:00Z"))
        .map(|s| s.procs[0].0)
        .sum();
    assert_eq!(alpha, want);
    assert_eq!(
        rows.iter()
            .filter(|r| col(&h, r, "process") == "alpha")
            .count(),
        60,
        "60 hours"
    );
    let json = ok(
        &env,
        &[
            "export",
            "iface",
            "--since",
            "2026-11-22",
            "--format",
            "ndjson",
            "--resolution",
            "raw",
        ],
        now,
        &[],
    );
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len() as i64,
        hist.iter()
            .filter(|s| s.ts > ms("2026-11-22T00:00:00Z") && s.ts <= now_ms)
            .count() as i64
    );
    assert_eq!(lines[0]["iface"], "eth0");

    // status: last sample age, raw samples, the last hour's interface bytes
    let st: serde_json::Value =
        serde_json::from_str(&ok(&env, &["status", "--format", "json"], now, &[])).unwrap();
    // (the history runs past NREC_NOW: a negative age says the clock went back)
    let last = hist.iter().map(|s| s.ts).max().unwrap();
    assert_eq!(
        st["last_sample_age_s"].as_f64(),
        Some((now_ms - last) as f64 / 1000.0)
    );
    assert_eq!(
        st["database"]["samples_raw"],
        hist.len() as i64 + 1,
        "history + the schema's first record"
    );
    let hour: i64 = hist
        .iter()
        .filter(|s| s.ts > now_ms - 3_600_000 && s.ts <= now_ms)
        .map(|s| s.rx + s.tx)
        .sum();
    assert_eq!(st["last_hour"]["interface_bytes"], hour);

    // tamper with one rollup row: check names it and exits 3
    assert_success(&run(&env, &["check"], now, &[]));
    env.sql()
        .execute("UPDATE rollup SET total = x'0402ff01' WHERE kind = 3 AND id = (SELECT min(id) FROM rollup WHERE kind = 3)", [])
        .unwrap();
    // reports read the short vector as missing data, never crash on it
    for cmd in ["top-procs", "summary"] {
        let out = run(&env, &[cmd, "--since", "3d"], now, &[]);
        assert_ne!(out.status.code(), Some(101), "{cmd} panicked");
    }
    let out = run(&env, &["check"], now, &[]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL rollups:") && text.contains("proc series"),
        "{text}"
    );
}

/// Issue 12 item 12: `prune` hands back what it freed (it released one page per call and
/// reported what it had asked for), and reports what the file lost.
#[test]
fn prune_hands_the_freed_pages_back_and_says_how_many() {
    let env = Env::new();
    let start = ms("2026-11-01T00:00:00Z");
    write_history(&env, start, 6 * 24 * 120, 30_000, 3);
    let now = "2026-11-07T12:00:00Z";
    let pages = || -> (i64, i64) {
        let c = env.sql();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        (
            c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap(),
            c.query_row("PRAGMA freelist_count", [], |r| r.get(0))
                .unwrap(),
        )
    };
    let (before, _) = pages();
    let cfg = config(&env, "[retention]\nraw = \"1d\"\n");
    let out = run(&env, &["--config", &cfg, "prune"], now, &[]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let released: i64 = err
        .split("released ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    let (after, free) = pages();
    assert!(
        after < before,
        "five of six raw days pruned: {before} -> {after} pages"
    );
    assert!(released > 1, "more than one page: {err}");
    assert_eq!(
        released,
        before - after,
        "reported = what the file lost: {err}"
    );
    assert!(free <= 256, "at most the reserve stays free: {free}");
    let size = std::fs::metadata(&env.db).unwrap().len() as i64;
    let page: i64 = env
        .sql()
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(size, after * page, "the file itself shrank");
}

/// Issue 12 item 1: a clock stepped forward deletes nothing. Within a boot CLOCK_BOOTTIME
/// vouches for the time passed; across a reboot a jump past the raw retention pauses
/// retention until `nrec prune` confirms the clock.
#[test]
fn a_clock_stepped_forward_deletes_no_history() {
    let env = Env::new();
    let cfg = config(&env, "[retention]\nraw = \"2d\"\n");
    let mut p = FakeProc::new();
    let t0 = ms("2026-11-20T00:30:00Z");
    let iso = |t: i64| Timestamp::from_millisecond(t).unwrap().to_string();
    let record = |p: &FakeProc, t: i64| {
        p.write();
        run(
            &env,
            &["--config", &cfg, "record"],
            &iso(t),
            &[("NREC_PROC_ROOT", p.path().to_str().unwrap())],
        )
    };
    // three days, hourly, the clock and the uptime agreeing
    let mut t = t0;
    for _ in 0..72 {
        p.iface(b"eth0").add(1_000_000, 10, 0, 0);
        assert_success(&record(&p, t));
        t += 3_600_000;
        p.uptime_ms += 3_600_000;
    }
    // what the true clock keeps: the raw days from Nov 21 on (Nov 20 is due anyway)
    let keep_from = ms("2026-11-21T00:00:00Z");
    let count = || -> i64 {
        env.sql()
            .query_row(
                "SELECT count(*) FROM sample WHERE ts_ms > ?1",
                [keep_from],
                |r| r.get(0),
            )
            .unwrap()
    };
    let kept = count();
    // 30 records with the clock a year ahead, a minute apart by the uptime
    let year = 365 * 86_400_000i64;
    let mut warned = 0;
    for _ in 0..30 {
        p.uptime_ms += 60_000;
        t += 60_000;
        let out = record(&p, t + year);
        assert_success(&out);
        warned += usize::from(String::from_utf8_lossy(&out.stderr).contains("wall clock"));
    }
    assert_eq!(count(), kept + 30, "nothing deleted by the stepped clock");
    assert_eq!(warned, 30, "each run says why retention held back");
    // the clock is corrected: it agrees with the uptime again, retention resumes normally
    p.uptime_ms += 60_000;
    t += 60_000;
    let out = record(&p, t);
    assert_success(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("clock"));
    let first_day = ok(
        &env,
        &["report", "--date", "2026-11-21", "--format", "csv", "-q"],
        &iso(t),
        &[],
    );
    assert_eq!(
        parse_csv(&first_day).1.len(),
        2 * 24,
        "raw rows (lo, eth0) survive"
    );

    // a reboot whose clock is a year ahead: past the raw retention, so retention pauses
    p.boot_id = "99999999-2222-3333-4444-555555555555".into();
    p.uptime_ms = 30_000;
    let out = record(&p, t + year);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("across a reboot"));
    p.uptime_ms += 60_000;
    assert_success(&record(&p, t + year + 60_000));
    assert_eq!(count(), kept + 33, "still nothing deleted");
    // the user confirms this clock: retention applies it
    assert_success(&run(
        &env,
        &["--config", &cfg, "prune", "-q"],
        &iso(t + year + 60_000),
        &[],
    ));
    let (old, left): (i64, i64) = env
        .sql()
        .query_row(
            "SELECT count(*) FILTER (WHERE ts_ms < ?1), count(*) FROM sample",
            [t + year - 3 * 86_400_000],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((old, left), (0, 32), "prune applied the confirmed clock");
}

/// Issue 35 item 1: `month_start` (vnStat's MonthRotate) makes every "month" a billing
/// cycle — `summary --monthly` and its rows' dates, `summary`'s this / last month, a
/// monthly quota and the metrics' month gauge — exact across a DST change (Berlin, 28 March
/// 2027) and with a 31st start day in February.
#[test]
fn a_billing_cycle_is_every_month_of_nrec() {
    for (start, cycles) in [
        (
            15,
            vec![
                ("2027-01-15..2027-02-14", "2027-01-15", "2027-02-15"),
                ("2027-02-15..2027-03-14", "2027-02-15", "2027-03-15"),
                ("2027-03-15..2027-04-14", "2027-03-15", "2027-04-15"),
            ],
        ),
        (
            31,
            vec![
                ("2027-01-31..2027-02-27", "2027-01-31", "2027-02-28"),
                ("2027-02-28..2027-03-30", "2027-02-28", "2027-03-31"),
                ("2027-03-31..2027-04-29", "2027-03-31", "2027-04-30"),
            ],
        ),
    ] {
        let mut env = Env::new();
        env.tz = "Europe/Berlin".into();
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let mut p = FakeProc::new();
        // a sample at local noon every day from 10 January to 5 April 2027, day k moving
        // 1000 + k bytes: a cycle's bytes are the sum over its local days
        let first: jiff::civil::Date = "2027-01-10".parse().unwrap();
        let noon = |d: jiff::civil::Date| d.at(12, 0, 0, 0).to_zoned(tz.clone()).unwrap();
        let mut prev = noon(first);
        env.record_ok(&p, &prev.timestamp().to_string());
        let mut by_day: Vec<(jiff::civil::Date, u64)> = Vec::new();
        let mut d = first;
        for k in 1..=85u64 {
            d = d.tomorrow().unwrap();
            let z = noon(d);
            p.iface(b"eth0").add(1000 + k, 1, 0, 0);
            p.uptime_ms += z.timestamp().as_millisecond() - prev.timestamp().as_millisecond();
            env.record_ok(&p, &z.timestamp().to_string());
            by_day.push((d, 1000 + k));
            prev = z;
        }
        let now = noon(d).timestamp() + jiff::SignedDuration::from_mins(30);
        let now = now.to_string();
        let cfg = config(
            &env,
            &format!(
                "month_start = {start}\n\n[[alert]]\nname = \"cycle\"\ninterface = \"eth0\"\ndirection = \"rx\"\nvolume = \"1 TB\"\nperiod = \"month\"\n"
            ),
        );
        let bytes_in = |a: &str, b: &str| -> u64 {
            let (a, b): (jiff::civil::Date, jiff::civil::Date) =
                (a.parse().unwrap(), b.parse().unwrap());
            by_day
                .iter()
                .filter(|(d, _)| *d >= a && *d < b)
                .map(|(_, v)| v)
                .sum()
        };
        let csv = ok(
            &env,
            &[
                "--config",
                &cfg,
                "summary",
                "--monthly",
                "-i",
                "eth0",
                "--format",
                "csv",
            ],
            &now,
            &[],
        );
        let (h, rows) = parse_csv(&csv);
        for (label, a, b) in &cycles {
            let row = rows
                .iter()
                .find(|r| col(&h, r, "period") == *label)
                .unwrap_or_else(|| panic!("month_start {start}: no row {label}:\n{csv}"));
            assert_eq!(
                col(&h, row, "rx_bytes").parse::<u64>().unwrap(),
                bytes_in(a, b),
                "month_start {start}: {label}"
            );
            let want_start = a
                .parse::<jiff::civil::Date>()
                .unwrap()
                .at(0, 0, 0, 0)
                .to_zoned(tz.clone())
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string();
            assert_eq!(
                col(&h, row, "start"),
                want_start,
                "{label}: starts at local midnight"
            );
        }
        // this month = the last cycle so far, in summary, the quota and the month gauge
        let (this_label, a, b) = cycles.last().unwrap();
        let this = bytes_in(a, b);
        let js = ok(
            &env,
            &[
                "--config", &cfg, "summary", "-i", "eth0", "--format", "json",
            ],
            &now,
            &[],
        );
        let v: serde_json::Value = serde_json::from_str(&js).unwrap();
        let row = |p: &str| {
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["period"] == p)
                .unwrap()
                .clone()
        };
        assert_eq!(row("this month")["rx_bytes"], this, "{this_label}: {js}");
        let (la, lb) = (cycles[1].1, cycles[1].2);
        assert_eq!(row("last month")["rx_bytes"], bytes_in(la, lb), "{js}");
        let js = ok(
            &env,
            &["--config", &cfg, "alerts", "--format", "json"],
            &now,
            &[],
        );
        let v: serde_json::Value = serde_json::from_str(&js).unwrap();
        assert_eq!(alert_value(&v, "cycle"), this, "{js}");
        let om = ok(
            &env,
            &[
                "--config",
                &cfg,
                "export",
                "iface",
                "--format",
                "openmetrics",
            ],
            &now,
            &[],
        );
        let gauge = om
            .lines()
            .find(|l| {
                l.starts_with("nrec_network_month_receive_bytes{netns=\"root\",device=\"eth0\"}")
            })
            .unwrap_or_else(|| panic!("{om}"));
        assert!(gauge.ends_with(&format!(" {this}")), "{gauge}, want {this}");
    }
}

/// The 95th percentile computed straight from what was written: 5-minute slots (a sample's
/// interval `(ts - 60 s, ts]` in the slot of `ts - 1`), each slot's rate its bytes over the
/// time its samples cover (at least half the slot), the value at rank ⌈0.95 n⌉; and how many
/// slots were above it.
fn p95_direct(samples: &[(i64, i64, i64)]) -> (u64, u64, u64, usize) {
    let mut slots: std::collections::BTreeMap<i64, (f64, f64, f64)> = Default::default();
    for (ts, rx, tx) in samples {
        let e = slots.entry((ts - 1).div_euclid(300_000)).or_default();
        e.0 += *rx as f64;
        e.1 += *tx as f64;
        e.2 += 60.0;
    }
    let rates: Vec<(f64, f64)> = slots
        .values()
        .filter(|s| s.2 >= 150.0)
        .map(|s| (s.0 * 8.0 / s.2, s.1 * 8.0 / s.2))
        .collect();
    let rank = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let k = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[k - 1]
    };
    let rx = rank(rates.iter().map(|r| r.0).collect());
    let tx = rank(rates.iter().map(|r| r.1).collect());
    let max = rank(rates.iter().map(|r| r.0.max(r.1)).collect());
    let above = rates.iter().filter(|r| r.0 > rx).count();
    (
        rx.round() as u64,
        tx.round() as u64,
        max.round() as u64,
        above,
    )
}

/// Issue 35 item 3: `summary --95th` for an interface and for a process equals the direct
/// computation over the same samples; where raw samples were pruned the rollups' 15-minute
/// slots stand in, and a note says so.
#[test]
fn the_95th_percentile_is_the_direct_computation() {
    let env = Env::new();
    let start = ms("2026-11-20T00:00:00Z");
    let hist = write_history(&env, start, 241, 60_000, 11);
    let now = "2026-11-20T04:30:00Z";
    let window = [
        "--since",
        "2026-11-20T00:00:00Z",
        "--until",
        "2026-11-20T04:01:00Z",
    ];
    let csv = |args: &[&str]| {
        let out = run(
            &env,
            &[&["summary", "--95th", "--format", "csv"][..], &window, args].concat(),
            now,
            &[],
        );
        assert_success(&out);
        let (h, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(rows.len(), 1, "{rows:?}");
        let n = |c: &str| col(&h, &rows[0], c).parse::<u64>().unwrap();
        (
            n("rx_bits_per_s"),
            n("tx_bits_per_s"),
            n("max_bits_per_s"),
            n("rx_above") as usize,
            n("slots_5m"),
        )
    };
    let eth0: Vec<(i64, i64, i64)> = hist.iter().skip(1).map(|s| (s.ts, s.rx, s.tx)).collect();
    let (rx, tx, max, above, slots) = csv(&["-i", "eth0"]);
    assert_eq!((rx, tx, max, above), p95_direct(&eth0), "eth0");
    assert_eq!(slots, 48, "four hours of 5-minute slots");
    let alpha: Vec<(i64, i64, i64)> = hist
        .iter()
        .skip(1)
        .map(|s| (s.ts, s.procs[0].0, s.procs[0].1))
        .collect();
    let (rx, tx, max, above, _) = csv(&["--proc", "alpha"]);
    assert_eq!((rx, tx, max, above), p95_direct(&alpha), "alpha");
    // raw samples pruned (a day's raw retention, three days later): 15-minute rollups
    let cfg = config(&env, "[retention]\nraw = \"1d\"\n");
    let later = "2026-11-23T01:00:00Z";
    assert_success(&run(&env, &["--config", &cfg, "prune"], later, &[]));
    let out = run(
        &env,
        &[
            &["summary", "--95th", "--format", "csv", "-i", "eth0"][..],
            &window,
        ]
        .concat(),
        later,
        &[],
    );
    assert_success(&out);
    let (h, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(col(&h, &rows[0], "slots_5m"), "0");
    assert_eq!(col(&h, &rows[0], "slots_15m"), "16");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("15-minute rollups"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the quarter hours' rates, directly: bytes of the four hours' quarters over 900 s
    let mut q: std::collections::BTreeMap<i64, i64> = Default::default();
    for s in hist.iter().skip(1) {
        *q.entry((s.ts - 1).div_euclid(900_000)).or_default() += s.rx;
    }
    let mut rates: Vec<f64> = q.values().map(|b| *b as f64 * 8.0 / 900.0).collect();
    rates.sort_by(f64::total_cmp);
    let want = rates[((0.95 * rates.len() as f64).ceil() as usize) - 1].round() as u64;
    assert_eq!(
        col(&h, &rows[0], "rx_bits_per_s").parse::<u64>().unwrap(),
        want
    );
}

/// Issue 35 item 4: vnStat's other views — `-5` (5-minute rows that add up to the samples),
/// `--oneline` (15 fields; `b`: integers equal to the default view's), `--hours-graph`
/// (the busiest hour drawn full height, each hour labelled).
#[test]
fn five_minutes_oneline_and_the_hours_graph_are_vnstats_views() {
    let env = Env::new();
    let start = ms("2026-11-20T00:00:00Z");
    let hist = write_history(&env, start, 241, 60_000, 5);
    let now = "2026-11-20T04:02:00Z";
    // -5: a row per 5 minutes of the last 24 h, each the samples ending in it
    let csv = ok(
        &env,
        &["summary", "-5", "-i", "eth0", "--format", "csv"],
        now,
        &[],
    );
    let (h, rows) = parse_csv(&csv);
    assert_eq!(
        rows.len(),
        48,
        "four hours of 5-minute rows (the current one has no sample yet)"
    );
    for r in &rows {
        let a = col(&h, r, "start")
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        let want: i64 = hist
            .iter()
            .skip(1)
            .filter(|s| s.ts > a && s.ts <= a + 300_000)
            .map(|s| s.rx)
            .sum();
        assert_eq!(
            col(&h, r, "rx_bytes").parse::<i64>().unwrap(),
            want,
            "{r:?}"
        );
    }
    // --oneline b: the default view's numbers, in vnStat's order
    let line = ok(&env, &["summary", "--oneline", "b", "-i", "eth0"], now, &[]);
    let f: Vec<&str> = line.trim().split(';').collect();
    assert_eq!(f.len(), 15, "{line}");
    assert_eq!(
        (f[0], f[1], f[2], f[7]),
        ("1", "eth0", "2026-11-20", "2026-11")
    );
    let js = ok(
        &env,
        &["summary", "-i", "eth0", "--format", "json"],
        now,
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    let get = |p: &str, c: &str| -> String {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["period"] == p)
            .unwrap()[c]
            .to_string()
    };
    assert_eq!(
        (f[3], f[4], f[5]),
        (
            get("today", "rx_bytes").as_str(),
            get("today", "tx_bytes").as_str(),
            get("today", "total_bytes").as_str()
        )
    );
    assert_eq!(f[8], get("this month", "rx_bytes"));
    assert_eq!(
        (f[12], f[14]),
        (
            get("all time", "rx_bytes").as_str(),
            get("all time", "total_bytes").as_str()
        )
    );
    let human = ok(&env, &["summary", "--oneline", "-i", "eth0"], now, &[]);
    assert!(
        human.contains(" MiB;") || human.contains(" KiB;"),
        "{human}"
    );
    // --hours-graph: ten rows, the busiest hour's rx full height, the hours under it
    let g = ok(&env, &["summary", "--hours-graph", "-i", "eth0"], now, &[]);
    let lines: Vec<&str> = g.lines().collect();
    assert!(lines[0].starts_with("eth0"), "{g}");
    let mut by_hour = [0i64; 5];
    for s in hist.iter().skip(1) {
        by_hour[((s.ts - 1 - start) / 3_600_000) as usize] += s.rx;
    }
    let busiest = (0..5).max_by_key(|h| by_hour[*h]).unwrap();
    let labels = lines[12];
    let col_of = labels
        .find(&format!("{busiest:02}"))
        .expect("the busiest hour's label");
    assert_eq!(
        lines[1].as_bytes().get(col_of),
        Some(&b'r'),
        "top row at the busiest hour:\n{g}"
    );
    assert!(labels.contains("00 01 02 03 04"), "{labels}");
    // a data format or a second view is refused
    let out = run(&env, &["summary", "--hg", "--format", "csv"], now, &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&env, &["summary", "-5", "--daily"], now, &[]);
    assert_eq!(out.status.code(), Some(2));
}
