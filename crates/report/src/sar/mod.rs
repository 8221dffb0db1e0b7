//! PRESENT: turn stored samples into per-interval rows, averages and gaps for one report
//! kind, independent of the output format.
//!
//! Rates are computed here, at report time, from stored deltas and CLOCK_BOOTTIME intervals.
//! Segments (runs of consecutive samples of one boot) are never merged: sar's `Average:`
//! block closes each one, and a reboot prints `LINUX RESTART` between them.

pub mod kinds;
pub mod listen;
pub mod render;
pub mod rolled;
pub mod view;

use kinds::{Calc, Key, Kind, Src};
use nrec_model::counter::Flag;
use nrec_model::error::Result;
use nrec_model::time::Window;
use nrec_store::Reader;
use nrec_store::query::{IfaceRow, Keysets, ProcRow, ProtoRow, SampleRow};
use std::collections::HashMap;

pub use nrec_store::query::Name;

/// A run of consecutive samples of one boot inside the window.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Time of the reading the first interval starts from (sar's heading time).
    pub start_ms: i64,
    /// The segment begins with a reboot: print `LINUX RESTART` before it.
    pub restart: bool,
    pub ncpu: u32,
}

/// A gauge the sample did not know (e.g. SYN_RECV when the hash walk was skipped): shown as
/// `-`, empty in CSV, null in JSON, and it makes any sum or mean it enters unknown too.
pub(crate) const UNKNOWN: u128 = u128::MAX;

/// One output row: an interval (or a resampled bucket) for one interface or namespace.
#[derive(Debug, Clone)]
pub struct Row {
    /// End of the interval, UTC ms.
    pub time_ms: i64,
    pub elapsed_ms: i64,
    pub segment: usize,
    pub netns: Name,
    pub iface: Option<Name>,
    /// Sums of the kind's inputs; None when the interval was flagged and not counted.
    pub sums: Option<Vec<u128>>,
    /// Number of samples aggregated (for gauge means).
    pub n: u32,
    pub speed_mbps: Option<u32>,
    pub duplex: Option<u8>,
    /// The link speed was recorded for this row (false for rollup rows, which keep none):
    /// `%ifutil` is then unknown, never 0.
    pub util_known: bool,
    pub flags: i64,
    /// The interval is much longer than the usual one: samples are missing.
    pub gap: bool,
}

/// The key of SOFT's one row: the host's CPUs together, as sar names it.
pub(crate) const ALL_CPUS: &[u8] = b"all";

/// Options that shape a table.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// `--iface` / `--netns`.
    pub filter: nrec_model::filter::IfaceFilter,
    pub omit_idle: bool,
    pub interval_ms: Option<i64>,
    /// Resampled buckets are counted from here (the local midnight the window starts in),
    /// so `--interval 6h` rows are 00:00–06:00… in local time.
    pub origin_ms: i64,
}

#[derive(Debug)]
pub struct Table {
    pub kind: &'static Kind,
    pub segments: Vec<Segment>,
    pub rows: Vec<Row>,
    /// Per segment, one row per key: the Average block.
    pub averages: Vec<Row>,
    /// Whether rows must name their namespace (several namespaces, colliding names).
    pub show_netns: bool,
    /// Interface kinds: every (namespace, interface) of the window before `--iface` /
    /// `--netns` filtered them, so a filter that matches nothing can say what there was.
    pub seen: Vec<(Name, Name)>,
    /// Shown next to interface names in the text and the picture (not in CSV or JSON, whose
    /// key is the name `--iface` takes back).
    pub aliases: nrec_model::names::Aliases,
}

/// Everything a report needs from the database for one window, loaded once: the part of the
/// window whose raw samples are stored as raw rows, the part before them (pruned by
/// retention) from rollups — part by part, so a window on a database that was never pruned
/// is raw throughout.
pub(crate) struct Data {
    pub samples: Vec<SampleRow>,
    ifaces: Option<Vec<IfaceRow>>,
    protos: Option<(Vec<ProtoRow>, Keysets)>,
    procs: Option<Vec<ProcRow>>,
    /// Rollup rows of the window's pruned part, when it holds any.
    pub rolled: Option<rolled::Rolled>,
}

impl Data {
    /// Loads the window's rows for the given kinds; `coarse`: from the quarter-hour rollups
    /// throughout (a picture of days).
    pub fn load(r: &mut Reader, w: &Window, kinds: &[&Kind], coarse: bool) -> Result<Self> {
        let (a, b) = (w.start_ms(), w.end_ms());
        let raw_from = if coarse {
            b.max(a)
        } else {
            r.horizons()?.raw_from_ms.clamp(a, b.max(a))
        };
        let rolled = if raw_from > a {
            rolled::Rolled::load(r, (a, raw_from), kinds)?
        } else {
            None
        };
        let raw = Window {
            start: jiff::Timestamp::from_millisecond(raw_from).unwrap_or(w.start),
            end: w.end,
            label: w.label.clone(),
        };
        let w = &raw;
        let need = |k: Key| kinds.iter().any(|x| x.key == k);
        let samples = r.samples(w)?;
        Ok(Data {
            ifaces: need(Key::Iface)
                .then(|| {
                    let mut cols = [false; 16];
                    for inp in kinds.iter().flat_map(|k| k.inputs) {
                        if let Src::Dev(k) = inp.src {
                            cols[k] = true;
                        }
                    }
                    r.iface_rows(&samples, &cols)
                })
                .transpose()?,
            protos: (need(Key::Netns) || need(Key::Cpu))
                .then(|| r.proto_rows(w))
                .transpose()?,
            procs: need(Key::Proc).then(|| r.proc_rows(w)).transpose()?,
            samples,
            rolled,
        })
    }

    /// The coarsest data the window's rows come from.
    pub fn resolution(&self) -> nrec_store::window::Resolution {
        self.rolled.as_ref().map(|r| r.res).unwrap_or_default()
    }
}

struct Interval {
    sample: i64,
    ts_ms: i64,
    elapsed_ms: i64,
    segment: usize,
}

fn intervals(samples: &[SampleRow]) -> (Vec<Interval>, Vec<Segment>) {
    let mut out = Vec::new();
    let mut segs: Vec<Segment> = Vec::new();
    let mut last: Option<&SampleRow> = None;
    for s in samples {
        let continues = matches!((s.prev, last), (Some(p), Some(l)) if p == l.id);
        if !continues {
            let restart = s.prev.is_none()
                && (s.elapsed_ms.is_some() || last.is_some_and(|l| l.boot_id != s.boot_id));
            segs.push(Segment {
                start_ms: s.ts_ms - s.elapsed_ms.unwrap_or(0),
                restart,
                ncpu: s.ncpu,
            });
        }
        if let Some(el) = s.elapsed_ms {
            out.push(Interval {
                sample: s.id,
                ts_ms: s.ts_ms,
                elapsed_ms: el,
                segment: segs.len() - 1,
            });
        }
        last = Some(s);
    }
    (out, segs)
}

/// Builds the table of `kind` from loaded data.
pub(crate) fn build(kind: &'static Kind, data: &Data, shape: &Shape) -> Table {
    let (ivs, mut raw_segments) = intervals(&data.samples);
    let mut rows = match kind.key {
        Key::Iface => iface_table_rows(kind, &ivs, data.ifaces.as_deref().unwrap_or(&[])),
        Key::Netns | Key::Cpu => proto_table_rows(kind, &ivs, data.protos.as_ref()),
        Key::Proc => proc_table_rows(kind, &ivs, data.procs.as_deref().unwrap_or(&[])),
    };
    mark_gaps(&mut rows);
    // The pruned part's rollup rows come first, as segment 0; the raw part continues it
    // (one Average block) unless it begins with a reboot.
    let mut segments = Vec::new();
    // each segment's sampled time: a process's Average is over it, as sar's and DEV's are —
    // not over the intervals the process happened to move bytes in
    let mut sampled: HashMap<usize, i64> = HashMap::new();
    let mut shift = 0;
    if let Some(r) = &data.rolled {
        segments = r.segments();
        sampled.insert(0, r.sampled_ms());
        shift = segments.len();
        if raw_segments.first().is_some_and(|s| !s.restart) {
            raw_segments.remove(0);
            shift -= 1;
        }
        for row in &mut rows {
            row.segment += shift;
        }
        let mut all = r.rows(kind);
        all.append(&mut rows);
        rows = all;
    }
    segments.append(&mut raw_segments);
    let mut seen: Vec<(Name, Name)> = Vec::new();
    if kind.key == Key::Iface {
        for r in &rows {
            if let Some(n) = &r.iface {
                if !seen.iter().any(|(ns, x)| ns == &r.netns && x == n) {
                    seen.push((r.netns.clone(), n.clone()));
                }
            }
        }
    }
    if !shape.filter.is_empty() {
        rows.retain(|r| match (kind.key, &r.iface) {
            (Key::Iface, Some(n)) => shape.filter.matches(&r.netns, n),
            _ => shape.filter.netns_matches(&r.netns),
        });
    }
    if let Some(step) = shape.interval_ms {
        rows = resample(rows, step, shape.origin_ms);
    }
    for iv in &ivs {
        *sampled.entry(iv.segment + shift).or_default() += iv.elapsed_ms;
    }
    let mut averages = average(&rows);
    if kind.key == Key::Proc {
        for a in &mut averages {
            a.elapsed_ms = sampled.get(&a.segment).copied().unwrap_or(a.elapsed_ms);
        }
    }
    if shape.omit_idle {
        rows.retain(|r| !is_idle(kind, r));
        averages.retain(|r| !is_idle(kind, r));
    }
    let mut by_name: HashMap<&[u8], &[u8]> = HashMap::new();
    let mut netns_seen: Vec<&[u8]> = Vec::new();
    let mut collide = false;
    for r in rows.iter().chain(&averages) {
        if !netns_seen.contains(&&r.netns[..]) {
            netns_seen.push(&r.netns);
        }
        if let Some(n) = &r.iface {
            if let Some(ns) = by_name.insert(n, &r.netns) {
                collide |= ns != &r.netns[..];
            }
        }
    }
    let show_netns = if kind.key != Key::Netns {
        collide
    } else {
        netns_seen.len() > 1
    };
    Table {
        kind,
        segments,
        rows,
        averages,
        show_netns,
        seen,
        aliases: shape.filter.aliases().clone(),
    }
}

fn iface_table_rows(kind: &Kind, ivs: &[Interval], rows: &[IfaceRow]) -> Vec<Row> {
    let by_sample = group_by(rows, |r| r.sample);
    let mut out = Vec::new();
    for iv in ivs {
        for r in by_sample.get(&iv.sample).into_iter().flatten() {
            if r.deltas.is_none() && r.flags & Flag::Implausible as i64 == 0 {
                continue; // a baseline reading: nothing to report, as sar's first record
            }
            let sums = r.deltas.map(|d| {
                kind.inputs
                    .iter()
                    .map(|inp| match inp.src {
                        Src::Dev(k) => u128::from(d[k]),
                        _ => 0,
                    })
                    .collect()
            });
            out.push(Row {
                time_ms: iv.ts_ms,
                elapsed_ms: iv.elapsed_ms,
                segment: iv.segment,
                netns: r.netns.clone(),
                iface: Some(r.name.clone()),
                sums,
                n: 1,
                speed_mbps: r.speed_mbps,
                duplex: r.duplex,
                util_known: true,
                flags: r.flags,
                gap: false,
            });
        }
    }
    out
}

fn proto_table_rows(
    kind: &Kind,
    ivs: &[Interval],
    protos: Option<&(Vec<ProtoRow>, Keysets)>,
) -> Vec<Row> {
    let Some((prows, keysets)) = protos else {
        return Vec::new();
    };
    let by_sample = group_by(prows, |r| r.sample);
    let sum_keys = |row: &ProtoRow, keys: &[&str]| -> Option<u128> {
        keys.iter()
            .map(|k| row.get(keysets, k).map(u128::from))
            .sum::<Option<u128>>()
    };
    let mut out = Vec::new();
    for iv in ivs {
        for cur in by_sample.get(&iv.sample).into_iter().flatten() {
            if kind.inputs.iter().all(|inp| match inp.src {
                Src::Gauge(keys) => keys.iter().all(|k| cur.get(keysets, k).is_none()),
                _ => false,
            }) {
                continue; // the source was not collected at all: no row, never a zero row
            }
            // Counters are stored as deltas over the interval (from zero after a reboot);
            // a sample without its predecessor's readings has none.
            let sums: Option<Vec<u128>> = kind
                .inputs
                .iter()
                .map(|inp| match inp.src {
                    Src::Gauge(keys) => Some(sum_keys(cur, keys).unwrap_or(UNKNOWN)),
                    Src::Ctr(keys) if cur.counted > 0 => sum_keys(cur, keys),
                    Src::Ctr(_) | Src::Dev(_) | Src::Proc(_) => None,
                })
                .collect();
            // A namespace or source missing at either end yields no row, never a zero row.
            let Some(sums) = sums else { continue };
            out.push(Row {
                time_ms: iv.ts_ms,
                elapsed_ms: iv.elapsed_ms,
                segment: iv.segment,
                netns: Name::from(cur.netns.as_slice()),
                iface: (kind.key == Key::Cpu).then(|| Name::from(ALL_CPUS)),
                sums: Some(sums),
                n: 1,
                speed_mbps: None,
                duplex: None,
                util_known: true,
                flags: if cur.counted == 2 {
                    Flag::Boot as i64
                } else {
                    0
                },
                gap: false,
            });
        }
    }
    out
}

fn proc_table_rows(kind: &Kind, ivs: &[Interval], rows: &[ProcRow]) -> Vec<Row> {
    let by_sample = group_by(rows, |r| r.sample);
    let mut out = Vec::new();
    for iv in ivs {
        for r in by_sample.get(&iv.sample).into_iter().flatten() {
            let mut label = r.comm.clone();
            label.extend_from_slice(format!("[{}]", r.pid).as_bytes());
            out.push(Row {
                time_ms: iv.ts_ms,
                elapsed_ms: iv.elapsed_ms,
                segment: iv.segment,
                netns: Name::from(r.netns.as_slice()),
                iface: Some(Name::from(label)),
                sums: Some(
                    kind.inputs
                        .iter()
                        .map(|inp| match inp.src {
                            Src::Proc(0) => u128::from(r.rx),
                            Src::Proc(_) => u128::from(r.tx),
                            _ => 0,
                        })
                        .collect(),
                ),
                n: 1,
                speed_mbps: None,
                duplex: None,
                util_known: true,
                flags: 0,
                gap: false,
            });
        }
    }
    out
}

fn group_by<T, K: std::hash::Hash + Eq>(v: &[T], key: impl Fn(&T) -> K) -> HashMap<K, Vec<&T>> {
    let mut m: HashMap<K, Vec<&T>> = HashMap::new();
    for x in v {
        m.entry(key(x)).or_default().push(x);
    }
    m
}

/// An interval well beyond the usual one (2.5× the median and a minute more) means samples
/// are missing; such rows are marked so that output can show the gap instead of hiding it.
fn mark_gaps(rows: &mut [Row]) {
    let mut el: Vec<i64> = rows.iter().map(|r| r.elapsed_ms).collect();
    if el.len() < 3 {
        return;
    }
    el.sort_unstable();
    let median = el[el.len() / 2];
    for r in rows.iter_mut() {
        r.gap = r.elapsed_ms > median * 5 / 2 && r.elapsed_ms > median + 60_000;
    }
}

fn merge(into: &mut Row, r: &Row) {
    match (&mut into.sums, &r.sums) {
        (Some(a), Some(b)) => {
            for (x, y) in a.iter_mut().zip(b) {
                *x = if *x == UNKNOWN || *y == UNKNOWN {
                    UNKNOWN
                } else {
                    *x + *y
                };
            }
            into.elapsed_ms += r.elapsed_ms;
            into.n += r.n;
        }
        (None, Some(b)) => {
            into.sums = Some(b.clone());
            into.elapsed_ms = r.elapsed_ms;
            into.n = r.n;
        }
        _ => {}
    }
    into.time_ms = into.time_ms.max(r.time_ms);
    into.util_known &= r.util_known;
    into.flags |= r.flags;
    into.gap |= r.gap;
    if r.speed_mbps.is_some() {
        into.speed_mbps = r.speed_mbps;
        into.duplex = r.duplex;
    }
}

/// (segment, bucket, netns, iface): rows with the same key are merged.
type MergeKey<'a> = (usize, i64, &'a [u8], Option<&'a [u8]>);

/// Rows keyed by (segment, bucket, netns, iface), merged in first-seen order.
pub(crate) fn merge_by(
    rows: &[Row],
    bucket: impl Fn(&Row) -> i64,
    time: impl Fn(&Row, i64) -> i64,
) -> Vec<Row> {
    let mut idx: HashMap<MergeKey<'_>, usize> = HashMap::new();
    let mut out: Vec<Row> = Vec::new();
    for r in rows {
        let b = bucket(r);
        let key = (r.segment, b, &r.netns[..], r.iface.as_deref());
        match idx.get(&key) {
            Some(&i) => merge(&mut out[i], r),
            None => {
                idx.insert(key, out.len());
                let mut first = r.clone();
                if first.sums.is_none() {
                    first.elapsed_ms = 0;
                    first.n = 0;
                }
                first.time_ms = time(r, b);
                out.push(first);
            }
        }
    }
    out
}

/// Coarser rows: bucket k, `(origin + k*step, origin + (k+1)*step]`, sums the intervals that
/// end in it (§4 "Windows") and is labelled by the end of its data — the last interval it
/// holds — never by a bucket end that lies in the future.
fn resample(rows: Vec<Row>, step: i64, origin: i64) -> Vec<Row> {
    let bucket = |r: &Row| (r.time_ms - 1 - origin).div_euclid(step);
    let mut out = merge_by(&rows, bucket, |r, _| r.time_ms);
    out.retain(|r| r.n > 0 || r.sums.is_none());
    out
}

/// The Average block: per segment and key, total deltas over total counted time.
fn average(rows: &[Row]) -> Vec<Row> {
    let counted: Vec<Row> = rows.iter().filter(|r| r.sums.is_some()).cloned().collect();
    merge_by(&counted, |_| 0, |r, _| r.time_ms)
}

fn is_idle(kind: &Kind, r: &Row) -> bool {
    match &r.sums {
        Some(s) => {
            let idle = |i: usize| s[i] == 0 || s[i] == UNKNOWN;
            kind.columns.iter().all(|c| match c.calc {
                Calc::Rate(i, _) | Calc::Mean(i) => idle(i),
                Calc::IfUtil(a, b) => idle(a) && idle(b),
            })
        }
        None => false,
    }
}

/// The value of column `c` for row `r` (None when the row was not counted).
pub fn value(c: &kinds::Column, r: &Row) -> Option<f64> {
    let s = r.sums.as_ref()?;
    let used = match c.calc {
        Calc::Rate(i, _) | Calc::Mean(i) => [i, i],
        Calc::IfUtil(a, b) => [a, b],
    };
    if used.iter().any(|i| s[*i] == UNKNOWN) {
        return None;
    }
    let secs = r.elapsed_ms as f64 / 1000.0;
    let per_s = |i: usize| if secs > 0.0 { s[i] as f64 / secs } else { 0.0 };
    Some(match c.calc {
        Calc::Rate(i, div) => per_s(i) / div,
        Calc::Mean(i) => s[i] as f64 / f64::from(r.n.max(1)),
        Calc::IfUtil(..) if !r.util_known => return None,
        Calc::IfUtil(rx, tx) => match r.speed_mbps {
            Some(mbps) if mbps > 0 => {
                let speed = f64::from(mbps) * 1_000_000.0;
                let (rx, tx) = (per_s(rx), per_s(tx));
                if r.duplex == Some(1) {
                    rx.max(tx) * 800.0 / speed
                } else {
                    (rx + tx) * 800.0 / speed
                }
            }
            _ => 0.0,
        },
    })
}
