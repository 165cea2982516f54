//! `charset_map` recoding over real TCP: nginx's own koi-win, koi-utf and
//! win-utf maps (Debian's copies, `tests/data/debian-*`, included as nginx
//! configurations include them) recode static files and proxied responses
//! 8-bit → 8-bit (length kept), 8-bit → UTF-8 and back (chunked, or to the
//! close for HTTP/1.0); characters the destination lacks become `&#N;`;
//! recoding runs between gunzip and gzip. Expected bodies come from an
//! independent reading of the same map files here.

#[path = "common/backend.rs"]
#[allow(dead_code)]
mod backend;
mod common;
#[path = "common/raw.rs"]
mod raw;

use std::io::Write;
use std::time::Duration;

use backend::{Backend, Reply};
use common::{Prefix, Server, WORKER_CONNECTIONS, server_block, test_config};
use raw::{Client, gunzip};

const WITHIN: Duration = Duration::from_secs(10);
const KOI_WIN: &str = include_str!("data/debian-koi-win");
const KOI_UTF: &str = include_str!("data/debian-koi-utf");
const WIN_UTF: &str = include_str!("data/debian-win-utf");

/// The `XX YYYY ;` lines of a map file: a byte and its bytes in the
/// second charset.
fn map_lines(text: &str) -> Vec<(u8, Vec<u8>)> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.replace(';', " ");
            let mut w = l.split_whitespace();
            let (a, b) = (w.next()?, w.next()?);
            let bytes = (0..b.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(b.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            Some((u8::from_str_radix(a, 16).ok()?, bytes))
        })
        .collect()
}

/// An 8-bit map applied to `input` (`reverse`: second column to first);
/// bytes from 0x80 without a line become `?`.
fn eight_bit(map: &str, input: &[u8], reverse: bool) -> Vec<u8> {
    let mut t: Vec<u8> = (0..=255u8)
        .map(|b| if b < 0x80 { b } else { b'?' })
        .collect();
    for (a, b) in map_lines(map) {
        if reverse {
            t[usize::from(b[0])] = a;
        } else {
            t[usize::from(a)] = b[0];
        }
    }
    input.iter().map(|&b| t[usize::from(b)]).collect()
}

/// An 8-bit → UTF-8 map applied to `input`.
fn to_utf8(map: &str, input: &[u8]) -> Vec<u8> {
    let lines = map_lines(map);
    let mut out = Vec::new();
    for &b in input {
        match lines.iter().find(|(a, _)| *a == b) {
            Some((_, seq)) => out.extend_from_slice(seq),
            None if b < 0x80 => out.push(b),
            None => out.push(b'?'),
        }
    }
    out
}

/// UTF-8 text through a map backwards (a character two lines give is the
/// later line's byte): a character the map lacks as `&#N;`.
fn from_utf8(map: &str, text: &str) -> Vec<u8> {
    let lines = map_lines(map);
    let mut out = Vec::new();
    for ch in text.chars() {
        let mut seq = [0u8; 4];
        let seq = ch.encode_utf8(&mut seq).as_bytes();
        match lines.iter().rev().find(|(_, s)| s == seq) {
            Some((a, _)) => out.push(*a),
            None if ch.is_ascii() => out.push(ch as u8),
            None => out.extend_from_slice(format!("&#{};", ch as u32).as_bytes()),
        }
    }
    out
}

/// Every byte value, then `len` pseudo-random bytes.
fn bytes(len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = (0..=255u8).collect();
    let mut x = 2_463_534_242u32;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push((x >> 7) as u8);
    }
    out.truncate(len.max(256));
    out
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

fn gz_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
}

/// UTF-8 text with the letters koi-utf maps and some it does not.
const TEXT: &str = "Привет, мир! Ёжик в тумане — «ёлка» № 5 €\n";

/// A server with the three maps included and these locations.
fn site(prefix: Prefix, locations: &str) -> Server {
    prefix.write("conf/koi-win", KOI_WIN);
    prefix.write("conf/koi-utf", KOI_UTF);
    prefix.write("conf/win-utf", WIN_UTF);
    Server::start_with(
        prefix,
        WORKER_CONNECTIONS,
        &format!(
            "    include koi-win;\n    include koi-utf;\n    include win-utf;\n{}",
            server_block(locations)
        ),
    )
}

const LOCATIONS: &str = "    \
    location /win/ { alias html/koi/; source_charset koi8-r; charset windows-1251; }\n    \
    location /utf/ { alias html/koi/; source_charset koi8-r; charset utf-8; }\n    \
    location /back/ { alias html/utf/; source_charset utf-8; charset koi8-r; }\n    \
    location /w2u/ { alias html/koi/; source_charset windows-1251; charset utf-8; }\n    \
    location /u2w/ { alias html/utf/; source_charset utf-8; charset windows-1251; }\n    \
    location /gz/ { alias html/koi/; source_charset koi8-r; charset utf-8; gzip on; }\n    \
    location /gzwin/ { alias html/koi/; source_charset koi8-r; charset windows-1251; \
                       gzip on; }";

fn static_site() -> (Server, Vec<u8>) {
    let p = Prefix::new("charset-map");
    let big = bytes(100_003);
    p.write("html/koi/all.html", bytes(256));
    p.write("html/koi/big.html", &big);
    p.write("html/utf/text.html", TEXT);
    p.write("html/utf/all.html", to_utf8(KOI_UTF, &bytes(256)));
    p.write(
        "html/utf/odd.html",
        b"a\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80b\xd0Zc\xffd\xe2\x82\xac\xe2\x82",
    );
    (site(p, LOCATIONS), big)
}

#[test]
fn static_files_are_recoded_each_way_on_one_connection() {
    let (s, _) = static_site();
    let all = bytes(256);
    let mut c = Client::connect(s.addr());
    // 8-bit to 8-bit: the length stays, and so do ranges.
    let r = c.exchange(&get("/win/all.html"));
    assert_eq!(r.status(), 200, "{}", r.head);
    assert_eq!(
        r.header("Content-Type"),
        Some("text/html; charset=windows-1251")
    );
    assert_eq!(r.header("Content-Length"), Some("256"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert_eq!(r.body, eight_bit(KOI_WIN, &all, false));
    // To UTF-8: no length, chunked, no ranges; the ETag stays strong.
    let r = c.exchange(&get("/utf/all.html"));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    r.assert_chunked();
    assert_eq!(r.header("Accept-Ranges"), None);
    assert!(r.header("ETag").is_some_and(|e| e.starts_with('"')));
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert_eq!(r.body, to_utf8(KOI_UTF, &all));
    // And back, from UTF-8.
    let r = c.exchange(&get("/back/text.html"));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=koi8-r"));
    r.assert_chunked();
    assert_eq!(r.body, from_utf8(KOI_UTF, TEXT));
    // The round trip gives back every byte koi-utf maps (but 0xBE: the
    // map gives it U+044E too, which 0xC0's later line takes back).
    let r = c.exchange(&get("/back/all.html"));
    let back: Vec<u8> = all
        .iter()
        .map(|&b| match b {
            0xbe => 0xc0,
            _ if to_utf8(KOI_UTF, &[b]) == b"?" => b'?',
            _ => b,
        })
        .collect();
    assert_eq!(r.body, back);
    // The other maps: win-utf both ways.
    let r = c.exchange(&get("/w2u/all.html"));
    assert_eq!(r.body, to_utf8(WIN_UTF, &all));
    let r = c.exchange(&get("/u2w/text.html"));
    assert_eq!(r.body, from_utf8(WIN_UTF, TEXT));
    // HEAD: the headers as for GET, no body, still keep-alive.
    let r = c.exchange("HEAD /utf/all.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("Content-Length"), None, "{}", r.head);
    assert_eq!(r.header("Transfer-Encoding"), None, "{}", r.head);
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    let r = c.exchange("HEAD /win/all.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("Content-Length"), Some("256"));
    let r = c.exchange(&get("/win/all.html"));
    assert_eq!(r.body, eight_bit(KOI_WIN, &all, false));
}

#[test]
fn characters_the_charset_lacks_become_entities() {
    let (s, _) = static_site();
    let mut c = Client::connect(s.addr());
    let r = c.exchange(&get("/back/odd.html"));
    r.assert_chunked();
    // 日本 and 😀 are not in koi8-r; `\xd0Z` is invalid (nginx takes the Z
    // with it), `\xff` too; € is 0x80 in koi-utf; the sequence cut by the
    // end of the file is dropped.
    assert_eq!(r.body, b"a&#26085;&#26412;&#128512;b?c?d\x80");
    let r = c.exchange(&get("/u2w/odd.html"));
    assert_eq!(r.body, b"a&#26085;&#26412;&#128512;b?c?d\x88");
}

#[test]
fn files_larger_than_a_pump_step_and_ranges_of_the_8bit_ones() {
    let (s, big) = static_site();
    let mut c = Client::connect(s.addr());
    let r = c.exchange(&get("/utf/big.html"));
    r.assert_chunked();
    assert_eq!(r.body, to_utf8(KOI_UTF, &big));
    let win = eight_bit(KOI_WIN, &big, false);
    let r = c.exchange(&get("/win/big.html"));
    assert_eq!(r.header("Content-Length"), Some("100003"));
    assert_eq!(r.body, win);
    // Ranges apply to the recoded bytes (nginx's range filter runs after
    // the charset filter); the parts' Content-Type has the charset.
    let r = c.exchange("GET /win/big.html HTTP/1.1\r\nHost: x\r\nRange: bytes=50000-50099\r\n\r\n");
    assert_eq!(r.status(), 206, "{}", r.head);
    assert_eq!(r.header("Content-Range"), Some("bytes 50000-50099/100003"));
    assert_eq!(r.body, &win[50000..50100]);
    let r = c.exchange("GET /win/big.html HTTP/1.1\r\nHost: x\r\nRange: bytes=0-299,-3\r\n\r\n");
    assert_eq!(r.status(), 206, "{}", r.head);
    let ct = r.header("Content-Type").unwrap_or_default();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    assert!(!ct.contains("charset"), "{ct}");
    let body = String::from_utf8_lossy(&r.body);
    assert_eq!(
        body.matches("Content-Type: text/html; charset=windows-1251\r\n")
            .count(),
        2,
        "{body}"
    );
    assert!(common::find(&r.body, &win[..300]).is_some());
    assert!(common::find(&r.body, &win[100_000..]).is_some());
    // To UTF-8 the length is gone, and with it the ranges.
    let r = c.exchange("GET /utf/big.html HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n");
    assert_eq!(r.status(), 200, "{}", r.head);
    assert_eq!(r.body, to_utf8(KOI_UTF, &big));
}

#[test]
fn recoding_then_gzip_decodes_to_the_recoded_bytes() {
    let (s, big) = static_site();
    let mut c = Client::connect(s.addr());
    let r = c.exchange(&gz_get("/gz/big.html"));
    assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{}", r.head);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    r.assert_chunked();
    assert_eq!(gunzip(&r.body), to_utf8(KOI_UTF, &big));
    let r = c.exchange(&gz_get("/gzwin/big.html"));
    assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{}", r.head);
    r.assert_chunked();
    assert_eq!(gunzip(&r.body), eight_bit(KOI_WIN, &big, false));
    // Without gzip: recoded only.
    let r = c.exchange(&get("/gz/all.html"));
    assert_eq!(r.header("Content-Encoding"), None);
    assert_eq!(r.body, to_utf8(KOI_UTF, &bytes(256)));
}

#[test]
fn an_http10_client_gets_the_recoded_body_up_to_the_close() {
    let (s, _) = static_site();
    let all = bytes(256);
    let mut c = Client::connect(s.addr());
    let r = c.exchange("GET /utf/all.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("Content-Length"), None, "{}", r.head);
    assert_eq!(r.header("Transfer-Encoding"), None, "{}", r.head);
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(r.body, to_utf8(KOI_UTF, &all));
    // 8-bit keeps the length, so an HTTP/1.0 keep-alive stays.
    let mut c = Client::connect(s.addr());
    let r = c.exchange("GET /win/all.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("Content-Length"), Some("256"));
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert_eq!(r.body, eight_bit(KOI_WIN, &all, false));
    let r = c.exchange("GET /win/all.html HTTP/1.0\r\n\r\n");
    assert_eq!(r.body, eight_bit(KOI_WIN, &all, false));
}

#[test]
fn a_proxied_utf8_body_split_at_every_offset_is_recoded_whole() {
    let body = "a\u{430}\u{431}€😀z Ёж".as_bytes();
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    let body_at = resp.len();
    resp.extend_from_slice(body);
    let s = site(
        Prefix::new("charset-map-proxy"),
        "    location /p/ {\n        charset koi8-r;\n        override_charset on;\n        \
         proxy_pass http://127.0.0.1:$arg_port;\n    }",
    );
    let want = from_utf8(KOI_UTF, std::str::from_utf8(body).unwrap());
    assert_eq!(want, b"a\xc1\xc2\x80&#128512;z \xb3\xd6");
    let mut c = Client::connect(s.addr());
    // Every offset of the body (each character cut every way) and a few of
    // the head; one client connection for all (keep-alive after each
    // chunked response).
    for at in (1..body_at).step_by(7).chain(body_at..resp.len()) {
        let b = Backend::start(Reply::SplitAt(resp.clone(), at));
        let r = c.exchange(&get(&format!("/p/?port={}", b.addr().port())));
        assert_eq!(r.status(), 200, "split at {at}: {}", r.head);
        assert_eq!(
            r.header("Content-Type"),
            Some("text/html; charset=koi8-r"),
            "split at {at}"
        );
        r.assert_chunked();
        assert_eq!(r.header("Connection"), Some("keep-alive"));
        assert_eq!(r.body, want, "split at {at}");
    }
}

#[test]
fn a_gzip_peer_is_gunzipped_then_recoded_or_passed_as_it_is() {
    let text = TEXT.repeat(50);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\
         Content-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    resp.extend_from_slice(&gz);
    let b = Backend::start(Reply::Raw(resp));
    let s = site(
        Prefix::new("charset-map-gunzip"),
        &format!(
            "    location / {{\n        gunzip on;\n        charset koi8-r;\n        \
             source_charset utf-8;\n        proxy_pass http://{};\n    }}",
            b.addr()
        ),
    );
    let mut c = Client::connect(s.addr());
    let r = c.exchange(&get("/"));
    assert_eq!(r.header("Content-Encoding"), None, "{}", r.head);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=koi8-r"));
    r.assert_chunked();
    assert_eq!(r.body, from_utf8(KOI_UTF, &text));
    // A client that takes gzip gets the peer's body: a coded body is not
    // recoded, and its type is left alone.
    let r = c.exchange(&gz_get("/"));
    assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{}", r.head);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    assert_eq!(r.body, gz);
}

#[test]
fn map_errors_are_reported_at_their_file_and_line() {
    let p = Prefix::new("charset-map-conf");
    p.write("conf/koi-win", KOI_WIN);
    let map_line = KOI_WIN
        .lines()
        .position(|l| l.starts_with("charset_map"))
        .unwrap()
        + 1;
    let conf_dir = p.path().join("conf");
    // The same map twice: the second one, in the included file.
    let file = p.write_conf(&common::conf(
        WORKER_CONNECTIONS,
        &format!(
            "    charset_map windows-1251 koi8-r {{ }}\n    include koi-win;\n{}",
            server_block("")
        ),
    ));
    let out = test_config(&p, &file, WITHIN);
    assert_ne!(out.code, Some(0));
    let want = format!(
        "duplicate \"charset_map\" between \"koi8-r\" and \"windows-1251\" in {}:{map_line}",
        conf_dir.join("koi-win").display()
    );
    assert!(out.stderr.contains(&want), "{want}\n{}", out.stderr);
    // A bad line inside a map.
    let file = p.write_conf(&common::conf(
        WORKER_CONNECTIONS,
        &format!(
            "    charset_map koi8-r utf-8 {{\n        C1 D0B0;\n        C2 D0;\n    }}\n{}",
            server_block("")
        ),
    ));
    let out = test_config(&p, &file, WITHIN);
    assert_ne!(out.code, Some(0));
    // The http body starts on line 7 of the standard configuration.
    let want = format!("invalid value \"D0\" in {}:9", file.display());
    assert!(out.stderr.contains(&want), "{want}\n{}", out.stderr);
    // The three maps nginx ships parse, and a recoding finds them either
    // way round.
    p.write("conf/koi-utf", KOI_UTF);
    p.write("conf/win-utf", WIN_UTF);
    let file = p.write_conf(&common::conf(
        WORKER_CONNECTIONS,
        &format!(
            "    include koi-win;\n    include koi-utf;\n    include win-utf;\n{}",
            server_block("    charset koi8-r;\n    source_charset windows-1251;")
        ),
    ));
    let out = test_config(&p, &file, WITHIN);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}
