//! `log_format` and `access_log`.
//!
//! Mirrors ngx_http_log_module.c's configuration side: the format table with
//! the predefined `combined` (ngx_http_log_create_main_conf), `log_format`
//! (ngx_http_log_set_format + the `escape=` part of
//! ngx_http_log_compile_format) and `access_log` (ngx_http_log_set_log). A
//! format must be defined before an `access_log` names it, as in nginx.

use super::build::Builder;
use super::command::{ANY_HTTP, Command, HTTP, LIF, LMT, MANY, cmd};
use super::parser::Directive;
use super::values::{parse_size, parse_time_ms};
use super::variables::{self, Escape, Segment};
use super::{AccessLogConf, COMBINED_LOG_FORMAT, ConfError, LogFormat};
use std::rc::Rc;

/// The module's directives.
pub(super) static COMMANDS: &[Command] = &[
    cmd("log_format", HTTP, false, 2, MANY),
    cmd("access_log", ANY_HTTP | LIF | LMT, false, 1, MANY),
];

/// nginx's limit on `access_log ... buffer=` (NGX_MAX_ERROR_STR-free, but
/// the buffer is allocated per log: holdfast refuses more than this).
const MAX_LOG_BUFFER: usize = 64 * 1024 * 1024;

/// The `log_format`s known so far, `combined` first (nginx's `lmcf->formats`).
#[derive(Debug)]
pub(super) struct LogFormats(Vec<Rc<LogFormat>>);

impl LogFormats {
    /// The table with only the predefined `combined`.
    pub(super) fn new() -> Self {
        // A constant that compiles (a unit test checks it); an empty format
        // would only mean empty lines, never a panic.
        let segments = variables::compile(COMBINED_LOG_FORMAT).unwrap_or_default();
        LogFormats(vec![Rc::new(LogFormat {
            name: "combined".to_string(),
            escape: Escape::Default,
            segments,
        })])
    }

    /// The format called `name`; names are matched ignoring case, as nginx's
    /// access_log lookup does.
    pub(super) fn find(&self, name: &str) -> Option<&Rc<LogFormat>> {
        self.0.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Mirrors ngx_http_log_set_format(): `log_format NAME [escape=E] STRING...`.
    ///
    /// A name already defined (exact spelling, so `combined` too) is
    /// `duplicate "log_format" name "NAME"`; an unknown escaping is `unknown log
    /// format escaping "E"`. The strings are compiled one by one (a `$` cannot
    /// continue into the next string) and joined.
    pub(super) fn define(&mut self, d: &Directive) -> Result<(), ConfError> {
        let name = &d.args[0];
        if self.0.iter().any(|f| f.name == *name) {
            return Err(d.error(format!("duplicate \"log_format\" name \"{name}\"")));
        }
        let mut strings = &d.args[1..];
        let mut escape = Escape::Default;
        if let Some(e) = strings[0].strip_prefix("escape=") {
            escape = match e {
                "default" => Escape::Default,
                "json" => Escape::Json,
                "none" => Escape::None,
                _ => return Err(d.error(format!("unknown log format escaping \"{e}\""))),
            };
            strings = &strings[1..];
        }
        let mut segments: Vec<Segment> = Vec::new();
        for s in strings {
            for seg in variables::compile(s).map_err(|e| d.error(e))? {
                match (segments.last_mut(), seg) {
                    (Some(Segment::Literal(prev)), Segment::Literal(next)) => {
                        *prev = [&prev[..], &next[..]].concat().into_boxed_slice();
                    }
                    (_, seg) => segments.push(seg),
                }
            }
        }
        self.0.push(Rc::new(LogFormat {
            name: name.clone(),
            escape,
            segments,
        }));
        Ok(())
    }
}

/// One level's `access_log` directives as written.
#[derive(Debug, Default)]
pub(super) struct RawAccessLog {
    /// `access_log off` seen at this level (wins over the others there).
    off: bool,
    /// `access_log PATH [FORMAT]` at this level, in order.
    logs: Vec<AccessLogConf>,
}

/// Mirrors ngx_http_log_merge_loc_conf() (minus the default log): a level
/// with any `access_log` keeps its own list (`off` → none), else it takes
/// the parent's.
pub(super) fn merge(raw: RawAccessLog, parent: &Rc<[AccessLogConf]>) -> Rc<[AccessLogConf]> {
    if raw.off {
        Rc::from([])
    } else if raw.logs.is_empty() {
        parent.clone()
    } else {
        Rc::from(raw.logs)
    }
}

impl Builder<'_> {
    /// The module's directives at any http level; `Ok(false)` when `d` is
    /// not one of them.
    pub(super) fn log_directive(
        &self,
        d: &Directive,
        raw: &mut RawAccessLog,
    ) -> Result<bool, ConfError> {
        match d.name.as_str() {
            "access_log" => self.access_log(d, raw)?,
            "log_format" => self.formats.borrow_mut().define(d)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Mirrors ngx_http_log_set_log(): `access_log off` or `access_log PATH
    /// [FORMAT [buffer=SIZE] [flush=TIME] [if=CONDITION]]`, the format
    /// defaulting to `combined`.
    ///
    /// Not supported by holdfast (each refused by name): syslog targets and
    /// variables in the path. Anything else is `invalid parameter`.
    fn access_log(&self, d: &Directive, raw: &mut RawAccessLog) -> Result<(), ConfError> {
        let target = &d.args[0];
        if target == "off" {
            if let Some(extra) = d.args.get(1) {
                return Err(d.error(format!("invalid parameter \"{extra}\"")));
            }
            raw.off = true;
            return Ok(());
        }
        if target.starts_with("syslog:") {
            return Err(d.error(format!("\"{target}\" is not supported by holdfast")));
        }
        if target.contains('$') {
            return Err(d.error(format!(
                "variables in access_log paths are not supported: \"{target}\""
            )));
        }
        let name = d.args.get(1).map_or("combined", String::as_str);
        let format = self
            .formats
            .borrow()
            .find(name)
            .cloned()
            .ok_or_else(|| d.error(format!("unknown log format \"{name}\"")))?;
        let mut log = AccessLogConf {
            path: self.path(target),
            format,
            buffer: None,
            flush_ms: None,
            condition: None,
            gzip: None,
        };
        for p in d.args.iter().skip(2) {
            if let Some(v) = p.strip_prefix("buffer=") {
                let size = parse_size(v)
                    .ok()
                    .filter(|n| *n > 0 && *n <= MAX_LOG_BUFFER)
                    .ok_or_else(|| d.error(format!("invalid buffer size \"{v}\"")))?;
                log.buffer = Some(size);
            } else if let Some(v) = p.strip_prefix("flush=") {
                let ms = parse_time_ms(v)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| d.error(format!("invalid flush time \"{v}\"")))?;
                log.flush_ms = Some(ms);
            } else if let Some(v) = p.strip_prefix("if=") {
                log.condition = Some(variables::compile(v).map_err(|e| d.error(e))?);
            } else if p == "gzip" {
                log.gzip = Some(1);
            } else if let Some(v) = p.strip_prefix("gzip=") {
                // ngx_http_log_set_log: a level from 1 to 9.
                let level = parse_size(v)
                    .ok()
                    .filter(|n| (1..=9).contains(n))
                    .ok_or_else(|| d.error(format!("invalid compression level \"{v}\"")))?;
                log.gzip = Some(level as u32);
            } else {
                return Err(d.error(format!("invalid parameter \"{p}\"")));
            }
        }
        if (log.flush_ms.is_some() || log.gzip.is_some()) && log.buffer.is_none() {
            // nginx: flush= and gzip imply a buffer of 64k.
            log.buffer = Some(64 * 1024);
        }
        raw.logs.push(log);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::testutil::{assert_err, conf, http, server};
    use crate::conf::variables::Variable;
    use std::path::Path;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.as_bytes().into())
    }

    /// (path, format name) of each access log at a level.
    fn logs(l: &[AccessLogConf]) -> Vec<(String, String)> {
        l.iter()
            .map(|a| (a.path.display().to_string(), a.format.name.clone()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn default_is_no_access_log() {
        let s = server("location / { }");
        assert!(s.conf.access_log.is_empty());
        assert!(s.loc_conf(b"/").access_log.is_empty());
    }

    #[test]
    fn combined_is_predefined() {
        let f = LogFormats::new();
        let c = f.find("combined").unwrap();
        assert_eq!(c.escape, Escape::Default);
        assert_eq!(
            c.segments,
            vec![
                Segment::Var(Variable::RemoteAddr),
                lit(" - "),
                Segment::Var(Variable::RemoteUser),
                lit(" ["),
                Segment::Var(Variable::TimeLocal),
                lit("] \""),
                Segment::Var(Variable::Request),
                lit("\" "),
                Segment::Var(Variable::Status),
                lit(" "),
                Segment::Var(Variable::BodyBytesSent),
                lit(" \""),
                Segment::Var(Variable::HttpHeader(b"referer".to_vec().into())),
                lit("\" \""),
                Segment::Var(Variable::HttpHeader(b"user-agent".to_vec().into())),
                lit("\""),
            ]
        );
        // Looked up ignoring case.
        assert!(Rc::ptr_eq(f.find("COMBINED").unwrap(), c));
        assert!(f.find("main").is_none());
    }

    #[test]
    fn log_format_definitions() {
        let c = conf(
            "http {\n\
               log_format main '$remote_addr [$time_local] ' \"$status\"\n\
                               ' $request_time';\n\
               log_format js escape=json '{\"uri\":\"$uri\"}';\n\
               log_format raw escape=none $request;\n\
               log_format dflt escape=default $msec;\n\
               log_format empty escape=json;\n\
               server {\n\
                 access_log a.log main; access_log b.log js; access_log c.log raw;\n\
                 access_log d.log dflt; access_log e.log empty; access_log f.log MAIN;\n\
               }\n\
             }",
        );
        let l = &http(&c).servers[0].conf.access_log;
        assert_eq!(l.len(), 6);
        let main = &l[0].format;
        assert_eq!((main.name.as_str(), main.escape), ("main", Escape::Default));
        // The strings are joined; literals across them merge.
        assert_eq!(
            main.segments,
            vec![
                Segment::Var(Variable::RemoteAddr),
                lit(" ["),
                Segment::Var(Variable::TimeLocal),
                lit("] "),
                Segment::Var(Variable::Status),
                lit(" "),
                Segment::Var(Variable::RequestTime),
            ]
        );
        assert_eq!(l[1].format.escape, Escape::Json);
        assert_eq!(
            l[1].format.segments,
            vec![lit("{\"uri\":\""), Segment::Var(Variable::Uri), lit("\"}")]
        );
        assert_eq!(l[2].format.escape, Escape::None);
        assert_eq!(l[3].format.escape, Escape::Default);
        assert!(l[4].format.segments.is_empty());
        // One format shared by every log that names it.
        assert!(Rc::ptr_eq(&l[0].format, &l[5].format));
    }

    #[test]
    fn log_format_errors() {
        let wrap = |body: &str| format!("http {{\n{body}\n}}");
        assert_err(
            &wrap("log_format combined $uri;"),
            "duplicate \"log_format\" name \"combined\"",
            2,
        );
        assert_err(
            &wrap("log_format a $uri;\nlog_format a $args;"),
            "duplicate \"log_format\" name \"a\"",
            3,
        );
        assert_err(
            &wrap("log_format a escape=xml $uri;"),
            "unknown log format escaping \"xml\"",
            2,
        );
        assert_err(
            &wrap("log_format a;"),
            "invalid number of arguments in \"log_format\" directive",
            2,
        );
        assert_err(&wrap("log_format a $nope;"), "unknown \"nope\" variable", 2);
        assert_err(&wrap("log_format a 'x$' $uri;"), "invalid variable name", 2);
        assert_err(
            &wrap("log_format a ${uri;"),
            "the closing bracket in \"uri\" variable is missing",
            2,
        );
        assert_err(
            "http {\nserver {\nlog_format a $uri;\n}\n}",
            "\"log_format\" directive is not allowed here",
            3,
        );
        assert_err(
            "http { server { location / {\nlog_format a $uri; } } }",
            "\"log_format\" directive is not allowed here",
            2,
        );
        assert_err(
            "log_format a $uri;",
            "\"log_format\" directive is not allowed here",
            1,
        );
    }

    #[test]
    fn access_log_inheritance() {
        let c = conf(
            "http {\n\
               log_format short $status;\n\
               access_log logs/access.log;\n\
               access_log /var/log/h.log short;\n\
               server {\n\
                 location /inherit { }\n\
                 location /own { access_log own.log short; }\n\
                 location /off { access_log off; }\n\
                 location /offmix { access_log x.log; access_log off; }\n\
               }\n\
               server {\n\
                 access_log s.log;\n\
                 location /i { }\n\
                 location /o { access_log off; }\n\
               }\n\
               server { access_log off; location /back { access_log b.log; } }\n\
             }",
        );
        let h = http(&c);
        let s = &h.servers[0];
        let http_level = pairs(&[
            ("/pfx/logs/access.log", "combined"),
            ("/var/log/h.log", "short"),
        ]);
        assert_eq!(logs(&s.conf.access_log), http_level);
        assert!(Rc::ptr_eq(
            &s.conf.access_log,
            &s.loc_conf(b"/inherit").access_log
        ));
        // A level with its own access_log replaces the list, not adds to it.
        assert_eq!(
            logs(&s.loc_conf(b"/own").access_log),
            pairs(&[("/pfx/own.log", "short")])
        );
        assert!(s.loc_conf(b"/off").access_log.is_empty());
        // `off` wins over other access_logs of the same level.
        assert!(s.loc_conf(b"/offmix").access_log.is_empty());

        let s = &h.servers[1];
        let own = pairs(&[("/pfx/s.log", "combined")]);
        assert_eq!(logs(&s.conf.access_log), own);
        assert_eq!(logs(&s.loc_conf(b"/i").access_log), own);
        assert!(s.loc_conf(b"/o").access_log.is_empty());

        // Off at the server level; a location may log again.
        let s = &h.servers[2];
        assert!(s.conf.access_log.is_empty());
        assert_eq!(
            logs(&s.loc_conf(b"/back").access_log),
            pairs(&[("/pfx/b.log", "combined")])
        );
    }

    #[test]
    fn access_log_errors() {
        let wrap = |body: &str| format!("http {{\nserver {{\n{body}\n}}\n}}");
        assert_err(
            &wrap("access_log a.log main;"),
            "unknown log format \"main\"",
            3,
        );
        // Defined after use: nginx reads in order.
        assert_err(
            "http {\naccess_log a.log late;\nlog_format late $uri;\n}",
            "unknown log format \"late\"",
            2,
        );
        assert_err(
            &wrap("access_log off a.log;"),
            "invalid parameter \"a.log\"",
            3,
        );
        assert_err(
            &wrap("access_log a.log combined x;"),
            "invalid parameter \"x\"",
            3,
        );
        for v in ["0", "10", "x"] {
            assert_err(
                &wrap(&format!("access_log a.log combined gzip={v};")),
                &format!("invalid compression level \"{v}\""),
                3,
            );
        }
        assert_err(
            &wrap("access_log a.log combined buffer=0;"),
            "invalid buffer size \"0\"",
            3,
        );
        assert_err(
            &wrap("access_log a.log combined flush=x;"),
            "invalid flush time \"x\"",
            3,
        );
        assert_err(
            &wrap("access_log a.log combined if=$nope;"),
            "unknown \"nope\" variable",
            3,
        );
        let s = server("access_log a.log combined buffer=32k flush=5s if=$arg_log;");
        let l = &s.conf.access_log[0];
        assert_eq!((l.buffer, l.flush_ms), (Some(32 * 1024), Some(5000)));
        assert!(l.condition.is_some());
        let s = server("access_log a.log combined flush=1s;");
        assert_eq!(s.conf.access_log[0].buffer, Some(64 * 1024));
        assert_err(
            &wrap("access_log syslog:server=unix:/dev/log;"),
            "\"syslog:server=unix:/dev/log\" is not supported by holdfast",
            3,
        );
        assert_err(
            &wrap("access_log logs/$host.log;"),
            "variables in access_log paths are not supported: \"logs/$host.log\"",
            3,
        );
        assert_err(
            &wrap("access_log;"),
            "invalid number of arguments in \"access_log\" directive",
            3,
        );
        assert_err(
            "access_log a.log;",
            "\"access_log\" directive is not allowed here",
            1,
        );
        assert_err(
            "events {\naccess_log a.log; }",
            "\"access_log\" directive is not allowed here",
            2,
        );
        // Absolute paths stay as they are.
        let s = server("access_log /abs/a.log;");
        assert_eq!(s.conf.access_log[0].path, Path::new("/abs/a.log"));
    }
}
