//! The counters' history for a backfill (`export --format openmetrics` with a window, for
//! `promtool tsdb create-blocks-from openmetrics`): the values a scrape of `nrec serve` would
//! have shown — sums since recording began — at every point the database can still tell.
//!
//! - **Points** are the stored samples themselves where raw samples are kept (each sample's
//!   end), the rollups' bucket ends beyond the raw retention (quarter hours where their detail
//!   is kept, UTC days before), the rule every report reads by; up to and including the newest
//!   sample, so the last point of a backfill is what `/metrics` serves then. `--resolution`
//!   asks for coarser points (its last, open bucket is stamped at the newest sample).
//! - **Memory is the label sets kept, not the window**: the busiest processes and ports are
//!   ranked first from window totals, then the data is read once, in time order, and each
//!   family's lines go to a temporary file of their own (the format wants a family's lines
//!   together); the files are copied out behind their headers at the end.
//! - The value before the window: the days before the window's first UTC day (rollups and what
//!   retention carried, as a scrape sums them), then that day's data up to the window's start,
//!   read as the window is: no sample is counted twice or left out at the seam.

use crate::metrics::{
    Bounds, NET, chosen_ifaces, class_labels, family_in, iface_labels, proc_label,
};
use crate::output::openmetrics::label_value;
use nrec_model::error::Error;
use nrec_model::names::escape_text;
use nrec_model::time::{DAY_MS, instant};
use nrec_store::rollup::{Kind, add_into};
use nrec_store::window::{Edge, Resolution, Step};
use nrec_store::{AllTimeCache, Reader};
use std::collections::HashMap;
use std::io::{BufWriter, Seek, Write};
use std::sync::Mutex;

/// What to write.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `(a, b]`: points after `a`, up to `b`.
    pub window: (i64, i64),
    /// None: the finest data stored (raw samples, then rollups). Some(None): raw samples
    /// (refused where they were pruned). Some(Some(step)): bucket ends of that step.
    pub step: Option<Option<Step>>,
    /// Only the families of this series kind.
    pub kind: Option<Kind>,
    /// `(a, b]` over which the busiest processes and ports are ranked: the window itself for
    /// a backfill; the 24 hours before its end for a push (as `/metrics` ranks them).
    pub rank: (i64, i64),
    /// Every label set with a value at every point (a push: what a scrape at that instant
    /// would have shown, so no series goes stale while it is idle), not only those that
    /// changed (a backfill: the blocks need no more).
    pub every: bool,
}

/// What a history wrote.
#[derive(Debug, Default)]
pub struct Written {
    /// Values written.
    pub points: u64,
    /// The newest point's time (ms).
    pub last_ms: Option<i64>,
}

/// A failure while writing history: the database's, the output's, or the sink's own (a push
/// that was refused, or ran out of time).
#[derive(Debug)]
pub enum HistoryError {
    Db(Error),
    Io(std::io::Error),
    Sink(String),
}

impl From<Error> for HistoryError {
    fn from(e: Error) -> Self {
        HistoryError::Db(e)
    }
}
impl From<std::io::Error> for HistoryError {
    fn from(e: std::io::Error) -> Self {
        HistoryError::Io(e)
    }
}

/// The groups of label sets a series feeds; each has its families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Group {
    Iface,
    Proc,
    Attributed,
    Port,
    /// A traffic class: the host series of one address family and scope.
    Traffic,
    Time,
}

/// One family of the history: its name (without `_total`), unit and help.
#[derive(Debug)]
pub struct FamilyInfo {
    pub name: &'static str,
    pub unit: Option<&'static str>,
    pub help: &'static str,
    group: Group,
    at: usize,
}

/// One series of a point: its family and its label set (`id` numbers the label sets of one
/// history; `pairs` are the label values as `/metrics` shows them, unescaped for the format;
/// `braces` is the OpenMetrics `{…}` text, or empty).
pub struct SeriesRef<'a> {
    pub family: usize,
    pub info: &'a FamilyInfo,
    pub id: usize,
    pub pairs: &'a [(&'static str, String)],
    pub braces: &'a str,
}

/// Where a history's values go, in time order: every value of one point time, then
/// [`Sink::end_point`].
pub trait Sink {
    fn value(&mut self, t_ms: i64, s: &SeriesRef<'_>, v: u64) -> Result<(), HistoryError>;
    fn end_point(&mut self, t_ms: i64) -> Result<(), HistoryError>;
}

/// The label sets of every group, each with its running sums: a flat table, indexed by
/// label id.
#[derive(Default)]
struct Labels {
    group: Vec<Group>,
    pairs: Vec<Vec<(&'static str, String)>>,
    /// `{…}` with the labels, or empty.
    braces: Vec<String>,
    sum: Vec<Vec<u64>>,
    /// Changed since the last point time.
    dirty: Vec<bool>,
    /// The ids that are dirty, in the order they changed.
    changed: Vec<usize>,
    /// (group, text) → id.
    ids: HashMap<(Group, String), usize>,
}

impl Labels {
    fn id(&mut self, g: Group, pairs: Vec<(&'static str, String)>) -> usize {
        let text = braces_of(&pairs);
        if let Some(i) = self.ids.get(&(g, text.clone())) {
            return *i;
        }
        let i = self.group.len();
        self.group.push(g);
        self.pairs.push(pairs);
        self.braces.push(if text.is_empty() {
            String::new()
        } else {
            format!("{{{text}}}")
        });
        self.sum.push(Vec::new());
        self.dirty.push(false);
        self.ids.insert((g, text), i);
        i
    }
}

/// A label set as OpenMetrics text (without the braces).
fn braces_of(pairs: &[(&'static str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", lv(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Series id → the label sets (ids) it feeds.
type Feeds = HashMap<i64, Vec<usize>>;

/// The OpenMetrics sink: each family's lines in a temporary file of their own.
struct TextSink {
    files: Vec<(BufWriter<std::fs::File>, u64)>,
    stamp: (i64, String),
}

impl Sink for TextSink {
    fn value(&mut self, t: i64, s: &SeriesRef<'_>, v: u64) -> Result<(), HistoryError> {
        if self.stamp.0 != t || self.stamp.1.is_empty() {
            self.stamp = (
                t,
                format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000)),
            );
        }
        let (f, n) = &mut self.files[s.family];
        writeln!(f, "{}_total{} {v} {}", s.info.name, s.braces, self.stamp.1)?;
        *n += 1;
        Ok(())
    }
    fn end_point(&mut self, _: i64) -> Result<(), HistoryError> {
        Ok(())
    }
}

/// Writes the history of `s.window` to `out` as OpenMetrics text (the backfill).
pub fn write(
    r: &mut Reader,
    s: &Settings,
    m: &Bounds,
    out: &mut dyn Write,
) -> std::result::Result<Written, HistoryError> {
    let fams = families(s.kind);
    let mut sink = TextSink {
        files: fams
            .iter()
            .map(|_| Ok((BufWriter::with_capacity(1 << 16, tempfile::tempfile()?), 0)))
            .collect::<std::io::Result<_>>()?,
        stamp: (0, String::new()),
    };
    let done = history(
        r,
        s,
        m,
        &fams,
        &mut sink,
        &Mutex::new(AllTimeCache::default()),
    )?;
    let mut out = BufWriter::with_capacity(1 << 16, out);
    for (f, (lines, n)) in fams.iter().zip(&mut sink.files) {
        if *n == 0 {
            continue;
        }
        writeln!(out, "# TYPE {} counter", f.name)?;
        if let Some(u) = f.unit {
            writeln!(out, "# UNIT {} {u}", f.name)?;
        }
        writeln!(out, "# HELP {} {}", f.name, f.help)?;
        lines.flush()?;
        let file = lines.get_mut();
        file.rewind()?;
        std::io::copy(file, &mut out)?;
    }
    out.write_all(b"# EOF\n")?;
    out.flush()?;
    Ok(done)
}

/// Gives `sink` the history of `s.window` (the families `fams`, from [`families`]), point
/// time by point time. `cache`: the past days' sums, shared with a scrape of the same
/// snapshot (`metrics::collect`; a push reads them once).
pub fn history(
    r: &mut Reader,
    s: &Settings,
    m: &Bounds,
    fams: &[FamilyInfo],
    sink: &mut dyn Sink,
    cache: &Mutex<AllTimeCache>,
) -> std::result::Result<Written, HistoryError> {
    let (a, b) = s.window;
    let h = r.horizons()?;
    // what the chosen resolution needs stored at the start of the window
    if let Some(step) = s.step {
        let need = match step {
            None => Resolution::Raw,
            Some(Step::Day) => Resolution::Day,
            Some(_) => Resolution::Quarter,
        };
        let finest = h.finest(a.max(0));
        if need < finest {
            return Err(Error::usage(format!(
                "--resolution {}: not stored for the start of the window ({} only); use a coarser resolution or a shorter window",
                crate::export::step_name(step),
                finest.describe()
            ))
            .into());
        }
    }
    let newest = r.newest()?.map(|l| l.ts_ms);
    let mut labels = Labels::default();
    let mut feeds: Feeds = HashMap::new();
    let mut label =
        |g: Group, pairs: Vec<(&'static str, String)>, series: i64, labels: &mut Labels| {
            let i = labels.id(g, pairs);
            feeds.entry(series).or_default().push(i);
        };
    for i in chosen_ifaces(r, &m.ifaces)? {
        label(
            Group::Iface,
            iface_labels(&m.ifaces, &i),
            i.series,
            &mut labels,
        );
    }
    // the busiest processes and ports of the ranking window, from its totals (ranked before
    // any point is read: what is kept is known up front)
    let totals = r.sums(&[Kind::Proc, Kind::Port], s.rank.0, s.rank.1)?;
    let grown = |series: &[i64]| -> u64 {
        series
            .iter()
            .filter_map(|id| totals.by_series.get(id))
            .map(|v| v.iter().take(2).sum::<u64>())
            .sum()
    };
    let mut by_label: HashMap<Vec<(&'static str, String)>, Vec<i64>> = HashMap::new();
    for p in r.procs()? {
        by_label
            .entry(vec![proc_label(m.by, &p)])
            .or_default()
            .push(p.series);
        label(Group::Attributed, Vec::new(), p.series, &mut labels);
    }
    for (pairs, series) in busiest(by_label, m.processes, &grown) {
        for id in series {
            label(Group::Proc, pairs.clone(), id, &mut labels);
        }
    }
    let mut by_label: HashMap<Vec<(&'static str, String)>, Vec<i64>> = HashMap::new();
    for d in r.details(Kind::Port, None)? {
        by_label
            .entry(vec![
                ("proto", escape_text(&d.proto)),
                ("port", d.port.to_string()),
            ])
            .or_default()
            .push(d.series);
    }
    for (pairs, series) in busiest(by_label, m.ports, &grown) {
        for id in series {
            label(Group::Port, pairs.clone(), id, &mut labels);
        }
    }
    // every host series under its class: a handful of label sets, nothing to rank
    for d in r.details(Kind::Host, None)? {
        if let Some(pairs) = class_labels(&d.addr, &m.lan) {
            label(Group::Traffic, pairs, d.series, &mut labels);
        }
    }
    for id in r.time_series()? {
        label(Group::Time, Vec::new(), id, &mut labels);
    }
    let d0 = a.div_euclid(DAY_MS);
    let until = newest.map_or(b, |n| n.min(b));
    let all_kinds = [Kind::Iface, Kind::Proc, Kind::Port, Kind::Host, Kind::Time];
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    // A window on the newest day that reaches the newest sample (a push of what the last
    // samples added): the value before it is the all-time sum (the past days' sums, cached,
    // and today's daily rows) less the window's own intervals — not today's every sample
    // up to the window, which at midnight less a minute is a day of them.
    let on_newest_day = newest.is_some_and(|n| n <= b && n.div_euclid(DAY_MS) == d0);
    let from_window = s.step.is_none() && on_newest_day && h.raw_from_ms <= a;
    if from_window {
        let mut window: HashMap<i64, Vec<u64>> = HashMap::new();
        r.intervals(&all_kinds, (a, until), |i| -> Result<(), HistoryError> {
            add_into(window.entry(i.series).or_default(), &i.vals);
            Ok(())
        })?;
        for (series, t) in r.all_time(&crate::metrics::KINDS, &mut cache)? {
            let mut v = t.total;
            for (x, y) in v.iter_mut().zip(window.get(&series).into_iter().flatten()) {
                *x = x.saturating_sub(*y);
            }
            for f in feeds.get(&series).into_iter().flatten() {
                add_into(&mut labels.sum[*f], &v);
            }
        }
    } else {
        // the value before the window's first UTC day, as a scrape sums it
        for (series, t) in r.all_time_before(&crate::metrics::KINDS, d0, &mut cache)? {
            for f in feeds.get(&series).into_iter().flatten() {
                add_into(&mut labels.sum[*f], &t.total);
            }
        }
    }
    drop(cache);
    let mut w = Points {
        fams,
        sink,
        labels: &mut labels,
        feeds: &feeds,
        after: a,
        every: s.every,
        time: i64::MIN,
        written: Written::default(),
    };
    // the window alone, or that day up to `a` then the window, read the same way and in
    // time order
    let from = d0 * DAY_MS;
    let raw_from = h.raw_from_ms.clamp(from, b.max(from));
    match s.step {
        None if from_window => raw(r, (a, until), &mut w)?,
        None => {
            if raw_from > from {
                buckets(r, (from, raw_from), Step::Finest, None, &mut w)?;
            }
            raw(r, (raw_from, until), &mut w)?;
        }
        Some(None) => raw(r, (from, until), &mut w)?,
        Some(Some(step)) => {
            // the bucket still open (after the newest sample) is stamped at the newest
            // sample, when that is the end of the window
            let open = newest.filter(|n| *n <= b);
            buckets(r, (from, b), step, open, &mut w)?;
        }
    }
    w.flush()?;
    Ok(w.written)
}

/// An OpenMetrics label value, escaped.
fn lv(v: &str) -> String {
    let mut s = String::new();
    label_value(v, &mut s);
    s
}

/// The `n` label sets that grew the most in the window (ties by name), with their series.
fn busiest<K: Ord>(
    set: HashMap<K, Vec<i64>>,
    n: usize,
    grown: &dyn Fn(&[i64]) -> u64,
) -> Vec<(K, Vec<i64>)> {
    let mut ranked: Vec<(u64, K, Vec<i64>)> = set
        .into_iter()
        .map(|(k, ids)| (grown(&ids), k, ids))
        .filter(|(g, _, _)| *g > 0)
        .collect();
    ranked.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    ranked.truncate(n);
    ranked.into_iter().map(|(_, k, ids)| (k, ids)).collect()
}

/// The families a history holds: those of `kind`, or all (every counter `/metrics` has a
/// history of).
pub fn families(kind: Option<Kind>) -> Vec<FamilyInfo> {
    let mut specs: Vec<(
        &'static str,
        Option<&'static str>,
        &'static str,
        Group,
        usize,
    )> = NET
        .iter()
        .enumerate()
        .map(|(k, (name, unit, help))| (*name, *unit, *help, Group::Iface, k))
        .collect();
    specs.extend([
        (
            "nrec_process_receive_bytes",
            Some("bytes"),
            "Bytes received by the processes of this name (unit, container)",
            Group::Proc,
            0,
        ),
        (
            "nrec_process_transmit_bytes",
            Some("bytes"),
            "Bytes transmitted by the processes of this name (unit, container)",
            Group::Proc,
            1,
        ),
        (
            "nrec_attributed_receive_bytes",
            Some("bytes"),
            "Bytes received that nrec credited to a process (all processes)",
            Group::Attributed,
            0,
        ),
        (
            "nrec_attributed_transmit_bytes",
            Some("bytes"),
            "Bytes transmitted that nrec credited to a process (all processes)",
            Group::Attributed,
            1,
        ),
        (
            "nrec_port_receive_bytes",
            Some("bytes"),
            "Bytes received by processes on this local service port",
            Group::Port,
            0,
        ),
        (
            "nrec_port_transmit_bytes",
            Some("bytes"),
            "Bytes transmitted by processes on this local service port",
            Group::Port,
            1,
        ),
        (
            "nrec_traffic_receive_bytes",
            Some("bytes"),
            "Bytes processes received from remote hosts of this address family and scope",
            Group::Traffic,
            0,
        ),
        (
            "nrec_traffic_transmit_bytes",
            Some("bytes"),
            "Bytes processes transmitted to remote hosts of this address family and scope",
            Group::Traffic,
            1,
        ),
        (
            "nrec_unattributed_receive_bytes",
            Some("bytes"),
            "Interface bytes received that no process was credited with (per sample, clamped at zero)",
            Group::Time,
            6,
        ),
        (
            "nrec_unattributed_transmit_bytes",
            Some("bytes"),
            "Interface bytes transmitted that no process was credited with (per sample, clamped at zero)",
            Group::Time,
            7,
        ),
        ("nrec_samples", None, "Samples recorded", Group::Time, 0),
    ]);
    specs
        .into_iter()
        .filter(|(name, ..)| family_in(name, kind))
        .map(|(name, unit, help, group, at)| FamilyInfo {
            name,
            unit,
            help,
            group,
            at,
        })
        .collect()
}

/// The point writer: adds what a bucket or sample contributed, and gives the sink each
/// changed (or, with `every`, each) label set's value once per point time.
struct Points<'a> {
    fams: &'a [FamilyInfo],
    sink: &'a mut dyn Sink,
    labels: &'a mut Labels,
    feeds: &'a Feeds,
    /// Points only after this (what comes before is the value before the window).
    after: i64,
    every: bool,
    /// The point time of what was added since the last flush.
    time: i64,
    written: Written,
}

impl Points<'_> {
    fn add(&mut self, t: i64, series: i64, vals: &[u64]) -> Result<(), HistoryError> {
        if t != self.time {
            self.flush()?;
            self.time = t;
        }
        let l = &mut *self.labels;
        for f in self.feeds.get(&series).into_iter().flatten() {
            add_into(&mut l.sum[*f], vals);
            if !l.dirty[*f] {
                l.dirty[*f] = true;
                l.changed.push(*f);
            }
        }
        Ok(())
    }

    /// Gives the sink the label sets' values at the current point time.
    fn flush(&mut self) -> Result<(), HistoryError> {
        let t = self.time;
        let l = &mut *self.labels;
        if t > self.after && !l.changed.is_empty() {
            let ids: Vec<usize> = if self.every {
                (0..l.sum.len()).filter(|i| !l.sum[*i].is_empty()).collect()
            } else {
                l.changed.sort_unstable();
                l.changed.clone()
            };
            for i in ids {
                for (k, f) in self.fams.iter().enumerate() {
                    if f.group != l.group[i] {
                        continue;
                    }
                    let v = l.sum[i].get(f.at).copied().unwrap_or(0);
                    let s = SeriesRef {
                        family: k,
                        info: f,
                        id: i,
                        pairs: &l.pairs[i],
                        braces: &l.braces[i],
                    };
                    self.sink.value(t, &s, v)?;
                    self.written.points += 1;
                }
            }
            self.sink.end_point(t)?;
            self.written.last_ms = Some(t);
        }
        for &i in &l.changed {
            l.dirty[i] = false;
        }
        l.changed.clear();
        Ok(())
    }
}

/// Rollup buckets of `[from, to)` at `step`, each a point at its end; a bucket that ends
/// after `open` (the newest sample, when the window reaches it) is stamped at `open`, one
/// that ends after `to` otherwise is left out (it holds samples after the window).
fn buckets(
    r: &mut Reader,
    (from, to): (i64, i64),
    step: Step,
    open: Option<i64>,
    w: &mut Points<'_>,
) -> std::result::Result<(), HistoryError> {
    // whole days: the bucket that holds `to` is read, and judged below
    let to_day = (instant(to).div_euclid(DAY_MS) + 1) * DAY_MS;
    r.buckets(
        &[Kind::Iface, Kind::Proc, Kind::Port, Kind::Time],
        (from, to_day),
        step,
        Edge::EndsIn,
        |bk| -> std::result::Result<(), HistoryError> {
            let end = bk.start_ms + bk.len_ms;
            let t = match open {
                Some(n) if end > n && bk.start_ms < n => n,
                _ if end > to => return Ok(()),
                _ => end,
            };
            w.add(t, bk.series, &bk.vals)?;
            Ok(())
        },
    )?;
    Ok(())
}

/// The stored samples ending in `(from, to]`, each a point at its end.
fn raw(
    r: &mut Reader,
    (from, to): (i64, i64),
    w: &mut Points<'_>,
) -> std::result::Result<(), HistoryError> {
    if to <= from {
        return Ok(());
    }
    r.intervals(
        &[Kind::Iface, Kind::Proc, Kind::Port, Kind::Time],
        (from, to),
        |i| -> std::result::Result<(), HistoryError> {
            w.add(i.end_ms, i.series, &i.vals)?;
            Ok(())
        },
    )
}
