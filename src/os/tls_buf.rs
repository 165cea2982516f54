//! The buffers of a TLS session (os/tls.rs): nginx's SSL buffers with
//! OpenSSL's release-buffers mode. A session has them only while they hold
//! something; idle sessions' sets wait on a small free list for the next
//! busy one.

use std::cell::RefCell;

use super::tls::TLS_RECORD_MAX;
use crate::conf::http_ssl::SSL_BUFFER_SIZE;

/// A session's buffers.
#[derive(Default)]
pub(super) struct Bufs {
    /// Ciphertext read and not yet processed: `inbuf[..in_used]`.
    pub(super) inbuf: Vec<u8>,
    pub(super) in_used: usize,
    /// Records not yet on the socket: `outbuf[out_sent..out_used]`.
    pub(super) outbuf: Vec<u8>,
    pub(super) out_sent: usize,
    pub(super) out_used: usize,
    /// Plaintext opened beyond what the last read asked for.
    pub(super) rest: Vec<u8>,
    pub(super) rest_at: usize,
}

/// Idle connections' buffers kept for the next busy one (at most this
/// many): a keep-alive request over TLS then costs no allocation and no
/// clearing of 18k, and the heap does not fragment around the sessions'
/// long-lived state.
const TLS_BUFFERS_FREE_MAX: usize = 32;

thread_local! {
    /// The free list of [`Bufs`] (one per worker thread), boxed as the
    /// connections hold them, so taking one moves no buffer.
    #[allow(clippy::vec_box)]
    static FREE_BUFS: RefCell<Vec<Box<Bufs>>> = const { RefCell::new(Vec::new()) };
}

impl Bufs {
    /// A set of buffers from the free list, or new ones.
    pub(super) fn get() -> Box<Bufs> {
        FREE_BUFS.with(|f| f.borrow_mut().pop()).unwrap_or_default()
    }

    /// Gives empty buffers back to the free list (buffers grown past one
    /// record, for a large handshake message, are dropped instead).
    pub(super) fn put(mut b: Box<Bufs>) {
        if b.inbuf.len() > TLS_RECORD_MAX || b.outbuf.len() > 2 * TLS_RECORD_MAX {
            return;
        }
        b.in_used = 0;
        b.out_sent = 0;
        b.out_used = 0;
        b.rest.clear();
        b.rest.shrink_to(SSL_BUFFER_SIZE);
        b.rest_at = 0;
        FREE_BUFS.with(|f| {
            let mut f = f.borrow_mut();
            if f.len() < TLS_BUFFERS_FREE_MAX {
                f.push(b);
            }
        });
    }

    pub(super) fn holds_input(&self) -> bool {
        self.in_used > 0 || self.rest_at < self.rest.len()
    }

    pub(super) fn holds_output(&self) -> bool {
        self.out_sent < self.out_used
    }
}
