//! The resolver core driven by hand: queries out, answers (built with
//! hickory-proto) in, the clock moved explicitly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

fn core(servers: usize, ipv6: bool) -> ResolverCore {
    ResolverCore::new(
        Settings {
            servers,
            valid_ms: None,
            ipv4: true,
            ipv6,
        },
        42,
    )
}

/// What the resolver sent: (server, id, name, type).
fn sent(out: &[Transmit]) -> Vec<(usize, u16, String, RecordType)> {
    out.iter()
        .map(|t| {
            let m = Message::from_vec(&t.data).unwrap();
            let q = &m.queries[0];
            assert!(m.metadata.recursion_desired);
            (t.server, m.metadata.id, q.name().to_ascii(), q.query_type())
        })
        .collect()
}

/// The answer to `query` with `records` and `rcode`.
fn reply(query: &[u8], rcode: ResponseCode, records: Vec<(&str, u32, RData)>) -> Vec<u8> {
    let q = Message::from_vec(query).unwrap();
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.metadata.response_code = rcode;
    m.add_query(q.queries[0].clone());
    for (name, ttl, data) in records {
        m.add_answer(Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            ttl,
            data,
        ));
    }
    m.to_vec().unwrap()
}

fn a(ip: [u8; 4]) -> RData {
    RData::A(A(Ipv4Addr::from(ip)))
}

fn ok(ips: &[[u8; 4]]) -> Outcome {
    Ok(ips.iter().map(|i| IpAddr::V4(Ipv4Addr::from(*i))).collect())
}

#[test]
fn a_query_answered_then_cached_until_ttl() {
    let mut r = core(1, false);
    let mut out = Vec::new();
    let Resolve::Wait(w) = r.resolve("Host.Example.", 0, 30_000, 7, &mut out) else {
        panic!("not waiting");
    };
    let q = sent(&out);
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].2.as_str(), q[0].3), ("host.example.", RecordType::A));
    let mut done = Vec::new();
    let answer = reply(
        &out[0].data,
        ResponseCode::NoError,
        vec![("host.example.", 2, a([10, 0, 0, 1]))],
    );
    r.process_response(&answer, false, 5, &mut Vec::new(), &mut done);
    assert_eq!(
        done,
        vec![Completion {
            waiter: w,
            user: 7,
            outcome: ok(&[[10, 0, 0, 1]])
        }]
    );
    assert!(r.is_idle());
    // Cached (case-insensitively) until the TTL ends.
    let mut out = Vec::new();
    assert_eq!(
        r.resolve("HOST.example", 2005, 1000, 8, &mut out),
        Resolve::Done(ok(&[[10, 0, 0, 1]]))
    );
    assert!(out.is_empty());
    assert!(matches!(
        r.resolve("host.example", 2006, 1000, 8, &mut out),
        Resolve::Wait(_)
    ));
    assert_eq!(out.len(), 1);
}

#[test]
fn valid_overrides_the_ttl() {
    let mut r = ResolverCore::new(
        Settings {
            servers: 1,
            valid_ms: Some(10_000),
            ipv4: true,
            ipv6: false,
        },
        1,
    );
    let mut out = Vec::new();
    r.resolve("v.example", 0, 1000, 1, &mut out);
    let answer = reply(
        &out[0].data,
        ResponseCode::NoError,
        vec![("v.example.", 1, a([10, 0, 0, 2]))],
    );
    r.process_response(&answer, false, 0, &mut Vec::new(), &mut Vec::new());
    assert_eq!(
        r.resolve("v.example", 9_000, 1000, 1, &mut Vec::new()),
        Resolve::Done(ok(&[[10, 0, 0, 2]]))
    );
}

#[test]
fn a_and_aaaa_are_both_awaited() {
    let mut r = core(1, true);
    let mut out = Vec::new();
    r.resolve("six.example", 0, 30_000, 1, &mut out);
    let q = sent(&out);
    assert_eq!(q.len(), 2);
    assert_eq!(q[0].1, q[1].1, "one ident for both queries");
    assert_eq!((q[0].3, q[1].3), (RecordType::A, RecordType::AAAA));
    let mut done = Vec::new();
    let v6 = RData::AAAA(AAAA(Ipv6Addr::LOCALHOST));
    r.process_response(
        &reply(
            &out[1].data,
            ResponseCode::NoError,
            vec![("six.example.", 60, v6)],
        ),
        false,
        1,
        &mut Vec::new(),
        &mut done,
    );
    assert!(done.is_empty(), "the A answer is still awaited");
    r.process_response(
        &reply(&out[0].data, ResponseCode::NoError, vec![]),
        false,
        2,
        &mut Vec::new(),
        &mut done,
    );
    assert_eq!(done[0].outcome, Ok(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]));
}

#[test]
fn errors_finish_every_waiter_and_are_not_cached() {
    let mut r = core(1, false);
    let mut out = Vec::new();
    r.resolve("nx.example", 0, 30_000, 1, &mut out);
    r.resolve("nx.example", 0, 30_000, 2, &mut out);
    assert_eq!(out.len(), 1, "the second waiter joins the first query");
    let mut done = Vec::new();
    r.process_response(
        &reply(&out[0].data, ResponseCode::NXDomain, vec![]),
        false,
        1,
        &mut Vec::new(),
        &mut done,
    );
    let users: Vec<_> = done.iter().map(|c| (c.user, c.outcome.clone())).collect();
    let nx = Err(ResolveError::Dns(NXDOMAIN));
    assert_eq!(users, vec![(1, nx.clone()), (2, nx)]);
    assert_eq!(
        done[0].outcome.clone().unwrap_err().to_string(),
        "3: Host not found"
    );
    let mut out = Vec::new();
    assert!(matches!(
        r.resolve("nx.example", 2, 1000, 3, &mut out),
        Resolve::Wait(_)
    ));
    // No answer at all is NXDOMAIN too; SERVFAIL is kept as it came.
    let mut done = Vec::new();
    r.process_response(
        &reply(&out[0].data, ResponseCode::ServFail, vec![]),
        false,
        3,
        &mut Vec::new(),
        &mut done,
    );
    assert_eq!(done[0].outcome, Err(ResolveError::Dns(SERVFAIL)));
}

#[test]
fn cname_only_answer_is_followed() {
    let mut r = core(1, false);
    let mut out = Vec::new();
    r.resolve("www.example", 0, 30_000, 1, &mut out);
    let cname = RData::CNAME(CNAME(Name::from_ascii("Real.Example.").unwrap()));
    let mut next = Vec::new();
    let mut done = Vec::new();
    r.process_response(
        &reply(
            &out[0].data,
            ResponseCode::NoError,
            vec![("www.example.", 60, cname)],
        ),
        false,
        1,
        &mut next,
        &mut done,
    );
    assert!(done.is_empty());
    assert_eq!(sent(&next)[0].2, "real.example.");
    r.process_response(
        &reply(
            &next[0].data,
            ResponseCode::NoError,
            vec![("real.example.", 60, a([10, 0, 0, 3]))],
        ),
        false,
        2,
        &mut Vec::new(),
        &mut done,
    );
    assert_eq!(done[0].outcome, ok(&[[10, 0, 0, 3]]));
    // Both names are cached now.
    assert_eq!(
        r.resolve("www.example", 3, 1000, 1, &mut Vec::new()),
        Resolve::Done(ok(&[[10, 0, 0, 3]]))
    );
}

#[test]
fn cname_and_a_in_one_answer_take_the_addresses() {
    let mut r = core(1, false);
    let mut out = Vec::new();
    r.resolve("c.example", 0, 30_000, 1, &mut out);
    let cname = RData::CNAME(CNAME(Name::from_ascii("alias.example.").unwrap()));
    let mut done = Vec::new();
    r.process_response(
        &reply(
            &out[0].data,
            ResponseCode::NoError,
            vec![
                ("c.example.", 60, cname),
                ("alias.example.", 60, a([10, 0, 0, 4])),
            ],
        ),
        false,
        1,
        &mut Vec::new(),
        &mut done,
    );
    assert_eq!(done[0].outcome, ok(&[[10, 0, 0, 4]]));
}

#[test]
fn wrong_ident_and_unknown_names_are_ignored() {
    let mut r = core(1, false);
    let mut out = Vec::new();
    r.resolve("id.example", 0, 30_000, 1, &mut out);
    let mut bad = reply(
        &out[0].data,
        ResponseCode::NoError,
        vec![("id.example.", 60, a([1, 1, 1, 1]))],
    );
    bad[1] ^= 1;
    let mut done = Vec::new();
    r.process_response(&bad, false, 1, &mut Vec::new(), &mut done);
    r.process_response(&[0, 1, 2], false, 1, &mut Vec::new(), &mut done);
    let mut other = Vec::new();
    let mut r2 = core(1, false);
    r2.resolve("other.example", 0, 1, 1, &mut other);
    r.process_response(
        &reply(&other[0].data, ResponseCode::NoError, vec![]),
        false,
        1,
        &mut Vec::new(),
        &mut done,
    );
    assert!(done.is_empty());
    assert!(!r.is_idle());
}

#[test]
fn silent_server_resend_goes_to_the_next_one_and_waiters_time_out() {
    let mut r = core(2, false);
    let mut out = Vec::new();
    r.resolve("slow.example", 0, 7_000, 1, &mut out);
    assert_eq!(out[0].server, 0);
    assert_eq!(r.next_deadline(), Some(RESEND_TIMEOUT_MS));
    let mut out = Vec::new();
    let mut done = Vec::new();
    r.expire_timers(4_999, &mut out, &mut done);
    assert!(out.is_empty() && done.is_empty());
    r.expire_timers(5_000, &mut out, &mut done);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].server, 1, "resent to the next name server");
    assert_eq!(r.next_deadline(), Some(7_000));
    r.expire_timers(7_000, &mut Vec::new(), &mut done);
    assert_eq!(done[0].outcome, Err(ResolveError::TimedOut));
    assert_eq!(
        done[0].outcome.clone().unwrap_err().to_string(),
        "110: Operation timed out"
    );
    // Nobody waits: the next resend drops the query.
    let mut out = Vec::new();
    r.expire_timers(10_000, &mut out, &mut done);
    assert!(out.is_empty());
    assert!(r.is_idle());
    // New names go round the servers.
    let mut out = Vec::new();
    r.resolve("b.example", 10_000, 1000, 1, &mut out);
    assert_eq!(out[0].server, 1);
}

#[test]
fn cancelled_waiter_gets_nothing() {
    let mut r = core(1, false);
    let mut out = Vec::new();
    let Resolve::Wait(w) = r.resolve("gone.example", 0, 1000, 1, &mut out) else {
        panic!()
    };
    r.cancel(w, 1);
    let mut done = Vec::new();
    r.process_response(
        &reply(
            &out[0].data,
            ResponseCode::NoError,
            vec![("gone.example.", 60, a([1, 2, 3, 4]))],
        ),
        false,
        2,
        &mut Vec::new(),
        &mut done,
    );
    assert!(done.is_empty());
    // The answer is cached all the same.
    assert!(matches!(
        r.resolve("gone.example", 3, 1000, 1, &mut Vec::new()),
        Resolve::Done(Ok(_))
    ));
}

#[test]
fn names_that_are_not_dns_names_are_host_not_found() {
    let mut r = core(1, false);
    for bad in ["", "a..b", ".x", &"a".repeat(64)] {
        let mut out = Vec::new();
        assert_eq!(
            r.resolve(bad, 0, 1000, 1, &mut out),
            Resolve::Done(Err(ResolveError::Dns(NXDOMAIN))),
            "{bad:?}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn several_addresses_rotate_when_cached() {
    let mut r = core(1, false);
    let mut out = Vec::new();
    r.resolve("many.example", 0, 1000, 1, &mut out);
    let mut done = Vec::new();
    r.process_response(
        &reply(
            &out[0].data,
            ResponseCode::NoError,
            vec![
                ("many.example.", 60, a([10, 0, 0, 1])),
                ("many.example.", 60, a([10, 0, 0, 2])),
            ],
        ),
        false,
        1,
        &mut Vec::new(),
        &mut done,
    );
    assert_eq!(done[0].outcome, ok(&[[10, 0, 0, 1], [10, 0, 0, 2]]));
    let mut firsts = std::collections::HashSet::new();
    for t in 0..32 {
        let Resolve::Done(Ok(addrs)) = r.resolve("many.example", 2 + t, 1000, 1, &mut Vec::new())
        else {
            panic!()
        };
        assert_eq!(addrs.len(), 2);
        firsts.insert(addrs[0]);
    }
    assert_eq!(firsts.len(), 2);
}

/// A truncated answer to `query` (TC bit, no records).
fn truncated(query: &[u8]) -> Vec<u8> {
    let q = Message::from_vec(query).unwrap();
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.truncation = true;
    m.add_query(q.queries[0].clone());
    m.to_vec().unwrap()
}

#[test]
fn truncated_udp_answer_sends_the_query_over_tcp_and_resends_over_tcp() {
    let mut r = core(2, false);
    let mut out = Vec::new();
    let Resolve::Wait(w) = r.resolve("big.example", 0, 30_000, 7, &mut out) else {
        panic!("not waiting");
    };
    assert!(!out[0].tcp, "first over UDP");
    let query = out[0].data.clone();
    let mut tcp_out = Vec::new();
    let mut done = Vec::new();
    r.process_response(&truncated(&query), false, 10, &mut tcp_out, &mut done);
    assert!(done.is_empty());
    assert_eq!(
        tcp_out,
        [Transmit {
            server: 0,
            data: query.clone(),
            tcp: true
        }],
        "the same query, same server, over TCP"
    );
    // A truncated answer over TCP is invalid: nothing changes.
    r.process_response(&truncated(&query), true, 20, &mut tcp_out, &mut done);
    assert_eq!(tcp_out.len(), 1);
    // The resend, resend_timeout after the TCP send, goes over TCP to the
    // next name server.
    let mut resent = Vec::new();
    r.expire_timers(10 + RESEND_TIMEOUT_MS - 1, &mut resent, &mut done);
    assert!(resent.is_empty());
    r.expire_timers(10 + RESEND_TIMEOUT_MS, &mut resent, &mut done);
    assert_eq!(resent.len(), 1);
    assert!(resent[0].tcp && resent[0].server == 1);
    let answer = reply(
        &query,
        ResponseCode::NoError,
        vec![("big.example.", 60, a([10, 0, 0, 9]))],
    );
    r.process_response(&answer, true, 6_000, &mut Vec::new(), &mut done);
    assert_eq!(
        done,
        [Completion {
            waiter: w,
            user: 7,
            outcome: ok(&[[10, 0, 0, 9]])
        }]
    );
}

#[test]
fn truncated_answer_nobody_waits_for_drops_the_query() {
    let mut r = core(1, false);
    let mut out = Vec::new();
    let Resolve::Wait(w) = r.resolve("big.example", 0, 30_000, 7, &mut out) else {
        panic!("not waiting");
    };
    r.cancel(w, 1);
    let mut tcp_out = Vec::new();
    r.process_response(
        &truncated(&out[0].data),
        false,
        2,
        &mut tcp_out,
        &mut Vec::new(),
    );
    assert!(tcp_out.is_empty());
    assert!(r.is_idle());
}
