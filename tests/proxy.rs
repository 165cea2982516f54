//! `proxy_pass` over real TCP with a real backend (issue 11, first part):
//! the request the backend gets (HTTP/1.0, `Host: $proxy_host`,
//! `Connection: close`, the client's other headers, nginx's URI
//! replacement), the response relayed with holdfast's own Server, Date and
//! Connection, close-delimited bodies, a response split at every byte
//! offset, and nginx's 502/504 with their log lines for a refused
//! connection, a garbage answer, a silent peer and a peer that closes
//! mid-body; a client that leaves while the peer is silent closes the
//! peer's connection.

#[path = "common/backend.rs"]
mod backend;
mod common;

use std::time::Duration;

use backend::{Backend, Reply};
use common::{Server, get};

const WITHIN: Duration = Duration::from_secs(5);

/// A port nothing listens on (tcpmux, privileged and unused): connecting
/// is refused, whatever the other tests bind meanwhile.
const REFUSED_PORT: u16 = 1;

fn ok(body: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Backend: yes\r\n\
             Server: backend/1\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn proxy_to(b: &Backend, extra: &str) -> Server {
    Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; }}\n\
         \x20   location /pre/ {{ proxy_pass http://{}/new/; }}\n{extra}",
        b.addr(),
        b.addr()
    ))
}

#[test]
fn a_get_is_relayed_with_nginx_s_request_and_holdfast_s_head() {
    let b = Backend::start(ok("hello"));
    let s = proxy_to(&b, "");
    let mut c = s.connect();
    let r = c.request(
        "GET /a/b?x=1 HTTP/1.1\r\nHost: front\r\nX-Custom: 7\r\n\
         Connection: keep-alive\r\nKeep-Alive: 300\r\n\r\n",
    );
    r.assert_status(200).assert_keepalive().assert_body("hello");
    assert_eq!(r.header("X-Backend"), Some("yes"));
    assert_eq!(r.header("Server"), Some("holdfast/0.1.0"));
    // The same connection goes on to a second proxied request.
    c.request(get("/pre/c?y=2"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("hello");
    let reqs = b.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    let first = &reqs[0];
    assert!(first.starts_with("GET /a/b?x=1 HTTP/1.0\r\n"), "{first}");
    assert!(
        first.contains(&format!("\r\nHost: {}\r\n", b.addr())),
        "{first}"
    );
    assert!(first.contains("\r\nConnection: close\r\n"), "{first}");
    assert!(first.contains("\r\nX-Custom: 7\r\n"), "{first}");
    assert!(!first.contains("Keep-Alive"), "{first}");
    assert!(!first.contains("front"), "{first}");
    // `proxy_pass http://B/new/` in `location /pre/`: the prefix replaced.
    assert!(
        reqs[1].starts_with("GET /new/c?y=2 HTTP/1.0\r\n"),
        "{}",
        reqs[1]
    );
    assert_eq!(
        b.accepts(),
        2,
        "one peer connection per request (no pool yet)"
    );
}

#[test]
fn a_body_of_unknown_length_is_chunked_to_1_1_and_close_delimited_to_1_0() {
    let body = "x".repeat(100_000);
    let b = Backend::start(Reply::Raw(
        format!("HTTP/1.0 200 OK\r\nContent-Type: text/x\r\n\r\n{body}").into_bytes(),
    ));
    let s = proxy_to(&b, "");
    // HTTP/1.0 client: the connection's end ends the body.
    let all = read_to_close(&s, "GET /big HTTP/1.0\r\n\r\n");
    let (head, got) = all.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/x\r\n"), "{head}");
    assert!(head.ends_with("\r\nConnection: close"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert_eq!(got, body);
    // HTTP/1.1 client: chunked, as nginx's chunked filter sends it.
    let all = read_to_close(
        &s,
        "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, chunks) = all.split_once("\r\n\r\n").expect("a head");
    assert!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{head}"
    );
    assert_eq!(dechunk(chunks), body);
}

#[test]
fn a_chunked_response_split_at_every_byte_offset_is_rechunked_whole() {
    let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\nT: v\r\n\r\n";
    for at in 1..text.len() {
        let b = Backend::start(Reply::SplitAt(text.as_bytes().to_vec(), at));
        let s = proxy_to(&b, "    proxy_http_version 1.1;");
        let all = read_to_close(
            &s,
            "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let (head, chunks) = all.split_once("\r\n\r\n").expect("a head");
        assert!(
            head.contains("Transfer-Encoding: chunked"),
            "split at {at}: {head}"
        );
        assert_eq!(dechunk(chunks), "wikipedia", "split at {at}");
        assert!(b.requests()[0].starts_with("GET /c HTTP/1.1\r\n"));
    }
}

/// The payload of a chunked body (a test oracle: strict, panics on bad framing).
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").expect("a chunk-size line");
        let n = usize::from_str_radix(size.split(';').next().unwrap(), 16).expect("hex size");
        if n == 0 {
            assert_eq!(rest, "\r\n", "the last chunk ends the body");
            return out;
        }
        out.push_str(&rest[..n]);
        assert_eq!(&rest[n..n + 2], "\r\n");
        s = &rest[n + 2..];
    }
}

/// Sends `req` on a new connection and reads until the server closes it.
fn read_to_close(s: &Server, req: &str) -> String {
    use std::io::{Read, Write};
    let mut t = std::net::TcpStream::connect(s.addr()).unwrap();
    t.set_read_timeout(Some(WITHIN)).unwrap();
    t.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    t.read_to_end(&mut out)
        .expect("the server closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_response_split_at_every_byte_offset_is_relayed_whole() {
    let text = "HTTP/1.1 201 Created\r\nContent-Length: 6\r\nX-A: b\r\n\r\nsplit!";
    for at in 1..text.len() {
        let b = Backend::start(Reply::SplitAt(text.as_bytes().to_vec(), at));
        let s = proxy_to(&b, "");
        let r = s.request(&get("/s"));
        r.assert_status(201)
            .assert_keepalive()
            .assert_body("split!");
        assert_eq!(r.header("X-A"), Some("b"), "split at {at}");
    }
}

#[test]
fn a_head_request_gets_no_body() {
    let b = Backend::start(Reply::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec(),
    ));
    let s = proxy_to(&b, "");
    let mut c = s.connect();
    c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_head_response();
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.header("Content-Length"), Some("5"));
    assert!(b.requests()[0].starts_with("HEAD /h HTTP/1.0"));
    c.send("HEAD /again HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_head_response().assert_status(200).assert_keepalive();
}

#[test]
fn a_refused_connection_is_502_with_nginx_s_line() {
    let port = REFUSED_PORT;
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://127.0.0.1:{port}; }}"
    ));
    s.request(&get("/r?q=1"))
        .assert_status(502)
        .assert_keepalive();
    s.assert_log(
        &format!(
            "connect() failed (111: Connection refused) while connecting to upstream, \
             client: 127.0.0.1, server: , request: \"GET /r?q=1 HTTP/1.1\", \
             upstream: \"http://127.0.0.1:{port}/r?q=1\""
        ),
        WITHIN,
    );
}

#[test]
fn garbage_is_502_and_a_silent_peer_504() {
    let g = Backend::start(Reply::Raw(b"SSH-2.0-not-http\r\n\r\n".to_vec()));
    let s = proxy_to(&g, "");
    s.request(&get("/g")).assert_status(502);
    s.assert_log(
        "upstream sent no valid HTTP/1.0 header while reading response header from upstream",
        WITHIN,
    );
    let q = Backend::start(Reply::Silent);
    let s = Server::with_server(&format!(
        "    location / {{ proxy_read_timeout 300ms; proxy_pass http://{}; }}",
        q.addr()
    ));
    let r = s.request(&get("/slow"));
    r.assert_status(504).assert_keepalive();
    s.assert_log(
        "upstream timed out (110: Connection timed out) while reading response header from upstream",
        WITHIN,
    );
    // The peer's connection was closed.
    let deadline = std::time::Instant::now() + WITHIN;
    while q.closed_by_peer() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(q.closed_by_peer(), 1);
}

#[test]
fn a_peer_closing_mid_body_cuts_the_client_off() {
    let b = Backend::start(Reply::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..".to_vec(),
    ));
    let s = proxy_to(&b, "");
    // The head and the ten bytes come, then the connection closes short.
    let all = read_to_close(&s, &get("/cut"));
    assert!(all.contains("\r\nContent-Length: 100\r\n"), "{all}");
    assert!(all.ends_with("\r\n\r\nonly ten.."), "{all}");
    s.assert_log(
        "upstream prematurely closed connection while reading upstream",
        WITHIN,
    );
}

#[test]
fn a_client_leaving_closes_the_peer_connection() {
    let q = Backend::start(Reply::Silent);
    let s = proxy_to(&q, "    location = /alive { return 200 \"ok\"; }");
    let mut c = s.connect();
    c.send(get("/wait"));
    let deadline = std::time::Instant::now() + WITHIN;
    while q.requests().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(c);
    s.assert_log("client prematurely closed connection", WITHIN);
    let deadline = std::time::Instant::now() + WITHIN;
    while q.closed_by_peer() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(q.closed_by_peer(), 1);
    // The server still answers.
    s.request(&get("/alive"))
        .assert_status(200)
        .assert_body("ok");
}

#[test]
fn a_fast_stop_with_a_proxied_request_in_flight_exits_cleanly() {
    let q = Backend::start(Reply::Silent);
    let mut s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; }}",
        q.addr()
    ));
    let mut c = s.connect();
    c.send(get("/wait"));
    let deadline = std::time::Instant::now() + WITHIN;
    while q.requests().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.signal(libc::SIGTERM);
    s.assert_exits(WITHIN);
    c.expect_closed(WITHIN);
}

#[test]
fn a_graceful_stop_lets_a_proxied_request_finish() {
    let b = Backend::start(Reply::After(
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate".to_vec(),
        Duration::from_millis(300),
    ));
    let mut s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; }}",
        b.addr()
    ));
    let mut c = s.connect();
    c.send(get("/slow"));
    let deadline = std::time::Instant::now() + WITHIN;
    while b.requests().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.signal(libc::SIGQUIT);
    let r = c.read_response();
    r.assert_status(200).assert_close().assert_body("late");
    s.assert_exits(WITHIN);
}

fn upstream_server(block: &str, location: &str) -> Server {
    Server::start(&format!(
        "    {block}\n    server {{\n        listen 127.0.0.1:0;\n        {location}\n    }}"
    ))
}

#[test]
fn an_upstream_keepalive_pool_reuses_one_connection() {
    let b = backend::start_keepalive();
    let s = upstream_server(
        &format!("upstream be {{ server {}; keepalive 4; }}", b.addr()),
        "location / { proxy_pass http://be; }",
    );
    let mut c = s.connect();
    for i in 1..=5 {
        c.request(get("/k"))
            .assert_status(200)
            .assert_keepalive()
            .assert_body(&format!("c1 r{i}"));
    }
    assert_eq!(b.accepts(), 1, "one upstream connection for five requests");
    let first = &b.requests()[0];
    assert!(
        first.starts_with("GET /k HTTP/1.1\r\nHost: be\r\n"),
        "{first}"
    );
    assert!(!first.contains("Connection:"), "{first}");
}

#[test]
fn without_keepalive_every_request_opens_a_connection() {
    let b = backend::start_keepalive();
    let s = upstream_server(
        &format!("upstream be {{ server {}; }}", b.addr()),
        "location / { proxy_pass http://be; }",
    );
    let mut c = s.connect();
    for i in 1..=3 {
        c.request(get("/n"))
            .assert_status(200)
            .assert_body(&format!("c{i} r1"))
            .assert_keepalive();
    }
    // HTTP/1.0 with Connection: close, nginx's default without a pool.
    assert!(b.requests()[0].starts_with("GET /n HTTP/1.0\r\n"));
    let deadline = std::time::Instant::now() + WITHIN;
    while b.accepts() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(b.accepts(), 3);
}

#[test]
fn a_pooled_connection_the_peer_closed_is_replaced_without_an_error() {
    // Each connection answers one request, then the backend closes it: the
    // pooled connection is dead when the next request comes.
    let text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let b = Backend::start(Reply::Raw(text.as_bytes().to_vec()));
    let s = upstream_server(
        &format!("upstream be {{ server {}; keepalive 2; }}", b.addr()),
        "location / { proxy_pass http://be; }",
    );
    let mut c = s.connect();
    for _ in 0..4 {
        c.request(get("/x")).assert_status(200).assert_body("ok");
    }
    assert!(
        b.accepts() >= 4,
        "a new connection each time: {}",
        b.accepts()
    );
    assert!(!s.log_text().contains("[error]"), "{}", s.log_text());
}

#[test]
fn round_robin_spreads_and_a_down_server_fails_over() {
    let b1 = backend::start_keepalive();
    let b2 = backend::start_keepalive();
    let port = REFUSED_PORT;
    let s = upstream_server(
        &format!(
            "upstream be {{ server {}; server {}; server 127.0.0.1:{port} max_fails=1; }}",
            b1.addr(),
            b2.addr()
        ),
        "location / { proxy_pass http://be; }",
    );
    let mut c = s.connect();
    let mut codes = Vec::new();
    for _ in 0..9 {
        codes.push(c.request(get("/rr")).status);
    }
    // The refused server's try goes on to the next peer (proxy_next_upstream
    // error, nginx's default): no client sees an error; the server is out
    // for fail_timeout and the two live ones share the requests.
    assert!(codes.iter().all(|&c| c == 200), "{codes:?}");
    assert!(
        b1.accepts() >= 4 && b2.accepts() >= 4,
        "{} {}",
        b1.accepts(),
        b2.accepts()
    );
    s.assert_log("connect() failed (111: Connection refused)", WITHIN);
    s.assert_log("upstream server temporarily disabled", WITHIN);
    assert_eq!(s.log_count("connect() failed"), 1, "{}", s.log_text());
}

#[test]
fn next_upstream_off_answers_the_failure_and_http_503_moves_on() {
    let b = backend::start_keepalive();
    let port = REFUSED_PORT;
    let s = upstream_server(
        &format!(
            "upstream be {{ server 127.0.0.1:{port}; server {}; }}",
            b.addr()
        ),
        "location / { proxy_next_upstream off; proxy_pass http://be; }",
    );
    let mut c = s.connect();
    let codes: Vec<u16> = (0..4).map(|_| c.request(get("/o")).status).collect();
    assert!(codes.contains(&502), "{codes:?}");
    // A 503 from the first peer goes to the second with http_503.
    let busy = Backend::start(Reply::Raw(
        b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy".to_vec(),
    ));
    let good = backend::start_keepalive();
    let s = upstream_server(
        &format!(
            "upstream be {{ server {}; server {}; }}",
            busy.addr(),
            good.addr()
        ),
        "location / { proxy_next_upstream error timeout http_503; proxy_pass http://be; }",
    );
    let mut c = s.connect();
    for _ in 0..4 {
        c.request(get("/b")).assert_status(200);
    }
    assert!(busy.accepts() >= 1);
}

#[test]
fn request_bodies_are_read_whole_and_passed_with_their_length() {
    let b = Backend::start(ok("got it"));
    let s = proxy_to(
        &b,
        "    client_body_buffer_size 16k;\n    add_header X-Body \"[$request_body]\";",
    );
    let mut c = s.connect();
    // A Content-Length body in two writes.
    c.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello");
    std::thread::sleep(Duration::from_millis(30));
    c.send(" world");
    let r = c.read_response();
    r.assert_status(200)
        .assert_body("got it")
        .assert_keepalive();
    assert_eq!(r.header("X-Body"), Some("[hello world]"));
    // A chunked body, passed on with a length, chunk-size lines gone.
    c.request(
        "POST /q HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .assert_status(200)
    .assert_keepalive();
    // Expect: 100-continue gets its interim answer before the body is sent.
    c.send("PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    c.read_head_response().assert_status(100);
    c.send("xyz");
    c.read_response().assert_status(200);
    let reqs = b.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    assert!(reqs[0].starts_with("POST /p HTTP/1.0\r\n"), "{}", reqs[0]);
    assert!(
        reqs[0].contains("\r\nContent-Length: 11\r\n"),
        "{}",
        reqs[0]
    );
    assert!(reqs[0].ends_with("\r\n\r\nhello world"), "{}", reqs[0]);
    assert!(reqs[1].contains("\r\nContent-Length: 5\r\n"), "{}", reqs[1]);
    assert!(!reqs[1].contains("chunked"), "{}", reqs[1]);
    assert!(reqs[1].ends_with("\r\n\r\nabcde"), "{}", reqs[1]);
    assert!(reqs[2].starts_with("PUT /e HTTP/1.0\r\n"), "{}", reqs[2]);
    assert!(reqs[2].ends_with("\r\n\r\nxyz"), "{}", reqs[2]);
}

#[test]
fn a_body_over_client_max_body_size_is_413() {
    let b = Backend::start(ok("never"));
    let s = proxy_to(&b, "    client_max_body_size 10;");
    let mut c = s.connect();
    c.send("POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n");
    c.send("z".repeat(32));
    c.send("\r\n0\r\n\r\n");
    c.read_response().assert_status(413).assert_close();
    assert!(b.requests().is_empty());
}

#[test]
fn proxy_set_header_and_the_proxy_variables() {
    let b = Backend::start(ok("vars"));
    let s = Server::with_server(&format!(
        "    location / {{\n\
         \x20       proxy_pass http://{};\n\
         \x20       proxy_set_header Host $host;\n\
         \x20       proxy_set_header X-Real-IP $remote_addr;\n\
         \x20       proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         \x20       proxy_set_header X-Drop \"\";\n\
         \x20       proxy_set_header X-PH $proxy_host:$proxy_port;\n\
         \x20       add_header X-Up \"$upstream_addr $upstream_status\";\n\
         \x20   }}",
        b.addr()
    ));
    let r = s.request(
        "GET /v HTTP/1.1\r\nHost: site.example\r\nX-Forwarded-For: 10.0.0.9\r\n\
         X-Drop: sent\r\n\r\n",
    );
    r.assert_status(200).assert_body("vars");
    assert_eq!(
        r.header("X-Up"),
        Some(format!("{} 200", b.addr()).as_str()),
        "{r:?}"
    );
    let req = &b.requests()[0];
    assert!(req.contains("\r\nHost: site.example\r\n"), "{req}");
    assert!(!req.contains(&format!("Host: {}", b.addr())), "{req}");
    assert!(req.contains("\r\nX-Real-IP: 127.0.0.1\r\n"), "{req}");
    assert!(
        req.contains("\r\nX-Forwarded-For: 10.0.0.9, 127.0.0.1\r\n"),
        "{req}"
    );
    assert!(!req.contains("X-Drop"), "{req}");
    assert!(
        req.contains(&format!("\r\nX-PH: {}:{}\r\n", b.addr(), b.addr().port())),
        "{req}"
    );
    assert!(req.contains("\r\nConnection: close\r\n"), "{req}");
}

#[test]
fn a_websocket_upgrade_is_relayed_both_ways() {
    use std::io::{Read, Write};
    let b = Backend::start(Reply::Echo101);
    let s = Server::with_server(&format!(
        "    location /ws {{\n\
         \x20       proxy_pass http://{};\n\
         \x20       proxy_http_version 1.1;\n\
         \x20       proxy_set_header Upgrade $http_upgrade;\n\
         \x20       proxy_set_header Connection \"upgrade\";\n\
         \x20   }}",
        b.addr()
    ));
    let mut t = std::net::TcpStream::connect(s.addr()).unwrap();
    t.set_read_timeout(Some(WITHIN)).unwrap();
    t.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = t.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nUpgrade: websocket\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: upgrade\r\n"), "{head}");
    for msg in ["hello", "frames both ways"] {
        t.write_all(msg.as_bytes()).unwrap();
        let mut echo = vec![0u8; msg.len()];
        t.read_exact(&mut echo).unwrap();
        assert_eq!(echo, msg.to_ascii_uppercase().as_bytes());
    }
    let req = &b.requests()[0];
    assert!(req.starts_with("GET /ws HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("\r\nUpgrade: websocket\r\n"), "{req}");
    assert!(req.contains("\r\nConnection: upgrade\r\n"), "{req}");
    // The client leaving ends the peer's connection too.
    drop(t);
    let deadline = std::time::Instant::now() + WITHIN;
    while b.closed_by_peer() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.closed_by_peer(), 1);
}

#[test]
fn proxy_redirect_and_the_hidden_headers() {
    // The backend names itself as the upstream block does (`be`).
    let b = Backend::start(Reply::Raw(
        b"HTTP/1.1 302 Found\r\nLocation: http://be/new/x?y=1\r\nServer: backend/1\r\n\
          X-Accel-Buffering: no\r\nX-Secret: s\r\nX-Keep: k\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    ));
    let s = upstream_server(
        &format!("upstream be {{ server {}; }}", b.addr()),
        "location /app/ { proxy_pass http://be/new/; proxy_hide_header X-Secret; }\n\
         location /raw/ { proxy_pass http://be/new/; proxy_redirect off; proxy_pass_header Server; }\n\
         location /rule/ { proxy_pass http://be/new/;\n\
             proxy_redirect http://be/new/ https://front.example/app/; }",
    );
    // default: `http://be/new/` becomes the location's prefix, made
    // absolute as every Location holdfast sends.
    let r = s.request(&get("/app/x"));
    r.assert_status(302);
    let own = format!("http://localhost:{}/app/x?y=1", s.addr().port());
    assert_eq!(r.header("Location"), Some(own.as_str()), "{r:?}");
    assert_eq!(r.header("Server"), Some("holdfast/0.1.0"));
    assert_eq!(r.header("X-Secret"), None);
    assert_eq!(r.header("X-Accel-Buffering"), None);
    assert_eq!(r.header("X-Keep"), Some("k"));
    let r = s.request(&get("/raw/x"));
    assert_eq!(r.header("Location"), Some("http://be/new/x?y=1"), "{r:?}");
    assert_eq!(r.header("Server"), Some("backend/1"), "{r:?}");
    assert_eq!(r.header_count("Server"), 1);
    let r = s.request(&get("/rule/x"));
    assert_eq!(
        r.header("Location"),
        Some("https://front.example/app/x?y=1"),
        "{r:?}"
    );
}

#[test]
fn a_proxied_location_redirects_its_name_without_the_slash() {
    let b = Backend::start(ok("in"));
    let s = Server::with_server(&format!(
        "    location /auto/ {{ proxy_pass http://{}; }}\n\
         \x20   location = /exact {{ return 200 \"exact\"; }}\n\
         \x20   location /exact/ {{ proxy_pass http://{}; }}",
        b.addr(),
        b.addr()
    ));
    let r = s.request(&get("/auto?a=1"));
    r.assert_status(301).assert_keepalive();
    let want = format!("http://localhost:{}/auto/?a=1", s.addr().port());
    assert_eq!(r.header("Location"), Some(want.as_str()));
    // An exact location of the name wins, as in nginx.
    s.request(&get("/exact"))
        .assert_status(200)
        .assert_body("exact");
    assert!(b.requests().is_empty());
}

#[test]
fn expect_100_continue_is_answered_for_an_empty_body_too() {
    let b = Backend::start(ok("e"));
    let s = proxy_to(&b, "");
    let mut c = s.connect();
    c.send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
    c.read_head_response().assert_status(100);
    c.read_response().assert_status(200).assert_body("e");
    assert!(b.requests()[0].contains("\r\nContent-Length: 0\r\n"));
}

#[test]
fn after_rewrite_break_the_rewritten_uri_goes_whole() {
    // rewrite.t's "valid_location reset": the URI part of proxy_pass is
    // not used once `rewrite … break` changed the URI.
    let b = Backend::start(ok("b"));
    let s = Server::with_server(&format!(
        "    location /break {{ rewrite ^ /return200 break; proxy_pass http://{}/return204; }}\n\
         \x20   location /keep/ {{ proxy_pass http://{}/there/; }}",
        b.addr(),
        b.addr()
    ));
    s.request(&get("/break/x")).assert_status(200);
    s.request(&get("/keep/y")).assert_status(200);
    let reqs = b.requests();
    assert!(
        reqs[0].starts_with("GET /return200 HTTP/1.0\r\n"),
        "{}",
        reqs[0]
    );
    assert!(
        reqs[1].starts_with("GET /there/y HTTP/1.0\r\n"),
        "{}",
        reqs[1]
    );
}

#[test]
fn the_upstream_timing_variables() {
    let b = Backend::start(Reply::After(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nt".to_vec(),
        Duration::from_millis(120),
    ));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{};\n\
         \x20       add_header X-T \"$upstream_connect_time $upstream_header_time\"; }}",
        b.addr()
    ));
    let r = s.request(&get("/t"));
    r.assert_status(200).assert_body("t");
    let t = r.header("X-T").expect("timing header");
    let (connect, header) = t.split_once(' ').expect("two values");
    let secs = |v: &str| -> f64 { v.parse().unwrap_or_else(|_| panic!("not seconds: {t}")) };
    assert!(connect.len() >= 5 && connect.contains('.'), "{t}");
    assert!(secs(connect) < 1.0, "{t}");
    // The backend waits 120 ms before it answers.
    assert!((0.1..2.0).contains(&secs(header)), "{t}");
}

#[test]
fn proxy_intercept_errors_answers_with_the_error_page() {
    let b = Backend::start(Reply::Raw(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 11\r\n\r\nbackend 404".to_vec(),
    ));
    let p = common::Prefix::new("proxy-intercept");
    p.write("html/nf.html", "our page");
    let s = Server::start_with(
        p,
        common::WORKER_CONNECTIONS,
        &format!(
            "    server {{\n\
             \x20       listen 127.0.0.1:0;\n\
             \x20       error_page 404 /nf.html;\n\
             \x20       location = /nf.html {{ }}\n\
             \x20       location /on/ {{ proxy_intercept_errors on; proxy_pass http://{0}; }}\n\
             \x20       location /off/ {{ proxy_pass http://{0}; }}\n\
             \x20   }}",
            b.addr()
        ),
    );
    s.request(&get("/on/x"))
        .assert_status(404)
        .assert_keepalive()
        .assert_body("our page");
    s.request(&get("/off/x"))
        .assert_status(404)
        .assert_body("backend 404");
}

#[test]
fn upstream_variables_list_every_try_and_read_the_peer_s_headers() {
    let b = Backend::start(Reply::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Backend: b1\r\n\
          Set-Cookie: a=1; Path=/\r\nSet-Cookie: sid=xyz; HttpOnly\r\n\r\nok"
            .to_vec(),
    ));
    let s = upstream_server(
        &format!(
            "upstream u {{ server 127.0.0.1:{REFUSED_PORT}; server {}; }}\n\
             log_format lf \"$upstream_addr|$upstream_status|$upstream_connect_time|$upstream_response_time\";",
            b.addr()
        ),
        "access_log a.log lf; location / { proxy_pass http://u; \
         add_header X-H \"$upstream_http_x_backend|$upstream_cookie_sid|$upstream_cookie_a|$upstream_cookie_none.\"; }",
    );
    let r = s.request(&get("/"));
    r.assert_status(200).assert_body("ok");
    assert_eq!(r.header("X-H"), Some("b1|xyz|1|."), "{r:?}");
    let log = s.prefix().path().join("a.log");
    let line = common::first_line_of(&log, WITHIN);
    let f: Vec<&str> = line.split('|').collect();
    assert_eq!(
        f[0],
        format!("127.0.0.1:{REFUSED_PORT}, {}", b.addr()),
        "{line}"
    );
    assert_eq!(f[1], "502, 200", "{line}");
    // The refused try never connected; the second did.
    let connect: Vec<&str> = f[2].split(", ").collect();
    assert_eq!(connect.len(), 2, "{line}");
    assert_eq!(connect[0], "-", "{line}");
    assert!(connect[1].parse::<f64>().is_ok(), "{line}");
    let times: Vec<&str> = f[3].split(", ").collect();
    assert!(times.iter().all(|t| t.parse::<f64>().is_ok()), "{line}");
}

#[test]
fn a_full_pool_closes_its_oldest_connection_after_a_moment() {
    // Two exchanges at once need two connections; `keepalive 1` keeps one
    // of them once both are done (the other closed a few ms later, see
    // upstream_keepalive.rs), and the next request reuses it.
    let b = backend::start_keepalive_with(|conn, n| {
        std::thread::sleep(Duration::from_millis(100));
        let body = format!("c{conn} r{n}");
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    let s = upstream_server(
        &format!("upstream be {{ server {}; keepalive 1; }}", b.addr()),
        "location / { proxy_pass http://be; }",
    );
    let mut c1 = s.connect();
    let mut c2 = s.connect();
    c1.send(get("/1"));
    c2.send(get("/2"));
    c1.read_response().assert_status(200);
    c2.read_response().assert_status(200);
    assert_eq!(b.accepts(), 2);
    let deadline = std::time::Instant::now() + WITHIN;
    while b.closed_by_peer() < 1 {
        assert!(std::time::Instant::now() < deadline, "no connection closed");
        std::thread::sleep(Duration::from_millis(2));
    }
    let r = c1.request(get("/3"));
    r.assert_status(200);
    assert!(r.text().ends_with(" r2"), "{r:?}");
    assert_eq!((b.accepts(), b.closed_by_peer()), (2, 1));
}

#[test]
fn unix_socket_peers_in_proxy_pass_and_upstream_blocks() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let s_dir = common::Prefix::new("unixpeer");
    let path = s_dir.path().join("backend.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let accepts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let (heads, accepts) = (heads.clone(), accepts.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                accepts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let heads = heads.clone();
                std::thread::spawn(move || {
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = pending.drain(..end + 4).collect();
                            let text = String::from_utf8_lossy(&head).into_owned();
                            let n = {
                                let mut h = heads.lock().unwrap();
                                h.push(text);
                                h.len()
                            };
                            let body = format!("unix r{n}");
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if conn.write_all(resp.as_bytes()).is_err() {
                                return;
                            }
                        }
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(k) => pending.extend_from_slice(&buf[..k]),
                        }
                    }
                });
            }
        });
    }
    let p = path.display();
    let s = upstream_server(
        &format!("upstream u {{ server unix:{p}; keepalive 2; }}"),
        &format!(
            "location /u/ {{ proxy_pass http://u; add_header X-Up $upstream_addr; }}\n\
             location /d/ {{ proxy_pass http://unix:{p}:/direct/; }}\n\
             location /v/ {{ proxy_pass http://$arg_b; }}"
        ),
    );
    let mut c = s.connect();
    for i in 1..=3 {
        let r = c.request(get("/u/x"));
        r.assert_status(200).assert_keepalive();
        assert_eq!(r.text(), format!("unix r{i}"));
        assert_eq!(r.header("X-Up"), Some(format!("unix:{p}").as_str()));
    }
    // The pool kept the one unix connection.
    assert_eq!(accepts.load(std::sync::atomic::Ordering::SeqCst), 1);
    let r = c.request(get("/d/y?q=1"));
    r.assert_status(200);
    let last = heads.lock().unwrap().last().cloned().unwrap();
    assert!(last.starts_with("GET /direct/y?q=1 HTTP/1.0\r\n"), "{last}");
    assert!(last.contains("\r\nHost: localhost\r\n"), "{last}");
    // The same through a variable (proxy_unix.t's `$arg_b`).
    let r = c.request(get(&format!("/v/?b=unix:{p}:/viavar")));
    r.assert_status(200);
    let last = heads.lock().unwrap().last().cloned().unwrap();
    assert!(last.starts_with("GET /viavar HTTP/1.0\r\n"), "{last}");
    // A socket nobody listens on: 502 and nginx's line.
    let gone = s_dir.path().join("none.sock");
    let s2 = Server::with_server(&format!(
        "location / {{ proxy_pass http://unix:{}; }}",
        gone.display()
    ));
    s2.request(&get("/")).assert_status(502);
    s2.assert_log(
        &format!(
            "connect() to unix:{} failed (2: No such file or directory) while connecting to upstream",
            gone.display()
        ),
        WITHIN,
    );
}

#[test]
fn a_variable_naming_an_implicit_upstream_needs_no_resolver() {
    // `proxy_pass http://localhost:PORT/...` defines the implicit upstream
    // `localhost:PORT`; a proxy_pass with variables evaluating to that
    // name uses it (proxy_implicit.t), with no resolver configured.
    let b = Backend::start(ok("implicit"));
    let port = b.addr().port();
    let s = Server::with_server(&format!(
        "    location /stub {{ proxy_pass http://localhost:{port}/stub; }}\n\
         \x20   location /var {{ proxy_pass http://$arg_b/stub; }}\n"
    ));
    let r = s.request(&get(&format!("/var?b=localhost:{port}")));
    r.assert_status(200).assert_body("implicit");
    // A name no proxy_pass defines still needs a resolver.
    s.request(&get("/var?b=elsewhere.invalid:1"))
        .assert_status(502);
    s.assert_log("no resolver defined to resolve elsewhere.invalid", WITHIN);
}
