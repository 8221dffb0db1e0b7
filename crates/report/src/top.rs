//! `top-procs`, `top-ports`, `top-hosts`: who moved the bytes over a window.
//!
//! Totals add up: the rows and an explicit `(unattributed)` row add up to the window's total —
//! the interface bytes (rx and tx, every namespace), plus what sockets moved beyond them
//! ([`Balance`]: multicast copies, namespaces nrec never sampled), said in the coverage line,
//! which also says how much was attributed and by which source.

use crate::output::units::{bytes as size, pct};
use crate::output::{Cell, Format, Output, Rows, write_error};
use crate::rank::{Balance, By, Classes, Entry, Ranker, What, other_key, source, source_text};
use nrec_model::error::Result;
use nrec_model::names::escape_text;
use nrec_model::scope::{Family, Networks, Scope, class_of_text};
use nrec_model::time::{DAY_MS, QUARTER_MS, Window};
use nrec_store::Reader;
use nrec_store::series::Totals;
use nrec_store::window::Resolution;
use serde_json::json;
use std::io::Write;

/// A row as [`window_rows`] gives it: (key, the processes behind it, rx, tx).
pub type WindowRow = (String, String, u64, u64);

/// The rows of one stored window as `top-*` ranks them (unsorted) and its `(unattributed)`
/// bytes: `nrec top`'s view of a recorded interval.
pub fn window_rows(
    r: &mut Reader,
    what: What,
    by: By,
    (start, end): (i64, i64),
) -> Result<(Vec<WindowRow>, (u64, u64))> {
    let procs = r.procs()?;
    let ranker = Ranker::new(r, &procs, what, by, None, None)?;
    let sums = r.sums(&ranker.kinds(), start, end)?;
    let (entries, bal, _) = ranker.rank(&sums);
    let rows = entries
        .into_iter()
        .map(|e| (e.key, e.procs.join(", "), e.rx, e.tx))
        .collect();
    Ok((rows, bal.unattributed))
}

/// The window cut into at most [`MAX_BUCKETS`] buckets of a round length, no shorter than the
/// recorder's interval (a bucket between two samples would be empty, the next one double) nor
/// than what is still stored at the window's start (quarter hours or days past retention);
/// inner boundaries on multiples of the length (UTC), so rollups fill whole buckets.
pub fn bucket_edges(r: &Reader, start: i64, end: i64) -> Result<Vec<i64>> {
    const STEPS: [i64; 13] = nrec_model::time::ROUND_STEPS_MS;
    let stored = match r.horizons()?.finest(start) {
        Resolution::Raw => 0,
        Resolution::Quarter => QUARTER_MS,
        Resolution::Day => DAY_MS,
    };
    // the recorder's usual interval: the median time between the window's raw samples
    let times = r.sample_times(start, end, 4096)?;
    let mut intervals: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    intervals.sort_unstable();
    let interval = intervals.get(intervals.len() / 2).copied().unwrap_or(0);
    let span = (end - start).max(1);
    let step = STEPS
        .into_iter()
        .find(|s| *s >= stored && *s >= interval && span / s < MAX_BUCKETS)
        .unwrap_or(STEPS[STEPS.len() - 1]);
    let mut edges = vec![start];
    let mut t = (start.div_euclid(step) + 1) * step;
    while t < end {
        edges.push(t);
        t += step;
    }
    edges.push(end);
    Ok(edges)
}

/// At most this many buckets in a window's picture over time.
const MAX_BUCKETS: i64 = 120;

/// How many rows have their own layer over time; the rest are one `(other …)` layer.
const LAYERS: usize = 7;

/// The ranked rows `keys` over the window in buckets, with `(other …)` and `(unattributed)`.
fn stack(
    r: &mut Reader,
    ranker: &Ranker,
    (start, end): (i64, i64),
    keys: &[String],
    other_key: &str,
) -> Result<crate::output::svg::Stack> {
    use crate::output::svg::{Layer, Stack};
    let edges = bucket_edges(r, start, end)?;
    let n = edges.len() - 1;
    let shown = &keys[..keys.len().min(LAYERS)];
    let layer = |label: &str, muted| Layer {
        label: label.to_string(),
        muted,
        bytes: vec![(0, 0); n],
    };
    let mut layers: Vec<Layer> = shown.iter().map(|k| layer(k, false)).collect();
    layers.push(layer(other_key, true));
    layers.push(layer("(unattributed)", true));
    let mut sampled = vec![false; n];
    let each = r.sums_each(
        &ranker.kinds(),
        &edges.windows(2).map(|w| (w[0], w[1])).collect::<Vec<_>>(),
    )?;
    for (i, sums) in each.iter().enumerate() {
        let (entries, bal, t) = ranker.rank(sums);
        sampled[i] = t.elapsed_ms > 0;
        for e in entries {
            let l = shown
                .iter()
                .position(|k| *k == e.key)
                .unwrap_or(shown.len());
            let b = &mut layers[l].bytes[i];
            b.0 += e.rx;
            b.1 += e.tx;
        }
        let u = layers.len() - 1;
        layers[u].bytes[i] = bal.unattributed;
    }
    // an (other …) layer that never holds anything is not drawn
    let o = layers.len() - 2;
    if layers[o].bytes.iter().all(|b| *b == (0, 0)) {
        layers.remove(o);
    }
    Ok(Stack {
        edges,
        sampled,
        layers,
    })
}

/// What `top-procs`, `top-ports` and `top-hosts` show.
#[derive(Debug, Clone)]
pub struct Settings {
    pub what: What,
    pub by: By,
    pub window: Window,
    /// Ranked rows shown (at least 1); the rest is one `(other …)` row.
    pub limit: usize,
    /// Only this container's processes (its name or id).
    pub container: Option<String>,
    /// The networks counted as `lan` besides the built-in ones (`[scopes] lan`): a host
    /// row's traffic class.
    pub lan: Networks,
    /// `top-hosts --scope`: only the hosts of this scope are ranked; the rest is in
    /// `(other hosts)`.
    pub scope: Option<Scope>,
}

impl Settings {
    /// What the rows' bytes were counted as: processes ranked by traffic class are their
    /// hosts' bytes (the source the coverage line names).
    fn counted(&self) -> What {
        let by_class = matches!(self.by, By::Scope | By::Family) || self.scope.is_some();
        match self.what {
            What::Procs if by_class => What::Hosts,
            w => w,
        }
    }
}

/// A host row's address family and scope (None for other rows, `(other hosts)` among them).
fn class(lan: &Networks, e: &Entry) -> Option<(Family, Scope)> {
    e.addr.as_deref().and_then(|a| class_of_text(a, lan))
}

impl What {
    /// The command that shows it.
    pub fn command(self) -> &'static str {
        match self {
            What::Procs => "top-procs",
            What::Ports => "top-ports",
            What::Hosts => "top-hosts",
        }
    }
}

/// A window ranked: the rows within `--limit`, the `(other …)` row past it, `(unattributed)`,
/// and the balance and totals they stand in.
struct Ranked {
    entries: Vec<Entry>,
    other: Option<Entry>,
    unattributed: Entry,
    bal: Balance,
    t: Totals,
    edges: Resolution,
}

impl Ranked {
    /// What the rows and `(unattributed)` add up to (rx + tx).
    fn whole(&self) -> u64 {
        self.bal.total()
    }
    fn coverage_pct(&self) -> f64 {
        self.bal.coverage().unwrap_or(0.0) * 100.0
    }
}

/// Ranks the window: every entry is counted once per direction, so the attributed sum is
/// over all entries, shown or not. Past `--limit` (and the hosts a process used beyond the
/// ones tracked one by one) the rest is one `(other …)` row, so the rows always add up to
/// the total.
fn rank(r: &mut Reader, s: &Settings, ranker: &Ranker<'_>) -> Result<Ranked> {
    let sums = r.sums(&ranker.kinds(), s.window.start_ms(), s.window.end_ms())?;
    // The rows' side of the equation per namespace, against the interfaces'.
    let (mut entries, bal, t) = ranker.rank(&sums);
    entries.sort_by(|a, b| (b.rx + b.tx).cmp(&(a.rx + a.tx)).then(a.key.cmp(&b.key)));
    let other_key = other_key(s.what);
    // (with --scope, the ranker keyed the members of other scopes, and those of none known,
    // as the rest)
    let shown = |e: &Entry| e.key != other_key;
    let (mut ranked, mut rest): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(shown);
    if ranked.len() > s.limit {
        rest.extend(ranked.split_off(s.limit));
    }
    let empty = |key: &str| Entry {
        key: key.to_string(),
        rx: 0,
        tx: 0,
        procs: Vec::new(),
        description: None,
        addr: None,
    };
    let other = rest.into_iter().fold(empty(other_key), |mut o, e| {
        o.rx += e.rx;
        o.tx += e.tx;
        for p in e.procs {
            if !o.procs.contains(&p) {
                o.procs.push(p);
            }
        }
        o
    });
    let unattributed = Entry {
        rx: bal.unattributed.0,
        tx: bal.unattributed.1,
        ..empty("(unattributed)")
    };
    Ok(Ranked {
        entries: ranked,
        other: (other.rx + other.tx > 0).then_some(other),
        unattributed,
        bal,
        t,
        edges: sums.edges,
    })
}

/// The view: the ranked rows of the window, `(other …)` and `(unattributed)`, in the output's
/// format. Returns the coarsest data read (for the command's note on pruned raw samples).
pub fn write(r: &mut Reader, s: &Settings, o: &mut Output<'_>) -> Result<Resolution> {
    let procs = r.procs()?;
    let classes = Classes {
        lan: &s.lan,
        scope: s.scope,
    };
    let ranker = Ranker::new(
        r,
        &procs,
        s.what,
        s.by,
        s.container.as_deref(),
        Some(classes),
    )?;
    let ranked = rank(r, s, &ranker)?;
    match o.format {
        Format::Svg | Format::Png => picture(r, s, &ranker, &ranked, o)?,
        Format::Table => table(s, &ranked, o).map_err(write_error)?,
        _ => data(s, &ranked, o)?,
    }
    Ok(ranked.edges)
}

/// Units carry what they are (their `Description=`).
fn described(s: &Settings) -> bool {
    s.what == What::Procs && s.by == By::Unit
}

/// The rows as data: rank (none for `(other …)` and `(unattributed)`), name, bytes, share,
/// the processes behind a port or host, a unit's description; and the balance they stand in.
fn data(s: &Settings, k: &Ranked, o: &mut Output<'_>) -> Result<()> {
    let whole = k.whole();
    let mut columns = vec![
        "rank",
        "name",
        "rx_bytes",
        "tx_bytes",
        "total_bytes",
        "share",
        "processes",
    ];
    if described(s) {
        columns.push("description");
    }
    if s.what == What::Hosts {
        columns.extend(crate::output::CLASS_COLUMNS);
    }
    let mut rows = Rows::new(&columns);
    let row = |rank: Cell, e: &Entry| {
        let mut r = vec![
            rank,
            Cell::text(&e.key),
            e.rx.into(),
            e.tx.into(),
            (e.rx + e.tx).into(),
            Cell::Num(pct(e.rx + e.tx, whole) / 100.0, 4),
            Cell::List(e.procs.clone()),
        ];
        if described(s) {
            r.push(e.description.as_deref().map_or(Cell::Null, Cell::text));
        }
        if s.what == What::Hosts {
            r.extend(crate::output::class_cells(class(&s.lan, e)));
        }
        r
    };
    for (i, e) in k.entries.iter().enumerate() {
        rows.push(row(Cell::from(i + 1), e));
    }
    for e in k.other.iter().chain([&k.unattributed]) {
        rows.push(row(Cell::Null, e));
    }
    let (bal, t, u) = (&k.bal, &k.t, &k.unattributed);
    let by = match s.what {
        What::Procs => s.by.name().to_string(),
        What::Ports => "port".into(),
        What::Hosts => "host".into(),
    };
    let mut body = json!({
        "by": by,
        "unattributed": { "rx_bytes": u.rx, "tx_bytes": u.tx, "total_bytes": u.rx + u.tx,
                          "on_sockets_without_process": t.unowned_rx + t.unowned_tx },
        "interface_bytes": { "rx": bal.iface.0, "tx": bal.iface.1 },
        "attributed_bytes": { "rx": bal.attributed.0, "tx": bal.attributed.1 },
        "beyond_interfaces": { "rx": bal.beyond.0, "tx": bal.beyond.1 },
        "unsampled_namespaces": { "rx": bal.unsampled.0, "tx": bal.unsampled.1 },
        "total_bytes": whole,
        "coverage": k.coverage_pct() / 100.0,
        "source": source(t, s.counted()),
        "ebpf_share": t.ebpf_share().unwrap_or(0.0),
        "edges": k.edges.describe(),
    });
    body["scope"] = s
        .scope
        .map_or(serde_json::Value::Null, |sc| sc.name().into());
    o.rows(&rows, body.as_object().cloned().unwrap_or_default())
        .map_err(write_error)
}

/// The rows as ranked bars, with the busiest rows stacked over the window.
fn picture(
    r: &mut Reader,
    s: &Settings,
    ranker: &Ranker<'_>,
    k: &Ranked,
    o: &mut Output<'_>,
) -> Result<()> {
    use crate::output::svg::{Bar, ranked_bars};
    let bar = |e: &Entry, muted: bool| Bar {
        label: e.key.clone(),
        rx: e.rx,
        tx: e.tx,
        muted,
    };
    let mut bars: Vec<Bar> = k.entries.iter().map(|e| bar(e, false)).collect();
    bars.extend(k.other.iter().map(|e| bar(e, true)));
    bars.push(bar(&k.unattributed, true));
    let title = o.picture_title(&match s.what {
        What::Procs => format!("by {}", s.by.name()),
        _ => String::new(),
    });
    let note = format!(
        "{:.1}% of {} (rx+tx, all namespaces) attributed; source: {}",
        k.coverage_pct(),
        size(k.whole()),
        source(&k.t, s.counted())
    );
    let keys: Vec<String> = k.entries.iter().map(|e| e.key.clone()).collect();
    let window = (s.window.start_ms(), s.window.end_ms());
    let over_time = stack(r, ranker, window, &keys, other_key(s.what))?;
    let tz = o.tz.clone();
    o.picture(&ranked_bars(
        &title,
        &note,
        &bars,
        k.whole(),
        Some((&over_time, &tz)),
    ))
}

/// The rows as a table, and the coverage line.
fn table(s: &Settings, k: &Ranked, o: &mut Output<'_>) -> std::io::Result<()> {
    let what = s.what;
    let head = match (what, s.by) {
        (What::Procs, By::Scope) => "SCOPE",
        (What::Procs, By::Family) => "FAMILY",
        (What::Procs, _) => "NAME",
        (What::Ports, _) => "PORT",
        (What::Hosts, _) => "HOST",
    };
    let trailing = match what {
        What::Procs if described(s) => "  DESCRIPTION",
        What::Procs => "",
        _ => "  PROCESSES",
    };
    let (bal, t, whole) = (&k.bal, &k.t, k.whole());
    let scopes = (what == What::Hosts).then_some(&s.lan);
    rows_table(o.text(), head, trailing, k, whole, scopes)?;
    writeln!(
        o.text(),
        "coverage: {:.1}% of {} {}(rx+tx, all namespaces, {}) attributed to {}{}; \
             source: {}{}",
        k.coverage_pct(),
        size(whole),
        if bal.extra() == 0 {
            "interface bytes "
        } else {
            ""
        },
        s.window.label,
        match (what, s.scope) {
            (What::Procs, None) => "processes".to_string(),
            (What::Ports, None) => "ports".to_string(),
            (What::Ports, Some(sc)) =>
                format!("ports (ranked: their bytes with {} hosts only)", sc.name()),
            (What::Hosts, None) => "hosts".to_string(),
            // (the rows of other scopes are in (other …): the total is the same)
            (What::Procs, Some(sc)) => format!(
                "processes (ranked: their bytes with {} hosts only)",
                sc.name()
            ),
            (What::Hosts, Some(sc)) => format!("hosts (ranked: {} only)", sc.name()),
        },
        both_sides(bal),
        source_text(t, s.counted()),
        if t.unowned_rx + t.unowned_tx > 0 {
            format!(
                "; {} were on sockets with no known process",
                size(t.unowned_rx + t.unowned_tx)
            )
        } else {
            String::new()
        }
    )
}

/// When the rows hold more than the interfaces carried in some namespace, both sides of the
/// total and why they differ (empty otherwise: the total is the interface bytes).
fn both_sides(b: &Balance) -> String {
    let sum = |(r, t): (u64, u64)| r + t;
    if b.extra() == 0 {
        return String::new();
    }
    let mut why = Vec::new();
    if sum(b.beyond) > 0 {
        why.push(format!(
            "{} more than their namespace's interfaces carried (a datagram multicast or broadcast \
             to several local sockets reaches each; a namespace of unknown age seen for the first time)",
            size(sum(b.beyond))
        ));
    }
    if sum(b.unsampled) > 0 {
        why.push(format!(
            "{} in network namespaces nrec never sampled (created and gone between two samples)",
            size(sum(b.unsampled))
        ));
    }
    format!(
        "; the interfaces carried {}, the rows hold {}: {}",
        size(sum(b.iface)),
        size(sum(b.attributed)),
        why.join(", ")
    )
}

/// The ranked rows, the `(other …)` row and `(unattributed)`. The name column is as wide as
/// its longest name (as `ss` and `ps` size theirs), so the numbers stay aligned.
fn rows_table(
    out: &mut dyn Write,
    head: &str,
    trailing: &str,
    k: &Ranked,
    whole: u64,
    scopes: Option<&Networks>,
) -> std::io::Result<()> {
    let (entries, other) = (&k.entries, k.other.as_ref());
    let (urx, utx) = (k.unattributed.rx, k.unattributed.tx);
    let w = crate::output::column_width(
        "(unattributed)".len(),
        entries.iter().chain(other).map(|e| e.key.chars().count()),
    );
    // a host's scope after its name (hosts only; blank for the rows that stand for many)
    let cell = |e: Option<&Entry>| match (scopes, e) {
        (None, _) => String::new(),
        (Some(_), None) => format!(" {:<8}", ""),
        (Some(lan), Some(e)) => format!(" {:<8}", class(lan, e).map_or("", |(_, s)| s.name())),
    };
    let scope_head = match scopes {
        Some(_) => format!(" {:<8}", "SCOPE"),
        None => String::new(),
    };
    writeln!(
        out,
        "{:>4}  {:<w$}{scope_head} {:>11} {:>11} {:>11} {:>6}{}",
        "RANK", head, "RX", "TX", "TOTAL", "SHARE", trailing
    )?;
    let ranks = (1..=entries.len())
        .map(|i| i.to_string())
        .chain(other.map(|_| String::new()));
    for (rank, e) in ranks.zip(entries.iter().chain(other)) {
        write!(
            out,
            "{:>4}  {:<w$}{} {:>11} {:>11} {:>11} {:>5.1}%",
            rank,
            e.key,
            cell(Some(e)),
            size(e.rx),
            size(e.tx),
            size(e.rx + e.tx),
            pct(e.rx + e.tx, whole)
        )?;
        if !e.procs.is_empty() {
            write!(out, "  {}", e.procs.join(", "))?;
        }
        if let Some(d) = &e.description {
            write!(out, "  {}", escape_text(d))?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "{:>4}  {:<w$}{} {:>11} {:>11} {:>11} {:>5.1}%",
        "",
        "(unattributed)",
        cell(None),
        size(urx),
        size(utx),
        size(urx + utx),
        pct(urx + utx, whole)
    )
}
