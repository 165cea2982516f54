//! Request bodies the handlers do not use are discarded: nginx's
//! ngx_http_discard_request_body, ngx_http_read_discarded_request_body and
//! ngx_http_discarded_request_body_handler (`ngx_http_request_body.c`).
//!
//! Content-Length bodies are skipped in the buffer and read away from the
//! socket (never past the body, so a pipelined request after it survives).
//! Chunked bodies: holdfast does not decode them yet, so the connection does
//! not go keep-alive after one and lingering close reads the body away.

use crate::core::connection::{Connection, EvKind};
use crate::core::cycle::Cycle;
use crate::http::keepalive;
use crate::http::lingering::LINGERING_TIMEOUT_MS;
use crate::http::request::close_request;
use crate::os::io::{Recv, Transport};

/// What reading a discarded body got.
pub enum Discard {
    /// The whole body is gone.
    Done,
    /// More is to come.
    Again,
    /// EOF or an error: the connection must close.
    Closed,
}

/// Mirrors ngx_http_discard_request_body(): consumes the body bytes already
/// buffered and whatever is readable now; the rest is read after the response
/// is sent (finalize_connection). Err is a status to answer with.
pub fn discard_request_body<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Result<(), u16> {
    let c = &mut cy.conns[key];
    let (Some(r), Some(b)) = (c.request.as_mut(), c.buffer.as_ref()) else {
        return Ok(());
    };
    log::debug!("*{} http set discard body", c.number);
    if r.chunked {
        r.keepalive = false;
        r.lingering_close = true;
        return Ok(());
    }
    let len = r.content_length.unwrap_or(0);
    if len == 0 {
        return Ok(());
    }
    let buffered = (b.last - b.pos).saturating_sub(r.consumed) as u64;
    let take = buffered.min(len);
    r.consumed += take as usize;
    r.discard_remaining = len - take;
    if r.discard_remaining == 0 {
        r.lingering_close = false;
        return Ok(());
    }
    match read_discarded_request_body(cy, key) {
        Discard::Done => {
            if let Some(r) = cy.conns[key].request.as_mut() {
                r.lingering_close = false;
            }
        }
        Discard::Again => {}
        Discard::Closed => {
            if let Some(r) = cy.conns[key].request.as_mut() {
                r.keepalive = false;
            }
        }
    }
    Ok(())
}

/// Mirrors ngx_http_read_discarded_request_body(): reads and drops body bytes,
/// never more than the body has left.
pub fn read_discarded_request_body<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Discard {
    loop {
        let c = &mut cy.conns[key];
        let Some(r) = c.request.as_mut() else {
            return Discard::Closed;
        };
        if r.discard_remaining == 0 {
            return Discard::Done;
        }
        if !c.read.ready {
            return Discard::Again;
        }
        let want = (r.discard_remaining.min(cy.scratch.len() as u64)) as usize;
        log::debug!("*{} http read discarded body", c.number);
        match Connection::recv_into(
            &mut c.stream,
            &mut c.read.ready,
            &mut c.eof,
            c.pending_eof,
            &mut cy.scratch[..want],
        ) {
            Recv::Data(n) => r.discard_remaining -= n as u64,
            Recv::Again => return Discard::Again,
            Recv::Eof | Recv::Error(_) => return Discard::Closed,
        }
    }
}

/// Mirrors ngx_http_discarded_request_body_handler(): the read handler while
/// the rest of a body is thrown away after the response.
pub fn discarded_request_body_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let now = cy.clock.now_ms;
    let c = &mut cy.conns[key];
    log::debug!("*{} http discarded request body handler", c.number);
    if c.read.timedout || c.close || now >= c.lingering_deadline {
        close_request(cy, key);
        return;
    }
    match read_discarded_request_body(cy, key) {
        Discard::Done => {
            cy.del_timer(key, EvKind::Read);
            if let Some(r) = cy.conns[key].request.as_mut() {
                r.lingering_close = false;
            }
            keepalive::finalize_connection(cy, key);
        }
        Discard::Again => {
            let left = cy.conns[key].lingering_deadline.saturating_sub(now);
            cy.add_timer(key, EvKind::Read, left.min(LINGERING_TIMEOUT_MS));
        }
        Discard::Closed => close_request(cy, key),
    }
}
