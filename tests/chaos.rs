//! The chaos client (issue 5, "Faults"): clients that reset in the middle of
//! a request, a body or a response, half-close, read one byte at a time,
//! abandon their connections, or never read a large response — mixed with
//! well-behaved ones, for a bounded time. Afterwards the server still
//! answers, its open descriptors are back to the baseline and a second round
//! of the same chaos does not grow its memory: nothing leaks.
//!
//! The run lasts `HOLDFAST_CHAOS_SECS` seconds per round (default 5 here;
//! `scripts/chaos.sh` runs 2 minutes).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{Prefix, Server, conf, get, server_block};

/// Inline xorshift, fixed seeds: the same chaos every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn set_linger_zero(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket and a valid linger struct of the right size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Closes with an RST instead of a FIN.
fn reset(s: TcpStream) {
    set_linger_zero(&s);
    drop(s);
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(3))).ok()?;
    Some(s)
}

/// Reads until the peer closes or `limit` bytes or the timeout.
fn drain(s: &mut TcpStream, limit: usize, step: usize) -> usize {
    let mut buf = vec![0u8; step];
    let mut n = 0;
    while n < limit {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// One chaotic client action; returns true when a full, correct response
/// was seen (for the well-behaved actions).
fn act(addr: SocketAddr, rng: &mut Rng, held: &mut Vec<TcpStream>) {
    let Some(mut s) = connect(addr) else { return };
    match rng.below(9) {
        // A well-behaved keep-alive client: two requests, both answered.
        0 => {
            for _ in 0..2 {
                if s.write_all(get("/r").as_bytes()).is_err() {
                    return;
                }
                let mut buf = [0u8; 512];
                let Ok(n) = s.read(&mut buf) else { return };
                assert!(
                    buf[..n].starts_with(b"HTTP/1.1 200 OK"),
                    "good client got {:?}",
                    String::from_utf8_lossy(&buf[..n])
                );
            }
        }
        // Reset in the middle of the request header.
        1 => {
            let _ = s.write_all(b"GET /r HTTP/1.1\r\nHost: loc");
            reset(s);
        }
        // Reset in the middle of a body.
        2 => {
            let _ =
                s.write_all(b"POST /r HTTP/1.1\r\nHost: l\r\nContent-Length: 100000\r\n\r\nxxxx");
            reset(s);
        }
        // Reset in the middle of a large response.
        3 => {
            let _ = s.write_all(get("/big.bin").as_bytes());
            drain(&mut s, 10_000, 4096);
            reset(s);
        }
        // Half-close after the request: the response still comes, then EOF.
        4 => {
            let _ = s.write_all(b"GET /r HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n");
            let _ = s.shutdown(Shutdown::Write);
            drain(&mut s, 1 << 20, 512);
        }
        // One byte per read, all of a static file.
        5 => {
            let _ = s.write_all(get("/small.txt").as_bytes());
            drain(&mut s, 600, 1);
        }
        // Abandoned: connect, send nothing (or a little), go away.
        6 => {
            if rng.below(2) == 0 {
                let _ = s.write_all(b"GE");
            }
            drop(s);
        }
        // Never reads a large response: held open until the round ends.
        7 => {
            let _ = s.write_all(get("/big.bin").as_bytes());
            if held.len() < 20 {
                held.push(s);
            }
        }
        // Garbage, then a chunked body cut short.
        _ => {
            let _ = s.write_all(
                b"POST /r HTTP/1.1\r\nHost: l\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            );
            drop(s);
        }
    }
}

fn round(addr: SocketAddr, secs: u64, seed: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..4)
        .map(|t| {
            thread::spawn(move || {
                let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(t + 1) | 1);
                let mut held = Vec::new();
                let mut actions = 0u64;
                while Instant::now() < deadline && actions < 200_000 {
                    act(addr, &mut rng, &mut held);
                    actions += 1;
                }
                drop(held);
                actions
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert!(total > 0);
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (without sleeping blindly past the deadline) until `f` holds.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    f()
}

#[test]
fn chaos_leaves_no_leaked_descriptors_or_memory() {
    let secs: u64 = std::env::var("HOLDFAST_CHAOS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let body = server_block(
        "    client_header_timeout 2s;\n    keepalive_timeout 2s;\n    send_timeout 2s;\n    \
         open_file_cache max=16;\n    \
         lingering_timeout 1s;\n    lingering_time 3s;\n    \
         location = /r { return 200 \"R\"; }",
    );
    let prefix = Prefix::new("chaos");
    prefix.write("html/small.txt", "s".repeat(500));
    prefix.write("html/big.bin", vec![b'b'; 1 << 20]);
    let s = Server::start_conf(
        prefix,
        &conf(4096, &body).replace("error_log stderr info;", "error_log stderr notice;"),
    );
    let pid = s.pid();
    // Warm up the pools and the open file cache: the two static files stay
    // open in the cache, so the baseline is the idle count plus two.
    let idle_fds = fd_count(pid);
    for path in ["/r", "/small.txt", "/big.bin"] {
        s.connect().request(get(path)).assert_status(200);
    }
    let fds = idle_fds + 2;
    assert!(
        eventually(Duration::from_secs(5), || fd_count(pid) == fds),
        "descriptors after warm-up: {} (expected {fds})",
        fd_count(pid)
    );

    round(s.addr(), secs, 1);
    assert!(
        eventually(Duration::from_secs(10), || fd_count(pid) == fds),
        "descriptors after round 1: {} (baseline {fds})",
        fd_count(pid)
    );
    let rss1 = common::rss_kib(pid);

    round(s.addr(), secs, 2);
    assert!(
        eventually(Duration::from_secs(10), || fd_count(pid) == fds),
        "descriptors after round 2: {} (baseline {fds})",
        fd_count(pid)
    );
    let rss2 = common::rss_kib(pid);
    // Pools are bounded: a second round of the same chaos must not grow the
    // process (a few hundred KiB of allocator noise allowed).
    assert!(rss2 <= rss1 + 512, "RSS grew from {rss1} KiB to {rss2} KiB");

    // Still serving, nothing panicked.
    s.connect()
        .request(get("/r"))
        .assert_status(200)
        .assert_body("R");
    assert!(!s.log_contains("panicked", Duration::from_millis(10)));
    eprintln!("chaos: {secs}s x 2 rounds, fds {fds}, RSS {rss1} -> {rss2} KiB");
}

#[test]
fn memory_is_given_back_after_a_burst() {
    let body =
        server_block("    client_header_timeout 1s;\n    location = /r { return 200 \"R\"; }");
    let text = format!(
        "worker_rlimit_nofile 4096;\n{}",
        conf(4096, &body).replace("error_log stderr info;", "error_log stderr notice;")
    );
    let s = Server::start_conf(Prefix::new("burst"), &text);
    let pid = s.pid();
    s.connect().request(get("/r")).assert_status(200);
    let fds = fd_count(pid);
    let base = common::rss_kib(pid);
    // 1,500 connections stuck in their header, closed by client_header_timeout.
    let mut held = Vec::new();
    for _ in 0..1500 {
        let Some(mut c) = connect(s.addr()) else {
            break;
        };
        let _ =
            c.write_all(b"GET /r HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa");
        held.push(c);
    }
    assert!(held.len() >= 1000, "opened {}", held.len());
    let peak = common::rss_kib(pid);
    assert!(
        eventually(Duration::from_secs(10), || fd_count(pid) <= fds),
        "descriptors: {} (baseline {fds})",
        fd_count(pid)
    );
    drop(held);
    assert!(
        eventually(Duration::from_secs(5), || common::rss_kib(pid)
            <= base + 512),
        "RSS {} KiB after the burst (baseline {base} KiB, peak {peak} KiB)",
        common::rss_kib(pid)
    );
    s.connect().request(get("/r")).assert_status(200);
}
