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
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::args::{Config, Mode};
use crate::conn::{Conn, State};
use crate::progress::{Sink, Snapshot, Ticker};
use crate::report::{ErrorKind, HoldRecord, Report};
use crate::response::{Completed, ResponseReader};

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
    /// (time, slab key, generation): at most one entry per connection.
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
    /// Synchronous connect failures cut dispatching short: try again soon.
    again: bool,
    closed_keys: Vec<usize>,
    scratch: Vec<u8>,
    completed: Vec<Completed>,
    ticker: Ticker,
}

/// The event loop's token limit per poll.
const EVENTS: usize = 1024;

impl<'a> Engine<'a> {
    /// Prepares a run of `cfg` (already divided into this process's share)
    /// that starts at `start`.
    pub fn new(
        cfg: &'a Config,
        share: Share,
        progress: Sink,
        start: Instant,
    ) -> io::Result<Engine<'a>> {
        let request = cfg.request_bytes();
        let depth = cfg.mode.depth();
        let report = Report {
            mode: cfg.mode.name().to_string(),
            depth,
            target: cfg.addr.to_string(),
            request: format!("{} {}", cfg.method, cfg.path),
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
            ticker: Ticker::new(progress, start),
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
            // Connects fail at once (out of ports or descriptors): go on
            // trying, but not in a busy loop.
            return Duration::from_millis(1);
        }
        let mut next = self.ticker.next();
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
                self.next_batch(key, now);
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
            timer_armed: true,
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
                self.next_batch(key, now);
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
        let conn = &mut self.conns[key];
        conn.to_write = starts.len() * self.request_len;
        conn.written = 0;
        conn.starts = starts;
        conn.answered = 0;
        conn.state = State::Writing;
        conn.deadline = Some(deadline);
        if !conn.timer_armed {
            conn.timer_armed = true;
            self.timers.push(Reverse((deadline, key, conn.generation)));
        }
        self.write(key);
    }

    /// Writes what is left of the batch until done or `WouldBlock`.
    fn write(&mut self, key: usize) {
        loop {
            let conn = &mut self.conns[key];
            if conn.written == conn.to_write {
                conn.state = State::Reading;
                self.report.sent += conn.starts.len() as u64;
                if conn.unanswered() == 0 {
                    // The responses came while the requests were written.
                    self.batch_done(key);
                }
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
        self.next_batch(key, now);
    }

    /// Sends the next batch on connection `key`, reusing its vector of starts.
    fn next_batch(&mut self, key: usize, now: Instant) {
        let mut starts = std::mem::take(&mut self.conns[key].starts);
        starts.clear();
        self.send_batch(key, starts, now);
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
        let conn = &self.conns[key];
        let announced = conn.server_closing
            && conn.unanswered() > 0
            && conn.reader.is_between_responses()
            && matches!(kind, ErrorKind::UnexpectedClose | ErrorKind::Reset);
        if announced {
            self.report.server_closes += 1;
            self.retry_unanswered(key);
        } else {
            self.count_errors(kind, n);
        }
        if let Some(i) = self.conns[key].hold_record {
            // A held connection that misbehaved counts as closed.
            let now = self.micros_since_start(Instant::now());
            self.report.hold[i].close_us.get_or_insert(now);
        }
        self.close(key);
    }

    /// The server said `Connection: close` and then closed with requests
    /// of a pipeline unanswered: like a browser, make them again on another
    /// connection (keeping their intended start in the open loop) instead of
    /// counting failures.
    fn retry_unanswered(&mut self, key: usize) {
        let now = Instant::now();
        let conn = &mut self.conns[key];
        let lost = &conn.starts[conn.answered..];
        if self.interval.is_some() {
            for s in lost.iter().rev() {
                self.due.push_front(s.unwrap_or(now));
            }
        } else if let Some(r) = &mut self.remaining {
            *r += lost.len() as u64;
        }
        self.report.retried += lost.len() as u64;
        conn.answered = conn.starts.len();
    }

    /// Connection `key` has nothing to do.
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

    /// Times out connections whose deadline has passed; re-arms the entry
    /// of a connection whose deadline moved on.
    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((t, key, generation))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.generation != generation || conn.state == State::Closed {
                continue;
            }
            conn.timer_armed = false;
            match conn.deadline {
                Some(d) if d <= now => self.fail(key, ErrorKind::Timeout),
                Some(d) => {
                    conn.timer_armed = true;
                    self.timers.push(Reverse((d, key, generation)));
                }
                None => {}
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
        if !self.ticker.due(now) {
            return;
        }
        let closed = (self.cfg.mode == Mode::Hold).then(|| {
            let n = self.report.hold.iter().filter(|r| r.close_us.is_some());
            n.count() as u64
        });
        let snap = Snapshot {
            responses: self.report.responses,
            open: self.open as u64,
            errors: self.report.total_errors(),
            closed,
        };
        self.ticker.tick(now, snap);
    }
}
