//! Conditional requests over real TCP (issue 12, nginx's
//! ngx_http_not_modified_filter_module): 304 for a current copy
//! (`If-None-Match` weak, `If-Modified-Since` exact or before), 412 for a
//! false precondition (`If-Match` strong, `If-Unmodified-Since`), nginx's
//! order, nothing for a 404, `etag off`, and the connection kept after a
//! 304.

mod common;

use common::Server;

fn req(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

fn server() -> Server {
    let s = Server::with_server(
        "    location / { }\n\
         \x20   location /before/ { alias html/; if_modified_since before; }\n\
         \x20   location /noetag/ { alias html/; etag off; }\n\
         \x20   location /off/ { alias html/; if_modified_since off; }\n",
    );
    s.prefix().write("html/t.txt", "hello\n");
    s
}

#[test]
fn a_current_copy_gets_304_with_its_validators_only() {
    let s = server();
    let mut c = s.connect();
    let r = c.request(req("/t.txt", ""));
    r.assert_status(200).assert_body("hello\n");
    let etag = r.header("ETag").expect("etag").to_string();
    let lm = r
        .header("Last-Modified")
        .expect("last-modified")
        .to_string();
    for extra in [
        format!("If-None-Match: {etag}\r\n"),
        format!("If-None-Match: \"foo\", \"bar\", {etag} , \"baz\"\r\n"),
        "If-None-Match: *\r\n".to_string(),
        format!("If-None-Match: W/{etag}\r\n"),
        format!("If-Modified-Since: {lm}\r\n"),
    ] {
        c.send(req("/t.txt", &extra));
        let r = c.read_head_response();
        r.assert_status(304).assert_keepalive();
        assert_eq!(r.header("ETag"), Some(etag.as_str()), "{extra}");
        assert_eq!(r.header("Last-Modified"), Some(lm.as_str()));
        assert_eq!(r.header("Content-Length"), None, "{extra}");
        assert_eq!(r.header("Content-Type"), None, "{extra}");
    }
    // The connection goes on after the 304s.
    c.request(req("/t.txt", "If-None-Match: \"foo\"\r\n"))
        .assert_status(200)
        .assert_body("hello\n");
}

#[test]
fn if_modified_since_exact_before_and_off() {
    let s = server();
    let r = s.request(&req("/t.txt", ""));
    let lm = r.header("Last-Modified").unwrap().to_string();
    let later = "Tue, 19 Jan 2038 03:14:07 GMT";
    s.request(&req("/t.txt", &format!("If-Modified-Since: {later}\r\n")))
        .assert_status(200);
    let mut c = s.connect();
    c.send(req(
        "/before/t.txt",
        &format!("If-Modified-Since: {later}\r\n"),
    ));
    c.read_head_response().assert_status(304);
    c.request(req(
        "/before/t.txt",
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n",
    ))
    .assert_status(200);
    c.request(req("/off/t.txt", &format!("If-Modified-Since: {lm}\r\n")))
        .assert_status(200);
    // A date that does not parse is no condition.
    c.request(req("/t.txt", "If-Modified-Since: yesterday\r\n"))
        .assert_status(200);
}

#[test]
fn false_preconditions_get_412_and_a_404_ignores_them() {
    let s = server();
    let r = s.request(&req("/t.txt", ""));
    let etag = r.header("ETag").unwrap().to_string();
    let mut c = s.connect();
    c.request(req("/t.txt", &format!("If-Match: {etag}\r\n")))
        .assert_status(200);
    c.request(req("/t.txt", "If-Match: *\r\n"))
        .assert_status(200);
    let r = c.request(req("/t.txt", "If-Match: \"foo\"\r\n"));
    r.assert_status(412);
    assert!(String::from_utf8_lossy(&r.body).contains("412 Precondition Failed"));
    let mut c = s.connect();
    c.request(req("/t.txt", &format!("If-Match: W/{etag}\r\n")))
        .assert_status(412);
    let mut c = s.connect();
    c.request(req(
        "/t.txt",
        "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n",
    ))
    .assert_status(412);
    let mut c = s.connect();
    c.request(req(
        "/t.txt",
        "If-Unmodified-Since: Tue, 19 Jan 2038 03:14:07 GMT\r\n",
    ))
    .assert_status(200);
    // nginx's order: If-Match fails before If-None-Match is looked at.
    c.request(req(
        "/t.txt",
        &format!("If-Match: \"foo\"\r\nIf-None-Match: {etag}\r\n"),
    ))
    .assert_status(412);
    let mut c = s.connect();
    c.request(req("/nx", "If-Match: \"foo\"\r\n"))
        .assert_status(404);
}

#[test]
fn etag_off_sends_none_and_if_none_match_cannot_match() {
    let s = server();
    let r = s.request(&req("/noetag/t.txt", ""));
    r.assert_status(200);
    assert_eq!(r.header("ETag"), None);
    assert!(r.header("Last-Modified").is_some());
    s.request(&req("/noetag/t.txt", "If-None-Match: *\r\n"))
        .assert_status(200);
}
