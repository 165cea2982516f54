//! The peer's response head, once it is whole: nginx's
//! ngx_http_upstream_process_header() after parsing (next_upstream on a
//! status, intercept_errors), ngx_http_upstream_process_headers()
//! (X-Accel-Redirect, X-Accel-Buffering, X-Accel-Limit-Rate,
//! X-Accel-Charset) and
//! ngx_http_upstream_send_response() (the client's head, with the proxy's
//! header filtering and proxy_redirect).

use crate::core::connection::ReadHandler;
use crate::core::cycle::Cycle;
use crate::http::parse::Method;
use crate::http::request::{Finalize, finalize_request};
use crate::http::response;
use crate::http::response_parse::{BodyDecoder, Framing, ResponseHead};
use crate::http::upstream::{
    UpstreamState, client_conf, record_try, up_mut, upstream_finalize_request, upstream_next,
    upstream_release,
};
use crate::os::io::Transport;

/// The peer headers an X-Accel-Redirect carries over to the redirected
/// response (nginx's headers_in entries marked `redirect`).
const REDIRECT_KEEPS: [&[u8]; 5] = [
    b"set-cookie",
    b"content-disposition",
    b"cache-control",
    b"expires",
    b"accept-ranges",
];

/// The peer headers nginx keeps one of (ngx_http_upstream_headers_in
/// entries handled by ngx_http_upstream_process_header_line and its kin).
const SINGLE: [&[u8]; 9] = [
    b"content-type",
    b"last-modified",
    b"etag",
    b"location",
    b"refresh",
    b"expires",
    b"x-accel-expires",
    b"x-accel-redirect",
    b"x-accel-limit-rate",
];

/// Mirrors the end of ngx_http_upstream_process_header(): the head of
/// peer connection `key` (for client `ck`) is whole in `head`. False when
/// the exchange ended or must wait.
pub fn process_header<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    head: &[u8],
    h: &ResponseHead,
) -> bool {
    let now = cy.clock.now_ms;
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let client = u.client;
    u.header_ms = Some(now.saturating_sub(u.start_ms));
    if h.status == 101 {
        record_try(cy, key, 101, false);
        crate::http::upstream_upgrade::upstream_upgrade(cy, key, ck, head, h);
        return false;
    }
    let bit = crate::conf::http_proxy::next::of_status(h.status);
    let wants = client_conf(cy, client).is_some_and(|l| l.proxy.next_upstream & bit != 0);
    if bit != 0 && wants {
        // The try counts with the peer's status whether or not another
        // peer is tried.
        record_try(cy, key, h.status, true);
        if upstream_next(cy, key, bit) {
            return false;
        }
        if let Some(r) = cy.conns[ck].req_mut() {
            // Not the last try after all: it goes on below.
            r.upstream_tries.pop();
        }
    }
    // ngx_http_upstream_intercept_errors: the location's error page
    // answers instead of the peer.
    let intercept = h.status >= 300
        && client_conf(cy, client).is_some_and(|l| {
            l.proxy.intercept_errors && l.error_pages.iter().any(|p| p.status == h.status)
        });
    if intercept {
        record_try(cy, key, h.status, false);
        // ngx_http_upstream_intercept_errors: a 401's WWW-Authenticate
        // lines go with the error page.
        if h.status == 401
            && let Some(r) = cy.conns[ck].req_mut()
        {
            for (name, value) in h.header_lines(head) {
                if name.eq_ignore_ascii_case(b"www-authenticate") {
                    r.headers_out.extend_from_slice(name);
                    r.headers_out.extend_from_slice(b": ");
                    r.headers_out.extend_from_slice(value);
                    r.headers_out.extend_from_slice(b"\r\n");
                }
            }
        }
        upstream_finalize_request(cy, key, Finalize::Status(h.status));
        return false;
    }
    let Some(u) = up_mut(cy, key) else {
        return false;
    };
    let framing = if u.head_request {
        Framing::None
    } else {
        h.framing(Method::Get)
    };
    u.body = Some(BodyDecoder::new(framing));
    u.state = UpstreamState::ReadingBody;
    // ngx_http_upstream_keepalive's test: a delimited response from a peer
    // that keeps its connection.
    u.keepalive_ok = h.is_persistent() && framing != Framing::UntilClose;
    u.request = Vec::new();
    record_try(cy, key, h.status, false);
    if let Some(r) = cy.conns[ck].req_mut() {
        r.upstream_head.clear();
        r.upstream_head
            .extend_from_slice(head.get(..h.len).unwrap_or_default());
    }
    let rest = head.get(h.len..).unwrap_or_default();
    if process_headers(cy, key, ck, head, h, rest) {
        return false;
    }
    let chunked_out = send_client_head(cy, ck, head, h, framing);
    if let Some(u) = up_mut(cy, key) {
        u.chunked_out = chunked_out;
    }
    let rest = rest.to_vec();
    crate::http::event_pipe::relay_body(cy, key, ck, &rest, false)
}

/// Mirrors ngx_http_upstream_process_headers() for the X-Accel headers
/// (unless `proxy_ignore_headers` names them): `X-Accel-Buffering: yes|no`
/// switches buffering for this response, `X-Accel-Limit-Rate: N` sets the
/// client's rate, and `X-Accel-Redirect: URI|@name` ends the exchange and
/// redirects the request internally (GET unless HEAD), keeping the peer's
/// Content-Type, Set-Cookie, Content-Disposition, Cache-Control, Expires
/// and Accept-Ranges. True: the request was redirected.
fn process_headers<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    ck: usize,
    head: &[u8],
    h: &ResponseHead,
    rest: &[u8],
) -> bool {
    use crate::conf::http_proxy::ignore;
    let client = cy.conns[ck].token(ck);
    let ignored = client_conf(cy, client).map_or(0, |l| l.proxy.ignore_headers);
    let find = |name: &[u8]| {
        h.header_lines(head)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_vec())
    };
    if ignored & ignore::XA_BUFFERING == 0
        && let Some(v) = find(b"x-accel-buffering")
        && let Some(u) = up_mut(cy, key)
    {
        if v.eq_ignore_ascii_case(b"yes") {
            u.pipe.get_or_insert_with(Default::default).buffering = Some(true);
        } else if v.eq_ignore_ascii_case(b"no") {
            u.pipe.get_or_insert_with(Default::default).buffering = Some(false);
        }
    }
    if ignored & ignore::XA_LIMIT_RATE == 0
        && let Some(v) = find(b"x-accel-limit-rate")
        && let Some(n) = std::str::from_utf8(&v)
            .ok()
            .and_then(|v| v.trim().parse().ok())
        && let Some(r) = cy.conns[ck].req_mut()
    {
        r.limit_rate = n;
        r.limit_rate_set = true;
    }
    // ngx_http_upstream_process_charset.
    if ignored & ignore::XA_CHARSET == 0
        && let Some(v) = find(b"x-accel-charset").filter(|v| !v.is_empty())
        && let Some(r) = cy.conns[ck].req_mut()
    {
        r.override_charset = Some(v);
    }
    if ignored & ignore::XA_REDIRECT != 0 {
        return false;
    }
    let Some(target) = find(b"x-accel-redirect").filter(|t| !t.is_empty()) else {
        return false;
    };
    log::debug!(
        "*{} x-accel-redirect: \"{}\"",
        cy.conns[ck].number,
        String::from_utf8_lossy(&target)
    );
    // ngx_http_upstream_finalize_request(NGX_DECLINED): the body is not
    // read; the connection is kept only if there is none.
    if let Some(u) = up_mut(cy, key)
        && let Some(body) = u.body.as_mut()
    {
        let _ = body.decode(rest, |_| {});
        if !body.is_done() {
            u.keepalive_ok = false;
        }
    }
    upstream_release(cy, key, Finalize::Done);
    let Some(r) = cy.conns[ck].req_mut() else {
        return true;
    };
    for (name, value) in h.header_lines(head) {
        if name.eq_ignore_ascii_case(b"content-type") {
            r.content_type_out = Some(value.to_vec());
        } else if REDIRECT_KEEPS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
            r.headers_out.extend_from_slice(name);
            r.headers_out.extend_from_slice(b": ");
            r.headers_out.extend_from_slice(value);
            r.headers_out.extend_from_slice(b"\r\n");
        }
    }
    if r.method != Method::Head {
        r.method = Method::Get;
        r.method_rewritten = true;
    }
    cy.conns[ck].read.handler = ReadHandler::BlockReading;
    let rc = if target.starts_with(b"@") {
        crate::http::core_module::named_location(cy, ck, &target)
    } else {
        match crate::http::parse::parse_unsafe_uri(&target) {
            Some((uri, args)) => crate::http::core_module::internal_redirect(cy, ck, uri, args),
            None => {
                crate::http::request::http_error!(
                    cy,
                    ck,
                    "unsafe URI \"{}\" was detected",
                    String::from_utf8_lossy(&target)
                );
                Finalize::Status(404)
            }
        }
    };
    finalize_request(cy, ck, rc);
    true
}

/// The client's response head from the peer's (ngx_http_upstream_send_response
/// with the proxy's header filtering and the chunked filter): the peer's
/// status and headers, but holdfast's own Server, Date and Connection; a
/// body whose length is not known goes chunked to an HTTP/1.1 client (true
/// is returned) and ends with the connection for an HTTP/1.0 one.
pub(crate) fn send_client_head<S: Transport>(
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
        .map(|(_, v)| rewrite_location(cy, ck, v));
    // ngx_http_upstream_rewrite_refresh: proxy_redirect applies to the
    // URL of `Refresh: N; url=URL` too.
    let refresh = h
        .header_lines(data)
        .find(|(n, _)| n.eq_ignore_ascii_case(b"refresh"))
        .and_then(|(_, v)| {
            let at = v.windows(4).position(|w| w.eq_ignore_ascii_case(b"url="))? + 4;
            let mut out = v[..at].to_vec();
            out.extend_from_slice(&rewrite_location(cy, ck, &v[at..]));
            Some(out)
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
    // `expires` replaces the peer's Expires and Cache-Control (`modified`
    // counts from the peer's Last-Modified).
    let peer_lm = h
        .header_lines(data)
        .find(|(n, _)| n.eq_ignore_ascii_case(b"last-modified"))
        .and_then(|(_, v)| crate::core::time::parse_http_time(v));
    let expires = crate::http::headers_filter::expires_lines(cy, ck, h.status, peer_lm);
    // The gunzip and gzip header filters on the peer's response.
    let peer = |name: &[u8]| {
        h.header_lines(data)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let resp = crate::http::gzip_filter::RespHeaders {
        expires: peer(b"expires"),
        date: peer(b"date"),
        cache_control: peer(b"cache-control"),
        last_modified: peer(b"last-modified").is_some(),
        etag: peer(b"etag").is_some(),
    };
    // ngx_http_charset_header_filter on the peer's type (after gunzip: a
    // body it decompresses has no Content-Encoding left).
    let encoded = crate::http::gzip_filter::still_encoded(cy, ck, peer(b"content-encoding"), &resp);
    let charset = peer(b"content-type").and_then(|ct| {
        let peer = crate::http::charset_filter::Peer { reading: true };
        crate::http::charset_filter::charset_header_filter(
            cy,
            ck,
            h.status,
            ct,
            Some(peer),
            encoded,
        )
    });
    let recode = charset.as_ref().and_then(|c| c.recode.as_ref());
    let content_length = match framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    let coding = crate::http::gzip_filter::header_filter(
        cy,
        ck,
        &crate::http::gzip_filter::HeadInfo {
            status: h.status,
            content_type: peer(b"content-type"),
            content_length,
            content_encoding: peer(b"content-encoding"),
            resp,
            recode,
        },
    );
    let coded = coding != crate::http::gzip_filter::Coding::Identity;
    // A recoding to or from UTF-8 clears the length too (ngx_http_charset_ctx).
    let cleared = coded || recode.is_some_and(|c| !c.keeps_length());
    let Some(hc) = cy.conns[ck].hc_mut() else {
        return false;
    };
    let Some(r) = hc.request.as_deref_mut() else {
        return false;
    };
    let unknown_length = (cleared && framing != Framing::None)
        || matches!(framing, Framing::UntilClose | Framing::Chunked);
    let chunked_out = unknown_length && r.version == crate::http::parse::Version::Http11;
    // A body filter frames its own output; the pipe hands it plain bytes.
    let filtered = r.body_filter.is_some();
    if let Some(f) = r.body_filter.as_deref_mut() {
        f.chunked = chunked_out;
    }
    let vary = r.loc.as_ref().is_some_and(|l| l.gzip.vary)
        && r.gzip_flags & crate::http::gzip_filter::flags::VARY != 0;
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
    // ngx_http_upstream_process_header_line: a second line of a header
    // nginx keeps once is ignored, with a warning.
    let mut duplicates = Vec::new();
    for (i, (name, value)) in h.header_lines(data).enumerate() {
        if hop.iter().any(|n| name.eq_ignore_ascii_case(n)) || hide(name) {
            continue;
        }
        // ngx_http_clear_content_length / clear_accept_ranges of a coded
        // response; gunzip also takes the Content-Encoding away. A
        // recoding to or from UTF-8 clears the length only.
        if (coded
            && (name.eq_ignore_ascii_case(b"content-length")
                || name.eq_ignore_ascii_case(b"accept-ranges")
                || name.eq_ignore_ascii_case(b"content-encoding")))
            || (cleared && name.eq_ignore_ascii_case(b"content-length"))
        {
            continue;
        }
        if !expires.is_empty()
            && (name.eq_ignore_ascii_case(b"expires")
                || name.eq_ignore_ascii_case(b"cache-control"))
        {
            continue;
        }
        if SINGLE.iter().any(|n| name.eq_ignore_ascii_case(n))
            && let Some((pn, pv)) = h
                .header_lines(data)
                .take(i)
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            duplicates.push(format!(
                "upstream sent duplicate header line: \"{}: {}\", previous value: \"{}: {}\", ignored",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(value),
                String::from_utf8_lossy(pn),
                String::from_utf8_lossy(pv)
            ));
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        match (&location, &refresh) {
            _ if coded && name.eq_ignore_ascii_case(b"etag") && !value.starts_with(b"W/") => {
                // ngx_http_weak_etag.
                out.extend_from_slice(b"W/");
                out.extend_from_slice(value);
            }
            (Some(l), _) if name.eq_ignore_ascii_case(b"location") => out.extend_from_slice(l),
            (_, Some(r)) if name.eq_ignore_ascii_case(b"refresh") => out.extend_from_slice(r),
            _ if name.eq_ignore_ascii_case(b"content-type") => {
                crate::http::charset_filter::write_content_type(out, value, charset.as_ref())
            }
            _ => out.extend_from_slice(value),
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&expires);
    if coding == crate::http::gzip_filter::Coding::Gzip {
        out.extend_from_slice(b"Content-Encoding: gzip\r\n");
    }
    if vary {
        out.extend_from_slice(b"Vary: Accept-Encoding\r\n");
    }
    if chunked_out {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(if r.keepalive {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    });
    for d in duplicates {
        crate::http::request::http_warn!(cy, ck, "{d} while reading response header from upstream");
    }
    // The headers filter (add_header) and the end of the head, counted.
    response::add_headers(cy, ck, h.status, start);
    chunked_out && !filtered
}

/// Mirrors ngx_http_proxy_rewrite_redirect(): the first `proxy_redirect`
/// rule that fits the peer's `Location` (or Refresh URL) rewrites it: a
/// text rule replaces the part it starts with, a regex rule the whole
/// value (its captures usable in the replacement, as they are in
/// `rewrite`); `default` is `http://$proxy_host` + the URI part → the
/// location's prefix.
fn rewrite_location<S: Transport>(cy: &mut Cycle<S>, ck: usize, value: &[u8]) -> Vec<u8> {
    use crate::conf::http_proxy::{ProxyRedirect, RedirectRule};
    let Some(loc) = cy.conns[ck].req().and_then(|r| r.loc.clone()) else {
        return value.to_vec();
    };
    let p = &loc.proxy;
    let default_rule = |pass: &crate::conf::http_proxy::ProxyPass| match &pass.uri {
        Some(uri) => (
            format!("http://{}{uri}", pass.host).into_bytes(),
            loc.name.as_bytes().to_vec(),
        ),
        None => (format!("http://{}/", pass.host).into_bytes(), b"/".to_vec()),
    };
    let rules: &[RedirectRule] = match &p.redirect {
        ProxyRedirect::Off => return value.to_vec(),
        ProxyRedirect::Default => &[RedirectRule::Default],
        ProxyRedirect::Rules(r) => r,
    };
    let mut from = Vec::new();
    for rule in rules {
        match rule {
            RedirectRule::Default => {
                // No default with variables in proxy_pass.
                let Some(pass) = p.pass.as_deref().filter(|p| p.vars.is_none()) else {
                    continue;
                };
                let (f, t) = default_rule(pass);
                if let Some(rest) = value.strip_prefix(&f[..]) {
                    let mut out = t;
                    out.extend_from_slice(rest);
                    return out;
                }
            }
            RedirectRule::Text { from: f, to } => {
                from.clear();
                crate::http::variables::complex_value(cy, ck, f, &mut from);
                if let Some(rest) = value.strip_prefix(&from[..]) {
                    let mut out = Vec::new();
                    crate::http::variables::complex_value(cy, ck, to, &mut out);
                    out.extend_from_slice(rest);
                    return out;
                }
            }
            RedirectRule::Regex { re, to } => {
                let matched = cy.conns[ck]
                    .req_mut()
                    .is_some_and(|r| crate::http::core_module::regex_exec(r, &re.0, value));
                if matched {
                    let mut out = Vec::new();
                    crate::http::variables::complex_value(cy, ck, to, &mut out);
                    return out;
                }
            }
        }
    }
    value.to_vec()
}
