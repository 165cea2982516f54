//! The access log (log_format / access_log, `$pipe`, the predefined
//! `combined` format, `access_log off`), SIGUSR1 reopening it, and
//! add_header. Log files are read after a graceful stop (SIGQUIT and the
//! process exiting), when everything buffered has been written.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Conn, Prefix, Server, conf, get, server_block};

const CLOSE: Duration = Duration::from_secs(3);

const FORMAT: &str = "log_format t '$request $pipe $status $body_bytes_sent $connection_requests';";

/// A server with `http_extra` (log_format, access_log) before its block.
fn start(tag: &str, http_extra: &str, server_body: &str) -> Server {
    let prefix = Prefix::new(tag);
    prefix.mkdir("logs");
    let http = format!("{http_extra}\n{}", server_block(server_body));
    Server::start_conf(prefix, &conf(common::WORKER_CONNECTIONS, &http))
}

fn log_path(s: &Server, name: &str) -> PathBuf {
    s.prefix().path().join("logs").join(name)
}

/// Graceful stop; then the log files are complete.
fn stop(mut s: Server) -> Server {
    s.signal(libc::SIGQUIT);
    s.assert_exits(CLOSE);
    s
}

fn read_lines(path: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn pipe_is_p_only_for_requests_taken_from_the_leftover_buffer() {
    let s = start(
        "log-pipe",
        &format!("{FORMAT}\n    access_log logs/t.log t;"),
        "    location = /r { return 200 \"R\"; }",
    );
    // Keep-alive requests read from the socket, with a pipelined pair in
    // the middle: only the second of the pair was in the leftover buffer.
    let mut a = s.connect();
    a.request(get("/r?1")).assert_status(200);
    a.send(format!("{}{}", get("/r?2"), get("/r?3")));
    a.read_response().assert_status(200);
    a.read_response().assert_status(200);
    a.request(get("/r?4")).assert_status(200);
    // Three pipelined requests as the first bytes of a connection.
    let mut b = s.connect();
    b.send(format!("{}{}{}", get("/r?5"), get("/r?6"), get("/r?7")));
    for _ in 0..3 {
        b.read_response().assert_status(200);
    }
    // A request behind a body.
    let mut c = s.connect();
    c.send(format!(
        "POST /r?8 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello{}",
        get("/r?9")
    ));
    c.read_response().assert_status(200);
    c.read_response().assert_status(200);
    // A 404 from the static handler.
    let nf = c.request(get("/nothing"));
    nf.assert_status(404);
    drop((a, b, c));
    let s = stop(s);
    let lines = read_lines(&log_path(&s, "t.log"));
    let nf_len = nf.body.len();
    assert_eq!(
        lines,
        [
            "GET /r?1 HTTP/1.1 . 200 1 1",
            "GET /r?2 HTTP/1.1 . 200 1 2",
            "GET /r?3 HTTP/1.1 p 200 1 3",
            "GET /r?4 HTTP/1.1 . 200 1 4",
            "GET /r?5 HTTP/1.1 . 200 1 1",
            "GET /r?6 HTTP/1.1 p 200 1 2",
            "GET /r?7 HTTP/1.1 p 200 1 3",
            "POST /r?8 HTTP/1.1 . 200 1 1",
            "GET /r?9 HTTP/1.1 p 200 1 2",
            &format!("GET /nothing HTTP/1.1 . 404 {nf_len} 3"),
        ]
    );
}

/// Checks `dd/Mon/yyyy:HH:MM:SS +zzzz`.
fn is_time_local(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() == 26
        && digits(0..2)
        && b[2] == b'/'
        && [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .contains(&&t[3..6])
        && b[6] == b'/'
        && digits(7..11)
        && b[11] == b':'
        && digits(12..14)
        && b[14] == b':'
        && digits(15..17)
        && b[17] == b':'
        && digits(18..20)
        && b[20] == b' '
        && (b[21] == b'+' || b[21] == b'-')
        && digits(22..26)
}

/// Splits a combined line into (`$remote_addr - $remote_user`, time, rest).
fn split_combined(line: &str) -> (&str, &str, &str) {
    let open = line
        .find(" [")
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    let close = line
        .find("] ")
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    (&line[..open], &line[open + 2..close], &line[close + 2..])
}

#[test]
fn combined_is_the_default_format() {
    let s = start(
        "log-combined",
        "    access_log logs/c.log;",
        "    location = /r { return 200 \"R\"; }",
    );
    let mut c = s.connect();
    c.request(
        "GET /r?x=1 HTTP/1.1\r\nHost: localhost\r\nReferer: http://example.com/p\r\n\
         User-Agent: test-agent/1.0 (\"quoted\")\r\n\r\n",
    )
    .assert_status(200);
    c.send("HEAD /r HTTP/1.0\r\n\r\n");
    c.read_head_response().assert_status(200).assert_close();
    drop(c);
    let s = stop(s);
    let lines = read_lines(&log_path(&s, "c.log"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    let (who, time, rest) = split_combined(&lines[0]);
    assert_eq!(who, "127.0.0.1 - -", "{lines:?}");
    assert!(is_time_local(time), "bad $time_local {time:?}");
    assert_eq!(
        rest,
        "\"GET /r?x=1 HTTP/1.1\" 200 1 \"http://example.com/p\" \
         \"test-agent/1.0 (\\x22quoted\\x22)\""
    );
    // No Referer / User-Agent: "-"; HEAD sends no body bytes.
    let (who, time, rest) = split_combined(&lines[1]);
    assert_eq!(who, "127.0.0.1 - -");
    assert!(is_time_local(time), "bad $time_local {time:?}");
    assert_eq!(rest, "\"HEAD /r HTTP/1.0\" 200 0 \"-\" \"-\"");
}

#[test]
fn access_log_off_writes_nothing() {
    let s = start(
        "log-off",
        &format!("{FORMAT}\n    access_log logs/t.log t;"),
        "    location = /r { return 200 \"R\"; }\n\
         \x20   location = /quiet { access_log off; return 200 \"Q\"; }\n\
         \x20   location /silent/ { access_log off; }",
    );
    let mut c = s.connect();
    c.request(get("/quiet")).assert_status(200).assert_body("Q");
    c.request(get("/r")).assert_status(200);
    c.request(get("/quiet")).assert_status(200);
    c.request(get("/silent/missing")).assert_status(404);
    c.request(get("/r?again")).assert_status(200);
    drop(c);
    let s = stop(s);
    assert_eq!(
        read_lines(&log_path(&s, "t.log")),
        [
            "GET /r HTTP/1.1 . 200 1 2",
            "GET /r?again HTTP/1.1 . 200 1 5"
        ]
    );
}

#[test]
fn access_log_off_everywhere_creates_no_file() {
    let s = start(
        "log-off-all",
        &format!("{FORMAT}\n    access_log off;"),
        "    location = /r { return 200 \"R\"; }",
    );
    let mut c = s.connect();
    for _ in 0..3 {
        c.request(get("/r")).assert_status(200);
    }
    drop(c);
    let s = stop(s);
    let files: Vec<_> = std::fs::read_dir(s.prefix().path().join("logs"))
        .expect("logs dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(files.is_empty(), "files written: {files:?}");
}

#[test]
fn sigusr1_reopens_the_access_log() {
    let s = start(
        "log-reopen",
        &format!("{FORMAT}\n    access_log logs/a.log t;"),
        "    location = /r { return 200 \"R\"; }",
    );
    let (log, rotated) = (log_path(&s, "a.log"), log_path(&s, "a.log.1"));
    let mut c = s.connect();
    c.request(get("/r?1")).assert_status(200);
    std::fs::rename(&log, &rotated).expect("rename the log");
    // Until the reopen the server still writes to the renamed file.
    c.request(get("/r?2")).assert_status(200);
    s.signal(libc::SIGUSR1);
    s.assert_log("reopening logs", CLOSE);
    c.request(get("/r?3")).assert_status(200);
    let mut d = s.connect();
    d.request(get("/r?4")).assert_status(200);
    drop((c, d));
    let s = stop(s);
    assert_eq!(
        read_lines(&rotated),
        ["GET /r?1 HTTP/1.1 . 200 1 1", "GET /r?2 HTTP/1.1 . 200 1 2"]
    );
    assert_eq!(
        read_lines(&log_path(&s, "a.log")),
        ["GET /r?3 HTTP/1.1 . 200 1 3", "GET /r?4 HTTP/1.1 . 200 1 1"]
    );
}

#[test]
fn add_header_on_success_codes_and_always() {
    let s = Server::with_server(
        "    add_header X-A v;\n\
         \x20   add_header X-B \"w x\" always;\n\
         \x20   add_header X-Uri $uri;\n\
         \x20   location = /r { return 200 \"R\"; }\n\
         \x20   location = /empty { return 204; }\n\
         \x20   location = /teapot { return 418 \"tea\"; }\n\
         \x20   location = /own { add_header X-C c; return 200 \"own\"; }",
    );
    let mut c = s.connect();
    let ok = c.request(get("/r"));
    ok.assert_status(200).assert_body("R");
    assert_eq!(ok.header("X-A"), Some("v"), "{ok:?}");
    assert_eq!(ok.header("X-B"), Some("w x"), "{ok:?}");
    assert_eq!(ok.header("X-Uri"), Some("/r"), "{ok:?}");
    assert_eq!(ok.header_count("X-A"), 1, "{ok:?}");

    let nf = c.request(get("/missing"));
    nf.assert_status(404).assert_keepalive();
    assert_eq!(nf.header("X-A"), None, "no X-A on 404: {nf:?}");
    assert_eq!(nf.header("X-Uri"), None, "{nf:?}");
    assert_eq!(nf.header("X-B"), Some("w x"), "always: {nf:?}");

    let mut e = s.connect();
    e.send(get("/empty"));
    let empty = e.read_response();
    empty.assert_status(204);
    assert_eq!(
        empty.header("X-A"),
        Some("v"),
        "204 is a success code: {empty:?}"
    );

    let tea = c.request(get("/teapot"));
    tea.assert_status(418);
    assert_eq!(tea.header("X-A"), None, "{tea:?}");
    assert_eq!(tea.header("X-B"), Some("w x"), "{tea:?}");

    // A level with its own add_header inherits none.
    let own = c.request(get("/own"));
    own.assert_status(200).assert_body("own");
    assert_eq!(own.header("X-C"), Some("c"), "{own:?}");
    assert_eq!(own.header("X-A"), None, "{own:?}");
    assert_eq!(own.header("X-B"), None, "{own:?}");
}

#[test]
fn add_header_on_static_files_and_error_pages() {
    let s = Server::with_server("    add_header X-A v;\n    add_header X-E e always;");
    s.prefix().write("html/f.txt", "file");
    let mut c: Conn = s.connect();
    let f = c.request(get("/f.txt"));
    f.assert_status(200).assert_body("file");
    assert_eq!(f.header("X-A"), Some("v"), "{f:?}");
    assert_eq!(f.header("X-E"), Some("e"), "{f:?}");
    // A 400 found while reading the header: only `always` headers. nginx
    // takes them from the default server's configuration
    // (ngx_http_alloc_request sets r->loc_conf to it).
    let mut bad = s.connect();
    bad.send("GET /f.txt HTTP/1.1\r\n\r\n"); // no Host
    let r = bad.read_response();
    r.assert_status(400).assert_close();
    assert_eq!(r.header("X-A"), None, "{r:?}");
    assert_eq!(r.header("X-E"), Some("e"), "always header on a 400: {r:?}");
}

#[test]
fn requests_ending_while_the_header_is_read_are_logged() {
    // nginx logs these too, with the default server's access_log: a 400
    // found in the header (status 400 and the error page's size) and a
    // client_header_timeout expiry after a complete request line (408,
    // nothing sent; nginx-flow.md §1 "access log status 408").
    let s = start(
        "log-errors",
        &format!("{FORMAT}\n    access_log logs/t.log t;\n    client_header_timeout 1s;"),
        "    location = /r { return 200 \"R\"; }",
    );
    let mut c = s.connect();
    c.send("GET /r?nohost HTTP/1.1\r\n\r\n");
    let bad = c.read_response();
    bad.assert_status(400).assert_close();
    c.expect_closed(CLOSE);
    let mut slow = s.connect();
    slow.send("GET /r?slow HTTP/1.1\r\nHost: localhost\r\n");
    slow.expect_closed(CLOSE);
    let mut ok = s.connect();
    ok.request(get("/r?ok")).assert_status(200);
    drop((c, slow, ok));
    let s = stop(s);
    assert_eq!(
        read_lines(&log_path(&s, "t.log")),
        [
            format!("GET /r?nohost HTTP/1.1 . 400 {} 1", bad.body.len()),
            "GET /r?slow HTTP/1.1 . 408 0 1".to_string(),
            "GET /r?ok HTTP/1.1 . 200 1 1".to_string(),
        ]
    );
}
