//! `nrec top-procs`, `top-ports`, `top-hosts`: who moved the bytes over a window.
//!
//! Totals add up: the interface bytes of the window (rx and tx, every namespace) are the
//! denominator; what no process can be credited with is an explicit `(unattributed)` row, and
//! a coverage line says how much was attributed and by which source.

use crate::cli::TopArgs;
use crate::cmd::Global;
use crate::error::{Error, Result};
use crate::report::render::{self, Format, csv_text, escape_bytes};
use crate::store;
use crate::store::rollup::{Kind, Roller, at};
use crate::store::window::{self, Horizons, Sums};
use rusqlite::Connection;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Name,
    Exe,
    Unit,
    Container,
    User,
    Pid,
}

#[derive(Debug, Clone, Copy)]
pub enum What {
    Procs,
    Ports,
    Hosts,
}

/// One ranked row.
struct Entry {
    key: String,
    rx: u64,
    tx: u64,
    /// The processes behind a port or host, busiest first.
    procs: Vec<String>,
}

/// Interface and socket totals of the window, for the unattributed row and coverage.
struct Totals {
    iface_rx: u64,
    iface_tx: u64,
    unowned_rx: u64,
    unowned_tx: u64,
    /// Sampled time of the window, and the part whose process bytes came from eBPF.
    elapsed_ms: u64,
    ebpf_ms: u64,
}

impl Totals {
    /// Where the window's bytes came from: "ebpf", "sock_diag" or "mixed". Ports and hosts
    /// are always sock_diag's (eBPF counts per process only).
    fn source(&self, what: What) -> &'static str {
        if !matches!(what, What::Procs) {
            return "sock_diag";
        }
        match (self.ebpf_ms, self.elapsed_ms) {
            (0, _) => "sock_diag",
            (e, t) if e >= t => "ebpf",
            _ => "mixed",
        }
    }

    fn source_text(&self, what: What) -> String {
        const EBPF: &str = "eBPF (TCP and UDP payload of every process, short-lived ones included; \
                            headers, other protocols and splice reads are unattributed)";
        const DIAG: &str = "sock_diag (TCP payload; UDP, headers and connections that opened and \
                            closed between samples are unattributed)";
        match self.source(what) {
            "ebpf" => EBPF.into(),
            "sock_diag" => DIAG.into(),
            _ => format!(
                "{EBPF} for {:.1}% of the sampled time, {DIAG} for the rest",
                pct(self.ebpf_ms, self.elapsed_ms)
            ),
        }
    }
}

/// Interface bytes and sockets without a process, from window sums of kinds Iface and Attrib.
fn totals(conn: &Connection, sums: &Sums) -> rusqlite::Result<Totals> {
    let kinds = series_kinds(conn)?;
    let mut t = Totals {
        iface_rx: 0,
        iface_tx: 0,
        unowned_rx: 0,
        unowned_tx: 0,
        elapsed_ms: 0,
        ebpf_ms: 0,
    };
    for (id, v) in &sums.by_series {
        match kinds.get(id) {
            Some(Kind::Iface) => {
                t.iface_rx += at(v, 0);
                t.iface_tx += at(v, 8);
            }
            Some(Kind::Attrib) => {
                t.unowned_rx += at(v, 2);
                t.unowned_tx += at(v, 3);
            }
            Some(Kind::Time) => {
                t.elapsed_ms += at(v, 2);
                t.ebpf_ms += at(v, 3);
            }
            _ => {}
        }
    }
    Ok(t)
}

/// Series id → kind, for the kinds reports total over (interfaces and namespaces).
fn series_kinds(conn: &Connection) -> rusqlite::Result<HashMap<i64, Kind>> {
    conn.prepare("SELECT id, kind FROM series WHERE kind IN (0, 1, 6)")?
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Kind::from_i64(r.get(1)?).unwrap_or(Kind::Time),
            ))
        })?
        .collect()
}

/// A user name for a uid, from the passwd database; the number when there is none.
fn user_name(uid: u32) -> String {
    // SAFETY: getpwuid_r with a caller-owned buffer; the result points into it.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) == 0
            && !out.is_null()
            && !pw.pw_name.is_null()
        {
            return std::ffi::CStr::from_ptr(pw.pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    uid.to_string()
}

fn proc_key(
    by: By,
    comm: &[u8],
    exe: Option<&[u8]>,
    unit: Option<&str>,
    container: Option<&str>,
    uid: Option<i64>,
    pid: i64,
) -> String {
    let name = escape_bytes(comm);
    match by {
        By::Name => name,
        By::Exe => exe.map(escape_bytes).unwrap_or_else(|| format!("[{name}]")),
        By::Unit => unit
            .map(str::to_string)
            .unwrap_or_else(|| "(no unit)".into()),
        By::Container => container
            .map(str::to_string)
            .unwrap_or_else(|| "(host)".into()),
        By::User => uid
            .and_then(|u| u32::try_from(u).ok())
            .map(user_name)
            .unwrap_or_else(|| "?".into()),
        By::Pid => format!("{pid} {name}"),
    }
}

fn top_procs(conn: &Connection, sums: &Sums, by: By) -> rusqlite::Result<Vec<Entry>> {
    // Summed per process by the window engine; fold processes into the chosen key.
    let mut st = conn.prepare(
        "SELECT s.id, p.comm, p.exe, p.unit, p.container, p.uid, p.pid
         FROM series s JOIN process p ON p.id = s.ref WHERE s.kind = 3",
    )?;
    let mut by_key: HashMap<String, Entry> = HashMap::new();
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let Some(v) = sums.by_series.get(&r.get::<_, i64>(0)?) else {
            continue;
        };
        let comm: Vec<u8> = r.get(1)?;
        let exe: Option<Vec<u8>> = r.get(2)?;
        let unit: Option<String> = r.get(3)?;
        let container: Option<String> = r.get(4)?;
        let key = proc_key(
            by,
            &comm,
            exe.as_deref(),
            unit.as_deref(),
            container.as_deref(),
            r.get(5)?,
            r.get(6)?,
        );
        let e = by_key.entry(key.clone()).or_insert(Entry {
            key,
            rx: 0,
            tx: 0,
            procs: Vec::new(),
        });
        e.rx += at(v, 0);
        e.tx += at(v, 1);
    }
    Ok(by_key.into_values().filter(|e| e.rx + e.tx > 0).collect())
}

/// Ports or hosts with the process names behind each.
fn top_detail(conn: &Connection, sums: &Sums, what: What) -> rusqlite::Result<Vec<Entry>> {
    let sql = match what {
        What::Ports => {
            "SELECT s.id, s.proto || '/' || s.port, p.comm FROM series s JOIN process p ON p.id = s.ref WHERE s.kind = 4"
        }
        _ => {
            "SELECT s.id, s.addr, p.comm FROM series s JOIN process p ON p.id = s.ref WHERE s.kind = 5"
        }
    };
    let mut st = conn.prepare(sql)?;
    let mut by_key: HashMap<String, (Entry, HashMap<String, u64>)> = HashMap::new();
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let Some(v) = sums.by_series.get(&r.get::<_, i64>(0)?) else {
            continue;
        };
        let (rx, tx) = (at(v, 0), at(v, 1));
        if rx + tx == 0 {
            continue;
        }
        let key: String = r.get(1)?;
        let comm = escape_bytes(&r.get::<_, Vec<u8>>(2)?);
        let key = if key == "*" {
            "(other hosts)".to_string()
        } else {
            key
        };
        let e = by_key.entry(key.clone()).or_insert_with(|| {
            (
                Entry {
                    key,
                    rx: 0,
                    tx: 0,
                    procs: Vec::new(),
                },
                HashMap::new(),
            )
        });
        e.0.rx += rx;
        e.0.tx += tx;
        *e.1.entry(comm).or_default() += rx + tx;
    }
    Ok(by_key
        .into_values()
        .map(|(mut e, p)| {
            let mut p: Vec<(u64, String)> = p.into_iter().map(|(n, b)| (b, n)).collect();
            p.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            e.procs = p.into_iter().map(|(_, n)| n).collect();
            e
        })
        .collect())
}

/// Bytes with a binary unit, for tables.
pub fn size(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut x = b as f64;
    let mut u = 0;
    while x >= 1024.0 && u < units.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{x:.1} {}", units[u])
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

pub fn run(what: What, args: &TopArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let (window, tz) = super::window(&args.window, Some("24h"))?;
    if args.limit == 0 {
        return Err(Error::usage("--limit must be at least 1"));
    }
    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let db = |e| Error::sqlite(&path, e);
    let kind = match what {
        What::Procs => Kind::Proc,
        What::Ports => Kind::Port,
        What::Hosts => Kind::Host,
    };
    let h = Horizons::load(&conn).map_err(db)?;
    let sums = window::sums(
        &conn,
        &mut Roller::new(),
        &h,
        &[kind, Kind::Iface, Kind::Attrib, Kind::Time],
        window.start_ms(),
        window.end_ms(),
    )
    .map_err(db)?;
    super::note_resolution(g, sums.edges);
    let mut entries = match what {
        What::Procs => top_procs(&conn, &sums, args.by).map_err(db)?,
        _ => top_detail(&conn, &sums, what).map_err(db)?,
    };
    entries.sort_by(|a, b| (b.rx + b.tx).cmp(&(a.rx + a.tx)).then(a.key.cmp(&b.key)));
    let t = totals(&conn, &sums).map_err(db)?;
    // Every entry is counted once per direction, so the attributed sum is over all entries,
    // shown or not; for ports the same bytes are not split further, for hosts likewise.
    let (arx, atx) = entries
        .iter()
        .fold((0u64, 0u64), |(r, x), e| (r + e.rx, x + e.tx));
    let (urx, utx) = (
        t.iface_rx.saturating_sub(arx),
        t.iface_tx.saturating_sub(atx),
    );
    let whole = t.iface_rx + t.iface_tx;
    entries.truncate(args.limit);
    let io = |e: std::io::Error| Error::failure(format!("writing the report: {e}")).with_io(e);
    let head = match what {
        What::Procs => "NAME",
        What::Ports => "PORT",
        What::Hosts => "HOST",
    };
    let coverage = pct(arx + atx, whole);
    match args.format {
        Format::Table => {
            writeln!(
                out,
                "{:>4}  {:<24} {:>11} {:>11} {:>11} {:>6}{}",
                "RANK",
                head,
                "RX",
                "TX",
                "TOTAL",
                "SHARE",
                if matches!(what, What::Procs) {
                    ""
                } else {
                    "  PROCESSES"
                }
            )
            .map_err(io)?;
            for (i, e) in entries.iter().enumerate() {
                write!(
                    out,
                    "{:>4}  {:<24} {:>11} {:>11} {:>11} {:>5.1}%",
                    i + 1,
                    e.key,
                    size(e.rx),
                    size(e.tx),
                    size(e.rx + e.tx),
                    pct(e.rx + e.tx, whole)
                )
                .map_err(io)?;
                if !e.procs.is_empty() {
                    write!(out, "  {}", e.procs.join(", ")).map_err(io)?;
                }
                writeln!(out).map_err(io)?;
            }
            writeln!(
                out,
                "{:>4}  {:<24} {:>11} {:>11} {:>11} {:>5.1}%",
                "",
                "(unattributed)",
                size(urx),
                size(utx),
                size(urx + utx),
                pct(urx + utx, whole)
            )
            .map_err(io)?;
            writeln!(
                out,
                "coverage: {coverage:.1}% of {} interface bytes (rx+tx, all namespaces, {}) attributed to processes; \
                 source: {}{}",
                size(whole),
                window.label,
                t.source_text(what),
                if t.unowned_rx + t.unowned_tx > 0 {
                    format!("; {} were on sockets with no known process", size(t.unowned_rx + t.unowned_tx))
                } else {
                    String::new()
                }
            )
            .map_err(io)?;
        }
        Format::Csv => {
            let mut w = crate::report::render::csv_writer(&mut *out);
            let e = |e: csv::Error| Error::failure(format!("writing CSV: {e}"));
            w.write_record([
                "rank",
                "name",
                "rx_bytes",
                "tx_bytes",
                "total_bytes",
                "share",
                "processes",
            ])
            .map_err(e)?;
            for (i, x) in entries.iter().enumerate() {
                w.write_record([
                    (i + 1).to_string(),
                    csv_text(&x.key),
                    x.rx.to_string(),
                    x.tx.to_string(),
                    (x.rx + x.tx).to_string(),
                    format!("{:.4}", pct(x.rx + x.tx, whole) / 100.0),
                    csv_text(&x.procs.join(" ")),
                ])
                .map_err(e)?;
            }
            w.write_record([
                "",
                "(unattributed)",
                &urx.to_string(),
                &utx.to_string(),
                &(urx + utx).to_string(),
                &format!("{:.4}", pct(urx + utx, whole) / 100.0),
                "",
            ])
            .map_err(e)?;
            w.flush().map_err(io)?;
        }
        Format::Json => {
            let doc = json!({
                "window": {
                    "label": window.label,
                    "start": render::iso(window.start_ms(), &tz),
                    "end": render::iso(window.end_ms(), &tz),
                },
                "by": match what { What::Procs => format!("{:?}", args.by).to_lowercase(), What::Ports => "port".into(), What::Hosts => "host".into() },
                "rows": entries.iter().enumerate().map(|(i, x)| json!({
                    "rank": i + 1, "name": x.key, "rx_bytes": x.rx, "tx_bytes": x.tx,
                    "total_bytes": x.rx + x.tx, "share": pct(x.rx + x.tx, whole) / 100.0,
                    "processes": x.procs,
                })).collect::<Vec<_>>(),
                "unattributed": { "rx_bytes": urx, "tx_bytes": utx, "total_bytes": urx + utx,
                                  "on_sockets_without_process": t.unowned_rx + t.unowned_tx },
                "interface_bytes": { "rx": t.iface_rx, "tx": t.iface_tx },
                "coverage": coverage / 100.0,
                "source": t.source(what),
                "ebpf_share": if t.elapsed_ms > 0 { t.ebpf_ms as f64 / t.elapsed_ms as f64 } else { 0.0 },
                "edges": sums.edges.describe(),
            });
            serde_json::to_writer_pretty(&mut *out, &doc)
                .map_err(|e| io(std::io::Error::other(e)))?;
            writeln!(out).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}
