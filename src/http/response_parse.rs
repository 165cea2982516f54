//! Reading an HTTP/1.x response: the upstream side of nginx's proxy.
//!
//! | here | nginx |
//! |---|---|
//! | [`ResponseHeadParser::parse`] | ngx_http_proxy_process_status_line() over ngx_http_parse_status_line(), then ngx_http_proxy_process_header() over ngx_http_parse_header_line() |
//! | `process_header_line` | the upstream's `headers_in` handlers: ngx_http_upstream_process_content_length(), …_transfer_encoding(), …_connection() |
//! | [`ResponseHead::framing`] | ngx_http_proxy_input_filter_init() |
//! | [`BodyDecoder`] | ngx_http_proxy_copy_filter() / ngx_http_proxy_chunked_filter() (length accounting and ngx_http_parse_chunked()) |
//!
//! One parser for every response holdfast reads: the proxy's upstream
//! responses and holdfast-load's. httparse checks the syntax (RFC 9112 §4,
//! §5); this module adds nginx's framing rules and the limits.
//!
//! ```text
//! bytes ─▶ ResponseHeadParser::parse ─▶ Partial          (read more; TooBig once max_head is full)
//!                                     ├▶ Invalid(error)   (nginx: 502, "upstream sent invalid header")
//!                                     └▶ Complete(head) ─▶ head.framing(method)
//!                                                            ─▶ BodyDecoder::decode … is_done | finish_at_eof
//! ```
//!
//! Differences from nginx:
//! * a status line that is not `HTTP/1.0` or `HTTP/1.1` is
//!   [`ResponseError::StatusLine`]. nginx takes any `HTTP/d.d` (and IIS's
//!   `403.1` codes), and with no valid status line at all it logs "upstream
//!   sent no valid HTTP/1.0 header" and passes the bytes on as an HTTP/0.9
//!   body with status 200 and `connection_close`; the caller can do that
//!   fallback on this error if it wants it;
//! * a header name httparse refuses (not a token, RFC 9110 §5.1) or a line
//!   without a colon is [`ResponseError::Header`]; nginx's upstream parser
//!   only refuses whitespace, control bytes and NUL there;
//! * more than [`MAX_RESPONSE_HEADERS`] header lines is an error; nginx's only
//!   bound is `proxy_buffer_size`;
//! * `Connection` is read as a token list, so `closed` is not `close`
//!   (nginx searches for the substring).

use std::fmt;

use crate::http::chunked::{ChunkedDecoder, ChunkedError};
use crate::http::parse::{
    self, ConnectionType, HeaderPos, Method, Version, connection_type, parse_content_length,
};

/// Header lines kept per response head; more is
/// [`ResponseError::TooManyHeaders`]. nginx has no count limit for upstream
/// heads (`proxy_buffer_size` bounds them); 100 is hyper's client default.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// What a status line starts with (`sw_start` .. `sw_HTTP` of
/// ngx_http_parse_status_line).
const HTTP_PREFIX: &[u8] = b"HTTP/";
/// `HTTP/1.x`: the only versions httparse takes.
const VERSION_LEN: usize = 8;
/// Digits of a status code.
const STATUS_CODE_LEN: usize = 3;
/// 103 Early Hints (NGX_HTTP_EARLY_HINTS).
const EARLY_HINTS: u16 = 103;
/// 204 No Content (NGX_HTTP_NO_CONTENT).
const NO_CONTENT: u16 = 204;
/// 304 Not Modified (NGX_HTTP_NOT_MODIFIED).
const NOT_MODIFIED: u16 = 304;

/// Why a response head is refused. nginx answers each with 502 (its
/// `NGX_HTTP_UPSTREAM_FT_INVALID_HEADER`, after trying the next upstream
/// when `proxy_next_upstream invalid_header` says so); `Display` gives
/// nginx's error-log text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// Not an `HTTP/1.x SSS reason` line.
    StatusLine,
    /// A malformed header line.
    Header,
    /// More than [`MAX_RESPONSE_HEADERS`] header lines.
    TooManyHeaders,
    /// The head does not fit in `max_head` bytes.
    TooBig,
    /// A 103 in an HTTP/1.0 response.
    EarlyHintsHttp10,
    /// A second `Content-Length` line (nginx refuses even an equal one).
    DuplicateContentLength,
    /// A second `Transfer-Encoding` line.
    DuplicateTransferEncoding,
    /// `Content-Length` that is not a non-negative decimal number.
    InvalidContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`.
    LengthAndEncoding,
    /// A `Transfer-Encoding` other than exactly `chunked`.
    UnknownTransferEncoding,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResponseError::StatusLine => "upstream sent no valid HTTP/1.0 header",
            ResponseError::Header => "upstream sent invalid header",
            ResponseError::TooManyHeaders => "upstream sent too many header lines",
            ResponseError::TooBig => "upstream sent too big header",
            ResponseError::EarlyHintsHttp10 => "upstream sent HTTP/1.0 response with early hints",
            ResponseError::DuplicateContentLength => {
                "upstream sent duplicate header line: \"Content-Length\""
            }
            ResponseError::DuplicateTransferEncoding => {
                "upstream sent duplicate header line: \"Transfer-Encoding\""
            }
            ResponseError::InvalidContentLength => {
                "upstream sent invalid \"Content-Length\" header"
            }
            ResponseError::LengthAndEncoding => {
                "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"
            }
            ResponseError::UnknownTransferEncoding => "upstream sent unknown \"Transfer-Encoding\"",
        })
    }
}

/// What [`ResponseHeadParser::parse`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadParse {
    /// The head is not complete yet (NGX_AGAIN): read more.
    Partial,
    /// A complete, valid head.
    Complete(ResponseHead),
    /// An invalid head (NGX_HTTP_UPSTREAM_INVALID_HEADER).
    Invalid(ResponseError),
}

/// How a response body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding, up to the last chunk and the trailers.
    Chunked,
    /// Everything up to the end of the connection.
    UntilClose,
    /// No body: a response to HEAD, or 1xx, 204, 304.
    None,
}

/// A parsed response head: nginx's `u->headers_in`. Positions are
/// `(offset, length)` into the bytes given to the parser (see [`span`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Protocol version of the status line.
    pub version: Version,
    /// Status code (`status_n`).
    pub status: u16,
    /// Code and reason, `200 OK` (nginx's `status_line`).
    pub status_line: (usize, usize),
    /// The reason phrase alone; may be empty.
    pub reason: (usize, usize),
    /// Bytes of the head, the final empty line included: the body starts here.
    pub len: usize,
    /// `Content-Length`, if sent (`content_length_n`).
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked` was sent.
    pub chunked: bool,
    /// The `Connection` tokens.
    pub connection: ConnectionType,
    headers: Vec<HeaderPos>,
}

impl ResponseHead {
    /// A head with no header lines yet.
    fn new(version: Version, status: u16, len: usize) -> ResponseHead {
        ResponseHead {
            version,
            status,
            status_line: (0, 0),
            reason: (0, 0),
            len,
            content_length: None,
            chunked: false,
            connection: ConnectionType::None,
            headers: Vec::new(),
        }
    }

    /// The header lines, in order.
    pub fn headers(&self) -> &[HeaderPos] {
        &self.headers
    }

    /// The header lines as `(name, value)` byte slices of `data`, the bytes
    /// the head was parsed from.
    pub fn header_lines<'a>(
        &'a self,
        data: &'a [u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.headers()
            .iter()
            .map(move |h| (span(data, h.name), span(data, h.value)))
    }

    /// An interim (1xx) response: the final one follows it.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }

    /// Mirrors ngx_http_proxy_input_filter_init()
    /// (src/http/modules/ngx_http_proxy_module.c): the body framing of this
    /// response to a `method` request (RFC 9112 §6.3). HEAD, 1xx, 204 and 304
    /// have no body, then chunked, then `Content-Length`, else the body ends
    /// with the connection. Differences: nginx lists no 1xx there ("we
    /// don't send Expect and Upgrade"); a 101 is a tunnel, not a body, and is
    /// the caller's to handle.
    pub fn framing(&self, method: Method) -> Framing {
        if method == Method::Head
            || self.is_interim()
            || self.status == NO_CONTENT
            || self.status == NOT_MODIFIED
        {
            Framing::None
        } else if self.chunked {
            Framing::Chunked
        } else if let Some(n) = self.content_length {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        }
    }

    /// nginx's `u->headers_in.connection_close`: an HTTP/1.0 response, or a
    /// `close` token. The upstream connection is not kept alive then.
    pub fn connection_close(&self) -> bool {
        self.version == Version::Http10 || self.connection == ConnectionType::Close
    }

    /// May the connection carry another response after this one (RFC 9112
    /// §9.3)? `close` says no; otherwise HTTP/1.1 says yes and HTTP/1.0
    /// only with `keep-alive`. The framing can still say no
    /// ([`Framing::UntilClose`]).
    pub fn is_persistent(&self) -> bool {
        match self.connection {
            ConnectionType::Close => false,
            ConnectionType::KeepAlive => true,
            ConnectionType::None => self.version == Version::Http11,
        }
    }
}

/// The bytes at `(offset, length)` in `data`; empty when out of range.
pub fn span(data: &[u8], (offset, len): (usize, usize)) -> &[u8] {
    offset
        .checked_add(len)
        .and_then(|end| data.get(offset..end))
        .unwrap_or_default()
}

/// An incremental response-head parser: feed it the bytes received so far
/// (always from the start of the response) until it stops answering
/// [`HeadParse::Partial`]. It remembers how far it searched for the end of
/// the head, so a head arriving in small pieces is scanned once.
#[derive(Debug, Clone)]
pub struct ResponseHeadParser {
    /// The longest head accepted (nginx's `proxy_buffer_size`).
    max_head: usize,
    /// Bytes already searched for the empty line that ends the head.
    scanned: usize,
    /// The status line is complete and valid.
    status_line_done: bool,
}

impl ResponseHeadParser {
    /// A parser for heads of at most `max_head` bytes.
    pub fn new(max_head: usize) -> ResponseHeadParser {
        ResponseHeadParser {
            max_head,
            scanned: 0,
            status_line_done: false,
        }
    }

    /// Forgets a partial head: the next call starts a new response.
    pub fn reset(&mut self) {
        self.scanned = 0;
        self.status_line_done = false;
    }

    /// Mirrors ngx_http_proxy_process_status_line() and
    /// ngx_http_proxy_process_header()
    /// (src/http/modules/ngx_http_proxy_module.c), with the "too big header"
    /// check of ngx_http_upstream_process_header() (ngx_http_upstream.c).
    ///
    /// Parses `data`, which holds the response from its first byte (and
    /// maybe more: the body, the next response); each call must pass the
    /// bytes of the previous one and maybe more. After `Complete` or
    /// `Invalid` the parser is reset for the next response.
    ///
    /// Differences: see the module docs; also, a bad status line is refused
    /// at its first bad byte (as by nginx), a bad header line only once the
    /// whole head has arrived (nginx: at the line).
    pub fn parse(&mut self, data: &[u8]) -> HeadParse {
        let result = self.parse_inner(data);
        if result != HeadParse::Partial {
            self.reset();
        }
        result
    }

    fn parse_inner(&mut self, data: &[u8]) -> HeadParse {
        let end = find_head_end(data, self.scanned.min(data.len()));
        // A head that is whole at once is checked by parse_head alone (one
        // httparse pass); the status line on its own only while the head
        // is partial, so a bad one is refused at its first bad byte.
        let n = data.len().min(HTTP_PREFIX.len());
        if data[..n] != HTTP_PREFIX[..n] {
            // Also refuses the empty lines httparse would skip.
            return HeadParse::Invalid(ResponseError::StatusLine);
        }
        if end.is_err() && !self.status_line_done {
            match parse_status_line(data) {
                Ok(true) => self.status_line_done = true,
                Ok(false) => {}
                Err(e) => return HeadParse::Invalid(e),
            }
        }
        match end {
            Ok(end) if end > self.max_head => HeadParse::Invalid(ResponseError::TooBig),
            Ok(end) => match parse_head(&data[..end]) {
                Ok(head) => HeadParse::Complete(head),
                Err(e) => HeadParse::Invalid(e),
            },
            Err(_) if data.len() >= self.max_head => HeadParse::Invalid(ResponseError::TooBig),
            Err(resume) => {
                self.scanned = resume;
                HeadParse::Partial
            }
        }
    }
}

/// The httparse settings for responses: nginx's sw_status skips any number
/// of spaces before the code.
fn parser_config() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config.allow_multiple_spaces_in_response_status_delimiters(true);
    config
}

/// Mirrors ngx_http_parse_status_line() (src/http/ngx_http_parse.c), by
/// httparse: checks the status line as far as it has arrived. Ok(true) when
/// it is complete and valid, Ok(false) while valid so far; like nginx's state
/// machine it fails at the first bad byte (the caller has checked the
/// `HTTP/` prefix).
fn parse_status_line(data: &[u8]) -> Result<bool, ResponseError> {
    let (line, complete) = match parse::memchr(b'\n', data) {
        Some(lf) => (&data[..=lf], true),
        None => (data, false),
    };
    let mut resp = httparse::Response::new(&mut []);
    match parser_config().parse_response(&mut resp, line) {
        // Only the line was given: the headers are always Partial.
        Ok(_) => Ok(complete),
        Err(_) => Err(ResponseError::StatusLine),
    }
}

/// The end of the head (just after its empty line) in `data`, searching
/// from `from`; else the offset to resume the search from. Bare LF line
/// ends are accepted, as by nginx's upstream parsers and httparse.
fn find_head_end(data: &[u8], from: usize) -> Result<usize, usize> {
    let mut i = from;
    while let Some(p) = data.get(i..).and_then(|rest| parse::memchr(b'\n', rest)) {
        let lf = i + p;
        match &data[lf + 1..] {
            [b'\n', ..] => return Ok(lf + 2),
            [b'\r', b'\n', ..] => return Ok(lf + 3),
            [] | [b'\r'] => return Err(lf),
            _ => i = lf + 1,
        }
    }
    Err(data.len())
}

/// Parses a complete head (`head` ends with its empty line).
fn parse_head(head: &[u8]) -> Result<ResponseHead, ResponseError> {
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len =
        match parser_config().parse_response_with_uninit_headers(&mut resp, head, &mut headers) {
            Ok(httparse::Status::Complete(len)) => len,
            // find_head_end and httparse disagree on the end: refuse the head.
            Ok(httparse::Status::Partial) => return Err(ResponseError::Header),
            Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::TooManyHeaders),
            Err(httparse::Error::Version | httparse::Error::Status) => {
                return Err(ResponseError::StatusLine);
            }
            Err(_) => return Err(ResponseError::Header),
        };
    let version = match resp.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let status = resp.code.unwrap_or_default();
    if status == EARLY_HINTS && version == Version::Http10 {
        return Err(ResponseError::EarlyHintsHttp10);
    }
    let mut out = ResponseHead::new(version, status, len);
    (out.status_line, out.reason) = status_line_spans(head);
    out.headers.reserve_exact(resp.headers.len());
    let base = head.as_ptr() as usize;
    for h in resp.headers.iter() {
        let pos = HeaderPos {
            name: (h.name.as_ptr() as usize - base, h.name.len()),
            value: (h.value.as_ptr() as usize - base, h.value.len()),
        };
        process_header_line(&mut out, h.name.as_bytes(), h.value)?;
        out.headers.push(pos);
    }
    Ok(out)
}

/// The `200 OK` and `OK` spans of a status line httparse has accepted:
/// `HTTP/1.x`, spaces, three digits, spaces, reason.
fn status_line_spans(head: &[u8]) -> ((usize, usize), (usize, usize)) {
    let line_end = parse::memchr(b'\n', head).unwrap_or(head.len());
    let line = &head[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let skip_spaces = |mut i: usize| {
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        i.min(line.len())
    };
    let code = skip_spaces(VERSION_LEN);
    let reason = skip_spaces(code + STATUS_CODE_LEN);
    ((code, line.len() - code), (reason, line.len() - reason))
}

/// Mirrors the upstream's `headers_in` handlers (src/http/ngx_http_upstream.c),
/// applying one header line to the framing facts of `head`:
/// ngx_http_upstream_process_content_length() (a duplicate, a
/// `Transfer-Encoding` already seen, or a value ngx_atoof refuses is an
/// invalid header), ngx_http_upstream_process_transfer_encoding() (only
/// `chunked`, once, without `Content-Length`) and
/// ngx_http_upstream_process_connection().
fn process_header_line(
    head: &mut ResponseHead,
    name: &[u8],
    value: &[u8],
) -> Result<(), ResponseError> {
    if name.eq_ignore_ascii_case(b"content-length") {
        if head.content_length.is_some() {
            return Err(ResponseError::DuplicateContentLength);
        }
        if head.chunked {
            return Err(ResponseError::LengthAndEncoding);
        }
        head.content_length =
            Some(parse_content_length(value).ok_or(ResponseError::InvalidContentLength)?);
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        if head.chunked {
            return Err(ResponseError::DuplicateTransferEncoding);
        }
        if head.content_length.is_some() {
            return Err(ResponseError::LengthAndEncoding);
        }
        if !parse::trim(value).eq_ignore_ascii_case(b"chunked") {
            return Err(ResponseError::UnknownTransferEncoding);
        }
        head.chunked = true;
    } else if name.eq_ignore_ascii_case(b"connection") {
        head.connection = connection_type(value, head.connection);
    }
    Ok(())
}

/// Why a response body is invalid or cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Bad chunked framing: "upstream sent invalid chunked response".
    Chunked(ChunkedError),
    /// The connection ended inside a body whose end it does not mark:
    /// "upstream prematurely closed connection".
    Premature,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Chunked(e) => write!(f, "upstream sent invalid chunked response ({e:?})"),
            BodyError::Premature => f.write_str("upstream prematurely closed connection"),
        }
    }
}

/// Where a [`BodyDecoder`] is.
#[derive(Debug, Clone)]
enum BodyState {
    /// `left` bytes of a `Content-Length` body to come.
    Length { left: u64 },
    /// Inside a chunked body.
    Chunked(ChunkedDecoder),
    /// Everything up to the end of the connection.
    UntilClose,
    /// The body is complete.
    Done,
}

/// Mirrors the length accounting of ngx_http_proxy_copy_filter() and
/// ngx_http_proxy_chunked_filter() (src/http/modules/ngx_http_proxy_module.c;
/// chunks by [`ChunkedDecoder`], nginx's ngx_http_parse_chunked()): finds
/// the end of one response body in the bytes that follow its head.
/// Differences: trailers are checked and dropped, never kept
/// (`proxy_pass_trailers`).
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: BodyState,
}

impl BodyDecoder {
    /// A decoder for a body framed by `framing`; `None` and `Length(0)`
    /// start done.
    pub fn new(framing: Framing) -> BodyDecoder {
        let state = match framing {
            Framing::Length(0) | Framing::None => BodyState::Done,
            Framing::Length(left) => BodyState::Length { left },
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new()),
            Framing::UntilClose => BodyState::UntilClose,
        };
        BodyDecoder { state }
    }

    /// The whole body has been seen.
    pub fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    /// A lower bound of the bytes the body still needs; None when it ends
    /// with the connection. A reader that never asks for more never reads
    /// past the body (nginx's `u->length`).
    pub fn min_remaining(&self) -> Option<u64> {
        match &self.state {
            BodyState::Length { left } => Some(*left),
            BodyState::Chunked(d) => Some(d.min_remaining()),
            BodyState::UntilClose => None,
            BodyState::Done => Some(0),
        }
    }

    /// Takes the body bytes at the start of `input`, calling `data` with each
    /// run of payload (chunk data without the framing); returns how many
    /// bytes of `input` belong to the body. What follows the end of the body
    /// is left alone: on an upstream connection nginx drops it and stops
    /// keepalive ("upstream sent more data than specified in
    /// "Content-Length" header", "upstream sent data after final chunk").
    pub fn decode(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<usize, BodyError> {
        match &mut self.state {
            BodyState::Length { left } => {
                let n = usize::try_from(*left).map_or(input.len(), |l| l.min(input.len()));
                data(&input[..n]);
                *left -= n as u64;
                if *left == 0 {
                    self.state = BodyState::Done;
                }
                Ok(n)
            }
            BodyState::Chunked(d) => {
                let n = d.decode(input, data).map_err(BodyError::Chunked)?;
                if d.is_done() {
                    self.state = BodyState::Done;
                }
                Ok(n)
            }
            BodyState::UntilClose => {
                data(input);
                Ok(input.len())
            }
            BodyState::Done => Ok(0),
        }
    }

    /// The connection ended: completes a body that ends with it; any other
    /// unfinished body is [`BodyError::Premature`].
    pub fn finish_at_eof(&mut self) -> Result<(), BodyError> {
        match self.state {
            BodyState::UntilClose | BodyState::Done => {
                self.state = BodyState::Done;
                Ok(())
            }
            _ => Err(BodyError::Premature),
        }
    }
}

#[cfg(test)]
#[path = "response_parse_tests.rs"]
mod tests;
