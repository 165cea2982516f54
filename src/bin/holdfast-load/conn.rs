//! One client connection of the event loop and its state.

use std::time::Instant;

use mio::net::TcpStream;

use crate::response::ResponseReader;

/// How far a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// connect() in progress.
    Connecting,
    /// Writing its requests.
    Writing,
    /// Waiting for responses.
    Reading,
    /// Open with nothing to do (keep-alive between requests, or held).
    Idle,
    /// Closed; removed from the slab after the current batch of events.
    Closed,
}

/// One client connection.
pub struct Conn {
    /// The socket (non-blocking, registered with the poll).
    pub stream: TcpStream,
    /// How far it is.
    pub state: State,
    /// Distinguishes this connection from a later one in the same slot.
    pub generation: u64,
    /// When each request of the current batch started (None: at its write).
    pub starts: Vec<Option<Instant>>,
    /// Responses received of the current batch.
    pub answered: usize,
    /// Bytes of the request batch to write, and written so far.
    pub to_write: usize,
    /// See `to_write`.
    pub written: usize,
    /// Parses the responses as they arrive.
    pub reader: ResponseReader,
    /// A response said the server will close after it.
    pub server_closing: bool,
    /// Connect or response deadline.
    pub deadline: Option<Instant>,
    /// The timer heap holds an entry for this connection (at or before
    /// `deadline`; a later deadline is re-armed when the entry comes up).
    pub timer_armed: bool,
    /// Hold mode: this connection's record once it went idle.
    pub hold_record: Option<usize>,
}

impl Conn {
    /// Requests of the current batch still waiting for their response.
    pub fn unanswered(&self) -> usize {
        self.starts.len() - self.answered
    }

    /// Forgets the finished batch and releases its memory (held connections).
    pub fn clear_batch(&mut self) {
        self.starts = Vec::new();
        self.answered = 0;
        self.reader.reset();
    }
}
