//! Request header checks: the per-header handlers of nginx's
//! `ngx_http_headers_in` table (Host, Connection, Content-Length,
//! Transfer-Encoding, Expect, User-Agent) and ngx_http_process_request_header.

use crate::core::cycle::Cycle;
use crate::http::body;
use crate::http::parse::{self, ConnectionType, HeadStatus, HeaderPos, Version};
use crate::os::io::Transport;

/// Header facts gathered while walking the parsed head.
#[derive(Default)]
pub(crate) struct HeadInfo {
    host: Option<(usize, usize)>,
    first_host: Option<(usize, usize)>,
    dup_host: bool,
    content_length: Option<(usize, usize)>,
    dup_content_length: bool,
    transfer_encoding: Option<(usize, usize)>,
    dup_transfer_encoding: bool,
    expect_continue: bool,
    user_agent: Option<(usize, usize)>,
    referer: Option<(usize, usize)>,
    connection: ConnectionType,
    filters: FilterHeaders,
}

/// Where the headers the response filters read are: the first line of
/// each name, as (offset, length) of its value in the buffer's data
/// (nginx's `r->headers_in` fields), so a filter finds its header without
/// scanning the head again.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilterHeaders {
    /// `If-Modified-Since`.
    pub if_modified_since: Option<(u32, u32)>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<(u32, u32)>,
    /// `If-Match`.
    pub if_match: Option<(u32, u32)>,
    /// `If-None-Match`.
    pub if_none_match: Option<(u32, u32)>,
    /// `Range`.
    pub range: Option<(u32, u32)>,
    /// `If-Range`.
    pub if_range: Option<(u32, u32)>,
    /// `Accept-Encoding`.
    pub accept_encoding: Option<(u32, u32)>,
    /// `Via`.
    pub via: Option<(u32, u32)>,
    /// `Authorization`.
    pub authorization: Option<(u32, u32)>,
}

impl FilterHeaders {
    /// The value at `pos` in the request's buffer `data`.
    pub fn value(data: &[u8], pos: Option<(u32, u32)>) -> Option<&[u8]> {
        let (o, l) = pos?;
        data.get(o as usize..o as usize + l as usize)
    }
}

/// The raw header values the error-log context names (offset, length in the
/// request's buffer data).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogFields {
    /// The first Host header.
    pub host: Option<(usize, usize)>,
    /// The first Referer header.
    pub referer: Option<(usize, usize)>,
}

impl LogFields {
    /// The Host and Referer of the complete header lines of a head that has
    /// not ended yet (httparse reports none of them until it does): the
    /// error-log context of a header timeout names them as nginx does.
    pub fn scan_partial(data: &[u8], line_len: usize) -> LogFields {
        let mut f = LogFields::default();
        let mut at = line_len;
        while let Some(nl) = data
            .get(at..)
            .and_then(|d| d.iter().position(|&ch| ch == b'\n'))
        {
            let line = &data[at..at + nl];
            if let Some(colon) = line.iter().position(|&ch| ch == b':') {
                let name = &line[..colon];
                let value = &line[colon + 1..];
                let lead = value
                    .iter()
                    .take_while(|&&ch| ch == b' ' || ch == b'\t')
                    .count();
                let trail = value[lead..]
                    .iter()
                    .rev()
                    .take_while(|&&ch| matches!(ch, b' ' | b'\t' | b'\r'))
                    .count();
                let pos = (at + colon + 1 + lead, value.len() - lead - trail);
                if name.eq_ignore_ascii_case(b"host") {
                    f.host.get_or_insert(pos);
                } else if name.eq_ignore_ascii_case(b"referer") {
                    f.referer.get_or_insert(pos);
                }
            }
            at += nl + 1;
        }
        f
    }
}

impl HeadInfo {
    /// Notes one header (the `ngx_http_headers_in` handler step): Host,
    /// Connection, Content-Length, Transfer-Encoding, Expect, User-Agent.
    pub(crate) fn record(&mut self, data: &[u8], h: HeaderPos) {
        let name = &data[h.name.0..h.name.0 + h.name.1];
        let value = (h.value.0, h.value.1);
        let text = &data[value.0..value.0 + value.1];
        if !parse::is_valid_header_name(name) {
            log::info!(
                "client sent invalid header line: \"{}\"",
                String::from_utf8_lossy(name)
            );
            return;
        }
        // Dispatch on the length first: most headers are none of these.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                self.dup_host |= self.host.is_some();
                self.first_host.get_or_insert(value);
                self.host = Some(value);
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                self.connection = parse::connection_type(text, self.connection);
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                self.dup_content_length |= self.content_length.is_some();
                self.content_length = Some(value);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                self.dup_transfer_encoding |= self.transfer_encoding.is_some();
                self.transfer_encoding = Some(value);
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                self.expect_continue |= text.eq_ignore_ascii_case(b"100-continue");
            }
            10 if name.eq_ignore_ascii_case(b"user-agent") => {
                self.user_agent = Some(value);
            }
            7 if name.eq_ignore_ascii_case(b"referer") => {
                self.referer.get_or_insert(value);
            }
            _ => self.record_filter_header(name, value),
        }
    }

    /// The headers of [`FilterHeaders`] (the first of each name is kept;
    /// nginx refuses a second of the unique ones, holdfast ignores it).
    fn record_filter_header(&mut self, name: &[u8], value: (usize, usize)) {
        let f = &mut self.filters;
        let slot = match name.len() {
            17 if name.eq_ignore_ascii_case(b"if-modified-since") => &mut f.if_modified_since,
            19 if name.eq_ignore_ascii_case(b"if-unmodified-since") => &mut f.if_unmodified_since,
            8 if name.eq_ignore_ascii_case(b"if-match") => &mut f.if_match,
            13 if name.eq_ignore_ascii_case(b"if-none-match") => &mut f.if_none_match,
            5 if name.eq_ignore_ascii_case(b"range") => &mut f.range,
            8 if name.eq_ignore_ascii_case(b"if-range") => &mut f.if_range,
            15 if name.eq_ignore_ascii_case(b"accept-encoding") => &mut f.accept_encoding,
            3 if name.eq_ignore_ascii_case(b"via") => &mut f.via,
            13 if name.eq_ignore_ascii_case(b"authorization") => &mut f.authorization,
            _ => return,
        };
        if slot.is_none()
            && let (Ok(o), Ok(l)) = (u32::try_from(value.0), u32::try_from(value.1))
        {
            *slot = Some((o, l));
        }
    }

    /// What nginx's error-log context shows (`r->headers_in.host` and
    /// `referer`): the first Host and Referer values as sent, before any
    /// validation.
    pub(crate) fn log_fields(&self) -> LogFields {
        LogFields {
            host: self.first_host.or(self.host),
            referer: self.referer,
        }
    }

    /// The `Connection` header's verdict.
    pub(crate) fn connection(&self) -> ConnectionType {
        self.connection
    }
}

/// nginx keeps every header line within one large buffer; holdfast's buffer
/// is contiguous and may be larger, so once it is, each line of the head is
/// checked against the large buffer size. Returns the offending line's start.
pub(crate) fn too_long_line(
    data: &[u8],
    status: &HeadStatus,
    buf_size: usize,
    large_size: usize,
) -> Option<usize> {
    if buf_size <= large_size {
        return None;
    }
    let head = match status {
        HeadStatus::Done(len) => &data[..*len],
        HeadStatus::Partial => data,
        HeadStatus::Invalid | HeadStatus::TooMany => return None,
    };
    let mut start = 0;
    while start < head.len() {
        let end = parse::memchr(b'\n', &head[start..]).map_or(head.len(), |p| start + p + 1);
        if end - start > large_size {
            return Some(start);
        }
        start = end;
    }
    None
}

/// How much of a too long header line the log shows.
pub const LOG_HEADER_PREFIX: usize = 64;

/// Mirrors ngx_http_process_request_header() and the per-header handlers
/// (ngx_http_process_host, ngx_http_process_connection, …): the checks that
/// need the whole head. Err is the status and nginx's log text.
pub(crate) fn process_request_header<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    info: &HeadInfo,
) -> Result<(), (u16, &'static str)> {
    let merge_slashes = {
        let l = &cy.listening[cy.conns[key].li()];
        l.servers[l.default_server].merge_slashes
    };
    let Some(hc) = cy.conns[key].hc_mut() else {
        return Err((400, "client sent invalid request"));
    };
    let (Some(b), Some(r)) = (hc.buffer.as_ref(), hc.request.as_deref_mut()) else {
        return Err((400, "client sent invalid request"));
    };
    let data = b.data();
    if info.dup_host {
        return Err((400, "client sent duplicate host header"));
    }
    if r.method == parse::Method::Trace {
        return Err((405, "client sent TRACE method"));
    }
    let target = &data[r.target.0..r.target.0 + r.target.1];
    let mut uri = std::mem::take(&mut r.uri);
    let connect = r.method == parse::Method::Connect;
    // A CONNECT target is an authority (checked with the request line), not
    // a path; nginx gives such a request the URI "/".
    let parsed = if connect {
        uri.clear();
        uri.push(b'/');
        Ok((None, None))
    } else {
        parse::parse_target_with(target, &mut uri, merge_slashes)
    };
    r.uri = uri;
    let (abs_host, args) = parsed.map_err(|_| (400, "client sent invalid request"))?;
    r.args = args.map(|(o, l)| (r.target.0 + o, l));
    let mut host = std::mem::take(&mut r.host);
    let host_value = match (abs_host, info.host) {
        (Some((o, l)), _) => Some(&target[o..o + l]),
        (None, Some((o, l))) => Some(&data[o..o + l]),
        (None, None) => None,
    };
    let host_ok = host_value.map(|v| parse::validate_host(v, &mut host));
    r.host = host;
    match host_ok {
        Some(false) => return Err((400, "client sent invalid host header")),
        Some(true) => r.has_host = true,
        None => {}
    }
    // RFC 9112 §3.2: every HTTP/1.1 request carries a Host header, even with
    // an absolute-form target (whose host then takes precedence).
    if info.host.is_none() && r.version == Version::Http11 {
        return Err((400, "client sent HTTP/1.1 request without \"Host\" header"));
    }
    if connect {
        // nginx ≥ 1.29.3: CONNECT is refused unless allowed (holdfast has no
        // tunnel), once the header is read.
        return Err((405, "client sent CONNECT method"));
    }
    if info.dup_content_length {
        return Err((400, "client sent duplicate \"Content-Length\" header"));
    }
    if let Some((o, l)) = info.content_length {
        r.content_length = Some(
            parse::parse_content_length(&data[o..o + l])
                .ok_or((400, "client sent invalid \"Content-Length\" header"))?,
        );
    }
    if let Some((o, l)) = info.transfer_encoding {
        if r.version == Version::Http10 {
            return Err((
                400,
                "client sent HTTP/1.0 request with \"Transfer-Encoding\" header",
            ));
        }
        if r.content_length.is_some() {
            return Err((
                400,
                "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
            ));
        }
        if info.dup_transfer_encoding {
            // Transfer-Encoding is a unique header for nginx
            // (ngx_http_process_unique_header_line).
            return Err((
                400,
                "client sent duplicate header line: \"Transfer-Encoding\"",
            ));
        }
        if !parse::trim(&data[o..o + l]).eq_ignore_ascii_case(b"chunked") {
            return Err((501, "client sent unknown \"Transfer-Encoding\""));
        }
        r.chunked = true;
    }
    r.expect_continue = info.expect_continue && r.version == Version::Http11;
    r.user_agent = info.user_agent;
    r.filter_headers = info.filters;
    r.body = match (r.chunked, r.content_length) {
        (true, _) => body::RequestBody::Chunked(Default::default()),
        (false, Some(n)) if n > 0 => body::RequestBody::Length(n),
        _ => body::RequestBody::None,
    };
    Ok(())
}
