//! Upgraded connections (WebSocket and other `101 Switching Protocols`):
//! nginx's ngx_http_upstream_upgrade() and
//! ngx_http_upstream_process_upgraded(). After the 101 the proxy relays
//! bytes both ways until either side closes, under `proxy_read_timeout`.

use std::io::{self, IoSlice};

use crate::core::connection::{ConnData, Connection, EvKind, ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::http::request::{close_request, http_error};
use crate::http::response::{self, Sent};
use crate::http::upstream::{RELAY_HIGH_WATER, UpstreamConn, UpstreamState};
use crate::os::io::{Recv, Transport};

fn up_mut<S>(cy: &mut Cycle<S>, key: usize) -> Option<&mut UpstreamConn> {
    match cy.conns.get_mut(key)?.data.as_deref_mut()? {
        ConnData::Upstream(u) => Some(u),
        ConnData::Http(_) => None,
    }
}

/// Mirrors ngx_http_upstream_upgrade(): the peer answered 101 to a client
/// that asked to upgrade. The client gets the 101 with the peer's headers
/// and `Connection: upgrade`; from then on both sides are relayed. A 101
/// the client did not ask for is a bad answer (502).
pub fn upstream_upgrade<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    data: &[u8],
    h: &crate::http::response_parse::ResponseHead,
) {
    let asked = {
        let c = &cy.conns[ck];
        match (c.req(), c.buf()) {
            (Some(r), Some(b)) => {
                let head = b.data().get(..r.head_len).unwrap_or_default();
                let mut v = Vec::new();
                crate::http::variables::http_header(head, r.line_len, b"upgrade", &mut v)
            }
            _ => false,
        }
    };
    if !asked {
        http_error!(
            cy,
            ck,
            "upstream sent 101 to a request that did not ask to upgrade while reading response header from upstream"
        );
        crate::http::upstream::upstream_finalize_request(
            cy,
            key,
            crate::http::request::Finalize::Status(502),
        );
        return;
    }
    let date = cy.clock.http_date;
    // The client's bytes after its request head (sent before the 101 came)
    // are the first ones for the peer.
    let early = {
        let c = &cy.conns[ck];
        match (c.req(), c.buf()) {
            (Some(r), Some(b)) => b.data().get(r.consumed..).unwrap_or_default().to_vec(),
            _ => Vec::new(),
        }
    };
    let Some(hc) = cy.conns[ck].hc_mut() else {
        return;
    };
    let Some(r) = hc.request.as_deref_mut() else {
        return;
    };
    r.keepalive = false;
    r.status = 101;
    r.consumed = r.consumed.saturating_add(early.len());
    let out = &mut hc.out.mem;
    let start = out.len();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(crate::http::response_parse::span(data, h.status_line));
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(response::SERVER_VERSION.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(&date);
    out.extend_from_slice(b"\r\n");
    let hop = [&b"connection"[..], b"keep-alive", b"server", b"date"];
    for (name, value) in h.header_lines(data) {
        if hop.iter().any(|n| name.eq_ignore_ascii_case(n)) {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: upgrade\r\n\r\n");
    r.header_bytes += (out.len() - start) as u64;
    // The peer's bytes after its head go to the client.
    out.extend_from_slice(data.get(h.len..).unwrap_or_default());
    let c = &mut cy.conns[ck];
    c.read.handler = ReadHandler::Upgraded;
    c.write.handler = WriteHandler::Upstream;
    if let Some(u) = up_mut(cy, key) {
        u.state = UpstreamState::Upgraded;
        u.request = early;
        u.sent = 0;
        u.head = Vec::new();
    }
    log::debug!("*{} http upstream upgrade", cy.conns[ck].number);
    process_upgraded(cy, key);
}

/// The client's read handler after an upgrade: its peer's relay runs.
pub fn upgraded_client_handler<S: Transport>(cy: &mut Cycle<S>, ck: usize) {
    let up = cy.conns[ck].req().and_then(|r| r.upstream);
    match up.and_then(|t| cy.lookup(t)) {
        Some(key) => process_upgraded(cy, key),
        None => close_request(cy, ck),
    }
}

/// Mirrors ngx_http_upstream_process_upgraded(): moves what either side
/// has to the other, while the other takes it; either side closing (or
/// the peer staying silent past `proxy_read_timeout`) ends both.
pub fn process_upgraded<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let mut chunk = crate::http::upstream::take_relay_buf(cy);
    process_upgraded_with(cy, key, &mut chunk);
    cy.relay_buf = chunk;
}

fn process_upgraded_with<S: Transport>(cy: &mut Cycle<S>, key: usize, chunk: &mut [u8]) {
    let Some(u) = up_mut(cy, key) else {
        return;
    };
    let client = u.client;
    let Some(ck) = cy.lookup(client) else {
        crate::http::upstream::close_peer(cy, key, false);
        return;
    };
    if cy.conns[key].read.timedout || cy.conns[key].close || cy.conns[ck].close {
        if cy.conns[key].read.timedout {
            http_error!(
                cy,
                ck,
                "upstream timed out (110: Connection timed out) while proxying upgraded connection"
            );
        }
        finish(cy, key, ck);
        return;
    }
    loop {
        let mut progress = false;
        // Client → peer: flush what is pending, then read more.
        if !flush_to_peer(cy, key) {
            finish(cy, key, ck);
            return;
        }
        let pending_to_peer = up_mut(cy, key).is_some_and(|u| u.sent < u.request.len());
        if !pending_to_peer && cy.conns[ck].read.ready {
            let c = &mut cy.conns[ck];
            match Connection::recv_into(
                &mut c.stream,
                &mut c.read.ready,
                &mut c.eof,
                c.pending_eof,
                chunk,
            ) {
                Recv::Data(n) => {
                    if let Some(u) = up_mut(cy, key) {
                        u.request.clear();
                        u.request.extend_from_slice(&chunk[..n]);
                        u.sent = 0;
                    }
                    progress = true;
                }
                Recv::Again => {}
                Recv::Eof | Recv::Error(_) => {
                    finish(cy, key, ck);
                    return;
                }
            }
        }
        // Peer → client, while the client takes it.
        let queued = cy.conns[ck].hc().map_or(0, |hc| hc.out.pending());
        if queued < RELAY_HIGH_WATER && cy.conns[key].read.ready {
            let c = &mut cy.conns[key];
            match c.stream.read(chunk) {
                Ok(0) => {
                    // The peer closed: what it sent goes out, then both end.
                    let _ = response::send_out(cy, ck);
                    finish(cy, key, ck);
                    return;
                }
                Ok(n) => {
                    if let Some(hc) = cy.conns[ck].hc_mut() {
                        hc.out.mem.extend_from_slice(&chunk[..n]);
                        if let Some(r) = hc.request.as_deref_mut() {
                            r.body_bytes += n as u64;
                        }
                    }
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.read.ready = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                Err(_) => {
                    finish(cy, key, ck);
                    return;
                }
            }
        }
        match response::send_out(cy, ck) {
            Sent::Done => {}
            Sent::Again => {
                // The client's write handler posts this again when it drains.
                cy.conns[ck].write.handler = WriteHandler::Upstream;
            }
            Sent::Error => {
                finish(cy, key, ck);
                return;
            }
        }
        if !progress {
            break;
        }
    }
    let t = cy.conns[ck]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map_or(crate::conf::http_proxy::PROXY_READ_TIMEOUT_MS, |l| {
            l.proxy.read_timeout_ms
        });
    cy.add_timer(key, EvKind::Read, t);
}

/// Writes the client's pending bytes to the peer; false on an error.
fn flush_to_peer<S: Transport>(cy: &mut Cycle<S>, key: usize) -> bool {
    let c = &mut cy.conns[key];
    let Some(ConnData::Upstream(u)) = c.data.as_deref_mut() else {
        return false;
    };
    while u.sent < u.request.len() {
        match c.stream.writev(&[IoSlice::new(&u.request[u.sent..])]) {
            Ok(0) => return false,
            Ok(n) => u.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.write.ready = false;
                return true;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    // TLS records the socket did not take yet go on the next write event.
    if c.stream.wants_write() {
        match c.stream.flush() {
            Ok(true) => {}
            Ok(false) => c.write.ready = false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.write.ready = false,
            Err(_) => return false,
        }
    }
    true
}

/// Both sides end: the peer connection closes, the client request too.
fn finish<S: Transport>(cy: &mut Cycle<S>, key: usize, ck: usize) {
    log::debug!("*{} finalize upgraded connection", cy.conns[ck].number);
    crate::http::upstream::close_peer(cy, key, false);
    if let Some(r) = cy.conns[ck].req_mut() {
        r.upstream = None;
    }
    close_request(cy, ck);
}
