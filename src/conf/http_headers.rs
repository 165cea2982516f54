//! ngx_http_headers_filter_module's configuration: `add_header` and
//! `expires`.
//!
//! Mirrors ngx_http_headers_add() and ngx_http_headers_merge_conf(): a level
//! with any `add_header` of its own does not inherit the outer level's list.

use super::command::{ANY_HTTP, Command, LIF, cmd};
use super::parser::Directive;
use super::variables;
use super::{AddHeader, ConfError};
use std::rc::Rc;

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("add_header", ANY_HTTP | LIF, false, 2, 3),
    cmd("expires", ANY_HTTP | LIF, false, 1, 2),
];

/// `expires`: what the Expires and Cache-Control headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expires {
    /// `off` (default): nothing is added.
    Off,
    /// `epoch`: expired long ago, `no-cache`.
    Epoch,
    /// `max`: 31 Dec 2037, ten years of max-age.
    Max,
    /// `[modified] TIME`: seconds after now (or after Last-Modified), may
    /// be negative.
    Access {
        /// `modified`.
        modified: bool,
        /// The offset in seconds.
        secs: i64,
    },
    /// `@TIME`: the next time of day, in seconds after midnight.
    Daily(i64),
    /// With variables: evaluated per request (`modified` applies).
    Vars {
        /// `modified`.
        modified: bool,
        /// The value.
        value: Rc<[variables::Segment]>,
    },
}

/// Mirrors ngx_http_parse_expires(): `epoch`, `max`, `off`, `@TIME`,
/// `[-]TIME`; `modified` allows only a `[-]TIME`. None when invalid.
pub fn parse_expires(v: &str, modified: bool) -> Option<Expires> {
    match v {
        "epoch" if !modified => return Some(Expires::Epoch),
        "max" if !modified => return Some(Expires::Max),
        "off" if !modified => return Some(Expires::Off),
        _ => {}
    }
    if let Some(t) = v.strip_prefix('@') {
        if modified {
            return None;
        }
        let secs = super::values::parse_time_s(t).ok()?;
        return (secs <= 24 * 3600).then_some(Expires::Daily(secs as i64));
    }
    let (neg, t) = match v.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let secs = super::values::parse_time_s(t).ok()? as i64;
    Some(Expires::Access {
        modified,
        secs: if neg { -secs } else { secs },
    })
}

/// One level's `add_header`s and `expires` as written.
#[derive(Debug, Default)]
pub(super) struct RawHeaders {
    add_headers: Option<Vec<AddHeader>>,
    pub(super) expires: Option<Expires>,
}

/// The module's directives at any http level; `Ok(false)` when `d` is not one.
pub(super) fn directive(d: &Directive, raw: &mut RawHeaders) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "add_header" => add_header(d, raw.add_headers.get_or_insert_with(Vec::new))?,
        "expires" => {
            super::command::once(&raw.expires, d)?;
            let (modified, v) = match d.args.as_slice() {
                [m, v] if m == "modified" => (true, v),
                [v] => (false, v),
                _ => return Err(d.error(format!("invalid value \"{}\"", d.args[0]))),
            };
            raw.expires = Some(if v.contains('$') {
                Expires::Vars {
                    modified,
                    value: Rc::from(variables::compile(v).map_err(|e| d.error(e))?),
                }
            } else {
                parse_expires(v, modified)
                    .ok_or_else(|| d.error(format!("invalid value \"{v}\"")))?
            });
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Mirrors ngx_http_headers_merge_conf(): the level's own list, else the parent's.
pub(super) fn merge(raw: RawHeaders, parent: &Rc<[AddHeader]>) -> Rc<[AddHeader]> {
    raw.add_headers.map_or_else(|| parent.clone(), Rc::from)
}

/// `expires` merged: the level's own, else the parent's.
pub(super) fn merge_expires(
    raw: Option<Expires>,
    parent: &Option<Rc<Expires>>,
) -> Option<Rc<Expires>> {
    match raw {
        Some(e) => Some(Rc::new(e)),
        None => parent.clone(),
    }
}

/// Mirrors ngx_http_headers_add(): `add_header NAME VALUE [always]`, the
/// value compiled (variables allowed; a value that comes out empty adds
/// nothing, and removes what holdfast would send for `Last-Modified` and
/// `ETag`, as nginx's special setters do).
fn add_header(d: &Directive, list: &mut Vec<AddHeader>) -> Result<(), ConfError> {
    let value = variables::compile(&d.args[1]).map_err(|e| d.error(e))?;
    let always = match d.args.get(2).map(String::as_str) {
        None => false,
        Some("always") => true,
        Some(other) => return Err(d.error(format!("invalid parameter \"{other}\""))),
    };
    list.push(AddHeader {
        name: d.args[0].clone(),
        value,
        always,
    });
    Ok(())
}
