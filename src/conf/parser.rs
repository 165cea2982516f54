//! The configuration grammar: words, `;`-terminated directives, `{ }` blocks,
//! `#` comments, quoted strings, and `include` (spliced in place).
//!
//! Mirrors ngx_conf_file.c: `ngx_conf_read_token()` is [`Lexer::statement`],
//! `ngx_conf_parse()` is [`Parser::stream`] and `ngx_conf_include()` is
//! [`Parser::include`]. The result is a plain tree of [`Directive`]s; what the
//! directives mean is decided by `build.rs`.

use super::{ConfError, ConfFile};
use std::cell::RefCell;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

/// How many files may be open through `include` at once (guards against a
/// file including itself).
const MAX_INCLUDE_DEPTH: usize = 32;
/// How deeply `{ }` blocks may nest (guards the parser's stack).
const MAX_BLOCK_DEPTH: usize = 64;

/// Mirrors the `cf->args` array ngx_conf_parse() hands to ngx_conf_handler():
/// one `name arg...;` or `name arg... { block }`, with the block already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The first word.
    pub name: String,
    /// The words after the name (quotes removed, escapes resolved).
    pub args: Vec<String>,
    /// The file the directive is in.
    pub file: Rc<Path>,
    /// 1-based line of the directive's name.
    pub line: usize,
    /// `Some` for `name ... { }`: the directives inside.
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// Mirrors ngx_conf_log_error(NGX_LOG_EMERG, …): an error about this
    /// directive, printed as `MSG in FILE:LINE`.
    pub fn error(&self, msg: impl Into<String>) -> ConfError {
        ConfError {
            msg: msg.into(),
            file: Some(self.file.to_path_buf()),
            line: self.line,
        }
    }
}

/// Mirrors ngx_conf_parse() on the main file: reads `path` and parses it;
/// relative `include` patterns resolve against `conf_dir`.
///
/// A file that cannot be read is `open() "PATH" failed (2: No such file or
/// directory)` with no file:line (there is no directive to blame).
///
/// Every file read (the main one, then each included one) is appended to
/// `files` with its text, for `holdfast -T`.
pub fn parse_file(
    path: &Path,
    conf_dir: &Path,
    files: &mut Vec<ConfFile>,
) -> Result<Vec<Directive>, ConfError> {
    let text = read_file(path).map_err(|msg| ConfError {
        msg,
        file: None,
        line: 0,
    })?;
    let p = Parser {
        conf_dir,
        files: RefCell::new(Vec::new()),
    };
    p.record(path, &text);
    let tree = p.source(&text, path, 0, 0);
    files.append(&mut p.files.borrow_mut());
    tree
}

/// Mirrors ngx_conf_parse() on text already in memory, reported as file `file`
/// (used by `Config::from_str`).
pub fn parse_str(
    text: &str,
    file: &Path,
    conf_dir: &Path,
    files: &mut Vec<ConfFile>,
) -> Result<Vec<Directive>, ConfError> {
    let p = Parser {
        conf_dir,
        files: RefCell::new(Vec::new()),
    };
    p.record(file, text.as_bytes());
    let tree = p.source(text.as_bytes(), file, 0, 0);
    files.append(&mut p.files.borrow_mut());
    tree
}

/// Reads a whole file, with nginx-style error text on failure.
fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let mut f = fs::File::open(path)
        .map_err(|e| format!("open() \"{}\" failed ({})", path.display(), os_error(&e)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)
        .map_err(|e| format!("read() \"{}\" failed ({})", path.display(), os_error(&e)))?;
    Ok(buf)
}

/// `2: No such file or directory`, as nginx prints an errno.
fn os_error(e: &io::Error) -> String {
    crate::os::io::OsErr(e).to_string()
}

/// What ended a statement (or the token stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `;`
    Semicolon,
    /// `{`
    BlockStart,
    /// `}` (with no words before it).
    BlockEnd,
    /// End of the text (with no words pending).
    Eof,
}

/// One word and the line it started on.
#[derive(Debug)]
struct Word {
    text: String,
    line: usize,
}

/// The tokenizer over one file's bytes.
struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    file: Rc<Path>,
}

impl Lexer<'_> {
    fn error(&self, msg: impl Into<String>) -> ConfError {
        ConfError {
            msg: msg.into(),
            file: Some(self.file.to_path_buf()),
            line: self.line,
        }
    }

    fn unexpected(&self, ch: u8) -> ConfError {
        self.error(format!("unexpected \"{}\"", char::from(ch)))
    }

    /// Consumes one byte, counting lines.
    fn bump(&mut self) -> Option<u8> {
        let ch = *self.src.get(self.pos)?;
        self.pos += 1;
        if ch == b'\n' {
            self.line += 1;
        }
        Some(ch)
    }

    /// Mirrors ngx_conf_read_token(): the words of one statement and what ended it.
    fn statement(&mut self) -> Result<(Vec<Word>, Stop), ConfError> {
        let mut words = Vec::new();
        loop {
            let Some(ch) = self.src.get(self.pos).copied() else {
                if !words.is_empty() {
                    return Err(self.error("unexpected end of file, expecting \";\" or \"}\""));
                }
                return Ok((words, Stop::Eof));
            };
            match ch {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.bump();
                }
                b';' | b'{' => {
                    if words.is_empty() {
                        return Err(self.unexpected(ch));
                    }
                    self.bump();
                    let end = if ch == b';' {
                        Stop::Semicolon
                    } else {
                        Stop::BlockStart
                    };
                    return Ok((words, end));
                }
                b'}' => {
                    if !words.is_empty() {
                        return Err(self.unexpected(ch));
                    }
                    self.bump();
                    return Ok((words, Stop::BlockEnd));
                }
                b'#' => {
                    while self.src.get(self.pos).is_some_and(|&c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                b'"' | b'\'' => {
                    words.push(self.quoted(ch)?);
                    // A closing quote must be followed by a separator, or
                    // the `)` that closes an `if` condition (a word of its
                    // own, as nginx reads it).
                    match self.src.get(self.pos) {
                        None | Some(b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b')') => {}
                        Some(&c) => return Err(self.unexpected(c)),
                    }
                }
                _ => words.push(self.word()),
            }
        }
    }

    /// A quoted string starting at the opening quote `q`.
    fn quoted(&mut self, q: u8) -> Result<Word, ConfError> {
        let line = self.line;
        self.bump();
        let start = self.pos;
        loop {
            match self.bump() {
                None => {
                    return Err(self.error("unexpected end of file, expecting \";\" or \"}\""));
                }
                Some(b'\\') => {
                    self.bump();
                }
                Some(c) if c == q => break,
                Some(_) => {}
            }
        }
        let raw = &self.src[start..self.pos - 1];
        Ok(Word {
            text: unescape(raw),
            line,
        })
    }

    /// An unquoted word: up to whitespace, `;` or `{` (but `${` stays in the word).
    fn word(&mut self) -> Word {
        let line = self.line;
        let start = self.pos;
        let mut dollar = false;
        while let Some(&c) = self.src.get(self.pos) {
            match c {
                b'\\' => {
                    self.bump();
                    self.bump();
                    dollar = false;
                    continue;
                }
                b'{' if dollar => {}
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' => break,
                _ => {}
            }
            dollar = c == b'$';
            self.bump();
        }
        Word {
            text: unescape(&self.src[start..self.pos]),
            line,
        }
    }
}

/// Resolves `\"`, `\'`, `\\`, `\t`, `\r`, `\n`; any other backslash is kept.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c == b'\\' {
            let esc = match raw.get(i + 1) {
                Some(&e @ (b'"' | b'\'' | b'\\')) => Some(e),
                Some(b't') => Some(b'\t'),
                Some(b'r') => Some(b'\r'),
                Some(b'n') => Some(b'\n'),
                _ => None,
            };
            if let Some(e) = esc {
                out.push(e);
                i += 2;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// The block walker; holds what `include` needs and the files read.
struct Parser<'a> {
    conf_dir: &'a Path,
    files: RefCell<Vec<ConfFile>>,
}

impl Parser<'_> {
    /// Remembers a file read, for `-T`.
    fn record(&self, path: &Path, text: &[u8]) {
        self.files.borrow_mut().push(ConfFile {
            path: path.to_path_buf(),
            text: text.to_vec(),
        });
    }

    /// Parses one file's text (the main file or an included one).
    fn source(
        &self,
        text: &[u8],
        file: &Path,
        includes: usize,
        blocks: usize,
    ) -> Result<Vec<Directive>, ConfError> {
        let mut lx = Lexer {
            src: text,
            pos: 0,
            line: 1,
            file: Rc::from(file),
        };
        self.stream(&mut lx, false, includes, blocks)
    }

    /// Mirrors ngx_conf_parse(): directives up to the end of the file (top
    /// level) or up to the matching `}` (inside a block).
    fn stream(
        &self,
        lx: &mut Lexer<'_>,
        in_block: bool,
        includes: usize,
        blocks: usize,
    ) -> Result<Vec<Directive>, ConfError> {
        let mut out = Vec::new();
        loop {
            let (words, end) = lx.statement()?;
            match end {
                Stop::Eof if in_block => {
                    return Err(lx.error("unexpected end of file, expecting \"}\""));
                }
                Stop::BlockEnd if !in_block => return Err(lx.error("unexpected \"}\"")),
                Stop::Eof | Stop::BlockEnd => return Ok(out),
                Stop::Semicolon | Stop::BlockStart => {}
            }
            let mut words = words.into_iter();
            let Some(name) = words.next() else {
                continue;
            };
            let d = Directive {
                name: name.text,
                args: words.map(|w| w.text).collect(),
                file: lx.file.clone(),
                line: name.line,
                block: None,
            };
            if d.name == "include" {
                if end == Stop::BlockStart {
                    return Err(d.error("directive \"include\" is not terminated by \";\""));
                }
                if d.args.len() != 1 {
                    return Err(d.error("invalid number of arguments in \"include\" directive"));
                }
                self.include(&d, includes, blocks, &mut out)?;
            } else if end == Stop::BlockStart {
                if blocks >= MAX_BLOCK_DEPTH {
                    return Err(d.error(format!(
                        "blocks are nested too deeply (more than {MAX_BLOCK_DEPTH} levels)"
                    )));
                }
                let block = self.stream(lx, true, includes, blocks + 1)?;
                out.push(Directive {
                    block: Some(block),
                    ..d
                });
            } else {
                out.push(d);
            }
        }
    }

    /// Mirrors ngx_conf_include(): `include PATTERN;` — the pattern is relative to
    /// the main file's directory (nginx's conf prefix) unless absolute; with
    /// `*`, `?` or `[` it is a glob whose matches (sorted) are read in turn and
    /// may be none; without, the file must exist.
    fn include(
        &self,
        d: &Directive,
        includes: usize,
        blocks: usize,
        out: &mut Vec<Directive>,
    ) -> Result<(), ConfError> {
        let pattern = &d.args[0];
        if includes >= MAX_INCLUDE_DEPTH {
            return Err(d.error(format!(
                "\"include\" nesting is too deep (more than {MAX_INCLUDE_DEPTH} levels)"
            )));
        }
        let full = self.conf_dir.join(pattern);
        let files = if has_glob_meta(pattern.as_bytes()) {
            glob(&full)
        } else {
            vec![full]
        };
        for file in files {
            let text = read_file(&file).map_err(|msg| d.error(msg))?;
            self.record(&file, &text);
            out.extend(self.source(&text, &file, includes + 1, blocks)?);
        }
        Ok(())
    }
}

/// Does the text contain a glob metacharacter (`*`, `?`, `[`)?
fn has_glob_meta(s: &[u8]) -> bool {
    s.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// Mirrors glob(3) as ngx_open_glob() uses it (no flags): expands wildcards in
/// any path component, sorted; a leading `.` must be matched explicitly;
/// unreadable directories simply match nothing.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = comp.as_os_str();
        let pat = part.as_encoded_bytes();
        if !matches!(comp, Component::Normal(_)) || !has_glob_meta(pat) {
            for p in &mut found {
                p.push(part);
            }
            continue;
        }
        let mut next = Vec::new();
        for base in &found {
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .filter(|n| glob_match(pat, n.as_encoded_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        found = next;
    }
    found.retain(|p| fs::symlink_metadata(p).is_ok());
    found.sort();
    found
}

/// Matches one path component against a pattern with `*`, `?`, `[...]`
/// (`[!...]`/`[^...]` negate, `a-z` ranges) and `\` escapes.
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pat.first() != Some(&b'.') {
        return false;
    }
    let (mut p, mut n) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, name index).
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p + 1, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(1),
            Some(b'[') => match class(&pat[p..], name[n]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                None => (name[n] == b'[').then_some(1),
            },
            Some(b'\\') if p + 1 < pat.len() => (pat[p + 1] == name[n]).then_some(2),
            Some(&c) => (c == name[n]).then_some(1),
            None => None,
        };
        match (step, star) {
            (Some(len), _) => {
                p += len;
                n += 1;
            }
            (None, Some((sp, sn))) => {
                p = sp;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    pat[p.min(pat.len())..].iter().all(|&c| c == b'*')
}

/// A bracket expression at the start of `pat` against `c`: `(matched, length)`,
/// or None when there is no closing `]` (then `[` is literal).
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *pat.get(i)?;
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&hi| hi != b']') {
            let hi = pat[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Directive>, ConfError> {
        parse_str(
            text,
            Path::new("/fake/t.conf"),
            Path::new("/fake"),
            &mut Vec::new(),
        )
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    fn args(d: &Directive) -> Vec<&str> {
        d.args.iter().map(String::as_str).collect()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        crate::conf::testutil::temp_dir_in("parser", tag)
    }

    #[test]
    fn words_blocks_and_lines() {
        let t = parse("a 1 2;\nb {\n  c x;\n\n  d { }\n}\ne;").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[0].name.as_str(), args(&t[0]), t[0].line),
            ("a", vec!["1", "2"], 1)
        );
        let b = t[1].block.as_ref().unwrap();
        assert_eq!(t[1].line, 2);
        assert_eq!((b[0].name.as_str(), b[0].line), ("c", 3));
        assert_eq!((b[1].name.as_str(), b[1].line), ("d", 5));
        assert_eq!(b[1].block.as_deref(), Some(&[][..]));
        assert_eq!(
            (t[2].name.as_str(), t[2].line, t[2].block.is_none()),
            ("e", 7, true)
        );
        assert_eq!(&*t[2].file, Path::new("/fake/t.conf"));
    }

    #[test]
    fn tight_punctuation() {
        let t = parse("a b;c{d e;}f g{}").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(args(&t[0]), vec!["b"]);
        assert_eq!(t[1].block.as_ref().unwrap()[0].name, "d");
        assert_eq!(args(&t[2]), vec!["g"]);
        // `}` inside a word is part of it, as in nginx.
        let t = parse("a b}c;").unwrap();
        assert_eq!(args(&t[0]), vec!["b}c"]);
    }

    #[test]
    fn comments() {
        let t = parse("# top\na 1; # after\nb # mid\n 2;\nc x#y;\n#end").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(args(&t[1]), vec!["2"]);
        assert_eq!(t[1].line, 3);
        // `#` inside a word does not start a comment.
        assert_eq!(args(&t[2]), vec!["x#y"]);
    }

    #[test]
    fn quotes_and_escapes() {
        let t = parse(concat!(
            "a \"x y\" 'p q' \"\" '';\n",
            "b \"{;}#\" '\"' \"'\";\n",
            "c \"q\\\"q\" 's\\'s' \"b\\\\s\" \"t\\tr\\rn\\n\" \"\\x\";\n",
            "d un\\;quoted \\\"w;\n",
            "e \"multi\nline\";\n",
            "f \"x\"{ }\n",
            "g $a${b}c;\n",
        ))
        .unwrap();
        assert_eq!(args(&t[0]), vec!["x y", "p q", "", ""]);
        assert_eq!(args(&t[1]), vec!["{;}#", "\"", "'"]);
        assert_eq!(args(&t[2]), vec!["q\"q", "s's", "b\\s", "t\tr\rn\n", "\\x"]);
        assert_eq!(args(&t[3]), vec!["un\\;quoted", "\"w"]);
        assert_eq!(args(&t[4]), vec!["multi\nline"]);
        assert_eq!((t[5].line, t[5].block.is_some()), (7, true));
        assert_eq!(t[6].line, 8);
        assert_eq!(args(&t[6]), vec!["$a${b}c"]);
    }

    #[test]
    fn errors() {
        assert_eq!(err("a;\n}"), "unexpected \"}\" in /fake/t.conf:2");
        assert_eq!(
            err("a {\n b;\n"),
            "unexpected end of file, expecting \"}\" in /fake/t.conf:3"
        );
        assert_eq!(
            err("a b"),
            "unexpected end of file, expecting \";\" or \"}\" in /fake/t.conf:1"
        );
        assert_eq!(
            err("a \"b;\n\n"),
            "unexpected end of file, expecting \";\" or \"}\" in /fake/t.conf:3"
        );
        assert_eq!(err("a {\n b }"), "unexpected \"}\" in /fake/t.conf:2");
        assert_eq!(err("\n;"), "unexpected \";\" in /fake/t.conf:2");
        assert_eq!(err("a; {"), "unexpected \"{\" in /fake/t.conf:1");
        assert_eq!(err("a \"b\"c;"), "unexpected \"c\" in /fake/t.conf:1");
        assert_eq!(err("a 'b'\"c\";"), "unexpected \"\"\" in /fake/t.conf:1");
        assert_eq!(
            err("include;"),
            "invalid number of arguments in \"include\" directive in /fake/t.conf:1"
        );
        assert_eq!(
            err("include a b;"),
            "invalid number of arguments in \"include\" directive in /fake/t.conf:1"
        );
        assert_eq!(
            err("\ninclude x { }"),
            "directive \"include\" is not terminated by \";\" in /fake/t.conf:2"
        );
        let deep = "a {".repeat(MAX_BLOCK_DEPTH + 1);
        assert!(err(&deep).starts_with("blocks are nested too deeply"));
    }

    #[test]
    fn missing_files() {
        let dir = temp_dir("missing");
        let e = parse_file(&dir.join("nope.conf"), &dir, &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "open() \"{}\" failed (2: No such file or directory)",
                dir.join("nope.conf").display()
            )
        );
        let main = dir.join("main.conf");
        fs::write(&main, "a;\ninclude sub/none.conf;\n").unwrap();
        let e = parse_file(&main, &dir, &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "open() \"{}\" failed (2: No such file or directory) in {}:2",
                dir.join("sub/none.conf").display(),
                main.display()
            )
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn include_splices_in_place() {
        let dir = temp_dir("splice");
        fs::create_dir(dir.join("d")).unwrap();
        fs::write(dir.join("d/b.conf"), "b 2;\n").unwrap();
        fs::write(dir.join("d/a.conf"), "\na 1;\n").unwrap();
        fs::write(dir.join("d/.hidden.conf"), "hidden;\n").unwrap();
        fs::write(dir.join("d/c.txt"), "txt;\n").unwrap();
        fs::write(dir.join("inner.conf"), "x {\n y;\n}\n").unwrap();
        let main = dir.join("main.conf");
        fs::write(
            &main,
            "first;\nblock {\n include d/*.conf;\n include inner.conf;\n}\ninclude nothing/*.conf;\nlast;\n",
        )
        .unwrap();
        let t = parse_file(&main, &dir, &mut Vec::new()).unwrap();
        let names: Vec<_> = t.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["first", "block", "last"]);
        let inner = t[1].block.as_ref().unwrap();
        let names: Vec<_> = inner.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "x"]);
        assert_eq!(&*inner[0].file, dir.join("d/a.conf").as_path());
        assert_eq!(inner[0].line, 2);
        assert_eq!(&*inner[2].file, dir.join("inner.conf").as_path());
        assert_eq!(inner[2].block.as_ref().unwrap()[0].line, 2);
        // Absolute include, `?` and `[...]`.
        let abs = format!("include {}/d/[ab].co?f;\n", dir.display());
        fs::write(&main, abs).unwrap();
        let t = parse_file(&main, &dir, &mut Vec::new()).unwrap();
        assert_eq!(t.len(), 2);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn include_errors_point_into_the_included_file() {
        let dir = temp_dir("inc-err");
        fs::write(dir.join("bad.conf"), "ok;\n}\n").unwrap();
        fs::write(dir.join("self.conf"), "include self.conf;\n").unwrap();
        let main = dir.join("main.conf");
        fs::write(&main, "a {\n include bad.conf;\n}\n").unwrap();
        let e = parse_file(&main, &dir, &mut Vec::new()).unwrap_err();
        assert_eq!(e.msg, "unexpected \"}\"");
        assert_eq!(
            (e.file.as_deref(), e.line),
            (Some(dir.join("bad.conf").as_path()), 2)
        );
        fs::write(&main, "include self.conf;\n").unwrap();
        let e = parse_file(&main, &dir, &mut Vec::new()).unwrap_err();
        assert!(e.msg.contains("nesting is too deep"), "{e}");
        assert_eq!(e.file.as_deref(), Some(dir.join("self.conf").as_path()));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match(b"*.conf", b"a.conf"));
        assert!(!glob_match(b"*.conf", b".conf"));
        assert!(glob_match(b".*", b".hidden"));
        assert!(glob_match(b"*", b"x"));
        assert!(!glob_match(b"*", b".x"));
        assert!(glob_match(b"a*b*c", b"aXXbYYbc"));
        assert!(!glob_match(b"a*b*c", b"aXXbYYbd"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"[a-c]x", b"bx"));
        assert!(!glob_match(b"[a-c]x", b"dx"));
        assert!(glob_match(b"[!a-c]x", b"dx"));
        assert!(glob_match(b"[^a]x", b"bx"));
        assert!(glob_match(b"[]]", b"]"));
        assert!(glob_match(b"[a-]", b"-"));
        assert!(glob_match(b"[x", b"[x"));
        assert!(glob_match(b"\\*", b"*"));
        assert!(!glob_match(b"\\*", b"a"));
        assert!(glob_match(b"**", b""));
        assert!(!glob_match(b"a", b""));
        assert!(has_glob_meta(b"a/*.conf") && !has_glob_meta(b"a/b.conf"));
    }
}
