//! ngx_http_upstream_module's `upstream NAME { … }` block, configuration side:
//! `server ADDR [weight=N] [max_conns=N] [max_fails=N] [fail_timeout=T]
//! [backup] [down]` and ngx_http_upstream_keepalive_module's `keepalive`,
//! `keepalive_requests`, `keepalive_time` and `keepalive_timeout`.
//!
//! The balancer is always round robin (`http::upstream_round_robin`); the
//! other balancers, `zone` and `resolver` are refused by name. Server names
//! are resolved once, when the configuration is read, as nginx does without
//! `resolve`; a name with several addresses gives one server per address.
//!
//! The keep-alive directives follow nginx 1.29.4, the version holdfast
//! reports: no `keepalive` means no cache, and `keepalive N` needs N ≥ 1.
//! (nginx 1.29.7 turned the cache on by default, 32 connections `local`, and
//! added `keepalive 0` and the `local` parameter.)

use std::borrow::Borrow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::ConfError;
use super::command::{self, Command, HTTP, block, cmd, msec_slot, num_slot, once};
use super::parser::Directive;
use super::values::{parse_number, parse_time_s};

/// nginx's default `server ... weight=`.
pub const WEIGHT: u32 = 1;
/// nginx's default `server ... max_conns=` (0: no limit).
pub const MAX_CONNS: u32 = 0;
/// nginx's default `server ... max_fails=` (0: failures are not counted).
pub const MAX_FAILS: u32 = 1;
/// nginx's default `server ... fail_timeout=` (10 s).
pub const FAIL_TIMEOUT_MS: u64 = 10_000;
/// The port of a `server` written without one (ngx_url_t's default_port).
pub const DEFAULT_PORT: u16 = 80;
/// nginx's default upstream `keepalive_requests` (1000).
pub const KEEPALIVE_REQUESTS: u64 = 1000;
/// nginx's default upstream `keepalive_time` (1 h).
pub const KEEPALIVE_TIME_MS: u64 = 3_600_000;
/// nginx's default upstream `keepalive_timeout` (60 s).
pub const KEEPALIVE_TIMEOUT_MS: u64 = 60_000;

/// Directives nginx (or nginx Plus) allows in an `upstream` block that
/// holdfast does not have yet.
const NOT_YET: &[&str] = &[
    "hash",
    "ip_hash",
    "least_conn",
    "least_time",
    "random",
    "zone",
    "state",
    "sticky",
    "ntlm",
    "queue",
    "resolver",
    "resolver_timeout",
];

/// `server` parameters of nginx's (needing `zone`, `sticky` or nginx Plus)
/// that holdfast does not have yet.
const PARAMS_NOT_YET: &[&str] = &["resolve", "service=", "drain", "route=", "slow_start="];

/// The module's directives.
// Listed by command.rs's tables() once the http block collects `upstream`s.
pub(super) static COMMANDS: &[Command] = &[cmd("upstream", HTTP, true, 1, 1)];

/// The directives inside `upstream { }` (nginx's NGX_HTTP_UPS_CONF), checked
/// here rather than in command.rs's tables: `server` means something else
/// in `http`.
static UPS_COMMANDS: &[Command] = &[
    cmd("server", 0, false, 1, command::MANY),
    cmd("keepalive", 0, false, 1, 1),
    cmd("keepalive_requests", 0, false, 1, 1),
    cmd("keepalive_time", 0, false, 1, 1),
    cmd("keepalive_timeout", 0, false, 1, 1),
];

/// One peer address of an `upstream` block (one `server` line gives one per
/// address its name resolves to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    /// The address to connect to (`$upstream_addr` prints it).
    pub addr: crate::os::net::PeerAddr,
    /// The `server` argument as written (`backend.local:8080`).
    pub name: String,
    /// `weight=N`; default 1.
    pub weight: u32,
    /// `max_conns=N`: most connections at once; default 0 (no limit).
    pub max_conns: u32,
    /// `max_fails=N`: failures within `fail_timeout` that take the server
    /// out for `fail_timeout`; default 1, 0 turns the accounting off.
    pub max_fails: u32,
    /// `fail_timeout=T` (whole seconds, as nginx reads it); default 10 s.
    pub fail_timeout_ms: u64,
    /// `backup`: used only when every primary server is unusable.
    pub backup: bool,
    /// `down`: never used.
    pub down: bool,
}

/// `upstream NAME { … }` (ngx_http_upstream_srv_conf_t plus
/// ngx_http_upstream_keepalive_srv_conf_t).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConf {
    /// The block's name: `proxy_pass http://NAME` uses it (compared without
    /// regard to case).
    pub name: String,
    /// The servers, one per address, in the order written.
    pub servers: Vec<UpstreamServer>,
    /// `keepalive N`: idle connections to the servers each worker keeps;
    /// None (nginx 1.29.4's default): none are kept.
    pub keepalive: Option<usize>,
    /// `keepalive_requests N`: requests over one cached connection; default 1000.
    pub keepalive_requests: u64,
    /// `keepalive_time T`: how long one cached connection may be used;
    /// default 1 h.
    pub keepalive_time_ms: u64,
    /// `keepalive_timeout T`: how long a connection may idle in the cache;
    /// default 60 s.
    pub keepalive_timeout_ms: u64,
    /// Where the block is (nginx names it in later errors).
    pub file: PathBuf,
    /// See `file`.
    pub line: usize,
}

/// One block's keep-alive directives as written.
#[derive(Debug, Default)]
struct RawKeepalive {
    max_cached: Option<usize>,
    requests: Option<u64>,
    time_ms: Option<u64>,
    timeout_ms: Option<u64>,
}

/// Mirrors ngx_http_upstream_add() with NGX_HTTP_UPSTREAM_CREATE, then
/// ngx_http_upstream(): `duplicate upstream "NAME"`, else the block is read
/// and appended.
///
/// Differences: implicit upstreams (`proxy_pass http://HOST`) are not in
/// the list; [`find`] is the lookup `proxy_pass` makes instead.
// Called from the http block once it collects `upstream`s.
pub(super) fn add_upstream<U>(upstreams: &mut Vec<U>, d: &Directive) -> Result<(), ConfError>
where
    U: Borrow<UpstreamConf> + From<UpstreamConf>,
{
    if find_by_name(upstreams, &d.args[0]).is_some() {
        return Err(d.error(format!("duplicate upstream \"{}\"", d.args[0])));
    }
    let u = upstream_block(d)?;
    upstreams.push(U::from(u));
    Ok(())
}

/// Mirrors ngx_http_upstream(): reads one `upstream NAME { }` block (its
/// name and shape already checked against [`COMMANDS`]).
///
/// Differences: `no servers are inside upstream` is reported at the
/// `upstream` line (nginx: at the closing `}`); `no servers in upstream
/// "NAME"` (only `backup` servers), which nginx reports from
/// ngx_http_upstream_init_round_robin() after the http block, is reported
/// here.
pub(super) fn upstream_block(d: &Directive) -> Result<UpstreamConf, ConfError> {
    let mut servers = Vec::new();
    let mut ka = RawKeepalive::default();
    let mut any_server = false;
    for c in block(d) {
        check_ups(c)?;
        match c.name.as_str() {
            "server" => {
                servers.extend(upstream_server(c)?);
                any_server = true;
            }
            "keepalive" => keepalive(c, &mut ka)?,
            "keepalive_requests" => num_slot(&mut ka.requests, c)?,
            "keepalive_time" => msec_slot(&mut ka.time_ms, c)?,
            "keepalive_timeout" => msec_slot(&mut ka.timeout_ms, c)?,
            _ => return Err(command::unknown(c)),
        }
    }
    if !any_server {
        return Err(d.error("no servers are inside upstream"));
    }
    if servers.iter().all(|s| s.backup) {
        return Err(d.error(format!("no servers in upstream \"{}\"", d.args[0])));
    }
    Ok(UpstreamConf {
        name: d.args[0].clone(),
        servers,
        keepalive: ka.max_cached,
        keepalive_requests: ka.requests.unwrap_or(KEEPALIVE_REQUESTS),
        keepalive_time_ms: ka.time_ms.unwrap_or(KEEPALIVE_TIME_MS),
        keepalive_timeout_ms: ka.timeout_ms.unwrap_or(KEEPALIVE_TIMEOUT_MS),
        file: d.file.to_path_buf(),
        line: d.line,
    })
}

/// Mirrors ngx_conf_handler()'s checks for the NGX_HTTP_UPS_CONF context.
///
/// Differences: the upstream directives holdfast lacks are refused by name;
/// any other directive is `unknown` or `not allowed here` as nginx says it.
fn check_ups(c: &Directive) -> Result<(), ConfError> {
    if NOT_YET.contains(&c.name.as_str()) {
        return Err(c.error(format!(
            "\"{}\" directive is not supported in holdfast's upstream block yet",
            c.name
        )));
    }
    let Some(cmd) = UPS_COMMANDS.iter().find(|u| u.name == c.name) else {
        if command::find(&c.name).is_some() {
            return Err(c.error(format!("\"{}\" directive is not allowed here", c.name)));
        }
        return Err(command::unknown(c));
    };
    if c.block.is_some() {
        return Err(c.error(format!(
            "directive \"{}\" is not terminated by \";\"",
            c.name
        )));
    }
    if c.args.len() < cmd.min_args || c.args.len() > cmd.max_args {
        return Err(c.error(format!(
            "invalid number of arguments in \"{}\" directive",
            c.name
        )));
    }
    Ok(())
}

/// Mirrors ngx_http_upstream_server(): `server ADDR [PARAMS]`, one
/// [`UpstreamServer`] per address.
///
/// Differences: `weight=`, `max_conns=` and `max_fails=` above 2³²−1 are
/// invalid (nginx takes any ngx_int_t); the `zone` and `sticky` parameters (`resolve`, `service=`, `drain`, `route=`) are
/// refused as not supported yet.
fn upstream_server(d: &Directive) -> Result<Vec<UpstreamServer>, ConfError> {
    let mut weight = WEIGHT;
    let mut max_conns = MAX_CONNS;
    let mut max_fails = MAX_FAILS;
    let mut fail_timeout_ms = FAIL_TIMEOUT_MS;
    let mut backup = false;
    let mut down = false;
    for p in &d.args[1..] {
        let invalid = || d.error(format!("invalid parameter \"{p}\""));
        // ngx_atoi(), at least `min`.
        let int = |v: &str, min: u64| {
            parse_number(v)
                .ok()
                .filter(|n| *n >= min)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(invalid)
        };
        if let Some(v) = p.strip_prefix("weight=") {
            weight = int(v, 1)?;
        } else if let Some(v) = p.strip_prefix("max_conns=") {
            max_conns = int(v, 0)?;
        } else if let Some(v) = p.strip_prefix("max_fails=") {
            max_fails = int(v, 0)?;
        } else if let Some(v) = p.strip_prefix("fail_timeout=") {
            fail_timeout_ms = parse_time_s(v).map_err(|_| invalid())? * 1000;
        } else if p == "backup" {
            backup = true;
        } else if p == "down" {
            down = true;
        } else if PARAMS_NOT_YET
            .iter()
            .any(|n| p == n || (n.ends_with('=') && p.starts_with(n)))
        {
            return Err(d.error(format!(
                "\"{p}\" parameter of \"server\" is not supported in holdfast's upstream block yet"
            )));
        } else {
            return Err(invalid());
        }
    }
    let url = &d.args[0];
    let addrs = parse_url(url).map_err(|err| match err {
        UrlError::Nginx(err) => d.error(format!("{err} in upstream \"{url}\"")),
    })?;
    Ok(addrs
        .into_iter()
        .map(|addr| UpstreamServer {
            addr,
            name: url.clone(),
            weight,
            max_conns,
            max_fails,
            fail_timeout_ms,
            backup,
            down,
        })
        .collect())
}

/// Why [`parse_url`] failed.
#[derive(Debug, PartialEq, Eq)]
enum UrlError {
    /// ngx_url_t's `err`: `invalid host`, `invalid port`, `no host`,
    /// `invalid IPv6 address`, `host not found`.
    Nginx(&'static str),
}

/// Mirrors ngx_parse_url() as ngx_http_upstream_server() calls it (no URI
/// part, default port 80, names resolved): the addresses of `ADDR[:PORT]`.
fn parse_url(url: &str) -> Result<Vec<crate::os::net::PeerAddr>, UrlError> {
    if let Some(path) = url
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("unix:"))
        .map(|_| &url[5..])
    {
        // ngx_parse_unix_domain_url(): the rest is the path.
        if path.is_empty() {
            return Err(UrlError::Nginx("no path in the unix domain socket"));
        }
        return Ok(vec![crate::os::net::PeerAddr::Unix(std::rc::Rc::from(
            std::path::Path::new(path),
        ))]);
    }
    parse_inet_url(url).map(|v| v.into_iter().map(Into::into).collect())
}

/// ngx_parse_url()'s inet part: `ADDR[:PORT]`, `[V6][:PORT]`, a name.
fn parse_inet_url(url: &str) -> Result<Vec<SocketAddr>, UrlError> {
    let invalid_port = UrlError::Nginx("invalid port");
    let port_of = |text: &str| {
        parse_number(text)
            .ok()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n >= 1)
    };
    // ngx_parse_inet6_url(): `[ADDR]` or `[ADDR]:PORT`.
    if let Some(rest) = url.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or(UrlError::Nginx("invalid host"))?;
        if after.contains('/') {
            return Err(UrlError::Nginx("invalid host"));
        }
        let port = match after.strip_prefix(':') {
            Some(p) => port_of(p).ok_or(invalid_port)?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(UrlError::Nginx("invalid host")),
        };
        if host.is_empty() {
            return Err(UrlError::Nginx("no host"));
        }
        let ip: Ipv6Addr = host
            .parse()
            .map_err(|_| UrlError::Nginx("invalid IPv6 address"))?;
        return Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]);
    }
    // ngx_parse_inet_url(): a `/` or `?` would start a URI, which a
    // `server` may not have.
    if url.contains(['/', '?']) {
        return Err(UrlError::Nginx("invalid host"));
    }
    let (host, port) = match url.split_once(':') {
        Some((host, p)) => (host, port_of(p).ok_or(invalid_port)?),
        None => (url, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Err(UrlError::Nginx("no host"));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]);
    }
    // ngx_inet_resolve_host(): every IPv4 and IPv6 address, in the
    // resolver's order.
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| UrlError::Nginx("host not found"))?
        .collect();
    if addrs.is_empty() {
        return Err(UrlError::Nginx("host not found"));
    }
    Ok(addrs)
}

/// Mirrors ngx_http_upstream_keepalive(): `keepalive N`.
///
/// Differences: none from nginx 1.29.4 (see the module docs for 1.29.7's).
fn keepalive(d: &Directive, ka: &mut RawKeepalive) -> Result<(), ConfError> {
    once(&ka.max_cached, d)?;
    let n = parse_number(&d.args[0])
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            d.error(format!(
                "invalid value \"{}\" in \"{}\" directive",
                d.args[0], d.name
            ))
        })?;
    ka.max_cached = Some(n);
    Ok(())
}

/// The `upstream` block called `name` (compared without regard to case, as
/// ngx_http_upstream_add() compares hosts).
pub fn find_by_name<'a, U: Borrow<UpstreamConf>>(upstreams: &'a [U], name: &str) -> Option<&'a U> {
    upstreams.iter().find(|u| {
        Borrow::<UpstreamConf>::borrow(*u)
            .name
            .eq_ignore_ascii_case(name)
    })
}

/// Mirrors the lookup ngx_http_upstream_add() makes for `proxy_pass
/// http://HOST[:PORT]`: the `upstream` block called HOST, if there is one
/// (then `HOST` must come without a port: `upstream "NAME" may not have
/// port N`, nginx's error for the `proxy_pass` line); None means HOST is a
/// host name to resolve (nginx's implicit upstream).
pub fn find<'a, U: Borrow<UpstreamConf>>(
    upstreams: &'a [U],
    host: &str,
    port: Option<u16>,
) -> Result<Option<&'a U>, String> {
    let Some(u) = find_by_name(upstreams, host) else {
        return Ok(None);
    };
    match port {
        Some(port) => Err(format!(
            "upstream \"{}\" may not have port {port}",
            Borrow::<UpstreamConf>::borrow(u).name
        )),
        None => Ok(Some(u)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::rc::Rc;

    use super::*;
    use crate::conf::parser::parse_str;

    const FILE: &str = "/fake/holdfast.conf";

    /// The directives of `text` (read as [`FILE`]).
    fn parse(text: &str) -> Vec<Directive> {
        parse_str(text, Path::new(FILE), Path::new("/fake"), &mut Vec::new()).unwrap()
    }

    /// The first directive of `text`, an `upstream` block, read.
    fn ups(text: &str) -> Result<UpstreamConf, ConfError> {
        upstream_block(&parse(text)[0])
    }

    /// Expects `msg in /fake/holdfast.conf:line`.
    fn assert_err(text: &str, msg: &str, line: usize) {
        assert_eq!(
            ups(text).unwrap_err().to_string(),
            format!("{msg} in {FILE}:{line}"),
            "config: {text:?}"
        );
    }

    fn addr(s: &str) -> crate::os::net::PeerAddr {
        crate::os::net::PeerAddr::Inet(s.parse().unwrap())
    }

    #[test]
    fn servers_and_defaults() {
        let u = ups(
            "upstream Back {\n server 127.0.0.1:8081;\n server [::1] weight=3 \
             max_fails=0 fail_timeout=1m max_conns=7 backup;\n server 10.0.0.1 down;\n}",
        )
        .unwrap();
        assert_eq!((u.name.as_str(), u.line), ("Back", 1));
        assert_eq!(u.file, Path::new(FILE));
        assert_eq!(
            u.servers[0],
            UpstreamServer {
                addr: addr("127.0.0.1:8081"),
                name: "127.0.0.1:8081".into(),
                weight: 1,
                max_conns: 0,
                max_fails: 1,
                fail_timeout_ms: 10_000,
                backup: false,
                down: false,
            }
        );
        let s = &u.servers[1];
        assert_eq!(
            (s.addr.clone(), s.name.as_str()),
            (addr("[::1]:80"), "[::1]")
        );
        assert_eq!(
            (
                s.weight,
                s.max_fails,
                s.fail_timeout_ms,
                s.max_conns,
                s.backup
            ),
            (3, 0, 60_000, 7, true)
        );
        assert_eq!(u.servers[2].addr, addr("10.0.0.1:80"));
        assert!(u.servers[2].down && !u.servers[2].backup);
        assert_eq!(u.keepalive, None);
        assert_eq!(
            (
                u.keepalive_requests,
                u.keepalive_time_ms,
                u.keepalive_timeout_ms
            ),
            (1000, 3_600_000, 60_000)
        );
        // fail_timeout=0 is allowed (a failure counts within the same ms).
        let u = ups("upstream b { server 127.0.0.1 fail_timeout=0; }").unwrap();
        assert_eq!(u.servers[0].fail_timeout_ms, 0);
    }

    #[test]
    fn a_name_gives_one_server_per_address() {
        let u = ups("upstream b { server localhost:8080 weight=2; }").unwrap();
        assert!(!u.servers.is_empty());
        for s in &u.servers {
            let crate::os::net::PeerAddr::Inet(a) = &s.addr else {
                panic!("{s:?}");
            };
            assert!(a.ip().is_loopback(), "{s:?}");
            assert_eq!(
                (s.addr.port(), s.name.as_str(), s.weight),
                (8080, "localhost:8080", 2)
            );
        }
    }

    #[test]
    fn keepalive_directives() {
        let u = ups(
            "upstream b { server 127.0.0.1; keepalive 16; keepalive_requests 50; \
             keepalive_time 10m; keepalive_timeout 5s; }",
        )
        .unwrap();
        assert_eq!(u.keepalive, Some(16));
        assert_eq!(
            (
                u.keepalive_requests,
                u.keepalive_time_ms,
                u.keepalive_timeout_ms
            ),
            (50, 600_000, 5000)
        );
        let wrap = |body: &str| format!("upstream b {{\nserver 127.0.0.1;\n{body}\n}}");
        assert_err(
            &wrap("keepalive 0;"),
            "invalid value \"0\" in \"keepalive\" directive",
            3,
        );
        assert_err(
            &wrap("keepalive x;"),
            "invalid value \"x\" in \"keepalive\" directive",
            3,
        );
        assert_err(
            &wrap("keepalive 8 local;"),
            "invalid number of arguments in \"keepalive\" directive",
            3,
        );
        assert_err(
            &wrap("keepalive 1; keepalive 2;"),
            "\"keepalive\" directive is duplicate",
            3,
        );
        assert_err(
            &wrap("keepalive_requests many;"),
            "\"keepalive_requests\" directive invalid number",
            3,
        );
        assert_err(
            &wrap("keepalive_timeout 5q;"),
            "\"keepalive_timeout\" directive invalid value",
            3,
        );
        assert_err(
            &wrap("keepalive_time 1s;\nkeepalive_time 2s;"),
            "\"keepalive_time\" directive is duplicate",
            4,
        );
    }

    #[test]
    fn server_parameter_errors() {
        let wrap = |line: &str| format!("upstream b {{\n{line}\n}}");
        for (line, msg) in [
            (
                "server 127.0.0.1 weight=0;",
                "invalid parameter \"weight=0\"",
            ),
            ("server 127.0.0.1 weight=;", "invalid parameter \"weight=\""),
            (
                "server 127.0.0.1 weight=-1;",
                "invalid parameter \"weight=-1\"",
            ),
            (
                "server 127.0.0.1 weight=4294967296;",
                "invalid parameter \"weight=4294967296\"",
            ),
            (
                "server 127.0.0.1 max_fails=x;",
                "invalid parameter \"max_fails=x\"",
            ),
            (
                "server 127.0.0.1 max_conns=1k;",
                "invalid parameter \"max_conns=1k\"",
            ),
            (
                "server 127.0.0.1 fail_timeout=5ms;",
                "invalid parameter \"fail_timeout=5ms\"",
            ),
            ("server 127.0.0.1 Backup;", "invalid parameter \"Backup\""),
            ("server 127.0.0.1 down=1;", "invalid parameter \"down=1\""),
            (
                "server 127.0.0.1 resolve;",
                "\"resolve\" parameter of \"server\" is not supported in holdfast's upstream block yet",
            ),
            (
                "server 127.0.0.1 route=a;",
                "\"route=a\" parameter of \"server\" is not supported in holdfast's upstream block yet",
            ),
            (
                "server;",
                "invalid number of arguments in \"server\" directive",
            ),
            (
                "server 127.0.0.1 { }",
                "directive \"server\" is not terminated by \";\"",
            ),
        ] {
            assert_err(&wrap(line), msg, 2);
        }
    }

    #[test]
    fn server_address_errors() {
        let wrap = |line: &str| format!("upstream b {{\n\nserver {line};\n}}");
        for (a, err) in [
            ("127.0.0.1:0", "invalid port"),
            ("127.0.0.1:65536", "invalid port"),
            ("127.0.0.1:", "invalid port"),
            ("127.0.0.1:8080:1", "invalid port"),
            ("::1", "invalid port"),
            (":8080", "no host"),
            ("127.0.0.1/x", "invalid host"),
            ("http://127.0.0.1", "invalid host"),
            ("a?b", "invalid host"),
            ("[::1", "invalid host"),
            ("[::1]x", "invalid host"),
            ("[::1]/", "invalid host"),
            ("[::1]:0", "invalid port"),
            ("[]:80", "no host"),
            ("[zz]", "invalid IPv6 address"),
            ("a.invalid", "host not found"),
        ] {
            assert_err(&wrap(a), &format!("{err} in upstream \"{a}\""), 3);
        }
        assert_err(
            &wrap("unix:"),
            "no path in the unix domain socket in upstream \"unix:\"",
            3,
        );
        let u = ups("upstream b { server UNIX:/tmp/s.sock weight=2; }").unwrap();
        assert_eq!(u.servers[0].addr.to_string(), "unix:/tmp/s.sock");
        assert_eq!(u.servers[0].weight, 2);
        let u = ups("upstream b { server [::1]:8443; server 127.0.0.1:0080; }").unwrap();
        assert_eq!(u.servers[0].addr, addr("[::1]:8443"));
        assert_eq!(u.servers[1].addr, addr("127.0.0.1:80"));
    }

    #[test]
    fn block_errors() {
        assert_err("upstream b {\n}", "no servers are inside upstream", 1);
        assert_err(
            "upstream b {\nkeepalive 2;\n}",
            "no servers are inside upstream",
            1,
        );
        assert_err(
            "\nupstream b {\nserver 127.0.0.1 backup;\n}",
            "no servers in upstream \"b\"",
            2,
        );
        let wrap = |line: &str| format!("upstream b {{\nserver 127.0.0.1;\n{line}\n}}");
        for name in [
            "ip_hash",
            "least_conn",
            "hash $x",
            "random",
            "zone z 64k",
            "ntlm",
        ] {
            let first = name.split(' ').next().unwrap();
            assert_err(
                &wrap(&format!("{name};")),
                &format!("\"{first}\" directive is not supported in holdfast's upstream block yet"),
                3,
            );
        }
        assert_err(
            &wrap("root /x;"),
            "\"root\" directive is not allowed here",
            3,
        );
        assert_err(
            &wrap("location / { }"),
            "\"location\" directive is not allowed here",
            3,
        );
        assert_err(
            &wrap("no_such_thing;"),
            "unknown directive \"no_such_thing\"",
            3,
        );
        assert_err(
            &wrap("ssi on;"),
            "unknown directive \"ssi\": holdfast has no ngx_http_ssi_module \
             (see README, \"nginx modules\")",
            3,
        );
    }

    #[test]
    fn duplicates_and_lookup() {
        let t = parse(
            "upstream one { server 127.0.0.1:1; }\nupstream two { server 127.0.0.1:2; }\n\
             upstream ONE { server 127.0.0.1:3; }",
        );
        let mut list: Vec<Rc<UpstreamConf>> = Vec::new();
        add_upstream(&mut list, &t[0]).unwrap();
        add_upstream(&mut list, &t[1]).unwrap();
        assert_eq!(
            add_upstream(&mut list, &t[2]).unwrap_err().to_string(),
            format!("duplicate upstream \"ONE\" in {FILE}:3")
        );
        assert_eq!(list.len(), 2);
        let two = find(&list, "Two", None).unwrap().unwrap();
        assert_eq!(two.servers[0].addr, addr("127.0.0.1:2"));
        assert!(find(&list, "three", None).unwrap().is_none());
        assert!(find(&list, "three", Some(80)).unwrap().is_none());
        assert_eq!(
            find(&list, "one", Some(8080)).unwrap_err(),
            "upstream \"one\" may not have port 8080"
        );
        // A plain Vec<UpstreamConf> works too.
        let mut plain: Vec<UpstreamConf> = Vec::new();
        add_upstream(&mut plain, &t[0]).unwrap();
        assert!(find_by_name(&plain, "one").is_some());
    }
}
