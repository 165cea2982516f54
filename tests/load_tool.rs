//! `holdfast-load` against holdfast: each mode runs for a small request count
//! or a second or two with `--json`, and its counts are checked against the
//! server's stub_status counters (each status request is one more accepted
//! connection and one more request).

mod common;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Prefix, Server, get, server_block};

/// The load tool built by cargo for this test run.
const LOAD: &str = env!("CARGO_BIN_EXE_holdfast-load");

/// The body of the `return 200` location.
const HELLO: &str = "Hello, World!";

/// A server with `/status` (stub_status) and `return 200 "Hello, World!"`
/// everywhere else.
fn server(worker_connections: usize) -> Server {
    Server::start_with(
        Prefix::new("load"),
        worker_connections,
        &server_block(&format!(
            "    location = /status {{ stub_status; }}\n    location / {{ return 200 \"{HELLO}\"; }}"
        )),
    )
}

/// `accepts handled requests` from stub_status (on a new connection).
fn counters(s: &Server) -> [u64; 3] {
    let resp = s.request(&get("/status"));
    resp.assert_status(200);
    let text = resp.text();
    let line = text.lines().nth(2).expect("counters line");
    let nums: Vec<u64> = line
        .split_whitespace()
        .map(|w| w.parse().expect("number"))
        .collect();
    [nums[0], nums[1], nums[2]]
}

/// What a run of the tool printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    /// The first number after `"key": ` in the JSON report.
    #[track_caller]
    fn num(&self, key: &str) -> f64 {
        let pat = format!("\"{key}\": ");
        let at = self.stdout.find(&pat).unwrap_or_else(|| {
            panic!("no {key:?} in the report:\n{}", self.stdout);
        });
        let rest = &self.stdout[at + pat.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(rest.len());
        rest[..end]
            .parse()
            .unwrap_or_else(|_| panic!("{key:?} is not a number:\n{}", self.stdout))
    }

    /// [`Run::num`] as a count.
    #[track_caller]
    fn count(&self, key: &str) -> u64 {
        self.num(key) as u64
    }

    /// The boolean after `"key": `.
    #[track_caller]
    fn flag(&self, key: &str) -> bool {
        let pat = format!("\"{key}\": ");
        let at = self
            .stdout
            .find(&pat)
            .unwrap_or_else(|| panic!("no {key:?} in the report:\n{}", self.stdout));
        self.stdout[at + pat.len()..].starts_with("true")
    }

    /// Panics (showing the output) unless the run exited with 0 and no errors.
    #[track_caller]
    fn assert_clean(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self:?}");
        assert_eq!(self.count("total"), 0, "errors in {self:?}");
        self
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

/// Runs `holdfast-load ARGS`; kills it and panics if it takes over 30 s.
fn load(args: &[&str]) -> Run {
    let start = Instant::now();
    let child = Command::new(LOAD)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdfast-load");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.expect("wait for holdfast-load"),
        Err(_) => {
            // SAFETY: kill(2) on our own child, not yet reaped (the waiting
            // thread is still blocked in wait).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            panic!("holdfast-load {args:?} did not stop by itself");
        }
    };
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    }
}

/// Runs the tool against `s` with `--json` and the standard body check.
fn load_json(s: &Server, args: &[&str]) -> Run {
    let url = format!("http://{}/", s.addr());
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", "--expect-body", HELLO, &url]);
    load(&all)
}

/// Counter deltas around a run: (accepts, requests), without the status
/// request that read the second sample.
fn deltas(before: [u64; 3], after: [u64; 3]) -> (u64, u64) {
    (after[0] - before[0] - 1, after[2] - before[2] - 1)
}

#[test]
fn keepalive_reuses_its_connections() {
    let s = server(256);
    let before = counters(&s);
    let run = load_json(&s, &["keepalive", "-c", "4", "-n", "400"]);
    run.assert_clean();
    assert_eq!(run.count("responses"), 400, "{run:?}");
    assert_eq!(run.count("connections_opened"), 4, "{run:?}");
    assert_eq!(run.count("200"), 400, "{run:?}");
    let (accepts, requests) = deltas(before, counters(&s));
    assert_eq!((accepts, requests), (4, 400), "{run:?}");
}

#[test]
fn short_opens_a_connection_per_request() {
    let s = server(256);
    let before = counters(&s);
    let run = load_json(&s, &["short", "-c", "4", "-n", "100"]);
    run.assert_clean();
    assert_eq!(run.count("responses"), 100, "{run:?}");
    assert_eq!(run.count("connections_opened"), 100, "{run:?}");
    let (accepts, requests) = deltas(before, counters(&s));
    assert_eq!((accepts, requests), (100, 100), "{run:?}");
}

#[test]
fn pipeline_sends_sixteen_per_write() {
    let s = server(256);
    let before = counters(&s);
    let run = load_json(&s, &["pipeline", "16", "-c", "2", "-n", "320"]);
    run.assert_clean();
    assert_eq!(run.count("pipeline_depth"), 16, "{run:?}");
    assert_eq!(run.count("responses"), 320, "{run:?}");
    let (accepts, requests) = deltas(before, counters(&s));
    assert_eq!((accepts, requests), (2, 320), "{run:?}");
}

#[test]
fn parallel_runs_waves_of_short_connections() {
    let s = server(256);
    let before = counters(&s);
    let run = load_json(&s, &["parallel", "-c", "10", "-n", "50"]);
    run.assert_clean();
    assert_eq!(run.count("responses"), 50, "{run:?}");
    assert_eq!(run.count("peak_open_connections"), 10, "{run:?}");
    let (accepts, requests) = deltas(before, counters(&s));
    assert_eq!((accepts, requests), (50, 50), "{run:?}");
}

#[test]
fn duration_bounds_a_keepalive_run() {
    let s = server(256);
    let before = counters(&s);
    let run = load_json(&s, &["keepalive", "-c", "2", "-d", "1"]);
    run.assert_clean();
    assert!(run.took < Duration::from_secs(5), "{run:?}");
    let elapsed = run.num("elapsed_s");
    assert!((0.95..2.0).contains(&elapsed), "{run:?}");
    let responses = run.count("responses");
    assert!(responses > 0, "{run:?}");
    assert!(run.stderr.contains("req/s"), "no progress line: {run:?}");
    // keepalive_requests (1000) ends connections; the tool replaces them.
    let opened = run.count("connections_opened");
    assert_eq!(opened, 2 + run.count("server_closes"), "{run:?}");
    let (accepts, requests) = deltas(before, counters(&s));
    assert_eq!((accepts, requests), (opened, responses), "{run:?}");
}

#[test]
fn hold_reports_the_oldest_connections_drained() {
    // 32 slots, one of them the listener's: 60 held connections cannot all
    // stay, and holdfast closes the oldest idle ones to serve newcomers.
    let s = server(32);
    let before = counters(&s);
    let run = load_json(&s, &["hold", "-c", "60", "-d", "1.5"]);
    run.assert_clean();
    assert_eq!(run.count("held"), 60, "{run:?}");
    let closed = run.count("closed");
    let kept = run.count("kept");
    assert_eq!(closed + kept, 60, "{run:?}");
    assert!((10..=50).contains(&closed), "{run:?}");
    assert!(run.flag("oldest_first"), "{run:?}");
    let first = run.num("first_close_s");
    assert!(first < 1.5, "{run:?}");
    s.assert_log(
        "worker_connections are not enough, reusing connections",
        Duration::from_secs(3),
    );
    let (accepts, requests) = deltas(before, counters(&s));
    assert_eq!((accepts, requests), (60, 60), "{run:?}");
}

#[test]
fn rate_mode_keeps_the_configured_rate() {
    let s = server(256);
    let before = counters(&s);
    let run = load_json(&s, &["keepalive", "-c", "4", "--rate", "200", "-d", "2"]);
    run.assert_clean();
    let responses = run.count("responses");
    assert!((380..=400).contains(&responses), "{run:?}");
    let rate = run.num("requests_per_s");
    assert!((170.0..=230.0).contains(&rate), "{run:?}");
    assert_eq!(run.count("unsent"), 0, "{run:?}");
    let (accepts, requests) = deltas(before, counters(&s));
    assert_eq!((accepts, requests), (4, responses), "{run:?}");
}

#[test]
fn procs_split_the_work_and_merge_the_reports() {
    let s = server(256);
    let before = counters(&s);
    let run = load_json(&s, &["keepalive", "-c", "4", "-n", "400", "--procs", "2"]);
    run.assert_clean();
    assert_eq!(run.count("procs"), 2, "{run:?}");
    assert_eq!(run.count("responses"), 400, "{run:?}");
    assert_eq!(run.count("count"), 400, "latency samples: {run:?}");
    let (accepts, requests) = deltas(before, counters(&s));
    assert_eq!((accepts, requests), (4, 400), "{run:?}");
}

#[test]
fn source_ips_spread_the_connections() {
    let s = server(256);
    let before = counters(&s);
    let run = load_json(
        &s,
        &[
            "short",
            "-c",
            "2",
            "-n",
            "20",
            "--source-ips",
            "127.0.0.2-127.0.0.5",
        ],
    );
    run.assert_clean();
    assert_eq!(run.count("responses"), 20, "{run:?}");
    let (accepts, _) = deltas(before, counters(&s));
    assert_eq!(accepts, 20, "{run:?}");
}

#[test]
fn a_wrong_body_is_a_bad_response() {
    let s = server(256);
    let url = format!("http://{}/", s.addr());
    let run = load(&[
        "keepalive",
        "-c",
        "1",
        "-n",
        "5",
        "--json",
        "--expect-body",
        "nope",
        &url,
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.count("bad_response"), 5, "{run:?}");
    assert_eq!(run.count("responses"), 0, "{run:?}");
}

#[test]
fn nothing_listening_is_counted_as_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let run = load(&["short", "-c", "2", "-n", "10", "--json", &url]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.count("refused"), 10, "{run:?}");
    assert_eq!(run.count("responses"), 0, "{run:?}");
    assert_eq!(run.count("total"), 10, "{run:?}");
}

#[test]
fn non_loopback_targets_are_refused() {
    for args in [
        &["--addr", "10.0.0.1:80"][..],
        &["http://192.0.2.1:8080/"][..],
        &["--addr", "[2001:db8::1]:80"][..],
        &["--source-ips", "10.0.0.1", "http://127.0.0.1:1/"][..],
    ] {
        let run = load(args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(run.stderr.contains("loopback"), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
}

#[test]
fn usage_errors_and_help() {
    let run = load(&["--help"]);
    assert_eq!(run.code, Some(0));
    for word in [
        "keepalive",
        "short",
        "pipeline N",
        "parallel",
        "hold",
        "--rate",
        "--procs",
    ] {
        assert!(run.stdout.contains(word), "{word:?} not in the help");
    }
    for args in [
        &["hold", "-n", "5", "127.0.0.1:1"][..],
        &["-c", "0", "127.0.0.1:1"][..],
        &["parallel", "--rate", "5", "127.0.0.1:1"][..],
        &["127.0.0.1:1", "--bogus"][..],
        &[][..],
    ] {
        let run = load(args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
    }
}

/// A stand-in server on a loopback port: each connection is handed to
/// `serve` on a thread of its own (the threads end with the test process).
fn fake_server(serve: fn(std::net::TcpStream)) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || serve(conn));
        }
    });
    format!("http://{addr}/")
}

/// Reads until `n` more request heads have arrived (false at EOF).
fn read_requests(conn: &mut std::net::TcpStream, buf: &mut Vec<u8>, n: usize) -> bool {
    use std::io::Read;
    let mut got = 0;
    loop {
        while let Some(end) = common::find(buf, b"\r\n\r\n") {
            buf.drain(..end + 4);
            got += 1;
            if got == n {
                return true;
            }
        }
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

#[test]
fn chunked_responses_are_decoded_in_pipelines() {
    let url = fake_server(|mut conn| {
        use std::io::Write;
        let mut buf = Vec::new();
        // Answers each request as it arrives, split in awkward places.
        while read_requests(&mut conn, &mut buf, 1) {
            let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                         5\r\nHello\r\n8;ext=1\r\n, World!\r\n0\r\nX-Trailer: 1\r\n\r\n";
            for part in resp.chunks(7) {
                if conn.write_all(part).is_err() {
                    return;
                }
            }
        }
    });
    let run = load(&[
        "pipeline",
        "4",
        "-c",
        "2",
        "-n",
        "40",
        "--json",
        "--expect-body",
        HELLO,
        &url,
    ]);
    run.assert_clean();
    assert_eq!(run.count("responses"), 40, "{run:?}");
}

#[test]
fn silence_is_a_timeout() {
    let url = fake_server(|mut conn| {
        let mut buf = Vec::new();
        read_requests(&mut conn, &mut buf, 1);
        thread::sleep(Duration::from_secs(5));
    });
    let run = load(&[
        "short",
        "-c",
        "3",
        "-n",
        "3",
        "--timeout",
        "300ms",
        "--json",
        &url,
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.count("timeout"), 3, "{run:?}");
    assert!(run.took < Duration::from_secs(3), "{run:?}");
}

#[test]
fn broken_responses_are_counted_by_kind() {
    // A close before the response, an RST, and a malformed head.
    let closes = fake_server(|mut conn| {
        let mut buf = Vec::new();
        read_requests(&mut conn, &mut buf, 1);
    });
    let run = load(&["keepalive", "-c", "1", "-n", "4", "--json", &closes]);
    assert_eq!(run.count("unexpected_close"), 4, "{run:?}");

    let resets = fake_server(|mut conn| {
        use std::os::fd::AsRawFd;
        let mut buf = Vec::new();
        read_requests(&mut conn, &mut buf, 1);
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt(2) reads one linger struct from the pointer.
        unsafe {
            libc::setsockopt(
                conn.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    });
    let run = load(&["short", "-c", "1", "-n", "4", "--json", &resets]);
    assert_eq!(run.count("reset"), 4, "{run:?}");

    let garbage = fake_server(|mut conn| {
        use std::io::Write;
        let mut buf = Vec::new();
        while read_requests(&mut conn, &mut buf, 1) {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n");
        }
    });
    let run = load(&["keepalive", "-c", "1", "-n", "4", "--json", &garbage]);
    assert_eq!(run.count("bad_response"), 4, "{run:?}");
    assert_eq!(run.count("responses"), 0, "{run:?}");
}
