//! From the directive tree to the typed [`Config`]: contexts, argument counts,
//! argument values, defaults, and the http → server → location merge.
//!
//! Mirrors ngx_conf_handler() (the checks every directive goes through), the
//! directive handlers of the core, events and http core modules (plus `index`
//! and the rewrite module's `return`), and their `merge_*_conf` functions.
//!
//! Each level is first collected "as written" (`Raw*`, where `None` plays
//! nginx's NGX_CONF_UNSET), so that a directive written after a nested block
//! still applies to it, and merged once the whole `http` block has been read.
//! The location-level directives added later (bodies, lingering close,
//! `add_header`, `access_log`, ...) live in `loc.rs` and `http_log.rs`.

use super::http_log::LogFormats;
use super::listen::{self, ListenAt};
use super::loc;
use super::parser::{self, Directive};
use super::values::{parse_number, parse_size, parse_time_ms, parse_time_s};
use super::{
    CLIENT_HEADER_BUFFER_SIZE, CLIENT_HEADER_TIMEOUT_MS, ConfError, Config, ErrorLog, HttpConf,
    LARGE_CLIENT_HEADER_BUFFERS, LocConf, Location, LocationMatch, LogTarget, Return, ServerConf,
    Types, WORKER_CONNECTIONS,
};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Reads `file` and builds the configuration (see [`Config::load`]).
pub(super) fn load(file: &Path, prefix: &Path) -> Result<Config, ConfError> {
    let tree = parser::parse_file(file, conf_dir(file))?;
    Builder::new(prefix).main(&tree, file)
}

/// Parses `text` as if it were `file` (see [`Config::from_str`]).
pub(super) fn load_str(text: &str, file: &Path, prefix: &Path) -> Result<Config, ConfError> {
    let tree = parser::parse_str(text, file, conf_dir(file))?;
    Builder::new(prefix).main(&tree, file)
}

/// nginx's conf prefix: the main file's directory, where `include` starts.
fn conf_dir(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new("."))
}

// Contexts (nginx's NGX_MAIN_CONF, NGX_EVENT_CONF, NGX_HTTP_{MAIN,SRV,LOC}_CONF).
const MAIN: u8 = 0x01;
const EVENTS: u8 = 0x02;
const HTTP: u8 = 0x04;
const SRV: u8 = 0x08;
const LOC: u8 = 0x10;
const ANY_HTTP: u8 = HTTP | SRV | LOC;
const MANY: usize = usize::MAX;

/// One entry of the directive table (nginx's ngx_command_t, minus the handler).
struct Command {
    name: &'static str,
    ctx: u8,
    block: bool,
    min_args: usize,
    max_args: usize,
}

const fn cmd(
    name: &'static str,
    ctx: u8,
    block: bool,
    min_args: usize,
    max_args: usize,
) -> Command {
    Command {
        name,
        ctx,
        block,
        min_args,
        max_args,
    }
}

/// Every directive holdfast knows (`include` is handled by the parser).
static COMMANDS: &[Command] = &[
    cmd("worker_processes", MAIN, false, 1, 1),
    cmd("daemon", MAIN, false, 1, 1),
    cmd("worker_rlimit_nofile", MAIN, false, 1, 1),
    cmd("worker_shutdown_timeout", MAIN, false, 1, 1),
    cmd("error_log", MAIN, false, 1, 2),
    cmd("pid", MAIN, false, 1, 1),
    cmd("events", MAIN, true, 0, 0),
    cmd("http", MAIN, true, 0, 0),
    cmd("worker_connections", EVENTS, false, 1, 1),
    cmd("multi_accept", EVENTS, false, 1, 1),
    cmd("server", HTTP, true, 0, 0),
    cmd("listen", SRV, false, 1, MANY),
    cmd("server_name", SRV, false, 1, MANY),
    cmd("location", SRV | LOC, true, 1, 2),
    cmd("return", SRV | LOC, false, 1, 2),
    cmd("client_header_timeout", HTTP | SRV, false, 1, 1),
    cmd("client_header_buffer_size", HTTP | SRV, false, 1, 1),
    cmd("large_client_header_buffers", HTTP | SRV, false, 2, 2),
    cmd("root", ANY_HTTP, false, 1, 1),
    cmd("index", ANY_HTTP, false, 1, MANY),
    cmd("types", ANY_HTTP, true, 0, 0),
    cmd("default_type", ANY_HTTP, false, 1, 1),
    cmd("keepalive_timeout", ANY_HTTP, false, 1, 2),
    cmd("keepalive_requests", ANY_HTTP, false, 1, 1),
    cmd("keepalive_time", ANY_HTTP, false, 1, 1),
    cmd("send_timeout", ANY_HTTP, false, 1, 1),
    cmd("server_tokens", ANY_HTTP, false, 1, 1),
    cmd("client_max_body_size", ANY_HTTP, false, 1, 1),
    cmd("client_body_timeout", ANY_HTTP, false, 1, 1),
    cmd("lingering_close", ANY_HTTP, false, 1, 1),
    cmd("lingering_time", ANY_HTTP, false, 1, 1),
    cmd("lingering_timeout", ANY_HTTP, false, 1, 1),
    cmd("reset_timedout_connection", ANY_HTTP, false, 1, 1),
    cmd("keepalive_disable", ANY_HTTP, false, 1, 2),
    cmd("stub_status", SRV | LOC, false, 0, 1),
    cmd("add_header", ANY_HTTP, false, 2, 3),
    cmd("log_format", HTTP, false, 2, MANY),
    cmd("access_log", ANY_HTTP, false, 1, MANY),
];

/// Mirrors ngx_conf_handler()'s checks: known name, allowed in this context,
/// `;` vs `{`, and the number of arguments.
fn check(d: &Directive, ctx: u8) -> Result<(), ConfError> {
    let Some(cmd) = COMMANDS.iter().find(|c| c.name == d.name) else {
        return Err(unknown(d));
    };
    if cmd.ctx & ctx == 0 {
        return Err(d.error(format!("\"{}\" directive is not allowed here", d.name)));
    }
    if !cmd.block && d.block.is_some() {
        return Err(d.error(format!(
            "directive \"{}\" is not terminated by \";\"",
            d.name
        )));
    }
    if cmd.block && d.block.is_none() {
        return Err(d.error(format!("directive \"{}\" has no opening \"{{\"", d.name)));
    }
    if d.args.len() < cmd.min_args || d.args.len() > cmd.max_args {
        return Err(d.error(format!(
            "invalid number of arguments in \"{}\" directive",
            d.name
        )));
    }
    Ok(())
}

pub(super) fn unknown(d: &Directive) -> ConfError {
    d.error(format!("unknown directive \"{}\"", d.name))
}

/// `"NAME" directive MSG`: how nginx reports the string a handler returns.
pub(super) fn bad(d: &Directive, msg: &str) -> ConfError {
    d.error(format!("\"{}\" directive {msg}", d.name))
}

/// The `"NAME" directive is duplicate` check of the *_slot handlers.
pub(super) fn once<T>(slot: &Option<T>, d: &Directive) -> Result<(), ConfError> {
    match slot {
        Some(_) => Err(bad(d, "is duplicate")),
        None => Ok(()),
    }
}

/// The directives inside a block directive (checked to be a block already).
fn block(d: &Directive) -> &[Directive] {
    d.block.as_deref().unwrap_or_default()
}

/// Mirrors ngx_conf_set_flag_slot(): `on` or `off`, any case.
pub(super) fn flag(d: &Directive) -> Result<bool, ConfError> {
    let v = &d.args[0];
    if v.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(d.error(format!(
            "invalid value \"{v}\" in \"{}\" directive, it must be \"on\" or \"off\"",
            d.name
        )))
    }
}

/// Mirrors ngx_conf_set_num_slot().
fn number(d: &Directive, i: usize) -> Result<u64, ConfError> {
    parse_number(&d.args[i]).map_err(|_| bad(d, "invalid number"))
}

/// Mirrors ngx_conf_set_size_slot() (holdfast also refuses 0 where a buffer
/// size is meant).
fn size(d: &Directive, i: usize) -> Result<usize, ConfError> {
    parse_size(&d.args[i])
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(d, "invalid value"))
}

/// Mirrors ngx_conf_set_msec_slot().
pub(super) fn msec(d: &Directive, i: usize) -> Result<u64, ConfError> {
    parse_time_ms(&d.args[i]).map_err(|_| bad(d, "invalid value"))
}

/// Per-level location settings as written, before the merge.
#[derive(Debug, Default)]
struct RawLoc {
    root: Option<PathBuf>,
    index: Option<Vec<String>>,
    ret: Option<Return>,
    types: Option<Types>,
    default_type: Option<Rc<str>>,
    keepalive_timeout_ms: Option<u64>,
    keepalive_header_s: Option<u64>,
    keepalive_requests: Option<u64>,
    keepalive_time_ms: Option<u64>,
    send_timeout_ms: Option<u64>,
    server_tokens: Option<bool>,
    /// The directives of `loc.rs`.
    more: loc::RawMore,
}

/// Per-level server settings (http or server) as written, before the merge.
#[derive(Debug, Default, Clone, Copy)]
struct RawSrv {
    client_header_timeout_ms: Option<u64>,
    client_header_buffer_size: Option<usize>,
    large_client_header_buffers: Option<(usize, usize)>,
}

#[derive(Debug)]
struct RawLocation {
    kind: LocationMatch,
    uri: String,
    loc: RawLoc,
}

#[derive(Debug, Default)]
struct RawServer {
    listens: Vec<ListenAt>,
    names: Vec<String>,
    srv: RawSrv,
    loc: RawLoc,
    locations: Vec<RawLocation>,
}

/// Mirrors ngx_http_core_merge_loc_conf(): unset values come from the parent.
/// A `return` of an outer level wins over the inner one, because nginx runs
/// the server-level rewrite phase before it even picks a location. The fields
/// of `loc.rs` are merged there (`..` below).
fn merge_loc(raw: RawLoc, parent: &LocConf) -> LocConf {
    LocConf {
        root: raw.root.unwrap_or_else(|| parent.root.clone()),
        index: raw.index.unwrap_or_else(|| parent.index.clone()),
        ret: parent.ret.clone().or(raw.ret),
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
        ..loc::merge(raw.more, parent)
    }
}

/// Mirrors ngx_http_core_merge_srv_conf() for the server-level values.
fn merge_srv(raw: RawSrv, parent: RawSrv) -> RawSrv {
    RawSrv {
        client_header_timeout_ms: raw
            .client_header_timeout_ms
            .or(parent.client_header_timeout_ms),
        client_header_buffer_size: raw
            .client_header_buffer_size
            .or(parent.client_header_buffer_size),
        large_client_header_buffers: raw
            .large_client_header_buffers
            .or(parent.large_client_header_buffers),
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

/// Walks the tree; holds the prefix relative paths resolve against and the
/// `log_format`s defined so far (nginx's ngx_http_log_main_conf_t).
pub(super) struct Builder<'a> {
    prefix: &'a Path,
    pub(super) formats: RefCell<LogFormats>,
}

impl<'a> Builder<'a> {
    fn new(prefix: &'a Path) -> Self {
        Builder {
            prefix,
            formats: RefCell::new(LogFormats::new()),
        }
    }

    /// Mirrors ngx_conf_full_name(): relative paths are under the prefix.
    pub(super) fn path(&self, s: &str) -> PathBuf {
        self.prefix.join(s)
    }

    /// The main context (ngx_core_module's directives, `events`, `http`).
    fn main(&self, tree: &[Directive], file: &Path) -> Result<Config, ConfError> {
        let mut worker_processes = None;
        let mut daemon = None;
        let mut shutdown_timeout = None;
        let mut rlimit = None;
        let mut error_log = None;
        let mut pid = None;
        let mut events = None;
        let mut http = None;
        for d in tree {
            check(d, MAIN)?;
            match d.name.as_str() {
                "worker_processes" => {
                    // Mirrors ngx_set_worker_processes().
                    once(&worker_processes, d)?;
                    worker_processes = Some(if d.args[0] == "auto" {
                        online_cpus()
                    } else {
                        parse_number(&d.args[0])
                            .ok()
                            .and_then(|n| usize::try_from(n).ok())
                            .ok_or_else(|| bad(d, "invalid value"))?
                    });
                }
                "daemon" => {
                    once(&daemon, d)?;
                    daemon = Some(flag(d)?);
                }
                "worker_shutdown_timeout" => {
                    once(&shutdown_timeout, d)?;
                    shutdown_timeout = Some(msec(d, 0)?);
                }
                "worker_rlimit_nofile" => {
                    once(&rlimit, d)?;
                    rlimit = Some(number(d, 0)?);
                }
                "error_log" => {
                    once(&error_log, d)?;
                    error_log = Some(self.error_log(d)?);
                }
                "pid" => {
                    once(&pid, d)?;
                    pid = Some(self.path(&d.args[0]));
                }
                "events" => {
                    once(&events, d)?;
                    events = Some(self.events(d)?);
                }
                "http" => {
                    once(&http, d)?;
                    http = Some(self.http(d)?);
                }
                _ => return Err(unknown(d)),
            }
        }
        Ok(Config {
            file: file.to_path_buf(),
            prefix: self.prefix.to_path_buf(),
            worker_processes: worker_processes.unwrap_or(1),
            daemon: daemon.unwrap_or(false),
            // 0 is nginx's "no timeout", the same as not setting it.
            worker_shutdown_timeout_ms: shutdown_timeout.filter(|t| *t > 0),
            worker_rlimit_nofile: rlimit,
            error_log: error_log.unwrap_or(ErrorLog {
                target: LogTarget::Stderr,
                level: log::LevelFilter::Error,
            }),
            pid,
            worker_connections: events.unwrap_or(WORKER_CONNECTIONS),
            http,
        })
    }

    /// Mirrors ngx_error_log(): `error_log FILE|stderr [LEVEL]`.
    fn error_log(&self, d: &Directive) -> Result<ErrorLog, ConfError> {
        let target = match d.args[0].as_str() {
            "stderr" => LogTarget::Stderr,
            s if s.starts_with("syslog:") || s.starts_with("memory:") => {
                return Err(d.error(format!("\"{s}\" is not supported by holdfast")));
            }
            s => LogTarget::File(self.path(s)),
        };
        let level = match d.args.get(1).map(String::as_str) {
            None | Some("error" | "crit" | "alert" | "emerg") => log::LevelFilter::Error,
            Some("warn") => log::LevelFilter::Warn,
            Some("notice" | "info") => log::LevelFilter::Info,
            Some("debug") => log::LevelFilter::Debug,
            Some(other) => return Err(d.error(format!("invalid log level \"{other}\""))),
        };
        Ok(ErrorLog { target, level })
    }

    /// The `events` block; returns `worker_connections`.
    fn events(&self, d: &Directive) -> Result<usize, ConfError> {
        let mut connections = None;
        let mut multi_accept = None;
        for c in block(d) {
            check(c, EVENTS)?;
            match c.name.as_str() {
                "worker_connections" => {
                    // Mirrors ngx_event_connections().
                    once(&connections, c)?;
                    let n = parse_number(&c.args[0])
                        .ok()
                        .filter(|n| *n > 0)
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| c.error(format!("invalid number \"{}\"", c.args[0])))?;
                    connections = Some(n);
                }
                "multi_accept" => {
                    // Validated only: holdfast always accepts until EAGAIN.
                    once(&multi_accept, c)?;
                    multi_accept = Some(flag(c)?);
                }
                _ => return Err(unknown(c)),
            }
        }
        Ok(connections.unwrap_or(WORKER_CONNECTIONS))
    }

    /// Mirrors ngx_http_block(): reads the servers, then merges every level.
    fn http(&self, d: &Directive) -> Result<HttpConf, ConfError> {
        let mut loc = RawLoc::default();
        let mut srv = RawSrv::default();
        let mut servers = Vec::new();
        for c in block(d) {
            check(c, HTTP)?;
            if c.name == "server" {
                servers.push(self.server(c)?);
            } else if !srv_directive(c, &mut srv)? {
                self.loc_directive(c, &mut loc)?;
            }
        }
        let mut listens: Vec<Vec<ListenAt>> = servers
            .iter_mut()
            .map(|s| std::mem::take(&mut s.listens))
            .collect();
        listen::check_listens(&mut listens)?;

        let defaults = loc::defaults(self);
        let http_loc = merge_loc(loc, &defaults);
        let servers = servers
            .into_iter()
            .zip(listens)
            .map(|(raw, listens)| {
                let conf = Rc::new(merge_loc(raw.loc, &http_loc));
                let locations = raw
                    .locations
                    .into_iter()
                    .map(|l| Location {
                        kind: l.kind,
                        uri: l.uri,
                        conf: Rc::new(merge_loc(l.loc, &conf)),
                    })
                    .collect();
                let s = merge_srv(raw.srv, srv);
                Rc::new(ServerConf {
                    listen: listens.into_iter().map(|l| l.listen).collect(),
                    server_names: raw.names,
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
                    locations,
                })
            })
            .collect();
        Ok(HttpConf { servers })
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
                        s.names.push(server_name(c, name)?);
                    }
                }
                "location" => {
                    let l = self.location(c, &s.locations)?;
                    s.locations.push(l);
                }
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

    /// Mirrors ngx_http_core_location() for `location [=|^~] URI { }`.
    /// Regex and named locations, and locations inside locations, are refused.
    fn location(&self, d: &Directive, siblings: &[RawLocation]) -> Result<RawLocation, ConfError> {
        let (kind, uri) = match d.args.as_slice() {
            [modifier, uri] => match modifier.as_str() {
                "=" => (LocationMatch::Exact, uri.as_str()),
                "^~" => (LocationMatch::PrefixNoRegex, uri.as_str()),
                "~" | "~*" => {
                    return Err(d.error(format!(
                        "regular expression locations are not supported: \"{modifier} {uri}\""
                    )));
                }
                _ => return Err(d.error(format!("invalid location modifier \"{modifier}\""))),
            },
            [uri] => {
                if let Some(rest) = uri.strip_prefix('=') {
                    (LocationMatch::Exact, rest)
                } else if let Some(rest) = uri.strip_prefix("^~") {
                    (LocationMatch::PrefixNoRegex, rest)
                } else if uri.starts_with('~') {
                    return Err(d.error(format!(
                        "regular expression locations are not supported: \"{uri}\""
                    )));
                } else if uri.starts_with('@') {
                    return Err(d.error(format!("named locations are not supported: \"{uri}\"")));
                } else {
                    (LocationMatch::Prefix, uri.as_str())
                }
            }
            _ => return Err(unknown(d)),
        };
        let exact = kind == LocationMatch::Exact;
        if siblings
            .iter()
            .any(|l| l.uri == uri && (l.kind == LocationMatch::Exact) == exact)
        {
            return Err(d.error(format!("duplicate location \"{uri}\"")));
        }
        let mut loc = RawLoc::default();
        for c in block(d) {
            check(c, LOC)?;
            if c.name == "location" {
                return Err(c.error(format!(
                    "nested locations are not supported (\"{}\" inside \"{uri}\")",
                    c.args.join(" ")
                )));
            }
            self.loc_directive(c, &mut loc)?;
        }
        Ok(RawLocation {
            kind,
            uri: uri.to_string(),
            loc,
        })
    }

    /// The directives that live in the location conf (any http level).
    fn loc_directive(&self, d: &Directive, loc: &mut RawLoc) -> Result<(), ConfError> {
        match d.name.as_str() {
            "root" => {
                // Mirrors ngx_http_core_root().
                once(&loc.root, d)?;
                loc.root = Some(self.path(&d.args[0]));
            }
            "index" => index(d, loc.index.get_or_insert_with(Vec::new))?,
            "return" => {
                // Several `return`s in one block: the first one is what runs.
                let r = parse_return(d)?;
                loc.ret.get_or_insert(r);
            }
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
            "keepalive_requests" => {
                once(&loc.keepalive_requests, d)?;
                loc.keepalive_requests = Some(number(d, 0)?);
            }
            "keepalive_time" => {
                once(&loc.keepalive_time_ms, d)?;
                loc.keepalive_time_ms = Some(msec(d, 0)?);
            }
            "send_timeout" => {
                once(&loc.send_timeout_ms, d)?;
                loc.send_timeout_ms = Some(msec(d, 0)?);
            }
            "server_tokens" => {
                once(&loc.server_tokens, d)?;
                loc.server_tokens = Some(flag(d)?);
            }
            _ => return self.more_directive(d, &mut loc.more),
        }
        Ok(())
    }
}

/// `worker_processes auto`: nginx's ngx_ncpu, the online CPUs (at least 1).
fn online_cpus() -> usize {
    // SAFETY: sysconf has no memory effects; it returns -1 on error.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

/// The server-conf directives also allowed at http level; `Ok(false)` when
/// `d` is not one of them.
fn srv_directive(d: &Directive, srv: &mut RawSrv) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "client_header_timeout" => {
            once(&srv.client_header_timeout_ms, d)?;
            srv.client_header_timeout_ms = Some(msec(d, 0)?);
        }
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
        _ => return Ok(false),
    }
    Ok(true)
}

/// Header buffers are allocated per busy connection, and a failed
/// allocation aborts a Rust process: sizes above this are refused when the
/// configuration is read (nginx would fail each request instead).
pub(super) const MAX_HEADER_BUFFER_BYTES: usize = 64 * 1024 * 1024;

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
fn index(d: &Directive, list: &mut Vec<String>) -> Result<(), ConfError> {
    for (i, name) in d.args.iter().enumerate() {
        if name.is_empty() {
            return Err(d.error("index \"\" in \"index\" directive is invalid"));
        }
        if name.starts_with('/') && i + 1 != d.args.len() {
            return Err(d.error("only the last index in \"index\" directive should be absolute"));
        }
        list.push(name.clone());
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

/// Mirrors ngx_http_rewrite_return(): `return CODE [TEXT]` or `return URL`.
fn parse_return(d: &Directive) -> Result<Return, ConfError> {
    let first = &d.args[0];
    let invalid = || d.error(format!("invalid return code \"{first}\""));
    match parse_number(first) {
        Ok(code) => {
            let code = u16::try_from(code)
                .ok()
                .filter(|c| *c <= 999)
                .ok_or_else(invalid)?;
            let text = d.args.get(1).map(|t| Rc::from(t.as_bytes()));
            Ok(Return { code, text })
        }
        Err(_) => {
            let is_url = ["http://", "https://", "$scheme"]
                .iter()
                .any(|p| first.starts_with(p));
            if d.args.len() != 1 || !is_url {
                return Err(invalid());
            }
            Ok(Return {
                code: 302,
                text: Some(Rc::from(first.as_bytes())),
            })
        }
    }
}

/// Mirrors ngx_http_core_server_name(): lower-cased; a `*` only as `*.` at the
/// start or `.*` at the end; regex names are refused.
fn server_name(d: &Directive, name: &str) -> Result<String, ConfError> {
    if name.starts_with('~') {
        return Err(d.error(format!(
            "regular expression server names are not supported: \"{name}\""
        )));
    }
    let stars = name.matches('*').count();
    if stars > 1 || (stars == 1 && !name.starts_with("*.") && !name.ends_with(".*")) {
        return Err(d.error(format!("invalid server name or wildcard \"{name}\"")));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
pub(super) mod tests {
    //! Also the helpers of the other files' tests.

    use super::*;
    use crate::conf::{
        KEEPALIVE_REQUESTS, KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, LISTEN_BACKLOG,
        SEND_TIMEOUT_MS,
    };
    use std::fs;
    use std::net::SocketAddr;

    const FILE: &str = "/fake/holdfast.conf";

    pub(in crate::conf) fn conf(text: &str) -> Config {
        Config::from_str(text, Path::new(FILE), Path::new("/pfx")).unwrap()
    }

    fn err(text: &str) -> String {
        Config::from_str(text, Path::new(FILE), Path::new("/pfx"))
            .unwrap_err()
            .to_string()
    }

    /// Expects `msg in /fake/holdfast.conf:line`.
    pub(in crate::conf) fn assert_err(text: &str, msg: &str, line: usize) {
        assert_eq!(
            err(text),
            format!("{msg} in {FILE}:{line}"),
            "config: {text:?}"
        );
    }

    pub(in crate::conf) fn http(c: &Config) -> &HttpConf {
        c.http.as_ref().unwrap()
    }

    /// The first server of `http { server { TEXT } }`.
    pub(in crate::conf) fn server(text: &str) -> Rc<ServerConf> {
        http(&conf(&format!("http {{ server {{ {text} }} }}"))).servers[0].clone()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        crate::conf::testutil::temp_dir("build", tag)
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = conf("");
        assert_eq!(c.file, Path::new(FILE));
        assert_eq!(c.prefix, Path::new("/pfx"));
        assert_eq!(c.worker_connections, WORKER_CONNECTIONS);
        assert_eq!(c.worker_processes, 1);
        assert!(!c.daemon);
        assert_eq!(c.worker_shutdown_timeout_ms, None);
        assert_eq!(c.worker_rlimit_nofile, None);
        assert_eq!(c.pid, None);
        assert_eq!(
            c.error_log,
            ErrorLog {
                target: LogTarget::Stderr,
                level: log::LevelFilter::Error
            }
        );
        assert!(c.http.is_none());
        assert!(http(&conf("http { }")).servers.is_empty());
    }

    #[test]
    fn main_directives() {
        let c = conf(
            "worker_processes auto; daemon off; worker_rlimit_nofile 4096;\n\
             error_log logs/error.log notice; pid run/h.pid;\n\
             events { worker_connections 64; multi_accept on; }",
        );
        assert_eq!(c.worker_rlimit_nofile, Some(4096));
        assert_eq!(
            c.error_log.target,
            LogTarget::File("/pfx/logs/error.log".into())
        );
        assert_eq!(c.error_log.level, log::LevelFilter::Info);
        assert_eq!(c.pid.as_deref(), Some(Path::new("/pfx/run/h.pid")));
        assert_eq!(c.worker_connections, 64);
        assert_eq!(c.worker_processes, online_cpus());
        assert!(c.worker_processes >= 1);
        assert!(!c.daemon);
        let c = conf("worker_processes 2; error_log /var/log/e.log; pid /run/x.pid;");
        assert_eq!(c.worker_processes, 2);
        assert_eq!(c.error_log.target, LogTarget::File("/var/log/e.log".into()));
        assert_eq!(c.error_log.level, log::LevelFilter::Error);
        assert_eq!(c.pid.as_deref(), Some(Path::new("/run/x.pid")));
        for (lvl, want) in [
            ("debug", log::LevelFilter::Debug),
            ("info", log::LevelFilter::Info),
            ("warn", log::LevelFilter::Warn),
            ("crit", log::LevelFilter::Error),
            ("alert", log::LevelFilter::Error),
            ("emerg", log::LevelFilter::Error),
        ] {
            assert_eq!(
                conf(&format!("error_log stderr {lvl};")).error_log.level,
                want
            );
        }
        assert_eq!(conf("events { }").worker_connections, WORKER_CONNECTIONS);
        assert!(conf("daemon on;").daemon);
        assert!(!conf("daemon OFF;").daemon);
        assert_eq!(conf("worker_processes 0;").worker_processes, 0);
        let t = |v: &str| conf(&format!("worker_shutdown_timeout {v};")).worker_shutdown_timeout_ms;
        assert_eq!(t("10s"), Some(10_000));
        assert_eq!(t("1m30s"), Some(90_000));
        assert_eq!(t("250ms"), Some(250));
        assert_eq!(t("30"), Some(30_000));
        // 0 is nginx's "no timeout".
        assert_eq!(t("0"), None);
    }

    #[test]
    fn new_main_directive_errors() {
        assert_err(
            "worker_shutdown_timeout soon;",
            "\"worker_shutdown_timeout\" directive invalid value",
            1,
        );
        assert_err(
            "worker_shutdown_timeout 1s;\nworker_shutdown_timeout 2s;",
            "\"worker_shutdown_timeout\" directive is duplicate",
            2,
        );
        assert_err(
            "worker_shutdown_timeout;",
            "invalid number of arguments in \"worker_shutdown_timeout\" directive",
            1,
        );
        assert_err(
            "http {\nworker_shutdown_timeout 1s;\n}",
            "\"worker_shutdown_timeout\" directive is not allowed here",
            2,
        );
        assert_err(
            "daemon on;\ndaemon off;",
            "\"daemon\" directive is duplicate",
            2,
        );
        assert_err(
            "daemon on off;",
            "invalid number of arguments in \"daemon\" directive",
            1,
        );
        assert_err(
            "http {\ndaemon on;\n}",
            "\"daemon\" directive is not allowed here",
            2,
        );
        assert_err(
            "worker_processes -2;",
            "\"worker_processes\" directive invalid value",
            1,
        );
        assert_err(
            "worker_processes AUTO;",
            "\"worker_processes\" directive invalid value",
            1,
        );
        assert_err(
            "events {\nworker_processes 2;\n}",
            "\"worker_processes\" directive is not allowed here",
            2,
        );
    }

    #[test]
    fn main_errors() {
        assert_err("error_log stderr loud;", "invalid log level \"loud\"", 1);
        assert_err(
            "error_log a b c;",
            "invalid number of arguments in \"error_log\" directive",
            1,
        );
        assert_err(
            "\nworker_processes many;",
            "\"worker_processes\" directive invalid value",
            2,
        );
        assert_err(
            "worker_processes 1;\nworker_processes 1;",
            "\"worker_processes\" directive is duplicate",
            2,
        );
        assert_err(
            "daemon yes;",
            "invalid value \"yes\" in \"daemon\" directive, it must be \"on\" or \"off\"",
            1,
        );
        assert_err(
            "worker_rlimit_nofile -1;",
            "\"worker_rlimit_nofile\" directive invalid number",
            1,
        );
        assert_err("pid a;\npid b;", "\"pid\" directive is duplicate", 2);
        assert_err(
            "events {\n worker_connections 1k;\n}",
            "invalid number \"1k\"",
            2,
        );
        assert_err(
            "events {\n worker_connections 0;\n}",
            "invalid number \"0\"",
            2,
        );
        assert_err(
            "events { worker_connections 1;\n worker_connections 2; }",
            "\"worker_connections\" directive is duplicate",
            2,
        );
        assert_err(
            "events { }\nevents { }",
            "\"events\" directive is duplicate",
            2,
        );
        assert_err("http { }\n\nhttp { }", "\"http\" directive is duplicate", 3);
        assert_err(
            "worker_connections 10;",
            "\"worker_connections\" directive is not allowed here",
            1,
        );
        assert_err(
            "events { root /x; }",
            "\"root\" directive is not allowed here",
            1,
        );
        assert_err("\n\nfoo bar;", "unknown directive \"foo\"", 3);
        assert_err("http { server { foo; } }", "unknown directive \"foo\"", 1);
        assert_err("events;", "directive \"events\" has no opening \"{\"", 1);
        assert_err(
            "pid x { }",
            "directive \"pid\" is not terminated by \";\"",
            1,
        );
        assert_err(
            "http x { }",
            "invalid number of arguments in \"http\" directive",
            1,
        );
        assert_err(
            "error_log syslog:server=x;",
            "\"syslog:server=x\" is not supported by holdfast",
            1,
        );
    }

    #[test]
    fn http_defaults() {
        let s = server("");
        assert_eq!(s.listen.len(), 1);
        assert_eq!(s.listen[0].addr, "0.0.0.0:80".parse().unwrap());
        assert!(!s.listen[0].default_server && !s.listen[0].reuseport);
        assert_eq!(s.listen[0].backlog, LISTEN_BACKLOG);
        assert_eq!(s.server_names, vec![String::new()]);
        assert_eq!(s.client_header_timeout_ms, CLIENT_HEADER_TIMEOUT_MS);
        assert_eq!(s.client_header_buffer_size, CLIENT_HEADER_BUFFER_SIZE);
        assert_eq!(s.large_client_header_buffers, LARGE_CLIENT_HEADER_BUFFERS);
        assert!(s.locations.is_empty());
        let c = &s.conf;
        assert_eq!(c.root, Path::new("/pfx/html"));
        assert_eq!(c.index, vec!["index.html".to_string()]);
        assert_eq!(c.ret, None);
        assert_eq!(&*c.default_type, "text/plain");
        assert_eq!(c.keepalive_timeout_ms, KEEPALIVE_TIMEOUT_MS);
        assert_eq!(c.keepalive_header_s, None);
        assert_eq!(c.keepalive_requests, KEEPALIVE_REQUESTS);
        assert_eq!(c.keepalive_time_ms, KEEPALIVE_TIME_MS);
        assert_eq!(c.send_timeout_ms, SEND_TIMEOUT_MS);
        assert!(c.server_tokens);
        // nginx's built-in three types when no `types` block exists.
        assert_eq!(c.types.by_ext.len(), 3);
        assert_eq!(c.types.lookup("HTML").map(|t| &**t), Some("text/html"));
        assert_eq!(c.types.lookup("gif").map(|t| &**t), Some("image/gif"));
        assert_eq!(c.types.lookup("jpg").map(|t| &**t), Some("image/jpeg"));
        assert_eq!(c.types.lookup("png"), None);
    }

    #[test]
    fn inheritance_http_server_location() {
        let c = conf(
            "http {\n\
               keepalive_timeout 30s 25; send_timeout 10s; server_tokens off;\n\
               root www; index a.html b.html; default_type text/html;\n\
               client_header_timeout 5s; large_client_header_buffers 2 16k;\n\
               server {\n\
                 client_header_buffer_size 2k;\n\
                 location /a { keepalive_timeout 5s 4; root /srv/a; }\n\
                 location /b { }\n\
                 location /c { keepalive_timeout 7s; index c.html; server_tokens on; }\n\
                 keepalive_requests 5;\n\
               }\n\
               server { large_client_header_buffers 8 1k; client_header_timeout 1m; }\n\
             }",
        );
        let h = http(&c);
        let s = &h.servers[0];
        assert_eq!(s.client_header_timeout_ms, 5000);
        assert_eq!(s.client_header_buffer_size, 2048);
        assert_eq!(s.large_client_header_buffers, (2, 16384));
        let s2 = &h.servers[1];
        assert_eq!(s2.client_header_timeout_ms, 60_000);
        assert_eq!(s2.client_header_buffer_size, CLIENT_HEADER_BUFFER_SIZE);
        assert_eq!(s2.large_client_header_buffers, (8, 1024));

        let srv = &s.conf;
        assert_eq!(srv.keepalive_timeout_ms, 30_000);
        assert_eq!(srv.keepalive_header_s, Some(25));
        assert_eq!(srv.root, Path::new("/pfx/www"));
        assert_eq!(srv.index, vec!["a.html", "b.html"]);
        assert_eq!(&*srv.default_type, "text/html");
        assert!(!srv.server_tokens);
        // Set after the locations, still inherited by them.
        assert_eq!(srv.keepalive_requests, 5);

        let a = s.loc_conf(b"/a/x");
        assert_eq!(
            (a.keepalive_timeout_ms, a.keepalive_header_s),
            (5000, Some(4))
        );
        assert_eq!(a.root, Path::new("/srv/a"));
        assert_eq!(a.send_timeout_ms, 10_000);
        assert_eq!(a.keepalive_requests, 5);

        let b = s.loc_conf(b"/b");
        assert_eq!(
            (b.keepalive_timeout_ms, b.keepalive_header_s),
            (30_000, Some(25))
        );
        assert_eq!(b.root, Path::new("/pfx/www"));
        assert!(!b.server_tokens);

        // The header value is merged separately, as in nginx.
        let cc = s.loc_conf(b"/c");
        assert_eq!(
            (cc.keepalive_timeout_ms, cc.keepalive_header_s),
            (7000, Some(25))
        );
        assert_eq!(cc.index, vec!["c.html"]);
        assert!(cc.server_tokens);

        // No location matches: the server level.
        assert!(Rc::ptr_eq(s.loc_conf(b"/zzz"), &s.conf));
        assert_eq!(h.servers[1].conf.keepalive_timeout_ms, 30_000);
    }

    #[test]
    fn location_matching() {
        let s = server(
            "location / { root /r; }\n\
             location /img/ { root /i; }\n\
             location ^~ /img/big/ { root /b; }\n\
             location = /img/ { root /e; }\n\
             location =/exact { root /x; }\n\
             location ^~/n { root /n; }",
        );
        assert_eq!(s.locations.len(), 6);
        assert_eq!(s.locations[2].kind, LocationMatch::PrefixNoRegex);
        assert_eq!(s.locations[4].kind, LocationMatch::Exact);
        assert_eq!(s.locations[4].uri, "/exact");
        assert_eq!(s.locations[5].kind, LocationMatch::PrefixNoRegex);
        assert_eq!(s.locations[5].uri, "/n");
        let root = |p: &[u8]| s.loc_conf(p).root.clone();
        assert_eq!(root(b"/"), Path::new("/r"));
        assert_eq!(root(b"/other"), Path::new("/r"));
        assert_eq!(root(b"/img/"), Path::new("/e"));
        assert_eq!(root(b"/img/a.png"), Path::new("/i"));
        assert_eq!(root(b"/img/big/a.png"), Path::new("/b"));
        assert_eq!(root(b"/exact"), Path::new("/x"));
        assert_eq!(root(b"/exact/more"), Path::new("/r"));
        assert_eq!(root(b"/nn"), Path::new("/n"));
        assert_eq!(
            s.find_location(b"/exact").map(|l| l.kind),
            Some(LocationMatch::Exact)
        );
        let s = server("location = /only { }");
        assert!(s.find_location(b"/").is_none());
        assert!(s.find_location(b"/only/").is_none());
    }

    #[test]
    fn location_errors() {
        let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
        assert_err(
            &wrap("location / { }\nlocation / { }"),
            "duplicate location \"/\"",
            4,
        );
        assert_err(
            &wrap("location /a { }\nlocation ^~ /a { }"),
            "duplicate location \"/a\"",
            4,
        );
        assert_err(
            &wrap("location = /a { }\nlocation =/a { }"),
            "duplicate location \"/a\"",
            4,
        );
        assert!(
            conf(&wrap("location = /a { }\nlocation /a { }"))
                .http
                .is_some()
        );
        assert_err(
            &wrap("location / {\n location /x { }\n}"),
            "nested locations are not supported (\"/x\" inside \"/\")",
            4,
        );
        assert_err(
            &wrap("location ~ \\.php$ { }"),
            "regular expression locations are not supported: \"~ \\.php$\"",
            3,
        );
        assert_err(
            &wrap("location ~*x { }"),
            "regular expression locations are not supported: \"~*x\"",
            3,
        );
        assert_err(
            &wrap("location @fallback { }"),
            "named locations are not supported: \"@fallback\"",
            3,
        );
        assert_err(
            &wrap("location ! /x { }"),
            "invalid location modifier \"!\"",
            3,
        );
        assert_err(
            &wrap("location { }"),
            "invalid number of arguments in \"location\" directive",
            3,
        );
        assert_err(
            &wrap("location a b c { }"),
            "invalid number of arguments in \"location\" directive",
            3,
        );
        assert_err(
            &wrap("location /;"),
            "directive \"location\" has no opening \"{\"",
            3,
        );
        assert_err(
            "http {\nlocation / { }\n}",
            "\"location\" directive is not allowed here",
            2,
        );
        assert_err(
            &wrap("location / { listen 80; }"),
            "\"listen\" directive is not allowed here",
            3,
        );
        assert_err(
            &wrap("location / {\n client_header_timeout 1s; }"),
            "\"client_header_timeout\" directive is not allowed here",
            4,
        );
        assert_err(
            &wrap("location / {\n root a;\n root b; }"),
            "\"root\" directive is duplicate",
            5,
        );
    }

    #[test]
    fn header_buffers_too_large_to_allocate_are_refused() {
        let wrap = |body: &str| format!("http {{\n{body}\n}}");
        assert_err(
            &wrap("client_header_buffer_size 25G;"),
            "\"client_header_buffer_size\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("large_client_header_buffers 1000 1m;"),
            "\"large_client_header_buffers\" directive invalid value",
            2,
        );
        let ok = conf(&wrap(
            "client_header_buffer_size 64m; large_client_header_buffers 4 16m;",
        ));
        assert_eq!(ok.http.unwrap().servers.len(), 0);
    }

    #[test]
    fn directive_value_errors() {
        let wrap = |body: &str| format!("http {{\n{body}\n}}");
        assert_err(
            &wrap("keepalive_timeout soon;"),
            "\"keepalive_timeout\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("keepalive_timeout 5s 100ms;"),
            "\"keepalive_timeout\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("keepalive_timeout 1 2 3;"),
            "invalid number of arguments in \"keepalive_timeout\" directive",
            2,
        );
        assert_err(
            &wrap("keepalive_timeout 5;\nkeepalive_timeout 6;"),
            "\"keepalive_timeout\" directive is duplicate",
            3,
        );
        assert_err(
            &wrap("keepalive_requests lots;"),
            "\"keepalive_requests\" directive invalid number",
            2,
        );
        assert_err(
            &wrap("keepalive_time 1x;"),
            "\"keepalive_time\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("send_timeout -1;"),
            "\"send_timeout\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("server_tokens maybe;"),
            "invalid value \"maybe\" in \"server_tokens\" directive, it must be \"on\" or \"off\"",
            2,
        );
        assert_err(
            &wrap("client_header_buffer_size 1q;"),
            "\"client_header_buffer_size\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("client_header_buffer_size 0;"),
            "\"client_header_buffer_size\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("large_client_header_buffers 0 8k;"),
            "\"large_client_header_buffers\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("large_client_header_buffers 4 x;"),
            "\"large_client_header_buffers\" directive invalid value",
            2,
        );
        assert_err(
            &wrap("large_client_header_buffers 4;"),
            "invalid number of arguments in \"large_client_header_buffers\" directive",
            2,
        );
        assert_err(
            &wrap("client_header_timeout 1s;\nclient_header_timeout 1s;"),
            "\"client_header_timeout\" directive is duplicate",
            3,
        );
        assert_err(
            &wrap("default_type a;\ndefault_type b;"),
            "\"default_type\" directive is duplicate",
            3,
        );
        assert_err(
            &wrap("default_type;"),
            "invalid number of arguments in \"default_type\" directive",
            2,
        );
        assert_err(
            &wrap("index a \"\";"),
            "index \"\" in \"index\" directive is invalid",
            2,
        );
        assert_err(
            &wrap("index /a b;"),
            "only the last index in \"index\" directive should be absolute",
            2,
        );
        assert_err(
            &wrap("return 200;"),
            "\"return\" directive is not allowed here",
            2,
        );
        assert_err(
            &wrap("listen 80;"),
            "\"listen\" directive is not allowed here",
            2,
        );
        assert_err(
            &wrap("server_name x;"),
            "\"server_name\" directive is not allowed here",
            2,
        );
        assert_err(
            &wrap("server x { }"),
            "invalid number of arguments in \"server\" directive",
            2,
        );
        assert_err(
            &wrap("events { }"),
            "\"events\" directive is not allowed here",
            2,
        );
        assert_err(
            &wrap("types {\n text/html html;\n a/b { }\n}"),
            "unexpected \"{\"",
            4,
        );
        assert_err(
            &wrap("types x { }"),
            "invalid number of arguments in \"types\" directive",
            2,
        );
        // Same-level index directives accumulate.
        let s = server("index a; index b c /d;");
        assert_eq!(s.conf.index, vec!["a", "b", "c", "/d"]);
    }

    #[test]
    fn returns() {
        let ret = |args: &str| server(&format!("return {args};")).conf.ret.clone().unwrap();
        let text = |r: &Return| {
            r.text
                .as_deref()
                .map(|t| String::from_utf8_lossy(t).into_owned())
        };
        let r = ret("200 \"Hello, World!\"");
        assert_eq!((r.code, text(&r).as_deref()), (200, Some("Hello, World!")));
        let r = ret("404");
        assert_eq!((r.code, r.text.is_none()), (404, true));
        let r = ret("0");
        assert_eq!(r.code, 0);
        let r = ret("999 x");
        assert_eq!(r.code, 999);
        let r = ret("301 https://example.com/new");
        assert_eq!(
            (r.code, text(&r).as_deref()),
            (301, Some("https://example.com/new"))
        );
        for url in ["http://a/", "https://b/c", "$scheme://host/x"] {
            let r = ret(url);
            assert_eq!((r.code, text(&r).as_deref()), (302, Some(url)));
        }
        let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
        assert_err(&wrap("return 1000;"), "invalid return code \"1000\"", 3);
        assert_err(&wrap("return 65536 x;"), "invalid return code \"65536\"", 3);
        assert_err(&wrap("return -1;"), "invalid return code \"-1\"", 3);
        assert_err(&wrap("return abc;"), "invalid return code \"abc\"", 3);
        assert_err(
            &wrap("return http://x y;"),
            "invalid return code \"http://x\"",
            3,
        );
        assert_err(
            &wrap("return ftp://x;"),
            "invalid return code \"ftp://x\"",
            3,
        );
        assert_err(
            &wrap("return;"),
            "invalid number of arguments in \"return\" directive",
            3,
        );
        assert_err(
            &wrap("return 200 a b;"),
            "invalid number of arguments in \"return\" directive",
            3,
        );

        // Location return; a server-level return wins everywhere (it runs first).
        let s = server("location = /p { return 200 p; return 500; } location /q { }");
        assert_eq!(s.conf.ret, None);
        assert_eq!(s.loc_conf(b"/p").ret.as_ref().map(|r| r.code), Some(200));
        assert_eq!(s.loc_conf(b"/q").ret, None);
        let s = server("return 403; location = /p { return 200 p; } location /q { }");
        assert_eq!(s.conf.ret.as_ref().map(|r| r.code), Some(403));
        assert_eq!(s.loc_conf(b"/p").ret.as_ref().map(|r| r.code), Some(403));
        assert_eq!(s.loc_conf(b"/q").ret.as_ref().map(|r| r.code), Some(403));
    }

    #[test]
    fn listen_forms() {
        let l = |args: &str| server(&format!("listen {args};")).listen.clone();
        let addr = |s: &str| -> SocketAddr { s.parse().unwrap() };
        assert_eq!(l("8080")[0].addr, addr("0.0.0.0:8080"));
        assert_eq!(l("*:81")[0].addr, addr("0.0.0.0:81"));
        assert_eq!(l("127.0.0.1:8080")[0].addr, addr("127.0.0.1:8080"));
        assert_eq!(l("127.0.0.1")[0].addr, addr("127.0.0.1:80"));
        assert_eq!(l("localhost:8080")[0].addr, addr("127.0.0.1:8080"));
        assert_eq!(l("[::1]:8080")[0].addr, addr("[::1]:8080"));
        assert_eq!(l("[::]")[0].addr, addr("[::]:80"));
        assert_eq!(l("0")[0].addr, addr("0.0.0.0:0"));
        let x = &l("10.0.0.1:9 default_server backlog=64 reuseport deferred")[0];
        assert!(x.default_server && x.reuseport && x.deferred);
        assert_eq!(x.backlog, 64);
        assert!(l("80 default")[0].default_server);
        let s = server("listen 1; listen [::1]:2;");
        assert_eq!(s.listen.len(), 2);
    }

    #[test]
    fn listen_errors() {
        let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
        let e = |spec: &str, what: &str| {
            assert_err(
                &wrap(&format!("listen {spec};")),
                &format!("{what} in \"{spec}\" of the \"listen\" directive"),
                3,
            )
        };
        e("127.0.0.1:99999", "invalid port");
        e("65536", "invalid port");
        e("127.0.0.1:", "invalid port");
        e("127.0.0.1:http", "invalid port");
        e("[::1", "invalid IPv6 address");
        e("[zz]:80", "invalid IPv6 address");
        e("[::1]x", "invalid host");
        e("::1", "invalid host");
        e(":80", "no host");
        e("unix:/tmp/s", "unix domain sockets are not supported");
        assert_err(&wrap("listen 80 ssl;"), "invalid parameter \"ssl\"", 3);
        assert_err(&wrap("listen 80 backlog=0;"), "invalid backlog \"0\"", 3);
        assert_err(&wrap("listen 80 backlog=x;"), "invalid backlog \"x\"", 3);
        assert_err(
            &wrap("listen;"),
            "invalid number of arguments in \"listen\" directive",
            3,
        );
        assert_err(
            &wrap("listen 80;\nlisten 0.0.0.0:80;"),
            "a duplicate listen 0.0.0.0:80",
            4,
        );
        assert_err(
            "http {\nserver { listen 127.0.0.1:80 default_server; }\nserver {\n listen 127.0.0.1:80 default_server; }\n}",
            "a duplicate default server for 127.0.0.1:80",
            4,
        );
        assert_err(
            "http {\nserver { listen [::1]:8 backlog=5; }\nserver { listen [::1]:8 reuseport; }\n}",
            "duplicate listen options for [::1]:8",
            3,
        );
        // One server sets the options, every server on that address sees them.
        let c = conf(
            "http { server { listen 8080; } server { listen 8080 default_server backlog=9 reuseport; }\n\
             server { listen 8080; } server { } server { } }",
        );
        for s in &http(&c).servers[..3] {
            assert_eq!((s.listen[0].backlog, s.listen[0].reuseport), (9, true));
        }
        assert!(http(&c).servers[1].listen[0].default_server);
        assert!(!http(&c).servers[2].listen[0].default_server);
    }

    #[test]
    fn server_names() {
        let s = server(
            "server_name Example.COM *.Example.com; server_name www.example.* .b.org \"\" _;",
        );
        assert_eq!(
            s.server_names,
            vec![
                "example.com",
                "*.example.com",
                "www.example.*",
                ".b.org",
                "",
                "_"
            ]
        );
        assert!(s.matches_name(b"example.com"));
        assert!(s.matches_name(b"a.example.com"));
        assert!(s.matches_name(b"www.example.net"));
        assert!(s.matches_name(b"b.org") && s.matches_name(b"x.b.org"));
        assert!(!s.matches_name(b"example.org"));
        let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
        assert_err(
            &wrap("server_name a*b;"),
            "invalid server name or wildcard \"a*b\"",
            3,
        );
        assert_err(
            &wrap("server_name *;"),
            "invalid server name or wildcard \"*\"",
            3,
        );
        assert_err(
            &wrap("server_name *.a.*;"),
            "invalid server name or wildcard \"*.a.*\"",
            3,
        );
        assert_err(
            &wrap("server_name ~^www\\d+;"),
            "regular expression server names are not supported: \"~^www\\d+\"",
            3,
        );
    }

    #[test]
    fn types_blocks() {
        let c = conf(
            "http {\n\
               types { text/html html htm; text/css CSS; }\n\
               types { image/png png; text/x-html html; }\n\
               server {\n\
                 location /t { types { application/x-t t; } default_type a/b; }\n\
                 location /e { types { } }\n\
                 location /i { }\n\
               }\n\
               server { types { text/plain txt; } }\n\
             }",
        );
        let s = &http(&c).servers[0];
        let t = &s.conf.types;
        assert_eq!(t.by_ext.len(), 4);
        assert_eq!(t.lookup("css").map(|t| &**t), Some("text/css"));
        assert_eq!(t.lookup("htm").map(|t| &**t), Some("text/html"));
        // A later line wins for a repeated extension.
        assert_eq!(t.lookup("html").map(|t| &**t), Some("text/x-html"));
        assert_eq!(t.lookup("png").map(|t| &**t), Some("image/png"));
        let lt = &s.loc_conf(b"/t").types;
        assert_eq!(lt.by_ext.len(), 1);
        assert_eq!(lt.lookup("T").map(|t| &**t), Some("application/x-t"));
        assert_eq!(&*s.loc_conf(b"/t").default_type, "a/b");
        assert!(s.loc_conf(b"/e").types.by_ext.is_empty());
        assert!(Rc::ptr_eq(&s.loc_conf(b"/i").types, &s.conf.types));
        let t2 = &http(&c).servers[1].conf.types;
        assert_eq!(t2.by_ext.len(), 1);
        assert_eq!(t2.lookup("txt").map(|t| &**t), Some("text/plain"));
    }

    #[test]
    fn includes_from_real_files() {
        let dir = temp_dir("inc");
        fs::create_dir(dir.join("sites")).unwrap();
        fs::write(
            dir.join("types.conf"),
            "types {\n text/x-a a;\n include more.types;\n}\n",
        )
        .unwrap();
        fs::write(dir.join("more.types"), "text/x-b b;\n").unwrap();
        fs::write(dir.join("sites/1.conf"), "server { listen 1; }\n").unwrap();
        fs::write(
            dir.join("sites/2.conf"),
            "server {\n listen 2;\n bogus;\n}\n",
        )
        .unwrap();
        let main = dir.join("main.conf");
        fs::write(
            &main,
            "http {\n include types.conf;\n include sites/[1].conf;\n include none/*.conf;\n}\n",
        )
        .unwrap();
        let c = Config::load(&main, Path::new("/pfx")).unwrap();
        let h = http(&c);
        assert_eq!(h.servers.len(), 1);
        assert_eq!(h.servers[0].listen[0].addr.port(), 1);
        let t = &h.servers[0].conf.types;
        assert_eq!(t.lookup("a").map(|t| &**t), Some("text/x-a"));
        assert_eq!(t.lookup("b").map(|t| &**t), Some("text/x-b"));

        // An error inside an included file names that file and line.
        fs::write(&main, "http {\n include sites/*.conf;\n}\n").unwrap();
        let e = Config::load(&main, Path::new("/pfx")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "unknown directive \"bogus\" in {}:3",
                dir.join("sites/2.conf").display()
            )
        );

        // A missing non-glob include names the including file and line.
        fs::write(&main, "\nhttp {\n\n include nope.types;\n}\n").unwrap();
        let e = Config::load(&main, Path::new("/pfx")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "open() \"{}\" failed (2: No such file or directory) in {}:4",
                dir.join("nope.types").display(),
                main.display()
            )
        );

        // Context still applies to included directives.
        fs::write(dir.join("root.conf"), "root /x;\n").unwrap();
        fs::write(&main, "include root.conf;\n").unwrap();
        let e = Config::load(&main, Path::new("/pfx")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "\"root\" directive is not allowed here in {}:1",
                dir.join("root.conf").display()
            )
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_main_file() {
        let dir = temp_dir("nomain");
        let e = Config::load(&dir.join("x.conf"), &dir).unwrap_err();
        assert_eq!((e.file.as_ref(), e.line), (None, 0));
        assert_eq!(
            e.msg,
            format!(
                "open() \"{}\" failed (2: No such file or directory)",
                dir.join("x.conf").display()
            )
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn shipped_default_config() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let c = Config::load(&root.join("conf/holdfast.conf"), root).unwrap();
        assert_eq!(c.worker_connections, 1024);
        assert_eq!(c.error_log.target, LogTarget::Stderr);
        assert_eq!(c.error_log.level, log::LevelFilter::Info);
        let h = http(&c);
        assert_eq!(h.servers.len(), 1);
        let s = &h.servers[0];
        assert_eq!(s.listen.len(), 1);
        assert_eq!(s.listen[0].addr, "127.0.0.1:8080".parse().unwrap());
        assert!(s.listen[0].default_server);
        assert_eq!(s.server_names, vec!["localhost"]);
        assert_eq!(s.conf.root, root.join("html"));
        assert_eq!(s.conf.index, vec!["index.html"]);
        assert_eq!(&*s.conf.default_type, "application/octet-stream");
        assert_eq!(s.conf.keepalive_timeout_ms, 75_000);
        let t = &s.conf.types;
        assert!(t.by_ext.len() > 80, "{}", t.by_ext.len());
        for (ext, ty) in [
            ("html", "text/html"),
            ("css", "text/css"),
            ("js", "application/javascript"),
            ("json", "application/json"),
            ("png", "image/png"),
            ("svg", "image/svg+xml"),
            ("woff2", "font/woff2"),
            ("mp4", "video/mp4"),
            ("PDF", "application/pdf"),
        ] {
            assert_eq!(t.lookup(ext).map(|t| &**t), Some(ty), "{ext}");
        }
        let p = s.find_location(b"/plaintext").unwrap();
        assert_eq!(p.kind, LocationMatch::Exact);
        let r = p.conf.ret.as_ref().unwrap();
        assert_eq!(r.code, 200);
        assert_eq!(r.text.as_deref(), Some(&b"Hello, World!"[..]));
        assert!(s.find_location(b"/plaintext/").is_none());
        assert_eq!(s.loc_conf(b"/").ret, None);
    }
}
