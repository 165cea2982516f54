//! ngx_http_proxy_module's `proxy_ssl_*` directives (TLS to the peer of a
//! `proxy_pass https://…`): `proxy_ssl_server_name`, `proxy_ssl_name`,
//! `proxy_ssl_verify`, `proxy_ssl_verify_depth`,
//! `proxy_ssl_trusted_certificate`, `proxy_ssl_session_reuse`,
//! `proxy_ssl_protocols`, `proxy_ssl_certificate`,
//! `proxy_ssl_certificate_key`.
//!
//! Files are read while the configuration is read (a bad one is refused at
//! its directive's file:line), and each distinct set of settings that a
//! `proxy_pass https://…` (or one with variables) uses gets one rustls
//! `ClientConfig`, built at configuration time (nginx's
//! ngx_http_proxy_set_ssl), shared by the levels that inherit it.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::ConfError;
use super::command::{ANY_HTTP, Command, MANY, cmd};
use super::http_ssl::protocols;
use super::parser::Directive;

/// nginx's default `proxy_ssl_verify_depth`.
pub const PROXY_SSL_VERIFY_DEPTH: u64 = 1;

/// The directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("proxy_ssl_server_name", ANY_HTTP, false, 1, 1),
    cmd("proxy_ssl_name", ANY_HTTP, false, 1, 1),
    cmd("proxy_ssl_verify", ANY_HTTP, false, 1, 1),
    cmd("proxy_ssl_verify_depth", ANY_HTTP, false, 1, 1),
    cmd("proxy_ssl_trusted_certificate", ANY_HTTP, false, 1, 1),
    cmd("proxy_ssl_session_reuse", ANY_HTTP, false, 1, 1),
    cmd("proxy_ssl_protocols", ANY_HTTP, false, 1, MANY),
    cmd("proxy_ssl_certificate", ANY_HTTP, false, 1, 1),
    cmd("proxy_ssl_certificate_key", ANY_HTTP, false, 1, 1),
];

/// Where a directive was written (for errors found when levels merge).
type At = (Rc<std::path::Path>, usize);

/// One level's `proxy_ssl_*` directives as written.
#[derive(Debug, Default)]
pub(super) struct RawProxySsl {
    server_name: Option<bool>,
    name: Option<Vec<super::variables::Segment>>,
    verify: Option<bool>,
    verify_at: Option<At>,
    verify_depth: Option<u64>,
    trusted: Option<Arc<rustls::RootCertStore>>,
    session_reuse: Option<bool>,
    protocols: Option<u8>,
    certificate: Option<(String, At)>,
    certificate_key: Option<(String, At)>,
    loaded: Option<Arc<rustls::sign::CertifiedKey>>,
}

impl RawProxySsl {
    fn is_empty(&self) -> bool {
        self.server_name.is_none()
            && self.name.is_none()
            && self.verify.is_none()
            && self.verify_depth.is_none()
            && self.trusted.is_none()
            && self.session_reuse.is_none()
            && self.protocols.is_none()
            && self.certificate.is_none()
            && self.certificate_key.is_none()
    }
}

/// A level's merged `proxy_ssl_*` settings and, once a `proxy_pass
/// https://…` uses them, their rustls client configuration.
#[derive(Default)]
pub struct ProxySslConf {
    /// `proxy_ssl_server_name on|off` (default off: no SNI).
    pub server_name: bool,
    /// `proxy_ssl_name` (default: the `proxy_pass` host, nginx's
    /// `$proxy_host`); a port in it is cut off.
    pub name: Option<Rc<[super::variables::Segment]>>,
    /// `proxy_ssl_verify on|off` (default off: any certificate is taken).
    pub verify: bool,
    verify_at: Option<At>,
    /// `proxy_ssl_verify_depth` (default 1).
    pub verify_depth: u64,
    /// `proxy_ssl_trusted_certificate`: the CAs a verified peer must chain to.
    trusted: Option<Arc<rustls::RootCertStore>>,
    /// `proxy_ssl_session_reuse on|off` (default on).
    pub session_reuse: bool,
    /// `proxy_ssl_protocols` bits (default TLSv1.2 TLSv1.3).
    pub protocols: u8,
    /// `proxy_ssl_certificate` and `_key`: the client certificate sent
    /// when the peer asks for one.
    certificate: Option<Arc<rustls::sign::CertifiedKey>>,
    /// The client configuration, built once for these settings.
    client: OnceCell<Arc<rustls::ClientConfig>>,
}

impl ProxySslConf {
    /// nginx's defaults: no SNI, no verification, depth 1, sessions reused,
    /// TLSv1.2 and TLSv1.3.
    pub fn defaults() -> Self {
        ProxySslConf {
            verify_depth: PROXY_SSL_VERIFY_DEPTH,
            session_reuse: true,
            protocols: protocols::TLS12 | protocols::TLS13,
            ..Default::default()
        }
    }

    /// The rustls client configuration (built at configuration time for
    /// every level with a `proxy_pass https://…`).
    pub fn client_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.client.get().cloned()
    }
}

impl std::fmt::Debug for ProxySslConf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySslConf")
            .field("server_name", &self.server_name)
            .field("verify", &self.verify)
            .field("verify_depth", &self.verify_depth)
            .field("session_reuse", &self.session_reuse)
            .field("protocols", &self.protocols)
            .field("built", &self.client.get().is_some())
            .finish()
    }
}

impl PartialEq for ProxySslConf {
    fn eq(&self, other: &Self) -> bool {
        self.server_name == other.server_name
            && self.name == other.name
            && self.verify == other.verify
            && self.verify_depth == other.verify_depth
            && self.session_reuse == other.session_reuse
            && self.protocols == other.protocols
            && opt_ptr_eq(&self.trusted, &other.trusted)
            && opt_ptr_eq(&self.certificate, &other.certificate)
    }
}

impl Eq for ProxySslConf {}

fn opt_ptr_eq<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The directives at any http level; `Ok(false)` when `d` is not one.
/// `path` resolves a file name against the prefix.
pub(super) fn directive(
    d: &Directive,
    raw: &mut RawProxySsl,
    path: impl Fn(&str) -> PathBuf,
) -> Result<bool, ConfError> {
    use super::command::{flag_slot, once};
    match d.name.as_str() {
        "proxy_ssl_server_name" => flag_slot(&mut raw.server_name, d)?,
        "proxy_ssl_session_reuse" => flag_slot(&mut raw.session_reuse, d)?,
        "proxy_ssl_verify" => {
            flag_slot(&mut raw.verify, d)?;
            raw.verify_at = Some((d.file.clone(), d.line));
        }
        "proxy_ssl_verify_depth" => {
            once(&raw.verify_depth, d)?;
            raw.verify_depth = Some(super::command::number(d, 0)?);
        }
        "proxy_ssl_name" => {
            once(&raw.name, d)?;
            raw.name = Some(super::variables::compile(&d.args[0]).map_err(|e| d.error(e))?);
        }
        "proxy_ssl_trusted_certificate" => {
            once(&raw.trusted, d)?;
            let file = path(&d.args[0]);
            raw.trusted = Some(Arc::new(load_trusted(&file).map_err(|e| d.error(e))?));
        }
        "proxy_ssl_protocols" => {
            once(&raw.protocols, d)?;
            raw.protocols = Some(super::http_ssl::parse_protocols(d)?);
        }
        "proxy_ssl_certificate" | "proxy_ssl_certificate_key" => {
            if d.args[0].contains('$') {
                return Err(d.error(format!(
                    "variables in \"{}\" are not supported by holdfast",
                    d.name
                )));
            }
            let slot = if d.name == "proxy_ssl_certificate" {
                &mut raw.certificate
            } else {
                &mut raw.certificate_key
            };
            once(slot, d)?;
            *slot = Some((d.args[0].clone(), (d.file.clone(), d.line)));
            // The pair is loaded once both halves are known, an error
            // reported at the directive that completed it.
            if let (Some((c, _)), Some((k, _))) = (&raw.certificate, &raw.certificate_key)
                && !c.is_empty()
                && !k.is_empty()
            {
                let ck = super::http_ssl::load(&path(c), &path(k)).map_err(|e| d.error(e))?;
                raw.loaded = Some(Arc::new(ck));
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Mirrors ngx_http_proxy_merge_loc_conf() for the `proxy_ssl_*` settings
/// and ngx_http_proxy_set_ssl() for a level whose `proxy_pass` needs TLS
/// (`needs_ctx`): the level's own settings over the parent's, and the
/// client configuration built for them (once per distinct settings).
pub(super) fn merge(
    raw: RawProxySsl,
    parent: &Rc<ProxySslConf>,
    needs_ctx: bool,
) -> Result<Rc<ProxySslConf>, ConfError> {
    let conf = if raw.is_empty() {
        parent.clone()
    } else {
        let p = &**parent;
        // An empty `proxy_ssl_certificate ""` cancels the inherited one.
        let certificate = match (&raw.certificate, &raw.certificate_key) {
            (None, None) => p.certificate.clone(),
            (Some((c, _)), Some((k, _))) if c.is_empty() || k.is_empty() => None,
            (Some(_), Some(_)) => raw.loaded.clone(),
            (Some((c, _)), None) | (None, Some((c, _))) if c.is_empty() => None,
            (Some((c, at)), None) => {
                return Err(ConfError {
                    msg: format!(
                        "no \"proxy_ssl_certificate_key\" is defined for certificate \"{c}\""
                    ),
                    file: Some(at.0.to_path_buf()),
                    line: at.1,
                });
            }
            (None, Some((_, at))) => {
                return Err(ConfError {
                    msg:
                        "no \"proxy_ssl_certificate\" is defined for \"proxy_ssl_certificate_key\""
                            .to_string(),
                    file: Some(at.0.to_path_buf()),
                    line: at.1,
                });
            }
        };
        Rc::new(ProxySslConf {
            server_name: raw.server_name.unwrap_or(p.server_name),
            name: raw.name.map(Rc::from).or_else(|| p.name.clone()),
            verify: raw.verify.unwrap_or(p.verify),
            verify_at: raw.verify_at.or_else(|| p.verify_at.clone()),
            verify_depth: raw.verify_depth.unwrap_or(p.verify_depth),
            trusted: raw.trusted.or_else(|| p.trusted.clone()),
            session_reuse: raw.session_reuse.unwrap_or(p.session_reuse),
            protocols: raw.protocols.unwrap_or(p.protocols),
            certificate,
            client: OnceCell::new(),
        })
    };
    if needs_ctx && conf.client.get().is_none() {
        let client = client_config(&conf)?;
        let _ = conf.client.set(client);
    }
    Ok(conf)
}

/// Mirrors ngx_http_proxy_set_ssl(): the rustls client configuration for
/// `conf` — its protocols, the certificate check (`proxy_ssl_verify` with
/// `proxy_ssl_trusted_certificate`, or none), the client certificate,
/// SNI on or off, session resumption on or off.
fn client_config(conf: &ProxySslConf) -> Result<Arc<rustls::ClientConfig>, ConfError> {
    let provider = super::http_ssl::provider();
    let mut versions = Vec::new();
    if conf.protocols & protocols::TLS13 != 0 {
        versions.push(&rustls::version::TLS13);
    }
    if conf.protocols & protocols::TLS12 != 0 {
        versions.push(&rustls::version::TLS12);
    }
    let at_error = |msg: String| ConfError {
        msg,
        file: conf.verify_at.as_ref().map(|a| a.0.to_path_buf()),
        line: conf.verify_at.as_ref().map_or(0, |a| a.1),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| at_error(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if conf.verify {
        let Some(roots) = conf.trusted.clone() else {
            return Err(at_error(
                "no proxy_ssl_trusted_certificate for proxy_ssl_verify".to_string(),
            ));
        };
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| at_error(e.to_string()))?;
        Arc::new(DepthVerifier {
            inner,
            depth: conf.verify_depth,
        })
    } else {
        Arc::new(AnyCertificate { provider })
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &conf.certificate {
        Some(ck) => builder.with_client_cert_resolver(Arc::new(ClientCertificate(ck.clone()))),
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = conf.server_name;
    config.resumption = if conf.session_reuse {
        rustls::client::Resumption::default()
    } else {
        rustls::client::Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// Mirrors ngx_ssl_trusted_certificate(): the CA certificates of a PEM file.
fn load_trusted(file: &std::path::Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "SSL_CTX_load_verify_locations(\"{}\") failed ({e})",
            file.display()
        )
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| fail(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(fail(&"no certificate in it"));
    }
    Ok(roots)
}

/// `proxy_ssl_verify off` (nginx's default): any certificate is taken, as
/// OpenSSL without SSL_VERIFY_PEER takes it; the handshake's signatures
/// are still checked with the provider's algorithms (the peer holds the
/// key of the certificate it sent). The key is read from the certificate
/// here, not by webpki, which refuses X.509 v1 certificates that OpenSSL
/// makes and serves.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl AnyCertificate {
    /// The handshake's signature `dss` over `message`, checked with the
    /// certificate's key and the provider's algorithm for the scheme.
    fn verify_signed(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
        let (alg, key) = public_key(cert.as_ref()).ok_or(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadEncoding,
        ))?;
        let algs = self
            .provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(s, _)| *s == dss.scheme)
            .map(|(_, a)| *a)
            .ok_or(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ))?;
        let a = algs
            .iter()
            .find(|a| a.public_key_alg_id().as_ref() == alg)
            .ok_or_else(bad)?;
        a.verify_signature(key, message, dss.signature())
            .map(|()| HandshakeSignatureValid::assertion())
            .map_err(|_| bad())
    }
}

/// One DER element: its tag, its contents, what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |l, &b| (l << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A certificate's subjectPublicKeyInfo: the algorithm identifier's
/// contents and the key's bits (RFC 5280, any version).
fn public_key(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, body, _) = der(cert)? else {
        return None;
    };
    let (SEQUENCE, mut tbs, _) = der(body)? else {
        return None;
    };
    if tbs.first() == Some(&0xa0) {
        tbs = der(tbs)?.2; // [0] version (absent in v1)
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        tbs = der(tbs)?.2;
    }
    let (SEQUENCE, spki, _) = der(tbs)? else {
        return None;
    };
    let (SEQUENCE, alg, rest) = der(spki)? else {
        return None;
    };
    let (0x03, bits, _) = der(rest)? else {
        return None;
    };
    let (0, key) = bits.split_first()? else {
        return None;
    };
    Some((alg, key))
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signed(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // RFC 8446 4.2.3: no PKCS#1 v1.5 and no SHA-1 in TLSv1.3.
        if matches!(
            dss.scheme,
            SignatureScheme::RSA_PKCS1_SHA1
                | SignatureScheme::ECDSA_SHA1_Legacy
                | SignatureScheme::RSA_PKCS1_SHA256
                | SignatureScheme::RSA_PKCS1_SHA384
                | SignatureScheme::RSA_PKCS1_SHA512
        ) {
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
        self.verify_signed(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `proxy_ssl_verify on`: webpki's check against the trusted CAs and the
/// name, and `proxy_ssl_verify_depth`. Where holdfast differs: OpenSSL
/// counts the chain it built; holdfast counts the intermediates the peer
/// sent (depth 1: the certificate must be issued by a trusted CA itself).
#[derive(Debug)]
struct DepthVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    depth: u64,
}

impl ServerCertVerifier for DepthVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ok = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if intermediates.len() as u64 >= self.depth.max(1) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `proxy_ssl_certificate`: the one certificate offered when the peer asks.
#[derive(Debug)]
struct ClientCertificate(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_is_found_in_a_certificate_and_garbage_is_refused() {
        let c = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).unwrap();
        let (alg, key) = public_key(c.cert.der()).expect("a key");
        assert_eq!(alg, rustls::pki_types::alg_id::ECDSA_P256.as_ref());
        assert_eq!(key, c.key_pair.public_key_raw());
        let der = c.cert.der().to_vec();
        for cut in 0..der.len() {
            // Cut anywhere, it is refused or read from what is there.
            let _ = public_key(&der[..cut]);
        }
        assert!(public_key(b"").is_none());
        assert!(public_key(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
