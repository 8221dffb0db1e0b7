//! `nrec serve`: `GET /metrics` for Prometheus, from the database, read-only (never collects,
//! never writes; works while the timer or the daemon records).
//!
//! A deliberately small HTTP/1.1 server on std (one request per connection, GET and HEAD
//! only): a scraper needs no more, and every limit is ours to set. A slow or hostile client
//! cannot block recording (the server holds no lock: each scrape is one read transaction) or
//! exhaust memory: each connection has a thread, at most [`MAX_CONNS`] at once (beyond, 503 at
//! once); a request head is at most [`MAX_HEAD`] bytes and must arrive within
//! [`HEAD_DEADLINE`]; at most [`WORKERS`] scrapes read the database at once (the others wait
//! their turn); a response that cannot be written within [`WRITE_DEADLINE`] is abandoned.
//! Connections that have not sent their request head yet are the ones a full server sheds:
//! a new connection when all [`MAX_CONNS`] are taken closes the one that has waited longest
//! among those that have sent nothing at all (else the one that has waited longest for the
//! rest of its head), so idle sockets (however many, from whatever peer) cannot keep a scraper
//! out — nor shed a scraper whose request is on its way; only connections that are being
//! answered make a newcomer wait for a 503.
//!
//! `--web-config` (the exporter web configuration file, `remote::web`) adds TLS (rustls; the
//! handshake in the connection's thread, within the head's deadline) and basic
//! authentication (bcrypt, checked in a reading turn) to every path.

use crate::cli::ServeArgs;
use crate::clock::Clock;
use crate::cmd::Global;
use crate::config::Config;
use nrec_model::error::{Error, Result};
use nrec_report::output::openmetrics::{self, Flavor};
use nrec_store::{AllTimeCache, Reader};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
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
    /// Connections still waiting for their request head, in accept order (entries are only
    /// appended and removed) — the ones a full server sheds.
    waiting: Mutex<Vec<Waiting>>,
    /// `--web-config`: TLS and basic authentication (None: plain HTTP, anyone may ask).
    web: Option<crate::remote::web::Web>,
}

/// A connection still waiting for its request head.
struct Waiting {
    /// Its number, in accept order.
    id: u64,
    /// A handle to close it by (and to see whether bytes have arrived).
    stream: Stream,
    /// Its thread has read a first part of the head.
    spoke: bool,
}

/// Connections beyond [`MAX_CONNS`] while shed ones end (their threads see the close at once).
const SHED_SLACK: usize = 16;

pub fn run(args: &ServeArgs, g: &Global) -> Result<()> {
    let cfg = Config::load(g.config.as_deref())?;
    let clock = Clock::from_env()?.advancing();
    let web = match args.web_config.as_ref().or(cfg.web_config.as_ref()) {
        Some(p) => Some(crate::remote::web::Web::load(p)?),
        None => None,
    };
    let tls = web.as_ref().is_some_and(|w| w.tls.is_some());
    if tls && args.listen.starts_with("unix:") {
        return Err(Error::usage(
            "--web-config: tls_server_config is for a TCP address, not --listen unix:PATH (its mode already says who may connect)",
        ));
    }
    let listener = Listener::bind(&args.listen)?;
    if !g.quiet {
        let mut what = listener.describe();
        if tls {
            what = what.replacen("http://", "https://", 1);
        }
        eprintln!(
            "nrec: serving {what}{} from {}",
            if web.as_ref().is_some_and(|w| w.needs_auth()) {
                " (basic authentication)"
            } else {
                ""
            },
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
        waiting: Mutex::new(Vec::new()),
        web,
    });
    let mut number = 0u64;
    loop {
        let Some(mut s) = listener.accept() else {
            // out of descriptors, say: a moment for connections to end
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let n = ctx.conns.fetch_add(1, Ordering::SeqCst);
        // full: close the connection that has waited longest without a request, if any
        if (MAX_CONNS..MAX_CONNS + SHED_SLACK).contains(&n) && ctx.shed_idlest() {
            // the newcomer takes its place
        } else if n >= MAX_CONNS {
            ctx.conns.fetch_sub(1, Ordering::SeqCst);
            if tls {
                // a plain-text 503 means nothing to a TLS client; a handshake here would
                // block the accept loop: the connection is closed
                s.shutdown_both();
                continue;
            }
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = respond(
                &mut s,
                "503 Service Unavailable",
                "text/plain",
                b"busy\n",
                false,
            );
            s.finish_now();
            continue;
        }
        number += 1;
        let id = number;
        if let Some(handle) = s.try_clone() {
            ctx.waiting_list().push(Waiting {
                id,
                stream: handle,
                spoke: false,
            });
        }
        let c = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("nrec-serve".into())
            // TLS and bcrypt need more than a plain scrape (256 KiB overflowed)
            .stack_size(1024 * 1024)
            .spawn(move || {
                // a bug in one scrape must not take the server with it
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(&c, id, s)));
                c.answered(id);
                c.conns.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            ctx.answered(id);
            ctx.conns.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Ctx {
    fn waiting_list(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connection `id` has sent its head (or ended): no longer one to shed.
    fn answered(&self, id: u64) {
        self.waiting_list().retain(|w| w.id != id);
    }

    /// Connection `id` has sent a first part of its head: shed after those that sent nothing.
    fn spoke(&self, id: u64) {
        if let Some(w) = self.waiting_list().iter_mut().find(|w| w.id == id) {
            w.spoke = true;
        }
    }

    /// Closes the connection that has waited longest among those that have sent nothing (no
    /// byte read, none arrived), else the one that has waited longest for the rest of its
    /// head; false when every connection is being answered.
    fn shed_idlest(&self) -> bool {
        let mut w = self.waiting_list();
        let silent = w.iter().position(|c| !c.spoke && !c.stream.has_arrived());
        let Some(i) = silent.or((!w.is_empty()).then_some(0)) else {
            return false;
        };
        w.remove(i).stream.shutdown_both();
        true
    }
}

/// Where `serve` listens: `ADDR:PORT`, or `unix:PATH` — a socket file only its owner and group
/// may connect to (mode 0660), for a scraper or proxy on this host whose group is given
/// access, where a TCP port would let every local user read the per-process history.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, std::path::PathBuf),
}

impl Listener {
    fn bind(listen: &str) -> Result<Listener> {
        let bad =
            |e: std::io::Error| Error::usage(format!("--listen {listen}: cannot listen: {e}"));
        let Some(path) = listen.strip_prefix("unix:") else {
            return TcpListener::bind(listen).map(Listener::Tcp).map_err(bad);
        };
        let path = std::path::PathBuf::from(path);
        if path.as_os_str().is_empty() {
            return Err(Error::usage(
                "--listen unix:PATH: the socket's path is missing",
            ));
        }
        // a socket left by an earlier serve is replaced; anything else at the path is not
        // ours to remove (nor followed: a link there is refused)
        match std::fs::symlink_metadata(&path) {
            Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
                std::fs::remove_file(&path).map_err(bad)?;
            }
            Ok(_) => {
                return Err(Error::usage(format!(
                    "--listen {listen}: {} exists and is not a socket; not replaced",
                    path.display()
                )));
            }
            Err(_) => {}
        }
        let l = UnixListener::bind(&path).map_err(bad)?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o660))
            .map_err(bad)?;
        Ok(Listener::Unix(l, path))
    }

    fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map_or_else(
                |_| "http://?/metrics".into(),
                |a| format!("http://{a}/metrics"),
            ),
            Listener::Unix(_, p) => format!("GET /metrics on unix:{}", p.display()),
        }
    }

    /// The next connection; None when accepting failed (the loop goes on).
    fn accept(&self) -> Option<Stream> {
        match self {
            Listener::Tcp(l) => l.accept().ok().map(|(s, _)| Stream::Tcp(s)),
            Listener::Unix(l, _) => l.accept().ok().map(|(s, _)| Stream::Unix(s)),
        }
    }
}

/// One connection: TCP, Unix, or TLS on TCP (`--web-config`).
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(d),
            Stream::Unix(s) => s.set_read_timeout(d),
            Stream::Tls(s) => s.sock.set_read_timeout(d),
        }
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(d),
            Stream::Unix(s) => s.set_write_timeout(d),
            Stream::Tls(s) => s.sock.set_write_timeout(d),
        }
    }
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(on),
            Stream::Unix(s) => s.set_nonblocking(on),
            Stream::Tls(s) => s.sock.set_nonblocking(on),
        }
    }
    fn try_clone(&self) -> Option<Stream> {
        match self {
            Stream::Tcp(s) => s.try_clone().ok().map(Stream::Tcp),
            Stream::Unix(s) => s.try_clone().ok().map(Stream::Unix),
            Stream::Tls(s) => s.sock.try_clone().ok().map(Stream::Tcp),
        }
    }
    /// Bytes have arrived that nobody has read yet (a peek that does not wait and leaves them
    /// for the connection's thread; the descriptor's own mode is not changed, as another
    /// thread reads it).
    fn has_arrived(&self) -> bool {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.sock.as_raw_fd(),
        };
        let mut b = 0u8;
        // SAFETY: a one-byte buffer this function owns, on an open descriptor.
        let n = unsafe {
            libc::recv(
                fd,
                (&mut b as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n > 0
    }
    /// Makes a read blocked on the connection return at once (it is being shed).
    fn shutdown_both(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Tls(s) => s.sock.shutdown(std::net::Shutdown::Both),
        };
    }
    fn shutdown_write(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tls(s) => {
                // TLS's own end first, so the client knows the answer is whole
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
                s.sock.shutdown(std::net::Shutdown::Write)
            }
        };
    }

    /// Ends the connection without a reset: the answer is sent (write side shut), then what
    /// the client sent that was not read — the rest of a request, a pipelined one — is read
    /// and dropped, at most 64 KiB and `wait`, so closing does not discard unread bytes
    /// (which makes the kernel answer with a reset that can overtake the response).
    fn finish(mut self, wait: Duration) {
        self.shutdown_write();
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            let Some(t) = wait.checked_sub(start.elapsed()).filter(|t| !t.is_zero()) else {
                break;
            };
            if wait.is_zero() || self.set_read_timeout(Some(t)).is_err() {
                break;
            }
            match self.read(&mut buf) {
                Ok(n) if n > 0 => left = left.saturating_sub(n),
                _ => break,
            }
        }
    }

    /// [`Stream::finish`] without waiting: only what has already arrived is read (the accept
    /// loop's busy answer must not block the next accept).
    fn finish_now(self) {
        if self.set_nonblocking(true).is_ok() {
            let mut me = self;
            let mut buf = [0u8; 4096];
            for _ in 0..16 {
                match me.read(&mut buf) {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            me.shutdown_write();
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
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

/// Where the request head's blank line starts (CRLF or LF line ends), if it has arrived.
fn head_end(b: &[u8]) -> Option<usize> {
    (0..b.len()).find(|&i| {
        b[i..].starts_with(b"\r\n\r\n")
            || b[i..].starts_with(b"\n\n")
            || b[i..].starts_with(b"\n\r\n")
    })
}

/// The path of a request target: origin-form (`/metrics?x`) or absolute-form
/// (`http://host:port/metrics`, RFC 9112 §3.2.2), without its query.
fn target_path(target: &str) -> &str {
    let t = match target.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest.find('/').map_or("/", |i| &rest[i..])
        }
        _ => target,
    };
    t.split('?').next().unwrap_or("")
}

/// Reads the request head (up to the blank line), within the size and time bounds; `spoke` is
/// called once, when its first bytes are read.
fn read_head(s: &mut Stream, spoke: impl FnOnce()) -> std::result::Result<Vec<u8>, &'static str> {
    let mut spoke = Some(spoke);
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
        if let Some(f) = spoke.take() {
            f();
        }
        head.extend_from_slice(&buf[..n]);
        // the blank line ends the head: CRLF CRLF, or bare LFs as RFC 9112 §2.2 lets a
        // server accept
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
    }
}

fn respond(
    s: &mut Stream,
    status: &str,
    ctype: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    respond_with(s, status, ctype, &[], body, head_only)
}

fn respond_with(
    s: &mut Stream,
    status: &str,
    ctype: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let extra: String = extra.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    s.write_all(&out)?;
    s.flush()
}

fn handle(ctx: &Ctx, id: u64, mut s: Stream) {
    // TLS: the handshake happens in this connection's thread, within the head's deadline
    // (its first read), never in the accept loop
    if let (Some(cfg), Stream::Tcp(_)) = (ctx.web.as_ref().and_then(|w| w.tls.clone()), &s) {
        let Stream::Tcp(tcp) = s else { return };
        match rustls::ServerConnection::new(cfg) {
            Ok(c) => s = Stream::Tls(Box::new(rustls::StreamOwned::new(c, tcp))),
            Err(_) => return,
        }
    }
    answer(ctx, id, &mut s);
    s.finish(Duration::from_millis(500));
}

/// Reads one request and answers it (every path ends in [`handle`]'s `finish`).
fn answer(ctx: &Ctx, id: u64, s: &mut Stream) {
    let _ = s.set_write_timeout(Some(WRITE_DEADLINE));
    let head = read_head(s, || ctx.spoke(id));
    // a request (or a failed one) is no longer an idle connection to shed
    ctx.answered(id);
    let head = match head {
        Ok(h) => h,
        Err(status) => {
            let _ = respond(s, status, "text/plain", b"", false);
            return;
        }
    };
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut req = lines.next().unwrap_or("").split(' ');
    let (method, target) = (req.next().unwrap_or(""), req.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let _ = respond(
            s,
            "405 Method Not Allowed",
            "text/plain",
            b"GET or HEAD\n",
            false,
        );
        return;
    }
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    if let Some(web) = ctx.web.as_ref().filter(|w| w.needs_auth()) {
        // bcrypt is slow on purpose: checked in a reading turn, so guesses cannot take
        // more than WORKERS cores
        let turn = Turn::take(&ctx.reading);
        let ok = web.allows(header("authorization"));
        drop(turn);
        if !ok {
            let _ = respond_with(
                s,
                "401 Unauthorized",
                "text/plain",
                &[("WWW-Authenticate", "Basic realm=\"nrec\"")],
                b"authentication required\n",
                head_only,
            );
            return;
        }
    }
    let path = target_path(target);
    match path {
        "/metrics" => {}
        "/" => {
            let body = b"<html><head><title>nrec</title></head><body><h1>nrec</h1><p><a href=\"/metrics\">metrics</a></p></body></html>\n";
            let _ = respond(s, "200 OK", "text/html; charset=utf-8", body, head_only);
            return;
        }
        _ => {
            let _ = respond(
                s,
                "404 Not Found",
                "text/plain",
                b"not found; try /metrics\n",
                head_only,
            );
            return;
        }
    }
    let accept = header("accept")
        .map(str::to_ascii_lowercase)
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
            let _ = respond(s, "200 OK", flavor.content_type(), &body, head_only);
        }
        Err(e) => {
            if ctx.g.verbose > 0 {
                eprintln!("nrec: scrape failed: {e}");
            }
            let body = format!("{e}\n");
            let _ = respond(
                s,
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
            rank: (window.start_ms(), window.end_ms()),
            every: false,
        };
        let done = nrec_report::backfill::write(&mut r, &settings, &cfg.metrics, out).map_err(
            |e| match e {
                nrec_report::backfill::HistoryError::Db(e) => e,
                nrec_report::backfill::HistoryError::Io(e) => nrec_report::output::write_error(e),
                nrec_report::backfill::HistoryError::Sink(e) => Error::failure(e),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 32 item 7: heads with bare LFs end where their blank line is; absolute-form
    /// targets name their path.
    #[test]
    fn requests_are_read_as_rfc_9112_allows() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Some(23));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: x\n\n"), Some(22));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: x\n"), None);
        assert_eq!(target_path("/metrics?x=1"), "/metrics");
        assert_eq!(target_path("http://127.0.0.1:9/metrics"), "/metrics");
        assert_eq!(target_path("HTTP://h"), "/");
        assert_eq!(target_path("ftp://h/metrics"), "ftp://h/metrics");
    }
}
