//! The error log: nginx's `ngx_log.c` line format on top of `log` + `env_logger`.
//!
//! Every line reads `YYYY/MM/DD HH:MM:SS [level] PID#0: message`, where a
//! connection's messages start with `*N ` (its number). nginx has eight levels
//! and `log` five; the extra ones ride in the record's target
//! (`holdfast::notice`, `holdfast::crit`, `holdfast::alert`, `holdfast::emerg`)
//! and the macros below pick it. Times are UTC (nginx prints local time).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::conf::{ErrorLog, LogTarget};

/// `[notice]`: logged at info level.
#[macro_export]
macro_rules! notice {
    ($($t:tt)*) => { log::info!(target: "holdfast::notice", $($t)*) };
}

/// `[crit]`: logged at error level.
#[macro_export]
macro_rules! crit {
    ($($t:tt)*) => { log::error!(target: "holdfast::crit", $($t)*) };
}

/// `[alert]`: logged at error level.
#[macro_export]
macro_rules! alert {
    ($($t:tt)*) => { log::error!(target: "holdfast::alert", $($t)*) };
}

/// `[emerg]`: logged at error level.
#[macro_export]
macro_rules! emerg {
    ($($t:tt)*) => { log::error!(target: "holdfast::emerg", $($t)*) };
}

fn level_name(record: &log::Record<'_>) -> &'static str {
    match record.target() {
        "holdfast::notice" => "notice",
        "holdfast::crit" => "crit",
        "holdfast::alert" => "alert",
        "holdfast::emerg" => "emerg",
        _ => match record.level() {
            log::Level::Error => "error",
            log::Level::Warn => "warn",
            log::Level::Info => "info",
            log::Level::Debug | log::Level::Trace => "debug",
        },
    }
}

/// The pid printed in log lines (`ngx_pid`); a forked worker sets its own.
static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Records this process's pid for log lines (after a fork, in the child).
pub fn set_pid() {
    PID.store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
}

/// Sets the process-wide logger from `error_log` (ngx_log_init + ngx_log_set_log).
/// `RUST_LOG`, when set, overrides the configured level. Can only take effect
/// once per process; later calls keep the first logger and return false.
pub fn init(conf: &ErrorLog) -> bool {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(conf.level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    match &conf.target {
        LogTarget::Stderr => {
            builder.target(env_logger::Target::Stderr);
        }
        LogTarget::File(path) => match open_append(path) {
            Ok(file) => {
                if let Ok(mut g) = LOG_FILE.lock() {
                    *g = Some((path.clone(), file));
                }
                builder.target(env_logger::Target::Pipe(Box::new(ReopenableFile)));
            }
            Err(e) => {
                eprintln!(
                    "holdfast: [alert] could not open error log file: open() \"{}\" failed ({})",
                    path.display(),
                    e
                );
            }
        },
    }
    set_pid();
    builder.format(move |buf, record| {
        let pid = PID.load(std::sync::atomic::Ordering::Relaxed);
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        writeln!(
            buf,
            "{} [{}] {}#0: {}",
            crate::core::time::log_time(secs),
            level_name(record),
            pid,
            record.args()
        )
    });
    builder.try_init().is_ok()
}

/// The error log file, when it is one: kept here so SIGUSR1 can reopen it.
static LOG_FILE: Mutex<Option<(PathBuf, std::fs::File)>> = Mutex::new(None);

/// Writes log records to the current [`LOG_FILE`].
struct ReopenableFile;

impl Write for ReopenableFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match LOG_FILE.lock() {
            Ok(mut g) => match g.as_mut() {
                Some((_, f)) => f.write(buf),
                None => Ok(buf.len()),
            },
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Reopens the error log file (SIGUSR1), as ngx_reopen_files does, so log
/// rotation can move the old file away.
pub fn reopen() {
    if let Ok(mut g) = LOG_FILE.lock()
        && let Some((path, file)) = g.as_mut()
    {
        match open_append(path) {
            Ok(f) => *file = f,
            Err(e) => eprintln!(
                "holdfast: [alert] reopen() \"{}\" failed ({e})",
                path.display()
            ),
        }
    }
}
