//! Precompressed files: nginx's ngx_http_gzip_static_module (`FILE.gz`),
//! and `brotli_static` (`FILE.br`, the directive google/ngx_brotli's static
//! module reads; nginx itself has no brotli).
//!
//! nginx runs gzip_static as a content handler before the static module;
//! holdfast asks it from the static module once the file's path is known,
//! and serves the compressed file through the same steps (validators,
//! ranges of the compressed bytes, sendfile).

use crate::conf::http_gzip::StaticMode;
use crate::core::cycle::Cycle;
use crate::http::gzip_filter::{self, RespHeaders, flags};
use crate::http::parse::Method;
use crate::os::io::Transport;

/// Mirrors ngx_http_gzip_static_handler() (and the brotli static module,
/// tried first): when the location serves precompressed files and the
/// client takes the coding (or `always`), and `PATH.br` / `PATH.gz` is a
/// file, `path` becomes that file's and its Content-Encoding is returned.
/// Otherwise `path` is left as it is.
pub fn precompressed<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    path: &mut Vec<u8>,
) -> Option<&'static [u8]> {
    let r = cy.conns[key].req()?;
    if !matches!(r.method, Method::Get | Method::Head) || r.uri.ends_with(b"/") {
        return None;
    }
    let loc = r.loc.clone()?;
    let g = &loc.gzip;
    if g.brotli_static != StaticMode::Off {
        let ok = g.brotli_static == StaticMode::Always || accepts_br(cy, key);
        if let Some(e) = try_variant(cy, key, path, b".br", g.brotli_static, ok, g.vary) {
            return Some(e);
        }
    }
    if g.gzip_static != StaticMode::Off {
        let ok = g.gzip_static == StaticMode::Always
            || gzip_filter::gzip_ok(cy, key, &RespHeaders::default());
        return try_variant(cy, key, path, b".gz", g.gzip_static, ok, g.vary);
    }
    None
}

fn accepts_br<S>(cy: &Cycle<S>, key: usize) -> bool {
    let c = &cy.conns[key];
    let (Some(r), Some(b)) = (c.req(), c.buf()) else {
        return false;
    };
    crate::http::headers::FilterHeaders::value(b.data(), r.filter_headers.accept_encoding)
        .is_some_and(|ae| gzip_filter::accepts_token(ae, b"br"))
}

/// One variant: `ext` appended to `path`, opened through the open file
/// cache. nginx's rules: with `on` and `gzip_vary off`, a client that does
/// not take the coding is not even looked up for; with `on`, a variant that
/// exists makes the response vary; a missing one is quiet, another error is
/// logged and the plain file is served.
fn try_variant<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    path: &mut Vec<u8>,
    ext: &[u8],
    mode: StaticMode,
    ok: bool,
    vary: bool,
) -> Option<&'static [u8]> {
    if !vary && !ok {
        return None;
    }
    let base = path.len();
    path.extend_from_slice(ext);
    log::debug!(
        "*{} http filename: \"{}\"",
        cy.conns[key].number,
        String::from_utf8_lossy(path)
    );
    let Some(loc) = cy.conns[key].req().and_then(|r| r.loc.clone()) else {
        path.truncate(base);
        return None;
    };
    let of = crate::http::core_module::set_disable_symlinks(cy, key, &loc, path);
    let found = cy
        .open_files
        .open(path, cy.clock.now_ms, loc.open_file_cache.as_deref(), of);
    let found = match found {
        Ok(e) => Some(!e.is_dir),
        Err(e) => {
            // ngx_http_gzip_static_handler: a missing variant is quiet; a
            // refused one (access, a symlink) is an error, anything else
            // critical; the plain file is served either way.
            match e.errno {
                libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG => {}
                libc::EACCES | libc::EMLINK | libc::ELOOP => {
                    let shown = String::from_utf8_lossy(path).into_owned();
                    crate::http::request::http_error!(
                        cy,
                        key,
                        "{} \"{shown}\" failed ({e})",
                        e.failed
                    );
                }
                _ => {
                    let shown = String::from_utf8_lossy(path).into_owned();
                    crate::http::request::http_crit!(
                        cy,
                        key,
                        "{} \"{shown}\" failed ({e})",
                        e.failed
                    );
                }
            }
            None
        }
    };
    if found.is_some()
        && mode == StaticMode::On
        && let Some(r) = cy.conns[key].req_mut()
    {
        r.gzip_flags |= flags::VARY;
    }
    if found == Some(true) && ok {
        return Some(if ext == b".br" { b"br" } else { b"gzip" });
    }
    path.truncate(base);
    None
}
