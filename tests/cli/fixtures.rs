//! Record and report on fake /proc trees: exact numbers, counter rules, hostile names.

use crate::harness::*;

const DAY: &[&str] = &["--date", "2026-11-22"];

fn csv_rows(env: &Env, kind: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let out = env.report_ok(&[DAY, &["-n", kind, "--format", "csv"]].concat(), &at(600));
    parse_csv(&out)
}

fn rows_for<'a>(h: &[String], rows: &'a [Vec<String>], iface: &str) -> Vec<&'a Vec<String>> {
    rows.iter()
        .filter(|r| col(h, r, "iface") == iface)
        .collect()
}

/// Three samples a minute apart: baseline, a busy minute, an idle minute.
fn three_samples(env: &Env, p: &mut FakeProc) {
    env.record_ok(p, &at(0));
    p.iface(b"lo").add(61_440, 60, 61_440, 60);
    p.iface(b"eth0").add(6_144_000, 4000, 1_228_800, 2000);
    p.tcp[0] += 6; // ActiveOpens
    p.tcp[2] += 600; // InSegs
    p.udp[3] += 120; // OutDatagrams
    p.uptime_ms += 60_000;
    env.record_ok(p, &at(1));
    p.uptime_ms += 60_000;
    p.sock = [12, 5, 0, 2];
    env.record_ok(p, &at(2));
}

#[test]
fn dev_table_matches_sar_layout_and_exact_rates() {
    let env = Env::new();
    let mut p = FakeProc::new();
    three_samples(&env, &mut p);
    let out = env.report_ok(DAY, &at(600));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("Linux 6.1.0-test (testhost) \t11/22/26 \t_"),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("_\t(2 CPU)"), "{}", lines[0]);
    assert_eq!(lines[1], "");
    assert_eq!(
        lines[2],
        "10:00:00        IFACE   rxpck/s   txpck/s    rxkB/s    txkB/s   rxcmp/s   txcmp/s  rxmcst/s   %ifutil"
    );
    assert_eq!(
        lines[3],
        "10:01:00           lo      1.00      1.00      1.00      1.00      0.00      0.00      0.00      0.00"
    );
    // eth0: 4000 pkts, 6 144 000 B in 60 s = 100 kB/s; %ifutil = 102400 B/s * 800 / 1e9 = 0.08
    assert_eq!(
        lines[4],
        "10:01:00         eth0     66.67     33.33    100.00     20.00      0.00      0.00      0.00      0.08"
    );
    assert!(out.contains(
        "Average:         eth0     33.33     16.67     50.00     10.00      0.00      0.00      0.00      0.04\n"
    ));
}

#[test]
fn csv_carries_raw_deltas_and_sar_columns() {
    let env = Env::new();
    let mut p = FakeProc::new();
    three_samples(&env, &mut p);
    let (h, rows) = csv_rows(&env, "DEV");
    for c in [
        "time",
        "interval_s",
        "netns",
        "iface",
        "rx_bytes",
        "tx_bytes",
        "rx_packets",
        "tx_packets",
        "rxpck/s",
        "rxkB/s",
        "%ifutil",
    ] {
        assert!(h.contains(&c.to_string()), "missing {c} in {h:?}");
    }
    let eth = rows_for(&h, &rows, "eth0");
    assert_eq!(eth.len(), 2);
    let r = eth[0];
    assert_eq!(col(&h, r, "time"), "2026-11-22T10:01:00+00:00");
    assert_eq!(col(&h, r, "interval_s"), "60.000");
    assert_eq!(col(&h, r, "netns"), "root");
    assert_eq!(col(&h, r, "rx_bytes"), "6144000");
    assert_eq!(col(&h, r, "tx_bytes"), "1228800");
    assert_eq!(col(&h, r, "rx_packets"), "4000");
    assert_eq!(col(&h, r, "tx_packets"), "2000");
    assert_eq!(col(&h, r, "rxkB/s"), "100.00");
    assert_eq!(col(&h, eth[1], "rx_bytes"), "0");

    // JSON carries the same numbers.
    let js: serde_json::Value =
        serde_json::from_str(&env.report_ok(&[DAY, &["--format", "json"]].concat(), &at(600)))
            .unwrap();
    let rows = &js["reports"][0]["rows"];
    let eth = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["iface"] == "eth0")
        .unwrap();
    assert_eq!(eth["rx_bytes"], 6_144_000);
    assert_eq!(eth["rxkB/s"], 100.0);
    assert_eq!(js["reports"][0]["average"][1]["rxpck/s"], 33.33);
}

#[test]
fn protocol_and_socket_reports() {
    let env = Env::new();
    let mut p = FakeProc::new();
    three_samples(&env, &mut p);
    let out = env.report_ok(&[DAY, &["-n", "TCP,SOCK,UDP"]].concat(), &at(600));
    assert!(
        out.contains("10:00:00     active/s passive/s    iseg/s    oseg/s\n"),
        "{out}"
    );
    assert!(
        out.contains("10:01:00         0.10      0.00     10.00      0.00\n"),
        "{out}"
    );
    assert!(
        out.contains("Average:         0.05      0.00      5.00      0.00\n"),
        "{out}"
    );
    // SOCK gauges: totsck tcpsck udpsck rawsck ip-frag tcp-tw
    assert!(
        out.contains("10:01:00           10         3         2         0         0         1\n"),
        "{out}"
    );
    assert!(
        out.contains("10:02:00           12         5         2         0         0         0\n"),
        "{out}"
    );
    assert!(
        out.contains("Average:           11         4         2         0         0         0\n"),
        "{out}"
    );
    assert!(
        out.contains("10:01:00         0.00      2.00      0.00      0.00\n"),
        "{out}"
    );
    // Nothing about sockets that the fixture could not provide: no STATE rows, no invented zeros.
    let st = env.report_ok(
        &[DAY, &["-n", "STATE", "--format", "csv"]].concat(),
        &at(600),
    );
    assert_eq!(parse_csv(&st).1.len(), 0);
}

#[test]
fn counter_reset_counts_from_zero_never_a_phantom_wrap() {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.iface(b"eth0").add(5_000_000_000, 4_000_000, 100_000, 100);
    env.record_ok(&p, &at(0));
    // The driver reset its counters (module reload): far below the previous reading.
    p.iface(b"eth0").c = [0; 16];
    p.iface(b"eth0").add(1000, 10, 500, 5);
    p.uptime_ms += 60_000;
    let err = env.record_ok(&p, &at(1));
    assert!(err.contains("reset"), "no warning: {err}");
    let (h, rows) = csv_rows(&env, "DEV");
    let eth = rows_for(&h, &rows, "eth0");
    assert_eq!(col(&h, eth[0], "rx_bytes"), "1000");
    assert_eq!(col(&h, eth[0], "tx_bytes"), "500");
    assert!(col(&h, eth[0], "flags").contains("reset"));
}

#[test]
fn plausible_64_bit_wrap_is_continued() {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.iface(b"eth0").c[0] = u64::MAX - 99;
    p.iface(b"eth0").c[1] = 1_000_000;
    env.record_ok(&p, &at(0));
    p.iface(b"eth0").c[0] = 50; // wrapped past 2^64
    p.iface(b"eth0").c[1] = 1_000_010; // packets kept rising
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(1));
    let (h, rows) = csv_rows(&env, "DEV");
    let eth = rows_for(&h, &rows, "eth0");
    assert_eq!(col(&h, eth[0], "rx_bytes"), "150");
    assert_eq!(col(&h, eth[0], "flags"), "wrap");
    let stored: i64 = env
        .sql()
        .query_row(
            "SELECT rx_bytes FROM iface_raw ORDER BY sample LIMIT 1 OFFSET 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        stored as u64,
        u64::MAX - 99,
        "raw u64 counters round-trip losslessly"
    );
}

#[test]
fn reboot_starts_a_segment_and_counts_traffic_since_boot() {
    let env = Env::new();
    let mut p = FakeProc::new();
    three_samples(&env, &mut p);
    // Reboot at 10:02:30; the first sample of the new boot comes at 10:03:00.
    p.boot_id = "99999999-2222-3333-4444-555555555555".into();
    p.uptime_ms = 30_000;
    for i in &mut p.ifaces {
        i.c = [0; 16];
    }
    p.iface(b"lo").add(3072, 3, 3072, 3);
    p.tcp = [0; 9];
    env.record_ok(&p, &at(3));
    p.uptime_ms += 60_000;
    p.iface(b"lo").add(6144, 6, 6144, 6);
    env.record_ok(&p, &at(4));
    let out = env.report_ok(&[DAY, &["-n", "DEV,TCP"]].concat(), &at(600));
    assert!(
        out.contains("\n\n10:02:30     LINUX RESTART\t(2 CPU)\n\n10:02:30        IFACE"),
        "{out}"
    );
    // since boot: 3072 B in 30 s = 0.10 kB/s
    assert!(
        out.contains("10:03:00           lo      0.10      0.10      0.10      0.10"),
        "{out}"
    );
    assert_eq!(
        out.matches("Average:           lo").count(),
        2,
        "one Average block per segment"
    );
    // All kinds of a segment come before the restart line, as sar -f prints them.
    let restart = out.find("LINUX RESTART").unwrap();
    let tcp_head = out.find("active/s").unwrap();
    assert!(tcp_head < restart);
    let (h, rows) = csv_rows(&env, "DEV");
    let lo = rows_for(&h, &rows, "lo");
    assert_eq!(col(&h, lo[2], "flags"), "boot");
    assert_eq!(col(&h, lo[2], "interval_s"), "30.000");
}

#[test]
fn recreated_and_renamed_interfaces() {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.iface(b"eth0").add(9_000_000, 9000, 9_000_000, 9000);
    env.record_ok(&p, &at(0));
    // Same name, new ifindex: a new device whose counters started at zero.
    {
        let e = p.iface(b"eth0");
        e.ifindex = Some(5);
        e.c = [0; 16];
        e.add(500, 5, 0, 0);
    }
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(1));
    // Same ifindex, new name: a rename; counters continue.
    {
        let e = p.iface(b"eth0");
        e.name = b"wan0".to_vec();
        e.add(200, 2, 0, 0);
    }
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(2));
    let (h, rows) = csv_rows(&env, "DEV");
    let eth = rows_for(&h, &rows, "eth0");
    assert_eq!(col(&h, eth[0], "rx_bytes"), "500");
    assert_eq!(col(&h, eth[0], "flags"), "recreated");
    let wan = rows_for(&h, &rows, "wan0");
    assert_eq!(col(&h, wan[0], "rx_bytes"), "200");
    assert_eq!(col(&h, wan[0], "flags"), "renamed");
}

#[test]
fn hostile_interface_names_are_stored_losslessly_and_escaped() {
    // (names of at most 15 bytes, IFNAMSIZ: a longer one is a malformed line, skipped)
    let env = Env::new();
    let mut p = FakeProc::new();
    let names: [&[u8]; 4] = [b"=cmd|'/C calc'", b"+x,\"q\"", b"-\xff\xfe", b"@at"];
    for (k, n) in names.iter().enumerate() {
        p.ifaces.push(FakeIface::new(n, 10 + k as u32));
    }
    env.record_ok(&p, &at(0));
    for k in 0..4 {
        p.ifaces[2 + k].add(1024, 1, 0, 0);
    }
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(1));

    let stored: Vec<Vec<u8>> = {
        let c = env.sql();
        let mut st = c.prepare("SELECT name FROM iface ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(|x| x.unwrap())
            .collect()
    };
    for n in names {
        assert!(
            stored.iter().any(|s| s == n),
            "{n:?} not stored as-is: {stored:?}"
        );
    }
    let (h, rows) = csv_rows(&env, "DEV");
    let cells: Vec<&str> = rows.iter().map(|r| col(&h, r, "iface")).collect();
    for want in ["'=cmd|'/C calc'", "'+x,\"q\"", "'-\\xff\\xfe", "'@at"] {
        assert!(cells.contains(&want), "{want:?} not in {cells:?}");
    }
    let raw = env.report_ok(&[DAY, &["--format", "csv"]].concat(), &at(600));
    assert!(raw.contains("\"'+x,\"\"q\"\"\""), "RFC 4180 quoting: {raw}");
    let table = env.report_ok(DAY, &at(600));
    assert!(
        table.contains("    -\\xff\\xfe      0.02      0.00      0.02"),
        "{table}"
    );
    assert!(!table.as_bytes().contains(&0xff));
    let js = env.report_ok(&[DAY, &["--format", "json"]].concat(), &at(600));
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert!(js.contains(r#""iface": "-\\xff\\xfe""#), "{js}");
    assert_eq!(v["reports"][0]["rows"].as_array().unwrap().len(), 6);
}

#[test]
fn malformed_proc_lines_are_skipped_with_a_warning() {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.dev_extra =
        b"garbage without a colon\n  bad0: 1 2 3\n  bad1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n"
            .to_vec();
    let err = env.record_ok(&p, &at(0));
    assert!(err.contains("net/dev line 5: no ':'"), "{err}");
    assert!(
        err.contains("net/dev line 6: expected 16 counters, found 3"),
        "{err}"
    );
    assert!(
        err.contains("net/dev line 7: a counter is not an unsigned integer"),
        "{err}"
    );
    p.iface(b"eth0").add(2048, 2, 0, 0);
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(1));
    let (h, rows) = csv_rows(&env, "DEV");
    assert_eq!(rows.len(), 2, "lo and eth0 kept");
    assert_eq!(col(&h, rows_for(&h, &rows, "eth0")[0], "rx_bytes"), "2048");
}

#[test]
fn implausible_jump_is_flagged_and_not_counted() {
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &at(0));
    // 1 TB in 60 s on a 1 Gbit/s link cannot be real.
    p.iface(b"eth0").add(1_000_000_000_000, 1000, 0, 0);
    p.uptime_ms += 60_000;
    let err = env.record_ok(&p, &at(1));
    assert!(err.contains("flagged and not counted"), "{err}");
    p.iface(b"eth0").add(60_000, 60, 0, 0);
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(2));
    let (h, rows) = csv_rows(&env, "DEV");
    let eth = rows_for(&h, &rows, "eth0");
    assert_eq!(col(&h, eth[0], "rx_bytes"), "");
    assert_eq!(col(&h, eth[0], "flags"), "implausible");
    assert_eq!(col(&h, eth[1], "rx_bytes"), "60000");
    let table = env.report_ok(DAY, &at(600));
    assert!(
        table.contains("10:01:00         eth0    not counted: implausible"),
        "{table}"
    );
    // The average covers only the counted minute: 60000 B / 60 s.
    assert!(
        table.contains("Average:         eth0      1.00      0.00      0.98"),
        "{table}"
    );
}

#[test]
fn long_gaps_are_shown_and_their_bytes_kept() {
    let env = Env::new();
    let mut p = FakeProc::new();
    for m in [0, 1, 2, 3] {
        p.iface(b"eth0").add(1000, 1, 0, 0);
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(m));
    }
    // The timer was stopped for three hours; traffic went on.
    p.iface(b"eth0").add(7_000_000, 7000, 0, 0);
    p.uptime_ms += 180 * 60_000;
    env.record_ok(&p, &at(183));
    p.iface(b"eth0").add(1000, 1, 0, 0);
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(184));
    let table = env.report_ok(DAY, &at(600));
    assert!(
        table.contains("10:03:00          (gap: no samples for 3h00m; the rows below average over it)\n13:03:00           lo"),
        "{table}"
    );
    let (h, rows) = csv_rows(&env, "DEV");
    let eth = rows_for(&h, &rows, "eth0");
    let total: u64 = eth
        .iter()
        .map(|r| col(&h, r, "rx_bytes").parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 3000 + 7_000_000 + 1000, "no byte dropped");
    assert_eq!(col(&h, eth[3], "gap"), "1");
    assert_eq!(col(&h, eth[3], "interval_s"), "10800.000");
    assert_eq!(col(&h, eth[2], "gap"), "0");
}

#[test]
fn interval_resampling_iface_filter_and_omit_idle() {
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &at(0));
    for m in 1..=30 {
        p.iface(b"eth0").add(m * 100, 1, 0, 0);
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(m as i64));
    }
    let out = env.report_ok(
        &[
            DAY,
            &["--interval", "10m", "--iface", "eth0", "--format", "csv"],
        ]
        .concat(),
        &at(600),
    );
    let (h, rows) = parse_csv(&out);
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(col(&h, &rows[0], "time"), "2026-11-22T10:10:00+00:00");
    assert_eq!(col(&h, &rows[0], "interval_s"), "600.000");
    assert_eq!(
        col(&h, &rows[0], "rx_bytes"),
        (100..=1000).step_by(100).sum::<u64>().to_string()
    );
    assert_eq!(
        col(&h, &rows[2], "rx_bytes"),
        (2100..=3000).step_by(100).sum::<u64>().to_string()
    );
    assert!(rows.iter().all(|r| col(&h, r, "iface") == "eth0"));
    let z = env.report_ok(&[DAY, &["-z"]].concat(), &at(600));
    assert!(!z.contains(" lo "), "idle lo omitted with -z: {z}");
    assert!(z.contains("Average:         eth0"), "{z}");
}

#[test]
fn human_units_like_sar() {
    let env = Env::new();
    let mut p = FakeProc::new();
    three_samples(&env, &mut p);
    let out = env.report_ok(&[DAY, &["--human"]].concat(), &at(600));
    // sar --human: sizes with one decimal and a binary unit, %ifutil with one decimal and '%'
    assert!(
        out.contains("10:01:00         eth0     66.67     33.33    100.0k     20.0k      0.00      0.00      0.00      0.1%\n"),
        "{out}"
    );
    assert!(
        out.contains("10:02:00           lo      0.00      0.00      0.0B      0.0B"),
        "{out}"
    );
}

#[test]
fn a_capture_needs_only_net_dev() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("net")).unwrap();
    let dev = |rx: u64| format!("h1\nh2\n  eth9: {rx} 10 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n");
    std::fs::write(dir.path().join("net/dev"), dev(1000)).unwrap();
    let rec = |now: &str| {
        env.cmd(&["record"])
            .env("NREC_PROC_ROOT", dir.path())
            .env("NREC_NOW", now)
            .output()
            .unwrap()
    };
    let out = rec(&at(0));
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("uptime: missing"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(dir.path().join("net/dev"), dev(4000)).unwrap();
    assert!(rec(&at(1)).status.success());
    let (h, rows) = csv_rows(&env, "DEV");
    assert_eq!(col(&h, &rows[0], "rx_bytes"), "3000");
    // Without net/dev there is nothing to record: a clear error naming the file.
    std::fs::remove_file(dir.path().join("net/dev")).unwrap();
    let out = rec(&at(2));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("net/dev"));
}

/// Garbage in every /proc file, many seeds: never a panic (exit 101), never a lost database.
#[test]
fn garbage_proc_files_never_panic() {
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &at(0));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"0123456789 :\n\t-+eth0lo|Ip:Tcp:\xff\x00abcXYZ\r";
    for round in 1..=60 {
        p.write();
        let files = [
            "net/dev",
            "net/snmp",
            "net/sockstat",
            "uptime",
            "stat",
            "sys/kernel/random/boot_id",
        ];
        let f = files[(rnd() % files.len() as u64) as usize];
        let path = p.path().join(f);
        let mut bytes = std::fs::read(&path).unwrap();
        for _ in 0..(rnd() % 40 + 1) {
            let n = bytes.len().max(1) as u64;
            match rnd() % 3 {
                0 => {
                    let i = (rnd() % n) as usize;
                    if i < bytes.len() {
                        bytes[i] = alphabet[(rnd() % alphabet.len() as u64) as usize];
                    }
                }
                1 => bytes.truncate((rnd() % n) as usize),
                _ => bytes.extend(
                    (0..rnd() % 30).map(|_| alphabet[(rnd() % alphabet.len() as u64) as usize]),
                ),
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        p.uptime_ms += 60_000;
        let out = env
            .cmd(&["record"])
            .env("NREC_PROC_ROOT", p.path())
            .env("NREC_NOW", at(round))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(101), "panic on {f}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(matches!(out.status.code(), Some(0 | 1)), "{f}: {err}");
        let rep = env.report(&["--date", "2026-11-22", "-n", "ALL"], &at(600));
        assert_eq!(
            rep.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&rep.stderr)
        );
    }
}

#[test]
fn an_empty_window_is_success_with_a_note() {
    let env = Env::new();
    let mut p = FakeProc::new();
    three_samples(&env, &mut p);
    let out = env.report(&["--date", "2026-11-20"], &at(600));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "no table without samples");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no samples in 2026-11-20"));
    let js = env.report_ok(&["--date", "2026-11-20", "--format", "json"], &at(600));
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    // The envelope names the recording host; the window itself has no system facts.
    assert_eq!(v["host"], "testhost");
    assert!(v["system"].is_null());
    assert_eq!(v["samples"], 0);
    let csv = env.report_ok(&["--date", "2026-11-20", "--format", "csv"], &at(600));
    assert_eq!(parse_csv(&csv).1.len(), 0);
    assert!(
        csv.starts_with("host,time,interval_s,netns,iface,rx_bytes"),
        "header row kept: {csv}"
    );
}

/// Issue 11 item 8: `--iface`/`-i` takes the names the table prints and shell patterns; a
/// filter that matches nothing says so on stderr, listing what was recorded.
#[test]
fn interface_filters_take_printed_names_and_patterns_and_say_when_nothing_matches() {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.ifaces.push(FakeIface::new(b"veth0", 3));
    p.ifaces.push(FakeIface::new(b"veth1", 4));
    for k in 0..3 {
        for i in &mut p.ifaces {
            i.add(1000, 1, 1000, 1);
        }
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(k));
    }
    let names = |args: &[&str]| -> (Vec<String>, String) {
        let out = env.report(&[args, &["--format", "csv"]].concat(), &at(5));
        assert_success(&out);
        let (h, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| col(&h, r, "iface").to_string())
            .collect();
        v.sort();
        v.dedup();
        (v, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(names(&["--iface", "veth*"]).0, ["veth0", "veth1"]);
    assert_eq!(names(&["-i", "eth0,veth[1]"]).0, ["eth0", "veth1"]);
    assert_eq!(
        names(&["-i", "lo@root"]).0,
        ["lo"],
        "the host's namespace by name"
    );
    assert_eq!(names(&["--netns", "root", "-i", "lo"]).0, ["lo"]);
    let (rows, err) = names(&["--iface", "nosuch0"]);
    assert!(rows.is_empty());
    assert_eq!(
        err.trim(),
        "nrec: --iface nosuch0: matches no interface recorded in today (2026-11-22); \
         recorded: eth0, lo, veth0, veth1"
    );
    let (_, err) = names(&["--netns", "uxns"]);
    assert!(err.contains("--netns uxns: matches no interface"), "{err}");
    // summary takes the same names
    let out = env
        .cmd(&["summary", "-i", "veth*", "--format", "csv"])
        .env("NREC_NOW", at(5))
        .output()
        .unwrap();
    assert_success(&out);
    let (h, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
    assert!(rows.iter().all(|r| col(&h, r, "iface").starts_with("veth")));
    assert!(!rows.is_empty());
}

/// Three minutes of traffic on lo, eth0 and `veth-long-name1` (15 bytes, the longest name
/// the kernel allows).
fn long_named_iface() -> Env {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.ifaces.push(FakeIface::new(b"veth-long-name1", 3));
    for k in 0..3 {
        for i in &mut p.ifaces {
            i.add(100_000, 100, 100_000, 100);
        }
        p.uptime_ms += 60_000;
        env.record_ok(&p, &at(k));
    }
    env
}

/// Issue 11 item 11: the key column is as wide as its longest name, so the numbers stay in
/// their columns; `--human` headers say bytes where the values are bytes with units.
#[test]
fn report_tables_keep_their_columns_whatever_the_names() {
    let env = long_named_iface();
    for human in [false, true] {
        let mut args = vec!["--since", "1h"];
        if human {
            args.push("--human");
        }
        let text = env.report_ok(&args, &at(5));
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.contains("IFACE") || l.contains("eth0") || l.contains("lo ") || l.contains("veth")
            })
            .collect();
        assert!(lines.len() >= 7, "{text}");
        let ends: Vec<usize> = lines.iter().map(|l| l.trim_end().len()).collect();
        assert!(ends.windows(2).all(|w| w[0] == w[1]), "aligned:\n{text}");
        let head = lines[0];
        assert_eq!(head.contains("rxB/s"), human, "{head}");
        assert_eq!(head.contains("rxkB/s"), !human, "{head}");
    }
}

/// sysstat's `S_TIME_FORMAT=ISO` dates the banner as sar does; summary's name column fits
/// its longest name.
#[test]
fn iso_banner_and_summary_widths() {
    let env = long_named_iface();
    let out = env
        .cmd(&["report", "--since", "1h"])
        .env("NREC_NOW", at(5))
        .env("S_TIME_FORMAT", "ISO")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().next().unwrap().contains("\t2026-11-22 \t"),
        "{text}"
    );
    let out = env
        .cmd(&["summary", "--hourly"])
        .env("NREC_NOW", at(5))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("veth-long-name1"), "{text}");
    let starts: Vec<usize> = text
        .lines()
        .map(|l| l.find("2026-11-22").unwrap_or(usize::MAX))
        .filter(|i| *i != usize::MAX)
        .collect();
    assert!(starts.len() >= 3, "{text}");
    assert!(
        starts.windows(2).all(|w| w[0] == w[1]),
        "PERIOD column aligned:\n{text}"
    );
}

/// Issue 12 item 2: every counter gets a plausibility bound, not only bytes — packets
/// 13 → 2^62 in a minute, a 2^64−1 → 2^63 "reset", and snmp InSegs 200 → 2^64−1 are flagged
/// and not counted instead of printed as astronomic rates.
#[test]
fn every_counter_is_bounded_by_what_the_links_can_carry() {
    let env = Env::new();
    let mut p = FakeProc::new();
    p.iface(b"eth0").add(1000, 13, 1000, 13);
    p.tcp[2] = 200;
    env.record_ok(&p, &at(0));
    // packets jump to 2^62 while the bytes stay sane
    p.iface(b"eth0").c[1] = 1 << 62;
    p.iface(b"eth0").add(1000, 0, 1000, 1);
    p.uptime_ms += 60_000;
    let err = env.record_ok(&p, &at(1));
    assert!(err.contains("eth0: counter jump"), "{err}");
    // InSegs to 2^64-1
    p.tcp[2] = u64::MAX;
    p.uptime_ms += 60_000;
    let err = env.record_ok(&p, &at(2));
    assert!(err.contains("a protocol counter jumped"), "{err}");
    // a drop counter from 2^64-1 down to 2^63: a "reset" that would count 2^63
    p.iface(b"eth0").c[3] = u64::MAX;
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(3));
    p.iface(b"eth0").c[3] = 1 << 63;
    p.uptime_ms += 60_000;
    let err = env.record_ok(&p, &at(4));
    assert!(err.contains("eth0: counter jump"), "{err}");
    let out = env.report_ok(
        &["--since", "1h", "-n", "DEV,EDEV,TCP", "--format", "csv"],
        &at(5),
    );
    for line in out.lines() {
        for field in line.split(',') {
            if let Ok(v) = field.parse::<f64>() {
                assert!(v < 1e15, "an astronomic value reached the report: {line}");
            }
        }
    }
    let text = env.report_ok(&["--since", "1h", "-n", "DEV"], &at(5));
    assert!(text.contains("not counted: implausible"), "{text}");
}

/// A day's history (rollups::write_history, 100 one-minute samples from 2026-11-22T00:00Z)
/// with loopbacks in the host and in namespaces `nca` and `ncb`, and an `eth0` in `nca`:
/// per interval, lo 1000/10 B (rx/tx), lo@nca 100 000/100, lo@ncb 10 000 000/1000,
/// eth0@nca 7/7 — each distinct, so any sum says which interfaces it added.
pub(crate) fn namespaced_history() -> Env {
    let env = Env::new();
    crate::rollups::write_history(&env, 1_795_305_600_000, 100, 60_000, 3);
    let c = env.sql();
    c.execute_batch(
        "INSERT INTO netns (boot_id, inode, name) VALUES ('hist', 4026532001, CAST('nca' AS BLOB));
         INSERT INTO netns (boot_id, inode, name) VALUES ('hist', 4026532002, CAST('ncb' AS BLOB));",
    )
    .unwrap();
    let ns = |name: &str| -> i64 {
        c.query_row(
            "SELECT id FROM netns WHERE boot_id = 'hist' AND name = CAST(?1 AS BLOB)",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    let ifaces = [
        (ns("root"), 1, "lo", 1000, 10),
        (ns("nca"), 1, "lo", 100_000, 100),
        (ns("ncb"), 1, "lo", 10_000_000, 1000),
        (ns("nca"), 2, "eth0", 7, 7),
    ];
    let samples: Vec<(i64, bool)> = c
        .prepare("SELECT id, prev IS NULL FROM sample WHERE sysinfo = (SELECT id FROM sysinfo WHERE boot_id = 'hist') ORDER BY ts_ms")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(samples.len(), 100);
    for (netns, ifindex, name, rx, tx) in ifaces {
        c.execute(
            "INSERT INTO iface (netns, ifindex, name) VALUES (?1, ?2, CAST(?3 AS BLOB))",
            rusqlite::params![netns, ifindex, name],
        )
        .unwrap();
        let id = c.last_insert_rowid();
        for (s, baseline) in &samples {
            let (r, t) = if *baseline {
                (None, None)
            } else {
                (Some(rx), Some(tx))
            };
            c.execute(
                "INSERT INTO iface_sample (sample, iface, d_rx_bytes, d_tx_bytes, flags) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![s, id, r, t, i64::from(*baseline)],
            )
            .unwrap();
        }
    }
    drop(c);
    assert_success(&env.cmd(&["rollup", "--rebuild", "-q"]).output().unwrap());
    env
}

/// The (netns, iface) pairs of an interface CSV (report or export), sorted, and the sum of
/// its rx_bytes.
fn who_and_rx(csv: &str) -> (Vec<(String, String)>, u64) {
    let (h, rows) = parse_csv(csv);
    let mut who: Vec<(String, String)> = rows
        .iter()
        .map(|r| (col(&h, r, "netns").into(), col(&h, r, "iface").into()))
        .collect();
    who.sort();
    who.dedup();
    let rx = rows
        .iter()
        .map(|r| col(&h, r, "rx_bytes").parse::<u64>().unwrap())
        .sum();
    (who, rx)
}

/// Issue 31 item 2: a name means what reports print — `lo` is the host's loopback, `lo@nca`
/// a namespace's, `*@*` or `--netns` say "all" — in report, summary, export, the metrics
/// and alerts alike; no command adds a namespace's bytes to the host's interface.
#[test]
fn a_bare_interface_name_is_the_hosts_in_every_command() {
    let env = namespaced_history();
    let now = "2026-11-22T02:00:00Z";
    let intervals = 99;
    let run = |args: &[&str]| -> (String, String) {
        let out = env.cmd(args).env("NREC_NOW", now).output().unwrap();
        assert_success(&out);
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // report: which (netns, iface) rows, and their rx bytes
    let report = |sel: &[&str]| {
        who_and_rx(&run(&[&["report", "--today", "--format", "csv"], sel].concat()).0)
    };
    let pair = |ns: &str, i: &str| (ns.to_string(), i.to_string());
    assert_eq!(
        report(&["-i", "lo"]),
        (vec![pair("root", "lo")], intervals * 1000)
    );
    assert_eq!(
        report(&["-i", "lo@*"]).0,
        [pair("nca", "lo"), pair("ncb", "lo")],
        "a pattern on the namespace never names the host's"
    );
    assert_eq!(
        report(&["-i", "lo@nca"]),
        (vec![pair("nca", "lo")], intervals * 100_000)
    );
    assert_eq!(
        report(&["-i", "*@*"]).0,
        [pair("nca", "eth0"), pair("nca", "lo"), pair("ncb", "lo")]
    );
    assert_eq!(
        report(&["-i", "lo", "--netns", "*"]).0,
        [pair("nca", "lo"), pair("ncb", "lo"), pair("root", "lo")]
    );
    assert_eq!(
        report(&["-i", "eth0"]).0,
        [pair("root", "eth0")],
        "not nca's eth0"
    );
    // the table prints a namespace's interface with its namespace, alone or not
    let (table, _) = run(&["report", "--today", "-i", "lo@nca"]);
    let average = table.lines().find(|l| l.starts_with("Average:")).unwrap();
    assert_eq!(average.split_whitespace().nth(1), Some("lo@nca"), "{table}");
    // summary: today's bytes, summed over the interfaces it lists
    let today = |sel: &[&str]| -> u64 {
        let (js, _) = run(&[&["summary", "--format", "json"], sel].concat());
        let v: serde_json::Value = serde_json::from_str(&js).unwrap();
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["period"] == "today")
            .map(|r| r["rx_bytes"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(today(&["-i", "lo"]), intervals * 1000);
    assert_eq!(today(&["-i", "lo@*"]), intervals * 10_100_000);
    // export: the iface table's rows, and the interface metrics
    let exported =
        |sel: &[&str]| who_and_rx(&run(&[&["export", "iface", "--today"], sel].concat()).0);
    assert_eq!(
        exported(&["-i", "lo"]),
        (vec![pair("root", "lo")], intervals * 1000)
    );
    assert_eq!(exported(&["--netns", "ncb"]).0, [pair("ncb", "lo")]);
    let (_, err) = run(&["export", "iface", "--today", "-i", "lo@ncc"]);
    assert!(
        err.contains("--iface lo@ncc: matches no interface recorded in") && err.contains("lo@nca"),
        "{err}"
    );
    let devices = |text: &str| -> Vec<String> {
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("nrec_network_receive_bytes_total{"))
            .map(|l| l[..l.find('}').unwrap() + 1].to_string())
            .collect();
        v.sort();
        v
    };
    let (om, _) = run(&["export", "iface", "--format", "openmetrics", "-i", "lo"]);
    assert_eq!(
        devices(&om),
        [r#"nrec_network_receive_bytes_total{netns="root",device="lo"}"#]
    );
    let cfg = env.tmp.path().join("nrec.toml");
    std::fs::write(
        &cfg,
        "[metrics]\ninterfaces = [\"lo@*\"]\n\n\
         [[alert]]\nname = \"host-lo\"\ninterface = \"lo\"\nvolume = \"1 TB\"\nperiod = \"day\"\n\n\
         [[alert]]\nname = \"ns-lo\"\ninterface = \"lo@*\"\nvolume = \"1 TB\"\nperiod = \"day\"\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let (om, _) = run(&["--config", c, "export", "--format", "openmetrics"]);
    assert_eq!(
        devices(&om),
        [
            r#"nrec_network_receive_bytes_total{netns="nca",device="lo"}"#,
            r#"nrec_network_receive_bytes_total{netns="ncb",device="lo"}"#
        ],
        "[metrics] interfaces"
    );
    // alerts: a quota on `lo` counts the host's loopback only
    let (js, _) = run(&["--config", c, "alerts", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    let value = |rule: &str| alert_value(&v, rule);
    assert_eq!(value("host-lo"), intervals * 1010, "{v}");
    assert_eq!(value("ns-lo"), intervals * (100_100 + 10_001_000), "{v}");
}

/// Issue 31 item 9: `report -n PROC`'s Average is over the window, as sar's and DEV's are: a
/// process that moved 6 MB in one minute of a ten-minute window averages 10 kB/s, not the
/// 100 kB/s of its one busy interval. The interval_s of its Average row says the window.
#[test]
fn a_process_average_is_over_the_window_like_an_interface() {
    let env = Env::new();
    let start = 1_795_305_600_000; // 2026-11-22T00:00Z
    crate::rollups::write_history(&env, start, 11, 60_000, 5);
    {
        let mut c = env.sql();
        let t = c.transaction().unwrap();
        t.execute(
            "INSERT INTO process (boot_id, pid, start_time, comm, netns)
             SELECT 'hist', 30, 1, CAST('gamma' AS BLOB), id FROM netns WHERE boot_id = 'hist'",
            [],
        )
        .unwrap();
        let gamma = t.last_insert_rowid();
        let sid: i64 = t
            .query_row(
                "SELECT id FROM sample WHERE ts_ms = ?1",
                [start + 5 * 60_000],
                |r| r.get(0),
            )
            .unwrap();
        let mut b = nrec_store::procbytes::SampleBytes::default();
        b.add_proc(gamma, 1, 6_144_000, 0);
        nrec_store::procbytes::write(&t, sid, &b).unwrap();
        t.commit().unwrap();
    }
    assert_success(&env.cmd(&["rollup", "--rebuild", "-q"]).output().unwrap());
    let js = env.report_ok(
        &["-n", "PROC", "--date", "2026-11-22", "--format", "json"],
        "2026-11-22T00:30:00Z",
    );
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    let avg = v["reports"][0]["average"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["process"] == "gamma[30]")
        .unwrap_or_else(|| panic!("{js}"))
        .clone();
    assert_eq!(avg["rx_bytes"], 6_144_000);
    assert_eq!(
        avg["interval_s"], 600.0,
        "the window's ten sampled minutes: {avg}"
    );
    assert_eq!(avg["rxkB/s"], 10.0, "6 000 KiB over 600 s: {avg}");
    // DEV's Average covers the same time
    let js = env.report_ok(
        &["-n", "DEV", "--date", "2026-11-22", "--format", "json"],
        "2026-11-22T00:30:00Z",
    );
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["reports"][0]["average"][0]["interval_s"], 600.0, "{js}");
}

/// Issue 35 item 5: `[aliases]` names interfaces as people call them — shown next to the
/// name in tables and pictures, an `alias` label in the metrics, and taken wherever a name
/// is (report, summary, its 95th percentile, export, alerts); CSV and JSON keep the name.
#[test]
fn an_alias_is_shown_and_taken_wherever_an_interface_name_is() {
    let env = namespaced_history();
    let now = "2026-11-22T02:00:00Z";
    let intervals = 99;
    let cfg = env.tmp.path().join("aliases.toml");
    std::fs::write(
        &cfg,
        "[aliases]\n\"lo\" = \"host loop\"\n\"lo@ncb\" = \"bulk\"\n\n\
         [[alert]]\nname = \"bulk-day\"\ninterface = \"bulk\"\nvolume = \"1 TB\"\nperiod = \"day\"\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let run = |args: &[&str]| -> (String, String) {
        let out = env
            .cmd(&[&["--config", c], args].concat())
            .env("NREC_NOW", now)
            .output()
            .unwrap();
        assert_success(&out);
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let pair = |ns: &str, i: &str| (ns.to_string(), i.to_string());
    // taken as a name: whole and by pattern; CSV keeps the interface's name
    let report = |sel: &[&str]| {
        who_and_rx(&run(&[&["report", "--today", "--format", "csv"], sel].concat()).0)
    };
    assert_eq!(
        report(&["-i", "host loop"]),
        (vec![pair("root", "lo")], intervals * 1000)
    );
    assert_eq!(
        report(&["-i", "bu*"]),
        (vec![pair("ncb", "lo")], intervals * 10_000_000)
    );
    // shown next to the name in the table and the picture
    let (table, _) = run(&["report", "--today", "-i", "bulk"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("Average:") && l.contains(" lo@ncb (bulk) ")),
        "{table}"
    );
    let (svg, _) = run(&["report", "--today", "-i", "bulk", "--format", "svg"]);
    assert!(svg.contains("lo@ncb (bulk)"), "the picture names the alias");
    // summary, its table and its 95th percentile
    let (js, _) = run(&["summary", "-i", "bulk", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    let today: u64 = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["period"] == "today")
        .map(|r| r["rx_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(today, intervals * 10_000_000, "{v}");
    let (text, _) = run(&["summary", "-i", "host loop"]);
    assert!(
        text.lines().any(|l| l.starts_with("lo (host loop) ")),
        "{text}"
    );
    let (p95, _) = run(&["summary", "--95th", "--today", "-i", "bulk"]);
    assert!(
        p95.lines().any(|l| l.starts_with("lo@ncb (bulk) ")),
        "{p95}"
    );
    // the metrics: an alias label where the config gives one
    let (om, _) = run(&["export", "iface", "--format", "openmetrics", "-i", "*@*"]);
    let mut series: Vec<&str> = om
        .lines()
        .filter(|l| l.starts_with("nrec_network_receive_bytes_total{"))
        .map(|l| &l[..l.find('}').unwrap() + 1])
        .collect();
    series.sort();
    series.dedup();
    assert_eq!(
        series,
        [
            r#"nrec_network_receive_bytes_total{netns="nca",device="eth0"}"#,
            r#"nrec_network_receive_bytes_total{netns="nca",device="lo"}"#,
            r#"nrec_network_receive_bytes_total{netns="ncb",device="lo",alias="bulk"}"#,
        ]
    );
    // a quota on the alias counts its interface
    let (js, _) = run(&["alerts", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(alert_value(&v, "bulk-day"), intervals * 10_001_000, "{v}");
    // a name that is neither says what there is, aliases included
    let out = env
        .cmd(&["--config", c, "report", "--today", "-i", "nosuch"])
        .env("NREC_NOW", now)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lo (host loop)"), "{err}");
    // an alias that could not be shown safely is refused, naming the file's section
    for bad in ["\"lo\" = \"\"", "\"lo\" = \"a\\u001b[2J\"", "\"\" = \"x\""] {
        std::fs::write(&cfg, format!("[aliases]\n{bad}\n")).unwrap();
        let out = env.cmd(&["--config", c, "summary"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("nrec: config ") && err.contains("aliases") && err.lines().count() == 1,
            "{bad}: {err}"
        );
    }
}
