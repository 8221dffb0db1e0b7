//! `nrec status`: is recording healthy, and what can it see? The last sample's age, the
//! database (size, schema, retention tiers), per namespace the sources that delivered in the
//! last sample and what each cannot see — as the recorded samples say, not as this shell's
//! environment would — this process's privileges, and how much of the last hour's interface
//! traffic was attributed to processes. `--check` turns that into a health check.

use crate::cli::{Format, StatusArgs};
use crate::clock::Clock;
use crate::cmd::Global;
use crate::config::Config;
use nrec_model::error::{Error, Result};
use nrec_model::names::escape_bytes;
use nrec_report::output::units::{bytes as size, duration};
use nrec_report::output::{iso as render_iso, write_error};
use nrec_report::rank::Balance;
use nrec_store::query;
use nrec_store::rollup::Kind;
use nrec_store::series::Totals;
use nrec_store::{self as store, Reader};
use serde_json::json;
use std::io::Write;

/// Effective capabilities of this process, from /proc/self/status.
fn capabilities() -> Vec<&'static str> {
    use nrec_sys::cap;
    let eff = nrec_sys::effective_caps().unwrap_or(0);
    [
        (cap::SYS_ADMIN, "CAP_SYS_ADMIN"),
        (cap::SYS_PTRACE, "CAP_SYS_PTRACE"),
        (cap::DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"),
        (cap::BPF, "CAP_BPF"),
        (cap::PERFMON, "CAP_PERFMON"),
    ]
    .into_iter()
    .filter(|(bit, _)| eff & (1u64 << bit) != 0)
    .map(|(_, n)| n)
    .collect()
}

pub fn run(args: &StatusArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    let now = Clock::from_env()?.now().as_millisecond();
    let tz = crate::clock::display_zone()?;
    let path = g.db_read_path();
    let mut r = Reader::open(&path)?;
    let config = Config::load(g.config.as_deref())?;
    let span_ms = nrec_model::time::parse_interval("--since", &args.since)?;
    if let Some(c) = args.min_coverage {
        if !(0.0..=100.0).contains(&c) {
            return Err(Error::usage(format!(
                "--min-coverage {c}: a percentage from 0 to 100"
            )));
        }
    }
    let mut f = gather(&mut r, &path, now, span_ms, config.retention)?;
    f.pushes = pushes(&r, &config, f.last.map(|(_, ts)| ts))?;
    if args.check {
        let health = Health {
            now,
            last_ms: f.last.map(|(_, ts)| ts),
            interval_ms: r.recording_interval_ms()?,
            totals: &f.t,
            span: &f.span,
            min_coverage: args.min_coverage,
            quiet: g.quiet,
            findings: r.check()?,
            pushes: &f.pushes,
            foreign_ebpf: f
                .probe
                .foreign
                .clone()
                .map(|o| (f.probe.dir.display().to_string(), o)),
        };
        return health.report(out, &path);
    }
    let mut o = super::output(out, args.format, "status", &r, None, &tz)?;
    match args.format {
        Format::Json => {
            let doc = json_doc(&f, &tz);
            o.json(doc.as_object().cloned().unwrap_or_default())
        }
        _ => table(o.text(), &f, &tz),
    }
    .map_err(write_error)
}

/// What `status` tells: the database, the newest sample, the sources it used, this process's
/// privileges and eBPF on this host now, and the attribution of the last `--since`.
struct Facts {
    path: std::path::PathBuf,
    now: i64,
    file_bytes: u64,
    first_ms: Option<i64>,
    samples: i64,
    quarters_from: Option<i64>,
    /// The newest sample (id, time) and the sources it used.
    last: Option<(i64, i64)>,
    last_ebpf: bool,
    /// The newest sample's ports and hosts were the kernel's per connection.
    last_conns: bool,
    last_pcap: bool,
    age_s: Option<f64>,
    nss: Vec<query::NetnsSources>,
    t: Totals,
    iface: u64,
    sock: u64,
    unowned: u64,
    attributed: u64,
    coverage: Option<f64>,
    beyond: u64,
    ebpf_share: Option<f64>,
    span: String,
    retention: nrec_store::prune::Retention,
    probe: EbpfProbe,
    caps: Vec<&'static str>,
    euid: u32,
    /// Each `[[remote_write]]` target of the config: its position and health.
    pushes: Vec<PushLine>,
}

/// One remote-write target as `status` tells it.
struct PushLine {
    name: String,
    url: String,
    /// None: never pushed.
    state: Option<nrec_store::remote::PushState>,
    /// The newest sample's time minus the newest point acknowledged.
    lag_ms: Option<i64>,
}

fn pushes(r: &Reader, config: &Config, newest: Option<i64>) -> Result<Vec<PushLine>> {
    let states = r.push_states()?;
    Ok(config
        .remote_write
        .iter()
        .map(|t| {
            let state = states.iter().find(|s| s.target == t.name).cloned();
            let acked = state.as_ref().and_then(|s| s.acked_ms);
            PushLine {
                name: t.name.clone(),
                // without its query, which some endpoints take credentials in
                url: t.url.split('?').next().unwrap_or_default().to_string(),
                lag_ms: match (newest, acked) {
                    (Some(n), Some(a)) => Some((n - a).max(0)),
                    _ => None,
                },
                state,
            }
        })
        .collect())
}

/// Reads what `status` tells.
fn gather(
    r: &mut Reader,
    path: &std::path::Path,
    now: i64,
    span_ms: i64,
    retention: nrec_store::prune::Retention,
) -> Result<Facts> {
    let facts = r.recording()?;
    let last = facts.last.as_ref().map(|l| (l.id, l.ts_ms));
    let nss = match last {
        Some((id, _)) => r.netns_sources(id)?,
        None => Vec::new(),
    };
    // coverage over the window (--since, the last hour): attributed bytes / interface bytes
    let sums = r.sums(
        &[Kind::Iface, Kind::Attrib, Kind::Proc, Kind::Time],
        now.saturating_sub(span_ms),
        now,
    )?;
    let t = r.totals(&sums)?;
    // attributed / (interface bytes + what sockets moved beyond them): never above 1
    let bal = Balance::of_procs(&t);
    Ok(Facts {
        path: path.to_path_buf(),
        now,
        file_bytes: store::size_on_disk(path),
        first_ms: facts.first_ms,
        samples: facts.samples,
        quarters_from: facts.quarters_from_day,
        last,
        last_ebpf: facts.last.as_ref().is_some_and(|l| l.ebpf),
        last_conns: facts.last.as_ref().is_some_and(|l| l.conns),
        last_pcap: facts.last.as_ref().is_some_and(|l| l.pcap),
        age_s: last.map(|(_, ts)| (now - ts) as f64 / 1000.0),
        nss,
        iface: t.iface_rx + t.iface_tx,
        sock: t.sock_rx + t.sock_tx,
        unowned: t.unowned_rx + t.unowned_tx,
        attributed: t.proc_rx + t.proc_tx,
        coverage: bal.coverage(),
        beyond: bal.extra(),
        ebpf_share: t.ebpf_share(),
        t,
        span: duration(span_ms),
        retention,
        probe: ebpf_probe(&crate::sampler::ebpf_pins(path)),
        caps: capabilities(),
        euid: nrec_sys::euid(),
        pushes: Vec::new(),
    })
}

/// What sock_diag and eBPF cannot see, said with the sources.
const BLIND: &str = "UDP and other protocols, TCP/IP headers, connections opened and closed between samples, a closing connection's last interval";
const EBPF_BLIND: &str = "TCP/IP headers, splice()/sendfile reads from sockets (tcp_splice_read), traffic the kernel sends itself (NFS, WireGuard, ICMP errors); the peer of a UDP datagram read without asking who sent it (recv() on an unconnected socket: its bytes keep their port)";
/// What eBPF cannot see where the ports and hosts were not counted per connection.
const EBPF_BLIND_SAMPLED: &str = "TCP/IP headers, splice()/sendfile reads from sockets (tcp_splice_read), traffic the kernel sends itself (NFS, WireGuard, ICMP errors); ports and hosts still come from sock_diag (TCP)";

fn retention_text(d: Option<i64>) -> String {
    d.map_or("forever".to_string(), |d| format!("{d}d"))
}

/// `status --format json`.
fn json_doc(f: &Facts, tz: &jiff::tz::TimeZone) -> serde_json::Value {
    let Facts {
        path,
        file_bytes,
        first_ms,
        samples,
        quarters_from,
        last,
        last_ebpf,
        last_conns,
        last_pcap,
        age_s,
        nss,
        t,
        iface,
        sock,
        attributed,
        coverage,
        beyond,
        ebpf_share,
        span,
        retention,
        probe,
        caps,
        euid,
        pushes,
        ..
    } = f;
    let (
        file_bytes,
        first_ms,
        samples,
        quarters_from,
        last,
        last_ebpf,
        last_pcap,
        age_s,
        iface,
        sock,
        attributed,
        coverage,
        beyond,
        ebpf_share,
        euid,
    ) = (
        *file_bytes,
        *first_ms,
        *samples,
        *quarters_from,
        *last,
        *last_ebpf,
        *last_pcap,
        *age_s,
        *iface,
        *sock,
        *attributed,
        *coverage,
        *beyond,
        *ebpf_share,
        *euid,
    );
    let ebpf_blind = if *last_conns {
        EBPF_BLIND
    } else {
        EBPF_BLIND_SAMPLED
    };
    let blind = BLIND;
    json!({
        "database": {
            "path": path.display().to_string(),
            "bytes": file_bytes,
            "schema": store::SCHEMA_VERSION,
            "samples_raw": samples,
            "raw_from": first_ms.map(|t| render_iso(t, tz)),
            "retention": {
                "raw": retention_text(retention.raw_days),
                "hourly": retention_text(retention.hourly_days),
                "daily": retention_text(retention.daily_days),
            },
            "quarter_detail_pruned_before_day": quarters_from,
        },
        "last_sample": last.map(|(_, ts)| render_iso(ts, tz)),
        "last_sample_age_s": age_s,
        "privileges": { "euid": euid, "capabilities": caps },
        "ebpf": {
            "last_sample_used_it": last_ebpf,
            "recorded": {
                "window": span,
                "time_share": ebpf_share,
                "lost_calls": t.ebpf_lost_events,
                "lost_bytes": t.ebpf_lost_bytes,
            },
            "host": {
                "state": probe.state,
                "detail": probe.detail,
                "pin_dir": probe.dir.display().to_string(),
                "owner": probe.foreign.as_deref().unwrap_or("this database"),
                "other_states": probe.others.iter().map(|o| json!({
                    "pin_dir": o.dir.display().to_string(),
                    "database": o.owner,
                    "idle_s": o.idle_s,
                    "orphan": o.orphan,
                })).collect::<Vec<_>>(),
                "entries": probe.entries,
                "capacity": probe.capacity,
                "lost_events": probe.lost_events,
                "lost_bytes": probe.lost_bytes,
                "connections": probe.conns,
            },
            "cannot_see": ebpf_blind,
        },
        "namespaces": nss.iter().map(|n| json!({
            "netns": escape_bytes(&n.name), "interfaces": n.ifaces,
            "sources": {
                "interfaces": "/proc/net/dev",
                "protocol_counters": n.protocol,
                "process_bytes": if last_ebpf { Some("ebpf") } else if n.sockets { Some("sock_diag") } else { None },
                "ports_and_hosts": if *last_conns { Some("ebpf") } else if n.sockets { Some("sock_diag") } else { None },
                "udp_capture": last_pcap,
            },
            "cannot_see": if last_ebpf { ebpf_blind } else { blind },
        })).collect::<Vec<_>>(),
        "last_hour": {
            "window": span,
            "interface_bytes": iface,
            "socket_bytes": sock,
            "attributed_bytes": attributed,
            "beyond_interface_bytes": beyond,
            "coverage": coverage,
            "ebpf_share": ebpf_share,
        },
        "remote_write": pushes.iter().map(|p| {
            let st = p.state.clone().unwrap_or_default();
            json!({
                "target": p.name,
                "url": p.url,
                "acked": st.acked_ms.map(|t| render_iso(t, tz)),
                "lag_s": p.lag_ms.map(|l| l as f64 / 1000.0),
                "sent_samples": st.sent,
                "skipped_samples": st.skipped,
                "failures": st.failures,
                "last_try": st.tried_ms.map(|t| render_iso(t, tz)),
                "error": st.error,
            })
        }).collect::<Vec<_>>(),
    })
}

/// `status` as a table.
fn table(w: &mut dyn Write, f: &Facts, tz: &jiff::tz::TimeZone) -> std::io::Result<()> {
    let Facts {
        path,
        now,
        file_bytes,
        first_ms,
        samples,
        last,
        last_ebpf,
        last_conns,
        last_pcap,
        age_s,
        nss,
        t,
        iface,
        unowned,
        coverage,
        beyond,
        ebpf_share,
        span,
        retention,
        probe,
        caps,
        euid,
        pushes,
        ..
    } = f;
    let (
        now,
        file_bytes,
        first_ms,
        samples,
        last,
        last_ebpf,
        last_pcap,
        age_s,
        iface,
        unowned,
        coverage,
        beyond,
        ebpf_share,
        euid,
    ) = (
        *now,
        *file_bytes,
        *first_ms,
        *samples,
        *last,
        *last_ebpf,
        *last_pcap,
        *age_s,
        *iface,
        *unowned,
        *coverage,
        *beyond,
        *ebpf_share,
        *euid,
    );
    let ebpf_blind = if *last_conns {
        EBPF_BLIND
    } else {
        EBPF_BLIND_SAMPLED
    };
    let blind = BLIND;
    writeln!(
        w,
        "database      {} ({}, schema {})",
        path.display(),
        size(file_bytes),
        store::SCHEMA_VERSION
    )?;
    writeln!(
        w,
        "retention     raw {} ({} samples since {}), 15-minute {}, daily {}",
        retention_text(retention.raw_days),
        samples,
        first_ms
            .map(|t| render_iso(t, tz))
            .unwrap_or_else(|| "-".into()),
        retention_text(retention.hourly_days),
        retention_text(retention.daily_days)
    )?;
    match (last, age_s) {
        (Some((_, ts)), Some(age)) if age < 0.0 => writeln!(
            w,
            "last sample   {} ({} in the future: a clock was wrong when it was taken, or is now)",
            render_iso(ts, tz),
            duration(now - ts).trim_start_matches('-'),
        ),
        (Some((_, ts)), Some(age)) => writeln!(
            w,
            "last sample   {} ({} ago{})",
            render_iso(ts, tz),
            duration(now - ts),
            if age > 180.0 {
                "; is the timer running? systemctl list-timers nrec-record.timer"
            } else {
                ""
            }
        ),
        _ => writeln!(
            w,
            "last sample   none yet: run `nrec record` (or enable nrec-record.timer)"
        ),
    }?;
    writeln!(
        w,
        "privileges    euid {euid}; capabilities: {}",
        if caps.is_empty() {
            "none (only this namespace, own processes)".to_string()
        } else {
            caps.join(" ")
        }
    )?;
    // What the recorded samples used, then what this host has now: a database
    // recorded with NREC_EBPF=off is not "eBPF" because the maps are pinned today.
    writeln!(
        w,
        "eBPF          {}; {:.0}% of the sampled time of the last {span}{}",
        match last {
            None => "no sample yet",
            Some(_) if last_ebpf => "the last sample's process bytes came from it",
            Some(_) => "not used by the last sample (process bytes from sock_diag, TCP only)",
        },
        ebpf_share.unwrap_or(0.0) * 100.0,
        if t.ebpf_lost_events > 0 {
            format!(
                "; {} calls ({}) lost to a full map",
                t.ebpf_lost_events,
                size(t.ebpf_lost_bytes)
            )
        } else {
            String::new()
        }
    )?;
    writeln!(
        w,
        "              this host now: {}: {}",
        probe.state, probe.detail
    )?;
    for o in &probe.others {
        writeln!(
            w,
            "              another state: {} ({}{}){}",
            o.dir.display(),
            o.owner
                .as_deref()
                .map_or("no database".into(), |d| format!("database {d}")),
            o.idle_s.map_or(String::new(), |s| format!(
                ", read {} ago",
                duration(s as i64 * 1000)
            )),
            o.orphan.as_deref().map_or(String::new(), |why| format!(
                "; the next record removes it: {why}"
            ))
        )?;
    }
    for n in nss {
        writeln!(
            w,
            "netns {:<8} {} interface(s) from /proc/net/dev; protocol counters {}; per-process bytes {}",
            escape_bytes(&n.name),
            n.ifaces,
            if n.protocol { "yes" } else { "no" },
            match (last_ebpf, last_conns, n.sockets) {
                (true, true, _) => "eBPF (TCP+UDP), ports and hosts eBPF per connection",
                (true, false, true) => "eBPF (TCP+UDP), ports and hosts sock_diag (TCP)",
                (true, false, false) => "eBPF (TCP+UDP); no ports/hosts (socket dump unavailable)",
                (false, _, true) => "sock_diag (TCP)",
                (false, _, false) => "none (socket dump unavailable)",
            }
        )?;
    }
    if last_pcap {
        writeln!(
            w,
            "pcap          the daemon's UDP capture (fallback) delivered the last sample: UDP per process, port and host through the socket table; a UDP socket closed before the sample stays unattributed"
        )?;
    }
    if !nss.is_empty() {
        if last_ebpf {
            writeln!(w, "              eBPF cannot see: {ebpf_blind}")?;
        } else {
            writeln!(w, "              sock_diag cannot see: {blind}")?;
        }
    }
    match coverage {
        Some(c) => writeln!(
            w,
            "last {span:<8} {} interface bytes{}, {:.1}% attributed to processes ({} on sockets without a known process); eBPF covered {:.0}% of the sampled time",
            size(iface),
            if beyond > 0 {
                format!(
                    " and {} more on sockets (multicast copies, namespaces nrec never sampled: see top-procs)",
                    size(beyond)
                )
            } else {
                String::new()
            },
            c * 100.0,
            size(unowned),
            ebpf_share.unwrap_or(0.0) * 100.0
        ),
        None => writeln!(w, "last {span:<8} no interface traffic recorded"),
    }?;
    for (i, p) in pushes.iter().enumerate() {
        let head = if i == 0 { "remote write" } else { "" };
        let Some(st) = &p.state else {
            writeln!(w, "{head:<13} {} never pushed", p.name)?;
            continue;
        };
        writeln!(
            w,
            "{head:<13} {} up to {}{}, {} samples sent, {} skipped; {}",
            p.name,
            st.acked_ms.map_or_else(
                || "nothing yet".into(),
                |t| nrec_report::output::local_text(t, tz)
            ),
            p.lag_ms
                .map_or_else(String::new, |l| format!(" (lag {})", duration(l))),
            st.sent,
            st.skipped,
            match (&st.error, st.failures) {
                (None, _) => "ok".to_string(),
                (Some(e), 0) => format!("ok (last note: {e})"),
                (Some(e), n) => format!("{n} failed push(es), the last: {e}"),
            }
        )?;
    }
    Ok(())
}

/// `status --check`: what makes recording unhealthy, each a line of its own.
struct Health<'a> {
    now: i64,
    last_ms: Option<i64>,
    /// The recording interval the samples show (None before the second sample).
    interval_ms: Option<i64>,
    totals: &'a Totals,
    span: &'a str,
    min_coverage: Option<f64>,
    /// `-q`: nothing on stdout when healthy (cron mails only problems).
    quiet: bool,
    findings: Vec<store::check::Finding>,
    /// The eBPF state this database reads when it is another database's: (dir, owner).
    foreign_ebpf: Option<(String, String)>,
    pushes: &'a [PushLine],
}

impl Health<'_> {
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        // The timer's minute when the samples cannot tell yet.
        let interval = self.interval_ms.unwrap_or(60_000);
        match self.last_ms {
            None => p.push("no sample recorded yet: run `nrec record` or enable nrec-record.timer".into()),
            Some(ts) if ts > self.now + interval => p.push(format!(
                "the last sample is {} in the future: the clock is wrong now, or was when it was recorded",
                duration(ts - self.now)
            )),
            Some(ts) if self.now - ts > 3 * interval => p.push(format!(
                "the last sample is {} old (recording every {}): is the recorder running? systemctl status nrec-record.timer nrec.service",
                duration(self.now - ts),
                duration(interval)
            )),
            Some(_) => {}
        }
        let t = self.totals;
        if t.ebpf_lost_events > 0 {
            p.push(format!(
                "{} eBPF send/receive calls ({}) lost to a full map in the last {}: their bytes are unattributed; run `nrec setup` with a larger NREC_BPF_MAX_ENTRIES",
                t.ebpf_lost_events,
                size(t.ebpf_lost_bytes),
                self.span
            ));
        }
        if let (Some(min), Some(got)) = (self.min_coverage, Balance::of_procs(t).coverage()) {
            let got = got * 100.0;
            if got < min {
                p.push(format!(
                    "{got:.1}% of the last {}'s interface bytes attributed to processes, below --min-coverage {min}",
                    self.span
                ));
            }
        }
        for q in self.pushes {
            let st = q.state.clone().unwrap_or_default();
            let lag = q
                .lag_ms
                .map_or_else(String::new, |l| format!(" (lag {})", duration(l)));
            if st.failures > 0 {
                p.push(format!(
                    "remote_write {}: {} failed push(es){lag}, the last: {}",
                    q.name,
                    st.failures,
                    st.error.as_deref().unwrap_or("?")
                ));
            } else if q.lag_ms.is_some_and(|l| l > 3 * interval) {
                p.push(format!("remote_write {}: behind{lag}", q.name));
            } else if self.last_ms.is_some() && st.acked_ms.is_none() {
                p.push(format!("remote_write {}: never pushed", q.name));
            }
        }
        for f in self.findings.iter().filter(|f| !f.ok) {
            p.push(format!("nrec check: {}", f.text));
        }
        if let Some((dir, owner)) = &self.foreign_ebpf {
            p.push(format!(
                "the eBPF state this database reads ({dir}) counts for {owner}: that database's \
                 recorder deletes exited processes' entries, perhaps before this one has read \
                 them; unset NREC_BPF_DIR so that each database counts on its own"
            ));
        }
        p
    }

    /// Healthy: one OK line, exit 0. Otherwise one line per problem on stdout, exit 1.
    fn report(&self, out: &mut dyn Write, path: &std::path::Path) -> Result<()> {
        let problems = self.problems();
        let io = write_error;
        if problems.is_empty() {
            if self.quiet {
                return Ok(());
            }
            let age = self
                .last_ms
                .map(|ts| duration(self.now - ts))
                .unwrap_or_default();
            writeln!(out, "OK: {}: last sample {age} ago", path.display()).map_err(io)?;
            return Ok(());
        }
        for p in &problems {
            writeln!(out, "PROBLEM: {p}").map_err(io)?;
        }
        Err(Error::failure(format!(
            "{}: {} problem(s) found by status --check",
            path.display(),
            problems.len()
        )))
    }
}

/// Whether the running kernel has the tracepoints (their BTF type names are in vmlinux's
/// BTF); assumed yes when the BTF cannot be read (then loading says what is wrong).
fn kernel_has_tracepoints() -> bool {
    match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(btf) => btf
            .windows(b"btf_trace_sock_send_length".len())
            .any(|w| w == b"btf_trace_sock_send_length"),
        Err(_) => true,
    }
}

/// The pinned eBPF state as `status` shows it.
struct EbpfProbe {
    /// "active", "not set up", "unavailable" or "off".
    state: &'static str,
    detail: String,
    /// Where this database's state is pinned.
    dir: std::path::PathBuf,
    /// The database the state counts for, when it is not this one.
    foreign: Option<String>,
    /// The other states nrec pinned on this host.
    others: Vec<nrec_collect::ebpf::Other>,
    entries: Option<usize>,
    capacity: Option<usize>,
    lost_events: Option<u64>,
    lost_bytes: Option<u64>,
    /// The connection map's entries, capacity, losses and whether UDP peers are told.
    conns: Option<serde_json::Value>,
}

fn ebpf_probe(pins: &nrec_collect::ebpf::Pins) -> EbpfProbe {
    let mut p = EbpfProbe {
        state: "unavailable",
        detail: String::new(),
        dir: pins.dir().to_path_buf(),
        foreign: None,
        others: Vec::new(),
        entries: None,
        capacity: None,
        lost_events: None,
        lost_bytes: None,
        conns: None,
    };
    if !nrec_collect::ebpf::wanted() {
        p.state = "off";
        p.detail = "NREC_EBPF=off: per-process bytes from sock_diag (TCP only)".into();
        return p;
    }
    p.others = pins.others();
    match pins.status() {
        Ok(Some(st)) => {
            let r = &st.reading;
            p.state = "active";
            p.detail = format!(
                "pinned under {} ({}); {} of {} map entries in use; {} events ({}) lost to a full map since loaded; \
                 connections: {} of {} entries in use, {} events ({}) lost to a full map; {}",
                pins.dir().display(),
                st.foreign
                    .as_deref()
                    .map_or("this database's".into(), |o| format!(
                        "NOT this database's: it counts for {o}"
                    )),
                r.entries.len(),
                st.capacity,
                r.lost_events,
                size(r.lost_bytes),
                st.conn_entries,
                st.conn_capacity,
                st.conn_lost_events,
                size(st.conn_lost_bytes),
                if st.udp_peers {
                    "UDP peers from the cgroup hooks"
                } else {
                    "the UDP address hooks are not attached (no unified cgroup hierarchy, or not allowed): the peers of unconnected UDP sockets are not known"
                }
            );
            p.conns = Some(json!({
                "entries": st.conn_entries,
                "capacity": st.conn_capacity,
                "lost_events": st.conn_lost_events,
                "lost_bytes": st.conn_lost_bytes,
                "udp_peers": st.udp_peers,
            }));
            p.entries = Some(r.entries.len());
            p.capacity = Some(st.capacity);
            p.lost_events = Some(r.lost_events);
            p.lost_bytes = Some(r.lost_bytes);
            p.foreign = st.foreign;
        }
        Ok(None) if !kernel_has_tracepoints() => {
            p.detail = "this kernel has no sock_send_length/sock_recv_length tracepoints (Linux 6.3 or later needed); per-process bytes come from sock_diag (TCP only)".into();
        }
        Ok(None) => {
            p.state = "not set up";
            p.detail = format!(
                "nothing pinned under {} yet: the next `nrec record` (or `nrec setup`) into this database loads it; until then per-process bytes come from sock_diag (TCP only)",
                pins.dir().display()
            );
        }
        Err(e) => {
            p.detail = format!("{e}; per-process bytes come from sock_diag (TCP only)");
        }
    }
    p
}
