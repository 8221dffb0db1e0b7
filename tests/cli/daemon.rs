//! `nrec daemon`: a sample at start, SIGHUP reopens the database (and reloads the config),
//! SIGTERM takes a last sample and exits 0; connections that open and close between two
//! samples are counted through the TCP destroy listener.

use crate::harness::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn samples(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM sample", [], |r| r.get(0)))
        .unwrap_or(0)
}

#[test]
fn daemon_samples_reopens_on_sighup_and_takes_a_last_sample_on_sigterm() {
    let env = Env::new();
    let p = FakeProc::new();
    p.write();
    let mut child = env
        .cmd(&["daemon", "--interval", "1h"])
        .env("NREC_PROC_ROOT", p.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    wait_for("the first sample", || samples(&env.db) == 1);

    // Move the database away (with its -wal/-shm and lock) and ask for a reopen.
    let state = env.db.parent().unwrap().to_path_buf();
    let moved = env.tmp.path().join("state.old");
    std::fs::rename(&state, &moved).unwrap();
    // SAFETY: signals to the child we spawned (not yet reaped).
    unsafe { libc::kill(pid, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP does not end the daemon"
    );
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("SIGHUP: config reloaded, database reopened"),
        "{err}"
    );
    assert_eq!(
        samples(&moved.join("nrec.db")),
        1,
        "the first sample, in the old file"
    );
    assert_eq!(
        samples(&env.db),
        1,
        "the last sample, in the reopened (new) database"
    );
}

#[test]
fn daemon_rejects_a_bad_interval() {
    let env = Env::new();
    let out = env.cmd(&["daemon", "--interval", "0s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = env.cmd(&["daemon", "--interval", "soon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

/// Accepts connections forever (until stdin closes): reads each to EOF, answers REPLY bytes.
const ACCEPTOR: &str = r#"
import ctypes, socket, sys, threading
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(b"dsrv"), 0, 0, 0)
REPLY = int(sys.argv[1])
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(64)
print(l.getsockname()[1], flush=True)
def serve():
    while True:
        c, _ = l.accept(); c.settimeout(20)
        while c.recv(65536): pass
        c.sendall(b"r" * REPLY); c.close()
threading.Thread(target=serve, daemon=True).start()
sys.stdin.read()
"#;

/// N sequential connections: send SIZE bytes, half-close, read the reply, close.
const CONNECTOR: &str = r#"
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(b"dcli"), 0, 0, 0)
port, n, size, reply = (int(a) for a in sys.argv[1:5])
for _ in range(n):
    c = socket.create_connection(("127.0.0.1", port), timeout=20)
    c.sendall(b"c" * size); c.shutdown(socket.SHUT_WR)
    got = 0
    while got < reply:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    assert got == reply, got
    c.close()
"#;

#[test]
fn daemon_counts_connections_that_open_and_close_between_samples() {
    if !is_root() {
        return skip("daemon_counts_connections", "needs root (namespaces)");
    }
    let Some(ns) = crate::live::Netns::pair("dd") else {
        return skip("daemon_counts_connections", "ip netns add failed");
    };
    let ns_a = ns.names[0].clone();
    let env = Env::new(); // eBPF off: sock_diag and its destroy events only
    const N: u64 = 50;
    const SIZE: u64 = 20_000;
    const REPLY: u64 = 1_000;
    let mut server = python_in(Some(&ns_a))
        .args(["-c", ACCEPTOR])
        .arg(REPLY.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let port = first_line(&mut server);
    let mut daemon = env
        .cmd(&["daemon", "--interval", "3s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // two samples: the listener and its owner are known, the baseline is taken
    wait_for("two samples", || samples(&env.db) >= 2);
    let before = samples(&env.db);
    let t0 = Instant::now();
    let out = python_in(Some(&ns_a))
        .args(["-c", CONNECTOR, &port])
        .args([N, SIZE, REPLY].map(|v| v.to_string()))
        .output()
        .unwrap();
    assert_success(&out);
    let took = t0.elapsed();
    let after = samples(&env.db);
    wait_for("the next sample", || samples(&env.db) > after);
    // SAFETY: a signal to the daemon we spawned (not yet reaped).
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let status = daemon.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    drop(server.stdin.take());
    let _ = server.wait();
    eprintln!(
        "50 connections in {took:?}, samples during them: {}",
        after - before
    );

    let (procs, doc) = top_json(&env, &["top-procs"]);
    let slack = 2 * N;
    let srv = procs.get("dsrv").copied().unwrap_or((0, 0));
    assert!(
        srv.0.abs_diff(N * SIZE) <= slack && srv.1.abs_diff(N * REPLY) <= slack,
        "the acceptor's bytes, from destroy events credited to the listener's owner: {srv:?}, want ({}, {}); {doc}",
        N * SIZE,
        N * REPLY
    );
    let (ports, _) = top_json(&env, &["top-ports"]);
    let p = ports
        .iter()
        .find(|(k, _)| **k == format!("tcp/{port}"))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("port {port} not in {ports:?}"));
    assert!(p.0 >= N * SIZE - slack, "port {port}: {p:?}");
    // The clients' side is counted in the socket totals, without a process (they were never
    // seen by a dump, and they are not a listener's).
    let unowned = doc["unattributed"]["on_sockets_without_process"]
        .as_u64()
        .unwrap();
    assert!(
        unowned >= N * (SIZE + REPLY) - slack,
        "client side counted: {unowned}"
    );
    drop(ns);
}

/// The first line a spawned peer prints (its port), trimmed.
fn first_line(peer: &mut std::process::Child) -> String {
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(peer.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    line.trim().to_string()
}

/// Churn: `chsrv` accepts and reads until EOF (threads; its accept queue may hold
/// connections a while), `chcli N` opens N connections that each send 500 B, pause 1.1 s,
/// send 500 B and close, then prints "done". Bounded: N kB, a few seconds.
const CHURN: &str = r#"
import ctypes, socket, sys, threading, time
role = sys.argv[1]
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(role.encode()), 0, 0, 0)
if role == "chsrv":
    l = socket.socket(); l.bind(("127.0.0.9", 0)); l.listen(4096); l.settimeout(60)
    print(l.getsockname()[1], flush=True)
    def read(c):
        c.settimeout(20)
        while c.recv(65536): pass
        c.close()
    while True:
        try: c, _ = l.accept()
        except OSError: break
        threading.Thread(target=read, args=(c,), daemon=True).start()
else:
    port, n = int(sys.argv[2]), int(sys.argv[3])
    def one(i):
        time.sleep((i % 50) * 0.02)
        # an address of its own at both ends: other tests' host rows stay theirs
        c = socket.create_connection(("127.0.0.9", port), timeout=20, source_address=("127.0.0.9", 0))
        c.sendall(b"a" * 500); time.sleep(1.1); c.sendall(b"b" * 500); c.close()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts: t.start()
    for t in ts: t.join()
    print("done", flush=True)
"#;

/// Issue 32 item 14: under churn (daemon at 1 s; connections that send, pause past a tick,
/// send again and close) a connection's bytes are credited once, to its process: the
/// acceptor's (while one waits in the accept queue it has no file, and its bytes were "on
/// sockets without a process") and the clients', each to the byte but for SYN and FIN.
#[test]
fn under_churn_every_connection_is_credited_once() {
    let env = Env::new(); // eBPF off: sock_diag, the baseline and destroy events
    const N: u64 = 300;
    let mut server = python_in(None)
        .args(["-c", CHURN, "chsrv"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let port = first_line(&mut server);
    let mut daemon = env
        .cmd(&["daemon", "--interval", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("two samples", || samples(&env.db) >= 2);
    let out = python_in(None)
        .args(["-c", CHURN, "chcli", &port, &N.to_string()])
        .output()
        .unwrap();
    assert_success(&out);
    let after = samples(&env.db);
    wait_for("two more samples", || samples(&env.db) > after + 1);
    // SAFETY: signals to the processes this test spawned (not yet reaped).
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
        libc::kill(server.id() as i32, libc::SIGKILL);
    }
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    let _ = server.wait();
    let (procs, doc) = top_json(&env, &["top-procs"]);
    let srv = procs.get("chsrv").copied().unwrap_or_default();
    let cli = procs.get("chcli").copied().unwrap_or_default();
    // payload, and at most SYN and FIN per connection on top; twice-counted bytes (a
    // connection's 501 or 1002 again) would be hundreds per connection
    let unowned = doc["unattributed"]["on_sockets_without_process"]
        .as_u64()
        .unwrap();
    assert!(
        (N * 1000..=N * 1000 + 2 * N).contains(&srv.0),
        "the acceptor received {} for {} B of payload (its connections' bytes are its own \
         while queued, and after they close); {doc}",
        srv.0,
        N * 1000
    );
    assert!(cli.1 <= N * 1002, "the clients sent {}; {doc}", cli.1);
    // every socket byte once: the processes' and those whose process was gone before the
    // scan found it (a client that closed in between), together the connections' totals
    let once = srv.0 + srv.1 + cli.0 + cli.1 + unowned;
    assert!(
        (N * 2000..=N * 2005).contains(&once),
        "{once} socket bytes for {} of payload and SYN/FIN; {doc}",
        N * 2000
    );
}

/// UDP peers for the pcap fallback: `rx` binds 127.0.0.1 and ::1, prints both ports and counts
/// what arrives; `tx PORTS` waits for a line on stdin, sends datagrams of several sizes to both
/// from unconnected sockets and prints the bytes sent. Both stay alive (their sockets in the
/// table) until stdin closes. Bounded: ~200 kB, 20 s.
#[cfg(feature = "pcap")]
const UDP_PEER: &str = r#"
import ctypes, json, select, socket, sys, threading
role = sys.argv[1]
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(("pu" + role).encode()), 0, 0, 0)
if role == "rx":
    socks = []
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(fam, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((host, 0)); socks.append(s)
    print(json.dumps([s.getsockname()[1] for s in socks]), flush=True)
    n = 0; want = int(sys.argv[2])
    k = 0
    while k < want:
        r, _, _ = select.select(socks, [], [], 20)
        if not r: break
        for s in r:
            n += len(s.recv(65536)); k += 1
    print(n, flush=True)
else:
    ports = json.loads(sys.argv[2])
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s4.bind(("127.0.0.1", 0)); s6.bind(("::1", 0))
    print("ready", flush=True)
    sys.stdin.readline()
    n = 0
    import time
    for size in [1, 100, 1400, 8000, 30000] * 3:
        n += s4.sendto(b"u" * size, ("127.0.0.1", ports[0])); time.sleep(0.002)
        n += s6.sendto(b"v" * size, ("::1", ports[1])); time.sleep(0.002)
    print(n, flush=True)
sys.stdin.read()
"#;

#[cfg(feature = "pcap")]
#[test]
fn daemon_pcap_fallback_credits_udp_through_the_socket_table() {
    use std::io::{BufRead, BufReader, Write};
    if !is_root() {
        return skip("daemon_pcap_fallback", "needs root (capture, namespaces)");
    }
    let Some(ns) = crate::live::Netns::pair("pc") else {
        return skip("daemon_pcap_fallback", "ip netns add failed");
    };
    let ns_a = ns.names[0].clone();
    let env = Env::new(); // NREC_EBPF=off: the fallback's case
    let spawn = |args: &[&str]| {
        python_in(Some(&ns_a))
            .args(["-c", UDP_PEER])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut rx = spawn(&["rx", "30"]);
    let mut rx_out = BufReader::new(rx.stdout.take().unwrap());
    let mut line = String::new();
    rx_out.read_line(&mut line).unwrap();
    let ports = line.trim().to_string();
    let mut tx = spawn(&["tx", &ports]);
    let mut tx_out = BufReader::new(tx.stdout.take().unwrap());
    line.clear();
    tx_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");

    let daemon = env
        .cmd(&["daemon", "--interval", "2s"])
        .env("NREC_PCAP", "auto")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("two samples", || samples(&env.db) >= 2);
    writeln!(tx.stdin.as_mut().unwrap(), "go").unwrap();
    tx.stdin.as_mut().unwrap().flush().unwrap();
    line.clear();
    tx_out.read_line(&mut line).unwrap();
    let sent: u64 = line.trim().parse().unwrap();
    line.clear();
    rx_out.read_line(&mut line).unwrap();
    let got: u64 = line.trim().parse().unwrap();
    assert_eq!(got, sent, "no datagram lost on loopback");
    let n = samples(&env.db);
    wait_for("the next sample", || samples(&env.db) > n);
    // SAFETY: a signal to the daemon we spawned (not yet reaped).
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let out = daemon.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("pcap fallback on"), "{err}");
    for mut c in [rx, tx] {
        drop(c.stdin.take());
        let _ = c.wait();
    }

    let (procs, doc) = top_json(&env, &["top-procs"]);
    assert_eq!(procs.get("purx").copied(), Some((sent, 0)), "{doc}");
    assert_eq!(procs.get("putx").copied(), Some((0, sent)), "{doc}");
    // Ports: both ends of every datagram, under the lower of the two ports.
    let (ports, _) = top_json(&env, &["top-ports"]);
    let udp: u64 = ports
        .iter()
        .filter(|(k, _)| k.starts_with("udp/"))
        .map(|(_, (r, t))| r + t)
        .sum();
    assert_eq!(udp, 2 * sent, "{ports:?}");
    let st = env.cmd(&["status", "--format", "json"]).output().unwrap();
    assert_success(&st);
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(
        st["namespaces"][0]["sources"]["udp_capture"], true,
        "status names the pcap fallback: {st}"
    );
    drop(ns);
}

/// Under `NREC_NOW` the daemon's clock starts at the pinned instant and runs on (it used to
/// stamp every tick with the same instant), and a standing note is said once per run, not
/// every tick.
#[test]
fn a_pinned_daemon_clock_runs_on_and_notes_are_said_once() {
    let env = Env::new();
    let p = FakeProc::new();
    p.write();
    let now: jiff::Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
    let child = env
        .cmd(&["daemon", "--interval", "1s"])
        .env("NREC_PROC_ROOT", p.path())
        .env("NREC_NOW", now.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    wait_for("three samples", || samples(&env.db) >= 3);
    // SAFETY: a signal to the child we spawned (not yet reaped).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let ts: Vec<i64> = env
        .sql()
        .prepare("SELECT ts_ms FROM sample ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let t0 = now.as_millisecond();
    assert!(ts[0] >= t0 && ts[0] < t0 + 2_000, "first sample at {ts:?}");
    // ticks start a second apart, and a sample's time is read after its tick began: the
    // first tick creates the database first, so the first step is shorter by that (779 ms
    // in a loaded CI root); from there on a second apart
    assert!(
        ts[1] > ts[0] && ts[1] - ts[0] <= 3_000,
        "the clock ran on: {ts:?}"
    );
    let step = ts[2] - ts[1];
    assert!(
        (800..=3_000).contains(&step),
        "ticks a second apart: {ts:?}"
    );
    assert_eq!(
        err.matches("as one namespace").count(),
        1,
        "the note once per run: {err}"
    );
}

/// Another program's read-write connection (sqlite3, a script) opened and closed while the
/// daemon runs loses no sample. The daemon re-read the database header on every tick, and
/// closing that descriptor dropped SQLite's POSIX locks on the file: the other connection,
/// closing, took itself for the last one and deleted the WAL, and every later sample went
/// into the unlinked file — none after it reached the database, not even after the daemon
/// stopped.
#[test]
fn another_programs_connection_costs_the_daemon_no_sample() {
    let env = Env::new();
    let p = FakeProc::new();
    p.write();
    let child = env
        .cmd(&["daemon", "--interval", "1s"])
        .env("NREC_PROC_ROOT", p.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the second sample", || samples(&env.db) >= 2);
    let mut seen = Vec::new();
    for _ in 0..4 {
        // a read-write connection, as the sqlite3 shell opens one, closed at once
        let c = rusqlite::Connection::open(&env.db).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
            .unwrap();
        drop(c);
        seen.push(n);
        std::thread::sleep(Duration::from_millis(1500));
    }
    // SAFETY: a signal to the child we spawned (not yet reaped).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        seen.windows(2).all(|w| w[1] > w[0]),
        "every look saw new samples: {seen:?}"
    );
    assert!(samples(&env.db) > *seen.last().unwrap(), "{seen:?}");
}
