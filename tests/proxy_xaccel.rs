//! The peer's X-Accel headers over real TCP (issue 11, nginx's
//! ngx_http_upstream_process_headers): `X-Accel-Redirect` redirects the
//! request internally (GET, the peer's Content-Type, Set-Cookie,
//! Content-Disposition, Cache-Control, Expires and Accept-Ranges kept,
//! others dropped; named locations; unsafe URIs refused; the pooled
//! connection kept), `X-Accel-Buffering: no` streams a response at the
//! client's pace, `X-Accel-Limit-Rate` sets the rate, and
//! `proxy_ignore_headers` turns each off.

#[path = "common/backend.rs"]
#[allow(dead_code)]
mod backend;
mod common;

use std::time::Duration;

use backend::{Backend, Reply};
use common::{Server, get};

const WITHIN: Duration = Duration::from_secs(10);

fn xar_backend(target: &str) -> Backend {
    Backend::start(Reply::Raw(
        format!(
            "HTTP/1.1 200 OK\r\nX-Accel-Redirect: {target}\r\nContent-Type: text/blah\r\n\
             Set-Cookie: blah=blah\r\nContent-Disposition: attachment\r\n\
             Cache-Control: no-cache\r\nExpires: fake\r\nAccept-Ranges: parrots\r\n\
             Something: other\r\nContent-Length: 4\r\n\r\nbody"
        )
        .into_bytes(),
    ))
}

fn server_for(b: &Backend, extra: &str) -> Server {
    Server::with_server(&format!(
        "    location /proxy {{ proxy_pass http://{}; {extra} }}\n\
         \x20   location /files/ {{ return 200 \"file $uri $request_method $upstream_http_x_accel_redirect\"; }}\n\
         \x20   location @named {{ return 200 \"named $uri\"; }}\n",
        b.addr()
    ))
}

#[test]
fn x_accel_redirect_redirects_and_keeps_nginx_s_headers() {
    let b = xar_backend("/files/a%20b?x=1");
    let s = server_for(&b, "");
    let r = s.request("POST /proxy HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    r.assert_status(200);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "file /files/a b GET /files/a%20b?x=1"
    );
    assert_eq!(r.header("Content-Type"), Some("text/blah"));
    for (n, v) in [
        ("Set-Cookie", "blah=blah"),
        ("Content-Disposition", "attachment"),
        ("Cache-Control", "no-cache"),
        ("Expires", "fake"),
        ("Accept-Ranges", "parrots"),
    ] {
        assert_eq!(r.header(n), Some(v), "{n}: {r:?}");
    }
    assert_eq!(r.header("Something"), None);
    assert_eq!(r.header("X-Accel-Redirect"), None);
}

#[test]
fn x_accel_redirect_to_a_named_location_and_unsafe_uris() {
    let b = xar_backend("@named");
    let s = server_for(&b, "");
    let r = s.request(&get("/proxy/n"));
    r.assert_status(200);
    assert_eq!(String::from_utf8_lossy(&r.body), "named /proxy/n");
    for bad in ["..", "../foo", "/foo/..", "/foo/.%2e"] {
        let b = xar_backend(bad);
        let s = server_for(&b, "");
        s.request(&get("/proxy")).assert_status(404);
        s.assert_log(&format!("unsafe URI \"{bad}\" was detected"), WITHIN);
    }
}

#[test]
fn proxy_ignore_headers_passes_the_peer_s_answer_through() {
    let b = xar_backend("/files/x");
    let s = server_for(
        &b,
        "proxy_ignore_headers X-Accel-Redirect X-Accel-Buffering;",
    );
    let r = s.request(&get("/proxy"));
    r.assert_status(200).assert_body("body");
    // nginx hides the X-Accel headers whether or not they act.
    assert_eq!(r.header("X-Accel-Redirect"), None);
    assert_eq!(r.header("Something"), Some("other"));
}

#[test]
fn an_x_accel_redirect_keeps_the_pooled_connection() {
    // A keep-alive peer answering every request with a body-less redirect:
    // the connection goes back to the pool each time.
    let b = backend::start_keepalive_with(|_, n| {
        format!("HTTP/1.1 204 No Content\r\nX-Accel-Redirect: /files/{n}\r\n\r\n").into_bytes()
    });
    let s = Server::start(&format!(
        "upstream u {{ server {}; keepalive 2; }}\n{}",
        b.addr(),
        common::server_block(
            "location /proxy { proxy_pass http://u; }\n\
             location /files/ { return 200 \"file $uri\"; }"
        )
    ));
    let mut c = s.connect();
    for n in 1..=3 {
        let r = c.request(get("/proxy"));
        r.assert_status(200).assert_keepalive();
        assert_eq!(String::from_utf8_lossy(&r.body), format!("file /files/{n}"));
    }
    assert_eq!(b.accepts(), 1);
}

#[test]
fn x_accel_buffering_no_and_limit_rate_shape_the_relay() {
    let size = 24 << 20;
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nX-Accel-Buffering: no\r\nContent-Length: {size}\r\n\r\n")
            .into_bytes();
    resp.extend(std::iter::repeat_n(b'z', size));
    let b = Backend::start(Reply::Raw(resp));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; }}\n",
        b.addr()
    ));
    let mut c = std::net::TcpStream::connect(s.addr()).unwrap();
    std::io::Write::write_all(&mut c, get("/").as_bytes()).unwrap();
    // Streamed at the client's pace: the backend cannot finish while the
    // client reads nothing, and no temp file is made.
    assert!(!b.wait_written(1, Duration::from_millis(700)));
    drop(c);
    assert_eq!(s.log_count("temporary file"), 0);

    let body = "r".repeat(3000);
    let rb = Backend::start(Reply::Raw(
        format!(
            "HTTP/1.1 200 OK\r\nX-Accel-Limit-Rate: 1000\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    ));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; add_header X-Rate $limit_rate; }}\n",
        rb.addr()
    ));
    let r = s.request(&get("/"));
    r.assert_status(200).assert_body(&body);
    assert_eq!(r.header("X-Rate"), Some("1000"));
}
