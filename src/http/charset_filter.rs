//! The charset filter: nginx's `ngx_http_charset_filter_module.c`, its
//! header filter and its body filter. A response whose type is in
//! `charset_types` gets `; charset=NAME` from `charset`; a peer's own
//! charset stays, or with `override_charset on` is replaced; a peer's
//! `X-Accel-Charset` names the charset of a proxied response; 301 and 302
//! get none.
//!
//! When the source charset (a peer's, or `source_charset`) and the
//! destination differ, the body is recoded through the `charset_map`
//! between them: a response with a Content-Encoding is left alone (nginx
//! cannot recode it either), one without a map gets nginx's `no
//! "charset_map" between the charsets "A" and "B"` error line and its
//! Content-Type left as it was. The recoding is a stage of the request's
//! body filter (`gzip_filter.rs`: gunzip → recode → gzip, nginx's filter
//! order); to or from UTF-8 the length changes, so Content-Length goes
//! and the body is chunked (or ends with the connection for HTTP/1.0),
//! and ranges no longer apply; 8-bit to 8-bit keeps both.
//!
//! ```text
//! send_header / send_client_head → charset_header_filter → write_content_type
//!      destination_charset (X-Accel-Charset | charset + types | override)
//!      source_charset (the peer's | source_charset | off)
//!      → Recode (find_map) → gzip_filter::header_filter makes the stage
//! BodyFilter::pump → RecodeCtx::recode: charset_recode | recode_to_utf8 | recode_from_utf8
//! ```

use std::rc::Rc;

use crate::conf::http_charset::{
    CharsetConf, CharsetMap, CharsetName, MapTables, UTF_LEN, UTF8_INCOMPLETE, utf8_decode,
};
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
    /// The body is recoded (nginx's ngx_http_charset_ctx).
    pub recode: Option<Recode>,
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
/// with status `status` and Content-Type `ct` (a peer's, or holdfast's);
/// `encoded`: the body has a Content-Encoding the gunzip filter does not
/// take away. None leaves the value as it is and the body alone.
pub fn charset_header_filter<S: Transport>(
    cy: &Cycle<S>,
    key: usize,
    status: u16,
    ct: &[u8],
    peer: Option<Peer>,
    encoded: bool,
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
    let mut recode = None;
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
            // Two known charsets: a recoding, through their charset_map;
            // a coded body cannot be recoded and is left as it is.
            if encoded {
                return None;
            }
            let Some((map, reverse)) = conf.find_map(src.name.as_bytes(), dst.name.as_bytes())
            else {
                no_charset_map(cy, key, &src, &dst, during);
                return None;
            };
            recode = Some(Recode { map, reverse });
            true
        }
    };
    set_charset(status, ct.len(), type_len, truncate, dst.name, recode)
}

/// ngx_http_charset_header_filter for a response of send_header (a peer's
/// type kept across its X-Accel-Redirect keeps its own charset
/// parameter); a body gunzip does not decompress keeps its coding and is
/// not recoded.
pub fn response_charset<S: Transport>(
    cy: &mut Cycle<S>,
    key: usize,
    status: u16,
    h: &crate::http::response::ResponseHead<'_>,
) -> Option<ContentTypeOut> {
    let resp = crate::http::gzip_filter::RespHeaders {
        last_modified: h.last_modified.is_some(),
        etag: h.etag.is_some(),
        ..Default::default()
    };
    let encoded = crate::http::gzip_filter::still_encoded(cy, key, h.content_encoding, &resp);
    let r = cy.conns[key].req()?;
    let ct = r.content_type_out.as_deref().or(h.content_type)?;
    let peer = r
        .content_type_out
        .is_some()
        .then_some(Peer { reading: false });
    charset_header_filter(cy, key, status, ct, peer, encoded)
}

/// Mirrors ngx_http_set_charset() and how ngx_http_header_filter() writes
/// the result: the charset is appended only to a type without parameters
/// of its own; none for a 301 or 302 (old browsers took it for the next
/// page's), whose body is recoded all the same.
fn set_charset(
    status: u16,
    len: usize,
    type_len: usize,
    truncate: bool,
    name: Name,
    recode: Option<Recode>,
) -> Option<ContentTypeOut> {
    let keep = if truncate { type_len } else { len };
    let charset = Some(name)
        .filter(|n| !matches!(status, 301 | 302) && !n.as_bytes().is_empty() && keep == type_len);
    if keep == len && charset.is_none() && recode.is_none() {
        return None;
    }
    Some(ContentTypeOut {
        keep,
        charset,
        recode,
    })
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

/// The recoding a response gets: a `charset_map`'s tables, read
/// forwards or backwards (nginx's ctx `table`, `from_utf8`, `to_utf8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recode {
    map: Rc<CharsetMap>,
    reverse: bool,
}

impl Recode {
    /// The body keeps its length (8-bit to 8-bit): Content-Length and
    /// ranges stay (nginx clears the length only to or from UTF-8).
    pub fn keeps_length(&self) -> bool {
        matches!(self.map.tables, MapTables::Bytes { .. })
    }

    /// The state that recodes one response.
    pub fn start(&self) -> RecodeCtx {
        RecodeCtx {
            recode: self.clone(),
            saved: [0; UTF_LEN],
            saved_len: 0,
        }
    }
}

/// A response being recoded (nginx's ngx_http_charset_ctx_t): the table,
/// and the start of a UTF-8 sequence the last input ended in the middle of.
#[derive(Debug)]
pub struct RecodeCtx {
    recode: Recode,
    saved: [u8; UTF_LEN],
    saved_len: usize,
}

impl RecodeCtx {
    /// Mirrors ngx_http_charset_body_filter(): recodes `input`, the next
    /// bytes of the body, onto `out`. nginx recodes 8-bit buffers in place
    /// and builds new ones for UTF-8; here every stage writes to the next
    /// one's input.
    pub fn recode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let reverse = self.recode.reverse;
        match &self.recode.map.tables {
            MapTables::Bytes { src2dst, dst2src } => {
                charset_recode(input, if reverse { dst2src } else { src2dst }, out)
            }
            MapTables::Utf8 { src2dst, .. } if !reverse => recode_to_utf8(input, src2dst, out),
            MapTables::Utf8 { .. } => self.recode_from_utf8(input, out),
        }
    }

    /// Mirrors ngx_http_charset_recode_from_utf8(): ASCII as it is, a
    /// code point the map has as its byte, one it has not (or past
    /// U+FFFF) as `&#N;`, an invalid sequence as `?` (with the bytes
    /// ngx_utf8_decode took); a sequence cut by the end of the input waits
    /// for the next (at the end of the body it is dropped, as nginx drops
    /// it).
    fn recode_from_utf8(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let map = self.recode.map.clone();
        let tables = &map.tables;
        let mut src = 0;
        if self.saved_len > 0 {
            let had = self.saved_len;
            let take = (UTF_LEN - had).min(input.len());
            self.saved[had..had + take].copy_from_slice(&input[..take]);
            let len = had + take;
            let (n, used) = utf8_decode(&self.saved[..len]);
            if n == UTF8_INCOMPLETE && len < UTF_LEN {
                // Still not whole: all of this input waits too.
                self.saved_len = len;
                return;
            }
            let c = tables.utf8_to_byte(n);
            let used = if c != 0 {
                out.push(c);
                used
            } else if n == UTF8_INCOMPLETE {
                out.push(b'?');
                UTF_LEN
            } else if n > 0x10ffff {
                out.push(b'?');
                used.max(had)
            } else {
                push_entity(out, n);
                used
            };
            src = used - had;
            self.saved_len = 0;
        }
        while src < input.len() {
            let b = input[src];
            if b < 0x80 {
                out.push(b);
                src += 1;
                continue;
            }
            let (n, used) = utf8_decode(&input[src..]);
            if n == UTF8_INCOMPLETE {
                let rest = &input[src..];
                self.saved[..rest.len()].copy_from_slice(rest);
                self.saved_len = rest.len();
                break;
            }
            src += used;
            match tables.utf8_to_byte(n) {
                0 if n > 0x10ffff => out.push(b'?'),
                0 => push_entity(out, n),
                c => out.push(c),
            }
        }
    }
}

/// nginx's `&#%uD;`: a character the destination charset lacks.
fn push_entity(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(format!("&#{n};").as_bytes());
}

/// Mirrors ngx_http_charset_recode(): a byte for each byte.
fn charset_recode(input: &[u8], table: &[u8; 256], out: &mut Vec<u8>) {
    out.extend(input.iter().map(|&b| table[usize::from(b)]));
}

/// Mirrors ngx_http_charset_recode_to_utf8(): each byte's UTF-8 sequence.
fn recode_to_utf8(input: &[u8], table: &[[u8; UTF_LEN]; 256], out: &mut Vec<u8>) {
    out.reserve(input.len());
    for &b in input {
        let e = &table[usize::from(b)];
        let len = usize::from(e[0]).min(UTF_LEN - 1);
        out.extend_from_slice(&e[1..=len]);
    }
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
        let set = |status, len, type_len, truncate| {
            set_charset(status, len, type_len, truncate, n(), None)
        };
        let out = |keep, charset| {
            Some(ContentTypeOut {
                keep,
                charset,
                recode: None,
            })
        };
        assert_eq!(set(200, 9, 9, false), out(9, Some(n())));
        // A redirect gets none; a peer's charset that stays is not doubled.
        assert_eq!(set(302, 9, 9, false), None);
        assert_eq!(set(200, 20, 9, false), None);
        assert_eq!(set(301, 20, 9, true), out(9, None));
        let mut out = Vec::new();
        write_content_type(
            &mut out,
            b"text/html; charset=UTF-8",
            set(200, 24, 9, true).as_ref(),
        );
        assert_eq!(out, b"text/html; charset=utf-8");
    }

    /// The recoding between the first two charsets the location names
    /// (`source_charset`, `charset`) in an http block with these maps.
    fn recode(maps: &str, src: &str, dst: &str) -> Recode {
        let c = crate::conf::testutil::conf(&format!(
            "http {{ {maps} server {{ source_charset {src}; charset {dst}; }} }}"
        ));
        let conf = &crate::conf::testutil::http(&c).servers[0].conf.charset;
        let (map, reverse) = conf.find_map(src.as_bytes(), dst.as_bytes()).unwrap();
        Recode { map, reverse }
    }

    /// `input` recoded in pieces cut at `cuts`.
    fn run(r: &Recode, input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut ctx = r.start();
        let mut out = Vec::new();
        let mut at = 0;
        for &c in cuts.iter().chain([&input.len()]) {
            ctx.recode(&input[at..c], &mut out);
            at = c;
        }
        out
    }

    const KOI_UTF: &str = "charset_map koi8-r utf-8 { C1 D0B0; C2 D0B1; 80 E282AC; }";

    #[test]
    fn eight_bit_maps_recode_byte_for_byte_both_ways() {
        let maps = "charset_map koi8-r windows-1251 { C1 E0; C2 E1; 58 59; }";
        let fwd = recode(maps, "koi8-r", "windows-1251");
        assert!(fwd.keeps_length());
        assert_eq!(run(&fwd, b"\xc1\xc2X\xff-", &[]), b"\xe0\xe1Y?-");
        let back = recode(maps, "windows-1251", "koi8-r");
        assert_eq!(run(&back, b"\xe0\xe1Y\xc1", &[2]), b"\xc1\xc2X?");
    }

    #[test]
    fn to_utf8_each_byte_becomes_its_sequence() {
        let r = recode(KOI_UTF, "koi8-r", "utf-8");
        assert!(!r.keeps_length());
        assert_eq!(
            run(&r, b"a\xc1\xc2\x80\xfe", &[]),
            "a\u{430}\u{431}\u{20ac}?".as_bytes()
        );
    }

    #[test]
    fn from_utf8_maps_or_writes_entities_as_nginx() {
        let r = recode(KOI_UTF, "utf-8", "koi8-r");
        let text = "a\u{430}\u{431}\u{20ac} \u{44f} \u{1f600}!".as_bytes();
        let want = b"a\xc1\xc2\x80 &#1103; &#128512;!";
        assert_eq!(run(&r, text, &[]), want);
        // The same at every cut, and cut at every pair of places.
        for i in 0..=text.len() {
            assert_eq!(run(&r, text, &[i]), want, "cut at {i}");
            for j in i..=text.len() {
                assert_eq!(run(&r, text, &[i, j]), want, "cut at {i}, {j}");
            }
        }
        // Invalid sequences: `?`, with what ngx_utf8_decode took (here the
        // `A` after a lead byte), overlong forms, points past U+10FFFF.
        assert_eq!(run(&r, b"\xd0Ab", &[]), b"?b");
        assert_eq!(run(&r, b"\x80\xc0\xaf.", &[]), b"???.");
        assert_eq!(run(&r, b"\xf4\x90\x80\x80.", &[]), b"?.");
        // A lead byte, then ASCII: nginx takes the first ASCII byte with
        // it, and, when the input was cut after the second, that one too.
        assert_eq!(run(&r, b"\xf0AB.", &[]), b"?B.");
        assert_eq!(run(&r, b"\xf0AB.", &[1]), b"?B.");
        assert_eq!(run(&r, b"\xf0AB.", &[2]), b"?B.");
        assert_eq!(run(&r, b"\xf0AB.", &[3]), b"?.");
        // A sequence the body ends in the middle of is dropped.
        assert_eq!(run(&r, b"a\xe2\x82", &[]), b"a");
        assert_eq!(run(&r, b"a\xe2\x82", &[2]), b"a");
    }
}
