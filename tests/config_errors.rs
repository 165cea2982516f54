//! The command line and configuration errors: `-t` reports like `nginx -t`;
//! a bad file gives `holdfast: [emerg] MSG in FILE:LINE` and exit code 1,
//! whether testing or starting (and then nothing listens); a bad option exits 2.

mod common;

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::{Outcome, Prefix, run_holdfast, test_config};

const WITHIN: Duration = Duration::from_secs(10);

fn test_conf(prefix: &Prefix, text: &str) -> Outcome {
    let file = prefix.write_conf(text);
    test_config(prefix, &file, WITHIN)
}

/// Asserts `-t` fails with exit 1, `[emerg]`, `msg` and `holdfast.conf:line`.
#[track_caller]
fn assert_conf_error(text: &str, msg: &str, line: usize) {
    let p = Prefix::new("conf");
    let out = test_conf(&p, text);
    assert_eq!(out.code, Some(1), "exit code; stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("[emerg]"), "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains(msg),
        "expected {msg:?} in:\n{}",
        out.stderr
    );
    let at = format!("{}:{line}", p.conf_file().display());
    assert!(
        out.stderr.contains(&format!("in {at}")),
        "expected \"in {at}\" in:\n{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("syntax is ok"),
        "stderr:\n{}",
        out.stderr
    );
}

/// A valid configuration with `extra` inserted in the server block at line 7.
fn with_in_server(extra: &str) -> String {
    format!(
        "error_log stderr info;\n\
         events {{\n    worker_connections 64;\n}}\n\
         http {{\n    server {{\n{extra}\n        listen 127.0.0.1:0;\n    }}\n}}\n"
    )
}

#[test]
fn good_config_syntax_is_ok() {
    let p = Prefix::new("conf");
    let out = test_conf(
        &p,
        &common::conf(
            64,
            &common::server_block("    location = /r { return 200 \"R\"; }"),
        ),
    );
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    let file = p.conf_file();
    assert!(
        out.stderr.contains(&format!(
            "the configuration file {} syntax is ok",
            file.display()
        )),
        "stderr:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "configuration file {} test is successful",
            file.display()
        )),
        "stderr:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("listening on"), "-t must not listen");
}

#[test]
fn shipped_default_config_syntax_is_ok() {
    let p = Prefix::new("conf");
    let out = test_conf(
        &p,
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/holdfast.conf"))
            .expect("read conf/holdfast.conf"),
    );
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("syntax is ok"), "{}", out.stderr);
}

#[test]
fn unknown_directive() {
    assert_conf_error(
        &with_in_server("        frobnicate on;"),
        "unknown directive \"frobnicate\"",
        7,
    );
}

#[test]
fn directive_in_wrong_context() {
    assert_conf_error(
        "error_log stderr info;\nevents {\n    worker_connections 64;\n    root /tmp;\n}\n",
        "\"root\" directive is not allowed here",
        4,
    );
    assert_conf_error(
        "http {\n    listen 80;\n}\n",
        "\"listen\" directive is not allowed here",
        2,
    );
    assert_conf_error(
        "\n\nworker_connections 10;\n",
        "\"worker_connections\" directive is not allowed here",
        3,
    );
}

#[test]
fn wrong_argument_count() {
    assert_conf_error(
        &with_in_server("        keepalive_timeout 1 2 3;"),
        "invalid number of arguments in \"keepalive_timeout\" directive",
        7,
    );
    assert_conf_error(
        &with_in_server("        root;"),
        "invalid number of arguments in \"root\" directive",
        7,
    );
}

#[test]
fn bad_size_value() {
    assert_conf_error(
        &with_in_server("        client_header_buffer_size 1q;"),
        "\"client_header_buffer_size\" directive invalid value",
        7,
    );
    assert_conf_error(
        &with_in_server("        large_client_header_buffers 4 lots;"),
        "\"large_client_header_buffers\" directive invalid value",
        7,
    );
}

#[test]
fn bad_time_value() {
    assert_conf_error(
        &with_in_server("        keepalive_timeout soon;"),
        "\"keepalive_timeout\" directive invalid value",
        7,
    );
    assert_conf_error(
        &with_in_server("        client_header_timeout 5x;"),
        "\"client_header_timeout\" directive invalid value",
        7,
    );
}

#[test]
fn bad_number_value() {
    assert_conf_error(
        "events {\n    worker_connections many;\n}\n",
        "invalid number",
        2,
    );
}

#[test]
fn missing_closing_brace() {
    assert_conf_error(
        "events {\n}\nhttp {\n    server {\n        listen 127.0.0.1:0;\n    }\n",
        "unexpected end of file, expecting \"}\"",
        7,
    );
}

#[test]
fn extra_closing_brace() {
    assert_conf_error("events {\n}\n}\nhttp {\n}\n", "unexpected \"}\"", 3);
}

#[test]
fn missing_semicolon_at_end_of_file() {
    assert_conf_error(
        "events {\n}\nerror_log stderr info",
        "unexpected end of file, expecting \";\" or \"}\"",
        3,
    );
}

#[test]
fn missing_include_file() {
    let p = Prefix::new("conf");
    let text = "events {\n}\nhttp {\n    include mime.types;\n    include no-such.types;\n}\n";
    let out = test_conf(&p, text);
    assert_eq!(out.code, Some(1), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("[emerg]"), "{}", out.stderr);
    assert!(out.stderr.contains("no-such.types"), "{}", out.stderr);
    assert!(out.stderr.contains("open()"), "{}", out.stderr);
    let at = format!("in {}:5", p.conf_file().display());
    assert!(
        out.stderr.contains(&at),
        "expected {at:?} in:\n{}",
        out.stderr
    );
}

#[test]
fn error_inside_included_file_names_that_file() {
    let p = Prefix::new("conf");
    p.write(
        "conf/site.conf",
        "server {\n    listen 127.0.0.1:0;\n    bogus;\n}\n",
    );
    let out = test_conf(&p, "events {\n}\nhttp {\n    include site.conf;\n}\n");
    assert_eq!(out.code, Some(1), "stderr:\n{}", out.stderr);
    let at = format!("in {}:3", p.path().join("conf/site.conf").display());
    assert!(
        out.stderr.contains("unknown directive \"bogus\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&at),
        "expected {at:?} in:\n{}",
        out.stderr
    );
}

#[test]
fn duplicate_directive() {
    assert_conf_error(
        &with_in_server("        keepalive_timeout 5s;\n        keepalive_timeout 6s;"),
        "\"keepalive_timeout\" directive is duplicate",
        8,
    );
}

#[test]
fn starting_with_bad_config_exits_1_and_does_not_listen() {
    // A port that was free a moment ago.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe port")
        .port();
    let p = Prefix::new("conf");
    let text = format!(
        "error_log stderr info;\nevents {{\n}}\nhttp {{\n    server {{\n        \
         listen 127.0.0.1:{port};\n        location / {{ return 200 \"x\"; }}\n    }}\n    \
         keepalive_timeout never;\n}}\n"
    );
    let file = p.write_conf(&text);
    let out = run_holdfast(
        [
            "-p".as_ref(),
            p.path().as_os_str(),
            "-c".as_ref(),
            file.as_os_str(),
        ],
        WITHIN,
    );
    assert_eq!(out.code, Some(1), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("[emerg]"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("in {}:9", file.display())),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something listens on {port}"
    );
}

#[test]
fn missing_config_file_exits_1() {
    let p = Prefix::new("conf");
    let file = p.path().join("conf/absent.conf");
    let out = run_holdfast(
        [
            "-t".as_ref(),
            "-p".as_ref(),
            p.path().as_os_str(),
            "-c".as_ref(),
            file.as_os_str(),
        ],
        WITHIN,
    );
    assert_eq!(out.code, Some(1), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("[emerg]"), "{}", out.stderr);
    assert!(out.stderr.contains("absent.conf"), "{}", out.stderr);
}
