//! Quotas and alerts: the `[[alert]]` rules of nrec.toml, evaluated after every stored sample
//! (`record`, `daemon`) and on demand (`nrec alerts`).
//!
//! A rule is a subject (an interface or pattern, a process name, a systemd unit, a container,
//! a service port), a direction (rx, tx, total) and a limit: a **volume** per local calendar
//! hour, day or month, or a **rate** sustained over N minutes. Values are read through the
//! same window engine as the reports (`store::window::sums`), so an alert counts exactly what
//! `summary` and `top-*` count: an interval belongs to the period in which it ends (a gap's
//! traffic lands in one period only), and counter resets never add traffic.
//!
//! Firing is a row in `alert_fired` (schema 7), inserted with `INSERT OR IGNORE` on (rule,
//! period): a crossing fires once per period however many samples (or concurrent recorders)
//! see it. A rate rule's period is its episode: it fires when the rate reaches the limit and
//! re-arms when the rate falls below it. The rule's command runs after the sample is stored
//! and the lock released, with argv from the config (no shell), the details in `NREC_ALERT_*`
//! variables and as JSON on stdin, and a deadline after which its process group is killed.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::units::{bits_per_s, bytes as size};
use crate::output::{escape_bytes, iso};
use crate::store::rollup::{Kind, Roller};
use crate::store::series::{self, Vector};
use crate::store::window::{self, Horizons};
use jiff::ToSpan;
use jiff::tz::TimeZone;
use rusqlite::{Connection, params};
use serde::Deserialize;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An interface as the reports name it (`eth0`, `lo@NETNS`) or a shell pattern (`veth*`).
    Interface(OsString),
    /// Every process with this name (comm).
    Process(Vec<u8>),
    /// Every process of this systemd unit.
    Unit(String),
    /// Every process of this container: its name (as `top-procs --by container` prints it)
    /// or its id.
    Container(String),
    /// A service port (TCP, all processes).
    Port(u16),
}

impl Subject {
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Interface(_) => "interface",
            Subject::Process(_) => "process",
            Subject::Unit(_) => "unit",
            Subject::Container(_) => "container",
            Subject::Port(_) => "port",
        }
    }
    /// The subject as printed (escaped: names are untrusted bytes).
    pub fn text(&self) -> String {
        match self {
            Subject::Interface(s) => escape_bytes(s.as_bytes()),
            Subject::Process(s) => escape_bytes(s),
            Subject::Unit(s) | Subject::Container(s) => escape_bytes(s.as_bytes()),
            Subject::Port(p) => p.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Rx,
    Tx,
    Total,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Rx => "rx",
            Direction::Tx => "tx",
            Direction::Total => "total",
        }
    }
    fn pick(self, rx: u64, tx: u64) -> u64 {
        match self {
            Direction::Rx => rx,
            Direction::Tx => tx,
            Direction::Total => rx.saturating_add(tx),
        }
    }
}

/// A calendar period of the display zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hour,
    Day,
    Month,
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// At most `bytes` per calendar `period`.
    Volume { bytes: u64, period: Period },
    /// At most `bits_per_s` on average over the last `minutes`.
    Rate { bits_per_s: f64, minutes: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    /// Where the rule starts in the config file (errors name it).
    pub line: usize,
    pub subject: Subject,
    pub direction: Direction,
    pub limit: Limit,
    /// argv of the command to run when the rule fires (empty: none, the journal line only).
    pub command: Vec<OsString>,
    pub timeout: Duration,
}

/// At most this many matched interface names are listed with a firing.
const MATCHED_CAP: usize = 50;

/// The longest a rule's command may run (the timer's next sample is a minute away).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(50);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `[[alert]]` table as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    pub(crate) name: String,
    interface: Option<String>,
    process: Option<String>,
    unit: Option<String>,
    container: Option<String>,
    port: Option<u32>,
    direction: Option<String>,
    volume: Option<String>,
    period: Option<String>,
    rate: Option<String>,
    minutes: Option<u32>,
    command: Option<Vec<String>>,
    timeout: Option<String>,
}

impl Rule {
    /// Checks one `[[alert]]` table; `Err` is the reason, without the file and line.
    pub(crate) fn from_file(f: RuleFile, line: usize) -> std::result::Result<Rule, String> {
        let name = f.name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(
                "name must be 1-64 letters, digits, '-', '_' or '.' (it names the rule in the journal and the database)"
                    .into(),
            );
        }
        let mut subjects = Vec::new();
        if let Some(i) = f.interface {
            if i.is_empty()
                || i.len() > crate::store::limit::IFNAME + 1 + crate::store::limit::NETNS
            {
                return Err(format!("interface {i:?}: not an interface name"));
            }
            subjects.push(Subject::Interface(i.into()));
        }
        if let Some(p) = f.process {
            if p.is_empty() || p.len() > crate::store::limit::COMM {
                return Err(format!(
                    "process {p:?}: a process name (comm) is 1 to {} bytes",
                    crate::store::limit::COMM
                ));
            }
            subjects.push(Subject::Process(p.into_bytes()));
        }
        if let Some(u) = f.unit {
            if u.is_empty() || u.len() > 256 || !u.contains('.') {
                return Err(format!(
                    "unit {u:?}: a systemd unit name with its suffix (nginx.service)"
                ));
            }
            subjects.push(Subject::Unit(u));
        }
        if let Some(c) = f.container {
            if c.is_empty() || c.len() > 256 {
                return Err(format!("container {c:?}: not a container name or id"));
            }
            subjects.push(Subject::Container(c));
        }
        if let Some(p) = f.port {
            let p = u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port {p}: not a port number (1-65535)"))?;
            subjects.push(Subject::Port(p));
        }
        if subjects.len() != 1 {
            return Err("name exactly one of interface, process, unit, container or port".into());
        }
        let subject = subjects.remove(0);
        let direction = match f.direction.as_deref() {
            None | Some("total") => Direction::Total,
            Some("rx") => Direction::Rx,
            Some("tx") => Direction::Tx,
            Some(d) => return Err(format!("direction {d:?}: expected rx, tx or total")),
        };
        let limit = match (f.volume, f.rate) {
            (Some(v), None) => {
                if f.minutes.is_some() {
                    return Err("minutes goes with rate, not volume".into());
                }
                let bytes = parse_size(&v).map_err(|why| format!("volume {v:?}: {why}"))?;
                let period = match f.period.as_deref() {
                    Some("hour") => Period::Hour,
                    Some("day") => Period::Day,
                    Some("month") => Period::Month,
                    Some(p) => return Err(format!("period {p:?}: expected hour, day or month")),
                    None => return Err("volume needs a period: hour, day or month".into()),
                };
                Limit::Volume { bytes, period }
            }
            (None, Some(r)) => {
                if f.period.is_some() {
                    return Err("period goes with volume; a rate is averaged over minutes".into());
                }
                let bits_per_s = parse_rate(&r).map_err(|why| format!("rate {r:?}: {why}"))?;
                let minutes = f
                    .minutes
                    .ok_or("rate needs minutes: the span it must be sustained over")?;
                if !(1..=1440).contains(&minutes) {
                    return Err(format!("minutes = {minutes}: expected 1 to 1440"));
                }
                Limit::Rate {
                    bits_per_s,
                    minutes,
                }
            }
            _ => return Err("give either volume (with period) or rate (with minutes)".into()),
        };
        let command: Vec<OsString> = f
            .command
            .unwrap_or_default()
            .into_iter()
            .map(OsString::from)
            .collect();
        if command.first().is_some_and(|c| c.is_empty()) {
            return Err("command: the program (its first word) is empty".into());
        }
        let timeout = match f.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => {
                let ms = crate::time::parse_interval("timeout", &t).map_err(|e| e.msg)?;
                let d = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
                if d.is_zero() || d > MAX_TIMEOUT {
                    return Err(format!(
                        "timeout {t:?}: expected 1s to {}s",
                        MAX_TIMEOUT.as_secs()
                    ));
                }
                d
            }
        };
        Ok(Rule {
            name,
            line,
            subject,
            direction,
            limit,
            command,
            timeout,
        })
    }

    /// `eth0 total per month`, `nginx.service rx over 10 min` — what the rule watches.
    pub fn describe(&self) -> String {
        match self.limit {
            Limit::Volume { period, .. } => format!(
                "{} {} {} per {}",
                self.subject.kind(),
                self.subject.text(),
                self.direction.name(),
                period.name()
            ),
            Limit::Rate { minutes, .. } => format!(
                "{} {} {} over {minutes} min",
                self.subject.kind(),
                self.subject.text(),
                self.direction.name()
            ),
        }
    }

    /// The limit: bytes per period, or bits per second.
    pub fn threshold(&self) -> f64 {
        match self.limit {
            Limit::Volume { bytes, .. } => bytes as f64,
            Limit::Rate { bits_per_s, .. } => bits_per_s,
        }
    }

    /// A value of this rule (bytes or bits per second) as people read it.
    pub fn value_text(&self, v: f64) -> String {
        match self.limit {
            Limit::Volume { .. } => size(v as u64),
            Limit::Rate { .. } => bits_per_s(v),
        }
    }

    pub fn limit_text(&self) -> String {
        self.value_text(self.threshold())
    }
}

/// "100 GiB", "1.5TB", "500 MB", "0.5 TiB" → bytes. Units are required: B, kB, MB, GB, TB, PB
/// (powers of 1000) or KiB, MiB, GiB, TiB, PiB (powers of 1024).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let (x, unit) = number_unit(s)?;
    let mult: f64 = match unit {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "PB" => 1e15,
        "KiB" => 1024.0,
        "MiB" => 1024f64.powi(2),
        "GiB" => 1024f64.powi(3),
        "TiB" => 1024f64.powi(4),
        "PiB" => 1024f64.powi(5),
        _ => return Err(
            "expected a size with its unit: B, kB, MB, GB, TB or KiB, MiB, GiB, TiB (\"100 GiB\")"
                .into(),
        ),
    };
    let b = x * mult;
    if !(1.0..=9.0e18).contains(&b) {
        return Err("must be at least 1 B and at most 8 EB".into());
    }
    Ok(b as u64)
}

/// "50 Mbit/s", "10 MB/s", "2.5 Gbit/s" → bits per second.
pub fn parse_rate(s: &str) -> std::result::Result<f64, String> {
    let (x, unit) = number_unit(s)?;
    let bits: f64 = match unit {
        "bit/s" => 1.0,
        "kbit/s" => 1e3,
        "Mbit/s" => 1e6,
        "Gbit/s" => 1e9,
        "Tbit/s" => 1e12,
        "B/s" => 8.0,
        "kB/s" | "KB/s" => 8e3,
        "MB/s" => 8e6,
        "GB/s" => 8e9,
        "KiB/s" => 8.0 * 1024.0,
        "MiB/s" => 8.0 * 1024f64.powi(2),
        "GiB/s" => 8.0 * 1024f64.powi(3),
        _ => return Err("expected a rate with its unit: bit/s, kbit/s, Mbit/s, Gbit/s or B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s (\"50 Mbit/s\")".into()),
    };
    let r = x * bits;
    if !(1.0..=1e15).contains(&r) {
        return Err("must be at least 1 bit/s and at most 1 Pbit/s".into());
    }
    Ok(r)
}

fn number_unit(s: &str) -> std::result::Result<(f64, &str), String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let x: f64 = num
        .parse()
        .map_err(|_| "expected a number and a unit (\"100 GiB\", \"50 Mbit/s\")".to_string())?;
    Ok((x, unit.trim()))
}

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
}

#[derive(Debug, Clone)]
pub struct Fired {
    pub period: i64,
    pub fired_ms: i64,
    pub value: f64,
    pub cleared_ms: Option<i64>,
    pub outcome: Option<String>,
}

/// A rule that fired in this sample: what its command and the journal are told.
#[derive(Debug, Clone)]
pub struct Firing {
    pub rule: Rule,
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
struct Reads<'c> {
    conn: &'c Connection,
    ifaces: Option<Vec<series::IfaceSeries>>,
    iface_names: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    procs: Option<Vec<series::ProcSeries>>,
    sums: HashMap<(Vec<Kind>, i64, i64), window::Sums>,
}

impl<'c> Reads<'c> {
    fn new(conn: &'c Connection) -> Self {
        Reads {
            conn,
            ifaces: None,
            iface_names: None,
            procs: None,
            sums: HashMap::new(),
        }
    }
    fn ifaces(&mut self) -> rusqlite::Result<&[series::IfaceSeries]> {
        if self.ifaces.is_none() {
            self.ifaces = Some(series::ifaces(self.conn)?);
        }
        Ok(self.ifaces.as_deref().unwrap_or_default())
    }
    fn iface_names(&mut self) -> rusqlite::Result<&[(Vec<u8>, Vec<u8>)]> {
        if self.iface_names.is_none() {
            self.iface_names = Some(series::iface_names(self.conn)?);
        }
        Ok(self.iface_names.as_deref().unwrap_or_default())
    }
    fn procs(&mut self) -> rusqlite::Result<&[series::ProcSeries]> {
        if self.procs.is_none() {
            self.procs = Some(series::procs(self.conn)?);
        }
        Ok(self.procs.as_deref().unwrap_or_default())
    }
}

/// The series a rule sums and the kind of their vectors; Err: the subject matches nothing
/// recorded (an unknown interface), with what was recorded.
fn subject_series(
    reads: &mut Reads<'_>,
    s: &Subject,
) -> Result<(Kind, Vec<i64>, Vec<String>), String> {
    let db = |e: rusqlite::Error| e.to_string();
    match s {
        Subject::Interface(pat) => {
            let filter = crate::report::filter::IfaceFilter::new(std::slice::from_ref(pat), None);
            let ids: Vec<i64> = reads
                .ifaces()
                .map_err(db)?
                .iter()
                .filter(|i| filter.matches(&i.netns, &i.name))
                .map(|i| i.series)
                .collect();
            let known = reads.iface_names().map_err(db)?;
            let label = |(ns, n): &(Vec<u8>, Vec<u8>)| crate::output::iface_label(ns, n);
            let mut labels: Vec<String> = known
                .iter()
                .filter(|(ns, n)| filter.matches(ns, n))
                .map(label)
                .collect();
            labels.sort();
            labels.dedup();
            if labels.is_empty() {
                let mut names: Vec<String> = known.iter().map(label).collect();
                names.sort();
                names.dedup();
                names.truncate(20);
                return Err(format!(
                    "interface {} matches no recorded interface (recorded: {})",
                    s.text(),
                    if names.is_empty() {
                        "none yet".into()
                    } else {
                        names.join(", ")
                    }
                ));
            }
            labels.truncate(MATCHED_CAP);
            Ok((Kind::Iface, ids, labels))
        }
        Subject::Port(p) => Ok((
            Kind::Port,
            series::details(reads.conn, Kind::Port, Some(*p))
                .map_err(db)?
                .iter()
                .map(|d| d.series)
                .collect(),
            Vec::new(),
        )),
        Subject::Process(_) | Subject::Unit(_) | Subject::Container(_) => {
            let ids = reads
                .procs()
                .map_err(db)?
                .iter()
                .filter(|p| match s {
                    Subject::Process(n) => &p.comm == n,
                    Subject::Unit(u) => p.unit.as_deref() == Some(u),
                    Subject::Container(c) => p.in_container(c),
                    _ => false,
                })
                .map(|p| p.series)
                .collect();
            Ok((Kind::Proc, ids, Vec::new()))
        }
    }
}

/// The current period of a volume rule: [start, end) in UTC ms, local calendar.
fn period_bounds(p: Period, now_ms: i64, tz: &TimeZone) -> Result<(i64, i64)> {
    let bad = |e: jiff::Error| Error::usage(format!("alert period: {e}"));
    let now = jiff::Timestamp::from_millisecond(now_ms).map_err(bad)?;
    let z = now.to_zoned(tz.clone());
    let day = |d: jiff::civil::Date| -> Result<i64> {
        Ok(crate::time::day_start(d, tz)?.as_millisecond())
    };
    Ok(match p {
        Period::Hour => {
            let into = (i64::from(z.minute()) * 60 + i64::from(z.second())) * 1000
                + i64::from(z.millisecond());
            (now_ms - into, now_ms - into + 3_600_000)
        }
        Period::Day => (day(z.date())?, day(z.date().tomorrow().map_err(bad)?)?),
        Period::Month => {
            let first = z.date().first_of_month();
            (
                day(first)?,
                day(first.checked_add(1.month()).map_err(bad)?)?,
            )
        }
    })
}

/// Evaluates every rule at `now_ms` (read-only). A rule whose subject matches nothing
/// recorded is `Err(reason)` in its place.
pub fn evaluate(
    conn: &Connection,
    rules: &[Rule],
    now_ms: i64,
    tz: &TimeZone,
) -> rusqlite::Result<Vec<std::result::Result<Status, String>>> {
    // One read transaction for all the rules' queries: one snapshot, and SQLite takes and
    // drops its shared lock once instead of around each of the window engine's statements
    // (910 fcntl calls for one 10-minute rule, measured with strace).
    in_transaction(conn, "BEGIN", || evaluate_in(conn, rules, now_ms, tz))
}

/// Runs `f` inside a transaction begun with `begin` unless one is open already.
fn in_transaction<T>(
    conn: &Connection,
    begin: &str,
    f: impl FnOnce() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    if !conn.is_autocommit() {
        return f();
    }
    conn.execute_batch(begin)?;
    let res = f();
    let end = conn.execute_batch(if res.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let out = res?;
    end.map(|()| out)
}

fn evaluate_in(
    conn: &Connection,
    rules: &[Rule],
    now_ms: i64,
    tz: &TimeZone,
) -> rusqlite::Result<Vec<std::result::Result<Status, String>>> {
    let h = Horizons::load(conn)?;
    let mut roller = Roller::new();
    let time_ids = series::time_series(conn)?;
    let mut reads = Reads::new(conn);
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules {
        let (kind, ids, matched) = match subject_series(&mut reads, &rule.subject) {
            Ok(x) => x,
            Err(why) => {
                out.push(Err(why));
                continue;
            }
        };
        let (start, end, sum_end) = match rule.limit {
            Limit::Volume { period, .. } => match period_bounds(period, now_ms, tz) {
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
        let sums = match reads.sums.entry((kinds, start, sum_end)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let s = window::sums(conn, &mut roller, &h, &v.key().0, start, sum_end)?;
                v.insert(s)
            }
        };
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
            last: last_fired(conn, &rule.name)?,
        }));
    }
    Ok(out)
}

/// Every firing stored, newest first, with its rule's name and subject (`alerts --history`).
pub fn history(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<(String, String, Fired)>> {
    fired_rows(conn, None, limit)
}

/// The newest firing of a rule (none before it first fired).
fn last_fired(conn: &Connection, rule: &str) -> rusqlite::Result<Option<Fired>> {
    Ok(fired_rows(conn, Some(rule), 1)?.pop().map(|(_, _, f)| f))
}

/// Stored firings, newest first: of one rule, or of all.
fn fired_rows(
    conn: &Connection,
    rule: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<(String, String, Fired)>> {
    let mut st = conn.prepare_cached(
        "SELECT rule, subject, period, fired_ms, value, cleared_ms, outcome FROM alert_fired
         WHERE ?1 IS NULL OR rule = ?1 ORDER BY fired_ms DESC, period DESC, rule LIMIT ?2",
    )?;
    let rows = st.query_map(
        params![rule, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| {
            // stored text is read back bounded: a crafted database cannot flood the output
            let text = |i: usize| -> rusqlite::Result<Option<String>> {
                Ok(r.get::<_, Option<String>>(i)?
                    .map(|s| s.chars().take(200).collect()))
            };
            Ok((
                text(0)?.unwrap_or_default(),
                text(1)?.unwrap_or_default(),
                Fired {
                    period: r.get(2)?,
                    fired_ms: r.get(3)?,
                    value: r.get(4)?,
                    cleared_ms: r.get(5)?,
                    outcome: text(6)?,
                },
            ))
        },
    )?;
    rows.collect()
}

/// The line the journal gets when a rule fires.
fn fire_text(rule: &Rule, st: &Status, tz: &TimeZone) -> String {
    match rule.limit {
        Limit::Volume { period, .. } => format!(
            "{} {} this {} {} reached its quota of {} (since {})",
            rule.subject.text(),
            rule.direction.name(),
            period.name(),
            rule.value_text(st.value),
            rule.limit_text(),
            crate::output::local_text(st.start_ms, tz)
        ),
        Limit::Rate { minutes, .. } => format!(
            "{} {} averaged {} over the last {minutes} min, at or above {}",
            rule.subject.text(),
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
    conn: &Connection,
    rules: &[Rule],
    now_ms: i64,
    tz: &TimeZone,
) -> rusqlite::Result<(Vec<Firing>, Vec<Unevaluable>)> {
    // the recorder's evaluation and firing in one write transaction: what it read is what
    // it records as fired, whatever another recorder does meanwhile
    in_transaction(conn, "BEGIN IMMEDIATE", || {
        check_sample_in(conn, rules, now_ms, tz)
    })
}

fn check_sample_in(
    conn: &Connection,
    rules: &[Rule],
    now_ms: i64,
    tz: &TimeZone,
) -> rusqlite::Result<(Vec<Firing>, Vec<Unevaluable>)> {
    let statuses = evaluate(conn, rules, now_ms, tz)?;
    let host = crate::store::query::last_host(conn)?
        .map(|h| escape_bytes(&h.hostname))
        .unwrap_or_default();
    let mut fired = Vec::new();
    let mut broken = Vec::new();
    for (rule, st) in rules.iter().zip(statuses) {
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
                    conn.execute(
                        "UPDATE alert_fired SET cleared_ms = ?3 WHERE rule = ?1 AND period = ?2",
                        params![rule.name, f.period, now_ms],
                    )?;
                    None
                }
                Some(_) => None,
                None => Some(now_ms),
            },
        };
        let Some(period) = period.filter(|_| st.over) else {
            continue;
        };
        let text = fire_text(rule, &st, tz);
        let threshold = rule.threshold();
        let n = conn.execute(
            "INSERT OR IGNORE INTO alert_fired (rule, period, fired_ms, subject, value, threshold, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                rule.name,
                period,
                now_ms,
                rule.subject.text(),
                st.value,
                threshold,
                rule.command.is_empty().then_some("no command"),
            ],
        )?;
        if n == 1 {
            let mut st = st;
            st.last = Some(Fired {
                period,
                fired_ms: now_ms,
                value: st.value,
                cleared_ms: None,
                outcome: None,
            });
            fired.push(Firing {
                rule: rule.clone(),
                status: st,
                host: host.clone(),
                text,
                tz: tz.clone(),
            });
        }
    }
    Ok((fired, broken))
}

impl Firing {
    /// The JSON document the command reads on stdin.
    pub fn json(&self) -> serde_json::Value {
        let r = &self.rule;
        let (unit, limit, period, span) = match r.limit {
            Limit::Volume { bytes, period } => {
                ("bytes", bytes as f64, period.name().to_string(), None)
            }
            Limit::Rate {
                bits_per_s,
                minutes,
            } => (
                "bits_per_s",
                bits_per_s,
                format!("{minutes}min"),
                Some(minutes),
            ),
        };
        serde_json::json!({
            "rule": r.name,
            "host": self.host,
            "subject_kind": r.subject.kind(),
            "subject": r.subject.text(),
            "matched": self.status.matched.join(" "),
            "direction": r.direction.name(),
            "type": if span.is_some() { "rate" } else { "volume" },
            "period": period,
            "period_start": iso(self.status.start_ms, &self.tz),
            "period_end": iso(self.status.end_ms, &self.tz),
            "unit": unit,
            "value": self.status.value.round() as i64,
            "limit": limit.round() as i64,
            "fired_at": self.status.last.as_ref().map(|f| iso(f.fired_ms, &self.tz)),
            "text": self.text,
        })
    }

    /// The `NREC_ALERT_*` variables: the JSON's fields, flat.
    fn env(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if let serde_json::Value::Object(m) = self.json() {
            for (k, val) in m {
                let s = match val {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                v.push((format!("NREC_ALERT_{}", k.to_ascii_uppercase()), s));
            }
        }
        v
    }
}

/// Says on stderr (the journal, under systemd) what fired, then runs the rules' commands,
/// each in its own thread with its deadline; returns the threads (the daemon keeps
/// sampling; `record` joins them). Each command's outcome is stored with its firing.
pub fn notify(db: &Path, fired: Vec<Firing>) -> Vec<std::thread::JoinHandle<()>> {
    // In the journal an alert is a warning (`journalctl -p warning` shows it), not info.
    let warning = if crate::sys::stderr_is_journal() {
        "<4>"
    } else {
        ""
    };
    let mut threads = Vec::new();
    for f in fired {
        // Printed whatever -q says: an alert is what the rule was written to be told.
        eprintln!("{warning}nrec: alert {}: {}", f.rule.name, f.text);
        if f.rule.command.is_empty() {
            continue;
        }
        let db = db.to_path_buf();
        threads.push(std::thread::spawn(move || {
            let outcome = run_command(&f);
            if !outcome.starts_with("exit 0") {
                eprintln!(
                    "{warning}nrec: alert {}: command {}: {outcome}",
                    f.rule.name,
                    escape_bytes(f.rule.command[0].as_bytes())
                );
            }
            let period = f.status.last.as_ref().map_or(0, |l| l.period);
            let stored = crate::store::open_rw(&db).and_then(|c| {
                c.execute(
                    "UPDATE alert_fired SET outcome = ?3 WHERE rule = ?1 AND period = ?2",
                    params![f.rule.name, period, outcome],
                )
                .map_err(|e| Error::sqlite(&db, e))
            });
            if let Err(e) = stored {
                eprintln!("nrec: alert {}: outcome not stored: {e}", f.rule.name);
            }
        }));
    }
    threads
}

/// Runs the rule's command: argv as configured (no shell), the details in the environment
/// and as JSON on stdin, stdout and stderr to nrec's stderr (the journal), killed with its
/// process group at the deadline. Returns what happened, for `nrec alerts`.
fn run_command(f: &Firing) -> String {
    let argv = &f.rule.command;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(f.env())
        .env_remove("COMPLETE")
        .stdin(Stdio::piped())
        .stdout(stderr_or_null())
        .stderr(stderr_or_null())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return format!("not started: {e}"),
    };
    let pid = child.id() as libc::pid_t;
    let input = f.json().to_string() + "\n";
    // stdin is written by its own thread: a command that never reads must not hold us past
    // the deadline (a pipe holds 64 KiB; the document is far smaller, but never block).
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(input.as_bytes());
        }
    });
    let deadline = Instant::now() + f.rule.timeout;
    let res = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break match status.code() {
                    Some(c) => format!("exit {c}"),
                    None => format!("killed by signal {}", {
                        use std::os::unix::process::ExitStatusExt;
                        status.signal().unwrap_or(0)
                    }),
                };
            }
            Ok(None) if Instant::now() >= deadline => {
                // SAFETY: kill(2) on the process group we created for this child.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let _ = child.wait();
                break format!("killed after {} s (timeout)", f.rule.timeout.as_secs_f64());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break format!("wait failed: {e}"),
        }
    };
    // the group is gone, so its end of the pipe is closed and the writer has returned
    let _ = writer.join();
    res
}

fn stderr_or_null() -> Stdio {
    use std::os::fd::AsFd;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

/// The rules of the config, evaluated after a recorder's sample: prints what fired and
/// starts the commands; a rule that cannot be evaluated is returned as the config error.
pub fn after_sample(
    conn: &Connection,
    db: &Path,
    config: &Config,
    now_ms: i64,
) -> (Vec<std::thread::JoinHandle<()>>, Vec<Error>) {
    if config.alerts.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let tz = match crate::time::display_zone() {
        Ok(t) => t,
        Err(e) => return (Vec::new(), vec![e]),
    };
    match check_sample(conn, &config.alerts, now_ms, &tz) {
        Ok((fired, broken)) => (
            notify(db, fired),
            broken
                .iter()
                .map(|(r, why)| rule_error(config, r, why))
                .collect(),
        ),
        Err(e) => (Vec::new(), vec![Error::sqlite(db, e)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates_need_their_units() {
        assert_eq!(parse_size("100 GiB"), Ok(100 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("1.5TB"), Ok(1_500_000_000_000));
        assert_eq!(parse_size("500 MB"), Ok(500_000_000));
        assert!(parse_size("100").is_err());
        assert!(parse_size("100 G").is_err());
        assert!(parse_size("-5 GB").is_err());
        assert!(parse_size("0 B").is_err());
        assert_eq!(parse_rate("50 Mbit/s"), Ok(50e6));
        assert_eq!(parse_rate("10 MB/s"), Ok(80e6));
        assert!(parse_rate("10 MB").is_err());
        assert!(parse_rate("nan Mbit/s").is_err());
    }
}
