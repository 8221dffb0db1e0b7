//! `nrec alerts [--check]`: the `[[alert]]` rules of the config file, each with its current
//! value (this period's volume, or the rate over its last minutes), how close it is to its
//! limit, and what it last fired; `--check` is the probe for cron and monitoring (exit 1
//! while a rule is over its limit, one `OVER:` line per rule).

use crate::alerts::rules::Limit;
use crate::alerts::{self, Rule, Status};
use crate::cli::{AlertsArgs, Format};
use crate::clock::{Clock, display_zone};
use crate::cmd::Global;
use crate::config::Config;
use nrec_model::error::{Error, Result};
use nrec_report::output::{Cell, Rows, local_text, write_error};
use nrec_store::Reader;
use std::io::Write;

pub fn run(args: &AlertsArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let config = Config::load(g.config.as_deref())?;
    let clock = Clock::from_env()?;
    let tz = display_zone()?;
    let now_ms = clock.now().as_millisecond();
    let mut r = Reader::open(&g.db_read_path())?;
    let rules = &config.alerts;
    if args.history {
        return history(args, rules, &r, &tz, out);
    }
    if rules.is_empty() {
        let file = config.path.as_deref().map_or_else(
            || crate::config::SYSTEM_CONFIG.into(),
            |p| p.display().to_string(),
        );
        if !g.quiet {
            eprintln!(
                "nrec: no [[alert]] rules in {file}; see `man nrec.toml` (ALERTS AND QUOTAS)"
            );
        }
    }
    let statuses = alerts::evaluate(&mut r, rules, now_ms, &tz)?;
    // A rule that cannot be evaluated is a config error naming its line (exit 2).
    let mut statuses_ok = Vec::with_capacity(rules.len());
    for (rule, st) in rules.iter().zip(statuses) {
        match st {
            Ok(s) => statuses_ok.push(s),
            Err(why) => return Err(alerts::rule_error(&config, rule, &why)),
        }
    }
    let pairs: Vec<(&Rule, &Status)> = rules.iter().zip(&statuses_ok).collect();

    if args.check {
        let over: Vec<&(&Rule, &Status)> = pairs.iter().filter(|(_, s)| s.over).collect();
        let io = write_error;
        if over.is_empty() {
            if !g.quiet {
                writeln!(out, "OK: {} rule(s), none over its limit", rules.len()).map_err(io)?;
            }
            return Ok(());
        }
        for (r, s) in &over {
            writeln!(
                out,
                "OVER: {}: {} is {} of {} ({:.1}%)",
                r.name,
                r.describe(),
                r.value_text(s.value),
                r.limit_text(),
                percent(r, s)
            )
            .map_err(io)?;
        }
        return Err(Error::failure(format!(
            "{} of {} alert rule(s) over the limit",
            over.len(),
            rules.len()
        )));
    }

    let mut o = super::output(out, args.format, "alerts", &r, None, &tz)?;
    if args.format != Format::Table {
        let mut rows = Rows::new(&[
            "rule",
            "subject_kind",
            "subject",
            "direction",
            "type",
            "period",
            "period_start",
            "period_end",
            "unit",
            "value",
            "limit",
            "percent",
            "over",
            "warned",
            "last_fired",
            "last_fired_value",
            "last_cleared",
            "last_outcome",
        ]);
        for (r, s) in &pairs {
            let (kind, period, unit, lim) = match r.limit {
                Limit::Volume { bytes, period } => {
                    ("volume", period.name().to_string(), "bytes", bytes as f64)
                }
                Limit::Rate {
                    bits_per_s,
                    minutes,
                } => ("rate", format!("{minutes}min"), "bits_per_s", bits_per_s),
            };
            let last = s.last.as_ref();
            rows.push(vec![
                Cell::text(r.name.as_str()),
                Cell::text(r.subject.kind()),
                Cell::text(r.subject_text()),
                Cell::text(r.direction.name()),
                Cell::text(kind),
                Cell::text(period),
                Cell::Time(s.start_ms),
                Cell::Time(s.end_ms),
                Cell::text(unit),
                num(s.value),
                num(lim),
                Cell::Num(percent(r, s), 1),
                Cell::Bool(s.over),
                s.warned.map_or(Cell::Null, |l| Cell::text(format!("{l}%"))),
                last.map_or(Cell::Null, |f| Cell::Time(f.fired_ms)),
                last.map_or(Cell::Null, |f| num(f.value)),
                last.and_then(|f| f.cleared_ms)
                    .map_or(Cell::Null, Cell::Time),
                last.and_then(|f| f.outcome.clone())
                    .map_or(Cell::Null, Cell::text),
            ]);
        }
        return o.rows(&rows, serde_json::Map::new()).map_err(write_error);
    }
    let out = o.text();
    let nw =
        nrec_report::output::column_width(8, pairs.iter().map(|(r, _)| r.name.chars().count()));
    let ww = nrec_report::output::column_width(
        12,
        pairs.iter().map(|(r, _)| r.describe().chars().count()),
    );
    (|| {
        writeln!(
            out,
            "{:<nw$} {:<ww$} {:>13} {:>13} {:>7} {:<5} LAST FIRED",
            "RULE", "WATCHES", "NOW", "LIMIT", "USED", "STATE"
        )?;
        for (r, s) in &pairs {
            let state = if s.over {
                "OVER".to_string()
            } else if let Some(l) = s.warned {
                format!("≥{l}%")
            } else if matches!(r.limit, Limit::Rate { .. }) && !s.covered {
                "-".into()
            } else {
                "ok".into()
            };
            let last = match &s.last {
                None => "never".to_string(),
                Some(f) => format!(
                    "{}{}{}",
                    local_text(f.fired_ms, &tz),
                    f.outcome
                        .as_deref()
                        .map(|o| format!(" ({})", nrec_model::names::escape_text(o)))
                        .unwrap_or_default(),
                    f.cleared_ms
                        .map(|c| format!(", cleared {}", local_text(c, &tz)))
                        .unwrap_or_default()
                ),
            };
            writeln!(
                out,
                "{:<nw$} {:<ww$} {:>13} {:>13} {:>6.1}% {:<5} {last}",
                r.name,
                r.describe(),
                r.value_text(s.value),
                r.limit_text(),
                percent(r, s),
                state
            )?;
        }
        Ok(())
    })()
    .map_err(write_error)
}

/// `--history`: every stored firing, newest first.
fn history(
    args: &AlertsArgs,
    rules: &[Rule],
    r: &Reader,
    tz: &jiff::tz::TimeZone,
    out: &mut dyn Write,
) -> Result<()> {
    let fired = r.firings(None, 1000)?;
    let mut o = super::output(out, args.format, "alerts", r, None, tz)?;
    if args.format != Format::Table {
        let mut rows = Rows::new(&[
            "rule", "level", "subject", "period", "fired", "value", "cleared", "outcome",
        ]);
        for (key, subject, f) in &fired {
            let (rule, level) = split_level(key);
            rows.push(vec![
                Cell::text(rule),
                Cell::text(level),
                Cell::text(subject.as_str()),
                Cell::Time(f.period),
                Cell::Time(f.fired_ms),
                num(f.value),
                f.cleared_ms.map_or(Cell::Null, Cell::Time),
                f.outcome.clone().map_or(Cell::Null, Cell::text),
            ]);
        }
        return o.rows(&rows, serde_json::Map::new()).map_err(write_error);
    }
    let out = o.text();
    let esc = nrec_model::names::escape_text;
    (|| {
        writeln!(
            out,
            "{:<19} {:<16} {:<24} {:>16} OUTCOME",
            "FIRED", "RULE", "SUBJECT", "VALUE"
        )?;
        for (key, subject, f) in &fired {
            let (rule, level) = split_level(key);
            writeln!(
                out,
                "{:<19} {:<16} {:<24} {:>16} {}{}",
                local_text(f.fired_ms, tz),
                esc(&if level == "100%" {
                    rule.to_string()
                } else {
                    format!("{rule} {level}")
                }),
                esc(subject),
                // in the rule's unit while the config still has it; a bare number otherwise
                rules
                    .iter()
                    .find(|r| r.name == rule)
                    .map_or_else(|| format!("{:.0}", f.value), |r| r.value_text(f.value)),
                f.outcome.as_deref().map(esc).unwrap_or_default(),
                f.cleared_ms
                    .map(|c| format!(" (cleared {})", local_text(c, tz)))
                    .unwrap_or_default()
            )?;
        }
        Ok(())
    })()
    .map_err(write_error)
}

/// A stored firing's rule and level: `cycle@80%` is rule cycle's 80 % warning (a rule's name
/// holds no '@'), `cycle` its limit (100 %).
fn split_level(key: &str) -> (&str, &str) {
    match key.rsplit_once('@') {
        Some((rule, level)) if level.ends_with('%') => (rule, level),
        _ => (key, "100%"),
    }
}

/// Bytes and bits per second, as whole numbers.
fn num(v: f64) -> Cell {
    Cell::Int(v.round() as i128)
}

fn percent(r: &Rule, s: &Status) -> f64 {
    s.value * 100.0 / r.threshold()
}
