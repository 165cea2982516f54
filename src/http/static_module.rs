//! Static files: nginx's `ngx_http_static_module.c` and
//! `ngx_http_index_module.c`.
//!
//! The file is `root` + the decoded, normalised URI (see
//! [`parse_target`](crate::http::parse::parse_target)), so no request can name
//! a file outside the root (symbolic links inside it are followed, as nginx
//! does by default, unless `disable_symlinks` says otherwise: every lookup
//! here goes through [`set_disable_symlinks`]).

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::conf::{Alias, TryFiles, TryLast};
use crate::core::connection::req_in;
use crate::core::cycle::Cycle;
use crate::core::open_file_cache::{OpenError, file_info_wrapper};
use crate::http::core_module::{
    internal_redirect, map_uri_to_path, named_location, root_path, set_disable_symlinks,
};
use crate::http::parse::Method;
use crate::http::request::{Finalize, http_error};
use crate::http::response::{self, ResponseHead};
use crate::http::variables::complex_value;
use crate::os::io::Transport;

/// Files up to this size are copied into the output buffer (one writev with
/// the header), from the open file cache's copy when it has one; larger ones
/// go out with sendfile from the cached descriptor.
pub const SMALL_FILE: u64 = 32 * 1024;

fn errno_text(e: &io::Error) -> crate::os::io::OsErr<'_> {
    crate::os::io::OsErr(e)
}

/// Mirrors ngx_http_index_handler() + ngx_http_static_handler(): a URI
/// ending in `/` is a directory, answered by the first index file that
/// exists (an internal redirect, so the location is searched again);
/// anything else is a file.
pub fn static_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let Some(r) = cy.conns[key].req() else {
        return Finalize::Close;
    };
    let Some(loc) = r.loc.clone() else {
        return Finalize::Close;
    };
    if !matches!(r.method, Method::Get | Method::Head | Method::Post) {
        return Finalize::Status(405);
    }
    let dir = r.uri.ends_with(b"/");
    let mut path = match cy.conns[key].req_mut() {
        Some(r) => std::mem::take(&mut r.scratch),
        None => return Finalize::Close,
    };
    let mapped = map_uri_to_path(cy, key, &mut path).is_some();
    if !dir && mapped {
        if let Some(r) = cy.conns[key].req_mut() {
            r.scratch = path;
        }
        return serve_file(cy, key);
    }
    let rc = if mapped {
        index_handler(cy, key, &loc, &mut path)
    } else {
        Finalize::Status(500)
    };
    // The buffer goes back (the redirect may have used a scratch of its own).
    if let Some(r) = cy.conns[key].req_mut()
        && r.scratch.capacity() == 0
    {
        path.clear();
        r.scratch = path;
    }
    rc
}

/// Mirrors ngx_http_index_handler() for a URI ending in `/`: `path` is the
/// directory's.
fn index_handler<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    loc: &crate::conf::LocConf,
    path: &mut Vec<u8>,
) -> Finalize {
    let now = cy.clock.now_ms;
    {
        let base = path.len();
        let mut value = Vec::new();
        for index in &loc.index {
            let name: &[u8] = match &index.vars {
                None => index.name.as_bytes(),
                Some(segs) => {
                    value.clear();
                    complex_value(cy, key, segs, &mut value);
                    &value
                }
            };
            if name.starts_with(b"/") {
                return internal_redirect(cy, key, name.to_vec(), None);
            }
            path.truncate(base);
            path.extend_from_slice(name);
            log::debug!(
                "*{} open index \"{}\"",
                cy.conns[key].number,
                String::from_utf8_lossy(path)
            );
            let of = set_disable_symlinks(cy, key, loc, path);
            match cy
                .open_files
                .open(path, now, loc.open_file_cache.as_deref(), of)
            {
                Ok(e) if !e.is_dir => {
                    let Some(r) = cy.conns[key].req() else {
                        return Finalize::Close;
                    };
                    let mut uri = r.uri.clone();
                    uri.extend_from_slice(name);
                    return internal_redirect(cy, key, uri, None);
                }
                Ok(_) => {}
                Err(e) => {
                    if let Some(rc) = index_error(cy, key, loc, path, e) {
                        return rc;
                    }
                }
            }
        }
        path.truncate(base);
        let shown = String::from_utf8_lossy(path).into_owned();
        let of = set_disable_symlinks(cy, key, loc, path);
        let found = cy
            .open_files
            .open(path, now, loc.open_file_cache.as_deref(), of)
            .map(|e| e.is_dir);
        let is_dir = match &found {
            Ok(is_dir) => *is_dir,
            // ngx_http_index_test_dir() stat()s: a directory the worker may
            // not read is a directory too (a listing's opendir() then fails).
            Err(e) => e.kind() == io::ErrorKind::PermissionDenied,
        };
        match found {
            _ if is_dir && autoindex_applies(cy, key, loc) => {
                crate::http::autoindex_module::autoindex_handler(cy, key, loc, path)
            }
            _ if is_dir => {
                http_error!(cy, key, "directory index of \"{shown}\" is forbidden");
                Finalize::Status(403)
            }
            Ok(_) => Finalize::Status(404),
            // ngx_http_index_test_dir: a link where none may be.
            Err(e) if matches!(e.errno, libc::ELOOP | libc::EMLINK) => Finalize::Status(403),
            Err(e) => {
                if loc.log_not_found {
                    http_error!(cy, key, "\"{shown}\" is not found ({e})");
                }
                Finalize::Status(404)
            }
        }
    }
}

/// How ngx_http_index_handler() takes an index that could not be opened:
/// None to try the next (it does not exist), else the answer: 403 for a
/// link `disable_symlinks` refuses (no log line beyond debug, as nginx) or
/// an index the worker may not read, 404 when the directory is no
/// directory, 500 for anything else.
fn index_error<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    loc: &crate::conf::LocConf,
    path: &[u8],
    e: OpenError,
) -> Option<Finalize> {
    let shown = String::from_utf8_lossy(path).into_owned();
    log::debug!(
        "*{} {} \"{shown}\" failed ({e})",
        cy.conns[key].number,
        e.failed
    );
    Some(match e.errno {
        libc::ENOENT => return None,
        libc::ELOOP | libc::EMLINK => Finalize::Status(403),
        libc::EACCES => {
            http_error!(cy, key, "\"{shown}\" is forbidden ({e})");
            Finalize::Status(403)
        }
        libc::ENOTDIR | libc::ENAMETOOLONG => {
            if loc.log_not_found {
                http_error!(cy, key, "\"{shown}\" is not found ({e})");
            }
            Finalize::Status(404)
        }
        _ => {
            crate::http::request::http_crit!(cy, key, "{} \"{shown}\" failed ({e})", e.failed);
            Finalize::Status(500)
        }
    })
}

/// ngx_http_autoindex_handler() answers (rather than declining): `autoindex
/// on`, GET or HEAD.
fn autoindex_applies<S: Transport>(cy: &Cycle<S>, key: usize, loc: &crate::conf::LocConf) -> bool {
    loc.autoindex.enable
        && cy.conns[key]
            .req()
            .is_some_and(|r| matches!(r.method, Method::Get | Method::Head))
}

/// The file tests of ngx_http_core_try_files_phase(): the first candidate
/// that exists (a directory for a name written with a trailing `/`) becomes
/// the URI and the request goes on to the content phase (None); when none
/// does, the last argument answers: `=CODE`, a named location, or an
/// internal redirect.
pub fn try_files<S: Transport>(cy: &mut Cycle<S>, key: usize, tf: &TryFiles) -> Option<Finalize> {
    let number = cy.conns[key].number;
    let loc = cy.conns[key].req()?.loc.clone()?;
    for file in &tf.files {
        let mut name = Vec::new();
        complex_value(cy, key, &file.name, &mut name);
        let r = cy.conns[key].req()?;
        let part = match loc.alias {
            Alias::Prefix(n) if name.starts_with(r.uri.get(..n).unwrap_or_default()) => &name[n..],
            _ => &name[..],
        };
        let mut path = Vec::new();
        root_path(cy, key, &mut path)?;
        if loc.alias == Alias::Root && path.ends_with(b"/") {
            path.pop();
        }
        path.extend_from_slice(part);
        log::debug!(
            "*{number} trying to use {}: \"{}\" \"{}\"",
            if file.test_dir { "dir" } else { "file" },
            String::from_utf8_lossy(&name),
            String::from_utf8_lossy(&path)
        );
        let of = set_disable_symlinks(cy, key, &loc, &path);
        let is_dir = match file_info_wrapper(&path, of) {
            Ok(m) => m.is_dir(),
            Err(e) => {
                let quiet = matches!(e.errno, libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG);
                if !quiet {
                    let shown = String::from_utf8_lossy(&path).into_owned();
                    crate::http::request::http_crit!(
                        cy,
                        key,
                        "{} \"{shown}\" failed ({e})",
                        e.failed
                    );
                }
                continue;
            }
        };
        if is_dir != file.test_dir {
            continue;
        }
        let r = cy.conns[key].req_mut()?;
        match loc.alias {
            Alias::Root => r.uri = name,
            Alias::Regex => {
                if !file.test_dir {
                    r.uri = name;
                    r.add_uri_to_alias = true;
                }
            }
            Alias::Prefix(n) => {
                // The URI's own first bytes (the prefix of the location the
                // alias was written in, maybe an outer one).
                let mut uri = r.uri.get(..n).unwrap_or_default().to_vec();
                uri.extend_from_slice(part);
                r.uri = uri;
            }
        }
        log::debug!(
            "*{number} try file uri: \"{}\"",
            String::from_utf8_lossy(&r.uri)
        );
        return None;
    }
    Some(match &tf.last {
        TryLast::Code(code) => Finalize::Status(*code),
        TryLast::Uri(segs) => {
            let mut uri = Vec::new();
            complex_value(cy, key, segs, &mut uri);
            if uri.starts_with(b"@") {
                named_location(cy, key, &uri)
            } else {
                let (uri, args) = split_args(uri);
                internal_redirect(cy, key, uri, args)
            }
        }
    })
}

/// Mirrors ngx_http_split_args(): `URI?ARGS` into the two parts; without
/// a `?` the arguments are empty (the request's are not kept: hence the
/// `/index.php?$args` idiom).
pub fn split_args(mut uri: Vec<u8>) -> (Vec<u8>, Option<Vec<u8>>) {
    match uri.iter().position(|&b| b == b'?') {
        Some(q) => {
            let args = uri[q + 1..].to_vec();
            uri.truncate(q);
            (uri, Some(args))
        }
        None => (uri, Some(Vec::new())),
    }
}

/// Opens the file in the request's scratch path and queues the response.
fn serve_file<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let of = match cy.conns[key].req() {
        Some(r) => match &r.loc {
            Some(loc) => set_disable_symlinks(cy, key, loc, &r.scratch),
            None => Default::default(),
        },
        None => return Finalize::Close,
    };
    let c = &mut cy.conns[key];
    let Some(r) = req_in(&mut c.data) else {
        return Finalize::Close;
    };
    // gzip_static / brotli_static may answer with a precompressed file.
    let mut scratch = std::mem::take(&mut r.scratch);
    let encoding = crate::http::gzip_static_module::precompressed(cy, key, &mut scratch);
    let Some(r) = cy.conns[key].req_mut() else {
        return Finalize::Close;
    };
    r.scratch = scratch;
    let path = Path::new(std::ffi::OsStr::from_bytes(&r.scratch));
    let ofc = r.loc.as_ref().and_then(|l| l.open_file_cache.clone());
    let f = match cy
        .open_files
        .open(&r.scratch, cy.clock.now_ms, ofc.as_deref(), of)
    {
        Ok(e) => (e.file, e.size, e.mtime, e.is_dir, e.is_file, e.content),
        Err(e) => {
            // ngx_http_static_handler: a link disable_symlinks refuses is
            // 403, as an unreadable file.
            let status = match e.errno {
                libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG => 404,
                libc::EACCES | libc::ELOOP | libc::EMLINK => 403,
                _ => 500,
            };
            let shown = path.display().to_string();
            if status != 404 || r.loc.as_ref().is_none_or(|l| l.log_not_found) {
                let level = if status == 500 {
                    "holdfast::crit"
                } else {
                    "holdfast"
                };
                crate::http::request::http_log!(
                    log::Level::Error,
                    level,
                    cy,
                    key,
                    "{} \"{shown}\" failed ({e})",
                    e.failed
                );
            }
            return Finalize::Status(status);
        }
    };
    let (file, size, mtime, is_dir, is_file, content) = f;
    if is_dir {
        // A directory without the trailing slash: redirect to the slash form.
        // ngx_http_static_handler escapes the decoded URI for Location.
        let c = &cy.conns[key];
        let Some(r) = c.req() else {
            return Finalize::Close;
        };
        let mut loc = Vec::with_capacity(r.uri.len() + 1);
        crate::http::parse::escape_uri(&r.uri, &mut loc);
        loc.push(b'/');
        let head = c.buf().map(|b| b.data()).unwrap_or_default();
        if let Some(a) = r.args(head) {
            loc.push(b'?');
            loc.extend_from_slice(a);
        }
        response::set_location(cy, key, &loc);
        return Finalize::Status(301);
    }
    if !is_file {
        return Finalize::Status(404);
    }
    if r.method == Method::Post {
        return Finalize::Status(405);
    }
    let loc = r.loc.clone();
    let ext = extension(&r.uri);
    let ctype = loc.as_ref().map(|l| {
        match ext
            .and_then(|e| std::str::from_utf8(e).ok())
            .and_then(|e| l.types.lookup(e))
        {
            Some(t) => t.clone(),
            None => l.default_type.clone(),
        }
    });
    let etag = loc
        .as_ref()
        .is_none_or(|l| l.etag)
        .then(|| response::make_etag(mtime, size));
    let mut head = ResponseHead {
        status: 200,
        content_type: ctype.as_deref().map(str::as_bytes),
        content_length: Some(size),
        last_modified: Some(mtime),
        etag: etag.as_ref().map(response::Etag::as_bytes),
        accept_ranges: true,
        content_encoding: encoding,
        charset: None,
    };
    // add_header Last-Modified replaces the file's time for the filters
    // too (nginx's headers filter sets last_modified_time before them).
    let mtime_seen = added_last_modified(cy, key).unwrap_or(Some(mtime));
    // ngx_http_not_modified_header_filter: the client's copy may be
    // current (304) or its precondition false (412).
    use crate::http::not_modified_filter::{Precondition, not_modified_filter};
    match not_modified_filter(
        cy,
        key,
        Some(mtime),
        etag.as_ref().map(response::Etag::as_bytes),
    ) {
        Precondition::Pass => {}
        Precondition::Failed => return Finalize::Status(412),
        Precondition::NotModified => {
            head.status = 304;
            if let Some(r) = cy.conns[key].req_mut() {
                r.header_only = true;
            }
        }
    }
    // ngx_http_range_header_filter: a 200 may become a 206 or a 416.
    // The parts to send and the multipart boundary (empty for one part).
    let mut parts: Option<(Vec<ByteRange>, Vec<u8>)> = None;
    let mut multipart_type = Vec::new();
    // The charset, gzip and gunzip header filters run before the range
    // filter: a coded response, or one recoded to or from UTF-8, has no
    // length left to take ranges of.
    // (With the status an error page answers with, as send_header.)
    let status_now = cy.conns[key]
        .req()
        .map_or(head.status, |r| match r.err_status {
            0 => head.status,
            s => s,
        });
    let charset = crate::http::charset_filter::response_charset(cy, key, status_now, &head);
    let recode = charset.as_ref().and_then(|c| c.recode.clone());
    let coded = head.status == 200
        && crate::http::gzip_filter::header_filter(
            cy,
            key,
            &crate::http::gzip_filter::HeadInfo {
                status: 200,
                content_type: head.content_type,
                content_length: head.content_length,
                content_encoding: head.content_encoding,
                resp: crate::http::gzip_filter::RespHeaders {
                    last_modified: true,
                    etag: head.etag.is_some(),
                    ..Default::default()
                },
                recode: recode.as_ref(),
            },
        ) != crate::http::gzip_filter::Coding::Identity;
    let cleared = coded || recode.as_ref().is_some_and(|r| !r.keeps_length());
    // The parts' Content-Type of a multipart response.
    let mut part_type = Vec::new();
    if head.status == 200 && !cleared {
        use crate::http::range_filter::{Ranges, range_filter};
        let etag_bytes = etag.as_ref().map(response::Etag::as_bytes);
        match range_filter(cy, key, size, mtime_seen, etag_bytes) {
            Ranges::Full => {}
            Ranges::Unsatisfiable => {
                if let Some(r) = cy.conns[key].req_mut() {
                    r.headers_out
                        .extend_from_slice(format!("Content-Range: bytes */{size}\r\n").as_bytes());
                }
                return Finalize::Status(416);
            }
            Ranges::Parts(p) if p.len() == 1 => {
                let (s, e) = p[0];
                head.status = 206;
                head.content_length = Some(e - s);
                if let Some(r) = cy.conns[key].req_mut() {
                    r.headers_out.extend_from_slice(
                        format!("Content-Range: bytes {s}-{}/{size}\r\n", e - 1).as_bytes(),
                    );
                }
                parts = Some((p, Vec::new()));
            }
            Ranges::Parts(p) => {
                // ngx_http_range_multipart_header: a boundary of ten digits.
                let boundary =
                    format!("{:010}", crate::core::file::next_temp_number()).into_bytes();
                // With the charset (ngx_http_range_multipart_header).
                crate::http::charset_filter::write_content_type(
                    &mut part_type,
                    head.content_type.unwrap_or(b"application/octet-stream"),
                    charset.as_ref(),
                );
                let mut len = 0u64;
                for &(s, e) in &p {
                    len += crate::http::range_filter::part_head(&boundary, &part_type, (s, e), size)
                        .len() as u64
                        + (e - s);
                }
                len += crate::http::range_filter::multipart_end(&boundary).len() as u64;
                multipart_type.extend_from_slice(b"multipart/byteranges; boundary=");
                multipart_type.extend_from_slice(&boundary);
                head.status = 206;
                head.content_length = Some(len);
                parts = Some((p, boundary));
            }
        }
    }
    if !multipart_type.is_empty() {
        head.content_type = Some(&multipart_type);
    }
    head.charset = Some(if multipart_type.is_empty() {
        charset
    } else {
        // The whole response's type has no charset (the range filter
        // clears it); a recoding stays.
        recode.map(|recode| crate::http::charset_filter::ContentTypeOut {
            keep: multipart_type.len(),
            charset: None,
            recode: Some(recode),
        })
    });
    let Some(r) = cy.conns[key].req() else {
        return Finalize::Close;
    };
    let header_only = r.header_only;
    // ngx_http_static_handler: the file is open; what follows is sending it.
    cy.conns[key].action = crate::core::connection::Action::SendingResponse;
    response::send_header(cy, key, &head);
    if header_only || size == 0 {
        return Finalize::Done;
    }
    if let Some((p, boundary)) = parts {
        return send_parts(cy, key, &p, &boundary, &part_type, size, content, file);
    }
    let Some(hc) = cy.conns[key].hc_mut() else {
        return Finalize::Close;
    };
    if let Some(r) = hc.request.as_deref_mut() {
        r.body_bytes += size;
    }
    let out = crate::http::gzip_filter::body_chain(hc);
    if let Some(bytes) = content {
        out.mem.extend_from_slice(&bytes);
        return Finalize::Done;
    }
    if size <= SMALL_FILE {
        let start = out.mem.len();
        out.mem.resize(start + size as usize, 0);
        match file.read_exact_at(&mut out.mem[start..], 0) {
            Ok(()) => Finalize::Done,
            Err(e) => {
                http_error!(cy, key, "pread() failed ({})", errno_text(&e));
                Finalize::Close
            }
        }
    } else {
        out.push_file(file, 0, size);
        Finalize::Done
    }
}

/// The Last-Modified time an `add_header Last-Modified` of the location
/// sets: Some(None) when it removes it (an empty value) or is not a date,
/// None when there is no such add_header.
fn added_last_modified<S: Transport>(cy: &Cycle<S>, key: usize) -> Option<Option<u64>> {
    let loc = cy.conns[key].req()?.loc.as_ref()?;
    let h = loc
        .add_headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("Last-Modified"))?;
    let mut v = Vec::new();
    crate::http::variables::complex_value(cy, key, &h.value, &mut v);
    Some(crate::core::time::parse_http_time(&v))
}

/// A part of a response, `[start, end)`.
type ByteRange = (u64, u64);

/// The body of a 206 (ngx_http_range_body_filter): each part from the
/// file at its offset (sendfile, no copy) or from the cached bytes, with
/// the multipart heads around them when there is a `boundary`. The range
/// body filter runs before the charset filter: an 8-bit recoding recodes
/// all of it (the body filter's input).
#[allow(clippy::too_many_arguments)]
fn send_parts<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    parts: &[(u64, u64)],
    boundary: &[u8],
    ctype: &[u8],
    size: u64,
    content: Option<std::rc::Rc<[u8]>>,
    file: std::rc::Rc<std::fs::File>,
) -> Finalize {
    use crate::http::range_filter::{multipart_end, part_head};
    let Some(hc) = cy.conns[key].hc_mut() else {
        return Finalize::Close;
    };
    let out = crate::http::gzip_filter::body_chain(hc);
    let mut body = 0u64;
    for &(s, e) in parts {
        if !boundary.is_empty() {
            let h = part_head(boundary, ctype, (s, e), size);
            body += h.len() as u64;
            out.mem.extend_from_slice(&h);
        }
        body += e - s;
        match &content {
            Some(bytes) => {
                let (s, e) = (s as usize, (e as usize).min(bytes.len()));
                out.mem
                    .extend_from_slice(bytes.get(s..e).unwrap_or_default());
            }
            None => out.push_file(file.clone(), s, e),
        }
    }
    if !boundary.is_empty() {
        let t = multipart_end(boundary);
        body += t.len() as u64;
        out.mem.extend_from_slice(&t);
    }
    if let Some(r) = hc.request.as_deref_mut() {
        r.body_bytes += body;
    }
    Finalize::Done
}

/// The extension of the last path segment, if any.
pub fn extension(uri: &[u8]) -> Option<&[u8]> {
    let seg = uri.rsplit(|&b| b == b'/').next()?;
    let dot = seg.iter().rposition(|&b| b == b'.')?;
    Some(&seg[dot + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(extension(b"/a/b.HTML"), Some(&b"HTML"[..]));
        assert_eq!(extension(b"/a.d/b"), None);
        assert_eq!(extension(b"/a/.hidden"), Some(&b"hidden"[..]));
    }
}
