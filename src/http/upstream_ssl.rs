//! TLS to the peer (`proxy_pass https://…`): the `NGX_HTTP_SSL` part of
//! nginx's `ngx_http_upstream.c` — ngx_http_upstream_ssl_name,
//! ngx_http_upstream_ssl_init_connection, ngx_http_upstream_ssl_handshake_handler
//! and ngx_http_upstream_ssl_handshake.
//!
//! ```text
//! event_connect_peer (socket + client session) → [write: connected]
//!   send_request_handler → ssl_init_connection → ssl_handshake ⇄ (events)
//!   ssl_handshake_handler → handshaked → send_request_handler (the request)
//!                         → failed / timed out → upstream_next or 502 / 504
//! ```
//!
//! Where holdfast differs: rustls checks the certificate inside the
//! handshake (nginx completes it, then asks SSL_get_verify_result and
//! ngx_ssl_check_host), so a refused certificate ends the handshake with
//! an alert to the peer; the log lines are nginx's all the same
//! (`upstream SSL certificate verify error: (N:…)`, `upstream SSL
//! certificate does not match "NAME"`). A session to resume is looked up
//! by name in the location's client configuration (nginx keeps one per
//! upstream peer).

use std::rc::Rc;
use std::sync::Arc;

use crate::conf::http_proxy::ProxyPass;
use crate::core::connection::{ConnData, EvKind};
use crate::core::cycle::Cycle;
use crate::http::upstream::{UpstreamState, up_mut};
use crate::os::io::{OsErr, Transport};
use crate::os::tls_client::{Handshake, HandshakeError};

/// What a peer connection's TLS session is made with: the location's
/// client configuration and the name it asks for (`u->ssl_name`).
#[derive(Debug)]
pub struct UpstreamSsl {
    /// The location's rustls client configuration (SNI on or off,
    /// verification, resumption).
    pub config: Arc<rustls::ClientConfig>,
    /// The name sent as SNI (when `proxy_ssl_server_name on`) and checked
    /// against the certificate (when `proxy_ssl_verify on`).
    pub name: rustls::pki_types::ServerName<'static>,
    /// The name as evaluated, for log lines.
    pub name_text: String,
}

/// The action of a peer's error-log lines while the session is set up.
const ACTION: &str = "SSL handshaking to upstream";

/// Mirrors ngx_http_upstream_ssl_name(): `proxy_ssl_name` evaluated for
/// request `key` (default: the `proxy_pass` host, nginx's `$proxy_host`),
/// any port cut off. None when `pass` is not `https://` or the location
/// has no client configuration.
pub(crate) fn ssl_name<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    pass: &ProxyPass,
) -> Option<Rc<UpstreamSsl>> {
    if !pass.ssl {
        return None;
    }
    let conf = cy.conns[key].req()?.loc.as_ref()?.proxy.ssl.clone();
    let config = conf.client_config()?;
    let mut text = match conf.name.as_deref() {
        Some(v) => {
            let mut out = Vec::new();
            crate::http::variables::complex_value(cy, key, v, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
        None => pass.host.clone(),
    };
    // A port (from `$proxy_host` or a `Host`-like value) is not part of the
    // name; an IPv6 literal keeps its colons.
    let from = if text.starts_with('[') {
        text.find(']').unwrap_or(0)
    } else {
        0
    };
    if let Some(colon) = text[from..].find(':') {
        text.truncate(from + colon);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    // A name rustls cannot carry (empty, or not a host name) is no SNI and
    // matches no certificate, as an address matches none by name here.
    let name = rustls::pki_types::ServerName::try_from(bare.to_string()).unwrap_or(
        rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into()),
    );
    if conf.server_name {
        log::debug!(
            "*{} upstream SSL server name: \"{bare}\"",
            cy.conns[key].number
        );
    }
    Some(Rc::new(UpstreamSsl {
        config,
        name,
        name_text: text,
    }))
}

/// Mirrors ngx_http_upstream_ssl_init_connection(): the connect is done;
/// the TLS handshake starts (under `proxy_connect_timeout`, whose timer
/// the connect armed).
pub(crate) fn ssl_init_connection<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let Some(u) = up_mut(cy, key) else { return };
    u.state = UpstreamState::SslHandshake;
    let client = u.client;
    if cy.conns[key].write.timer.is_none() {
        let t = crate::http::upstream::client_conf(cy, client)
            .map_or(crate::conf::http_proxy::PROXY_CONNECT_TIMEOUT_MS, |l| {
                l.proxy.connect_timeout_ms
            });
        cy.add_timer(key, EvKind::Write, t);
    }
    ssl_handshake(cy, key);
}

/// Mirrors ngx_ssl_handshake_handler() with
/// ngx_http_upstream_ssl_handshake_handler(): a peer event while the
/// session is set up; its timer is the connect timeout.
pub(crate) fn ssl_handshake_handler<S: Transport>(cy: &mut Cycle<S>, key: usize, ev: EvKind) {
    let c = &cy.conns[key];
    log::debug!(
        "*{} SSL handshake handler: {}",
        c.number,
        u8::from(ev == EvKind::Write)
    );
    if c.write.timedout || c.read.timedout {
        crate::http::upstream::upstream_error(
            cy,
            key,
            "upstream timed out (110: Connection timed out)",
            ACTION,
            504,
        );
        return;
    }
    ssl_handshake(cy, key);
}

/// Mirrors ngx_ssl_handshake() and ngx_http_upstream_ssl_handshake(): one
/// step; handshaked, the request goes out; failed, the next peer is tried
/// (`proxy_next_upstream error`) or the request ends 502.
fn ssl_handshake<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    let number = c.number;
    let step = c.stream.ssl_handshake();
    let err = match step {
        Ok(Handshake::Done) => {
            log::debug!("*{number} SSL_do_handshake: 1");
            if c.stream.ssl_client_reused() {
                log::debug!("*{number} SSL reused session");
            }
            // ngx_ssl_handshake sets both ready: the request goes out now.
            c.read.ready = true;
            c.write.ready = true;
            if let Some(ConnData::Upstream(u)) = c.data.as_deref_mut() {
                u.state = UpstreamState::Sending;
            }
            crate::http::upstream::send_request_handler(cy, key);
            return;
        }
        Ok(wait) => {
            log::debug!("*{number} SSL_do_handshake: -1");
            if wait == Handshake::WantRead {
                log::debug!("*{number} SSL_get_error: 2");
                c.read.ready = false;
            } else {
                log::debug!("*{number} SSL_get_error: 3");
                c.write.ready = false;
            }
            return;
        }
        Err(e) => e,
    };
    log::debug!("*{number} SSL_do_handshake: -1");
    let name = match cy.conns[key].data.as_deref() {
        Some(ConnData::Upstream(u)) => u.ssl.as_ref().map(|s| s.name_text.clone()),
        _ => None,
    };
    let msg = handshake_error_text(&err, name.as_deref().unwrap_or(""));
    crate::http::upstream::upstream_error(cy, key, &msg, ACTION, 502);
}

/// nginx's words for a failed handshake: ngx_ssl_handshake's lines, or
/// ngx_http_upstream_ssl_handshake's for a refused certificate.
fn handshake_error_text(e: &HandshakeError, name: &str) -> String {
    use rustls::CertificateError as C;
    match e {
        HandshakeError::PeerClosed => "peer closed connection in SSL handshake".to_string(),
        HandshakeError::Io(e) => format!("SSL_do_handshake() failed ({})", OsErr(e)),
        HandshakeError::Tls(rustls::Error::InvalidCertificate(C::NotValidForName))
        | HandshakeError::Tls(rustls::Error::InvalidCertificate(C::NotValidForNameContext {
            ..
        })) => {
            format!("upstream SSL certificate does not match \"{name}\"")
        }
        HandshakeError::Tls(rustls::Error::InvalidCertificate(c)) => {
            // OpenSSL's X509_V_ERR_* number and text for the closest case.
            let (n, text) = match c {
                C::UnknownIssuer => (20, "unable to get local issuer certificate"),
                C::Expired | C::ExpiredContext { .. } => (10, "certificate has expired"),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    (9, "certificate is not yet valid")
                }
                C::Revoked => (23, "certificate revoked"),
                C::BadSignature => (7, "certificate signature failure"),
                C::ApplicationVerificationFailure => (22, "certificate chain too long"),
                _ => (1, "unspecified certificate verification error"),
            };
            format!("upstream SSL certificate verify error: ({n}:{text})")
        }
        HandshakeError::Tls(e) => format!("SSL_do_handshake() failed (SSL: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errors_read_like_nginx() {
        let t = |e| handshake_error_text(&e, "example.com");
        assert_eq!(
            t(HandshakeError::PeerClosed),
            "peer closed connection in SSL handshake"
        );
        assert_eq!(
            t(HandshakeError::Io(std::io::Error::from_raw_os_error(104))),
            "SSL_do_handshake() failed (104: Connection reset by peer)"
        );
        assert_eq!(
            t(HandshakeError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
            ))),
            "upstream SSL certificate does not match \"example.com\""
        );
        assert_eq!(
            t(HandshakeError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))),
            "upstream SSL certificate verify error: (20:unable to get local issuer certificate)"
        );
        assert!(
            t(HandshakeError::Tls(rustls::Error::DecryptError))
                .starts_with("SSL_do_handshake() failed (SSL: ")
        );
    }
}
