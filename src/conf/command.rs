//! The directive tables and the checks every directive goes through.
//!
//! Mirrors `ngx_command_t` (one table per module, in the module's own file:
//! `core.rs`, `http_core.rs`, `http_log.rs`, ...), ngx_conf_handler() (known
//! name, allowed here, `;` or `{`, number of arguments) and the generic
//! `ngx_conf_set_*_slot` handlers that the modules' directives share.

use super::ConfError;
use super::parser::Directive;
use super::values::{parse_number, parse_size, parse_time_ms, parse_time_s};

// Contexts (nginx's NGX_MAIN_CONF, NGX_EVENT_CONF, NGX_HTTP_{MAIN,SRV,LOC}_CONF,
// later NGX_HTTP_UPS_CONF for `upstream { }` blocks).
/// The main (top-level) context.
pub(super) const MAIN: u16 = 0x01;
/// Inside `events { }`.
pub(super) const EVENTS: u16 = 0x02;
/// Inside `http { }`.
pub(super) const HTTP: u16 = 0x04;
/// Inside `server { }`.
pub(super) const SRV: u16 = 0x08;
/// Inside `location { }`.
pub(super) const LOC: u16 = 0x10;
/// Inside `if { }` at server level (nginx's NGX_HTTP_SIF_CONF).
pub(super) const SIF: u16 = 0x20;
/// Inside `if { }` in a location (nginx's NGX_HTTP_LIF_CONF).
pub(super) const LIF: u16 = 0x40;
/// Inside `limit_except { }` (NGX_HTTP_LMT_CONF).
pub(super) const LMT: u16 = 0x80;
/// http, server and location.
pub(super) const ANY_HTTP: u16 = HTTP | SRV | LOC;
/// No upper bound on the number of arguments.
pub(super) const MANY: usize = usize::MAX;

/// One entry of a module's directive table (nginx's ngx_command_t, minus the
/// handler, which is the module's `match` on the name).
#[derive(Debug)]
pub(super) struct Command {
    /// The directive's name.
    pub(super) name: &'static str,
    /// Where it may appear (bits above).
    pub(super) ctx: u16,
    /// `name ... { }` rather than `name ...;`.
    pub(super) block: bool,
    /// Fewest arguments.
    pub(super) min_args: usize,
    /// Most arguments.
    pub(super) max_args: usize,
}

/// Builds a [`Command`].
pub(super) const fn cmd(
    name: &'static str,
    ctx: u16,
    block: bool,
    min_args: usize,
    max_args: usize,
) -> Command {
    Command {
        name,
        ctx,
        block,
        min_args,
        max_args,
    }
}

/// Every module's table, in nginx's module order.
fn tables() -> [&'static [Command]; 18] {
    [
        super::core::COMMANDS,
        super::http_core::COMMANDS,
        super::resolver::COMMANDS,
        super::http_log::COMMANDS,
        super::http_headers::COMMANDS,
        super::http_gzip::COMMANDS,
        super::http_ssl::COMMANDS,
        super::http_rewrite::COMMANDS,
        super::http_access::COMMANDS,
        super::http_autoindex::COMMANDS,
        super::http_map::COMMANDS,
        super::http_proxy::COMMANDS,
        super::http_proxy_ssl::COMMANDS,
        super::http_upstream::COMMANDS,
        super::http_stub_status::COMMANDS,
        super::http_connection_status::COMMANDS,
        super::http_charset::COMMANDS,
        super::http_temp::COMMANDS,
    ]
}

/// The table entry for a directive name.
pub(super) fn find(name: &str) -> Option<&'static Command> {
    tables()
        .into_iter()
        .flat_map(|t| t.iter())
        .find(|c| c.name == name)
}

/// Mirrors ngx_conf_handler()'s checks: known name, allowed in this context,
/// `;` vs `{`, and the number of arguments.
pub(super) fn check(d: &Directive, ctx: u16) -> Result<(), ConfError> {
    let Some(cmd) = find(&d.name) else {
        return Err(unknown(d));
    };
    if cmd.ctx & ctx == 0 {
        return Err(d.error(format!("\"{}\" directive is not allowed here", d.name)));
    }
    if !cmd.block && d.block.is_some() {
        return Err(d.error(format!(
            "directive \"{}\" is not terminated by \";\"",
            d.name
        )));
    }
    if cmd.block && d.block.is_none() {
        return Err(d.error(format!("directive \"{}\" has no opening \"{{\"", d.name)));
    }
    if d.args.len() < cmd.min_args || d.args.len() > cmd.max_args {
        return Err(d.error(format!(
            "invalid number of arguments in \"{}\" directive",
            d.name
        )));
    }
    Ok(())
}

/// `unknown directive "NAME"`, as nginx says it; for a directive of an nginx
/// module holdfast does not have, the module is named too, so a copied
/// configuration says what is missing rather than what is misspelt.
pub(super) fn unknown(d: &Directive) -> ConfError {
    match super::modules::module_of(&d.name) {
        Some(m) => d.error(format!(
            "unknown directive \"{}\": holdfast has no {} (see README, \"nginx modules\")",
            d.name, m
        )),
        None => d.error(format!("unknown directive \"{}\"", d.name)),
    }
}

/// `"NAME" directive MSG`: how nginx reports the string a handler returns.
pub(super) fn bad(d: &Directive, msg: &str) -> ConfError {
    d.error(format!("\"{}\" directive {msg}", d.name))
}

/// The `"NAME" directive is duplicate` check of the *_slot handlers.
pub(super) fn once<T>(slot: &Option<T>, d: &Directive) -> Result<(), ConfError> {
    match slot {
        Some(_) => Err(bad(d, "is duplicate")),
        None => Ok(()),
    }
}

/// The directives inside a block directive (checked to be a block already).
pub(super) fn block(d: &Directive) -> &[Directive] {
    d.block.as_deref().unwrap_or_default()
}

/// Mirrors ngx_conf_set_flag_slot(): `on` or `off`, any case.
pub(super) fn flag(d: &Directive) -> Result<bool, ConfError> {
    let v = &d.args[0];
    if v.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(d.error(format!(
            "invalid value \"{v}\" in \"{}\" directive, it must be \"on\" or \"off\"",
            d.name
        )))
    }
}

/// [`flag`] into a slot that must not be set twice.
pub(super) fn flag_slot(slot: &mut Option<bool>, d: &Directive) -> Result<(), ConfError> {
    once(slot, d)?;
    *slot = Some(flag(d)?);
    Ok(())
}

/// Mirrors ngx_conf_set_num_slot().
pub(super) fn number(d: &Directive, i: usize) -> Result<u64, ConfError> {
    parse_number(&d.args[i]).map_err(|_| bad(d, "invalid number"))
}

/// [`number`] into a slot that must not be set twice.
pub(super) fn num_slot(slot: &mut Option<u64>, d: &Directive) -> Result<(), ConfError> {
    once(slot, d)?;
    *slot = Some(number(d, 0)?);
    Ok(())
}

/// Mirrors ngx_conf_set_size_slot() (holdfast also refuses 0 where a buffer
/// size is meant).
pub(super) fn size(d: &Directive, i: usize) -> Result<usize, ConfError> {
    parse_size(&d.args[i])
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(d, "invalid value"))
}

/// Mirrors ngx_conf_set_size_slot() where 0 is a meaningful value
/// (`sendfile_max_chunk 0`, `limit_rate 0`).
pub(super) fn size_or_zero(d: &Directive, i: usize) -> Result<usize, ConfError> {
    parse_size(&d.args[i]).map_err(|_| bad(d, "invalid value"))
}

/// Mirrors ngx_conf_set_msec_slot().
pub(super) fn msec(d: &Directive, i: usize) -> Result<u64, ConfError> {
    parse_time_ms(&d.args[i]).map_err(|_| bad(d, "invalid value"))
}

/// [`msec`] into a slot that must not be set twice.
pub(super) fn msec_slot(slot: &mut Option<u64>, d: &Directive) -> Result<(), ConfError> {
    once(slot, d)?;
    *slot = Some(msec(d, 0)?);
    Ok(())
}

/// Mirrors ngx_conf_set_sec_slot().
pub(super) fn sec(d: &Directive, i: usize) -> Result<u64, ConfError> {
    parse_time_s(&d.args[i]).map_err(|_| bad(d, "invalid value"))
}

/// Mirrors ngx_conf_set_enum_slot(): one of `values` (any case), else
/// `invalid value "V"`.
pub(super) fn enum_value<T: Copy>(d: &Directive, values: &[(&str, T)]) -> Result<T, ConfError> {
    let v = &d.args[0];
    values
        .iter()
        .find(|(name, _)| v.eq_ignore_ascii_case(name))
        .map(|(_, t)| *t)
        .ok_or_else(|| d.error(format!("invalid value \"{v}\"")))
}
