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
            "subject": r.subject.text(),
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
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(f.env())
        .env_remove("COMPLETE")
        .stdin(Stdio::piped())
        .stdout(stderr_or_null())
        .stderr(stderr_or_null())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return format!("not started: {e}"),
    };
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
    res
}

fn stderr_or_null() -> Stdio {
    use std::os::fd::AsFd;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::null(), Stdio::from)
}
