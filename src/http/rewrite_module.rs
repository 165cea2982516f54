//! The rewrite module at run time: nginx's ngx_http_rewrite_handler() and
//! the script codes of ngx_http_script.c it runs (regex start/end, return,
//! set, if with its tests, break).
//!
//! A level's script is a list of [`Code`]s run in order until one stops it
//! (`break`, `rewrite … last|break`, a redirect, `return`).

use std::os::unix::fs::MetadataExt;

use crate::conf::variables::{Segment, Variable};
use crate::conf::{Code, Condition, FileTest, Rewrite, RewriteFlag};
use crate::core::cycle::Cycle;
use crate::http::core_module::{regex_exec, update_location_config};
use crate::http::request::{Finalize, http_error, http_log};
use crate::http::variables::{complex_value, variable_value};
use crate::os::io::Transport;

/// How a run of codes ended.
enum Flow {
    /// Every code ran: the phase goes on.
    Continue,
    /// `break`, `last`, a rewrite's `break`: the script stops, the phase goes on.
    Stop,
    /// The request is answered.
    Finalize(Finalize),
}

/// Mirrors ngx_http_rewrite_handler(): runs a level's script; Some when it
/// answered the request (return, redirect, an error).
pub fn rewrite_handler<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    codes: &[Code],
) -> Option<Finalize> {
    match run(cy, key, codes) {
        Flow::Continue | Flow::Stop => None,
        Flow::Finalize(rc) => Some(rc),
    }
}

fn run<S: Transport>(cy: &mut Cycle<S>, key: usize, codes: &[Code]) -> Flow {
    for code in codes {
        let flow = match code {
            Code::Rewrite(rw) => regex_code(cy, key, rw),
            Code::Return(ret) => {
                Flow::Finalize(crate::http::response::return_handler(cy, key, ret))
            }
            Code::Set { var, value } => {
                set_code(cy, key, var, value);
                Flow::Continue
            }
            Code::If(i) => {
                if !test(cy, key, &i.cond) {
                    continue;
                }
                // ngx_http_script_if_code: inside a location the block's
                // settings become the request's while it runs and after.
                if let Some(loc) = &i.loc {
                    log::debug!("*{} http script if: true", cy.conns[key].number);
                    if let Some(r) = cy.conns[key].req_mut() {
                        r.loc = Some(loc.clone());
                    }
                    update_location_config(cy, key);
                }
                run(cy, key, &i.codes)
            }
            // ngx_http_script_break_code: the script stops and a URI the
            // rewrites before it changed does not send the request back to
            // find config.
            Code::Break => {
                if let Some(r) = cy.conns[key].req_mut()
                    && r.uri_changed
                {
                    // The location no longer names the URI (alias and the
                    // proxy's URI part stop applying), as nginx's break.
                    r.valid_location = false;
                    r.uri_changed = false;
                }
                Flow::Stop
            }
        };
        match flow {
            Flow::Continue => {}
            other => return other,
        }
    }
    Flow::Continue
}

/// `rewrite_log on`: the script's notices go to the error log at notice.
fn rewrite_log<S>(cy: &Cycle<S>, key: usize) -> bool {
    cy.conns[key]
        .req()
        .and_then(|r| r.loc.as_ref())
        .is_some_and(|l| l.rewrite_log)
}

/// A notice of the script (`"re" matches "uri"`, `rewritten data: …`):
/// at notice, with the request's context, when `rewrite_log on` or the
/// debug trace is on (as nginx logs them).
macro_rules! script_notice {
    ($cy:expr, $key:expr, $($arg:tt)*) => {
        if rewrite_log($cy, $key) || log::log_enabled!(log::Level::Debug) {
            http_log!(log::Level::Info, "holdfast::notice", $cy, $key, $($arg)*);
        }
    };
}

/// Mirrors ngx_http_script_regex_start_code() and _end_code() for a
/// `rewrite`: match the URI, build the replacement, then redirect, or set
/// the URI and arguments.
fn regex_code<S: Transport>(cy: &mut Cycle<S>, key: usize, rw: &Rewrite) -> Flow {
    let number = cy.conns[key].number;
    let Some(r) = cy.conns[key].req_mut() else {
        return Flow::Finalize(Finalize::Close);
    };
    log::debug!("*{number} http script regex: \"{}\"", rw.regex.0.as_str());
    let uri = std::mem::take(&mut r.uri);
    let matched = regex_exec(r, &rw.regex.0, &uri);
    r.uri = uri;
    // The request's URI for the notices (built only when they are logged).
    let shown = |cy: &Cycle<S>| {
        String::from_utf8_lossy(cy.conns[key].req().map_or(&[][..], |r| &r.uri)).into_owned()
    };
    if !matched {
        r.captures.clear();
        script_notice!(
            cy,
            key,
            "\"{}\" does not match \"{}\"",
            rw.regex.0.as_str(),
            shown(cy)
        );
        return Flow::Continue;
    }
    script_notice!(
        cy,
        key,
        "\"{}\" matches \"{}\"",
        rw.regex.0.as_str(),
        shown(cy)
    );
    let redirect = matches!(rw.flag, RewriteFlag::Redirect(_));
    let (buf, args_at) = replacement(cy, key, rw, redirect);
    let old_args = current_args(cy, key);
    let Some(r) = cy.conns[key].req_mut() else {
        return Flow::Finalize(Finalize::Close);
    };
    if let RewriteFlag::Redirect(status) = rw.flag {
        let mut loc = unescape_redirect(&buf);
        if rw.add_args
            && let Some(a) = &old_args
        {
            loc.push(if rw.has_args { b'&' } else { b'?' });
            loc.extend_from_slice(a);
        }
        script_notice!(
            cy,
            key,
            "rewritten redirect: \"{}\"",
            String::from_utf8_lossy(&loc)
        );
        crate::http::response::set_location(cy, key, &loc);
        return Flow::Finalize(Finalize::Status(status));
    }
    let (uri, args) = match args_at {
        Some(q) => {
            let mut args = buf[q + 1..].to_vec();
            if rw.add_args
                && let Some(a) = &old_args
            {
                args.push(b'&');
                args.extend_from_slice(a);
            }
            (buf[..q].to_vec(), Some(args))
        }
        None => (buf, if rw.add_args { None } else { Some(Vec::new()) }),
    };
    r.internal = true;
    if let Some(a) = args {
        r.args_rw = Some(a);
    }
    match rw.flag {
        RewriteFlag::Break => {
            r.valid_location = false;
            r.uri_changed = false;
        }
        _ => r.uri_changed = true,
    }
    let empty = uri.is_empty();
    r.uri = uri;
    if rewrite_log(cy, key) || log::log_enabled!(log::Level::Debug) {
        let r = cy.conns[key].req();
        let args = r.and_then(|r| r.args_rw.as_deref()).or(old_args.as_deref());
        let shown_args = String::from_utf8_lossy(args.unwrap_or_default()).into_owned();
        let shown_uri = String::from_utf8_lossy(r.map_or(&[][..], |r| &r.uri)).into_owned();
        script_notice!(
            cy,
            key,
            "rewritten data: \"{shown_uri}\", args: \"{shown_args}\""
        );
    }
    if empty {
        http_error!(cy, key, "the rewritten URI has a zero length");
        return Flow::Finalize(Finalize::Status(500));
    }
    match rw.flag {
        RewriteFlag::Last | RewriteFlag::Break => Flow::Stop,
        _ => Flow::Continue,
    }
}

/// The arguments in force (`r->args`), copied: the rewrite replaces them.
fn current_args<S>(cy: &Cycle<S>, key: usize) -> Option<Vec<u8>> {
    let c = &cy.conns[key];
    let r = c.req()?;
    r.args(c.buf().map_or(&[][..], |b| b.data()))
        .map(<[u8]>::to_vec)
}

/// The replacement with its captures and variables; captures copied into
/// the arguments or a redirect are escaped when the request's URI had
/// escapes or `+` (ngx_http_script_copy_capture_code). Returns the bytes
/// and where the literal `?` that starts the arguments is.
fn replacement<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    rw: &Rewrite,
    redirect: bool,
) -> (Vec<u8>, Option<usize>) {
    let Some(r) = cy.conns[key].req() else {
        return (Vec::new(), None);
    };
    let quoted = {
        let c = &cy.conns[key];
        let target = c
            .buf()
            .and_then(|b| b.data().get(r.target.0..r.target.0 + r.target.1))
            .unwrap_or_default();
        let path = target.split(|&b| b == b'?').next().unwrap_or_default();
        path.contains(&b'%') || path.contains(&b'+')
    };
    let mut out = Vec::new();
    let mut args_at = None;
    for seg in &rw.replacement {
        match seg {
            Segment::Literal(l) => {
                if args_at.is_none()
                    && let Some(q) = l.iter().position(|&b| b == b'?')
                {
                    args_at = Some(out.len() + q);
                }
                out.extend_from_slice(l);
            }
            Segment::Var(Variable::Capture(n)) => {
                let Some(&(s, e)) = r.captures.get(usize::from(*n)) else {
                    continue;
                };
                let cap = r.captures_data.get(s..e).unwrap_or_default();
                if (args_at.is_some() || redirect) && quoted {
                    crate::http::parse::escape_where(cap, &mut out, is_args_escaped);
                } else {
                    out.extend_from_slice(cap);
                }
            }
            Segment::Var(v) => {
                variable_value(cy, key, v, &mut out);
            }
        }
    }
    (out, args_at)
}

/// nginx's NGX_ESCAPE_ARGS set: what a capture copied into arguments gets
/// percent-encoded.
fn is_args_escaped(b: u8) -> bool {
    matches!(
        b,
        0..=0x20
            | b'"'
            | b'#'
            | b'%'
            | b'&'
            | b'+'
            | b';'
            | b'<'
            | b'>'
            | b'?'
            | b'\\'
            | b'^'
            | b'`'
            | b'{'
            | b'|'
            | b'}'
            | 0x7f..=0xff
    )
}

/// ngx_unescape_uri with NGX_UNESCAPE_REDIRECT: `%XX` decoded up to the
/// first `?`, except the bytes that would change a Location's meaning or
/// are not printable (`%` and below, DEL and above stay encoded).
fn unescape_redirect(src: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b == b'?' {
            out.extend_from_slice(&src[i..]);
            return out;
        }
        if b == b'%'
            && let (Some(h), Some(l)) = (
                src.get(i + 1).copied().and_then(hex),
                src.get(i + 2).copied().and_then(hex),
            )
        {
            let ch = (h << 4) | l;
            if ch == b'?' {
                out.push(ch);
                out.extend_from_slice(&src[i + 3..]);
                return out;
            }
            if ch > b'%' && ch < 0x7f {
                out.push(ch);
            } else {
                out.extend_from_slice(&src[i..i + 3]);
            }
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Mirrors ngx_http_script_set_var_code(): a `set` variable, `$args` or
/// `$limit_rate`.
fn set_code<S: Transport>(cy: &mut Cycle<S>, key: usize, var: &Variable, value: &[Segment]) {
    let mut v = Vec::new();
    complex_value(cy, key, value, &mut v);
    let user_vars = cy.conf.http.as_ref().map_or(0, |h| h.user_vars.len());
    let Some(r) = cy.conns[key].req_mut() else {
        return;
    };
    match var {
        Variable::User(i) => {
            let i = usize::from(*i);
            if r.vars.len() < user_vars {
                r.vars.resize(user_vars, None);
            }
            if let Some(slot) = r.vars.get_mut(i) {
                *slot = Some(v);
            }
        }
        Variable::Args => r.args_rw = Some(v),
        Variable::LimitRate => {
            r.limit_rate = std::str::from_utf8(&v)
                .ok()
                .and_then(|s| crate::conf::parse_size(s).ok())
                .map_or(0, |n| n as u64);
            r.limit_rate_set = true;
        }
        _ => {}
    }
}

/// The `if` condition (ngx_http_script_*_code for the tests).
fn test<S: Transport>(cy: &mut Cycle<S>, key: usize, cond: &Condition) -> bool {
    match cond {
        Condition::Var(var) => {
            let mut v = Vec::new();
            variable_value(cy, key, var, &mut v);
            !(v.is_empty() || v == b"0")
        }
        Condition::Equal { var, value, negate } => {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            variable_value(cy, key, var, &mut a);
            complex_value(cy, key, value, &mut b);
            (a == b) != *negate
        }
        Condition::Regex { var, regex, negate } => {
            let mut v = Vec::new();
            variable_value(cy, key, var, &mut v);
            let Some(r) = cy.conns[key].req_mut() else {
                return false;
            };
            let matched = regex_exec(r, &regex.0, &v);
            if !matched {
                r.captures.clear();
            }
            let shown = String::from_utf8_lossy(&v).into_owned();
            if matched {
                script_notice!(cy, key, "\"{}\" matches \"{shown}\"", regex.0.as_str());
            } else {
                script_notice!(
                    cy,
                    key,
                    "\"{}\" does not match \"{shown}\"",
                    regex.0.as_str()
                );
            }
            matched != *negate
        }
        Condition::File { path, test, negate } => {
            let mut p = Vec::new();
            complex_value(cy, key, path, &mut p);
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes_ext(&p));
            log::debug!(
                "*{} http script file op {:?} \"{}\"",
                cy.conns[key].number,
                test,
                path.display()
            );
            // ngx_http_script_file_code: under the location's
            // disable_symlinks; an error other than "not there" is logged.
            let of = match cy.conns[key].req().and_then(|r| r.loc.as_ref()) {
                Some(loc) => crate::http::core_module::set_disable_symlinks(cy, key, loc, &p),
                None => Default::default(),
            };
            let held = match crate::core::open_file_cache::file_info_wrapper(&p, of) {
                Ok(m) => match test {
                    FileTest::Plain => m.is_file(),
                    FileTest::Dir => m.is_dir(),
                    FileTest::Exists => true,
                    FileTest::Exec => m.mode() & 0o100 != 0,
                },
                Err(e) => {
                    if !matches!(e.errno, libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) {
                        crate::http::request::http_crit!(
                            cy,
                            key,
                            "{} \"{}\" failed ({e})",
                            e.failed,
                            path.display()
                        );
                    }
                    false
                }
            };
            held != *negate
        }
    }
}

/// `OsStr::from_bytes` under a name that reads at the call.
trait FromBytesExt {
    fn from_bytes_ext(b: &[u8]) -> &Self;
}

impl FromBytesExt for std::ffi::OsStr {
    fn from_bytes_ext(b: &[u8]) -> &Self {
        std::os::unix::ffi::OsStrExt::from_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_unescape_keeps_what_nginx_keeps() {
        assert_eq!(unescape_redirect(b"http://a/%7Ex"), b"http://a/~x");
        assert_eq!(unescape_redirect(b"http://a%0D%0Ab"), b"http://a%0D%0Ab");
        assert_eq!(unescape_redirect(b"/a%3Fb%20c"), b"/a?b%20c");
        assert_eq!(unescape_redirect(b"/a?%7E"), b"/a?%7E");
        assert_eq!(unescape_redirect(b"/%zz%4"), b"/%zz%4");
    }

    #[test]
    fn args_escape_set() {
        assert!(is_args_escaped(b'&') && is_args_escaped(b' ') && is_args_escaped(0xe9));
        assert!(is_args_escaped(b'?') && is_args_escaped(b'{'));
        assert!(!is_args_escaped(b'/') && !is_args_escaped(b'\'') && !is_args_escaped(b'='));
    }
}
