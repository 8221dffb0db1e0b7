//! Issue 34: remote write to the real receivers (Debian's `prometheus` with its remote-write
//! receiver and `victoria-metrics`, started on loopback), outages, refusals and hostile
//! endpoints (a scripted endpoint of the test's own), what nrec sends decoded by `protoc`,
//! and TLS with basic authentication on both sides (a CA the test makes with `openssl`,
//! bcrypt hashes from `htpasswd`).

use crate::harness::*;
use crate::metrics::{Proc, api, free_port, need, prometheus_at};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `victoria-metrics` on loopback (queries see samples at once: no latency offset, no
/// cache): (process, address).
fn victoria(dir: &Path) -> (Proc, String) {
    need("victoria-metrics");
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new("victoria-metrics")
        .arg(format!("-httpListenAddr={addr}"))
        .arg(format!("-storageDataPath={}", dir.join("vm").display()))
        .arg("-retentionPeriod=100y")
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("vm.log")).unwrap())
        .spawn()
        .unwrap();
    let p = Proc(child);
    let t0 = Instant::now();
    while !crate::metrics::try_get(&addr, "/health", "*/*").is_ok_and(|(s, _)| s.contains("200")) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "victoria-metrics did not start: {}",
            std::fs::read_to_string(dir.join("vm.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (p, addr)
}

/// The value of a one-series instant query at `ts_ms` (None: no series).
fn value_at(addr: &str, query: &str, ts_ms: i64) -> Option<f64> {
    let r = api(
        addr,
        "/api/v1/query",
        &[
            ("query", query.to_string()),
            ("time", format!("{}.{:03}", ts_ms / 1000, ts_ms % 1000)),
        ],
    );
    let v = r.as_array().unwrap();
    assert!(v.len() <= 1, "{query}: more than one series: {r}");
    v.first()
        .map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
}

fn write_config(env: &Env, text: &str) -> PathBuf {
    let p = env.tmp.path().join("nrec.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `nrec --config CFG ARGS…`.
fn with_config(env: &Env, cfg: &Path, args: &[&str]) -> Output {
    let mut a = vec!["--config", cfg.to_str().unwrap()];
    a.extend_from_slice(args);
    env.cmd(&a).output().unwrap()
}

/// A record with the config; asserts it stored its sample (whatever the pushes did).
fn record(env: &Env, cfg: &Path) -> (Duration, String) {
    let before = if env.db.exists() { env.samples() } else { 0 };
    let t0 = Instant::now();
    let out = with_config(env, cfg, &["record"]);
    let took = t0.elapsed();
    assert_success(&out);
    assert_eq!(env.samples(), before + 1, "the sample is stored");
    (took, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn newest_ts(env: &Env) -> i64 {
    env.sql()
        .query_row("SELECT max(ts_ms) FROM sample", [], |r| r.get(0))
        .unwrap()
}

/// What `/metrics` serves now (`export --format openmetrics`, the same families): series
/// text (`name{labels}`) → value.
fn exposed(env: &Env) -> HashMap<String, f64> {
    let out = env.now_ok(&["export", "--format", "openmetrics"]);
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn status_json(env: &Env, cfg: &Path) -> serde_json::Value {
    let out = with_config(env, cfg, &["status", "--format", "json"]);
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Issue 34: after records with traffic, Prometheus and VictoriaMetrics, fed by remote write
/// from `record`, answer a PromQL query of the interface, process and sample counters at
/// each sample's instant with what `/metrics` served right after that sample; every sample
/// arrived once.
#[test]
fn pushed_counters_equal_the_database_in_prometheus_and_victoria_metrics() {
    let env = Env::new();
    let dir = env.tmp.path();
    let paddr = format!("127.0.0.1:{}", free_port());
    let _prom = prometheus_at(
        dir,
        "global:\n  scrape_interval: 1h\n",
        &dir.join("tsdb"),
        &paddr,
        &["--web.enable-remote-write-receiver"],
    );
    let (_vm, vaddr) = victoria(dir);
    let cfg = write_config(
        &env,
        &format!(
            "[[remote_write]]\nname = \"prometheus\"\nurl = \"http://{paddr}/api/v1/write\"\nlabels = {{ site = \"lab\" }}\n\n\
             [[remote_write]]\nname = \"victoria\"\nurl = \"http://{vaddr}/api/v1/write\"\nlabels = {{ site = \"lab\" }}\n"
        ),
    );
    let mut seen: Vec<(i64, HashMap<String, f64>)> = Vec::new();
    let mut step = |env: &Env| {
        let (_, err) = record(env, &cfg);
        assert!(!err.contains("remote_write"), "{err}");
        seen.push((newest_ts(env), exposed(env)));
    };
    step(&env);
    for round in 0..3u64 {
        let (mut srv, mut cli) = peer_pair(("rwsrv", "rwcli"), 300_000 * (round + 1), 40_000);
        step(&env);
        cli.say("go");
        assert_eq!(cli.line(), "done");
        assert_eq!(srv.line(), "done");
        step(&env);
    }
    // VictoriaMetrics makes what it took searchable within a second or so: wait for it
    let n_at_last = |addr: &str| {
        value_at(
            addr,
            "count_over_time(nrec_samples_total{site=\"lab\",job=\"nrec\"}[1h])",
            seen.last().unwrap().0,
        )
    };
    wait_for("victoria-metrics to show what it took", || {
        let _ = crate::metrics::try_get(&vaddr, "/internal/force_flush", "*/*");
        n_at_last(&vaddr) == Some(seen.len() as f64)
    });
    let series = [
        "nrec_network_receive_bytes_total{netns=\"root\",device=\"lo\"}",
        "nrec_network_transmit_packets_total{netns=\"root\",device=\"lo\"}",
        "nrec_process_transmit_bytes_total{name=\"rwcli\"}",
        "nrec_process_receive_bytes_total{name=\"rwsrv\"}",
        "nrec_attributed_receive_bytes_total",
        "nrec_samples_total",
        // no history: pushed as of each newest sample
        "nrec_network_day_receive_bytes{netns=\"root\",device=\"lo\"}",
        "nrec_tcp_sockets{netns=\"root\",state=\"ESTABLISHED\"}",
    ];
    let last = seen.last().unwrap().1.clone();
    assert!(
        last.get(series[2]).is_some_and(|v| *v >= 900_000.0),
        "the client's bytes are attributed: {last:?}"
    );
    for s in series {
        assert!(last.contains_key(s), "/metrics serves {s}: {last:?}");
    }
    for (engine, addr) in [("prometheus", &paddr), ("victoria-metrics", &vaddr)] {
        for (ts, values) in &seen {
            for s in series {
                let q = match s.split_once('{') {
                    Some((n, l)) => format!("{n}{{{},site=\"lab\"}}", l.trim_end_matches('}')),
                    None => format!("{s}{{site=\"lab\"}}"),
                };
                let got = value_at(addr, &q, *ts);
                assert_eq!(
                    got,
                    values.get(s).copied(),
                    "{engine}: {q} at {ts}: what /metrics served then"
                );
            }
        }
        assert_eq!(
            n_at_last(addr),
            Some(seen.len() as f64),
            "{engine}: every sample once"
        );
    }
    // the packaged dashboard works on pushed data as on scraped data
    crate::metrics::dashboard_returns_data(&paddr);
    let st = status_json(&env, &cfg);
    for t in st["remote_write"].as_array().unwrap() {
        assert_eq!(t["lag_s"].as_f64(), Some(0.0), "{t}");
        assert_eq!(t["failures"], 0, "{t}");
    }
}

/// One request the scripted endpoint received: what it answered, the body.
struct Got {
    status: u16,
    body: Vec<u8>,
    head: String,
}

/// What the scripted endpoint does with the next request.
#[derive(Clone)]
enum Reply {
    Status(u16, &'static str),
    Redirect,
    /// 500 with a 64 MiB body, sent slowly.
    Huge,
}

/// An HTTP endpoint of the test's own on loopback: answers each request with the next
/// scripted reply (204 when the script is empty), and keeps what it received.
struct Endpoint {
    addr: String,
    script: Arc<Mutex<Vec<Reply>>>,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Endpoint {
    fn start() -> Endpoint {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let script: Arc<Mutex<Vec<Reply>>> = Arc::default();
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let (s, g) = (script.clone(), got.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                let (s, g) = (s.clone(), g.clone());
                std::thread::spawn(move || {
                    let _ = Endpoint::answer(c, &s, &g);
                });
            }
        });
        Endpoint { addr, script, got }
    }

    fn answer(
        c: TcpStream,
        script: &Mutex<Vec<Reply>>,
        got: &Mutex<Vec<Got>>,
    ) -> std::io::Result<()> {
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut r = BufReader::new(c.try_clone()?);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        let reply = {
            let mut s = script.lock().unwrap();
            if s.is_empty() {
                Reply::Status(204, "")
            } else {
                s.remove(0)
            }
        };
        let mut w = c;
        let status = match &reply {
            Reply::Status(code, _) => *code,
            Reply::Redirect => 302,
            Reply::Huge => 500,
        };
        got.lock().unwrap().push(Got { status, body, head });
        match reply {
            Reply::Status(code, text) => write!(
                w,
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            ),
            Reply::Redirect => write!(
                w,
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            Reply::Huge => {
                write!(
                    w,
                    "HTTP/1.1 500 X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    64 << 20
                )?;
                let chunk = vec![b'x'; 64 << 10];
                for _ in 0..1024 {
                    w.write_all(&chunk)?;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            }
        }
    }

    fn script(&self, r: &[Reply]) {
        self.script.lock().unwrap().extend_from_slice(r);
    }
}

/// `protoc --decode=prometheus.WriteRequest` of a body nrec sent (snappy uncompressed):
/// each series' labels in order and its samples (value, timestamp), and the metadata's
/// family names.
type Decoded = (Vec<(Vec<(String, String)>, Vec<(f64, i64)>)>, Vec<String>);

fn decode(body: &[u8]) -> Decoded {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .expect("a snappy block");
    let proto_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli");
    let mut p = Command::new("protoc")
        .arg(format!("--proto_path={}", proto_dir.display()))
        .arg("--decode=prometheus.WriteRequest")
        .arg("remote.proto")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("protoc: apt-get install protobuf-compiler");
    p.stdin.take().unwrap().write_all(&raw).unwrap();
    let out = p.wait_with_output().unwrap();
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let unq = |v: &str| v.trim().trim_matches('"').to_string();
    let mut series = Vec::new();
    let mut meta = Vec::new();
    let (mut labels, mut samples) = (Vec::new(), Vec::new());
    let (mut name, mut value) = (String::new(), 0.0f64);
    for line in text.lines() {
        let l = line.trim();
        if line == "}" && !labels.is_empty() {
            // the end of a top-level message (a timeseries)
            series.push((std::mem::take(&mut labels), std::mem::take(&mut samples)));
        } else if l == "samples {" {
            // proto3 leaves a zero value out
            value = 0.0;
        } else if let Some(v) = l.strip_prefix("name: ") {
            name = unq(v);
        } else if let Some(v) = l.strip_prefix("value: ") {
            if v.starts_with('"') {
                labels.push((name.clone(), unq(v)));
            } else {
                value = v.parse().unwrap();
            }
        } else if let Some(v) = l.strip_prefix("timestamp: ") {
            samples.push((value, v.parse().unwrap()));
        } else if let Some(v) = l.strip_prefix("metric_family_name: ") {
            meta.push(unq(v));
        }
    }
    (series, meta)
}

/// The `nrec_samples_total` sample times of a decoded request.
fn sample_times(d: &Decoded) -> Vec<i64> {
    d.0.iter()
        .filter(|(l, _)| l[0].1 == "nrec_samples_total")
        .flat_map(|(_, s)| s.iter().map(|(_, t)| *t))
        .collect()
}

/// Issue 34: what nrec sends decodes with protoc against the remote-write definition (labels
/// sorted, `__name__` first, samples in order, counters' metadata); refusals retrying cannot
/// fix are skipped once and said, everything else is kept and resent after the outage, in
/// order, none twice; a redirect is not followed and a huge slow answer costs the deadline
/// at most; the daemon pushes after its samples too.
#[test]
fn what_nrec_sends_decodes_and_nothing_is_lost_or_sent_twice() {
    need("protoc");
    let env = Env::new();
    let ep = Endpoint::start();
    let cfg = write_config(
        &env,
        &format!(
            // one request per try whatever the host runs (hundreds of containers are
            // thousands of series: the default batch would split a try into several)
            "[[remote_write]]\nname = \"scripted\"\nurl = \"http://{}/push\"\ntimeout = \"3s\"\nbatch = 1000000\nlabels = {{ instance = \"web-1\" }}\n",
            ep.addr
        ),
    );
    let times = |env: &Env| -> Vec<i64> {
        env.sql()
            .prepare("SELECT ts_ms FROM sample ORDER BY ts_ms")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    // an outage: 503, a redirect, a huge slow 500 — each kept for the next push
    ep.script(&[
        Reply::Status(503, "overloaded"),
        Reply::Redirect,
        Reply::Huge,
    ]);
    for want in ["HTTP 503: overloaded", "HTTP 302", "HTTP 500"] {
        let (took, err) = record(&env, &cfg);
        assert!(err.contains(want) && err.contains("kept"), "{want}: {err}");
        assert!(
            took < Duration::from_secs(8),
            "within the deadline: {took:?}"
        );
        assert!(err.len() < 2000, "a bounded message: {}", err.len());
    }
    let st = status_json(&env, &cfg);
    assert_eq!(st["remote_write"][0]["failures"], 3, "{st}");
    let check = with_config(&env, &cfg, &["status", "--check"]);
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("remote_write scripted: 3 failed push(es)"),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // the redirect was not followed: nothing arrived anywhere else, and each try resent all
    {
        let got = ep.got.lock().unwrap();
        assert_eq!(got.len(), 3);
        let all = times(&env);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(sample_times(&decode(&g.body)), all[..=i], "request {i}");
        }
    }
    // back: the next push sends every sample of the outage, once, in order
    record(&env, &cfg);
    let accepted = |ep: &Endpoint| -> Vec<i64> {
        ep.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.status == 204)
            .flat_map(|g| sample_times(&decode(&g.body)))
            .collect()
    };
    assert_eq!(accepted(&ep), times(&env));
    // a request the endpoint will never take (400) is skipped, said once, not retried
    ep.script(&[Reply::Status(400, "out of order sample")]);
    let (_, err) = record(&env, &cfg);
    assert!(err.contains("remote_write scripted: skipped"), "{err}");
    assert!(err.contains("out of order sample"), "{err}");
    let st = status_json(&env, &cfg);
    assert!(
        st["remote_write"][0]["skipped_samples"].as_u64().unwrap() > 0,
        "{st}"
    );
    assert_eq!(
        st["remote_write"][0]["failures"], 0,
        "a refusal is not a failure: {st}"
    );
    let skipped_ts = newest_ts(&env);
    let (_, err) = record(&env, &cfg);
    assert!(!err.contains("skipped"), "said once: {err}");
    let all = times(&env);
    let want: Vec<i64> = all.iter().copied().filter(|t| *t != skipped_ts).collect();
    assert_eq!(
        accepted(&ep),
        want,
        "every sample once, in order, the refused one not again"
    );
    // the encoding, decoded by protoc: labels sorted with __name__ first, samples in order,
    // counters' metadata, the config's labels and the defaults
    let last = ep.got.lock().unwrap().last().unwrap().body.clone();
    let (series, meta) = decode(&last);
    assert!(!series.is_empty());
    for (labels, samples) in &series {
        assert_eq!(labels[0].0, "__name__");
        let names: Vec<&String> = labels.iter().map(|(k, _)| k).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "labels sorted by name");
        assert!(
            labels.contains(&("instance".into(), "web-1".into())),
            "{labels:?}"
        );
        assert!(
            labels.contains(&("job".into(), "nrec".into())),
            "{labels:?}"
        );
        assert!(samples.windows(2).all(|w| w[0].1 < w[1].1));
    }
    let lo = series
        .iter()
        .find(|(l, _)| {
            l[0].1 == "nrec_network_receive_bytes_total"
                && l.contains(&("device".into(), "lo".into()))
        })
        .expect("lo's receive bytes");
    let now = exposed(&env);
    assert_eq!(
        lo.1.last().unwrap().0,
        now["nrec_network_receive_bytes_total{netns=\"root\",device=\"lo\"}"],
        "the value /metrics serves"
    );
    assert!(
        meta.contains(&"nrec_network_receive_bytes_total".to_string()),
        "{meta:?}"
    );
    let head = &ep
        .got
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .head
        .to_ascii_lowercase();
    for h in [
        "content-encoding: snappy",
        "content-type: application/x-protobuf",
        "x-prometheus-remote-write-version: 0.1.0",
    ] {
        assert!(head.contains(h), "{h}: {head}");
    }
    // the daemon pushes after its samples
    let before = ep.got.lock().unwrap().len();
    let mut d = env
        .cmd(&[
            "--config",
            cfg.to_str().unwrap(),
            "daemon",
            "--interval",
            "1s",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the daemon's pushes", || {
        ep.got.lock().unwrap().len() >= before + 2
    });
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
    d.wait().unwrap();
    let all = times(&env);
    let got = accepted(&ep);
    let want: Vec<i64> = all.iter().copied().filter(|t| *t != skipped_ts).collect();
    assert_eq!(got[..], want[..got.len()], "in order, none twice");
}

/// Issue 34: the receiver down for records, then up: each record stores its sample and ends
/// within its deadline (an endpoint that accepts and never answers included), and after the
/// outage a PromQL count finds every sample, once.
#[test]
fn an_outage_loses_nothing_and_delays_no_record_beyond_its_deadline() {
    let env = Env::new();
    let dir = env.tmp.path();
    let paddr = format!("127.0.0.1:{}", free_port());
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = write_config(
        &env,
        &format!(
            "[[remote_write]]\nname = \"prometheus\"\nurl = \"http://{paddr}/api/v1/write\"\ntimeout = \"2s\"\n\n\
             [[remote_write]]\nname = \"hole\"\nurl = \"http://{}/api/v1/write\"\ntimeout = \"2s\"\n",
            hole.local_addr().unwrap()
        ),
    );
    let start = |env: &Env| {
        prometheus_at(
            env.tmp.path(),
            "global:\n  scrape_interval: 1h\n",
            &dir.join("tsdb"),
            &paddr,
            &["--web.enable-remote-write-receiver"],
        )
    };
    let count = || {
        value_at(
            &paddr,
            "count_over_time(nrec_samples_total{job=\"nrec\"}[1h])",
            newest_ts(&env),
        )
    };
    for _ in 0..3 {
        let (took, err) = record(&env, &cfg);
        assert!(err.contains("remote_write prometheus"), "{err}");
        assert!(err.contains("remote_write hole"), "{err}");
        assert!(
            took < Duration::from_secs(7),
            "two targets of 2 s each: {took:?}"
        );
    }
    let prom = start(&env);
    record(&env, &cfg);
    assert_eq!(count(), Some(4.0), "the outage's samples arrived");
    drop(prom);
    for _ in 0..2 {
        record(&env, &cfg);
    }
    let _prom = start(&env);
    record(&env, &cfg);
    assert_eq!(count(), Some(7.0), "every sample, once");
    let st = status_json(&env, &cfg);
    let t = &st["remote_write"][0];
    assert_eq!(
        (t["failures"].as_u64(), t["lag_s"].as_f64()),
        (Some(0), Some(0.0)),
        "{t}"
    );
    assert_eq!(st["remote_write"][1]["failures"], 7, "{st}");
    drop(hole);
}

/// A CA, a server certificate for 127.0.0.1 signed by it, in `dir` (openssl).
fn make_ca(dir: &Path) {
    let run = |args: &str| {
        let out = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert_success(&out);
    };
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    run(&format!(
        "req -x509 {key} -keyout ca.key -out ca.crt -days 2 -subj /CN=nrec-test-CA"
    ));
    run(&format!(
        "req {key} -keyout server.key -out server.csr -subj /CN=127.0.0.1"
    ));
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext",
    );
    chmod(&dir.join("server.key"), 0o600);
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

/// `htpasswd`'s bcrypt hash of `password`.
fn bcrypt(password: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-nbBC", "10", "u", password])
        .output()
        .expect("htpasswd: apt-get install apache2-utils");
    assert_success(&out);
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .split_once(':')
        .unwrap()
        .1
        .to_string()
}

/// A GET over TLS trusting only `ca`, with basic credentials when given: (status, body).
fn https_get(url: &str, ca: &Path, auth: Option<(&str, &str)>) -> Result<(u16, String), String> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let agent = ureq::AgentBuilder::new()
        .tls_config(Arc::new(tls))
        .timeout(Duration::from_secs(20))
        .build();
    let mut req = agent.get(url);
    if let Some((u, p)) = auth {
        use base64::Engine;
        req = req.set(
            "Authorization",
            &format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ),
        );
    }
    match req.call() {
        Ok(r) => Ok((r.status(), r.into_string().unwrap_or_default())),
        Err(ureq::Error::Status(c, r)) => Ok((c, r.into_string().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

/// Issue 34: TLS and basic authentication on both sides. nrec pushes to a Prometheus whose
/// own web config wants TLS and a password: a wrong password is reported and the data kept,
/// a password file every user may read is refused, the right one delivers every sample.
/// Prometheus scrapes `nrec serve --web-config` over TLS with basic auth; without
/// credentials the scrape is refused. Both web configs pass `promtool check web-config`.
#[test]
fn tls_and_basic_auth_on_both_sides() {
    need("promtool");
    let env = Env::new();
    let dir = env.tmp.path();
    make_ca(dir);
    let ca = dir.join("ca.crt");
    let pw = dir.join("push.pw");
    let web_prom = dir.join("prometheus-web.yml");
    std::fs::write(
        &web_prom,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  nrec: {}\n  admin: {}\n",
            bcrypt("push-secret"),
            bcrypt("admin-secret")
        ),
    )
    .unwrap();
    let web_serve = dir.join("serve-web.yml");
    std::fs::write(
        &web_serve,
        format!(
            "# nrec serve's own\ntls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: {}\n",
            bcrypt("scrape-secret")
        ),
    )
    .unwrap();
    for f in [&web_prom, &web_serve] {
        let out = Command::new("promtool")
            .arg("check")
            .arg("web-config")
            .arg(f)
            .output()
            .unwrap();
        assert_success(&out);
    }
    // nrec serve over TLS with basic auth
    let (serve, saddr) =
        crate::metrics::serve(&env, &["--web-config", web_serve.to_str().unwrap()]);
    let paddr = format!("127.0.0.1:{}", free_port());
    let _prom = prometheus_at(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             \x20 - job_name: nrec\n    scheme: https\n    tls_config: {{ ca_file: {ca} }}\n    basic_auth: {{ username: prometheus, password: scrape-secret }}\n    static_configs: [{{ targets: ['{saddr}'] }}]\n\
             \x20 - job_name: anonymous\n    scheme: https\n    tls_config: {{ ca_file: {ca} }}\n    static_configs: [{{ targets: ['{saddr}'] }}]\n",
            ca = ca.display()
        ),
        &dir.join("tsdb"),
        &paddr,
        &[
            "--web.enable-remote-write-receiver",
            &format!("--web.config.file={}", web_prom.display()),
        ],
    );
    let query = |q: &str| -> serde_json::Value {
        let url = format!(
            "https://{paddr}/api/v1/query?query={}",
            crate::metrics::encode(q)
        );
        let (code, body) = https_get(&url, &ca, Some(("admin", "admin-secret"))).unwrap();
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"].clone()
    };
    wait_for("prometheus over TLS", || {
        https_get(
            &format!("https://{paddr}/-/ready"),
            &ca,
            Some(("admin", "admin-secret")),
        )
        .is_ok_and(|(c, _)| c == 200)
    });
    let cfg = write_config(
        &env,
        &format!(
            "[[remote_write]]\nname = \"secure\"\nurl = \"https://{paddr}/api/v1/write\"\n\
             basic_auth = {{ username = \"nrec\", password_file = \"{}\" }}\ntls = {{ ca_file = \"{}\" }}\n",
            pw.display(),
            ca.display()
        ),
    );
    std::fs::write(&pw, "wrong\n").unwrap();
    chmod(&pw, 0o600);
    let (_, err) = record(&env, &cfg);
    assert!(err.contains("HTTP 401") && err.contains("kept"), "{err}");
    assert!(!err.contains("wrong"), "a password is never printed: {err}");
    let st = status_json(&env, &cfg);
    assert_eq!(st["remote_write"][0]["failures"], 1, "{st}");
    std::fs::write(&pw, "push-secret\n").unwrap();
    chmod(&pw, 0o644);
    let (_, err) = record(&env, &cfg);
    assert!(err.contains("readable by every user"), "{err}");
    assert!(!err.contains("push-secret"), "{err}");
    chmod(&pw, 0o640);
    record(&env, &cfg);
    let n = query("count_over_time(nrec_samples_total{job=\"nrec\",instance!~\".*:.*\"}[1h])");
    assert_eq!(
        n[0]["value"][1], "3",
        "every sample after the wrong password: {n}"
    );
    // Prometheus scrapes serve over TLS with the password; without it, refused
    wait_for("the authenticated scrape", || {
        let up = query("up");
        let of = |job: &str| {
            up.as_array()
                .unwrap()
                .iter()
                .find(|s| s["metric"]["job"] == job)
                .map(|s| s["value"][1].as_str().unwrap().to_string())
        };
        of("nrec").as_deref() == Some("1") && of("anonymous").as_deref() == Some("0")
    });
    wait_for("a scrape of the third sample", || {
        let scraped = query(&format!("nrec_samples_total{{instance=\"{saddr}\"}}"));
        scraped[0]["value"][1] == "3"
    });
    let url = format!("https://{saddr}/metrics");
    assert_eq!(https_get(&url, &ca, None).unwrap().0, 401);
    assert_eq!(
        https_get(&url, &ca, Some(("prometheus", "nope")))
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        https_get(&url, &ca, Some(("prometheus", "scrape-secret")))
            .unwrap()
            .0,
        200
    );
    // plain HTTP to the TLS port gets no HTTP answer
    assert!(crate::metrics::try_get(&saddr, "/metrics", "*/*").is_err());
    drop(serve);
}

/// Issue 34 item 5: settings that would leak or mislead are refused with one line naming
/// the file: credentials in the URL, a web config key nrec does not implement, a key file
/// every user may read.
#[test]
fn unsafe_settings_are_refused_by_name() {
    let env = Env::new();
    let dir = env.tmp.path();
    // a push to no database is an error, and makes none
    let cfg = write_config(&env, "[[remote_write]]\nurl = \"http://127.0.0.1:1/w\"\n");
    let out = with_config(&env, &cfg, &["push"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(!env.db.exists());
    for (text, want) in [
        (
            "[[remote_write]]\nurl = \"http://user:pw@127.0.0.1:1/w\"\n",
            "credentials do not go in the URL",
        ),
        (
            "[[remote_write]]\nurl = \"ftp://x/\"\n",
            "an http:// or https:// URL",
        ),
        (
            "[[remote_write]]\nurl = \"http://127.0.0.1:1/\"\nlabels = { device = \"x\" }\n",
            "labels.device",
        ),
        (
            "[[remote_write]]\nurl = \"http://127.0.0.1:1/\"\nfamilies = [\"hosts\"]\n",
            "families",
        ),
    ] {
        let cfg = write_config(&env, text);
        let out = with_config(&env, &cfg, &["push"]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(want) && err.contains("nrec.toml"),
            "{text}: {err}"
        );
        assert!(!err.contains("pw@"), "{err}");
    }
    make_ca(dir);
    // serve with this web config: refused with exit 2, its message
    let refused = |text: &str| -> String {
        let web = dir.join("web.yml");
        std::fs::write(&web, text).unwrap();
        let out = env
            .cmd(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--web-config",
                web.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (text, want) in [
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
            "cipher_suites: not supported",
        ),
        (
            "http_server_config:\n  http2: false\n",
            "http_server_config: not supported",
        ),
        ("basic_auth_users:\n  u: plaintext\n", "not a bcrypt hash"),
    ] {
        let err = refused(text);
        assert!(
            err.contains(want) && err.contains("web.yml"),
            "{text}: {err}"
        );
    }
    chmod(&dir.join("server.key"), 0o644);
    let err = refused("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    assert!(err.contains("readable by every user"), "{err}");
}
