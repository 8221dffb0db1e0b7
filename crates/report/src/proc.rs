//! `nrec proc NAME|PID`: one process's history — its identity, bytes per interval, and the
//! ports and remote hosts it used. A reused PID shows up as separate processes (identity is
//! boot id, pid and start time).

use crate::output::{Cell, Format, Output, Rows, local_text, write_error};
use nrec_model::error::Result;
use nrec_model::names::{escape_bytes, escape_text};
use nrec_model::scope::{Family, Networks, Scope, class_of_text, is_rest};
use nrec_model::time::Window;
use nrec_store::Reader;
use nrec_store::procbytes::SampleBytes;
use nrec_store::query::Process;
use nrec_store::window::Resolution;
use serde_json::{Value, json};

struct Interval {
    ts_ms: i64,
    elapsed_ms: i64,
    rx: u64,
    tx: u64,
}

/// The window's stored process bytes, decoded once: (ts, elapsed, bytes) per sample.
type Stored = Vec<(i64, i64, i64, SampleBytes)>;

/// The processes named or numbered `target` that moved bytes in the window.
fn processes(r: &Reader, target: &[u8], win: &Stored) -> Result<Vec<Process>> {
    let active: std::collections::HashSet<i64> = win
        .iter()
        .flat_map(|(_, _, _, b)| b.procs.keys().map(|(p, _)| *p))
        .collect();
    let by_pid = std::str::from_utf8(target)
        .ok()
        .and_then(|t| t.parse::<i64>().ok());
    let all = r.processes(target, by_pid, nrec_sys::clock_ticks_per_s())?;
    Ok(all.into_iter().filter(|p| active.contains(&p.id)).collect())
}

/// Process `p`'s bytes per interval: all of them, or (`class`: the config's lan networks and a
/// scope) those with hosts of that scope.
fn intervals(win: &Stored, p: i64, class: Option<(&Networks, Scope)>) -> Vec<Interval> {
    win.iter()
        .filter_map(|(_, ts, el, b)| {
            let (rx, tx) = match class {
                None => b.per_process().get(&p).copied()?,
                Some((lan, scope)) => {
                    let mine = b.hosts.iter().filter(|((q, addr), _)| {
                        *q == p && class_of_text(addr, lan).is_some_and(|c| c.1 == scope)
                    });
                    let mut any = false;
                    let sum = mine.fold((0, 0), |a, (_, (rx, tx))| {
                        any = true;
                        (a.0 + rx, a.1 + tx)
                    });
                    any.then_some(sum)?
                }
            };
            Some(Interval {
                ts_ms: *ts,
                elapsed_ms: *el,
                rx,
                tx,
            })
        })
        .collect()
}

/// A port or host of one process: its label, rx, tx and (a host's) traffic class.
type Detail = (String, u64, u64, Option<(Family, Scope)>);

/// The ports or hosts of one process, busiest first; hosts classed with `lan` (and only
/// those of `scope`, when given).
fn detail(win: &Stored, hosts: Option<&Networks>, scope: Option<Scope>, p: i64) -> Vec<Detail> {
    let mut m: std::collections::HashMap<String, Detail> = Default::default();
    for (_, _, _, b) in win {
        if let Some(lan) = hosts {
            for ((q, addr), (rx, tx)) in &b.hosts {
                if *q != p {
                    continue;
                }
                // a rest row's class is its marker's (filtered by it, shown without one)
                let class = class_of_text(addr, lan);
                if scope.is_some_and(|s| class.map(|c| c.1) != Some(s)) {
                    continue;
                }
                let (k, class) = if is_rest(addr) {
                    ("(other hosts)".to_string(), None)
                } else {
                    (crate::output::unmap_v4(addr).to_string(), class)
                };
                let e = m.entry(k.clone()).or_insert((k, 0, 0, class));
                e.1 += rx;
                e.2 += tx;
            }
        } else {
            let builtin = Networks::default();
            for ((q, proto, port, class), (rx, tx)) in &b.ports {
                // a port's class is its peers' (by the built-in ranges)
                if *q == p
                    && scope.is_none_or(|s| class_of_text(class, &builtin).map(|c| c.1) == Some(s))
                {
                    let k = format!("{proto}/{port}");
                    let e = m.entry(k.clone()).or_insert((k, 0, 0, None));
                    e.1 += rx;
                    e.2 += tx;
                }
            }
        }
    }
    let mut v: Vec<Detail> = m.into_values().collect();
    v.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
    v
}

/// What `nrec proc` shows: the processes named or numbered `target` in the window.
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: Vec<u8>,
    pub window: Window,
    /// The networks counted as `lan` besides the built-in ones (`[scopes] lan`): a host's
    /// traffic class.
    pub lan: Networks,
    /// Only the bytes with hosts of this scope (and the ports' bytes with them).
    pub scope: Option<Scope>,
}

/// The history of each process named or numbered `target` that moved bytes in the window.
/// Returns the coarsest data read and whether any process was found.
pub fn write(r: &mut Reader, s: &Settings, o: &mut Output<'_>) -> Result<(Resolution, bool)> {
    let tz = o.tz.clone();
    let window = &s.window;
    // Raw samples wherever they are stored, rollups for the part retention pruned.
    let (win, res) = r.process_bytes(window.start_ms(), window.end_ms())?;
    let target = &s.target[..];
    let procs = processes(r, target, &win)?;
    let local = |ms: i64| local_text(ms, &tz);
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    // The intervals of every process as one row set (CSV, NDJSON); JSON nests them per process.
    let columns = [
        "time",
        "interval_s",
        "pid",
        "name",
        "netns",
        "rx_bytes",
        "tx_bytes",
    ];
    let mut all = Rows::new(&columns);
    let mut docs = Vec::new();
    // --format svg: each process's receive and send rates over the window
    let mut series = Vec::new();
    let detail_rows = |o: &Output<'_>, list: &[Detail], key: &'static str| {
        let hosts = key == "host";
        let mut columns = vec![key, "rx_bytes", "tx_bytes"];
        if hosts {
            columns.extend(crate::output::CLASS_COLUMNS);
        }
        let mut r = Rows::new(&columns);
        for (k, rx, tx, class) in list {
            let mut row = vec![Cell::text(k.as_str()), (*rx).into(), (*tx).into()];
            if hosts {
                row.extend(crate::output::class_cells(*class));
            }
            r.push(row);
        }
        o.objects(&r)
    };
    let mut shown = 0;
    for p in &procs {
        let ivs = intervals(&win, p.id, s.scope.map(|sc| (&s.lan, sc)));
        let ports = detail(&win, None, s.scope, p.id);
        let hosts = detail(&win, Some(&s.lan), s.scope, p.id);
        if s.scope.is_some() && ivs.is_empty() {
            continue; // nothing with hosts of that scope
        }
        shown += 1;
        let (rx, tx) = ivs.iter().fold((0, 0), |(r, t), i| (r + i.rx, t + i.tx));
        let mut mine = Rows::new(&columns);
        for i in &ivs {
            mine.push(vec![
                Cell::Time(i.ts_ms),
                Cell::Num(i.elapsed_ms as f64 / 1000.0, 3),
                p.pid.into(),
                Cell::bytes(&p.comm),
                Cell::bytes(&p.netns),
                i.rx.into(),
                i.tx.into(),
            ]);
        }
        if o.format.is_picture() {
            use crate::output::svg::Series;
            let name = format!("{} [{}]", escape_bytes(&p.comm), p.pid);
            for (dir, pick) in [("rx", 0), ("tx", 1)] {
                // an interval ending after a pause in recording starts a new line
                let mut points = Vec::with_capacity(ivs.len() + 1);
                let mut last_end = None;
                for i in &ivs {
                    let start = i.ts_ms - i.elapsed_ms;
                    if last_end.is_some_and(|e| e != start) {
                        points.push((start, None));
                    }
                    last_end = Some(i.ts_ms);
                    let b = if pick == 0 { i.rx } else { i.tx };
                    points.push((
                        i.ts_ms,
                        Some(b as f64 / (i.elapsed_ms.max(1) as f64 / 1000.0) / 1024.0),
                    ));
                }
                series.push(Series {
                    name: format!("{name} {dir}"),
                    points,
                });
            }
        }
        match o.format {
            Format::Table => (|| {
                let out = o.text();
                writeln!(
                    out,
                    "PROCESS {} pid {} started {} uid {} exe {} unit {} container {} netns {}",
                    escape_bytes(&p.comm),
                    p.pid,
                    p.started_ms.map(local).unwrap_or_else(|| "?".into()),
                    p.uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into()),
                    p.exe
                        .as_deref()
                        .map(escape_bytes)
                        .unwrap_or_else(|| "-".into()),
                    match &p.unit_description {
                        Some(d) => escape_text(&format!("{} ({d})", opt(&p.unit))),
                        None => escape_bytes(opt(&p.unit).as_bytes()),
                    },
                    escape_bytes(opt(&p.container).as_bytes()),
                    escape_bytes(&p.netns)
                )?;
                writeln!(
                    out,
                    "{:<19} {:>12} {:>12} {:>9} {:>9}",
                    "TIME", "RX bytes", "TX bytes", "rxkB/s", "txkB/s"
                )?;
                for i in &ivs {
                    let s = (i.elapsed_ms.max(1) as f64) / 1000.0;
                    writeln!(
                        out,
                        "{:<19} {:>12} {:>12} {:>9.2} {:>9.2}",
                        local(i.ts_ms),
                        i.rx,
                        i.tx,
                        i.rx as f64 / s / 1024.0,
                        i.tx as f64 / s / 1024.0
                    )?;
                }
                writeln!(out, "{:<19} {:>12} {:>12}", "Total:", rx, tx)?;
                if let Some(sc) = s.scope {
                    writeln!(out, "(only the bytes with {} hosts)", sc.name())?;
                }
                for (title, list) in [("PORT", &ports), ("HOST", &hosts)] {
                    write!(out, "{:<40} {:>12} {:>12}", title, "RX bytes", "TX bytes")?;
                    writeln!(out, "{}", if title == "HOST" { "  SCOPE" } else { "" })?;
                    for (k, r, t, class) in list.iter() {
                        write!(out, "{k:<40} {r:>12} {t:>12}")?;
                        match class {
                            Some((_, s)) => writeln!(out, "  {}", s.name())?,
                            None => writeln!(out)?,
                        }
                    }
                }
                writeln!(out)
            })()
            .map_err(write_error)?,
            Format::Json => docs.push(json!({
                "pid": p.pid, "name": escape_bytes(&p.comm),
                "exe": p.exe.as_deref().map(escape_bytes), "uid": p.uid,
                "unit": p.unit, "unit_description": p.unit_description, "container": p.container, "netns": escape_bytes(&p.netns),
                "started": p.started_ms.map(|m| crate::output::iso(m, &tz)),
                "rx_bytes": rx, "tx_bytes": tx,
                "intervals": o.objects(&mine),
                "ports": detail_rows(o, &ports, "port"),
                "hosts": detail_rows(o, &hosts, "host"),
            })),
            Format::Csv | Format::Ndjson => all.rows.extend(mine.rows),
            Format::Svg | Format::Png => {}
        }
    }
    let found = shown > 0;
    match o.format {
        Format::Table => Ok(()),
        Format::Svg | Format::Png => {
            use crate::output::svg::{Panel, time_panels};
            let title = o.picture_title(&escape_bytes(target));
            let panels = [Panel {
                title: "bytes received and sent".into(),
                unit: "kB/s".into(),
                series,
            }];
            let panels = if panels[0].series.is_empty() {
                &panels[..0]
            } else {
                &panels[..]
            };
            let svg = time_panels(
                &title,
                "",
                panels,
                (window.start_ms(), window.end_ms()),
                &[],
                &tz,
            );
            o.picture(&svg)
        }
        Format::Json => {
            let mut body = serde_json::Map::new();
            body.insert("scope".into(), json!(s.scope.map(|sc| sc.name())));
            body.insert("processes".into(), Value::Array(docs));
            o.json(body).map_err(write_error)
        }
        _ => o.rows(&all, Default::default()).map_err(write_error),
    }?;
    Ok((res, found))
}
