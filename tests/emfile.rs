//! Descriptor exhaustion (nginx-flow.md §1 step 3): when accept() fails with
//! EMFILE the server logs it, stops accepting on every listener for 500 ms,
//! keeps serving the connections it has, and accepts again once descriptors
//! are free — it never spins on a listener it cannot accept from.

mod common;

use std::time::Duration;

use common::{Conn, Prefix, Server, conf, get, server_block};

#[test]
fn emfile_backs_off_serves_existing_connections_and_recovers() {
    // 0-2, epoll, the listener and the signal pipe take 7 descriptors; a
    // limit of 12 leaves room for 5 client connections.
    let body = server_block("    location = /r { return 200 \"R\"; }");
    let text = format!("worker_rlimit_nofile 12;\n{}", conf(100, &body));
    let s = Server::start_conf(Prefix::new("emfile"), &text);

    // More clients than descriptors: the kernel completes every handshake,
    // the server can take only some of them.
    let mut conns: Vec<Conn> = (0..8).map(|_| s.connect()).collect();
    s.assert_log(
        "accept4() failed (24: Too many open files)",
        Duration::from_secs(3),
    );
    assert!(s.log_contains("[crit]", Duration::from_secs(1)));

    // The accepted ones are served while accepting is paused.
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for (i, mut c) in conns.drain(..).enumerate() {
        c.send(get("/r"));
        match c.try_read_response(Duration::from_millis(300), false).ok() {
            Some(r) => {
                r.assert_status(200).assert_body("R");
                served.push(c);
            }
            None => waiting.push((i, c)),
        }
    }
    assert!(!served.is_empty(), "some connections are served");
    assert!(
        !waiting.is_empty(),
        "some connections wait for a descriptor"
    );

    // Free descriptors: the waiting clients are accepted after the back-off
    // and answered, in time.
    drop(served);
    for (i, mut c) in waiting {
        let r = c
            .try_read_response(Duration::from_secs(5), false)
            .ok()
            .unwrap_or_else(|| panic!("waiting connection {i} never answered"));
        r.assert_status(200).assert_body("R");
    }
    // And the server still answers new clients.
    s.connect().request(get("/r")).assert_status(200);
}
