//! Harness for the integration tests: starts the built `holdfast` binary with a
//! generated configuration in a fresh prefix directory and talks to it over
//! plain `std::net::TcpStream`s with deadline-based reads (no sleeps).
//!
//! * [`Prefix`] — a temporary `-p` directory with `conf/` (holding a copy of
//!   the repository's `conf/mime.types`) and `html/`; removed on drop.
//! * [`Server`] — the running server: its address (taken from the
//!   `listening on` notice), its stderr collected line by line, killed on drop.
//! * [`Conn`] — a client connection that parses responses by `Content-Length`
//!   and can assert that the peer closes, or stays open, within a deadline.

// Every test binary uses a different subset of the helpers.
#![allow(dead_code)]

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The server binary built by cargo for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

/// How long a response may take before a read helper gives up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// `worker_connections` of the standard preamble.
pub const WORKER_CONNECTIONS: usize = 256;

static PREFIX_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh prefix directory under the system temp dir.
pub struct Prefix {
    path: PathBuf,
}

impl Prefix {
    /// Creates `TMP/holdfast-test-PID-N-TAG/{conf,html}` and copies
    /// `conf/mime.types` into its `conf/`.
    pub fn new(tag: &str) -> Prefix {
        let n = PREFIX_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("holdfast-test-{}-{n}-{tag}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).expect("remove stale prefix");
        }
        std::fs::create_dir_all(path.join("conf")).expect("create conf dir");
        std::fs::create_dir_all(path.join("html")).expect("create html dir");
        let mime = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/mime.types");
        std::fs::copy(&mime, path.join("conf/mime.types")).expect("copy mime.types");
        Prefix { path }
    }

    /// The prefix directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PREFIX/conf/holdfast.conf`.
    pub fn conf_file(&self) -> PathBuf {
        self.path.join("conf/holdfast.conf")
    }

    /// Writes a file below the prefix (parent directories are created).
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).expect("create parent dir");
        }
        std::fs::write(&p, contents).expect("write file");
        p
    }

    /// Creates a directory below the prefix.
    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.path.join(rel)).expect("create dir");
    }

    /// Writes `conf/holdfast.conf`.
    pub fn write_conf(&self, text: &str) -> PathBuf {
        self.write("conf/holdfast.conf", text)
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The standard configuration: info-level log on stderr, `worker_connections`,
/// and an `http` block that includes `mime.types` followed by `http_body`.
pub fn conf(worker_connections: usize, http_body: &str) -> String {
    conf_at_level("info", worker_connections, http_body)
}

/// [`conf`] with another `error_log` level.
pub fn conf_at_level(level: &str, worker_connections: usize, http_body: &str) -> String {
    format!(
        "error_log stderr {level};\n\
         events {{\n    worker_connections {worker_connections};\n}}\n\
         http {{\n    include mime.types;\n{http_body}\n}}\n"
    )
}

/// A `server` block listening on `127.0.0.1:0` with `root html;` and `body`.
pub fn server_block(body: &str) -> String {
    format!("server {{\n    listen 127.0.0.1:0;\n    root html;\n{body}\n}}")
}

/// Collected stderr lines of the server.
#[derive(Default)]
struct LogState {
    lines: Vec<String>,
    /// stderr reached EOF (the process exited).
    closed: bool,
}

#[derive(Default)]
struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

impl Log {
    /// Waits until `pred` holds for the lines or the deadline passes (or the
    /// stream is closed and `pred` still fails). Returns whether it held.
    fn wait(&self, deadline: Instant, mut pred: impl FnMut(&[String]) -> bool) -> bool {
        let mut st = self.state.lock().unwrap();
        loop {
            if pred(&st.lines) {
                return true;
            }
            let now = Instant::now();
            if st.closed || now >= deadline {
                return false;
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// Waits until the stream is closed (the process exited and its stderr
    /// reached EOF) or the deadline passes. Returns whether it closed.
    fn wait_closed(&self, deadline: Instant) -> bool {
        let mut st = self.state.lock().unwrap();
        loop {
            if st.closed {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap().0;
        }
    }
}

/// A running `holdfast` process. Killed (and its prefix removed) on drop.
pub struct Server {
    child: Child,
    prefix: Prefix,
    addrs: Vec<SocketAddr>,
    log: Arc<Log>,
}

impl Server {
    /// Starts a server whose `http` block is [`conf`]'s standard one plus
    /// `http_body` (which must contain the `server` blocks).
    pub fn start(http_body: &str) -> Server {
        Server::start_with(Prefix::new("srv"), WORKER_CONNECTIONS, http_body)
    }

    /// Starts a server with a single [`server_block`] containing `server_body`.
    pub fn with_server(server_body: &str) -> Server {
        Server::start(&server_block(server_body))
    }

    /// Like [`Server::start`] in a prepared prefix and with the given
    /// `worker_connections`.
    pub fn start_with(prefix: Prefix, worker_connections: usize, http_body: &str) -> Server {
        let text = conf(worker_connections, http_body);
        Server::start_conf(prefix, &text)
    }

    /// Writes `full_conf` as `PREFIX/conf/holdfast.conf` and starts the server
    /// on it; returns once it logged `listening on ADDR`.
    pub fn start_conf(prefix: Prefix, full_conf: &str) -> Server {
        Server::start_conf_env(prefix, full_conf, &[])
    }

    /// [`Server::start_conf`] with `env` added to the server's environment
    /// (`TZ` for local times).
    pub fn start_conf_env(prefix: Prefix, full_conf: &str, env: &[(&str, &str)]) -> Server {
        let file = prefix.write_conf(full_conf);
        let mut child = Command::new(BIN)
            .envs(env.iter().copied())
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&file)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holdfast");
        let stderr = child.stderr.take().expect("stderr pipe");
        let log = Arc::new(Log::default());
        let sink = log.clone();
        thread::spawn(move || {
            let reader = BufReader::new(stderr);
            for line in reader.split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line).into_owned();
                let mut st = sink.state.lock().unwrap();
                st.lines.push(line);
                sink.changed.notify_all();
            }
            sink.state.lock().unwrap().closed = true;
            sink.changed.notify_all();
        });
        let mut server = Server {
            child,
            prefix,
            addrs: Vec::new(),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let up = server.log.wait(deadline, |lines| {
            lines.iter().any(|l| l.contains("listening on "))
        });
        if !up {
            panic!(
                "holdfast did not start listening; config:\n{full_conf}\nstderr:\n{}",
                server.log_text()
            );
        }
        server.addrs = server
            .log_lines()
            .iter()
            .filter_map(|l| l.split("listening on ").nth(1))
            // unix:PATH listeners are reached by path, not by address.
            .filter(|a| !a.trim().starts_with("unix:"))
            .map(|a| {
                a.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("bad address {a:?}: {e}"))
            })
            .collect();
        server
    }

    /// The (first) listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The prefix the server runs in.
    pub fn prefix(&self) -> &Prefix {
        &self.prefix
    }

    /// Opens a client connection.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr())
    }

    /// Sends one request on a new connection and reads one response.
    pub fn request(&self, raw: &str) -> Response {
        let mut c = self.connect();
        c.request(raw)
    }

    /// A copy of the stderr lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.state.lock().unwrap().lines.clone()
    }

    /// The stderr lines so far, one per line.
    pub fn log_text(&self) -> String {
        self.log_lines().join("\n")
    }

    /// Waits up to `within` for a stderr line containing `pat`.
    pub fn log_contains(&self, pat: &str, within: Duration) -> bool {
        self.log.wait(Instant::now() + within, |lines| {
            lines.iter().any(|l| l.contains(pat))
        })
    }

    /// Panics (showing the log) unless a line containing `pat` appears within `within`.
    pub fn assert_log(&self, pat: &str, within: Duration) {
        assert!(
            self.log_contains(pat, within),
            "no log line containing {pat:?} within {within:?}; stderr:\n{}",
            self.log_text()
        );
    }

    /// Waits up to `within` until at least `n` stderr lines contain `pat`.
    pub fn wait_log_count(&self, pat: &str, n: usize, within: Duration) -> bool {
        self.wait_lines(|l| l.contains(pat), n, within)
    }

    /// Waits up to `within` until at least `n` stderr lines satisfy `pred`.
    pub fn wait_lines(&self, pred: impl Fn(&str) -> bool, n: usize, within: Duration) -> bool {
        self.log.wait(Instant::now() + within, |lines| {
            lines.iter().filter(|l| pred(l)).count() >= n
        })
    }

    /// How many stderr lines so far satisfy `pred`.
    pub fn count_lines(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.log_lines().iter().filter(|l| pred(l)).count()
    }

    /// How many stderr lines so far contain `pat`.
    pub fn log_count(&self, pat: &str) -> usize {
        self.log_lines().iter().filter(|l| l.contains(pat)).count()
    }

    /// Is the process still running?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` to the server process.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the pid of our own child, which is not reaped
        // before `self` is dropped or `wait_exit` saw it exit.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({sig}): {}", io::Error::last_os_error());
    }

    /// Waits up to `within` for the process to exit (its stderr closes) and
    /// returns its exit status, or None if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        if !self.log.wait_closed(Instant::now() + within) {
            return None;
        }
        // stderr is closed: the process has exited (or is about to).
        Some(self.child.wait().expect("wait for holdfast"))
    }

    /// Panics (showing the log) unless the process exits successfully within
    /// `within`; returns how long it took.
    #[track_caller]
    pub fn assert_exits(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        match self.wait_exit(within) {
            Some(st) => {
                assert!(
                    st.success(),
                    "exit status {st:?}; stderr:\n{}",
                    self.log_text()
                );
                start.elapsed()
            }
            None => panic!(
                "holdfast still running after {within:?}; stderr:\n{}",
                self.log_text()
            ),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of running `holdfast` to completion.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
    /// stdout, lossily decoded.
    pub stdout: String,
    /// stderr, lossily decoded.
    pub stderr: String,
}

/// Runs `holdfast ARGS` and waits for it to exit; kills it and panics if it is
/// still running after `within`.
pub fn run_holdfast<I, A>(args: I, within: Duration) -> Outcome
where
    I: IntoIterator<Item = A>,
    A: AsRef<std::ffi::OsStr>,
{
    let child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdfast");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(within) {
        Ok(out) => out.expect("wait for holdfast"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, which has not been
            // reaped yet (the waiting thread is still blocked in wait).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            let out = rx.recv().expect("waiter thread").expect("wait");
            panic!(
                "holdfast did not exit within {within:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A port free on both 127.0.0.1 and ::1 right now.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("::1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// `holdfast -t -p PREFIX -c FILE`: tests a configuration file as
/// `nginx -t` would, within `within`.
pub fn test_config(prefix: &Prefix, file: &Path, within: Duration) -> Outcome {
    run_holdfast(
        [
            "-t".as_ref(),
            "-p".as_ref(),
            prefix.path().as_os_str(),
            "-c".as_ref(),
            file.as_os_str(),
        ],
        within,
    )
}

/// One parsed HTTP response.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// `HTTP/1.1`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body (empty for HEAD).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers are called `name`.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Connection` header value, lower-cased ("" if absent).
    pub fn connection(&self) -> String {
        self.header("Connection")
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    /// Panics unless the status is `status`.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status in {self:?}");
        self
    }

    /// Panics unless `Connection: keep-alive`.
    #[track_caller]
    pub fn assert_keepalive(&self) -> &Self {
        assert_eq!(
            self.connection(),
            "keep-alive",
            "expected keep-alive: {self:?}"
        );
        self
    }

    /// Panics unless `Connection: close`.
    #[track_caller]
    pub fn assert_close(&self) -> &Self {
        assert_eq!(
            self.connection(),
            "close",
            "expected Connection: close: {self:?}"
        );
        self
    }

    /// Panics unless the body is exactly `body`.
    #[track_caller]
    pub fn assert_body(&self, body: &str) -> &Self {
        assert_eq!(self.text(), body, "unexpected body in {self:?}");
        self
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} {}", self.version, self.status, self.reason)?;
        for (n, v) in &self.headers {
            writeln!(f, "{n}: {v}")?;
        }
        let text = self.text();
        if text.len() > 300 {
            write!(f, "\n{}... ({} bytes)", &text[..300], self.body.len())
        } else {
            write!(f, "\n{text}")
        }
    }
}

/// The resident set of process `pid` in KiB (VmRSS), 0 when it is gone.
#[allow(dead_code)]
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `GET PATH HTTP/1.1` with `Host: localhost`.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

/// How a read attempt ended.
enum Got {
    Data,
    Eof,
    Reset,
    Timeout,
}

/// A client connection with a receive buffer (bytes after one response stay
/// for the next).
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects (TCP_NODELAY on, so separate writes go out as separate segments).
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `bytes` in one write call (as far as the kernel allows).
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .write_all(bytes.as_ref())
            .expect("write request");
    }

    /// Like [`Conn::send`] but returns the error instead of panicking.
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        self.stream.write_all(bytes.as_ref())
    }

    /// Sends `raw` and reads one response.
    pub fn request(&mut self, raw: impl AsRef<[u8]>) -> Response {
        self.send(raw);
        self.read_response()
    }

    /// Closes the write half (the server sees EOF).
    pub fn shutdown_write(&self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown");
    }

    /// Reads once into the buffer, waiting at most until `deadline`.
    fn fill(&mut self, deadline: Instant) -> Got {
        let mut tmp = [0u8; 65536];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Got::Timeout;
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.stream
                .set_read_timeout(Some(wait))
                .expect("set timeout");
            match self.stream.read(&mut tmp) {
                Ok(0) => return Got::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Got::Data;
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => continue,
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                        return Got::Reset;
                    }
                    _ => panic!("read failed: {e}"),
                },
            }
        }
    }

    /// Reads one response, its body delimited by `Content-Length`.
    #[track_caller]
    pub fn read_response(&mut self) -> Response {
        self.read_response_within(READ_TIMEOUT, false)
    }

    /// Reads the response to a HEAD request (no body whatever the headers say).
    #[track_caller]
    pub fn read_head_response(&mut self) -> Response {
        self.read_response_within(READ_TIMEOUT, true)
    }

    /// Reads one response within `within`; `head` means no body follows.
    #[track_caller]
    pub fn read_response_within(&mut self, within: Duration, head: bool) -> Response {
        match self.try_read_response(within, head) {
            Ok(r) => r,
            Err(why) => panic!("{why}"),
        }
    }

    /// Like [`Conn::read_response_within`] but returns what went wrong.
    pub fn try_read_response(&mut self, within: Duration, head: bool) -> Result<Response, String> {
        let deadline = Instant::now() + within;
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            match self.fill(deadline) {
                Got::Data => {}
                other => return Err(self.incomplete("response head", other)),
            }
        };
        let head_text = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let reason = parts.next().unwrap_or_default().to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(format!("bad status line {status_line:?}"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?}"))?;
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let mut resp = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        let body_len = if head || status == 304 || status == 204 || (100..200).contains(&status) {
            0
        } else {
            match resp.header("Content-Length") {
                Some(v) => v
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length in {resp:?}"))?,
                None => return Err(format!("response without Content-Length: {resp:?}")),
            }
        };
        let start = head_end + 4;
        while self.buf.len() < start + body_len {
            match self.fill(deadline) {
                Got::Data => {}
                other => return Err(self.incomplete("response body", other)),
            }
        }
        resp.body = self.buf[start..start + body_len].to_vec();
        self.buf.drain(..start + body_len);
        Ok(resp)
    }

    fn incomplete(&self, what: &str, got: Got) -> String {
        let how = match got {
            Got::Eof => "connection closed",
            Got::Reset => "connection reset",
            Got::Timeout => "timed out",
            Got::Data => "data",
        };
        format!(
            "{how} while reading {what}; received so far: {:?}",
            String::from_utf8_lossy(&self.buf)
        )
    }

    /// Asserts that the peer closes (EOF or RST) within `within` without
    /// sending anything more; returns how long it took.
    #[track_caller]
    pub fn expect_closed(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        assert!(
            self.buf.is_empty(),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        match self.fill(start + within) {
            Got::Eof | Got::Reset => start.elapsed(),
            Got::Data => panic!(
                "expected close, got data: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Got::Timeout => panic!("connection still open after {within:?}"),
        }
    }

    /// Asserts that the peer neither closes nor sends anything for `dur`.
    #[track_caller]
    pub fn expect_open(&mut self, dur: Duration) {
        let start = Instant::now();
        if !self.stays_open(dur) {
            panic!("connection closed after {:?}", start.elapsed());
        }
    }

    /// Waits `dur` for the peer: true if it stayed open and silent, false if
    /// it closed (EOF or RST). Panics if it sends data.
    #[track_caller]
    pub fn stays_open(&mut self, dur: Duration) -> bool {
        let start = Instant::now();
        assert!(
            self.buf.is_empty(),
            "unexpected buffered bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        match self.fill(start + dur) {
            Got::Timeout => true,
            Got::Eof | Got::Reset => false,
            Got::Data => panic!(
                "unexpected data after {:?}: {:?}",
                start.elapsed(),
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Asserts that the peer closes with a FIN (read returns EOF, not an
    /// error) within `within` without sending anything more.
    #[track_caller]
    pub fn expect_eof(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        match self.fill(start + within) {
            Got::Eof => start.elapsed(),
            Got::Reset => panic!("expected EOF, got a connection reset"),
            Got::Data => panic!(
                "expected EOF, got data: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Got::Timeout => panic!("connection still open after {within:?}"),
        }
    }

    /// Asserts that the peer resets the connection (read fails with
    /// `ConnectionReset`) within `within` without sending anything more.
    #[track_caller]
    pub fn expect_reset(&mut self, within: Duration) -> Duration {
        let start = Instant::now();
        match self.fill(start + within) {
            Got::Reset => start.elapsed(),
            Got::Eof => panic!("expected a connection reset, got EOF"),
            Got::Data => panic!(
                "expected a reset, got data: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Got::Timeout => panic!("connection still open after {within:?}"),
        }
    }

    /// Waits up to `within` for an RST from the peer, even after its FIN was
    /// read (poll(2) for POLLERR/POLLHUP only). True if it came.
    pub fn reset_within(&self, within: Duration) -> bool {
        use std::os::fd::AsRawFd;
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.stream.as_raw_fd(),
                events: 0,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as libc::c_int;
            // SAFETY: poll(2) on one valid pollfd that lives across the call.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n > 0 {
                return pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0;
            }
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
    }

    /// Has the peer closed the connection (EOF or RST already received)?
    /// Looks without waiting; panics if data is pending.
    #[track_caller]
    pub fn closed_now(&self) -> bool {
        assert!(self.buf.is_empty(), "unexpected buffered bytes");
        self.stream.set_nonblocking(true).expect("nonblocking");
        let mut b = [0u8; 1];
        let res = self.stream.peek(&mut b);
        self.stream.set_nonblocking(false).expect("blocking");
        match res {
            Ok(0) => true,
            Ok(_) => panic!("unexpected data from the peer"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                true
            }
            Err(e) => panic!("peek failed: {e}"),
        }
    }

    /// Reads everything until the peer closes (EOF or RST) within `within`.
    #[track_caller]
    pub fn read_to_close(&mut self, within: Duration) -> Vec<u8> {
        let deadline = Instant::now() + within;
        loop {
            match self.fill(deadline) {
                Got::Data => {}
                Got::Eof | Got::Reset => return std::mem::take(&mut self.buf),
                Got::Timeout => panic!(
                    "connection still open after {within:?}; received: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Asserts that `raw` sent on a fresh connection is answered with `status`,
/// `Connection: close`, and that the server then closes the connection.
#[track_caller]
pub fn assert_error_closes(server: &Server, raw: impl AsRef<[u8]>, status: u16) -> Response {
    let mut c = server.connect();
    c.send(raw);
    let resp = c.read_response();
    resp.assert_status(status).assert_close();
    c.expect_closed(Duration::from_secs(3));
    resp
}

/// The first line of the file at `path` once it has one (an access log
/// written after the response went out); panics after `within`.
#[allow(dead_code)]
pub fn first_line_of(path: &Path, within: Duration) -> String {
    let end = Instant::now() + within;
    loop {
        if let Some(l) = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .next()
        {
            return l.to_string();
        }
        assert!(Instant::now() < end, "no line in {}", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}
