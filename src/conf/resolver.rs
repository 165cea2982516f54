//! ngx_http_core_module's `resolver ADDRESS ... [valid=TIME] [ipv4=on|off]
//! [ipv6=on|off]` and `resolver_timeout TIME` (http, server, location),
//! the parameters read as ngx_resolver_create() reads them.
//!
//! Each `resolver` line is one resolver (its own name servers, cache and
//! queries, as in nginx); a level without one inherits its parent's. The
//! resolver is used at run time by `proxy_pass` with variables; holdfast
//! has no `server ... resolve` in `upstream` blocks, so `resolver` inside
//! `upstream { }` stays refused there.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use super::ConfError;
use super::command::{ANY_HTTP, Command, MANY, bad, cmd, msec_slot};
use super::parser::Directive;
use super::values::parse_time_s;

/// nginx's default `resolver_timeout` (30 s).
pub const RESOLVER_TIMEOUT_MS: u64 = 30_000;
/// The port of a name server written without one.
pub const DNS_PORT: u16 = 53;
/// Name servers one `resolver` may have (each is a UDP socket and a slot of
/// the event loop's token range for resolvers).
pub const MAX_SERVERS: usize = 63;

/// The module's directives (ngx_http_core_module's, kept here).
pub(super) static COMMANDS: &[Command] = &[
    cmd("resolver", ANY_HTTP, false, 1, MANY),
    cmd("resolver_timeout", ANY_HTTP, false, 1, 1),
];

/// One `resolver` line (the parameters of ngx_resolver_t).
#[derive(Debug, PartialEq, Eq)]
pub struct ResolverConf {
    /// The name servers, in order (a name given gives each of its
    /// addresses, resolved when the configuration is read).
    pub addrs: Vec<SocketAddr>,
    /// `valid=`: how long an answer is kept, whatever its TTL.
    pub valid_ms: Option<u64>,
    /// `ipv4=on|off` (default on): look up A records.
    pub ipv4: bool,
    /// `ipv6=on|off` (default on): look up AAAA records.
    pub ipv6: bool,
}

/// One level's `resolver` and `resolver_timeout` as written.
#[derive(Debug, Default)]
pub(super) struct RawResolver {
    resolver: Option<Rc<ResolverConf>>,
    timeout_ms: Option<u64>,
}

/// The directives at any http level; `Ok(false)` when `d` is not one.
pub(super) fn directive(d: &Directive, raw: &mut RawResolver) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "resolver" => {
            // Mirrors ngx_http_core_resolver().
            if raw.resolver.is_some() {
                return Err(bad(d, "is duplicate"));
            }
            raw.resolver = Some(Rc::new(resolver_create(d)?));
        }
        "resolver_timeout" => msec_slot(&mut raw.timeout_ms, d)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Mirrors the merge of ngx_http_core_merge_loc_conf(): the level's own
/// resolver and timeout, else the parent's.
pub(super) fn merge(
    raw: RawResolver,
    parent: (&Option<Rc<ResolverConf>>, u64),
) -> (Option<Rc<ResolverConf>>, u64) {
    (
        raw.resolver.or_else(|| parent.0.clone()),
        raw.timeout_ms.unwrap_or(parent.1),
    )
}

/// Mirrors the parameter loop of ngx_resolver_create().
fn resolver_create(d: &Directive) -> Result<ResolverConf, ConfError> {
    let mut r = ResolverConf {
        addrs: Vec::new(),
        valid_ms: None,
        ipv4: true,
        ipv6: true,
    };
    let invalid = |v: &str| d.error(format!("invalid parameter: {v}"));
    for v in &d.args {
        if let Some(t) = v.strip_prefix("valid=") {
            r.valid_ms = Some(parse_time_s(t).map_err(|_| invalid(v))? * 1000);
        } else if let Some(f) = v.strip_prefix("ipv4=") {
            r.ipv4 = on_off(f).ok_or_else(|| invalid(v))?;
        } else if let Some(f) = v.strip_prefix("ipv6=") {
            r.ipv6 = on_off(f).ok_or_else(|| invalid(v))?;
        } else if v.starts_with("status_zone=") {
            return Err(d.error(format!(
                "invalid parameter: {v}: holdfast has no shared-memory status zones"
            )));
        } else {
            r.addrs.extend(server_addrs(v).map_err(|e| d.error(e))?);
        }
    }
    if !r.ipv4 && !r.ipv6 {
        return Err(d.error("\"ipv4\" and \"ipv6\" cannot both be \"off\""));
    }
    if r.addrs.is_empty() {
        return Err(d.error("no name servers defined"));
    }
    if r.addrs.len() > MAX_SERVERS {
        return Err(d.error(format!(
            "too many name servers in \"resolver\" (holdfast takes {MAX_SERVERS} at most)"
        )));
    }
    Ok(r)
}

/// nginx's exact `on` / `off` (no other case, as ngx_resolver_create()).
fn on_off(v: &str) -> Option<bool> {
    match v {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

/// Mirrors ngx_parse_url() with `default_port = 53`: `ADDR`, `ADDR:PORT`,
/// `[IPV6]`, `[IPV6]:PORT`, or a name and its addresses.
fn server_addrs(v: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = match v.strip_prefix('[') {
        Some(rest) => {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("invalid host in resolver \"{v}\""))?;
            match after {
                "" => (h, None),
                p => (
                    h,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| format!("invalid host in resolver \"{v}\""))?,
                    ),
                ),
            }
        }
        None => match v.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (v, None),
        },
    };
    let port = match port {
        None => DNS_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid port in resolver \"{v}\""))?,
    };
    if host.is_empty() {
        return Err(format!("no host in resolver \"{v}\""));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map(|a| a.collect())
        .unwrap_or_default();
    if addrs.is_empty() {
        return Err(format!("host not found in resolver \"{v}\""));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use crate::conf::testutil::{assert_err, server};

    #[test]
    fn resolver_parameters_and_inheritance() {
        let s = server(
            "resolver 127.0.0.1 [::1]:5353 127.0.0.2:54 valid=5s ipv6=off; \
             resolver_timeout 4s; location /own/ { resolver 10.0.0.1; } location / { }",
        );
        let l = s.loc_conf(b"/x");
        let r = l.resolver.clone().unwrap();
        let addrs: Vec<String> = r.addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:53", "[::1]:5353", "127.0.0.2:54"]);
        assert_eq!((r.valid_ms, r.ipv4, r.ipv6), (Some(5000), true, false));
        assert_eq!(l.resolver_timeout_ms, 4000);
        let own = s.loc_conf(b"/own/a");
        assert_eq!(
            own.resolver.as_ref().unwrap().addrs[0].to_string(),
            "10.0.0.1:53"
        );
        assert_eq!(own.resolver_timeout_ms, 4000);
        // One resolver, shared by the levels that inherit it.
        assert!(std::rc::Rc::ptr_eq(&r, s.conf.resolver.as_ref().unwrap()));
        let none = server("location / { }");
        assert!(none.loc_conf(b"/").resolver.is_none());
        assert_eq!(none.loc_conf(b"/").resolver_timeout_ms, 30_000);
    }

    #[test]
    fn resolver_errors_name_the_line() {
        let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
        assert_err(&wrap("resolver valid=5s;"), "no name servers defined", 3);
        assert_err(
            &wrap("resolver 127.0.0.1 valid=x;"),
            "invalid parameter: valid=x",
            3,
        );
        assert_err(
            &wrap("resolver 127.0.0.1 ipv6=maybe;"),
            "invalid parameter: ipv6=maybe",
            3,
        );
        assert_err(
            &wrap("resolver 127.0.0.1 ipv4=off ipv6=off;"),
            "\"ipv4\" and \"ipv6\" cannot both be \"off\"",
            3,
        );
        assert_err(
            &wrap("resolver 127.0.0.1:0;"),
            "invalid port in resolver \"127.0.0.1:0\"",
            3,
        );
        assert_err(
            &wrap("resolver [::1;"),
            "invalid host in resolver \"[::1\"",
            3,
        );
        assert_err(
            &wrap("resolver a.invalid;"),
            "host not found in resolver \"a.invalid\"",
            3,
        );
        assert_err(
            &wrap("resolver 127.0.0.1 status_zone=z;"),
            "invalid parameter: status_zone=z: holdfast has no shared-memory status zones",
            3,
        );
        assert_err(
            &wrap("resolver 127.0.0.1; resolver 127.0.0.2;"),
            "\"resolver\" directive is duplicate",
            3,
        );
        assert_err(
            &wrap("resolver_timeout 1s; resolver_timeout 2s;"),
            "\"resolver_timeout\" directive is duplicate",
            3,
        );
    }
}
