//! ngx_http_rewrite_module's configuration. holdfast has `return` so far;
//! the module's other directives are refused by name (see `modules.rs`).

use super::command::{Command, LIF, LOC, SIF, SRV, cmd};
use super::parser::Directive;
use super::values::parse_number;
use super::{ConfError, LocConf, Return, variables};

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[cmd("return", SRV | SIF | LOC | LIF, false, 1, 2)];

/// One level's rewrite directives as written.
#[derive(Debug, Default)]
pub(super) struct RawRewrite {
    ret: Option<Return>,
}

/// The module's directives at any http level; `Ok(false)` when `d` is not one.
pub(super) fn directive(d: &Directive, raw: &mut RawRewrite) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "return" => {
            // Several `return`s in one block: the first one is what runs.
            let r = parse_return(d)?;
            raw.ret.get_or_insert(r);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A `return` of an outer level wins over the inner one: nginx runs the
/// server-level rewrite phase before it even picks a location.
pub(super) fn merge(raw: RawRewrite, parent: &LocConf) -> Option<Return> {
    parent.ret.clone().or(raw.ret)
}

/// Mirrors ngx_http_rewrite_return(): `return CODE [TEXT]` or `return URL`;
/// the text or URL may hold variables.
fn parse_return(d: &Directive) -> Result<Return, ConfError> {
    let first = &d.args[0];
    let invalid = || d.error(format!("invalid return code \"{first}\""));
    match parse_number(first) {
        Ok(code) => {
            let code = u16::try_from(code)
                .ok()
                .filter(|c| *c <= 999)
                .ok_or_else(invalid)?;
            let text = match d.args.get(1) {
                Some(t) => Some(variables::compile(t).map_err(|e| d.error(e))?),
                None => None,
            };
            Ok(Return { code, text })
        }
        Err(_) => {
            let is_url = ["http://", "https://", "$scheme"]
                .iter()
                .any(|p| first.starts_with(p));
            if d.args.len() != 1 || !is_url {
                return Err(invalid());
            }
            Ok(Return {
                code: 302,
                text: Some(variables::compile(first).map_err(|e| d.error(e))?),
            })
        }
    }
}
