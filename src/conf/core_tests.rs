//! Tests of the main context: core, events, error_log.

use super::*;
use crate::conf::testutil::{FILE, assert_err, conf, http};
use crate::conf::{LogLevel, LogTarget};
use std::path::Path;

#[test]
fn empty_file_gives_defaults() {
    let c = conf("");
    assert_eq!(c.file, Path::new(FILE));
    assert_eq!(c.prefix, Path::new("/pfx"));
    assert_eq!(c.worker_connections, WORKER_CONNECTIONS);
    assert_eq!(c.worker_processes, 1);
    assert!(!c.daemon);
    assert_eq!(c.worker_shutdown_timeout_ms, None);
    assert_eq!(c.worker_rlimit_nofile, None);
    assert_eq!(c.pid, None);
    assert_eq!(
        c.error_log,
        vec![ErrorLog {
            target: LogTarget::Stderr,
            level: LogLevel::Error
        }]
    );
    assert!(c.http.is_none());
    assert!(http(&conf("http { }")).servers.is_empty());
}

#[test]
fn main_directives() {
    let c = conf(
        "worker_processes auto; daemon off; worker_rlimit_nofile 4096;\n\
         error_log logs/error.log notice; pid run/h.pid;\n\
         events { worker_connections 64; multi_accept on; }",
    );
    assert_eq!(c.worker_rlimit_nofile, Some(4096));
    assert_eq!(
        c.error_log[0].target,
        LogTarget::File("/pfx/logs/error.log".into())
    );
    assert_eq!(c.error_log[0].level, LogLevel::Notice);
    assert_eq!(c.pid.as_deref(), Some(Path::new("/pfx/run/h.pid")));
    assert_eq!(c.worker_connections, 64);
    assert_eq!(c.worker_processes, online_cpus());
    assert!(c.worker_processes >= 1);
    assert!(!c.daemon);
    let c = conf("worker_processes 2; error_log /var/log/e.log; pid /run/x.pid;");
    assert_eq!(c.worker_processes, 2);
    assert_eq!(
        c.error_log[0].target,
        LogTarget::File("/var/log/e.log".into())
    );
    assert_eq!(c.error_log[0].level, LogLevel::Error);
    assert_eq!(c.pid.as_deref(), Some(Path::new("/run/x.pid")));
    for lvl in LogLevel::ALL {
        let c = conf(&format!("error_log stderr {};", lvl.as_str()));
        assert_eq!(c.error_log[0].level, lvl);
    }
    // debug_* names are debug; several error_logs are kept in order.
    let c = conf(
        "error_log a.log debug_http debug_event;
error_log stderr warn;",
    );
    assert_eq!(c.error_log.len(), 2);
    assert_eq!(c.error_log[0].level, LogLevel::Debug);
    assert_eq!(
        (c.error_log[1].target.clone(), c.error_log[1].level),
        (LogTarget::Stderr, LogLevel::Warn)
    );
    assert_eq!(conf("events { }").worker_connections, WORKER_CONNECTIONS);
    assert!(conf("daemon on;").daemon);
    assert!(!conf("daemon OFF;").daemon);
    assert_eq!(conf("worker_processes 0;").worker_processes, 0);
    let t = |v: &str| conf(&format!("worker_shutdown_timeout {v};")).worker_shutdown_timeout_ms;
    assert_eq!(t("10s"), Some(10_000));
    assert_eq!(t("1m30s"), Some(90_000));
    assert_eq!(t("250ms"), Some(250));
    assert_eq!(t("30"), Some(30_000));
    // 0 is nginx's "no timeout".
    assert_eq!(t("0"), None);
}

#[test]
fn new_main_directive_errors() {
    assert_err(
        "worker_shutdown_timeout soon;",
        "\"worker_shutdown_timeout\" directive invalid value",
        1,
    );
    assert_err(
        "worker_shutdown_timeout 1s;\nworker_shutdown_timeout 2s;",
        "\"worker_shutdown_timeout\" directive is duplicate",
        2,
    );
    assert_err(
        "worker_shutdown_timeout;",
        "invalid number of arguments in \"worker_shutdown_timeout\" directive",
        1,
    );
    assert_err(
        "http {\nworker_shutdown_timeout 1s;\n}",
        "\"worker_shutdown_timeout\" directive is not allowed here",
        2,
    );
    assert_err(
        "daemon on;\ndaemon off;",
        "\"daemon\" directive is duplicate",
        2,
    );
    assert_err(
        "daemon on off;",
        "invalid number of arguments in \"daemon\" directive",
        1,
    );
    assert_err(
        "http {\ndaemon on;\n}",
        "\"daemon\" directive is not allowed here",
        2,
    );
    assert_err(
        "worker_processes -2;",
        "\"worker_processes\" directive invalid value",
        1,
    );
    assert_err(
        "worker_processes AUTO;",
        "\"worker_processes\" directive invalid value",
        1,
    );
    assert_err(
        "events {\nworker_processes 2;\n}",
        "\"worker_processes\" directive is not allowed here",
        2,
    );
}

#[test]
fn main_errors() {
    assert_err("error_log stderr loud;", "invalid log level \"loud\"", 1);
    assert_err("error_log a b c;", "invalid log level \"b\"", 1);
    assert_err(
        "\nworker_processes many;",
        "\"worker_processes\" directive invalid value",
        2,
    );
    assert_err(
        "worker_processes 1;\nworker_processes 1;",
        "\"worker_processes\" directive is duplicate",
        2,
    );
    assert_err(
        "daemon yes;",
        "invalid value \"yes\" in \"daemon\" directive, it must be \"on\" or \"off\"",
        1,
    );
    assert_err(
        "worker_rlimit_nofile -1;",
        "\"worker_rlimit_nofile\" directive invalid number",
        1,
    );
    assert_err("pid a;\npid b;", "\"pid\" directive is duplicate", 2);
    assert_err(
        "events {\n worker_connections 1k;\n}",
        "invalid number \"1k\"",
        2,
    );
    assert_err(
        "events {\n worker_connections 0;\n}",
        "invalid number \"0\"",
        2,
    );
    assert_err(
        "events { worker_connections 1;\n worker_connections 2; }",
        "\"worker_connections\" directive is duplicate",
        2,
    );
    assert_err(
        "events { }\nevents { }",
        "\"events\" directive is duplicate",
        2,
    );
    assert_err("http { }\n\nhttp { }", "\"http\" directive is duplicate", 3);
    assert_err(
        "worker_connections 10;",
        "\"worker_connections\" directive is not allowed here",
        1,
    );
    assert_err(
        "events { root /x; }",
        "\"root\" directive is not allowed here",
        1,
    );
    assert_err("\n\nfoo bar;", "unknown directive \"foo\"", 3);
    assert_err("http { server { foo; } }", "unknown directive \"foo\"", 1);
    assert_err("events;", "directive \"events\" has no opening \"{\"", 1);
    assert_err(
        "pid x { }",
        "directive \"pid\" is not terminated by \";\"",
        1,
    );
    assert_err(
        "http x { }",
        "invalid number of arguments in \"http\" directive",
        1,
    );
    assert_err(
        "error_log syslog:server=x;",
        "\"syslog:server=x\" is not supported by holdfast",
        1,
    );
}
