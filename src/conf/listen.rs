//! `listen`: addresses, options, and the checks across servers.
//!
//! Mirrors ngx_http_core_listen(), the listen-address part of ngx_parse_url(),
//! and the duplicate checks of ngx_http_add_listen() / ngx_http_add_addresses().

use super::parser::Directive;
use super::values::parse_number;
use super::{ConfError, LISTEN_BACKLOG, Listen};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::rc::Rc;

/// A `listen` with what the cross-server checks need.
#[derive(Debug)]
pub(super) struct ListenAt {
    /// The parsed address and flags.
    pub(super) listen: Listen,
    /// `backlog=` or `reuseport` given (nginx's `lsopt.set`).
    opts_set: bool,
    file: Rc<Path>,
    line: usize,
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

/// Mirrors ngx_http_core_listen(): `listen ADDRESS [default_server]
/// [backlog=N] [reuseport] [deferred]`; a host name may give several addresses.
pub(super) fn listen(d: &Directive) -> Result<Vec<ListenAt>, ConfError> {
    let spec = &d.args[0];
    let addrs = listen_addrs(spec)
        .map_err(|e| d.error(format!("{e} in \"{spec}\" of the \"listen\" directive")))?;
    let mut default_server = false;
    let mut backlog = LISTEN_BACKLOG;
    let mut reuseport = false;
    let mut deferred = false;
    let mut opts_set = false;
    for opt in &d.args[1..] {
        match opt.as_str() {
            "default_server" | "default" => default_server = true,
            "reuseport" => {
                reuseport = true;
                opts_set = true;
            }
            "deferred" => {
                deferred = true;
                opts_set = true;
            }
            _ => {
                let Some(v) = opt.strip_prefix("backlog=") else {
                    return Err(d.error(format!("invalid parameter \"{opt}\"")));
                };
                backlog = parse_number(v)
                    .ok()
                    .filter(|n| *n > 0)
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| d.error(format!("invalid backlog \"{v}\"")))?;
                opts_set = true;
            }
        }
    }
    Ok(addrs
        .into_iter()
        .map(|addr| ListenAt {
            listen: Listen {
                addr,
                default_server,
                backlog,
                reuseport,
                deferred,
            },
            opts_set,
            file: d.file.clone(),
            line: d.line,
        })
        .collect())
}

/// Mirrors ngx_parse_url() for listen addresses: `PORT`, `HOST[:PORT]`,
/// `*:PORT`, `[IPV6][:PORT]`; the port defaults to 80. Port 0 is allowed (the
/// kernel picks one). `localhost` is 127.0.0.1 without asking the resolver.
fn listen_addrs(s: &str) -> Result<Vec<SocketAddr>, &'static str> {
    if s.starts_with("unix:") {
        return Err("unix domain sockets are not supported");
    }
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
/// be listed once per server, carry options (`backlog=`, `reuseport`) in one
/// server only, and be `default_server` in one server only. The options are
/// then copied to every server's entry for that address.
pub(super) fn check_listens(servers: &mut [Vec<ListenAt>]) -> Result<(), ConfError> {
    struct Seen {
        server: usize,
        default: bool,
        opts: Option<(i32, bool, bool)>,
    }
    let mut seen: HashMap<SocketAddr, Seen> = HashMap::new();
    for (i, listens) in servers.iter().enumerate() {
        for l in listens {
            let addr = l.listen.addr;
            let opts =
                l.opts_set
                    .then_some((l.listen.backlog, l.listen.reuseport, l.listen.deferred));
            let Some(e) = seen.get_mut(&addr) else {
                seen.insert(
                    addr,
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
        if let Some((backlog, reuseport, deferred)) = seen.get(&l.listen.addr).and_then(|e| e.opts)
        {
            l.listen.backlog = backlog;
            l.listen.reuseport = reuseport;
            l.listen.deferred = deferred;
        }
    }
    Ok(())
}

impl ListenAt {
    /// nginx's implicit `listen *:80` for a server without `listen`.
    pub(super) fn default_for(server: &Directive) -> ListenAt {
        ListenAt {
            listen: Listen {
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80),
                default_server: false,
                backlog: LISTEN_BACKLOG,
                reuseport: false,
                deferred: false,
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
