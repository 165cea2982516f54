//! Signals: nginx's `os/unix/ngx_process.c` handlers and the flags
//! `ngx_process_cycle.c` acts on (`ngx_quit`, `ngx_terminate`,
//! `ngx_reconfigure`, `ngx_reopen`).
//!
//! The handler only sets a bit and writes a byte to a non-blocking pipe whose
//! read end sits in the poll set (the self-pipe trick), so a signal wakes the
//! loop at once and is acted on between handlers, never inside one.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static PENDING: AtomicU32 = AtomicU32::new(0);

/// What the server is asked to do, as nginx's signal meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGQUIT: graceful stop.
    Quit,
    /// SIGTERM / SIGINT: fast stop.
    Terminate,
    /// SIGHUP: re-read the configuration.
    Reload,
    /// SIGUSR1: reopen log files.
    Reopen,
    /// SIGCHLD: a worker process exited (master only).
    Child,
}

const BITS: [(Signal, u32, libc::c_int); 6] = [
    (Signal::Quit, 1, libc::SIGQUIT),
    (Signal::Terminate, 2, libc::SIGTERM),
    (Signal::Terminate, 2, libc::SIGINT),
    (Signal::Reload, 4, libc::SIGHUP),
    (Signal::Reopen, 8, libc::SIGUSR1),
    (Signal::Child, 16, libc::SIGCHLD),
];

/// The signal name for `-s` (`stop`, `quit`, `reload`, `reopen`), as nginx's ngx_signal_process.
pub fn signal_for_command(cmd: &str) -> Option<libc::c_int> {
    match cmd {
        "stop" => Some(libc::SIGTERM),
        "quit" => Some(libc::SIGQUIT),
        "reload" => Some(libc::SIGHUP),
        "reopen" => Some(libc::SIGUSR1),
        _ => None,
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    let saved = io::Error::last_os_error().raw_os_error();
    for (_, bit, s) in BITS {
        if s == sig {
            PENDING.fetch_or(bit, Ordering::SeqCst);
        }
    }
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking and a
        // full pipe (EAGAIN) is fine: a wake-up is already pending.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
    if let Some(e) = saved {
        // SAFETY: restoring errno for the interrupted code.
        unsafe { *libc::__errno_location() = e };
    }
}

/// The read end of the self-pipe; register it with the poll.
#[derive(Debug)]
pub struct Signals {
    read: OwnedFd,
    _write: OwnedFd,
}

impl Signals {
    /// Installs the handlers (SIGQUIT, SIGTERM, SIGINT, SIGHUP, SIGUSR1,
    /// SIGCHLD) and ignores SIGPIPE, as nginx's ngx_init_signals. Called again
    /// in a forked worker, it replaces the master's pipe with the worker's own.
    pub fn install() -> io::Result<Signals> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: fds is a valid array of two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 returned two fresh descriptors we now own.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        PIPE_WRITE.store(write.as_raw_fd(), Ordering::SeqCst);
        PENDING.store(0, Ordering::SeqCst);
        for (_, _, sig) in BITS {
            // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        // SAFETY: ignoring SIGPIPE; writes to closed sockets return EPIPE instead.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        Ok(Signals {
            read,
            _write: write,
        })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Drains the pipe and returns the signals received since the last call,
    /// most drastic first.
    pub fn take(&self) -> Vec<Signal> {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a valid local buffer from our own pipe.
        while unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        }
        let bits = PENDING.swap(0, Ordering::SeqCst);
        let mut out = Vec::new();
        for sig in [
            Signal::Terminate,
            Signal::Quit,
            Signal::Child,
            Signal::Reload,
            Signal::Reopen,
        ] {
            let bit = BITS
                .iter()
                .find(|(s, _, _)| *s == sig)
                .map_or(0, |(_, b, _)| *b);
            if bits & bit != 0 {
                out.push(sig);
            }
        }
        out
    }
}

/// Sends `sig` to the process whose pid is in `pid_file` (nginx -s).
pub fn signal_process(pid_file: &std::path::Path, sig: libc::c_int) -> Result<(), String> {
    let text = std::fs::read_to_string(pid_file).map_err(|e| {
        format!(
            "open() \"{}\" failed ({})",
            pid_file.display(),
            crate::os::io::OsErr(&e)
        )
    })?;
    let pid: libc::pid_t = text.trim().parse().map_err(|_| {
        format!(
            "invalid PID number \"{}\" in \"{}\"",
            text.trim(),
            pid_file.display()
        )
    })?;
    // SAFETY: kill(2) with a pid read from the file and a valid signal number.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(format!(
            "kill({pid}, {sig}) failed ({})",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}
