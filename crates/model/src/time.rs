//! Windows and instants.
//!
//! Raw arguments (`--today`, `--yesterday`, `--date`, `--since`, `--until`) are resolved once
//! into a validated [`Window`] of UTC instants; day boundaries come from the tz database via
//! jiff so that DST days are 23 or 25 hours long and a midnight that does not exist resolves
//! to the first valid instant (ARCHITECTURE.md §5).
//!
//! A sample taken at `ts` closes the interval `(ts − elapsed, ts]`; it belongs to the window,
//! the day and the quarter hour that hold its end ([`instant`]), everywhere: rollup keys, the
//! window engine, the report readers, export and retention (ARCHITECTURE.md §4 "Windows").

use crate::error::{Error, Result};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};

/// A UTC day in milliseconds: rollups are per UTC day.
pub const DAY_MS: i64 = 86_400_000;
/// A quarter hour: the rollups' buckets. Every zone in the tz database is a whole number of
/// quarter hours from UTC, so a local day (also +05:30, +05:45) is a whole number of them.
pub const QUARTER_MS: i64 = 900_000;
/// Quarter hours in a UTC day.
pub const QUARTERS: usize = 96;

/// Where a sample falls in days, quarter hours and windows: the last millisecond of its
/// interval. A sample taken at `ts` covers `(ts - elapsed, ts]`, so one taken exactly at
/// midnight closes the day before and belongs to it.
pub fn instant(ts_ms: i64) -> i64 {
    ts_ms.saturating_sub(1)
}

/// Round lengths of time (ms), shortest first: the pictures' bucket lengths and time-axis
/// steps, so buckets and ticks fall on the same marks.
pub const ROUND_STEPS_MS: [i64; 13] = {
    const MIN: i64 = 60_000;
    [
        MIN,
        5 * MIN,
        15 * MIN,
        30 * MIN,
        60 * MIN,
        2 * 60 * MIN,
        3 * 60 * MIN,
        6 * 60 * MIN,
        12 * 60 * MIN,
        24 * 60 * MIN,
        2 * 24 * 60 * MIN,
        7 * 24 * 60 * MIN,
        28 * 24 * 60 * MIN,
    ]
};

/// A half-open interval `[start, end)` of UTC instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
    /// How the window was asked for, for headings ("today", "2026-11-22", "since 7d").
    pub label: String,
}

impl Window {
    pub fn start_ms(&self) -> i64 {
        self.start.as_millisecond()
    }
    pub fn end_ms(&self) -> i64 {
        self.end.as_millisecond()
    }
}

/// The window options as the user gave them.
#[derive(Debug, Clone, Default)]
pub struct WindowArgs {
    pub today: bool,
    pub yesterday: bool,
    pub date: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// sar's -s / -e: times of day within a day window.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

impl WindowArgs {
    /// Resolves the options against `now` in `tz`. `default_since` is used when no option is
    /// given (None means "today").
    pub fn resolve(
        &self,
        now: Timestamp,
        tz: &TimeZone,
        default_since: Option<&str>,
    ) -> Result<Window> {
        let now_z = now.to_zoned(tz.clone());
        let picked = [
            self.today,
            self.yesterday,
            self.date.is_some(),
            self.since.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if picked > 1 {
            return Err(Error::usage(
                "choose one of --today, --yesterday, --date and --since",
            ));
        }
        if self.until.is_some() && (self.today || self.yesterday || self.date.is_some()) {
            return Err(Error::usage(
                "--until goes with --since (or alone), not with --today, --yesterday or --date",
            ));
        }
        let day_window = self.today
            || self.yesterday
            || self.date.is_some()
            || (self.since.is_none() && self.until.is_none() && default_since.is_none());
        if (self.start_time.is_some() || self.end_time.is_some()) && !day_window {
            return Err(Error::usage(
                "-s/--start-time and -e/--end-time are times of day within a day: use them with \
                 --today, --yesterday or --date (or --since/--until for any other window)",
            ));
        }
        let (s_opt, e_opt) = (self.start_time.as_deref(), self.end_time.as_deref());
        let day = |d: Date, label: String| -> Result<Window> {
            let mut start = day_start(d, tz)?;
            let next = d
                .tomorrow()
                .map_err(|e| Error::usage(format!("date {d}: {e}")))?;
            let mut end = day_start(next, tz)?;
            if let Some(s) = s_opt {
                start = start.max(time_of_day("-s", s, d, tz)?);
            }
            if let Some(e) = e_opt {
                end = end.min(time_of_day("-e", e, d, tz)?);
            }
            if start >= end {
                return Err(Error::usage(format!(
                    "the window is empty: -s {} is not before -e {}",
                    s_opt.unwrap_or("00:00:00"),
                    e_opt.unwrap_or("24:00:00")
                )));
            }
            Ok(Window { start, end, label })
        };
        if self.yesterday {
            let d = now_z
                .date()
                .yesterday()
                .map_err(|e| Error::usage(format!("--yesterday: {e}")))?;
            return day(d, format!("yesterday ({d})"));
        }
        if let Some(s) = &self.date {
            let d: Date = s.parse().map_err(|_| {
                Error::usage(format!(
                    "--date {s:?}: not a valid date; expected YYYY-MM-DD, e.g. 2026-11-22"
                ))
            })?;
            return day(d, d.to_string());
        }
        if self.since.is_none() && self.until.is_none() && default_since.is_none() {
            let d = now_z.date();
            return day(d, format!("today ({d})"));
        }
        if self.today {
            let d = now_z.date();
            return day(d, format!("today ({d})"));
        }
        let end = match &self.until {
            Some(u) => parse_point("--until", u, &now_z, tz)?,
            None => now,
        };
        let (start, label) = match (&self.since, default_since) {
            (Some(s), _) => (parse_point("--since", s, &now_z, tz)?, format!("since {s}")),
            (None, Some(d)) => (parse_point("--since", d, &now_z, tz)?, format!("since {d}")),
            (None, None) => (day_start(now_z.date(), tz)?, "today".to_string()),
        };
        if start >= end {
            let at = |t: Timestamp| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S %Z");
            return Err(Error::usage(format!(
                "the window is empty: start {} is not before end {}",
                at(start),
                at(end)
            )));
        }
        Ok(Window { start, end, label })
    }
}

/// The first instant of local date `d` in `tz` (a non-existent midnight resolves forward).
pub fn day_start(d: Date, tz: &TimeZone) -> Result<Timestamp> {
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| Error::usage(format!("date {d}: {e}")))
}

/// `HH:MM[:SS]` on local date `d` (sar's -s/-e).
fn time_of_day(opt: &str, s: &str, d: Date, tz: &TimeZone) -> Result<Timestamp> {
    let t: jiff::civil::Time = s.trim().parse().map_err(|_| {
        Error::usage(format!(
            "{opt} {s:?}: not a time of day; use HH:MM or HH:MM:SS, e.g. 08:30"
        ))
    })?;
    d.to_datetime(t)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| Error::usage(format!("{opt} {s:?}: {e}")))
}

/// The first instant of the local date that `t` falls on.
pub fn local_midnight(t: Timestamp, tz: &TimeZone) -> Timestamp {
    day_start(t.to_zoned(tz.clone()).date(), tz).unwrap_or(t)
}

/// Parses a positive span ("7d", "36h", "90m") into a [`Span`].
pub(crate) fn parse_span(opt: &str, s: &str) -> Result<Span> {
    parse_span_or(
        opt,
        s,
        "not a span or date/time; use e.g. 7d, 36h, 90m, 2026-11-22 or 2026-11-22T08:00",
    )
}

/// [`parse_span`] with the hint a bad value gets (an option that takes only spans does not
/// suggest dates).
fn parse_span_or(opt: &str, s: &str, hint: &str) -> Result<Span> {
    let bad = || Error::usage(format!("{opt} {s:?}: {hint}"));
    let t = s.trim();
    if t.is_empty() || t.starts_with('-') || t.starts_with('+') {
        return Err(bad());
    }
    // A bare number has no unit: refuse rather than guess.
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let span: Span = t.parse().map_err(|_| bad())?;
    if span.is_negative() || span.is_zero() {
        return Err(Error::usage(format!(
            "{opt} {s:?}: the span must be positive"
        )));
    }
    Ok(span)
}

/// A point in time: a span back from now, a date (local midnight), or a local date-time,
/// or an RFC 3339 instant.
fn parse_point(opt: &str, s: &str, now: &Zoned, tz: &TimeZone) -> Result<Timestamp> {
    let t = s.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    // A date-time first: jiff's Date parser would accept "2026-11-22T12:00" and drop the time.
    if t.contains(['T', ' ']) {
        if let Ok(dt) = t.parse::<DateTime>() {
            return dt
                .to_zoned(tz.clone())
                .map(|z| z.timestamp())
                .map_err(|e| Error::usage(format!("{opt} {s:?}: {e}")));
        }
    }
    if let Ok(d) = t.parse::<Date>() {
        return day_start(d, tz);
    }
    let span = parse_span(opt, t)?;
    now.checked_sub(span)
        .map(|z| z.timestamp())
        .map_err(|e| Error::usage(format!("{opt} {s:?}: {e}")))
}

/// Parses a resampling interval such as "10m" into whole milliseconds (fixed units only).
pub fn parse_interval(opt: &str, s: &str) -> Result<i64> {
    let span = parse_span_or(opt, s, "not a span; use e.g. 30s, 10m, 1h or 6h")?;
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| Error::usage(format!("{opt} {s:?}: {e}")))?;
    let ms = d.as_millis();
    if ms < 1000 {
        return Err(Error::usage(format!("{opt} {s:?}: at least 1s")));
    }
    i64::try_from(ms).map_err(|_| Error::usage(format!("{opt} {s:?}: too large")))
}

/// Where a month begins: the billing cycle of vnStat's `MonthRotate` — a "month" runs from
/// day `start` of one calendar month to the day before it in the next, a start day past a
/// month's end being that month's last day (31 → 28 Feb, 29 in a leap year). 1 is the
/// calendar month. Every "month" of nrec (summaries, quotas, the metrics' month gauges) is
/// one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthStart(u8);

impl Default for MonthStart {
    fn default() -> Self {
        MonthStart(1)
    }
}

impl MonthStart {
    /// Day `day` of the month, 1 to 31.
    pub fn new(day: i64) -> std::result::Result<MonthStart, String> {
        u8::try_from(day)
            .ok()
            .filter(|d| (1..=31).contains(d))
            .map(MonthStart)
            .ok_or_else(|| format!("{day}: a day of the month, 1 to 31"))
    }

    /// The day of the month it was set to.
    pub fn day(self) -> u8 {
        self.0
    }

    /// The calendar month's cycle start: its day `start`, or its last day.
    fn in_month(self, year: i16, month: i8) -> Date {
        let first = Date::new(year, month, 1).unwrap_or(Date::MIN);
        let day = i8::try_from(self.0).unwrap_or(1).min(first.days_in_month());
        Date::new(year, month, day).unwrap_or(first)
    }

    /// The first day of the cycle `d` falls in.
    pub fn cycle_of(self, d: Date) -> Date {
        let here = self.in_month(d.year(), d.month());
        if d >= here {
            return here;
        }
        let prev = d.first_of_month().yesterday().unwrap_or(Date::MIN);
        self.in_month(prev.year(), prev.month())
    }

    /// The first day of the cycle after the one that begins on `start`.
    pub fn next(self, start: Date) -> Date {
        let later = start
            .first_of_month()
            .checked_add(jiff::Span::new().months(1))
            .unwrap_or(Date::MAX);
        self.in_month(later.year(), later.month())
    }

    /// The first day of the cycle before the one that begins on `start`.
    pub fn previous(self, start: Date) -> Date {
        let earlier = start
            .first_of_month()
            .checked_sub(jiff::Span::new().months(1))
            .unwrap_or(Date::MIN);
        self.in_month(earlier.year(), earlier.month())
    }

    /// A cycle as rows name it: `2026-11` for calendar months, else its first and last day
    /// (`2026-11-15..2026-12-14`).
    pub fn label(self, start: Date) -> String {
        if self.0 == 1 {
            start.strftime("%Y-%m").to_string()
        } else {
            let last = self.next(start).yesterday().unwrap_or(start);
            format!("{start}..{last}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(args: WindowArgs, now: &str, tz: &str) -> Result<Window> {
        let tz = TimeZone::get(tz).unwrap();
        args.resolve(now.parse().unwrap(), &tz, None)
    }

    fn yesterday() -> WindowArgs {
        WindowArgs {
            yesterday: true,
            ..Default::default()
        }
    }

    #[test]
    fn berlin_spring_forward_day_is_23_hours() {
        let w = win(yesterday(), "2026-03-30T10:00:00Z", "Europe/Berlin").unwrap();
        assert_eq!(w.start.to_string(), "2026-03-28T23:00:00Z");
        assert_eq!(w.end.to_string(), "2026-03-29T22:00:00Z");
        assert_eq!(w.end_ms() - w.start_ms(), 23 * 3_600_000);
    }

    #[test]
    fn berlin_fall_back_day_is_25_hours() {
        let w = win(yesterday(), "2026-10-26T10:00:00Z", "Europe/Berlin").unwrap();
        assert_eq!(w.start.to_string(), "2026-10-24T22:00:00Z");
        assert_eq!(w.end.to_string(), "2026-10-25T23:00:00Z");
        assert_eq!(w.end_ms() - w.start_ms(), 25 * 3_600_000);
    }

    #[test]
    fn santiago_missing_midnight_starts_at_first_valid_instant() {
        // Chile springs forward at 00:00 local on 2026-09-06: that midnight does not exist,
        // the day begins at 01:00 -03 = 04:00Z.
        let w = win(yesterday(), "2026-09-07T15:00:00Z", "America/Santiago").unwrap();
        assert_eq!(w.start.to_string(), "2026-09-06T04:00:00Z");
        assert_eq!(w.end.to_string(), "2026-09-07T03:00:00Z");
        assert_eq!(w.end_ms() - w.start_ms(), 23 * 3_600_000);
    }

    #[test]
    fn kolkata_half_hour_offset() {
        let w = win(yesterday(), "2026-11-23T00:00:00Z", "Asia/Kolkata").unwrap();
        assert_eq!(w.start.to_string(), "2026-11-21T18:30:00Z");
        assert_eq!(w.end.to_string(), "2026-11-22T18:30:00Z");
    }

    #[test]
    fn since_span_and_until() {
        let a = WindowArgs {
            since: Some("36h".into()),
            until: Some("2026-11-22T12:00".into()),
            ..Default::default()
        };
        let w = win(a, "2026-11-23T00:00:00Z", "UTC").unwrap();
        assert_eq!(w.start.to_string(), "2026-11-21T12:00:00Z");
        assert_eq!(w.end.to_string(), "2026-11-22T12:00:00Z");
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for bad in ["7x", "-7d", "0d", "", "17", "P"] {
            let a = WindowArgs {
                since: Some(bad.into()),
                ..Default::default()
            };
            let e = win(a, "2026-11-23T00:00:00Z", "UTC").unwrap_err();
            assert_eq!(e.exit, crate::error::Exit::Usage, "{bad}");
        }
        let a = WindowArgs {
            date: Some("2026-02-30".into()),
            ..Default::default()
        };
        assert!(
            win(a, "2026-11-23T00:00:00Z", "UTC")
                .unwrap_err()
                .msg
                .contains("2026-02-30")
        );
        assert!(parse_interval("--interval", "10m").unwrap() == 600_000);
        assert!(parse_interval("--interval", "10").is_err());
    }

    /// vnStat's MonthRotate: a cycle from the 15th; the 31st in February is its last day,
    /// the 29th in a leap year; 1 is the calendar month.
    #[test]
    fn billing_months_start_on_their_day_or_the_months_last() {
        let d = |s: &str| -> Date { s.parse().unwrap() };
        let m = MonthStart::new(15).unwrap();
        assert_eq!(m.cycle_of(d("2026-11-14")), d("2026-10-15"));
        assert_eq!(m.cycle_of(d("2026-11-15")), d("2026-11-15"));
        assert_eq!(m.next(d("2026-11-15")), d("2026-12-15"));
        assert_eq!(m.next(d("2026-12-15")), d("2027-01-15"));
        assert_eq!(m.previous(d("2026-01-15")), d("2025-12-15"));
        assert_eq!(m.label(d("2026-11-15")), "2026-11-15..2026-12-14");
        let last = MonthStart::new(31).unwrap();
        assert_eq!(last.cycle_of(d("2027-02-27")), d("2027-01-31"));
        assert_eq!(last.cycle_of(d("2027-02-28")), d("2027-02-28"));
        assert_eq!(last.next(d("2027-01-31")), d("2027-02-28"));
        assert_eq!(last.next(d("2027-02-28")), d("2027-03-31"));
        assert_eq!(last.next(d("2028-01-31")), d("2028-02-29"), "a leap year");
        assert_eq!(last.label(d("2027-02-28")), "2027-02-28..2027-03-30");
        let cal = MonthStart::default();
        assert_eq!(cal.cycle_of(d("2026-11-22")), d("2026-11-01"));
        assert_eq!(cal.label(d("2026-11-01")), "2026-11");
        assert!(MonthStart::new(0).is_err() && MonthStart::new(32).is_err());
    }
}
