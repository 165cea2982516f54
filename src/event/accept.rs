//! Accepting connections: nginx's `event/ngx_event_accept.c`, and opening the
//! listening sockets (`ngx_open_listening_sockets` in `core/ngx_connection.c`).

use std::io;
use std::os::fd::FromRawFd;
use std::rc::Rc;

use crate::conf::{Config, Listen, ListenAddr, ServerConf, SoKeepalive};
use crate::core::cycle::Listening;
use crate::os::socket::StdListener;

/// TCP_DEFER_ACCEPT's timeout for `listen ... deferred`, in seconds.
pub const DEFERRED_ACCEPT_SECS: libc::c_int = 60;

/// How long accepting pauses after EMFILE/ENFILE (nginx's accept_mutex_delay).
pub const ACCEPT_MUTEX_DELAY_MS: u64 = 500;

/// The bookkeeping half of ngx_event_accept(), after accept(2) returned a
/// socket: the `accepts` counter, a connection slot (ngx_get_connection,
/// which may drain idle connections first), the `active` and `handled`
/// counters and the `accept:` trace line. The event loop and the in-memory
/// drivers (tests, fuzzing) all come through here, so the counters cannot
/// drift apart. None: no slot (the caller's socket is dropped, closing it).
pub fn accept_connection<S: crate::os::io::Transport>(
    cy: &mut crate::core::cycle::Cycle<S>,
    stream: S,
    addr: std::net::SocketAddr,
    unix: bool,
    li: usize,
) -> Option<usize> {
    cy.stats.accepts += 1;
    let key = cy.get_connection(stream, addr, li)?;
    cy.stats.active += 1;
    cy.stats.handled += 1;
    let c = &mut cy.conns[key];
    c.unix = unix;
    log::debug!("*{} accept: {} fd:{}", c.number, addr, c.stream.fd());
    Some(key)
}

/// Mirrors ngx_http_optimize_servers() / ngx_http_init_listening(): one
/// entry per distinct listen address, its default server the one marked
/// `default_server`, else the first. On a port (per address family) with a
/// wildcard address, the other addresses without `bind` get no socket of
/// their own: the wildcard's socket accepts for them (`via`), and a
/// connection is matched to its address by getsockname() at accept.
pub fn listening_from_conf(conf: &Config) -> Vec<(Listen, Listening)> {
    let mut out: Vec<(Listen, Listening)> = Vec::new();
    let Some(http) = conf.http.as_ref() else {
        return out;
    };
    for server in &http.servers {
        for l in &server.listen {
            let srv: Rc<ServerConf> = server.clone();
            match out.iter_mut().find(|(ol, _)| ol.addr == l.addr) {
                Some((_, ls)) => {
                    if l.default_server {
                        ls.default_server = ls.servers.len();
                    }
                    ls.servers.push(srv);
                }
                None => out.push((
                    l.clone(),
                    Listening {
                        conf_addr: l.addr.clone(),
                        addr: l.addr.clone(),
                        deferred: l.deferred,
                        closed: false,
                        addr_text: l.addr.to_string(),
                        servers: vec![srv],
                        default_server: 0,
                        via: None,
                        tls: None,
                    },
                )),
            }
        }
    }
    // ngx_http_ssl_init: an address any `listen … ssl` names speaks TLS.
    for (l, ls) in out.iter_mut() {
        let ssl = ls
            .servers
            .iter()
            .any(|s| s.listen.iter().any(|x| x.addr == l.addr && x.ssl));
        if ssl {
            ls.tls = crate::http::ssl_module::listening_tls(&ls.servers, ls.default_server);
        }
    }
    let wildcards: Vec<(usize, std::net::SocketAddr)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, (l, _))| {
            l.addr
                .inet()
                .filter(|a| a.ip().is_unspecified())
                .map(|a| (i, a))
        })
        .collect();
    for (l, ls) in out.iter_mut() {
        let Some(a) = l.addr.inet() else { continue };
        if l.bind || a.ip().is_unspecified() {
            continue;
        }
        ls.via = wildcards
            .iter()
            .find(|(_, w)| w.port() == a.port() && w.is_ipv4() == a.is_ipv4())
            .map(|(i, _)| *i);
        if let Some(w) = ls.via {
            log::debug!("{} is served by the wildcard socket #{w}", l.addr);
        }
    }
    out
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Mirrors ngx_open_listening_sockets() + ngx_configure_listening_sockets()
/// for one address: socket, SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY,
/// SO_RCVBUF / SO_SNDBUF, SO_KEEPALIVE and its tunables, bind, listen
/// (backlog), TCP_DEFER_ACCEPT, TCP_FASTOPEN; non-blocking. A unix socket
/// is made writable by everyone, as nginx does (chmod 0666).
pub fn open_listening_socket(l: &Listen) -> io::Result<StdListener> {
    let (domain, sockaddr) = match &l.addr {
        ListenAddr::Inet(a) => (
            if a.is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            },
            Some(crate::os::net::sockaddr(a)),
        ),
        ListenAddr::Unix(_) => (libc::AF_UNIX, None),
    };
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: fd is a fresh socket we own; the wrapper closes it on drop
    // (also on the error paths below).
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let setopt = |level: libc::c_int, opt: libc::c_int, v: libc::c_int| {
        crate::os::io::set_int_opt(fd, level, opt, v)
    };
    if let ListenAddr::Inet(a) = &l.addr {
        setopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if l.reuseport {
            setopt(libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        if a.is_ipv6() {
            setopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, l.ipv6only.into())?;
        }
    }
    if let Some(n) = l.rcvbuf {
        setopt(libc::SOL_SOCKET, libc::SO_RCVBUF, clamp_int(n))?;
    }
    if let Some(n) = l.sndbuf {
        setopt(libc::SOL_SOCKET, libc::SO_SNDBUF, clamp_int(n))?;
    }
    match l.so_keepalive {
        SoKeepalive::Unset => {}
        SoKeepalive::Off => setopt(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 0)?,
        SoKeepalive::On { idle, intvl, cnt } => {
            setopt(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
            for (opt, v) in [
                (libc::TCP_KEEPIDLE, idle),
                (libc::TCP_KEEPINTVL, intvl),
                (libc::TCP_KEEPCNT, cnt),
            ] {
                if v > 0 {
                    setopt(libc::IPPROTO_TCP, opt, clamp_int(v as usize))?;
                }
            }
        }
    }
    match &l.addr {
        ListenAddr::Inet(_) => {
            let (storage, len) = sockaddr.unwrap_or_else(|| {
                crate::os::net::sockaddr(&std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
            });
            // SAFETY: storage holds a valid sockaddr of `len` bytes for this family.
            cvt(unsafe {
                libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len)
            })?;
        }
        ListenAddr::Unix(path) => {
            let (sun, len) = crate::os::net::sockaddr_un(path)?;
            // SAFETY: sun is a valid sockaddr_un of `len` bytes.
            cvt(unsafe { libc::bind(fd, (&sun as *const libc::sockaddr_un).cast(), len) })?;
            use std::os::unix::fs::PermissionsExt;
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)) {
                crate::emerg!(
                    "chmod() \"{}\" failed ({})",
                    path.display(),
                    crate::os::io::OsErr(&e)
                );
            }
        }
    }
    // SAFETY: fd is a bound socket.
    cvt(unsafe { libc::listen(fd, l.backlog) })?;
    if l.deferred {
        // Wake accept() only when data has arrived; after this many seconds
        // without data the kernel hands the connection over anyway.
        setopt(
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            DEFERRED_ACCEPT_SECS,
        )?;
    }
    if let Some(q) = l.fastopen {
        // ngx_configure_listening_sockets() only logs a failure here.
        if let Err(e) = setopt(libc::IPPROTO_TCP, libc::TCP_FASTOPEN, clamp_int(q as usize)) {
            crate::alert!(
                "setsockopt(TCP_FASTOPEN, {q}) {} failed, ignored ({})",
                l.addr,
                crate::os::io::OsErr(&e)
            );
        }
    }
    Ok(match &l.addr {
        ListenAddr::Inet(_) => StdListener::Tcp(std::net::TcpListener::from(owned)),
        ListenAddr::Unix(_) => StdListener::Unix(std::os::unix::net::UnixListener::from(owned)),
    })
}

fn clamp_int(n: usize) -> libc::c_int {
    libc::c_int::try_from(n).unwrap_or(libc::c_int::MAX)
}

/// Removes the unix sockets a configuration listened on (nginx's
/// ngx_close_listening_sockets deletes them when the master exits).
pub fn remove_unix_sockets(listening: &[Listening]) {
    for l in listening {
        if let ListenAddr::Unix(p) = &l.addr
            && l.via.is_none()
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Is this accept() error the descriptor limit (EMFILE / ENFILE)?
pub fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}
