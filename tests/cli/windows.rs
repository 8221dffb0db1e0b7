//! Windows at their edges (issue 11 items 1–2): long windows on databases that were never
//! pruned read raw rows, part by part; a window holds the intervals that end in it; resampled
//! rows are labelled by the end of their data. Expectations are computed by hand.

use crate::harness::*;

/// Samples every 30 minutes from `first` (RFC 3339), eth0 moving `rx(k)` bytes in interval k.
fn half_hourly(env: &Env, first: &str, n: i64, rx: impl Fn(i64) -> u64) -> FakeProc {
    let mut p = FakeProc::new();
    let t0: jiff::Timestamp = first.parse().unwrap();
    for k in 0..n {
        if k > 0 {
            p.iface(b"eth0").add(rx(k), 1, 0, 0);
            p.uptime_ms += 1_800_000;
        }
        let ts = t0 + jiff::SignedDuration::from_secs(k * 1800);
        env.record_ok(&p, &ts.to_string());
    }
    p
}

fn csv(env: &Env, args: &[&str], now: &str) -> (Vec<String>, Vec<Vec<String>>, String) {
    let out = env
        .cmd(&[args, &["--format", "csv"]].concat())
        .env("NREC_NOW", now)
        .output()
        .unwrap();
    assert_success(&out);
    let (h, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
    (h, rows, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn eth0<'a>(h: &[String], rows: &'a [Vec<String>]) -> Vec<&'a Vec<String>> {
    rows.iter()
        .filter(|r| col(h, r, "iface") == "eth0")
        .collect()
}

#[test]
fn a_month_long_window_on_a_young_database_is_raw_rows_and_says_nothing() {
    let env = Env::new();
    // Twelve minutes of one-minute samples; `record` has run retention (raw: 7 days), so
    // the database knows where its raw horizon is — and nothing before it was ever stored.
    let mut p = FakeProc::new();
    for k in 0..12 {
        p.iface(b"eth0").add(60_000, 60, 6_000, 6);
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(k));
    }
    let now = at(12);
    for since in ["30d", "15d", "1mo"] {
        let (h, rows, err) = csv(&env, &["report", "--since", since], &now);
        assert!(!err.contains("note"), "--since {since}: {err}");
        let e = eth0(&h, &rows);
        assert_eq!(e.len(), 11, "--since {since}: one row per raw interval");
        for (k, r) in e.iter().enumerate() {
            assert_eq!(col(&h, r, "time"), at(k as i64 + 1).replace('Z', "+00:00"));
            assert_eq!(col(&h, r, "interval_s"), "60.000");
            assert_eq!(col(&h, r, "rx_bytes"), "60000");
            // 1000 B/s on a 1000 Mbit/s link: 0.0008 %, known — never "-" or a made-up 0
            assert_eq!(col(&h, r, "%ifutil"), "0.00");
        }
        let text = env.report_ok(&["--since", since, "--iface", "eth0"], &now);
        assert!(
            text.lines().next().unwrap().contains("\t11/22/26 \t"),
            "one day of rows names one day: {text}"
        );
        assert!(!text.contains("  -\n"), "%ifutil known: {text}");
    }
    // export defaults to raw rows there too: one row per sample, counted_ms = its interval
    let (h, rows, err) = csv(&env, &["export", "iface", "--since", "30d"], &now);
    assert!(!err.contains("note"), "{err}");
    let e = eth0(&h, &rows);
    assert_eq!(e.len(), 11);
    for r in e {
        assert_eq!(col(&h, r, "counted_ms"), "60000");
        assert_eq!(col(&h, r, "rx_bytes"), "60000");
    }
}

#[test]
fn a_window_holds_the_intervals_that_end_in_it() {
    let env = Env::new();
    // Samples at 10:00, 10:30, … 16:00; interval k (ending at 10:00 + 30k min) moves k MB.
    half_hourly(&env, "2026-11-28T10:00:00Z", 13, |k| k as u64 * 1_000_000);
    let now = "2026-11-28T16:05:00Z";
    let (h, rows, _) = csv(
        &env,
        &[
            "report",
            "--since",
            "2026-11-28T12:00",
            "--until",
            "2026-11-28T14:00",
        ],
        now,
    );
    let e = eth0(&h, &rows);
    let times: Vec<&str> = e.iter().map(|r| col(&h, r, "time")).collect();
    // 12:00's sample closes 11:30–12:00: before the window. 14:00's closes 13:30–14:00.
    assert_eq!(
        times,
        [
            "2026-11-28T12:30:00+00:00",
            "2026-11-28T13:00:00+00:00",
            "2026-11-28T13:30:00+00:00",
            "2026-11-28T14:00:00+00:00"
        ]
    );
    let rx: Vec<&str> = e.iter().map(|r| col(&h, r, "rx_bytes")).collect();
    assert_eq!(rx, ["5000000", "6000000", "7000000", "8000000"]);
    // top-procs / summary / export count the same intervals: 5+6+7+8 MB
    let (h, rows, _) = csv(
        &env,
        &[
            "export",
            "iface",
            "--since",
            "2026-11-28T12:00",
            "--until",
            "2026-11-28T14:00",
        ],
        now,
    );
    let total: u64 = eth0(&h, &rows)
        .iter()
        .map(|r| col(&h, r, "rx_bytes").parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 26_000_000);
    // the sar heading begins where the first interval does: 12:00:00, not 11:30:00
    let text = env.report_ok(
        &[
            "--since",
            "2026-11-28T12:00",
            "--until",
            "2026-11-28T14:00",
            "--iface",
            "eth0",
        ],
        now,
    );
    let heading = text.lines().find(|l| l.contains("IFACE")).unwrap();
    assert!(heading.starts_with("12:00:00"), "{text}");
}

#[test]
fn resampled_rows_are_local_buckets_labelled_by_their_data() {
    let mut env = Env::new();
    env.tz = "Asia/Kolkata".into(); // +05:30: UTC-aligned 6 h buckets would start at 05:30
    // Yesterday (Nov 27 local) from 23:30 the day before to 00:30 the day after, every 30 min.
    // Local 2026-11-27T00:00 = 2026-11-26T18:30Z.
    half_hourly(&env, "2026-11-26T18:00:00Z", 51, |_| 1_800_000);
    let now = "2026-11-28T06:00:00+05:30";
    let (h, rows, _) = csv(
        &env,
        &[
            "report",
            "--yesterday",
            "--interval",
            "6h",
            "--iface",
            "eth0",
        ],
        now,
    );
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                col(&h, r, "time"),
                col(&h, r, "interval_s"),
                col(&h, r, "rx_bytes"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-11-27T06:00:00+05:30", "21600.000", "21600000"),
            ("2026-11-27T12:00:00+05:30", "21600.000", "21600000"),
            ("2026-11-27T18:00:00+05:30", "21600.000", "21600000"),
            ("2026-11-28T00:00:00+05:30", "21600.000", "21600000"),
        ],
        "four local 6-hour rows, none holding the interval that closed the day before"
    );
    // a window over several days names them in the banner
    let out = env
        .cmd(&["report", "--since", "3d", "--iface", "eth0"])
        .env("NREC_NOW", now)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("\t11/26/26 - 11/28/26 \t"),
        "{text}"
    );
    // --interval 1h at 08:20 local with samples at :15 and :45: the last row holds the
    // 08:15 sample and is labelled 08:15 (the end of its data), never 09:00.
    let mut env = Env::new();
    env.tz = "Asia/Kolkata".into();
    half_hourly(&env, "2026-11-28T00:15:00Z", 6, |_| 1_800_000); // 05:45 … 08:15 local
    let now = "2026-11-28T02:50:00Z";
    let (h, rows, _) = csv(
        &env,
        &[
            "report",
            "--since",
            "2h",
            "--interval",
            "1h",
            "--iface",
            "eth0",
        ],
        now,
    );
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (col(&h, r, "time"), col(&h, r, "interval_s")))
        .collect();
    assert_eq!(
        got,
        [
            ("2026-11-28T06:45:00+05:30", "1800.000"), // 06:45 (06:15 closed before 06:20)
            ("2026-11-28T07:45:00+05:30", "3600.000"), // 07:15, 07:45
            ("2026-11-28T08:15:00+05:30", "1800.000"), // 08:15
        ]
    );
    for r in &rows {
        let t: jiff::Timestamp = col(&h, r, "time").parse().unwrap();
        assert!(
            t <= now.parse().unwrap(),
            "a row labelled in the future: {r:?}"
        );
    }
}

/// Issue 11 item 9: sar's and vnStat's habits — `-f FILE`, `-s`/`-e` times of day within the
/// chosen day, `-i`, vnStat's `-d`/`-m`/`-y`/`-t`, and service names for `--port`.
#[test]
fn sar_and_vnstat_habits_work() {
    let env = Env::new();
    half_hourly(&env, "2026-11-28T10:00:00Z", 13, |k| k as u64 * 1_000_000);
    let now = "2026-11-29T08:00:00Z";
    let db = env.db.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .env("NREC_NOW", now)
            .env("TZ", "UTC")
            .env("NREC_EBPF", "off")
            .env_remove("NREC_DB")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // sar -f FILE -s 12:00 -e 14:00 on yesterday: the same four intervals as --since/--until
    let (code, out, err) = run(&[
        "-f",
        &db,
        "report",
        "--yesterday",
        "-s",
        "12:00",
        "-e",
        "14:00:00",
        "-i",
        "eth0",
        "--format",
        "csv",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (h, rows) = parse_csv(&out);
    let rx: Vec<&str> = rows.iter().map(|r| col(&h, r, "rx_bytes")).collect();
    assert_eq!(rx, ["5000000", "6000000", "7000000", "8000000"]);
    // -s/-e are times of day: refused with a window that is not a day, and when reversed
    for args in [
        &["-f", &db, "report", "--since", "6h", "-s", "12:00"][..],
        &[
            "-f",
            &db,
            "report",
            "--yesterday",
            "-s",
            "14:00",
            "-e",
            "12:00",
        ],
        &["-f", &db, "report", "--yesterday", "-s", "25:00"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // vnStat's short views
    for (short, long) in [("-d", "--daily"), ("-m", "--monthly"), ("-y", "--yearly")] {
        let a = run(&["-f", &db, "summary", short, "--format", "csv"]);
        let b = run(&["-f", &db, "summary", long, "--format", "csv"]);
        assert_eq!(a.0, Some(0), "{short}: {}", a.2);
        assert_eq!(a.1, b.1, "{short} is {long}");
    }
    let a = run(&["-f", &db, "summary", "-t", "--format", "csv"]);
    let b = run(&["-f", &db, "summary", "--top-days", "10", "--format", "csv"]);
    assert_eq!((a.0, &a.1), (Some(0), &b.1), "-t is the 10 busiest days");
    // --port by service name (/etc/services), and a name that is no service
    let a = run(&["-f", &db, "summary", "--port", "https", "--format", "csv"]);
    let b = run(&["-f", &db, "summary", "--port", "443", "--format", "csv"]);
    if std::fs::read_to_string("/etc/services").is_ok_and(|s| s.contains("443/tcp")) {
        assert_eq!((a.0, &a.1), (Some(0), &b.1), "{}", a.2);
    }
    let (code, _, err) = run(&["-f", &db, "summary", "--port", "no-such-service"]);
    assert_eq!(code, Some(2), "{err}");
}
