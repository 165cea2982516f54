//! Crashers found by the fuzz targets in `fuzz/` (scripts/fuzz.sh), replayed
//! through the same drivers and invariant checks: the target's modules are
//! compiled in here from `fuzz/src/` as they are.
//!
//! Each test names the target and what the input broke.

#[path = "../fuzz/src/chunked.rs"]
mod chunked;
#[path = "../fuzz/src/config.rs"]
mod config;
#[path = "../fuzz/src/http.rs"]
mod http;
#[path = "../fuzz/src/tls.rs"]
mod tls;

// `listen some.host` in a config input must not send DNS queries.
no_resolver!();

/// The seed corpora pass: a check that the drivers and their invariants
/// work at all on ordinary inputs, and keep working as the server changes.
#[test]
fn seed_corpora_pass() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    type Run = fn(&[u8]);
    let targets: [(&str, Run); 4] = [
        ("http_connection", http::run),
        ("chunked", chunked::run),
        ("config", config::run),
        ("tls_handshake", tls::run),
    ];
    for (target, run) in targets {
        let mut n = 0;
        for entry in std::fs::read_dir(root.join(target)).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| run(&data));
            assert!(r.is_ok(), "{target} seed {} fails", path.display());
            n += 1;
        }
        assert!(n > 0, "no seeds for {target}");
    }
}

/// The checks can fail: a server that answered before the request head
/// is complete, or sent bytes after `Connection: close`, is caught.
#[test]
fn response_checks_catch_violations() {
    let mut c = http::ResponseChecker::default();
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nA";
    c.advance(ok).unwrap();
    assert_eq!(c.started(), 1);
    let mut after_close =
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec();
    after_close.extend_from_slice(ok);
    assert!(
        http::ResponseChecker::default()
            .advance(&after_close)
            .is_err()
    );
    let injected =
        b"HTTP/1.1 302 Moved Temporarily\r\nLocation: /a\rX\r\nContent-Length: 0\r\n\r\n";
    assert!(http::ResponseChecker::default().advance(injected).is_err());
    assert_eq!(
        http::head_terminators(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        1
    );
    assert_eq!(http::head_terminators(b"GET / HTTP/1.1\r\nHost: x\r\n"), 0);
}

/// http_connection (found in seconds; minimized with `cargo fuzz tmin`): the
/// client never reads (write budget 0, header byte 2 = 1) and sends `\xff`,
/// then another `\xff` (chunks of 1 byte). The first byte is answered with
/// 400 and `Connection: close`, which stays queued (write handler `Writer`)
/// since the socket is full. But the read handler stays
/// `ProcessRequestLine`: the next readable event parses the same buffer
/// again and queues a second 400, and so on for every read, without bound
/// (memory grows for a client that sends and never reads); once the client
/// reads, it gets responses after the `Connection: close` one.
///
/// nginx's ngx_http_set_write_handler moves the read side to
/// ngx_http_test_reading when a response cannot be sent at once; holdfast's
/// `finalize_request` (`Sent::Again` arm, src/http/request.rs) now sets
/// `ReadHandler::BlockReading` likewise and deletes the header timer.
#[test]
fn error_response_waiting_for_socket_is_not_repeated_on_new_input() {
    // variant 0, 7 bytes per write, write budget 0, 1-byte chunks, EOF.
    http::run(b"\x00\x03\x01\x01\xff\x00\x00\xfe\xff\xff");
    // The input as the fuzzer first found it (the invalid request line
    // `ample`, then a PUT), chunks of up to 13 bytes.
    http::run(
        b"\x00\x03\x01\x0db.example\r\nExpect: 100-continue\r\nContent-Length: 10\x01\x01\x04\x00\
PUT /nb HTTP/1.1\r\nHost: b.example\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n0123456789",
    );
}
