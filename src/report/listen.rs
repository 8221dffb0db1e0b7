//! `-n LISTEN`: which sockets were listening, on which address and port, owned by whom,
//! and from when to when within the window ("what was listening on 8080 last Tuesday").

use super::render::{csv_text, escape_bytes, iso};
use crate::store::query::ListenerRow;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use std::io::{self, Write};

fn endpoint(r: &ListenerRow) -> String {
    if r.family == 6 {
        format!("[{}]:{}", r.addr, r.port)
    } else {
        format!("{}:{}", r.addr, r.port)
    }
}

fn local(ms: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn table(
    w: &mut dyn Write,
    rows: &[ListenerRow],
    tz: &TimeZone,
    show_netns: bool,
) -> io::Result<()> {
    writeln!(w)?;
    write!(
        w,
        "{:<19}  {:<19}  {:<5}",
        "FIRST-SEEN", "LAST-SEEN", "PROTO"
    )?;
    if show_netns {
        write!(w, " {:>12}", "NETNS")?;
    }
    writeln!(
        w,
        " {:>30} {:>8} {:>6}  COMMAND",
        "LOCAL-ADDRESS:PORT", "PID", "UID"
    )?;
    for r in rows {
        write!(
            w,
            "{:<19}  {:<19}  {:<5}",
            local(r.first_ms, tz),
            local(r.last_ms, tz),
            r.proto
        )?;
        if show_netns {
            write!(w, " {:>12}", escape_bytes(&r.netns))?;
        }
        let pid = r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        let comm = r
            .comm
            .as_deref()
            .map(escape_bytes)
            .unwrap_or_else(|| "-".into());
        writeln!(w, " {:>30} {:>8} {:>6}  {}", endpoint(r), pid, r.uid, comm)?;
    }
    Ok(())
}

pub fn csv(w: &mut dyn Write, rows: &[ListenerRow], tz: &TimeZone) -> io::Result<()> {
    let mut cw = crate::report::render::csv_writer(w);
    let e = |e: csv::Error| io::Error::other(e.to_string());
    cw.write_record([
        "first_seen",
        "last_seen",
        "netns",
        "proto",
        "family",
        "address",
        "port",
        "pid",
        "uid",
        "command",
    ])
    .map_err(e)?;
    for r in rows {
        cw.write_record([
            iso(r.first_ms, tz),
            iso(r.last_ms, tz),
            csv_text(&escape_bytes(&r.netns)),
            r.proto.clone(),
            format!("ipv{}", r.family),
            r.addr.clone(),
            r.port.to_string(),
            r.pid.map(|p| p.to_string()).unwrap_or_default(),
            r.uid.to_string(),
            csv_text(&r.comm.as_deref().map(escape_bytes).unwrap_or_default()),
        ])
        .map_err(e)?;
    }
    cw.flush()
}

pub fn json(rows: &[ListenerRow], tz: &TimeZone) -> Value {
    json!({
        "kind": "LISTEN",
        "rows": rows.iter().map(|r| json!({
            "first_seen": iso(r.first_ms, tz),
            "last_seen": iso(r.last_ms, tz),
            "netns": escape_bytes(&r.netns),
            "proto": r.proto,
            "family": format!("ipv{}", r.family),
            "address": r.addr,
            "port": r.port,
            "pid": r.pid,
            "uid": r.uid,
            "command": r.comm.as_deref().map(escape_bytes),
        })).collect::<Vec<_>>()
    })
}
