//! Warnings for configurations nginx accepts but that are known traps.
//! holdfast accepts them too (a copied configuration must run unchanged),
//! and says `[warn] … in FILE:LINE` when it reads them (`-t` and start-up):
//!
//! - an `alias` ending in `/` in a prefix location that does not: `/img../`
//!   reaches the alias's parent directory (path traversal);
//! - `add_header` in a level whose enclosing level has `add_header`s: those
//!   are not inherited any more, silently;
//! - `return`/`rewrite` to an absolute URL built from `$host`/`$http_host`
//!   in a server without an exact `server_name`: the client picks the host
//!   the redirect points at (Host header spoofing);
//! - `if` in a location holding anything but `return`/`rewrite` ("if is
//!   evil": the block's settings replace the location's);
//! - a prefix location (without `^~`) whose every URI a regex location of
//!   the same level takes, so it never serves anything.

use super::parser::Directive;

/// Where a directive is, for the message.
fn at(d: &Directive) -> String {
    format!("{}:{}", d.file.display(), d.line)
}

/// Checks the `http` blocks of the main tree; each finding is logged at
/// warn and returned.
pub(super) fn lint(tree: &[Directive]) -> Vec<String> {
    let mut out = Vec::new();
    for http in tree.iter().filter(|d| d.name == "http") {
        let http_body = http.block.as_deref().unwrap_or_default();
        let http_headers = first_add_header(http_body);
        for server in http_body.iter().filter(|d| d.name == "server") {
            let body = server.block.as_deref().unwrap_or_default();
            let exact_name = body
                .iter()
                .filter(|d| d.name == "server_name")
                .flat_map(|d| d.args.iter())
                .any(|n| is_exact_name(n));
            let own = first_add_header(body);
            if let (Some(h), Some(parent)) = (own, http_headers) {
                out.push(dropped_headers(h, parent));
            }
            let inherited = own.or(http_headers);
            level(body, inherited, exact_name, false, &mut out);
        }
    }
    for w in &out {
        log::warn!("{w}");
    }
    out
}

/// An exact server name (not empty, `_`, a wildcard or a regex).
fn is_exact_name(n: &str) -> bool {
    !n.is_empty() && n != "_" && !n.contains('*') && !n.starts_with('.') && !n.starts_with('~')
}

/// The first `add_header` of a level.
fn first_add_header(body: &[Directive]) -> Option<&Directive> {
    body.iter().find(|d| d.name == "add_header")
}

fn dropped_headers(own: &Directive, parent: &Directive) -> String {
    format!(
        "\"add_header\" here stops the add_header of the enclosing level ({}) from being \
         inherited: a level with add_header of its own gets none of its parent's in {}",
        at(parent),
        at(own)
    )
}

/// One server or location level: its `return`/`rewrite`s, `if`s, and its
/// locations (recursively).
fn level(
    body: &[Directive],
    headers: Option<&Directive>,
    exact_name: bool,
    in_location: bool,
    out: &mut Vec<String>,
) {
    for d in body {
        match d.name.as_str() {
            "return" | "rewrite" if !exact_name => host_redirect(d, out),
            "if" => {
                let inner = d.block.as_deref().unwrap_or_default();
                if in_location
                    && let Some(other) = inner
                        .iter()
                        .find(|c| !matches!(c.name.as_str(), "return" | "rewrite"))
                {
                    out.push(format!(
                        "\"if\" in a location holds \"{}\" ({}): inside \"if\" only \
                         \"return\" and \"rewrite\" are safe, the block's settings replace \
                         the location's while it applies in {}",
                        other.name,
                        at(other),
                        at(d)
                    ));
                }
                let own = first_add_header(inner);
                if let (Some(h), Some(parent)) = (own, headers) {
                    out.push(dropped_headers(h, parent));
                }
                if !exact_name {
                    for c in inner
                        .iter()
                        .filter(|c| matches!(c.name.as_str(), "return" | "rewrite"))
                    {
                        host_redirect(c, out);
                    }
                }
            }
            "location" => {
                let inner = d.block.as_deref().unwrap_or_default();
                alias_slash(d, inner, out);
                let own = first_add_header(inner);
                if let (Some(h), Some(parent)) = (own, headers) {
                    out.push(dropped_headers(h, parent));
                }
                level(inner, own.or(headers), exact_name, true, out);
            }
            _ => {}
        }
    }
    shadowed_prefixes(body, out);
}

/// `return`/`rewrite` to an absolute URL made from the client's Host.
fn host_redirect(d: &Directive, out: &mut Vec<String>) {
    let target = match d.name.as_str() {
        "return" => d.args.last(),
        _ => d.args.get(1),
    };
    let Some(t) = target else { return };
    let absolute = ["http://", "https://", "$scheme://"]
        .iter()
        .any(|p| t.starts_with(p));
    let host_vars = ["$host", "${host}", "$http_host", "${http_host}"];
    if absolute && host_vars.iter().any(|v| t.contains(v)) {
        out.push(format!(
            "\"{}\" sends clients to \"{t}\", a host the client chose (Host header \
             spoofing): the server has no exact \"server_name\"; name it and use \
             $server_name in {}",
            d.name,
            at(d)
        ));
    }
}

/// `location /img { alias /data/img/; }`: `/img../x` maps to `/data/x`.
fn alias_slash(loc: &Directive, body: &[Directive], out: &mut Vec<String>) {
    let [uri] = loc.args.as_slice() else {
        // Modifiers: `=` cannot be followed by more path, a regex alias is
        // a whole path; only a plain prefix is at risk (and `^~`, below).
        if let [m, uri] = loc.args.as_slice()
            && m == "^~"
        {
            alias_slash_prefix(uri, body, out);
        }
        return;
    };
    if uri.starts_with(['~', '=', '@']) {
        return;
    }
    alias_slash_prefix(uri.strip_prefix("^~").unwrap_or(uri), body, out);
}

fn alias_slash_prefix(uri: &str, body: &[Directive], out: &mut Vec<String>) {
    for a in body.iter().filter(|d| d.name == "alias") {
        if let Some(path) = a.args.first()
            && path.ends_with('/')
            && !uri.ends_with('/')
        {
            out.push(format!(
                "location \"{uri}\" has no trailing slash but its alias \"{path}\" has one: \
                 \"{uri}../\" reaches the directory above the alias (path traversal); end \
                 both with \"/\" or neither in {}",
                at(a)
            ));
        }
    }
}

/// A plain prefix location that a regex location of the same level always
/// takes: the regex is `^LITERAL` (optionally `.*` after it) and LITERAL
/// is a prefix of the location's URI.
fn shadowed_prefixes(body: &[Directive], out: &mut Vec<String>) {
    let regexes: Vec<(&Directive, String, bool)> = body
        .iter()
        .filter(|d| d.name == "location")
        .filter_map(|d| {
            let (re, caseless) = match d.args.as_slice() {
                [m, re] if m == "~" => (re.as_str(), false),
                [m, re] if m == "~*" => (re.as_str(), true),
                [re] => match re.strip_prefix("~*") {
                    Some(r) => (r, true),
                    None => (re.strip_prefix('~')?, false),
                },
                _ => return None,
            };
            Some((d, literal_anchor(re)?, caseless))
        })
        .collect();
    for d in body.iter().filter(|d| d.name == "location") {
        let [uri] = d.args.as_slice() else { continue };
        if uri.starts_with(['~', '=', '@', '^']) {
            continue;
        }
        let taken = regexes.iter().find(|(_, lit, caseless)| {
            if *caseless {
                uri.to_ascii_lowercase()
                    .starts_with(&lit.to_ascii_lowercase())
            } else {
                uri.starts_with(lit.as_str())
            }
        });
        if let Some((re, _, _)) = taken {
            out.push(format!(
                "location \"{uri}\" never serves a request: the regex location \"{}\" ({}) \
                 matches every URI it would, and regexes win over plain prefixes (use \
                 \"^~\") in {}",
                re.args.join(" "),
                at(re),
                at(d)
            ));
        }
    }
}

/// `^/lit` or `^/lit.*`: the literal every match starts with, when the
/// pattern matches every string starting with it.
fn literal_anchor(re: &str) -> Option<String> {
    let rest = re.strip_prefix('^')?;
    let rest = rest.strip_suffix(".*").unwrap_or(rest);
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_');
    let mut lit = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let e = chars.next()?;
            if e.is_ascii_alphanumeric() {
                return None;
            }
            lit.push(e);
        } else if plain(c) {
            lit.push(c);
        } else {
            return None;
        }
    }
    Some(lit)
}

#[cfg(test)]
mod tests {
    use super::literal_anchor;

    #[test]
    fn literal_anchors() {
        assert_eq!(literal_anchor("^/").as_deref(), Some("/"));
        assert_eq!(literal_anchor("^/api.*").as_deref(), Some("/api"));
        assert_eq!(literal_anchor("^/a\\.b").as_deref(), Some("/a.b"));
        assert_eq!(literal_anchor("^/a$"), None);
        assert_eq!(literal_anchor("\\.php$"), None);
        assert_eq!(literal_anchor("^/a\\d"), None);
    }
}
