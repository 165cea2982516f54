//! The event loop: nginx's ngx_process_events_and_timers (`event/ngx_event.c`)
//! over mio's epoll (`modules/ngx_epoll_module.c`), and ngx_event_accept.
//!
//! One iteration: poll (timeout 0 when events are posted, else until the next
//! timer) → update the cached time and `Date` → run the I/O handlers → expire
//! timers → run the posted events (bounded per iteration).
//! Connection sockets are registered once, edge-triggered, for both
//! directions (as nginx's ngx_epoll_add_connection); mio adds EPOLLRDHUP.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::conf::{Config, ListenAddr};
use crate::core::connection::{ACCEPT_TOKEN, EvKind, EventRef, LISTEN_KEY_BASE, token_key};
use crate::core::cycle::Cycle;
use crate::event::accept::{self, ACCEPT_MUTEX_DELAY_MS};
use crate::event::timer::TimerHandle;
use crate::http;
use crate::os::io::Transport;
use crate::os::signals::{Signal, Signals};
use crate::os::socket::{Listener, StdListener, Stream};

/// The token of the signal self-pipe.
pub const SIGNAL_TOKEN: usize = 0xFFFF_FFFE;
/// The token of the worker_shutdown_timeout timer.
pub const SHUTDOWN_TOKEN: usize = 0xFFFF_FFFD;
/// The token of the timer that ends the connections of the configuration a
/// reload replaced (worker_shutdown_timeout for nginx's old workers).
pub const RETIRE_TOKEN: usize = 0xFFFF_FFFC;

/// Posted events run per loop iteration at most; the rest wait for the next
/// one (after a non-blocking poll), so one busy pipelining client cannot keep
/// the others waiting.
pub const POSTED_PER_ITERATION: usize = 4096;

/// Events taken from epoll per iteration (nginx's `epoll_events`, 512).
pub const EPOLL_EVENTS: usize = 512;

/// The worker: poll, listeners and the cycle.
pub struct EventLoop {
    poll: Poll,
    events: Events,
    /// The events of one poll, copied out so handlers may borrow the cycle.
    ready: Vec<(usize, bool, bool, bool)>,
    /// Sockets by listening index; None once closed.
    /// Sockets by listening index; None once closed, or for an address a
    /// wildcard's socket accepts for (`Listening::via`).
    listeners: Vec<Option<Listener>>,
    accept_timer: Option<TimerHandle>,
    accept_disabled: bool,
    /// Listeners that may still have connections waiting (`multi_accept
    /// off` took one): accepted from again next iteration, after a poll that
    /// does not wait (nginx's level-triggered listener reports them again).
    accept_pending: Vec<usize>,
    shutdown_timer: Option<TimerHandle>,
    retire_timer: Option<TimerHandle>,
    signals: Option<Signals>,
    /// Set when the loop should return.
    done: bool,
    /// A worker under a master process.
    worker: bool,
    /// Everything the handlers share.
    pub cycle: Cycle<Stream>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// Opens the listening sockets of `conf` and registers them. Errors name
    /// the address, as nginx's `bind() to ADDR failed (98: ...)`.
    pub fn new(conf: Rc<Config>) -> Result<EventLoop, String> {
        let mut sockets = Vec::new();
        for (l, ls) in accept::listening_from_conf(&conf) {
            let sock = if ls.via.is_some() {
                None
            } else {
                Some(accept::open_listening_socket(&l).map_err(|e| {
                    format!("bind() to {} failed ({})", l.addr, crate::os::io::OsErr(&e))
                })?)
            };
            sockets.push((ls, sock));
        }
        EventLoop::with_sockets(conf, sockets)
    }

    /// A worker's loop over listening sockets opened by someone else (the
    /// master process, which forks the workers).
    pub fn with_sockets(
        conf: Rc<Config>,
        sockets: Vec<(crate::core::cycle::Listening, Option<StdListener>)>,
    ) -> Result<EventLoop, String> {
        let poll = Poll::new()
            .map_err(|e| format!("epoll_create() failed ({})", crate::os::io::OsErr(&e)))?;
        let mut listeners = Vec::new();
        let mut listening = Vec::new();
        for (i, (mut ls, sock)) in sockets.into_iter().enumerate() {
            listeners.push(match sock {
                Some(sock) => Some(register_listener(&poll, sock, &mut ls, i)?),
                None => None,
            });
            listening.push(ls);
        }
        // An address served by a wildcard takes the wildcard's real port
        // (`listen 0` asks the kernel for one).
        for i in 0..listening.len() {
            if let Some(w) = listening[i].via {
                let port = listening.get(w).map_or(0, |h| h.addr.port());
                if let ListenAddr::Inet(mut a) = listening[i].addr.clone() {
                    a.set_port(port);
                    listening[i].addr = ListenAddr::Inet(a);
                    listening[i].addr_text = a.to_string();
                }
            }
        }
        let mut cycle = Cycle::new(conf, listening);
        cycle.access_logs.open_all(&cycle.conf.clone())?;
        // Handlers register the upstream connections they open.
        cycle.registry = poll.registry().try_clone().ok();
        Ok(EventLoop {
            poll,
            events: Events::with_capacity(EPOLL_EVENTS),
            ready: Vec::with_capacity(EPOLL_EVENTS),
            listeners,
            accept_timer: None,
            accept_disabled: false,
            accept_pending: Vec::new(),
            shutdown_timer: None,
            retire_timer: None,
            signals: None,
            done: false,
            worker: false,
            cycle,
        })
    }

    /// Marks this loop as a worker of a master process: SIGHUP is the
    /// master's business (it starts new workers), so the worker ignores it.
    pub fn set_worker(&mut self) {
        self.worker = true;
    }

    /// The bound addresses (with real ports for `:0`), one per socket.
    pub fn local_addrs(&self) -> Vec<ListenAddr> {
        self.cycle
            .listening
            .iter()
            .filter(|l| l.via.is_none() && !l.closed)
            .map(|l| l.addr.clone())
            .collect()
    }

    /// Installs the signal handlers (SIGQUIT, SIGTERM, SIGINT, SIGHUP,
    /// SIGUSR1) and puts their self-pipe in the poll set.
    pub fn enable_signals(&mut self) -> io::Result<()> {
        let signals = Signals::install()?;
        self.poll.registry().register(
            &mut SourceFd(&signals.fd()),
            Token(SIGNAL_TOKEN),
            Interest::READABLE,
        )?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Runs until stopped: a fast stop returns at once, a graceful one when
    /// the last connection is gone.
    pub fn run(&mut self) -> io::Result<()> {
        while !self.done {
            self.process_events_and_timers()?;
            let now = self.cycle.clock.now_ms;
            self.cycle.access_logs.flush_due(now);
            if self.cycle.conns.is_empty()
                && self.cycle.peak_conns >= crate::core::cycle::TRIM_AFTER_CONNECTIONS
            {
                self.cycle.trim_idle();
            }
            if self.cycle.exiting && self.cycle.conns.is_empty() {
                crate::notice!("exiting");
                self.done = true;
            }
        }
        self.cycle.access_logs.flush();
        Ok(())
    }

    /// Acts on the signals received (ngx_worker_process_cycle's flag checks).
    fn handle_signals(&mut self) {
        let Some(signals) = self.signals.as_ref() else {
            return;
        };
        for sig in signals.take() {
            match sig {
                Signal::Terminate => {
                    crate::notice!("exiting");
                    self.done = true;
                    return;
                }
                Signal::Quit => self.graceful_shutdown(),
                Signal::Reload if self.worker => {}
                Signal::Reload => self.reload(),
                Signal::Child => {}
                Signal::Reopen => {
                    crate::notice!("reopening logs");
                    crate::core::log::reopen();
                    self.cycle.access_logs.reopen();
                }
            }
        }
    }

    /// Starts a graceful stop, as nginx's worker on SIGQUIT: close the
    /// listening sockets, close idle keep-alive connections at once, let
    /// requests in flight finish (with `Connection: close`), arm
    /// worker_shutdown_timeout.
    pub fn graceful_shutdown(&mut self) {
        if self.cycle.exiting {
            return;
        }
        crate::notice!("gracefully shutting down");
        self.cycle.exiting = true;
        for (i, l) in self.listeners.iter_mut().enumerate() {
            if let Some(mut l) = l.take() {
                let _ = self.poll.registry().deregister(&mut l);
            }
            self.cycle.listening[i].closed = true;
        }
        if !self.worker {
            accept::remove_unix_sockets(&self.cycle.listening);
        }
        if let Some(ms) = self.cycle.conf.worker_shutdown_timeout_ms {
            let now = self.cycle.clock.now_ms;
            let ev = EventRef {
                token: SHUTDOWN_TOKEN,
                kind: EvKind::Read,
            };
            self.cycle
                .timers
                .add_timer(&mut self.shutdown_timer, now, ms, ev);
        }
        self.cycle.close_idle_connections();
    }

    /// Mirrors ngx_shutdown_timer_handler(): worker_shutdown_timeout expired,
    /// every connection is closed through its read handler.
    fn shutdown_timer_handler(&mut self) {
        crate::notice!("shutdown timeout");
        self.close_connections(|_| true);
    }

    /// Closes the connections `which` selects through their read handlers
    /// (`c->close`), as nginx's shutdown timer does.
    fn close_connections(
        &mut self,
        which: impl Fn(&crate::core::connection::Connection<Stream>) -> bool,
    ) {
        let tokens: Vec<usize> = self
            .cycle
            .conns
            .iter()
            .filter(|(_, c)| which(c))
            .map(|(k, c)| c.token(k))
            .collect();
        for t in tokens {
            if let Some(key) = self.cycle.lookup(t) {
                log::debug!("*{} close {}", self.cycle.conns[key].number, "connection");
                self.cycle.conns[key].close = true;
                http::run_read_handler(&mut self.cycle, key);
            }
            // A handler that does not close on `close` (none should) is closed here.
            if let Some(key) = self.cycle.lookup(t) {
                http::request::close_connection(&mut self.cycle, key);
            }
        }
    }

    /// SIGHUP: re-reads the configuration file. When it is valid it takes
    /// effect at once: new listening sockets are opened, removed ones closed,
    /// open connections are kept and their next requests use the new
    /// settings. When it is not, the error is logged and nothing changes.
    /// (nginx starts new worker processes and stops the old ones gracefully;
    /// holdfast is one process and swaps the configuration in place.)
    pub fn reload(&mut self) {
        crate::notice!("reconfiguring");
        let old = self.cycle.conf.clone();
        let conf = match Config::load_with(&old.file, &old.prefix, &old.options) {
            Ok(c) => Rc::new(c),
            Err(e) => {
                crate::emerg!("{e}");
                log::error!("reload failed, keeping the running configuration");
                return;
            }
        };
        if self.cycle.exiting {
            return;
        }
        if let Err(e) = crate::core::log::configure_conf(&conf) {
            crate::emerg!("{e}");
            log::error!("reload failed, keeping the running configuration");
            let _ = crate::core::log::configure_conf(&old);
            return;
        }
        if let Err(e) = self.cycle.access_logs.open_all(&conf) {
            crate::emerg!("{e}");
            log::error!("reload failed, keeping the running configuration");
            return;
        }
        // Open what is new first, so a failure leaves everything as it was.
        // An address keeps its slot when it stays (with or without a socket
        // of its own); `via` indices are remapped to the final slots.
        let groups = accept::listening_from_conf(&conf);
        let mut plan = Vec::with_capacity(groups.len());
        let mut slots = Vec::with_capacity(groups.len());
        let mut next_new = self.cycle.listening.len();
        for (l, mut ls) in groups {
            let existing = self.cycle.listening.iter().position(|o| {
                !o.closed && o.conf_addr == l.addr && o.via.is_some() == ls.via.is_some()
            });
            match existing {
                Some(i) => {
                    slots.push(i);
                    plan.push((Some(i), ls, None));
                }
                None if ls.via.is_some() => {
                    slots.push(next_new);
                    next_new += 1;
                    plan.push((None, ls, None));
                }
                None => match open_and_register(&self.poll, &l, &mut ls, next_new) {
                    Ok(sock) => {
                        slots.push(next_new);
                        next_new += 1;
                        plan.push((None, ls, Some(sock)));
                    }
                    Err(e) => {
                        crate::emerg!("{e}");
                        for (_, _, sock) in plan {
                            if let Some(mut s) = sock {
                                let _ = self.poll.registry().deregister(&mut s);
                            }
                        }
                        log::error!("reload failed, keeping the running configuration");
                        return;
                    }
                },
            }
        }
        let mut keep = vec![false; self.cycle.listening.len()];
        for (slot, mut ls, sock) in plan {
            ls.via = ls.via.and_then(|w| slots.get(w).copied());
            match slot {
                Some(i) => {
                    keep[i] = true;
                    let old = &mut self.cycle.listening[i];
                    old.servers = ls.servers;
                    old.default_server = ls.default_server;
                    old.via = ls.via;
                    // New connections get the new certificates and TLS
                    // settings; open ones keep the session they have.
                    old.tls = ls.tls;
                }
                None => {
                    if let Some(w) = ls.via
                        && let (Some(host), ListenAddr::Inet(mut a)) =
                            (self.cycle.listening.get(w), ls.addr.clone())
                    {
                        a.set_port(host.addr.port());
                        ls.addr = ListenAddr::Inet(a);
                        ls.addr_text = a.to_string();
                    }
                    self.cycle.listening.push(ls);
                    self.listeners.push(sock);
                }
            }
        }
        for (i, kept) in keep.into_iter().enumerate() {
            if !kept && !self.cycle.listening[i].closed {
                if let Some(mut l) = self.listeners[i].take() {
                    crate::notice!(
                        "closing listening socket on {}",
                        self.cycle.listening[i].addr_text
                    );
                    let _ = self.poll.registry().deregister(&mut l);
                }
                self.cycle.listening[i].closed = true;
            }
        }
        self.cycle.connection_n = conf.worker_connections;
        self.cycle.conf = conf;
        self.cycle.init_upstreams();
        self.retire_old_connections(&old);
        for l in self
            .cycle
            .listening
            .iter()
            .filter(|l| !l.closed && l.via.is_none())
        {
            crate::notice!("listening on {}", l.addr);
        }
    }

    /// After a reload, the connections accepted before it end as nginx's old
    /// workers end theirs: idle keep-alive connections close at once,
    /// requests in flight are answered with `Connection: close`, and the
    /// old configuration's worker_shutdown_timeout (if set) closes whatever
    /// is left. (holdfast keeps one process and swaps the configuration in
    /// place; this keeps what clients see the same as with nginx.)
    fn retire_old_connections(&mut self, old: &Config) {
        self.cycle.retire_below = self.cycle.connection_counter;
        self.cycle.close_idle_connections();
        if let Some(ms) = old.worker_shutdown_timeout_ms {
            let now = self.cycle.clock.now_ms;
            let ev = EventRef {
                token: RETIRE_TOKEN,
                kind: EvKind::Read,
            };
            self.cycle
                .timers
                .add_timer(&mut self.retire_timer, now, ms, ev);
        }
    }

    /// Mirrors ngx_process_events_and_timers(): one loop iteration.
    pub fn process_events_and_timers(&mut self) -> io::Result<()> {
        crate::core::log::use_main_log();
        let cy = &mut self.cycle;
        let timeout = if !cy.posted.is_empty()
            || !cy.posted_next.is_empty()
            || !self.accept_pending.is_empty()
        {
            Some(Duration::ZERO)
        } else {
            let now = cy.clock.now_ms;
            let timer = cy.timers.find_timer(now);
            // A buffered access log's flush= is due then.
            let flush = cy
                .access_logs
                .next_flush()
                .map(|at| at.saturating_sub(now).max(1));
            // A pool over its `keepalive N` is trimmed soon.
            let trim = cy
                .pools_over
                .then_some(crate::http::upstream_keepalive::KEEPALIVE_EVICT_DELAY_MS);
            [timer, flush, trim]
                .into_iter()
                .flatten()
                .min()
                .map(Duration::from_millis)
        };
        log::debug!(
            "epoll timer: {}",
            timeout.map_or(-1, |t| t.as_millis() as i64)
        );
        if let Err(e) = self.poll.poll(&mut self.events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            return Err(e);
        }
        let before = self.cycle.clock.now_ms;
        self.cycle.clock.time_update();
        self.cycle.move_posted_next();
        for li in std::mem::take(&mut self.accept_pending) {
            self.event_accept(li);
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|ev| {
            let closed = ev.is_read_closed();
            (
                ev.token().0,
                ev.is_readable() || closed || ev.is_error(),
                ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                closed,
            )
        }));
        for &(token, readable, writable, read_closed) in &ready {
            let key = token_key(token);
            if key == SIGNAL_TOKEN {
                crate::core::log::use_main_log();
                self.handle_signals();
                continue;
            }
            if (LISTEN_KEY_BASE..RETIRE_TOKEN).contains(&key) {
                crate::core::log::use_main_log();
                self.event_accept(key - LISTEN_KEY_BASE);
                continue;
            }
            if crate::event::resolver::is_resolver_token(token) {
                crate::core::log::use_main_log();
                crate::event::resolver::event_handler(&mut self.cycle, token, readable, writable);
                continue;
            }
            let cy = &mut self.cycle;
            let Some(key) = cy.lookup(token) else {
                log::debug!("epoll: stale event {token:#x}");
                continue;
            };
            if readable {
                let c = &mut cy.conns[key];
                c.read.ready = true;
                c.pending_eof |= read_closed;
                http::run_read_handler(cy, key);
            }
            if writable && let Some(key) = cy.lookup(token) {
                cy.conns[key].write.ready = true;
                http::run_write_handler(cy, key);
            }
        }
        self.ready = ready;
        let now = self.cycle.clock.now_ms;
        log::debug!("timer delta: {}", now - before);
        while let Some((ev, deadline)) = self.cycle.timers.expire_timer(now) {
            self.timer_fired(ev, deadline);
        }
        // Events posted while this runs (the next pipelined request) run
        // too, up to a bound, so a batch of pipelined requests is answered in
        // one iteration and one write.
        crate::event::posted::process_posted(&mut self.cycle, POSTED_PER_ITERATION);
        crate::http::upstream_keepalive::trim_pools(&mut self.cycle);
        Ok(())
    }

    /// ngx_event_expire_timers' per-timer step: mark `timedout` and call the handler.
    fn timer_fired(&mut self, ev: EventRef, deadline: u64) {
        crate::core::log::use_main_log();
        if ev.token == SHUTDOWN_TOKEN {
            self.shutdown_timer = None;
            self.shutdown_timer_handler();
            return;
        }
        if ev.token == RETIRE_TOKEN {
            self.retire_timer = None;
            crate::notice!("shutdown timeout for the connections of the previous configuration");
            let below = self.cycle.retire_below;
            self.close_connections(|c| c.number < below);
            return;
        }
        if ev.token == ACCEPT_TOKEN {
            self.accept_timer = None;
            self.enable_accept_events();
            for i in 0..self.listeners.len() {
                self.event_accept(i);
            }
            return;
        }
        if crate::event::resolver::is_resolver_token(ev.token) {
            crate::event::resolver::timer_handler(&mut self.cycle, ev.token);
            return;
        }
        let cy = &mut self.cycle;
        let Some(key) = cy.lookup(ev.token) else {
            return;
        };
        let c = &mut cy.conns[key];
        log::debug!(
            "*{} event timer del: {}: {deadline}",
            c.number,
            c.stream.fd()
        );
        match ev.kind {
            EvKind::Read => {
                c.read.timer = None;
                c.read.timedout = true;
                http::run_read_handler(cy, key);
            }
            EvKind::Write => {
                c.write.timer = None;
                c.write.timedout = true;
                http::run_write_handler(cy, key);
            }
        }
        // A handler that survived a timeout clears the flag for the next one.
        if let Some(key) = cy.lookup(ev.token) {
            let c = &mut cy.conns[key];
            match ev.kind {
                EvKind::Read => c.read.timedout = false,
                EvKind::Write => c.write.timedout = false,
            }
        }
    }

    /// Mirrors ngx_event_accept(): with `multi_accept on`, accepts until the
    /// backlog is empty; with `off` (the default), one connection, and the
    /// listener is tried again next iteration (nginx's listener is
    /// level-triggered and is reported again; mio's is edge-triggered, so
    /// holdfast remembers it).
    fn event_accept(&mut self, li: usize) {
        if self.accept_disabled {
            return;
        }
        let multi = self.cycle.conf.multi_accept;
        let mut accepted = false;
        loop {
            if accepted && !multi {
                if !self.accept_pending.contains(&li) {
                    self.accept_pending.push(li);
                }
                return;
            }
            accepted = true;
            let Some(listener) = self.listeners.get(li).and_then(Option::as_ref) else {
                return;
            };
            let (stream, peer) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    log::debug!("accept() not ready");
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                Err(e) if accept::is_fd_exhaustion(&e) => {
                    crate::crit!("accept4() failed ({})", crate::os::io::OsErr(&e));
                    self.disable_accept_events();
                    return;
                }
                Err(e) => {
                    log::error!("accept4() failed ({})", crate::os::io::OsErr(&e));
                    return;
                }
            };
            let cy = &mut self.cycle;
            let li = find_addr_conf(cy, li, &stream);
            // ngx_http_init_connection → ngx_ssl_create_connection: a TLS
            // session over the socket for an `ssl` address.
            let stream = match cy.listening[li].tls.clone() {
                None => stream,
                Some(config) => match crate::os::tls::TlsStream::new(stream, config) {
                    Ok(t) => Stream::Tls(Box::new(t)),
                    Err(e) => {
                        log::error!("SSL_new() failed ({e})");
                        continue;
                    }
                },
            };
            let Some(key) = accept::accept_connection(cy, stream, peer.addr, peer.unix, li) else {
                continue; // dropping the stream closes it
            };
            let token = cy.conns[key].token(key);
            let c = &mut cy.conns[key];
            if cy.listening[li].deferred {
                // The request is already there: read and answer it now, and
                // register with epoll only if the connection lives on (a
                // short `Connection: close` exchange never needs epoll).
                c.read.ready = true;
                http::request::init_connection(cy, key);
                if let Some(key) = cy.lookup(token) {
                    self.add_connection(key, token);
                }
            } else if self.add_connection(key, token) {
                http::request::init_connection(&mut self.cycle, key);
            }
        }
    }

    /// Mirrors ngx_epoll_add_connection(): registers both directions,
    /// edge-triggered, once for the connection's life. On failure the
    /// connection is closed and false returned.
    fn add_connection(&mut self, key: usize, token: usize) -> bool {
        let c = &mut self.cycle.conns[key];
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self
            .poll
            .registry()
            .register(&mut c.stream, Token(token), interest)
        {
            Ok(()) => true,
            Err(e) => {
                log::error!(
                    "*{} epoll_ctl() failed ({})",
                    c.number,
                    crate::os::io::OsErr(&e)
                );
                http::request::close_connection(&mut self.cycle, key);
                false
            }
        }
    }

    /// Mirrors ngx_disable_accept_events() with the EMFILE back-off timer.
    fn disable_accept_events(&mut self) {
        for l in self.listeners.iter_mut().flatten() {
            let _ = self.poll.registry().deregister(l);
        }
        self.accept_disabled = true;
        let now = self.cycle.clock.now_ms;
        self.cycle.timers.add_timer(
            &mut self.accept_timer,
            now,
            ACCEPT_MUTEX_DELAY_MS,
            EventRef {
                token: ACCEPT_TOKEN,
                kind: EvKind::Read,
            },
        );
    }

    /// Mirrors ngx_enable_accept_events().
    fn enable_accept_events(&mut self) {
        for (i, l) in self.listeners.iter_mut().enumerate() {
            if let Some(l) = l {
                let _ = self.poll.registry().register(
                    l,
                    Token(LISTEN_KEY_BASE + i),
                    Interest::READABLE,
                );
            }
        }
        self.accept_disabled = false;
    }
}

/// Mirrors the address lookup of ngx_http_init_connection(): when the
/// socket accepts for several addresses (a wildcard and the specific ones
/// without `bind`), the connection's local address picks its servers.
fn find_addr_conf(cy: &Cycle<Stream>, li: usize, stream: &Stream) -> usize {
    if !cy.listening.iter().any(|l| l.via == Some(li)) {
        return li;
    }
    let Some(local) = crate::os::net::local_addr(stream.fd()) else {
        return li;
    };
    cy.listening
        .iter()
        .position(|l| l.via == Some(li) && l.addr.inet().is_some_and(|a| a.ip() == local.ip()))
        .unwrap_or(li)
}

/// Opens one listening socket, records its real address and registers it.
fn open_and_register(
    poll: &Poll,
    l: &crate::conf::Listen,
    ls: &mut crate::core::cycle::Listening,
    index: usize,
) -> Result<Listener, String> {
    let std_listener = accept::open_listening_socket(l)
        .map_err(|e| format!("bind() to {} failed ({})", l.addr, crate::os::io::OsErr(&e)))?;
    register_listener(poll, std_listener, ls, index)
}

/// Records an open listening socket's real address and registers it.
fn register_listener(
    poll: &Poll,
    std_listener: StdListener,
    ls: &mut crate::core::cycle::Listening,
    index: usize,
) -> Result<Listener, String> {
    ls.addr = std_listener
        .local_addr()
        .map_err(|e| format!("getsockname() failed ({})", crate::os::io::OsErr(&e)))?;
    ls.addr_text = ls.addr.to_string();
    let mut listener = Listener::from_std(std_listener);
    poll.registry()
        .register(
            &mut listener,
            Token(LISTEN_KEY_BASE + index),
            Interest::READABLE,
        )
        .map_err(|e| format!("epoll_ctl() failed ({})", crate::os::io::OsErr(&e)))?;
    Ok(listener)
}
