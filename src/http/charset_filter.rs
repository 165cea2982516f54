//! The charset filter: nginx's `ngx_http_charset_filter_module.c`, its
//! header filter. A response whose type is in `charset_types` gets `;
//! charset=NAME` from `charset`; a peer's own charset stays, or with
//! `override_charset on` is replaced; a peer's `X-Accel-Charset` names the
//! charset of a proxied response; 301 and 302 get none.
//!
//! holdfast has no recoding tables (`charset_map` is refused), so there is
//! no body filter. Where nginx would recode — the source charset (a peer's,
//! or `source_charset`) and the destination differ — it finds no table
//! either: a configuration that says so in plain names is refused when it
//! is read (`conf/http_charset.rs`), and one that finds out per request
//! (variables, a peer's charset) gets nginx's `no "charset_map" between the
//! charsets "A" and "B"` error line and its Content-Type left alone.
//!
//! ```text
//! send_header / send_client_head → charset_header_filter → write_content_type
//!      destination_charset (X-Accel-Charset | charset + types | override)
//!      source_charset (the peer's | source_charset | off)
//! ```

use std::rc::Rc;

use crate::conf::http_charset::{CharsetConf, CharsetName};
use crate::core::cycle::Cycle;
use crate::http::request::http_error;
use crate::os::io::Transport;

/// A charset's name: one the configuration wrote, or one a request
/// produced (a variable's value, a peer's header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// From the configuration.
    Conf(Rc<str>),
    /// From the request.
    Value(Vec<u8>),
}

impl Name {
    /// The name's bytes as it is written out.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Conf(n) => n.as_bytes(),
            Name::Value(v) => v,
        }
    }
}

/// A charset the filter found: its name, and whether it is one the
/// configuration knows (nginx's index, or NGX_HTTP_NO_CHARSET).
struct Found {
    name: Name,
    known: bool,
}

/// A Content-Type that is a peer's: its `charset=` counts (nginx's
/// headers_out.charset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The peer's response has a Content-Encoding.
    pub encoded: bool,
    /// Its head is being read now: log lines say `while reading response
    /// header from upstream`, as nginx's.
    pub reading: bool,
}

/// What the filter makes of a Content-Type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentTypeOut {
    /// The bytes of the value kept (all of it, or the type without the
    /// peer's `; charset=…`).
    pub keep: usize,
    /// `; charset=NAME` follows.
    pub charset: Option<Name>,
}

/// Mirrors ngx_http_upstream_copy_content_type(): the length of a peer's
/// type before its `;` and the value of its `charset=` parameter (quotes
/// taken off), when it has one.
pub fn split_content_type(v: &[u8]) -> (usize, Option<&[u8]>) {
    let mut p = 0;
    while p < v.len() {
        if v[p] != b';' {
            p += 1;
            continue;
        }
        let last = p;
        p += 1;
        while v.get(p) == Some(&b' ') {
            p += 1;
        }
        if p == v.len() {
            break;
        }
        if !v[p..]
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"charset="))
        {
            p += 1;
            continue;
        }
        p += 8;
        if v.get(p) == Some(&b'"') {
            p += 1;
        }
        let mut end = v.len();
        if end > p && v[end - 1] == b'"' {
            end -= 1;
        }
        return (last, Some(&v[p.min(end)..end]));
    }
    (v.len(), None)
}

/// Mirrors ngx_http_charset_header_filter() for the response of `key`
/// with status `status` and Content-Type `ct` (a peer's, or holdfast's):
/// None leaves the value as it is.
pub fn charset_header_filter<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    status: u16,
    ct: &[u8],
    peer: Option<Peer>,
) -> Option<ContentTypeOut> {
    let r = cy.conns[key].req()?;
    let conf = &r.loc.as_ref()?.charset;
    if ct.is_empty() || (conf.charset == CharsetName::Off && r.override_charset.is_none()) {
        return None;
    }
    let (type_len, own) = match peer {
        Some(_) => split_content_type(ct),
        None => (ct.len(), None),
    };
    let during = match peer {
        Some(p) if p.reading => " while reading response header from upstream",
        _ => "",
    };
    // An empty `charset=` is none (nginx tests headers_out.charset.len).
    let own = own.filter(|c| !c.is_empty());
    let dst = destination_charset(cy, key, conf, &ct[..type_len], own, during)?;
    let src = source_charset(cy, key, conf, own);
    log::debug!(
        "*{} charset: \"{}\" > \"{}\"",
        cy.conns[key].number,
        String::from_utf8_lossy(src.as_ref().map_or(&b""[..], |s| s.name.as_bytes())),
        String::from_utf8_lossy(dst.name.as_bytes())
    );
    // Whether the peer's `; charset=…` goes (nginx resets content_type.len
    // to content_type_len).
    let truncate = match src {
        None => false,
        Some(src) if !dst.known || !src.known => {
            // Names nobody configured: the same name will do.
            let (s, d) = (src.name.as_bytes(), dst.name.as_bytes());
            let same = src.known == dst.known
                && s.len() >= d.len()
                && s[..d.len()].eq_ignore_ascii_case(d);
            if !same {
                no_charset_map(cy, key, &src, &dst, during);
                return None;
            }
            false
        }
        Some(src)
            if src
                .name
                .as_bytes()
                .eq_ignore_ascii_case(dst.name.as_bytes()) =>
        {
            true
        }
        Some(src) => {
            // Two known charsets: a recoding, which needs a charset_map.
            if !peer.is_some_and(|p| p.encoded) {
                no_charset_map(cy, key, &src, &dst, during);
            }
            return None;
        }
    };
    set_charset(status, ct.len(), type_len, truncate, dst.name)
}

/// Mirrors ngx_http_set_charset() and how ngx_http_header_filter() writes
/// the result: the charset is appended only to a type without parameters
/// of its own; none for a 301 or 302 (old browsers took it for the next
/// page's).
fn set_charset(
    status: u16,
    len: usize,
    type_len: usize,
    truncate: bool,
    name: Name,
) -> Option<ContentTypeOut> {
    let keep = if truncate { type_len } else { len };
    let charset = Some(name)
        .filter(|n| !matches!(status, 301 | 302) && !n.as_bytes().is_empty() && keep == type_len);
    if keep == len && charset.is_none() {
        return None;
    }
    Some(ContentTypeOut { keep, charset })
}

/// Mirrors ngx_http_destination_charset(): the peer's X-Accel-Charset
/// (when the configuration knows the name), else `charset` for a type in
/// `charset_types` without a charset of its own (or with one, under
/// `override_charset on`). None: the filter has nothing to do.
fn destination_charset<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    conf: &CharsetConf,
    ctype: &[u8],
    own: Option<&[u8]>,
    during: &str,
) -> Option<Found> {
    let r = cy.conns[key].req()?;
    if let Some(name) = r.override_charset.as_deref() {
        if conf.is_known(name) {
            return Some(Found {
                name: Name::Value(name.to_vec()),
                known: true,
            });
        }
        http_error!(
            cy,
            key,
            "unknown charset \"{}\" to override{during}",
            String::from_utf8_lossy(name)
        );
        return None;
    }
    if conf.charset == CharsetName::Off {
        return None;
    }
    if own.is_some() {
        if !conf.override_charset {
            return None;
        }
    } else if !conf.types.matches(ctype) {
        return None;
    }
    Some(charset_value(cy, key, conf, &conf.charset))
}

/// Mirrors ngx_http_source_charset(): the peer's own charset, else
/// `source_charset`; None when that is not set.
fn source_charset<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    conf: &CharsetConf,
    own: Option<&[u8]>,
) -> Option<Found> {
    if let Some(name) = own {
        return Some(Found {
            name: Name::Value(name.to_vec()),
            known: conf.is_known(name),
        });
    }
    if conf.source_charset == CharsetName::Off {
        return None;
    }
    Some(charset_value(cy, key, conf, &conf.source_charset))
}

/// A configured name, or a variable's value looked up among the known
/// names (ngx_http_get_charset).
fn charset_value<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    conf: &CharsetConf,
    v: &CharsetName,
) -> Found {
    match v {
        CharsetName::Name(n) => Found {
            name: Name::Conf(n.clone()),
            known: true,
        },
        CharsetName::Var(segs) => {
            let mut name = Vec::new();
            crate::http::variables::complex_value(cy, key, segs, &mut name);
            let known = conf.is_known(&name);
            Found {
                name: Name::Value(name),
                known,
            }
        }
        CharsetName::Off => Found {
            name: Name::Value(Vec::new()),
            known: false,
        },
    }
}

/// nginx's `no "charset_map" between the charsets "SRC" and "DST"`.
fn no_charset_map<S: Transport>(cy: &Cycle<S>, key: usize, src: &Found, dst: &Found, during: &str) {
    http_error!(
        cy,
        key,
        "no \"charset_map\" between the charsets \"{}\" and \"{}\"{during}",
        String::from_utf8_lossy(src.name.as_bytes()),
        String::from_utf8_lossy(dst.name.as_bytes())
    );
}

/// Writes the Content-Type value as the filter left it.
pub fn write_content_type(out: &mut Vec<u8>, ct: &[u8], set: Option<&ContentTypeOut>) {
    let Some(set) = set else {
        out.extend_from_slice(ct);
        return;
    };
    out.extend_from_slice(ct.get(..set.keep).unwrap_or(ct));
    if let Some(name) = &set.charset {
        out.extend_from_slice(b"; charset=");
        out.extend_from_slice(name.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_charset_is_found_as_nginx_finds_it() {
        assert_eq!(split_content_type(b"text/html"), (9, None));
        assert_eq!(
            split_content_type(b"text/html; charset=koi8-r"),
            (9, Some(&b"koi8-r"[..]))
        );
        assert_eq!(
            split_content_type(b"text/html;  CHARSET=\"utf-8\""),
            (9, Some(&b"utf-8"[..]))
        );
        assert_eq!(
            split_content_type(b"text/html; q=1; charset=x"),
            (14, Some(&b"x"[..]))
        );
        assert_eq!(split_content_type(b"text/html; "), (11, None));
        assert_eq!(split_content_type(b"a;charset=\""), (1, Some(&b""[..])));
        // After a `;` nginx steps over the next byte, a `;` too.
        assert_eq!(split_content_type(b"a;;charset=x"), (12, None));
    }

    #[test]
    fn the_charset_is_set_or_left_as_nginx_writes_it() {
        let n = || Name::Conf(Rc::from("utf-8"));
        let set =
            |status, len, type_len, truncate| set_charset(status, len, type_len, truncate, n());
        assert_eq!(
            set(200, 9, 9, false),
            Some(ContentTypeOut {
                keep: 9,
                charset: Some(n())
            })
        );
        // A redirect gets none; a peer's charset that stays is not doubled.
        assert_eq!(set(302, 9, 9, false), None);
        assert_eq!(set(200, 20, 9, false), None);
        assert_eq!(
            set(301, 20, 9, true),
            Some(ContentTypeOut {
                keep: 9,
                charset: None
            })
        );
        let mut out = Vec::new();
        write_content_type(
            &mut out,
            b"text/html; charset=UTF-8",
            set(200, 24, 9, true).as_ref(),
        );
        assert_eq!(out, b"text/html; charset=utf-8");
    }
}
