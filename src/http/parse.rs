//! Parsing helpers: nginx's `ngx_http_parse.c` on top of httparse.
//!
//! httparse checks the request line and header syntax (RFC 9112 §3, §5); the
//! functions here add what nginx does around it: the request-line stage on its
//! own (so a bad or too long request line is answered before any header), the
//! HTTP/2+ check (505), `Connection` token lists, Host validation, and the URI
//! decoding and dot-segment normalisation that keeps static paths inside root.

use std::mem::MaybeUninit;

/// nginx's `max_headers` default (1.29.8+): more header lines is a 400.
pub const MAX_HEADERS: usize = 1000;

/// Request methods holdfast tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// GET
    #[default]
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// TRACE (nginx answers 405)
    Trace,
    /// CONNECT (nginx answers 405)
    Connect,
    /// Any other token.
    Other,
}

impl Method {
    /// Classifies a method token (case-sensitive, RFC 9110 §9.1).
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }
}

/// Protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    #[default]
    Http11,
}

/// What the request line stage found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineStatus {
    /// No complete line yet.
    Partial,
    /// A valid request line ending at `len` (after its LF).
    Done {
        /// Bytes of the line including CRLF.
        len: usize,
        /// Method.
        method: Method,
        /// Request target: offset and length within the parsed slice.
        uri: (usize, usize),
        /// Version.
        version: Version,
        /// Offset of the minor digit of an `HTTP/1.x` with x > 1, read as
        /// HTTP/1.1 (the caller rewrites it to `1` for httparse).
        future_minor: Option<usize>,
    },
    /// Malformed request line: 400.
    Invalid,
    /// HTTP/2 or later on the request line: 505.
    VersionNotSupported,
}

/// Parses the request line at the start of `data` (leading CRLFs already
/// skipped) as ngx_http_parse_request_line does, once its LF has arrived:
/// `METHOD SP request-target SP HTTP/1.x` with one space each, a method of
/// `A-Z`, `_` and `-` (nginx's rule), a target without whitespace or control
/// bytes. The full head is parsed again by httparse, which checks the target
/// more closely; this pass only has to be cheap and never more lenient about
/// the line's shape.
pub fn parse_request_line(data: &[u8]) -> LineStatus {
    let lf = memchr(b'\n', data);
    let line = &data[..lf.unwrap_or(data.len())];
    // The method is checked as it arrives, so garbage (a TLS ClientHello,
    // binary noise) is refused at once instead of after a line end that may
    // never come.
    let sp1 = memchr(b' ', line);
    let method = &line[..sp1.unwrap_or(line.len())];
    let is_method_byte = |&b: &u8| b.is_ascii_uppercase() || b == b'_' || b == b'-';
    let method_ok = method.iter().all(is_method_byte);
    if !method_ok {
        return LineStatus::Invalid;
    }
    let Some(lf) = lf else {
        return LineStatus::Partial;
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(sp1) = memchr(b' ', line) else {
        return LineStatus::Invalid;
    };
    let method = &line[..sp1];
    if method.is_empty() || !method.iter().all(is_method_byte) {
        return LineStatus::Invalid;
    }
    let rest = &line[sp1 + 1..];
    let Some(sp2) = memchr(b' ', rest) else {
        return LineStatus::Invalid;
    };
    let target = &rest[..sp2];
    if target.is_empty()
        || !target
            .iter()
            .fold(true, |ok, &b| ok & (b > 0x20) & (b != 0x7f))
    {
        return LineStatus::Invalid;
    }
    // origin-form or absolute-form; CONNECT's authority-form is let through
    // to be answered 405 (nginx-flow.md §2).
    if method != b"CONNECT" && target[0] != b'/' && !is_absolute_form(target) {
        return LineStatus::Invalid;
    }
    let version_at = sp1 + 1 + sp2 + 1;
    let (version, future_minor) = match &rest[sp2 + 1..] {
        b"HTTP/1.1" => (Version::Http11, false),
        b"HTTP/1.0" => (Version::Http10, false),
        // RFC 9110 §2.5: a higher minor version is answered as the highest
        // one supported, as nginx does.
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => {
            (Version::Http11, true)
        }
        v if is_http2_or_later(v) => return LineStatus::VersionNotSupported,
        _ => return LineStatus::Invalid,
    };
    LineStatus::Done {
        len: lf + 1,
        method: Method::from_bytes(method),
        uri: (sp1 + 1, target.len()),
        version,
        future_minor: future_minor.then_some(version_at + 7),
    }
}

/// `scheme "://"` with an RFC 3986 scheme.
fn is_absolute_form(target: &[u8]) -> bool {
    let Some(end) = find(target, b"://") else {
        return false;
    };
    let scheme = &target[..end];
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `HTTP/2`, `HTTP/3.0`, …: a version nginx answers with 505.
fn is_http2_or_later(version: &[u8]) -> bool {
    let Some(rest) = version.strip_prefix(b"HTTP/") else {
        return false;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let major = rest[..digits].iter().fold(0u32, |acc, d| {
        acc.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    major >= 2
}

/// One header as offsets into the parsed slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPos {
    /// Name offset and length.
    pub name: (usize, usize),
    /// Value offset and length.
    pub value: (usize, usize),
}

/// What the header stage found.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadStatus {
    /// Headers not complete yet.
    Partial,
    /// The head is complete and `len` bytes long; headers were passed to the callback.
    Done(usize),
    /// Malformed header line: 400.
    Invalid,
    /// More than [`MAX_HEADERS`] header lines: 400 ("too many header lines").
    TooMany,
}

/// nginx's `ignore_invalid_headers on` plus its hard errors, on a complete
/// head: a line folded onto the previous one (obs-fold), a line without a
/// colon, a name that is empty or holds whitespace or control bytes, and a
/// value with NUL, a bare CR or other control bytes are errors (400); a name
/// with any other byte outside `A-Za-z0-9-` (`_` included, as with
/// `underscores_in_headers off`) is an invalid header that httparse's
/// lenient mode and [`HeadInfo`](crate::http::headers::HeadInfo) skip.
/// Returns the count of ignored lines, None for an invalid head.
pub fn validate_header_lines(head: &[u8]) -> Option<usize> {
    let mut ignored = 0;
    let mut lines = head.split(|&b| b == b'\n');
    lines.next(); // request line, already checked
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            return None;
        }
        let colon = memchr(b':', line)?;
        let name = &line[..colon];
        if name.is_empty() || name.iter().any(|&b| b <= 0x20 || b == 0x7f) {
            return None;
        }
        if line[colon + 1..]
            .iter()
            .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return None;
        }
        if !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-') {
            ignored += 1;
        }
    }
    Some(ignored)
}

/// Is this header name one nginx takes (letters, digits, `-`)? Others are
/// ignored (`ignore_invalid_headers on`, `underscores_in_headers off`).
pub fn is_valid_header_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The header loop of ngx_http_process_request_headers over
/// ngx_http_parse_header_line, done by httparse: parses a whole request head
/// (request line already validated) and calls
/// `each` for every header, in order.
pub fn parse_head(data: &[u8], mut each: impl FnMut(HeaderPos)) -> HeadStatus {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    // Strict first: a head httparse takes as it is needs no more checks.
    // Only when it refuses one does the lenient pass decide between an
    // ignorable header name and an error.
    let strict = req.parse_with_uninit_headers(data, &mut headers);
    let parsed = match strict {
        Err(
            httparse::Error::HeaderName | httparse::Error::HeaderValue | httparse::Error::Token,
        ) => {
            let mut config = httparse::ParserConfig::default();
            config.ignore_invalid_headers_in_requests(true);
            req = httparse::Request::new(&mut []);
            match config.parse_request_with_uninit_headers(&mut req, data, &mut headers) {
                Ok(httparse::Status::Complete(len))
                    if validate_header_lines(&data[..len]).is_none() =>
                {
                    return HeadStatus::Invalid;
                }
                other => other,
            }
        }
        other => other,
    };
    match parsed {
        Ok(httparse::Status::Complete(len)) => {
            let base = data.as_ptr() as usize;
            for h in req.headers.iter() {
                each(HeaderPos {
                    name: (h.name.as_ptr() as usize - base, h.name.len()),
                    value: (h.value.as_ptr() as usize - base, h.value.len()),
                });
            }
            HeadStatus::Done(len)
        }
        Ok(httparse::Status::Partial) => HeadStatus::Partial,
        Err(httparse::Error::TooManyHeaders) => HeadStatus::TooMany,
        Err(_) => HeadStatus::Invalid,
    }
}

/// The `Connection` header's verdict (ngx_http_process_connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionType {
    /// No header, or neither token.
    #[default]
    None,
    /// `close` among the tokens (wins over keep-alive).
    Close,
    /// `keep-alive` among the tokens.
    KeepAlive,
}

/// Classifies a `Connection` value: a comma-separated token list (RFC 9110
/// §7.6.1), compared case-insensitively. nginx uses a substring search;
/// holdfast matches whole tokens so `Connection: closed-captions` is not `close`.
pub fn connection_type(value: &[u8], prev: ConnectionType) -> ConnectionType {
    let mut t = prev;
    for token in value.split(|&b| b == b',') {
        let token = trim(token);
        if token.eq_ignore_ascii_case(b"close") {
            return ConnectionType::Close;
        }
        if token.eq_ignore_ascii_case(b"keep-alive") && t != ConnectionType::Close {
            t = ConnectionType::KeepAlive;
        }
    }
    t
}

/// Is a CONNECT target in authority form, `HOST:PORT` (RFC 9110 §9.3.6)?
/// nginx's request-line parser accepts a CONNECT only with one: a path
/// (`CONNECT / HTTP/1.1`) or a missing port is 400.
pub fn is_authority_form(target: &[u8]) -> bool {
    let Some(colon) = target.iter().rposition(|&b| b == b':') else {
        return false;
    };
    let (host, port) = (&target[..colon], &target[colon + 1..]);
    let mut scratch = Vec::new();
    !host.is_empty()
        && !port.is_empty()
        && port.iter().all(u8::is_ascii_digit)
        && (host.first() != Some(&b'[') || host.last() == Some(&b']'))
        && validate_host(target, &mut scratch)
}

/// Mirrors ngx_escape_json(): `"` and `\` behind a backslash, control
/// bytes as `\n`-style escapes or `\u00XX` (upper-case hex); the rest,
/// UTF-8 included, as it is.
pub fn escape_json(src: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in src {
        match c {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..0x20 => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xf)],
            ]),
            _ => out.push(c),
        }
    }
}

/// Mirrors ngx_escape_uri(…, NGX_ESCAPE_URI): appends `uri` to `out` with
/// the bytes a URI path may not carry as they are — controls, space, `"`,
/// `#`, `%`, `<`, `>`, `?`, `\`, `^`, `` ` ``, `{`, `|`, `}` and bytes from
/// 0x7f up — as `%XX` (upper-case hex), as nginx writes the `Location` of a
/// redirect it builds from a decoded URI.
pub fn escape_uri(uri: &[u8], out: &mut Vec<u8>) {
    escape_where(uri, out, |b| {
        b <= 0x20
            || b >= 0x7f
            || matches!(
                b,
                b'"' | b'#' | b'%' | b'<' | b'>' | b'?' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
    });
}

/// Appends `bytes` to `out`, each byte `escape` picks as `%XX` (upper-case hex).
pub fn escape_where(bytes: &[u8], out: &mut Vec<u8>, escape: impl Fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if escape(b) {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        } else {
            out.push(b);
        }
    }
}

/// The states of [`validate_host`] (nginx's `sw_host_*`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum HostState {
    Start,
    Name,
    IpLiteral,
    LiteralEnd,
    Port,
}

/// Mirrors ngx_http_validate_host() as of nginx 1.29.4: writes the host,
/// lower-cased and without the port, into `out`; false means 400 "client
/// sent invalid host header".
///
/// A reg-name or IPv4 address is letters, digits, RFC 3986 unreserved and
/// sub-delims characters and `%`; an IP literal (`[...]`, IPv6 or
/// IPvFuture) the same plus `:`; neither may hold two dots in a row. A port
/// is digits up to 65535 (empty allowed: `host:`); a literal may only be
/// followed by one. A trailing dot is dropped; nothing left is invalid.
pub fn validate_host(host: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let host = trim(host);
    let mut state = HostState::Start;
    let mut host_len = host.len();
    let mut last_dot: Option<usize> = None;
    let mut port: u32 = 0;
    for (i, &ch) in host.iter().enumerate() {
        if state == HostState::Start {
            if ch == b'[' {
                state = HostState::IpLiteral;
                continue;
            }
            state = HostState::Name;
        }
        match state {
            HostState::Name | HostState::IpLiteral => {
                let literal = state == HostState::IpLiteral;
                match ch {
                    b'.' => {
                        if i > 0 && last_dot == Some(i - 1) {
                            return false;
                        }
                        last_dot = Some(i);
                    }
                    b':' if !literal => {
                        host_len = i;
                        state = HostState::Port;
                    }
                    b':' => {}
                    b']' if literal => {
                        host_len = i + 1;
                        state = HostState::LiteralEnd;
                    }
                    b'%' if !literal => {}
                    b'-' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+'
                    | b',' | b';' | b'=' => {}
                    _ if ch.is_ascii_alphanumeric() => {}
                    _ => return false,
                }
            }
            HostState::LiteralEnd => {
                if ch != b':' {
                    return false;
                }
                state = HostState::Port;
            }
            HostState::Port => {
                if !ch.is_ascii_digit() {
                    return false;
                }
                port = port * 10 + u32::from(ch - b'0');
                if port > 65535 {
                    return false;
                }
            }
            HostState::Start => {}
        }
    }
    if state == HostState::IpLiteral {
        return false;
    }
    if host_len > 0 && last_dot == Some(host_len - 1) {
        host_len -= 1;
    }
    if host_len == 0 {
        return false;
    }
    out.extend_from_slice(&host[..host_len]);
    out.make_ascii_lowercase();
    true
}

/// What `keepalive_disable` cares about in a User-Agent
/// (ngx_http_process_user_agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserAgent {
    /// MSIE 4–6 (MSIE 6 with the SV1 update excepted).
    pub msie6: bool,
    /// Safari on macOS (not Chrome).
    pub safari: bool,
}

/// Classifies a User-Agent value the way nginx does for keepalive_disable.
pub fn classify_user_agent(ua: &[u8]) -> UserAgent {
    let mut out = UserAgent::default();
    if let Some(at) = find(ua, b"MSIE ") {
        let v = &ua[at + 5..];
        if v.len() > 2 && v[1] == b'.' && find(ua, b"Opera").is_none() {
            out.msie6 = match v[0] {
                b'4' | b'5' => true,
                b'6' => find(&v[2..], b"SV1").is_none(),
                _ => false,
            };
        }
    }
    if find(ua, b"Safari/").is_some()
        && find(ua, b"Mac OS X").is_some()
        && find(ua, b"Chrome/").is_none()
    {
        out.safari = true;
    }
    out
}

/// The Content-Length check of ngx_http_process_request_header (ngx_atoof).
/// Parses a Content-Length value: digits only (RFC 9110 §8.6), no sign, no
/// overflow. None means 400.
pub fn parse_content_length(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // nginx's limit is the largest off_t (2^63 - 1).
    v.iter()
        .try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .filter(|&n| n <= i64::MAX as u64)
}

/// Why a request target was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// Not origin-form or absolute-form, bad escape, NUL, or `..` above the root: 400.
    Invalid,
}

/// What [`parse_target`] returns: the host of an absolute-form target and
/// the query, as ranges of the target.
pub type ParsedTarget = (Option<(usize, usize)>, Option<(usize, usize)>);

/// Mirrors ngx_http_parse_complex_uri() (and the absolute-form part of
/// ngx_http_parse_request_line): decodes a request target into `uri` (the
/// path: `%XX` decoded, `//` merged, `.` and `..` segments resolved, cut at
/// `#`) and returns the host of an absolute-form target and the query, as
/// ranges of `target`.
pub fn parse_target(target: &[u8], uri: &mut Vec<u8>) -> Result<ParsedTarget, UriError> {
    parse_target_with(target, uri, true)
}

/// [`parse_target`] with `merge_slashes` as configured: `false` keeps empty
/// segments (`//`), and `..` removes the segment before it even when that is
/// empty, as nginx does with `merge_slashes off`.
pub fn parse_target_with(
    target: &[u8],
    uri: &mut Vec<u8>,
    merge_slashes: bool,
) -> Result<ParsedTarget, UriError> {
    uri.clear();
    let mut host = None;
    let mut path_start = 0;
    if target.first() != Some(&b'/') {
        // absolute-form (RFC 9112 §3.2.2): scheme "://" authority path
        let scheme_end = find(target, b"://").ok_or(UriError::Invalid)?;
        let scheme = &target[..scheme_end];
        if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
            return Err(UriError::Invalid);
        }
        let auth_start = scheme_end + 3;
        let auth_end = target[auth_start..]
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .map_or(target.len(), |p| auth_start + p);
        if auth_end == auth_start {
            return Err(UriError::Invalid);
        }
        host = Some((auth_start, auth_end - auth_start));
        path_start = auth_end;
    }
    // A fragment is not sent in requests (RFC 9110 §4.2.5); nginx ends the
    // path at `#`, so does holdfast — what follows is neither path nor query.
    let target = &target[..memchr(b'#', target).unwrap_or(target.len())];
    let rest = &target[path_start.min(target.len())..];
    let (path, query) = match memchr(b'?', rest) {
        Some(q) => (&rest[..q], Some((path_start + q + 1, rest.len() - q - 1))),
        None => (rest, None),
    };
    // Fast path: nothing to decode or resolve (no `%`, no `//`, no `/.`).
    if path.first() == Some(&b'/')
        && memchr(b'%', path).is_none()
        && !path
            .windows(2)
            .any(|w| w[0] == b'/' && (w[1] == b'/' || w[1] == b'.'))
    {
        uri.extend_from_slice(path);
        return Ok((host, query));
    }
    uri.push(b'/');
    let path = path.strip_prefix(b"/").unwrap_or(path);
    let mut i = 0;
    // Decode into `uri`, resolving segments as each '/' (decoded or not) arrives.
    while i < path.len() {
        let mut ch = path[i];
        i += 1;
        if ch == b'%' {
            let (Some(&h), Some(&l)) = (path.get(i), path.get(i + 1)) else {
                return Err(UriError::Invalid);
            };
            let (Some(h), Some(l)) = (hex(h), hex(l)) else {
                return Err(UriError::Invalid);
            };
            ch = (h << 4) | l;
            i += 2;
            if ch == 0 {
                return Err(UriError::Invalid);
            }
        }
        if ch == b'/' {
            // A `.` or `..` segment closed here leaves `uri` ending in the
            // slash before it; otherwise the slash is kept, or merged into
            // the previous one.
            let resolved = close_segment(uri)?;
            if !resolved && (!merge_slashes || uri.last() != Some(&b'/')) {
                uri.push(b'/');
            }
        } else {
            uri.push(ch);
        }
    }
    close_segment(uri)?;
    Ok((host, query))
}

/// Resolves the segment `uri` ends with, if it is `.` or `..` (true then):
/// `uri` is left ending in a slash.
fn close_segment(uri: &mut Vec<u8>) -> Result<bool, UriError> {
    if uri.ends_with(b"/.") {
        uri.pop();
        Ok(true)
    } else if uri.ends_with(b"/..") {
        uri.truncate(uri.len() - 3);
        if uri.is_empty() {
            return Err(UriError::Invalid);
        }
        while uri.last() != Some(&b'/') {
            uri.pop();
        }
        Ok(true)
    } else {
        Ok(false)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Mirrors ngx_http_parse_unsafe_uri(): a URI a peer names
/// (X-Accel-Redirect) split at its first `?`, its path `%`-decoded; None
/// when it is unsafe (a `..` segment before or after decoding, a NUL).
pub fn parse_unsafe_uri(raw: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let (path, args) = match memchr(b'?', raw) {
        Some(q) => (&raw[..q], Some(raw[q + 1..].to_vec())),
        None => (raw, None),
    };
    let mut uri = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (path[i], path.get(i + 1).copied(), path.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                uri.push(v as u8);
                i += 3;
            }
            (b, _, _) => {
                uri.push(b);
                i += 1;
            }
        }
    }
    let unsafe_segment = uri.split(|&b| b == b'/').any(|seg| seg == b"..");
    if uri.is_empty() || uri.contains(&0) || unsafe_segment {
        return None;
    }
    Some((uri, args))
}

/// Trims spaces and tabs (OWS) from both ends.
pub fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Position of a byte.
pub fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Position of a byte string.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unsafe_uris_are_refused_and_safe_ones_decoded() {
        let p = super::parse_unsafe_uri;
        assert_eq!(
            p(b"/a/b?x=1"),
            Some((b"/a/b".to_vec(), Some(b"x=1".to_vec())))
        );
        assert_eq!(p(b"/foo%20bar"), Some((b"/foo bar".to_vec(), None)));
        for bad in [
            &b".."[..],
            b"../foo",
            b"/foo/..",
            b"/foo/.%2e",
            b"/a/../b",
            b"/a%00",
            b"",
        ] {
            assert_eq!(p(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert!(p(b"/a..b/.c").is_some());
    }

    use super::*;

    fn target(t: &str) -> Result<(String, Option<String>), UriError> {
        let mut uri = Vec::new();
        let (host, _) = parse_target(t.as_bytes(), &mut uri)?;
        Ok((
            String::from_utf8(uri).unwrap(),
            host.map(|(o, l)| String::from_utf8(t.as_bytes()[o..o + l].to_vec()).unwrap()),
        ))
    }

    #[test]
    fn request_line_stages() {
        assert_eq!(parse_request_line(b"GET / HTTP/1.1"), LineStatus::Partial);
        assert!(matches!(
            parse_request_line(b"GET /a?b HTTP/1.0\r\nHost: x\r\n"),
            LineStatus::Done {
                len: 19,
                method: Method::Get,
                uri: (4, 4),
                version: Version::Http10,
                future_minor: None
            }
        ));
        assert_eq!(
            parse_request_line(b"GET / HTTP/2.0\r\n"),
            LineStatus::VersionNotSupported
        );
        assert_eq!(
            parse_request_line(b"GET / HTTP/3\r\n"),
            LineStatus::VersionNotSupported
        );
        assert_eq!(
            parse_request_line(b"GET / HTTX/1.1\r\n"),
            LineStatus::Invalid
        );
        assert_eq!(
            parse_request_line(b"GET  / HTTP/1.1\r\n"),
            LineStatus::Invalid
        );
        assert_eq!(
            parse_request_line(b"G\x01T / HTTP/1.1\r\n"),
            LineStatus::Invalid
        );
        assert_eq!(parse_request_line(b"GET /\r\n"), LineStatus::Invalid);
        assert_eq!(
            parse_request_line(b"get / HTTP/1.1\r\n"),
            LineStatus::Invalid
        );
        assert!(matches!(
            parse_request_line(b"M-SEARCH /x HTTP/1.1\r\n"),
            LineStatus::Done { .. }
        ));
    }

    #[test]
    fn head_parse_reports_headers() {
        let data = b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\nNEXT";
        let mut seen = Vec::new();
        let st = parse_head(data, |h| seen.push(h));
        assert_eq!(st, HeadStatus::Done(data.len() - 4));
        assert_eq!(seen.len(), 2);
        let h = seen[1];
        assert_eq!(&data[h.name.0..h.name.0 + h.name.1], b"X");
        assert_eq!(&data[h.value.0..h.value.0 + h.value.1], b"y");
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n", |_| {}),
            HeadStatus::Partial
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost a\r\n\r\n", |_| {}),
            HeadStatus::Invalid
        );
    }

    #[test]
    fn connection_tokens() {
        use ConnectionType::*;
        assert_eq!(connection_type(b"close", None), Close);
        assert_eq!(connection_type(b"Keep-Alive", None), KeepAlive);
        assert_eq!(connection_type(b"keep-alive, CLOSE", None), Close);
        assert_eq!(connection_type(b"Upgrade , keep-alive", None), KeepAlive);
        assert_eq!(connection_type(b"closed", None), None);
        assert_eq!(connection_type(b"keep-alive", Close), Close);
    }

    #[test]
    fn uri_escaping_is_nginx_uri_table() {
        let mut out = Vec::new();
        escape_uri(
            b"/a dir/q?x#y%z\r\n\"<>\\^`{|}\x7f\xc3\xa9ok-._~!$&'()*+,;=:@/",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "/a%20dir/q%3Fx%23y%25z%0D%0A%22%3C%3E%5C%5E%60%7B%7C%7D%7F%C3%A9ok-._~!$&'()*+,;=:@/"
        );
    }

    #[test]
    fn host_validation() {
        let mut out = Vec::new();
        assert!(validate_host(b"Example.COM:8080", &mut out));
        assert_eq!(out, b"example.com");
        assert!(validate_host(b"example.com.", &mut out));
        assert_eq!(out, b"example.com");
        assert!(validate_host(b"[::1]:80", &mut out));
        assert_eq!(out, b"[::1]");
        // As nginx: a leading dot and a bare `%` pass; an empty port too.
        for (ok, want) in [
            (&b".a"[..], &b".a"[..]),
            (b"a%zz", b"a%zz"),
            (b"host:", b"host"),
            (b"[v1F.a:b]:1", b"[v1f.a:b]"),
            (b"[::1]", b"[::1]"),
        ] {
            assert!(validate_host(ok, &mut out), "{ok:?}");
            assert_eq!(out, want);
        }
        for bad in [
            &b""[..],
            b"a/b",
            b"..",
            b".",
            b"a..b",
            b"a:b",
            b"a\\b",
            b"[::1",
            b"[ab..cd::]",
            b"[::1].",
            b"[::1]x",
            b"a:65536",
            b"a:1:2",
            b"a:1.2",
            b"x[::1]",
        ] {
            assert!(
                !validate_host(bad, &mut out),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn user_agents() {
        let msie6 = classify_user_agent(b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)");
        assert!(msie6.msie6 && !msie6.safari);
        assert!(
            !classify_user_agent(b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)").msie6
        );
        assert!(!classify_user_agent(b"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)").msie6);
        assert!(classify_user_agent(b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15").safari);
        assert!(
            !classify_user_agent(
                b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/120.0 Safari/537.36"
            )
            .safari
        );
        assert_eq!(classify_user_agent(b"curl/8.0"), UserAgent::default());
    }

    #[test]
    fn content_length_values() {
        assert_eq!(parse_content_length(b"42"), Some(42));
        assert_eq!(parse_content_length(b" 0 "), Some(0));
        assert_eq!(parse_content_length(b"+1"), None);
        assert_eq!(parse_content_length(b"-1"), None);
        assert_eq!(parse_content_length(b"1,1"), None);
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"99999999999999999999999"), None);
    }

    #[test]
    fn merge_slashes_off_keeps_empty_segments() {
        let mut uri = Vec::new();
        for (target, merged, kept) in [
            ("/foo//../bar", "/bar", "/foo/bar"),
            ("/foo///../bar", "/bar", "/foo//bar"),
            ("//a//b", "/a/b", "//a//b"),
            ("/a/%2F/b", "/a/b", "/a///b"),
            ("/a//./b", "/a/b", "/a//b"),
            ("/a/x/..", "/a/", "/a/"),
        ] {
            parse_target_with(target.as_bytes(), &mut uri, true).unwrap();
            assert_eq!(String::from_utf8_lossy(&uri), merged, "{target} merged");
            parse_target_with(target.as_bytes(), &mut uri, false).unwrap();
            assert_eq!(String::from_utf8_lossy(&uri), kept, "{target} kept");
        }
    }

    #[test]
    fn targets_decode_and_normalise() {
        assert_eq!(target("/").unwrap().0, "/");
        assert_eq!(target("/a/b?x=1").unwrap().0, "/a/b");
        assert_eq!(target("/a//b/./c/").unwrap().0, "/a/b/c/");
        assert_eq!(target("/a/../b").unwrap().0, "/b");
        assert_eq!(target("/a/b/..").unwrap().0, "/a/");
        assert_eq!(target("/%41%2e/x").unwrap().0, "/A./x");
        assert_eq!(target("/a/%2e%2e/b").unwrap().0, "/b");
        assert_eq!(target("/a%2f..%2fb").unwrap().0, "/b");
        assert_eq!(
            target("http://Host:81/p?q").unwrap(),
            ("/p".into(), Some("Host:81".into()))
        );
        assert_eq!(target("http://h").unwrap().0, "/");
        assert_eq!(target("/a#/../../x").unwrap().0, "/a");
        assert_eq!(target("/a?b#c").unwrap().0, "/a");
        for bad in [
            "/../x",
            "/%2e%2e/x",
            "/a/../../x",
            "/..",
            "/%2e%2e%2fx",
            "/%00",
            "/%zz",
            "/%4",
            "*",
            "ftp://h/",
            "http:///x",
        ] {
            assert_eq!(target(bad), Err(UriError::Invalid), "{bad}");
        }
    }
}
