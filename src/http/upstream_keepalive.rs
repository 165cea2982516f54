//! The upstream keep-alive pool: nginx's
//! `ngx_http_upstream_keepalive_module.c`.
//!
//! An `upstream` block with `keepalive N` keeps up to N idle connections
//! to its servers, most recently used first. A request takes the newest
//! idle connection to the server the balancer chose; a finished exchange
//! gives its connection back when the response was fully delimited and the
//! peer did not ask to close; the oldest idle connection is closed when
//! the pool is full. An idle connection that becomes readable (the peer
//! closed it, or sent something it should not have) is closed.
//!
//! Where holdfast differs: nginx closes the oldest idle connection the
//! moment a full pool gets one more back. Under load the requests in
//! flight come and go in waves (many responses in one epoll_wait, the next
//! requests a loop later), so a pool of N sheds connections one loop and
//! connects anew the next: measured, 150 new upstream connections per
//! 1,000 requests with `keepalive 32` and 50 clients. holdfast lets a full
//! pool hold the extra connections for [`KEEPALIVE_EVICT_DELAY_MS`] and
//! closes, oldest first, those still beyond N after it ([`trim_pools`],
//! run by the event loop): the same workload then opens about 2 per 1,000.

use std::collections::VecDeque;

/// How long a full pool may keep connections beyond `keepalive N` before
/// the oldest are closed (see the module docs).
pub const KEEPALIVE_EVICT_DELAY_MS: u64 = 5;

use crate::core::connection::{EvKind, ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::os::io::Transport;

/// One upstream block's pool (ngx_http_upstream_keepalive_srv_conf_t's
/// cache and its limits).
#[derive(Debug, Clone)]
pub struct KeepalivePool {
    /// `keepalive N`: idle connections kept at most.
    pub max_idle: usize,
    /// `keepalive_requests`: requests a connection serves before it closes.
    pub requests: u64,
    /// `keepalive_time`: how long a connection may be reused, in ms.
    pub time_ms: u64,
    /// `keepalive_timeout`: how long it may stay idle, in ms.
    pub timeout_ms: u64,
    /// Idle connections' tokens and when they were saved (cycle ms),
    /// newest first.
    pub idle: VecDeque<(usize, u64)>,
    /// Connections taken from the pool, for the benchmarks and tests
    /// (`get keepalive peer: using connection`).
    pub reused: u64,
}

impl KeepalivePool {
    /// An empty pool with the block's limits.
    pub fn new(max_idle: usize, requests: u64, time_ms: u64, timeout_ms: u64) -> Self {
        KeepalivePool {
            max_idle,
            requests,
            time_ms,
            timeout_ms,
            idle: VecDeque::new(),
            reused: 0,
        }
    }
}

/// Mirrors ngx_http_upstream_get_keepalive_peer(): the newest idle
/// connection of pool `pool` to `addr`, taken out of the pool (its idle
/// timer deleted); None when there is none.
pub fn get_keepalive_peer<S: Transport>(
    cy: &mut Cycle<S>,
    pool: usize,
    addr: &crate::os::net::PeerAddr,
) -> Option<usize> {
    let p = cy.upstream_pools.get_mut(pool)?;
    let at = p.idle.iter().position(|&(t, _)| {
        cy.conns
            .get(crate::core::connection::token_key(t))
            .and_then(|c| match c.data.as_deref() {
                Some(crate::core::connection::ConnData::Upstream(u)) => Some(&u.peer),
                _ => None,
            })
            .is_some_and(|peer| peer == addr)
    })?;
    let (token, _) = p.idle.remove(at)?;
    p.reused += 1;
    let key = cy.lookup(token)?;
    cy.del_timer(key, EvKind::Read);
    let c = &mut cy.conns[key];
    log::debug!("get keepalive peer: using connection *{}", c.number);
    c.read.handler = ReadHandler::Upstream;
    c.write.handler = WriteHandler::Upstream;
    c.idle = false;
    Some(key)
}

/// Mirrors ngx_http_upstream_free_keepalive_peer(): keeps the peer
/// connection `key` when `reusable` (the response was delimited, the peer
/// did not say close, the request went out whole, no error), the
/// connection is under `keepalive_requests` and `keepalive_time`, and the
/// server is not stopping; else closes it. A full pool closes its oldest.
pub fn free_keepalive_peer<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    pool: usize,
    reusable: bool,
) {
    let now = cy.clock.now_ms;
    let exiting = cy.exiting;
    let c = &mut cy.conns[key];
    c.requests += 1;
    let Some(p) = cy.upstream_pools.get(pool) else {
        cy.close_connection(key);
        return;
    };
    let keep = reusable
        && !exiting
        && c.requests < p.requests
        && now.saturating_sub(c.start_ms) <= p.time_ms
        && !c.eof;
    if !keep || p.max_idle == 0 {
        log::debug!("*{} free keepalive peer: closing", c.number);
        cy.close_connection(key);
        return;
    }
    let number = c.number;
    let timeout = p.timeout_ms;
    if p.idle.len() >= p.max_idle {
        // Full: the oldest beyond `keepalive N` go in trim_pools, after
        // KEEPALIVE_EVICT_DELAY_MS (nginx closes the oldest now).
        cy.pools_over = true;
    }
    let c = &mut cy.conns[key];
    log::debug!("free keepalive peer: saving connection *{number}");
    c.read.handler = ReadHandler::KeepaliveClose;
    c.write.handler = WriteHandler::Empty;
    c.idle = true;
    // The exchange's buffers go; the pool index (for the close handler) and
    // the peer (for get_keepalive_peer) stay.
    let peer = match c.data.as_deref_mut() {
        Some(crate::core::connection::ConnData::Upstream(u)) => u.peer.clone(),
        _ => crate::os::net::PeerAddr::Inet(c.addr()),
    };
    c.data = Some(Box::new(crate::core::connection::ConnData::Upstream(
        Box::new(crate::http::upstream::UpstreamConn::idle(pool, peer)),
    )));
    let token = c.token(key);
    cy.upstream_pools[pool].idle.push_front((token, now));
    cy.add_timer(key, EvKind::Read, timeout);
    // Something may have arrived already (the peer closing at once).
    if cy.conns[key].read.ready {
        keepalive_close_handler(cy, key);
    }
}

/// Mirrors ngx_http_upstream_keepalive_close_handler(): an idle pooled
/// connection's read event. Nothing to read is a stale event and keeps it;
/// anything else (the peer closed, or sent bytes nobody asked for), its
/// idle timeout, or a shutdown closes it. (nginx peeks with MSG_PEEK; the
/// byte read here would only be thrown away with the connection.)
pub fn keepalive_close_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let c = &mut cy.conns[key];
    log::debug!("*{} keepalive close handler", c.number);
    if !c.read.timedout && !c.close {
        let mut byte = [0u8; 1];
        match c.stream.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                c.read.ready = false;
                return;
            }
            _ => {}
        }
    }
    let token = c.token(key);
    let pool = match c.data.as_deref() {
        Some(crate::core::connection::ConnData::Upstream(u)) => u.pool,
        _ => None,
    };
    if let Some(p) = pool.and_then(|p| cy.upstream_pools.get_mut(p)) {
        p.idle.retain(|&(t, _)| t != token);
    }
    cy.close_connection(key);
}

/// holdfast's step after each loop iteration (see the module docs): in the
/// pools holding more than `keepalive N` idle connections, the oldest
/// beyond N that have been idle for [`KEEPALIVE_EVICT_DELAY_MS`] are closed
/// (ngx_http_upstream_free_keepalive_peer's eviction, deferred). Returns
/// whether some pool is still over its limit (the loop then wakes up in
/// time to trim it).
pub fn trim_pools<S: Transport>(cy: &mut Cycle<S>) -> bool {
    if !cy.pools_over {
        return false;
    }
    let now = cy.clock.now_ms;
    let mut over = false;
    let mut victims = Vec::new();
    for p in &mut cy.upstream_pools {
        while p.idle.len() > p.max_idle {
            match p.idle.back() {
                Some(&(t, saved)) if now.saturating_sub(saved) >= KEEPALIVE_EVICT_DELAY_MS => {
                    p.idle.pop_back();
                    victims.push(t);
                }
                _ => {
                    over = true;
                    break;
                }
            }
        }
    }
    for t in victims {
        if let Some(k) = cy.lookup(t) {
            log::debug!("*{} keepalive pool full: closing", cy.conns[k].number);
            cy.close_connection(k);
        }
    }
    cy.pools_over = over;
    over
}
