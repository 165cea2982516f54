//! Hostile input (issue 5): a table of malformed and request-smuggling
//! requests, each sent on its own connection to ONE server instance.
//!
//! Every row states the bytes sent, the statuses of the responses that must
//! come back (their number is how many), whether the server must then close
//! the connection, and where the expectation comes from: an RFC 9110 / 9112
//! rule or a public smuggling technique, and whether the status is nginx's
//! answer (nginx 1.31.5, the snapshot of /work/shared/docs/nginx-flow.md) or
//! the stricter RFC one.
//!
//! Invariants checked for every row, whatever it expects:
//! * `SMUGGLED` (the body of `location = /smuggled`) never appears: a request
//!   hidden behind a malformed one is never answered;
//! * `TOPSECRET` (a file next to, not inside, the root) never appears;
//! * everything received parses as complete HTTP/1.x responses;
//! * a row that must close gets `Connection: close` on its last response and
//!   then EOF (or RST); a row that stays open says `keep-alive`, stays silent,
//!   and still answers `GET /ok` on the same connection (framing in sync).
//!
//! All rows run (on a few client threads), every failure is collected, and
//! the test fails once at the end listing each failing row with what was
//! sent and what came back. Afterwards the server must still answer a normal
//! request and its stderr must hold no `panicked`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Prefix, Server, WORKER_CONNECTIONS, get, server_block};

/// A Host header line.
const HOST: &str = "Host: localhost\r\n";
/// A request that must never be answered when it follows a rejected one.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// A legitimately pipelined request (answered `SECOND`).
const NEXT: &str = "GET /2 HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// Bytes that must never come back.
const MARKERS: [&str; 2] = ["SMUGGLED", "TOPSECRET"];

/// The server must close after the responses.
const CLOSE: bool = true;
/// The connection must stay open (and in sync) after the responses.
const OPEN: bool = false;

/// How long a row may take to get its responses and the close.
const ROW_DEADLINE: Duration = Duration::from_secs(3);
/// Silence that ends a row which keeps the connection open.
const QUIET: Duration = Duration::from_millis(250);
/// Client threads running rows.
const WORKERS: usize = 16;

struct Row {
    name: &'static str,
    /// The row's source comment, printed with a failure: the RFC section or
    /// advisory, and whether the status is nginx's answer or the stricter
    /// RFC one.
    why: &'static str,
    send: Vec<u8>,
    /// Statuses of the responses, in order; empty = no response at all.
    expect: &'static [u16],
    /// The server must close the connection afterwards.
    close: bool,
}

fn row(
    name: &'static str,
    why: &'static str,
    send: impl Into<Vec<u8>>,
    expect: &'static [u16],
    close: bool,
) -> Row {
    Row {
        name,
        why,
        send: send.into(),
        expect,
        close,
    }
}

/// `LINE` + Host + end of head, then the smuggled request.
fn line(request_line: &str) -> String {
    format!("{request_line}\r\n{HOST}\r\n{SMUGGLED}")
}

/// `GET /1` with Host and the extra header lines `h`, then the smuggled request.
fn hdr(h: &str) -> String {
    format!("GET /1 HTTP/1.1\r\n{HOST}{h}\r\n{SMUGGLED}")
}

/// `GET /1` with `host_lines` instead of a normal Host, then the smuggled request.
fn host(host_lines: &str) -> String {
    format!("GET /1 HTTP/1.1\r\n{host_lines}\r\n{SMUGGLED}")
}

/// `POST /1` with the framing header lines `framing` and `body`, then `tail`.
fn post(framing: &str, body: &str, tail: &str) -> String {
    format!("POST /1 HTTP/1.1\r\n{HOST}{framing}\r\n{body}{tail}")
}

/// `POST /1` with `Transfer-Encoding: chunked` and `body`, then `tail`.
fn chunked(body: &str, tail: &str) -> String {
    post("Transfer-Encoding: chunked\r\n", body, tail)
}

/// `GET TARGET HTTP/1.1` with Host, then `tail`.
fn path(target: &str, tail: &str) -> String {
    format!("GET {target} HTTP/1.1\r\n{HOST}\r\n{tail}")
}

fn rows() -> Vec<Row> {
    let long_method_1k = format!("{} /1 HTTP/1.1", "A".repeat(1000));
    let long_method_9k = format!("{} /1 HTTP/1.1", "A".repeat(9000));
    let long_uri_9k = format!("GET /{} HTTP/1.1", "a".repeat(9000));
    let cl_body_is_request = post(
        &format!("Content-Length: {}\r\n", SMUGGLED.len()),
        SMUGGLED,
        "",
    );
    let get_with_body = format!(
        "GET /1 HTTP/1.1\r\n{HOST}Content-Length: {}\r\n\r\n{SMUGGLED}",
        SMUGGLED.len()
    );
    let chunk_data_is_request = chunked(
        &format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len()),
        "",
    );
    // A TLS 1.2 ClientHello on the plain-text port: no LF anywhere in it.
    let mut tls_hello: Vec<u8> = b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03".to_vec();
    tls_hello.extend_from_slice(&[0x11; 32]);
    tls_hello.extend_from_slice(b"\x00\x00\x02\x13\x01\x01\x00\x00\x00");
    let mut h2_preface =
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec();
    h2_preface.extend_from_slice(SMUGGLED.as_bytes());

    vec![
        // ------------------------------------------------------------------
        // Request line: versions (RFC 9112 §2.3, §3; RFC 9110 §2.5, §6.2)
        // ------------------------------------------------------------------
        row(
            "http09_get",
            "HTTP/0.9 request line: RFC 9112 §3 invalid request-line -> 400 (stricter RFC; \
             nginx would answer HTTP/0.9-style, a bare body without a status line)",
            format!("GET /1\r\n{SMUGGLED}"),
            &[400],
            CLOSE,
        ),
        row(
            "http09_post",
            "HTTP/0.9 with a method other than GET: nginx 400 (invalid method in HTTP/0.9); RFC agrees",
            format!("POST /1\r\n{SMUGGLED}"),
            &[400],
            CLOSE,
        ),
        row(
            "http_version_0_9_spelled_out",
            "HTTP/0.9 written out: nginx 400 (major digit must be 1-9); RFC 9112 §2.3",
            line("GET /1 HTTP/0.9"),
            &[400],
            CLOSE,
        ),
        row(
            "http_version_2_0",
            "HTTP/2.0 request line: nginx 505; RFC 9110 §15.6.6",
            line("GET /1 HTTP/2.0"),
            &[505],
            CLOSE,
        ),
        row(
            "http_version_2_no_minor",
            "HTTP/2 without minor: nginx 505 (decided at the major digit); RFC 9110 §15.6.6",
            line("GET /1 HTTP/2"),
            &[505],
            CLOSE,
        ),
        row(
            "http_version_9_9",
            "HTTP/9.9: nginx 505; RFC 9110 §15.6.6",
            line("GET /1 HTTP/9.9"),
            &[505],
            CLOSE,
        ),
        row(
            "h2_prior_knowledge_preface",
            "h2 connection preface on an HTTP/1.x port (RFC 9113 §3.4): nginx without http2 \
             answers 400 (it refuses the '*' target before it reads the version); nothing \
             after the preface may be taken as a request",
            h2_preface,
            &[400],
            CLOSE,
        ),
        row(
            "http_version_1_2",
            "HTTP/1.2: RFC 9110 §2.5 SHOULD process as the highest 1.x minor; nginx does \
             (http_version 1002 >= 1.1, keep-alive): 200",
            format!("GET /1 HTTP/1.2\r\n{HOST}\r\n{NEXT}"),
            &[200, 200],
            OPEN,
        ),
        row(
            "http_version_lowercase",
            "lowercase http/1.1: RFC 9112 §2.3 HTTP-name is case-sensitive; nginx 400",
            line("GET /1 http/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "http_version_leading_zero",
            "HTTP/01.1: nginx 400 (first major digit 1-9); RFC 9112 §2.3 HTTP-version = DIGIT.DIGIT",
            line("GET /1 HTTP/01.1"),
            &[400],
            CLOSE,
        ),
        row(
            "http_version_empty",
            "HTTP/ without digits: nginx 400; RFC 9112 §2.3",
            line("GET /1 HTTP/"),
            &[400],
            CLOSE,
        ),
        row(
            "http_version_trailing_junk",
            "HTTP/1.1x: nginx 400; RFC 9112 §3",
            line("GET /1 HTTP/1.1x"),
            &[400],
            CLOSE,
        ),
        // ------------------------------------------------------------------
        // Request line: methods (RFC 9110 §9.1, RFC 9112 §3.1)
        // ------------------------------------------------------------------
        row(
            "method_lowercase",
            "get: nginx 400 (methods are A-Z, '_', '-'); RFC 9110 §9.1 case-sensitive (would be 501)",
            line("get /1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "method_mixed_case",
            "GeT: nginx 400",
            line("GeT /1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "method_at_sign",
            "G@T: '@' is no tchar (RFC 9110 §5.6.2); nginx 400",
            line("G@T /1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "method_digit",
            "GET2: nginx 400 (no digits in methods; RFC tchar would allow it and answer 501)",
            line("GET2 /1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "method_nul",
            "NUL in the method: nginx 400; RFC 9112 §3",
            line("G\0T /1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "method_leading_space",
            "space before the method: nginx 400 (invalid method); RFC 9112 §3",
            line(" GET /1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "method_tab_separator",
            "HTAB between method and target: nginx 400; RFC 9112 §3 (SP; lenient whitespace \
             parsing is warned against as a smuggling risk)",
            line("GET\t/1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "method_long_1000",
            "1000-byte unknown method: nginx takes any A-Z token of any length and `return` \
             answers every method: 200 (RFC 9110 §9.1 sets no limit)",
            format!("{long_method_1k}\r\n{HOST}\r\n"),
            &[200],
            OPEN,
        ),
        row(
            "method_long_9000",
            "9000-byte method: the request line does not fit an 8k buffer: nginx 414 (nginx's \
             answer; RFC 9112 §3 would prefer 501 for a method longer than any it implements)",
            line(&long_method_9k),
            &[414],
            CLOSE,
        ),
        row(
            "method_trace",
            "TRACE (cross-site tracing): nginx 405 before the header is processed",
            line("TRACE /1 HTTP/1.1"),
            &[405],
            CLOSE,
        ),
        row(
            "method_connect",
            "CONNECT authority-form: nginx 405 (allow_connect off) and close; RFC 9110 §9.3.6",
            format!("CONNECT localhost:80 HTTP/1.1\r\nHost: localhost:80\r\n\r\n{SMUGGLED}"),
            &[405],
            CLOSE,
        ),
        row(
            "tls_client_hello",
            "TLS ClientHello on a plain port, no LF in it: nginx 400 at the first byte \
             (invalid method), without waiting for a line end",
            tls_hello,
            &[400],
            CLOSE,
        ),
        row(
            "nul_bytes_only",
            "NUL bytes instead of a request line: nginx 400 at the first byte",
            format!("\0\0\0\0\r\n\r\n{SMUGGLED}"),
            &[400],
            CLOSE,
        ),
        // ------------------------------------------------------------------
        // Request line: target (RFC 9112 §3.2, §2.2; nginx 1.21.1 control chars)
        // ------------------------------------------------------------------
        row(
            "target_asterisk_get",
            "GET *: RFC 9112 §3.2.4 asterisk-form only for OPTIONS; nginx 400",
            line("GET * HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_space",
            "space inside the target: nginx 400 (1.21.1, ticket #196); RFC 9112 §3.2",
            line("GET /a b HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_tab",
            "HTAB in the target: nginx 400 (control characters in URI); RFC 9112 §3.2",
            line("GET /a\tb HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_ctrl_01",
            "0x01 in the target: nginx 400; RFC 9112 §3.2",
            line("GET /a\x01b HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_del",
            "DEL in the target: nginx 400; RFC 9112 §3.2",
            line("GET /a\x7fb HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_nul",
            "NUL in the target: nginx 400; RFC 9112 §3.2",
            line("GET /a\0b HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_encoded_nul",
            "%00 in the path: nginx 400 (decoded NUL); RFC 9110 §4.2.3",
            line("GET /1%00 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_bad_escape",
            "%zz: nginx 400; RFC 3986 §2.1",
            line("GET /a%zz HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_truncated_escape",
            "%4 at the end of the path: nginx 400; RFC 3986 §2.1",
            line("GET /a%4 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_bare_cr",
            "bare CR inside the target: RFC 9112 §2.2 MUST treat as invalid; nginx 400",
            line("GET /1\rx HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "request_line_bare_cr_end",
            "request line ended by a bare CR: RFC 9112 §2.2; nginx 400 (CR must be followed by LF)",
            format!("GET /1 HTTP/1.1\r{HOST}\r\n{SMUGGLED}"),
            &[400],
            CLOSE,
        ),
        row(
            "target_too_long",
            "9000-byte target: nginx 414; RFC 9112 §3 / RFC 9110 §15.5.15",
            line(&long_uri_9k),
            &[414],
            CLOSE,
        ),
        row(
            "target_fragment",
            "fragment in the target (not part of origin-form, RFC 9112 §3.2.1): nginx cuts the \
             path at '#' and serves /1: 200 (nginx's answer; RFC would allow 400)",
            path("/1#frag", ""),
            &[200],
            OPEN,
        ),
        row(
            "target_fragment_hides_traversal",
            "'#' before a traversal: nginx cuts at '#' (serves /1): 200, the part after '#' is \
             never a path",
            path("/1#/../../secret.txt", ""),
            &[200],
            OPEN,
        ),
        row(
            "target_encoded_hash",
            "%23 is a literal '#' in the path (no location, no file): nginx 404",
            path("/1%23frag", ""),
            &[404],
            OPEN,
        ),
        // ------------------------------------------------------------------
        // Path traversal (nginx ngx_http_parse_complex_uri: 400 above the root)
        // ------------------------------------------------------------------
        row(
            "traversal_plain",
            "/../: nginx 400 (above the root); RFC 3986 §5.2.4 would clamp at / (404): nginx stricter",
            path("/../secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_nested",
            "/pub/../../: nginx 400",
            path("/pub/../../secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_dot_then_dotdot",
            "/./../: nginx 400",
            path("/./../secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_double_slash",
            "//../ (merge_slashes on): nginx 400",
            path("//../secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_at_end",
            "/.. at the end: nginx 400",
            path("/..", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_encoded_slash",
            "/..%2f: nginx decodes %2F and resolves it as a separator: 400",
            path("/..%2fsecret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_encoded_slash_nested",
            "/pub/..%2f..%2f: nginx 400",
            path("/pub/..%2f..%2fsecret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_all_slashes_encoded",
            "/pub%2f..%2f..%2f: nginx 400",
            path("/pub%2f..%2f..%2fsecret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_encoded_dots",
            "/%2e%2e/: nginx 400",
            path("/%2e%2e/secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_encoded_dots_upper",
            "/%2E%2E/: nginx 400 (hex is case-insensitive)",
            path("/%2E%2E/secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_half_encoded_1",
            "/.%2e/: nginx 400",
            path("/.%2e/secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_half_encoded_2",
            "/%2e./: nginx 400",
            path("/%2e./secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_fully_encoded",
            "/%2e%2e%2f: nginx 400",
            path("/%2e%2e%2fsecret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_encoded_twice_nested",
            "/pub/%2e%2e/%2e%2e/: nginx 400",
            path("/pub/%2e%2e/%2e%2e/secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_absolute_form",
            "http://localhost/../: the path of an absolute-form target is normalised too: nginx 400",
            format!("GET http://localhost/../secret.txt HTTP/1.1\r\n{HOST}\r\n{SMUGGLED}"),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_nested_percent",
            "%2%65 (escape inside an escape): not a valid escape: nginx 400",
            path("/%2%65%2e/secret.txt", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "traversal_double_encoded",
            "%252e%252e is decoded ONCE to the literal segment '%2e%2e' (no such file): nginx 404; \
             decoding twice would make it '..'",
            path("/%252e%252e/secret.txt", ""),
            &[404],
            OPEN,
        ),
        row(
            "traversal_double_encoded_slash",
            "%252e%252e%252f: decoded once, a literal file name: nginx 404",
            path("/%252e%252e%252fsecret.txt", ""),
            &[404],
            OPEN,
        ),
        row(
            "traversal_backslash",
            "..\\ : backslash is an ordinary byte on Unix (nginx treats it as a separator only \
             on Win32): 404",
            path("/..\\secret.txt", ""),
            &[404],
            OPEN,
        ),
        row(
            "traversal_backslashes_nested",
            "\\..\\..\\ : ordinary bytes on Unix: nginx 404",
            path("/pub\\..\\..\\secret.txt", ""),
            &[404],
            OPEN,
        ),
        row(
            "traversal_encoded_backslash",
            "..%5c: a literal backslash after decoding: nginx 404",
            path("/..%5csecret.txt", ""),
            &[404],
            OPEN,
        ),
        row(
            "traversal_overlong_utf8_dots",
            "%c0%ae%c0%ae (overlong UTF-8 '.', CVE-2000-0884 style) is two bytes each, never '.': nginx 404",
            path("/%c0%ae%c0%ae/secret.txt", ""),
            &[404],
            OPEN,
        ),
        row(
            "traversal_overlong_utf8_slash",
            "..%c0%af (overlong UTF-8 '/'): not a separator: nginx 404",
            path("/..%c0%afsecret.txt", ""),
            &[404],
            OPEN,
        ),
        row(
            "traversal_semicolon",
            "/..;/ (Tomcat path parameter trick): an ordinary segment for nginx: 404",
            path("/..;/secret.txt", ""),
            &[404],
            OPEN,
        ),
        row(
            "dotdot_inside_root_resolves",
            "/pub/.. resolves to / inside the root (index.html): nginx 200",
            path("/pub/..", ""),
            &[200],
            OPEN,
        ),
        row(
            "dot_segment_inside_root_resolves",
            "/pub/./file.txt: nginx 200",
            path("/pub/./file.txt", ""),
            &[200],
            OPEN,
        ),
        // ------------------------------------------------------------------
        // Header lines (RFC 9112 §5, §2.2; RFC 9110 §5.5)
        // ------------------------------------------------------------------
        row(
            "bare_lf_line_ends",
            "LF-only line ends: RFC 9112 §2.2 MAY accept; nginx accepts: 200 and the pipelined \
             LF-only request too",
            "GET /1 HTTP/1.1\nHost: localhost\n\nGET /2 HTTP/1.1\nHost: localhost\n\n",
            &[200, 200],
            OPEN,
        ),
        row(
            "mixed_lf_and_crlf",
            "CRLF and bare LF mixed: RFC 9112 §2.2; nginx 200",
            "GET /1 HTTP/1.1\r\nHost: localhost\n\r\n",
            &[200],
            OPEN,
        ),
        row(
            "header_space_before_colon",
            "whitespace between field name and colon: RFC 9112 §5.1 MUST 400; nginx 400",
            hdr("X-A : 1\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_tab_before_colon",
            "HTAB before the colon: RFC 9112 §5.1 MUST 400; nginx 400",
            hdr("X-A\t: 1\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_obs_fold_space",
            "obs-fold (SP): RFC 9112 §5.2 MUST reject (400) or unfold; nginx 400",
            hdr("X-A: one\r\n two\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_obs_fold_tab",
            "obs-fold (HTAB): RFC 9112 §5.2; nginx 400",
            hdr("X-A: one\r\n\ttwo\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_first_line_indented",
            "whitespace before the first field line: RFC 9112 §2.2 MUST reject or ignore; nginx 400",
            format!("GET /1 HTTP/1.1\r\n {HOST}\r\n{SMUGGLED}"),
            &[400],
            CLOSE,
        ),
        row(
            "header_name_nul",
            "NUL in a field name: nginx 400; RFC 9110 §5.1 (token)",
            hdr("X\0A: 1\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_value_nul",
            "NUL in a field value: RFC 9110 §5.5 MUST reject or replace; nginx 400",
            hdr("X-A: a\0b\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_value_bare_cr",
            "bare CR in a field value: RFC 9110 §5.5 / RFC 9112 §2.2 MUST reject or replace; nginx 400",
            hdr("X-A: a\rb\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_line_bare_cr_end",
            "field line ended by a bare CR: RFC 9112 §2.2; nginx 400",
            hdr("X-A: a\rX-B: b\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_name_bare_cr",
            "bare CR in a field name: nginx 400",
            hdr("X\rA: 1\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "header_empty_name",
            "line starting with ':' (empty field name): nginx 400; RFC 9110 §5.1",
            hdr(": 1\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "h2c_upgrade_ignored",
            "h2c upgrade smuggling (Bishop Fox, 2020): an HTTP/1.x-only server ignores Upgrade \
             (RFC 9110 §7.8 MAY): nginx 200 and the connection stays HTTP/1.1",
            hdr_open(
                "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\
                 Connection: Upgrade, HTTP2-Settings\r\n",
            ),
            &[200],
            OPEN,
        ),
        // ------------------------------------------------------------------
        // Host (RFC 9112 §3.2 MUST 400; RFC 9110 §7.2; nginx ngx_http_validate_host)
        // ------------------------------------------------------------------
        row(
            "host_missing_http11",
            "HTTP/1.1 without Host: RFC 9112 §3.2 MUST 400; nginx 400",
            format!("GET /1 HTTP/1.1\r\n\r\n{SMUGGLED}"),
            &[400],
            CLOSE,
        ),
        row(
            "host_missing_http10",
            "HTTP/1.0 without Host is fine: 200, then close (no keep-alive asked)",
            "GET /1 HTTP/1.0\r\n\r\n",
            &[200],
            CLOSE,
        ),
        row(
            "host_duplicate",
            "two Host lines: RFC 9112 §3.2 MUST 400; nginx 400",
            host("Host: localhost\r\nHost: evil.example\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_duplicate_same",
            "two identical Host lines: RFC 9112 §3.2 MUST 400 (more than one line); nginx 400",
            host("Host: localhost\r\nHost: localhost\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_empty",
            "empty Host: RFC 9110 §4.2.1 an http URI with an empty host is invalid; nginx 400",
            host("Host:\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_space",
            "space inside Host: RFC 9112 §3.2 MUST 400 (invalid value); nginx 400",
            host("Host: local host\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_tab",
            "HTAB inside Host: RFC 9112 §3.2; nginx 400",
            host("Host: local\thost\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_slash",
            "'/' in Host: RFC 9112 §3.2; nginx 400",
            host("Host: localhost/x\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_dotdot",
            "Host: .. : nginx 400",
            host("Host: ..\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_userinfo",
            "userinfo in Host (a@b): not uri-host [\":\" port] (RFC 9110 §7.2): RFC 9112 §3.2 \
             MUST 400; nginx 400 (1.29.4 validates RFC 3986 host syntax, '@' is a gen-delim)",
            host("Host: user@localhost\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_port_overflow",
            "port 99999 in Host: nginx 400 (port must fit 0-65535 since 1.29.4)",
            host("Host: localhost:99999\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_port_not_numeric",
            "non-numeric port in Host: RFC 9110 §4.1 port = *DIGIT; nginx 400",
            host("Host: localhost:8x\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_ipv6_unclosed",
            "unclosed IP literal in Host: RFC 3986 §3.2.2; nginx 400",
            host("Host: [::1\r\n"),
            &[400],
            CLOSE,
        ),
        row(
            "host_nul",
            "NUL in Host: nginx 400; RFC 9110 §5.5",
            host("Host: local\0host\r\n"),
            &[400],
            CLOSE,
        ),
        // ------------------------------------------------------------------
        // Absolute-form (RFC 9112 §3.2.2; RFC 9110 §4.2, §7.4)
        // ------------------------------------------------------------------
        row(
            "absolute_http_overrides_host",
            "absolute-form: RFC 9112 §3.2.2 MUST use the target's authority and ignore Host: 200",
            "GET http://localhost/1 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
            &[200],
            OPEN,
        ),
        row(
            "absolute_scheme_uppercase",
            "HTTP://LOCALHOST/1: scheme and host are case-insensitive (RFC 3986 §3.1, §3.2.2): nginx 200",
            format!("GET HTTP://LOCALHOST/1 HTTP/1.1\r\n{HOST}\r\n"),
            &[200],
            OPEN,
        ),
        row(
            "absolute_https",
            "https:// over plain TCP: nginx 200 (any scheme); RFC 9110 §7.4 says an origin MUST \
             reject https received over an unsecured connection - nginx's answer kept",
            format!("GET https://localhost/1 HTTP/1.1\r\n{HOST}\r\n"),
            &[200],
            OPEN,
        ),
        row(
            "absolute_other_scheme",
            "ftp:// target: stricter RFC 400 (RFC 9110 §7.4: not an http(s) resource this origin \
             serves); nginx would take any scheme and answer 200",
            line("GET ftp://localhost/1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "absolute_empty_host",
            "http:///1 (empty authority): RFC 9110 §4.2.1 MUST reject; nginx 400 (invalid host in request line)",
            line("GET http:///1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "absolute_without_host_header",
            "absolute-form but no Host header in HTTP/1.1: RFC 9112 §3.2 MUST 400 for any \
             HTTP/1.1 request without Host; nginx 400 (it checks headers_in.host)",
            format!("GET http://localhost/1 HTTP/1.1\r\n\r\n{SMUGGLED}"),
            &[400],
            CLOSE,
        ),
        row(
            "absolute_userinfo",
            "http://user@localhost/: RFC 9110 §4.2.4 userinfo SHOULD be treated as an error; nginx 400",
            line("GET http://user@localhost/1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "absolute_port_overflow",
            "http://localhost:99999/: nginx 400 (invalid host in request line)",
            line("GET http://localhost:99999/1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "absolute_one_slash",
            "http:/localhost/1: nginx 400; RFC 9112 §3.2.2",
            line("GET http:/localhost/1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "absolute_ipv6_unclosed",
            "http://[::1/1: nginx 400; RFC 3986 §3.2.2",
            line("GET http://[::1/1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "target_no_scheme_no_slash",
            "localhost/1 (neither origin- nor absolute-form): nginx 400; RFC 9112 §3.2",
            line("GET localhost/1 HTTP/1.1"),
            &[400],
            CLOSE,
        ),
        row(
            "absolute_no_path",
            "http://localhost (empty path = /): nginx 200 (index.html)",
            format!("GET http://localhost HTTP/1.1\r\n{HOST}\r\n"),
            &[200],
            OPEN,
        ),
        // ------------------------------------------------------------------
        // Content-Length (RFC 9110 §8.6; RFC 9112 §6.3)
        // ------------------------------------------------------------------
        row(
            "cl_plus_sign",
            "Content-Length: +5: RFC 9110 §8.6 1*DIGIT; nginx 400",
            post("Content-Length: +5\r\n", "hello", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_negative",
            "Content-Length: -1: RFC 9110 §8.6; nginx 400",
            post("Content-Length: -1\r\n", "", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_list_same_values",
            "Content-Length: 5, 5: RFC 9110 §8.6 MAY accept a list of identical values; nginx \
             400 (stricter: nginx's answer)",
            post("Content-Length: 5, 5\r\n", "hello", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_space_separated",
            "Content-Length: 5 5: invalid (RFC 9112 §6.3 unrecoverable); nginx 400",
            post("Content-Length: 5 5\r\n", "hello", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_duplicate_same",
            "two Content-Length: 5 lines: RFC 9110 §8.6 MAY accept identical duplicates; nginx \
             400 (unique header; nginx's answer)",
            post(
                "Content-Length: 5\r\nContent-Length: 5\r\n",
                "hello",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "cl_duplicate_different",
            "CL.CL (5 then 50): RFC 9112 §6.3 MUST treat as unrecoverable: 400; nginx 400",
            post(
                "Content-Length: 5\r\nContent-Length: 50\r\n",
                "hello",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "cl_hex",
            "Content-Length: 0x5: nginx 400",
            post("Content-Length: 0x5\r\n", "hello", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_decimal_point",
            "Content-Length: 5.0: nginx 400",
            post("Content-Length: 5.0\r\n", "hello", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_trailing_junk",
            "Content-Length: 5abc: nginx 400",
            post("Content-Length: 5abc\r\n", "hello", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_empty",
            "empty Content-Length: nginx 400 (ngx_atoof of nothing)",
            post("Content-Length:\r\n", "", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_overflow_u64",
            "Content-Length past 2^64: nginx 400 (overflow)",
            post("Content-Length: 99999999999999999999999\r\n", "", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_2_pow_63",
            "Content-Length 2^63 (past off_t): nginx 400 (ngx_atoof overflow), not 413",
            post("Content-Length: 9223372036854775808\r\n", "", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "cl_huge_in_range",
            "Content-Length 10^12 (fits off_t, over client_max_body_size 1m): nginx 413",
            post("Content-Length: 1000000000000\r\n", "", SMUGGLED),
            &[413],
            CLOSE,
        ),
        row(
            "cl_leading_zeros",
            "Content-Length: 005 = 5 (RFC 9110 §8.6 1*DIGIT; nginx ngx_atoof): body read, \
             pipelined request answered",
            post("Content-Length: 005\r\n", "hello", NEXT),
            &[200, 200],
            OPEN,
        ),
        row(
            "cl_body_looks_like_request",
            "a body that is a request is data (CL framing): 200, the GET inside is never answered",
            cl_body_is_request,
            &[200],
            OPEN,
        ),
        row(
            "cl_on_get",
            "GET with a Content-Length body holding a request (CL.0 desync, PortSwigger 2022): \
             the body is discarded, never parsed as a request: 200",
            get_with_body,
            &[200],
            OPEN,
        ),
        // ------------------------------------------------------------------
        // Transfer-Encoding, CL.TE / TE.CL / TE.TE (RFC 9112 §6.1, §6.3;
        // PortSwigger "HTTP request smuggling", Kettle 2019; Linhart et al. 2005)
        // ------------------------------------------------------------------
        row(
            "cl_te",
            "CL.TE: Content-Length then Transfer-Encoding: chunked: RFC 9112 §6.1 MAY reject \
             (then MUST close); nginx 400",
            post(
                "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\nG",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "te_cl",
            "TE.CL: Transfer-Encoding: chunked then Content-Length: 4: nginx 400",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                &format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len()),
                "",
            ),
            &[400],
            CLOSE,
        ),
        row(
            "cl_zero_te",
            "Content-Length: 0 with Transfer-Encoding: chunked: nginx 400",
            post(
                "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "te_uppercase_with_cl",
            "TE.TE: CHUNKED plus Content-Length: still TE+CL: nginx 400",
            post(
                "Content-Length: 5\r\nTransfer-Encoding: CHUNKED\r\n",
                "0\r\n\r\n",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "te_leading_space_with_cl",
            "TE.TE: ' chunked' plus Content-Length: still TE+CL: nginx 400",
            post(
                "Content-Length: 5\r\nTransfer-Encoding:  chunked\r\n",
                "0\r\n\r\n",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "te_xchunked",
            "TE.TE: Transfer-Encoding: xchunked: unknown coding: nginx 501 (RFC 9112 §6.1 \
             SHOULD 501; §6.3 would say 400) and close",
            post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n", SMUGGLED),
            &[501],
            CLOSE,
        ),
        row(
            "te_chunk",
            "TE.TE: Transfer-Encoding: chunk: nginx 501",
            post("Transfer-Encoding: chunk\r\n", "0\r\n\r\n", SMUGGLED),
            &[501],
            CLOSE,
        ),
        row(
            "te_quoted",
            "TE.TE: Transfer-Encoding: \"chunked\": nginx 501",
            post("Transfer-Encoding: \"chunked\"\r\n", "0\r\n\r\n", SMUGGLED),
            &[501],
            CLOSE,
        ),
        row(
            "te_chunked_identity",
            "TE.TE: chunked, identity (chunked not last): nginx 501 (value is not exactly \
             'chunked'); RFC 9112 §6.3 would say 400 + close",
            post(
                "Transfer-Encoding: chunked, identity\r\n",
                "0\r\n\r\n",
                SMUGGLED,
            ),
            &[501],
            CLOSE,
        ),
        row(
            "te_identity_chunked",
            "TE.TE: identity, chunked: nginx 501 (only exactly 'chunked' is implemented)",
            post(
                "Transfer-Encoding: identity, chunked\r\n",
                "0\r\n\r\n",
                SMUGGLED,
            ),
            &[501],
            CLOSE,
        ),
        row(
            "te_duplicate_chunked",
            "TE.TE: two Transfer-Encoding: chunked lines: nginx 400 (unique header); RFC 9112 §6.1 \
             chunked MUST NOT be applied twice",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "te_duplicate_chunked_then_cow",
            "TE.TE: Transfer-Encoding: chunked + Transfer-Encoding: cow (PortSwigger): nginx 400",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n",
                "0\r\n\r\n",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "te_space_before_colon",
            "TE.TE: 'Transfer-Encoding : chunked': RFC 9112 §5.1 MUST 400; nginx 400",
            post(
                "Content-Length: 5\r\nTransfer-Encoding : chunked\r\n",
                "0\r\n\r\n",
                SMUGGLED,
            ),
            &[400],
            CLOSE,
        ),
        row(
            "te_obs_fold",
            "TE.TE: value on an obs-fold line: RFC 9112 §5.2; nginx 400",
            post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "te_underscore_name",
            "TE.TE: Transfer_Encoding is an invalid name, ignored (nginx ignore_invalid_headers, \
             underscores_in_headers off): POST without body: 200; then '5' is a bad request \
             line: 400 and close; the request in the 'chunked body' is never reached",
            post(
                "Transfer_Encoding: chunked\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
                SMUGGLED,
            ),
            &[200, 400],
            CLOSE,
        ),
        row(
            "te_underscore_name_with_cl",
            "CL.TE with Transfer_Encoding (ignored): Content-Length frames the body: 200, and the \
             pipelined request after 5 bytes is answered",
            post(
                "Content-Length: 5\r\nTransfer_Encoding: chunked\r\n",
                "0\r\n\r\n",
                NEXT,
            ),
            &[200, 200],
            OPEN,
        ),
        row(
            "te_uppercase",
            "CHUNKED: transfer-coding names are case-insensitive (RFC 9112 §7); nginx chunked: 200, 200",
            post(
                "Transfer-Encoding: CHUNKED\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
                NEXT,
            ),
            &[200, 200],
            OPEN,
        ),
        row(
            "te_leading_space",
            "' chunked' (extra leading SP is OWS): nginx chunked: 200, 200",
            post(
                "Transfer-Encoding:   chunked\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
                NEXT,
            ),
            &[200, 200],
            OPEN,
        ),
        row(
            "te_trailing_space",
            "'chunked ' (trailing SP is OWS): nginx chunked: 200, 200",
            post(
                "Transfer-Encoding: chunked  \r\n",
                "5\r\nhello\r\n0\r\n\r\n",
                NEXT,
            ),
            &[200, 200],
            OPEN,
        ),
        row(
            "te_tab_after_colon",
            "'Transfer-Encoding:\\tchunked': OWS includes HTAB (RFC 9110 §5.6.3), so it is chunked: \
             RFC answer 200, 200 (nginx skips only SP and would answer 501; both frame safely)",
            post(
                "Transfer-Encoding:\tchunked\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
                NEXT,
            ),
            &[200, 200],
            OPEN,
        ),
        row(
            "te_trailing_tab",
            "'chunked\\t': trailing HTAB is OWS (RFC 9110 §5.6.3): RFC answer 200, 200 (nginx 501)",
            post(
                "Transfer-Encoding: chunked\t\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
                NEXT,
            ),
            &[200, 200],
            OPEN,
        ),
        row(
            "te_http10",
            "Transfer-Encoding in HTTP/1.0: RFC 9112 §6.1 MUST treat framing as faulty and close; nginx 400",
            format!(
                "POST /1 HTTP/1.0\r\n{HOST}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
            ),
            &[400],
            CLOSE,
        ),
        // ------------------------------------------------------------------
        // Chunked bodies (RFC 9112 §7.1; nginx ngx_http_parse_chunked, strict
        // CRLF since 1.29.4 "Disabled bare LF in chunked transfer encoding")
        // ------------------------------------------------------------------
        row(
            "chunk_size_0x_prefix",
            "chunk size 0x5: RFC 9112 §7.1 chunk-size = 1*HEXDIG; nginx 400",
            chunked("0x5\r\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_negative",
            "chunk size -5: nginx 400",
            chunked("-5\r\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_plus",
            "chunk size +5: nginx 400",
            chunked("+5\r\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_leading_space",
            "chunk size ' 5': nginx 400 (a size line starts with a hex digit)",
            chunked(" 5\r\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_overflow_16_f",
            "chunk size ffffffffffffffff (2^64-1): nginx 400 (size > off_t max / 16)",
            chunked("ffffffffffffffff\r\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_2_pow_63",
            "chunk size 8000000000000000 (2^63, negative as off_t): nginx 400",
            chunked("8000000000000000\r\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_2_pow_64_wraps_to_0",
            "chunk size 10000000000000000 (2^64, wraps to 0 in 64 bits): nginx 400",
            chunked("10000000000000000\r\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_leading_zeros",
            "chunk size with 30 leading zeros is still 5 (1*HEXDIG): nginx 200, 200",
            chunked(&format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(30)), NEXT),
            &[200, 200],
            OPEN,
        ),
        row(
            "chunk_size_uppercase_hex",
            "chunk size A (uppercase hex): RFC 9112 §7.1; nginx 200, 200",
            chunked("A\r\n0123456789\r\n0\r\n\r\n", NEXT),
            &[200, 200],
            OPEN,
        ),
        row(
            "chunk_lf_only",
            "LF-only chunked framing: nginx 400 (1.29.4: strict CRLF, RFC errata 7633); a \
             known desync when one side accepts bare LF",
            chunked("5\nhello\n0\n\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_line_bare_lf",
            "size line ended by bare LF: nginx 400",
            chunked("5\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_data_bare_lf",
            "chunk data followed by a bare LF: nginx 400",
            chunked("5\r\nhello\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_last_bare_lf",
            "last chunk '0\\n\\n': nginx 400",
            chunked("0\n\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_ext_bare_lf",
            "chunk extension ended by bare LF (TERM.EXT desync): nginx 400",
            chunked("5;a=b\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_size_bare_cr",
            "size line with CR not followed by LF: RFC 9112 §2.2; nginx 400",
            chunked("5\rhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_data_longer_than_size",
            "chunk data longer than its size: nginx 400 (CRLF expected after 3 bytes)",
            chunked("3\r\nhello\r\n0\r\n\r\n", SMUGGLED),
            &[400],
            CLOSE,
        ),
        row(
            "chunk_data_is_request",
            "chunk data holding a request is data: 200, the GET inside is never answered",
            chunk_data_is_request,
            &[200],
            OPEN,
        ),
        row(
            "chunk_missing_final_crlf",
            "last chunk without the final CRLF, a request after it: nginx reads the request's \
             lines as the trailer section (200, connection open); the request is never answered",
            chunked("5\r\nhello\r\n0\r\n", SMUGGLED),
            &[200],
            OPEN,
        ),
    ]
}

/// `GET /1` with extra header lines `h` and nothing after it.
fn hdr_open(h: &str) -> String {
    format!("GET /1 HTTP/1.1\r\n{HOST}{h}\r\n")
}

/// One parsed response.
struct Resp {
    status: u16,
    connection: String,
    body: Vec<u8>,
}

/// Parses as many complete responses (Content-Length framed) as `raw`
/// holds; returns them and the number of bytes they took.
fn parse_responses(raw: &[u8]) -> (Vec<Resp>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(p) = find(&raw[at..], b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&raw[at..at + p]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        if !parts.next().unwrap_or_default().starts_with("HTTP/1.") {
            break;
        }
        let Some(status) = parts.next().and_then(|s| s.parse::<u16>().ok()) else {
            break;
        };
        let mut len = None;
        let mut connection = String::new();
        for l in lines {
            let Some((n, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if n.eq_ignore_ascii_case("content-length") {
                len = v.parse::<usize>().ok();
            } else if n.eq_ignore_ascii_case("connection") {
                connection = v.to_ascii_lowercase();
            }
        }
        let len = match (status, len) {
            (100..=199 | 204 | 304, _) => 0,
            (_, Some(n)) => n,
            (_, None) => break,
        };
        let start = at + p + 4;
        if raw.len() < start + len {
            break;
        }
        out.push(Resp {
            status,
            connection,
            body: raw[start..start + len].to_vec(),
        });
        at = start + len;
    }
    (out, at)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What came back on a connection.
struct Got {
    raw: Vec<u8>,
    /// How the server ended the connection (None: still open).
    closed: Option<&'static str>,
}

/// Reads until the peer closes, or (when `want` responses are in and the
/// row expects an open connection) until it has been quiet for `quiet`, or
/// until `deadline`.
fn collect(
    stream: &mut TcpStream,
    want: usize,
    wait_close: bool,
    quiet: Duration,
    deadline: Instant,
) -> Got {
    let mut raw = Vec::new();
    let mut last = Instant::now();
    let mut buf = [0u8; 16384];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Got { raw, closed: None };
        }
        if !wait_close && now >= last + quiet && parse_responses(&raw).0.len() >= want {
            return Got { raw, closed: None };
        }
        let slice = (deadline - now).min(Duration::from_millis(50));
        stream
            .set_read_timeout(Some(slice.max(Duration::from_millis(1))))
            .expect("set_read_timeout");
        match stream.read(&mut buf) {
            Ok(0) => {
                return Got {
                    raw,
                    closed: Some("EOF"),
                };
            }
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                last = Instant::now();
            }
            Err(e) => match e.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted => {}
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
                    return Got {
                        raw,
                        closed: Some("RST"),
                    };
                }
                _ => {
                    return Got {
                        raw,
                        closed: Some("read error"),
                    };
                }
            },
        }
    }
}

fn show(bytes: &[u8], max: usize) -> String {
    if bytes.len() > max {
        format!(
            "\"{}\"... ({} bytes)",
            bytes[..max].escape_ascii(),
            bytes.len()
        )
    } else {
        format!("\"{}\"", bytes.escape_ascii())
    }
}

fn statuses(resps: &[Resp]) -> Vec<u16> {
    resps.iter().map(|r| r.status).collect()
}

/// Runs one row; Err describes everything that went wrong.
fn run_row(addr: SocketAddr, row: &Row) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect failed: {e}"))?;
    stream.set_nodelay(true).expect("TCP_NODELAY");
    // The server may answer and close before it has read everything (414):
    // a failed write is not an error by itself.
    let _ = stream.write_all(&row.send);
    let got = collect(
        &mut stream,
        row.expect.len(),
        row.close,
        QUIET,
        Instant::now() + ROW_DEADLINE,
    );
    let (resps, used) = parse_responses(&got.raw);
    let mut problems = Vec::new();
    if statuses(&resps) != row.expect {
        problems.push(format!(
            "statuses {:?}, expected {:?}",
            statuses(&resps),
            row.expect
        ));
    }
    if used < got.raw.len() {
        problems.push(format!(
            "{} bytes that are no complete HTTP/1.x response",
            got.raw.len() - used
        ));
    }
    for m in MARKERS {
        if find(&got.raw, m.as_bytes()).is_some() {
            problems.push(format!("{m:?} came back"));
        }
    }
    match (row.close, got.closed) {
        (true, None) => problems.push(format!(
            "connection still open {ROW_DEADLINE:?} after sending, expected a close"
        )),
        (false, Some(how)) => problems.push(format!("connection closed ({how}), expected it open")),
        _ => {}
    }
    if let Some(last) = resps.last() {
        let want = if row.close { "close" } else { "keep-alive" };
        if last.connection != want {
            problems.push(format!(
                "last response says Connection: {:?}, expected {want:?}",
                last.connection
            ));
        }
    }
    // Still in sync: the next request on the connection gets its own answer.
    if !row.close && got.closed.is_none() && problems.is_empty() {
        let ok = stream
            .write_all(get("/ok").as_bytes())
            .map_err(|e| format!("write of GET /ok failed: {e}"))
            .map(|()| {
                collect(
                    &mut stream,
                    1,
                    false,
                    Duration::ZERO,
                    Instant::now() + ROW_DEADLINE,
                )
            });
        match ok {
            Err(e) => problems.push(e),
            Ok(after) => {
                let (r, used) = parse_responses(&after.raw);
                let fine = r.len() == 1
                    && r[0].status == 200
                    && r[0].body == b"OK"
                    && used == after.raw.len();
                if !fine {
                    problems.push(format!(
                        "follow-up GET /ok on the same connection got {} (closed: {:?})",
                        show(&after.raw, 400),
                        after.closed
                    ));
                }
                for m in MARKERS {
                    if find(&after.raw, m.as_bytes()).is_some() {
                        problems.push(format!("{m:?} came back after GET /ok"));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "row {}\n  why:      {}\n  sent:     {}\n  received: {}\n  closed:   {:?}\n  problems: {}",
        row.name,
        row.why,
        show(&row.send, 300),
        show(&got.raw, 900),
        got.closed,
        problems.join("; ")
    ))
}

fn start_server() -> Server {
    let prefix = Prefix::new("hostile");
    prefix.write("html/index.html", "INDEX");
    prefix.write("html/pub/file.txt", "PUBLIC");
    // Outside the root: no request may reach it.
    prefix.write("secret.txt", "TOPSECRET");
    Server::start_with(
        prefix,
        WORKER_CONNECTIONS,
        &server_block(
            "    location = /1 { return 200 \"FIRST\"; }\n\
             \x20   location = /2 { return 200 \"SECOND\"; }\n\
             \x20   location = /ok { return 200 \"OK\"; }\n\
             \x20   location = /smuggled { return 200 \"SMUGGLED\"; }",
        ),
    )
}

#[test]
fn hostile_requests_table() {
    let mut server = start_server();
    let addr = server.addr();
    let rows = rows();
    assert!(rows.len() >= 80, "only {} rows", rows.len());
    let mut names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names must be unique");

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(row) = rows.get(i) else { break };
                    if let Err(e) = run_row(addr, row) {
                        failures.lock().unwrap().push((i, e));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|(i, _)| *i);
    let mut report: Vec<String> = failures.into_iter().map(|(_, e)| e).collect();
    let failed_rows = report.len();
    eprintln!(
        "hostile: {} rows in {:?}, {} failed",
        rows.len(),
        started.elapsed(),
        failed_rows
    );

    // Nothing else was harmed: a normal request is answered, the process
    // runs, and nothing panicked.
    let mut c = server.connect();
    c.send(get("/ok"));
    match c.try_read_response(Duration::from_secs(5), false) {
        Ok(r) if r.status == 200 && r.body == b"OK" => {}
        Ok(r) => report.push(format!("after the table: GET /ok got {r:?}")),
        Err(e) => report.push(format!("after the table: GET /ok failed: {e}")),
    }
    if !server.is_running() {
        report.push("after the table: the server is no longer running".into());
    }
    let panics: Vec<String> = server
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("panicked"))
        .collect();
    if !panics.is_empty() {
        report.push(format!("server stderr has panics:\n{}", panics.join("\n")));
    }

    assert!(
        report.is_empty(),
        "{failed_rows} of {} rows failed, {} other problems:\n\n{}",
        rows.len(),
        report.len() - failed_rows,
        report.join("\n\n")
    );
}
