//! The configuration half of ngx_http_ssl_module (issue 13) over real TCP
//! with a rustls client: `ssl_ciphers` choosing the TLS 1.2 suites,
//! `ssl_session_ticket_key` files shared between servers, and client
//! certificates (`ssl_verify_client` and the `$ssl_client_*` variables).
//! Certificates are generated here (rcgen); no key material is committed.

mod common;
#[allow(dead_code)]
#[path = "common/tls_client.rs"]
mod tls_client;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Prefix, Server};
use rustls::CipherSuite;
use tls_client::{WITHIN, cert, client_config, provider, read_response, roots};

/// A TLS 1.2 client offering only `suite`.
fn tls12_client(trusted: &[Vec<u8>], suite: CipherSuite) -> Arc<rustls::ClientConfig> {
    let mut p = provider();
    p.cipher_suites.retain(|s| s.suite() == suite);
    assert_eq!(p.cipher_suites.len(), 1, "{suite:?}");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(p))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots(trusted))
            .with_no_client_auth(),
    )
}

/// One request on a new connection: Ok((head, body)), or Err when the
/// handshake (or the read) failed.
fn get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    name: &str,
    path: &str,
) -> std::io::Result<(String, String)> {
    let mut t = tls_client::connect_to(addr, config, name);
    t.write_all(format!("GET {path} HTTP/1.1\r\nHost: {name}\r\n\r\n").as_bytes())?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    // The first read drives the handshake: an error there is the answer.
    let n = t.read(&mut tmp)?;
    buf.extend_from_slice(&tmp[..n]);
    let (head, body) = read_response(&mut t, &mut buf);
    Ok((head, String::from_utf8_lossy(&body).into_owned()))
}

fn addr(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// The configuration is refused with `msg` at holdfast.conf:LINE.
fn refused(p: &Prefix, http: &str, msg: &str) -> String {
    let file = p.write_conf(&common::conf(16, http));
    let out = common::test_config(p, &file, WITHIN);
    assert_eq!(out.code, Some(1), "{http}: {}", out.stderr);
    assert!(out.stderr.contains(msg), "{http}: {}", out.stderr);
    assert!(
        out.stderr.contains("holdfast.conf:"),
        "{http}: {}",
        out.stderr
    );
    out.stderr
}

#[test]
fn ssl_ciphers_choose_the_tls12_suites() {
    let p = Prefix::new("tlsc-ciphers");
    let root = cert(&p, "c", &["localhost"]);
    let ports = [common::free_port(), common::free_port()];
    let _s = Server::start_with(
        p,
        64,
        &format!(
            "ssl_certificate c.crt;\nssl_certificate_key c.key;\n\
             server {{\n    listen 127.0.0.1:{} ssl;\n    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;\n\
             \x20   location / {{ return 200 \"$ssl_protocol $ssl_cipher\"; }}\n}}\n\
             server {{\n    listen 127.0.0.1:{} ssl;\n    ssl_prefer_server_ciphers on;\n\
             \x20   ssl_ciphers \"ECDHE+CHACHA20 ECDHE+AESGCM:!AES256 @STRENGTH\";\n\
             \x20   location / {{ return 200 \"$ssl_protocol $ssl_cipher\"; }}\n}}",
            ports[0], ports[1]
        ),
    );
    let only = |s| tls12_client(std::slice::from_ref(&root), s);
    // The one suite listed works; $ssl_cipher names it as OpenSSL does.
    let (_, body) = get(
        addr(ports[0]),
        &only(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        "localhost",
        "/",
    )
    .unwrap();
    assert_eq!(body, "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256");
    // A client offering only a suite the list leaves out fails.
    for s in [
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ] {
        assert!(
            get(addr(ports[0]), &only(s), "localhost", "/").is_err(),
            "{s:?}"
        );
    }
    // TLS 1.3 is not ssl_ciphers' business.
    let (_, body) = get(
        addr(ports[0]),
        &client_config(std::slice::from_ref(&root)),
        "localhost",
        "/",
    )
    .unwrap();
    assert_eq!(body, "TLSv1.3 TLS_AES_256_GCM_SHA384");
    // The server's order wins with ssl_prefer_server_ciphers: CHACHA20
    // first; AES256 is gone.
    let mut p = provider();
    p.cipher_suites
        .retain(|s| s.version() == &rustls::version::TLS12);
    let all12 = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(p))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots(std::slice::from_ref(&root)))
            .with_no_client_auth(),
    );
    let (_, body) = get(addr(ports[1]), &all12, "localhost", "/").unwrap();
    assert_eq!(body, "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305");
    assert!(
        get(
            addr(ports[1]),
            &only(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
            "localhost",
            "/"
        )
        .is_err()
    );
    let (_, body) = get(
        addr(ports[1]),
        &only(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        "localhost",
        "/",
    )
    .unwrap();
    assert_eq!(body, "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256");
}

#[test]
fn ssl_ciphers_lists_are_checked_when_the_configuration_is_read() {
    let p = Prefix::new("tlsc-ciphers-conf");
    cert(&p, "c", &["localhost"]);
    let srv = |extra: &str| {
        format!(
            "server {{\n    listen 127.0.0.1:0 ssl;\n    ssl_certificate c.crt;\n\
             \x20   ssl_certificate_key c.key;\n    {extra}\n}}"
        )
    };
    // Mozilla's intermediate line loads; its DHE suites are named in a
    // warning and left out.
    let file = p.write_conf(&common::conf(
        16,
        &srv(
            "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
              ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
              ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
              DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305;",
        ),
    ));
    let out = common::test_config(&p, &file, WITHIN);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("left out: DHE-RSA-AES128-GCM-SHA256, DHE-RSA-AES256-GCM-SHA384, DHE-RSA-CHACHA20-POLY1305 in "),
        "{}",
        out.stderr
    );
    refused(
        &p,
        &srv("ssl_ciphers HIGH:NO-SUCH-CIPHER;"),
        "unknown cipher \"NO-SUCH-CIPHER\"",
    );
    let e = refused(
        &p,
        &srv("ssl_ciphers DHE-RSA-AES128-GCM-SHA256:AES128-SHA;"),
        "\"ssl_ciphers\" leaves no TLS 1.2 cipher",
    );
    assert!(e.contains("holdfast.conf:11"), "{e}");
    // Without TLS 1.2 there is nothing to choose.
    let file = p.write_conf(&common::conf(
        16,
        &srv("ssl_protocols TLSv1.3; ssl_ciphers DHE-RSA-AES128-GCM-SHA256;"),
    ));
    assert_eq!(common::test_config(&p, &file, WITHIN).code, Some(0));
}

/// `$ssl_session_reused` of one request on a new connection.
fn reused(port: u16, config: &Arc<rustls::ClientConfig>) -> String {
    let (_, body) = get(addr(port), config, "localhost", "/").unwrap();
    body
}

#[test]
fn ticket_key_files_are_shared_between_processes() {
    let p1 = Prefix::new("tlsc-tickets-1");
    let p2 = Prefix::new("tlsc-tickets-2");
    let root = cert(&p1, "c", &["localhost"]);
    for f in ["c.crt", "c.key"] {
        p2.write(f, std::fs::read(p1.path().join(f)).unwrap());
    }
    let key = |n: u8, len: usize| {
        (0..len)
            .map(|i| n.wrapping_mul(31) ^ i as u8)
            .collect::<Vec<u8>>()
    };
    for p in [&p1, &p2] {
        p.write("k1.key", key(1, 80));
        p.write("k2.key", key(2, 48));
        p.write("k3.key", key(3, 80));
    }
    let ports: Vec<u16> = (0..5).map(|_| common::free_port()).collect();
    let srv = |port: u16, extra: &str| {
        format!(
            "server {{\n    listen 127.0.0.1:{port} ssl;\n    {extra}\n\
             \x20   location / {{ return 200 $ssl_session_reused; }}\n}}\n"
        )
    };
    let certs = "ssl_certificate c.crt;\nssl_certificate_key c.key;\n";
    // Two processes: A, D, E in the first, B and C in the second.
    let (a, b, c, d, e) = (ports[0], ports[1], ports[2], ports[3], ports[4]);
    let _one = Server::start_with(
        p1,
        64,
        &format!(
            "{certs}{}{}{}",
            srv(a, "ssl_session_ticket_key k1.key;"),
            srv(d, "ssl_session_ticket_key k1.key; ssl_session_tickets off;"),
            srv(e, "ssl_session_ticket_key k1.key; ssl_session_timeout 1s;"),
        ),
    );
    let _two = Server::start_with(
        p2,
        64,
        &format!(
            "{certs}{}{}",
            srv(
                b,
                "ssl_session_ticket_key k2.key; ssl_session_ticket_key k1.key;"
            ),
            srv(c, "ssl_session_ticket_key k3.key;"),
        ),
    );
    let fresh = || client_config(std::slice::from_ref(&root));
    // A's ticket (sealed with k1) resumes at B, which has k1 second.
    let cl = fresh();
    assert_eq!(reused(a, &cl), ".");
    assert_eq!(reused(b, &cl), "r");
    assert_eq!(reused(b, &cl), "r");
    // B seals with k2, which A does not have.
    let cl = fresh();
    assert_eq!(reused(b, &cl), ".");
    assert_eq!(reused(a, &cl), ".");
    // Different files: no resumption.
    let cl = fresh();
    assert_eq!(reused(a, &cl), ".");
    assert_eq!(reused(c, &cl), ".");
    // Tickets off: none is sent, nothing resumes.
    let cl = fresh();
    assert_eq!(reused(d, &cl), ".");
    assert_eq!(reused(d, &cl), ".");
    // TLS 1.2's tickets too.
    let mut p = provider();
    p.cipher_suites
        .retain(|s| s.version() == &rustls::version::TLS12);
    let cl = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(p))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots(std::slice::from_ref(&root)))
            .with_no_client_auth(),
    );
    assert_eq!(reused(a, &cl), ".");
    assert_eq!(reused(b, &cl), "r");
    // A ticket lives ssl_session_timeout (E: 1s). Time has to pass here:
    // there is nothing to wait on but the clock.
    let cl = fresh();
    assert_eq!(reused(e, &cl), ".");
    assert_eq!(reused(e, &cl), "r");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(reused(e, &cl), ".");
}

#[test]
fn ticket_key_files_are_checked_when_the_configuration_is_read() {
    let p = Prefix::new("tlsc-tickets-conf");
    p.write("short.key", [7u8; 47]);
    refused(
        &p,
        "ssl_session_ticket_key short.key;",
        "short.key\" must be 48 or 80 bytes in ",
    );
    refused(
        &p,
        "ssl_session_ticket_key missing.key;",
        "missing.key\" failed (2: No such file or directory) in ",
    );
}

/// A certificate made by rcgen, with its key.
struct Made {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Made {
    fn der(&self) -> rustls::pki_types::CertificateDer<'static> {
        self.cert.der().clone()
    }
}

/// A CA (`ca: true`) or a client certificate (`ca: false`) named
/// O=Holdfast Test, CN=`cn`, signed by `by` (else self-signed).
fn make(cn: &str, ca: bool, serial: &[u8], by: Option<&Made>) -> Made {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa};
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "Holdfast Test");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    } else {
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    }
    let cert = match by {
        Some(issuer) => p.signed_by(&key, &issuer.cert, &issuer.key).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    Made { cert, key }
}

/// A client presenting `chain` (its own certificate first, signed by `key`).
fn client_with_cert(
    trusted: &[Vec<u8>],
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> Arc<rustls::ClientConfig> {
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(trusted))
            .with_client_auth_cert(chain, key)
            .unwrap(),
    )
}

#[test]
fn client_certificates_are_verified_at_request_time() {
    let p = Prefix::new("tlsc-verify");
    let root = cert(&p, "c", &["localhost"]);
    let ca = make("Test CA", true, &[1], None);
    let int = make("Test Intermediate", true, &[2], Some(&ca));
    let good = make("client", false, &[0x9f, 0x01], Some(&ca));
    let deep = make("deep client", false, &[4], Some(&int));
    let other_ca = make("Other CA", true, &[5], None);
    let stranger = make("stranger", false, &[6], Some(&other_ca));
    let selfie = make("selfie", false, &[7], None);
    p.write("ca.crt", ca.cert.pem());
    let ports: Vec<u16> = (0..6).map(|_| common::free_port()).collect();
    let vars = "$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|$ssl_client_fingerprint";
    let srv = |port: u16, extra: &str| {
        format!(
            "server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_client_certificate ca.crt;\n    {extra}\n\
             \x20   location / {{ return 200 \"{vars}\"; }}\n\
             \x20   location /raw {{ return 200 $ssl_client_raw_cert; }}\n\
             \x20   location /escaped {{ return 200 $ssl_client_escaped_cert; }}\n\
             \x20   location /cert {{ return 200 $ssl_client_cert; }}\n}}\n"
        )
    };
    let _s = Server::start_with(
        p,
        64,
        &format!(
            "ssl_certificate c.crt;\nssl_certificate_key c.key;\n{}{}{}{}{}{}",
            srv(ports[0], "ssl_verify_client on;"),
            srv(ports[1], "ssl_verify_client optional;"),
            srv(ports[2], "ssl_verify_client optional_no_ca;"),
            srv(
                ports[3],
                "ssl_verify_client on;\n    error_page 495 =200 /e495;\n    error_page 496 =200 /e496;\n\
                 \x20   location /e495 { return 200 \"495 $ssl_client_verify\"; }\n\
                 \x20   location /e496 { return 200 \"496 $ssl_client_verify\"; }"
            ),
            srv(ports[4], "ssl_verify_client on; ssl_verify_depth 0;"),
            srv(ports[5], "ssl_verify_client off;"),
        ),
    );
    let trusted = std::slice::from_ref(&root);
    let none = client_config(trusted);
    let with = |m: &Made, chain: Vec<rustls::pki_types::CertificateDer<'static>>| {
        let mut full = vec![m.der()];
        full.extend(chain);
        client_with_cert(trusted, full, &m.key)
    };
    let ask = |port: usize, cl: &Arc<rustls::ClientConfig>, path: &str| {
        get(addr(ports[port]), cl, "localhost", path).unwrap()
    };
    let fingerprint = |m: &Made| -> String {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, m.cert.der())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };

    // on: none sent → 400 (496); a good one → 200 with the variables.
    let (head, body) = ask(0, &none, "/");
    assert!(head.starts_with("HTTP/1.1 400 Bad Request"), "{head}");
    assert!(
        body.contains("400 No required SSL certificate was sent"),
        "{body}"
    );
    let (head, body) = ask(0, &with(&good, vec![]), "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        body,
        format!(
            "SUCCESS|CN=client,O=Holdfast Test|CN=Test CA,O=Holdfast Test|9F01|{}",
            fingerprint(&good)
        )
    );
    // Another CA's → 400 (495).
    let (head, body) = ask(0, &with(&stranger, vec![]), "/");
    assert!(head.starts_with("HTTP/1.1 400 Bad Request"), "{head}");
    assert!(body.contains("400 The SSL certificate error"), "{body}");
    // Through an intermediate the client sends: depth 1 (the default) lets
    // one intermediate through, depth 0 does not.
    let (_, body) = ask(0, &with(&deep, vec![int.der()]), "/");
    assert!(body.starts_with("SUCCESS|CN=deep client"), "{body}");
    let (head, _) = ask(4, &with(&deep, vec![int.der()]), "/");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let (_, body) = ask(4, &with(&good, vec![]), "/");
    assert!(body.starts_with("SUCCESS|"), "{body}");
    // optional: none → NONE; another CA's → 400.
    let (head, body) = ask(1, &none, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "NONE||||");
    let (head, _) = ask(1, &with(&stranger, vec![]), "/");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    // optional_no_ca: an unknown issuer passes, FAILED.
    let (head, body) = ask(2, &with(&stranger, vec![]), "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body.starts_with(
            "FAILED:unable to get local issuer certificate|CN=stranger,O=Holdfast Test|CN=Other CA,"
        ),
        "{body}"
    );
    let (_, body) = ask(2, &with(&selfie, vec![]), "/");
    assert!(
        body.starts_with("FAILED:self-signed certificate|CN=selfie"),
        "{body}"
    );
    // The certificate in PEM, escaped, and with tabs.
    let (_, raw) = ask(2, &with(&selfie, vec![]), "/raw");
    assert_eq!(raw, selfie.cert.pem().replace("\r\n", "\n"));
    let (_, escaped) = ask(2, &with(&selfie, vec![]), "/escaped");
    assert!(
        escaped.starts_with("-----BEGIN%20CERTIFICATE-----%0A"),
        "{escaped}"
    );
    let unescaped = {
        let b = escaped.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&escaped[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    assert_eq!(unescaped, raw);
    let (_, tabbed) = ask(2, &with(&selfie, vec![]), "/cert");
    assert_eq!(tabbed, raw.trim_end().replace('\n', "\n\t"));
    // error_page 495 / 496 take the errors.
    let (head, body) = ask(3, &none, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "496 NONE");
    let (_, body) = ask(3, &with(&stranger, vec![]), "/");
    assert_eq!(body, "495 FAILED:unable to get local issuer certificate");
    // off: a certificate sent (another server of the address asked for
    // one) is not looked at.
    let (head, body) = ask(5, &with(&good, vec![]), "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "NONE||||");
    // A Host other than the SNI name on a verifying server: 421.
    let mut t = tls_client::connect_to(addr(ports[0]), &with(&good, vec![]), "localhost");
    t.write_all(b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut t, &mut Vec::new());
    assert!(
        head.starts_with("HTTP/1.1 421 Misdirected Request"),
        "{head}"
    );
}

#[test]
fn client_certificate_settings_are_checked_when_the_configuration_is_read() {
    let p = Prefix::new("tlsc-verify-conf");
    cert(&p, "c", &["localhost"]);
    p.write("empty.crt", "");
    let srv = |extra: &str| {
        format!(
            "server {{\n    listen 127.0.0.1:0 ssl;\n    ssl_certificate c.crt;\n\
             \x20   ssl_certificate_key c.key;\n    {extra}\n}}"
        )
    };
    refused(
        &p,
        &srv("ssl_verify_client on;"),
        "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client",
    );
    refused(
        &p,
        &srv("ssl_verify_client maybe;"),
        "invalid value \"maybe\"",
    );
    refused(
        &p,
        &srv("ssl_client_certificate empty.crt;"),
        "cannot load certificates",
    );
    refused(&p, &srv("ssl_verify_depth x;"), "invalid number");
    // optional_no_ca needs no CA file.
    let file = p.write_conf(&common::conf(16, &srv("ssl_verify_client optional_no_ca;")));
    assert_eq!(common::test_config(&p, &file, WITHIN).code, Some(0));
}
