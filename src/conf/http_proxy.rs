//! ngx_http_proxy_module's configuration, as far as holdfast has it:
//! `proxy_pass http://ADDR[:PORT][/URI]` and the three timeouts.
//!
//! Work in progress (issue 11): no `upstream` blocks, variables, `unix:`
//! peers or request bodies yet; those forms are refused by name.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::os::net::PeerAddr;
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
    cmd("proxy_next_upstream", ANY_HTTP, false, 1, usize::MAX),
    cmd("proxy_next_upstream_tries", ANY_HTTP, false, 1, 1),
    cmd("proxy_next_upstream_timeout", ANY_HTTP, false, 1, 1),
    cmd("proxy_set_header", ANY_HTTP, false, 2, 2),
    cmd("proxy_redirect", ANY_HTTP, false, 1, 2),
    cmd("proxy_intercept_errors", ANY_HTTP, false, 1, 1),
    cmd("proxy_hide_header", ANY_HTTP, false, 1, 1),
    cmd("proxy_pass_header", ANY_HTTP, false, 1, 1),
    cmd("proxy_buffering", ANY_HTTP, false, 1, 1),
    cmd("proxy_request_buffering", ANY_HTTP, false, 1, 1),
    cmd("proxy_buffers", ANY_HTTP, false, 2, 2),
    cmd("proxy_buffer_size", ANY_HTTP, false, 1, 1),
    cmd("proxy_busy_buffers_size", ANY_HTTP, false, 1, 1),
    cmd("proxy_max_temp_file_size", ANY_HTTP, false, 1, 1),
    cmd("proxy_temp_file_write_size", ANY_HTTP, false, 1, 1),
    cmd("proxy_method", ANY_HTTP, false, 1, 1),
    cmd("proxy_pass_request_headers", ANY_HTTP, false, 1, 1),
    cmd("proxy_pass_request_body", ANY_HTTP, false, 1, 1),
    cmd("proxy_set_body", ANY_HTTP, false, 1, 1),
    cmd("proxy_ignore_client_abort", ANY_HTTP, false, 1, 1),
    cmd("proxy_ignore_headers", ANY_HTTP, false, 1, usize::MAX),
];

/// `proxy_ignore_headers` names (nginx's NGX_HTTP_UPSTREAM_IGN_* bits).
/// Those about caching (X-Accel-Expires, Expires, Cache-Control,
/// Set-Cookie, Vary) only change what a cache would do; holdfast has no
/// proxy cache, so for them the directive is true by construction.
pub mod ignore {
    /// `X-Accel-Redirect`: no internal redirect.
    pub const XA_REDIRECT: u16 = 0x0002;
    /// `X-Accel-Expires`.
    pub const XA_EXPIRES: u16 = 0x0004;
    /// `Expires`.
    pub const EXPIRES: u16 = 0x0008;
    /// `Cache-Control`.
    pub const CACHE_CONTROL: u16 = 0x0010;
    /// `Set-Cookie`.
    pub const SET_COOKIE: u16 = 0x0020;
    /// `X-Accel-Limit-Rate`: the peer does not set the rate.
    pub const XA_LIMIT_RATE: u16 = 0x0040;
    /// `X-Accel-Buffering`: the peer does not switch buffering.
    pub const XA_BUFFERING: u16 = 0x0080;
    /// `X-Accel-Charset`.
    pub const XA_CHARSET: u16 = 0x0100;
    /// `Vary`.
    pub const VARY: u16 = 0x0200;
}

/// nginx's page size on x86-64: the default `proxy_buffer_size` and the
/// size of each of the default eight `proxy_buffers`.
pub const PROXY_BUFFER_SIZE: usize = 4096;
/// nginx's default `proxy_buffers` count.
pub const PROXY_BUFFERS: usize = 8;
/// nginx's default `proxy_max_temp_file_size` (1024m).
pub const PROXY_MAX_TEMP_FILE_SIZE: u64 = 1024 * 1024 * 1024;

/// The response buffering settings of a level (nginx's `u->conf` buffer
/// fields, checked as ngx_http_proxy_merge_loc_conf checks them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyBuffering {
    /// `proxy_buffering on|off` (default on).
    pub on: bool,
    /// `proxy_buffer_size`: the largest response head, and the relay's
    /// window ahead of the client with buffering off.
    pub buffer_size: usize,
    /// `proxy_buffers NUMBER SIZE`: the response memory ahead of the
    /// client before a temp file takes the rest.
    pub buffers: (usize, usize),
    /// `proxy_busy_buffers_size`: checked against the other sizes as nginx
    /// does; no effect at run time (nginx: the buffers busy sending to the
    /// client while the rest fill; holdfast bounds the memory ahead of the
    /// client by `proxy_buffers` as a whole — `-T` says so).
    pub busy_buffers_size: usize,
    /// `proxy_temp_file_write_size`: bytes written to the temp file at a
    /// time, at least.
    pub temp_file_write_size: usize,
    /// `proxy_max_temp_file_size` (0: no temp file; the peer is read only
    /// as fast as the client takes the response).
    pub max_temp_file_size: u64,
}

impl Default for ProxyBuffering {
    fn default() -> Self {
        ProxyBuffering {
            on: true,
            buffer_size: PROXY_BUFFER_SIZE,
            buffers: (PROXY_BUFFERS, PROXY_BUFFER_SIZE),
            busy_buffers_size: 2 * PROXY_BUFFER_SIZE,
            temp_file_write_size: 2 * PROXY_BUFFER_SIZE,
            max_temp_file_size: PROXY_MAX_TEMP_FILE_SIZE,
        }
    }
}

impl ProxyBuffering {
    /// The response memory allowed ahead of the client.
    pub fn memory(&self) -> u64 {
        (self.buffers.0 * self.buffers.1) as u64
    }
}

/// `proxy_method`, `proxy_pass_request_headers|body`, `proxy_set_body`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `proxy_method NAME` (a complex value; None: the client's).
    pub method: Option<Rc<[super::variables::Segment]>>,
    /// `proxy_pass_request_headers` (default on).
    pub pass_headers: bool,
    /// `proxy_pass_request_body` (default on).
    pub pass_body: bool,
    /// `proxy_set_body VALUE` (replaces the client's body).
    pub set_body: Option<Rc<[super::variables::Segment]>>,
}

/// `proxy_redirect` of a level.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyRedirect {
    /// `default` (nginx's default): the `proxy_pass` URL with its URI part
    /// becomes the location's prefix.
    #[default]
    Default,
    /// `off`.
    Off,
    /// `proxy_redirect REPLACED REPLACEMENT` lines (and `default` among
    /// them), tried in order.
    Rules(Vec<RedirectRule>),
}

/// One `proxy_redirect` line (ngx_http_proxy_rewrite_t).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectRule {
    /// `default` next to other lines.
    Default,
    /// `TEXT REPLACEMENT`: a value starting with TEXT (variables allowed
    /// in both) has that part replaced.
    Text {
        /// What the value must start with.
        from: Rc<[super::variables::Segment]>,
        /// What replaces it.
        to: Rc<[super::variables::Segment]>,
    },
    /// `~REGEX REPLACEMENT` / `~*REGEX`: a matching value is replaced
    /// whole, the captures usable in the replacement.
    Regex {
        /// The pattern.
        re: RedirectRegex,
        /// What replaces the value.
        to: Rc<[super::variables::Segment]>,
    },
}

/// A compiled `proxy_redirect` pattern (compared by its text).
#[derive(Debug, Clone)]
pub struct RedirectRegex(pub Rc<regex::bytes::Regex>);

impl PartialEq for RedirectRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for RedirectRegex {}

/// `proxy_next_upstream` conditions (nginx's NGX_HTTP_UPSTREAM_FT_* bits).
pub mod next {
    /// `error`: connecting, sending or reading the header failed.
    pub const ERROR: u16 = 0x0002;
    /// `timeout`.
    pub const TIMEOUT: u16 = 0x0004;
    /// `invalid_header`.
    pub const INVALID_HEADER: u16 = 0x0008;
    /// `http_500`.
    pub const HTTP_500: u16 = 0x0010;
    /// `http_502`.
    pub const HTTP_502: u16 = 0x0020;
    /// `http_503`.
    pub const HTTP_503: u16 = 0x0040;
    /// `http_504`.
    pub const HTTP_504: u16 = 0x0080;
    /// `http_403`.
    pub const HTTP_403: u16 = 0x0100;
    /// `http_404`.
    pub const HTTP_404: u16 = 0x0200;
    /// `http_429`.
    pub const HTTP_429: u16 = 0x0400;
    /// `non_idempotent`: POST, PATCH, LOCK too once they were sent.
    pub const NON_IDEMPOTENT: u16 = 0x1000;
    /// nginx's default: `error timeout`.
    pub const DEFAULT: u16 = ERROR | TIMEOUT;

    /// The bit of a response status, if `proxy_next_upstream` can name it.
    pub fn of_status(status: u16) -> u16 {
        match status {
            500 => HTTP_500,
            502 => HTTP_502,
            503 => HTTP_503,
            504 => HTTP_504,
            403 => HTTP_403,
            404 => HTTP_404,
            429 => HTTP_429,
            _ => 0,
        }
    }
}

/// `proxy_pass http://HOST[:PORT][/URI]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPass {
    /// The peer (a name is resolved once, when the configuration is read,
    /// as nginx does for a `proxy_pass` without variables).
    pub addr: PeerAddr,
    /// `HOST[:PORT]` as written: `$proxy_host`, the upstream request's Host.
    pub host: String,
    /// The URI part; None when there is none (the client's URI is passed
    /// as it came).
    pub uri: Option<String>,
    /// The `upstream` block HOST names (its index in the http block's
    /// list); `addr` is then unused.
    pub upstream: Option<usize>,
    /// The URL holds variables: it is evaluated per request (nginx's
    /// `proxy_lengths`/`proxy_values`) and the other fields are unused
    /// until then.
    pub vars: Option<Vec<super::variables::Segment>>,
    /// The URI part came from an evaluated URL: it is sent as it is, with
    /// no location prefix replaced and no arguments added
    /// (ngx_http_proxy_create_request with `proxy_lengths`).
    pub uri_verbatim: bool,
    /// `https://`: the peer is spoken to over TLS (`proxy_ssl_*`).
    pub ssl: bool,
}

/// One level's proxy directives as written.
#[derive(Debug, Default)]
pub(super) struct RawProxy {
    pub(super) pass: Option<ProxyPass>,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) read_timeout_ms: Option<u64>,
    pub(super) send_timeout_ms: Option<u64>,
    pub(super) http_11: Option<bool>,
    pub(super) next_upstream: Option<u16>,
    pub(super) next_upstream_tries: Option<u64>,
    pub(super) next_upstream_timeout_ms: Option<u64>,
    pub(super) set_headers: Option<Vec<ProxyHeader>>,
    pub(super) redirect: Option<ProxyRedirect>,
    pub(super) intercept_errors: Option<bool>,
    pub(super) hide: Option<Vec<String>>,
    pub(super) pass_headers: Option<Vec<String>>,
    pub(super) buffering: Option<bool>,
    pub(super) buffer_size: Option<usize>,
    pub(super) buffers: Option<(usize, usize)>,
    pub(super) busy_buffers_size: Option<usize>,
    pub(super) temp_file_write_size: Option<usize>,
    pub(super) max_temp_file_size: Option<u64>,
    pub(super) method: Option<Vec<super::variables::Segment>>,
    pub(super) pass_request_headers: Option<bool>,
    pub(super) pass_request_body: Option<bool>,
    pub(super) set_body: Option<Vec<super::variables::Segment>>,
    pub(super) ignore_client_abort: Option<bool>,
    pub(super) ignore_headers: Option<u16>,
    pub(super) request_buffering: Option<bool>,
    /// Where the buffer sizes were set, for the merge's checks.
    pub(super) sizes_at: Option<(std::path::PathBuf, usize)>,
    /// The `proxy_ssl_*` directives.
    pub(super) ssl: super::http_proxy_ssl::RawProxySsl,
}

/// One `proxy_set_header NAME VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The header name as written.
    pub name: String,
    /// The value, compiled; an empty value removes the header.
    pub value: Vec<super::variables::Segment>,
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
    /// `proxy_next_upstream` bits ([`next`]); 0 is `off`. Default
    /// `error timeout`.
    pub next_upstream: u16,
    /// `proxy_next_upstream_tries` (0: as many as the upstream has peers).
    pub next_upstream_tries: u64,
    /// `proxy_next_upstream_timeout` in ms (0: no limit): no next peer once
    /// this long has passed since the first try started.
    pub next_upstream_timeout_ms: u64,
    /// `proxy_set_header` list; a level with any of its own does not
    /// inherit its parent's. nginx's `Host $proxy_host` and `Connection
    /// close` apply unless set here.
    pub set_headers: Rc<[ProxyHeader]>,
    /// `proxy_redirect` (inherited unless set).
    pub redirect: ProxyRedirect,
    /// `proxy_intercept_errors on|off`: a peer's answer of 300 or more
    /// with an `error_page` for it is replaced by that page. Default off.
    pub intercept_errors: bool,
    /// `proxy_hide_header` names (lower-cased), besides nginx's own
    /// hidden ones (Date, Server, X-Pad, X-Accel-*) less `proxy_pass_header`.
    pub hide: Rc<[String]>,
    /// `proxy_pass_header` names (lower-cased).
    pub pass_headers: Rc<[String]>,
    /// `proxy_buffering` and its sizes.
    pub buffering: Rc<ProxyBuffering>,
    /// `proxy_temp_path` (default `proxy_temp` under the prefix).
    pub temp_path: Rc<crate::core::file::TempPath>,
    /// What of the client's request goes to the peer.
    pub request: Rc<ProxyRequest>,
    /// `proxy_ignore_client_abort on|off` (default off: a client that
    /// closes ends the exchange with the peer).
    pub ignore_client_abort: bool,
    /// `proxy_ignore_headers` bits ([`ignore`]).
    pub ignore_headers: u16,
    /// `proxy_request_buffering on|off` (default on: the body is read
    /// whole before the peer is contacted).
    pub request_buffering: bool,
    /// The `proxy_ssl_*` settings (and their rustls client configuration
    /// where a `proxy_pass https://…` uses them).
    pub ssl: Rc<super::http_proxy_ssl::ProxySslConf>,
}

impl Default for ProxyConf {
    fn default() -> Self {
        ProxyConf {
            pass: None,
            connect_timeout_ms: PROXY_CONNECT_TIMEOUT_MS,
            read_timeout_ms: PROXY_READ_TIMEOUT_MS,
            send_timeout_ms: PROXY_SEND_TIMEOUT_MS,
            http_11: None,
            next_upstream: next::DEFAULT,
            next_upstream_tries: 0,
            next_upstream_timeout_ms: 0,
            set_headers: Rc::from([]),
            redirect: ProxyRedirect::Default,
            intercept_errors: false,
            hide: Rc::from([]),
            pass_headers: Rc::from([]),
            buffering: Rc::new(ProxyBuffering::default()),
            temp_path: Rc::new(crate::core::file::TempPath::new("proxy_temp".into())),
            request: Rc::new(ProxyRequest {
                method: None,
                pass_headers: true,
                pass_body: true,
                set_body: None,
            }),
            ignore_client_abort: false,
            ignore_headers: 0,
            request_buffering: true,
            ssl: Rc::new(super::http_proxy_ssl::ProxySslConf::defaults()),
        }
    }
}

/// Mirrors ngx_http_proxy_merge_loc_conf() for what holdfast has, with
/// its checks of the buffer sizes against each other.
pub(super) fn merge(raw: RawProxy, parent: &ProxyConf) -> ProxyConf {
    let pb = &parent.buffering;
    let sizes_set = raw.buffer_size.is_some()
        || raw.buffers.is_some()
        || raw.busy_buffers_size.is_some()
        || raw.temp_file_write_size.is_some()
        || raw.max_temp_file_size.is_some()
        || raw.buffering.is_some();
    let buffering = if sizes_set {
        let buffer_size = raw.buffer_size.unwrap_or(pb.buffer_size);
        let buffers = raw.buffers.unwrap_or(pb.buffers);
        let floor = buffer_size.max(buffers.1);
        let b = ProxyBuffering {
            on: raw.buffering.unwrap_or(pb.on),
            buffer_size,
            buffers,
            busy_buffers_size: raw.busy_buffers_size.unwrap_or(
                if raw.buffer_size.is_some() || raw.buffers.is_some() {
                    2 * floor
                } else {
                    pb.busy_buffers_size
                },
            ),
            temp_file_write_size: raw.temp_file_write_size.unwrap_or(
                if raw.buffer_size.is_some() || raw.buffers.is_some() {
                    2 * floor
                } else {
                    pb.temp_file_write_size
                },
            ),
            max_temp_file_size: raw.max_temp_file_size.unwrap_or(pb.max_temp_file_size),
        };
        if let Err(e) = check_buffers(&b, raw.sizes_at.as_ref()) {
            MERGE_ERROR.with(|m| {
                m.borrow_mut().get_or_insert(e);
            });
        }
        Rc::new(b)
    } else {
        parent.buffering.clone()
    };
    let pr = &parent.request;
    let request = if raw.method.is_some()
        || raw.pass_request_headers.is_some()
        || raw.pass_request_body.is_some()
        || raw.set_body.is_some()
    {
        Rc::new(ProxyRequest {
            method: raw.method.map(Rc::from).or_else(|| pr.method.clone()),
            pass_headers: raw.pass_request_headers.unwrap_or(pr.pass_headers),
            pass_body: raw.pass_request_body.unwrap_or(pr.pass_body),
            set_body: raw.set_body.map(Rc::from).or_else(|| pr.set_body.clone()),
        })
    } else {
        parent.request.clone()
    };
    let pass_vars = raw.pass.as_ref().is_some_and(|p| p.vars.is_some());
    // ngx_http_proxy_set_ssl: a TLS context where `https://` (or a URL
    // evaluated per request) needs one.
    let needs_ssl = raw.pass.as_ref().is_some_and(|p| p.ssl || p.vars.is_some());
    let ssl = super::http_proxy_ssl::merge(raw.ssl, &parent.ssl, needs_ssl).unwrap_or_else(|e| {
        MERGE_ERROR.with(|m| {
            m.borrow_mut().get_or_insert(e);
        });
        parent.ssl.clone()
    });
    ProxyConf {
        ssl,
        buffering,
        request,
        temp_path: parent.temp_path.clone(),
        ignore_client_abort: raw
            .ignore_client_abort
            .unwrap_or(parent.ignore_client_abort),
        ignore_headers: raw.ignore_headers.unwrap_or(parent.ignore_headers),
        request_buffering: raw.request_buffering.unwrap_or(parent.request_buffering),
        pass: raw.pass.map(Rc::new),
        connect_timeout_ms: raw.connect_timeout_ms.unwrap_or(parent.connect_timeout_ms),
        read_timeout_ms: raw.read_timeout_ms.unwrap_or(parent.read_timeout_ms),
        send_timeout_ms: raw.send_timeout_ms.unwrap_or(parent.send_timeout_ms),
        http_11: raw.http_11.or(parent.http_11),
        next_upstream: raw.next_upstream.unwrap_or(parent.next_upstream),
        next_upstream_tries: raw
            .next_upstream_tries
            .unwrap_or(parent.next_upstream_tries),
        next_upstream_timeout_ms: raw
            .next_upstream_timeout_ms
            .unwrap_or(parent.next_upstream_timeout_ms),
        set_headers: raw
            .set_headers
            .map_or_else(|| parent.set_headers.clone(), Rc::from),
        // With variables in proxy_pass, `default` has no URL to rewrite
        // (nginx sets no default rule then).
        redirect: match raw.redirect.unwrap_or_else(|| parent.redirect.clone()) {
            ProxyRedirect::Default if pass_vars => ProxyRedirect::Off,
            r => r,
        },
        intercept_errors: raw.intercept_errors.unwrap_or(parent.intercept_errors),
        hide: raw.hide.map_or_else(|| parent.hide.clone(), Rc::from),
        pass_headers: raw
            .pass_headers
            .map_or_else(|| parent.pass_headers.clone(), Rc::from),
    }
}

thread_local! {
    /// The first error of the merges (the merge functions cannot fail;
    /// the http block's build asks for it when all levels are merged).
    static MERGE_ERROR: std::cell::RefCell<Option<ConfError>> =
        const { std::cell::RefCell::new(None) };
}

/// The first buffer-size error the merges found, if any (cleared).
pub(super) fn take_merge_error() -> Option<ConfError> {
    MERGE_ERROR.with(|m| m.borrow_mut().take())
}

/// ngx_http_proxy_merge_loc_conf's checks of the buffer sizes, reported at
/// the last sizing directive of the level (nginx reports them at the end
/// of the block).
fn check_buffers(
    b: &ProxyBuffering,
    at: Option<&(std::path::PathBuf, usize)>,
) -> Result<(), ConfError> {
    let floor = b.buffer_size.max(b.buffers.1);
    let msg = if b.buffers.0 < 2 {
        Some("there must be at least 2 \"proxy_buffers\"".to_string())
    } else if b.busy_buffers_size < floor {
        Some("\"proxy_busy_buffers_size\" must be equal to or greater than the maximum of the value of \"proxy_buffer_size\" and one of the \"proxy_buffers\"".to_string())
    } else if b.busy_buffers_size > (b.buffers.0 - 1) * b.buffers.1 {
        Some("\"proxy_busy_buffers_size\" must be less than the size of all \"proxy_buffers\" minus one buffer".to_string())
    } else if b.temp_file_write_size < floor {
        Some("\"proxy_temp_file_write_size\" must be equal to or greater than the maximum of the value of \"proxy_buffer_size\" and one of the \"proxy_buffers\"".to_string())
    } else if b.max_temp_file_size != 0 && b.max_temp_file_size < floor as u64 {
        Some("\"proxy_max_temp_file_size\" must be equal to zero to disable temporary files usage or must be equal to or greater than the maximum of the value of \"proxy_buffer_size\" and one of the \"proxy_buffers\"".to_string())
    } else {
        None
    };
    match (msg, at) {
        (None, _) => Ok(()),
        (Some(msg), at) => Err(ConfError {
            msg,
            file: at.map(|(f, _)| f.clone()),
            line: at.map_or(0, |(_, l)| *l),
        }),
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
        "proxy_next_upstream_timeout" => msec_slot(&mut raw.next_upstream_timeout_ms, d)?,
        "proxy_read_timeout" => msec_slot(&mut raw.read_timeout_ms, d)?,
        "proxy_send_timeout" => msec_slot(&mut raw.send_timeout_ms, d)?,
        "proxy_next_upstream" => {
            // Mirrors ngx_conf_set_bitmask_slot() with the proxy's masks.
            if raw.next_upstream.is_some() {
                return Err(d.error("\"proxy_next_upstream\" directive is duplicate"));
            }
            let mut bits = 0u16;
            for v in &d.args {
                bits |= match v.as_str() {
                    "error" => next::ERROR,
                    "timeout" => next::TIMEOUT,
                    "invalid_header" => next::INVALID_HEADER,
                    "http_500" => next::HTTP_500,
                    "http_502" => next::HTTP_502,
                    "http_503" => next::HTTP_503,
                    "http_504" => next::HTTP_504,
                    "http_403" => next::HTTP_403,
                    "http_404" => next::HTTP_404,
                    "http_429" => next::HTTP_429,
                    "non_idempotent" => next::NON_IDEMPOTENT,
                    "off" if d.args.len() == 1 => 0,
                    _ => return Err(d.error(format!("invalid value \"{v}\""))),
                };
            }
            raw.next_upstream = Some(bits);
        }
        "proxy_set_header" => {
            let value = super::variables::compile(&d.args[1]).map_err(|e| d.error(e))?;
            raw.set_headers
                .get_or_insert_with(Vec::new)
                .push(ProxyHeader {
                    name: d.args[0].clone(),
                    value,
                });
        }
        "proxy_redirect" => {
            // Mirrors ngx_http_proxy_redirect(): `off` and `default` alone,
            // or lines (`default` among them) tried in order.
            let rule = match d.args.as_slice() {
                [v] if v == "off" => {
                    raw.redirect = Some(ProxyRedirect::Off);
                    return Ok(true);
                }
                [v] if v == "default" => RedirectRule::Default,
                [a, b] => {
                    let to: Rc<[super::variables::Segment]> =
                        Rc::from(super::variables::compile(b).map_err(|e| d.error(e))?);
                    if let Some(re) = a.strip_prefix('~') {
                        let (re, caseless) = match re.strip_prefix('*') {
                            Some(re) => (re, true),
                            None => (re, false),
                        };
                        let re = super::http_rewrite::compile_regex(re, caseless)
                            .map_err(|e| d.error(format!("{e}")))?;
                        RedirectRule::Regex {
                            re: RedirectRegex(Rc::new(re)),
                            to,
                        }
                    } else {
                        RedirectRule::Text {
                            from: Rc::from(super::variables::compile(a).map_err(|e| d.error(e))?),
                            to,
                        }
                    }
                }
                _ => return Err(d.error(format!("invalid parameter \"{}\"", d.args[0]))),
            };
            match raw.redirect.get_or_insert(ProxyRedirect::Rules(Vec::new())) {
                ProxyRedirect::Rules(rules) => rules.push(rule),
                r => *r = ProxyRedirect::Rules(vec![rule]),
            }
        }
        "proxy_intercept_errors" => super::command::flag_slot(&mut raw.intercept_errors, d)?,
        "proxy_buffering" => super::command::flag_slot(&mut raw.buffering, d)?,
        "proxy_request_buffering" => super::command::flag_slot(&mut raw.request_buffering, d)?,
        "proxy_buffers" => {
            super::command::once(&raw.buffers, d)?;
            let n = super::command::number(d, 0)?;
            let size = super::command::size(d, 1)?;
            if n == 0 {
                return Err(d.error(format!("invalid value \"{}\"", d.args[0])));
            }
            raw.buffers = Some((n as usize, size));
            raw.sizes_at = Some((d.file.to_path_buf(), d.line));
        }
        "proxy_buffer_size" | "proxy_busy_buffers_size" | "proxy_temp_file_write_size" => {
            let slot = match d.name.as_str() {
                "proxy_buffer_size" => &mut raw.buffer_size,
                "proxy_busy_buffers_size" => &mut raw.busy_buffers_size,
                _ => &mut raw.temp_file_write_size,
            };
            super::command::once(slot, d)?;
            *slot = Some(super::command::size(d, 0)?);
            raw.sizes_at = Some((d.file.to_path_buf(), d.line));
        }
        "proxy_max_temp_file_size" => {
            super::command::once(&raw.max_temp_file_size, d)?;
            raw.max_temp_file_size = Some(super::command::size_or_zero(d, 0)? as u64);
            raw.sizes_at = Some((d.file.to_path_buf(), d.line));
        }
        "proxy_method" => {
            super::command::once(&raw.method, d)?;
            raw.method = Some(super::variables::compile(&d.args[0]).map_err(|e| d.error(e))?);
        }
        "proxy_set_body" => {
            super::command::once(&raw.set_body, d)?;
            raw.set_body = Some(super::variables::compile(&d.args[0]).map_err(|e| d.error(e))?);
        }
        "proxy_pass_request_headers" => {
            super::command::flag_slot(&mut raw.pass_request_headers, d)?
        }
        "proxy_pass_request_body" => super::command::flag_slot(&mut raw.pass_request_body, d)?,
        "proxy_ignore_headers" => {
            // Mirrors ngx_conf_set_bitmask_slot() with nginx's names.
            super::command::once(&raw.ignore_headers, d)?;
            let mut bits = 0u16;
            for v in &d.args {
                bits |= match v.to_ascii_lowercase().as_str() {
                    "x-accel-redirect" => ignore::XA_REDIRECT,
                    "x-accel-expires" => ignore::XA_EXPIRES,
                    "x-accel-limit-rate" => ignore::XA_LIMIT_RATE,
                    "x-accel-buffering" => ignore::XA_BUFFERING,
                    "x-accel-charset" => ignore::XA_CHARSET,
                    "expires" => ignore::EXPIRES,
                    "cache-control" => ignore::CACHE_CONTROL,
                    "set-cookie" => ignore::SET_COOKIE,
                    "vary" => ignore::VARY,
                    _ => return Err(d.error(format!("invalid value \"{v}\""))),
                };
            }
            raw.ignore_headers = Some(bits);
        }
        "proxy_ignore_client_abort" => super::command::flag_slot(&mut raw.ignore_client_abort, d)?,
        "proxy_hide_header" => raw
            .hide
            .get_or_insert_with(Vec::new)
            .push(d.args[0].to_ascii_lowercase()),
        "proxy_pass_header" => raw
            .pass_headers
            .get_or_insert_with(Vec::new)
            .push(d.args[0].to_ascii_lowercase()),
        "proxy_next_upstream_tries" => {
            if raw.next_upstream_tries.is_some() {
                return Err(d.error("\"proxy_next_upstream_tries\" directive is duplicate"));
            }
            raw.next_upstream_tries = Some(super::command::number(d, 0)?);
        }
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
        // Evaluated per request (ngx_http_proxy_eval), a host name
        // resolved then with the location's `resolver`.
        let vars = super::variables::compile(url).map_err(|e| d.error(e))?;
        return Ok(ProxyPass {
            addr: PeerAddr::Inet(SocketAddr::from(([0, 0, 0, 0], 0))),
            host: String::new(),
            uri: None,
            upstream: None,
            vars: Some(vars),
            uri_verbatim: false,
            ssl: false,
        });
    }
    let lower = url.to_ascii_lowercase();
    let (rest, ssl) = if lower.starts_with("http://") {
        (&url[7..], false)
    } else if lower.starts_with("https://") {
        (&url[8..], true)
    } else {
        return Err(d.error(format!("invalid URL prefix in \"{url}\"")));
    };
    if rest
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("unix:"))
    {
        // ngx_parse_unix_domain_url(): `unix:PATH[:URI]`, the Host header
        // `localhost`.
        let Some((addr, uri)) = crate::os::net::parse_unix_url(&rest[5..]) else {
            return Err(d.error(format!("no path in the unix domain socket in \"{url}\"")));
        };
        return Ok(ProxyPass {
            addr,
            host: "localhost".to_string(),
            uri,
            upstream: None,
            vars: None,
            uri_verbatim: false,
            ssl,
        });
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
        let first = u.servers.first().map(|s| s.addr.clone());
        return Ok(ProxyPass {
            addr: first.unwrap_or_else(|| PeerAddr::Inet(SocketAddr::from(([0, 0, 0, 0], 0)))),
            host: host.to_string(),
            uri,
            upstream: index,
            vars: None,
            uri_verbatim: false,
            ssl,
        });
    }
    let with_port = if has_port {
        host.to_string()
    } else {
        format!("{host}:{}", if ssl { 443 } else { 80 })
    };
    let addr = with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| d.error(format!("host not found in upstream \"{host}\"")))?;
    Ok(ProxyPass {
        addr: PeerAddr::Inet(addr),
        host: host.to_string(),
        uri,
        upstream: None,
        vars: None,
        uri_verbatim: false,
        ssl,
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
        // `https://`: port 443 by default, a client configuration built
        // (without SNI, as nginx's default); inherited settings shared.
        let s = server(
            "proxy_ssl_server_name on; location / { proxy_pass https://127.0.0.1; }\n\
             location /b { proxy_pass https://127.0.0.1:8443; }",
        );
        let l = s.loc_conf(b"/");
        let p = l.proxy.pass.clone().unwrap();
        assert!(p.ssl);
        assert_eq!(p.addr.to_string(), "127.0.0.1:443");
        let config = l.proxy.ssl.client_config().expect("a client configuration");
        assert!(config.enable_sni);
        let other = s.loc_conf(b"/b").proxy.ssl.client_config().unwrap();
        assert!(std::sync::Arc::ptr_eq(&config, &other));
        let s = server("location / { proxy_pass http://127.0.0.1; }");
        assert!(s.loc_conf(b"/").proxy.ssl.client_config().is_none());
        assert_err(
            &wrap("proxy_pass 127.0.0.1;"),
            "invalid URL prefix in \"127.0.0.1\"",
            4,
        );
        assert_err(&wrap("proxy_pass http://;"), "no host in \"http://\"", 4);
        assert_err(
            &wrap("proxy_pass http://$nosuch;"),
            "unknown \"nosuch\" variable",
            4,
        );
        let s = server("location / { proxy_pass http://$host:81/x; }");
        let c = s.loc_conf(b"/");
        assert!(c.proxy.pass.as_ref().unwrap().vars.is_some());
        assert_eq!(c.proxy.redirect, super::ProxyRedirect::Off);
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

#[cfg(test)]
mod buffering_tests {
    use crate::conf::testutil::{assert_err, conf};

    #[test]
    fn buffering_directives_are_checked() {
        let c = conf(
            "http { server { location / { proxy_pass http://127.0.0.1; proxy_buffering on; \
             proxy_buffers 8 4k; proxy_buffer_size 8k; proxy_request_buffering on; } } }",
        );
        assert!(c.http.is_some());
        let wrap = |body: &str| format!("http {{\nserver {{\nlocation / {{\n{body}\n}}\n}}\n}}");
        assert_err(
            &wrap("proxy_buffers 8 x;"),
            "\"proxy_buffers\" directive invalid value",
            4,
        );
        assert_err(
            &wrap("proxy_buffering maybe;"),
            "invalid value \"maybe\" in \"proxy_buffering\" directive, it must be \"on\" or \"off\"",
            4,
        );
    }
}

impl super::build::Builder<'_> {
    /// [`directive`], recording the implicit upstream a `proxy_pass`
    /// without variables to an address defines.
    pub(super) fn proxy_directive(
        &self,
        d: &Directive,
        raw: &mut RawProxy,
    ) -> Result<bool, ConfError> {
        let had = raw.pass.is_some();
        let ok = directive(d, raw, &self.upstreams.borrow())?
            || super::http_proxy_ssl::directive(d, &mut raw.ssl, |v| self.path(v))?;
        if let Some(p) = raw.pass.as_ref().filter(|p| {
            !had && p.vars.is_none() && p.upstream.is_none() && matches!(p.addr, PeerAddr::Inet(_))
        }) {
            let host = p.host.to_ascii_lowercase();
            let default_port = if p.ssl { 443 } else { 80 };
            let (host, port) = match host.rsplit_once(':') {
                Some((h, port)) if !h.is_empty() => match port.parse::<u16>() {
                    Ok(n) => (h.to_string(), n),
                    Err(_) => (host.clone(), default_port),
                },
                _ => (host.clone(), default_port),
            };
            self.implicit.borrow_mut().push(super::ImplicitUpstream {
                host,
                port,
                addr: p.addr.clone(),
            });
        }
        Ok(ok)
    }
}
