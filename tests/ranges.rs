//! Byte ranges over real TCP (issue 12, nginx's
//! ngx_http_range_filter_module): one part (206 + Content-Range), several
//! (multipart/byteranges, checked byte for byte by a parser here), 416
//! with `bytes */SIZE`, If-Range by ETag and by date, max_ranges, parts
//! of a large file sent from their offsets, `curl -C -`-style resume.

mod common;

use common::Server;

fn req(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

fn body_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn server() -> Server {
    let s = Server::with_server(
        "    location / { }\n\
         \x20   location /one/ { alias html/; max_ranges 1; }\n\
         \x20   location /none/ { alias html/; max_ranges 0; }\n",
    );
    s.prefix().write("html/t.txt", body_bytes(1000));
    s.prefix().write("html/big.bin", body_bytes(3 << 20));
    s
}

#[test]
fn one_range_in_each_form() {
    let s = server();
    let whole = body_bytes(1000);
    let mut c = s.connect();
    let r = c.request(req("/t.txt", ""));
    r.assert_status(200);
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    for (spec, (a, b)) in [
        ("0-99", (0, 100)),
        ("900-", (900, 1000)),
        ("-100", (900, 1000)),
        ("990-5000", (990, 1000)),
        ("-5000", (0, 1000)),
    ] {
        let r = c.request(req("/t.txt", &format!("Range: bytes={spec}\r\n")));
        r.assert_status(206).assert_keepalive();
        assert_eq!(r.body, whole[a..b], "{spec}");
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes {a}-{}/1000", b - 1).as_str()),
            "{spec}"
        );
        assert_eq!(r.header("Accept-Ranges"), None);
    }
    // HEAD: the 206 head only.
    c.send("HEAD /t.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-9\r\n\r\n");
    let r = c.read_head_response();
    r.assert_status(206);
    assert_eq!(r.header("Content-Length"), Some("10"));
}

#[test]
fn several_ranges_are_multipart_byte_for_byte() {
    let s = server();
    let whole = body_bytes(1000);
    let r = s.request(&req("/t.txt", "Range: bytes=0-9, 500-509, -5\r\n"));
    r.assert_status(206);
    let ct = r.header("Content-Type").unwrap().to_string();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(&ct)
        .to_string();
    assert_eq!(boundary.len(), 10);
    assert_eq!(
        r.header("Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    // An independent parser of the multipart body.
    let text = r.body.clone();
    let sep = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    let mut rest = &text[..];
    assert!(rest.starts_with(sep.as_bytes()));
    loop {
        rest = &rest[sep.len()..];
        if rest.starts_with(b"--\r\n") {
            assert_eq!(rest.len(), 4);
            break;
        }
        let end_head = common::find(rest, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&rest[2..end_head]).into_owned();
        rest = &rest[end_head + 4..];
        let next = common::find(rest, sep.as_bytes()).unwrap();
        parts.push((head, rest[..next].to_vec()));
        rest = &rest[next..];
    }
    let want = [(0, 10), (500, 510), (995, 1000)];
    assert_eq!(parts.len(), 3);
    for ((head, data), (a, b)) in parts.iter().zip(want) {
        assert!(head.contains("Content-Type: text/plain"), "{head}");
        assert!(
            head.contains(&format!("Content-Range: bytes {a}-{}/1000", b - 1)),
            "{head}"
        );
        assert_eq!(data[..], whole[a..b]);
    }
}

#[test]
fn unsatisfiable_if_range_and_max_ranges() {
    let s = server();
    let r = s.request(&req("/t.txt", "Range: bytes=1000-\r\n"));
    r.assert_status(416);
    assert_eq!(r.header("Content-Range"), Some("bytes */1000"));
    // A Range that is not bytes= is ignored.
    s.request(&req("/t.txt", "Range: pages=1-2\r\n"))
        .assert_status(200);
    let r = s.request(&req("/t.txt", ""));
    let etag = r.header("ETag").unwrap().to_string();
    let lm = r.header("Last-Modified").unwrap().to_string();
    let mut c = s.connect();
    for (if_range, status) in [
        (etag.clone(), 206),
        ("\"other\"".to_string(), 200),
        (lm.clone(), 206),
        ("Thu, 01 Jan 1970 00:00:01 GMT".to_string(), 200),
    ] {
        let r = c.request(req(
            "/t.txt",
            &format!("Range: bytes=0-9\r\nIf-Range: {if_range}\r\n"),
        ));
        r.assert_status(status);
    }
    c.request(req("/one/t.txt", "Range: bytes=0-9\r\n"))
        .assert_status(206);
    c.request(req("/one/t.txt", "Range: bytes=0-9,20-29\r\n"))
        .assert_status(200);
    c.request(req("/none/t.txt", "Range: bytes=0-9\r\n"))
        .assert_status(200);
}

#[test]
fn parts_of_a_large_file_and_a_resumed_download() {
    let s = server();
    let whole = body_bytes(3 << 20);
    let mut c = s.connect();
    let a = 1_000_003;
    let r = c.request(req("/big.bin", &format!("Range: bytes={a}-\r\n")));
    r.assert_status(206);
    assert_eq!(r.body.len(), whole.len() - a);
    assert!(r.body == whole[a..], "resumed bytes differ");
    let r = c.request(req("/big.bin", "Range: bytes=10-19,2097152-2097161\r\n"));
    r.assert_status(206);
    assert!(common::find(&r.body, &whole[2_097_152..2_097_162]).is_some());
}

#[test]
fn an_added_last_modified_is_what_if_range_compares() {
    let s = Server::with_server(
        "    location /t3.txt { add_header Last-Modified \"Mon, 28 Sep 1970 06:00:00 GMT\"; }\n",
    );
    s.prefix().write("html/t3.txt", body_bytes(100));
    let mut c = s.connect();
    c.request(req(
        "/t3.txt",
        "Range: bytes=0-9\r\nIf-Range: Mon, 28 Sep 1970 06:00:00 GMT\r\n",
    ))
    .assert_status(206);
    let r = c.request(req("/t3.txt", "Range: bytes=0-9\r\nIf-Range: wrong\r\n"));
    r.assert_status(200);
    assert_eq!(
        r.header("Last-Modified"),
        Some("Mon, 28 Sep 1970 06:00:00 GMT")
    );
}

#[test]
fn a_file_over_4_gib_is_served_from_its_offsets_in_constant_memory() {
    // A sparse 5 GiB file (no disk used) with marks written near the end.
    let s = Server::with_server("    sendfile on;\n    location / { }\n");
    let path = s.prefix().write("html/huge.bin", b"");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let size: u64 = 5 << 30;
    f.set_len(size).unwrap();
    use std::os::unix::fs::FileExt;
    let mark_at = size - 100;
    f.write_all_at(b"holdfast-large-file-mark", mark_at)
        .unwrap();
    drop(f);
    let pid = s.pid();
    let rss = || common::rss_kib(pid);
    let before = rss();
    let mut c = s.connect();
    // HEAD: the length past 32 bits.
    c.send("HEAD /huge.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.header("Content-Length"), Some("5368709120"));
    // The last 100 bytes, from their offset.
    let r = c.request(req("/huge.bin", "Range: bytes=-100\r\n"));
    r.assert_status(206).assert_keepalive();
    assert_eq!(
        r.header("Content-Range"),
        Some(format!("bytes {mark_at}-{}/{size}", size - 1).as_str())
    );
    assert!(r.body.starts_with(b"holdfast-large-file-mark"));
    assert_eq!(r.body.len(), 100);
    // A part that straddles 4 GiB.
    let at: u64 = 4 << 30;
    let r = c.request(req(
        "/huge.bin",
        &format!("Range: bytes={}-{}\r\n", at - 10, at + 9),
    ));
    r.assert_status(206);
    assert_eq!(r.body, vec![0u8; 20]);
    assert!(rss() < before + 2048, "RSS grew by more than 2 MiB");
}
