//! The proxy's buffering over real TCP (issue 11): `proxy_buffering on`
//! reads a large response whole into memory and a temp file while the
//! client does not read (the backend is done at once), `off` and
//! `proxy_max_temp_file_size 0` hold the backend to the client's pace;
//! request bodies past `client_body_buffer_size` go to a temp file
//! (`$request_body_file`, `client_body_in_file_only on|clean`) and reach
//! the backend whole; `proxy_method`, `proxy_pass_request_headers|body`,
//! `proxy_set_body`, `proxy_buffer_size` and `proxy_ignore_client_abort`.

#[path = "common/backend.rs"]
#[allow(dead_code)]
mod backend;
mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use backend::{Backend, Reply};
use common::{Conn, Server, get};

const WITHIN: Duration = Duration::from_secs(10);
/// Large enough that loopback's socket buffers cannot take it all.
const LARGE: usize = 24 << 20;

/// A body whose every byte depends on its offset (a reordered or repeated
/// piece shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn large_reply(chunked: bool) -> Reply {
    let body = pattern(LARGE);
    let mut out = Vec::new();
    if chunked {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for piece in body.chunks(100_003) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(
            format!("HTTP/1.1 200 OK\r\nContent-Length: {LARGE}\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(&body);
    }
    Reply::Raw(out)
}

/// Decodes a chunked body (strict: panics on bad framing).
fn dechunk(mut s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = s.windows(2).position(|w| w == b"\r\n").expect("size line");
        let size = usize::from_str_radix(std::str::from_utf8(&s[..eol]).unwrap(), 16).unwrap();
        s = &s[eol + 2..];
        if size == 0 {
            assert_eq!(s, b"\r\n", "trailer");
            return out;
        }
        out.extend_from_slice(&s[..size]);
        assert_eq!(&s[size..size + 2], b"\r\n");
        s = &s[size + 2..];
    }
}

/// Is the receive queue of every socket connected to `port` on 127.0.0.1
/// empty (/proc/net/tcp's rx_queue)? The peer side of a proxy's upstream
/// connection: empty once the proxy has read what the peer sent.
fn receive_queue_empty(port: u16) -> bool {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let want = format!(":{port:04X}");
    text.lines().skip(1).all(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // local, remote, state, tx:rx
        f.len() < 5 || !f[2].ends_with(&want) || f[4].split(':').nth(1) == Some("00000000")
    })
}

/// Sends a GET and reads nothing yet.
fn stalled_client(s: &Server, path: &str) -> std::net::TcpStream {
    let mut c = std::net::TcpStream::connect(s.addr()).unwrap();
    std::io::Write::write_all(&mut c, get(path).as_bytes()).unwrap();
    c
}

/// Reads the whole response of a stalled client: head and body bytes.
fn read_all(c: &mut std::net::TcpStream, len: usize) -> (String, Vec<u8>) {
    let end = Instant::now() + WITHIN;
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 1 << 16];
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    loop {
        if let Some(p) = common::find(&buf, b"\r\n\r\n")
            && buf.len() >= p + 4 + len
        {
            let head = String::from_utf8_lossy(&buf[..p]).into_owned();
            return (head, buf[p + 4..].to_vec());
        }
        assert!(
            Instant::now() < end,
            "response incomplete: {} bytes",
            buf.len()
        );
        match c.read(&mut tmp) {
            Ok(0) => panic!("closed after {} bytes", buf.len()),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(_) => {}
        }
    }
}

#[test]
fn buffering_on_takes_a_large_response_whole_while_the_client_does_not_read() {
    let b = Backend::start(large_reply(false));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; }}\n",
        b.addr()
    ));
    let before = common::rss_kib(s.pid());
    let mut c = stalled_client(&s, "/big");
    // The backend is done although the client has read nothing, and the
    // server's memory did not take the response.
    assert!(b.wait_written(1, WITHIN), "backend still writing");
    s.assert_log(
        "an upstream response is buffered to a temporary file",
        WITHIN,
    );
    let grown = common::rss_kib(s.pid()).saturating_sub(before);
    assert!(
        grown < 2048,
        "RSS grew by {grown} KiB for a {LARGE}-byte response"
    );
    s.assert_log(
        "an upstream response is buffered to a temporary file",
        WITHIN,
    );
    let line = s
        .log_lines()
        .into_iter()
        .find(|l| l.contains("buffered to a temporary file"))
        .unwrap();
    assert!(
        line.contains("[warn]") && line.contains("/proxy_temp/"),
        "{line}"
    );
    assert!(line.contains(" while reading upstream, client: "), "{line}");
    // The file's name is gone already: nothing is left behind.
    let temp = s.prefix().path().join("proxy_temp");
    assert_eq!(std::fs::read_dir(&temp).unwrap().count(), 0);
    let (head, body) = read_all(&mut c, LARGE);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("Content-Length: {LARGE}")), "{head}");
    assert!(body == pattern(LARGE), "body differs");
}

#[test]
fn a_chunked_response_spilled_to_a_file_is_rechunked_whole() {
    let b = Backend::start(large_reply(true));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; proxy_buffers 4 8k; \
         proxy_temp_path proxy_t 1 2; }}\n",
        b.addr()
    ));
    let mut c = stalled_client(&s, "/big");
    assert!(
        b.wait_written(1, WITHIN),
        "backend still writing: {}",
        s.log_text()
    );
    s.assert_log("/proxy_t/", WITHIN);
    let end = Instant::now() + WITHIN;
    let mut raw = Vec::new();
    let mut tmp = vec![0u8; 1 << 16];
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while !raw.ends_with(b"\r\n0\r\n\r\n") {
        assert!(Instant::now() < end, "incomplete: {}", raw.len());
        if let Ok(n) = c.read(&mut tmp) {
            assert!(n > 0, "closed early");
            raw.extend_from_slice(&tmp[..n]);
        }
    }
    let p = common::find(&raw, b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..p]);
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(dechunk(&raw[p + 4..]) == pattern(LARGE), "body differs");
}

#[test]
fn buffering_off_and_no_temp_file_keep_the_backend_at_the_client_s_pace() {
    for extra in ["proxy_buffering off;", "proxy_max_temp_file_size 0;"] {
        let b = Backend::start(large_reply(false));
        let s = Server::with_server(&format!(
            "    location / {{ proxy_pass http://{}; {extra} }}\n",
            b.addr()
        ));
        let mut c = stalled_client(&s, "/big");
        // The backend cannot finish while the client reads nothing.
        assert!(!b.wait_written(1, Duration::from_millis(700)), "{extra}");
        let (_, body) = read_all(&mut c, LARGE);
        assert!(body == pattern(LARGE), "{extra}: body differs");
        assert!(b.wait_written(1, WITHIN), "{extra}");
        assert_eq!(s.log_count("temporary file"), 0, "{extra}");
    }
}

#[test]
fn the_pool_gets_the_connection_back_before_a_slow_client_has_read() {
    // A keep-alive backend with a body larger than the proxy's memory:
    // with buffering on, the second client's request reuses the first
    // connection although the first client has read nothing.
    let b = backend::start_keepalive_sized(LARGE);
    let s = Server::start(&format!(
        "upstream u {{ server {}; keepalive 4; }}\n{}",
        b.addr(),
        common::server_block("location / { proxy_pass http://u; }")
    ));
    let mut first = stalled_client(&s, "/1");
    s.assert_log("buffered to a temporary file", WITHIN);
    assert!(b.wait_written(1, WITHIN));
    // The backend wrote it all; holdfast has read it all once its socket's
    // receive queue is empty (it finishes the exchange in the same handler
    // call, before it looks at the next client).
    let end = Instant::now() + WITHIN;
    while !receive_queue_empty(b.addr().port()) {
        assert!(Instant::now() < end, "holdfast did not read the response");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut c = s.connect();
    let r = c.request(get("/2"));
    r.assert_status(200);
    assert_eq!(r.body.len(), LARGE);
    assert_eq!(b.accepts(), 1, "a second upstream connection was opened");
    let (_, body) = read_all(&mut first, LARGE);
    assert_eq!(body.len(), LARGE);
}

#[test]
fn a_large_request_body_goes_to_a_temp_file_and_reaches_the_peer_whole() {
    let b = Backend::start(Reply::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ));
    let s = Server::with_server(&format!(
        "    location / {{ client_body_buffer_size 2k; proxy_pass http://{0}; \
         add_header X-Body-File $request_body_file; add_header X-Body $request_body; }}\n\
         \x20   location /only {{ client_body_in_file_only on; proxy_pass http://{0}; \
         add_header X-Body-File $request_body_file; }}\n\
         \x20   location /clean {{ client_body_in_file_only clean; proxy_pass http://{0}; \
         add_header X-Body-File $request_body_file; }}\n",
        b.addr()
    ));
    let body = String::from_utf8(pattern(5000).iter().map(|b| b'a' + b % 26).collect()).unwrap();
    // Small: in memory, $request_body set, no file.
    let mut c = s.connect();
    let r = c.request("POST /m HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
    r.assert_status(200);
    assert_eq!(r.header("X-Body"), Some("0123456789"));
    assert_eq!(r.header("X-Body-File"), None);
    // Large, chunked from the client: a file, its name in the header, the
    // backend gets the body with a length; the file is gone afterwards.
    let mut chunked = String::new();
    for piece in body.as_bytes().chunks(700) {
        chunked.push_str(&format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            std::str::from_utf8(piece).unwrap()
        ));
    }
    chunked.push_str("0\r\n\r\n");
    let r = c.request(format!(
        "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}"
    ));
    r.assert_status(200).assert_keepalive();
    let file = r.header("X-Body-File").expect("X-Body-File").to_string();
    assert!(file.contains("/client_body_temp/"), "{file}");
    assert_eq!(r.header("X-Body"), None);
    assert!(gone(&file), "{file} left behind");
    let got = b.requests().pop().unwrap();
    assert!(got.contains("Content-Length: 5000\r\n"), "{got}");
    assert!(got.ends_with(&body), "body differs");
    s.assert_log("[warn]", WITHIN);
    assert!(s.log_contains(
        "a client request body is buffered to a temporary file",
        WITHIN
    ));
    // client_body_in_file_only on: even a small body is a file, kept.
    let r = c.request("POST /only HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    let kept = r.header("X-Body-File").expect("file").to_string();
    assert_eq!(std::fs::read(&kept).unwrap(), b"abc");
    assert!(b.requests().pop().unwrap().ends_with("\r\n\r\nabc"));
    // clean: a file while the request runs, removed after.
    let r = c.request("POST /clean HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz");
    let cleaned = r.header("X-Body-File").expect("file").to_string();
    assert!(gone(&cleaned), "{cleaned} left behind");
    assert!(b.requests().pop().unwrap().ends_with("\r\n\r\nxyz"));
}

/// The file is removed when the request is freed, just after its response
/// went out: waits for that.
fn gone(file: &str) -> bool {
    let end = Instant::now() + WITHIN;
    while Instant::now() < end {
        if !std::path::Path::new(file).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn a_request_body_split_at_every_offset_reaches_the_peer_whole_through_a_file() {
    let b = Backend::start(Reply::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ));
    let s = Server::with_server(&format!(
        "    location / {{ client_body_buffer_size 16; proxy_pass http://{}; }}\n",
        b.addr()
    ));
    let req = "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n\
               0123456789abcdefghijklmnopqrstuvwxyzABCD";
    for at in 1..req.len() {
        let mut c = s.connect();
        c.send(&req[..at]);
        std::io::Write::flush(&mut c.stream()).unwrap();
        c.send(&req[at..]);
        c.read_response().assert_status(200);
        let got = b.requests().pop().unwrap();
        assert!(
            got.ends_with("\r\n\r\n0123456789abcdefghijklmnopqrstuvwxyzABCD"),
            "split at {at}: {got}"
        );
    }
}

#[test]
fn proxy_method_headers_body_and_set_body_shape_the_peer_s_request() {
    let b = Backend::start(Reply::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ));
    let s = Server::with_server(&format!(
        "    location /m {{ proxy_method PUT; proxy_pass http://{0}; }}\n\
         \x20   location /nh {{ proxy_pass_request_headers off; proxy_set_header X-Set 1; \
         proxy_pass http://{0}; }}\n\
         \x20   location /nb {{ proxy_pass_request_body off; proxy_pass http://{0}; }}\n\
         \x20   location /sb {{ proxy_set_body \"v=$arg_v\"; proxy_pass http://{0}; }}\n",
        b.addr()
    ));
    let mut c = s.connect();
    let post = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nX-Client: 7\r\nContent-Length: 4\r\n\r\nBODY")
    };
    c.request(post("/m")).assert_status(200);
    let got = b.requests().pop().unwrap();
    assert!(
        got.starts_with("PUT /m HTTP/1.0\r\n") && got.ends_with("\r\n\r\nBODY"),
        "{got}"
    );
    c.request(post("/nh")).assert_status(200);
    let got = b.requests().pop().unwrap();
    assert!(
        !got.contains("X-Client") && got.contains("X-Set: 1\r\n"),
        "{got}"
    );
    assert!(
        got.contains("Content-Length: 4\r\n") && got.ends_with("BODY"),
        "{got}"
    );
    c.request(post("/nb")).assert_status(200);
    let got = b.requests().pop().unwrap();
    assert!(
        !got.contains("Content-Length") && got.ends_with("X-Client: 7\r\n\r\n"),
        "{got}"
    );
    c.request(post("/sb?v=42")).assert_status(200);
    let got = b.requests().pop().unwrap();
    assert!(
        got.contains("Content-Length: 4\r\n") && got.ends_with("\r\n\r\nv=42"),
        "{got}"
    );
}

#[test]
fn a_head_larger_than_proxy_buffer_size_is_a_502() {
    let big = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
        "a".repeat(1500)
    );
    let b = Backend::start(Reply::Raw(big.into_bytes()));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{0}; proxy_buffer_size 1k; \
         proxy_busy_buffers_size 4k; proxy_temp_file_write_size 4k; }}\n\
         \x20   location /ok {{ proxy_pass http://{0}; }}\n",
        b.addr()
    ));
    s.request(&get("/")).assert_status(502);
    s.assert_log(
        "upstream sent too big header while reading response header from upstream",
        WITHIN,
    );
    s.request(&get("/ok")).assert_status(200);
}

#[test]
fn a_client_that_leaves_ends_the_peer_exchange_unless_told_to_ignore_it() {
    for ignore in [false, true] {
        let b = backend::start_keepalive_sized(LARGE);
        let extra = if ignore {
            "proxy_ignore_client_abort on;"
        } else {
            ""
        };
        let s = Server::start(&format!(
            "upstream u {{ server {}; keepalive 4; }}\n{}",
            b.addr(),
            common::server_block(&format!(
                "access_log a.log; location / {{ proxy_pass http://u; {extra} }}"
            ))
        ));
        let log = s.prefix().path().join("a.log");
        let mut c = Conn::connect(s.addr());
        c.send(get("/"));
        let end = Instant::now() + WITHIN;
        while b.requests().is_empty() {
            assert!(Instant::now() < end);
            std::thread::sleep(Duration::from_millis(2));
        }
        // The client goes while the response is relayed.
        drop(c);
        let end = Instant::now() + WITHIN;
        while std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
            < 1
        {
            assert!(Instant::now() < end, "no access log line; {}", s.log_text());
            std::thread::sleep(Duration::from_millis(5));
        }
        let closed_too = s.log_count("so upstream connection is closed too");
        // A second request: the pool has the first connection only when
        // the response was read to its end for the client that left.
        let mut c = s.connect();
        c.request(get("/again")).assert_status(200);
        if ignore {
            assert_eq!(closed_too, 0);
            assert_eq!(b.accepts(), 1, "the connection was not kept");
        } else {
            assert_eq!(b.accepts(), 2, "the connection was kept");
        }
    }
}

#[test]
fn buffer_sizes_are_checked_against_each_other_as_nginx_does() {
    let p = common::Prefix::new("bufcheck");
    let conf = p.write_conf(&common::conf(
        8,
        "server {\nlisten 127.0.0.1:1;\nlocation / {\nproxy_buffers 2 4k;\n\
         proxy_busy_buffers_size 8k;\n}\n}\n",
    ));
    let out = common::test_config(&p, &conf, WITHIN);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "\"proxy_busy_buffers_size\" must be less than the size of all \"proxy_buffers\" minus one buffer in "
        ),
        "{}",
        out.stderr
    );
    let conf = p.write_conf(&common::conf(
        8,
        "server {\nlisten 127.0.0.1:1;\nlocation / {\nproxy_request_buffering maybe;\n}\n}\n",
    ));
    let out = common::test_config(&p, &conf, WITHIN);
    assert!(
        out.stderr.contains("it must be \"on\" or \"off\""),
        "{}",
        out.stderr
    );
}

#[test]
fn a_full_temp_file_holds_the_peer_until_the_client_drains_it() {
    let b = Backend::start(large_reply(false));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; proxy_buffers 4 8k; \
         proxy_max_temp_file_size 64k; }}\n",
        b.addr()
    ));
    let mut c = stalled_client(&s, "/big");
    s.assert_log("buffered to a temporary file", WITHIN);
    // 64k of file and 32k of memory cannot take 24 MiB.
    assert!(!b.wait_written(1, Duration::from_millis(500)));
    let (_, body) = read_all(&mut c, LARGE);
    assert!(body == pattern(LARGE), "body differs");
    assert!(b.wait_written(1, WITHIN));
}

/// A backend for one streamed request: reports every read as it comes
/// (through `seen`), answers 200 once `until` is in what it received.
fn streaming_backend(
    until: &'static [u8],
) -> (
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<Vec<u8>>,
    std::thread::JoinHandle<Vec<u8>>,
) {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(WITHIN)).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while !all.windows(until.len()).any(|w| w == until) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    let _ = tx.send(all.clone());
                }
            }
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        all
    });
    (addr, rx, h)
}

/// Waits until the backend has seen `want`.
fn seen(rx: &std::sync::mpsc::Receiver<Vec<u8>>, want: &[u8]) -> Vec<u8> {
    let end = Instant::now() + WITHIN;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let got = rx.recv_timeout(left).expect("backend saw nothing more");
        if got.windows(want.len()).any(|w| w == want) {
            return got;
        }
    }
}

#[test]
fn proxy_request_buffering_off_streams_the_body_as_it_comes() {
    let (addr, rx, h) = streaming_backend(b"0123456789");
    let s = Server::with_server(&format!(
        "    location / {{ proxy_request_buffering off; proxy_pass http://{addr}; }}\n"
    ));
    let mut c = s.connect();
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234");
    // The peer has the head and the first part before the client sends on.
    let first = seen(&rx, b"\r\n\r\n01234");
    let text = String::from_utf8_lossy(&first);
    assert!(text.contains("Content-Length: 10\r\n"), "{text}");
    c.send("56789");
    seen(&rx, b"0123456789");
    c.read_response().assert_status(200).assert_body("ok");
    let all = h.join().unwrap();
    assert!(all.ends_with(b"\r\n\r\n0123456789"));
}

#[test]
fn a_streamed_chunked_body_goes_chunked_to_an_http_1_1_peer() {
    let (addr, rx, h) = streaming_backend(b"0\r\n\r\n");
    let s = Server::with_server(&format!(
        "    location / {{ proxy_request_buffering off; proxy_http_version 1.1; \
         proxy_pass http://{addr}; }}\n"
    ));
    let mut c = s.connect();
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    let first = seen(&rx, b"5\r\nhello\r\n");
    let text = String::from_utf8_lossy(&first);
    assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
    assert!(!text.contains("Content-Length"), "{text}");
    c.send("6\r\n world\r\n0\r\n\r\n");
    c.read_response().assert_status(200).assert_body("ok");
    let all = h.join().unwrap();
    let p = common::find(&all, b"\r\n\r\n").unwrap();
    // Re-chunked as it came (chunk sizes may differ from the client's).
    assert_eq!(dechunk(&all[p + 4..]), b"hello world");
}

#[test]
fn a_streamed_body_through_a_proxy_pass_with_variables() {
    let (addr, rx, h) = streaming_backend(b"0123456789");
    let s = Server::with_server(
        "    location / { proxy_request_buffering off; proxy_pass http://$arg_h; }\n",
    );
    let mut c = s.connect();
    c.send(format!(
        "POST /up?h={addr} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01"
    ));
    seen(&rx, b"\r\n\r\n01");
    c.send("23456789");
    c.read_response().assert_status(200).assert_body("ok");
    assert!(h.join().unwrap().ends_with(b"\r\n\r\n0123456789"));
}

#[test]
fn a_streamed_body_survives_a_first_peer_that_fails_at_once() {
    // The first server is a unix socket nobody listens on: connect() fails
    // at once and the request is built again for the second, preread body
    // included.
    let (addr, rx, h) = streaming_backend(b"hello");
    let gone = std::env::temp_dir().join(format!("hf-none-{}.sock", std::process::id()));
    let s = Server::start(&format!(
        "upstream u {{ server unix:{}; server {addr}; }}\n{}",
        gone.display(),
        common::server_block("location / { proxy_request_buffering off; proxy_pass http://u; }")
    ));
    let mut c = s.connect();
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    seen(&rx, b"\r\n\r\nhello");
    c.read_response().assert_status(200).assert_body("ok");
    assert!(h.join().unwrap().ends_with(b"\r\n\r\nhello"));
}

#[test]
fn gathered_bytes_reach_a_client_that_caught_up_while_the_peer_pauses() {
    use std::io::Write;
    // The peer sends 200,000 bytes, then pauses (up to 8 s) before the
    // rest; the client, slow at first, must get the first 200,000 without
    // waiting for the rest.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 200010\r\n\r\n");
        let _ = s.write_all(&vec![b'a'; 200_000]);
        let _ = rx.recv_timeout(Duration::from_secs(8));
        let _ = s.write_all(b"0123456789");
    });
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{addr}; proxy_buffers 2 4k; \
         proxy_busy_buffers_size 4k; proxy_temp_file_write_size 64k; }}\n"
    ));
    let mut c = stalled_client(&s, "/");
    std::thread::sleep(Duration::from_millis(300));
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(4);
    let mut got = Vec::new();
    let mut tmp = vec![0u8; 1 << 16];
    while got.len() < 200_000 + 40 {
        assert!(
            Instant::now() < end,
            "only {} bytes while the peer pauses",
            got.len()
        );
        if let Ok(n) = c.read(&mut tmp) {
            got.extend_from_slice(&tmp[..n]);
        }
        let p = common::find(&got, b"\r\n\r\n");
        if p.is_some_and(|p| got.len() - p - 4 >= 200_000) {
            break;
        }
    }
    tx.send(()).unwrap();
    peer.join().unwrap();
}
