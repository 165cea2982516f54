//! Request bodies the handlers do not use are discarded: nginx's
//! ngx_http_discard_request_body, ngx_http_read_discarded_request_body and
//! ngx_http_discarded_request_body_handler (`ngx_http_request_body.c`).
//!
//! Body bytes already in the header buffer are skipped there; the rest is read
//! from the socket and dropped, never past the end of the body (for chunked
//! bodies the decoder's lower bound of the bytes still needed caps each read),
//! so a pipelined request after the body is parsed from the buffer intact.
//! What is not readable at once is discarded after the response has been sent.

use crate::core::connection::{Connection, EvKind, req_in};
use crate::core::cycle::Cycle;
use crate::http::chunked::ChunkedDecoder;
use crate::http::keepalive;
use crate::http::request::{client_info, close_request};
use crate::os::io::{Recv, Transport};

/// nginx's default `client_max_body_size` (1m).
pub const CLIENT_MAX_BODY_SIZE: u64 = 1024 * 1024;

/// The request body's framing and what is left of it.
#[derive(Debug, Clone, Default)]
pub enum RequestBody {
    /// No body (or all of it consumed).
    #[default]
    None,
    /// Content-Length: bytes still to come.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked(ChunkedDecoder),
}

impl RequestBody {
    /// All of the body has been read.
    pub fn is_done(&self) -> bool {
        match self {
            RequestBody::None => true,
            RequestBody::Length(n) => *n == 0,
            RequestBody::Chunked(d) => d.is_done(),
        }
    }

    /// The most bytes that may be read from the socket without passing the
    /// end of the body.
    pub(crate) fn read_limit(&self) -> u64 {
        match self {
            RequestBody::None => 0,
            RequestBody::Length(n) => *n,
            RequestBody::Chunked(d) => d.min_remaining(),
        }
    }

    /// Takes `input` as body bytes; returns how many belonged to the body.
    /// Err(status) for a malformed chunked body (400) or one over `max` (413).
    fn consume(&mut self, input: &[u8], max: u64) -> Result<usize, u16> {
        match self {
            RequestBody::None => Ok(0),
            RequestBody::Length(n) => {
                let take = (*n).min(input.len() as u64);
                *n -= take;
                Ok(take as usize)
            }
            RequestBody::Chunked(d) => {
                let used = d.decode(input, |_| {}).map_err(|_| 400u16)?;
                if max > 0 && d.body_size() > max {
                    return Err(413);
                }
                Ok(used)
            }
        }
    }
}

impl RequestBody {
    /// [`RequestBody::consume`] keeping the payload (the chunked coding
    /// removed) in `out`.
    pub(crate) fn consume_into(
        &mut self,
        input: &[u8],
        max: u64,
        out: &mut Vec<u8>,
    ) -> Result<usize, u16> {
        match self {
            RequestBody::None => Ok(0),
            RequestBody::Length(n) => {
                let take = (*n).min(input.len() as u64);
                *n -= take;
                out.extend_from_slice(&input[..take as usize]);
                Ok(take as usize)
            }
            RequestBody::Chunked(d) => {
                let used = d
                    .decode(input, |data| out.extend_from_slice(data))
                    .map_err(|_| 400u16)?;
                if max > 0 && d.body_size() > max {
                    return Err(413);
                }
                Ok(used)
            }
        }
    }
}

/// What reading a discarded body got.
pub enum Discard {
    /// The whole body is gone.
    Done,
    /// More is to come.
    Again,
    /// EOF or a read error: the connection must close.
    Closed,
    /// The body is malformed or too large: answer with this status.
    Invalid(u16),
}

/// The `client_max_body_size` that applies to the request.
pub(crate) fn max_body_size<S>(cy: &Cycle<S>, key: usize) -> u64 {
    cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map_or(CLIENT_MAX_BODY_SIZE, |l| l.client_max_body_size)
}

/// Mirrors ngx_http_discard_request_body() (with ngx_http_test_expect): sends
/// `100 Continue` when asked, consumes the body bytes already buffered and
/// whatever is readable now; the rest is read after the response is sent
/// (finalize_connection). Err is a status to answer with.
pub fn discard_request_body<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Result<(), u16> {
    let max = max_body_size(cy, key);
    let c = &mut cy.conns[key];
    let number = c.number;
    let Some(hc) = crate::core::connection::hc_in(&mut c.data) else {
        return Ok(());
    };
    let (Some(r), Some(b)) = (hc.request.as_deref_mut(), hc.buffer.as_ref()) else {
        return Ok(());
    };
    log::debug!("*{number} http set discard body");
    // ngx_http_test_expect() comes first: a request that asks gets its
    // `100 Continue` even with no body to discard (Content-Length: 0).
    if r.expect_continue {
        r.expect_continue = false;
        log::debug!("*{number} send 100 Continue");
        hc.out
            .mem
            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    if r.body.is_done() {
        return Ok(());
    }
    let start = (b.pos + r.consumed).min(b.last);
    match r.body.consume(&b.mem[start..b.last], max) {
        Ok(n) => {
            r.consumed += n;
            r.request_length += n as u64;
        }
        Err(status) => return Err(status),
    }
    if r.body.is_done() {
        r.lingering_close = false;
        return Ok(());
    }
    match read_discarded_request_body(cy, key) {
        Discard::Done => {
            if let Some(r) = cy.conns[key].req_mut() {
                r.lingering_close = false;
            }
            Ok(())
        }
        Discard::Again => Ok(()),
        Discard::Closed => {
            if let Some(r) = cy.conns[key].req_mut() {
                r.keepalive = false;
            }
            Ok(())
        }
        Discard::Invalid(status) => Err(status),
    }
}

/// Mirrors ngx_http_read_discarded_request_body(): reads and drops body
/// bytes, never more than the body can still have.
pub fn read_discarded_request_body<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Discard {
    let max = max_body_size(cy, key);
    loop {
        let c = &mut cy.conns[key];
        let Some(r) = req_in(&mut c.data) else {
            return Discard::Closed;
        };
        if r.body.is_done() {
            return Discard::Done;
        }
        if !c.read.ready {
            return Discard::Again;
        }
        let want = r.body.read_limit().min(cy.scratch.len() as u64) as usize;
        log::debug!("*{} http read discarded body", c.number);
        let buf = &mut cy.scratch[..want];
        match Connection::recv_into(
            &mut c.stream,
            &mut c.read.ready,
            &mut c.eof,
            c.pending_eof,
            buf,
        ) {
            Recv::Data(n) => {
                r.request_length += n as u64;
                if let Err(status) = r.body.consume(&buf[..n], max) {
                    return Discard::Invalid(status);
                }
            }
            Recv::Again => return Discard::Again,
            Recv::Eof | Recv::Error(_) => return Discard::Closed,
        }
    }
}

/// Mirrors ngx_http_discarded_request_body_handler(): the read handler while
/// the rest of a body is thrown away after the response, bounded by
/// lingering_timeout between reads and lingering_time overall.
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
            if let Some(r) = cy.conns[key].req_mut() {
                r.lingering_close = false;
            }
            keepalive::finalize_connection(cy, key);
        }
        Discard::Again => {
            let left = cy.conns[key].lingering_deadline.saturating_sub(now);
            let timeout = keepalive::lingering_timeout(cy, key);
            cy.add_timer(key, EvKind::Read, left.min(timeout));
        }
        Discard::Closed => close_request(cy, key),
        Discard::Invalid(status) => {
            // The response has gone out already; nothing more can be said.
            client_info!(cy, key, "client sent invalid body ({status})");
            close_request(cy, key);
        }
    }
}
