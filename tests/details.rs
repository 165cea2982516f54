//! nginx-exact details: the `Location` of the directory redirect escaped as
//! ngx_escape_uri does, `100 Continue` even for an empty body, the `302`
//! page's title, and the info line for a too long header line.

mod common;

use std::time::Duration;

use common::{Prefix, Server, WORKER_CONNECTIONS, get, server_block};

#[test]
fn directory_redirects_escape_the_location() {
    let p = Prefix::new("details-redirect");
    for dir in ["a dir", "q?x", "cr\r\nX-Injected: 1", "é"] {
        p.mkdir(&format!("html/{dir}"));
    }
    let s = Server::start_with(p, WORKER_CONNECTIONS, &server_block(""));
    let port = s.addr().port();
    for (target, location) in [
        ("/a%20dir", "/a%20dir/"),
        ("/q%3Fx", "/q%3Fx/"),
        ("/q%3Fx?k=v", "/q%3Fx/?k=v"),
        ("/cr%0D%0AX-Injected:%201", "/cr%0D%0AX-Injected:%201/"),
        ("/%C3%A9", "/%C3%A9/"),
    ] {
        let r = s.request(&get(target));
        r.assert_status(301);
        assert_eq!(
            r.header("Location"),
            Some(format!("http://localhost:{port}{location}").as_str()),
            "{target}"
        );
        assert_eq!(r.header_count("X-Injected"), 0);
        // The redirect leads to the directory (403: no index there).
        let next = location.to_string();
        s.request(&get(&next)).assert_status(403);
    }
}

#[test]
fn expect_100_continue_is_answered_even_without_a_body() {
    let s = Server::with_server("    location = /r { return 200 \"R\"; }");
    let mut c = s.connect();
    c.send("POST /r HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
    let first = c.read_head_response();
    first.assert_status(100);
    c.read_response().assert_status(200).assert_body("R");
    // HTTP/1.0 gets no 100.
    let mut c = s.connect();
    c.send("POST /r HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
    c.read_response().assert_status(200);
}

#[test]
fn the_302_page_says_found() {
    let s = Server::with_server("    location = /t { return 302; }");
    let r = s.request(&get("/t"));
    assert_eq!((r.status, r.reason.as_str()), (302, "Moved Temporarily"));
    assert!(r.text().contains("<title>302 Found</title>"), "{r:?}");
    assert!(r.text().contains("<h1>302 Found</h1>"), "{r:?}");
}

#[test]
fn too_long_header_lines_are_logged_at_info() {
    let s = Server::with_server("    large_client_header_buffers 2 1k;");
    let long = format!("X-Long: {}\r\n", "a".repeat(1500));
    let r = s.request(&format!("GET / HTTP/1.1\r\nHost: x\r\n{long}\r\n"));
    r.assert_status(400);
    assert!(s.log_contains("[info] ", Duration::from_secs(2)));
    assert!(s.log_contains(
        "client sent too long header line: \"X-Long: aaaa",
        Duration::from_secs(2)
    ));
}

#[test]
fn ip_literal_hosts_are_validated_as_nginx_does() {
    let s = Server::with_server("    location = /h { return 200 \"$host\"; }");
    for (host, want) in [
        ("[::1]:80", Some("[::1]")),
        ("[V1F.a:b]", Some("[v1f.a:b]")),
        ("[ab..cd::]", None),
        ("[::1", None),
        ("[::1]x", None),
        ("[::1].", None),
    ] {
        let r = s.request(&format!("GET /h HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        match want {
            Some(body) => {
                r.assert_status(200).assert_keepalive().assert_body(body);
            }
            None => {
                r.assert_status(400).assert_close();
            }
        }
    }
    assert!(s.log_contains("client sent invalid host header", Duration::from_secs(3)));
}

#[test]
fn redirect_locations_follow_absolute_server_name_and_port_in_redirect() {
    let p = Prefix::new("details-redirect-flags");
    p.mkdir("html/dir");
    let s = Server::start_with(
        p,
        WORKER_CONNECTIONS,
        &server_block(
            "    server_name  main.example alias.example;\n\
             \x20   location = /r { return 302 /to; }\n\
             \x20   location /rel/ { absolute_redirect off; return 301 /to; }\n\
             \x20   location /named/ { server_name_in_redirect on; return 301 /to; }\n\
             \x20   location /noport/ { port_in_redirect off; return 301 /to; }\n\
             \x20   location /full/ { return 301 http://elsewhere/x; }",
        ),
    );
    let port = s.addr().port();
    let location = |raw: &str| {
        let r = s.request(raw);
        r.header("Location").map(str::to_string)
    };
    let host = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: Asked.Example:{port}\r\n\r\n");
    // Default: the request's host (validated: lower case, no port), the port.
    assert_eq!(
        location(&host("/r")).as_deref(),
        Some(format!("http://asked.example:{port}/to").as_str())
    );
    // No Host (HTTP/1.0): the local address, as nginx.
    assert_eq!(
        location("GET /r HTTP/1.0\r\n\r\n").as_deref(),
        Some(format!("http://127.0.0.1:{port}/to").as_str())
    );
    assert_eq!(location(&host("/rel/")).as_deref(), Some("/to"));
    assert_eq!(
        location(&host("/named/")).as_deref(),
        Some(format!("http://main.example:{port}/to").as_str())
    );
    assert_eq!(
        location(&host("/noport/")).as_deref(),
        Some("http://asked.example/to")
    );
    assert_eq!(
        location(&host("/full/")).as_deref(),
        Some("http://elsewhere/x")
    );
    // The directory redirect follows the same rules.
    assert_eq!(
        location(&host("/dir")).as_deref(),
        Some(format!("http://asked.example:{port}/dir/").as_str())
    );
}
