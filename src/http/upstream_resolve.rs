//! The peer of a `proxy_pass` with variables: the `u->resolved` branch of
//! ngx_http_upstream_init_request() (an `upstream` block of that name, an
//! address, or a name for the location's `resolver`),
//! ngx_http_upstream_resolve_handler(), and the part of
//! ngx_http_upstream_cleanup() for a request still waiting on the resolver.
//!
//! ```text
//! proxy_start ─ proxy_eval ─▶ init_request ─ upstream block / IP literal ─▶ proxy_start (connect)
//!                                          └ name ─ resolve_name ─ cached ─▶ resolved ─▶ proxy_start
//!                                                                └ later ─▶ (client waits, TestReading)
//!                                                                             resolve_handler ─▶ resolved
//! ```
//!
//! A name with several addresses gets a round-robin set of its own for the
//! request (nginx's ngx_http_upstream_create_round_robin_peer), so
//! `proxy_next_upstream` goes through them; the set is freed with the
//! request.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use crate::conf::http_proxy::ProxyPass;
use crate::core::connection::ReadHandler;
use crate::core::cycle::Cycle;
use crate::core::resolver::{Outcome, WaiterId};
use crate::event::resolver::{Answer, ResolveWait, resolve_name, resolve_name_done};
use crate::http::request::{Finalize, http_error};
use crate::os::io::Transport;

/// nginx's `ngx_http_upstream_resolved_t`: where an evaluated `proxy_pass`
/// goes, kept by the request until it is freed.
#[derive(Debug)]
pub struct Resolved {
    /// The evaluated `proxy_pass` (its `addr` or `upstream` once known).
    pub pass: Rc<ProxyPass>,
    /// The host as evaluated (`[...]` around an IPv6 address).
    pub host: String,
    /// The port (80 when none was given).
    pub port: u16,
    /// No port was given (only then may the host name an `upstream`).
    pub no_port: bool,
    /// The host is an address: no resolving.
    pub ip: Option<IpAddr>,
    /// Waiting on the resolver (nginx's `ur->ctx`).
    pub wait: Option<ResolveWait>,
    /// The request's own peer set, for several addresses.
    pub peers: Option<usize>,
}

/// The address of the implicit upstream `HOST:PORT` (a `proxy_pass`
/// without variables to it), if the configuration has one.
fn implicit_upstream<S: Transport>(
    cy: &Cycle<S>,
    host: &str,
    port: u16,
) -> Option<crate::os::net::PeerAddr> {
    let http = cy.conf.http.as_ref()?;
    http.implicit_upstreams
        .iter()
        .find(|i| i.port == port && i.host.eq_ignore_ascii_case(host))
        .map(|i| i.addr.clone())
}

/// Mirrors the `u->resolved` branch of ngx_http_upstream_init_request():
/// the evaluated `proxy_pass` names an `upstream` block, an address, or
/// a name resolved now (the request waits when the answer is not cached).
pub fn init_request<S: Transport>(cy: &mut Cycle<S>, key: usize, res: Resolved) -> Finalize {
    let upstreams = cy
        .conf
        .http
        .as_ref()
        .map(|h| h.upstreams.clone())
        .unwrap_or_default();
    let block = crate::conf::http_upstream::find_by_name(&upstreams, &res.host)
        .filter(|_| res.no_port)
        .map(|u| {
            let i = upstreams.iter().position(|x| Rc::ptr_eq(x, u));
            (i, u.servers.first().map(|s| s.addr.clone()))
        });
    let mut pass = (*res.pass).clone();
    let target = match (block, res.ip) {
        (Some((i, first)), _) => {
            pass.upstream = i;
            if let Some(first) = first {
                pass.addr = first;
            }
            true
        }
        (None, Some(ip)) => {
            pass.addr = SocketAddr::new(ip, res.port).into();
            true
        }
        // A unix socket needs no resolving.
        (None, None) if matches!(pass.addr, crate::os::net::PeerAddr::Unix(_)) => true,
        // ngx_http_upstream_init_request also finds the implicit upstream a
        // `proxy_pass` without variables defined for this host and port.
        (None, None) => match implicit_upstream(cy, &res.host, res.port) {
            Some(addr) => {
                pass.addr = addr;
                true
            }
            None => false,
        },
    };
    let pass = Rc::new(pass);
    let host = res.host.clone();
    if let Some(r) = cy.conns[key].req_mut() {
        r.resolved = Some(Box::new(Resolved {
            pass: pass.clone(),
            ..res
        }));
    }
    if target {
        return crate::http::proxy_module::proxy_start(cy, key, &pass);
    }
    let loc = cy.conns[key].req().and_then(|r| r.loc.clone());
    let Some((resolver, timeout)) =
        loc.and_then(|l| l.resolver.clone().map(|r| (r, l.resolver_timeout_ms)))
    else {
        http_error!(cy, key, "no resolver defined to resolve {host}");
        return Finalize::Status(502);
    };
    let token = cy.conns[key].token(key);
    match resolve_name(cy, &resolver, &host, timeout, token) {
        Answer::Now(outcome) => resolved(cy, key, outcome),
        Answer::Later(w) => {
            let c = &mut cy.conns[key];
            if let Some(res) = c.req_mut().and_then(|r| r.resolved.as_mut()) {
                res.wait = Some(w);
            }
            // The client is watched for going away while it waits; a FIN
            // that came with the request was reported already (edge-
            // triggered): nginx's write event finds it, here a posted read.
            c.read.handler = ReadHandler::TestReading;
            if c.pending_eof {
                cy.post_event(key, crate::core::connection::EvKind::Read);
            }
            Finalize::Upstream
        }
    }
}

/// Mirrors ngx_http_upstream_resolve_handler(): the resolver's answer for
/// the request of the client connection `user` (a token).
pub fn resolve_handler<S: Transport>(
    cy: &mut Cycle<S>,
    user: usize,
    waiter: WaiterId,
    outcome: Outcome,
) {
    let Some(key) = cy.lookup(user) else {
        return;
    };
    let Some(res) = cy.conns[key].req_mut().and_then(|r| r.resolved.as_mut()) else {
        return;
    };
    if !res.wait.is_some_and(|w| w.is(waiter)) {
        return;
    }
    res.wait = None;
    if let Some(loc) = cy.conns[key].req().and_then(|r| r.loc.as_ref()) {
        crate::core::log::use_logs(&loc.error_log);
    }
    log::debug!(
        "*{} http upstream resolve: \"{}\"",
        cy.conns[key].number,
        crate::http::request::uri_args(&cy.conns[key])
    );
    let rc = resolved(cy, key, outcome);
    crate::http::request::finalize_request(cy, key, rc);
}

/// The resolver answered: an error is 502 with nginx's line; addresses
/// become the peer (one) or the request's round-robin set (several).
fn resolved<S: Transport>(cy: &mut Cycle<S>, key: usize, outcome: Outcome) -> Finalize {
    let Some(res) = cy.conns[key].req().and_then(|r| r.resolved.as_ref()) else {
        return Finalize::Status(500);
    };
    let (host, port) = (res.host.clone(), res.port);
    let addrs = match outcome {
        Ok(addrs) if !addrs.is_empty() => addrs,
        Ok(_) => {
            http_error!(cy, key, "{host} could not be resolved (3: Host not found)");
            return Finalize::Status(502);
        }
        Err(e) => {
            http_error!(cy, key, "{host} could not be resolved ({e})");
            return Finalize::Status(502);
        }
    };
    let number = cy.conns[key].number;
    let addrs: Vec<SocketAddr> = addrs
        .into_iter()
        .map(|ip| {
            log::debug!("*{number} name was resolved to {ip}");
            SocketAddr::new(ip, port)
        })
        .collect();
    let mut pass = (*res.pass).clone();
    pass.addr = addrs[0].into();
    let peers = (addrs.len() > 1).then(|| {
        cy.upstream_peers
            .create_round_robin_peer(&format!("{host}:{port}"), &addrs)
    });
    pass.upstream = peers;
    let pass = Rc::new(pass);
    if let Some(res) = cy.conns[key].req_mut().and_then(|r| r.resolved.as_mut()) {
        res.pass = pass.clone();
        res.peers = peers;
    }
    crate::http::proxy_module::proxy_start(cy, key, &pass)
}

/// The part of ngx_http_upstream_cleanup() for the resolver: a request
/// freed while waiting stops waiting; its peer set goes.
pub fn cleanup<S: Transport>(cy: &mut Cycle<S>, res: Resolved) {
    if let Some(w) = res.wait {
        resolve_name_done(cy, w);
    }
    if let Some(i) = res.peers {
        cy.upstream_peers.free_resolved(i);
    }
}
