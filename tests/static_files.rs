//! Static files (ngx_http_static_module, ngx_http_index_module): GET and
//! HEAD, types from `mime.types`, 404 / 405 / 403, the trailing-slash redirect,
//! index files, and URIs that try to leave the root.

mod common;

use std::time::Duration;

use common::{Prefix, Server, WORKER_CONNECTIONS, get, server_block};

const SHORT: Duration = Duration::from_millis(200);

/// A prefix with some files under `html/` and a secret next to the root.
fn site() -> Prefix {
    let p = Prefix::new("static");
    p.write("html/a.txt", "hello static\n");
    p.write("html/style.css", "body { color: red }\n");
    p.write("html/page.HTML", "<b>upper</b>");
    p.write("html/data.weird", "weird");
    p.write("html/noext", "plain");
    p.write("html/dir/index.html", "<h1>dir index</h1>\n");
    p.write("html/dir/inner.txt", "inner");
    p.mkdir("html/empty");
    p.write("secret.txt", SECRET);
    p
}

const SECRET: &str = "TOP-SECRET-6f1c2a";

fn start(extra: &str) -> Server {
    Server::start_with(
        site(),
        WORKER_CONNECTIONS,
        &server_block(&format!("    index index.html;\n{extra}")),
    )
}

#[test]
fn get_file_has_length_type_and_last_modified() {
    let s = start("");
    let mut c = s.connect();
    let r = c.request(get("/a.txt"));
    r.assert_status(200)
        .assert_keepalive()
        .assert_body("hello static\n");
    assert_eq!(r.header("Content-Length"), Some("13"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let lm = r.header("Last-Modified").expect("Last-Modified");
    assert!(lm.ends_with(" GMT"), "Last-Modified: {lm}");
    assert!(r.header("Date").is_some());
    assert!(
        r.header("Server")
            .is_some_and(|v| v.starts_with("holdfast"))
    );
    let r = c.request(get("/style.css"));
    r.assert_status(200);
    assert_eq!(r.header("Content-Type"), Some("text/css"));
}

#[test]
fn content_type_extension_is_case_insensitive_and_defaults() {
    let s = start("    default_type application/octet-stream;");
    let mut c = s.connect();
    let r = c.request(get("/page.HTML"));
    r.assert_status(200);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    let r = c.request(get("/data.weird"));
    r.assert_status(200).assert_body("weird");
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    let r = c.request(get("/noext"));
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
}

#[test]
fn head_has_headers_but_no_body() {
    let s = start("");
    let mut c = s.connect();
    let g = c.request(get("/a.txt"));
    c.send("HEAD /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let h = c.read_head_response();
    h.assert_status(200).assert_keepalive();
    assert_eq!(h.header("Content-Length"), Some("13"));
    assert_eq!(h.header("Content-Type"), Some("text/plain"));
    assert_eq!(h.header("Last-Modified"), g.header("Last-Modified"));
    // No body bytes follow the HEAD response: the next response starts cleanly.
    c.request(get("/style.css"))
        .assert_status(200)
        .assert_body("body { color: red }\n");
}

#[test]
fn head_of_missing_file_is_404_without_body() {
    let s = start("");
    let mut c = s.connect();
    c.send("HEAD /nope.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    c.read_head_response().assert_status(404);
    c.request(get("/a.txt")).assert_status(200);
}

#[test]
fn missing_file_is_404() {
    let s = start("");
    let r = s.request(&get("/missing.html"));
    r.assert_status(404).assert_keepalive();
    assert!(r.text().contains("<title>404 Not Found</title>"), "{r:?}");
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    s.assert_log("open() \"", Duration::from_secs(3));
}

#[test]
fn post_to_static_file_is_405() {
    let s = start("");
    let mut c = s.connect();
    let r = c.request("POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc");
    r.assert_status(405);
    assert!(r.text().contains("405 Not Allowed"), "{r:?}");
    assert!(!r.text().contains("hello static"));
}

#[test]
fn other_methods_on_static_file_are_405() {
    let s = start("");
    for m in ["PUT", "DELETE", "OPTIONS"] {
        let r = s.request(&format!("{m} /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        r.assert_status(405);
    }
}

#[test]
fn directory_without_slash_redirects_301() {
    let s = start("");
    let mut c = s.connect();
    let r = c.request(get("/dir"));
    r.assert_status(301);
    let loc = r.header("Location").expect("Location");
    assert!(loc.ends_with("/dir/"), "Location: {loc}");
    assert!(loc.starts_with("http://localhost"), "Location: {loc}");
    // The query string is kept.
    let r = c.request(get("/dir?x=1"));
    r.assert_status(301);
    let loc = r.header("Location").expect("Location");
    assert!(loc.ends_with("/dir/?x=1"), "Location: {loc}");
}

#[test]
fn index_file_served_for_directory() {
    let s = start("");
    let mut c = s.connect();
    let r = c.request(get("/dir/"));
    r.assert_status(200)
        .assert_keepalive()
        .assert_body("<h1>dir index</h1>\n");
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    c.request(get("/dir/inner.txt"))
        .assert_status(200)
        .assert_body("inner");
    // Dot segments that stay inside the root are fine.
    c.request(get("/dir/../a.txt"))
        .assert_status(200)
        .assert_body("hello static\n");
    c.request(get("/dir/./inner.txt"))
        .assert_status(200)
        .assert_body("inner");
    c.request(get("/%64ir/inner%2etxt"))
        .assert_status(200)
        .assert_body("inner");
}

#[test]
fn directory_without_index_is_403() {
    let s = start("");
    let r = s.request(&get("/empty/"));
    r.assert_status(403);
    s.assert_log("directory index of", Duration::from_secs(3));
}

#[test]
fn large_file_is_sent_whole() {
    let s = start("");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    s.prefix().write("html/big.bin", &big);
    let mut c = s.connect();
    let r = c.request(get("/big.bin"));
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.header("Content-Length"), Some("300000"));
    assert!(r.body == big, "body differs");
    c.request(get("/a.txt")).assert_status(200);
}

#[test]
fn empty_file_has_zero_length() {
    let s = start("");
    s.prefix().write("html/empty.txt", "");
    let mut c = s.connect();
    let r = c.request(get("/empty.txt"));
    r.assert_status(200).assert_body("");
    assert_eq!(r.header("Content-Length"), Some("0"));
    c.request(get("/a.txt")).assert_status(200);
    c.expect_open(SHORT);
}

#[test]
fn traversal_attempts_never_leave_the_root() {
    let s = start("");
    // (request target, status holdfast must answer with)
    let cases = [
        ("/../secret.txt", 400),
        ("/%2e%2e/secret.txt", 400),
        ("/%2E%2E/secret.txt", 400),
        ("/..%2fsecret.txt", 400),
        ("/%2e%2e%2fsecret.txt", 400),
        ("/%2f..%2fsecret.txt", 400),
        ("//../secret.txt", 400),
        ("/dir/../../secret.txt", 400),
        ("/dir/%2e%2e/%2e%2e/secret.txt", 400),
        ("/dir/..%2f..%2fsecret.txt", 400),
        ("/./../secret.txt", 400),
        ("http://localhost/../secret.txt", 400),
        ("../secret.txt", 400),
        ("/..", 400),
        ("/..%5csecret.txt", 404),
        ("/secret.txt", 404),
        ("/%2fsecret.txt", 404),
    ];
    for (target, status) in cases {
        let mut c = s.connect();
        c.send(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        let r = c.read_response();
        assert!(
            !r.text().contains(SECRET),
            "{target}: the secret leaked: {r:?}"
        );
        assert_eq!(r.status, status, "{target}: {r:?}");
        if status == 400 {
            r.assert_close();
            c.expect_closed(Duration::from_secs(3));
        }
    }
}

#[test]
fn encoded_slash_resolves_inside_root() {
    let s = start("");
    s.request(&get("/dir%2finner.txt"))
        .assert_status(200)
        .assert_body("inner");
}

#[test]
fn nul_or_bad_escape_in_uri_is_400() {
    let s = start("");
    for target in ["/a.txt%00", "/%zz", "/a%4"] {
        let mut c = s.connect();
        c.send(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        c.read_response().assert_status(400).assert_close();
        c.expect_closed(Duration::from_secs(3));
    }
}

#[test]
fn location_with_its_own_root() {
    let p = site();
    p.write("other/o.txt", "other root");
    let s = Server::start_with(
        p,
        WORKER_CONNECTIONS,
        &server_block("    location /o.txt { root other; }"),
    );
    let mut c = s.connect();
    c.request(get("/o.txt"))
        .assert_status(200)
        .assert_body("other root");
    c.request(get("/a.txt"))
        .assert_status(200)
        .assert_body("hello static\n");
}

/// Rewrites a file keeping its inode, so only size or content tell it changed.
fn rewrite(s: &Server, rel: &str, text: &str) {
    std::fs::write(s.prefix().path().join(rel), text).unwrap();
}

#[test]
fn open_file_cache_is_off_unless_configured() {
    // Off (nginx's default): a changed file is served changed at once, and
    // no descriptor is kept once the response is out.
    let s = start("");
    s.request(&get("/a.txt")).assert_status(200);
    rewrite(&s, "html/a.txt", "changed, longer\n");
    s.request(&get("/a.txt"))
        .assert_status(200)
        .assert_body("changed, longer\n");
    for _ in 0..3 {
        s.request(&get("/a.txt")).assert_status(200);
    }
    assert_eq!(open_fds_to(&s, "a.txt"), 0);
}

/// How many of the server's descriptors are open on a file called `name`.
fn open_fds_to(s: &Server, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", s.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.file_name().is_some_and(|f| f == name))
        .count()
}

#[test]
fn open_file_cache_keeps_files_for_valid_and_remembers_errors() {
    let s = start(
        "    open_file_cache max=10 inactive=60s;\n    open_file_cache_valid 1s;\n    \
         open_file_cache_errors on;",
    );
    assert_eq!(open_fds_to(&s, "a.txt"), 0);
    s.request(&get("/a.txt")).assert_status(200);
    // The descriptor stays open in the cache.
    assert_eq!(open_fds_to(&s, "a.txt"), 1);
    let first = s.request(&get("/a.txt")).body;
    rewrite(&s, "html/a.txt", "changed, longer\n");
    // Within open_file_cache_valid the cached entry answers...
    assert_eq!(s.request(&get("/a.txt")).body, first);
    s.request(&get("/late.txt")).assert_status(404);
    std::fs::write(s.prefix().path().join("html/late.txt"), "late\n").unwrap();
    // ...and a remembered error too.
    s.request(&get("/late.txt")).assert_status(404);
    // After it, both are looked at again.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.request(&get("/a.txt"))
        .assert_status(200)
        .assert_body("changed, longer\n");
    s.request(&get("/late.txt"))
        .assert_status(200)
        .assert_body("late\n");
}
