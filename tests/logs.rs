//! nginx's error and access logs: the eight levels exactly (`notice` is
//! not `info`), several `error_log`s, `error_log` per server and location
//! (a connection logs where its location says), `access_log` with
//! `buffer=`, `flush=` and `if=`, and `$sent_http_NAME`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Prefix, Server, get};

const WITHIN: Duration = Duration::from_secs(3);

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until `path` holds `pat` (or the deadline passes).
fn wait_for(path: &Path, pat: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if read(path).contains(pat) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server with a whole configuration of our own (no standard preamble).
fn start(tag: &str, text: &str) -> Server {
    let p = Prefix::new(tag);
    p.mkdir("logs");
    Server::start_conf(p, text)
}

#[test]
fn levels_are_nginx_levels_and_several_logs_each_keep_theirs() {
    let s = start(
        "logs-levels",
        "error_log stderr notice;\nerror_log logs/info.log info;\n\
         error_log logs/warn.log warn;\nevents { }\n\
         http { server { listen 127.0.0.1:0; keepalive_timeout 10s; } }\n",
    );
    let mut c = s.connect();
    c.request(get("/missing")).assert_status(404);
    c.shutdown_write();
    c.expect_closed(WITHIN);
    let info = s.prefix().path().join("logs/info.log");
    let warn = s.prefix().path().join("logs/warn.log");
    // A closed keep-alive connection is an info line: in info.log only.
    assert!(
        wait_for(&info, "closed keepalive connection", WITHIN),
        "{}",
        read(&info)
    );
    assert!(read(&info).contains("[info] "), "{}", read(&info));
    // The 404's open() failure is an error: everywhere.
    assert!(read(&info).contains("[error] "));
    assert!(read(&warn).contains("open() \""), "{}", read(&warn));
    assert!(!read(&warn).contains("[info]"), "{}", read(&warn));
    // stderr is at notice: the start-up notices, no info line.
    assert!(s.log_contains("[notice] ", WITHIN));
    assert_eq!(s.log_count("closed keepalive connection"), 0);
    assert_eq!(s.log_count("[info]"), 0);
}

#[test]
fn a_location_logs_to_its_own_error_log() {
    let s = start(
        "logs-loc",
        "error_log stderr notice;\nevents { }\nhttp {\n error_log logs/http.log error;\n \
         server { listen 127.0.0.1:0;\n  location /quiet/ { error_log logs/quiet.log crit; }\n  \
         location /loud/ { error_log logs/loud.log info; }\n } }\n",
    );
    let http = s.prefix().path().join("logs/http.log");
    let quiet = s.prefix().path().join("logs/quiet.log");
    let loud = s.prefix().path().join("logs/loud.log");
    s.request(&get("/plain-missing")).assert_status(404);
    s.request(&get("/quiet/missing")).assert_status(404);
    s.request(&get("/loud/missing")).assert_status(404);
    assert!(wait_for(&http, "plain-missing", WITHIN), "{}", read(&http));
    assert!(wait_for(&loud, "loud/missing", WITHIN), "{}", read(&loud));
    let all = format!("{}{}{}", read(&http), read(&quiet), read(&loud));
    // Each 404 logged only where its location says; crit hides the error.
    assert_eq!(all.matches("quiet/missing").count(), 0, "{all}");
    assert_eq!(read(&http).matches("loud/missing").count(), 0);
    assert_eq!(read(&loud).matches("plain-missing").count(), 0);
    // The line carries nginx's context.
    assert!(
        read(&loud).contains(", client: 127.0.0.1, server: , request: \"GET /loud/missing HTTP/1.1\", host: \"localhost\""),
        "{}",
        read(&loud)
    );
}

#[test]
fn access_log_buffer_flush_and_if() {
    let s = start(
        "logs-access",
        "error_log stderr notice;\nevents { }\nhttp {\n log_format f '$uri $status';\n \
         server { listen 127.0.0.1:0;\n  location / { return 200 ok; }\n  \
         access_log logs/plain.log f;\n  access_log logs/buf.log f buffer=64k;\n  \
         access_log logs/flush.log f buffer=64k flush=300ms;\n  \
         access_log logs/if.log f if=$arg_log;\n } }\n",
    );
    let dir = s.prefix().path().join("logs");
    for uri in ["/a?log=1", "/b?log=0", "/c", "/d?log="] {
        s.request(&get(uri)).assert_status(200);
    }
    // Unbuffered: written by the end of the loop iteration.
    assert!(wait_for(&dir.join("plain.log"), "/d 200", WITHIN));
    // flush=: written within the flush time, without more traffic.
    assert!(wait_for(
        &dir.join("flush.log"),
        "/d 200",
        Duration::from_secs(2)
    ));
    // buffer= without flush=: held until the buffer fills or the exit.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(read(&dir.join("buf.log")), "");
    // if=: only when the value is neither empty nor "0".
    assert_eq!(read(&dir.join("if.log")), "/a 200\n");
    let mut s = s;
    s.signal(libc::SIGQUIT);
    s.assert_exits(WITHIN);
    assert_eq!(
        read(&dir.join("buf.log")),
        "/a 200\n/b 200\n/c 200\n/d 200\n"
    );
}

#[test]
fn sent_http_variables_see_the_response_header() {
    let s = start(
        "logs-sent",
        "error_log stderr notice;\nevents { }\nhttp {\n \
         log_format t '$sent_http_connection|$sent_http_keep_alive|$sent_http_x_a|$sent_http_content_length';\n \
         server { listen 127.0.0.1:0;\n  keepalive_timeout 10s 9;\n  \
         location / { add_header X-A aa; return 200 hello; }\n  \
         access_log logs/t.log t;\n } }\n",
    );
    let mut c = s.connect();
    c.request(get("/")).assert_keepalive();
    c.request("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .assert_close();
    let log = s.prefix().path().join("logs/t.log");
    assert!(wait_for(&log, "close", WITHIN), "{}", read(&log));
    assert_eq!(read(&log), "keep-alive|timeout=9|aa|5\nclose|-|aa|5\n");
}
