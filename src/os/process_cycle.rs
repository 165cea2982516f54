//! The master process and its workers: nginx's `os/unix/ngx_process_cycle.c`
//! (ngx_master_process_cycle, ngx_start_worker_processes,
//! ngx_signal_worker_processes, ngx_reap_children) and `ngx_process.c`
//! (ngx_spawn_process).
//!
//! With `worker_processes` above 1 the master opens the listening sockets,
//! forks that many workers — each the same single-threaded event loop — and
//! then only handles signals: it forwards SIGQUIT / SIGTERM / SIGUSR1,
//! re-spawns a worker that dies, and on SIGHUP re-reads the configuration,
//! starts new workers on it and stops the old ones gracefully. A listener
//! with `reuseport` gets one socket per worker (the kernel spreads new
//! connections over them); others are shared by all workers.
//! `worker_processes 1` never gets here: holdfast stays one process.

use std::rc::Rc;

use crate::conf::{Config, Listen, ListenAddr};
use crate::core::cycle::Listening;
use crate::event::accept;
use crate::event::event_loop::EventLoop;
use crate::os::io::OsErr;
use crate::os::signals::{Signal, Signals};
use crate::os::socket::StdListener;

/// nginx's `ngx_worker`: this worker's slot (0 in a single process); the
/// connection inspector names the worker that answered by it.
pub static NGX_WORKER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One listening address of the master: its configuration and its sockets
/// (one per worker with `reuseport`, else one shared).
struct ListenSet {
    listen: Listen,
    listening: Listening,
    sockets: Vec<StdListener>,
}

/// A worker the master started.
#[derive(Debug, Clone, Copy)]
struct Worker {
    pid: libc::pid_t,
    /// Its slot: which of the per-worker `reuseport` sockets it uses.
    slot: usize,
    /// The configuration generation it runs.
    generation: u64,
    /// Told to stop (old generation, or shutdown): not re-spawned.
    exiting: bool,
}

/// The master's state.
struct Master {
    conf: Rc<Config>,
    sets: Vec<ListenSet>,
    workers: Vec<Worker>,
    generation: u64,
    signals: Signals,
    exiting: bool,
}

/// Opens the sockets for `conf` with `n` workers, sharing (dup'ing) `old`
/// sockets for addresses that stay, so a reload never closes a listening
/// socket that is still wanted and a failed one leaves `old` untouched.
fn open_sets(conf: &Config, n: usize, old: &[ListenSet]) -> Result<Vec<ListenSet>, String> {
    let mut sets = Vec::new();
    for (l, ls) in accept::listening_from_conf(conf) {
        // An address a wildcard accepts for has no socket of its own.
        let want = if ls.via.is_some() {
            0
        } else if l.reuseport {
            n
        } else {
            1
        };
        let mut sockets = Vec::new();
        if let Some(o) = old
            .iter()
            .find(|o| o.listen.addr == l.addr && o.listen.reuseport == l.reuseport)
        {
            for s in &o.sockets {
                sockets.push(
                    s.try_clone()
                        .map_err(|e| format!("dup() failed ({})", OsErr(&e)))?,
                );
            }
        }
        sockets.truncate(want);
        while sockets.len() < want {
            // With port 0 every reuseport socket must get the port the first got.
            let mut at = l.clone();
            if let Some(first) = sockets.first()
                && at.addr.port() == 0
                && let Ok(bound) = first.local_addr()
                && let (ListenAddr::Inet(mut a), ListenAddr::Inet(b)) = (at.addr.clone(), bound)
            {
                a.set_port(b.port());
                at.addr = ListenAddr::Inet(a);
            }
            let s = accept::open_listening_socket(&at)
                .map_err(|e| format!("bind() to {} failed ({})", at.addr, OsErr(&e)))?;
            sockets.push(s);
        }
        sets.push(ListenSet {
            listen: l,
            listening: ls,
            sockets,
        });
    }
    Ok(sets)
}

/// Blocks every signal; returns the mask to restore.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigfillset/pthread_sigmask fill and read
    // the sets we pass.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

/// Restores a mask saved by [`block_signals`].
fn restore_signals(mask: &libc::sigset_t) {
    // SAFETY: a valid mask saved earlier.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// Mirrors ngx_master_process_cycle(): runs until the last worker of a
/// stopping master has exited. Returns an error text for start-up failures.
pub fn master_process_cycle(conf: Rc<Config>) -> Result<(), String> {
    let n = conf.worker_processes.max(1);
    let sets = open_sets(&conf, n, &[])?;
    for set in &sets {
        if let Some(s) = set.sockets.first()
            && let Ok(addr) = s.local_addr()
        {
            crate::notice!("listening on {addr}");
        }
    }
    let signals = Signals::install().map_err(|e| format!("sigaction() failed ({})", OsErr(&e)))?;
    let mut m = Master {
        conf,
        sets,
        workers: Vec::new(),
        generation: 0,
        signals,
        exiting: false,
    };
    for slot in 0..n {
        m.spawn(slot)?;
    }
    // The unix sockets the master opened; removed when it exits.
    let unix: Vec<std::path::PathBuf> = m
        .sets
        .iter()
        .filter_map(|s| match &s.listen.addr {
            ListenAddr::Unix(p) => Some(p.clone()),
            ListenAddr::Inet(_) => None,
        })
        .collect();
    loop {
        m.wait_for_signal();
        for sig in m.signals.take() {
            match sig {
                Signal::Child => m.reap_children(),
                Signal::Terminate => {
                    crate::notice!("exiting");
                    m.exiting = true;
                    m.signal_workers(libc::SIGTERM, |_| true);
                }
                Signal::Quit => {
                    crate::notice!("gracefully shutting down");
                    m.exiting = true;
                    m.signal_workers(libc::SIGQUIT, |_| true);
                    // The workers hold their own copies; the master stops listening.
                    m.sets.clear();
                }
                Signal::Reload => m.reload(),
                Signal::Reopen => {
                    crate::notice!("reopening logs");
                    crate::core::log::reopen();
                    m.signal_workers(libc::SIGUSR1, |w| !w.exiting);
                }
            }
        }
        if m.exiting && m.workers.is_empty() {
            for p in &unix {
                let _ = std::fs::remove_file(p);
            }
            crate::notice!("exit");
            return Ok(());
        }
    }
}

impl Master {
    /// Blocks until the self-pipe has something (a signal arrived).
    fn wait_for_signal(&self) {
        let mut pfd = libc::pollfd {
            fd: self.signals.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; an infinite timeout; EINTR just returns.
        unsafe { libc::poll(&mut pfd, 1, -1) };
    }

    /// Mirrors ngx_spawn_process() + ngx_worker_process_init(): forks a worker
    /// for `slot` running the current configuration.
    fn spawn(&mut self, slot: usize) -> Result<(), String> {
        // Signals are blocked across the fork: one that arrives while the
        // child is still starting stays pending until the child has its own
        // handlers and pipe, instead of running the master's handler there
        // (and being lost).
        let old_mask = block_signals();
        // SAFETY: the master is single-threaded; the child only uses its own
        // copy of memory and exits through std::process::exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = self.worker_process_cycle(slot, &old_mask);
            std::process::exit(code);
        }
        restore_signals(&old_mask);
        if pid < 0 {
            return Err(format!(
                "fork() failed ({})",
                OsErr(&std::io::Error::last_os_error())
            ));
        }
        crate::notice!("start worker process {pid}");
        self.workers.push(Worker {
            pid,
            slot,
            generation: self.generation,
            exiting: false,
        });
        Ok(())
    }

    /// Mirrors ngx_worker_process_cycle(): in the child, take this slot's
    /// sockets, close the others, and run the event loop.
    fn worker_process_cycle(&mut self, slot: usize, mask: &libc::sigset_t) -> i32 {
        crate::core::log::set_pid();
        NGX_WORKER.store(slot, std::sync::atomic::Ordering::Relaxed);
        // A worker whose master is gone stops gracefully.
        // SAFETY: prctl with a valid option and signal number.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) };
        let mut sockets = Vec::new();
        for set in std::mem::take(&mut self.sets) {
            let mut socks = set.sockets;
            let mine = if socks.len() > 1 {
                Some(socks.swap_remove(slot.min(socks.len() - 1)))
            } else {
                socks.pop()
            };
            drop(socks);
            sockets.push((set.listening, mine));
        }
        let mut ev = match EventLoop::with_sockets(self.conf.clone(), sockets) {
            Ok(ev) => ev,
            Err(e) => {
                crate::emerg!("{e}");
                return 2;
            }
        };
        ev.set_worker();
        if let Err(e) = crate::os::user::switch_user(self.conf.user.as_ref()) {
            crate::emerg!("{e}");
            return 2;
        }
        let installed = ev.enable_signals();
        restore_signals(mask);
        if let Err(e) = installed {
            crate::emerg!("sigaction() failed ({})", OsErr(&e));
            return 2;
        }
        match ev.run() {
            Ok(()) => 0,
            Err(e) => {
                crate::alert!("epoll_wait() failed ({})", OsErr(&e));
                1
            }
        }
    }

    /// Mirrors ngx_signal_worker_processes().
    fn signal_workers(&mut self, sig: libc::c_int, which: impl Fn(&Worker) -> bool) {
        for w in self.workers.iter_mut().filter(|w| which(w)) {
            if sig == libc::SIGQUIT || sig == libc::SIGTERM {
                w.exiting = true;
            }
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(w.pid, sig) };
        }
    }

    /// Mirrors ngx_reap_children(): collects exited workers and re-spawns
    /// the ones that were not told to stop.
    fn reap_children(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid on any child, non-blocking, with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            let Some(i) = self.workers.iter().position(|w| w.pid == pid) else {
                continue;
            };
            let w = self.workers.swap_remove(i);
            if libc::WIFSIGNALED(status) {
                crate::alert!(
                    "worker process {pid} exited on signal {}",
                    libc::WTERMSIG(status)
                );
            } else {
                crate::notice!(
                    "worker process {pid} exited with code {}",
                    libc::WEXITSTATUS(status)
                );
            }
            if !w.exiting
                && !self.exiting
                && w.generation == self.generation
                && let Err(e) = self.spawn(w.slot)
            {
                crate::alert!("could not respawn worker process: {e}");
            }
        }
    }

    /// SIGHUP: re-reads the configuration; when it is valid, opens what is new,
    /// starts a new generation of workers on it and stops the old ones
    /// gracefully (nginx's reconfigure path); when it is not, logs the error
    /// and keeps everything running.
    fn reload(&mut self) {
        if self.exiting {
            return;
        }
        crate::notice!("reconfiguring");
        let conf = match Config::load_with(&self.conf.file, &self.conf.prefix, &self.conf.options) {
            Ok(c) => Rc::new(c),
            Err(e) => {
                crate::emerg!("{e}");
                return;
            }
        };
        if let Err(e) = crate::core::log::configure_conf(&conf) {
            crate::emerg!("{e}");
            return;
        }
        let n = conf.worker_processes.max(1);
        let sets = match open_sets(&conf, n, &self.sets) {
            Ok(s) => s,
            Err(e) => {
                crate::emerg!("{e}");
                return;
            }
        };
        let previous = self.generation;
        // Addresses no longer configured: the master stops listening on them
        // (the old workers keep their copies until they exit).
        self.sets = sets;
        self.conf = conf;
        self.generation += 1;
        for slot in 0..n {
            if let Err(e) = self.spawn(slot) {
                crate::alert!("{e}");
            }
        }
        self.signal_workers(libc::SIGQUIT, |w| w.generation == previous);
    }
}
