//! ngx_http_map_module's configuration: `map SOURCE $VARIABLE { … }`.
//!
//! Keys are compared without regard to case (nginx hashes them lower-cased
//! and lower-cases the source value before the lookup); `~re` / `~*re`
//! keys are tried in order after the exact and wildcard ones; with
//! `hostnames`, `*.example.com`, `.example.com` and `www.example.*` keys
//! match as server names do. `include` is spliced by the parser. A value is
//! kept for the rest of the request (internal redirects included) unless the
//! map is `volatile`, as nginx caches variables.

use std::collections::HashMap;
use std::rc::Rc;

use super::command::{Command, HTTP, block, cmd};
use super::parser::Directive;
use super::variables::{self, Segment};
use super::{ConfError, LocRegex, http_rewrite};

/// `map SOURCE $VAR { … }` (ngx_http_map_module).
#[derive(Debug, Clone)]
pub struct MapConf {
    /// The source value, compiled.
    pub source: Vec<Segment>,
    /// `hostnames`: the source is a host name, matched with wildcards.
    pub hostnames: bool,
    /// `volatile`: the value is not kept for the rest of the request.
    pub volatile: bool,
    /// Exact keys (lower-cased with `hostnames`; otherwise as written).
    pub exact: HashMap<Box<[u8]>, Rc<[Segment]>>,
    /// `*.example.com` / `.example.com` keys.
    pub wildcard_head: Vec<MapWildcard>,
    /// `www.example.*` keys.
    pub wildcard_tail: Vec<MapWildcard>,
    /// `~re` / `~*re` keys, in order.
    pub regex: Vec<(LocRegex, Rc<[Segment]>)>,
    /// `default` (empty when not given).
    pub default: Option<Rc<[Segment]>>,
}

/// A wildcard key of a `hostnames` map.
#[derive(Debug, Clone)]
pub struct MapWildcard {
    /// The part that must match: `.example.com` (a suffix) or `www.example.`
    /// (a prefix).
    pub part: Box<[u8]>,
    /// `.example.com` written so: `example.com` itself matches too.
    pub bare: bool,
    /// The value.
    pub value: Rc<[Segment]>,
}

impl PartialEq for MapConf {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[cmd("map", HTTP, true, 2, 2)];

/// Mirrors ngx_http_map_block() and ngx_http_map(): one `map` block.
pub(super) fn map_block(d: &Directive) -> Result<MapConf, ConfError> {
    let source = variables::compile(&d.args[0]).map_err(|e| d.error(e))?;
    if !d.args[1].starts_with('$') || d.args[1].len() < 2 {
        return Err(d.error(format!("invalid variable name \"{}\"", d.args[1])));
    }
    let mut m = MapConf {
        source,
        hostnames: false,
        volatile: false,
        exact: HashMap::new(),
        wildcard_head: Vec::new(),
        wildcard_tail: Vec::new(),
        regex: Vec::new(),
        default: None,
    };
    for line in block(d) {
        if line.block.is_some() {
            return Err(line.error("unexpected \"{\""));
        }
        let key = line.name.as_str();
        if line.args.is_empty() && key == "hostnames" {
            m.hostnames = true;
            continue;
        }
        if line.args.is_empty() && key == "volatile" {
            m.volatile = true;
            continue;
        }
        if line.args.len() != 1 {
            return Err(line.error("invalid number of the map parameters"));
        }
        let value: Rc<[Segment]> =
            Rc::from(variables::compile(&line.args[0]).map_err(|e| line.error(e))?);
        if key == "default" {
            if m.default.is_some() {
                return Err(line.error("duplicate default map parameter"));
            }
            m.default = Some(value);
            continue;
        }
        if let Some(re) = key.strip_prefix('~') {
            let (re, caseless) = match re.strip_prefix('*') {
                Some(re) => (re, true),
                None => (re, false),
            };
            m.regex
                .push((http_rewrite::regex(line, re, caseless)?, value));
            continue;
        }
        let key = key.strip_prefix('\\').unwrap_or(key);
        add_key(line, &mut m, key, value)?;
    }
    Ok(m)
}

/// ngx_hash_add_key for a map: exact, or (with `hostnames`) a wildcard.
fn add_key(
    d: &Directive,
    m: &mut MapConf,
    key: &str,
    value: Rc<[Segment]>,
) -> Result<(), ConfError> {
    let lower = key.to_ascii_lowercase();
    let conflict = || d.error(format!("conflicting parameter \"{key}\""));
    if m.hostnames && (lower.contains('*') || lower.starts_with('.')) {
        let invalid = || d.error(format!("invalid hostname or wildcard \"{key}\""));
        if lower.matches('*').count() > 1 {
            return Err(invalid());
        }
        if let Some(suffix) = lower.strip_prefix("*.") {
            m.wildcard_head.push(MapWildcard {
                part: format!(".{suffix}").into_bytes().into(),
                bare: false,
                value,
            });
        } else if let Some(rest) = lower.strip_prefix('.') {
            if rest.is_empty() {
                return Err(invalid());
            }
            // `.example.com` also matches `example.com` itself.
            m.wildcard_head.push(MapWildcard {
                part: lower.clone().into_bytes().into(),
                bare: true,
                value,
            });
        } else if let Some(prefix) = lower.strip_suffix(".*") {
            m.wildcard_tail.push(MapWildcard {
                part: format!("{prefix}.").into_bytes().into(),
                bare: false,
                value,
            });
        } else {
            return Err(invalid());
        }
        return Ok(());
    }
    let lower = if m.hostnames {
        lower.strip_suffix('.').unwrap_or(&lower).to_string()
    } else {
        lower
    };
    if m.exact.insert(lower.into_bytes().into(), value).is_some() {
        return Err(conflict());
    }
    Ok(())
}

impl MapConf {
    /// Mirrors ngx_http_map_find(): the value for a source value `src`;
    /// `captures` gets the regex key's groups when one matched.
    pub fn find<'a>(
        &'a self,
        src: &[u8],
        captures: &mut dyn FnMut(&regex::bytes::Regex, &[u8]) -> bool,
    ) -> Option<&'a Rc<[Segment]>> {
        let mut low = src.to_ascii_lowercase();
        if self.hostnames && low.last() == Some(&b'.') {
            low.pop();
        }
        if let Some(v) = self.exact.get(&low[..]) {
            return Some(v);
        }
        if self.hostnames && !low.is_empty() {
            let head = self
                .wildcard_head
                .iter()
                .filter(|w| low.ends_with(&w.part) || (w.bare && low[..] == w.part[1..]))
                .max_by_key(|w| w.part.len());
            if let Some(w) = head {
                return Some(&w.value);
            }
            let tail = self
                .wildcard_tail
                .iter()
                .filter(|w| low.starts_with(&w.part))
                .max_by_key(|w| w.part.len());
            if let Some(w) = tail {
                return Some(&w.value);
            }
        }
        if !src.is_empty() {
            for (re, v) in &self.regex {
                if captures(&re.0, src) {
                    return Some(v);
                }
            }
        }
        self.default.as_ref()
    }
}
