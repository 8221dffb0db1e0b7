//! `nrec top` (issue 15): the screen driven through tmux (keys, resize, quit and SIGTERM
//! restore the terminal), batch mode's rows against the bytes a process sent, and a `top`
//! session leaving the recorder's eBPF numbers unchanged.

use crate::harness::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A process named `name` that connects to `port` on 127.0.0.1 and sends `rate` bytes per
/// second in 20 ms steps on an absolute schedule, for `secs` seconds (bounded: rate × secs).
const PACED: &str = r#"
import ctypes, socket, sys, time
name, port, rate, secs = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)
c = socket.create_connection(('127.0.0.1', port), timeout=20)
step = rate // 50
t0 = time.monotonic()
k = 0
while time.monotonic() - t0 < secs:
    c.sendall(b'x' * step)
    k += 1
    time.sleep(max(0.0, t0 + k * 0.02 - time.monotonic()))
sys.stdin.read()
"#;

/// A sink named `name` on 127.0.0.1 that prints its port and reads everything.
const SINK: &str = r#"
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(sys.argv[1].encode()), 0, 0, 0)
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
while c.recv(1 << 16): pass
"#;

/// A child that is ended (stdin closed, then killed by PID) when dropped.
pub(crate) struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python(script: &str, args: &[&str]) -> Child {
    Child(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    )
}

/// A sink and a sender (named so) sending it 1 MB/s over loopback for `secs`; the sink's port.
fn paced_pair(sink: &str, sender: &str, secs: u32) -> (Child, Child, String) {
    let mut sink = python(SINK, &[sink]);
    let mut l = String::new();
    std::io::BufReader::new(sink.0.stdout.as_mut().unwrap())
        .read_line(&mut l)
        .unwrap();
    let port = l.trim().to_string();
    let send = python(PACED, &[sender, &port, "1000000", &secs.to_string()]);
    (sink, send, port)
}

/// The screen tests rank the host's processes by rate and name: one at a time, so that one
/// test's senders do not take the rows another one reads.
static SCREEN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_screen_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SCREEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tmux server of this test's own (its socket named after the test), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits up to `secs` for the screen to satisfy `ok`; the last screen.
    fn wait_for(&self, secs: u64, ok: impl Fn(&str) -> bool) -> (bool, String) {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if ok(&s) {
                return (true, s);
            }
            if Instant::now() > end {
                return (false, s);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // a failed test must not leave its `nrec top` behind (it also ends on the terminal's
        // hang-up below; this does not rely on it)
        if let Some(pid) = nrec_child(self) {
            // SAFETY: a signal to the nrec process this test started
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// "488.3 KiB/s" → bytes per second.
fn per_s(text: &str) -> Option<f64> {
    let t = text.strip_suffix("/s")?;
    let (n, unit) = t.split_once(' ')?;
    let n: f64 = n.parse().ok()?;
    let mul = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * mul)
}

/// The (rx/s, tx/s) of the screen's row starting with `name`.
fn row_rates(screen: &str, name: &str) -> Option<(f64, f64)> {
    line_rates(screen.lines().find(|l| l.starts_with(name))?)
}

/// The (rx/s, tx/s) of a row.
fn line_rates(line: &str) -> Option<(f64, f64)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let rates: Vec<f64> = words
        .windows(2)
        .filter_map(|w| per_s(&format!("{} {}", w[0], w[1])))
        .collect();
    Some((*rates.first()?, *rates.get(1)?))
}

fn wait_file(p: &Path, secs: u64) -> Option<String> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Ok(s) = std::fs::read_to_string(p) {
            if s.ends_with('\n') {
                return Some(s);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A tmux server of this test's own running `command` in a 160×40 window.
fn tmux_with(name: &str, command: &str) -> Tmux {
    tmux_sized(name, command, (160, 40))
}

/// A tmux server of this test's own running `command` in a window of (columns, lines).
fn tmux_sized(name: &str, command: &str, (w, h): (u16, u16)) -> Tmux {
    let tmux = Tmux {
        socket: format!("nrec-test-{name}-{}", std::process::id()),
    };
    let (w, h) = (w.to_string(), h.to_string());
    tmux.run(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        &w,
        "-y",
        &h,
        command,
    ]);
    tmux
}

fn have_tmux() -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (CI installs it)");
        return false;
    }
    true
}

/// The pid of `nrec` running as the child of the pane's shell.
/// What a `nrec top` that did not end was doing: its state, where it waits in the kernel
/// (each thread's), and the screen — for the failure's message.
fn stuck(tmux: &Tmux) -> String {
    let Some(pid) = nrec_child(tmux) else {
        return "no nrec process under the pane".into();
    };
    let read = |p: String| std::fs::read_to_string(p).unwrap_or_default();
    let mut out = format!("pid {pid}\n");
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            let t = t.path();
            out += &format!(
                "thread {}: {} wchan {}\n{}",
                t.display(),
                read(format!("{}/stat", t.display())).trim(),
                read(format!("{}/wchan", t.display())),
                read(format!("{}/stack", t.display()))
            );
        }
    }
    let screen = Command::new("tmux")
        .arg("-L")
        .arg(&tmux.socket)
        .args(["capture-pane", "-p", "-t", "t"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out + "\nscreen:\n" + &screen
}

fn nrec_child(tmux: &Tmux) -> Option<u32> {
    // no assertion: also called while a failed test unwinds
    let out = Command::new("tmux")
        .arg("-L")
        .arg(&tmux.socket)
        .args(["display", "-p", "-t", "t", "#{pane_pid}"])
        .output()
        .ok()?;
    let shell: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let kids = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
    kids.split_whitespace()
        .filter_map(|k| k.parse::<u32>().ok())
        .find(|k| {
            std::fs::read_to_string(format!("/proc/{k}/comm")).is_ok_and(|c| c.trim() == "nrec")
        })
}

#[test]
fn the_screen_shows_a_sender_switches_views_and_always_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let _one = one_screen_at_a_time();
    let env = Env::new();
    let dir = env.tmp.path();
    // the pane's shell records the terminal's settings, runs `nrec top` twice (the first
    // ended by q, the second by SIGTERM) and records the settings after each
    let script = dir.join("pane.sh");
    let top = format!(
        "TZ=UTC NREC_EBPF=off {} --db {} top -d 1",
        BIN,
        env.db.display()
    );
    std::fs::write(
        &script,
        format!(
            "cd {d}\nstty -g > before\n{top}\necho $? > rc1\nstty -g > after1\n\
             {top}\necho $? > rc2\nstty -g > after2\nexec sleep 600\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let tmux = tmux_with("keys", &format!("sh {}", script.display()));
    let (up, s) = tmux.wait_for(10, |s| s.contains("nrec top —"));
    assert!(up, "the screen never appeared:\n{s}");
    // the recorder samples before the sender starts and while it sends
    env.record_live();
    // a named sender at 1 MB/s over loopback (bounded: 12 s)
    let (_sink, _send, port) = paced_pair("nrtop-sink", "nrtop-send", 12);
    let rate = 1_000_000.0;
    // its row appears with a rate within 10 % of what it sends
    let (seen, s) = tmux.wait_for(8, |s| {
        row_rates(s, "nrtop-send").is_some_and(|(_, tx)| (tx - rate).abs() <= rate * 0.1)
    });
    assert!(seen, "no nrtop-send row at 1 MB/s ± 10 %:\n{s}");
    let (rx, _) = row_rates(&s, "nrtop-sink").expect("the sink's row");
    assert!((rx - rate).abs() <= rate * 0.1, "sink at {rx} B/s:\n{s}");
    env.record_live();
    // the selected (top) row's recorded history, read again once the sample is stored
    let (ok, s) = tmux.wait_for(6, |s| {
        s.lines().any(|l| {
            l.contains("recorded, last hour:")
                && l.contains("nrtop-s")
                && !l.contains(": 0 B in all")
        })
    });
    assert!(ok, "history of the selected row:\n{s}");
    // H: the last day instead, the same bytes (H again: the hour)
    let hour = s
        .lines()
        .find(|l| l.contains("recorded, last hour:"))
        .and_then(|l| l.split(" in all").next())
        .and_then(|l| l.split(": ").nth(1))
        .unwrap()
        .to_string();
    tmux.run(&["send-keys", "-t", "t", "H"]);
    let (ok, s) = tmux.wait_for(4, |s| {
        s.contains(&format!("recorded, last day: {hour} in all"))
    });
    assert!(ok, "the day's history holds the hour's {hour}:\n{s}");
    tmux.run(&["send-keys", "-t", "t", "H"]);
    // step back: the interval between the two samples, from the database
    tmux.run(&["send-keys", "-t", "t", "["]);
    let (ok, s) = tmux.wait_for(4, |s| {
        s.contains("RECORDED interval") && s.lines().any(|l| l.starts_with("nrtop-send"))
    });
    assert!(ok, "a recorded interval:\n{s}");
    tmux.run(&["send-keys", "-t", "t", "["]);
    let (ok, s) = tmux.wait_for(4, |s| s.contains("no recorded interval that far back"));
    assert!(ok, "before the first interval:\n{s}");
    tmux.run(&["send-keys", "-t", "t", "L"]);
    let (ok, s) = tmux.wait_for(4, |s| {
        !s.contains("RECORDED") && s.contains("interfaces rx ")
    });
    assert!(ok, "live again:\n{s}");
    // keys: the connections view shows the sender's connection and its owner; sort cycles
    tmux.run(&["send-keys", "-t", "t", "2"]);
    let (ok, s) = tmux.wait_for(4, |s| {
        s.contains("CONNECTION")
            && s.contains(&format!("127.0.0.1:{port}"))
            && s.contains("nrtop-send (")
    });
    assert!(ok, "connections view:\n{s}");
    tmux.run(&["send-keys", "-t", "t", "s"]);
    let (ok, s) = tmux.wait_for(4, |s| s.contains("│ sort rx"));
    assert!(ok, "sort key:\n{s}");
    tmux.run(&["send-keys", "-t", "t", "3"]);
    let (ok, s) = tmux.wait_for(4, |s| {
        s.contains("PORT") && s.contains(&format!("tcp/{port}"))
    });
    assert!(ok, "ports view:\n{s}");
    tmux.run(&[
        "send-keys",
        "-t",
        "t",
        "/",
        "n",
        "r",
        "t",
        "o",
        "p",
        "Enter",
        "1",
    ]);
    let (ok, s) = tmux.wait_for(4, |s| {
        s.contains("│ filter nrtop")
            && s.lines().any(|l| l.starts_with("nrtop-send"))
            && !s.contains("(unattributed)")
    });
    assert!(ok, "filter:\n{s}");
    // a resize redraws at the new size
    tmux.run(&["resize-window", "-t", "t", "-x", "100", "-y", "30"]);
    let (ok, s) = tmux.wait_for(4, |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.len() == 30 && lines[29].starts_with("q quit") && lines[0].starts_with("nrec top")
    });
    assert!(ok, "after a resize to 100x30:\n{s}");
    assert!(s.lines().all(|l| l.chars().count() <= 100), "{s}");
    // q ends it: exit 0, the main screen back, the cursor shown, the tty settings as before
    tmux.run(&["send-keys", "-t", "t", "q"]);
    // (generous: with the whole suite on 2 CPUs this once took longer than 10 s)
    let rc = wait_file(&dir.join("rc1"), 30)
        .unwrap_or_else(|| panic!("q did not end nrec top in 30 s: {}", stuck(&tmux)));
    assert_eq!(rc.trim(), "0");
    let before = std::fs::read_to_string(dir.join("before")).unwrap();
    let after = wait_file(&dir.join("after1"), 5).unwrap();
    assert_eq!(before, after, "stty settings changed by q");
    // the second run: SIGTERM, by its PID
    let (up, s) = tmux.wait_for(10, |s| s.contains("nrec top —"));
    assert!(up, "second run:\n{s}");
    let state = tmux.run(&["display", "-p", "-t", "t", "#{alternate_on}"]);
    assert_eq!(state.trim(), "1", "nrec top draws on the alternate screen");
    let pid = nrec_child(&tmux).expect("nrec top's pid");
    // SAFETY: a signal to the nrec process this test started (the pane's child)
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let rc = wait_file(&dir.join("rc2"), 30)
        .unwrap_or_else(|| panic!("SIGTERM did not end nrec top in 30 s: {}", stuck(&tmux)));
    assert_eq!(rc.trim(), "0");
    let after = wait_file(&dir.join("after2"), 5).unwrap();
    assert_eq!(before, after, "stty settings changed by SIGTERM");
    let state = tmux.run(&["display", "-p", "-t", "t", "#{alternate_on} #{cursor_flag}"]);
    assert_eq!(
        state.trim(),
        "0 1",
        "main screen and cursor back after SIGTERM"
    );
    // a closed terminal (the tmux server gone) ends it too, instead of leaving it behind
    // (opened on the interfaces, which have no row before the first refresh: the first row
    // is selected when they come, with its graph)
    let hup = tmux_with("hup", &format!("{top} --view ifaces"));
    let (up, s) = hup.wait_for(10, |s| {
        s.contains("nrec top —") && s.lines().any(|l| l.contains(" rx: now "))
    });
    assert!(up, "third run, the interfaces' graph:\n{s}");
    let pid: u32 = hup
        .run(&["display", "-p", "-t", "t", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    hup.run(&["kill-server"]);
    let end = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z "),
        "nrec top still runs after its terminal closed: {state}"
    );
}

/// Where `nrec top -b` counts processes from.
pub(crate) enum Bpf<'a> {
    /// NREC_EBPF=off: their TCP connections (sock_diag).
    Off,
    /// Nothing pinned where it looks: a private instance for the session.
    Private,
    /// The recorder's maps pinned in this directory.
    Pinned(&'a PathBuf),
}

/// Runs `nrec top -b` with `args`, reading its stdout line by line.
pub(crate) fn batch(
    env: &Env,
    args: &[&str],
    bpf: Bpf,
) -> (
    Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    let mut c = env.cmd(&[&["top", "-b"][..], args].concat());
    match bpf {
        Bpf::Off => {}
        Bpf::Private => {
            let none = format!("/sys/fs/bpf/nrec-test-none-{}", std::process::id());
            c.env("NREC_EBPF", "auto").env("NREC_BPF_DIR", none);
        }
        Bpf::Pinned(d) => {
            c.env("NREC_EBPF", "auto").env("NREC_BPF_DIR", d);
        }
    }
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    (Child(child), out)
}

#[test]
fn batch_rows_parse_and_add_up_to_the_bytes_sent() {
    let env = Env::new();
    let root = is_root();
    // sock_diag, and (root) a private eBPF instance for the session
    for ebpf in [false, true] {
        if ebpf && !root {
            eprintln!("SKIPPED (eBPF half): needs root");
            continue;
        }
        let n = 3_000_000u64;
        let names = if ebpf {
            ("nrtb-srv-e", "nrtb-cli-e")
        } else {
            ("nrtb-srv-s", "nrtb-cli-s")
        };
        let (mut srv, mut cli) = peer_pair(names, n, 1000);
        let mut args = vec!["-d", "0.5", "-n", "5", "--format", "csv"];
        if !ebpf {
            args.push("--no-ebpf");
        }
        let (mut top, mut lines) = batch(&env, &args, if ebpf { Bpf::Private } else { Bpf::Off });
        let header = lines.next().unwrap().unwrap();
        // the first block is printed after the baseline: the transfer is inside the run
        let first = lines.next().unwrap().unwrap();
        assert!(first.contains(",processes,"), "{first}");
        cli.say("go");
        assert_eq!((cli.line(), srv.line()), ("done".into(), "done".into()));
        let mut text = format!("{header}\n{first}\n");
        for l in lines {
            text.push_str(&l.unwrap());
            text.push('\n');
        }
        let status = top.0.wait().unwrap();
        assert!(status.success(), "nrec top -b: {status}");
        let mut err = String::new();
        std::io::Read::read_to_string(&mut top.0.stderr.take().unwrap(), &mut err).unwrap();
        if ebpf {
            // eBPF counted the processes (and the sockets were not read: the processes view)
            assert!(!err.contains("eBPF off"), "{err}");
            let pins = format!("/sys/fs/bpf/nrec-top-{}", top.0.id());
            assert!(!Path::new(&pins).exists(), "{pins} outlived nrec top");
        } else {
            assert!(err.contains("eBPF off"), "{err}");
        }
        let (h, rows) = parse_csv(&text);
        assert_eq!(
            h,
            [
                "host",
                "time",
                "view",
                "key",
                "detail",
                "rx_bytes",
                "tx_bytes",
                "rx_bytes_per_s",
                "tx_bytes_per_s",
                "rx_total_bytes",
                "tx_total_bytes"
            ]
        );
        // a block per refresh, each ending with its (unattributed) row
        let blocks = rows
            .iter()
            .filter(|r| col(&h, r, "key") == "(unattributed)")
            .count();
        assert_eq!(blocks, 5, "five blocks: {text}");
        let of = |name: &str, c: &str| -> Vec<u64> {
            rows.iter()
                .filter(|r| col(&h, r, "key") == name)
                .map(|r| col(&h, r, c).parse().unwrap())
                .collect()
        };
        // the server received n: its total over the run, and the sum of its intervals
        let total = *of(names.0, "rx_total_bytes")
            .last()
            .expect("the server's rows");
        let summed: u64 = of(names.0, "rx_bytes").iter().sum();
        assert_eq!(total, summed);
        let off = (total as f64 - n as f64).abs() / n as f64;
        assert!(
            off <= 0.02,
            "ebpf {ebpf}: server rx {total} vs {n} sent\n{text}"
        );
        let sent = *of(names.1, "tx_total_bytes")
            .last()
            .expect("the client's rows");
        assert!(
            (sent as f64 - n as f64).abs() / n as f64 <= 0.02,
            "client tx {sent}"
        );
        // each block adds up: rows + (unattributed) = the interfaces' bytes
        drop(srv);
        drop(cli);
    }
    // JSON: one document, the rows streamed into it
    let (mut top, lines) = batch(
        &env,
        &[
            "-d",
            "0.3",
            "-n",
            "2",
            "--format",
            "json",
            "--view",
            "ifaces",
            "--no-ebpf",
        ],
        Bpf::Off,
    );
    let text: String = lines.map(|l| l.unwrap() + "\n").collect();
    assert!(top.0.wait().unwrap().success());
    let doc: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc["command"], "top");
    assert_eq!(doc["view"], "interfaces");
    let rows = doc["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["key"] == "lo"), "{text}");
    // bad arguments are one-line usage errors
    for bad in [&["-d", "0"][..], &["-n", "0"], &["--format", "svg"]] {
        let out = env
            .cmd(&[&["top", "-b"][..], bad].concat())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
    // without a terminal and without -b: refused, pointing at batch mode
    let out = env.cmd(&["top"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-b"));
}

#[test]
fn a_top_session_leaves_the_recorders_ebpf_numbers_unchanged() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (eBPF)");
        return;
    }
    let env = Env::with_ebpf();
    let (n, m) = (2_000_000u64, 300_000u64);
    let (mut srv, mut cli) = peer_pair(("nrtr-srv", "nrtr-cli"), n, m);
    env.record_live();
    // top reads the recorder's pinned maps (read only) through the whole transfer
    let (mut top, mut lines) = batch(
        &env,
        &["-d", "0.2", "-n", "1000", "--format", "json"],
        Bpf::Pinned(env.bpf_dir.as_ref().unwrap()),
    );
    // the document opens after the baseline, each block's rows follow
    let mut text = String::new();
    while !text.contains("\"rows\":[") {
        text.push_str(&lines.next().unwrap().unwrap());
        text.push('\n');
    }
    cli.say("go");
    assert_eq!((cli.line(), srv.line()), ("done".into(), "done".into()));
    std::thread::sleep(Duration::from_millis(600));
    env.record_live();
    std::thread::sleep(Duration::from_millis(300));
    env.record_live();
    // SIGTERM ends batch mode cleanly: the JSON document is closed
    // SAFETY: a signal to the child this test started
    assert_eq!(unsafe { libc::kill(top.0.id() as i32, libc::SIGTERM) }, 0);
    for l in lines {
        text.push_str(&l.unwrap());
        text.push('\n');
    }
    assert!(top.0.wait().unwrap().success());
    let doc: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc["source"], "ebpf (the recorder's, read only)");
    let seen = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["key"] == "nrtr-srv")
        .filter_map(|r| r["rx_total_bytes"].as_u64())
        .max();
    assert_eq!(seen, Some(n), "top's total for the server: {text}");
    // the recorder credits the server exactly what it moved
    let (h, rows) = parse_csv(&env.now_ok(&["top-procs", "--since", "1h", "--format", "csv"]));
    let srv_row = rows
        .iter()
        .find(|r| col(&h, r, "name") == "nrtr-srv")
        .expect("the server's row");
    assert_eq!(col(&h, srv_row, "rx_bytes"), n.to_string());
    assert_eq!(col(&h, srv_row, "tx_bytes"), m.to_string());
    drop(srv);
    drop(cli);
}

/// A panic on the screen (the test hook) leaves the terminal as it was: main screen, cursor,
/// tty settings; the panic's message on stderr.
#[cfg(feature = "test-hooks")]
#[test]
fn a_panic_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    let dir = env.tmp.path();
    let script = dir.join("pane.sh");
    std::fs::write(
        &script,
        format!(
            "cd {d}\nstty -g > before\nNREC_TEST_PANIC=1 NREC_EBPF=off {BIN} --db {db} top -d 1 \
             2> err\necho $? > rc\nstty -g > after\nexec sleep 600\n",
            d = dir.display(),
            db = env.db.display()
        ),
    )
    .unwrap();
    let tmux = tmux_with("panic", &format!("sh {}", script.display()));
    let rc = wait_file(&dir.join("rc"), 10).expect("the panic ends nrec top");
    assert_eq!(rc.trim(), "101", "a panic's exit status");
    let err = std::fs::read_to_string(dir.join("err")).unwrap();
    assert!(
        err.contains("NREC_TEST_PANIC"),
        "the panic's message: {err}"
    );
    let before = std::fs::read_to_string(dir.join("before")).unwrap();
    let after = wait_file(&dir.join("after"), 5).unwrap();
    assert_eq!(before, after, "stty settings changed by a panic");
    let state = tmux.run(&["display", "-p", "-t", "t", "#{alternate_on} #{cursor_flag}"]);
    assert_eq!(
        state.trim(),
        "0 1",
        "main screen and cursor back after a panic"
    );
}

/// With eBPF counting the processes, the sockets are read only while a connection view is
/// shown: the processes view's numbers come from eBPF alone, and the connections' totals say
/// which part of the session they cover.
#[test]
fn with_ebpf_the_connections_are_read_while_a_connection_view_shows() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (eBPF)");
        return;
    }
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    // nothing pinned in this directory: top loads a private instance of its own
    let bpf = format!("/sys/fs/bpf/nrec-test-top-{}", std::process::id());
    let tmux = tmux_with(
        "ebpf",
        &format!(
            "TZ=UTC NREC_EBPF=auto NREC_BPF_DIR={bpf} {BIN} --db {} top -d 1",
            env.db.display()
        ),
    );
    let (up, s) = tmux.wait_for(15, |s| s.contains("processes from ebpf (private"));
    assert!(up, "nrec top with its private eBPF instance:\n{s}");
    let pid = nrec_child(&tmux).or_else(|| {
        let p = tmux.run(&["display", "-p", "-t", "t", "#{pane_pid}"]);
        p.trim().parse().ok()
    });
    let pid = pid.expect("nrec top's pid");
    let pinned = PathBuf::from(format!("/sys/fs/bpf/nrec-top-{pid}"));
    assert!(pinned.exists(), "the private instance's pins");
    let (_sink, _send, port) = paced_pair("nrtop-esink", "nrtop-esend", 14);
    let rate = 1_000_000.0;
    let near = |r: f64| (r - rate).abs() <= rate * 0.1;
    let (seen, s) = tmux.wait_for(8, |s| {
        row_rates(s, "nrtop-esend").is_some_and(|(_, tx)| near(tx))
            && row_rates(s, "nrtop-esink").is_some_and(|(rx, _)| near(rx))
    });
    assert!(seen, "eBPF's sender and sink at 1 MB/s ± 10 %:\n{s}");
    // connections: read from the next refresh on; the sender's at its rate
    tmux.run(&["send-keys", "-t", "t", "2"]);
    let conn = format!("↔ 127.0.0.1:{port} ");
    let (ok, s) = tmux.wait_for(5, |s| {
        s.lines()
            .find(|l| l.contains(&conn))
            .and_then(line_rates)
            .is_some_and(|(_, tx)| near(tx))
    });
    assert!(ok, "the sender's connection at 1 MB/s ± 10 %:\n{s}");
    // their totals cover the seconds they were read, fewer than the session's
    let note = s
        .lines()
        .find(|l| l.starts_with("TOTAL: the "))
        .unwrap_or_else(|| panic!("what the connections' totals cover:\n{s}"));
    let secs: Vec<f64> = note
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        secs.len() >= 2 && secs[0] >= 1.0 && secs[0] < secs[1],
        "{note}"
    );
    tmux.run(&["send-keys", "-t", "t", "q"]);
    let end = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}/comm")).exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!pinned.exists(), "the private instance outlived nrec top");
}

/// The screen's highlighted line (reverse video), without its escape sequences.
fn highlighted(tmux: &Tmux) -> Option<String> {
    let s = tmux.run(&["capture-pane", "-p", "-e", "-t", "t"]);
    let line = s
        .lines()
        .find(|l| l.contains("\x1b[7m") || l.contains("\x1b[0;7m"))?;
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The chart rows of the recorded-history panel: the lines between its title and its axis.
fn chart_rows(screen: &str) -> (Vec<String>, String) {
    let lines: Vec<&str> = screen.lines().collect();
    let title = lines
        .iter()
        .position(|l| l.starts_with("recorded, last"))
        .unwrap_or_else(|| panic!("no history panel:\n{screen}"));
    let rows = lines[title + 1..title + 4]
        .iter()
        .map(|l| l.to_string())
        .collect();
    (rows, lines[title + 4].to_string())
}

/// The rightmost column a chart draws a bar in.
fn last_bar(rows: &[String]) -> Option<usize> {
    rows.iter()
        .filter_map(|l| {
            l.chars()
                .enumerate()
                .filter(|(_, c)| "▁▂▃▄▅▆▇█".contains(*c))
                .map(|(i, _)| i)
                .last()
        })
        .max()
}

/// Clock labels (`HH:MM`) on an axis line.
fn clock_labels(axis: &str) -> usize {
    axis.split_whitespace()
        .filter(|w| {
            w.len() == 5 && w.as_bytes()[2] == b':' && w.replace(':', "").parse::<u32>().is_ok()
        })
        .count()
}

/// Issue 31 items 4–6, at 80×24 and 200×50: the selection is a row's key, not a position (a
/// row sorting in above it leaves the highlight on it; when its process stops the screen
/// says so); the history chart spans the width with a clock axis, in the hour and the day
/// view; the help box holds its lines whole; the last column has room at 80 columns.
#[test]
fn the_selection_follows_its_row_and_the_charts_fit_the_terminal() {
    if !have_tmux() {
        return;
    }
    let _one = one_screen_at_a_time();
    let env = Env::new();
    env.record_live();
    let (_sa, send_a, _) = paced_pair("nrsel-sa", "nrsel-a", 40);
    let (_sb, send_b, _) = paced_pair("nrsel-sb", "nrsel-b", 40);
    std::thread::sleep(Duration::from_millis(1500));
    env.record_live(); // the history below the table has bytes in its newest minute
    let top = format!(
        "TZ=UTC NREC_EBPF=off {} --db {} top -d 1 --sort name",
        BIN,
        env.db.display()
    );
    let tmux = tmux_sized("select", &top, (80, 24));
    let (ok, s) = tmux.wait_for(10, |s| {
        ["nrsel-a ", "nrsel-b ", "nrsel-sa", "nrsel-sb"]
            .iter()
            .all(|n| s.contains(n))
    });
    assert!(ok, "the four rows:\n{s}");
    // by name: nrsel-a first (selected); ↓ (↑) until nrsel-b is (a row without bytes in
    // one refresh is not there: the keys move over the rows on screen)
    let end = Instant::now() + Duration::from_secs(8);
    loop {
        let h = highlighted(&tmux).unwrap_or_default();
        if h.starts_with("nrsel-b ") {
            break;
        }
        assert!(
            Instant::now() < end,
            "nrsel-b not selected:\n{}",
            tmux.screen()
        );
        let key = if h.as_str() < "nrsel-b" { "Down" } else { "Up" };
        tmux.run(&["send-keys", "-t", "t", key]);
        std::thread::sleep(Duration::from_millis(400));
    }
    // a row sorting in above it moves nrsel-b down a line: the highlight goes with it
    let (_s0, _send0, _) = paced_pair("nrsel-s0", "nrsel-0", 20);
    let (ok, s) = tmux.wait_for(6, |s| s.lines().any(|l| l.starts_with("nrsel-0 ")));
    assert!(ok, "nrsel-0 never appeared:\n{s}");
    std::thread::sleep(Duration::from_millis(1200));
    let h = highlighted(&tmux).unwrap_or_default();
    assert!(
        h.starts_with("nrsel-b "),
        "the highlight left nrsel-b: {h:?}\n{}",
        tmux.screen()
    );
    assert!(
        tmux.screen().contains("— nrsel-b"),
        "the history is nrsel-b's:\n{}",
        tmux.screen()
    );
    // the chart: bars up to the right edge (the newest minute), a clock axis under it
    let (rows, axis) = chart_rows(&tmux.screen());
    let bar = last_bar(&rows).unwrap_or(0);
    assert!(
        bar >= 76,
        "the newest bars at column {bar} of 80:\n{}",
        rows.join("\n")
    );
    assert!(clock_labels(&axis) >= 3, "axis {axis:?}");
    tmux.run(&["send-keys", "-t", "t", "H"]);
    let (ok, s) = tmux.wait_for(4, |s| s.contains("recorded, last day"));
    assert!(ok, "{s}");
    let (rows, axis) = chart_rows(&s);
    assert!(
        last_bar(&rows).unwrap_or(0) >= 77,
        "the day at 80 columns:\n{s}"
    );
    assert!(clock_labels(&axis) >= 3, "axis {axis:?}");
    // its process stops: nrsel-b stays selected, and the screen says why it has no row
    drop(send_b);
    let (ok, s) = tmux.wait_for(8, |s| s.contains("selected nrsel-b: no bytes this refresh"));
    assert!(ok, "nothing said of the stopped nrsel-b:\n{s}");
    // the help box holds every line whole at 80 columns
    tmux.run(&["send-keys", "-t", "t", "?"]);
    // the whole box, not the first frame tmux shows of it (its lines arrive in parts)
    let (_, s) = tmux.wait_for(4, |s| s.contains(" help ") && s.contains("accounts for."));
    for whole in [
        "(unattributed): what the interfaces carried that no row",
        "accounts for.",
        "[ ]  step back (and forward) through recorded intervals:",
    ] {
        assert!(s.contains(whole), "help line {whole:?} cut:\n{s}");
    }
    tmux.run(&["send-keys", "-t", "t", "Escape"]);
    // the box is gone before the next key: an Escape and a `3` read together are Alt-3
    let (ok, s) = tmux.wait_for(4, |s| !s.contains(" help "));
    assert!(ok, "Escape left the help box:\n{s}");
    // the ports view at 80 columns: the processes behind a port are readable
    tmux.run(&["send-keys", "-t", "t", "3"]);
    let (ok, s) = tmux.wait_for(6, |s| {
        s.lines()
            .any(|l| l.starts_with("tcp/") && l.contains("nrsel-sa"))
    });
    assert!(ok, "the ports' PROCESSES column at 80 columns:\n{s}");
    // 200×50: the hour's chart spans the width (the first row's history, recorded now)
    tmux.run(&["send-keys", "-t", "t", "1"]);
    tmux.run(&["send-keys", "-t", "t", "H"]);
    env.record_live();
    tmux.run(&["resize-window", "-t", "t", "-x", "200", "-y", "50"]);
    let (ok, s) = tmux.wait_for(6, |s| {
        s.lines().count() == 50
            && s.contains("recorded, last hour")
            && last_bar(&chart_rows(s).0).is_some()
    });
    assert!(ok, "{s}");
    let (rows, axis) = chart_rows(&s);
    let bar = last_bar(&rows).unwrap_or(0);
    assert!(
        bar >= 193,
        "the newest bars at column {bar} of 200:\n{}",
        rows.join("\n")
    );
    assert!(clock_labels(&axis) >= 5, "axis {axis:?}");
    assert!(s.lines().all(|l| l.chars().count() <= 200));
    drop(send_a);
}
