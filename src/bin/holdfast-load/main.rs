//! holdfast-load: a single-threaded, mio-based HTTP/1.x load generator for
//! servers on loopback addresses. See [`args::HELP`] (`--help`) for the
//! modes and options.
//!
//! * `args` — the command line and the loopback-only target check;
//! * `client` — the event loop: dispatching work, timers, the modes;
//! * `conn` — one connection and its state;
//! * `response` — the streaming response reader (on `holdfast::http::response_parse`);
//! * `hist` — the log-linear latency histogram;
//! * `report` — counters, text and JSON reports, /proc/net/sockstat;
//! * `json` — a small JSON writer and parser;
//! * `procs` — `--procs N`: forked children and merged reports;
//! * `progress` — the live progress line;
//! * `watch` — `--watch URL`: the server's connection states beside it;
//! * `sys` — RLIMIT_NOFILE and the bind-before-connect socket.

mod args;
mod client;
mod conn;
mod hist;
mod json;
mod procs;
mod progress;
mod report;
mod response;
mod sys;
mod watch;

use std::process::ExitCode;
use std::time::Instant;

use args::Command;
use client::{Engine, Share};
use progress::Sink;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match args::parse(&argv) {
        Ok(Command::Help) => {
            print!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(cfg)) => cfg,
        Err(msg) => {
            eprintln!("holdfast-load: {msg}");
            eprintln!("(holdfast-load --help shows the usage)");
            return ExitCode::from(2);
        }
    };
    match sys::raise_nofile_limit() {
        Ok(limit) => {
            // Each process needs its connections plus a few descriptors.
            let per_proc = cfg.concurrency.div_ceil(cfg.procs) as u64 + 16;
            if per_proc > limit {
                eprintln!(
                    "holdfast-load: warning: RLIMIT_NOFILE is {limit}, fewer than the \
                     {per_proc} descriptors a process needs"
                );
            }
        }
        Err(e) => eprintln!("holdfast-load: warning: cannot raise RLIMIT_NOFILE: {e}"),
    }
    // With --procs the parent starts the watcher after forking (procs.rs).
    if let Some((addr, host, path)) = cfg.watch.clone()
        && !cfg.quiet
        && cfg.procs <= 1
    {
        watch::start(addr, host, path);
    }
    let time_wait_before = report::time_wait();
    let start = Instant::now();
    let result = if cfg.procs > 1 {
        procs::run(&cfg, start)
    } else {
        let progress = if cfg.quiet { Sink::Quiet } else { Sink::Stderr };
        Engine::new(&cfg, Share { source_offset: 0 }, progress, start)
            .and_then(|engine| engine.run())
            .map_err(|e| e.to_string())
    };
    let mut report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("holdfast-load: {e}");
            return ExitCode::from(1);
        }
    };
    report.time_wait_before = time_wait_before;
    report.time_wait_after = report::time_wait();
    if cfg.json {
        println!("{}", report.to_json(false).to_pretty());
    } else {
        print!("{}", report.to_text());
    }
    ExitCode::SUCCESS
}
