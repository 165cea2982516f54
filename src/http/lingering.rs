//! Lingering close: nginx's ngx_http_set_lingering_close and
//! ngx_http_lingering_close_handler.
//!
//! When a connection closes with input unread (a body, pipelined bytes, or the
//! socket readable), closing at once makes the kernel send an RST that can
//! destroy the last response before the client read it. Instead the write side
//! is shut down and input is read and thrown away until the client closes, or
//! `lingering_timeout` passes without input, or `lingering_time` is over.

use crate::core::connection::{Action, EvKind, ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::http::keepalive;
use crate::http::request::close_request;
use crate::os::io::{Recv, Transport};

/// nginx's default `lingering_time` (30 s).
pub const LINGERING_TIME_MS: u64 = 30_000;
/// nginx's default `lingering_timeout` (5 s).
pub const LINGERING_TIMEOUT_MS: u64 = 5_000;

/// Mirrors ngx_http_set_lingering_close(). As in nginx the request lives on
/// until the lingering ends (its access-log line is written then, and
/// `$request_time` includes the lingering); input read meanwhile goes to the
/// cycle's scratch buffer, not the request's.
pub fn set_lingering_close<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let (time, timeout) = (
        keepalive::lingering_time(cy, key),
        keepalive::lingering_timeout(cy, key),
    );
    let now = cy.clock.now_ms;
    let c = &mut cy.conns[key];
    if c.lingering_deadline == 0 {
        c.lingering_deadline = now + time;
    }
    c.read.handler = ReadHandler::LingeringClose;
    c.write.handler = WriteHandler::Empty;
    c.action = Action::LingeringClose;
    if c.stream.shutdown_write().is_err() {
        close_request(cy, key);
        return;
    }
    c.close = false;
    c.lingering_timeout = u32::try_from(timeout).unwrap_or(u32::MAX);
    cy.reusable_connection(key, true);
    cy.add_timer(key, EvKind::Read, timeout);
    if cy.conns[key].read.ready {
        lingering_close_handler(cy, key);
    }
}

/// Mirrors ngx_http_lingering_close_handler().
pub fn lingering_close_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let now = cy.clock.now_ms;
    let c = &mut cy.conns[key];
    log::debug!("*{} http lingering close handler", c.number);
    if c.read.timedout || c.close || now >= c.lingering_deadline {
        close_request(cy, key);
        return;
    }
    loop {
        let c = &mut cy.conns[key];
        let rc = if c.read.ready {
            crate::core::connection::Connection::recv_into(
                &mut c.stream,
                &mut c.read.ready,
                &mut c.eof,
                c.pending_eof,
                &mut cy.scratch,
            )
        } else {
            Recv::Again
        };
        match rc {
            Recv::Data(n) => log::debug!("*{} lingering read: {n}", c.number),
            Recv::Again => break,
            Recv::Eof | Recv::Error(_) => {
                log::debug!("*{} lingering read: 0", c.number);
                close_request(cy, key);
                return;
            }
        }
    }
    let c = &cy.conns[key];
    let remaining = c.lingering_deadline.saturating_sub(now);
    let timeout = u64::from(c.lingering_timeout);
    cy.add_timer(key, EvKind::Read, remaining.min(timeout));
}
