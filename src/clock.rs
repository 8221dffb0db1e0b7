//! "Now" and the display zone, read once from the environment: `NREC_NOW` pins the clock for
//! reproducible runs (reports, tests, the simulator), `TZ` names the zone every local time
//! is shown in. Everything below the binary takes both as arguments.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use nrec_model::error::{Error, Result};

/// Where "now" comes from: the real clock, or a fixed instant (`NREC_NOW`).
#[derive(Debug, Clone)]
pub struct Clock {
    fixed: Option<Timestamp>,
    /// Set by [`Clock::advancing`]: a pinned clock then moves on with real time from here.
    since: Option<std::time::Instant>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Clock {
            fixed: None,
            since: None,
        }
    }

    /// Reads `NREC_NOW` (RFC 3339) if set. Instants before 1970 are refused: nrec's days,
    /// rollup keys and retention start there.
    pub fn from_env() -> Result<Self> {
        match std::env::var_os("NREC_NOW") {
            None => Ok(Clock::system()),
            Some(v) => {
                let s = v
                    .to_str()
                    .ok_or_else(|| Error::usage("NREC_NOW: not valid UTF-8"))?;
                let ts: Timestamp = s.parse().map_err(|e| {
                    Error::usage(format!(
                        "NREC_NOW={s:?}: not an RFC 3339 timestamp (e.g. 2026-11-23T10:00:00Z): {e}"
                    ))
                })?;
                if ts.as_millisecond() < 0 {
                    return Err(Error::usage(format!(
                        "NREC_NOW={s:?}: before 1970, which nrec cannot store"
                    )));
                }
                Ok(Clock {
                    fixed: Some(ts),
                    since: None,
                })
            }
        }
    }

    /// A pinned clock (`NREC_NOW`) that starts at the pinned instant and then runs: what a
    /// daemon needs, whose samples must not all carry the same time. The real clock is
    /// unchanged.
    pub fn advancing(self) -> Clock {
        Clock {
            since: self.fixed.map(|_| std::time::Instant::now()),
            ..self
        }
    }

    pub fn now(&self) -> Timestamp {
        match (self.fixed, self.since) {
            (None, _) => Timestamp::now(),
            (Some(t), None) => t,
            (Some(t), Some(s)) => {
                let run = jiff::SignedDuration::try_from(s.elapsed()).unwrap_or_default();
                t.checked_add(run).unwrap_or(t)
            }
        }
    }
}

/// The zone reports are shown in: `TZ` if set, else the system's. A `TZ` that names no zone
/// (`Invalid/Zone`, a file that is not TZif) is an error naming it, never a silent UTC.
pub fn display_zone() -> Result<TimeZone> {
    match std::env::var_os("TZ") {
        None => Ok(TimeZone::system()),
        Some(v) if v.is_empty() => Ok(TimeZone::UTC),
        Some(v) => zone_from_tz(&v),
    }
}

/// [`display_zone`]'s rules, for a caller that only needs its calendar (a push's day and
/// month gauges): without `TZ`, /etc/localtime read as the TZif file it is, unnamed —
/// naming it makes jiff walk the whole tz database directory (0.4 ms of every push).
pub fn calendar_zone() -> Result<TimeZone> {
    if std::env::var_os("TZ").is_some() {
        return display_zone();
    }
    nrec_sys::read_bounded(std::path::Path::new("/etc/localtime"), 1 << 20)
        .ok()
        .and_then(|b| TimeZone::tzif("/etc/localtime", &b).ok())
        .map_or_else(display_zone, Ok)
}

/// `TZ` as POSIX and glibc read it: `:NAME` or `NAME` (the tz database), an absolute path to
/// a TZif file, or a POSIX rule (`EST5EDT,M3.2.0,M11.1.0`).
fn zone_from_tz(v: &std::ffi::OsStr) -> Result<TimeZone> {
    let bad = |why: &str| {
        Error::usage(format!(
            "TZ {:?}: {why}; unset it or name a zone such as Europe/Berlin",
            v.to_string_lossy()
        ))
    };
    let s = v.to_str().ok_or_else(|| bad("not UTF-8"))?;
    let name = s.strip_prefix(':').unwrap_or(s);
    if name.starts_with('/') {
        let bytes = nrec_sys::read_bounded(std::path::Path::new(name), 1 << 20)
            .map_err(|e| bad(&format!("cannot read the zone file: {e}")))?;
        return TimeZone::tzif(name, &bytes).map_err(|_| bad("not a TZif zone file"));
    }
    if let Ok(tz) = TimeZone::get(name) {
        return Ok(tz);
    }
    TimeZone::posix(name).map_err(|_| bad("not a time zone in the tz database nor a POSIX TZ rule"))
}
