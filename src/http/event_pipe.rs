//! The response body's way from the peer to the client: nginx's
//! `ngx_event_pipe.c` (`proxy_buffering on`) and the non-buffered relay
//! (`proxy_buffering off`), as far as they differ.
//!
//! ```text
//! peer bytes ─▶ relay_body (framing decoded) ─▶ pipe_write_to_downstream
//!     buffering off: into the client's queue; the peer is read again when
//!                    the queue is under proxy_buffer_size
//!     buffering on:  into the client's queue while it holds less than
//!                    proxy_buffers; past that, gathered (at most
//!                    proxy_temp_file_write_size) and appended to a temp
//!                    file the queue sends from — the peer is read as fast
//!                    as it sends, and freed (back to its pool) as soon as
//!                    the response is in, however slow the client
//! ```
//!
//! Where holdfast differs: nginx reads into a chain of `proxy_buffers` and
//! sends from them; holdfast's client queue (one `OutChain`: memory and
//! file regions in order) is the chain, and the memory bound is on what it
//! holds. The temp file is unlinked when it is made (see `core/file.rs`).

use crate::core::connection::{EvKind, WriteHandler};
use crate::core::cycle::Cycle;
use crate::core::file::{TempFile, create_temp_file};
use crate::http::request::{Finalize, close_request};
use crate::http::response::{self, Sent};
use crate::http::upstream::{client_conf, close_peer, up_mut, upstream_finalize_request};
use crate::os::io::Transport;

/// A buffered response's spill state, held by the peer connection's
/// `UpstreamConn` while the response is relayed (nginx's `ngx_event_pipe_t`
/// temp file part).
#[derive(Debug, Default)]
pub struct Pipe {
    /// The temp file, once the client fell `proxy_buffers` behind.
    pub temp: Option<TempFile>,
    /// Body bytes gathered for the next temp file write.
    pub staged: Vec<u8>,
    /// The client went away under `proxy_ignore_client_abort on`: the
    /// response is read to its end and dropped (nginx's `downstream_error`).
    pub downstream_error: bool,
    /// `X-Accel-Buffering: yes|no` from the peer: this response's
    /// buffering, whatever `proxy_buffering` says.
    pub buffering: Option<bool>,
}

/// The buffering settings for the client `client` (its token), with the
/// peer's X-Accel-Buffering (`over`) applied.
fn buffering<S: Transport>(
    cy: &Cycle<S>,
    client: usize,
    over: Option<bool>,
) -> std::rc::Rc<crate::conf::http_proxy::ProxyBuffering> {
    let b: std::rc::Rc<crate::conf::http_proxy::ProxyBuffering> =
        client_conf(cy, client).map_or_else(Default::default, |l| l.proxy.buffering.clone());
    match over {
        Some(on) if on != b.on => {
            std::rc::Rc::new(crate::conf::http_proxy::ProxyBuffering { on, ..(*b).clone() })
        }
        _ => b,
    }
}

/// Mirrors ngx_event_pipe()'s "may the upstream be read" test (and the
/// non-buffered relay's): false while the client has enough queued.
/// Gathered bytes the client can now take go to its queue first.
pub fn pipe_read_upstream_allowed<S: Transport>(cy: &mut Cycle<S>, key: usize, ck: usize) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let client = u.client;
    if u.pipe.as_ref().is_some_and(|p| p.downstream_error) {
        return true;
    }
    let over = u.pipe.as_ref().and_then(|p| p.buffering);
    let b = buffering(cy, client, over);
    let pending = cy.conns[ck]
        .hc()
        .map_or(0, crate::http::gzip_filter::out_pending);
    if !b.on {
        return pending < b.buffer_size as u64;
    }
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let Some(p) = u.pipe.as_mut() else {
        return pending < b.memory() || b.max_temp_file_size > 0;
    };
    if !p.staged.is_empty() && pending < b.memory() {
        // The client caught up: what was gathered goes to it from memory,
        // now (the peer may have nothing more to send for a while).
        flush_staged(cy, key, ck);
        return true;
    }
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let Some(p) = u.pipe.as_ref() else {
        return true;
    };
    let file_len = p.temp.as_ref().map_or(0, |t| t.len);
    if b.max_temp_file_size == 0 {
        return pending < b.memory();
    }
    // A full temp file takes no more: the peer is read again as the client
    // drains the queue under `proxy_buffers` (what nginx does once
    // proxy_max_temp_file_size is reached).
    (file_len < b.max_temp_file_size && (p.staged.len() as u64) < b.memory())
        || pending < b.memory()
}

/// Moves the gathered bytes to the client's queue and sends what the
/// client takes; when it takes not all, its write handler goes on
/// (ngx_event_pipe_write_to_downstream's flush of the busy buffers).
fn flush_staged<S: Transport>(cy: &mut Cycle<S>, key: usize, ck: usize) {
    let Some(u) = up_mut(cy, key) else { return };
    let chunked = u.chunked_out;
    let Some(p) = u.pipe.as_mut() else { return };
    let mut staged = std::mem::take(&mut p.staged);
    if staged.is_empty() {
        return;
    }
    if let Some(hc) = cy.conns[ck].hc_mut() {
        queue_mem(crate::http::gzip_filter::body_chain(hc), &staged, chunked);
    }
    staged.clear();
    if let Some(p) = up_mut(cy, key).and_then(|u| u.pipe.as_mut()) {
        p.staged = staged;
    }
    if response::send_out(cy, ck) == Sent::Again {
        cy.conns[ck].write.handler = WriteHandler::Upstream;
        let t = crate::http::request::send_timeout(cy, ck);
        cy.add_timer(ck, EvKind::Write, t);
    }
}

/// Moves the gathered bytes to the client's queue (no send: the caller
/// sends).
fn flush_staged_quiet<S: Transport>(cy: &mut Cycle<S>, key: usize, ck: usize, chunked: bool) {
    let staged = match up_mut(cy, key).and_then(|u| u.pipe.as_mut()) {
        Some(p) => std::mem::take(&mut p.staged),
        None => return,
    };
    if let Some(hc) = cy.conns[ck].hc_mut() {
        queue_mem(crate::http::gzip_filter::body_chain(hc), &staged, chunked);
    }
}

/// Appends body bytes to the client's queue, as one chunk when the
/// response goes chunked (ngx_http_chunked_body_filter).
fn queue_mem(out: &mut crate::core::buf::OutChain, data: &[u8], chunked: bool) {
    if data.is_empty() {
        return;
    }
    // What the client took is dropped before the queue grows (the queue
    // never holds more than one window of unsent bytes, but a client that
    // never quite catches up would otherwise keep the sent ones).
    out.compact();
    if chunked {
        crate::http::chunked::push_chunk_size(&mut out.mem, data.len());
        out.mem.extend_from_slice(data);
        out.mem.extend_from_slice(b"\r\n");
    } else {
        out.mem.extend_from_slice(data);
    }
}

/// Mirrors ngx_event_pipe_write_to_downstream() with
/// ngx_event_pipe_write_chain_to_temp_file(): the decoded body bytes of
/// one read go to the client's queue, or, with buffering on and the client
/// `proxy_buffers` behind, to the temp file (gathered to
/// `proxy_temp_file_write_size`; `done`: the response is complete, write
/// what is gathered). False: the temp file failed (logged; the caller
/// ends the exchange with the peer and the client).
pub fn pipe_write_to_downstream<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    data: &[u8],
    done: bool,
) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let (client, chunked) = (u.client, u.chunked_out);
    if u.pipe.as_ref().is_some_and(|p| p.downstream_error) {
        return true;
    }
    let over = u.pipe.as_ref().and_then(|p| p.buffering);
    let b = buffering(cy, client, over);
    let pending = cy.conns[ck]
        .hc()
        .map_or(0, crate::http::gzip_filter::out_pending);
    let (spilling, file_full) =
        up_mut(cy, key)
            .and_then(|u| u.pipe.as_ref())
            .map_or((false, false), |p| {
                let len = p.temp.as_ref().map_or(0, |t| t.len);
                (!p.staged.is_empty(), len >= b.max_temp_file_size)
            });
    if file_full && spilling {
        // The file took all it may: what was gathered goes to memory first,
        // in order, then this read.
        flush_staged_quiet(cy, key, ck, chunked);
    }
    let to_memory = !b.on
        || b.max_temp_file_size == 0
        || file_full
        || (!spilling && pending + data.len() as u64 <= b.memory());
    if to_memory {
        if let Some(hc) = cy.conns[ck].hc_mut() {
            queue_mem(crate::http::gzip_filter::body_chain(hc), data, chunked);
        }
        return true;
    }
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let p = u.pipe.get_or_insert_with(Default::default);
    p.staged.extend_from_slice(data);
    if p.staged.len() < b.temp_file_write_size && !done {
        return true;
    }
    write_chain_to_temp_file(cy, key, ck, chunked)
}

/// Writes the gathered bytes to the response's temp file (made on first
/// use, with nginx's warning) and queues that file region for the client.
fn write_chain_to_temp_file<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    chunked: bool,
) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let client = u.client;
    let needs_file = u.pipe.as_ref().is_some_and(|p| p.temp.is_none());
    if needs_file {
        let path = client_conf(cy, client).map(|l| l.proxy.temp_path.clone());
        let made = match path {
            Some(path) => create_temp_file(&path, true),
            None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        match made {
            Ok(f) => {
                crate::http::request::http_warn!(
                    cy,
                    ck,
                    "an upstream response is buffered to a temporary file {} while reading upstream",
                    f.name.display()
                );
                if let Some(p) = up_mut(cy, key).and_then(|u| u.pipe.as_mut()) {
                    p.temp = Some(f);
                }
            }
            Err(e) => {
                crate::http::request::http_crit!(cy, ck, "{e} while reading upstream");
                return false;
            }
        }
    }
    let Some(p) = up_mut(cy, key).and_then(|u| u.pipe.as_mut()) else {
        return false;
    };
    if p.staged.is_empty() {
        return true;
    }
    let Some(temp) = p.temp.as_mut() else {
        return false;
    };
    let start = temp.len;
    if let Err(e) = temp.write(&p.staged) {
        let msg = format!(
            "write() \"{}\" failed ({})",
            temp.name.display(),
            crate::os::io::OsErr(&e)
        );
        crate::http::request::http_crit!(cy, ck, "{msg} while reading upstream");
        return false;
    }
    let (file, end, n) = (temp.file.clone(), temp.len, p.staged.len());
    p.staged.clear();
    if let Some(hc) = cy.conns[ck].hc_mut() {
        let out = crate::http::gzip_filter::body_chain(hc);
        out.compact();
        if chunked {
            crate::http::chunked::push_chunk_size(&mut out.mem, n);
        }
        out.push_file(file, start, end);
        if chunked {
            out.mem.extend_from_slice(b"\r\n");
        }
    }
    true
}

/// The body half of ngx_http_upstream_process_non_buffered_request(): body
/// bytes for the client (re-chunked when `chunked_out`, as nginx's chunked
/// filter would); `eof`: the peer closed. False when the
/// exchange ended or must wait for the client.
pub(crate) fn relay_body<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    data: &[u8],
    eof: bool,
) -> bool {
    // One buffer for the decoded bytes, reused by every read of every
    // exchange (no allocation per read).
    let mut relayed = std::mem::take(&mut cy.pipe_buf);
    relayed.clear();
    let go_on = relay_body_with(cy, key, ck, data, eof, &mut relayed);
    relayed.clear();
    cy.pipe_buf = relayed;
    go_on
}

fn relay_body_with<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    data: &[u8],
    eof: bool,
    relayed: &mut Vec<u8>,
) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let chunked_out = u.chunked_out;
    let Some(body) = u.body.as_mut() else {
        return false;
    };
    let done = if eof {
        match body.finish_at_eof() {
            Ok(()) => true,
            Err(_) => {
                log_after_header(cy, key, ck, "upstream prematurely closed connection");
                return false;
            }
        }
    } else {
        match body.decode(data, |b| relayed.extend_from_slice(b)) {
            Ok(_) => body.is_done(),
            Err(_) => {
                log_after_header(cy, key, ck, "upstream sent invalid response");
                return false;
            }
        }
    };
    if let Some(u) = up_mut(cy, key) {
        u.body_len += relayed.len() as u64;
    }
    let header_only = match cy.conns[ck].req_mut() {
        Some(r) => {
            r.body_bytes += relayed.len() as u64;
            r.header_only
        }
        None => true,
    };
    if !header_only {
        if !pipe_write_to_downstream(cy, key, ck, relayed, done) {
            close_peer(cy, key, false);
            send_unfinished(cy, ck);
            return false;
        }
        if chunked_out
            && done
            && let Some(hc) = cy.conns[ck].hc_mut()
        {
            hc.out.mem.extend_from_slice(b"0\r\n\r\n");
        }
    }
    let abandoned = up_mut(cy, key)
        .and_then(|u| u.pipe.as_ref())
        .is_some_and(|p| p.downstream_error);
    if abandoned {
        if done {
            // proxy_ignore_client_abort: the response was read to its end,
            // the peer connection may be kept; the client is gone.
            upstream_finalize_request(cy, key, Finalize::Done);
        }
        return !done;
    }
    if done {
        upstream_finalize_request(cy, key, Finalize::Done);
        return false;
    }
    match response::send_out(cy, ck) {
        Sent::Done => true,
        Sent::Again => {
            // The client is slow: its write handler sends the rest; the
            // peer is read on while the pipe allows (the caller asks).
            let c = &mut cy.conns[ck];
            c.write.handler = WriteHandler::Upstream;
            let t = crate::http::request::send_timeout(cy, ck);
            cy.add_timer(ck, EvKind::Write, t);
            true
        }
        Sent::Error => {
            let over = up_mut(cy, key).and_then(|u| u.pipe.as_ref().and_then(|p| p.buffering));
            let client = cy.conns[ck].token(ck);
            let ignore = client_conf(cy, client).is_some_and(|l| l.proxy.ignore_client_abort)
                && buffering(cy, client, over).on;
            if ignore && let Some(u) = up_mut(cy, key) {
                // nginx's downstream_error: the rest of the response is read
                // and dropped, so the peer connection can be kept.
                u.pipe.get_or_insert_with(Default::default).downstream_error = true;
                if let Some(hc) = cy.conns[ck].hc_mut() {
                    hc.out.reset();
                }
                return true;
            }
            close_peer(cy, key, false);
            close_request(cy, ck);
            false
        }
    }
}

/// An error after the client's head went out: logged, both connections
/// closed (the client sees the response cut short, as with nginx).
pub(crate) fn log_after_header<S: Transport>(cy: &mut Cycle<S>, key: usize, ck: usize, msg: &str) {
    crate::http::request::http_error!(cy, ck, "{msg} while reading upstream");
    // What was read still goes to the client, gathered bytes included.
    let chunked = up_mut(cy, key).is_some_and(|u| u.chunked_out);
    flush_staged_quiet(cy, key, ck, chunked);
    close_peer(cy, key, true);
    send_unfinished(cy, ck);
}

/// The peer failed after the client's head went out: what is queued for
/// the client still goes (nginx's pipe has written it by then), without
/// the last chunk, and the connection closes after it, so the client sees
/// the response cut short.
fn send_unfinished<S: Transport>(cy: &mut Cycle<S>, ck: usize) {
    if let Some(r) = cy.conns[ck].req_mut() {
        r.keepalive = false;
        r.upstream = None;
        // A coded body is cut short too: what was coded goes, no trailer.
        if let Some(f) = r.body_filter.as_deref_mut() {
            f.abort = true;
        }
    }
    cy.conns[ck].read.handler = crate::core::connection::ReadHandler::BlockReading;
    crate::http::request::finalize_request(cy, ck, Finalize::Done);
}

/// The client's write handler while a body is relayed
/// (ngx_http_upstream_process_downstream): when the client has taken what
/// was queued, the peer is read again.
pub fn process_downstream<S: Transport>(cy: &mut Cycle<S>, ck: usize) {
    if cy.conns[ck].write.timedout {
        cy.conns[ck].timedout = true;
        crate::http::request::client_info!(cy, ck, "client timed out (110: Connection timed out)");
        close_request(cy, ck);
        return;
    }
    match response::send_out(cy, ck) {
        Sent::Again => {
            let t = crate::http::request::send_timeout(cy, ck);
            cy.add_timer(ck, EvKind::Write, t);
        }
        Sent::Done => {
            cy.del_timer(ck, EvKind::Write);
            cy.conns[ck].write.handler = WriteHandler::Empty;
            let up = cy.conns[ck].req().and_then(|r| r.upstream);
            if let Some(key) = up.and_then(|t| cy.lookup(t)) {
                cy.post_event(key, EvKind::Read);
            }
        }
        Sent::Error => close_request(cy, ck),
    }
}
