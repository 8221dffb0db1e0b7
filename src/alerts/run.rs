//! What a firing does: a line in the journal, and the rule's command — argv as configured
//! (no shell), the details in `NREC_ALERT_*` and as JSON on stdin, its process group killed
//! at the deadline, its outcome stored with the firing.

use super::evaluate::Firing;
use super::rules::Limit;
use nrec_model::names::escape_bytes;
use nrec_report::output::iso;
use nrec_store::Writer;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

impl Firing {
    /// The JSON document the command reads on stdin.
    pub fn json(&self) -> serde_json::Value {
        let r = &self.rule;
        let (unit, limit, period, span) = match r.limit {
            Limit::Volume { bytes, period } => {
                ("bytes", bytes as f64, period.name().to_string(), None)
            }
            Limit::Rate {
                bits_per_s,
                minutes,
            } => (
                "bits_per_s",
                bits_per_s,
                format!("{minutes}min"),
                Some(minutes),
            ),
        };
        serde_json::json!({
            "rule": r.name,
            "host": self.host,
            "subject_kind": r.subject.kind(),
            "subject": r.subject_text(),
            "scope": r.scope.as_ref().map(|(sc, _)| sc.name()),
            "matched": self.status.matched.join(" "),
            "direction": r.direction.name(),
            "type": if span.is_some() { "rate" } else { "volume" },
            "period": period,
            "period_start": iso(self.status.start_ms, &self.tz),
            "period_end": iso(self.status.end_ms, &self.tz),
            "unit": unit,
            "value": self.status.value.round() as i64,
            "limit": limit.round() as i64,
            "level": format!("{}%", self.level.unwrap_or(100)),
            "fired_at": self.status.last.as_ref().map(|f| iso(f.fired_ms, &self.tz)),
            "text": self.text,
        })
    }

    /// The `NREC_ALERT_*` variables: the JSON's fields, flat.
    fn env(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if let serde_json::Value::Object(m) = self.json() {
            for (k, val) in m {
                let s = match val {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                v.push((format!("NREC_ALERT_{}", k.to_ascii_uppercase()), s));
            }
        }
        v
    }
}

/// Says on stderr (the journal, under systemd) what fired, then runs the rules' commands,
/// each in its own thread with its deadline; returns the threads (the daemon keeps
/// sampling; `record` joins them). Each command's outcome is stored with its firing.
pub fn notify(db: &Path, fired: Vec<Firing>) -> Vec<std::thread::JoinHandle<()>> {
    // In the journal an alert is a warning (`journalctl -p warning` shows it), not info.
    let warning = if nrec_sys::stderr_is_journal() {
        "<4>"
    } else {
        ""
    };
    let mut threads = Vec::new();
    for f in fired {
        // Printed whatever -q says: an alert is what the rule was written to be told.
        eprintln!("{warning}nrec: alert {}: {}", f.rule.name, f.text);
        if f.rule.command.is_empty() {
            continue;
        }
        let db = db.to_path_buf();
        threads.push(std::thread::spawn(move || {
            let outcome = run_command(&f);
            if !outcome.starts_with("exit 0") {
                eprintln!(
                    "{warning}nrec: alert {}: command {}: {outcome}",
                    f.rule.name,
                    escape_bytes(f.rule.command[0].as_bytes())
                );
            }
            let period = f.status.last.as_ref().map_or(0, |l| l.period);
            let key = f
                .level
                .map_or_else(|| f.rule.name.clone(), |l| f.rule.level_key(l));
            let stored = Writer::open(&db).and_then(|w| w.set_outcome(&key, period, &outcome));
            if let Err(e) = stored {
                eprintln!("nrec: alert {}: outcome not stored: {e}", f.rule.name);
            }
        }));
    }
    threads
}

/// Runs the rule's command: argv as configured (no shell), the details in the environment
/// and as JSON on stdin, stdout and stderr to nrec's stderr (the journal), killed with its
/// process group at the deadline. Returns what happened, for `nrec alerts`.
fn run_command(f: &Firing) -> String {
    let argv = &f.rule.command;
    let as_user = match command_user(f.rule.run_as.as_deref()) {
        Ok(u) => u,
        Err(why) => return format!("not started: {why}"),
    };
    let mut cmd = Command::new(&argv[0]);
    // a minimal environment: nothing of nrec's own (credentials, NOTIFY_SOCKET, …)
    cmd.args(&argv[1..])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .envs(
            ["LANG", "LC_ALL", "TZ"]
                .iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (*k, v))),
        )
        .envs(f.env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if !matches!(as_user, User::Root) {
        let switch = match as_user {
            User::Switch(uid, gid) => Some((uid, gid)),
            _ => None,
        };
        // SAFETY: drop_privileges_for_exec makes only async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || nrec_sys::drop_privileges_for_exec(switch));
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return format!("not started: {e}"),
    };
    // its output reaches nrec's stderr (the journal) through pipes nrec reads until the
    // command ends or its deadline: a command that daemonizes keeps a pipe, never nrec's
    // own stderr, so whoever reads nrec's output is not held by it
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    for out in [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let done = done_tx.clone();
        std::thread::spawn(move || {
            forward(out);
            let _ = done.send(());
        });
    }
    drop(done_tx);
    let pid = child.id() as libc::pid_t;
    let input = f.json().to_string() + "\n";
    // stdin is written by its own thread: a command that never reads must not hold us past
    // the deadline (a pipe holds 64 KiB; the document is far smaller, but never block).
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(input.as_bytes());
        }
    });
    let deadline = Instant::now() + f.rule.timeout;
    let res = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break match status.code() {
                    Some(c) => format!("exit {c}"),
                    None => format!("killed by signal {}", {
                        use std::os::unix::process::ExitStatusExt;
                        status.signal().unwrap_or(0)
                    }),
                };
            }
            Ok(None) if Instant::now() >= deadline => {
                // SAFETY: kill(2) on the process group we created for this child.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let _ = child.wait();
                break format!("killed after {} s (timeout)", f.rule.timeout.as_secs_f64());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break format!("wait failed: {e}"),
        }
    };
    // the group is gone, so its end of the pipe is closed and the writer has returned
    let _ = writer.join();
    // what the command printed, until the deadline: a descendant that escaped the group
    // with the pipes open is left writing to readers nobody waits for
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        if done_rx
            .recv_timeout(left.max(Duration::from_millis(100)))
            .is_err()
        {
            break;
        }
    }
    res
}

/// Whom an alert's command runs as.
enum User {
    /// nrec's own user, every capability dropped (nrec is not root: it cannot switch).
    Same,
    /// This uid and gid, with no capability (nrec is root).
    Switch(u32, u32),
    /// Root as is: only when `run_as = "root"` says so.
    Root,
}

/// The user a command runs as: as root, the rule's `run_as`, else `nrec` where it exists, else
/// `nobody`; a named user that does not exist is an error (the command is not started).
fn command_user(run_as: Option<&str>) -> Result<User, String> {
    if !nrec_sys::is_root() {
        return Ok(User::Same);
    }
    match run_as {
        Some("root") => Ok(User::Root),
        Some(name) => nrec_sys::user_by_name(name)
            .map(|(u, g)| User::Switch(u, g))
            .ok_or_else(|| format!("run_as {name:?}: no such user")),
        None => ["nrec", "nobody"]
            .iter()
            .find_map(|n| nrec_sys::user_by_name(n))
            .map(|(u, g)| User::Switch(u, g))
            .ok_or_else(|| "neither user nrec nor nobody exists; set run_as".into()),
    }
}

/// Copies a command's output to nrec's stderr line by line, bounded: at most 64 KiB of it.
fn forward(out: Box<dyn std::io::Read + Send>) {
    use std::io::BufRead;
    let mut r = std::io::BufReader::new(std::io::Read::take(out, 64 * 1024));
    let mut line = Vec::new();
    while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        let _ = std::io::stderr().write_all(&line);
        line.clear();
    }
    // the rest is read and dropped, so the command never blocks on a full pipe
    let _ = std::io::copy(&mut r.into_inner().into_inner(), &mut std::io::sink());
}
