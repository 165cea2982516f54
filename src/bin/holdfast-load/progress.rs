//! The live progress line, once a second: requests/s, open connections,
//! errors (and in hold mode the connections the server closed). A `--procs`
//! child sends its cumulative counts to the parent instead, which prints
//! the sum.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Where the progress goes.
#[derive(Clone, Copy)]
pub enum Sink {
    /// Nowhere (`--quiet`).
    Quiet,
    /// A line per second on stderr.
    Stderr,
    /// `progress RESPONSES OPEN ERRORS CLOSED` lines to the parent's pipe.
    Pipe(RawFd),
}

/// The counts at one moment (cumulative, except `open`).
#[derive(Clone, Copy, Default)]
pub struct Snapshot {
    /// Complete responses so far.
    pub responses: u64,
    /// Connections open now.
    pub open: u64,
    /// Failures so far.
    pub errors: u64,
    /// Hold mode: connections the server closed so far.
    pub closed: Option<u64>,
}

impl Snapshot {
    /// Parses the numbers of a `progress` line (after the word).
    pub fn parse(words: &str, hold: bool) -> Option<Snapshot> {
        let mut it = words.split(' ').map(|w| w.parse::<u64>().ok());
        Some(Snapshot {
            responses: it.next()??,
            open: it.next()??,
            errors: it.next()??,
            closed: it.next()?.filter(|_| hold),
        })
    }

    /// Adds another process's counts.
    pub fn add(&mut self, other: &Snapshot) {
        self.responses += other.responses;
        self.open += other.open;
        self.errors += other.errors;
        if let Some(c) = other.closed {
            *self.closed.get_or_insert(0) += c;
        }
    }
}

/// Prints (or sends) a progress line each second.
pub struct Ticker {
    sink: Sink,
    start: Instant,
    next: Instant,
    /// When the last line was printed, and the responses then.
    last: (Instant, u64),
}

impl Ticker {
    /// A ticker for a run that started at `start`.
    pub fn new(sink: Sink, start: Instant) -> Ticker {
        Ticker {
            sink,
            start,
            next: start + Duration::from_secs(1),
            last: (start, 0),
        }
    }

    /// When the next line is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Is a line due at `now`?
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Emits the line for `snap` if one is due.
    pub fn tick(&mut self, now: Instant, snap: Snapshot) {
        if !self.due(now) {
            return;
        }
        while self.next <= now {
            self.next += Duration::from_secs(1);
        }
        match self.sink {
            Sink::Quiet => {}
            Sink::Stderr => {
                let (t0, r0) = self.last;
                let secs = (now - t0).as_secs_f64().max(1e-3);
                let rate = snap.responses.saturating_sub(r0) as f64 / secs;
                let closed = snap
                    .closed
                    .map(|c| format!(", {c} closed by the server"))
                    .unwrap_or_default();
                let watch = crate::watch::latest();
                let watch = if watch.is_empty() {
                    watch
                } else {
                    format!("  || {watch}")
                };
                eprintln!(
                    "[{:5.1}s] {rate:9.0} req/s, {} open, {} errors{closed}{watch}",
                    (now - self.start).as_secs_f64(),
                    snap.open,
                    snap.errors
                );
            }
            Sink::Pipe(fd) => {
                let line = format!(
                    "progress {} {} {} {}\n",
                    snap.responses,
                    snap.open,
                    snap.errors,
                    snap.closed.unwrap_or(0)
                );
                crate::procs::write_all_fd(fd, line.as_bytes());
            }
        }
        self.last = (now, snap.responses);
    }
}
