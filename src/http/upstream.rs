//! The upstream module at run time (issue 11, under way): nginx's
//! `ngx_http_upstream.c` — connecting to the peer, sending the request,
//! reading the response head, relaying the body to the client as it
//! arrives (nginx's `proxy_buffering off` path), next_upstream, and
//! finalizing (the peer connection back to its block's keep-alive pool,
//! `upstream_keepalive.rs`, or closed). The proxy module
//! (`proxy_module.rs`) makes the request; upgrades are `upstream_upgrade.rs`.
//!
//! ```text
//! client: content phase → proxy_handler → (body read) → proxy_start (waits: TestReading)
//! peer:   event_connect_peer | get_keepalive_peer → [write] send_request_handler
//!         → [read] process_upstream: head → send_client_head → relay_body
//!           ⇄ client write handler (process_downstream)
//!         → upstream_finalize_request → free_keepalive_peer | close → client finalize_request
//! ```
//!
//! Not yet: buffering to temp files, proxy_redirect, proxy_hide_header /
//! pass_header, proxy_intercept_errors, `$upstream_*` timing variables,
//! variables and `unix:` in proxy_pass, the resolver.

use std::io::{self, IoSlice};

use crate::core::connection::{ConnData, EvKind, ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::http::parse::Method;
use crate::http::request::{Finalize, close_request, finalize_request};
use crate::http::response::{self, Sent};
use crate::http::response_parse::{BodyDecoder, Framing, HeadParse, ResponseHeadParser};
use crate::os::io::{OsErr, Transport};

/// Relayed bytes of an upgraded connection queued for either side before
/// the other side is read no more until they are taken.
pub const RELAY_HIGH_WATER: u64 = 64 * 1024;
/// Bytes read from the peer at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Where a peer connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamState {
    /// ngx_event_connect_peer returned EINPROGRESS.
    Connecting,
    /// Sending the request (ngx_http_upstream_send_request).
    Sending,
    /// Reading the status line and headers (ngx_http_upstream_process_header).
    ReadingHeader,
    /// Relaying the body (ngx_http_upstream_process_non_buffered_request).
    ReadingBody,
    /// After a 101: bytes relayed both ways (ngx_http_upstream_process_upgraded).
    Upgraded,
}

/// A peer connection's state (`c->data` of an upstream connection).
#[derive(Debug)]
pub struct UpstreamConn {
    /// The client connection it works for (its token).
    pub client: usize,
    /// Where it is.
    pub state: UpstreamState,
    /// The request bytes for the peer, and how many went out.
    pub request: Vec<u8>,
    /// See `request`.
    pub sent: usize,
    /// Head bytes received so far.
    pub head: Vec<u8>,
    /// The head parser.
    pub parser: ResponseHeadParser,
    /// The body framing, once the head is in.
    pub body: Option<BodyDecoder>,
    /// The peer's address, for log lines (`upstream: "http://…"`).
    pub peer: String,
    /// The request was HEAD.
    pub head_request: bool,
    /// The body goes to the client chunked (its length is not known and
    /// the client speaks HTTP/1.1, as nginx's chunked filter does).
    pub chunked_out: bool,
    /// The keep-alive pool this connection belongs to (its upstream
    /// block's), if the block has `keepalive`.
    pub pool: Option<usize>,
    /// The response ended where its framing said, and the peer did not ask
    /// to close: the connection may go back to the pool.
    pub keepalive_ok: bool,
    /// Taken from the pool (a failure before any response byte is retried
    /// once on a new connection, as nginx does).
    pub reused: bool,
    /// The upstream block and the peer the balancer chose (for
    /// ngx_http_upstream_free_round_robin_peer's accounting).
    pub peer_index: Option<(usize, usize)>,
    /// The peers of the upstream block tried for this request.
    pub tried: Vec<usize>,
    /// When the exchange started (cycle ms), and how long the connect and
    /// the response head took: `$upstream_connect_time`,
    /// `$upstream_header_time`.
    pub start_ms: u64,
    /// See `start_ms`.
    pub connect_ms: Option<u64>,
    /// See `start_ms`.
    pub header_ms: Option<u64>,
    /// The method may be sent twice (nginx: not POST, PATCH, LOCK; holdfast
    /// also counts the methods it does not name out): a cached
    /// connection's failure is retried.
    pub idempotent: bool,
    /// The body's way to the client once the head is in (`event_pipe.rs`):
    /// a buffered response's temp file and gathered bytes.
    pub pipe: Option<Box<crate::http::event_pipe::Pipe>>,
}

impl UpstreamConn {
    /// The state of an exchange with the peer at `addr` for the client
    /// connection `client` (its token).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: usize,
        state: UpstreamState,
        request: Vec<u8>,
        addr: std::net::SocketAddr,
        head_request: bool,
        pool: Option<usize>,
        peer_index: Option<(usize, usize)>,
        reused: bool,
    ) -> UpstreamConn {
        UpstreamConn {
            client,
            state,
            request,
            sent: 0,
            head: Vec::new(),
            parser: ResponseHeadParser::new(crate::conf::http_proxy::PROXY_BUFFER_SIZE),
            body: None,
            peer: addr.to_string(),
            head_request,
            chunked_out: false,
            pool,
            keepalive_ok: false,
            reused,
            peer_index,
            tried: peer_index.map(|(_, p)| vec![p]).unwrap_or_default(),
            start_ms: 0,
            connect_ms: reused.then_some(0),
            header_ms: None,
            idempotent: false,
            pipe: None,
        }
    }

    /// The state an idle pooled connection keeps: its pool only.
    pub fn idle(pool: usize) -> UpstreamConn {
        let none = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let mut u = UpstreamConn::new(
            0,
            UpstreamState::Connecting,
            Vec::new(),
            none,
            false,
            Some(pool),
            None,
            false,
        );
        u.peer = String::new();
        u
    }
}

/// Mirrors ngx_event_connect_peer(): a non-blocking connect, a connection
/// slot of the same slab (its token generation-checked like a client's),
/// epoll registration, and the connect timeout on its write event.
pub fn event_connect_peer<S: Transport>(
    cy: &mut Cycle<S>,
    addr: std::net::SocketAddr,
    client: usize,
    request: Vec<u8>,
    head_request: bool,
    pool: Option<usize>,
    peer_index: Option<(usize, usize)>,
) -> io::Result<usize> {
    if cy.registry.is_none() {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    if cy.free_connection_n() == 0 {
        crate::alert!("{} worker_connections are not enough", cy.connection_n);
        return Err(io::Error::from(io::ErrorKind::OutOfMemory));
    }
    let stream = S::connect_peer(addr)?;
    let number = cy.connection_counter;
    cy.connection_counter += 1;
    let now = cy.clock.now_ms;
    let c = crate::core::connection::Connection::new(
        stream,
        addr,
        crate::core::connection::NO_LISTENING,
        number,
        now,
    );
    let key = cy.conns.insert(c);
    let token = cy.conns[key].token(key);
    let registered = match &cy.registry {
        Some(reg) => cy.conns[key].stream.add_conn(reg, token),
        None => Err(io::Error::from(io::ErrorKind::Unsupported)),
    };
    if let Err(e) = registered {
        cy.conns.remove(key);
        return Err(e);
    }
    let timeout = connect_timeout(cy, client);
    let c = &mut cy.conns[key];
    c.write.ready = false;
    c.read.handler = ReadHandler::Upstream;
    c.write.handler = WriteHandler::Upstream;
    c.data = Some(Box::new(ConnData::Upstream(Box::new(UpstreamConn::new(
        client,
        UpstreamState::Connecting,
        request,
        addr,
        head_request,
        pool,
        peer_index,
        false,
    )))));
    if let Some(ConnData::Upstream(u)) = c.data.as_deref_mut() {
        u.start_ms = now;
    }
    log::debug!("*{} connect to {}, fd:{}", number, addr, c.stream.fd());
    cy.add_timer(key, EvKind::Write, timeout);
    Ok(key)
}

pub(crate) fn client_conf<S: Transport>(
    cy: &Cycle<S>,
    client: usize,
) -> Option<&crate::conf::LocConf> {
    let key = cy.lookup(client)?;
    cy.conns[key].req()?.loc.as_deref()
}

fn connect_timeout<S: Transport>(cy: &Cycle<S>, client: usize) -> u64 {
    client_conf(cy, client).map_or(crate::conf::http_proxy::PROXY_CONNECT_TIMEOUT_MS, |l| {
        l.proxy.connect_timeout_ms
    })
}

fn read_timeout<S: Transport>(cy: &Cycle<S>, client: usize) -> u64 {
    client_conf(cy, client).map_or(crate::conf::http_proxy::PROXY_READ_TIMEOUT_MS, |l| {
        l.proxy.read_timeout_ms
    })
}

fn send_timeout<S: Transport>(cy: &Cycle<S>, client: usize) -> u64 {
    client_conf(cy, client).map_or(crate::conf::http_proxy::PROXY_SEND_TIMEOUT_MS, |l| {
        l.proxy.send_timeout_ms
    })
}

/// The peer state of connection `key`.
pub(crate) fn up_mut<S>(cy: &mut Cycle<S>, key: usize) -> Option<&mut UpstreamConn> {
    match cy.conns[key].data.as_deref_mut()? {
        ConnData::Upstream(u) => Some(u),
        ConnData::Http(_) => None,
    }
}

/// An error of the peer, logged as nginx's (` while ACTION`, then the
/// client's context with `upstream: "…"`); the request ends with `rc`.
fn upstream_error<S: Transport>(cy: &mut Cycle<S>, key: usize, msg: &str, action: &str, rc: u16) {
    let Some(u) = up_mut(cy, key) else { return };
    let client = u.client;
    if rc == 502 && u.reused && u.idempotent && u.head.is_empty() && !u.request.is_empty() {
        log::debug!(
            "*{} {msg} while {action} on a cached connection",
            cy.conns[key].number
        );
        retry_on_new_connection(cy, key);
        return;
    }
    let peer = u.peer.clone();
    if let Some(ck) = cy.lookup(client) {
        crate::http::request::http_error!(cy, ck, "{msg} while {action}");
        if let Some(r) = cy.conns[ck].req_mut() {
            r.upstream_status = rc;
            r.upstream_addr = Some(match r.upstream_addr.take() {
                Some(earlier) => format!("{earlier}, {peer}"),
                None => peer,
            });
        }
    }
    // proxy_next_upstream error / timeout / invalid_header.
    let ft = match (rc, msg.starts_with("upstream sent")) {
        (504, _) => crate::conf::http_proxy::next::TIMEOUT,
        (_, true) => crate::conf::http_proxy::next::INVALID_HEADER,
        _ => crate::conf::http_proxy::next::ERROR,
    };
    if upstream_next(cy, key, ft) {
        return;
    }
    upstream_finalize_request(cy, key, Finalize::Status(rc));
}

/// Mirrors ngx_http_upstream_next(): when `proxy_next_upstream` names the
/// failure `ft`, tries are left and the method allows it, the balancer
/// hears of the failure and the request goes to another peer on a new
/// connection. False: the caller finalizes.
fn upstream_next<S: Transport>(cy: &mut Cycle<S>, key: usize, ft: u16) -> bool {
    use crate::conf::http_proxy::next;
    let now = cy.clock.now_ms;
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let Some((ui, p)) = u.peer_index else {
        return false;
    };
    let (client, sent, idempotent, head_request, pool) =
        (u.client, u.sent > 0, u.idempotent, u.head_request, u.pool);
    let mut tried = std::mem::take(&mut u.tried);
    let request = std::mem::take(&mut u.request);
    let Some(ck) = cy.lookup(client) else {
        return false;
    };
    let (bits, tries) = client_conf(cy, client).map_or((next::DEFAULT, 0), |l| {
        (l.proxy.next_upstream, l.proxy.next_upstream_tries)
    });
    let failed = ft & (next::HTTP_403 | next::HTTP_404) == 0;
    let Some(set) = cy.upstream_peers.get_mut(ui) else {
        return false;
    };
    if set.free_peer(p, failed, now) {
        log::warn!(
            "*{} upstream server temporarily disabled while connecting to upstream{}",
            cy.conns[ck].number,
            crate::http::request::log_ctx(cy, ck)
        );
    }
    // The balancer was told: the finalizer must not tell it again.
    if let Some(u) = up_mut(cy, key) {
        u.peer_index = None;
    }
    let set = &mut cy.upstream_peers[ui];
    let limit = match tries {
        0 => set.tries(),
        n => (n as usize).min(set.tries()),
    };
    let allowed = bits & ft != 0
        && (!sent || idempotent || bits & next::NON_IDEMPOTENT != 0)
        && tried.len() < limit
        && !request.is_empty();
    let Some(np) = allowed.then(|| set.get_peer(now, &tried)).flatten() else {
        return false;
    };
    tried.push(np);
    let addr = set.peer(np).map(|peer| peer.addr);
    let Some(addr) = addr else { return false };
    log::debug!("*{} next upstream, {addr}", cy.conns[key].number);
    cy.close_connection(key);
    match event_connect_peer(
        cy,
        addr,
        client,
        request,
        head_request,
        pool,
        Some((ui, np)),
    ) {
        Ok(up) => {
            let t = cy.conns[up].token(up);
            if let Some(u) = up_mut(cy, up) {
                u.tried = tried;
                u.idempotent = idempotent;
            }
            if let Some(r) = cy.conns[ck].req_mut() {
                r.upstream = Some(t);
            }
            true
        }
        Err(e) => {
            crate::http::request::http_error!(
                cy,
                ck,
                "connect() failed ({}) while connecting to upstream",
                OsErr(&e)
            );
            cy.upstream_peers[ui].free_peer(np, true, now);
            if let Some(r) = cy.conns[ck].req_mut() {
                r.upstream = None;
            }
            cy.conns[ck].read.handler = ReadHandler::BlockReading;
            finalize_request(cy, ck, Finalize::Status(502));
            true
        }
    }
}

/// Mirrors ngx_http_upstream_handler(): the peer connection's events.
pub fn upstream_handler<S: Transport>(cy: &mut Cycle<S>, key: usize, ev: EvKind) {
    let Some(u) = up_mut(cy, key) else {
        cy.close_connection(key);
        return;
    };
    let (client, state) = (u.client, u.state);
    if cy.conns[key].close {
        // Shutdown or retirement closes every connection: the request the
        // peer works for ends with it.
        upstream_finalize_request(cy, key, Finalize::Close);
        return;
    }
    if cy.lookup(client).is_none() {
        // The client went away (ngx_http_upstream_check_broken_connection).
        close_peer(cy, key, false);
        return;
    }
    match (ev, state) {
        (EvKind::Write, UpstreamState::Connecting | UpstreamState::Sending) => {
            send_request_handler(cy, key)
        }
        (EvKind::Read, UpstreamState::Connecting | UpstreamState::Sending) => {
            // A connect error or an early answer: the write side will tell.
            if cy.conns[key].read.timedout {
                send_request_handler(cy, key);
            }
        }
        (EvKind::Read, UpstreamState::ReadingHeader | UpstreamState::ReadingBody) => {
            process_upstream(cy, key)
        }
        (_, UpstreamState::Upgraded) => crate::http::upstream_upgrade::process_upgraded(cy, key),
        (EvKind::Write, _) => {}
    }
}

/// The client's request body in its temp file, when the peer gets it (not
/// replaced by proxy_set_body, not held back by proxy_pass_request_body).
fn request_body_file<S: Transport>(
    cy: &Cycle<S>,
    client: usize,
) -> Option<(std::rc::Rc<std::fs::File>, u64)> {
    let r = cy.conns[cy.lookup(client)?].req()?;
    let f = r.request_body_file.as_ref()?;
    let p = &r.loc.as_ref()?.proxy.request;
    (p.pass_body && p.set_body.is_none()).then(|| (f.file.clone(), f.len))
}

/// Mirrors ngx_http_upstream_send_request_handler() and _send_request():
/// the connect result (SO_ERROR), then the request bytes.
pub(crate) fn send_request_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    let connecting = matches!(
        c.data.as_deref(),
        Some(ConnData::Upstream(u)) if u.state == UpstreamState::Connecting
    );
    if c.write.timedout {
        let action = if connecting {
            "connecting to upstream"
        } else {
            "sending request to upstream"
        };
        upstream_error(
            cy,
            key,
            "upstream timed out (110: Connection timed out)",
            action,
            504,
        );
        return;
    }
    if connecting {
        match c.stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                let msg = format!("connect() failed ({})", OsErr(&e));
                upstream_error(cy, key, &msg, "connecting to upstream", 502);
                return;
            }
        }
        if !c.write.ready {
            return;
        }
    }
    let client = match cy.conns[key].data.as_deref() {
        Some(ConnData::Upstream(u)) => u.client,
        _ => return,
    };
    let body_file = request_body_file(cy, client);
    let c = &mut cy.conns[key];
    let Some(ConnData::Upstream(u)) = c.data.as_deref_mut() else {
        return;
    };
    if u.connect_ms.is_none() {
        u.connect_ms = Some(cy.clock.now_ms.saturating_sub(u.start_ms));
    }
    u.state = UpstreamState::Sending;
    let total = u.request.len() + body_file.as_ref().map_or(0, |(_, n)| *n as usize);
    while u.sent < total {
        let res = if u.sent < u.request.len() {
            c.stream.writev(&[IoSlice::new(&u.request[u.sent..])])
        } else if let Some((file, len)) = &body_file {
            // The body in its temp file goes with sendfile, as
            // ngx_linux_sendfile_chain sends a file buffer.
            let at = (u.sent - u.request.len()) as u64;
            let want = usize::try_from(len - at).unwrap_or(usize::MAX).min(1 << 30);
            c.stream.sendfile(file, at, want)
        } else {
            break;
        };
        match res {
            Ok(0) => break,
            Ok(n) => u.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.write.ready = false;
                let t = send_timeout(cy, client);
                cy.add_timer(key, EvKind::Write, t);
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let call = if u.sent < u.request.len() {
                    "writev"
                } else {
                    "sendfile"
                };
                let msg = format!("{call}() failed ({})", OsErr(&e));
                let action = "sending request to upstream";
                upstream_error(cy, key, &msg, action, 502);
                return;
            }
        }
    }
    // The request is out: wait for the answer under proxy_read_timeout
    // (the bytes stay until the answer comes, for a retry).
    u.state = UpstreamState::ReadingHeader;
    let max_head = client_conf(cy, client)
        .map_or(crate::conf::http_proxy::PROXY_BUFFER_SIZE, |l| {
            l.proxy.buffering.buffer_size
        });
    if let Some(u) = up_mut(cy, key) {
        u.parser = ResponseHeadParser::new(max_head);
    }
    cy.del_timer(key, EvKind::Write);
    let t = read_timeout(cy, client);
    cy.add_timer(key, EvKind::Read, t);
    if cy.conns[key].read.ready {
        process_upstream(cy, key);
    }
}

/// Mirrors ngx_http_upstream_process_header() and
/// ngx_http_upstream_process_non_buffered_request(): reads what the peer
/// sent; the head becomes the client's response head, body bytes go to the
/// client as they come, while the client takes them.
fn process_upstream<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    // One read buffer for every relay of the cycle, allocated once.
    let mut chunk = take_relay_buf(cy);
    process_upstream_with(cy, key, &mut chunk);
    cy.relay_buf = chunk;
}

/// The cycle's relay buffer, taken for one handler call (put back after).
pub(crate) fn take_relay_buf<S>(cy: &mut Cycle<S>) -> Vec<u8> {
    let mut chunk = std::mem::take(&mut cy.relay_buf);
    if chunk.len() < READ_CHUNK {
        chunk.resize(READ_CHUNK, 0);
    }
    chunk
}

fn process_upstream_with<S: Transport>(cy: &mut Cycle<S>, key: usize, chunk: &mut [u8]) {
    if cy.conns[key].read.timedout {
        let reading_body = matches!(
            cy.conns[key].data.as_deref(),
            Some(ConnData::Upstream(u)) if u.state == UpstreamState::ReadingBody
        );
        let action = if reading_body {
            "reading upstream"
        } else {
            "reading response header from upstream"
        };
        upstream_error(
            cy,
            key,
            "upstream timed out (110: Connection timed out)",
            action,
            504,
        );
        return;
    }
    loop {
        let Some(u) = up_mut(cy, key) else { return };
        let client = u.client;
        let Some(ck) = cy.lookup(client) else {
            close_peer(cy, key, false);
            return;
        };
        // Back-pressure: the client has enough queued (and, buffering, the
        // temp file is full); its write handler posts this event again
        // when it has taken some.
        if !crate::http::event_pipe::pipe_read_upstream_allowed(cy, key, ck) {
            return;
        }
        let c = &mut cy.conns[key];
        let n = match c.stream.read(chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.read.ready = false;
                let t = read_timeout(cy, client);
                cy.add_timer(key, EvKind::Read, t);
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let msg = format!("recv() failed ({})", OsErr(&e));
                upstream_error(cy, key, &msg, "reading response header from upstream", 502);
                return;
            }
        };
        if !upstream_input(cy, key, ck, &chunk[..n]) {
            return;
        }
    }
}

/// One read's bytes (`n == 0`: the peer closed), as
/// ngx_http_upstream_process_header() takes them until the head is whole,
/// then the body. False when the exchange ended or must wait.
fn upstream_input<S: Transport>(cy: &mut Cycle<S>, key: usize, ck: usize, data: &[u8]) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    if u.state == UpstreamState::ReadingHeader {
        if data.is_empty() && u.reused && u.idempotent && u.head.is_empty() && !u.request.is_empty()
        {
            // A pooled connection the peer closed meanwhile: once more on
            // a new one, not counted as a try (ngx_http_upstream_next with
            // a cached connection).
            retry_on_new_connection(cy, key);
            return false;
        }
        if data.is_empty() {
            let msg = "upstream prematurely closed connection";
            upstream_error(cy, key, msg, "reading response header from upstream", 502);
            return false;
        }
        u.head.extend_from_slice(data);
        let head = std::mem::take(&mut u.head);
        let parsed = u.parser.parse(&head);
        match parsed {
            HeadParse::Partial => {
                if let Some(u) = up_mut(cy, key) {
                    u.head = head;
                }
                return true;
            }
            HeadParse::Invalid(e) => {
                let msg = e.to_string();
                upstream_error(cy, key, &msg, "reading response header from upstream", 502);
                return false;
            }
            HeadParse::Complete(h) if h.status == 101 => {
                crate::http::upstream_upgrade::upstream_upgrade(cy, key, ck, &head, &h);
                return false;
            }
            HeadParse::Complete(h) => {
                let bit = crate::conf::http_proxy::next::of_status(h.status);
                let client = u.client;
                let wants =
                    client_conf(cy, client).is_some_and(|l| l.proxy.next_upstream & bit != 0);
                if bit != 0 && wants && upstream_next(cy, key, bit) {
                    return false;
                }
                // ngx_http_upstream_intercept_errors: the location's error
                // page answers instead of the peer.
                let intercept = h.status >= 300
                    && client_conf(cy, client).is_some_and(|l| {
                        l.proxy.intercept_errors
                            && l.error_pages.iter().any(|p| p.status == h.status)
                    });
                if intercept {
                    if let Some(r) = cy.conns[ck].req_mut() {
                        r.upstream_status = h.status;
                    }
                    upstream_finalize_request(cy, key, Finalize::Status(h.status));
                    return false;
                }
                let now = cy.clock.now_ms;
                let Some(u) = up_mut(cy, key) else {
                    return false;
                };
                let head_request = u.head_request;
                let framing = if head_request {
                    Framing::None
                } else {
                    h.framing(Method::Get)
                };
                u.body = Some(BodyDecoder::new(framing));
                u.state = UpstreamState::ReadingBody;
                // ngx_http_upstream_keepalive's test: a delimited response
                // from a peer that keeps its connection.
                u.keepalive_ok = h.is_persistent() && framing != Framing::UntilClose;
                u.request = Vec::new();
                let peer = u.peer.clone();
                let header_ms = now.saturating_sub(u.start_ms);
                u.header_ms = Some(header_ms);
                let connect_ms = u.connect_ms;
                if let Some(r) = cy.conns[ck].req_mut() {
                    r.upstream_times.0 = connect_ms;
                    r.upstream_times.1 = Some(header_ms);
                    r.upstream_status = h.status;
                    r.upstream_addr = Some(match r.upstream_addr.take() {
                        Some(earlier) => format!("{earlier}, {peer}"),
                        None => peer,
                    });
                }
                let chunked_out = send_client_head(cy, ck, &head, &h, framing);
                if let Some(u) = up_mut(cy, key) {
                    u.chunked_out = chunked_out;
                }
                let rest = head.get(h.len..).unwrap_or_default().to_vec();
                return relay_body(cy, key, ck, &rest, false);
            }
        }
    }
    relay_body(cy, key, ck, data, data.is_empty())
}

/// The client's response head from the peer's (ngx_http_upstream_send_response
/// with the proxy's header filtering and the chunked filter): the peer's
/// status and headers, but holdfast's own Server, Date and Connection; a
/// body whose length is not known goes chunked to an HTTP/1.1 client (true
/// is returned) and ends with the connection for an HTTP/1.0 one.
fn send_client_head<S: Transport>(
    cy: &mut Cycle<S>,
    ck: usize,
    data: &[u8],
    h: &crate::http::response_parse::ResponseHead,
    framing: Framing,
) -> bool {
    let date = cy.clock.http_date;
    let exiting = cy.retiring(ck);
    // The peer's Location, rewritten (proxy_redirect) and, when it became a
    // path, made absolute as the header filter does for every Location.
    let location = h
        .header_lines(data)
        .find(|(n, _)| n.eq_ignore_ascii_case(b"location"))
        .map(|(_, v)| {
            let r = cy.conns[ck].req();
            let proxy = r.and_then(|r| r.loc.as_ref()).map(|l| &l.proxy);
            let loc_name = r.and_then(|r| r.loc.as_ref()).map_or("", |l| &l.name);
            rewrite_location(proxy, loc_name, v)
        });
    let location = match location {
        Some(v) if v.starts_with(b"/") => {
            response::set_location(cy, ck, &v);
            cy.conns[ck]
                .req_mut()
                .map(|r| std::mem::take(&mut r.location))
        }
        other => other,
    };
    let Some(hc) = cy.conns[ck].hc_mut() else {
        return false;
    };
    let Some(r) = hc.request.as_deref_mut() else {
        return false;
    };
    let unknown_length = matches!(framing, Framing::UntilClose | Framing::Chunked);
    let chunked_out = unknown_length && r.version == crate::http::parse::Version::Http11;
    if exiting || (unknown_length && !chunked_out) || h.status == 101 {
        r.keepalive = false;
    }
    r.status = h.status;
    let tokens = r.loc.as_ref().is_none_or(|l| l.server_tokens);
    let out = &mut hc.out.mem;
    let start = out.len();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(crate::http::response_parse::span(data, h.status_line));
    let passes = |n: &str| {
        r.loc
            .as_ref()
            .is_some_and(|l| l.proxy.pass_headers.iter().any(|p| p == n))
    };
    // The peer's own Server / Date when proxy_pass_header names them.
    if !passes("server") {
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(if tokens {
            response::SERVER_VERSION.as_bytes()
        } else {
            b"holdfast"
        });
    }
    if !passes("date") {
        out.extend_from_slice(b"\r\nDate: ");
        out.extend_from_slice(&date);
    }
    out.extend_from_slice(b"\r\n");
    let hop = [&b"connection"[..], b"keep-alive", b"transfer-encoding"];
    // nginx's ngx_http_proxy_hide_headers, with proxy_hide_header added and
    // proxy_pass_header taken out.
    let hidden = [
        &b"server"[..],
        b"date",
        b"x-pad",
        b"x-accel-expires",
        b"x-accel-redirect",
        b"x-accel-limit-rate",
        b"x-accel-buffering",
        b"x-accel-charset",
    ];
    let proxy = r.loc.as_ref().map(|l| &l.proxy);
    let hide = |name: &[u8]| {
        let passed = proxy.is_some_and(|p| {
            p.pass_headers
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        });
        let extra = proxy.is_some_and(|p| {
            p.hide
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        });
        extra || (!passed && hidden.iter().any(|n| name.eq_ignore_ascii_case(n)))
    };
    for (name, value) in h.header_lines(data) {
        if hop.iter().any(|n| name.eq_ignore_ascii_case(n)) || hide(name) {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        match &location {
            Some(l) if name.eq_ignore_ascii_case(b"location") => out.extend_from_slice(l),
            _ => out.extend_from_slice(value),
        }
        out.extend_from_slice(b"\r\n");
    }
    if chunked_out {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(if r.keepalive {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    });
    // The headers filter (add_header) and the end of the head, counted.
    response::add_headers(cy, ck, h.status, start);
    chunked_out
}

/// Mirrors ngx_http_proxy_rewrite_redirect(): the first `proxy_redirect`
/// rule whose text starts the peer's `Location` replaces that part;
/// `default` is `http://$proxy_host` + the URI part → the location's prefix.
fn rewrite_location(
    proxy: Option<&crate::conf::http_proxy::ProxyConf>,
    loc_name: &str,
    value: &[u8],
) -> Vec<u8> {
    use crate::conf::http_proxy::ProxyRedirect;
    let Some(p) = proxy else {
        return value.to_vec();
    };
    let rules: Vec<(String, String)> = match (&p.redirect, p.pass.as_deref()) {
        (ProxyRedirect::Off, _) | (ProxyRedirect::Default, None) => return value.to_vec(),
        (ProxyRedirect::Default, Some(pass)) => match &pass.uri {
            Some(uri) => vec![(format!("http://{}{uri}", pass.host), loc_name.to_string())],
            None => vec![(format!("http://{}/", pass.host), "/".to_string())],
        },
        (ProxyRedirect::Rules(r), _) => r.clone(),
    };
    for (from, to) in &rules {
        if let Some(rest) = value.strip_prefix(from.as_bytes()) {
            let mut out = to.as_bytes().to_vec();
            out.extend_from_slice(rest);
            return out;
        }
    }
    value.to_vec()
}

/// The body half of ngx_http_upstream_process_non_buffered_request(): body
/// bytes for the client (re-chunked when `chunked_out`, as nginx's chunked
/// filter would); `eof`: the peer closed. False when the
/// exchange ended or must wait for the client.
fn relay_body<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    data: &[u8],
    eof: bool,
) -> bool {
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let chunked_out = u.chunked_out;
    let Some(body) = u.body.as_mut() else {
        return false;
    };
    let mut relayed = Vec::new();
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
    let header_only = match cy.conns[ck].req_mut() {
        Some(r) => {
            r.body_bytes += relayed.len() as u64;
            r.header_only
        }
        None => true,
    };
    if !header_only {
        if !crate::http::event_pipe::pipe_write_to_downstream(cy, key, ck, &relayed, done) {
            close_peer(cy, key, false);
            close_request(cy, ck);
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
            let ignore = client_conf(cy, cy.conns[ck].token(ck))
                .is_some_and(|l| l.proxy.ignore_client_abort && l.proxy.buffering.on);
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
fn log_after_header<S: Transport>(cy: &mut Cycle<S>, key: usize, ck: usize, msg: &str) {
    crate::http::request::http_error!(cy, ck, "{msg} while reading upstream");
    close_peer(cy, key, true);
    close_request(cy, ck);
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

/// The request of a reused connection that failed before any response
/// byte goes out again on a new connection to the same peer.
fn retry_on_new_connection<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let Some(u) = up_mut(cy, key) else { return };
    let (client, request, head_request, pool, peer_index) = (
        u.client,
        std::mem::take(&mut u.request),
        u.head_request,
        u.pool,
        u.peer_index,
    );
    let addr = cy.conns[key].addr();
    log::debug!(
        "*{} keepalive connection closed by peer, retrying",
        cy.conns[key].number
    );
    cy.close_connection(key);
    let Some(ck) = cy.lookup(client) else { return };
    match event_connect_peer(cy, addr, client, request, head_request, pool, peer_index) {
        Ok(up) => {
            let t = cy.conns[up].token(up);
            if let Some(r) = cy.conns[ck].req_mut() {
                r.upstream = Some(t);
            }
        }
        Err(e) => {
            crate::http::request::http_error!(
                cy,
                ck,
                "connect() failed ({}) while connecting to upstream",
                OsErr(&e)
            );
            if let Some(r) = cy.conns[ck].req_mut() {
                r.upstream = None;
            }
            cy.conns[ck].read.handler = ReadHandler::BlockReading;
            finalize_request(cy, ck, Finalize::Status(502));
        }
    }
}

/// Mirrors ngx_http_upstream_finalize_request(): the balancer learns how
/// the try went, the peer connection goes back to its pool (when the
/// block has `keepalive` and the exchange allows it) or is closed, and the
/// client's request is finalized.
pub fn upstream_finalize_request<S: Transport>(cy: &mut Cycle<S>, key: usize, rc: Finalize) {
    let now = cy.clock.now_ms;
    let info = up_mut(cy, key).map(|u| {
        let done = u.body.as_ref().is_some_and(|b| b.is_done());
        (
            u.client,
            u.pool,
            u.peer_index,
            u.keepalive_ok && done,
            u.start_ms,
            u.connect_ms,
            u.pipe.as_ref().is_some_and(|p| p.downstream_error),
        )
    });
    log::debug!("*{} finalize http upstream request", cy.conns[key].number);
    let Some((client, pool, peer_index, reusable, start_ms, connect_ms, abandoned)) = info else {
        cy.close_connection(key);
        return;
    };
    if let Some(ck) = cy.lookup(client)
        && let Some(r) = cy.conns[ck].req_mut()
    {
        if r.upstream_times.0.is_none() {
            r.upstream_times.0 = connect_ms;
        }
        r.upstream_times.2 = Some(now.saturating_sub(start_ms));
    }
    let failed = matches!(rc, Finalize::Status(502 | 504));
    if let Some((u, p)) = peer_index
        && let Some(set) = cy.upstream_peers.get_mut(u)
        && set.free_peer(p, failed, now)
        && let Some(ck) = cy.lookup(client)
    {
        log::warn!(
            "*{} upstream server temporarily disabled while connecting to upstream{}",
            cy.conns[ck].number,
            crate::http::request::log_ctx(cy, ck)
        );
    }
    match pool {
        Some(p) if rc == Finalize::Done => {
            crate::http::upstream_keepalive::free_keepalive_peer(cy, key, p, reusable)
        }
        _ => cy.close_connection(key),
    }
    let Some(ck) = cy.lookup(client) else {
        return;
    };
    if let Some(r) = cy.conns[ck].req_mut() {
        r.upstream = None;
    }
    cy.conns[ck].read.handler = ReadHandler::BlockReading;
    if abandoned {
        // proxy_ignore_client_abort: the client left while the response was
        // read; the peer connection was kept, the client's is closed.
        close_request(cy, ck);
        return;
    }
    finalize_request(cy, ck, rc);
}

/// Closes the peer connection a freed request still had (the client went
/// away or timed out first).
pub fn upstream_cleanup<S: Transport>(cy: &mut Cycle<S>, token: usize) {
    if let Some(key) = cy.lookup(token) {
        log::debug!("*{} cleanup http upstream request", cy.conns[key].number);
        close_peer(cy, key, false);
    }
}

/// Closes an exchange's peer connection, telling the balancer first how
/// the try went (ngx_http_upstream_free_round_robin_peer), so its
/// `max_conns` count and failure accounting stay right whatever ended it.
pub(crate) fn close_peer<S: Transport>(cy: &mut Cycle<S>, key: usize, failed: bool) {
    let now = cy.clock.now_ms;
    if let Some((u, p)) = up_mut(cy, key).and_then(|u| u.peer_index.take())
        && let Some(set) = cy.upstream_peers.get_mut(u)
    {
        set.free_peer(p, failed, now);
    }
    cy.close_connection(key);
}
