//! ngx_http_charset_module's configuration (`ngx_http_charset_filter_module.c`):
//! `charset`, `source_charset`, `override_charset`, `charset_types`, and the
//! recoding tables of `charset_map` (`http_charset_map.rs`).
//!
//! A level whose `source_charset` and `charset` are two different names
//! needs a `charset_map` between them (either way round), written anywhere
//! in the http block: without one the configuration is refused when the
//! block ends, as nginx's ngx_http_charset_postconfiguration refuses it (`no
//! "charset_map" between the charsets "A" and "B"`, with no file or line);
//! names that only variables give are checked per request, as nginx does
//! (`http/charset_filter.rs`).

use std::cell::RefCell;
use std::rc::Rc;

use super::ConfError;
use super::command::{ANY_HTTP, Command, HTTP, LIF, MANY, bad, cmd, flag_slot};
use super::parser::Directive;
use super::variables::{self, Segment};

pub use super::http_charset_map::{
    CharsetMap, MapTables, UTF_LEN, UTF8_ERROR, UTF8_INCOMPLETE, utf8_decode,
};

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("charset", ANY_HTTP | LIF, false, 1, 1),
    cmd("source_charset", ANY_HTTP | LIF, false, 1, 1),
    cmd("override_charset", ANY_HTTP | LIF, false, 1, 1),
    cmd("charset_types", ANY_HTTP, false, 1, MANY),
    cmd("charset_map", HTTP, true, 2, 2),
];

/// nginx's ngx_http_charset_default_types: what `charset` applies to when
/// no level sets `charset_types`.
pub const CHARSET_DEFAULT_TYPES: [&str; 6] = [
    "text/html",
    "text/xml",
    "text/plain",
    "text/vnd.wap.wml",
    "application/javascript",
    "application/rss+xml",
];

/// A `charset` or `source_charset` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CharsetName {
    /// `charset off`; for `source_charset`, not set (nginx's
    /// NGX_HTTP_CHARSET_OFF, the default of both).
    Off,
    /// A name, as written (names compare without regard to case).
    Name(Rc<str>),
    /// `$variable`: the name is its value, per request.
    Var(Rc<[Segment]>),
}

/// `charset_types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CharsetTypes {
    /// `*`: every type.
    All,
    /// These types (lower-cased).
    List(Rc<[Box<str>]>),
}

impl CharsetTypes {
    /// Mirrors ngx_http_test_content_type(): is `ctype` (the type without
    /// its parameters) one of them?
    pub fn matches(&self, ctype: &[u8]) -> bool {
        match self {
            CharsetTypes::All => true,
            CharsetTypes::List(l) => l.iter().any(|t| t.as_bytes().eq_ignore_ascii_case(ctype)),
        }
    }
}

/// A level's charset settings, merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharsetConf {
    /// `charset` (off).
    pub charset: CharsetName,
    /// `source_charset` (not set).
    pub source_charset: CharsetName,
    /// `override_charset` (off): a response with a charset of its own (a
    /// peer's) gets `charset` anyway.
    pub override_charset: bool,
    /// `charset_types`.
    pub types: CharsetTypes,
    /// Every name `charset` and `source_charset` write anywhere in the
    /// http block (nginx's main conf `charsets`): a name that a variable, a
    /// peer's Content-Type or X-Accel-Charset gives is known only if it is
    /// one of them.
    pub known: Rc<[Rc<str>]>,
    /// The http block's `charset_map` tables (nginx's main conf `tables`).
    pub maps: Rc<[Rc<CharsetMap>]>,
}

impl CharsetConf {
    /// Mirrors ngx_http_get_charset(): is `name` one of the known names?
    pub fn is_known(&self, name: &[u8]) -> bool {
        self.known
            .iter()
            .any(|k| k.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The table that recodes `src` into `dst` (nginx's
    /// `charsets[src].tables[dst]`): a `charset_map src dst` read forwards,
    /// or a `charset_map dst src` read backwards (true).
    pub fn find_map(&self, src: &[u8], dst: &[u8]) -> Option<(Rc<CharsetMap>, bool)> {
        find_map(&self.maps, src, dst)
    }
}

fn find_map(maps: &[Rc<CharsetMap>], src: &[u8], dst: &[u8]) -> Option<(Rc<CharsetMap>, bool)> {
    let eq = |a: &Rc<str>, b: &[u8]| a.as_bytes().eq_ignore_ascii_case(b);
    maps.iter().find_map(|m| {
        if eq(&m.src, src) && eq(&m.dst, dst) {
            Some((m.clone(), false))
        } else if eq(&m.dst, src) && eq(&m.src, dst) {
            Some((m.clone(), true))
        } else {
            None
        }
    })
}

/// One level's settings as written.
#[derive(Debug, Default)]
pub(super) struct RawCharset {
    charset: Option<CharsetName>,
    source_charset: Option<CharsetName>,
    override_charset: Option<bool>,
    /// None after `*` (later `charset_types` of the level add nothing).
    types: Option<Option<Vec<String>>>,
}

thread_local! {
    /// The names of the http block being read (see [`CharsetConf::known`]).
    static CHARSETS: RefCell<Rc<[Rc<str>]>> = RefCell::new(Rc::from([]));
    /// The `charset_map` tables of the http block being read.
    static MAPS: RefCell<Rc<[Rc<CharsetMap>]>> = RefCell::new(Rc::from([]));
    /// The first level whose recoding has no table.
    static MERGE_ERROR: RefCell<Option<ConfError>> = const { RefCell::new(None) };
}

/// An http block starts: no names yet, no error.
pub(super) fn start() {
    CHARSETS.with(|c| *c.borrow_mut() = Rc::from([]));
    MAPS.with(|m| *m.borrow_mut() = Rc::from([]));
    MERGE_ERROR.with(|m| m.borrow_mut().take());
}

/// ngx_http_charset_postconfiguration's refusal, if a merge found a level
/// that needs a `charset_map` (cleared).
pub(super) fn take_merge_error() -> Option<ConfError> {
    MERGE_ERROR.with(|m| m.borrow_mut().take())
}

/// Mirrors ngx_http_add_charset(): the name as the list has it (the first
/// spelling written), added if new.
pub(super) fn add_charset(name: &str) -> Rc<str> {
    CHARSETS.with(|c| {
        let mut list = c.borrow_mut();
        if let Some(k) = list.iter().find(|k| k.eq_ignore_ascii_case(name)) {
            return k.clone();
        }
        let k: Rc<str> = Rc::from(name);
        *list = list.iter().cloned().chain([k.clone()]).collect();
        k
    })
}

/// The tables read so far (for `charset_map`'s duplicate check).
pub(super) fn maps() -> Rc<[Rc<CharsetMap>]> {
    MAPS.with(|m| m.borrow().clone())
}

/// Adds a `charset_map`'s tables.
pub(super) fn add_map(map: CharsetMap) {
    MAPS.with(|m| {
        let mut list = m.borrow_mut();
        *list = list.iter().cloned().chain([Rc::new(map)]).collect();
    });
}

/// The charset module's directives; `Ok(false)` when `d` is not one of
/// them.
pub(super) fn directive(d: &Directive, raw: &mut RawCharset) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "charset" => set_charset_slot(d, &mut raw.charset, true)?,
        "source_charset" => set_charset_slot(d, &mut raw.source_charset, false)?,
        "override_charset" => flag_slot(&mut raw.override_charset, d)?,
        "charset_types" => types_slot(d, &mut raw.types),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Mirrors ngx_http_set_charset_slot(): `off` (for `charset` only: a
/// `source_charset off` names a charset called "off", as in nginx), a
/// `$variable`, or a name.
fn set_charset_slot(
    d: &Directive,
    slot: &mut Option<CharsetName>,
    off: bool,
) -> Result<(), ConfError> {
    if slot.is_some() {
        return Err(bad(d, "is duplicate"));
    }
    let v = d.args[0].as_str();
    *slot = Some(if off && v == "off" {
        CharsetName::Off
    } else if let Some(name) = v.strip_prefix('$') {
        // The whole rest is the variable's name (ngx_http_get_variable_index).
        let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match variables::compile(v) {
            Ok(segs) if plain && matches!(segs.as_slice(), [Segment::Var(_)]) => {
                CharsetName::Var(Rc::from(segs))
            }
            Err(e) if plain => return Err(d.error(e)),
            _ => {
                return Err(d.error(format!(
                    "unknown \"{}\" variable",
                    name.to_ascii_lowercase()
                )));
            }
        }
    } else {
        CharsetName::Name(add_charset(v))
    });
    Ok(())
}

/// Mirrors ngx_http_types_slot() with the module's default: a level's first
/// `charset_types` starts from `text/html` (so it is always among them),
/// each directive adds (a repeated type only warns), and `*` means every
/// type, after which the level's later lists count for nothing.
fn types_slot(d: &Directive, slot: &mut Option<Option<Vec<String>>>) {
    let Some(list) = slot.get_or_insert_with(|| Some(vec!["text/html".to_string()])) else {
        return;
    };
    for t in &d.args {
        if t == "*" {
            *slot = Some(None);
            return;
        }
        let t = t.to_ascii_lowercase();
        if list.contains(&t) {
            log::warn!(
                "duplicate MIME type \"{t}\" in {}:{}",
                d.file.display(),
                d.line
            );
            continue;
        }
        list.push(t);
    }
}

/// The settings of a level that sets nothing (ngx_http_charset_create_loc_conf
/// merged with nothing).
pub(super) fn default_conf() -> Rc<CharsetConf> {
    Rc::new(CharsetConf {
        charset: CharsetName::Off,
        source_charset: CharsetName::Off,
        override_charset: false,
        types: CharsetTypes::List(CHARSET_DEFAULT_TYPES.iter().map(|t| (*t).into()).collect()),
        known: CHARSETS.with(|c| c.borrow().clone()),
        maps: maps(),
    })
}

/// Mirrors ngx_http_charset_merge_loc_conf() and the check of
/// ngx_http_charset_postconfiguration(): unset values come from the
/// parent; a level that recodes between two written names needs a
/// `charset_map` between them (the error waits for [`take_merge_error`]).
pub(super) fn merge(raw: RawCharset, parent: &Rc<CharsetConf>) -> Rc<CharsetConf> {
    if raw.charset.is_none()
        && raw.source_charset.is_none()
        && raw.override_charset.is_none()
        && raw.types.is_none()
    {
        return parent.clone();
    }
    let conf = CharsetConf {
        charset: raw.charset.unwrap_or_else(|| parent.charset.clone()),
        source_charset: raw
            .source_charset
            .unwrap_or_else(|| parent.source_charset.clone()),
        override_charset: raw.override_charset.unwrap_or(parent.override_charset),
        types: match raw.types {
            None => parent.types.clone(),
            Some(None) => CharsetTypes::All,
            Some(Some(l)) => CharsetTypes::List(l.into_iter().map(Box::from).collect()),
        },
        known: CHARSETS.with(|c| c.borrow().clone()),
        maps: maps(),
    };
    if let (CharsetName::Name(dst), CharsetName::Name(src)) = (&conf.charset, &conf.source_charset)
        && !Rc::ptr_eq(dst, src)
        && conf.find_map(src.as_bytes(), dst.as_bytes()).is_none()
    {
        MERGE_ERROR.with(|m| {
            m.borrow_mut().get_or_insert_with(|| ConfError {
                msg: format!("no \"charset_map\" between the charsets \"{src}\" and \"{dst}\""),
                file: None,
                line: 0,
            });
        });
    }
    Rc::new(conf)
}
