//! `nrec summary --95th`: the 95th percentile of a window's 5-minute rates — burstable
//! billing's figure (vnStat's `--95th`): per interface (or one process's, one port's), the
//! rate that 95 % of the window's 5-minute intervals stay at or under, for rx, tx and the
//! larger of the two per interval (what a transit provider bills), and how many intervals
//! were above it.
//!
//! Each stored interval's bytes are spread over the 5-minute slots it overlaps (a one-minute
//! sample lands in one, a ten-minute one in two or three, a gap's bytes over the gap, as
//! rates always are); a slot's rate is its bytes over the time samples covered in it, and a
//! slot less than half covered (the window's edges, a stop) is left out. Where raw samples were
//! pruned the slots are the 15-minute rollups (said in the output: vnStat does the same with
//! its coarser resolutions). An interval that was not counted (an implausible jump) makes its
//! slots unknown, never zero.

use crate::output::{Cell, Format, Output, Rows, write_error};
use crate::summary::{Notes, Subject, series_labels};
use nrec_model::error::Result;
use nrec_store::Reader;
use nrec_store::rollup::Kind;
use nrec_store::series::Vector;
use nrec_store::window::{Edge, Step};
use std::collections::HashMap;

/// The slot of the raw part.
pub const SLOT_MS: i64 = 300_000;
/// The slot where only quarter-hour rollups are left.
const QUARTER_MS: i64 = nrec_model::time::QUARTER_MS;

/// What to compute.
#[derive(Debug, Clone)]
pub struct Settings {
    pub subject: Subject,
    /// `[a, b)`.
    pub window: (i64, i64),
    /// The percentile (95).
    pub pct: u8,
}

/// One slot: bytes, the time covered, whether an uncounted interval fell in it.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    rx: f64,
    tx: f64,
    covered_ms: f64,
    unknown: bool,
}

/// One key's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Percentile {
    pub key: String,
    /// Slots with a rate (5-minute, then 15-minute ones), of each length.
    pub slots: (usize, usize),
    /// rx, tx and max(rx, tx) at the percentile, bits per second.
    pub rx_bps: f64,
    pub tx_bps: f64,
    pub max_bps: f64,
    /// How many slots were above each.
    pub above: (usize, usize, usize),
}

/// The `pct`th percentile of `v` by the nearest rank (the value at rank ⌈pct/100 · n⌉ of
/// the sorted values, as vnStat and billing practice take it); 0 for none.
pub fn nearest_rank(v: &mut [f64], pct: u8) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = (f64::from(pct) / 100.0 * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The slots of one length over a span, per key: dense, indexed by time (a map per key cost
/// a hash and a tree walk per interval; a month of raw samples is 200 000 intervals).
struct Grid {
    origin: i64,
    len: i64,
    n: usize,
    keys: Vec<Vec<Slot>>,
}

impl Grid {
    /// Slots of `len` covering `(a, b)` (and the one before, where a bucket ending in the
    /// window starts), for `keys` keys.
    fn new((a, b): (i64, i64), len: i64, keys: usize) -> Grid {
        let origin = a.div_euclid(len) * len - len;
        let n = usize::try_from((b.max(a) - origin).div_euclid(len) + 2).unwrap_or(0);
        Grid {
            origin,
            len,
            n,
            keys: vec![Vec::new(); keys],
        }
    }
    /// The slot starting at `t` of key `k` (None outside the span).
    fn slot(&mut self, k: usize, t: i64) -> Option<&mut Slot> {
        let i = usize::try_from((t - self.origin).div_euclid(self.len)).ok()?;
        if i >= self.n {
            return None;
        }
        let v = &mut self.keys[k];
        if v.is_empty() {
            v.resize(self.n, Slot::default());
        }
        v.get_mut(i)
    }
}

/// Spreads `bytes` of the interval `(a, b]` over the slots of key `k` it overlaps.
fn spread(
    g: &mut Grid,
    k: usize,
    (a, b): (i64, i64),
    bytes: Option<(u64, u64)>,
    (lo, hi): (i64, i64),
) {
    let (a, b) = (a.max(lo), b.min(hi));
    let whole = (b - a) as f64;
    if whole <= 0.0 {
        return;
    }
    let len = g.len;
    let mut s = a.div_euclid(len) * len;
    while s < b {
        let (x, y) = (a.max(s), b.min(s + len));
        let part = (y - x) as f64;
        if let Some(slot) = g.slot(k, s) {
            match bytes {
                Some((rx, tx)) => {
                    slot.rx += rx as f64 * part / whole;
                    slot.tx += tx as f64 * part / whole;
                    slot.covered_ms += part;
                }
                None => slot.unknown = true,
            }
        }
        s += len;
    }
}

/// The percentiles of the window, one per key (interface, process name or port).
pub fn compute(r: &mut Reader, s: &Settings, notes: &mut Notes) -> Result<Vec<Percentile>> {
    let (a, b) = s.window;
    let (kind, labels) = series_labels(r, &s.subject, notes)?;
    // keys as indices: a series' key is a lookup of an integer, never a string
    let mut names: Vec<String> = labels.values().cloned().collect();
    names.sort();
    names.dedup();
    let index: HashMap<i64, usize> = labels
        .iter()
        .filter_map(|(series, key)| Some((*series, names.binary_search(key).ok()?)))
        .collect();
    let h = r.horizons()?;
    // raw samples from here on; rollups (15-minute buckets) before, up to a quarter boundary
    let raw_from = h.raw_from_ms.clamp(a, b);
    let quarter_end = raw_from.div_euclid(QUARTER_MS) * QUARTER_MS;
    let raw = (quarter_end.max(a), b);
    let mut fine = Grid::new(raw, SLOT_MS, names.len());
    let mut coarse = Grid::new((a, quarter_end.max(a)), QUARTER_MS, names.len());
    if quarter_end > a {
        r.buckets(
            &[kind],
            (a, quarter_end),
            Step::Quarter,
            Edge::EndsIn,
            |bk| -> Result<()> {
                if let Some(&k) = index.get(&bk.series) {
                    let v = Vector(&bk.vals);
                    let (rx, tx) = v.bytes(kind);
                    if let Some(slot) = coarse.slot(k, bk.start_ms) {
                        slot.rx += rx as f64;
                        slot.tx += tx as f64;
                        // interfaces carry their own sampled time; other kinds take the
                        // recorder's (below)
                        if kind == Kind::Iface {
                            slot.covered_ms = slot.covered_ms.max(v.iface_elapsed_ms() as f64);
                        }
                        if kind == Kind::Iface && v.iface_uncounted() > 0 {
                            slot.unknown = true;
                        }
                    }
                }
                Ok(())
            },
        )?;
        notes.resolution = notes
            .resolution
            .max(nrec_store::window::Resolution::Quarter);
    }
    if kind == Kind::Iface {
        r.iface_intervals(raw, |i| -> Result<()> {
            if let Some(&k) = index.get(&i.series) {
                spread(&mut fine, k, (i.start_ms, i.end_ms), i.bytes, raw);
            }
            Ok(())
        })?;
    } else {
        r.intervals(&[kind], raw, |i| -> Result<()> {
            if let Some(&k) = index.get(&i.series) {
                spread(
                    &mut fine,
                    k,
                    (i.start_ms, i.end_ms),
                    Some(Vector(&i.vals).bytes(kind)),
                    raw,
                );
            }
            Ok(())
        })?;
        // a process or port is counted wherever the recorder sampled (an idle process is
        // 0 bytes then, not a gap): the slots' coverage is the recorder's
        let mut sampled = Grid::new(raw, SLOT_MS, 1);
        r.intervals(&[Kind::Time], raw, |i| -> Result<()> {
            spread(&mut sampled, 0, (i.start_ms, i.end_ms), Some((0, 0)), raw);
            Ok(())
        })?;
        let mut quarters = Grid::new((a, quarter_end.max(a)), QUARTER_MS, 1);
        if quarter_end > a {
            r.buckets(
                &[Kind::Time],
                (a, quarter_end),
                Step::Quarter,
                Edge::EndsIn,
                |bk| -> Result<()> {
                    if let Some(slot) = quarters.slot(0, bk.start_ms) {
                        slot.covered_ms += Vector(&bk.vals).elapsed_ms() as f64;
                    }
                    Ok(())
                },
            )?;
        }
        for (grid, times, cap) in [
            (&mut fine, &sampled, f64::MAX),
            (&mut coarse, &quarters, QUARTER_MS as f64),
        ] {
            let Some(times) = times.keys.first().filter(|v| !v.is_empty()) else {
                continue;
            };
            for k in 0..names.len() {
                for (i, t) in times.iter().enumerate() {
                    let at = grid.origin + i as i64 * grid.len;
                    if let Some(slot) = grid.slot(k, at) {
                        slot.covered_ms = t.covered_ms.min(cap);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (k, key) in names.iter().enumerate() {
        let mut rates: (Vec<f64>, Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new(), Vec::new());
        let mut counts = (0, 0);
        for (len, slots, n) in [
            (QUARTER_MS, &coarse.keys[k], &mut counts.1),
            (SLOT_MS, &fine.keys[k], &mut counts.0),
        ] {
            for slot in slots {
                // a slot the samples cover less than half of is not a rate of that slot;
                // one with an uncounted (implausible) delta is unknown
                if slot.unknown || slot.covered_ms * 2.0 < len as f64 {
                    continue;
                }
                let secs = slot.covered_ms / 1000.0;
                let (rx, tx) = (slot.rx * 8.0 / secs, slot.tx * 8.0 / secs);
                rates.0.push(rx);
                rates.1.push(tx);
                rates.2.push(rx.max(tx));
                *n += 1;
            }
        }
        if counts.0 + counts.1 == 0 {
            continue;
        }
        let above = |v: &[f64], p: f64| v.iter().filter(|x| **x > p).count();
        let rx_bps = nearest_rank(&mut rates.0, s.pct);
        let tx_bps = nearest_rank(&mut rates.1, s.pct);
        let max_bps = nearest_rank(&mut rates.2, s.pct);
        out.push(Percentile {
            key: key.clone(),
            slots: counts,
            above: (
                above(&rates.0, rx_bps),
                above(&rates.1, tx_bps),
                above(&rates.2, max_bps),
            ),
            rx_bps,
            tx_bps,
            max_bps,
        });
    }
    notes.empty = out.is_empty();
    Ok(out)
}

/// Writes the percentiles in `o`'s format (a table, CSV, JSON or NDJSON).
pub fn write(r: &mut Reader, s: &Settings, o: &mut Output<'_>) -> Result<Notes> {
    let mut notes = Notes::default();
    let rows = compute(r, s, &mut notes)?;
    let key_col = match s.subject {
        Subject::Ifaces(_) => "iface",
        Subject::Proc(_) => "process",
        Subject::Port(_) => "port",
        Subject::Scope { .. } => "scope",
    };
    let pct = s.pct;
    let io = write_error;
    if o.format != Format::Table {
        let mut t = Rows::new(&[
            key_col,
            "percentile",
            "start",
            "end",
            "slots_5m",
            "slots_15m",
            "rx_bits_per_s",
            "tx_bits_per_s",
            "max_bits_per_s",
            "rx_above",
            "tx_above",
            "max_above",
        ]);
        for p in &rows {
            t.push(vec![
                Cell::text(p.key.clone()),
                Cell::Int(i128::from(pct)),
                Cell::Time(s.window.0),
                Cell::Time(s.window.1),
                Cell::Int(p.slots.0 as i128),
                Cell::Int(p.slots.1 as i128),
                Cell::Num(p.rx_bps, 0),
                Cell::Num(p.tx_bps, 0),
                Cell::Num(p.max_bps, 0),
                Cell::Int(p.above.0 as i128),
                Cell::Int(p.above.1 as i128),
                Cell::Int(p.above.2 as i128),
            ]);
        }
        o.rows(&t, serde_json::Map::new()).map_err(io)?;
        return Ok(notes);
    }
    let rate = crate::output::units::bits_per_s;
    // an interface with its alias, as every table shows it
    let shown = |key: &str| match &s.subject {
        Subject::Ifaces(f) => f.aliases().shown_label(key),
        _ => key.to_string(),
    };
    let w = o.text();
    let kw = crate::output::column_width(10, rows.iter().map(|p| shown(&p.key).chars().count()));
    (|| -> std::io::Result<()> {
        writeln!(
            w,
            "{:<kw$} {:>14} {:>14} {:>14} {:>9}  ABOVE (rx/tx/max)",
            key_col.to_uppercase(),
            format!("rx {pct}th"),
            format!("tx {pct}th"),
            format!("max {pct}th"),
            "SLOTS"
        )?;
        for p in &rows {
            writeln!(
                w,
                "{:<kw$} {:>14} {:>14} {:>14} {:>9}  {}/{}/{}",
                nrec_model::names::escape_text(&shown(&p.key)),
                rate(p.rx_bps),
                rate(p.tx_bps),
                rate(p.max_bps),
                p.slots.0 + p.slots.1,
                p.above.0,
                p.above.1,
                p.above.2
            )?;
        }
        Ok(())
    })()
    .map_err(io)?;
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_rank_is_billing_practice() {
        // 20 values 1..=20: the 95th is the 19th
        let mut v: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        assert_eq!(nearest_rank(&mut v, 95), 19.0);
        let mut one = vec![7.0];
        assert_eq!(nearest_rank(&mut one, 95), 7.0);
        assert_eq!(nearest_rank(&mut [], 95), 0.0);
        // 100 values: the 95th
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&mut v, 95), 95.0);
    }

    #[test]
    fn an_interval_spreads_over_the_slots_it_overlaps() {
        let mut g = Grid::new((0, 3_600_000), SLOT_MS, 2);
        // 10 minutes from 00:02 to 00:12: 3, 5 and 2 minutes of 1000 bytes, key 1 only
        spread(
            &mut g,
            1,
            (120_000, 720_000),
            Some((1000, 0)),
            (0, i64::MAX),
        );
        let got: Vec<(i64, f64)> = g.keys[1]
            .iter()
            .enumerate()
            .filter(|(_, s)| s.covered_ms > 0.0)
            .map(|(i, s)| (g.origin + i as i64 * SLOT_MS, s.rx))
            .collect();
        assert_eq!(got, [(0, 300.0), (300_000, 500.0), (600_000, 200.0)]);
        assert!(g.keys[0].is_empty(), "another key's slots untouched");
        spread(&mut g, 0, (0, 60_000), None, (0, i64::MAX));
        assert!(g.slot(0, 0).unwrap().unknown);
        // outside the grid's span: nothing, not a panic
        spread(
            &mut g,
            0,
            (-10 * SLOT_MS, -9 * SLOT_MS),
            Some((1, 1)),
            (i64::MIN, i64::MAX),
        );
        assert!(g.slot(0, -10 * SLOT_MS).is_none());
    }
}
