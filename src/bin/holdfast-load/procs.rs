//! `--procs N`: fork N client processes, each running the event loop on its
//! share of the connections, requests and rate. A child sends
//! `progress RESPONSES OPEN ERRORS CLOSED` lines each second and at the end
//! `report {JSON}` on a pipe; the parent prints the merged progress and
//! merges the reports (counters added, histograms merged).

use std::io::Write as _;
use std::os::fd::RawFd;
use std::time::Instant;

use crate::args::Config;
use crate::client::{Engine, Share};
use crate::json::Value;
use crate::progress::{Sink, Snapshot, Ticker};
use crate::report::Report;

/// Writes all of `buf` to `fd`, retrying on EINTR; gives up on other errors
/// (the reader is gone).
pub fn write_all_fd(fd: RawFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: write(2) reads `buf.len()` bytes from a live slice.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// Child `i`'s part of `total`, split as evenly as possible over `n`.
fn part(total: u64, i: usize, n: usize) -> u64 {
    total / n as u64 + u64::from((i as u64) < total % n as u64)
}

/// The configuration child `i` of `n` runs.
fn share_of(cfg: &Config, i: usize, n: usize) -> Config {
    let mut c = cfg.clone();
    c.concurrency = part(cfg.concurrency as u64, i, n) as usize;
    c.requests = cfg.requests.map(|r| part(r, i, n));
    c.rate = cfg.rate.map(|r| r / n as f64);
    c.procs = 1;
    c
}

/// A forked child as the parent sees it.
struct Child {
    pid: libc::pid_t,
    /// Read end of its pipe (-1 once at EOF).
    fd: RawFd,
    /// Bytes of an unfinished line.
    buf: Vec<u8>,
    /// Its last progress line.
    progress: Snapshot,
    report: Option<Report>,
    failure: Option<String>,
}

impl Child {
    /// Handles the complete lines in `buf`.
    fn take_lines(&mut self, hold: bool) {
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..nl]).into_owned();
            if let Some(rest) = line.strip_prefix("progress ") {
                if let Some(snap) = Snapshot::parse(rest, hold) {
                    self.progress = snap;
                }
            } else if let Some(json) = line.strip_prefix("report ") {
                match Value::parse(json).and_then(|v| Report::from_json(&v)) {
                    Ok(r) => self.report = Some(r),
                    Err(e) => self.failure = Some(format!("unreadable report: {e}")),
                }
            } else if let Some(msg) = line.strip_prefix("error ") {
                self.failure = Some(msg.to_string());
            }
        }
    }
}

/// The body of child `i`: run its share and send the report; never returns.
fn child_main(cfg: &Config, i: usize, fd: RawFd, start: Instant) -> ! {
    let progress = if cfg.quiet {
        Sink::Quiet
    } else {
        Sink::Pipe(fd)
    };
    let result = Engine::new(cfg, Share { source_offset: i }, progress, start)
        .and_then(|engine| engine.run());
    let code = match result {
        Ok(report) => {
            let line = format!("report {}\n", report.to_json(true).to_compact());
            write_all_fd(fd, line.as_bytes());
            0
        }
        Err(e) => {
            write_all_fd(fd, format!("error {e}\n").as_bytes());
            1
        }
    };
    // SAFETY: _exit(2) ends the child without running the parent's
    // destructors or flushing its copies of the parent's buffers.
    unsafe { libc::_exit(code) }
}

/// Forks `cfg.procs` children, relays their progress and merges their reports.
pub fn run(cfg: &Config, start: Instant) -> Result<Report, String> {
    let n = cfg.procs;
    let mut children: Vec<Child> = Vec::with_capacity(n);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    for i in 0..n {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2(2) writes two descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        let share = share_of(cfg, i, n);
        // SAFETY: the process is single-threaded, so the child may go on
        // running ordinary Rust code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: closing read ends this child does not use.
            unsafe {
                libc::close(fds[0]);
                for c in &children {
                    libc::close(c.fd);
                }
            }
            child_main(&share, i, fds[1], start);
        }
        // SAFETY: the parent does not use the write end.
        unsafe { libc::close(fds[1]) };
        children.push(Child {
            pid,
            fd: fds[0],
            buf: Vec::new(),
            progress: Snapshot::default(),
            report: None,
            failure: None,
        });
    }

    let hold = cfg.mode == crate::args::Mode::Hold;
    let sink = if cfg.quiet { Sink::Quiet } else { Sink::Stderr };
    if let Some((addr, host, path)) = cfg.watch.clone()
        && !cfg.quiet
    {
        crate::watch::start(addr, host, path);
    }
    let mut ticker = Ticker::new(sink, start);
    let mut chunk = vec![0u8; 64 * 1024];
    while children.iter().any(|c| c.fd >= 0) {
        let mut pfds: Vec<libc::pollfd> = children
            .iter()
            .filter(|c| c.fd >= 0)
            .map(|c| libc::pollfd {
                fd: c.fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let wait = ticker.next().saturating_duration_since(Instant::now());
        // SAFETY: poll(2) on a live array of pollfds of the given length.
        let rc = unsafe {
            libc::poll(
                pfds.as_mut_ptr(),
                pfds.len() as libc::nfds_t,
                wait.as_millis() as libc::c_int + 1,
            )
        };
        if rc < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("poll: {}", std::io::Error::last_os_error()));
        }
        for p in pfds.iter().filter(|p| p.revents != 0) {
            let Some(child) = children.iter_mut().find(|c| c.fd == p.fd) else {
                continue;
            };
            // SAFETY: read(2) into a live buffer of the given length.
            let got = unsafe {
                libc::read(
                    child.fd,
                    chunk.as_mut_ptr() as *mut libc::c_void,
                    chunk.len(),
                )
            };
            if got > 0 {
                child.buf.extend_from_slice(&chunk[..got as usize]);
                child.take_lines(hold);
            } else if got == 0
                || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                // SAFETY: closing our read end once, at EOF.
                unsafe { libc::close(child.fd) };
                child.fd = -1;
            }
        }
        let now = Instant::now();
        if ticker.due(now) {
            let mut sum = Snapshot::default();
            for c in &children {
                sum.add(&c.progress);
            }
            ticker.tick(now, sum);
        }
    }

    let mut merged: Option<Report> = None;
    let mut problems = Vec::new();
    for (i, c) in children.iter().enumerate() {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child.
        unsafe { libc::waitpid(c.pid, &mut status, 0) };
        match (&c.report, &c.failure) {
            (Some(r), _) => match &mut merged {
                Some(m) => m.merge(r),
                None => merged = Some(r.clone()),
            },
            (None, Some(f)) => problems.push(format!("process {i}: {f}")),
            (None, None) => problems.push(format!("process {i} ended without a report")),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut report = merged.ok_or("no reports")?;
    report.procs = n;
    report.concurrency = cfg.concurrency;
    report.rate = cfg.rate;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::part;

    #[test]
    fn shares_add_up() {
        for total in [1u64, 7, 100, 1001] {
            for n in 1..=6 {
                let sum: u64 = (0..n).map(|i| part(total, i, n)).sum();
                assert_eq!(sum, total);
            }
        }
    }
}
