//! Request routing over TCP (issue 10, as far as it has landed). Regex
//! locations in nginx's order (ngx_http_core_find_location):
//! `=` first; then the longest prefix, which ends the search when it is
//! `^~`; otherwise the first `~` / `~*` regex in configuration order that
//! matches the decoded URI; else the prefix. A pattern the engine cannot
//! compile is a configuration error at its file:line. `$1`..`$9` are the
//! captures; `merge_slashes off` keeps empty segments.

mod common;

use common::{Prefix, Server, get, test_config};
use std::time::Duration;

fn server() -> Server {
    Server::with_server(
        "    location / { return 200 \"prefix /\"; }\n\
         \x20   location ^~ /static/ { return 200 \"static\"; }\n\
         \x20   location /images/ { return 200 \"images\"; }\n\
         \x20   location ~* \\.(gif|jpg)$ { return 200 \"image\"; }\n\
         \x20   location ~ ^/Case/ { return 200 \"cased\"; }\n\
         \x20   location ~ \\.jpg$ { return 200 \"second jpg\"; }\n\
         \x20   location ~ \"^/sp ace$\" { return 200 \"decoded\"; }\n\
         \x20   location = /exact.gif { return 200 \"exact\"; }",
    )
}

#[test]
fn precedence_is_nginx_s() {
    let s = server();
    for (path, body) in [
        ("/", "prefix /"),
        ("/a.GIF", "image"),
        ("/images/x.jpg", "image"),
        ("/images/x.png", "images"),
        ("/static/x.gif", "static"),
        ("/Case/x", "cased"),
        ("/case/x", "prefix /"),
        ("/exact.gif", "exact"),
        ("/exact.gif?x=1", "exact"),
        ("/x.gif?y.png", "image"),
        ("/sp%20ace", "decoded"),
    ] {
        s.request(&get(path))
            .assert_status(200)
            .assert_keepalive()
            .assert_body(body);
    }
}

#[test]
fn a_pattern_the_engine_cannot_compile_is_refused_at_its_line() {
    let p = Prefix::new("regex-bad");
    let file = p.write_conf(
        "events { }\nhttp {\n    server {\n        listen 127.0.0.1:0;\n\
         \x20       location ~ (?<!x)y { }\n    }\n}\n",
    );
    let out = test_config(&p, &file, Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "[emerg] regex \"(?<!x)y\" cannot be compiled: look-around, including look-ahead \
             and look-behind, is not supported in {}:5",
            file.display()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn captures_are_variables() {
    let s = Server::with_server(
        "    location ~ ^/user/(\\d+)/(\\w+)$ { return 200 \"id=$1 name=$2 none=[$3]\"; }\n\
         \x20   location ~* ^/img/(.*)\\.PNG$ { return 301 /images/$1.png; }\n\
         \x20   location ~ ^/raw/([^/]*)$ { return 302 /to/$1; }\n\
         \x20   location /plain/ { return 200 \"[$1]\"; }\n\
         \x20   location ~ ^/opt/(a)?(b)$ { return 200 \"[$1][$2]\"; }",
    );
    let port = s.addr().port();
    s.request(&get("/user/42/ann"))
        .assert_status(200)
        .assert_body("id=42 name=ann none=[]");
    let r = s.request(&get("/img/a%20b.png"));
    r.assert_status(301);
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{port}/images/a b.png").as_str())
    );
    // A capture decoded from %0D%0A cannot end the Location header line.
    let r = s.request(&get("/raw/x%0D%0AX-Injected:%201"));
    r.assert_status(302);
    assert_eq!(r.header_count("X-Injected"), 0);
    assert_eq!(
        r.header("Location"),
        Some(format!("http://localhost:{port}/to/x%0D%0AX-Injected: 1").as_str())
    );
    // A prefix location has no captures; an unmatched group is empty.
    let mut c = s.connect();
    c.request(get("/user/7/x"))
        .assert_body("id=7 name=x none=[]");
    c.request(get("/plain/x")).assert_body("[]");
    c.request(get("/opt/b")).assert_body("[][b]");
}

#[test]
fn merge_slashes_is_the_default_servers_setting() {
    let s = Server::start(
        "    server {\n        listen 127.0.0.1:0;\n        merge_slashes off;\n\
         \x20       location / { return 200 \"[$uri]\"; }\n\
         \x20       location = /a/b { return 200 \"merged\"; }\n    }\n",
    );
    for (target, body) in [
        ("/foo//../bar", "[/foo/bar]"),
        ("/foo///../bar", "[/foo//bar]"),
        ("/a//b", "[/a//b]"),
        ("/a/b", "merged"),
    ] {
        s.request(&get(target)).assert_status(200).assert_body(body);
    }
    let on = Server::with_server("    location / { return 200 \"[$uri]\"; }");
    on.request(&get("/foo///../bar"))
        .assert_status(200)
        .assert_body("[/bar]");
    on.request(&get("/a//b")).assert_body("[/a/b]");
}

#[test]
fn internal_locations_answer_only_the_index_redirect_and_log_not_found() {
    let p = Prefix::new("routing-internal");
    p.write("html/dir/index.html", "index\n");
    p.write("html/secret/x.html", "x\n");
    let s = Server::start_with(
        p,
        common::WORKER_CONNECTIONS,
        &common::server_block(
            "    location = /dir/index.html { internal; }\n\
             \x20   location /secret/ { internal; }\n\
             \x20   location /quiet/ { log_not_found off; }",
        ),
    );
    // A client asking for an internal location gets 404 ...
    s.request(&get("/dir/index.html")).assert_status(404);
    s.request(&get("/secret/x.html")).assert_status(404);
    // ... the index redirect reaches it.
    s.request(&get("/dir/"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("index\n");
    // log_not_found off: the 404 is answered without an error line.
    s.request(&get("/quiet/missing")).assert_status(404);
    s.request(&get("/loud-missing")).assert_status(404);
    assert!(s.log_contains("loud-missing\" failed", Duration::from_secs(3)));
    assert_eq!(s.log_count("quiet/missing"), 0, "{}", s.log_text());
}

#[test]
fn named_captures_are_variables_wherever_used() {
    let s = Server::start(&common::server_block(
        "    add_header X-Id \"[$id]\";\n\
         \x20   location ~ ^/item/(?<id>\\d+)(?P<Rest>/.*)?$ {\n\
         \x20       add_header X-Id \"[$id]\";\n\
         \x20       return 200 \"id=$id rest=$rest first=$1\";\n\
         \x20   }\n\
         \x20   location / { return 200 \"[$id]\"; }",
    ));
    let r = s.request(&get("/item/42/x/y"));
    r.assert_status(200).assert_body("id=42 rest=/x/y first=42");
    assert_eq!(r.header("X-Id"), Some("[42]"));
    s.request(&get("/item/7")).assert_body("id=7 rest= first=7");
    // Another location: the name is known, its value empty.
    s.request(&get("/other")).assert_body("[]");
}

#[test]
fn server_names_are_chosen_in_nginx_order() {
    let block = |names: &str, tag: &str| {
        format!(
            "    server {{\n        listen 127.0.0.1:0;\n        server_name {names};\n\
             \x20       return 200 \"{tag}\";\n    }}\n"
        )
    };
    let conf = [
        block("default.test", "default"),
        block("www.example.*", "trailing"),
        block("*.example.com", "short-leading"),
        block(".sub.example.com", "long-leading"),
        block("www.example.com", "exact"),
    ]
    .concat();
    let s = Server::start(&conf);
    let ask = |host: &str| {
        s.request(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"))
            .text()
    };
    // Exact beats the wildcards written before it.
    assert_eq!(ask("www.example.com"), "exact");
    // The longest leading wildcard wins; `.sub.example.com` covers its own name.
    assert_eq!(ask("a.sub.example.com"), "long-leading");
    assert_eq!(ask("sub.example.com"), "long-leading");
    assert_eq!(ask("a.example.com"), "short-leading");
    // A trailing wildcard when nothing before it matches.
    assert_eq!(ask("www.example.org"), "trailing");
    assert_eq!(ask("nothing.test"), "default");
}

#[test]
fn a_location_s_keepalive_limits_are_the_ones_that_apply() {
    // The server's keepalive_requests 2 must not end the connection of a
    // location that allows 4 (http_keepalive.t's "keepalive merge").
    let s = Server::with_server(
        "    keepalive_requests 2;\n\
         \x20   location /r { keepalive_requests 4; return 200 \"r\"; }",
    );
    let mut c = s.connect();
    for _ in 0..3 {
        c.request(get("/r")).assert_status(200).assert_keepalive();
    }
    c.request(get("/r")).assert_status(200).assert_close();
}

#[test]
fn regex_server_names_and_their_captures_survive_the_index_redirect() {
    let p = Prefix::new("regex-names");
    p.write("html/index.html", "idx");
    let s = Server::start_with(
        p,
        common::WORKER_CONNECTIONS,
        "    server {\n\
         \x20       listen 127.0.0.1:0;\n\
         \x20       server_name localhost;\n\
         \x20       return 200 \"default\";\n\
         \x20   }\n\
         \x20   server {\n\
         \x20       listen 127.0.0.1:0;\n\
         \x20       server_name ~^EXAMPLE\\.COM$ \"~^(?P<name>[a-z]+)\\Q.example.com\\E$\" .dot.org;\n\
         \x20       location / { add_header X-Server $server_name; add_header X-Match \"[$name]\"; }\n\
         \x20   }",
    );
    let host = |h: &str| format!("GET / HTTP/1.0\r\nHost: {h}\r\n\r\n");
    let r = s.request(&host("example.com"));
    r.assert_status(200).assert_body("idx");
    assert_eq!(r.header("X-Server"), Some("~^EXAMPLE\\.COM$"), "{r:?}");
    let r = s.request(&host("BLAH.example.com"));
    r.assert_status(200).assert_body("idx");
    assert_eq!(r.header("X-Match"), Some("[blah]"), "{r:?}");
    s.request(&host("other.net")).assert_body("default");
}
