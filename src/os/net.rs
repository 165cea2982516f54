//! Socket addresses in the C layout, for the libc calls that std does not
//! wrap (bind before listen with options, bind before connect).

use std::net::SocketAddr;

/// A peer to connect to: an IP address and port, or a unix-domain socket
/// path (nginx's ngx_addr_t with its `unix:` form).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    /// `ADDR:PORT`.
    Inet(SocketAddr),
    /// `unix:PATH`.
    Unix(std::rc::Rc<std::path::Path>),
}

impl PeerAddr {
    /// The port (`$proxy_port`); 0 for a unix socket.
    pub fn port(&self) -> u16 {
        match self {
            PeerAddr::Inet(a) => a.port(),
            PeerAddr::Unix(_) => 0,
        }
    }
}

/// Mirrors ngx_parse_unix_domain_url() for what follows `unix:` in a
/// proxy URL: `PATH[:URI]`; None when the path is empty.
pub fn parse_unix_url(after: &str) -> Option<(PeerAddr, Option<String>)> {
    let (path, uri) = match after.find(':') {
        Some(i) => (&after[..i], Some(after[i + 1..].to_string())),
        None => (after, None),
    };
    if path.is_empty() {
        return None;
    }
    Some((
        PeerAddr::Unix(std::rc::Rc::from(std::path::Path::new(path))),
        uri,
    ))
}

impl From<SocketAddr> for PeerAddr {
    fn from(a: SocketAddr) -> Self {
        PeerAddr::Inet(a)
    }
}

impl std::fmt::Display for PeerAddr {
    /// nginx's peer names: `127.0.0.1:8080`, `[::1]:80`, `unix:/tmp/s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Inet(a) => write!(f, "{a}"),
            PeerAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The local address of a connected socket (getsockname), as nginx's
/// ngx_connection_local_sockaddr() finds it for `$server_addr`.
pub fn local_addr(fd: std::os::fd::RawFd) -> Option<SocketAddr> {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into storage.
    let rc = unsafe {
        libc::getsockname(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    from_sockaddr(&storage)
}

/// A `sockaddr_storage` as a [`SocketAddr`] (IPv4 and IPv6 only).
pub fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: &libc::sockaddr_in =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::new(ip.into(), u16::from_be(sin6.sin6_port)))
        }
        _ => None,
    }
}

/// A unix-domain socket path as a `sockaddr_un` and its length.
pub fn sockaddr_un(
    path: &std::path::Path,
) -> std::io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: sockaddr_un is plain old data; all-zero is a valid value.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= sun.sun_path.len() || bytes.contains(&0) {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((sun, len as libc::socklen_t))
}

/// A socket address as a `sockaddr_storage` and its length.
pub fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// What the kernel keeps about a TCP connection (`TCP_INFO`), read only
/// when asked (the connection inspector): holdfast keeps no byte counters
/// or activity times of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFigures {
    /// Milliseconds since data last went either way.
    pub idle_ms: u64,
    /// Bytes received (`tcpi_bytes_received`).
    pub bytes_in: u64,
    /// Bytes sent and acknowledged by the peer (`tcpi_bytes_acked`).
    pub bytes_out: u64,
}

/// `getsockopt(TCP_INFO)` on `fd`: None for a socket that is not TCP (a
/// unix-domain one) or a kernel too old to fill the byte counters.
pub fn tcp_figures(fd: std::os::fd::RawFd) -> Option<TcpFigures> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `info`, which
    // lives across the call, and sets `len` to what it wrote.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    let filled =
        std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + std::mem::size_of::<u64>();
    if rc != 0 || (len as usize) < filled {
        return None;
    }
    Some(TcpFigures {
        idle_ms: u64::from(info.tcpi_last_data_recv.min(info.tcpi_last_data_sent)),
        bytes_in: info.tcpi_bytes_received,
        bytes_out: info.tcpi_bytes_acked,
    })
}
