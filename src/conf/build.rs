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
    /// The http block's `upstream` blocks, read before its servers so a
    /// `proxy_pass` finds a block written after it (nginx resolves them at
    /// the end of the http block).
    pub(super) upstreams: RefCell<Vec<Rc<super::http_upstream::UpstreamConf>>>,
    /// The implicit upstreams `proxy_pass` without variables defines
    /// (nginx's ngx_http_upstream_add for its URL): host, port, address.
    pub(super) implicit: RefCell<Vec<super::ImplicitUpstream>>,
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
            upstreams: RefCell::new(Vec::new()),
            implicit: RefCell::new(Vec::new()),
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

/// The variables the configuration defines (nginx adds them while it parses
/// and resolves names at the end, so they may be used anywhere): named
/// groups of every regex (locations, `rewrite`, `if`, regex server names,
/// map keys), `set` names, `map` names.
pub(super) fn defined_names(tree: &[Directive], names: &mut super::variables::DefinedNames) {
    let group_names = |re: &str, names: &mut super::variables::DefinedNames| {
        if let Ok(re) = super::http_rewrite::compile_regex(re, false) {
            for n in re.capture_names().flatten() {
                let n = n.to_ascii_lowercase();
                if !names.captures.contains(&n) {
                    names.captures.push(n);
                }
            }
        }
    };
    for d in tree {
        match d.name.as_str() {
            "location" => {
                let re = match d.args.as_slice() {
                    [m, re] if m == "~" || m == "~*" => Some(re.as_str()),
                    [re] => re.strip_prefix("~*").or_else(|| re.strip_prefix('~')),
                    _ => None,
                };
                if let Some(re) = re {
                    group_names(re, names);
                }
            }
            "rewrite" | "if" => {
                for (re, _) in super::http_rewrite::patterns(d) {
                    group_names(re, names);
                }
            }
            "server_name" => {
                for a in d.args.iter().filter_map(|a| a.strip_prefix('~')) {
                    group_names(a, names);
                }
            }
            "set" => {
                if let Some(n) = d.args.first().and_then(|a| a.strip_prefix('$')) {
                    let n = n.to_ascii_lowercase();
                    let builtin = super::variables::Variable::lookup(&n)
                        .is_some_and(|v| !matches!(v, super::variables::Variable::NamedCapture(_)));
                    if !n.is_empty() && !builtin && !names.user.contains(&n) {
                        names.user.push(n);
                    }
                }
            }
            "map" => {
                if let Some(n) = d.args.get(1).and_then(|a| a.strip_prefix('$')) {
                    names.maps.push(n.to_ascii_lowercase());
                }
                for line in d.block.iter().flatten() {
                    if let Some(re) = line
                        .name
                        .strip_prefix("~*")
                        .or_else(|| line.name.strip_prefix('~'))
                    {
                        group_names(re, names);
                    }
                }
                continue;
            }
            _ => {}
        }
        if let Some(block) = &d.block {
            defined_names(block, names);
        }
    }
}
