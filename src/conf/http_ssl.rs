//! ngx_http_ssl_module's configuration, as far as holdfast has it:
//! `ssl_certificate`, `ssl_certificate_key` (several pairs: one per key
//! type, chosen by the client's signature algorithms) and `ssl_protocols`,
//! at http and server level. Certificates are read and checked while the
//! configuration is read (nginx's ngx_ssl_certificates), so a bad file is
//! refused at its directive's file:line and a reload keeps the old
//! configuration.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use super::ConfError;
use super::command::{Command, HTTP, MANY, SRV, cmd};
use super::parser::Directive;

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("ssl_certificate", HTTP | SRV, false, 1, 1),
    cmd("ssl_certificate_key", HTTP | SRV, false, 1, 1),
    cmd("ssl_protocols", HTTP | SRV, false, 1, MANY),
    cmd("ssl_session_cache", HTTP | SRV, false, 1, 2),
    cmd("ssl_session_timeout", HTTP | SRV, false, 1, 1),
    cmd("ssl_session_tickets", HTTP | SRV, false, 1, 1),
    cmd("ssl_prefer_server_ciphers", HTTP | SRV, false, 1, 1),
    cmd("ssl_reject_handshake", HTTP | SRV, false, 1, 1),
    cmd("ssl_buffer_size", HTTP | SRV, false, 1, 1),
];

/// `ssl_buffer_size` default: a full TLS record (16k).
pub const SSL_BUFFER_SIZE: usize = 16 * 1024;

/// `ssl_session_timeout` default (5m).
pub const SSL_SESSION_TIMEOUT_S: u64 = 300;

/// Sessions a `shared:NAME:SIZE` cache holds per byte of SIZE (nginx: about
/// 4000 sessions in 1 MB).
const SESSION_BYTES: usize = 256;

/// `ssl_session_cache`: sessions kept for resumption by session ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCache {
    /// `off` / `none` (nginx's default `none`): no sessions stored.
    Off,
    /// `builtin[:N]` / `shared:NAME:SIZE`: at most this many sessions
    /// (per worker process: holdfast's workers share nothing).
    Sessions(usize),
}

/// `ssl_protocols` bits.
pub mod protocols {
    /// `TLSv1.2`.
    pub const TLS12: u8 = 0x01;
    /// `TLSv1.3`.
    pub const TLS13: u8 = 0x02;
}

/// One level's settings as written: the certificate and key paths, and
/// each pair loaded as soon as both halves are known (so a bad file is
/// refused at the directive that completed the pair).
#[derive(Debug, Default)]
pub(super) struct RawSsl {
    certificates: Vec<PathBuf>,
    keys: Vec<PathBuf>,
    loaded: Vec<Arc<rustls::sign::CertifiedKey>>,
    protocols: Option<u8>,
    first_at: Option<(Rc<std::path::Path>, usize)>,
    session_cache: Option<SessionCache>,
    session_timeout_s: Option<u64>,
    session_tickets: Option<bool>,
    prefer_server_ciphers: Option<bool>,
    reject_handshake: Option<bool>,
    buffer_size: Option<usize>,
}

/// A server's merged TLS settings.
#[derive(Debug, Clone)]
pub struct SslConf {
    /// The loaded certificate/key pairs, in configuration order.
    pub keys: Vec<Arc<rustls::sign::CertifiedKey>>,
    /// `ssl_protocols` bits (default TLSv1.2 TLSv1.3: all rustls has).
    pub protocols: u8,
    /// A certificate without its key (or the reverse): where it was
    /// written, refused when a `listen … ssl` needs the server.
    pub unpaired: Option<(Rc<std::path::Path>, usize)>,
    /// `ssl_session_cache` (default `none`).
    pub session_cache: SessionCache,
    /// `ssl_session_timeout` in seconds (default 5m): how long a cached
    /// session may be resumed.
    pub session_timeout_s: u64,
    /// `ssl_session_tickets on|off` (default on).
    pub session_tickets: bool,
    /// `ssl_prefer_server_ciphers on|off` (default off): the server's
    /// order of cipher suites wins over the client's (rustls's
    /// `ignore_client_order`).
    pub prefer_server_ciphers: bool,
    /// `ssl_reject_handshake on`: a handshake that picks this server (by
    /// SNI, or as the default) is refused; no certificate is needed.
    pub reject_handshake: bool,
    /// `ssl_buffer_size`: the largest record holdfast sends (smaller
    /// records get the first bytes of a response out sooner).
    pub buffer_size: usize,
}

impl PartialEq for SslConf {
    fn eq(&self, other: &Self) -> bool {
        self.protocols == other.protocols
            && self.session_cache == other.session_cache
            && self.session_timeout_s == other.session_timeout_s
            && self.session_tickets == other.session_tickets
            && self.prefer_server_ciphers == other.prefer_server_ciphers
            && self.reject_handshake == other.reject_handshake
            && self.buffer_size == other.buffer_size
            && self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .zip(&other.keys)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl Default for SslConf {
    fn default() -> Self {
        SslConf {
            keys: Vec::new(),
            protocols: protocols::TLS12 | protocols::TLS13,
            unpaired: None,
            session_cache: SessionCache::Off,
            session_timeout_s: SSL_SESSION_TIMEOUT_S,
            session_tickets: true,
            prefer_server_ciphers: false,
            reject_handshake: false,
            buffer_size: SSL_BUFFER_SIZE,
        }
    }
}

/// The module's directives at the http and server levels; `Ok(false)` when
/// `d` is not one. `path` resolves a file name against the prefix.
pub(super) fn directive(
    d: &Directive,
    raw: &mut RawSsl,
    path: impl Fn(&str) -> PathBuf,
) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "ssl_certificate" | "ssl_certificate_key" => {
            if d.args[0].contains('$') {
                return Err(d.error(format!(
                    "variables in \"{}\" are not supported by holdfast",
                    d.name
                )));
            }
            if d.name == "ssl_certificate" {
                raw.certificates.push(path(&d.args[0]));
            } else {
                raw.keys.push(path(&d.args[0]));
            }
            raw.first_at.get_or_insert((d.file.clone(), d.line));
            let i = raw.loaded.len();
            if let (Some(c), Some(k)) = (raw.certificates.get(i), raw.keys.get(i)) {
                let ck = load(c, k).map_err(|e| d.error(e))?;
                raw.loaded.push(Arc::new(ck));
            }
        }
        "ssl_protocols" => {
            super::command::once(&raw.protocols, d)?;
            let mut bits = 0;
            for p in &d.args {
                bits |= match p.as_str() {
                    "TLSv1.2" => protocols::TLS12,
                    "TLSv1.3" => protocols::TLS13,
                    // Debian's stock nginx.conf lists these: rustls has
                    // neither (and neither is safe); they are left out,
                    // with a warning.
                    "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1" => {
                        log::warn!(
                            "{p} in \"ssl_protocols\" is not supported by holdfast (rustls has TLSv1.2 and TLSv1.3), ignored in {}:{}",
                            d.file.display(),
                            d.line
                        );
                        0
                    }
                    _ => return Err(d.error(format!("invalid value \"{p}\""))),
                };
            }
            if bits == 0 {
                return Err(d.error(
                    "no protocol holdfast supports (TLSv1.2, TLSv1.3) in \"ssl_protocols\"",
                ));
            }
            raw.protocols = Some(bits);
        }
        "ssl_session_cache" => {
            // Mirrors ngx_http_ssl_session_cache().
            super::command::once(&raw.session_cache, d)?;
            let mut sessions = None;
            let mut off = false;
            for a in &d.args {
                if a == "off" || a == "none" {
                    off = true;
                } else if a == "builtin" {
                    sessions = Some(sessions.unwrap_or(0) + 20480);
                } else if let Some(n) = a.strip_prefix("builtin:") {
                    let n = super::values::parse_number(n)
                        .map_err(|_| d.error(format!("invalid session cache \"{a}\"")))?;
                    sessions = Some(sessions.unwrap_or(0) + n as usize);
                } else if let Some(rest) = a.strip_prefix("shared:") {
                    let size = rest
                        .rsplit_once(':')
                        .and_then(|(name, size)| (!name.is_empty()).then_some(size))
                        .and_then(|s| super::values::parse_size(s).ok())
                        .filter(|s| *s >= 8 * 4096)
                        .ok_or_else(|| d.error(format!("invalid session cache \"{a}\"")))?;
                    sessions = Some(sessions.unwrap_or(0) + size / SESSION_BYTES);
                } else {
                    return Err(d.error(format!("invalid session cache \"{a}\"")));
                }
            }
            if off && sessions.is_some() {
                return Err(d.error(format!("invalid session cache \"{}\"", d.args.join(" "))));
            }
            raw.session_cache = Some(match sessions {
                Some(n) if n > 0 => SessionCache::Sessions(n),
                _ => SessionCache::Off,
            });
        }
        "ssl_session_timeout" => {
            super::command::once(&raw.session_timeout_s, d)?;
            let s = super::values::parse_time_s(&d.args[0])
                .map_err(|_| d.error(format!("invalid value \"{}\"", d.args[0])))?;
            raw.session_timeout_s = Some(s);
        }
        "ssl_session_tickets" => {
            super::command::flag_slot(&mut raw.session_tickets, d)?;
        }
        "ssl_prefer_server_ciphers" => {
            super::command::flag_slot(&mut raw.prefer_server_ciphers, d)?;
        }
        "ssl_reject_handshake" => {
            super::command::flag_slot(&mut raw.reject_handshake, d)?;
        }
        "ssl_buffer_size" => {
            super::command::once(&raw.buffer_size, d)?;
            raw.buffer_size = Some(super::command::size(d, 0)?);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The crypto provider holdfast uses (aws-lc-rs).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Mirrors ngx_http_ssl_merge_srv_conf(): the level's own certificates
/// (all of them: a level with any does not inherit) or the parent's, the
/// level's protocols or the parent's.
pub(super) fn merge(raw: RawSsl, parent: &Option<Rc<SslConf>>) -> Option<Rc<SslConf>> {
    let own_certs = !raw.certificates.is_empty() || !raw.keys.is_empty();
    if !own_certs
        && raw.protocols.is_none()
        && raw.session_cache.is_none()
        && raw.session_timeout_s.is_none()
        && raw.session_tickets.is_none()
        && raw.prefer_server_ciphers.is_none()
        && raw.reject_handshake.is_none()
        && raw.buffer_size.is_none()
    {
        return parent.clone();
    }
    let mut conf = parent.as_deref().cloned().unwrap_or_default();
    if let Some(p) = raw.protocols {
        conf.protocols = p;
    }
    if let Some(c) = raw.session_cache {
        conf.session_cache = c;
    }
    if let Some(t) = raw.session_timeout_s {
        conf.session_timeout_s = t;
    }
    if let Some(t) = raw.session_tickets {
        conf.session_tickets = t;
    }
    if let Some(t) = raw.prefer_server_ciphers {
        conf.prefer_server_ciphers = t;
    }
    if let Some(t) = raw.reject_handshake {
        conf.reject_handshake = t;
    }
    if let Some(t) = raw.buffer_size {
        conf.buffer_size = t;
    }
    if own_certs {
        conf.unpaired = (raw.certificates.len() != raw.keys.len())
            .then_some(raw.first_at)
            .flatten();
        conf.keys = raw.loaded;
    }
    Some(Rc::new(conf))
}

/// Reads a PEM chain and its key (nginx's ngx_ssl_certificate).
pub(super) fn load(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::sign::CertifiedKey, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot load certificate \"{}\": {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "cannot load certificate \"{}\": no certificate in it",
            cert.display()
        ));
    }
    let k = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot load certificate key \"{}\": {e}", key.display()))?;
    // Not CertifiedKey::from_der: its consistency check parses the
    // certificate with webpki, which refuses X.509 v1 certificates that
    // OpenSSL (and so nginx) serves; a key that does not match the
    // certificate is still refused, a certificate webpki cannot read is not.
    let signing = provider()
        .key_provider
        .load_private_key(k)
        .map_err(|e| format!("cannot load certificate key \"{}\": {e}", key.display()))?;
    let ck = rustls::sign::CertifiedKey::new(chain, signing);
    match ck.keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(format!(
                "cannot load certificate \"{}\" with key \"{}\": the key does not match the certificate",
                cert.display(),
                key.display()
            ))
        }
        _ => Ok(ck),
    }
}
