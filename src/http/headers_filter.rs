//! `expires` at run time: nginx's ngx_http_set_expires()
//! (`ngx_http_headers_filter_module.c`; issue 12). `add_header` is
//! response::add_headers.

use crate::conf::http_headers::{Expires, parse_expires};
use crate::core::cycle::Cycle;
use crate::core::time::http_date;
use crate::os::io::Transport;

/// nginx's `expires max`: the Expires date and the max-age.
const EXPIRES_MAX_DATE: &[u8] = b"Thu, 31 Dec 2037 23:55:55 GMT";
/// See [`EXPIRES_MAX_DATE`]: ten years.
const EXPIRES_MAX_AGE: u64 = 315_360_000;

/// Mirrors ngx_http_set_expires(): the `Expires` and `Cache-Control` lines
/// (`Name: value\r\n`) the location's `expires` gives a response with
/// `status` whose Last-Modified is `last_modified`; empty when none (off,
/// a status add_header would skip, a value with variables that is not
/// valid).
pub fn expires_lines<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    status: u16,
    last_modified: Option<u64>,
) -> Vec<u8> {
    let Some(e) = cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .and_then(|l| l.expires.clone())
    else {
        return Vec::new();
    };
    if !matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    ) {
        return Vec::new();
    }
    let evaluated;
    let e: &Expires = match &*e {
        Expires::Vars { modified, value } => {
            let mut v = Vec::new();
            crate::http::variables::complex_value(cy, key, value, &mut v);
            let Some(parsed) = std::str::from_utf8(&v)
                .ok()
                .and_then(|v| parse_expires(v, *modified))
            else {
                return Vec::new();
            };
            evaluated = parsed;
            &evaluated
        }
        other => other,
    };
    let now = (cy.clock.unix_ms / 1000) as i64;
    let mut out = Vec::with_capacity(80);
    let (expires_at, max_age): (i64, Option<u64>) = match *e {
        Expires::Off | Expires::Vars { .. } => return Vec::new(),
        Expires::Epoch => {
            out.extend_from_slice(
                b"Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\nCache-Control: no-cache\r\n",
            );
            return out;
        }
        Expires::Max => {
            out.extend_from_slice(b"Expires: ");
            out.extend_from_slice(EXPIRES_MAX_DATE);
            out.extend_from_slice(
                format!("\r\nCache-Control: max-age={EXPIRES_MAX_AGE}\r\n").as_bytes(),
            );
            return out;
        }
        Expires::Access { modified, secs } => {
            let base = match (modified, last_modified) {
                (true, Some(lm)) => lm as i64,
                _ => now,
            };
            let at = base + secs;
            let age = at - now;
            (at, (secs >= 0 && age >= 0).then_some(age as u64))
        }
        Expires::Daily(secs) => {
            let midnight = now - now.rem_euclid(86_400);
            let mut at = midnight + secs;
            if at <= now {
                at += 86_400;
            }
            (at, Some((at - now) as u64))
        }
    };
    out.extend_from_slice(b"Expires: ");
    out.extend_from_slice(&http_date(expires_at.max(0) as u64));
    match max_age {
        Some(a) => out.extend_from_slice(format!("\r\nCache-Control: max-age={a}\r\n").as_bytes()),
        None => out.extend_from_slice(b"\r\nCache-Control: no-cache\r\n"),
    }
    out
}
