//! Compression over real TCP (issue 12): nginx's gzip filter, gzip_static,
//! gunzip, and holdfast's brotli_static. Bodies are decoded with flate2's
//! reference decoder and compared byte for byte with the files; chunked
//! framing is checked by a strict parser here.

#[path = "common/backend.rs"]
#[allow(dead_code)]
mod backend;
mod common;
#[path = "common/raw.rs"]
#[allow(dead_code)]
mod raw;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use backend::{Backend, Reply};
use common::{Prefix, Server, get};
use raw::{Client, Got, gunzip};

const WITHIN: Duration = Duration::from_secs(10);

/// A text body that compresses (words from a small vocabulary).
fn text(len: usize) -> Vec<u8> {
    let words = ["alpha ", "beta ", "holdfast ", "nginx ", "gzip ", "chunk "];
    let mut out = Vec::with_capacity(len + 16);
    let mut x = 12345u32;
    while out.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        out.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
    }
    out.truncate(len);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn exchange(addr: std::net::SocketAddr, req: &str) -> Got {
    Client::connect(addr).exchange(req)
}

fn gz_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate\r\n\r\n")
}

fn static_server(extra: &str) -> (Server, Vec<(String, Vec<u8>)>) {
    let p = Prefix::new("gzip");
    let files = vec![
        ("small.html".to_string(), text(1024)),
        ("mid.html".to_string(), text(100_000)),
        // Over the in-memory limit: read from the file as it is compressed.
        ("big.html".to_string(), text(3 << 20)),
        ("tiny.html".to_string(), b"0123456789".to_vec()),
        ("plain.txt".to_string(), text(5000)),
    ];
    for (n, b) in &files {
        p.write(&format!("html/{n}"), b);
    }
    let s = Server::start_with(
        p,
        64,
        &common::server_block(&format!(
            "    gzip on;\n    gzip_vary on;\n    sendfile on;\n{extra}"
        )),
    );
    (s, files)
}

#[test]
fn files_are_compressed_chunked_and_decode_to_the_same_bytes() {
    let (s, files) = static_server("");
    for (name, body) in files
        .iter()
        .filter(|(n, _)| n.ends_with(".html") && n != "tiny.html")
    {
        let g = exchange(s.addr(), &gz_get(&format!("/{name}")));
        assert_eq!(g.status(), 200, "{}", g.head);
        assert_eq!(g.header("Content-Encoding"), Some("gzip"), "{}", g.head);
        assert_eq!(g.header("Transfer-Encoding"), Some("chunked"), "{}", g.head);
        assert_eq!(g.header("Content-Length"), None);
        assert_eq!(g.header("Accept-Ranges"), None);
        assert_eq!(g.header("Vary"), Some("Accept-Encoding"));
        assert!(g.header("ETag").unwrap().starts_with("W/\""), "{}", g.head);
        assert_eq!(g.header("Connection"), Some("keep-alive"));
        assert_eq!(gunzip(&g.body), *body, "{name}");
        assert!(g.body.len() < body.len() / 2, "{name} compressed");
    }
}

#[test]
fn several_compressed_responses_on_one_connection_and_pipelined() {
    let (s, files) = static_server("");
    let small = &files[0].1;
    let big = &files[2].1;
    let mut c = Client::connect(s.addr());
    // Pipelined: compressed, plain, compressed, in one write.
    let reqs = format!(
        "{}{}{}",
        gz_get("/big.html"),
        get("/small.html"),
        gz_get("/small.html")
    );
    c.t.write_all(reqs.as_bytes()).unwrap();
    let a = c.read(false);
    assert_eq!(gunzip(&a.body), *big);
    let b = c.read(false);
    assert_eq!(b.header("Content-Encoding"), None);
    assert_eq!(b.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(b.body, *small);
    let third = c.read(false);
    assert_eq!(gunzip(&third.body), *small);
    assert!(c.buf.is_empty());
}

#[test]
fn a_request_split_at_every_offset_gets_the_same_compressed_response() {
    let (s, files) = static_server("");
    let req = gz_get("/small.html");
    let want = &files[0].1;
    let mut c = Client::connect(s.addr());
    c.t.set_nodelay(true).unwrap();
    for at in 1..req.len() {
        c.t.write_all(&req.as_bytes()[..at]).unwrap();
        c.t.flush().unwrap();
        std::thread::yield_now();
        c.t.write_all(&req.as_bytes()[at..]).unwrap();
        let g = c.read(false);
        assert_eq!(gunzip(&g.body), *want, "split at {at}");
    }
}

#[test]
fn what_is_not_compressed() {
    let (s, files) = static_server(
        "    location /one.html { gzip_http_version 1.0; alias html/small.html; }\n\
         \x20   location /ie.html { gzip_disable msie6 \"^Bad\"; alias html/small.html; }\n\
         \x20   location /any.html { gzip_proxied any; alias html/small.html; }\n\
         \x20   location /types { gzip_types text/plain; alias html/plain.txt; }\n\
         \x20   location /star { gzip_types *; alias html/tiny.html; gzip_min_length 0; }\n",
    );
    let plain = |req: &str| {
        let g = exchange(s.addr(), req);
        assert_eq!(g.header("Content-Encoding"), None, "{req:?}: {}", g.head);
        g
    };
    // No Accept-Encoding, q=0, another coding.
    plain(&get("/small.html"));
    plain("GET /small.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0\r\n\r\n");
    plain("GET /small.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n");
    // Shorter than gzip_min_length (20); a type not in gzip_types.
    plain(&gz_get("/tiny.html"));
    plain(&gz_get("/plain.txt"));
    // HTTP/1.0 under the default gzip_http_version 1.1.
    plain("GET /small.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n");
    // Through a proxy (Via) with gzip_proxied off; a disabled User-Agent.
    plain("GET /small.html HTTP/1.1\r\nHost: x\r\nVia: 1.1 p\r\nAccept-Encoding: gzip\r\n\r\n");
    plain(
        "GET /ie.html HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    plain(
        "GET /ie.html HTTP/1.1\r\nHost: x\r\nUser-Agent: BadBot\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    // A 404 error page is compressed (nginx: 200, 403, 404), a 405 is not.
    let nf = exchange(s.addr(), &gz_get("/missing.html"));
    assert_eq!(nf.status(), 404);
    assert_eq!(nf.header("Content-Encoding"), Some("gzip"));
    assert!(String::from_utf8_lossy(&gunzip(&nf.body)).contains("404 Not Found"));
    // A range request gets the whole compressed body (gzip clears ranges).
    let r = exchange(
        s.addr(),
        "GET /small.html HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert_eq!(r.status(), 200);
    assert_eq!(gunzip(&r.body), files[0].1);
    // HEAD: the headers of the compressed answer, no length, no body.
    let h = exchange(
        s.addr(),
        "HEAD /small.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert_eq!(h.header("Content-Encoding"), Some("gzip"));
    assert_eq!(h.header("Content-Length"), None);
    assert_eq!(h.header("Transfer-Encoding"), None);
    // A revalidation stays a 304 with no coding headers.
    let etag = exchange(s.addr(), &get("/small.html"))
        .header("ETag")
        .unwrap()
        .to_string();
    let nm = exchange(
        s.addr(),
        &format!(
            "GET /small.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nAccept-Encoding: gzip\r\n\r\n"
        ),
    );
    assert_eq!(nm.status(), 304, "{}", nm.head);
    assert_eq!(nm.header("Content-Encoding"), None);
    // What is compressed after all: 1.0 when allowed (no chunks: the close
    // ends it), gzip_proxied any, listed types, `*`.
    let one = exchange(
        s.addr(),
        "GET /one.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert_eq!(one.header("Content-Encoding"), Some("gzip"));
    assert_eq!(one.header("Transfer-Encoding"), None);
    assert_eq!(one.header("Connection"), Some("close"));
    assert_eq!(gunzip(&one.body), files[0].1);
    let any = exchange(
        s.addr(),
        "GET /any.html HTTP/1.1\r\nHost: x\r\nVia: 1.1 p\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert_eq!(any.header("Content-Encoding"), Some("gzip"));
    let types = exchange(s.addr(), &gz_get("/types"));
    assert_eq!(gunzip(&types.body), files[4].1);
    let star = exchange(s.addr(), &gz_get("/star"));
    assert_eq!(gunzip(&star.body), b"0123456789");
}

#[test]
fn a_big_file_to_a_client_that_does_not_read_costs_bounded_memory() {
    let p = Prefix::new("gzip-big");
    let body = text(48 << 20);
    p.write("html/huge.html", &body);
    let s = Server::start_with(p, 64, &common::server_block("    gzip on;\n"));
    let mut c = Client::connect(s.addr());
    c.t.write_all(gz_get("/huge.html").as_bytes()).unwrap();
    // The client reads nothing for a while: the server codes up to
    // gzip_buffers ahead, then waits.
    let before = common::rss_kib(s.pid());
    std::thread::sleep(Duration::from_millis(300));
    let stalled = common::rss_kib(s.pid());
    assert!(
        stalled < before + 8 * 1024,
        "RSS grew from {before} to {stalled} KiB while the client did not read"
    );
    let g = c.read(false);
    assert_eq!(gunzip(&g.body).len(), body.len());
    assert!(gunzip(&g.body) == body);
}

#[test]
fn precompressed_files_gzip_static_brotli_static_and_gunzip() {
    let p = Prefix::new("gzip-static");
    let plain = text(4000);
    let gz = gzip(&plain);
    p.write("html/a.html", &plain);
    p.write("html/a.html.gz", &gz);
    p.write("html/a.html.br", b"pretend brotli");
    p.write("html/only.html.gz", &gz);
    let s = Server::start_with(
        p,
        64,
        &common::server_block(
            "    gzip_vary on;\n\
             \x20   location /on/ { alias html/; gzip_static on; }\n\
             \x20   location /always/ { alias html/; gzip_static always; gunzip on; }\n\
             \x20   location /br/ { alias html/; brotli_static on; gzip_static on; }\n",
        ),
    );
    // on: the .gz for a client that takes gzip, as a file (length, ranges).
    let g = exchange(s.addr(), &gz_get("/on/a.html"));
    assert_eq!(g.header("Content-Encoding"), Some("gzip"), "{}", g.head);
    assert_eq!(
        g.header("Content-Length"),
        Some(gz.len().to_string().as_str())
    );
    assert_eq!(g.header("Content-Type"), Some("text/html"));
    assert_eq!(g.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(g.body, gz);
    let r = exchange(
        s.addr(),
        "GET /on/a.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nRange: bytes=0-9\r\n\r\n",
    );
    assert_eq!(r.status(), 206);
    assert_eq!(r.body, gz[..10]);
    // ...the plain file for one that does not, still varying.
    let n = exchange(s.addr(), &get("/on/a.html"));
    assert_eq!(n.header("Content-Encoding"), None);
    assert_eq!(n.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(n.body, plain);
    // always + gunzip: the .gz to everyone, decompressed for a client
    // without gzip (also when there is no plain file at all).
    let a = exchange(s.addr(), &gz_get("/always/only.html"));
    assert_eq!(a.header("Content-Encoding"), Some("gzip"));
    assert_eq!(a.body, gz);
    let u = exchange(s.addr(), &get("/always/only.html"));
    assert_eq!(u.header("Content-Encoding"), None, "{}", u.head);
    assert_eq!(u.header("Content-Length"), None);
    assert_eq!(u.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(u.body, plain);
    let h = exchange(
        s.addr(),
        "HEAD /always/only.html HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(h.header("Content-Encoding"), None);
    assert_eq!(h.header("Vary"), Some("Accept-Encoding"));
    // brotli first when the client takes br, gzip otherwise.
    let b = exchange(
        s.addr(),
        "GET /br/a.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n",
    );
    assert_eq!(b.header("Content-Encoding"), Some("br"));
    assert_eq!(b.body, b"pretend brotli");
    let b2 = exchange(s.addr(), &gz_get("/br/a.html"));
    assert_eq!(b2.header("Content-Encoding"), Some("gzip"));
}

fn proxy_server(b: &Backend, extra: &str) -> Server {
    Server::with_server(&format!(
        "    gzip on;\n    gzip_types text/plain;\n{extra}\n    location / {{ proxy_pass http://{}; }}\n",
        b.addr()
    ))
}

#[test]
fn proxied_responses_split_at_every_offset_are_compressed_whole() {
    let body = text(3000);
    let resp = [
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes(),
        body.clone(),
    ]
    .concat();
    for at in (1..resp.len()).step_by(7).chain([1, resp.len() - 1]) {
        let b = Backend::start(Reply::SplitAt(resp.clone(), at));
        let s = proxy_server(&b, "");
        let g = exchange(s.addr(), &gz_get("/p"));
        assert_eq!(g.header("Content-Encoding"), Some("gzip"), "split at {at}");
        assert_eq!(g.header("Content-Length"), None);
        assert_eq!(gunzip(&g.body), body, "split at {at}");
    }
}

#[test]
fn proxied_chunked_already_coded_gunzipped_and_cut_short() {
    // Chunked from the peer: compressed and re-chunked.
    let body = text(20_000);
    let mut chunked =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for part in body.chunks(3000) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let b = Backend::start(Reply::Raw(chunked));
    let s = proxy_server(&b, "    proxy_http_version 1.1;");
    let g = exchange(s.addr(), &gz_get("/c"));
    assert_eq!(gunzip(&g.body), body);
    // Already coded by the peer: passed as it is.
    let gz = gzip(&body);
    let coded = [
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", gz.len()).into_bytes(),
        gz.clone(),
    ]
    .concat();
    let b = Backend::start(Reply::Raw(coded.clone()));
    let s = proxy_server(&b, "    gunzip on;");
    let g = exchange(s.addr(), &gz_get("/c"));
    assert_eq!(g.header("Content-Encoding"), Some("gzip"));
    assert_eq!(g.body, gz);
    // ...and decompressed for a client without gzip (gunzip on).
    let u = exchange(s.addr(), &get("/c"));
    assert_eq!(u.header("Content-Encoding"), None, "{}", u.head);
    assert_eq!(u.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(u.body, body);
    // A peer that closes mid-body: the client's chunked body has no last
    // chunk (it sees the response cut short), and the error is logged.
    let cut = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n".to_vec(),
        body[..5000].to_vec(),
    ]
    .concat();
    let b = Backend::start(Reply::Raw(cut));
    let s = proxy_server(&b, "");
    let mut t = TcpStream::connect(s.addr()).unwrap();
    t.write_all(gz_get("/cut").as_bytes()).unwrap();
    let mut all = Vec::new();
    t.set_read_timeout(Some(WITHIN)).unwrap();
    t.read_to_end(&mut all).expect("closed by the server");
    assert!(common::find(&all, b"Content-Encoding: gzip").is_some());
    assert!(!all.ends_with(b"0\r\n\r\n"), "a cut response must not end");
    assert!(s.log_contains("upstream prematurely closed connection", WITHIN));
}

#[test]
fn bad_gzip_from_a_peer_closes_the_client_with_a_log_line() {
    let garbage = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03this is not deflate data at all";
    let resp = [
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", garbage.len()).into_bytes(),
        garbage.to_vec(),
    ]
    .concat();
    let b = Backend::start(Reply::Raw(resp));
    let s = proxy_server(&b, "    gunzip on;");
    let mut t = TcpStream::connect(s.addr()).unwrap();
    t.write_all(get("/bad").as_bytes()).unwrap();
    let mut all = Vec::new();
    t.set_read_timeout(Some(WITHIN)).unwrap();
    t.read_to_end(&mut all).expect("closed by the server");
    assert!(!all.ends_with(b"0\r\n\r\n"));
    assert!(s.log_contains("inflate() failed", WITHIN));
    // Other connections are untouched.
    let ok = Backend::start(Reply::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ));
    let s2 = proxy_server(&ok, "");
    assert_eq!(exchange(s2.addr(), &get("/")).body, b"ok");
    assert!(s.log_contains("inflate() failed", WITHIN));
}

#[test]
fn configuration_errors_name_the_file_and_line() {
    for (conf, msg) in [
        ("gzip_comp_level 10;", "value must be between 1 and 9"),
        (
            "gzip_window 3k;",
            "must be 512, 1k, 2k, 4k, 8k, 16k, or 32k",
        ),
        (
            "gzip_static sometimes;",
            "it must be \"on\", \"off\" or \"always\"",
        ),
        ("gzip_proxied sometimes;", "invalid value \"sometimes\""),
        (
            "gzip_hash 8k;",
            "holdfast has no ngx_http_gzip_module's gzip_hash",
        ),
        (
            "brotli on;",
            "holdfast has no google/ngx_brotli's filter module",
        ),
        ("gzip on; gzip off;", "\"gzip\" directive is duplicate"),
    ] {
        let p = Prefix::new("gzip-conf");
        let file = p.write_conf(&common::conf(16, &format!("    {conf}\n")));
        let out = common::test_config(&p, &file, WITHIN);
        assert_eq!(out.code, Some(1), "{conf}: {}", out.stderr);
        assert!(out.stderr.contains(msg), "{conf}: {}", out.stderr);
        assert!(
            out.stderr.contains("holdfast.conf:"),
            "{conf}: {}",
            out.stderr
        );
    }
}

#[test]
fn gzip_ratio_is_logged_for_compressed_responses_only() {
    let p = Prefix::new("gzip-ratio");
    p.mkdir("logs");
    let body = text(50_000);
    p.write("html/r.html", &body);
    let log = p.path().join("logs/r.log");
    let s = Server::start_with(
        p,
        64,
        "log_format r \"$request_uri $gzip_ratio\";\n\
         access_log logs/r.log r;\n\
         server {\n    listen 127.0.0.1:0;\n    root html;\n    gzip on;\n}",
    );
    let g = exchange(s.addr(), &gz_get("/r.html?z"));
    let out_len = gunzip(&g.body).len();
    assert_eq!(out_len, body.len());
    exchange(s.addr(), &get("/r.html?plain"));
    let deadline = Instant::now() + WITHIN;
    let text = loop {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        if t.lines().count() >= 2 || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let lines: Vec<&str> = text.lines().collect();
    // nginx's ratio: bytes in / deflate bytes out (header and trailer
    // included), two decimals.
    let ratio: f64 = lines[0]
        .strip_prefix("/r.html?z ")
        .unwrap()
        .parse()
        .unwrap();
    let expect = body.len() as f64 / g.body.len() as f64;
    assert!((ratio - expect).abs() < 0.02, "{ratio} vs {expect}");
    assert_eq!(lines[1], "/r.html?plain -");
}

#[test]
fn a_compressed_access_log_is_a_series_of_gzip_members() {
    let p = Prefix::new("gzip-log");
    p.mkdir("logs");
    let log = p.path().join("logs/z.log");
    let mut s = Server::start_with(
        p,
        64,
        "log_format z \"$request_uri $status\";\n\
         access_log logs/z.log z gzip=6 buffer=200;\n\
         server {\n    listen 127.0.0.1:0;\n    location / { return 200 ok; }\n}",
    );
    // 20 lines of ~14 bytes: the 200-byte buffer is written (one member
    // each time) when the next line would not fit; the rest at the stop.
    for i in 0..20 {
        assert_eq!(
            exchange(s.addr(), &get(&format!("/line{i:02}"))).body,
            b"ok"
        );
    }
    s.signal(libc::SIGQUIT);
    s.assert_exits(WITHIN);
    let data = std::fs::read(&log).unwrap();
    let text = String::from_utf8(gunzip(&data)).unwrap();
    let want: String = (0..20).map(|i| format!("/line{i:02} 200\n")).collect();
    assert_eq!(text, want);
    // More than one member: the buffer was written before the end.
    let members = data.windows(3).filter(|w| *w == [0x1f, 0x8b, 0x08]).count();
    assert!(members >= 2, "{members} gzip members");
}
