//! TLS on a peer connection (holdfast as the client): nginx's
//! `ngx_ssl_create_connection` with `NGX_SSL_CLIENT`, `ngx_ssl_handshake`,
//! `ngx_ssl_recv`, `ngx_ssl_send_chain` and `ngx_ssl_shutdown`
//! (event/ngx_event_openssl.c), on a rustls client session.
//!
//! A [`TlsClientStream`] is one of the [`Stream`](crate::os::socket::Stream)
//! kinds, so the upstream code reads and writes it through the same
//! [`Transport`] calls as a plain socket, with the rules of the server
//! side's `TlsStream`:
//! - a read returns less than asked only when the socket said EAGAIN (it
//!   reads records until the buffer is full or the socket is drained), so
//!   a short read means drained;
//! - a write turns plaintext into records and sends them until everything
//!   is taken or the socket is full; records left over make
//!   [`Transport::wants_write`] true and [`Transport::flush`] sends them;
//! - a file is read and written as records (sendfile cannot encrypt);
//! - close sends close_notify.
//!
//! Where holdfast differs: nginx creates the session once the connect
//! succeeded; holdfast creates it with the socket (nothing is sent before
//! the connect is done and [`TlsClientStream::handshake`] runs).

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::os::io::Transport;

/// What a handshake step left to wait for (ngx_ssl_handshake's NGX_OK or
/// NGX_AGAIN with SSL_ERROR_WANT_READ / SSL_ERROR_WANT_WRITE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The session is up (SSL_do_handshake returned 1).
    Done,
    /// The peer's next records are awaited (SSL_ERROR_WANT_READ, 2).
    WantRead,
    /// The socket is full (SSL_ERROR_WANT_WRITE, 3).
    WantWrite,
}

/// Why a handshake failed, as nginx words it.
#[derive(Debug)]
pub enum HandshakeError {
    /// The peer closed before the session was up (nginx's "peer closed
    /// connection in SSL handshake").
    PeerClosed,
    /// The socket failed (SSL_ERROR_SYSCALL).
    Io(io::Error),
    /// The TLS exchange failed (a bad record, a refused certificate, an
    /// alert from the peer).
    Tls(rustls::Error),
}

/// A TLS client session over a connected socket.
pub struct TlsClientStream {
    /// The socket.
    pub sock: crate::os::socket::Stream,
    /// The rustls session.
    pub tls: rustls::ClientConnection,
}

impl std::fmt::Debug for TlsClientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClientStream")
            .field("sock", &self.sock)
            .field("handshaking", &self.tls.is_handshaking())
            .finish()
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A file sent over TLS is read and encrypted this much at a time
/// (nginx's `ssl_buffer_size` default).
const FILE_CHUNK: usize = crate::conf::http_ssl::SSL_BUFFER_SIZE;

impl TlsClientStream {
    /// Mirrors ngx_ssl_create_connection() with NGX_SSL_CLIENT: a client
    /// session for `sock` that will ask for `name` (sent as SNI when the
    /// configuration enables it, checked against the certificate when it
    /// verifies).
    pub fn new(
        sock: crate::os::socket::Stream,
        config: Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<TlsClientStream> {
        let tls = rustls::ClientConnection::new(config, name).map_err(tls_error)?;
        Ok(TlsClientStream { sock, tls })
    }

    /// Sends queued records until none are left or the socket is full.
    fn write_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Records out; a full socket is not an error here.
    fn write_records_quiet(&mut self) -> io::Result<()> {
        match self.write_records() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Mirrors ngx_ssl_handshake() for a client session: sends what the
    /// session has queued (the ClientHello first), reads the peer's records
    /// and processes them, until the session is up or the socket makes it
    /// wait.
    pub fn handshake(&mut self) -> Result<Handshake, HandshakeError> {
        loop {
            match self.write_records() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Handshake::WantWrite);
                }
                Err(e) => return Err(HandshakeError::Io(e)),
            }
            if !self.tls.is_handshaking() {
                return Ok(Handshake::Done);
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => return Err(HandshakeError::PeerClosed),
                Ok(_) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        // The alert rustls queued goes out before the close.
                        let _ = self.write_records_quiet();
                        return Err(HandshakeError::Tls(e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Handshake::WantRead);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(HandshakeError::Io(e)),
            }
        }
    }

    /// The session was resumed (an abbreviated handshake).
    pub fn reused(&self) -> bool {
        self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }
}

impl Transport for TlsClientStream {
    /// Mirrors ngx_ssl_recv(): plaintext into `buf`, records read until it
    /// is full or the socket is drained (a short return means EAGAIN was
    /// seen). The peer's close_notify or the socket's end is 0.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        loop {
            match self.tls.reader().read(&mut buf[got..]) {
                Ok(0) if got == 0 && !buf.is_empty() => return Ok(0),
                Ok(n) => {
                    got += n;
                    if got == buf.len() {
                        return Ok(got);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if got > 0 => {
                    log::debug!("SSL_read: {e}");
                    return Ok(got);
                }
                // The socket ended without close_notify: an end all the
                // same, as the server side and nginx take it.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => return Ok(got),
                Ok(_) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        let _ = self.write_records_quiet();
                        return Err(tls_error(e));
                    }
                    // A key update or an alert answers at once.
                    self.write_records_quiet()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if got > 0 { Ok(got) } else { Err(e) };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Mirrors ngx_ssl_send_chain() for memory: plaintext becomes records
    /// and the records go out until everything is taken or the socket is
    /// full (a short return means full; records left over make
    /// `wants_write` true).
    fn writev(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.tls.is_handshaking() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "SSL handshake is not finished",
            ));
        }
        // Records an earlier call left go first.
        self.write_records()?;
        let mut taken = 0;
        'bufs: for b in bufs {
            let mut at = 0;
            while at < b.len() {
                let n = self.tls.writer().write(&b[at..])?;
                at += n;
                taken += n;
                self.write_records_quiet()?;
                if self.tls.wants_write() || n == 0 {
                    break 'bufs;
                }
            }
        }
        if taken == 0 && self.tls.wants_write() {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        Ok(taken)
    }

    /// A file over TLS: read `ssl_buffer_size` at a time and written as
    /// records, until `len` is taken or the socket is full.
    fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        let mut chunk = vec![0u8; len.min(FILE_CHUNK)];
        let mut done = 0;
        while done < len {
            let want = (len - done).min(FILE_CHUNK);
            let n = file.read_at(&mut chunk[..want], offset + done as u64)?;
            if n == 0 {
                break;
            }
            match self.writev(&[IoSlice::new(&chunk[..n])]) {
                Ok(k) => {
                    done += k;
                    if k < n || self.tls.wants_write() {
                        break;
                    }
                }
                Err(e) if done > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            }
        }
        Ok(done)
    }

    fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    fn flush(&mut self) -> io::Result<bool> {
        self.write_records()?;
        Ok(!self.tls.wants_write())
    }

    /// Mirrors ngx_ssl_shutdown(): close_notify as far as the socket
    /// takes it (none before the session is up).
    fn ssl_shutdown(&mut self) {
        if !self.tls.is_handshaking() {
            self.tls.send_close_notify();
            let _ = self.write_records_quiet();
        }
    }

    fn set_nodelay(&mut self) -> io::Result<()> {
        self.sock.set_nodelay()
    }

    fn set_cork(&mut self, on: bool) -> io::Result<()> {
        self.sock.set_cork(on)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.ssl_shutdown();
        self.sock.shutdown_write()
    }

    fn set_linger_zero(&mut self) -> io::Result<()> {
        self.sock.set_linger_zero()
    }

    fn fd(&self) -> i32 {
        self.sock.fd()
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
}
