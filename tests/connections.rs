//! worker_connections exhaustion and draining (nginx-flow.md §6):
//! ngx_get_connection first drains reusable connections (fresh silent ones,
//! idle keep-alive ones, lingering ones) oldest first once free slots fall to
//! worker_connections/16; a connection in the middle of a request is not
//! reusable, and with no slot left the new connection is closed at once with
//! `[alert] N worker_connections are not enough`.
//!
//! worker_connections 4 with one listening socket leaves 3 client slots.

mod common;

use std::time::Duration;

use common::{Conn, Prefix, Server, get, server_block};

const SHORT: Duration = Duration::from_millis(300);

fn server(worker_connections: usize) -> Server {
    Server::start_with(
        Prefix::new("conns"),
        worker_connections,
        &server_block("    location = /r { return 200 \"R\"; }"),
    )
}

/// A connection whose second request is half sent. Receiving the first
/// response proves the server has read the half request as well (it came in
/// the same write) and so has taken the connection out of the reusable queue.
fn busy_conn(s: &Server) -> Conn {
    let mut c = s.connect();
    c.send(format!(
        "{}GET /r HTTP/1.1\r\nHost: localhost\r\n",
        get("/r")
    ));
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("R");
    c
}

/// A connection that got one response and is now idle in keep-alive.
fn idle_conn(s: &Server) -> Conn {
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_keepalive();
    c
}

#[test]
fn exhausted_slots_close_new_connection_while_busy_ones_finish() {
    let s = server(4);
    let mut busy: Vec<Conn> = (0..3).map(|_| busy_conn(&s)).collect();
    // No slot and nothing reusable: closed at once, nothing sent.
    let mut extra = s.connect();
    extra.expect_closed(Duration::from_secs(3));
    s.assert_log(
        "4 worker_connections are not enough",
        Duration::from_secs(3),
    );
    assert_eq!(
        s.log_count("reusing connections"),
        0,
        "busy connections must not be drained:\n{}",
        s.log_text()
    );
    // The three requests in progress complete normally.
    for c in &mut busy {
        c.send("\r\n");
        c.read_response()
            .assert_status(200)
            .assert_keepalive()
            .assert_body("R");
    }
    for c in &mut busy {
        c.expect_open(Duration::from_millis(100));
    }
    // Now they are idle, so the listener still works: a new connection is
    // served by reusing one of them.
    let mut late = s.connect();
    late.request(get("/r")).assert_status(200).assert_body("R");
}

#[test]
fn exhausted_slots_refuse_every_further_connection() {
    let s = server(4);
    let _busy: Vec<Conn> = (0..3).map(|_| busy_conn(&s)).collect();
    for _ in 0..3 {
        let mut extra = s.connect();
        extra.expect_closed(Duration::from_secs(3));
    }
    s.assert_log("worker_connections are not enough", Duration::from_secs(3));
}

#[test]
fn idle_keepalive_connections_are_reused_oldest_first() {
    let s = server(4);
    let mut first = idle_conn(&s);
    let mut second = idle_conn(&s);
    let mut third = idle_conn(&s);
    // A fourth client is served; the oldest idle connection pays for it.
    let mut fourth = s.connect();
    fourth
        .request(get("/r"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("R");
    first.expect_closed(Duration::from_secs(3));
    s.assert_log(
        "4 worker_connections are not enough, reusing connections",
        Duration::from_secs(3),
    );
    second.expect_open(SHORT);
    third.expect_open(Duration::from_millis(10));
    // The survivors still work (and become the newest idle ones again).
    third.request(get("/r")).assert_status(200);
    second.request(get("/r")).assert_status(200);
    // The next newcomer closes the oldest idle one, which is now `fourth`.
    let mut fifth = s.connect();
    fifth.request(get("/r")).assert_status(200);
    fourth.expect_closed(Duration::from_secs(3));
    third.expect_open(Duration::from_millis(50));
    second.expect_open(Duration::from_millis(10));
}

#[test]
fn fresh_silent_connections_are_reusable_too() {
    let s = server(4);
    let mut silent: Vec<Conn> = (0..3).map(|_| s.connect()).collect();
    let mut newcomer = s.connect();
    newcomer
        .request(get("/r"))
        .assert_status(200)
        .assert_body("R");
    // The oldest silent connection was closed without a response.
    silent[0].expect_closed(Duration::from_secs(3));
    silent[1].expect_open(SHORT);
    silent[2].expect_open(Duration::from_millis(10));
    s.assert_log("reusing connections", Duration::from_secs(3));
    // A drained silent connection is not a timeout.
    assert_eq!(s.log_count("client timed out"), 0, "{}", s.log_text());
}

#[test]
fn mixed_busy_and_idle_drains_only_idle() {
    let s = server(4);
    let mut busy1 = busy_conn(&s);
    let mut idle = idle_conn(&s);
    let mut busy2 = busy_conn(&s);
    let mut newcomer = s.connect();
    newcomer.request(get("/r")).assert_status(200);
    idle.expect_closed(Duration::from_secs(3));
    for c in [&mut busy1, &mut busy2] {
        c.send("\r\n");
        c.read_response().assert_status(200).assert_body("R");
    }
}

#[test]
fn plenty_of_slots_no_draining() {
    let s = server(64);
    let mut conns: Vec<Conn> = (0..20).map(|_| idle_conn(&s)).collect();
    for c in &mut conns {
        c.request(get("/r")).assert_status(200).assert_keepalive();
    }
    assert_eq!(s.log_count("worker_connections are not enough"), 0);
}
