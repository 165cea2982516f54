//! Reading a request body to keep it: nginx's
//! ngx_http_read_client_request_body and ngx_http_read_client_request_body_handler
//! (`ngx_http_request_body.c`), for the proxy, which sends it to the peer.
//!
//! As nginx with `proxy_request_buffering on` (its default), the whole body
//! is read before the peer is contacted: in memory while it fits
//! `client_body_buffer_size`, in a temp file under `client_body_temp_path`
//! once it does not (or always, with `client_body_in_file_only`) —
//! nginx's ngx_http_write_request_body.

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
    if let Err(rc) = write_request_body(cy, key, done) {
        return ReadBody::Finalize(rc);
    }
    let Some(hc) = cy.conns[key].hc_mut() else {
        return ReadBody::Finalize(Finalize::Close);
    };
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

/// Mirrors ngx_http_write_request_body(): the body read so far goes to
/// the request's temp file when it no longer fits `client_body_buffer_size`
/// (or always with `client_body_in_file_only`, where even an empty body
/// gets its file once the body is complete); the memory is then reused
/// for the next read. A file that cannot be made or written is a 500.
fn write_request_body<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    done: bool,
) -> Result<(), Finalize> {
    let number = cy.conns[key].number;
    let Some(r) = cy.conns[key].req_mut() else {
        return Err(Finalize::Close);
    };
    let Some(conf) = r.loc.as_ref().map(|l| l.client_body.clone()) else {
        return Ok(());
    };
    let in_memory = r.request_body.as_ref().map_or(0, Vec::len);
    let file_only = conf.in_file_only != crate::conf::InFileOnly::Off;
    let to_file = r.request_body_file.is_some()
        || (file_only && (done || in_memory > 0))
        || in_memory > conf.buffer_size;
    if !to_file {
        return Ok(());
    }
    if r.request_body_file.is_none() {
        let mut f = match crate::core::file::create_temp_file(&conf.temp_path, false) {
            Ok(f) => f,
            Err(e) => {
                crate::http::request::http_crit!(cy, key, "{e}");
                return Err(Finalize::Status(500));
            }
        };
        f.keep = conf.in_file_only == crate::conf::InFileOnly::On;
        if !file_only {
            crate::http::request::http_warn!(
                cy,
                key,
                "a client request body is buffered to a temporary file {}",
                f.name.display()
            );
        }
        log::debug!(
            "*{number} http client request body to file {}",
            f.name.display()
        );
        if let Some(r) = cy.conns[key].req_mut() {
            r.request_body_file = Some(Box::new(f));
        }
    }
    let Some(r) = cy.conns[key].req_mut() else {
        return Err(Finalize::Close);
    };
    let (Some(file), Some(body)) = (r.request_body_file.as_mut(), r.request_body.as_mut()) else {
        return Ok(());
    };
    if body.is_empty() {
        return Ok(());
    }
    match file.write(body) {
        Ok(()) => {
            body.clear();
            Ok(())
        }
        Err(e) => {
            let msg = format!(
                "write() \"{}\" failed ({})",
                file.name.display(),
                crate::os::io::OsErr(&e)
            );
            crate::http::request::http_crit!(cy, key, "{msg}");
            Err(Finalize::Status(500))
        }
    }
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
            let t = client_body_timeout(r);
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
                let done = r.body.is_done();
                if let Err(rc) = write_request_body(cy, key, done) {
                    return ReadBody::Finalize(rc);
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

/// The location's `client_body_timeout` for request `r`, in ms.
pub(crate) fn client_body_timeout(r: &crate::http::request::Request) -> u64 {
    r.loc
        .as_ref()
        .map_or(crate::conf::CLIENT_BODY_TIMEOUT_MS, |l| {
            l.client_body_timeout_ms
        })
}

/// The start of both body read handlers: `client_body_timeout` fired
/// (logged, 408 in the log, closed without an answer: nginx's
/// ngx_http_finalize_request terminates on 408) or the server is closing
/// the connection. True: the request is gone.
pub(crate) fn body_timed_out_or_closed<S: Transport>(cy: &mut Cycle<S>, key: usize) -> bool {
    let c = &mut cy.conns[key];
    if c.read.timedout {
        c.timedout = true;
        client_info!(
            cy,
            key,
            "client timed out (110: Connection timed out) while reading client request body"
        );
        if let Some(r) = cy.conns[key].req_mut() {
            r.status = 408;
        }
        close_request(cy, key);
        return true;
    }
    if c.close {
        close_request(cy, key);
        return true;
    }
    false
}

/// Mirrors ngx_http_read_client_request_body_handler(): the read handler
/// while the body comes; when it is all in, the proxy goes on.
pub fn read_client_request_body_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    if body_timed_out_or_closed(cy, key) {
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
