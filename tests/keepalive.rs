//! Keep-alive: when a connection is reused or closed after a response
//! (nginx-flow.md §3 and §4: ngx_http_handler's `Connection` classification,
//! ngx_http_update_location_config's limits, the header filter's
//! `Connection` / `Keep-Alive` headers, ngx_http_set_keepalive).

mod common;

use std::time::{Duration, Instant};

use common::{Server, get};

const SHORT: Duration = Duration::from_millis(300);

fn return_server(extra: &str) -> Server {
    Server::with_server(&format!(
        "{extra}\n    location = /r {{ return 200 \"R\"; }}\n    location = /s {{ return 200 \"S\"; }}"
    ))
}

#[test]
fn http11_keepalive_reuses_one_socket() {
    let s = return_server("");
    let mut c = s.connect();
    for i in 0..5 {
        let path = if i % 2 == 0 { "/r" } else { "/s" };
        let resp = c.request(get(path));
        resp.assert_status(200).assert_keepalive();
        assert_eq!(resp.text(), if i % 2 == 0 { "R" } else { "S" });
        assert_eq!(resp.version, "HTTP/1.1");
    }
    c.expect_open(SHORT);
    // Still usable after the idle period.
    c.request(get("/r")).assert_status(200).assert_body("R");
}

#[test]
fn http10_closes_without_keepalive() {
    let s = return_server("");
    let mut c = s.connect();
    let resp = c.request("GET /r HTTP/1.0\r\n\r\n");
    resp.assert_status(200).assert_close().assert_body("R");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn http10_with_connection_keepalive_stays_open() {
    let s = return_server("");
    let mut c = s.connect();
    let resp = c.request("GET /r HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    resp.assert_status(200).assert_keepalive().assert_body("R");
    c.expect_open(SHORT);
    let resp = c.request("GET /s HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    resp.assert_status(200).assert_keepalive().assert_body("S");
    // Without the header the next HTTP/1.0 request closes.
    let resp = c.request("GET /r HTTP/1.0\r\n\r\n");
    resp.assert_status(200).assert_close();
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn connection_close_closes_after_response() {
    let s = return_server("");
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    let resp = c.request("GET /s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    resp.assert_status(200).assert_close().assert_body("S");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn connection_token_list_with_close_closes() {
    let s = return_server("");
    for value in [
        "foo, close",
        "keep-alive, close",
        "Upgrade,CLOSE",
        "close , foo",
    ] {
        let mut c = s.connect();
        let resp = c.request(format!(
            "GET /r HTTP/1.1\r\nHost: localhost\r\nConnection: {value}\r\n\r\n"
        ));
        resp.assert_status(200).assert_close();
        c.expect_closed(Duration::from_secs(3));
    }
}

#[test]
fn connection_token_list_without_close_keeps_alive() {
    let s = return_server("");
    let mut c = s.connect();
    let resp =
        c.request("GET /r HTTP/1.1\r\nHost: localhost\r\nConnection: foo, keep-alive\r\n\r\n");
    resp.assert_status(200).assert_keepalive();
    let resp = c.request("GET /r HTTP/1.1\r\nHost: localhost\r\nConnection: TE\r\n\r\n");
    resp.assert_status(200).assert_keepalive();
    c.expect_open(SHORT);
}

#[test]
fn keepalive_requests_limit_closes_after_second_response() {
    let s = return_server("keepalive_requests 2;");
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    let resp = c.request(get("/s"));
    resp.assert_status(200).assert_close().assert_body("S");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn keepalive_requests_limit_with_three_pipelined_answers_two() {
    let s = return_server("keepalive_requests 2;");
    let mut c = s.connect();
    c.send(format!("{}{}{}", get("/r"), get("/s"), get("/r")));
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("R");
    c.read_response()
        .assert_status(200)
        .assert_close()
        .assert_body("S");
    // No third response: just the close.
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn keepalive_timeout_closes_idle_connection_after_about_one_second() {
    let s = return_server("keepalive_timeout 1s;");
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    let t0 = Instant::now();
    c.expect_open(Duration::from_millis(700));
    c.expect_closed(Duration::from_millis(2500).saturating_sub(t0.elapsed()));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took <= Duration::from_millis(2500),
        "closed after {took:?}"
    );
}

#[test]
fn keepalive_timer_restarts_after_each_request() {
    let s = return_server("keepalive_timeout 1s;");
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200);
    c.expect_open(Duration::from_millis(600));
    c.request(get("/r")).assert_status(200).assert_keepalive();
    // 600 ms + 700 ms is past the first timeout: the second request re-armed it.
    let t1 = Instant::now();
    c.expect_open(Duration::from_millis(700));
    c.expect_closed(Duration::from_millis(2500).saturating_sub(t1.elapsed()));
}

#[test]
fn keepalive_timeout_header_value_is_sent() {
    let s = return_server("keepalive_timeout 1 9;");
    let mut c = s.connect();
    let resp = c.request(get("/r"));
    resp.assert_status(200).assert_keepalive();
    assert_eq!(resp.header("Keep-Alive"), Some("timeout=9"), "{resp:?}");
    // Static responses carry it too.
    s.prefix().write("html/k.txt", "k");
    let resp = c.request(get("/k.txt"));
    resp.assert_status(200).assert_keepalive();
    assert_eq!(resp.header("Keep-Alive"), Some("timeout=9"), "{resp:?}");
}

#[test]
fn no_keepalive_header_without_second_parameter() {
    let s = return_server("keepalive_timeout 5s;");
    let resp = s.request(&get("/r"));
    resp.assert_status(200).assert_keepalive();
    assert_eq!(resp.header("Keep-Alive"), None, "{resp:?}");
}

#[test]
fn keepalive_timeout_zero_disables_keepalive() {
    let s = return_server("keepalive_timeout 0;");
    let mut c = s.connect();
    let resp = c.request(get("/r"));
    resp.assert_status(200).assert_close().assert_body("R");
    assert_eq!(resp.header("Keep-Alive"), None);
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn location_keepalive_timeout_zero_closes_while_root_keeps_alive() {
    let s = Server::with_server(
        "    location = /short { keepalive_timeout 0; return 200 \"x\"; }\n\
         \x20   location = /r { return 200 \"R\"; }",
    );
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    s.prefix().write("html/index.html", "index");
    c.request(get("/")).assert_status(200).assert_keepalive();
    let resp = c.request(get("/short"));
    resp.assert_status(200).assert_close().assert_body("x");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn location_keepalive_requests_one_closes_first_request() {
    let s = Server::with_server(
        "    location = /once { keepalive_requests 1; return 200 \"once\"; }\n\
         \x20   location = /r { return 200 \"R\"; }",
    );
    // First request of a connection to /once: closes.
    let mut c = s.connect();
    c.request(get("/once"))
        .assert_status(200)
        .assert_close()
        .assert_body("once");
    c.expect_closed(Duration::from_secs(3));
    // /r keeps alive, then /once (the 2nd request, >= 1) closes.
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    c.request(get("/once")).assert_status(200).assert_close();
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn server_level_keepalive_requests_inherited_by_location() {
    let s =
        Server::with_server("    keepalive_requests 3;\n    location /a/ { return 200 \"a\"; }");
    let mut c = s.connect();
    c.request(get("/a/1")).assert_keepalive();
    c.request(get("/a/2")).assert_keepalive();
    c.request(get("/a/3")).assert_status(200).assert_close();
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn client_closing_idle_keepalive_connection_is_logged() {
    let s = return_server("");
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    c.shutdown_write();
    c.expect_closed(Duration::from_secs(3));
    s.assert_log(
        "client 127.0.0.1 closed keepalive connection",
        Duration::from_secs(3),
    );
}

#[test]
fn error_404_keeps_connection_alive() {
    let s = return_server("");
    let mut c = s.connect();
    let resp = c.request(get("/no-such-file.html"));
    resp.assert_status(404).assert_keepalive();
    assert!(resp.text().contains("404 Not Found"), "{resp:?}");
    c.request(get("/r")).assert_status(200).assert_body("R");
}

#[test]
fn keepalive_time_limits_connection_age() {
    let s = return_server("keepalive_time 1s;");
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    // Older than keepalive_time when the next request starts: served, then closed.
    c.expect_open(Duration::from_millis(1300));
    c.request(get("/s"))
        .assert_status(200)
        .assert_close()
        .assert_body("S");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn msie6_post_does_not_keep_alive() {
    // keepalive_disable msie6 is nginx's default.
    let s = return_server("");
    let ua = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)";
    let mut c = s.connect();
    c.request(format!(
        "GET /r HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {ua}\r\n\r\n"
    ))
    .assert_status(200)
    .assert_keepalive();
    c.request(format!(
        "POST /r HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {ua}\r\nContent-Length: 1\r\n\r\nx"
    ))
    .assert_status(200)
    .assert_close();
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn eof_right_after_request_is_answered_then_closed() {
    let s = return_server("");
    let mut c = s.connect();
    c.send(get("/r"));
    c.shutdown_write();
    c.read_response().assert_status(200).assert_body("R");
    c.expect_closed(Duration::from_secs(3));
}

#[test]
fn connection_close_with_partial_body_answered_then_closed() {
    let s = return_server("");
    let mut c = s.connect();
    c.send(
        "POST /r HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Length: 10\r\n\r\nhello",
    );
    // The response goes first; the rest of the body is read afterwards.
    // (nginx keeps the connection open until the body is in and then closes;
    // holdfast may also half-close at once and read the rest in lingering
    // close. Either way the client can still send the rest, then sees EOF.)
    c.read_response()
        .assert_status(200)
        .assert_close()
        .assert_body("R");
    c.try_send("world")
        .expect("the server still accepts the body");
    c.expect_closed(Duration::from_secs(3));
    assert_eq!(s.log_count("reset by peer"), 0, "{}", s.log_text());
}

#[test]
fn http10_keepalive_with_body() {
    let s = return_server("");
    let mut c = s.connect();
    c.request("POST /r HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc")
        .assert_status(200)
        .assert_keepalive();
    c.request("GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .assert_status(200)
        .assert_keepalive()
        .assert_body("S");
}

#[test]
fn keepalive_disable_none_keeps_msie6_post_alive() {
    let s = return_server("keepalive_disable none;");
    let ua = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)";
    let mut c = s.connect();
    c.request(format!(
        "POST /r HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {ua}\r\nContent-Length: 1\r\n\r\nx"
    ))
    .assert_status(200)
    .assert_keepalive();
    c.request(get("/s")).assert_status(200).assert_body("S");
}
