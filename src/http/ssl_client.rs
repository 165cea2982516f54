//! Client certificates after the handshake: the `ssl_verify_client` part
//! of nginx's ngx_http_process_request (495 "The SSL certificate error",
//! 496 "No required SSL certificate was sent"), the 421 of
//! ngx_http_set_virtual_server for a Host other than the SNI name, and
//! the `$ssl_client_*` variables (ngx_ssl_get_client_verify,
//! ngx_ssl_get_certificate, … in event/ngx_event_openssl.c).
//!
//! Where holdfast differs: OpenSSL verifies the chain during the
//! handshake, against the SNI server's store. rustls has one configuration
//! per address, so the handshake only asks for a certificate (when any
//! server of the address verifies) and checks the client holds its key
//! (ssl_module.rs); the chain is verified here, once per request, against
//! the request's server's ssl_client_certificate / ssl_trusted_certificate,
//! with rustls's path validation (webpki). A server with verify off
//! ignores a certificate the client sent because another server wanted
//! one: `$ssl_client_verify` is NONE there, as in nginx.

use rustls::pki_types::{CertificateDer, UnixTime};

use crate::conf::http_ssl::{SslConf, Verify};
use crate::conf::variables::Variable;
use crate::core::connection::req_in;
use crate::core::cycle::Cycle;
use crate::core::x509;
use crate::http::request::client_info;
use crate::os::io::Transport;

/// nginx's NGX_HTTP_MISDIRECTED_REQUEST.
pub const MISDIRECTED_REQUEST: u16 = 421;
/// nginx's NGX_HTTP_REQUEST_HEADER_TOO_LARGE's neighbours: a certificate
/// that did not verify (sent as 400).
pub const SSL_CERT_ERROR: u16 = 495;
/// No certificate where `ssl_verify_client on` requires one (sent as 400).
pub const NO_CERT: u16 = 496;

/// The verification of a request's client certificate
/// (`$ssl_client_verify`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientVerify {
    /// Not TLS, or the server does not verify: nothing was asked for.
    #[default]
    NotAsked,
    /// `NONE`: no certificate was sent.
    None,
    /// `SUCCESS`.
    Success,
    /// `FAILED:reason` (OpenSSL's X509_verify_cert_error_string), and
    /// whether `optional_no_ca` lets it through (an unknown issuer).
    Failed(&'static str, bool),
}

/// OpenSSL's strings for the errors webpki reports.
fn reason(e: &webpki::Error, self_signed: bool) -> (&'static str, bool) {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer if self_signed => ("self-signed certificate", true),
        E::UnknownIssuer => ("unable to get local issuer certificate", true),
        E::CertExpired { .. } => ("certificate has expired", false),
        E::CertNotValidYet { .. } => ("certificate is not yet valid", false),
        E::InvalidSignatureForPublicKey
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            ("certificate signature failure", false)
        }
        E::MaximumPathDepthExceeded => ("certificate chain too long", false),
        E::CaUsedAsEndEntity | E::RequiredEkuNotFoundContext(_) => {
            ("unsupported certificate purpose", false)
        }
        _ => ("unspecified certificate verification error", false),
    }
}

/// Verifies `chain` (the client's, its own certificate first) for `conf`
/// as OpenSSL's X509_verify_cert would with nginx's settings: a
/// certificate of ssl_client_certificate / ssl_trusted_certificate sent as
/// is is trusted (within its validity); otherwise the chain must lead,
/// through the client's and the files' intermediates, to a self-signed one
/// of the files, with at most `ssl_verify_depth` intermediates.
pub fn verify_chain(conf: &SslConf, chain: Option<&[CertificateDer<'static>]>) -> ClientVerify {
    let Some((ee, sent)) = chain.and_then(|c| c.split_first()) else {
        return ClientVerify::None;
    };
    let Some(tbs) = x509::parse(ee) else {
        return ClientVerify::Failed("unable to decode issuer public key", false);
    };
    let now = UnixTime::now();
    let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let ca = conf.client_ca.as_deref();
    if ca.is_some_and(|ca| ca.certs.contains(ee)) {
        return if secs < tbs.not_before {
            ClientVerify::Failed("certificate is not yet valid", false)
        } else if secs > tbs.not_after {
            ClientVerify::Failed("certificate has expired", false)
        } else {
            ClientVerify::Success
        };
    }
    let self_signed = tbs.issuer == tbs.subject;
    if self_signed {
        // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT (webpki would first
        // refuse a CA certificate as a client's).
        return ClientVerify::Failed("self-signed certificate", true);
    }
    let Ok(cert) = webpki::EndEntityCert::try_from(ee) else {
        return ClientVerify::Failed("unable to decode issuer public key", false);
    };
    let anchors = ca.map(|ca| &ca.anchors[..]).unwrap_or_default();
    let mut intermediates: Vec<CertificateDer<'_>> = sent.to_vec();
    intermediates.extend(ca.iter().flat_map(|ca| ca.intermediates.iter().cloned()));
    let depth = usize::try_from(conf.verify_depth).unwrap_or(usize::MAX);
    let within_depth = |p: &webpki::VerifiedPath<'_>| {
        if p.intermediate_certificates().count() > depth {
            Err(webpki::Error::MaximumPathDepthExceeded)
        } else {
            Ok(())
        }
    };
    let algs = conf.provider().signature_verification_algorithms.all;
    match cert.verify_for_usage(
        algs,
        anchors,
        &intermediates,
        now,
        webpki::KeyUsage::client_auth(),
        None,
        Some(&within_depth),
    ) {
        Ok(_) => ClientVerify::Success,
        Err(e) => {
            let (why, optional) = reason(&e, false);
            ClientVerify::Failed(why, optional)
        }
    }
}

/// The request's server is known: ngx_http_set_virtual_server's check that
/// a verifying server was not reached by a Host other than the SNI name
/// (421), then ngx_http_process_request's client certificate checks (495,
/// 496). The verification is kept in the request for the variables.
/// Some(status) ends the request.
pub fn verify_request<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Option<u16> {
    let c = &mut cy.conns[key];
    let tls = c.stream.ssl()?;
    let r = req_in(&mut c.data)?;
    let conf = r.server.as_ref()?.conf.ssl.clone()?;
    if conf.verify == Verify::Off {
        return None;
    }
    if let Some(sni) = tls.server_name()
        && !sni.as_bytes().eq_ignore_ascii_case(&r.host)
    {
        client_info!(
            cy,
            key,
            "client attempted to request the server name different from the one that was negotiated"
        );
        return Some(MISDIRECTED_REQUEST);
    }
    let result = verify_chain(&conf, tls.peer_certificates());
    r.ssl_client = result;
    match result {
        ClientVerify::Failed(why, optional)
            if !(optional && conf.verify == Verify::OptionalNoCa) =>
        {
            client_info!(cy, key, "client SSL certificate verify error: ({why})");
            Some(SSL_CERT_ERROR)
        }
        ClientVerify::None if conf.verify == Verify::On => {
            client_info!(cy, key, "client sent no required SSL certificate");
            Some(NO_CERT)
        }
        _ => None,
    }
}

/// One `$ssl_client_*` value; false: not found (no TLS, or no request).
/// Empty when no certificate was taken for the request.
pub fn variable(
    var: &Variable,
    tls: Option<&crate::os::tls::TlsStream>,
    verify: Option<ClientVerify>,
    out: &mut Vec<u8>,
) -> bool {
    let (Some(tls), Some(verify)) = (tls, verify) else {
        return false;
    };
    if let Variable::SslClientVerify = var {
        match verify {
            ClientVerify::NotAsked | ClientVerify::None => out.extend_from_slice(b"NONE"),
            ClientVerify::Success => out.extend_from_slice(b"SUCCESS"),
            ClientVerify::Failed(why, _) => {
                out.extend_from_slice(b"FAILED:");
                out.extend_from_slice(why.as_bytes());
            }
        }
        return true;
    }
    let cert = match verify {
        ClientVerify::Success | ClientVerify::Failed(..) => {
            tls.peer_certificates().and_then(|c| c.first())
        }
        ClientVerify::NotAsked | ClientVerify::None => None,
    };
    let Some(cert) = cert else { return true };
    match var {
        Variable::SslClientRawCert => out.extend_from_slice(pem(cert).as_bytes()),
        Variable::SslClientCert => {
            let p = pem(cert);
            let p = p.strip_suffix('\n').unwrap_or(&p);
            out.extend_from_slice(p.replace('\n', "\n\t").as_bytes());
        }
        Variable::SslClientEscapedCert => {
            for &b in pem(cert).as_bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(b);
                } else {
                    out.extend_from_slice(format!("%{b:02X}").as_bytes());
                }
            }
        }
        Variable::SslClientFingerprint => {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert);
            for b in d.as_ref() {
                out.extend_from_slice(format!("{b:02x}").as_bytes());
            }
        }
        _ => {
            let Some(tbs) = x509::parse(cert) else {
                return true;
            };
            let text = match var {
                Variable::SslClientSerial => Some(x509::serial_hex(tbs.serial)),
                Variable::SslClientSDn => x509::dn_rfc2253(tbs.subject),
                _ => x509::dn_rfc2253(tbs.issuer),
            };
            out.extend_from_slice(text.unwrap_or_default().as_bytes());
        }
    }
    true
}

/// A certificate as PEM_write_bio_X509 writes it.
fn pem(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(B64[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pem_is_base64_in_64_column_lines() {
        let p = super::pem(&[0u8; 50]);
        assert_eq!(
            p,
            "-----BEGIN CERTIFICATE-----\n\
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\
             AAA=\n-----END CERTIFICATE-----\n"
        );
        assert!(super::pem(b"ab").contains("\nYWI=\n"));
    }
}
