//! A backend for proxy tests: a real socket on 127.0.0.1 served by a
//! thread, answering each connection as told, and recording what arrived.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the backend answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// The response bytes, then close.
    Raw(Vec<u8>),
    /// The response bytes in two writes, split at this offset, then close.
    SplitAt(Vec<u8>, usize),
    /// Read the request, answer nothing, hold the connection until the
    /// client closes it.
    Silent,
    /// The response bytes after a pause, then close.
    After(Vec<u8>, Duration),
    /// `101 Switching Protocols`, then every byte received is sent back
    /// (upper-cased) until the client closes.
    Echo101,
}

/// A running backend.
pub struct Backend {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    closed_by_peer: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Backend {
    /// Starts a backend answering every connection with `reply`.
    pub fn start(reply: Reply) -> Backend {
        Backend::spawn(move |s, _, requests, closed, written| {
            serve(s, reply.clone(), requests, closed, written)
        })
    }

    /// Binds 127.0.0.1:0 and serves each accepted connection on a thread
    /// of its own with `each(stream, connection number from 1, the request
    /// log, the closed-by-peer counter, the responses-written counter)`.
    fn spawn(
        each: impl Fn(TcpStream, usize, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>, Arc<AtomicUsize>)
        + Send
        + Sync
        + 'static,
    ) -> Backend {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let b = Backend {
            addr,
            accepts: Arc::default(),
            requests: Arc::default(),
            closed_by_peer: Arc::default(),
            written: Arc::default(),
            stop: Arc::default(),
        };
        let (accepts, requests, closed, written, stop) = (
            b.accepts.clone(),
            b.requests.clone(),
            b.closed_by_peer.clone(),
            b.written.clone(),
            b.stop.clone(),
        );
        let each = Arc::new(each);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let n = accepts.fetch_add(1, Ordering::SeqCst) + 1;
                        let (each, requests, closed, written) = (
                            each.clone(),
                            requests.clone(),
                            closed.clone(),
                            written.clone(),
                        );
                        std::thread::spawn(move || each(s, n, requests, closed, written));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        b
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// Request heads received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Silent (or kept-alive) connections the proxy closed.
    pub fn closed_by_peer(&self) -> usize {
        self.closed_by_peer.load(Ordering::SeqCst)
    }

    /// Responses written whole (`Raw`, `SplitAt`, `After`): the proxy
    /// took every byte.
    pub fn written(&self) -> usize {
        self.written.load(Ordering::SeqCst)
    }

    /// Waits until [`Backend::written`] reaches `n`; false at the deadline.
    #[allow(dead_code)]
    pub fn wait_written(&self, n: usize, within: Duration) -> bool {
        let end = std::time::Instant::now() + within;
        while std::time::Instant::now() < end {
            if self.written() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    mut s: TcpStream,
    reply: Reply,
    requests: Arc<Mutex<Vec<String>>>,
    closed: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    // A Content-Length body is recorded with the head.
    let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
    let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    let len = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while head.len() < end + len {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    requests
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&head).into_owned());
    match reply {
        Reply::Raw(bytes) => {
            if s.write_all(&bytes).is_ok() {
                written.fetch_add(1, Ordering::SeqCst);
            }
        }
        Reply::SplitAt(bytes, at) => {
            let _ = s.write_all(&bytes[..at]);
            let _ = s.flush();
            std::thread::sleep(Duration::from_millis(5));
            if s.write_all(&bytes[at..]).is_ok() {
                written.fetch_add(1, Ordering::SeqCst);
            }
        }
        Reply::Echo101 => {
            let _ = s.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            );
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        closed.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Ok(n) => {
                        if s.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        Reply::After(bytes, pause) => {
            std::thread::sleep(pause);
            if s.write_all(&bytes).is_ok() {
                written.fetch_add(1, Ordering::SeqCst);
            }
        }
        Reply::Silent => {
            if let Ok(0) = s.read(&mut buf) {
                closed.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// A keep-alive HTTP/1.1 backend: answers every request on a connection
/// with `200` and a Content-Length body naming the connection and the
/// request number on it (`c1 r2`), until the client closes; records the
/// request heads and counts connections, like [`Backend`].
pub fn start_keepalive() -> Backend {
    start_keepalive_with(|conn, n| {
        let body = format!("c{conn} r{n}");
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

/// [`start_keepalive`] whose bodies are `size` bytes (`x`), each response
/// counted in [`Backend::written`] once written whole.
#[allow(dead_code)]
pub fn start_keepalive_sized(size: usize) -> Backend {
    start_keepalive_with(move |_, _| {
        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
        r.resize(r.len() + size, b'x');
        r
    })
}

/// A keep-alive backend answering request `n` of connection `conn` with
/// `make(conn, n)` (a whole response, kept-alive after).
pub fn start_keepalive_with(
    make: impl Fn(usize, usize) -> Vec<u8> + Send + Sync + 'static,
) -> Backend {
    start_keepalive_with_head(move |conn, n, _| make(conn, n))
}

/// [`start_keepalive_with`] whose `make` also sees the request head.
pub fn start_keepalive_with_head(
    make: impl Fn(usize, usize, &str) -> Vec<u8> + Send + Sync + 'static,
) -> Backend {
    let make = Arc::new(make);
    Backend::spawn(move |s, n, requests, closed, written| {
        serve_keepalive(s, n, requests, closed, written, &*make)
    })
}

fn serve_keepalive(
    mut s: TcpStream,
    conn: usize,
    requests: Arc<Mutex<Vec<String>>>,
    closed: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
    make: &dyn Fn(usize, usize, &str) -> Vec<u8>,
) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    let mut n = 0;
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            let text = String::from_utf8_lossy(&head).into_owned();
            requests.lock().unwrap().push(text.clone());
            n += 1;
            if s.write_all(&make(conn, n, &text)).is_err() {
                return;
            }
            written.fetch_add(1, Ordering::SeqCst);
        }
        match s.read(&mut buf) {
            Ok(0) => {
                // The proxy closed the kept-alive connection.
                closed.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Err(_) => return,
            Ok(k) => pending.extend_from_slice(&buf[..k]),
        }
    }
}
