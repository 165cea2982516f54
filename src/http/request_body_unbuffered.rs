//! `proxy_request_buffering off`: the request body goes to the peer as it
//! arrives (nginx's ngx_http_read_unbuffered_request_body and the
//! upstream's `request_body_no_buffering` path, `ngx_http_request_body.c`,
//! `ngx_http_upstream.c`).
//!
//! ```text
//! proxy_handler → start_unbuffered (100 Continue, the preread part)
//!   → proxy_start (the head and that part go to the peer at once)
//! client read event → read_unbuffered_request_body_handler
//!   → body bytes appended to the peer's pending request (chunked again
//!     when the client sent chunked) → send_request_handler
//! peer write progress → the client is read again (at most
//!   client_body_buffer_size waits for the peer: back-pressure)
//! ```
//!
//! Where holdfast differs: the body is framed for the peer as it came
//! (Content-Length, or chunked to an HTTP/1.1 peer; an HTTP/1.0 peer with
//! a chunked body gets the body buffered first, as nginx does). A try
//! whose body bytes went out is not repeated on another peer (nginx: the
//! same). `$request_body` holds the body when it fits
//! `client_body_buffer_size`.

use crate::core::connection::{EvKind, ReadHandler, req_in};
use crate::core::cycle::Cycle;
use crate::http::request::{Finalize, client_info, close_request, finalize_request};
use crate::http::response::{self, Sent};
use crate::http::upstream::up_mut;
use crate::os::io::Transport;

/// May this request's body stream to the peer (nginx's test in
/// ngx_http_proxy_handler: `proxy_request_buffering off`, the body passed
/// as the client sent it, not to a file, and chunked only to HTTP/1.1)?
pub fn wants_unbuffered<S: Transport>(cy: &Cycle<S>, key: usize, http_11: bool) -> bool {
    let Some(r) = cy.conns[key].req() else {
        return false;
    };
    let Some(l) = r.loc.as_ref() else {
        return false;
    };
    let p = &l.proxy;
    !p.request_buffering
        && p.request.pass_body
        && p.request.set_body.is_none()
        && l.client_body.in_file_only == crate::conf::InFileOnly::Off
        && (!r.chunked || http_11)
        && (r.content_length.is_some_and(|n| n > 0) || r.chunked)
}

/// The first part of ngx_http_read_unbuffered_request_body(): `100
/// Continue` when asked, and the body bytes that came with the head,
/// framed for the peer (chunked again when the client sent chunked).
/// Afterwards the request's `body_stream` is set; `Err`: answer with it.
pub fn start_unbuffered<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Result<Vec<u8>, Finalize> {
    let max = crate::http::body::max_body_size(cy, key);
    let c = &mut cy.conns[key];
    let number = c.number;
    let Some(hc) = crate::core::connection::hc_in(&mut c.data) else {
        return Err(Finalize::Close);
    };
    let (Some(r), Some(b)) = (hc.request.as_deref_mut(), hc.buffer.as_ref()) else {
        return Err(Finalize::Close);
    };
    let expect = std::mem::take(&mut r.expect_continue);
    let start = (b.pos + r.consumed).min(b.last);
    let mut data = Vec::new();
    match r.body.consume_into(&b.mem[start..b.last], max, &mut data) {
        Ok(n) => {
            r.consumed += n;
            r.request_length += n as u64;
        }
        Err(status) => return Err(Finalize::Status(status)),
    }
    r.body_stream = true;
    if expect {
        log::debug!("*{number} send 100 Continue");
        hc.out
            .mem
            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        if matches!(response::send_out(cy, key), Sent::Error) {
            return Err(Finalize::Close);
        }
    }
    let mut framed = Vec::new();
    frame(cy, key, &data, &mut framed);
    Ok(framed)
}

/// Frames decoded body bytes for the peer: as they are, or as one chunk
/// (and the last chunk once the body is complete) for a chunked body.
/// Also keeps `$request_body` while the body fits client_body_buffer_size.
fn frame<S: Transport>(cy: &mut Cycle<S>, key: usize, data: &[u8], out: &mut Vec<u8>) {
    let Some(r) = cy.conns[key].req_mut() else {
        return;
    };
    let limit = r
        .loc
        .as_ref()
        .map_or(crate::conf::CLIENT_BODY_BUFFER_SIZE, |l| {
            l.client_body.buffer_size
        });
    if !r.body_stream_dropped {
        let keep = r.request_body.get_or_insert_with(Vec::new);
        if keep.len() + data.len() <= limit {
            keep.extend_from_slice(data);
        } else {
            r.request_body = None;
            r.body_stream_dropped = true;
        }
    }
    let done = r.body.is_done();
    if r.chunked {
        if !data.is_empty() {
            crate::http::chunked::push_chunk_size(out, data.len());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        if done {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    } else {
        out.extend_from_slice(data);
    }
}

/// Is the request's body complete (nothing more to stream)?
pub fn body_done<S: Transport>(cy: &Cycle<S>, client: usize) -> bool {
    cy.lookup(client)
        .and_then(|ck| cy.conns[ck].req())
        .is_none_or(|r| !r.body_stream || r.body.is_done())
}

/// Mirrors ngx_http_read_unbuffered_request_body() as the client's read
/// handler: body bytes go to the peer's pending request while less than
/// `client_body_buffer_size` waits there; the rest stays in the socket
/// until the peer has taken some (send_request_handler reads on).
pub fn read_unbuffered_request_body_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    if crate::http::request_body::body_timed_out_or_closed(cy, key) {
        return;
    }
    let Some(up) = cy.conns[key]
        .req()
        .and_then(|r| r.upstream)
        .and_then(|t| cy.lookup(t))
    else {
        // No peer connection yet (or between tries): the body waits in the
        // socket; proxy_start posts this handler again.
        return;
    };
    let max = crate::http::body::max_body_size(cy, key);
    let limit = cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map_or(crate::conf::CLIENT_BODY_BUFFER_SIZE, |l| {
            l.client_body.buffer_size
        });
    // What this call reads goes to the peer as one piece (one chunk when
    // chunked, as nginx sends one per buffer read).
    let mut batch = Vec::new();
    loop {
        let pending = up_mut(cy, up).map_or(0, |u| u.request.len() - u.sent) + batch.len();
        let c = &mut cy.conns[key];
        let Some(r) = req_in(&mut c.data) else { return };
        if r.body.is_done() {
            c.read.handler = ReadHandler::TestReading;
            cy.del_timer(key, EvKind::Read);
            break;
        }
        if pending >= limit {
            // The peer has enough waiting: read on once it took some; the
            // client is not timed meanwhile (proxy_send_timeout is).
            cy.del_timer(key, EvKind::Read);
            break;
        }
        if !c.read.ready {
            let t = crate::http::request_body::client_body_timeout(r);
            cy.add_timer(key, EvKind::Read, t);
            break;
        }
        let want = r.body.read_limit().min(cy.scratch.len() as u64) as usize;
        let buf = &mut cy.scratch[..want];
        match crate::core::connection::Connection::recv_into(
            &mut c.stream,
            &mut c.read.ready,
            &mut c.eof,
            c.pending_eof,
            buf,
        ) {
            crate::os::io::Recv::Data(n) => {
                r.request_length += n as u64;
                if let Err(status) = r.body.consume_into(&buf[..n], max, &mut batch) {
                    finalize_request(cy, key, Finalize::Status(status));
                    return;
                }
            }
            crate::os::io::Recv::Again => continue,
            crate::os::io::Recv::Eof | crate::os::io::Recv::Error(_) => {
                client_info!(cy, key, "client prematurely closed connection");
                close_request(cy, key);
                return;
            }
        }
    }
    let done = body_done(cy, cy.conns[key].token(key));
    let forwarded = !batch.is_empty() || done;
    if forwarded {
        let mut framed = Vec::new();
        frame(cy, key, &batch, &mut framed);
        if let Some(u) = up_mut(cy, up) {
            u.request.extend_from_slice(&framed);
        }
    }
    if forwarded {
        let sending = up_mut(cy, up)
            .is_some_and(|u| u.state == crate::http::upstream::UpstreamState::Sending);
        if sending {
            crate::http::upstream::send_request_handler(cy, up);
        }
    }
}

/// After the peer took request bytes: a client whose body is still
/// streaming is read again (its data waits in the socket).
pub fn resume_client<S: Transport>(cy: &mut Cycle<S>, client: usize) {
    if let Some(ck) = cy.lookup(client)
        && cy.conns[ck].read.handler == ReadHandler::ReadUnbufferedBody
    {
        cy.post_event(ck, EvKind::Read);
    }
}
