//! The resolver's reading of answers: nginx's
//! ngx_resolver_process_response() and ngx_resolver_process_a(), with the
//! DNS message decoded by hickory-proto. A child of `core::resolver`, whose
//! state it updates.

use hickory_proto::op::{Header, Message, MessageType};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{
    Completion, EXPIRE_MS, FORMERR, Locked, MAX_RECURSION, NXDOMAIN, Node, NodeState, REFUSED,
    RESEND_TIMEOUT_MS, ResolveError, ResolverCore, Transmit, WaiterId,
};

impl ResolverCore {
    /// Mirrors ngx_resolver_process_response(): one answer from a name
    /// server, a datagram or (`tcp`) a message read from a TCP connection
    /// without its length. Answers finish waiters (into `done`); a CNAME
    /// or a truncated answer may send new queries (into `out`). Anything
    /// wrong is logged and dropped, as nginx does: the query stays out and
    /// is resent.
    pub fn process_response(
        &mut self,
        buf: &[u8],
        tcp: bool,
        now: u64,
        out: &mut Vec<Transmit>,
        done: &mut Vec<Completion>,
    ) {
        let Ok(header) = Header::read(&mut BinDecoder::new(buf)) else {
            log::error!("short DNS response");
            return;
        };
        let m = header.metadata;
        let c = header.counts;
        let flags = flags_of(&header);
        log::debug!(
            "resolver DNS response {} fl:{flags:04X} {}/{}/{}/{}",
            m.id,
            c.queries,
            c.answers,
            c.authorities,
            c.additionals
        );
        // A response to a standard query: QR set, opcode 0, no AD/CD bits;
        // over TCP, not truncated.
        let trunc = flags & 0x0200 != 0;
        if flags & 0xf870 != 0x8000 || (trunc && tcp) {
            let proto = if tcp { "TCP" } else { "UDP" };
            log::error!("invalid {proto} DNS response {} fl:{flags:04X}", m.id);
            return;
        }
        let code = (flags & 0xf) as u8;
        if code == FORMERR {
            let name = self.nodes.iter().find_map(|(name, n)| match &n.state {
                NodeState::Querying(q) if q.id == m.id => Some(name.clone()),
                _ => None,
            });
            match name {
                Some(name) => log::error!(
                    "DNS error (1: Format error), query id:{}, name:\"{name}\"",
                    m.id
                ),
                None => log::error!("DNS error (1: Format error), query id:{}", m.id),
            }
            return;
        }
        if code > REFUSED {
            log::error!(
                "DNS error ({code}: {}), query id:{}",
                ResolveError::Dns(code).strerror(),
                m.id
            );
            return;
        }
        if c.queries != 1 {
            log::error!("invalid number of questions in DNS response");
            return;
        }
        let msg = match Message::from_vec(buf) {
            Ok(msg) => msg,
            Err(e) => {
                log::error!("invalid DNS response ({e})");
                return;
            }
        };
        let Some(q) = msg.queries.first() else {
            log::error!("short DNS response");
            return;
        };
        log::debug!(
            "resolver DNS response qt:{} cl:{}",
            u16::from(q.query_type()),
            u16::from(q.query_class())
        );
        if q.query_class() != DNSClass::IN {
            log::error!(
                "unknown query class {} in DNS response",
                u16::from(q.query_class())
            );
            return;
        }
        match q.query_type() {
            RecordType::A | RecordType::AAAA => {
                self.process_a(&msg, code, now, out, done);
            }
            t => log::error!("unknown query type {} in DNS response", u16::from(t)),
        }
    }

    /// Mirrors ngx_resolver_process_a(): an A or AAAA answer for a node
    /// in flight.
    fn process_a(
        &mut self,
        msg: &Message,
        mut code: u8,
        now: u64,
        out: &mut Vec<Transmit>,
        done: &mut Vec<Completion>,
    ) {
        let q = &msg.queries[0];
        let qtype = q.query_type();
        let name = lower_name(q.name());
        log::debug!("resolver qs:{name}");
        let valid_override = self.settings.valid_ms;
        let Some(Node {
            state: NodeState::Querying(rn),
            ..
        }) = self.nodes.get_mut(&name)
        else {
            log::error!("unexpected DNS response for {name}");
            return;
        };
        let (asked, over_tcp) = match qtype {
            RecordType::AAAA => (rn.query_aaaa.is_some() && rn.v6.is_none(), rn.tcp6),
            _ => (rn.query_a.is_some() && rn.v4.is_none(), rn.tcp),
        };
        if !asked {
            log::error!("unexpected DNS response for {name}");
            return;
        }
        let trunc = msg.metadata.truncation;
        if trunc && over_tcp {
            // A late truncated datagram: the query already went over TCP.
            return;
        }
        if msg.metadata.id != rn.id {
            log::error!(
                "wrong ident {} in DNS response for {name}, expect {}",
                msg.metadata.id,
                rn.id
            );
            return;
        }
        if trunc {
            // The same query again, over TCP to the same name server, and
            // resent (over TCP) in resend_timeout as a new query.
            if rn.waiting.is_empty() {
                self.nodes.remove(&name);
                return;
            }
            let data = match qtype {
                RecordType::AAAA => {
                    rn.tcp6 = true;
                    rn.query_aaaa.clone()
                }
                _ => {
                    rn.tcp = true;
                    rn.query_a.clone()
                }
            };
            if let Some(data) = data {
                out.push(Transmit {
                    server: rn.server,
                    data,
                    tcp: true,
                });
            }
            rn.resend_at = now + RESEND_TIMEOUT_MS;
            self.resend.push_back((rn.resend_at, name));
            return;
        }
        if code == 0 && rn.code != 0 {
            code = rn.code;
        }
        let answers = &msg.answers;
        if code == 0 && answers.is_empty() {
            let other_has = match qtype {
                RecordType::AAAA => {
                    rn.v6 = Some(Vec::new());
                    rn.v4.as_ref().map(|v| !v.is_empty())
                }
                _ => {
                    rn.v4 = Some(Vec::new());
                    rn.v6.as_ref().map(|v| !v.is_empty())
                }
            };
            match other_has {
                None => return,
                Some(true) => {
                    self.export_answer(&name, now, done);
                    return;
                }
                Some(false) => code = NXDOMAIN,
            }
        }
        if code != 0 {
            let other_pending = match qtype {
                RecordType::AAAA => {
                    rn.v6 = Some(Vec::new());
                    rn.v4.is_none()
                }
                _ => {
                    rn.v4 = Some(Vec::new());
                    rn.v6.is_none()
                }
            };
            if other_pending {
                rn.code = code;
                return;
            }
            let waiting = std::mem::take(&mut rn.waiting);
            self.nodes.remove(&name);
            self.finish(waiting, &Err(ResolveError::Dns(code)), done);
            return;
        }
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut cname = None;
        for rr in answers {
            if rr.dns_class != DNSClass::IN {
                log::error!(
                    "unexpected RR class {} in DNS response",
                    u16::from(rr.dns_class)
                );
                return;
            }
            rn.ttl = rn.ttl.min(ttl_of(rr));
            match (&rr.data, qtype) {
                (RData::A(a), RecordType::A) => v4.push(a.0),
                (RData::A(_), _) => {
                    log::error!("unexpected A record in DNS response");
                    return;
                }
                (RData::AAAA(a), RecordType::AAAA) => v6.push(a.0),
                (RData::AAAA(_), _) => {
                    log::error!("unexpected AAAA record in DNS response");
                    return;
                }
                (RData::CNAME(c), _) => cname = Some(lower_name(&c.0)),
                _ if rr.record_type() == RecordType::DNAME => {}
                _ => log::error!(
                    "unexpected RR type {} in DNS response",
                    u16::from(rr.record_type())
                ),
            }
        }
        let naddrs = v4.len() + v6.len();
        log::debug!(
            "resolver naddrs:{naddrs} cname:{} ttl:{}",
            cname.as_deref().unwrap_or("-"),
            rn.ttl
        );
        match qtype {
            RecordType::AAAA => rn.v6 = Some(v6),
            _ => rn.v4 = Some(v4),
        }
        let (Some(a), Some(aaaa)) = (&rn.v4, &rn.v6) else {
            // The other answer is still awaited.
            return;
        };
        if !a.is_empty() || !aaaa.is_empty() {
            self.export_answer(&name, now, done);
            return;
        }
        let Some(target) = cname else {
            log::error!("no A or CNAME types in DNS response");
            return;
        };
        // A CNAME only: cached as such, the waiters follow it.
        log::debug!("resolver cname:\"{target}\"");
        let valid_ms = now + valid_override.unwrap_or(u64::from(rn.ttl) * 1000);
        let waiting = std::mem::take(&mut rn.waiting);
        self.nodes.insert(
            name.clone(),
            Node {
                state: NodeState::Cname {
                    target: target.clone(),
                    valid_ms,
                },
                expire_ms: now + EXPIRE_MS,
            },
        );
        self.expire.push_back((now + EXPIRE_MS, name));
        for id in waiting {
            self.follow(id, &target, now, out, done);
        }
    }

    /// The waiter `id` goes on with the CNAME target (ngx_resolve_name_locked
    /// on `rn->u.cname`).
    fn follow(
        &mut self,
        id: WaiterId,
        target: &str,
        now: u64,
        out: &mut Vec<Transmit>,
        done: &mut Vec<Completion>,
    ) {
        let Some(w) = self.waiters.get_mut(&id) else {
            return;
        };
        let mut recursion = w.recursion;
        let step = if recursion >= MAX_RECURSION {
            Locked::Done(Err(ResolveError::Dns(NXDOMAIN)))
        } else {
            recursion += 1;
            self.resolve_name_locked(target.to_string(), now, &mut recursion, out)
        };
        match step {
            Locked::Done(outcome) => self.finish(vec![id], &outcome, done),
            Locked::Waiting(node) => {
                if let Some(w) = self.waiters.get_mut(&id) {
                    w.recursion = recursion;
                    w.node = node.clone();
                }
                self.attach(id, &node);
            }
        }
    }

    /// The export step of ngx_resolver_process_a(): both answers are in
    /// and there are addresses: the node becomes a cached answer and its
    /// waiters get the addresses.
    fn export_answer(&mut self, name: &str, now: u64, done: &mut Vec<Completion>) {
        let Some(node) = self.nodes.get_mut(name) else {
            return;
        };
        let NodeState::Querying(rn) = &mut node.state else {
            return;
        };
        let v4 = rn.v4.take().unwrap_or_default();
        let v6 = rn.v6.take().unwrap_or_default();
        let waiting = std::mem::take(&mut rn.waiting);
        let valid = self.settings.valid_ms.unwrap_or(u64::from(rn.ttl) * 1000);
        let addrs = self.export(&v4, &v6, false);
        self.nodes.insert(
            name.to_string(),
            Node {
                state: NodeState::Addrs {
                    v4,
                    v6,
                    valid_ms: now + valid,
                },
                expire_ms: now + EXPIRE_MS,
            },
        );
        self.expire.push_back((now + EXPIRE_MS, name.to_string()));
        self.finish(waiting, &Ok(addrs), done);
    }
}

/// The header's 16 flag bits as nginx prints them (`fl:8180`).
fn flags_of(h: &Header) -> u16 {
    let m = &h.metadata;
    let bit = |b: bool, at: u16| if b { 1 << at } else { 0 };
    bit(m.message_type == MessageType::Response, 15)
        | (u16::from(u8::from(m.op_code)) & 0xf) << 11
        | bit(m.authoritative, 10)
        | bit(m.truncation, 9)
        | bit(m.recursion_desired, 8)
        | bit(m.recursion_available, 7)
        | bit(m.authentic_data, 5)
        | bit(m.checking_disabled, 4)
        | u16::from(m.response_code.low())
}

/// A DNS name as the tree keys it: lower case, no trailing dot.
fn lower_name(n: &Name) -> String {
    let s = n.to_lowercase().to_ascii();
    match s.strip_suffix('.') {
        Some(t) => t.to_string(),
        None => s,
    }
}

/// A record's TTL as nginx reads it: a negative one is 0.
fn ttl_of(rr: &Record) -> u32 {
    if rr.ttl > i32::MAX as u32 { 0 } else { rr.ttl }
}
