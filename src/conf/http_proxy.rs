//! ngx_http_proxy_module's configuration, as far as holdfast has it:
//! `proxy_pass http://ADDR[:PORT][/URI]` and the three timeouts.
//!
//! Work in progress (issue 11): no `upstream` blocks, variables, `unix:`
//! peers or request bodies yet; those forms are refused by name.

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use super::ConfError;
use super::command::{ANY_HTTP, Command, LIF, LOC, cmd, msec_slot};
use super::parser::Directive;

/// nginx's default `proxy_connect_timeout` (60 s).
pub const PROXY_CONNECT_TIMEOUT_MS: u64 = 60_000;
/// nginx's default `proxy_read_timeout` (60 s).
pub const PROXY_READ_TIMEOUT_MS: u64 = 60_000;
/// nginx's default `proxy_send_timeout` (60 s).
pub const PROXY_SEND_TIMEOUT_MS: u64 = 60_000;

/// The module's directives (those holdfast has).
pub(super) static COMMANDS: &[Command] = &[
    cmd("proxy_pass", LOC | LIF, false, 1, 1),
    cmd("proxy_connect_timeout", ANY_HTTP, false, 1, 1),
    cmd("proxy_read_timeout", ANY_HTTP, false, 1, 1),
    cmd("proxy_send_timeout", ANY_HTTP, false, 1, 1),
    cmd("proxy_http_version", ANY_HTTP, false, 1, 1),
];

/// `proxy_pass http://HOST[:PORT][/URI]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPass {
    /// The peer (a name is resolved once, when the configuration is read,
    /// as nginx does for a `proxy_pass` without variables).
    pub addr: SocketAddr,
    /// `HOST[:PORT]` as written: `$proxy_host`, the upstream request's Host.
    pub host: String,
    /// The URI part; None when there is none (the client's URI is passed
    /// as it came).
    pub uri: Option<String>,
    /// The `upstream` block HOST names (its index in the http block's
    /// list); `addr` is then unused.
    pub upstream: Option<usize>,
}

/// One level's proxy directives as written.
#[derive(Debug, Default)]
pub(super) struct RawProxy {
    pub(super) pass: Option<ProxyPass>,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) read_timeout_ms: Option<u64>,
    pub(super) send_timeout_ms: Option<u64>,
    pub(super) http_11: Option<bool>,
}

/// The merged proxy settings of a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConf {
    /// `proxy_pass` of this location (not inherited: it is the location's
    /// content handler).
    pub pass: Option<Rc<ProxyPass>>,
    /// `proxy_connect_timeout`.
    pub connect_timeout_ms: u64,
    /// `proxy_read_timeout`.
    pub read_timeout_ms: u64,
    /// `proxy_send_timeout`.
    pub send_timeout_ms: u64,
    /// `proxy_http_version 1.1` (None: not set, nginx's 1.0 unless the
    /// peers are pooled).
    pub http_11: Option<bool>,
}

impl Default for ProxyConf {
    fn default() -> Self {
        ProxyConf {
            pass: None,
            connect_timeout_ms: PROXY_CONNECT_TIMEOUT_MS,
            read_timeout_ms: PROXY_READ_TIMEOUT_MS,
            send_timeout_ms: PROXY_SEND_TIMEOUT_MS,
            http_11: None,
        }
    }
}

/// Mirrors ngx_http_proxy_merge_loc_conf() for what holdfast has.
pub(super) fn merge(raw: RawProxy, parent: &ProxyConf) -> ProxyConf {
    ProxyConf {
        pass: raw.pass.map(Rc::new),
        connect_timeout_ms: raw.connect_timeout_ms.unwrap_or(parent.connect_timeout_ms),
        read_timeout_ms: raw.read_timeout_ms.unwrap_or(parent.read_timeout_ms),
        send_timeout_ms: raw.send_timeout_ms.unwrap_or(parent.send_timeout_ms),
        http_11: raw.http_11.or(parent.http_11),
    }
}

/// The module's directives at any http level; `Ok(false)` when `d` is not one.
pub(super) fn directive(
    d: &Directive,
    raw: &mut RawProxy,
    upstreams: &[Rc<super::http_upstream::UpstreamConf>],
) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "proxy_pass" => {
            if raw.pass.is_some() {
                return Err(d.error("\"proxy_pass\" directive is duplicate"));
            }
            raw.pass = Some(proxy_pass(d, upstreams)?);
        }
        "proxy_connect_timeout" => msec_slot(&mut raw.connect_timeout_ms, d)?,
        "proxy_read_timeout" => msec_slot(&mut raw.read_timeout_ms, d)?,
        "proxy_send_timeout" => msec_slot(&mut raw.send_timeout_ms, d)?,
        "proxy_http_version" => {
            // Mirrors ngx_conf_set_enum_slot() with nginx's two values.
            if raw.http_11.is_some() {
                return Err(d.error("\"proxy_http_version\" directive is duplicate"));
            }
            raw.http_11 = Some(match d.args[0].as_str() {
                "1.0" => false,
                "1.1" => true,
                v => return Err(d.error(format!("invalid value \"{v}\""))),
            });
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Mirrors ngx_http_proxy_pass() for a URL without variables: an
/// `upstream` block of that name, else a host resolved now.
fn proxy_pass(
    d: &Directive,
    upstreams: &[Rc<super::http_upstream::UpstreamConf>],
) -> Result<ProxyPass, ConfError> {
    let url = &d.args[0];
    if url.contains('$') {
        return Err(d.error(format!(
            "\"proxy_pass\" with variables is not supported yet: \"{url}\""
        )));
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("http://").map(|_| &url[7..]) else {
        if lower.starts_with("https://") {
            return Err(d.error(
                "https protocol requires SSL support: holdfast has no ngx_http_ssl_module",
            ));
        }
        return Err(d.error(format!("invalid URL prefix in \"{url}\"")));
    };
    if rest.starts_with("unix:") {
        return Err(d.error(format!(
            "\"proxy_pass\" to a unix socket is not supported yet: \"{url}\""
        )));
    }
    let (host, uri) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(rest[i..].to_string())),
        None => (rest, None),
    };
    if host.is_empty() {
        return Err(d.error(format!("no host in \"{url}\"")));
    }
    let has_port = match host.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => host.contains(':'),
    };
    let (name, port) = match host.rsplit_once(':').filter(|_| has_port) {
        Some((n, p)) => (n, p.parse::<u16>().ok()),
        None => (host, None),
    };
    let found = super::http_upstream::find(upstreams, name, port).map_err(|e| d.error(e))?;
    if let Some(u) = found {
        let index = upstreams.iter().position(|x| Rc::ptr_eq(x, u));
        let first = u.servers.first().map(|s| s.addr);
        return Ok(ProxyPass {
            addr: first.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
            host: host.to_string(),
            uri,
            upstream: index,
        });
    }
    let with_port = if has_port {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| d.error(format!("host not found in upstream \"{host}\"")))?;
    Ok(ProxyPass {
        addr,
        host: host.to_string(),
        uri,
        upstream: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::conf::testutil::{assert_err, server};

    #[test]
    fn proxy_pass_forms() {
        let s =
            server("location /a/ { proxy_pass http://127.0.0.1:8081/b/; proxy_read_timeout 5s; }");
        let l = s.loc_conf(b"/a/x");
        let p = l.proxy.pass.as_deref().unwrap();
        assert_eq!(p.addr.to_string(), "127.0.0.1:8081");
        assert_eq!(p.host, "127.0.0.1:8081");
        assert_eq!(p.uri.as_deref(), Some("/b/"));
        assert_eq!(l.proxy.read_timeout_ms, 5000);
        assert_eq!(l.proxy.connect_timeout_ms, 60_000);
        let s = server("location / { proxy_pass http://[::1]; }");
        let p = s.loc_conf(b"/").proxy.pass.clone().unwrap();
        assert_eq!(
            (p.addr.to_string().as_str(), p.uri.as_deref()),
            ("[::1]:80", None)
        );
        // Not inherited: the location's content handler.
        let s = server(
            "proxy_connect_timeout 2s; location / { proxy_pass http://127.0.0.1; location /n { } }",
        );
        assert!(s.loc_conf(b"/n").proxy.pass.is_none());
        assert_eq!(s.loc_conf(b"/n").proxy.connect_timeout_ms, 2000);
        let wrap = |body: &str| format!("http {{\nserver {{\nlocation / {{\n{body}\n}}\n}}\n}}");
        assert_err(
            &wrap("proxy_pass https://127.0.0.1;"),
            "https protocol requires SSL support: holdfast has no ngx_http_ssl_module",
            4,
        );
        assert_err(
            &wrap("proxy_pass 127.0.0.1;"),
            "invalid URL prefix in \"127.0.0.1\"",
            4,
        );
        assert_err(&wrap("proxy_pass http://;"), "no host in \"http://\"", 4);
        assert_err(
            &wrap("proxy_pass http://$host;"),
            "\"proxy_pass\" with variables is not supported yet: \"http://$host\"",
            4,
        );
        assert_err(
            &wrap("proxy_pass http://a.invalid;"),
            "host not found in upstream \"a.invalid\"",
            4,
        );
        assert_err(
            &wrap("proxy_pass http://127.0.0.1; proxy_pass http://127.0.0.1;"),
            "\"proxy_pass\" directive is duplicate",
            4,
        );
    }
}
