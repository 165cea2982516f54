//! Pipelining: several requests in one write are answered in order
//! (RFC 9112 §9.3.2; nginx-flow.md §4 step 5, the pipelined branch of
//! ngx_http_set_keepalive), including requests with bodies (§7).

mod common;

use std::time::Duration;

use common::{Server, get};

const SHORT: Duration = Duration::from_millis(300);

/// `location = /N { return 200 "N"; }` for N in 1..=n.
fn numbered_locations(n: usize) -> String {
    (1..=n)
        .map(|i| format!("    location = /{i} {{ return 200 \"{i}\"; }}\n"))
        .collect()
}

#[test]
fn sixteen_pipelined_requests_answered_in_order() {
    let s = Server::with_server(&numbered_locations(16));
    let mut c = s.connect();
    let batch: String = (1..=16).map(|i| get(&format!("/{i}"))).collect();
    c.send(batch);
    for i in 1..=16 {
        let resp = c.read_response();
        resp.assert_status(200).assert_keepalive();
        assert_eq!(resp.text(), i.to_string(), "response {i} out of order");
    }
    c.expect_open(SHORT);
    c.request(get("/7")).assert_status(200).assert_body("7");
}

#[test]
fn pipelined_requests_spanning_many_header_buffers_answered_in_order() {
    // ~200 requests, several kilobytes: they straddle the 1k header buffer
    // (and any read size) at arbitrary points.
    let s = Server::with_server(&numbered_locations(50));
    let mut c = s.connect();
    let order: Vec<usize> = (0..200).map(|k| (k * 7) % 50 + 1).collect();
    let batch: String = order
        .iter()
        .map(|i| format!("GET /{i} HTTP/1.1\r\nHost: localhost\r\nX-Seq: {i:05}\r\n\r\n"))
        .collect();
    assert!(batch.len() > 8192);
    c.send(batch);
    for i in &order {
        let resp = c.read_response();
        resp.assert_status(200).assert_keepalive();
        assert_eq!(resp.text(), i.to_string());
    }
    c.expect_open(SHORT);
}

#[test]
fn pipelined_static_and_return_mixed() {
    let s = Server::with_server(&numbered_locations(3));
    s.prefix().write("html/a.txt", "file a\n");
    s.prefix().write("html/b.html", "<p>b</p>");
    let mut c = s.connect();
    c.send(format!(
        "{}{}HEAD /b.html HTTP/1.1\r\nHost: localhost\r\n\r\n{}{}{}",
        get("/a.txt"),
        get("/1"),
        get("/missing.txt"),
        get("/b.html"),
        get("/2"),
    ));
    let r = c.read_response();
    r.assert_status(200)
        .assert_keepalive()
        .assert_body("file a\n");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    c.read_response().assert_status(200).assert_body("1");
    let r = c.read_head_response();
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.header("Content-Length"), Some("8"));
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    c.read_response().assert_status(404).assert_keepalive();
    c.read_response().assert_status(200).assert_body("<p>b</p>");
    c.read_response().assert_status(200).assert_body("2");
    c.expect_open(SHORT);
}

#[test]
fn pipelined_large_static_files_keep_order() {
    // Bigger than the in-memory limit (sent with sendfile) and bigger than the
    // output batch: the responses must still come out whole and in order.
    let s = Server::with_server(&numbered_locations(2));
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let small = b"small file".to_vec();
    s.prefix().write("html/big.bin", &big);
    s.prefix().write("html/small.txt", &small);
    let mut c = s.connect();
    c.send(format!(
        "{}{}{}{}{}",
        get("/big.bin"),
        get("/1"),
        get("/big.bin"),
        get("/small.txt"),
        get("/2")
    ));
    let r = c.read_response();
    r.assert_status(200);
    assert!(r.body == big, "first big body differs");
    c.read_response().assert_body("1");
    let r = c.read_response();
    assert!(r.body == big, "second big body differs");
    assert_eq!(c.read_response().body, small);
    c.read_response().assert_status(200).assert_body("2");
    c.expect_open(SHORT);
}

#[test]
fn pipelined_last_request_with_connection_close() {
    let s = Server::with_server(&numbered_locations(3));
    let mut c = s.connect();
    c.send(format!(
        "{}{}GET /3 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        get("/1"),
        get("/2")
    ));
    c.read_response().assert_keepalive().assert_body("1");
    c.read_response().assert_keepalive().assert_body("2");
    c.read_response().assert_close().assert_body("3");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn pipelined_bad_request_stops_the_pipeline() {
    let s = Server::with_server(&numbered_locations(3));
    let mut c = s.connect();
    c.send(format!("{}BOGUS\r\n\r\n{}", get("/1"), get("/2")));
    c.read_response().assert_status(200).assert_body("1");
    c.read_response().assert_status(400).assert_close();
    // /2 is never answered.
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn body_with_content_length_then_pipelined_get() {
    let s = Server::with_server(&numbered_locations(2));
    let mut c = s.connect();
    c.send(format!(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello{}",
        get("/2")
    ));
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("2");
    c.expect_open(SHORT);
    c.request(get("/1")).assert_status(200).assert_body("1");
}

#[test]
fn body_that_looks_like_a_request_is_not_parsed_as_one() {
    let s = Server::with_server(&numbered_locations(2));
    let mut c = s.connect();
    let fake = get("/2");
    c.send(format!(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{fake}{}",
        fake.len(),
        get("/1")
    ));
    c.read_response().assert_status(200).assert_body("1");
    c.read_response().assert_status(200).assert_body("1");
    c.expect_open(SHORT);
}

#[test]
fn body_arriving_after_the_response_is_discarded_then_keepalive() {
    let s = Server::with_server(&numbered_locations(2));
    let mut c = s.connect();
    // Only part of the body: nginx answers first and discards the rest later.
    c.send("POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nhello");
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    c.send(format!("world{}", get("/2")));
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("2");
    c.expect_open(SHORT);
}

#[test]
fn large_body_to_return_location_then_next_request() {
    let s = Server::with_server(&numbered_locations(2));
    let mut c = s.connect();
    let body = vec![b'x'; 100_000];
    let mut req = format!(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(get("/2").as_bytes());
    c.send(req);
    c.read_response().assert_status(200).assert_body("1");
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("2");
}

#[test]
fn head_then_get_pipelined_do_not_mix_bodies() {
    let s = Server::with_server("");
    s.prefix().write("html/h.txt", "0123456789");
    let mut c = s.connect();
    c.send(format!(
        "HEAD /h.txt HTTP/1.1\r\nHost: localhost\r\n\r\n{}",
        get("/h.txt")
    ));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.header("Content-Length"), Some("10"));
    let g = c.read_response();
    g.assert_status(200).assert_body("0123456789");
    c.expect_open(SHORT);
}

#[test]
fn pipelined_after_request_with_large_header() {
    // The first request does not fit the 1k buffer: the pipelined ones that
    // follow it sit in a large header buffer.
    let s = Server::with_server(&numbered_locations(4));
    let big = |n: usize| {
        format!(
            "GET /{n} HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
            "b".repeat(3000)
        )
    };
    let mut c = s.connect();
    c.send(format!("{}{}{}{}", big(1), get("/2"), big(3), get("/4")));
    for i in 1..=4 {
        c.read_response()
            .assert_status(200)
            .assert_keepalive()
            .assert_body(&i.to_string());
    }
    c.expect_open(SHORT);
    c.request(big(2)).assert_status(200).assert_body("2");
    c.request(get("/3")).assert_status(200).assert_body("3");
}

#[test]
fn pipelined_requests_larger_in_total_than_all_header_buffers() {
    // 16 x ~3k = ~48k in one write: more than 4 x 8k, but each request fits.
    let s = Server::with_server(&numbered_locations(16));
    let batch: String = (1..=16)
        .map(|i| {
            format!(
                "GET /{i} HTTP/1.1\r\nHost: localhost\r\nX-Fill: {}\r\n\r\n",
                "f".repeat(3000)
            )
        })
        .collect();
    assert!(batch.len() > 4 * 8192);
    let mut c = s.connect();
    c.send(batch);
    for i in 1..=16 {
        c.read_response()
            .assert_status(200)
            .assert_keepalive()
            .assert_body(&i.to_string());
    }
    c.expect_open(SHORT);
}

#[test]
fn pipelined_http10_requests() {
    let s = Server::with_server(&numbered_locations(3));
    let mut c = s.connect();
    c.send(
        "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
         GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
         GET /3 HTTP/1.0\r\n\r\n",
    );
    c.read_response().assert_keepalive().assert_body("1");
    c.read_response().assert_keepalive().assert_body("2");
    c.read_response().assert_close().assert_body("3");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn partial_pipelined_request_completed_later() {
    let s = Server::with_server(&numbered_locations(2));
    let mut c = s.connect();
    c.send(format!("{}GET /2 HTTP/1.1\r\nHo", get("/1")));
    c.read_response().assert_status(200).assert_body("1");
    c.expect_open(Duration::from_millis(200));
    c.send("st: localhost\r\n\r\n");
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("2");
}
