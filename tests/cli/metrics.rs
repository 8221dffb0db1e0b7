//! Issue 13: `nrec serve`, `export --format openmetrics` (textfile and history), against the
//! real Prometheus and promtool from Debian's `prometheus` package, started on loopback.

use crate::harness::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn need(tool: &str) {
    assert!(
        Command::new(tool).arg("--version").output().is_ok(),
        "{tool} is missing: apt-get install prometheus (it carries promtool)"
    );
}

pub(crate) fn now_s(offset_s: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_s)).to_string()
}

/// A child ended by PID when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.0 GET on loopback: (status line, body).
pub(crate) fn get(addr: &str, target: &str, accept: &str) -> (String, Vec<u8>) {
    try_get(addr, target, accept).unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

pub(crate) fn try_get(
    addr: &str,
    target: &str,
    accept: &str,
) -> std::io::Result<(String, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "GET {target} HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n"
    )?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no response head"))?;
    let head = String::from_utf8_lossy(&all[..end]).to_string();
    Ok((
        head.lines().next().unwrap_or("").to_string(),
        all[end + 4..].to_vec(),
    ))
}

pub(crate) fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus' HTTP API: the `data.result` of a query.
pub(crate) fn api(addr: &str, path: &str, params: &[(&str, String)]) -> serde_json::Value {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let (status, body) = get(addr, &format!("{path}?{}", q.join("&")), "*/*");
    assert!(
        status.contains("200"),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["data"]["result"].clone()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `prometheus` on loopback with `config`, its TSDB in `tsdb`; returns (process, address)
/// once it answers.
pub(crate) fn prometheus(dir: &Path, config: &str, tsdb: &Path) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    (prometheus_at(dir, config, tsdb, &addr, &[]), addr)
}

/// [`prometheus`] at `addr` with `extra` arguments (the remote-write receiver, say), ready
/// when it answers `/-/ready` over plain HTTP; with a web config the caller waits itself.
pub(crate) fn prometheus_at(
    dir: &Path,
    config: &str,
    tsdb: &Path,
    addr: &str,
    extra: &[&str],
) -> Proc {
    need("prometheus");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let tls = extra.iter().any(|a| a.starts_with("--web.config.file"));
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--storage.tsdb.retention.time=100y")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .unwrap();
    let p = Proc(child);
    let t0 = Instant::now();
    loop {
        if TcpStream::connect(addr).is_ok()
            && (tls || get(addr, "/-/ready", "*/*").0.contains("200"))
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "prometheus did not start: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    p
}

/// A Prometheus configuration that scrapes `nrec serve` at `addr` every second.
fn scrape_every_second(addr: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: nrec\n    static_configs:\n      - targets: ['{addr}']\n"
    )
}

/// Waits until Prometheus has scraped job "nrec" `n` times (its discovery hands new targets
/// to the scrapers every 5 s, so the first scrape can take that long).
fn wait_scraped(paddr: &str, n: u64) {
    let t0 = Instant::now();
    loop {
        let r = api(
            paddr,
            "/api/v1/query",
            &[("query", "count_over_time(up{job=\"nrec\"}[5m])".into())],
        );
        let got: u64 = r[0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if got >= n {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "not scraped: {r}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `nrec serve --listen 127.0.0.1:0 EXTRA…`: (process, the address it says it serves). Its stderr
/// goes to a file in the test's directory (`serve.log`).
pub(crate) fn serve(env: &Env, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["-v", "serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let log = env.tmp.path().join("serve.log");
    let child = env
        .cmd(&args)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let p = Proc(child);
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // http:// or, with a web config's TLS, https://
        if let Some(addr) = text.split("://").nth(1).and_then(|r| r.split('/').next()) {
            return (p, addr.to_string());
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "serve said: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The host's eth0 received bytes as a scrape of `addr` serves them.
fn scraped_eth0_rx(addr: &str) -> u64 {
    let (_, body) = get(addr, "/metrics", "text/plain");
    String::from_utf8(body)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("nrec_network_receive_bytes_total{netns=\"root\",device=\"eth0\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap()
}

/// Hostile names (quotes, backslashes, newlines, non-UTF-8, bidi controls) in interfaces and
/// processes: the classic exposition passes `promtool check metrics`, the OpenMetrics one is
/// parsed by Prometheus itself in `prometheus_scrapes_serve_and_agrees_with_nrec`.
#[test]
fn the_exposition_passes_promtool_with_hostile_names() {
    need("promtool");
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &now_s(-120));
    p.iface(b"eth0").add(5_000_000, 100, 1_000_000, 50);
    p.uptime_ms += 60_000;
    env.record_ok(&p, &now_s(-60));
    let c = env.sql();
    let sid: i64 = c
        .query_row("SELECT max(id) FROM sample", [], |r| r.get(0))
        .unwrap();
    c.execute_batch("UPDATE iface SET name = x'65225c0a74ff' WHERE name = CAST('eth0' AS BLOB);")
        .unwrap();
    let netns: i64 = c
        .query_row("SELECT min(id) FROM netns", [], |r| r.get(0))
        .unwrap();
    let mut b = nrec_store::procbytes::SampleBytes::default();
    for (i, name) in [&b"a\"b\\c"[..], b"x\ny\xe2\x80\xaez", b"\xff\xfe"]
        .into_iter()
        .enumerate()
    {
        c.execute(
            "INSERT INTO process (boot_id, pid, start_time, comm, netns) VALUES ('b', ?1, 1, ?2, ?3)",
            rusqlite::params![100 + i as i64, name, netns],
        )
        .unwrap();
        let id = c.last_insert_rowid();
        b.add_proc(id, 1, 1000, 100);
        b.add_port(id, "tcp", 8000 + i as i64, "", 1000, 100);
    }
    nrec_store::procbytes::write(&c, sid, &b).unwrap();
    drop(c);
    assert_success(&env.cmd(&["rollup", "--rebuild", "-q"]).output().unwrap());
    let dir = env.tmp.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let out = env
        .cmd(&[
            "export",
            "--format",
            "openmetrics",
            "--textfile",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let prom = std::fs::read_to_string(dir.join("nrec.prom")).unwrap();
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1, "only nrec.prom is left: {names:?}");
    for want in [
        r#"nrec_process_receive_bytes_total{name="a\"b\\\\c"} 1000"#,
        r#"device="e\"\\\\\\x0at\\xff""#,
        r#"{name="x\\x0ay\\xe2\\x80\\xaez"}"#,
        r#"nrec_port_transmit_bytes_total{proto="tcp",port="8001"} 100"#,
        // what no process was credited with: eth0's 5 MB less the three processes' 3000 B
        "nrec_unattributed_receive_bytes_total 4997000",
        "nrec_attributed_receive_bytes_total 3000",
        "nrec_network_receive_bytes_total",
    ] {
        assert!(prom.contains(want), "{want} in\n{prom}");
    }
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(prom.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{prom}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // node_exporter's textfile collector reads the file as it is
    need("prometheus-node-exporter");
    let ne_addr = format!("127.0.0.1:{}", free_port());
    let _ne = Proc(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address={ne_addr}"))
            .args(["--collector.disable-defaults", "--collector.textfile"])
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    let scraped = loop {
        if let Ok((st, body)) = try_get(&ne_addr, "/metrics", "text/plain") {
            if st.contains("200") {
                break String::from_utf8(body).unwrap();
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "node_exporter did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        scraped.contains(r#"nrec_process_receive_bytes_total{name="a\"b\\\\c"} 1000"#)
            && scraped.contains("node_textfile_scrape_error 0"),
        "{scraped}"
    );
    // and the endpoint answers the same families in both formats
    let (_srv, addr) = serve(&env, &[]);
    let (st, body) = get(
        &addr,
        "/metrics",
        "application/openmetrics-text; version=1.0.0",
    );
    let body = String::from_utf8(body).unwrap();
    assert!(
        st.contains("200") && body.ends_with("# EOF\n"),
        "{st}\n{body}"
    );
    assert!(body.contains("# UNIT nrec_network_receive_bytes bytes"));
    assert!(body.contains("nrec_network_receive_bytes_created{"));
    let (st, body) = get(&addr, "/metrics", "text/plain");
    let body = String::from_utf8(body).unwrap();
    assert!(st.contains("200") && !body.contains("# EOF") && !body.contains("_created"));
    assert!(get(&addr, "/nope", "*/*").0.contains("404"));
}

/// A real Prometheus scrapes `nrec serve` (every second, OpenMetrics negotiated) while nrec
/// records known traffic. How we compare: each scraped value of the eth0 receive counter must
/// be one of the cumulative totals nrec had stored at some moment (a scrape sees the database
/// between two samples), and the last one must equal both the bytes the test added and nrec's
/// own `export iface` sum over the same window — exact, no extrapolation (`increase()`
/// extrapolates to the range's edges, so it is not compared byte for byte).
#[test]
fn prometheus_scrapes_serve_and_agrees_with_nrec() {
    let env = Env::new();
    let mut p = FakeProc::new();
    let start = now_s(-5);
    env.record_ok(&p, &start);
    let (_srv, addr) = serve(&env, &[]);
    let t0 = Instant::now();
    let (st, _) = get(&addr, "/metrics", "application/openmetrics-text");
    assert!(
        st.contains("200") && t0.elapsed() < Duration::from_millis(500),
        "{st} in {:?}",
        t0.elapsed()
    );
    let dir = env.tmp.path();
    let (_prom, paddr) = prometheus(dir, &scrape_every_second(&addr), &dir.join("tsdb"));
    wait_scraped(&paddr, 1);
    let mut totals = vec![0u64];
    for k in 1..=6u64 {
        p.iface(b"eth0").add(1_000_000 * k, 100, 10_000, 10);
        p.uptime_ms += 1_500;
        env.record_ok(&p, &now_s(0));
        totals.push(totals.last().unwrap() + 1_000_000 * k);
        std::thread::sleep(Duration::from_millis(1_500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let q = r#"nrec_network_receive_bytes_total{device="eth0"}"#;
    let now = jiff::Timestamp::now().as_second();
    let range = api(
        &paddr,
        "/api/v1/query_range",
        &[
            ("query", q.into()),
            ("start", (now - 30).to_string()),
            ("end", now.to_string()),
            ("step", "1".into()),
        ],
    );
    let values: Vec<u64> = range[0]["values"]
        .as_array()
        .unwrap_or_else(|| {
            let (_, t) = get(&paddr, "/api/v1/targets", "*/*");
            panic!(
                "no series: {range}; targets: {}",
                String::from_utf8_lossy(&t)
            )
        })
        .iter()
        .map(|v| v[1].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(values.len() >= 5, "{values:?}");
    for v in &values {
        assert!(totals.contains(v), "scraped {v}, stored totals {totals:?}");
    }
    let last = *values.last().unwrap();
    assert_eq!(last, *totals.last().unwrap(), "{values:?}");
    // nrec's own figure for the same window
    let out = env
        .cmd(&["export", "iface", "--since", "1h", "--format", "csv"])
        .output()
        .unwrap();
    assert_success(&out);
    let (h, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
    let own: u64 = rows
        .iter()
        .filter(|r| col(&h, r, "iface") == "eth0")
        .map(|r| col(&h, r, "rx_bytes").parse::<u64>().unwrap_or(0))
        .sum();
    assert_eq!(own, last, "nrec export and Prometheus agree");
    let up = api(
        &paddr,
        "/api/v1/query",
        &[("query", "up{job=\"nrec\"}".into())],
    );
    assert_eq!(up[0]["value"][1], "1", "{up}");
    // the health and calendar families arrive too
    for q in [
        "nrec_last_sample_timestamp_seconds",
        "nrec_network_day_receive_bytes",
        "nrec_samples_total",
    ] {
        let r = api(&paddr, "/api/v1/query", &[("query", q.into())]);
        assert!(r.as_array().is_some_and(|a| !a.is_empty()), "{q}: {r}");
    }
}

/// Every panel of `contrib/grafana/nrec.json`, and its host variable, return data from the
/// Prometheus at `paddr` (scraped or fed by remote write: the dashboard works on both).
pub(crate) fn dashboard_returns_data(paddr: &str) {
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/nrec.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for v in dash["templating"]["list"].as_array().unwrap() {
        let Some(q) = v["query"]["query"].as_str() else {
            continue;
        };
        // label_values(METRIC, LABEL): the metric's series carry the label
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap();
        let (metric, label) = inner.split_once(", ").unwrap();
        let r = api(paddr, "/api/v1/query", &[("query", metric.to_string())]);
        assert!(
            r.as_array()
                .is_some_and(|a| a.iter().any(|s| s["metric"][label].is_string())),
            "variable {}: {q} lists nothing: {r}",
            v["name"]
        );
    }
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    for panel in panels {
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "10s")
                .replace("$__range", "1h")
                .replace("$instance", ".*");
            let r = api(paddr, "/api/v1/query", &[("query", expr.clone())]);
            assert!(
                r.as_array().is_some_and(|a| !a.is_empty()),
                "panel {}: {expr} returned nothing; targets: {}",
                panel["title"],
                String::from_utf8_lossy(&get(paddr, "/api/v1/targets", "*/*").1)
            );
        }
    }
}

/// Every panel of `contrib/grafana/nrec.json` returns data from a real Prometheus scraping
/// `nrec serve` over a live recording (sock_diag: interfaces, sockets per state, a process and
/// its service port moving bytes over loopback).
#[test]
fn grafana_dashboard_panels_return_data() {
    if !is_root() {
        skip(
            "grafana_dashboard_panels_return_data",
            "the live recording needs root (every process's sockets)",
        );
        return;
    }
    let env = Env::new();
    let lst = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(lst.local_addr().unwrap()).unwrap();
    let (mut server, _) = lst.accept().unwrap();
    env.record_live();
    let data = vec![7u8; 200_000];
    client.write_all(&data).unwrap();
    let mut got = vec![0u8; data.len()];
    server.read_exact(&mut got).unwrap();
    std::thread::sleep(Duration::from_millis(1_100));
    env.record_live();
    let (_srv, addr) = serve(&env, &[]);
    let dir = env.tmp.path();
    let (_prom, paddr) = prometheus(dir, &scrape_every_second(&addr), &dir.join("tsdb"));
    wait_scraped(&paddr, 4);
    dashboard_returns_data(&paddr);
    drop((client, server));
}

/// Backfill (issue 36): `export --since … --format openmetrics` → `promtool tsdb
/// create-blocks-from openmetrics` → a Prometheus on those blocks answers what `nrec report`
/// adds up to, at the same instants: at each stored sample where raw samples are kept (not
/// only at quarter hours), at each quarter hour of a day whose raw samples were pruned.
#[test]
fn backfilled_history_equals_nrec_report() {
    need("promtool");
    let env = Env::new();
    let mut p = FakeProc::new();
    // two and a half days of a sample every 20 minutes and 7 seconds (never on a quarter
    // hour), from two UTC midnights ago; then retention keeps one day of raw samples
    let day0 = jiff::Timestamp::now().as_second() / 86_400 * 86_400 - 2 * 86_400;
    let mut times = Vec::new();
    let mut t = day0 + 7;
    let end = jiff::Timestamp::now().as_second() - 60;
    env.record_ok(&p, &jiff::Timestamp::from_second(t).unwrap().to_string());
    let mut k = 0u64;
    while t + 1207 <= end {
        t += 1207;
        k += 1;
        p.iface(b"eth0").add(10_000 + k * 37, 10, 0, 0);
        p.uptime_ms += 1_207_000;
        env.record_ok(&p, &jiff::Timestamp::from_second(t).unwrap().to_string());
        times.push(t);
    }
    let cfg = env.tmp.path().join("r.toml");
    std::fs::write(&cfg, "[retention]\nraw = \"1d\"\n").unwrap();
    let c = cfg.to_str().unwrap();
    assert_success(&env.cmd(&["--config", c, "prune"]).output().unwrap());
    let raw_from_day: i64 = env
        .sql()
        .query_row("SELECT min(ts_ms) FROM sample", [], |r| r.get::<_, i64>(0))
        .unwrap()
        / 1000
        / 86_400
        * 86_400;
    assert!(
        raw_from_day > day0,
        "the first day's raw samples were pruned"
    );
    let out = env
        .cmd(&[
            "export",
            "iface",
            "--since",
            "3d",
            "--format",
            "openmetrics",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let file = env.tmp.path().join("history.om");
    std::fs::write(&file, &out.stdout).unwrap();
    let blocks = env.tmp.path().join("blocks");
    let made = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&blocks)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    let (_prom, paddr) = prometheus(env.tmp.path(), "global:\n  scrape_interval: 1h\n", &blocks);
    // what nrec report adds up to from the first sample to `at`
    let report = |at: i64| -> u64 {
        let until = jiff::Timestamp::from_second(at).unwrap().to_string();
        let out = env
            .cmd(&[
                "report",
                "-n",
                "DEV",
                "-i",
                "eth0",
                "--since",
                &(jiff::Timestamp::from_second(day0).unwrap().to_string()),
                "--until",
                &until,
                "--format",
                "csv",
            ])
            .output()
            .unwrap();
        assert_success(&out);
        let (h, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
        rows.iter()
            .map(|r| col(&h, r, "rx_bytes").parse::<u64>().unwrap_or(0))
            .sum()
    };
    let prom = |at: i64| -> u64 {
        let r = api(
            &paddr,
            "/api/v1/query",
            &[
                (
                    "query",
                    r#"nrec_network_receive_bytes_total{device="eth0"}"#.into(),
                ),
                ("time", at.to_string()),
            ],
        );
        r[0]["value"][1]
            .as_str()
            .unwrap_or_else(|| panic!("at {at}: {r}"))
            .parse()
            .unwrap()
    };
    // raw: the newest samples (20 minutes apart, none on a quarter hour), the newest last
    let raw: Vec<i64> = times.iter().rev().take(4).copied().collect();
    // rolled up: the ends of quarter hours of the pruned first day that hold a sample
    let rolled: Vec<i64> = times
        .iter()
        .filter(|t| **t < day0 + 86_400)
        .map(|t| (t + 899) / 900 * 900)
        .step_by(17)
        .collect();
    assert!(rolled.len() >= 4, "{rolled:?}");
    for at in raw.iter().chain(&rolled) {
        assert!(*at > day0 && *at <= *times.last().unwrap());
        assert_eq!(prom(*at), report(*at), "at {at} (raw from {raw_from_day})");
    }
    // and the newest point is what the samples add up to
    let fed: u64 = (1..=k).map(|k| 10_000 + k * 37).sum();
    assert_eq!(prom(*times.last().unwrap()), fed);
    // raw points where the raw samples were pruned: refused, naming what is stored
    for (args, needle) in [
        (
            &["--since", "3d", "--resolution", "raw"][..],
            "not stored for the start of the window",
        ),
        (&["--resolution", "1h"][..], "--resolution: the history's"),
    ] {
        let out = env
            .cmd(&[&["export", "--format", "openmetrics"], args].concat())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}"
        );
    }
}

/// A slow or hostile client cannot block recording or the next scrape, nor grow the server's
/// memory: 40 connections that never send a request, one that sends an endless header.
#[test]
fn hostile_clients_neither_block_recording_nor_exhaust_memory() {
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &now_s(-60));
    let (srv, addr) = serve(&env, &[]);
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let mut flood = TcpStream::connect(&addr).unwrap();
    flood
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = flood.write_all(b"GET /metrics HTTP/1.1\r\n");
    let junk = vec![b'a'; 64 * 1024];
    for _ in 0..64 {
        if flood.write_all(&junk).is_err() {
            break;
        }
    }
    // recording goes on
    p.uptime_ms += 60_000;
    env.record_ok(&p, &now_s(0));
    let rss = std::fs::read_to_string(format!("/proc/{}/status", srv.0.id()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap();
    assert!(rss < 64 * 1024, "VmRSS {rss} kB");
    // and a scrape is answered meanwhile
    let t0 = Instant::now();
    loop {
        // busy: 503, or a reset when the server closed before reading our request
        match try_get(&addr, "/metrics", "text/plain") {
            Ok((st, body)) if st.contains("200") => {
                assert!(String::from_utf8_lossy(&body).contains("nrec_samples_total 2"));
                break;
            }
            Ok((st, _)) => assert!(st.contains("503"), "{st}"),
            Err(_) => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(3), "still busy");
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(idle);
}

/// The counters are sums over everything ever recorded: pruning old daily rollups (a finite
/// `[retention] daily`) carries their totals instead of lowering a counter.
#[test]
fn pruning_old_days_never_lowers_a_counter() {
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &at(0));
    for day in 0..10 {
        p.iface(b"eth0").add(1_000_000, 10, 0, 0);
        p.uptime_ms += 86_400_000;
        env.record_ok(&p, &at((day + 1) * 1440));
    }
    let value = |env: &Env| -> String {
        let out = env
            .cmd(&["export", "iface", "--format", "openmetrics"])
            .env("NREC_NOW", at(10 * 1440 + 1))
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find(|l| {
                l.starts_with("nrec_network_receive_bytes_total{netns=\"root\",device=\"eth0\"}")
            })
            .unwrap_or_else(|| panic!("no eth0 counter"))
            .to_string()
    };
    let before = value(&env);
    assert!(before.ends_with(" 10000000"), "{before}");
    let cfg = env.tmp.path().join("r.toml");
    std::fs::write(
        &cfg,
        "[retention]\nraw = \"1d\"\nhourly = \"2d\"\ndaily = \"3d\"\n",
    )
    .unwrap();
    let out = env
        .cmd(&["--config", cfg.to_str().unwrap(), "prune"])
        .env("NREC_NOW", at(10 * 1440 + 1))
        .output()
        .unwrap();
    assert_success(&out);
    let days: i64 = env
        .sql()
        .query_row("SELECT count(DISTINCT id >> 35) FROM rollup", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(days <= 4, "old days pruned: {days} left");
    assert_eq!(value(&env), before, "the counter kept its value");
}

/// `nrec serve` keeps the past days' sums between scrapes: a new day's sample, a prune and a
/// sample recorded while it runs are all in the next scrape.
#[test]
fn serve_keeps_its_sums_true_across_days_and_pruning() {
    let env = Env::new();
    let mut p = FakeProc::new();
    let day0 = jiff::Timestamp::now().as_second() / 86_400 * 86_400 - 3 * 86_400;
    let ts = |h: i64| {
        jiff::Timestamp::from_second(day0 + h * 3600)
            .unwrap()
            .to_string()
    };
    env.record_ok(&p, &ts(0));
    let mut total = 0;
    for h in [1, 25, 49] {
        p.iface(b"eth0").add(1_000_000, 10, 0, 0);
        p.uptime_ms += 24 * 3_600_000;
        env.record_ok(&p, &ts(h));
        total += 1_000_000;
    }
    let (_srv, addr) = serve(&env, &[]);
    let eth0 = scraped_eth0_rx;
    assert_eq!(eth0(&addr), total);
    // a sample on the next day, then retention removes the oldest days
    p.iface(b"eth0").add(500_000, 10, 0, 0);
    p.uptime_ms += 24 * 3_600_000;
    env.record_ok(&p, &ts(73));
    total += 500_000;
    assert_eq!(eth0(&addr), total, "the new day is counted");
    let cfg = env.tmp.path().join("r.toml");
    std::fs::write(
        &cfg,
        "[retention]\nraw = \"1d\"\nhourly = \"1d\"\ndaily = \"1d\"\n",
    )
    .unwrap();
    assert_success(
        &env.cmd(&["--config", cfg.to_str().unwrap(), "prune"])
            .output()
            .unwrap(),
    );
    assert_eq!(eth0(&addr), total, "pruned days are carried");
    p.iface(b"eth0").add(250_000, 10, 0, 0);
    p.uptime_ms += 60_000;
    env.record_ok(&p, &jiff::Timestamp::now().to_string());
    total += 250_000;
    assert_eq!(eth0(&addr), total, "and today's samples are read fresh");
}

/// Issue 36: a backfill's points are the stored samples up to the newest one, so its last
/// point of every series is what a scrape serves at that moment — here 9 minutes after the
/// first sample, before any 15-minute bucket closed (the export was `# EOF` alone then).
/// `--resolution 15m` stamps the open bucket at the newest sample; a window without samples
/// says why (issue 31 item 8).
#[test]
fn a_backfill_ends_at_the_newest_sample_with_what_a_scrape_serves() {
    let env = Env::new();
    let mut p = FakeProc::new();
    let t0: jiff::Timestamp = "2026-11-22T10:01:00Z".parse().unwrap();
    for k in 0..9 {
        p.iface(b"eth0").add(1000 + 7 * k, 1, 500, 1);
        p.uptime_ms += 60_000;
        env.record_ok(
            &p,
            &(t0 + jiff::SignedDuration::from_mins(k as i64)).to_string(),
        );
    }
    let now = "2026-11-22T10:09:30Z";
    let export = |args: &[&str]| {
        let out = env
            .cmd(&[&["export", "--format", "openmetrics"], args].concat())
            .env("NREC_NOW", now)
            .output()
            .unwrap();
        assert_success(&out);
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // the newest value of each series of a history: (series, value, time)
    let last_points = |text: &str| -> std::collections::BTreeMap<String, (String, String)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut w = l.rsplitn(3, ' ');
                let (t, v, k) = (w.next()?, w.next()?, w.next()?);
                Some((k.to_string(), (v.to_string(), t.to_string())))
            })
            .collect()
    };
    let (current, _) = export(&[]);
    let scrape: std::collections::BTreeMap<String, String> = current
        .lines()
        .filter(|l| l.contains("_total") && !l.starts_with('#'))
        .filter_map(|l| {
            l.rsplit_once(' ')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let newest = "1795342140.000"; // 10:09:00, the ninth sample
    for args in [
        &["--since", "1h"][..],
        &["--since", "1h", "--resolution", "15m"],
    ] {
        let (history, err) = export(args);
        assert!(err.is_empty(), "{err}");
        let last = last_points(&history);
        assert!(last.len() >= 5, "{history}");
        for (series, (v, t)) in &last {
            assert_eq!(
                t, newest,
                "{args:?} {series}: its last point is the newest sample's"
            );
            assert_eq!(
                scrape.get(series),
                Some(v),
                "{args:?} {series}: the last point is what a scrape serves:\n{history}"
            );
        }
        let eth0 = r#"nrec_network_receive_bytes_total{netns="root",device="eth0"}"#;
        let points = history.lines().filter(|l| l.starts_with(eth0)).count();
        if args.len() == 2 {
            assert_eq!(
                points, 8,
                "one point per sample after the first (its baseline)"
            );
        } else {
            assert_eq!(
                points, 1,
                "one 15-minute bucket, still open: stamped at the newest sample"
            );
        }
    }
    let (doc, err) = export(&["--since", "20s"]);
    assert_eq!(doc, "# EOF\n");
    assert!(
        err.contains("no history in") && err.contains("is before it"),
        "{err}"
    );
}

/// Issue 32 item 9: a FIFO at `--db` held every command that opened it until another program
/// opened the pipe's other end, and four such scrapes hung `serve`. Its type is checked on a
/// non-blocking descriptor: every command exits 3 at once naming it, a scrape answers, and
/// completion offers nothing instead of waiting.
#[test]
fn a_fifo_at_the_database_path_is_refused_at_once() {
    let env = Env::new();
    std::fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    let made = Command::new("mkfifo").arg(&env.db).status().unwrap();
    assert!(made.success());
    // every command that reads or writes the database, each with a deadline
    let within_10s = |mut c: Command, args: &[&str]| -> std::process::Output {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} still waiting on the FIFO after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    let run = |args: &[&str]| within_10s(env.cmd(args), args);
    for args in [
        &["record", "-q"][..],
        &["report"],
        &["top-procs"],
        &["summary"],
        &["status"],
        &["alerts"],
        &["check"],
        &["export", "iface"],
        &["proc", "x"],
        &["html"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not a regular file") && err.contains(&*env.db.to_string_lossy()),
            "{args:?}: {err}"
        );
    }
    // completion of an interface: nothing from the database, promptly
    let mut c = Command::new(BIN);
    c.env("COMPLETE", "fish")
        .args(["--", "nrec", "--db"])
        .arg(&env.db)
        .args(["report", "-i", ""]);
    let out = within_10s(c, &["complete"]);
    assert_success(&out);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // serve: scrapes answer (with an error status) one after another, none hangs
    let (_serve, addr) = serve(&env, &[]);
    for _ in 0..6 {
        let (status, _) = get(&addr, "/metrics", "text/plain");
        assert!(!status.contains(" 200 "), "{status}");
    }
    let (status, _) = get(&addr, "/metrics", "text/plain");
    assert!(status.starts_with("HTTP/1."), "{status}");
}

/// Issue 32 item 8: `serve` keeps the past days' sums between scrapes; a database file put in
/// place of the one it serves (a restored backup) with days of the same extent was served
/// from that cache — another file's sums, the counters going down. The cache is of one file
/// (device, inode, and the database's own id).
#[test]
fn a_replaced_database_file_is_never_served_from_the_old_ones_cache() {
    let day0 = jiff::Timestamp::now().as_second() / 86_400 * 86_400 - 3 * 86_400;
    let ts = |h: i64| {
        jiff::Timestamp::from_second(day0 + h * 3600)
            .unwrap()
            .to_string()
    };
    // two histories of the same days, different bytes
    let history = |env: &Env, per_day: u64| -> u64 {
        let mut p = FakeProc::new();
        env.record_ok(&p, &ts(0));
        for h in [1, 25, 49] {
            p.iface(b"eth0").add(per_day, 10, 0, 0);
            p.uptime_ms += 24 * 3_600_000;
            env.record_ok(&p, &ts(h));
        }
        // everything in the file itself, nothing left in its -wal
        env.sql()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        3 * per_day
    };
    let env = Env::new();
    let first = history(&env, 1_000_000);
    let other = Env::new();
    let second = history(&other, 3_000_000);
    let (_srv, addr) = serve(&env, &[]);
    let eth0 = || scraped_eth0_rx(&addr);
    assert_eq!(eth0(), first);
    // the backup is restored over it (a new file renamed into place)
    let beside = |p: &Path, s: &str| {
        let mut o = p.as_os_str().to_owned();
        o.push(s);
        std::path::PathBuf::from(o)
    };
    let staged = beside(&env.db, ".restore");
    std::fs::copy(&other.db, &staged).unwrap();
    for s in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(beside(&env.db, s));
    }
    std::fs::rename(&staged, &env.db).unwrap();
    assert_eq!(
        eth0(),
        second,
        "the restored file's sums, not the cache of the old one"
    );
}

/// Issue 32 items 5 and 7: `serve --listen unix:PATH` (mode 0660: its owner and group only; a
/// TCP port lets every local user read the per-process history), `[metrics] processes = 0`
/// without any per-process family; requests as RFC 9112 allows (bare LF line ends, an
/// absolute-form target), and answers that are never overtaken by a reset — after a
/// pipelined request, or the 503 of a full server.
#[test]
fn serve_listens_on_a_private_socket_and_answers_without_resets() {
    let env = Env::new();
    let mut p = FakeProc::new();
    let ago = |s: i64| (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s)).to_string();
    env.record_ok(&p, &ago(120));
    p.iface(b"eth0").add(1000, 1, 1000, 1);
    p.uptime_ms += 60_000;
    env.record_ok(&p, &ago(60));
    let cfg = env.tmp.path().join("nrec.toml");
    std::fs::write(&cfg, "[metrics]\nprocesses = 0\n").unwrap();
    let sock = env.tmp.path().join("metrics.sock");
    let log = env.tmp.path().join("unix.log");
    let _srv = Proc(
        env.cmd(&[
            "--config",
            cfg.to_str().unwrap(),
            "serve",
            "--listen",
            &format!("unix:{}", sock.display()),
        ])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap(),
    );
    wait_for("the socket", || sock.exists());
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let m = std::fs::symlink_metadata(&sock).unwrap();
    assert!(m.file_type().is_socket());
    assert_eq!(m.permissions().mode() & 0o777, 0o660);
    let ask = |req: &[u8]| -> String {
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(req).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        String::from_utf8_lossy(&all).into_owned()
    };
    let body = ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.contains("nrec_network_receive_bytes_total{netns=\"root\",device=\"eth0\"} 1000"),
        "{body}"
    );
    assert!(!body.contains("nrec_process_"), "processes = 0: {body}");
    // bare LF line ends and an absolute-form target
    let body = ask(b"GET http://localhost/metrics HTTP/1.1\nHost: x\n\n");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    // another local user cannot connect
    if is_root() {
        let out = as_nobody(Path::new("/usr/bin/python3"))
            .args([
                "-c",
                "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1]); print('connected')\nexcept PermissionError: print('denied')",
            ])
            .arg(&sock)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "denied");
    }
    // TCP: a pipelined second request does not reset the first answer
    let (_tcp, addr) = serve(&env, &[]);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("the answer, not a reset");
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("nrec_build_info"),
        "{text}"
    );
    // issue 32 item 6: one peer holds more idle connections than the server serves at once,
    // reconnecting whenever one is closed; a scraper on the same address gets every answer
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let holder = {
        let (stop, addr) = (stop.clone(), addr.clone());
        std::thread::spawn(move || {
            let connect = || TcpStream::connect(&addr).ok();
            let mut held: Vec<Option<TcpStream>> = (0..80).map(|_| connect()).collect();
            let mut reconnects = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && reconnects < 20_000 {
                for h in held.iter_mut() {
                    let closed = h.as_ref().is_none_or(|s| {
                        let _ = s.set_nonblocking(true);
                        matches!(s.peek(&mut [0u8; 1]), Ok(0))
                            || matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock)
                    });
                    if closed {
                        *h = connect();
                        reconnects += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            reconnects
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut ok = 0;
    for _ in 0..100 {
        match try_get(&addr, "/metrics", "text/plain") {
            Ok((status, _)) if status.contains(" 200 ") => ok += 1,
            other => eprintln!("scrape: {other:?}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reconnects = holder.join().unwrap();
    assert_eq!(
        ok, 100,
        "answers to a scraper beside 80 idle sockets ({reconnects} reconnects)"
    );
}

/// `nrec serve` on a loopback port over a database of two samples.
fn serving_two_samples() -> (Env, Proc, String) {
    let env = Env::new();
    let mut p = FakeProc::new();
    env.record_ok(&p, &at(0));
    p.uptime_ms += 60_000;
    env.record_ok(&p, &at(1));
    let (srv, addr) = serve(&env, &[]);
    (env, srv, addr)
}

/// A full server sheds the connections that have sent nothing before one whose request is on
/// its way: 64 silent connections fill it, one sends the first line of its head, then 70 more
/// silent ones arrive, each shedding one — more sheds than connections older than the
/// half-sent one, which waited longest by then, yet it finishes its head and is answered.
/// (A scraper writing its request in parts was shed between them: a broken pipe.)
#[test]
fn a_full_server_sheds_silent_connections_before_a_request_on_its_way() {
    let (_env, _srv, addr) = serving_two_samples();
    let silent = |n: usize| -> Vec<TcpStream> {
        (0..n)
            .map(|_| {
                let s = TcpStream::connect(&addr).unwrap();
                // one at a time: a shed connection's thread ends before the next arrives
                std::thread::sleep(Duration::from_millis(10));
                s
            })
            .collect()
    };
    let first = silent(64);
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let later = silent(70);
    // a connection the server closed reads its end
    let closed = |s: &TcpStream| {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        matches!(s.peek(&mut b), Ok(0))
            || matches!(s.peek(&mut b), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock)
    };
    let t0 = Instant::now();
    let shed = loop {
        let n = first.iter().chain(&later).filter(|s| closed(s)).count();
        if n > first.len() || t0.elapsed() > Duration::from_secs(3) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        shed > first.len(),
        "{shed} shed: more than the {} connections older than the half-sent one",
        first.len()
    );
    assert!(
        first.iter().all(closed),
        "the oldest silent ones went first"
    );
    half.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    half.write_all(b"Host: x\r\n\r\n")
        .expect("the half-sent request is still open");
    let mut all = Vec::new();
    half.read_to_end(&mut all).expect("its answer, not a reset");
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop((first, later));
}

/// Issue 32 item 7: when every connection is being answered, a newcomer's 503 arrives whole —
/// its request read before the connection closes, never a reset that overtakes the answer.
/// (64 connections that sent their request and do not read the answer hold the server for
/// the half second it drains them; tried a few times, as that window is short.)
#[test]
fn a_full_servers_503_arrives_whole() {
    let (_env, _srv, addr) = serving_two_samples();
    let mut saw_503 = false;
    for _ in 0..5 {
        let held: Vec<TcpStream> = (0..64)
            .map(|_| {
                let mut s = TcpStream::connect(&addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all)
            .expect("an answer read to its end, not a reset");
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.starts_with("HTTP/1.1 503") || text.starts_with("HTTP/1.1 200"),
            "{text}"
        );
        drop(held);
        if text.starts_with("HTTP/1.1 503") {
            assert!(text.ends_with("busy\n"), "the whole 503: {text}");
            saw_503 = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(saw_503, "the server was never full");
}
