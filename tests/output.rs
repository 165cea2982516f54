//! How responses go out: `sendfile on|off` (whole files, byte for byte,
//! through a client that reads slowly), `sendfile_max_chunk`, `tcp_nopush`
//! and `tcp_nodelay` (seen in the debug trace), `limit_rate` /
//! `limit_rate_after` (the body arrives at the configured pace), and a
//! client that closes while its response waits (ngx_http_test_reading).

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Prefix, Server, conf_at_level, get, server_block};

/// A file of `n` bytes whose content changes at every offset.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn start(tag: &str, level: &str, body: &str, files: &[(&str, Vec<u8>)]) -> Server {
    let p = Prefix::new(tag);
    for (name, data) in files {
        p.write(&format!("html/{name}"), data);
    }
    Server::start_conf(p, &conf_at_level(level, 64, &server_block(body)))
}

/// Sends a GET and reads the whole response to the close, in small reads
/// with pauses, so the server meets a full socket and must resume.
fn fetch_slowly(s: &Server, path: &str) -> Vec<u8> {
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::io::Write::write_all(&mut c, req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let mut reads = 0;
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e} after {} bytes", out.len()),
        }
        reads += 1;
        if reads % 16 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    out
}

fn body_of(resp: &[u8]) -> &[u8] {
    let at = common::find(resp, b"\r\n\r\n").expect("header end");
    &resp[at + 4..]
}

#[test]
fn files_go_out_whole_with_sendfile_on_and_off() {
    let big = pattern(3 << 20);
    let small = pattern(20_000);
    let s = start(
        "out-sendfile",
        "debug",
        "    location /on/ { sendfile on; }\n    location /off/ { sendfile off; }\n    \
         location /chunk/ { sendfile on; sendfile_max_chunk 64k; }",
        &[
            ("on/big", big.clone()),
            ("off/big", big.clone()),
            ("chunk/big", big.clone()),
            ("on/small", small.clone()),
            ("off/small", small.clone()),
        ],
    );
    for path in ["/on/big", "/off/big", "/chunk/big"] {
        let resp = fetch_slowly(&s, path);
        assert!(resp.starts_with(b"HTTP/1.1 200 OK\r\n"), "{path}");
        let body = body_of(&resp);
        assert_eq!(body.len(), big.len(), "{path}");
        assert!(body == big.as_slice(), "{path}: body differs");
    }
    for path in ["/on/small", "/off/small"] {
        let body = s.request(&get(path)).body;
        assert!(body == small, "{path}");
    }
    // The trace says which way each went: sendfile for "on", a read into
    // the reused buffer for "off"; max_chunk posts the rest to the next
    // loop iteration.
    let log = s.log_text();
    assert!(log.contains("sendfile: "), "no sendfile in the trace");
    assert!(log.contains("read and write: 65536 of 65536"), "no copy");
    assert!(
        log.contains("post next event Write"),
        "max_chunk never yielded"
    );
    assert!(
        !log.contains("sendfile: 131072"),
        "sendfile_max_chunk 64k exceeded"
    );
}

#[test]
fn tcp_nopush_corks_until_idle_and_tcp_nodelay_off_is_honoured() {
    let big = pattern(200_000);
    let s = start(
        "out-nopush",
        "debug",
        "    sendfile on;\n    tcp_nopush on;\n    location /nd/ { tcp_nodelay off; }",
        &[("f", big.clone()), ("nd/f", big.clone())],
    );
    let mut c = s.connect();
    let r = c.request(get("/f"));
    r.assert_status(200).assert_keepalive();
    assert!(r.body == big);
    assert!(s.log_contains("tcp_nopush", Duration::from_secs(2)));
    // Going idle pushes what the cork held and sets TCP_NODELAY.
    assert!(s.log_contains("tcp_push", Duration::from_secs(2)));
    assert!(s.log_contains("tcp_nodelay", Duration::from_secs(2)));
    let before = s.log_count("tcp_nodelay");
    let mut c2 = s.connect();
    c2.request(get("/nd/f")).assert_status(200);
    // Idle again on the new connection, without TCP_NODELAY this time.
    assert!(s.log_contains("set http keepalive handler", Duration::from_secs(2)));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        s.log_count("tcp_nodelay"),
        before,
        "tcp_nodelay off ignored"
    );
}

#[test]
fn limit_rate_paces_the_body_after_limit_rate_after() {
    let data = pattern(6000);
    let s = start(
        "out-rate",
        "info",
        "    location / { limit_rate 2000; limit_rate_after 1000; }",
        &[("r", data.clone())],
    );
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(
        &mut c,
        b"GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut at_half_second = None;
    let mut buf = [0u8; 4096];
    loop {
        let before = got.len();
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{e}"),
        }
        // What had arrived before the first read that ended after 0.5 s.
        if at_half_second.is_none() && start.elapsed() >= Duration::from_millis(500) {
            at_half_second = Some(before);
        }
    }
    let took = start.elapsed();
    assert!(body_of(&got) == data.as_slice());
    // nginx's allowance: rate × (seconds + 1) past limit_rate_after, so the
    // first second carries at most 1000 + 2000 bytes plus the header; the
    // 6000 bytes need two more seconds.
    assert!(took >= Duration::from_millis(1800), "too fast: {took:?}");
    assert!(took < Duration::from_secs(8), "too slow: {took:?}");
    if let Some(n) = at_half_second {
        assert!(n < 3000 + 400, "{n} bytes in the first half second");
    }
}

#[test]
fn a_client_gone_while_its_response_waits_is_closed_at_once() {
    let data = pattern(4000);
    let s = start(
        "out-gone",
        "info",
        "    location /slow { limit_rate 100; }\n    location = /status { stub_status; }",
        &[("slow", data)],
    );
    let mut c = s.connect();
    c.send(get("/slow"));
    // The response is being paced; stub_status counts it as writing.
    let status = |s: &Server| s.request(&get("/status")).text();
    assert!(status(&s).contains("Writing: 2"), "{}", status(&s));
    drop(c);
    // ngx_http_test_reading notices the close: 499 and the slot is free.
    assert!(s.log_contains(
        "client prematurely closed connection while sending response to client",
        Duration::from_secs(3)
    ));
    assert!(
        status(&s).starts_with("Active connections: 1 \n"),
        "{}",
        status(&s)
    );
}
