//! The `return` directive (ngx_http_rewrite_module): text bodies, HEAD,
//! redirects with an absolute Location, bare codes with nginx's pages, 444.

mod common;

use std::time::Duration;

use common::{Server, get};

fn server() -> Server {
    Server::with_server(
        "    location = /text { return 200 \"hello\"; }\n\
         \x20   location = /created { return 201 \"made\"; }\n\
         \x20   location = /moved { return 301 /text; }\n\
         \x20   location = /away { return 302 http://example.com/x; }\n\
         \x20   location = /gone { return 410; }\n\
         \x20   location = /empty { return 204; }\n\
         \x20   location = /drop { return 444; }\n\
         \x20   location /pre/ { return 200 \"prefix\"; }\n\
         \x20   location = /pre/exact { return 200 \"exact\"; }",
    )
}

#[test]
fn return_text_is_text_plain_with_length() {
    let s = server();
    let mut c = s.connect();
    let r = c.request(get("/text"));
    r.assert_status(200).assert_keepalive().assert_body("hello");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Content-Length"), Some("5"));
    let r = c.request(get("/created"));
    r.assert_status(201).assert_body("made");
}

#[test]
fn head_on_return_has_no_body() {
    let s = server();
    let mut c = s.connect();
    c.send("HEAD /text HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.read_head_response();
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.header("Content-Length"), Some("5"));
    // Had the body been sent, it would prefix this response.
    c.request(get("/created"))
        .assert_status(201)
        .assert_body("made");
}

#[test]
fn return_redirects_have_location() {
    let s = server();
    let mut c = s.connect();
    let r = c.request(get("/moved"));
    r.assert_status(301).assert_keepalive();
    let loc = r.header("Location").expect("Location");
    assert_eq!(loc, format!("http://localhost:{}/text", s.addr().port()));
    assert!(r.text().contains("301 Moved Permanently"), "{r:?}");
    let r = c.request(get("/away"));
    r.assert_status(302);
    assert_eq!(r.header("Location"), Some("http://example.com/x"));
}

#[test]
fn bare_code_gets_nginx_page_and_keeps_alive() {
    let s = server();
    let mut c = s.connect();
    let r = c.request(get("/gone"));
    r.assert_status(410).assert_keepalive();
    assert!(r.text().contains("<title>410 Gone</title>"), "{r:?}");
    let r = c.request(get("/empty"));
    r.assert_status(204).assert_keepalive();
    c.request(get("/text")).assert_body("hello");
}

#[test]
fn return_444_closes_without_response() {
    let s = server();
    let mut c = s.connect();
    c.send(get("/drop"));
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn exact_location_wins_over_prefix() {
    let s = server();
    let mut c = s.connect();
    c.request(get("/pre/exact")).assert_body("exact");
    c.request(get("/pre/other")).assert_body("prefix");
    c.request(get("/pre/exact/more")).assert_body("prefix");
}
