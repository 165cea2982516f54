//! ngx_http_core_module's location side: `location` blocks (prefix, exact,
//! `^~`, regex, named, nested), ngx_http_core_find_location(), and the
//! directives that drive the later phases: `alias`, `try_files`,
//! `error_page`, `recursive_error_pages`.

use std::rc::Rc;

use super::build::Builder;
use super::command::{LIF, LOC, block, check, flag_slot, unknown};
use super::http_core::RawLoc;
use super::http_rewrite;
use super::parser::Directive;
use super::variables::{self, Segment};
use super::{ConfError, LocConf, LocRegex, Location, LocationMatch, ServerConf};

/// How `root`/`alias` maps a URI to a file (ngx_http_core_loc_conf_t's
/// `alias` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alias {
    /// `root`: the path is the root followed by the whole URI.
    #[default]
    Root,
    /// `alias` in a prefix location: the URI's first N bytes (the
    /// location's prefix) are replaced by the alias.
    Prefix(usize),
    /// `alias` in a regex location: the alias (with its captures) is the
    /// whole path.
    Regex,
}

/// One candidate of `try_files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryFile {
    /// The name, compiled (`$uri`, `$uri/`…).
    pub name: Vec<Segment>,
    /// Written with a trailing `/`: only a directory will do (the slash is
    /// dropped from the name, as nginx does).
    pub test_dir: bool,
}

/// The last argument of `try_files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryLast {
    /// `=CODE`: the request is finalized with it.
    Code(u16),
    /// A URI (internal redirect) or `@name` (named location), compiled.
    Uri(Vec<Segment>),
}

/// `try_files FILE ... LAST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryFiles {
    /// The candidates tried in order.
    pub files: Vec<TryFile>,
    /// What happens when none exists.
    pub last: TryLast,
}

/// One status of `error_page CODE ... [=[RESPONSE]] URI`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    /// The status it applies to.
    pub status: u16,
    /// `=CODE`: Some(CODE); `=` alone: Some(0) (the redirected request's own
    /// status); none: None (the original status is kept).
    pub overwrite: Option<u16>,
    /// The URI (`/page`, `@named` or a URL), compiled.
    pub uri: Vec<Segment>,
}

/// One level's exact and prefix locations as a byte trie: nginx's static
/// location tree (ngx_http_init_static_location_trees), searched in one
/// walk along the URI, whatever the number of locations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixTree {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TrieNode {
    /// Next bytes, sorted.
    children: Vec<(u8, u32)>,
    /// The prefix (or `^~`) location ending here (index in the level).
    prefix: Option<u32>,
    /// The `=` location ending here.
    exact: Option<u32>,
}

impl PrefixTree {
    /// The trie of a level's `=`, `^~` and prefix locations.
    pub fn build(locs: &[Location]) -> PrefixTree {
        let mut t = PrefixTree {
            nodes: vec![TrieNode::default()],
        };
        for (i, loc) in locs.iter().enumerate() {
            let slot = match loc.kind {
                LocationMatch::Exact => true,
                LocationMatch::Prefix | LocationMatch::PrefixNoRegex => false,
                LocationMatch::Regex { .. } | LocationMatch::Named => continue,
            };
            let mut n = 0usize;
            for &b in loc.uri.as_bytes() {
                n = match t.nodes[n].children.binary_search_by_key(&b, |c| c.0) {
                    Ok(k) => t.nodes[n].children[k].1 as usize,
                    Err(k) => {
                        let id = t.nodes.len();
                        t.nodes.push(TrieNode::default());
                        t.nodes[n].children.insert(k, (b, id as u32));
                        id
                    }
                };
            }
            let node = &mut t.nodes[n];
            let at = if slot {
                &mut node.exact
            } else {
                &mut node.prefix
            };
            // The first of a repeated location is the one nginx keeps.
            at.get_or_insert(i as u32);
        }
        t
    }

    /// The `=` location equal to `path`, else the longest prefix location
    /// it starts with (indexes in the level).
    fn find(&self, path: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut n = 0usize;
        let mut best = self.nodes.first().and_then(|r| r.prefix);
        for &b in path {
            let node = &self.nodes[n];
            match node.children.binary_search_by_key(&b, |c| c.0) {
                Ok(k) => n = node.children[k].1 as usize,
                Err(_) => return (None, best.map(|i| i as usize)),
            }
            if let Some(p) = self.nodes[n].prefix {
                best = Some(p);
            }
        }
        let exact = self.nodes.get(n).and_then(|node| node.exact);
        (exact.map(|i| i as usize), best.map(|i| i as usize))
    }
}

/// A proxying prefix location ending in `/` in `locs` (nested ones too);
/// with `path`, the one named `path` + `/`.
pub(super) fn auto_redirect_in(locs: &[Location], path: Option<&[u8]>) -> bool {
    locs.iter().any(|l| {
        let prefix = matches!(l.kind, LocationMatch::Prefix | LocationMatch::PrefixNoRegex);
        let named = l.uri.ends_with('/')
            && path.is_none_or(|p| l.uri.len() == p.len() + 1 && l.uri.as_bytes().starts_with(p));
        (prefix && named && l.conf.proxy.pass.is_some()) || auto_redirect_in(&l.locations, path)
    })
}

/// Where a location search ended (ngx_http_core_find_location's codes).
enum Found {
    /// NGX_OK: an exact or regex match; the search is over.
    Final,
    /// NGX_AGAIN: a prefix matched; regexes may still win.
    Prefix,
    /// NGX_DECLINED: nothing matched at this level.
    None,
}

/// The test of a regex location, made by the caller (it keeps the captures).
pub type RegexExec<'a> = dyn FnMut(&Location) -> bool + 'a;

impl ServerConf {
    /// Mirrors ngx_http_core_find_location(): the longest matching prefix
    /// (an exact `=` match ends the search), then the locations nested in
    /// it, then — unless it is a `^~` one — this level's regex locations in
    /// order, the first match winning (and its own nested locations
    /// searched). `exec` runs one regex location's test, so the caller can
    /// keep the captures; `trace` sees each location tested. `None` means
    /// the server-level settings apply.
    ///
    /// Differences: a scan of each level's prefixes instead of nginx's
    /// static location tree; the prefixes are few and compared bytewise.
    pub fn find_location<'a>(
        &'a self,
        path: &[u8],
        exec: &mut RegexExec<'_>,
    ) -> Option<&'a Location> {
        self.find_location_traced(path, 0, exec)
    }

    /// [`ServerConf::find_location`] with the debug trace of connection
    /// `number` (`test location: "…"` for each location tested).
    pub fn find_location_traced<'a>(
        &'a self,
        path: &[u8],
        number: u64,
        exec: &mut RegexExec<'_>,
    ) -> Option<&'a Location> {
        let mut found = None;
        find_in(&self.locations, &self.tree, path, number, exec, &mut found);
        found
    }

    /// The location a URI path selects (regex captures dropped).
    pub fn location_for(&self, path: &[u8]) -> Option<&Location> {
        let mut exec = |l: &Location| l.regex.as_ref().is_some_and(|re| re.0.is_match(path));
        self.find_location(path, &mut exec)
    }

    /// The settings that apply to a URI path (regex captures dropped).
    pub fn loc_conf(&self, path: &[u8]) -> &Rc<LocConf> {
        match self.location_for(path) {
            Some(loc) => &loc.conf,
            None => &self.conf,
        }
    }

    /// Every level's settings of the server: its own, every location
    /// (nested and named ones too) and every `if` block's — what must be
    /// opened or checked once for the whole configuration (log files).
    pub fn all_confs(&self) -> Vec<&LocConf> {
        fn script<'a>(c: &'a LocConf, out: &mut Vec<&'a LocConf>) {
            for code in c.rewrite.as_deref().unwrap_or_default() {
                if let super::Code::If(i) = code
                    && let Some(l) = &i.loc
                {
                    out.push(l);
                }
            }
        }
        fn walk<'a>(locs: &'a [Location], out: &mut Vec<&'a LocConf>) {
            for l in locs {
                out.push(&l.conf);
                script(&l.conf, out);
                walk(&l.locations, out);
            }
        }
        let mut out = vec![&*self.conf];
        script(&self.conf, &mut out);
        walk(&self.locations, &mut out);
        walk(&self.named, &mut out);
        out
    }

    /// nginx's `auto_redirect`: is there a prefix location named `path` with
    /// a trailing `/` added whose content handler is a proxy (nginx sets
    /// the flag for proxy_pass and the other upstream handlers)?
    pub fn auto_redirect(&self, path: &[u8]) -> bool {
        self.auto_redirects && auto_redirect_in(&self.locations, Some(path))
    }

    /// The named location `@name` (ngx_http_named_location's search).
    pub fn named_location(&self, name: &[u8]) -> Option<&Location> {
        self.named.iter().find(|l| l.uri.as_bytes() == name)
    }
}

fn find_in<'a>(
    locs: &'a [Location],
    tree: &PrefixTree,
    path: &[u8],
    number: u64,
    exec: &mut RegexExec<'_>,
    found: &mut Option<&'a Location>,
) -> Found {
    let (exact, best) = tree.find(path);
    if let Some(loc) = exact.and_then(|i| locs.get(i)) {
        log::debug!("*{number} test location: \"{}\"", loc.uri);
        *found = Some(loc);
        return Found::Final;
    }
    let mut rc = Found::None;
    if let Some(p) = best.and_then(|i| locs.get(i)) {
        log::debug!("*{number} test location: \"{}\"", p.uri);
        *found = Some(p);
        rc = Found::Prefix;
        match find_in(&p.locations, &p.tree, path, number, exec, found) {
            Found::Final => return Found::Final,
            Found::Prefix | Found::None => {}
        }
        if p.kind == LocationMatch::PrefixNoRegex {
            return rc;
        }
    }
    for loc in locs.iter().filter(|l| l.regex.is_some()) {
        if exec(loc) {
            *found = Some(loc);
            find_in(&loc.locations, &loc.tree, path, number, exec, found);
            return Found::Final;
        }
    }
    rc
}

/// A location block as read, before the merge.
#[derive(Debug)]
pub(super) struct RawLocation {
    pub(super) kind: LocationMatch,
    pub(super) uri: String,
    pub(super) regex: Option<LocRegex>,
    pub(super) loc: RawLoc,
    pub(super) locations: Vec<RawLocation>,
}

/// The location-level directives of the core module read here; their
/// part of [`RawLoc`].
#[derive(Debug, Default)]
pub(super) struct RawPhases {
    pub(super) alias: Option<String>,
    pub(super) try_files: Option<TryFiles>,
    pub(super) error_pages: Option<Vec<ErrorPage>>,
    pub(super) recursive_error_pages: Option<bool>,
}

/// Merges a location (and the locations nested in it) under `parent`.
pub(super) fn merge_location(
    raw: RawLocation,
    parent: &LocConf,
    merge: &dyn Fn(RawLoc, &LocConf) -> LocConf,
) -> Location {
    let conf = Rc::new(merge(raw.loc, parent));
    let locations: Vec<Location> = raw
        .locations
        .into_iter()
        .map(|l| merge_location(l, &conf, merge))
        .collect();
    Location {
        kind: raw.kind,
        uri: raw.uri,
        regex: raw.regex,
        conf,
        tree: PrefixTree::build(&locations),
        locations,
    }
}

impl Builder<'_> {
    /// Mirrors ngx_http_core_location() for `location [=|^~|~|~*] URI { }`
    /// and `location @name { }`; `outer` is the enclosing location's kind
    /// and URI (None at server level).
    pub(super) fn location(
        &self,
        d: &Directive,
        siblings: &[RawLocation],
        outer: Option<(LocationMatch, &str)>,
    ) -> Result<RawLocation, ConfError> {
        let (kind, uri) = match d.args.as_slice() {
            [modifier, uri] => match modifier.as_str() {
                "=" => (LocationMatch::Exact, uri.as_str()),
                "^~" => (LocationMatch::PrefixNoRegex, uri.as_str()),
                "~" => (LocationMatch::Regex { caseless: false }, uri.as_str()),
                "~*" => (LocationMatch::Regex { caseless: true }, uri.as_str()),
                _ => return Err(d.error(format!("invalid location modifier \"{modifier}\""))),
            },
            [uri] => {
                if let Some(rest) = uri.strip_prefix('=') {
                    (LocationMatch::Exact, rest)
                } else if let Some(rest) = uri.strip_prefix("^~") {
                    (LocationMatch::PrefixNoRegex, rest)
                } else if let Some(rest) = uri.strip_prefix("~*") {
                    (LocationMatch::Regex { caseless: true }, rest)
                } else if let Some(rest) = uri.strip_prefix('~') {
                    (LocationMatch::Regex { caseless: false }, rest)
                } else if uri.starts_with('@') {
                    (LocationMatch::Named, uri.as_str())
                } else {
                    (LocationMatch::Prefix, uri.as_str())
                }
            }
            _ => return Err(unknown(d)),
        };
        if let Some((okind, ouri)) = outer {
            // ngx_http_core_location's checks for a nested location.
            if okind == LocationMatch::Exact {
                return Err(d.error(format!(
                    "location \"{uri}\" cannot be inside the exact location \"{ouri}\""
                )));
            }
            if okind == LocationMatch::Named {
                return Err(d.error(format!(
                    "location \"{uri}\" cannot be inside the named location \"{ouri}\""
                )));
            }
            if kind == LocationMatch::Named {
                return Err(d.error(format!(
                    "named location \"{uri}\" can be on the server level only"
                )));
            }
            let is_regex = matches!(kind, LocationMatch::Regex { .. });
            if !is_regex && !uri.starts_with(ouri) {
                return Err(d.error(format!("location \"{uri}\" is outside location \"{ouri}\"")));
            }
        }
        let regex = match kind {
            LocationMatch::Regex { caseless } => {
                if uri.is_empty() {
                    return Err(d.error("empty regex location"));
                }
                Some(http_rewrite::regex(d, uri, caseless)?)
            }
            _ => None,
        };
        let exact = kind == LocationMatch::Exact;
        if regex.is_none()
            && siblings.iter().any(|l| {
                l.regex.is_none() && l.uri == uri && (l.kind == LocationMatch::Exact) == exact
            })
        {
            return Err(d.error(format!("duplicate location \"{uri}\"")));
        }
        let mut loc = RawLoc::default();
        let mut locations: Vec<RawLocation> = Vec::new();
        for c in block(d) {
            check(c, LOC)?;
            match c.name.as_str() {
                "location" => {
                    let l = self.location(c, &locations, Some((kind, uri)))?;
                    locations.push(l);
                }
                "if" => self.if_block(c, LIF, &mut loc)?,
                _ => self.loc_directive(c, &mut loc)?,
            }
        }
        if loc.phases.alias.is_some() && kind == LocationMatch::Named {
            return Err(d.error("the \"alias\" directive cannot be used inside the named location"));
        }
        loc.name = Some(Rc::from(match kind {
            LocationMatch::Exact => format!("={uri}"),
            _ => uri.to_string(),
        }));
        loc.alias_kind = match (&loc.phases.alias, &regex) {
            (None, _) => Alias::Root,
            (Some(_), Some(_)) => Alias::Regex,
            (Some(_), None) => Alias::Prefix(uri.len()),
        };
        Ok(RawLocation {
            kind,
            uri: uri.to_string(),
            regex,
            loc,
            locations,
        })
    }

    /// `if (CONDITION) { … }` at server (`SIF`) or location (`LIF`) level:
    /// the block's directives are read into settings of its own.
    pub(super) fn if_block(
        &self,
        d: &Directive,
        ctx: u16,
        loc: &mut RawLoc,
    ) -> Result<(), ConfError> {
        let cond = http_rewrite::condition(d)?;
        let mut inner = RawLoc::default();
        for c in block(d) {
            check(c, ctx)?;
            self.loc_directive(c, &mut inner)?;
        }
        http_rewrite::push_if(&mut loc.rewrite, cond, inner);
        Ok(())
    }
}

/// The core module's phase directives; `Ok(false)` when `d` is not one.
pub(super) fn phase_directive(d: &Directive, p: &mut RawPhases) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "try_files" => {
            if p.try_files.is_some() {
                return Err(d.error("\"try_files\" directive is duplicate"));
            }
            p.try_files = Some(try_files(d)?);
        }
        "error_page" => error_page(d, p.error_pages.get_or_insert_with(Vec::new))?,
        "recursive_error_pages" => flag_slot(&mut p.recursive_error_pages, d)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// ngx_http_core_root's refusal of `$document_root` / `$realpath_root`.
pub(super) fn no_root_vars(d: &Directive) -> Result<(), ConfError> {
    for v in ["document_root", "realpath_root"] {
        let a = &d.args[0];
        if a.contains(&format!("${v}")) || a.contains(&format!("${{{v}}}")) {
            return Err(d.error(format!(
                "the ${v} variable cannot be used in the \"{}\" directive",
                d.name
            )));
        }
    }
    Ok(())
}

/// Mirrors ngx_http_core_try_files().
fn try_files(d: &Directive) -> Result<TryFiles, ConfError> {
    if d.args.len() < 2 {
        return Err(d.error("invalid number of arguments in \"try_files\" directive"));
    }
    let n = d.args.len();
    let mut files = Vec::new();
    for a in &d.args[..n - 1] {
        let (name, test_dir) = match a.strip_suffix('/') {
            Some(stripped) => (stripped, true),
            None => (a.as_str(), false),
        };
        files.push(TryFile {
            name: variables::compile(name).map_err(|e| d.error(e))?,
            test_dir,
        });
    }
    let last = &d.args[n - 1];
    let last = match last.strip_prefix('=') {
        Some(code) => {
            let code = super::values::parse_number(code)
                .ok()
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| *c <= 999)
                .ok_or_else(|| d.error(format!("invalid code \"{last}\"")))?;
            TryLast::Code(code)
        }
        None => TryLast::Uri(variables::compile(last).map_err(|e| d.error(e))?),
    };
    Ok(TryFiles { files, last })
}

/// Mirrors ngx_http_core_error_page().
fn error_page(d: &Directive, pages: &mut Vec<ErrorPage>) -> Result<(), ConfError> {
    let n = d.args.len();
    if n < 2 {
        return Err(d.error("invalid number of arguments in \"error_page\" directive"));
    }
    let mut codes_end = n - 1;
    let mut overwrite = None;
    let maybe = &d.args[n - 2];
    if let Some(v) = maybe.strip_prefix('=') {
        if n - 2 == 0 {
            return Err(d.error(format!("invalid value \"{maybe}\"")));
        }
        overwrite = Some(if v.is_empty() {
            0
        } else {
            super::values::parse_number(v)
                .ok()
                .and_then(|c| u16::try_from(c).ok())
                .ok_or_else(|| d.error(format!("invalid value \"{maybe}\"")))?
        });
        codes_end = n - 2;
    }
    let uri = variables::compile(&d.args[n - 1]).map_err(|e| d.error(e))?;
    for v in &d.args[..codes_end] {
        let status = super::values::parse_number(v)
            .ok()
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| *c != 499)
            .ok_or_else(|| d.error(format!("invalid value \"{v}\"")))?;
        if !(300..=599).contains(&status) {
            return Err(d.error(format!("value \"{v}\" must be between 300 and 599")));
        }
        // 494 (header too large) and the TLS codes answer 400 unless told.
        let overwrite =
            overwrite.or((status == 494 || (495..=497).contains(&status)).then_some(400));
        pages.push(ErrorPage {
            status,
            overwrite,
            uri: uri.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::testutil::server;

    /// The linear search the trie replaces: exact, else longest prefix.
    fn linear(locs: &[Location], path: &[u8]) -> (Option<usize>, Option<usize>) {
        let exact = locs
            .iter()
            .position(|l| l.kind == LocationMatch::Exact && l.uri.as_bytes() == path);
        let mut best: Option<usize> = None;
        for (i, l) in locs.iter().enumerate() {
            let prefix = matches!(l.kind, LocationMatch::Prefix | LocationMatch::PrefixNoRegex);
            if prefix
                && path.starts_with(l.uri.as_bytes())
                && best.is_none_or(|b| locs[b].uri.len() < l.uri.len())
            {
                best = Some(i);
            }
        }
        (exact, best)
    }

    #[test]
    fn the_trie_finds_what_a_scan_finds() {
        let s = server(
            "location / { } location /a { } location ^~ /ab/ { } location = /ab { } \
             location /abc/d { } location = / { } location /b/ { } location ~ ^/a { }",
        );
        let words = [
            "", "/", "/a", "/ab", "/ab/", "/abc", "/abc/d", "/abc/de", "/b", "/b/", "/b/x", "/c",
            "/ab/x", "/A",
        ];
        for w in words {
            assert_eq!(
                s.tree.find(w.as_bytes()),
                linear(&s.locations, w.as_bytes()),
                "{w:?}"
            );
        }
        // Every string over a small alphabet up to length 5.
        let alphabet = [b'/', b'a', b'b', b'c', b'd'];
        let mut stack = vec![Vec::new()];
        while let Some(p) = stack.pop() {
            assert_eq!(s.tree.find(&p), linear(&s.locations, &p), "{p:?}");
            if p.len() < 5 {
                for b in alphabet {
                    let mut q = p.clone();
                    q.push(b);
                    stack.push(q);
                }
            }
        }
    }
}
