//! Test harness: a fake /proc builder (fed to `NREC_PROC_ROOT`) and helpers to run the
//! real `nrec` binary with a fixed clock (`NREC_NOW`), a temp database and a chosen zone.

#![allow(dead_code)]

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_nrec");
/// The small recorder the timer runs (`nrec record --no-push`).
pub const RECORD_BIN: &str = env!("CARGO_BIN_EXE_nrec-record");

pub struct FakeIface {
    pub name: Vec<u8>,
    /// /proc/net/dev order: rx bytes packets errs drop fifo frame compressed multicast,
    /// tx bytes packets errs drop fifo colls carrier compressed.
    pub c: [u64; 16],
    pub ifindex: Option<u32>,
    pub speed_mbps: Option<u32>,
    /// Physical device with a real link speed (not virtual).
    pub physical: bool,
}

impl FakeIface {
    pub fn new(name: &[u8], ifindex: u32) -> Self {
        FakeIface {
            name: name.to_vec(),
            c: [0; 16],
            ifindex: Some(ifindex),
            speed_mbps: None,
            physical: false,
        }
    }
    /// Adds traffic: bytes and packets in each direction.
    pub fn add(&mut self, rx_bytes: u64, rx_pkts: u64, tx_bytes: u64, tx_pkts: u64) {
        self.c[0] = self.c[0].wrapping_add(rx_bytes);
        self.c[1] = self.c[1].wrapping_add(rx_pkts);
        self.c[8] = self.c[8].wrapping_add(tx_bytes);
        self.c[9] = self.c[9].wrapping_add(tx_pkts);
    }
}

/// A captured /proc tree that tests advance step by step.
pub struct FakeProc {
    pub dir: tempfile::TempDir,
    pub boot_id: String,
    pub uptime_ms: i64,
    pub ifaces: Vec<FakeIface>,
    /// snmp Tcp counters: ActiveOpens PassiveOpens InSegs OutSegs AttemptFails EstabResets RetransSegs InErrs OutRsts
    pub tcp: [u64; 9],
    /// snmp Udp: InDatagrams NoPorts InErrors OutDatagrams
    pub udp: [u64; 4],
    /// sockstat: sockets used, TCP inuse, TCP tw, UDP inuse
    pub sock: [u64; 4],
    /// Extra bytes appended to net/dev (malformed lines for tests).
    pub dev_extra: Vec<u8>,
}

impl FakeProc {
    pub fn new() -> Self {
        let mut f = FakeProc {
            dir: tempfile::tempdir().unwrap(),
            boot_id: "11111111-2222-3333-4444-555555555555".into(),
            uptime_ms: 1_000_000,
            ifaces: vec![FakeIface::new(b"lo", 1), FakeIface::new(b"eth0", 2)],
            tcp: [0; 9],
            udp: [0; 4],
            sock: [10, 3, 1, 2],
            dev_extra: Vec::new(),
        };
        f.ifaces[1].speed_mbps = Some(1000);
        f.ifaces[1].physical = true;
        f.write();
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn iface(&mut self, name: &[u8]) -> &mut FakeIface {
        self.ifaces.iter_mut().find(|i| i.name == name).unwrap()
    }

    /// Writes every file nrec reads from a proc root.
    pub fn write(&self) {
        let d = self.dir.path();
        let net = d.join("net");
        std::fs::create_dir_all(&net).unwrap();
        let mut dev = b"Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n".to_vec();
        for i in &self.ifaces {
            dev.extend_from_slice(b"  ");
            dev.extend_from_slice(&i.name);
            dev.push(b':');
            for v in i.c {
                dev.extend_from_slice(format!(" {v}").as_bytes());
            }
            dev.push(b'\n');
        }
        dev.extend_from_slice(&self.dev_extra);
        std::fs::write(net.join("dev"), dev).unwrap();
        let t = self.tcp;
        let u = self.udp;
        std::fs::write(
            net.join("snmp"),
            format!(
                "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 100\n\
                 Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
                 Tcp: 1 200 120000 -1 {} {} {} {} 1 {} {} {} {} {} 0\n\
                 Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n\
                 Udp: {} {} {} {} 0 0 0 0 0\n",
                t[0], t[1], t[4], t[5], t[2], t[3], t[6], t[7], t[8], u[0], u[1], u[2], u[3]
            ),
        )
        .unwrap();
        let s = self.sock;
        std::fs::write(
            net.join("sockstat"),
            format!(
                "sockets: used {}\nTCP: inuse {} orphan 0 tw {} alloc 4 mem 1\nUDP: inuse {} mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n",
                s[0], s[1], s[2], s[3]
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("uptime"),
            format!(
                "{}.{:02} 100.00\n",
                self.uptime_ms / 1000,
                (self.uptime_ms % 1000) / 10
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("stat"),
            "cpu  1 2 3\ncpu0 1 2 3\ncpu1 1 2 3\nintr 1\n",
        )
        .unwrap();
        let k = d.join("sys/kernel/random");
        std::fs::create_dir_all(&k).unwrap();
        std::fs::write(k.join("boot_id"), format!("{}\n", self.boot_id)).unwrap();
        std::fs::write(d.join("sys/kernel/hostname"), "testhost\n").unwrap();
        std::fs::write(d.join("sys/kernel/osrelease"), "6.1.0-test\n").unwrap();
        let cls = d.join("sys/class/net");
        let _ = std::fs::remove_dir_all(&cls);
        for i in &self.ifaces {
            let p = cls.join(std::ffi::OsStr::from_bytes(&i.name));
            std::fs::create_dir_all(&p).unwrap();
            if let Some(x) = i.ifindex {
                std::fs::write(p.join("ifindex"), format!("{x}\n")).unwrap();
            }
            if let Some(s) = i.speed_mbps {
                std::fs::write(p.join("speed"), format!("{s}\n")).unwrap();
                std::fs::write(p.join("duplex"), "full\n").unwrap();
            }
            if !i.physical {
                std::fs::write(p.join("virtual"), "").unwrap();
            }
        }
    }
}

/// Panics with the command's stderr unless it exited 0.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test environment: a temp dir holding the database, a clock and a zone.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub db: PathBuf,
    pub tz: String,
    /// This test's own eBPF pin directory (see [`Env::with_ebpf`]); None: eBPF off.
    pub bpf_dir: Option<PathBuf>,
}

impl Env {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("state/nrec.db");
        Env {
            tmp,
            db,
            tz: "UTC".into(),
            bpf_dir: None,
        }
    }

    /// An environment whose recorders use eBPF with their own programs and maps, pinned
    /// under a directory of this test (tests run in parallel, each against its own database,
    /// and a recorder deletes the entries of exited processes once it has stored them).
    /// Detached again when the Env is dropped.
    pub fn with_ebpf() -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let mut e = Env::new();
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        e.bpf_dir = Some(PathBuf::from(format!(
            "/sys/fs/bpf/nrec-test-{}-{n}",
            std::process::id()
        )));
        e
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--db").arg(&self.db).args(args);
        c.env("TZ", &self.tz);
        c.env_remove("NREC_PROC_ROOT");
        c.env_remove("NREC_NOW");
        c.env_remove("NREC_DB");
        c.env_remove("NREC_BPF_MAX_ENTRIES");
        c.env_remove("NREC_BPF_CONN_ENTRIES");
        // Tests of the sock_diag path must not load eBPF into the host's default place.
        match &self.bpf_dir {
            Some(d) => c.env("NREC_EBPF", "auto").env("NREC_BPF_DIR", d),
            None => c.env("NREC_EBPF", "off").env_remove("NREC_BPF_DIR"),
        };
        c
    }

    /// `nrec record` of the fake proc at time `now` (RFC 3339).
    pub fn record(&self, p: &FakeProc, now: &str) -> Output {
        p.write();
        self.cmd(&["record"])
            .env("NREC_PROC_ROOT", p.path())
            .env("NREC_NOW", now)
            .output()
            .unwrap()
    }

    pub fn record_ok(&self, p: &FakeProc, now: &str) -> String {
        let out = self.record(p, now);
        assert!(
            out.status.success(),
            "record failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `nrec record -q` of the live host; panics with stderr if it fails.
    pub fn record_live(&self) {
        let out = self.cmd(&["record", "-q"]).output().unwrap();
        assert_success(&out);
    }

    pub fn report(&self, args: &[&str], now: &str) -> Output {
        self.cmd(&[&["report"], args].concat())
            .env("NREC_NOW", now)
            .output()
            .unwrap()
    }

    /// Runs `nrec ARGS` with "now" the real clock's; asserts success; its stdout.
    pub fn now_ok(&self, args: &[&str]) -> String {
        let out = self
            .cmd(args)
            .env("NREC_NOW", jiff::Timestamp::now().to_string())
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn report_ok(&self, args: &[&str], now: &str) -> String {
        let out = self.report(args, now);
        assert!(
            out.status.success(),
            "report {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// How many samples the database holds.
    pub fn samples(&self) -> i64 {
        self.sql()
            .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
            .unwrap()
    }

    /// Rows of `table`, read without writing (a daemon may be recording): 0 while the
    /// database cannot be read yet.
    pub fn rows(&self, table: &str) -> i64 {
        rusqlite::Connection::open_with_flags(&self.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| {
                c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .unwrap_or(0)
    }

    pub fn sql(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if self.bpf_dir.is_some() {
            let _ = self.cmd(&["setup", "--remove", "-q"]).output();
        }
    }
}

/// `top-procs`/`top-ports`/`top-hosts` (with any options) `--since 1h` as JSON: name → (rx, tx), and
/// the document.
pub fn top_json(
    env: &Env,
    what: &[&str],
) -> (
    std::collections::HashMap<String, (u64, u64)>,
    serde_json::Value,
) {
    let out = env
        .cmd(
            &[
                what,
                &["--since", "1h", "--format", "json", "--limit", "100000"],
            ]
            .concat(),
        )
        .env("NREC_NOW", jiff::Timestamp::now().to_string())
        .output()
        .unwrap();
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                (
                    r["rx_bytes"].as_u64().unwrap(),
                    r["tx_bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    (rows, v)
}

/// Polls `f` every 50 ms until it holds; panics after 20 s naming `what`.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `2026-11-22T10:MM:SSZ` + k minutes: the fixed clock of fixture runs.
pub fn at(minutes: i64) -> String {
    let t: jiff::Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
    (t + jiff::SignedDuration::from_secs(minutes * 60)).to_string()
}

/// Parses CSV text into header + rows (strings).
pub fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let h = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (h, rows)
}

/// The value of column `col` in `row`.
pub fn col<'a>(h: &[String], row: &'a [String], col: &str) -> &'a str {
    let i = h
        .iter()
        .position(|c| c == col)
        .unwrap_or_else(|| panic!("no column {col} in {h:?}"));
    &row[i]
}

pub fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Prints why a test did not run its body; CI is root, so this only shows elsewhere.
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

/// A TCP peer process with a chosen name (prctl PR_SET_NAME), driven over stdin/stdout:
/// the server prints its port and accepts one connection; both sides print "ready", then on
/// "go" the client sends `n` bytes and the server answers with `m` bytes, each prints "done"
/// and both stay alive (sockets open) until stdin closes. Bounded: n + m bytes, 20 s.
pub const PEER: &str = r#"
import ctypes, socket, sys
role, name, host, port, n, m = sys.argv[1], sys.argv[2].encode('latin-1'), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)
def recv_exact(s, k):
    got = 0
    while got < k:
        d = s.recv(min(65536, k - got))
        if not d: raise SystemExit("peer closed early")
        got += len(d)
if role == 'server':
    l = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
    l.bind((host, 0)); l.listen(1)
    print(l.getsockname()[1], flush=True)
    c, _ = l.accept(); c.settimeout(20)
    print('ready', flush=True)
    recv_exact(c, n); c.sendall(b's' * m)
else:
    # a loopback address of its own (127.x but 127.0.0.1) is both ends' remote host
    own = host.startswith('127.') and host != '127.0.0.1'
    c = socket.create_connection((host, port), timeout=20, source_address=(host, 0) if own else None)
    print('ready', flush=True)
    sys.stdin.readline()
    c.sendall(b'c' * n); recv_exact(c, m)
print('done', flush=True)
sys.stdin.read()
"#;

/// `python3`, inside network namespace `netns` (`ip netns exec`) when given.
pub fn python_in(netns: Option<&str>) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "python3"]);
            c
        }
        None => Command::new("python3"),
    }
}

pub struct Peer {
    pub child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Peer {
    /// Starts a peer, optionally inside network namespace `netns` (`ip netns exec`).
    pub fn spawn(netns: Option<&str>, args: &[&str]) -> Peer {
        let mut cmd = python_in(netns);
        let mut child = cmd
            .arg("-c")
            .arg(PEER)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the test peers");
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        Peer { child, out }
    }

    pub fn line(&mut self) -> String {
        let mut s = String::new();
        std::io::BufRead::read_line(&mut self.out, &mut s).unwrap();
        s.trim_end().to_string()
    }

    pub fn say(&mut self, s: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{s}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A server peer named `names.0` and a client peer named `names.1`, connected over 127.0.0.1
/// and ready: on "go" the client sends `n` bytes and the server answers with `m`.
pub fn peer_pair(names: (&str, &str), n: u64, m: u64) -> (Peer, Peer) {
    let (n, m) = (n.to_string(), m.to_string());
    let mut srv = Peer::spawn(None, &["server", names.0, "127.0.0.1", "0", &n, &m]);
    let port = srv.line();
    let mut cli = Peer::spawn(None, &["client", names.1, "127.0.0.1", &port, &n, &m]);
    assert_eq!(cli.line(), "ready");
    assert_eq!(srv.line(), "ready");
    (srv, cli)
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // ends the peer
        let _ = self.child.wait();
    }
}

/// `bin` run as `nobody` (no groups, no capabilities), via setpriv.
/// Runs the command `make` builds, again while its program is "text file busy" (ETXTBSY): a
/// program the test just copied is held open for writing by any child another test forked
/// during the copy, until that child execs (a moment).
pub fn output_of_copy(make: impl Fn() -> Command) -> Output {
    for _ in 0..50 {
        let out = make().output().unwrap();
        if !String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("text file busy for 5 s: {:?}", make());
}

pub fn as_nobody(bin: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid",
        "nobody",
        "--regid",
        "nogroup",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(bin);
    c
}

/// The `value` of rule `rule` in `nrec alerts --format json`.
pub fn alert_value(doc: &serde_json::Value, rule: &str) -> u64 {
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap_or_else(|| panic!("no rule {rule}: {doc}"))["value"]
        .as_u64()
        .unwrap()
}
