//! The HTTP layer: nginx's `src/http/`.
//!
//! | module | nginx |
//! |---|---|
//! | [`request`] | `ngx_http_request.c`: init_connection → wait_request_handler → process_request_line → process_request_headers → process_request, finalize, close |
//! | [`keepalive`] | `ngx_http_request.c`: finalize_connection → set_keepalive → keepalive_handler |
//! | [`lingering`] | `ngx_http_request.c`: set_lingering_close → lingering_close_handler |
//! | [`body`] | `ngx_http_request_body.c`: discarding request bodies |
//! | [`response`] | `ngx_http_header_filter_module.c`, `ngx_http_write_filter_module.c`, ngx_http_writer |
//! | [`special`] | `ngx_http_special_response.c`: error pages, ngx_http_send_error_page |
//! | [`core_module`] | `ngx_http_core_module.c`: the phase engine, find_location, internal and named redirects, map_uri_to_path |
//! | [`rewrite_module`] | `ngx_http_rewrite_module.c` + the script codes of `ngx_http_script.c` |
//! | [`map_module`] | `ngx_http_map_module.c` (values) |
//! | [`autoindex_module`] | `ngx_http_autoindex_module.c`: directory listings |
//! | [`static_module`] | `ngx_http_static_module.c` + `ngx_http_index_module.c` + `ngx_http_try_files_module.c` |
//! | [`parse`] | `ngx_http_parse.c` (with httparse) |
//! | [`response_parse`] | `ngx_http_parse_status_line`, the upstream's header checks and body framing (for the proxy and holdfast-load) |
//! | [`variables`] | `ngx_http_variables.c` (values) and ngx_http_complex_value |
//!
//! [`run_read_handler`] and [`run_write_handler`] are the `ev->handler(ev)`
//! calls: one `match` on the connection's handler enum.

pub mod autoindex_module;
pub mod body;
pub mod charset_filter;
pub mod chunked;
pub mod connection_status;
pub mod core_module;
pub mod event_pipe;
pub mod gzip_filter;
pub mod gzip_static_module;
pub mod headers;
pub mod headers_filter;
pub mod keepalive;
pub mod lingering;
pub mod log_module;
pub mod map_module;
pub mod not_modified_filter;
pub mod parse;
pub mod proxy_module;
pub mod range_filter;
pub mod request;
pub mod request_body;
pub mod request_body_unbuffered;
pub mod response;
pub mod response_parse;
pub mod rewrite_module;
pub mod special;
pub mod ssl_client;
pub mod ssl_module;
pub mod static_module;
pub mod stub_status;
pub mod upstream;
pub mod upstream_header;
pub mod upstream_keepalive;
pub mod upstream_resolve;
pub mod upstream_round_robin;
pub mod upstream_ssl;
pub mod upstream_upgrade;
pub mod variables;

use crate::core::connection::{ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::os::io::Transport;

/// Makes the connection's log current (nginx's `c->log`): its request's
/// location's `error_log`s, else its default server's.
fn use_connection_log<S>(cy: &Cycle<S>, key: usize) {
    let c = &cy.conns[key];
    match c.req().and_then(|r| r.loc.as_ref()) {
        Some(loc) => crate::core::log::use_logs(&loc.error_log),
        None => match cy.listening.get(c.li()) {
            Some(l) => crate::core::log::use_logs(&l.servers[l.default_server].conf.error_log),
            // A peer connection: its lines are logged through its client's.
            None => crate::core::log::use_main_log(),
        },
    }
}

/// Calls the connection's read handler (`c->read->handler(c->read)`).
pub fn run_read_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    use_connection_log(cy, key);
    #[cfg(debug_assertions)]
    let token = cy.conns[key].token(key);
    match cy.conns[key].read.handler {
        ReadHandler::WaitRequest => request::wait_request_handler(cy, key),
        ReadHandler::ProcessRequestLine => request::process_request_line(cy, key),
        ReadHandler::ProcessRequestHeaders => request::process_request_headers(cy, key),
        ReadHandler::BlockReading => request::block_reading(cy, key),
        ReadHandler::TestReading => request::test_reading(cy, key),
        ReadHandler::DiscardBody => body::discarded_request_body_handler(cy, key),
        ReadHandler::Keepalive => keepalive::keepalive_handler(cy, key),
        ReadHandler::LingeringClose => lingering::lingering_close_handler(cy, key),
        ReadHandler::Upstream => {
            upstream::upstream_handler(cy, key, crate::core::connection::EvKind::Read)
        }
        ReadHandler::KeepaliveClose => upstream_keepalive::keepalive_close_handler(cy, key),
        ReadHandler::ReadClientBody => request_body::read_client_request_body_handler(cy, key),
        ReadHandler::ReadUnbufferedBody => {
            request_body_unbuffered::read_unbuffered_request_body_handler(cy, key)
        }
        ReadHandler::Upgraded => upstream_upgrade::upgraded_client_handler(cy, key),
        ReadHandler::SslHandshake => ssl_module::ssl_handshake(cy, key),
        ReadHandler::SslHandshakeHandler => ssl_module::ssl_handshake_handler(cy, key, false),
    }
    #[cfg(debug_assertions)]
    cy.check_invariants(token);
}

/// Calls the connection's write handler (`c->write->handler(c->write)`).
pub fn run_write_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    use_connection_log(cy, key);
    #[cfg(debug_assertions)]
    let token = cy.conns[key].token(key);
    match cy.conns[key].write.handler {
        WriteHandler::Empty => {}
        WriteHandler::Writer | WriteHandler::Flush => response::writer(cy, key),
        WriteHandler::Upstream if cy.conns[key].hc().is_some() => {
            event_pipe::process_downstream(cy, key)
        }
        WriteHandler::Upstream => {
            upstream::upstream_handler(cy, key, crate::core::connection::EvKind::Write)
        }
        WriteHandler::SslHandshakeHandler => ssl_module::ssl_handshake_handler(cy, key, true),
    }
    #[cfg(debug_assertions)]
    cy.check_invariants(token);
}

#[cfg(test)]
mod tests {
    //! Whole connections driven over in-memory streams: every byte split,
    //! pipelining, keep-alive decisions, partial writes — no sockets.

    use std::path::Path;
    use std::rc::Rc;

    use super::*;
    use crate::conf::Config;
    use crate::event::accept::listening_from_conf;
    use crate::os::io::MemStream;

    fn cycle(http: &str) -> Cycle<MemStream> {
        let text = format!("events {{ worker_connections 64; }} http {{ {http} }}");
        let conf = Config::from_str(
            &text,
            Path::new("/tmp/holdfast-test.conf"),
            Path::new("/tmp"),
        )
        .unwrap();
        let listening = listening_from_conf(&conf)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let mut cy = Cycle::new(Rc::new(conf), listening);
        cy.timers.set_lazy_delay(0);
        cy
    }

    const BASIC: &str = "server { listen 127.0.0.1:8080; \
        location = /a { return 200 \"A\"; } location = /b { return 200 \"BB\"; } \
        location = /ka0 { keepalive_timeout 0; return 200 \"z\"; } }";

    fn connect(cy: &mut Cycle<MemStream>) -> (usize, usize) {
        let addr = "127.0.0.1:5555".parse().unwrap();
        let key = crate::event::accept::accept_connection(cy, MemStream::default(), addr, false, 0)
            .unwrap();
        request::init_connection(cy, key);
        (key, cy.conns[key].token(key))
    }

    /// Delivers bytes as one readable event, then runs the posted queue.
    fn feed(cy: &mut Cycle<MemStream>, token: usize, bytes: &[u8]) {
        let Some(key) = cy.lookup(token) else { return };
        cy.conns[key].stream.input.push_back(bytes.to_vec());
        cy.conns[key].read.ready = true;
        run_read_handler(cy, key);
        run_posted(cy);
    }

    fn run_posted(cy: &mut Cycle<MemStream>) {
        crate::event::posted::process_posted(cy, usize::MAX);
        // What was posted for the next iteration (more of a file past
        // sendfile_max_chunk) runs as the next iterations would.
        for _ in 0..10_000 {
            if cy.posted_next.is_empty() {
                break;
            }
            cy.move_posted_next();
            crate::event::posted::process_posted(cy, usize::MAX);
        }
    }

    /// What the connection wrote, with every `Date` value blanked: each
    /// cycle reads the clock, and two of them may straddle a second.
    fn output(cy: &Cycle<MemStream>, token: usize) -> String {
        let text = cy
            .lookup(token)
            .map(|k| String::from_utf8_lossy(&cy.conns[k].stream.output).into_owned())
            .unwrap_or_default();
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find("\r\nDate: ") {
            let value = at + "\r\nDate: ".len();
            out.push_str(&rest[..value]);
            out.push('-');
            rest = &rest[value..];
            rest = &rest[rest.find("\r\n").unwrap_or(rest.len())..];
        }
        out.push_str(rest);
        out
    }

    fn statuses(out: &str) -> Vec<&str> {
        out.match_indices("HTTP/1.1 ")
            .map(|(i, _)| &out[i..i + 12])
            .collect()
    }

    #[test]
    fn request_split_at_every_byte_offset_gives_the_same_response() {
        let req = b"GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n";
        let mut cy = cycle(BASIC);
        let (_, t) = connect(&mut cy);
        feed(&mut cy, t, req);
        let whole = output(&cy, t);
        assert!(
            whole.starts_with("HTTP/1.1 200 OK\r\n") && whole.ends_with("\r\n\r\nA"),
            "{whole}"
        );
        for i in 1..req.len() {
            let mut cy = cycle(BASIC);
            let (_, t) = connect(&mut cy);
            feed(&mut cy, t, &req[..i]);
            assert_eq!(output(&cy, t), "", "answered early at split {i}");
            feed(&mut cy, t, &req[i..]);
            assert_eq!(output(&cy, t), whole, "split at {i}");
        }
        // one byte per read
        let mut cy = cycle(BASIC);
        let (_, t) = connect(&mut cy);
        for b in req {
            feed(&mut cy, t, &[*b]);
        }
        assert_eq!(output(&cy, t), whole);
    }

    #[test]
    fn pipelined_requests_answered_in_order_in_one_write() {
        let mut cy = cycle(BASIC);
        let (key, t) = connect(&mut cy);
        let one = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        let batch = one.repeat(8);
        feed(&mut cy, t, batch.as_bytes());
        let out = output(&cy, t);
        assert_eq!(statuses(&out).len(), 16);
        let bodies: Vec<&str> = out
            .split("keep-alive\r\n\r\n")
            .skip(1)
            .map(|s| s.split("HTTP/1.1").next().unwrap())
            .collect();
        assert_eq!(bodies, ["A", "BB"].repeat(8));
        // all 16 responses in one write call, no extra read after the batch
        assert_eq!(cy.conns[key].stream.writes, 1);
        assert_eq!(cy.conns[key].read.handler, ReadHandler::Keepalive);
        assert!(cy.conns[key].pipeline);
        assert_eq!(cy.stats.requests, 16);
    }

    /// Splits `req` at every offset into two reads; both requests are answered
    /// and the second one is `/b`.
    fn assert_every_split_answers_twice(req: &[u8]) {
        for i in 1..req.len() {
            let mut cy = cycle(BASIC);
            let (_, t) = connect(&mut cy);
            feed(&mut cy, t, &req[..i]);
            feed(&mut cy, t, &req[i..]);
            let out = output(&cy, t);
            assert_eq!(statuses(&out).len(), 2, "split {i}: {out}");
            assert!(out.ends_with("BB"), "split {i}");
        }
    }

    #[test]
    fn pipelined_request_split_across_reads_is_answered_after_flush() {
        let req = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_every_split_answers_twice(req);
    }

    #[test]
    fn keepalive_decisions_follow_version_and_connection_header() {
        let cases: [(&str, bool); 7] = [
            ("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", true),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
                false,
            ),
            ("GET /a HTTP/1.0\r\n\r\n", false),
            ("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            ("GET /ka0 HTTP/1.1\r\nHost: x\r\n\r\n", false),
            ("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", true),
        ];
        for (req, keep) in cases {
            let mut cy = cycle(BASIC);
            let (_, t) = connect(&mut cy);
            feed(&mut cy, t, req.as_bytes());
            let alive = cy
                .lookup(t)
                .is_some_and(|k| cy.conns[k].read.handler == ReadHandler::Keepalive);
            assert_eq!(alive, keep, "{req:?}");
            if keep {
                assert!(
                    output(&cy, t).contains("Connection: keep-alive\r\n"),
                    "{req:?}"
                );
            }
        }
    }

    #[test]
    fn idle_connection_holds_no_buffer_and_is_reusable() {
        let mut cy = cycle(BASIC);
        let (key, t) = connect(&mut cy);
        assert!(cy.conns[key].reusable && cy.conns[key].data.is_none());
        feed(&mut cy, t, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        let c = &cy.conns[key];
        assert!(c.idle && c.reusable && c.data.is_none());
        assert!(c.read.timer.is_some());
        assert_eq!(cy.stats.waiting, 1);
        assert_eq!((cy.stats.reading, cy.stats.writing), (0, 0));
        assert_eq!(cy.pool.outstanding, 0);
    }

    #[test]
    fn partial_write_waits_for_writable_then_keeps_alive() {
        let mut cy = cycle(BASIC);
        let (key, t) = connect(&mut cy);
        cy.conns[key].stream.write_limit = 10;
        cy.conns[key].stream.write_budget = Some(1);
        feed(&mut cy, t, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(cy.conns[key].write.handler, WriteHandler::Writer);
        assert!(cy.conns[key].write.timer.is_some(), "send_timeout armed");
        assert_eq!(cy.conns[key].stream.output.len(), 10);
        cy.conns[key].stream.write_budget = None;
        cy.conns[key].stream.write_limit = 0;
        cy.conns[key].write.ready = true;
        run_write_handler(&mut cy, key);
        assert!(output(&cy, t).ends_with("\r\n\r\nA"));
        assert_eq!(cy.conns[key].read.handler, ReadHandler::Keepalive);
        assert!(cy.conns[key].write.timer.is_none());
    }

    #[test]
    fn errors_before_processing_answer_with_close() {
        let cases: [(&[u8], &str); 7] = [
            (b"GARBAGE\r\n\r\n", "400 Bad Request"),
            (b"GET / HTTP/2.0\r\n\r\n", "505 HTTP Version Not Supported"),
            (b"GET / HTTP/1.1\r\n\r\n", "400 Bad Request"),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                "400 Bad Request",
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
                "501 Not Implemented",
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "400 Bad Request",
            ),
            (b"GET /../x HTTP/1.1\r\nHost: a\r\n\r\n", "400 Bad Request"),
        ];
        for (req, status) in cases {
            let mut cy = cycle(BASIC);
            let (_, t) = connect(&mut cy);
            let key = cy.lookup(t).unwrap();
            feed(&mut cy, t, req);
            let out = String::from_utf8_lossy(
                &cy.conns
                    .get(key)
                    .map(|c| c.stream.output.clone())
                    .unwrap_or_default(),
            )
            .into_owned();
            // The connection is gone (or lingering) and the answer said close.
            let gone = cy
                .lookup(t)
                .is_none_or(|k| cy.conns[k].read.handler == ReadHandler::LingeringClose);
            assert!(gone, "{:?}", String::from_utf8_lossy(req));
            if let Some(k) = cy.lookup(t) {
                let out = String::from_utf8_lossy(&cy.conns[k].stream.output).into_owned();
                assert!(out.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{out}");
                assert!(out.contains("Connection: close\r\n"));
            } else {
                let _ = out;
            }
        }
    }

    #[test]
    fn long_request_line_and_header_limits() {
        let mut cy = cycle(BASIC);
        let (_, t) = connect(&mut cy);
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
        feed(&mut cy, t, long_uri.as_bytes());
        let out = output(&cy, t);
        assert!(
            out.starts_with("HTTP/1.1 414 Request-URI Too Large\r\n"),
            "{out}"
        );

        let mut cy = cycle(BASIC);
        let (_, t) = connect(&mut cy);
        let long_hdr = format!(
            "GET /a HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
            "b".repeat(9000)
        );
        feed(&mut cy, t, long_hdr.as_bytes());
        let out = output(&cy, t);
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("Request Header Or Cookie Too Large"));

        // A 6k request line plus 20k of headers fits the large buffers.
        let mut cy = cycle(BASIC);
        let (_, t) = connect(&mut cy);
        let hdrs: String = (0..20)
            .map(|i| format!("X-{i}: {}\r\n", "c".repeat(1000)))
            .collect();
        let big = format!(
            "GET /a?{} HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n",
            "q".repeat(6000)
        );
        for chunk in big.as_bytes().chunks(700) {
            feed(&mut cy, t, chunk);
        }
        let out = output(&cy, t);
        assert!(
            out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("A"),
            "{out}"
        );
    }

    #[test]
    fn body_is_discarded_and_pipelined_request_after_it_is_parsed() {
        let mut cy = cycle(BASIC);
        let (key, t) = connect(&mut cy);
        let req = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_every_split_answers_twice(req);
        feed(&mut cy, t, req);
        assert_eq!(statuses(&output(&cy, t)).len(), 2);
        assert_eq!(cy.conns[key].read.handler, ReadHandler::Keepalive);
    }

    #[test]
    #[should_panic(expected = "reusable flag vs queue links")]
    fn the_invariant_check_catches_a_broken_link() {
        let mut cy = cycle(BASIC);
        let (key, t) = connect(&mut cy);
        cy.check_invariants(t);
        // A waiting connection is reusable: unlink it, leaving the flag.
        let c = &mut cy.conns[key];
        assert!(c.reusable);
        c.prev = crate::core::connection::NIL;
        c.next = crate::core::connection::NIL;
        cy.reusable_head = crate::core::connection::NIL;
        cy.reusable_tail = crate::core::connection::NIL;
        cy.check_invariants(t);
    }

    #[test]
    fn eof_while_idle_closes_and_frees_everything() {
        let mut cy = cycle(BASIC);
        let (key, t) = connect(&mut cy);
        feed(&mut cy, t, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        cy.conns[key].stream.eof = true;
        cy.conns[key].read.ready = true;
        run_read_handler(&mut cy, key);
        assert!(cy.lookup(t).is_none());
        assert_eq!(
            cy.stats,
            crate::core::cycle::Stats {
                accepts: 1,
                handled: 1,
                requests: 1,
                ..Default::default()
            }
        );
        assert!(cy.timers.is_empty());
        assert_eq!(cy.reusable_n, 0);
        assert_eq!(cy.pool.outstanding, 0);
    }
}
