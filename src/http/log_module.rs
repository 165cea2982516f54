//! The access log and the run-time side of variables: nginx's
//! `ngx_http_log_module.c` and the `get_handler`s of `ngx_http_variables.c`.
//!
//! Log lines are built into a per-file buffer. Without `buffer=` it is
//! written when it holds [`ACCESS_LOG_BUFFER`] bytes and at the end of every
//! loop iteration, so a burst of requests costs one write and a quiet
//! server's log is current (nginx writes each line at once). With
//! `buffer=SIZE` it is written when the next line would not fit, when
//! `flush=TIME` has passed since its oldest line, on SIGUSR1 and at exit, as
//! nginx's buffered logs are.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::conf::variables::{self, Escape, Segment};
use crate::conf::{AccessLogConf, Config, LogFormat};
use crate::core::cycle::Cycle;
use crate::http::variables::{complex_value, variable_value};
use crate::os::io::Transport;

/// A log file's buffer is written out when it reaches this size.
pub const ACCESS_LOG_BUFFER: usize = 64 * 1024;

/// One open access log file.
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// `buffer=SIZE` of the first access_log naming the file: lines wait
    /// until this much is buffered. None: written every loop iteration.
    buffer: Option<usize>,
    /// `flush=TIME`: buffered lines are written this long after the first.
    flush_ms: Option<u64>,
    /// When the oldest buffered line was added (cycle ms).
    since_ms: u64,
    /// `gzip=LEVEL`: each write is one gzip member.
    gzip: Option<u32>,
}

/// The open access log files, by path.
#[derive(Debug, Default)]
pub struct AccessLogs {
    files: Vec<LogFile>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Every access_log of a configuration.
fn conf_logs(conf: &Config) -> impl Iterator<Item = &AccessLogConf> {
    conf.http
        .iter()
        .flat_map(|h| h.servers.iter())
        .flat_map(|s| s.all_confs())
        .flat_map(|c| c.access_log.iter())
}

impl AccessLogs {
    /// Opens every file `conf` logs to (files already open stay open), as
    /// nginx opens them while reading the configuration. A file's buffering
    /// is that of the first `access_log` naming it.
    pub fn open_all(&mut self, conf: &Config) -> Result<(), String> {
        let mut seen: Vec<&Path> = Vec::new();
        for log in conf_logs(conf) {
            if seen.contains(&log.path.as_path()) {
                continue;
            }
            seen.push(&log.path);
            if let Some(f) = self.files.iter_mut().find(|f| f.path == log.path) {
                // A reload may change the buffering of a file kept open.
                f.buffer = log.buffer;
                f.flush_ms = log.flush_ms;
                f.gzip = log.gzip;
                continue;
            }
            let file = open_append(&log.path).map_err(|e| {
                format!(
                    "open() \"{}\" failed ({})",
                    log.path.display(),
                    crate::os::io::OsErr(&e)
                )
            })?;
            self.files.push(LogFile {
                path: log.path.clone(),
                file,
                buf: Vec::new(),
                buffer: log.buffer,
                flush_ms: log.flush_ms,
                since_ms: 0,
                gzip: log.gzip,
            });
        }
        Ok(())
    }

    fn append(&mut self, path: &Path, line: &[u8], now_ms: u64) {
        let Some(f) = self.files.iter_mut().find(|f| f.path == path) else {
            return;
        };
        if f.buf.is_empty() {
            f.since_ms = now_ms;
        }
        if let Some(size) = f.buffer
            && f.buf.len() + line.len() > size
        {
            // ngx_http_log_write(): a line that does not fit flushes the
            // buffer first.
            Self::write_out(f);
            f.since_ms = now_ms;
        }
        f.buf.extend_from_slice(line);
        if f.buf.len() >= f.buffer.unwrap_or(ACCESS_LOG_BUFFER) {
            Self::write_out(f);
        }
    }

    /// Mirrors ngx_http_log_flush() (and ngx_http_log_gzip() for a
    /// compressed log: the buffer as one gzip member).
    fn write_out(f: &mut LogFile) {
        if !f.buf.is_empty() {
            let written = match f.gzip {
                None => f.file.write_all(&f.buf),
                Some(level) => {
                    let mut z = flate2::write::GzEncoder::new(
                        Vec::with_capacity(f.buf.len() / 4 + 64),
                        flate2::Compression::new(level),
                    );
                    z.write_all(&f.buf)
                        .and_then(|()| z.finish())
                        .and_then(|member| f.file.write_all(&member))
                }
            };
            if let Err(e) = written {
                crate::alert!(
                    "write() to \"{}\" failed ({})",
                    f.path.display(),
                    crate::os::io::OsErr(&e)
                );
            }
            f.buf.clear();
        }
    }

    /// End of a loop iteration: writes the files without `buffer=`, and
    /// those whose `flush=` time has come.
    pub fn flush_due(&mut self, now_ms: u64) {
        for f in &mut self.files {
            let due = match (f.buffer, f.flush_ms) {
                (None, _) => true,
                (Some(_), Some(t)) => now_ms >= f.since_ms + t,
                (Some(_), None) => false,
            };
            if due {
                Self::write_out(f);
            }
        }
    }

    /// When the next `flush=` is due (cycle ms), for the poll timeout.
    pub fn next_flush(&self) -> Option<u64> {
        self.files
            .iter()
            .filter(|f| !f.buf.is_empty())
            .filter_map(|f| f.flush_ms.map(|t| f.since_ms + t))
            .min()
    }

    /// Writes every buffered line (exit, reopen).
    pub fn flush(&mut self) {
        for f in &mut self.files {
            Self::write_out(f);
        }
    }

    /// Reopens the files (SIGUSR1), after writing out what is buffered.
    pub fn reopen(&mut self) {
        self.flush();
        for f in &mut self.files {
            match open_append(&f.path) {
                Ok(file) => f.file = file,
                Err(e) => crate::alert!(
                    "reopen() \"{}\" failed ({})",
                    f.path.display(),
                    crate::os::io::OsErr(&e)
                ),
            }
        }
    }
}

/// Mirrors ngx_http_log_handler(): one line per access_log of the request's
/// location, written when the request is freed.
pub fn log_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) {
    let Some(logs) = cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .map(|l| l.access_log.clone())
    else {
        return;
    };
    if logs.is_empty() {
        return;
    }
    let now = cy.clock.now_ms;
    let mut line = std::mem::take(&mut cy.var_buf);
    for log in logs.iter() {
        line.clear();
        if let Some(cond) = &log.condition {
            // `if=`: no line when the value is empty or "0".
            complex_value(cy, key, cond, &mut line);
            if line.is_empty() || line == b"0" {
                continue;
            }
            line.clear();
        }
        format_line(cy, key, &log.format, &mut line);
        line.push(b'\n');
        cy.access_logs.append(&log.path, &line, now);
    }
    cy.var_buf = line;
}

/// Builds one log line: literals as written, variable values escaped,
/// a missing value as `-` (nothing with `escape=json|none`).
pub fn format_line<S: Transport>(cy: &Cycle<S>, key: usize, format: &LogFormat, out: &mut Vec<u8>) {
    let mut value = Vec::new();
    for seg in &format.segments {
        match seg {
            Segment::Literal(text) => out.extend_from_slice(text),
            Segment::Var(var) => {
                value.clear();
                if variable_value(cy, key, var, &mut value)
                    && !(value.is_empty() && format.escape != Escape::None)
                {
                    variables::escape_into(format.escape, &value, out);
                } else if format.escape != Escape::Default {
                    // nginx writes nothing for a missing value with
                    // escape=json and escape=none (ngx_http_log_json_variable,
                    // ngx_http_log_unescaped_variable).
                } else {
                    out.push(b'-');
                }
            }
        }
    }
}
