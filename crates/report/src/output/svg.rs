//! Pictures (issue 14): charts written directly as SVG — time series panels (`report`),
//! ranked bars and stacked areas over time (`top-*`) and period bars (`summary`) — from the same numbers the tables and
//! CSV print.
//!
//! Every picture is one self-contained document: no script, no external font, image or
//! style; an inline stylesheet with a `prefers-color-scheme: dark` variant; each drawn
//! element carries its exact value in a `<title>` (a browser's tooltip). Untrusted names
//! (interfaces, processes, containers) are escaped as every other output escapes them, then
//! as XML text, so no markup can be injected. The plot area of each chart says its scales in
//! `data-*` attributes, so a test (or a user's script) can read the drawn geometry back as
//! numbers.

use jiff::tz::TimeZone;
use nrec_model::names::escape_text;
use std::fmt::Write;

/// XML text or attribute content: `& < > " '` as entities; characters XML 1.0 cannot carry
/// (C0 controls but TAB, LF, CR; the `\u{FFFE}`/`\u{FFFF}` non-characters) as `\xNN` text,
/// bidi overrides too (through [`escape_text`]).
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in escape_text(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A block of text lines (a command's table) as XML content: each line through [`xml`], the
/// line breaks kept — for `<pre>`. A table's fields are already escaped for a terminal; [`xml`]
/// on the whole block wrote its line breaks as `\x0a` and the page's tables were one line.
pub fn xml_lines(s: &str) -> String {
    s.split('\n').map(xml).collect::<Vec<_>>().join("\n")
}

/// The stylesheet every picture carries: light by default, dark where the reader prefers it.
const STYLE: &str = "svg{font-family:DejaVu Sans,Verdana,sans-serif;font-size:12px}\
.bg{fill:#fff}.fg{fill:#222}.muted{fill:#666}.grid{stroke:#ddd;stroke-width:1}\
.axis{stroke:#888;stroke-width:1}.restart{stroke:#c33;stroke-dasharray:4 3}\
.s0{stroke:#1f77b4;fill:#1f77b4}.s1{stroke:#ff7f0e;fill:#ff7f0e}.s2{stroke:#2ca02c;fill:#2ca02c}\
.s3{stroke:#d62728;fill:#d62728}.s4{stroke:#9467bd;fill:#9467bd}.s5{stroke:#8c564b;fill:#8c564b}\
.s6{stroke:#e377c2;fill:#e377c2}.s7{stroke:#7f7f7f;fill:#7f7f7f}.line{fill:none;stroke-width:1.5}\
.rx{fill:#1f77b4}.tx{fill:#ff7f0e}.est{fill-opacity:.35;stroke-dasharray:3 2;stroke-width:1}\
.unattributed{fill:#aaa}.other{fill:#c8c8c8}.area{stroke:none;fill-opacity:.9}.tx.unattributed{fill:#ccc}.hover{fill:#000;fill-opacity:0}.hover:hover{fill-opacity:.06}\
@media (prefers-color-scheme:dark){.bg{fill:#1b1b1b}.fg{fill:#ddd}.muted{fill:#999}\
.grid{stroke:#333}.axis{stroke:#777}}";

/// A document of `width` × `height` pixels with a background and the stylesheet.
fn open(out: &mut String, width: u32, height: u32, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\"><title>{}</title><style>{STYLE}</style>\
         <rect class=\"bg\" width=\"100%\" height=\"100%\"/>",
        xml(title)
    );
}

/// The picture's title and, under it, its note (nothing when empty).
fn heading(out: &mut String, title: &str, note: &str) {
    let _ = write!(
        out,
        "<text class=\"fg\" x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        xml(title)
    );
    if !note.is_empty() {
        let _ = write!(
            out,
            "<text class=\"muted\" x=\"12\" y=\"42\">{}</text>",
            xml(note)
        );
    }
}

/// A round step for an axis spanning `max` with about `n` ticks: 1, 2 or 5 × 10^k.
fn nice_step(max: f64, n: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// An axis label of `v` on an axis stepping by `step`: as many decimals as the step needs,
/// a k/M/G suffix for large values (`1.5k`, `0.005`, `250`).
fn short(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let (d, s) = match step.abs().max(v.abs()) {
        x if x >= 1e9 => (1e9, "G"),
        x if x >= 1e6 => (1e6, "M"),
        x if x >= 1e4 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let decimals = (-(step / d).log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{:.*}{s}", decimals, v / d)
}

/// A round step for a byte axis spanning `max`: 1, 2 or 5 × 10^k of the binary unit that
/// suits it, and that unit (`(1 GiB, "GiB")`), so ticks read 0, 1, 2 GiB.
fn byte_step(max: f64) -> (f64, f64, &'static str) {
    let (u, name) = [
        (1u64 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ]
    .into_iter()
    .find(|(u, _)| max >= *u as f64)
    .unwrap_or((1, "B"));
    let u = u as f64;
    (
        nice_step(max / u, 4.0).max(if u > 1.0 { 0.0 } else { 1.0 }) * u,
        u,
        name,
    )
}

/// The `k`-th entry of a panel's legend right of the plot (x1; rows py1..py0): a swatch of
/// the series' class and its (escaped) name; none below the panel.
fn legend(out: &mut String, class: &str, name: &str, x1: f64, py1: f64, py0: f64, k: usize) {
    let ly = py1 + 4.0 + 16.0 * k as f64;
    if ly < py0 {
        let _ = write!(
            out,
            "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\"/>\
             <text class=\"fg\" x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
            x1 + 14.0,
            ly,
            x1 + 28.0,
            ly + 9.0
        );
    }
}

/// Tick times for a time axis over `[a, b]` (UTC ms): a round step in local time that gives
/// at most about eight ticks, and the label format that suits it.
fn time_ticks(a: i64, b: i64, tz: &TimeZone) -> (Vec<i64>, &'static str) {
    const MIN: i64 = 60_000;
    const STEPS: [i64; 13] = nrec_model::time::ROUND_STEPS_MS;
    let span = (b - a).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8)
        .unwrap_or(STEPS[STEPS.len() - 1]);
    let fmt = if step >= 24 * 60 * MIN {
        "%m-%d"
    } else if span > 24 * 60 * MIN {
        "%m-%d %H:%M"
    } else {
        "%H:%M"
    };
    // round in local time: the offset at the start moves the grid onto local boundaries
    let off = jiff::Timestamp::from_millisecond(a)
        .map(|t| i64::from(tz.to_offset(t).seconds()) * 1000)
        .unwrap_or(0);
    let first = ((a + off).div_euclid(step) + 1) * step - off;
    let ticks = (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= b)
        .take(40)
        .collect();
    (ticks, fmt)
}

fn local(ms: i64, fmt: &str, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime(fmt).to_string())
        .unwrap_or_default()
}

/// A plot's grid: a labelled line per `step` of the value axis up to `vmax`, a labelled
/// line per time tick; `x` places a time. The plot spans `x0..x1` and `py0` (value 0) to
/// `py1` (value `vmax`).
fn grid(
    out: &mut String,
    (x0, x1, py0, py1): (f64, f64, f64, f64),
    (vmax, step): (f64, f64),
    (ticks, fmt, tz): (&[i64], &str, &TimeZone),
    x: &dyn Fn(i64) -> f64,
) {
    let y = |v: f64| py0 - v / vmax * (py0 - py1);
    let mut v = 0.0;
    while v <= vmax + step / 2.0 {
        let yy = y(v);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x0}\" x2=\"{x1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            yy + 4.0,
            short(v, step)
        );
        v += step;
    }
    for t in ticks {
        let xx = x(*t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{py1:.1}\" y2=\"{py0:.1}\"/>\
             <text class=\"muted\" x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            py0 + 16.0,
            local(*t, fmt, tz)
        );
    }
}

/// One line of a time-series panel: its points in time order, `None` a gap (the line breaks).
pub struct Series {
    pub name: String,
    pub points: Vec<(i64, Option<f64>)>,
}

/// One chart of a kind: its series over the window.
pub(crate) struct Panel {
    pub title: String,
    pub unit: String,
    pub series: Vec<Series>,
}

const W: u32 = 860;
const PANEL_H: u32 = 250;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 40.0;

/// Time-series panels, one under another, sharing the window `(a, b)` (UTC ms) as their x
/// axis; `restarts` are marked on each; `note` is printed under the title (the rollup
/// resolution, when the window is past the raw retention).
pub(crate) fn time_panels(
    title: &str,
    note: &str,
    panels: &[Panel],
    (a, b): (i64, i64),
    restarts: &[i64],
    tz: &TimeZone,
) -> String {
    let head = if note.is_empty() { 36 } else { 54 };
    let height = head + PANEL_H * panels.len().max(1) as u32;
    let mut out = String::with_capacity(4096);
    open(&mut out, W, height, title);
    heading(&mut out, title, note);
    if panels.is_empty() {
        let _ = write!(
            out,
            "<text class=\"muted\" x=\"12\" y=\"{}\">no data in this window</text>",
            head + 30
        );
    }
    let (b, span) = (b.max(a + 1), (b.max(a + 1) - a) as f64);
    let (ticks, fmt) = time_ticks(a, b, tz);
    for (i, p) in panels.iter().enumerate() {
        let y_top = f64::from(head) + f64::from(PANEL_H) * i as f64;
        let (x0, x1) = (LEFT, f64::from(W) - RIGHT);
        let (py0, py1) = (y_top + f64::from(PANEL_H) - BOTTOM, y_top + TOP);
        let max = p
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|(_, v)| *v))
            .fold(0.0f64, f64::max);
        let step = nice_step(max, 4.0);
        let vmax = if max > 0.0 {
            (max / step).ceil() * step
        } else {
            step
        };
        let x = |t: i64| x0 + (t - a) as f64 / span * (x1 - x0);
        let y = |v: f64| py0 - v / vmax * (py0 - py1);
        let _ = write!(
            out,
            "<text class=\"fg\" x=\"{x0}\" y=\"{:.1}\" font-weight=\"bold\">{} <tspan class=\"muted\" \
             font-weight=\"normal\">({})</tspan></text>",
            y_top + 20.0,
            xml(&p.title),
            xml(&p.unit)
        );
        grid(
            &mut out,
            (x0, x1, py0, py1),
            (vmax, step),
            (&ticks, fmt, tz),
            &x,
        );
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{x0}\" x2=\"{x1}\" y1=\"{py0:.1}\" y2=\"{py0:.1}\"/>"
        );
        for r in restarts.iter().filter(|r| (a..=b).contains(*r)) {
            let xx = x(*r);
            let _ = write!(
                out,
                "<line class=\"restart\" x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{py1:.1}\" y2=\"{py0:.1}\">\
                 <title>reboot: {}</title></line>",
                local(*r, "%Y-%m-%d %H:%M:%S", tz)
            );
        }
        // the plot's scales, for anyone reading the geometry back
        let _ = write!(
            out,
            "<g class=\"plot\" data-panel=\"{}\" data-x0=\"{x0}\" data-x1=\"{x1}\" data-t0=\"{a}\" \
             data-t1=\"{b}\" data-y0=\"{py0:.3}\" data-y1=\"{py1:.3}\" data-v1=\"{vmax}\">",
            xml(&p.title)
        );
        // per bucket: its time span and what each series shows there (the hover bands)
        let mut bands: std::collections::BTreeMap<usize, (i64, i64, String)> =
            std::collections::BTreeMap::new();
        for (k, s) in p.series.iter().enumerate() {
            let class = format!("s{}", k % 8);
            let name = xml(&s.name);
            let mut d = String::new();
            for pt in bucketed(&s.points, a, b) {
                let _ = write!(
                    d,
                    "{}{:.2} {:.2}",
                    if pt.break_before { " M" } else { " L" },
                    x(pt.t),
                    y(pt.v)
                );
                let band = bands
                    .entry(pt.bucket)
                    .or_insert((pt.first, pt.last, String::new()));
                band.0 = band.0.min(pt.first);
                band.1 = band.1.max(pt.last);
                let _ = write!(band.2, "\n{name}: {}", pt.v);
                if pt.n > 1 {
                    let _ = write!(band.2, " (mean of {})", pt.n);
                }
            }
            let _ = write!(
                out,
                "<path class=\"line {class}\" data-series=\"{name}\" d=\"{}\"><title>{name}</title></path>",
                d.trim_start()
            );
            legend(&mut out, &class, &name, x1, py1, py0, k);
        }
        // each bucket's exact values, on hover: a transparent band over its time span
        let bw = (x1 - x0) / BUCKETS as f64;
        for (i, (first, last, text)) in &bands {
            let span = if first == last {
                local(*first, "%Y-%m-%d %H:%M:%S", tz)
            } else {
                format!(
                    "{} – {}",
                    local(*first, "%Y-%m-%d %H:%M:%S", tz),
                    local(*last, "%H:%M:%S", tz)
                )
            };
            let _ = write!(
                out,
                "<rect class=\"hover\" x=\"{:.2}\" y=\"{py1:.1}\" width=\"{bw:.2}\" height=\"{:.1}\"><title>{span}{text}</title></rect>",
                x0 + bw * *i as f64,
                py0 - py1
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>\n");
    out
}

/// How many points a line has at most: one per 2.6 pixels of the plot. More samples than
/// that are averaged per bucket (a day of one-minute samples: 6 per point), so a week of
/// them stays a picture of kilobytes, not of megabytes.
pub(crate) const BUCKETS: usize = 240;

/// A point as drawn: the mean of a bucket's samples (time and value), how many, whether the
/// line breaks before it (a gap or a reboot among them or before them).
struct Drawn {
    bucket: usize,
    t: i64,
    v: f64,
    n: u32,
    first: i64,
    last: i64,
    break_before: bool,
}

fn bucketed(points: &[(i64, Option<f64>)], a: i64, b: i64) -> Vec<Drawn> {
    let span = (b - a).max(1) as i128;
    let index = |t: i64| -> usize {
        let i = (i128::from(t - a) * BUCKETS as i128 / span).clamp(0, BUCKETS as i128 - 1);
        i as usize
    };
    let mut out: Vec<Drawn> = Vec::new();
    // the bucket being summed: (index, Σt, Σv, n, first, last, breaks before it)
    let mut cur: Option<(usize, i128, f64, u32, i64, i64, bool)> = None;
    let mut pending_break = true;
    let flush = |cur: &mut Option<(usize, i128, f64, u32, i64, i64, bool)>,
                 out: &mut Vec<Drawn>| {
        if let Some((bucket, st, sv, n, first, last, brk)) = cur.take() {
            out.push(Drawn {
                bucket,
                t: (st / i128::from(n)) as i64,
                v: sv / f64::from(n),
                n,
                first,
                last,
                break_before: brk,
            });
        }
    };
    for (t, v) in points {
        match v {
            None => {
                flush(&mut cur, &mut out);
                pending_break = true;
            }
            Some(v) => {
                let i = index(*t);
                match &mut cur {
                    Some(c) if c.0 == i => {
                        c.1 += i128::from(*t);
                        c.2 += v;
                        c.3 += 1;
                        c.5 = *t;
                    }
                    _ => {
                        flush(&mut cur, &mut out);
                        cur = Some((i, i128::from(*t), *v, 1, *t, *t, pending_break));
                        pending_break = false;
                    }
                }
            }
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// One ranked row of a bar chart: its label, its parts (received, sent) and their classes.
pub(crate) struct Bar {
    pub label: String,
    pub rx: u64,
    pub tx: u64,
    /// Drawn muted (the `(unattributed)` and `(other …)` rows).
    pub muted: bool,
}

/// Horizontal bars, one per row, received and sent side by side on one scale of bytes;
/// `share_of`: the total each row's share is of. With `stack`, the same rows over time under
/// them ([`Stack`]).
pub(crate) fn ranked_bars(
    title: &str,
    note: &str,
    bars: &[Bar],
    share_of: u64,
    stack: Option<(&Stack, &TimeZone)>,
) -> String {
    let mut body = String::with_capacity(4096);
    let mut height = bars_body(&mut body, bars, share_of);
    if let Some((s, tz)) = stack {
        height += stacked_body(&mut body, height, s, tz);
    }
    let mut out = String::with_capacity(body.len() + 1024);
    open(&mut out, W, height.ceil() as u32, title);
    heading(&mut out, title, note);
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// The ranked bars under the heading; returns the height used (the heading's included).
fn bars_body(out: &mut String, bars: &[Bar], share_of: u64) -> f64 {
    const ROW: f64 = 22.0;
    let head = 60.0;
    let (x0, x1) = (260.0, f64::from(W) - 150.0);
    let max = bars.iter().map(|b| b.rx + b.tx).max().unwrap_or(0).max(1);
    let scale = (x1 - x0) / max as f64;
    let _ = write!(
        out,
        "<rect class=\"rx\" x=\"{x0}\" y=\"48\" width=\"10\" height=\"10\"/><text class=\"fg\" x=\"{}\" y=\"57\">received</text>\
         <rect class=\"tx\" x=\"{}\" y=\"48\" width=\"10\" height=\"10\"/><text class=\"fg\" x=\"{}\" y=\"57\">sent</text>",
        x0 + 14.0,
        x0 + 90.0,
        x0 + 104.0
    );
    let _ = write!(
        out,
        "<g class=\"plot\" data-x0=\"{x0}\" data-scale=\"{scale}\">"
    );
    for (i, b) in bars.iter().enumerate() {
        let y = head + 6.0 + ROW * i as f64;
        let label = xml(&b.label);
        let total = b.rx + b.tx;
        let share = if share_of > 0 {
            total as f64 / share_of as f64 * 100.0
        } else {
            0.0
        };
        let (wr, wt) = (b.rx as f64 * scale, b.tx as f64 * scale);
        let extra = if b.muted { " unattributed" } else { "" };
        let _ = write!(
            out,
            "<text class=\"fg\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"rx{extra}\" data-bytes=\"{}\" x=\"{x0}\" y=\"{y:.1}\" width=\"{wr:.3}\" height=\"16\"><title>{label} received: {} B</title></rect>\
             <rect class=\"tx{extra}\" data-bytes=\"{}\" x=\"{:.3}\" y=\"{y:.1}\" width=\"{wt:.3}\" height=\"16\"><title>{label} sent: {} B</title></rect>\
             <text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\">{} ({share:.1}%)</text>",
            x0 - 8.0,
            y + 12.0,
            truncate(&label, 38),
            b.rx,
            b.rx,
            b.tx,
            x0 + wr,
            b.tx,
            x0 + wr + wt + 6.0,
            y + 12.0,
            super::units::bytes(total)
        );
    }
    out.push_str("</g>");
    head + ROW * bars.len().max(1) as f64 + 30.0
}

/// The ranked rows over time: the window cut into buckets, each row's bytes per bucket.
pub(crate) struct Stack {
    /// The buckets' boundaries (UTC ms), one more than there are buckets.
    pub edges: Vec<i64>,
    /// Per bucket, whether any sample closed in it (a bucket without one is a gap: not drawn).
    pub sampled: Vec<bool>,
    /// Bottom first: the ranked rows, then `(other …)` and `(unattributed)`.
    pub layers: Vec<Layer>,
}

/// One row of a [`Stack`]: its label and its bytes (received, sent) per bucket.
pub(crate) struct Layer {
    pub label: String,
    /// Drawn muted (the `(unattributed)` and `(other …)` rows).
    pub muted: bool,
    pub bytes: Vec<(u64, u64)>,
}

/// Two panels, received and sent: each row's mean rate per bucket (its bytes over the bucket's
/// length) as a stepped area stacked on the rows ranked above it, so the top edge is the
/// bucket's whole traffic and each band's area is the row's bytes (data-* scales: `x` in ms,
/// `y` in bytes/s). Starts at `top`; returns the height used.
fn stacked_body(out: &mut String, top: f64, s: &Stack, tz: &TimeZone) -> f64 {
    let n = s.edges.len().saturating_sub(1);
    let (a, b) = match (s.edges.first(), s.edges.last()) {
        (Some(a), Some(b)) if b > a => (*a, *b),
        _ => return 0.0,
    };
    let span = (b - a) as f64;
    let (x0, x1) = (LEFT, f64::from(W) - RIGHT);
    let x = |t: i64| x0 + (t - a) as f64 / span * (x1 - x0);
    let secs = |i: usize| (s.edges[i + 1] - s.edges[i]) as f64 / 1000.0;
    let (ticks, fmt) = time_ticks(a, b, tz);
    let _ = write!(
        out,
        "<text class=\"fg\" x=\"12\" y=\"{:.1}\" font-weight=\"bold\">Over time</text>\
         <text class=\"muted\" x=\"100\" y=\"{:.1}\">each row's mean rate per {}, stacked</text>",
        top + 16.0,
        top + 16.0,
        bucket_name(s.edges.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0))
    );
    let top = top + 24.0;
    for (p, dir) in ["received", "sent"].into_iter().enumerate() {
        let part = |l: &Layer, i: usize| {
            let (rx, tx) = l.bytes.get(i).copied().unwrap_or_default();
            if p == 0 { rx } else { tx }
        };
        let y_top = top + f64::from(PANEL_H) * p as f64;
        let (py0, py1) = (y_top + f64::from(PANEL_H) - BOTTOM, y_top + TOP);
        let max = (0..n)
            .map(|i| s.layers.iter().map(|l| part(l, i)).sum::<u64>() as f64 / secs(i))
            .fold(0.0f64, f64::max);
        let step = nice_step(max, 4.0);
        let vmax = if max > 0.0 {
            (max / step).ceil() * step
        } else {
            step
        };
        let y = |v: f64| py0 - v / vmax * (py0 - py1);
        let _ = write!(
            out,
            "<text class=\"fg\" x=\"{x0}\" y=\"{:.1}\" font-weight=\"bold\">{dir} <tspan class=\"muted\" \
             font-weight=\"normal\">(bytes/s)</tspan></text>",
            y_top + 20.0
        );
        grid(out, (x0, x1, py0, py1), (vmax, step), (&ticks, fmt, tz), &x);
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{x0}\" x2=\"{x1}\" y1=\"{py0:.1}\" y2=\"{py0:.1}\"/>\
             <g class=\"plot\" data-panel=\"{dir}\" data-x0=\"{x0}\" data-x1=\"{x1}\" data-t0=\"{a}\" \
             data-t1=\"{b}\" data-y0=\"{py0:.3}\" data-y1=\"{py1:.3}\" data-v1=\"{vmax}\">"
        );
        // each layer's bottom per bucket: the rates of the layers under it
        let mut floor = vec![0.0f64; n];
        let mut named = 0;
        for (k, l) in s.layers.iter().enumerate() {
            let class = if l.muted {
                if k + 1 == s.layers.len() {
                    "unattributed"
                } else {
                    "other"
                }
                .to_string()
            } else {
                named += 1;
                format!("s{}", (named - 1) % 8)
            };
            let name = xml(&l.label);
            let mut d = String::new();
            let mut total = 0u64;
            let mut i = 0;
            while i < n {
                if !s.sampled[i] {
                    i += 1;
                    continue;
                }
                // a run of sampled buckets: the top edge left to right, the bottom back
                let start = i;
                while i < n && s.sampled[i] {
                    i += 1;
                }
                let tops: Vec<f64> = (start..i)
                    .map(|j| floor[j] + part(l, j) as f64 / secs(j))
                    .collect();
                let _ = write!(d, "M{:.2} {:.3}", x(s.edges[start]), y(tops[0]));
                for (j, t) in (start..i).zip(&tops) {
                    if j > start {
                        let _ = write!(d, "V{:.3}", y(*t));
                    }
                    let _ = write!(d, "H{:.2}", x(s.edges[j + 1]));
                }
                for j in (start..i).rev() {
                    let _ = write!(d, "V{:.3}H{:.2}", y(floor[j]), x(s.edges[j]));
                }
                d.push('Z');
                for (j, t) in (start..i).zip(tops) {
                    total += part(l, j);
                    floor[j] = t;
                }
            }
            let _ = write!(
                out,
                "<path class=\"area {class}\" data-series=\"{name}\" d=\"{d}\"><title>{name} {dir}: {total} B</title></path>"
            );
            legend(out, &class, &truncate(&name, 22), x1, py1, py0, k);
        }
        // each bucket's exact bytes per row, on hover
        for i in (0..n).filter(|i| s.sampled[*i]) {
            let mut text = format!(
                "{} – {}",
                local(s.edges[i], "%Y-%m-%d %H:%M", tz),
                local(s.edges[i + 1], "%H:%M", tz)
            );
            for l in s.layers.iter().rev().filter(|l| part(l, i) > 0) {
                let _ = write!(text, "\n{}: {} B", xml(&l.label), part(l, i));
            }
            let _ = write!(
                out,
                "<rect class=\"hover\" x=\"{:.2}\" y=\"{py1:.1}\" width=\"{:.2}\" height=\"{:.1}\"><title>{text}</title></rect>",
                x(s.edges[i]),
                x(s.edges[i + 1]) - x(s.edges[i]),
                py0 - py1
            );
        }
        out.push_str("</g>");
    }
    24.0 + 2.0 * f64::from(PANEL_H)
}

/// "15 minutes", "2 hours", "day": a bucket length in words.
fn bucket_name(ms: i64) -> String {
    match ms {
        m if m >= 86_400_000 && m % 86_400_000 == 0 => match m / 86_400_000 {
            1 => "day".into(),
            d => format!("{d} days"),
        },
        m if m >= 3_600_000 && m % 3_600_000 == 0 => match m / 3_600_000 {
            1 => "hour".into(),
            h => format!("{h} hours"),
        },
        m if m % 60_000 == 0 => match m / 60_000 {
            1 => "minute".into(),
            n => format!("{n} minutes"),
        },
        m => format!("{} s", m / 1000),
    }
}

/// A period's bar of `period_bars`: its label, bytes, and whether it is an estimate (the
/// current period, projected).
pub(crate) struct PeriodBar {
    pub label: String,
    /// What the `<title>` says of it (the period's exact start and end).
    pub detail: String,
    pub rx: u64,
    pub tx: u64,
    pub estimate: Option<u64>,
}

/// vnStat's bars: per key (an interface, a process, a port) a chart with one column per
/// period (hours, days, months), received under sent; the current period's estimate is a
/// dashed outline above what it has so far. Charts stack under one title.
pub(crate) fn period_bars(title: &str, note: &str, groups: &[(String, Vec<PeriodBar>)]) -> String {
    const H: f64 = 240.0;
    let head = 50.0;
    let height = (head + H * groups.len().max(1) as f64) as u32;
    let mut out = String::with_capacity(2048);
    open(&mut out, W, height, title);
    heading(&mut out, title, note);
    if groups.is_empty() {
        let _ = write!(
            out,
            "<text class=\"muted\" x=\"12\" y=\"{}\">no traffic recorded in these periods</text>",
            head + 30.0
        );
    }
    for (g, (key, bars)) in groups.iter().enumerate() {
        let top = head + H * g as f64;
        let (x0, x1, y0, y1) = (LEFT + 10.0, f64::from(W) - 20.0, top + H - 40.0, top + 30.0);
        let _ = write!(
            out,
            "<text class=\"fg\" x=\"{x0}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>\
             <rect class=\"rx\" x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\"/><text class=\"fg\" x=\"{:.1}\" y=\"{:.1}\">received</text>\
             <rect class=\"tx\" x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\"/><text class=\"fg\" x=\"{:.1}\" y=\"{:.1}\">sent</text>",
            top + 16.0,
            xml(key),
            x1 - 150.0,
            top + 7.0,
            x1 - 136.0,
            top + 16.0,
            x1 - 70.0,
            top + 7.0,
            x1 - 56.0,
            top + 16.0
        );
        let max = bars
            .iter()
            .map(|b| (b.rx + b.tx).max(b.estimate.unwrap_or(0)))
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let (step, unit, unit_name) = byte_step(max);
        let vmax = (max / step).ceil() * step;
        let y = |v: f64| y0 - v / vmax * (y0 - y1);
        let mut v = 0.0;
        while v <= vmax + step / 2.0 {
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{x0}\" x2=\"{x1}\" y1=\"{0:.1}\" y2=\"{0:.1}\"/>\
                 <text class=\"muted\" x=\"{1:.1}\" y=\"{2:.1}\" text-anchor=\"end\">{3} {unit_name}</text>",
                y(v),
                x0 - 6.0,
                y(v) + 4.0,
                short(v / unit, step / unit)
            );
            v += step;
        }
        let slot = (x1 - x0) / bars.len().max(1) as f64;
        let bw = (slot * 0.7).max(1.0);
        // a label under every bar that has room for it (~7 px a character)
        let widest = bars
            .iter()
            .map(|b| b.label.chars().count())
            .max()
            .unwrap_or(1) as f64;
        let every = ((widest * 7.0 + 8.0) / slot).ceil().max(1.0) as usize;
        let _ = write!(
            out,
            "<g class=\"plot\" data-key=\"{}\" data-y0=\"{y0:.3}\" data-y1=\"{y1:.3}\" data-v1=\"{vmax}\">",
            xml(key)
        );
        for (i, b) in bars.iter().enumerate() {
            let x = x0 + slot * i as f64 + (slot - bw) / 2.0;
            let detail = xml(&b.detail);
            let (yr, yt) = (y(b.rx as f64), y((b.rx + b.tx) as f64));
            if let Some(e) = b.estimate {
                let ye = y(e as f64);
                let _ = write!(
                    out,
                    "<rect class=\"est s7\" data-bytes=\"{e}\" x=\"{x:.2}\" y=\"{ye:.3}\" width=\"{bw:.2}\" height=\"{:.3}\"><title>{detail} estimated total: {e} B</title></rect>",
                    (y0 - ye).max(0.0)
                );
            }
            let _ = write!(
                out,
                "<rect class=\"rx\" data-bytes=\"{}\" x=\"{x:.2}\" y=\"{yr:.3}\" width=\"{bw:.2}\" height=\"{:.3}\"><title>{detail} received: {} B</title></rect>\
                 <rect class=\"tx\" data-bytes=\"{}\" x=\"{x:.2}\" y=\"{yt:.3}\" width=\"{bw:.2}\" height=\"{:.3}\"><title>{detail} sent: {} B</title></rect>",
                b.rx,
                (y0 - yr).max(0.0),
                b.rx,
                b.tx,
                (yr - yt).max(0.0),
                b.tx
            );
            if i % every == 0 {
                let _ = write!(
                    out,
                    "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    x + bw / 2.0,
                    y0 + 16.0,
                    xml(&b.label)
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>\n");
    out
}

/// At most `n` characters of already-escaped text, an ellipsis when cut (never inside an
/// entity).
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n).collect();
    if let Some(amp) = out.rfind('&') {
        if !out[amp..].contains(';') {
            out.truncate(amp);
        }
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_cannot_become_markup() {
        assert_eq!(
            xml("<script>\"onload='x'&\u{1b}[2J\u{202e}"),
            "&lt;script&gt;&quot;onload=&#39;x&#39;&amp;\\x1b[2J\\xe2\\x80\\xae"
        );
        assert_eq!(truncate("a&amp;b", 2), "a…");
    }

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_step(97.0, 4.0), 50.0);
        assert_eq!(nice_step(0.0, 4.0), 1.0);
        assert_eq!(short(15_000.0, 5_000.0), "15k");
        assert_eq!(short(2_000_000.0, 1_000_000.0), "2M");
        assert_eq!(short(0.005, 0.005), "0.005");
        assert_eq!(short(250.0, 50.0), "250");
        assert_eq!(short(0.0, 200_000.0), "0");
        assert_eq!(bucket_name(15 * 60_000), "15 minutes");
        assert_eq!(bucket_name(3_600_000), "hour");
        assert_eq!(bucket_name(2 * 86_400_000), "2 days");
        assert_eq!(byte_step(2.8 * (1u64 << 30) as f64).2, "GiB");
        assert_eq!(byte_step(2.8 * (1u64 << 30) as f64).0, (1u64 << 30) as f64);
        let tz = TimeZone::UTC;
        let (t, f) = time_ticks(0, 86_400_000, &tz);
        assert_eq!((t.len(), f), (8, "%H:%M"));
        assert_eq!(t[0], 3 * 3_600_000);
    }
}
