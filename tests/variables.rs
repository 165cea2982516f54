//! Variables where nginx allows them: `return CODE TEXT|URL` and
//! `add_header` expand them; every variable of issue 9's list has the value
//! nginx gives it; `add_header Last-Modified|ETag` replace or remove
//! holdfast's own; an unknown variable is a configuration error.

mod common;

use std::time::Duration;

use common::{Prefix, Server, conf, get, run_holdfast, server_block};

/// A server whose `location /v` returns `TEMPLATE` as its body.
fn echo(template: &str) -> Server {
    Server::with_server(&format!(
        "    server_name example.org alias.org;\n    \
         location /v {{ default_type text/plain; return 200 \"{template}\"; }}"
    ))
}

fn value(s: &Server, raw: &str) -> String {
    let r = s.request(raw);
    r.assert_status(200);
    r.text()
}

#[test]
fn request_variables() {
    let s = echo(
        "[$request_method][$request_uri][$uri][$document_uri][$args][$query_string]\
         [$is_args][$arg_a][$arg_B][$server_protocol][$host][$http_x_thing][$content_length]\
         [$content_type][$scheme][$https][$server_name]",
    );
    let v = value(
        &s,
        "POST /v/a%20b?a=1&b=two&a=3 HTTP/1.1\r\nHost: Example.ORG:80\r\nX-Thing: t1\r\n\
         x-thing: t2\r\nContent-Type: text/x\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(
        v,
        "[POST][/v/a%20b?a=1&b=two&a=3][/v/a b][/v/a b][a=1&b=two&a=3][a=1&b=two&a=3]\
         [?][1][two][HTTP/1.1][example.org][t1, t2][2][text/x][http][][example.org]"
    );
    // No arguments: $args and $is_args are empty; HTTP/1.0 without Host:
    // $host is the server's first name.
    let v = value(&s, "GET /v HTTP/1.0\r\n\r\n");
    assert_eq!(
        v,
        "[GET][/v][/v][/v][][][][][][HTTP/1.0][example.org][][][][http][][example.org]"
    );
}

#[test]
fn connection_and_server_variables() {
    let s = echo(
        "$remote_addr|$remote_port|$server_addr|$server_port|$binary_remote_addr|$pid|\
         $nginx_version|$hostname|$connection|$connection_requests",
    );
    let mut c = s.connect();
    let local = c.stream().local_addr().unwrap();
    let v = c.request(get("/v")).body;
    let parts: Vec<&[u8]> = v.split(|&b| b == b'|').collect();
    assert_eq!(parts[0], b"127.0.0.1");
    assert_eq!(parts[1], local.port().to_string().as_bytes());
    assert_eq!(parts[2], b"127.0.0.1");
    assert_eq!(parts[3], s.addr().port().to_string().as_bytes());
    assert_eq!(parts[4], [127, 0, 0, 1]);
    assert_eq!(parts[5], s.pid().to_string().as_bytes());
    assert_eq!(parts[6], b"1.29.4");
    let mut host = [0u8; 256];
    // SAFETY: gethostname writes at most host.len() bytes.
    unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) };
    let len = host.iter().position(|&b| b == 0).unwrap();
    assert_eq!(parts[7], host[..len].to_ascii_lowercase());
    assert_eq!(parts[9], b"1");
    let v = c.request(get("/v")).text();
    assert!(
        v.ends_with(&format!("|{}|2", String::from_utf8_lossy(parts[8]))),
        "{v}"
    );
}

#[test]
fn paths_cookies_time_and_ids() {
    let p = Prefix::new("vars-paths");
    std::fs::create_dir_all(p.path().join("real")).unwrap();
    std::os::unix::fs::symlink(p.path().join("real"), p.path().join("link")).unwrap();
    let s = Server::start_with(
        p,
        common::WORKER_CONNECTIONS,
        &server_block(
            "    location /v { root link; default_type text/plain;\n      \
             return 200 \"$document_root|$realpath_root|$request_filename|$cookie_sid|\
             $cookie_none|$msec|$time_iso8601|$request_id|$request_id|$limit_rate\"; }",
        ),
    );
    let root = s.prefix().path().join("link").display().to_string();
    let real = std::fs::canonicalize(s.prefix().path().join("real"))
        .unwrap()
        .display()
        .to_string();
    let v = value(
        &s,
        "GET /v/x HTTP/1.1\r\nHost: h\r\nCookie: a=1; SID=abc\r\nCookie: b=2\r\n\r\n",
    );
    let parts: Vec<&str> = v.split('|').collect();
    assert_eq!(parts[0], root);
    assert_eq!(parts[1], real);
    assert_eq!(parts[2], format!("{root}/v/x"));
    assert_eq!(parts[3], "abc");
    assert_eq!(parts[4], "");
    let msec: f64 = parts[5].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - msec).abs() < 10.0, "{msec} vs {now}");
    assert_eq!(parts[5].split('.').nth(1).map(str::len), Some(3));
    assert_eq!(
        parts[6].len(),
        "2026-12-06T15:51:32+00:00".len(),
        "{}",
        parts[6]
    );
    assert_eq!(parts[7].len(), 32);
    assert!(parts[7].bytes().all(|b| b.is_ascii_hexdigit()));
    // One id per request, the same wherever it is used in it.
    assert_eq!(parts[7], parts[8]);
    assert_ne!(value(&s, &get("/v")).split('|').nth(7), Some(parts[7]));
    assert_eq!(parts[9], "0");
}

#[test]
fn return_redirects_and_add_header_expand_variables() {
    let s = Server::with_server(
        "    location /go { return 301 https://$host$request_uri; }\n    \
         location /url { return http://$host/x?$args; }\n    \
         location /h { add_header X-URI \"x $uri x\"; add_header X-Empty $arg_none; \
         add_header X-Host $host always; return 204; }\n    \
         location /e { add_header X-Host $host always; return 404; }",
    );
    let r = s.request("GET /go/a?b=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    r.assert_status(301);
    assert_eq!(r.header("Location"), Some("https://example.com/go/a?b=1"));
    let r = s.request("GET /url?q=2 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    r.assert_status(302);
    assert_eq!(r.header("Location"), Some("http://example.com/x?q=2"));
    let r = s.request("GET /h/%41 HTTP/1.1\r\nHost: h.example\r\n\r\n");
    r.assert_status(204);
    assert_eq!(r.header("X-URI"), Some("x /h/A x"));
    // A value that comes out empty adds no header.
    assert_eq!(r.header_count("X-Empty"), 0);
    assert_eq!(r.header("X-Host"), Some("h.example"));
    let r = s.request("GET /e HTTP/1.1\r\nHost: e.example\r\n\r\n");
    r.assert_status(404);
    assert_eq!(r.header("X-Host"), Some("e.example"));
}

#[test]
fn return_text_is_typed_like_nginx() {
    let s = Server::with_server(
        "    default_type application/octet-stream;\n    \
         location /t { return 200 \"text\"; }\n    \
         location = /page.html { return 200 \"<p>\"; }\n    \
         location /plain { default_type text/plain; return 200 \"p\"; }\n    \
         location /empty { return 200; }",
    );
    let r = s.request(&get("/t"));
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    r.assert_body("text");
    let r = s.request(&get("/page.html"));
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    let r = s.request(&get("/plain"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let r = s.request(&get("/empty"));
    r.assert_status(200);
    assert_eq!(r.header("Content-Length"), Some("0"));
}

#[test]
fn add_header_replaces_or_removes_last_modified_and_etag() {
    let p = Prefix::new("vars-lm");
    p.write("html/f.txt", "file\n");
    p.write("html/own/f.txt", "own\n");
    let s = Server::start_with(
        p,
        common::WORKER_CONNECTIONS,
        &server_block(
            "    location = /f.txt { add_header Last-Modified \"\"; add_header ETag \"\"; }\n    \
             location /own/ { add_header ETag '\"mine\"'; }",
        ),
    );
    let r = s.request(&get("/f.txt"));
    r.assert_status(200).assert_body("file\n");
    assert_eq!(r.header_count("Last-Modified"), 0, "{r:?}");
    assert_eq!(r.header_count("ETag"), 0, "{r:?}");
    let r = s.request(&get("/own/f.txt"));
    r.assert_status(200).assert_body("own\n");
    assert_eq!(r.header_count("ETag"), 1, "{r:?}");
    assert_eq!(r.header("ETag"), Some("\"mine\""));
    assert_eq!(r.header_count("Last-Modified"), 1);
}

#[test]
fn unknown_variables_are_configuration_errors() {
    for (directive, name) in [
        ("return 200 $nope;", "nope"),
        ("add_header X $Unknown_Thing;", "unknown_thing"),
        ("return 302 http://$hots/;", "hots"),
    ] {
        let p = Prefix::new("vars-unknown");
        let file = p.write_conf(&conf(8, &server_block(&format!("    {directive}"))));
        let out = run_holdfast(
            ["-t".as_ref(), "-c".as_ref(), file.as_os_str()],
            Duration::from_secs(10),
        );
        assert_eq!(out.code, Some(1), "{directive}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "[emerg] unknown \"{name}\" variable in {}:",
                file.display()
            )),
            "{directive}: {}",
            out.stderr
        );
    }
}
