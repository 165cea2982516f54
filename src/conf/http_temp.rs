//! The temp-file paths: `client_body_temp_path` (ngx_http_core_module) and
//! `proxy_temp_path`, `fastcgi_temp_path`, `uwsgi_temp_path`,
//! `scgi_temp_path` (their upstream modules).
//!
//! holdfast keeps request bodies in memory (it discards them; it has no
//! module that reads them yet) and has no upstream modules, so it writes no
//! temp file: these directives are checked as nginx checks them
//! (ngx_conf_set_path_slot: `PATH [L1 [L2 [L3]]]`, levels 1 or 2) so that a
//! configuration carrying them runs, and `holdfast -T` says they have no
//! effect.

use super::ConfError;
use super::build::Builder;
use super::command::{ANY_HTTP, Command, cmd, once};
use super::parser::Directive;
use super::values::parse_number;
use std::path::PathBuf;

/// The temp-path directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("client_body_temp_path", ANY_HTTP, false, 1, 4),
    cmd("proxy_temp_path", ANY_HTTP, false, 1, 4),
    cmd("fastcgi_temp_path", ANY_HTTP, false, 1, 4),
    cmd("uwsgi_temp_path", ANY_HTTP, false, 1, 4),
    cmd("scgi_temp_path", ANY_HTTP, false, 1, 4),
];

/// One level's temp paths as written (each at most once per level).
#[derive(Debug, Default)]
pub(super) struct RawTemp {
    client_body: Option<PathBuf>,
    proxy: Option<PathBuf>,
    fastcgi: Option<PathBuf>,
    uwsgi: Option<PathBuf>,
    scgi: Option<PathBuf>,
}

impl Builder<'_> {
    /// Mirrors ngx_conf_set_path_slot(); `Ok(false)` when `d` is not one of
    /// the temp-path directives.
    pub(super) fn temp_directive(
        &self,
        d: &Directive,
        raw: &mut RawTemp,
    ) -> Result<bool, ConfError> {
        let slot = match d.name.as_str() {
            "client_body_temp_path" => &mut raw.client_body,
            "proxy_temp_path" => &mut raw.proxy,
            "fastcgi_temp_path" => &mut raw.fastcgi,
            "uwsgi_temp_path" => &mut raw.uwsgi,
            "scgi_temp_path" => &mut raw.scgi,
            _ => return Ok(false),
        };
        once(slot, d)?;
        for level in &d.args[1..] {
            match parse_number(level) {
                Ok(1 | 2) => {}
                _ => return Err(d.error(format!("invalid value \"{level}\""))),
            }
        }
        let path = self.path(&d.args[0]);
        self.notes.borrow_mut().push(format!(
            "{} {}: accepted, no effect (holdfast writes no temp files) in {}:{}",
            d.name,
            path.display(),
            d.file.display(),
            d.line
        ));
        *slot = Some(path);
        Ok(true)
    }
}
