//! The access log and the run-time side of variables: nginx's
//! `ngx_http_log_module.c` and the `get_handler`s of `ngx_http_variables.c`.
//!
//! Log lines are built into a per-file buffer and written when it holds
//! [`ACCESS_LOG_BUFFER`] bytes and at the end of every loop iteration, so a
//! burst of requests costs one write and a quiet server's log is current.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::conf::{AccessLogConf, Config, LogFormat};
use crate::core::cycle::Cycle;
use crate::http::parse::{self, Version};
use crate::http::variables::{self, Escape, Segment, Variable};
use crate::os::io::Transport;

/// A log file's buffer is written out when it reaches this size.
pub const ACCESS_LOG_BUFFER: usize = 64 * 1024;

/// One open access log file.
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
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
        .flat_map(|s| {
            s.conf
                .access_log
                .iter()
                .chain(s.locations.iter().flat_map(|l| l.conf.access_log.iter()))
        })
}

impl AccessLogs {
    /// Opens every file `conf` logs to (files already open stay open), as
    /// nginx opens them while reading the configuration.
    pub fn open_all(&mut self, conf: &Config) -> Result<(), String> {
        for log in conf_logs(conf) {
            if self.files.iter().any(|f| f.path == log.path) {
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
            });
        }
        Ok(())
    }

    fn append(&mut self, path: &Path, line: &[u8]) {
        let Some(f) = self.files.iter_mut().find(|f| f.path == path) else {
            return;
        };
        f.buf.extend_from_slice(line);
        if f.buf.len() >= ACCESS_LOG_BUFFER {
            Self::write_out(f);
        }
    }

    fn write_out(f: &mut LogFile) {
        if !f.buf.is_empty() {
            if let Err(e) = f.file.write_all(&f.buf) {
                crate::alert!(
                    "write() to \"{}\" failed ({})",
                    f.path.display(),
                    crate::os::io::OsErr(&e)
                );
            }
            f.buf.clear();
        }
    }

    /// Writes every buffered line (end of a loop iteration, exit, reopen).
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
    let mut line = std::mem::take(&mut cy.var_buf);
    for log in logs.iter() {
        line.clear();
        format_line(cy, key, &log.format, &mut line);
        line.push(b'\n');
        cy.access_logs.append(&log.path, &line);
    }
    cy.var_buf = line;
}

/// Builds one log line: literals as written, variable values escaped,
/// a missing value as `-`.
pub fn format_line<S>(cy: &Cycle<S>, key: usize, format: &LogFormat, out: &mut Vec<u8>) {
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
                } else if format.escape == Escape::Json {
                    // nginx writes nothing for a missing value in JSON logs.
                } else {
                    out.push(b'-');
                }
            }
        }
    }
}

/// Evaluates `segments` (an add_header value) into `out`.
pub fn complex_value<S>(cy: &Cycle<S>, key: usize, segments: &[Segment], out: &mut Vec<u8>) {
    for seg in segments {
        match seg {
            Segment::Literal(text) => out.extend_from_slice(text),
            Segment::Var(var) => {
                variable_value(cy, key, var, out);
            }
        }
    }
}

fn push_num(out: &mut Vec<u8>, v: u64) {
    let _ = write!(out, "{v}");
}

fn push_secs_ms(out: &mut Vec<u8>, ms: u64) {
    let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
}

/// The value of a variable for a connection's current request, appended to
/// `out`; false when it has none (nginx's `not_found`).
pub fn variable_value<S>(cy: &Cycle<S>, key: usize, var: &Variable, out: &mut Vec<u8>) -> bool {
    let c = &cy.conns[key];
    let r = c.req();
    let head = match (r, c.buf()) {
        (Some(r), Some(b)) if r.head_len > 0 || r.line_len > 0 => {
            &b.mem[b.pos..(b.pos + r.head_len.max(r.line_len)).min(b.last)]
        }
        _ => &[][..],
    };
    let now = cy.clock.now_ms;
    match var {
        Variable::RemoteAddr => {
            let _ = write!(out, "{}", c.ip);
        }
        Variable::RemoteUser => return false,
        Variable::TimeLocal => out.extend_from_slice(&cy.clock.time_local),
        Variable::TimeIso8601 => out.extend_from_slice(&cy.clock.time_iso8601),
        Variable::Msec => push_secs_ms(out, cy.clock.unix_ms),
        Variable::Connection => push_num(out, c.number),
        Variable::ConnectionRequests => push_num(out, c.requests),
        Variable::ConnectionTime => push_secs_ms(out, now.saturating_sub(c.start_ms)),
        Variable::ConnectionsActive => push_num(out, cy.stats.active),
        Variable::ConnectionsReading => push_num(out, cy.stats.reading),
        Variable::ConnectionsWriting => push_num(out, cy.stats.writing),
        Variable::ConnectionsWaiting => push_num(out, cy.stats.waiting),
        Variable::Scheme => out.extend_from_slice(b"http"),
        Variable::ServerPort => push_num(out, u64::from(cy.listening[c.li()].addr.port())),
        _ => {
            let Some(r) = r else { return false };
            match var {
                Variable::Request if r.line_len > 0 => {
                    out.extend_from_slice(&head[..r.line_len.min(head.len())])
                }
                Variable::RequestMethod if r.line_len > 0 => {
                    let line = &head[..r.line_len.min(head.len())];
                    out.extend_from_slice(line.split(|&b| b == b' ').next().unwrap_or_default());
                }
                Variable::RequestUri if r.target.1 > 0 => out.extend_from_slice(
                    head.get(r.target.0..r.target.0 + r.target.1)
                        .unwrap_or_default(),
                ),
                Variable::Uri if !r.uri.is_empty() => out.extend_from_slice(&r.uri),
                Variable::Args => match r.args {
                    Some((o, l)) => out.extend_from_slice(head.get(o..o + l).unwrap_or_default()),
                    None => return false,
                },
                Variable::ServerProtocol if r.line_len > 0 => {
                    out.extend_from_slice(match r.version {
                        Version::Http10 => b"HTTP/1.0",
                        Version::Http11 => b"HTTP/1.1",
                    })
                }
                Variable::Status => {
                    let _ = write!(out, "{:03}", if r.status == 0 { 0 } else { r.status });
                }
                Variable::BodyBytesSent => push_num(out, r.body_bytes),
                Variable::BytesSent => push_num(out, r.header_bytes + r.body_bytes),
                Variable::RequestLength => push_num(out, r.request_length),
                Variable::RequestTime => push_secs_ms(out, now.saturating_sub(r.start_ms)),
                Variable::Pipe => out.push(if r.pipeline { b'p' } else { b'.' }),
                Variable::Host => {
                    if r.has_host {
                        out.extend_from_slice(&r.host);
                    } else if let Some(name) =
                        r.server.as_ref().and_then(|s| s.server_names.first())
                    {
                        out.extend_from_slice(name.as_bytes());
                    }
                }
                Variable::ServerName => {
                    let name = r.server.as_ref().and_then(|s| s.server_names.first());
                    out.extend_from_slice(name.map_or(&b""[..], |n| n.as_bytes()));
                }
                Variable::HttpHeader(name) => return http_header(head, r.line_len, name, out),
                _ => return false,
            }
        }
    }
    true
}

/// `$http_NAME`: every header line whose name matches (case-insensitive;
/// names nginx ignores, such as ones with `_`, never match), values joined
/// with `, `.
fn http_header(head: &[u8], line_len: usize, want: &[u8], out: &mut Vec<u8>) -> bool {
    let mut found = false;
    let mut lines = head
        .get(line_len..)
        .unwrap_or_default()
        .split(|&b| b == b'\n');
    lines.next(); // the rest of the request line
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = parse::memchr(b':', line) else {
            continue;
        };
        let name = &line[..colon];
        let matches = name.len() == want.len()
            && parse::is_valid_header_name(name)
            && name
                .iter()
                .zip(want)
                .all(|(&a, &w)| a.to_ascii_lowercase() == w);
        if matches {
            if found {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(parse::trim(&line[colon + 1..]));
            found = true;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_header_values_are_found_and_joined() {
        let head =
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Y: 1\r\nx_y: 2\r\nx-Y: 3\r\nUser-Agent: t/1\r\n\r\n";
        let mut out = Vec::new();
        assert!(http_header(head, 14, b"x-y", &mut out));
        assert_eq!(out, b"1, 3");
        out.clear();
        assert!(http_header(head, 14, b"user-agent", &mut out));
        assert_eq!(out, b"t/1");
        out.clear();
        assert!(!http_header(head, 14, b"referer", &mut out));
    }
}
