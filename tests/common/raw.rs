//! A raw HTTP/1.1 client for tests that read chunked, length-delimited and
//! close-delimited responses (the compression and recoding tests): strict
//! about chunked framing (bad framing panics), plus a reference gzip
//! decoder.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_secs(10);

/// Decodes a gzip stream (all its members) with flate2's decoder.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut d = flate2::read::MultiGzDecoder::new(data);
    let mut out = Vec::new();
    d.read_to_end(&mut out).expect("a valid gzip stream");
    out
}

/// A response read off a raw stream: the head, and the body de-chunked
/// (strictly), by Content-Length, or up to the close.
pub struct Got {
    /// The status line and headers.
    pub head: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Got {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    #[track_caller]
    /// Panics unless the body was chunked (and had no length).
    pub fn assert_chunked(&self) {
        assert_eq!(
            self.header("Transfer-Encoding"),
            Some("chunked"),
            "{}",
            self.head
        );
        assert_eq!(self.header("Content-Length"), None, "{}", self.head);
    }
}

/// A client connection reading whole responses.
pub struct Client {
    /// The socket.
    pub t: TcpStream,
    /// Bytes read and not yet part of a response.
    pub buf: Vec<u8>,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Client {
        Client {
            t: TcpStream::connect(addr).unwrap(),
            buf: Vec::new(),
        }
    }

    fn fill(&mut self, deadline: Instant) -> bool {
        let mut tmp = [0u8; 65536];
        let left = deadline.saturating_duration_since(Instant::now());
        self.t
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match self.t.read(&mut tmp) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(e) => panic!(
                "read failed: {e}; got {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Sends `req` and reads its response (`head_only`: HEAD).
    pub fn exchange(&mut self, req: &str) -> Got {
        self.t.write_all(req.as_bytes()).unwrap();
        self.read(req.starts_with("HEAD"))
    }

    /// Reads one response (`head_only`: the answer to HEAD).
    pub fn read(&mut self, head_only: bool) -> Got {
        let deadline = Instant::now() + WITHIN;
        let end = loop {
            if let Some(p) = crate::common::find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            assert!(self.fill(deadline), "closed before the head");
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut got = Got {
            head,
            body: Vec::new(),
        };
        let status = got.status();
        if head_only || status == 304 || status == 204 {
            return got;
        }
        if got.header("Transfer-Encoding") == Some("chunked") {
            assert!(got.header("Content-Length").is_none(), "{}", got.head);
            loop {
                let line = loop {
                    if let Some(p) = crate::common::find(&self.buf, b"\r\n") {
                        break p;
                    }
                    assert!(self.fill(deadline), "closed inside a chunk size");
                };
                let size = std::str::from_utf8(&self.buf[..line]).unwrap();
                let n = usize::from_str_radix(size, 16).expect("a hex chunk size");
                while self.buf.len() < line + 4 + n {
                    assert!(self.fill(deadline), "closed inside a chunk");
                }
                assert_eq!(&self.buf[line + 2 + n..line + 4 + n], b"\r\n");
                got.body
                    .extend_from_slice(&self.buf[line + 2..line + 2 + n]);
                self.buf.drain(..line + 4 + n);
                if n == 0 {
                    return got;
                }
            }
        }
        if let Some(len) = got.header("Content-Length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                assert!(self.fill(deadline), "closed inside the body");
            }
            got.body = self.buf.drain(..len).collect();
            return got;
        }
        while self.fill(deadline) {}
        got.body = std::mem::take(&mut self.buf);
        got
    }
}
