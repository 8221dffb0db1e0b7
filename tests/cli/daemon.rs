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

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", &ns_a, "python3", "-c", ACCEPTOR])
        .arg(REPLY.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let port = {
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(server.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        line.trim().to_string()
    };
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
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns_a, "python3", "-c", CONNECTOR, &port])
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

    let (procs, doc) = top_json(&env, "top-procs");
    let slack = 2 * N;
    let srv = procs.get("dsrv").copied().unwrap_or((0, 0));
    assert!(
        srv.0.abs_diff(N * SIZE) <= slack && srv.1.abs_diff(N * REPLY) <= slack,
        "the acceptor's bytes, from destroy events credited to the listener's owner: {srv:?}, want ({}, {}); {doc}",
        N * SIZE,
        N * REPLY
    );
    let (ports, _) = top_json(&env, "top-ports");
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
