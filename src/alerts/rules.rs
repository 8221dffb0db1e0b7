//! An alert rule: one `[[alert]]` table of nrec.toml, checked into a typed [`Rule`] (its
//! subject, direction, limit, command and deadline), with the sizes and rates it is written in.

use nrec_model::filter::IfaceFilter;
use nrec_model::limit;
use nrec_model::names::{Aliases, escape_bytes};
use nrec_model::scope::{Networks, Scope};
use nrec_model::time::MonthStart;
use nrec_report::output::units::{bits_per_s, bytes as size};
use serde::Deserialize;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An interface as the reports name it (`eth0`, `lo@NETNS`), its alias, or a shell
    /// pattern (`veth*`), as written and as the filter that matches it.
    Interface(OsString, IfaceFilter),
    /// Every process with this name (comm).
    Process(Vec<u8>),
    /// Every process of this systemd unit.
    Unit(String),
    /// Every process of this container: its name (as `top-procs --by container` prints it)
    /// or its id.
    Container(String),
    /// A service port (TCP, all processes).
    Port(u16),
    /// Every process (a rule with only a `scope`: the host's traffic with that scope's hosts).
    Processes,
}

impl Subject {
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Interface(..) => "interface",
            Subject::Process(_) => "process",
            Subject::Unit(_) => "unit",
            Subject::Container(_) => "container",
            Subject::Port(_) => "port",
            Subject::Processes => "processes",
        }
    }
    /// The subject as printed (escaped: names are untrusted bytes).
    pub fn text(&self) -> String {
        match self {
            Subject::Interface(s, _) => escape_bytes(s.as_bytes()),
            Subject::Process(s) => escape_bytes(s),
            Subject::Unit(s) | Subject::Container(s) => escape_bytes(s.as_bytes()),
            Subject::Port(p) => p.to_string(),
            Subject::Processes => "every process".to_string(),
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
    pub(super) fn pick(self, rx: u64, tx: u64) -> u64 {
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
    /// Where its "month" begins (its own `month_start`, else the config's).
    pub month: MonthStart,
    /// `warn = ["80%", "90%"]`: levels of a volume limit (percent, ascending) that each fire
    /// once per period before the limit does.
    pub warn: Vec<u8>,
    /// `run_as`: the user a command runs as when nrec runs as root (None: `nrec` where that
    /// user exists, else `nobody`; `root` only when written).
    pub run_as: Option<String>,
    /// `scope`: only the subject's bytes with hosts of this scope count (`internet`: what
    /// crossed the uplink), hosts classed with the config's `[scopes] lan`.
    pub scope: Option<(Scope, Networks)>,
}

/// At most this many matched interface names are listed with a firing.
pub(super) const MATCHED_CAP: usize = 50;

/// The longest a rule's command may run (the timer's next sample is a minute away).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(50);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `[[alert]]` table as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
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
    run_as: Option<String>,
    timeout: Option<String>,
    month_start: Option<i64>,
    warn: Option<Vec<String>>,
    scope: Option<String>,
}

impl Rule {
    /// What the rule counts, as printed: its subject, and the scope of the hosts it counts
    /// the subject's bytes with (`every process with internet hosts`).
    pub fn subject_text(&self) -> String {
        match &self.scope {
            Some((sc, _)) => format!("{} with {} hosts", self.subject.text(), sc.name()),
            None => self.subject.text(),
        }
    }

    /// Checks one `[[alert]]` table; `Err` is the reason, without the file and line.
    pub(crate) fn from_file(
        f: RuleFile,
        line: usize,
        month: MonthStart,
        aliases: &Aliases,
        lan: &Networks,
    ) -> std::result::Result<Rule, String> {
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
            if i.is_empty() || i.len() > limit::IFNAME + 1 + limit::NETNS {
                return Err(format!("interface {i:?}: not an interface name"));
            }
            let pat = OsString::from(i);
            let filter = IfaceFilter::new(std::slice::from_ref(&pat), None, aliases);
            subjects.push(Subject::Interface(pat, filter));
        }
        if let Some(p) = f.process {
            if p.is_empty() || p.len() > limit::COMM {
                return Err(format!(
                    "process {p:?}: a process name (comm) is 1 to {} bytes",
                    limit::COMM
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
        let scope = match f.scope.as_deref() {
            None => None,
            Some(sc) => Some(
                Scope::ALL
                    .into_iter()
                    .find(|s| s.name() == sc)
                    .ok_or_else(|| format!("scope {sc:?}: expected loopback, lan or internet"))?,
            ),
        };
        if scope.is_some() && subjects.is_empty() {
            subjects.push(Subject::Processes);
        }
        if subjects.len() != 1 {
            return Err(match scope {
                Some(_) => "name at most one of process, unit or container with scope (none: every process)",
                None => "name exactly one of interface, process, unit, container or port",
            }
            .into());
        }
        let subject = subjects.remove(0);
        if scope.is_some() && matches!(subject, Subject::Interface(..) | Subject::Port(_)) {
            return Err(format!(
                "scope splits process traffic by remote host: it goes with process, unit, container or nothing (every process), not {}",
                subject.kind()
            ));
        }
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
        let month = match f.month_start {
            None => month,
            Some(_)
                if !matches!(
                    limit,
                    Limit::Volume {
                        period: Period::Month,
                        ..
                    }
                ) =>
            {
                return Err("month_start goes with period = \"month\"".into());
            }
            Some(d) => MonthStart::new(d).map_err(|why| format!("month_start = {why}"))?,
        };
        let mut warn = Vec::new();
        for w in f.warn.unwrap_or_default() {
            if !matches!(limit, Limit::Volume { .. }) {
                return Err("warn goes with volume (levels of a quota)".into());
            }
            let level = w
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<u8>().ok())
                .filter(|n| (1..=99).contains(n))
                .ok_or_else(|| format!("warn {w:?}: a level below the quota, \"1%\" to \"99%\""))?;
            warn.push(level);
        }
        warn.sort_unstable();
        warn.dedup();
        let command: Vec<OsString> = f
            .command
            .unwrap_or_default()
            .into_iter()
            .map(OsString::from)
            .collect();
        if command.first().is_some_and(|c| c.is_empty()) {
            return Err("command: the program (its first word) is empty".into());
        }
        if let Some(u) = &f.run_as {
            let valid = !u.is_empty()
                && u.len() <= 32
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid {
                return Err(format!("run_as {u:?}: a user name"));
            }
        }
        let timeout = match f.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => {
                let ms = nrec_model::time::parse_interval("timeout", &t).map_err(|e| e.msg)?;
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
            month,
            warn,
            name,
            line,
            subject,
            direction,
            limit,
            command,
            timeout,
            run_as: f.run_as,
            scope: scope.map(|sc| (sc, lan.clone())),
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
    /// What a warning level's firings are stored under: the rule's name and the level (a
    /// name cannot hold '@').
    pub fn level_key(&self, level: u8) -> String {
        format!("{}@{level}%", self.name)
    }

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
