//! The http block: ngx_http_core_module's directives (`http/ngx_http.c`,
//! `http/ngx_http_core_module.c`) and `index` (ngx_http_index_module), with
//! the http → server → location merge.
//!
//! Each level is first collected "as written" ([`RawLoc`], where `None` plays
//! nginx's NGX_CONF_UNSET), so that a directive written after a nested block
//! still applies to it, and merged once the whole `http` block has been read
//! (ngx_http_core_merge_loc_conf). The other http modules keep their part of
//! a level in a field of [`RawLoc`] and merge it in their own file.

use super::build::Builder;
use super::command::{
    ANY_HTTP, Command, HTTP, LIF, LOC, MANY, SRV, bad, block, check, cmd, enum_value, flag_slot,
    msec, msec_slot, num_slot, number, once, size, size_or_zero, unknown,
};
use super::http_core_loc::{self, Alias, RawLocation, merge_location};
use super::http_core_sizes::{
    CONNECTION_POOL_SIZE, HashSizes, RawHttpMain, hash_bucket_size, hash_max_size,
    http_main_directive, pool_size,
};
use super::listen::{self, ListenAt};
use super::parser::Directive;
use super::values::{parse_number, parse_size, parse_time_s};
use super::{
    CLIENT_BODY_BUFFER_SIZE, CLIENT_BODY_TIMEOUT_MS, CLIENT_HEADER_BUFFER_SIZE,
    CLIENT_HEADER_TIMEOUT_MS, CLIENT_MAX_BODY_SIZE, ClientBodyConf, ConfError, ErrorLog, HttpConf,
    InFileOnly, KEEPALIVE_REQUESTS, KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, KeepaliveDisable,
    LARGE_CLIENT_HEADER_BUFFERS, LINGERING_TIME_MS, LINGERING_TIMEOUT_MS, LingeringClose, LocConf,
    Location, LocationMatch, OpenFileCacheConf, SEND_TIMEOUT_MS, SENDFILE_MAX_CHUNK, ServerConf,
    Types,
};
use super::{http_headers, http_log, http_rewrite, http_stub_status, http_temp};
use crate::core::file::TempPath;
use std::path::PathBuf;
use std::rc::Rc;

/// The directives of ngx_http_core_module (and ngx_http_index_module's `index`).
pub(super) static COMMANDS: &[Command] = &[
    cmd("server", HTTP, true, 0, 0),
    cmd("listen", SRV, false, 1, MANY),
    cmd("server_name", SRV, false, 1, MANY),
    cmd("location", SRV | LOC, true, 1, 2),
    cmd("client_header_timeout", HTTP | SRV, false, 1, 1),
    cmd("merge_slashes", HTTP | SRV, false, 1, 1),
    cmd("client_header_buffer_size", HTTP | SRV, false, 1, 1),
    cmd("large_client_header_buffers", HTTP | SRV, false, 2, 2),
    cmd("connection_pool_size", HTTP | SRV, false, 1, 1),
    cmd("request_pool_size", HTTP | SRV, false, 1, 1),
    cmd("server_names_hash_max_size", HTTP, false, 1, 1),
    cmd("server_names_hash_bucket_size", HTTP, false, 1, 1),
    cmd("variables_hash_max_size", HTTP, false, 1, 1),
    cmd("variables_hash_bucket_size", HTTP, false, 1, 1),
    cmd("map_hash_max_size", HTTP, false, 1, 1),
    cmd("map_hash_bucket_size", HTTP, false, 1, 1),
    cmd("types_hash_max_size", ANY_HTTP, false, 1, 1),
    cmd("types_hash_bucket_size", ANY_HTTP, false, 1, 1),
    cmd("root", ANY_HTTP | LIF, false, 1, 1),
    cmd("alias", LOC, false, 1, 1),
    cmd("try_files", SRV | LOC, false, 2, MANY),
    cmd("error_page", ANY_HTTP | LIF, false, 2, MANY),
    cmd("recursive_error_pages", ANY_HTTP, false, 1, 1),
    cmd("client_body_buffer_size", ANY_HTTP, false, 1, 1),
    cmd("client_body_in_file_only", ANY_HTTP, false, 1, 1),
    cmd("client_body_in_single_buffer", ANY_HTTP, false, 1, 1),
    cmd("index", ANY_HTTP, false, 1, MANY),
    cmd("types", ANY_HTTP, true, 0, 0),
    cmd("default_type", ANY_HTTP, false, 1, 1),
    cmd("keepalive_timeout", ANY_HTTP, false, 1, 2),
    cmd("keepalive_requests", ANY_HTTP, false, 1, 1),
    cmd("keepalive_time", ANY_HTTP, false, 1, 1),
    cmd("keepalive_disable", ANY_HTTP, false, 1, 2),
    cmd("send_timeout", ANY_HTTP, false, 1, 1),
    cmd("server_tokens", ANY_HTTP, false, 1, 1),
    cmd("if_modified_since", ANY_HTTP, false, 1, 1),
    cmd("etag", ANY_HTTP, false, 1, 1),
    cmd("max_ranges", ANY_HTTP, false, 1, 1),
    cmd("client_max_body_size", ANY_HTTP, false, 1, 1),
    cmd("client_body_timeout", ANY_HTTP, false, 1, 1),
    cmd("lingering_close", ANY_HTTP, false, 1, 1),
    cmd("lingering_time", ANY_HTTP, false, 1, 1),
    cmd("lingering_timeout", ANY_HTTP, false, 1, 1),
    cmd("reset_timedout_connection", ANY_HTTP, false, 1, 1),
    cmd("sendfile", ANY_HTTP | LIF, false, 1, 1),
    cmd("absolute_redirect", ANY_HTTP, false, 1, 1),
    cmd("log_not_found", ANY_HTTP, false, 1, 1),
    cmd("internal", LOC, false, 0, 0),
    cmd("server_name_in_redirect", ANY_HTTP, false, 1, 1),
    cmd("port_in_redirect", ANY_HTTP, false, 1, 1),
    cmd("sendfile_max_chunk", ANY_HTTP, false, 1, 1),
    cmd("tcp_nopush", ANY_HTTP, false, 1, 1),
    cmd("tcp_nodelay", ANY_HTTP, false, 1, 1),
    cmd("limit_rate", ANY_HTTP | LIF, false, 1, 1),
    cmd("limit_rate_after", ANY_HTTP | LIF, false, 1, 1),
    cmd("open_file_cache", ANY_HTTP, false, 1, 2),
    cmd("open_file_cache_valid", ANY_HTTP, false, 1, 1),
    cmd("open_file_cache_min_uses", ANY_HTTP, false, 1, 1),
    cmd("open_file_cache_errors", ANY_HTTP, false, 1, 1),
    cmd("disable_symlinks", ANY_HTTP, false, 1, 2),
];

// keepalive_disable bits (nginx's NGX_HTTP_KEEPALIVE_DISABLE_*).
const KA_NONE: u8 = 0x01;
const KA_MSIE6: u8 = 0x02;
const KA_SAFARI: u8 = 0x04;

/// Header buffers are allocated per busy connection, and a failed
/// allocation aborts a Rust process: sizes above this are refused when the
/// configuration is read (nginx would fail each request instead).
pub(super) const MAX_HEADER_BUFFER_BYTES: usize = 64 * 1024 * 1024;

/// One level's location settings as written, before the merge: the core
/// module's fields, then each other module's part.
#[derive(Debug, Default)]
pub(super) struct RawLoc {
    root: Option<PathBuf>,
    index: Option<Vec<super::IndexName>>,
    types: Option<Types>,
    default_type: Option<Rc<str>>,
    keepalive_timeout_ms: Option<u64>,
    keepalive_header_s: Option<u64>,
    keepalive_requests: Option<u64>,
    keepalive_time_ms: Option<u64>,
    /// `KA_*` bits; `Some(KA_NONE)` after `keepalive_disable none`.
    keepalive_disable: Option<u8>,
    send_timeout_ms: Option<u64>,
    server_tokens: Option<bool>,
    if_modified_since: Option<super::IfModifiedSince>,
    etag: Option<bool>,
    max_ranges: Option<u64>,
    client_max_body_size: Option<u64>,
    client_body_timeout_ms: Option<u64>,
    lingering_close: Option<LingeringClose>,
    lingering_time_ms: Option<u64>,
    lingering_timeout_ms: Option<u64>,
    reset_timedout_connection: Option<bool>,
    sendfile: Option<bool>,
    absolute_redirect: Option<bool>,
    log_not_found: Option<bool>,
    internal: bool,
    server_name_in_redirect: Option<bool>,
    port_in_redirect: Option<bool>,
    sendfile_max_chunk: Option<u64>,
    tcp_nopush: Option<bool>,
    tcp_nodelay: Option<bool>,
    limit_rate: Option<RateValue>,
    limit_rate_after: Option<RateValue>,
    /// `Some(None)` is `open_file_cache off`.
    open_file_cache: Option<Option<(usize, u64)>>,
    open_file_cache_valid_s: Option<u64>,
    open_file_cache_min_uses: Option<u64>,
    open_file_cache_errors: Option<bool>,
    disable_symlinks: Option<super::DisableSymlinksConf>,
    types_hash: HashSizes,
    error_log: Vec<ErrorLog>,
    /// ngx_http_log_module's part.
    pub(super) log: http_log::RawAccessLog,
    /// ngx_http_headers_filter_module's part.
    pub(super) headers: http_headers::RawHeaders,
    /// The compression modules' part.
    pub(super) gzip: super::http_gzip::RawGzip,
    /// ngx_http_ssl_module's part.
    pub(super) ssl: super::http_ssl::RawSsl,
    /// ngx_http_rewrite_module's part.
    pub(super) rewrite: http_rewrite::RawRewrite,
    /// ngx_http_access_module's part.
    access: Option<Vec<super::AccessRule>>,
    /// ngx_http_proxy_module's part.
    proxy: super::http_proxy::RawProxy,
    /// `resolver` and `resolver_timeout`.
    resolver: super::resolver::RawResolver,
    /// ngx_http_stub_status_module's part.
    pub(super) stub_status: bool,
    /// ngx_http_connection_status_module's part (holdfast's own).
    pub(super) connection_status: bool,
    /// ngx_http_charset_module's part.
    pub(super) charset: super::http_charset::RawCharset,
    /// ngx_http_autoindex_module's part.
    autoindex: super::http_autoindex::RawAutoindex,
    /// The temp-path directives (see `http_temp.rs`).
    pub(super) temp: http_temp::RawTemp,
    client_body_buffer_size: Option<usize>,
    client_body_in_file_only: Option<InFileOnly>,
    /// `alias`, `try_files`, `error_page` (see `http_core_loc.rs`).
    pub(super) phases: http_core_loc::RawPhases,
    /// What the `alias` of this level means (set by the location block).
    pub(super) alias_kind: Alias,
    /// `root`/`alias` with variables.
    root_vars: Option<Vec<super::variables::Segment>>,
    /// A location's name (set by the location block; None for the http and
    /// server levels and `if` blocks).
    pub(super) name: Option<Rc<str>>,
}

/// `limit_rate` / `limit_rate_after` as written: a size or variables.
#[derive(Debug, Clone)]
enum RateValue {
    Fixed(u64),
    Vars(Rc<[super::variables::Segment]>),
}

/// Per-level server settings (http or server) as written, before the merge.
#[derive(Debug, Default, Clone, Copy)]
struct RawSrv {
    client_header_timeout_ms: Option<u64>,
    merge_slashes: Option<bool>,
    client_header_buffer_size: Option<usize>,
    large_client_header_buffers: Option<(usize, usize)>,
    connection_pool_size: Option<usize>,
    request_pool_size: Option<usize>,
}

#[derive(Debug, Default)]
struct RawServer {
    listens: Vec<ListenAt>,
    names: Vec<String>,
    srv: RawSrv,
    loc: RawLoc,
    locations: Vec<RawLocation>,
    named: Vec<RawLocation>,
    name_regexes: Vec<super::LocRegex>,
}

/// Mirrors ngx_http_core_create_loc_conf() + the defaults of its merge: the
/// location settings when nothing is set anywhere.
fn defaults(b: &Builder<'_>) -> LocConf {
    LocConf {
        root: b.path("html"),
        index: vec![super::IndexName {
            name: "index.html".to_string(),
            vars: None,
        }],
        name: Rc::from(""),
        alias: Alias::Root,
        root_vars: None,
        rewrite: None,
        rewrite_log: false,
        uninitialized_variable_warn: true,
        try_files: None,
        error_pages: Rc::from([]),
        recursive_error_pages: false,
        access: Rc::from([]),
        resolver: None,
        resolver_timeout_ms: super::resolver::RESOLVER_TIMEOUT_MS,
        proxy: super::http_proxy::ProxyConf {
            temp_path: Rc::new(TempPath::new(b.path("proxy_temp"))),
            ..Default::default()
        },
        types: Rc::new(builtin_types()),
        default_type: Rc::from("text/plain"),
        keepalive_timeout_ms: KEEPALIVE_TIMEOUT_MS,
        keepalive_header_s: None,
        keepalive_requests: KEEPALIVE_REQUESTS,
        keepalive_time_ms: KEEPALIVE_TIME_MS,
        send_timeout_ms: SEND_TIMEOUT_MS,
        server_tokens: true,
        if_modified_since: super::IfModifiedSince::Exact,
        etag: true,
        max_ranges: None,
        client_max_body_size: CLIENT_MAX_BODY_SIZE,
        client_body_timeout_ms: CLIENT_BODY_TIMEOUT_MS,
        lingering_close: LingeringClose::On,
        lingering_time_ms: LINGERING_TIME_MS,
        lingering_timeout_ms: LINGERING_TIMEOUT_MS,
        reset_timedout_connection: false,
        keepalive_disable: KeepaliveDisable::default(),
        sendfile: false,
        absolute_redirect: true,
        log_not_found: true,
        internal: false,
        server_name_in_redirect: false,
        port_in_redirect: true,
        sendfile_max_chunk: SENDFILE_MAX_CHUNK,
        tcp_nopush: false,
        tcp_nodelay: true,
        limit_rate: 0,
        limit_rate_after: 0,
        limit_rate_vars: None,
        limit_rate_after_vars: None,
        open_file_cache: None,
        disable_symlinks: Default::default(),
        charset: super::http_charset::default_conf(),
        error_log: b.main_error_log.borrow().clone(),
        stub_status: false,
        connection_status: false,
        add_headers: Rc::from([]),
        expires: None,
        gzip: Rc::new(super::http_gzip::GzipConf::default()),
        ssl: None,
        client_body: Rc::new(ClientBodyConf {
            temp_path: TempPath::new(b.path("client_body_temp")),
            buffer_size: CLIENT_BODY_BUFFER_SIZE,
            in_file_only: InFileOnly::Off,
        }),
        access_log: Rc::from([]),
        autoindex: Default::default(),
    }
}

/// Mirrors ngx_http_core_merge_loc_conf() and the other modules' merges:
/// unset values come from the parent.
fn merge_loc(mut raw: RawLoc, parent: &LocConf) -> LocConf {
    let codes = std::mem::take(&mut raw.rewrite.codes);
    let (rewrite_log, uninitialized_variable_warn) =
        http_rewrite::merge_flags(&raw.rewrite, parent);
    let (root, root_vars, alias) = if raw.root.is_some() || raw.root_vars.is_some() {
        (
            raw.root.take().unwrap_or_else(|| parent.root.clone()),
            raw.root_vars.take().map(Rc::from),
            if raw.phases.alias.is_some() {
                raw.alias_kind
            } else {
                Alias::Root
            },
        )
    } else {
        (parent.root.clone(), parent.root_vars.clone(), parent.alias)
    };
    let phases = std::mem::take(&mut raw.phases);
    let name = raw.name.take();
    let in_location = name.is_some();
    let mut conf = merge_loc_values(raw, parent);
    if let Some(name) = name {
        conf.name = name;
    }
    conf.root = root;
    conf.root_vars = root_vars;
    conf.alias = alias;
    conf.rewrite_log = rewrite_log;
    conf.uninitialized_variable_warn = uninitialized_variable_warn;
    conf.try_files = phases.try_files.map(Rc::new);
    conf.error_pages = match phases.error_pages {
        Some(p) => Rc::from(p),
        None => parent.error_pages.clone(),
    };
    conf.recursive_error_pages = phases
        .recursive_error_pages
        .unwrap_or(parent.recursive_error_pages);
    if !codes.is_empty() {
        conf.rewrite = Some(http_rewrite::finish(codes, &conf, in_location, &merge_loc));
    }
    conf
}

/// The plain inherited values of [`merge_loc`].
fn merge_loc_values(mut raw: RawLoc, parent: &LocConf) -> LocConf {
    let mut proxy = super::http_proxy::merge(raw.proxy, &parent.proxy);
    let (resolver, resolver_timeout_ms) =
        super::resolver::merge(raw.resolver, (&parent.resolver, parent.resolver_timeout_ms));
    if let Some(t) = raw.temp.proxy {
        proxy.temp_path = Rc::new(t);
    }
    let client_body = if raw.temp.client_body.is_some()
        || raw.client_body_buffer_size.is_some()
        || raw.client_body_in_file_only.is_some()
    {
        let p = &parent.client_body;
        Rc::new(ClientBodyConf {
            temp_path: raw.temp.client_body.unwrap_or_else(|| p.temp_path.clone()),
            buffer_size: raw.client_body_buffer_size.unwrap_or(p.buffer_size),
            in_file_only: raw.client_body_in_file_only.unwrap_or(p.in_file_only),
        })
    } else {
        parent.client_body.clone()
    };
    let open_file_cache = match raw.open_file_cache {
        Some(None) => None,
        Some(Some((max, inactive_ms))) => Some((max, inactive_ms)),
        None => parent
            .open_file_cache
            .as_ref()
            .map(|o| (o.max, o.inactive_ms)),
    }
    .map(|(max, inactive_ms)| {
        let p = parent.open_file_cache.as_ref();
        Rc::new(OpenFileCacheConf {
            max,
            inactive_ms,
            valid_ms: raw
                .open_file_cache_valid_s
                .map(|s| s * 1000)
                .or(p.map(|p| p.valid_ms))
                .unwrap_or(60_000),
            min_uses: raw
                .open_file_cache_min_uses
                .or(p.map(|p| p.min_uses))
                .unwrap_or(1),
            errors: raw
                .open_file_cache_errors
                .or(p.map(|p| p.errors))
                .unwrap_or(false),
        })
    });
    LocConf {
        root: parent.root.clone(),
        index: raw.index.unwrap_or_else(|| parent.index.clone()),
        name: parent.name.clone(),
        alias: parent.alias,
        root_vars: None,
        rewrite: None,
        rewrite_log: parent.rewrite_log,
        uninitialized_variable_warn: parent.uninitialized_variable_warn,
        try_files: None,
        error_pages: parent.error_pages.clone(),
        recursive_error_pages: parent.recursive_error_pages,
        access: raw.access.map_or_else(|| parent.access.clone(), Rc::from),
        proxy,
        resolver,
        resolver_timeout_ms,
        types: raw.types.map_or_else(|| parent.types.clone(), Rc::new),
        default_type: raw
            .default_type
            .unwrap_or_else(|| parent.default_type.clone()),
        keepalive_timeout_ms: raw
            .keepalive_timeout_ms
            .unwrap_or(parent.keepalive_timeout_ms),
        // Merged on its own, as nginx does: `keepalive_timeout 10s;` under
        // `keepalive_timeout 75s 60;` keeps the header value 60.
        keepalive_header_s: raw.keepalive_header_s.or(parent.keepalive_header_s),
        keepalive_requests: raw.keepalive_requests.unwrap_or(parent.keepalive_requests),
        keepalive_time_ms: raw.keepalive_time_ms.unwrap_or(parent.keepalive_time_ms),
        send_timeout_ms: raw.send_timeout_ms.unwrap_or(parent.send_timeout_ms),
        server_tokens: raw.server_tokens.unwrap_or(parent.server_tokens),
        if_modified_since: raw.if_modified_since.unwrap_or(parent.if_modified_since),
        etag: raw.etag.unwrap_or(parent.etag),
        max_ranges: raw.max_ranges.or(parent.max_ranges),
        client_max_body_size: raw
            .client_max_body_size
            .unwrap_or(parent.client_max_body_size),
        client_body_timeout_ms: raw
            .client_body_timeout_ms
            .unwrap_or(parent.client_body_timeout_ms),
        lingering_close: raw.lingering_close.unwrap_or(parent.lingering_close),
        lingering_time_ms: raw.lingering_time_ms.unwrap_or(parent.lingering_time_ms),
        lingering_timeout_ms: raw
            .lingering_timeout_ms
            .unwrap_or(parent.lingering_timeout_ms),
        reset_timedout_connection: raw
            .reset_timedout_connection
            .unwrap_or(parent.reset_timedout_connection),
        keepalive_disable: raw.keepalive_disable.map_or(parent.keepalive_disable, |m| {
            KeepaliveDisable {
                msie6: m & KA_MSIE6 != 0,
                safari: m & KA_SAFARI != 0,
            }
        }),
        sendfile: raw.sendfile.unwrap_or(parent.sendfile),
        absolute_redirect: raw.absolute_redirect.unwrap_or(parent.absolute_redirect),
        log_not_found: raw.log_not_found.unwrap_or(parent.log_not_found),
        // Not inherited: it marks the location it is written in.
        internal: raw.internal,
        server_name_in_redirect: raw
            .server_name_in_redirect
            .unwrap_or(parent.server_name_in_redirect),
        port_in_redirect: raw.port_in_redirect.unwrap_or(parent.port_in_redirect),
        sendfile_max_chunk: raw.sendfile_max_chunk.unwrap_or(parent.sendfile_max_chunk),
        tcp_nopush: raw.tcp_nopush.unwrap_or(parent.tcp_nopush),
        tcp_nodelay: raw.tcp_nodelay.unwrap_or(parent.tcp_nodelay),
        limit_rate: match &raw.limit_rate {
            Some(RateValue::Fixed(n)) => *n,
            Some(RateValue::Vars(_)) => 0,
            None => parent.limit_rate,
        },
        limit_rate_vars: match raw.limit_rate {
            Some(RateValue::Vars(v)) => Some(v),
            Some(RateValue::Fixed(_)) => None,
            None => parent.limit_rate_vars.clone(),
        },
        limit_rate_after: match &raw.limit_rate_after {
            Some(RateValue::Fixed(n)) => *n,
            Some(RateValue::Vars(_)) => 0,
            None => parent.limit_rate_after,
        },
        limit_rate_after_vars: match raw.limit_rate_after {
            Some(RateValue::Vars(v)) => Some(v),
            Some(RateValue::Fixed(_)) => None,
            None => parent.limit_rate_after_vars.clone(),
        },
        open_file_cache,
        disable_symlinks: raw
            .disable_symlinks
            .unwrap_or_else(|| parent.disable_symlinks.clone()),
        charset: super::http_charset::merge(raw.charset, &parent.charset),
        error_log: if raw.error_log.is_empty() {
            parent.error_log.clone()
        } else {
            Rc::from(raw.error_log)
        },
        // Not inherited: nginx sets the level's content handler.
        stub_status: raw.stub_status,
        connection_status: raw.connection_status,
        gzip: super::http_gzip::merge(std::mem::take(&mut raw.gzip), &parent.gzip),
        ssl: super::http_ssl::merge(std::mem::take(&mut raw.ssl), &parent.ssl),
        expires: http_headers::merge_expires(raw.headers.expires.take(), &parent.expires),
        add_headers: http_headers::merge(raw.headers, &parent.add_headers),
        access_log: http_log::merge(raw.log, &parent.access_log),
        client_body,
        autoindex: super::http_autoindex::merge(raw.autoindex, &parent.autoindex),
    }
}

/// Mirrors ngx_http_core_merge_srv_conf() for the server-level values.
fn merge_srv(raw: RawSrv, parent: RawSrv) -> RawSrv {
    RawSrv {
        client_header_timeout_ms: raw
            .client_header_timeout_ms
            .or(parent.client_header_timeout_ms),
        merge_slashes: raw.merge_slashes.or(parent.merge_slashes),
        client_header_buffer_size: raw
            .client_header_buffer_size
            .or(parent.client_header_buffer_size),
        large_client_header_buffers: raw
            .large_client_header_buffers
            .or(parent.large_client_header_buffers),
        connection_pool_size: raw.connection_pool_size.or(parent.connection_pool_size),
        request_pool_size: raw.request_pool_size.or(parent.request_pool_size),
    }
}

/// The MIME types nginx uses when no `types` block is given anywhere.
pub(super) fn builtin_types() -> Types {
    let mut t = Types::default();
    for (ext, ty) in [
        ("html", "text/html"),
        ("gif", "image/gif"),
        ("jpg", "image/jpeg"),
    ] {
        t.by_ext.insert(ext.to_string(), Rc::from(ty));
    }
    t
}

impl Builder<'_> {
    /// Mirrors ngx_http_block(): reads the servers, then merges every level.
    pub(super) fn http(&self, d: &Directive) -> Result<HttpConf, ConfError> {
        super::http_charset::start();
        let mut loc = RawLoc::default();
        let mut srv = RawSrv::default();
        let mut main = RawHttpMain::default();
        let mut servers = Vec::new();
        let mut maps = Vec::new();
        // The upstream blocks first: a proxy_pass may name one written later.
        let mut upstreams = Vec::new();
        for c in block(d).iter().filter(|c| c.name == "upstream") {
            check(c, HTTP)?;
            super::http_upstream::add_upstream(&mut upstreams, c)?;
        }
        self.upstreams.replace(upstreams);
        for c in block(d) {
            check(c, HTTP)?;
            if c.name == "upstream" {
                continue;
            }
            if c.name == "server" {
                servers.push(self.server(c)?);
            } else if c.name == "map" {
                maps.push(Rc::new(super::http_map::map_block(c)?));
            } else if c.name == "charset_map" {
                super::http_charset_map::charset_map_block(c)?;
            } else if !http_main_directive(c, &mut main)? && !srv_directive(c, &mut srv)? {
                self.loc_directive(c, &mut loc)?;
            }
        }
        let mut listens: Vec<Vec<ListenAt>> = servers
            .iter_mut()
            .map(|s| std::mem::take(&mut s.listens))
            .collect();
        listen::check_listens(&mut listens)?;

        // ngx_http_core_merge_srv_conf: a large header buffer must hold at
        // least the connection pool (nginx reports it at the end of `http`).
        for raw in servers.iter().map(|s| &s.srv).chain([&srv]) {
            let s = merge_srv(*raw, srv);
            let large = s
                .large_client_header_buffers
                .unwrap_or(LARGE_CLIENT_HEADER_BUFFERS)
                .1;
            if large < s.connection_pool_size.unwrap_or(CONNECTION_POOL_SIZE) {
                return Err(d.error(
                    "the \"large_client_header_buffers\" size must be equal to or \
                     greater than \"connection_pool_size\"",
                ));
            }
        }
        let defaults = defaults(self);
        // A failed merge of an earlier configuration test left nothing.
        let _ = super::http_proxy::take_merge_error();
        let _ = super::http_charset::take_merge_error();
        let http_loc = merge_loc(loc, &defaults);
        let mut ssl_error = None;
        let mut no_certificate = Vec::new();
        let servers = servers
            .into_iter()
            .zip(listens)
            .enumerate()
            .map(|(no_certificate_server, (raw, listens))| {
                let conf = Rc::new(merge_loc(raw.loc, &http_loc));
                // ngx_http_ssl_init: an `ssl` listener's servers need a
                // certificate (and each certificate its key).
                if ssl_error.is_none()
                    && let Some(l) = listens.iter().find(|l| l.listen.ssl)
                {
                    let ssl = conf.ssl.as_deref();
                    if let Some((file, line)) = ssl.and_then(|s| s.unpaired.clone()) {
                        ssl_error = Some(ConfError {
                            msg: "no \"ssl_certificate_key\" is defined for certificate \
                                  (or no \"ssl_certificate\" for a key)"
                                .to_string(),
                            file: Some(file.to_path_buf()),
                            line,
                        });
                    } else if let Some(Err(e)) = ssl.map(|s| s.check()) {
                        ssl_error = Some(e);
                    } else if ssl.is_none_or(|s| s.keys.is_empty() && !s.reject_handshake) {
                        // Only an address's default server must have one
                        // (the others keep its certificate under SNI):
                        // checked once every server is known.
                        no_certificate.push((
                            no_certificate_server,
                            l.listen.addr.clone(),
                            l.file.to_path_buf(),
                            l.line,
                        ));
                    }
                }
                let locations: Vec<Location> = raw
                    .locations
                    .into_iter()
                    .map(|l| merge_location(l, &conf, &merge_loc))
                    .collect();
                let named = raw
                    .named
                    .into_iter()
                    .map(|l| merge_location(l, &conf, &merge_loc))
                    .collect();
                let s = merge_srv(raw.srv, srv);
                Rc::new(ServerConf {
                    listen: listens.into_iter().map(|l| l.listen).collect(),
                    server_names: raw.names,
                    name_regexes: raw.name_regexes,
                    merge_slashes: s.merge_slashes.unwrap_or(true),
                    client_header_timeout_ms: s
                        .client_header_timeout_ms
                        .unwrap_or(CLIENT_HEADER_TIMEOUT_MS),
                    client_header_buffer_size: s
                        .client_header_buffer_size
                        .unwrap_or(CLIENT_HEADER_BUFFER_SIZE),
                    large_client_header_buffers: s
                        .large_client_header_buffers
                        .unwrap_or(LARGE_CLIENT_HEADER_BUFFERS),
                    conf,
                    tree: super::PrefixTree::build(&locations),
                    auto_redirects: http_core_loc::auto_redirect_in(&locations, None),
                    locations,
                    named,
                })
            })
            .collect::<Vec<Rc<ServerConf>>>();
        // ngx_http_ssl_init: the default server of an `ssl` address needs a
        // certificate (or ssl_reject_handshake).
        for (i, addr, file, line) in no_certificate {
            let listens = |s: &Rc<ServerConf>, default: bool| {
                s.listen
                    .iter()
                    .any(|l| l.addr == addr && (l.default_server || !default))
            };
            let default = servers
                .iter()
                .position(|s| listens(s, true))
                .or_else(|| servers.iter().position(|s| listens(s, false)));
            if ssl_error.is_none() && default == Some(i) {
                ssl_error = Some(ConfError {
                    msg: "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive"
                        .to_string(),
                    file: Some(file),
                    line,
                });
            }
        }
        if let Some(e) = ssl_error {
            return Err(e);
        }
        let keep_sent_head = servers
            .iter()
            .any(|s| s.all_confs().into_iter().any(uses_sent_http));
        if let Some(e) = super::http_proxy::take_merge_error() {
            return Err(e);
        }
        if let Some(e) = super::http_charset::take_merge_error() {
            return Err(e);
        }
        Ok(HttpConf {
            servers,
            keep_sent_head,
            maps,
            user_vars: super::variables::user_names(),
            upstreams: self.upstreams.take(),
            implicit_upstreams: self.implicit.take(),
        })
    }

    /// Mirrors ngx_http_core_server(): one `server` block.
    fn server(&self, d: &Directive) -> Result<RawServer, ConfError> {
        let mut s = RawServer::default();
        for c in block(d) {
            check(c, SRV)?;
            match c.name.as_str() {
                "listen" => s.listens.extend(listen::listen(c)?),
                "server_name" => {
                    for name in &c.args {
                        s.names.push(server_name(c, name, &mut s.name_regexes)?);
                    }
                }
                "location" => {
                    let l = self.location(c, &s.locations, None)?;
                    if l.kind == LocationMatch::Named {
                        // nginx does not refuse a repeated name; the first
                        // one is what a redirect reaches.
                        s.named.push(l);
                    } else {
                        s.locations.push(l);
                    }
                }
                "if" => self.if_block(c, super::command::SIF, &mut s.loc)?,
                _ => {
                    if !srv_directive(c, &mut s.srv)? {
                        self.loc_directive(c, &mut s.loc)?;
                    }
                }
            }
        }
        if s.listens.is_empty() {
            s.listens.push(ListenAt::default_for(d));
        }
        if s.names.is_empty() {
            s.names.push(String::new());
        }
        Ok(s)
    }

    /// Mirrors ngx_conf_handler() handing a directive of the location conf
    /// (any http level) to its module: the core module's own first, then
    /// each other module's.
    pub(super) fn loc_directive(&self, d: &Directive, loc: &mut RawLoc) -> Result<(), ConfError> {
        if self.core_loc_directive(d, loc)?
            || self.log_directive(d, &mut loc.log)?
            || http_headers::directive(d, &mut loc.headers)?
            || super::http_gzip::directive(d, &mut loc.gzip)?
            || super::http_ssl::directive(d, &mut loc.ssl, |v| self.path(v))?
            || http_rewrite::directive(d, &mut loc.rewrite)?
            || super::http_access::directive(d, &mut loc.access)?
            || self.proxy_directive(d, &mut loc.proxy)?
            || super::resolver::directive(d, &mut loc.resolver)?
            || http_stub_status::directive(d, &mut loc.stub_status)?
            || super::http_connection_status::directive(d, &mut loc.connection_status)?
            || super::http_charset::directive(d, &mut loc.charset)?
            || self.temp_directive(d, &mut loc.temp)?
            || super::http_autoindex::directive(d, &mut loc.autoindex)?
        {
            return Ok(());
        }
        Err(unknown(d))
    }

    /// The core module's location-level directives; `Ok(false)` when `d`
    /// is not one of them.
    fn core_loc_directive(&self, d: &Directive, loc: &mut RawLoc) -> Result<bool, ConfError> {
        match d.name.as_str() {
            "root" | "alias" => {
                // Mirrors ngx_http_core_root().
                let is_alias = d.name == "alias";
                let earlier = loc.root.is_some() || loc.root_vars.is_some();
                if earlier {
                    let was = if loc.phases.alias.is_some() {
                        "alias"
                    } else {
                        "root"
                    };
                    if was == d.name {
                        return Err(bad(d, "is duplicate"));
                    }
                    return Err(d.error(format!(
                        "\"{}\" directive is duplicate, \"{was}\" directive was specified earlier",
                        d.name
                    )));
                }
                http_core_loc::no_root_vars(d)?;
                let mut v = d.args[0].as_str();
                if !is_alias && v.len() > 1 && v.ends_with('/') {
                    v = &v[..v.len() - 1];
                }
                if v.contains('$') {
                    let segs = super::variables::compile(v).map_err(|e| d.error(e))?;
                    loc.root_vars = Some(segs);
                    loc.root = Some(self.path("."));
                } else {
                    loc.root = Some(self.path(v));
                }
                if is_alias {
                    loc.phases.alias = Some(v.to_string());
                }
            }
            "index" => index(d, loc.index.get_or_insert_with(Vec::new))?,
            "types" => types(d, loc.types.get_or_insert_with(Types::default))?,
            "default_type" => {
                once(&loc.default_type, d)?;
                loc.default_type = Some(Rc::from(d.args[0].as_str()));
            }
            "keepalive_timeout" => {
                // Mirrors ngx_http_core_keepalive().
                once(&loc.keepalive_timeout_ms, d)?;
                loc.keepalive_timeout_ms = Some(msec(d, 0)?);
                if let Some(h) = d.args.get(1) {
                    let h = parse_time_s(h).map_err(|_| bad(d, "invalid value"))?;
                    loc.keepalive_header_s = Some(h);
                }
            }
            "keepalive_requests" => num_slot(&mut loc.keepalive_requests, d)?,
            "keepalive_time" => msec_slot(&mut loc.keepalive_time_ms, d)?,
            "keepalive_disable" => keepalive_disable(d, loc.keepalive_disable.get_or_insert(0))?,
            "send_timeout" => msec_slot(&mut loc.send_timeout_ms, d)?,
            "etag" => flag_slot(&mut loc.etag, d)?,
            "max_ranges" => num_slot(&mut loc.max_ranges, d)?,
            "if_modified_since" => {
                // Mirrors ngx_conf_set_enum_slot() with nginx's three values.
                once(&loc.if_modified_since, d)?;
                loc.if_modified_since = Some(match d.args[0].as_str() {
                    "off" => super::IfModifiedSince::Off,
                    "exact" => super::IfModifiedSince::Exact,
                    "before" => super::IfModifiedSince::Before,
                    v => return Err(bad(d, &format!("invalid value \"{v}\""))),
                });
            }
            "server_tokens" => {
                // `build` names nginx's --build string; holdfast has none,
                // so it is `on`, as in an nginx built without one.
                once(&loc.server_tokens, d)?;
                loc.server_tokens = Some(enum_value(
                    d,
                    &[("on", true), ("off", false), ("build", true)],
                )?);
            }
            "client_max_body_size" => {
                // Mirrors ngx_conf_set_off_slot(); 0 is allowed (no limit).
                once(&loc.client_max_body_size, d)?;
                let n = parse_size(&d.args[0]).map_err(|_| bad(d, "invalid value"))?;
                loc.client_max_body_size = Some(n as u64);
            }
            "client_body_timeout" => msec_slot(&mut loc.client_body_timeout_ms, d)?,
            "lingering_close" => {
                once(&loc.lingering_close, d)?;
                loc.lingering_close = Some(enum_value(
                    d,
                    &[
                        ("off", LingeringClose::Off),
                        ("on", LingeringClose::On),
                        ("always", LingeringClose::Always),
                    ],
                )?);
            }
            "lingering_time" => msec_slot(&mut loc.lingering_time_ms, d)?,
            "lingering_timeout" => msec_slot(&mut loc.lingering_timeout_ms, d)?,
            "reset_timedout_connection" => flag_slot(&mut loc.reset_timedout_connection, d)?,
            "sendfile" => flag_slot(&mut loc.sendfile, d)?,
            "absolute_redirect" => flag_slot(&mut loc.absolute_redirect, d)?,
            "log_not_found" => flag_slot(&mut loc.log_not_found, d)?,
            "internal" => {
                if loc.internal {
                    return Err(d.error("\"internal\" directive is duplicate"));
                }
                loc.internal = true;
            }
            "server_name_in_redirect" => flag_slot(&mut loc.server_name_in_redirect, d)?,
            "port_in_redirect" => flag_slot(&mut loc.port_in_redirect, d)?,
            "sendfile_max_chunk" => {
                once(&loc.sendfile_max_chunk, d)?;
                loc.sendfile_max_chunk = Some(size_or_zero(d, 0)? as u64);
            }
            "tcp_nopush" => flag_slot(&mut loc.tcp_nopush, d)?,
            "tcp_nodelay" => flag_slot(&mut loc.tcp_nodelay, d)?,
            "limit_rate" | "limit_rate_after" => {
                // ngx_http_set_complex_value_size_slot(): a size, or
                // variables evaluated per request (nginx ≥ 1.27.0).
                let slot = if d.name == "limit_rate" {
                    &mut loc.limit_rate
                } else {
                    &mut loc.limit_rate_after
                };
                once(slot, d)?;
                *slot = Some(if d.args[0].contains('$') {
                    RateValue::Vars(Rc::from(
                        super::variables::compile(&d.args[0]).map_err(|e| d.error(e))?,
                    ))
                } else {
                    RateValue::Fixed(size_or_zero(d, 0)? as u64)
                });
            }
            "open_file_cache" => {
                once(&loc.open_file_cache, d)?;
                loc.open_file_cache = Some(open_file_cache(d)?);
            }
            "open_file_cache_valid" => {
                once(&loc.open_file_cache_valid_s, d)?;
                loc.open_file_cache_valid_s = Some(super::command::sec(d, 0)?);
            }
            "open_file_cache_min_uses" => {
                once(&loc.open_file_cache_min_uses, d)?;
                let n = number(d, 0)?;
                if n == 0 {
                    return Err(bad(d, "invalid number"));
                }
                loc.open_file_cache_min_uses = Some(n);
            }
            "open_file_cache_errors" => flag_slot(&mut loc.open_file_cache_errors, d)?,
            "disable_symlinks" => {
                super::http_core_symlinks::disable_symlinks(d, &mut loc.disable_symlinks)?
            }
            "types_hash_max_size" => hash_max_size(d, &mut loc.types_hash)?,
            "types_hash_bucket_size" => hash_bucket_size(d, &mut loc.types_hash)?,
            "error_log" => loc.error_log.push(self.error_log(d)?),
            // Checked, no effect (README, "Directives with no effect").
            "client_body_buffer_size" => {
                once(&loc.client_body_buffer_size, d)?;
                loc.client_body_buffer_size = Some(size(d, 0)?);
            }
            // Checked, no effect: holdfast's in-memory body is always one
            // buffer (http_core_sizes.rs NO_EFFECT says so in -T).
            "client_body_in_single_buffer" => {
                super::command::flag(d)?;
            }
            "client_body_in_file_only" => {
                // Mirrors ngx_conf_set_enum_slot() with nginx's three values.
                once(&loc.client_body_in_file_only, d)?;
                loc.client_body_in_file_only = Some(match d.args[0].as_str() {
                    "off" => InFileOnly::Off,
                    "on" => InFileOnly::On,
                    "clean" => InFileOnly::Clean,
                    v => return Err(bad(d, &format!("invalid value \"{v}\""))),
                });
            }
            _ => return http_core_loc::phase_directive(d, &mut loc.phases),
        }
        Ok(true)
    }
}

/// Does a level's templates (access log formats and conditions, add_header
/// values, return text) use `$sent_http_NAME`?
fn uses_sent_http(c: &LocConf) -> bool {
    use super::variables::{Segment, Variable};
    let has = |segs: &[Segment]| {
        segs.iter()
            .any(|s| matches!(s, Segment::Var(Variable::SentHttp(_))))
    };
    c.access_log
        .iter()
        .any(|l| has(&l.format.segments) || l.condition.as_deref().is_some_and(has))
        || c.add_headers.iter().any(|h| has(&h.value))
        || c.rewrite
            .as_deref()
            .is_some_and(|codes| http_rewrite::uses(codes, &has))
}

/// Mirrors ngx_http_core_open_file_cache(): `off`, or `max=N [inactive=TIME]`.
fn open_file_cache(d: &Directive) -> Result<Option<(usize, u64)>, ConfError> {
    let mut max = None;
    let mut inactive_ms = 60_000;
    for a in &d.args {
        if a == "off" {
            if d.args.len() != 1 {
                return Err(d.error(format!("invalid parameter \"{a}\"")));
            }
            return Ok(None);
        }
        if let Some(v) = a.strip_prefix("max=") {
            let n = parse_number(v)
                .ok()
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| d.error(format!("invalid max value \"{v}\"")))?;
            max = Some(n);
        } else if let Some(v) = a.strip_prefix("inactive=") {
            inactive_ms = parse_time_s(v)
                .map_err(|_| d.error(format!("invalid inactive value \"{v}\"")))?
                * 1000;
        } else {
            return Err(d.error(format!("invalid \"open_file_cache\" parameter \"{a}\"")));
        }
    }
    match max {
        Some(max) => Ok(Some((max, inactive_ms))),
        None => Err(d.error("\"open_file_cache\" must have the \"max\" parameter")),
    }
}

/// The server-conf directives also allowed at http level; `Ok(false)` when
/// `d` is not one of them.
fn srv_directive(d: &Directive, srv: &mut RawSrv) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "client_header_timeout" => msec_slot(&mut srv.client_header_timeout_ms, d)?,
        "merge_slashes" => flag_slot(&mut srv.merge_slashes, d)?,
        "client_header_buffer_size" => {
            once(&srv.client_header_buffer_size, d)?;
            srv.client_header_buffer_size = Some(header_buffer_size(d, 0)?);
        }
        "large_client_header_buffers" => {
            // Mirrors ngx_conf_set_bufs_slot(): NUM SIZE, both non-zero.
            once(&srv.large_client_header_buffers, d)?;
            let num = parse_number(&d.args[0])
                .ok()
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(d, "invalid value"))?;
            let each = header_buffer_size(d, 1)?;
            if num.saturating_mul(each) > MAX_HEADER_BUFFER_BYTES {
                return Err(bad(d, "invalid value"));
            }
            srv.large_client_header_buffers = Some((num, each));
        }
        "connection_pool_size" => pool_size(d, &mut srv.connection_pool_size)?,
        "request_pool_size" => pool_size(d, &mut srv.request_pool_size)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// A header buffer size argument: a size no larger than
/// [`MAX_HEADER_BUFFER_BYTES`].
fn header_buffer_size(d: &Directive, i: usize) -> Result<usize, ConfError> {
    let v = size(d, i)?;
    if v > MAX_HEADER_BUFFER_BYTES {
        return Err(bad(d, "invalid value"));
    }
    Ok(v)
}

/// Mirrors ngx_http_index_set_index(): appends to the level's list.
fn index(d: &Directive, list: &mut Vec<super::IndexName>) -> Result<(), ConfError> {
    for (i, name) in d.args.iter().enumerate() {
        if name.is_empty() {
            return Err(d.error("index \"\" in \"index\" directive is invalid"));
        }
        if name.starts_with('/') && i + 1 != d.args.len() {
            return Err(d.error("only the last index in \"index\" directive should be absolute"));
        }
        let vars = if name.contains('$') {
            Some(super::variables::compile(name).map_err(|e| d.error(e))?)
        } else {
            None
        };
        list.push(super::IndexName {
            name: name.clone(),
            vars,
        });
    }
    Ok(())
}

/// Mirrors ngx_http_core_types() / ngx_http_core_type(): `TYPE EXT...;` lines;
/// a repeated extension takes the later type (with a warning).
fn types(d: &Directive, t: &mut Types) -> Result<(), ConfError> {
    for line in block(d) {
        if line.block.is_some() {
            return Err(line.error("unexpected \"{\""));
        }
        let ty: Rc<str> = Rc::from(line.name.as_str());
        for ext in &line.args {
            let ext = ext.to_ascii_lowercase();
            if let Some(old) = t.by_ext.insert(ext.clone(), ty.clone())
                && old != ty
            {
                log::warn!(
                    "duplicate extension \"{ext}\", content type: \"{ty}\", \
                     previous content type: \"{old}\" in {}:{}",
                    line.file.display(),
                    line.line
                );
            }
        }
    }
    Ok(())
}

/// Mirrors ngx_conf_set_bitmask_slot() for `keepalive_disable`: the values
/// (any case) add to the level's set, a repeated one only warns; `none` sets
/// no browser but still counts as set, so the level does not inherit.
fn keepalive_disable(d: &Directive, mask: &mut u8) -> Result<(), ConfError> {
    for v in &d.args {
        let bit = match v.to_ascii_lowercase().as_str() {
            "none" => KA_NONE,
            "msie6" => KA_MSIE6,
            "safari" => KA_SAFARI,
            _ => return Err(d.error(format!("invalid value \"{v}\""))),
        };
        if *mask & bit != 0 {
            log::warn!("duplicate value \"{v}\" in {}:{}", d.file.display(), d.line);
        }
        *mask |= bit;
    }
    Ok(())
}

/// Mirrors ngx_http_core_server_name(): lower-cased; a `*` only as `*.` at the
/// start or `.*` at the end; `~regex` names are kept as written and their
/// pattern compiled caseless (as nginx does), in `regexes`.
fn server_name(
    d: &Directive,
    name: &str,
    regexes: &mut Vec<super::LocRegex>,
) -> Result<String, ConfError> {
    if let Some(re) = name.strip_prefix('~') {
        if re.is_empty() {
            return Err(d.error(format!("empty regex in server name \"{name}\"")));
        }
        // nginx compiles it caseless only when it has capitals (the host it
        // is matched with is lower-cased).
        let caseless = re.bytes().any(|b| b.is_ascii_uppercase());
        regexes.push(http_rewrite::regex(d, re, caseless)?);
        return Ok(name.to_string());
    }
    if name.eq_ignore_ascii_case("$hostname") {
        return Ok(crate::http::variables::hostname_text());
    }
    if (name.starts_with('*') && (name.len() < 3 || !name.starts_with("*.")))
        || (name.starts_with('.') && name.len() < 2)
    {
        return Err(d.error(format!("server name \"{name}\" is invalid")));
    }
    if name.contains('/') {
        log::warn!(
            "server name \"{name}\" has suspicious symbols in {}:{}",
            d.file.display(),
            d.line
        );
    }
    let stars = name.matches('*').count();
    if stars > 1 || (stars == 1 && !name.starts_with("*.") && !name.ends_with(".*")) {
        return Err(d.error(format!("invalid server name or wildcard \"{name}\"")));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
#[path = "http_core_tests.rs"]
mod tests;
