//! Remote write: every `[[remote_write]]` target of the config is sent what the database
//! holds after the point it last acknowledged, as Prometheus remote-write 1.0 requests
//! (`nrec_report::output::remote_write`). The database is the queue: the position is a row
//! per target (`nrec_store::remote`), so after an outage the next push sends everything
//! since, in order and in bounded requests, at the resolution still stored.
//!
//! - **When**: after each stored sample (`record`, the daemon), with the sample committed and
//!   the lock released, each target within its deadline (`timeout`, default 10 s; the
//!   daemon's at most half its interval): an endpoint that is slow, failing or gone costs at
//!   most that, never a sample. `nrec push` pushes now.
//! - **What**: the counters of `/metrics` with a history (interfaces, processes, ports,
//!   attribution, samples; `families` narrows them), same names and labels, under the same
//!   `[metrics]` bounds (the busiest processes and ports of the 24 hours before the push),
//!   at every stored point, every series at every point (as a scrape would see them), plus
//!   the target's labels (`job="nrec"` and `instance` = the host name unless set).
//! - **Failures**: a network error, a timeout, 5xx, 429 and the answers a fix of the
//!   configuration or the endpoint cures (401, 403, 404, 407, 408, a redirect) keep the data
//!   and end the push (the next push starts where this one stopped); any other 4xx is a
//!   request the endpoint will never take (out of order, too old, malformed): it is reported
//!   once and skipped, with the count of samples it held kept for `nrec status`. The daemon
//!   backs off after failures (its interval doubled per failure, at most 5 minutes); the
//!   timer's one-shot `record` tries once per run (the timer's interval is its pace).
//! - **Two pushers** (the timer and a manual `record`, say) never send at once: a push holds
//!   its target in the database for its deadline.

pub mod http;
pub mod target;
pub mod web;

pub use target::Target;

use crate::config::Config;
use nrec_model::error::{Error, Result};
use nrec_model::names::escape_bytes;
use nrec_model::time::DAY_MS;
use nrec_report::backfill::{self, HistoryError, Settings};
use nrec_report::metrics::family_in;
use nrec_report::output::remote_write::Batcher;
use nrec_store::remote::Pushed;
use nrec_store::{AllTimeCache, Writer};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The daemon's longest wait after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Who is pushing: the pace of retries and the deadline differ.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// `record` from the timer: one try per run.
    Timer,
    /// The daemon: backs off after failures (its interval doubled per failure, at most
    /// [`MAX_BACKOFF`]), each push within half the interval at most.
    Daemon(Duration),
    /// `nrec push`: now, whatever failed before.
    Now,
}

/// What one target's push did.
#[derive(Debug)]
pub struct Report {
    pub target: String,
    pub pushed: Pushed,
    pub requests: u64,
    /// Why nothing was tried: another push holds it, backing off, nothing recorded.
    pub idle: Option<String>,
    /// Requests refused for good (each reported once).
    pub refused: Vec<String>,
    /// The newest sample when the push began.
    pub newest_ms: Option<i64>,
}

/// Pushes every target of the config; one report (or error) per target. `sums`: the past
/// days' sums (`AllTimeCache`), kept by a caller that pushes again (the daemon), so a push
/// of today's samples does not sum every past day again.
pub fn push_all(
    w: &mut Writer,
    cfg: &Config,
    now_ms: i64,
    pace: Pace,
    sums: &Mutex<AllTimeCache>,
) -> Vec<Result<Report>> {
    cfg.remote_write
        .iter()
        .map(|t| push(w, cfg, t, now_ms, pace, sums))
        .collect()
}

/// The daemon's wait after `failures` consecutive failures.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let doubled = interval.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF)
}

fn push(
    w: &mut Writer,
    cfg: &Config,
    t: &Target,
    now_ms: i64,
    pace: Pace,
    sums: &Mutex<AllTimeCache>,
) -> Result<Report> {
    let started = Instant::now();
    let deadline = match pace {
        Pace::Daemon(i) => t.timeout.min(i / 2),
        _ => t.timeout,
    };
    let mut report = Report {
        target: t.name.clone(),
        pushed: Pushed::default(),
        requests: 0,
        idle: None,
        refused: Vec::new(),
        newest_ms: None,
    };
    let state = w.push_state(&t.name)?.unwrap_or_default();
    if let (Pace::Daemon(i), Some(tried), 1..) = (pace, state.tried_ms, state.failures) {
        let wait = backoff(i, state.failures).as_millis() as i64;
        if now_ms < tried.saturating_add(wait) && now_ms >= tried {
            report.idle = Some(format!(
                "backing off after {} failure(s) (next try in {} s)",
                state.failures,
                (tried + wait - now_ms + 999) / 1000
            ));
            return Ok(report);
        }
    }
    let hold_ms = deadline.as_millis() as i64 + 5_000;
    if !w.hold_push(&t.name, now_ms, now_ms + hold_ms)? {
        report.idle = Some("another push of this target is under way".into());
        return Ok(report);
    }
    let res = send_history(w, cfg, t, &state, (deadline, started), &mut report, sums);
    // the past days' sums it read, for the next one-shot push (a cache: failing is harmless)
    let _ = w.keep_sums(&mut sums.lock().unwrap_or_else(|e| e.into_inner()));
    let failed = res.is_err();
    let error = match res {
        Ok(()) => report.refused.last().cloned(),
        Err(e) => Some(e),
    };
    report.pushed.error = error.clone();
    w.pushed(
        &t.name,
        now_ms,
        &Pushed {
            failed,
            ..report.pushed.clone()
        },
    )?;
    report.pushed.failed = failed;
    Ok(report)
}

/// Sends everything after the target's position, in requests, until done, refused or out
/// of time.
fn send_history(
    w: &mut Writer,
    cfg: &Config,
    t: &Target,
    state: &nrec_store::remote::PushState,
    (deadline, started): (Duration, Instant),
    report: &mut Report,
    cache: &Mutex<AllTimeCache>,
) -> std::result::Result<(), String> {
    let history = |w: &mut nrec_store::Reader,
                   report: &mut Report|
     -> std::result::Result<(), String> {
        let newest = w.newest().map_err(|e| e.msg)?.map(|l| l.ts_ms);
        let Some(newest) = newest else {
            report.idle = Some("nothing recorded yet".into());
            return Ok(());
        };
        report.newest_ms = Some(newest);
        let from = state
            .acked_ms
            .unwrap_or(newest - t.backfill_ms.max(1))
            .min(newest);
        if state.acked_ms.is_none() {
            // a new target's position is set at its first try, sent or not: what is recorded
            // while it cannot be reached is sent when it can
            report.pushed.acked_ms = Some(from);
        }
        if from >= newest {
            return Ok(());
        }
        let client = http::Client::new(t).map_err(|e| e.msg)?;
        let tz = crate::clock::calendar_zone().map_err(|e| e.msg)?;
        let mut labels: Vec<(String, String)> = t.labels.clone().into_iter().collect();
        if !t.labels.contains_key("job") {
            labels.push(("job".into(), "nrec".into()));
        }
        if !t.labels.contains_key("instance") {
            let host = w
                .last_host()
                .map_err(|e| e.msg)?
                .map(|h| escape_bytes(&h.hostname))
                .unwrap_or_else(|| "localhost".into());
            labels.push(("instance".into(), host));
        }
        let fams: Vec<_> = backfill::families(None)
            .into_iter()
            .filter(|f| t.kinds.iter().any(|k| family_in(f.name, Some(*k))))
            .collect();
        let settings = Settings {
            window: (from, newest),
            step: None,
            kind: None,
            rank: (newest - DAY_MS, newest),
            every: true,
        };
        let mut send =
            |b: nrec_report::output::remote_write::Batch| -> std::result::Result<(), HistoryError> {
                let left = deadline
                .checked_sub(started.elapsed())
                .filter(|d| *d >= Duration::from_millis(50))
                .ok_or_else(|| {
                    HistoryError::Sink(format!(
                        "out of time after {} ms (the push's deadline); the rest goes next time",
                        deadline.as_millis()
                    ))
                })?;
                report.requests += 1;
                match client.post(&b.body, left) {
                    http::Outcome::Accepted => {
                        report.pushed.sent += b.samples;
                        report.pushed.acked_ms = Some(b.last_ms);
                        Ok(())
                    }
                    http::Outcome::Refused(why) => {
                        report.pushed.skipped += b.samples;
                        report.pushed.acked_ms = Some(b.last_ms);
                        let at = |ms: i64| {
                            jiff::Timestamp::from_millisecond(ms)
                                .map_or_else(|_| ms.to_string(), |t| t.to_string())
                        };
                        report.refused.push(format!(
                        "skipped {} samples of {} to {} (the endpoint refused them; retrying cannot help): {why}",
                        b.samples,
                        at(b.first_ms),
                        at(b.last_ms)
                    ));
                        Ok(())
                    }
                    http::Outcome::Failed(why) => Err(HistoryError::Sink(why)),
                }
            };
        let mut batcher = Batcher::new(&fams, &labels, t.batch, &mut send);
        let res = backfill::history(w, &settings, &cfg.metrics, &fams, &mut batcher, cache)
            .and_then(|_| {
                // what has no history (gauges, protocol counters): as of the newest sample
                let scrape = nrec_report::metrics::collect_beside_history(
                    w,
                    newest,
                    &tz,
                    &cfg.metrics,
                    cache,
                )?;
                let keep = |name: &str| {
                    !fams.iter().any(|f| f.name == name)
                        && t.kinds.iter().any(|k| family_in(name, Some(*k)))
                };
                batcher.snapshot(newest, &scrape, &keep)
            })
            .and_then(|_| batcher.finish());
        res.map_err(|e| match e {
            HistoryError::Db(e) => e.msg,
            HistoryError::Io(e) => format!("reading the history: {e}"),
            HistoryError::Sink(s) => s,
        })
    };
    // one snapshot of the database for the whole push
    let mut out = Ok(());
    let res = w.transaction(false, |w| {
        out = history(w, report);
        Ok(())
    });
    res.map_err(|e| e.msg)?;
    out
}

/// Prints what the pushes did that a user must hear about (refusals, once; failures), on
/// stderr; the errors of targets that could not be pushed at all are returned.
pub fn say(reports: Vec<Result<Report>>, quiet: bool) -> Vec<Error> {
    let mut errors = Vec::new();
    for r in reports {
        match r {
            Err(e) => errors.push(e),
            Ok(r) => {
                for why in &r.refused {
                    eprintln!("nrec: remote_write {}: {why}", r.target);
                }
                if let (Some(e), true, false) = (&r.pushed.error, r.pushed.failed, quiet) {
                    eprintln!(
                        "nrec: remote_write {}: {e} (kept: the next push sends it)",
                        r.target
                    );
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_backs_off_doubling_up_to_five_minutes() {
        let i = Duration::from_secs(10);
        assert_eq!(backoff(i, 1), i);
        assert_eq!(backoff(i, 2), Duration::from_secs(20));
        assert_eq!(backoff(i, 4), Duration::from_secs(80));
        assert_eq!(backoff(i, 6), MAX_BACKOFF);
        assert_eq!(backoff(i, u32::MAX), MAX_BACKOFF);
    }
}
