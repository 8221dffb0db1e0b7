//! `[[remote_write]]` tables of the config, checked into [`Target`]s (what the config module
//! parses; the push itself is the parent module's).

use super::http;
use nrec_model::error::{Error, Result};
use nrec_model::time::DAY_MS;
use nrec_report::output::remote_write::OWN_LABELS;
use nrec_store::rollup::Kind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Samples per request unless `batch` says otherwise.
pub const DEFAULT_BATCH: u64 = 5_000;
/// A push's deadline unless `timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// `[[remote_write]]` as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    url: String,
    name: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    families: Option<Vec<String>>,
    backfill: Option<String>,
    timeout: Option<String>,
    batch: Option<u64>,
    basic_auth: Option<BasicAuthFile>,
    bearer_token_file: Option<PathBuf>,
    tls: Option<TlsFile>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct BasicAuthFile {
    username: String,
    password_file: PathBuf,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

/// One checked target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its key in the database and in messages (the URL without its query unless named).
    pub name: String,
    pub url: String,
    /// The config's extra labels (`job` and `instance` filled in at push time when absent).
    pub labels: BTreeMap<String, String>,
    pub kinds: Vec<Kind>,
    /// A new target's first push starts this long before the newest sample (else at it).
    pub backfill_ms: i64,
    pub timeout: Duration,
    pub batch: u64,
    pub auth: http::Auth,
    pub tls: http::Tls,
}

const FAMILIES: [(&str, Kind); 7] = [
    ("iface", Kind::Iface),
    ("proto", Kind::Proto),
    ("proc", Kind::Proc),
    ("port", Kind::Port),
    ("host", Kind::Host),
    ("attrib", Kind::Attrib),
    ("time", Kind::Time),
];

impl Target {
    /// Checks one `[[remote_write]]` table; the message says what is wrong (the caller adds
    /// the file and the table).
    pub fn from_file(f: TargetFile) -> std::result::Result<Target, String> {
        let url = http::check_url(&f.url)?;
        let name = match f.name {
            Some(n) if n.is_empty() || n.len() > 100 || n.chars().any(char::is_control) => {
                return Err(format!(
                    "name = {n:?}: 1 to 100 characters, no control characters"
                ));
            }
            Some(n) => n,
            None => url.split('?').next().unwrap_or(&url).to_string(),
        };
        let mut labels = BTreeMap::new();
        for (k, v) in f.labels.unwrap_or_default() {
            let ok = !k.is_empty()
                && k.len() <= 100
                && !k.starts_with("__")
                && k.bytes().enumerate().all(|(i, b)| {
                    b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit())
                });
            if !ok {
                return Err(format!(
                    "labels.{k}: a label name is [a-zA-Z_][a-zA-Z0-9_]* and does not start with __"
                ));
            }
            if OWN_LABELS.contains(&k.as_str()) {
                return Err(format!(
                    "labels.{k}: nrec's own series carry that label; choose another name"
                ));
            }
            if v.len() > 1024 || v.is_empty() {
                return Err(format!("labels.{k}: a value of 1 to 1024 bytes"));
            }
            labels.insert(k, v);
        }
        let kinds = match f.families {
            None => FAMILIES.iter().map(|(_, k)| *k).collect(),
            Some(list) => {
                let mut kinds = Vec::new();
                for name in &list {
                    let Some((_, k)) = FAMILIES.iter().find(|(n, _)| n == name) else {
                        return Err(format!(
                            "families: {name:?}: expected iface, proto, proc, port, host, attrib or time"
                        ));
                    };
                    kinds.push(*k);
                }
                if kinds.is_empty() {
                    return Err("families: empty (leave it out for all)".into());
                }
                kinds
            }
        };
        let backfill_ms = match f.backfill.as_deref() {
            None => 0,
            Some(s) => nrec_model::time::parse_interval("backfill", s)
                .map_err(|e| e.msg)?
                .min(3650 * DAY_MS),
        };
        let timeout = match f.timeout.as_deref() {
            None => DEFAULT_TIMEOUT,
            Some(s) => {
                let ms = nrec_model::time::parse_interval("timeout", s).map_err(|e| e.msg)?;
                if !(1000..=600_000).contains(&ms) {
                    return Err(format!("timeout = {s:?}: between 1s and 10m"));
                }
                Duration::from_millis(ms as u64)
            }
        };
        let batch = f.batch.unwrap_or(DEFAULT_BATCH);
        if !(100..=1_000_000).contains(&batch) {
            return Err(format!(
                "batch = {batch}: between 100 and 1000000 samples per request"
            ));
        }
        let auth = match (f.basic_auth, f.bearer_token_file) {
            (Some(_), Some(_)) => {
                return Err("basic_auth and bearer_token_file: one or the other".into());
            }
            (Some(b), None) => {
                if b.username.is_empty() || b.username.contains(':') {
                    return Err("basic_auth.username: not empty, no ':'".into());
                }
                http::Auth::Basic {
                    user: b.username,
                    password_file: b.password_file,
                }
            }
            (None, Some(t)) => http::Auth::Bearer(t),
            (None, None) => http::Auth::None,
        };
        let t = f.tls.unwrap_or_default();
        if t.cert_file.is_some() != t.key_file.is_some() {
            return Err("tls: cert_file and key_file go together".into());
        }
        Ok(Target {
            name,
            url,
            labels,
            kinds,
            backfill_ms,
            timeout,
            batch,
            auth,
            tls: http::Tls {
                ca_file: t.ca_file,
                client: t.cert_file.zip(t.key_file),
            },
        })
    }
}

/// Parses the config's `[[remote_write]]` tables.
pub fn targets(
    files: Vec<toml::Spanned<TargetFile>>,
    line_of: &dyn Fn(usize) -> usize,
    path: &std::path::Path,
) -> Result<Vec<Target>> {
    let mut out: Vec<Target> = Vec::new();
    for f in files {
        let line = line_of(f.span().start);
        let t = Target::from_file(f.into_inner()).map_err(|why| {
            Error::usage(format!(
                "config {}: remote_write (line {line}): {why}",
                path.display()
            ))
        })?;
        if out.iter().any(|o| o.name == t.name) {
            return Err(Error::usage(format!(
                "config {}: remote_write (line {line}): another target has the name {:?}; give each a `name`",
                path.display(),
                t.name
            )));
        }
        out.push(t);
    }
    if out.len() > 16 {
        return Err(Error::usage(format!(
            "config {}: {} [[remote_write]] targets; at most 16",
            path.display(),
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> std::result::Result<Target, String> {
        Target::from_file(toml::from_str(t).map_err(|e| e.to_string())?)
    }

    #[test]
    fn a_target_has_safe_defaults_and_refuses_what_would_mislead() {
        let t = parse("url = \"http://127.0.0.1:9/api/v1/write?x=1\"").unwrap();
        assert_eq!(t.name, "http://127.0.0.1:9/api/v1/write");
        assert_eq!(
            (t.timeout, t.batch, t.backfill_ms),
            (DEFAULT_TIMEOUT, DEFAULT_BATCH, 0)
        );
        assert_eq!(t.kinds.len(), FAMILIES.len());
        for (text, want) in [
            (
                "url = \"http://h/\"\nlabels = { __x = \"1\" }",
                "labels.__x",
            ),
            (
                "url = \"http://h/\"\nlabels = { \"9a\" = \"1\" }",
                "labels.9a",
            ),
            (
                "url = \"http://h/\"\ntimeout = \"20m\"",
                "between 1s and 10m",
            ),
            ("url = \"http://h/\"\nbatch = 10", "between 100"),
            (
                "url = \"http://h/\"\nbearer_token_file = \"/t\"\nbasic_auth = { username = \"u\", password_file = \"/p\" }",
                "one or the other",
            ),
            (
                "url = \"http://h/\"\ntls = { cert_file = \"/c\" }",
                "go together",
            ),
            ("url = \"http://h/#frag\"", "no fragment"),
            (
                "url = \"ftp://h/w?token=secret\"",
                "an http:// or https:// URL",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains("secret"), "a query is never shown: {e}");
        }
    }
}
