//! The remote-write client: one POST per request, with the whole request (connect, TLS,
//! upload, answer) bounded by the push's time left, no redirects followed, at most
//! [`MAX_ANSWER`] bytes of an answer read (a hostile endpoint costs a bounded time and
//! memory). Credentials come from files the config names — refused when every user may read
//! them, as ssh refuses a readable key — and are never printed.

use super::Target;
use nrec_model::error::{Error, Result};
use nrec_model::names::escape_text;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Bytes of an endpoint's answer read (for the message of a refusal).
pub const MAX_ANSWER: u64 = 512;
/// A credential or key file larger than this is not one.
const MAX_SECRET: u64 = 64 * 1024;
/// Where Debian keeps the system's trusted CAs (ca-certificates).
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic {
        user: String,
        password_file: PathBuf,
    },
    Bearer(PathBuf),
}

#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// CAs to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// What became of one request.
#[derive(Debug)]
pub enum Outcome {
    /// 2xx.
    Accepted,
    /// A 4xx retrying cannot cure: the request is skipped.
    Refused(String),
    /// Anything else: the data stays for the next push.
    Failed(String),
}

/// An http or https URL without credentials in it (they come from files).
pub fn check_url(url: &str) -> std::result::Result<String, String> {
    // messages show the URL without its query, which some endpoints take credentials in
    let shown = escape_text(url.split('?').next().unwrap_or_default());
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("url = {shown:?}: an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("url = {shown:?}: no host"));
    }
    if authority.contains('@') {
        return Err(
            "url: credentials do not go in the URL (it is shown in messages); use basic_auth.password_file or bearer_token_file"
                .into(),
        );
    }
    if url.contains('#') || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "url = {shown:?}: no fragment, spaces or control characters"
        ));
    }
    if url.len() > 2048 {
        return Err("url: at most 2048 bytes".into());
    }
    Ok(url.to_string())
}

/// A secret (a password, a token, a key) from its file: not readable by every user, not
/// empty, at most [`MAX_SECRET`] bytes; a trailing newline is not part of it.
pub fn read_secret(path: &Path, what: &str) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(what, path, &e))?;
    let m = f.metadata().map_err(|e| Error::io(what, path, &e))?;
    if m.mode() & 0o004 != 0 {
        return Err(Error::usage(format!(
            "{what} {}: readable by every user (mode {:o}); refused — chmod o-r it",
            path.display(),
            m.mode() & 0o7777
        )));
    }
    if !m.is_file() || m.len() > MAX_SECRET {
        return Err(Error::usage(format!(
            "{what} {}: not a regular file of at most 64 KiB",
            path.display()
        )));
    }
    let mut b = Vec::new();
    f.take(MAX_SECRET)
        .read_to_end(&mut b)
        .map_err(|e| Error::io(what, path, &e))?;
    while b.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
        b.pop();
    }
    if b.is_empty() {
        return Err(Error::usage(format!("{what} {}: empty", path.display())));
    }
    Ok(b)
}

/// A one-line secret (password, token): text without control characters.
fn secret_line(path: &Path, what: &str) -> Result<String> {
    let b = read_secret(path, what)?;
    match String::from_utf8(b) {
        Ok(s) if !s.chars().any(char::is_control) => Ok(s),
        _ => Err(Error::usage(format!(
            "{what} {}: one line of text expected",
            path.display()
        ))),
    }
}

/// Certificates from a PEM file.
pub fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::usage(format!(
            "{what} {}: not a PEM certificate file: {e}",
            path.display()
        ))
    };
    let v = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if v.is_empty() {
        return Err(bad(&"no certificate in it"));
    }
    Ok(v)
}

/// A private key from a PEM file, checked like a secret.
pub fn key(path: &Path, what: &str) -> Result<PrivateKeyDer<'static>> {
    let b = read_secret(path, what)?;
    PrivateKeyDer::from_pem_slice(&b).map_err(|e| {
        Error::usage(format!(
            "{what} {}: not a PEM private key: {e}",
            path.display()
        ))
    })
}

/// rustls on the ring provider (one crypto library for the client and the server).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_config(t: &Tls) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let (file, what) = match &t.ca_file {
        Some(f) => (f.clone(), "remote_write tls.ca_file"),
        None => (PathBuf::from(SYSTEM_CAS), "the system CAs"),
    };
    for c in certs(&file, what)? {
        // the system bundle holds a few a strict parser refuses: skip those
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err(Error::usage(format!(
            "{what} {}: no usable CA certificate",
            file.display()
        )));
    }
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::failure(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    match &t.client {
        None => Ok(b.with_no_client_auth()),
        Some((c, k)) => b
            .with_client_auth_cert(
                certs(c, "remote_write tls.cert_file")?,
                key(k, "remote_write tls.key_file")?,
            )
            .map_err(|e| Error::usage(format!("remote_write tls: the client certificate: {e}"))),
    }
}

pub struct Client {
    agent: ureq::Agent,
    url: String,
    authorization: Option<String>,
}

impl Client {
    /// Reads the target's credentials and TLS files (each push: a rotated token is used at
    /// once).
    pub fn new(t: &Target) -> Result<Client> {
        let mut b = ureq::AgentBuilder::new()
            .redirects(0)
            .user_agent(concat!("nrec/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections(0);
        if t.url.starts_with("https://") {
            b = b.tls_config(Arc::new(tls_config(&t.tls)?));
        } else if t.tls.ca_file.is_some() || t.tls.client.is_some() {
            return Err(Error::usage(format!(
                "remote_write {}: tls settings on an http:// URL",
                t.name
            )));
        }
        let authorization = match &t.auth {
            Auth::None => None,
            Auth::Basic {
                user,
                password_file,
            } => {
                use base64::Engine;
                let pw = secret_line(password_file, "remote_write basic_auth.password_file")?;
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
                ))
            }
            Auth::Bearer(f) => Some(format!(
                "Bearer {}",
                secret_line(f, "remote_write bearer_token_file")?
            )),
        };
        Ok(Client {
            agent: b.build(),
            url: t.url.clone(),
            authorization,
        })
    }

    /// Posts one remote-write body within `left`.
    pub fn post(&self, body: &[u8], left: Duration) -> Outcome {
        let mut req = self
            .agent
            .post(&self.url)
            .timeout(left)
            .set("Content-Encoding", "snappy")
            .set("Content-Type", "application/x-protobuf")
            .set("X-Prometheus-Remote-Write-Version", "0.1.0");
        if let Some(a) = &self.authorization {
            req = req.set("Authorization", a);
        }
        match req.send_bytes(body) {
            Ok(r) if (200..300).contains(&r.status()) => {
                // drain what little it says, bounded, so nothing hangs on a slow body
                let _ = std::io::copy(&mut r.into_reader().take(MAX_ANSWER), &mut std::io::sink());
                Outcome::Accepted
            }
            Ok(r) => Outcome::Failed(format!(
                "HTTP {} (a redirect to {}: not followed; set url to where it points)",
                r.status(),
                escape_text(r.header("location").unwrap_or("?"))
            )),
            Err(ureq::Error::Status(code, r)) => {
                let mut text = Vec::new();
                let _ = r.into_reader().take(MAX_ANSWER).read_to_end(&mut text);
                let said = String::from_utf8_lossy(&text)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let said = escape_text(said.chars().take(200).collect::<String>().as_str());
                let msg = if said.is_empty() {
                    format!("HTTP {code}")
                } else {
                    format!("HTTP {code}: {said}")
                };
                match code {
                    401 | 403 | 404 | 407 | 408 | 429 => Outcome::Failed(msg),
                    400..=499 => Outcome::Refused(msg),
                    _ => Outcome::Failed(msg),
                }
            }
            Err(ureq::Error::Transport(t)) => Outcome::Failed(escape_text(&t.to_string())),
        }
    }
}
