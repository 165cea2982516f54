//! nginx's command line (`ngx_get_options`): `-?hvVtTq`, `-s`, `-p`, `-e`,
//! `-c`, `-g`, grouped flags and attached values, the exit codes, and what
//! nginx's own test suite relies on (`-V`'s configure arguments, `-p DIR/ -c
//! nginx.conf -e error.log -g '...'`).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Prefix, get, run_holdfast};

const WITHIN: Duration = Duration::from_secs(10);

/// A prefix with `conf/holdfast.conf` holding `text`.
fn prefix_with(tag: &str, text: &str) -> Prefix {
    let p = Prefix::new(tag);
    p.write_conf(text);
    p
}

#[test]
fn invalid_options_exit_1_with_nginx_messages() {
    for (args, msg) in [
        (vec!["-x"], "holdfast: invalid option: \"x\""),
        (vec!["-tx"], "holdfast: invalid option: \"x\""),
        (vec!["word"], "holdfast: invalid option: \"word\""),
        (vec!["-c"], "holdfast: option \"-c\" requires file name"),
        (
            vec!["-p"],
            "holdfast: option \"-p\" requires directory name",
        ),
        (vec!["-e"], "holdfast: option \"-e\" requires file name"),
        (vec!["-g"], "holdfast: option \"-g\" requires parameter"),
        (vec!["-s"], "holdfast: option \"-s\" requires parameter"),
        (vec!["-s", "kill"], "holdfast: invalid option: \"-s kill\""),
    ] {
        let out = run_holdfast(&args, WITHIN);
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim_end(), msg, "{args:?}");
    }
}

#[test]
fn version_help_and_configure_arguments() {
    let out = run_holdfast(["-v"], WITHIN);
    assert_eq!(out.code, Some(0));
    assert!(
        out.stderr
            .starts_with("nginx version: nginx/1.29.4 (holdfast/"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1);

    for flag in ["-h", "-?"] {
        let out = run_holdfast([flag], WITHIN);
        assert_eq!(out.code, Some(0));
        assert!(
            out.stderr.contains("Usage: holdfast [-?hvVtTq]"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("-g directives"), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }

    let out = run_holdfast(["-V"], WITHIN);
    assert_eq!(out.code, Some(0));
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines[0].starts_with("nginx version: nginx/"),
        "{}",
        out.stderr
    );
    assert!(lines[1].starts_with("built by rustc "), "{}", out.stderr);
    // nginx's order: version, built by, built with (the TLS library), TLS
    // SNI, configure arguments.
    assert_eq!(lines[2], "built with rustls (aws-lc-rs)", "{}", out.stderr);
    assert_eq!(lines[3], "TLS SNI support enabled", "{}", out.stderr);
    let args = lines[4]
        .strip_prefix("configure arguments: ")
        .unwrap_or_else(|| panic!("{}", out.stderr));
    // What Test::Nginx's has_module() looks for: stub_status is there,
    // rewrite, map, access, pcre, proxy, upstream_keepalive and autoindex are not
    // excluded, the modules holdfast lacks are.
    assert!(args.contains("--with-http_stub_status_module"), "{args}");
    for missing in ["--without-http_ssi_module", "--without-http-cache"] {
        assert!(args.split(' ').any(|a| a == missing), "{missing}: {args}");
    }
    for there in [
        "map",
        "access",
        "pcre",
        "proxy",
        "upstream_keepalive",
        "autoindex",
    ] {
        assert!(!args.contains(there), "{there}: {args}");
    }
    assert!(!args.contains("rewrite"), "{args}");
    assert!(args.contains("--with-http_ssl_module"), "{args}");
}

#[test]
fn test_quiet_and_dump() {
    let p = prefix_with("cli-t", "events { }\nhttp {\n include inc.conf;\n}\n");
    p.write(
        "conf/inc.conf",
        "server { listen 127.0.0.1:0; fastcgi_temp_path /tmp/fct 1 2; }\n\
         types_hash_max_size 4096;\nconnection_pool_size 1k;\n",
    );
    let conf = p.conf_file();
    let shown = conf.display().to_string();

    let out = run_holdfast(["-t".as_ref(), "-c".as_ref(), conf.as_os_str()], WITHIN);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "holdfast: the configuration file {shown} syntax is ok\n\
             holdfast: configuration file {shown} test is successful\n"
        )
    );

    // -q: nothing but errors; flags group as in nginx.
    let out = run_holdfast(["-tq".as_ref(), "-c".as_ref(), conf.as_os_str()], WITHIN);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""));

    // -T: the files, includes expanded, each after nginx's header line.
    let out = run_holdfast(["-T".as_ref(), "-c".as_ref(), conf.as_os_str()], WITHIN);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let inc = p.path().join("conf/inc.conf").display().to_string();
    assert!(
        out.stdout.starts_with(&format!(
            "# configuration file {shown}:\nevents {{ }}\nhttp {{\n include inc.conf;\n}}\n\n\
             # configuration file {inc}:\nserver {{"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "fastcgi_temp_path /tmp/fct: accepted, no effect (holdfast has no fastcgi module)"
        ),
        "{}",
        out.stdout
    );
    for remark in [
        format!(
            "types_hash_max_size 4096: accepted, no effect (holdfast's hash maps size themselves) in {inc}:2"
        ),
        format!(
            "connection_pool_size 1k: accepted, no effect (holdfast has no memory pools) in {inc}:3"
        ),
    ] {
        assert!(out.stdout.contains(&remark), "{remark} in:\n{}", out.stdout);
    }

    // A failed test: the error, then nginx's "test failed" line, exit 1.
    let bad = prefix_with("cli-bad", "events { }\nhttp {\n  ssi on;\n}\n");
    let conf = bad.conf_file();
    let out = run_holdfast(["-t".as_ref(), "-c".as_ref(), conf.as_os_str()], WITHIN);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        format!(
            "holdfast: [emerg] unknown directive \"ssi\": holdfast has no \
             ngx_http_ssi_module (see README, \"nginx modules\") in {}:3\n\
             holdfast: configuration file {} test failed\n",
            conf.display(),
            conf.display()
        )
    );
}

#[test]
fn conf_and_error_log_resolve_against_the_prefix() {
    // nginx-tests' own command line: -p DIR/ -c nginx.conf -e error.log -g '...'.
    let p = Prefix::new("cli-prefix");
    p.write(
        "nginx.conf",
        "events { }\nhttp { server { listen 127.0.0.1:0; location / { return 200 ok; } } }\n",
    );
    let dir = format!("{}/", p.path().display());
    let out = run_holdfast(
        [
            "-t",
            "-p",
            &dir,
            "-c",
            "nginx.conf",
            "-e",
            "error.log",
            "-g",
            "pid x.pid; error_log stderr notice;",
        ],
        WITHIN,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let shown = p.path().join("nginx.conf").display().to_string();
    assert!(
        out.stderr.contains(&format!("{shown} syntax is ok")),
        "{}",
        out.stderr
    );

    // Errors in -g are reported `in command line`, and go to the -e file too.
    let out = run_holdfast(
        [
            "-t",
            "-p",
            &dir,
            "-c",
            "nginx.conf",
            "-e",
            "e.log",
            "-g",
            "bogus 1;",
        ],
        WITHIN,
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .starts_with("holdfast: [emerg] unknown directive \"bogus\" in command line\n"),
        "{}",
        out.stderr
    );
    let logged = std::fs::read_to_string(p.path().join("e.log")).unwrap();
    assert!(
        logged.contains("[emerg] ")
            && logged.contains("unknown directive \"bogus\" in command line"),
        "{logged}"
    );

    // A -g directive the file repeats is a duplicate, as in nginx.
    p.write("dup.conf", "pid a.pid;\nevents { }\n");
    let out = run_holdfast(
        ["-t", "-p", &dir, "-c", "dup.conf", "-g", "pid b.pid;"],
        WITHIN,
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(&format!(
            "\"pid\" directive is duplicate in {}:1",
            p.path().join("dup.conf").display()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn runs_like_nginx_tests_start_it() {
    // The suite forks, execs `BINARY -p DIR/ -c nginx.conf -e error.log -g
    // 'pid ...; error_log ... debug;'` and waits for the pid file.
    let p = Prefix::new("cli-run");
    p.write("index.html", "hello\n");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    p.write(
        "nginx.conf",
        format!(
            "daemon off;\nevents {{ }}\nhttp {{\n root {};\n client_body_temp_path {}/cbt;\n \
             server {{ listen 127.0.0.1:{port}; server_name localhost; location / {{ }} }}\n}}\n",
            p.path().display(),
            p.path().display()
        ),
    );
    let dir = format!("{}/", p.path().display());
    let pid_file = p.path().join("nginx.pid");
    let globals = format!(
        "pid {}; error_log {}/error.log debug;",
        pid_file.display(),
        p.path().display()
    );
    let mut child = std::process::Command::new(common::BIN)
        .args([
            "-p",
            &dir,
            "-c",
            "nginx.conf",
            "-e",
            "error.log",
            "-g",
            &globals,
        ])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + WITHIN;
    while !pid_file.exists() {
        assert!(std::time::Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = common::Conn::connect(addr);
    let r = c.request(get("/"));
    r.assert_status(200).assert_body("hello\n");
    // The debug log went where -g said.
    let log = std::fs::read_to_string(p.path().join("error.log")).unwrap();
    assert!(log.contains("[debug] "), "{log}");
    assert!(log.contains("http process request line"), "{log}");
    // `-s quit` with the same -p, -c, -e and -g finds the pid file that -g
    // named, and logs to the -e file as nginx's signal process does.
    // The suite's own command line, plus `-e signal.log -s SIGNAL`.
    let signal = |sig: &str| {
        run_holdfast(
            [
                "-p",
                &dir,
                "-c",
                "nginx.conf",
                "-e",
                "signal.log",
                "-g",
                &globals,
                "-s",
                sig,
            ],
            WITHIN,
        )
    };
    let out = signal("quit");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(!Path::new(&pid_file).exists(), "pid file removed at exit");
    let signal_log = std::fs::read_to_string(p.path().join("signal.log")).unwrap();
    assert!(
        signal_log.contains("[notice] ") && signal_log.contains("signal process started"),
        "{signal_log}"
    );
    // Now nothing runs: the failure goes to stderr and to the -e file.
    let out = signal("stop");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let want = format!(
        "open() \"{}\" failed (2: No such file or directory)",
        pid_file.display()
    );
    assert!(
        out.stderr.contains(&format!("holdfast: [error] {want}")),
        "{}",
        out.stderr
    );
    let signal_log = std::fs::read_to_string(p.path().join("signal.log")).unwrap();
    assert!(signal_log.contains("[error] "), "{signal_log}");
    assert!(signal_log.contains(&want), "{signal_log}");
}
