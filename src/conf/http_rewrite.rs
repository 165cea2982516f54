//! ngx_http_rewrite_module's configuration: `rewrite`, `return`, `set`,
//! `if`, `break`, `rewrite_log`, `uninitialized_variable_warn`.
//!
//! nginx compiles a level's directives into one array of script codes,
//! the directives of an `if` block inline behind a jump. holdfast keeps the
//! same order as a tree: a level's [`Code`]s, an `if` holding its own. The
//! server level's codes run in the server-rewrite phase, a location's in
//! the rewrite phase; they are not inherited (nginx's merge does not either).

use std::rc::Rc;

use super::command::{Command, LIF, LOC, SIF, SRV, cmd, flag_slot};
use super::parser::Directive;
use super::values::parse_number;
use super::variables::{self, Segment, Variable};
use super::{ConfError, LocConf, LocRegex, Return};

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("rewrite", SRV | SIF | LOC | LIF, false, 2, 3),
    cmd("return", SRV | SIF | LOC | LIF, false, 1, 2),
    cmd("break", SRV | SIF | LOC | LIF, false, 0, 0),
    cmd("if", SRV | LOC, true, 1, usize::MAX),
    cmd("set", SRV | SIF | LOC | LIF, false, 2, 2),
    cmd(
        "rewrite_log",
        SRV | SIF | LOC | LIF | super::command::HTTP,
        false,
        1,
        1,
    ),
    cmd(
        "uninitialized_variable_warn",
        SRV | SIF | LOC | LIF | super::command::HTTP,
        false,
        1,
        1,
    ),
];

/// What a matching `rewrite` does next (its flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    /// No flag: the next directive runs; the location is searched again
    /// after the phase.
    Continue,
    /// `last`: the level's script stops; the location is searched again.
    Last,
    /// `break`: the script stops; the request stays in this location.
    Break,
    /// `redirect` (302), `permanent` (301), or a replacement that starts
    /// with `http://`, `https://` or `$scheme` (302): the answer is a
    /// redirect to the replacement.
    Redirect(u16),
}

/// One `rewrite REGEX REPLACEMENT [FLAG]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite {
    /// The pattern, matched against the URI.
    pub regex: LocRegex,
    /// The replacement, compiled (captures `$1`..`$9` and variables).
    pub replacement: Vec<Segment>,
    /// The flag.
    pub flag: RewriteFlag,
    /// The request's arguments are appended (the replacement does not end
    /// with `?`, which is then dropped).
    pub add_args: bool,
    /// The replacement has arguments of its own (a `?` in a literal part):
    /// the request's are joined with `&`.
    pub has_args: bool,
}

/// The test of an `if` (ngx_http_rewrite_if_condition).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `($var)`: true unless the value is empty or `0`.
    Var(Variable),
    /// `($var = value)` / `($var != value)`.
    Equal {
        /// The variable.
        var: Variable,
        /// The value compared with (may hold variables).
        value: Vec<Segment>,
        /// `!=`.
        negate: bool,
    },
    /// `($var ~ re)`, `~*`, `!~`, `!~*`; a match sets the captures.
    Regex {
        /// The variable matched.
        var: Variable,
        /// The pattern.
        regex: LocRegex,
        /// `!~`/`!~*`.
        negate: bool,
    },
    /// `(-f path)`, `-d`, `-e`, `-x` and their `!` forms.
    File {
        /// The path (may hold variables).
        path: Vec<Segment>,
        /// The test.
        test: FileTest,
        /// `!-…`.
        negate: bool,
    },
}

/// The file tests of `if`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTest {
    /// `-f`: a regular file.
    Plain,
    /// `-d`: a directory.
    Dir,
    /// `-e`: anything (file, directory, link).
    Exists,
    /// `-x`: executable.
    Exec,
}

/// One `if (COND) { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct If {
    /// The test.
    pub cond: Condition,
    /// Inside a location, the block's own settings (the location's merged
    /// with what the block sets), which the request takes while the
    /// condition holds (nginx switches `r->loc_conf`); None at server level.
    pub loc: Option<Rc<LocConf>>,
    /// The block's directives.
    pub codes: Rc<[Code]>,
}

/// One directive of the script.
#[derive(Debug, Clone, PartialEq)]
pub enum Code {
    /// `rewrite`.
    Rewrite(Box<Rewrite>),
    /// `return`.
    Return(Return),
    /// `set $NAME VALUE` (a `set` variable, or `$args` / `$limit_rate`).
    Set {
        /// The variable set.
        var: Variable,
        /// The value (may hold variables).
        value: Vec<Segment>,
    },
    /// `if`.
    If(Box<If>),
    /// `break`: the script stops.
    Break,
}

/// A raw `if` block before the merge: its test and its own settings.
#[derive(Debug)]
pub(super) struct RawIf {
    cond: Condition,
    pub(super) loc: Box<super::http_core::RawLoc>,
}

/// One directive as read, before the merge.
#[derive(Debug)]
pub(super) enum RawCode {
    Code(Code),
    If(RawIf),
}

/// One level's rewrite directives as written.
#[derive(Debug, Default)]
pub(super) struct RawRewrite {
    pub(super) codes: Vec<RawCode>,
    log: Option<bool>,
    uninitialized_variable_warn: Option<bool>,
}

/// The merged flags of a level.
pub(super) fn merge_flags(raw: &RawRewrite, parent: &LocConf) -> (bool, bool) {
    (
        raw.log.unwrap_or(parent.rewrite_log),
        raw.uninitialized_variable_warn
            .unwrap_or(parent.uninitialized_variable_warn),
    )
}

/// Turns a level's raw codes into its script; an `if` block in a location
/// gets settings merged from `conf` by `merge`.
pub(super) fn finish(
    codes: Vec<RawCode>,
    conf: &LocConf,
    in_location: bool,
    merge: &dyn Fn(super::http_core::RawLoc, &LocConf) -> LocConf,
) -> Rc<[Code]> {
    codes
        .into_iter()
        .map(|c| match c {
            RawCode::Code(c) => c,
            RawCode::If(mut raw) => {
                let inner = std::mem::take(&mut raw.loc.rewrite.codes);
                let loc = in_location.then(|| Rc::new(merge(*raw.loc, conf)));
                let codes = finish(inner, loc.as_deref().unwrap_or(conf), false, merge);
                Code::If(Box::new(If {
                    cond: raw.cond,
                    loc,
                    codes,
                }))
            }
        })
        .collect()
}

/// The module's directives at any http level; `Ok(false)` when `d` is not
/// one. `if` blocks are read by the caller (they hold other modules'
/// directives), through [`condition`].
pub(super) fn directive(d: &Directive, raw: &mut RawRewrite) -> Result<bool, ConfError> {
    match d.name.as_str() {
        "return" => raw
            .codes
            .push(RawCode::Code(Code::Return(parse_return(d)?))),
        "rewrite" => raw.codes.push(RawCode::Code(rewrite(d)?)),
        "break" => raw.codes.push(RawCode::Code(Code::Break)),
        "set" => raw.codes.push(RawCode::Code(set(d)?)),
        "rewrite_log" => flag_slot(&mut raw.log, d)?,
        "uninitialized_variable_warn" => flag_slot(&mut raw.uninitialized_variable_warn, d)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Adds a read `if` block to the level.
pub(super) fn push_if(raw: &mut RawRewrite, cond: Condition, loc: super::http_core::RawLoc) {
    raw.codes.push(RawCode::If(RawIf {
        cond,
        loc: Box::new(loc),
    }));
}

/// Compiles a pattern of the rewrite module or a location (nginx's
/// ngx_http_regex_compile): the `regex` crate has no look-around and no
/// backreferences, so a pattern that needs them is refused with the
/// engine's reason.
pub(super) fn regex(d: &Directive, re: &str, caseless: bool) -> Result<LocRegex, ConfError> {
    compile_regex(re, caseless).map(LocRegex).map_err(|e| {
        let why = e.to_string();
        let why = why
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("invalid pattern")
            .trim_start_matches("error:")
            .trim()
            .to_string();
        d.error(format!("regex \"{re}\" cannot be compiled: {why}"))
    })
}

/// A pattern as holdfast compiles it: PCRE's `\Q…\E` translated; bytes
/// first (a URI may hold any byte), with Unicode classes (`\p{N}`) when
/// the pattern needs them.
pub(super) fn compile_regex(re: &str, caseless: bool) -> Result<regex::bytes::Regex, regex::Error> {
    let pattern = pcre_quotes(re);
    let build = |unicode: bool| {
        regex::bytes::RegexBuilder::new(&pattern)
            .case_insensitive(caseless)
            .unicode(unicode)
            .build()
    };
    build(false).or_else(|e| build(true).map_err(|_| e))
}

/// PCRE's `\Q…\E` (everything between is literal) in the `regex` crate's
/// syntax, which lacks it.
fn pcre_quotes(re: &str) -> std::borrow::Cow<'_, str> {
    if !re.contains("\\Q") {
        return std::borrow::Cow::Borrowed(re);
    }
    let mut out = String::with_capacity(re.len());
    let mut rest = re;
    while let Some(start) = rest.find("\\Q") {
        // A `\\Q` is an escaped backslash followed by Q, not a quote.
        let backslashes = rest[..start]
            .chars()
            .rev()
            .take_while(|&c| c == '\\')
            .count();
        if backslashes % 2 == 1 {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let quoted = &rest[start + 2..];
        let (lit, tail) = match quoted.find("\\E") {
            Some(end) => (&quoted[..end], &quoted[end + 2..]),
            None => (quoted, ""),
        };
        out.push_str(&regex::escape(lit));
        rest = tail;
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn compile(d: &Directive, text: &str) -> Result<Vec<Segment>, ConfError> {
    variables::compile(text).map_err(|e| d.error(e))
}

/// Mirrors ngx_http_rewrite(): the pattern, the replacement (a redirect
/// when it starts with a scheme), the flag.
fn rewrite(d: &Directive) -> Result<Code, ConfError> {
    let re = regex(d, &d.args[0], false)?;
    let mut text = d.args[1].as_str();
    let mut flag = if ["http://", "https://", "$scheme"]
        .iter()
        .any(|p| text.starts_with(p))
    {
        RewriteFlag::Redirect(302)
    } else {
        RewriteFlag::Continue
    };
    if let Some(f) = d.args.get(2) {
        let given = match f.as_str() {
            "last" => RewriteFlag::Last,
            "break" => RewriteFlag::Break,
            "redirect" => RewriteFlag::Redirect(302),
            "permanent" => RewriteFlag::Redirect(301),
            _ => return Err(d.error(format!("invalid parameter \"{f}\""))),
        };
        // A scheme makes it a redirect whatever the flag, as in nginx.
        match (flag, given) {
            (RewriteFlag::Redirect(_), RewriteFlag::Last | RewriteFlag::Break) => {}
            _ => flag = given,
        }
    }
    let add_args = !text.ends_with('?');
    if !add_args {
        text = &text[..text.len() - 1];
    }
    let replacement = compile(d, text)?;
    let has_args = replacement
        .iter()
        .any(|s| matches!(s, Segment::Literal(l) if l.contains(&b'?')));
    Ok(Code::Rewrite(Box::new(Rewrite {
        regex: re,
        replacement,
        flag,
        add_args,
        has_args,
    })))
}

/// Mirrors ngx_http_rewrite_set(): `set $NAME VALUE`.
fn set(d: &Directive) -> Result<Code, ConfError> {
    let name = d.args[0]
        .strip_prefix('$')
        .filter(|n| !n.is_empty())
        .ok_or_else(|| d.error(format!("invalid variable name \"{}\"", d.args[0])))?;
    let var = match Variable::lookup(name) {
        Some(v @ (Variable::User(_) | Variable::Args | Variable::LimitRate)) => v,
        _ => return Err(d.error(format!("the duplicate \"{name}\" variable"))),
    };
    Ok(Code::Set {
        var,
        value: compile(d, &d.args[1])?,
    })
}

/// Mirrors ngx_http_rewrite_if_condition(): the words between `(` and `)`.
pub(super) fn condition(d: &Directive) -> Result<Condition, ConfError> {
    let invalid = |v: &str| d.error(format!("invalid condition \"{v}\""));
    let mut args: Vec<&str> = d.args.iter().map(String::as_str).collect();
    let first = args[0];
    if !first.starts_with('(') {
        return Err(invalid(first));
    }
    if first == "(" {
        args.remove(0);
    } else {
        args[0] = &first[1..];
    }
    let Some(last) = args.last().copied() else {
        return Err(invalid(first));
    };
    if !last.ends_with(')') {
        return Err(invalid(last));
    }
    if last == ")" {
        args.pop();
    } else {
        let n = args.len() - 1;
        args[n] = &last[..last.len() - 1];
    }
    let Some(&cur) = args.first() else {
        return Err(invalid(")"));
    };
    if cur.len() > 1 && cur.starts_with('$') {
        if args.len() != 1 && args.len() != 3 {
            return Err(invalid(cur));
        }
        let name = &cur[1..];
        let var = Variable::lookup(name)
            .ok_or_else(|| d.error(format!("unknown \"{name}\" variable")))?;
        if args.len() == 1 {
            return Ok(Condition::Var(var));
        }
        let (op, value) = (args[1], args[2]);
        return match op {
            "=" | "!=" => Ok(Condition::Equal {
                var,
                value: compile(d, value)?,
                negate: op == "!=",
            }),
            "~" | "~*" | "!~" | "!~*" => Ok(Condition::Regex {
                var,
                regex: regex(d, value, op.ends_with('*'))?,
                negate: op.starts_with('!'),
            }),
            _ => Err(d.error(format!("unexpected \"{op}\" in condition"))),
        };
    }
    let (negate, op) = match cur.strip_prefix('!') {
        Some(op) => (true, op),
        None => (false, cur),
    };
    if op.len() == 2 && op.starts_with('-') {
        if args.len() != 2 {
            return Err(invalid(cur));
        }
        let test = match &op[1..] {
            "f" => FileTest::Plain,
            "d" => FileTest::Dir,
            "e" => FileTest::Exists,
            "x" => FileTest::Exec,
            _ => return Err(d.error(format!("invalid condition \"{cur}\""))),
        };
        return Ok(Condition::File {
            path: compile(d, args[1])?,
            test,
            negate,
        });
    }
    Err(invalid(cur))
}

/// Mirrors ngx_http_rewrite_return(): `return CODE [TEXT]` or `return URL`;
/// the text or URL may hold variables.
fn parse_return(d: &Directive) -> Result<Return, ConfError> {
    let first = &d.args[0];
    let invalid = || d.error(format!("invalid return code \"{first}\""));
    match parse_number(first) {
        Ok(code) => {
            let code = u16::try_from(code)
                .ok()
                .filter(|c| *c <= 999)
                .ok_or_else(invalid)?;
            let text = match d.args.get(1) {
                Some(t) => Some(compile(d, t)?),
                None => None,
            };
            Ok(Return { code, text })
        }
        Err(_) => {
            let is_url = ["http://", "https://", "$scheme"]
                .iter()
                .any(|p| first.starts_with(p));
            if d.args.len() != 1 || !is_url {
                return Err(invalid());
            }
            Ok(Return {
                code: 302,
                text: Some(compile(d, first)?),
            })
        }
    }
}

/// The regex patterns of a directive, for the named-capture pre-pass:
/// `rewrite`'s pattern and an `if`'s `~` operand.
pub(super) fn patterns(d: &Directive) -> Vec<(&str, bool)> {
    match d.name.as_str() {
        "rewrite" => d
            .args
            .first()
            .map(|a| (a.as_str(), false))
            .into_iter()
            .collect(),
        "if" => {
            let ops = ["~", "~*", "!~", "!~*"];
            d.args
                .windows(2)
                .filter(|w| ops.contains(&w[0].as_str()))
                .map(|w| {
                    let re = w[1].strip_suffix(')').unwrap_or(&w[1]);
                    (re, w[0].ends_with('*'))
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Does any template of the script satisfy `has` (the `$sent_http_`
/// check of the http block)?
pub(super) fn uses(codes: &[Code], has: &dyn Fn(&[Segment]) -> bool) -> bool {
    codes.iter().any(|c| match c {
        Code::Rewrite(r) => has(&r.replacement),
        Code::Return(r) => r.text.as_deref().is_some_and(has),
        Code::Set { value, .. } => has(value),
        Code::If(i) => uses(&i.codes, has),
        Code::Break => false,
    })
}

#[cfg(test)]
mod tests {
    use super::pcre_quotes;

    #[test]
    fn pcre_quotes_become_escapes() {
        assert_eq!(pcre_quotes("^a\\Q.b*\\E$"), "^a\\.b\\*$");
        assert_eq!(pcre_quotes("\\Q.x"), "\\.x");
        assert_eq!(pcre_quotes("a\\\\Qb"), "a\\\\Qb");
        assert_eq!(pcre_quotes("plain"), "plain");
    }
}
