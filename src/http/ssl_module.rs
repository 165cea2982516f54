//! The TLS side of a listening socket: nginx's ngx_http_ssl_module
//! (ngx_http_ssl_init, ngx_http_ssl_servername) on rustls.
//!
//! Each `listen … ssl` address gets one rustls server configuration whose
//! certificate resolver plays nginx's SNI callback: the client's server
//! name picks the virtual server among those on the address (exact name,
//! then leading and trailing wildcards, as nginx), else the default server;
//! among that server's certificates, the first whose key can sign with one
//! of the client's signature schemes (an ECDSA and an RSA pair serve
//! clients of either kind).

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::conf::ServerConf;
use crate::conf::http_ssl::{SessionCache, SslConf, protocols};
use crate::core::connection::{Action, EvKind, ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::http::request::{self, client_info, close_connection};
use crate::os::io::Transport;
use crate::os::tls::{Handshake, Peek};

/// Mirrors ngx_http_ssl_handshake(): the first read event of a connection
/// on an `ssl` address. One byte is peeked: a TLS record starts the
/// handshake (the connection is not reusable while it runs), anything else
/// is a plain HTTP client, whose request is read as usual and answered 400
/// (497). The client_header_timeout armed at accept covers the handshake.
pub fn ssl_handshake<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    log::debug!("*{} http check ssl handshake", c.number);
    if c.read.timedout {
        client_info!(cy, key, "client timed out (110: Connection timed out)");
        close_connection(cy, key);
        return;
    }
    if c.close {
        close_connection(cy, key);
        return;
    }
    let peek = match c.stream.ssl_conn() {
        Some(t) => t.peek(),
        None => Ok(Peek::Plain),
    };
    let c = &mut cy.conns[key];
    match peek {
        Ok(Peek::Again) => {
            log::debug!("*{} http recv(): -1", c.number);
            c.read.ready = false;
            if c.read.timer.is_none() {
                let timeout = request::header_conf(cy, key).client_header_timeout_ms;
                cy.add_timer(key, EvKind::Read, timeout);
                cy.reusable_connection(key, true);
            }
        }
        Ok(Peek::Eof) => {
            log::debug!("*{} http recv(): 0", c.number);
            client_info!(cy, key, "client closed connection");
            close_connection(cy, key);
        }
        Err(e) => {
            client_info!(cy, key, "recv() failed ({})", crate::os::io::OsErr(&e));
            close_connection(cy, key);
        }
        Ok(Peek::Plain) => {
            log::debug!("*{} http recv(): 1", c.number);
            log::debug!("*{} plain http", c.number);
            c.action = Action::WaitingForRequest;
            c.read.handler = ReadHandler::WaitRequest;
            request::wait_request_handler(cy, key);
        }
        Ok(Peek::Tls(byte)) => {
            log::debug!("*{} http recv(): 1", c.number);
            log::debug!("*{} https ssl handshake: 0x{byte:02X}", c.number);
            c.action = Action::SslHandshaking;
            cy.reusable_connection(key, false);
            match ssl_do_handshake(cy, key) {
                Some(Handshake::Done | Handshake::EarlyData) | None => {
                    http_ssl_handshake_handler(cy, key)
                }
                Some(_) => {
                    if cy.conns[key].read.timer.is_none() {
                        let timeout = request::header_conf(cy, key).client_header_timeout_ms;
                        cy.add_timer(key, EvKind::Read, timeout);
                    }
                }
            }
        }
    }
}

/// Mirrors ngx_ssl_handshake(): one round of the handshake. On NGX_AGAIN
/// both events get ngx_ssl_handshake_handler; None is NGX_ERROR (logged as
/// nginx does: a client that went away, or the handshake's failure).
fn ssl_do_handshake<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Option<Handshake> {
    let c = &mut cy.conns[key];
    let number = c.number;
    let rc = match c.stream.ssl_conn() {
        Some(t) => t.handshake(),
        None => Ok(Handshake::Done),
    };
    match rc {
        Ok(Handshake::EarlyData) => {
            log::debug!("*{number} SSL_read_early_data: 1");
            Some(Handshake::EarlyData)
        }
        Ok(Handshake::Done) => {
            log::debug!("*{number} SSL_do_handshake: 1");
            if log::log_enabled!(log::Level::Debug)
                && let Some(t) = cy.conns[key].stream.ssl()
            {
                log::debug!(
                    "*{number} SSL: {}, cipher: \"{}\"",
                    t.protocol().unwrap_or("unknown"),
                    t.cipher().unwrap_or("")
                );
                if t.reused() {
                    log::debug!("*{number} SSL reused session");
                }
            }
            Some(Handshake::Done)
        }
        Ok(wait) => {
            log::debug!("*{number} SSL_do_handshake: -1");
            let (err, want_write) = match wait {
                Handshake::WantWrite => (3, true),
                _ => (2, false),
            };
            log::debug!("*{number} SSL_get_error: {err}");
            c.read.handler = ReadHandler::SslHandshakeHandler;
            c.write.handler = WriteHandler::SslHandshakeHandler;
            if !want_write {
                c.read.ready = false;
            }
            Some(wait)
        }
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            client_info!(cy, key, "peer closed connection in SSL handshake");
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            client_info!(cy, key, "SSL_do_handshake() failed (SSL: {e})");
            None
        }
        Err(e) => {
            client_info!(
                cy,
                key,
                "SSL_do_handshake() failed ({})",
                crate::os::io::OsErr(&e)
            );
            None
        }
    }
}

/// Mirrors ngx_ssl_handshake_handler(): a read or write event while the
/// handshake runs; a timeout ends it.
pub fn ssl_handshake_handler<S: Transport>(cy: &mut Cycle<S>, key: usize, write: bool) {
    log::debug!(
        "*{} SSL handshake handler: {}",
        cy.conns[key].number,
        u8::from(write)
    );
    if cy.conns[key].read.timedout || cy.conns[key].write.timedout {
        http_ssl_handshake_handler(cy, key);
        return;
    }
    // A write event while the handshake waits for the client (the first
    // EPOLLOUT edge after accept): nothing to do, no read to try.
    if write && !cy.conns[key].stream.wants_write() {
        return;
    }
    if let Some(Handshake::WantRead | Handshake::WantWrite) = ssl_do_handshake(cy, key) {
        return;
    }
    http_ssl_handshake_handler(cy, key);
}

/// Mirrors ngx_http_ssl_handshake_handler(): the session is up, and the
/// connection waits for its first request (reusable again, as any
/// connection waiting for one); else it is closed. Records that came with
/// the client's last flight were read already: the wait-request handler
/// reads them at once.
fn http_ssl_handshake_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    // A request in early data is read before the handshake ends (nginx's
    // ngx_ssl_try_early_data returns NGX_OK with data in hand).
    let handshaked = c.stream.ssl().is_some_and(|t| t.established());
    if !handshaked {
        if c.read.timedout {
            client_info!(cy, key, "client timed out (110: Connection timed out)");
        }
        close_connection(cy, key);
        return;
    }
    c.action = Action::WaitingForRequest;
    c.read.handler = ReadHandler::WaitRequest;
    c.write.handler = WriteHandler::Empty;
    // The client's last flight was read: its records are processed, or
    // wait whole in the buffer, or the socket said it had no more (then
    // the wait-request handler need not ask it again).
    if let Some(t) = c.stream.ssl() {
        if t.has_pending_input() {
            c.read.ready = true;
        } else if t.drained() {
            c.read.ready = false;
        }
    }
    cy.reusable_connection(key, true);
    request::wait_request_handler(cy, key);
}

/// A server's names and keys, as the resolver needs them (no `Rc`: rustls
/// wants `Send + Sync`).
#[derive(Debug)]
struct SniServer {
    /// Exact names, lower case.
    exact: Vec<String>,
    /// `*.example.com` / `.example.com` as `.example.com`.
    leading: Vec<String>,
    /// `www.example.*` as `www.example.`.
    trailing: Vec<String>,
    keys: Vec<Arc<CertifiedKey>>,
    /// `ssl_reject_handshake on`.
    reject: bool,
}

/// nginx's SNI callback as a rustls certificate resolver.
#[derive(Debug)]
pub struct SniResolver {
    servers: Vec<SniServer>,
    default_server: usize,
}

impl SniResolver {
    fn server_for(&self, name: Option<&str>) -> &SniServer {
        let found = name.and_then(|n| {
            let n = n.to_ascii_lowercase();
            self.servers
                .iter()
                .find(|s| s.exact.contains(&n))
                .or_else(|| {
                    self.servers
                        .iter()
                        .filter_map(|s| {
                            let best = s
                                .leading
                                .iter()
                                .filter(|w| n.ends_with(w.as_str()) || n == w[1..])
                                .map(String::len)
                                .max()?;
                            Some((best, s))
                        })
                        .max_by_key(|(len, _)| *len)
                        .map(|(_, s)| s)
                })
                .or_else(|| {
                    self.servers
                        .iter()
                        .find(|s| s.trailing.iter().any(|w| n.starts_with(w.as_str())))
                })
        });
        found.unwrap_or(&self.servers[self.default_server])
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        let server = self.server_for(name);
        log::debug!("SSL server name: \"{}\"", name.unwrap_or(""));
        if server.reject {
            // ngx_http_ssl_servername with ssl_reject_handshake: the
            // handshake ends with an alert.
            log::info!("SSL handshake rejected for \"{}\"", name.unwrap_or(""));
            return None;
        }
        // ngx_http_ssl_servername switches to the server's certificates
        // only when it has some: one without keeps the default server's.
        let server = if server.keys.is_empty() {
            &self.servers[self.default_server]
        } else {
            server
        };
        let schemes = hello.signature_schemes();
        server
            .keys
            .iter()
            .find(|k| k.key.choose_scheme(schemes).is_some())
            .or_else(|| server.keys.first())
            .cloned()
    }
}

/// Mirrors ngx_http_ssl_init() for one listening address: the rustls
/// configuration its connections are made with, or None when no server of
/// it says `listen … ssl` (checked when the configuration was read: every
/// server of an ssl address has a certificate).
pub fn listening_tls(
    servers: &[std::rc::Rc<ServerConf>],
    default_server: usize,
) -> Option<Arc<rustls::ServerConfig>> {
    let ssl = |s: &ServerConf| s.conf.ssl.clone();
    let mut sni = Vec::with_capacity(servers.len());
    for s in servers {
        let keys = ssl(s).map(|c| c.keys.clone()).unwrap_or_default();
        let reject = ssl(s).is_some_and(|c| c.reject_handshake);
        let (mut exact, mut leading, mut trailing) = (Vec::new(), Vec::new(), Vec::new());
        for n in &s.server_names {
            let n = n.to_ascii_lowercase();
            if let Some(rest) = n.strip_prefix('*') {
                leading.push(rest.to_string());
            } else if n.starts_with('.') {
                leading.push(n);
            } else if let Some(rest) = n.strip_suffix('*') {
                trailing.push(rest.to_string());
            } else if !n.starts_with('~') && !n.is_empty() {
                exact.push(n);
            }
        }
        sni.push(SniServer {
            exact,
            leading,
            trailing,
            keys,
            reject,
        });
    }
    let default = servers.get(default_server)?;
    let conf: SslConf = ssl(default).as_deref().cloned().unwrap_or_default();
    if sni.iter().all(|s| s.keys.is_empty()) && !conf.reject_handshake {
        return None;
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if conf.protocols & protocols::TLS13 != 0 {
        versions.push(&rustls::version::TLS13);
    }
    if conf.protocols & protocols::TLS12 != 0 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = rustls::ServerConfig::builder_with_provider(conf.provider())
        .with_protocol_versions(&versions)
        .ok()?;
    // ssl_verify_client: one configuration serves every server of the
    // address, so a certificate is asked for when any of them wants one;
    // the request's server decides what it means (ssl_client.rs).
    let mut hints: Vec<rustls::DistinguishedName> = Vec::new();
    let mut verify = false;
    for s in servers {
        let Some(c) = s.conf.ssl.as_deref() else {
            continue;
        };
        if c.verify == crate::conf::http_ssl::Verify::Off {
            continue;
        }
        verify = true;
        for h in c.client_ca.iter().flat_map(|ca| &ca.hints) {
            if !hints.iter().any(|x| x.as_ref() == h.as_ref()) {
                hints.push(h.clone());
            }
        }
    }
    let builder = if verify {
        builder.with_client_cert_verifier(Arc::new(ClientAuth {
            hints,
            algs: conf.provider().signature_verification_algorithms,
        }))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(Arc::new(SniResolver {
        servers: sni,
        default_server,
    }));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = conf.prefer_server_ciphers;
    // ssl_buffer_size: smaller records (rustls takes 32 bytes up to the
    // protocol's 16k; 16k, the default, is rustls's own default).
    if conf.buffer_size < crate::conf::http_ssl::SSL_BUFFER_SIZE {
        config.max_fragment_size = Some(conf.buffer_size.max(32));
    }
    // ngx_ssl_session_cache / ssl_session_tickets (the default server's,
    // for every server of the address: one rustls configuration per
    // listening socket).
    config.session_storage = match conf.session_cache {
        SessionCache::Off => Arc::new(rustls::server::NoServerSessionStorage {}),
        SessionCache::Sessions(n) => Arc::new(SessionStore::new(n, conf.session_timeout_s)),
    };
    // ssl_early_data: rustls takes 0-RTT data only when the session is
    // resumed from a server-side store (each ticket is then used once,
    // OpenSSL's anti-replay for TLS 1.3 tickets): the tickets become IDs
    // into the session cache, a built-in one if none is configured.
    let early_data = conf.early_data && conf.protocols & protocols::TLS13 != 0;
    if early_data {
        config.max_early_data_size = crate::conf::http_ssl::SSL_MAX_EARLY_DATA;
        // The answer to a request in early data may go before the client's
        // Finished (0.5-RTT), as OpenSSL lets nginx send it.
        config.send_half_rtt_data = true;
        if conf.session_cache == SessionCache::Off {
            config.session_storage = Arc::new(SessionStore::new(
                SSL_EARLY_DATA_SESSIONS,
                conf.session_timeout_s,
            ));
        }
    } else if conf.session_tickets && !conf.ticket_keys.is_empty() {
        config.ticketer = Arc::new(TicketKeys::new(&conf.ticket_keys, conf.session_timeout_s));
    } else if conf.session_tickets {
        // No key files: a random key made when the configuration is read
        // (as OpenSSL's per-context ticket keys), and tickets live
        // ssl_session_timeout, as nginx's.
        match TicketKeys::random(conf.session_timeout_s) {
            Some(t) => config.ticketer = Arc::new(t),
            None => log::error!("SSL session tickets unavailable: no random ticket key"),
        }
    } else if conf.session_cache == SessionCache::Off {
        // Nothing to resume from: TLS 1.3 announces nothing. With a cache,
        // TLS 1.3's tickets are IDs into it (stateful, as nginx's session
        // cache serves TLS 1.3 with tickets off).
        config.send_tls13_tickets = 0;
    }
    Some(Arc::new(config))
}

/// Sessions kept for 0-RTT resumption when `ssl_early_data on` has no
/// `ssl_session_cache` (nginx's `builtin` size).
const SSL_EARLY_DATA_SESSIONS: usize = 20480;

/// A cached session: its ID, rustls's encoding of it, when it was made.
type Session = (Vec<u8>, Vec<u8>, std::time::Instant);

/// nginx's session cache (ngx_ssl_new_session / ngx_ssl_get_cached_session)
/// as a rustls session store: at most `max` sessions, the oldest dropped
/// first, none resumed after `ssl_session_timeout`.
#[derive(Debug)]
pub struct SessionStore {
    max: usize,
    timeout: std::time::Duration,
    sessions: std::sync::Mutex<std::collections::VecDeque<Session>>,
}

impl SessionStore {
    fn new(max: usize, timeout_s: u64) -> SessionStore {
        SessionStore {
            max,
            timeout: std::time::Duration::from_secs(timeout_s),
            sessions: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }
}

impl rustls::server::StoresServerSessions for SessionStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut s) = self.sessions.lock() else {
            return false;
        };
        log::debug!("ssl new session");
        s.retain(|(k, _, _)| *k != key);
        if s.len() >= self.max {
            s.pop_front();
        }
        s.push_back((key, value, std::time::Instant::now()));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let s = self.sessions.lock().ok()?;
        s.iter()
            .find(|(k, _, at)| k == key && at.elapsed() < self.timeout)
            .map(|(_, v, _)| v.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut s = self.sessions.lock().ok()?;
        let i = s.iter().position(|(k, _, _)| k == key)?;
        let (_, v, at) = s.remove(i)?;
        (at.elapsed() < self.timeout).then_some(v)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// A ticket sealed with a key file: the key's name, the nonce, then
/// AES-GCM(issue time ‖ rustls's session) with the name as associated data.
const TICKET_NAME_LEN: usize = 16;

/// `ssl_session_ticket_key` files as rustls's ticket maker: nginx's
/// ngx_ssl_ticket_key_callback, with AES-GCM (aws-lc-rs) where nginx has
/// OpenSSL's AES-CBC + HMAC-SHA256 format, so tickets are shared between
/// holdfast processes with the same files, not with nginx. The first key
/// seals; any key whose name a ticket carries opens it. Tickets live
/// `ssl_session_timeout` (the issue time is sealed in and checked, as
/// OpenSSL checks a session's timeout; fixed keys cannot be rolled).
pub struct TicketKeys {
    keys: Vec<([u8; TICKET_NAME_LEN], aws_lc_rs::aead::LessSafeKey)>,
    lifetime_s: u64,
    rng: aws_lc_rs::rand::SystemRandom,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKeys")
            .field("keys", &self.keys.len())
            .field("lifetime_s", &self.lifetime_s)
            .finish()
    }
}

impl TicketKeys {
    /// One random AES-256 key and name (no `ssl_session_ticket_key` files).
    fn random(lifetime_s: u64) -> Option<TicketKeys> {
        use aws_lc_rs::rand::SecureRandom;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut name = [0u8; TICKET_NAME_LEN];
        let mut aes_key = vec![0u8; 32];
        rng.fill(&mut name).ok()?;
        rng.fill(&mut aes_key).ok()?;
        let key = crate::conf::http_ssl::TicketKey { name, aes_key };
        Some(TicketKeys::new(&[key], lifetime_s))
    }

    fn new(files: &[crate::conf::http_ssl::TicketKey], lifetime_s: u64) -> TicketKeys {
        use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, LessSafeKey, UnboundKey};
        let keys = files
            .iter()
            .filter_map(|k| {
                let alg = if k.aes_key.len() == 16 {
                    &AES_128_GCM
                } else {
                    &AES_256_GCM
                };
                let key = UnboundKey::new(alg, &k.aes_key).ok()?;
                Some((k.name, LessSafeKey::new(key)))
            })
            .collect();
        TicketKeys {
            keys,
            lifetime_s,
            rng: aws_lc_rs::rand::SystemRandom::new(),
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl rustls::server::ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.lifetime_s).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
        use aws_lc_rs::rand::SecureRandom;
        let (name, key) = self.keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut sealed = Vec::with_capacity(8 + plain.len() + key.algorithm().tag_len());
        sealed.extend_from_slice(&unix_now().to_be_bytes());
        sealed.extend_from_slice(plain);
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&name[..]),
            &mut sealed,
        )
        .ok()?;
        log::debug!("ssl ticket encrypt, key: \"{}\"", hex(name));
        let mut ticket = Vec::with_capacity(TICKET_NAME_LEN + NONCE_LEN + sealed.len());
        ticket.extend_from_slice(name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
        let name = ticket.get(..TICKET_NAME_LEN)?;
        let Some((_, key)) = self.keys.iter().find(|(n, _)| n[..] == *name) else {
            log::debug!("ssl ticket decrypt, key: \"{}\" not found", hex(name));
            return None;
        };
        let nonce = ticket.get(TICKET_NAME_LEN..TICKET_NAME_LEN + NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = ticket.get(TICKET_NAME_LEN + NONCE_LEN..)?.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(name), &mut sealed)
            .ok()?;
        let (issued, session) = plain.split_first_chunk::<8>()?;
        let age = unix_now().saturating_sub(u64::from_be_bytes(*issued));
        if age >= self.lifetime_s {
            log::debug!("ssl ticket decrypt, key: \"{}\": expired", hex(name));
            return None;
        }
        log::debug!("ssl ticket decrypt, key: \"{}\"", hex(name));
        Some(session.to_vec())
    }
}

/// A key name as nginx's debug log shows it.
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The handshake half of `ssl_verify_client` (nginx's SSL_CTX_set_verify
/// with a callback that lets every chain through, ngx_http_ssl_verify_callback):
/// a certificate is asked for, with the CA names of ssl_client_certificate,
/// never required; one sent is taken whatever its chain (the chain is
/// verified after the handshake, for the request's server: ssl_client.rs),
/// but the client must prove it holds its key (the handshake signatures
/// are checked).
#[derive(Debug)]
struct ClientAuth {
    hints: Vec<rustls::DistinguishedName>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientAuth {
    /// A certificate webpki will not read (an X.509 v1 one, which OpenSSL
    /// and so nginx accept): the signature is checked with the public key
    /// taken out of it, by the same webpki algorithms.
    fn verify_with_spki(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
        first: rustls::Error,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let Some(tbs) = crate::core::x509::parse(cert) else {
            return Err(first);
        };
        let spki = rustls::pki_types::SubjectPublicKeyInfoDer::from(tbs.spki);
        let key = webpki::RawPublicKeyEntity::try_from(&spki).map_err(|_| first.clone())?;
        let algs = self
            .algs
            .mapping
            .iter()
            .filter(|(s, _)| *s == dss.scheme)
            .flat_map(|(_, a)| a.iter());
        for alg in algs {
            if key.verify_signature(*alg, message, dss.signature()).is_ok() {
                return Ok(rustls::client::danger::HandshakeSignatureValid::assertion());
            }
        }
        Err(first)
    }
}

impl rustls::server::danger::ClientCertVerifier for ClientAuth {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
            .or_else(|e| self.verify_with_spki(message, cert, dss, e))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
            .or_else(|e| self.verify_with_spki(message, cert, dss, e))
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}
