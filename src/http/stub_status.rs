//! The status page: nginx's `ngx_http_stub_status_module.c`.
//!
//! ```text
//! Active connections: 3
//! server accepts handled requests
//!  17 17 42
//! Reading: 0 Writing: 1 Waiting: 2
//! ```
//! (each line but the second ends with a space, as nginx prints it). The
//! counters are the cycle's [`Stats`], kept where nginx keeps them
//! (nginx-flow.md §9); the request asking for the page counts as writing.

use crate::core::cycle::{Cycle, Stats};
use crate::http::parse::Method;
use crate::http::request::Finalize;
use crate::http::response::{self, ResponseHead};
use crate::os::io::Transport;

/// Writes the page for `s` into `out`.
pub fn format_status(s: &Stats, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(
        out,
        "Active connections: {} \nserver accepts handled requests\n {} {} {} \nReading: {} Writing: {} Waiting: {} \n",
        s.active, s.accepts, s.handled, s.requests, s.reading, s.writing, s.waiting
    );
}

/// Mirrors ngx_http_stub_status_handler(): GET and HEAD only (405 otherwise).
pub fn stub_status_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let Some(r) = cy.conns[key].req() else {
        return Finalize::Close;
    };
    if !matches!(r.method, Method::Get | Method::Head) {
        return Finalize::Status(405);
    }
    let mut body = Vec::with_capacity(128);
    format_status(&cy.stats, &mut body);
    let head = ResponseHead {
        status: 200,
        content_type: Some(b"text/plain"),
        content_length: Some(body.len() as u64),
        ..Default::default()
    };
    response::send_header(cy, key, &head);
    response::send_body(cy, key, &body);
    Finalize::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_format() {
        let s = Stats {
            accepts: 17,
            handled: 16,
            active: 3,
            requests: 42,
            reading: 0,
            writing: 1,
            waiting: 2,
        };
        let mut out = Vec::new();
        format_status(&s, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Active connections: 3 \nserver accepts handled requests\n 17 16 42 \nReading: 0 Writing: 1 Waiting: 2 \n"
        );
    }
}
