//! Listening and connected sockets of both kinds holdfast serves on: TCP
//! (IPv4, IPv6) and unix-domain streams (nginx's `os/unix/ngx_socket.c`,
//! and the `c->recv` / `c->send_chain` of a plain socket in `ngx_recv.c`,
//! `ngx_writev_chain.c`, `ngx_linux_sendfile_chain.c`).
//!
//! Both are stream sockets driven through the same calls; the differences
//! are the TCP options (TCP_NODELAY, TCP_CORK mean nothing on a unix
//! socket, as nginx marks such a connection `NGX_TCP_NODELAY_DISABLED`)
//! and the peer's address (nginx's `$remote_addr` is `unix:`).

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use mio::event::Source;
use mio::{Interest, Registry, Token};

use crate::conf::ListenAddr;
use crate::os::io::Transport;

/// A listening socket as opened (std types, so a master can hand it to the
/// workers it forks).
#[derive(Debug)]
pub enum StdListener {
    /// TCP.
    Tcp(std::net::TcpListener),
    /// Unix domain.
    Unix(std::os::unix::net::UnixListener),
}

impl StdListener {
    /// A second descriptor for the same socket (dup).
    pub fn try_clone(&self) -> io::Result<StdListener> {
        Ok(match self {
            StdListener::Tcp(l) => StdListener::Tcp(l.try_clone()?),
            StdListener::Unix(l) => StdListener::Unix(l.try_clone()?),
        })
    }

    /// The bound address (with the real port for `:0`).
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            StdListener::Tcp(l) => l.local_addr().map(ListenAddr::Inet),
            StdListener::Unix(l) => {
                let a = l.local_addr()?;
                Ok(ListenAddr::Unix(
                    a.as_pathname().map(|p| p.to_path_buf()).unwrap_or_default(),
                ))
            }
        }
    }
}

/// A registered listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(mio::net::TcpListener),
    /// Unix domain.
    Unix(mio::net::UnixListener),
}

/// Who is on the other end of an accepted connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address (`0.0.0.0:0` for a unix-domain peer).
    pub addr: SocketAddr,
    /// A unix-domain peer (`$remote_addr` is `unix:`).
    pub unix: bool,
}

impl Listener {
    /// Takes over an opened socket (it must be non-blocking).
    pub fn from_std(l: StdListener) -> Listener {
        match l {
            StdListener::Tcp(l) => Listener::Tcp(mio::net::TcpListener::from_std(l)),
            StdListener::Unix(l) => Listener::Unix(mio::net::UnixListener::from_std(l)),
        }
    }

    /// accept4(2), non-blocking and close-on-exec.
    pub fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(l) => l
                .accept()
                .map(|(s, addr)| (Stream::Tcp(s), Peer { addr, unix: false })),
            Listener::Unix(l) => l.accept().map(|(s, _)| {
                (
                    Stream::Unix(s),
                    Peer {
                        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                        unix: true,
                    },
                )
            }),
        }
    }
}

impl Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(r, t, i),
            Listener::Unix(l) => l.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(r, t, i),
            Listener::Unix(l) => l.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(r),
            Listener::Unix(l) => l.deregister(r),
        }
    }
}

/// A connected client socket.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(mio::net::TcpStream),
    /// Unix domain.
    Unix(mio::net::UnixStream),
    /// TLS over one of the above (`listen … ssl`).
    Tls(Box<crate::os::tls::TlsStream>),
    /// TLS to a peer (`proxy_pass https://…`): holdfast is the client.
    TlsClient(Box<crate::os::tls_client::TlsClientStream>),
}

impl Stream {
    /// A connected unix-domain socket (non-blocking already), for drivers
    /// that make their own socket pairs (the TLS fuzz target).
    pub fn from_std_unix(s: std::os::unix::net::UnixStream) -> Stream {
        Stream::Unix(mio::net::UnixStream::from_std(s))
    }

    fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(t) => t.sock.raw_fd(),
            Stream::TlsClient(t) => t.sock.raw_fd(),
        }
    }

    /// The TLS session, for a connection on an `ssl` listener.
    pub fn tls(&self) -> Option<&crate::os::tls::TlsStream> {
        match self {
            Stream::Tls(t) if !t.plain => Some(t),
            _ => None,
        }
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            Stream::Tls(s) => s.sock.register(r, t, i),
            Stream::TlsClient(s) => s.sock.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            Stream::Tls(s) => s.sock.reregister(r, t, i),
            Stream::TlsClient(s) => s.sock.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            Stream::Tls(s) => s.sock.deregister(r),
            Stream::TlsClient(s) => s.sock.deregister(r),
        }
    }
}

impl Transport for Stream {
    fn connect_peer(addr: &crate::os::net::PeerAddr) -> io::Result<Self> {
        match addr {
            crate::os::net::PeerAddr::Inet(a) => mio::net::TcpStream::connect(*a).map(Stream::Tcp),
            crate::os::net::PeerAddr::Unix(p) => mio::net::UnixStream::connect(p).map(Stream::Unix),
        }
    }

    fn ssl_client(
        self,
        config: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<Self> {
        crate::os::tls_client::TlsClientStream::new(self, config, name)
            .map(|t| Stream::TlsClient(Box::new(t)))
    }

    fn ssl_handshake(
        &mut self,
    ) -> Result<crate::os::tls_client::Handshake, crate::os::tls_client::HandshakeError> {
        match self {
            Stream::TlsClient(s) => s.handshake(),
            _ => Ok(crate::os::tls_client::Handshake::Done),
        }
    }

    fn ssl_client_reused(&self) -> bool {
        matches!(self, Stream::TlsClient(s) if s.reused())
    }

    fn add_conn(&mut self, registry: &Registry, token: usize) -> io::Result<()> {
        registry.register(
            self,
            Token(token),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
            Stream::Tls(s) => s.take_error(),
            Stream::TlsClient(s) => s.take_error(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => Read::read(s, buf),
            Stream::Unix(s) => Read::read(s, buf),
            Stream::Tls(s) => s.read(buf),
            Stream::TlsClient(s) => s.read(buf),
        }
    }

    fn writev(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match (self, bufs) {
            (Stream::Tcp(s), [one]) => Write::write(s, one),
            (Stream::Tcp(s), _) => Write::write_vectored(s, bufs),
            (Stream::Unix(s), [one]) => Write::write(s, one),
            (Stream::Unix(s), _) => Write::write_vectored(s, bufs),
            (Stream::Tls(s), _) => s.writev(bufs),
            (Stream::TlsClient(s), _) => s.writev(bufs),
        }
    }

    fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        match self {
            Stream::Tls(s) => s.sendfile(file, offset, len),
            Stream::TlsClient(s) => s.sendfile(file, offset, len),
            _ => crate::os::io::sendfile(self.raw_fd(), file, offset, len),
        }
    }

    fn holds_input(&self) -> bool {
        match self {
            Stream::Tls(s) => s.has_pending_input(),
            _ => false,
        }
    }

    fn wants_write(&self) -> bool {
        match self {
            Stream::Tls(s) => s.wants_write(),
            Stream::TlsClient(s) => s.wants_write(),
            _ => false,
        }
    }

    fn flush(&mut self) -> io::Result<bool> {
        match self {
            Stream::Tls(s) => s.flush(),
            Stream::TlsClient(s) => s.flush(),
            _ => Ok(true),
        }
    }

    fn free_buffers(&mut self) {
        if let Stream::Tls(s) = self {
            s.free_buffers();
        }
    }

    fn ssl(&self) -> Option<&crate::os::tls::TlsStream> {
        self.tls()
    }

    fn ssl_conn(&mut self) -> Option<&mut crate::os::tls::TlsStream> {
        match self {
            Stream::Tls(s) => Some(s),
            _ => None,
        }
    }

    fn ssl_shutdown(&mut self) {
        if let Stream::Tls(s) = self {
            s.ssl_shutdown();
        }
        if let Stream::TlsClient(s) = self {
            s.ssl_shutdown();
        }
    }

    fn plain_on_ssl_port(&self) -> bool {
        matches!(self, Stream::Tls(t) if t.plain)
    }

    fn set_nodelay(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => mio::net::TcpStream::set_nodelay(s, true),
            Stream::Unix(_) => Err(io::Error::from(io::ErrorKind::Unsupported)),
            Stream::Tls(s) => s.set_nodelay(),
            Stream::TlsClient(s) => s.set_nodelay(),
        }
    }

    fn set_cork(&mut self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(_) => crate::os::io::set_int_opt(
                self.raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                on.into(),
            ),
            Stream::Unix(_) => Err(io::Error::from(io::ErrorKind::Unsupported)),
            Stream::Tls(s) => s.set_cork(on),
            Stream::TlsClient(s) => s.set_cork(on),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tls(s) => s.shutdown_write(),
            Stream::TlsClient(s) => s.shutdown_write(),
        }
    }

    fn set_linger_zero(&mut self) -> io::Result<()> {
        crate::os::io::set_linger_zero(self.raw_fd())
    }

    fn fd(&self) -> i32 {
        self.raw_fd()
    }
}

/// std's Read over the transport's read (rustls's buffered client reads
/// records with it).
impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Transport::read(self, buf)
    }
}

/// std's Write over the transport's write (rustls's buffered client sends
/// records with it).
impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writev(&[std::io::IoSlice::new(buf)])
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
