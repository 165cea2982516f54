//! keepalive_disable (nginx-flow.md §3 step 2): Safari-like browsers on
//! macOS / iOS (`Safari/` and `Mac OS X` in User-Agent, not Chrome) lose
//! keep-alive with `keepalive_disable safari`; msie6 only affects POSTs.
//! (The default msie6 POST case is in keepalive.rs.)

mod common;

use std::time::Duration;

use common::Server;

const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 \
                          (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
                          AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 \
                          Safari/604.1";
const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const MSIE6: &str = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)";

fn server(extra: &str) -> Server {
    Server::with_server(&format!(
        "{extra}\n    location = /r {{ return 200 \"R\"; }}"
    ))
}

fn with_ua(method: &str, ua: &str) -> String {
    let body = if method == "POST" {
        "Content-Length: 1\r\n\r\nx"
    } else {
        "\r\n"
    };
    format!("{method} /r HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {ua}\r\n{body}")
}

#[track_caller]
fn assert_closes(s: &Server, raw: &str) {
    let mut c = s.connect();
    c.request(raw)
        .assert_status(200)
        .assert_close()
        .assert_body("R");
    c.expect_closed(Duration::from_secs(3));
}

#[track_caller]
fn assert_keeps_alive(s: &Server, raw: &str) {
    let mut c = s.connect();
    c.request(raw)
        .assert_status(200)
        .assert_keepalive()
        .assert_body("R");
    c.request(raw).assert_status(200).assert_keepalive();
    c.expect_open(Duration::from_millis(100));
}

#[test]
fn safari_keeps_alive_by_default() {
    let s = server("");
    assert_keeps_alive(&s, &with_ua("GET", SAFARI_MAC));
    assert_keeps_alive(&s, &with_ua("POST", SAFARI_MAC));
}

#[test]
fn keepalive_disable_safari_closes_safari_connections() {
    let s = server("    keepalive_disable safari;");
    assert_closes(&s, &with_ua("GET", SAFARI_MAC));
    assert_closes(&s, &with_ua("POST", SAFARI_MAC));
    assert_closes(&s, &with_ua("GET", SAFARI_IOS));
    // Chrome also says "Safari/" and "Mac OS X" but is not Safari.
    assert_keeps_alive(&s, &with_ua("GET", CHROME_MAC));
    // msie6 is no longer in the list: its POSTs keep alive.
    assert_keeps_alive(&s, &with_ua("POST", MSIE6));
}

#[test]
fn keepalive_disable_safari_after_keepalive_request_closes() {
    // The first request (no User-Agent) keeps alive; the Safari one on the
    // same connection is answered with Connection: close.
    let s = server("    keepalive_disable safari;");
    let mut c = s.connect();
    c.request("GET /r HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .assert_status(200)
        .assert_keepalive();
    c.request(with_ua("GET", SAFARI_MAC))
        .assert_status(200)
        .assert_close();
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn keepalive_disable_msie6_and_safari_together() {
    let s = server("    keepalive_disable msie6 safari;");
    assert_closes(&s, &with_ua("GET", SAFARI_MAC));
    assert_closes(&s, &with_ua("POST", MSIE6));
    // msie6 GETs are not affected.
    assert_keeps_alive(&s, &with_ua("GET", MSIE6));
}

#[test]
fn keepalive_disable_in_location_only() {
    let s = Server::with_server(
        "    location = /r { return 200 \"R\"; }\n\
         \x20   location = /nosafari { keepalive_disable safari; return 200 \"N\"; }",
    );
    assert_keeps_alive(&s, &with_ua("GET", SAFARI_MAC));
    let mut c = s.connect();
    c.request(format!(
        "GET /nosafari HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {SAFARI_MAC}\r\n\r\n"
    ))
    .assert_status(200)
    .assert_close()
    .assert_body("N");
    c.expect_closed(Duration::from_secs(3));
}
