//! `nrec proc NAME|PID`: one process's history — its identity, bytes per interval, and the
//! ports and remote hosts it used. A reused PID shows up as separate processes (identity is
//! boot id, pid and start time).

use crate::cli::ProcArgs;
use crate::cmd::Global;
use crate::error::{Error, Result};
use crate::report::render::{self, Format, csv_text, escape_bytes};
use crate::store::procbytes::{Reader, SampleBytes};
use crate::store::window::{Horizons, Resolution};
use crate::store::{self};
use rusqlite::{Connection, params};
use serde_json::json;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

struct Proc {
    id: i64,
    pid: i64,
    comm: Vec<u8>,
    exe: Option<Vec<u8>>,
    uid: Option<i64>,
    unit: Option<String>,
    container: Option<String>,
    netns: Vec<u8>,
    /// Wall-clock start, when a sample of its boot tells when that boot began.
    started_ms: Option<i64>,
}

struct Interval {
    ts_ms: i64,
    elapsed_ms: i64,
    rx: u64,
    tx: u64,
}

/// The window's stored process bytes, decoded once: (ts, elapsed, bytes) per sample.
type Window = Vec<(i64, i64, i64, SampleBytes)>;

fn processes(conn: &Connection, target: &[u8], win: &Window) -> rusqlite::Result<Vec<Proc>> {
    let active: std::collections::HashSet<i64> = win
        .iter()
        .flat_map(|(_, _, _, b)| b.procs.keys().map(|(p, _)| *p))
        .collect();
    let by_pid = std::str::from_utf8(target)
        .ok()
        .and_then(|t| t.parse::<i64>().ok());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    let mut st = conn.prepare(
        "SELECT p.id, p.pid, p.comm, p.exe, p.uid, p.unit, p.container, coalesce(n.name, x''), p.start_time,
                (SELECT s.ts_ms - s.mono_ms FROM sample s JOIN sysinfo si ON si.id = s.sysinfo
                  WHERE si.boot_id = p.boot_id ORDER BY s.id LIMIT 1)
         FROM process p LEFT JOIN netns n ON n.id = p.netns
         WHERE (p.pid = ?1 OR p.comm = ?2)
         ORDER BY p.id",
    )?;
    let rows = st.query_map(params![by_pid.unwrap_or(-1), target], |r| {
        let start: i64 = r.get(8)?;
        let boot: Option<i64> = r.get(9)?;
        Ok(Proc {
            id: r.get(0)?,
            pid: r.get(1)?,
            comm: r.get(2)?,
            exe: r.get(3)?,
            uid: r.get(4)?,
            unit: r.get(5)?,
            container: r.get(6)?,
            netns: r.get(7)?,
            started_ms: boot.map(|b| b + start.max(0) * 1000 / hz),
        })
    })?;
    let all: Vec<Proc> = rows.collect::<rusqlite::Result<_>>()?;
    Ok(all.into_iter().filter(|p| active.contains(&p.id)).collect())
}

fn intervals(win: &Window, p: i64) -> Vec<Interval> {
    win.iter()
        .filter_map(|(_, ts, el, b)| {
            let (rx, tx) = b.per_process().get(&p).copied()?;
            Some(Interval {
                ts_ms: *ts,
                elapsed_ms: *el,
                rx,
                tx,
            })
        })
        .collect()
}

/// (label, rx, tx) of the ports or hosts of one process, busiest first.
fn detail(win: &Window, hosts: bool, p: i64) -> Vec<(String, u64, u64)> {
    let mut m: std::collections::HashMap<String, (u64, u64)> = Default::default();
    for (_, _, _, b) in win {
        if hosts {
            for ((q, addr), (rx, tx)) in &b.hosts {
                if *q == p {
                    let k = if addr == "*" {
                        "(other hosts)".to_string()
                    } else {
                        addr.clone()
                    };
                    let e = m.entry(k).or_default();
                    e.0 += rx;
                    e.1 += tx;
                }
            }
        } else {
            for ((q, proto, port), (rx, tx)) in &b.ports {
                if *q == p {
                    let e = m.entry(format!("{proto}/{port}")).or_default();
                    e.0 += rx;
                    e.1 += tx;
                }
            }
        }
    }
    let mut v: Vec<(String, u64, u64)> = m.into_iter().map(|(k, (r, t))| (k, r, t)).collect();
    v.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
    v
}

pub fn run(args: &ProcArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let (window, tz) = super::window(&args.window, Some("24h"))?;
    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let db = |e| Error::sqlite(&path, e);
    // The finest data covering the window: raw samples, else 15-minute (or daily) rollups.
    let res = Horizons::load(&conn).map_err(db)?.finest(window.start_ms());
    let win = if res == Resolution::Raw {
        Reader::new()
            .window(&conn, window.start_ms(), window.end_ms())
            .map_err(db)?
    } else {
        if !g.quiet {
            eprintln!(
                "nrec: note: raw samples of this window were pruned (retention); showing {}",
                res.describe()
            );
        }
        crate::store::procbytes::window_from_rollups(&conn, window.start_ms(), window.end_ms())
            .map_err(db)?
    };
    let target = args.target.as_bytes();
    let procs = processes(&conn, target, &win).map_err(db)?;
    if procs.is_empty() && !g.quiet {
        eprintln!(
            "nrec: no process named or numbered {:?} moved bytes in {}",
            escape_bytes(target),
            window.label
        );
    }
    let io = |e: std::io::Error| Error::failure(format!("writing the report: {e}")).with_io(e);
    let local = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| {
                t.to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let mut docs = Vec::new();
    let mut csv =
        (args.format == Format::Csv).then(|| crate::report::render::csv_writer(Vec::new()));
    if let Some(w) = csv.as_mut() {
        w.write_record([
            "time",
            "interval_s",
            "pid",
            "name",
            "netns",
            "rx_bytes",
            "tx_bytes",
        ])
        .map_err(|e| Error::failure(e.to_string()))?;
    }
    for p in &procs {
        let ivs = intervals(&win, p.id);
        let ports = detail(&win, false, p.id);
        let hosts = detail(&win, true, p.id);
        let (rx, tx) = ivs.iter().fold((0, 0), |(r, t), i| (r + i.rx, t + i.tx));
        match args.format {
            Format::Table => {
                writeln!(
                    out,
                    "PROCESS {} pid {} started {} uid {} exe {} unit {} container {} netns {}",
                    escape_bytes(&p.comm),
                    p.pid,
                    p.started_ms.map(local).unwrap_or_else(|| "?".into()),
                    p.uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into()),
                    p.exe.as_deref().map(escape_bytes).unwrap_or_else(|| "-".into()),
                    opt(&p.unit),
                    opt(&p.container),
                    escape_bytes(&p.netns)
                )
                .map_err(io)?;
                writeln!(out, "{:<19} {:>12} {:>12} {:>9} {:>9}", "TIME", "RX bytes", "TX bytes", "rxkB/s", "txkB/s").map_err(io)?;
                for i in &ivs {
                    let s = (i.elapsed_ms.max(1) as f64) / 1000.0;
                    writeln!(out, "{:<19} {:>12} {:>12} {:>9.2} {:>9.2}", local(i.ts_ms), i.rx, i.tx, i.rx as f64 / s / 1024.0, i.tx as f64 / s / 1024.0).map_err(io)?;
                }
                writeln!(out, "{:<19} {:>12} {:>12}", "Total:", rx, tx).map_err(io)?;
                for (title, list) in [("PORT", &ports), ("HOST", &hosts)] {
                    writeln!(out, "{:<40} {:>12} {:>12}", title, "RX bytes", "TX bytes").map_err(io)?;
                    for (k, r, t) in list.iter() {
                        writeln!(out, "{k:<40} {r:>12} {t:>12}").map_err(io)?;
                    }
                }
                writeln!(out).map_err(io)?;
            }
            Format::Csv => {
                let w = csv.as_mut().expect("csv writer");
                for i in &ivs {
                    w.write_record([
                        render::iso(i.ts_ms, &tz),
                        format!("{:.3}", i.elapsed_ms as f64 / 1000.0),
                        p.pid.to_string(),
                        csv_text(&escape_bytes(&p.comm)),
                        csv_text(&escape_bytes(&p.netns)),
                        i.rx.to_string(),
                        i.tx.to_string(),
                    ])
                    .map_err(|e| Error::failure(e.to_string()))?;
                }
            }
            Format::Json => docs.push(json!({
                "pid": p.pid, "name": escape_bytes(&p.comm),
                "exe": p.exe.as_deref().map(escape_bytes), "uid": p.uid,
                "unit": p.unit, "container": p.container, "netns": escape_bytes(&p.netns),
                "started": p.started_ms.map(|m| render::iso(m, &tz)),
                "rx_bytes": rx, "tx_bytes": tx,
                "intervals": ivs.iter().map(|i| json!({
                    "time": render::iso(i.ts_ms, &tz), "interval_s": i.elapsed_ms as f64 / 1000.0,
                    "rx_bytes": i.rx, "tx_bytes": i.tx,
                })).collect::<Vec<_>>(),
                "ports": ports.iter().map(|(k, r, t)| json!({"port": k, "rx_bytes": r, "tx_bytes": t})).collect::<Vec<_>>(),
                "hosts": hosts.iter().map(|(k, r, t)| json!({"host": k, "rx_bytes": r, "tx_bytes": t})).collect::<Vec<_>>(),
            })),
        }
    }
    match args.format {
        Format::Csv => {
            let bytes = csv
                .expect("csv writer")
                .into_inner()
                .map_err(|e| Error::failure(e.to_string()))?;
            out.write_all(&bytes).map_err(io)?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &json!({"processes": docs}))
                .map_err(|e| io(std::io::Error::other(e)))?;
            writeln!(out).map_err(io)?;
        }
        Format::Table => {}
    }
    out.flush().map_err(io)
}
