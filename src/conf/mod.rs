//! The configuration: nginx's grammar, nginx's directive names, nginx's defaults.
//!
//! Mirrors ngx_conf_file.c (the tokenizer and block walker, `include`) and the
//! `create_*_conf` / `merge_*_conf` pairs of the core, events and http modules:
//! every directive is parsed into the typed tree below, and http-level values are
//! inherited by `server` and `location` blocks unless set there (nginx's merge step).
//!
//! ```text
//! main ─ events { worker_connections }
//!      └ http { … } ─ server { listen, server_name, … } ─ location [=|^~] PREFIX { … }
//! ```
//!
//! Errors carry the file and line of the offending token and print like nginx's
//! `[emerg] ... in FILE:LINE`.

mod build;
mod command;
mod core;
mod http_access;
pub mod http_autoindex;
pub mod http_charset;
mod http_charset_map;
mod http_connection_status;
mod http_core;
mod http_core_loc;
mod http_core_sizes;
mod http_core_symlinks;
pub mod http_gzip;
pub mod http_headers;
mod http_log;
mod http_map;
pub mod http_proxy;
pub mod http_proxy_ssl;
mod http_rewrite;
pub mod http_ssl;
mod http_ssl_ciphers;
mod http_stub_status;
mod http_temp;
pub mod http_upstream;
mod lint;
mod listen;
pub mod modules;
mod parser;
pub mod resolver;
mod values;
pub mod variables;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::conf::variables::{Escape, Segment};

pub use build::COMMAND_LINE;
pub use http_access::{AccessMatch, AccessRule};
pub use http_core_loc::{Alias, ErrorPage, PrefixTree, RegexExec, TryFile, TryFiles, TryLast};
pub use http_core_symlinks::DisableSymlinksConf;
pub use http_map::{MapConf, MapWildcard};
pub use http_rewrite::{Code, Condition, FileTest, If, Rewrite, RewriteFlag};
pub use values::{parse_size, parse_time_ms};

/// nginx's default `worker_connections`.
pub const WORKER_CONNECTIONS: usize = 512;
/// nginx's default `keepalive_timeout` (75 s).
pub const KEEPALIVE_TIMEOUT_MS: u64 = 75_000;
/// nginx's default `keepalive_requests` (1000 since 1.19.10).
pub const KEEPALIVE_REQUESTS: u64 = 1000;
/// nginx's default `keepalive_time` (1 h).
pub const KEEPALIVE_TIME_MS: u64 = 3_600_000;
/// nginx's default `client_header_timeout` (60 s).
pub const CLIENT_HEADER_TIMEOUT_MS: u64 = 60_000;
/// nginx's default `client_header_buffer_size` (1k).
pub const CLIENT_HEADER_BUFFER_SIZE: usize = 1024;
/// nginx's default `large_client_header_buffers` (4 8k).
pub const LARGE_CLIENT_HEADER_BUFFERS: (usize, usize) = (4, 8192);
/// nginx's default `send_timeout` (60 s).
pub const SEND_TIMEOUT_MS: u64 = 60_000;
/// nginx's default `listen ... backlog=` on Linux (NGX_LISTEN_BACKLOG).
pub const LISTEN_BACKLOG: i32 = 511;
/// nginx's default `client_max_body_size` (1m).
pub const CLIENT_MAX_BODY_SIZE: u64 = 1 << 20;
/// nginx's `client_body_buffer_size` default: two pages on x86-64.
pub const CLIENT_BODY_BUFFER_SIZE: usize = 8192;
/// nginx's default `client_body_timeout` (60 s).
pub const CLIENT_BODY_TIMEOUT_MS: u64 = 60_000;
/// nginx's default `lingering_time` (30 s).
pub const LINGERING_TIME_MS: u64 = 30_000;
/// nginx's default `sendfile_max_chunk` (2m since 1.21.4; 0: no limit).
pub const SENDFILE_MAX_CHUNK: u64 = 2 << 20;
/// nginx's default `lingering_timeout` (5 s).
pub const LINGERING_TIMEOUT_MS: u64 = 5_000;
/// The predefined `combined` log format (it cannot be redefined).
pub const COMBINED_LOG_FORMAT: &str = "$remote_addr - $remote_user [$time_local] \
     \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// An error found while reading the configuration: `MSG in FILE:LINE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    /// What is wrong, in nginx's words (`unknown directive "foo"`).
    pub msg: String,
    /// The file the offending token is in (None for errors not tied to a file).
    pub file: Option<PathBuf>,
    /// 1-based line of the offending token.
    pub line: usize,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            // `-g` directives: nginx says `in command line`, with no line.
            Some(file) if self.line == 0 => write!(f, "{} in {}", self.msg, file.display()),
            Some(file) => write!(f, "{} in {}:{}", self.msg, file.display(), self.line),
            None => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for ConfError {}

/// Where the error log goes (`error_log FILE|stderr LEVEL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// `error_log stderr` (the default for holdfast, which runs in the foreground).
    Stderr,
    /// `error_log FILE` (relative paths are under the prefix).
    File(PathBuf),
}

/// nginx's eight log levels, most severe first (NGX_LOG_EMERG … NGX_LOG_DEBUG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `emerg`.
    Emerg = 1,
    /// `alert`.
    Alert,
    /// `crit`.
    Crit,
    /// `error` (the default of `error_log`).
    Error,
    /// `warn`.
    Warn,
    /// `notice`.
    Notice,
    /// `info`.
    Info,
    /// `debug`.
    Debug,
}

impl LogLevel {
    /// Every level, most severe first.
    pub const ALL: [LogLevel; 8] = [
        LogLevel::Emerg,
        LogLevel::Alert,
        LogLevel::Crit,
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Debug,
    ];

    /// nginx's name for it (`[notice]` in a log line).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Emerg => "emerg",
            LogLevel::Alert => "alert",
            LogLevel::Crit => "crit",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    /// The level called `name` (nginx's spelling, exact case).
    pub fn from_name(name: &str) -> Option<LogLevel> {
        LogLevel::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

/// One `error_log FILE|stderr [LEVEL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLog {
    /// Destination.
    pub target: LogTarget,
    /// Messages at this level and more severe ones are written. Default `error`.
    pub level: LogLevel,
}

/// `user USER [GROUP]` (main): the account workers run as when started by root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub user: String,
    /// The group name; nginx's default is the user's name.
    pub group: Option<String>,
    /// Where it was written (for the start-up errors, which nginx reports
    /// against the directive).
    pub file: PathBuf,
    /// See `file`.
    pub line: usize,
}

/// A configuration file as read, for `holdfast -T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfFile {
    /// Its path.
    pub path: PathBuf,
    /// Its bytes.
    pub text: Vec<u8>,
}

/// What the command line adds to the configuration file (nginx's `-g` and
/// `-e`), kept so a reload reads the file the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-g DIRECTIVES`: main-context directives read before the file.
    pub globals: Option<String>,
    /// `-e FILE|stderr`: the error log until the configuration's own is
    /// open, and the main error log when the file sets none.
    pub error_log: Option<LogTarget>,
}

/// Where a `listen` binds: an IP address and port, or a unix socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// `ADDR:PORT` (a bare port means `0.0.0.0:PORT`; port 0 asks the
    /// kernel for a free one).
    Inet(SocketAddr),
    /// `unix:/path`.
    Unix(PathBuf),
}

impl ListenAddr {
    /// The IP address and port, for an inet listen.
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Inet(a) => Some(*a),
            ListenAddr::Unix(_) => None,
        }
    }

    /// The port (0 for a unix socket).
    pub fn port(&self) -> u16 {
        self.inet().map_or(0, |a| a.port())
    }

    /// `0.0.0.0` or `[::]`: nginx's wildcard, which serves the port's
    /// addresses that are not bound on their own.
    pub fn is_wildcard(&self) -> bool {
        self.inet().is_some_and(|a| a.ip().is_unspecified())
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Inet(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// `so_keepalive=on|off|IDLE:INTVL:CNT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SoKeepalive {
    /// Not given: the system's setting stays.
    #[default]
    Unset,
    /// `off`: SO_KEEPALIVE off.
    Off,
    /// `on`, or the tunables (seconds, seconds, count; 0 = the system's).
    On {
        /// TCP_KEEPIDLE.
        idle: u32,
        /// TCP_KEEPINTVL.
        intvl: u32,
        /// TCP_KEEPCNT.
        cnt: u32,
    },
}

/// One `listen` directive (ngx_http_listen_opt_t).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// Where to bind.
    pub addr: ListenAddr,
    /// `default_server` flag.
    pub default_server: bool,
    /// `backlog=N` (default [`LISTEN_BACKLOG`]).
    pub backlog: i32,
    /// `reuseport` flag (SO_REUSEPORT).
    pub reuseport: bool,
    /// `deferred` flag (TCP_DEFER_ACCEPT): accept returns a connection only
    /// once its first bytes have arrived, and they are read at once.
    pub deferred: bool,
    /// `bind` (or any option that implies it): this address gets a socket
    /// of its own even when a wildcard listens on the same port.
    pub bind: bool,
    /// `ipv6only=on|off` (IPV6_V6ONLY, IPv6 addresses only). Default on.
    pub ipv6only: bool,
    /// `rcvbuf=SIZE` (SO_RCVBUF).
    pub rcvbuf: Option<usize>,
    /// `sndbuf=SIZE` (SO_SNDBUF).
    pub sndbuf: Option<usize>,
    /// `so_keepalive=`.
    pub so_keepalive: SoKeepalive,
    /// `fastopen=N` (TCP_FASTOPEN queue length).
    pub fastopen: Option<u32>,
    /// `ssl`: connections accepted here speak TLS.
    pub ssl: bool,
}

/// How a `location` matches the URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationMatch {
    /// `location = /x` — exact match, searched first.
    Exact,
    /// `location ^~ /x` — a prefix that, when it is the longest match,
    /// stops the regex search.
    PrefixNoRegex,
    /// `location /x` — longest prefix wins, unless a regex matches.
    Prefix,
    /// `location ~ re` / `location ~* re` (caseless): tried in configuration
    /// order after the prefix search; the first that matches wins.
    Regex {
        /// `~*`.
        caseless: bool,
    },
    /// `location @name`: reached only by `try_files`, `error_page` (and
    /// later `proxy_intercept_errors`), never by a URI.
    Named,
}

/// A regex location's compiled pattern (the `regex` crate, compiled once at
/// configuration load; matched against the decoded URI as bytes).
#[derive(Debug, Clone)]
pub struct LocRegex(pub regex::bytes::Regex);

impl PartialEq for LocRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// `return CODE [TEXT | URL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    /// Status code (nginx accepts 0..=999).
    pub code: u16,
    /// For 301/302/303/307/308 the `Location` URL; otherwise the body text.
    /// Compiled: it may hold variables.
    pub text: Option<Vec<Segment>>,
}

/// One name of `index` (ngx_http_index_module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexName {
    /// As written.
    pub name: String,
    /// Compiled, when it holds variables (`$server_name.html`).
    pub vars: Option<Vec<Segment>>,
}

impl PartialEq<&str> for IndexName {
    fn eq(&self, other: &&str) -> bool {
        self.name == *other
    }
}

impl PartialEq<String> for IndexName {
    fn eq(&self, other: &String) -> bool {
        self.name == *other
    }
}

/// The MIME type map from `types { }` blocks (`conf/mime.types`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Types {
    /// Lower-cased extension → MIME type.
    pub by_ext: HashMap<String, Rc<str>>,
}

impl Types {
    /// The type for a file extension (case-insensitive), if known.
    pub fn lookup(&self, ext: &str) -> Option<&Rc<str>> {
        if ext.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_ext.get(&ext.to_ascii_lowercase())
        } else {
            self.by_ext.get(ext)
        }
    }
}

/// `lingering_close off|on|always` (ngx_http_core_module's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LingeringClose {
    /// Close at once, even with unread client data pending.
    Off,
    /// Linger when the client may still be sending (a body, pipelined bytes).
    /// nginx's default.
    #[default]
    On,
    /// Always linger before closing.
    Always,
}

/// `keepalive_disable none | msie6 | safari ...`: the browsers that get no
/// keep-alive. [`Default`] is nginx's default, `msie6` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveDisable {
    /// MSIE 6 (and older) POST requests.
    pub msie6: bool,
    /// Safari and Safari-like browsers on macOS and iOS.
    pub safari: bool,
}

impl Default for KeepaliveDisable {
    fn default() -> Self {
        KeepaliveDisable {
            msie6: true,
            safari: false,
        }
    }
}

/// One `add_header NAME VALUE [always]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHeader {
    /// The header name as written.
    pub name: String,
    /// The value, compiled (may hold variables). Empty: nginx adds no header.
    pub value: Vec<Segment>,
    /// `always`: added to every response, not only 200, 201, 204, 206, 301,
    /// 302, 303, 304, 307 and 308.
    pub always: bool,
}

/// A `log_format` (or the predefined `combined`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    /// Its name, as written in `log_format`.
    pub name: String,
    /// `escape=default|json|none` (default `default`), applied to variable
    /// values only.
    pub escape: Escape,
    /// The format strings, concatenated and compiled.
    pub segments: Vec<Segment>,
}

/// One `access_log PATH [FORMAT [buffer=SIZE] [flush=TIME] [if=COND]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConf {
    /// The file (absolute; a relative path is under the prefix).
    pub path: PathBuf,
    /// The format; `combined` when none is named.
    pub format: Rc<LogFormat>,
    /// `buffer=SIZE`: lines are kept until this much is buffered (or
    /// `flush=`, a reopen or the exit). Without it, holdfast writes a file's
    /// lines once per loop iteration.
    pub buffer: Option<usize>,
    /// `flush=TIME`: buffered lines are written at most this long after the
    /// first of them.
    pub flush_ms: Option<u64>,
    /// `if=CONDITION`: the line is written unless the value is empty or `0`.
    pub condition: Option<Vec<Segment>>,
    /// `gzip[=LEVEL]`: each write of the buffer is one gzip member (the
    /// file reads with `zcat`); level 1 by default.
    pub gzip: Option<u32>,
}

/// `open_file_cache max=N [inactive=T]` and its companions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFileCacheConf {
    /// `max=`: entries kept at most (least recently used go first).
    pub max: usize,
    /// `inactive=`: an entry not used for this long is dropped. Default 60 s.
    pub inactive_ms: u64,
    /// `open_file_cache_valid`: how long an entry is trusted before it is
    /// checked again. Default 60 s.
    pub valid_ms: u64,
    /// `open_file_cache_min_uses`: uses within `inactive` before a file's
    /// descriptor is kept. Default 1.
    pub min_uses: u64,
    /// `open_file_cache_errors`: remember failed lookups too. Default off.
    pub errors: bool,
}

/// The per-location settings after merging http → server → location
/// (ngx_http_core_loc_conf_t, as far as holdfast has it).
#[derive(Debug, Clone, PartialEq)]
pub struct LocConf {
    /// `root` (absolute, resolved against the prefix). Default `html`.
    pub root: PathBuf,
    /// `index` file names. Default `index.html`.
    pub index: Vec<IndexName>,
    /// The level's name as nginx's debug trace prints it (`/x`, `=/x`,
    /// `@name`, the regex; empty for the server level).
    pub name: Rc<str>,
    /// `root` or `alias` (see [`Alias`]); `root` is the path, or the
    /// prefix-relative fallback when [`LocConf::root_vars`] is set.
    pub alias: Alias,
    /// `root`/`alias` with variables (evaluated per request; a relative
    /// result is under the prefix).
    pub root_vars: Option<Rc<[Segment]>>,
    /// The rewrite module's script of this level (`rewrite`, `return`,
    /// `set`, `if`, `break`); not inherited.
    pub rewrite: Option<Rc<[Code]>>,
    /// `rewrite_log on|off`. Default off.
    pub rewrite_log: bool,
    /// `uninitialized_variable_warn on|off`. Default on.
    pub uninitialized_variable_warn: bool,
    /// `try_files`; not inherited (nginx's merge does not either).
    pub try_files: Option<Rc<TryFiles>>,
    /// `error_page` list; a level without one inherits its parent's.
    pub error_pages: Rc<[ErrorPage]>,
    /// `recursive_error_pages on|off`. Default off.
    pub recursive_error_pages: bool,
    /// `allow`/`deny` rules; a level without any inherits its parent's.
    pub access: Rc<[AccessRule]>,
    /// ngx_http_proxy_module's settings (`proxy_pass` and the timeouts).
    pub proxy: http_proxy::ProxyConf,
    /// `resolver` (inherited); None: no name servers (nginx's dummy
    /// resolver, "no resolver defined to resolve NAME").
    pub resolver: Option<Rc<resolver::ResolverConf>>,
    /// `resolver_timeout` in ms. Default 30 s.
    pub resolver_timeout_ms: u64,
    /// `types { }` (shared between locations that do not set their own).
    pub types: Rc<Types>,
    /// `default_type`. Default `text/plain`.
    pub default_type: Rc<str>,
    /// `keepalive_timeout T` in ms; 0 disables keep-alive. Default 75 s.
    pub keepalive_timeout_ms: u64,
    /// `keepalive_timeout T H`: the `Keep-Alive: timeout=H` header value, in seconds.
    pub keepalive_header_s: Option<u64>,
    /// `keepalive_requests`. Default 1000.
    pub keepalive_requests: u64,
    /// `keepalive_time` in ms. Default 1 h.
    pub keepalive_time_ms: u64,
    /// `send_timeout` in ms. Default 60 s.
    pub send_timeout_ms: u64,
    /// `server_tokens on|off`. Default on.
    pub server_tokens: bool,
    /// `if_modified_since off|exact|before` (default exact).
    pub if_modified_since: IfModifiedSince,
    /// `etag on|off` (default on): static responses carry an ETag.
    pub etag: bool,
    /// The compression modules' settings (gzip, gzip_static, gunzip,
    /// brotli_static).
    pub gzip: Rc<http_gzip::GzipConf>,
    /// ngx_http_ssl_module's settings (http and server levels only).
    pub ssl: Option<Rc<http_ssl::SslConf>>,
    /// `expires` (None: off, nothing added).
    pub expires: Option<Rc<http_headers::Expires>>,
    /// `max_ranges N` (None: no limit; 0: ranges off).
    pub max_ranges: Option<u64>,
    /// `client_max_body_size` in bytes; 0 means no limit. Default 1m.
    pub client_max_body_size: u64,
    /// `client_body_timeout` in ms. Default 60 s.
    pub client_body_timeout_ms: u64,
    /// `lingering_close off|on|always`. Default on.
    pub lingering_close: LingeringClose,
    /// `lingering_time` in ms. Default 30 s.
    pub lingering_time_ms: u64,
    /// `lingering_timeout` in ms. Default 5 s.
    pub lingering_timeout_ms: u64,
    /// `reset_timedout_connection on|off`. Default off.
    pub reset_timedout_connection: bool,
    /// `keepalive_disable`. Default msie6.
    pub keepalive_disable: KeepaliveDisable,
    /// `log_not_found on|off`. Default on: a file or index that is not found
    /// is logged at error; off: the 404 is answered without a log line.
    pub log_not_found: bool,
    /// `internal`: the location answers internal redirects only (here: the
    /// index redirect); a client's request for it gets 404.
    pub internal: bool,
    /// `absolute_redirect on|off`. Default on: a `Location` holdfast builds
    /// from a path gets scheme, host and port; off leaves the path alone.
    pub absolute_redirect: bool,
    /// `server_name_in_redirect on|off`. Default off: the host of such a
    /// `Location` is the request's Host (else the local address); on: the
    /// server's first `server_name`.
    pub server_name_in_redirect: bool,
    /// `port_in_redirect on|off`. Default on: the local port, unless 80.
    pub port_in_redirect: bool,
    /// `sendfile on|off`. Default off, as nginx: file bodies are read into a
    /// reused buffer and written.
    pub sendfile: bool,
    /// `sendfile_max_chunk` in bytes (0: no limit). Default 2m.
    pub sendfile_max_chunk: u64,
    /// `tcp_nopush on|off` (TCP_CORK while a header and a file body go out
    /// with sendfile). Default off.
    pub tcp_nopush: bool,
    /// `tcp_nodelay on|off` (TCP_NODELAY on keep-alive connections). Default on.
    pub tcp_nodelay: bool,
    /// `limit_rate` in bytes per second (0: no limit). Default 0.
    pub limit_rate: u64,
    /// `limit_rate_after`: bytes sent before `limit_rate` applies. Default 0.
    pub limit_rate_after: u64,
    /// `limit_rate` with variables (evaluated when the location is chosen).
    pub limit_rate_vars: Option<Rc<[variables::Segment]>>,
    /// `limit_rate_after` with variables.
    pub limit_rate_after_vars: Option<Rc<[variables::Segment]>>,
    /// `open_file_cache`; None (the default, as nginx) is `off`.
    pub open_file_cache: Option<Rc<OpenFileCacheConf>>,
    /// `disable_symlinks` (off).
    pub disable_symlinks: DisableSymlinksConf,
    /// ngx_http_charset_module's settings (`charset` and its kin).
    pub charset: Rc<http_charset::CharsetConf>,
    /// `error_log` of this level (several allowed); a level without one
    /// inherits its parent's, the http level the main one.
    pub error_log: Rc<[ErrorLog]>,
    /// `stub_status`: this level answers with the status page. Not inherited:
    /// true only in the location (or server) where it is written.
    pub stub_status: bool,
    /// `connection_status`: this location answers with the connection
    /// inspector (holdfast's own module). Not inherited, as stub_status.
    pub connection_status: bool,
    /// `add_header` list. A level with any `add_header` of its own does not
    /// inherit the outer level's list. Default empty.
    pub add_headers: Rc<[AddHeader]>,
    /// `access_log` list. A level with any `access_log` (`off` included) does
    /// not inherit the outer level's list; `off` makes it empty. Default empty:
    /// unlike nginx (`logs/access.log combined`), holdfast writes no access
    /// log unless one is configured, so a fresh checkout needs no `logs/`.
    pub access_log: Rc<[AccessLogConf]>,
    /// Where a request body read for the proxy goes (`client_body_*`).
    pub client_body: Rc<ClientBodyConf>,
    /// ngx_http_autoindex_module's settings.
    pub autoindex: http_autoindex::AutoindexConf,
}

/// An implicit upstream: what `proxy_pass http://HOST:PORT` (no
/// variables) defines in nginx's upstream list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImplicitUpstream {
    /// The host as written, lower-cased.
    pub host: String,
    /// The port (80 when none was written).
    pub port: u16,
    /// The address it was resolved to at load.
    pub addr: crate::os::net::PeerAddr,
}

/// `if_modified_since` (nginx's NGX_HTTP_IMS_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfModifiedSince {
    /// `off`: the header is ignored.
    Off,
    /// `exact` (default): 304 only when the date equals Last-Modified.
    Exact,
    /// `before`: 304 when Last-Modified is not after the date.
    Before,
}

/// `client_body_in_file_only` (nginx's NGX_HTTP_REQUEST_BODY_FILE_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFileOnly {
    /// `off` (default): in memory up to `client_body_buffer_size`, the
    /// rest in a temp file.
    Off,
    /// `on`: always a file, left on disk after the request.
    On,
    /// `clean`: always a file, removed after the request.
    Clean,
}

/// A read request body's settings (ngx_http_core_module's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientBodyConf {
    /// `client_body_temp_path` (default `client_body_temp` under the prefix).
    pub temp_path: crate::core::file::TempPath,
    /// `client_body_buffer_size`: the body kept in memory, at most.
    pub buffer_size: usize,
    /// `client_body_in_file_only`.
    pub in_file_only: InFileOnly,
}

/// One `location` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// `=`, `^~` or plain prefix.
    pub kind: LocationMatch,
    /// The URI (prefix) it matches, or the regex as written.
    pub uri: String,
    /// The compiled pattern of a regex location.
    pub regex: Option<LocRegex>,
    /// Merged settings.
    pub conf: Rc<LocConf>,
    /// Locations nested in this one.
    pub locations: Vec<Location>,
    /// The nested `=`/prefix locations' trie.
    pub tree: PrefixTree,
}

/// One `server` block (ngx_http_core_srv_conf_t plus its locations).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConf {
    /// `listen` directives; default `*:80` as nginx (holdfast: `0.0.0.0:80`).
    pub listen: Vec<Listen>,
    /// `server_name` values (lower-cased; a `~regex` one as written).
    /// Default `""`.
    pub server_names: Vec<String>,
    /// The `~regex` names' patterns, in order (compiled caseless).
    pub name_regexes: Vec<LocRegex>,
    /// `client_header_timeout` in ms (http, server). Default 60 s.
    pub client_header_timeout_ms: u64,
    /// `merge_slashes on|off` (http, server). Default on. As in nginx, the
    /// URI is parsed with the default server's value (before Host is known).
    pub merge_slashes: bool,
    /// `client_header_buffer_size` (http, server). Default 1k.
    pub client_header_buffer_size: usize,
    /// `large_client_header_buffers NUM SIZE` (http, server). Default 4 8k.
    pub large_client_header_buffers: (usize, usize),
    /// Settings for URIs that match no location (the server level merged with http).
    pub conf: Rc<LocConf>,
    /// Locations in the order they appear (named ones excepted).
    pub locations: Vec<Location>,
    /// The `=`/prefix locations' trie.
    pub tree: PrefixTree,
    /// `location @name` blocks.
    pub named: Vec<Location>,
    /// Some prefix location ending in `/` proxies (nginx's `auto_redirect`
    /// flag): only then is a request's URI checked for it.
    pub auto_redirects: bool,
}

impl ServerConf {
    /// `$server_name`: the first name (a leading `.` dropped, as nginx's
    /// merge does).
    pub fn server_name(&self) -> &str {
        let first = self.server_names.first().map_or("", String::as_str);
        match first.strip_prefix('.') {
            Some(rest) if !rest.is_empty() => rest,
            _ => first,
        }
    }

    /// Does this server answer to `host` (already lower-cased, port stripped)?
    /// Exact names, `*.example.com` and `.example.com` (which also matches
    /// `example.com`), and `www.example.*`.
    pub fn matches_name(&self, host: &[u8]) -> bool {
        self.name_match(host).is_some()
    }

    /// How well this server's names match `host`, for nginx's selection
    /// order (ngx_http_find_virtual_server): the kind (0 exact, 1 leading
    /// wildcard, 2 trailing wildcard) and, within a kind, the length of the
    /// matching part (the longest wildcard wins).
    pub fn name_match(&self, host: &[u8]) -> Option<(u8, usize)> {
        let mut best: Option<(u8, usize)> = None;
        for name in self.server_names.iter().filter(|n| !n.starts_with('~')) {
            let n = name.as_bytes();
            let m = if let Some(suffix) = n.strip_prefix(b"*") {
                host.ends_with(suffix).then_some((1, suffix.len()))
            } else if let Some(rest) = n.strip_prefix(b".") {
                (host == rest || host.ends_with(n)).then_some((1, n.len()))
            } else if let Some(prefix) = n.strip_suffix(b"*") {
                host.starts_with(prefix).then_some((2, prefix.len()))
            } else {
                (host == n).then_some((0, n.len()))
            };
            if let Some((kind, len)) = m
                && best.is_none_or(|(k, l)| kind < k || (kind == k && len > l))
            {
                best = Some((kind, len));
            }
        }
        best
    }
}

/// The `http { }` block.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConf {
    /// `server` blocks in order.
    pub servers: Vec<Rc<ServerConf>>,
    /// Some template uses `$sent_http_NAME`: the header filter keeps a copy
    /// of each response header for it (nginx keeps `r->headers_out` anyway;
    /// holdfast writes headers straight into the output and copies them only
    /// when asked).
    pub keep_sent_head: bool,
    /// `map` blocks, in order ([`Variable::Map`](variables::Variable::Map)
    /// indexes them).
    pub maps: Vec<Rc<MapConf>>,
    /// `upstream` blocks, in order ([`ProxyPass::upstream`](http_proxy::ProxyPass::upstream)
    /// indexes them).
    pub upstreams: Vec<Rc<http_upstream::UpstreamConf>>,
    /// The implicit upstreams of the `proxy_pass` lines without variables,
    /// which a `proxy_pass` with variables may name (`HOST:PORT`).
    pub implicit_upstreams: Vec<ImplicitUpstream>,
    /// The names of the `set` variables
    /// ([`Variable::User`](variables::Variable::User) indexes them).
    pub user_vars: Vec<String>,
}

/// The whole configuration (ngx_cycle_t's view of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// The prefix (`-p`); relative paths in the file resolve against it.
    pub prefix: PathBuf,
    /// `worker_rlimit_nofile` (main).
    pub worker_rlimit_nofile: Option<u64>,
    /// `-g` and `-e`, kept for reloads.
    pub options: Options,
    /// The files read, with their text (`holdfast -T`).
    pub files: Vec<ConfFile>,
    /// `error_log` (main; several allowed). Default `stderr error`, or the
    /// `-e` target at `error`.
    pub error_log: Vec<ErrorLog>,
    /// `user` (main).
    pub user: Option<User>,
    /// `multi_accept` (events). Default off: one connection accepted per
    /// listener per loop iteration.
    pub multi_accept: bool,
    /// `worker_processes N|auto` (main); `auto` is the number of online CPUs.
    /// Default 1.
    pub worker_processes: usize,
    /// `daemon on|off` (main). Default off in holdfast (nginx: on).
    pub daemon: bool,
    /// `worker_shutdown_timeout` in ms (main); `None` (the default, also
    /// what `0` gives, as in nginx) waits for connections without a limit.
    pub worker_shutdown_timeout_ms: Option<u64>,
    /// `pid` (main). holdfast writes no pid file unless this is set (nginx
    /// defaults to `logs/nginx.pid`).
    pub pid: Option<PathBuf>,
    /// `events { worker_connections }`. Default 512.
    pub worker_connections: usize,
    /// The `http` block (None when the file has none: nothing listens).
    pub http: Option<HttpConf>,
    /// Remarks for `holdfast -T` (directives accepted with no effect).
    pub notes: Vec<String>,
}

impl Config {
    /// Reads and checks the configuration file `file`; relative paths in it
    /// resolve against `prefix`, `include` paths against the file's directory.
    pub fn load(file: &Path, prefix: &Path) -> Result<Config, ConfError> {
        build::load(file, prefix, &Options::default())
    }

    /// [`Config::load`] with the command line's `-g` and `-e`.
    pub fn load_with(file: &Path, prefix: &Path, options: &Options) -> Result<Config, ConfError> {
        build::load(file, prefix, options)
    }

    /// Parses configuration text as if it were the file `file` (for tests).
    pub fn from_str(text: &str, file: &Path, prefix: &Path) -> Result<Config, ConfError> {
        build::load_str(text, file, prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::variables::compile;

    #[test]
    fn new_type_defaults() {
        assert_eq!(LingeringClose::default(), LingeringClose::On);
        assert_eq!(
            KeepaliveDisable::default(),
            KeepaliveDisable {
                msie6: true,
                safari: false
            }
        );
        assert_eq!(CLIENT_MAX_BODY_SIZE, 1_048_576);
        assert_eq!(
            COMBINED_LOG_FORMAT,
            "$remote_addr - $remote_user [$time_local] \"$request\" $status \
             $body_bytes_sent \"$http_referer\" \"$http_user_agent\""
        );
        assert!(compile(COMBINED_LOG_FORMAT).is_ok());
    }

    #[test]
    fn main_fields_from_text() {
        let c = Config::from_str(
            "worker_processes 3; daemon on; worker_shutdown_timeout 5s;",
            Path::new("/x.conf"),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(
            (c.worker_processes, c.daemon, c.worker_shutdown_timeout_ms),
            (3, true, Some(5000))
        );
    }
}

/// Helpers shared by the configuration's unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    use super::{Config, HttpConf, ServerConf};
    use std::path::{Path, PathBuf};
    use std::rc::Rc;

    /// The file name test configurations are read as.
    pub(crate) const FILE: &str = "/fake/holdfast.conf";

    /// `text` read as [`FILE`] with the prefix `/pfx`.
    pub(crate) fn conf(text: &str) -> Config {
        Config::from_str(text, Path::new(FILE), Path::new("/pfx")).unwrap()
    }

    fn err(text: &str) -> String {
        Config::from_str(text, Path::new(FILE), Path::new("/pfx"))
            .unwrap_err()
            .to_string()
    }

    /// Expects `msg in /fake/holdfast.conf:line`.
    pub(crate) fn assert_err(text: &str, msg: &str, line: usize) {
        assert_eq!(
            err(text),
            format!("{msg} in {FILE}:{line}"),
            "config: {text:?}"
        );
    }

    /// The http block of a configuration that has one.
    pub(crate) fn http(c: &Config) -> &HttpConf {
        c.http.as_ref().unwrap()
    }

    /// The first server of `http { server { TEXT } }`.
    pub(crate) fn server(text: &str) -> Rc<ServerConf> {
        http(&conf(&format!("http {{ server {{ {text} }} }}"))).servers[0].clone()
    }

    /// A fresh, unique directory under the system temp dir.
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        temp_dir_in("conf", tag)
    }

    /// A fresh, unique directory named after a module and a tag.
    pub(crate) fn temp_dir_in(module: &str, tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "holdfast-{module}-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
