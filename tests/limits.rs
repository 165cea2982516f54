//! Header size limits and request validation (nginx-flow.md §2): 414 for a
//! request line that does not fit a large header buffer, 400 "Request Header
//! Or Cookie Too Large" (494) for header lines and heads that do not fit, and
//! the other 400/501/505 answers. All of them happen before the keep-alive
//! decision, so every one says `Connection: close` and the connection closes.

mod common;

use std::time::Duration;

use common::{Server, assert_error_closes, get};

fn server() -> Server {
    Server::with_server(
        "    location = /r { return 200 \"R\"; }\n\
         \x20   location /long/ { return 200 \"long ok\"; }",
    )
}

/// A GET request line of exactly `len` bytes including its CRLF.
fn request_line_of(len: usize) -> String {
    let fixed = "GET /long/ HTTP/1.1\r\n".len();
    format!("GET /long/{} HTTP/1.1\r\n", "a".repeat(len - fixed))
}

/// A header line of exactly `len` bytes including its CRLF.
fn header_line_of(name: &str, len: usize) -> String {
    let fixed = name.len() + ": \r\n".len();
    format!("{name}: {}\r\n", "v".repeat(len - fixed))
}

const TOO_LARGE: &str = "400 Request Header Or Cookie Too Large";

#[test]
fn request_line_over_8k_is_414_and_closes() {
    let s = server();
    let req = format!("{}Host: localhost\r\n\r\n", request_line_of(9000));
    let resp = assert_error_closes(&s, req, 414);
    assert!(
        resp.text().contains("414 Request-URI Too Large"),
        "{resp:?}"
    );
    s.assert_log("client sent too long URI", Duration::from_secs(3));
}

#[test]
fn request_line_of_exactly_8k_including_crlf_is_accepted() {
    let s = server();
    let line = request_line_of(8192);
    assert_eq!(line.len(), 8192);
    let mut c = s.connect();
    c.request(format!("{line}Host: localhost\r\n\r\n"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("long ok");
    c.request(get("/r")).assert_status(200);
}

#[test]
fn request_line_one_byte_over_8k_is_414() {
    let s = server();
    let req = format!("{}Host: localhost\r\n\r\n", request_line_of(8193));
    assert_error_closes(&s, req, 414);
}

#[test]
fn header_line_over_8k_is_400_too_large_and_closes() {
    let s = server();
    let req = format!(
        "GET /r HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        header_line_of("X-Big", 9000)
    );
    let resp = assert_error_closes(&s, req, 400);
    assert!(resp.text().contains(TOO_LARGE), "{resp:?}");
    s.assert_log("client sent too long header line", Duration::from_secs(3));
}

#[test]
fn header_line_of_exactly_8k_including_crlf_is_accepted() {
    let s = server();
    let h = header_line_of("X-Big", 8192);
    assert_eq!(h.len(), 8192);
    let mut c = s.connect();
    c.request(format!("GET /r HTTP/1.1\r\nHost: localhost\r\n{h}\r\n"))
        .assert_status(200)
        .assert_keepalive();
    c.request(get("/r")).assert_status(200);
}

#[test]
fn header_line_one_byte_over_8k_is_400() {
    let s = server();
    let req = format!(
        "GET /r HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        header_line_of("X-Big", 8193)
    );
    let resp = assert_error_closes(&s, req, 400);
    assert!(resp.text().contains(TOO_LARGE), "{resp:?}");
}

#[test]
fn long_request_line_and_20k_of_headers_fit_large_buffers() {
    let s = server();
    let line = request_line_of(6000);
    let headers: String = (0..4)
        .map(|i| header_line_of(&format!("X-H{i}"), 5000))
        .collect();
    let req = format!("{line}Host: localhost\r\n{headers}\r\n");
    assert!(req.len() > 26_000);
    let mut c = s.connect();
    c.request(&req)
        .assert_status(200)
        .assert_keepalive()
        .assert_body("long ok");
    // Again on the same (keep-alive) connection.
    c.request(&req).assert_status(200).assert_body("long ok");
}

#[test]
fn head_larger_than_all_large_buffers_is_400_too_large() {
    let s = server();
    // Five 7k header lines: each fits 8k, the head does not fit 4 x 8k.
    let headers: String = (0..5)
        .map(|i| header_line_of(&format!("X-H{i}"), 7000))
        .collect();
    let req = format!("GET /r HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
    let resp = assert_error_closes(&s, req, 400);
    assert!(resp.text().contains(TOO_LARGE), "{resp:?}");
}

#[test]
fn too_many_header_lines_is_400_too_large() {
    let s = server();
    // Host plus 1000 more: one past max_headers (1000).
    let headers: String = (0..1000).map(|i| format!("X-{i}: v\r\n")).collect();
    let req = format!("GET /r HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
    let resp = assert_error_closes(&s, req, 400);
    assert!(resp.text().contains(TOO_LARGE), "{resp:?}");
}

#[test]
fn exactly_max_headers_is_accepted() {
    let s = server();
    let headers: String = (0..999).map(|i| format!("X-{i}: v\r\n")).collect();
    let req = format!("GET /r HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
    s.request(&req).assert_status(200).assert_keepalive();
}

#[test]
fn bad_request_line_is_400() {
    let s = server();
    for req in [
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTX/1.1\r\nHost: a\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let resp = assert_error_closes(&s, req, 400);
        assert!(resp.text().contains("400 Bad Request"), "{req:?}: {resp:?}");
    }
    s.assert_log("client sent invalid request", Duration::from_secs(3));
}

#[test]
fn http2_version_is_505() {
    let s = server();
    let resp = assert_error_closes(&s, "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505);
    assert!(
        resp.text().contains("505 HTTP Version Not Supported"),
        "{resp:?}"
    );
    assert_error_closes(&s, "GET / HTTP/3.0\r\nHost: localhost\r\n\r\n", 505);
}

#[test]
fn http11_without_host_is_400() {
    let s = server();
    assert_error_closes(&s, "GET /r HTTP/1.1\r\n\r\n", 400);
    s.assert_log(
        "client sent HTTP/1.1 request without \"Host\" header",
        Duration::from_secs(3),
    );
}

#[test]
fn http10_without_host_is_fine() {
    let s = server();
    s.request("GET /r HTTP/1.0\r\n\r\n")
        .assert_status(200)
        .assert_body("R");
}

#[test]
fn duplicate_host_is_400() {
    let s = server();
    assert_error_closes(&s, "GET /r HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    s.assert_log("client sent duplicate host header", Duration::from_secs(3));
}

#[test]
fn invalid_host_is_400() {
    let s = server();
    for host in ["a/b", "..", "a..b", "a\\b"] {
        assert_error_closes(&s, format!("GET /r HTTP/1.1\r\nHost: {host}\r\n\r\n"), 400);
    }
}

#[test]
fn transfer_encoding_with_content_length_is_400() {
    let s = server();
    assert_error_closes(
        &s,
        "POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn unknown_transfer_encoding_is_501() {
    let s = server();
    let resp = assert_error_closes(
        &s,
        "POST /r HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    );
    assert!(resp.text().contains("501 Not Implemented"), "{resp:?}");
}

#[test]
fn transfer_encoding_in_http10_is_400() {
    let s = server();
    assert_error_closes(
        &s,
        "POST /r HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn bad_or_duplicate_content_length_is_400() {
    let s = server();
    for cl in [
        "Content-Length: abc",
        "Content-Length: -1",
        "Content-Length: 1\r\nContent-Length: 1",
    ] {
        assert_error_closes(
            &s,
            format!("POST /r HTTP/1.1\r\nHost: a\r\n{cl}\r\n\r\nx"),
            400,
        );
    }
}

#[test]
fn header_line_without_colon_is_400() {
    let s = server();
    assert_error_closes(&s, "GET /r HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n", 400);
}

#[test]
fn trace_method_is_405_and_closes() {
    // nginx rejects TRACE while processing the header (before the keep-alive
    // decision), whatever the location does.
    let s = server();
    assert_error_closes(&s, "TRACE /r HTTP/1.1\r\nHost: a\r\n\r\n", 405);
}

#[test]
fn error_after_keepalive_request_closes_connection() {
    let s = server();
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    c.request("GET /r HTTP/1.1\r\n\r\n")
        .assert_status(400)
        .assert_close();
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn leading_empty_lines_before_request_line_are_ignored() {
    let s = server();
    let mut c = s.connect();
    c.request(format!("\r\n\r\n{}", get("/r")))
        .assert_status(200)
        .assert_body("R");
}

#[test]
fn request_line_over_8k_without_crlf_is_414_at_once() {
    // The 414 does not wait for the end of the line.
    let s = server();
    let mut c = s.connect();
    c.send(format!("GET /long/{}", "a".repeat(9000)));
    c.read_response().assert_status(414).assert_close();
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn header_line_over_8k_without_crlf_is_400_at_once() {
    let s = server();
    let mut c = s.connect();
    c.send(format!(
        "GET /r HTTP/1.1\r\nHost: localhost\r\nX-Big: {}",
        "v".repeat(9000)
    ));
    let resp = c.read_response();
    resp.assert_status(400).assert_close();
    assert!(resp.text().contains(TOO_LARGE), "{resp:?}");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn lowercase_method_is_400() {
    // nginx's request line parser takes only A-Z, '_' and '-' in methods.
    let s = server();
    assert_error_closes(&s, "get /r HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

#[test]
fn obs_fold_header_continuation_is_400() {
    let s = server();
    assert_error_closes(
        &s,
        "GET /r HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n",
        400,
    );
}

#[test]
fn header_with_invalid_name_is_ignored() {
    // ignore_invalid_headers on (nginx's default): the line is skipped.
    let s = server();
    let mut c = s.connect();
    c.request("GET /r HTTP/1.1\r\nHost: a\r\nX@Bad: 1\r\nX_Under: 2\r\n\r\n")
        .assert_status(200)
        .assert_keepalive()
        .assert_body("R");
}

#[test]
fn absolute_form_target_is_accepted() {
    let s = server();
    let mut c = s.connect();
    c.request("GET http://localhost/r HTTP/1.1\r\nHost: other\r\n\r\n")
        .assert_status(200)
        .assert_body("R");
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 even with an
    // absolute-form target.
    let mut c = s.connect();
    c.request("GET http://localhost/r HTTP/1.1\r\n\r\n")
        .assert_status(400)
        .assert_close();
}

#[test]
fn body_over_client_max_body_size_is_413_and_closes() {
    let s = Server::with_server(
        "    client_max_body_size 10;\n    location = /r { return 200 \"R\"; }",
    );
    let mut c = s.connect();
    // Within the limit: fine.
    c.request("POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789")
        .assert_status(200)
        .assert_keepalive();
    // Over it: 413 as soon as the header is in, without waiting for the body.
    c.send("POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
    let resp = c.read_response();
    resp.assert_status(413).assert_close();
    assert!(
        resp.text().contains("413 Request Entity Too Large"),
        "{resp:?}"
    );
    c.shutdown_write();
    c.expect_closed(Duration::from_secs(3));
    s.assert_log(
        "client intended to send too large body: 100 bytes",
        Duration::from_secs(3),
    );
}
