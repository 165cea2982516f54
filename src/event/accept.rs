//! Accepting connections: nginx's `event/ngx_event_accept.c`, and opening the
//! listening sockets (`ngx_open_listening_sockets` in `core/ngx_connection.c`).

use std::io;
use std::os::fd::FromRawFd;
use std::rc::Rc;

use crate::conf::{Config, Listen, ServerConf};
use crate::core::cycle::Listening;

/// TCP_DEFER_ACCEPT's timeout for `listen ... deferred`, in seconds.
pub const DEFERRED_ACCEPT_SECS: libc::c_int = 60;

/// How long accepting pauses after EMFILE/ENFILE (nginx's accept_mutex_delay).
pub const ACCEPT_MUTEX_DELAY_MS: u64 = 500;

/// Groups the servers by listen address: one socket per distinct address, its
/// default server the one marked `default_server`, else the first.
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
                        conf_addr: l.addr,
                        addr: l.addr,
                        deferred: l.deferred,
                        closed: false,
                        addr_text: l.addr.to_string(),
                        servers: vec![srv],
                        default_server: 0,
                    },
                )),
            }
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

/// Mirrors ngx_open_listening_sockets() for one address: socket, SO_REUSEADDR,
/// SO_REUSEPORT when asked, bind, listen(backlog), non-blocking.
pub fn open_listening_socket(l: &Listen) -> io::Result<std::net::TcpListener> {
    let domain = if l.addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: fd is a fresh socket we own; the listener closes it on drop.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    let setopt = |opt: libc::c_int| {
        // SAFETY: fd is open; the option value is a valid c_int for its size.
        cvt(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
    };
    setopt(libc::SO_REUSEADDR)?;
    if l.reuseport {
        setopt(libc::SO_REUSEPORT)?;
    }
    if l.deferred {
        // Wake accept() only when data has arrived; after this many seconds
        // without data the kernel hands the connection over anyway.
        let secs: libc::c_int = DEFERRED_ACCEPT_SECS;
        // SAFETY: fd is open; the option value is a valid c_int for its size.
        cvt(unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&secs as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
    }
    let (storage, len) = crate::os::net::sockaddr(&l.addr);
    // SAFETY: storage holds a valid sockaddr of `len` bytes for this family.
    cvt(unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    // SAFETY: fd is a bound socket.
    cvt(unsafe { libc::listen(fd, l.backlog) })?;
    Ok(listener)
}

/// Is this accept() error the descriptor limit (EMFILE / ENFILE)?
pub fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}
