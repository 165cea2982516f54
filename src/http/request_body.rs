//! Reading a request body to keep it: nginx's
//! ngx_http_read_client_request_body and ngx_http_read_client_request_body_handler
//! (`ngx_http_request_body.c`), for the proxy, which sends it to the peer.
//!
//! As nginx with `proxy_request_buffering on` (its default), the whole body
//! is read before the peer is contacted; holdfast keeps it in memory (up to
//! `client_max_body_size`; nginx spills what passes
//! `client_body_buffer_size` to a temporary file — not yet).

use crate::core::connection::{Connection, EvKind, ReadHandler, req_in};
use crate::core::cycle::Cycle;
use crate::http::request::{Finalize, client_info, close_request, finalize_request};
use crate::http::response::{self, Sent};
use crate::os::io::{Recv, Transport};

/// What reading the body got.
pub enum ReadBody {
    /// All of it is in `r.request_body`.
    Done,
    /// More is to come: the read handler takes over.
    Again,
    /// Answer with this (400, 413, 408) or close.
    Finalize(Finalize),
}

/// Mirrors ngx_http_read_client_request_body(): `100 Continue` when asked
/// (sent at once: the client waits for it), the body bytes already in the
/// header buffer, then whatever the socket has.
pub fn read_client_request_body<S: Transport>(cy: &mut Cycle<S>, key: usize) -> ReadBody {
    let max = crate::http::body::max_body_size(cy, key);
    let c = &mut cy.conns[key];
    let number = c.number;
    let Some(hc) = c.hc_mut() else {
        return ReadBody::Finalize(Finalize::Close);
    };
    let (Some(r), Some(b)) = (hc.request.as_deref_mut(), hc.buffer.as_ref()) else {
        return ReadBody::Finalize(Finalize::Close);
    };
    let expect = std::mem::take(&mut r.expect_continue);
    let start = (b.pos + r.consumed).min(b.last);
    let mut body = r.request_body.take().unwrap_or_default();
    match r.body.consume_into(&b.mem[start..b.last], max, &mut body) {
        Ok(n) => {
            r.consumed += n;
            r.request_length += n as u64;
        }
        Err(status) => return ReadBody::Finalize(Finalize::Status(status)),
    }
    let done = r.body.is_done();
    r.request_body = Some(body);
    if expect {
        log::debug!("*{number} send 100 Continue");
        hc.out
            .mem
            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        if matches!(response::send_out(cy, key), Sent::Error) {
            return ReadBody::Finalize(Finalize::Close);
        }
    }
    if done {
        return ReadBody::Done;
    }
    read_more(cy, key, max)
}

/// Reads body bytes while the socket has them.
fn read_more<S: Transport>(cy: &mut Cycle<S>, key: usize, max: u64) -> ReadBody {
    loop {
        let c = &mut cy.conns[key];
        let Some(r) = req_in(&mut c.data) else {
            return ReadBody::Finalize(Finalize::Close);
        };
        if r.body.is_done() {
            cy.del_timer(key, EvKind::Read);
            return ReadBody::Done;
        }
        if !c.read.ready {
            c.read.handler = ReadHandler::ReadClientBody;
            let t = r
                .loc
                .as_ref()
                .map_or(crate::conf::CLIENT_BODY_TIMEOUT_MS, |l| {
                    l.client_body_timeout_ms
                });
            cy.add_timer(key, EvKind::Read, t);
            return ReadBody::Again;
        }
        let want = r.body.read_limit().min(cy.scratch.len() as u64) as usize;
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
                let mut body = r.request_body.take().unwrap_or_default();
                let used = r.body.consume_into(&buf[..n], max, &mut body);
                r.request_body = Some(body);
                if let Err(status) = used {
                    return ReadBody::Finalize(Finalize::Status(status));
                }
            }
            Recv::Again => continue,
            Recv::Eof | Recv::Error(_) => {
                client_info!(cy, key, "client prematurely closed connection");
                return ReadBody::Finalize(Finalize::Close);
            }
        }
    }
}

/// Mirrors ngx_http_read_client_request_body_handler(): the read handler
/// while the body comes; when it is all in, the proxy goes on.
pub fn read_client_request_body_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    if c.read.timedout {
        c.timedout = true;
        client_info!(
            cy,
            key,
            "client timed out (110: Connection timed out) while reading client request body"
        );
        // ngx_http_finalize_request terminates on 408: no answer.
        if let Some(r) = cy.conns[key].req_mut() {
            r.status = 408;
        }
        close_request(cy, key);
        return;
    }
    if c.close {
        close_request(cy, key);
        return;
    }
    let max = crate::http::body::max_body_size(cy, key);
    match read_more(cy, key, max) {
        ReadBody::Again => {}
        ReadBody::Done => {
            cy.conns[key].read.handler = ReadHandler::BlockReading;
            let rc = crate::http::proxy_module::proxy_body_read(cy, key);
            finalize_request(cy, key, rc);
        }
        ReadBody::Finalize(rc) => finalize_request(cy, key, rc),
    }
}
