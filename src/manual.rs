//! The manual: `nrec(1)`, one `nrec-COMMAND(1)` per subcommand and `nrec.toml(5)`, written by
//! `nrec --nrec-internal-man DIR` (scripts/deb.sh runs it for the package).
//!
//! Nothing here is written twice. Synopses and options come from the clap definitions that
//! `--help` prints (clap_mangen); the long explanations — counting rules, exit codes, files,
//! environment, the config file — are the README's own sections, compiled in and turned from
//! their Markdown subset (paragraphs, `-` lists, tables, code blocks, `**bold**`, `` `code` ``,
//! links) into roff. A README edit is a man page edit.

use clap::CommandFactory;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const README: &str = include_str!("../README.md");

/// README sections (by their `## ` heading, which must exist: a test renders every page) and
/// the man section name they become.
const NREC_SECTIONS: &[(&str, &str)] = &[
    ("How nrec counts", "HOW NREC COUNTS"),
    ("Retention and rollups", "RETENTION AND ROLLUPS"),
    ("Limits — what nrec cannot see (this release)", "LIMITS"),
    ("Exit codes", "EXIT STATUS"),
    ("Files and environment", "FILES AND ENVIRONMENT"),
];
const CONFIG_SECTIONS: &[(&str, &str)] = &[
    ("Configuration file", "DESCRIPTION"),
    ("Retention and rollups", "RETENTION AND ROLLUPS"),
    ("Alerts and quotas", "ALERTS AND QUOTAS"),
];

/// Writes every page into `dir` (created); returns the files written.
pub fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = crate::cli::Cli::command();
    cmd.build();
    let mut written = Vec::new();
    let mut put = |name: String, text: Vec<u8>| -> io::Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, text)?;
        written.push(p);
        Ok(())
    };

    let mut top = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone()).date(date());
    man.render_title(&mut top)?;
    man.render_name_section(&mut top)?;
    man.render_synopsis_section(&mut top)?;
    writeln!(top, ".SH DESCRIPTION")?;
    top.extend(markdown(intro()).into_bytes());
    man.render_options_section(&mut top)?;
    man.render_subcommands_section(&mut top)?;
    for (heading, name) in NREC_SECTIONS {
        section(&mut top, name, heading)?;
    }
    see_also(&mut top, &cmd, None)?;
    man.render_version_section(&mut top)?;
    put("nrec.1".into(), top)?;

    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("nrec-{}", sub.get_name());
        let mut page = Vec::new();
        let man = clap_mangen::Man::new(sub.clone().name(name.clone()))
            .title(name.clone())
            .date(date());
        man.render_title(&mut page)?;
        man.render_name_section(&mut page)?;
        man.render_synopsis_section(&mut page)?;
        man.render_description_section(&mut page)?;
        if let Some(text) = command_section(sub.get_name()) {
            writeln!(page, ".SH DETAILS")?;
            page.extend(markdown(text).into_bytes());
        }
        man.render_options_section(&mut page)?;
        man.render_subcommands_section(&mut page)?;
        section(&mut page, "EXIT STATUS", "Exit codes")?;
        see_also(&mut page, &cmd, Some(sub.get_name()))?;
        put(format!("{name}.1"), page)?;
    }

    let mut conf = Vec::new();
    writeln!(
        conf,
        ".TH NREC.TOML 5 \"{}\" \"nrec {}\"",
        date(),
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(conf, ".SH NAME\nnrec.toml \\- nrec's configuration file")?;
    writeln!(
        conf,
        ".SH SYNOPSIS\n/etc/nrec/nrec.toml, or \\fB\\-\\-config\\fR \\fIPATH\\fR, or \\fBNREC_CONFIG\\fR"
    )?;
    for (heading, name) in CONFIG_SECTIONS {
        section(&mut conf, name, heading)?;
    }
    writeln!(conf, ".SH SEE ALSO\n.BR nrec (1), .BR nrec\\-alerts (1)")?;
    put("nrec.toml.5".into(), conf)?;
    Ok(written)
}

/// The page date: the build's `SOURCE_DATE_EPOCH` (reproducible packages) or none.
fn date() -> String {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The README's opening paragraphs (before its first `## `).
fn intro() -> &'static str {
    let body = README.split_once('\n').map_or("", |(_, b)| b);
    body.find("\n## ").map_or(body, |i| &body[..i])
}

/// The body of the README section headed `## {heading}`, up to the next `## `.
pub fn readme_section(heading: &str) -> Option<&'static str> {
    let start = README.find(&format!("\n## {heading}\n"))? + heading.len() + 5;
    let body = &README[start..];
    Some(body.find("\n## ").map_or(body, |i| &body[..i]))
}

/// A subcommand's own README section (`### \`nrec NAME\` …`), when it has one.
fn command_section(name: &str) -> Option<&'static str> {
    let needle = format!("\n### `nrec {name}`");
    let alt = format!("`{name}`");
    let start = README.find(&needle).or_else(|| {
        README
            .match_indices("\n### ")
            .map(|(i, _)| i)
            .find(|&i| README[i..].lines().nth(1).is_some_and(|l| l.contains(&alt)))
    })?;
    let body = &README[start + 1..];
    let body = &body[body.find('\n')? + 1..];
    let end = body
        .find("\n### ")
        .into_iter()
        .chain(body.find("\n## "))
        .min()
        .unwrap_or(body.len());
    Some(&body[..end])
}

fn section(out: &mut Vec<u8>, name: &str, heading: &str) -> io::Result<()> {
    let body = readme_section(heading).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("README has no section {heading:?}"),
        )
    })?;
    writeln!(out, ".SH {name}")?;
    out.extend(markdown(body).into_bytes());
    Ok(())
}

fn see_also(out: &mut Vec<u8>, cmd: &clap::Command, this: Option<&str>) -> io::Result<()> {
    let mut refs: Vec<String> = Vec::new();
    if this.is_some() {
        refs.push(".BR nrec (1)".into());
    }
    refs.extend(
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help" && Some(s.get_name()) != this)
            .map(|s| format!(".BR nrec\\-{} (1)", roff_text(s.get_name()))),
    );
    refs.push(".BR nrec.toml (5)".into());
    refs.push(".BR sar (1)".into());
    refs.push(".BR vnstat (1)".into());
    let n = refs.len();
    writeln!(out, ".SH SEE ALSO")?;
    for (i, r) in refs.into_iter().enumerate() {
        writeln!(out, "{r}{}", if i + 1 < n { "," } else { "" })?;
    }
    Ok(())
}

/// Escapes text for roff: backslashes, hyphens (so `--since` stays ASCII when copied from
/// the rendered page), and a line-leading `.` or `'` that roff would take as a request.
fn roff_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\e"),
            '-' => o.push_str("\\-"),
            _ => o.push(c),
        }
    }
    o
}

/// Inline Markdown → roff: `**bold**` and `` `code` `` bold, `*em*` italic, links as their text.
fn inline(s: &str) -> String {
    let mut o = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("**") {
            if let Some(end) = r.find("**") {
                o.push_str(&format!("\\fB{}\\fR", inline(&r[..end])));
                rest = &r[end + 2..];
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix('`') {
            if let Some(end) = r.find('`') {
                o.push_str(&format!("\\fB{}\\fR", roff_text(&r[..end])));
                rest = &r[end + 1..];
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix('*') {
            if let Some(end) = r.find('*').filter(|&e| e > 0 && !r.starts_with(' ')) {
                o.push_str(&format!("\\fI{}\\fR", inline(&r[..end])));
                rest = &r[end + 1..];
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix('[') {
            if let Some(close) = r.find("](") {
                if let Some(end) = r[close..].find(')') {
                    o.push_str(&inline(&r[..close]));
                    rest = &r[close + end + 1..];
                    continue;
                }
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        o.push_str(&roff_text(&c.to_string()));
        rest = &rest[c.len_utf8()..];
    }
    o
}

/// A line of roff text: a leading `.` or `'` would be a request.
fn line(s: &str) -> String {
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s.to_string()
    }
}

/// The README's Markdown subset → roff.
pub fn markdown(md: &str) -> String {
    let mut out = String::new();
    let mut para: Vec<String> = Vec::new();
    let flush = |para: &mut Vec<String>, out: &mut String| {
        if !para.is_empty() {
            out.push_str(&line(&inline(&para.join(" "))));
            out.push('\n');
            para.clear();
        }
    };
    let mut lines = md.lines().peekable();
    let mut in_item = false;
    while let Some(l) = lines.next() {
        let t = l.trim_end();
        if t.starts_with("<!--") {
            continue;
        }
        if t.trim_start().starts_with("```") {
            flush(&mut para, &mut out);
            // a block inside a list item is indented like the item's text: drop that much
            let indent = t.len() - t.trim_start().len();
            out.push_str(if in_item {
                ".RS 2\n.nf\n"
            } else {
                ".PP\n.nf\n"
            });
            for code in lines.by_ref() {
                if code.trim_start().starts_with("```") {
                    break;
                }
                let cut = code.len() - code.trim_start().len();
                out.push_str(&line(&roff_text(&code[cut.min(indent)..])));
                out.push('\n');
            }
            out.push_str(if in_item { ".fi\n.RE\n" } else { ".fi\n" });
            continue;
        }
        if t.is_empty() {
            flush(&mut para, &mut out);
            in_item = false;
            continue;
        }
        if let Some(row) = t.strip_prefix('|') {
            flush(&mut para, &mut out);
            let cells: Vec<&str> = row
                .trim_end_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            let header = lines.peek().is_some_and(|n| n.starts_with("|---"));
            if header {
                lines.next();
                continue;
            }
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
            {
                continue;
            }
            out.push_str(&format!(
                ".TP\n{}\n",
                line(&format!("\\fB{}\\fR", inline(cells[0])))
            ));
            out.push_str(&line(&inline(&cells[1..].join(" \u{2014} "))));
            out.push('\n');
            continue;
        }
        if let Some(h) = t.strip_prefix("### ") {
            flush(&mut para, &mut out);
            out.push_str(&format!(".SS {}\n", inline(h)));
            continue;
        }
        if let Some(item) = t.strip_prefix("- ") {
            flush(&mut para, &mut out);
            out.push_str(".IP \\(bu 2\n");
            para.push(item.to_string());
            in_item = true;
            continue;
        }
        if para.is_empty() && !in_item {
            out.push_str(".PP\n");
        }
        para.push(t.trim_start().to_string());
    }
    flush(&mut para, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_subset_becomes_roff() {
        let r = markdown(
            "A **bold** `--since 7d` and [a link](http://x).\n\n- one\n  two\n\n| code | meaning |\n|---|---|\n| 0 | ok |\n\n```toml\n[retention]\nraw = \"14d\"\n```\n.dot\n",
        );
        assert!(
            r.starts_with(".PP\nA \\fBbold\\fR \\fB\\-\\-since 7d\\fR and a link."),
            "{r}"
        );
        assert!(r.contains(".IP \\(bu 2\none two\n"), "{r}");
        assert!(r.contains(".TP\n\\fB0\\fR\nok\n"), "{r}");
        assert!(!r.contains("code"), "the header row is dropped: {r}");
        assert!(r.contains(".nf\n[retention]\nraw = \"14d\"\n.fi\n"), "{r}");
        assert!(r.contains("\\&.dot"), "a leading dot is not a request: {r}");
    }

    #[test]
    fn every_readme_section_the_pages_use_exists() {
        for (h, _) in NREC_SECTIONS.iter().chain(CONFIG_SECTIONS) {
            assert!(readme_section(h).is_some(), "README lacks ## {h}");
        }
        assert!(command_section("report").is_some());
        assert!(
            command_section("top-ports").is_some(),
            "named in a shared heading"
        );
    }

    #[test]
    fn every_environment_variable_nrec_reads_is_in_the_manual() {
        let files = readme_section("Files and environment").unwrap_or_default();
        fn walk(dir: &Path, out: &mut String) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
                }
            }
        }
        let mut src = String::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut src);
        // this file's own test strings are not variables nrec reads
        let src = src.replace("NREC_SECTIONS", "").replace("NREC_\"", "");
        let mut names: Vec<&str> = src
            .match_indices("NREC_")
            .map(|(i, _)| {
                let rest = &src[i..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .filter(|n| n.len() > 5)
            .collect();
        names.sort();
        names.dedup();
        assert!(names.len() >= 8, "{names:?}");
        for n in names {
            assert!(
                files.contains(&format!("`{n}")),
                "{n} is not in the README's Files and environment"
            );
        }
    }
}
