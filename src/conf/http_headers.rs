//! ngx_http_headers_filter_module's configuration: `add_header`.
//!
//! Mirrors ngx_http_headers_add() and ngx_http_headers_merge_conf(): a level
//! with any `add_header` of its own does not inherit the outer level's list.

use super::command::{ANY_HTTP, Command, LIF, cmd};
use super::parser::Directive;
use super::variables;
use super::{AddHeader, ConfError};
use std::rc::Rc;

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[cmd("add_header", ANY_HTTP | LIF, false, 2, 3)];

/// One level's `add_header`s as written.
#[derive(Debug, Default)]
pub(super) struct RawHeaders {
    add_headers: Option<Vec<AddHeader>>,
}

/// The module's directives at any http level; `Ok(false)` when `d` is not one.
pub(super) fn directive(d: &Directive, raw: &mut RawHeaders) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "add_header" => add_header(d, raw.add_headers.get_or_insert_with(Vec::new))?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Mirrors ngx_http_headers_merge_conf(): the level's own list, else the parent's.
pub(super) fn merge(raw: RawHeaders, parent: &Rc<[AddHeader]>) -> Rc<[AddHeader]> {
    raw.add_headers.map_or_else(|| parent.clone(), Rc::from)
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
