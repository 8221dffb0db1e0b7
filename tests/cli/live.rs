//! The real kernel: sock_diag socket states, listening sockets with owners, every network
//! namespace, and sar run side by side. Traffic only over loopback or between namespaces
//! these tests create; every generator is bounded and cleaned up.

use crate::harness::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;

fn my_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn listening_sockets_are_recorded_with_their_owner() {
    let env = Env::new();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("[::1]:0").unwrap();
    let (tport, uport) = (
        tcp.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    );
    env.record_live();
    env.record_live();
    drop(tcp);
    env.record_live();
    let out = env.report_ok(
        &["-n", "LISTEN", "--since", "1h", "--format", "csv"],
        &jiff::Timestamp::now().to_string(),
    );
    let (h, rows) = parse_csv(&out);
    let find = |proto: &str, port: u16| {
        rows.iter()
            .find(|r| col(&h, r, "proto") == proto && col(&h, r, "port") == port.to_string())
            .unwrap_or_else(|| panic!("{proto} {port} missing from {out}"))
            .clone()
    };
    let t = find("tcp", tport);
    assert_eq!(col(&h, &t, "address"), "127.0.0.1");
    assert_eq!(col(&h, &t, "pid"), std::process::id().to_string());
    assert_eq!(col(&h, &t, "command"), my_comm());
    let u = find("udp", uport);
    assert_eq!(col(&h, &u, "family"), "ipv6");
    assert_eq!(col(&h, &u, "pid"), std::process::id().to_string());
    // The TCP listener closed before the third sample: its span ends at the second.
    let times: Vec<i64> = {
        let c = env.sql();
        let mut st = c.prepare("SELECT ts_ms FROM sample ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(|x| x.unwrap())
            .collect()
    };
    let last_ms: i64 = env
        .sql()
        .query_row(
            "SELECT last_ms FROM listener WHERE port = ?1 AND proto = 'tcp'",
            [tport],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last_ms, times[1]);
    let u_last: i64 = env
        .sql()
        .query_row(
            "SELECT last_ms FROM listener WHERE port = ?1 AND proto = 'udp'",
            [uport],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(u_last, times[2]);
    let table = env.report_ok(
        &["-n", "LISTEN", "--since", "1h"],
        &jiff::Timestamp::now().to_string(),
    );
    assert!(table.contains(&format!("127.0.0.1:{tport}")), "{table}");
}

/// A TCP listener with SO_REUSEPORT on 127.0.0.1:`port` (0: any); returns its fd and port.
fn reuseport_listener(port: u16) -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a fresh fd that this function owns; every pointer is to
    // a local of the right size.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        assert_eq!(
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEPORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32
            ),
            0
        );
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as u16;
        sa.sin_port = port.to_be();
        sa.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        assert_eq!(
            libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 8), 0);
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut glen = len;
        libc::getsockname(fd, (&mut got as *mut libc::sockaddr_in).cast(), &mut glen);
        (owned, u16::from_be(got.sin_port))
    }
}

/// Issue 11 item 12: SO_REUSEPORT listeners of one process on one port are one LISTEN row
/// with a socket count, not a row per socket.
#[test]
fn reuseport_listeners_are_one_row_with_a_socket_count() {
    let env = Env::new();
    let (first, port) = reuseport_listener(0);
    let rest: Vec<_> = (0..4).map(|_| reuseport_listener(port).0).collect();
    env.record_live();
    let out = env.report_ok(
        &["-n", "LISTEN", "--since", "1h", "--format", "csv"],
        &jiff::Timestamp::now().to_string(),
    );
    let (h, rows) = parse_csv(&out);
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| col(&h, r, "proto") == "tcp" && col(&h, r, "port") == port.to_string())
        .collect();
    assert_eq!(mine.len(), 1, "{out}");
    assert_eq!(col(&h, mine[0], "sockets"), "5", "{out}");
    assert_eq!(col(&h, mine[0], "pid"), std::process::id().to_string());
    drop((first, rest));
}

#[test]
fn tcp_states_come_from_sock_diag() {
    let env = Env::new();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        conns.push((c, s));
    }
    env.record_live();
    env.record_live();
    let out = env.report_ok(
        &["-n", "STATE", "--since", "1h", "--format", "csv"],
        &jiff::Timestamp::now().to_string(),
    );
    let (h, rows) = parse_csv(&out);
    let root: Vec<_> = rows
        .iter()
        .filter(|r| col(&h, r, "netns") == "root")
        .collect();
    assert_eq!(root.len(), 1, "{out}");
    let estab: u64 = col(&h, root[0], "estab").parse().unwrap();
    let listen: u64 = col(&h, root[0], "listen").parse().unwrap();
    assert!(
        estab >= 6,
        "3 connections = 6 established sockets, got {estab}"
    );
    assert!(listen >= 1);
    drop(conns);
}

/// Network namespaces made by a test, deleted on drop.
pub struct Netns {
    pub names: Vec<String>,
}

impl Netns {
    fn ip(args: &[&str]) -> bool {
        Command::new("ip")
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
    /// Two namespaces joined by a veth pair (10.213.x.1 <-> .2/30), loopback up in each.
    pub fn pair(tag: &str) -> Option<Self> {
        let pid = std::process::id();
        Self::remove_stale(tag);
        let a = format!("nrec{tag}a{pid}");
        let b = format!("nrec{tag}b{pid}");
        let n = Netns { names: vec![] };
        let mut n = n;
        for x in [&a, &b] {
            if !Self::ip(&["netns", "add", x]) {
                return None;
            }
            n.names.push(x.clone());
            Self::ip(&["-n", x, "link", "set", "lo", "up"]);
        }
        let (va, vb) = (format!("va{pid}"), format!("vb{pid}"));
        let net = 1 + (pid % 250);
        let ok = Self::ip(&[
            "link", "add", &va, "netns", &a, "type", "veth", "peer", "name", &vb, "netns", &b,
        ]) && Self::ip(&[
            "-n",
            &a,
            "addr",
            "add",
            &format!("10.213.{net}.1/30"),
            "dev",
            &va,
        ]) && Self::ip(&[
            "-n",
            &b,
            "addr",
            "add",
            &format!("10.213.{net}.2/30"),
            "dev",
            &vb,
        ]) && Self::ip(&["-n", &a, "link", "set", &va, "up"])
            && Self::ip(&["-n", &b, "link", "set", &vb, "up"]);
        ok.then_some(n)
    }
}

impl Netns {
    /// The address of the second namespace's end of the veth pair.
    pub fn addr_b(&self) -> String {
        format!("10.213.{}.2", 1 + (std::process::id() % 250))
    }

    /// Namespaces left by a test process that was killed before its Drop ran.
    fn remove_stale(tag: &str) {
        let Ok(rd) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(rest) = name.strip_prefix(&format!("nrec{tag}")) else {
                continue;
            };
            let pid = rest.trim_start_matches(['a', 'b']);
            if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                Self::ip(&["netns", "del", &name]);
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            Self::ip(&["netns", "del", n]);
        }
    }
}

/// Runs `f` on a thread inside namespace `name`.
fn in_netns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
    std::thread::spawn(move || {
        // SAFETY: setns on this thread only.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        f()
    })
    .join()
    .unwrap()
}

/// Sends `n` bytes over TCP from namespace `from` to `to_addr` in namespace `to`; returns
/// the bytes received. Bounded: one connection, `n` bytes, 10 s timeouts.
fn send_between(to: &str, from: &str, to_addr: &str, n: usize) -> usize {
    let addr = to_addr.to_string();
    let l = in_netns(to, move || TcpListener::bind(addr).unwrap());
    let target = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut total = 0;
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break total,
                Ok(k) => total += k,
            }
        }
    });
    in_netns(from, move || {
        let mut c =
            TcpStream::connect_timeout(&target, std::time::Duration::from_secs(10)).unwrap();
        c.write_all(&vec![0x5a; n]).unwrap();
    });
    server.join().unwrap()
}

#[test]
fn every_namespace_is_recorded_and_named() {
    if !is_root() {
        return skip("every_namespace", "needs root to create network namespaces");
    }
    let Some(ns) = Netns::pair("n") else {
        return skip(
            "every_namespace",
            "ip netns add failed (no CAP_SYS_ADMIN or no iproute2)",
        );
    };
    let env = Env::new();
    env.record_live();
    let pid = std::process::id();
    let net = 1 + (pid % 250);
    let got = send_between(
        &ns.names[0],
        &ns.names[1],
        &format!("10.213.{net}.1:0"),
        2_000_000,
    );
    assert_eq!(got, 2_000_000);
    env.record_live();
    let now = jiff::Timestamp::now().to_string();
    let out = env.report_ok(&["--since", "1h", "--format", "csv"], &now);
    let (h, rows) = parse_csv(&out);
    let row = |netns: &str, iface: &str| {
        rows.iter()
            .find(|r| col(&h, r, "netns") == netns && col(&h, r, "iface") == iface)
            .unwrap_or_else(|| panic!("{netns}/{iface} missing: {out}"))
    };
    let va = row(&ns.names[0], &format!("va{pid}"));
    let vb = row(&ns.names[1], &format!("vb{pid}"));
    let rx: u64 = col(&h, va, "rx_bytes").parse().unwrap();
    let tx: u64 = col(&h, vb, "tx_bytes").parse().unwrap();
    assert_eq!(rx, tx, "what one end sent the other received");
    assert!(
        (2_000_000..2_300_000).contains(&rx),
        "payload plus headers: {rx}"
    );
    // Every namespace has `lo`: the table names the namespace when names collide.
    let table = env.report_ok(&["--since", "1h"], &now);
    assert!(table.contains(&format!("lo@{}", ns.names[0])), "{table}");
    // Protocol counters are per namespace too.
    let tcp = env.report_ok(&["-n", "TCP", "--since", "1h", "--format", "csv"], &now);
    let (th, trows) = parse_csv(&tcp);
    let a = trows
        .iter()
        .find(|r| col(&th, r, "netns") == ns.names[1])
        .unwrap();
    assert_eq!(col(&th, a, "ActiveOpens"), "1");
}

/// sar and nrec sample the same quiet namespace at (nearly) the same moments; the rates
/// agree to within the timing jitter of starting two processes back to back.
#[test]
fn numbers_match_sar_for_the_same_intervals() {
    let sadc = SADC;
    if !std::path::Path::new(sadc).exists() {
        return skip(
            "matches_sar",
            "sysstat is not installed (.ci/run installs it)",
        );
    }
    if !is_root() {
        return skip(
            "matches_sar",
            "needs root to create a quiet network namespace",
        );
    }
    let Some(ns) = Netns::pair("s") else {
        return skip("matches_sar", "ip netns add failed");
    };
    let env = Env::new();
    let sa = env.tmp.path().join("sa.file");
    let a = ns.names[0].clone();
    let sample = || sadc_then_record(&env, &sa, Some(&a));
    sample();
    for k in 1..=3usize {
        let a2 = a.clone();
        // Loopback traffic inside the namespace, finished before the next samples.
        in_netns(&a2, move || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (mut s, _) = l.accept().unwrap();
            let reader =
                std::thread::spawn(move || std::io::copy(&mut s, &mut std::io::sink()).unwrap());
            c.write_all(&vec![1u8; 3_000_000 * k]).unwrap();
            drop(c);
            reader.join().unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(2500));
        sample();
    }
    let sar = sar_of(&sa, "DEV");
    let sar_rows: Vec<Vec<f64>> = sar
        .lines()
        .filter(|l| !l.starts_with("Average") && l.split_whitespace().nth(1) == Some("lo"))
        .map(|l| {
            l.split_whitespace()
                .skip(2)
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(sar_rows.len(), 3, "{sar}");
    let out = env.report_ok(
        &["--since", "1h", "--format", "csv"],
        &jiff::Timestamp::now().to_string(),
    );
    let (h, rows) = parse_csv(&out);
    let ours: Vec<_> = rows
        .iter()
        .filter(|r| col(&h, r, "netns") == a && col(&h, r, "iface") == "lo")
        .collect();
    assert_eq!(ours.len(), 3, "{out}");
    // The two tools start milliseconds apart and sadc measures intervals in 10 ms steps, so
    // their intervals differ slightly. The counter deltas must not: within one interval every
    // column of sar and nrec stands in the same ratio (the ratio of the two intervals).
    let (mut worst_interval, mut worst_spread) = (0f64, 0f64);
    for (s, r) in sar_rows.iter().zip(&ours) {
        let ratios: Vec<f64> = ["rxpck/s", "txpck/s", "rxkB/s", "txkB/s"]
            .iter()
            .enumerate()
            .map(|(k, name)| s[k] / col(&h, r, name).parse::<f64>().unwrap())
            .collect();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, 0f64), |(a, b), x| (a.min(*x), b.max(*x)));
        worst_spread = worst_spread.max(hi - lo);
        worst_interval = worst_interval.max((ratios[0] - 1.0).abs());
        assert!(
            hi - lo < 0.002,
            "different deltas: ratios {ratios:?}\n{sar}\n{out}"
        );
        // The intervals themselves depend on when each tool got the CPU: 2 % of the 2.5 s
        // interval was exceeded once (7 %) while the whole suite ran on 2 cores. 15 % still
        // catches a wrong interval unit or a skipped sample; the delta check above is exact.
        assert!(
            (ratios[0] - 1.0).abs() < 0.15,
            "intervals too far apart: {ratios:?}"
        );
    }
    eprintln!(
        "nrec vs sar: column ratios agree to {:.4}; intervals differ by at most {:.2} %",
        worst_spread,
        worst_interval * 100.0
    );
}

/// In a namespace whose only TCP socket is a listener, the established-hash walk is skipped:
/// every state is exactly 0 except SYN_RECV, which sockstat cannot vouch for while a listener
/// exists, so it is unknown (empty), never an invented 0. Without listeners it is a known 0.
#[test]
fn idle_namespaces_skip_the_hash_walk_honestly() {
    if !is_root() {
        return skip("idle_namespaces", "needs root to create network namespaces");
    }
    let Some(ns) = Netns::pair("i") else {
        return skip("idle_namespaces", "ip netns add failed");
    };
    let _listener = in_netns(&ns.names[0], || TcpListener::bind("127.0.0.1:0").unwrap());
    let env = Env::new();
    env.record_live();
    env.record_live();
    let now = jiff::Timestamp::now().to_string();
    let out = env.report_ok(&["-n", "STATE", "--since", "1h", "--format", "csv"], &now);
    let (h, rows) = parse_csv(&out);
    let row = |n: &str| {
        rows.iter()
            .find(|r| col(&h, r, "netns") == n)
            .unwrap()
            .clone()
    };
    let a = row(&ns.names[0]);
    assert_eq!(col(&h, &a, "listen"), "1");
    assert_eq!(col(&h, &a, "estab"), "0");
    assert_eq!(col(&h, &a, "timewait"), "0");
    assert_eq!(col(&h, &a, "synrecv"), "", "unknown, not 0: {out}");
    let b = row(&ns.names[1]);
    assert_eq!(col(&h, &b, "listen"), "0");
    assert_eq!(col(&h, &b, "synrecv"), "0");
    let table = env.report_ok(&["-n", "STATE", "--since", "1h"], &now);
    let line = table
        .lines()
        .find(|l| l.contains(&format!(" {}", ns.names[0])) && !l.starts_with("Average"))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[4], "-", "SYN_RECV shown as unknown: {line}");
}

/// Moves SIZE bytes over the loopback of the namespace it runs in, to itself; with "wait",
/// then prints its namespace's inode and stays until its stdin closes.
const LOOP: &str = r#"
import os, socket, sys
n = int(sys.argv[1])
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname(), timeout=20); s, _ = l.accept(); s.settimeout(20)
c.sendall(b"x" * n); k = 0
while k < n: k += len(s.recv(65536))
if sys.argv[2] == "wait":
    print(os.stat("/proc/self/ns/net").st_ino, flush=True); sys.stdin.readline()
"#;

/// A namespace created between two samples began at zero: its interfaces are counted, not
/// taken as a baseline — one pinned by `ip netns add` whose traffic ended before the sample
/// (known new by its pin's time), and one of an `unshare -n` process still running at the
/// sample (known new by its process's start time).
#[test]
fn namespaces_created_between_two_samples_count_from_zero() {
    let test = "namespaces_created_between_two_samples";
    if !is_root() {
        return skip(test, "needs root to create network namespaces");
    }
    let env = Env::new();
    env.record_live();
    env.record_live();
    let pinned = Netns {
        names: vec![format!("nrecborn{}", std::process::id())],
    };
    let ip = |args: &[&str]| Command::new("ip").args(args).status().unwrap().success();
    if !ip(&["netns", "add", &pinned.names[0]]) {
        return skip(test, "ip netns add failed");
    }
    assert!(ip(&["-n", &pinned.names[0], "link", "set", "lo", "up"]));
    let out = python_in(Some(&pinned.names[0]))
        .args(["-c", LOOP, "3000000", "exit"])
        .output()
        .unwrap();
    assert_success(&out);
    let mut unshared = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up && exec python3 -c \"$0\" 2000000 wait",
        ])
        .arg(LOOP)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(unshared.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let inode: u64 = line.trim().parse().unwrap();
    env.record_live();
    drop(unshared.stdin.take());
    assert!(unshared.wait().unwrap().success());

    let now = jiff::Timestamp::now().to_string();
    let out = env.report_ok(&["--since", "1h", "--format", "csv"], &now);
    let (h, rows) = parse_csv(&out);
    let lo = |netns: &str| -> (u64, u64) {
        rows.iter()
            .filter(|r| col(&h, r, "netns") == netns && col(&h, r, "iface") == "lo")
            .fold((0, 0), |(rx, tx), r| {
                (
                    rx + col(&h, r, "rx_bytes").parse::<u64>().unwrap_or(0),
                    tx + col(&h, r, "tx_bytes").parse::<u64>().unwrap_or(0),
                )
            })
    };
    let (rx, tx) = lo(&pinned.names[0]);
    assert_eq!(rx, tx, "lo counts each byte once each way");
    assert!(
        (3_000_000..3_300_000).contains(&rx),
        "payload plus headers: {rx}\n{out}"
    );
    let (rx, _) = lo(&format!("ns:{inode}"));
    assert!(
        (2_000_000..2_200_000).contains(&rx),
        "payload plus headers: {rx}\n{out}"
    );
}

/// sysstat's collector, which the parity tests run beside nrec.
const SADC: &str = "/usr/lib/sysstat/sadc";

/// One sample of sadc (`-S XALL`, into `sa`) and then one of nrec (eBPF off), in network
/// namespace `netns` or the host's: the parity tests' pairs of readings.
fn sadc_then_record(env: &Env, sa: &std::path::Path, netns: Option<&str>) {
    let inside = |prog: &str| -> Command {
        let mut c = Command::new(if netns.is_some() { "ip" } else { prog });
        if let Some(ns) = netns {
            c.args(["netns", "exec", ns, prog]);
        }
        c
    };
    let ok = inside(SADC)
        .args(["-S", "XALL", "1", "1"])
        .arg(sa)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut record = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN, "--db"]).arg(&env.db);
            c.args(["record", "-q"]);
            c
        }
        None => env.cmd(&["record", "-q"]),
    };
    let out = record.env("NREC_EBPF", "off").output().unwrap();
    assert_success(&out);
}

/// `sar -n KIND -f SA` in the C locale and UTC: what the parity tests read.
fn sar_of(sa: &std::path::Path, kind: &str) -> String {
    let out = Command::new("sar")
        .args(["-n", kind, "-f"])
        .arg(sa)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// ICMP echo over raw sockets and datagrams to closed ports, IPv4 and IPv6: what moves sar's
/// ICMP, EICMP, IP6, EIP6, ICMP6 and EICMP6 counters. Bounded: a few dozen packets on loopback.
const ICMP_TRAFFIC: &str = r#"
import socket, struct, time
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(8):
    p = struct.pack('!BBHHH', 8, 0, 0, 7, i) + b'x' * 56
    s4.sendto(p[:2] + struct.pack('!H', csum(p)) + p[4:], ('127.0.0.1', 0))
    s6.sendto(struct.pack('!BBHHH', 128, 0, 0, 7, i) + b'y' * 56, ('::1', 0))
    u4.sendto(b'z', ('127.0.0.1', 9))
    u6.sendto(b'z', ('::1', 9))
    time.sleep(0.05)
"#;

/// Issue 35 item 6: sar's ICMP, EICMP, IP6, EIP6, ICMP6 and EICMP6 — the same columns as
/// `sar -n …` on the same intervals, and the same counter deltas in every column (each
/// column's rate stands to sar's in the interval's ratio, zero where sar's is zero).
#[test]
fn icmp_and_ipv6_kinds_match_sar() {
    let sadc = SADC;
    if !std::path::Path::new(sadc).exists() {
        return skip(
            "icmp_matches_sar",
            "sysstat is not installed (.ci/run installs it)",
        );
    }
    if !is_root() {
        return skip(
            "icmp_matches_sar",
            "needs root for a quiet namespace and raw sockets",
        );
    }
    let Some(ns) = Netns::pair("c") else {
        return skip("icmp_matches_sar", "ip netns add failed");
    };
    let env = Env::new();
    let sa = env.tmp.path().join("sa.file");
    let a = ns.names[0].clone();
    // a quiet namespace: no IPv6 on either end of its veth (neighbour discovery and MLD
    // would move the counters between sadc's read and nrec's); ::1 on lo stays. The peer's
    // too: a packet arriving on `va` counts in Ip6InReceives before va's disable_ipv6 drops
    // it, and the peer's start-up solicitations and reports once did (CI, 2 of them).
    for (ns, dev) in [(&a, "va"), (&ns.names[1], "vb")] {
        let quiet = Command::new("ip")
            .args(["netns", "exec", ns, "sysctl", "-q", "-w"])
            .arg(format!(
                "net.ipv6.conf.{dev}{}.disable_ipv6=1",
                std::process::id()
            ))
            .status()
            .unwrap();
        assert!(quiet.success());
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sample = || sadc_then_record(&env, &sa, Some(&a));
    sample();
    for _ in 0..2 {
        let out = python_in(Some(&a))
            .args(["-c", ICMP_TRAFFIC])
            .output()
            .unwrap();
        assert_success(&out);
        std::thread::sleep(std::time::Duration::from_millis(1500));
        sample();
    }
    let now = jiff::Timestamp::now().to_string();
    // Linux 6.9 inserted OutRateLimitGlobal and OutRateLimitHost after OutErrors in the Icmp
    // line; sysstat 12.6 reads that line by position, so its ICMP out-columns after oerr/s
    // show the counters two places before them. nrec reads the counters by name: those
    // columns are checked against the packets sent instead (8 per interval).
    let snmp = Command::new("ip")
        .args(["netns", "exec", &a, "cat", "/proc/net/snmp"])
        .output()
        .unwrap();
    let shifted = String::from_utf8_lossy(&snmp.stdout).contains("OutRateLimitGlobal");
    let misread: &[&str] = if shifted {
        &[
            "oech/s",
            "oechr/s",
            "otm/s",
            "otmr/s",
            "oadrmk/s",
            "oadrmkr/s",
            "odstunr/s",
            "otmex/s",
            "oparmpb/s",
            "osrcq/s",
            "oredir/s",
        ]
    } else {
        &[]
    };
    for kind in ["ICMP", "EICMP", "IP6", "EIP6", "ICMP6", "EICMP6"] {
        let sar = sar_of(&sa, kind);
        let lines: Vec<&str> = sar.lines().filter(|l| !l.trim().is_empty()).collect();
        let heads: Vec<&str> = lines[1].split_whitespace().skip(1).collect();
        let sar_rows: Vec<Vec<f64>> = lines[2..]
            .iter()
            .filter(|l| !l.starts_with("Average"))
            .map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .map(|v| v.parse().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(sar_rows.len(), 2, "{sar}");
        let out = env.report_ok(&["-n", kind, "--since", "1h", "--format", "csv"], &now);
        let (h, rows) = parse_csv(&out);
        let ours: Vec<_> = rows.iter().filter(|r| col(&h, r, "netns") == a).collect();
        assert_eq!(ours.len(), 2, "{kind}: {out}");
        let table = env.report_ok(&["-n", kind, "--since", "1h"], &now);
        let our_heads: Vec<&str> = table
            .lines()
            .find(|l| l.contains(heads[0]))
            .unwrap_or_else(|| panic!("{kind}: no header with {}:\n{table}", heads[0]))
            .split_whitespace()
            .filter(|w| w.contains('/') || *w == heads[0])
            .collect();
        assert_eq!(our_heads, heads, "{kind}: sar's columns, in sar's order");
        let mut moved = false;
        for (s, r) in sar_rows.iter().zip(&ours) {
            let ratios: Vec<f64> = heads
                .iter()
                .enumerate()
                .filter(|(_, head)| !misread.contains(head))
                .filter_map(|(k, head)| {
                    let v: f64 = col(&h, r, head).parse().unwrap();
                    if s[k] == 0.0 {
                        assert_eq!(v, 0.0, "{kind} {head}: sar 0, nrec {v}");
                        None
                    } else {
                        Some(s[k] / v)
                    }
                })
                .collect();
            moved |= !ratios.is_empty();
            let (lo, hi) = ratios
                .iter()
                .fold((f64::MAX, 0f64), |(a, b), x| (a.min(*x), b.max(*x)));
            assert!(
                ratios.is_empty() || hi - lo < 0.01,
                "{kind}: different deltas, ratios {ratios:?}\n{sar}\n{out}"
            );
        }
        assert!(
            moved || kind == "EIP6",
            "{kind}: the traffic moved nothing:\n{sar}"
        );
        // what was sent, counted by name (whatever sar reads)
        for r in &ours {
            let sent: &[&str] = match kind {
                "ICMP" => &["OutEchos", "OutEchoReps", "InEchos", "InEchoReps"],
                "EICMP" => &["OutDestUnreachs", "InDestUnreachs"],
                "ICMP6" => &["Icmp6InEchos", "Icmp6OutEchoReplies", "Icmp6InEchoReplies"],
                "EICMP6" => &["Icmp6OutDestUnreachs", "Icmp6InDestUnreachs"],
                _ => &[],
            };
            for c in sent {
                assert_eq!(
                    col(&h, r, c),
                    "8",
                    "{kind} {c}: 8 packets per interval\n{out}"
                );
            }
        }
    }
}

/// Issue 35 item 6: sar's SOFT — the kernel's receive path (/proc/net/softnet_stat), the
/// CPUs summed as sar's `all` row — with sar's columns and, on the same intervals, sar's
/// numbers: 100 000 loopback datagrams per interval of about 2.5 s make the processed packets
/// the bulk of each interval (softnet_stat is the host's, so other traffic is noise between
/// the two readers, and sadc times intervals in hundredths: within 3 %, plus what the host
/// processed while the two read — measured around each sampling point, 0 on a quiet host;
/// the whole suite's other tests on 2 CPUs once put 7 % there).
#[test]
fn soft_matches_sar_for_the_same_intervals() {
    let sadc = SADC;
    if !std::path::Path::new(sadc).exists() {
        return skip(
            "soft_matches_sar",
            "sysstat is not installed (.ci/run installs it)",
        );
    }
    let env = Env::new();
    let sa = env.tmp.path().join("sa.file");
    // softnet_stat is the host's: what the host processed while the two readers read at
    // different moments (sadc, then nrec) is in one interval and not the other's. Measured
    // around each sampling point, it is the only difference the comparison admits beyond 3 %.
    let processed = || -> u64 {
        std::fs::read_to_string("/proc/net/softnet_stat")
            .unwrap()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|v| u64::from_str_radix(v, 16).unwrap())
            .sum()
    };
    let mut between = Vec::new();
    let mut sample = || {
        let before = processed();
        sadc_then_record(&env, &sa, None);
        between.push(processed().wrapping_sub(before) & 0xffff_ffff);
    };
    let traffic = || {
        // bounded: 100 000 datagrams of 1 byte to a socket that never reads (the kernel
        // processes each before dropping it at the full socket)
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = sink.local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..100_000 {
            let _ = tx.send_to(b"s", to);
        }
    };
    sample();
    for _ in 0..2 {
        traffic();
        // intervals of seconds: sadc times them by /proc/uptime's hundredths
        std::thread::sleep(std::time::Duration::from_secs(2));
        sample();
    }
    let now = jiff::Timestamp::now().to_string();
    let sar = sar_of(&sa, "SOFT");
    let lines: Vec<&str> = sar.lines().filter(|l| !l.trim().is_empty()).collect();
    let heads: Vec<&str> = lines[1].split_whitespace().skip(1).collect();
    assert_eq!(heads.first(), Some(&"CPU"), "{sar}");
    let sar_rows: Vec<Vec<&str>> = lines[2..]
        .iter()
        .filter(|l| !l.starts_with("Average"))
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect();
    assert_eq!(sar_rows.len(), 2, "{sar}");
    let table = env.report_ok(&["-n", "SOFT", "--since", "1h"], &now);
    let our_heads: Vec<&str> = table
        .lines()
        .find(|l| l.contains("total/s"))
        .unwrap_or_else(|| panic!("no SOFT header:\n{table}"))
        .split_whitespace()
        .skip(1)
        .collect();
    assert_eq!(our_heads, heads, "sar's columns, in sar's order:\n{table}");
    let out = env.report_ok(&["-n", "SOFT", "--since", "1h", "--format", "csv"], &now);
    let (h, rows) = parse_csv(&out);
    assert_eq!(rows.len(), 2, "{out}");
    for (i, (s, r)) in sar_rows.iter().zip(&rows).enumerate() {
        assert_eq!(s[0], "all");
        assert_eq!(col(&h, r, "cpu"), "all");
        for (k, head) in heads.iter().enumerate().skip(1) {
            let theirs: f64 = s[k].parse().unwrap();
            let ours: f64 = col(&h, r, head).parse().unwrap();
            if *head == "total/s" {
                // the datagrams dominate: both counted 100 000 and more over ~the same span
                let interval: f64 = col(&h, r, "interval_s").parse().unwrap();
                assert!(
                    ours * interval >= 99_900.0,
                    "{head}: {ours}/s over {interval} s\n{out}"
                );
                let noise = (between[i] + between[i + 1]) as f64 / (ours * interval);
                assert!(
                    (theirs / ours - 1.0).abs() < 0.03 + noise,
                    "{head}: sar {theirs}, nrec {ours} (the host processed {} and {} packets \
                     while the two read)\n{sar}\n{out}",
                    between[i],
                    between[i + 1]
                );
            } else {
                // drops, squeezes, RPS and the backlog: what the host did between the two
                // readers, a handful at most
                assert!(
                    (theirs - ours).abs() <= 50.0,
                    "{head}: sar {theirs}, nrec {ours}\n{sar}\n{out}"
                );
            }
        }
        // the raw per-interval sum behind total/s
        let processed: f64 = col(&h, r, "processed").parse().unwrap();
        let interval: f64 = col(&h, r, "interval_s").parse().unwrap();
        let rate: f64 = col(&h, r, "total/s").parse().unwrap();
        assert!(
            (processed / interval - rate).abs() < 0.01 + rate * 1e-6,
            "{out}"
        );
    }
}
