//! The request's phases after the header: nginx's `ngx_http_core_module.c`
//! (ngx_http_handler, ngx_http_core_run_phases and the phase checkers,
//! ngx_http_internal_redirect, ngx_http_named_location,
//! ngx_http_map_uri_to_path, ngx_http_set_disable_symlinks,
//! ngx_http_update_location_config).
//!
//! holdfast runs the phases nginx has handlers for in its build, in nginx's
//! order: server rewrite → find config → rewrite → post rewrite → access →
//! try_files → content. Every phase is synchronous (no upstream yet), so
//! the engine is a loop over [`Phase`]; an internal redirect starts the
//! loop again, bounded by `r.uri_changes` as in nginx.

use std::rc::Rc;

use crate::conf::{Alias, LocConf, ServerConf};
use crate::core::connection::{buf_req, req_in};
use crate::core::cycle::Cycle;
use crate::core::open_file_cache::{DisableSymlinks, Symlinks};
use crate::http::parse::{self, ConnectionType, Method, Version};
use crate::http::request::{Finalize, Request, finalize_request, http_error};
use crate::http::{body, rewrite_module, static_module};
use crate::os::io::Transport;

/// nginx's NGX_HTTP_MAX_URI_CHANGES: internal redirects and URI rewrites
/// a request may go through.
pub const MAX_URI_CHANGES: u8 = 10;

/// The phases holdfast runs (nginx's ngx_http_phases, those with handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// NGX_HTTP_SERVER_REWRITE_PHASE: the server level's rewrite script.
    ServerRewrite,
    /// NGX_HTTP_FIND_CONFIG_PHASE: the location.
    FindConfig,
    /// NGX_HTTP_REWRITE_PHASE: the location's rewrite script.
    Rewrite,
    /// NGX_HTTP_POST_REWRITE_PHASE: back to find config when the URI changed.
    PostRewrite,
    /// NGX_HTTP_ACCESS_PHASE: `allow`/`deny`.
    Access,
    /// NGX_HTTP_PRECONTENT_PHASE: `try_files`.
    TryFiles,
    /// NGX_HTTP_CONTENT_PHASE: `stub_status`, index, static.
    Content,
}

/// What a phase checker decided.
enum Step {
    /// Go on with this phase.
    Goto(Phase),
    /// The request is answered (or closed) with this.
    Finalize(Finalize),
}

/// Mirrors ngx_http_core_find_location() for the request's URI: the
/// location's settings (the server's when none matches); a regex location
/// leaves its captures for `$1`..`$9` and its named groups.
pub fn find_location(server: &ServerConf, r: &mut Request, number: u64) -> Rc<LocConf> {
    let uri = std::mem::take(&mut r.uri);
    let mut exec = |loc: &crate::conf::Location| -> bool {
        let Some(re) = loc.regex.as_ref() else {
            return false;
        };
        log::debug!("*{number} test location: ~ \"{}\"", loc.uri);
        regex_exec(r, &re.0, &uri)
    };
    let found = server.find_location_traced(&uri, number, &mut exec);
    r.uri = uri;
    found.map_or(&server.conf, |l| &l.conf).clone()
}

/// Mirrors ngx_http_regex_exec(): matches `re` against `subject`; on a
/// match the captures (and the regex, for named groups) are the request's.
pub fn regex_exec(r: &mut Request, re: &regex::bytes::Regex, subject: &[u8]) -> bool {
    let mut locs = re.capture_locations();
    if re.captures_read(&mut locs, subject).is_none() {
        return false;
    }
    r.captures.clear();
    r.captures
        .extend((0..locs.len()).map(|i| locs.get(i).unwrap_or((0, 0))));
    r.captures_data.clear();
    r.captures_data.extend_from_slice(subject);
    r.capture_regex = re
        .capture_names()
        .flatten()
        .next()
        .is_some()
        .then(|| re.clone());
    true
}

/// Mirrors ngx_http_handler(): the keep-alive decision and the virtual
/// server, then the phases from the server rewrite one.
pub fn http_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    let listening = &cy.listening[c.li()];
    let Some(r) = req_in(&mut c.data) else { return };
    r.keepalive = match r.connection {
        ConnectionType::Close => false,
        ConnectionType::KeepAlive => true,
        ConnectionType::None => r.version == Version::Http11,
    };
    r.lingering_close = r.content_length.unwrap_or(0) > 0 || r.chunked;
    r.valid_location = true;
    // No Host (HTTP/1.0): nginx looks the empty name up, so a server with
    // `server_name ""` answers.
    let (server, name_re) = listening.find_server(Some(&r.host[..]));
    let server = server.clone();
    if let Some(re) = name_re {
        // ngx_http_find_virtual_server: a regex name's captures are the
        // request's (`$1`, named groups).
        let host = std::mem::take(&mut r.host);
        regex_exec(r, &re.0, &host);
        r.host = host;
    }
    // ngx_http_set_virtual_server: the server's settings and error log until
    // a location is found (its keep-alive limits are not applied: only the
    // location's are, in find config).
    crate::core::log::use_logs(&server.conf.error_log);
    r.loc = Some(server.conf.clone());
    r.server = Some(server);
    // ngx_http_process_request's ssl_verify_client checks need the server.
    if let Some(code) = crate::http::ssl_client::verify_request(cy, key) {
        finalize_request(cy, key, Finalize::Status(code));
        return;
    }
    let rc = core_run_phases(cy, key, Phase::ServerRewrite);
    finalize_request(cy, key, rc);
}

/// Mirrors ngx_http_core_run_phases(): runs the phases from `phase` until
/// one answers.
pub fn core_run_phases<S: Transport>(cy: &mut Cycle<S>, key: usize, mut phase: Phase) -> Finalize {
    loop {
        let step = match phase {
            Phase::ServerRewrite => core_rewrite_phase(cy, key, true),
            Phase::FindConfig => core_find_config_phase(cy, key),
            Phase::Rewrite => core_rewrite_phase(cy, key, false),
            Phase::PostRewrite => core_post_rewrite_phase(cy, key),
            Phase::Access => core_access_phase(cy, key),
            Phase::TryFiles => core_try_files_phase(cy, key),
            Phase::Content => return core_content_phase(cy, key),
        };
        match step {
            Step::Goto(next) => phase = next,
            Step::Finalize(Finalize::Close) => return Finalize::Close,
            Step::Finalize(rc) => {
                // The answer goes out now: the body still unread is
                // discarded first (ngx_http_special_response_handler and
                // ngx_http_send_response both do); an error answer asks for
                // no body, so no `100 Continue` (nginx's expect_tested).
                if let (Finalize::Status(_), Some(r)) = (rc, cy.conns[key].req_mut()) {
                    r.expect_continue = false;
                }
                return match body::discard_request_body(cy, key) {
                    Err(status) => Finalize::Status(status),
                    Ok(()) => rc,
                };
            }
        }
    }
}

/// Mirrors ngx_http_core_rewrite_phase() with ngx_http_rewrite_handler():
/// the server level's script, or the location's (skipped when no location
/// matched, as the server's script already ran).
fn core_rewrite_phase<S: Transport>(cy: &mut Cycle<S>, key: usize, server: bool) -> Step {
    let next = if server {
        Phase::FindConfig
    } else {
        Phase::PostRewrite
    };
    let Some(r) = cy.conns[key].req() else {
        return Step::Finalize(Finalize::Close);
    };
    let (Some(srv), Some(loc)) = (r.server.as_ref(), r.loc.as_ref()) else {
        return Step::Goto(next);
    };
    let codes = if server {
        srv.conf.rewrite.clone()
    } else if Rc::ptr_eq(loc, &srv.conf) {
        None
    } else {
        loc.rewrite.clone()
    };
    let Some(codes) = codes else {
        return Step::Goto(next);
    };
    match rewrite_module::rewrite_handler(cy, key, &codes) {
        Some(rc) => Step::Finalize(rc),
        None => Step::Goto(next),
    }
}

/// Mirrors ngx_http_core_find_config_phase(): the location, its `internal`
/// check, its settings, and the client_max_body_size check of a declared
/// length.
fn core_find_config_phase<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Step {
    let number = cy.conns[key].number;
    let Some(r) = cy.conns[key].req_mut() else {
        return Step::Finalize(Finalize::Close);
    };
    r.uri_changed = false;
    r.valid_location = true;
    let Some(server) = r.server.clone() else {
        return Step::Finalize(Finalize::Close);
    };
    let loc = find_location(&server, r, number);
    log::debug!(
        "*{number} using configuration \"{}\"",
        if loc.name.is_empty() { "" } else { &loc.name }
    );
    let internal_only = !r.internal && loc.internal;
    // ngx_http_core_find_static_location's auto_redirect: `/auto` asked,
    // `location /auto/ { proxy_pass …; }` there, no `= /auto`: a 301 to
    // the slash form, arguments kept.
    let auto = !loc.name.starts_with('=') && server.auto_redirect(&r.uri);
    r.loc = Some(loc);
    if auto {
        let mut target = Vec::with_capacity(r.uri.len() + 1);
        crate::http::parse::escape_uri(&r.uri, &mut target);
        target.push(b'/');
        let head = cy.conns[key]
            .buf()
            .map(|b| b.data().to_vec())
            .unwrap_or_default();
        if let Some(a) = cy.conns[key]
            .req()
            .and_then(|r| r.args(&head).map(<[u8]>::to_vec))
        {
            target.push(b'?');
            target.extend_from_slice(&a);
        }
        crate::http::response::set_location(cy, key, &target);
        return Step::Finalize(Finalize::Status(301));
    }
    if internal_only {
        return Step::Finalize(Finalize::Status(404));
    }
    update_location_config(cy, key);
    if let Some(status) = check_body_size(cy, key) {
        return Step::Finalize(Finalize::Status(status));
    }
    Step::Goto(Phase::Rewrite)
}

/// Mirrors ngx_http_core_post_rewrite_phase(): a changed URI sends the
/// request back to find config, at most [`MAX_URI_CHANGES`] times.
fn core_post_rewrite_phase<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Step {
    let number = cy.conns[key].number;
    let Some(r) = cy.conns[key].req_mut() else {
        return Step::Finalize(Finalize::Close);
    };
    if !r.uri_changed {
        return Step::Goto(Phase::Access);
    }
    log::debug!("*{number} uri changes: {}", r.uri_changes);
    r.uri_changes = r.uri_changes.saturating_sub(1);
    if r.uri_changes == 0 {
        let uri = String::from_utf8_lossy(&r.uri).into_owned();
        log::error!(
            "*{number} rewrite or internal redirection cycle while processing \"{uri}\"{}",
            crate::http::request::log_ctx(cy, key)
        );
        return Step::Finalize(Finalize::Status(500));
    }
    if let Some(s) = r.server.as_ref() {
        r.loc = Some(s.conf.clone());
    }
    Step::Goto(Phase::FindConfig)
}

/// Mirrors ngx_http_core_access_phase() with ngx_http_access_handler():
/// the first `allow`/`deny` rule that matches the client decides; a deny
/// is 403 and an error-log line.
fn core_access_phase<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Step {
    let c = &cy.conns[key];
    let Some(loc) = c.req().and_then(|r| r.loc.as_ref()) else {
        return Step::Goto(Phase::TryFiles);
    };
    let ip = (!c.unix).then_some(c.ip);
    let denied = loc
        .access
        .iter()
        .find(|rule| rule.matches(ip))
        .is_some_and(|rule| rule.deny);
    if denied {
        http_error!(cy, key, "access forbidden by rule");
        return Step::Finalize(Finalize::Status(403));
    }
    Step::Goto(Phase::TryFiles)
}

/// Mirrors ngx_http_core_try_files_phase(): see [`static_module::try_files`].
fn core_try_files_phase<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Step {
    let tf = cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .and_then(|l| l.try_files.clone());
    let Some(tf) = tf else {
        return Step::Goto(Phase::Content);
    };
    match static_module::try_files(cy, key, &tf) {
        None => Step::Goto(Phase::Content),
        Some(rc) => Step::Finalize(rc),
    }
}

/// Mirrors ngx_http_core_content_phase(): the body is discarded, then
/// `stub_status`, or the index and static handlers.
fn core_content_phase<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let Some(loc) = cy.conns[key].req().and_then(|r| r.loc.clone()) else {
        return Finalize::Close;
    };
    // The proxy reads the body to pass it on; every other handler discards it.
    if let Some(pass) = &loc.proxy.pass {
        return crate::http::proxy_module::proxy_handler(cy, key, pass);
    }
    if let Err(status) = body::discard_request_body(cy, key) {
        return Finalize::Status(status);
    }
    if loc.stub_status {
        return crate::http::stub_status::stub_status_handler(cy, key);
    }
    if loc.connection_status {
        return crate::http::connection_status::connection_status_handler(cy, key);
    }
    static_module::static_handler(cy, key)
}

/// Mirrors ngx_http_internal_redirect(): the request starts over from the
/// server rewrite phase with a new URI and arguments.
pub fn internal_redirect<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    uri: Vec<u8>,
    args: Option<Vec<u8>>,
) -> Finalize {
    let number = cy.conns[key].number;
    let Some(r) = cy.conns[key].req_mut() else {
        return Finalize::Close;
    };
    r.uri_changes = r.uri_changes.saturating_sub(1);
    if r.uri_changes == 0 {
        let uri = String::from_utf8_lossy(&uri).into_owned();
        log::error!(
            "*{number} rewrite or internal redirection cycle while internally redirecting to \"{uri}\"{}",
            crate::http::request::log_ctx(cy, key)
        );
        return Finalize::Status(500);
    }
    r.uri = uri;
    if let Some(a) = args {
        r.args_rw = Some(a);
    }
    // The captures stay (nginx keeps r->captures across the redirect).
    r.internal = true;
    r.add_uri_to_alias = false;
    if let Some(s) = r.server.as_ref() {
        r.loc = Some(s.conf.clone());
    }
    if log::log_enabled!(log::Level::Debug) {
        let target = crate::http::request::uri_args(&cy.conns[key]);
        log::debug!("*{number} internal redirect: \"{target}\"");
    }
    update_location_config(cy, key);
    core_run_phases(cy, key, Phase::ServerRewrite)
}

/// Mirrors ngx_http_named_location(): the request continues in `@name`'s
/// rewrite phase, URI unchanged.
pub fn named_location<S: Transport>(cy: &mut Cycle<S>, key: usize, name: &[u8]) -> Finalize {
    let number = cy.conns[key].number;
    let Some(r) = cy.conns[key].req_mut() else {
        return Finalize::Close;
    };
    let shown = String::from_utf8_lossy(name).into_owned();
    r.uri_changes = r.uri_changes.saturating_sub(1);
    if r.uri_changes == 0 {
        log::error!(
            "*{number} rewrite or internal redirection cycle while redirect to named location \"{shown}\"{}",
            crate::http::request::log_ctx(cy, key)
        );
        return Finalize::Status(500);
    }
    let found = r
        .server
        .as_ref()
        .and_then(|s| s.named_location(name))
        .map(|l| l.conf.clone());
    let Some(loc) = found else {
        log::error!(
            "*{number} could not find named location \"{shown}\"{}",
            crate::http::request::log_ctx(cy, key)
        );
        return Finalize::Status(500);
    };
    log::debug!(
        "*{number} using location: {shown} \"{}\"",
        String::from_utf8_lossy(&r.uri)
    );
    r.loc = Some(loc);
    update_location_config(cy, key);
    core_run_phases(cy, key, Phase::Rewrite)
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
    if max > 0 && len > max && !r.body.is_done() {
        http_error!(
            cy,
            key,
            "client intended to send too large body: {len} bytes"
        );
        return Some(413);
    }
    None
}

/// The location's root (or alias) as a path, its variables evaluated and a
/// relative result put under the prefix (ngx_http_map_uri_to_path's first
/// half, `$document_root`), appended to `out`.
pub fn root_path<S: Transport>(cy: &Cycle<S>, key: usize, out: &mut Vec<u8>) -> Option<()> {
    let loc = cy.conns[key].req()?.loc.as_ref()?;
    match &loc.root_vars {
        None => out.extend_from_slice(loc.root.as_os_str().as_encoded_bytes()),
        Some(segs) => {
            let start = out.len();
            crate::http::variables::complex_value(cy, key, segs, out);
            if !out[start..].starts_with(b"/") {
                let prefix = cy.conf.prefix.as_os_str().as_encoded_bytes();
                let slash = !prefix.ends_with(b"/");
                out.splice(
                    start..start,
                    prefix.iter().copied().chain(slash.then_some(b'/')),
                );
            }
            if loc.alias == Alias::Root && out.len() > start + 1 && out.ends_with(b"/") {
                out.pop();
            }
        }
    }
    Some(())
}

/// Mirrors ngx_http_map_uri_to_path(): the file a URI names — root + URI,
/// or for `alias` the alias + the URI past the location's prefix (a regex
/// location's alias is the whole path) — written over `out`; returns the
/// root's length. None (and an alert) for an alias after the URI was
/// rewritten with `break`, as nginx.
pub fn map_uri_to_path<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let r = cy.conns[key].req()?;
    let loc = r.loc.as_ref()?;
    if loc.alias != Alias::Root && !r.valid_location {
        crate::http::request::http_log!(
            log::Level::Error,
            "holdfast::alert",
            cy,
            key,
            "\"alias\" cannot be used in location \"{}\" where URI was rewritten",
            loc.name
        );
        return None;
    }
    out.clear();
    root_path(cy, key, out)?;
    if loc.alias == Alias::Root && out.ends_with(b"/") {
        out.pop();
    }
    let root_len = out.len();
    match loc.alias {
        Alias::Root => out.extend_from_slice(&r.uri),
        Alias::Prefix(n) => out.extend_from_slice(r.uri.get(n..).unwrap_or_default()),
        Alias::Regex if r.add_uri_to_alias => out.extend_from_slice(&r.uri),
        Alias::Regex => {}
    }
    Some(root_len)
}

/// Mirrors ngx_http_set_disable_symlinks(): how a lookup of `path` treats
/// symbolic links under `loc`'s `disable_symlinks`. `from=` (evaluated
/// now) counts only when it is a directory prefix of the path: then the
/// links up to it are followed; when it is the whole path the check is off.
pub fn set_disable_symlinks<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    loc: &LocConf,
    path: &[u8],
) -> Symlinks {
    let mut of = Symlinks {
        mode: loc.disable_symlinks.mode,
        from: 0,
    };
    let Some(segs) = &loc.disable_symlinks.from else {
        return of;
    };
    let mut from = Vec::new();
    crate::http::variables::complex_value(cy, key, segs, &mut from);
    if from.is_empty() || !path.starts_with(&from) {
        return of;
    }
    if from.len() == path.len() {
        of.mode = DisableSymlinks::Off;
    } else if path[from.len()] == b'/' {
        of.from = from.len();
    } else if from.ends_with(b"/") {
        of.from = from.len() - 1;
    }
    of
}

/// Mirrors ngx_http_update_location_config(): the location's rate limits
/// (`limit_rate`, `limit_rate_after`, with variables evaluated now) and
/// keep-alive limits (keepalive_timeout 0, keepalive_requests,
/// keepalive_time, keepalive_disable).
pub fn update_location_config<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let now = cy.clock.now_ms;
    let c = &mut cy.conns[key];
    let (requests, age) = (c.requests, now.saturating_sub(c.start_ms));
    let Some(r) = crate::core::connection::req_in(&mut c.data) else {
        return;
    };
    let Some(loc) = r.loc.as_ref() else { return };
    // A rate set for this request (`set $limit_rate`, X-Accel-Limit-Rate)
    // stays, as nginx's r->limit_rate_set.
    if !r.limit_rate_set {
        r.limit_rate = loc.limit_rate;
    }
    r.limit_rate_after = loc.limit_rate_after;
    if loc.limit_rate_vars.is_some() || loc.limit_rate_after_vars.is_some() {
        let (rate, after) = (
            loc.limit_rate_vars.clone(),
            loc.limit_rate_after_vars.clone(),
        );
        limit_rate_vars(cy, key, rate, after);
    }
    update_location_keepalive(cy, key, requests, age)
}

/// `limit_rate` / `limit_rate_after` with variables: evaluated as sizes
/// (ngx_http_complex_value_size; a value that is not one counts as 0).
fn limit_rate_vars<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    rate: Option<std::rc::Rc<[crate::conf::variables::Segment]>>,
    after: Option<std::rc::Rc<[crate::conf::variables::Segment]>>,
) {
    let mut v = Vec::new();
    let mut eval = |segs: &[crate::conf::variables::Segment]| {
        v.clear();
        crate::http::variables::complex_value(cy, key, segs, &mut v);
        std::str::from_utf8(&v)
            .ok()
            .and_then(|s| crate::conf::parse_size(s).ok())
            .map_or(0, |n| n as u64)
    };
    let rate = rate.map(|r| eval(&r));
    let after = after.map(|a| eval(&a));
    if let Some(r) = cy.conns[key].req_mut() {
        if let Some(n) = rate.filter(|_| !r.limit_rate_set) {
            r.limit_rate = n;
        }
        if let Some(n) = after {
            r.limit_rate_after = n;
        }
    }
}

/// The keep-alive half of [`update_location_config`].
fn update_location_keepalive<S: Transport>(cy: &mut Cycle<S>, key: usize, requests: u64, age: u64) {
    let c = &mut cy.conns[key];
    let (Some(b), Some(r)) = buf_req(&mut c.data) else {
        return;
    };
    let Some(loc) = r.loc.as_ref() else { return };
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
