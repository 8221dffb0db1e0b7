//! The `nrec report` view: sysstat-compatible `-n` reports over a window — each kind's table
//! (`build`), and the listening sockets — in every format.

use super::render;
use super::{Data, Shape, Table, build, kinds, listen};
use crate::output::{Format, Output, Rows, write_error};
use nrec_model::error::{Error, Result};
use nrec_model::time::Window;
use nrec_store::Reader;
use nrec_store::query::Host;
use nrec_store::window::Resolution;

/// One part of a report: a sar kind, or the listening sockets.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    Table(&'static kinds::Kind),
    Listen,
}

/// The parts `-n` names (`ALL` is every kind and LISTEN), in the order given.
pub fn parse_kinds(list: &[String]) -> Result<Vec<Part>> {
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
                None if kinds::NOT_RECORDED.contains(&k.to_ascii_uppercase().as_str()) => {
                    return Err(Error::usage(format!(
                        "-n {k}: sar's NFS, NFSD and FC reports are not network traffic nrec records (use sar for them)"
                    )));
                }
                None => {
                    return Err(Error::usage(format!(
                        "-n {k:?}: unknown report kind; choose from {}",
                        kinds::names().collect::<Vec<_>>().join(", ")
                    )));
                }
            },
        }
    }
    Ok(out)
}

/// The first and last instants the tables' rows cover (the window when they have none): the
/// banner names this day, or this range of days.
fn data_span(tables: &[Table], w: &Window) -> (i64, i64) {
    let first = tables
        .iter()
        .flat_map(|t| t.segments.first())
        .map(|s| s.start_ms)
        .min();
    let last = tables
        .iter()
        .flat_map(|t| t.rows.last())
        .map(|r| r.time_ms)
        .max();
    match (first, last) {
        (Some(a), Some(b)) => (a.max(w.start_ms()), b - 1),
        _ => (w.start_ms(), w.end_ms() - 1),
    }
}

/// What `nrec report` shows.
#[derive(Debug)]
pub struct Settings {
    pub parts: Vec<Part>,
    pub window: Window,
    pub shape: Shape,
    /// sar's `--human`: sizes with units.
    pub human: bool,
}

/// What the command may want to say on stderr about the report it wrote.
#[derive(Debug, Default)]
pub struct Notes {
    /// The coarsest data read (rollups for the part of the window retention pruned), and
    /// where raw samples begin; None when the picture was drawn from rollups on purpose.
    pub resolution: Option<(Resolution, i64)>,
    /// The window held no sample.
    pub empty: bool,
    /// Interface filters that matched nothing recorded, and what was recorded.
    pub unmatched: Option<nrec_model::filter::Unmatched>,
}

/// The report: each part in the order asked for, in the output's format.
pub fn write(r: &mut Reader, s: &Settings, o: &mut Output<'_>) -> Result<Notes> {
    let (parts, window, shape) = (&s.parts, &s.window, &s.shape);
    let tz = o.tz.clone();
    let kinds: Vec<&'static kinds::Kind> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Table(k) => Some(*k),
            Part::Listen => None,
        })
        .collect();
    // A picture of 2.5 days or more has a point per 15 minutes or more (render::svg): it is
    // drawn from the quarter-hour rollups throughout, a week of one-minute samples read as
    // 672 rows per interface instead of 10 080.
    let coarse = o.format.is_picture()
        && window.end_ms() - window.start_ms() >= 60 * 3_600_000
        && shape.interval_ms.is_none_or(|i| i <= 15 * 60_000);
    // Raw rows wherever raw samples are stored, rollups for the part retention pruned.
    let raw_from = r.horizons()?.raw_from_ms;
    let data = Data::load(r, window, &kinds, coarse)?;
    let res = data.resolution();
    let mut notes = Notes {
        resolution: (!coarse).then_some((res, raw_from)),
        empty: data.samples.is_empty() && data.rolled.is_none(),
        unmatched: None,
    };
    let listeners = if parts.iter().any(|p| matches!(p, Part::Listen)) {
        r.listeners(window)?
    } else {
        Vec::new()
    };
    // The host as of the window's last sample; unknown (null) when the window is empty.
    let host = match (data.samples.last(), &data.rolled) {
        (Some(s), _) => Some(Host {
            hostname: s.hostname.clone(),
            kernel: s.kernel.clone(),
            arch: s.arch.clone(),
            ncpu: s.ncpu,
        }),
        (None, Some(_)) => r.last_host()?,
        (None, None) => None,
    };
    let listen_netns = {
        let mut v: Vec<&[u8]> = listeners.iter().map(|l| l.netns.as_slice()).collect();
        v.sort();
        v.dedup();
        v.len() > 1
    };

    let tables: Vec<Table> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Table(k) => Some(build(k, &data, shape)),
            Part::Listen => None,
        })
        .collect();
    // A filter that matches nothing recorded says so, with what was recorded.
    if !shape.filter.is_empty() {
        let seen: Vec<(&[u8], &[u8])> = tables
            .iter()
            .flat_map(|t| t.seen.iter().map(|(ns, n)| (&ns[..], &n[..])))
            .collect();
        if tables.iter().any(|t| t.kind.key == kinds::Key::Iface) {
            notes.unmatched = shape.filter.unmatched(&seen);
        }
    }
    // Each part as typed rows, in the order asked for: (kind, rows, averages, restarts).
    let typed = || {
        let mut tables = tables.iter();
        parts
            .iter()
            .filter_map(|p| match p {
                Part::Table(_) => tables.next().map(|t| {
                    (
                        t.kind.name,
                        render::rows(t),
                        Some(render::averages(t)),
                        Some(render::restarts(t)),
                    )
                }),
                Part::Listen => Some(("LISTEN", listen::rows(&listeners), None, None)),
            })
            .collect::<Vec<(&str, Rows, Option<Rows>, Option<Rows>)>>()
    };
    let w = match o.format {
        Format::Table => (|| {
            // No samples: the note on stderr says so; there is no host to head the table.
            if let Some(host) = &host {
                render::heading(o.text(), host, &data_span(&tables, window), &tz)?;
            }
            render::tables(o.text(), &tables, &tz, s.human)?;
            if parts.iter().any(|p| matches!(p, Part::Listen)) {
                listen::table(o.text(), &listeners, &tz, listen_netns)?;
            }
            Ok(())
        })(),
        Format::Csv => (|| {
            // One CSV document per kind; several kinds are separated by a blank line.
            for (i, (_, rows, _, _)) in typed().iter().enumerate() {
                if i > 0 {
                    o.csv_separator()?;
                }
                o.rows(rows, Default::default())?;
            }
            Ok(())
        })(),
        Format::Ndjson => (|| {
            for (kind, rows, _, _) in typed() {
                for r in &rows.rows {
                    o.ndjson_row(&[("kind", kind.into())], &rows.columns, r)?;
                }
            }
            Ok(())
        })(),
        Format::Svg | Format::Png => {
            let note = if coarse {
                let slot =
                    (window.end_ms() - window.start_ms()) / crate::output::svg::BUCKETS as i64;
                format!(
                    "drawn from {}: a point per {} at most",
                    res.describe(),
                    crate::output::units::duration(slot.max(15 * 60_000))
                )
            } else if res == Resolution::Raw {
                String::new()
            } else {
                format!(
                    "before {} (pruned raw samples) read from {}",
                    crate::output::local_text(raw_from, &tz),
                    res.describe()
                )
            };
            let title = o.picture_title(
                &tables
                    .iter()
                    .map(|t| t.kind.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            let svg = render::svg(
                &tables,
                &title,
                &note,
                (window.start_ms(), window.end_ms()),
                &tz,
            );
            o.picture(&svg)?;
            return Ok(notes);
        }
        Format::Json => {
            let reports: Vec<serde_json::Value> = typed()
                .iter()
                .map(|(kind, rows, avg, restarts)| {
                    let mut m = serde_json::Map::new();
                    m.insert("kind".into(), (*kind).into());
                    m.insert("rows".into(), o.objects(rows));
                    if let Some(a) = avg {
                        m.insert("average".into(), o.objects(a));
                    }
                    if let Some(r) = restarts {
                        m.insert("restarts".into(), o.objects(r));
                    }
                    serde_json::Value::Object(m)
                })
                .collect();
            let body = serde_json::json!({
                "system": host.as_ref().map(|h| serde_json::json!({
                    "kernel": h.kernel,
                    "arch": h.arch,
                    "cpus": h.ncpu,
                })),
                "samples": data.samples.len(),
                "resolution": res.describe(),
                "reports": reports,
            });
            match body {
                serde_json::Value::Object(m) => o.json(m),
                _ => Ok(()),
            }
        }
    };
    w.map_err(write_error)?;
    Ok(notes)
}
