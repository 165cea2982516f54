//! The chunked transfer coding decoder (RFC 9112 §7.1): nginx's
//! ngx_http_parse_chunked, written as a state machine with one function per
//! state, in the style of hyper's `ChunkedState`.
//!
//! ```text
//! Size ─hex─▶ Size ─;─▶ Extension ─CR─▶ SizeLf ─LF─▶ Data ─▶ DataCr ─▶ DataLf ─▶ Size …
//!  "0" line ─▶ Trailer ─▶ TrailerLine ─▶ TrailerLf ─▶ Trailer … ─CRLF─▶ Done
//! ```
//!
//! Every line ends with CRLF: a bare LF is an error (as in nginx since
//! 1.29.4 — a lenient chunk parser is a request-smuggling vector), so are a
//! CR not followed by LF, a size without hex digits, a size that overflows, control
//! bytes in an extension, or an extension or trailer section over its limit
//! is an error (400). [`ChunkedDecoder::min_remaining`] is a lower bound of the
//! bytes a valid body still needs, so a reader that never asks the socket for
//! more than that never reads past the body into a pipelined request (the
//! `length` trick of ngx_http_parse_chunked).

/// Longest chunk extension accepted on one size line.
pub const CHUNK_EXT_LIMIT: usize = 4096;
/// Longest trailer section accepted.
pub const TRAILER_LIMIT: usize = 8192;
/// Largest chunk size accepted (nginx caps it at NGX_MAX_OFF_T_VALUE / 16).
pub const MAX_CHUNK_SIZE: u64 = (i64::MAX as u64) / 16;

/// Decoder state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkedState {
    /// Reading the hex chunk size.
    #[default]
    Size,
    /// Whitespace after the size.
    SizeLws,
    /// Inside a chunk extension.
    Extension,
    /// After the CR of the size line.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// After chunk data, expecting CR (or LF).
    DataCr,
    /// After chunk data's CR.
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    Trailer,
    /// Inside a trailer field line.
    TrailerLine,
    /// After a trailer line's CR.
    TrailerLf,
    /// After the final CR.
    EndLf,
    /// The whole body has been read.
    Done,
}

/// Why a chunked body is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// Not a hex digit where the size is expected, or no digit at all.
    BadSize,
    /// The size does not fit.
    SizeOverflow,
    /// CR without LF, or garbage where a line end is expected.
    BadLineEnd,
    /// Control byte or over-long extension.
    BadExtension,
    /// Trailer section too long or malformed.
    BadTrailer,
}

/// Incremental decoder of one chunked body.
#[derive(Debug, Clone, Default)]
pub struct ChunkedDecoder {
    state: ChunkedState,
    /// Current chunk size (while reading the size) or bytes left in it (data).
    size: u64,
    /// Hex digits seen on this size line.
    digits: u8,
    ext_len: usize,
    trailer_len: usize,
    /// Data bytes decoded so far (for client_max_body_size).
    body: u64,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Current state.
    pub fn state(&self) -> ChunkedState {
        self.state
    }

    /// The last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkedState::Done
    }

    /// Data bytes decoded so far.
    pub fn body_size(&self) -> u64 {
        self.body
    }

    /// A lower bound of the bytes a valid body still needs (≥ 1 until done).
    pub fn min_remaining(&self) -> u64 {
        use ChunkedState::*;
        // The shortest end of a body from the start of a size line: "0\r\n\r\n".
        const LAST: u64 = 5;
        let size = self.size;
        match self.state {
            Size | SizeLws | Extension if self.digits == 0 => LAST,
            Size | SizeLws | Extension if size == 0 => 4,
            Size | SizeLws | Extension => size.saturating_add(4 + LAST),
            SizeLf if size == 0 => 3,
            SizeLf => size.saturating_add(3 + LAST),
            Data => size.saturating_add(2 + LAST),
            DataCr => 2 + LAST,
            DataLf => 1 + LAST,
            Trailer => 2,
            TrailerLine => 4,
            TrailerLf => 3,
            EndLf => 1,
            Done => 0,
        }
    }

    /// Decodes as much of `input` as belongs to the body, calling `data` with
    /// each run of chunk data; returns the bytes consumed. Stops at the end of
    /// the body, so what follows stays unconsumed.
    pub fn decode(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<usize, ChunkedError> {
        let mut i = 0;
        while i < input.len() && self.state != ChunkedState::Done {
            if self.state == ChunkedState::Data {
                let take = (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                data(&input[i..i + take]);
                i += take;
                self.size -= take as u64;
                self.body += take as u64;
                if self.size == 0 {
                    self.state = ChunkedState::DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = self.step(b)?;
        }
        Ok(i)
    }

    /// One byte of the framing (everything but chunk data).
    fn step(&mut self, b: u8) -> Result<ChunkedState, ChunkedError> {
        use ChunkedState::*;
        match self.state {
            Size => self.read_size(b),
            SizeLws => self.read_size_lws(b),
            Extension => self.read_extension(b),
            SizeLf => self.read_size_lf(b),
            DataCr => Self::read_data_cr(b),
            DataLf => Self::read_data_lf(b),
            Trailer => self.read_trailer(b),
            TrailerLine => self.read_trailer_line(b),
            TrailerLf => Self::read_trailer_lf(b),
            EndLf => Self::read_end_lf(b),
            Data | Done => Ok(self.state),
        }
    }

    fn read_size(&mut self, b: u8) -> Result<ChunkedState, ChunkedError> {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ if self.digits == 0 => return Err(ChunkedError::BadSize),
            b' ' | b'\t' => return Ok(ChunkedState::SizeLws),
            b';' => return Ok(ChunkedState::Extension),
            b'\r' => return Ok(ChunkedState::SizeLf),
            b'\n' => return Err(ChunkedError::BadLineEnd),
            _ => return Err(ChunkedError::BadSize),
        };
        self.digits = self.digits.saturating_add(1);
        self.size = self
            .size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .filter(|&s| s <= MAX_CHUNK_SIZE)
            .ok_or(ChunkedError::SizeOverflow)?;
        Ok(ChunkedState::Size)
    }

    fn read_size_lws(&mut self, b: u8) -> Result<ChunkedState, ChunkedError> {
        match b {
            b' ' | b'\t' => Ok(ChunkedState::SizeLws),
            b';' => Ok(ChunkedState::Extension),
            b'\r' => Ok(ChunkedState::SizeLf),
            b'\n' => Err(ChunkedError::BadLineEnd),
            _ => Err(ChunkedError::BadSize),
        }
    }

    fn read_extension(&mut self, b: u8) -> Result<ChunkedState, ChunkedError> {
        match b {
            b'\r' => Ok(ChunkedState::SizeLf),
            b'\n' => Err(ChunkedError::BadLineEnd),
            b'\t' | 0x20..=0x7e | 0x80..=0xff => {
                self.ext_len += 1;
                if self.ext_len > CHUNK_EXT_LIMIT {
                    Err(ChunkedError::BadExtension)
                } else {
                    Ok(ChunkedState::Extension)
                }
            }
            _ => Err(ChunkedError::BadExtension),
        }
    }

    fn read_size_lf(&mut self, b: u8) -> Result<ChunkedState, ChunkedError> {
        if b == b'\n' {
            Ok(self.size_line_done())
        } else {
            Err(ChunkedError::BadLineEnd)
        }
    }

    fn size_line_done(&mut self) -> ChunkedState {
        self.digits = 0;
        self.ext_len = 0;
        if self.size == 0 {
            ChunkedState::Trailer
        } else {
            ChunkedState::Data
        }
    }

    fn read_data_cr(b: u8) -> Result<ChunkedState, ChunkedError> {
        match b {
            b'\r' => Ok(ChunkedState::DataLf),
            _ => Err(ChunkedError::BadLineEnd),
        }
    }

    fn read_data_lf(b: u8) -> Result<ChunkedState, ChunkedError> {
        if b == b'\n' {
            Ok(ChunkedState::Size)
        } else {
            Err(ChunkedError::BadLineEnd)
        }
    }

    fn read_trailer(&mut self, b: u8) -> Result<ChunkedState, ChunkedError> {
        match b {
            b'\r' => Ok(ChunkedState::EndLf),
            b'\n' => Err(ChunkedError::BadLineEnd),
            b' ' | b'\t' => Err(ChunkedError::BadTrailer), // obs-fold
            _ => self.read_trailer_line(b),
        }
    }

    fn read_trailer_line(&mut self, b: u8) -> Result<ChunkedState, ChunkedError> {
        self.trailer_len += 1;
        if self.trailer_len > TRAILER_LIMIT {
            return Err(ChunkedError::BadTrailer);
        }
        match b {
            b'\r' => Ok(ChunkedState::TrailerLf),
            b'\n' => Err(ChunkedError::BadLineEnd),
            b'\t' | 0x20..=0x7e | 0x80..=0xff => Ok(ChunkedState::TrailerLine),
            _ => Err(ChunkedError::BadTrailer),
        }
    }

    fn read_trailer_lf(b: u8) -> Result<ChunkedState, ChunkedError> {
        if b == b'\n' {
            Ok(ChunkedState::Trailer)
        } else {
            Err(ChunkedError::BadLineEnd)
        }
    }

    fn read_end_lf(b: u8) -> Result<ChunkedState, ChunkedError> {
        if b == b'\n' {
            Ok(ChunkedState::Done)
        } else {
            Err(ChunkedError::BadLineEnd)
        }
    }
}

/// The chunk-size line of ngx_http_chunked_body_filter: `SIZE-IN-HEX CRLF`
/// appended to `out` (no allocation: the chunk headers of relayed and
/// compressed bodies are written per chunk).
pub fn push_chunk_size(out: &mut Vec<u8>, n: usize) {
    use std::io::Write;
    let _ = write!(out, "{n:x}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut d = ChunkedDecoder::new();
        let mut body = Vec::new();
        let n = d.decode(input, |b| body.extend_from_slice(b))?;
        assert!(d.is_done(), "not done: {:?}", d.state());
        Ok((body, n))
    }

    #[test]
    fn decodes_bodies_and_stops_at_the_end() {
        let (b, n) = decode_all(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET").unwrap();
        assert_eq!(b, b"hello world");
        assert_eq!(n, 32);
        let (b, _) = decode_all(b"A\r\nabcdefghij\r\n0\r\nX-T: 1\r\n\r\n").unwrap();
        assert_eq!(b, b"abcdefghij");
        let (b, _) = decode_all(b"0\r\nTrailer: x\r\n\r\n").unwrap();
        assert!(b.is_empty());
        let (b, _) = decode_all(b"000\r\n\r\n").unwrap();
        assert!(b.is_empty());
        let (b, _) = decode_all(b"3 \t;a\r\nabc\r\n0\r\n\r\n").unwrap();
        assert_eq!(b, b"abc");
    }

    #[test]
    fn rejects_malformed_bodies() {
        for bare_lf in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhello\n0\r\n\r\n",
            b"0\n\r\n",
            b"0\r\n\n",
            b"1;e\nx\r\n",
            b"0\r\nT: 1\n\r\n",
        ] {
            let mut d = ChunkedDecoder::new();
            assert_eq!(
                d.decode(bare_lf, |_| {}),
                Err(ChunkedError::BadLineEnd),
                "{:?}",
                String::from_utf8_lossy(bare_lf)
            );
        }
        let bad: [(&[u8], ChunkedError); 9] = [
            (b"x\r\n", ChunkedError::BadSize),
            (b"\r\n", ChunkedError::BadSize),
            (b"-1\r\n", ChunkedError::BadSize),
            (b"fffffffffffffffff\r\n", ChunkedError::SizeOverflow),
            (b"5\rx", ChunkedError::BadLineEnd),
            (b"1\r\nab", ChunkedError::BadLineEnd),
            (b"1;\x01\r\n", ChunkedError::BadExtension),
            (b"0\r\n obs-fold\r\n", ChunkedError::BadTrailer),
            (b"0\r\n\rx", ChunkedError::BadLineEnd),
        ];
        for (input, err) in bad {
            let mut d = ChunkedDecoder::new();
            assert_eq!(
                d.decode(input, |_| {}),
                Err(err),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long_ext = format!("1;{}\r\n", "e".repeat(CHUNK_EXT_LIMIT + 1));
        assert_eq!(
            ChunkedDecoder::new().decode(long_ext.as_bytes(), |_| {}),
            Err(ChunkedError::BadExtension)
        );
        let long_trailer = format!("0\r\nX: {}\r\n\r\n", "t".repeat(TRAILER_LIMIT));
        assert_eq!(
            ChunkedDecoder::new().decode(long_trailer.as_bytes(), |_| {}),
            Err(ChunkedError::BadTrailer)
        );
    }

    #[test]
    fn split_at_every_offset_gives_the_same_body() {
        let input = b"4\r\nWiki\r\n5;x=y\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n";
        let (whole, n) = decode_all(input).unwrap();
        assert_eq!(n, input.len());
        for i in 0..input.len() {
            let mut d = ChunkedDecoder::new();
            let mut body = Vec::new();
            let a = d
                .decode(&input[..i], |b| body.extend_from_slice(b))
                .unwrap();
            assert_eq!(a, i);
            let b = d
                .decode(&input[i..], |b| body.extend_from_slice(b))
                .unwrap();
            assert_eq!(a + b, input.len());
            assert!(d.is_done());
            assert_eq!(body, whole, "split {i}");
        }
    }

    #[test]
    fn reading_min_remaining_never_passes_the_end() {
        let bodies: [&[u8]; 4] = [
            b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
            b"1\r\nx\r\n0\r\n\r\n",
            b"0\r\nA: b\r\nC: d\r\n\r\n",
            b"10;e=f\r\n0123456789abcdef\r\n0\r\n\r\n",
        ];
        for body in bodies {
            let mut stream = body.to_vec();
            stream.extend_from_slice(b"GET / HTTP/1.1\r\n");
            let mut d = ChunkedDecoder::new();
            let mut pos = 0;
            while !d.is_done() {
                let want = d.min_remaining() as usize;
                assert!(
                    want >= 1 && pos + want <= body.len(),
                    "overread at {pos} (+{want})"
                );
                let n = d.decode(&stream[pos..pos + want], |_| {}).unwrap();
                assert_eq!(n, want, "a bounded read is consumed whole");
                pos += n;
            }
            assert_eq!(&stream[pos..], b"GET / HTTP/1.1\r\n");
        }
    }
}
