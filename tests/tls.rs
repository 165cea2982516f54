//! TLS over real TCP (issue 13) with a rustls client: handshake and
//! keep-alive, SNI choosing the server block and its certificate, pipelined
//! requests split at every byte, a large file, a client sending plain HTTP
//! or garbage to the TLS port, and certificates refused at file:line.
//! Certificates are generated here (rcgen); no key material is committed.

mod common;
#[allow(dead_code)]
#[path = "common/tls_client.rs"]
mod tls_client;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Prefix, Server};
use tls_client::{Tls, WITHIN, cert, client_config, connect_to, read_response};

fn connect(s: &Server, config: &Arc<rustls::ClientConfig>, name: &str) -> Tls {
    connect_to(s.addr(), config, name)
}

fn tls_server(p: Prefix, servers: &str) -> Server {
    Server::start_with(p, 64, servers)
}

#[test]
fn handshake_keepalive_and_sni_choose_the_server_and_its_certificate() {
    let p = Prefix::new("tls-sni");
    let a = cert(&p, "a", &["a.test"]);
    let b = cert(&p, "b", &["b.test"]);
    p.write("html/index.html", "default\n");
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n    server_name a.test;\n\
         \x20   ssl_certificate a.crt;\n    ssl_certificate_key a.key;\n\
         \x20   location / { return 200 \"A $server_name\\n\"; }\n}\n\
         server {\n    listen 127.0.0.1:0 ssl;\n    server_name b.test;\n\
         \x20   ssl_certificate b.crt;\n    ssl_certificate_key b.key;\n\
         \x20   location / { return 200 \"B $server_name\\n\"; }\n}",
    );
    // Both names on one address (the first listen's); each gets its own
    // certificate: a client trusting only that one completes the handshake.
    for (name, root, want) in [("a.test", &a, "A a.test\n"), ("b.test", &b, "B b.test\n")] {
        let config = client_config(std::slice::from_ref(root));
        let mut t = connect(&s, &config, name);
        let mut buf = Vec::new();
        for i in 0..3 {
            t.write_all(format!("GET /{i} HTTP/1.1\r\nHost: {name}\r\n\r\n").as_bytes())
                .unwrap();
            let (head, body) = read_response(&mut t, &mut buf);
            assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
            assert!(head.contains("Connection: keep-alive"), "{head}");
            assert_eq!(body, want.as_bytes());
        }
        assert_eq!(
            t.conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        assert_eq!(t.conn.alpn_protocol(), None);
    }
    // A client that trusts only b's certificate but asks for a.test is
    // given a's: the handshake fails on its side.
    let config = client_config(std::slice::from_ref(&b));
    let mut t = connect(&s, &config, "a.test");
    assert!(
        t.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            .is_err()
            || {
                let mut x = [0u8; 16];
                t.read(&mut x).is_err()
            }
    );
}

#[test]
fn pipelined_requests_split_at_every_byte_and_a_large_file() {
    let p = Prefix::new("tls-pipe");
    let root = cert(&p, "c", &["localhost"]);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    p.write("html/big.bin", &big);
    p.write("html/small.txt", "small\n");
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n    sendfile on;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n    root html;\n}",
    );
    let config = client_config(&[root]);
    let two =
        "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut t = connect(&s, &config, "localhost");
    let mut buf = Vec::new();
    for at in 1..two.len() {
        t.write_all(&two.as_bytes()[..at]).unwrap();
        t.flush().unwrap();
        t.write_all(&two.as_bytes()[at..]).unwrap();
        for _ in 0..2 {
            let (head, body) = read_response(&mut t, &mut buf);
            assert!(head.starts_with("HTTP/1.1 200"), "split at {at}: {head}");
            assert_eq!(body, b"small\n", "split at {at}");
        }
    }
    // 3 MB through TLS records (the file is read and encrypted, not
    // sendfile'd), then the connection still serves.
    t.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut t, &mut buf);
    assert!(head.contains("Content-Length: 3000000"), "{head}");
    assert!(body == big, "the large body differs");
    t.write_all(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (_, body) = read_response(&mut t, &mut buf);
    assert_eq!(body, b"small\n");
}

#[test]
fn plain_http_and_garbage_to_the_tls_port_are_closed_and_cost_nothing_else() {
    let p = Prefix::new("tls-bad");
    let root = cert(&p, "c", &["localhost"]);
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   error_page 497 https://$host:$server_port$request_uri;\n\
         \x20   location / { return 200 ok; }\n\
         \x20   location = /status { stub_status; }\n}",
    );
    // nginx's idiom (at server level: the check runs before the location
    // is found): error_page 497 sends a plain client to https.
    let mut t = TcpStream::connect(s.addr()).unwrap();
    t.set_read_timeout(Some(WITHIN)).unwrap();
    t.write_all(b"GET /r/x?a=1 HTTP/1.1\r\nHost: h.test\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    t.read_to_end(&mut out).expect("closed by the server");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 302 "), "{text}");
    assert!(
        text.contains(&format!(
            "Location: https://h.test:{}/r/x?a=1\r\n",
            s.addr().port()
        )),
        "{text}"
    );
    // Broken ClientHellos (a record header, then garbage or a length
    // beyond the record limit): closed, an alert at most, never HTTP.
    for bytes in [
        &b"\x16\x03\x01\x00\x05hello"[..],
        b"\x16\x03\x01\xff\xff",
        b"\x16\x03\x01\x00\x02\x01\x00",
    ] {
        let mut t = TcpStream::connect(s.addr()).unwrap();
        t.set_read_timeout(Some(WITHIN)).unwrap();
        t.write_all(bytes).unwrap();
        let _ = t.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = t.read_to_end(&mut out);
        assert!(
            !out.starts_with(b"HTTP/"),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }
    // Bytes that are no TLS record at all are plain HTTP to nginx: NULs
    // are a bad request line, 400.
    let mut t = TcpStream::connect(s.addr()).unwrap();
    t.set_read_timeout(Some(WITHIN)).unwrap();
    t.write_all(&[0u8; 300]).unwrap();
    let mut out = Vec::new();
    let _ = t.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 400 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    // (The server closes lingering: it waits for this side's close.)
    drop(t);
    // The server is fine: a real client is served.
    let config = client_config(&[root]);
    let mut t = connect(&s, &config, "localhost");
    t.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (head, body) = read_response(&mut t, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"ok");
    // Each broken hello is logged (nginx's info lines) and its connection
    // is gone: only this one is active, all six were handled.
    let failed = |l: &str| {
        l.contains("[info]")
            && (l.contains("SSL_do_handshake() failed (SSL: ")
                || l.contains("peer closed connection in SSL handshake"))
            && l.contains("while SSL handshaking, client: 127.0.0.1")
    };
    assert!(s.wait_lines(failed, 3, WITHIN), "{}", s.log_text());
    let deadline = Instant::now() + WITHIN;
    let body = loop {
        t.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (_, body) = read_response(&mut t, &mut Vec::new());
        let body = String::from_utf8(body).unwrap();
        if body.starts_with("Active connections: 1 \n") || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(body.starts_with("Active connections: 1 \n"), "{body}");
    let counts: Vec<&str> = body.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(&counts[..2], ["6", "6"], "{body}\n{}", s.log_text());
}

#[test]
fn certificates_are_checked_when_the_configuration_is_read() {
    let p = Prefix::new("tls-conf");
    cert(&p, "c", &["localhost"]);
    cert(&p, "d", &["localhost"]);
    p.write("bad.crt", "not a certificate");
    for (server, msg) in [
        (
            "listen 127.0.0.1:0 ssl;",
            "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
        ),
        (
            "listen 127.0.0.1:0 ssl; ssl_certificate bad.crt; ssl_certificate_key c.key;",
            "cannot load certificate",
        ),
        (
            "listen 127.0.0.1:0 ssl; ssl_certificate c.crt; ssl_certificate_key missing.key;",
            "cannot load certificate key",
        ),
        (
            "listen 127.0.0.1:0 ssl; ssl_certificate c.crt; ssl_certificate_key d.key;",
            "cannot load certificate",
        ),
        (
            "ssl_protocols TLSv1 TLSv1.1;",
            "no protocol holdfast supports",
        ),
        ("ssl_protocols TLSv9;", "invalid value \"TLSv9\""),
    ] {
        let file = p.write_conf(&common::conf(16, &format!("server {{ {server} }}")));
        let out = common::test_config(&p, &file, WITHIN);
        assert_eq!(out.code, Some(1), "{server}: {}", out.stderr);
        assert!(out.stderr.contains(msg), "{server}: {}", out.stderr);
        assert!(
            out.stderr.contains("holdfast.conf:"),
            "{server}: {}",
            out.stderr
        );
    }
}

#[test]
fn variables_and_session_resumption_by_ticket_and_by_cache() {
    let p = Prefix::new("tls-resume");
    let root = cert(&p, "c", &["localhost"]);
    let ports = [
        common::free_port(),
        common::free_port(),
        common::free_port(),
    ];
    // Kept to the end: dropping it stops the server.
    let _server = tls_server(
        p,
        &format!(
            "server {{\n    listen 127.0.0.1:{} ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   location / {{ return 200 \"$ssl_protocol $ssl_cipher $ssl_server_name $ssl_session_reused $https $scheme\"; }}\n\
         \x20   location /redirect {{ return 301 /there; }}\n}}\n\
         server {{\n    listen 127.0.0.1:{} ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   ssl_session_tickets off;\n    ssl_session_cache shared:SSL:1m;\n    ssl_session_timeout 1h;\n\
         \x20   location / {{ return 200 \"$ssl_session_reused\"; }}\n}}\n\
         server {{\n    listen 127.0.0.1:{} ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   ssl_session_tickets off;\n\
         \x20   location / {{ return 200 \"$ssl_session_reused\"; }}\n}}",
            ports[0], ports[1], ports[2]
        ),
    );
    let config = client_config(&[root]);
    let get = |addr: std::net::SocketAddr, path: &str| {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WITHIN)).unwrap();
        let conn = rustls::ClientConnection::new(
            config.clone(),
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut t = rustls::StreamOwned::new(conn, tcp);
        t.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .unwrap();
        let (head, body) = read_response(&mut t, &mut Vec::new());
        (head, String::from_utf8(body).unwrap())
    };
    let addrs: Vec<std::net::SocketAddr> = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
        .collect();
    // Tickets (the default): the second connection resumes.
    let (_, first) = get(addrs[0], "/");
    assert_eq!(
        first, "TLSv1.3 TLS_AES_256_GCM_SHA384 localhost . on https",
        "{first}"
    );
    let (_, second) = get(addrs[0], "/");
    assert!(second.contains(" r on https"), "{second}");
    // An absolute redirect says https.
    let (head, _) = get(addrs[0], "/redirect");
    assert!(head.contains("Location: https://localhost:"), "{head}");
    // Tickets off, a session cache: resumed from the cache.
    let (_, a) = get(addrs[1], "/");
    let (_, b) = get(addrs[1], "/");
    assert_eq!((a.as_str(), b.as_str()), (".", "r"));
    // Neither: never resumed.
    let (_, a) = get(addrs[2], "/");
    let (_, b) = get(addrs[2], "/");
    assert_eq!((a.as_str(), b.as_str()), (".", "."));
}

#[test]
fn plain_http_to_the_tls_port_is_answered_400_as_nginx() {
    let p = Prefix::new("tls-plain");
    cert(&p, "c", &["localhost"]);
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   location / { return 200 ok; }\n}",
    );
    // nginx's 400 "The plain HTTP request was sent to HTTPS port" (497),
    // then the close; the request split in two reads changes nothing.
    for split in [None, Some(5)] {
        let mut t = TcpStream::connect(s.addr()).unwrap();
        t.set_read_timeout(Some(WITHIN)).unwrap();
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        match split {
            None => t.write_all(req).unwrap(),
            Some(at) => {
                t.write_all(&req[..at]).unwrap();
                std::thread::sleep(Duration::from_millis(20));
                t.write_all(&req[at..]).unwrap();
            }
        }
        let mut out = Vec::new();
        t.read_to_end(&mut out).expect("closed by the server");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("Connection: close"), "{text}");
        assert!(
            text.contains("<title>400 The plain HTTP request was sent to HTTPS port</title>"),
            "{text}"
        );
    }
    assert!(s.log_contains("client sent plain HTTP request to HTTPS port", WITHIN));
}

/// A reader that keeps every byte the server sent (the raw TLS records).
struct Tap {
    inner: TcpStream,
    seen: Vec<u8>,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Write for Tap {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn reject_handshake_and_buffer_size() {
    let p = Prefix::new("tls-reject");
    let root = cert(&p, "c", &["localhost", "small", "other"]);
    p.write("html/big.bin", vec![b'x'; 50_000]);
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n    server_name localhost;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n    root html;\n}\n\
         server {\n    listen 127.0.0.1:0;\n    server_name small;\n\
         \x20   ssl_buffer_size 1k;\n    root html;\n}\n\
         server {\n    listen 127.0.0.1:0;\n    server_name closed.test;\n\
         \x20   ssl_reject_handshake on;\n}",
    );
    let config = client_config(&[root]);
    // A name whose server says ssl_reject_handshake: no handshake.
    let mut t = connect(&s, &config, "closed.test");
    let failed = t
        .write_all(b"GET / HTTP/1.1\r\nHost: closed.test\r\n\r\n")
        .and_then(|()| {
            let mut x = [0u8; 16];
            t.read(&mut x).map(|_| ())
        });
    assert!(failed.is_err(), "the handshake should have been refused");
    // A server without certificates of its own keeps the default
    // server's (nginx's SNI switch). (Its ssl_buffer_size does not apply:
    // holdfast takes the TLS settings of the address's default server, a
    // documented difference; the record size is checked below on a server
    // of its own.)
    let mut t = connect(&s, &config, "small");
    t.write_all(b"GET /big.bin HTTP/1.1\r\nHost: small\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut t, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body.len(), 50_000);

    // ssl_buffer_size on the address's default server: every record the
    // server sends after the handshake holds at most 1k of plaintext.
    let p = Prefix::new("tls-bufsize");
    let root = cert(&p, "c", &["localhost"]);
    p.write("html/big.bin", vec![b'y'; 50_000]);
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n    ssl_buffer_size 1k;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n    root html;\n}",
    );
    let config = client_config(&[root]);
    let tcp = TcpStream::connect(s.addr()).unwrap();
    tcp.set_read_timeout(Some(WITHIN)).unwrap();
    let conn = rustls::ClientConnection::new(
        config,
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut t = rustls::StreamOwned::new(
        conn,
        Tap {
            inner: tcp,
            seen: Vec::new(),
        },
    );
    t.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut tmp = [0u8; 65536];
    while common::find(&got, b"\r\n\r\n").is_none_or(|h| got.len() < h + 4 + 50_000) {
        let n = t.read(&mut tmp).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&tmp[..n]);
    }
    let raw = &t.sock.seen;
    let (mut at, mut app_records, mut largest) = (0, 0, 0);
    while at + 5 <= raw.len() {
        let len = usize::from(u16::from_be_bytes([raw[at + 3], raw[at + 4]]));
        if raw[at] == 0x17 {
            app_records += 1;
            largest = largest.max(len);
        }
        at += 5 + len;
    }
    // 50,000 bytes in records of 1k plaintext (+ the record overhead).
    assert!(app_records >= 49, "{app_records} records");
    assert!(largest <= 1024 + 256, "a record of {largest} bytes");
}

/// The first `n` bytes a rustls client sends (its ClientHello).
fn client_hello(config: &Arc<rustls::ClientConfig>, n: usize) -> Vec<u8> {
    let mut c = rustls::ClientConnection::new(
        config.clone(),
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    c.write_tls(&mut out).unwrap();
    out.truncate(n);
    out
}

/// The server closes `t` (EOF or reset) within `within`; returns when.
fn closed_within(t: &mut TcpStream, within: Duration) -> Duration {
    let t0 = Instant::now();
    t.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 4096];
    loop {
        match t.read(&mut b) {
            Ok(0) => return t0.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return t0.elapsed(),
            Err(e) => panic!("not closed within {within:?}: {e}"),
        }
    }
}

#[test]
fn handshake_handler_runs_under_client_header_timeout_with_nginx_trace() {
    let p = Prefix::new("tls-hs");
    let root = cert(&p, "c", &["localhost"]);
    p.mkdir("logs");
    let text = common::conf_at_level(
        "debug",
        64,
        "    client_header_timeout 1s;\n\
         server {\n    listen 127.0.0.1:0 ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   location / { return 200 ok; }\n}",
    );
    let s = Server::start_conf(p, &text);
    let config = client_config(&[root]);
    // Silent after connect, and stalled inside the ClientHello: both cut
    // by client_header_timeout, logged as nginx logs them.
    let mut silent = TcpStream::connect(s.addr()).unwrap();
    let mut stalled = TcpStream::connect(s.addr()).unwrap();
    stalled.write_all(&client_hello(&config, 40)).unwrap();
    // A complete handshake meanwhile is not disturbed.
    let mut t = connect(&s, &config, "localhost");
    t.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut t, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, b"ok");
    let waited = closed_within(&mut silent, Duration::from_secs(5));
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    closed_within(&mut stalled, Duration::from_secs(5));
    assert!(
        s.wait_log_count(
            "client timed out (110: Connection timed out) while SSL handshaking, client: 127.0.0.1",
            2,
            WITHIN
        ),
        "{}",
        s.log_text()
    );
    // The handshake's trace, in nginx's order: for the connection that
    // completed it (its client may answer before the server reads again,
    // so the handshake may end in one call)...
    let port = t.sock.local_addr().unwrap().port();
    assert_in_order(
        &trace_of(&s, port),
        &[
            "http check ssl handshake",
            "https ssl handshake: 0x16",
            "reusable connection: 0",
            "SSL_do_handshake: 1",
            "SSL: TLSv1.3, cipher: \"TLS_",
            "reusable connection: 1",
            "http wait request handler",
            "http process request line",
        ],
    );
    // ...and for the one stalled inside its ClientHello: the handshake
    // waits for more (SSL_ERROR_WANT_READ), its handler runs on the timeout.
    let port = stalled.local_addr().unwrap().port();
    assert_in_order(
        &trace_of(&s, port),
        &[
            "https ssl handshake: 0x16",
            "SSL_do_handshake: -1",
            "SSL_get_error: 2",
            "SSL handshake handler: 0",
            "client timed out (110: Connection timed out) while SSL handshaking",
        ],
    );
}

/// The debug lines of the connection whose client port is `port`, each
/// without its `*N ` prefix.
fn trace_of(s: &Server, port: u16) -> Vec<String> {
    let lines = s.log_lines();
    let accept = lines
        .iter()
        .find(|l| l.contains(&format!(" accept: 127.0.0.1:{port} ")))
        .expect("accept line");
    let at = accept.find(" *").unwrap();
    let n = format!("{} ", accept[at + 1..].split(' ').next().unwrap());
    lines
        .iter()
        .filter_map(|l| l.find(&n).map(|i| l[i + n.len()..].to_string()))
        .collect()
}

/// Each of `wants` starts a line of `trace`, in this order.
fn assert_in_order(trace: &[String], wants: &[&str]) {
    let mut from = 0;
    for want in wants {
        let Some(i) = trace[from..].iter().position(|l| l.starts_with(want)) else {
            panic!("no {want:?} after line {from} of\n{}", trace.join("\n"));
        };
        from += i + 1;
    }
}

#[test]
fn a_tls_client_that_stops_reading_costs_bounded_memory_and_gets_everything() {
    let p = Prefix::new("tls-slow");
    let root = cert(&p, "c", &["localhost"]);
    let big: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    p.write("html/big.bin", &big);
    p.write("html/small.txt", "small\n");
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n    root html;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n}",
    );
    let config = client_config(&[root]);
    let rss0 = common::rss_kib(s.pid());
    let mut slow = connect(&s, &config, "localhost");
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    // Read a little, then stop: the server fills the socket and waits.
    let mut buf = vec![0u8; 1024];
    let n = slow.read(&mut buf).unwrap();
    assert!(n > 0);
    // Others are served meanwhile.
    for _ in 0..3 {
        let mut t = connect(&s, &config, "localhost");
        t.write_all(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (head, body) = read_response(&mut t, &mut Vec::new());
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_eq!(body, b"small\n");
    }
    // What the server holds for the stalled client is records it could not
    // send yet (one round), not the file.
    let grown = common::rss_kib(s.pid()).saturating_sub(rss0);
    assert!(grown < 4 * 1024, "RSS grew {grown} KiB");
    // Then it reads on, and gets every byte.
    let mut got = buf[..n].to_vec();
    let (head, body) = read_response(&mut slow, &mut got);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(body == big, "body differs ({} bytes)", body.len());
}

#[test]
fn lingering_close_sends_close_notify_first() {
    let p = Prefix::new("tls-linger");
    let root = cert(&p, "c", &["localhost"]);
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   client_max_body_size 1k;\n    location / { return 200 ok; }\n}",
    );
    let config = client_config(&[root]);
    let mut t = connect(&s, &config, "localhost");
    // A body the server refuses (413) while the client is still sending:
    // nginx answers, then closes lingering.
    t.write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    t.write_all(&[b'x'; 8192]).unwrap();
    let mut all = Vec::new();
    // rustls says Ok(0) only for a close_notify; a bare TCP close is an
    // UnexpectedEof error.
    let r = t.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert!(r.is_ok(), "no close_notify: {r:?}");
}

#[test]
fn reload_picks_up_new_certificates_and_open_connections_keep_theirs() {
    let p = Prefix::new("tls-reload");
    let old = cert(&p, "c", &["localhost"]);
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   location / { return 200 ok; }\n}",
    );
    let trust_old = client_config(std::slice::from_ref(&old));
    // A connection in the middle of a request when the reload comes.
    let mut busy = connect(&s, &trust_old, "localhost");
    busy.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    busy.flush().unwrap();
    // Make sure its handshake is done before the files change.
    while busy.conn.is_handshaking() {
        busy.conn.complete_io(&mut busy.sock).unwrap();
    }
    let new = cert(s.prefix(), "c", &["localhost"]);
    let trust_new = client_config(std::slice::from_ref(&new));
    s.signal(libc::SIGHUP);
    assert!(
        s.wait_log_count("listening on", 2, WITHIN) || s.log_contains("reconfigur", WITHIN),
        "{}",
        s.log_text()
    );
    // The open connection keeps its session.
    busy.write_all(b"\r\n").unwrap();
    let (head, body) = read_response(&mut busy, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, b"ok");
    // New connections get the new certificate: a client trusting only the
    // old one fails, one trusting the new one is served.
    let deadline = Instant::now() + WITHIN;
    let served_new = loop {
        let mut t = connect(&s, &trust_new, "localhost");
        if t.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .and_then(|_| t.flush())
            .is_ok()
        {
            let mut b = [0u8; 64];
            if t.read(&mut b).is_ok_and(|n| n > 0) {
                break true;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(served_new, "{}", s.log_text());
    let mut t = connect(&s, &trust_old, "localhost");
    assert!(
        t.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .is_err()
            || t.read(&mut [0u8; 64]).is_err(),
        "the old certificate is still served"
    );
    // A broken certificate at reload keeps the running configuration.
    s.prefix()
        .write("c.crt", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    s.signal(libc::SIGHUP);
    assert!(
        s.log_contains("c.crt", WITHIN),
        "the bad file is named: {}",
        s.log_text()
    );
    let mut t = connect(&s, &trust_new, "localhost");
    t.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut t, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
}

#[test]
fn the_client_hello_server_name_is_read_whole_or_not_at_all() {
    let config = client_config(&[]);
    let mut c = rustls::ClientConnection::new(
        config,
        rustls::pki_types::ServerName::try_from("a.test").unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    c.write_tls(&mut hello).unwrap();
    assert_eq!(
        holdfast::os::tls::client_hello_server_name(&hello),
        Some("a.test")
    );
    // Cut anywhere: nothing, never a piece of a name or a panic.
    for n in 0..hello.len() {
        assert_eq!(
            holdfast::os::tls::client_hello_server_name(&hello[..n]),
            None,
            "cut at {n}"
        );
    }
    // A hello without the extension (an address as the name).
    let mut c = rustls::ClientConnection::new(
        client_config(&[]),
        rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    c.write_tls(&mut hello).unwrap();
    assert_eq!(holdfast::os::tls::client_hello_server_name(&hello), None);
}

#[test]
fn early_data_is_read_before_the_handshake_ends_only_when_enabled() {
    let p = Prefix::new("tls-0rtt");
    let root = cert(&p, "c", &["localhost"]);
    let ports = [common::free_port(), common::free_port()];
    let _s = tls_server(
        p,
        &format!(
            "server {{\n    listen 127.0.0.1:{} ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   ssl_early_data on;\n\
         \x20   location / {{ return 200 \"early:$ssl_early_data reused:$ssl_session_reused\"; }}\n}}\n\
         server {{\n    listen 127.0.0.1:{} ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   location / {{ return 200 \"early:$ssl_early_data reused:$ssl_session_reused\"; }}\n}}",
            ports[0], ports[1]
        ),
    );
    let mut config = (*client_config(&[root])).clone();
    config.enable_early_data = true;
    let config = Arc::new(config);
    let req = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // Returns (early data accepted, body).
    let get = |port: u16| {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(WITHIN)).unwrap();
        let mut conn = rustls::ClientConnection::new(
            config.clone(),
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let sent_early = match conn.early_data() {
            Some(mut e) => e.write(req).unwrap() == req.len(),
            None => false,
        };
        let mut t = rustls::StreamOwned::new(conn, tcp);
        while t.conn.is_handshaking() {
            t.conn.complete_io(&mut t.sock).unwrap();
        }
        let accepted = sent_early && t.conn.is_early_data_accepted();
        if !accepted {
            t.write_all(req).unwrap();
        }
        let (head, body) = read_response(&mut t, &mut Vec::new());
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        (accepted, String::from_utf8(body).unwrap())
    };
    // The first connection gets a ticket; the second sends its request as
    // 0-RTT data, which the server reads before the client's Finished.
    assert_eq!(get(ports[0]), (false, "early: reused:.".to_string()));
    assert_eq!(get(ports[0]), (true, "early:1 reused:r".to_string()));
    // A ticket is used once: a third connection gets a new one on the
    // second, and the server accepts early data again with it.
    let (accepted, body) = get(ports[0]);
    assert!(body.ends_with("reused:r"), "{body}");
    assert!(accepted, "{body}");
    // ssl_early_data off (the default): resumed, but no early data.
    assert_eq!(get(ports[1]), (false, "early: reused:.".to_string()));
    assert_eq!(get(ports[1]), (false, "early: reused:r".to_string()));
}

#[test]
fn only_the_default_server_of_an_ssl_address_needs_a_certificate() {
    let p = Prefix::new("tls-nocert");
    let root = cert(&p, "c", &["localhost", "other.test"]);
    let port = common::free_port();
    // As nginx: a second server on the address without certificates is
    // served with the default server's under SNI.
    let s = tls_server(
        p,
        &format!(
            "server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name localhost;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   location / {{ return 200 default; }}\n}}\n\
         server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name other.test;\n\
         \x20   location / {{ return 200 other; }}\n}}"
        ),
    );
    let config = client_config(&[root]);
    let mut t = connect(&s, &config, "other.test");
    t.write_all(b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut t, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, b"other");
    // The default server without one is refused, at its listen line.
    let p = Prefix::new("tls-nocert-default");
    cert(&p, "c", &["localhost"]);
    let file = p.write_conf(&common::conf(
        64,
        "server {\n    listen 127.0.0.1:1 ssl;\n    server_name a;\n}\n\
         server {\n    listen 127.0.0.1:1 ssl;\n    server_name b;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n}",
    ));
    let line = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .position(|l| l.contains("listen 127.0.0.1:1 ssl;"))
        .unwrap()
        + 1;
    let out = common::test_config(&p, &file, WITHIN);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in {}:{line}",
            file.display()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn idle_tls_connections_are_drained_oldest_first_with_close_notify() {
    let p = Prefix::new("tls-drain");
    let root = cert(&p, "c", &["localhost"]);
    // worker_connections 16: the listener takes one slot; with 14 idle
    // keep-alive connections one is left, so every newcomer drains.
    let s = Server::start_with(
        p,
        16,
        "server {\n    listen 127.0.0.1:0 ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   location / { return 200 ok; }\n}",
    );
    let config = client_config(&[root]);
    let mut idle: Vec<Tls> = (0..14)
        .map(|_| {
            let mut t = connect(&s, &config, "localhost");
            t.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .unwrap();
            let (head, _) = read_response(&mut t, &mut Vec::new());
            assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
            t
        })
        .collect();
    // A newcomer is served...
    let mut t = connect(&s, &config, "localhost");
    t.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut t, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, b"ok");
    assert!(
        s.log_contains(
            "worker_connections are not enough, reusing connections",
            WITHIN
        ),
        "{}",
        s.log_text()
    );
    // ...by closing the oldest idle one, which is told so (close_notify:
    // rustls reads Ok(0), not an unexpected EOF); the youngest stays.
    let mut b = [0u8; 16];
    assert_eq!(idle[0].read(&mut b).expect("a clean TLS close"), 0);
    idle[13]
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut idle[13], &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
}

#[test]
fn the_inspector_shows_a_tls_handshake_by_nginx_s_handler_names() {
    let p = Prefix::new("tls-inspect");
    let root = cert(&p, "c", &["localhost"]);
    let port = common::free_port();
    let s = tls_server(
        p,
        &format!(
            "server {{\n    listen 127.0.0.1:0;\n    location = /cs {{ connection_status; }}\n}}\n\
         server {{\n    listen 127.0.0.1:{port} ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n}}"
        ),
    );
    let config = client_config(&[root]);
    // One byte of a record: the first-byte check (ngx_http_ssl_handshake)
    // is done, the handshake (ngx_ssl_handshake_handler) waits for more.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled.write_all(&client_hello(&config, 40)).unwrap();
    let me = stalled.local_addr().unwrap().to_string();
    let deadline = Instant::now() + WITHIN;
    let entry = loop {
        let mut c = TcpStream::connect(s.addr()).unwrap();
        c.set_read_timeout(Some(WITHIN)).unwrap();
        c.write_all(b"GET /cs?format=json&state=ssl_handshake HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        let text = String::from_utf8_lossy(&all).into_owned();
        if let Some(at) = text.find(&format!("\"peer\":\"{me}\"")) {
            // To the entry's end: the next entry, or the list's.
            let end = [text[at..].find("\n{"), text[at..].find("],")]
                .into_iter()
                .flatten()
                .min()
                .map_or(text.len(), |e| at + e);
            break text[at..end].to_string();
        }
        assert!(Instant::now() < deadline, "not listed: {text}");
    };
    for want in [
        "\"state\":\"ssl_handshake\"",
        "\"read_handler\":\"ngx_ssl_handshake_handler\"",
        "\"write_handler\":\"ngx_ssl_handshake_handler\"",
        "\"action\":\"SSL handshaking\"",
        "\"event\":\"read\"",
    ] {
        assert!(entry.contains(want), "{want} not in {entry}");
    }
    assert!(entry.contains("\"reusable\":null"), "{entry}");
}

#[test]
fn alpn_chooses_http11_and_refuses_a_client_without_it() {
    let p = Prefix::new("tls-alpn");
    let root = cert(&p, "c", &["localhost"]);
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   location / { return 200 ok; }\n}",
    );
    let with_alpn = |protos: &[&[u8]]| {
        let mut c = (*client_config(std::slice::from_ref(&root))).clone();
        c.alpn_protocols = protos.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    };
    // h2 and http/1.1 offered: http/1.1 (holdfast speaks HTTP/1.x only).
    let mut t = connect(&s, &with_alpn(&[b"h2", b"http/1.1"]), "localhost");
    t.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut t, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(t.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    // Only h2: no protocol in common, the handshake fails (nginx without
    // http2 answers the same no_application_protocol alert).
    let mut t = connect(&s, &with_alpn(&[b"h2"]), "localhost");
    let r = t
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .and_then(|_| t.read(&mut [0u8; 64]).map(|_| ()));
    let e = r.expect_err("a handshake without a common protocol");
    assert!(format!("{e:?}").contains("NoApplicationProtocol"), "{e:?}");
}

#[test]
fn tickets_live_ssl_session_timeout_without_key_files() {
    let p = Prefix::new("tls-ticket-life");
    let root = cert(&p, "c", &["localhost"]);
    let s = tls_server(
        p,
        "server {\n    listen 127.0.0.1:0 ssl;\n\
         \x20   ssl_certificate c.crt;\n    ssl_certificate_key c.key;\n\
         \x20   ssl_session_timeout 1s;\n\
         \x20   location / { return 200 \"$ssl_session_reused\"; }\n}",
    );
    let config = client_config(&[root]);
    let get = || {
        let mut t = connect(&s, &config, "localhost");
        t.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (_, body) = read_response(&mut t, &mut Vec::new());
        String::from_utf8(body).unwrap()
    };
    assert_eq!(get(), ".");
    assert_eq!(get(), "r");
    // Past ssl_session_timeout the ticket is refused: a full handshake.
    // (Time passing is what is tested: a sleep.)
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(get(), ".");
}
