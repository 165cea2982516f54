//! `proxy_pass https://…` over real TCP (issue 13, proxy part): the backend
//! is a rustls server on a thread, certificates from rcgen. A proxied GET
//! (status, headers, body); one TLS connection serving two client requests
//! from the keep-alive pool (the backend counts handshakes); SNI only with
//! `proxy_ssl_server_name on`; `proxy_ssl_verify` with the right and a
//! wrong CA; a backend that speaks plain HTTP, closes mid-handshake, or
//! resets mid-body; chunked and large bodies; a response written one byte
//! per record; configuration errors at file:line.

mod common;
#[allow(dead_code)]
#[path = "common/raw.rs"]
mod raw;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Prefix, Server, get, test_config};

const WITHIN: Duration = Duration::from_secs(10);

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// A self-signed certificate for `names`, written as `FILE.crt` /
/// `FILE.key` under the prefix; returns the rustls server config serving
/// it.
fn cert(p: &Prefix, file: &str, names: &[&str]) -> Arc<rustls::ServerConfig> {
    let (chain, key) = make_cert(p, file, names);
    server_config(chain, key, None)
}

/// A self-signed certificate (its own subject, CN=FILE, so a wrong CA is
/// an unknown issuer, not a same-named one), written under the prefix.
fn make_cert(
    p: &Prefix,
    file: &str,
    names: &[&str],
) -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, file);
    let key_pair = rcgen::KeyPair::generate().expect("a key");
    let c = params.self_signed(&key_pair).expect("a certificate");
    p.write(&format!("{file}.crt"), c.pem());
    p.write(&format!("{file}.key"), key_pair.serialize_pem());
    let key = rustls::pki_types::PrivateKeyDer::try_from(key_pair.serialize_der()).expect("a key");
    (c.der().clone(), key)
}

/// A server configuration for the certificate; with `client_ca`, a client
/// certificate issued by it is required.
fn server_config(
    chain: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    client_ca: Option<rustls::pki_types::CertificateDer<'static>>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(
        builder
            .with_single_cert(vec![chain], key)
            .expect("a server config"),
    )
}

/// What a TLS backend saw.
#[derive(Default)]
struct Seen {
    accepts: AtomicUsize,
    handshakes: AtomicUsize,
    sni: Mutex<Vec<Option<String>>>,
    client_certs: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

/// A TLS backend on 127.0.0.1: each connection's handshake, then
/// `each(stream, request head)` for every request until it returns false
/// or the client closes.
struct TlsBackend {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl TlsBackend {
    fn start(
        config: Arc<rustls::ServerConfig>,
        each: impl Fn(&mut Tls, &str) -> bool + Send + Sync + 'static,
    ) -> TlsBackend {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let each = Arc::new(each);
        let s = seen.clone();
        std::thread::spawn(move || {
            for tcp in l.incoming() {
                let Ok(tcp) = tcp else { return };
                s.accepts.fetch_add(1, Ordering::SeqCst);
                let (config, s, each) = (config.clone(), s.clone(), each.clone());
                std::thread::spawn(move || {
                    tcp.set_read_timeout(Some(WITHIN)).unwrap();
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut t = rustls::StreamOwned::new(conn, tcp);
                    while t.conn.is_handshaking() {
                        if t.conn.complete_io(&mut t.sock).is_err() {
                            return;
                        }
                    }
                    s.handshakes.fetch_add(1, Ordering::SeqCst);
                    if t.conn.peer_certificates().is_some() {
                        s.client_certs.fetch_add(1, Ordering::SeqCst);
                    }
                    s.sni
                        .lock()
                        .unwrap()
                        .push(t.conn.server_name().map(str::to_string));
                    while let Some(head) = read_head(&mut t) {
                        s.requests.lock().unwrap().push(head.clone());
                        if !each(&mut t, &head) {
                            break;
                        }
                    }
                });
            }
        });
        TlsBackend { addr, seen }
    }

    fn handshakes(&self) -> usize {
        self.seen.handshakes.load(Ordering::SeqCst)
    }

    fn sni(&self) -> Vec<Option<String>> {
        self.seen.sni.lock().unwrap().clone()
    }

    fn requests(&self) -> Vec<String> {
        self.seen.requests.lock().unwrap().clone()
    }
}

/// One request head (no bodies here); None when the client closed.
fn read_head(t: &mut Tls) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match t.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn response(body: &str, keepalive: bool) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Backend: tls\r\n{}\r\n{body}",
        body.len(),
        if keepalive {
            ""
        } else {
            "Connection: close\r\n"
        }
    )
    .into_bytes()
}

/// A backend answering every request with `body`, keeping the connection.
fn hello(config: Arc<rustls::ServerConfig>) -> TlsBackend {
    TlsBackend::start(config, |t, _| {
        t.write_all(&response("hello over tls", true)).is_ok() && t.flush().is_ok()
    })
}

fn proxy(p: Prefix, body: &str) -> Server {
    proxy_with(p, "", body)
}

/// A server with `body`, after `http_extra` (upstream blocks) at http level.
fn proxy_with(p: Prefix, http_extra: &str, body: &str) -> Server {
    Server::start_with(
        p,
        64,
        &format!("{http_extra}\n{}", common::server_block(body)),
    )
}

#[test]
fn a_get_goes_over_tls_and_comes_back() {
    let p = Prefix::new("pssl-get");
    let b = hello(cert(&p, "b", &["backend.test"]));
    let s = proxy(
        p,
        &format!("    location / {{ proxy_pass https://{}/in/; }}", b.addr),
    );
    let mut c = s.connect();
    let r = c.request(get("/x?y=1"));
    r.assert_status(200)
        .assert_keepalive()
        .assert_body("hello over tls");
    assert_eq!(r.header("X-Backend"), Some("tls"));
    let reqs = b.requests();
    assert!(
        reqs[0].starts_with("GET /in/x?y=1 HTTP/1.0\r\n"),
        "{reqs:?}"
    );
    assert!(reqs[0].contains(&format!("\r\nHost: {}\r\n", b.addr)));
    // No SNI by default (proxy_ssl_server_name off), and for an address
    // never.
    assert_eq!(b.sni(), vec![None]);
}

#[test]
fn the_debug_trace_shows_nginx_s_handshake_lines() {
    let p = Prefix::new("pssl-trace");
    let b = hello(cert(&p, "b", &["backend.test"]));
    let s = Server::start_conf(
        p,
        &common::conf_at_level(
            "debug",
            64,
            &common::server_block(&format!(
                "    location / {{ proxy_pass https://{}; proxy_ssl_server_name on;\n\
                 \x20       proxy_ssl_name backend.test; }}",
                b.addr
            )),
        ),
    );
    s.request(&get("/")).assert_status(200);
    for line in [
        "upstream SSL server name: \"backend.test\"",
        "SSL_do_handshake: 1",
    ] {
        s.assert_log(line, WITHIN);
    }
    // The backend's answer usually comes after holdfast's next read found
    // nothing (SSL_ERROR_WANT_READ, then the handler on the read event);
    // on a loaded machine it can be there already, and the handshake ends
    // in one call.
    if s.log_contains("SSL_do_handshake: -1", Duration::ZERO) {
        for line in ["SSL_get_error: 2", "SSL handshake handler: 0"] {
            s.assert_log(line, WITHIN);
        }
    }
    assert_eq!(b.sni(), vec![Some("backend.test".to_string())]);
}

#[test]
fn proxy_ssl_certificate_is_offered_when_the_peer_asks() {
    let p = Prefix::new("pssl-clientcert");
    let (client, _) = make_cert(&p, "client", &["client.test"]);
    let (chain, key) = make_cert(&p, "b", &["backend.test"]);
    let b = TlsBackend::start(server_config(chain, key, Some(client)), |t, _| {
        t.write_all(&response("with a client certificate", true))
            .is_ok()
            && t.flush().is_ok()
    });
    let s = proxy(
        p,
        &format!(
            "    proxy_ssl_certificate client.crt;\n    proxy_ssl_certificate_key client.key;\n\
             \x20   location / {{ proxy_pass https://{0}; }}\n\
             \x20   location /none {{ proxy_pass https://{0};\n\
             \x20       proxy_ssl_certificate \"\"; proxy_ssl_certificate_key \"\"; }}",
            b.addr
        ),
    );
    s.request(&get("/"))
        .assert_status(200)
        .assert_body("with a client certificate");
    assert_eq!(b.seen.client_certs.load(Ordering::SeqCst), 1);
    // `""` cancels the inherited certificate: the backend refuses.
    s.request(&get("/none")).assert_status(502);
    assert_eq!(b.handshakes(), 1);
}

#[test]
fn the_keepalive_pool_keeps_the_tls_session() {
    let p = Prefix::new("pssl-pool");
    let b = hello(cert(&p, "b", &["backend.test"]));
    let s = proxy_with(
        p,
        &format!("upstream u {{ server {}; keepalive 4; }}", b.addr),
        "    location / { proxy_pass https://u/; }",
    );
    let mut c = s.connect();
    for _ in 0..2 {
        c.request(get("/"))
            .assert_status(200)
            .assert_body("hello over tls");
    }
    // Another client connection, the same peer connection.
    s.connect()
        .request(get("/"))
        .assert_status(200)
        .assert_body("hello over tls");
    assert_eq!(b.handshakes(), 1, "{:?}", b.requests());
    assert_eq!(b.seen.accepts.load(Ordering::SeqCst), 1);
    assert_eq!(b.requests().len(), 3);
    assert!(b.requests()[1].starts_with("GET / HTTP/1.1\r\n"));
}

#[test]
fn a_pooled_tls_connection_the_peer_closed_is_not_reused() {
    let p = Prefix::new("pssl-poolclose");
    // One response per connection, then close_notify and close, without
    // `Connection: close`: the pooled connection is dead when next used.
    let b = TlsBackend::start(cert(&p, "b", &["backend.test"]), |t, _| {
        let _ = t.write_all(&response("once", true));
        t.conn.send_close_notify();
        let _ = t.flush();
        false
    });
    let s = proxy_with(
        p,
        &format!("upstream u {{ server {}; keepalive 4; }}", b.addr),
        "    location / { proxy_pass https://u/; }",
    );
    let mut c = s.connect();
    for _ in 0..3 {
        c.request(get("/")).assert_status(200).assert_body("once");
    }
    assert_eq!(b.handshakes(), 3);
}

#[test]
fn sni_is_sent_only_with_proxy_ssl_server_name_on() {
    let p = Prefix::new("pssl-sni");
    let b = hello(cert(&p, "b", &["backend.test"]));
    let s = proxy_with(
        p,
        &format!("upstream u {{ server {}; }}", b.addr),
        &format!(
            "    location /off {{ proxy_pass https://u; }}\n\
             \x20   location /on {{ proxy_pass https://u; proxy_ssl_server_name on; }}\n\
             \x20   location /name {{ proxy_pass https://u; proxy_ssl_server_name on;\n\
             \x20       proxy_ssl_name $arg_n.example:443; }}\n\
             \x20   location /ip {{ proxy_pass https://{}; proxy_ssl_server_name on; }}",
            b.addr
        ),
    );
    for uri in ["/off", "/on", "/name?n=v", "/ip"] {
        s.request(&get(uri)).assert_status(200);
    }
    assert_eq!(
        b.sni(),
        vec![
            None,
            Some("u".to_string()),
            Some("v.example".to_string()),
            None
        ]
    );
}

#[test]
fn proxy_ssl_verify_takes_the_right_ca_and_refuses_others() {
    let p = Prefix::new("pssl-verify");
    let b = hello(cert(&p, "b", &["backend.test"]));
    cert(&p, "other", &["backend.test"]);
    let s = proxy(
        p,
        &format!(
            "    proxy_ssl_verify on;\n    proxy_ssl_name backend.test;\n\
             \x20   location /good {{ proxy_pass https://{0}; proxy_ssl_trusted_certificate b.crt; }}\n\
             \x20   location /bad {{ proxy_pass https://{0}; proxy_ssl_trusted_certificate other.crt; }}\n\
             \x20   location /name {{ proxy_pass https://{0}; proxy_ssl_trusted_certificate b.crt;\n\
             \x20       proxy_ssl_name wrong.test; }}",
            b.addr
        ),
    );
    s.request(&get("/good")).assert_status(200);
    s.request(&get("/bad")).assert_status(502);
    s.assert_log(
        &format!(
            "upstream SSL certificate verify error: (20:unable to get local issuer certificate) \
             while SSL handshaking to upstream, client: 127.0.0.1, server: , \
             request: \"GET /bad HTTP/1.1\", upstream: \"https://{}/bad\"",
            b.addr
        ),
        WITHIN,
    );
    s.request(&get("/name")).assert_status(502);
    s.assert_log(
        "upstream SSL certificate does not match \"wrong.test\" while SSL handshaking to upstream",
        WITHIN,
    );
}

/// A plain TCP backend running `each` on every connection.
fn plain_backend(each: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = l.local_addr().unwrap();
    let each = Arc::new(each);
    std::thread::spawn(move || {
        for tcp in l.incoming() {
            let Ok(tcp) = tcp else { return };
            let each = each.clone();
            std::thread::spawn(move || each(tcp));
        }
    });
    addr
}

#[test]
fn a_backend_without_tls_is_502() {
    let addr = plain_backend(|mut t| {
        let mut b = [0u8; 512];
        let _ = t.read(&mut b);
        let _ = t.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno");
    });
    let s = Server::with_server(&format!("    location / {{ proxy_pass https://{addr}; }}"));
    s.request(&get("/")).assert_status(502);
    s.assert_log(
        "SSL_do_handshake() failed (SSL: received corrupt message",
        WITHIN,
    );
    s.assert_log(
        &format!(
            "while SSL handshaking to upstream, client: 127.0.0.1, server: , \
             request: \"GET / HTTP/1.1\", upstream: \"https://{addr}/\""
        ),
        WITHIN,
    );
}

#[test]
fn a_backend_closing_mid_handshake_is_502_and_the_next_peer_is_tried() {
    let closing = plain_backend(|mut t| {
        let mut b = [0u8; 4096];
        let _ = t.read(&mut b);
    });
    let p = Prefix::new("pssl-midhs");
    let good = hello(cert(&p, "b", &["backend.test"]));
    let s = proxy_with(
        p,
        &format!("upstream u {{ server {closing}; server {}; }}", good.addr),
        &format!(
            "    location /one {{ proxy_pass https://{closing}; }}\n\
             \x20   location /two {{ proxy_pass https://u; }}"
        ),
    );
    s.request(&get("/one")).assert_status(502);
    s.assert_log(
        "peer closed connection in SSL handshake while SSL handshaking to upstream",
        WITHIN,
    );
    // proxy_next_upstream error: the second server answers (whichever
    // round-robin starts with).
    for _ in 0..2 {
        s.request(&get("/two"))
            .assert_status(200)
            .assert_body("hello over tls");
    }
}

#[test]
fn a_silent_backend_times_out_in_the_handshake() {
    let addr = plain_backend(|mut t| {
        let mut b = [0u8; 4096];
        let _ = t.read(&mut b);
        std::thread::sleep(Duration::from_secs(3));
    });
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass https://{addr}; proxy_connect_timeout 300ms; }}"
    ));
    s.request(&get("/")).assert_status(504);
    s.assert_log(
        "upstream timed out (110: Connection timed out) while SSL handshaking to upstream",
        WITHIN,
    );
}

#[test]
fn a_backend_resetting_mid_body_ends_the_response_short() {
    let p = Prefix::new("pssl-reset");
    let b = TlsBackend::start(cert(&p, "b", &["backend.test"]), |t, _| {
        let _ = t.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial");
        let _ = t.flush();
        std::thread::sleep(Duration::from_millis(100));
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: the socket is open; the value is a valid linger struct.
        unsafe {
            libc::setsockopt(
                t.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        false
    });
    let s = proxy(
        p,
        &format!(
            "    location / {{ proxy_pass https://{}; proxy_buffering off; }}",
            b.addr
        ),
    );
    let mut c = s.connect();
    c.send(get("/"));
    // The head and the bytes that came go out; then the client's
    // connection closes short of the length.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        match c.stream().read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        assert!(std::time::Instant::now() < deadline);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\npartial"), "{text}");
    s.assert_log("recv() failed (104: Connection reset by peer)", WITHIN);
}

#[test]
fn chunked_and_large_bodies_come_through() {
    let p = Prefix::new("pssl-bodies");
    let big: Arc<Vec<u8>> = Arc::new((0..1_500_000u32).map(|i| b'a' + (i % 26) as u8).collect());
    let big2 = big.clone();
    let b = TlsBackend::start(cert(&p, "b", &["backend.test"]), move |t, head| {
        let out = if head.starts_with("GET /chunked") {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
                .to_vec()
        } else {
            let mut v =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big2.len()).into_bytes();
            v.extend_from_slice(&big2);
            v
        };
        t.write_all(&out).is_ok() && t.flush().is_ok()
    });
    let s = proxy_with(
        p,
        &format!("upstream u {{ server {}; keepalive 2; }}", b.addr),
        "    location / { proxy_pass https://u; proxy_http_version 1.1; }\n\
         \x20   location /unbuffered { proxy_pass https://u; proxy_buffering off; }",
    );
    let mut c = raw::Client::connect(s.addr());
    let g = c.exchange(&get("/chunked"));
    assert_eq!(g.status(), 200);
    g.assert_chunked();
    assert_eq!(g.body, b"hello, world");
    for uri in ["/big", "/unbuffered/big"] {
        let g = c.exchange(&get(uri));
        assert_eq!(g.status(), 200, "{uri}");
        assert_eq!(g.body.len(), big.len(), "{uri}");
        assert!(g.body == *big, "{uri}: the body differs");
    }
    assert_eq!(b.handshakes(), 1);
}

#[test]
fn an_upgraded_connection_is_relayed_over_tls_both_ways() {
    let p = Prefix::new("pssl-upgrade");
    let b = TlsBackend::start(cert(&p, "b", &["backend.test"]), |t, _| {
        let _ = t.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n",
        );
        let _ = t.flush();
        let mut buf = [0u8; 16384];
        loop {
            match t.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    let up = buf[..n].to_ascii_uppercase();
                    if t.write_all(&up).is_err() || t.flush().is_err() {
                        return false;
                    }
                }
            }
        }
    });
    let s = proxy(
        p,
        &format!(
            "    location / {{ proxy_pass https://{}; proxy_http_version 1.1;\n\
             \x20       proxy_set_header Upgrade $http_upgrade;\n\
             \x20       proxy_set_header Connection upgrade; }}",
            b.addr
        ),
    );
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(WITHIN)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while common::find(&got, b"\r\n\r\n").is_none() {
        let n = c.read(&mut buf).expect("the 101 head");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let end = common::find(&got, b"\r\n\r\n").unwrap() + 4;
    got.drain(..end);
    // 300 KB each way, more than either socket buffer holds: the TLS
    // records held back go when the socket drains.
    let data: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut w = c.try_clone().unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || w.write_all(&sent).unwrap());
    while got.len() < data.len() {
        let n = c.read(&mut buf).expect("echoed bytes");
        assert!(n > 0, "closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    assert!(got == data.to_ascii_uppercase(), "the echo differs");
}

#[test]
fn a_response_written_one_byte_per_record_is_whole() {
    let p = Prefix::new("pssl-bytes");
    let head_and_body = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Split: yes\r\n\r\nsplit reply";
    let b = TlsBackend::start(cert(&p, "b", &["backend.test"]), move |t, _| {
        for byte in head_and_body {
            if t.write_all(&[*byte]).is_err() || t.flush().is_err() {
                return false;
            }
        }
        true
    });
    let s = proxy(
        p,
        &format!("    location / {{ proxy_pass https://{}; }}", b.addr),
    );
    let r = s.request(&get("/"));
    r.assert_status(200).assert_body("split reply");
    assert_eq!(r.header("X-Split"), Some("yes"));
}

#[test]
fn configuration_errors_are_reported_at_file_and_line() {
    let p = Prefix::new("pssl-conf");
    p.write("bad.crt", "not a certificate\n");
    for (body, msg, line) in [
        (
            "location / { proxy_pass https://127.0.0.1:1;\nproxy_ssl_verify on; }",
            "no proxy_ssl_trusted_certificate for proxy_ssl_verify",
            8,
        ),
        (
            "proxy_ssl_trusted_certificate bad.crt;",
            "SSL_CTX_load_verify_locations(",
            7,
        ),
        (
            "proxy_ssl_trusted_certificate missing.crt;",
            "SSL_CTX_load_verify_locations(",
            7,
        ),
        ("proxy_ssl_protocols SSLv9;", "invalid value \"SSLv9\"", 7),
        ("proxy_ssl_verify maybe;", "invalid value \"maybe\"", 7),
        (
            "proxy_ssl_certificate bad.crt;\nproxy_ssl_certificate_key bad.crt;",
            "cannot load certificate",
            8,
        ),
        ("proxy_ssl_ciphers HIGH;", "\"proxy_ssl_ciphers\"", 7),
    ] {
        let file = p.write_conf(&format!(
            "error_log stderr info;\n\
             events {{\n    worker_connections 64;\n}}\n\
             http {{\n    server {{\n{body}\n        listen 127.0.0.1:0;\n    }}\n}}\n"
        ));
        let out = test_config(&p, &file, WITHIN);
        assert_eq!(out.code, Some(1), "{body}: {}", out.stderr);
        assert!(out.stderr.contains(msg), "{body}: {}", out.stderr);
        let at = format!("in {}:{line}", file.display());
        assert!(
            out.stderr.contains(&at),
            "{body}: want {at} in {}",
            out.stderr
        );
    }
}
