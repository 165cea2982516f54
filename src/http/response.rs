//! Producing and sending responses: nginx's header filter
//! (`ngx_http_header_filter_module.c`), the write filter and the linux
//! sendfile chain, ngx_http_writer, and the `return` directive
//! (`ngx_http_rewrite_module.c`, ngx_http_send_response).
//!
//! Output is appended to the connection's [`OutChain`](crate::core::buf::OutChain)
//! and sent with as few syscalls as possible: the responses to a batch of
//! pipelined requests accumulate and go out in one write (nginx writes each
//! separately).

use std::io::{self, IoSlice};

use crate::conf::Return;
use crate::core::connection::{Action, EvKind, WriteHandler, req_in};
use crate::core::cycle::Cycle;
use crate::http::keepalive;
use crate::http::request::{Finalize, client_info, close_request, send_timeout};
use crate::http::special;
use crate::os::io::Transport;

/// Responses to pipelined requests are held back while less than this much
/// output is queued and the next request is already buffered.
pub const PIPELINE_BATCH_BYTES: usize = 64 * 1024;

/// The server's name and version for `Server:` and error pages.
pub const SERVER_VERSION: &str = concat!("holdfast/", env!("CARGO_PKG_VERSION"));

/// The variable parts of a response header.
#[derive(Debug, Default)]
pub struct ResponseHead<'a> {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<&'a [u8]>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// `Last-Modified` (seconds since the epoch); also makes the `ETag`.
    pub last_modified: Option<u64>,
    /// `Location` (taken from the request's scratch buffer when set).
    pub location: bool,
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

fn push_hex(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 16];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Mirrors ngx_http_header_filter(): writes the status line and headers into
/// the output chain. `Connection: close` whenever the request does not keep
/// alive, and always while the server is shutting down.
pub fn send_header<S: Transport>(cy: &mut Cycle<S>, key: usize, h: &ResponseHead<'_>) {
    let exiting = cy.exiting;
    let date = cy.clock.http_date;
    let Some(hc) = cy.conns[key].hc.as_deref_mut() else {
        return;
    };
    let Some(r) = hc.request.as_deref_mut() else {
        return;
    };
    if exiting {
        r.keepalive = false;
    }
    r.status = h.status;
    let (tokens, ka_header) = r
        .loc
        .as_ref()
        .map_or((true, None), |l| (l.server_tokens, l.keepalive_header_s));
    let out = &mut hc.out.mem;
    let start = out.len();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(special::status_line(h.status));
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(if tokens {
        SERVER_VERSION.as_bytes()
    } else {
        b"holdfast"
    });
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(&date);
    if let Some(ct) = h.content_type {
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(ct);
    }
    if let Some(len) = h.content_length {
        out.extend_from_slice(b"\r\nContent-Length: ");
        push_u64(out, len);
    }
    if let Some(mtime) = h.last_modified {
        out.extend_from_slice(b"\r\nLast-Modified: ");
        out.extend_from_slice(&crate::core::time::http_date(mtime));
    }
    if h.location {
        out.extend_from_slice(b"\r\nLocation: ");
        out.extend_from_slice(&r.scratch);
    }
    if r.keepalive {
        out.extend_from_slice(b"\r\nConnection: keep-alive");
        if let Some(secs) = ka_header {
            out.extend_from_slice(b"\r\nKeep-Alive: timeout=");
            push_u64(out, secs);
        }
    } else {
        out.extend_from_slice(b"\r\nConnection: close");
    }
    if let (Some(mtime), Some(len)) = (h.last_modified, h.content_length) {
        out.extend_from_slice(b"\r\nETag: \"");
        push_hex(out, mtime);
        out.push(b'-');
        push_hex(out, len);
        out.extend_from_slice(b"\"\r\nAccept-Ranges: bytes");
    }
    out.extend_from_slice(b"\r\n");
    add_headers(cy, key, h.status, start);
}

/// The add_header directive (ngx_http_headers_filter): the location's headers
/// for 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308, or for every
/// status with `always`; a value that evaluates empty adds nothing. Also
/// closes the header block and counts its bytes.
fn add_headers<S: Transport>(cy: &mut Cycle<S>, key: usize, status: u16, start: usize) {
    let headers = cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map(|l| l.add_headers.clone());
    if let Some(headers) = headers.filter(|h| !h.is_empty()) {
        let ok = matches!(
            status,
            200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
        );
        let mut value = std::mem::take(&mut cy.var_buf);
        for h in headers.iter().filter(|h| ok || h.always) {
            value.clear();
            crate::http::variables::complex_value(cy, key, &h.value, &mut value);
            if value.is_empty() {
                continue;
            }
            let Some(hc) = cy.conns[key].hc.as_deref_mut() else {
                break;
            };
            let out = &mut hc.out.mem;
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
        cy.var_buf = value;
    }
    let Some(hc) = cy.conns[key].hc.as_deref_mut() else {
        return;
    };
    hc.out.mem.extend_from_slice(b"\r\n");
    let len = (hc.out.mem.len() - start) as u64;
    if let Some(r) = hc.request.as_deref_mut() {
        r.header_bytes += len;
    }
}

/// Appends body bytes (skipped for header-only responses).
pub fn send_body<S: Transport>(cy: &mut Cycle<S>, key: usize, body: &[u8]) {
    let Some(hc) = cy.conns[key].hc.as_deref_mut() else {
        return;
    };
    if let Some(r) = hc.request.as_deref_mut().filter(|r| !r.header_only) {
        r.body_bytes += body.len() as u64;
        hc.out.mem.extend_from_slice(body);
    }
}

/// Writes `Location` for a redirect into the request's scratch: absolute as
/// nginx's `absolute_redirect on` makes it (scheme, host, port unless 80).
pub fn set_location<S: Transport>(cy: &mut Cycle<S>, key: usize, target: &[u8]) {
    let c = &mut cy.conns[key];
    let local = cy.listening[c.li()].addr;
    let port = local.port();
    let Some(r) = req_in(&mut c.hc) else { return };
    let mut loc = std::mem::take(&mut r.scratch);
    loc.clear();
    if target.starts_with(b"/") {
        loc.extend_from_slice(b"http://");
        if r.has_host {
            loc.extend_from_slice(&r.host);
        } else if let Some(name) = r
            .server
            .as_ref()
            .and_then(|s| s.server_names.first())
            .filter(|n| !n.is_empty())
        {
            loc.extend_from_slice(name.as_bytes());
        } else {
            loc.extend_from_slice(local.ip().to_string().as_bytes());
        }
        if port != 80 {
            loc.push(b':');
            push_u64(&mut loc, u64::from(port));
        }
    }
    loc.extend_from_slice(target);
    r.scratch = loc;
}

/// Is this a redirect status whose `return` text is a URL?
pub fn is_redirect(code: u16) -> bool {
    matches!(code, 301 | 302 | 303 | 307 | 308)
}

/// The `return` directive (ngx_http_script_return_code +
/// ngx_http_send_response): the text (or URL) is evaluated with its
/// variables; a redirect status makes it the `Location`; any other status
/// below 400, or one with a text, answers with the text as the body, typed
/// by the URI's extension or `default_type` as nginx's
/// ngx_http_set_content_type does; a bare code of 400 and above answers
/// with the special response; 444 closes without an answer.
pub fn return_handler<S: Transport>(cy: &mut Cycle<S>, key: usize, ret: &Return) -> Finalize {
    let code = ret.code;
    if code == 444 {
        return Finalize::Close;
    }
    if code >= 400 && ret.text.is_none() {
        return Finalize::Status(code);
    }
    let mut value = std::mem::take(&mut cy.var_buf);
    value.clear();
    if let Some(text) = &ret.text {
        crate::http::variables::complex_value(cy, key, text, &mut value);
    }
    let rc = if is_redirect(code) {
        set_location(cy, key, &value);
        Finalize::Status(code)
    } else {
        let ctype = content_type(cy, key);
        let head = ResponseHead {
            status: code,
            content_type: ctype.as_deref().map(str::as_bytes),
            content_length: Some(value.len() as u64),
            ..Default::default()
        };
        send_header(cy, key, &head);
        send_body(cy, key, &value);
        Finalize::Done
    };
    cy.var_buf = value;
    rc
}

/// Mirrors ngx_http_set_content_type(): the type of the URI's extension in
/// the location's `types`, else its `default_type`.
pub fn content_type<S>(cy: &Cycle<S>, key: usize) -> Option<std::rc::Rc<str>> {
    let r = cy.conns[key].req()?;
    let loc = r.loc.as_ref()?;
    let ext = crate::http::static_module::extension(&r.uri);
    Some(
        match ext
            .and_then(|e| std::str::from_utf8(e).ok())
            .and_then(|e| loc.types.lookup(e))
        {
            Some(t) => t.clone(),
            None => loc.default_type.clone(),
        },
    )
}

/// What a send attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Everything queued is out.
    Done,
    /// The socket is full; wait for it to drain.
    Again,
    /// The write failed; close.
    Error,
}

/// Mirrors the write filter with ngx_writev_chain / ngx_linux_sendfile_chain:
/// sends what is queued, memory with writev and files with sendfile. A short
/// write means the socket is full (no extra call to see EAGAIN).
pub fn send_out<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Sent {
    let c = &mut cy.conns[key];
    let Some(hc) = c.hc.as_deref_mut() else {
        return Sent::Done;
    };
    loop {
        if hc.out.is_empty() {
            hc.out.reset();
            return Sent::Done;
        }
        if !c.write.ready {
            return Sent::Again;
        }
        let out = &mut hc.out;
        let next_file_at = out.files.get(out.file_idx).map_or(out.mem.len(), |f| f.at);
        let res = if out.sent < next_file_at {
            let chunk = &out.mem[out.sent..next_file_at];
            let want = chunk.len();
            c.stream.writev(&[IoSlice::new(chunk)]).map(|n| {
                log::debug!("*{} writev: {n} of {want}", c.number);
                out.sent += n;
                n < want
            })
        } else {
            let f = &mut out.files[out.file_idx];
            let want = (f.end - f.pos).min(1 << 30) as usize;
            match c.stream.sendfile(&f.file, f.pos, want) {
                Ok(0) if want > 0 => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file was truncated",
                )),
                Ok(n) => {
                    log::debug!("*{} sendfile: {n} of {want}", c.number);
                    f.pos += n as u64;
                    if f.pos == f.end {
                        out.file_idx += 1;
                    }
                    Ok(n < want)
                }
                Err(e) => Err(e),
            }
        };
        match res {
            Ok(true) => {
                c.write.ready = false;
                return Sent::Again;
            }
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.write.ready = false;
                return Sent::Again;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::info!(
                    "*{} writev() failed ({}) while sending response to client",
                    c.number,
                    e
                );
                return Sent::Error;
            }
        }
    }
}

/// holdfast's own step (nginx writes each response as it is made): sends
/// the queued responses of finished pipelined requests before reading
/// on; on a full socket, the write handler takes over (`Flush`).
pub fn flush_pipelined<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Sent {
    let sent = send_out(cy, key);
    if sent == Sent::Again {
        let timeout = send_timeout(cy, key);
        cy.conns[key].write.handler = WriteHandler::Flush;
        cy.add_timer(key, EvKind::Write, timeout);
    }
    sent
}

/// Mirrors ngx_http_writer(): the socket became writable (or send_timeout
/// fired) while output was queued. With [`WriteHandler::Writer`] the current
/// request's response was partly sent and the request is finalized once it is
/// out; with [`WriteHandler::Flush`] finished pipelined responses were, and
/// reading resumes through the posted queue.
pub fn writer<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    let handler = c.write.handler;
    log::debug!("*{} http writer handler ({handler:?})", c.number);
    if c.write.timedout {
        c.timedout = true;
        c.action = Action::SendingResponse;
        client_info!(cy, key, "client timed out (110: Connection timed out)");
        close_request(cy, key);
        return;
    }
    match send_out(cy, key) {
        Sent::Again => {
            let timeout = send_timeout(cy, key);
            cy.add_timer(key, EvKind::Write, timeout);
        }
        Sent::Done => {
            cy.del_timer(key, EvKind::Write);
            cy.conns[key].write.handler = WriteHandler::Empty;
            if handler == WriteHandler::Flush {
                cy.post_event(key, EvKind::Read);
            } else {
                keepalive::finalize_connection(cy, key);
            }
        }
        Sent::Error => close_request(cy, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format() {
        let mut v = Vec::new();
        push_u64(&mut v, 0);
        v.push(b' ');
        push_u64(&mut v, 18_446_744_073_709_551_615);
        v.push(b' ');
        push_hex(&mut v, 0x5f3c_1b2a);
        assert_eq!(v, b"0 18446744073709551615 5f3c1b2a");
    }
}
