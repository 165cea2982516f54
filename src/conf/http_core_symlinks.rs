//! ngx_http_core_module's `disable_symlinks off | on | if_not_owner
//! [from=PART]` (ngx_http_disable_symlinks()). What it does to a lookup is
//! in `core/open_file_cache.rs`; which part of a path it covers is decided
//! per request by `http::core_module::set_disable_symlinks`.

use std::rc::Rc;

use super::ConfError;
use super::parser::Directive;
use super::variables::{self, Segment};
use crate::core::open_file_cache::DisableSymlinks;

/// A level's `disable_symlinks` (inherited as a whole).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisableSymlinksConf {
    /// `off` (the default), `on` or `if_not_owner`.
    pub mode: DisableSymlinks,
    /// `from=PART`, compiled (variables allowed: `from=$document_root`):
    /// links in the part of a path up to it are followed.
    pub from: Option<Rc<[Segment]>>,
}

/// Mirrors ngx_http_disable_symlinks(): the mode, then at most one
/// `from=`, which `off` does not take.
pub(super) fn disable_symlinks(
    d: &Directive,
    slot: &mut Option<DisableSymlinksConf>,
) -> Result<(), ConfError> {
    if slot.is_some() {
        return Err(super::command::bad(d, "is duplicate"));
    }
    let mut mode = None;
    let mut from = None;
    for a in &d.args {
        match a.as_str() {
            "off" => mode = Some(DisableSymlinks::Off),
            "on" => mode = Some(DisableSymlinks::On),
            "if_not_owner" => mode = Some(DisableSymlinks::IfNotOwner),
            _ => match a.strip_prefix("from=") {
                Some(v) => from = Some(Rc::from(variables::compile(v).map_err(|e| d.error(e))?)),
                None => return Err(d.error(format!("invalid parameter \"{a}\""))),
            },
        }
    }
    let Some(mode) = mode else {
        return Err(d.error(format!(
            "\"{}\" must have \"off\", \"on\" or \"if_not_owner\" parameter",
            d.name
        )));
    };
    if d.args.len() == 2 {
        if from.is_none() {
            return Err(d.error(format!(
                "duplicate parameters \"{} {}\"",
                d.args[0], d.args[1]
            )));
        }
        if mode == DisableSymlinks::Off {
            return Err(d.error("\"from=\" cannot be used with \"off\" parameter"));
        }
    }
    *slot = Some(DisableSymlinksConf { mode, from });
    Ok(())
}
