//! A rule's value now: its subject's series summed through the store's window engine over
//! the current local hour, day or month (or the intervals ending in the last N minutes), the
//! engine `summary` and `top-*` use; and, after a recorder's sample, each new crossing
//! recorded once per period in the store.

use super::rules::{Limit, MATCHED_CAP, Period, Rule, Subject};
use crate::config::Config;
use jiff::tz::TimeZone;
use nrec_model::error::{Error, Result};
use nrec_model::names::{escape_bytes, iface_label};
use nrec_model::time::MonthStart;
use nrec_store::rollup::Kind;
use nrec_store::series::{IfaceSeries, ProcSeries, Vector};
use nrec_store::window::Sums;
use nrec_store::{Fired, Reader, Writer};
use std::collections::HashMap;

/// A rule that could not be evaluated, and why.
pub type Unevaluable = (Rule, String);

/// A rule's state now.
#[derive(Debug, Clone)]
pub struct Status {
    /// Bytes in the current period (volume) or bits per second over the last minutes (rate).
    pub value: f64,
    /// Over (or at) the limit now.
    pub over: bool,
    /// The current period: volume rules its start and end; rate rules the span averaged.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Rate rules: the span had samples enough to call the rate sustained.
    pub covered: bool,
    /// Interface rules: the interfaces the name or pattern matched (as the reports name them).
    pub matched: Vec<String>,
    /// The last time the rule fired, and what its command did.
    pub last: Option<Fired>,
    /// The highest warning level (percent) that fired in the current period.
    pub warned: Option<u8>,
}

/// A rule that fired in this sample: what its command and the journal are told.
#[derive(Debug, Clone)]
pub struct Firing {
    pub rule: Rule,
    /// A warning level (percent) that fired; None: the limit itself.
    pub level: Option<u8>,
    pub status: Status,
    pub host: String,
    pub text: String,
    pub tz: TimeZone,
}

/// The error of a rule that cannot be evaluated (its subject matches nothing recorded):
/// a config error naming the file and the rule's line (exit 2).
pub fn rule_error(config: &Config, rule: &Rule, why: &str) -> Error {
    let file = config
        .path
        .as_deref()
        .map_or_else(|| "(none)".into(), |p| p.display().to_string());
    Error::usage(format!(
        "config {file}: alert {:?} (line {}): {why}",
        rule.name, rule.line
    ))
}

/// What one evaluation reads once for all its rules: the series lists (each read when a
/// rule first needs it) and the window sums (rules of the same kinds and span share one).
struct Reads<'r> {
    r: &'r mut Reader,
    ifaces: Option<Vec<IfaceSeries>>,
    iface_names: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    procs: Option<Vec<ProcSeries>>,
    sums: HashMap<(Vec<Kind>, i64, i64), Sums>,
}

impl<'r> Reads<'r> {
    fn new(r: &'r mut Reader) -> Self {
        Reads {
            r,
            ifaces: None,
            iface_names: None,
            procs: None,
            sums: HashMap::new(),
        }
    }
    fn ifaces(&mut self) -> Result<&[IfaceSeries]> {
        if self.ifaces.is_none() {
            self.ifaces = Some(self.r.ifaces()?);
        }
        Ok(self.ifaces.as_deref().unwrap_or_default())
    }
    fn iface_names(&mut self) -> Result<&[(Vec<u8>, Vec<u8>)]> {
        if self.iface_names.is_none() {
            self.iface_names = Some(self.r.iface_names()?);
        }
        Ok(self.iface_names.as_deref().unwrap_or_default())
    }
    fn procs(&mut self) -> Result<&[ProcSeries]> {
        if self.procs.is_none() {
            self.procs = Some(self.r.procs()?);
        }
        Ok(self.procs.as_deref().unwrap_or_default())
    }
    /// The window sums of `kinds` over `[a, b)`, shared by the rules that need the same.
    fn sums(&mut self, kinds: Vec<Kind>, a: i64, b: i64) -> Result<&Sums> {
        let key = (kinds, a, b);
        if !self.sums.contains_key(&key) {
            let s = self.r.sums(&key.0, a, b)?;
            self.sums.insert(key.clone(), s);
        }
        Ok(&self.sums[&key])
    }
}

/// The series a rule sums and the kind of their vectors; Err: the subject matches nothing
/// recorded (an unknown interface), with what was recorded.
fn subject_series(
    reads: &mut Reads<'_>,
    rule: &Rule,
) -> std::result::Result<(Kind, Vec<i64>, Vec<String>), String> {
    let db = |e: Error| e.msg;
    let s = &rule.subject;
    if let Some((scope, lan)) = &rule.scope {
        // the subject's processes' bytes with hosts of the scope: their host series
        let procs: Option<std::collections::HashSet<i64>> = match s {
            Subject::Processes => None,
            _ => Some(
                reads
                    .procs()
                    .map_err(db)?
                    .iter()
                    .filter(|p| process_matches(s, p))
                    .map(|p| p.process)
                    .collect(),
            ),
        };
        let ids = reads
            .r
            .details(Kind::Host, None)
            .map_err(db)?
            .into_iter()
            .filter(|d| procs.as_ref().is_none_or(|ps| ps.contains(&d.process)))
            .filter(|d| {
                nrec_model::scope::class_of_text(&d.addr, lan).is_some_and(|(_, sc)| sc == *scope)
            })
            .map(|d| d.series)
            .collect();
        return Ok((Kind::Host, ids, Vec::new()));
    }
    match s {
        Subject::Interface(_, filter) => {
            let ids: Vec<i64> = reads
                .ifaces()
                .map_err(db)?
                .iter()
                .filter(|i| filter.matches(&i.netns, &i.name))
                .map(|i| i.series)
                .collect();
            let known = reads.iface_names().map_err(db)?;
            let seen: Vec<(&[u8], &[u8])> = known.iter().map(|(ns, n)| (&ns[..], &n[..])).collect();
            if let Some(u) = filter.unmatched(&seen) {
                return Err(format!(
                    "interface {} matches no recorded interface (recorded: {})",
                    s.text(),
                    u.recorded_list()
                ));
            }
            let mut labels: Vec<String> = seen
                .iter()
                .filter(|(ns, n)| filter.matches(ns, n))
                .map(|(ns, n)| iface_label(ns, n))
                .collect();
            labels.sort();
            labels.dedup();
            labels.truncate(MATCHED_CAP);
            Ok((Kind::Iface, ids, labels))
        }
        Subject::Port(p) => Ok((
            Kind::Port,
            reads
                .r
                .details(Kind::Port, Some(*p))
                .map_err(db)?
                .iter()
                .map(|d| d.series)
                .collect(),
            Vec::new(),
        )),
        Subject::Process(_) | Subject::Unit(_) | Subject::Container(_) | Subject::Processes => {
            let ids = reads
                .procs()
                .map_err(db)?
                .iter()
                .filter(|p| process_matches(s, p))
                .map(|p| p.series)
                .collect();
            Ok((Kind::Proc, ids, Vec::new()))
        }
    }
}

/// Whether process series `p` is one of a process, unit, container (or every process)
/// subject's.
fn process_matches(s: &Subject, p: &nrec_store::series::ProcSeries) -> bool {
    match s {
        Subject::Process(n) => &p.comm == n,
        Subject::Unit(u) => p.unit.as_deref() == Some(u),
        Subject::Container(c) => p.in_container(c),
        Subject::Processes => true,
        Subject::Interface(..) | Subject::Port(_) => false,
    }
}

/// The current period of a volume rule: [start, end) in UTC ms, local calendar.
fn period_bounds(p: Period, month: MonthStart, now_ms: i64, tz: &TimeZone) -> Result<(i64, i64)> {
    let bad = |e: jiff::Error| Error::usage(format!("alert period: {e}"));
    let now = jiff::Timestamp::from_millisecond(now_ms).map_err(bad)?;
    let z = now.to_zoned(tz.clone());
    let day = |d: jiff::civil::Date| -> Result<i64> {
        Ok(nrec_model::time::day_start(d, tz)?.as_millisecond())
    };
    Ok(match p {
        Period::Hour => {
            let into = (i64::from(z.minute()) * 60 + i64::from(z.second())) * 1000
                + i64::from(z.millisecond());
            (now_ms - into, now_ms - into + 3_600_000)
        }
        Period::Day => (day(z.date())?, day(z.date().tomorrow().map_err(bad)?)?),
        Period::Month => {
            let first = month.cycle_of(z.date());
            (day(first)?, day(month.next(first))?)
        }
    })
}

/// Evaluates every rule at `now_ms` (read-only). A rule whose subject matches nothing
/// recorded is `Err(reason)` in its place.
pub fn evaluate(
    r: &mut Reader,
    rules: &[Rule],
    now_ms: i64,
    tz: &TimeZone,
) -> Result<Vec<std::result::Result<Status, String>>> {
    // One read transaction for all the rules' queries: one snapshot, and SQLite takes and
    // drops its shared lock once instead of around each of the window engine's statements
    // (910 fcntl calls for one 10-minute rule, measured with strace).
    r.transaction(false, |r| evaluate_in(r, rules, now_ms, tz))
}

fn evaluate_in(
    r: &mut Reader,
    rules: &[Rule],
    now_ms: i64,
    tz: &TimeZone,
) -> Result<Vec<std::result::Result<Status, String>>> {
    let time_ids = r.time_series()?;
    let mut reads = Reads::new(r);
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules {
        let (kind, ids, matched) = match subject_series(&mut reads, rule) {
            Ok(x) => x,
            Err(why) => {
                out.push(Err(why));
                continue;
            }
        };
        let (start, end, sum_end) = match rule.limit {
            Limit::Volume { period, .. } => match period_bounds(period, rule.month, now_ms, tz) {
                Ok((a, b)) => (a, b, now_ms + 1),
                Err(e) => {
                    out.push(Err(e.msg));
                    continue;
                }
            },
            Limit::Rate { minutes, .. } => {
                let a = now_ms + 1 - i64::from(minutes) * 60_000;
                (a, now_ms + 1, now_ms + 1)
            }
        };
        // a rate needs the time the intervals cover: interfaces carry their own, the others
        // take the host's sampling series
        let kinds = match (rule.limit, kind) {
            (Limit::Rate { .. }, k) if k != Kind::Iface => vec![k, Kind::Time],
            (_, k) => vec![k],
        };
        let last = last_fired(reads.r, &rule.name)?;
        let mut warned = None;
        for level in rule.warn.iter().rev() {
            let f = last_fired(reads.r, &rule.level_key(*level))?;
            if f.is_some_and(|f| f.period == start) {
                warned = Some(*level);
                break;
            }
        }
        let sums = reads.sums(kinds, start, sum_end)?;
        let (mut rx, mut tx, mut elapsed) = (0u64, 0u64, 0u64);
        for id in &ids {
            if let Some(v) = sums.by_series.get(id) {
                let v = Vector(v);
                let (r, t) = v.bytes(kind);
                rx = rx.saturating_add(r);
                tx = tx.saturating_add(t);
                if kind == Kind::Iface {
                    elapsed = elapsed.max(v.iface_elapsed_ms());
                }
            }
        }
        if kind != Kind::Iface {
            elapsed = time_ids
                .iter()
                .filter_map(|id| sums.by_series.get(id))
                .map(|v| Vector(v).elapsed_ms())
                .max()
                .unwrap_or(0);
        }
        let bytes = rule.direction.pick(rx, tx);
        let (value, over, covered) = match rule.limit {
            Limit::Volume { bytes: lim, .. } => (bytes as f64, bytes >= lim, true),
            Limit::Rate {
                bits_per_s: lim,
                minutes,
            } => {
                // The average over the intervals that end in the span (a gap's interval is
                // long, so its traffic is averaged over the whole gap, never a spike); only
                // called sustained once samples cover 90 % of the span.
                let span_ms = u64::from(minutes) * 60_000;
                let covered = elapsed.saturating_mul(10) >= span_ms.saturating_mul(9);
                let rate = if elapsed > 0 {
                    bytes as f64 * 8.0 / (elapsed as f64 / 1000.0)
                } else {
                    0.0
                };
                (rate, covered && rate >= lim, covered)
            }
        };
        out.push(Ok(Status {
            value,
            over,
            start_ms: start,
            end_ms: end,
            covered,
            matched,
            last,
            warned,
        }));
    }
    Ok(out)
}

/// The newest firing of a rule (none before it first fired).
fn last_fired(r: &Reader, rule: &str) -> Result<Option<Fired>> {
    Ok(r.firings(Some(rule), 1)?.pop().map(|(_, _, f)| f))
}

/// The line the journal gets when a rule fires (`level`: a warning level of its quota).
fn fire_text(rule: &Rule, level: Option<u8>, st: &Status, tz: &TimeZone) -> String {
    match rule.limit {
        Limit::Volume { period, .. } if level.is_some() => format!(
            "{} {} this {} {} reached {}% of its quota of {} (since {})",
            rule.subject_text(),
            rule.direction.name(),
            period.name(),
            rule.value_text(st.value),
            level.unwrap_or(100),
            rule.limit_text(),
            nrec_report::output::local_text(st.start_ms, tz)
        ),
        Limit::Volume { period, .. } => format!(
            "{} {} this {} {} reached its quota of {} (since {})",
            rule.subject_text(),
            rule.direction.name(),
            period.name(),
            rule.value_text(st.value),
            rule.limit_text(),
            nrec_report::output::local_text(st.start_ms, tz)
        ),
        Limit::Rate { minutes, .. } => format!(
            "{} {} averaged {} over the last {minutes} min, at or above {}",
            rule.subject_text(),
            rule.direction.name(),
            rule.value_text(st.value),
            rule.limit_text()
        ),
    }
}

/// After a stored sample: evaluates the rules and records each new crossing (once per
/// period, atomically); re-arms rate rules whose rate fell below the limit. Returns what
/// fired, for [`notify`], and the rules that could not be evaluated.
pub fn check_sample(
    w: &mut Writer,
    rules: &[Rule],
    now_ms: i64,
    tz: &TimeZone,
) -> Result<(Vec<Firing>, Vec<Unevaluable>)> {
    // the recorder's evaluation and firing in one write transaction: what it read is what
    // it records as fired, whatever another recorder does meanwhile
    w.immediate(|w| check_sample_in(w, rules, now_ms, tz))
}

fn check_sample_in(
    w: &mut Writer,
    rules: &[Rule],
    now_ms: i64,
    tz: &TimeZone,
) -> Result<(Vec<Firing>, Vec<Unevaluable>)> {
    let statuses = evaluate(w, rules, now_ms, tz)?;
    let host = w
        .last_host()?
        .map(|h| escape_bytes(&h.hostname))
        .unwrap_or_default();
    let mut fired = Vec::new();
    let mut broken = Vec::new();
    for (rule, st) in rules.iter().zip(statuses) {
        // what fired now: the quota's (level None) or a warning level's, for `period`
        let firing = |mut st: Status, level: Option<u8>, period: i64| -> Firing {
            st.last = Some(Fired {
                period,
                fired_ms: now_ms,
                value: st.value,
                cleared_ms: None,
                outcome: None,
            });
            Firing {
                rule: rule.clone(),
                level,
                text: fire_text(rule, level, &st, tz),
                status: st,
                host: host.clone(),
                tz: tz.clone(),
            }
        };
        let st = match st {
            Ok(s) => s,
            Err(why) => {
                broken.push((rule.clone(), why));
                continue;
            }
        };
        let open_episode = st.last.as_ref().filter(|f| f.cleared_ms.is_none());
        let period = match rule.limit {
            Limit::Volume { .. } => Some(st.start_ms),
            Limit::Rate { .. } => match open_episode {
                Some(f) if !st.over && st.covered => {
                    w.clear_firing(&rule.name, f.period, now_ms)?;
                    None
                }
                Some(_) => None,
                None => Some(now_ms),
            },
        };
        // warning levels: each recorded once per period; the highest one new in this sample
        // is said, unless the limit itself fires now (a jump past them all says that)
        if let Limit::Volume { bytes: lim, .. } = rule.limit {
            let mut newest = None;
            for level in &rule.warn {
                let at = lim as f64 * f64::from(*level) / 100.0;
                if st.value < at {
                    continue;
                }
                let new = w.fire(&nrec_store::Firing {
                    rule: &rule.level_key(*level),
                    period: st.start_ms,
                    fired_ms: now_ms,
                    subject: &rule.subject_text(),
                    value: st.value,
                    threshold: at,
                    outcome: rule.command.is_empty().then_some("no command"),
                })?;
                if new {
                    newest = Some(*level);
                }
            }
            if let Some(level) = newest.filter(|_| !st.over) {
                let mut st = st.clone();
                st.warned = Some(level);
                let period = st.start_ms;
                fired.push(firing(st, Some(level), period));
            }
        }
        let Some(period) = period.filter(|_| st.over) else {
            continue;
        };
        let threshold = rule.threshold();
        let subject = rule.subject_text();
        let new = w.fire(&nrec_store::Firing {
            rule: &rule.name,
            period,
            fired_ms: now_ms,
            subject: &subject,
            value: st.value,
            threshold,
            outcome: rule.command.is_empty().then_some("no command"),
        })?;
        if new {
            fired.push(firing(st, None, period));
        }
    }
    Ok((fired, broken))
}
