//! `listen`: addresses, options, and the checks across servers.
//!
//! Mirrors ngx_http_core_listen(), the listen-address part of ngx_parse_url(),
//! and the duplicate checks of ngx_http_add_listen() / ngx_http_add_addresses().

use super::parser::Directive;
use super::values::{parse_number, parse_size, parse_time_s};
use super::{ConfError, LISTEN_BACKLOG, Listen, ListenAddr, SoKeepalive};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A `listen` with what the cross-server checks need.
#[derive(Debug)]
pub(super) struct ListenAt {
    /// The parsed address and flags.
    pub(super) listen: Listen,
    /// Socket options given (nginx's `lsopt.set`): only one server may set
    /// them for an address.
    opts_set: bool,
    pub(super) file: Rc<Path>,
    pub(super) line: usize,
}

impl ListenAt {
    fn error(&self, msg: String) -> ConfError {
        ConfError {
            msg,
            file: Some(self.file.to_path_buf()),
            line: self.line,
        }
    }
}

/// The options of a `listen` other than the address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Opts {
    backlog: i32,
    reuseport: bool,
    deferred: bool,
    ssl: bool,
    bind: bool,
    ipv6only: bool,
    rcvbuf: Option<usize>,
    sndbuf: Option<usize>,
    so_keepalive: SoKeepalive,
    fastopen: Option<u32>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            backlog: LISTEN_BACKLOG,
            reuseport: false,
            deferred: false,
            ssl: false,
            bind: false,
            ipv6only: true,
            rcvbuf: None,
            sndbuf: None,
            so_keepalive: SoKeepalive::Unset,
            fastopen: None,
        }
    }
}

/// Mirrors ngx_http_core_listen(): `listen ADDRESS [default_server] [bind]
/// [backlog=N] [rcvbuf=SIZE] [sndbuf=SIZE] [reuseport] [deferred]
/// [ipv6only=on|off] [so_keepalive=on|off|IDLE:INTVL:CNT] [fastopen=N]`;
/// a host name may give several addresses. Every option but
/// `default_server` implies `bind`, as in nginx. `ssl`, `http2`, `quic`
/// and `proxy_protocol` are refused by name (holdfast has none of them yet).
pub(super) fn listen(d: &Directive) -> Result<Vec<ListenAt>, ConfError> {
    let spec = &d.args[0];
    let addrs = listen_addrs(spec)
        .map_err(|e| d.error(format!("{e} in \"{spec}\" of the \"listen\" directive")))?;
    let mut default_server = false;
    let mut o = Opts::default();
    let mut opts_set = false;
    for opt in &d.args[1..] {
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (opt.as_str(), None),
        };
        match (name, value) {
            ("default_server" | "default", None) => {
                default_server = true;
                continue;
            }
            ("bind", None) => {}
            ("reuseport", None) => o.reuseport = true,
            ("deferred", None) => o.deferred = true,
            ("backlog", Some(v)) => {
                o.backlog = parse_number(v)
                    .ok()
                    .filter(|n| *n > 0)
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| d.error(format!("invalid backlog \"{v}\"")))?;
            }
            ("rcvbuf", Some(v)) => {
                o.rcvbuf =
                    Some(parse_size(v).map_err(|_| d.error(format!("invalid rcvbuf \"{v}\"")))?);
            }
            ("sndbuf", Some(v)) => {
                o.sndbuf =
                    Some(parse_size(v).map_err(|_| d.error(format!("invalid sndbuf \"{v}\"")))?);
            }
            ("fastopen", Some(v)) => {
                o.fastopen = Some(
                    parse_number(v)
                        .ok()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| d.error(format!("invalid fastopen \"{opt}\"")))?,
                );
            }
            ("ipv6only", Some(v)) => {
                o.ipv6only = match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err(d.error(format!("invalid ipv6only flags \"{v}\""))),
                };
                if !addrs
                    .iter()
                    .all(|a| matches!(a, ListenAddr::Inet(SocketAddr::V6(_))))
                {
                    return Err(d.error(format!(
                        "ipv6only is not supported on addr \"{spec}\", ignored"
                    )));
                }
            }
            ("so_keepalive", Some(v)) => o.so_keepalive = so_keepalive(d, v)?,
            ("ssl", None) => {
                // Not a socket option: it neither implies `bind` nor counts
                // as options set twice (nginx's lsopt.set).
                o.ssl = true;
                continue;
            }
            ("http2" | "quic" | "proxy_protocol", None) => {
                return Err(d.error(format!(
                    "the \"{name}\" parameter of \"listen\" is not supported by holdfast yet"
                )));
            }
            _ => return Err(d.error(format!("invalid parameter \"{opt}\""))),
        }
        o.bind = true;
        opts_set = true;
    }
    Ok(addrs
        .into_iter()
        .map(|addr| ListenAt {
            listen: Listen {
                // A unix socket is never served by a wildcard.
                bind: o.bind || matches!(addr, ListenAddr::Unix(_)),
                addr,
                default_server,
                backlog: o.backlog,
                reuseport: o.reuseport,
                deferred: o.deferred,
                ssl: o.ssl,
                ipv6only: o.ipv6only,
                rcvbuf: o.rcvbuf,
                sndbuf: o.sndbuf,
                so_keepalive: o.so_keepalive,
                fastopen: o.fastopen,
            },
            opts_set,
            file: d.file.clone(),
            line: d.line,
        })
        .collect())
}

/// `so_keepalive=on|off|[IDLE]:[INTVL]:[CNT]` (times in nginx's time
/// syntax, seconds; at least one of the three).
fn so_keepalive(d: &Directive, v: &str) -> Result<SoKeepalive, ConfError> {
    match v {
        "on" => {
            return Ok(SoKeepalive::On {
                idle: 0,
                intvl: 0,
                cnt: 0,
            });
        }
        "off" => return Ok(SoKeepalive::Off),
        _ => {}
    }
    let invalid = || d.error(format!("invalid so_keepalive value: \"{v}\""));
    let mut parts = v.splitn(3, ':');
    let time = |p: Option<&str>| -> Result<u32, ConfError> {
        match p {
            None | Some("") => Ok(0),
            Some(t) => parse_time_s(t)
                .ok()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(invalid),
        }
    };
    let idle = time(parts.next())?;
    let intvl = time(parts.next())?;
    let cnt = match parts.next() {
        None | Some("") => 0,
        Some(c) => parse_number(c)
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(invalid)?,
    };
    if idle == 0 && intvl == 0 && cnt == 0 {
        return Err(invalid());
    }
    Ok(SoKeepalive::On { idle, intvl, cnt })
}

/// Mirrors ngx_parse_url() for listen addresses: `PORT`, `HOST[:PORT]`,
/// `*:PORT`, `[IPV6][:PORT]`; the port defaults to 80. Port 0 is allowed (the
/// kernel picks one). `localhost` is 127.0.0.1 without asking the resolver.
fn listen_addrs(s: &str) -> Result<Vec<ListenAddr>, &'static str> {
    if let Some(path) = s.strip_prefix("unix:") {
        // ngx_parse_unix_domain_url(): a path, at most sun_path long.
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        if path.len() >= 108 {
            return Err("too long path in the unix domain socket");
        }
        return Ok(vec![ListenAddr::Unix(PathBuf::from(path))]);
    }
    Ok(inet_addrs(s)?.into_iter().map(ListenAddr::Inet).collect())
}

/// The IP forms of [`listen_addrs`].
fn inet_addrs(s: &str) -> Result<Vec<SocketAddr>, &'static str> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("invalid IPv6 address")?;
        let ip: Ipv6Addr = host.parse().map_err(|_| "invalid IPv6 address")?;
        let port = match after {
            "" => 80,
            _ => port(after.strip_prefix(':').ok_or("invalid host")?)?,
        };
        return Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]);
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((host, p)) => (host, port(p)?),
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => ("*", port(s)?),
        None => (s, 80),
    };
    let ip = match host {
        "" => return Err("no host"),
        "*" => Ipv4Addr::UNSPECIFIED,
        "localhost" => Ipv4Addr::LOCALHOST,
        h if h.contains(':') => return Err("invalid host"),
        h => match h.parse::<Ipv4Addr>() {
            Ok(ip) => ip,
            Err(_) => {
                let mut found: Vec<SocketAddr> = Vec::new();
                for a in (h, port).to_socket_addrs().map_err(|_| "host not found")? {
                    if !found.contains(&a) {
                        found.push(a);
                    }
                }
                if found.is_empty() {
                    return Err("host not found");
                }
                return Ok(found);
            }
        },
    };
    Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)])
}

fn port(p: &str) -> Result<u16, &'static str> {
    parse_number(p)
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or("invalid port")
}

/// Mirrors ngx_http_add_listen() / ngx_http_add_addresses(): one address may
/// be listed once per server, carry options in one server only, and be
/// `default_server` in one server only. The options are then copied to every
/// server's entry for that address.
pub(super) fn check_listens(servers: &mut [Vec<ListenAt>]) -> Result<(), ConfError> {
    struct Seen {
        server: usize,
        default: bool,
        opts: Option<Listen>,
    }
    let mut seen: HashMap<ListenAddr, Seen> = HashMap::new();
    for (i, listens) in servers.iter().enumerate() {
        for l in listens {
            let addr = &l.listen.addr;
            let opts = l.opts_set.then(|| l.listen.clone());
            let Some(e) = seen.get_mut(addr) else {
                seen.insert(
                    addr.clone(),
                    Seen {
                        server: i,
                        default: l.listen.default_server,
                        opts,
                    },
                );
                continue;
            };
            if e.server == i {
                return Err(l.error(format!("a duplicate listen {addr}")));
            }
            if opts.is_some() {
                if e.opts.is_some() {
                    return Err(l.error(format!("duplicate listen options for {addr}")));
                }
                e.opts = opts;
            }
            if l.listen.default_server {
                if e.default {
                    return Err(l.error(format!("a duplicate default server for {addr}")));
                }
                e.default = true;
            }
            e.server = i;
        }
    }
    for l in servers.iter_mut().flatten() {
        if let Some(o) = seen.get(&l.listen.addr).and_then(|e| e.opts.as_ref()) {
            let default_server = l.listen.default_server;
            l.listen = Listen {
                default_server,
                ..o.clone()
            };
        }
    }
    Ok(())
}

impl ListenAt {
    /// nginx's implicit `listen *:80` for a server without `listen`.
    pub(super) fn default_for(server: &Directive) -> ListenAt {
        ListenAt {
            listen: Listen {
                addr: ListenAddr::Inet(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80)),
                default_server: false,
                backlog: LISTEN_BACKLOG,
                reuseport: false,
                deferred: false,
                bind: false,
                ipv6only: true,
                rcvbuf: None,
                sndbuf: None,
                so_keepalive: SoKeepalive::Unset,
                fastopen: None,
                ssl: false,
            },
            opts_set: false,
            file: server.file.clone(),
            line: server.line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(s: &str) -> Result<Vec<String>, &'static str> {
        listen_addrs(s).map(|v| v.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn unix_addresses() {
        assert_eq!(
            addrs("unix:/run/h.sock"),
            Ok(vec!["unix:/run/h.sock".into()])
        );
        assert_eq!(addrs("unix:"), Err("no path in the unix domain socket"));
        let long = format!("unix:/{}", "x".repeat(120));
        assert_eq!(addrs(&long), Err("too long path in the unix domain socket"));
    }

    #[test]
    fn address_forms() {
        assert_eq!(addrs("8080"), Ok(vec!["0.0.0.0:8080".into()]));
        assert_eq!(addrs("*:8080"), Ok(vec!["0.0.0.0:8080".into()]));
        assert_eq!(addrs("*"), Ok(vec!["0.0.0.0:80".into()]));
        assert_eq!(addrs("10.1.2.3"), Ok(vec!["10.1.2.3:80".into()]));
        assert_eq!(addrs("10.1.2.3:0"), Ok(vec!["10.1.2.3:0".into()]));
        assert_eq!(addrs("localhost"), Ok(vec!["127.0.0.1:80".into()]));
        assert_eq!(addrs("[::1]:443"), Ok(vec!["[::1]:443".into()]));
        assert_eq!(addrs("[::]"), Ok(vec!["[::]:80".into()]));
        assert_eq!(addrs("[::1]:65535"), Ok(vec!["[::1]:65535".into()]));
        assert_eq!(addrs("[::1]:65536"), Err("invalid port"));
        assert_eq!(addrs("1.2.3.4:-1"), Err("invalid port"));
        assert_eq!(addrs("[::1]8080"), Err("invalid host"));
        assert_eq!(addrs("fe80::1"), Err("invalid host"));
        assert_eq!(addrs(""), Err("no host"));
    }
}
