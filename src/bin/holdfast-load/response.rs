//! A streaming HTTP/1.x response reader: bytes go in as they arrive, complete
//! responses come out. Heads and body framing are the library's
//! ([`holdfast::http::response_parse`], the parser the proxy uses): the body
//! is framed by `Content-Length`, by chunked transfer coding (trailers
//! skipped) or, lacking both, by the end of the connection. HEAD responses
//! and 1xx/204/304 have no body; 100 Continue (any 1xx but 101) is skipped.

use holdfast::http::parse::Method;
use holdfast::http::response_parse::{
    BodyDecoder, Framing, HeadParse, ResponseHead, ResponseHeadParser,
};

/// The longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// 101 Switching Protocols: a tunnel, never expected here.
const SWITCHING_PROTOCOLS: u16 = 101;

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

/// The `--expect-body` check of the current response's body.
#[derive(Clone, Copy, Debug)]
struct BodyCheck {
    /// Body bytes seen so far.
    seen: usize,
    /// They matched the expected body so far.
    ok: bool,
}

impl BodyCheck {
    /// Compares the next body bytes with `expect`.
    fn update(&mut self, bytes: &[u8], expect: Option<&[u8]>) {
        if let Some(want) = expect
            && self.ok
        {
            let end = self.seen + bytes.len();
            self.ok = want.get(self.seen..end) == Some(bytes);
        }
        self.seen += bytes.len();
    }
}

/// The reader of one connection.
pub struct ResponseReader {
    /// The head parser (it remembers how far a partial head was searched).
    parser: ResponseHeadParser,
    /// A head that arrived in pieces, collected until it is complete.
    head_buf: Vec<u8>,
    /// The current response's body; None between responses.
    body: Option<BodyDecoder>,
    /// The requests' method: responses to HEAD have no body.
    method: Method,
    /// The current response's status and connection flag.
    status: u16,
    close: bool,
    /// Its body so far against `--expect-body`.
    check: BodyCheck,
}

impl ResponseReader {
    /// A reader for responses to `HEAD` requests (`head_request`) or others.
    pub fn new(head_request: bool) -> ResponseReader {
        ResponseReader {
            parser: ResponseHeadParser::new(MAX_HEAD),
            head_buf: Vec::new(),
            body: None,
            method: if head_request {
                Method::Head
            } else {
                Method::Get
            },
            status: 0,
            close: false,
            check: BodyCheck { seen: 0, ok: true },
        }
    }

    /// Has nothing of a response arrived since the last complete one?
    pub fn is_between_responses(&self) -> bool {
        self.body.is_none() && self.head_buf.is_empty()
    }

    /// Forgets any partial response and releases the head buffer.
    pub fn reset(&mut self) {
        self.parser.reset();
        self.head_buf = Vec::new();
        self.body = None;
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
            let Some(body) = &mut self.body else {
                let used = self.take_head(data)?;
                data = &data[used..];
                self.complete_if_done(expect, done);
                continue;
            };
            let check = &mut self.check;
            let used = body
                .decode(data, |bytes| check.update(bytes, expect))
                .map_err(|e| e.to_string())?;
            data = &data[used..];
            self.complete_if_done(expect, done);
        }
        Ok(())
    }

    /// The connection ended: completes a response delimited by the close.
    pub fn finish_at_eof(&mut self, expect: Option<&[u8]>) -> Option<Completed> {
        self.body.as_mut()?.finish_at_eof().ok()?;
        let mut done = Vec::new();
        self.complete_if_done(expect, &mut done);
        done.pop()
    }

    /// Pushes the current response to `done` if its body is complete.
    fn complete_if_done(&mut self, expect: Option<&[u8]>, done: &mut Vec<Completed>) {
        if !self.body.as_ref().is_some_and(BodyDecoder::is_done) {
            return;
        }
        let body_ok = match expect {
            Some(want) if self.method != Method::Head => {
                self.check.ok && self.check.seen == want.len()
            }
            _ => true,
        };
        done.push(Completed {
            status: self.status,
            close: self.close,
            body_ok,
        });
        self.body = None;
    }

    /// Consumes head bytes; when the head is complete, starts its body.
    /// Returns how many bytes of `data` were used.
    fn take_head(&mut self, data: &[u8]) -> Result<usize, String> {
        if self.head_buf.is_empty() {
            // The common case: the whole head is in this read.
            return match self.parser.parse(data) {
                HeadParse::Complete(head) => {
                    self.start_response(&head)?;
                    Ok(head.len)
                }
                HeadParse::Partial => {
                    self.head_buf.extend_from_slice(data);
                    Ok(data.len())
                }
                HeadParse::Invalid(e) => Err(e.to_string()),
            };
        }
        let before = self.head_buf.len();
        self.head_buf.extend_from_slice(data);
        match self.parser.parse(&self.head_buf) {
            HeadParse::Complete(head) => {
                self.head_buf.clear();
                self.start_response(&head)?;
                Ok(head.len.saturating_sub(before))
            }
            HeadParse::Partial => Ok(data.len()),
            HeadParse::Invalid(e) => Err(e.to_string()),
        }
    }

    /// Sets up the body of a final response; an interim one is skipped.
    fn start_response(&mut self, head: &ResponseHead) -> Result<(), String> {
        if head.status == SWITCHING_PROTOCOLS {
            return Err("unexpected 101 Switching Protocols".into());
        }
        if head.is_interim() {
            // The real response follows.
            return Ok(());
        }
        let framing = head.framing(self.method);
        self.status = head.status;
        self.close = !head.is_persistent() || framing == Framing::UntilClose;
        self.check = BodyCheck { seen: 0, ok: true };
        self.body = Some(BodyDecoder::new(framing));
        Ok(())
    }
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

    #[test]
    fn keepalive_interim_and_errors() {
        let mut r = ResponseReader::new(false);
        let done = feed_all(
            &mut r,
            &[b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"],
            Some(b"ok"),
        );
        assert_eq!(done.len(), 1);
        assert!(!done[0].close && done[0].body_ok);
        let mut r = ResponseReader::new(false);
        let mut done = Vec::new();
        r.feed(b"HTTP/1.1 200 OK\r\nContent-", None, &mut done)
            .unwrap();
        assert!(!r.is_between_responses());
        r.reset();
        assert!(r.is_between_responses());
        for bad in [
            &b"HTTP/1.1 101 Switching Protocols\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            let mut r = ResponseReader::new(false);
            assert!(r.feed(bad, None, &mut done).is_err());
        }
    }
}
