//! Connections: nginx's `core/ngx_connection.c` (get/free/close connection, the
//! reusable queue, draining) and the per-connection event state of
//! `ngx_event_t`.
//!
//! A connection lives in the cycle's slab; its mio token is the slab key plus
//! the connection number in the high 32 bits, so an event, a timer or a posted
//! event for a closed connection never reaches the slot's next tenant (nginx's
//! `instance` bit, generalised).
//!
//! ```text
//!                 reusable queue (newest at head)
//!   head ─▶ [*9 keepalive] ⇄ [*7 waiting] ⇄ [*3 lingering] ◀─ tail (drained first)
//! ```

use std::net::{IpAddr, SocketAddr};

use crate::core::buf::{Buf, OutChain};
use crate::core::cycle::Cycle;
use crate::event::timer::TimerHandle;
use crate::http::request::Request;
use crate::os::io::{Recv, Transport};

/// No link in the reusable queue.
pub const NIL: u32 = u32::MAX;

/// The `listening` index of a connection holdfast opened itself (an
/// upstream peer: nginx's `c->listening` is NULL there).
pub const NO_LISTENING: usize = u32::MAX as usize;

/// Slab keys at or above this are not connections (listeners, the accept timer).
pub const LISTEN_KEY_BASE: usize = 0xFFFF_0000;

/// The token of the accept back-off timer.
pub const ACCEPT_TOKEN: usize = 0xFFFF_FFFF;

/// Builds a mio token value from a slab key and a connection number.
pub fn make_token(key: usize, number: u64) -> usize {
    ((number as usize & 0xFFFF_FFFF) << 32) | key
}

/// The slab key of a token.
pub fn token_key(token: usize) -> usize {
    token & 0xFFFF_FFFF
}

/// Which of a connection's two events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvKind {
    /// `c->read`.
    Read,
    /// `c->write`.
    Write,
}

/// What timers and the posted queue point at: a connection (by token, so a
/// stale reference is detected) and one of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef {
    /// The connection's token value (see [`make_token`]).
    pub token: usize,
    /// Read or write event.
    pub kind: EvKind,
}

/// The read handler (`c->read->handler`): setting it is the state transition.
///
/// ```text
/// WaitRequest → ProcessRequestLine → ProcessRequestHeaders → BlockReading (response)
///     [→ TestReading while the response waits for the socket]
///     → [DiscardBody] → Keepalive ─(data)→ ProcessRequestLine …
///                     → ProcessRequestLine (pipelined, posted)
///                     → LingeringClose → close
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadHandler {
    /// ngx_http_wait_request_handler: accepted, nothing received yet.
    WaitRequest,
    /// ngx_http_process_request_line.
    ProcessRequestLine,
    /// ngx_http_process_request_headers.
    ProcessRequestHeaders,
    /// ngx_http_block_reading: a request is being answered.
    BlockReading,
    /// ngx_http_test_reading: the response waits for the socket (or for
    /// `limit_rate`); a client that closes its side is noticed at once.
    TestReading,
    /// ngx_http_discarded_request_body_handler: the response went out, the
    /// rest of the request body is read and thrown away.
    DiscardBody,
    /// ngx_http_keepalive_handler: idle between requests.
    Keepalive,
    /// ngx_http_lingering_close_handler.
    LingeringClose,
    /// ngx_http_upstream_handler: a peer connection's read event.
    Upstream,
    /// ngx_http_upstream_keepalive_close_handler: idle in an upstream's
    /// keep-alive pool.
    KeepaliveClose,
    /// ngx_http_read_client_request_body_handler: a body being read to be
    /// passed on.
    ReadClientBody,
    /// ngx_http_read_unbuffered_request_body: a body streamed to the peer
    /// as it arrives (`proxy_request_buffering off`).
    ReadUnbufferedBody,
    /// ngx_http_upstream_upgraded_read_downstream: a client connection
    /// relayed to its peer after a 101.
    Upgraded,
    /// ngx_http_ssl_handshake: accepted on an `ssl` address, waiting for
    /// the first byte to tell TLS from plain HTTP.
    SslHandshake,
    /// ngx_ssl_handshake_handler: the TLS handshake is under way.
    SslHandshakeHandler,
}

/// The write handler (`c->write->handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteHandler {
    /// ngx_http_empty_handler: nothing waits for the socket to become writable.
    Empty,
    /// ngx_http_writer: the response of the current request is partly sent;
    /// when it is all out the request is finalized.
    Writer,
    /// Responses of already finished pipelined requests are partly sent while
    /// the next request is being read; when they are out, reading resumes.
    Flush,
    /// ngx_http_upstream_handler: a peer connection's write event; on a
    /// client, ngx_http_upstream_process_downstream (a relayed body waits
    /// for the client).
    Upstream,
    /// ngx_ssl_handshake_handler: the TLS handshake waits for the socket to
    /// take its records.
    SslHandshakeHandler,
}

impl ReadHandler {
    /// nginx's function name for the handler (the debug trace and the
    /// connection inspector print it).
    pub fn nginx_name(self) -> &'static str {
        match self {
            ReadHandler::WaitRequest => "ngx_http_wait_request_handler",
            ReadHandler::ProcessRequestLine => "ngx_http_process_request_line",
            ReadHandler::ProcessRequestHeaders => "ngx_http_process_request_headers",
            ReadHandler::BlockReading => "ngx_http_block_reading",
            ReadHandler::TestReading => "ngx_http_test_reading",
            ReadHandler::DiscardBody => "ngx_http_discarded_request_body_handler",
            ReadHandler::Keepalive => "ngx_http_keepalive_handler",
            ReadHandler::LingeringClose => "ngx_http_lingering_close_handler",
            ReadHandler::Upstream => "ngx_http_upstream_handler",
            ReadHandler::KeepaliveClose => "ngx_http_upstream_keepalive_close_handler",
            ReadHandler::ReadClientBody => "ngx_http_read_client_request_body_handler",
            ReadHandler::ReadUnbufferedBody => "ngx_http_read_unbuffered_request_body",
            ReadHandler::Upgraded => "ngx_http_upstream_upgraded_read_downstream",
            ReadHandler::SslHandshake => "ngx_http_ssl_handshake",
            ReadHandler::SslHandshakeHandler => "ngx_ssl_handshake_handler",
        }
    }
}

impl WriteHandler {
    /// nginx's function name for the handler. `Flush` is holdfast's own
    /// (nginx writes each pipelined response as it is made): it is named
    /// after ngx_http_writer, which it shares.
    pub fn nginx_name(self) -> &'static str {
        match self {
            WriteHandler::Empty => "ngx_http_empty_handler",
            WriteHandler::Writer | WriteHandler::Flush => "ngx_http_writer",
            WriteHandler::Upstream => "ngx_http_upstream_handler",
            WriteHandler::SslHandshakeHandler => "ngx_ssl_handshake_handler",
        }
    }
}

/// One event of a connection (the fields of `ngx_event_t` holdfast needs).
#[derive(Debug)]
pub struct Event<H> {
    /// The handler called when the event fires, times out or is posted.
    pub handler: H,
    /// The armed timer, if any (`timer_set`).
    pub timer: Option<TimerHandle>,
    /// The timer fired (`timedout`); handlers test it first.
    pub timedout: bool,
    /// The socket may have more to read / room to write (`ready`).
    pub ready: bool,
    /// In the posted queue (`posted`).
    pub posted: bool,
}

impl<H> Event<H> {
    fn new(handler: H, ready: bool) -> Self {
        Event {
            handler,
            timer: None,
            timedout: false,
            ready,
            posted: false,
        }
    }
}

/// TCP_NODELAY state, as nginx's `c->tcp_nodelay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpNodelay {
    /// Not set yet.
    Unset,
    /// Set (once per connection, when it first goes keep-alive).
    Set,
    /// Setting it failed; don't try again.
    Disabled,
}

/// What a connection is doing, for log lines (nginx's `c->log->action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Accepted, nothing received yet.
    WaitingForRequest,
    /// Reading the request line.
    ReadingRequestLine,
    /// Reading the request line of a pipelined request.
    ReadingPipelinedRequestLine,
    /// Reading the headers.
    ReadingRequestHeaders,
    /// Running the handler (nginx's NULL action).
    ProcessingRequest,
    /// Writing the response.
    SendingResponse,
    /// Finishing the request.
    ClosingRequest,
    /// Idle between requests.
    Keepalive,
    /// Lingering close.
    LingeringClose,
    /// The TLS handshake.
    SslHandshaking,
}

impl Action {
    /// nginx's words for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::WaitingForRequest => "waiting for request",
            Action::ReadingRequestLine => "reading client request line",
            Action::ReadingPipelinedRequestLine => "reading client pipelined request line",
            Action::ReadingRequestHeaders => "reading client request headers",
            // ngx_http_handler() clears the action: lines logged while the
            // request is processed carry no "while ...".
            Action::ProcessingRequest => "",
            Action::SendingResponse => "sending response to client",
            Action::ClosingRequest => "closing request",
            Action::Keepalive => "keepalive",
            Action::LingeringClose => "lingering close",
            Action::SslHandshaking => "SSL handshaking",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client address for log lines (see [`Connection::addr_text`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientText {
    ip: IpAddr,
    unix: bool,
}

impl std::fmt::Display for ClientText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.unix {
            f.write_str("unix:")
        } else {
            write!(f, "{}", self.ip)
        }
    }
}

/// The HTTP state a connection holds only while it has work: the header
/// buffer (`c->buffer`), the request (`c->data`) and the output queue. An idle
/// connection gives it back to the cycle's pool, so it costs only the fields
/// of [`Connection`] and its timer (nginx frees `c->buffer` and the request
/// pool in ngx_http_set_keepalive for the same reason).
#[derive(Debug, Default)]
pub struct HttpConn {
    /// The header buffer (`c->buffer` / `r->header_in`).
    pub buffer: Option<Buf>,
    /// Output not yet sent.
    pub out: OutChain,
    /// The request being read or answered.
    pub request: Option<Box<Request>>,
}

/// `c->data`: what a connection works for, held (boxed, from the cycle's
/// pool) only while it has work, so an idle connection costs one pointer
/// for it. nginx's `c->data` points at an ngx_http_connection_t, a request,
/// or an upstream's peer state; holdfast's client connections have the
/// first two in [`HttpConn`], and upstream peer connections (the proxy of
/// issue 11) get a variant of their own here, so they share the slab, the
/// tokens and the timers without carrying a client's state.
#[derive(Debug)]
pub enum ConnData {
    /// A client HTTP connection's busy state (ngx_http_connection_t's
    /// buffers and the request).
    Http(HttpConn),
    /// An upstream peer connection (the proxy's `u->peer.connection`),
    /// boxed so a client's busy state does not grow to its size.
    Upstream(Box<crate::http::upstream::UpstreamConn>),
}

impl Default for ConnData {
    fn default() -> Self {
        ConnData::Http(HttpConn::default())
    }
}

impl ConnData {
    /// The HTTP client state, if that is what this is.
    pub fn http(&self) -> Option<&HttpConn> {
        match self {
            ConnData::Http(hc) => Some(hc),
            ConnData::Upstream(_) => None,
        }
    }

    /// See [`ConnData::http`].
    pub fn http_mut(&mut self) -> Option<&mut HttpConn> {
        match self {
            ConnData::Http(hc) => Some(hc),
            ConnData::Upstream(_) => None,
        }
    }
}

/// The HTTP state in a connection's `data` field (borrowing only that field,
/// so the connection's other fields stay usable).
pub fn hc_in(data: &mut Option<Box<ConnData>>) -> Option<&mut HttpConn> {
    data.as_deref_mut()?.http_mut()
}

/// The request in a connection's `data` field.
pub fn req_in(data: &mut Option<Box<ConnData>>) -> Option<&mut Request> {
    hc_in(data)?.request.as_deref_mut()
}

/// The header buffer in a connection's `data` field.
pub fn buf_in(data: &mut Option<Box<ConnData>>) -> Option<&mut Buf> {
    hc_in(data)?.buffer.as_mut()
}

/// The header buffer and the request of a connection's `data` field together.
pub fn buf_req(data: &mut Option<Box<ConnData>>) -> (Option<&mut Buf>, Option<&mut Request>) {
    match hc_in(data) {
        Some(hc) => (hc.buffer.as_mut(), hc.request.as_deref_mut()),
        None => (None, None),
    }
}

/// A client connection (ngx_connection_t plus the parts of
/// ngx_http_connection_t that survive between requests). Kept small: it is
/// what an idle keep-alive connection costs.
#[derive(Debug)]
pub struct Connection<S> {
    /// The byte stream (`c->recv`, `c->send_chain`).
    pub stream: S,
    /// Index of the listening socket it came from.
    pub listening: u32,
    /// `c->number`: the `*N` in log lines, and the token's generation.
    pub number: u64,
    /// Client address.
    pub ip: IpAddr,
    /// Client port.
    pub port: u16,
    /// Read event.
    pub read: Event<ReadHandler>,
    /// Write event.
    pub write: Event<WriteHandler>,
    /// Reusable-queue links (slab keys; [`NIL`] for none).
    pub prev: u32,
    /// See `prev`.
    pub next: u32,
    /// Requests started on this connection (`c->requests`).
    pub requests: u64,
    /// When it was accepted (`c->start_time`), in cycle ms.
    pub start_ms: u64,
    /// Deadline of lingering close / body discarding (`r->lingering_time`).
    pub lingering_deadline: u64,
    /// `lingering_timeout` of the last request, kept once it is freed.
    pub lingering_timeout: u32,
    /// What it is doing, for log lines (`c->log->action`).
    pub action: Action,
    /// The peer closed its side (`rev->eof`).
    pub eof: bool,
    /// EPOLLRDHUP was reported (`rev->pending_eof`).
    pub pending_eof: bool,
    /// Close at the next handler call (`c->close`): set by draining and by
    /// graceful shutdown.
    pub close: bool,
    /// Idle in keep-alive (`c->idle`): graceful shutdown closes these at once.
    pub idle: bool,
    /// The connection timed out (`c->timedout`).
    pub timedout: bool,
    /// Ever had a pipelined request (`c->pipeline`): lingering close after it.
    pub pipeline: bool,
    /// In the reusable queue (`c->reusable`).
    pub reusable: bool,
    /// TCP_NODELAY state.
    pub tcp_nodelay: TcpNodelay,
    /// TCP_CORK is set (`tcp_nopush`; nginx's `c->tcp_nopush` SET state).
    pub corked: bool,
    /// A unix-domain client (`$remote_addr` is `unix:`; no TCP options).
    pub unix: bool,
    /// The write event is held back by `limit_rate` until its timer fires
    /// (nginx's `wev->delayed`; kept here rather than in [`Event`], which
    /// only the write side would use, to keep the struct small).
    pub write_delayed: bool,
    /// `c->data`: buffers, request and output while busy; None while idle.
    pub data: Option<Box<ConnData>>,
}

impl<S> Connection<S> {
    /// A freshly accepted connection (the zeroed slot of ngx_get_connection,
    /// with `wev->ready = 1` as ngx_event_accept sets it).
    pub fn new(stream: S, addr: SocketAddr, listening: usize, number: u64, now_ms: u64) -> Self {
        Connection {
            stream,
            listening: listening as u32,
            number,
            ip: addr.ip(),
            port: addr.port(),
            read: Event::new(ReadHandler::WaitRequest, false),
            write: Event::new(WriteHandler::Empty, true),
            prev: NIL,
            next: NIL,
            requests: 0,
            start_ms: now_ms,
            lingering_deadline: 0,
            lingering_timeout: 0,
            action: Action::WaitingForRequest,
            eof: false,
            pending_eof: false,
            close: false,
            idle: false,
            timedout: false,
            pipeline: false,
            reusable: false,
            tcp_nodelay: TcpNodelay::Unset,
            corked: false,
            write_delayed: false,
            unix: false,
            data: None,
        }
    }

    /// The HTTP client state while busy.
    pub fn hc(&self) -> Option<&HttpConn> {
        self.data.as_deref()?.http()
    }

    /// See [`Connection::hc`].
    pub fn hc_mut(&mut self) -> Option<&mut HttpConn> {
        self.data.as_deref_mut()?.http_mut()
    }

    /// The client's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// The client as nginx's `c->addr_text` prints it: its IP, or `unix:`.
    pub fn addr_text(&self) -> ClientText {
        ClientText {
            ip: self.ip,
            unix: self.unix,
        }
    }

    /// The listening socket index.
    pub fn li(&self) -> usize {
        self.listening as usize
    }

    /// The current request, if any.
    pub fn req(&self) -> Option<&Request> {
        self.hc()?.request.as_deref()
    }

    /// The current request, mutably.
    pub fn req_mut(&mut self) -> Option<&mut Request> {
        self.hc_mut()?.request.as_deref_mut()
    }

    /// The header buffer, if any.
    pub fn buf(&self) -> Option<&Buf> {
        self.hc()?.buffer.as_ref()
    }

    /// The header buffer, mutably.
    pub fn buf_mut(&mut self) -> Option<&mut Buf> {
        self.hc_mut()?.buffer.as_mut()
    }

    /// Output is queued.
    pub fn has_output(&self) -> bool {
        self.hc().is_some_and(|hc| {
            !hc.out.is_empty()
                || hc
                    .request
                    .as_deref()
                    .and_then(|r| r.body_filter.as_deref())
                    .is_some_and(|f| f.has_work())
        })
    }

    /// One read into `buf` through the transport's `c->recv` (see
    /// [`Transport::recv`]: the transport keeps `ready` and `eof`).
    pub fn recv_into(
        stream: &mut S,
        read_ready: &mut bool,
        eof: &mut bool,
        pending_eof: bool,
        buf: &mut [u8],
    ) -> Recv
    where
        S: Transport,
    {
        stream.recv(buf, read_ready, eof, pending_eof)
    }

    /// [`Connection::recv_into`] the free space of the header buffer; the
    /// buffer must exist and have room.
    pub fn recv(&mut self) -> Recv
    where
        S: Transport,
    {
        let Some(b) = buf_in(&mut self.data) else {
            return Recv::Again;
        };
        let last = b.last;
        let r = Self::recv_into(
            &mut self.stream,
            &mut self.read.ready,
            &mut self.eof,
            self.pending_eof,
            &mut b.mem[last..],
        );
        if let Recv::Data(n) = r {
            b.last += n;
            log::debug!(
                "*{} recv: fd:{} {} of {}",
                self.number,
                self.stream.fd(),
                n,
                b.size() - last
            );
        }
        r
    }

    /// The token this connection is registered under.
    pub fn token(&self, key: usize) -> usize {
        make_token(key, self.number)
    }
}

/// How many reusable connections one drain closes at most (ngx_drain_connections).
pub const DRAIN_BATCH_MAX: usize = 32;

impl<S: Transport> Cycle<S> {
    /// Mirrors ngx_reusable_connection(): puts the connection at the head of the
    /// reusable queue (`on`) or takes it out, keeping the `waiting` counter.
    pub fn reusable_connection(&mut self, key: usize, on: bool) {
        let c = &self.conns[key];
        log::debug!("*{} reusable connection: {}", c.number, u8::from(on));
        if c.reusable {
            let (prev, next) = (c.prev, c.next);
            if prev == NIL {
                self.reusable_head = next;
            } else {
                self.conns[prev as usize].next = next;
            }
            if next == NIL {
                self.reusable_tail = prev;
            } else {
                self.conns[next as usize].prev = prev;
            }
            let c = &mut self.conns[key];
            c.reusable = false;
            c.prev = NIL;
            c.next = NIL;
            self.reusable_n -= 1;
            self.stats.waiting -= 1;
        }
        if on {
            let old_head = self.reusable_head;
            let c = &mut self.conns[key];
            c.reusable = true;
            c.prev = NIL;
            c.next = old_head;
            if old_head == NIL {
                self.reusable_tail = key as u32;
            } else {
                self.conns[old_head as usize].prev = key as u32;
            }
            self.reusable_head = key as u32;
            self.reusable_n += 1;
            self.stats.waiting += 1;
        }
    }

    /// Mirrors ngx_drain_connections(): when free slots fall to
    /// worker_connections/16 or below, closes `max(min(32, reusable/8), 1)` of
    /// the oldest reusable connections by setting their `close` flag and calling
    /// their read handler, which closes them.
    pub fn drain_connections(&mut self) {
        if self.free_connection_n() > self.connection_n / 16 || self.reusable_n == 0 {
            return;
        }
        let now_s = self.clock.unix_secs;
        if self.connections_reuse_time != now_s {
            self.connections_reuse_time = now_s;
            log::warn!(
                "{} worker_connections are not enough, reusing connections",
                self.connection_n
            );
        }
        let n = (self.reusable_n / 8).clamp(1, DRAIN_BATCH_MAX);
        let mut last = None;
        for _ in 0..n {
            let tail = self.reusable_tail;
            if tail == NIL {
                break;
            }
            let key = tail as usize;
            let c = &mut self.conns[key];
            log::debug!("*{} reusing connection", c.number);
            c.close = true;
            self.drained += 1;
            let token = c.token(key);
            crate::http::run_read_handler(self, key);
            last = Some(token);
            if self.reusable_tail == tail && self.lookup(token).is_some() {
                // The handler did not take it out of the queue; don't spin on it.
                break;
            }
        }
        if self.free_connection_n() == 0
            && let Some(key) = last.and_then(|t| self.lookup(t))
            && self.conns[key].reusable
        {
            log::debug!("*{} reusing connection again", self.conns[key].number);
            crate::http::run_read_handler(self, key);
        }
    }

    /// Mirrors ngx_get_connection(): drains if slots run low, then takes a slot
    /// for the accepted socket; None (and the `[alert]`) when none is left.
    /// The caller closes the socket on None.
    pub fn get_connection(
        &mut self,
        stream: S,
        addr: SocketAddr,
        listening: usize,
    ) -> Option<usize> {
        self.drain_connections();
        if self.free_connection_n() == 0 {
            crate::alert!("{} worker_connections are not enough", self.connection_n);
            return None;
        }
        let number = self.connection_counter;
        self.connection_counter += 1;
        let now = self.clock.now_ms;
        let key = self
            .conns
            .insert(Connection::new(stream, addr, listening, number, now));
        self.peak_conns = self.peak_conns.max(self.conns.len());
        Some(key)
    }

    /// Mirrors ngx_close_connection(): deletes both timers, leaves the reusable
    /// queue, returns the buffers and frees the slot; dropping the socket closes
    /// the descriptor, which also removes it from epoll. Posted events of the
    /// connection become stale and are skipped by token.
    pub fn close_connection(&mut self, key: usize) {
        self.del_timer(key, EvKind::Read);
        self.del_timer(key, EvKind::Write);
        // nginx leaves the queue unconditionally (and traces it).
        self.reusable_connection(key, false);
        self.free_http_conn(key);
        let mut c = self.conns.remove(key);
        // ngx_close_connection → ngx_ssl_shutdown: close_notify, except for
        // a connection that timed out (nginx's no_send_shutdown).
        if !c.timedout {
            c.stream.ssl_shutdown();
        }
        debug_assert!(c.read.timer.is_none() && c.write.timer.is_none());
    }

    /// Mirrors ngx_close_idle_connections(): at graceful shutdown, closes every
    /// keep-alive idle connection through its read handler.
    pub fn close_idle_connections(&mut self) {
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.idle && !c.close)
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            if let Some(c) = self.conns.get_mut(key) {
                c.close = true;
                crate::http::run_read_handler(self, key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_carries_key_and_generation() {
        let t1 = make_token(5, 1);
        let t2 = make_token(5, 2);
        assert_ne!(t1, t2);
        assert_eq!(token_key(t1), 5);
        assert_eq!(token_key(t2), 5);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// What an idle keep-alive connection costs is mostly this struct: keep
    /// it at the 136 bytes issue 4 brought it to (see docs/performance.md).
    /// mio's socket types carry an extra field in debug builds, so the
    /// check adds the stream's release size (an fd and the enum's tag) to
    /// the other fields.
    #[test]
    fn connection_stays_small() {
        use crate::os::socket::Stream;
        const STREAM_RELEASE_SIZE: usize = 8;
        let size = std::mem::size_of::<Connection<Stream>>();
        let others = size - std::mem::size_of::<Stream>();
        assert!(
            others + STREAM_RELEASE_SIZE <= 136,
            "Connection<Stream> grew: {others} bytes besides the stream"
        );
        #[cfg(not(debug_assertions))]
        assert!(size <= 136, "Connection<Stream> grew to {size} bytes");
    }
}
