//! The `holdfast` command: nginx's command line (`core/nginx.c`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use holdfast::conf::{Config, LogTarget, Options};
use holdfast::event::event_loop::EventLoop;

const USAGE: &str = "Usage: holdfast [-?hvVtTq] [-s signal] [-p prefix]
                [-e filename] [-c filename] [-g directives]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: current directory)
  -e filename   : set error log file (default: stderr)
  -c filename   : set configuration file (default: conf/holdfast.conf)
  -g directives : set global directives out of configuration file
";

/// The command line, as nginx's ngx_get_options() reads it.
#[derive(Debug, Default)]
struct Args {
    prefix: Option<PathBuf>,
    conf: Option<PathBuf>,
    error_log: Option<String>,
    globals: Option<String>,
    test: bool,
    dump: bool,
    quiet: bool,
    signal: Option<String>,
    show_version: bool,
    show_help: bool,
    show_configure: bool,
}

/// Mirrors ngx_get_options(): flags may be grouped (`-tq`), and an option's
/// value may follow it in the same word (`-cfile`) or be the next word.
fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut args = Args::default();
    let mut i = 0;
    while i < argv.len() {
        let word = &argv[i];
        let Some(flags) = word.strip_prefix('-') else {
            return Err(format!("invalid option: \"{word}\""));
        };
        for (at, ch) in flags.char_indices() {
            let rest = &flags[at + ch.len_utf8()..];
            // An option with a value takes the rest of the word, or the next word.
            let mut value = |what: &str| -> Result<String, String> {
                if !rest.is_empty() {
                    return Ok(rest.to_string());
                }
                i += 1;
                argv.get(i)
                    .cloned()
                    .ok_or_else(|| format!("option \"-{ch}\" requires {what}"))
            };
            match ch {
                '?' | 'h' => {
                    args.show_version = true;
                    args.show_help = true;
                }
                'v' => args.show_version = true,
                'V' => {
                    args.show_version = true;
                    args.show_configure = true;
                }
                't' => args.test = true,
                'T' => {
                    args.test = true;
                    args.dump = true;
                }
                'q' => args.quiet = true,
                'p' => {
                    args.prefix = Some(PathBuf::from(value("directory name")?));
                    break;
                }
                'e' => {
                    args.error_log = Some(value("file name")?);
                    break;
                }
                'c' => {
                    args.conf = Some(PathBuf::from(value("file name")?));
                    break;
                }
                'g' => {
                    args.globals = Some(value("parameter")?);
                    break;
                }
                's' => {
                    let sig = value("parameter")?;
                    if holdfast::os::signals::signal_for_command(&sig).is_none() {
                        return Err(format!("invalid option: \"-s {sig}\""));
                    }
                    args.signal = Some(sig);
                    break;
                }
                other => return Err(format!("invalid option: \"{other}\"")),
            }
        }
        i += 1;
    }
    Ok(args)
}

/// Mirrors ngx_show_version_info(): the version, the usage (`-h`), and for
/// `-V` how holdfast was built and which nginx modules it has, in the form
/// nginx's test suite reads.
fn show_version_info(args: &Args) {
    let mut out = format!(
        "nginx version: nginx/{} ({})\n",
        holdfast::http::variables::NGINX_VERSION,
        holdfast::http::response::SERVER_VERSION
    );
    if args.show_help {
        out.push_str(USAGE);
        out.push('\n');
    }
    if args.show_configure {
        // nginx says which TLS library it was built with and whether it
        // does SNI (Test::Nginx's has('sni') reads that line).
        out.push_str(&format!(
            "built by {}\nbuilt with rustls (aws-lc-rs)\nTLS SNI support enabled\nconfigure arguments: {}\n",
            env!("HOLDFAST_RUSTC_VERSION"),
            holdfast::conf::modules::configure_arguments()
        ));
        out.push_str(&format!(
            "holdfast modules: {}\n",
            holdfast::conf::modules::OWN_MODULES.join(" ")
        ));
    }
    eprint!("{out}");
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

/// Mirrors ngx_conf_full_name() for the command line's paths: relative
/// ones are under `base`; `.` components are dropped, as nginx prints the
/// paths it was given made absolute.
fn absolute(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// An `[emerg]` message at start-up: on stderr, and in the `-e` file when
/// there is one (nginx writes start-up errors to both).
fn startup_emerg(msg: &str, to_file: bool) {
    eprintln!("holdfast: [emerg] {msg}");
    if to_file {
        holdfast::emerg!("{msg}");
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("holdfast: {e}");
            return ExitCode::from(1);
        }
    };
    if args.show_version {
        show_version_info(&args);
        if !args.test {
            return ExitCode::SUCCESS;
        }
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let prefix = absolute(&cwd, args.prefix.as_deref().unwrap_or(Path::new(".")));
    // nginx resolves `-c` and `-e` against the prefix.
    let file = absolute(
        &prefix,
        args.conf
            .as_deref()
            .unwrap_or(Path::new("conf/holdfast.conf")),
    );
    let startup_log = args.error_log.as_deref().map(|e| match e {
        "stderr" | "" => LogTarget::Stderr,
        f => LogTarget::File(absolute(&prefix, Path::new(f))),
    });
    let log_to_file = matches!(startup_log, Some(LogTarget::File(_)));
    holdfast::core::log::init_startup(startup_log.as_ref());
    let options = Options {
        globals: args.globals.clone(),
        error_log: startup_log,
    };
    let shown = file.display();
    let conf = match Config::load_with(&file, &prefix, &options) {
        Ok(c) => c,
        Err(e) => {
            startup_emerg(&e.to_string(), log_to_file);
            if args.test {
                eprintln!("holdfast: configuration file {shown} test failed");
            }
            return ExitCode::from(1);
        }
    };
    if let Err(e) = holdfast::os::user::check_user(conf.user.as_ref()) {
        startup_emerg(&e, log_to_file);
        if args.test {
            eprintln!("holdfast: configuration file {shown} test failed");
        }
        return ExitCode::from(1);
    }
    if args.test {
        if !args.quiet {
            eprintln!("holdfast: the configuration file {shown} syntax is ok");
            eprintln!("holdfast: configuration file {shown} test is successful");
        }
        if args.dump {
            dump_config(&conf);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(cmd) = &args.signal {
        let Some(pid) = &conf.pid else {
            eprintln!(
                "holdfast: [error] no \"pid\" file in {shown}: cannot signal the running server"
            );
            return ExitCode::from(1);
        };
        let sig = holdfast::os::signals::signal_for_command(cmd).unwrap_or(libc::SIGTERM);
        // ngx_signal_process: its lines go to the start-up log (`-e`).
        if log_to_file {
            holdfast::notice!("signal process started");
        }
        return match holdfast::os::signals::signal_process(pid, sig) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("holdfast: [error] {e}");
                if log_to_file {
                    log::error!("{e}");
                }
                ExitCode::from(1)
            }
        };
    }
    if let Err(e) = holdfast::core::log::configure_conf(&conf) {
        startup_emerg(&e, log_to_file);
        return ExitCode::from(1);
    }
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
            startup_emerg(&e, log_to_file);
            return ExitCode::from(1);
        }
    };
    if let Err(code) = daemon_and_pid(&conf) {
        return code;
    }
    if let Err(e) = holdfast::os::user::switch_user(conf.user.as_ref()) {
        holdfast::emerg!("{e}");
        return ExitCode::from(1);
    }
    if let Err(e) = ev.enable_signals() {
        holdfast::emerg!("sigaction() failed ({})", holdfast::os::io::OsErr(&e));
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
    holdfast::event::accept::remove_unix_sockets(&ev.cycle.listening);
    if let Some(pid) = &conf.pid {
        let _ = std::fs::remove_file(pid);
    }
    if let Err(e) = rc {
        holdfast::alert!("epoll_wait() failed ({})", holdfast::os::io::OsErr(&e));
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `-T`: every file read, each after nginx's `# configuration file PATH:`
/// line, on stdout; then what holdfast accepted with no effect, as comments.
fn dump_config(conf: &Config) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for f in &conf.files {
        let _ = writeln!(out, "# configuration file {}:", f.path.display());
        let _ = out.write_all(&f.text);
        let _ = writeln!(out);
    }
    if !conf.notes.is_empty() {
        let _ = writeln!(out, "# holdfast:");
        for n in &conf.notes {
            let _ = writeln!(out, "#   {n}");
        }
    }
}

/// After the listening sockets are open: `daemon on` detaches (ngx_daemon),
/// the log lines take this process's pid, and the `pid` file is written
/// (ngx_create_pidfile), for the single process and the master alike.
fn daemon_and_pid(conf: &Config) -> Result<(), ExitCode> {
    if conf.daemon
        && let Err(e) = daemonize(holdfast::core::log::logs_to_stderr(&conf.error_log))
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
