//! The resolver: nginx's `src/core/ngx_resolver.c` for names (A and AAAA
//! queries), without the I/O.
//!
//! This is the state nginx keeps in `ngx_resolver_t`: the name tree (here a
//! map) whose nodes are a query in flight, an answer (addresses or a CNAME)
//! or nothing, the requests waiting on each query, the resend queue and the
//! expire queue. It builds the query datagrams and reads the answers with
//! `hickory-proto`; the event loop's glue (`event::resolver`) owns the UDP
//! sockets and the timer, sends what this returns as [`Transmit`]s, feeds
//! it what the sockets read, and hands the [`Completion`]s to the requests.
//! Reading an answer (ngx_resolver_process_response, _process_a) is in
//! `resolver_response.rs`, a child module.
//!
//! ```text
//! resolve(name) ─ cached, valid ──────────────────────────────▶ Done(addrs)
//!      │         └ CNAME, valid: resolve(target), ≤ 50 times
//!      └ query: A (+ AAAA) to server N ─▶ Querying ─ answer ─▶ Addrs │ Cname → resolve(target)
//!                      ▲                     │      └ rcode ≠ 0 ─▶ (dropped) every waiter: Err
//!                      └── resend every 5 s to server N+1 while someone waits
//! each waiter: its own deadline (resolver_timeout) ─▶ Err(110: Operation timed out)
//! ```
//!
//! Differences from nginx: times are milliseconds of the caller's clock
//! (nginx counts seconds), so a TTL of 1 s is 1000 ms, not "until the end
//! of the next second"; a waiter's timeout is a deadline kept here (the
//! glue arms one wheel timer for the earliest deadline of the resolver)
//! rather than an event of its own; no SRV or PTR queries.
//!
//! DNS over TCP (as nginx): a truncated UDP answer switches that query (A
//! or AAAA, nginx's `rn->tcp` / `rn->tcp6`) to TCP, to the same name
//! server; its [`Transmit`]s, the resends included, then say `tcp`, and
//! the glue sends them over its one TCP connection to that server.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

/// nginx's `r->resend_timeout` (5 s): a query without an answer is sent
/// again, to the next name server, this long after the last send.
pub const RESEND_TIMEOUT_MS: u64 = 5_000;
/// nginx's `r->expire` (30 s): an answer nobody asked for this long goes.
pub const EXPIRE_MS: u64 = 30_000;
/// NGX_RESOLVER_MAX_RECURSION: CNAMEs followed for one name at most.
pub const MAX_RECURSION: u8 = 50;
/// NGX_RESOLVER_UDP_SIZE: the largest answer read.
pub const UDP_SIZE: usize = 4096;
/// nginx's `r->tcp_timeout` (5 s): a TCP connection to a name server is
/// closed when nothing could be sent on it this long after its last send.
pub const TCP_TIMEOUT_MS: u64 = 5_000;

/// NGX_RESOLVE_FORMERR.
pub const FORMERR: u8 = 1;
/// NGX_RESOLVE_SERVFAIL.
pub const SERVFAIL: u8 = 2;
/// NGX_RESOLVE_NXDOMAIN.
pub const NXDOMAIN: u8 = 3;
/// NGX_RESOLVE_REFUSED.
pub const REFUSED: u8 = 5;

/// Why a name has no addresses (nginx's `ctx->state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// The DNS answered with this rcode (1..=5), or with no address (3).
    Dns(u8),
    /// `resolver_timeout` passed (NGX_RESOLVE_TIMEDOUT, which is ETIMEDOUT).
    TimedOut,
}

impl ResolveError {
    /// The number nginx prints (`110` for a timeout).
    pub fn code(self) -> u32 {
        match self {
            ResolveError::Dns(c) => u32::from(c),
            ResolveError::TimedOut => 110,
        }
    }

    /// Mirrors ngx_resolver_strerror().
    pub fn strerror(self) -> &'static str {
        match self {
            ResolveError::Dns(1) => "Format error",
            ResolveError::Dns(2) => "Server failure",
            ResolveError::Dns(3) => "Host not found",
            ResolveError::Dns(4) => "Unimplemented",
            ResolveError::Dns(5) => "Operation refused",
            ResolveError::Dns(_) => "Unknown error",
            ResolveError::TimedOut => "Operation timed out",
        }
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.strerror())
    }
}

/// What a resolution gives: the addresses (IPv4 first), or why not.
pub type Outcome = Result<Vec<IpAddr>, ResolveError>;

/// A query to send to name server number `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Index in the resolver's address list.
    pub server: usize,
    /// The DNS message (without the TCP length prefix).
    pub data: Vec<u8>,
    /// Over TCP (the UDP answer came truncated), not as a datagram.
    pub tcp: bool,
}

/// One request waiting for a name (nginx's `ngx_resolver_ctx_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WaiterId(u64);

/// What [`ResolverCore::resolve`] says.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Answered from the cache, or refused at once (a name that cannot be
    /// a DNS name is NXDOMAIN, as nginx's NGX_DECLINED).
    Done(Outcome),
    /// A query is out; the answer comes as a [`Completion`].
    Wait(WaiterId),
}

/// A waiter's answer (nginx calls `ctx->handler`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Who waited.
    pub waiter: WaiterId,
    /// What the caller gave [`ResolverCore::resolve`] (the request's token).
    pub user: usize,
    /// The answer.
    pub outcome: Outcome,
}

/// The `resolver` directive's parameters the core needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How many name servers there are (at least one).
    pub servers: usize,
    /// `valid=`: overrides the answers' TTL.
    pub valid_ms: Option<u64>,
    /// `ipv4=on` (default): A queries.
    pub ipv4: bool,
    /// `ipv6=on` (default): AAAA queries.
    pub ipv6: bool,
}

/// A query in flight (the querying half of `ngx_resolver_node_t`).
#[derive(Debug)]
struct Querying {
    /// The ident of both queries.
    id: u16,
    /// The A query (resent as it is); None with `ipv4=off`.
    query_a: Option<Vec<u8>>,
    /// The AAAA query; None with `ipv6=off`.
    query_aaaa: Option<Vec<u8>>,
    /// A addresses; None while the A answer is awaited (nginx's
    /// `naddrs == (u_short) -1`).
    v4: Option<Vec<Ipv4Addr>>,
    /// AAAA addresses, as `v4`.
    v6: Option<Vec<Ipv6Addr>>,
    /// The first answer's error, kept until the other answer is in.
    code: u8,
    /// The A query goes over TCP (`rn->tcp`).
    tcp: bool,
    /// The AAAA query goes over TCP (`rn->tcp6`).
    tcp6: bool,
    /// The smallest TTL seen, seconds.
    ttl: u32,
    /// The name server the query went to last (`rn->last_connection`).
    server: usize,
    /// When it is sent again (`rn->expire` while in the resend queue).
    resend_at: u64,
    /// The requests waiting (`rn->waiting`).
    waiting: Vec<WaiterId>,
}

/// A name's state (`ngx_resolver_node_t`).
#[derive(Debug)]
enum NodeState {
    /// Queries are out.
    Querying(Box<Querying>),
    /// Answered with addresses, valid until `valid_ms`.
    Addrs {
        v4: Vec<Ipv4Addr>,
        v6: Vec<Ipv6Addr>,
        valid_ms: u64,
    },
    /// Answered with a CNAME only.
    Cname { target: String, valid_ms: u64 },
}

#[derive(Debug)]
struct Node {
    state: NodeState,
    /// When an answer nobody uses is dropped.
    expire_ms: u64,
}

#[derive(Debug)]
struct Waiter {
    user: usize,
    /// The node it waits on (it changes when a CNAME is followed).
    node: String,
    deadline_ms: u64,
    recursion: u8,
}

/// One `resolver`'s names, queries and waiters.
#[derive(Debug)]
pub struct ResolverCore {
    settings: Settings,
    nodes: HashMap<String, Node>,
    /// (when, name): the resend queue, oldest first (entries may be stale).
    resend: VecDeque<(u64, String)>,
    /// (when, name): the expire queue, oldest first (entries may be stale).
    expire: VecDeque<(u64, String)>,
    waiters: HashMap<WaiterId, Waiter>,
    deadlines: BTreeSet<(u64, WaiterId)>,
    next_waiter: u64,
    /// The server the next new query goes to (`r->last_connection`).
    last_connection: usize,
    rng: u64,
}

/// What resolve_name_locked() found.
enum Locked {
    Done(Outcome),
    /// Waiting on the node of this name.
    Waiting(String),
}

impl ResolverCore {
    /// Mirrors ngx_resolver_create() once the directive is read.
    pub fn new(settings: Settings, seed: u64) -> ResolverCore {
        ResolverCore {
            settings: Settings {
                servers: settings.servers.max(1),
                ..settings
            },
            nodes: HashMap::new(),
            resend: VecDeque::new(),
            expire: VecDeque::new(),
            waiters: HashMap::new(),
            deadlines: BTreeSet::new(),
            next_waiter: 1,
            last_connection: 0,
            rng: seed | 1,
        }
    }

    /// nginx's ngx_random(): xorshift, good enough for idents and rotation.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Nothing in flight, nobody waiting: the glue may drop the resolver.
    pub fn is_idle(&self) -> bool {
        self.waiters.is_empty()
            && !self
                .nodes
                .values()
                .any(|n| matches!(n.state, NodeState::Querying(_)))
    }

    /// When [`expire_timers`](Self::expire_timers) has work: the earliest
    /// waiter deadline or resend.
    pub fn next_deadline(&self) -> Option<u64> {
        let w = self.deadlines.first().map(|(at, _)| *at);
        let r = self.resend.front().map(|(at, _)| *at);
        match (w, r) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Mirrors ngx_resolve_name(): `name` from the cache, or a waiter for
    /// the answer (`user` comes back in its [`Completion`]); the queries to
    /// send are added to `out`.
    pub fn resolve(
        &mut self,
        name: &str,
        now: u64,
        timeout_ms: u64,
        user: usize,
        out: &mut Vec<Transmit>,
    ) -> Resolve {
        let name = name.strip_suffix('.').unwrap_or(name);
        log::debug!("resolve: \"{name}\"");
        let mut recursion = 0;
        match self.resolve_name_locked(name.to_ascii_lowercase(), now, &mut recursion, out) {
            Locked::Done(outcome) => Resolve::Done(outcome),
            Locked::Waiting(node) => {
                let id = WaiterId(self.next_waiter);
                self.next_waiter += 1;
                let deadline_ms = now + timeout_ms;
                self.attach(id, &node);
                self.waiters.insert(
                    id,
                    Waiter {
                        user,
                        node,
                        deadline_ms,
                        recursion,
                    },
                );
                self.deadlines.insert((deadline_ms, id));
                Resolve::Wait(id)
            }
        }
    }

    /// Mirrors ngx_resolve_name_done() for a waiter still waiting (the
    /// request went away): it stops waiting; the query goes on for the
    /// cache while others wait, and is dropped at its next resend if none do.
    pub fn cancel(&mut self, id: WaiterId, now: u64) {
        log::debug!("resolve name done: -2");
        if let Some(w) = self.waiters.remove(&id) {
            self.deadlines.remove(&(w.deadline_ms, id));
            self.detach(id, &w.node);
        }
        self.expire_nodes(now);
    }

    fn attach(&mut self, id: WaiterId, node: &str) {
        if let Some(Node {
            state: NodeState::Querying(q),
            ..
        }) = self.nodes.get_mut(node)
        {
            q.waiting.push(id);
        }
    }

    fn detach(&mut self, id: WaiterId, node: &str) {
        if let Some(Node {
            state: NodeState::Querying(q),
            ..
        }) = self.nodes.get_mut(node)
        {
            q.waiting.retain(|w| *w != id);
        }
    }

    /// Mirrors ngx_resolve_name_locked(): the cached answer (a CNAME
    /// followed), the query already out, or a new query.
    fn resolve_name_locked(
        &mut self,
        mut name: String,
        now: u64,
        recursion: &mut u8,
        out: &mut Vec<Transmit>,
    ) -> Locked {
        loop {
            if let Some(node) = self.nodes.get_mut(&name) {
                match &node.state {
                    NodeState::Querying(_) => return Locked::Waiting(name),
                    NodeState::Addrs { v4, v6, valid_ms } if *valid_ms >= now => {
                        log::debug!("resolve cached");
                        node.expire_ms = now + EXPIRE_MS;
                        let (v4, v6) = (v4.clone(), v6.clone());
                        self.expire.push_back((now + EXPIRE_MS, name));
                        return Locked::Done(Ok(self.export(&v4, &v6, true)));
                    }
                    NodeState::Cname { target, valid_ms } if *valid_ms >= now => {
                        log::debug!("resolve cached");
                        node.expire_ms = now + EXPIRE_MS;
                        let target = target.clone();
                        self.expire.push_back((now + EXPIRE_MS, name));
                        if *recursion >= MAX_RECURSION {
                            return Locked::Done(Err(ResolveError::Dns(NXDOMAIN)));
                        }
                        *recursion += 1;
                        name = target;
                        continue;
                    }
                    _ => {}
                }
            }
            return match self.create_name_query(&name) {
                None => {
                    self.nodes.remove(&name);
                    Locked::Done(Err(ResolveError::Dns(NXDOMAIN)))
                }
                Some(q) => {
                    let server = self.last_connection;
                    self.last_connection = (server + 1) % self.settings.servers;
                    let q = Querying {
                        server,
                        resend_at: now + RESEND_TIMEOUT_MS,
                        ..q
                    };
                    send_query(&q, out);
                    self.resend.push_back((q.resend_at, name.clone()));
                    let node = Node {
                        state: NodeState::Querying(Box::new(q)),
                        expire_ms: now + RESEND_TIMEOUT_MS,
                    };
                    self.nodes.insert(name.clone(), node);
                    Locked::Waiting(name)
                }
            };
        }
    }

    /// Mirrors ngx_resolver_create_name_query(): the A and AAAA queries,
    /// one ident; None for a name that is not a DNS name (NGX_DECLINED).
    fn create_name_query(&mut self, name: &str) -> Option<Querying> {
        if name.is_empty() || name.split('.').any(str::is_empty) {
            return None;
        }
        let qname = Name::from_ascii(format!("{name}.")).ok()?;
        let id = (self.random() & 0xffff) as u16;
        let build = |t: RecordType| {
            let mut m = Message::new(id, MessageType::Query, OpCode::Query);
            m.metadata.recursion_desired = true;
            m.add_query(Query::query(qname.clone(), t));
            m.to_vec().ok()
        };
        let query_a = if self.settings.ipv4 {
            log::debug!("resolve: \"{name}\" A {id}");
            Some(build(RecordType::A)?)
        } else {
            None
        };
        let query_aaaa = if self.settings.ipv6 {
            log::debug!("resolve: \"{name}\" AAAA {id}");
            Some(build(RecordType::AAAA)?)
        } else {
            None
        };
        Some(Querying {
            id,
            v4: if query_a.is_some() {
                None
            } else {
                Some(Vec::new())
            },
            v6: if query_aaaa.is_some() {
                None
            } else {
                Some(Vec::new())
            },
            query_a,
            query_aaaa,
            code: 0,
            tcp: false,
            tcp6: false,
            ttl: u32::MAX,
            server: 0,
            resend_at: 0,
            waiting: Vec::new(),
        })
    }

    /// Mirrors ngx_resolver_export(): the addresses for a waiter, IPv4
    /// first; a cached answer starts each family at a random place, so
    /// successive requests spread over the addresses.
    fn export(&mut self, v4: &[Ipv4Addr], v6: &[Ipv6Addr], rotate: bool) -> Vec<IpAddr> {
        let mut out = Vec::with_capacity(v4.len() + v6.len());
        let d4 = if rotate && !v4.is_empty() {
            (self.random() as usize) % v4.len()
        } else {
            0
        };
        out.extend(v4[d4..].iter().chain(&v4[..d4]).map(|a| IpAddr::V4(*a)));
        let d6 = if rotate && !v6.is_empty() {
            (self.random() as usize) % v6.len()
        } else {
            0
        };
        out.extend(v6[d6..].iter().chain(&v6[..d6]).map(|a| IpAddr::V6(*a)));
        out
    }

    /// Mirrors ngx_resolver_expire(): drops at most two answers nobody
    /// asked for in [`EXPIRE_MS`].
    fn expire_nodes(&mut self, now: u64) {
        log::debug!("resolver expire");
        for _ in 0..2 {
            match self.expire.front() {
                Some((at, _)) if *at < now => {}
                _ => return,
            }
            let Some((_, name)) = self.expire.pop_front() else {
                return;
            };
            let gone = self
                .nodes
                .get(&name)
                .is_some_and(|n| !matches!(n.state, NodeState::Querying(_)) && n.expire_ms < now);
            if gone {
                log::debug!("resolver expire \"{name}\"");
                self.nodes.remove(&name);
            }
        }
    }

    /// Mirrors ngx_resolver_resend_handler() and the waiters'
    /// ngx_resolver_timeout_handler(): the waiters whose deadline passed get
    /// `110: Operation timed out`; queries due are resent to the next name
    /// server, or dropped when nobody waits any more.
    pub fn expire_timers(&mut self, now: u64, out: &mut Vec<Transmit>, done: &mut Vec<Completion>) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(w) = self.waiters.remove(&id) {
                self.detach(id, &w.node);
                done.push(Completion {
                    waiter: id,
                    user: w.user,
                    outcome: Err(ResolveError::TimedOut),
                });
            }
        }
        while let Some((at, _)) = self.resend.front() {
            if *at > now {
                break;
            }
            let Some((at, name)) = self.resend.pop_front() else {
                break;
            };
            let Some(node) = self.nodes.get_mut(&name) else {
                continue;
            };
            let NodeState::Querying(q) = &mut node.state else {
                continue;
            };
            if q.resend_at != at {
                continue;
            }
            log::debug!("resolver resend \"{name}\" {}", q.waiting.len());
            if q.waiting.is_empty() {
                self.nodes.remove(&name);
                continue;
            }
            q.server = (q.server + 1) % self.settings.servers;
            send_query(q, out);
            q.resend_at = now + RESEND_TIMEOUT_MS;
            self.resend.push_back((q.resend_at, name));
        }
    }

    /// Finishes the waiters of a node with `outcome`.
    fn finish(&mut self, waiting: Vec<WaiterId>, outcome: &Outcome, done: &mut Vec<Completion>) {
        for id in waiting {
            if let Some(w) = self.waiters.remove(&id) {
                self.deadlines.remove(&(w.deadline_ms, id));
                done.push(Completion {
                    waiter: id,
                    user: w.user,
                    outcome: outcome.clone(),
                });
            }
        }
    }
}

/// Mirrors ngx_resolver_send_query(): the queries whose answer is still
/// awaited, to the node's current name server, over TCP once an answer
/// came truncated.
fn send_query(q: &Querying, out: &mut Vec<Transmit>) {
    if let (Some(data), None) = (&q.query_a, &q.v4) {
        out.push(Transmit {
            server: q.server,
            data: data.clone(),
            tcp: q.tcp,
        });
    }
    if let (Some(data), None) = (&q.query_aaaa, &q.v6) {
        out.push(Transmit {
            server: q.server,
            data: data.clone(),
            tcp: q.tcp6,
        });
    }
}

#[path = "resolver_response.rs"]
mod response;

#[cfg(test)]
#[path = "resolver_tests.rs"]
mod tests;
