//! `holdfast -t` warns about the classic nginx traps (issue 10), accepting
//! the configuration all the same: each warning is `[warn] … in FILE:LINE`
//! with exit 0. The shipped configuration raises none, and its
//! `error_page 500 502 503 504 /50x.html` serves the shipped page.

mod common;

use std::time::Duration;

use common::{Prefix, Server, get, test_config};

const WITHIN: Duration = Duration::from_secs(10);

/// `-t` on `http { HTTP server { listen …; BODY } }` (HTTP on line 3, BODY
/// from line 5): the
/// `[warn]` lines and the file's name.
fn warnings(http: &str, body: &str) -> (Vec<String>, String) {
    let p = Prefix::new("lint");
    let file = p.write_conf(&format!(
        "events {{ }}\nhttp {{\n{http}\nserver {{ listen 127.0.0.1:0;\n{body}\n}}\n}}\n"
    ));
    let out = test_config(&p, &file, WITHIN);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("test is successful"), "{}", out.stderr);
    let warns = out
        .stderr
        .lines()
        .filter(|l| l.contains("[warn]"))
        .map(str::to_string)
        .collect();
    (warns, file.display().to_string())
}

#[track_caller]
fn assert_one(warns: &[String], file: &str, line: usize, words: &[&str]) {
    assert_eq!(warns.len(), 1, "{warns:#?}");
    let w = &warns[0];
    assert!(w.ends_with(&format!(" in {file}:{line}")), "{w}");
    for word in words {
        assert!(w.contains(word), "{word:?} not in {w}");
    }
}

#[test]
fn alias_with_a_slash_the_location_lacks() {
    let (w, f) = warnings("", "location /img {\nalias /srv/images/;\n}");
    assert_one(
        &w,
        &f,
        6,
        &["\"/img\"", "\"/srv/images/\"", "path traversal"],
    );
    // Both with the slash, or neither: no warning.
    for ok in [
        "location /img/ { alias /srv/images/; }",
        "location /img { alias /srv/images; }",
        "location ~ ^/img/(.*)$ { alias /srv/images/$1; }",
    ] {
        assert_eq!(warnings("", ok).0, Vec::<String>::new(), "{ok}");
    }
}

#[test]
fn add_header_that_drops_the_outer_ones() {
    let (w, f) = warnings(
        "add_header X-Frame-Options DENY;",
        "location /a {\nadd_header X-A 1;\n}",
    );
    assert_one(&w, &f, 6, &["add_header", ":3)", "none of its parent's"]);
    // A level without add_header of its own inherits: no warning.
    let (w, _) = warnings("add_header X-Frame-Options DENY;", "location /a { }");
    assert!(w.is_empty(), "{w:#?}");
    // Server level under http, and location under server.
    let (w, f) = warnings("", "add_header X-S 1;\nlocation /a {\nadd_header X-A 1;\n}");
    assert_one(&w, &f, 7, &[":5)"]);
}

#[test]
fn redirects_built_from_the_client_host() {
    let (w, f) = warnings(
        "",
        "location /r {\nreturn 301 https://$host$request_uri;\n}",
    );
    assert_one(&w, &f, 6, &["Host header spoofing", "$server_name"]);
    let (w, f) = warnings("", "rewrite ^/(.*)$ http://$http_host/new/$1 permanent;");
    assert_one(&w, &f, 5, &["\"rewrite\"", "http://$http_host/new/$1"]);
    // An exact server_name, a relative target, or $server_name: no warning.
    for ok in [
        "server_name example.com;\nreturn 301 https://$host$request_uri;",
        "return 301 /elsewhere$request_uri;",
        "return 301 https://$server_name$request_uri;",
    ] {
        assert_eq!(warnings("", ok).0, Vec::<String>::new(), "{ok}");
    }
}

#[test]
fn if_holding_more_than_return_or_rewrite() {
    let (w, f) = warnings("", "location /i {\nif ($arg_x) {\nroot /tmp;\n}\n}");
    assert_one(
        &w,
        &f,
        6,
        &["\"root\"", ":7)", "only \"return\" and \"rewrite\""],
    );
    let ok = "location /i {\nif ($arg_x) {\nreturn 403;\n}\n}";
    assert_eq!(warnings("", ok).0, Vec::<String>::new());
}

#[test]
fn prefix_location_a_regex_always_takes() {
    let (w, f) = warnings("", "location /api/ { }\nlocation ~ ^/api { }");
    assert_one(&w, &f, 5, &["\"/api/\"", "\"~ ^/api\"", ":6)", "\"^~\""]);
    for ok in [
        "location ^~ /api/ { }\nlocation ~ ^/api { }",
        "location /api/ { }\nlocation ~ ^/api/v1$ { }",
        "location /api/ { }\nlocation ~ \\.php$ { }",
    ] {
        assert_eq!(warnings("", ok).0, Vec::<String>::new(), "{ok}");
    }
}

#[test]
fn the_shipped_configuration_warns_about_nothing_and_serves_its_50x_page() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/holdfast.conf"))
            .expect("read conf/holdfast.conf");
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/html/50x.html"))
        .expect("read html/50x.html");
    let p = Prefix::new("shipped");
    p.write("html/50x.html", &page);
    p.write("conf/mime.types", "types { text/html html; }\n");
    let file = p.write_conf(&shipped.replace("127.0.0.1:8080", "127.0.0.1:0"));
    let out = test_config(&p, &file, WITHIN);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("[warn]"), "{}", out.stderr);

    // The same error_page lines serve the page for a 500, with the 500
    // status, as nginx's default configuration does. (Not for a rewrite
    // cycle: with no URI changes left nginx serves no error page either.)
    let s = Server::with_server(
        "    error_page 500 502 503 504 /50x.html;\n\
         \x20   location = /50x.html { }\n\
         \x20   location /fail { return 503; }\n\
         \x20   location /loop { rewrite ^ /loop last; }",
    );
    s.prefix().write("html/50x.html", &page);
    s.request(&get("/fail"))
        .assert_status(503)
        .assert_keepalive()
        .assert_body(&page);
    let r = s.request(&get("/loop"));
    r.assert_status(500).assert_close();
    assert!(
        r.text().contains("<h1>500 Internal Server Error</h1>"),
        "{r:?}"
    );
    s.assert_log("rewrite or internal redirection cycle", WITHIN);
    s.request(&get("/50x.html"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body(&page);
}
