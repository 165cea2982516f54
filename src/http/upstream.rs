//! The upstream module at run time (issue 11): nginx's
//! `ngx_http_upstream.c` — connecting to the peer, sending the request,
//! reading the response head, next_upstream, and finalizing (the peer
//! connection back to its block's keep-alive pool, `upstream_keepalive.rs`,
//! or closed). The proxy module (`proxy_module.rs`) makes the request; the
//! complete head is `upstream_header.rs`, the body's way to the client is
//! `event_pipe.rs`, upgrades are `upstream_upgrade.rs`.
//!
//! ```text
//! client: content phase → proxy_handler → (body read) → proxy_start (waits: TestReading)
//! peer:   event_connect_peer | get_keepalive_peer → [write] send_request_handler
//!         → [read] process_upstream: head → process_header → send_client_head
//!           → relay_body → pipe_write_to_downstream ⇄ client write handler
//!             (process_downstream)
//!         → upstream_finalize_request → free_keepalive_peer | close → client finalize_request
//! ```
//!
//! `proxy_request_buffering off` streams the body from
//! `request_body_unbuffered.rs` into the pending request as it arrives.

use std::io::{self, IoSlice};

use crate::core::connection::{ConnData, EvKind, ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::http::request::{Finalize, close_request, finalize_request};
use crate::http::response_parse::{BodyDecoder, HeadParse, ResponseHeadParser};
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
    /// The TLS session to the peer is being set up
    /// (ngx_http_upstream_ssl_handshake_handler).
    SslHandshake,
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
    /// The peer's address (`$upstream_addr`; formatted only when shown;
    /// kept by an idle pooled connection, which get_keepalive_peer matches).
    pub peer: crate::os::net::PeerAddr,
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
    /// When the first try of this request started, for a later try
    /// (`proxy_next_upstream_timeout`; None: this is the first).
    pub first_ms: Option<u64>,
    /// See `start_ms`.
    pub header_ms: Option<u64>,
    /// The method may be sent twice (nginx: not POST, PATCH, LOCK; holdfast
    /// also counts the methods it does not name out): a cached
    /// connection's failure is retried.
    pub idempotent: bool,
    /// Part of a streamed request body went out and was dropped: the
    /// request cannot be sent again (no retry, no next peer).
    pub streamed: bool,
    /// Bytes read from the peer (`$upstream_bytes_received`) and the
    /// response body's bytes (`$upstream_response_length`).
    pub received: u64,
    /// See `received`.
    pub body_len: u64,
    /// The body's way to the client once the head is in (`event_pipe.rs`):
    /// a buffered response's temp file and gathered bytes.
    pub pipe: Option<Box<crate::http::event_pipe::Pipe>>,
    /// `proxy_pass https://…`: what the TLS session is made with
    /// (`upstream_ssl.rs`).
    pub ssl: Option<std::rc::Rc<crate::http::upstream_ssl::UpstreamSsl>>,
}

impl UpstreamConn {
    /// The state of an exchange with the peer at `addr` for the client
    /// connection `client` (its token).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: usize,
        state: UpstreamState,
        request: Vec<u8>,
        addr: crate::os::net::PeerAddr,
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
            peer: addr,
            head_request,
            chunked_out: false,
            pool,
            keepalive_ok: false,
            reused,
            peer_index,
            tried: peer_index.map(|(_, p)| vec![p]).unwrap_or_default(),
            start_ms: 0,
            connect_ms: reused.then_some(0),
            first_ms: None,
            header_ms: None,
            idempotent: false,
            pipe: None,
            streamed: false,
            received: 0,
            body_len: 0,
            ssl: None,
        }
    }

    /// The state an idle pooled connection keeps: its pool and peer.
    pub fn idle(pool: usize, peer: crate::os::net::PeerAddr) -> UpstreamConn {
        UpstreamConn::new(
            0,
            UpstreamState::Connecting,
            Vec::new(),
            peer,
            false,
            Some(pool),
            None,
            false,
        )
    }
}

/// Mirrors ngx_event_connect_peer(): a non-blocking connect, a connection
/// slot of the same slab (its token generation-checked like a client's),
/// epoll registration, and the connect timeout on its write event. With
/// `ssl`, the socket is a TLS client session from the start; its handshake
/// runs once the connect is done (`upstream_ssl.rs`).
#[allow(clippy::too_many_arguments)]
pub fn event_connect_peer<S: Transport>(
    cy: &mut Cycle<S>,
    addr: crate::os::net::PeerAddr,
    client: usize,
    request: Vec<u8>,
    head_request: bool,
    pool: Option<usize>,
    peer_index: Option<(usize, usize)>,
    ssl: Option<std::rc::Rc<crate::http::upstream_ssl::UpstreamSsl>>,
) -> io::Result<usize> {
    if cy.registry.is_none() {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    if cy.free_connection_n() == 0 {
        crate::alert!("{} worker_connections are not enough", cy.connection_n);
        return Err(io::Error::from(io::ErrorKind::OutOfMemory));
    }
    let stream = S::connect_peer(&addr)?;
    let stream = match &ssl {
        Some(s) => stream.ssl_client(s.config.clone(), s.name.clone())?,
        None => stream,
    };
    let number = cy.connection_counter;
    cy.connection_counter += 1;
    let now = cy.clock.now_ms;
    // The connection's own address is for client connections' log lines;
    // a unix peer has none (the peer state keeps the path).
    let inet = match &addr {
        crate::os::net::PeerAddr::Inet(a) => *a,
        crate::os::net::PeerAddr::Unix(_) => std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
    };
    let inet_or_path = addr.to_string();
    let c = crate::core::connection::Connection::new(
        stream,
        inet,
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
        u.ssl = ssl;
    }
    log::debug!(
        "*{} connect to {}, fd:{}",
        number,
        inet_or_path,
        c.stream.fd()
    );
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
pub(crate) fn upstream_error<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    msg: &str,
    action: &str,
    rc: u16,
) {
    let Some(u) = up_mut(cy, key) else { return };
    let client = u.client;
    if rc == 502
        && u.reused
        && u.idempotent
        && u.head.is_empty()
        && !u.request.is_empty()
        && !u.streamed
    {
        log::debug!(
            "*{} {msg} while {action} on a cached connection",
            cy.conns[key].number
        );
        retry_on_new_connection(cy, key);
        return;
    }
    if let Some(ck) = cy.lookup(client) {
        crate::http::request::http_error!(cy, ck, "{msg} while {action}");
    }
    record_try(cy, key, rc, true);
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

/// Records the try of peer connection `key` in its client's request
/// (nginx's `u->state`): the peer, `status`, the connect and header
/// times so far; `ended`: the try is over (its response time is now).
pub(crate) fn record_try<S: Transport>(cy: &mut Cycle<S>, key: usize, status: u16, ended: bool) {
    let now = cy.clock.now_ms;
    let Some(u) = up_mut(cy, key) else { return };
    let t = crate::http::request::UpstreamTry {
        addr: crate::http::request::TryAddr::Peer(u.peer.clone()),
        status,
        connect_ms: u.connect_ms,
        header_ms: u.header_ms,
        response_ms: ended.then(|| now.saturating_sub(u.start_ms)),
        bytes_sent: u.sent as u64,
        bytes_received: u.received,
        response_length: u.body_len,
    };
    let client = u.client;
    if let Some(ck) = cy.lookup(client)
        && let Some(r) = cy.conns[ck].req_mut()
    {
        r.upstream_tries.push(t);
    }
}

/// The exchange of peer connection `key` ends before its response did (the
/// client left): a try not yet recorded is (status `-`), a recorded one
/// gets its response time.
pub(crate) fn end_try<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let now = cy.clock.now_ms;
    let Some(u) = up_mut(cy, key) else { return };
    if u.state != UpstreamState::ReadingBody {
        record_try(cy, key, 0, true);
        return;
    }
    let (client, start) = (u.client, u.start_ms);
    if let Some(ck) = cy.lookup(client)
        && let Some(r) = cy.conns[ck].req_mut()
        && let Some(t) = r.upstream_tries.last_mut()
        && t.response_ms.is_none()
    {
        t.response_ms = Some(now.saturating_sub(start));
    }
}

/// Mirrors ngx_http_upstream_next(): when `proxy_next_upstream` names the
/// failure `ft`, tries are left and the method allows it, the balancer
/// hears of the failure and the request goes to another peer on a new
/// connection. False: the caller finalizes.
pub(crate) fn upstream_next<S: Transport>(cy: &mut Cycle<S>, key: usize, ft: u16) -> bool {
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
    let first_ms = u.first_ms.unwrap_or(u.start_ms);
    let streamed = u.streamed;
    let ssl = u.ssl.clone();
    let mut tried = std::mem::take(&mut u.tried);
    let request = std::mem::take(&mut u.request);
    let Some(ck) = cy.lookup(client) else {
        return false;
    };
    let (bits, tries, timeout) = client_conf(cy, client).map_or((next::DEFAULT, 0, 0), |l| {
        (
            l.proxy.next_upstream,
            l.proxy.next_upstream_tries,
            l.proxy.next_upstream_timeout_ms,
        )
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
        && (timeout == 0 || now.saturating_sub(first_ms) < timeout)
        && !request.is_empty()
        && !streamed;
    let Some(mut np) = allowed.then(|| set.get_peer(now, &tried)).flatten() else {
        return false;
    };
    let Some(mut addr) = set.peer(np).map(|peer| peer.addr.clone()) else {
        return false;
    };
    log::debug!("*{} next upstream, {addr}", cy.conns[key].number);
    cy.close_connection(key);
    loop {
        tried.push(np);
        match event_connect_peer(
            cy,
            addr.clone(),
            client,
            request.clone(),
            head_request,
            pool,
            Some((ui, np)),
            ssl.clone(),
        ) {
            Ok(up) => {
                let t = cy.conns[up].token(up);
                if let Some(u) = up_mut(cy, up) {
                    u.tried = tried;
                    u.idempotent = idempotent;
                    u.first_ms = Some(first_ms);
                }
                if let Some(r) = cy.conns[ck].req_mut() {
                    r.upstream = Some(t);
                }
                return true;
            }
            Err(e) => {
                connect_failed(cy, ck, &addr, &e);
                cy.upstream_peers[ui].free_peer(np, true, now);
                if let Some(r) = cy.conns[ck].req_mut() {
                    r.upstream_tries.push(crate::http::request::UpstreamTry {
                        addr: crate::http::request::TryAddr::Peer(addr.clone()),
                        status: 502,
                        ..Default::default()
                    });
                }
                // A connect() that fails at once (ngx_event_connect_peer's
                // NGX_DECLINED) goes on to the next peer while tries are left.
                let next = (bits & next::ERROR != 0 && tried.len() < limit)
                    .then(|| cy.upstream_peers[ui].get_peer(now, &tried))
                    .flatten()
                    .and_then(|n| {
                        cy.upstream_peers[ui]
                            .peer(n)
                            .map(|peer| (n, peer.addr.clone()))
                    });
                if let Some((n, a)) = next {
                    (np, addr) = (n, a);
                    continue;
                }
                if let Some(r) = cy.conns[ck].req_mut() {
                    r.upstream = None;
                }
                cy.conns[ck].read.handler = ReadHandler::BlockReading;
                finalize_request(cy, ck, Finalize::Status(502));
                return true;
            }
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
        (_, UpstreamState::SslHandshake) => {
            crate::http::upstream_ssl::ssl_handshake_handler(cy, key, ev)
        }
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

/// nginx's line for a connect() that failed at once (ngx_event_connect_peer),
/// in client `ck`'s context.
pub(crate) fn connect_failed<S: Transport>(
    cy: &Cycle<S>,
    ck: usize,
    addr: &crate::os::net::PeerAddr,
    e: &io::Error,
) {
    crate::http::request::http_error!(
        cy,
        ck,
        "connect() to {addr} failed ({}) while connecting to upstream",
        OsErr(e)
    );
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
        if matches!(c.data.as_deref(), Some(ConnData::Upstream(u)) if u.ssl.is_some()) {
            // ngx_http_upstream_ssl_init_connection: TLS first.
            crate::http::upstream_ssl::ssl_init_connection(cy, key);
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
                // A streamed body: the peer took some, the client may send on.
                crate::http::request_body_unbuffered::resume_client(cy, client);
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
    // TLS records the socket did not take yet (Transport::wants_write) go
    // before the request counts as sent.
    if c.stream.wants_write() {
        match c.stream.flush() {
            Ok(true) => {}
            Ok(false) => {
                c.write.ready = false;
                let t = send_timeout(cy, client);
                cy.add_timer(key, EvKind::Write, t);
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.write.ready = false;
                let t = send_timeout(cy, client);
                cy.add_timer(key, EvKind::Write, t);
                return;
            }
            Err(e) => {
                let msg = format!("writev() failed ({})", OsErr(&e));
                upstream_error(cy, key, &msg, "sending request to upstream", 502);
                return;
            }
        }
    }
    if !crate::http::request_body_unbuffered::body_done(cy, client) {
        // proxy_request_buffering off and the body is still coming: what
        // went out is dropped (no retry can repeat it), the client is read
        // on; the write side waits for more.
        if let Some(u) = up_mut(cy, key) {
            u.request.drain(..u.sent);
            u.sent = 0;
            u.streamed = true;
        }
        cy.del_timer(key, EvKind::Write);
        crate::http::request_body_unbuffered::resume_client(cy, client);
        return;
    }
    let Some(ConnData::Upstream(u)) = cy.conns[key].data.as_deref_mut() else {
        return;
    };
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
        if !c.read.ready {
            let t = read_timeout(cy, client);
            cy.add_timer(key, EvKind::Read, t);
            return;
        }
        let n = match c.stream.read(chunk) {
            Ok(n) => {
                // A short read drained the socket (ngx_unix_recv with
                // EPOLLRDHUP): no second recv() to see EAGAIN.
                if n > 0 && n < chunk.len() && !c.pending_eof {
                    c.read.ready = false;
                }
                if let Some(ConnData::Upstream(u)) = c.data.as_deref_mut() {
                    u.received += n as u64;
                }
                n
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.read.ready = false;
                let t = read_timeout(cy, client);
                cy.add_timer(key, EvKind::Read, t);
                return;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let msg = format!("recv() failed ({})", OsErr(&e));
                if matches!(up_mut(cy, key), Some(u) if u.state == UpstreamState::ReadingBody) {
                    // The client's head went out: the response is cut
                    // short, not replaced by a 502 page.
                    crate::http::event_pipe::log_after_header(cy, key, ck, &msg);
                    return;
                }
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
        if data.is_empty()
            && u.reused
            && u.idempotent
            && u.head.is_empty()
            && !u.request.is_empty()
            && !u.streamed
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
            HeadParse::Complete(h) => {
                return crate::http::upstream_header::process_header(cy, key, ck, &head, &h);
            }
        }
    }
    crate::http::event_pipe::relay_body(cy, key, ck, data, data.is_empty())
}

/// The request of a reused connection that failed before any response
/// byte goes out again on a new connection to the same peer.
fn retry_on_new_connection<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let Some(u) = up_mut(cy, key) else { return };
    let (client, request, head_request, pool, peer_index, addr) = (
        u.client,
        std::mem::take(&mut u.request),
        u.head_request,
        u.pool,
        u.peer_index,
        u.peer.clone(),
    );
    let ssl = u.ssl.clone();
    log::debug!(
        "*{} keepalive connection closed by peer, retrying",
        cy.conns[key].number
    );
    cy.close_connection(key);
    let Some(ck) = cy.lookup(client) else { return };
    match event_connect_peer(
        cy,
        addr.clone(),
        client,
        request,
        head_request,
        pool,
        peer_index,
        ssl,
    ) {
        Ok(up) => {
            let t = cy.conns[up].token(up);
            if let Some(r) = cy.conns[ck].req_mut() {
                r.upstream = Some(t);
            }
        }
        Err(e) => {
            connect_failed(cy, ck, &addr, &e);
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
    let Some((ck, abandoned)) = upstream_release(cy, key, rc) else {
        return;
    };
    if abandoned {
        // proxy_ignore_client_abort: the client left while the response was
        // read; the peer connection was kept, the client's is closed.
        close_request(cy, ck);
        return;
    }
    finalize_request(cy, ck, rc);
}

/// The peer half of [`upstream_finalize_request`]: the try's times, the
/// balancer, the pool or close; the client's request no longer waits for
/// the peer. Returns the client's key (if it is still there) and whether
/// it left under `proxy_ignore_client_abort`.
pub(crate) fn upstream_release<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    rc: Finalize,
) -> Option<(usize, bool)> {
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
            (u.sent as u64, u.received, u.body_len),
        )
    });
    log::debug!("*{} finalize http upstream request", cy.conns[key].number);
    let Some((client, pool, peer_index, reusable, start_ms, connect_ms, abandoned, bytes)) = info
    else {
        cy.close_connection(key);
        return None;
    };
    if let Some(ck) = cy.lookup(client)
        && let Some(r) = cy.conns[ck].req_mut()
        && let Some(t) = r.upstream_tries.last_mut()
        && t.response_ms.is_none()
    {
        // The last try ends now (nginx's u->state->response_time).
        t.response_ms = Some(now.saturating_sub(start_ms));
        (t.bytes_sent, t.bytes_received, t.response_length) = bytes;
        if t.connect_ms.is_none() {
            t.connect_ms = connect_ms;
        }
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
    let ck = cy.lookup(client)?;
    if let Some(r) = cy.conns[ck].req_mut() {
        r.upstream = None;
    }
    cy.conns[ck].read.handler = ReadHandler::BlockReading;
    Some((ck, abandoned))
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
