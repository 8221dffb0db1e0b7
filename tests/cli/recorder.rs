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

/// A UDP sink in a namespace (a member process, a TCP listener and a bound UDP socket that
/// receives whatever is sent to it) until its stdin closes; prints the UDP port.
const SINK: &str = r#"
import select, socket, sys
t = socket.socket(); t.bind(('0.0.0.0', 0)); t.listen(5)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 0))
print(u.getsockname()[1], flush=True)
while True:
    r, _, _ = select.select([u, sys.stdin], [], [], 30)
    if not r or sys.stdin in r: break
    u.recv(65536)
"#;

/// `n` datagrams of `size` bytes to `addr:port`, from a process that exits after them
/// (bounded: n * size bytes).
const SEND: &str = r#"
import socket, sys
addr, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(n): s.sendto(b'x' * size, (addr, port))
"#;

/// A namespace's raw series as `export` prints them, without the clock columns (the two
/// databases sample the same instants a moment apart), the host-wide sockstat values (every
/// namespace shows the host's, which move with the host's traffic in between) and sockstat's
/// `sockets: used`, which counts the reader's own netlink sockets — and, for a moment after
/// they close (the kernel frees them after an RCU grace period), those of the recorder that
/// ran just before: the two databases' recorders run back to back.
fn series(env: &Env, table: &str, netns: &str) -> Vec<String> {
    let out = env.now_ok(&["export", table, "--since", "1h", "--format", "csv"]);
    let (h, rows) = parse_csv(&out);
    let keep: Vec<usize> = (0..h.len())
        .filter(|i| !["host", "start", "end", "counted_ms"].contains(&h[*i].as_str()))
        .collect();
    rows.iter()
        .filter(|r| col(&h, r, "netns") == netns)
        .filter(|r| {
            table != "proto" || {
                let c = col(&h, r, "counter");
                !(nrec_model_host_wide().contains(&c) || c == "sockstat:sockets:used")
            }
        })
        .map(|r| {
            keep.iter()
                .map(|i| r[*i].as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// `derive::idle::HOST_WIDE`, as the tests (which link only the binary) name them.
fn nrec_model_host_wide() -> [&'static str; 4] {
    [
        "sockstat:TCP:orphan",
        "sockstat:TCP:alloc",
        "sockstat:TCP:mem",
        "sockstat:UDP:mem",
    ]
}

/// Issue 37 item 1: a namespace whose interfaces did not move is carried forward — its
/// counters not read, stored as the previous sample's — and what is stored equals what
/// reading everything every time stores: two namespaces joined by a veth pair (one with a
/// process holding a listener and a UDP socket, one whose only process came and went),
/// traffic, three idle samples, traffic again, an idle sample; recorded into two databases
/// at each step, one of them with NREC_IDLE_NAMESPACES=read.
#[test]
fn an_idle_namespace_is_carried_and_stores_what_a_read_would() {
    let test = "an_idle_namespace_is_carried_and_stores_what_a_read_would";
    if !is_root() {
        return skip(test, "needs root (network namespaces)");
    }
    let Some(ns) = crate::live::Netns::pair("idle") else {
        return skip(test, "ip netns add / veth failed");
    };
    let (a, b) = (ns.names[0].clone(), ns.names[1].clone());
    // no IPv6 on the pair: its router solicitations and DAD would keep the links busy
    for n in [&a, &b] {
        let ok = Command::new("ip")
            .args([
                "netns",
                "exec",
                n,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let addr_a = {
        let b = ns.addr_b();
        format!("{}.1", b.rsplit_once('.').unwrap().0)
    };
    let mut sink = {
        let mut c = python_in(Some(&a));
        c.arg("-c").arg(SINK);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        (child, line.trim().to_string())
    };
    let send = |n: u32| {
        let out = python_in(Some(&b))
            .args(["-c", SEND, &addr_a, &sink.1, &n.to_string(), "1200"])
            .output()
            .unwrap();
        assert_success(&out);
    };
    let (carry, read) = (Env::new(), Env::new());
    let step = || {
        carry.record_live();
        let out = read
            .cmd(&["record", "-q"])
            .env("NREC_IDLE_NAMESPACES", "read")
            .output()
            .unwrap();
        assert_success(&out);
    };
    // the links settle (IGMP reports after the links came up), then the baseline
    std::thread::sleep(std::time::Duration::from_secs(3));
    step();
    send(40);
    step();
    for _ in 0..3 {
        step();
    }
    // the carry happened: both namespaces' counters were last read at the traffic's sample
    // (their readings' row is that read's, left as it was by the carried samples)
    let read_at = |env: &Env, name: &str| -> (i64, i64) {
        env.sql()
            .query_row(
                "SELECT p.read_ms, (SELECT max(ts_ms) FROM sample)
                 FROM proto_last p JOIN netns n ON n.id = p.netns
                 JOIN sample s ON s.id = p.sample AND s.ts_ms = p.read_ms
                 WHERE n.name = CAST(?1 AS BLOB)",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or_else(|e| {
                let names: Vec<String> = env
                    .sql()
                    .prepare("SELECT name || ' ' || (SELECT count(*) FROM proto_last p WHERE p.netns = netns.id) FROM netns")
                    .unwrap()
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                panic!("{name}: {e}; namespaces: {names:?}")
            })
    };
    for n in [&a, &b] {
        let (read_ms, ts) = read_at(&carry, n);
        assert!(
            read_ms < ts,
            "{n}: carried, not read (read {read_ms}, sample {ts})"
        );
        let (read_ms, ts) = read_at(&read, n);
        assert_eq!(read_ms, ts, "{n}: NREC_IDLE_NAMESPACES=read reads it");
    }
    send(25);
    step();
    step();
    for n in [&a, &b] {
        for table in ["iface", "proto"] {
            let (got, want) = (series(&carry, table, n), series(&read, table, n));
            assert!(got.len() >= 6, "{n} {table}: {got:?}");
            assert_eq!(got, want, "{n} {table}: carried and read differ");
        }
        // the traffic is counted where it happened: 65 datagrams of 1200 bytes and headers
        let rx: u64 = series(&carry, "iface", n)
            .iter()
            .filter(|r| r.contains(",va") || r.contains(",vb"))
            .map(|r| r.split(',').nth(2).unwrap().parse::<u64>().unwrap())
            .sum();
        if n == &a {
            assert!((65 * 1228..66 * 1300).contains(&rx), "{n}: {rx}");
        }
    }
    // the listener's span runs through the carried samples (one row, seen by the newest)
    for env in [&carry, &read] {
        let (rows, newest): (i64, i64) = env
            .sql()
            .query_row(
                "SELECT count(*), max(l.last_sample) = (SELECT max(id) FROM sample)
                 FROM listener l JOIN netns n ON n.id = l.netns WHERE n.name = CAST(?1 AS BLOB) AND l.proto = 'tcp'",
                [&a],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((rows, newest), (1, 1));
    }
    drop(sink.0.stdin.take());
    let _ = sink.0.wait();
    // a namespace gone: its readings and socket dump, which served only the very next
    // sample (or the samples that carried it), are not kept (only the newest sample's
    // namespaces have them)
    assert!(
        Command::new("ip")
            .args(["netns", "del", &b])
            .status()
            .unwrap()
            .success()
    );
    step();
    for env in [&carry, &read] {
        for (table, stale) in [
            // (a carried namespace's readings row is its last read's)
            (
                "proto_last",
                "t.netns NOT IN (SELECT netns FROM proto_sample WHERE sample = (SELECT max(id) FROM sample))",
            ),
            ("sock_base", "t.sample != (SELECT max(id) FROM sample)"),
        ] {
            let (gone, stale, newest): (i64, i64, i64) = env
                .sql()
                .query_row(
                    &format!(
                        "SELECT (SELECT count(*) FROM {table} t JOIN netns n ON n.id = t.netns
                                  WHERE n.name = CAST(?1 AS BLOB)),
                                (SELECT count(*) FROM {table} t WHERE {stale}),
                                (SELECT count(*) FROM {table} t JOIN netns n ON n.id = t.netns
                                  WHERE n.name = CAST(?2 AS BLOB))"
                    ),
                    [&b, &a],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            assert_eq!((gone, stale, newest), (0, 0, 1), "{table}");
        }
    }
}
