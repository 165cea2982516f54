//! The temp-file paths: `client_body_temp_path` (ngx_http_core_module) and
//! `proxy_temp_path`, `fastcgi_temp_path`, `uwsgi_temp_path`,
//! `scgi_temp_path` (their upstream modules).
//!
//! Checked as nginx checks them (ngx_conf_set_path_slot: `PATH [L1 [L2
//! [L3]]]`, levels 1 or 2). `client_body_temp_path` and `proxy_temp_path`
//! are where request bodies past `client_body_buffer_size` and responses
//! past `proxy_buffers` go (`core/file.rs`); the fastcgi, uwsgi and scgi
//! paths belong to modules holdfast does not have (their `*_pass` is
//! refused), so `holdfast -T` says they have no effect.

use super::ConfError;
use super::build::Builder;
use super::command::{ANY_HTTP, Command, cmd, once};
use super::parser::Directive;
use super::values::parse_number;
use crate::core::file::TempPath;
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
    pub(super) client_body: Option<TempPath>,
    pub(super) proxy: Option<TempPath>,
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
        let mut levels = Vec::new();
        for level in &d.args[1..] {
            match parse_number(level) {
                Ok(n @ (1 | 2)) => levels.push(n as usize),
                _ => return Err(d.error(format!("invalid value \"{level}\""))),
            }
        }
        let path = self.path(&d.args[0]);
        let slot = match d.name.as_str() {
            "client_body_temp_path" => &mut raw.client_body,
            "proxy_temp_path" => &mut raw.proxy,
            "fastcgi_temp_path" | "uwsgi_temp_path" | "scgi_temp_path" => {
                let other = match d.name.as_str() {
                    "fastcgi_temp_path" => &mut raw.fastcgi,
                    "uwsgi_temp_path" => &mut raw.uwsgi,
                    _ => &mut raw.scgi,
                };
                once(other, d)?;
                self.notes.borrow_mut().push(format!(
                    "{} {}: accepted, no effect (holdfast has no {} module) in {}:{}",
                    d.name,
                    path.display(),
                    d.name.trim_end_matches("_temp_path"),
                    d.file.display(),
                    d.line
                ));
                *other = Some(path);
                return Ok(true);
            }
            _ => return Ok(false),
        };
        once(slot, d)?;
        *slot = Some(TempPath { path, levels });
        Ok(true)
    }
}
