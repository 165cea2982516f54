//! The connection inspector (`connection_status;`, issue 14): a connection
//! in each state is listed with nginx's handler name, its timer and its
//! reusable-queue position; every JSON answer is checked against the
//! schema below; the text format, the filters, `worker=`, and a list of
//! thousands of idle connections within a memory and time bound.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Conn, Prefix, Server, conf, get, server_block};

const WAIT: Duration = Duration::from_secs(10);

fn locations() -> &'static str {
    "    location = /cs { connection_status; }\n\
     location = /r { return 200 \"R\"; }"
}

fn server(wc: usize, extra: &str) -> Server {
    Server::start_with(
        Prefix::new("cstatus"),
        wc,
        &server_block(&format!("{extra}\n{}", locations())),
    )
}

// ---- a small JSON parser (the tests' own oracle) ----

#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn get(&self, k: &str) -> &J {
        match self {
            J::Obj(v) => v
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no field {k} in {self:?}")),
            _ => panic!("not an object: {self:?}"),
        }
    }
    fn has(&self, k: &str) -> bool {
        matches!(self, J::Obj(v) if v.iter().any(|(n, _)| n == k))
    }
    fn u(&self) -> u64 {
        match self {
            J::Num(n) if *n >= 0.0 && n.fract() == 0.0 => *n as u64,
            _ => panic!("not a count: {self:?}"),
        }
    }
    fn s(&self) -> &str {
        match self {
            J::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }
    fn arr(&self) -> &[J] {
        match self {
            J::Arr(a) => a,
            _ => panic!("not an array: {self:?}"),
        }
    }
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && b" \t\r\n".contains(&self.b[self.i]) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {} at {}", c as char, self.i))
        }
    }
    fn value(&mut self) -> Result<J, String> {
        self.ws();
        match self.b.get(self.i).copied() {
            Some(b'{') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(J::Obj(v));
                }
                loop {
                    self.ws();
                    let J::Str(k) = self.value()? else {
                        return Err("key".into());
                    };
                    self.eat(b':')?;
                    v.push((k, self.value()?));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(J::Obj(v));
                        }
                        _ => return Err(format!("object at {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(J::Arr(v));
                }
                loop {
                    v.push(self.value()?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(J::Arr(v));
                        }
                        _ => return Err(format!("array at {}", self.i)),
                    }
                }
            }
            Some(b'"') => {
                self.i += 1;
                let mut s = Vec::new();
                loop {
                    match self.b.get(self.i).copied() {
                        None => return Err("string".into()),
                        Some(b'"') => {
                            self.i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let e = self.b.get(self.i + 1).copied().ok_or("escape")?;
                            self.i += 2;
                            match e {
                                b'u' => {
                                    let h = self.b.get(self.i..self.i + 4).ok_or("\\u")?;
                                    let cp = u32::from_str_radix(
                                        std::str::from_utf8(h).map_err(|e| e.to_string())?,
                                        16,
                                    )
                                    .map_err(|e| e.to_string())?;
                                    self.i += 4;
                                    let ch = char::from_u32(cp).ok_or("cp")?;
                                    s.extend_from_slice(ch.to_string().as_bytes());
                                }
                                b'n' => s.push(b'\n'),
                                b't' => s.push(b'\t'),
                                b'r' => s.push(b'\r'),
                                b'"' | b'\\' | b'/' => s.push(e),
                                _ => return Err("escape".into()),
                            }
                        }
                        Some(c) if c < 0x20 => return Err("control in string".into()),
                        Some(c) => {
                            s.push(c);
                            self.i += 1;
                        }
                    }
                }
                String::from_utf8(s).map(J::Str).map_err(|e| e.to_string())
            }
            Some(b't') if self.b[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(J::Bool(true))
            }
            Some(b'f') if self.b[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(J::Bool(false))
            }
            Some(b'n') if self.b[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(J::Null)
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let st = self.i;
                self.i += 1;
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_digit() || b".eE+-".contains(c))
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.b[st..self.i]).map_err(|e| e.to_string())?;
                t.parse().map(J::Num).map_err(|e| format!("{t}: {e}"))
            }
            _ => Err(format!("value at {}", self.i)),
        }
    }
}

fn parse(b: &[u8]) -> J {
    let mut p = P { b, i: 0 };
    let v = p
        .value()
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(b)));
    p.ws();
    assert_eq!(p.i, b.len(), "trailing bytes after the JSON");
    v
}

// ---- the schema ----

const STATES: &[&str] = &[
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

#[track_caller]
fn is_count(v: &J) {
    v.u();
}

#[track_caller]
fn is_count_or_null(v: &J) {
    if *v != J::Null {
        v.u();
    }
}

/// Field names and types of the answer (docs/connection-limits.md).
#[track_caller]
fn validate(v: &J) {
    let w = v.get("worker");
    for k in ["pid", "index", "workers"] {
        is_count(w.get(k));
    }
    if w.has("asked") {
        is_count(w.get("asked"));
        assert!(matches!(w.get("answered"), J::Bool(_)));
    }
    is_count(v.get("now_ms"));
    let c = v.get("cycle");
    for k in [
        "worker_connections",
        "used",
        "free",
        "reusable",
        "drains",
        "posted",
        "accepts",
        "handled",
        "requests",
        "reading",
        "writing",
        "waiting",
    ] {
        is_count(c.get(k));
    }
    let t = c.get("timers");
    let total = t.get("total").u();
    let levels: u64 = t.get("levels").arr().iter().map(J::u).sum();
    assert_eq!(total, levels, "timer levels add up to the total");
    let conns = v.get("connections").arr();
    for e in conns {
        for k in ["n", "fd", "requests", "age_ms"] {
            is_count(e.get(k));
        }
        for k in ["idle_ms", "bytes_in", "bytes_out"] {
            is_count_or_null(e.get(k));
        }
        e.get("peer").s();
        assert!(
            ["client", "upstream", "upstream_idle"].contains(&e.get("kind").s()),
            "{e:?}"
        );
        assert!(e.get("read_handler").s().starts_with("ngx_"), "{e:?}");
        assert!(e.get("write_handler").s().starts_with("ngx_"), "{e:?}");
        e.get("action").s();
        assert!(STATES.contains(&e.get("state").s()), "{e:?}");
        match e.get("timer") {
            J::Null => {}
            t => {
                assert!(["read", "write"].contains(&t.get("event").s()));
                is_count(t.get("fires_in_ms"));
            }
        }
        match e.get("reusable") {
            J::Null => {}
            r => is_count(r.get("position")),
        }
        assert!(matches!(e.get("pipelined"), J::Bool(_)));
        assert!(matches!(e.get("tls"), J::Bool(_)));
        match e.get("upstream") {
            J::Null | J::Str(_) => {}
            u => panic!("upstream: {u:?}"),
        }
    }
    let states = v.get("states");
    for st in STATES {
        is_count(states.get(st));
    }
    assert_eq!(v.get("shown").u(), conns.len() as u64);
    assert!(v.get("total").u() >= conns.len() as u64);
}

// ---- fetching ----

/// GET `/cs?QUERY` over HTTP/1.0: (head, body) read up to the close.
fn fetch(addr: SocketAddr, query: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET /cs?{query} HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let at = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    (
        String::from_utf8_lossy(&all[..at]).into_owned(),
        all[at + 4..].to_vec(),
    )
}

fn json(s: &Server, query: &str) -> J {
    let (head, body) = fetch(s.addr(), &format!("format=json&{query}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let v = parse(&body);
    validate(&v);
    v
}

/// The entry of the connection whose client side is `local`.
fn entry_of(v: &J, local: SocketAddr) -> Option<J> {
    let peer = local.to_string();
    v.get("connections")
        .arr()
        .iter()
        .find(|e| e.get("peer").s() == peer)
        .cloned()
}

/// Asks until the connection of `c` is in `state` (the server may not
/// have read what was sent yet); its entry.
#[track_caller]
fn wait_state(s: &Server, c: &TcpStream, state: &str) -> J {
    let local = c.local_addr().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let v = json(s, "");
        if let Some(e) = entry_of(&v, local)
            && e.get("state").s() == state
        {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "{local} never reached {state}: {v:?}"
        );
        std::thread::yield_now();
    }
}

#[track_caller]
fn assert_timer(e: &J, event: &str, at_most: u64) {
    let t = e.get("timer");
    assert_eq!(t.get("event").s(), event, "{e:?}");
    let ms = t.get("fires_in_ms").u();
    assert!(ms <= at_most && ms > 0, "fires in {ms} ms: {e:?}");
}

// ---- the states ----

#[test]
fn each_state_has_its_handler_timer_and_queue_position() {
    let s = server(64, "    client_header_timeout 30s; keepalive_timeout 40s;");
    // Wait request: connected, silent.
    let wait = s.connect();
    let e = wait_state(&s, wait.stream(), "wait_request");
    assert_eq!(e.get("read_handler").s(), "ngx_http_wait_request_handler");
    assert_eq!(e.get("write_handler").s(), "ngx_http_empty_handler");
    assert_eq!(e.get("action").s(), "waiting for request");
    assert_eq!(e.get("kind").s(), "client");
    assert_eq!(e.get("requests").u(), 0);
    assert_timer(&e, "read", 30_000);
    assert_eq!(e.get("reusable").get("position").u(), 0, "{e:?}");
    assert_eq!(e.get("bytes_in").u(), 0, "{e:?}");
    assert_eq!(e.get("bytes_out").u(), 0, "{e:?}");

    // Keep-alive idle: after one request.
    let mut ka = s.connect();
    ka.request(get("/r")).assert_status(200).assert_body("R");
    let e = wait_state(&s, ka.stream(), "keepalive");
    assert_eq!(e.get("read_handler").s(), "ngx_http_keepalive_handler");
    assert_eq!(e.get("action").s(), "keepalive");
    assert_eq!(e.get("requests").u(), 1);
    assert_eq!(e.get("pipelined"), &J::Bool(false));
    assert_timer(&e, "read", 40_000);
    // The kernel's figures (TCP_INFO): the request's bytes in, the
    // response's out (acknowledged on loopback by now), idle since then.
    let req_len = get("/r").len() as u64;
    assert_eq!(e.get("bytes_in").u(), req_len, "{e:?}");
    let out = e.get("bytes_out").u();
    assert!(out > 17 && out < 1024, "{e:?}");
    assert!(e.get("idle_ms").u() < 30_000, "{e:?}");

    // Reading a partial header.
    let mut part = s.connect();
    part.send("GET /r HTTP/1.1\r\nHost: local");
    let e = wait_state(&s, part.stream(), "reading_request");
    assert_eq!(
        e.get("read_handler").s(),
        "ngx_http_process_request_headers"
    );
    assert_eq!(e.get("action").s(), "reading client request headers");
    assert_eq!(e.get("reusable"), &J::Null);
    assert_timer(&e, "read", 30_000);

    // Pipelined: two requests in one write, then idle.
    let mut pipe = s.connect();
    pipe.send(format!("{}{}", get("/r"), get("/r")));
    pipe.read_response().assert_status(200);
    pipe.read_response().assert_status(200);
    let e = wait_state(&s, pipe.stream(), "keepalive");
    assert_eq!(e.get("pipelined"), &J::Bool(true));
    assert_eq!(e.get("requests").u(), 2);

    // The queue, from the end a drain takes first: the silent connection
    // (oldest), then the keep-alive ones in the order they went idle.
    let v = json(&s, "");
    let pos = |c: &Conn| {
        entry_of(&v, c.stream().local_addr().unwrap())
            .unwrap()
            .get("reusable")
            .get("position")
            .u()
    };
    assert_eq!((pos(&wait), pos(&ka), pos(&pipe)), (0, 1, 2), "{v:?}");
    assert_eq!(v.get("cycle").get("reusable").u(), 3);
    assert_eq!(v.get("cycle").get("waiting").u(), 3);
    // The inspector's own request is listed, its handler running.
    let own = v
        .get("connections")
        .arr()
        .iter()
        .filter(|e| e.get("state").s() == "writing")
        .count();
    assert_eq!(own, 0, "{v:?}");
    let own = v
        .get("connections")
        .arr()
        .iter()
        .filter(|e| e.get("state").s() == "processing")
        .count();
    assert_eq!(own, 1, "{v:?}");
    drop(part);
}

#[test]
fn lingering_close_is_listed_with_its_timer() {
    let s = server(64, "    lingering_timeout 20s;");
    let mut c = s.connect();
    c.send(format!(
        "{}GET /r HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        get("/r")
    ));
    c.read_response().assert_status(200).assert_keepalive();
    c.read_response().assert_status(200).assert_close();
    let e = wait_state(&s, c.stream(), "lingering");
    assert_eq!(
        e.get("read_handler").s(),
        "ngx_http_lingering_close_handler"
    );
    assert_eq!(e.get("action").s(), "lingering close");
    assert_eq!(e.get("pipelined"), &J::Bool(true));
    assert_timer(&e, "read", 20_000);
}

#[test]
fn a_client_that_does_not_read_is_writing_with_a_send_timer() {
    let prefix = Prefix::new("cstatus-big");
    prefix.write("html/big", vec![b'x'; 8 << 20]);
    let s = Server::start_conf(
        prefix,
        &conf(
            64,
            &server_block(&format!(
                "    send_timeout 25s;\n    location /big {{ }}\n{}",
                locations()
            ))
            .replace("listen 127.0.0.1:0;", "listen 127.0.0.1:0 sndbuf=16k;"),
        ),
    );
    let mut c = s.connect();
    c.send(get("/big"));
    let e = wait_state(&s, c.stream(), "writing");
    assert_eq!(e.get("write_handler").s(), "ngx_http_writer");
    assert_eq!(e.get("read_handler").s(), "ngx_http_test_reading");
    assert_eq!(e.get("action").s(), "sending response to client");
    assert_timer(&e, "write", 25_000);
    assert_eq!(e.get("reusable"), &J::Null);
}

#[test]
fn drain_takes_position_zero_first() {
    // 16 slots, one for the listener: the 15th client finds one free slot
    // (16/16) and drains the oldest reusable connection first.
    let s = server(16, "");
    let mut idle = Vec::new();
    for _ in 0..12 {
        let mut c = s.connect();
        c.request(get("/r")).assert_status(200);
        idle.push(c);
    }
    let v = json(&s, "state=keepalive");
    assert_eq!(v.get("shown").u(), 12);
    let first = entry_of(&v, idle[0].stream().local_addr().unwrap()).unwrap();
    assert_eq!(first.get("reusable").get("position").u(), 0);
    assert_eq!(v.get("cycle").get("drains").u(), 0);
    // Fill the slots: the inspector's own connection plus these.
    let extra: Vec<Conn> = (0..2).map(|_| s.connect()).collect();
    let deadline = Instant::now() + WAIT;
    let v = loop {
        let v = json(&s, "");
        if v.get("cycle").get("drains").u() > 0 {
            break v;
        }
        assert!(Instant::now() < deadline, "no drain: {v:?}");
    };
    assert!(
        entry_of(&v, idle[0].stream().local_addr().unwrap()).is_none(),
        "the position-0 connection was drained: {v:?}"
    );
    assert!(entry_of(&v, idle[11].stream().local_addr().unwrap()).is_some());
    assert!(s.log_contains(
        "worker_connections are not enough, reusing connections",
        WAIT
    ));
    drop(extra);
}

// ---- formats and filters ----

#[test]
fn filters_limit_and_state() {
    let s = server(64, "");
    let mut conns = Vec::new();
    for _ in 0..5 {
        let mut c = s.connect();
        c.request(get("/r")).assert_status(200);
        conns.push(c);
    }
    let _silent = s.connect();
    let deadline = Instant::now() + WAIT;
    while json(&s, "state=wait_request").get("total").u() != 1 {
        assert!(Instant::now() < deadline);
    }
    let v = json(&s, "state=keepalive&limit=2");
    assert_eq!(v.get("shown").u(), 2);
    assert_eq!(v.get("total").u(), 5);
    for e in v.get("connections").arr() {
        assert_eq!(e.get("state").s(), "keepalive");
    }
    let v = json(&s, "limit=0");
    assert_eq!(v.get("shown").u(), 0);
    assert_eq!(v.get("total").u(), 7);
    // The summary counts every connection, whatever the filters.
    assert_eq!(v.get("states").get("keepalive").u(), 5);
    assert_eq!(v.get("states").get("wait_request").u(), 1);
    assert_eq!(v.get("states").get("processing").u(), 1);
    let v = json(&s, "state=wait_request&limit=0");
    assert_eq!(v.get("states").get("keepalive").u(), 5);
    for bad in ["format=xml", "format=json&state=nap", "format=json&limit=x"] {
        let (head, _) = fetch(s.addr(), bad);
        assert!(head.starts_with("HTTP/1.1 400"), "{bad}: {head}");
    }
}

#[test]
fn text_columns_for_curl_and_watch() {
    let s = server(64, "");
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200);
    wait_state(&s, c.stream(), "keepalive");
    let (head, body) = fetch(s.addr(), "format=text");
    assert!(head.contains("Content-Type: text/plain"), "{head}");
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("worker 0 of 1 (pid "), "{text}");
    assert!(lines[0].contains("this worker's connections only"));
    assert!(
        lines[1].starts_with("worker_connections 64 used "),
        "{text}"
    );
    let cols: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "n", "fd", "peer", "state", "read", "handler", "timer", "reuse", "reqs", "age", "idle",
            "in", "out"
        ]
    );
    let me = c.stream().local_addr().unwrap().to_string();
    let row = lines.iter().find(|l| l.contains(&me)).expect("its row");
    let f: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(f[2], me);
    assert_eq!(f[3], "keepalive");
    assert_eq!(f[4], "ngx_http_keepalive_handler");
    assert_eq!(f[5], "read");
    assert!(f[6].ends_with("ms"));
    assert_eq!(f[7], "0");
    // idle, in, out (TCP_INFO): the request's bytes in.
    assert!(f[10].ends_with("ms"), "{row}");
    assert_eq!(f[11], get("/r").len().to_string(), "{row}");
    // The header row lines up with the data.
    assert_eq!(
        lines[2].find("state"),
        row.find("keepalive"),
        "{}\n{row}",
        lines[2]
    );
    assert!(lines.last().unwrap().starts_with("shown 2 of 2"), "{text}");
}

#[test]
fn http11_answer_is_chunked_and_keeps_alive() {
    let s = server(64, "");
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(b"GET /cs?format=json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.ends_with(b"\r\n0\r\n\r\n") {
        let n = c.read(&mut tmp).unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&tmp[..n]);
    }
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..at]).into_owned();
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(head.contains("Connection: keep-alive"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    let body = dechunk(&buf[at + 4..]);
    validate(&parse(&body));
    // HEAD: the head only, and the connection stays.
    c.write_all(b"HEAD /cs?format=json HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head2 = Vec::new();
    while !head2.ends_with(b"\r\n\r\n") {
        let n = c.read(&mut tmp[..1]).unwrap();
        assert!(n > 0);
        head2.push(tmp[0]);
    }
    assert!(head2.starts_with(b"HTTP/1.1 200"));
    // Not GET or HEAD: 405.
    let r = Conn::connect(s.addr())
        .request("POST /cs HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    r.assert_status(405);
    // No format: the page.
    let r = Conn::connect(s.addr()).request(get("/cs"));
    r.assert_status(200);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("<html"));
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap(), 16).unwrap();
        b = &b[eol + 2..];
        if n == 0 {
            assert_eq!(b, b"\r\n");
            return out;
        }
        assert!(n <= 16 * 1024, "a chunk of {n} bytes");
        out.extend_from_slice(&b[..n]);
        assert_eq!(&b[n..n + 2], b"\r\n");
        b = &b[n + 2..];
    }
}

#[test]
fn worker_parameter_says_who_answered() {
    let s = server(64, "");
    let v = json(&s, "worker=0");
    assert_eq!(v.get("worker").get("asked").u(), 0);
    assert_eq!(v.get("worker").get("answered"), &J::Bool(true));
    let v = json(&s, "worker=3");
    assert_eq!(v.get("worker").get("index").u(), 0);
    assert_eq!(v.get("worker").get("asked").u(), 3);
    assert_eq!(v.get("worker").get("answered"), &J::Bool(false));
    let v = json(&s, "");
    assert!(!v.get("worker").has("asked"));
}

#[test]
fn another_worker_is_reached_by_trying_new_connections() {
    // Two workers sharing the listener: an answer from the wrong worker
    // closes its connection, and a new connection may land on the other,
    // as the page's retries do.
    let text = format!(
        "worker_processes 2;\n{}",
        common::conf(64, &server_block(locations()))
    );
    let s = Server::start_conf(Prefix::new("cstatus-workers"), &text);
    for k in [1u64, 0] {
        let mut tries = 0;
        let v = loop {
            tries += 1;
            // HTTP/1.1: the answer keeps the connection unless it came
            // from the wrong worker.
            let mut c = TcpStream::connect(s.addr()).unwrap();
            c.set_read_timeout(Some(WAIT)).unwrap();
            write!(
                c,
                "GET /cs?format=json&worker={k} HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            .unwrap();
            let mut all = Vec::new();
            let mut buf = [0u8; 16384];
            while !all.ends_with(b"\r\n0\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&all));
                all.extend_from_slice(&buf[..n]);
            }
            let at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let head = String::from_utf8_lossy(&all[..at]).into_owned();
            let body = dechunk(&all[at + 4..]);
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            let v = parse(&body);
            validate(&v);
            let w = v.get("worker");
            assert_eq!(w.get("workers").u(), 2);
            assert_eq!(w.get("asked").u(), k);
            if w.get("answered") == &J::Bool(true) {
                assert!(head.contains("Connection: keep-alive"), "{head}");
                break v;
            }
            assert!(head.contains("Connection: close"), "{head}");
            assert!(
                tries < 200,
                "worker {k} never answered in {tries} connections"
            );
        };
        assert_eq!(v.get("worker").get("index").u(), k);
    }
}

// ---- many idle connections ----

/// The file limit allows 20,000 descriptors per process; the test and the
/// server each hold one per connection, so both fit 9,000 (and the
/// server's listener, log and epoll).
const MANY: usize = 9_000;

#[test]
fn thousands_of_idle_connections_listed_in_bounded_memory_and_time() {
    let s = server(
        MANY * 2,
        "    keepalive_timeout 300s; client_header_timeout 300s;",
    );
    let mut conns = Vec::with_capacity(MANY);
    for _ in 0..MANY {
        conns.push(TcpStream::connect(s.addr()).unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = json(&s, "limit=0");
        if v.get("total").u() > MANY as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all accepted: {:?}",
            v.get("cycle")
        );
    }
    let rss_before = common::rss_kib(s.pid());
    let hwm_before = hwm_kib(s.pid());
    let start = Instant::now();
    let (_, body) = fetch(s.addr(), "format=json");
    let took = start.elapsed();
    let rss_after = common::rss_kib(s.pid());
    let hwm_after = hwm_kib(s.pid());
    let v = parse(&body);
    validate(&v);
    assert_eq!(v.get("shown").u(), MANY as u64 + 1);
    assert!(body.len() > MANY * 300, "{} bytes", body.len());
    assert!(
        took < Duration::from_secs(10),
        "{MANY} connections took {took:?}"
    );
    // Streaming: the answer (~3 MB here) is never held whole.
    // (worker_connections is twice MANY so no drain starts.)
    assert!(
        rss_after < rss_before + 2048,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert!(
        hwm_after < hwm_before + 2048,
        "peak RSS grew from {hwm_before} KiB to {hwm_after} KiB"
    );
    eprintln!(
        "{MANY} connections: {} bytes in {took:?}, RSS {rss_before} -> {rss_after} KiB, \
         peak {hwm_before} -> {hwm_after} KiB",
        body.len()
    );
}

/// The process's peak resident set (VmHWM), KiB.
fn hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

// ---- holdfast-load --watch ----

/// `holdfast-load --watch URL`: the server's state counts beside the load
/// tool's own progress line, once a second.
#[test]
fn load_tool_watch_prints_the_server_states() {
    let s = server(64, "    location / { return 200 \"hello\"; }");
    let url = format!("http://{}/", s.addr());
    let watch = format!("http://{}/cs", s.addr());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast-load"))
        .args(["hold", "-c", "10", "-d", "3500ms", "--watch", &watch, &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with('[')).collect();
    assert!(lines.len() >= 3, "{err}");
    for l in &lines {
        assert!(
            l.contains(" open, ") && l.contains("  || server w0: "),
            "{l}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("keepalive 10") && l.contains("reusable 10 drains 0")),
        "{err}"
    );
    // A URL that is not the inspector says so on the line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast-load"))
        .args([
            "keepalive",
            "-c",
            "1",
            "-d",
            "1500ms",
            "--watch",
            &format!("http://{}/nothing", s.addr()),
            &url,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("|| server: "), "{err}");
    // Only loopback targets.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_holdfast-load"))
        .args(["keepalive", "--watch", "http://192.0.2.1/cs", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
