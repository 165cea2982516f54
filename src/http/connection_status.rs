//! The connection inspector: `connection_status;` (holdfast's own
//! `ngx_http_connection_status_module`; nginx has only stub_status's
//! counters). It lists every connection of the worker that answers — its
//! read and write handlers by nginx's function names, the armed timer, its
//! place in the reusable queue — and the cycle's figures.
//!
//! ```text
//!  GET /cs?format=json ─▶ connection_status_handler ─▶ header + first piece
//!        (send_out drained the piece) ─▶ write_more ─▶ next piece … ─▶ `],"shown":…}`
//! ```
//! The body is made while the connection list is walked, a piece of at
//! most [`CONNECTION_STATUS_PIECE`] bytes at a time, each produced only
//! once the socket took the previous one (chunked for HTTP/1.1, ended by
//! the close for HTTP/1.0): 20,000 connections never become one string.
//! The walk is live, not a snapshot: it goes by slab key, so a connection
//! opened behind the walk is not listed and one closed ahead of it is
//! not. The reusable-queue positions are those of when the answer began.
//!
//! Nothing is kept for the inspector while nobody asks: everything it
//! prints is state holdfast keeps anyway, or the kernel's: `idle_ms`,
//! `bytes_in` and `bytes_out` come from `TCP_INFO` (one getsockopt per
//! listed connection, only while answering; null for unix sockets), so the
//! Connection keeps no counters (docs/connection-limits.md).

use std::io::Write;

use crate::core::connection::{ConnData, Connection, NIL, ReadHandler, WriteHandler};
use crate::core::cycle::Cycle;
use crate::http::parse::{Method, Version};
use crate::http::request::Finalize;
use crate::http::response::{self, ResponseHead, Sent};
use crate::os::io::Transport;

/// The most body bytes made per step of the walk (one write's worth).
pub const CONNECTION_STATUS_PIECE: usize = 16 * 1024;

/// Room kept in a piece for one more connection's entry.
const ENTRY_MAX: usize = 1024;

/// Pieces made one after another before the connection yields to the
/// others until the next loop iteration (ngx_posted_next_events).
const PIECES_PER_TURN: u8 = 8;

/// The page polling the JSON (part 2 of issue 14).
const PAGE: &str = include_str!("connection_status.html");

/// The state words of `state` (one per handler state).
pub const STATES: &[&str] = &[
    "wait_request",
    "ssl_handshake",
    "reading_request",
    "processing",
    "writing",
    "discarding",
    "keepalive",
    "lingering",
    "upstream",
    "upstream_idle",
    "upgraded",
    "reading_body",
];

/// `format=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Text,
}

/// The answer being made: where the walk is and what it has counted.
#[derive(Debug)]
pub struct Walk {
    format: Format,
    /// HTTP/1.1: pieces go out as chunks.
    chunked: bool,
    /// The next slab key to look at.
    next_key: usize,
    /// `limit=` (usize::MAX: none).
    limit: usize,
    /// `state=`.
    state: Option<&'static str>,
    /// Entries written.
    shown: usize,
    /// Connections that matched `state`.
    total: usize,
    /// Every connection walked, by state (index in [`STATES`]), whatever
    /// the filters: the `states` summary `holdfast-load --watch` prints.
    states: [u32; STATES.len()],
    /// Pieces made since the connection last yielded.
    burst: u8,
    /// Reusable-queue position by slab key when the answer began (0: the
    /// next a drain closes), [`NIL`] for none.
    positions: Vec<u32>,
    /// Connections numbered from here on opened after the answer began.
    first_new: u64,
    /// The piece being made.
    piece: Vec<u8>,
}

/// What the query asked for.
#[derive(Debug)]
struct Query {
    format: Option<Format>,
    limit: usize,
    state: Option<&'static str>,
    worker: Option<usize>,
}

/// The query's parameters; Err for a value the inspector does not know.
fn parse_query(args: Option<&[u8]>) -> Result<Query, ()> {
    use crate::http::variables::arg;
    let a = args.unwrap_or_default();
    let num = |v: &[u8]| {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or(())
    };
    let format = match arg(a, b"format") {
        None | Some(b"html") => None,
        Some(b"json") => Some(Format::Json),
        Some(b"text") => Some(Format::Text),
        Some(_) => return Err(()),
    };
    let limit = arg(a, b"limit").map(num).transpose()?.unwrap_or(usize::MAX);
    let state = match arg(a, b"state") {
        None => None,
        Some(s) => Some(*STATES.iter().find(|w| w.as_bytes() == s).ok_or(())?),
    };
    let worker = arg(a, b"worker").map(num).transpose()?;
    Ok(Query {
        format,
        limit,
        state,
        worker,
    })
}

/// Modelled on ngx_http_stub_status_handler(): GET and HEAD only (405
/// otherwise); `format=json|text` starts the walk, no format serves the
/// page. Differences: nginx has no such handler.
pub fn connection_status_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let c = &cy.conns[key];
    let Some(r) = c.req() else {
        return Finalize::Close;
    };
    if !matches!(r.method, Method::Get | Method::Head) {
        return Finalize::Status(405);
    }
    let head = c.buf().map(|b| b.data()).unwrap_or_default();
    let Ok(q) = parse_query(r.args(head)) else {
        return Finalize::Status(400);
    };
    let http11 = r.version == Version::Http11;
    let Some(format) = q.format else {
        let head = ResponseHead {
            status: 200,
            content_type: Some(b"text/html"),
            content_length: Some(PAGE.len() as u64),
            ..Default::default()
        };
        response::send_header(cy, key, &head);
        response::send_body(cy, key, PAGE.as_bytes());
        return Finalize::Done;
    };
    // worker=K reached another worker: the answer is this worker's and
    // says so, and the connection closes, so the client's next try is a
    // new connection, which the kernel may hand to worker K (the workers
    // share the listening socket, or split it with reuseport): the page
    // tries again until K answers.
    let index = crate::os::process_cycle::NGX_WORKER.load(std::sync::atomic::Ordering::Relaxed);
    let elsewhere = q.worker.is_some_and(|k| k != index);
    if let Some(r) = cy.conns[key].req_mut() {
        if elsewhere {
            r.keepalive = false;
        }
        // The body is made piece by piece and goes out as it is: no
        // compression or recoding (gzip_ok already answered "no").
        r.gzip_flags |= crate::http::gzip_filter::flags::TESTED;
        r.gzip_flags &= !crate::http::gzip_filter::flags::OK;
        if http11 {
            r.headers_out
                .extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        } else {
            // ngx_http_chunked_header_filter: HTTP/1.0 learns the end
            // from the close.
            r.keepalive = false;
        }
    }
    let head = ResponseHead {
        status: 200,
        content_type: Some(match format {
            Format::Json => b"application/json",
            Format::Text => b"text/plain",
        }),
        content_length: None,
        charset: Some(None),
        ..Default::default()
    };
    response::send_header(cy, key, &head);
    if cy.conns[key].req().is_none_or(|r| r.header_only) {
        return Finalize::Done;
    }
    let mut walk = Box::new(Walk {
        format,
        chunked: http11,
        next_key: 0,
        limit: q.limit,
        state: q.state,
        shown: 0,
        total: 0,
        states: [0; STATES.len()],
        burst: 0,
        positions: reusable_positions(cy),
        first_new: cy.connection_counter,
        piece: Vec::with_capacity(CONNECTION_STATUS_PIECE + ENTRY_MAX),
    });
    match format {
        Format::Json => cycle_json(cy, q.worker, &mut walk.piece),
        Format::Text => cycle_text(cy, q.worker, &mut walk.piece),
    }
    if let Some(r) = cy.conns[key].req_mut() {
        r.inspector = Some(walk);
    }
    make_piece(cy, key);
    Finalize::Done
}

/// holdfast's own step (the inspector's body filter, in effect): called by
/// send_out once the socket took everything queued while the walk is not
/// done. Makes the next piece and sends on; after [`PIECES_PER_TURN`]
/// pieces the connection waits for the next loop iteration, so one reader
/// of a long list does not hold the loop.
pub fn write_more<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Sent {
    let Some(walk) = cy.conns[key].req_mut().and_then(|r| r.inspector.as_mut()) else {
        return Sent::Done;
    };
    walk.burst += 1;
    if walk.burst > PIECES_PER_TURN {
        walk.burst = 0;
        cy.post_next_event(key, crate::core::connection::EvKind::Write);
        return Sent::Again;
    }
    make_piece(cy, key);
    response::send_out(cy, key)
}

/// Walks on from `next_key` until the piece is full or every connection
/// was looked at, then queues the piece (a chunk, and the last chunk at
/// the end); the walk is dropped once its end is queued.
fn make_piece<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let Some(mut walk) = cy.conns[key].req_mut().and_then(|r| r.inspector.take()) else {
        return;
    };
    let end = cy.conns.capacity();
    while walk.next_key < end && walk.piece.len() + ENTRY_MAX <= CONNECTION_STATUS_PIECE {
        let k = walk.next_key;
        walk.next_key += 1;
        let Some(c) = cy.conns.get(k) else { continue };
        let state = state_of(c);
        if let Some(i) = STATES.iter().position(|&s| s == state) {
            walk.states[i] += 1;
        }
        if walk.state.is_some_and(|s| s != state) {
            continue;
        }
        walk.total += 1;
        if walk.shown >= walk.limit {
            continue;
        }
        let info = describe(cy, k, &walk, state);
        let piece = &mut walk.piece;
        match walk.format {
            Format::Json => {
                if walk.shown > 0 {
                    piece.push(b',');
                }
                entry_json(&info, piece);
            }
            Format::Text => entry_text(&info, piece),
        }
        walk.shown += 1;
    }
    let done = walk.next_key >= end;
    if done {
        let _ = match walk.format {
            Format::Json => {
                walk.piece.extend_from_slice(b"\n],\"states\":{");
                for (i, (name, n)) in STATES.iter().zip(walk.states).enumerate() {
                    let sep = if i > 0 { "," } else { "" };
                    let _ = write!(walk.piece, "{sep}\"{name}\":{n}");
                }
                writeln!(
                    walk.piece,
                    "}},\"shown\":{},\"total\":{}}}",
                    walk.shown, walk.total
                )
            }
            Format::Text => writeln!(walk.piece, "shown {} of {}", walk.shown, walk.total),
        };
    }
    let Some(hc) = cy.conns[key].hc_mut() else {
        return;
    };
    let out = &mut hc.out.mem;
    if !walk.piece.is_empty() {
        if walk.chunked {
            crate::http::chunked::push_chunk_size(out, walk.piece.len());
        }
        out.extend_from_slice(&walk.piece);
        if walk.chunked {
            out.extend_from_slice(b"\r\n");
        }
    }
    if done && walk.chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    let len = walk.piece.len() as u64;
    walk.piece.clear();
    if let Some(r) = hc.request.as_deref_mut() {
        r.body_bytes += len;
        if !done {
            r.inspector = Some(walk);
        }
    }
}

/// Each reusable connection's position counted from the tail (the end a
/// drain takes first), by slab key.
fn reusable_positions<S>(cy: &Cycle<S>) -> Vec<u32> {
    let mut pos = vec![NIL; cy.conns.capacity()];
    let mut k = cy.reusable_tail;
    let mut i = 0u32;
    while k != NIL && (i as usize) <= cy.reusable_n {
        if let Some(p) = pos.get_mut(k as usize) {
            *p = i;
        }
        i += 1;
        k = cy.conns.get(k as usize).map_or(NIL, |c| c.prev);
    }
    pos
}

/// The state word of a connection, from its handlers (see [`STATES`]).
pub fn state_of<S>(c: &Connection<S>) -> &'static str {
    match c.read.handler {
        ReadHandler::WaitRequest => "wait_request",
        ReadHandler::SslHandshake | ReadHandler::SslHandshakeHandler => "ssl_handshake",
        ReadHandler::ProcessRequestLine | ReadHandler::ProcessRequestHeaders => {
            if c.write.handler == WriteHandler::Flush {
                "writing"
            } else {
                "reading_request"
            }
        }
        ReadHandler::DiscardBody => "discarding",
        ReadHandler::Keepalive => "keepalive",
        ReadHandler::LingeringClose => "lingering",
        ReadHandler::Upstream => "upstream",
        ReadHandler::KeepaliveClose => "upstream_idle",
        ReadHandler::ReadClientBody | ReadHandler::ReadUnbufferedBody => "reading_body",
        ReadHandler::Upgraded => "upgraded",
        ReadHandler::BlockReading | ReadHandler::TestReading => {
            if c.req().is_some_and(|r| r.upstream.is_some()) {
                "upstream"
            } else if c.read.handler == ReadHandler::TestReading
                || c.write.handler != WriteHandler::Empty
            {
                "writing"
            } else {
                "processing"
            }
        }
    }
}

/// One connection as the inspector shows it.
struct Info<'a> {
    n: u64,
    fd: i32,
    peer: String,
    kind: &'static str,
    read_handler: &'static str,
    write_handler: &'static str,
    action: &'static str,
    state: &'a str,
    requests: u64,
    age_ms: u64,
    /// (event, fires in ms).
    timer: Option<(&'static str, u64)>,
    reusable: Option<u32>,
    pipelined: bool,
    tls: bool,
    upstream: Option<String>,
    client: Option<u64>,
    /// From the kernel (TCP_INFO), read now; None for unix sockets.
    tcp: Option<crate::os::net::TcpFigures>,
}

fn describe<'a, S: Transport>(cy: &Cycle<S>, k: usize, walk: &Walk, state: &'a str) -> Info<'a> {
    let c = &cy.conns[k];
    let now = cy.clock.now_ms;
    let fires = |h| cy.timers.deadline(h).map(|d| d.saturating_sub(now));
    let timer = match (c.read.timer.and_then(fires), c.write.timer.and_then(fires)) {
        (Some(r), Some(w)) if w < r => Some(("write", w)),
        (Some(r), _) => Some(("read", r)),
        (None, Some(w)) => Some(("write", w)),
        (None, None) => None,
    };
    let up = match c.data.as_deref() {
        Some(ConnData::Upstream(u)) => Some(u),
        _ => None,
    };
    let kind = match (c.read.handler, up) {
        (ReadHandler::KeepaliveClose, _) => "upstream_idle",
        (_, Some(_)) => "upstream",
        (_, None) => "client",
    };
    let peer = if c.unix {
        "unix:".to_string()
    } else {
        c.addr().to_string()
    };
    let (upstream, client) = match up {
        Some(u) => (
            Some(u.peer.to_string()),
            cy.lookup(u.client)
                .filter(|_| kind == "upstream")
                .map(|ck| cy.conns[ck].number),
        ),
        None => (
            c.req()
                .and_then(|r| r.upstream)
                .and_then(|t| cy.lookup(t))
                .and_then(|pk| match cy.conns[pk].data.as_deref() {
                    Some(ConnData::Upstream(u)) => Some(u.peer.to_string()),
                    _ => None,
                }),
            None,
        ),
    };
    let write_handler = if kind == "client" && c.write.handler == WriteHandler::Upstream {
        "ngx_http_upstream_process_downstream"
    } else {
        c.write.handler.nginx_name()
    };
    let reusable = walk
        .positions
        .get(k)
        .copied()
        .filter(|&p| c.reusable && p != NIL && c.number < walk.first_new);
    Info {
        n: c.number,
        fd: c.stream.fd(),
        peer,
        kind,
        read_handler: c.read.handler.nginx_name(),
        write_handler,
        action: c.action.as_str(),
        state,
        requests: c.requests,
        age_ms: now.saturating_sub(c.start_ms),
        timer,
        reusable,
        pipelined: c.pipeline,
        tls: c.stream.ssl().is_some(),
        upstream,
        client,
        tcp: if c.unix {
            None
        } else {
            crate::os::net::tcp_figures(c.stream.fd())
        },
    }
}

/// A number or null.
fn json_opt(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string (the peer of a unix socket may hold anything).
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn entry_json(i: &Info<'_>, out: &mut Vec<u8>) {
    let _ = write!(out, "\n{{\"n\":{},\"fd\":{},\"peer\":", i.n, i.fd);
    json_str(out, &i.peer);
    let _ = write!(
        out,
        ",\"kind\":\"{}\",\"read_handler\":\"{}\",\"write_handler\":\"{}\",\"action\":\"{}\",\
         \"state\":\"{}\",\"requests\":{},\"age_ms\":{},\"idle_ms\":",
        i.kind, i.read_handler, i.write_handler, i.action, i.state, i.requests, i.age_ms
    );
    json_opt(out, i.tcp.map(|t| t.idle_ms));
    out.extend_from_slice(b",\"timer\":");
    match i.timer {
        Some((ev, ms)) => {
            let _ = write!(out, "{{\"event\":\"{ev}\",\"fires_in_ms\":{ms}}}");
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"reusable\":");
    match i.reusable {
        Some(p) => {
            let _ = write!(out, "{{\"position\":{p}}}");
        }
        None => out.extend_from_slice(b"null"),
    }
    let _ = write!(out, ",\"pipelined\":{},\"bytes_in\":", i.pipelined);
    json_opt(out, i.tcp.map(|t| t.bytes_in));
    out.extend_from_slice(b",\"bytes_out\":");
    json_opt(out, i.tcp.map(|t| t.bytes_out));
    let _ = write!(out, ",\"tls\":{},\"upstream\":", i.tls);
    match &i.upstream {
        Some(u) => json_str(out, u),
        None => out.extend_from_slice(b"null"),
    }
    if i.kind != "client" {
        match i.client {
            Some(n) => {
                let _ = write!(out, ",\"client\":{n}");
            }
            None => out.extend_from_slice(b",\"client\":null"),
        }
    }
    out.push(b'}');
}

fn entry_text(i: &Info<'_>, out: &mut Vec<u8>) {
    let timer = match i.timer {
        Some((ev, ms)) => format!("{ev} {ms}ms"),
        None => "-".to_string(),
    };
    let reuse = i.reusable.map_or("-".to_string(), |p| p.to_string());
    let _ = writeln!(
        out,
        "{:>7} {:>6} {:<22} {:<15} {:<42} {:<14} {:>6} {:>6} {:>9} {:>9} {:>10} {:>10}",
        i.n,
        i.fd,
        i.peer,
        i.state,
        i.read_handler,
        timer,
        reuse,
        i.requests,
        format!("{}ms", i.age_ms),
        i.tcp
            .map_or("-".to_string(), |t| format!("{}ms", t.idle_ms)),
        i.tcp.map_or("-".to_string(), |t| t.bytes_in.to_string()),
        i.tcp.map_or("-".to_string(), |t| t.bytes_out.to_string())
    );
}

/// The cycle's figures (see docs/connection-limits.md).
struct Figures {
    pid: u32,
    index: usize,
    workers: usize,
    /// `worker=K` asked, and whether this worker is K.
    asked: Option<(usize, bool)>,
    now_ms: u64,
    worker_connections: usize,
    used: usize,
    free: usize,
    reusable: usize,
    drains: u64,
    posted: usize,
    timers: usize,
    levels: Vec<usize>,
    s: crate::core::cycle::Stats,
}

fn figures<S: Transport>(cy: &Cycle<S>, worker: Option<usize>) -> Figures {
    let index = crate::os::process_cycle::NGX_WORKER.load(std::sync::atomic::Ordering::Relaxed);
    let free = cy.free_connection_n();
    Figures {
        pid: std::process::id(),
        index,
        workers: cy.conf.worker_processes.max(1),
        asked: worker.map(|k| (k, k == index)),
        now_ms: cy.clock.now_ms,
        worker_connections: cy.connection_n,
        used: cy.connection_n.saturating_sub(free),
        free,
        reusable: cy.reusable_n,
        drains: cy.drained,
        posted: cy.posted.len() + cy.posted_next.len(),
        timers: cy.timers.len(),
        levels: cy.timers.level_counts().to_vec(),
        s: cy.stats,
    }
}

fn cycle_json<S: Transport>(cy: &Cycle<S>, worker: Option<usize>, out: &mut Vec<u8>) {
    let f = figures(cy, worker);
    let _ = write!(
        out,
        "{{\"worker\":{{\"pid\":{},\"index\":{},\"workers\":{},\"scope\":\"worker\"",
        f.pid, f.index, f.workers
    );
    if let Some((k, answered)) = f.asked {
        let _ = write!(out, ",\"asked\":{k},\"answered\":{answered}");
    }
    let levels: Vec<String> = f.levels.iter().map(usize::to_string).collect();
    let _ = write!(
        out,
        "}},\n\"now_ms\":{},\n\"cycle\":{{\"worker_connections\":{},\"used\":{},\"free\":{},\
         \"reusable\":{},\"drains\":{},\"posted\":{},\"timers\":{{\"total\":{},\"levels\":[{}]}},\
         \"accepts\":{},\"handled\":{},\"requests\":{},\"active\":{},\"reading\":{},\"writing\":{},\
         \"waiting\":{}}},\n\"connections\":[",
        f.now_ms,
        f.worker_connections,
        f.used,
        f.free,
        f.reusable,
        f.drains,
        f.posted,
        f.timers,
        levels.join(","),
        f.s.accepts,
        f.s.handled,
        f.s.requests,
        f.s.active,
        f.s.reading,
        f.s.writing,
        f.s.waiting
    );
}

fn cycle_text<S: Transport>(cy: &Cycle<S>, worker: Option<usize>, out: &mut Vec<u8>) {
    let f = figures(cy, worker);
    let _ = write!(
        out,
        "worker {} of {} (pid {}): this worker's connections only",
        f.index, f.workers, f.pid
    );
    if let Some((k, answered)) = f.asked
        && !answered
    {
        let _ = write!(out, " (worker {k} was asked for: not routed)");
    }
    let levels: Vec<String> = f.levels.iter().map(usize::to_string).collect();
    let _ = writeln!(
        out,
        "\nworker_connections {} used {} free {} reusable {} drains {} posted {} \
         timers {} [{}] accepts {} handled {} requests {} reading {} writing {} waiting {}",
        f.worker_connections,
        f.used,
        f.free,
        f.reusable,
        f.drains,
        f.posted,
        f.timers,
        levels.join(" "),
        f.s.accepts,
        f.s.handled,
        f.s.requests,
        f.s.reading,
        f.s.writing,
        f.s.waiting
    );
    let _ = writeln!(
        out,
        "{:>7} {:>6} {:<22} {:<15} {:<42} {:<14} {:>6} {:>6} {:>9} {:>9} {:>10} {:>10}",
        "n",
        "fd",
        "peer",
        "state",
        "read handler",
        "timer",
        "reuse",
        "reqs",
        "age",
        "idle",
        "in",
        "out"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        let q = parse_query(Some(b"format=json&limit=5&state=keepalive")).unwrap();
        assert_eq!(q.format, Some(Format::Json));
        assert_eq!(q.limit, 5);
        assert_eq!(q.state, Some("keepalive"));
        assert!(parse_query(None).unwrap().format.is_none());
        assert!(parse_query(Some(b"format=xml")).is_err());
        assert!(parse_query(Some(b"state=nap")).is_err());
        assert!(parse_query(Some(b"limit=-1")).is_err());
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        json_str(&mut out, "a\"b\\c\n");
        assert_eq!(out, b"\"a\\\"b\\\\c\\u000a\"");
    }
}
