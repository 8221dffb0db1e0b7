//! The exporter web configuration file (`nrec serve --web-config FILE`, `[serve] web_config`):
//! the format of Prometheus' exporter-toolkit (`--web.config.file` of node_exporter and the
//! other exporters, checked by `promtool check web-config`), so one file serves them all:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # paths relative to this file
//!   key_file: server.key           # refused when every user may read it
//!   client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
//!   client_ca_file: clients.crt
//!   min_version: TLS12             # or TLS13 (rustls has nothing older)
//!   max_version: TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$…           # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! Keys nrec does not implement (cipher_suites, curve_preferences, client_allowed_sans,
//! http_server_config, RequestClientCert and RequireAnyClientCert, which take any
//! certificate) are refused by name rather than ignored: a setting that silently does
//! nothing is a hole.

use super::http::{certs, key, provider};
use nrec_model::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use yaml_rust2::{Yaml, YamlLoader};

/// A web configuration file, loaded.
pub struct Web {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// user → bcrypt hash.
    users: HashMap<String, String>,
    /// Authorization header values that verified (bcrypt is slow on purpose; a scraper sends
    /// the same header every time), at most [`VERIFIED`].
    verified: Mutex<Vec<String>>,
}

const VERIFIED: usize = 64;
/// A bcrypt hash of nothing anyone sends: an unknown user costs the same time as a known one.
const DUMMY: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Web {
    pub fn load(path: &Path) -> Result<Web> {
        let bad = |why: String| Error::usage(format!("web config {}: {why}", path.display()));
        let raw = std::fs::read(path).map_err(|e| Error::io("web config", path, &e))?;
        if raw.len() > 1 << 20 {
            return Err(bad("larger than 1 MiB".into()));
        }
        let src = String::from_utf8(raw).map_err(|_| bad("not UTF-8 text".into()))?;
        let docs = YamlLoader::load_from_str(&src).map_err(|e| bad(format!("YAML: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let rel = |p: String| -> PathBuf {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { dir.join(p) }
        };
        let top = match docs.first() {
            None | Some(Yaml::Null) => return Ok(Web::empty()),
            Some(Yaml::Hash(h)) => h,
            Some(_) => return Err(bad("expected a mapping at the top".into())),
        };
        let mut tls = None;
        let mut users = HashMap::new();
        for (k, v) in top {
            let k = text(k).unwrap_or_default();
            match (k.as_str(), v) {
                (_, Yaml::Null) => {}
                ("tls_server_config", Yaml::Hash(h)) => {
                    let mut cfg: HashMap<String, &Yaml> = HashMap::new();
                    for (k, v) in h {
                        cfg.insert(text(k).unwrap_or_default(), v);
                    }
                    let get = |key: &str| -> std::result::Result<Option<String>, Error> {
                        match cfg.get(key) {
                            None | Some(Yaml::Null) => Ok(None),
                            Some(v) => text(v).map(Some).ok_or_else(|| {
                                bad(format!("tls_server_config.{key}: expected a string"))
                            }),
                        }
                    };
                    for key in cfg.keys() {
                        if !matches!(
                            key.as_str(),
                            "cert_file"
                                | "key_file"
                                | "client_auth_type"
                                | "client_ca_file"
                                | "min_version"
                                | "max_version"
                        ) && !matches!(cfg[key], Yaml::Null)
                        {
                            return Err(bad(format!(
                                "tls_server_config.{key}: not supported by nrec serve (refused rather than ignored)"
                            )));
                        }
                    }
                    let (Some(cert), Some(keyf)) = (get("cert_file")?, get("key_file")?) else {
                        return Err(bad(
                            "tls_server_config: cert_file and key_file are required".into(),
                        ));
                    };
                    let version = |v: Option<String>, key: &str| -> Result<Option<u8>> {
                        match v.as_deref() {
                            None => Ok(None),
                            Some("TLS12") => Ok(Some(2)),
                            Some("TLS13") => Ok(Some(3)),
                            Some(o) => Err(bad(format!(
                                "tls_server_config.{key} = {o}: TLS12 or TLS13"
                            ))),
                        }
                    };
                    let lo = version(get("min_version")?, "min_version")?.unwrap_or(2);
                    let hi = version(get("max_version")?, "max_version")?.unwrap_or(3);
                    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
                        [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
                            .into_iter()
                            .filter(|(v, _)| (lo..=hi).contains(v))
                            .map(|(_, p)| p)
                            .collect();
                    if versions.is_empty() {
                        return Err(bad(
                            "tls_server_config: min_version above max_version".into()
                        ));
                    }
                    let builder = rustls::ServerConfig::builder_with_provider(provider())
                        .with_protocol_versions(&versions)
                        .map_err(|e| bad(format!("TLS: {e}")))?;
                    let auth = get("client_auth_type")?;
                    let ca = get("client_ca_file")?;
                    let builder = match auth.as_deref() {
                        None | Some("NoClientCert") => builder.with_no_client_auth(),
                        Some(t @ ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven")) => {
                            let Some(ca) = ca else {
                                return Err(bad(format!(
                                    "tls_server_config: client_auth_type {t} needs client_ca_file"
                                )));
                            };
                            let mut roots = rustls::RootCertStore::empty();
                            for c in certs(&rel(ca), "web config client_ca_file")? {
                                roots
                                    .add(c)
                                    .map_err(|e| bad(format!("client_ca_file: {e}")))?;
                            }
                            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                                Arc::new(roots),
                                provider(),
                            );
                            let v = if t == "VerifyClientCertIfGiven" {
                                v.allow_unauthenticated()
                            } else {
                                v
                            };
                            builder.with_client_cert_verifier(
                                v.build().map_err(|e| bad(format!("client_ca_file: {e}")))?,
                            )
                        }
                        Some(t) => {
                            return Err(bad(format!(
                                "tls_server_config.client_auth_type = {t}: not supported (NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
                            )));
                        }
                    };
                    let cfg = builder
                        .with_single_cert(
                            certs(&rel(cert), "web config cert_file")?,
                            key(&rel(keyf), "web config key_file")?,
                        )
                        .map_err(|e| bad(format!("tls_server_config: {e}")))?;
                    tls = Some(Arc::new(cfg));
                }
                ("basic_auth_users", Yaml::Hash(h)) => {
                    for (u, hash) in h {
                        let (Some(u), Some(hash)) = (text(u), text(hash)) else {
                            return Err(bad("basic_auth_users: user: bcrypt hash".into()));
                        };
                        if hash.parse::<bcrypt::HashParts>().is_err() {
                            return Err(bad(format!(
                                "basic_auth_users.{}: not a bcrypt hash ($2y$…)",
                                nrec_model::names::escape_text(&u)
                            )));
                        }
                        users.insert(u, hash);
                    }
                }
                ("tls_server_config" | "basic_auth_users", _) => {
                    return Err(bad(format!("{k}: expected a mapping")));
                }
                (other, _) => {
                    return Err(bad(format!(
                        "{}: not supported by nrec serve (refused rather than ignored)",
                        nrec_model::names::escape_text(other)
                    )));
                }
            }
        }
        Ok(Web {
            tls,
            users,
            verified: Mutex::new(Vec::new()),
        })
    }

    fn empty() -> Web {
        Web {
            tls: None,
            users: HashMap::new(),
            verified: Mutex::new(Vec::new()),
        }
    }

    /// Whether requests must carry basic credentials.
    pub fn needs_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether the `Authorization` header's value is one of the users' (bcrypt).
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        if !self.needs_auth() {
            return true;
        }
        let Some(h) = authorization.map(str::trim) else {
            return false;
        };
        if self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|v| same(v.as_bytes(), h.as_bytes()))
        {
            return true;
        }
        let Some(b64) = h
            .split_once(' ')
            .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
            .map(|(_, b)| b.trim())
        else {
            return false;
        };
        use base64::Engine;
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return false;
        };
        let Ok(pair) = String::from_utf8(raw) else {
            return false;
        };
        let Some((user, pw)) = pair.split_once(':') else {
            return false;
        };
        let ok = match self.users.get(user) {
            Some(hash) => bcrypt::verify(pw, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(pw, DUMMY);
                false
            }
        };
        if ok {
            let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if v.len() >= VERIFIED {
                v.remove(0);
            }
            v.push(h.to_string());
        }
        ok
    }
}

/// Equal bytes, in a time that does not depend on where they differ (a remembered header is
/// a valid credential: comparing it must not tell a guesser how much of it was right).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_hash() {
        assert!(DUMMY.parse::<bcrypt::HashParts>().is_ok());
    }

    #[test]
    fn headers_compare_whole() {
        assert!(same(b"Basic abc", b"Basic abc"));
        assert!(!same(b"Basic abc", b"Basic abd"));
        assert!(!same(b"Basic ab", b"Basic abc"));
    }
}
