//! The event loop: one mio `Poll`, connections in a `Slab`, a state per
//! connection (Connecting, Writing, Reading, Idle, Closed), edge-triggered
//! reads until `WouldBlock`, and a heap of deadlines for timeouts.
//!
//! Work is handed out in requests: in the closed-loop modes a connection
//! takes its next request when the last response is complete (until `-n`
//! or the time limit); with `--rate` the requests fall due on a fixed
//! schedule and wait in a queue for a connection, their latency counted
//! from when they were due.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::args::{Config, Mode};
use crate::report::{ErrorKind, HoldRecord, Report};
use crate::response::{Completed, ResponseReader};

/// Where the progress lines go.
#[derive(Clone, Copy)]
pub enum Progress {
    /// Nowhere (`--quiet`).
    Quiet,
    /// A line per second on stderr.
    Stderr,
    /// `progress RESPONSES OPEN ERRORS CLOSED` lines to the parent's pipe.
    Pipe(RawFd),
}

/// How far a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
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
struct Conn {
    stream: TcpStream,
    state: State,
    /// Distinguishes this connection from a later one in the same slot.
    generation: u64,
    /// When each request of the current batch started (None: at its write).
    starts: Vec<Option<Instant>>,
    /// Responses received of the current batch.
    answered: usize,
    /// Bytes of the request batch to write, and written so far.
    to_write: usize,
    written: usize,
    reader: ResponseReader,
    /// A response said the server will close after it.
    server_closing: bool,
    /// Connect or response deadline.
    deadline: Option<Instant>,
    /// Hold mode: this connection's record once it went idle.
    hold_record: Option<usize>,
}

impl Conn {
    /// Requests of the current batch still waiting for their response.
    fn unanswered(&self) -> usize {
        self.starts.len() - self.answered
    }

    /// Forgets the finished batch and releases its memory (held connections).
    fn clear_batch(&mut self) {
        self.starts = Vec::new();
        self.answered = 0;
        self.reader.reset();
    }
}

/// The share of the work one process does.
pub struct Share {
    /// Round-robin offset into `--source-ips`.
    pub source_offset: usize,
}

/// The load generator's state.
pub struct Engine<'a> {
    cfg: &'a Config,
    poll: Poll,
    conns: Slab<Conn>,
    /// (deadline, slab key, generation); stale entries are skipped.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    report: Report,
    /// `depth` copies of the request, so a batch is one write.
    batch: Vec<u8>,
    request_len: usize,
    expect: Option<Vec<u8>>,
    start: Instant,
    /// No request is started after this.
    end_at: Instant,
    /// Closed loop: requests left to start (None: until `end_at`).
    remaining: Option<u64>,
    /// Open loop: the gap between requests (seconds), the next due time,
    /// how many were scheduled, and the due ones waiting for a connection.
    interval: Option<f64>,
    next_due: Instant,
    scheduled: u64,
    due: VecDeque<Instant>,
    /// Idle keep-alive connections waiting for due requests (key, generation).
    idle_conns: Vec<(usize, u64)>,
    source_ips: Vec<IpAddr>,
    source_next: usize,
    next_generation: u64,
    /// Connections open (not Closed) and, of those, Idle.
    open: usize,
    idle: usize,
    /// Hold mode: connections started so far.
    hold_started: usize,
    /// A synchronous connect failure cut dispatching short: poll without waiting.
    again: bool,
    closed_keys: Vec<usize>,
    scratch: Vec<u8>,
    completed: Vec<Completed>,
    progress: Progress,
    next_tick: Instant,
    last_tick: (Instant, u64),
}

/// The event loop's token limit per poll.
const EVENTS: usize = 1024;

impl<'a> Engine<'a> {
    /// Prepares a run of `cfg` (already divided into this process's share)
    /// that starts at `start`.
    pub fn new(
        cfg: &'a Config,
        share: Share,
        progress: Progress,
        start: Instant,
    ) -> io::Result<Engine<'a>> {
        let request = cfg.request_bytes();
        let depth = cfg.mode.depth();
        let report = Report {
            mode: cfg.mode.name().to_string(),
            depth,
            target: cfg.addr.to_string(),
            concurrency: cfg.concurrency,
            procs: 1,
            rate: cfg.rate,
            ..Report::default()
        };
        Ok(Engine {
            cfg,
            poll: Poll::new()?,
            conns: Slab::with_capacity(cfg.concurrency.min(1 << 16)),
            timers: BinaryHeap::new(),
            report,
            batch: request.repeat(depth),
            request_len: request.len(),
            expect: cfg.expect_body.as_ref().map(|s| s.as_bytes().to_vec()),
            start,
            end_at: start + cfg.duration,
            remaining: cfg.requests,
            interval: cfg.rate.map(|r| 1.0 / r),
            next_due: start,
            scheduled: 0,
            due: VecDeque::new(),
            idle_conns: Vec::new(),
            source_ips: cfg.source_ips.clone(),
            source_next: share.source_offset,
            next_generation: 0,
            open: 0,
            idle: 0,
            hold_started: 0,
            again: false,
            closed_keys: Vec::new(),
            scratch: vec![0; 64 * 1024],
            completed: Vec::new(),
            progress,
            next_tick: start + Duration::from_secs(1),
            last_tick: (start, 0),
        })
    }

    /// Runs until the work is done and returns the counters.
    pub fn run(mut self) -> io::Result<Report> {
        let mut events = Events::with_capacity(EVENTS);
        // Open loop with persistent connections: open them up front.
        if self.interval.is_some() && !self.cfg.mode.one_shot() {
            for _ in 0..self.cfg.concurrency {
                self.open_conn(Vec::new());
            }
        }
        let hard_stop = self.end_at + self.cfg.timeout + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            self.fire_timers(now);
            self.remove_closed();
            self.dispatch(now);
            self.remove_closed();
            self.tick(now);
            if self.finished(now) {
                break;
            }
            if now >= hard_stop {
                self.abandon_in_flight();
                break;
            }
            let timeout = self.poll_timeout(now);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in events.iter() {
                let key = ev.token().0;
                self.on_event(
                    key,
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable(),
                );
            }
            self.remove_closed();
        }
        let end = Instant::now();
        self.report.elapsed_s = (end - self.start).as_secs_f64();
        if self.interval.is_some() {
            self.report.unsent += self.due.len() as u64;
        }
        self.report.stopped_by_time = match (self.cfg.requests, self.interval) {
            (Some(n), Some(_)) => self.scheduled < n,
            (Some(_), None) => self.remaining.is_some_and(|r| r > 0),
            _ => false,
        } && self.cfg.mode != Mode::Hold;
        // Whatever is still open (idle keep-alive, held) is closed by us.
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for k in keys {
            self.close(k);
        }
        self.remove_closed();
        Ok(self.report)
    }

    /// Microseconds from the start to `t`.
    fn micros_since_start(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_micros() as u64
    }

    /// Is there no more work to start, and nothing in flight?
    fn finished(&mut self, now: Instant) -> bool {
        let time_up = now >= self.end_at;
        let no_work = match (self.cfg.mode, self.interval) {
            (Mode::Hold, _) => time_up,
            (_, Some(_)) => {
                if time_up {
                    self.report.unsent += self.due.len() as u64;
                    self.due.clear();
                }
                (time_up || self.cfg.requests.is_some_and(|n| self.scheduled >= n))
                    && self.due.is_empty()
            }
            _ => time_up || self.remaining == Some(0),
        };
        no_work && self.open == self.idle
    }

    /// The time until the next deadline, tick, due request or the end.
    fn poll_timeout(&mut self, now: Instant) -> Duration {
        if std::mem::take(&mut self.again) {
            return Duration::ZERO;
        }
        let mut next = self.next_tick;
        if now < self.end_at {
            next = next.min(self.end_at);
            if self.interval.is_some() {
                next = next.min(self.next_due);
            }
        }
        if let Some(Reverse((t, _, _))) = self.timers.peek() {
            next = next.min(*t);
        }
        next.saturating_duration_since(now)
    }

    /// Takes the start of one more request, if there is work left.
    fn take_request(&mut self, now: Instant) -> Option<Option<Instant>> {
        if self.interval.is_some() {
            return self.due.pop_front().map(Some);
        }
        if now >= self.end_at || self.remaining == Some(0) {
            return None;
        }
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        // Short connections count from the connect; others from the write.
        Some(if self.cfg.mode.one_shot() {
            Some(now)
        } else {
            None
        })
    }

    /// Moves requests whose time has come into the due queue (open loop).
    fn schedule_due(&mut self, now: Instant) {
        let Some(gap) = self.interval else { return };
        while self.next_due <= now
            && self.next_due < self.end_at
            && self.cfg.requests.is_none_or(|n| self.scheduled < n)
        {
            self.due.push_back(self.next_due);
            self.scheduled += 1;
            // From the start each time, so rounding does not add up.
            self.next_due = self.start + Duration::from_secs_f64(self.scheduled as f64 * gap);
        }
    }

    /// Hands out work: to idle connections first, then to new ones.
    fn dispatch(&mut self, now: Instant) {
        self.schedule_due(now);
        while !self.due.is_empty() {
            let Some((key, generation)) = self.idle_conns.pop() else {
                break;
            };
            let live = self
                .conns
                .get(key)
                .is_some_and(|c| c.generation == generation && c.state == State::Idle);
            if live {
                self.idle -= 1;
                self.send_batch(key, Vec::new(), now);
            }
        }
        let c = self.cfg.concurrency;
        let mut sync_failures = 0;
        // Parallel mode: whether this call is opening a wave.
        let mut wave = false;
        while self.open < c && sync_failures < c.min(64) {
            let first = match self.cfg.mode {
                Mode::Hold => {
                    let opening = self.open - self.idle;
                    if self.hold_started >= c
                        || opening >= self.cfg.open_batch
                        || now >= self.end_at
                    {
                        break;
                    }
                    self.hold_started += 1;
                    None
                }
                // A wave starts when the last one is over.
                Mode::Parallel if self.open > 0 && !wave => break,
                _ => match self.take_request(now) {
                    Some(start) => start,
                    None => break,
                },
            };
            wave = true;
            if !self.open_conn(vec![first]) {
                sync_failures += 1;
            }
        }
        if sync_failures >= c.min(64) {
            self.again = true;
        }
    }

    /// Opens a connection carrying the requests started at `starts` (none:
    /// a connection opened ahead of due requests). Returns false when it
    /// failed at once (the failure is counted).
    fn open_conn(&mut self, starts: Vec<Option<Instant>>) -> bool {
        let source = if self.source_ips.is_empty() {
            None
        } else {
            let ip = self.source_ips[self.source_next % self.source_ips.len()];
            self.source_next += 1;
            Some(ip)
        };
        self.report.connect_attempts += 1;
        let mut stream = match crate::sys::start_connect(self.cfg.addr, source) {
            Ok(s) => s,
            Err(e) => {
                self.count_errors(ErrorKind::of(&e), starts.len().max(1));
                return false;
            }
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.count_errors(ErrorKind::of(&e), starts.len().max(1));
            return false;
        }
        self.next_generation += 1;
        let deadline = Instant::now() + self.cfg.timeout;
        entry.insert(Conn {
            stream,
            state: State::Connecting,
            generation: self.next_generation,
            starts,
            answered: 0,
            to_write: 0,
            written: 0,
            reader: ResponseReader::new(self.cfg.is_head()),
            server_closing: false,
            deadline: Some(deadline),
            hold_record: None,
        });
        self.timers
            .push(Reverse((deadline, key, self.next_generation)));
        self.open += 1;
        self.report.peak_open = self.report.peak_open.max(self.open as u64);
        true
    }

    fn count_errors(&mut self, kind: ErrorKind, n: usize) {
        for _ in 0..n {
            self.report.error(kind);
        }
    }

    /// Handles readiness of connection `key`.
    fn on_event(&mut self, key: usize, readable: bool, writable: bool) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        match conn.state {
            State::Closed => {}
            State::Connecting => self.finish_connect(key),
            _ => {
                if writable && conn.state == State::Writing {
                    self.write(key);
                }
                if readable && self.conns[key].state != State::Closed {
                    self.read(key);
                }
            }
        }
    }

    /// The connect finished (or failed).
    fn finish_connect(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        let failure = match conn.stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match conn.stream.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => Some(e),
            },
        };
        if let Some(e) = failure {
            self.fail(key, ErrorKind::of(&e));
            return;
        }
        self.report.connections += 1;
        let now = Instant::now();
        let starts = std::mem::take(&mut self.conns[key].starts);
        if starts.is_empty() {
            // Opened ahead of the due requests (open loop).
            self.conns[key].deadline = None;
            self.go_idle(key);
            if !self.due.is_empty() {
                self.idle -= 1;
                self.idle_conns.pop();
                self.send_batch(key, Vec::new(), now);
            }
        } else {
            self.send_batch(key, starts, now);
        }
    }

    /// Fills the batch of connection `key` (beyond `starts`, already taken)
    /// up to the pipeline depth and writes it; with no work at all the
    /// connection goes idle (open loop) or is closed (closed loop).
    fn send_batch(&mut self, key: usize, mut starts: Vec<Option<Instant>>, now: Instant) {
        let depth = if self.cfg.mode == Mode::Hold {
            1
        } else {
            self.cfg.mode.depth()
        };
        while starts.len() < depth && self.cfg.mode != Mode::Hold {
            match self.take_request(now) {
                Some(s) => starts.push(s),
                None => break,
            }
        }
        if starts.is_empty() {
            if self.interval.is_some() {
                self.go_idle(key);
            } else {
                self.close(key);
            }
            return;
        }
        for s in &mut starts {
            s.get_or_insert(now);
        }
        let deadline = now + self.cfg.timeout;
        let generation;
        {
            let conn = &mut self.conns[key];
            conn.to_write = starts.len() * self.request_len;
            conn.written = 0;
            conn.starts = starts;
            conn.answered = 0;
            conn.state = State::Writing;
            conn.deadline = Some(deadline);
            generation = conn.generation;
        }
        self.timers.push(Reverse((deadline, key, generation)));
        self.write(key);
    }

    /// Writes what is left of the batch until done or `WouldBlock`.
    fn write(&mut self, key: usize) {
        loop {
            let conn = &mut self.conns[key];
            if conn.written == conn.to_write {
                conn.state = State::Reading;
                self.report.sent += conn.starts.len() as u64;
                return;
            }
            match conn.stream.write(&self.batch[conn.written..conn.to_write]) {
                Ok(n) => {
                    conn.written += n;
                    self.report.bytes_written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(key, ErrorKind::of(&e));
                    return;
                }
            }
        }
    }

    /// Reads until `WouldBlock`, EOF or an error, handling every response.
    fn read(&mut self, key: usize) {
        loop {
            let conn = &mut self.conns[key];
            let n = match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    self.on_eof(key, false);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if conn.unanswered() == 0 && conn.reader.is_between_responses() {
                        // Reset while idle: the server dropped the connection.
                        self.on_eof(key, true);
                    } else {
                        self.fail(key, ErrorKind::of(&e));
                    }
                    return;
                }
            };
            self.report.bytes_read += n as u64;
            if conn.unanswered() == 0 {
                // Nothing was asked (or everything was answered).
                self.fail_with(key, ErrorKind::BadResponse, 1);
                return;
            }
            self.completed.clear();
            let fed = conn.reader.feed(
                &self.scratch[..n],
                self.expect.as_deref(),
                &mut self.completed,
            );
            let done = std::mem::take(&mut self.completed);
            let ok = self.on_responses(key, &done);
            self.completed = done;
            if let Err(_why) = fed {
                self.fail(key, ErrorKind::BadResponse);
                return;
            }
            if !ok || self.conns[key].state == State::Closed {
                return;
            }
            if self.conns[key].unanswered() == 0 && self.conns[key].state == State::Reading {
                self.batch_done(key);
                if self.conns[key].state == State::Closed {
                    return;
                }
            }
        }
    }

    /// Counts complete responses; false when there were more than asked.
    fn on_responses(&mut self, key: usize, done: &[Completed]) -> bool {
        let now = Instant::now();
        for c in done {
            let conn = &mut self.conns[key];
            if conn.unanswered() == 0 {
                self.fail_with(key, ErrorKind::BadResponse, 1);
                return false;
            }
            let start = conn.starts[conn.answered].unwrap_or(now);
            conn.answered += 1;
            if c.close {
                conn.server_closing = true;
            }
            if c.body_ok {
                self.report.responses += 1;
                let us = now.saturating_duration_since(start).as_micros() as u64;
                self.report.latency.record(us);
            } else {
                self.report.error(ErrorKind::BadResponse);
            }
            *self.report.statuses.entry(c.status).or_default() += 1;
        }
        true
    }

    /// Every response of the batch is in: go on with the next batch, go
    /// idle (hold, open loop) or close.
    fn batch_done(&mut self, key: usize) {
        let now = Instant::now();
        let conn = &mut self.conns[key];
        conn.deadline = None;
        if self.cfg.mode == Mode::Hold {
            let open_us = self.micros_since_start(now);
            let conn = &mut self.conns[key];
            conn.clear_batch();
            let record = self.report.hold.len();
            self.report.hold.push(HoldRecord {
                open_us,
                close_us: conn.server_closing.then_some(open_us),
                reset: false,
            });
            if conn.server_closing {
                self.close(key);
            } else {
                conn.hold_record = Some(record);
                self.go_idle(key);
            }
            return;
        }
        if self.cfg.mode.one_shot() {
            self.close(key);
            return;
        }
        if conn.server_closing {
            self.report.server_closes += 1;
            self.close(key);
            return;
        }
        self.send_batch(key, Vec::new(), now);
    }

    /// The server closed the connection (FIN, or an RST while idle).
    fn on_eof(&mut self, key: usize, reset: bool) {
        let now = Instant::now();
        let expect = self.expect.clone();
        let conn = &mut self.conns[key];
        if let Some(last) = conn.reader.finish_at_eof(expect.as_deref())
            && !self.on_responses(key, &[last])
        {
            return;
        }
        let conn = &mut self.conns[key];
        let unanswered = conn.unanswered();
        if unanswered > 0 || !conn.reader.is_between_responses() {
            let kind = if reset {
                ErrorKind::Reset
            } else {
                ErrorKind::UnexpectedClose
            };
            self.fail_with(key, kind, unanswered.max(1));
            return;
        }
        if conn.state == State::Reading {
            // A close-delimited response completed the batch.
            self.batch_done(key);
            if self.conns[key].state == State::Closed {
                return;
            }
        }
        let conn = &self.conns[key];
        if let Some(i) = conn.hold_record {
            self.report.hold[i].close_us = Some(self.micros_since_start(now));
            self.report.hold[i].reset = reset;
        } else if !self.cfg.mode.one_shot() {
            self.report.server_closes += 1;
        }
        self.close(key);
    }

    /// Counts a failure of every unanswered request (at least one) and
    /// closes the connection.
    fn fail(&mut self, key: usize, kind: ErrorKind) {
        let n = self.conns[key].unanswered().max(1);
        self.fail_with(key, kind, n);
    }

    fn fail_with(&mut self, key: usize, kind: ErrorKind, n: usize) {
        self.count_errors(kind, n);
        if let Some(i) = self.conns[key].hold_record {
            // A held connection that misbehaved counts as closed.
            let now = self.micros_since_start(Instant::now());
            self.report.hold[i].close_us.get_or_insert(now);
        }
        self.close(key);
    }

    fn go_idle(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        conn.state = State::Idle;
        conn.deadline = None;
        self.idle += 1;
        if self.interval.is_some() && self.cfg.mode != Mode::Hold {
            self.idle_conns.push((key, conn.generation));
        }
    }

    /// Closes connection `key` (the slot is freed after this batch of events).
    fn close(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if conn.state == State::Closed {
            return;
        }
        if conn.state == State::Idle {
            self.idle -= 1;
        }
        conn.state = State::Closed;
        conn.deadline = None;
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.open -= 1;
        self.closed_keys.push(key);
    }

    /// Frees the slots of closed connections (their sockets close here).
    fn remove_closed(&mut self) {
        for key in self.closed_keys.drain(..) {
            self.conns.remove(key);
        }
    }

    /// Times out connections whose deadline has passed.
    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((t, key, generation))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let due = self.conns.get(key).is_some_and(|c| {
                c.generation == generation && c.deadline == Some(t) && c.state != State::Closed
            });
            if due {
                self.fail(key, ErrorKind::Timeout);
            }
        }
    }

    /// The hard stop: whatever is still in flight counts as timed out.
    fn abandon_in_flight(&mut self) {
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| !matches!(c.state, State::Idle | State::Closed))
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            self.fail(k, ErrorKind::Timeout);
        }
    }

    /// The progress line, once a second.
    fn tick(&mut self, now: Instant) {
        if now < self.next_tick {
            return;
        }
        while self.next_tick <= now {
            self.next_tick += Duration::from_secs(1);
        }
        let errors = self.report.total_errors();
        let closed = self
            .report
            .hold
            .iter()
            .filter(|r| r.close_us.is_some())
            .count();
        match self.progress {
            Progress::Quiet => {}
            Progress::Stderr => {
                let (t0, r0) = self.last_tick;
                let secs = (now - t0).as_secs_f64().max(1e-3);
                let rate = (self.report.responses - r0) as f64 / secs;
                eprintln!(
                    "{}",
                    progress_line(
                        (now - self.start).as_secs_f64(),
                        rate,
                        self.open as u64,
                        errors,
                        (self.cfg.mode == Mode::Hold).then_some(closed as u64),
                    )
                );
            }
            Progress::Pipe(fd) => {
                let line = format!(
                    "progress {} {} {} {}\n",
                    self.report.responses, self.open, errors, closed
                );
                crate::procs::write_all_fd(fd, line.as_bytes());
            }
        }
        self.last_tick = (now, self.report.responses);
    }
}

/// One progress line: `[ 3.0s] 51234 req/s, 50 open, 0 errors`.
pub fn progress_line(t: f64, rate: f64, open: u64, errors: u64, closed: Option<u64>) -> String {
    let closed = closed
        .map(|c| format!(", {c} closed by the server"))
        .unwrap_or_default();
    format!("[{t:5.1}s] {rate:9.0} req/s, {open} open, {errors} errors{closed}")
}
