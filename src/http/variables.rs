//! Variables, run-time side: the `get_handler`s of nginx's
//! `ngx_http_variables.c` (and the log module's own variables), and
//! ngx_http_complex_value(), which evaluates a compiled template.
//!
//! Values are appended to a caller's buffer; nothing is allocated per
//! lookup except where the value needs the system (`$realpath_root`).

use std::cell::Cell;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

use crate::conf::variables::{Segment, Variable};
use crate::core::cycle::Cycle;
use crate::http::parse::{self, Version};
use crate::os::io::Transport;

/// The nginx version holdfast answers for (`$nginx_version`, `holdfast
/// -V`): the release whose HTTP/1 request handling it follows (strict
/// chunked framing and Host syntax of 1.29.4, CONNECT refused with 405 as
/// since 1.29.3). nginx's own test suite reads it to decide which of its
/// checks are still "not yet" for a build.
pub const NGINX_VERSION: &str = "1.29.4";

/// Mirrors ngx_http_complex_value(): evaluates `segments` into `out`; a
/// variable without a value adds nothing.
pub fn complex_value<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    segments: &[Segment],
    out: &mut Vec<u8>,
) {
    for seg in segments {
        match seg {
            Segment::Literal(text) => out.extend_from_slice(text),
            Segment::Var(var) => {
                variable_value(cy, key, var, out);
            }
        }
    }
}

fn push_num(out: &mut Vec<u8>, v: u64) {
    let _ = write!(out, "{v}");
}

fn push_secs_ms(out: &mut Vec<u8>, ms: u64) {
    let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
}

/// The machine's host name as text (`server_name $hostname`).
pub fn hostname_text() -> String {
    String::from_utf8_lossy(hostname()).into_owned()
}

/// `$hostname`, read once (nginx reads it at start-up).
fn hostname() -> &'static [u8] {
    static NAME: OnceLock<Vec<u8>> = OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return Vec::new();
        }
        let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        buf[..len].to_ascii_lowercase()
    })
}

/// A per-request random id for `$request_id` (nginx: 16 random bytes).
pub fn new_request_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    // SAFETY: getrandom writes at most id.len() bytes into id.
    let n = unsafe { libc::getrandom(id.as_mut_ptr().cast(), id.len(), 0) };
    if n != id.len() as isize {
        // No entropy source: a counter mixed with the time still tells
        // requests apart, which is what the variable is for.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let c = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        id[..8].copy_from_slice(&c.to_le_bytes());
        id[8..].copy_from_slice(&t.to_le_bytes());
    }
    id
}

/// The value of a variable for a connection's current request, appended to
/// `out`; false when it has none (nginx's `not_found`).
pub fn variable_value<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    var: &Variable,
    out: &mut Vec<u8>,
) -> bool {
    let c = &cy.conns[key];
    let r = c.req();
    let head = match (r, c.buf()) {
        (Some(r), Some(b)) if r.head_len > 0 || r.line_len > 0 => {
            &b.mem[b.pos..(b.pos + r.head_len.max(r.line_len)).min(b.last)]
        }
        _ => &[][..],
    };
    let now = cy.clock.now_ms;
    match var {
        // A unix-domain peer has no address: nginx prints `unix:`.
        Variable::RemoteAddr if c.unix => out.extend_from_slice(b"unix:"),
        Variable::RemoteAddr => {
            let _ = write!(out, "{}", c.ip);
        }
        Variable::BinaryRemoteAddr if c.unix => {}
        Variable::BinaryRemoteAddr => match c.ip {
            IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
        },
        Variable::RemotePort if c.unix => {}
        Variable::RemotePort => push_num(out, u64::from(c.port)),
        Variable::RemoteUser => return false,
        Variable::TimeLocal => out.extend_from_slice(&cy.clock.time_local),
        Variable::TimeIso8601 => out.extend_from_slice(&cy.clock.time_iso8601),
        Variable::Msec => push_secs_ms(out, cy.clock.unix_ms),
        Variable::Connection => push_num(out, c.number),
        Variable::ConnectionRequests => push_num(out, c.requests),
        Variable::ConnectionTime => push_secs_ms(out, now.saturating_sub(c.start_ms)),
        Variable::ConnectionsActive => push_num(out, cy.stats.active),
        Variable::ConnectionsReading => push_num(out, cy.stats.reading),
        Variable::ConnectionsWriting => push_num(out, cy.stats.writing),
        Variable::ConnectionsWaiting => push_num(out, cy.stats.waiting),
        Variable::Scheme => out.extend_from_slice(if c.stream.ssl().is_some() {
            b"https"
        } else {
            b"http"
        }),
        Variable::Https => {
            if c.stream.ssl().is_some() {
                out.extend_from_slice(b"on");
            }
        }
        // ngx_http_ssl_module's variables: not found without TLS.
        Variable::SslProtocol => match c.stream.ssl().and_then(|t| t.protocol()) {
            Some(p) => out.extend_from_slice(p.as_bytes()),
            None => return false,
        },
        Variable::SslCipher => match c.stream.ssl().and_then(|t| t.cipher()) {
            Some(p) => out.extend_from_slice(p.as_bytes()),
            None => return false,
        },
        Variable::SslServerName => match c.stream.ssl().and_then(|t| t.server_name()) {
            Some(p) => out.extend_from_slice(p.as_bytes()),
            None => return false,
        },
        Variable::SslSessionReused => match c.stream.ssl() {
            Some(t) => out.push(if t.reused() { b'r' } else { b'.' }),
            None => return false,
        },
        Variable::SslEarlyData => match c.stream.ssl() {
            Some(t) if t.in_early_data() => out.push(b'1'),
            Some(_) => {}
            None => return false,
        },
        Variable::SslClientVerify
        | Variable::SslClientCert
        | Variable::SslClientRawCert
        | Variable::SslClientEscapedCert
        | Variable::SslClientFingerprint
        | Variable::SslClientSerial
        | Variable::SslClientSDn
        | Variable::SslClientIDn => {
            let verify = r.map(|r| r.ssl_client);
            return crate::http::ssl_client::variable(var, c.stream.ssl(), verify, out);
        }
        Variable::Hostname => out.extend_from_slice(hostname()),
        Variable::Pid => push_num(out, u64::from(std::process::id())),
        Variable::NginxVersion => out.extend_from_slice(NGINX_VERSION.as_bytes()),
        Variable::ServerPort if c.unix => {}
        Variable::ServerPort => push_num(out, u64::from(cy.listening[c.li()].addr.port())),
        Variable::ServerAddr if c.unix => {
            let _ = write!(out, "{}", cy.listening[c.li()].addr);
        }
        Variable::ServerAddr => match crate::os::net::local_addr(c.stream.fd()) {
            Some(addr) => {
                let _ = write!(out, "{}", addr.ip());
            }
            None => return false,
        },
        _ => {
            let Some(r) = r else { return false };
            return request_variable(cy, key, r, head, var, now, out);
        }
    }
    true
}

/// The variables that need a request.
fn request_variable<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    r: &crate::http::request::Request,
    head: &[u8],
    var: &Variable,
    now: u64,
    out: &mut Vec<u8>,
) -> bool {
    let args = || r.args(head);
    match var {
        Variable::Capture(n) => {
            if let Some(&(s, e)) = r.captures.get(usize::from(*n)) {
                out.extend_from_slice(r.captures_data.get(s..e).unwrap_or_default());
            }
        }
        Variable::User(i) => match r.vars.get(usize::from(*i)).and_then(Option::as_ref) {
            Some(v) => out.extend_from_slice(v),
            None => {
                if r.loc
                    .as_ref()
                    .is_some_and(|l| l.uninitialized_variable_warn)
                {
                    let name = cy
                        .conf
                        .http
                        .as_ref()
                        .and_then(|h| h.user_vars.get(usize::from(*i)))
                        .map_or("", |n| n.as_str());
                    log::warn!(
                        "*{} using uninitialized \"{name}\" variable{}",
                        cy.conns[key].number,
                        crate::http::request::log_ctx(cy, key)
                    );
                }
                return false;
            }
        },
        Variable::Map(i) => return crate::http::map_module::map_variable(cy, key, *i, out),
        Variable::NamedCapture(name) => {
            let group = r.capture_regex.as_ref().and_then(|re| {
                re.capture_names()
                    .position(|n| n.is_some_and(|n| n.eq_ignore_ascii_case(name)))
            });
            if let Some(&(s, e)) = group.and_then(|i| r.captures.get(i)) {
                out.extend_from_slice(r.captures_data.get(s..e).unwrap_or_default());
            }
        }
        Variable::Request if r.line_len > 0 => {
            out.extend_from_slice(&head[..r.line_len.min(head.len())])
        }
        // An error page's redirect made it a GET (ngx_http_send_error_page).
        Variable::RequestMethod
            if (r.error_page || r.method_rewritten) && r.method == parse::Method::Get =>
        {
            out.extend_from_slice(b"GET")
        }
        Variable::RequestMethod if r.line_len > 0 => {
            let line = &head[..r.line_len.min(head.len())];
            out.extend_from_slice(line.split(|&b| b == b' ').next().unwrap_or_default());
        }
        Variable::RequestUri if r.target.1 > 0 => out.extend_from_slice(
            head.get(r.target.0..r.target.0 + r.target.1)
                .unwrap_or_default(),
        ),
        Variable::Uri if !r.uri.is_empty() => out.extend_from_slice(&r.uri),
        Variable::Args => match args() {
            Some(a) => out.extend_from_slice(a),
            None => return false,
        },
        Variable::IsArgs => {
            if r.args(head).is_some() || (r.args_rw.is_none() && r.args.is_some()) {
                out.push(b'?');
            }
        }
        Variable::Arg(name) if name.is_empty() => return false,
        Variable::Cookie(name)
        | Variable::HttpHeader(name)
        | Variable::SentHttp(name)
        | Variable::UpstreamHttp(name)
        | Variable::UpstreamCookie(name)
            if name.is_empty() =>
        {
            return false;
        }
        Variable::Arg(name) => match args().and_then(|a| arg(a, name)) {
            Some(v) => out.extend_from_slice(v),
            None => return false,
        },
        Variable::ServerProtocol if r.line_len > 0 => out.extend_from_slice(match r.version {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }),
        Variable::Status => {
            let _ = write!(out, "{:03}", r.status);
        }
        Variable::BodyBytesSent => push_num(out, r.body_bytes),
        Variable::BytesSent => push_num(out, r.header_bytes + r.body_bytes),
        Variable::RequestLength => push_num(out, r.request_length),
        Variable::RequestTime => push_secs_ms(out, now.saturating_sub(r.start_ms)),
        Variable::Pipe => out.push(if r.pipeline { b'p' } else { b'.' }),
        Variable::GzipRatio => {
            match r
                .body_filter
                .as_deref()
                .and_then(crate::http::gzip_filter::gzip_ratio)
            {
                Some(v) => out.extend_from_slice(v.as_bytes()),
                None => return false,
            }
        }
        Variable::Host => {
            if r.has_host {
                out.extend_from_slice(&r.host);
            } else if let Some(s) = r.server.as_ref() {
                out.extend_from_slice(s.server_name().as_bytes());
            }
        }
        Variable::ServerName => {
            let name = r.server.as_ref().map_or("", |s| s.server_name());
            out.extend_from_slice(name.as_bytes());
        }
        Variable::HttpHeader(name) => return http_header(head, r.line_len, name, out),
        Variable::ContentLength => {
            return http_header(head, r.line_len, b"content-length", out);
        }
        Variable::ContentType => return http_header(head, r.line_len, b"content-type", out),
        Variable::Cookie(name) => {
            let mut cookies = Vec::new();
            if !http_header(head, r.line_len, b"cookie", &mut cookies) {
                return false;
            }
            match cookie(&cookies, name) {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            }
        }
        Variable::SentHttp(name) => return sent_header(&r.sent_head, name, out),
        Variable::DocumentRoot => {
            if crate::http::core_module::root_path(cy, key, out).is_none() {
                return false;
            }
        }
        Variable::RealpathRoot => {
            let mut root = Vec::new();
            if crate::http::core_module::root_path(cy, key, &mut root).is_none() {
                return false;
            }
            let root = std::path::PathBuf::from(std::ffi::OsString::from_vec(root));
            match std::fs::canonicalize(&root) {
                Ok(p) => out.extend_from_slice(p.as_os_str().as_encoded_bytes()),
                Err(e) => {
                    log::error!(
                        "*{} realpath() \"{}\" failed ({})",
                        cy.conns[key].number,
                        root.display(),
                        crate::os::io::OsErr(&e)
                    );
                    return false;
                }
            }
        }
        Variable::RequestFilename => {
            let mut path = Vec::new();
            if crate::http::core_module::map_uri_to_path(cy, key, &mut path).is_none() {
                return false;
            }
            out.extend_from_slice(&path);
        }
        Variable::LimitRate => push_num(out, r.limit_rate),
        Variable::ProxyHost | Variable::ProxyPort => {
            // A `proxy_pass` with variables: what it evaluated to.
            let pass = match &r.resolved {
                Some(res) => Some(&res.pass),
                None => r.loc.as_ref().and_then(|l| l.proxy.pass.as_ref()),
            };
            let Some(pass) = pass.filter(|p| p.vars.is_none()) else {
                return false;
            };
            if *var == Variable::ProxyHost {
                out.extend_from_slice(pass.host.as_bytes());
            } else {
                push_num(out, u64::from(pass.addr.port()));
            }
        }
        Variable::ProxyAddXForwardedFor => {
            if http_header(head, r.line_len, b"x-forwarded-for", out) {
                out.extend_from_slice(b", ");
            }
            let c = &cy.conns[key];
            if c.unix {
                out.extend_from_slice(b"unix:");
            } else {
                let _ = write!(out, "{}", c.ip);
            }
        }
        Variable::UpstreamAddr
        | Variable::UpstreamStatus
        | Variable::UpstreamConnectTime
        | Variable::UpstreamHeaderTime
        | Variable::UpstreamResponseTime
        | Variable::UpstreamResponseLength
        | Variable::UpstreamBytesReceived
        | Variable::UpstreamBytesSent => {
            // ngx_http_variable_upstream_addr / _status / _response_time:
            // one entry per try, `, `-separated.
            if r.upstream_tries.is_empty() {
                return false;
            }
            for (i, t) in r.upstream_tries.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                let ms = match var {
                    Variable::UpstreamAddr => {
                        match &t.addr {
                            crate::http::request::TryAddr::Peer(a) => {
                                let _ = write!(out, "{a}");
                            }
                            crate::http::request::TryAddr::Name(n) => {
                                out.extend_from_slice(n.as_bytes())
                            }
                        }
                        continue;
                    }
                    Variable::UpstreamStatus => {
                        match t.status {
                            0 => out.push(b'-'),
                            s => push_num(out, u64::from(s)),
                        }
                        continue;
                    }
                    Variable::UpstreamResponseLength
                    | Variable::UpstreamBytesReceived
                    | Variable::UpstreamBytesSent => {
                        push_num(
                            out,
                            match var {
                                Variable::UpstreamResponseLength => t.response_length,
                                Variable::UpstreamBytesReceived => t.bytes_received,
                                _ => t.bytes_sent,
                            },
                        );
                        continue;
                    }
                    Variable::UpstreamConnectTime => t.connect_ms,
                    Variable::UpstreamHeaderTime => t.header_ms,
                    _ => t.response_ms,
                };
                match ms {
                    Some(ms) => push_secs_ms(out, ms),
                    None => out.push(b'-'),
                }
            }
        }
        Variable::UpstreamHttp(name) => return sent_header(&r.upstream_head, name, out),
        Variable::UpstreamCookie(name) => {
            let mut cookies = Vec::new();
            if !sent_header(&r.upstream_head, b"set-cookie", &mut cookies) {
                return false;
            }
            // ngx_http_parse_set_cookie_lines: `NAME=VALUE` before each
            // cookie's attributes (the lines were joined with `; `).
            let found = cookies.split(|&b| b == b';').find_map(|part| {
                let part = parse::trim(part);
                let eq = parse::memchr(b'=', part)?;
                // Spaces around `=` are skipped, tabs are not (nginx).
                let spaces = |v: &[u8]| -> usize { v.iter().take_while(|&&b| b == b' ').count() };
                let key = &part[..eq];
                let key = &key[..key.len() - key.iter().rev().take_while(|&&b| b == b' ').count()];
                let value = &part[eq + 1..];
                key.eq_ignore_ascii_case(name)
                    .then(|| &value[spaces(value)..])
            });
            match found {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            }
        }
        Variable::RequestBody => match &r.request_body {
            Some(b) if r.request_body_file.is_none() => out.extend_from_slice(b),
            _ => return false,
        },
        Variable::RequestBodyFile => match &r.request_body_file {
            Some(f) => out.extend_from_slice(f.name.as_os_str().as_encoded_bytes()),
            None => return false,
        },
        Variable::RequestId => {
            let id = request_id(&r.request_id);
            for b in id {
                let _ = write!(out, "{b:02x}");
            }
        }
        _ => return false,
    }
    true
}

/// The request's id, made on first use.
fn request_id(slot: &Cell<Option<[u8; 16]>>) -> [u8; 16] {
    match slot.get() {
        Some(id) => id,
        None => {
            let id = new_request_id();
            slot.set(Some(id));
            id
        }
    }
}

/// Mirrors ngx_http_arg(): the value of the first `NAME=VALUE` argument
/// whose name matches (case-insensitive), as sent (not decoded).
pub fn arg<'a>(args: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    args.split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = match parse::memchr(b'=', pair) {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// Mirrors ngx_http_parse_multi_header_lines() on the Cookie values:
/// `NAME=VALUE` pairs separated by `;` (or `,`), names matched ignoring case.
fn cookie<'a>(cookies: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    cookies.split(|&b| b == b';' || b == b',').find_map(|pair| {
        let pair = parse::trim(pair);
        let eq = parse::memchr(b'=', pair)?;
        pair[..eq]
            .eq_ignore_ascii_case(name)
            .then(|| &pair[eq + 1..])
    })
}

/// `$http_NAME`: every header line whose name matches (case-insensitive;
/// names nginx ignores, such as ones with `_`, never match), values joined
/// with `, ` (`; ` for Cookie, as nginx joins cookies).
pub fn http_header(head: &[u8], line_len: usize, want: &[u8], out: &mut Vec<u8>) -> bool {
    let mut found = false;
    let sep: &[u8] = if want == b"cookie" { b"; " } else { b", " };
    let mut lines = head
        .get(line_len..)
        .unwrap_or_default()
        .split(|&b| b == b'\n');
    lines.next(); // the rest of the request line
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = parse::memchr(b':', line) else {
            continue;
        };
        let name = &line[..colon];
        let matches = name.len() == want.len()
            && parse::is_valid_header_name(name)
            && name
                .iter()
                .zip(want)
                .all(|(&a, &w)| a.to_ascii_lowercase() == w);
        if matches {
            if found {
                out.extend_from_slice(sep);
            }
            out.extend_from_slice(parse::trim(&line[colon + 1..]));
            found = true;
        }
    }
    found
}

/// `$sent_http_NAME`: a header of the response as it was sent (the copy the
/// header filter keeps when the configuration asks for these variables).
fn sent_header(head: &[u8], want: &[u8], out: &mut Vec<u8>) -> bool {
    let mut lines = head.split(|&b| b == b'\n');
    lines.next(); // the status line
    let mut found = false;
    // Several headers of the name are joined (nginx ≥ 1.23: `, `, and `; `
    // for Set-Cookie).
    let sep: &[u8] = if want.eq_ignore_ascii_case(b"set-cookie") {
        b"; "
    } else {
        b", "
    };
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = parse::memchr(b':', line) else {
            continue;
        };
        if line[..colon].eq_ignore_ascii_case(want) {
            if found {
                out.extend_from_slice(sep);
            }
            out.extend_from_slice(parse::trim(&line[colon + 1..]));
            found = true;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_headers_are_joined() {
        let head = b"HTTP/1.1 200 OK\r\nCache-Control: a\r\nX: 1\r\ncache-control: b\r\n\r\n";
        let mut out = Vec::new();
        assert!(sent_header(head, b"cache-control", &mut out));
        assert_eq!(out, b"a, b");
        out.clear();
        assert!(!sent_header(head, b"y", &mut out));
    }

    #[test]
    fn http_header_values_are_found_and_joined() {
        let head =
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Y: 1\r\nx_y: 2\r\nx-Y: 3\r\nUser-Agent: t/1\r\n\r\n";
        let mut out = Vec::new();
        assert!(http_header(head, 14, b"x-y", &mut out));
        assert_eq!(out, b"1, 3");
        out.clear();
        assert!(http_header(head, 14, b"user-agent", &mut out));
        assert_eq!(out, b"t/1");
        out.clear();
        assert!(!http_header(head, 14, b"referer", &mut out));
    }

    #[test]
    fn args_and_cookies() {
        assert_eq!(arg(b"a=1&B=2&b=3", b"b"), Some(&b"2"[..]));
        assert_eq!(arg(b"a=1&flag&c=", b"flag"), Some(&b""[..]));
        assert_eq!(arg(b"a=1&c=", b"c"), Some(&b""[..]));
        assert_eq!(arg(b"ab=1", b"a"), None);
        assert_eq!(arg(b"", b"a"), None);
        assert_eq!(cookie(b"a=1; SID=x y; c=3", b"sid"), Some(&b"x y"[..]));
        assert_eq!(cookie(b"a=1;b=2", b"b"), Some(&b"2"[..]));
        assert_eq!(cookie(b"a=1", b"b"), None);
        assert_eq!(cookie(b"noeq; a=1", b"noeq"), None);
    }

    #[test]
    fn sent_headers_are_found() {
        let head = b"HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive\r\n\r\n";
        let mut out = Vec::new();
        assert!(sent_header(head, b"connection", &mut out));
        assert_eq!(out, b"keep-alive");
        assert!(!sent_header(head, b"keep-alive", &mut out));
    }
}
