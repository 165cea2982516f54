//! A rustls client for the TLS tests (tests/tls.rs, tests/tls_conf.rs):
//! certificates made with rcgen (no key material is committed), client
//! configurations trusting them, connections, and a response reader.
//! Included with `#[path]` by the files that need it.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::common::Prefix;

/// How long a read waits.
pub const WITHIN: Duration = Duration::from_secs(10);

/// A self-signed certificate for `names` (ECDSA P-256), written as
/// `NAME.crt` / `NAME.key` under the prefix; returns its DER.
pub fn cert(p: &Prefix, file: &str, names: &[&str]) -> Vec<u8> {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("a certificate");
    p.write(&format!("{file}.crt"), c.cert.pem());
    p.write(&format!("{file}.key"), c.key_pair.serialize_pem());
    c.cert.der().to_vec()
}

/// The client's crypto provider (aws-lc-rs, as the server's).
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// A root store of `roots` (DER).
pub fn roots(roots: &[Vec<u8>]) -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(rustls::pki_types::CertificateDer::from(r.clone()))
            .unwrap();
    }
    store
}

/// A rustls client trusting `trusted` (DER).
pub fn client_config(trusted: &[Vec<u8>]) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(trusted))
            .with_no_client_auth(),
    )
}

/// A client TLS stream.
pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A connection to `addr` asking for `name` (SNI); the handshake happens
/// with the first write or read.
pub fn connect_to(addr: SocketAddr, config: &Arc<rustls::ClientConfig>, name: &str) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WITHIN)).unwrap();
    let conn = rustls::ClientConnection::new(
        config.clone(),
        rustls::pki_types::ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Reads one response with a Content-Length body; returns (head, body)
/// and leaves what follows in `buf`.
pub fn read_response(t: &mut Tls, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    let deadline = Instant::now() + WITHIN;
    let mut tmp = [0u8; 16384];
    let end = loop {
        if let Some(p) = super::common::find(buf, b"\r\n\r\n") {
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
