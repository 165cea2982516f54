//! Directory listings: nginx's `ngx_http_autoindex_module.c`.
//!
//! ```text
//! static_handler ── URI ends in `/` ── index_handler ── no index file ──┬─ autoindex on, GET/HEAD → autoindex_handler
//!                                                                      └─ else: 403 "directory index of … is forbidden"
//! autoindex_handler: jsonp_callback → opendir → HEAD: header only
//!                    → read_entries (hidden names skipped, each stat()ed) → sort (directories first, then by bytes)
//!                    → autoindex_html | autoindex_json | autoindex_xml → send_header → output_filter
//! ```
//!
//! Where holdfast differs from nginx (see docs/nginx-map.md):
//! * the listing is rendered before the header goes out, so it carries a
//!   `Content-Length` and the connection stays alive; nginx sends the header
//!   first and the body chunked (or until close for HTTP/1.0). A HEAD gets
//!   the header without the directory being read, and without a length, as
//!   from nginx;
//! * a rendered listing past [`AUTOINDEX_MEMORY_MAX`] goes on, in pieces of
//!   that size, to an unlinked temp file under the location's
//!   `client_body_temp_path` and is sent from there (sendfile); nginx builds
//!   the whole listing in one memory buffer;
//! * the names wait for the sort in one byte arena with a 32-byte index
//!   entry each, where nginx makes a pool allocation per name.

use std::ffi::{CStr, CString};
use std::io::{self, Write};

use crate::conf::LocConf;
use crate::conf::http_autoindex::{AutoindexConf, AutoindexFormat};
use crate::core::cycle::Cycle;
use crate::core::file::{TempFile, TempPath, create_temp_file};
use crate::http::request::{Finalize, client_info, http_crit, http_error, http_log};
use crate::http::response::{self, ResponseHead};
use crate::os::dir::{Dir, DirEntryInfo};
use crate::os::io::{OsErr, Transport};

/// nginx's NGX_HTTP_AUTOINDEX_NAME_LEN: the html listing's name column, in
/// characters (bytes unless the response's charset is UTF-8).
pub const AUTOINDEX_NAME_LEN: usize = 50;

/// A rendered listing longer than this is written to a temp file rather
/// than kept in memory (nginx keeps it all in memory).
pub const AUTOINDEX_MEMORY_MAX: usize = 64 * 1024;

/// The longest `callback` argument ngx_http_autoindex_jsonp_callback() takes.
pub const AUTOINDEX_CALLBACK_MAX: usize = 128;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Mirrors ngx_http_autoindex_handler() for a directory whose index file
/// was not found (`path` is its mapped path, trailing `/` included): the
/// listing in the location's `autoindex_format`. index_handler calls it
/// for GET and HEAD with `autoindex on` only, which is what nginx's handler
/// does not decline.
pub fn autoindex_handler<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    loc: &LocConf,
    path: &[u8],
) -> Finalize {
    let number = cy.conns[key].number;
    let dir_path = match path {
        [rest @ .., b'/'] if path.len() > 1 => rest,
        _ => path,
    };
    log::debug!("*{number} http autoindex: \"{}\"", lossy(dir_path));
    let mut format = loc.autoindex.format;
    let mut callback = Vec::new();
    if format == AutoindexFormat::Jsonp {
        match jsonp_callback(cy, key) {
            Some(cb) => callback = cb,
            None => return Finalize::Status(400),
        }
        if callback.is_empty() {
            format = AutoindexFormat::Json;
        }
    }
    // A path is a C string to the system; one with a NUL names nothing.
    let Ok(c_path) = CString::new(dir_path) else {
        return Finalize::Status(404);
    };
    let mut dir = match Dir::open(&c_path) {
        Ok(d) => d,
        Err(e) => return open_dir_failed(cy, key, dir_path, &e),
    };
    let content_type: &[u8] = match format {
        AutoindexFormat::Html => b"text/html",
        AutoindexFormat::Json => b"application/json",
        AutoindexFormat::Jsonp => b"application/javascript",
        AutoindexFormat::Xml => b"text/xml; charset=utf-8",
    };
    let Some(r) = cy.conns[key].req_mut() else {
        return Finalize::Close;
    };
    // The listing's type is set, not defaulted: a peer's Content-Type kept
    // across an X-Accel-Redirect does not win over it.
    r.content_type_out = None;
    let (header_only, uri) = (r.header_only, r.uri.clone());
    let mut head = ResponseHead {
        status: 200,
        content_type: Some(content_type),
        ..Default::default()
    };
    if header_only {
        cy.conns[key].action = crate::core::connection::Action::SendingResponse;
        response::send_header(cy, key, &head);
        close_dir(cy, key, dir, dir_path);
        return Finalize::Done;
    }
    let entries = read_entries(cy, key, &mut dir, dir_path);
    close_dir(cy, key, dir, dir_path);
    let Some(mut entries) = entries else {
        return Finalize::Close;
    };
    entries.sort();
    let mut sink = Sink::new(Some(&loc.client_body.temp_path));
    match format {
        AutoindexFormat::Html => {
            let gmtoff = if loc.autoindex.localtime {
                crate::core::time::local_gmtoff(cy.clock.unix_secs)
            } else {
                0
            };
            let utf8 = charset_is_utf8(cy, key);
            autoindex_html(&mut sink, &uri, &entries, &loc.autoindex, utf8, gmtoff);
        }
        AutoindexFormat::Json => autoindex_json(&mut sink, &entries, None),
        AutoindexFormat::Jsonp => autoindex_json(&mut sink, &entries, Some(&callback)),
        AutoindexFormat::Xml => autoindex_xml(&mut sink, &entries),
    }
    drop(entries);
    let body = match sink.finish() {
        Ok(b) => b,
        Err(e) => {
            http_crit!(cy, key, "{e}");
            return Finalize::Status(500);
        }
    };
    head.content_length = Some(body.len());
    cy.conns[key].action = crate::core::connection::Action::SendingResponse;
    response::send_header(cy, key, &head);
    output_filter(cy, key, body)
}

/// The opendir() failure of ngx_http_autoindex_handler(): 404 for a name
/// that is not there, 403 when not permitted, 500 (and `[crit]`) otherwise.
fn open_dir_failed<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    dir_path: &[u8],
    e: &io::Error,
) -> Finalize {
    let shown = lossy(dir_path);
    let (status, crit) = match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => (404, false),
        Some(libc::EACCES) => (403, false),
        _ => (500, true),
    };
    if crit {
        http_crit!(cy, key, "opendir() \"{shown}\" failed ({})", OsErr(e));
    } else {
        http_error!(cy, key, "opendir() \"{shown}\" failed ({})", OsErr(e));
    }
    Finalize::Status(status)
}

/// ngx_close_dir() as the handler calls it: a failure is an `[alert]`.
fn close_dir<S: Transport>(cy: &mut Cycle<S>, key: usize, dir: Dir, dir_path: &[u8]) {
    if let Err(e) = dir.close() {
        let shown = lossy(dir_path);
        http_log!(
            log::Level::Error,
            "holdfast::alert",
            cy,
            key,
            "closedir() \"{shown}\" failed ({})",
            OsErr(&e)
        );
    }
}

/// Mirrors ngx_http_autoindex_jsonp_callback(): the `callback` argument
/// (empty when there is none), or None (answered 400) for one longer than
/// [`AUTOINDEX_CALLBACK_MAX`] or with a byte other than letters, digits,
/// `_` and `.`.
fn jsonp_callback<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Option<Vec<u8>> {
    let c = &cy.conns[key];
    let r = c.req()?;
    let head = c.buf().map(|b| b.data()).unwrap_or_default();
    let Some(cb) = r
        .args(head)
        .and_then(|a| crate::http::variables::arg(a, b"callback"))
    else {
        return Some(Vec::new());
    };
    let cb = cb.to_vec();
    if cb.len() > AUTOINDEX_CALLBACK_MAX {
        client_info!(
            cy,
            key,
            "client sent too long callback name: \"{}\"",
            lossy(&cb)
        );
        return None;
    }
    if !cb
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        client_info!(
            cy,
            key,
            "client sent invalid callback name: \"{}\"",
            lossy(&cb)
        );
        return None;
    }
    Some(cb)
}

/// Whether the html listing measures names in UTF-8 characters: nginx's
/// test of `r->headers_out.charset` being `utf-8`, which the charset
/// filter sets while the header is sent (`charset utf-8`, text/html in
/// `charset_types`). holdfast renders before the header, so the charset
/// filter is asked here, for the listing's type, from the location.
fn charset_is_utf8<S: Transport>(cy: &Cycle<S>, key: usize) -> bool {
    crate::http::charset_filter::charset_header_filter(cy, key, 200, b"text/html", None, false)
        .and_then(|o| o.charset)
        .is_some_and(|n| n.as_bytes().eq_ignore_ascii_case(b"utf-8"))
}

/// One listed name (nginx's ngx_http_autoindex_entry_t; the name itself is
/// `names[name..name + len]` of [`Entries`]).
#[derive(Debug, Clone, Copy)]
struct Entry {
    name: u32,
    len: u32,
    dir: bool,
    file: bool,
    mtime: i64,
    size: i64,
}

/// The listed names: one byte arena and a small index to sort.
#[derive(Debug, Default)]
struct Entries {
    names: Vec<u8>,
    list: Vec<Entry>,
}

impl Entries {
    /// Adds a name; false when the arena would pass 4 GiB.
    fn push(&mut self, name: &[u8], info: DirEntryInfo) -> bool {
        let (Ok(at), Ok(len)) = (u32::try_from(self.names.len()), u32::try_from(name.len())) else {
            return false;
        };
        if at.checked_add(len).is_none() {
            return false;
        }
        self.names.extend_from_slice(name);
        self.list.push(Entry {
            name: at,
            len,
            dir: info.is_dir,
            file: info.is_file,
            mtime: info.mtime,
            size: info.size,
        });
        true
    }

    fn name(&self, e: &Entry) -> &[u8] {
        let at = e.name as usize;
        &self.names[at..at + e.len as usize]
    }

    /// Mirrors ngx_http_autoindex_cmp_entries(): directories first, then
    /// by name, byte by byte (strcmp).
    fn sort(&mut self) {
        let names = &self.names;
        let name = |e: &Entry| &names[e.name as usize..(e.name + e.len) as usize];
        self.list
            .sort_unstable_by(|a, b| b.dir.cmp(&a.dir).then_with(|| name(a).cmp(name(b))));
    }
}

/// The read loop of ngx_http_autoindex_handler(): every name but the
/// hidden ones (and `.`, `..`), stat()ed through symbolic links (a dangling
/// link or a loop lstat()ed instead). An entry that may not be stat()ed is
/// left out with a `[crit]`; any other failure ends the listing (None: the
/// connection is closed, as nginx's NGX_ERROR).
fn read_entries<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    dir: &mut Dir,
    dir_path: &[u8],
) -> Option<Entries> {
    let number = cy.conns[key].number;
    let mut entries = Entries::default();
    let mut name = Vec::with_capacity(256);
    loop {
        match dir.read(&mut name) {
            Ok(true) => {}
            Ok(false) => return Some(entries),
            Err(e) => {
                let shown = lossy(dir_path);
                http_crit!(cy, key, "readdir() \"{shown}\" failed ({})", OsErr(&e));
                return None;
            }
        }
        let c_name = CStr::from_bytes_with_nul(&name).ok()?;
        let bytes = c_name.to_bytes();
        log::debug!("*{number} http autoindex file: \"{}\"", lossy(bytes));
        if bytes.first() == Some(&b'.') {
            continue;
        }
        let info = match dir.info(c_name, true) {
            Ok(i) => i,
            Err(e) if !matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => {
                let shown = format!("{}/{}", lossy(dir_path), lossy(bytes));
                http_crit!(cy, key, "stat() \"{shown}\" failed ({})", OsErr(&e));
                if e.raw_os_error() == Some(libc::EACCES) {
                    continue;
                }
                return None;
            }
            Err(_) => match dir.info(c_name, false) {
                Ok(i) => i,
                Err(e) => {
                    let shown = format!("{}/{}", lossy(dir_path), lossy(bytes));
                    http_crit!(cy, key, "lstat() \"{shown}\" failed ({})", OsErr(&e));
                    return None;
                }
            },
        };
        if !entries.push(bytes, info) {
            http_crit!(cy, key, "too many names in \"{}\"", lossy(dir_path));
            return None;
        }
    }
}

/// A rendered listing, as it is handed on.
#[derive(Debug)]
enum Listing {
    /// Small: in memory.
    Mem(Vec<u8>),
    /// Past [`AUTOINDEX_MEMORY_MAX`]: an unlinked temp file.
    File(TempFile),
}

impl Listing {
    fn len(&self) -> u64 {
        match self {
            Listing::Mem(b) => b.len() as u64,
            Listing::File(f) => f.len,
        }
    }
}

/// Mirrors the ngx_http_output_filter() call that ends
/// ngx_http_autoindex_handler(): queues the listing after the header, from
/// memory or as a file region (sent with sendfile). Every listing's body
/// passes here and only here: into the gzip filter's input when the header
/// filter chose to compress (`gzip on` and a matching `gzip_types`), else
/// straight to the connection's output.
fn output_filter<S: Transport>(cy: &mut Cycle<S>, key: usize, body: Listing) -> Finalize {
    let Some(hc) = cy.conns[key].hc_mut() else {
        return Finalize::Close;
    };
    let len = body.len();
    let out = crate::http::gzip_filter::body_chain(hc);
    match body {
        Listing::Mem(b) => out.mem.extend_from_slice(&b),
        Listing::File(f) => out.push_file(f.file.clone(), 0, f.len),
    }
    if let Some(r) = hc.request.as_deref_mut() {
        r.body_bytes += len;
    }
    Finalize::Done
}

/// Where a listing is rendered (nginx: one ngx_create_temp_buf of the
/// computed size): memory, moved on to an unlinked temp file each time it
/// passes [`AUTOINDEX_MEMORY_MAX`] (never without a `temp_path`).
struct Sink<'a> {
    buf: Vec<u8>,
    file: Option<TempFile>,
    temp_path: Option<&'a TempPath>,
    error: Option<io::Error>,
}

impl<'a> Sink<'a> {
    fn new(temp_path: Option<&'a TempPath>) -> Sink<'a> {
        Sink {
            buf: Vec::new(),
            file: None,
            temp_path,
            error: None,
        }
    }

    /// Called after each entry: a full buffer goes to the temp file (after
    /// a failure it is dropped, the listing being lost anyway).
    fn flush_if_full(&mut self) {
        if self.buf.len() < AUTOINDEX_MEMORY_MAX {
            return;
        }
        let Some(path) = self.temp_path else {
            return;
        };
        if self.error.is_none()
            && let Err(e) = self.write_out(path)
        {
            self.error = Some(e);
        }
        self.buf.clear();
    }

    fn write_out(&mut self, path: &TempPath) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(create_temp_file(path, true)?);
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        f.write(&self.buf).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("pwrite() \"{}\" failed ({})", f.name.display(), OsErr(&e)),
            )
        })
    }

    /// The listing: the buffer, or the temp file with the buffer's rest.
    fn finish(mut self) -> io::Result<Listing> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let (Some(path), true) = (self.temp_path, self.file.is_some()) {
            self.write_out(path)?;
        }
        Ok(match self.file.take() {
            Some(f) => Listing::File(f),
            None => Listing::Mem(std::mem::take(&mut self.buf)),
        })
    }
}

/// Mirrors ngx_http_autoindex_html(): the `<pre>` listing, each name
/// linked (URI-component escaped), shown HTML-escaped and cut to
/// [`AUTOINDEX_NAME_LEN`] with `..>`, then the date and the size.
fn autoindex_html(
    s: &mut Sink<'_>,
    uri: &[u8],
    entries: &Entries,
    conf: &AutoindexConf,
    utf8: bool,
    gmtoff: i64,
) {
    let b = &mut s.buf;
    b.extend_from_slice(b"<html>\r\n<head><title>Index of ");
    escape_html(uri, b);
    b.extend_from_slice(b"</title></head>\r\n<body>\r\n<h1>Index of ");
    escape_html(uri, b);
    b.extend_from_slice(b"</h1><hr><pre><a href=\"../\">../</a>\r\n");
    for e in &entries.list {
        html_entry(&mut s.buf, entries.name(e), e, conf, utf8, gmtoff);
        s.flush_if_full();
    }
    s.buf.extend_from_slice(b"</pre><hr></body>\r\n</html>\r\n");
}

/// One line of the html listing.
fn html_entry(
    b: &mut Vec<u8>,
    name: &[u8],
    e: &Entry,
    conf: &AutoindexConf,
    utf8: bool,
    gmtoff: i64,
) {
    b.extend_from_slice(b"<a href=\"");
    crate::http::parse::escape_where(name, b, |c| {
        !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'))
    });
    if e.dir {
        b.push(b'/');
    }
    b.extend_from_slice(b"\">");
    let len = if utf8 { utf8_length(name) } else { name.len() };
    let cut = len > AUTOINDEX_NAME_LEN;
    // Where `..&gt;` goes when the name is cut.
    let last = if name.len() != len {
        // UTF-8 with multi-byte characters: whole characters are shown.
        let chars = if cut {
            AUTOINDEX_NAME_LEN - 3
        } else {
            AUTOINDEX_NAME_LEN
        };
        escape_html(&name[..utf8_prefix(name, chars)], b);
        b.len()
    } else if name.iter().any(|c| matches!(c, b'<' | b'>' | b'&' | b'"')) {
        let n = if cut { AUTOINDEX_NAME_LEN - 3 } else { len };
        escape_html(&name[..n], b);
        b.len()
    } else {
        b.extend_from_slice(&name[..name.len().min(AUTOINDEX_NAME_LEN)]);
        b.len().saturating_sub(3)
    };
    if cut {
        b.truncate(last);
        b.extend_from_slice(b"..&gt;</a>");
    } else {
        let mut len = len;
        if e.dir && len < AUTOINDEX_NAME_LEN {
            b.push(b'/');
            len += 1;
        }
        b.extend_from_slice(b"</a>");
        b.resize(b.len() + (AUTOINDEX_NAME_LEN - len), b' ');
    }
    b.push(b' ');
    let t = if conf.localtime {
        e.mtime.saturating_add(gmtoff)
    } else {
        e.mtime
    };
    // ngx_gmtime() is meant for times after the epoch.
    let (y, mo, d, h, mi, _, _) = crate::core::time::utc_parts(t.max(0) as u64);
    let _ = write!(
        b,
        "{d:02}-{}-{y} {h:02}:{mi:02} ",
        MONTHS[(mo - 1) as usize]
    );
    if conf.exact_size {
        if e.dir {
            b.extend_from_slice(b"                  -");
        } else {
            let _ = write!(b, "{:19}", e.size);
        }
    } else if e.dir {
        b.extend_from_slice(b"      -");
    } else {
        human_size(b, e.size);
    }
    b.extend_from_slice(b"\r\n");
}

/// The `autoindex_exact_size off` column: bytes up to 9999, else K, M or G
/// rounded half up, in six columns plus the letter.
fn human_size(b: &mut Vec<u8>, length: i64) {
    const K: i64 = 1024;
    let scaled = |unit: i64| length / unit + i64::from(length % unit > unit / 2 - 1);
    let (size, scale) = if length > K * K * K - 1 {
        (scaled(K * K * K), Some('G'))
    } else if length > K * K - 1 {
        (scaled(K * K), Some('M'))
    } else if length > 9999 {
        (scaled(K), Some('K'))
    } else {
        (length, None)
    };
    let _ = match scale {
        Some(c) => write!(b, "{size:6}{c}"),
        None => write!(b, " {size:6}"),
    };
}

/// Mirrors ngx_http_autoindex_json(): an array of `{ "name", "type",
/// "mtime" [, "size"] }`, wrapped as `/* callback */\r\nNAME([...]);` for
/// jsonp.
fn autoindex_json(s: &mut Sink<'_>, entries: &Entries, callback: Option<&[u8]>) {
    if let Some(cb) = callback {
        s.buf.extend_from_slice(b"/* callback */\r\n");
        s.buf.extend_from_slice(cb);
        s.buf.push(b'(');
    }
    s.buf.push(b'[');
    for (i, e) in entries.list.iter().enumerate() {
        let b = &mut s.buf;
        // nginx ends each with a comma and strips the last one.
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(b"\r\n{ \"name\":\"");
        crate::http::parse::escape_json(entries.name(e), b);
        b.extend_from_slice(b"\", \"type\":\"");
        b.extend_from_slice(kind(e).as_bytes());
        b.extend_from_slice(b"\", \"mtime\":\"");
        b.extend_from_slice(&crate::core::time::http_date(e.mtime.max(0) as u64));
        if e.file {
            let _ = write!(b, "\", \"size\":{}", e.size);
        } else {
            b.push(b'"');
        }
        b.extend_from_slice(b" }");
        s.flush_if_full();
    }
    s.buf.extend_from_slice(b"\r\n]");
    if callback.is_some() {
        s.buf.extend_from_slice(b");");
    }
}

/// Mirrors ngx_http_autoindex_xml(): `<list>` of `<directory|file|other
/// mtime="..." [size="..."]>NAME</...>`.
fn autoindex_xml(s: &mut Sink<'_>, entries: &Entries) {
    s.buf
        .extend_from_slice(b"<?xml version=\"1.0\"?>\r\n<list>\r\n");
    for e in &entries.list {
        let b = &mut s.buf;
        let kind = kind(e);
        let (y, mo, d, h, mi, sec, _) = crate::core::time::utc_parts(e.mtime.max(0) as u64);
        let _ = write!(
            b,
            "<{kind} mtime=\"{y:4}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z"
        );
        if e.file {
            let _ = write!(b, "\" size=\"{}", e.size);
        }
        b.extend_from_slice(b"\">");
        escape_html(entries.name(e), b);
        let _ = write!(b, "</{kind}>\r\n");
        s.flush_if_full();
    }
    s.buf.extend_from_slice(b"</list>\r\n");
}

/// The entry's type in the json and xml listings.
fn kind(e: &Entry) -> &'static str {
    if e.dir {
        "directory"
    } else if e.file {
        "file"
    } else {
        "other"
    }
}

/// Mirrors ngx_escape_html(): `<`, `>`, `&` and `"` as entities.
fn escape_html(src: &[u8], out: &mut Vec<u8>) {
    for &c in src {
        match c {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(c),
        }
    }
}

/// Mirrors ngx_utf8_decode(): the character starting `p` and its length,
/// or None for an invalid or incomplete sequence (nginx's checks: no
/// overlong forms, nothing past U+10FFFF; a continuation byte is any byte
/// from 0x80 up).
fn utf8_decode(p: &[u8]) -> Option<(u32, usize)> {
    let first = *p.first()?;
    let (mut u, len, least) = match first {
        0xf8.. => return None,
        0xf0.. => (u32::from(first & 0x07), 3, 0x10000),
        0xe0.. => (u32::from(first & 0x0f), 2, 0x800),
        0xc2.. => (u32::from(first & 0x1f), 1, 0x80),
        _ => return None,
    };
    let rest = p.get(1..=len)?;
    for &c in rest {
        if c < 0x80 {
            return None;
        }
        u = (u << 6) | u32::from(c & 0x3f);
    }
    (u >= least && u <= 0x10ffff).then_some((u, len + 1))
}

/// Mirrors ngx_utf8_length(): the number of characters, or the number of
/// bytes when `name` is not valid UTF-8.
fn utf8_length(name: &[u8]) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < name.len() {
        if name[i] < 0x80 {
            i += 1;
        } else {
            match utf8_decode(&name[i..]) {
                Some((_, l)) => i += l,
                None => return name.len(),
            }
        }
        n += 1;
    }
    n
}

/// The bytes of the first `chars` characters of `name` (ngx_utf8_cpystrn's
/// count; it stops at an invalid sequence).
fn utf8_prefix(name: &[u8], chars: usize) -> usize {
    let mut i = 0;
    for _ in 0..chars {
        match name.get(i) {
            None => break,
            Some(&c) if c < 0x80 => i += 1,
            Some(_) => match utf8_decode(&name[i..]) {
                Some((_, l)) => i += l,
                None => break,
            },
        }
    }
    i
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

#[cfg(test)]
#[path = "autoindex_module_tests.rs"]
mod tests;
