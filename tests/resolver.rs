//! `resolver` and `proxy_pass` with variables over real sockets (issue
//! 11): a small DNS server on 127.0.0.1 started by the tests (answering
//! A and CNAME records, NXDOMAIN, SERVFAIL, nothing, or late; messages
//! built and read with hickory-proto), a real backend, and nginx's
//! behaviour and log lines: names resolved per request and cached, errors
//! and timeouts as 502, several name servers, `upstream` blocks and
//! addresses without the resolver, the URI part sent as it is.

#[path = "common/backend.rs"]
#[allow(dead_code)]
mod backend;
mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend::{Backend, Reply};
use common::Server;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

const WITHIN: Duration = Duration::from_secs(5);

/// What the DNS server does for a name.
#[derive(Clone, Debug)]
enum Zone {
    /// A records (for A queries; AAAA queries get an empty answer).
    A(Vec<Ipv4Addr>),
    /// A CNAME only.
    Cname(&'static str),
    /// This rcode, no records.
    Rcode(ResponseCode),
    /// No answer at all.
    Silent,
    /// A records, sent after a pause.
    Late(Vec<Ipv4Addr>, Duration),
    /// Over UDP, an empty answer with the TC bit; over TCP, A records.
    Truncated(Vec<Ipv4Addr>),
}

/// A DNS server on 127.0.0.1:0, over UDP and TCP on the same port,
/// answering from a fixed zone (names not in it: NXDOMAIN), recording the
/// questions it got (those over TCP in `tcp_queries` too).
struct Dns {
    addr: SocketAddr,
    queries: Arc<Mutex<Vec<(String, RecordType)>>>,
    tcp_queries: Arc<Mutex<Vec<(String, RecordType)>>>,
    stop: Arc<AtomicBool>,
    /// TCP connections accepted.
    tcp_accepts: Arc<AtomicUsize>,
    /// Stops the TCP listener alone.
    stop_tcp: Arc<AtomicBool>,
    tcp_thread: Option<std::thread::JoinHandle<()>>,
}

/// What the server does with one question.
enum Response {
    Now(Vec<u8>),
    Later(Vec<u8>, Duration),
    Nothing,
}

/// The answer to `q` from `zone`; `tcp`: it came over TCP.
fn respond(zone: &HashMap<String, Zone>, q: &Message, tcp: bool) -> (String, RecordType, Response) {
    let question = q.queries[0].clone();
    let name = question.name().to_lowercase().to_ascii();
    let qtype = question.query_type();
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_query(question.clone());
    let owner = question.name().clone();
    let add_a = |m: &mut Message, ips: &[Ipv4Addr]| {
        if qtype == RecordType::A {
            for ip in ips {
                m.add_answer(Record::from_rdata(owner.clone(), 60, RData::A(A(*ip))));
            }
        }
    };
    let mut later = None;
    match zone.get(&name).cloned() {
        None => m.metadata.response_code = ResponseCode::NXDomain,
        Some(Zone::A(ips)) => add_a(&mut m, &ips),
        Some(Zone::Cname(target)) => {
            let t = Name::from_ascii(format!("{target}.")).unwrap();
            m.add_answer(Record::from_rdata(
                owner.clone(),
                60,
                RData::CNAME(CNAME(t)),
            ));
        }
        Some(Zone::Rcode(rc)) => m.metadata.response_code = rc,
        Some(Zone::Silent) => return (name, qtype, Response::Nothing),
        Some(Zone::Late(ips, pause)) => {
            add_a(&mut m, &ips);
            later = Some(pause);
        }
        Some(Zone::Truncated(_)) if !tcp => m.metadata.truncation = true,
        Some(Zone::Truncated(ips)) => add_a(&mut m, &ips),
    }
    let bytes = m.to_vec().unwrap();
    let r = match later {
        Some(pause) => Response::Later(bytes, pause),
        None => Response::Now(bytes),
    };
    (name, qtype, r)
}

/// Serves one TCP connection: questions and answers after their 2-byte
/// length, until the client closes it.
fn serve_tcp(
    mut s: TcpStream,
    zone: &HashMap<String, Zone>,
    queries: &Mutex<Vec<(String, RecordType)>>,
    tcp_queries: &Mutex<Vec<(String, RecordType)>>,
) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut buf).is_err() {
            return;
        }
        let Ok(q) = Message::from_vec(&buf) else {
            return;
        };
        let (name, qtype, r) = respond(zone, &q, true);
        queries.lock().unwrap().push((name.clone(), qtype));
        tcp_queries.lock().unwrap().push((name, qtype));
        let bytes = match r {
            Response::Now(b) | Response::Later(b, _) => b,
            Response::Nothing => continue,
        };
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        if s.write_all(&framed).is_err() {
            return;
        }
    }
}

impl Dns {
    fn start(zone: &[(&str, Zone)]) -> Dns {
        let zone: Arc<HashMap<String, Zone>> = Arc::new(
            zone.iter()
                .map(|(n, z)| (format!("{n}."), z.clone()))
                .collect(),
        );
        // A UDP port whose TCP twin is free too.
        let (sock, listener) = (0..50)
            .find_map(|_| {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind dns");
                let l = TcpListener::bind(sock.local_addr().unwrap()).ok()?;
                Some((sock, l))
            })
            .expect("a port free for UDP and TCP");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut dns = Dns {
            addr: sock.local_addr().unwrap(),
            queries: Arc::default(),
            tcp_queries: Arc::default(),
            stop: Arc::default(),
            tcp_accepts: Arc::default(),
            stop_tcp: Arc::default(),
            tcp_thread: None,
        };
        let (queries, tcp_queries, stop, stop_tcp) = (
            dns.queries.clone(),
            dns.tcp_queries.clone(),
            dns.stop.clone(),
            dns.stop_tcp.clone(),
        );
        let tcp_zone = zone.clone();
        let accepts = dns.tcp_accepts.clone();
        dns.tcp_thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && !stop_tcp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        accepts.fetch_add(1, Ordering::Relaxed);
                        s.set_nonblocking(false).unwrap();
                        let (z, q, t) = (tcp_zone.clone(), queries.clone(), tcp_queries.clone());
                        std::thread::spawn(move || serve_tcp(s, &z, &q, &t));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
        let (queries, stop) = (dns.queries.clone(), dns.stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let (name, qtype, r) = respond(&zone, &q, false);
                queries.lock().unwrap().push((name, qtype));
                match r {
                    Response::Now(bytes) => {
                        let _ = sock.send_to(&bytes, peer);
                    }
                    Response::Later(bytes, pause) => {
                        let s = sock.try_clone().unwrap();
                        std::thread::spawn(move || {
                            std::thread::sleep(pause);
                            let _ = s.send_to(&bytes, peer);
                        });
                    }
                    Response::Nothing => {}
                }
            }
        });
        dns
    }

    /// `resolver` parameter: `127.0.0.1:PORT`.
    fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Closes the TCP listener (connections to the port are refused).
    fn stop_tcp(&mut self) {
        self.stop_tcp.store(true, Ordering::Relaxed);
        if let Some(t) = self.tcp_thread.take() {
            t.join().unwrap();
        }
    }

    /// How many questions of this name and type came over TCP.
    fn asked_tcp(&self, name: &str, t: RecordType) -> usize {
        let fq = format!("{name}.");
        self.tcp_queries
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, q)| *n == fq && *q == t)
            .count()
    }

    /// How many questions of this name and type came (UDP and TCP).
    fn asked(&self, name: &str, t: RecordType) -> usize {
        let fq = format!("{name}.");
        self.queries
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, q)| *n == fq && *q == t)
            .count()
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn ok(body: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn localhost() -> Vec<Ipv4Addr> {
    vec![Ipv4Addr::LOCALHOST]
}

/// The standard zone.
fn zone() -> Vec<(&'static str, Zone)> {
    vec![
        ("back.test", Zone::A(localhost())),
        ("alias.test", Zone::Cname("back.test")),
        ("fail.test", Zone::Rcode(ResponseCode::ServFail)),
        ("silent.test", Zone::Silent),
        (
            "late.test",
            Zone::Late(localhost(), Duration::from_millis(300)),
        ),
        // The first address refuses (nothing listens on 127.0.0.2).
        (
            "many.test",
            Zone::A(vec![Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::LOCALHOST]),
        ),
    ]
}

/// `GET /PATH?h=HOST`.
fn get_h(path: &str, host: &str) -> String {
    format!("GET {path}?h={host} HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n")
}

/// A server proxying `location /` to `http://$arg_h:BACKEND_PORT` with
/// `resolver_line` (and `extra` in the server block).
fn proxy(resolver_line: &str, b: &Backend, extra: &str) -> Server {
    Server::with_server(&format!(
        "    {resolver_line}\n\
         \x20   location / {{ proxy_pass http://$arg_h:{}; add_header X-Up $upstream_addr; }}\n{extra}",
        b.addr().port()
    ))
}

#[test]
fn variable_host_is_resolved_and_proxied() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("hello"));
    let s = proxy(&format!("resolver {};", dns.addr()), &b, "");
    let r = s.request(&get_h("/a/b", "back.test"));
    r.assert_status(200).assert_body("hello");
    let reqs = b.requests();
    // No URI part: the client's URI as it came; Host is $proxy_host.
    assert!(
        reqs[0].starts_with("GET /a/b?h=back.test HTTP/1.0\r\n"),
        "{}",
        reqs[0]
    );
    assert!(
        reqs[0].contains(&format!("\r\nHost: back.test:{}\r\n", b.addr().port())),
        "{}",
        reqs[0]
    );
    // ipv6=on by nginx's default: AAAA asked too.
    assert_eq!(dns.asked("back.test", RecordType::A), 1);
    assert_eq!(dns.asked("back.test", RecordType::AAAA), 1);
}

#[test]
fn answers_are_cached_within_valid() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("x"));
    let s = proxy(
        &format!("resolver {} valid=30s ipv6=off;", dns.addr()),
        &b,
        "",
    );
    for _ in 0..2 {
        s.request(&get_h("/", "BACK.test")).assert_status(200);
    }
    assert_eq!(
        dns.asked("back.test", RecordType::A),
        1,
        "one query for two requests"
    );
    assert_eq!(dns.asked("back.test", RecordType::AAAA), 0, "ipv6=off");
    assert_eq!(b.accepts(), 2);
}

#[test]
fn nxdomain_and_servfail_are_502_with_nginx_s_lines() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("x"));
    let s = proxy(&format!("resolver {};", dns.addr()), &b, "");
    s.request(&get_h("/", "nx.test")).assert_status(502);
    s.assert_log("nx.test could not be resolved (3: Host not found)", WITHIN);
    s.request(&get_h("/", "fail.test")).assert_status(502);
    s.assert_log(
        "fail.test could not be resolved (2: Server failure)",
        WITHIN,
    );
    // Errors are not cached: the next request asks again.
    s.request(&get_h("/", "nx.test")).assert_status(502);
    assert_eq!(dns.asked("nx.test", RecordType::A), 2);
    assert_eq!(b.accepts(), 0);
}

#[test]
fn silent_dns_is_502_after_resolver_timeout() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("x"));
    let s = proxy(
        &format!("resolver {}; resolver_timeout 1s;", dns.addr()),
        &b,
        "",
    );
    let t = Instant::now();
    let mut c = s.connect();
    c.send(get_h("/", "silent.test"));
    c.read_response_within(WITHIN, false).assert_status(502);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    s.assert_log(
        "silent.test could not be resolved (110: Operation timed out)",
        WITHIN,
    );
}

#[test]
fn late_answer_is_waited_for() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("late"));
    let s = proxy(&format!("resolver {};", dns.addr()), &b, "");
    s.request(&get_h("/", "late.test"))
        .assert_status(200)
        .assert_body("late");
}

#[test]
fn first_name_server_silent_the_resend_goes_to_the_second() {
    let mute = Dns::start(&[("back.test", Zone::Silent)]);
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("second"));
    let s = proxy(
        &format!(
            "resolver {} {} ipv6=off; resolver_timeout 8s;",
            mute.addr(),
            dns.addr()
        ),
        &b,
        "",
    );
    let mut c = s.connect();
    c.send(get_h("/", "back.test"));
    // nginx resends after 5 s (resend_timeout), to the next name server.
    c.read_response_within(Duration::from_secs(9), false)
        .assert_status(200)
        .assert_body("second");
    assert_eq!(mute.asked("back.test", RecordType::A), 1);
    assert_eq!(dns.asked("back.test", RecordType::A), 1);
}

#[test]
fn truncated_udp_answer_is_asked_again_over_tcp() {
    let mut z = zone();
    z.push(("big.test", Zone::Truncated(localhost())));
    let dns = Dns::start(&z);
    let b = Backend::start(ok("over tcp"));
    let s = proxy(&format!("resolver {} ipv6=off;", dns.addr()), &b, "");
    s.request(&get_h("/", "big.test"))
        .assert_status(200)
        .assert_body("over tcp");
    assert_eq!(dns.asked_tcp("big.test", RecordType::A), 1, "one TCP query");
    assert_eq!(dns.asked("big.test", RecordType::A), 2, "UDP, then TCP");
}

#[test]
fn both_truncated_answers_share_one_tcp_connection() {
    let mut z = zone();
    z.push(("big.test", Zone::Truncated(localhost())));
    let dns = Dns::start(&z);
    let b = Backend::start(ok("a and aaaa"));
    let s = proxy(&format!("resolver {};", dns.addr()), &b, "");
    s.request(&get_h("/", "big.test"))
        .assert_status(200)
        .assert_body("a and aaaa");
    assert_eq!(dns.asked_tcp("big.test", RecordType::A), 1);
    assert_eq!(dns.asked_tcp("big.test", RecordType::AAAA), 1);
    assert_eq!(dns.tcp_accepts.load(Ordering::Relaxed), 1, "one connection");
}

#[test]
fn truncated_answer_without_tcp_server_times_out_with_nginx_s_line() {
    // A name server that truncates and has no TCP listener: the TCP
    // connection is refused; the request fails at resolver_timeout.
    let mut z = zone();
    z.push(("big.test", Zone::Truncated(localhost())));
    let mut dns = Dns::start(&z);
    let addr = dns.addr();
    dns.stop_tcp();
    let b = Backend::start(ok("x"));
    let s = proxy(
        &format!("resolver {addr} ipv6=off; resolver_timeout 1s;"),
        &b,
        "",
    );
    s.request(&get_h("/", "big.test")).assert_status(502);
    s.assert_log(
        &format!("failed (111: Connection refused) while resolving, resolver: {addr}"),
        WITHIN,
    );
    s.assert_log(
        "big.test could not be resolved (110: Operation timed out)",
        WITHIN,
    );
}

#[test]
fn cname_is_followed() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("via cname"));
    let s = proxy(&format!("resolver {} ipv6=off;", dns.addr()), &b, "");
    s.request(&get_h("/", "alias.test"))
        .assert_status(200)
        .assert_body("via cname");
    assert_eq!(dns.asked("alias.test", RecordType::A), 1);
    assert_eq!(dns.asked("back.test", RecordType::A), 1);
}

#[test]
fn several_addresses_are_tried_in_turn() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("second address"));
    let s = proxy(&format!("resolver {} ipv6=off;", dns.addr()), &b, "");
    let r = s.request(&get_h("/", "many.test"));
    r.assert_status(200).assert_body("second address");
    let p = b.addr().port();
    assert_eq!(
        r.header("X-Up"),
        Some(format!("127.0.0.2:{p}, 127.0.0.1:{p}").as_str())
    );
}

#[test]
fn variable_naming_an_upstream_block_uses_it() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("block"));
    let s = Server::start(&format!(
        "upstream pool1 {{ server {}; }}\n{}",
        b.addr(),
        common::server_block(&format!(
            "resolver {};\n location / {{ proxy_pass http://$arg_h; }}",
            dns.addr()
        ))
    ));
    s.request(&get_h("/", "pool1"))
        .assert_status(200)
        .assert_body("block");
    assert!(dns.queries.lock().unwrap().is_empty(), "no DNS query");
    assert!(
        b.requests()[0].contains("\r\nHost: pool1\r\n"),
        "{}",
        b.requests()[0]
    );
}

#[test]
fn no_resolver_is_502_but_an_address_needs_none() {
    let b = Backend::start(ok("by address"));
    let s = proxy("", &b, "");
    s.request(&get_h("/", "back.test")).assert_status(502);
    s.assert_log("no resolver defined to resolve back.test", WITHIN);
    s.request(&get_h("/", "127.0.0.1"))
        .assert_status(200)
        .assert_body("by address");
}

#[test]
fn uri_part_of_an_evaluated_url_is_sent_as_it_is() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("x"));
    let s = Server::with_server(&format!(
        "    resolver {};\n\
         \x20   location /loc/ {{ proxy_pass http://$arg_h:{}/fixed/$arg_p; }}",
        dns.addr(),
        b.addr().port()
    ));
    s.request(&get_h("/loc/x/y", "back.test&p=z"))
        .assert_status(200);
    let reqs = b.requests();
    assert!(
        reqs[0].starts_with("GET /fixed/z HTTP/1.0\r\n"),
        "{}",
        reqs[0]
    );
}

#[test]
fn client_leaving_while_resolving_leaves_the_server_well() {
    let dns = Dns::start(&zone());
    let b = Backend::start(ok("after"));
    let s = proxy(
        &format!("resolver {}; resolver_timeout 2s;", dns.addr()),
        &b,
        "",
    );
    let mut c = s.connect();
    c.send(get_h("/", "silent.test"));
    drop(c);
    s.assert_log("client prematurely closed connection", WITHIN);
    s.request(&get_h("/", "back.test"))
        .assert_status(200)
        .assert_body("after");
}

#[test]
fn resolver_directive_errors_name_the_line() {
    let p = common::Prefix::new("resolver-conf");
    let text = common::conf(
        512,
        "server {\n listen 127.0.0.1:0;\n resolver 127.0.0.1 ipv4=off ipv6=off;\n}",
    );
    let line = text.lines().position(|l| l.contains("ipv4=off")).unwrap() + 1;
    let file = p.write_conf(&text);
    let out = common::test_config(&p, &file, WITHIN);
    assert_ne!(out.code, Some(0));
    let want = format!(
        "\"ipv4\" and \"ipv6\" cannot both be \"off\" in {}:{line}",
        file.display()
    );
    assert!(out.stderr.contains(&want), "{}", out.stderr);
}
