//! Lingering close and reset_timedout_connection (nginx-flow.md §4 step 6,
//! §7): when a connection closes with client input possibly unread, the
//! server half-closes (the client reads EOF right after the last response)
//! and keeps reading and dropping input until the client closes,
//! `lingering_timeout` passes without input, or `lingering_time` is over.
//! A fully closed server socket answers further client data with an RST,
//! which is how these tests tell "lingering" from "closed".

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Prefix, Server, conf_at_level, get, server_block};

const CLOSE: Duration = Duration::from_secs(3);

fn locations() -> &'static str {
    "    location = /1 { return 200 \"1\"; }\n    location = /2 { return 200 \"2\"; }"
}

fn server(extra: &str) -> Server {
    Server::with_server(&format!("{extra}\n{}", locations()))
}

/// A server logging at debug level, so the close of a lingering connection
/// (`*N close http connection`) can be waited for.
fn debug_server(extra: &str) -> Server {
    let text = conf_at_level(
        "debug",
        common::WORKER_CONNECTIONS,
        &server_block(&format!("{extra}\n{}", locations())),
    );
    Server::start_conf(Prefix::new("linger-debug"), &text)
}

fn close_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

/// Sends `GET /1` + `GET /2 (Connection: close)` + `extra` in one write and
/// reads both responses intact, then the EOF of the server's half-close.
fn pipelined_pair_then_eof(c: &mut Conn, extra: &[u8]) -> Instant {
    let mut raw = format!("{}{}", get("/1"), close_get("/2")).into_bytes();
    raw.extend_from_slice(extra);
    c.send(&raw);
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("1");
    c.read_response()
        .assert_status(200)
        .assert_close()
        .assert_body("2");
    // A FIN, not an RST: nothing of the responses was destroyed.
    c.expect_eof(CLOSE);
    Instant::now()
}

#[test]
fn pipelined_close_with_extra_bytes_lingers_after_intact_responses() {
    let s = server("");
    let mut c = s.connect();
    // 64k of junk after the last request: unread input at close time.
    let junk = vec![b'j'; 64 * 1024];
    pipelined_pair_then_eof(&mut c, &junk);
    // The server only half-closed: it still reads what the client sends.
    c.try_send(b"more input")
        .expect("the client can still write");
    assert!(
        !c.reset_within(Duration::from_millis(300)),
        "the server closed instead of lingering"
    );
    c.try_send(b"and more").expect("still writable");
    assert!(!c.reset_within(Duration::from_millis(100)));
    assert_eq!(s.log_count("reset by peer"), 0, "{}", s.log_text());
}

#[test]
fn connection_that_was_pipelined_lingers_even_without_unread_bytes() {
    let s = server("");
    let mut c = s.connect();
    pipelined_pair_then_eof(&mut c, b"");
    c.try_send(b"x").expect("the client can still write");
    assert!(
        !c.reset_within(Duration::from_millis(300)),
        "a connection that was ever pipelined should linger"
    );
}

#[test]
fn lingering_close_off_closes_at_once() {
    let s = server("    lingering_close off;");
    let mut c = s.connect();
    pipelined_pair_then_eof(&mut c, b"");
    // The socket is fully closed: the kernel answers new data with an RST.
    c.try_send(b"x")
        .expect("first write after the FIN succeeds");
    assert!(
        c.reset_within(Duration::from_secs(2)),
        "lingering_close off: the server socket should be closed"
    );
}

#[test]
fn plain_close_does_not_linger_but_always_does() {
    // lingering_close on (the default): nothing unread, never pipelined →
    // closed at once.
    let s = server("");
    let mut c = s.connect();
    c.request(close_get("/1"))
        .assert_status(200)
        .assert_close()
        .assert_body("1");
    c.expect_eof(CLOSE);
    c.try_send(b"x").expect("write");
    assert!(c.reset_within(Duration::from_secs(2)), "should be closed");

    // lingering_close always: lingers anyway.
    let s = server("    lingering_close always;");
    let mut c = s.connect();
    c.request(close_get("/1"))
        .assert_status(200)
        .assert_close()
        .assert_body("1");
    c.expect_eof(CLOSE);
    c.try_send(b"x").expect("write");
    assert!(
        !c.reset_within(Duration::from_millis(300)),
        "lingering_close always should linger"
    );
}

#[test]
fn error_response_with_unread_body_lingers() {
    // 413 for a declared body leaves the body unread: the response must not
    // be destroyed by an RST even though the client keeps sending.
    let s = server("    client_max_body_size 10;");
    let mut c = s.connect();
    c.send("POST /1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200000\r\n\r\n");
    c.send(vec![b'b'; 100_000]);
    c.read_response().assert_status(413).assert_close();
    c.expect_eof(CLOSE);
    c.try_send(vec![b'b'; 100_000])
        .expect("the client can still send the body");
    assert!(!c.reset_within(Duration::from_millis(300)));
}

#[test]
fn lingering_timeout_closes_one_second_after_the_last_input() {
    let s = debug_server("    lingering_timeout 1s;");
    let closed = "*1 close http connection:";
    let mut c = s.connect();
    let t0 = pipelined_pair_then_eof(&mut c, b"extra");
    // Still lingering 600 ms later.
    assert!(
        !s.log_contains(closed, Duration::from_millis(600)),
        "closed too early:\n{}",
        s.log_text()
    );
    // Input re-arms lingering_timeout.
    let t1 = Instant::now();
    c.try_send(b"more").expect("the client can still write");
    s.assert_log("*1 lingering read: 4", Duration::from_secs(2));
    assert!(
        s.log_contains(closed, Duration::from_secs(4)),
        "lingering connection never closed:\n{}",
        s.log_text()
    );
    let (since_input, since_start) = (t1.elapsed(), t0.elapsed());
    assert!(
        since_input >= Duration::from_millis(700) && since_input <= Duration::from_millis(2200),
        "closed {since_input:?} after the last input (lingering_timeout 1s)"
    );
    assert!(
        since_start >= Duration::from_millis(1200),
        "closed {since_start:?} after the half-close: the input did not re-arm the timer"
    );
    // Fully closed now: more data is answered with an RST.
    c.try_send(b"x").expect("write");
    assert!(c.reset_within(Duration::from_secs(2)));
}

#[test]
fn lingering_time_bounds_lingering_even_with_steady_input() {
    let s = debug_server("    lingering_time 1s;");
    let closed = "*1 close http connection:";
    let mut c = s.connect();
    let t0 = pipelined_pair_then_eof(&mut c, b"extra");
    // Keep sending every 250 ms (far below lingering_timeout, 5 s).
    let mut at = None;
    while t0.elapsed() < Duration::from_secs(4) {
        if s.log_contains(closed, Duration::from_millis(250)) {
            at = Some(t0.elapsed());
            break;
        }
        let _ = c.try_send(b"tick");
    }
    let at = at.unwrap_or_else(|| panic!("never closed:\n{}", s.log_text()));
    assert!(
        at >= Duration::from_millis(700) && at <= Duration::from_millis(2200),
        "closed {at:?} after the half-close (lingering_time 1s)"
    );
    assert!(
        s.log_count("*1 lingering read:") >= 2,
        "the ticks were read:\n{}",
        s.log_text()
    );
}

#[test]
fn reset_timedout_connection_on_resets_a_header_timeout() {
    let s = server("    client_header_timeout 1s;\n    reset_timedout_connection on;");
    let mut c = s.connect();
    c.send("GET /1 HTTP/1.1\r\nHost: localhost\r\n");
    let took = c.expect_reset(Duration::from_secs(4));
    assert!(
        took >= Duration::from_millis(700),
        "reset after {took:?}, before client_header_timeout"
    );
    s.assert_log("client timed out", Duration::from_secs(3));
}

#[test]
fn reset_timedout_connection_off_closes_a_header_timeout_with_fin() {
    let s = server("    client_header_timeout 1s;");
    let mut c = s.connect();
    c.send("GET /1 HTTP/1.1\r\nHost: localhost\r\n");
    let took = c.expect_eof(Duration::from_secs(4));
    assert!(took >= Duration::from_millis(700), "closed after {took:?}");
}

#[test]
fn reset_timedout_connection_does_not_reset_a_silent_connection() {
    // As nginx: the wait-request handler closes a connection that never sent
    // a byte without going through the request, so without SO_LINGER.
    let s = server("    client_header_timeout 1s;\n    reset_timedout_connection on;");
    let mut c = s.connect();
    c.expect_eof(Duration::from_secs(4));
}
