//! `worker_processes N` (issue 6, "Scaling past one process, nginx's way"):
//! a master that opens the listeners and forks N single-threaded workers,
//! re-spawns a worker that dies, reloads by starting new workers and
//! stopping the old ones gracefully, and forwards SIGQUIT / SIGTERM.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Prefix, Server, conf, get, server_block};

fn start(workers: usize, listen_opts: &str, text: &str) -> Server {
    let body = server_block(&format!(
        "    location = /r {{ return 200 \"{text}\"; }}\n    location = /status {{ stub_status; }}"
    ))
    .replace(
        "listen 127.0.0.1:0;",
        &format!("listen 127.0.0.1:0 {listen_opts};"),
    );
    let full = format!(
        "worker_processes {workers};\n{}",
        conf(64, &body).replace("error_log stderr info;", "error_log stderr notice;")
    );
    Server::start_conf(Prefix::new("workers"), &full)
}

/// Worker pids the master has started and not seen exit, from its log.
fn live_workers(s: &Server) -> HashSet<String> {
    let text = s.log_text();
    let mut live = HashSet::new();
    for line in text.lines() {
        if let Some(p) = line.split("start worker process ").nth(1) {
            live.insert(p.trim().to_string());
        }
        if let Some(rest) = line.split("worker process ").nth(1)
            && rest.contains(" exited")
        {
            live.remove(rest.split(' ').next().unwrap_or(""));
        }
    }
    live
}

#[test]
fn workers_serve_and_a_dead_worker_is_respawned() {
    let mut s = start(2, "reuseport", "one");
    assert!(s.wait_lines(
        |l| l.contains("start worker process"),
        2,
        Duration::from_secs(5)
    ));
    for _ in 0..20 {
        s.connect()
            .request(get("/r"))
            .assert_status(200)
            .assert_body("one");
    }
    // stub_status shows a worker's own counters: never all 20 requests plus
    // this one in one worker unless the kernel sent them all there; each
    // page counts its own request as writing.
    let page = s.connect().request(get("/status"));
    page.assert_status(200);
    assert!(page.text().contains("Writing: 1"), "{}", page.text());

    let workers = live_workers(&s);
    assert_eq!(workers.len(), 2, "{workers:?}");
    let victim: i32 = workers
        .iter()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a worker pid");
    // SAFETY: kill(2) on a worker pid the master logged.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    s.assert_log(
        &format!("worker process {victim} exited on signal 9"),
        Duration::from_secs(5),
    );
    assert!(s.wait_lines(
        |l| l.contains("start worker process"),
        3,
        Duration::from_secs(5)
    ));
    assert_eq!(live_workers(&s).len(), 2);
    for _ in 0..10 {
        s.connect()
            .request(get("/r"))
            .assert_status(200)
            .assert_body("one");
    }
    s.signal(libc::SIGTERM);
    s.assert_exits(Duration::from_secs(5));
    assert!(s.log_contains("exit", Duration::from_millis(10)));
}

#[test]
fn reload_starts_new_workers_and_stops_the_old_gracefully() {
    let mut s = start(2, "", "one");
    assert!(s.wait_lines(
        |l| l.contains("start worker process"),
        2,
        Duration::from_secs(5)
    ));
    let old = live_workers(&s);
    // A keep-alive connection to an old worker, idle during the reload.
    let mut c = s.connect();
    c.request(get("/r")).assert_status(200).assert_body("one");
    let file = s.prefix().path().join("conf/holdfast.conf");
    let text = std::fs::read_to_string(&file)
        .expect("conf")
        .replace("\"one\"", "\"two\"");
    std::fs::write(&file, text).expect("write conf");
    s.signal(libc::SIGHUP);
    assert!(s.wait_lines(
        |l| l.contains("start worker process"),
        4,
        Duration::from_secs(5)
    ));
    // The old workers stop gracefully: their idle connections are closed.
    for pid in &old {
        s.assert_log(
            &format!("worker process {pid} exited with code 0"),
            Duration::from_secs(5),
        );
    }
    c.expect_closed(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let r = s.connect().request(get("/r"));
        if r.text() == "two" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still answered by the old configuration"
        );
    }
    let now = live_workers(&s);
    assert_eq!(now.len(), 2);
    assert!(now.is_disjoint(&old));
    s.signal(libc::SIGQUIT);
    s.assert_exits(Duration::from_secs(5));
}

#[test]
fn a_bad_reload_keeps_the_running_workers() {
    let mut s = start(2, "", "one");
    assert!(s.wait_lines(
        |l| l.contains("start worker process"),
        2,
        Duration::from_secs(5)
    ));
    let file = s.prefix().path().join("conf/holdfast.conf");
    let text = std::fs::read_to_string(&file).expect("conf");
    std::fs::write(&file, format!("{text}\nbogus_directive on;\n")).expect("write conf");
    s.signal(libc::SIGHUP);
    s.assert_log("[emerg]", Duration::from_secs(5));
    assert_eq!(s.log_count("start worker process"), 2);
    s.connect()
        .request(get("/r"))
        .assert_status(200)
        .assert_body("one");
    s.signal(libc::SIGQUIT);
    s.assert_exits(Duration::from_secs(5));
}
