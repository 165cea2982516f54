//! The run's counters and latency histogram, merged across `--procs`
//! children, and their presentation as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use crate::hist::Histogram;
use crate::json::Value;

/// Why a request or connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// ECONNREFUSED: nothing listening, or the accept backlog overflowed.
    Refused,
    /// ECONNRESET / EPIPE / ECONNABORTED.
    Reset,
    /// EADDRNOTAVAIL / EADDRINUSE: out of local (ephemeral) ports.
    OutOfPorts,
    /// No connection or no complete response within `--timeout`.
    Timeout,
    /// The server closed before the response was complete.
    UnexpectedClose,
    /// A malformed response, an extra one, or a body unlike `--expect-body`.
    BadResponse,
    /// EMFILE / ENFILE / ENOBUFS / ENOMEM: out of descriptors or memory.
    NoDescriptors,
    /// Anything else.
    Other,
}

/// Every kind with its JSON key and its text label.
const KINDS: [(ErrorKind, &str, &str); 8] = [
    (ErrorKind::Refused, "refused", "refused"),
    (ErrorKind::Reset, "reset", "reset"),
    (
        ErrorKind::OutOfPorts,
        "out_of_local_ports",
        "out of local ports",
    ),
    (ErrorKind::Timeout, "timeout", "timeout"),
    (
        ErrorKind::UnexpectedClose,
        "unexpected_close",
        "unexpected close",
    ),
    (ErrorKind::BadResponse, "bad_response", "bad response"),
    (
        ErrorKind::NoDescriptors,
        "no_descriptors",
        "out of descriptors",
    ),
    (ErrorKind::Other, "other", "other"),
];

impl ErrorKind {
    /// The kind of a socket error.
    pub fn of(e: &io::Error) -> ErrorKind {
        match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => ErrorKind::Refused,
            Some(libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED) => ErrorKind::Reset,
            Some(libc::EADDRNOTAVAIL | libc::EADDRINUSE) => ErrorKind::OutOfPorts,
            Some(libc::ETIMEDOUT) => ErrorKind::Timeout,
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                ErrorKind::NoDescriptors
            }
            _ => ErrorKind::Other,
        }
    }

    fn slot(self) -> usize {
        KINDS.iter().position(|(k, _, _)| *k == self).unwrap_or(7)
    }
}

/// One held connection (hold mode): when its response arrived (it went
/// idle) and when the server closed it, in microseconds since the start.
#[derive(Clone, Copy, Debug)]
pub struct HoldRecord {
    /// Went idle (response complete).
    pub open_us: u64,
    /// Closed by the server (EOF or RST seen while idle).
    pub close_us: Option<u64>,
    /// The close was an RST.
    pub reset: bool,
}

/// What hold mode found, computed from the records.
pub struct HoldSummary {
    /// Connections that got their response and went idle.
    pub held: usize,
    /// When the last of them went idle (seconds since the start).
    pub all_open_s: f64,
    /// Of those, closed by the server.
    pub closed: usize,
    /// Closed with an RST.
    pub closed_reset: usize,
    /// The closed ones are exactly the oldest, closed in opening order.
    pub oldest_first: bool,
    /// The closed ones are the oldest (whatever the order of closing).
    pub closed_are_oldest: bool,
    /// Closed connections that are not among the `closed` oldest.
    pub newer_closed: usize,
    /// Neighbouring closes (by time) whose opening order is reversed.
    pub order_inversions: usize,
    /// First and last close, seconds since the start.
    pub first_close_s: Option<f64>,
    /// See `first_close_s`.
    pub last_close_s: Option<f64>,
    /// The closed connections: (opening index, opened s, closed s), by close time.
    pub closes: Vec<(usize, f64, f64)>,
}

/// The counters of a run.
#[derive(Clone, Default)]
pub struct Report {
    /// The mode's name.
    pub mode: String,
    /// Pipeline depth (1 otherwise).
    pub depth: usize,
    /// The target address.
    pub target: String,
    /// Method and path, `GET /`.
    pub request: String,
    /// `-c`.
    pub concurrency: usize,
    /// `--procs`.
    pub procs: usize,
    /// `--rate`.
    pub rate: Option<f64>,
    /// From the start to the last response (seconds).
    pub elapsed_s: f64,
    /// Requests written.
    pub sent: u64,
    /// Complete, well-formed responses.
    pub responses: u64,
    /// Connections established.
    pub connections: u64,
    /// Connections attempted.
    pub connect_attempts: u64,
    /// The most connections open at once.
    pub peak_open: u64,
    /// Keep-alive connections the server ended (Connection: close, or a
    /// close while idle) and that were replaced.
    pub server_closes: u64,
    /// Requests pipelined after a `Connection: close` response that the
    /// server never answered, made again on a new connection.
    pub retried: u64,
    /// Open loop: requests due but never sent when the time was up.
    pub unsent: u64,
    /// The run stopped at the time limit before `-n` requests were made.
    pub stopped_by_time: bool,
    /// Bytes received and sent.
    pub bytes_read: u64,
    /// See `bytes_read`.
    pub bytes_written: u64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures by kind (see [`ErrorKind`]).
    pub errors: [u64; 8],
    /// Response latency in microseconds.
    pub latency: Histogram,
    /// TIME_WAIT sockets before and after (/proc/net/sockstat).
    pub time_wait_before: Option<u64>,
    /// See `time_wait_before`.
    pub time_wait_after: Option<u64>,
    /// Hold mode: one record per connection that went idle.
    pub hold: Vec<HoldRecord>,
}

/// `tw` and `inuse` of the `TCP:` line of /proc/net/sockstat.
pub fn sockstat_tcp() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str| {
        let i = words.iter().position(|w| *w == name)?;
        words.get(i + 1)?.parse::<u64>().ok()
    };
    Some((field("tw")?, field("inuse")?))
}

/// Sockets in TIME_WAIT now.
pub fn time_wait() -> Option<u64> {
    sockstat_tcp().map(|(tw, _)| tw)
}

impl Report {
    /// Counts a failure.
    pub fn error(&mut self, kind: ErrorKind) {
        self.errors[kind.slot()] += 1;
    }

    /// Failures of one kind.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.slot()]
    }

    /// All failures.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Adds a child's counters to this report (`--procs`).
    pub fn merge(&mut self, other: &Report) {
        self.elapsed_s = self.elapsed_s.max(other.elapsed_s);
        self.sent += other.sent;
        self.responses += other.responses;
        self.connections += other.connections;
        self.connect_attempts += other.connect_attempts;
        self.peak_open += other.peak_open;
        self.server_closes += other.server_closes;
        self.retried += other.retried;
        self.unsent += other.unsent;
        self.stopped_by_time |= other.stopped_by_time;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        for (code, n) in &other.statuses {
            *self.statuses.entry(*code).or_default() += n;
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.latency.merge(&other.latency);
        self.hold.extend_from_slice(&other.hold);
    }

    fn per_second(&self, n: u64) -> f64 {
        if self.elapsed_s > 0.0 {
            n as f64 / self.elapsed_s
        } else {
            0.0
        }
    }

    /// Hold mode's findings (None in other modes).
    pub fn hold_summary(&self) -> Option<HoldSummary> {
        if self.mode != "hold" {
            return None;
        }
        let mut order: Vec<&HoldRecord> = self.hold.iter().collect();
        order.sort_by_key(|r| r.open_us);
        let held = order.len();
        let mut closed: Vec<(usize, &HoldRecord)> = order
            .iter()
            .enumerate()
            .filter(|(_, r)| r.close_us.is_some())
            .map(|(i, r)| (i, *r))
            .collect();
        closed.sort_by_key(|(i, r)| (r.close_us, *i));
        let n = closed.len();
        let newer_closed = closed.iter().filter(|(i, _)| *i >= n).count();
        let order_inversions = closed.windows(2).filter(|w| w[0].0 > w[1].0).count();
        let secs = |us: u64| us as f64 / 1e6;
        Some(HoldSummary {
            held,
            all_open_s: order.last().map_or(0.0, |r| secs(r.open_us)),
            closed: n,
            closed_reset: closed.iter().filter(|(_, r)| r.reset).count(),
            oldest_first: newer_closed == 0 && order_inversions == 0,
            closed_are_oldest: newer_closed == 0,
            newer_closed,
            order_inversions,
            first_close_s: closed.first().and_then(|(_, r)| r.close_us).map(secs),
            last_close_s: closed.last().and_then(|(_, r)| r.close_us).map(secs),
            closes: closed
                .iter()
                .map(|(i, r)| (*i, secs(r.open_us), secs(r.close_us.unwrap_or(0))))
                .collect(),
        })
    }

    /// The report as JSON; `internal` adds what a parent needs to merge
    /// (every hold record) and leaves out the derived figures.
    pub fn to_json(&self, internal: bool) -> Value {
        let mut v = Value::object();
        v.set("mode", self.mode.as_str())
            .set("pipeline_depth", self.depth)
            .set("target", self.target.as_str())
            .set("request", self.request.as_str())
            .set("concurrency", self.concurrency)
            .set("procs", self.procs)
            .set("rate", self.rate)
            .set("elapsed_s", round3(self.elapsed_s))
            .set("requests_sent", self.sent)
            .set("responses", self.responses)
            .set("requests_per_s", round3(self.per_second(self.responses)))
            .set("connections_opened", self.connections)
            .set("connect_attempts", self.connect_attempts)
            .set(
                "connections_per_s",
                round3(self.per_second(self.connections)),
            )
            .set("peak_open_connections", self.peak_open)
            .set("server_closes", self.server_closes)
            .set("retried", self.retried)
            .set("unsent", self.unsent)
            .set("stopped_by_time", self.stopped_by_time)
            .set("bytes_read", self.bytes_read)
            .set("bytes_written", self.bytes_written);
        let h = &self.latency;
        let mut lat = Value::object();
        lat.set("count", h.count())
            .set("min", h.min())
            .set("mean", round3(h.mean()))
            .set("p50", h.percentile(50.0))
            .set("p90", h.percentile(90.0))
            .set("p99", h.percentile(99.0))
            .set("p99_9", h.percentile(99.9))
            .set("max", h.max());
        v.set("latency_us", lat);
        let mut st = Value::object();
        for (code, n) in &self.statuses {
            st.set(&code.to_string(), *n);
        }
        v.set("status", st);
        let mut errs = Value::object();
        for (kind, key, _) in KINDS {
            errs.set(key, self.errors_of(kind));
        }
        errs.set("total", self.total_errors());
        v.set("errors", errs);
        let mut tw = Value::object();
        tw.set("before", self.time_wait_before)
            .set("after", self.time_wait_after);
        v.set("time_wait", tw);
        if let Some(s) = self.hold_summary()
            && !internal
        {
            let mut hv = Value::object();
            hv.set("held", s.held)
                .set("all_open_s", round3(s.all_open_s))
                .set("closed", s.closed)
                .set("kept", s.held - s.closed)
                .set("closed_reset", s.closed_reset)
                .set("oldest_first", s.oldest_first)
                .set("closed_are_oldest", s.closed_are_oldest)
                .set("newer_closed", s.newer_closed)
                .set("order_inversions", s.order_inversions)
                .set("first_close_s", s.first_close_s.map(round3))
                .set("last_close_s", s.last_close_s.map(round3));
            let closes: Vec<Value> = s
                .closes
                .iter()
                .map(|&(i, o, c)| Value::Array(vec![i.into(), round6(o).into(), round6(c).into()]))
                .collect();
            hv.set("closes", closes);
            v.set("hold", hv);
        }
        if internal {
            let records: Vec<Value> = self
                .hold
                .iter()
                .map(|r| {
                    let close = r.close_us.map_or(-1, |c| c as i64);
                    Value::Array(vec![r.open_us.into(), close.into(), r.reset.into()])
                })
                .collect();
            v.set("hold_records", records);
        }
        let buckets: Vec<Value> = h
            .buckets()
            .into_iter()
            .map(|(i, c)| Value::Array(vec![i.into(), c.into()]))
            .collect();
        let mut hist = Value::object();
        hist.set("sum_us", h.sum()).set("buckets", buckets);
        v.set("histogram", hist);
        v
    }

    /// Reads back a child's [`Report::to_json`] (`internal`).
    pub fn from_json(v: &Value) -> Result<Report, String> {
        let mut r = Report {
            mode: v.get("mode").and_then(Value::as_str).unwrap_or("").into(),
            depth: v.u64_at("pipeline_depth") as usize,
            target: v.get("target").and_then(Value::as_str).unwrap_or("").into(),
            request: v
                .get("request")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            concurrency: v.u64_at("concurrency") as usize,
            procs: v.u64_at("procs") as usize,
            rate: v.get("rate").and_then(Value::as_f64),
            elapsed_s: v.get("elapsed_s").and_then(Value::as_f64).unwrap_or(0.0),
            sent: v.u64_at("requests_sent"),
            responses: v.u64_at("responses"),
            connections: v.u64_at("connections_opened"),
            connect_attempts: v.u64_at("connect_attempts"),
            peak_open: v.u64_at("peak_open_connections"),
            server_closes: v.u64_at("server_closes"),
            retried: v.u64_at("retried"),
            unsent: v.u64_at("unsent"),
            stopped_by_time: v
                .get("stopped_by_time")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            bytes_read: v.u64_at("bytes_read"),
            bytes_written: v.u64_at("bytes_written"),
            ..Report::default()
        };
        if let Some(Value::Object(st)) = v.get("status") {
            for (code, n) in st {
                let code = code.parse().map_err(|_| format!("bad status {code:?}"))?;
                r.statuses.insert(code, n.as_u64().unwrap_or(0));
            }
        }
        let errs = v.get("errors").ok_or("no errors")?;
        for (kind, key, _) in KINDS {
            r.errors[kind.slot()] = errs.u64_at(key);
        }
        let lat = v.get("latency_us").ok_or("no latency_us")?;
        let hist = v.get("histogram").ok_or("no histogram")?;
        let mut buckets = Vec::new();
        for b in hist.get("buckets").and_then(Value::as_array).unwrap_or(&[]) {
            let pair = b.as_array().unwrap_or(&[]);
            match (
                pair.first().and_then(Value::as_u64),
                pair.get(1).and_then(Value::as_u64),
            ) {
                (Some(i), Some(c)) => buckets.push((i as usize, c)),
                _ => return Err("bad histogram bucket".into()),
            }
        }
        r.latency = Histogram::from_parts(
            &buckets,
            hist.u64_at("sum_us"),
            lat.u64_at("min"),
            lat.u64_at("max"),
        )
        .ok_or("histogram bucket out of range")?;
        for rec in v
            .get("hold_records")
            .and_then(Value::as_array)
            .unwrap_or(&[])
        {
            let f = rec.as_array().unwrap_or(&[]);
            let open_us = f.first().and_then(Value::as_u64).ok_or("bad hold record")?;
            let close_us = f.get(1).and_then(Value::as_u64);
            let reset = f.get(2).and_then(Value::as_bool).unwrap_or(false);
            r.hold.push(HoldRecord {
                open_us,
                close_us,
                reset,
            });
        }
        Ok(r)
    }

    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let depth = if self.depth > 1 {
            format!(" {}", self.depth)
        } else {
            String::new()
        };
        let rate = self
            .rate
            .map(|r| format!(", open loop at {r} req/s"))
            .unwrap_or_default();
        let procs = if self.procs > 1 {
            format!(" in {} processes", self.procs)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "holdfast-load {}{depth}: {} on {}, {} connection{}{procs}{rate}, {:.2} s",
            self.mode,
            self.request,
            self.target,
            self.concurrency,
            if self.concurrency == 1 { "" } else { "s" },
            self.elapsed_s
        );
        let _ = writeln!(
            s,
            "  requests     {} responses of {} sent, {:.1} req/s{}",
            self.responses,
            self.sent,
            self.per_second(self.responses),
            if self.stopped_by_time {
                " (stopped at the time limit)"
            } else {
                ""
            }
        );
        if self.retried > 0 {
            let _ = writeln!(
                s,
                "  retried      {} requests pipelined after a `Connection: close` response",
                self.retried
            );
        }
        if self.unsent > 0 {
            let _ = writeln!(
                s,
                "  unsent       {} requests were due but not sent when the time was up",
                self.unsent
            );
        }
        let _ = writeln!(
            s,
            "  connections  {} opened ({:.1}/s), {} attempted, {} open at most, {} ended by the server",
            self.connections,
            self.per_second(self.connections),
            self.connect_attempts,
            self.peak_open,
            self.server_closes
        );
        let h = &self.latency;
        if h.count() > 0 {
            let _ = writeln!(
                s,
                "  latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {}, {} samples)",
                micros(h.percentile(50.0)),
                micros(h.percentile(90.0)),
                micros(h.percentile(99.0)),
                micros(h.percentile(99.9)),
                micros(h.max()),
                micros(h.mean().round() as u64),
                h.count()
            );
        }
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        if !statuses.is_empty() {
            let _ = writeln!(s, "  status       {}", statuses.join(", "));
        }
        let errs: Vec<String> = KINDS
            .iter()
            .filter(|(k, _, _)| self.errors_of(*k) > 0)
            .map(|(k, _, label)| format!("{label} {}", self.errors_of(*k)))
            .collect();
        let _ = writeln!(
            s,
            "  errors       {}",
            if errs.is_empty() {
                "none".to_string()
            } else {
                format!("{} ({})", self.total_errors(), errs.join(", "))
            }
        );
        let _ = writeln!(
            s,
            "  transfer     {} read, {} written",
            bytes(self.bytes_read),
            bytes(self.bytes_written)
        );
        let show = |v: Option<u64>| v.map_or("?".to_string(), |n| n.to_string());
        let _ = writeln!(
            s,
            "  TIME_WAIT    {} before, {} after",
            show(self.time_wait_before),
            show(self.time_wait_after)
        );
        if let Some(h) = self.hold_summary() {
            let yes = |b: bool| if b { "yes" } else { "no" };
            let _ = write!(
                s,
                "  hold         {} held (all open at {:.3} s), {} kept, closed {} of {} ({} by RST), \
                 oldest first: {}",
                h.held,
                h.all_open_s,
                h.held - h.closed,
                h.closed,
                h.held,
                h.closed_reset,
                yes(h.oldest_first)
            );
            if !h.oldest_first && h.closed > 0 {
                let _ = write!(
                    s,
                    " ({} of the closed were not among the oldest, {} closed out of order)",
                    h.newer_closed, h.order_inversions
                );
            }
            if let (Some(first), Some(last)) = (h.first_close_s, h.last_close_s) {
                let _ = write!(s, ", first close at {first:.3} s, last at {last:.3} s");
            }
            s.push('\n');
        }
        s
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// `850 µs`, `1.25 ms`, `2.300 s`.
pub fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{:.3} s", us as f64 / 1e6)
    }
}

/// `512 B`, `1.5 KiB`, `3.2 MiB`.
fn bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.1} KiB", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", f / (1024.0 * 1024.0))
    } else {
        format!("{:.2} GiB", f / (1024.0 * 1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_merge() {
        let mut a = Report {
            mode: "hold".into(),
            ..Report::default()
        };
        a.responses = 3;
        a.latency.record(100);
        a.statuses.insert(200, 3);
        a.error(ErrorKind::Refused);
        a.hold.push(HoldRecord {
            open_us: 10,
            close_us: Some(50),
            reset: false,
        });
        a.hold.push(HoldRecord {
            open_us: 20,
            close_us: None,
            reset: false,
        });
        let text = a.to_json(true).to_compact();
        let b = Report::from_json(&Value::parse(&text).unwrap()).unwrap();
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m.responses, 6);
        assert_eq!(m.errors_of(ErrorKind::Refused), 2);
        assert_eq!(m.statuses[&200], 6);
        assert_eq!(m.latency.count(), 2);
        let h = m.hold_summary().unwrap();
        assert_eq!((h.held, h.closed), (4, 2));
        assert!(h.oldest_first);
    }
}
