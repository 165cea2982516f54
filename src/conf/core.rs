//! The main context: ngx_core_module (`core/nginx.c`), ngx_events_module and
//! ngx_event_core_module (`event/ngx_event.c`), and ngx_errlog_module's
//! `error_log` (`core/ngx_log.c`), whose parser the http levels share.

use super::build::Builder;
use super::command::{
    ANY_HTTP, Command, EVENTS, MAIN, bad, block, check, cmd, flag_slot, msec, num_slot, once,
    unknown,
};
use super::parser::Directive;
use super::values::parse_number;
use super::{ConfError, Config, ErrorLog, LogLevel, LogTarget, User, WORKER_CONNECTIONS};

/// The directives of the core, events and errlog modules.
pub(super) static COMMANDS: &[Command] = &[
    cmd("worker_processes", MAIN, false, 1, 1),
    cmd("master_process", MAIN, false, 1, 1),
    cmd("daemon", MAIN, false, 1, 1),
    cmd("worker_rlimit_nofile", MAIN, false, 1, 1),
    cmd("worker_shutdown_timeout", MAIN, false, 1, 1),
    cmd("error_log", MAIN | ANY_HTTP, false, 1, super::command::MANY),
    cmd("pid", MAIN, false, 1, 1),
    cmd("user", MAIN, false, 1, 2),
    cmd("events", MAIN, true, 0, 0),
    cmd("http", MAIN, true, 0, 0),
    cmd("worker_connections", EVENTS, false, 1, 1),
    cmd("multi_accept", EVENTS, false, 1, 1),
];

/// The main-context values as written (None: nginx's NGX_CONF_UNSET).
#[derive(Debug, Default)]
struct RawMain {
    worker_processes: Option<usize>,
    master_process: Option<bool>,
    daemon: Option<bool>,
    shutdown_timeout: Option<u64>,
    rlimit: Option<u64>,
    error_log: Vec<ErrorLog>,
    pid: Option<std::path::PathBuf>,
    user: Option<User>,
    events: Option<(usize, bool)>,
    http: Option<super::HttpConf>,
}

impl Builder<'_> {
    /// The main context (ngx_core_module's directives, `events`, `http`),
    /// then ngx_core_module_init_conf()'s defaults.
    pub(super) fn main(&self, tree: &[Directive]) -> Result<Config, ConfError> {
        super::http_core_sizes::no_effect_notes(tree, &mut self.notes.borrow_mut());
        super::lint::lint(tree);
        let mut names = super::variables::DefinedNames::default();
        super::build::defined_names(tree, &mut names);
        super::variables::with_names(names, || self.main_inner(tree))
    }

    fn main_inner(&self, tree: &[Directive]) -> Result<Config, ConfError> {
        let mut m = RawMain::default();
        // The main-level `error_log`s come first: the http levels inherit
        // them, wherever in the file they are written.
        for d in tree.iter().filter(|d| d.name == "error_log") {
            check(d, MAIN)?;
            m.error_log.push(self.error_log(d)?);
        }
        if !m.error_log.is_empty() {
            self.main_error_log
                .replace(m.error_log.clone().into_iter().collect());
        }
        for d in tree {
            check(d, MAIN)?;
            match d.name.as_str() {
                "error_log" => {}
                "worker_processes" => {
                    // Mirrors ngx_set_worker_processes().
                    once(&m.worker_processes, d)?;
                    m.worker_processes = Some(if d.args[0] == "auto" {
                        online_cpus()
                    } else {
                        parse_number(&d.args[0])
                            .ok()
                            .and_then(|n| usize::try_from(n).ok())
                            .ok_or_else(|| bad(d, "invalid value"))?
                    });
                }
                "master_process" => flag_slot(&mut m.master_process, d)?,
                "daemon" => flag_slot(&mut m.daemon, d)?,
                "worker_shutdown_timeout" => {
                    once(&m.shutdown_timeout, d)?;
                    m.shutdown_timeout = Some(msec(d, 0)?);
                }
                "worker_rlimit_nofile" => num_slot(&mut m.rlimit, d)?,
                "pid" => {
                    once(&m.pid, d)?;
                    m.pid = Some(self.path(&d.args[0]));
                }
                "user" => {
                    // Mirrors ngx_set_user(); the names are looked up when
                    // the server starts (root only), not by `-t`.
                    if m.user.is_some() {
                        return Err(d.error("\"user\" directive is duplicate"));
                    }
                    m.user = Some(User {
                        user: d.args[0].clone(),
                        group: d.args.get(1).cloned(),
                        file: d.file.to_path_buf(),
                        line: d.line,
                    });
                }
                "events" => {
                    once(&m.events, d)?;
                    m.events = Some(events(d)?);
                }
                "http" => {
                    once(&m.http, d)?;
                    m.http = Some(self.http(d)?);
                }
                _ => return Err(unknown(d)),
            }
        }
        let (worker_connections, multi_accept) = m.events.unwrap_or((WORKER_CONNECTIONS, false));
        let error_log = if m.error_log.is_empty() {
            self.default_error_log()
        } else {
            m.error_log
        };
        let master = m.master_process.unwrap_or(true);
        Ok(Config {
            file: self.file.to_path_buf(),
            prefix: self.prefix.to_path_buf(),
            options: self.options.clone(),
            files: self.files.clone(),
            // `master_process off` is nginx's single-process mode.
            worker_processes: if master {
                m.worker_processes.unwrap_or(1)
            } else {
                1
            },
            daemon: m.daemon.unwrap_or(false),
            // 0 is nginx's "no timeout", the same as not setting it.
            worker_shutdown_timeout_ms: m.shutdown_timeout.filter(|t| *t > 0),
            worker_rlimit_nofile: m.rlimit,
            error_log,
            pid: m.pid,
            user: m.user,
            worker_connections,
            multi_accept,
            http: m.http,
            notes: self.notes.borrow().clone(),
        })
    }

    /// The main error log when the file sets none: `-e FILE|stderr` at
    /// `error` level, else stderr (nginx: `logs/error.log`; holdfast runs in
    /// the foreground and says so on its terminal).
    pub(super) fn default_error_log(&self) -> Vec<ErrorLog> {
        let target = self.options.error_log.clone().unwrap_or(LogTarget::Stderr);
        vec![ErrorLog {
            target,
            level: LogLevel::Error,
        }]
    }

    /// Mirrors ngx_log_set_log() + ngx_log_set_levels(): `error_log
    /// FILE|stderr [LEVEL]`, where LEVEL is one of nginx's eight levels or any
    /// number of `debug_*` names (each meaning `debug` here).
    pub(super) fn error_log(&self, d: &Directive) -> Result<ErrorLog, ConfError> {
        let target = match d.args[0].as_str() {
            "stderr" => LogTarget::Stderr,
            s if s.starts_with("syslog:") || s.starts_with("memory:") => {
                return Err(d.error(format!("\"{s}\" is not supported by holdfast")));
            }
            s => LogTarget::File(self.path(s)),
        };
        let mut level = None;
        for v in &d.args[1..] {
            let l = if v.starts_with("debug_") && DEBUG_NAMES.contains(&v.as_str()) {
                LogLevel::Debug
            } else {
                LogLevel::from_name(v)
                    .ok_or_else(|| d.error(format!("invalid log level \"{v}\"")))?
            };
            if level.is_some() && !v.starts_with("debug_") {
                return Err(d.error(format!("duplicate log level \"{v}\"")));
            }
            level = Some(l);
        }
        Ok(ErrorLog {
            target,
            level: level.unwrap_or(LogLevel::Error),
        })
    }
}

/// nginx's `debug_*` level names (ngx_debug_levels).
const DEBUG_NAMES: &[&str] = &[
    "debug_core",
    "debug_alloc",
    "debug_mutex",
    "debug_event",
    "debug_http",
    "debug_mail",
    "debug_stream",
];

/// The `events` block: `worker_connections` and `multi_accept`.
fn events(d: &Directive) -> Result<(usize, bool), ConfError> {
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
            "multi_accept" => flag_slot(&mut multi_accept, c)?,
            _ => return Err(unknown(c)),
        }
    }
    Ok((
        connections.unwrap_or(WORKER_CONNECTIONS),
        multi_accept.unwrap_or(false),
    ))
}

/// `worker_processes auto`: nginx's ngx_ncpu, the online CPUs (at least 1).
pub(super) fn online_cpus() -> usize {
    // SAFETY: sysconf has no memory effects; it returns -1 on error.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
