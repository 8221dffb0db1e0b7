//! Quotas and alerts: the `[[alert]]` rules of nrec.toml, evaluated after every stored sample
//! (`record`, `daemon`) and on demand (`nrec alerts`).
//!
//! A rule is a subject (an interface or pattern, a process name, a systemd unit, a container,
//! a service port), a direction (rx, tx, total) and a limit: a **volume** per local calendar
//! hour, day or month, or a **rate** sustained over N minutes ([`rules`]). Values are read
//! through the same window engine as the reports ([`evaluate`]), so an alert counts exactly
//! what `summary` and `top-*` count: an interval belongs to the period in which it ends (a
//! gap's traffic lands in one period only), and counter resets never add traffic.
//!
//! Firing is a row the store keeps per (rule, period), inserted once: a crossing fires once
//! per period however many samples (or concurrent recorders) see it. A rate rule's period is
//! its episode: it fires when the rate reaches the limit and re-arms when the rate falls
//! below it. The rule's command ([`run`]) runs after the sample is stored and the lock
//! released, with a deadline after which its process group is killed.

pub mod evaluate;
pub mod rules;
pub mod run;

pub use evaluate::{Status, check_sample, evaluate, rule_error};
pub use rules::Rule;
pub use run::notify;

use crate::config::Config;
use nrec_model::error::Error;
use nrec_store::Writer;

/// The rules of the config, evaluated after a recorder's sample: prints what fired and
/// starts the commands; a rule that cannot be evaluated is returned as the config error.
pub fn after_sample(
    w: &mut Writer,
    config: &Config,
    now_ms: i64,
) -> (Vec<std::thread::JoinHandle<()>>, Vec<Error>) {
    if config.alerts.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let tz = match crate::clock::display_zone() {
        Ok(t) => t,
        Err(e) => return (Vec::new(), vec![e]),
    };
    match check_sample(w, &config.alerts, now_ms, &tz) {
        Ok((fired, broken)) => (
            notify(w.path(), fired),
            broken
                .iter()
                .map(|(r, why)| rule_error(config, r, why))
                .collect(),
        ),
        Err(e) => (Vec::new(), vec![e]),
    }
}
