//! `nrec push`: push to the `[[remote_write]]` targets now, whatever failed before (`record`
//! and the daemon push after every sample; this is the same push, for a first backfill or to
//! check a target's settings). One line per target; exit 1 when one failed.

use crate::cli::PushArgs;
use crate::clock::Clock;
use crate::cmd::Global;
use crate::config::Config;
use crate::remote::{Pace, push_all};
use nrec_model::error::{Error, Result};
use nrec_store::Writer;

pub fn run(args: &PushArgs, g: &Global, out: &mut dyn std::io::Write) -> Result<()> {
    let mut cfg = Config::load(g.config.as_deref())?;
    if let Some(t) = &args.target {
        cfg.remote_write.retain(|r| &r.name == t || &r.url == t);
        if cfg.remote_write.is_empty() {
            return Err(Error::usage(format!(
                "--target {}: no [[remote_write]] target of that name or URL in the config",
                nrec_model::names::escape_text(t)
            )));
        }
    }
    if cfg.remote_write.is_empty() {
        // nothing to do is not a failure (nrec-push.service runs after every sample)
        if !g.quiet {
            eprintln!(
                "nrec: no [[remote_write]] target in {}; nothing to push",
                cfg.path.as_deref().map_or_else(
                    || "the config (none found)".into(),
                    |p| p.display().to_string()
                )
            );
        }
        return Ok(());
    }
    let now = Clock::from_env()?.now().as_millisecond();
    let tz = crate::clock::display_zone()?;
    // a database that is not there is an error (as for the reports), not made empty
    drop(nrec_store::Reader::open(&g.db_path())?);
    let mut w = Writer::open(&g.db_path())?;
    let mut failed = 0;
    let mut text = String::new();
    for r in push_all(&mut w, &cfg, now, Pace::Now, &Default::default()) {
        let r = r?;
        let upto = r
            .pushed
            .acked_ms
            .map(|t| nrec_report::output::local_text(t, &tz));
        let state = if let Some(why) = &r.idle {
            why.clone()
        } else if r.pushed.failed {
            failed += 1;
            format!("failed: {}", r.pushed.error.as_deref().unwrap_or("?"))
        } else {
            "ok".into()
        };
        text.push_str(&format!(
            "{}: sent {} samples in {} request(s){}{}; {state}\n",
            r.target,
            r.pushed.sent,
            r.requests,
            if r.pushed.skipped > 0 {
                format!(", skipped {} (refused)", r.pushed.skipped)
            } else {
                String::new()
            },
            upto.map_or_else(String::new, |u| format!(", up to {u}")),
        ));
        for why in &r.refused {
            eprintln!("nrec: remote_write {}: {why}", r.target);
        }
    }
    out.write_all(text.as_bytes())
        .map_err(nrec_report::output::write_error)?;
    if failed > 0 {
        return Err(Error::failure(format!(
            "{failed} target(s) failed; what they did not acknowledge is kept for the next push"
        )));
    }
    Ok(())
}
