//! The keep-alive path: nginx's ngx_http_finalize_connection →
//! ngx_http_set_keepalive → ngx_http_keepalive_handler.
//!
//! ```text
//! finalize_connection ─┬─ body left to discard → DiscardBody (then back here)
//!                      ├─ keepalive → set_keepalive ─┬─ bytes left: pipelined request (posted)
//!                      │                             └─ idle: free buffers, NODELAY,
//!                      │                                idle + reusable, keepalive_timeout
//!                      │                                → Keepalive ─(data)→ ProcessRequestLine
//!                      ├─ lingering wanted → set_lingering_close
//!                      └─ close
//! ```

use crate::conf::LingeringClose;
use crate::core::connection::{Action, EvKind, ReadHandler, TcpNodelay, WriteHandler};
use crate::core::cycle::Cycle;
use crate::http::lingering;
use crate::http::request::{self, close_connection, close_request};
use crate::os::io::{Recv, Transport};

/// Mirrors ngx_http_finalize_connection(): the response is out; decide between
/// discarding the rest of the body, keep-alive, lingering close and close.
pub fn finalize_connection<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let now = cy.clock.now_ms;
    let retiring = cy.retiring(key);
    let c = &mut cy.conns[key];
    let Some(r) = c.req() else {
        close_connection(cy, key);
        return;
    };
    let body_pending = !r.body.is_done();
    if body_pending && r.keepalive && !c.eof {
        // The response went first; now read the rest of the body away, bounded
        // by lingering_timeout per gap and lingering_time overall. (nginx also
        // discards when the connection will close; holdfast goes to lingering
        // close then, which reads and drops input under the same bounds.)
        let (time, timeout) = (lingering_time(cy, key), lingering_timeout(cy, key));
        let c = &mut cy.conns[key];
        c.read.handler = ReadHandler::DiscardBody;
        c.lingering_deadline = now + time;
        cy.add_timer(key, EvKind::Read, timeout);
        if cy.conns[key].read.ready {
            cy.post_event(key, EvKind::Read);
        }
        return;
    }
    if c.eof {
        // Never keep alive after EOF (nginx ticket #2145).
        close_request(cy, key);
        return;
    }
    let keepalive_timeout = r.loc.as_ref().map_or(0, |l| l.keepalive_timeout_ms);
    if r.keepalive && keepalive_timeout > 0 && !retiring {
        set_keepalive(cy, key);
        return;
    }
    let unparsed = c.buf().is_some_and(|b| b.pos + r.consumed < b.last);
    let lingering = r
        .loc
        .as_ref()
        .map_or(LingeringClose::On, |l| l.lingering_close);
    let wanted = r.lingering_close || body_pending || unparsed || c.read.ready || c.pipeline;
    if lingering == LingeringClose::Always || (lingering == LingeringClose::On && wanted) {
        lingering::set_lingering_close(cy, key);
        return;
    }
    close_request(cy, key);
}

/// The request's `lingering_time`.
pub fn lingering_time<S>(cy: &Cycle<S>, key: usize) -> u64 {
    cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map_or(lingering::LINGERING_TIME_MS, |l| l.lingering_time_ms)
}

/// The request's `lingering_timeout`.
pub fn lingering_timeout<S>(cy: &Cycle<S>, key: usize) -> u64 {
    cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map_or(lingering::LINGERING_TIMEOUT_MS, |l| l.lingering_timeout_ms)
}

/// Mirrors ngx_http_set_keepalive(): frees the request; with bytes of the next
/// request already buffered, starts it at once through the posted queue (no
/// read, no keep-alive timer); otherwise frees the connection's buffers,
/// releases TCP_CORK (`tcp_nopush`), sets TCP_NODELAY once (`tcp_nodelay`
/// on), marks the connection idle and reusable and arms
/// keepalive_timeout, posting the keep-alive handler when input already waits.
pub fn set_keepalive<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    log::debug!("*{} set http keepalive handler", c.number);
    c.action = Action::ClosingRequest;
    let (timeout, nodelay) = c
        .req()
        .and_then(|r| r.loc.as_ref())
        .map_or((0, true), |l| (l.keepalive_timeout_ms, l.tcp_nodelay));
    request::free_request(cy, key);
    let c = &mut cy.conns[key];
    c.write.handler = WriteHandler::Empty;
    if c.buf().is_some_and(|b| b.pos < b.last) {
        log::debug!("*{} pipelined request", c.number);
        c.action = Action::ReadingPipelinedRequestLine;
        c.pipeline = true;
        request::create_request(cy, key);
        if let Some(r) = cy.conns[key].req_mut() {
            r.pipeline = true;
        }
        cy.del_timer(key, EvKind::Read);
        cy.conns[key].read.handler = ReadHandler::ProcessRequestLine;
        cy.post_event(key, EvKind::Read);
        return;
    }
    debug_assert!(!c.has_output(), "idle connection with output queued");
    if let Some(hc) = c.hc() {
        log::debug!("*{} hc free: {:p}", c.number, hc);
    }
    cy.free_http_conn(key);
    let c = &mut cy.conns[key];
    c.stream.free_buffers();
    c.read.handler = ReadHandler::Keepalive;
    c.action = Action::Keepalive;
    if c.corked {
        // ngx_tcp_push(): what tcp_nopush held back goes out now.
        log::debug!("*{} tcp_push", c.number);
        let _ = c.stream.set_cork(false);
        c.corked = false;
    }
    if nodelay && c.tcp_nodelay == TcpNodelay::Unset {
        log::debug!("*{} tcp_nodelay", c.number);
        c.tcp_nodelay = match c.stream.set_nodelay() {
            Ok(()) => TcpNodelay::Set,
            Err(_) => TcpNodelay::Disabled,
        };
    }
    c.idle = true;
    cy.reusable_connection(key, true);
    cy.add_timer(key, EvKind::Read, timeout);
    if cy.conns[key].read.ready {
        cy.post_event(key, EvKind::Read);
    }
}

/// Mirrors ngx_http_keepalive_handler(): an idle connection woke up. Timeout
/// or forced close → close silently; EOF → `client … closed keepalive
/// connection`; data → leave the idle state, drop the keep-alive timer and
/// read the request line.
pub fn keepalive_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    log::debug!("*{} http keepalive handler", c.number);
    if c.read.timedout || c.close {
        close_connection(cy, key);
        return;
    }
    request::alloc_header_buffer(cy, key);
    let c = &mut cy.conns[key];
    let rc = if c.read.ready { c.recv() } else { Recv::Again };
    match rc {
        Recv::Again => {
            // A spurious wake-up: give the buffer back again.
            cy.free_http_conn(key);
        }
        Recv::Eof => {
            log::info!(
                "*{} client {} closed keepalive connection",
                c.number,
                c.addr_text()
            );
            close_connection(cy, key);
        }
        Recv::Error(e) => {
            if e.kind() != std::io::ErrorKind::ConnectionReset {
                log::info!("*{} recv() failed ({}) while keepalive", c.number, e);
            }
            close_connection(cy, key);
        }
        Recv::Data(_) => {
            c.action = Action::ReadingRequestLine;
            c.idle = false;
            cy.reusable_connection(key, false);
            request::create_request(cy, key);
            cy.del_timer(key, EvKind::Read);
            cy.conns[key].read.handler = ReadHandler::ProcessRequestLine;
            request::process_request_line(cy, key);
        }
    }
}
