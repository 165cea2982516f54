//! The transport a connection reads and writes through: nginx's `ngx_os_io_t`
//! (`c->recv`, `c->send_chain`) from `os/unix/ngx_recv.c`, `ngx_writev_chain.c`
//! and `ngx_linux_sendfile_chain.c`.
//!
//! The HTTP state machine never touches a socket directly: it calls these
//! methods, so tests and fuzz targets can drive whole connections with
//! [`MemStream`], an in-memory byte stream that can be split anywhere and can
//! accept writes a few bytes at a time.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsRawFd;

/// An OS error printed as nginx prints errno: `24: Too many open files`.
#[derive(Debug)]
pub struct OsErr<'a>(pub &'a io::Error);

impl std::fmt::Display for OsErr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.to_string();
        match self.0.raw_os_error() {
            Some(code) => {
                let suffix = format!(" (os error {code})");
                write!(f, "{code}: {}", text.strip_suffix(&suffix).unwrap_or(&text))
            }
            None => f.write_str(&text),
        }
    }
}

/// What a read returned, as nginx's `c->recv` does: `n`, `NGX_AGAIN`, `0`, `NGX_ERROR`.
#[derive(Debug)]
pub enum Recv {
    /// `n > 0` bytes were read.
    Data(usize),
    /// Nothing to read now (EAGAIN).
    Again,
    /// The peer closed its side (read returned 0).
    Eof,
    /// A hard error (ECONNRESET, ...).
    Error(io::Error),
}

/// The byte stream under a connection.
pub trait Transport {
    /// Reads into `buf` (`recv(2)`).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Mirrors ngx_unix_recv() (`c->recv`): one read into `buf`, keeping the
    /// read event's `ready` and `eof`. The readiness rule belongs to the
    /// transport: for a socket, a short read means it is drained (with
    /// EPOLLET a new edge comes with new data), unless EPOLLRDHUP said EOF
    /// is pending. A transport that buffers (TLS) keeps `ready` while it
    /// still holds input.
    fn recv(
        &mut self,
        buf: &mut [u8],
        ready: &mut bool,
        eof: &mut bool,
        pending_eof: bool,
    ) -> Recv {
        loop {
            match self.read(buf) {
                Ok(0) => {
                    *ready = false;
                    *eof = true;
                    return Recv::Eof;
                }
                Ok(n) => {
                    if n < buf.len() && !pending_eof && !self.holds_input() {
                        *ready = false;
                    }
                    return Recv::Data(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *ready = false;
                    return Recv::Again;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    *ready = false;
                    return Recv::Error(e);
                }
            }
        }
    }

    /// Input the transport holds that the socket will not announce again
    /// (a TLS record read and not opened yet): a short read then does not
    /// mean the socket is drained. A socket holds none.
    fn holds_input(&self) -> bool {
        false
    }

    /// Output the transport holds beyond what the caller handed it (TLS
    /// records not on the socket yet): the connection is not done writing,
    /// and the socket is full. A socket holds nothing: always false.
    fn wants_write(&self) -> bool {
        false
    }

    /// Sends what the transport holds (see [`Transport::wants_write`]);
    /// Ok(true) once it holds nothing.
    fn flush(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    /// Mirrors ngx_ssl_shutdown() before a close: a TLS transport sends
    /// close_notify (as far as the socket takes it). A socket has nothing
    /// to say.
    fn ssl_shutdown(&mut self) {}

    /// A plain HTTP client on a `listen … ssl` port (nginx's
    /// `c->ssl == NULL` on an ssl address).
    fn plain_on_ssl_port(&self) -> bool {
        false
    }

    /// The TLS session, when the connection has one (`c->ssl`).
    fn ssl(&self) -> Option<&crate::os::tls::TlsStream> {
        None
    }

    /// The TLS session to drive, whether or not the handshake started (the
    /// handshake handlers' `c->ssl`).
    fn ssl_conn(&mut self) -> Option<&mut crate::os::tls::TlsStream> {
        None
    }

    /// The connection goes idle (ngx_http_set_keepalive's
    /// ngx_ssl_free_buffer): a transport gives back the memory it needs only
    /// while working. A socket has none.
    fn free_buffers(&mut self) {}
    /// Writes a gather list (`writev(2)`).
    fn writev(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Sends `len` bytes of `file` from `offset` (`sendfile(2)`).
    fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize>;
    /// Sets TCP_NODELAY.
    fn set_nodelay(&mut self) -> io::Result<()>;
    /// Sets or clears TCP_CORK (nginx's ngx_tcp_nopush / ngx_tcp_push);
    /// clearing it sends what it held back.
    fn set_cork(&mut self, on: bool) -> io::Result<()>;
    /// Shuts the write side down (`shutdown(SHUT_WR)`), for lingering close.
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Sets SO_LINGER {on, 0}, so closing sends an RST
    /// (reset_timedout_connection).
    fn set_linger_zero(&mut self) -> io::Result<()>;
    /// The descriptor number, for log lines (`fd:8`).
    fn fd(&self) -> i32;

    /// Mirrors the socket/connect part of ngx_event_connect_peer(): a
    /// non-blocking TCP or unix-domain connect to `addr` (EINPROGRESS is
    /// success: the socket becomes writable when it is done). Transports
    /// that cannot connect (the in-memory test streams) say Unsupported.
    fn connect_peer(addr: &crate::os::net::PeerAddr) -> io::Result<Self>
    where
        Self: Sized,
    {
        let _ = addr;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// Mirrors ngx_ssl_create_connection() with NGX_SSL_CLIENT: the socket
    /// of a peer connection becomes a TLS client session asking for
    /// `name` (`proxy_pass https://…`). Transports without TLS say
    /// Unsupported.
    fn ssl_client(
        self,
        config: std::sync::Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<Self>
    where
        Self: Sized,
    {
        let _ = (config, name);
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// Mirrors ngx_ssl_handshake() on a client session: one step of it.
    /// A transport without a client session has nothing to do.
    fn ssl_handshake(
        &mut self,
    ) -> Result<crate::os::tls_client::Handshake, crate::os::tls_client::HandshakeError> {
        Ok(crate::os::tls_client::Handshake::Done)
    }

    /// The client session's handshake resumed a session
    /// (`proxy_ssl_session_reuse`).
    fn ssl_client_reused(&self) -> bool {
        false
    }

    /// Registers the socket with the event loop (ngx_add_conn), both
    /// directions, edge-triggered.
    fn add_conn(&mut self, registry: &mio::Registry, token: usize) -> io::Result<()> {
        let _ = (registry, token);
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// The socket's pending error (`SO_ERROR`): how a non-blocking connect
    /// ended.
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(None)
    }
}

impl Transport for mio::net::TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(self, buf)
    }

    fn writev(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if bufs.len() == 1 {
            Write::write(self, &bufs[0])
        } else {
            Write::write_vectored(self, bufs)
        }
    }

    fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        sendfile(self.as_raw_fd(), file, offset, len)
    }

    fn set_nodelay(&mut self) -> io::Result<()> {
        mio::net::TcpStream::set_nodelay(self, true)
    }

    fn set_cork(&mut self, on: bool) -> io::Result<()> {
        set_int_opt(
            self.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            on.into(),
        )
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        mio::net::TcpStream::shutdown(self, std::net::Shutdown::Write)
    }

    fn set_linger_zero(&mut self) -> io::Result<()> {
        set_linger_zero(self.as_raw_fd())
    }

    fn fd(&self) -> i32 {
        self.as_raw_fd()
    }
}

/// setsockopt(2) with an `int` value.
pub fn set_int_opt(
    fd: i32,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the caller's descriptor is open; the option value is a valid
    // int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// SO_LINGER {on, 0}: closing the socket sends an RST.
pub fn set_linger_zero(fd: i32) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the caller's descriptor is open; the option value is a valid
    // linger struct.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `sendfile(2)` from `file` at `offset` to the socket `fd`.
pub fn sendfile(fd: i32, file: &File, offset: u64, len: usize) -> io::Result<usize> {
    let mut off =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both descriptors are open for the duration of the call and `off`
    // is a valid, exclusively borrowed off_t.
    let n = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut off, len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// An in-memory transport for unit tests and fuzzing: reads are served from a
/// queue of chunks (one chunk per read call, so a test decides exactly where
/// the stream is split), writes are appended to `output`, at most
/// `write_limit` bytes per call.
#[derive(Debug, Default)]
pub struct MemStream {
    /// Chunks still to be read; each read returns at most one chunk.
    pub input: VecDeque<Vec<u8>>,
    /// After `input` is empty: `true` reads return EOF, `false` EAGAIN.
    pub eof: bool,
    /// Everything written so far.
    pub output: Vec<u8>,
    /// Bytes accepted per write call (0 = unlimited).
    pub write_limit: usize,
    /// Write calls left before writes return EAGAIN (None = never block).
    pub write_budget: Option<usize>,
    /// Set by `shutdown_write`.
    pub write_shut: bool,
    /// Set by `set_linger_zero`.
    pub reset: bool,
    /// TCP_CORK as last set by `set_cork`.
    pub corked: bool,
    /// Number of read calls made.
    pub reads: usize,
    /// Number of write calls made (writev + sendfile).
    pub writes: usize,
}

impl MemStream {
    /// A stream that will deliver `chunks`, one per read.
    pub fn new(chunks: Vec<Vec<u8>>) -> Self {
        MemStream {
            input: chunks.into(),
            ..Default::default()
        }
    }

    fn accept_write(&mut self) -> io::Result<usize> {
        self.writes += 1;
        if self.write_shut {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        match self.write_budget.as_mut() {
            Some(0) => Err(io::Error::from(io::ErrorKind::WouldBlock)),
            Some(n) => {
                *n -= 1;
                Ok(if self.write_limit == 0 {
                    usize::MAX
                } else {
                    self.write_limit
                })
            }
            None => Ok(if self.write_limit == 0 {
                usize::MAX
            } else {
                self.write_limit
            }),
        }
    }
}

impl Transport for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        let Some(chunk) = self.input.front_mut() else {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::Error::from(io::ErrorKind::WouldBlock))
            };
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.input.pop_front();
        }
        Ok(n)
    }

    fn writev(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut room = self.accept_write()?;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(room);
            self.output.extend_from_slice(&b[..take]);
            n += take;
            room -= take;
            if room == 0 {
                break;
            }
        }
        Ok(n)
    }

    fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let room = self.accept_write()?;
        let mut tmp = vec![0; len.min(room).min(1 << 20)];
        let n = file.read_at(&mut tmp, offset)?;
        self.output.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn set_nodelay(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn set_cork(&mut self, on: bool) -> io::Result<()> {
        self.corked = on;
        Ok(())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.write_shut = true;
        Ok(())
    }

    fn set_linger_zero(&mut self) -> io::Result<()> {
        self.reset = true;
        Ok(())
    }

    fn fd(&self) -> i32 {
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_stream_reads_one_chunk_per_call_then_again_or_eof() {
        let mut s = MemStream::new(vec![b"ab".to_vec(), b"c".to_vec()]);
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).unwrap(), 2);
        assert_eq!(s.read(&mut buf).unwrap(), 1);
        assert_eq!(
            s.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        s.eof = true;
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn os_errors_print_like_nginx() {
        let e = io::Error::from_raw_os_error(24);
        assert_eq!(OsErr(&e).to_string(), "24: Too many open files");
        let e = io::Error::other("plain");
        assert_eq!(OsErr(&e).to_string(), "plain");
    }

    #[test]
    fn mem_stream_limits_writes() {
        let mut s = MemStream {
            write_limit: 3,
            write_budget: Some(1),
            ..Default::default()
        };
        let n = s
            .writev(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(s.output, b"abc");
        assert_eq!(
            s.writev(&[IoSlice::new(b"d")]).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }
}
