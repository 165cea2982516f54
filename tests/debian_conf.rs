//! Debian's stock configuration (`/etc/nginx/nginx.conf` and
//! `sites-available/default` of the nginx package, copied verbatim into
//! `tests/data/`) runs on holdfast with only its paths and port changed:
//! since issue 13 nothing needs commenting out (its `gzip on` runs since
//! issue 12, its `ssl_*` lines since 13); it is checked, started, serves the
//! Debian welcome page on both the IPv4 and the IPv6 wildcard, writes its
//! access log, and stops with `-s quit` through its pid file; a module
//! holdfast lacks (a dynamic module Debian's packages add) is refused by
//! name at its `file:line`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Outcome, Prefix, free_port, run_holdfast, test_config};

const WITHIN: Duration = Duration::from_secs(10);
const NGINX_CONF: &str = include_str!("data/debian-nginx.conf");
const SITE_DEFAULT: &str = include_str!("data/debian-sites-default");
/// The directives of modules later issues add, commented out to let the
/// rest of Debian's configuration run (none left since issue 13).
const LATER_MODULES: &[&str] = &[];
const WELCOME: &str = "<h1>Welcome to nginx!</h1>";

/// The Debian layout below `p`: `etc/nginx/{nginx.conf, mime.types,
/// modules-enabled/, conf.d/, sites-enabled/default}`, `var/log/nginx/`,
/// `run/`, `var/www/html/index.nginx-debian.html`. `edit` is applied to both
/// files' text after the paths are moved.
fn debian_tree(p: &Prefix, port: u16, edit: impl Fn(&str) -> String) -> std::path::PathBuf {
    let root = p.path().display().to_string();
    let moved = |text: &str| {
        let text = text
            .replace("/etc/nginx", &format!("{root}/etc/nginx"))
            .replace("/var/log/nginx", &format!("{root}/var/log/nginx"))
            .replace("/run/nginx.pid", &format!("{root}/run/nginx.pid"))
            .replace("/var/www/html", &format!("{root}/var/www/html"))
            .replace("listen 80 ", &format!("listen {port} "))
            .replace("listen [::]:80 ", &format!("listen [::]:{port} "));
        edit(&text)
    };
    let mime = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/mime.types");
    p.write(
        "etc/nginx/mime.types",
        std::fs::read(mime).expect("read conf/mime.types"),
    );
    p.mkdir("etc/nginx/modules-enabled");
    p.mkdir("etc/nginx/conf.d");
    p.mkdir("var/log/nginx");
    p.mkdir("run");
    p.write(
        "var/www/html/index.nginx-debian.html",
        format!("<!DOCTYPE html>\n<html><body>{WELCOME}</body></html>\n"),
    );
    p.write("etc/nginx/sites-enabled/default", moved(SITE_DEFAULT));
    p.write("etc/nginx/nginx.conf", moved(NGINX_CONF))
}

fn check(p: &Prefix, conf: &Path) -> Outcome {
    test_config(p, conf, WITHIN)
}

/// Comments out every line starting (after tabs) with one of `names`; line
/// numbers stay what Debian ships.
fn comment_out(text: &str, names: &[&str]) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if names.iter().any(|n| t.starts_with(&format!("{n} "))) {
                format!("# {l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_refused(out: &Outcome, directive: &str, module: &str, at: &str) {
    assert_eq!(out.code, Some(1), "stderr:\n{}", out.stderr);
    let want = format!("[emerg] unknown directive \"{directive}\": holdfast has no {module}");
    assert!(out.stderr.contains(&want), "{want:?} in:\n{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("in {at}")),
        "{at} in:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("test failed"), "{}", out.stderr);
}

#[test]
fn modules_holdfast_lacks_are_refused_by_name_in_debian_order() {
    let port = free_port();
    let p = Prefix::new("debian-refused");
    let root = p.path().display().to_string();

    // Debian's stock tree, unchanged, is accepted since issues 12 and 13:
    // `gzip on` runs, `ssl_prefer_server_ciphers on` maps to rustls's
    // server order, and ssl_protocols' TLSv1/TLSv1.1 (line 33) are ignored
    // with a warning (rustls has neither).
    let conf = debian_tree(&p, port, |t| t.to_string());
    let out = check(&p, &conf);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("TLSv1 in \"ssl_protocols\" is not supported by holdfast"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("{root}/etc/nginx/nginx.conf:33")),
        "{}",
        out.stderr
    );

    // What Debian's libnginx-mod-* packages drop into modules-enabled/.
    p.write(
        "etc/nginx/modules-enabled/50-mod-stream.conf",
        "load_module modules/ngx_stream_module.so;\n",
    );
    let conf = debian_tree(&p, port, |t| comment_out(t, LATER_MODULES));
    assert_refused(
        &check(&p, &conf),
        "load_module",
        "dynamic modules",
        &format!("{root}/etc/nginx/modules-enabled/50-mod-stream.conf:1"),
    );
}

fn fetch(addr: SocketAddr, target: &str) -> String {
    let deadline = Instant::now() + WITHIN;
    let mut s = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connect {addr}: {e}"),
        }
    };
    s.set_read_timeout(Some(WITHIN)).unwrap();
    write!(s, "GET {target} HTTP/1.0\r\nHost: example.org\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_rest_checks_starts_serves_logs_and_quits() {
    let port = free_port();
    let p = Prefix::new("debian-run");
    let conf = debian_tree(&p, port, |t| comment_out(t, LATER_MODULES));
    let out = check(&p, &conf);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("syntax is ok"), "{}", out.stderr);
    assert!(out.stderr.contains("test is successful"), "{}", out.stderr);

    let mut child = Command::new(BIN)
        .arg("-p")
        .arg(p.path())
        .arg("-c")
        .arg(&conf)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdfast");

    for addr in [
        SocketAddr::from(([127, 0, 0, 1], port)),
        SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port)),
    ] {
        // `/` is answered by index.nginx-debian.html, the third `index`.
        let r = fetch(addr, "/");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{addr}: {r}");
        assert!(r.contains("Content-Type: text/html\r\n"), "{r}");
        assert!(r.ends_with(&format!("{WELCOME}</body></html>\n")), "{r}");
        let r = fetch(addr, "/missing");
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    }

    let access = p.path().join("var/log/nginx/access.log");
    let deadline = Instant::now() + WITHIN;
    let lines = loop {
        let text = std::fs::read_to_string(&access).unwrap_or_default();
        if text.lines().count() >= 4 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        lines.contains("\"GET / HTTP/1.0\" 200 "),
        "access.log:\n{lines}"
    );
    assert!(
        lines.contains("\"GET /missing HTTP/1.0\" 404 "),
        "access.log:\n{lines}"
    );
    assert!(p.path().join("run/nginx.pid").exists());

    // `-s quit` finds the server through the configured pid file.
    let out = run_holdfast(
        [
            "-p".as_ref(),
            p.path().as_os_str(),
            "-c".as_ref(),
            conf.as_os_str(),
            "-s".as_ref(),
            "quit".as_ref(),
        ],
        WITHIN,
    );
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    let deadline = Instant::now() + WITHIN;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "did not quit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(!p.path().join("run/nginx.pid").exists());
    let mut err = String::new();
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
    let log = std::fs::read_to_string(p.path().join("var/log/nginx/error.log")).unwrap_or_default();
    assert!(
        !log.contains("[emerg]") && !log.contains("[alert]"),
        "{log}\n{err}"
    );
}
