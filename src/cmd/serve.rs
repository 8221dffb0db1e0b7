//! `nrec serve`: `GET /metrics` for Prometheus, from the database, read-only (never collects,
//! never writes; works while the timer or the daemon records).
//!
//! A deliberately small HTTP/1.1 server on std (one request per connection, GET and HEAD
//! only): a scraper needs no more, and every limit is ours to set. A slow or hostile client
//! cannot block recording (the server holds no lock: each scrape is one read transaction) or
//! exhaust memory: each connection has a thread, at most [`MAX_CONNS`] at once (beyond, 503 at
//! once); a request head is at most [`MAX_HEAD`] bytes and must arrive within
//! [`HEAD_DEADLINE`]; at most [`WORKERS`] scrapes read the database at once (the others wait
//! their turn); a response that cannot be written within [`WRITE_DEADLINE`] is abandoned. So
//! idle or slow connections delay no scrape until a client holds [`MAX_CONNS`] of them, and
//! then by at most the head deadline.

use crate::cli::ServeArgs;
use crate::clock::Clock;
use crate::cmd::Global;
use crate::config::Config;
use nrec_model::error::{Error, Result};
use nrec_report::output::openmetrics::{self, Flavor};
use nrec_store::{AllTimeCache, Reader};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Scrapes reading the database at once.
pub const WORKERS: usize = 4;
/// Connections served at once; beyond, 503.
pub const MAX_CONNS: usize = 64;
pub const MAX_HEAD: usize = 8 * 1024;
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

struct Ctx {
    g: Global,
    clock: Clock,
    metrics: crate::config::Metrics,
    /// Connections being served.
    conns: AtomicUsize,
    /// Scrapes reading the database, at most [`WORKERS`].
    reading: (Mutex<usize>, Condvar),
    /// The past days' sums, between scrapes.
    cache: Mutex<AllTimeCache>,
}

pub fn run(args: &ServeArgs, g: &Global) -> Result<()> {
    let cfg = Config::load(g.config.as_deref())?;
    let clock = Clock::from_env()?.advancing();
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| Error::usage(format!("--listen {}: cannot listen: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::failure(format!("--listen {}: {e}", args.listen)))?;
    if !g.quiet {
        eprintln!(
            "nrec: serving http://{addr}/metrics from {}",
            g.db_read_path().display()
        );
    }
    let ctx = Arc::new(Ctx {
        g: Global {
            db: g.db.clone(),
            config: g.config.clone(),
            verbose: g.verbose,
            quiet: g.quiet,
            aliases: g.aliases.clone(),
        },
        clock,
        metrics: cfg.metrics,
        conns: AtomicUsize::new(0),
        reading: (Mutex::new(0), Condvar::new()),
        cache: Mutex::new(AllTimeCache::default()),
    });
    for s in listener.incoming() {
        let Ok(mut s) = s else { continue };
        if ctx.conns.fetch_add(1, Ordering::SeqCst) >= MAX_CONNS {
            ctx.conns.fetch_sub(1, Ordering::SeqCst);
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = respond(
                &mut s,
                "503 Service Unavailable",
                "text/plain",
                b"busy\n",
                false,
            );
            continue;
        }
        let c = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("nrec-serve".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                // a bug in one scrape must not take the server with it
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(&c, s)));
                c.conns.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            ctx.conns.fetch_sub(1, Ordering::SeqCst);
        }
    }
    Ok(())
}

/// Holds one of the [`WORKERS`] turns to read the database.
struct Turn<'a>(&'a (Mutex<usize>, Condvar));

impl<'a> Turn<'a> {
    fn take(r: &'a (Mutex<usize>, Condvar)) -> Self {
        let mut n = r.0.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= WORKERS {
            n = r.1.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Turn(r)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut n = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        self.0.1.notify_one();
    }
}

/// Reads the request head (up to the blank line), within the size and time bounds.
fn read_head(s: &mut TcpStream) -> std::result::Result<Vec<u8>, &'static str> {
    let start = Instant::now();
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let left = HEAD_DEADLINE
            .checked_sub(start.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or("408 Request Timeout")?;
        s.set_read_timeout(Some(left))
            .map_err(|_| "400 Bad Request")?;
        let n = s.read(&mut buf).map_err(|_| "408 Request Timeout")?;
        if n == 0 {
            return Err("400 Bad Request");
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
    }
}

fn respond(
    s: &mut TcpStream,
    status: &str,
    ctype: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    s.write_all(&out)?;
    s.flush()
}

fn handle(ctx: &Ctx, mut s: TcpStream) {
    let _ = s.set_write_timeout(Some(WRITE_DEADLINE));
    let head = match read_head(&mut s) {
        Ok(h) => h,
        Err(status) => {
            let _ = respond(&mut s, status, "text/plain", b"", false);
            return;
        }
    };
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let mut req = lines.next().unwrap_or("").split(' ');
    let (method, target) = (req.next().unwrap_or(""), req.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let _ = respond(
            &mut s,
            "405 Method Not Allowed",
            "text/plain",
            b"GET or HEAD\n",
            false,
        );
        return;
    }
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => {}
        "/" => {
            let body = b"<html><head><title>nrec</title></head><body><h1>nrec</h1><p><a href=\"/metrics\">metrics</a></p></body></html>\n";
            let _ = respond(
                &mut s,
                "200 OK",
                "text/html; charset=utf-8",
                body,
                head_only,
            );
            return;
        }
        _ => {
            let _ = respond(
                &mut s,
                "404 Not Found",
                "text/plain",
                b"not found; try /metrics\n",
                head_only,
            );
            return;
        }
    }
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let flavor = if accept.contains("application/openmetrics-text") {
        Flavor::OpenMetrics
    } else {
        Flavor::Prometheus
    };
    let turn = Turn::take(&ctx.reading);
    let res = scrape(ctx, flavor);
    drop(turn);
    match res {
        Ok(body) => {
            let _ = respond(&mut s, "200 OK", flavor.content_type(), &body, head_only);
        }
        Err(e) => {
            if ctx.g.verbose > 0 {
                eprintln!("nrec: scrape failed: {e}");
            }
            let body = format!("{e}\n");
            let _ = respond(
                &mut s,
                "503 Service Unavailable",
                "text/plain; charset=utf-8",
                body.as_bytes(),
                head_only,
            );
        }
    }
}

/// One scrape: open the database read-only, read every family, render.
fn scrape(ctx: &Ctx, flavor: Flavor) -> Result<Vec<u8>> {
    let mut r = Reader::open(&ctx.g.db_read_path())?;
    let tz = crate::clock::display_zone()?;
    let now = ctx.clock.now().as_millisecond();
    let fams = nrec_report::metrics::collect(&mut r, now, &tz, &ctx.metrics, &ctx.cache)?;
    let mut out = Vec::with_capacity(64 * 1024);
    openmetrics::render(&fams, flavor, &mut out)
        .map_err(|e| Error::failure(format!("render: {e}")))?;
    Ok(out)
}

/// `nrec export --format openmetrics`: no window — the current values (what a scrape shows;
/// with `--textfile DIR`, written atomically to `DIR/nrec.prom` in the classic text format
/// node_exporter's textfile collector reads); a window — the counters' timestamped history.
pub fn export(args: &crate::cli::ExportArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    use crate::cli::ExportTable;
    if args.table == Some(ExportTable::Host) {
        return Err(Error::usage(
            "host: remote hosts are not exposed as metrics (unbounded labels); use iface, proto, proc, port, attrib or time",
        ));
    }
    if args.resolution.is_some() && !args.window.given() {
        return Err(Error::usage(
            "--resolution: the history's (a window: --since, --date …); the current values have none",
        ));
    }
    let mut cfg = Config::load(g.config.as_deref())?;
    if !args.iface.is_empty() || args.netns.is_some() {
        // the command line's interfaces, in place of the config's
        cfg.metrics.ifaces =
            nrec_model::filter::IfaceFilter::new(&args.iface, args.netns.as_ref(), &cfg.aliases);
    }
    let mut r = Reader::open(&g.db_read_path())?;
    let w = &args.window;
    let kind = args.table.map(Into::into);
    if w.given() {
        if args.textfile.is_some() {
            return Err(Error::usage(
                "--textfile takes the current values: drop the window (--since, --date …)",
            ));
        }
        let (window, tz) = super::window(w, Some("24h"))?;
        let settings = nrec_report::backfill::Settings {
            window: (window.start_ms(), window.end_ms()),
            step: args.resolution.map(crate::cli::Resolution::step),
            kind,
        };
        let done = nrec_report::backfill::write(&mut r, &settings, &cfg.metrics, out).map_err(
            |e| match e {
                nrec_report::backfill::HistoryError::Db(e) => e,
                nrec_report::backfill::HistoryError::Io(e) => nrec_report::output::write_error(e),
            },
        )?;
        if done.points == 0 && !g.quiet {
            // a document of `# EOF` alone is valid and says nothing: say why
            let why = match r.recording()?.last.map(|l| l.ts_ms) {
                None => "nothing is recorded yet".to_string(),
                Some(ts) if ts <= window.start_ms() => format!(
                    "the last sample ({}) is before it",
                    nrec_report::output::local_text(ts, &tz)
                ),
                Some(_) => "none of its samples holds these series".to_string(),
            };
            eprintln!("nrec: no history in {}: {why}", window.label);
        }
        return Ok(());
    }
    let tz = crate::clock::display_zone()?;
    let now = Clock::from_env()?.now().as_millisecond();
    let mut fams =
        nrec_report::metrics::collect(&mut r, now, &tz, &cfg.metrics, &Default::default())?;
    fams.retain(|f| nrec_report::metrics::family_in(f.name, kind));
    let Some(dir) = &args.textfile else {
        return openmetrics::render(&fams, Flavor::OpenMetrics, out)
            .map_err(nrec_report::output::write_error);
    };
    let mut body = Vec::new();
    openmetrics::render(&fams, Flavor::Prometheus, &mut body)
        .map_err(nrec_report::output::write_error)?;
    let fin = dir.join("nrec.prom");
    // the collector reads *.prom: the temporary name does not match, the rename is atomic
    let tmp = dir.join(format!(".nrec.prom.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &fin)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("cannot write", &fin, &e)
    })
}
