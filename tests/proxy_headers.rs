//! The peer's head as nginx passes it on, over real TCP (issue 11, found by
//! nginx-tests' proxy_intercept_errors.t, proxy_duplicate_headers.t,
//! proxy_redirect.t, proxy_upstream_cookie.t, proxy.t, limit_rate.t,
//! proxy_unfinished.t): a 401's WWW-Authenticate kept through an
//! intercepted error page, a duplicate single header dropped with nginx's
//! warning, `Refresh` rewritten by proxy_redirect, `$upstream_cookie_NAME`
//! with spaces around `=`, X-Accel-Limit-Rate kept across the redirect,
//! the try's times when the client leaves before the head, and a response
//! cut by its peer still delivered as far as it came.

#[path = "common/backend.rs"]
#[allow(dead_code)]
mod backend;
mod common;

use std::time::{Duration, Instant};

use backend::{Backend, Reply};
use common::{Server, get};

const WITHIN: Duration = Duration::from_secs(10);

fn raw(text: &str) -> Reply {
    Reply::Raw(text.as_bytes().to_vec())
}

#[test]
fn an_intercepted_401_keeps_the_peer_s_www_authenticate() {
    let b = Backend::start(raw(
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: foo\r\nWWW-Authenticate: bar\r\n\
         Content-Length: 0\r\n\r\n",
    ));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; proxy_intercept_errors on; \
         error_page 401 /intercepted; }}\n\
         \x20   location = /intercepted {{ return 401 \"intercepted\"; }}\n",
        b.addr()
    ));
    let r = s.request(&get("/"));
    r.assert_status(401);
    let auth: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(auth, ["foo", "bar"], "{r:?}");
    assert_eq!(String::from_utf8_lossy(&r.body), "intercepted");
}

#[test]
fn duplicate_single_headers_refresh_and_cookies() {
    let b = Backend::start(raw("HTTP/1.1 200 OK\r\nExpires: foo\r\nExpires: bar\r\n\
         Refresh: 7; url=http://PEER/replace_this/test.html\r\n\
         Set-Cookie: tc = content\r\nContent-Length: 2\r\n\r\nok"));
    // The backend's Refresh names its own address in the text above only as
    // a placeholder; proxy_redirect maps that text.
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; \
         proxy_redirect http://PEER/replace_this/ /impl_default/; \
         add_header X-Cookie $upstream_cookie_tc; add_header X-Tab $upstream_cookie_tb; }}\n",
        b.addr()
    ));
    let r = s.request(&get("/"));
    r.assert_status(200).assert_body("ok");
    assert_eq!(r.header_count("Expires"), 1, "{r:?}");
    assert_eq!(r.header("Expires"), Some("foo"));
    assert_eq!(r.header("Refresh"), Some("7; url=/impl_default/test.html"));
    assert_eq!(r.header("X-Cookie"), Some("content"));
    // Tabs around `=` are not skipped (proxy_upstream_cookie.t "tabbed").
    assert_eq!(r.header("X-Tab"), None);
    s.assert_log(
        "upstream sent duplicate header line: \"Expires: bar\", previous value: \"Expires: foo\", ignored",
        WITHIN,
    );
}

#[test]
fn x_accel_limit_rate_survives_the_redirect_it_comes_with() {
    let b = Backend::start(raw(
        "HTTP/1.1 200 OK\r\nX-Accel-Redirect: /redirect\r\nX-Accel-Limit-Rate: 13000\r\n\
         Content-Length: 0\r\n\r\n",
    ));
    let s = Server::with_server(&format!(
        "    location /proxy {{ proxy_pass http://{}; }}\n\
         \x20   location /redirect {{ limit_rate 0; return 200 \"rate $limit_rate\"; }}\n",
        b.addr()
    ));
    let r = s.request(&get("/proxy"));
    r.assert_status(200);
    assert_eq!(String::from_utf8_lossy(&r.body), "rate 13000");
}

#[test]
fn a_client_leaving_before_the_head_logs_the_try_s_times() {
    let b = Backend::start(Reply::Silent);
    let s = Server::start(&format!(
        "log_format t \"$upstream_connect_time:$upstream_header_time:$upstream_response_time\";\n{}",
        common::server_block(&format!(
            "location / {{ proxy_pass http://{}; access_log t.log t; }}",
            b.addr()
        ))
    ));
    let mut c = s.connect();
    c.send(get("/"));
    let end = Instant::now() + WITHIN;
    while b.requests().is_empty() {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(c);
    let log = s.prefix().path().join("t.log");
    let line = common::first_line_of(&log, WITHIN);
    let f: Vec<&str> = line.split(':').collect();
    assert_eq!(f.len(), 3, "{line}");
    assert!(f[0].parse::<f64>().is_ok(), "{line}");
    assert_eq!(f[1], "-", "{line}");
    assert!(f[2].parse::<f64>().is_ok(), "{line}");
}

#[test]
fn a_response_cut_by_its_peer_is_delivered_as_far_as_it_came() {
    let body = "x".repeat(200_000);
    let b = Backend::start(Reply::Raw(
        format!("HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n{body}").into_bytes(),
    ));
    let s = Server::with_server(&format!(
        "    location / {{ proxy_pass http://{}; }}\n",
        b.addr()
    ));
    let mut c = s.connect();
    c.send(get("/"));
    let got = c.read_to_close(WITHIN);
    let p = common::find(&got, b"\r\n\r\n").expect("head");
    assert_eq!(got.len() - p - 4, 200_000, "body bytes delivered");
    s.assert_log(
        "upstream prematurely closed connection while reading upstream",
        WITHIN,
    );
}

#[test]
fn upstream_byte_counts_are_logged() {
    let resp = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nTEST-OK-IF-YOU-SEE-THIS";
    let b = Backend::start(raw(resp));
    let s = Server::start(&format!(
        "log_format u \"$upstream_response_length:$upstream_bytes_received:$upstream_bytes_sent\";\n{}",
        common::server_block(&format!(
            "location / {{ proxy_pass http://{}; access_log u.log u; }}",
            b.addr()
        ))
    ));
    // HTTP/1.0: the close-delimited body comes back close-delimited.
    let mut c = s.connect();
    c.send("GET / HTTP/1.0\r\n\r\n");
    let got = c.read_to_close(WITHIN);
    assert!(got.ends_with(b"TEST-OK-IF-YOU-SEE-THIS"));
    let log = s.prefix().path().join("u.log");
    let line = common::first_line_of(&log, WITHIN);
    let sent = b.requests()[0].len();
    assert_eq!(line, format!("23:{}:{sent}", resp.len()));
}

#[test]
fn limit_rate_and_limit_rate_after_take_variables() {
    let s = Server::with_server(
        "    location /var { limit_rate $arg_l; limit_rate_after $arg_a; \
         return 200 \"rate $limit_rate\"; }\n",
    );
    let r = s.request(&get("/var?l=4k&a=10"));
    r.assert_status(200);
    assert_eq!(String::from_utf8_lossy(&r.body), "rate 4096");
    let r = s.request(&get("/var?l=bogus"));
    assert_eq!(String::from_utf8_lossy(&r.body), "rate 0");
}

#[test]
fn proxy_redirect_with_variables_and_regexes() {
    // The peer redirects every request to http://ITSELF$uri, as
    // proxy_redirect.t's backend does.
    let me = std::sync::Arc::new(std::sync::OnceLock::<std::net::SocketAddr>::new());
    let me2 = me.clone();
    let b = backend::start_keepalive_with_head(move |_, _, head| {
        let uri = head.split(' ').nth(1).unwrap_or("/");
        let a = me2
            .get()
            .copied()
            .unwrap_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        format!("HTTP/1.1 302 Found\r\nLocation: http://{a}{uri}\r\nContent-Length: 0\r\n\r\n")
            .into_bytes()
    });
    let a = b.addr();
    me.set(a).unwrap();
    let s = Server::with_server(&format!(
        "    location / {{\n\
         \x20       set $some_var var_here;\n\
         \x20       proxy_pass http://{a};\n\
         \x20       proxy_redirect http://{a}/var_in_second/ /$some_var/;\n\
         \x20       proxy_redirect http://{a}/$some_var/ /replaced/;\n\
         \x20       proxy_redirect ~^(.+)/regex_w_([^/]+) $1/$2/test.html;\n\
         \x20       proxy_redirect ~*re+gexp? /replaced/test.html;\n\
         \x20   }}\n\
         \x20   location /expl_default/ {{ proxy_pass http://{a}/replace_this/; \
         proxy_redirect wrong wrong; proxy_redirect default; }}\n"
    ));
    let mut c = s.connect();
    let mut loc = |path: &str| {
        let r = c.request(get(path));
        r.assert_status(302);
        r.header("Location").unwrap_or_default().to_string()
    };
    let front = format!("http://localhost:{}", s.addr().port());
    assert_eq!(
        loc("/var_in_second/test.html"),
        format!("{front}/var_here/test.html")
    );
    assert_eq!(
        loc("/var_here/test.html"),
        format!("{front}/replaced/test.html")
    );
    assert_eq!(
        loc("/regex_w_capture"),
        format!("http://{a}/capture/test.html")
    );
    assert_eq!(loc("/REGEXP"), format!("{front}/replaced/test.html"));
    assert_eq!(
        loc("/expl_default/test.html"),
        format!("{front}/expl_default/test.html")
    );
}
