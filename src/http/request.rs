//! Reading a request: nginx's `ngx_http_request.c` from ngx_http_init_connection
//! to ngx_http_process_request, plus finalize / free / close.
//!
//! ```text
//! accept → init_connection ─(client_header_timeout, reusable)→ WaitRequest
//!   ─(first bytes)→ ProcessRequestLine ─(line ok)→ ProcessRequestHeaders
//!   ─(head done)→ process_request → handler → finalize_request
//!   → keepalive::finalize_connection
//! ```
//!
//! Header buffers: nginx reads into `client_header_buffer_size` (1k) and, when a
//! line does not fit, moves the unfinished line into one of
//! `large_client_header_buffers` (4 × 8k). httparse needs the head in one
//! piece, so holdfast keeps it contiguous: the buffer grows in steps of the
//! large size up to `num × size`. The limits are nginx's: a request line of
//! `size` bytes or more → 414, a header line of `size` or more → 400 (494), a
//! head larger than `num × size` → 400 (494).

use std::rc::Rc;

use crate::conf::{LocConf, ServerConf};
use crate::core::connection::{Action, EvKind, ReadHandler, WriteHandler, buf_in, buf_req, req_in};
use crate::core::cycle::Cycle;
use crate::http::core_module::http_handler;
use crate::http::headers::{HeadInfo, LOG_HEADER_PREFIX, process_request_header, too_long_line};
use crate::http::parse::{self, ConnectionType, HeadStatus, LineStatus, Method, Version};
use crate::http::{body, keepalive, response, special};
use crate::os::io::{Recv, Transport};

/// Logs a line with nginx's context (ngx_http_log_error):
/// `*N MESSAGE[ while ACTION], client: …, server: …, request: "…", host: "…"`.
macro_rules! http_log {
    ($level:expr, $target:expr, $cy:expr, $key:expr, $($arg:tt)*) => {
        if log::log_enabled!(target: $target, $level) {
            let c = &$cy.conns[$key];
            let action = c.action.as_str();
            log::log!(
                target: $target,
                $level,
                "*{} {}{}{}{}",
                c.number,
                format_args!($($arg)*),
                if action.is_empty() { "" } else { " while " },
                action,
                $crate::http::request::log_ctx(&*$cy, $key)
            );
        }
    };
}
pub(crate) use http_log;

/// An `[info]` line with nginx's context (what clients cause).
macro_rules! client_info {
    ($cy:expr, $key:expr, $($arg:tt)*) => {
        $crate::http::request::http_log!(log::Level::Info, "holdfast", $cy, $key, $($arg)*)
    };
}
pub(crate) use client_info;

/// An `[error]` line with nginx's context.
macro_rules! http_error {
    ($cy:expr, $key:expr, $($arg:tt)*) => {
        $crate::http::request::http_log!(log::Level::Error, "holdfast", $cy, $key, $($arg)*)
    };
}
pub(crate) use http_error;

/// A `[warn]` line with nginx's context.
macro_rules! http_warn {
    ($cy:expr, $key:expr, $($arg:tt)*) => {
        $crate::http::request::http_log!(log::Level::Warn, "holdfast", $cy, $key, $($arg)*)
    };
}
pub(crate) use http_warn;

/// A `[crit]` line with nginx's context (the system failed holdfast: a
/// temp file that cannot be made).
macro_rules! http_crit {
    ($cy:expr, $key:expr, $($arg:tt)*) => {
        $crate::http::request::http_log!(log::Level::Error, "holdfast::crit", $cy, $key, $($arg)*)
    };
}
pub(crate) use http_crit;

/// Whom a try of an upstream exchange went to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAddr {
    /// A peer's address.
    Peer(crate::os::net::PeerAddr),
    /// The upstream's name: no peer was live (or the name did not resolve).
    Name(String),
}

impl Default for TryAddr {
    fn default() -> Self {
        TryAddr::Name(String::new())
    }
}

/// One try of an upstream exchange (nginx's ngx_http_upstream_state_t).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTry {
    /// The peer (or the upstream's name when no peer was live).
    pub addr: TryAddr,
    /// Its status (502/504 for a failed try; 0: none yet).
    pub status: u16,
    /// ms to connect, to the response head, to the end (None: not reached).
    pub connect_ms: Option<u64>,
    /// See `connect_ms`.
    pub header_ms: Option<u64>,
    /// See `connect_ms`.
    pub response_ms: Option<u64>,
    /// `$upstream_bytes_sent`: request bytes that went to the peer.
    pub bytes_sent: u64,
    /// `$upstream_bytes_received`: bytes read from the peer, head included.
    pub bytes_received: u64,
    /// `$upstream_response_length`: the response body's bytes.
    pub response_length: u64,
}

/// Where a request is, for the stub_status `Reading` / `Writing` counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stage {
    /// Reading the header.
    #[default]
    Reading,
    /// Being answered.
    Writing,
}

/// What finalize_request is asked to do (nginx's `rc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalize {
    /// The response is queued (NGX_OK / NGX_DONE).
    Done,
    /// Answer with this status's special response (NGX_HTTP_*).
    Status(u16),
    /// Close without answering (NGX_ERROR, 408, 444, 499).
    Close,
    /// An upstream answers it: the request stays as it is until the
    /// upstream finalizes it (ngx_http_read_client_request_body's NGX_DONE
    /// in ngx_http_upstream_init).
    Upstream,
}

/// A request (ngx_http_request_t). Offsets are relative to the header
/// buffer's `pos`, which stays at the request's start until it is freed.
#[derive(Debug, Default)]
pub struct Request {
    /// Reading or writing.
    pub stage: Stage,
    /// Method.
    pub method: Method,
    /// Version.
    pub version: Version,
    /// Length of the request line without CRLF (for logs).
    pub line_len: usize,
    /// Raw request target (offset, length).
    pub target: (usize, usize),
    /// Header bytes scanned without finding a complete head.
    pub scanned: usize,
    /// Bytes of the buffer this request owns: head plus body bytes taken from it.
    pub consumed: usize,
    /// `Connection` header verdict.
    pub connection: ConnectionType,
    /// Host (lower-case, no port), from the Host header or an absolute-form target.
    pub host: Vec<u8>,
    /// A host is known.
    pub has_host: bool,
    /// Content-Length.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
    /// The body's framing and what is left of it.
    pub body: body::RequestBody,
    /// The raw Host and Referer values, for the error-log context.
    pub log_fields: crate::http::headers::LogFields,
    /// The User-Agent value (offset, length), for keepalive_disable.
    pub user_agent: Option<(usize, usize)>,
    /// The headers the response filters read (conditional requests,
    /// ranges, gzip), found once while the head was parsed.
    pub filter_headers: crate::http::headers::FilterHeaders,
    /// Keep the connection after this request (`r->keepalive`).
    pub keepalive: bool,
    /// Lingering close wanted (`r->lingering_close`).
    pub lingering_close: bool,
    /// Decoded, normalised path.
    pub uri: Vec<u8>,
    /// Reached by an internal redirect or a rewrite (`r->internal`).
    pub internal: bool,
    /// The regex that matched last, for its named groups.
    pub capture_regex: Option<regex::bytes::Regex>,
    /// The last match's captures as (start, end) in `captures_data`; index
    /// 0 is the whole match (nginx's `r->captures`).
    pub captures: Vec<(usize, usize)>,
    /// The string the last regex matched (`r->captures_data`).
    pub captures_data: Vec<u8>,
    /// Arguments set by a rewrite, `set $args` or a redirect (`r->args`
    /// once changed; empty means none). None: the request line's.
    pub args_rw: Option<Vec<u8>>,
    /// The client certificate's verification for this request's server
    /// (ssl_client.rs).
    pub ssl_client: crate::http::ssl_client::ClientVerify,
    /// Internal redirects and URI rewrites left before the request is a
    /// cycle (`r->uri_changes`, NGX_HTTP_MAX_URI_CHANGES + 1 at the start).
    pub uri_changes: u8,
    /// A rewrite changed the URI: the location is searched again.
    pub uri_changed: bool,
    /// The URI still is the one the location was found for (`rewrite …
    /// break` clears it; `alias` needs it).
    pub valid_location: bool,
    /// An error page was already used (`r->error_page`).
    pub error_page: bool,
    /// The status an error page answers with (`r->err_status`); 0: the
    /// redirected request's own.
    pub err_status: u16,
    /// try_files found a file in a regex location with `alias`: the URI
    /// is appended to the alias (`r->add_uri_to_alias`).
    pub add_uri_to_alias: bool,
    /// Values of the non-volatile maps looked up so far (nginx's cached
    /// variables), by map index.
    pub map_cache: std::cell::RefCell<Vec<Option<Vec<u8>>>>,
    /// The peer connection working for this request (its token).
    pub upstream: Option<usize>,
    /// The request body read to be sent on (`r->request_body`): what is
    /// in memory.
    pub request_body: Option<Vec<u8>>,
    /// The body streams to the peer as it arrives (`proxy_request_buffering
    /// off`, request_body_unbuffered.rs).
    pub body_stream: bool,
    /// See `body_stream`: it outgrew `client_body_buffer_size`, so
    /// `$request_body` is not kept.
    pub body_stream_dropped: bool,
    /// See `body_stream`: the body bytes that came with the head, framed
    /// for the peer, until the peer's request is made.
    pub body_preread: Vec<u8>,
    /// The body's temp file, once it passed `client_body_buffer_size` (or
    /// always, with `client_body_in_file_only`): `$request_body_file`.
    pub request_body_file: Option<Box<crate::core::file::TempFile>>,
    /// Each try of the upstream exchange (nginx's `r->upstream_states`):
    /// `$upstream_addr`, `$upstream_status` and the times list them.
    pub upstream_tries: Vec<UpstreamTry>,
    /// The last peer's response head (`$upstream_http_NAME`,
    /// `$upstream_cookie_NAME`).
    pub upstream_head: Vec<u8>,
    /// Header lines (`Name: value\r\n`) the response carries over from a
    /// peer's X-Accel-Redirect answer (nginx's headers_in with `redirect`).
    pub headers_out: Vec<u8>,
    /// The peer's Content-Type kept across an X-Accel-Redirect: it wins
    /// over the type the redirected response would have.
    pub content_type_out: Option<Vec<u8>>,
    /// The peer's X-Accel-Charset (nginx's headers_out.override_charset):
    /// the charset the charset filter names, if the configuration knows it.
    pub override_charset: Option<Vec<u8>>,
    /// The method became GET for an X-Accel-Redirect (`$request_method`).
    pub method_rewritten: bool,
    /// `r->limit_rate_set`: the rate was set for this request (by the
    /// peer's X-Accel-Limit-Rate); a location change keeps it.
    pub limit_rate_set: bool,
    /// The URI the proxied request went to the peer with; with the peer's
    /// address it is the error-log context's `upstream: "http://PEER/URI"`
    /// (formatted only when a line is logged).
    pub upstream_uri: Option<Vec<u8>>,
    /// The peer is spoken to over TLS (`proxy_pass https://…`): the
    /// error-log context says `upstream: "https://…"`.
    pub upstream_https: bool,
    /// A `proxy_pass` with variables, evaluated: where it goes, the
    /// resolver wait, the request's own peer set (`u->resolved`).
    pub resolved: Option<Box<crate::http::upstream_resolve::Resolved>>,
    /// Values of the `set` variables (index: [`Variable::User`](crate::conf::variables::Variable::User)).
    pub vars: Vec<Option<Vec<u8>>>,
    /// Query string (offset, length in the buffer, after `target.0`).
    pub args: Option<(usize, usize)>,
    /// Scratch for file-system paths.
    pub scratch: Vec<u8>,
    /// The response's `Location` (nginx's `headers_out.location`); empty:
    /// none.
    pub location: Vec<u8>,
    /// The virtual server.
    pub server: Option<Rc<ServerConf>>,
    /// The location's settings.
    pub loc: Option<Rc<LocConf>>,
    /// Response status (for logs).
    pub status: u16,
    /// Length of the request head (request line and headers).
    pub head_len: usize,
    /// Request bytes read: head plus body bytes read or discarded.
    pub request_length: u64,
    /// Response header bytes queued.
    pub header_bytes: u64,
    /// Response body bytes queued.
    pub body_bytes: u64,
    /// Taken from the buffer left over by the previous request (`r->pipeline`, `$pipe`).
    pub pipeline: bool,
    /// Send no body (HEAD, 304, 204).
    pub header_only: bool,
    /// When the request started, cycle ms.
    pub start_ms: u64,
    /// The response header as sent, kept only when the configuration uses
    /// `$sent_http_NAME` (its buffer is reused from request to request).
    pub sent_head: Vec<u8>,
    /// `$request_id`, made on first use.
    pub request_id: std::cell::Cell<Option<[u8; 16]>>,
    /// `limit_rate` in force for this request (`$limit_rate`), bytes/s.
    pub limit_rate: u64,
    /// `limit_rate_after` in force for this request (evaluated once when
    /// it has variables).
    pub limit_rate_after: u64,
    /// Bytes written to the socket for this request (nginx's `c->sent`,
    /// which it resets per request), for `limit_rate`.
    pub sent: u64,
    /// `r->gzip_tested`, `r->gzip_ok`, `r->gzip_vary` (see
    /// [`gzip_filter::flags`](crate::http::gzip_filter::flags)).
    pub gzip_flags: u8,
    /// The coding the header filters chose for the response.
    pub coding: crate::http::gzip_filter::Coding,
    /// The gzip or gunzip body filter coding this response (made by the
    /// header filter, dropped with the request: its deflate state goes
    /// back to the free list).
    pub body_filter: Option<Box<crate::http::gzip_filter::BodyFilter>>,
    /// The connection inspector's answer while it is being made
    /// (connection_status.rs): where its walk of the connections is.
    pub inspector: Option<Box<crate::http::connection_status::Walk>>,
}

impl Request {
    /// The arguments in force (`r->args`): a rewrite's, else the request
    /// line's (`head` is the request's head bytes); None when empty.
    pub fn args<'a>(&'a self, head: &'a [u8]) -> Option<&'a [u8]> {
        match &self.args_rw {
            Some(a) => (!a.is_empty()).then_some(&a[..]),
            None => self.args.and_then(|(o, l)| head.get(o..o + l)),
        }
    }

    fn reset(&mut self, now_ms: u64) {
        let (mut host, mut uri, mut scratch, mut sent_head, mut captures) = (
            std::mem::take(&mut self.host),
            std::mem::take(&mut self.uri),
            std::mem::take(&mut self.scratch),
            std::mem::take(&mut self.sent_head),
            std::mem::take(&mut self.captures),
        );
        let mut captures_data = std::mem::take(&mut self.captures_data);
        let mut location = std::mem::take(&mut self.location);
        // A proxied request's per-try records and the peer's head keep
        // their memory for the next request (no allocation per request).
        let mut upstream_tries = std::mem::take(&mut self.upstream_tries);
        let mut upstream_head = std::mem::take(&mut self.upstream_head);
        upstream_tries.clear();
        upstream_head.clear();
        location.clear();
        host.clear();
        uri.clear();
        scratch.clear();
        sent_head.clear();
        captures.clear();
        captures_data.clear();
        *self = Request {
            host,
            uri,
            upstream_tries,
            upstream_head,
            captures,
            captures_data,
            location,
            scratch,
            sent_head,
            start_ms: now_ms,
            // ngx_http_alloc_request: a request may be redirected (an error
            // page of a bad head too) from the start.
            uri_changes: crate::http::core_module::MAX_URI_CHANGES + 1,
            ..Default::default()
        };
    }
}

/// ngx_http_process_request_uri's trace: `http uri`, `http args`, `http
/// exten` (what follows the last dot of the last segment). holdfast decodes
/// the URI once the head is in; the trace decodes it here, only when debug
/// logging is on, to keep nginx's order.
fn trace_uri(number: u64, target: &[u8]) {
    let mut uri = Vec::new();
    let Ok((_, args)) = parse::parse_target(target, &mut uri) else {
        return;
    };
    let last = uri.rsplit(|&ch| ch == b'/').next().unwrap_or_default();
    let exten = match last.iter().rposition(|&ch| ch == b'.') {
        Some(dot) => &last[dot + 1..],
        None => &[],
    };
    let args = args
        .and_then(|(o, l)| target.get(o..o + l))
        .unwrap_or_default();
    let text = String::from_utf8_lossy;
    log::debug!("*{number} http uri: \"{}\"", text(&uri));
    log::debug!("*{number} http args: \"{}\"", text(args));
    log::debug!("*{number} http exten: \"{}\"", text(exten));
}

/// The listening socket's default server: its header settings apply while
/// the request header is read (nginx switches to the virtual server's once
/// Host is known; holdfast keeps the default server's for the whole head).
pub(crate) fn header_conf<S>(cy: &Cycle<S>, key: usize) -> &Rc<ServerConf> {
    let l = &cy.listening[cy.conns[key].li()];
    &l.servers[l.default_server]
}

/// nginx's log context: `, client: ADDR, server: NAME, request: "LINE", host: "HOST"`.
pub fn log_ctx<S: Transport>(cy: &Cycle<S>, key: usize) -> String {
    let c = &cy.conns[key];
    let mut s = format!(", client: {}", c.addr_text());
    // With a request, nginx names its server (`server: ,` when the first
    // server_name is empty); without one, the listening address.
    match c.req().and_then(|r| r.server.as_ref()) {
        Some(srv) => {
            s.push_str(", server: ");
            s.push_str(srv.server_name());
        }
        None => {
            s.push_str(", server: ");
            if let Some(l) = cy.listening.get(c.li()) {
                s.push_str(&l.addr_text);
            }
        }
    }
    if let (Some(r), Some(b)) = (c.req(), c.buf()) {
        let data = b.data();
        // A request line not yet parsed shows what has arrived of it, up to
        // the first CR or LF, as nginx does from `request_start`.
        let line = if r.line_len > 0 {
            data.get(..r.line_len).unwrap_or_default()
        } else {
            let start = data
                .iter()
                .position(|&ch| ch != b'\r' && ch != b'\n')
                .unwrap_or(data.len());
            let rest = &data[start..];
            let end = rest
                .iter()
                .position(|&ch| ch == b'\r' || ch == b'\n')
                .unwrap_or(rest.len());
            &rest[..end]
        };
        if !line.is_empty() {
            s.push_str(&format!(", request: \"{}\"", String::from_utf8_lossy(line)));
        }
        // ngx_http_log_error_handler: the upstream after the request.
        if let Some(uri) = &r.upstream_uri {
            // The peer working for the request now, else the last tried.
            let current = r.upstream.and_then(|t| cy.lookup(t)).and_then(|k| {
                match cy.conns[k].data.as_deref() {
                    Some(crate::core::connection::ConnData::Upstream(u)) => {
                        Some(u.peer.to_string())
                    }
                    _ => None,
                }
            });
            let peer = current.or_else(|| {
                r.upstream_tries.last().map(|t| match &t.addr {
                    TryAddr::Peer(a) => a.to_string(),
                    TryAddr::Name(n) => n.clone(),
                })
            });
            if let Some(peer) = peer {
                s.push_str(&format!(
                    ", upstream: \"{}://{peer}{}\"",
                    if r.upstream_https { "https" } else { "http" },
                    String::from_utf8_lossy(uri)
                ));
            }
        }
        let fields = match r.log_fields {
            f if f.host.is_none() && f.referer.is_none() && r.line_len > 0 => {
                crate::http::headers::LogFields::scan_partial(data, r.line_len)
            }
            f => f,
        };
        let field = |f: Option<(usize, usize)>| f.and_then(|(o, l)| data.get(o..o + l));
        if let Some(host) = field(fields.host) {
            s.push_str(&format!(", host: \"{}\"", String::from_utf8_lossy(host)));
        }
        if let Some(referer) = field(fields.referer) {
            s.push_str(&format!(
                ", referrer: \"{}\"",
                String::from_utf8_lossy(referer)
            ));
        }
    }
    s
}

/// Mirrors ngx_http_init_connection(): no buffer and no request yet; arm
/// client_header_timeout (it is not re-armed when the first bytes arrive) and
/// make the silent connection reusable, so draining can take it. When the
/// data is known to be there (`listen ... deferred`, `read.ready` set by the
/// caller) the wait-request handler runs at once instead, as in nginx.
pub fn init_connection<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let timeout = header_conf(cy, key).client_header_timeout_ms;
    let c = &mut cy.conns[key];
    c.write.handler = WriteHandler::Empty;
    c.action = Action::WaitingForRequest;
    // An `ssl` address: the first byte tells TLS from plain HTTP.
    let ssl = c.stream.ssl_conn().is_some();
    if ssl {
        c.action = Action::SslHandshaking;
        c.read.handler = ReadHandler::SslHandshake;
    } else {
        c.read.handler = ReadHandler::WaitRequest;
    }
    if c.read.ready {
        if ssl {
            crate::http::ssl_module::ssl_handshake(cy, key);
        } else {
            wait_request_handler(cy, key);
        }
        return;
    }
    cy.add_timer(key, EvKind::Read, timeout);
    cy.reusable_connection(key, true);
}

/// Mirrors ngx_http_wait_request_handler(): the first read of a connection.
pub fn wait_request_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    log::debug!("*{} http wait request handler", c.number);
    if c.read.timedout {
        client_info!(cy, key, "client timed out (110: Connection timed out)");
        close_connection(cy, key);
        return;
    }
    if c.close {
        close_connection(cy, key);
        return;
    }
    let timeout = header_conf(cy, key).client_header_timeout_ms;
    alloc_header_buffer(cy, key);
    let c = &mut cy.conns[key];
    let rc = if c.read.ready { c.recv() } else { Recv::Again };
    match rc {
        Recv::Again => {
            if c.read.timer.is_none() {
                cy.add_timer(key, EvKind::Read, timeout);
                cy.reusable_connection(key, true);
            }
            // Don't hold a buffer for a silent connection (nor TLS
            // buffers: a handshake's flight went out, its input was read).
            if cy.conns[key].buf().is_some_and(|b| b.last == 0) {
                cy.free_http_conn(key);
                cy.conns[key].stream.free_buffers();
            }
        }
        Recv::Eof => {
            client_info!(cy, key, "client closed connection");
            close_connection(cy, key);
        }
        Recv::Error(e) => {
            client_info!(cy, key, "recv() failed ({})", crate::os::io::OsErr(&e));
            close_connection(cy, key);
        }
        Recv::Data(_) => {
            c.action = Action::ReadingRequestLine;
            cy.reusable_connection(key, false);
            create_request(cy, key);
            cy.conns[key].read.handler = ReadHandler::ProcessRequestLine;
            process_request_line(cy, key);
        }
    }
}

/// Gives the connection its `client_header_buffer_size` buffer (from the
/// pool) unless it has one: nginx's `c->buffer` allocation in the wait-request
/// and keep-alive handlers.
pub fn alloc_header_buffer<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    cy.alloc_http_conn(key);
    if cy.conns[key].buf().is_none() {
        let size = header_conf(cy, key).client_header_buffer_size;
        let b = cy.pool.get(size);
        if let Some(hc) = cy.conns[key].hc_mut() {
            hc.buffer = Some(b);
        }
    }
}

/// Mirrors ngx_http_create_request() (and ngx_http_alloc_request): takes a
/// request object from the pool; until the Host header picks the virtual
/// server, the request runs with the default server's settings, so errors
/// found while reading the header are logged and get `add_header ... always`
/// as that server says.
pub fn create_request<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let mut r = cy.request_pool.pop().unwrap_or_default();
    r.reset(cy.clock.now_ms);
    let srv = header_conf(cy, key);
    r.loc = Some(srv.conf.clone());
    r.server = Some(srv.clone());
    cy.stats.requests += 1;
    cy.stats.reading += 1;
    cy.alloc_http_conn(key);
    let c = &mut cy.conns[key];
    c.requests += 1;
    if let Some(hc) = crate::core::connection::hc_in(&mut c.data) {
        hc.request = Some(r);
    }
}

/// Records the status a request ends with when nothing is sent (408 for a
/// header timeout, 400 for a client gone mid-header), for the access log.
fn set_status<S>(cy: &mut Cycle<S>, key: usize, status: u16) {
    if let Some(r) = cy.conns[key].req_mut() {
        r.status = status;
    }
}

/// What read_request_header got.
enum ReadHeader {
    /// New bytes are in the buffer.
    Data,
    /// Nothing now; the handler returns and waits.
    Again,
    /// The connection was closed.
    Closed,
}

/// Mirrors ngx_http_read_request_header(): reads more of the head. Output of
/// finished pipelined requests goes out first: holdfast batches their
/// responses and flushes them before it waits for more input.
fn read_request_header<S: Transport>(cy: &mut Cycle<S>, key: usize) -> ReadHeader {
    if cy.conns[key].has_output() {
        match response::flush_pipelined(cy, key) {
            response::Sent::Done => {}
            response::Sent::Again => return ReadHeader::Again,
            response::Sent::Error => {
                close_request(cy, key);
                return ReadHeader::Closed;
            }
        }
    }
    let timeout = header_conf(cy, key).client_header_timeout_ms;
    let c = &mut cy.conns[key];
    let rc = if c.read.ready { c.recv() } else { Recv::Again };
    match rc {
        Recv::Data(_) => ReadHeader::Data,
        Recv::Again => {
            if c.read.timer.is_none() {
                cy.add_timer(key, EvKind::Read, timeout);
            }
            ReadHeader::Again
        }
        Recv::Eof => {
            client_info!(cy, key, "client prematurely closed connection");
            set_status(cy, key, 400);
            close_request(cy, key);
            ReadHeader::Closed
        }
        Recv::Error(e) => {
            client_info!(cy, key, "recv() failed ({})", crate::os::io::OsErr(&e));
            set_status(cy, key, 400);
            close_request(cy, key);
            ReadHeader::Closed
        }
    }
}

/// Why the head cannot grow.
enum LargeHeader {
    /// The request line reached the large buffer size: 414.
    Uri,
    /// A header line reached the large buffer size: 494 (400).
    Line(usize),
    /// The whole head reached `num × size`: 494 (400).
    Head,
}

/// Mirrors ngx_http_alloc_large_header_buffer(): makes room for more of the
/// head when the buffer is full (see the module doc for how holdfast differs).
fn alloc_large_header_buffer<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    request_line: bool,
) -> Result<(), LargeHeader> {
    let (num, size) = header_conf(cy, key).large_client_header_buffers;
    let c = &mut cy.conns[key];
    let number = c.number;
    let Some(b) = buf_in(&mut c.data) else {
        return Err(LargeHeader::Head);
    };
    log::debug!("*{number} http alloc large header buffer");
    let data_len = b.last - b.pos;
    if request_line {
        if data_len >= size {
            return Err(LargeHeader::Uri);
        }
    } else {
        let line_start = b
            .data()
            .iter()
            .rposition(|&ch| ch == b'\n')
            .map_or(0, |p| p + 1);
        if data_len - line_start >= size {
            return Err(LargeHeader::Line(line_start));
        }
    }
    if b.pos > 0 {
        b.compact();
        return Ok(());
    }
    let new_size = if b.size() < size {
        size
    } else {
        b.size() + size
    };
    if new_size > num * size {
        return Err(LargeHeader::Head);
    }
    let mut nb = cy.pool.get(new_size);
    let Some(hc) = cy.conns[key].hc_mut() else {
        return Err(LargeHeader::Head);
    };
    let Some(old) = hc.buffer.take() else {
        return Err(LargeHeader::Head);
    };
    nb.mem[..data_len].copy_from_slice(old.data());
    nb.last = data_len;
    log::debug!(
        "*{number} http large header alloc: {:p} {new_size}",
        nb.mem.as_ptr()
    );
    log::debug!("*{number} http large header copy: {data_len}");
    hc.buffer = Some(nb);
    cy.pool.put(old);
    Ok(())
}

/// The prologue every nginx event handler opens with (`if (rev->timedout)`,
/// `if (c->close)`), shared by the header-reading handlers.
fn request_prologue<S: Transport>(cy: &mut Cycle<S>, key: usize) -> bool {
    let c = &mut cy.conns[key];
    if c.read.timedout {
        c.timedout = true;
        client_info!(cy, key, "client timed out (110: Connection timed out)");
        set_status(cy, key, 408);
        close_request(cy, key);
        return false;
    }
    if c.close {
        close_request(cy, key);
        return false;
    }
    true
}

/// Mirrors ngx_http_process_request_line(): waits for a complete, valid request
/// line, then switches to process_request_headers.
pub fn process_request_line<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    log::debug!("*{} http process request line", cy.conns[key].number);
    if !request_prologue(cy, key) {
        return;
    }
    loop {
        let c = &mut cy.conns[key];
        let (Some(b), Some(r)) = buf_req(&mut c.data) else {
            debug_assert!(false, "request line without buffer or request");
            close_connection(cy, key);
            return;
        };
        // RFC 9112 §2.2: ignore empty lines before the request line.
        while b.pos < b.last && matches!(b.mem[b.pos], b'\r' | b'\n') {
            b.pos += 1;
        }
        match parse::parse_request_line(b.data()) {
            LineStatus::Done {
                len,
                method,
                uri,
                version,
                future_minor,
            } => {
                if let Some(at) = future_minor {
                    // HTTP/1.x, x > 1: answered as HTTP/1.1; httparse, which
                    // parses the whole head next, knows only 1.0 and 1.1.
                    let p = b.pos + at;
                    b.mem[p] = b'1';
                }
                if method == Method::Connect
                    && !parse::is_authority_form(&b.data()[uri.0..uri.0 + uri.1])
                {
                    client_info!(cy, key, "client sent invalid request");
                    finalize_request(cy, key, Finalize::Status(400));
                    return;
                }
                r.method = method;
                r.version = version;
                r.target = uri;
                r.header_only = method == Method::Head;
                let line = &b.data()[..len];
                r.line_len = len - if line.ends_with(b"\r\n") { 2 } else { 1 };
                if log::log_enabled!(log::Level::Debug) {
                    log::debug!(
                        "*{} http request line: \"{}\"",
                        c.number,
                        String::from_utf8_lossy(&line[..r.line_len])
                    );
                    trace_uri(c.number, &line[uri.0..uri.0 + uri.1]);
                }
                c.action = Action::ReadingRequestHeaders;
                c.read.handler = ReadHandler::ProcessRequestHeaders;
                process_request_headers(cy, key);
                return;
            }
            LineStatus::Invalid => {
                client_info!(cy, key, "client sent invalid request");
                finalize_request(cy, key, Finalize::Status(400));
                return;
            }
            LineStatus::VersionNotSupported => {
                client_info!(cy, key, "client sent invalid version");
                finalize_request(cy, key, Finalize::Status(505));
                return;
            }
            LineStatus::Partial => {}
        }
        if b.is_full()
            && let Err(_e) = alloc_large_header_buffer(cy, key, true)
        {
            client_info!(cy, key, "client sent too long URI");
            finalize_request(cy, key, Finalize::Status(414));
            return;
        }
        match read_request_header(cy, key) {
            ReadHeader::Data => continue,
            ReadHeader::Again | ReadHeader::Closed => return,
        }
    }
}

/// Mirrors ngx_http_process_request_headers(): waits for the end of the head,
/// then checks it (ngx_http_process_request_header) and processes the request.
pub fn process_request_headers<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    log::debug!("*{} http process request header line", cy.conns[key].number);
    if !request_prologue(cy, key) {
        return;
    }
    let large_size = header_conf(cy, key).large_client_header_buffers.1;
    loop {
        let c = &mut cy.conns[key];
        let (Some(b), Some(r)) = buf_req(&mut c.data) else {
            close_connection(cy, key);
            return;
        };
        let data = b.data();
        // The head can only have ended (or gone wrong) in a line that is new.
        if r.scanned == 0 || data[r.scanned..].contains(&b'\n') {
            let mut info = HeadInfo::default();
            let number = c.number;
            let status = parse::parse_head(data, |h| {
                info.record(data, h);
                if log::log_enabled!(log::Level::Debug) {
                    log::debug!(
                        "*{number} http header: \"{}: {}\"",
                        String::from_utf8_lossy(&data[h.name.0..h.name.0 + h.name.1]),
                        String::from_utf8_lossy(&data[h.value.0..h.value.0 + h.value.1])
                    );
                }
            });
            r.log_fields = info.log_fields();
            let status = match too_long_line(data, &status, b.size(), large_size) {
                Some(start) => {
                    let shown = &data[start..data.len().min(start + LOG_HEADER_PREFIX)];
                    let shown = String::from_utf8_lossy(shown).into_owned();
                    r.lingering_close = true;
                    client_info!(cy, key, "client sent too long header line: \"{shown}...\"");
                    finalize_request(cy, key, Finalize::Status(494));
                    return;
                }
                None => status,
            };
            match status {
                HeadStatus::Done(len) => {
                    r.consumed = len;
                    r.head_len = len;
                    r.request_length = len as u64;
                    r.connection = info.connection();
                    log::debug!("*{} http header done", c.number);
                    if let Err((status, msg)) = process_request_header(cy, key, &info) {
                        client_info!(cy, key, "{msg}");
                        finalize_request(cy, key, Finalize::Status(status));
                        return;
                    }
                    process_request(cy, key);
                    return;
                }
                HeadStatus::Invalid => {
                    client_info!(cy, key, "client sent invalid header line");
                    finalize_request(cy, key, Finalize::Status(400));
                    return;
                }
                HeadStatus::TooMany => {
                    r.lingering_close = true;
                    client_info!(cy, key, "client sent too many header lines");
                    finalize_request(cy, key, Finalize::Status(494));
                    return;
                }
                HeadStatus::Partial => {
                    r.scanned = data.len();
                }
            }
        }
        // A header line that already fills a large buffer is refused at once,
        // as nginx does when it cannot move the line anywhere.
        let (unfinished, full) = match cy.conns[key].buf() {
            Some(b) => {
                let data = b.data();
                let start = data
                    .iter()
                    .rposition(|&ch| ch == b'\n')
                    .map_or(0, |p| p + 1);
                (
                    (data.len() - start >= large_size).then_some(start),
                    b.is_full(),
                )
            }
            None => (None, false),
        };
        let err = match unfinished {
            Some(start) => Some(LargeHeader::Line(start)),
            None if full => alloc_large_header_buffer(cy, key, false).err(),
            None => None,
        };
        if let Some(e) = err {
            let c = &mut cy.conns[key];
            if let Some(r) = req_in(&mut c.data) {
                r.lingering_close = true;
            }
            match e {
                LargeHeader::Line(start) => {
                    let data = c.buf().map(|b| b.data()).unwrap_or_default();
                    let line = &data[start.min(data.len())..];
                    let shown = &line[..line.len().min(LOG_HEADER_PREFIX)];
                    let shown = String::from_utf8_lossy(shown).into_owned();
                    client_info!(cy, key, "client sent too long header line: \"{shown}...\"");
                }
                LargeHeader::Head | LargeHeader::Uri => {
                    client_info!(cy, key, "client sent too large request");
                }
            }
            finalize_request(cy, key, Finalize::Status(494));
            return;
        }
        match read_request_header(cy, key) {
            ReadHeader::Data => continue,
            ReadHeader::Again | ReadHeader::Closed => return,
        }
    }
}

/// Mirrors ngx_http_process_request(): the head is in; stop the header timer,
/// block reading while the request is answered, and run the handler.
pub fn process_request<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    cy.del_timer(key, EvKind::Read);
    cy.stats.reading -= 1;
    cy.stats.writing += 1;
    let c = &mut cy.conns[key];
    if let Some(r) = req_in(&mut c.data) {
        r.stage = Stage::Writing;
    }
    c.read.handler = ReadHandler::BlockReading;
    c.write.handler = WriteHandler::Empty;
    c.action = Action::ProcessingRequest;
    if c.stream.plain_on_ssl_port() {
        client_info!(cy, key, "client sent plain HTTP request to HTTPS port");
        finalize_request(cy, key, Finalize::Status(special::TO_HTTPS));
        return;
    }
    http_handler(cy, key);
}

/// ngx_http_block_reading: a request is being answered; input waits in the
/// socket (edge-triggered: the readiness is remembered in `read.ready`).
pub fn block_reading<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &cy.conns[key];
    log::debug!("*{} http block reading", c.number);
    if c.close {
        close_request(cy, key);
    }
}

/// Mirrors ngx_http_test_reading(): while a response waits for the socket,
/// a read event only tells whether the client went away. With epoll that is
/// EPOLLRDHUP (`pending_eof`): the request ends with 499 and the
/// connection closes; input that is data stays in the socket.
pub fn test_reading<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    log::debug!("*{} http test reading", c.number);
    if c.close {
        close_request(cy, key);
        return;
    }
    if !c.pending_eof {
        return;
    }
    c.eof = true;
    let proxied = c.req().and_then(|r| r.upstream.map(|_| r.loc.clone()));
    match proxied {
        // ngx_http_upstream_check_broken_connection: not even watched with
        // proxy_ignore_client_abort on.
        Some(Some(l)) if l.proxy.ignore_client_abort => {
            log::debug!("*{} client closed, proxy_ignore_client_abort", c.number);
            return;
        }
        Some(_) => {
            client_info!(
                cy,
                key,
                "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too"
            );
            // The try ends here: its times go to the log (nginx's
            // u->state, finalized with 499).
            let up = cy.conns[key].req().and_then(|r| r.upstream);
            if let Some(up) = up.and_then(|t| cy.lookup(t)) {
                crate::http::upstream::end_try(cy, up);
            }
        }
        None => client_info!(cy, key, "client prematurely closed connection"),
    }
    set_status(cy, key, 499);
    close_request(cy, key);
}

/// Mirrors ngx_http_finalize_request() for a main request: turns an error
/// status into its special response, sends what is queued (or, when the next
/// pipelined request is already buffered, keeps it queued so the batch goes
/// out in one write), then finalize_connection.
pub fn finalize_request<S: Transport>(cy: &mut Cycle<S>, key: usize, rc: Finalize) {
    let trace = log::log_enabled!(log::Level::Debug);
    match rc {
        Finalize::Close => {
            if trace {
                log_finalize(cy, key, "-1");
            }
            close_request(cy, key);
            return;
        }
        Finalize::Status(status) => {
            if trace {
                log_finalize(cy, key, &status.to_string());
            }
            // An error answer stops whatever timer ran (the header timeout).
            cy.del_timer(key, EvKind::Read);
            cy.del_timer(key, EvKind::Write);
            if trace {
                let c = &cy.conns[key];
                log::debug!(
                    "*{} http special response: {status}, \"{}\"",
                    c.number,
                    uri_args(c)
                );
            }
            if let Some(rc) = special::send_error_page(cy, key, status) {
                finalize_request(cy, key, rc);
                return;
            }
            special::special_response_handler(cy, key, status)
        }
        Finalize::Done => {}
        Finalize::Upstream => return,
    }
    if trace {
        log_finalize(cy, key, "0");
    }
    // The handler queued all of the body: a body filter may finish it.
    if let Some(f) = cy.conns[key]
        .req_mut()
        .and_then(|r| r.body_filter.as_deref_mut())
    {
        f.last = true;
    }
    let c = &cy.conns[key];
    let Some(r) = c.req() else { return };
    let pipelined = c.buf().is_some_and(|b| b.pos + r.consumed < b.last);
    let batch = r.keepalive
        && !cy.retiring(key)
        && pipelined
        && r.body.is_done()
        && r.body_filter.is_none()
        && r.inspector.is_none()
        && c.hc().map_or(0, |hc| hc.out.pending()) < response::PIPELINE_BATCH_BYTES as u64;
    if !batch {
        match response::send_out(cy, key) {
            response::Sent::Done => {}
            response::Sent::Again => {
                // ngx_http_set_write_handler: while the response waits for
                // the socket, input is not read (an error answered before
                // the request was processed must not be parsed again), only
                // watched for the client closing (ngx_http_test_reading).
                let send_timeout = send_timeout(cy, key);
                let c = &mut cy.conns[key];
                c.write.handler = WriteHandler::Writer;
                c.read.handler = ReadHandler::TestReading;
                c.action = Action::SendingResponse;
                let delayed = c.write_delayed;
                cy.del_timer(key, EvKind::Read);
                if !delayed {
                    cy.add_timer(key, EvKind::Write, send_timeout);
                }
                return;
            }
            response::Sent::Error => {
                close_request(cy, key);
                return;
            }
        }
    }
    keepalive::finalize_connection(cy, key);
}

/// `URI?ARGS` as nginx's finalize trace prints it (`?` alone before the
/// request line is parsed).
pub(crate) fn uri_args<S>(c: &crate::core::connection::Connection<S>) -> String {
    let Some(r) = c.req() else {
        return "?".to_string();
    };
    let data = c.buf().map(|b| b.data()).unwrap_or_default();
    let mut uri = std::borrow::Cow::Borrowed(&r.uri[..]);
    if let Some(a) = &r.args_rw {
        return format!(
            "{}?{}",
            String::from_utf8_lossy(&uri),
            String::from_utf8_lossy(a)
        );
    }
    let mut args = r.args;
    // The head was refused before holdfast decoded the URI: decode it here.
    if r.uri.is_empty() && r.line_len > 0 {
        let target = data.get(r.target.0..r.target.0 + r.target.1);
        let mut decoded = Vec::new();
        if let Some(Ok((_, a))) = target.map(|t| parse::parse_target(t, &mut decoded)) {
            uri = std::borrow::Cow::Owned(decoded);
            args = a.map(|(o, l)| (r.target.0 + o, l));
        }
    }
    let args = args
        .and_then(|(o, l)| data.get(o..o + l))
        .unwrap_or_default();
    format!(
        "{}?{}",
        String::from_utf8_lossy(&uri),
        String::from_utf8_lossy(args)
    )
}

/// nginx's `http finalize request: RC, "URI?ARGS" a:1, c:1` (holdfast has
/// no subrequests: the request is always the main one, its count 1).
fn log_finalize<S>(cy: &Cycle<S>, key: usize, rc: &str) {
    let c = &cy.conns[key];
    log::debug!(
        "*{} http finalize request: {rc}, \"{}\" a:1, c:1",
        c.number,
        uri_args(c)
    );
}

/// The location's send_timeout.
pub fn send_timeout<S>(cy: &Cycle<S>, key: usize) -> u64 {
    cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map_or(crate::conf::SEND_TIMEOUT_MS, |l| l.send_timeout_ms)
}

/// Mirrors ngx_http_free_request(): the request is done; counters, the log
/// handler, and the object goes back to the pool.
pub fn free_request<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    if cy.conns[key].req().is_some() {
        crate::http::log_module::log_handler(cy, key);
    }
    let c = &mut cy.conns[key];
    let Some(r) = crate::core::connection::hc_in(&mut c.data).and_then(|hc| hc.request.take())
    else {
        return;
    };
    match r.stage {
        Stage::Reading => cy.stats.reading -= 1,
        Stage::Writing => cy.stats.writing -= 1,
    }
    if let Some(up) = r.upstream {
        crate::http::upstream::upstream_cleanup(cy, up);
    }
    let mut r = r;
    if let Some(res) = r.resolved.take() {
        crate::http::upstream_resolve::cleanup(cy, *res);
    }
    let mut r = r;
    // The body and its temp file go now (the file is removed unless
    // `client_body_in_file_only on`), not when the pooled object is reused.
    r.request_body = None;
    r.request_body_file = None;
    r.body_filter = None;
    r.inspector = None;
    let c = &mut cy.conns[key];
    log::debug!("*{} http close request", c.number);
    log::debug!("*{} http log handler", c.number);
    if c.timedout {
        let reset = match r.loc.as_ref() {
            Some(l) => l.reset_timedout_connection,
            None => {
                let l = &cy.listening[c.li()];
                l.servers[l.default_server].conf.reset_timedout_connection
            }
        };
        if reset {
            log::debug!("*{} reset timed out connection", c.number);
            let _ = c.stream.set_linger_zero();
        }
    }
    if let Some(b) = buf_in(&mut c.data) {
        b.pos = (b.pos + r.consumed).min(b.last);
    }
    if cy.request_pool.len() < crate::core::buf::POOL_MAX_PER_CLASS {
        cy.request_pool.push(r);
    }
}

/// Mirrors ngx_http_close_request(): frees the request and closes the connection.
pub fn close_request<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &cy.conns[key];
    if c.req().is_some() {
        log::debug!("*{} http request count:1 blk:0", c.number);
    }
    free_request(cy, key);
    close_connection(cy, key);
}

/// Mirrors ngx_http_close_connection().
pub fn close_connection<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &cy.conns[key];
    log::debug!("*{} close http connection: {}", c.number, c.stream.fd());
    if c.req().is_some() {
        free_request(cy, key);
    }
    cy.stats.active -= 1;
    // The request's access-log line is written before the client sees the
    // close (nginx logs before closing; holdfast batches lines per loop
    // iteration, which must not let a closed client read a log without it).
    let now = cy.clock.now_ms;
    cy.access_logs.flush_due(now);
    cy.close_connection(key);
}
