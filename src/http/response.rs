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
    /// `Last-Modified` (seconds since the epoch).
    pub last_modified: Option<u64>,
    /// `ETag`, quotes included (see [`make_etag`]).
    pub etag: Option<&'a [u8]>,
    /// The response can take ranges: `Accept-Ranges: bytes`.
    pub accept_ranges: bool,
    /// `Content-Encoding` (a precompressed file of gzip_static).
    pub content_encoding: Option<&'a [u8]>,
    /// The charset filter's answer when the handler asked before the
    /// header (the static module, whose ranges depend on a recoding);
    /// None: send_header asks.
    pub charset: Option<Option<crate::http::charset_filter::ContentTypeOut>>,
}

/// An ETag made on the stack (no allocation per static response).
#[derive(Debug, Clone, Copy)]
pub struct Etag {
    buf: [u8; 40],
    len: usize,
}

impl Etag {
    /// The tag, quotes included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Mirrors ngx_http_set_etag(): nginx's `"MTIME-SIZE"` in hex.
pub fn make_etag(mtime: u64, size: u64) -> Etag {
    let mut e = Etag {
        buf: [0; 40],
        len: 0,
    };
    let mut put = |b: u8| {
        e.buf[e.len] = b;
        e.len += 1;
    };
    put(b'"');
    for v in [mtime, size] {
        let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            put(b"0123456789abcdef"[((v >> (i * 4)) & 15) as usize]);
        }
        put(b'-');
    }
    e.len -= 1;
    e.buf[e.len] = b'"';
    e.len += 1;
    e
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

/// Mirrors ngx_http_header_filter(): writes the status line and headers into
/// the output chain. `Connection: close` whenever the request does not keep
/// alive, and always while the server is shutting down.
pub fn send_header<S: Transport>(cy: &mut Cycle<S>, key: usize, h: &ResponseHead<'_>) {
    let exiting = cy.retiring(key);
    // ngx_http_headers_filter's expires (allocates only when configured).
    let status_now = cy.conns[key].req().map_or(h.status, |r| {
        if r.err_status != 0 {
            r.err_status
        } else {
            h.status
        }
    });
    let expires = crate::http::headers_filter::expires_lines(cy, key, status_now, h.last_modified);
    let charset = match &h.charset {
        Some(c) => c.clone(),
        None => crate::http::charset_filter::response_charset(cy, key, status_now, h),
    };
    let recode = charset.as_ref().and_then(|c| c.recode.as_ref());
    // The gzip and gunzip header filters (they run before nginx's header
    // filter, as here).
    let content_type = cy.conns[key].req().and_then(|r| r.content_type_out.clone());
    let coding = crate::http::gzip_filter::header_filter(
        cy,
        key,
        &crate::http::gzip_filter::HeadInfo {
            status: status_now,
            content_type: content_type.as_deref().or(h.content_type),
            content_length: h.content_length,
            content_encoding: h.content_encoding,
            resp: crate::http::gzip_filter::RespHeaders {
                expires: None,
                date: None,
                cache_control: None,
                last_modified: h.last_modified.is_some(),
                etag: h.etag.is_some(),
            },
            recode,
        },
    );
    let date = cy.clock.http_date;
    let Some(hc) = cy.conns[key].hc_mut() else {
        return;
    };
    let Some(r) = hc.request.as_deref_mut() else {
        return;
    };
    if exiting {
        r.keepalive = false;
    }
    // ngx_http_send_header: an error page answers with the status of the
    // error (or its `=CODE`), whatever its own handler said.
    let status = if r.err_status != 0 {
        r.err_status
    } else {
        h.status
    };
    r.status = status;
    // ngx_http_header_filter: a 204 has no body and no content headers; a
    // 304 keeps its validators only.
    let no_content = status == 204 || status == 304;
    if no_content {
        r.header_only = true;
    }
    let (tokens, ka_header, vary) = r.loc.as_ref().map_or((true, None, false), |l| {
        (l.server_tokens, l.keepalive_header_s, l.gzip.vary)
    });
    // A coded body has no known length (nor one recoded to or from UTF-8,
    // ngx_http_charset_ctx): chunked for HTTP/1.1, the connection's end
    // for HTTP/1.0 (ngx_http_chunked_header_filter).
    let coded = coding != crate::http::gzip_filter::Coding::Identity;
    let cleared = coded || recode.is_some_and(|c| !c.keeps_length());
    let chunked = cleared
        && !no_content
        && !r.header_only
        && r.version == crate::http::parse::Version::Http11;
    if cleared && !no_content && !r.header_only && !chunked {
        r.keepalive = false;
    }
    if let Some(f) = r.body_filter.as_deref_mut() {
        f.chunked = chunked;
    }
    // add_header Last-Modified / ETag replace (or, empty, remove) the ones
    // holdfast makes, as nginx's special setters for them do.
    let (own_lm, own_etag) = r.loc.as_ref().map_or((false, false), |l| {
        let ok = adds_headers_for(status);
        let set = |name: &str| {
            l.add_headers
                .iter()
                .any(|a| (ok || a.always) && a.name.eq_ignore_ascii_case(name))
        };
        (set("Last-Modified"), set("ETag"))
    });
    let out = &mut hc.out.mem;
    let start = out.len();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(special::status_line(status));
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(if tokens {
        SERVER_VERSION.as_bytes()
    } else {
        b"holdfast"
    });
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(&date);
    let content_type = r.content_type_out.as_deref().or(h.content_type);
    if let Some(ct) = content_type.filter(|_| !no_content) {
        out.extend_from_slice(b"\r\nContent-Type: ");
        crate::http::charset_filter::write_content_type(out, ct, charset.as_ref());
    }
    if let Some(len) = h.content_length.filter(|_| !no_content && !cleared) {
        out.extend_from_slice(b"\r\nContent-Length: ");
        push_u64(out, len);
    }
    if let Some(mtime) = h.last_modified.filter(|_| !own_lm && status != 204) {
        out.extend_from_slice(b"\r\nLast-Modified: ");
        out.extend_from_slice(&crate::core::time::http_date(mtime));
    }
    // nginx's headers_out.location: set by a redirect, it stays through
    // an error page's internal redirect.
    if !r.location.is_empty() {
        out.extend_from_slice(b"\r\nLocation: ");
        out.extend_from_slice(&r.location);
    }
    if chunked {
        out.extend_from_slice(b"\r\nTransfer-Encoding: chunked");
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
    // ngx_http_range_header_filter: a response that can take ranges says so.
    if h.accept_ranges && status == 200 && !cleared {
        out.extend_from_slice(b"\r\nAccept-Ranges: bytes");
    }
    // ngx_http_gzip_filter / gunzip: Content-Encoding, and the validator
    // becomes weak (ngx_http_weak_etag).
    let encoding = match coding {
        crate::http::gzip_filter::Coding::Gzip => Some(&b"gzip"[..]),
        crate::http::gzip_filter::Coding::Gunzip => None,
        crate::http::gzip_filter::Coding::Identity => h.content_encoding,
    };
    if let Some(e) = encoding.filter(|_| !no_content) {
        out.extend_from_slice(b"\r\nContent-Encoding: ");
        out.extend_from_slice(e);
    }
    if let Some(etag) = h.etag.filter(|_| !own_etag) {
        out.extend_from_slice(b"\r\nETag: ");
        if coded && !etag.starts_with(b"W/") {
            out.extend_from_slice(b"W/");
        }
        out.extend_from_slice(etag);
    }
    // ngx_http_header_filter: `gzip_vary on` where a compression module
    // looked at the response.
    if vary && r.gzip_flags & crate::http::gzip_filter::flags::VARY != 0 {
        out.extend_from_slice(b"\r\nVary: Accept-Encoding");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&expires);
    // A peer's headers kept across its X-Accel-Redirect.
    out.extend_from_slice(&r.headers_out);
    add_headers(cy, key, status, start);
}

/// The statuses add_header applies to without `always`.
fn adds_headers_for(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// The add_header directive (ngx_http_headers_filter): the location's headers
/// for 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308, or for every
/// status with `always`; a value that evaluates empty adds nothing. Also
/// closes the header block and counts its bytes.
pub(crate) fn add_headers<S: Transport>(cy: &mut Cycle<S>, key: usize, status: u16, start: usize) {
    let keep_sent_head = cy.conf.http.as_ref().is_some_and(|h| h.keep_sent_head);
    let headers = cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map(|l| l.add_headers.clone());
    if let Some(headers) = headers.filter(|h| !h.is_empty()) {
        let ok = adds_headers_for(status);
        let mut value = std::mem::take(&mut cy.var_buf);
        let applicable: Vec<&crate::conf::AddHeader> =
            headers.iter().filter(|h| ok || h.always).collect();
        for (i, h) in applicable.iter().enumerate() {
            // ETag and Last-Modified are set, not added (nginx's special
            // setters): the last add_header of the name decides.
            let single =
                h.name.eq_ignore_ascii_case("etag") || h.name.eq_ignore_ascii_case("last-modified");
            if single
                && applicable[i + 1..]
                    .iter()
                    .any(|later| later.name.eq_ignore_ascii_case(&h.name))
            {
                continue;
            }
            value.clear();
            crate::http::variables::complex_value(cy, key, &h.value, &mut value);
            if value.is_empty() {
                continue;
            }
            let Some(hc) = cy.conns[key].hc_mut() else {
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
    let number = cy.conns[key].number;
    let Some(hc) = cy.conns[key].hc_mut() else {
        return;
    };
    hc.out.mem.extend_from_slice(b"\r\n");
    // ngx_http_header_filter traces the whole header block.
    log::debug!(
        "*{number} {}",
        String::from_utf8_lossy(&hc.out.mem[start..])
    );
    let len = (hc.out.mem.len() - start) as u64;
    if let Some(r) = hc.request.as_deref_mut() {
        r.header_bytes += len;
        if keep_sent_head {
            r.sent_head.clear();
            r.sent_head.extend_from_slice(&hc.out.mem[start..]);
        }
    }
}

/// Appends body bytes (skipped for header-only responses).
pub fn send_body<S: Transport>(cy: &mut Cycle<S>, key: usize, body: &[u8]) {
    let Some(hc) = cy.conns[key].hc_mut() else {
        return;
    };
    if let Some(r) = hc.request.as_deref_mut().filter(|r| !r.header_only) {
        r.body_bytes += body.len() as u64;
        crate::http::gzip_filter::body_chain(hc)
            .mem
            .extend_from_slice(body);
    }
}

/// Sets the response's `Location` (`r.location`). A target
/// that is a path becomes absolute as ngx_http_header_filter makes it with
/// `absolute_redirect on`: `http://`, the host (the first `server_name`
/// with `server_name_in_redirect on`, else the request's host, else the
/// local address — an IPv6 one without brackets, as nginx prints it), and
/// `:PORT` unless it is 80 or `port_in_redirect` is off.
pub fn set_location<S: Transport>(cy: &mut Cycle<S>, key: usize, target: &[u8]) {
    let c = &mut cy.conns[key];
    // The connection's own address, as ngx_connection_local_sockaddr: the
    // listening one, unless that is a wildcard (then getsockname, a syscall
    // only a wildcard's redirect pays).
    let listen = cy.listening[c.li()].addr.inet();
    let local = match listen {
        _ if c.unix => None,
        Some(a) if !a.ip().is_unspecified() => Some(a),
        _ => crate::os::net::local_addr(c.stream.fd()).or(listen),
    };
    let https = c.stream.ssl().is_some();
    let Some(r) = req_in(&mut c.data) else { return };
    let (absolute, name_in_redirect, port_in_redirect) =
        r.loc.as_ref().map_or((true, false, true), |l| {
            (
                l.absolute_redirect,
                l.server_name_in_redirect,
                l.port_in_redirect,
            )
        });
    let mut loc = std::mem::take(&mut r.location);
    loc.clear();
    if absolute && target.starts_with(b"/") {
        loc.extend_from_slice(if https { b"https://" } else { b"http://" });
        if name_in_redirect {
            let name = r.server.as_ref().map_or("", |s| s.server_name());
            loc.extend_from_slice(name.as_bytes());
        } else if r.has_host {
            loc.extend_from_slice(&r.host);
        } else {
            let ip = local.map_or_else(String::new, |a| a.ip().to_string());
            loc.extend_from_slice(ip.as_bytes());
        }
        let default_port = if https { 443 } else { 80 };
        let port = local.map_or(default_port, |a| a.port());
        if port_in_redirect && port != default_port {
            loc.push(b':');
            push_u64(&mut loc, u64::from(port));
        }
    }
    // A Location built from variables may carry bytes decoded from the URI:
    // control bytes (CR and LF above all) go out percent-encoded, so no value
    // can end the header line (nginx copies them raw).
    crate::http::parse::escape_where(target, &mut loc, |b| b < 0x20 || b == 0x7f);
    r.location = loc;
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
    // ngx_http_send_response discards the body (sending `100 Continue` when
    // asked) before the answer is queued.
    if let Err(status) = crate::http::body::discard_request_body(cy, key) {
        return Finalize::Status(status);
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

/// How much a file may be read ahead into memory per write when `sendfile`
/// is off (nginx's `output_buffers`, 2 × 32k, as one reused buffer).
pub const OUTPUT_BUFFER: usize = 64 * 1024;

/// The request's output settings, read once per send (`sendfile`,
/// `sendfile_max_chunk`, `tcp_nopush`, `limit_rate`, `limit_rate_after`).
#[derive(Debug, Clone, Copy, Default)]
struct SendConf {
    sendfile: bool,
    max_chunk: u64,
    nopush: bool,
    rate: u64,
    rate_after: u64,
    /// Bytes sent for the request so far, and when it started (cycle ms).
    sent: u64,
    start_ms: u64,
}

fn send_conf<S>(cy: &Cycle<S>, key: usize) -> SendConf {
    let Some(r) = cy.conns[key].req() else {
        return SendConf::default();
    };
    let Some(l) = r.loc.as_ref() else {
        return SendConf::default();
    };
    SendConf {
        sendfile: l.sendfile,
        max_chunk: l.sendfile_max_chunk,
        nopush: l.tcp_nopush,
        rate: r.limit_rate,
        rate_after: r.limit_rate_after,
        sent: r.sent,
        start_ms: r.start_ms,
    }
}

/// Mirrors ngx_http_write_filter() over ngx_linux_sendfile_chain (or
/// ngx_writev_chain): sends what is queued, memory with writev, files with
/// sendfile (`sendfile on`) or read into a reused buffer and written
/// (`off`). A short write means the socket is full (no extra call to see
/// EAGAIN).
///
/// The per-call limit is nginx's: with `limit_rate`, the bytes the rate
/// allows by now (`rate × (seconds since the request started + 1)` minus
/// what was sent after `limit_rate_after`), capped by `sendfile_max_chunk`;
/// without, `sendfile_max_chunk`. Nothing allowed yet: the write event is
/// `delayed` on a timer. After sending, the rate's delay for what was sent
/// is armed the same way; output left with the socket still writable is
/// posted to the next loop iteration, so one fast client cannot keep the
/// loop (ngx_posted_next_events). `tcp_nopush` corks the socket while a
/// header and a file body go out with sendfile (uncorked when the
/// connection goes idle, see keepalive.rs).
pub fn send_out<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Sent {
    let sc = send_conf(cy, key);
    let now = cy.clock.now_ms;
    let mut limit = if sc.max_chunk > 0 {
        sc.max_chunk
    } else {
        u64::MAX
    };
    if sc.rate > 0 {
        let secs = now.saturating_sub(sc.start_ms) / 1000;
        let allowed =
            (sc.rate.saturating_mul(secs + 1)) as i128 - (sc.sent as i128 - sc.rate_after as i128);
        if allowed <= 0 && cy.conns[key].has_output() {
            let delay = (-allowed * 1000 / i128::from(sc.rate) + 1) as u64;
            log::debug!(
                "*{} http write filter delayed {delay}",
                cy.conns[key].number
            );
            cy.conns[key].write_delayed = true;
            cy.add_timer(key, EvKind::Write, delay);
            return Sent::Again;
        }
        limit = limit.min(allowed.max(0) as u64);
    }
    let mut file_buf = std::mem::take(&mut cy.file_buf);
    let c = &mut cy.conns[key];
    let Some(hc) = crate::core::connection::hc_in(&mut c.data) else {
        cy.file_buf = file_buf;
        return Sent::Done;
    };
    let mut sent_now: u64 = 0;
    let mut filter_error = None;
    let res = loop {
        // The gzip/gunzip body filter codes more while little waits.
        if let Some(f) = hc
            .request
            .as_deref_mut()
            .and_then(|r| r.body_filter.as_deref_mut())
            .filter(|f| f.has_work())
            && let Err(e) = f.pump(&mut hc.out, &mut file_buf)
        {
            filter_error = Some(e);
            break Sent::Error;
        }
        if hc.out.is_empty() {
            hc.out.reset();
            // What the transport still holds (TLS records) goes before
            // the response counts as sent.
            if c.stream.wants_write() {
                match c.stream.flush() {
                    Ok(true) => {}
                    Ok(false) => {
                        c.write.ready = false;
                        break Sent::Again;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        c.write.ready = false;
                        break Sent::Again;
                    }
                    Err(e) => {
                        log::info!(
                            "*{} flush failed ({}) while sending response to client",
                            c.number,
                            crate::os::io::OsErr(&e)
                        );
                        break Sent::Error;
                    }
                }
            }
            break Sent::Done;
        }
        if !c.write.ready {
            break Sent::Again;
        }
        if sent_now >= limit {
            break Sent::Again;
        }
        let budget = usize::try_from(limit - sent_now).unwrap_or(usize::MAX);
        let out = &mut hc.out;
        let next_file_at = out.files.get(out.file_idx).map_or(out.mem.len(), |f| f.at);
        let res = if out.sent < next_file_at {
            let chunk = &out.mem[out.sent..next_file_at];
            let chunk = &chunk[..chunk.len().min(budget)];
            let want = chunk.len();
            if sc.nopush && sc.sendfile && !c.corked && out.file_idx < out.files.len() {
                // ngx_tcp_nopush(): a header followed by a file goes out in
                // full packets.
                match c.stream.set_cork(true) {
                    Ok(()) => {
                        log::debug!("*{} tcp_nopush", c.number);
                        c.corked = true;
                    }
                    Err(e) => log::debug!("*{} tcp_nopush failed: {e}", c.number),
                }
            }
            c.stream.writev(&[IoSlice::new(chunk)]).map(|n| {
                log::debug!("*{} writev: {n} of {want}", c.number);
                out.sent += n;
                (n, n < want)
            })
        } else {
            let f = &mut out.files[out.file_idx];
            let left = usize::try_from(f.end - f.pos).unwrap_or(usize::MAX);
            let want = left.min(1 << 30).min(budget);
            // (bytes sent, bytes offered): a write that took less than it was
            // offered found the socket full.
            let res = if sc.sendfile {
                c.stream.sendfile(&f.file, f.pos, want).map(|n| {
                    log::debug!("*{} sendfile: {n} of {want}", c.number);
                    (n, want)
                })
            } else {
                send_file_copy(&mut c.stream, &f.file, f.pos, want, &mut file_buf).inspect(
                    |(n, offered)| {
                        log::debug!("*{} read and write: {n} of {offered}", c.number);
                    },
                )
            };
            match res {
                Ok((0, _)) if want > 0 => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file was truncated",
                )),
                Ok((n, offered)) => {
                    f.pos += n as u64;
                    if f.pos == f.end {
                        out.file_idx += 1;
                    }
                    Ok((n, n < offered))
                }
                Err(e) => Err(e),
            }
        };
        match res {
            Ok((n, short)) => {
                sent_now += n as u64;
                // A short write means the socket is full; a transport that
                // took everything but holds some of it back says so too.
                if short || c.stream.wants_write() {
                    c.write.ready = false;
                    break Sent::Again;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.write.ready = false;
                break Sent::Again;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::info!(
                    "*{} writev() failed ({}) while sending response to client",
                    c.number,
                    crate::os::io::OsErr(&e)
                );
                break Sent::Error;
            }
        }
    };
    cy.file_buf = file_buf;
    if let Some(r) = cy.conns[key].req_mut() {
        r.sent += sent_now;
    }
    if let Some(e) = filter_error {
        crate::http::request::http_error!(cy, key, "{e}");
    }
    // The connection inspector makes its body as the socket takes it.
    if res == Sent::Done && cy.conns[key].req().is_some_and(|r| r.inspector.is_some()) {
        return crate::http::connection_status::write_more(cy, key);
    }
    if res != Sent::Again {
        return res;
    }
    if sc.rate > 0 && sent_now > 0 {
        let before = sc.sent.saturating_sub(sc.rate_after);
        let after = (sc.sent + sent_now).saturating_sub(sc.rate_after);
        let delay = (after - before) * 1000 / sc.rate;
        if delay > 0 {
            cy.conns[key].write_delayed = true;
            cy.add_timer(key, EvKind::Write, delay);
        }
    }
    let c = &cy.conns[key];
    if c.write.ready && !c.write_delayed {
        cy.post_next_event(key, EvKind::Write);
    }
    Sent::Again
}

/// `sendfile off`: reads up to `len` bytes of `file` at `pos` into the
/// cycle's reused buffer and writes them; returns the bytes written and the
/// bytes offered to the socket. What the socket did not take is read again
/// next time (it is in the page cache), so no buffer is held per
/// connection.
fn send_file_copy<S: Transport>(
    stream: &mut S,
    file: &std::fs::File,
    pos: u64,
    len: usize,
    buf: &mut Vec<u8>,
) -> io::Result<(usize, usize)> {
    use std::os::unix::fs::FileExt;
    if buf.len() < OUTPUT_BUFFER {
        buf.resize(OUTPUT_BUFFER, 0);
    }
    let want = len.min(buf.len());
    let n = file.read_at(&mut buf[..want], pos)?;
    if n == 0 {
        return Ok((0, 0));
    }
    stream.writev(&[IoSlice::new(&buf[..n])]).map(|w| (w, n))
}

/// holdfast's own step (nginx writes each response as it is made): sends
/// the queued responses of finished pipelined requests before reading
/// on; on a full socket, the write handler takes over (`Flush`).
pub fn flush_pipelined<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Sent {
    let sent = send_out(cy, key);
    if sent == Sent::Again {
        cy.conns[key].write.handler = WriteHandler::Flush;
        if !cy.conns[key].write_delayed {
            let timeout = send_timeout(cy, key);
            cy.add_timer(key, EvKind::Write, timeout);
        }
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
        if !c.write_delayed {
            c.timedout = true;
            c.action = Action::SendingResponse;
            client_info!(cy, key, "client timed out (110: Connection timed out)");
            close_request(cy, key);
            return;
        }
        // The limit_rate delay is over.
        c.write.timedout = false;
        c.write_delayed = false;
        if !c.write.ready {
            let timeout = send_timeout(cy, key);
            cy.add_timer(key, EvKind::Write, timeout);
            return;
        }
    } else if c.write_delayed {
        // Writable again, but the rate says wait: the delay timer stays.
        log::debug!("*{} http writer delayed", c.number);
        return;
    }
    match send_out(cy, key) {
        Sent::Again => {
            if !cy.conns[key].write_delayed {
                let timeout = send_timeout(cy, key);
                cy.add_timer(key, EvKind::Write, timeout);
            }
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
        assert_eq!(v, b"0 18446744073709551615");
        assert_eq!(make_etag(0x5f3c_1b2a, 0).as_bytes(), b"\"5f3c1b2a-0\"");
        assert_eq!(make_etag(u64::MAX, 3).as_bytes(), b"\"ffffffffffffffff-3\"");
    }
}
