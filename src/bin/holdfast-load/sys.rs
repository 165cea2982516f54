//! System calls the standard library does not offer: raising
//! RLIMIT_NOFILE, and a non-blocking connect from a chosen source address
//! (`bind()` before `connect()`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd};

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes into the rlimit we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit(2) reads the rlimit we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// A socket address in the C layout, with its length (the server's helper).
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    holdfast::os::net::sockaddr(&addr)
}

/// Sets an integer socket option to 1.
fn set_flag(fd: libc::c_int, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt(2) reads one c_int from the pointer we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Starts a non-blocking connection to `addr` from `source` (port chosen by
/// the kernel at connect time, so one source address can reach many
/// targets with the same port). TCP_NODELAY is set. The connection is
/// usually still in progress when this returns; its outcome shows up as
/// writability (see `TcpStream::take_error`).
pub fn start_connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<mio::net::TcpStream> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own; OwnedFd closes it on error.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_flag(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY)?;
    if let Some(ip) = source {
        // Defer the port choice to connect(): the 4-tuple, not the source
        // address alone, then has to be unique.
        set_flag(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT)?;
        let (sa, len) = sockaddr(SocketAddr::new(ip, 0));
        // SAFETY: bind(2) reads `len` bytes of the sockaddr we pass.
        if unsafe { libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let (sa, len) = sockaddr(addr);
    // SAFETY: connect(2) reads `len` bytes of the sockaddr we pass.
    let rc = unsafe { libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(mio::net::TcpStream::from_std(std::net::TcpStream::from(
        owned,
    )))
}
