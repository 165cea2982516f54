//! ngx_http_connection_status_module's configuration: `connection_status`
//! (holdfast's own module; nginx has no counterpart).

use super::ConfError;
use super::command::{Command, LOC, cmd};
use super::parser::Directive;

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[cmd("connection_status", LOC, false, 0, 0)];

/// Modelled on ngx_http_set_stub_status(): the location answers with the
/// connection inspector (src/http/connection_status.rs).
pub(super) fn directive(d: &Directive, connection_status: &mut bool) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "connection_status" => *connection_status = true,
        _ => return Ok(false),
    }
    Ok(true)
}
