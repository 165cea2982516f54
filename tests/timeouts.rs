//! client_header_timeout (nginx-flow.md §1, §2): armed at accept, not re-armed
//! when bytes arrive, expiry closes silently (the 408 is never sent) with the
//! info line `client timed out (110: Connection timed out) while …`. And how it
//! combines with keepalive_timeout (§4, §5).

mod common;

use std::time::{Duration, Instant};

use common::{Server, get};

const TIMED_OUT: &str = "client timed out (110: Connection timed out) while";

fn server(extra: &str) -> Server {
    Server::with_server(&format!(
        "    client_header_timeout 1s;\n{extra}\n    location = /r {{ return 200 \"R\"; }}"
    ))
}

/// Asserts the connection stays open until `t0 + open_for` and is closed by
/// `t0 + closed_by`; returns when it closed, relative to `t0`.
#[track_caller]
fn closes_between(
    c: &mut common::Conn,
    t0: Instant,
    open_for: Duration,
    closed_by: Duration,
) -> Duration {
    c.expect_open(open_for.saturating_sub(t0.elapsed()));
    c.expect_closed(closed_by.saturating_sub(t0.elapsed()));
    t0.elapsed()
}

/// Sends `partial` (maybe nothing) and checks the server closes the
/// connection between 0.7 s and 2.5 s after accept, logging the timeout with
/// `action`; returns when it closed.
fn closed_by_header_timeout(partial: &str, action: &str) -> Duration {
    let s = server("");
    let t0 = Instant::now();
    let mut c = s.connect();
    if !partial.is_empty() {
        c.send(partial);
    }
    let took = closes_between(
        &mut c,
        t0,
        Duration::from_millis(700),
        Duration::from_millis(2500),
    );
    s.assert_log(&format!("{TIMED_OUT} {action}"), Duration::from_secs(2));
    took
}

#[test]
fn silent_connection_closed_after_client_header_timeout() {
    let took = closed_by_header_timeout("", "waiting for request");
    assert!(took >= Duration::from_millis(700), "{took:?}");
}

#[test]
fn stalled_partial_header_closed_after_client_header_timeout() {
    closed_by_header_timeout(
        "GET /r HTTP/1.1\r\nHost: loc",
        "reading client request headers",
    );
}

#[test]
fn stalled_partial_request_line_closed_after_client_header_timeout() {
    closed_by_header_timeout("GET /r HT", "reading client request line");
}

#[test]
fn header_timeout_counts_from_accept_not_from_first_bytes() {
    let s = server("");
    let t0 = Instant::now();
    let mut c = s.connect();
    // Silent for 600 ms (asserting the server does not close meanwhile), then
    // half a header. The timer armed at accept still fires at ~1 s; had it
    // been re-armed by the bytes it would fire at ~1.6 s.
    c.expect_open(Duration::from_millis(600));
    c.send("GET /r HTTP/1.1\r\n");
    let took = c.expect_closed(Duration::from_millis(2500).saturating_sub(t0.elapsed()));
    let total = t0.elapsed();
    assert!(
        total < Duration::from_millis(1450),
        "closed {total:?} after connect ({took:?} after the bytes)"
    );
}

#[test]
fn bytes_trickling_in_do_not_extend_header_timeout() {
    let s = server("");
    let t0 = Instant::now();
    let mut c = s.connect();
    // One byte every 200 ms: never silent long, but the head is not complete
    // after 1 s, so the connection is closed.
    let req = b"GET /r HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut closed = false;
    for b in req {
        if c.try_send([*b]).is_err() {
            closed = true;
            break;
        }
        // Paces the writes and watches for the close at the same time.
        if !c.stays_open(Duration::from_millis(200)) {
            closed = true;
            break;
        }
        if t0.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    assert!(closed, "the trickled request was never cut off");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took <= Duration::from_millis(2500),
        "closed after {took:?}"
    );
}

#[test]
fn complete_request_is_answered_well_within_header_timeout() {
    let s = server("");
    let mut c = s.connect();
    c.expect_open(Duration::from_millis(500));
    c.request(get("/r"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("R");
}

#[test]
fn keepalive_connection_not_closed_by_header_timeout() {
    // After a response the header timer is gone; the keep-alive timer (here
    // longer) is what counts.
    let s = server("    keepalive_timeout 3s;");
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    c.expect_open(Duration::from_millis(1500));
    c.request(get("/r")).assert_status(200);
}

#[test]
fn partial_request_on_keepalive_connection_uses_header_timeout() {
    // keepalive_timeout 1s, client_header_timeout 2s: once bytes of the next
    // request arrive the keep-alive timer is removed and the header timer
    // (armed then) decides.
    let s = Server::with_server(
        "    client_header_timeout 2s;\n    keepalive_timeout 1s;\n\
         \x20   location = /r { return 200 \"R\"; }",
    );
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    let t0 = Instant::now();
    c.expect_open(Duration::from_millis(300));
    c.send("GET /r HTTP/1.1\r\nHo");
    // Past the keep-alive deadline (1 s), before the header one (~2.3 s).
    let took = closes_between(
        &mut c,
        t0,
        Duration::from_millis(1700),
        Duration::from_millis(3800),
    );
    assert!(took >= Duration::from_millis(1700), "{took:?}");
    s.assert_log(TIMED_OUT, Duration::from_secs(2));
}

#[test]
fn no_response_bytes_on_header_timeout() {
    let s = server("");
    let mut c = s.connect();
    c.send("GET /r HTTP/1.1\r\n");
    // expect_closed fails on any data: nginx never sends the 408.
    c.expect_closed(Duration::from_millis(2500));
    assert_eq!(s.log_count("HTTP/1.1 408"), 0);
}

#[test]
fn partial_pipelined_request_times_out_after_header_timeout() {
    let s = server("    keepalive_timeout 10s;");
    let mut c = s.connect();
    c.send(format!("{}GET /r HT", get("/r")));
    c.read_response().assert_status(200).assert_keepalive();
    let t0 = Instant::now();
    closes_between(
        &mut c,
        t0,
        Duration::from_millis(600),
        Duration::from_millis(2500),
    );
    s.assert_log(TIMED_OUT, Duration::from_secs(2));
}

#[test]
fn client_closing_silent_connection_is_logged() {
    let s = server("");
    let c = s.connect();
    c.shutdown_write();
    s.assert_log(
        "client closed connection while waiting for request",
        Duration::from_secs(3),
    );
}

#[test]
fn client_closing_during_header_gets_no_response() {
    let s = server("");
    let mut c = s.connect();
    c.send("GET /r HTTP/1.1\r\nHost: loc");
    c.shutdown_write();
    c.expect_closed(Duration::from_secs(3));
    s.assert_log(
        "client prematurely closed connection",
        Duration::from_secs(3),
    );
}

#[test]
fn send_timeout_closes_connection_of_stalled_reader() {
    let p = common::Prefix::new("sendto");
    // Sparse 64 MB: far more than the socket buffers can hold.
    let f = std::fs::File::create(p.path().join("html/huge.bin")).expect("create");
    f.set_len(64 << 20).expect("set_len");
    drop(f);
    let s = Server::start_with(
        p,
        common::WORKER_CONNECTIONS,
        &common::server_block("    send_timeout 1s;"),
    );
    let mut c = s.connect();
    let t0 = Instant::now();
    c.send(get("/huge.bin"));
    // Not reading: the server's writes stall and send_timeout fires.
    s.assert_log(
        "client timed out (110: Connection timed out) while sending response to client",
        Duration::from_secs(5),
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );
    let got = c.read_to_close(Duration::from_secs(10));
    assert!(
        got.len() < (64 << 20),
        "got the whole file ({} bytes) despite the timeout",
        got.len()
    );
}
