//! `-n LISTEN`: which sockets were listening, on which address and port, owned by whom,
//! and from when to when within the window ("what was listening on 8080 last Tuesday").

use crate::output::{Cell, Rows, local_text};
use jiff::tz::TimeZone;
use nrec_model::names::escape_bytes;
use nrec_store::query::ListenerRow;
use std::io::{self, Write};

fn endpoint(r: &ListenerRow) -> String {
    if r.family == 6 {
        format!("[{}]:{}", r.addr, r.port)
    } else {
        format!("{}:{}", r.addr, r.port)
    }
}

fn local(ms: i64, tz: &TimeZone) -> String {
    local_text(ms, tz)
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
        " {:>30} {:>8} {:>6} {:>7}  COMMAND",
        "LOCAL-ADDRESS:PORT", "PID", "UID", "SOCKETS"
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
        writeln!(
            w,
            " {:>30} {:>8} {:>6} {:>7}  {}",
            endpoint(r),
            pid,
            r.uid,
            r.sockets,
            comm
        )?;
    }
    Ok(())
}

/// The listeners as typed rows (CSV, JSON, NDJSON).
pub fn rows(list: &[ListenerRow]) -> Rows {
    let mut out = Rows::new(&[
        "first_seen",
        "last_seen",
        "netns",
        "proto",
        "family",
        "address",
        "port",
        "pid",
        "uid",
        "sockets",
        "command",
    ]);
    for r in list {
        out.push(vec![
            Cell::Time(r.first_ms),
            Cell::Time(r.last_ms),
            Cell::bytes(&r.netns),
            Cell::text(r.proto.as_str()),
            Cell::text(format!("ipv{}", r.family)),
            Cell::text(r.addr.as_str()),
            Cell::from(r.port),
            Cell::opt_int(r.pid),
            Cell::from(r.uid),
            Cell::from(r.sockets),
            r.comm.as_deref().map_or(Cell::Null, Cell::bytes),
        ]);
    }
    out
}
