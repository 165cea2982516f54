//! ngx_http_charset_module's header filter: `charset` adds `;
//! charset=NAME` to the Content-Type of the `charset_types` (static files,
//! `return` text, error pages, proxied responses), `override_charset` and
//! a peer's X-Accel-Charset decide over a peer's own charset, variables
//! give names per request, and a recoding without a `charset_map` is
//! refused (configuration) or logged and left alone (per request), as
//! nginx does without a table. The recoding itself: tests/charset_map.rs.

#[path = "common/backend.rs"]
#[allow(dead_code)]
mod backend;
mod common;

use std::time::Duration;

use backend::{Backend, Reply};
use common::{Prefix, Server, WORKER_CONNECTIONS, get, server_block, test_config};

const SHORT: Duration = Duration::from_millis(500);

fn site(body: &str) -> Server {
    let p = Prefix::new("charset");
    p.write("html/a.html", "<p>a</p>\n");
    p.write("html/s.css", "p {}\n");
    p.write("html/other.css", "q {}\n");
    p.write("html/t.txt", "text\n");
    p.write("html/x.weird", "weird\n");
    p.write("html/off/a.html", "<p>off</p>\n");
    p.write("html/dir/index.html", "index\n");
    Server::start_with(p, WORKER_CONNECTIONS, &server_block(body))
}

/// A peer answering every request with `head` (CRLF-joined lines) and a
/// short body.
fn peer(head: &[&str]) -> Backend {
    let mut r = String::from("HTTP/1.1 200 OK\r\n");
    for h in head {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("Content-Length: 2\r\n\r\nok");
    Backend::start(Reply::Raw(r.into_bytes()))
}

#[test]
fn static_files_of_the_charset_types_get_the_charset() {
    let s = site(
        "    charset utf-8;\n    index index.html;\n    \
         location /off/ { charset off; }\n    \
         location = /s.css { charset_types text/css; }\n    \
         location = /x.weird { charset_types *; default_type text/x-weird; }\n    \
         location = /t.txt { if ($arg_k) { charset koi8-r; } }",
    );
    let mut c = s.connect();
    let r = c.request(get("/a.html"));
    r.assert_status(200)
        .assert_keepalive()
        .assert_body("<p>a</p>\n");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let r = c.request(get("/t.txt"));
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    // `charset` in an `if`.
    let r = c.request(get("/t.txt?k=1"));
    r.assert_status(200).assert_body("text\n");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=koi8-r"));
    // A type out of the list (here text/css) is left alone...
    let r = c.request(get("/other.css"));
    r.assert_status(200);
    assert_eq!(r.header("Content-Type"), Some("text/css"));
    let r = c.request(get("/s.css?x"));
    assert_eq!(r.header("Content-Type"), Some("text/css; charset=utf-8"));
    // ...unless charset_types names it (`*`: every type).
    let r = c.request(get("/x.weird"));
    assert_eq!(
        r.header("Content-Type"),
        Some("text/x-weird; charset=utf-8")
    );
    // charset off in a nested level.
    let r = c.request(get("/off/a.html"));
    r.assert_status(200).assert_body("<p>off</p>\n");
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    // Through the index redirect too, and for HEAD.
    let r = c.request(get("/dir/"));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    c.send("HEAD /a.html HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_head_response();
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
}

#[test]
fn charset_types_keeps_text_html_and_replaces_the_default_list() {
    let s = site("    charset koi8-r;\n    charset_types text/css;");
    let mut c = s.connect();
    let ct = |c: &mut common::Conn, path: &str| {
        c.request(get(path))
            .header("Content-Type")
            .map(str::to_string)
    };
    assert_eq!(
        ct(&mut c, "/s.css").as_deref(),
        Some("text/css; charset=koi8-r")
    );
    assert_eq!(
        ct(&mut c, "/a.html").as_deref(),
        Some("text/html; charset=koi8-r")
    );
    assert_eq!(ct(&mut c, "/t.txt").as_deref(), Some("text/plain"));
}

#[test]
fn return_text_and_error_pages_get_it_but_not_301_and_302() {
    let s = site(
        "    charset utf-8;\n    \
         location = /r { return 200 \"hello\"; }\n    \
         location = /moved { return 301 /a.html; }\n    \
         location = /see { return 303 /a.html; }\n    \
         location = /gone { return 410; }",
    );
    let mut c = s.connect();
    let r = c.request(get("/r"));
    r.assert_status(200).assert_body("hello");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    let r = c.request(get("/nope.html"));
    r.assert_status(404);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let r = c.request(get("/gone"));
    r.assert_status(410);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let r = c.request(get("/moved"));
    r.assert_status(301);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    // The directory redirect of the static module is a 301 too.
    let r = c.request(get("/dir"));
    r.assert_status(301);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    let r = c.request(get("/see"));
    r.assert_status(303);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
}

#[test]
fn variables_name_the_charset_per_request() {
    let s = site(
        "    location /v/ {\n        alias html/;\n        charset $arg_c;\n    }\n    \
         location /src/ {\n        alias html/;\n        charset utf-8;\n        \
         source_charset $arg_s;\n    }",
    );
    let mut c = s.connect();
    let ct = |c: &mut common::Conn, path: &str| {
        let r = c.request(get(path));
        r.assert_status(200);
        r.header("Content-Type").map(str::to_string)
    };
    assert_eq!(
        ct(&mut c, "/v/a.html?c=windows-1251").as_deref(),
        Some("text/html; charset=windows-1251")
    );
    // An empty value names no charset.
    assert_eq!(ct(&mut c, "/v/a.html?c=").as_deref(), Some("text/html"));
    // The same charset on both sides (names compare without case).
    assert_eq!(
        ct(&mut c, "/src/a.html?s=UTF-8").as_deref(),
        Some("text/html; charset=utf-8")
    );
    // Two different ones would need a recoding: nginx's error, no charset.
    assert_eq!(
        ct(&mut c, "/src/a.html?s=koi8-r").as_deref(),
        Some("text/html")
    );
    s.assert_log(
        "no \"charset_map\" between the charsets \"koi8-r\" and \"utf-8\"",
        SHORT,
    );
}

#[test]
fn source_charset_equal_to_charset_is_no_recoding() {
    let s = site("    charset utf-8;\n    source_charset UTF-8;");
    let r = s.request(&get("/a.html"));
    r.assert_status(200);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
}

#[test]
fn a_peer_without_a_charset_gets_the_locations() {
    let b = peer(&["Content-Type: text/html"]);
    let s = site(&format!(
        "    charset utf-8;\n    location / {{ proxy_pass http://{}; }}",
        b.addr()
    ));
    let r = s.request(&get("/p"));
    r.assert_status(200).assert_body("ok");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
}

#[test]
fn override_charset_decides_over_a_peers_own() {
    let same = peer(&["Content-Type: text/html; charset=UTF-8"]);
    let other = peer(&["Content-Type: text/html; charset=\"koi8-r\""]);
    let s = site(&format!(
        "    charset utf-8;\n    source_charset utf-8;\n    \
         location /keep/ {{ proxy_pass http://{a}; }}\n    \
         location /same/ {{ override_charset on; proxy_pass http://{a}; }}\n    \
         location /other/ {{ override_charset on; proxy_pass http://{b}; }}\n    \
         location /other-off/ {{ proxy_pass http://{b}; }}",
        a = same.addr(),
        b = other.addr()
    ));
    let mut c = s.connect();
    let ct = |c: &mut common::Conn, path: &str| {
        let r = c.request(get(path));
        r.assert_status(200).assert_body("ok");
        r.header("Content-Type").map(str::to_string)
    };
    // override_charset off: the peer's charset stays as it wrote it.
    assert_eq!(
        ct(&mut c, "/keep/").as_deref(),
        Some("text/html; charset=UTF-8")
    );
    assert_eq!(
        ct(&mut c, "/other-off/").as_deref(),
        Some("text/html; charset=\"koi8-r\"")
    );
    // on: the same charset is written the location's way...
    assert_eq!(
        ct(&mut c, "/same/").as_deref(),
        Some("text/html; charset=utf-8")
    );
    // ...another one would need recoding: nginx's error, and it stays.
    assert_eq!(
        ct(&mut c, "/other/").as_deref(),
        Some("text/html; charset=\"koi8-r\"")
    );
    s.assert_log(
        "no \"charset_map\" between the charsets \"koi8-r\" and \"utf-8\"",
        SHORT,
    );
}

#[test]
fn x_accel_charset_names_a_known_charset() {
    let known = peer(&["Content-Type: text/html", "X-Accel-Charset: WINDOWS-1251"]);
    let unknown = peer(&["Content-Type: text/html", "X-Accel-Charset: x-nope"]);
    let s = site(&format!(
        "    location = /declares {{ charset windows-1251; }}\n    \
         location /known/ {{ proxy_pass http://{k}; }}\n    \
         location /ignored/ {{ proxy_ignore_headers X-Accel-Charset; proxy_pass http://{k}; }}\n    \
         location /unknown/ {{ proxy_pass http://{u}; }}",
        k = known.addr(),
        u = unknown.addr()
    ));
    let mut c = s.connect();
    // Even with `charset off`, as nginx: the peer's name, its spelling.
    let r = c.request(get("/known/"));
    r.assert_status(200).assert_body("ok");
    assert_eq!(
        r.header("Content-Type"),
        Some("text/html; charset=WINDOWS-1251")
    );
    assert_eq!(r.header("X-Accel-Charset"), None);
    let r = c.request(get("/ignored/"));
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    let r = c.request(get("/unknown/"));
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    s.assert_log("unknown charset \"x-nope\" to override", SHORT);
}

#[test]
fn a_recoding_without_a_charset_map_is_refused() {
    let p = Prefix::new("charset-conf");
    let file = p.write_conf(&common::conf(
        WORKER_CONNECTIONS,
        &server_block("    charset utf-8;\n    location / { source_charset koi8-r; }"),
    ));
    let out = test_config(&p, &file, Duration::from_secs(10));
    assert_ne!(out.code, Some(0));
    // nginx reports it after the http block, with no file or line.
    assert!(
        out.stderr
            .contains("no \"charset_map\" between the charsets \"koi8-r\" and \"utf-8\"\n"),
        "{}",
        out.stderr
    );
    // A map between other charsets does not help.
    let file = p.write_conf(&common::conf(
        WORKER_CONNECTIONS,
        &format!(
            "    charset_map koi8-r windows-1251 {{ }}\n{}",
            server_block("    charset utf-8;\n    location / { source_charset koi8-r; }")
        ),
    ));
    let out = test_config(&p, &file, Duration::from_secs(10));
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr
            .contains("no \"charset_map\" between the charsets \"koi8-r\" and \"utf-8\"\n"),
        "{}",
        out.stderr
    );
    for (line, msg) in [
        (
            "charset utf-8; charset utf-8;",
            "\"charset\" directive is duplicate",
        ),
        ("charset $a-b;", "unknown \"a-b\" variable"),
        (
            "override_charset maybe;",
            "invalid value \"maybe\" in \"override_charset\" directive",
        ),
    ] {
        let file = p.write_conf(&common::conf(
            WORKER_CONNECTIONS,
            &server_block(&format!("    {line}")),
        ));
        let out = test_config(&p, &file, Duration::from_secs(10));
        assert_ne!(out.code, Some(0), "{line}");
        assert!(out.stderr.contains(msg), "{line}: {}", out.stderr);
    }
}

#[test]
fn v_lists_the_charset_module_as_present() {
    let out = common::run_holdfast(["-V"], Duration::from_secs(10));
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("configure arguments:"), "{text}");
    assert!(!text.contains("--without-http_charset_module"), "{text}");
}

#[test]
fn a_peers_head_split_anywhere_gets_the_same_content_type() {
    let resp = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n\
                Content-Length: 2\r\n\r\nok";
    let s = site(
        "    charset utf-8;\n    override_charset on;\n    \
         location /p/ { proxy_pass http://127.0.0.1:$arg_port; }",
    );
    let mut c = s.connect();
    for at in 1..resp.len() {
        let b = Backend::start(Reply::SplitAt(resp.as_bytes().to_vec(), at));
        let r = c.request(get(&format!("/p/?port={}", b.addr().port())));
        r.assert_status(200).assert_body("ok");
        assert_eq!(
            r.header("Content-Type"),
            Some("text/html; charset=utf-8"),
            "split at {at}"
        );
    }
}
