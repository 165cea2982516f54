//! Conditional requests: nginx's `ngx_http_not_modified_filter_module.c`
//! (issue 12, under way). A 200 response that has validators (its
//! `Last-Modified` time, its `ETag`) is turned into `304 Not Modified`
//! when the client's copy is current (`If-Modified-Since` as
//! `if_modified_since exact|before|off` says, `If-None-Match` with weak
//! comparison), or refused with `412 Precondition Failed` when the
//! client's precondition does not hold (`If-Unmodified-Since`,
//! `If-Match` with strong comparison), in nginx's order.
//!
//! Where holdfast is now: the static module asks before its header goes
//! out; proxied responses are passed on as the peer answered.

use crate::conf::IfModifiedSince;
use crate::core::cycle::Cycle;
use crate::core::time::parse_http_time;
use crate::http::headers::FilterHeaders;
use crate::os::io::Transport;

/// What the client's preconditions say about a 200 response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Send the response as it is.
    Pass,
    /// `304 Not Modified`: the head only, with its validators.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// Mirrors ngx_http_not_modified_header_filter() for a 200 response of
/// request `key` whose validators are `last_modified` (seconds) and
/// `etag` (as sent, quotes included).
pub fn not_modified_filter<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    last_modified: Option<u64>,
    etag: Option<&[u8]>,
) -> Precondition {
    let c = &cy.conns[key];
    let (Some(r), Some(b)) = (c.req(), c.buf()) else {
        return Precondition::Pass;
    };
    // An error page answers with the error's status, not 200.
    if r.err_status != 0 {
        return Precondition::Pass;
    }
    let data = b.data();
    let h = &r.filter_headers;
    let ius = FilterHeaders::value(data, h.if_unmodified_since);
    let im = FilterHeaders::value(data, h.if_match);
    let ims = FilterHeaders::value(data, h.if_modified_since);
    let inm = FilterHeaders::value(data, h.if_none_match);
    if let Some(ius) = ius
        && !test_if_unmodified(last_modified, ius)
    {
        return Precondition::Failed;
    }
    if let Some(im) = im
        && !test_if_match(etag, im, false)
    {
        return Precondition::Failed;
    }
    if ims.is_none() && inm.is_none() {
        return Precondition::Pass;
    }
    let mode = r
        .loc
        .as_ref()
        .map_or(IfModifiedSince::Exact, |l| l.if_modified_since);
    if let Some(ims) = ims
        && test_if_modified(last_modified, ims, mode)
    {
        return Precondition::Pass;
    }
    if let Some(inm) = inm
        && !test_if_match(etag, inm, true)
    {
        return Precondition::Pass;
    }
    Precondition::NotModified
}

/// Mirrors ngx_http_test_if_unmodified(): true when the response is not
/// newer than the date (a date that does not parse fails).
fn test_if_unmodified(last_modified: Option<u64>, value: &[u8]) -> bool {
    let Some(lm) = last_modified else {
        return false;
    };
    parse_http_time(value).is_some_and(|t| t >= lm)
}

/// Mirrors ngx_http_test_if_modified(): true when the response counts as
/// modified since the date.
fn test_if_modified(last_modified: Option<u64>, value: &[u8], mode: IfModifiedSince) -> bool {
    let Some(lm) = last_modified else {
        return true;
    };
    if mode == IfModifiedSince::Off {
        return true;
    }
    let Some(ims) = parse_http_time(value) else {
        return true;
    };
    if ims == lm {
        return false;
    }
    mode == IfModifiedSince::Exact || ims < lm
}

/// Mirrors ngx_http_test_if_match(): does the list in `value` name the
/// response's ETag (`*` names any)? `weak`: `W/` tags compare too
/// (If-None-Match); strong otherwise (If-Match).
fn test_if_match(etag: Option<&[u8]>, value: &[u8], weak: bool) -> bool {
    let Some(mut etag) = etag else {
        return false;
    };
    if value == b"*" {
        return true;
    }
    if weak && etag.starts_with(b"W/") {
        etag = &etag[2..];
    }
    let blank = |b: u8| b == b' ' || b == b'\t';
    let mut rest = value;
    while !rest.is_empty() {
        if weak && rest.starts_with(b"W/") {
            rest = &rest[2..];
        }
        if let Some(after) = rest.strip_prefix(etag) {
            let after = &after[after.iter().take_while(|&&b| blank(b)).count()..];
            if after.is_empty() || after[0] == b',' {
                return true;
            }
        }
        // The next list element.
        let comma = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        rest = &rest[comma..];
        let skip = rest.iter().take_while(|&&b| blank(b) || b == b',').count();
        rest = &rest[skip..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_lists_compare_strong_and_weak() {
        let e = Some(&b"\"5f-3\""[..]);
        assert!(test_if_match(e, b"\"5f-3\"", false));
        assert!(test_if_match(
            e,
            b"\"foo\", \"bar\", \t\"5f-3\" , \"baz\"",
            false
        ));
        assert!(test_if_match(e, b"*", false));
        assert!(!test_if_match(e, b"W/\"5f-3\"", false));
        assert!(test_if_match(e, b"W/\"5f-3\"", true));
        assert!(!test_if_match(e, b"\"5f-3x\"", true));
        assert!(!test_if_match(None, b"*", true));
    }

    #[test]
    fn dates_compare_as_the_mode_says() {
        let lm = Some(784_111_777);
        let same = b"Sun, 06 Nov 1994 08:49:37 GMT";
        let later = b"Sun, 06 Nov 1994 08:49:38 GMT";
        assert!(!test_if_modified(lm, same, IfModifiedSince::Exact));
        assert!(test_if_modified(lm, later, IfModifiedSince::Exact));
        assert!(!test_if_modified(lm, later, IfModifiedSince::Before));
        assert!(test_if_modified(lm, same, IfModifiedSince::Off));
        assert!(test_if_modified(lm, b"garbage", IfModifiedSince::Before));
        assert!(test_if_unmodified(lm, same));
        assert!(!test_if_unmodified(lm, b"Sun, 06 Nov 1994 08:49:36 GMT"));
    }
}
