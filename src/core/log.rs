//! The error log: nginx's `ngx_log.c` — eight levels, several logs per
//! level of the configuration, the line format.
//!
//! Every line reads `YYYY/MM/DD HH:MM:SS [level] PID#0: message`, where a
//! connection's messages start with `*N ` (its number). Code logs through the
//! `log` crate's macros; nginx has eight levels and `log` five, so the extra
//! ones ride in the record's target (`holdfast::notice`, `holdfast::crit`,
//! `holdfast::alert`, `holdfast::emerg`) and the macros below pick it.
//!
//! Which files a line goes to is nginx's `c->log`: the main `error_log`s
//! (the cycle's log) unless a connection's handler runs, in which case the
//! `error_log`s of its location (or its server) apply: the event dispatch
//! calls [`use_logs`], as nginx switches `c->log` in
//! ngx_http_update_location_config. A line goes to every log of the set
//! whose level admits it. Times are UTC (nginx prints local time).

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::conf::{ErrorLog, LogLevel, LogTarget};

/// `[notice]`.
#[macro_export]
macro_rules! notice {
    ($($t:tt)*) => { log::info!(target: "holdfast::notice", $($t)*) };
}

/// `[crit]`.
#[macro_export]
macro_rules! crit {
    ($($t:tt)*) => { log::error!(target: "holdfast::crit", $($t)*) };
}

/// `[alert]`.
#[macro_export]
macro_rules! alert {
    ($($t:tt)*) => { log::error!(target: "holdfast::alert", $($t)*) };
}

/// `[emerg]`.
#[macro_export]
macro_rules! emerg {
    ($($t:tt)*) => { log::error!(target: "holdfast::emerg", $($t)*) };
}

/// The nginx level of a `log` record.
fn level_of(record: &log::Record<'_>) -> LogLevel {
    match record.target() {
        "holdfast::notice" => LogLevel::Notice,
        "holdfast::crit" => LogLevel::Crit,
        "holdfast::alert" => LogLevel::Alert,
        "holdfast::emerg" => LogLevel::Emerg,
        _ => match record.level() {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug | log::Level::Trace => LogLevel::Debug,
        },
    }
}

/// The `log` crate filter that lets `level` through.
fn filter_for(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Emerg | LogLevel::Alert | LogLevel::Crit | LogLevel::Error => {
            log::LevelFilter::Error
        }
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Notice | LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
    }
}

/// The pid printed in log lines (`ngx_pid`); a forked worker sets its own.
static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Records this process's pid for log lines (after a fork, in the child).
pub fn set_pid() {
    PID.store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
}

/// An open log file (nginx's `ngx_open_file_t`): shared by every
/// `error_log` naming the path, reopened by SIGUSR1.
#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    file: Option<File>,
}

/// The process's logging state. holdfast runs one thread per process, so
/// it lives in a thread-local; the `log` facade only needs a `Sync` shell.
#[derive(Debug, Default)]
struct State {
    /// Files opened so far, by path.
    files: Vec<OpenFile>,
    /// The cycle's log (the main `error_log`s, or the start-up log).
    main: Option<Rc<[ErrorLog]>>,
    /// The log of the connection whose handler runs (`c->log`).
    current: Option<Rc<[ErrorLog]>>,
    /// `RUST_LOG=LEVEL`: every log takes this level instead of its own.
    forced: Option<LogLevel>,
    /// Scratch for one line.
    line: Vec<u8>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// The `log` facade's entry point.
struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _meta: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = level_of(record);
        // A line logged while a line is written (an allocation failure
        // report, say) is dropped rather than deadlock.
        let _ = STATE.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.write(level, record.args());
            }
        });
    }

    fn flush(&self) {}
}

impl State {
    fn write(&mut self, level: LogLevel, args: &std::fmt::Arguments<'_>) {
        let Some(logs) = self.current.clone().or_else(|| self.main.clone()) else {
            return;
        };
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let pid = PID.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            line,
            "{} [{}] {}#0: {}",
            crate::core::time::log_time(secs),
            level.as_str(),
            pid,
            args
        );
        for log in logs.iter() {
            if level > self.forced.unwrap_or(log.level) {
                continue;
            }
            match &log.target {
                LogTarget::Stderr => {
                    let _ = std::io::stderr().write_all(&line);
                }
                LogTarget::File(path) => {
                    if let Some(f) = self.file(path) {
                        let _ = f.write_all(&line);
                    }
                }
            }
        }
        self.line = line;
    }

    /// The open file for `path`, opened on first use.
    fn file(&mut self, path: &Path) -> Option<&mut File> {
        let i = match self.files.iter().position(|f| f.path == path) {
            Some(i) => i,
            None => {
                let file = open_append(path).ok();
                self.files.push(OpenFile {
                    path: path.to_path_buf(),
                    file,
                });
                self.files.len() - 1
            }
        };
        self.files[i].file.as_mut()
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// The most verbose level of a set of logs.
fn max_level(logs: &[ErrorLog]) -> LogLevel {
    logs.iter()
        .map(|l| l.level)
        .max()
        .unwrap_or(LogLevel::Error)
}

/// Installs the logger with the start-up log (nginx's ngx_log_init): the
/// `-e` target, else stderr, at `notice` for start-up messages. `RUST_LOG`,
/// when it names a level (`debug`, `info`, …), overrides every log's level.
pub fn init_startup(target: Option<&LogTarget>) {
    let _ = log::set_logger(&LOGGER);
    set_pid();
    let forced = std::env::var("RUST_LOG").ok().and_then(|v| {
        let v = v.to_ascii_lowercase();
        match v.as_str() {
            "trace" => Some(LogLevel::Debug),
            "warning" => Some(LogLevel::Warn),
            _ => LogLevel::from_name(&v),
        }
    });
    let main: Rc<[ErrorLog]> = Rc::from([ErrorLog {
        target: target.cloned().unwrap_or(LogTarget::Stderr),
        level: LogLevel::Notice,
    }]);
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.forced = forced;
        s.main = Some(main);
    });
    update_max_level(&[]);
}

/// Sets the cycle's log to the configuration's main `error_log`s and opens
/// every file the configuration logs to (nginx opens them while reading the
/// configuration). `all` is every log set of the configuration: the `log`
/// crate's filter lets through the most verbose level any of them wants.
/// Returns the files that could not be opened, as nginx's `open() "…"
/// failed` messages.
pub fn configure(main: &[ErrorLog], all: &[&[ErrorLog]]) -> Vec<String> {
    let mut errors = Vec::new();
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        for logs in all.iter().chain(std::iter::once(&main)) {
            for log in logs.iter() {
                if let LogTarget::File(path) = &log.target
                    && s.file(path).is_none()
                {
                    let e = open_append(path).err();
                    errors.push(format!(
                        "open() \"{}\" failed ({})",
                        path.display(),
                        e.as_ref()
                            .map(|e| crate::os::io::OsErr(e).to_string())
                            .unwrap_or_default()
                    ));
                }
            }
        }
        s.main = Some(Rc::from(main));
        s.current = None;
    });
    update_max_level(all);
    errors
}

/// [`configure`] for a whole configuration: its main logs and the logs of
/// every server and location. Fails with the first file that could not be
/// opened.
pub fn configure_conf(conf: &crate::conf::Config) -> Result<(), String> {
    let mut sets: Vec<&[ErrorLog]> = Vec::new();
    for s in conf.http.iter().flat_map(|h| h.servers.iter()) {
        sets.extend(s.all_confs().into_iter().map(|c| &*c.error_log));
    }
    match configure(&conf.error_log, &sets).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn update_max_level(all: &[&[ErrorLog]]) {
    let forced = STATE.with(|s| s.borrow().forced);
    let level = match forced {
        Some(l) => l,
        None => {
            let main = STATE.with(|s| s.borrow().main.as_deref().map(max_level));
            all.iter()
                .map(|l| max_level(l))
                .chain(main)
                .max()
                .unwrap_or(LogLevel::Error)
        }
    };
    log::set_max_level(filter_for(level));
}

/// Mirrors ngx_set_connection_log(): the lines that follow go to `logs`
/// (a connection's location or server logs) until [`use_main_log`].
pub fn use_logs(logs: &Rc<[ErrorLog]>) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if !s.current.as_ref().is_some_and(|c| Rc::ptr_eq(c, logs)) {
            s.current = Some(logs.clone());
        }
    });
}

/// Back to the cycle's log (between handlers).
pub fn use_main_log() {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.current.is_some() {
            s.current = None;
        }
    });
}

/// Is the current log set writing `level` anywhere? (For lines whose
/// arguments cost something to build.)
pub fn enabled(level: LogLevel) -> bool {
    filter_for(level) <= log::max_level()
}

/// Reopens every log file (SIGUSR1), as ngx_reopen_files does, so log
/// rotation can move the old files away.
pub fn reopen() {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        for f in &mut s.files {
            match open_append(&f.path) {
                Ok(file) => f.file = Some(file),
                Err(e) => eprintln!(
                    "holdfast: [alert] reopen() \"{}\" failed ({})",
                    f.path.display(),
                    crate::os::io::OsErr(&e)
                ),
            }
        }
    });
}

/// Is any main log stderr? (`daemon on` keeps stderr open for it.)
pub fn logs_to_stderr(logs: &[ErrorLog]) -> bool {
    logs.iter().any(|l| l.target == LogTarget::Stderr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_both_ways() {
        assert_eq!(filter_for(LogLevel::Notice), log::LevelFilter::Info);
        assert_eq!(filter_for(LogLevel::Crit), log::LevelFilter::Error);
        assert!(LogLevel::Debug > LogLevel::Info);
        assert!(LogLevel::Notice < LogLevel::Info);
        assert_eq!(
            max_level(&[
                ErrorLog {
                    target: LogTarget::Stderr,
                    level: LogLevel::Warn
                },
                ErrorLog {
                    target: LogTarget::Stderr,
                    level: LogLevel::Notice
                }
            ]),
            LogLevel::Notice
        );
    }
}
