//! Systemd units by description (issue 17): a process's unit comes from its cgroup path
//! (`procs::unit_of`); what the unit *is* — `nginx.service - A high performance web server`,
//! as `systemctl status` says it — is the unit file's `Description=`, read from disk once per
//! unit name and kept by the store (`store::units`), so a report names a unit that was
//! removed since, and no sample asks systemd anything.
//!
//! The file is found as systemd finds it (systemd.unit(5), "Unit File Load Path"): the first
//! of the search directories below holding the unit's name, else its template
//! (`getty@tty1.service` → `getty@.service`); a unit masked (linked to /dev/null) has none.
//! Drop-ins (`NAME.d/*.conf`, the template's, the type's `service.d/`) apply in file-name
//! order across the directories, a name in an earlier directory hiding the same name in a
//! later one; the last `Description=` in `[Unit]` wins, an empty one resets it. The
//! specifiers a description uses in practice are expanded (`%i %I %f %n %N %p %P %%`).
//! All paths are under `NREC_UNIT_ROOT` (default `/`), so the tests can use fixtures.
//!
//! Unit files are untrusted input like any file: one longer than a bound is not read, a
//! description is cut at [`MAX_DESCRIPTION`] bytes, and what cannot be read costs the
//! description only.

use std::path::{Path, PathBuf};

/// The directories systemd (the system manager) loads units from, first wins.
const SEARCH: &[&str] = &[
    "etc/systemd/system.control",
    "run/systemd/system.control",
    "run/systemd/transient",
    "run/systemd/generator.early",
    "etc/systemd/system",
    "etc/systemd/system.attached",
    "run/systemd/system",
    "run/systemd/system.attached",
    "run/systemd/generator",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
    "run/systemd/generator.late",
];

/// A unit file (or drop-in) longer than this is not read; real ones are a few KiB.
const MAX_FILE: u64 = 64 << 10;
/// Drop-ins read per unit at most.
const MAX_DROPINS: usize = 64;
/// A description is cut to this many bytes (on a character boundary).
pub(crate) const MAX_DESCRIPTION: usize = 255;

fn root() -> PathBuf {
    std::env::var_os("NREC_UNIT_ROOT")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// The description of `unit` (`nginx.service`), None when no file says one.
pub fn description(unit: &str) -> Option<String> {
    description_in(&root(), unit)
}

/// [`description`] with the search directories under `root`.
pub(crate) fn description_in(root: &Path, unit: &str) -> Option<String> {
    // a user manager's unit (`nginx.service (user 1000)`) is described in that user's
    // files, not the system's: nothing is said rather than the system unit's description
    if unit.is_empty()
        || unit.len() > 255
        || unit.contains('/')
        || unit.starts_with('.')
        || unit.contains(' ')
    {
        return None;
    }
    let (stem, kind) = unit.rsplit_once('.')?;
    let template = stem
        .split_once('@')
        .filter(|(_, inst)| !inst.is_empty())
        .map(|(prefix, _)| format!("{prefix}@.{kind}"));
    let dirs: Vec<PathBuf> = SEARCH.iter().map(|d| root.join(d)).collect();
    // the unit's own file, else its template's, in the first directory that has one
    let file = [Some(unit.to_string()), template.clone()]
        .into_iter()
        .flatten()
        .find_map(|name| dirs.iter().map(|d| d.join(&name)).find(|p| p.exists()))?;
    if std::fs::canonicalize(&file).is_ok_and(|p| p == Path::new("/dev/null")) {
        return None; // masked
    }
    let mut desc = unit_description(&read(&file)?);
    // drop-ins: NAME.d, the template's, the type's (service.d), applied by file name; of two
    // with one name, the more specific directory's, then the earlier search directory's
    let mut names: Vec<(String, PathBuf)> = Vec::new();
    let dropin_dirs = [
        Some(format!("{unit}.d")),
        template.map(|t| format!("{t}.d")),
        Some(format!("{kind}.d")),
    ];
    for sub in dropin_dirs.iter().flatten() {
        for d in &dirs {
            let Ok(rd) = std::fs::read_dir(d.join(sub)) else {
                continue;
            };
            for e in rd.flatten().take(MAX_DROPINS) {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.ends_with(".conf") && !names.iter().any(|(m, _)| *m == n) {
                    names.push((n, e.path()));
                }
            }
        }
    }
    names.sort();
    for (_, p) in names.iter().take(MAX_DROPINS) {
        if let Some(d) = read(p).and_then(|t| unit_description(&t)) {
            desc = Some(d);
        }
    }
    let d = expand(&desc?, unit);
    (!d.is_empty()).then(|| cut(d))
}

/// A unit file's bytes: a regular file of at most [`MAX_FILE`] (a longer one is not read,
/// never cut), opened without blocking (a FIFO put in its place is refused).
fn read(path: &Path) -> Option<Vec<u8>> {
    nrec_sys::read_bounded(path, MAX_FILE).ok()
}

/// The last `Description=` of the `[Unit]` section (Some("") for an empty one, which resets
/// it), None when the file sets none. Continuation lines (a trailing `\`) are joined.
fn unit_description(text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    let mut section = String::new();
    let mut found = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut line = line.trim().to_string();
        while line.ends_with('\\') {
            line.pop();
            line.truncate(line.trim_end().len());
            match lines.next() {
                Some(next) if !next.trim_start().starts_with(['#', ';']) => {
                    line.push(' ');
                    line.push_str(next.trim());
                }
                Some(_) => {}
                None => break,
            }
        }
        if line.starts_with(['#', ';']) || line.is_empty() {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
            continue;
        }
        if section != "Unit" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == "Description" {
                found = Some(v.trim().to_string());
            }
        }
    }
    found
}

/// Expands the specifiers a description uses (`%i %I %f %n %N %p %P %%`); others stay as
/// written (systemd would know the host; a report should not guess it).
fn expand(desc: &str, unit: &str) -> String {
    let stem = unit.rsplit_once('.').map_or(unit, |(s, _)| s);
    let (prefix, instance) = stem.split_once('@').unwrap_or((stem, ""));
    let mut out = String::with_capacity(desc.len());
    let mut chars = desc.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i') => out.push_str(instance),
            Some('I') => out.push_str(&unescape(instance)),
            Some('n') => out.push_str(unit),
            Some('N') => out.push_str(stem),
            Some('p') => out.push_str(prefix),
            Some('P') => out.push_str(&unescape(prefix)),
            Some('f') => {
                let u = unescape(if instance.is_empty() {
                    prefix
                } else {
                    instance
                });
                if !u.starts_with('/') {
                    out.push('/');
                }
                out.push_str(&u);
            }
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// systemd-escape's inverse: `-` is `/`, `\xNN` a byte.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' => out.push(b'/'),
            b'\\' if b.get(i + 1) == Some(&b'x') => {
                match b
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => out.push(b'\\'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_DESCRIPTION {
        let mut end = MAX_DESCRIPTION;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn descriptions_are_found_as_systemd_finds_them() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // nginx's file as Debian ships it, then an admin's override in /etc
        write(
            r,
            "lib/systemd/system/nginx.service",
            "# comment\n[Unit]\nDescription=A high performance web server and a reverse proxy server\n\
             Documentation=man:nginx(8)\n\n[Service]\nDescription=not the unit's\nType=forking\n",
        );
        assert_eq!(
            description_in(r, "nginx.service").as_deref(),
            Some("A high performance web server and a reverse proxy server")
        );
        write(
            r,
            "etc/systemd/system/nginx.service",
            "[Unit]\nDescription=Front proxy\n",
        );
        assert_eq!(
            description_in(r, "nginx.service").as_deref(),
            Some("Front proxy")
        );
        // drop-ins override in file-name order; one in /etc hides the same name in /run
        write(
            r,
            "run/systemd/system/nginx.service.d/20-x.conf",
            "[Unit]\nDescription=from run\n",
        );
        write(
            r,
            "lib/systemd/system/nginx.service.d/10-a.conf",
            "[Unit]\nDescription=ten\n",
        );
        assert_eq!(
            description_in(r, "nginx.service").as_deref(),
            Some("from run")
        );
        write(
            r,
            "etc/systemd/system/nginx.service.d/20-x.conf",
            "[Unit]\nDescription=from etc\n",
        );
        assert_eq!(
            description_in(r, "nginx.service").as_deref(),
            Some("from etc")
        );
        // an empty Description= resets it: no description
        write(
            r,
            "etc/systemd/system/nginx.service.d/30-z.conf",
            "[Unit]\nDescription=\n",
        );
        assert_eq!(description_in(r, "nginx.service"), None);
        // a template instance, with specifiers (Debian's getty@.service)
        write(
            r,
            "lib/systemd/system/getty@.service",
            "[Unit]\nDescription=Getty on %I\n",
        );
        assert_eq!(
            description_in(r, "getty@tty1.service").as_deref(),
            Some("Getty on tty1")
        );
        write(
            r,
            "lib/systemd/system/systemd-fsck@.service",
            "[Unit]\nDescription=File System Check on %f (%I, %n, %p, 100%%)\n",
        );
        assert_eq!(
            description_in(r, "systemd-fsck@dev-disk-by\\x2duuid-AB.service").as_deref(),
            Some(
                "File System Check on /dev/disk/by-uuid/AB (dev/disk/by-uuid/AB, systemd-fsck@dev-disk-by\\x2duuid-AB.service, systemd-fsck, 100%)"
            )
        );
        // a transient scope (logind's session), continuation lines
        write(
            r,
            "run/systemd/transient/session-2.scope",
            "# This is a transient unit file\n[Unit]\nDescription=Session 2 \\\n  of User root\n",
        );
        assert_eq!(
            description_in(r, "session-2.scope").as_deref(),
            Some("Session 2 of User root")
        );
        // unknown, masked, hostile names: nothing, never a path outside the search dirs
        assert_eq!(description_in(r, "absent.service"), None);
        std::fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
        std::os::unix::fs::symlink("/dev/null", r.join("etc/systemd/system/masked.service"))
            .unwrap();
        assert_eq!(description_in(r, "masked.service"), None);
        assert_eq!(description_in(r, "../../etc/passwd"), None);
        assert_eq!(description_in(r, ""), None);
    }

    #[test]
    fn a_long_or_hostile_description_is_cut_and_kept_as_text() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let long = "é".repeat(400);
        write(
            r,
            "etc/systemd/system/long.service",
            &format!("[Unit]\nDescription={long}\n"),
        );
        let d = description_in(r, "long.service").unwrap();
        assert!(d.len() <= MAX_DESCRIPTION && d.len() >= MAX_DESCRIPTION - 1);
        assert!(d.chars().all(|c| c == 'é'));
        std::fs::write(
            r.join("etc/systemd/system/evil.service"),
            b"[Unit]\nDescription=<script>\x1b[2J\xff\n",
        )
        .unwrap();
        // kept as it is (output escapes it), invalid UTF-8 replaced
        assert_eq!(
            description_in(r, "evil.service").as_deref(),
            Some("<script>\u{1b}[2J\u{fffd}")
        );
    }
}
