//! The config file: `--config PATH`, else `$NREC_CONFIG`, else `/etc/nrec/nrec.toml` when it
//! exists (no file: the defaults). TOML, parsed into typed settings once; an unknown key, a
//! wrong type or an impossible value is a usage error (exit 2) naming the file and the key.
//!
//! ```toml
//! month_start = 1    # the day a "month" begins (vnStat's MonthRotate): a billing cycle
//!
//! [aliases]          # names shown next to interfaces and taken wherever a name is
//! "eth0" = "uplink"
//! "lo@web" = "web loopback"
//!
//! [retention]
//! raw = "14d"        # one row per sample: sar-style reports at full resolution
//! hourly = "400d"    # rollups in 15-minute buckets (exact local days in every zone)
//! daily = "forever"  # rollups per UTC day
//!
//! [metrics]            # nrec serve and export --format openmetrics
//! processes = 50       # process series: the busiest of the last 24 h
//! by = "name"          # a process series is a name, a unit or a container
//! ports = 50           # service-port series: the busiest of the last 24 h
//! protocol = "default" # protocol counters: node_exporter's default set, or "all"
//! interfaces = ["eth0", "wg*"] # only these interfaces' series (names as `report -i`); default all
//!
//! [scopes]             # what counts as `lan` besides private, link-local and CGNAT space
//! lan = ["203.0.113.0/24", "2001:db8:1::/48"]  # a site's public range, a VPN's
//! ```

use nrec_model::error::{Error, Result};
use nrec_model::filter::IfaceFilter;
use nrec_model::names::Aliases;
use nrec_model::time::MonthStart;
pub use nrec_report::metrics::{Bounds as Metrics, ProcLabel as MetricsBy};
pub use nrec_store::prune::Retention;
use serde::Deserialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub const SYSTEM_CONFIG: &str = "/etc/nrec/nrec.toml";

/// The most `[[alert]]` rules a config may hold: every rule is evaluated after every sample.
pub const MAX_RULES: usize = 1000;

/// The longest retention in days short of "forever".
const MAX_DAYS: i64 = 1_000_000;

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file the settings came from (None: defaults, no file).
    pub path: Option<PathBuf>,
    pub retention: Retention,
    pub metrics: Metrics,
    /// Where a "month" begins (`month_start`, vnStat's MonthRotate): summaries, quotas and
    /// the metrics' month gauges.
    pub month_start: MonthStart,
    /// `[[alert]]` rules (quotas and rate alerts), in file order.
    pub alerts: Vec<crate::alerts::rules::Rule>,
    /// `[aliases]`: interface → the name people call it.
    pub aliases: Aliases,
    /// `[[remote_write]]` targets, in file order.
    pub remote_write: Vec<crate::remote::target::Target>,
    /// `[serve] web_config`: the exporter web configuration file `nrec serve` takes.
    pub web_config: Option<PathBuf>,
    /// `[scopes] lan`: networks counted as `lan` besides the built-in ranges
    /// (`nrec_model::scope`).
    pub lan: nrec_model::scope::Networks,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    month_start: Option<i64>,
    aliases: Option<std::collections::BTreeMap<String, String>>,
    retention: Option<RetentionFile>,
    metrics: Option<MetricsFile>,
    alert: Option<Vec<toml::Spanned<crate::alerts::rules::RuleFile>>>,
    remote_write: Option<Vec<toml::Spanned<crate::remote::target::TargetFile>>>,
    serve: Option<ServeFile>,
    scopes: Option<ScopesFile>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScopesFile {
    lan: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    web_config: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MetricsFile {
    processes: Option<usize>,
    by: Option<String>,
    ports: Option<usize>,
    protocol: Option<String>,
    interfaces: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    raw: Option<String>,
    hourly: Option<String>,
    daily: Option<String>,
}

impl Config {
    /// Loads the named config (`--config` / `NREC_CONFIG`, which must exist) or else the
    /// system default, which may be absent.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(SYSTEM_CONFIG), false),
        };
        let text = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(e) => {
                return Err(Error::usage(format!(
                    "config {}: cannot read: {e}",
                    path.display()
                )));
            }
        };
        let text = String::from_utf8(text)
            .map_err(|_| Error::usage(format!("config {}: not UTF-8 text", path.display())))?;
        Self::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let f: File = toml::from_str(text).map_err(|e| {
            // toml's message spans lines (with a caret excerpt); keep it on one line.
            let msg = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            Error::usage(format!("config {}: {msg}{at}", path.display()))
        })?;
        let r = f.retention.unwrap_or_default();
        let d = Retention::default();
        let days = |key: &str, v: Option<String>, def: Option<i64>| -> Result<Option<i64>> {
            match v {
                None => Ok(def),
                Some(s) => parse_days(&s).map_err(|why| {
                    Error::usage(format!(
                        "config {}: retention.{key} = {s:?}: {why}",
                        path.display()
                    ))
                }),
            }
        };
        let retention = Retention {
            raw_days: days("raw", r.raw, d.raw_days)?,
            hourly_days: days("hourly", r.hourly, d.hourly_days)?,
            daily_days: days("daily", r.daily, d.daily_days)?,
        };
        let longer = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => b >= a,
        };
        if !longer(retention.raw_days, retention.hourly_days)
            || !longer(retention.hourly_days, retention.daily_days)
        {
            return Err(Error::usage(format!(
                "config {}: retention must not shrink from raw to hourly to daily \
                 (a tier is rolled up from the one before it)",
                path.display()
            )));
        }
        let month_start = match f.month_start {
            None => MonthStart::default(),
            Some(d) => MonthStart::new(d).map_err(|why| {
                Error::usage(format!("config {}: month_start = {why}", path.display()))
            })?,
        };
        let aliases = Aliases::new(
            f.aliases
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map_err(|why| Error::usage(format!("config {}: aliases: {why}", path.display())))?;
        let m = f.metrics.unwrap_or_default();
        let dm = Metrics::default();
        let bad = |key: &str, v: &str, why: &str| {
            Error::usage(format!(
                "config {}: metrics.{key} = {v}: {why}",
                path.display()
            ))
        };
        let cap = |key: &str, v: Option<usize>, def: usize| match v {
            None => Ok(def),
            Some(n) if n <= 10_000 => Ok(n),
            Some(n) => Err(bad(key, &n.to_string(), "at most 10000 series")),
        };
        let mut metrics = Metrics {
            lan: Default::default(),
            month: month_start,
            ifaces: IfaceFilter::new(
                &m.interfaces
                    .unwrap_or_default()
                    .into_iter()
                    .map(OsString::from)
                    .collect::<Vec<_>>(),
                None,
                &aliases,
            ),
            processes: cap("processes", m.processes, dm.processes)?,
            ports: cap("ports", m.ports, dm.ports)?,
            by: match m.by.as_deref() {
                None | Some("name") => MetricsBy::Name,
                Some("unit") => MetricsBy::Unit,
                Some("container") => MetricsBy::Container,
                Some(v) => {
                    return Err(bad(
                        "by",
                        &format!("{v:?}"),
                        "expected name, unit or container",
                    ));
                }
            },
            all_protocol: match m.protocol.as_deref() {
                None | Some("default") => false,
                Some("all") => true,
                Some(v) => {
                    return Err(bad(
                        "protocol",
                        &format!("{v:?}"),
                        "expected default or all",
                    ));
                }
            },
        };
        let lan =
            nrec_model::scope::Networks::parse(&f.scopes.and_then(|s| s.lan).unwrap_or_default())
                .map_err(|why| {
                Error::usage(format!("config {}: [scopes] lan: {why}", path.display()))
            })?;
        metrics.lan = lan.clone();
        let rules = f.alert.unwrap_or_default();
        if rules.len() > MAX_RULES {
            return Err(Error::usage(format!(
                "config {}: {} [[alert]] rules; at most {MAX_RULES} (each is evaluated after every sample)",
                path.display(),
                rules.len()
            )));
        }
        // a rule's line from where each line starts (counting newlines per rule was
        // quadratic in the file: 10 000 rules took 2.4 s of every command)
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let line_of = |at: usize| starts.partition_point(|s| *s <= at);
        let mut names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut alerts: Vec<crate::alerts::rules::Rule> = Vec::with_capacity(rules.len());
        for a in rules {
            let line = line_of(a.span().start.min(text.len()));
            let name = format!("{:?}", a.get_ref().name);
            let rule = crate::alerts::rules::Rule::from_file(
                a.into_inner(),
                line,
                month_start,
                &aliases,
                &lan,
            )
            .map_err(|why| {
                Error::usage(format!(
                    "config {}: alert {name} (line {line}): {why}",
                    path.display()
                ))
            })?;
            if let Some(first) = names.insert(rule.name.clone(), rule.line) {
                return Err(Error::usage(format!(
                    "config {}: alert {name} (line {line}): the name is already the rule of line {first}",
                    path.display(),
                )));
            }
            alerts.push(rule);
        }
        let remote_write =
            crate::remote::target::targets(f.remote_write.unwrap_or_default(), &line_of, path)?;
        Ok(Config {
            lan,
            remote_write,
            web_config: f.serve.and_then(|s| s.web_config),
            path: Some(path.to_path_buf()),
            retention,
            metrics,
            month_start,
            alerts,
            aliases,
        })
    }
}

/// "14d", "2w", "400d" or "forever" → whole days (None = forever).
fn parse_days(s: &str) -> std::result::Result<Option<i64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| "expected a number of days or weeks (\"14d\", \"2w\") or \"forever\"")?;
    let days = match unit.trim() {
        "d" | "day" | "days" => n,
        "w" | "week" | "weeks" => n.saturating_mul(7),
        _ => {
            return Err(
                "expected a number of days or weeks (\"14d\", \"2w\") or \"forever\"".into(),
            );
        }
    };
    if days < 1 {
        return Err("must be at least 1 day".into());
    }
    if days > MAX_DAYS {
        return Err(format!(
            "at most {MAX_DAYS} days (about 2 700 years); \"forever\" keeps everything"
        ));
    }
    Ok(Some(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config> {
        Config::parse(t, Path::new("t.toml"))
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(parse("").unwrap().retention, Retention::default());
        let c = parse("[retention]\nraw = \"2w\"\nhourly = \"30d\"\ndaily = \"3650d\"\n").unwrap();
        assert_eq!(
            c.retention,
            Retention {
                raw_days: Some(14),
                hourly_days: Some(30),
                daily_days: Some(3650)
            }
        );
    }

    #[test]
    fn errors_name_the_file_and_key_on_one_line() {
        for (text, want) in [
            ("[retention]\nraww = \"1d\"\n", "unknown field `raww`"),
            ("[retain]\n", "unknown field `retain`"),
            ("[retention]\nraw = 14\n", "invalid type"),
            ("[retention]\nraw = \"14x\"\n", "retention.raw = \"14x\""),
            ("[retention]\nraw = \"0d\"\n", "at least 1 day"),
            ("[retention]\nraw = \"10000000d\"\n", "at most 1000000 days"),
            (
                "[retention]\nraw = \"30d\"\nhourly = \"7d\"\n",
                "must not shrink",
            ),
            ("[retention\n", "t.toml"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.contains("t.toml"), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    /// Issue 32 item 13: rules are checked in one pass (a line index, a name set), up to a
    /// documented cap; a repeated name says the line of the first.
    #[test]
    fn alert_rules_are_capped_and_named_once() {
        let rules = |n: usize| -> String {
            (0..n)
                .map(|i| {
                    format!(
                        "[[alert]]\nname = \"r{i}\"\ninterface = \"eth0\"\nvolume = \"1 TB\"\nperiod = \"day\"\n\n"
                    )
                })
                .collect()
        };
        let c = parse(&rules(MAX_RULES)).unwrap();
        assert_eq!(c.alerts.len(), MAX_RULES);
        // each rule's line is where its table starts
        assert_eq!(c.alerts[0].line, 1);
        assert_eq!(c.alerts[MAX_RULES - 1].line, 6 * (MAX_RULES - 1) + 1);
        let e = parse(&rules(MAX_RULES + 1)).unwrap_err().to_string();
        assert!(e.contains("at most 1000"), "{e}");
        let dup = format!("{}{}", rules(3), rules(1));
        let e = parse(&dup).unwrap_err().to_string();
        assert!(
            e.contains("alert \"r0\" (line 19)") && e.contains("the rule of line 1"),
            "{e}"
        );
    }
}
