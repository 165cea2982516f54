//! Fragmentation: a request split anywhere must give the same response as the
//! request in one piece (style.md §14 (c), hyper's "shotgun" tests).
//!
//! The client sets TCP_NODELAY and writes the parts separately. On loopback
//! the server usually wakes up late enough to find both parts in one read, so
//! the server here logs at debug level and, after each part, the client waits
//! (on the log, not with a sleep) for the server's `recv:` debug line: then
//! every part is a read of its own. If the debug format ever changes the
//! tests fall back to plain separate writes: correctness never depends on it.

mod common;

use std::time::Duration;

use common::{
    Conn, Prefix, Response, Server, WORKER_CONNECTIONS, conf_at_level, get, server_block,
};

const REQUEST: &str = "GET /split?q=1 HTTP/1.1\r\nHost: localhost\r\n\
                       User-Agent: holdfast-tests\r\nAccept: */*\r\n\r\n";

/// The server's debug line for one successful read of the head.
const RECV_LINE: &str = "recv: fd:";
/// The debug line for a read of a body that is being discarded.
const DISCARD_LINE: &str = "http read discarded body";

/// Is this a debug line for a read from a client?
fn is_read_line(line: &str) -> bool {
    line.contains(RECV_LINE) || line.contains(DISCARD_LINE)
}

/// Writes the parts of a request so the server reads each one separately.
struct Splitter {
    server: Server,
    /// Waiting for the server's read of each part works (see module doc).
    sync: bool,
}

impl Splitter {
    fn new() -> Splitter {
        let body = server_block(
            "    location = /split { return 200 \"split ok\"; }\n\
             \x20   location /long/ { return 200 \"long ok\"; }",
        );
        let server = Server::start_conf(
            Prefix::new("frag"),
            &conf_at_level("debug", WORKER_CONNECTIONS, &body),
        );
        Splitter { server, sync: true }
    }

    fn connect(&self) -> Conn {
        self.server.connect()
    }

    /// Sends `parts` one write each; after every part but the last, waits for
    /// the server to have read it.
    fn send(&mut self, c: &mut Conn, parts: &[&[u8]]) {
        for (i, part) in parts.iter().enumerate() {
            let before = self.server.count_lines(is_read_line);
            c.send(part);
            if self.sync && i + 1 < parts.len() {
                let seen = self
                    .server
                    .wait_lines(is_read_line, before + 1, Duration::from_secs(2));
                if !seen {
                    eprintln!("note: no {RECV_LINE:?} debug line; splitting without sync");
                    self.sync = false;
                }
            }
        }
    }
}

/// The parts of a response that do not change between requests.
fn stable(r: &Response) -> (u16, Option<String>, Option<String>, Option<String>, Vec<u8>) {
    (
        r.status,
        r.header("Content-Length").map(str::to_string),
        r.header("Content-Type").map(str::to_string),
        r.header("Connection").map(str::to_string),
        r.body.clone(),
    )
}

#[test]
fn request_split_at_every_offset_on_fresh_connections() {
    let mut sp = Splitter::new();
    let whole = sp.server.request(REQUEST);
    whole.assert_status(200).assert_body("split ok");
    let bytes = REQUEST.as_bytes();
    for at in 1..bytes.len() {
        let mut c = sp.connect();
        sp.send(&mut c, &[&bytes[..at], &bytes[at..]]);
        let resp = c.read_response();
        assert_eq!(stable(&resp), stable(&whole), "split at {at}: {resp:?}");
    }
}

#[test]
fn request_split_at_every_offset_on_one_keepalive_connection() {
    let mut sp = Splitter::new();
    let mut c = sp.connect();
    let whole = c.request(REQUEST);
    whole.assert_status(200).assert_keepalive();
    let bytes = REQUEST.as_bytes();
    for at in 1..bytes.len() {
        sp.send(&mut c, &[&bytes[..at], &bytes[at..]]);
        let resp = c.read_response();
        assert_eq!(stable(&resp), stable(&whole), "split at {at}: {resp:?}");
    }
    c.expect_open(Duration::from_millis(200));
}

#[test]
fn request_sent_one_byte_per_write() {
    let mut sp = Splitter::new();
    let mut c = sp.connect();
    let bytes: Vec<&[u8]> = REQUEST.as_bytes().chunks(1).collect();
    sp.send(&mut c, &bytes);
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("split ok");
    // A request with a body, byte by byte, then a normal one.
    let post = "POST /split HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nbody";
    let bytes: Vec<&[u8]> = post.as_bytes().chunks(1).collect();
    sp.send(&mut c, &bytes);
    c.read_response()
        .assert_status(200)
        .assert_keepalive()
        .assert_body("split ok");
    c.request(get("/split")).assert_status(200);
}

#[test]
fn request_split_in_three_parts() {
    let mut sp = Splitter::new();
    let bytes = REQUEST.as_bytes();
    let whole = sp.server.request(REQUEST);
    for a in (1..bytes.len()).step_by(5) {
        for b in (a + 1..bytes.len()).step_by(7) {
            let mut c = sp.connect();
            sp.send(&mut c, &[&bytes[..a], &bytes[a..b], &bytes[b..]]);
            let resp = c.read_response();
            assert_eq!(stable(&resp), stable(&whole), "split at {a},{b}: {resp:?}");
        }
    }
}

/// A request whose head is larger than the 1k client_header_buffer_size, so
/// the split points fall before, on and after the switch to a large buffer.
fn long_request() -> String {
    let pad = "p".repeat(1100);
    format!(
        "GET /long/{} HTTP/1.1\r\nHost: localhost\r\nX-Pad: {pad}\r\nX-After: 1\r\n\r\n",
        "u".repeat(300)
    )
}

#[test]
fn request_crossing_header_buffer_split_at_many_offsets() {
    let mut sp = Splitter::new();
    let req = long_request();
    let bytes = req.as_bytes();
    let whole = sp.server.request(&req);
    whole.assert_status(200).assert_body("long ok");
    let mut offsets: Vec<usize> = (1..bytes.len()).step_by(41).collect();
    offsets.extend(1000..1060);
    offsets.extend(bytes.len() - 8..bytes.len());
    for at in offsets {
        let mut c = sp.connect();
        sp.send(&mut c, &[&bytes[..at], &bytes[at..]]);
        let resp = c.read_response();
        assert_eq!(stable(&resp), stable(&whole), "split at {at}: {resp:?}");
    }
}

#[test]
fn long_request_split_on_keepalive_connection() {
    // The keep-alive handler starts a new (small) buffer for each request.
    let mut sp = Splitter::new();
    let req = long_request();
    let bytes = req.as_bytes();
    let mut c = sp.connect();
    c.request(get("/split")).assert_status(200);
    for at in (1..bytes.len()).step_by(97).chain(1020..1030) {
        sp.send(&mut c, &[&bytes[..at], &bytes[at..]]);
        c.read_response()
            .assert_status(200)
            .assert_keepalive()
            .assert_body("long ok");
    }
}

#[test]
fn pipelined_pair_split_at_every_offset() {
    let mut sp = Splitter::new();
    let pair = format!("{REQUEST}{}", get("/long/x"));
    let bytes = pair.as_bytes();
    for at in 1..bytes.len() {
        let mut c = sp.connect();
        sp.send(&mut c, &[&bytes[..at], &bytes[at..]]);
        c.read_response().assert_status(200).assert_body("split ok");
        c.read_response()
            .assert_status(200)
            .assert_keepalive()
            .assert_body("long ok");
    }
}

#[test]
fn body_split_from_its_head_and_from_the_next_request() {
    let mut sp = Splitter::new();
    let req = format!(
        "POST /split HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n0123456789{}",
        get("/long/y")
    );
    let bytes = req.as_bytes();
    for at in (1..bytes.len()).step_by(3) {
        let mut c = sp.connect();
        sp.send(&mut c, &[&bytes[..at], &bytes[at..]]);
        c.read_response()
            .assert_status(200)
            .assert_keepalive()
            .assert_body("split ok");
        c.read_response()
            .assert_status(200)
            .assert_keepalive()
            .assert_body("long ok");
    }
}
