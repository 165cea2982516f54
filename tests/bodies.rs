//! Request bodies (nginx-flow.md §3, §7): discarded bodies with a pipelined
//! request after them, client_max_body_size (413), malformed chunked bodies
//! (400), Transfer-Encoding / Content-Length conflicts, and
//! `Expect: 100-continue`.

mod common;

use std::time::Duration;

use common::{Conn, Server, assert_error_closes, get};

const SHORT: Duration = Duration::from_millis(300);
const CLOSE: Duration = Duration::from_secs(3);

/// `/1`, `/2` return their number; `/small` has client_max_body_size 10.
fn server(extra: &str) -> Server {
    Server::with_server(&format!(
        "{extra}\n\
         \x20   location = /1 {{ return 200 \"1\"; }}\n\
         \x20   location = /2 {{ return 200 \"2\"; }}\n\
         \x20   location = /small {{ client_max_body_size 10; return 200 \"small\"; }}"
    ))
}

/// Sends each piece with its own write call.
fn send_pieces(c: &mut Conn, pieces: &[&[u8]]) {
    for p in pieces {
        c.send(p);
    }
}

#[track_caller]
fn expect_1_then_2(c: &mut Conn) {
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("2");
    c.expect_open(Duration::from_millis(50));
    // The connection is still in sync.
    c.request(get("/1")).assert_status(200).assert_body("1");
}

#[test]
fn content_length_body_answered_first_then_rest_discarded_then_pipelined_get() {
    let s = server("");
    let mut c = s.connect();
    c.send("POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n012");
    // nginx answers before the body is in and discards the rest afterwards.
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    c.send("345");
    c.send("67");
    c.send(format!("89{}", get("/2")));
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("2");
    c.expect_open(SHORT);
    c.request(get("/1")).assert_status(200).assert_body("1");
}

#[test]
fn content_length_body_in_many_writes_then_pipelined_get() {
    let s = server("");
    let mut c = s.connect();
    let get2 = get("/2");
    send_pieces(
        &mut c,
        &[
            b"POST /1 HTTP/1.1\r\nHost: localhost\r\nCont",
            b"ent-Length: 10\r\n\r",
            b"\n01",
            b"2345",
            b"678",
            b"9GET /2 HTT",
            &get2.as_bytes()[10..],
        ],
    );
    expect_1_then_2(&mut c);
}

/// A chunked body with extensions and trailers, cut at awkward places
/// (inside a size line and an extension, between CR and LF, inside the
/// trailer section), followed by `GET /2`.
fn chunked_pieces() -> Vec<Vec<u8>> {
    let get2 = get("/2");
    [
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5;na",
        "me=value\r\nhel",
        "lo\r",
        "\n6;a=b;c=\"d e\"\r\n wor",
        "ld\r\n0;last\r\nX-Trailer: t\r",
        "\nY: z\r\n\r",
        "\n",
        &get2,
    ]
    .iter()
    .map(|p| p.as_bytes().to_vec())
    .collect()
}

#[test]
fn chunked_body_with_extensions_and_trailers_split_then_pipelined_get() {
    let s = server("");
    let mut c = s.connect();
    let pieces = chunked_pieces();
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    send_pieces(&mut c, &refs);
    expect_1_then_2(&mut c);
}

#[test]
fn chunked_body_rest_arrives_after_the_response_then_pipelined_get() {
    let s = server("");
    let mut c = s.connect();
    let pieces = chunked_pieces();
    c.send(&pieces[0]);
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    for p in &pieces[1..] {
        c.send(p);
    }
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("2");
    c.expect_open(SHORT);
    c.request(get("/1")).assert_status(200).assert_body("1");
}

#[test]
fn content_length_body_bigger_than_header_buffer_then_pipelined_get() {
    let s = server("");
    let mut c = s.connect();
    let body: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
    c.send("POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3000\r\n\r\n");
    c.send(&body[..1000]);
    c.send(&body[1000..2500]);
    let mut tail = body[2500..].to_vec();
    tail.extend_from_slice(get("/2").as_bytes());
    c.send(&tail);
    expect_1_then_2(&mut c);
}

#[test]
fn chunked_body_bigger_than_header_buffer_then_pipelined_get() {
    let s = server("");
    let mut c = s.connect();
    let mut raw =
        b"POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for i in 0..4u8 {
        raw.extend_from_slice(b"5dc;ext=1\r\n"); // 1500
        raw.extend(std::iter::repeat_n(b'0' + i, 1500));
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\nTrailer: x\r\n\r\n");
    raw.extend_from_slice(get("/2").as_bytes());
    // Writes of 700 bytes: every chunk boundary lands somewhere inside one.
    for piece in raw.chunks(700) {
        c.send(piece);
    }
    expect_1_then_2(&mut c);
}

#[test]
fn declared_length_over_limit_is_413_and_pipelined_request_is_not_answered() {
    let s = server("    client_max_body_size 10;");
    let mut c = s.connect();
    c.send(format!(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n01234567890{}",
        get("/2")
    ));
    let resp = c.read_response();
    resp.assert_status(413).assert_close();
    assert!(
        resp.text().contains("413 Request Entity Too Large"),
        "{resp:?}"
    );
    c.expect_closed(CLOSE);
    s.assert_log(
        "client intended to send too large body: 11 bytes",
        Duration::from_secs(3),
    );
    // Exactly at the limit is fine.
    let mut c = s.connect();
    c.request("POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n0123456789")
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
}

#[test]
fn location_limit_applies_to_its_location_only() {
    let s = server("");
    let body = "x".repeat(20);
    let mut c = s.connect();
    c.request(format!(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n{body}"
    ))
    .assert_status(200)
    .assert_keepalive();
    c.send(format!(
        "POST /small HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n{body}"
    ));
    c.read_response().assert_status(413).assert_close();
    c.expect_closed(CLOSE);
}

#[test]
fn chunked_body_growing_past_limit_is_413() {
    let s = server("    client_max_body_size 10;");
    // 5 + 5 = 10 bytes: within the limit.
    let mut c = s.connect();
    c.request(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
    )
    .assert_status(200)
    .assert_keepalive()
    .assert_body("1");
    // 5 + 6 = 11 bytes: every chunk is small, the sum is not.
    let resp = assert_error_closes(
        &s,
        format!(
            "POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n{}",
            get("/2")
        ),
        413,
    );
    assert!(
        resp.text().contains("413 Request Entity Too Large"),
        "{resp:?}"
    );
}

#[test]
fn default_limit_is_one_megabyte() {
    let s = server("");
    let mut c = s.connect();
    c.send("POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048577\r\n\r\n");
    c.read_response().assert_status(413).assert_close();
    c.expect_closed(CLOSE);
    let mut c = s.connect();
    let mut raw =
        b"POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    raw.resize(raw.len() + 1_048_576, b'x');
    raw.extend_from_slice(get("/2").as_bytes());
    c.send(&raw);
    expect_1_then_2(&mut c);
}

#[test]
fn client_max_body_size_zero_is_unlimited() {
    let s = server("    client_max_body_size 0;");
    let mut c = s.connect();
    let mut raw =
        b"POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n".to_vec();
    raw.resize(raw.len() + 2_000_000, b'y');
    raw.extend_from_slice(get("/2").as_bytes());
    c.send(&raw);
    expect_1_then_2(&mut c);
    // A chunked body past the default 1m as well.
    let mut raw =
        b"POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..12 {
        raw.extend_from_slice(b"186a0\r\n"); // 100000
        raw.resize(raw.len() + 100_000, b'z');
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw.extend_from_slice(get("/2").as_bytes());
    c.send(&raw);
    expect_1_then_2(&mut c);
}

#[test]
fn invalid_chunked_bodies_are_400_and_close() {
    let s = server("");
    let head = "POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (what, body) in [
        ("bad hex digit", "zz\r\nhello\r\n0\r\n\r\n"),
        ("hex digit then junk", "5x\r\nhello\r\n0\r\n\r\n"),
        ("empty size line", "\r\nhello\r\n0\r\n\r\n"),
        ("data not followed by CRLF", "5\r\nhelloXX\r\n0\r\n\r\n"),
        ("CR without LF after size", "5\rhello\r\n0\r\n\r\n"),
        ("size overflow", "fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        ("negative size", "-5\r\nhello\r\n0\r\n\r\n"),
    ] {
        let mut c = s.connect();
        c.send(format!("{head}{body}{}", get("/2")));
        let resp = c
            .try_read_response(Duration::from_secs(3), false)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(resp.status, 400, "{what}: {resp:?}");
        assert_eq!(resp.connection(), "close", "{what}: {resp:?}");
        // Nothing more: the pipelined GET is not answered.
        c.expect_closed(CLOSE);
    }
}

#[test]
fn invalid_chunked_body_arriving_after_the_response_closes() {
    let s = server("");
    let mut c = s.connect();
    c.send("POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    // The response is out; all the server can do is close.
    c.send(format!("loXX\r\n0\r\n\r\n{}", get("/2")));
    c.expect_closed(CLOSE);
}

#[test]
fn transfer_encoding_and_content_length_is_400_without_smuggling() {
    let s = server("");
    // The body, read by Content-Length, would end after "0\r\n\r\n"; read as
    // chunked it would carry a smuggled GET. Neither may happen.
    let smuggled = get("/2");
    let raw = format!(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
         Content-Length: 5\r\n\r\n0\r\n\r\n{smuggled}"
    );
    let resp = assert_error_closes(&s, raw, 400);
    assert!(resp.text().contains("400 Bad Request"), "{resp:?}");
    s.assert_log(
        "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
        Duration::from_secs(3),
    );
}

#[test]
fn transfer_encoding_other_than_exactly_chunked_is_501() {
    let s = server("");
    for te in [
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked, chunked",
        "Transfer-Encoding: identity",
    ] {
        let resp = assert_error_closes(
            &s,
            format!("POST /1 HTTP/1.1\r\nHost: localhost\r\n{te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            501,
        );
        assert!(
            resp.text().contains("501 Not Implemented"),
            "{te}: {resp:?}"
        );
    }
    // Two Transfer-Encoding lines are refused too (nginx 1.23+ treats the
    // header as unique: 400; holdfast may answer 501), never read as chunked.
    let mut c = s.connect();
    c.send(format!(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{}",
        get("/2")
    ));
    let resp = c.read_response();
    assert!(matches!(resp.status, 400 | 501), "{resp:?}");
    resp.assert_close();
    c.expect_closed(CLOSE);
    // Case and surrounding whitespace do not matter for `chunked` itself.
    let mut c = s.connect();
    c.request(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:  Chunked \r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
    )
    .assert_status(200)
    .assert_keepalive();
}

#[test]
fn expect_100_continue_is_sent_before_the_body() {
    let s = server("");
    let mut c = s.connect();
    c.send(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n\
         Content-Length: 5\r\n\r\n",
    );
    // Exactly `HTTP/1.1 100 Continue\r\n\r\n`, before any body byte was sent.
    let interim = c.read_response();
    assert_eq!(
        (
            interim.version.as_str(),
            interim.status,
            interim.reason.as_str()
        ),
        ("HTTP/1.1", 100, "Continue"),
        "{interim:?}"
    );
    assert!(interim.headers.is_empty(), "{interim:?}");
    c.send(format!("hello{}", get("/2")));
    expect_1_then_2(&mut c);
}

#[test]
fn expect_100_continue_with_chunked_body() {
    let s = server("");
    let mut c = s.connect();
    c.send(
        "POST /1 HTTP/1.1\r\nHost: localhost\r\nExpect: 100-Continue\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
    );
    let interim = c.read_response();
    assert_eq!(interim.status, 100, "{interim:?}");
    assert!(interim.headers.is_empty(), "{interim:?}");
    c.send(format!("5\r\nhello\r\n0\r\n\r\n{}", get("/2")));
    expect_1_then_2(&mut c);
}

#[test]
fn no_100_continue_for_http10() {
    let s = server("");
    let mut c = s.connect();
    c.send(
        "POST /1 HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\
         Content-Length: 5\r\n\r\n",
    );
    // The first thing to arrive is the final response.
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    c.send("hello");
    c.request("GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .assert_status(200)
        .assert_keepalive()
        .assert_body("2");
}

#[test]
fn empty_body_still_gets_100_but_a_rejected_one_does_not() {
    let s = server("");
    // No body: nginx tests Expect before it looks at the length, so a
    // 100 Continue comes first all the same.
    let mut c = s.connect();
    c.send("GET /1 HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n\r\n");
    c.read_head_response().assert_status(100);
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    // Too large: 413 straight away, no 100 first.
    let mut c = s.connect();
    c.send(
        "POST /small HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n\
         Content-Length: 11\r\n\r\n",
    );
    c.read_response().assert_status(413).assert_close();
    c.expect_closed(CLOSE);
}
