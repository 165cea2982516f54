//! Tests of the http core module: levels, merge, locations, listen, types,
//! includes, the shipped configuration.

use super::*;
use crate::conf::testutil::{assert_err, conf, http, server, temp_dir};
use crate::conf::variables::{Segment, Variable};
use crate::conf::{
    AddHeader, Config, KEEPALIVE_REQUESTS, KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, LISTEN_BACKLOG,
    LogTarget, SEND_TIMEOUT_MS,
};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;

#[test]
fn http_defaults() {
    let s = server("");
    assert_eq!(s.listen.len(), 1);
    assert_eq!(
        s.listen[0].addr,
        crate::conf::ListenAddr::Inet("0.0.0.0:80".parse().unwrap())
    );
    assert!(!s.listen[0].default_server && !s.listen[0].reuseport);
    assert_eq!(s.listen[0].backlog, LISTEN_BACKLOG);
    assert_eq!(s.server_names, vec![String::new()]);
    assert_eq!(s.client_header_timeout_ms, CLIENT_HEADER_TIMEOUT_MS);
    assert_eq!(s.client_header_buffer_size, CLIENT_HEADER_BUFFER_SIZE);
    assert_eq!(s.large_client_header_buffers, LARGE_CLIENT_HEADER_BUFFERS);
    assert!(s.locations.is_empty());
    let c = &s.conf;
    assert_eq!(c.root, Path::new("/pfx/html"));
    assert_eq!(c.index, vec!["index.html".to_string()]);
    assert_eq!(c.rewrite, None);
    assert_eq!(&*c.default_type, "text/plain");
    assert_eq!(c.keepalive_timeout_ms, KEEPALIVE_TIMEOUT_MS);
    assert_eq!(c.keepalive_header_s, None);
    assert_eq!(c.keepalive_requests, KEEPALIVE_REQUESTS);
    assert_eq!(c.keepalive_time_ms, KEEPALIVE_TIME_MS);
    assert_eq!(c.send_timeout_ms, SEND_TIMEOUT_MS);
    assert!(c.server_tokens);
    // nginx's built-in three types when no `types` block exists.
    assert_eq!(c.types.by_ext.len(), 3);
    assert_eq!(c.types.lookup("HTML").map(|t| &**t), Some("text/html"));
    assert_eq!(c.types.lookup("gif").map(|t| &**t), Some("image/gif"));
    assert_eq!(c.types.lookup("jpg").map(|t| &**t), Some("image/jpeg"));
    assert_eq!(c.types.lookup("png"), None);
}

#[test]
fn inheritance_http_server_location() {
    let c = conf(
        "http {\n\
           keepalive_timeout 30s 25; send_timeout 10s; server_tokens off;\n\
           root www; index a.html b.html; default_type text/html;\n\
           client_header_timeout 5s; large_client_header_buffers 2 16k;\n\
           server {\n\
             client_header_buffer_size 2k;\n\
             location /a { keepalive_timeout 5s 4; root /srv/a; }\n\
             location /b { }\n\
             location /c { keepalive_timeout 7s; index c.html; server_tokens on; }\n\
             keepalive_requests 5;\n\
           }\n\
           server { large_client_header_buffers 8 1k; client_header_timeout 1m; }\n\
         }",
    );
    let h = http(&c);
    let s = &h.servers[0];
    assert_eq!(s.client_header_timeout_ms, 5000);
    assert_eq!(s.client_header_buffer_size, 2048);
    assert_eq!(s.large_client_header_buffers, (2, 16384));
    let s2 = &h.servers[1];
    assert_eq!(s2.client_header_timeout_ms, 60_000);
    assert_eq!(s2.client_header_buffer_size, CLIENT_HEADER_BUFFER_SIZE);
    assert_eq!(s2.large_client_header_buffers, (8, 1024));

    let srv = &s.conf;
    assert_eq!(srv.keepalive_timeout_ms, 30_000);
    assert_eq!(srv.keepalive_header_s, Some(25));
    assert_eq!(srv.root, Path::new("/pfx/www"));
    assert_eq!(srv.index, vec!["a.html", "b.html"]);
    assert_eq!(&*srv.default_type, "text/html");
    assert!(!srv.server_tokens);
    // Set after the locations, still inherited by them.
    assert_eq!(srv.keepalive_requests, 5);

    let a = s.loc_conf(b"/a/x");
    assert_eq!(
        (a.keepalive_timeout_ms, a.keepalive_header_s),
        (5000, Some(4))
    );
    assert_eq!(a.root, Path::new("/srv/a"));
    assert_eq!(a.send_timeout_ms, 10_000);
    assert_eq!(a.keepalive_requests, 5);

    let b = s.loc_conf(b"/b");
    assert_eq!(
        (b.keepalive_timeout_ms, b.keepalive_header_s),
        (30_000, Some(25))
    );
    assert_eq!(b.root, Path::new("/pfx/www"));
    assert!(!b.server_tokens);

    // The header value is merged separately, as in nginx.
    let cc = s.loc_conf(b"/c");
    assert_eq!(
        (cc.keepalive_timeout_ms, cc.keepalive_header_s),
        (7000, Some(25))
    );
    assert_eq!(cc.index, vec!["c.html"]);
    assert!(cc.server_tokens);

    // No location matches: the server level.
    assert!(Rc::ptr_eq(s.loc_conf(b"/zzz"), &s.conf));
    assert_eq!(h.servers[1].conf.keepalive_timeout_ms, 30_000);
}

#[test]
fn location_matching() {
    let s = server(
        "location / { root /r; }\n\
         location /img/ { root /i; }\n\
         location ^~ /img/big/ { root /b; }\n\
         location = /img/ { root /e; }\n\
         location =/exact { root /x; }\n\
         location ^~/n { root /n; }",
    );
    assert_eq!(s.locations.len(), 6);
    assert_eq!(s.locations[2].kind, LocationMatch::PrefixNoRegex);
    assert_eq!(s.locations[4].kind, LocationMatch::Exact);
    assert_eq!(s.locations[4].uri, "/exact");
    assert_eq!(s.locations[5].kind, LocationMatch::PrefixNoRegex);
    assert_eq!(s.locations[5].uri, "/n");
    let root = |p: &[u8]| s.loc_conf(p).root.clone();
    assert_eq!(root(b"/"), Path::new("/r"));
    assert_eq!(root(b"/other"), Path::new("/r"));
    assert_eq!(root(b"/img/"), Path::new("/e"));
    assert_eq!(root(b"/img/a.png"), Path::new("/i"));
    assert_eq!(root(b"/img/big/a.png"), Path::new("/b"));
    assert_eq!(root(b"/exact"), Path::new("/x"));
    assert_eq!(root(b"/exact/more"), Path::new("/r"));
    assert_eq!(root(b"/nn"), Path::new("/n"));
    assert_eq!(
        s.location_for(b"/exact").map(|l| l.kind),
        Some(LocationMatch::Exact)
    );
    let s = server("location = /only { }");
    assert!(s.location_for(b"/").is_none());
    assert!(s.location_for(b"/only/").is_none());
}

#[test]
fn location_errors() {
    let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
    assert_err(
        &wrap("location / { }\nlocation / { }"),
        "duplicate location \"/\"",
        4,
    );
    assert_err(
        &wrap("location /a { }\nlocation ^~ /a { }"),
        "duplicate location \"/a\"",
        4,
    );
    assert_err(
        &wrap("location = /a { }\nlocation =/a { }"),
        "duplicate location \"/a\"",
        4,
    );
    assert!(
        conf(&wrap("location = /a { }\nlocation /a { }"))
            .http
            .is_some()
    );
    assert!(
        conf(&wrap("location / {\n location /x { }\n}"))
            .http
            .is_some()
    );
    assert_err(
        &wrap("location /a {\n location /b { }\n}"),
        "location \"/b\" is outside location \"/a\"",
        4,
    );
    assert_err(
        &wrap("location = /a {\n location /a/b { }\n}"),
        "location \"/a/b\" cannot be inside the exact location \"/a\"",
        4,
    );
    assert_err(
        &wrap("location / {\n location @x { }\n}"),
        "named location \"@x\" can be on the server level only",
        4,
    );
    assert!(
        conf(&wrap("location @x { }\nlocation @x { }"))
            .http
            .is_some()
    );
    assert_err(
        &wrap("location @x { alias /a; }"),
        "the \"alias\" directive cannot be used inside the named location",
        3,
    );
    assert_err(
        &wrap("location ~ (?<=/)x { }"),
        "regex \"(?<=/)x\" cannot be compiled: look-around, including look-ahead and \
         look-behind, is not supported",
        3,
    );
    assert_err(
        &wrap("location ~* (x { }"),
        "regex \"(x\" cannot be compiled: unclosed group",
        3,
    );
    assert_err(&wrap("location ~ \"\" { }"), "empty regex location", 3);
    assert!(conf(&wrap("location @fallback { }")).http.is_some());
    assert_err(
        &wrap("location ! /x { }"),
        "invalid location modifier \"!\"",
        3,
    );
    assert_err(
        &wrap("location { }"),
        "invalid number of arguments in \"location\" directive",
        3,
    );
    assert_err(
        &wrap("location a b c { }"),
        "invalid number of arguments in \"location\" directive",
        3,
    );
    assert_err(
        &wrap("location /;"),
        "directive \"location\" has no opening \"{\"",
        3,
    );
    assert_err(
        "http {\nlocation / { }\n}",
        "\"location\" directive is not allowed here",
        2,
    );
    assert_err(
        &wrap("location / { listen 80; }"),
        "\"listen\" directive is not allowed here",
        3,
    );
    assert_err(
        &wrap("location / {\n client_header_timeout 1s; }"),
        "\"client_header_timeout\" directive is not allowed here",
        4,
    );
    assert_err(
        &wrap("location / {\n root a;\n root b; }"),
        "\"root\" directive is duplicate",
        5,
    );
}

#[test]
fn header_buffers_too_large_to_allocate_are_refused() {
    let wrap = |body: &str| format!("http {{\n{body}\n}}");
    assert_err(
        &wrap("client_header_buffer_size 25G;"),
        "\"client_header_buffer_size\" directive invalid value",
        2,
    );
    assert_err(
        &wrap("large_client_header_buffers 1000 1m;"),
        "\"large_client_header_buffers\" directive invalid value",
        2,
    );
    let ok = conf(&wrap(
        "client_header_buffer_size 64m; large_client_header_buffers 4 16m;",
    ));
    assert_eq!(ok.http.unwrap().servers.len(), 0);
    // A large buffer smaller than the connection pool (512 by default).
    let small = "the \"large_client_header_buffers\" size must be equal to or greater \
                 than \"connection_pool_size\"";
    assert_err(&wrap("large_client_header_buffers 2 256;"), small, 1);
    assert_err(
        &wrap("server { large_client_header_buffers 2 496; }"),
        small,
        1,
    );
    assert_err(
        &wrap("large_client_header_buffers 2 1k; server { connection_pool_size 2k; }"),
        small,
        1,
    );
    conf(&wrap(
        "large_client_header_buffers 2 256; connection_pool_size 256;",
    ));
}

#[test]
fn internal_is_per_location_and_once() {
    let c = conf("http {\n server {\n location /a { internal; }\n location /b { }\n }\n}");
    let http = c.http.unwrap();
    let s = &http.servers[0];
    assert!(s.loc_conf(b"/a").internal);
    assert!(!s.loc_conf(b"/b").internal);
    assert!(!s.conf.internal);
    assert_err(
        "http {\n server {\n location /a { internal; internal; }\n }\n}",
        "\"internal\" directive is duplicate",
        3,
    );
    assert_err(
        "http {\n server {\n internal;\n }\n}",
        "\"internal\" directive is not allowed here",
        3,
    );
}

#[test]
fn regex_locations_follow_nginx_precedence() {
    let c = conf(
        "http {\n server {\n\
         location / { }\n\
         location ^~ /static/ { }\n\
         location /images/ { }\n\
         location ~* \\.(gif|jpg)$ { }\n\
         location ~ ^/Case { }\n\
         location ~\\.jpg$ { }\n\
         location = /exact.gif { }\n\
         }\n}",
    );
    let http = c.http.unwrap();
    let s = &http.servers[0];
    let found = |path: &str| s.location_for(path.as_bytes()).map(|l| l.uri.clone());
    let same = |path: &str, want: &str| assert_eq!(found(path).as_deref(), Some(want), "{path}");
    same("/", "/");
    // The first matching regex in configuration order wins over any prefix.
    same("/a.GIF", "\\.(gif|jpg)$");
    same("/images/x.jpg", "\\.(gif|jpg)$");
    same("/images/x.png", "/images/");
    // ^~ as the longest prefix stops the regex search.
    same("/static/x.gif", "/static/");
    // `~` is case-sensitive; `~*` is not.
    same("/Case", "^/Case");
    same("/case", "/");
    // `=` is found before anything else.
    same("/exact.gif", "/exact.gif");
    assert_eq!(s.locations[3].kind, LocationMatch::Regex { caseless: true });
    assert_eq!(
        s.locations[5].kind,
        LocationMatch::Regex { caseless: false }
    );
}

#[test]
fn directive_value_errors() {
    let wrap = |body: &str| format!("http {{\n{body}\n}}");
    assert_err(
        &wrap("keepalive_timeout soon;"),
        "\"keepalive_timeout\" directive invalid value",
        2,
    );
    assert_err(
        &wrap("keepalive_timeout 5s 100ms;"),
        "\"keepalive_timeout\" directive invalid value",
        2,
    );
    assert_err(
        &wrap("keepalive_timeout 1 2 3;"),
        "invalid number of arguments in \"keepalive_timeout\" directive",
        2,
    );
    assert_err(
        &wrap("keepalive_timeout 5;\nkeepalive_timeout 6;"),
        "\"keepalive_timeout\" directive is duplicate",
        3,
    );
    assert_err(
        &wrap("keepalive_requests lots;"),
        "\"keepalive_requests\" directive invalid number",
        2,
    );
    assert_err(
        &wrap("keepalive_time 1x;"),
        "\"keepalive_time\" directive invalid value",
        2,
    );
    assert_err(
        &wrap("send_timeout -1;"),
        "\"send_timeout\" directive invalid value",
        2,
    );
    // nginx's enum slot (on, off, build).
    assert_err(&wrap("server_tokens maybe;"), "invalid value \"maybe\"", 2);
    assert!(conf(&wrap("server_tokens build;")).http.is_some());
    assert_err(
        &wrap("client_header_buffer_size 1q;"),
        "\"client_header_buffer_size\" directive invalid value",
        2,
    );
    assert_err(
        &wrap("client_header_buffer_size 0;"),
        "\"client_header_buffer_size\" directive invalid value",
        2,
    );
    assert_err(
        &wrap("large_client_header_buffers 0 8k;"),
        "\"large_client_header_buffers\" directive invalid value",
        2,
    );
    assert_err(
        &wrap("large_client_header_buffers 4 x;"),
        "\"large_client_header_buffers\" directive invalid value",
        2,
    );
    assert_err(
        &wrap("large_client_header_buffers 4;"),
        "invalid number of arguments in \"large_client_header_buffers\" directive",
        2,
    );
    assert_err(
        &wrap("client_header_timeout 1s;\nclient_header_timeout 1s;"),
        "\"client_header_timeout\" directive is duplicate",
        3,
    );
    assert_err(
        &wrap("default_type a;\ndefault_type b;"),
        "\"default_type\" directive is duplicate",
        3,
    );
    assert_err(
        &wrap("default_type;"),
        "invalid number of arguments in \"default_type\" directive",
        2,
    );
    assert_err(
        &wrap("index a \"\";"),
        "index \"\" in \"index\" directive is invalid",
        2,
    );
    assert_err(
        &wrap("index /a b;"),
        "only the last index in \"index\" directive should be absolute",
        2,
    );
    assert_err(
        &wrap("return 200;"),
        "\"return\" directive is not allowed here",
        2,
    );
    assert_err(
        &wrap("listen 80;"),
        "\"listen\" directive is not allowed here",
        2,
    );
    assert_err(
        &wrap("server_name x;"),
        "\"server_name\" directive is not allowed here",
        2,
    );
    assert_err(
        &wrap("server x { }"),
        "invalid number of arguments in \"server\" directive",
        2,
    );
    assert_err(
        &wrap("events { }"),
        "\"events\" directive is not allowed here",
        2,
    );
    assert_err(
        &wrap("types {\n text/html html;\n a/b { }\n}"),
        "unexpected \"{\"",
        4,
    );
    assert_err(
        &wrap("types x { }"),
        "invalid number of arguments in \"types\" directive",
        2,
    );
    // Same-level index directives accumulate.
    let s = server("index a; index b c /d;");
    assert_eq!(s.conf.index, vec!["a", "b", "c", "/d"]);
}

#[test]
fn returns() {
    let ret = |args: &str| first_return(&server(&format!("return {args};")).conf).unwrap();
    let text = |r: &crate::conf::Return| {
        r.text.as_deref().map(|t| {
            t.iter()
                .map(|s| match s {
                    Segment::Literal(l) => String::from_utf8_lossy(l).into_owned(),
                    Segment::Var(v) => format!("${}", v.name()),
                })
                .collect::<String>()
        })
    };
    let r = ret("200 \"Hello, World!\"");
    assert_eq!((r.code, text(&r).as_deref()), (200, Some("Hello, World!")));
    let r = ret("404");
    assert_eq!((r.code, r.text.is_none()), (404, true));
    let r = ret("0");
    assert_eq!(r.code, 0);
    let r = ret("999 x");
    assert_eq!(r.code, 999);
    let r = ret("301 https://example.com/new");
    assert_eq!(
        (r.code, text(&r).as_deref()),
        (301, Some("https://example.com/new"))
    );
    for url in ["http://a/", "https://b/c", "$scheme://host/x"] {
        let r = ret(url);
        assert_eq!((r.code, text(&r).as_deref()), (302, Some(url)));
    }
    let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
    assert_err(&wrap("return 1000;"), "invalid return code \"1000\"", 3);
    assert_err(&wrap("return 65536 x;"), "invalid return code \"65536\"", 3);
    assert_err(&wrap("return -1;"), "invalid return code \"-1\"", 3);
    assert_err(&wrap("return abc;"), "invalid return code \"abc\"", 3);
    assert_err(
        &wrap("return http://x y;"),
        "invalid return code \"http://x\"",
        3,
    );
    assert_err(
        &wrap("return ftp://x;"),
        "invalid return code \"ftp://x\"",
        3,
    );
    assert_err(
        &wrap("return;"),
        "invalid number of arguments in \"return\" directive",
        3,
    );
    assert_err(
        &wrap("return 200 a b;"),
        "invalid number of arguments in \"return\" directive",
        3,
    );

    // A location's script is its own; the server's runs in its own phase
    // and is not inherited.
    let s = server("location = /p { return 200 p; return 500; } location /q { }");
    assert_eq!(first_return(&s.conf), None);
    assert_eq!(first_return(s.loc_conf(b"/p")).map(|r| r.code), Some(200));
    assert_eq!(s.loc_conf(b"/p").rewrite.as_ref().map(|c| c.len()), Some(2));
    assert_eq!(first_return(s.loc_conf(b"/q")), None);
    let s = server("return 403; location = /p { return 200 p; } location /q { }");
    assert_eq!(first_return(&s.conf).map(|r| r.code), Some(403));
    assert_eq!(first_return(s.loc_conf(b"/p")).map(|r| r.code), Some(200));
    assert_eq!(first_return(s.loc_conf(b"/q")), None);
}

/// The first `return` of a level's script.
fn first_return(c: &LocConf) -> Option<crate::conf::Return> {
    c.rewrite.as_deref()?.iter().find_map(|code| match code {
        crate::conf::Code::Return(r) => Some(r.clone()),
        _ => None,
    })
}

#[test]
fn listen_forms() {
    let l = |args: &str| server(&format!("listen {args};")).listen.clone();
    let addr = |s: &str| crate::conf::ListenAddr::Inet(s.parse::<SocketAddr>().unwrap());
    assert_eq!(l("8080")[0].addr, addr("0.0.0.0:8080"));
    assert_eq!(l("*:81")[0].addr, addr("0.0.0.0:81"));
    assert_eq!(l("127.0.0.1:8080")[0].addr, addr("127.0.0.1:8080"));
    assert_eq!(l("127.0.0.1")[0].addr, addr("127.0.0.1:80"));
    assert_eq!(l("localhost:8080")[0].addr, addr("127.0.0.1:8080"));
    assert_eq!(l("[::1]:8080")[0].addr, addr("[::1]:8080"));
    assert_eq!(l("[::]")[0].addr, addr("[::]:80"));
    assert_eq!(l("0")[0].addr, addr("0.0.0.0:0"));
    let x = &l("10.0.0.1:9 default_server backlog=64 reuseport deferred")[0];
    assert!(x.default_server && x.reuseport && x.deferred);
    assert_eq!(x.backlog, 64);
    assert!(l("80 default")[0].default_server);
    let s = server("listen 1; listen [::1]:2;");
    assert_eq!(s.listen.len(), 2);
    // IPv6 binds ipv6only unless told; options imply bind.
    assert!(l("[::]:80")[0].ipv6only && !l("[::]:80")[0].bind);
    let x = &l("[::]:80 ipv6only=off")[0];
    assert!(!x.ipv6only && x.bind);
    assert!(l("127.0.0.1:80 bind")[0].bind);
    let x = &l("80 rcvbuf=64k sndbuf=1m so_keepalive=30m:10:3 fastopen=16")[0];
    assert_eq!((x.rcvbuf, x.sndbuf), (Some(65536), Some(1 << 20)));
    assert_eq!(
        x.so_keepalive,
        crate::conf::SoKeepalive::On {
            idle: 1800,
            intvl: 10,
            cnt: 3
        }
    );
    assert_eq!(x.fastopen, Some(16));
    assert!(x.bind);
    assert_eq!(
        l("80 so_keepalive=::5")[0].so_keepalive,
        crate::conf::SoKeepalive::On {
            idle: 0,
            intvl: 0,
            cnt: 5
        }
    );
    assert_eq!(
        l("80 so_keepalive=off")[0].so_keepalive,
        crate::conf::SoKeepalive::Off
    );
    let u = &l("unix:/run/h.sock")[0];
    assert_eq!(u.addr, crate::conf::ListenAddr::Unix("/run/h.sock".into()));
    assert!(u.bind);
}

#[test]
fn listen_errors() {
    let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
    let e = |spec: &str, what: &str| {
        assert_err(
            &wrap(&format!("listen {spec};")),
            &format!("{what} in \"{spec}\" of the \"listen\" directive"),
            3,
        )
    };
    e("127.0.0.1:99999", "invalid port");
    e("65536", "invalid port");
    e("127.0.0.1:", "invalid port");
    e("127.0.0.1:http", "invalid port");
    e("[::1", "invalid IPv6 address");
    e("[zz]:80", "invalid IPv6 address");
    e("[::1]x", "invalid host");
    e("::1", "invalid host");
    e(":80", "no host");
    e("unix:", "no path in the unix domain socket");
    assert_err(
        &wrap("listen 80 ssl;"),
        "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
        3,
    );
    assert_err(
        &wrap("listen 80 http2;"),
        "the \"http2\" parameter of \"listen\" is not supported by holdfast yet",
        3,
    );
    assert_err(&wrap("listen 80 bogus;"), "invalid parameter \"bogus\"", 3);
    assert_err(
        &wrap("listen 80 ipv6only=on;"),
        "ipv6only is not supported on addr \"80\", ignored",
        3,
    );
    assert_err(
        &wrap("listen [::]:80 ipv6only=yes;"),
        "invalid ipv6only flags \"yes\"",
        3,
    );
    assert_err(
        &wrap("listen 80 so_keepalive=x;"),
        "invalid so_keepalive value: \"x\"",
        3,
    );
    assert_err(
        &wrap("listen 80 so_keepalive=::;"),
        "invalid so_keepalive value: \"::\"",
        3,
    );
    assert_err(&wrap("listen 80 rcvbuf=big;"), "invalid rcvbuf \"big\"", 3);
    assert_err(
        &wrap("listen 80 fastopen=-1;"),
        "invalid fastopen \"fastopen=-1\"",
        3,
    );
    assert_err(&wrap("listen 80 backlog=0;"), "invalid backlog \"0\"", 3);
    assert_err(&wrap("listen 80 backlog=x;"), "invalid backlog \"x\"", 3);
    assert_err(
        &wrap("listen;"),
        "invalid number of arguments in \"listen\" directive",
        3,
    );
    assert_err(
        &wrap("listen 80;\nlisten 0.0.0.0:80;"),
        "a duplicate listen 0.0.0.0:80",
        4,
    );
    assert_err(
        "http {\nserver { listen 127.0.0.1:80 default_server; }\nserver {\n listen 127.0.0.1:80 default_server; }\n}",
        "a duplicate default server for 127.0.0.1:80",
        4,
    );
    assert_err(
        "http {\nserver { listen [::1]:8 backlog=5; }\nserver { listen [::1]:8 reuseport; }\n}",
        "duplicate listen options for [::1]:8",
        3,
    );
    // One server sets the options, every server on that address sees them.
    let c = conf(
        "http { server { listen 8080; } server { listen 8080 default_server backlog=9 reuseport; }\n\
         server { listen 8080; } server { } server { } }",
    );
    for s in &http(&c).servers[..3] {
        assert_eq!((s.listen[0].backlog, s.listen[0].reuseport), (9, true));
    }
    assert!(http(&c).servers[1].listen[0].default_server);
    assert!(!http(&c).servers[2].listen[0].default_server);
}

#[test]
fn server_names() {
    let s =
        server("server_name Example.COM *.Example.com; server_name www.example.* .b.org \"\" _;");
    assert_eq!(
        s.server_names,
        vec![
            "example.com",
            "*.example.com",
            "www.example.*",
            ".b.org",
            "",
            "_"
        ]
    );
    assert!(s.matches_name(b"example.com"));
    assert!(s.matches_name(b"a.example.com"));
    assert!(s.matches_name(b"www.example.net"));
    assert!(s.matches_name(b"b.org") && s.matches_name(b"x.b.org"));
    assert!(!s.matches_name(b"example.org"));
    let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
    assert_err(
        &wrap("server_name a*b;"),
        "invalid server name or wildcard \"a*b\"",
        3,
    );
    assert_err(&wrap("server_name *;"), "server name \"*\" is invalid", 3);
    assert_err(&wrap("server_name .;"), "server name \".\" is invalid", 3);
    assert_err(
        &wrap("server_name *.a.*;"),
        "invalid server name or wildcard \"*.a.*\"",
        3,
    );
    assert_err(
        &wrap("server_name ~;"),
        "empty regex in server name \"~\"",
        3,
    );
    let s = server("server_name ~^www\\d+$ .dot.org;");
    assert_eq!(s.server_names, vec!["~^www\\d+$", ".dot.org"]);
    assert_eq!(s.name_regexes.len(), 1);
    assert_eq!(s.server_name(), "~^www\\d+$");
    assert!(!s.matches_name(b"www1"));
    assert_eq!(server("server_name .dot.org;").server_name(), "dot.org");
}

#[test]
fn types_blocks() {
    let c = conf(
        "http {\n\
           types { text/html html htm; text/css CSS; }\n\
           types { image/png png; text/x-html html; }\n\
           server {\n\
             location /t { types { application/x-t t; } default_type a/b; }\n\
             location /e { types { } }\n\
             location /i { }\n\
           }\n\
           server { types { text/plain txt; } }\n\
         }",
    );
    let s = &http(&c).servers[0];
    let t = &s.conf.types;
    assert_eq!(t.by_ext.len(), 4);
    assert_eq!(t.lookup("css").map(|t| &**t), Some("text/css"));
    assert_eq!(t.lookup("htm").map(|t| &**t), Some("text/html"));
    // A later line wins for a repeated extension.
    assert_eq!(t.lookup("html").map(|t| &**t), Some("text/x-html"));
    assert_eq!(t.lookup("png").map(|t| &**t), Some("image/png"));
    let lt = &s.loc_conf(b"/t").types;
    assert_eq!(lt.by_ext.len(), 1);
    assert_eq!(lt.lookup("T").map(|t| &**t), Some("application/x-t"));
    assert_eq!(&*s.loc_conf(b"/t").default_type, "a/b");
    assert!(s.loc_conf(b"/e").types.by_ext.is_empty());
    assert!(Rc::ptr_eq(&s.loc_conf(b"/i").types, &s.conf.types));
    let t2 = &http(&c).servers[1].conf.types;
    assert_eq!(t2.by_ext.len(), 1);
    assert_eq!(t2.lookup("txt").map(|t| &**t), Some("text/plain"));
}

#[test]
fn includes_from_real_files() {
    let dir = temp_dir("inc");
    fs::create_dir(dir.join("sites")).unwrap();
    fs::write(
        dir.join("types.conf"),
        "types {\n text/x-a a;\n include more.types;\n}\n",
    )
    .unwrap();
    fs::write(dir.join("more.types"), "text/x-b b;\n").unwrap();
    fs::write(dir.join("sites/1.conf"), "server { listen 1; }\n").unwrap();
    fs::write(
        dir.join("sites/2.conf"),
        "server {\n listen 2;\n bogus;\n}\n",
    )
    .unwrap();
    let main = dir.join("main.conf");
    fs::write(
        &main,
        "http {\n include types.conf;\n include sites/[1].conf;\n include none/*.conf;\n}\n",
    )
    .unwrap();
    let c = Config::load(&main, Path::new("/pfx")).unwrap();
    let h = http(&c);
    assert_eq!(h.servers.len(), 1);
    assert_eq!(h.servers[0].listen[0].addr.port(), 1);
    let t = &h.servers[0].conf.types;
    assert_eq!(t.lookup("a").map(|t| &**t), Some("text/x-a"));
    assert_eq!(t.lookup("b").map(|t| &**t), Some("text/x-b"));

    // An error inside an included file names that file and line.
    fs::write(&main, "http {\n include sites/*.conf;\n}\n").unwrap();
    let e = Config::load(&main, Path::new("/pfx")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "unknown directive \"bogus\" in {}:3",
            dir.join("sites/2.conf").display()
        )
    );

    // A missing non-glob include names the including file and line.
    fs::write(&main, "\nhttp {\n\n include nope.types;\n}\n").unwrap();
    let e = Config::load(&main, Path::new("/pfx")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "open() \"{}\" failed (2: No such file or directory) in {}:4",
            dir.join("nope.types").display(),
            main.display()
        )
    );

    // Context still applies to included directives.
    fs::write(dir.join("root.conf"), "root /x;\n").unwrap();
    fs::write(&main, "include root.conf;\n").unwrap();
    let e = Config::load(&main, Path::new("/pfx")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "\"root\" directive is not allowed here in {}:1",
            dir.join("root.conf").display()
        )
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn missing_main_file() {
    let dir = temp_dir("nomain");
    let e = Config::load(&dir.join("x.conf"), &dir).unwrap_err();
    assert_eq!((e.file.as_ref(), e.line), (None, 0));
    assert_eq!(
        e.msg,
        format!(
            "open() \"{}\" failed (2: No such file or directory)",
            dir.join("x.conf").display()
        )
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn shipped_default_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = Config::load(&root.join("conf/holdfast.conf"), root).unwrap();
    assert_eq!(c.worker_connections, 1024);
    assert_eq!(c.error_log[0].target, LogTarget::Stderr);
    assert_eq!(c.error_log[0].level, crate::conf::LogLevel::Notice);
    let h = http(&c);
    assert_eq!(h.servers.len(), 1);
    let s = &h.servers[0];
    assert_eq!(s.listen.len(), 1);
    assert_eq!(
        s.listen[0].addr,
        crate::conf::ListenAddr::Inet("127.0.0.1:8080".parse().unwrap())
    );
    assert!(s.listen[0].default_server);
    assert_eq!(s.server_names, vec!["localhost"]);
    assert_eq!(s.conf.root, root.join("html"));
    assert_eq!(s.conf.index, vec!["index.html"]);
    assert_eq!(&*s.conf.default_type, "application/octet-stream");
    assert_eq!(s.conf.keepalive_timeout_ms, 75_000);
    let t = &s.conf.types;
    assert!(t.by_ext.len() > 80, "{}", t.by_ext.len());
    for (ext, ty) in [
        ("html", "text/html"),
        ("css", "text/css"),
        ("js", "application/javascript"),
        ("json", "application/json"),
        ("png", "image/png"),
        ("svg", "image/svg+xml"),
        ("woff2", "font/woff2"),
        ("mp4", "video/mp4"),
        ("PDF", "application/pdf"),
    ] {
        assert_eq!(t.lookup(ext).map(|t| &**t), Some(ty), "{ext}");
    }
    let p = s.location_for(b"/plaintext").unwrap();
    assert_eq!(p.kind, LocationMatch::Exact);
    let r = first_return(&p.conf).unwrap();
    assert_eq!(r.code, 200);
    assert_eq!(
        r.text.as_deref(),
        Some(&[Segment::Literal(b"Hello, World!"[..].into())][..])
    );
    assert!(s.location_for(b"/plaintext/").is_none());
    assert_eq!(first_return(s.loc_conf(b"/")), None);
}

fn names(h: &[AddHeader]) -> Vec<&str> {
    h.iter().map(|h| h.name.as_str()).collect()
}

#[test]
fn defaults_everywhere() {
    let s = server("location /a { }");
    for c in [&s.conf, s.loc_conf(b"/a")] {
        assert_eq!(c.client_max_body_size, 1 << 20);
        assert_eq!(c.client_body_timeout_ms, 60_000);
        assert_eq!(c.lingering_close, LingeringClose::On);
        assert_eq!(c.lingering_time_ms, 30_000);
        assert_eq!(c.lingering_timeout_ms, 5_000);
        assert!(!c.reset_timedout_connection);
        assert_eq!(
            c.keepalive_disable,
            KeepaliveDisable {
                msie6: true,
                safari: false
            }
        );
        assert!(!c.stub_status);
        assert!(c.add_headers.is_empty());
        assert!(c.access_log.is_empty());
    }
    assert_eq!(LingeringClose::default(), LingeringClose::On);
}

#[test]
fn inheritance_and_override() {
    let c = conf(
        "http {\n\
           client_max_body_size 10m; client_body_timeout 30s;\n\
           lingering_close always; lingering_time 1m; lingering_timeout 2s;\n\
           reset_timedout_connection on; keepalive_disable safari;\n\
           server {\n\
             location /inherit { }\n\
             location /own {\n\
               client_max_body_size 0; client_body_timeout 500ms;\n\
               lingering_close OFF; lingering_time 10s; lingering_timeout 1;\n\
               reset_timedout_connection off; keepalive_disable msie6 safari;\n\
             }\n\
             client_max_body_size 2k;\n\
           }\n\
           server { lingering_close on; keepalive_disable none; }\n\
         }",
    );
    let h = http(&c);
    let s = &h.servers[0];
    // Set after the locations, still inherited by them.
    assert_eq!(s.conf.client_max_body_size, 2048);
    let i = s.loc_conf(b"/inherit");
    assert_eq!(i.client_max_body_size, 2048);
    assert_eq!(i.client_body_timeout_ms, 30_000);
    assert_eq!(i.lingering_close, LingeringClose::Always);
    assert_eq!(
        (i.lingering_time_ms, i.lingering_timeout_ms),
        (60_000, 2000)
    );
    assert!(i.reset_timedout_connection);
    assert_eq!(
        i.keepalive_disable,
        KeepaliveDisable {
            msie6: false,
            safari: true
        }
    );
    let o = s.loc_conf(b"/own");
    assert_eq!(o.client_max_body_size, 0);
    assert_eq!(o.client_body_timeout_ms, 500);
    assert_eq!(o.lingering_close, LingeringClose::Off);
    assert_eq!(
        (o.lingering_time_ms, o.lingering_timeout_ms),
        (10_000, 1000)
    );
    assert!(!o.reset_timedout_connection);
    assert_eq!(
        o.keepalive_disable,
        KeepaliveDisable {
            msie6: true,
            safari: true
        }
    );
    // The other fields still come from build.rs's merge.
    assert_eq!(o.root, s.conf.root);

    let s2 = &h.servers[1].conf;
    assert_eq!(s2.client_max_body_size, 10 << 20);
    assert_eq!(s2.lingering_close, LingeringClose::On);
    assert_eq!(
        s2.keepalive_disable,
        KeepaliveDisable {
            msie6: false,
            safari: false
        }
    );
}

#[test]
fn keepalive_disable_values() {
    let ka = |args: &str| {
        let s = server(&format!("location / {{ keepalive_disable {args}; }}"));
        let k = s.loc_conf(b"/").keepalive_disable;
        (k.msie6, k.safari)
    };
    assert_eq!(ka("none"), (false, false));
    assert_eq!(ka("msie6"), (true, false));
    assert_eq!(ka("SAFARI"), (false, true));
    assert_eq!(ka("none safari"), (false, true));
    assert_eq!(ka("msie6 msie6"), (true, false));
    // Repeated at one level: the values add up.
    let s = server("keepalive_disable none; keepalive_disable safari;");
    assert!(s.conf.keepalive_disable.safari && !s.conf.keepalive_disable.msie6);
    // `none` at the server is not overridden by the http default.
    let s = server("keepalive_disable none; location / { }");
    assert!(!s.loc_conf(b"/").keepalive_disable.msie6);
}

#[test]
fn stub_status_is_not_inherited() {
    let s = server(
        "location = /status { stub_status; }\n\
         location /s2 { stub_status on; }\n\
         location / { }",
    );
    assert!(!s.conf.stub_status);
    assert!(s.loc_conf(b"/status").stub_status);
    assert!(s.loc_conf(b"/s2").stub_status);
    assert!(!s.loc_conf(b"/").stub_status);
    // At server level (allowed by nginx) it is for URIs no location takes.
    let s = server("stub_status; location /x { }");
    assert!(s.conf.stub_status);
    assert!(!s.loc_conf(b"/x").stub_status);
    assert!(s.loc_conf(b"/y").stub_status);
}

#[test]
fn add_header_replaces_not_merges() {
    let c = conf(
        "http {\n\
           add_header X-A a;\n\
           add_header X-B \"$host:$server_port\" always;\n\
           server {\n\
             location /inherit { }\n\
             location /own { add_header X-C c; }\n\
             location /empty { add_header X-E \"\"; }\n\
           }\n\
           server { add_header X-S s; location /l { } }\n\
         }",
    );
    let h = http(&c);
    let s = &h.servers[0];
    assert_eq!(names(&s.conf.add_headers), ["X-A", "X-B"]);
    let b = &s.conf.add_headers[1];
    assert!(b.always);
    assert_eq!(
        b.value,
        vec![
            Segment::Var(Variable::Host),
            Segment::Literal(b":".to_vec().into()),
            Segment::Var(Variable::ServerPort),
        ]
    );
    assert!(!s.conf.add_headers[0].always);
    assert!(Rc::ptr_eq(
        &s.conf.add_headers,
        &s.loc_conf(b"/inherit").add_headers
    ));
    assert_eq!(names(&s.loc_conf(b"/own").add_headers), ["X-C"]);
    let e = &s.loc_conf(b"/empty").add_headers;
    assert_eq!(names(e), ["X-E"]);
    assert!(e[0].value.is_empty());
    let s = &h.servers[1];
    assert_eq!(names(&s.conf.add_headers), ["X-S"]);
    assert_eq!(names(&s.loc_conf(b"/l").add_headers), ["X-S"]);
}

#[test]
fn value_and_argument_errors() {
    let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
    let e = |body: &str, msg: &str| assert_err(&wrap(body), msg, 3);
    e(
        "client_max_body_size 1x;",
        "\"client_max_body_size\" directive invalid value",
    );
    e(
        "client_max_body_size -1;",
        "\"client_max_body_size\" directive invalid value",
    );
    e(
        "client_body_timeout 5q;",
        "\"client_body_timeout\" directive invalid value",
    );
    e("lingering_close sometimes;", "invalid value \"sometimes\"");
    e(
        "lingering_time forever;",
        "\"lingering_time\" directive invalid value",
    );
    e(
        "lingering_timeout 1y1y;",
        "\"lingering_timeout\" directive invalid value",
    );
    e(
        "reset_timedout_connection yes;",
        "invalid value \"yes\" in \"reset_timedout_connection\" directive, \
         it must be \"on\" or \"off\"",
    );
    e("keepalive_disable opera;", "invalid value \"opera\"");
    e(
        "keepalive_disable msie6 safari none;",
        "invalid number of arguments in \"keepalive_disable\" directive",
    );
    e(
        "keepalive_disable;",
        "invalid number of arguments in \"keepalive_disable\" directive",
    );
    e(
        "add_header X;",
        "invalid number of arguments in \"add_header\" directive",
    );
    e(
        "add_header X y always z;",
        "invalid number of arguments in \"add_header\" directive",
    );
    e(
        "add_header X y sometimes;",
        "invalid parameter \"sometimes\"",
    );
    e("add_header X $nope;", "unknown \"nope\" variable");
    e("add_header X a$;", "invalid variable name");
    e(
        "stub_status a b;",
        "invalid number of arguments in \"stub_status\" directive",
    );
    e(
        "client_body_timeout;",
        "invalid number of arguments in \"client_body_timeout\" directive",
    );
    e(
        "lingering_close on off;",
        "invalid number of arguments in \"lingering_close\" directive",
    );
    let dup = |d: &str, v: &str| {
        assert_err(
            &wrap(&format!("{d} {v};\n{d} {v};")),
            &format!("\"{d}\" directive is duplicate"),
            4,
        )
    };
    dup("client_max_body_size", "1m");
    dup("client_body_timeout", "1s");
    dup("lingering_close", "on");
    dup("lingering_time", "1s");
    dup("lingering_timeout", "1s");
    dup("reset_timedout_connection", "on");
}

#[test]
fn wrong_contexts() {
    assert_err(
        "http {\nstub_status;\n}",
        "\"stub_status\" directive is not allowed here",
        2,
    );
    for d in [
        "client_max_body_size 1m",
        "client_body_timeout 1s",
        "lingering_close on",
        "lingering_time 1s",
        "lingering_timeout 1s",
        "reset_timedout_connection on",
        "keepalive_disable none",
        "stub_status",
        "add_header X y",
    ] {
        let name = d.split(' ').next().unwrap();
        let msg = format!("\"{name}\" directive is not allowed here");
        assert_err(&format!("{d};"), &msg, 1);
        assert_err(&format!("events {{\n{d}; }}"), &msg, 2);
    }
    assert_err(
        "http { server { location / {\nstub_status { } } } }",
        "directive \"stub_status\" is not terminated by \";\"",
        2,
    );
}
