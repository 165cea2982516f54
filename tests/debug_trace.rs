//! The debug trace in nginx's order, where studying nginx depends on it
//! (compared line by line with Debian's nginx 1.22 built `--with-debug`;
//! docs/nginx-map.md lists what still differs):
//! - a header timeout logs `event timer del` before re-entering
//!   `http process request header line`, and the info line names the
//!   partial request and the Host already read;
//! - an error answered while the head is read deletes the header timer,
//!   traces `http finalize request: 494, "/p?" a:1, c:1` and `http special
//!   response`;
//! - a pipelined close lingers with its request alive: `http close request`
//!   (and the access-log line) come after `reusable connection: 1` and the
//!   lingering read;
//! - the request line is followed by `http uri`, `http args`, `http exten`,
//!   and the response header block is traced;
//! - the phases: `test location`, `using configuration`, `http script
//!   regex`, the `matches` / `rewritten data` notices, `uri changes`,
//!   `trying to use file`, `using location: @name`.

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Prefix, Server, conf_at_level, server_block};

const WITHIN: Duration = Duration::from_secs(5);

fn debug_server(tag: &str, server_body: &str) -> Server {
    let p = Prefix::new(tag);
    p.mkdir("logs");
    let text = conf_at_level(
        "debug",
        common::WORKER_CONNECTIONS,
        &format!(
            "    client_header_timeout 1s;\n    lingering_timeout 1s;\n{}",
            server_block(server_body)
        ),
    );
    Server::start_conf(p, &text)
}

/// The connection number nginx-style (`*N`) of the client `c`, from its
/// `accept:` line.
fn number_of(s: &Server, c: &Conn) -> String {
    let port = c.stream().local_addr().unwrap().port();
    let pat = format!(" accept: 127.0.0.1:{port} ");
    assert!(s.log_contains(&pat, WITHIN), "{}", s.log_text());
    let line = s
        .log_lines()
        .into_iter()
        .find(|l| l.contains(&pat))
        .unwrap();
    let at = line.find(" *").expect("connection number");
    line[at + 1..].split(' ').next().unwrap().to_string()
}

/// Connection `n`'s trace: each line's text after `*N `.
fn trace(s: &Server, n: &str) -> Vec<String> {
    let prefix = format!("{n} ");
    s.log_lines()
        .iter()
        .filter_map(|l| l.find(&prefix).map(|at| l[at + prefix.len()..].to_string()))
        .collect()
}

/// Where `lines` stop having lines starting with each of `steps` in order.
fn missing_step(lines: &[String], steps: &[&str]) -> Option<(usize, String)> {
    let mut from = 0;
    for step in steps {
        match lines[from..].iter().position(|l| l.starts_with(step)) {
            Some(i) => from += i + 1,
            None => return Some((from, step.to_string())),
        }
    }
    None
}

/// Waits until connection `n`'s trace holds `steps` in order (the log is
/// read from the server's stderr as it comes) and returns it.
#[track_caller]
fn assert_trace(s: &Server, n: &str, steps: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + WITHIN;
    loop {
        let lines = trace(s, n);
        match missing_step(&lines, steps) {
            None => return lines,
            Some((from, step)) if Instant::now() > deadline => {
                panic!(
                    "{step:?} not found after line {from} of:\n{}",
                    lines.join("\n")
                )
            }
            Some(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[test]
fn header_timeout_deletes_the_timer_first_and_names_the_partial_request() {
    let s = debug_server("trace-timeout", "");
    let mut c = s.connect();
    c.send("GET /p?a=1 HTTP/1.1\r\nHost: example.org\r\nReferer: http://r/\r\nX-Part");
    let n = number_of(&s, &c);
    let t = Instant::now();
    c.expect_closed(WITHIN);
    assert!(t.elapsed() >= Duration::from_millis(900));
    let lines = assert_trace(
        &s,
        &n,
        &[
            "http process request line",
            "http request line: \"GET /p?a=1 HTTP/1.1\"",
            "http uri: \"/p\"",
            "http args: \"a=1\"",
            "http exten: \"\"",
            "http process request header line",
            "event timer del: ",
            "http process request header line",
            "client timed out (110: Connection timed out) while reading client request headers, \
             client: 127.0.0.1, server: ",
            "http request count:1 blk:0",
            "http close request",
            "http log handler",
            "close http connection",
            "reusable connection: 0",
        ],
    );
    assert!(
        lines.iter().any(|l| l.ends_with(
            "request: \"GET /p?a=1 HTTP/1.1\", host: \"example.org\", referrer: \"http://r/\""
        )),
        "{}",
        lines.join("\n")
    );
    // A request line still arriving is shown as far as it came.
    let mut c = s.connect();
    c.send("GET /partial-li");
    let n = number_of(&s, &c);
    c.expect_closed(WITHIN);
    let lines = assert_trace(
        &s,
        &n,
        &[
            "event timer del: ",
            "client timed out (110: Connection timed out) while reading client request line, \
             client: 127.0.0.1, server: ",
        ],
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("request: \"GET /partial-li\"")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn a_too_long_header_line_finalizes_with_its_uri_and_drops_the_header_timer() {
    let s = debug_server("trace-494", "    large_client_header_buffers 2 1k;");
    let mut c = s.connect();
    let long = "a".repeat(1100);
    c.send(format!(
        "GET /p.html?x HTTP/1.1\r\nHost: h.example\r\nX-Long: {long}\r\n\r\n"
    ));
    c.read_response().assert_status(400).assert_close();
    let n = number_of(&s, &c);
    let lines = assert_trace(
        &s,
        &n,
        &[
            "http exten: \"html\"",
            "client sent too long header line: \"X-Long: aaaa",
            "http finalize request: 494, \"/p.html?x\" a:1, c:1",
            "event timer del: ",
            "http special response: 494, \"/p.html?x\"",
            "HTTP/1.1 400 Bad Request",
            "http finalize request: 0, \"/p.html?x\" a:1, c:1",
            "reusable connection: 1",
            "event timer add: ",
            "http lingering close handler",
            "http close request",
            "close http connection",
        ],
    );
    let info = lines
        .iter()
        .find(|l| l.starts_with("client sent too long header line"))
        .unwrap();
    assert!(
        info.ends_with("request: \"GET /p.html?x HTTP/1.1\", host: \"h.example\""),
        "{info}"
    );
}

#[test]
fn a_pipelined_close_keeps_its_request_until_the_lingering_ends() {
    let s = debug_server(
        "trace-pipelined",
        "    access_log logs/access.log;\n    location = /p { return 200 \"ok\"; }",
    );
    let mut c = s.connect();
    c.send(
        "GET /p HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    c.read_response().assert_status(200).assert_keepalive();
    c.read_response().assert_status(200).assert_close();
    c.send("EXTRA");
    let n = number_of(&s, &c);
    // The access-log line of the second request waits for the lingering.
    let access = s.prefix().path().join("logs/access.log");
    assert!(
        s.log_contains(&format!("{n} lingering read: 5"), WITHIN),
        "{}",
        s.log_text()
    );
    let before = std::fs::read_to_string(&access).unwrap_or_default();
    c.shutdown_write();
    assert_trace(
        &s,
        &n,
        &[
            "http finalize request: 0, \"/p?\" a:1, c:1",
            "set http keepalive handler",
            "http close request",
            "http log handler",
            "pipelined request",
            "http process request line",
            "http header: \"Connection: close\"",
            "http finalize request: 0, \"/p?\" a:1, c:1",
            "reusable connection: 1",
            "event timer add: ",
            "http lingering close handler",
            "lingering read: 5",
            "http lingering close handler",
            "lingering read: 0",
            "http request count:1 blk:0",
            "http close request",
            "http log handler",
            "close http connection",
            "reusable connection: 0",
        ],
    );
    assert_eq!(before.lines().count(), 1, "while lingering:\n{before}");
    let deadline = Instant::now() + WITHIN;
    let after = loop {
        let text = std::fs::read_to_string(&access).unwrap_or_default();
        if text.lines().count() >= 2 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(after.lines().count(), 2, "after the close:\n{after}");
}

#[test]
fn the_phases_trace_the_walk_nginx_traces() {
    let s = debug_server(
        "phases-trace",
        "    location / { try_files $uri $uri/ @fallback; }\n\
         \x20   location ~ \\.php$ { return 403; }\n\
         \x20   location /old/ { rewrite ^/old/(.*)$ /new/$1 last; }\n\
         \x20   location /new/ { return 200 \"new\"; }\n\
         \x20   location @fallback { return 200 \"fb\"; }",
    );
    let mut c = s.connect();
    c.request("GET /old/x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .assert_status(200)
        .assert_body("new");
    let n = number_of(&s, &c);
    assert_trace(
        &s,
        &n,
        &[
            "test location: \"/old/\"",
            "test location: ~ \"\\.php$\"",
            "using configuration \"/old/\"",
            "http script regex: \"^/old/(.*)$\"",
            "\"^/old/(.*)$\" matches \"/old/x\", client: 127.0.0.1",
            "rewritten data: \"/new/x\", args: \"\", client: 127.0.0.1",
            "uri changes: 11",
            "test location: \"/new/\"",
            "using configuration \"/new/\"",
            "http finalize request: 0, \"/new/x?\" a:1, c:1",
        ],
    );
    let mut c = s.connect();
    c.request("GET /gone HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .assert_status(200)
        .assert_body("fb");
    let n = number_of(&s, &c);
    assert_trace(
        &s,
        &n,
        &[
            "using configuration \"/\"",
            "trying to use file: \"/gone\"",
            "using location: @fallback \"/gone\"",
            "http finalize request: 0, \"/gone?\" a:1, c:1",
        ],
    );
    // The index module's internal redirect.
    s.prefix().write("html/d/index.html", "idx");
    let mut c = s.connect();
    c.request("GET /d/?a=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .assert_status(200)
        .assert_body("idx");
    let n = number_of(&s, &c);
    assert_trace(
        &s,
        &n,
        &[
            "using configuration \"/\"",
            "trying to use file: \"/d/\"",
            "trying to use dir: \"/d/\"",
            "try file uri: \"/d/\"",
            "internal redirect: \"/d/index.html?a=1\"",
            "using configuration \"/\"",
            "http finalize request: 0, \"/d/index.html?a=1\" a:1, c:1",
        ],
    );
}
