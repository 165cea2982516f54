//! From the directive tree to the typed [`Config`]: the walk over the
//! contexts and what every module's handlers share.
//!
//! Mirrors ngx_init_cycle()'s configuration part: `-g` directives first (as
//! if written before the file, reported `in command line`), then the file,
//! each directive checked by ngx_conf_handler() (`command.rs`) and handed to
//! its module: `core.rs` (main, events, error_log), `http_core.rs` (http,
//! server, location and the merge), `http_log.rs`, `http_headers.rs`,
//! `http_rewrite.rs`, `http_stub_status.rs`, `http_temp.rs`, `listen.rs`.

use super::http_log::LogFormats;
use super::parser::{self, Directive};
use super::{ConfError, ConfFile, Config, ErrorLog, Options};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The name `-g` directives are reported under (nginx: `in command line`).
pub const COMMAND_LINE: &str = "command line";

/// Reads `file` and builds the configuration (see [`Config::load_with`]).
pub(super) fn load(file: &Path, prefix: &Path, options: &Options) -> Result<Config, ConfError> {
    let mut files = Vec::new();
    let mut tree = globals(options, file)?;
    tree.extend(parser::parse_file(file, conf_dir(file), &mut files)?);
    Builder::new(file, prefix, options, files).main(&tree)
}

/// Parses `text` as if it were `file` (see [`Config::from_str`]).
pub(super) fn load_str(text: &str, file: &Path, prefix: &Path) -> Result<Config, ConfError> {
    let mut files = Vec::new();
    let tree = parser::parse_str(text, file, conf_dir(file), &mut files)?;
    Builder::new(file, prefix, &Options::default(), files).main(&tree)
}

/// The `-g` directives, parsed as main-context text of their own.
fn globals(options: &Options, file: &Path) -> Result<Vec<Directive>, ConfError> {
    let Some(g) = &options.globals else {
        return Ok(Vec::new());
    };
    let mut ignored = Vec::new();
    let mut tree = parser::parse_str(g, Path::new(COMMAND_LINE), conf_dir(file), &mut ignored)
        .map_err(|mut e| {
            // nginx names no line for the command line.
            e.line = 0;
            e
        })?;
    fn no_lines(ds: &mut [Directive]) {
        for d in ds {
            d.line = 0;
            if let Some(b) = d.block.as_mut() {
                no_lines(b);
            }
        }
    }
    no_lines(&mut tree);
    Ok(tree)
}

/// nginx's conf prefix: the main file's directory, where `include` starts.
fn conf_dir(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new("."))
}

/// Walks the tree; holds what the modules' handlers share: the prefix
/// relative paths resolve against, the command-line options, the main
/// error log (inherited by every http level), the `log_format`s defined so
/// far (nginx's ngx_http_log_main_conf_t) and notes for `-T`.
pub(super) struct Builder<'a> {
    pub(super) file: &'a Path,
    pub(super) prefix: &'a Path,
    pub(super) options: &'a Options,
    pub(super) files: Vec<ConfFile>,
    pub(super) formats: RefCell<LogFormats>,
    pub(super) main_error_log: RefCell<Rc<[ErrorLog]>>,
    pub(super) notes: RefCell<Vec<String>>,
}

impl<'a> Builder<'a> {
    fn new(file: &'a Path, prefix: &'a Path, options: &'a Options, files: Vec<ConfFile>) -> Self {
        let b = Builder {
            file,
            prefix,
            options,
            files,
            formats: RefCell::new(LogFormats::new()),
            main_error_log: RefCell::new(Rc::from([])),
            notes: RefCell::new(Vec::new()),
        };
        b.main_error_log
            .replace(b.default_error_log().into_iter().collect());
        b
    }

    /// Mirrors ngx_conf_full_name(): relative paths are under the prefix.
    pub(super) fn path(&self, s: &str) -> PathBuf {
        self.prefix.join(s)
    }
}
