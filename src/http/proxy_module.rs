//! The proxy module at run time: nginx's `ngx_http_proxy_module.c` —
//! the content handler (`proxy_pass`), the request for the peer
//! (ngx_http_proxy_create_request with `proxy_set_header`, nginx's URI
//! replacement, the buffered body) and the start of the upstream
//! exchange (`upstream.rs`).

use crate::conf::http_proxy::ProxyPass;
use crate::core::connection::{ConnData, ReadHandler};
use crate::core::cycle::Cycle;
use crate::http::parse::Method;
use crate::http::request::Finalize;
use crate::http::upstream::{
    UpstreamConn, UpstreamState, event_connect_peer, send_request_handler, up_mut,
};
use crate::os::io::Transport;

/// Mirrors ngx_http_proxy_handler() + ngx_http_proxy_create_request() +
/// ngx_http_upstream_init(): the request for the peer, the connection to it;
/// the client waits (the return value tells finalize_request so).
pub fn proxy_handler<S: Transport>(cy: &mut Cycle<S>, key: usize, pass: &ProxyPass) -> Finalize {
    use crate::http::request_body::{ReadBody, read_client_request_body};
    let Some(r) = cy.conns[key].req() else {
        return Finalize::Close;
    };
    let http_11 = r
        .loc
        .as_ref()
        .and_then(|l| l.proxy.http_11)
        .unwrap_or_else(|| {
            pass.upstream
                .and_then(|u| cy.upstream_pools.get(u))
                .is_some_and(|p| p.max_idle > 0)
        });
    if crate::http::request_body_unbuffered::wants_unbuffered(cy, key, http_11) {
        // proxy_request_buffering off: the peer is contacted now, the body
        // follows as it comes (request_body_unbuffered.rs).
        use crate::http::request_body_unbuffered::start_unbuffered;
        let preread = match start_unbuffered(cy, key) {
            Ok(p) => p,
            Err(rc) => return rc,
        };
        if let Some(r) = cy.conns[key].req_mut() {
            r.body_preread = preread;
        }
        // proxy_start reads the rest of the body on once the peer's
        // connection exists (also after a resolver wait).
        return proxy_start(cy, key, pass);
    }
    let Some(r) = cy.conns[key].req() else {
        return Finalize::Close;
    };
    if r.content_length.is_some() || r.chunked || r.expect_continue {
        // ngx_http_read_client_request_body with proxy_request_buffering on:
        // the whole body first (and `100 Continue` when asked, even for an
        // empty body, as ngx_http_test_expect).
        return match read_client_request_body(cy, key) {
            ReadBody::Done => proxy_start(cy, key, pass),
            ReadBody::Again => {
                cy.conns[key].action = crate::core::connection::Action::ProcessingRequest;
                Finalize::Upstream
            }
            ReadBody::Finalize(rc) => rc,
        };
    }
    proxy_start(cy, key, pass)
}

/// The body is in: the proxy goes on (the body handler's continuation).
pub fn proxy_body_read<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let pass = cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .and_then(|l| l.proxy.pass.clone());
    match pass {
        Some(pass) => proxy_start(cy, key, &pass),
        None => Finalize::Status(500),
    }
}

/// ngx_http_upstream_init_request's part: the peer chosen, the request
/// made, a pooled connection taken or a new one opened.
pub(crate) fn proxy_start<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    pass: &ProxyPass,
) -> Finalize {
    if pass.vars.is_some() {
        // ngx_http_proxy_eval, then the peer: an upstream block, an
        // address, or a name for the resolver (upstream_resolve.rs).
        return match proxy_eval(cy, key, pass) {
            Some(res) => crate::http::upstream_resolve::init_request(cy, key, res),
            None => Finalize::Status(500),
        };
    }
    let Some(r) = cy.conns[key].req() else {
        return Finalize::Close;
    };
    let head_request = r.method == Method::Head;
    // POST, and the methods holdfast does not name (PATCH, LOCK among them),
    // are not sent twice.
    let idempotent = !matches!(r.method, Method::Post | Method::Other);
    // ngx_http_upstream_get_round_robin_peer for an upstream block; a
    // proxy_pass to an address has that one peer.
    let now = cy.clock.now_ms;
    // The peers tried so far: a connect() that fails at once goes to the
    // next peer, as ngx_http_upstream_connect() does on NGX_DECLINED.
    let mut tried: Vec<usize> = Vec::new();
    loop {
        let (addr, peer_index, pool) = match pass.upstream {
            Some(u) => {
                let Some(p) = cy
                    .upstream_peers
                    .get_mut(u)
                    .and_then(|set| set.get_peer(now, &tried))
                else {
                    crate::http::request::http_error!(
                        cy,
                        key,
                        "no live upstreams while connecting to upstream"
                    );
                    // $upstream_addr names the upstream when no peer was tried.
                    let name = cy.upstream_peers[u].name.clone();
                    if let Some(r) = cy.conns[key].req_mut() {
                        r.upstream_tries.push(crate::http::request::UpstreamTry {
                            addr: crate::http::request::TryAddr::Name(name),
                            status: 502,
                            ..Default::default()
                        });
                    }
                    return Finalize::Status(502);
                };
                let addr = cy.upstream_peers[u]
                    .peer(p)
                    .map_or_else(|| pass.addr.clone(), |peer| peer.addr.clone());
                let pooled = cy.upstream_pools.get(u).is_some_and(|k| k.max_idle > 0);
                (addr, Some((u, p)), pooled.then_some(u))
            }
            None => (pass.addr.clone(), None, None),
        };
        let (mut request, uri) = create_request(cy, key, pass, pool.is_some());
        if let Some(r) = cy.conns[key].req_mut() {
            // proxy_request_buffering off: the body bytes that came with
            // the head follow it at once.
            request.extend_from_slice(&r.body_preread);
            r.upstream_uri = Some(uri);
        }
        let client = cy.conns[key].token(key);
        let ssl = crate::http::upstream_ssl::ssl_name(cy, key, pass);
        if let Some(r) = cy.conns[key].req_mut() {
            r.upstream_https = pass.ssl;
        }
        let reused =
            pool.and_then(|p| crate::http::upstream_keepalive::get_keepalive_peer(cy, p, &addr));
        let connected = match reused {
            Some(up) => {
                let c = &mut cy.conns[up];
                let mut u = UpstreamConn::new(
                    client,
                    UpstreamState::Sending,
                    request,
                    addr.clone(),
                    head_request,
                    pool,
                    peer_index,
                    true,
                );
                u.idempotent = idempotent;
                u.start_ms = now;
                c.data = Some(Box::new(ConnData::Upstream(Box::new(u))));
                Ok(up)
            }
            None => event_connect_peer(
                cy,
                addr.clone(),
                client,
                request,
                head_request,
                pool,
                peer_index,
                ssl.clone(),
            ),
        };
        if let Ok(up) = connected
            && let Some(u) = up_mut(cy, up)
        {
            u.idempotent = idempotent;
            u.ssl = ssl;
            u.tried = tried.clone();
            u.tried.extend(peer_index.map(|(_, p)| p));
        }
        match connected {
            Ok(up) => {
                let up_token = cy.conns[up].token(up);
                let c = &mut cy.conns[key];
                // A body still streaming (proxy_request_buffering off) is
                // read on; otherwise the client is only watched.
                let streaming = crate::core::connection::req_in(&mut c.data)
                    .is_some_and(|r| r.body_stream && !r.body.is_done());
                c.read.handler = if streaming {
                    ReadHandler::ReadUnbufferedBody
                } else {
                    ReadHandler::TestReading
                };
                if let Some(r) = crate::core::connection::req_in(&mut c.data) {
                    r.upstream = Some(up_token);
                    // The peer's request holds the preread body now (a
                    // connect() that failed at once built it again).
                    r.body_preread = Vec::new();
                }
                if streaming {
                    cy.post_event(key, crate::core::connection::EvKind::Read);
                }
                if reused.is_some() {
                    send_request_handler(cy, up);
                }
                return Finalize::Upstream;
            }
            Err(e) => {
                if let Some((u, p)) = peer_index {
                    cy.upstream_peers[u].free_peer(p, true, now);
                }
                crate::http::upstream::connect_failed(cy, key, &addr, &e);
                // $upstream_addr names the peer tried (nginx's u->state).
                if let Some(r) = cy.conns[key].req_mut() {
                    r.upstream_tries.push(crate::http::request::UpstreamTry {
                        addr: crate::http::request::TryAddr::Peer(addr),
                        status: 502,
                        ..Default::default()
                    });
                }
                // ngx_http_upstream_next(NGX_HTTP_UPSTREAM_FT_ERROR).
                let (bits, limit) = cy.conns[key]
                    .req()
                    .and_then(|r| r.loc.as_ref())
                    .map_or((crate::conf::http_proxy::next::DEFAULT, 0), |l| {
                        (l.proxy.next_upstream, l.proxy.next_upstream_tries)
                    });
                let Some((u, p)) = peer_index else {
                    return Finalize::Status(502);
                };
                tried.push(p);
                let tries = cy.upstream_peers.get(u).map_or(0, |s| s.tries());
                let limit = if limit == 0 {
                    tries
                } else {
                    (limit as usize).min(tries)
                };
                if bits & crate::conf::http_proxy::next::ERROR == 0 || tried.len() >= limit {
                    return Finalize::Status(502);
                }
            }
        }
    }
}

/// Mirrors ngx_http_proxy_eval(): the `proxy_pass` URL with variables,
/// evaluated for this request: `http://HOST[:PORT][/URI]`, the URI part
/// (`?ARGS` becomes `/?ARGS`) to be sent as it is, `$proxy_host` HOST with
/// the port unless it is 80. None (500) after logging what is wrong.
fn proxy_eval<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    pass: &ProxyPass,
) -> Option<crate::http::upstream_resolve::Resolved> {
    let mut raw = Vec::new();
    crate::http::variables::complex_value(cy, key, pass.vars.as_deref()?, &mut raw);
    let url = String::from_utf8_lossy(&raw).into_owned();
    let scheme = |s: &str| {
        url.get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
    };
    let (rest, ssl) = if scheme("http://") && url.len() > 7 {
        (&url[7..], false)
    } else if scheme("https://") && url.len() > 8 {
        (&url[8..], true)
    } else {
        crate::http::request::http_error!(cy, key, "invalid URL prefix in \"{url}\"");
        return None;
    };
    if rest
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("unix:"))
    {
        // ngx_parse_unix_domain_url(): `unix:PATH[:URI]`, Host `localhost`.
        let Some((addr, uri)) = crate::os::net::parse_unix_url(&rest[5..]) else {
            crate::http::request::http_error!(
                cy,
                key,
                "no path in the unix domain socket \"{rest}\""
            );
            return None;
        };
        return Some(crate::http::upstream_resolve::Resolved {
            pass: std::rc::Rc::new(ProxyPass {
                addr,
                host: "localhost".to_string(),
                uri,
                upstream: None,
                vars: None,
                uri_verbatim: true,
                ssl,
            }),
            host: "localhost".to_string(),
            port: 0,
            no_port: false,
            ip: None,
            wait: None,
            peers: None,
        });
    }
    // ngx_parse_inet_url() with `uri_part`: the URI starts at the first
    // `/` or `?`; a port follows the first `:` (after `]` for IPv6).
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hostport, uri) = rest.split_at(cut);
    let (host, port_text) = match hostport.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, "")) => (&hostport[..ip.len() + 2], None),
            Some((ip, p)) => (
                &hostport[..ip.len() + 2],
                Some(p.strip_prefix(':').unwrap_or(p)),
            ),
            None => ("", None),
        },
        None => match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        },
    };
    let default_port = if ssl { 443 } else { 80 };
    let port = match port_text {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => {
                crate::http::request::http_error!(cy, key, "invalid port in upstream \"{rest}\"");
                return None;
            }
        },
    };
    if host.is_empty() {
        crate::http::request::http_error!(cy, key, "no host in upstream \"{rest}\"");
        return None;
    }
    let ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse::<std::net::IpAddr>()
        .ok();
    let uri = match uri.strip_prefix('?') {
        Some(_) => Some(format!("/{uri}")),
        None => (!uri.is_empty()).then(|| uri.to_string()),
    };
    // ngx_http_proxy_set_vars(): the Host header, with the port unless it
    // is the default one.
    let host_header = match port_text {
        Some(p) if port != default_port => format!("{host}:{p}"),
        _ => host.to_string(),
    };
    Some(crate::http::upstream_resolve::Resolved {
        pass: std::rc::Rc::new(ProxyPass {
            addr: std::net::SocketAddr::from(([0, 0, 0, 0], port)).into(),
            host: host_header,
            uri,
            upstream: None,
            vars: None,
            uri_verbatim: true,
            ssl,
        }),
        host: host.to_string(),
        port,
        no_port: port_text.is_none(),
        ip,
        wait: None,
        peers: None,
    })
}

/// Mirrors ngx_http_proxy_create_request() with the default headers:
/// `METHOD URI HTTP/1.0`, `Host: $proxy_host`, `Connection: close`, then
/// the client's headers but those the proxy sets or clears (Host,
/// Connection, Keep-Alive, Expect, Upgrade, TE, Transfer-Encoding,
/// Content-Length).
fn create_request<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    pass: &ProxyPass,
    pooled: bool,
) -> (Vec<u8>, Vec<u8>) {
    let c = &cy.conns[key];
    let (Some(r), Some(b)) = (c.req(), c.buf()) else {
        return (Vec::new(), Vec::new());
    };
    let head = b.data().get(..r.head_len).unwrap_or_default();
    let line = head.get(..r.line_len).unwrap_or_default();
    let preq = r.loc.as_ref().map(|l| l.proxy.request.clone());
    let preq = preq.as_deref();
    let mut method_buf = Vec::new();
    let method = match preq.and_then(|p| p.method.as_deref()) {
        // proxy_method: the configured one.
        Some(m) => {
            crate::http::variables::complex_value(cy, key, m, &mut method_buf);
            &method_buf[..]
        }
        None => line.split(|&x| x == b' ').next().unwrap_or(b"GET"),
    };
    let mut out = Vec::with_capacity(head.len() + 64);
    out.extend_from_slice(method);
    out.push(b' ');
    match &pass.uri {
        // No URI part: the client's as it came (nginx's unparsed URI),
        // unless a rewrite or redirect changed it.
        None if !r.internal => out.extend_from_slice(
            head.get(r.target.0..r.target.0 + r.target.1)
                .unwrap_or(b"/"),
        ),
        None => push_uri_args(&mut out, &r.uri, r.args(head)),
        // After `rewrite … break` the location no longer names the URI:
        // nginx sends the rewritten URI whole, without the URI part.
        // An evaluated proxy_pass's URI part goes as it is.
        Some(part) if pass.uri_verbatim => out.extend_from_slice(part.as_bytes()),
        Some(_) if !r.valid_location => push_uri_args(&mut out, &r.uri, r.args(head)),
        Some(part) => {
            let loc_len = r.loc.as_ref().map_or(0, |l| l.name.len());
            let mut uri = part.as_bytes().to_vec();
            uri.extend_from_slice(r.uri.get(loc_len..).unwrap_or_default());
            push_uri_args(&mut out, &uri, r.args(head));
        }
    }
    let uri = out[method.len() + 1..].to_vec();
    // HTTP/1.1 by default to a pooled upstream (nginx ≥ 1.29.7 pools by
    // default and speaks 1.1 to it).
    let http_11 = r
        .loc
        .as_ref()
        .and_then(|l| l.proxy.http_11)
        .unwrap_or(pooled);
    out.extend_from_slice(if http_11 {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });
    let set: &[crate::conf::http_proxy::ProxyHeader] =
        r.loc.as_ref().map_or(&[], |l| &l.proxy.set_headers);
    let is_set = |name: &[u8]| {
        set.iter()
            .any(|h| name.eq_ignore_ascii_case(h.name.as_bytes()))
    };
    // nginx's defaults, unless proxy_set_header names them: Host
    // $proxy_host, and Connection close unless the connection is kept.
    if !is_set(b"host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(pass.host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !is_set(b"connection") && !pooled {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    // ngx_http_proxy_create_request: the set headers, an empty value none.
    let mut value = Vec::new();
    for h in set {
        value.clear();
        crate::http::variables::complex_value(cy, key, &h.value, &mut value);
        if !value.is_empty() {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
    }
    // The body: proxy_set_body's, else the client's (unless
    // proxy_pass_request_body off), its length from memory and file.
    let mut set_body = Vec::new();
    let pass_body = preq.is_none_or(|p| p.pass_body);
    let body_len = match preq.and_then(|p| p.set_body.as_deref()) {
        Some(v) => {
            crate::http::variables::complex_value(cy, key, v, &mut set_body);
            Some(set_body.len() as u64)
        }
        // A streamed body (proxy_request_buffering off): the client's
        // length, or chunked again.
        None if r.body_stream && r.chunked => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            None
        }
        None if r.body_stream => r.content_length,
        None if pass_body => r
            .request_body
            .as_ref()
            .map(|b| b.len() as u64 + r.request_body_file.as_ref().map_or(0, |f| f.len)),
        None => None,
    };
    if let Some(n) = body_len {
        out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
    }
    let skip = [
        &b"host"[..],
        b"connection",
        b"keep-alive",
        b"expect",
        b"upgrade",
        b"te",
        b"transfer-encoding",
        b"content-length",
    ];
    let pass_headers = preq.is_none_or(|p| p.pass_headers);
    for l in head
        .split(|&x| x == b'\n')
        .skip(1)
        .take_while(|_| pass_headers)
    {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.is_empty() {
            break;
        }
        let name = l.split(|&x| x == b':').next().unwrap_or_default();
        if skip.iter().any(|s| name.eq_ignore_ascii_case(s)) || is_set(name) {
            continue;
        }
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if preq.is_some_and(|p| p.set_body.is_some()) {
        out.extend_from_slice(&set_body);
    } else if r.body_stream {
        // The streamed body's first part: proxy_start adds it.
    } else if pass_body && let Some(body) = &r.request_body {
        // A body in a file follows from the file (send_request_handler).
        out.extend_from_slice(body);
    }
    (out, uri)
}

fn push_uri_args(out: &mut Vec<u8>, uri: &[u8], args: Option<&[u8]>) {
    crate::http::parse::escape_uri(uri, out);
    if let Some(a) = args {
        out.push(b'?');
        out.extend_from_slice(a);
    }
}
