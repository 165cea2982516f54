//! Signals and `holdfast -s` (nginx-flow.md §6 graceful shutdown; main.rs,
//! event_loop.rs): SIGQUIT stops gracefully (listeners closed, idle
//! keep-alive connections closed at once, requests in flight finished with
//! `Connection: close`, exit when the last connection is gone, bounded by
//! worker_shutdown_timeout), SIGTERM stops at once, SIGHUP reloads the
//! configuration in place (an invalid one is logged and ignored).

mod common;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Conn, Prefix, Server, conf, get, run_holdfast, server_block};

const CLOSE: Duration = Duration::from_secs(3);

/// A configuration with `main` directives before the standard ones and one
/// server answering `/r` with `text`, plus `more` in the http block.
fn conf_with(main: &str, text: &str, more: &str) -> String {
    let srv = server_block(&format!(
        "    location = /r {{ return 200 \"{text}\"; }}\n    client_header_timeout 60s;"
    ));
    format!(
        "{main}\n{}",
        conf(common::WORKER_CONNECTIONS, &format!("{srv}\n{more}"))
    )
}

fn start(tag: &str, main: &str, text: &str, more: &str) -> Server {
    let prefix = Prefix::new(tag);
    prefix.mkdir("logs");
    let s = Server::start_conf(prefix, &conf_with(main, text, more));
    // The pid file is written after the `listening on` lines.
    s.assert_log("started, pid", CLOSE);
    s
}

const PID: &str = "pid logs/holdfast.pid;";

fn pid_file(s: &Server) -> PathBuf {
    s.prefix().path().join("logs/holdfast.pid")
}

/// `holdfast -p PREFIX -c CONF -s CMD`.
fn send_command(s: &Server, cmd: &str) -> common::Outcome {
    run_holdfast(
        [
            "-p".as_ref(),
            s.prefix().path().as_os_str(),
            "-c".as_ref(),
            s.prefix().conf_file().as_os_str(),
            "-s".as_ref(),
            cmd.as_ref(),
        ],
        Duration::from_secs(5),
    )
}

fn idle_conn(s: &Server, body: &str) -> Conn {
    let mut c = s.connect();
    c.request(get("/r"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body(body);
    c
}

/// A connection whose second request is half sent (and, as the first
/// response proves, already read by the server).
fn busy_conn(s: &Server) -> Conn {
    let mut c = s.connect();
    c.send(format!(
        "{}GET /r HTTP/1.1\r\nHost: localhost\r\n",
        get("/r")
    ));
    c.read_response().assert_status(200).assert_keepalive();
    c
}

#[track_caller]
fn assert_refused(addr: SocketAddr) {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("{addr} still accepts connections"),
    }
}

/// The address of the first `listening on HOST:` line logged for `host`.
fn listening_on(s: &Server, host: &str) -> Option<SocketAddr> {
    let prefix = format!("{host}:");
    s.log_lines()
        .iter()
        .filter_map(|l| l.split("listening on ").nth(1))
        .find(|a| a.starts_with(&prefix))
        .map(|a| a.trim().parse().expect("address"))
}

#[test]
fn sigquit_closes_idle_finishes_in_flight_with_close_and_exits() {
    let mut s = start("quit", "", "R", "");
    let addr = s.addr();
    let mut idle: Vec<Conn> = (0..3).map(|_| idle_conn(&s, "R")).collect();
    let mut busy = busy_conn(&s);

    let t0 = Instant::now();
    s.signal(libc::SIGQUIT);
    s.assert_log("gracefully shutting down", CLOSE);
    // Idle keep-alive connections: EOF at once.
    for c in &mut idle {
        c.expect_eof(Duration::from_secs(1));
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "idle connections closed after {:?}",
        t0.elapsed()
    );
    // The listener is closed.
    assert_refused(addr);
    // The request in flight keeps the process alive ...
    busy.expect_open(Duration::from_millis(200));
    assert!(s.is_running(), "exited with a request in flight");
    // ... and is answered, with Connection: close.
    busy.send("\r\n");
    busy.read_response()
        .assert_status(200)
        .assert_close()
        .assert_body("R");
    busy.expect_closed(CLOSE);
    // The server half-closed and lingers (the connection was pipelined);
    // once the client closes too, that was the last connection and the
    // process exits.
    drop(busy);
    s.assert_exits(CLOSE);
    s.assert_log("exiting", CLOSE);
}

#[test]
fn sigquit_in_flight_request_is_answered_with_close_and_the_pipelined_rest_dropped() {
    let mut s = start("quit-pipe", "", "R", "");
    let mut c = s.connect();
    // Half a request, read by the server before the signal.
    c.send("GET /r HTTP/1.1\r\n");
    let mut probe = idle_conn(&s, "R");
    s.signal(libc::SIGQUIT);
    s.assert_log("gracefully shutting down", CLOSE);
    probe.expect_eof(Duration::from_secs(1));
    // The rest of it, with another request pipelined behind it.
    c.send(format!("Host: localhost\r\n\r\n{}", get("/r")));
    c.read_response()
        .assert_status(200)
        .assert_close()
        .assert_body("R");
    // The connection closes after the first response: no keep-alive while
    // exiting, so the pipelined request is not served.
    c.expect_closed(CLOSE);
    drop(c);
    s.assert_exits(CLOSE);
}

#[test]
fn sigquit_waits_for_a_silent_connection_until_its_header_timeout() {
    // A fresh connection that never sent a byte is not idle (nginx's
    // ngx_close_idle_connections only takes keep-alive ones): the process
    // waits for its client_header_timeout.
    let prefix = Prefix::new("quit-silent");
    let text = conf(
        common::WORKER_CONNECTIONS,
        &server_block("    client_header_timeout 1s;\n    location = /r { return 200 \"R\"; }"),
    );
    let mut s = Server::start_conf(prefix, &text);
    let mut silent = s.connect();
    let mut idle = idle_conn(&s, "R");
    let t0 = Instant::now();
    s.signal(libc::SIGQUIT);
    idle.expect_eof(Duration::from_secs(1));
    silent.expect_open(Duration::from_millis(300));
    assert!(s.is_running());
    silent.expect_closed(CLOSE);
    s.assert_exits(CLOSE);
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "exited {:?} after the signal, before the silent connection timed out",
        t0.elapsed()
    );
}

#[test]
fn worker_shutdown_timeout_ends_a_stuck_connection() {
    let mut s = start("quit-timeout", "worker_shutdown_timeout 1s;", "R", "");
    let mut busy = busy_conn(&s);
    let t0 = Instant::now();
    s.signal(libc::SIGQUIT);
    s.assert_log("gracefully shutting down", CLOSE);
    busy.expect_open(Duration::from_millis(500));
    busy.expect_closed(CLOSE);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took <= Duration::from_millis(2500),
        "stuck connection closed {took:?} after SIGQUIT (worker_shutdown_timeout 1s)"
    );
    s.assert_exits(CLOSE);
}

#[test]
fn sigterm_exits_at_once() {
    let mut s = start("term", "", "R", "");
    let mut idle = idle_conn(&s, "R");
    let mut busy = busy_conn(&s);
    let t0 = Instant::now();
    s.signal(libc::SIGTERM);
    let took = s.assert_exits(CLOSE);
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    idle.expect_closed(Duration::from_secs(1));
    busy.expect_closed(Duration::from_secs(1));
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn sighup_reload_retires_the_old_connections_as_nginx_old_workers_do() {
    let s = start("reload", PID, "old", "");
    // An idle keep-alive connection, and one in the middle of a request.
    let mut idle = idle_conn(&s, "old");
    let mut busy = busy_conn(&s);
    s.prefix().write_conf(&conf_with(PID, "new", ""));
    s.signal(libc::SIGHUP);
    s.assert_log("reconfiguring", CLOSE);
    assert!(
        s.wait_log_count("listening on", 2, CLOSE),
        "{}",
        s.log_text()
    );
    // nginx's old worker closes its idle keep-alive connections at once...
    idle.expect_eof(CLOSE);
    // ...and answers the request in flight, then closes. (nginx's old
    // worker answers it with the old configuration; holdfast, one process,
    // has already swapped it: the answer is the new one.)
    busy.send("\r\n");
    busy.read_response()
        .assert_status(200)
        .assert_close()
        .assert_body("new");
    busy.expect_closed(CLOSE);
    // New connections get the new configuration and keep-alive.
    let mut d = s.connect();
    d.request(get("/r"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("new");
    d.request(get("/r")).assert_status(200).assert_body("new");
}

#[test]
fn reload_applies_the_old_worker_shutdown_timeout_to_old_connections() {
    let s = start(
        "reload-wst",
        &format!("{PID}\nworker_shutdown_timeout 300ms;"),
        "old",
        "",
    );
    let mut busy = busy_conn(&s);
    let mut fresh = s.connect();
    s.prefix().write_conf(&conf_with(PID, "new", ""));
    s.signal(libc::SIGHUP);
    s.assert_log("reconfiguring", CLOSE);
    // Stuck in its header and silent: closed by the old configuration's
    // worker_shutdown_timeout, as nginx's old worker would.
    busy.expect_open(Duration::from_millis(150));
    busy.expect_closed(Duration::from_secs(2));
    fresh.expect_closed(Duration::from_secs(2));
    assert!(s.log_contains("shutdown timeout", CLOSE));
    // The server itself goes on, on the new configuration.
    s.connect()
        .request(get("/r"))
        .assert_status(200)
        .assert_body("new");
}

#[test]
fn s_reload_with_pid_file_reloads() {
    let s = start("reload-s", PID, "old", "");
    let pid: u32 = std::fs::read_to_string(pid_file(&s))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(pid, s.pid());
    let mut c = idle_conn(&s, "old");
    s.prefix().write_conf(&conf_with(PID, "via -s", ""));
    let out = send_command(&s, "reload");
    assert_eq!(out.code, Some(0), "{out:?}");
    s.assert_log("reconfiguring", CLOSE);
    assert!(s.wait_log_count("listening on", 2, CLOSE));
    c.expect_eof(CLOSE);
    let mut c = s.connect();
    c.request(get("/r"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("via -s");
}

#[test]
fn invalid_config_on_reload_is_logged_and_old_one_keeps_serving() {
    let mut s = start("reload-bad", PID, "old", "");
    let mut c = idle_conn(&s, "old");
    s.prefix()
        .write_conf(&conf_with(PID, "new", "    bogus_directive on;"));
    s.signal(libc::SIGHUP);
    assert!(
        s.wait_lines(
            |l| l.contains("[emerg]") && l.contains("unknown directive \"bogus_directive\""),
            1,
            CLOSE
        ),
        "no [emerg] line:\n{}",
        s.log_text()
    );
    assert!(s.is_running());
    c.request(get("/r"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("old");
    let mut d = s.connect();
    d.request(get("/r")).assert_status(200).assert_body("old");
    // A later valid reload still works.
    s.prefix().write_conf(&conf_with(PID, "fixed", ""));
    s.signal(libc::SIGHUP);
    assert!(s.wait_log_count("reconfiguring", 2, CLOSE));
    assert!(
        s.wait_log_count("listening on", 2, CLOSE),
        "{}",
        s.log_text()
    );
    c.expect_eof(CLOSE);
    s.connect()
        .request(get("/r"))
        .assert_status(200)
        .assert_body("fixed");
}

#[test]
fn reload_opens_a_new_listen_port() {
    let s = start("reload-listen", PID, "first", "");
    let mut c = idle_conn(&s, "first");
    let second = server_block("    location = /r { return 200 \"second\"; }")
        .replace("127.0.0.1:0", "127.0.0.2:0");
    s.prefix().write_conf(&conf_with(PID, "first", &second));
    s.signal(libc::SIGHUP);
    s.assert_log("listening on 127.0.0.2:", CLOSE);
    let addr = listening_on(&s, "127.0.0.2").expect("new address");
    let mut d = Conn::connect(addr);
    d.request(get("/r"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("second");
    // The old port still works; its idle connection was retired.
    c.expect_eof(CLOSE);
    let mut e = s.connect();
    e.request(get("/r")).assert_status(200).assert_body("first");
}

#[test]
fn reload_closes_a_removed_listen_port() {
    let s = start("reload-unlisten", PID, "first", "");
    let old = s.addr();
    let mut c = idle_conn(&s, "first");
    // Only a server on another address is left.
    let text = format!(
        "{PID}\n{}",
        conf(
            common::WORKER_CONNECTIONS,
            &server_block("    location = /r { return 200 \"moved\"; }")
                .replace("127.0.0.1:0", "127.0.0.2:0"),
        )
    );
    s.prefix().write_conf(&text);
    s.signal(libc::SIGHUP);
    s.assert_log("listening on 127.0.0.2:", CLOSE);
    s.assert_log(&format!("closing listening socket on {old}"), CLOSE);
    assert_refused(old);
    let addr = listening_on(&s, "127.0.0.2").expect("new address");
    Conn::connect(addr)
        .request(get("/r"))
        .assert_status(200)
        .assert_body("moved");
    // The idle connection accepted on the old port was retired.
    c.expect_eof(CLOSE);
}

#[test]
fn s_quit_stops_gracefully_and_removes_pid_file() {
    let mut s = start("quit-s", PID, "R", "");
    assert!(pid_file(&s).exists());
    let mut busy = busy_conn(&s);
    let out = send_command(&s, "quit");
    assert_eq!(out.code, Some(0), "{out:?}");
    s.assert_log("gracefully shutting down", CLOSE);
    assert!(s.is_running(), "exited with a request in flight");
    busy.send("\r\n");
    busy.read_response().assert_status(200).assert_close();
    busy.expect_closed(CLOSE);
    drop(busy);
    s.assert_exits(CLOSE);
    assert!(!pid_file(&s).exists(), "pid file left behind");
    // Nothing to signal any more.
    let out = send_command(&s, "reload");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("holdfast.pid"), "{out:?}");
}

#[test]
fn s_stop_exits_at_once_and_removes_pid_file() {
    let mut s = start("stop-s", PID, "R", "");
    let mut busy = busy_conn(&s);
    let out = send_command(&s, "stop");
    assert_eq!(out.code, Some(0), "{out:?}");
    let took = s.assert_exits(CLOSE);
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    busy.expect_closed(Duration::from_secs(1));
    assert!(!pid_file(&s).exists(), "pid file left behind");
}
