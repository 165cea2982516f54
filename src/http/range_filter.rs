//! Byte ranges: nginx's `ngx_http_range_filter_module.c` (issue 12, under
//! way). A 200 response of known length answers `Range: bytes=…` with a
//! 206 (one part, `Content-Range`) or a `multipart/byteranges` 206 (several
//! parts, nginx's boundary and exact length), or 416 with
//! `Content-Range: bytes */SIZE` when no range is satisfiable; `If-Range`
//! (an ETag compared strongly, or the exact Last-Modified date) falls
//! back to the whole 200; `max_ranges N` caps the parts (more: the whole
//! response). Responses that can take ranges say `Accept-Ranges: bytes`.
//!
//! Where holdfast is now: the static module asks (its parts go out with
//! sendfile from their offsets); proxied responses pass as they are.

use crate::core::cycle::Cycle;
use crate::core::time::parse_http_time;
use crate::http::headers::FilterHeaders;
use crate::os::io::Transport;

/// What the request's `Range` asks of a response of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// The whole response (no usable `Range`): 200 with Accept-Ranges.
    Full,
    /// These parts, `[start, end)`, in the client's order: 206.
    Parts(Vec<(u64, u64)>),
    /// None of the ranges is satisfiable: 416.
    Unsatisfiable,
}

/// Mirrors ngx_http_range_header_filter()'s decision for request `key`'s
/// 200 response of `size` bytes with these validators.
pub fn range_filter<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    size: u64,
    last_modified: Option<u64>,
    etag: Option<&[u8]>,
) -> Ranges {
    let c = &cy.conns[key];
    let (Some(r), Some(b)) = (c.req(), c.buf()) else {
        return Ranges::Full;
    };
    if r.err_status != 0 {
        return Ranges::Full;
    }
    let data = b.data();
    let h = &r.filter_headers;
    let Some(range) = FilterHeaders::value(data, h.range) else {
        return Ranges::Full;
    };
    if range.len() < 7 || !range[..6].eq_ignore_ascii_case(b"bytes=") {
        return Ranges::Full;
    }
    if let Some(if_range) = FilterHeaders::value(data, h.if_range)
        && !if_range_matches(if_range, last_modified, etag)
    {
        return Ranges::Full;
    }
    let max = r.loc.as_ref().and_then(|l| l.max_ranges);
    if max == Some(0) {
        return Ranges::Full;
    }
    parse_ranges(&range[6..], size, max.unwrap_or(u64::MAX))
}

/// ngx_http_range_header_filter's If-Range test: an entity tag must equal
/// the response's (strongly), a date its Last-Modified exactly.
fn if_range_matches(value: &[u8], last_modified: Option<u64>, etag: Option<&[u8]>) -> bool {
    if value.first() == Some(&b'"') {
        return etag.is_some_and(|e| e == value);
    }
    match (parse_http_time(value), last_modified) {
        (Some(t), Some(lm)) => t == lm,
        _ => false,
    }
}

/// Mirrors ngx_http_range_parse(): `spec[,spec…]` after `bytes=` for a
/// response of `size` bytes, at most `max` parts (more: the whole
/// response, as for ranges adding up to more than the response).
pub fn parse_ranges(spec: &[u8], size: u64, max: u64) -> Ranges {
    let mut parts = Vec::new();
    let mut total: u64 = 0;
    let mut p = 0;
    let at = |i: usize| spec.get(i).copied().unwrap_or(0);
    let number = |p: &mut usize| -> Option<u64> {
        let mut n: u64 = 0;
        let mut any = false;
        while at(*p).is_ascii_digit() {
            n = n.checked_mul(10)?.checked_add(u64::from(at(*p) - b'0'))?;
            *p += 1;
            any = true;
        }
        any.then_some(n)
    };
    let skip_spaces = |p: &mut usize| {
        while at(*p) == b' ' {
            *p += 1;
        }
    };
    loop {
        skip_spaces(&mut p);
        let (start, end);
        if at(p) != b'-' {
            let Some(s) = number(&mut p) else {
                return Ranges::Unsatisfiable;
            };
            skip_spaces(&mut p);
            if at(p) != b'-' {
                return Ranges::Unsatisfiable;
            }
            p += 1;
            skip_spaces(&mut p);
            if matches!(at(p), b',' | 0) {
                (start, end) = (s, size);
            } else {
                let Some(e) = number(&mut p) else {
                    return Ranges::Unsatisfiable;
                };
                skip_spaces(&mut p);
                if !matches!(at(p), b',' | 0 | b'\r') {
                    return Ranges::Unsatisfiable;
                }
                (start, end) = (s, if e >= size { size } else { e + 1 });
            }
        } else {
            // `-N`: the last N bytes.
            p += 1;
            let Some(n) = number(&mut p) else {
                return Ranges::Unsatisfiable;
            };
            skip_spaces(&mut p);
            if !matches!(at(p), b',' | 0 | b'\r') {
                return Ranges::Unsatisfiable;
            }
            (start, end) = (size.saturating_sub(n), size);
        }
        if start < end {
            if parts.len() as u64 >= max {
                return Ranges::Full;
            }
            parts.push((start, end));
            total = total.saturating_add(end - start);
        } else if start == 0 {
            return Ranges::Full;
        }
        if at(p) != b',' {
            break;
        }
        p += 1;
    }
    if parts.is_empty() {
        return Ranges::Unsatisfiable;
    }
    if total > size {
        return Ranges::Full;
    }
    Ranges::Parts(parts)
}

/// The head of one part of a `multipart/byteranges` body
/// (ngx_http_range_multipart_header's layout).
pub fn part_head(boundary: &[u8], ctype: &[u8], (start, end): (u64, u64), size: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(96);
    h.extend_from_slice(b"\r\n--");
    h.extend_from_slice(boundary);
    h.extend_from_slice(b"\r\nContent-Type: ");
    h.extend_from_slice(ctype);
    h.extend_from_slice(
        format!(
            "\r\nContent-Range: bytes {start}-{}/{size}\r\n\r\n",
            end - 1
        )
        .as_bytes(),
    );
    h
}

/// The last line of a `multipart/byteranges` body.
pub fn multipart_end(boundary: &[u8]) -> Vec<u8> {
    let mut t = b"\r\n--".to_vec();
    t.extend_from_slice(boundary);
    t.extend_from_slice(b"--\r\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_specs_as_nginx_reads_them() {
        let p = |s: &str| parse_ranges(s.as_bytes(), 1000, u64::MAX);
        assert_eq!(p("0-99"), Ranges::Parts(vec![(0, 100)]));
        assert_eq!(p("900-"), Ranges::Parts(vec![(900, 1000)]));
        assert_eq!(p("-100"), Ranges::Parts(vec![(900, 1000)]));
        assert_eq!(p("-2000"), Ranges::Parts(vec![(0, 1000)]));
        assert_eq!(p("990-2000"), Ranges::Parts(vec![(990, 1000)]));
        assert_eq!(p("0-0, 5-9"), Ranges::Parts(vec![(0, 1), (5, 10)]));
        assert_eq!(p("1000-"), Ranges::Unsatisfiable);
        assert_eq!(p("x-1"), Ranges::Unsatisfiable);
        assert_eq!(p("5-1"), Ranges::Unsatisfiable);
        // Parts adding up to more than the body: the whole body.
        assert_eq!(p("0-999, 0-999"), Ranges::Full);
        assert_eq!(parse_ranges(b"0-1, 3-4", 1000, 1), Ranges::Full);
        assert_eq!(p("0-99999999999999999999999"), Ranges::Unsatisfiable);
    }
}
