//! TLS on a client connection: nginx's `ngx_ssl_handshake`, `ngx_ssl_recv`,
//! `ngx_ssl_send_chain` and `ngx_ssl_shutdown` (event/ngx_event_openssl.c),
//! on rustls's unbuffered API.
//!
//! A [`TlsStream`] is a socket and a rustls server session; it is one of the
//! [`Stream`](crate::os::socket::Stream) kinds, so the HTTP code reads and
//! writes it through the same [`Transport`] calls as a plain socket. The
//! transport keeps the socket rules the HTTP code relies on:
//! - a read that returns less than asked saw the socket drained (records
//!   are read and opened until the buffer is full or the socket says
//!   EAGAIN), so the plain short-read rule of [`Transport::recv`] holds;
//! - a write seals plaintext into records and sends them, round after
//!   round, until everything is taken or the socket is full; records left
//!   over make [`Transport::wants_write`] true, which the write filter
//!   treats as a full socket;
//! - a file is read into a scratch buffer and sealed (sendfile cannot
//!   encrypt).
//!
//! The buffers are the stream's own (rustls's unbuffered API), as nginx's
//! are with OpenSSL's release-buffers mode: ciphertext in and out and
//! plaintext opened beyond what a read asked for live only while they hold
//! something, and [`Transport::free_buffers`] gives them back when the
//! connection goes idle (`ngx_ssl_free_buffer`). An idle session keeps only
//! rustls's state: its record keys and key schedule (docs/tls.md counts
//! the bytes).
//!
//! The handshake is driven by [`TlsStream::handshake`], called from the
//! HTTP handshake handlers (`http/ssl_module.rs`), as nginx's
//! ngx_http_ssl_handshake calls ngx_ssl_handshake.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};

use crate::os::io::Transport;
use crate::os::tls_buf::Bufs;
pub use crate::os::tls_hello::client_hello_server_name;

// Plaintext is sealed SSL_BUFFER_SIZE (nginx's `ssl_buffer_size` default)
// at a time.
use crate::conf::http_ssl::SSL_BUFFER_SIZE;

/// The largest TLS record on the wire (header, 16k of data, and the most a
/// TLS 1.2 record may add): the input buffer holds at least one.
pub(super) const TLS_RECORD_MAX: usize = 5 + 16 * 1024 + 2048;

/// The most ciphertext a handshake message may make the input buffer hold
/// (rustls's own limit for its buffered API: 64k of handshake data).
const TLS_HANDSHAKE_MAX: usize = 0xffff + TLS_RECORD_MAX;

thread_local! {
    /// Plaintext being sealed: file data, or small buffers gathered into
    /// one record (one buffer for every connection).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What [`TlsStream::handshake`] came to (ngx_ssl_handshake's NGX_OK /
/// NGX_AGAIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// The session is up.
    Done,
    /// Waiting for the client's records (SSL_ERROR_WANT_READ).
    WantRead,
    /// Waiting for the socket to take our records (SSL_ERROR_WANT_WRITE).
    WantWrite,
    /// Not done, but the client's TLS 1.3 early data is here to be read
    /// (ngx_ssl_try_early_data's NGX_OK with `in_early` set).
    EarlyData,
}

/// What ngx_http_ssl_handshake's one-byte peek saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek {
    /// A TLS record: the handshake starts.
    Tls(u8),
    /// Something else: a plain HTTP client on an `ssl` port.
    Plain,
    /// Nothing yet.
    Again,
    /// The client closed the connection.
    Eof,
}

/// What one pass of rustls's state machine came to.
enum Turn {
    /// Something was done (a message processed, records encoded,
    /// plaintext taken): go on.
    Again,
    /// rustls needs more records from the peer (the handshake waits for
    /// them).
    NeedInput,
    /// Every complete record was processed and the session may send
    /// application data (sealed now, if there was some to seal).
    Writable,
    /// The peer sent close_notify.
    PeerClosed,
}

/// Where opened plaintext goes: the caller's buffer, the rest kept.
struct Sink<'a> {
    buf: &'a mut [u8],
    got: usize,
}

/// A TLS server session over a socket.
pub struct TlsStream {
    /// The socket.
    pub sock: crate::os::socket::Stream,
    /// The rustls session (state machine only: the buffers are below).
    tls: UnbufferedServerConnection,
    /// The buffers, while they hold something (nginx's SSL buffers with
    /// SSL_MODE_RELEASE_BUFFERS): none on an idle connection.
    io: Option<Box<Bufs>>,
    /// The name the client asked for (SNI), read from its ClientHello.
    sni: Option<Box<str>>,
    /// The first bytes were looked at (ngx_http_ssl_handshake's peek).
    peeked: bool,
    /// They were not a TLS record: a plain HTTP client on an `ssl` port.
    /// Bytes then pass through untouched, and the request is answered
    /// nginx's 400 "The plain HTTP request was sent to HTTPS port" (497).
    pub plain: bool,
    /// The handshake is done (`c->ssl->handshaked`).
    pub handshaked: bool,
    /// The peer's close_notify was read: reads return 0 from now on.
    peer_closed: bool,
    /// close_notify was sealed.
    sent_close_notify: bool,
    /// The client sent 0-RTT data that was accepted.
    early: bool,
    /// The last read from the socket returned less than it had room for:
    /// with edge-triggered epoll the socket is drained, and another read
    /// would only say EAGAIN (reset when a read or handshake call starts).
    drained: bool,
    /// rustls failed (a bad record, a failed handshake): it must not be
    /// given the same input again; the alert it queued is all it sends.
    failed: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("handshaked", &self.handshaked)
            .field("buffers", &self.io.is_some())
            .finish()
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Sink<'_> {
    /// Copies what fits into the caller's buffer; the rest is kept.
    fn put(&mut self, data: &[u8], rest: &mut Vec<u8>) {
        let n = data.len().min(self.buf.len() - self.got);
        self.buf[self.got..self.got + n].copy_from_slice(&data[..n]);
        self.got += n;
        rest.extend_from_slice(&data[n..]);
    }

    fn full(&self) -> bool {
        self.got == self.buf.len()
    }
}

impl TlsStream {
    /// Mirrors ngx_ssl_create_connection(): a server session for `sock`.
    pub fn new(
        sock: crate::os::socket::Stream,
        config: Arc<rustls::ServerConfig>,
    ) -> io::Result<TlsStream> {
        let tls = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        Ok(TlsStream {
            sock,
            tls,
            io: None,
            sni: None,
            peeked: false,
            plain: false,
            handshaked: false,
            peer_closed: false,
            sent_close_notify: false,
            early: false,
            drained: false,
            failed: false,
        })
    }

    /// ngx_http_ssl_handshake's `recv(…, MSG_PEEK)` of one byte: a TLS
    /// handshake record starts with 0x16 (0x80: an SSLv2-style hello).
    pub fn peek(&mut self) -> io::Result<Peek> {
        if self.peeked {
            return Ok(if self.plain {
                Peek::Plain
            } else {
                Peek::Tls(0x16)
            });
        }
        let mut b = [0u8; 1];
        // SAFETY: recv(2) writes at most 1 byte into `b`, which lives
        // across the call; the descriptor is the stream's own.
        let n = unsafe { libc::recv(self.sock.fd(), b.as_mut_ptr().cast(), 1, libc::MSG_PEEK) };
        match n {
            1 => {
                self.peeked = true;
                if b[0] & 0x80 != 0 || b[0] == 0x16 {
                    Ok(Peek::Tls(b[0]))
                } else {
                    self.plain = true;
                    Ok(Peek::Plain)
                }
            }
            0 => Ok(Peek::Eof),
            _ => {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(Peek::Again),
                    io::ErrorKind::Interrupted => self.peek(),
                    _ => Err(e),
                }
            }
        }
    }

    /// One pass of rustls's state machine over the input buffer: encodes
    /// what it wants to send into the output buffer, hands opened
    /// plaintext to `sink` (what does not fit is kept for the next read),
    /// and seals `seal` (or close_notify) once it may. rustls is always
    /// given the whole input: a handshake message split over records is
    /// kept as positions in it.
    fn turn(
        &mut self,
        sink: &mut Sink<'_>,
        seal: Option<&[u8]>,
        close_notify: bool,
    ) -> Result<Turn, rustls::Error> {
        if self.failed {
            return Err(rustls::Error::General("TLS session failed before".into()));
        }
        let r = self.process(sink, seal, close_notify);
        self.failed = r.is_err();
        r
    }

    /// The body of [`TlsStream::turn`].
    fn process(
        &mut self,
        sink: &mut Sink<'_>,
        seal: Option<&[u8]>,
        close_notify: bool,
    ) -> Result<Turn, rustls::Error> {
        let Self {
            tls,
            io,
            peer_closed,
            sent_close_notify,
            early,
            ..
        } = self;
        let Bufs {
            inbuf,
            in_used,
            outbuf,
            out_used,
            rest,
            ..
        } = &mut **io.get_or_insert_with(Bufs::get);
        let status = tls.process_tls_records(&mut inbuf[..*in_used]);
        let discard = status.discard;
        let turn = match status.state {
            Err(e) => Err(e),
            Ok(ConnectionState::ReadTraffic(mut rt)) => {
                while let Some(rec) = rt.next_record() {
                    sink.put(rec?.payload, rest);
                }
                Ok(Turn::Again)
            }
            Ok(ConnectionState::ReadEarlyData(mut ed)) => {
                *early = true;
                while let Some(rec) = ed.next_record() {
                    sink.put(rec?.payload, rest);
                }
                Ok(Turn::Again)
            }
            Ok(ConnectionState::EncodeTlsData(mut enc)) => loop {
                match enc.encode(&mut outbuf[*out_used..]) {
                    Ok(n) => {
                        *out_used += n;
                        break Ok(Turn::Again);
                    }
                    Err(EncodeError::InsufficientSize(s)) => {
                        outbuf.resize(*out_used + s.required_size, 0);
                    }
                    Err(EncodeError::AlreadyEncoded) => break Ok(Turn::Again),
                }
            },
            Ok(ConnectionState::TransmitTlsData(t)) => {
                // The records stay in the output buffer until the socket
                // takes them (see `send_out`).
                t.done();
                Ok(Turn::Again)
            }
            Ok(ConnectionState::WriteTraffic(mut w)) => {
                if close_notify && !*sent_close_notify {
                    loop {
                        match w.queue_close_notify(&mut outbuf[*out_used..]) {
                            Ok(n) => {
                                *out_used += n;
                                *sent_close_notify = true;
                                break;
                            }
                            Err(EncryptError::InsufficientSize(s)) => {
                                outbuf.resize(*out_used + s.required_size, 0);
                            }
                            Err(EncryptError::EncryptExhausted) => break,
                        }
                    }
                } else if let Some(data) = seal {
                    // Room for the records, then seal (rustls splits the
                    // data into records of max_fragment_size).
                    let need = data.len() + 64 * (data.len() / 1024 + 1);
                    if outbuf.len() < *out_used + need {
                        outbuf.resize(*out_used + need, 0);
                    }
                    loop {
                        match w.encrypt(data, &mut outbuf[*out_used..]) {
                            Ok(n) => {
                                *out_used += n;
                                break;
                            }
                            Err(EncryptError::InsufficientSize(s)) => {
                                outbuf.resize(*out_used + s.required_size, 0);
                            }
                            Err(EncryptError::EncryptExhausted) => {
                                return Err(rustls::Error::EncryptError);
                            }
                        }
                    }
                }
                Ok(Turn::Writable)
            }
            Ok(ConnectionState::BlockedHandshake) => Ok(Turn::NeedInput),
            Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => {
                *peer_closed = true;
                Ok(Turn::PeerClosed)
            }
            Ok(_) => Ok(Turn::NeedInput),
        };
        if discard > 0 {
            inbuf.copy_within(discard..*in_used, 0);
            *in_used -= discard;
        }
        turn
    }

    /// Reads ciphertext from the socket into the input buffer: Ok(false)
    /// at EAGAIN (or when the last read found the socket drained), an error
    /// at the socket's end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.drained {
            return Ok(false);
        }
        let Self {
            sock, io, drained, ..
        } = self;
        let b = io.get_or_insert_with(Bufs::get);
        if b.inbuf.len() - b.in_used < 1024 {
            let grow = if b.inbuf.is_empty() {
                TLS_RECORD_MAX
            } else {
                b.inbuf.len() + TLS_RECORD_MAX
            };
            if grow > TLS_HANDSHAKE_MAX {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS message buffer full",
                ));
            }
            b.inbuf.resize(grow, 0);
        }
        loop {
            match sock.read(&mut b.inbuf[b.in_used..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(n) => {
                    *drained = b.in_used + n < b.inbuf.len();
                    b.in_used += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends the records the output buffer holds: Ok(true) once none are
    /// left, Ok(false) when the socket is full.
    fn send_out(&mut self) -> io::Result<bool> {
        let Self { sock, io, .. } = self;
        let Some(b) = io else {
            return Ok(true);
        };
        while b.out_sent < b.out_used {
            match sock.writev(&[IoSlice::new(&b.outbuf[b.out_sent..b.out_used])]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => b.out_sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        b.out_sent = 0;
        b.out_used = 0;
        Ok(true)
    }

    /// Records out as far as the socket takes them; a full socket is not an
    /// error here.
    fn send_out_quiet(&mut self) {
        let _ = self.send_out();
    }

    /// After a failed turn: the alert rustls queued goes out (as far as the
    /// socket takes it) before the connection is closed. rustls is given no
    /// input again: only its queued messages are encoded.
    fn send_alert(&mut self) {
        let Self { tls, io, .. } = self;
        let b = io.get_or_insert_with(Bufs::get);
        while tls.wants_write() {
            let status = tls.process_tls_records(&mut []);
            let Ok(ConnectionState::EncodeTlsData(mut enc)) = status.state else {
                break;
            };
            loop {
                match enc.encode(&mut b.outbuf[b.out_used..]) {
                    Ok(n) => {
                        b.out_used += n;
                        break;
                    }
                    Err(EncodeError::InsufficientSize(s)) => {
                        b.outbuf.resize(b.out_used + s.required_size, 0);
                    }
                    Err(EncodeError::AlreadyEncoded) => break,
                }
            }
        }
        self.send_out_quiet();
    }

    /// Mirrors ngx_ssl_handshake() (SSL_do_handshake): processes the
    /// client's records and sends ours until the session is up, the client
    /// has nothing more for now, or the socket is full. Application data
    /// that came with the client's last flight stays in the input buffer
    /// for the first read.
    pub fn handshake(&mut self) -> io::Result<Handshake> {
        self.drained = false;
        let mut sink = Sink {
            buf: &mut [],
            got: 0,
        };
        loop {
            if self.sni.is_none()
                && self.tls.is_handshaking()
                && let Some(b) = &self.io
            {
                self.sni = client_hello_server_name(&b.inbuf[..b.in_used]).map(Box::from);
            }
            let turn = match self.turn(&mut sink, None, false) {
                Ok(t) => t,
                Err(e) => {
                    self.send_alert();
                    return Err(tls_error(e));
                }
            };
            // 0-RTT data came in: the request goes on now, the rest of the
            // client's flight (its Finished) is processed by later reads,
            // as OpenSSL's SSL_read_early_data stops at the early data.
            if self.tls.is_handshaking() && self.early && self.has_buffered_plaintext() {
                self.send_out_quiet();
                return Ok(Handshake::EarlyData);
            }
            if !self.tls.is_handshaking() {
                self.handshaked = true;
                // Our last flight (TLS 1.2's ChangeCipherSpec and Finished,
                // TLS 1.3's session tickets) is encoded and goes out now
                // (what the socket does not take, with the first response).
                while self.tls.wants_write() {
                    if self.turn(&mut sink, None, false).is_err() {
                        break;
                    }
                }
                self.send_out_quiet();
                return Ok(Handshake::Done);
            }
            match turn {
                Turn::Again => {}
                Turn::PeerClosed => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Turn::NeedInput | Turn::Writable => {
                    // After a flight of ours the client has to answer: a
                    // drained socket is not asked again. Otherwise it is
                    // (its end may have come with the bytes just read).
                    let answered = self.io.as_ref().is_some_and(|b| b.out_used > 0);
                    if !self.send_out()? {
                        return Ok(Handshake::WantWrite);
                    }
                    if !answered {
                        self.drained = false;
                    }
                    if !self.fill()? {
                        return Ok(Handshake::WantRead);
                    }
                }
            }
        }
    }

    /// Plaintext read ahead goes first.
    fn take_rest(&mut self, sink: &mut Sink<'_>) {
        if let Some(b) = self.io.as_deref_mut()
            && b.rest_at < b.rest.len()
        {
            let n = (b.rest.len() - b.rest_at).min(sink.buf.len() - sink.got);
            sink.buf[sink.got..sink.got + n].copy_from_slice(&b.rest[b.rest_at..b.rest_at + n]);
            sink.got += n;
            b.rest_at += n;
            if b.rest_at == b.rest.len() {
                b.rest.clear();
                b.rest_at = 0;
            }
        }
    }

    /// The session carries requests: the handshake is done, or the
    /// client's early data is being read.
    pub fn established(&self) -> bool {
        self.handshaked || self.early
    }

    /// `$ssl_early_data`: the handshake is not finished, and what is read
    /// now came as early data.
    pub fn in_early_data(&self) -> bool {
        self.early && !self.handshaked
    }

    /// The last read from the socket found it drained (see `drained`).
    pub fn drained(&self) -> bool {
        self.drained
    }

    /// Input to read that the socket will not signal again: plaintext read
    /// ahead, or a whole record not opened yet (a partial one waits for the
    /// socket).
    pub fn has_pending_input(&self) -> bool {
        self.io.as_ref().is_some_and(|b| {
            b.rest_at < b.rest.len()
                || (b.in_used >= 5
                    && b.in_used >= 5 + (usize::from(b.inbuf[3]) << 8 | usize::from(b.inbuf[4])))
        })
    }

    fn has_buffered_plaintext(&self) -> bool {
        self.io.as_ref().is_some_and(|b| b.rest_at < b.rest.len())
    }

    /// Seals `bufs` (at most SSL_BUFFER_SIZE of them per round, small
    /// buffers gathered into one record) and sends the records, round
    /// after round, until everything is taken or the socket is full.
    fn seal_and_send(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut taken = 0;
        let mut sink = Sink {
            buf: &mut [],
            got: 0,
        };
        while taken < total {
            if !self.send_out()? {
                break;
            }
            let round = SCRATCH.with(|s| -> Result<usize, rustls::Error> {
                let mut s = s.borrow_mut();
                s.clear();
                let mut skip = taken;
                for b in bufs {
                    if skip >= b.len() {
                        skip -= b.len();
                        continue;
                    }
                    let want = (b.len() - skip).min(SSL_BUFFER_SIZE - s.len());
                    s.extend_from_slice(&b[skip..skip + want]);
                    skip = 0;
                    if s.len() == SSL_BUFFER_SIZE {
                        break;
                    }
                }
                self.seal(&mut sink, &s)?;
                Ok(s.len())
            });
            taken += round.map_err(tls_error)?;
        }
        self.send_out()?;
        if taken == 0 && self.wants_write() {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        Ok(taken)
    }

    /// Seals `data` into records in the output buffer, first encoding what
    /// rustls itself has to send (a key update's answer) and opening the
    /// complete records already read (their plaintext is kept for the next
    /// read). Every turn before sealing consumes input or encodes output,
    /// so this ends.
    fn seal(&mut self, sink: &mut Sink<'_>, data: &[u8]) -> Result<(), rustls::Error> {
        loop {
            match self.turn(sink, Some(data), false)? {
                Turn::Writable => return Ok(()),
                Turn::Again | Turn::PeerClosed => {}
                Turn::NeedInput => {
                    return Err(rustls::Error::General("TLS session is not writable".into()));
                }
            }
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
        self.sni.as_deref()
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

impl Transport for TlsStream {
    /// Mirrors ngx_ssl_recv(): plaintext into `buf`, opening records until
    /// it is full or the socket is drained (a short return means EAGAIN was
    /// seen). The peer's close_notify or the socket's end is 0.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.plain {
            return Transport::read(&mut self.sock, buf);
        }
        self.drained = false;
        let mut sink = Sink { buf, got: 0 };
        self.take_rest(&mut sink);
        if !self.handshaked && sink.got > 0 {
            // Early data: it is read first; the handshake goes on at the
            // next read (`holds_input` keeps the read event ready).
            return Ok(sink.got);
        }
        if !self.handshaked {
            // Early data was read; the rest of the handshake comes first.
            match self.handshake() {
                Ok(Handshake::Done) => {}
                Ok(_) => {
                    self.take_rest(&mut sink);
                    return if sink.got > 0 {
                        Ok(sink.got)
                    } else {
                        Err(io::Error::from(io::ErrorKind::WouldBlock))
                    };
                }
                Err(_) if sink.got > 0 => return Ok(sink.got),
                Err(e) => return Err(e),
            }
            self.take_rest(&mut sink);
        }
        loop {
            if sink.full() || self.peer_closed {
                return Ok(sink.got);
            }
            let turn = match self.turn(&mut sink, None, false) {
                Ok(t) => t,
                Err(e) if sink.got > 0 => {
                    log::debug!("SSL_read: {e}");
                    return Ok(sink.got);
                }
                Err(e) => {
                    self.send_alert();
                    return Err(tls_error(e));
                }
            };
            match turn {
                Turn::Again => {}
                Turn::PeerClosed => return Ok(sink.got),
                Turn::NeedInput | Turn::Writable => {
                    // A key update's answer goes out with the reads.
                    self.send_out_quiet();
                    // With nothing read yet the socket is asked again even
                    // if drained: its end may have come with a partial
                    // record (EPOLLRDHUP in the same event).
                    if sink.got == 0 {
                        self.drained = false;
                    }
                    match self.fill() {
                        Ok(true) => {}
                        Ok(false) if sink.got > 0 => return Ok(sink.got),
                        Ok(false) => return Err(io::Error::from(io::ErrorKind::WouldBlock)),
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            // The socket's end (without close_notify).
                            self.peer_closed = true;
                            return Ok(sink.got);
                        }
                        Err(e) if sink.got > 0 => {
                            log::debug!("SSL_read: {e}");
                            return Ok(sink.got);
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Mirrors ngx_ssl_send_chain() for memory: plaintext becomes records
    /// and the records go out until everything is taken or the socket is
    /// full. So a short return means the socket is full, the rule the
    /// write filter relies on; records left over make `wants_write` true.
    fn writev(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.plain {
            return self.sock.writev(bufs);
        }
        if !self.established() {
            // A response before the session is up (nothing was read):
            // there is no one to send it to.
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "SSL handshake is not finished",
            ));
        }
        self.seal_and_send(bufs)
    }

    /// A file over TLS: read (into one shared scratch buffer,
    /// `ssl_buffer_size` at a time) and sealed, until `len` is taken or the
    /// socket is full (the same short-means-full rule).
    fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        if self.plain {
            return self.sock.sendfile(file, offset, len);
        }
        if !self.established() {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        }
        let mut sink = Sink {
            buf: &mut [],
            got: 0,
        };
        let mut done = 0;
        while done < len {
            if !self.send_out()? {
                break;
            }
            let want = (len - done).min(SSL_BUFFER_SIZE);
            let n = SCRATCH.with(|s| -> io::Result<usize> {
                let mut s = s.borrow_mut();
                s.resize(want, 0);
                let n = file.read_at(&mut s[..want], offset + done as u64)?;
                if n > 0 {
                    self.seal(&mut sink, &s[..n]).map_err(tls_error)?;
                }
                Ok(n)
            })?;
            if n == 0 {
                break;
            }
            done += n;
        }
        self.send_out()?;
        if done == 0 && self.wants_write() {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        Ok(done)
    }

    fn wants_write(&self) -> bool {
        !self.plain && self.io.as_ref().is_some_and(|b| b.holds_output())
    }

    fn ssl_shutdown(&mut self) {
        if !self.plain && self.handshaked {
            let mut sink = Sink {
                buf: &mut [],
                got: 0,
            };
            for _ in 0..16 {
                match self.turn(&mut sink, None, true) {
                    Ok(Turn::Again) => {}
                    _ => break,
                }
            }
            self.send_out_quiet();
        }
    }

    fn flush(&mut self) -> io::Result<bool> {
        if self.plain {
            return Ok(true);
        }
        self.send_out()
    }

    /// ngx_ssl_free_buffer: an idle session keeps no buffer that holds
    /// nothing (a partial record read ahead, or records the socket has not
    /// taken, stay).
    fn free_buffers(&mut self) {
        if self
            .io
            .as_ref()
            .is_some_and(|b| !b.holds_input() && !b.holds_output())
            && let Some(b) = self.io.take()
        {
            Bufs::put(b);
        }
    }

    fn set_nodelay(&mut self) -> io::Result<()> {
        self.sock.set_nodelay()
    }

    fn set_cork(&mut self, on: bool) -> io::Result<()> {
        self.sock.set_cork(on)
    }

    /// Mirrors ngx_ssl_shutdown(): close_notify, then the socket's write side.
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

/// The client's certificate (rustls `CommonState` calls only).
impl TlsStream {
    /// The certificate chain the client sent (its own first), if any
    /// (nginx's SSL_get_peer_certificate / SSL_get_peer_cert_chain).
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.tls.peer_certificates()
    }
}
