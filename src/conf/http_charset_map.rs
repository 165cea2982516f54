//! `charset_map FROM TO { XX YY; ... }`: the recoding tables of
//! ngx_http_charset_module (ngx_http_charset_map_block, ngx_http_charset_map
//! in `ngx_http_charset_filter_module.c`).
//!
//! Between two 8-bit charsets a table is a byte for each byte, both ways;
//! between an 8-bit charset and UTF-8 (always the second column) it is each
//! byte's UTF-8 sequence one way and, the other way, the byte of each code
//! point up to U+FFFF, kept in pages of 256 points made as lines need them.
//! Bytes below 0x80 map to themselves unless a line says otherwise; other
//! bytes and points without a line become `?` (8-bit) or are not mapped
//! (from UTF-8: the filter writes `&#N;`).

use std::rc::Rc;

use super::ConfError;
use super::command::block;
use super::parser::Directive;

/// The longest UTF-8 sequence a table holds, plus its length byte (nginx's
/// NGX_UTF_LEN: code points up to U+FFFF take at most three bytes).
pub const UTF_LEN: usize = 4;

/// ngx_utf8_decode()'s answer for a sequence cut short.
pub const UTF8_INCOMPLETE: u32 = 0xffff_fffe;

/// ngx_utf8_decode()'s answer for a byte that cannot be there.
pub const UTF8_ERROR: u32 = 0xffff_ffff;

/// One `charset_map` (nginx's ngx_http_charset_tables_t).
#[derive(PartialEq, Eq)]
pub struct CharsetMap {
    /// The first column's charset (as the name list spells it).
    pub src: Rc<str>,
    /// The second column's.
    pub dst: Rc<str>,
    /// The tables.
    pub tables: MapTables,
}

impl std::fmt::Debug for CharsetMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CharsetMap({} > {})", self.src, self.dst)
    }
}

/// A map's two directions.
#[derive(PartialEq, Eq)]
pub enum MapTables {
    /// Two 8-bit charsets.
    Bytes {
        /// First column to second.
        src2dst: Box<[u8; 256]>,
        /// Second to first.
        dst2src: Box<[u8; 256]>,
    },
    /// An 8-bit charset and UTF-8.
    Utf8 {
        /// Each byte's UTF-8 sequence: its length, then its bytes.
        src2dst: Box<[[u8; UTF_LEN]; 256]>,
        /// The byte of a code point up to U+FFFF: `dst2src[n >> 8][n & 0xff]`,
        /// 0 for none (a page that no line reaches is not made).
        dst2src: Vec<Option<Box<[u8; 256]>>>,
    },
}

impl MapTables {
    /// The byte for code point `n` (from UTF-8); 0: none.
    pub fn utf8_to_byte(&self, n: u32) -> u8 {
        match self {
            MapTables::Utf8 { dst2src, .. } if n < 0x10000 => dst2src
                .get((n >> 8) as usize)
                .and_then(Option::as_deref)
                .map_or(0, |page| page[(n & 0xff) as usize]),
            _ => 0,
        }
    }
}

/// Mirrors ngx_utf8_decode() on `p` (not empty): the code point of the
/// sequence `p` starts with and the bytes it took, nginx's way. A lead byte
/// that cannot start a sequence is [`UTF8_ERROR`] (one byte taken); a
/// sequence longer than `p` is [`UTF8_INCOMPLETE`] (none taken); a byte
/// below 0x80 where a continuation should be is an error that takes it
/// too; an overlong form is an error; points past U+10FFFF come back as
/// they are (the caller treats them as invalid).
pub fn utf8_decode(p: &[u8]) -> (u32, usize) {
    let lead = u32::from(p[0]);
    let (mut u, valid, len) = match lead {
        0xf8.. => return (UTF8_ERROR, 1),
        0xf0.. => (lead & 0x07, 0xffff, 3),
        0xe0.. => (lead & 0x0f, 0x7ff, 2),
        0xc2.. => (lead & 0x1f, 0x7f, 1),
        _ => return (UTF8_ERROR, 1),
    };
    if p.len() - 1 < len {
        return (UTF8_INCOMPLETE, 0);
    }
    for (k, &b) in p[1..=len].iter().enumerate() {
        if b < 0x80 {
            return (UTF8_ERROR, k + 2);
        }
        u = (u << 6) | u32::from(b & 0x3f);
    }
    if u > valid {
        (u, len + 1)
    } else {
        (UTF8_ERROR, len + 1)
    }
}

/// Mirrors ngx_hextoi(): one or more hex digits of either case; None for
/// anything else (or a value past any byte's).
fn hextoi(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            _ if (b'a'..=b'f').contains(&(c | 0x20)) => (c | 0x20) - b'a' + 10,
            _ => return None,
        };
        v = v.checked_mul(16)?.checked_add(u32::from(d))?;
    }
    Some(v)
}

/// A byte value of a map line, or nginx's `invalid value "V"`.
fn byte_value(line: &Directive, v: &str) -> Result<u8, ConfError> {
    hextoi(v.as_bytes())
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| line.error(format!("invalid value \"{v}\"")))
}

/// Mirrors ngx_http_charset_map_block(): `charset_map FROM TO { ... }` at
/// the http level. The two names join the known charsets; the same name
/// twice, UTF-8 in the first column, or a second map between the same two
/// charsets (either way round) is refused at the directive's line; each
/// line inside is read by [`charset_map`].
pub(super) fn charset_map_block(d: &Directive) -> Result<(), ConfError> {
    let (a, b) = (&d.args[0], &d.args[1]);
    let src = super::http_charset::add_charset(a);
    let dst = super::http_charset::add_charset(b);
    if Rc::ptr_eq(&src, &dst) {
        return Err(d.error(format!(
            "\"charset_map\" between the same charsets \"{a}\" and \"{b}\""
        )));
    }
    if a.eq_ignore_ascii_case("utf-8") {
        return Err(
            d.error("\"charset_map\" with \"utf-8\" charset should be given in the second column")
        );
    }
    let same = |x: &Rc<str>, y: &Rc<str>| Rc::ptr_eq(x, y);
    if super::http_charset::maps().iter().any(|m| {
        (same(&m.src, &src) && same(&m.dst, &dst)) || (same(&m.src, &dst) && same(&m.dst, &src))
    }) {
        return Err(d.error(format!(
            "duplicate \"charset_map\" between \"{a}\" and \"{b}\""
        )));
    }
    let mut tables = if dst.eq_ignore_ascii_case("utf-8") {
        let mut src2dst = Box::new([[0u8; UTF_LEN]; 256]);
        let mut page0 = Box::new([0u8; 256]);
        for (i, e) in src2dst.iter_mut().enumerate() {
            *e = [1, if i < 0x80 { i as u8 } else { b'?' }, 0, 0];
            if i < 0x80 {
                page0[i] = i as u8;
            }
        }
        let mut dst2src = vec![None; 256];
        dst2src[0] = Some(page0);
        MapTables::Utf8 { src2dst, dst2src }
    } else {
        let mut t = Box::new([b'?'; 256]);
        for (i, e) in t.iter_mut().enumerate().take(0x80) {
            *e = i as u8;
        }
        MapTables::Bytes {
            src2dst: t.clone(),
            dst2src: t,
        }
    };
    for line in block(d) {
        charset_map(line, &mut tables)?;
    }
    super::http_charset::add_map(CharsetMap { src, dst, tables });
    Ok(())
}

/// Mirrors ngx_http_charset_map(): one `XX YY;` line of a map: a byte of
/// the first charset and its byte (8-bit) or UTF-8 sequence (one to three
/// bytes, in hex, of a code point up to U+FFFF) in the second.
fn charset_map(line: &Directive, tables: &mut MapTables) -> Result<(), ConfError> {
    if line.block.is_some() {
        return Err(line.error("unexpected \"{\""));
    }
    if line.args.len() != 1 {
        return Err(line.error("invalid parameters number"));
    }
    let src = byte_value(line, &line.name)?;
    let v = &line.args[0];
    match tables {
        MapTables::Bytes { src2dst, dst2src } => {
            let dst = byte_value(line, v)?;
            src2dst[usize::from(src)] = dst;
            dst2src[usize::from(dst)] = src;
        }
        MapTables::Utf8 { src2dst, dst2src } => {
            let invalid = || line.error(format!("invalid value \"{v}\""));
            // Pairs of hex digits (nginx reads an odd last digit with the
            // string's terminating NUL, which is not one). An empty value
            // is refused too (nginx would decode what the entry held).
            let hex = v.as_bytes();
            if hex.is_empty() || hex.len() / 2 > UTF_LEN - 1 {
                return Err(invalid());
            }
            let mut seq = [0u8; UTF_LEN];
            let mut n = 0;
            for pair in hex.chunks(2) {
                if pair.len() < 2 {
                    return Err(invalid());
                }
                n += 1;
                seq[n] = hextoi(pair)
                    .and_then(|b| u8::try_from(b).ok())
                    .ok_or_else(invalid)?;
            }
            seq[0] = n as u8;
            src2dst[usize::from(src)] = seq;
            let (point, _) = utf8_decode(&seq[1..=n]);
            if point > 0xffff {
                return Err(invalid());
            }
            let page = dst2src[(point >> 8) as usize].get_or_insert_with(|| Box::new([0; 256]));
            page[(point & 0xff) as usize] = src;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_decoded_as_nginx_decodes_it() {
        assert_eq!(utf8_decode(b"\xd0\x90"), (0x410, 2));
        assert_eq!(utf8_decode(b"\xe2\x82\xac!"), (0x20ac, 3));
        assert_eq!(utf8_decode(b"\xf0\x9f\x98\x80"), (0x1f600, 4));
        assert_eq!(utf8_decode(b"\xe2\x82"), (UTF8_INCOMPLETE, 0));
        // A byte below 0x80 in a sequence is taken with it.
        assert_eq!(utf8_decode(b"\xd0A"), (UTF8_ERROR, 2));
        assert_eq!(utf8_decode(b"\xf0\x9fA\x80"), (UTF8_ERROR, 3));
        // Overlong forms, stray continuations, impossible leads.
        assert_eq!(utf8_decode(b"\xe0\x80\x80"), (UTF8_ERROR, 3));
        assert_eq!(utf8_decode(b"\xc1\xbf"), (UTF8_ERROR, 1));
        assert_eq!(utf8_decode(b"\x80"), (UTF8_ERROR, 1));
        assert_eq!(utf8_decode(b"\xf8\x80\x80\x80"), (UTF8_ERROR, 1));
        // Past U+10FFFF: returned, for the caller to refuse.
        assert_eq!(utf8_decode(b"\xf4\x90\x80\x80"), (0x110000, 4));
        // Continuation bytes are not checked beyond "not ASCII" (nginx).
        assert_eq!(utf8_decode(b"\xd0\xd0"), (0x410, 2));
    }

    /// `http { BODY }`'s error, expected at `line` (the body starts on 2).
    fn refused(body: &str, msg: &str, line: usize) {
        crate::conf::testutil::assert_err(&format!("http {{\n{body}\n}}"), msg, line);
    }

    #[test]
    fn maps_are_refused_with_nginx_messages_at_their_lines() {
        refused(
            "charset_map koi8-r KOI8-R { }",
            "\"charset_map\" between the same charsets \"koi8-r\" and \"KOI8-R\"",
            2,
        );
        refused(
            "charset_map UTF-8 koi8-r { }",
            "\"charset_map\" with \"utf-8\" charset should be given in the second column",
            2,
        );
        refused(
            "charset_map a b { }\ncharset_map B A { }",
            "duplicate \"charset_map\" between \"B\" and \"A\"",
            3,
        );
        refused(
            "charset_map a b {\n  58 59;\n  ZZ 41;\n}",
            "invalid value \"ZZ\"",
            4,
        );
        refused("charset_map a b { 58 100; }", "invalid value \"100\"", 2);
        refused("charset_map a b { 58; }", "invalid parameters number", 2);
        refused(
            "charset_map a b { 58 59 60; }",
            "invalid parameters number",
            2,
        );
        refused("charset_map a b { 58 { } }", "unexpected \"{\"", 2);
        for v in [
            "D0B", "D0B0B0B0", "F09F9880", "E0", "41", "C0AF", "\"\"", "00059",
        ] {
            let shown = v.trim_matches('"');
            refused(
                &format!("charset_map a utf-8 {{\n C1 {v};\n}}"),
                &format!("invalid value \"{shown}\""),
                3,
            );
        }
        refused(
            "charset_map a b;",
            "directive \"charset_map\" has no opening \"{\"",
            2,
        );
        refused(
            "charset_map a { }",
            "invalid number of arguments in \"charset_map\" directive",
            2,
        );
        refused(
            "server { charset_map a b { } }",
            "\"charset_map\" directive is not allowed here",
            2,
        );
    }

    #[test]
    fn tables_are_built_as_nginx_builds_them() {
        let c = crate::conf::testutil::conf(
            "http { charset_map a utf-8 { 0c1 C2A0AA; 41 D0B0; }\n\
             charset_map a b { 58 59; } server { charset a; } }",
        );
        let conf = &crate::conf::testutil::http(&c).servers[0].conf.charset;
        let (m, reverse) = conf.find_map(b"UTF-8", b"A").unwrap();
        assert!(reverse);
        let MapTables::Utf8 { src2dst, dst2src } = &m.tables else {
            panic!("{m:?}")
        };
        // Extra bytes after a whole sequence are kept (nginx writes them).
        assert_eq!(src2dst[0xc1], [3, 0xc2, 0xa0, 0xaa]);
        assert_eq!(src2dst[0x41], [2, 0xd0, 0xb0, 0]);
        assert_eq!(src2dst[0x42], [1, 0x42, 0, 0]);
        assert_eq!(src2dst[0xc2], [1, b'?', 0, 0]);
        assert_eq!(m.tables.utf8_to_byte(0xa0), 0xc1);
        assert_eq!(m.tables.utf8_to_byte(0x430), 0x41);
        assert_eq!(m.tables.utf8_to_byte(0x42), 0x42);
        assert_eq!(m.tables.utf8_to_byte(0x431), 0);
        assert_eq!(dst2src.iter().filter(|p| p.is_some()).count(), 2);
        let (m, reverse) = conf.find_map(b"a", b"b").unwrap();
        assert!(!reverse);
        let MapTables::Bytes { src2dst, dst2src } = &m.tables else {
            panic!("{m:?}")
        };
        assert_eq!(
            (src2dst[0x58], dst2src[0x59], dst2src[0x58]),
            (0x59, 0x58, 0x58)
        );
        assert_eq!((src2dst[0x80], dst2src[0xff]), (b'?', b'?'));
    }

    #[test]
    fn hex_values_as_ngx_hextoi_reads_them() {
        assert_eq!(hextoi(b"58"), Some(0x58));
        assert_eq!(hextoi(b"fF"), Some(255));
        assert_eq!(hextoi(b"0000e0"), Some(0xe0));
        assert_eq!(hextoi(b""), None);
        assert_eq!(hextoi(b"0x5"), None);
        assert_eq!(hextoi(b"g"), None);
        assert_eq!(hextoi(b"ffffffffffff"), None);
    }
}
