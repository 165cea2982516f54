//! `disable_symlinks off | on | if_not_owner [from=PART]`: a symbolic link
//! in a file's path refuses it (403 for the file itself, 404 for a directory
//! link in the middle, as nginx's `O_PATH|O_DIRECTORY|O_NOFOLLOW` walk
//! answers ENOTDIR there), links before `from=` are followed, and the open
//! file cache never hands a file opened under one policy to a location
//! with another. The links are made by each test in its own prefix.

mod common;

use std::os::unix::fs::symlink;
use std::time::Duration;

use common::{Prefix, Server, WORKER_CONNECTIONS, get, server_block, test_config};

const SHORT: Duration = Duration::from_millis(500);

/// The prefix's real path has no link in it (else `on` refuses every file,
/// and the tests say so instead of failing).
fn under_symlink(p: &Prefix) -> bool {
    let real = std::fs::canonicalize(p.path()).expect("canonicalize prefix");
    if real != p.path() {
        eprintln!(
            "skipped: the prefix {} is under a symlink",
            p.path().display()
        );
        return true;
    }
    false
}

/// `html/real/` with a file, links to it and to the directory, and an
/// index that is a link.
fn site(tag: &str) -> Prefix {
    let p = Prefix::new(tag);
    p.write("html/real/f.txt", "real file\n");
    p.write("html/real/page.html", "page\n");
    p.write("html/idx/index.html", "index\n");
    p.mkdir("html/linkidx");
    let h = p.path().join("html");
    symlink("f.txt", h.join("real/link.txt")).unwrap();
    symlink("real", h.join("dirlink")).unwrap();
    symlink("../real/page.html", h.join("linkidx/index.html")).unwrap();
    p
}

fn start(p: Prefix, body: &str) -> Server {
    Server::start_with(p, WORKER_CONNECTIONS, &server_block(body))
}

#[test]
fn on_refuses_a_file_link_and_a_directory_link() {
    let p = site("sl-on");
    if under_symlink(&p) {
        return;
    }
    let s = start(
        p,
        "    disable_symlinks on;\n    location /off/ { disable_symlinks off; alias html/; }",
    );
    let mut c = s.connect();
    c.request(get("/real/f.txt"))
        .assert_status(200)
        .assert_keepalive()
        .assert_body("real file\n");
    c.request(get("/real/link.txt"))
        .assert_status(403)
        .assert_keepalive();
    let root = s.prefix().path().join("html");
    s.assert_log(
        &format!(
            "openat() \"{}/real/link.txt\" failed (40: Too many levels of symbolic links)",
            root.display()
        ),
        SHORT,
    );
    // A directory link in the middle: ENOTDIR, so 404 (nginx too).
    c.request(get("/dirlink/f.txt")).assert_status(404);
    s.assert_log(
        &format!(
            "openat() \"{}/dirlink/f.txt\" failed (20: Not a directory)",
            root.display()
        ),
        SHORT,
    );
    // HEAD is refused the same way; `off` in a nested level follows both.
    c.send("HEAD /real/link.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_head_response().assert_status(403);
    c.request(get("/off/real/link.txt"))
        .assert_status(200)
        .assert_body("real file\n");
    c.request(get("/off/dirlink/f.txt"))
        .assert_status(200)
        .assert_body("real file\n");
}

#[test]
fn from_lets_the_links_before_it_through() {
    let p = site("sl-from");
    if under_symlink(&p) {
        return;
    }
    // The root itself is reached through a link.
    symlink("html", p.path().join("rootlink")).unwrap();
    let s = start(
        p,
        "    location /from/ {\n        disable_symlinks on from=$document_root;\n        \
         alias rootlink/;\n    }\n    \
         location /whole/ {\n        disable_symlinks on;\n        alias rootlink/;\n    }\n    \
         location ~ ^/exact/(.+)$ {\n        disable_symlinks on from=$document_root;\n        \
         alias html/$1;\n    }",
    );
    let mut c = s.connect();
    c.request(get("/from/real/f.txt"))
        .assert_status(200)
        .assert_body("real file\n");
    // Past from=, links still count.
    c.request(get("/from/real/link.txt")).assert_status(403);
    c.request(get("/from/dirlink/f.txt")).assert_status(404);
    // Without from=, the root's own link refuses everything below it.
    c.request(get("/whole/real/f.txt")).assert_status(404);
    // from= equal to the whole path: nothing is checked.
    c.request(get("/exact/real/link.txt"))
        .assert_status(200)
        .assert_body("real file\n");
}

#[test]
fn if_not_owner_follows_links_of_the_same_owner() {
    let p = site("sl-owner");
    if under_symlink(&p) {
        return;
    }
    p.write("html/other/theirs.txt", "theirs\n");
    let other = p.path().join("html/other");
    symlink("theirs.txt", other.join("link.txt")).unwrap();
    let s = start(
        p,
        "    disable_symlinks if_not_owner;\n    index index.html;",
    );
    let mut c = s.connect();
    c.request(get("/real/link.txt"))
        .assert_status(200)
        .assert_body("real file\n");
    c.request(get("/dirlink/f.txt"))
        .assert_status(200)
        .assert_body("real file\n");
    c.request(get("/linkidx/"))
        .assert_status(200)
        .assert_body("page\n");
    // A target of another owner needs root to make.
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped the other-owner check: chown needs root");
        return;
    }
    std::os::unix::fs::chown(other.join("theirs.txt"), Some(65534), None).unwrap();
    c.request(get("/other/link.txt")).assert_status(403);
    s.assert_log(
        &format!(
            "openat() \"{}/link.txt\" failed (40: Too many levels of symbolic links)",
            other.display()
        ),
        SHORT,
    );
    // The file itself is served: only the link is refused.
    c.request(get("/other/theirs.txt"))
        .assert_status(200)
        .assert_body("theirs\n");
}

#[test]
fn index_and_try_files_go_through_the_check() {
    let p = site("sl-index");
    if under_symlink(&p) {
        return;
    }
    symlink("page.html", p.path().join("html/real/try")).unwrap();
    p.write("html/real/try.html", "try html\n");
    let s = start(
        p,
        "    index index.html;\n    location /on/ {\n        disable_symlinks on;\n        \
         alias html/;\n    }\n    \
         location /try/ {\n        disable_symlinks on;\n        alias html/real/;\n        \
         try_files $uri $uri.html =404;\n    }",
    );
    let mut c = s.connect();
    c.request(get("/linkidx/"))
        .assert_status(200)
        .assert_body("page\n");
    c.request(get("/on/idx/"))
        .assert_status(200)
        .assert_body("index\n");
    // The index is a link: 403, with no error line (as nginx).
    c.request(get("/on/linkidx/"))
        .assert_status(403)
        .assert_keepalive();
    // try_files skips the link (a crit line says why) and takes the next.
    c.request(get("/try/try"))
        .assert_status(200)
        .assert_body("try html\n");
    s.assert_log("[crit]", SHORT);
    assert!(s.log_contains("/real/try\" failed (40: ", SHORT));
    assert_eq!(s.log_count("linkidx/index.html\" failed"), 0);
}

#[test]
fn if_file_tests_use_the_policy() {
    let p = site("sl-if");
    if under_symlink(&p) {
        return;
    }
    let s = start(
        p,
        "    location /real/ {\n        disable_symlinks on;\n        \
         if (-f $request_filename) { return 204; }\n    }\n    \
         location /off/ {\n        alias html/real/;\n        \
         if (-f $request_filename) { return 204; }\n    }",
    );
    let mut c = s.connect();
    c.request(get("/real/f.txt")).assert_status(204);
    // -f is false for the link, and the static handler then refuses it.
    c.request(get("/real/link.txt")).assert_status(403);
    c.request(get("/off/link.txt")).assert_status(204);
}

#[test]
fn open_file_cache_keeps_policies_apart() {
    let p = site("sl-cache");
    if under_symlink(&p) {
        return;
    }
    let s = start(
        p,
        "    open_file_cache max=16 inactive=60s;\n    open_file_cache_valid 30s;\n    \
         open_file_cache_errors on;\n    \
         location /off/ { alias html/real/; }\n    \
         location /on/ { disable_symlinks on; alias html/real/; }\n    \
         location /owner/ { disable_symlinks if_not_owner; alias html/real/; }",
    );
    let mut c = s.connect();
    for _ in 0..2 {
        c.request(get("/off/link.txt"))
            .assert_status(200)
            .assert_body("real file\n");
        c.request(get("/on/link.txt")).assert_status(403);
        c.request(get("/owner/link.txt"))
            .assert_status(200)
            .assert_body("real file\n");
        c.request(get("/on/link.txt")).assert_status(403);
    }
    // The real file is shared by all three.
    for l in ["/off/f.txt", "/on/f.txt", "/owner/f.txt", "/on/f.txt"] {
        c.request(get(l))
            .assert_status(200)
            .assert_body("real file\n");
    }
}

#[test]
fn bad_disable_symlinks_are_refused_at_their_line() {
    for (line, msg) in [
        (
            "disable_symlinks off from=$document_root;",
            "\"from=\" cannot be used with \"off\" parameter",
        ),
        (
            "disable_symlinks from=/x;",
            "\"disable_symlinks\" must have \"off\", \"on\" or \"if_not_owner\" parameter",
        ),
        (
            "disable_symlinks on off;",
            "duplicate parameters \"on off\"",
        ),
        ("disable_symlinks maybe;", "invalid parameter \"maybe\""),
        (
            "disable_symlinks on; disable_symlinks off;",
            "\"disable_symlinks\" directive is duplicate",
        ),
    ] {
        let p = Prefix::new("sl-conf");
        let file = p.write_conf(&common::conf(
            WORKER_CONNECTIONS,
            &server_block(&format!("    {line}")),
        ));
        let out = test_config(&p, &file, Duration::from_secs(10));
        assert_ne!(out.code, Some(0), "{line}");
        let want = format!("{msg} in {}:", file.display());
        assert!(out.stderr.contains(&want), "{line}: {}", out.stderr);
    }
}
