//! A streaming HTTP/1.x response reader: bytes go in as they arrive, complete
//! responses come out. The head is parsed with `httparse`; the body is framed
//! by `Content-Length`, by chunked transfer coding (chunk sizes decoded,
//! trailers skipped) or, lacking both, by the end of the connection. HEAD
//! responses and 1xx/204/304 have no body; 100 Continue is skipped.

/// The longest response head (or chunk-size or trailer line) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per response.
const MAX_HEADERS: usize = 64;

/// A complete response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completed {
    /// The status code.
    pub status: u16,
    /// The server will close the connection after it.
    pub close: bool,
    /// The body matched `--expect-body` (true when there is none to match).
    pub body_ok: bool,
}

/// Where in a response the reader is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Collecting the head.
    Head,
    /// `left` bytes of a Content-Length body to come.
    Body { left: u64 },
    /// Collecting a chunk-size line.
    ChunkSize,
    /// `left` bytes of chunk data to come.
    ChunkData { left: u64 },
    /// The CRLF after chunk data; `seen` of its two bytes arrived.
    ChunkEnd { seen: u8 },
    /// Trailer lines up to the empty line.
    Trailers,
    /// A body that ends when the connection does.
    UntilClose,
}

/// The reader of one connection.
pub struct ResponseReader {
    part: Part,
    /// Partial head, chunk-size or trailer line.
    line: Vec<u8>,
    /// The request was HEAD: responses have no body.
    head_request: bool,
    /// The current response's status and connection flag.
    status: u16,
    close: bool,
    /// Body bytes seen of the current response, and whether they matched.
    body_seen: usize,
    body_ok: bool,
}

impl ResponseReader {
    /// A reader for responses to `HEAD` requests (`head_request`) or others.
    pub fn new(head_request: bool) -> ResponseReader {
        ResponseReader {
            part: Part::Head,
            line: Vec::new(),
            head_request,
            status: 0,
            close: false,
            body_seen: 0,
            body_ok: true,
        }
    }

    /// Has nothing of a response arrived since the last complete one?
    pub fn is_between_responses(&self) -> bool {
        self.part == Part::Head && self.line.is_empty()
    }

    /// Forgets any partial response and releases the line buffer.
    pub fn reset(&mut self) {
        self.part = Part::Head;
        self.line = Vec::new();
    }

    /// Feeds received bytes; every response completed by them is pushed to
    /// `done`. `expect` is the body every response must have. Returns an
    /// error for a malformed response (the connection is unusable then).
    pub fn feed(
        &mut self,
        mut data: &[u8],
        expect: Option<&[u8]>,
        done: &mut Vec<Completed>,
    ) -> Result<(), String> {
        while !data.is_empty() {
            match self.part {
                Part::Head => {
                    let used = self.take_head(data)?;
                    data = &data[used..];
                    if self.part != Part::Head {
                        self.body_seen = 0;
                        self.body_ok = true;
                    }
                    self.complete_if_empty(expect, done);
                }
                Part::Body { left } => {
                    let n = (data.len() as u64).min(left) as usize;
                    self.check_body(&data[..n], expect);
                    data = &data[n..];
                    if left == n as u64 {
                        self.complete(expect, done);
                    } else {
                        self.part = Part::Body {
                            left: left - n as u64,
                        };
                    }
                }
                Part::ChunkSize => {
                    let Some(used) = self.take_line(data)? else {
                        return Ok(());
                    };
                    data = &data[used..];
                    let size = parse_chunk_size(&self.line)?;
                    self.line.clear();
                    self.part = if size == 0 {
                        Part::Trailers
                    } else {
                        Part::ChunkData { left: size }
                    };
                }
                Part::ChunkData { left } => {
                    let n = (data.len() as u64).min(left) as usize;
                    self.check_body(&data[..n], expect);
                    data = &data[n..];
                    self.part = if left == n as u64 {
                        Part::ChunkEnd { seen: 0 }
                    } else {
                        Part::ChunkData {
                            left: left - n as u64,
                        }
                    };
                }
                Part::ChunkEnd { seen } => {
                    if data[0] != b"\r\n"[seen as usize] {
                        return Err("chunk data not followed by CRLF".into());
                    }
                    data = &data[1..];
                    self.part = if seen == 1 {
                        Part::ChunkSize
                    } else {
                        Part::ChunkEnd { seen: 1 }
                    };
                }
                Part::Trailers => {
                    let Some(used) = self.take_line(data)? else {
                        return Ok(());
                    };
                    data = &data[used..];
                    let empty = self.line == b"\r\n";
                    self.line.clear();
                    if empty {
                        self.complete(expect, done);
                    }
                }
                Part::UntilClose => {
                    self.check_body(data, expect);
                    data = &[];
                }
            }
        }
        Ok(())
    }

    /// The connection ended: completes a response delimited by the close.
    pub fn finish_at_eof(&mut self, expect: Option<&[u8]>) -> Option<Completed> {
        if self.part != Part::UntilClose {
            return None;
        }
        let mut done = Vec::new();
        self.complete(expect, &mut done);
        done.pop()
    }

    fn check_body(&mut self, bytes: &[u8], expect: Option<&[u8]>) {
        if let Some(want) = expect
            && self.body_ok
        {
            let end = self.body_seen + bytes.len();
            self.body_ok = want.get(self.body_seen..end) == Some(bytes);
        }
        self.body_seen += bytes.len();
    }

    fn complete(&mut self, expect: Option<&[u8]>, done: &mut Vec<Completed>) {
        let body_ok = match expect {
            Some(want) if !self.head_request => self.body_ok && self.body_seen == want.len(),
            _ => true,
        };
        done.push(Completed {
            status: self.status,
            close: self.close,
            body_ok,
        });
        self.part = Part::Head;
    }

    /// After a head: a response without a body is complete at once.
    fn complete_if_empty(&mut self, expect: Option<&[u8]>, done: &mut Vec<Completed>) {
        if self.part == (Part::Body { left: 0 }) {
            self.complete(expect, done);
        }
    }

    /// Collects a line ending in LF into `self.line`; returns the bytes of
    /// `data` used once the line is complete.
    fn take_line(&mut self, data: &[u8]) -> Result<Option<usize>, String> {
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.line.extend_from_slice(&data[..=i]);
                Ok(Some(i + 1))
            }
            None => {
                self.line.extend_from_slice(data);
                if self.line.len() > MAX_HEAD {
                    return Err("chunk-size or trailer line too long".into());
                }
                Ok(None)
            }
        }
    }

    /// Consumes head bytes; when the head is complete, parses it and moves
    /// on to the body. Returns how many bytes of `data` were used.
    fn take_head(&mut self, data: &[u8]) -> Result<usize, String> {
        if self.line.is_empty() {
            // The common case: the whole head is in this read.
            if let Some(end) = find_head_end(data, 0) {
                self.parse_head_bytes(&data[..end])?;
                return Ok(end);
            }
        }
        let before = self.line.len();
        self.line.extend_from_slice(data);
        match find_head_end(&self.line, before.saturating_sub(3)) {
            Some(end) => {
                let head = std::mem::take(&mut self.line);
                self.parse_head_bytes(&head[..end])?;
                self.line = head;
                self.line.clear();
                Ok(end - before)
            }
            None if self.line.len() > MAX_HEAD => Err("response head too large".into()),
            None => Ok(data.len()),
        }
    }

    /// Parses a complete head and sets the body framing.
    fn parse_head_bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err("incomplete response head".into()),
            Err(e) => return Err(format!("bad response head: {e}")),
        }
        let status = resp.code.unwrap_or(0);
        let http10 = resp.version == Some(0);
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut close = http10;
        for h in resp.headers.iter() {
            let value = std::str::from_utf8(h.value).unwrap_or("").trim();
            if h.name.eq_ignore_ascii_case("content-length") {
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?;
                if length.is_some_and(|l| l != n) {
                    return Err("conflicting Content-Length headers".into());
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
                if !chunked {
                    return Err(format!("unsupported Transfer-Encoding {value:?}"));
                }
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                        close = false;
                    }
                }
            }
        }
        if status == 101 {
            return Err("unexpected 101 Switching Protocols".into());
        }
        if (100..200).contains(&status) {
            // An interim response: the real one follows.
            return Ok(());
        }
        self.status = status;
        self.close = close;
        self.part = if self.head_request || status == 204 || status == 304 {
            Part::Body { left: 0 }
        } else if chunked {
            Part::ChunkSize
        } else if let Some(n) = length {
            Part::Body { left: n }
        } else {
            self.close = true;
            Part::UntilClose
        };
        Ok(())
    }
}

/// The end of a head (just after CRLF CRLF) in `buf`, searching from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| from + p + 4)
}

/// The size of a chunk-size line (`1a;ext=1\r\n`).
fn parse_chunk_size(line: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(line).map_err(|_| "bad chunk size".to_string())?;
    let text = text.strip_suffix("\r\n").ok_or("chunk size without CRLF")?;
    let hex = text.split(';').next().unwrap_or("").trim();
    if hex.is_empty() || hex.len() > 15 {
        return Err(format!("bad chunk size {hex:?}"));
    }
    u64::from_str_radix(hex, 16).map_err(|_| format!("bad chunk size {hex:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(r: &mut ResponseReader, parts: &[&[u8]], expect: Option<&[u8]>) -> Vec<Completed> {
        let mut done = Vec::new();
        for p in parts {
            r.feed(p, expect, &mut done).unwrap();
        }
        done
    }

    #[test]
    fn content_length_split_anywhere() {
        let text = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n";
        for cut in 0..text.len() {
            let mut r = ResponseReader::new(false);
            let done = feed_all(&mut r, &[&text[..cut], &text[cut..]], Some(b"hello"));
            assert_eq!(done.len(), 2, "cut {cut}");
            assert_eq!(done[0].status, 200);
            assert!(done[0].body_ok && !done[0].close);
            assert_eq!(done[1].status, 404);
            assert!(!done[1].body_ok && done[1].close);
            assert!(r.is_between_responses());
        }
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let text =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                     3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nX-T: 1\r\n\r\n";
        for cut in 0..text.len() {
            let mut r = ResponseReader::new(false);
            let done = feed_all(&mut r, &[&text[..cut], &text[cut..]], Some(b"hello"));
            assert_eq!(done.len(), 1, "cut {cut}");
            assert!(done[0].body_ok, "cut {cut}");
        }
        let mut r = ResponseReader::new(false);
        let mut done = Vec::new();
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhelXX";
        assert!(r.feed(bad, None, &mut done).is_err());
    }

    #[test]
    fn head_and_close_delimited() {
        let mut r = ResponseReader::new(true);
        let done = feed_all(
            &mut r,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"],
            None,
        );
        assert_eq!(done.len(), 1);
        let mut r = ResponseReader::new(false);
        let done = feed_all(&mut r, &[b"HTTP/1.0 200 OK\r\n\r\nabc"], Some(b"abc"));
        assert!(done.is_empty());
        let last = r.finish_at_eof(Some(b"abc")).unwrap();
        assert!(last.close && last.body_ok);
        let mut r = ResponseReader::new(false);
        let mut done = Vec::new();
        assert!(r.feed(b"garbage\r\n\r\n", None, &mut done).is_err());
    }
}
