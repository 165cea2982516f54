//! The cycle: nginx's `ngx_cycle_t` — the configuration in force and every
//! piece of state the handlers share (connections, timers, posted events, the
//! reusable queue, the clock, the stub_status counters, buffer pools).
//!
//! It is generic over the [`Transport`] so the whole HTTP state machine can run
//! over in-memory streams in tests; the mio event loop owns a
//! `Cycle<mio::net::TcpStream>`.

use std::rc::Rc;

use slab::Slab;

use crate::conf::{Config, ListenAddr, ServerConf};
use crate::core::buf::BufPool;
use crate::core::connection::{ConnData, Connection, EvKind, EventRef, NIL};
use crate::core::time::Clock;
use crate::event::posted::PostedQueue;
use crate::event::timer::TimerWheel;
use crate::http::request::Request;
use crate::os::io::Transport;

/// The stub_status counters (ngx_stat_*), see nginx-flow.md §9.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Sockets accepted.
    pub accepts: u64,
    /// Sockets that got a connection slot.
    pub handled: u64,
    /// Open client connections.
    pub active: u64,
    /// Requests started.
    pub requests: u64,
    /// Requests reading their header.
    pub reading: u64,
    /// Requests being answered.
    pub writing: u64,
    /// Connections in the reusable queue.
    pub waiting: u64,
}

/// A listening socket's HTTP side (ngx_listening_t + ngx_http_addr_conf_t).
#[derive(Debug, Clone)]
pub struct Listening {
    /// The address as configured (reload matches sockets by it).
    pub conf_addr: ListenAddr,
    /// The bound address (with the real port when `:0` was asked for).
    pub addr: ListenAddr,
    /// `listen ... deferred`: accepted connections already have data.
    pub deferred: bool,
    /// The socket was closed (graceful stop, or removed by a reload); the
    /// entry stays for the connections it accepted.
    pub closed: bool,
    /// `addr` as text, for log lines (`server: 127.0.0.1:8080`).
    pub addr_text: String,
    /// The servers listening on this address, in config order.
    pub servers: Vec<Rc<ServerConf>>,
    /// Index in `servers` of the default server.
    pub default_server: usize,
    /// Served by another listening's socket (a wildcard on the same port):
    /// its index. None: this address has a socket of its own.
    pub via: Option<usize>,
    /// `listen … ssl`: the TLS configuration its connections start with
    /// (certificates chosen by SNI among its servers).
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl Listening {
    /// Mirrors ngx_http_find_virtual_server(): the server for a Host value
    /// (lower-case, no port) in nginx's order — an exact name, else the
    /// longest leading wildcard (`*.a.b`, `.a.b`), else the longest trailing
    /// one (`www.a.*`), first server in file order on a tie — else the
    /// first `~regex` name that matches, servers and names in file order
    /// (returned too, for its captures) — or the default server.
    /// Differences: linear scans instead of nginx's hashes.
    pub fn find_server(
        &self,
        host: Option<&[u8]>,
    ) -> (&Rc<ServerConf>, Option<&crate::conf::LocRegex>) {
        let mut best: Option<(&Rc<ServerConf>, (u8, usize))> = None;
        for s in host.map_or(&[][..], |_| &self.servers[..]) {
            if let Some(m) = host.and_then(|h| s.name_match(h))
                && best.is_none_or(|(_, (k, l))| m.0 < k || (m.0 == k && m.1 > l))
            {
                best = Some((s, m));
            }
        }
        if let Some((s, _)) = best {
            return (s, None);
        }
        if let Some(h) = host.filter(|h| !h.is_empty()) {
            for s in &self.servers {
                if let Some(re) = s.name_regexes.iter().find(|re| re.0.is_match(h)) {
                    return (s, Some(re));
                }
            }
        }
        (&self.servers[self.default_server], None)
    }
}

/// Everything the event handlers share.
#[derive(Debug)]
pub struct Cycle<S> {
    /// The configuration in force.
    pub conf: Rc<Config>,
    /// Listening sockets' HTTP configuration, by index.
    pub listening: Vec<Listening>,
    /// Client connections.
    pub conns: Slab<Connection<S>>,
    /// Every connection timeout.
    pub timers: TimerWheel<EventRef>,
    /// Posted events.
    pub posted: PostedQueue,
    /// Events posted for the next loop iteration, after a poll that does
    /// not wait (nginx's `ngx_posted_next_events`).
    pub posted_next: PostedQueue,
    /// The cached clock.
    pub clock: Clock,
    /// stub_status counters.
    pub stats: Stats,
    /// Header buffers and output vectors for reuse.
    pub pool: BufPool,
    /// Request objects for reuse.
    pub request_pool: Vec<Box<Request>>,
    /// Busy-connection state for reuse.
    pub hc_pool: Vec<Box<ConnData>>,
    /// The event loop's registry, for connections the handlers open
    /// themselves (upstream peers); None in the in-memory drivers.
    pub registry: Option<mio::Registry>,
    /// The upstream blocks' keep-alive pools, by block index.
    pub upstream_pools: Vec<crate::http::upstream_keepalive::KeepalivePool>,
    /// Some pool holds more than its `keepalive N` idle connections
    /// (upstream_keepalive::trim_pools closes the extra ones soon).
    pub pools_over: bool,
    /// The buffer peer responses are read into (proxy relay and upgraded
    /// connections), allocated on first use and shared by every exchange.
    pub relay_buf: Vec<u8>,
    /// The decoded body bytes of one peer read (event_pipe::relay_body),
    /// reused by every exchange.
    pub pipe_buf: Vec<u8>,
    /// The upstream blocks' round-robin state, by block index.
    pub upstream_peers: crate::http::upstream_round_robin::PeerSets,
    /// The resolvers in use (`resolver`), their sockets, caches and timers.
    pub resolvers: crate::event::resolver::Resolvers,
    /// Scratch space for discarding input (lingering close, body discard).
    pub scratch: Box<[u8]>,
    /// `worker_connections`.
    pub connection_n: usize,
    /// `ngx_connection_counter`: the next connection's number.
    pub connection_counter: u64,
    /// Reusable queue head (newest) and tail (oldest), slab keys.
    pub reusable_head: u32,
    /// See `reusable_head`.
    pub reusable_tail: u32,
    /// Connections in the reusable queue (`reusable_connections_n`).
    pub reusable_n: usize,
    /// Connections closed by draining so far (the connection inspector's
    /// `drains`; nginx counts none).
    pub drained: u64,
    /// When the "reusing connections" warning was last logged, in seconds.
    pub connections_reuse_time: u64,
    /// Graceful shutdown in progress (`ngx_exiting`).
    pub exiting: bool,
    /// Connections numbered below this were accepted before the last
    /// reload: they belong to the old configuration's "workers" and retire
    /// as nginx's old workers do (0: none).
    pub retire_below: u64,
    /// Open access log files.
    pub access_logs: crate::http::log_module::AccessLogs,
    /// Scratch for variable values and log lines.
    pub var_buf: Vec<u8>,
    /// The buffer file bodies are read into with `sendfile off` (allocated on
    /// first use, shared by every connection).
    pub file_buf: Vec<u8>,
    /// Open static files.
    pub open_files: crate::core::open_file_cache::OpenFileCache,
    /// Most connections open at once since memory was last trimmed.
    pub peak_conns: usize,
}

/// After a burst of at least this many connections, the memory they used is
/// given back once the last of them is gone (see [`Cycle::trim_idle`]).
pub const TRIM_AFTER_CONNECTIONS: usize = 256;

impl<S: Transport> Cycle<S> {
    /// A cycle for `conf` with the given listening sockets.
    pub fn new(conf: Rc<Config>, listening: Vec<Listening>) -> Self {
        let connection_n = conf.worker_connections;
        let mut cy = Cycle {
            conf,
            listening,
            conns: Slab::new(),
            timers: TimerWheel::new(),
            posted: PostedQueue::default(),
            posted_next: PostedQueue::default(),
            clock: Clock::new(),
            stats: Stats::default(),
            pool: BufPool::default(),
            request_pool: Vec::new(),
            hc_pool: Vec::new(),
            registry: None,
            upstream_pools: Vec::new(),
            pools_over: false,
            upstream_peers: Default::default(),
            resolvers: Default::default(),
            relay_buf: Vec::new(),
            pipe_buf: Vec::new(),
            scratch: vec![0u8; 4096].into_boxed_slice(),
            connection_n,
            connection_counter: 1,
            reusable_head: NIL,
            reusable_tail: NIL,
            reusable_n: 0,
            drained: 0,
            connections_reuse_time: 0,
            exiting: false,
            retire_below: 0,
            access_logs: Default::default(),
            var_buf: Vec::new(),
            file_buf: Vec::new(),
            open_files: Default::default(),
            peak_conns: 0,
        };
        cy.init_upstreams();
        cy
    }

    /// Mirrors ngx_http_upstream_init_main_conf() at run time: each
    /// `upstream` block's round-robin state and keep-alive pool (rebuilt
    /// on reload; idle pooled connections of the old blocks are closed).
    pub fn init_upstreams(&mut self) {
        let idle: Vec<usize> = self
            .upstream_pools
            .iter()
            .flat_map(|p| p.idle.iter().map(|&(t, _)| t))
            .collect();
        for t in idle {
            if let Some(k) = self.lookup(t) {
                self.close_connection(k);
            }
        }
        let blocks = self
            .conf
            .http
            .as_ref()
            .map(|h| h.upstreams.clone())
            .unwrap_or_default();
        self.upstream_peers.set_blocks(
            blocks
                .iter()
                .map(|u| crate::http::upstream_round_robin::PeerSet::new(u))
                .collect(),
        );
        self.upstream_pools = blocks
            .iter()
            .map(|u| {
                crate::http::upstream_keepalive::KeepalivePool::new(
                    u.keepalive.unwrap_or(0),
                    u.keepalive_requests,
                    u.keepalive_time_ms,
                    u.keepalive_timeout_ms,
                )
            })
            .collect();
    }

    /// Does this connection finish like one of an exiting worker (no more
    /// keep-alive)? True during a graceful stop, and after a reload for the
    /// connections accepted before it (nginx's old workers exit).
    pub fn retiring(&self, key: usize) -> bool {
        self.exiting || self.conns[key].number < self.retire_below
    }

    /// Free connection slots; every listening socket takes one, as in nginx.
    pub fn free_connection_n(&self) -> usize {
        self.connection_n
            .saturating_sub(self.conns.len() + self.listening.len())
    }

    /// Mirrors ngx_add_timer(): arms (or lazily keeps) the timer of one event.
    pub fn add_timer(&mut self, key: usize, kind: EvKind, after_ms: u64) {
        let now = self.clock.now_ms;
        let c = &mut self.conns[key];
        let token = c.token(key);
        let fd = c.stream.fd();
        let (slot, number) = match kind {
            EvKind::Read => (&mut c.read.timer, c.number),
            EvKind::Write => (&mut c.write.timer, c.number),
        };
        let old = *slot;
        if self
            .timers
            .add_timer(slot, now, after_ms, EventRef { token, kind })
        {
            log::debug!(
                "*{number} event timer add: {fd}: {after_ms}:{}",
                now + after_ms
            );
        } else if let Some(h) = old {
            log::debug!(
                "*{number} event timer: {fd}, old: {}, new: {}",
                self.timers.deadline(h).unwrap_or(0),
                now + after_ms
            );
        }
    }

    /// Mirrors ngx_del_timer().
    pub fn del_timer(&mut self, key: usize, kind: EvKind) {
        let c = &mut self.conns[key];
        let fd = c.stream.fd();
        let (slot, number) = match kind {
            EvKind::Read => (&mut c.read.timer, c.number),
            EvKind::Write => (&mut c.write.timer, c.number),
        };
        if let Some(h) = *slot {
            let deadline = self.timers.deadline(h).unwrap_or(0);
            if self.timers.del_timer(slot).is_some() {
                log::debug!("*{number} event timer del: {fd}: {deadline}");
            }
        }
    }

    /// Mirrors ngx_post_event(): queues the event unless it is already queued.
    pub fn post_event(&mut self, key: usize, kind: EvKind) {
        let c = &mut self.conns[key];
        let token = c.token(key);
        let posted = match kind {
            EvKind::Read => &mut c.read.posted,
            EvKind::Write => &mut c.write.posted,
        };
        if !*posted {
            *posted = true;
            log::debug!("*{} post event {:?}", c.number, kind);
            self.posted.push(EventRef { token, kind });
        }
    }

    /// Mirrors ngx_post_event(ev, &ngx_posted_next_events): runs the event
    /// in the next loop iteration, after a poll that does not wait.
    pub fn post_next_event(&mut self, key: usize, kind: EvKind) {
        let c = &mut self.conns[key];
        let token = c.token(key);
        let posted = match kind {
            EvKind::Read => &mut c.read.posted,
            EvKind::Write => &mut c.write.posted,
        };
        if !*posted {
            *posted = true;
            log::debug!("*{} post next event {:?}", c.number, kind);
            self.posted_next.push(EventRef { token, kind });
        }
    }

    /// Mirrors ngx_event_move_posted_next(): the next-iteration events join
    /// the posted queue.
    pub fn move_posted_next(&mut self) {
        while let Some(ev) = self.posted_next.pop() {
            self.posted.push(ev);
        }
    }

    /// Gives the connection its [`HttpConn`](crate::core::connection::HttpConn) (from the pool) unless it has
    /// its `data` already.
    pub fn alloc_http_conn(&mut self, key: usize) {
        if self.conns[key].data.is_none() {
            let data = self.hc_pool.pop().unwrap_or_default();
            self.conns[key].data = Some(data);
        }
    }

    /// Takes the connection's [`HttpConn`](crate::core::connection::HttpConn) back: its buffer and request go to
    /// their pools, its output vector stays with it for the next user.
    pub fn free_http_conn(&mut self, key: usize) {
        let Some(mut data) = self.conns[key].data.take() else {
            return;
        };
        let ConnData::Http(hc) = &mut *data else {
            return;
        };
        if let Some(b) = hc.buffer.take() {
            self.pool.put(b);
        }
        if let Some(r) = hc.request.take()
            && self.request_pool.len() < crate::core::buf::POOL_MAX_PER_CLASS
        {
            self.request_pool.push(r);
        }
        hc.out.reset();
        if hc.out.mem.capacity() > crate::core::buf::OUT_KEEP_CAPACITY {
            hc.out.mem = Vec::new();
        }
        if self.hc_pool.len() < crate::core::buf::POOL_MAX_PER_CLASS {
            self.hc_pool.push(data);
        }
    }

    /// Gives memory back after a burst, once no connection is left: the
    /// buffer, request and connection-state pools, the connection slab and an
    /// empty timer slab are dropped, and malloc returns free pages to the
    /// system. (nginx preallocates its connections and keeps them; holdfast
    /// allocates on demand and so can shrink back to its start-up size.)
    pub fn trim_idle(&mut self) {
        self.pool = BufPool::default();
        self.file_buf = Vec::new();
        self.hc_pool = Vec::new();
        self.request_pool = Vec::new();
        self.relay_buf = Vec::new();
        self.pipe_buf = Vec::new();
        if self.conns.is_empty() {
            self.conns = Slab::new();
        }
        if self.timers.is_empty() {
            let lazy = self.timers.lazy_delay();
            self.timers = TimerWheel::new();
            self.timers.set_lazy_delay(lazy);
        }
        self.peak_conns = 0;
        // SAFETY: malloc_trim only releases free heap memory.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// Looks a token up: the slab key when the connection it names still lives.
    pub fn lookup(&self, token: usize) -> Option<usize> {
        let key = crate::core::connection::token_key(token);
        let c = self.conns.get(key)?;
        (c.token(key) == token).then_some(key)
    }
}
