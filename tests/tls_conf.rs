//! The configuration half of ngx_http_ssl_module (issue 13) over real TCP
//! with a rustls client: `ssl_ciphers` choosing the TLS 1.2 suites,
//! `ssl_session_ticket_key` files shared between servers, and client
//! certificates (`ssl_verify_client` and the `$ssl_client_*` variables).
//! Certificates are generated here (rcgen); no key material is committed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Prefix, Server};
use rustls::CipherSuite;

const WITHIN: Duration = Duration::from_secs(10);

/// A self-signed certificate for `names` (ECDSA P-256), written as
/// `NAME.crt` / `NAME.key` under the prefix; returns its DER.
fn cert(p: &Prefix, file: &str, names: &[&str]) -> Vec<u8> {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("a certificate");
    p.write(&format!("{file}.crt"), c.cert.pem());
    p.write(&format!("{file}.key"), c.key_pair.serialize_pem());
    c.cert.der().to_vec()
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

fn roots(roots: &[Vec<u8>]) -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(rustls::pki_types::CertificateDer::from(r.clone()))
            .unwrap();
    }
    store
}

/// A rustls client trusting `trusted` (DER).
fn client_config(trusted: &[Vec<u8>]) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(trusted))
            .with_no_client_auth(),
    )
}

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

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>, name: &str) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WITHIN)).unwrap();
    let conn = rustls::ClientConnection::new(
        config.clone(),
        rustls::pki_types::ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Reads one response with a Content-Length body; returns (head, body).
fn read_response(t: &mut Tls, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    let deadline = Instant::now() + WITHIN;
    let mut tmp = [0u8; 16384];
    let end = loop {
        if let Some(p) = common::find(buf, b"\r\n\r\n") {
            break p;
        }
        assert!(Instant::now() < deadline, "no head");
        let n = t.read(&mut tmp).expect("read");
        assert!(
            n > 0,
            "closed before the head: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < end + 4 + len {
        let n = t.read(&mut tmp).expect("read body");
        assert!(n > 0, "closed inside the body");
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[end + 4..end + 4 + len].to_vec();
    buf.drain(..end + 4 + len);
    (head, body)
}

/// One request on a new connection: Ok((head, body)), or Err when the
/// handshake (or the read) failed.
fn get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    name: &str,
    path: &str,
) -> std::io::Result<(String, String)> {
    let mut t = connect(addr, config, name);
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
