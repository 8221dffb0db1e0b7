//! `nrec report`: sysstat-compatible `-n` reports over a window of stored samples.

use crate::cli::ReportArgs;
use crate::cmd::Global;
use crate::error::{Error, Result};
use crate::report::render::{self, Format, Host};
use crate::report::{self, Data, Shape, kinds, listen};
use crate::store::window::{Horizons, Resolution};
use crate::store::{self, query};
use crate::time;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

enum Part {
    Table(&'static kinds::Kind),
    Listen,
}

fn parse_kinds(list: &[String]) -> Result<Vec<Part>> {
    let mut out: Vec<Part> = Vec::new();
    for k in list.iter().map(|s| s.trim()) {
        match k.to_ascii_uppercase().as_str() {
            "ALL" => {
                out.extend(kinds::ALL.iter().map(|k| Part::Table(k)));
                out.push(Part::Listen);
            }
            "LISTEN" => out.push(Part::Listen),
            _ => match kinds::by_name(k) {
                Some(kind) => out.push(Part::Table(kind)),
                None => {
                    return Err(Error::usage(format!(
                        "-n {k:?}: unknown report kind; choose from DEV, EDEV, IP, EIP, SOCK, SOCK6, TCP, ETCP, UDP, UDP6, STATE, PROC, LISTEN, ALL"
                    )));
                }
            },
        }
    }
    Ok(out)
}

pub fn run(args: &ReportArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let parts = parse_kinds(&args.kinds)?;
    let (window, tz) = super::window(&args.window, None)?;
    let interval_ms = args
        .interval
        .as_deref()
        .map(|s| time::parse_interval("--interval", s))
        .transpose()?;
    let shape = Shape {
        ifaces: args.iface.iter().map(|s| s.as_bytes().to_vec()).collect(),
        omit_idle: args.omit_idle,
        interval_ms,
    };

    let path = g.db_read_path();
    let conn = store::open_ro(&path)?;
    let kinds: Vec<&'static kinds::Kind> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Table(k) => Some(*k),
            Part::Listen => None,
        })
        .collect();
    let db_err = |e| Error::sqlite(&path, e);
    // The finest data that covers the whole window: raw samples, else rollups.
    let res = Horizons::load(&conn)
        .map_err(db_err)?
        .finest(window.start_ms());
    let data = if res == Resolution::Raw {
        Data::load(&conn, &window, &kinds).map_err(db_err)?
    } else {
        if !g.quiet {
            eprintln!(
                "nrec: note: raw samples of this window were pruned (retention); showing {}",
                res.describe()
            );
        }
        Data::load_rolled(&conn, &window, &kinds, res).map_err(db_err)?
    };
    let listeners = if parts.iter().any(|p| matches!(p, Part::Listen)) {
        query::listeners(&conn, &window).map_err(db_err)?
    } else {
        Vec::new()
    };
    if data.samples.is_empty() && data.rolled.is_none() && !g.quiet {
        eprintln!(
            "nrec: no samples in {} [{} .. {}) in {}",
            window.label,
            render::iso(window.start_ms(), &tz),
            render::iso(window.end_ms(), &tz),
            path.display()
        );
    }
    // The host as of the window's last sample; unknown (null) when the window is empty.
    let host = match &data.rolled {
        None => data.samples.last().map(|s| Host {
            hostname: s.hostname.clone(),
            kernel: s.kernel.clone(),
            arch: s.arch.clone(),
            ncpu: s.ncpu,
        }),
        Some(_) => query::last_host(&conn).map_err(db_err)?,
    };
    let day_ms = data
        .samples
        .first()
        .map(|s| s.ts_ms)
        .unwrap_or(window.start_ms());
    let listen_netns = {
        let mut v: Vec<&[u8]> = listeners.iter().map(|l| l.netns.as_slice()).collect();
        v.sort();
        v.dedup();
        v.len() > 1
    };

    let io = |e: std::io::Error| Error::failure(format!("writing the report: {e}")).with_io(e);
    match args.format {
        Format::Table => {
            // No samples: the note on stderr says so; there is no host to head the table.
            if let Some(host) = &host {
                render::heading(out, host, day_ms, &tz).map_err(io)?;
            }
            let tables: Vec<report::Table> = parts
                .iter()
                .filter_map(|p| match p {
                    Part::Table(k) => Some(report::build(k, &data, &shape)),
                    Part::Listen => None,
                })
                .collect();
            render::tables(out, &tables, &tz, args.human).map_err(io)?;
            if parts.iter().any(|p| matches!(p, Part::Listen)) {
                listen::table(out, &listeners, &tz, listen_netns).map_err(io)?;
            }
        }
        Format::Csv => {
            // One CSV document per kind; several kinds are separated by a blank line.
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    out.write_all(b"\r\n").map_err(io)?;
                }
                match p {
                    Part::Table(k) => {
                        let t = report::build(k, &data, &shape);
                        render::csv(out, &t, &tz, true).map_err(io)?;
                    }
                    Part::Listen => listen::csv(out, &listeners, &tz).map_err(io)?,
                }
            }
        }
        Format::Json => {
            let reports: Vec<serde_json::Value> = parts
                .iter()
                .map(|p| match p {
                    Part::Table(k) => render::table_json(&report::build(k, &data, &shape), &tz),
                    Part::Listen => listen::json(&listeners, &tz),
                })
                .collect();
            let doc = serde_json::json!({
                "nrec": {
                    "host": host.as_ref().map(|h| serde_json::json!({
                        "hostname": render::escape_bytes(&h.hostname),
                        "kernel": h.kernel,
                        "arch": h.arch,
                        "cpus": h.ncpu,
                    })),
                    "window": {
                        "label": window.label,
                        "start": render::iso(window.start_ms(), &tz),
                        "end": render::iso(window.end_ms(), &tz),
                        "timezone": tz.iana_name().unwrap_or("local"),
                    },
                    "samples": data.samples.len(),
                    "resolution": res.describe(),
                    "reports": reports,
                }
            });
            serde_json::to_writer_pretty(&mut *out, &doc)
                .map_err(|e| io(std::io::Error::other(e)))?;
            out.write_all(b"\n").map_err(io)?;
        }
    }
    out.flush().map_err(io)?;
    Ok(())
}
