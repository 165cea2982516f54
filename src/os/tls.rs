//! TLS on a client connection: nginx's `ngx_ssl_recv`, `ngx_ssl_write` /
//! `ngx_ssl_send_chain` and `ngx_ssl_shutdown` (event/ngx_event_openssl.c),
//! on rustls.
//!
//! A [`TlsStream`] is a socket and a rustls server session; it is one of the
//! [`Stream`](crate::os::socket::Stream) kinds, so the HTTP code reads and
//! writes it through the same [`Transport`] calls as a plain socket. The
//! transport keeps the socket rules the HTTP code relies on:
//! - a read that returns less than asked saw the socket drained (it reads
//!   records until the buffer is full or the socket says EAGAIN), so the
//!   plain short-read rule of [`Transport::recv`] holds;
//! - a write takes plaintext into TLS records and sends what the socket
//!   takes; records left over make [`Transport::wants_write`] true, which
//!   the write filter treats as a full socket;
//! - a file is read into a scratch buffer and written as records (sendfile
//!   cannot encrypt).
//!
//! The handshake happens inside the first reads, as OpenSSL's does inside
//! SSL_read when nginx's handshake handler has not run it first (holdfast
//! has no separate handshake handler yet).

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::os::io::Transport;

// A file sent over TLS is read and encrypted SSL_BUFFER_SIZE (nginx's
// `ssl_buffer_size` default) at a time.
use crate::conf::http_ssl::SSL_BUFFER_SIZE;

thread_local! {
    /// The file data being encrypted (one buffer for every connection).
    static FILE_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A TLS server session over a socket.
pub struct TlsStream {
    /// The socket.
    pub sock: crate::os::socket::Stream,
    /// The rustls session.
    pub tls: rustls::ServerConnection,
    /// The first bytes were looked at (ngx_http_ssl_handshake's peek).
    peeked: bool,
    /// They were not a TLS record: a plain HTTP client on an `ssl` port.
    /// Bytes then pass through untouched, and the request is answered
    /// nginx's 400 "The plain HTTP request was sent to HTTPS port" (497).
    pub plain: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("handshaking", &self.tls.is_handshaking())
            .finish()
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Mirrors ngx_ssl_create_connection(): a server session for `sock`.
    pub fn new(
        sock: crate::os::socket::Stream,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<TlsStream> {
        let tls = rustls::ServerConnection::new(config).map_err(tls_error)?;
        Ok(TlsStream {
            sock,
            tls,
            peeked: false,
            plain: false,
        })
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

    /// Records out, a full socket is not an error here.
    fn write_records_quiet(&mut self) -> io::Result<()> {
        match self.write_records() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// `$ssl_cipher`: the suite as OpenSSL (and so nginx) names it.
    pub fn cipher(&self) -> Option<&'static str> {
        use rustls::CipherSuite as C;
        Some(match self.tls.negotiated_cipher_suite()?.suite() {
            C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
            C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
            C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
            C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
            C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
            C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
            C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
            C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
            _ => "UNKNOWN",
        })
    }

    /// `$ssl_session_reused`: the handshake resumed a session.
    pub fn reused(&self) -> bool {
        self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// `$ssl_server_name`: the name the client asked for (SNI).
    pub fn server_name(&self) -> Option<&str> {
        self.tls.server_name()
    }

    /// The negotiated protocol as nginx names it (`TLSv1.3`), once known.
    pub fn protocol(&self) -> Option<&'static str> {
        match self.tls.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            _ => None,
        }
    }
}

impl Read for crate::os::socket::Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Transport::read(self, buf)
    }
}

impl Write for crate::os::socket::Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writev(&[IoSlice::new(buf)])
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TlsStream {
    /// Mirrors ngx_ssl_recv(): plaintext into `buf`, reading records until
    /// it is full or the socket is drained (a short return means EAGAIN was
    /// seen). The peer's close_notify or the socket's end is 0.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.peeked {
            // ngx_http_ssl_handshake: one byte peeked; a TLS handshake
            // record starts with 0x16 (0x80: an SSLv2-style hello).
            let mut b = [0u8; 1];
            // SAFETY: recv(2) writes at most 1 byte into `b`, which lives
            // across the call; the descriptor is the stream's own.
            let n = unsafe { libc::recv(self.sock.fd(), b.as_mut_ptr().cast(), 1, libc::MSG_PEEK) };
            match n {
                1 => {
                    self.peeked = true;
                    if b[0] != 0x16 && b[0] != 0x80 {
                        log::debug!("plain http");
                        self.plain = true;
                    }
                }
                0 => return Ok(0),
                _ => return Err(io::Error::last_os_error()),
            }
        }
        if self.plain {
            return Transport::read(&mut self.sock, buf);
        }
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
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => return Ok(got),
                Ok(_) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        // The alert rustls queued goes out before the close.
                        let _ = self.write_records_quiet();
                        return Err(tls_error(e));
                    }
                    // Handshake records (or a key update) answer at once.
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
    /// and the records go out, round after round (rustls takes a bounded
    /// amount of plaintext at a time) until everything is taken or the
    /// socket is full. So a short return means the socket is full, the
    /// rule the write filter relies on; records left over make
    /// `wants_write` true.
    fn writev(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.plain {
            return self.sock.writev(bufs);
        }
        if self.tls.is_handshaking() {
            // A response before the session is up (nothing was read):
            // there is no one to send it to.
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "SSL handshake is not finished",
            ));
        }
        let mut taken = 0;
        'bufs: for b in bufs {
            let mut at = 0;
            while at < b.len() {
                let n = self.tls.writer().write(&b[at..])?;
                at += n;
                taken += n;
                self.write_records_quiet()?;
                if self.tls.wants_write() {
                    // The socket is full.
                    break 'bufs;
                }
                if n == 0 {
                    break 'bufs;
                }
            }
        }
        if taken == 0 && self.tls.wants_write() {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        Ok(taken)
    }

    /// A file over TLS: read (into one shared scratch buffer,
    /// `ssl_buffer_size` at a time) and written as records, until `len` is
    /// taken or the socket is full (the same short-means-full rule).
    fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        if self.plain {
            return self.sock.sendfile(file, offset, len);
        }
        FILE_SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SSL_BUFFER_SIZE {
                s.resize(SSL_BUFFER_SIZE, 0);
            }
            let mut done = 0;
            while done < len {
                let want = (len - done).min(SSL_BUFFER_SIZE);
                let n = file.read_at(&mut s[..want], offset + done as u64)?;
                if n == 0 {
                    break;
                }
                match self.writev(&[IoSlice::new(&s[..n])]) {
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
        })
    }

    fn wants_write(&self) -> bool {
        !self.plain && self.tls.wants_write()
    }

    fn ssl_shutdown(&mut self) {
        if !self.plain && !self.tls.is_handshaking() {
            self.tls.send_close_notify();
            let _ = self.write_records_quiet();
        }
    }

    fn flush(&mut self) -> io::Result<bool> {
        if self.plain {
            return Ok(true);
        }
        self.write_records()?;
        Ok(!self.tls.wants_write())
    }

    fn free_buffers(&mut self) {
        // rustls gives back the buffers of records it sent and read; what a
        // session keeps while idle is measured in docs (issue 13).
    }

    fn set_nodelay(&mut self) -> io::Result<()> {
        self.sock.set_nodelay()
    }

    fn set_cork(&mut self, on: bool) -> io::Result<()> {
        self.sock.set_cork(on)
    }

    /// Mirrors ngx_ssl_shutdown(): close_notify, then the socket's write side.
    fn shutdown_write(&mut self) -> io::Result<()> {
        if !self.plain {
            self.tls.send_close_notify();
            let _ = self.write_records_quiet();
        }
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

/// The client's certificate (rustls `CommonState` calls only).
impl TlsStream {
    /// The certificate chain the client sent (its own first), if any
    /// (nginx's SSL_get_peer_certificate / SSL_get_peer_cert_chain).
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.tls.peer_certificates()
    }
}
