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
    cmd("ssl_early_data", HTTP | SRV, false, 1, 1),
    cmd("ssl_ciphers", HTTP | SRV, false, 1, 1),
    cmd("ssl_session_ticket_key", HTTP | SRV, false, 1, 1),
    cmd("ssl_verify_client", HTTP | SRV, false, 1, 1),
    cmd("ssl_verify_depth", HTTP | SRV, false, 1, 1),
    cmd("ssl_client_certificate", HTTP | SRV, false, 1, 1),
    cmd("ssl_trusted_certificate", HTTP | SRV, false, 1, 1),
];

/// How much TLS 1.3 early data a client may send with `ssl_early_data on`
/// (nginx sets OpenSSL's max_early_data to its SSL buffer size).
pub const SSL_MAX_EARLY_DATA: u32 = 16 * 1024;

/// `ssl_verify_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// `off` (the default): no certificate is asked for.
    #[default]
    Off,
    /// `on`: a verified certificate is required (400 "No required SSL
    /// certificate was sent", 496, without one; 495 for a bad one).
    On,
    /// `optional`: one is asked for; a bad one is 495.
    Optional,
    /// `optional_no_ca`: one is asked for; one whose issuer is unknown is
    /// let through (`$ssl_client_verify` says FAILED).
    OptionalNoCa,
}

/// `ssl_verify_depth` default.
pub const SSL_VERIFY_DEPTH: u32 = 1;

/// The certificates `ssl_client_certificate` and `ssl_trusted_certificate`
/// name, as the verification after the handshake needs them.
#[derive(Debug)]
pub struct ClientCa {
    /// Every certificate of both files (DER): one a client sends as is is
    /// trusted (as OpenSSL trusts a certificate found in its store).
    pub certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The self-signed ones: where a chain must end (OpenSSL without
    /// X509_V_FLAG_PARTIAL_CHAIN).
    pub anchors: Vec<rustls::pki_types::TrustAnchor<'static>>,
    /// The others: intermediates a chain may go through.
    pub intermediates: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The subjects of `ssl_client_certificate`'s certificates, without
    /// duplicates: the CA names sent in the CertificateRequest.
    pub hints: Vec<rustls::DistinguishedName>,
}

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
    early_data: Option<bool>,
    ciphers: Option<(Arc<[rustls::CipherSuite]>, Rc<std::path::Path>, usize)>,
    ticket_keys: Vec<TicketKey>,
    verify: Option<Verify>,
    verify_depth: Option<u32>,
    client_certificate: Option<Arc<[rustls::pki_types::CertificateDer<'static>]>>,
    trusted_certificate: Option<Arc<[rustls::pki_types::CertificateDer<'static>]>>,
    verify_at: Option<(Rc<std::path::Path>, usize)>,
}

/// One `ssl_session_ticket_key` file (nginx's ngx_ssl_ticket_key_t): the
/// 16-byte key name tickets carry, and the AES key (16 bytes from a 48-byte
/// file, 32 from an 80-byte one, where nginx's OpenSSL callback takes its
/// AES key; the HMAC half is not used: holdfast seals tickets with AES-GCM).
#[derive(Clone, PartialEq, Eq)]
pub struct TicketKey {
    /// Bytes 0..16 of the file.
    pub name: [u8; 16],
    /// The AES key: 16 or 32 bytes.
    pub aes_key: Vec<u8>,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKey")
            .field("bits", &(self.aes_key.len() * 8))
            .finish_non_exhaustive()
    }
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
    /// `ssl_early_data`: TLS 1.3 0-RTT data is accepted (default off).
    pub early_data: bool,
    /// `ssl_ciphers`: the TLS 1.2 suites, in order (default
    /// `HIGH:!aNULL:!MD5`: all rustls has, in OpenSSL's order).
    pub ciphers: Arc<[rustls::CipherSuite]>,
    /// Where `ssl_ciphers` was written (refused when it leaves no TLS 1.2
    /// suite and TLS 1.2 is on).
    pub ciphers_at: Option<(Rc<std::path::Path>, usize)>,
    /// `ssl_session_ticket_key` files: the first encrypts tickets, all
    /// decrypt (none: rustls's own rotating keys, per process).
    pub ticket_keys: Arc<[TicketKey]>,
    /// `ssl_verify_client` (default off).
    pub verify: Verify,
    /// `ssl_verify_depth` (default 1): the intermediate certificates a
    /// client chain may have (OpenSSL 1.1's meaning).
    pub verify_depth: u32,
    /// `ssl_client_certificate` / `ssl_trusted_certificate`, once either
    /// is set.
    pub client_ca: Option<Arc<ClientCa>>,
    /// Where `ssl_verify_client` was written.
    pub verify_at: Option<(Rc<std::path::Path>, usize)>,
    client_certificate: Option<Arc<[rustls::pki_types::CertificateDer<'static>]>>,
    trusted_certificate: Option<Arc<[rustls::pki_types::CertificateDer<'static>]>>,
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
            && self.early_data == other.early_data
            && self.ciphers == other.ciphers
            && self.ticket_keys == other.ticket_keys
            && self.verify == other.verify
            && self.verify_depth == other.verify_depth
            && self.client_certificate == other.client_certificate
            && self.trusted_certificate == other.trusted_certificate
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
            early_data: false,
            ciphers: super::http_ssl_ciphers::parse(super::http_ssl_ciphers::SSL_CIPHERS)
                .map(|c| c.suites.into())
                .unwrap_or_default(),
            ciphers_at: None,
            ticket_keys: Arc::from([]),
            verify: Verify::Off,
            verify_depth: SSL_VERIFY_DEPTH,
            client_ca: None,
            verify_at: None,
            client_certificate: None,
            trusted_certificate: None,
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
            raw.protocols = Some(parse_protocols(d)?);
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
        "ssl_early_data" => {
            super::command::flag_slot(&mut raw.early_data, d)?;
        }
        "ssl_buffer_size" => {
            super::command::once(&raw.buffer_size, d)?;
            raw.buffer_size = Some(super::command::size(d, 0)?);
        }
        "ssl_ciphers" => {
            super::command::once(&raw.ciphers, d)?;
            let c = super::http_ssl_ciphers::parse(&d.args[0]).map_err(|e| d.error(e))?;
            if !c.skipped.is_empty() {
                log::warn!(
                    "\"ssl_ciphers\" names ciphers rustls does not implement, left out: {} in {}:{}",
                    c.skipped.join(", "),
                    d.file.display(),
                    d.line
                );
            }
            raw.ciphers = Some((c.suites.into(), d.file.clone(), d.line));
        }
        "ssl_session_ticket_key" => {
            raw.ticket_keys
                .push(ticket_key(&path(&d.args[0])).map_err(|e| d.error(e))?);
        }
        "ssl_verify_client" => {
            super::command::once(&raw.verify, d)?;
            raw.verify = Some(match d.args[0].as_str() {
                "off" => Verify::Off,
                "on" => Verify::On,
                "optional" => Verify::Optional,
                "optional_no_ca" => Verify::OptionalNoCa,
                a => return Err(d.error(format!("invalid value \"{a}\""))),
            });
            raw.verify_at = Some((d.file.clone(), d.line));
        }
        "ssl_verify_depth" => {
            super::command::once(&raw.verify_depth, d)?;
            let n = super::command::number(d, 0)?;
            raw.verify_depth = Some(u32::try_from(n).unwrap_or(u32::MAX));
        }
        "ssl_client_certificate" | "ssl_trusted_certificate" => {
            let slot = if d.name == "ssl_client_certificate" {
                &mut raw.client_certificate
            } else {
                &mut raw.trusted_certificate
            };
            super::command::once(slot, d)?;
            *slot = Some(load_cas(&path(&d.args[0])).map_err(|e| d.error(e))?);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `ssl_protocols` / `proxy_ssl_protocols`: the protocol bits. Debian's
/// stock nginx.conf lists SSLv3, TLSv1 and TLSv1.1: rustls has none of them
/// (and none is safe); they are left out with a warning naming the
/// directive's file:line, and a list of only those is refused.
pub(super) fn parse_protocols(d: &Directive) -> Result<u8, ConfError> {
    let mut bits = 0;
    for p in &d.args {
        bits |= match p.as_str() {
            "TLSv1.2" => protocols::TLS12,
            "TLSv1.3" => protocols::TLS13,
            "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1" => {
                log::warn!(
                    "{p} in \"{}\" is not supported by holdfast (rustls has TLSv1.2 and TLSv1.3), ignored in {}:{}",
                    d.name,
                    d.file.display(),
                    d.line
                );
                0
            }
            _ => return Err(d.error(format!("invalid value \"{p}\""))),
        };
    }
    if bits == 0 {
        return Err(d.error(format!(
            "no protocol holdfast supports (TLSv1.2, TLSv1.3) in \"{}\"",
            d.name
        )));
    }
    Ok(bits)
}

/// The crypto provider holdfast uses (aws-lc-rs).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl SslConf {
    /// The provider for a listening address: every TLS 1.3 suite, then
    /// `ssl_ciphers`' TLS 1.2 ones in its order (nginx's ngx_ssl_ciphers).
    pub fn provider(&self) -> Arc<rustls::crypto::CryptoProvider> {
        let mut p = rustls::crypto::aws_lc_rs::default_provider();
        let all = std::mem::take(&mut p.cipher_suites);
        p.cipher_suites = all
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .chain(
                self.ciphers
                    .iter()
                    .filter_map(|c| all.iter().find(|s| s.suite() == *c).copied()),
            )
            .collect();
        Arc::new(p)
    }

    /// The checks of ngx_http_ssl_merge_srv_conf() that need the merged
    /// settings, for a server that serves TLS.
    pub(super) fn check(&self) -> Result<(), ConfError> {
        if self.protocols & protocols::TLS12 != 0 && self.ciphers.is_empty() {
            let (file, line) = self
                .ciphers_at
                .clone()
                .unwrap_or_else(|| (Rc::from(std::path::Path::new("")), 0));
            return Err(ConfError {
                msg: "\"ssl_ciphers\" leaves no TLS 1.2 cipher rustls implements \
                      (ECDHE with AES-GCM or CHACHA20-POLY1305) while TLSv1.2 is enabled"
                    .to_string(),
                file: Some(file.to_path_buf()),
                line,
            });
        }
        // Without certificates nginx makes no SSL context, and checks none.
        let has_ctx = !self.keys.is_empty() || self.reject_handshake;
        if has_ctx
            && matches!(self.verify, Verify::On | Verify::Optional)
            && self.client_ca.is_none()
        {
            let (file, line) = self
                .verify_at
                .clone()
                .unwrap_or_else(|| (Rc::from(std::path::Path::new("")), 0));
            return Err(ConfError {
                msg: "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client"
                    .to_string(),
                file: Some(file.to_path_buf()),
                line,
            });
        }
        Ok(())
    }
}

/// Reads a PEM file of CA certificates (nginx's ngx_ssl_client_certificate
/// / ngx_ssl_trusted_certificate, which load it into the X509 store).
fn load_cas(
    file: &std::path::Path,
) -> Result<Arc<[rustls::pki_types::CertificateDer<'static>]>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot load certificates \"{}\": {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "cannot load certificates \"{}\": no certificate in it",
            file.display()
        ));
    }
    Ok(certs.into())
}

/// Sorts the two files' certificates into what verification needs.
fn client_ca(
    client: &[rustls::pki_types::CertificateDer<'static>],
    trusted: &[rustls::pki_types::CertificateDer<'static>],
) -> ClientCa {
    let mut ca = ClientCa {
        certs: Vec::new(),
        anchors: Vec::new(),
        intermediates: Vec::new(),
        hints: Vec::new(),
    };
    for (i, c) in client.iter().chain(trusted).enumerate() {
        if ca.certs.contains(c) {
            continue;
        }
        ca.certs.push(c.clone());
        let names = crate::core::x509::names(c);
        if let Some((issuer, subject)) = names {
            if i < client.len() && !ca.hints.iter().any(|h| h.as_ref() == subject) {
                ca.hints
                    .push(rustls::DistinguishedName::from(subject.to_vec()));
            }
            if issuer == subject {
                if let Ok(a) = webpki::anchor_from_trusted_cert(c) {
                    ca.anchors.push(a.to_owned());
                }
                continue;
            }
        }
        ca.intermediates.push(c.clone());
    }
    ca
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
        && raw.early_data.is_none()
        && raw.ciphers.is_none()
        && raw.ticket_keys.is_empty()
        && raw.verify.is_none()
        && raw.verify_depth.is_none()
        && raw.client_certificate.is_none()
        && raw.trusted_certificate.is_none()
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
    if let Some(t) = raw.early_data {
        conf.early_data = t;
    }
    if let Some((c, file, line)) = raw.ciphers {
        conf.ciphers = c;
        conf.ciphers_at = Some((file, line));
    }
    if !raw.ticket_keys.is_empty() {
        conf.ticket_keys = raw.ticket_keys.into();
    }
    if let Some(v) = raw.verify {
        conf.verify = v;
        conf.verify_at = raw.verify_at;
    }
    if let Some(n) = raw.verify_depth {
        conf.verify_depth = n;
    }
    let cas_changed = raw.client_certificate.is_some() || raw.trusted_certificate.is_some();
    if let Some(c) = raw.client_certificate {
        conf.client_certificate = Some(c);
    }
    if let Some(c) = raw.trusted_certificate {
        conf.trusted_certificate = Some(c);
    }
    if cas_changed {
        conf.client_ca = Some(Arc::new(client_ca(
            conf.client_certificate.as_deref().unwrap_or_default(),
            conf.trusted_certificate.as_deref().unwrap_or_default(),
        )));
    }
    if own_certs {
        conf.unpaired = (raw.certificates.len() != raw.keys.len())
            .then_some(raw.first_at)
            .flatten();
        conf.keys = raw.loaded;
    }
    Some(Rc::new(conf))
}

/// Mirrors ngx_ssl_session_ticket_keys() for one file: 48 or 80 bytes.
fn ticket_key(file: &std::path::Path) -> Result<TicketKey, String> {
    let buf = std::fs::read(file).map_err(|e| {
        format!(
            "open() \"{}\" failed ({})",
            file.display(),
            crate::os::io::OsErr(&e)
        )
    })?;
    let (name, aes_key) = match buf.len() {
        48 => (&buf[..16], &buf[16..32]),
        80 => (&buf[..16], &buf[48..80]),
        _ => return Err(format!("\"{}\" must be 48 or 80 bytes", file.display())),
    };
    let mut n = [0u8; 16];
    n.copy_from_slice(name);
    Ok(TicketKey {
        name: n,
        aes_key: aes_key.to_vec(),
    })
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
