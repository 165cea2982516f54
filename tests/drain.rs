//! Draining and exhaustion with `worker_connections 16` (nginx-flow.md §6):
//! one listening socket takes a slot, so 15 are left for clients. Once free
//! slots fall to 16/16 = 1, every accept first drains
//! `max(min(32, reusable/8), 1)` reusable connections from the tail of the
//! reusable queue (the oldest), warning at most once per second; with no
//! slot and nothing reusable the newcomer is closed with an `[alert]`.

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Prefix, Server, get, server_block};

const WC: usize = 16;

fn server() -> Server {
    Server::start_with(
        Prefix::new("drain"),
        WC,
        &server_block("    location = /r { return 200 \"R\"; }"),
    )
}

/// A connection that got one response and now idles in keep-alive.
fn idle_conn(s: &Server) -> Conn {
    let mut c = s.connect();
    c.request(get("/r"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("R");
    c
}

/// A connection in the middle of its second request: the first response
/// proves the server has read the half request sent with it.
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

fn is_reuse_warning(l: &str) -> bool {
    l.contains("[warn]") && l.contains("16 worker_connections are not enough, reusing connections")
}

fn is_exhaustion_alert(l: &str) -> bool {
    l.contains("[alert]")
        && l.trim_end()
            .ends_with("16 worker_connections are not enough")
}

#[track_caller]
fn assert_closed_exactly(conns: &[Conn], closed: usize, what: &str) {
    let state: Vec<bool> = conns.iter().map(Conn::closed_now).collect();
    let want: Vec<bool> = (0..conns.len()).map(|i| i < closed).collect();
    assert_eq!(
        state, want,
        "{what}: which connections are closed (oldest first)"
    );
}

#[test]
fn newcomers_are_served_by_closing_idle_connections_oldest_first() {
    let s = server();
    // 14 idle keep-alive connections leave exactly one free slot: no
    // draining yet.
    let mut old: Vec<Conn> = (0..14).map(|_| idle_conn(&s)).collect();
    assert_eq!(s.log_count("worker_connections are not enough"), 0);
    assert_closed_exactly(&old, 0, "before the first newcomer");

    let burst = Instant::now();
    let mut newcomers: Vec<Conn> = Vec::new();
    for i in 0..20 {
        let mut c = s.connect();
        c.request(get("/r"))
            .assert_status(200)
            .assert_keepalive()
            .assert_body("R");
        newcomers.push(c);
        // Each newcomer cost exactly one connection: the oldest idle one.
        // (It was closed at accept, before the newcomer's response.)
        if i < 14 {
            old[i].expect_closed(Duration::from_secs(3));
            assert_closed_exactly(&old, i + 1, &format!("after newcomer {i}"));
            assert_closed_exactly(&newcomers, 0, &format!("newcomers after {i}"));
        } else {
            // The old ones are gone; now the newcomers are the oldest idle
            // connections, in the order they were served.
            let k = i - 14;
            newcomers[k].expect_closed(Duration::from_secs(3));
            assert_closed_exactly(&newcomers, k + 1, &format!("newcomers after {i}"));
        }
    }
    let took = burst.elapsed();
    // The survivors are still usable keep-alive connections.
    for c in &mut newcomers[6..] {
        c.request(get("/r")).assert_status(200).assert_keepalive();
    }
    assert!(
        s.wait_lines(is_reuse_warning, 1, Duration::from_secs(3)),
        "no reuse warning:\n{}",
        s.log_text()
    );
    // 20 drains, but the warning is rate-limited to once per second.
    let warnings = s.count_lines(is_reuse_warning);
    let max = took.as_secs() as usize + 2;
    assert!(
        warnings <= max,
        "{warnings} reuse warnings in {took:?} (at most {max} expected):\n{}",
        s.log_text()
    );
    assert_eq!(s.count_lines(is_exhaustion_alert), 0, "{}", s.log_text());
}

#[test]
fn reuse_warning_is_logged_again_after_a_second() {
    let s = server();
    let _old: Vec<Conn> = (0..14).map(|_| idle_conn(&s)).collect();
    let mut first = s.connect();
    first.request(get("/r")).assert_status(200);
    assert!(s.wait_lines(is_reuse_warning, 1, Duration::from_secs(3)));
    // More drains within the same second add no line ...
    let t0 = Instant::now();
    let mut quick = s.connect();
    quick.request(get("/r")).assert_status(200);
    let n_quick = s.count_lines(is_reuse_warning);
    assert!(n_quick <= 2, "{}", s.log_text());
    // ... but one more than a second later does. (A deadline read on an idle
    // connection measures the time.)
    first.expect_open(Duration::from_millis(1100).saturating_sub(t0.elapsed()));
    let mut late = s.connect();
    late.request(get("/r")).assert_status(200);
    assert!(
        s.wait_lines(is_reuse_warning, n_quick + 1, Duration::from_secs(3)),
        "no second warning:\n{}",
        s.log_text()
    );
}

#[test]
fn exhaustion_with_busy_connections_closes_newcomers_and_keeps_the_others() {
    let s = server();
    let mut busy: Vec<Conn> = (0..WC - 1).map(|_| busy_conn(&s)).collect();
    // No slot and nothing reusable: newcomers are closed without a byte.
    for _ in 0..3 {
        let mut extra = s.connect();
        extra.expect_closed(Duration::from_secs(3));
    }
    assert!(
        s.wait_lines(is_exhaustion_alert, 1, Duration::from_secs(3)),
        "no exhaustion alert:\n{}",
        s.log_text()
    );
    assert_eq!(
        s.count_lines(is_reuse_warning),
        0,
        "busy connections must not be drained:\n{}",
        s.log_text()
    );
    // Every busy connection is still open and finishes its request.
    for c in &busy {
        assert!(!c.closed_now(), "a busy connection was closed");
    }
    for c in &mut busy {
        c.send("\r\n");
        c.read_response()
            .assert_status(200)
            .assert_keepalive()
            .assert_body("R");
    }
    // ... and can go on with more requests.
    for c in &mut busy {
        c.request(get("/r")).assert_status(200).assert_keepalive();
    }
    // Now they are idle, so a newcomer is served again by reusing the
    // oldest of them.
    let mut late = s.connect();
    late.request(get("/r")).assert_status(200).assert_body("R");
    busy[0].expect_closed(Duration::from_secs(3));
    assert!(!busy[1].closed_now());
    assert!(s.wait_lines(is_reuse_warning, 1, Duration::from_secs(3)));
}

#[test]
fn mixed_busy_and_idle_only_idle_are_drained_in_age_order() {
    let s = server();
    // Alternate busy and idle connections: 7 busy, 7 idle (14 in all).
    let mut busy = Vec::new();
    let mut idle = Vec::new();
    for i in 0..14 {
        if i % 2 == 0 {
            busy.push(busy_conn(&s));
        } else {
            idle.push(idle_conn(&s));
        }
    }
    // Each newcomer drains the oldest idle connection; the newcomers go idle
    // themselves but are newer than every old one.
    let mut newcomers = Vec::new();
    for i in 0..7 {
        let mut c = s.connect();
        c.request(get("/r")).assert_status(200).assert_body("R");
        newcomers.push(c);
        idle[i].expect_closed(Duration::from_secs(3));
        assert_closed_exactly(&idle, i + 1, &format!("idle after newcomer {i}"));
        for b in &busy {
            assert!(!b.closed_now(), "a busy connection was drained");
        }
    }
    assert_closed_exactly(&newcomers, 0, "newcomers");
    for c in &mut busy {
        c.send("\r\n");
        c.read_response().assert_status(200).assert_body("R");
    }
}
