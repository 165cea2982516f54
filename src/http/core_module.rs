//! The request's phases after the header: nginx's `ngx_http_core_module.c`
//! (ngx_http_handler, the find-config phase with its client_max_body_size
//! check, ngx_http_update_location_config, the content phase).

use crate::core::connection::{buf_req, req_in};
use crate::core::cycle::Cycle;
use crate::http::parse::{self, ConnectionType, Method, Version};
use crate::http::request::{Finalize, finalize_request, http_error};
use crate::http::{body, response, static_module};
use crate::os::io::Transport;

/// Mirrors ngx_http_core_find_location() for the request's URI: the
/// location's settings (the server's when none matches); a regex location
/// leaves its captures in `r.captures` for `$1`..`$9`, any earlier ones are
/// dropped.
pub fn find_location(
    server: &crate::conf::ServerConf,
    r: &mut crate::http::request::Request,
) -> std::rc::Rc<crate::conf::LocConf> {
    let found = server.find_location(&r.uri);
    r.captures.clear();
    r.capture_regex = None;
    if let Some(re) = found.and_then(|l| l.regex.as_ref())
        && let Some(caps) = re.0.captures(&r.uri)
    {
        r.captures.extend(
            caps.iter()
                .map(|m| m.map_or((0, 0), |m| (m.start(), m.end()))),
        );
        if re.0.capture_names().flatten().next().is_some() {
            r.capture_regex = Some(re.0.clone());
        }
    }
    found.map_or(&server.conf, |l| &l.conf).clone()
}

/// Mirrors ngx_http_handler() with the find-config and content phases: the
/// keep-alive decision, the virtual server, the location, then `return` or
/// the static handler.
pub fn http_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    let listening = &cy.listening[c.li()];
    let Some(r) = req_in(&mut c.hc) else { return };
    r.keepalive = match r.connection {
        ConnectionType::Close => false,
        ConnectionType::KeepAlive => true,
        ConnectionType::None => r.version == Version::Http11,
    };
    r.lingering_close = r.content_length.unwrap_or(0) > 0 || r.chunked;
    let server = listening
        .find_server(r.has_host.then_some(&r.host[..]))
        .clone();
    let loc = find_location(&server, r);
    r.server = Some(server);
    r.loc = Some(loc);
    update_location_config(cy, key);
    // ngx_http_core_find_config_phase: an `internal` location is not for clients.
    let internal_only = cy.conns[key]
        .req()
        .is_some_and(|r| !r.internal && r.loc.as_ref().is_some_and(|l| l.internal));
    if internal_only {
        finalize_request(cy, key, Finalize::Status(404));
        return;
    }
    if let Some(status) = check_body_size(cy, key) {
        finalize_request(cy, key, Finalize::Status(status));
        return;
    }
    let rc = match body::discard_request_body(cy, key) {
        Err(status) => Finalize::Status(status),
        Ok(()) => content_handler(cy, key),
    };
    finalize_request(cy, key, rc);
}

/// The client_max_body_size check of ngx_http_core_find_config_handler: a
/// declared Content-Length over the limit is answered with 413 at once.
fn check_body_size<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Option<u16> {
    let r = cy.conns[key].req()?;
    let max = r
        .loc
        .as_ref()
        .map_or(body::CLIENT_MAX_BODY_SIZE, |l| l.client_max_body_size);
    let len = r.content_length?;
    if max > 0 && len > max {
        http_error!(
            cy,
            key,
            "client intended to send too large body: {len} bytes"
        );
        return Some(413);
    }
    None
}

/// Mirrors ngx_http_core_content_phase(): `return` if the location has one
/// (the rewrite module runs earlier in nginx), else stub_status, else static files.
pub fn content_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let Some(loc) = cy.conns[key].req().and_then(|r| r.loc.clone()) else {
        return Finalize::Close;
    };
    match &loc.ret {
        Some(ret) => response::return_handler(cy, key, ret),
        None if loc.stub_status => crate::http::stub_status::stub_status_handler(cy, key),
        None => static_module::static_handler(cy, key),
    }
}

/// Mirrors ngx_http_update_location_config(): the location's keep-alive limits
/// (keepalive_timeout 0, keepalive_requests, keepalive_time, keepalive_disable).
pub fn update_location_config<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let now = cy.clock.now_ms;
    let c = &mut cy.conns[key];
    let (requests, age) = (c.requests, now.saturating_sub(c.start_ms));
    let (Some(b), Some(r)) = buf_req(&mut c.hc) else {
        return;
    };
    let Some(loc) = r.loc.as_ref() else { return };
    r.limit_rate = loc.limit_rate;
    crate::core::log::use_logs(&loc.error_log);
    if loc.keepalive_timeout_ms == 0
        || requests >= loc.keepalive_requests
        || age > loc.keepalive_time_ms
    {
        r.keepalive = false;
        return;
    }
    // The User-Agent is looked at only when keepalive_disable could apply.
    let kd = loc.keepalive_disable;
    if let Some((o, l)) = r
        .user_agent
        .filter(|_| (kd.msie6 && r.method == Method::Post) || kd.safari)
    {
        let ua = parse::classify_user_agent(b.data().get(o..o + l).unwrap_or_default());
        if (ua.msie6 && r.method == Method::Post && kd.msie6) || (ua.safari && kd.safari) {
            r.keepalive = false;
        }
    }
}
