//! ngx_http_stub_status_module's configuration: `stub_status`.

use super::ConfError;
use super::command::{Command, LOC, SRV, cmd};
use super::parser::Directive;

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[cmd("stub_status", SRV | LOC, false, 0, 1)];

/// Mirrors ngx_http_set_stub_status(): the level answers with the status
/// page (nginx ignores an argument, left from the old `stub_status on`).
pub(super) fn directive(d: &Directive, stub_status: &mut bool) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "stub_status" => *stub_status = true,
        _ => return Ok(false),
    }
    Ok(true)
}
