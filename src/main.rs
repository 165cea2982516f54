//! The `holdfast` command: nginx's command line (`core/nginx.c`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use holdfast::conf::Config;
use holdfast::event::event_loop::EventLoop;

const USAGE: &str = "Usage: holdfast [-?hvt] [-s signal] [-p prefix] [-c filename]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -t            : test configuration and exit
  -s signal     : send signal to the running server: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: current directory)
  -c filename   : set configuration file (default: conf/holdfast.conf)
";

struct Args {
    prefix: PathBuf,
    conf: Option<PathBuf>,
    test: bool,
    signal: Option<String>,
}

enum Cli {
    Run(Args),
    Exit(ExitCode),
}

fn parse_args() -> Cli {
    let mut args = Args {
        prefix: PathBuf::from("."),
        conf: None,
        test: false,
        signal: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "-?" | "--help" => {
                print!("{USAGE}");
                return Cli::Exit(ExitCode::SUCCESS);
            }
            "-v" | "-V" => {
                eprintln!(
                    "holdfast version: {}",
                    holdfast::http::response::SERVER_VERSION
                );
                return Cli::Exit(ExitCode::SUCCESS);
            }
            "-t" => args.test = true,
            "-s" => match it.next() {
                Some(sig) if holdfast::os::signals::signal_for_command(&sig).is_some() => {
                    args.signal = Some(sig)
                }
                Some(sig) => {
                    eprintln!("holdfast: invalid option: \"-s {sig}\"");
                    return Cli::Exit(ExitCode::from(2));
                }
                None => {
                    eprintln!("holdfast: option \"-s\" requires parameter");
                    return Cli::Exit(ExitCode::from(2));
                }
            },
            "-p" | "-c" => {
                let Some(v) = it.next() else {
                    eprintln!(
                        "holdfast: option \"{a}\" requires {}",
                        if a == "-p" {
                            "directory name"
                        } else {
                            "file name"
                        }
                    );
                    return Cli::Exit(ExitCode::from(2));
                };
                if a == "-p" {
                    args.prefix = PathBuf::from(v);
                } else {
                    args.conf = Some(PathBuf::from(v));
                }
            }
            _ => {
                eprintln!("holdfast: invalid option: \"{a}\"\n{USAGE}");
                return Cli::Exit(ExitCode::from(2));
            }
        }
    }
    Cli::Run(args)
}

/// Raises RLIMIT_NOFILE (worker_rlimit_nofile) as nginx does at start-up.
fn set_rlimit_nofile(n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n as libc::rlim_t,
        rlim_max: n as libc::rlim_t,
    };
    // SAFETY: setrlimit with a valid, initialised struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        let err = std::io::Error::last_os_error();
        holdfast::alert!(
            "setrlimit(RLIMIT_NOFILE, {n}) failed ({}), ignored",
            holdfast::os::io::OsErr(&err)
        );
    }
}

/// nginx's start-up check: more worker_connections than descriptors can
/// never be used (each connection is one descriptor).
fn check_worker_connections(conf: &Config) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0
        && lim.rlim_cur != libc::RLIM_INFINITY
        && conf.worker_connections as u64 > lim.rlim_cur
    {
        log::warn!(
            "{} worker_connections exceed open file resource limit: {}",
            conf.worker_connections,
            lim.rlim_cur
        );
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Cli::Run(a) => a,
        Cli::Exit(code) => return code,
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    // `-p .` and the like: resolve and drop `.` components, as nginx prints
    // the prefix it was given made absolute.
    let absolute = |p: &Path| -> PathBuf {
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        joined
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    };
    let prefix = absolute(&args.prefix);
    let file = match &args.conf {
        Some(f) => absolute(f),
        None => prefix.join("conf/holdfast.conf"),
    };
    let shown = file.display();
    let conf = match Config::load(&file, &prefix) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("holdfast: [emerg] {e}");
            if args.test {
                eprintln!("holdfast: configuration file {shown} test failed");
            }
            return ExitCode::from(1);
        }
    };
    if let Some(cmd) = &args.signal {
        let Some(pid) = &conf.pid else {
            eprintln!(
                "holdfast: [error] no \"pid\" file in {shown}: cannot signal the running server"
            );
            return ExitCode::from(1);
        };
        let sig = holdfast::os::signals::signal_for_command(cmd).unwrap_or(libc::SIGTERM);
        return match holdfast::os::signals::signal_process(pid, sig) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("holdfast: [error] {e}");
                ExitCode::from(1)
            }
        };
    }
    if args.test {
        eprintln!("holdfast: the configuration file {shown} syntax is ok");
        eprintln!("holdfast: configuration file {shown} test is successful");
        return ExitCode::SUCCESS;
    }
    holdfast::core::log::init(&conf.error_log);
    if let Some(n) = conf.worker_rlimit_nofile {
        set_rlimit_nofile(n);
    }
    check_worker_connections(&conf);
    let conf = Rc::new(conf);
    if conf.worker_processes > 1 {
        return run_master(conf);
    }
    let mut ev = match EventLoop::new(conf.clone()) {
        Ok(ev) => ev,
        Err(e) => {
            eprintln!("holdfast: [emerg] {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(code) = daemon_and_pid(&conf) {
        return code;
    }
    if let Err(e) = ev.enable_signals() {
        eprintln!(
            "holdfast: [emerg] sigaction() failed ({})",
            holdfast::os::io::OsErr(&e)
        );
        return ExitCode::from(1);
    }
    for addr in ev.local_addrs() {
        holdfast::notice!("listening on {addr}");
    }
    holdfast::notice!(
        "{} started, pid {}",
        holdfast::http::response::SERVER_VERSION,
        std::process::id()
    );
    let rc = ev.run();
    if let Some(pid) = &conf.pid {
        let _ = std::fs::remove_file(pid);
    }
    if let Err(e) = rc {
        holdfast::alert!("epoll_wait() failed ({})", holdfast::os::io::OsErr(&e));
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// After the listening sockets are open: `daemon on` detaches (ngx_daemon),
/// the log lines take this process's pid, and the `pid` file is written
/// (ngx_create_pidfile), for the single process and the master alike.
fn daemon_and_pid(conf: &Config) -> Result<(), ExitCode> {
    if conf.daemon
        && let Err(e) = daemonize(conf.error_log.target == holdfast::conf::LogTarget::Stderr)
    {
        eprintln!("holdfast: [emerg] {e}");
        return Err(ExitCode::from(1));
    }
    holdfast::core::log::set_pid();
    if let Some(pid) = &conf.pid
        && let Err(e) = write_pid(pid)
    {
        eprintln!(
            "holdfast: [emerg] open() \"{}\" failed ({})",
            pid.display(),
            holdfast::os::io::OsErr(&e)
        );
        return Err(ExitCode::from(1));
    }
    Ok(())
}

fn write_pid(path: &Path) -> std::io::Result<()> {
    std::fs::write(path, format!("{}\n", std::process::id()))
}

/// Mirrors ngx_daemon(): fork, the parent exits, the child starts a new
/// session and points stdin and stdout (and stderr, unless the error log is
/// stderr) at /dev/null.
fn daemonize(keep_stderr: bool) -> Result<(), String> {
    // SAFETY: single-threaded at this point; the child continues with a copy
    // of this process and the parent exits at once without running destructors.
    match unsafe { libc::fork() } {
        -1 => {
            return Err(format!(
                "fork() failed ({})",
                std::io::Error::last_os_error()
            ));
        }
        0 => {}
        _ => unsafe { libc::_exit(0) },
    }
    // SAFETY: plain libc calls on our own process; results are checked.
    unsafe {
        if libc::setsid() == -1 {
            return Err(format!(
                "setsid() failed ({})",
                std::io::Error::last_os_error()
            ));
        }
        libc::umask(0o022);
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd == -1 {
            return Err(format!(
                "open(\"/dev/null\") failed ({})",
                std::io::Error::last_os_error()
            ));
        }
        libc::dup2(fd, libc::STDIN_FILENO);
        libc::dup2(fd, libc::STDOUT_FILENO);
        if !keep_stderr {
            libc::dup2(fd, libc::STDERR_FILENO);
        }
        if fd > libc::STDERR_FILENO {
            libc::close(fd);
        }
    }
    Ok(())
}

/// `worker_processes N` with N > 1: the master process forks the workers
/// (os::process_cycle); it writes the pid file, which `-s` signals.
fn run_master(conf: Rc<Config>) -> ExitCode {
    if let Err(code) = daemon_and_pid(&conf) {
        return code;
    }
    holdfast::notice!(
        "{} started, master process {}",
        holdfast::http::response::SERVER_VERSION,
        std::process::id()
    );
    let rc = holdfast::os::process_cycle::master_process_cycle(conf.clone());
    if let Some(pid) = &conf.pid {
        let _ = std::fs::remove_file(pid);
    }
    match rc {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("holdfast: [emerg] {e}");
            ExitCode::from(1)
        }
    }
}
