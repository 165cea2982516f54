//! The `config` target: `Config::from_str` on arbitrary text.
//!
//! Invariants:
//! - no panic;
//! - an error names the file it was given (there is no `include`) and a line
//!   within the text (1 ..= number of newlines + 1), or no file and line 0;
//! - an accepted configuration gives listening sockets that each have a
//!   server and a default server in range, and a cycle can be built on it;
//! - when it serves no files from disk (no `root`), one client connection
//!   driven through it (the `http_connection` driver, without the output
//!   checks, since the configured bodies can be anything) keeps the
//!   connection-level invariants and closes cleanly.
//!
//! Texts containing `include` are skipped: an `include` of an absolute path
//! or glob would read the machine's files (`/dev/zero`, `/proc/...`). A
//! `listen` on a host name would ask the resolver: the fuzz target binary
//! and the regression tests replace `getaddrinfo` with a stub that finds
//! nothing (see `no_resolver!`), so the fuzzer never sends DNS queries.

#![allow(dead_code)]

use std::path::Path;
use std::rc::Rc;

use holdfast::conf::Config;
use holdfast::event::accept::listening_from_conf;

use crate::http::{Driver, End, Plan};

/// The directory the text pretends to be in; it does not exist, so the
/// default `root html` finds no file.
pub const CONF_DIR: &str = "/nonexistent/holdfast-fuzz";
/// The file name errors must carry.
pub const CONF_FILE: &str = "/nonexistent/holdfast-fuzz/fuzz.conf";

/// Defines a `getaddrinfo` that finds nothing, in the binary that invokes
/// it: it takes the place of the C library's for every lookup the program
/// makes (std's `ToSocketAddrs` included), so no DNS query ever leaves.
#[macro_export]
macro_rules! no_resolver {
    () => {
        /// Finds nothing (`EAI_NONAME`), without asking anyone.
        ///
        /// # Safety
        ///
        /// Never dereferences its arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn getaddrinfo(
            _node: *const std::ffi::c_char,
            _service: *const std::ffi::c_char,
            _hints: *const std::ffi::c_void,
            _res: *mut *mut std::ffi::c_void,
        ) -> std::ffi::c_int {
            // EAI_NONAME in glibc.
            -2
        }
    };
}

/// The request the accepted configurations are tried with.
const REQUEST: &[u8] = b"GET /a?x=1 HTTP/1.1\r\nHost: a.example\r\nUser-Agent: fuzz\r\n\r\n\
POST /b HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nxyz\
HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";

/// Runs one fuzz input through every check; panics on a violation.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if text.contains("include") {
        return;
    }
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    match Config::from_str(&text, Path::new(CONF_FILE), Path::new(CONF_DIR)) {
        Err(e) => {
            let shown = e.to_string();
            match &e.file {
                Some(f) => {
                    assert_eq!(f, Path::new(CONF_FILE), "error in another file: {shown}");
                    assert!(
                        (1..=lines).contains(&e.line),
                        "error line {} outside 1..={lines}: {shown}",
                        e.line
                    );
                }
                None => assert_eq!(e.line, 0, "a line without a file: {shown}"),
            }
        }
        Ok(conf) => check_accepted(conf, !text.contains("root")),
    }
}

fn check_accepted(conf: Config, drive: bool) {
    let listening: Vec<_> = listening_from_conf(&conf)
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    for l in &listening {
        assert!(
            !l.servers.is_empty(),
            "listening {} without servers",
            l.addr
        );
        assert!(
            l.default_server < l.servers.len(),
            "default server out of range on {}",
            l.addr
        );
    }
    if !drive || listening.is_empty() {
        return;
    }
    let plan = Plan {
        variant: 0,
        write_limit: 0,
        write_budget: None,
        end: End::Eof,
        deferred: false,
        max_chunk: 7,
        seed: 0x1234_5679,
        writable_odds: 0,
        timer_odds: 0,
        shutdown_odds: 0,
        time_step: 1,
    };
    if let Some(mut d) = Driver::new(Rc::new(conf), plan, REQUEST, false) {
        d.feed_all(REQUEST);
        d.finish();
    }
}
