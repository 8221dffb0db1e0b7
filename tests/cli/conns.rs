//! Ports and hosts counted in the kernel per connection (root; CI is root): short-lived TCP
//! clients and UDP exchanges — connected and `sendto` — between two namespaces joined by a
//! veth pair, all between two one-shot records, against what the programs' own system calls
//! returned, to the byte; each traffic class (loopback, LAN, internet; IPv4 and IPv6) exact,
//! and a network listed in the config moving bytes from `internet` to `lan`.

use crate::ebpf::ebpf_or_skip;
use crate::harness::*;
use crate::live::Netns;

/// The server (in the second namespace): a TCP server on PORT answering each connection's
/// bytes with 3000 bytes, and a UDP server on PORT + 1 answering each datagram with half its size
/// plus one; prints what its calls returned.
const SERVER: &str = r#"
import ctypes, json, select, socket, sys
ctypes.CDLL(None).prctl(15, b"cnsrv", 0, 0, 0)
N, M, P = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", P)); t.listen(64)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", P + 1))
print("ready", flush=True)
rx = tx = 0
while N or M:
    r, _, _ = select.select([t, u], [], [], 30)
    if not r: break
    if t in r:
        c, _ = t.accept(); c.settimeout(30)
        while True:
            d = c.recv(65536)
            if not d: break
            rx += len(d)
        c.sendall(b"r" * 3000); tx += 3000; c.close(); N -= 1
    if u in r:
        d, a = u.recvfrom(65536); rx += len(d)
        tx += u.sendto(b"q" * (len(d) // 2 + 1), a); M -= 1
print(json.dumps([rx, tx]), flush=True)
"#;

/// The clients (in the first namespace): N short-lived TCP client processes (`cncli`), each
/// sending its size and reading the answer, then `cnudp`: M UDP exchanges, the even ones on
/// a connected socket, the odd ones with sendto/recvfrom, each on a new socket.
const CLIENTS: &str = r#"
import ctypes, json, socket, subprocess, sys
peer, N, M, P = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
CLI = """import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, b"cncli", 0, 0, 0)
c = socket.create_connection((sys.argv[1], int(sys.argv[3])), timeout=20)
n = int(sys.argv[2]); c.sendall(b"c" * n); c.shutdown(socket.SHUT_WR); got = 0
while True:
    d = c.recv(65536)
    if not d: break
    got += len(d)
print(got, n)"""
rx = tx = 0
for i in range(N):
    out = subprocess.run([sys.executable, "-c", CLI, peer, str(1000 + 517 * i), str(P)], capture_output=True, text=True, check=True, timeout=30)
    r, t = map(int, out.stdout.split()); rx += r; tx += t
ctypes.CDLL(None).prctl(15, b"cnudp", 0, 0, 0)
urx = utx = 0
for i in range(M):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(20)
    payload = b"d" * (100 + 37 * i)
    if i % 2 == 0:
        s.connect((peer, P + 1)); utx += s.send(payload); urx += len(s.recv(65536))
    else:
        utx += s.sendto(payload, (peer, P + 1)); urx += len(s.recvfrom(65536)[0])
    s.close()
# a datagram read without asking who sent it: no peer known, its bytes keep their port
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(20)
utx += s.sendto(b"n" * 999, (peer, P + 1)); blind = len(s.recv(65536)); lport = s.getsockname()[1]
# a socket connected to one port told another destination: the datagram goes there, so it
# is the told peer's; the answer is the server's to a socket that takes only its own peer's
# datagrams (the kernel drops it: sent, never received)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((peer, P + 9))
utx += s.sendto(b"e" * 321, (peer, P + 1)); lost = 321 // 2 + 1
# a send the kernel refuses after the hook noted its destination (no route to it here), then
# a plain send on the same connected socket: its own peer's, not the refused one's
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(20); s.connect((peer, P + 1))
try:
    s.sendto(b"x" * 77, ("198.51.100.1", P + 1)); sys.exit("198.51.100.1 is routed here")
except OSError:
    pass
utx += s.send(b"f" * 222); urx += len(s.recv(65536))
print(json.dumps([rx, tx, urx, utx, blind, lport, lost]))
"#;

/// The server in namespace `b`, then `n` TCP clients and `m` UDP exchanges (and the datagram
/// read without its sender, one a connected socket sends elsewhere, whose answer is lost,
/// and one after a refused send) from namespace `a` to it at `addr_b`, on TCP `port` and UDP
/// `port + 1` (each test its own: top-ports sums a port over every namespace): what the
/// clients' calls returned ([`CLIENTS`]) and the server's ([`SERVER`]).
fn exchange(
    (a, b): (&str, &str),
    addr_b: &str,
    (n, m): (usize, usize),
    port: u16,
) -> (Vec<u64>, Vec<u64>) {
    let port = port.to_string();
    let mut server = python_in(Some(b))
        .args(["-c", SERVER, &n.to_string(), &(m + 3).to_string(), &port])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 serves");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(server.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let out = python_in(Some(a))
        .args(["-c", CLIENTS, addr_b, &n.to_string(), &m.to_string(), &port])
        .output()
        .unwrap();
    assert_success(&out);
    let cli: Vec<u64> = serde_json::from_slice(&out.stdout).unwrap();
    let srv: Vec<u64> = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(server.wait().unwrap().success());
    (cli, srv)
}

#[test]
fn short_connections_and_udp_are_credited_to_their_ports_and_hosts_exactly() {
    let env = Env::with_ebpf();
    if !ebpf_or_skip(&env, "short_connections_and_udp_are_credited_exactly") {
        return;
    }
    let Some(ns) = Netns::pair("cn") else {
        return skip("short_connections_and_udp", "ip netns add failed");
    };
    let (a, b) = (ns.names[0].clone(), ns.names[1].clone());
    let addr_b = ns.addr_b();
    let addr_a = format!("{}.1", addr_b.rsplit_once('.').unwrap().0);
    const N: usize = 40;
    const M: usize = 40;
    env.record_live(); // the baseline: the counting starts here
    let (cli, srv) = exchange((&a, &b), &addr_b, (N, M), 7001);
    let (tcp_rx, tcp_tx, udp_rx, udp_tx) = (cli[0], cli[1], cli[2], cli[3]);
    let (blind, blind_port, lost) = (cli[4], cli[5], cli[6]);
    assert_eq!(blind, 999 / 2 + 1, "the last answer read with recv()");
    assert_eq!(tcp_rx, 3000 * N as u64, "every answer read");
    env.record_live();

    // every connection opened and closed between the two records: sampled sockets saw none
    let (ports, doc) = top_json(&env, &["top-ports"]);
    assert_eq!(doc["source"], "ebpf", "{doc}");
    assert_eq!(
        ports.get("tcp/7001").copied(),
        Some((tcp_rx + tcp_tx, tcp_tx + tcp_rx)),
        "TCP: the clients' and the server's calls, to the byte: {ports:?}"
    );
    assert_eq!(srv[0], tcp_tx + udp_tx, "the server got every byte sent");
    assert_eq!(
        srv[1],
        tcp_rx + udp_rx + blind + lost,
        "and sent every byte read, and the answer the kernel dropped"
    );
    // the datagram a socket connected to 7010 sent to 7002 is 7002's (its note), not 7010's
    assert_eq!(
        ports.get("udp/7002").copied(),
        Some((udp_rx + udp_tx, udp_tx + udp_rx + blind + lost)),
        "UDP, connected and sendto: {ports:?}"
    );
    assert_eq!(ports.get("udp/7010"), None, "{ports:?}");
    // the answer read without its sender: on the reader's own port, on no host — explicit,
    // never dropped
    assert_eq!(
        ports.get(&format!("udp/{blind_port}")).copied(),
        Some((blind, 0)),
        "{ports:?}"
    );
    // each port's bytes with their peers' class: all of these are LAN (10.x); the datagram
    // whose sender was not told has none, and is in (other ports)
    let (lan, doc) = top_json(&env, &["top-ports", "--scope", "lan"]);
    assert_eq!(doc["scope"], "lan", "{doc}");
    for p in ["tcp/7001", "udp/7002"] {
        assert_eq!(lan.get(p), ports.get(p), "{p}: {lan:?}");
    }
    assert_eq!(lan.get(&format!("udp/{blind_port}")), None, "{lan:?}");
    let (hosts, doc) = top_json(&env, &["top-hosts"]);
    assert_eq!(doc["source"], "ebpf", "{doc}");
    assert_eq!(
        hosts.get(&format!("{addr_b}@{a}")).copied(),
        Some((tcp_rx + udp_rx, tcp_tx + udp_tx)),
        "the clients' peer: {hosts:?}"
    );
    assert_eq!(
        hosts.get(&format!("{addr_a}@{b}")).copied(),
        Some((srv[0], srv[1])),
        "the server's peer: {hosts:?}"
    );
    // each row names the processes behind it, the exited clients among them
    let procs = |doc: &serde_json::Value, name: &str| -> String {
        doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["processes"].to_string())
            .unwrap_or_default()
    };
    let (_, doc) = top_json(&env, &["top-ports"]);
    let p = procs(&doc, "tcp/7001");
    assert!(p.contains("cncli") && p.contains("cnsrv"), "{p}");
    let p = procs(&doc, "udp/7002");
    assert!(p.contains("cnudp") && p.contains("cnsrv"), "{p}");
    // the sample says the ports and hosts were counted per connection
    let flags: Vec<i64> = env
        .sql()
        .prepare("SELECT ebpf FROM sample ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(flags.last(), Some(&3), "{flags:?}");
    drop(ns);
}

/// Issue 33 item 3: with eBPF the live connection, port and host views are the kernel's
/// per-connection counters, not a socket dump — so the same 40 short-lived TCP clients and
/// 40 UDP exchanges, all between two refreshes, are in `nrec top -b`'s rows to the byte:
/// the ports view reading the recorder's pinned maps, the hosts view from a private
/// instance (which cuts its own map at each refresh), the connections view naming UDP.
#[test]
fn the_live_views_count_every_connection_from_the_kernel() {
    use crate::topview::{Bpf, batch};
    let env = Env::with_ebpf();
    if !ebpf_or_skip(
        &env,
        "the_live_views_count_every_connection_from_the_kernel",
    ) {
        return;
    }
    let Some(ns) = Netns::pair("cl") else {
        return skip(
            "the_live_views_count_every_connection",
            "ip netns add failed",
        );
    };
    let (a, b) = (ns.names[0].clone(), ns.names[1].clone());
    let addr_b = ns.addr_b();
    let addr_a = format!("{}.1", addr_b.rsplit_once('.').unwrap().0);
    const N: usize = 40;
    const M: usize = 40;
    env.record_live(); // pins the recorder's programs
    let pinned = env.bpf_dir.as_ref().unwrap();
    let csv = ["-d", "0.5", "-n", "1000", "--format", "csv", "--view"];
    let mut tops = Vec::new();
    for (view, bpf) in [
        ("ports", Bpf::Pinned(pinned)),
        ("hosts", Bpf::Private),
        ("conns", Bpf::Pinned(pinned)),
    ] {
        let (top, mut lines) = batch(&env, &[&csv[..], &[view]].concat(), bpf);
        // the header follows the baseline: what comes next is counted
        let header = lines.next().unwrap().unwrap();
        tops.push((view, top, lines, header));
    }
    let (cli, srv) = exchange((&a, &b), &addr_b, (N, M), 7201);
    let (tcp_rx, tcp_tx, udp_rx, udp_tx) = (cli[0], cli[1], cli[2], cli[3]);
    let (blind, blind_port, lost) = (cli[4], cli[5], cli[6]);
    // two more refreshes: the last bytes are read; then each session ends (SIGTERM)
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut totals = std::collections::HashMap::new();
    for (view, top, lines, header) in tops {
        // SAFETY: a signal to a child this test started
        assert_eq!(unsafe { libc::kill(top.0.id() as i32, libc::SIGTERM) }, 0);
        let mut text = header + "\n";
        for l in lines {
            text.push_str(&l.unwrap());
            text.push('\n');
        }
        let (h, rows) = parse_csv(&text);
        for r in &rows {
            let n = |c: &str| col(&h, r, c).parse::<u64>().unwrap();
            // the session's totals: the last row of each key holds them
            totals.insert(
                (view, col(&h, r, "key").to_string()),
                (
                    (n("rx_total_bytes"), n("tx_total_bytes")),
                    col(&h, r, "detail").to_string(),
                ),
            );
        }
        drop(top);
    }
    let of = |view: &str, key: &str| totals.get(&(view, key.to_string())).map(|t| t.0);
    assert_eq!(
        of("ports", "tcp/7201"),
        Some((tcp_rx + tcp_tx, tcp_tx + tcp_rx)),
        "TCP, every short connection: {totals:?}"
    );
    assert_eq!(
        of("ports", "udp/7202"),
        Some((udp_rx + udp_tx, udp_tx + udp_rx + blind + lost)),
        "UDP, connected and sendto: {totals:?}"
    );
    assert_eq!(of("ports", &format!("udp/{blind_port}")), Some((blind, 0)));
    let who = &totals[&("ports", "tcp/7201".to_string())].1;
    assert!(who.contains("cncli") && who.contains("cnsrv"), "{who}");
    assert_eq!(
        of("hosts", &format!("{addr_b}@{a}")),
        Some((tcp_rx + udp_rx, tcp_tx + udp_tx)),
        "the clients' peer: {totals:?}"
    );
    assert_eq!(
        of("hosts", &format!("{addr_a}@{b}")),
        Some((srv[0], srv[1]))
    );
    // the answer read without its sender: a row of its own, never dropped
    assert_eq!(
        of("hosts", &format!("(peer not known)@{a}")),
        Some((blind, 0)),
        "{totals:?}"
    );
    // connections: every client's own row, UDP named; together the port's bytes
    let conns: Vec<_> = totals
        .iter()
        .filter(|((v, k), _)| *v == "conns" && k.contains(&format!("{addr_b}:7201@{a}")))
        .collect();
    assert_eq!(conns.len(), N, "a row per client connection: {conns:?}");
    let sent: u64 = conns.iter().map(|(_, ((_, tx), _))| tx).sum();
    assert_eq!(sent, tcp_tx);
    assert!(
        totals
            .keys()
            .any(|(v, k)| *v == "conns" && k.starts_with("udp ") && k.contains(":7202@")),
        "UDP connections: {totals:?}"
    );
    drop(ns);
}

/// A client (`sccli`) in the first namespace talks TCP to a dual-stack server (`scsrv`) in
/// its own namespace over 127.0.0.1 and ::1 and in the second over a 10.x, an fd00:: and a
/// non-private address; prints the bytes (sent + answered) per peer.
const SCOPES: &str = r#"
import ctypes, json, socket, subprocess, sys
ctypes.CDLL(None).prctl(15, b"sccli", 0, 0, 0)
peers = json.loads(sys.argv[1]); n = 0; out = {}
for i, p in enumerate(peers):
    size = 5000 + 1111 * i
    c = socket.create_connection((p, 7101), timeout=20); c.sendall(b"s" * size); c.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    c.close(); out[p] = size + got
print(json.dumps(out))
"#;

const SCOPE_SERVER: &str = r#"
import socket, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::", 7101)); s.listen(16)
print("ready", flush=True)
for _ in range(n):
    c, _ = s.accept(); c.settimeout(20); got = 0
    while True:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    c.sendall(b"a" * (got // 3)); c.close()
"#;

#[test]
fn each_traffic_class_is_exact_and_a_listed_network_is_lan() {
    let env = Env::with_ebpf();
    if !ebpf_or_skip(&env, "each_traffic_class_is_exact") {
        return;
    }
    let Some(ns) = Netns::pair("sc") else {
        return skip("each_traffic_class_is_exact", "ip netns add failed");
    };
    let (a, b) = (ns.names[0].clone(), ns.names[1].clone());
    let pid = std::process::id();
    let net = 1 + pid % 250;
    let (va, vb) = (format!("va{pid}"), format!("vb{pid}"));
    // an fd00:: (ULA) and a non-private (TEST-NET-3) network on the same veth pair
    for (n, dev, v6, v4) in [
        (&a, &va, format!("fd00:213:{net}::1/64"), "203.0.113.1/24"),
        (&b, &vb, format!("fd00:213:{net}::2/64"), "203.0.113.2/24"),
    ] {
        for args in [
            vec!["-n", n, "addr", "add", &v6, "dev", dev, "nodad"],
            vec!["-n", n, "addr", "add", v4, "dev", dev],
        ] {
            assert!(
                std::process::Command::new("ip")
                    .args(&args)
                    .status()
                    .unwrap()
                    .success()
            );
        }
    }
    let lan4 = ns.addr_b();
    let (lan6, net4) = (format!("fd00:213:{net}::2"), "203.0.113.2".to_string());
    let peers = [
        "127.0.0.1".to_string(),
        "::1".into(),
        lan4.clone(),
        lan6.clone(),
        net4.clone(),
    ];
    env.record_live();
    let mut servers = Vec::new();
    for (n, k) in [(&a, 2), (&b, 3)] {
        let mut s = python_in(Some(n))
            .args(["-c", SCOPE_SERVER, &k.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut l = std::io::BufRead::lines(std::io::BufReader::new(s.stdout.take().unwrap()));
        assert_eq!(l.next().unwrap().unwrap(), "ready");
        servers.push(s);
    }
    let out = python_in(Some(&a))
        .args(["-c", SCOPES, &serde_json::to_string(&peers).unwrap()])
        .output()
        .unwrap();
    assert_success(&out);
    for mut s in servers {
        assert!(s.wait().unwrap().success());
    }
    let moved: std::collections::HashMap<String, u64> =
        serde_json::from_slice(&out.stdout).unwrap();
    env.record_live();
    // Each connection's bytes (sent + answered) are on its client's and its server's rows, as
    // rx + tx: a scope's rows in these two namespaces add up to twice its connections'.
    let ours = |name: &str| name.ends_with(&format!("@{a}")) || name.ends_with(&format!("@{b}"));
    let scope_total = |extra: &[&str], scope: &str| -> u64 {
        let args = [&["top-hosts", "--scope", scope][..], extra].concat();
        let (rows, doc) = top_json(&env, &args);
        assert_eq!(doc["source"], "ebpf", "{doc}");
        let classed: Vec<&serde_json::Value> = doc["rows"].as_array().unwrap().iter().collect();
        for r in &classed {
            let name = r["name"].as_str().unwrap();
            if ours(name) && r["scope"] != serde_json::Value::Null {
                assert_eq!(r["scope"], scope, "{r}");
            }
        }
        rows.iter()
            .filter(|(n, _)| ours(n))
            .map(|(_, (rx, tx))| rx + tx)
            .sum::<u64>()
    };
    let want = |ps: &[&String]| ps.iter().map(|p| 2 * moved[p.as_str()]).sum::<u64>();
    let (lo4, lo6) = (&peers[0], &peers[1]);
    assert_eq!(scope_total(&[], "loopback"), want(&[lo4, lo6]), "{moved:?}");
    assert_eq!(scope_total(&[], "lan"), want(&[&lan4, &lan6]), "{moved:?}");
    assert_eq!(scope_total(&[], "internet"), want(&[&net4]), "{moved:?}");
    // the server's port, by its peers' class: each scope's connections to it, both ends
    for (scope, peers) in [
        ("loopback", vec![lo4, lo6]),
        ("lan", vec![&lan4, &lan6]),
        ("internet", vec![&net4]),
    ] {
        let (ports, _) = top_json(&env, &["top-ports", "--scope", scope]);
        assert_eq!(
            ports.get("tcp/7101").map(|(r, t)| r + t),
            Some(want(&peers)),
            "{scope}: {ports:?}"
        );
    }
    // each family exact too: the IPv6 peers' rows
    let (hosts, doc) = top_json(&env, &["top-hosts"]);
    let fam = |name: &str| {
        doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["family"].clone())
    };
    assert_eq!(
        hosts.get(&format!("::1@{a}")).map(|(r, t)| r + t),
        Some(2 * moved["::1"])
    );
    assert_eq!(fam(&format!("::1@{a}")), Some(serde_json::json!("ipv6")));
    assert_eq!(
        hosts.get(&format!("{lan6}@{a}")).map(|(r, t)| r + t),
        Some(moved[&lan6])
    );
    assert_eq!(fam(&format!("{lan6}@{a}")), Some(serde_json::json!("ipv6")));
    assert_eq!(fam(&format!("{lan4}@{a}")), Some(serde_json::json!("ipv4")));
    // a network listed in the config is the site's: its bytes move from internet to lan
    let cfg = env.tmp.path().join("site.toml");
    std::fs::write(&cfg, "[scopes]\nlan = [\"203.0.113.0/24\"]\n").unwrap();
    let c = ["--config", cfg.to_str().unwrap()];
    assert_eq!(scope_total(&c, "internet"), 0);
    assert_eq!(scope_total(&c, "lan"), want(&[&lan4, &lan6, &net4]));

    // export's host rows carry the class (rx + tx per process and scope), and the metrics'
    // traffic classes are those rows summed: the client's internet bytes, exact; with the
    // config, none of them
    let classes = |extra: &[&str]| {
        let out = env.now_ok(
            &[
                extra,
                &["export", "host", "--since", "1h", "--format", "csv"],
            ]
            .concat(),
        );
        let (h, rows) = parse_csv(&out);
        let mut by = std::collections::HashMap::<(String, String), u64>::new();
        for r in &rows {
            let n = |c: &str| col(&h, r, c).parse::<u64>().unwrap();
            let k = (
                col(&h, r, "process").to_string(),
                col(&h, r, "scope").to_string(),
            );
            *by.entry(k).or_default() += n("rx_bytes") + n("tx_bytes");
        }
        let om = env.now_ok(&[extra, &["export", "host", "--format", "openmetrics"]].concat());
        let mut metric = std::collections::HashMap::<String, u64>::new();
        for l in om.lines().filter(|l| l.starts_with("nrec_traffic_")) {
            let scope = l.split("scope=\"").nth(1).and_then(|x| x.split('"').next());
            let v = l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
            if let (Some(scope), Some(v)) = (scope, v) {
                if l.contains("_bytes_total{") {
                    *metric.entry(scope.to_string()).or_default() += v as u64;
                }
            }
        }
        assert!(
            om.contains("# TYPE nrec_traffic_receive_bytes counter"),
            "{om}"
        );
        (by, metric)
    };
    let sum = |by: &std::collections::HashMap<(String, String), u64>, scope: &str| -> u64 {
        by.iter()
            .filter(|((_, s), _)| s == scope)
            .map(|(_, v)| v)
            .sum()
    };
    let (by, metric) = classes(&[]);
    let of = |p: &str, s: &str| by.get(&(p.to_string(), s.to_string())).copied();
    assert_eq!(of("sccli", "internet"), Some(moved[&net4]), "{by:?}");
    assert_eq!(
        of("sccli", "loopback"),
        Some(moved[lo4] + moved[lo6]),
        "{by:?}"
    );
    for scope in ["loopback", "lan", "internet"] {
        assert_eq!(
            metric.get(scope).copied().unwrap_or(0),
            sum(&by, scope),
            "{scope}: {metric:?}"
        );
    }
    let (by, metric) = classes(&c);
    let of = |p: &str, s: &str| by.get(&(p.to_string(), s.to_string())).copied();
    assert_eq!(of("sccli", "internet"), None, "{by:?}");
    assert_eq!(
        of("sccli", "lan"),
        Some(moved[&lan4] + moved[&lan6] + moved[&net4]),
        "{by:?}"
    );
    assert_eq!(
        metric.get("lan").copied().unwrap_or(0),
        sum(&by, "lan"),
        "{metric:?}"
    );

    // top-procs splits the client's bytes by the hosts' class, each exact
    let (by_scope, _) = top_json(
        &env,
        &["top-procs", "--by", "scope", "--container", "nonesuch"],
    );
    assert!(by_scope.keys().all(|k| k.starts_with('(')), "{by_scope:?}");
    let (rows, doc) = top_json(&env, &["top-procs", "--scope", "internet"]);
    assert_eq!(doc["scope"], "internet", "{doc}");
    assert_eq!(
        rows.get("sccli").map(|(r, t)| r + t),
        Some(moved[&net4]),
        "{rows:?}"
    );
    let (rows, _) = top_json(&env, &["top-procs", "--scope", "lan"]);
    assert_eq!(
        rows.get("sccli").map(|(r, t)| r + t),
        Some(moved[&lan4] + moved[&lan6]),
        "{rows:?}"
    );
    // proc --scope: the client's intervals and hosts of one scope, no ports
    let proc_scope = |scope: &str| -> serde_json::Value {
        let out = env.now_ok(&[
            "proc", "sccli", "--since", "1h", "--scope", scope, "--format", "json",
        ]);
        serde_json::from_str(&out).unwrap()
    };
    let v = proc_scope("internet");
    assert_eq!(v["scope"], "internet", "{v}");
    let p = &v["processes"][0];
    assert_eq!(
        p["rx_bytes"].as_u64().unwrap() + p["tx_bytes"].as_u64().unwrap(),
        moved[&net4],
        "{v}"
    );
    // its port, with the bytes it moved with that scope's peers
    assert_eq!(p["ports"][0]["port"], "tcp/7101", "{v}");
    assert_eq!(
        p["ports"][0]["rx_bytes"].as_u64().unwrap() + p["ports"][0]["tx_bytes"].as_u64().unwrap(),
        moved[&net4],
        "{v}"
    );
    let hosts: Vec<&str> = p["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, [net4.as_str()], "{v}");
    let v = proc_scope("loopback");
    let p = &v["processes"][0];
    assert_eq!(
        p["rx_bytes"].as_u64().unwrap() + p["tx_bytes"].as_u64().unwrap(),
        moved[lo4] + moved[lo6],
        "{v}"
    );
    // summary --scope: vnStat's views of what crossed the uplink, the same bytes
    let out = env.now_ok(&[
        "summary", "--scope", "internet", "--proc", "sccli", "--format", "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let today = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["period"] == "today")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(today["scope"], "internet (sccli)", "{v}");
    assert_eq!(today["total_bytes"], moved[&net4], "{v}");
    // a quota on what crossed the uplink counts the internet bytes only: at exactly them
    // it is reached, one byte more and it is not
    let net = moved[&net4];
    let quotas = env.tmp.path().join("quota.toml");
    std::fs::write(
        &quotas,
        format!(
            "[[alert]]\nname = \"at\"\nprocess = \"sccli\"\nscope = \"internet\"\nvolume = \"{net} B\"\nperiod = \"day\"\n\n\
             [[alert]]\nname = \"above\"\nprocess = \"sccli\"\nscope = \"internet\"\nvolume = \"{} B\"\nperiod = \"day\"\n\n\
             [[alert]]\nname = \"lan\"\nprocess = \"sccli\"\nscope = \"lan\"\nvolume = \"1 GB\"\nperiod = \"day\"\n",
            net + 1
        ),
    )
    .unwrap();
    let out = env
        .cmd(&[
            "--config",
            quotas.to_str().unwrap(),
            "alerts",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rule = |name: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(rule("at")["value"], net, "{v}");
    assert_eq!(rule("at")["over"], true, "{v}");
    assert_eq!(rule("above")["over"], false, "{v}");
    assert_eq!(rule("lan")["value"], moved[&lan4] + moved[&lan6], "{v}");
    assert!(
        rule("at")["subject"]
            .as_str()
            .unwrap()
            .contains("with internet hosts"),
        "{v}"
    );
    drop(ns);
}
