//! The `http_connection` target: one client connection driven through the
//! whole HTTP state machine over an in-memory stream, without sockets.
//!
//! Input: an 8-byte header, then the bytes the client sends.
//!
//! | byte | meaning |
//! |---|---|
//! | 0 | configuration variant (see [`config_text`]) |
//! | 1 | bits 0-2: bytes accepted per write call (see [`WRITE_LIMITS`]); bits 3-4: how the client ends (EOF, reset, silence); bit 5: `listen ... deferred` (data with the accept) |
//! | 2 | write calls allowed per writability event (0: never blocks) |
//! | 3 | longest chunk the stream is cut into (0: one chunk) |
//! | 4, 5 | seed of the chunk lengths and of the events between chunks |
//! | 6 | bits 0-2: odds of a writability event between chunks; bits 3-5: odds of time passing (timers fire); bits 6-7: odds of a graceful shutdown |
//! | 7 | bits 0-2: how far time jumps (see [`TIME_STEPS`]) |
//!
//! Each chunk is one readable event (pushed to the stream, `read.ready`
//! set, read handler, posted queue), as the event loop does; a blocked write
//! side is made writable again (a fresh write budget, `write.ready`, write
//! handler) and timers fire as the event loop fires them. At the end the
//! write side is unblocked for good, the client closes (or resets, or goes
//! silent) and time passes until the connection is gone.
//!
//! Invariants, checked after every event:
//! - no panic (overflow checks and debug assertions are on);
//! - responses only for complete request heads: final status lines in the
//!   output never outnumber the head terminators (`\n\n`, `\n\r\n`) the
//!   client has sent, but for one last `Connection: close` error response
//!   (400/414/494/505 to a head that never completed);
//! - the output is a well-formed sequence of responses (status line, header
//!   lines without control bytes, `Content-Length` framing) and nothing
//!   follows a `Connection: close` response;
//! - the header buffer stays within `large_client_header_buffers` (num ×
//!   size, or `client_header_buffer_size` when larger), and queued output
//!   within the pipelining batch plus one response;
//! - the stub_status counters match the connection's state (one active; one
//!   of reading/writing while a request exists; waiting while reusable), the
//!   pool lends exactly the connection's header buffer, and every armed timer
//!   is one of the connection's;
//! - no stall: a live connection with nothing posted has a timer armed;
//!   output queued means the write handler is waiting for the socket; unread
//!   input means `read.ready` is still set (edge-triggered readiness is not
//!   lost); keep-alive and lingering connections hold no buffers;
//! - after the close: the socket was dropped, every counter is back to 0, no
//!   timer is left, the pool has every buffer back, the reusable queue is
//!   empty.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use holdfast::conf::Config;
use holdfast::core::connection::{EvKind, NIL, ReadHandler, WriteHandler};
use holdfast::core::cycle::Cycle;
use holdfast::event::accept::listening_from_conf;
use holdfast::http::request::{self, Stage};
use holdfast::http::{run_read_handler, run_write_handler};
use holdfast::os::io::Transport;

/// Length of the control header before the client's bytes.
pub const HEADER_LEN: usize = 8;

/// Bytes accepted per write call, by `byte 1 & 7` (0: unlimited).
pub const WRITE_LIMITS: [usize; 8] = [0, 0, 1, 7, 64, 999, 4096, 20_000];

/// How far time jumps when timers are made to fire, by `byte 7 & 7` (ms).
pub const TIME_STEPS: [u64; 8] = [1, 299, 1_000, 2_001, 5_000, 30_000, 61_000, 3_600_000];

/// Queued output beyond this is a leak: the pipelining batch (64k), one more
/// response with a small file (32k) and its header.
pub const OUT_LIMIT: usize = 64 * 1024 + 32 * 1024 + 16 * 1024;

/// The client's side of the connection, shared between the harness and the
/// [`FuzzStream`] the server owns, so the output survives the close.
#[derive(Debug, Default)]
pub struct Wire {
    /// Bytes sent by the client and not yet read by the server.
    pub input: VecDeque<u8>,
    /// The client closed its side: reads return 0 once `input` is empty.
    pub eof: bool,
    /// The client reset the connection: reads fail once `input` is empty.
    pub reset_by_peer: bool,
    /// Everything the server wrote.
    pub output: Vec<u8>,
    /// Bytes accepted per write call (0 = unlimited).
    pub write_limit: usize,
    /// Write calls left before writes return EAGAIN (None = never block).
    pub write_budget: Option<usize>,
    /// `shutdown(SHUT_WR)` was called.
    pub write_shut: bool,
    /// SO_LINGER {on, 0} was set.
    pub linger_zero: bool,
    /// The server dropped the stream (closed the socket).
    pub dropped: bool,
}

/// An in-memory socket: like `holdfast::os::io::MemStream`, but a read
/// returns everything available (so a short read means drained, as with a
/// real socket under EPOLLET), and its state lives in a shared [`Wire`].
#[derive(Debug)]
pub struct FuzzStream(pub Rc<RefCell<Wire>>);

impl Drop for FuzzStream {
    fn drop(&mut self) {
        self.0.borrow_mut().dropped = true;
    }
}

impl Wire {
    fn accept_write(&mut self) -> io::Result<usize> {
        if self.write_shut {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        if let Some(n) = self.write_budget.as_mut() {
            if *n == 0 {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            *n -= 1;
        }
        Ok(if self.write_limit == 0 {
            usize::MAX
        } else {
            self.write_limit
        })
    }
}

impl Transport for FuzzStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut w = self.0.borrow_mut();
        if w.input.is_empty() {
            return if w.reset_by_peer {
                Err(io::Error::from(io::ErrorKind::ConnectionReset))
            } else if w.eof {
                Ok(0)
            } else {
                Err(io::Error::from(io::ErrorKind::WouldBlock))
            };
        }
        let n = buf.len().min(w.input.len());
        for (dst, src) in buf.iter_mut().zip(w.input.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }

    fn writev(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut w = self.0.borrow_mut();
        let mut room = w.accept_write()?;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(room);
            w.output.extend_from_slice(&b[..take]);
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
        let mut w = self.0.borrow_mut();
        let room = w.accept_write()?;
        let mut tmp = vec![0; len.min(room).min(1 << 20)];
        let n = file.read_at(&mut tmp, offset)?;
        w.output.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn set_nodelay(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn set_cork(&mut self, _on: bool) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.0.borrow_mut().write_shut = true;
        Ok(())
    }

    fn set_linger_zero(&mut self) -> io::Result<()> {
        self.0.borrow_mut().linger_zero = true;
        Ok(())
    }

    fn fd(&self) -> i32 {
        -1
    }
}

/// The document root the configurations serve: a few small files, one
/// larger than holdfast's small-file limit (sent with sendfile), a directory
/// with an index and one without. No file contains `HTTP/1.1`.
pub fn doc_root() -> PathBuf {
    thread_local! {
        static ROOT: PathBuf = make_doc_root();
    }
    ROOT.with(Clone::clone)
}

fn make_doc_root() -> PathBuf {
    // One directory for every process (fuzz jobs, test runs): files are
    // written once, atomically, and never rewritten while served.
    let root = std::env::temp_dir().join("holdfast-fuzz-root");
    let _ = std::fs::create_dir_all(root.join("dir"));
    let _ = std::fs::create_dir_all(root.join("empty"));
    let files = [
        ("index.html", "<html>index</html>\n".to_string()),
        ("dir/index.html", "<html>dir</html>\n".to_string()),
        ("f.txt", "x".repeat(1000)),
        ("big.bin", "b".repeat(32 * 1024 + 7)),
    ];
    for (name, text) in files {
        let path = root.join(name);
        if std::fs::read(&path).is_ok_and(|b| b == text.as_bytes()) {
            continue;
        }
        let tmp = root.join(format!(".tmp-{}", std::process::id()));
        if std::fs::write(&tmp, &text).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    root
}

/// The configuration for variant `v` (byte 0 of the input).
///
/// - bits 0-1: header buffers: default (1k, 4 8k); 64, 2 128; 16, 4 112 (each with a connection_pool_size no larger, as nginx requires);
///   200, 3 256;
/// - bits 2-3: keep-alive: 75s; off; 1s with 3 requests; 75s with a
///   `Keep-Alive` header and `keepalive_disable safari`;
/// - bits 4-5: client_max_body_size: 1m; 0 (no limit); 16; 1k;
/// - bits 6-7: lingering_close on; off; always; on with
///   reset_timedout_connection.
pub fn config_text(v: u8, root: &Path) -> String {
    let headers = match v & 3 {
        0 => "",
        1 => {
            "client_header_buffer_size 64; large_client_header_buffers 2 128; connection_pool_size 128;"
        }
        2 => {
            "client_header_buffer_size 16; large_client_header_buffers 4 112; connection_pool_size 112;"
        }
        _ => {
            "client_header_buffer_size 200; large_client_header_buffers 3 256; connection_pool_size 256;"
        }
    };
    let keepalive = match (v >> 2) & 3 {
        0 => "keepalive_timeout 75s;",
        1 => "keepalive_timeout 0;",
        2 => "keepalive_timeout 1s; keepalive_requests 3;",
        _ => "keepalive_timeout 75s 60; keepalive_disable msie6 safari;",
    };
    let body = match (v >> 4) & 3 {
        0 => "client_max_body_size 1m;",
        1 => "client_max_body_size 0;",
        2 => "client_max_body_size 16;",
        _ => "client_max_body_size 1k;",
    };
    let lingering = match (v >> 6) & 3 {
        0 => "lingering_close on;",
        1 => "lingering_close off;",
        2 => "lingering_close always;",
        _ => "lingering_close on; reset_timedout_connection on;",
    };
    format!(
        "events {{ worker_connections 16; }}
http {{
    {headers} {keepalive} {body} {lingering}
    client_header_timeout 10s; client_body_timeout 10s; send_timeout 10s;
    lingering_time 20s; lingering_timeout 3s; keepalive_time 1h;
    log_format fz escape=json '$remote_addr $request \"$request_uri\" $uri $args $status '
        '$body_bytes_sent $bytes_sent $request_length $pipe $host $http_user_agent '
        '$http_x_forwarded_for $connection_requests $connections_active';
    access_log /dev/null fz;
    server {{
        listen 127.0.0.1:8080;
        server_name a.example .b.example;
        root {root};
        location = /a {{ return 200 \"A\"; }}
        location = /b {{ return 200 \"BB\"; }}
        location /r {{ return 302 /a; }}
        location = /e {{ return 404; }}
        location = /c {{ return 444; }}
        location = /s {{ stub_status; }}
        location /h {{ add_header X-U $request_uri always; add_header X-H $host; return 204; }}
        location = /ka0 {{ keepalive_timeout 0; return 200 \"z\"; }}
        location /nb {{ client_max_body_size 4; return 200 \"nb\"; }}
    }}
    server {{
        listen 127.0.0.1:8080;
        server_name other.example;
        server_tokens off;
        location / {{ return 200 \"other\"; }}
    }}
}}
",
        root = root.display()
    )
}

/// The parsed configuration of variant `v` (parsed once per process).
pub fn variant_config(v: u8) -> Rc<Config> {
    thread_local! {
        static CONFS: RefCell<Vec<Option<Rc<Config>>>> = RefCell::new(vec![None; 256]);
    }
    CONFS.with(|c| {
        let mut confs = c.borrow_mut();
        confs[usize::from(v)]
            .get_or_insert_with(|| {
                let text = config_text(v, &doc_root());
                let conf = Config::from_str(
                    &text,
                    Path::new("/tmp/holdfast-fuzz.conf"),
                    Path::new("/tmp"),
                )
                .unwrap_or_else(|e| panic!("fuzz config variant {v}: {e}"));
                Rc::new(conf)
            })
            .clone()
    })
}

/// How the client ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Closes its side (read returns 0).
    Eof,
    /// Resets (read fails with ECONNRESET).
    Reset,
    /// Stays silent: only timers end the connection.
    Silent,
}

/// The decoded control header.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Configuration variant.
    pub variant: u8,
    /// Bytes per write call (0 = unlimited).
    pub write_limit: usize,
    /// Write calls per writability event (None = never blocks).
    pub write_budget: Option<usize>,
    /// How the client ends.
    pub end: End,
    /// Data comes with the accept (`listen ... deferred`).
    pub deferred: bool,
    /// Longest chunk (0 = the whole stream at once).
    pub max_chunk: usize,
    /// Seed of the generator.
    pub seed: u32,
    /// Odds of a writability event between chunks, in eighths.
    pub writable_odds: u32,
    /// Odds of timers firing between chunks, in eighths.
    pub timer_odds: u32,
    /// Odds of a graceful shutdown between chunks, in 64ths.
    pub shutdown_odds: u32,
    /// How far time jumps.
    pub time_step: u64,
}

impl Plan {
    /// Splits a fuzz input into the plan and the client's bytes.
    pub fn parse(data: &[u8]) -> Option<(Plan, &[u8])> {
        if data.len() < HEADER_LEN {
            return None;
        }
        let (h, stream) = data.split_at(HEADER_LEN);
        let end = match (h[1] >> 3) & 3 {
            0 | 3 => End::Eof,
            1 => End::Reset,
            _ => End::Silent,
        };
        let plan = Plan {
            variant: h[0],
            write_limit: WRITE_LIMITS[usize::from(h[1] & 7)],
            write_budget: (h[2] != 0).then(|| usize::from(h[2] - 1) % 8),
            end,
            deferred: h[1] & 0x20 != 0,
            max_chunk: usize::from(h[3]),
            seed: ((u32::from(h[4]) << 8) | u32::from(h[5])).wrapping_mul(0x9e37_79b9) | 1,
            writable_odds: u32::from(h[6] & 7),
            timer_odds: u32::from((h[6] >> 3) & 7),
            shutdown_odds: u32::from(h[6] >> 6),
            time_step: TIME_STEPS[usize::from(h[7] & 7)],
        };
        Some((plan, stream))
    }
}

/// A small deterministic generator (xorshift32).
#[derive(Debug)]
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// One response seen in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// It said `Connection: close`.
    pub close: bool,
}

/// Parses the output incrementally as a sequence of responses.
#[derive(Debug, Default)]
pub struct ResponseChecker {
    /// Output bytes parsed into complete responses.
    pos: usize,
    /// Complete final (non-1xx) responses, in order.
    pub done: Vec<Resp>,
    /// The response after them has started: its head, when complete.
    pub tail: Option<Option<Resp>>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

const STATUS_PREFIX: &[u8] = b"HTTP/1.1 ";

impl ResponseChecker {
    /// Final responses started so far (complete or not).
    pub fn started(&self) -> usize {
        self.done.len() + usize::from(self.tail.is_some())
    }

    /// The head of the `i`th final response, when known.
    pub fn head(&self, i: usize) -> Option<Resp> {
        match self.done.get(i) {
            Some(r) => Some(*r),
            None if i == self.done.len() => self.tail.flatten(),
            None => None,
        }
    }

    /// Parses what was added to `out` since the last call.
    pub fn advance(&mut self, out: &[u8]) -> Result<(), String> {
        self.tail = None;
        loop {
            let rest = &out[self.pos..];
            if rest.is_empty() {
                return Ok(());
            }
            if self.done.last().is_some_and(|r| r.close) {
                return Err(format!(
                    "{} bytes after a `Connection: close` response",
                    rest.len()
                ));
            }
            if rest.len() < STATUS_PREFIX.len() {
                if STATUS_PREFIX.starts_with(rest) {
                    self.tail = Some(None);
                    return Ok(());
                }
                return Err(format!("garbage between responses: {:?}", show(rest)));
            }
            if !rest.starts_with(STATUS_PREFIX) {
                return Err(format!("garbage between responses: {:?}", show(rest)));
            }
            let interim = rest.get(9) == Some(&b'1');
            let Some(end) = find(rest, b"\r\n\r\n") else {
                check_partial_head(rest)?;
                if !interim {
                    self.tail = Some(None);
                }
                return Ok(());
            };
            let head = parse_head(&rest[..end + 2])?;
            let body_at = end + 4;
            if head.status < 200 {
                if head.status != 100 {
                    return Err(format!("interim status {}", head.status));
                }
                self.pos += body_at;
                continue;
            }
            let resp = Resp {
                status: head.status,
                close: head.close,
            };
            let body_len = if matches!(head.status, 204 | 304) {
                0
            } else {
                match head.content_length {
                    Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
                    None if head.close => rest.len() - body_at,
                    None => {
                        return Err(format!(
                            "keep-alive response {} without Content-Length",
                            head.status
                        ));
                    }
                }
            };
            let after = &rest[body_at..];
            if !after.is_empty()
                && after.len() < STATUS_PREFIX.len()
                && STATUS_PREFIX.starts_with(after)
            {
                // Either a body that begins like a status line or the start
                // of the next response after a HEAD answer: undecided until
                // more output arrives.
                self.tail = Some(Some(resp));
                return Ok(());
            }
            let consumed = if body_len == 0 || after.starts_with(STATUS_PREFIX) {
                // No body, or a response to HEAD (no body of ours starts
                // with a status line).
                body_at
            } else if after.len() < body_len {
                self.tail = Some(Some(resp));
                return Ok(());
            } else {
                body_at + body_len
            };
            self.pos += consumed;
            self.done.push(resp);
        }
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}

struct Head {
    status: u16,
    close: bool,
    content_length: Option<u64>,
}

fn check_status_line(line: &[u8]) -> Result<u16, String> {
    let ok = line.len() >= 13
        && line[9..12].iter().all(u8::is_ascii_digit)
        && line[12] == b' '
        && line[13..]
            .iter()
            .all(|&b| b == b' ' || b.is_ascii_graphic());
    if !ok {
        return Err(format!("bad status line {:?}", show(line)));
    }
    Ok(line[9..12]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0')))
}

fn check_header_line(line: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(format!("header line without a colon {:?}", show(line)));
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() || !name.iter().all(tchar) {
        return Err(format!("bad header name {:?}", show(line)));
    }
    let value = value.strip_prefix(b" ").unwrap_or(value);
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!("control byte in header value {:?}", show(line)));
    }
    Ok((name, value))
}

/// Checks the lines of a head still being written (all but the last one,
/// which may be cut).
fn check_partial_head(rest: &[u8]) -> Result<(), String> {
    let mut lines = rest.split(|&b| b == b'\n');
    let Some(mut prev) = lines.next() else {
        return Ok(());
    };
    let mut first = true;
    for next in lines {
        let line = prev
            .strip_suffix(b"\r")
            .ok_or_else(|| format!("bare LF in a response head {:?}", show(rest)))?;
        if first {
            check_status_line(line)?;
            first = false;
        } else {
            check_header_line(line)?;
        }
        prev = next;
    }
    Ok(())
}

/// Parses a complete head (status line and headers, each ending in CRLF).
fn parse_head(head: &[u8]) -> Result<Head, String> {
    // Every line, the last one included, ends in CRLF.
    let body = head
        .strip_suffix(b"\n")
        .ok_or_else(|| "head without CRLF".to_string())?;
    let mut lines = body.split(|&b| b == b'\n');
    let mut h = Head {
        status: 0,
        close: false,
        content_length: None,
    };
    let mut first = true;
    for raw in &mut lines {
        let line = raw
            .strip_suffix(b"\r")
            .ok_or_else(|| format!("bare LF in a response head {:?}", show(head)))?;
        if line.contains(&b'\r') {
            return Err(format!("bare CR in a response head {:?}", show(head)));
        }
        if first {
            h.status = check_status_line(line)?;
            first = false;
            continue;
        }
        let (name, value) = check_header_line(line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            if h.content_length.is_some() {
                return Err("two Content-Length headers".into());
            }
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("bad Content-Length {:?}", show(value)))?;
            h.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"connection") {
            h.close = value.eq_ignore_ascii_case(b"close");
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err("holdfast sends no Transfer-Encoding".into());
        }
    }
    Ok(h)
}

/// Request heads the client has completed: line ends followed by an empty
/// line (`\n\n` or `\n\r\n`), counted generously (bodies included).
pub fn head_terminators(sent: &[u8]) -> usize {
    (0..sent.len())
        .filter(|&i| {
            sent[i] == b'\n'
                && (sent.get(i + 1) == Some(&b'\n')
                    || (sent.get(i + 1) == Some(&b'\r') && sent.get(i + 2) == Some(&b'\n')))
        })
        .count()
}

/// `HOLDFAST_FUZZ_TRACE=1` prints the connection's state after every event.
fn trace() -> bool {
    thread_local! {
        static TRACE: bool = std::env::var_os("HOLDFAST_FUZZ_TRACE").is_some();
    }
    TRACE.with(|t| *t)
}

/// One connection being driven.
pub struct Driver {
    /// The cycle (one listening socket, one connection).
    pub cy: Cycle<FuzzStream>,
    /// The connection's token.
    pub token: usize,
    /// The client's side.
    pub wire: Rc<RefCell<Wire>>,
    plan: Plan,
    rng: Rng,
    /// Every byte the client has sent so far.
    pub sent: Vec<u8>,
    /// Head terminators in `sent` (kept incrementally).
    terminators: usize,
    /// The output parsed so far.
    pub responses: ResponseChecker,
    /// One of our configurations: check the output, open the access logs
    /// (off for fuzzed configurations, whose bodies and log paths can be
    /// anything).
    strict_output: bool,
    /// Index of a response that came before its request head was complete.
    premature: Option<usize>,
    /// Largest header buffer allowed.
    header_max: usize,
    /// Events run so far (a bound against endless loops).
    steps: usize,
    /// Bytes of the stream already delivered with the accept.
    skip: usize,
}

/// Runs one fuzz input through the whole connection and every check.
pub fn run(data: &[u8]) {
    let Some((plan, stream)) = Plan::parse(data) else {
        return;
    };
    let conf = variant_config(plan.variant);
    if let Some(mut d) = Driver::new(conf, plan, stream, true) {
        d.feed_all(stream);
        d.finish();
    }
}

impl Driver {
    /// A cycle for `conf` with one accepted connection on its first
    /// listening socket; None when the configuration listens nowhere or has
    /// no connection slot to spare.
    pub fn new(conf: Rc<Config>, plan: Plan, stream: &[u8], strict_output: bool) -> Option<Self> {
        let listening: Vec<_> = listening_from_conf(&conf)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let default = listening
            .first()?
            .servers
            .get(listening[0].default_server)?;
        let (num, size) = default.large_client_header_buffers;
        let header_max = default
            .client_header_buffer_size
            .max(num.saturating_mul(size));
        let mut cy = Cycle::new(conf.clone(), listening);
        if strict_output {
            // Our own configurations log to /dev/null; a fuzzed one could
            // name any file, so its logs stay closed (lines are dropped).
            cy.access_logs.open_all(&conf).ok()?;
        }
        let wire = Rc::new(RefCell::new(Wire {
            write_limit: plan.write_limit,
            write_budget: plan.write_budget,
            ..Default::default()
        }));
        let addr = "192.0.2.1:5555".parse().ok()?;
        let key = holdfast::event::accept::accept_connection(
            &mut cy,
            FuzzStream(wire.clone()),
            addr,
            false,
            0,
        )?;
        let token = cy.conns[key].token(key);
        let mut d = Driver {
            cy,
            token,
            wire,
            plan,
            rng: Rng(plan.seed),
            sent: Vec::new(),
            terminators: 0,
            responses: ResponseChecker::default(),
            strict_output,
            premature: None,
            header_max,
            steps: 0,
            skip: 0,
        };
        if plan.deferred && !stream.is_empty() {
            // `listen ... deferred`: the first bytes came with the accept.
            let n = d.chunk_len(stream.len());
            d.send(&stream[..n]);
            d.cy.conns[key].read.ready = true;
            request::init_connection(&mut d.cy, key);
            d.run_posted();
            d.check("accept (deferred)");
            d.skip = n;
        } else {
            request::init_connection(&mut d.cy, key);
            d.run_posted();
            d.check("accept");
        }
        Some(d)
    }

    fn key(&self) -> Option<usize> {
        self.cy.lookup(self.token)
    }

    fn chunk_len(&mut self, left: usize) -> usize {
        let len = if self.plan.max_chunk == 0 {
            left
        } else {
            1 + self.rng.next() as usize % self.plan.max_chunk
        };
        len.min(left)
    }

    fn send(&mut self, bytes: &[u8]) {
        // Terminators that straddle the previous chunk are counted once.
        let from = self.sent.len().saturating_sub(2);
        let before = head_terminators(&self.sent[from..]);
        self.sent.extend_from_slice(bytes);
        self.terminators += head_terminators(&self.sent[from..]) - before;
        self.wire.borrow_mut().input.extend(bytes);
    }

    /// Runs the posted queue as the event loop does.
    pub fn run_posted(&mut self) {
        while let Some(ev) = self.cy.posted.pop() {
            self.steps += 1;
            assert!(self.steps < 1_000_000, "endless posted events");
            let Some(key) = self.cy.lookup(ev.token) else {
                continue;
            };
            match ev.kind {
                EvKind::Read => {
                    self.cy.conns[key].read.posted = false;
                    run_read_handler(&mut self.cy, key);
                }
                EvKind::Write => {
                    self.cy.conns[key].write.posted = false;
                    run_write_handler(&mut self.cy, key);
                }
            }
        }
    }

    /// A readable event (new data, EOF or reset arrived).
    pub fn readable(&mut self) {
        if let Some(key) = self.key() {
            self.cy.conns[key].read.ready = true;
            run_read_handler(&mut self.cy, key);
            self.run_posted();
        }
    }

    /// A writable event: the client read what was sent, the socket takes
    /// `budget` more write calls before it is full again (None: never).
    /// The handler runs even when nothing was blocked, as the event loop
    /// calls it for every event that reports EPOLLOUT.
    pub fn writable(&mut self, budget: Option<usize>) {
        self.wire.borrow_mut().write_budget = budget;
        let Some(key) = self.key() else { return };
        self.cy.conns[key].write.ready = true;
        run_write_handler(&mut self.cy, key);
        self.run_posted();
    }

    /// Time passes by `ms`; due timers fire as in the event loop.
    pub fn advance(&mut self, ms: u64) {
        self.cy.clock.advance(ms);
        let now = self.cy.clock.now_ms;
        while let Some(ev) = self.cy.timers.expire_timers(now) {
            self.steps += 1;
            let Some(key) = self.cy.lookup(ev.token) else {
                continue;
            };
            let c = &mut self.cy.conns[key];
            match ev.kind {
                EvKind::Read => {
                    c.read.timer = None;
                    c.read.timedout = true;
                    run_read_handler(&mut self.cy, key);
                }
                EvKind::Write => {
                    c.write.timer = None;
                    c.write.timedout = true;
                    run_write_handler(&mut self.cy, key);
                }
            }
            if let Some(key) = self.cy.lookup(ev.token) {
                let c = &mut self.cy.conns[key];
                match ev.kind {
                    EvKind::Read => c.read.timedout = false,
                    EvKind::Write => c.write.timedout = false,
                }
            }
        }
        self.run_posted();
    }

    /// Graceful shutdown: idle connections close, the rest answer with
    /// `Connection: close`.
    pub fn shutdown(&mut self) {
        self.cy.exiting = true;
        self.cy.close_idle_connections();
        self.run_posted();
    }

    /// Delivers the stream chunk by chunk, with events in between.
    pub fn feed_all(&mut self, stream: &[u8]) {
        let mut pos = std::mem::take(&mut self.skip);
        while pos < stream.len() && self.key().is_some() {
            let n = self.chunk_len(stream.len() - pos);
            self.send(&stream[pos..pos + n]);
            pos += n;
            self.readable();
            self.check("read");
            let r = self.rng.next();
            if r & 7 < self.plan.writable_odds {
                let budget = self.plan.write_budget;
                self.writable(budget);
                self.check("writable");
            }
            if (r >> 3) & 7 < self.plan.timer_odds {
                let step = self.plan.time_step;
                self.advance(step);
                self.check("timers");
            }
            if (r >> 6) & 63 < self.plan.shutdown_odds {
                self.shutdown();
                self.check("shutdown");
            }
        }
    }

    /// Unblocks the write side, ends the client's side as planned, lets
    /// time pass until the connection is gone, and checks the aftermath.
    pub fn finish(&mut self) {
        // The client now reads everything at once.
        self.wire.borrow_mut().write_limit = 0;
        for _ in 0..4 {
            self.writable(None);
            self.check("final write");
        }
        match self.plan.end {
            End::Eof => self.wire.borrow_mut().eof = true,
            End::Reset => self.wire.borrow_mut().reset_by_peer = true,
            End::Silent => {}
        }
        if self.plan.end != End::Silent {
            self.readable();
            self.check("end of input");
        }
        for _ in 0..64 {
            if self.key().is_none() {
                break;
            }
            self.writable(None);
            let now = self.cy.clock.now_ms;
            let Some(wait) = self.cy.timers.find_timer(now) else {
                break;
            };
            self.advance(wait.max(1));
            self.check("final timers");
        }
        assert!(
            self.key().is_none(),
            "the connection outlived its client and every timer: {:?}",
            self.conn_state()
        );
        self.cy.access_logs.flush();
        self.check_closed();
    }

    fn conn_state(&self) -> String {
        match self.key() {
            None => "closed".into(),
            Some(key) => {
                let c = &self.cy.conns[key];
                format!(
                    "read {:?} ready={} timer={:?}, write {:?} ready={} timer={:?}, hc={}, stats {:?}, timers {}",
                    c.read.handler,
                    c.read.ready,
                    c.read.timer,
                    c.write.handler,
                    c.write.ready,
                    c.write.timer,
                    c.data.is_some(),
                    self.cy.stats,
                    self.cy.timers.len()
                )
            }
        }
    }

    /// The invariants after one event.
    pub fn check(&mut self, after: &str) {
        if trace() {
            eprintln!(
                "-- after {after}: sent {}, output {}, {}",
                self.sent.len(),
                self.wire.borrow().output.len(),
                self.conn_state()
            );
        }
        let ctx = || format!("after {after}");
        if self.strict_output {
            let wire = self.wire.borrow();
            if let Err(e) = self.responses.advance(&wire.output) {
                let out = &wire.output;
                panic!(
                    "{}: {e}\n{} bytes of output, the first 600: {:?}",
                    ctx(),
                    out.len(),
                    String::from_utf8_lossy(&out[..out.len().min(600)])
                );
            }
            drop(wire);
            let started = self.responses.started();
            let heads = self.terminators;
            assert!(
                started <= heads + 1,
                "{}: {started} responses to {heads} request heads",
                ctx()
            );
            if started > heads && self.premature.is_none() {
                self.premature = Some(started - 1);
            }
            if let Some(i) = self.premature
                && let Some(r) = self.responses.head(i)
            {
                assert!(
                    r.close,
                    "{}: response {i} ({}) came before its request head was complete \
                     and keeps the connection",
                    ctx(),
                    r.status
                );
            }
        }
        let Some(key) = self.key() else {
            assert!(
                self.wire.borrow().dropped,
                "{}: connection gone but its socket was not closed",
                ctx()
            );
            return;
        };
        let cy = &self.cy;
        let c = &cy.conns[key];
        let st = cy.stats;
        let state = || self.conn_state();
        assert_eq!(cy.conns.len(), 1, "{}: connections", ctx());
        assert_eq!(st.active, 1, "{}: active {}", ctx(), state());
        let (reading, writing) = match c.req().map(|r| r.stage) {
            None => (0, 0),
            Some(Stage::Reading) => (1, 0),
            Some(Stage::Writing) => (0, 1),
        };
        assert_eq!(
            (st.reading, st.writing),
            (reading, writing),
            "{}: reading/writing counters vs the request: {}",
            ctx(),
            state()
        );
        assert_eq!(
            st.waiting,
            u64::from(c.reusable),
            "{}: waiting vs reusable: {}",
            ctx(),
            state()
        );
        assert_eq!(cy.reusable_n as u64, st.waiting, "{}: reusable_n", ctx());
        assert_eq!(
            cy.pool.outstanding,
            usize::from(c.buf().is_some()),
            "{}: pool lends more than the header buffer: {}",
            ctx(),
            state()
        );
        if let Some(b) = c.buf() {
            assert!(
                b.size() <= self.header_max,
                "{}: header buffer of {} bytes, limit {}",
                ctx(),
                b.size(),
                self.header_max
            );
            assert!(
                b.pos <= b.last && b.last <= b.size(),
                "{}: buffer cursors",
                ctx()
            );
        }
        if let Some(hc) = c.hc() {
            assert!(
                hc.out.mem.len() <= OUT_LIMIT,
                "{}: {} bytes of output queued",
                ctx(),
                hc.out.mem.len()
            );
        }
        let live = |t: Option<holdfast::event::timer::TimerHandle>| {
            t.is_some_and(|h| cy.timers.deadline(h).is_some())
        };
        let (rt, wt) = (live(c.read.timer), live(c.write.timer));
        assert_eq!(
            cy.timers.len(),
            usize::from(rt) + usize::from(wt),
            "{}: timers armed that belong to no event: {}",
            ctx(),
            state()
        );
        if cy.posted.is_empty() {
            assert!(
                rt || wt,
                "{}: live connection with no timer and nothing posted (it would hang): {}",
                ctx(),
                state()
            );
            if c.has_output() {
                assert_ne!(
                    c.write.handler,
                    WriteHandler::Empty,
                    "{}: output queued with nobody to send it: {}",
                    ctx(),
                    state()
                );
            }
            if c.write.handler != WriteHandler::Empty {
                assert!(wt, "{}: writer without send_timeout: {}", ctx(), state());
            }
            let unread = !self.wire.borrow().input.is_empty();
            if unread {
                assert!(
                    c.read.ready,
                    "{}: unread input but read.ready cleared (no new edge will come): {}",
                    ctx(),
                    state()
                );
            }
            if c.read.handler == ReadHandler::Keepalive {
                assert!(
                    c.data.is_none(),
                    "{}: idle connection holds buffers: {}",
                    ctx(),
                    state()
                );
            }
            // A lingering close keeps its request until it ends, as nginx
            // does (the access log is written then), but has nothing to send.
            if c.read.handler == ReadHandler::LingeringClose {
                assert!(
                    c.req().is_some() && !c.has_output(),
                    "{}: lingering close without its request, or with output: {}",
                    ctx(),
                    state()
                );
            }
        }
    }

    /// The aftermath of the close.
    pub fn check_closed(&mut self) {
        let cy = &self.cy;
        assert!(self.wire.borrow().dropped, "socket not closed");
        assert!(cy.conns.is_empty(), "connection slots left");
        let st = cy.stats;
        assert_eq!(
            (st.active, st.reading, st.writing, st.waiting),
            (0, 0, 0, 0),
            "counters after close: {st:?}"
        );
        assert_eq!(
            (cy.reusable_n, cy.reusable_head, cy.reusable_tail),
            (0, NIL, NIL),
            "reusable queue after close"
        );
        assert!(
            cy.timers.is_empty(),
            "{} timers left after close",
            cy.timers.len()
        );
        assert_eq!(cy.pool.outstanding, 0, "buffers not returned to the pool");
        if self.strict_output {
            assert!(
                self.responses.done.len() as u64 <= st.requests,
                "{} responses to {} requests",
                self.responses.done.len(),
                st.requests
            );
            if let Some(i) = self.premature {
                assert_eq!(
                    i + 1,
                    self.responses.started(),
                    "responses after the premature response {i}"
                );
            }
        }
    }
}
