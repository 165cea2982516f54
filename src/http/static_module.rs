//! Static files: nginx's `ngx_http_static_module.c` and
//! `ngx_http_index_module.c`.
//!
//! The file is `root` + the decoded, normalised URI (see
//! [`parse_target`](crate::http::parse::parse_target)), so no request can name
//! a file outside the root (symbolic links inside it are followed, as nginx
//! does by default).

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::core::connection::req_in;
use crate::core::cycle::Cycle;
use crate::http::core_module::content_handler;
use crate::http::parse::Method;
use crate::http::request::{Finalize, http_error};
use crate::http::response::{self, ResponseHead};
use crate::os::io::Transport;

/// Files up to this size are copied into the output buffer (one writev with
/// the header), from the open file cache's copy when it has one; larger ones
/// go out with sendfile from the cached descriptor.
pub const SMALL_FILE: u64 = 32 * 1024;

/// Builds `root + uri (+ index)` into the request's scratch path.
fn map_uri_to_path(root: &Path, uri: &[u8], index: Option<&str>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(root.as_os_str().as_bytes());
    if out.last() == Some(&b'/') {
        out.pop();
    }
    out.extend_from_slice(uri);
    if let Some(i) = index {
        out.extend_from_slice(i.as_bytes());
    }
}

fn errno_text(e: &io::Error) -> crate::os::io::OsErr<'_> {
    crate::os::io::OsErr(e)
}

/// Mirrors ngx_http_index_handler() + ngx_http_static_handler().
pub fn static_handler<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let c = &mut cy.conns[key];
    let Some(r) = req_in(&mut c.hc) else {
        return Finalize::Close;
    };
    let Some(loc) = r.loc.clone() else {
        return Finalize::Close;
    };
    if !matches!(r.method, Method::Get | Method::Head | Method::Post) {
        return Finalize::Status(405);
    }
    let now = cy.clock.now_ms;
    let mut path = std::mem::take(&mut r.scratch);
    if r.uri.ends_with(b"/") {
        // ngx_http_index_handler: the first index file that exists wins, by
        // an internal redirect (the location is searched again).
        for name in &loc.index {
            map_uri_to_path(&loc.root, &r.uri, Some(name), &mut path);
            match cy
                .open_files
                .open(&path, now, loc.open_file_cache.as_deref())
            {
                Ok(e) if !e.is_dir => {
                    r.uri.extend_from_slice(name.as_bytes());
                    r.scratch = path;
                    r.internal = true;
                    let server = r.server.clone();
                    if let Some(server) = server {
                        r.loc = Some(crate::http::core_module::find_location(&server, r));
                    }
                    if r.loc.as_ref().is_some_and(|l| l.ret.is_some()) {
                        return content_handler(cy, key);
                    }
                    return serve_file(cy, key);
                }
                _ => {}
            }
        }
        map_uri_to_path(&loc.root, &r.uri, None, &mut path);
        let shown = String::from_utf8_lossy(&path).into_owned();
        r.scratch = path;
        let found = cy
            .open_files
            .open(shown.as_bytes(), now, loc.open_file_cache.as_deref())
            .map(|e| e.is_dir);
        return match found {
            Ok(true) => {
                http_error!(cy, key, "directory index of \"{shown}\" is forbidden");
                Finalize::Status(403)
            }
            Ok(false) => Finalize::Status(404),
            Err(e) => {
                if loc.log_not_found {
                    http_error!(cy, key, "\"{shown}\" is not found ({})", errno_text(&e));
                }
                Finalize::Status(404)
            }
        };
    }
    map_uri_to_path(&loc.root, &r.uri, None, &mut path);
    r.scratch = path;
    serve_file(cy, key)
}

/// Opens the file in the request's scratch path and queues the response.
fn serve_file<S: Transport>(cy: &mut Cycle<S>, key: usize) -> Finalize {
    let c = &mut cy.conns[key];
    let Some(r) = req_in(&mut c.hc) else {
        return Finalize::Close;
    };
    let path = Path::new(std::ffi::OsStr::from_bytes(&r.scratch));
    let ofc = r.loc.as_ref().and_then(|l| l.open_file_cache.clone());
    let f = match cy
        .open_files
        .open(&r.scratch, cy.clock.now_ms, ofc.as_deref())
    {
        Ok(e) => (e.file, e.size, e.mtime, e.is_dir, e.is_file, e.content),
        Err(e) => {
            let status = match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404,
                io::ErrorKind::PermissionDenied => 403,
                _ => 500,
            };
            let shown = path.display().to_string();
            if status != 404 || r.loc.as_ref().is_none_or(|l| l.log_not_found) {
                http_error!(cy, key, "open() \"{shown}\" failed ({})", errno_text(&e));
            }
            return Finalize::Status(status);
        }
    };
    let (file, size, mtime, is_dir, is_file, content) = f;
    if is_dir {
        // A directory without the trailing slash: redirect to the slash form.
        // ngx_http_static_handler escapes the decoded URI for Location.
        let mut loc = Vec::with_capacity(r.uri.len() + 1);
        crate::http::parse::escape_uri(&r.uri, &mut loc);
        loc.push(b'/');
        if let (Some((o, l)), Some(b)) = (r.args, c.buf()) {
            loc.push(b'?');
            loc.extend_from_slice(&b.data()[o..o + l]);
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
    let head = ResponseHead {
        status: 200,
        content_type: ctype.as_deref().map(str::as_bytes),
        content_length: Some(size),
        last_modified: Some(mtime),
        location: false,
    };
    let header_only = r.header_only;
    // ngx_http_static_handler: the file is open; what follows is sending it.
    cy.conns[key].action = crate::core::connection::Action::SendingResponse;
    response::send_header(cy, key, &head);
    if header_only || size == 0 {
        return Finalize::Done;
    }
    let Some(hc) = cy.conns[key].hc.as_deref_mut() else {
        return Finalize::Close;
    };
    if let Some(r) = hc.request.as_deref_mut() {
        r.body_bytes += size;
    }
    let out = &mut hc.out;
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

    #[test]
    fn paths_join_root_and_uri() {
        let mut out = Vec::new();
        map_uri_to_path(
            Path::new("/srv/html/"),
            b"/a/",
            Some("index.html"),
            &mut out,
        );
        assert_eq!(out, b"/srv/html/a/index.html");
    }
}
