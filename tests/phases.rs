//! nginx's request phases over TCP: nested and named locations, `try_files`,
//! `error_page` in all its forms, `alias`, `root` with variables, the rewrite
//! module (`rewrite` flags, `set`, `if`, `break`, the 10-change cycle limit),
//! `map` (exact, regex with captures, hostnames) and `allow`/`deny`. Every
//! expectation was checked against a real nginx (Debian's 1.22.1) running the
//! same configurations.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{
    Conn, Prefix, Response, Server, WORKER_CONNECTIONS, conf_at_level, get, server_block,
    test_config,
};

const WITHIN: Duration = Duration::from_secs(3);

/// A prefix holding `files` (paths below the prefix) and a server running
/// `http_body` in it.
fn start(files: &[(&str, &str)], http_body: &str) -> Server {
    let p = Prefix::new("phases");
    for (path, text) in files {
        p.write(path, text);
    }
    Server::start_with(p, WORKER_CONNECTIONS, http_body)
}

/// Like [`start`] with one server block (`root html;`) holding `body`.
fn serve(files: &[(&str, &str)], body: &str) -> Server {
    start(files, &server_block(body))
}

/// GET `path` on `c`; asserts `status`, keep-alive and `body`.
#[track_caller]
fn expect(c: &mut Conn, path: &str, status: u16, body: &str) -> Response {
    let r = c.request(get(path));
    r.assert_status(status).assert_keepalive().assert_body(body);
    r
}

/// Waits for a stderr line containing every one of `parts`.
#[track_caller]
fn assert_log_line(s: &Server, parts: &[&str]) {
    let found = s.wait_lines(|l| parts.iter().all(|p| l.contains(p)), 1, WITHIN);
    assert!(
        found,
        "no log line with {parts:?}; stderr:\n{}",
        s.log_text()
    );
}

/// The absolute URL nginx puts in a Location for `path`.
fn abs(s: &Server, path: &str) -> String {
    format!("http://localhost:{}{path}", s.addr().port())
}

#[test]
fn nested_locations_inherit_and_search_in_nginx_order() {
    let s = serve(
        &[
            ("html/r1/outer/inner/f.html", "inner file"),
            ("html/r1/outer/own/f.html", "own file"),
            ("html/r1/outer/plain/a.md", "plain md"),
            ("html/caret/a.txt", "caret txt"),
            ("html/ix/idx.txt", "never served"),
        ],
        r#"
    location /outer/ {
        root html/r1;
        add_header X-Outer outer;
        location /outer/inner/ { }
        location /outer/own/ { add_header X-Own own; }
        location ^~ /outer/plain/ { }
        location ~ \.(txt|md)$ { return 200 "nested regex $uri"; }
    }
    location ^~ /caret/ { }
    location /ix/ { index idx.txt; }
    location ~ \.txt$ { return 200 "top regex $uri"; }
    location ~ \.css$ { return 200 "top css"; }
    location / { return 200 "root"; }
"#,
    );
    let mut c = s.connect();
    // The regex nested in /outer/ is tried before the top-level ones, also
    // below a nested prefix without regexes of its own.
    let r = expect(&mut c, "/outer/a.txt", 200, "nested regex /outer/a.txt");
    assert_eq!(r.header("X-Outer"), Some("outer"), "{r:?}");
    expect(
        &mut c,
        "/outer/inner/b.txt",
        200,
        "nested regex /outer/inner/b.txt",
    );
    // No nested regex matches: the top-level regexes come next.
    expect(&mut c, "/outer/b.css", 200, "top css");
    // A nested prefix inherits root and add_header ...
    let r = expect(&mut c, "/outer/inner/f.html", 200, "inner file");
    assert_eq!(r.header("X-Outer"), Some("outer"), "{r:?}");
    assert_eq!(r.header("Content-Type"), Some("text/html"), "{r:?}");
    // ... unless it has add_header of its own.
    let r = expect(&mut c, "/outer/own/f.html", 200, "own file");
    assert_eq!(r.header("X-Own"), Some("own"), "{r:?}");
    assert_eq!(r.header("X-Outer"), None, "{r:?}");
    // A nested ^~ skips the regexes of its own level only ...
    let r = expect(&mut c, "/outer/plain/a.md", 200, "plain md");
    assert_eq!(r.header("X-Outer"), Some("outer"), "{r:?}");
    // ... those of the level above still match.
    expect(
        &mut c,
        "/outer/plain/a.txt",
        200,
        "top regex /outer/plain/a.txt",
    );
    // A top-level ^~ skips them all.
    expect(&mut c, "/caret/a.txt", 200, "caret txt");
    expect(&mut c, "/x/a.txt", 200, "top regex /x/a.txt");
    // The index file is an internal redirect: the location is found again.
    expect(&mut c, "/ix/", 200, "top regex /ix/idx.txt");
    expect(&mut c, "/x/a.html", 200, "root");
}

#[test]
fn try_files_checks_files_dirs_named_locations_and_uris() {
    let s = serve(
        &[
            ("html/t/f.html", "file"),
            ("html/t/d/index.html", "dir index"),
            ("html/n/here.html", "here"),
            ("html/store/page.html", "alias page"),
        ],
        r#"
    location /t/ { try_files $uri $uri/ =404; }
    location /n/ { try_files $uri @fallback; }
    location @fallback { return 200 "fallback $uri $args"; }
    location /q/ { try_files $uri /show?q=$uri&x=1; }
    location = /show { return 200 "show $uri $args"; }
    location /al/ { alias html/store/; try_files $uri $uri.html =404; }
    location /loud/ { }
"#,
    );
    let mut c = s.connect();
    expect(&mut c, "/t/f.html", 200, "file");
    // `$uri/` matches the directory: the static module adds the slash ...
    let r = c.request(get("/t/d"));
    r.assert_status(301).assert_keepalive();
    assert_eq!(r.header("Location"), Some(abs(&s, "/t/d/").as_str()));
    // ... and with it, the index module redirects internally.
    expect(&mut c, "/t/d/", 200, "dir index");
    let r = c.request(get("/t/missing"));
    r.assert_status(404).assert_keepalive();
    assert!(r.text().contains("<title>404 Not Found</title>"), "{r:?}");
    expect(&mut c, "/n/here.html", 200, "here");
    expect(&mut c, "/n/gone?a=1", 200, "fallback /n/gone a=1");
    // The URI fallback brings its own arguments instead of the request's.
    expect(&mut c, "/q/zz?a=b", 200, "show /show q=/q/zz&x=1");
    // With alias, `$uri` is looked up below the alias.
    expect(&mut c, "/al/page.html", 200, "alias page");
    expect(&mut c, "/al/page", 200, "alias page");
    c.request(get("/al/none")).assert_status(404);
    // try_files does not log a missing file; a plain static 404 does.
    c.request(get("/loud/sentinel")).assert_status(404);
    assert_log_line(&s, &["[error]", "loud/sentinel\" failed"]);
    assert_eq!(s.log_count("t/missing"), 0, "{}", s.log_text());
    assert_eq!(s.log_count("n/gone"), 0, "{}", s.log_text());
}

#[test]
fn error_page_in_all_its_forms() {
    let s = serve(
        &[
            ("html/err404.html", "custom 404"),
            ("html/err403.html", "custom 403"),
        ],
        r#"
    location /e-plain/ { error_page 404 /err404.html; }
    location /e-200/ { error_page 404 =200 /err404.html; }
    location /e-eq/ { error_page 404 = /dyn; }
    location /e-keep/ { error_page 404 /dyn; }
    location /e-named/ { error_page 404 @named; }
    location /e-url/ { error_page 404 http://example.com/; }
    location /e-301/ { error_page 404 =301 http://example.com/x; }
    location /e-missing/ { error_page 404 /nonexistent.html; }
    location /e-403/ { error_page 403 /err403.html; return 403; }
    location = /dyn { return 202 "dyn $uri $args"; }
    location @named { return 200 "named $uri"; }
    location /r1/ { recursive_error_pages on; error_page 404 /r2/x; }
    location /n1/ { error_page 404 /r2/x; }
    location /r2/ { error_page 404 = /dyn; return 404; }
"#,
    );
    let mut c = s.connect();
    let r = expect(&mut c, "/e-plain/x", 404, "custom 404");
    assert_eq!(r.header("Content-Type"), Some("text/html"), "{r:?}");
    expect(&mut c, "/e-200/x?a=1", 200, "custom 404");
    // `=`: the status of the page that answers.
    expect(&mut c, "/e-eq/x", 202, "dyn /dyn ");
    // Without `=` the original status stays, also for a named location.
    expect(&mut c, "/e-keep/x", 404, "dyn /dyn ");
    expect(&mut c, "/e-named/x", 404, "named /e-named/x");
    let r = c.request(get("/e-url/x"));
    r.assert_status(302).assert_keepalive();
    assert_eq!(r.header("Location"), Some("http://example.com/"), "{r:?}");
    assert!(r.text().contains("302 Found"), "{r:?}");
    let r = c.request(get("/e-301/x"));
    r.assert_status(301).assert_keepalive();
    assert_eq!(r.header("Location"), Some("http://example.com/x"), "{r:?}");
    // The error page is missing too: nginx's own 404, both misses logged.
    let r = c.request(get("/e-missing/x"));
    r.assert_status(404).assert_keepalive();
    assert!(r.text().contains("<title>404 Not Found</title>"), "{r:?}");
    assert_log_line(&s, &["[error]", "/e-missing/x\" failed"]);
    assert_log_line(&s, &["[error]", "/nonexistent.html\" failed"]);
    // `return 403` goes to the location's error_page.
    let r = expect(&mut c, "/e-403/x", 403, "custom 403");
    assert_eq!(r.header("Content-Type"), Some("text/html"), "{r:?}");
    // recursive_error_pages on: the 404 of the error page finds its own.
    expect(&mut c, "/r1/x", 202, "dyn /dyn ");
    // off: the second error gets the plain page.
    let r = c.request(get("/n1/x"));
    r.assert_status(404).assert_keepalive();
    assert!(r.text().contains("<title>404 Not Found</title>"), "{r:?}");
}

#[test]
fn error_page_uri_replaces_the_request_arguments() {
    let s = serve(
        &[],
        r#"
    location /e-eq/ { error_page 404 = /dyn; }
    location /e-keep/ { error_page 404 /dyn; }
    location /e-args/ { error_page 404 /dyn?from=$uri; }
    location /e-named/ { error_page 404 @named; }
    location = /dyn { return 200 "dyn $uri [$args]"; }
    location @named { return 200 "named $uri [$args]"; }
"#,
    );
    let mut c = s.connect();
    expect(&mut c, "/e-eq/x?a=1", 200, "dyn /dyn []");
    expect(&mut c, "/e-keep/x?a=1", 404, "dyn /dyn []");
    expect(&mut c, "/e-args/x?a=1", 404, "dyn /dyn [from=/e-args/x]");
    // A named location keeps the request's URI and arguments.
    expect(&mut c, "/e-named/x?a=1", 404, "named /e-named/x [a=1]");
}

#[test]
fn error_page_redirect_turns_a_post_into_a_get() {
    let s = serve(
        &[],
        r#"
    location /ep/ { error_page 404 /m; }
    location = /m { return 200 "m=$request_method"; }
"#,
    );
    let mut c = s.connect();
    let post = "POST /ep/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc";
    let r = c.request(post);
    r.assert_status(404).assert_keepalive().assert_body("m=GET");
    // HEAD stays HEAD (no body follows).
    c.send("HEAD /ep/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.read_head_response();
    r.assert_status(404).assert_keepalive();
    assert_eq!(r.header("Content-Length"), Some("6"), "{r:?}");
    expect(&mut c, "/ep/y", 404, "m=GET");
}

fn rewrite_server() -> Server {
    serve(
        &[("html/target/brk.txt", "break file")],
        r#"
    rewrite ^/srv/(.*)$ /target/srv-$1;
    location /rw/ {
        rewrite ^/rw/last/(.*)$ /target/$1 last;
        rewrite ^/rw/break/(.*)$ /target/$1 break;
        rewrite ^/rw/redirect/(.*)$ /target/$1 redirect;
        rewrite ^/rw/permanent/(.*)$ /target/$1 permanent;
        rewrite ^/rw/noargs/(.*)$ /target/$1? last;
        rewrite ^/rw/withargs/(.*)$ /target/$1?new=$1 last;
        rewrite ^/rw/ext/(.*)$ http://example.com/$1;
        rewrite ^/rw/chain/(\w+)$ /rw/chained/$1;
        rewrite ^/rw/chained/(\w+)$ /target/$1-2 last;
        return 200 "rw $uri $args";
    }
    location /target/ { return 200 "target $uri $args"; }
    location /loop/ { rewrite ^/loop/(.*)$ /loop/$1 last; }
    location /n/ {
        if ($uri = /n/$arg_w) { return 200 "reached $uri"; }
        rewrite ^/n/(x*)$ /n/$1x last;
    }
    location ~ ^/loc/(.*)$ {
        set $saved $1;
        rewrite ^ /target/$1-$saved last;
    }
"#,
    )
}

#[test]
fn rewrite_flags_captures_and_arguments() {
    let s = rewrite_server();
    let mut c = s.connect();
    // last: the location is found again for the new URI; args appended.
    expect(&mut c, "/rw/last/foo?a=1", 200, "target /target/foo a=1");
    // A trailing `?` drops the request's arguments ...
    expect(&mut c, "/rw/noargs/foo?a=1", 200, "target /target/foo ");
    // ... arguments of the replacement come first.
    expect(
        &mut c,
        "/rw/withargs/foo?a=1",
        200,
        "target /target/foo new=foo&a=1",
    );
    // No flag: the next rewrite sees the new URI.
    expect(&mut c, "/rw/chain/z", 200, "target /target/z-2 ");
    // Server-level rewrite runs before a location is looked for.
    expect(&mut c, "/srv/q", 200, "target /target/srv-q ");
    // break: stays in /rw/ (no return, no /target/) and serves the file.
    let r = expect(&mut c, "/rw/break/brk.txt", 200, "break file");
    assert_eq!(r.header("Content-Type"), Some("text/plain"), "{r:?}");
    expect(&mut c, "/rw/other?b=2", 200, "rw /rw/other b=2");
    let r = c.request(get("/rw/redirect/foo?a=1"));
    r.assert_status(302).assert_keepalive();
    assert_eq!(
        r.header("Location"),
        Some(abs(&s, "/target/foo?a=1").as_str())
    );
    assert!(r.text().contains("302 Found"), "{r:?}");
    let r = c.request(get("/rw/permanent/foo"));
    r.assert_status(301).assert_keepalive();
    assert_eq!(r.header("Location"), Some(abs(&s, "/target/foo").as_str()));
    assert!(r.text().contains("301 Moved Permanently"), "{r:?}");
    // A replacement starting with http:// redirects (302) as it is.
    let r = c.request(get("/rw/ext/bar?a=1"));
    r.assert_status(302).assert_keepalive();
    assert_eq!(r.header("Location"), Some("http://example.com/bar?a=1"));
    // The rewrite's own regex sets the captures: `^` has none.
    expect(&mut c, "/loc/abc", 200, "target /target/-abc ");
}

#[test]
fn rewrite_cycle_stops_after_ten_changes_with_500() {
    let s = rewrite_server();
    let mut c = s.connect();
    let r = c.request(get("/loop/x"));
    r.assert_status(500).assert_close();
    assert!(r.text().contains("500 Internal Server Error"), "{r:?}");
    c.expect_closed(WITHIN);
    assert_log_line(
        &s,
        &[
            "[error]",
            "rewrite or internal redirection cycle while processing \"/loop/x\"",
        ],
    );
    // Ten changes are allowed, the eleventh is not.
    let ten = "x".repeat(10);
    let r = s.request(&get(&format!("/n/?w={ten}")));
    r.assert_status(200)
        .assert_body(&format!("reached /n/{ten}"));
    let r = s.request(&get(&format!("/n/?w={ten}x")));
    r.assert_status(500).assert_close();
    let cycle = format!("cycle while processing \"/n/{ten}x\"");
    assert_log_line(&s, &["[error]", &cycle]);
    // The server goes on.
    s.request(&get("/rw/last/y"))
        .assert_status(200)
        .assert_body("target /target/y ");
}

#[test]
fn if_conditions_set_and_captures() {
    let p = Prefix::new("phases-if");
    p.write("html/file.txt", "f");
    p.mkdir("html/dir");
    let exe = p.write("html/run.sh", "#!/bin/sh\n");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.write("html/brk/f.txt", "break served");
    let s = Server::start_with(
        p,
        WORKER_CONNECTIONS,
        &server_block(
            r#"
    location /cond {
        set $r "";
        if ($arg_a) { set $r "${r}var;"; }
        if ($arg_b = x) { set $r "${r}eq;"; }
        if ($arg_b != x) { set $r "${r}ne;"; }
        if ($arg_c ~ ^ab+c$) { set $r "${r}re;"; }
        if ($arg_c ~* ^ABC$) { set $r "${r}rei;"; }
        if ($arg_c !~ ^ab) { set $r "${r}nre;"; }
        if ($arg_c !~* ^AB) { set $r "${r}nrei;"; }
        if (-f $document_root/$arg_f) { set $r "${r}f;"; }
        if (!-f $document_root/$arg_f) { set $r "${r}!f;"; }
        if (-d $document_root/$arg_f) { set $r "${r}d;"; }
        if (!-d $document_root/$arg_f) { set $r "${r}!d;"; }
        if (-e $document_root/$arg_f) { set $r "${r}e;"; }
        if (!-e $document_root/$arg_f) { set $r "${r}!e;"; }
        if (-x $document_root/$arg_f) { set $r "${r}x;"; }
        if (!-x $document_root/$arg_f) { set $r "${r}!x;"; }
        return 200 "$r";
    }
    location /cap/ {
        if ($uri ~ ^/cap/(\w+)/(\d+)$) { return 200 "cap $2-$1"; }
        return 200 "no cap";
    }
    location /brk/ {
        if ($arg_stop) { break; }
        return 200 "not stopped";
    }
    location /only-one-if {
        set $true 1;
        if ($true) { add_header X-First 1; }
        if ($true) { add_header X-Second 2; }
        return 200 "second";
    }
    location /quiet {
        uninitialized_variable_warn off;
        return 200 "[$never]";
    }
    location /uninit {
        if ($arg_never) { set $never "x"; }
        if ($arg_s) { set $maybe "set"; }
        return 200 "[$maybe]";
    }
"#,
        ),
    );
    let mut c = s.connect();
    let f = "b=x&c=abbc&f=file.txt";
    expect(
        &mut c,
        &format!("/cond?a=1&{f}"),
        200,
        "var;eq;re;f;!d;e;!x;",
    );
    // "0" and "" are false.
    expect(&mut c, &format!("/cond?a=0&{f}"), 200, "eq;re;f;!d;e;!x;");
    expect(&mut c, "/cond?b=y&c=ABC&f=dir", 200, "ne;rei;nre;!f;d;e;x;");
    expect(
        &mut c,
        "/cond?c=xyz&f=none",
        200,
        "ne;nre;nrei;!f;!d;!e;!x;",
    );
    expect(&mut c, "/cond?c=abc&f=run.sh", 200, "ne;re;rei;f;!d;e;x;");
    expect(&mut c, "/cap/ab/12", 200, "cap 12-ab");
    expect(&mut c, "/cap/ab/cd", 200, "no cap");
    // break ends the rewrite directives; the content phase serves the file.
    expect(&mut c, "/brk/f.txt?stop=1", 200, "break served");
    expect(&mut c, "/brk/f.txt", 200, "not stopped");
    expect(&mut c, "/uninit?s=1", 200, "[set]");
    assert_eq!(s.log_count("using uninitialized"), 0, "{}", s.log_text());
    // The last true `if` block is the configuration the request ends in.
    let r = expect(&mut c, "/only-one-if", 200, "second");
    assert_eq!(r.header("X-Second"), Some("2"), "{r:?}");
    assert_eq!(r.header("X-First"), None, "{r:?}");
    expect(&mut c, "/quiet", 200, "[]");
    expect(&mut c, "/uninit", 200, "[]");
    assert_log_line(&s, &["[warn]", "using uninitialized \"maybe\" variable"]);
    assert_eq!(s.log_count("\"never\""), 0, "{}", s.log_text());
}

#[test]
fn a_quoted_if_operand_may_touch_the_closing_parenthesis() {
    let s = serve(
        &[],
        r#"
    location / {
        if ($http_user_agent ~* "^bot") { return 200 "bot"; }
        if ($arg_a = 'x-y') { return 200 "x-y"; }
        return 200 "other";
    }
"#,
    );
    let mut c = s.connect();
    let r = c.request("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: BotX\r\n\r\n");
    r.assert_status(200).assert_body("bot");
    expect(&mut c, "/?a=x-y", 200, "x-y");
    expect(&mut c, "/?a=x", 200, "other");
}

#[test]
fn a_204_has_no_body_and_no_content_headers() {
    let s = serve(
        &[],
        r#"
    location = /t { return 204 "body text"; }
    location = /e { return 204; }
    location = /next { return 200 "next"; }
"#,
    );
    let mut c = s.connect();
    c.send(
        "GET /t HTTP/1.1\r\nHost: localhost\r\n\r\n\
         GET /e HTTP/1.1\r\nHost: localhost\r\n\r\n\
         GET /next HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let all = String::from_utf8_lossy(&c.read_to_close(WITHIN)).into_owned();
    let parts: Vec<&str> = all.split("\r\n\r\n").collect();
    assert_eq!(parts.len(), 4, "{all:?}");
    for head in &parts[..2] {
        assert!(head.starts_with("HTTP/1.1 204 No Content\r\n"), "{all:?}");
        assert!(!head.contains("Content-Length"), "{all:?}");
        assert!(!head.contains("Content-Type"), "{all:?}");
    }
    // Nothing between the 204s and the next response.
    assert!(parts[1].starts_with("HTTP/1.1 204"), "{all:?}");
    assert!(parts[2].starts_with("HTTP/1.1 200 OK\r\n"), "{all:?}");
    assert_eq!(parts[3], "next", "{all:?}");
}

#[test]
fn map_exact_default_regex_and_hostnames() {
    let s = start(
        &[],
        &format!(
            r#"
    map $arg_k $mk {{
        default dflt;
        apple fruit;
        ~^v(\d+)$ /new/$1;
        v7 seven;
        ~*^IMG-(?<name>\w+)$ "img $name";
    }}
    map $host $mh {{
        hostnames;
        default none;
        exact.example.com exact;
        *.example.com star-com;
        *.b.example.com deep;
        .example.org dot-org;
        www.example.* www-star;
    }}
{}"#,
            server_block(r#"    location / { return 200 "$mk|$mh"; }"#)
        ),
    );
    let mut c = s.connect();
    let mut ask = |target: &str, host: &str| {
        let r = c.request(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        r.assert_status(200).assert_keepalive();
        r.text()
    };
    assert_eq!(ask("/", "localhost"), "dflt|none");
    assert_eq!(ask("/?k=apple", "localhost"), "fruit|none");
    // String keys match case-insensitively.
    assert_eq!(ask("/?k=APPLE", "localhost"), "fruit|none");
    assert_eq!(ask("/?k=apples", "localhost"), "dflt|none");
    assert_eq!(ask("/?k=v42", "localhost"), "/new/42|none");
    // An exact key wins over a regex written before it.
    assert_eq!(ask("/?k=v7", "localhost"), "seven|none");
    assert_eq!(ask("/?k=img-cat", "localhost"), "img cat|none");
    assert_eq!(ask("/", "exact.example.com"), "dflt|exact");
    assert_eq!(ask("/", "a.example.com"), "dflt|star-com");
    // The longest leading wildcard wins.
    assert_eq!(ask("/", "a.b.example.com"), "dflt|deep");
    assert_eq!(ask("/", "x.a.example.com"), "dflt|star-com");
    assert_eq!(ask("/", "example.com"), "dflt|none");
    assert_eq!(ask("/", "example.org"), "dflt|dot-org");
    assert_eq!(ask("/", "x.y.example.org"), "dflt|dot-org");
    assert_eq!(ask("/", "www.example.net"), "dflt|www-star");
    // $host is lower-cased and has no port.
    assert_eq!(ask("/", "A.Example.COM:8080"), "dflt|star-com");
    assert_eq!(ask("/", "wwwexample.net"), "dflt|none");
}

#[test]
fn allow_and_deny() {
    let s = serve(
        &[
            ("html/deny-all/f.txt", "x"),
            ("html/local/f.txt", "local ok"),
            ("html/cidr/f.txt", "x"),
            ("html/other/f.txt", "x"),
            ("html/err403.html", "custom 403"),
        ],
        r#"
    location /deny-all/ { deny all; }
    location /local/ { allow 127.0.0.1; deny all; }
    location /cidr/ { deny 127.0.0.0/8; allow all; }
    location /other/ { allow 10.0.0.0/8; allow ::1; deny all; }
    location /ret/ { deny all; return 200 "rewrite phase first"; }
    location /page/ { deny all; error_page 403 /err403.html; }
"#,
    );
    let mut c = s.connect();
    let r = c.request(get("/deny-all/f.txt"));
    r.assert_status(403).assert_keepalive();
    assert!(r.text().contains("<title>403 Forbidden</title>"), "{r:?}");
    assert_log_line(
        &s,
        &[
            "[error]",
            "access forbidden by rule, client: 127.0.0.1",
            "GET /deny-all/f.txt HTTP/1.1",
        ],
    );
    expect(&mut c, "/local/f.txt", 200, "local ok");
    c.request(get("/cidr/f.txt")).assert_status(403);
    c.request(get("/other/f.txt")).assert_status(403);
    expect(&mut c, "/page/f.txt", 403, "custom 403");
    assert!(s.wait_log_count("access forbidden by rule", 4, WITHIN));
    // `return` runs in the rewrite phase, before access is checked.
    expect(&mut c, "/ret/x", 200, "rewrite phase first");
}

#[test]
fn alias_and_root_with_variables() {
    let s = serve(
        &[
            ("html/store/images/p.txt", "picture"),
            ("html/v1/vr/f.txt", "root v1"),
            ("html/v2/sr/f.txt", "root v2"),
        ],
        r#"
    location /pics/ { alias html/store/images/; }
    location ~ ^/a/(.*)$ { alias html/store/$1; }
    location /vr/ { root html/$arg_d; }
    location /sr/ { set $d v2; root html/$d; }
"#,
    );
    let mut c = s.connect();
    let r = expect(&mut c, "/pics/p.txt", 200, "picture");
    assert_eq!(r.header("Content-Type"), Some("text/plain"), "{r:?}");
    expect(&mut c, "/a/images/p.txt", 200, "picture");
    c.request(get("/a/images/none.txt")).assert_status(404);
    assert_log_line(&s, &["[error]", "store/images/none.txt\" failed"]);
    expect(&mut c, "/vr/f.txt?d=v1", 200, "root v1");
    c.request(get("/vr/f.txt?d=v2")).assert_status(404);
    expect(&mut c, "/sr/f.txt", 200, "root v2");
}

#[test]
fn a_rewritten_request_split_at_every_offset() {
    // Debug level: each part is waited for by its `recv:` line, when there is one.
    let body = server_block(
        r#"
    location /rw/ { rewrite ^/rw/(\w+)$ /to/$1?x=1 last; }
    location /to/ { return 200 "to $uri $args"; }
"#,
    );
    let s = Server::start_conf(
        Prefix::new("phases-split"),
        &conf_at_level("debug", WORKER_CONNECTIONS, &body),
    );
    let req = "GET /rw/abc?q=2 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let bytes = req.as_bytes();
    let is_recv = |l: &str| l.contains("recv: fd:");
    let mut sync = true;
    let mut keep = s.connect();
    for at in 1..bytes.len() {
        let mut fresh = s.connect();
        for c in [&mut fresh, &mut keep] {
            let before = s.count_lines(is_recv);
            c.send(&bytes[..at]);
            if sync && !s.wait_lines(is_recv, before + 1, Duration::from_secs(2)) {
                sync = false;
            }
            c.send(&bytes[at..]);
            let r = c.read_response();
            assert_eq!(r.status, 200, "split at {at}: {r:?}");
            assert_eq!(r.text(), "to /to/abc x=1&q=2", "split at {at}");
            r.assert_keepalive();
        }
    }
    keep.expect_open(Duration::from_millis(100));
}

/// Asserts `holdfast -t` refuses `server_body` with `msg` at line `line` of
/// the file (the server body starts at line 6).
#[track_caller]
fn assert_refused(server_body: &str, msg: &str, line: usize) {
    let p = Prefix::new("phases-conf");
    let file = p.write_conf(&format!(
        "error_log stderr info;\nevents {{ }}\nhttp {{\n    server {{\n\
         \x20       listen 127.0.0.1:0;\n{server_body}\n    }}\n}}\n"
    ));
    let out = test_config(&p, &file, Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let want = format!("{msg} in {}:{line}", file.display());
    let emerg = out.stderr.lines().find(|l| l.contains("[emerg]"));
    assert!(
        emerg.is_some_and(|l| l.contains(&want)),
        "want [emerg] {want:?} in:\n{}",
        out.stderr
    );
}

#[test]
fn phase_directives_are_checked_at_their_line() {
    assert_refused(
        "location / {\n rewrite ^/a /b bogus;\n}",
        "invalid parameter \"bogus\"",
        7,
    );
    assert_refused(
        "location / {\n if (-q /x) { }\n}",
        "invalid condition \"-q\"",
        7,
    );
    assert_refused(
        "location / {\n\n if ($uri @ x) { return 200; }\n}",
        "unexpected \"@\" in condition",
        8,
    );
    assert_refused(
        "location / {\n location @x { }\n}",
        "named location \"@x\" can be on the server level only",
        7,
    );
    assert_refused(
        "error_page 200 /x;",
        "value \"200\" must be between 300 and 599",
        6,
    );
}

#[test]
fn a_map_value_lasts_the_request_unless_volatile() {
    // map_volatile.t's shape: the index redirect changes $uri; a cached map
    // still says what it said for the first URI, a volatile one looks again.
    let s = start(
        &[],
        "    map $uri $cached { /1/ /1/redirect; /1/redirect uncached; }\n\
         \x20   map $uri $fresh { volatile; /2/ /2/redirect; /2/redirect uncached; }\n\
         \x20   server {\n\
         \x20       listen 127.0.0.1:0;\n\
         \x20       server_name localhost;\n\
         \x20       location /1 { index $cached; }\n\
         \x20       location /1/redirect { add_header X-URI $cached always; }\n\
         \x20       location /2 { index $fresh; }\n\
         \x20       location /2/redirect { add_header X-URI $fresh always; }\n\
         \x20   }",
    );
    let mut c = s.connect();
    let r = c.request(get("/1/"));
    r.assert_status(404).assert_keepalive();
    assert_eq!(r.header("X-URI"), Some("/1/redirect"), "{r:?}");
    let r = c.request(get("/2/"));
    r.assert_status(404).assert_keepalive();
    assert_eq!(r.header("X-URI"), Some("uncached"), "{r:?}");
}

#[test]
fn error_page_400_answers_a_head_refused_before_its_server_was_known() {
    // http_absolute_redirect.t's shape: a bad Host is refused while the head
    // is read; the default server's error_page still applies, as nginx's.
    let s = serve(
        &[("html/bad.html", "bad request page")],
        "    error_page 400 /bad.html;",
    );
    let mut c = s.connect();
    c.send("GET / HTTP/1.1\r\nHost: .\r\n\r\n");
    let r = c.read_response();
    r.assert_status(400)
        .assert_close()
        .assert_body("bad request page");
    c.expect_closed(WITHIN);
}

#[test]
fn access_unix_rule_and_a_map_include() {
    use std::io::{Read, Write};
    // `allow unix:` lets unix-socket clients through where TCP ones are
    // denied; a map's keys may come from an `include`d file.
    let p = Prefix::new("phases-unix");
    let sock = p.path().join("a.sock");
    p.write("conf/keys.map", "/k1 one;\n~^/k(\\d)$ digit-$1;\n");
    // A static file: `return` would answer before the access phase runs.
    p.write("html/u", "unix ok");
    let s = Server::start_with(
        p,
        WORKER_CONNECTIONS,
        &format!(
            "    map $uri $key {{ default none; include keys.map; }}\n\
             \x20   server {{\n\
             \x20       listen 127.0.0.1:0;\n\
             \x20       listen unix:{};\n\
             \x20       location /u {{ allow unix:; deny all; }}\n\
             \x20       location /k {{ return 200 \"key=$key\"; }}\n\
             \x20   }}",
            sock.display()
        ),
    );
    let mut c = s.connect();
    c.request(get("/u")).assert_status(403).assert_keepalive();
    expect(&mut c, "/k1", 200, "key=one");
    expect(&mut c, "/k7", 200, "key=digit-7");
    expect(&mut c, "/kx", 200, "key=none");
    let mut u = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    u.set_read_timeout(Some(WITHIN)).unwrap();
    u.write_all(b"GET /u HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    u.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nunix ok"), "{text}");
}
