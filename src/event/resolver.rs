//! The resolver in the event loop: nginx's ngx_udp_connect(),
//! ngx_resolver_send_udp_query(), ngx_resolver_udp_read(), the TCP side
//! (ngx_tcp_connect(), ngx_resolver_send_tcp_query(),
//! ngx_resolver_tcp_write(), ngx_resolver_tcp_read()) and the resend
//! timer, around the I/O-free core of `core::resolver`.
//!
//! One runtime resolver per `resolver` line in use, made on its first
//! query. Each has one connected UDP socket per name server, opened on
//! first use (as nginx's `rec->udp`), registered in the loop's poll under
//! the token range [`RESOLVER_KEY_BASE`]`..LISTEN_KEY_BASE`: the key is
//! `RESOLVER_KEY_BASE + resolver * SLOTS + slot`, the high 32 bits the
//! resolver's number, so an event or a timer of a resolver gone (after a
//! reload) never reaches the one that takes its slot. Slot `server` is a
//! name server's UDP socket, [`TCP_SLOT`]` + server` its TCP connection.
//!
//! DNS over TCP: when the core says a query goes over TCP (its UDP answer
//! came truncated), the name server's one TCP connection (nginx's
//! `rec->tcp`) is opened if it is not, and the query is queued on it with
//! its 2-byte length; answers are read with theirs. As nginx, the
//! connection is closed `tcp_timeout` (5 s) after its last send (a write
//! timer on the TCP slot's token), or on an error or the server closing.
//!
//! Timers: the core keeps each waiter's deadline (`resolver_timeout`) and
//! each query's resend time; one timer of the cycle's wheel per resolver
//! is armed for the earliest of them (slot [`TIMER_SLOT`]), where nginx
//! has a resend event per resolver and a timeout event per waiter.
//!
//! A resolver whose `resolver` line no configuration uses any more (a
//! reload replaced it) is dropped once nothing is in flight.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;

use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Token};
use slab::Slab;

use crate::conf::resolver::{MAX_SERVERS, ResolverConf};
use crate::core::connection::{EvKind, EventRef, LISTEN_KEY_BASE, make_token, token_key};
use crate::core::cycle::Cycle;
use crate::core::resolver::{
    Completion, Outcome, Resolve, ResolveError, ResolverCore, SERVFAIL, Settings, TCP_TIMEOUT_MS,
    Transmit, UDP_SIZE, WaiterId,
};
use crate::event::timer::TimerHandle;
use crate::os::io::{OsErr, Transport};

/// The first key of the resolvers' token range (it ends where the
/// listeners' begins).
pub const RESOLVER_KEY_BASE: usize = 0xFFFE_0000;
/// Keys per resolver: its name servers' UDP sockets, their TCP
/// connections, then its timer.
pub const SLOTS: usize = 128;
/// The slot of name server 0's TCP connection.
pub const TCP_SLOT: usize = 64;
/// The slot of a resolver's timer.
pub const TIMER_SLOT: usize = SLOTS - 1;
/// NGX_RESOLVER_TCP_WSIZE: queries waiting to be sent on a TCP connection
/// at most, bytes.
pub const TCP_WSIZE: usize = 8192;
/// NGX_RESOLVER_TCP_RSIZE: the largest answer over TCP, with its length.
const TCP_RSIZE: usize = 2 + 65535;

const _: () = assert!(MAX_SERVERS <= TCP_SLOT && TCP_SLOT + MAX_SERVERS <= TIMER_SLOT);
/// Resolvers alive at once at most.
pub const MAX_RESOLVERS: usize = (LISTEN_KEY_BASE - RESOLVER_KEY_BASE) / SLOTS;

/// Is this token's key one of the resolvers'?
pub fn is_resolver_token(token: usize) -> bool {
    (RESOLVER_KEY_BASE..LISTEN_KEY_BASE).contains(&token_key(token))
}

/// One resolver at run time (nginx's `ngx_resolver_t` with its
/// `connections`).
#[derive(Debug)]
struct Resolver {
    /// Its `resolver` line (held: the address keys `Resolvers::by_conf`).
    conf: Rc<ResolverConf>,
    /// Its number (the tokens' high bits).
    number: u64,
    core: ResolverCore,
    /// One socket per name server, opened on first use.
    sockets: Vec<Option<UdpSocket>>,
    /// One TCP connection per name server, opened when a query needs it.
    tcp: Vec<Option<TcpConn>>,
    timer: Option<TimerHandle>,
}

/// A name server's TCP connection (nginx's `rec->tcp` with
/// `rec->read_buf` and `rec->write_buf`).
#[derive(Debug)]
struct TcpConn {
    stream: TcpStream,
    /// Queries not sent yet, each after its 2-byte length.
    write_buf: Vec<u8>,
    /// What was read and is not a whole answer yet.
    read_buf: Vec<u8>,
    /// The write timer (tcp_timeout after the last send).
    timer: Option<TimerHandle>,
}

/// The cycle's resolvers.
#[derive(Debug, Default)]
pub struct Resolvers {
    list: Slab<Resolver>,
    /// `resolver` line (its address) → slab key.
    by_conf: HashMap<usize, usize>,
    /// The last resolver number given.
    number: u64,
    /// The receive buffer (NGX_RESOLVER_UDP_SIZE), allocated on first use.
    buf: Vec<u8>,
}

impl Resolvers {
    /// Resolvers alive (for tests and leak checks).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No resolver alive.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A request's wait for a name (what nginx keeps as `u->resolved->ctx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolveWait {
    key: usize,
    number: u64,
    waiter: WaiterId,
}

/// What [`resolve_name`] says.
#[derive(Debug)]
pub enum Answer {
    /// Known at once (the cache, or an error).
    Now(Outcome),
    /// The answer comes to `crate::http::upstream_resolve::resolve_handler`.
    Later(ResolveWait),
}

/// Mirrors ngx_resolve_start() + ngx_resolve_name(): `name` with the
/// resolver of `conf`; `user` (the client connection's token) is what the
/// answer is delivered to.
pub fn resolve_name<S: Transport>(
    cy: &mut Cycle<S>,
    conf: &Rc<ResolverConf>,
    name: &str,
    timeout_ms: u64,
    user: usize,
) -> Answer {
    let Some(key) = resolver_for(cy, conf) else {
        crate::alert!("{MAX_RESOLVERS} resolvers are not enough");
        return Answer::Now(Err(ResolveError::Dns(SERVFAIL)));
    };
    let now = cy.clock.now_ms;
    let mut out = Vec::new();
    let r = &mut cy.resolvers.list[key];
    let number = r.number;
    let answer = match r.core.resolve(name, now, timeout_ms, user, &mut out) {
        Resolve::Done(outcome) => Answer::Now(outcome),
        Resolve::Wait(waiter) => Answer::Later(ResolveWait {
            key,
            number,
            waiter,
        }),
    };
    transmit(cy, key, out);
    rearm(cy, key);
    answer
}

/// Mirrors ngx_resolve_name_done() for a request that stops waiting.
pub fn resolve_name_done<S: Transport>(cy: &mut Cycle<S>, w: ResolveWait) {
    let now = cy.clock.now_ms;
    match cy.resolvers.list.get_mut(w.key) {
        Some(r) if r.number == w.number => r.core.cancel(w.waiter, now),
        _ => return,
    }
    rearm(cy, w.key);
    collect(cy, w.key);
}

impl ResolveWait {
    /// Is a completion for `waiter` the answer to this wait (and not to an
    /// older one of the same connection)?
    pub fn is(&self, waiter: WaiterId) -> bool {
        self.waiter == waiter
    }
}

/// The runtime resolver of a `resolver` line, made on first use.
fn resolver_for<S: Transport>(cy: &mut Cycle<S>, conf: &Rc<ResolverConf>) -> Option<usize> {
    let id = Rc::as_ptr(conf) as usize;
    if let Some(&key) = cy.resolvers.by_conf.get(&id) {
        return Some(key);
    }
    if cy.resolvers.list.len() >= MAX_RESOLVERS {
        return None;
    }
    cy.resolvers.number += 1;
    let number = cy.resolvers.number;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let core = ResolverCore::new(
        Settings {
            servers: conf.addrs.len(),
            valid_ms: conf.valid_ms,
            ipv4: conf.ipv4,
            ipv6: conf.ipv6,
        },
        seed,
    );
    let key = cy.resolvers.list.insert(Resolver {
        conf: conf.clone(),
        number,
        core,
        sockets: conf.addrs.iter().map(|_| None).collect(),
        tcp: conf.addrs.iter().map(|_| None).collect(),
        timer: None,
    });
    cy.resolvers.by_conf.insert(id, key);
    Some(key)
}

/// The token of a resolver's slot (a socket or the timer).
fn slot_token(key: usize, slot: usize, number: u64) -> usize {
    make_token(RESOLVER_KEY_BASE + key * SLOTS + slot, number)
}

/// The resolver and slot a token names, if that resolver still lives.
fn from_token<S>(cy: &Cycle<S>, token: usize) -> Option<(usize, usize)> {
    let k = token_key(token).checked_sub(RESOLVER_KEY_BASE)?;
    let (key, slot) = (k / SLOTS, k % SLOTS);
    let r = cy.resolvers.list.get(key)?;
    (slot_token(key, slot, r.number) == token).then_some((key, slot))
}

/// Sends the core's queries; a name server that cannot be sent a datagram
/// is skipped for the next one, once (as ngx_resolve_name_locked retries).
/// A TCP query that fails waits for its resend, as nginx's.
fn transmit<S: Transport>(cy: &mut Cycle<S>, key: usize, out: Vec<Transmit>) {
    for t in out {
        if t.tcp {
            send_tcp_query(cy, key, t.server, &t.data);
            continue;
        }
        if send_udp_query(cy, key, t.server, &t.data).is_err() {
            let n = cy.resolvers.list[key].sockets.len();
            let _ = send_udp_query(cy, key, (t.server + 1) % n, &t.data);
        }
    }
}

/// Mirrors ngx_resolver_send_udp_query(): opens the name server's socket
/// on first use (ngx_udp_connect) and sends one datagram.
fn send_udp_query<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    server: usize,
    data: &[u8],
) -> io::Result<()> {
    let r = &mut cy.resolvers.list[key];
    let addr = r.conf.addrs[server];
    if r.sockets[server].is_none() {
        let token = slot_token(key, server, r.number);
        match udp_connect(cy.registry.as_ref(), addr, token) {
            Ok(s) => r.sockets[server] = Some(s),
            Err(e) => {
                log::error!(
                    "connect() failed ({}) while resolving, resolver: {addr}",
                    OsErr(&e)
                );
                return Err(e);
            }
        }
    }
    let Some(sock) = r.sockets[server].as_ref() else {
        return Err(io::Error::from(io::ErrorKind::NotConnected));
    };
    match sock.send(data) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(_) => {
            log::error!("send() incomplete while resolving, resolver: {addr}");
            Err(io::Error::from(io::ErrorKind::WriteZero))
        }
        Err(e) => {
            log::error!(
                "send() failed ({}) while resolving, resolver: {addr}",
                OsErr(&e)
            );
            close_socket(cy, key, server);
            Err(e)
        }
    }
}

/// Mirrors ngx_udp_connect(): a non-blocking UDP socket connected to the
/// name server (only its datagrams are read) and registered for reading.
fn udp_connect(
    registry: Option<&mio::Registry>,
    addr: SocketAddr,
    token: usize,
) -> io::Result<UdpSocket> {
    let Some(registry) = registry else {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    };
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    let mut sock = UdpSocket::bind(local)?;
    sock.connect(addr)?;
    registry.register(&mut sock, Token(token), Interest::READABLE)?;
    log::debug!("UDP socket connected to {addr}");
    Ok(sock)
}

fn close_socket<S>(cy: &mut Cycle<S>, key: usize, server: usize) {
    if let Some(mut s) = cy.resolvers.list[key].sockets[server].take()
        && let Some(reg) = cy.registry.as_ref()
    {
        let _ = reg.deregister(&mut s);
    }
}

/// Mirrors ngx_resolver_send_tcp_query(): opens the name server's TCP
/// connection if it is not open (ngx_tcp_connect), queues the query with
/// its length and sends what it can.
fn send_tcp_query<S: Transport>(cy: &mut Cycle<S>, key: usize, server: usize, data: &[u8]) {
    let r = &mut cy.resolvers.list[key];
    let addr = r.conf.addrs[server];
    if r.tcp[server].is_none() {
        let token = slot_token(key, TCP_SLOT + server, r.number);
        let stream = match tcp_connect(cy.registry.as_ref(), addr, token) {
            Ok(s) => s,
            Err(e) => {
                log::error!(
                    "connect() to {addr} failed ({}) while resolving, resolver: {addr}",
                    OsErr(&e)
                );
                return;
            }
        };
        let c = r.tcp[server].insert(TcpConn {
            stream,
            write_buf: Vec::new(),
            read_buf: Vec::new(),
            timer: None,
        });
        let ev = EventRef {
            token,
            kind: EvKind::Write,
        };
        cy.timers
            .add_timer(&mut c.timer, cy.clock.now_ms, TCP_TIMEOUT_MS, ev);
    }
    let Some(c) = r.tcp[server].as_mut() else {
        return;
    };
    if c.write_buf.len() + 2 + data.len() > TCP_WSIZE {
        crate::crit!("buffer overflow while resolving, resolver: {addr}");
        return;
    }
    c.write_buf
        .extend_from_slice(&(data.len() as u16).to_be_bytes());
    c.write_buf.extend_from_slice(data);
    tcp_write(cy, key, server);
}

/// Mirrors ngx_tcp_connect(): a non-blocking TCP connection to the name
/// server (in progress), registered for reading and writing.
fn tcp_connect(
    registry: Option<&mio::Registry>,
    addr: SocketAddr,
    token: usize,
) -> io::Result<TcpStream> {
    let Some(registry) = registry else {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    };
    let mut stream = TcpStream::connect(addr)?;
    registry.register(
        &mut stream,
        Token(token),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    log::debug!("connect to {addr} (TCP)");
    Ok(stream)
}

/// Mirrors ngx_resolver_tcp_write(): sends the queued queries while the
/// socket takes them (a connection still in progress takes none yet); each
/// send re-arms the write timer.
fn tcp_write<S: Transport>(cy: &mut Cycle<S>, key: usize, server: usize) {
    let r = &mut cy.resolvers.list[key];
    let addr = r.conf.addrs[server];
    let number = r.number;
    let Some(c) = r.tcp[server].as_mut() else {
        return;
    };
    let mut sent = 0;
    while sent < c.write_buf.len() {
        match Write::write(&mut c.stream, &c.write_buf[sent..]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                ) =>
            {
                break;
            }
            Err(e) => {
                log::error!(
                    "send() failed ({}) while resolving, resolver: {addr}",
                    OsErr(&e)
                );
                close_tcp(cy, key, server);
                return;
            }
        }
    }
    if sent > 0 {
        c.write_buf.drain(..sent);
        let ev = EventRef {
            token: slot_token(key, TCP_SLOT + server, number),
            kind: EvKind::Write,
        };
        cy.timers
            .add_timer(&mut c.timer, cy.clock.now_ms, TCP_TIMEOUT_MS, ev);
    }
}

/// Mirrors ngx_resolver_tcp_read(): reads what the name server sent; each
/// whole answer (after its 2-byte length) goes to the core. An error or
/// the server closing closes the connection.
fn tcp_read<S: Transport>(cy: &mut Cycle<S>, key: usize, server: usize) {
    let now = cy.clock.now_ms;
    let mut out = Vec::new();
    let mut done = Vec::new();
    let mut chunk = std::mem::take(&mut cy.resolvers.buf);
    chunk.resize(UDP_SIZE, 0);
    let r = &mut cy.resolvers.list[key];
    let addr = r.conf.addrs[server];
    let mut failed = false;
    if let Some(c) = r.tcp[server].as_mut() {
        loop {
            match Read::read(&mut c.stream, &mut chunk) {
                Ok(0) => {
                    log::debug!("resolver: {addr} closed the TCP connection");
                    failed = true;
                    break;
                }
                Ok(n) => c.read_buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!(
                        "recv() failed ({}) while resolving, resolver: {addr}",
                        OsErr(&e)
                    );
                    failed = true;
                    break;
                }
            }
            let mut pos = 0;
            while let [hi, lo, ..] = c.read_buf[pos..] {
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                let Some(answer) = c.read_buf.get(pos + 2..pos + 2 + len) else {
                    break;
                };
                r.core
                    .process_response(answer, true, now, &mut out, &mut done);
                pos += 2 + len;
            }
            c.read_buf.drain(..pos);
            debug_assert!(c.read_buf.len() < TCP_RSIZE + UDP_SIZE);
        }
    }
    cy.resolvers.buf = chunk;
    if failed {
        close_tcp(cy, key, server);
    }
    finish(cy, key, out, done);
}

/// Closes a name server's TCP connection (nginx's ngx_close_connection()
/// of `rec->tcp`); queries on it wait for their resend.
fn close_tcp<S>(cy: &mut Cycle<S>, key: usize, server: usize) {
    if let Some(mut c) = cy.resolvers.list[key].tcp[server].take() {
        cy.timers.del_timer(&mut c.timer);
        if let Some(reg) = cy.registry.as_ref() {
            let _ = reg.deregister(&mut c.stream);
        }
        log::debug!("resolver: TCP connection closed");
    }
}

/// A resolver socket's event: a UDP socket's datagrams, or a TCP
/// connection readable (ngx_resolver_tcp_read) then writable
/// (ngx_resolver_tcp_write), in nginx's epoll order.
pub fn event_handler<S: Transport>(
    cy: &mut Cycle<S>,
    token: usize,
    readable: bool,
    writable: bool,
) {
    let Some((key, slot)) = from_token(cy, token) else {
        log::debug!("resolver: stale event {token:#x}");
        return;
    };
    if slot < TCP_SLOT {
        udp_read(cy, token);
        return;
    }
    let server = slot - TCP_SLOT;
    if readable {
        tcp_read(cy, key, server);
    }
    // The read may have closed it, or dropped the resolver.
    let open = cy
        .resolvers
        .list
        .get(key)
        .is_some_and(|r| r.tcp.get(server).is_some_and(Option::is_some));
    if writable && open {
        tcp_write(cy, key, server);
    }
}

/// Mirrors ngx_resolver_udp_read(): every datagram waiting on a name
/// server's socket goes to the core; the answers go to their requests.
pub fn udp_read<S: Transport>(cy: &mut Cycle<S>, token: usize) {
    let Some((key, server)) = from_token(cy, token) else {
        log::debug!("resolver: stale event {token:#x}");
        return;
    };
    let now = cy.clock.now_ms;
    let mut buf = std::mem::take(&mut cy.resolvers.buf);
    buf.resize(UDP_SIZE, 0);
    let mut out = Vec::new();
    let mut done = Vec::new();
    loop {
        let r = &mut cy.resolvers.list[key];
        let Some(sock) = r.sockets.get(server).and_then(Option::as_ref) else {
            break;
        };
        match sock.recv(&mut buf) {
            Ok(n) => r
                .core
                .process_response(&buf[..n], false, now, &mut out, &mut done),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::error!(
                    "recv() failed ({}) while resolving, resolver: {}",
                    OsErr(&e),
                    r.conf.addrs[server]
                );
                close_socket(cy, key, server);
                break;
            }
        }
    }
    cy.resolvers.buf = buf;
    finish(cy, key, out, done);
}

/// Mirrors ngx_resolver_resend_handler() and the waiters' timeout
/// handlers: the resolver's timer fired; or a TCP connection's write
/// timer (ngx_resolver_tcp_write() with `wev->timedout`): it is closed.
pub fn timer_handler<S: Transport>(cy: &mut Cycle<S>, token: usize) {
    let Some((key, slot)) = from_token(cy, token) else {
        return;
    };
    if slot != TIMER_SLOT {
        let server = slot.wrapping_sub(TCP_SLOT);
        if let Some(Some(c)) = cy.resolvers.list[key].tcp.get_mut(server) {
            c.timer = None;
            log::debug!("resolver: TCP connection timed out");
            close_tcp(cy, key, server);
            collect(cy, key);
        }
        return;
    }
    let now = cy.clock.now_ms;
    let r = &mut cy.resolvers.list[key];
    r.timer = None;
    let mut out = Vec::new();
    let mut done = Vec::new();
    r.core.expire_timers(now, &mut out, &mut done);
    finish(cy, key, out, done);
}

/// After the core worked: its queries sent, its timer re-armed, its
/// answers delivered, the resolver dropped if it is no longer used.
fn finish<S: Transport>(cy: &mut Cycle<S>, key: usize, out: Vec<Transmit>, done: Vec<Completion>) {
    transmit(cy, key, out);
    rearm(cy, key);
    for c in done {
        crate::http::upstream_resolve::resolve_handler(cy, c.user, c.waiter, c.outcome);
    }
    collect(cy, key);
}

/// Arms the resolver's timer for the core's earliest deadline.
fn rearm<S>(cy: &mut Cycle<S>, key: usize) {
    let now = cy.clock.now_ms;
    let Some(r) = cy.resolvers.list.get_mut(key) else {
        return;
    };
    match r.core.next_deadline() {
        Some(at) => {
            let ev = EventRef {
                token: slot_token(key, TIMER_SLOT, r.number),
                kind: EvKind::Read,
            };
            cy.timers
                .add_timer(&mut r.timer, now, at.saturating_sub(now), ev);
        }
        None => {
            cy.timers.del_timer(&mut r.timer);
        }
    }
}

/// Drops a resolver nothing uses: no configuration holds its line (a
/// reload replaced it) and nothing is in flight (nginx's old worker exits
/// with its resolvers).
fn collect<S>(cy: &mut Cycle<S>, key: usize) {
    let Some(r) = cy.resolvers.list.get(key) else {
        return;
    };
    if Rc::strong_count(&r.conf) > 1 || !r.core.is_idle() {
        return;
    }
    let mut r = cy.resolvers.list.remove(key);
    cy.resolvers.by_conf.remove(&(Rc::as_ptr(&r.conf) as usize));
    cy.timers.del_timer(&mut r.timer);
    for mut s in r.sockets.into_iter().flatten() {
        if let Some(reg) = cy.registry.as_ref() {
            let _ = reg.deregister(&mut s);
        }
    }
    for mut c in r.tcp.into_iter().flatten() {
        cy.timers.del_timer(&mut c.timer);
        if let Some(reg) = cy.registry.as_ref() {
            let _ = reg.deregister(&mut c.stream);
        }
    }
    log::debug!("cleanup resolver");
}
