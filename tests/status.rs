//! stub_status (nginx-flow.md §9): the exact page and its counters through
//! keep-alive, pipelined and silent connections.
//!
//! `active` = open client connections, `accepts`/`handled` = sockets
//! accepted / given a slot, `requests` = requests started, `reading` =
//! requests reading their header, `writing` = requests being answered (the
//! status request itself), `waiting` = the reusable queue (fresh silent and
//! idle keep-alive connections).

mod common;

use std::time::Duration;

use common::{Conn, Prefix, Server, get, server_block};

fn server() -> Server {
    Server::with_server(
        "    location = /status { stub_status; }\n    location = /r { return 200 \"R\"; }",
    )
}

fn page(active: u64, accepts: u64, handled: u64, requests: u64, rww: [u64; 3]) -> String {
    format!(
        "Active connections: {active} \nserver accepts handled requests\n \
         {accepts} {handled} {requests} \nReading: {} Writing: {} Waiting: {} \n",
        rww[0], rww[1], rww[2]
    )
}

#[track_caller]
fn status(c: &mut Conn) -> String {
    let resp = c.request(get("/status"));
    resp.assert_status(200).assert_keepalive();
    assert_eq!(resp.header("Content-Type"), Some("text/plain"), "{resp:?}");
    resp.text()
}

/// A connection whose second request (for `path`) is half sent; the first
/// response proves the server read the half request too.
fn busy_conn(s: &Server, path: &str) -> Conn {
    let mut c = s.connect();
    c.send(format!("{}GET {path} HTTP/1.1\r\n", get("/r")));
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("R");
    c
}

#[test]
fn first_request_sees_itself_writing() {
    let s = server();
    let mut a = s.connect();
    let text = status(&mut a);
    assert_eq!(
        text,
        "Active connections: 1 \nserver accepts handled requests\n 1 1 1 \n\
         Reading: 0 Writing: 1 Waiting: 0 \n"
    );
}

#[test]
fn keepalive_pipelined_and_silent_connections_are_counted() {
    let s = server();
    let mut a = s.connect();
    assert_eq!(status(&mut a), page(1, 1, 1, 1, [0, 1, 0]));
    // A second request on the same keep-alive connection.
    a.request(get("/r")).assert_status(200).assert_body("R");
    assert_eq!(status(&mut a), page(1, 1, 1, 3, [0, 1, 0]));

    // A silent connection, then one that asks: the silent one was queued
    // first, so it is accepted by the time the asking one is served.
    let silent = s.connect();
    let mut b = s.connect();
    // a: idle keep-alive (waiting), silent: fresh (waiting), b: writing.
    assert_eq!(status(&mut b), page(3, 3, 3, 4, [0, 1, 2]));

    // A pipelined pair on `a`: the second request is only created once the
    // first is freed, so neither sees the other reading or writing.
    a.send(format!("{}{}", get("/status"), get("/status")));
    let first = a.read_response();
    first.assert_status(200).assert_keepalive();
    let second = a.read_response();
    second.assert_status(200).assert_keepalive();
    assert_eq!(first.text(), page(3, 3, 3, 5, [0, 1, 2]));
    assert_eq!(second.text(), page(3, 3, 3, 6, [0, 1, 2]));

    // A pipelined /r then /status: /r is counted in requests.
    a.send(format!("{}{}", get("/r"), get("/status")));
    a.read_response().assert_status(200).assert_body("R");
    assert_eq!(a.read_response().text(), page(3, 3, 3, 8, [0, 1, 2]));

    // A connection in the middle of its second request is reading. The
    // first response proves the half request sent with it was read.
    let mut c = busy_conn(&s, "/r");
    assert_eq!(status(&mut a), page(4, 4, 4, 11, [1, 1, 2]));
    c.send("Host: a\r\n\r\n");
    c.read_response().assert_status(200).assert_body("R");

    // The silent connection leaves: active drops, and so does waiting.
    drop(silent);
    s.assert_log(
        "client closed connection while waiting for request",
        Duration::from_secs(3),
    );
    // a: writing; b, c: idle.
    assert_eq!(status(&mut a), page(3, 4, 4, 12, [0, 1, 2]));
}

#[test]
fn refused_connection_is_accepted_but_not_handled() {
    // worker_connections 4 with one listener leaves 3 client slots.
    let s = Server::start_with(
        Prefix::new("status-refused"),
        4,
        &server_block(
            "    location = /status { stub_status; }\n    location = /r { return 200 \"R\"; }",
        ),
    );
    // Three connections in the middle of a request: nothing is reusable.
    let mut busy: Vec<Conn> = (0..2).map(|_| busy_conn(&s, "/r")).collect();
    let mut a = busy_conn(&s, "/status");
    let mut refused = s.connect();
    refused.expect_closed(Duration::from_secs(3));
    s.assert_log(
        "4 worker_connections are not enough",
        Duration::from_secs(3),
    );
    a.send("Host: a\r\n\r\n");
    let resp = a.read_response();
    resp.assert_status(200).assert_keepalive();
    // accepts counts the refused socket, handled does not; the two other
    // busy connections are reading their second request.
    assert_eq!(resp.text(), page(3, 4, 3, 6, [2, 1, 0]));
    for c in &mut busy {
        c.send("Host: a\r\n\r\n");
        c.read_response().assert_status(200);
    }
}
