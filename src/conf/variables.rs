//! Variables, compile-time side: `$name` templates turned into segments once,
//! when the configuration is read, plus the access log's value escaping.
//! The values are looked up per request by `http::variables`.
//!
//! Mirrors the `$name` / `${name}` scanner of ngx_http_script_compile() (and its
//! twin in ngx_http_log_compile_format()), the name table of
//! ngx_http_variables.c with its `http_` prefix variables, and the access log's
//! ngx_http_log_escape() / ngx_escape_json(). Looking the values up for a
//! request is the runtime's business; this module only says *which* value.

use std::borrow::Cow;

/// A variable holdfast knows, resolved from its name at configuration time.
///
/// Names are case-insensitive, as in nginx (`$Remote_Addr` is `$remote_addr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Variable {
    /// `$remote_addr`: the client address.
    RemoteAddr,
    /// `$remote_user`: the Basic auth user name (holdfast has no auth: empty).
    RemoteUser,
    /// `$time_local`: `28/Sep/1970:12:00:00 +0600`.
    TimeLocal,
    /// `$time_iso8601`: `1970-09-28T12:00:00+06:00`.
    TimeIso8601,
    /// `$request`: the full request line.
    Request,
    /// `$request_method`.
    RequestMethod,
    /// `$uri` (also `$document_uri`): the normalized path, without arguments.
    Uri,
    /// `$request_uri`: the URI as sent, with arguments.
    RequestUri,
    /// `$args` (also `$query_string`): the part after `?`.
    Args,
    /// `$server_protocol`: `HTTP/1.1`.
    ServerProtocol,
    /// `$status`: the response status.
    Status,
    /// `$body_bytes_sent`: bytes of body sent (headers not counted).
    BodyBytesSent,
    /// `$bytes_sent`: all bytes sent for the request.
    BytesSent,
    /// `$request_length`: request line, header and body bytes read.
    RequestLength,
    /// `$request_time`: seconds with millisecond resolution since the first byte.
    RequestTime,
    /// `$connection`: the connection serial number.
    Connection,
    /// `$connection_requests`: requests made over this connection so far.
    ConnectionRequests,
    /// `$connection_time`: seconds (ms resolution) since the connection was accepted.
    ConnectionTime,
    /// `$connections_active` (stub_status's Active connections).
    ConnectionsActive,
    /// `$connections_reading`.
    ConnectionsReading,
    /// `$connections_writing`.
    ConnectionsWriting,
    /// `$connections_waiting`.
    ConnectionsWaiting,
    /// `$pipe`: `p` for a pipelined request, else `.`.
    Pipe,
    /// `$gzip_ratio`: bytes before over bytes after compression (not found
    /// for a response that was not compressed).
    GzipRatio,
    /// `$ssl_protocol` (`TLSv1.3`).
    SslProtocol,
    /// `$ssl_cipher` (OpenSSL's name of the suite).
    SslCipher,
    /// `$ssl_server_name` (SNI).
    SslServerName,
    /// `$ssl_session_reused`: `r` for a resumed session, else `.`.
    SslSessionReused,
    /// `$ssl_early_data`: `1` while the request came in TLS 1.3 early
    /// data and the handshake is not finished, else empty.
    SslEarlyData,
    /// `$ssl_client_verify`: SUCCESS, FAILED:reason or NONE.
    SslClientVerify,
    /// `$ssl_client_cert` (PEM, lines after the first start with a tab).
    SslClientCert,
    /// `$ssl_client_raw_cert` (PEM).
    SslClientRawCert,
    /// `$ssl_client_escaped_cert` (PEM, URI-component escaped).
    SslClientEscapedCert,
    /// `$ssl_client_fingerprint` (SHA-1 of the DER, hex).
    SslClientFingerprint,
    /// `$ssl_client_serial` (hex).
    SslClientSerial,
    /// `$ssl_client_s_dn` (RFC 2253).
    SslClientSDn,
    /// `$ssl_client_i_dn` (RFC 2253).
    SslClientIDn,
    /// `$msec`: the current time in seconds with millisecond resolution.
    Msec,
    /// `$host`: Host header (lower-cased, port stripped), else the server name.
    Host,
    /// `$server_name`: the first name of the server that handles the request.
    ServerName,
    /// `$server_port`: the port the request came in on.
    ServerPort,
    /// `$scheme`: `http`.
    Scheme,
    /// `$https`: `on` over TLS, else empty (holdfast has no TLS yet: empty).
    Https,
    /// `$hostname`: the machine's host name.
    Hostname,
    /// `$is_args`: `?` when the request has arguments, else empty.
    IsArgs,
    /// `$content_length`: the request's Content-Length header.
    ContentLength,
    /// `$content_type`: the request's Content-Type header.
    ContentType,
    /// `$server_addr`: the address the connection was accepted on.
    ServerAddr,
    /// `$remote_port`: the client's port.
    RemotePort,
    /// `$binary_remote_addr`: the client address as 4 or 16 bytes.
    BinaryRemoteAddr,
    /// `$document_root`: the `root` of the request's location.
    DocumentRoot,
    /// `$realpath_root`: `$document_root` with symbolic links resolved.
    RealpathRoot,
    /// `$request_filename`: the file the URI maps to (root + URI).
    RequestFilename,
    /// `$pid`: the worker's process id.
    Pid,
    /// `$nginx_version`: the nginx version holdfast answers for.
    NginxVersion,
    /// `$limit_rate`: the request's rate limit in bytes per second (0: none).
    LimitRate,
    /// `$request_id`: 32 hex digits, random per request.
    RequestId,
    /// `$proxy_host`: the `proxy_pass` URL's host and port as written.
    ProxyHost,
    /// `$proxy_port`: its port.
    ProxyPort,
    /// `$proxy_add_x_forwarded_for`: the request's X-Forwarded-For with
    /// the client address appended (or the address alone).
    ProxyAddXForwardedFor,
    /// `$upstream_addr`: the peer the response came from.
    UpstreamAddr,
    /// `$upstream_status`: its status.
    UpstreamStatus,
    /// `$request_body`: the body a proxied request read, when it is in
    /// memory (not found otherwise).
    RequestBody,
    /// `$request_body_file`: the temp file's name, when the body is in one.
    RequestBodyFile,
    /// `$upstream_connect_time`: seconds (ms resolution) to connect to the peer.
    UpstreamConnectTime,
    /// `$upstream_header_time`: seconds until the peer's response head.
    UpstreamHeaderTime,
    /// `$upstream_response_time`: seconds until the peer's whole response.
    UpstreamResponseTime,
    /// `$upstream_response_length`: each try's response body bytes.
    UpstreamResponseLength,
    /// `$upstream_bytes_received`: each try's bytes read from the peer.
    UpstreamBytesReceived,
    /// `$upstream_bytes_sent`: each try's bytes sent to the peer.
    UpstreamBytesSent,
    /// `$1`…`$9`: a capture of the regex location that matched (empty when
    /// there is none), as nginx's `r->captures` over the URI.
    Capture(u8),
    /// `$NAME` for a named group `(?<NAME>…)` / `(?P<NAME>…)` of a regex
    /// location: that group of the location that matched (empty when it is
    /// another location, or the group did not take part).
    NamedCapture(Box<str>),
    /// A variable of `set $NAME` (ngx_http_rewrite_module): the index of
    /// its name in the configuration's list; empty until a `set` runs.
    User(u16),
    /// A variable made by `map SOURCE $NAME { … }`: the index of the map in
    /// [`HttpConf::maps`](crate::conf::HttpConf::maps).
    Map(u16),
    /// `$arg_NAME`: the first argument called NAME (case-insensitive), as sent.
    Arg(Box<[u8]>),
    /// `$cookie_NAME`: the cookie called NAME (case-insensitive, as nginx's
    /// ngx_http_parse_multi_header_lines compares it).
    Cookie(Box<[u8]>),
    /// `$sent_http_NAME`: a response header (name lower-cased, `_` as `-`).
    SentHttp(Box<[u8]>),
    /// `$upstream_http_NAME`: a header of the peer's response.
    UpstreamHttp(Box<[u8]>),
    /// `$upstream_cookie_NAME`: a cookie the peer's `Set-Cookie` sets.
    UpstreamCookie(Box<[u8]>),
    /// `$http_NAME`: a request header. Holds the lower-cased header name with
    /// `_` turned into `-` (`$http_user_agent` → `user-agent`). Every header
    /// of that name (case-insensitive) counts, values joined with `, `; names
    /// nginx ignores (with `_` or other bytes outside `A-Za-z0-9-`) never match.
    HttpHeader(Box<[u8]>),
}

/// The plain (non-prefix) names, as nginx spells them.
const NAMES: &[(&str, Variable)] = &[
    ("remote_addr", Variable::RemoteAddr),
    ("remote_user", Variable::RemoteUser),
    ("time_local", Variable::TimeLocal),
    ("time_iso8601", Variable::TimeIso8601),
    ("request", Variable::Request),
    ("request_method", Variable::RequestMethod),
    ("uri", Variable::Uri),
    ("document_uri", Variable::Uri),
    ("request_uri", Variable::RequestUri),
    ("args", Variable::Args),
    ("query_string", Variable::Args),
    ("server_protocol", Variable::ServerProtocol),
    ("status", Variable::Status),
    ("body_bytes_sent", Variable::BodyBytesSent),
    ("bytes_sent", Variable::BytesSent),
    ("request_length", Variable::RequestLength),
    ("request_time", Variable::RequestTime),
    ("connection", Variable::Connection),
    ("connection_requests", Variable::ConnectionRequests),
    ("connection_time", Variable::ConnectionTime),
    ("connections_active", Variable::ConnectionsActive),
    ("connections_reading", Variable::ConnectionsReading),
    ("connections_writing", Variable::ConnectionsWriting),
    ("connections_waiting", Variable::ConnectionsWaiting),
    ("pipe", Variable::Pipe),
    ("gzip_ratio", Variable::GzipRatio),
    ("ssl_protocol", Variable::SslProtocol),
    ("ssl_cipher", Variable::SslCipher),
    ("ssl_server_name", Variable::SslServerName),
    ("ssl_session_reused", Variable::SslSessionReused),
    ("ssl_early_data", Variable::SslEarlyData),
    ("ssl_client_verify", Variable::SslClientVerify),
    ("ssl_client_cert", Variable::SslClientCert),
    ("ssl_client_raw_cert", Variable::SslClientRawCert),
    ("ssl_client_escaped_cert", Variable::SslClientEscapedCert),
    ("ssl_client_fingerprint", Variable::SslClientFingerprint),
    ("ssl_client_serial", Variable::SslClientSerial),
    ("ssl_client_s_dn", Variable::SslClientSDn),
    ("ssl_client_i_dn", Variable::SslClientIDn),
    ("msec", Variable::Msec),
    ("host", Variable::Host),
    ("server_name", Variable::ServerName),
    ("server_port", Variable::ServerPort),
    ("scheme", Variable::Scheme),
    ("https", Variable::Https),
    ("hostname", Variable::Hostname),
    ("is_args", Variable::IsArgs),
    ("content_length", Variable::ContentLength),
    ("content_type", Variable::ContentType),
    ("server_addr", Variable::ServerAddr),
    ("remote_port", Variable::RemotePort),
    ("binary_remote_addr", Variable::BinaryRemoteAddr),
    ("document_root", Variable::DocumentRoot),
    ("realpath_root", Variable::RealpathRoot),
    ("request_filename", Variable::RequestFilename),
    ("pid", Variable::Pid),
    ("nginx_version", Variable::NginxVersion),
    ("limit_rate", Variable::LimitRate),
    ("request_id", Variable::RequestId),
    ("proxy_host", Variable::ProxyHost),
    ("proxy_port", Variable::ProxyPort),
    ("proxy_add_x_forwarded_for", Variable::ProxyAddXForwardedFor),
    ("upstream_addr", Variable::UpstreamAddr),
    ("upstream_status", Variable::UpstreamStatus),
    ("request_body", Variable::RequestBody),
    ("request_body_file", Variable::RequestBodyFile),
    ("upstream_connect_time", Variable::UpstreamConnectTime),
    ("upstream_header_time", Variable::UpstreamHeaderTime),
    ("upstream_response_time", Variable::UpstreamResponseTime),
    ("upstream_response_length", Variable::UpstreamResponseLength),
    ("upstream_bytes_received", Variable::UpstreamBytesReceived),
    ("upstream_bytes_sent", Variable::UpstreamBytesSent),
];

/// Header-like names: lower-cased, `_` as `-` (`$http_user_agent` → `user-agent`).
fn header_name(suffix: &str) -> Box<[u8]> {
    suffix
        .bytes()
        .map(|b| if b == b'_' { b'-' } else { b })
        .collect::<Vec<u8>>()
        .into_boxed_slice()
}

/// The names a configuration defines for itself, collected before it is
/// built (nginx adds each as it parses and resolves variable names only at
/// the end, so a name may be used before the directive that defines it).
#[derive(Debug, Clone, Default)]
pub struct DefinedNames {
    /// Named groups of the configuration's regexes (lower-cased).
    pub captures: Vec<String>,
    /// `set $NAME` names (lower-cased), in first-seen order.
    pub user: Vec<String>,
    /// `map … $NAME` names (lower-cased), in map order.
    pub maps: Vec<String>,
}

thread_local! {
    /// The names of the configuration being read.
    static DEFINED: std::cell::RefCell<DefinedNames> =
        std::cell::RefCell::new(DefinedNames::default());
}

/// Runs `f` (reading a configuration) with `names` known as variables.
pub(super) fn with_names<T>(names: DefinedNames, f: impl FnOnce() -> T) -> T {
    DEFINED.with(|n| *n.borrow_mut() = names);
    let out = f();
    DEFINED.with(|n| *n.borrow_mut() = DefinedNames::default());
    out
}

/// The `set` variables of the configuration being read.
pub(super) fn user_names() -> Vec<String> {
    DEFINED.with(|n| n.borrow().user.clone())
}

impl Variable {
    /// Mirrors ngx_http_get_variable_index() + the prefix-variable step of
    /// ngx_http_variables_init_vars(): the variable called `name` (without the
    /// `$`, any case), or `None` when holdfast does not know it.
    pub fn lookup(name: &str) -> Option<Variable> {
        let lower = name.to_ascii_lowercase();
        if let Some((_, v)) = NAMES.iter().find(|(n, _)| *n == lower) {
            return Some(v.clone());
        }
        // A bare prefix (`$arg_`) is a variable too, with no value: nginx
        // accepts it.
        if let Some(h) = lower.strip_prefix("sent_http_") {
            return Some(Variable::SentHttp(header_name(h)));
        }
        if let Some(h) = lower.strip_prefix("upstream_http_") {
            return Some(Variable::UpstreamHttp(header_name(h)));
        }
        if let Some(c) = lower.strip_prefix("upstream_cookie_") {
            return Some(Variable::UpstreamCookie(c.as_bytes().into()));
        }
        if let Some(h) = lower.strip_prefix("http_") {
            return Some(Variable::HttpHeader(header_name(h)));
        }
        if let Some(a) = lower.strip_prefix("arg_") {
            return Some(Variable::Arg(a.as_bytes().into()));
        }
        let defined = DEFINED.with(|n| {
            let n = n.borrow();
            if let Some(i) = n.maps.iter().position(|m| *m == lower) {
                return u16::try_from(i).ok().map(Variable::Map);
            }
            if let Some(i) = n.user.iter().position(|m| *m == lower) {
                return u16::try_from(i).ok().map(Variable::User);
            }
            n.captures
                .contains(&lower)
                .then(|| Variable::NamedCapture(lower.clone().into()))
        });
        if defined.is_some() {
            return defined;
        }
        let cookie = lower.strip_prefix("cookie_")?;
        Some(Variable::Cookie(cookie.as_bytes().into()))
    }

    /// The canonical name, without the `$` (`http_user_agent` for a header).
    pub fn name(&self) -> Cow<'static, str> {
        let under = |h: &[u8]| -> String {
            h.iter()
                .map(|&b| if b == b'-' { '_' } else { char::from(b) })
                .collect()
        };
        match self {
            Variable::HttpHeader(h) => return Cow::Owned(format!("http_{}", under(h))),
            Variable::SentHttp(h) => return Cow::Owned(format!("sent_http_{}", under(h))),
            Variable::UpstreamHttp(h) => {
                return Cow::Owned(format!("upstream_http_{}", under(h)));
            }
            Variable::UpstreamCookie(c) => {
                return Cow::Owned(format!("upstream_cookie_{}", String::from_utf8_lossy(c)));
            }
            Variable::Arg(a) => return Cow::Owned(format!("arg_{}", String::from_utf8_lossy(a))),
            Variable::Capture(n) => return Cow::Owned(n.to_string()),
            Variable::NamedCapture(n) => return Cow::Owned(n.to_string()),
            Variable::User(i) => {
                let name = DEFINED.with(|n| n.borrow().user.get(usize::from(*i)).cloned());
                return Cow::Owned(name.unwrap_or_default());
            }
            Variable::Map(i) => {
                let name = DEFINED.with(|n| n.borrow().maps.get(usize::from(*i)).cloned());
                return Cow::Owned(name.unwrap_or_default());
            }
            Variable::Cookie(c) => {
                return Cow::Owned(format!("cookie_{}", String::from_utf8_lossy(c)));
            }
            _ => {}
        }
        let name = NAMES
            .iter()
            .find(|(_, v)| v == self)
            .map_or("", |(n, _)| *n);
        Cow::Borrowed(name)
    }
}

/// One piece of a compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text copied as is.
    Literal(Box<[u8]>),
    /// A variable's value, looked up per request.
    Var(Variable),
}

/// Is `b` allowed in a variable name?
fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Appends literal bytes, joining them to a literal just before.
fn push_literal(out: &mut Vec<Segment>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if let Some(Segment::Literal(prev)) = out.last_mut() {
        let mut joined = Vec::with_capacity(prev.len() + bytes.len());
        joined.extend_from_slice(prev);
        joined.extend_from_slice(bytes);
        *prev = joined.into_boxed_slice();
    } else {
        out.push(Segment::Literal(bytes.into()));
    }
}

/// Mirrors the scanner of ngx_http_script_compile(): text with `$name` and
/// `${name}` references (name: `[A-Za-z0-9_]+`) into segments.
///
/// There is no escape for a literal `$`, as in nginx. Errors, in nginx's words:
/// a `$` (or `${`) with no name after it is `invalid variable name`; `${name`
/// without `}` is `the closing bracket in "name" variable is missing`; a name
/// holdfast does not know is `unknown "name" variable`. `$1`…`$9` are regex
/// captures in nginx; holdfast has no regexes and refuses them. An empty
/// template gives no segments.
pub fn compile(template: &str) -> Result<Vec<Segment>, String> {
    let src = template.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        if src[i] != b'$' {
            let start = i;
            while i < src.len() && src[i] != b'$' {
                i += 1;
            }
            push_literal(&mut out, &src[start..i]);
            continue;
        }
        i += 1;
        let Some(&first) = src.get(i) else {
            return Err("invalid variable name".to_string());
        };
        // `$1`..`$9`: one digit, as nginx's script compiler reads it.
        if (b'1'..=b'9').contains(&first) {
            out.push(Segment::Var(Variable::Capture(first - b'0')));
            i += 1;
            continue;
        }
        let braced = first == b'{';
        if braced {
            i += 1;
            if i == src.len() {
                return Err("invalid variable name".to_string());
            }
        }
        let start = i;
        while i < src.len() && name_byte(src[i]) {
            i += 1;
        }
        // Only [A-Za-z0-9_] bytes: valid UTF-8 on its own.
        let name = &template[start..i];
        if braced {
            if src.get(i) != Some(&b'}') {
                return Err(format!(
                    "the closing bracket in \"{name}\" variable is missing"
                ));
            }
            i += 1;
        }
        if name.is_empty() {
            return Err("invalid variable name".to_string());
        }
        let var = Variable::lookup(name)
            .ok_or_else(|| format!("unknown \"{}\" variable", name.to_ascii_lowercase()))?;
        out.push(Segment::Var(var));
    }
    Ok(out)
}

/// How the access log writes variable values (`log_format ... escape=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escape {
    /// `escape=default`: `"`, `\`, control bytes and bytes ≥ 0x7f as `\xHH`.
    #[default]
    Default,
    /// `escape=json`: what a JSON string needs.
    Json,
    /// `escape=none`: values as they are.
    None,
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Mirrors ngx_http_log_escape() (`default`), ngx_escape_json() (`json`) and
/// the plain copy (`none`): appends `value` to `out`, escaped.
///
/// * default: bytes below 0x20, `"`, `\` and 0x7f–0xff become `\xHH`
///   (upper-case hex), everything else is copied.
/// * json: `"` and `\` get a backslash; `\n`, `\r`, `\t`, `\b`, `\f` their short
///   forms; other bytes below 0x20 become `\u00hh` (lower-case hex); bytes from
///   0x7f up are copied (UTF-8 passes through).
/// * none: copied.
pub fn escape_into(escape: Escape, value: &[u8], out: &mut Vec<u8>) {
    match escape {
        Escape::None => out.extend_from_slice(value),
        Escape::Default => {
            for &b in value {
                if !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\' {
                    out.extend_from_slice(&[
                        b'\\',
                        b'x',
                        HEX_UPPER[usize::from(b >> 4)],
                        HEX_UPPER[usize::from(b & 0xf)],
                    ]);
                } else {
                    out.push(b);
                }
            }
        }
        Escape::Json => crate::http::parse::escape_json(value, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.as_bytes().into())
    }

    fn hdr(s: &str) -> Segment {
        Segment::Var(Variable::HttpHeader(s.as_bytes().into()))
    }

    fn esc(e: Escape, v: &[u8]) -> String {
        let mut out = b"<".to_vec();
        escape_into(e, v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn compile_plain_and_braced() {
        assert_eq!(compile("").unwrap(), vec![]);
        assert_eq!(compile("abc").unwrap(), vec![lit("abc")]);
        assert_eq!(
            compile("$remote_addr").unwrap(),
            vec![Segment::Var(Variable::RemoteAddr)]
        );
        assert_eq!(
            compile("[$time_local] \"$request\"").unwrap(),
            vec![
                lit("["),
                Segment::Var(Variable::TimeLocal),
                lit("] \""),
                Segment::Var(Variable::Request),
                lit("\""),
            ]
        );
        // The name ends at the first byte outside [A-Za-z0-9_].
        assert_eq!(
            compile("$uri.bak-$args").unwrap(),
            vec![
                Segment::Var(Variable::Uri),
                lit(".bak-"),
                Segment::Var(Variable::Args),
            ]
        );
        // Braces separate a name from text that would continue it.
        assert_eq!(
            compile("${status}xx${msec}").unwrap(),
            vec![
                Segment::Var(Variable::Status),
                lit("xx"),
                Segment::Var(Variable::Msec),
            ]
        );
        assert_eq!(
            compile("$pipe$pipe").unwrap(),
            vec![Segment::Var(Variable::Pipe), Segment::Var(Variable::Pipe)]
        );
        // Case-insensitive names, aliases.
        assert_eq!(
            compile("$Remote_ADDR").unwrap(),
            vec![Segment::Var(Variable::RemoteAddr)]
        );
        assert_eq!(
            compile("$document_uri$query_string").unwrap(),
            vec![Segment::Var(Variable::Uri), Segment::Var(Variable::Args)]
        );
        // Non-ASCII text is a literal like any other.
        assert_eq!(compile("é$scheme").unwrap()[0], lit("é"));
    }

    #[test]
    fn compile_http_headers() {
        assert_eq!(
            compile("$http_user_agent").unwrap(),
            vec![hdr("user-agent")]
        );
        assert_eq!(
            compile("${HTTP_X_Real_IP}").unwrap(),
            vec![hdr("x-real-ip")]
        );
        assert_eq!(
            compile("a$http_host:").unwrap(),
            vec![lit("a"), hdr("host"), lit(":")]
        );
        // `$host` is its own variable, not a header.
        assert_eq!(
            compile("$host").unwrap(),
            vec![Segment::Var(Variable::Host)]
        );
    }

    #[test]
    fn compile_errors() {
        for bad in ["$", "a$", "${", "$ x", "$-", "${}", "a$.b"] {
            assert_eq!(
                compile(bad).unwrap_err(),
                "invalid variable name",
                "{bad:?}"
            );
        }
        assert_eq!(
            compile("${uri").unwrap_err(),
            "the closing bracket in \"uri\" variable is missing"
        );
        assert_eq!(
            compile("${u-ri}").unwrap_err(),
            "the closing bracket in \"u\" variable is missing"
        );
        assert_eq!(compile("$nope").unwrap_err(), "unknown \"nope\" variable");
        assert_eq!(
            compile("x${NoPe}").unwrap_err(),
            "unknown \"nope\" variable"
        );
        // A bare prefix is accepted, as nginx's prefix variables match it.
        assert!(compile("$http_ $arg_ $cookie_").is_ok());
        assert_eq!(compile("$0").unwrap_err(), "unknown \"0\" variable");
        assert_eq!(
            compile("/$1-$9x").unwrap(),
            vec![
                Segment::Literal(b"/".as_slice().into()),
                Segment::Var(Variable::Capture(1)),
                Segment::Literal(b"-".as_slice().into()),
                Segment::Var(Variable::Capture(9)),
                Segment::Literal(b"x".as_slice().into()),
            ]
        );
    }

    #[test]
    fn names_round_trip() {
        for (name, v) in NAMES {
            assert_eq!(Variable::lookup(name).as_ref(), Some(v));
            assert_eq!(Variable::lookup(&v.name()).as_ref(), Some(v));
        }
        assert_eq!(Variable::Uri.name(), "uri");
        assert_eq!(Variable::Args.name(), "args");
        let ua = Variable::lookup("http_user_agent").unwrap();
        assert_eq!(ua.name(), "http_user_agent");
        assert_eq!(Variable::lookup("bogus"), None);
    }

    #[test]
    fn escape_default() {
        assert_eq!(esc(Escape::Default, b"plain text/~!"), "<plain text/~!");
        assert_eq!(
            esc(Escape::Default, b"a\"b\\c\n\x00\x1f\x7f\xff"),
            "<a\\x22b\\x5Cc\\x0A\\x00\\x1F\\x7F\\xFF"
        );
        // Multi-byte UTF-8 is escaped byte by byte.
        assert_eq!(esc(Escape::Default, "é".as_bytes()), "<\\xC3\\xA9");
        assert_eq!(esc(Escape::Default, b""), "<");
    }

    #[test]
    fn escape_json() {
        assert_eq!(esc(Escape::Json, b"a\"b\\c/d"), "<a\\\"b\\\\c/d");
        assert_eq!(esc(Escape::Json, b"\n\r\t\x08\x0c"), "<\\n\\r\\t\\b\\f");
        assert_eq!(
            esc(Escape::Json, b"\x00\x01\x1b\x1f"),
            "<\\u0000\\u0001\\u001B\\u001F"
        );
        // DEL and UTF-8 pass through.
        assert_eq!(esc(Escape::Json, "\x7fé".as_bytes()), "<\x7fé");
    }

    #[test]
    fn escape_none() {
        assert_eq!(esc(Escape::None, b"a\"\\\n\x00"), "<a\"\\\n\x00");
        assert_eq!(Escape::default(), Escape::Default);
    }
}
