//! `nrec html`: one self-contained page of a window — what `report`, `top-*`, `summary` and
//! `status` print, as their pictures and tables, composed. Each part is exactly that command's
//! output (`--format svg`, or its table), run through the same dispatch as the command line,
//! so the page cannot say anything the commands do not.
//!
//! Self-contained: no script, no request — the pictures are inline SVG, the stylesheet is in
//! the page; it reads from a file or an e-mail attachment, light or dark, and prints. It is
//! also well-formed XML (polyglot HTML), so a strict parser reads it too.

use super::Global;
use crate::cli::{Cli, HtmlArgs};
use clap::Parser;
use nrec_model::error::{Error, Result};
use nrec_report::output::svg::{xml as html, xml_lines};
use nrec_report::output::{local_text, write_error};
use nrec_store::Reader;
use std::ffi::OsString;
use std::io::Write;

const STYLE: &str = "body{font-family:DejaVu Sans,Verdana,sans-serif;margin:1.5em auto;max-width:900px;\
color:#222;background:#fff}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;\
border-bottom:1px solid #ccc}pre{font-size:11px;overflow-x:auto;background:#f6f6f6;padding:.6em}\
section{break-inside:avoid}svg{max-width:100%;height:auto;display:block}.meta{color:#666}\
@media (prefers-color-scheme:dark){body{color:#ddd;background:#1b1b1b}pre{background:#262626}\
h2{border-color:#444}.meta{color:#999}}@media print{body{max-width:none}pre{white-space:pre-wrap}}";

pub fn run(args: &HtmlArgs, g: &Global, out: &mut dyn Write) -> Result<()> {
    if args.limit == 0 {
        return Err(Error::usage("--limit must be at least 1"));
    }
    let (window, tz) = super::window(&args.window, None)?;
    let path = g.db_read_path();
    // the database is checked once, before any part: a bad one is one error, not six
    let host = Reader::open(&path)?
        .last_host()?
        .map(|h| nrec_model::names::escape_bytes(&h.hostname));
    let win = args.window.to_argv();
    let limit = args.limit.to_string();
    // Each part runs as `nrec --db PATH ARGS…` would, its notes said once (the first part's).
    let part = |argv: &[&str], with_window: bool, quiet: bool| -> Result<String> {
        let mut full: Vec<OsString> = vec!["nrec".into(), "--db".into(), path.clone().into()];
        full.extend(argv.iter().map(OsString::from));
        if with_window {
            full.extend(win.iter().map(OsString::from));
        }
        let cli = Cli::try_parse_from(full)
            .map_err(|e| Error::failure(format!("html: {}", e.to_string().trim())))?;
        let pg = Global {
            db: Some(path.clone()),
            config: g.config.clone(),
            verbose: 0,
            quiet: quiet || g.quiet,
            aliases: g.aliases.clone(),
        };
        let mut buf = Vec::new();
        super::run(&cli.command, &pg, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    let svg = |argv: &[&str], with_window: bool| -> Result<String> {
        part(&[argv, &["--format", "svg"]].concat(), with_window, true)
    };
    let text = |argv: &[&str], with_window: bool| -> Result<String> {
        part(argv, with_window, true).map(|t| format!("<pre>{}</pre>", xml_lines(&t)))
    };
    let mut sections: Vec<(&str, String)> = Vec::new();
    // the first part says the notes (rollups standing in for pruned samples, no samples)
    sections.push((
        "Interfaces",
        part(&["report", "-n", "DEV", "--format", "svg"], true, false)?,
    ));
    sections.push(("Sockets", svg(&["report", "-n", "SOCK,SOCK6"], true)?));
    for (title, cmd) in [
        ("Processes", "top-procs"),
        ("Ports", "top-ports"),
        ("Remote hosts", "top-hosts"),
    ] {
        let argv = [cmd, "--limit", limit.as_str()];
        sections.push((title, svg(&argv, true)? + &text(&argv, true)?));
    }
    // vnStat's views are their own periods (the window narrows the hours to it)
    sections.push(("Hours", svg(&["summary", "--hourly"], !win.is_empty())?));
    sections.push(("Days", svg(&["summary", "--daily"], false)?));
    sections.push(("Months", svg(&["summary", "--monthly"], false)?));
    sections.push(("Top days", svg(&["summary", "--top-days", "10"], false)?));
    sections.push(("Recorder", text(&["status"], false)?));
    let title = format!(
        "nrec — {} — {}",
        host.as_deref().unwrap_or("(no samples)"),
        window.label
    );
    let mut page = String::with_capacity(1 << 20);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"/>");
    page.push_str(&format!(
        "<title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>",
        html(&title),
        html(&title)
    ));
    page.push_str(&format!(
        "<p class=\"meta\">{} – {} ({}); written {} by nrec {}</p>",
        local_text(window.start_ms(), &tz),
        local_text(window.end_ms(), &tz),
        html(tz.iana_name().unwrap_or("local time")),
        local_text(crate::clock::Clock::from_env()?.now().as_millisecond(), &tz),
        env!("CARGO_PKG_VERSION")
    ));
    for (title, body) in &sections {
        page.push_str(&format!("<section><h2>{title}</h2>{body}</section>\n"));
    }
    page.push_str("</body></html>\n");
    out.write_all(page.as_bytes()).map_err(write_error)
}
