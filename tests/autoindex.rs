//! Directory listings (ngx_http_autoindex_module) over real TCP: the four
//! formats byte for byte, escaping and the 50-column cut, the sort,
//! sizes and times, HEAD, the jsonp callback, hidden files, keep-alive,
//! a 100,000-entry directory (through the temp file), `autoindex off`,
//! directories the worker may not read, and the directives' errors.

mod common;

use std::fs::{File, FileTimes};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Prefix, Server, WORKER_CONNECTIONS, get, server_block, test_config};

/// The mtime every listed entry gets: Sun, 06 Nov 1994 08:49:37 GMT.
const T: u64 = 784_111_777;

const LONG: Duration = Duration::from_secs(60);

fn set_mtime(path: &Path) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(T);
    File::open(path)
        .expect("open to set mtime")
        .set_times(FileTimes::new().set_modified(t))
        .expect("set mtime");
}

fn utf8_name() -> String {
    "\u{444}".repeat(45)
}

/// `html/list/`: two directories, files with names to escape and cut, two
/// sizes, a hidden file; every mtime [`T`].
fn site() -> Prefix {
    let p = Prefix::new("autoindex");
    p.mkdir("html/list/a-dir");
    p.mkdir("html/list/Z-dir");
    for name in ["<&>\"'", "b file", "pct%q?h#", ".hidden"] {
        p.write(&format!("html/list/{name}"), "");
    }
    p.write(&format!("html/list/{}", "x".repeat(60)), "");
    p.write(&format!("html/list/{}", utf8_name()), "");
    p.write("html/list/big", vec![b'b'; 12345]);
    let huge = p.write("html/list/huge", "");
    File::options()
        .write(true)
        .open(&huge)
        .and_then(|f| f.set_len(2 * 1024 * 1024 + 600_000))
        .expect("sparse file");
    let dir = p.path().join("html/list");
    for e in std::fs::read_dir(&dir).expect("read list") {
        set_mtime(&e.expect("entry").path());
    }
    set_mtime(&dir);
    p.mkdir("html/small");
    p.write("html/small/one", "1");
    p
}

fn start(prefix: Prefix, extra: &str) -> Server {
    let body = format!(
        "    autoindex on;\n\
         location /json/ {{ alias html/list/; autoindex_format json; }}\n\
         location /jsonp/ {{ alias html/list/; autoindex_format jsonp; }}\n\
         location /xml/ {{ alias html/list/; autoindex_format xml; }}\n\
         location /human/ {{ alias html/list/; autoindex_exact_size off; }}\n\
         location /local/ {{ alias html/list/; autoindex_localtime on; }}\n\
         location /off/ {{ alias html/list/; autoindex off; }}\n\
         location /small/ {{ autoindex_format jsonp; }}\n\
         {extra}"
    );
    Server::start_with(prefix, WORKER_CONNECTIONS, &server_block(&body))
}

/// An html line: the link, the name padded to 50 columns, date and size.
fn html_line(href: &str, text: &str, width: usize, rest: &str) -> String {
    format!(
        "<a href=\"{href}\">{text}</a>{} 06-Nov-1994 08:49 {rest}\r\n",
        " ".repeat(50 - width)
    )
}

#[test]
fn html_listing_is_nginx_s() {
    let s = start(site(), "");
    let mut c = s.connect();
    let r = c.request(get("/list/"));
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    let mut want = b"<html>\r\n<head><title>Index of /list/</title></head>\r\n<body>\r\n\
                     <h1>Index of /list/</h1><hr><pre><a href=\"../\">../</a>\r\n"
        .to_vec();
    let dash = "                  -";
    let zero = "                  0";
    for line in [
        html_line("Z-dir/", "Z-dir/", 6, dash),
        html_line("a-dir/", "a-dir/", 6, dash),
        html_line("%3C%26%3E%22%27", "&lt;&amp;&gt;&quot;'", 5, zero),
        html_line("b%20file", "b file", 6, zero),
        html_line("big", "big", 3, "              12345"),
        html_line("huge", "huge", 4, "            2697152"),
        html_line("pct%25q%3Fh%23", "pct%q?h#", 8, zero),
        format!(
            "<a href=\"{x60}\">{x47}..&gt;</a> 06-Nov-1994 08:49 {zero}\r\n",
            x60 = "x".repeat(60),
            x47 = "x".repeat(47)
        ),
    ] {
        want.extend_from_slice(line.as_bytes());
    }
    // Without a UTF-8 charset nginx counts bytes: the cut falls inside a
    // character (47 bytes: 23 characters and half of one).
    want.extend_from_slice(b"<a href=\"");
    want.extend_from_slice("%D1%84".repeat(45).as_bytes());
    want.extend_from_slice(b"\">");
    want.extend_from_slice(&utf8_name().as_bytes()[..47]);
    want.extend_from_slice(format!("..&gt;</a> 06-Nov-1994 08:49 {zero}\r\n").as_bytes());
    want.extend_from_slice(b"</pre><hr></body>\r\n</html>\r\n");
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(&want)
    );
    assert!(!r.text().contains("hidden"));
    // The same connection carries on.
    let r = c.request(get("/small/?callback=f"));
    r.assert_status(200).assert_keepalive();
}

#[test]
fn human_sizes_and_local_times() {
    let s = Server::start_conf_env(
        site(),
        &common::conf(
            WORKER_CONNECTIONS,
            &server_block(
                "    autoindex on;\n\
                 location /human/ { alias html/list/; autoindex_exact_size off; }\n\
                 location /local/ { alias html/list/; autoindex_localtime on; }",
            ),
        ),
        // POSIX TZ: three hours east of UTC, no zone files needed.
        &[("TZ", "UTC-3")],
    );
    let r = s.request(&get("/human/"));
    let t = r.text();
    assert!(t.contains(&html_line("big", "big", 3, "    12K")), "{t}");
    assert!(t.contains(&html_line("huge", "huge", 4, "     3M")), "{t}");
    assert!(
        t.contains(&html_line("b%20file", "b file", 6, "      0")),
        "{t}"
    );
    assert!(
        t.contains(&html_line("a-dir/", "a-dir/", 6, "      -")),
        "{t}"
    );
    let r = s.request(&get("/local/"));
    let t = r.text();
    assert!(t.contains(" 06-Nov-1994 11:49 "), "{t}");
    assert!(!t.contains(" 08:49 "), "{t}");
    // The other formats stay in UTC (as nginx's).
    let r = s.request(&get("/human/"));
    assert!(r.text().contains(" 06-Nov-1994 08:49 "));
}

const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn json_entries() -> String {
    let dir = |name: &str| {
        format!("\r\n{{ \"name\":\"{name}\", \"type\":\"directory\", \"mtime\":\"{DATE}\" }}")
    };
    let file = |name: &str, size: u64| {
        format!(
            "\r\n{{ \"name\":\"{name}\", \"type\":\"file\", \"mtime\":\"{DATE}\", \"size\":{size} }}"
        )
    };
    [
        dir("Z-dir"),
        dir("a-dir"),
        file("<&>\\\"'", 0),
        file("b file", 0),
        file("big", 12345),
        file("huge", 2_697_152),
        file("pct%q?h#", 0),
        file(&"x".repeat(60), 0),
        file(&utf8_name(), 0),
    ]
    .join(",")
}

#[test]
fn json_and_jsonp() {
    let s = start(site(), "");
    let mut c = s.connect();
    let r = c.request(get("/json/"));
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.text(), format!("[{}\r\n]", json_entries()));
    let r = c.request(get("/jsonp/?a=1&callback=cb_1.X"));
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.header("Content-Type"), Some("application/javascript"));
    assert_eq!(
        r.text(),
        format!("/* callback */\r\ncb_1.X([{}\r\n]);", json_entries())
    );
    // No callback, or an empty one: plain JSON.
    for uri in ["/jsonp/", "/jsonp/?callback=", "/jsonp/?callback"] {
        let r = c.request(get(uri));
        assert_eq!(r.header("Content-Type"), Some("application/json"), "{uri}");
        assert!(r.text().starts_with("[\r\n{"), "{uri}");
    }
}

#[test]
fn a_bad_callback_is_400() {
    let s = start(site(), "");
    let r = s.request(&get("/jsonp/?callback=a-b"));
    r.assert_status(400);
    assert_line(
        &s,
        "[info]",
        "*1 client sent invalid callback name: \"a-b\"",
    );
    let long = "c".repeat(129);
    s.request(&get(&format!("/jsonp/?callback={long}")))
        .assert_status(400);
    s.assert_log(
        &format!("client sent too long callback name: \"{long}\""),
        Duration::from_secs(5),
    );
    let ok = "c".repeat(128);
    let r = s.request(&get(&format!("/jsonp/?callback={ok}")));
    r.assert_status(200);
    assert!(r.text().starts_with(&format!("/* callback */\r\n{ok}([")));
    // Checked before the directory is read: a HEAD is refused too.
    let mut c = s.connect();
    c.send("HEAD /jsonp/?callback=%2e HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_head_response().assert_status(400);
}

#[test]
fn xml_listing() {
    let s = start(site(), "");
    let r = s.request(&get("/xml/"));
    r.assert_status(200);
    assert_eq!(r.header("Content-Type"), Some("text/xml; charset=utf-8"));
    let m = "mtime=\"1994-11-06T08:49:37Z\"";
    let mut want = String::from("<?xml version=\"1.0\"?>\r\n<list>\r\n");
    want += &format!("<directory {m}>Z-dir</directory>\r\n<directory {m}>a-dir</directory>\r\n");
    for (name, size) in [
        ("&lt;&amp;&gt;&quot;'", 0),
        ("b file", 0),
        ("big", 12345),
        ("huge", 2_697_152),
        ("pct%q?h#", 0),
        (&"x".repeat(60), 0),
        (&utf8_name(), 0),
    ] {
        want += &format!("<file {m} size=\"{size}\">{name}</file>\r\n");
    }
    want += "</list>\r\n";
    assert_eq!(r.text(), want);
}

#[test]
fn head_sends_the_header_only_and_keeps_alive() {
    let s = start(site(), "");
    let mut c = s.connect();
    c.send("HEAD /list/ HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_head_response();
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    // As nginx: the directory is not read for a HEAD, so no length.
    assert_eq!(r.header("Content-Length"), None);
    let r = c.request(get("/xml/"));
    r.assert_status(200).assert_keepalive();
    assert!(r.text().ends_with("</list>\r\n"));
}

#[test]
fn other_methods_are_not_listed() {
    let s = start(site(), "");
    let mut c = s.connect();
    // nginx's autoindex declines POST: the directory index is forbidden.
    let r = c.request("POST /list/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab");
    r.assert_status(403);
    s.assert_log("directory index of \"", Duration::from_secs(5));
    let r = c.request("DELETE /list/ HTTP/1.1\r\nHost: x\r\n\r\n");
    r.assert_status(405);
}

#[test]
fn autoindex_off_is_403_as_before() {
    let s = start(site(), "");
    let r = s.request(&get("/off/"));
    r.assert_status(403);
    let dir = s.prefix().path().join("html/list/");
    s.assert_log(
        &format!("directory index of \"{}\" is forbidden", dir.display()),
        Duration::from_secs(5),
    );
    // An index file still wins over the listing.
    s.prefix().write("html/small/index.html", "index!");
    s.request(&get("/small/")).assert_body("index!");
}

#[test]
fn symbolic_links_are_followed_and_dangling_ones_are_other() {
    let p = site();
    p.mkdir("html/links/real-dir");
    p.write("html/links/real-file", "12345");
    let d = p.path().join("html/links");
    std::os::unix::fs::symlink(d.join("real-dir"), d.join("to-dir")).unwrap();
    std::os::unix::fs::symlink(d.join("real-file"), d.join("to-file")).unwrap();
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
    let s = start(
        p,
        "location /links-json/ { alias html/links/; autoindex_format json; }",
    );
    let t = s.request(&get("/links/")).text();
    assert!(t.contains("<a href=\"to-dir/\">to-dir/</a>"), "{t}");
    assert!(t.contains("<a href=\"to-file\">to-file</a>"), "{t}");
    // Directories first, the link to one among them.
    let dirs_end = t.find("to-dir/</a>").unwrap();
    assert!(t.find("dangling").unwrap() > dirs_end, "{t}");
    let j = s.request(&get("/links-json/")).text();
    assert!(j.contains("\"name\":\"to-file\", \"type\":\"file\""), "{j}");
    assert!(
        j.contains("\"name\":\"to-dir\", \"type\":\"directory\""),
        "{j}"
    );
    assert!(
        j.contains("\"name\":\"dangling\", \"type\":\"other\""),
        "{j}"
    );
}

#[test]
fn request_split_at_every_byte() {
    let s = start(site(), "");
    let raw = b"GET /small/?callback=f HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let whole = s.request(std::str::from_utf8(raw).unwrap());
    assert_eq!(
        whole.text(),
        format!(
            "/* callback */\r\nf([\r\n{{ \"name\":\"one\", \"type\":\"file\", \"mtime\":\"{}\", \"size\":1 }}\r\n]);",
            whole_date(&s)
        )
    );
    for at in 1..raw.len() {
        let mut c = s.connect();
        c.send(&raw[..at]);
        c.send(&raw[at..]);
        let r = c.read_response();
        assert_eq!(r.body, whole.body, "split at {at}");
    }
}

/// The http date of `html/small/one`'s mtime.
fn whole_date(s: &Server) -> String {
    let m = std::fs::metadata(s.prefix().path().join("html/small/one")).unwrap();
    let secs = m
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    http_date(secs)
}

fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn hundred_thousand_entries_are_listed_through_a_temp_file() {
    const N: usize = 100_000;
    let p = site();
    p.mkdir("html/many");
    let dir = p.path().join("html/many");
    for i in 0..N {
        File::create(dir.join(format!("f{i:06}"))).expect("create entry");
    }
    let s = start(
        p,
        "location /many-json/ { alias html/many/; autoindex_format json; }",
    );
    let mut c = s.connect();
    c.send(get("/many-json/"));
    let r = c.read_response_within(LONG, false);
    r.assert_status(200).assert_keepalive();
    let body = r.text();
    assert!(body.len() > 64 * 1024);
    assert_eq!(body.matches("{ \"name\":\"f").count(), N);
    // In order, none twice or missing.
    for (want, part) in body.split("{ \"name\":\"f").skip(1).enumerate() {
        assert_eq!(part[..6].parse::<usize>().unwrap(), want);
    }
    assert!(body.ends_with(" }\r\n]"));
    // The html listing too, on the same connection.
    c.send(get("/many/"));
    let r = c.read_response_within(LONG, false);
    r.assert_status(200).assert_keepalive();
    assert_eq!(r.text().matches("<a href=\"f").count(), N);
    // The temp files were unlinked as soon as made.
    let temp = s.prefix().path().join("client_body_temp");
    let left = std::fs::read_dir(&temp).map_or(0, |d| d.count());
    assert_eq!(left, 0, "files left in {}", temp.display());
    c.request(get("/small/")).assert_status(200);
}

/// Waits for a log line with both `level` and `text`.
#[track_caller]
fn assert_line(s: &Server, level: &str, text: &str) {
    let found = s.wait_lines(
        |l| l.contains(level) && l.contains(text),
        1,
        Duration::from_secs(5),
    );
    assert!(found, "no {level} line with {text:?} in:\n{}", s.log_text());
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn unreadable_directories_and_entries() {
    if running_as_root() {
        eprintln!(
            "skipped: as root every directory is readable (the checks need an unprivileged user)"
        );
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let p = site();
    p.mkdir("html/locked");
    p.mkdir("html/sealed");
    p.mkdir("html/partly");
    p.write("html/partly/ok", "");
    let root = p.path().join("html");
    std::os::unix::fs::symlink(root.join("sealed/x"), root.join("partly/in-sealed")).unwrap();
    let mode = |dir: &str, m: u32| {
        std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(m)).unwrap();
    };
    // Searchable but not readable: the index is looked for, the listing fails.
    mode("locked", 0o300);
    mode("sealed", 0o000);
    let s = start(
        p,
        "location /locked-off/ { alias html/locked/; autoindex off; }",
    );
    s.request(&get("/locked/")).assert_status(403);
    assert_line(
        &s,
        "[error]",
        &format!(
            "*1 opendir() \"{}\" failed (13: Permission denied)",
            root.join("locked").display()
        ),
    );
    s.request(&get("/locked-off/")).assert_status(403);
    s.assert_log(
        &format!(
            "directory index of \"{}/\" is forbidden",
            root.join("locked").display()
        ),
        Duration::from_secs(5),
    );
    // An entry that may not be stat()ed is left out, with nginx's line.
    let r = s.request(&get("/partly/"));
    r.assert_status(200);
    assert!(r.text().contains("href=\"ok\""));
    assert!(!r.text().contains("in-sealed"));
    assert_line(
        &s,
        "[crit]",
        &format!(
            "*3 stat() \"{}\" failed (13: Permission denied)",
            root.join("partly/in-sealed").display()
        ),
    );
    // Not searchable at all: the index file test already says 403.
    mode("locked", 0o000);
    s.request(&get("/locked/")).assert_status(403);
    mode("locked", 0o700);
    mode("sealed", 0o700);
}

/// `-t` on a server with `extra` at line 7; the error output.
fn conf_error(extra: &str) -> String {
    let p = Prefix::new("autoindex-conf");
    let file = p.write_conf(&format!(
        "error_log stderr info;\n\
         events {{\n    worker_connections 64;\n}}\n\
         http {{\n    server {{\n{extra}\n        listen 127.0.0.1:0;\n    }}\n}}\n"
    ));
    let out = test_config(&p, &file, Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("holdfast.conf:7"), "{}", out.stderr);
    out.stderr
}

#[test]
fn directive_errors_are_nginx_s() {
    let e = conf_error("autoindex_format yaml;");
    assert!(e.contains("[emerg] invalid value \"yaml\""), "{e}");
    let e = conf_error("autoindex maybe;");
    assert!(
        e.contains(
            "invalid value \"maybe\" in \"autoindex\" directive, it must be \"on\" or \"off\""
        ),
        "{e}"
    );
    let e = conf_error("autoindex on; autoindex off;");
    assert!(e.contains("\"autoindex\" directive is duplicate"), "{e}");
    let e = conf_error("location / { if ($uri) { autoindex on; } }");
    assert!(
        e.contains("\"autoindex\" directive is not allowed here"),
        "{e}"
    );
    let e = conf_error("autoindex_localtime on off;");
    assert!(
        e.contains("invalid number of arguments in \"autoindex_localtime\""),
        "{e}"
    );
}

#[test]
fn settings_are_inherited_and_overridden() {
    let s = Server::start_with(
        site(),
        WORKER_CONNECTIONS,
        &format!(
            "autoindex on;\nautoindex_format xml;\n{}",
            server_block(
                "location /small/ { }\n\
                 location /list/ { autoindex_format json; }\n\
                 location /off/ { alias html/list/; autoindex off; }"
            )
        ),
    );
    let r = s.request(&get("/small/"));
    assert_eq!(r.header("Content-Type"), Some("text/xml; charset=utf-8"));
    let r = s.request(&get("/list/"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    s.request(&get("/off/")).assert_status(403);
}

/// A response read to the close: its head and its body, de-chunked.
fn head_and_dechunked_body(raw: &[u8]) -> (String, Vec<u8>) {
    let end = common::find(raw, b"\r\n\r\n").expect("a head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut rest = &raw[end + 4..];
    let mut body = Vec::new();
    loop {
        let eol = common::find(rest, b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16)
            .expect("a hex chunk size");
        rest = &rest[eol + 2..];
        if size == 0 {
            assert_eq!(rest, b"\r\n", "the last chunk ends the body");
            return (head, body);
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
}

#[test]
fn listings_go_through_the_gzip_filter() {
    use std::io::Read;
    let p = site();
    p.mkdir("html/many");
    let dir = p.path().join("html/many");
    // Past 64 KiB of html: the listing comes from the temp file.
    for i in 0..3000 {
        File::create(dir.join(format!("entry-{i:05}"))).expect("create entry");
    }
    let s = Server::start_with(
        p,
        WORKER_CONNECTIONS,
        &server_block(
            "    autoindex on;\n    gzip on;\n    gzip_types application/json;\n\
             location /json/ { alias html/list/; autoindex_format json; }",
        ),
    );
    for uri in ["/list/", "/json/", "/many/"] {
        let plain = s.request(&get(uri));
        plain.assert_status(200);
        assert_eq!(plain.header("Content-Encoding"), None);
        let mut c = s.connect();
        c.send(format!(
            "GET {uri} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        ));
        let raw = c.read_to_close(LONG);
        let (head, body) = head_and_dechunked_body(&raw);
        assert!(head.contains("\r\nContent-Encoding: gzip"), "{head}");
        assert!(head.contains("\r\nTransfer-Encoding: chunked"), "{head}");
        assert!(!head.contains("Content-Length"), "{head}");
        let mut unzipped = Vec::new();
        flate2::read::MultiGzDecoder::new(&body[..])
            .read_to_end(&mut unzipped)
            .expect("a gzip stream");
        assert_eq!(unzipped, plain.body, "{uri}");
    }
}
