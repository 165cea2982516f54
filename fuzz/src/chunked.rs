//! The `chunked` target: [`ChunkedDecoder`] on arbitrary input, whole and
//! split at fuzz-chosen points.
//!
//! Input: two control bytes, then the body bytes.
//! - byte 0: the longest piece when splitting (0: pieces of 1..=255 bytes);
//! - byte 1: seed of the piece lengths.
//!
//! Invariants:
//! - no panic;
//! - decoding the pieces one after the other gives what decoding the whole
//!   input gives: the same bytes consumed, data, state, or the same error;
//! - `decode` never consumes past the end of the first complete body, and
//!   consumes everything it is given until then;
//! - reads of `min_remaining()` bytes (what the server asks the socket for)
//!   never pass the end of the body and are always consumed whole.

use holdfast::http::chunked::{ChunkedDecoder, ChunkedError};

/// What one decoding run ended with.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Bytes consumed, or the error.
    result: Result<usize, ChunkedError>,
    /// Chunk data handed to the callback.
    data: Vec<u8>,
    /// The decoder reached the end of the body.
    done: bool,
}

/// A small deterministic generator for the split points.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        // xorshift32; the seed is never 0.
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// Checks the decoder's own bookkeeping after a call.
fn check_decoder(d: &ChunkedDecoder, data: &[u8]) {
    assert_eq!(
        d.body_size(),
        data.len() as u64,
        "body_size disagrees with the data handed out"
    );
    assert_eq!(
        d.min_remaining() == 0,
        d.is_done(),
        "min_remaining() is 0 exactly when done (state {:?})",
        d.state()
    );
}

fn decode_whole(input: &[u8]) -> Outcome {
    let mut d = ChunkedDecoder::new();
    let mut data = Vec::new();
    let result = d.decode(input, |b| data.extend_from_slice(b));
    check_decoder(&d, &data);
    if let Ok(n) = result {
        assert!(n <= input.len(), "consumed {n} of {}", input.len());
        assert!(
            n == input.len() || d.is_done(),
            "stopped at {n} of {} without finishing the body",
            input.len()
        );
    }
    Outcome {
        result,
        data,
        done: d.is_done(),
    }
}

fn decode_split(input: &[u8], max_piece: usize, seed: u8) -> Outcome {
    let mut rng = Rng((0x9e37_79b9 ^ (u32::from(seed) << 8)) | 1);
    let mut d = ChunkedDecoder::new();
    let mut data = Vec::new();
    let mut pos = 0;
    let result = loop {
        if pos == input.len() || d.is_done() {
            break Ok(pos);
        }
        let len = 1 + rng.next() as usize % max_piece;
        let piece = &input[pos..(pos + len).min(input.len())];
        match d.decode(piece, |b| data.extend_from_slice(b)) {
            Ok(n) => {
                check_decoder(&d, &data);
                assert!(n <= piece.len());
                assert!(
                    n == piece.len() || d.is_done(),
                    "a piece was cut short before the end of the body"
                );
                pos += n;
            }
            Err(e) => break Err(e),
        }
    };
    Outcome {
        result,
        data,
        done: d.is_done(),
    }
}

/// Reads exactly `min_remaining()` bytes at a time, as the server's body
/// discarding does; returns where it stopped and how.
fn decode_bounded(input: &[u8]) -> (usize, Result<bool, ChunkedError>) {
    let mut d = ChunkedDecoder::new();
    let mut data = Vec::new();
    let mut pos = 0;
    loop {
        if d.is_done() {
            return (pos, Ok(true));
        }
        let want = d.min_remaining();
        assert!(want >= 1, "min_remaining() is 0 before the end");
        let Some(end) = usize::try_from(want)
            .ok()
            .and_then(|w| pos.checked_add(w))
            .filter(|&e| e <= input.len())
        else {
            return (pos, Ok(false));
        };
        match d.decode(&input[pos..end], |b| data.extend_from_slice(b)) {
            Ok(n) => {
                check_decoder(&d, &data);
                assert_eq!(n, end - pos, "a bounded read must be consumed whole");
                pos = end;
            }
            Err(e) => return (pos, Err(e)),
        }
    }
}

/// Runs one fuzz input through every check; panics on a violation.
pub fn run(input: &[u8]) {
    let [max_piece, seed, body @ ..] = input else {
        return;
    };
    let max_piece = if *max_piece == 0 {
        255
    } else {
        usize::from(*max_piece)
    };
    let whole = decode_whole(body);
    let split = decode_split(body, max_piece, *seed);
    match (&whole.result, &split.result) {
        (Ok(_), Ok(_)) => assert_eq!(whole, split, "split decoding differs"),
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "split decoding fails differently");
            assert_eq!(
                whole.data, split.data,
                "split decoding produced different data before the error"
            );
        }
        _ => panic!("whole: {:?}, split: {:?}", whole.result, split.result),
    }
    let (pos, bounded) = decode_bounded(body);
    match bounded {
        Ok(true) => assert_eq!(
            whole.result,
            Ok(pos),
            "bounded reads finished the body at {pos}"
        ),
        // Ran out of input; checked below when the body ends within it.
        Ok(false) => {}
        Err(e) => assert_eq!(
            whole.result,
            Err(e),
            "bounded reads failed at {pos} differently"
        ),
    }
    if whole.done {
        // The body ended: bounded reads must have found the same end.
        assert_eq!(
            bounded,
            Ok(true),
            "bounded reads missed the end of the body"
        );
    }
}
